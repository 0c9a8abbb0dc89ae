//! pclntab (Go 1.20+ format, magic 0xfffffff1): function table, pc-value tables, file/line,
//! inlined frames. Works without DWARF and without symbols.
//!
//! All tables are borrowed from the memory-mapped executable; a [`Pclntab`] keeps a clone of
//! the map and file offsets. Addresses are link-time. Lookups return `Option` and never panic,
//! whatever the table holds.
//!
//! Special functions (`runtime.goexit`, `runtime.mcall`, …) are best matched by name; the
//! version-dependent FuncID numbers are translated by [`Pclntab::func_id_name`].

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use super::{BuildInfo, Image};
use crate::bytes::{u32_at, u64_at};
use crate::dump::MappedFile;
use crate::{Error, Result};

/// `_func` record: fixed part size and field offsets (unchanged 1.20–1.27).
const FUNC_SIZE: usize = 0x2c;
const F_NAMEOFF: usize = 0x4;
const F_ARGS: usize = 0x8;
const F_DEFERRETURN: usize = 0xc;
const F_PCSP: usize = 0x10;
const F_PCFILE: usize = 0x14;
const F_PCLN: usize = 0x18;
const F_NPCDATA: usize = 0x1c;
const F_CUOFFSET: usize = 0x20;
const F_STARTLINE: usize = 0x24;
const F_FUNCID: usize = 0x28;
const F_FLAG: usize = 0x29;
const F_NFUNCDATA: usize = 0x2b;

/// PCDATA table indices (for [`Pclntab::pcdata`]; same in 1.20–1.27).
pub const PCDATA_UNSAFE_POINT: u32 = 0;
pub const PCDATA_STACK_MAP_INDEX: u32 = 1;
pub const PCDATA_INL_TREE_INDEX: u32 = 2;
pub const PCDATA_ARG_LIVE_INDEX: u32 = 3;
/// FUNCDATA indices (for [`Pclntab::funcdata`]; same in 1.20–1.27).
pub const FUNCDATA_ARGS_POINTER_MAPS: u8 = 0;
pub const FUNCDATA_LOCALS_POINTER_MAPS: u8 = 1;
pub const FUNCDATA_STACK_OBJECTS: u8 = 2;
pub const FUNCDATA_INL_TREE: u8 = 3;
pub const FUNCDATA_OPEN_CODED_DEFER_INFO: u8 = 4;
pub const FUNCDATA_ARG_INFO: u8 = 5;
pub const FUNCDATA_ARG_LIVE_INFO: u8 = 6;
pub const FUNCDATA_WRAP_INFO: u8 = 7;
/// FuncFlag bits (see [`Pclntab::flag`]).
pub const FUNCFLAG_TOPFRAME: u8 = 1;
pub const FUNCFLAG_SPWRITE: u8 = 2;
pub const FUNCFLAG_ASM: u8 = 4;

const MAGIC_GO120: u32 = 0xffff_fff1;
/// Older magics, recognised only to name them in the error.
const OLD_MAGICS: [u32; 3] = [0xffff_fffb, 0xffff_fffa, 0xffff_fff0];
const PCHEADER_SIZE: usize = 0x48;
/// findfunctab: one 20-byte bucket per 4096 bytes of text, 16 sub-buckets each.
const FINDFUNC_BUCKET: u64 = 4096;
const FINDFUNC_BUCKET_SIZE: usize = 20;
/// Bound on the inline depth walked by [`Pclntab::frames`] (guards against cyclic tables).
const MAX_INLINE_DEPTH: usize = 1024;

/// FuncID names by value, Go 1.20–1.21.
#[rustfmt::skip]
const FUNCIDS_121: &[&str] = &[
    "normal", "abort", "asmcgocall", "asyncPreempt", "cgocallback", "debugCallV2",
    "gcBgMarkWorker", "goexit", "gogo", "gopanic", "handleAsyncEvent", "mcall", "morestack",
    "mstart", "panicwrap", "rt0_go", "runfinq", "runtime_main", "sigpanic", "systemstack",
    "systemstack_switch", "wrapper",
];
/// FuncID names by value, Go 1.22–1.24 (1.22 inserted corostart).
#[rustfmt::skip]
const FUNCIDS_122: &[&str] = &[
    "normal", "abort", "asmcgocall", "asyncPreempt", "cgocallback", "corostart", "debugCallV2",
    "gcBgMarkWorker", "goexit", "gogo", "gopanic", "handleAsyncEvent", "mcall", "morestack",
    "mstart", "panicwrap", "rt0_go", "runfinq", "runtime_main", "sigpanic", "systemstack",
    "systemstack_switch", "wrapper",
];
/// FuncID names by value, Go 1.25+ (runfinq replaced by runFinalizers and runCleanups).
#[rustfmt::skip]
const FUNCIDS_125: &[&str] = &[
    "normal", "abort", "asmcgocall", "asyncPreempt", "cgocallback", "corostart", "debugCallV2",
    "gcBgMarkWorker", "goexit", "gogo", "gopanic", "handleAsyncEvent", "mcall", "morestack",
    "mstart", "panicwrap", "rt0_go", "runtime_main", "runFinalizers", "runCleanups", "sigpanic",
    "systemstack", "systemstack_switch", "wrapper",
];

/// Byte offsets of `runtime.moduledata` fields for one range of Go versions. Fields absent
/// in that version are `None`. The runtime layer uses it to read the fields the linker leaves
/// zero in the file (`gcdatamask`, `gcbssmask`, `next`, …) from the dump.
#[derive(Debug, PartialEq, Eq)]
pub struct ModuleDataLayout {
    /// First Go minor version (1.x) this layout applies to.
    pub since_minor: u32,
    pub types: u64,
    pub typedesclen: Option<u64>,
    pub etypes: u64,
    pub itaboffset: Option<u64>,
    pub itabsize: Option<u64>,
    pub rodata: u64,
    pub gofunc: u64,
    pub epclntab: Option<u64>,
    pub textsectmap: u64,
    pub typelinks: Option<u64>,
    pub itablinks: Option<u64>,
    pub ptab: u64,
    pub pluginpath: u64,
    pub modulename: u64,
    pub hasmain: u64,
    pub gcdatamask: u64,
    pub gcbssmask: u64,
    pub typemap: u64,
    pub bad: u64,
    pub next: u64,
    pub size: u64,
}

/// Offsets of the moduledata fields that did not move in 1.20–1.27.
pub mod md_off {
    pub const PCHEADER: u64 = 0x0;
    pub const FUNCNAMETAB: u64 = 0x8;
    pub const CUTAB: u64 = 0x20;
    pub const FILETAB: u64 = 0x38;
    pub const PCTAB: u64 = 0x50;
    pub const PCLNTABLE: u64 = 0x68;
    pub const FTAB: u64 = 0x80;
    pub const FINDFUNCTAB: u64 = 0x98;
    pub const MINPC: u64 = 0xa0;
    pub const MAXPC: u64 = 0xa8;
    pub const TEXT: u64 = 0xb0;
    pub const ETEXT: u64 = 0xb8;
    pub const NOPTRDATA: u64 = 0xc0;
    pub const ENOPTRDATA: u64 = 0xc8;
    pub const DATA: u64 = 0xd0;
    pub const EDATA: u64 = 0xd8;
    pub const BSS: u64 = 0xe0;
    pub const EBSS: u64 = 0xe8;
    pub const NOPTRBSS: u64 = 0xf0;
    pub const ENOPTRBSS: u64 = 0xf8;
    pub const COVCTRS: u64 = 0x100;
    pub const ECOVCTRS: u64 = 0x108;
    pub const END: u64 = 0x110;
    pub const GCDATA: u64 = 0x118;
    pub const GCBSS: u64 = 0x120;
}

/// moduledata layouts, newest first (runtime/symtab.go; see go-runtime-layouts §7.2).
static MD_LAYOUTS: [ModuleDataLayout; 4] = [
    ModuleDataLayout {
        since_minor: 27,
        types: 0x128,
        typedesclen: Some(0x130),
        etypes: 0x138,
        itaboffset: Some(0x140),
        itabsize: Some(0x148),
        rodata: 0x150,
        gofunc: 0x158,
        epclntab: Some(0x160),
        textsectmap: 0x168,
        typelinks: None,
        itablinks: None,
        ptab: 0x180,
        pluginpath: 0x198,
        modulename: 0x1d8,
        hasmain: 0x200,
        bad: 0x201,
        gcdatamask: 0x208,
        gcbssmask: 0x218,
        typemap: 0x228,
        next: 0x230,
        size: 0x238,
    },
    ModuleDataLayout {
        since_minor: 26,
        types: 0x128,
        typedesclen: None,
        etypes: 0x130,
        itaboffset: None,
        itabsize: None,
        rodata: 0x138,
        gofunc: 0x140,
        epclntab: Some(0x148),
        textsectmap: 0x150,
        typelinks: Some(0x168),
        itablinks: Some(0x180),
        ptab: 0x198,
        pluginpath: 0x1b0,
        modulename: 0x1f0,
        hasmain: 0x218,
        bad: 0x219,
        gcdatamask: 0x220,
        gcbssmask: 0x230,
        typemap: 0x240,
        next: 0x248,
        size: 0x250,
    },
    ModuleDataLayout {
        since_minor: 23,
        types: 0x128,
        typedesclen: None,
        etypes: 0x130,
        itaboffset: None,
        itabsize: None,
        rodata: 0x138,
        gofunc: 0x140,
        epclntab: None,
        textsectmap: 0x148,
        typelinks: Some(0x160),
        itablinks: Some(0x178),
        ptab: 0x190,
        pluginpath: 0x1a8,
        modulename: 0x1e8,
        hasmain: 0x210,
        bad: 0x211,
        gcdatamask: 0x218,
        gcbssmask: 0x228,
        typemap: 0x238,
        next: 0x240,
        size: 0x248,
    },
    ModuleDataLayout {
        since_minor: 20,
        types: 0x128,
        typedesclen: None,
        etypes: 0x130,
        itaboffset: None,
        itabsize: None,
        rodata: 0x138,
        gofunc: 0x140,
        epclntab: None,
        textsectmap: 0x148,
        typelinks: Some(0x160),
        itablinks: Some(0x178),
        ptab: 0x190,
        pluginpath: 0x1a8,
        modulename: 0x1e8,
        hasmain: 0x210,
        bad: 0x240,
        gcdatamask: 0x218,
        gcbssmask: 0x228,
        typemap: 0x238,
        next: 0x248,
        size: 0x250,
    },
];

/// One entry of `moduledata.textsectmap` (text split in several sections).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextSect {
    /// Offset of the section relative to `text`, as ftab entry offsets count.
    pub vaddr: u64,
    pub end: u64,
    /// Link-time address of the section.
    pub baseaddr: u64,
}

/// `runtime.firstmoduledata` as the executable file holds it (link-time addresses). Fields the
/// runtime computes at start-up (`gcdatamask`, `gcbssmask`, `typemap`) are not here: read them
/// from the dump at `addr + layout.<field>`.
#[derive(Clone, Debug)]
pub struct ModuleData {
    /// Link-time address of the moduledata itself.
    pub addr: u64,
    /// The field offsets of this Go version.
    pub layout: &'static ModuleDataLayout,
    pub pc_header: u64,
    pub findfunctab: u64,
    pub minpc: u64,
    pub maxpc: u64,
    pub text: u64,
    pub etext: u64,
    pub noptrdata: u64,
    pub enoptrdata: u64,
    pub data: u64,
    pub edata: u64,
    pub bss: u64,
    pub ebss: u64,
    pub noptrbss: u64,
    pub enoptrbss: u64,
    pub covctrs: u64,
    pub ecovctrs: u64,
    pub end: u64,
    pub gcdata: u64,
    pub gcbss: u64,
    pub types: u64,
    pub etypes: u64,
    /// 1.27+: length of the type descriptors part of `[types, etypes)`.
    pub typedesclen: Option<u64>,
    /// 1.27+: itabs live at `types + itaboffset`, `itabsize` bytes.
    pub itaboffset: Option<u64>,
    pub itabsize: Option<u64>,
    pub rodata: u64,
    pub gofunc: u64,
    /// 1.26+.
    pub epclntab: Option<u64>,
    pub textsectmap: Vec<TextSect>,
    /// ≤1.26: `typelinks []int32` (data pointer, length).
    pub typelinks: Option<(u64, u64)>,
    /// ≤1.26: `itablinks []*itab` (data pointer, length).
    pub itablinks: Option<(u64, u64)>,
    pub hasmain: bool,
}

/// A function found in the table. Cheap handle: copy it around.
#[derive(Clone, Copy, Debug)]
pub struct Func {
    /// Offset of the `_func` record within the pclntab's `pclntable` section.
    pub(crate) off: u32,
    /// Entry point, link-time address.
    pub entry: u64,
}

impl PartialEq for Func {
    fn eq(&self, other: &Func) -> bool {
        self.off == other.off
    }
}
impl Eq for Func {}

/// One frame of source: a physical function or one inlined into it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFrame {
    /// The function's name as pclntab spells it (e.g. `main.Map[go.shape.int]`).
    pub function: String,
    pub file: String,
    pub line: u32,
    /// True for a frame that was inlined into its caller.
    pub inlined: bool,
    /// Entry of the physical function that holds this code (link-time address).
    pub entry: u64,
    /// The function's FuncID name in this release ("normal", "wrapper", "gopanic", …).
    pub func_id: &'static str,
}

/// Entries of the per-thread pc-value cache (direct mapped; tracebacks of many goroutines
/// ask for the same few thousand pcs again and again).
const PCVALUE_CACHE_SIZE: usize = 16384;

#[derive(Clone, Copy, Default)]
struct CacheEntry {
    /// Pclntab id << 32 | table offset; 0 for an empty entry.
    tag: u64,
    pc: u64,
    val: Option<i32>,
}

thread_local! {
    static PCVALUE_CACHE: Box<[Cell<CacheEntry>]> = vec![Cell::new(CacheEntry::default()); PCVALUE_CACHE_SIZE].into_boxed_slice();
}

/// Source of [`Pclntab`] ids, which tell cache entries of different tables apart.
static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// A table inside the mapped file: absolute file offset and length (checked at open).
#[derive(Clone, Copy, Debug, Default)]
struct Tab {
    off: usize,
    len: usize,
}

/// An initialised range of the image: link-time address → file offset.
#[derive(Clone, Copy, Debug)]
struct Seg {
    addr: u64,
    len: u64,
    off: u64,
}

/// The parsed pclntab and moduledata of one executable.
#[derive(Clone)]
pub struct Pclntab {
    /// Unique per instance, for the pc-value cache.
    id: u32,
    file: MappedFile,
    segs: Vec<Seg>,
    funcnametab: Tab,
    cutab: Tab,
    filetab: Tab,
    pctab: Tab,
    pclntable: Tab,
    /// `findfunctab` buckets, if found in the file.
    findfunctab: Option<Tab>,
    nfunc: usize,
    min_lc: u8,
    md: ModuleData,
    funcids: &'static [&'static str],
    by_name: OnceLock<Vec<u32>>,
}

/// Reads a uvarint at `*p`, advancing it.
#[inline(always)]
fn uvarint(b: &[u8], p: &mut usize) -> Option<u32> {
    let mut v: u32 = 0;
    let mut shift = 0u32;
    loop {
        let c = *b.get(*p)?;
        *p += 1;
        v |= ((c & 0x7f) as u32).checked_shl(shift)?;
        if c & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
        if shift > 28 {
            return None;
        }
    }
}

fn cstr(b: &[u8], off: usize) -> Option<&str> {
    let s = b.get(off..)?;
    let n = s.iter().position(|&c| c == 0)?;
    std::str::from_utf8(&s[..n]).ok()
}

fn bad(msg: impl Into<String>) -> Error {
    Error::malformed("pclntab", msg)
}

/// The pcHeader found, with the file range it may extend over.
struct Header {
    addr: u64,
    /// File offset of the header and number of bytes available after it.
    tab: Tab,
    min_lc: u8,
    nfunc: usize,
    offs: [u64; 5],
}

impl Pclntab {
    /// Locate and validate the pclntab and `runtime.firstmoduledata` of an executable.
    pub fn from_image(image: &Image, build: &BuildInfo) -> Result<Pclntab> {
        let segs: Vec<Seg> = image
            .sections
            .iter()
            .filter_map(|s| {
                let (off, len) = s.file_range?;
                (s.addr != 0 && len > 0).then_some(Seg { addr: s.addr, len: len.min(s.size), off })
            })
            .collect();
        let hdr = find_header(image, &segs)?;
        let minor = build.version.1;
        let md = find_moduledata(image, &hdr, minor)?;
        let bytes = image.file.bytes();

        // Tables, each bounded by its moduledata slice length and by the file.
        let sub = |name: &str, start: u64, len: u64| -> Result<Tab> {
            let off = hdr.tab.off as u64 + start;
            if start > hdr.tab.len as u64 || len > hdr.tab.len as u64 - start {
                return Err(bad(format!("{name} [{start:#x}+{len:#x}] outside the table")));
            }
            Ok(Tab { off: off as usize, len: len as usize })
        };
        let slice_len = |field: u64| image.read_u64_at(md.addr + field + 8).unwrap_or(0);
        let funcnametab = sub("funcnametab", hdr.offs[0], slice_len(md_off::FUNCNAMETAB))?;
        let cutab = sub("cutab", hdr.offs[1], slice_len(md_off::CUTAB).saturating_mul(4))?;
        let filetab = sub("filetab", hdr.offs[2], slice_len(md_off::FILETAB))?;
        let pctab = sub("pctab", hdr.offs[3], slice_len(md_off::PCTAB))?;
        let pclntable = sub("pclntable", hdr.offs[4], slice_len(md_off::PCLNTABLE))?;
        let ftab_len = slice_len(md_off::FTAB);
        if ftab_len != hdr.nfunc as u64 + 1 || (hdr.nfunc + 1) * 8 > pclntable.len {
            return Err(bad(format!("ftab has {ftab_len} entries for {} functions", hdr.nfunc)));
        }
        if md.textsectmap.is_empty() || md.minpc > md.maxpc {
            return Err(bad("moduledata text range is inconsistent"));
        }
        // The linker truncates the last bucket to the sub-buckets it needs.
        let span = md.maxpc - md.minpc;
        let ff_len = 4 * span.div_ceil(FINDFUNC_BUCKET) + span.div_ceil(FINDFUNC_BUCKET / 16);
        let findfunctab = segs
            .iter()
            .find(|s| md.findfunctab >= s.addr && md.findfunctab - s.addr < s.len)
            .filter(|s| md.findfunctab - s.addr + ff_len <= s.len)
            .map(|s| Tab { off: (s.off + md.findfunctab - s.addr) as usize, len: ff_len as usize })
            .filter(|t| t.off + t.len <= bytes.len());
        let funcids = match minor {
            0..=21 => FUNCIDS_121,
            22..=24 => FUNCIDS_122,
            _ => FUNCIDS_125,
        };
        let t = Pclntab {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            file: image.file.clone(),
            segs,
            funcnametab,
            cutab,
            filetab,
            pctab,
            pclntable,
            findfunctab,
            nfunc: hdr.nfunc,
            min_lc: hdr.min_lc,
            md,
            funcids,
            by_name: OnceLock::new(),
        };
        if t.ftab(0).map(|e| e.0) != Some(0) {
            return Err(bad("ftab[0].entryoff is not 0"));
        }
        Ok(t)
    }

    /// The moduledata read from the executable.
    pub fn moduledata(&self) -> &ModuleData {
        &self.md
    }

    /// PC quantum: 1 on amd64, 4 on arm64.
    pub fn min_lc(&self) -> u8 {
        self.min_lc
    }

    /// Number of functions.
    pub fn nfunc(&self) -> usize {
        self.nfunc
    }

    /// All functions, in address order.
    pub fn funcs(&self) -> impl Iterator<Item = Func> + '_ {
        (0..self.nfunc).filter_map(|i| self.func_at(self.ftab(i)?.1))
    }

    #[inline]
    fn tab(&self, t: Tab) -> &[u8] {
        self.file.bytes().get(t.off..t.off + t.len).unwrap_or(&[])
    }

    /// ftab entry `i`: (entryoff, funcoff).
    #[inline]
    fn ftab(&self, i: usize) -> Option<(u32, u32)> {
        if i > self.nfunc {
            return None;
        }
        let b = self.tab(self.pclntable);
        Some((u32_at(b, i * 8).ok()?, u32_at(b, i * 8 + 4).ok()?))
    }

    /// The `_func` at `funcoff`, if its record (with pcdata and funcdata offsets) fits.
    fn func_at(&self, funcoff: u32) -> Option<Func> {
        let b = self.tab(self.pclntable);
        let o = funcoff as usize;
        let npcdata = u32_at(b, o + F_NPCDATA).ok()? as usize;
        let nfuncdata = *b.get(o + F_NFUNCDATA)? as usize;
        let end = o.checked_add(FUNC_SIZE)?.checked_add(npcdata.checked_add(nfuncdata)?.checked_mul(4)?)?;
        if end > b.len() {
            return None;
        }
        Some(Func { off: funcoff, entry: self.text_addr(u32_at(b, o).ok()?) })
    }

    /// Link-time address of a text offset (`moduledata.textAddr`).
    #[inline]
    fn text_addr(&self, off: u32) -> u64 {
        let off = off as u64;
        let ts = &self.md.textsectmap;
        if ts.len() > 1 {
            for (i, s) in ts.iter().enumerate() {
                if (off >= s.vaddr && off < s.end) || (i == ts.len() - 1 && off == s.end) {
                    return s.baseaddr.wrapping_add(off.wrapping_sub(s.vaddr));
                }
            }
        }
        self.md.text.wrapping_add(off)
    }

    /// Text offset of a pc (`moduledata.textOff`).
    #[inline]
    fn text_off(&self, pc: u64) -> Option<u32> {
        let ts = &self.md.textsectmap;
        if ts.len() > 1 {
            for (i, s) in ts.iter().enumerate() {
                if s.baseaddr > pc {
                    return None;
                }
                let end =
                    s.baseaddr.saturating_add(s.end.saturating_sub(s.vaddr)) + (i == ts.len() - 1) as u64;
                if pc < end {
                    return u32::try_from((pc - s.baseaddr).wrapping_add(s.vaddr)).ok();
                }
            }
        }
        u32::try_from(pc.checked_sub(self.md.text)?).ok()
    }

    /// The function containing `pc`, or None outside the text.
    #[inline]
    pub fn find_func(&self, pc: u64) -> Option<Func> {
        if pc < self.md.minpc || pc >= self.md.maxpc {
            return None;
        }
        let pcoff = self.text_off(pc)?;
        let idx = self.find_idx_fast(pc, pcoff).or_else(|| self.find_idx_search(pcoff))?;
        self.func_at(self.ftab(idx)?.1)
    }

    /// ftab index via findfunctab (runtime `findfunc`).
    #[inline]
    fn find_idx_fast(&self, pc: u64, pcoff: u32) -> Option<usize> {
        let t = self.tab(self.findfunctab?);
        let x = pc - self.md.minpc;
        let b = (x / FINDFUNC_BUCKET) as usize * FINDFUNC_BUCKET_SIZE;
        let sub = (x % FINDFUNC_BUCKET) as usize / (FINDFUNC_BUCKET as usize / 16);
        let mut idx = u32_at(t, b).ok()? as usize + *t.get(b + 4 + sub)? as usize;
        if self.ftab(idx)?.0 > pcoff {
            return None;
        }
        loop {
            let next = self.ftab(idx + 1)?.0;
            if next > pcoff {
                return Some(idx);
            }
            idx += 1;
        }
    }

    /// ftab index via binary search on entry offsets.
    fn find_idx_search(&self, pcoff: u32) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.nfunc);
        // Invariant: entry(lo) <= pcoff < entry(hi) (hi = nfunc is the end sentinel).
        if self.ftab(0)?.0 > pcoff || self.ftab(hi)?.0 <= pcoff {
            return None;
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.ftab(mid)?.0 <= pcoff {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(lo)
    }

    /// The function with this exact name (as pclntab spells it). The name index is built on
    /// first use.
    pub fn func_by_name(&self, name: &str) -> Option<Func> {
        let idx = self.by_name.get_or_init(|| {
            let mut v: Vec<u32> = (0..self.nfunc as u32).collect();
            v.sort_by_cached_key(|&i| {
                self.ftab(i as usize).and_then(|e| self.func_at(e.1)).map(|f| self.name(f))
            });
            v
        });
        let key = |i: u32| self.ftab(i as usize).and_then(|e| self.func_at(e.1));
        let pos = idx.partition_point(|&i| key(i).map(|f| self.name(f)) < Some(name));
        let f = key(*idx.get(pos)?)?;
        (self.name(f) == name).then_some(f)
    }

    #[inline]
    fn fu32(&self, f: Func, field: usize) -> u32 {
        u32_at(self.tab(self.pclntable), f.off as usize + field).unwrap_or(0)
    }

    fn fu8(&self, f: Func, field: usize) -> u8 {
        self.tab(self.pclntable).get(f.off as usize + field).copied().unwrap_or(0)
    }

    /// A name in funcnametab ("?" if the offset or the bytes are bad).
    fn funcname(&self, nameoff: u32) -> &str {
        cstr(self.tab(self.funcnametab), nameoff as usize).unwrap_or("?")
    }

    /// The function's name as pclntab spells it (`main.Map[go.shape.int]`).
    pub fn name(&self, f: Func) -> &str {
        self.funcname(self.fu32(f, F_NAMEOFF))
    }

    /// The raw FuncID (its meaning depends on the Go version: see [`Self::func_id_name`]).
    pub fn func_id(&self, f: Func) -> u8 {
        self.fu8(f, F_FUNCID)
    }

    /// The FuncID's name in this Go version: "normal", "goexit", "mcall", "wrapper", … (the
    /// `abi.FuncID_` suffix); "unknown" for a value out of range.
    pub fn func_id_name(&self, f: Func) -> &'static str {
        self.funcids.get(self.func_id(f) as usize).copied().unwrap_or("unknown")
    }

    /// FuncFlag bits: 1 TopFrame, 2 SPWrite, 4 Asm.
    pub fn flag(&self, f: Func) -> u8 {
        self.fu8(f, F_FLAG)
    }

    /// Size of the arguments in bytes (negative for unknown, e.g. assembly).
    pub fn args(&self, f: Func) -> i32 {
        self.fu32(f, F_ARGS) as i32
    }

    /// Offset of the deferreturn call from the entry (0 if none).
    pub fn deferreturn(&self, f: Func) -> u32 {
        self.fu32(f, F_DEFERRETURN)
    }

    /// Line of the `func` keyword (or TEXT directive).
    pub fn start_line(&self, f: Func) -> i32 {
        self.fu32(f, F_STARTLINE) as i32
    }

    /// Decode the pc-value table at `off` (in pctab) for `targetpc` (runtime `pcvalue`).
    #[inline]
    fn pcvalue(&self, f: Func, off: u32, targetpc: u64) -> Option<i32> {
        if off == 0 || targetpc < f.entry {
            return None;
        }
        let tag = (self.id as u64) << 32 | off as u64;
        let slot =
            (targetpc ^ (off as u64).wrapping_mul(0x9e37_79b9)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 50;
        PCVALUE_CACHE.with(|c| {
            let c = &c[slot as usize % PCVALUE_CACHE_SIZE];
            let e = c.get();
            if e.tag == tag && e.pc == targetpc {
                return e.val;
            }
            let val = self.pcvalue_decode(f, off, targetpc);
            c.set(CacheEntry { tag, pc: targetpc, val });
            val
        })
    }

    /// [`Self::pcvalue`] without the cache.
    fn pcvalue_decode(&self, f: Func, off: u32, targetpc: u64) -> Option<i32> {
        let b = self.tab(self.pctab);
        let mut p = off as usize;
        let mut pc = f.entry;
        let mut val: i32 = -1;
        let quantum = self.min_lc as u64;
        let mut first = true;
        loop {
            // Fast path: single-byte varints (the common case).
            let mut uv = *b.get(p)? as u32;
            if uv == 0 && !first {
                return None;
            }
            first = false;
            if uv & 0x80 != 0 {
                uv = uvarint(b, &mut p)?;
            } else {
                p += 1;
            }
            val = val.wrapping_add((-((uv & 1) as i32)) ^ ((uv >> 1) as i32));
            let mut pcdelta = *b.get(p)? as u32;
            if pcdelta & 0x80 != 0 {
                pcdelta = uvarint(b, &mut p)?;
            } else {
                p += 1;
            }
            pc = pc.wrapping_add(pcdelta as u64 * quantum);
            if targetpc < pc {
                return Some(val);
            }
        }
    }

    /// Frame size (SP delta from the entry) at `pc`.
    #[inline]
    pub fn pcsp(&self, f: Func, pc: u64) -> Option<i32> {
        self.pcvalue(f, self.fu32(f, F_PCSP), pc)
    }

    /// The function containing `pc` and its frame size there: the unwinder's fast path.
    #[inline]
    pub fn frame_size(&self, pc: u64) -> Option<(Func, i32)> {
        let f = self.find_func(pc)?;
        Some((f, self.pcsp(f, pc)?))
    }

    /// Value of PCDATA table `table` at `pc` (None if the function has no such table).
    pub fn pcdata(&self, f: Func, table: u32, pc: u64) -> Option<i32> {
        if table >= self.fu32(f, F_NPCDATA) {
            return None;
        }
        let off = self.fu32(f, FUNC_SIZE + table as usize * 4);
        self.pcvalue(f, off, pc)
    }

    /// Link-time address of FUNCDATA `idx` (`gofunc` + offset), None if absent.
    pub fn funcdata(&self, f: Func, idx: u8) -> Option<u64> {
        if idx >= self.fu8(f, F_NFUNCDATA) {
            return None;
        }
        let npcdata = self.fu32(f, F_NPCDATA) as usize;
        let off = u32_at(self.tab(self.pclntable), f.off as usize + FUNC_SIZE + (npcdata + idx as usize) * 4)
            .ok()?;
        (off != u32::MAX).then(|| self.md.gofunc.wrapping_add(off as u64))
    }

    /// Source file and line of `pc` in the physical function `f` (no inlining: see
    /// [`Self::frames`]).
    pub fn file_line(&self, f: Func, pc: u64) -> Option<(&str, u32)> {
        let fileno = self.pcvalue(f, self.fu32(f, F_PCFILE), pc)?;
        let line = self.pcvalue(f, self.fu32(f, F_PCLN), pc)?;
        let cu = self.fu32(f, F_CUOFFSET) as usize;
        let idx = cu.checked_add(usize::try_from(fileno).ok()?)?;
        let fileoff = u32_at(self.tab(self.cutab), idx.checked_mul(4)?).ok()?;
        if fileoff == u32::MAX {
            return None;
        }
        Some((cstr(self.tab(self.filetab), fileoff as usize)?, u32::try_from(line).ok()?))
    }

    /// Bytes at a link-time address, from the file.
    fn read_addr(&self, addr: u64, len: u64) -> Option<&[u8]> {
        let s = self.segs.iter().find(|s| addr >= s.addr && addr - s.addr < s.len)?;
        if addr - s.addr + len > s.len {
            return None;
        }
        let off = (s.off + addr - s.addr) as usize;
        self.file.bytes().get(off..off + len as usize)
    }

    /// The source frames at `pc`, innermost first, inlined calls expanded, the physical
    /// function last. `innermost` is false for a return address: then the tables are read
    /// at `pc-1` (the call instruction), as the runtime's tracebacks do. Empty if `pc` is in
    /// no function.
    pub fn frames(&self, pc: u64, innermost: bool) -> Vec<SourceFrame> {
        let mut out = Vec::new();
        let tracepc = if innermost { pc } else { pc.wrapping_sub(1) };
        let Some(f) = self.find_func(tracepc) else {
            return out;
        };
        let frame = |function: &str, at: u64, inlined: bool, func_id: &'static str| {
            let (file, line) = self.file_line(f, at).unwrap_or(("?", 0));
            SourceFrame {
                function: function.to_string(),
                file: file.to_string(),
                line,
                inlined,
                entry: f.entry,
                func_id,
            }
        };
        let mut at = tracepc;
        let tree = self.funcdata(f, FUNCDATA_INL_TREE);
        while let (Some(tree), true) = (tree, out.len() < MAX_INLINE_DEPTH) {
            let Some(idx) = self.pcdata(f, PCDATA_INL_TREE_INDEX, at).filter(|&i| i >= 0) else {
                break;
            };
            let Some(call) = self.read_addr(tree.wrapping_add(idx as u64 * 16), 16) else {
                break;
            };
            let (Some(nameoff), Some(parent)) = (u32_at(call, 4).ok(), u32_at(call, 8).ok()) else {
                break;
            };
            let id = self.funcids.get(call[0] as usize).copied().unwrap_or("unknown");
            out.push(frame(self.funcname(nameoff), at, true, id));
            at = f.entry.wrapping_add(parent as i32 as i64 as u64);
        }
        out.push(frame(self.name(f), at, false, self.func_id_name(f)));
        out
    }
}

/// Check a candidate pcHeader at file offset `off`, with `avail` bytes after it.
fn check_header(bytes: &[u8], addr: u64, off: usize, avail: usize) -> Result<Header> {
    let h = bytes.get(off..off + avail.min(bytes.len().saturating_sub(off))).unwrap_or(&[]);
    let magic = u32_at(h, 0).ok().ok_or_else(|| bad("truncated pcHeader"))?;
    if magic != MAGIC_GO120 {
        return Err(Error::Unsupported(format!(
            "pclntab magic {magic:#x}: only the Go 1.20+ format (0xfffffff1) is supported"
        )));
    }
    if h.len() < PCHEADER_SIZE {
        return Err(bad("truncated pcHeader"));
    }
    let (min_lc, ptr_size) = (h[6], h[7]);
    if h[4] != 0 || h[5] != 0 || !matches!(min_lc, 1 | 4) || ptr_size != 8 {
        return Err(bad(format!("pcHeader has quantum {min_lc} and pointer size {ptr_size}")));
    }
    let nfunc = u64_at(h, 8).unwrap_or(0);
    let mut offs = [0u64; 5];
    for (i, o) in offs.iter_mut().enumerate() {
        *o = u64_at(h, 0x20 + i * 8).unwrap_or(u64::MAX);
    }
    if nfunc == 0 || nfunc > 1 << 24 || offs.iter().any(|&o| o < PCHEADER_SIZE as u64 || o >= h.len() as u64)
    {
        return Err(bad(format!("pcHeader with {nfunc} functions and offsets {offs:x?} is not plausible")));
    }
    if u32_at(h, offs[4] as usize).ok() != Some(0) {
        return Err(bad("ftab[0].entryoff is not 0"));
    }
    Ok(Header { addr, tab: Tab { off, len: h.len() }, min_lc, nfunc: nfunc as usize, offs })
}

/// Find the pcHeader: `.gopclntab`, `runtime.pclntab`, or a scan of the initialised sections.
fn find_header(image: &Image, segs: &[Seg]) -> Result<Header> {
    let bytes = image.file.bytes();
    let at = |addr: u64| -> Option<(usize, usize)> {
        let s = segs.iter().find(|s| addr >= s.addr && addr - s.addr < s.len)?;
        Some(((s.off + addr - s.addr) as usize, (s.len - (addr - s.addr)) as usize))
    };
    if let Some(s) = image.section(".gopclntab") {
        if let Some((off, len)) = s.file_range {
            return check_header(bytes, s.addr, off as usize, len.min(s.size) as usize);
        }
    }
    if let Some((addr, _)) = image.symbol("runtime.pclntab") {
        if let Some((off, avail)) = at(addr) {
            return check_header(bytes, addr, off, avail);
        }
    }
    // Scan for `f1 ff ff ff 00 00 {01|04} 08` (4-byte aligned), remembering older magics.
    let mut old = None;
    for s in segs {
        let Some(data) = bytes.get(s.off as usize..(s.off + s.len) as usize) else {
            continue;
        };
        for i in (0..data.len().saturating_sub(8)).step_by(4) {
            let w = &data[i..i + 8];
            if w[1..4] != [0xff; 3] || w[4..6] != [0, 0] || !matches!(w[6], 1 | 4) || w[7] != 8 {
                continue;
            }
            let magic = u32::from_le_bytes([w[0], 0xff, 0xff, 0xff]);
            if magic == MAGIC_GO120 {
                if let Ok(h) = check_header(bytes, s.addr + i as u64, s.off as usize + i, data.len() - i) {
                    return Ok(h);
                }
            } else if OLD_MAGICS.contains(&magic) {
                old = Some(magic);
            }
        }
    }
    Err(match old {
        Some(m) => Error::Unsupported(format!(
            "pclntab magic {m:#x} (Go before 1.20): only the Go 1.20+ format is supported"
        )),
        None => Error::NotGo("no pclntab (Go symbol table) found".into()),
    })
}

/// Find `runtime.firstmoduledata` and read it with the layout of Go 1.`minor` (or, if that
/// does not validate, the other layouts).
fn find_moduledata(image: &Image, hdr: &Header, minor: u32) -> Result<ModuleData> {
    let want_names = hdr.addr + hdr.offs[0];
    let is_md = |addr: u64| {
        image.read_u64_at(addr) == Some(hdr.addr) && image.read_u64_at(addr + 8) == Some(want_names)
    };
    let mut cands: Vec<u64> = Vec::new();
    if let Some((addr, _)) = image.symbol("runtime.firstmoduledata") {
        cands.push(addr);
    }
    if let Some(s) = image.section(".go.module") {
        cands.push(s.addr);
    }
    cands.retain(|&a| is_md(a));
    if cands.is_empty() {
        // Scan the data sections (ELF .noptrdata/.data; PE .data) for the two words.
        let mut secs: Vec<_> = image.sections.iter().filter(|s| s.file_range.is_some()).collect();
        secs.sort_by_key(|s| !matches!(s.name.as_str(), ".noptrdata" | ".data"));
        let mut pat = [0u8; 16];
        pat[..8].copy_from_slice(&hdr.addr.to_le_bytes());
        pat[8..].copy_from_slice(&want_names.to_le_bytes());
        'outer: for s in secs {
            let Some(data) = image.section_data(s) else {
                continue;
            };
            for (i, w) in data.chunks_exact(8).enumerate() {
                if w == &pat[..8] && data.get(i * 8 + 8..i * 8 + 16) == Some(&pat[8..]) {
                    cands.push(s.addr + i as u64 * 8);
                    break 'outer;
                }
            }
        }
    }
    let addr = *cands.first().ok_or_else(|| {
        bad("runtime.firstmoduledata not found (no symbol, no .go.module, no match in data)")
    })?;
    let mut order: Vec<&'static ModuleDataLayout> = MD_LAYOUTS.iter().collect();
    if let Some(i) = MD_LAYOUTS.iter().position(|l| minor >= l.since_minor) {
        order.swap(0, i);
    }
    for l in order {
        if let Some(md) = read_moduledata(image, addr, l) {
            return Ok(md);
        }
    }
    Err(bad(format!("moduledata at {addr:#x} does not match any known layout")))
}

/// Read moduledata at `addr` with layout `l`; None if it is inconsistent with that layout.
fn read_moduledata(image: &Image, addr: u64, l: &'static ModuleDataLayout) -> Option<ModuleData> {
    let w = |off: u64| image.read_u64_at(addr + off);
    let opt = |off: Option<u64>| off.and_then(w);
    let slice = |off: u64| -> Option<(u64, u64)> {
        let (p, n, c) = (w(off)?, w(off + 8)?, w(off + 16)?);
        (n <= c && c < 1 << 32).then_some((p, n))
    };
    let (ts_ptr, ts_n) = slice(l.textsectmap)?;
    if ts_n == 0 || ts_n > 256 {
        return None;
    }
    let text = w(md_off::TEXT)?;
    let ts = image.read_at(ts_ptr, ts_n * 24)?;
    let textsectmap: Vec<TextSect> = ts
        .chunks_exact(24)
        .map(|c| TextSect {
            vaddr: u64_at(c, 0).unwrap_or(0),
            end: u64_at(c, 8).unwrap_or(0),
            baseaddr: u64_at(c, 16).unwrap_or(0),
        })
        .collect();
    if textsectmap.first().map(|t| (t.vaddr, t.baseaddr)) != Some((0, text)) {
        return None;
    }
    let md = ModuleData {
        addr,
        layout: l,
        pc_header: w(md_off::PCHEADER)?,
        findfunctab: w(md_off::FINDFUNCTAB)?,
        minpc: w(md_off::MINPC)?,
        maxpc: w(md_off::MAXPC)?,
        text,
        etext: w(md_off::ETEXT)?,
        noptrdata: w(md_off::NOPTRDATA)?,
        enoptrdata: w(md_off::ENOPTRDATA)?,
        data: w(md_off::DATA)?,
        edata: w(md_off::EDATA)?,
        bss: w(md_off::BSS)?,
        ebss: w(md_off::EBSS)?,
        noptrbss: w(md_off::NOPTRBSS)?,
        enoptrbss: w(md_off::ENOPTRBSS)?,
        covctrs: w(md_off::COVCTRS)?,
        ecovctrs: w(md_off::ECOVCTRS)?,
        end: w(md_off::END)?,
        gcdata: w(md_off::GCDATA)?,
        gcbss: w(md_off::GCBSS)?,
        types: w(l.types)?,
        etypes: w(l.etypes)?,
        typedesclen: opt(l.typedesclen),
        itaboffset: opt(l.itaboffset),
        itabsize: opt(l.itabsize),
        rodata: w(l.rodata)?,
        gofunc: w(l.gofunc)?,
        epclntab: opt(l.epclntab),
        textsectmap,
        typelinks: l.typelinks.and_then(slice),
        itablinks: l.itablinks.and_then(slice),
        hasmain: image.read_at(addr + l.hasmain, 1)?[0] != 0,
    };
    let ok = md.text <= md.etext
        && md.minpc <= md.maxpc
        && md.types <= md.etypes
        && md.gofunc != 0
        && md.rodata != 0
        && md.epclntab.is_none_or(|e| e > md.pc_header)
        && md.typedesclen.is_none_or(|n| n <= md.etypes - md.types);
    ok.then_some(md)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exe::image::tests::fixture_exes;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    fn open(path: &Path) -> Pclntab {
        let img = Image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let bi = BuildInfo::read(&img).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Pclntab::from_image(&img, &bi).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The go tool of a fixture's release (`go1.27.3` → /opt/go-venv/1.27.3/bin/go), if installed.
    fn go_tool(ver: &str) -> Option<PathBuf> {
        let p = PathBuf::from(format!("/opt/go-venv/{}/bin/go", ver.strip_prefix("go")?));
        p.is_file().then_some(p)
    }

    /// A deterministic sample of pcs: every entry, and a pc inside each function.
    fn sample_pcs(t: &Pclntab) -> Vec<u64> {
        let fs: Vec<Func> = t.funcs().collect();
        let mut v = Vec::new();
        for (i, f) in fs.iter().enumerate() {
            let end = fs.get(i + 1).map_or(t.moduledata().maxpc, |g| g.entry);
            v.push(f.entry);
            v.push(f.entry + (end - f.entry) / 2 / t.min_lc() as u64 * t.min_lc() as u64);
        }
        v
    }

    /// Every function is found at its entry, named, with sane tables; the findfunctab path
    /// and the binary search agree; main.main is there.
    fn check_consistent(what: &str, t: &Pclntab) {
        assert!(t.nfunc() > 100, "{what}: {} funcs", t.nfunc());
        assert_eq!(t.funcs().count(), t.nfunc(), "{what}");
        let md = t.moduledata();
        assert!(md.text <= md.minpc && md.minpc < md.maxpc && md.maxpc <= md.etext, "{what}: {md:?}");
        assert!(md.types < md.etypes && md.noptrdata <= md.data && md.bss <= md.ebss, "{what}");
        assert!(md.hasmain, "{what}");
        let mut prev = 0;
        for f in t.funcs() {
            assert!(f.entry > prev || prev == 0, "{what}: funcs out of order");
            prev = f.entry;
            assert!(!t.name(f).is_empty(), "{what}: empty name at {:#x}", f.entry);
            assert_eq!(t.find_func(f.entry), Some(f), "{what}: {}", t.name(f));
            if t.fu32(f, F_PCSP) != 0 {
                assert_eq!(t.pcsp(f, f.entry), Some(0), "{what}: {}", t.name(f));
            }
        }
        for pc in sample_pcs(t) {
            let off = t.text_off(pc).unwrap();
            assert!(t.find_idx_fast(pc, off).is_some(), "{what}: findfunctab fails at {pc:#x}");
            assert_eq!(t.find_idx_fast(pc, off), t.find_idx_search(off), "{what}: {pc:#x}");
        }
        assert!(t.find_func(md.minpc - 1).is_none() && t.find_func(md.maxpc).is_none());
        let main = t.func_by_name("main.main").unwrap_or_else(|| panic!("{what}: no main.main"));
        let (file, line) = t.file_line(main, main.entry).unwrap();
        assert!(file.ends_with(".go") && line > 0, "{what}: main.main at {file}:{line}");
        assert_eq!(t.func_id_name(main), "normal");
        let goexit = t.func_by_name("runtime.goexit").unwrap();
        assert_eq!(t.func_id_name(goexit), "goexit", "{what}");
        assert_eq!(t.func_id_name(t.func_by_name("runtime.mcall").unwrap()), "mcall", "{what}");
        assert!(t.func_by_name("runtime.nosuchfunction").is_none());
        let fr = t.frames(main.entry, true);
        assert_eq!(fr.last().map(|f| f.function.as_str()), Some("main.main"), "{what}");
    }

    /// moduledata agrees with the linker's symbols, where the image has them.
    fn check_moduledata_symbols(what: &str, img: &Image, t: &Pclntab) {
        let md = t.moduledata();
        let fields = [
            ("runtime.firstmoduledata", md.addr),
            ("runtime.findfunctab", md.findfunctab),
            ("runtime.text", md.text),
            ("runtime.etext", md.etext),
            ("runtime.noptrdata", md.noptrdata),
            ("runtime.enoptrdata", md.enoptrdata),
            ("runtime.data", md.data),
            ("runtime.edata", md.edata),
            ("runtime.bss", md.bss),
            ("runtime.ebss", md.ebss),
            ("runtime.noptrbss", md.noptrbss),
            ("runtime.enoptrbss", md.enoptrbss),
            ("runtime.end", md.end),
            ("runtime.gcdata", md.gcdata),
            ("runtime.gcbss", md.gcbss),
            ("runtime.types", md.types),
            ("runtime.etypes", md.etypes),
            ("runtime.rodata", md.rodata),
            ("go:func.*", md.gofunc),
            ("runtime.epclntab", md.epclntab.unwrap_or(0)),
        ];
        let mut n = 0;
        for (sym, val) in fields {
            if let Some((addr, _)) = img.symbol(sym) {
                if sym == "runtime.epclntab" && md.epclntab.is_none() {
                    continue;
                }
                assert_eq!(addr, val, "{what}: moduledata field {sym}");
                n += 1;
            }
        }
        if img.symbol("runtime.firstmoduledata").is_some() {
            assert!(n >= 15, "{what}: only {n} moduledata fields checked against symbols");
        }
    }

    #[test]
    fn bad_headers_are_errors() {
        let mut h = vec![0u8; 0x100];
        h[..8].copy_from_slice(&[0xf1, 0xff, 0xff, 0xff, 0, 0, 1, 8]);
        h[8] = 10; // nfunc
        for (i, off) in [0x48u64, 0x50, 0x58, 0x60, 0x68].iter().enumerate() {
            h[0x20 + i * 8..0x28 + i * 8].copy_from_slice(&off.to_le_bytes());
        }
        assert!(check_header(&h, 0x1000, 0, h.len()).is_ok());
        let mut old = h.clone();
        old[0] = 0xfb;
        let e = check_header(&old, 0x1000, 0, old.len()).err().unwrap();
        assert!(matches!(&e, Error::Unsupported(m) if m.contains("0xfffffffb")), "{e}");
        let err = |mutate: &dyn Fn(&mut Vec<u8>)| {
            let mut b = h.clone();
            mutate(&mut b);
            matches!(check_header(&b, 0x1000, 0, b.len()), Err(Error::Malformed { .. }))
        };
        assert!(err(&|b| b.truncate(0x30)));
        assert!(err(&|b| b[6] = 2)); // quantum
        assert!(err(&|b| b[7] = 4)); // 32-bit
        assert!(err(&|b| b[8] = 0)); // no functions
        assert!(err(&|b| b[0x47] = 1)); // pclnOffset outside
        assert!(err(&|b| b[0x68] = 1)); // ftab[0].entryoff != 0
        assert!(check_header(&h, 0x1000, 0x80, 0x100).is_err()); // past the end
    }

    /// Garbage in the pc tables and function records of a real binary: every lookup must
    /// return something or None, never panic.
    #[test]
    fn corrupt_tables_do_not_panic() {
        let Some((_, _, path)) = fixture_exes().into_iter().find(|e| e.2.extension().is_none()) else {
            return;
        };
        let img = Image::open(&path).unwrap();
        let sec = img.section(".gopclntab").or_else(|| img.section(".rdata")).unwrap();
        let (off, len) = sec.file_range.unwrap();
        let mut bytes = img.file.bytes().to_vec();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        // Keep the header and the first part of ftab; scramble 2% of the rest.
        for _ in 0..len / 50 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = (off + 0x1000 + x % (len - 0x1000)) as usize;
            bytes[i] = (x >> 32) as u8;
        }
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), &bytes).unwrap();
        let img = Image::open(tmp.path()).unwrap();
        let bi = BuildInfo::read(&img).unwrap();
        let Ok(t) = Pclntab::from_image(&img, &bi) else {
            return;
        };
        let md = t.moduledata();
        let mut n = 0;
        for pc in (md.minpc..md.maxpc).step_by(3) {
            n += t.frames(pc, false).len();
            if let Some((f, _)) = t.frame_size(pc) {
                let _ = (t.pcdata(f, 1, pc), t.funcdata(f, 0), t.file_line(f, pc), t.func_id_name(f));
            }
        }
        let _ = t.func_by_name("main.main");
        eprintln!("{}: {n} frames from a corrupted table", path.display());
    }

    /// Timing (run with `cargo test --release --lib exe::pclntab::tests::bench -- --ignored
    /// --nocapture`; `GOMORTEM_BENCH_EXE` picks the executable, default: the `go` command).
    #[test]
    #[ignore]
    fn bench() {
        let exe = std::env::var_os("GOMORTEM_BENCH_EXE")
            .map(PathBuf::from)
            .or_else(|| {
                go_tool("go1.27.3").and_then(|_| {
                    let out =
                        Command::new("/opt/go-venv/1.27.3/bin/go").args(["env", "GOROOT"]).output().ok()?;
                    Some(PathBuf::from(String::from_utf8(out.stdout).ok()?.trim()).join("bin/go"))
                })
            })
            .expect("set GOMORTEM_BENCH_EXE");
        let t0 = std::time::Instant::now();
        let t = open(&exe);
        eprintln!("{}: {} funcs, open {:?}", exe.display(), t.nfunc(), t0.elapsed());
        let md = t.moduledata();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let random: Vec<u64> = (0..1_000_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                md.minpc + x % (md.maxpc - md.minpc)
            })
            .collect();
        // Tracebacks of many goroutines repeat a few thousand pcs.
        let pooled: Vec<u64> = (0..1_000_000).map(|i| random[(i * 7919) % 2000]).collect();
        for (kind, pcs) in [("random", &random), ("2000 distinct", &pooled)] {
            let time = |what: &str, f: &dyn Fn(u64) -> usize| {
                let t0 = std::time::Instant::now();
                let n: usize = pcs.iter().map(|&pc| f(pc)).sum();
                eprintln!("1M {kind} pcs: {what} {:?} ({n})", t0.elapsed());
            };
            time("find_func", &|pc| t.find_func(pc).is_some() as usize);
            time("frame_size", &|pc| t.frame_size(pc).is_some() as usize);
            time("file_line", &|pc| t.find_func(pc).and_then(|f| t.file_line(f, pc)).is_some() as usize);
            time("frames", &|pc| t.frames(pc, false).len());
        }
    }

    #[test]
    fn fixtures_consistent_and_variants_agree() {
        for (ver, plat, path) in fixture_exes() {
            let what = format!("{ver}/{plat}/{}", path.display());
            let t = open(&path);
            check_consistent(&what, &t);
            check_moduledata_symbols(&what, &Image::open(&path).unwrap(), &t);
            let pcs = sample_pcs(&t);
            for variant in ["exe-nodwarf", "exe-stripped"] {
                let vp = path.with_file_name(variant);
                if !vp.is_file() {
                    continue;
                }
                let u = open(&vp);
                check_consistent(&format!("{what} {variant}"), &u);
                assert_eq!(t.nfunc(), u.nfunc(), "{what} {variant}");
                // Data addresses may shift (build settings differ), text does not.
                let md = |t: &Pclntab| {
                    let m = t.moduledata();
                    (m.minpc, m.maxpc, m.text, m.etext, m.textsectmap.clone(), m.hasmain)
                };
                assert_eq!(md(&t), md(&u), "{what} {variant}");
                for pc in pcs.iter().step_by(7) {
                    let (a, b) = (t.frames(*pc, true), u.frames(*pc, true));
                    assert_eq!(a, b, "{what} {variant} at {pc:#x}");
                }
            }
        }
    }

    /// `go tool addr2line` of the same release prints the physical function and the innermost
    /// file:line of each pc.
    #[test]
    fn fixtures_match_addr2line() {
        for (ver, plat, path) in fixture_exes() {
            let Some(go) = go_tool(&ver) else {
                eprintln!("note: no Go toolchain for {ver}: skipping addr2line on {}", path.display());
                continue;
            };
            if path.extension().is_some_and(|e| e == "xz") {
                continue;
            }
            let t = open(&path);
            let pcs: Vec<u64> = sample_pcs(&t).into_iter().step_by(3).collect();
            let input: String = pcs.iter().map(|pc| format!("{pc:#x}\n")).collect();
            let mut child = Command::new(go)
                .args(["tool", "addr2line"])
                .arg(&path)
                .env("GOTOOLCHAIN", "local")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, input.as_bytes()));
            let out = child.wait_with_output().unwrap();
            writer.join().unwrap().unwrap();
            let text = String::from_utf8(out.stdout).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), pcs.len() * 2, "{ver}/{plat}");
            for (pc, want) in pcs.iter().zip(lines.chunks(2)) {
                let f = t.find_func(*pc).unwrap();
                if t.fu32(f, F_PCLN) == 0 {
                    continue; // No line table: the runtime says "?", addr2line decodes garbage.
                }
                // addr2line prints ":-1" for a function without line table.
                let got_loc = t.file_line(f, *pc).map_or(":-1".to_string(), |(f, l)| format!("{f}:{l}"));
                assert_eq!((t.name(f), got_loc.as_str()), (want[0], want[1]), "{ver}/{plat} at {pc:#x}");
            }
            eprintln!("{ver}/{plat}: {} pcs agree with addr2line", pcs.len());
        }
    }

    /// A Go program that prints its own stack through `runtime.CallersFrames` (the oracle):
    /// a method, deep recursion, a closure inlined into a generic function inlined into main.
    const CALLERS_GO: &str = r#"package main

import (
	"fmt"
	"runtime"
)

type Point struct{ X, Y int }

//go:noinline
func (p *Point) Walk(n int) []uintptr { return deep(n) }

func callers() []uintptr {
	pcs := make([]uintptr, 64)
	return pcs[:runtime.Callers(1, pcs)]
}

//go:noinline
func deep(n int) []uintptr {
	if n == 0 {
		return callers()
	}
	return deep(n - 1)
}

func Map[T any, U any](xs []T, f func(T) U) []U {
	out := make([]U, 0, len(xs))
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

func main() {
	p := &Point{1, 2}
	r := Map([]int{3}, func(n int) []uintptr { return p.Walk(n) })
	fr := runtime.CallersFrames(r[0])
	for {
		f, more := fr.Next()
		fmt.Printf("%#x\t%s\t%s\t%d\t%#x\n", f.PC, f.Function, f.File, f.Line, f.Entry)
		if !more {
			break
		}
	}
}
"#;

    /// The runtime prints `pkg.F[...]` for `pkg.F[go.shape.int]`.
    fn elide_type_args(name: &str) -> String {
        let (mut out, mut depth) = (String::new(), 0);
        for c in name.chars() {
            match c {
                '[' => {
                    if depth == 0 {
                        out.push_str("[...]");
                    }
                    depth += 1;
                }
                ']' => depth -= 1,
                _ if depth == 0 => out.push(c),
                _ => {}
            }
        }
        out
    }

    /// Build the program above with every installed release (linux/amd64, and linux/arm64
    /// under qemu-aarch64 if present), run it, and check that [`Pclntab::frames`] at the first
    /// pc of each physical frame gives exactly the runtime's logical frames.
    #[test]
    fn frames_match_runtime_callers_frames() {
        let vers: Vec<PathBuf> = std::fs::read_dir("/opt/go-venv")
            .map(|r| {
                r.filter_map(|e| e.ok()).map(|e| e.path().join("bin/go")).filter(|p| p.is_file()).collect()
            })
            .unwrap_or_default();
        if vers.is_empty() {
            eprintln!("note: no Go toolchains under /opt/go-venv: skipping");
            return;
        }
        let qemu = Command::new("qemu-aarch64").arg("--version").output().is_ok();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.go"), CALLERS_GO).unwrap();
        std::fs::write(dir.path().join("go.mod"), "module example.com/callers\ngo 1.21\n").unwrap();
        for go in vers {
            for arch in ["amd64", "arm64"] {
                if arch == "arm64" && !qemu {
                    continue;
                }
                let exe = dir.path().join(format!("callers-{arch}"));
                let st = Command::new(&go)
                    .args(["build", "-o"])
                    .arg(&exe)
                    .arg(".")
                    .current_dir(dir.path())
                    .envs([("GOTOOLCHAIN", "local"), ("GOFLAGS", "-mod=mod"), ("GOPROXY", "off")])
                    .envs([("GOOS", "linux"), ("GOARCH", arch), ("CGO_ENABLED", "0")])
                    .status()
                    .unwrap();
                assert!(st.success(), "{} build failed", go.display());
                let out = if arch == "arm64" {
                    Command::new("qemu-aarch64").arg(&exe).output().unwrap()
                } else {
                    Command::new(&exe).output().unwrap()
                };
                let text = String::from_utf8(out.stdout).unwrap();
                let want: Vec<(u64, SourceFrame)> = text
                    .lines()
                    .map(|l| {
                        let c: Vec<&str> = l.split('\t').collect();
                        let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
                        let frame = SourceFrame {
                            function: c[1].to_string(),
                            file: c[2].to_string(),
                            line: c[3].parse().unwrap(),
                            inlined: false,
                            entry: hex(c[4]),
                            func_id: "",
                        };
                        (hex(c[0]), frame)
                    })
                    .collect();
                assert!(want.len() >= 8, "{}: {text}", go.display());
                let t = open(&exe);
                check_consistent(&format!("{} {arch}", go.display()), &t);
                let mut i = 0;
                while i < want.len() {
                    // The runtime reports the pc of the call (return address - 1).
                    let got = t.frames(want[i].0 + 1, false);
                    assert!(!got.is_empty(), "{} {arch}: no frames at {:#x}", go.display(), want[i].0);
                    for (k, g) in got.iter().enumerate() {
                        let w = &want.get(i + k).expect("more frames than the runtime").1;
                        let g2 = SourceFrame {
                            function: elide_type_args(&g.function),
                            inlined: false,
                            func_id: "",
                            ..g.clone()
                        };
                        assert_eq!(&g2, w, "{} {arch}", go.display());
                        assert_eq!(g.inlined, k + 1 < got.len());
                    }
                    i += got.len();
                }
                eprintln!("{} {arch}: {} frames agree", go.display(), want.len());
            }
        }
    }
}
