//! Fuzz entry points: each takes arbitrary bytes and runs one parser of untrusted input, or a
//! whole analysis of a mutated real dump. The cargo-fuzz targets in `fuzz/` call them (`just
//! fuzz`), and `tests/fuzz_seeds.rs` runs each on its seeds and on mutations of them in the
//! fast tests. Errors are expected and ignored: what a target must never do is panic, hang or
//! run away with memory.
//!
//! Two kinds of target:
//! * **raw**: the input is the file ([`elf_core`], [`minidump`], [`buildinfo`]); seeds are the
//!   committed fixtures' heads (the headers, notes and streams, where the parsers' work is).
//! * **structured**: the input is a list of [`Mutation`]s applied to a real committed fixture
//!   held in memory: to its runtime structures and heap objects ([`process`]), its pclntab and
//!   moduledata ([`pclntab`]) or its DWARF sections ([`dwarf`]), so that every input is a dump
//!   or executable that is right almost everywhere, and wrong where the mutations say.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::analysis::diagnose::{Diagnosis, Thresholds};
use crate::analysis::HeapAnalysis;
use crate::dump::{Dump, MappedFile};
use crate::exe::dwarf::Sections;
use crate::exe::{BuildInfo, Dwarf, Executable, Image, Pclntab};
use crate::runtime::layout::Layouts;
use crate::runtime::Process;

/// The targets, by name (as `fuzz/fuzz_targets/<name>.rs` and `just fuzz` know them).
pub const TARGETS: [&str; 6] = ["elf_core", "minidump", "buildinfo", "pclntab", "dwarf", "process"];

/// Run the target called `name` on `data`; true if the input went through the whole pipeline
/// without an error (the seeds do: a test checks it).
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "elf_core" => elf_core(data),
        "minidump" => minidump(data),
        "buildinfo" => buildinfo(data),
        "pclntab" => pclntab(data),
        "dwarf" => dwarf(data),
        "process" => process(data),
        _ => panic!("no fuzz target {name}"),
    }
}

/// The committed fixtures the targets start from.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/committed")
}

const LINUX_AMD64: &str = "go1.26.6-linux-amd64-leaky";
const LINUX_ARM64: &str = "go1.26.6-linux-arm64-leaky";
const WINDOWS_AMD64: &str = "go1.26.6-windows-amd64-leaky";

fn load(case: &str, file: &str) -> Vec<u8> {
    let path = fixtures_dir().join(case).join(file);
    let f = MappedFile::open_maybe_compressed(&path)
        .unwrap_or_else(|e| panic!("fuzz fixture {}: {e}", path.display()));
    f.bytes().to_vec()
}

/// Seeds for a target: raw targets get real files' heads, structured ones a few mutation lists
/// (the empty list first: the fixture as it is).
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    const HEAD: usize = 256 << 10;
    let head = |case: &str| {
        let mut d = load(case, "dump.xz");
        d.truncate(HEAD);
        d
    };
    match name {
        "elf_core" => vec![head(LINUX_AMD64), head(LINUX_ARM64), head("go1.22.10-linux-amd64-leaky")],
        "minidump" => vec![head(WINDOWS_AMD64)],
        "buildinfo" => [LINUX_AMD64, WINDOWS_AMD64, "go1.22.10-linux-amd64-leaky"]
            .iter()
            .filter_map(|case| {
                let exe = load(case, "exe.xz");
                let at = exe.windows(14).position(|w| w == b"\xff Go buildinf:")?;
                Some(exe[at..exe.len().min(at + 4096)].to_vec())
            })
            .collect(),
        "pclntab" | "dwarf" | "process" => {
            let mut v = vec![Vec::new()];
            // One mutation of each operation, on each region class.
            for class in 0..6u8 {
                let mut s = Vec::new();
                for op in 0..8u8 {
                    s.extend(
                        Mutation {
                            class,
                            op,
                            index: 7 * op as u32,
                            offset: 40 * op as u32,
                            value: 1 << (op * 7),
                        }
                        .encode(),
                    );
                }
                v.push(s);
            }
            v
        }
        _ => panic!("no fuzz target {name}"),
    }
}

/// An ELF core, as a file: read it, then touch what the reader produced.
pub fn elf_core(data: &[u8]) -> bool {
    read_dump(data)
}

/// A minidump, as a file.
pub fn minidump(data: &[u8]) -> bool {
    read_dump(data)
}

fn read_dump(data: &[u8]) -> bool {
    let Ok(d) = Dump::from_file(Path::new("fuzz-input"), MappedFile::from_vec(data.to_vec())) else {
        return false;
    };
    for t in &d.threads {
        let _ = d.memory.read_u64(t.regs.sp);
        let _ = d.thread_stack(t);
    }
    for m in d.mappings.iter().take(64) {
        let _ = d.memory.slice(m.va, m.len.min(64));
        let _ = d.memory.read_u64(m.end().saturating_sub(8));
    }
    let _ = (d.memory.stats(), d.memory.ranges().count());
    true
}

/// A Go build info blob (from its magic).
pub fn buildinfo(data: &[u8]) -> bool {
    BuildInfo::parse(data).is_ok()
}

/// One change to a fixture: in the region `index` (modulo their number) of the class `class`,
/// at `offset` (modulo its length), apply operation `op` with `value`. 16 bytes each.
#[derive(Clone, Copy, Debug)]
pub struct Mutation {
    pub class: u8,
    pub op: u8,
    pub index: u32,
    pub offset: u32,
    pub value: u64,
}

impl Mutation {
    pub const SIZE: usize = 18;

    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0] = self.class;
        b[1] = self.op;
        b[2..6].copy_from_slice(&self.index.to_le_bytes());
        b[6..10].copy_from_slice(&self.offset.to_le_bytes());
        b[10..18].copy_from_slice(&self.value.to_le_bytes());
        b
    }

    /// At most 32 mutations; a trailing partial one is ignored.
    pub fn decode_all(data: &[u8]) -> Vec<Mutation> {
        data.chunks_exact(Self::SIZE)
            .take(32)
            .map(|b| Mutation {
                class: b[0],
                op: b[1],
                index: u32::from_le_bytes(b[2..6].try_into().unwrap_or_default()),
                offset: u32::from_le_bytes(b[6..10].try_into().unwrap_or_default()),
                value: u64::from_le_bytes(b[10..18].try_into().unwrap_or_default()),
            })
            .collect()
    }
}

/// Byte ranges of a file, `(offset, len)`, grouped in classes that mutations pick from.
type Classes = Vec<Vec<(usize, usize)>>;

/// Apply mutations to `bytes`; returns what to restore (offset, original bytes).
fn apply(bytes: &mut [u8], classes: &Classes, muts: &[Mutation]) -> Vec<(usize, Vec<u8>)> {
    let mut undo = Vec::new();
    let nonempty: Vec<&Vec<(usize, usize)>> = classes.iter().filter(|c| !c.is_empty()).collect();
    if nonempty.is_empty() {
        return undo;
    }
    for m in muts {
        let class = nonempty[m.class as usize % nonempty.len()];
        let (start, len) = class[m.index as usize % class.len()];
        if len == 0 {
            continue;
        }
        let at = start + (m.offset as usize % len);
        let word_at = (at & !7).max(start);
        let (pos, new): (usize, Vec<u8>) = match m.op % 8 {
            0 => (word_at, m.value.to_le_bytes().to_vec()),
            1 => (at & !3, (m.value as u32).to_le_bytes().to_vec()),
            2 => (at, vec![m.value as u8]),
            3 => {
                let old = read_u64(bytes, word_at);
                (word_at, old.wrapping_add(m.value).to_le_bytes().to_vec())
            }
            4 => (word_at, u64::MAX.to_le_bytes().to_vec()),
            5 => (word_at, 0u64.to_le_bytes().to_vec()),
            6 => {
                // Point at another region (or its middle): a pointer to the wrong thing.
                let other = class[(m.value as usize) % class.len()];
                let target = read_u64(bytes, other.0) & 0xffff_ffff_ffff;
                (word_at, target.wrapping_add(m.value >> 48).to_le_bytes().to_vec())
            }
            _ => {
                let old = read_u64(bytes, word_at);
                (word_at, (old ^ (1 << (m.value % 64))).to_le_bytes().to_vec())
            }
        };
        let Some(dst) = bytes.get_mut(pos..pos + new.len()) else { continue };
        undo.push((pos, dst.to_vec()));
        dst.copy_from_slice(&new);
    }
    undo
}

fn read_u64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8).and_then(|s| s.try_into().ok()).map_or(0, u64::from_le_bytes)
}

/// A fixture file held in memory, mutated in place for one run and restored after it.
struct Base {
    bytes: Mutex<Option<Vec<u8>>>,
    pristine: Vec<u8>,
    classes: Classes,
}

impl Base {
    fn new(bytes: Vec<u8>, classes: Classes) -> Base {
        Base { pristine: bytes.clone(), bytes: Mutex::new(Some(bytes)), classes }
    }

    /// Run `f` on the file with `muts` applied.
    fn with_mutated(&self, muts: &[Mutation], f: impl FnOnce(MappedFile) -> bool) -> bool {
        let mut slot = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        let mut bytes = slot.take().unwrap_or_else(|| self.pristine.clone());
        let undo = apply(&mut bytes, &self.classes, muts);
        let file = MappedFile::from_vec(bytes);
        let ok = f(file.clone());
        // Nothing else holds the file now: take the bytes back and restore them.
        match file.into_vec() {
            Some(mut bytes) => {
                for (pos, old) in undo.iter().rev() {
                    bytes[*pos..*pos + old.len()].copy_from_slice(old);
                }
                *slot = Some(bytes);
            }
            None => *slot = None,
        }
        ok
    }
}

/// The file offsets of `[va, va+len)` of a dump's memory, when the dump file holds them whole.
fn file_range(d: &Dump, file: &[u8], va: u64, len: u64) -> Option<(usize, usize)> {
    let s = d.memory.slice(va, len)?;
    let off = (s.as_ptr() as usize).checked_sub(file.as_ptr() as usize)?;
    (off + s.len() <= file.len()).then_some((off, s.len()))
}

struct ProcessBase {
    dump: Base,
    exe: Executable,
}

fn process_base() -> &'static ProcessBase {
    static BASE: OnceLock<ProcessBase> = OnceLock::new();
    BASE.get_or_init(|| {
        let dump_bytes = load(LINUX_AMD64, "dump.xz");
        let exe = Executable::from_image(
            Image::from_file(Path::new("fuzz-exe"), MappedFile::from_vec(load(LINUX_AMD64, "exe.xz")))
                .expect("fuzz fixture executable"),
        )
        .expect("fuzz fixture executable");
        let file = MappedFile::from_vec(dump_bytes.clone());
        let dump = Dump::from_file(Path::new("fuzz-dump"), file.clone()).expect("fuzz fixture dump");
        let p = Process::new(dump, exe.clone()).expect("fuzz fixture process");
        let bytes = file.bytes();
        let d = &p.dump;
        let mut classes: Classes = vec![Vec::new(); 6];
        let gs = p.goroutines().expect("fuzz fixture goroutines");
        for g in &gs {
            classes[0].extend(file_range(d, bytes, g.addr, 0x1c0));
            // The outermost 8 KiB of each stack, where most goroutines' frames are.
            let (lo, hi) = g.stack;
            let lo = lo.max(hi.saturating_sub(8 << 10));
            if hi > lo {
                classes[1].extend(file_range(d, bytes, lo, hi - lo));
            }
        }
        let heap = p.heap().expect("fuzz fixture heap");
        let step = (heap.len() / 4096).max(1);
        for o in (0..heap.len()).step_by(step as usize) {
            classes[2].extend(file_range(d, bytes, heap.addr(o), heap.size(o).clamp(8, 4096)));
        }
        for s in &heap.spans {
            classes[3].extend(file_range(d, bytes, s.mspan, 0xa0));
        }
        for sec in p.exe.image.sections.iter().filter(|s| {
            matches!(s.name.as_str(), ".data" | ".bss" | ".noptrdata" | ".noptrbss" | ".go.buildinfo")
        }) {
            let va = sec.addr.wrapping_add(p.bias);
            // Globals: in chunks, so that each mutation picks a place, not a section.
            for off in (0..sec.size).step_by(4096) {
                classes[4].extend(file_range(d, bytes, va + off, (sec.size - off).min(4096)));
            }
        }
        // The channels (and through them the wait queues) the goroutines block on.
        if let Ok(a) = HeapAnalysis::run_with(&p, true) {
            let diag = Diagnosis::run(&a, gs.clone(), &Thresholds::default());
            for c in &diag.blocking.chans {
                classes[5].extend(file_range(d, bytes, c.addr, 0x60));
            }
        }
        drop(p);
        ProcessBase { dump: Base::new(dump_bytes, classes), exe }
    })
}

/// A real dump (Linux amd64, Go 1.26, the leaky scenario) with its runtime structures and heap
/// objects mutated: goroutines, heap, top, channels and the triage report, as the commands run
/// them.
pub fn process(data: &[u8]) -> bool {
    let base = process_base();
    let muts = Mutation::decode_all(data);
    base.dump.with_mutated(&muts, |file| {
        let Ok(dump) = Dump::from_file(Path::new("fuzz-dump"), file) else { return false };
        let Ok(p) = Process::new(dump, base.exe.clone()) else { return false };
        analyse(&p)
    })
}

/// What `goroutines`, `heap`, `top` and `report` do with a process, their output discarded.
pub fn analyse(p: &Process) -> bool {
    let mut sink = std::io::sink();
    if let Ok(doc) = crate::report::goroutines(p) {
        let _ = crate::report::json::goroutines(&doc, &mut sink);
        let _ = crate::report::text::goroutines(&doc, Default::default());
    }
    let Ok(gs) = p.goroutines() else { return false };
    let Ok(a) = HeapAnalysis::run_with(p, true) else { return false };
    let _ = a.histogram();
    if let Ok(top) = crate::report::heap::top(&a, 10) {
        let _ = crate::report::heap::top_text(&top);
    }
    let d = Diagnosis::run(&a, gs, &Thresholds::default());
    let doc = crate::report::triage::report(&a, &d, &Default::default());
    let _ = crate::report::triage::report_text(&doc);
    crate::report::heap::json(&mut sink, &doc).is_ok()
}

struct ExeBase {
    file: Base,
}

fn exe_base() -> &'static ExeBase {
    static BASE: OnceLock<ExeBase> = OnceLock::new();
    BASE.get_or_init(|| {
        let bytes = load(LINUX_AMD64, "exe.xz");
        let image =
            Image::from_file(Path::new("fuzz-exe"), MappedFile::from_vec(bytes.clone())).expect("fuzz exe");
        let bi = BuildInfo::read(&image).expect("fuzz exe build info");
        let tab = Pclntab::from_image(&image, &bi).expect("fuzz exe pclntab");
        let mut classes: Classes = vec![Vec::new(); 2];
        if let Some((off, len)) = image.section(".gopclntab").and_then(|s| s.file_range) {
            // The header and tables, in chunks.
            for o in (0..len).step_by(1 << 12) {
                classes[0].push(((off + o) as usize, (len - o).min(1 << 12) as usize));
            }
        }
        let md = tab.moduledata().addr;
        if let Some(s) = image.sections.iter().find(|s| md >= s.addr && md - s.addr < s.size) {
            if let Some((off, _)) = s.file_range {
                classes[1].push(((off + md - s.addr) as usize, 0x2c0));
            }
        }
        ExeBase { file: Base::new(bytes, classes) }
    })
}

/// A real executable with its pclntab and moduledata mutated: read them, then look up what
/// the unwinder and the symbolizer look up.
pub fn pclntab(data: &[u8]) -> bool {
    let muts = Mutation::decode_all(data);
    exe_base().file.with_mutated(&muts, |file| {
        let Ok(image) = Image::from_file(Path::new("fuzz-exe"), file) else { return false };
        let Ok(bi) = BuildInfo::read(&image) else { return false };
        let Ok(tab) = Pclntab::from_image(&image, &bi) else { return false };
        let n = tab.nfunc();
        for f in tab.funcs().step_by((n / 512).max(1)) {
            let _ = tab.name(f);
            let _ = (tab.func_id_name(f), tab.args(f), tab.start_line(f), tab.deferreturn(f));
            let entry = f.entry;
            for pc in [entry, entry + 1, entry + 17] {
                let _ = tab.pcsp(f, pc);
                let _ = tab.file_line(f, pc);
                let _ = tab.frames(pc, true);
                let _ = tab.pcdata(f, 0, pc);
                let _ = tab.pcdata(f, 1, pc);
            }
            let _ = (tab.funcdata(f, 0), tab.funcdata(f, 1));
        }
        let (lo, hi) = image.text_range();
        for i in 0..64u64 {
            let _ = tab.find_func(lo + (hi.saturating_sub(lo) / 64) * i + i);
        }
        tab.func_by_name("main.main").is_some()
    })
}

struct DwarfBase {
    sections: [Vec<u8>; 4],
    image: Image,
}

fn dwarf_base() -> &'static DwarfBase {
    static BASE: OnceLock<DwarfBase> = OnceLock::new();
    BASE.get_or_init(|| {
        let image =
            Image::from_file(Path::new("fuzz-exe"), MappedFile::from_vec(load(LINUX_AMD64, "exe.xz")))
                .expect("fuzz exe");
        let sec = |name: &str| {
            image.decompressed_section(name).ok().flatten().map(|c| c.into_owned()).unwrap_or_default()
        };
        let sections = [sec(".debug_info"), sec(".debug_abbrev"), sec(".debug_str"), sec(".debug_line_str")];
        DwarfBase { sections, image }
    })
}

/// A real executable's DWARF (decompressed) with its sections mutated: the layouts gomortem
/// reads from it, its types, and the frames' locals.
pub fn dwarf(data: &[u8]) -> bool {
    let base = dwarf_base();
    let muts = Mutation::decode_all(data);
    let mut secs = base.sections.clone();
    // Each section is a class; regions are 4 KiB chunks of it.
    let mut all = Vec::new();
    let mut classes: Classes = Vec::new();
    for s in &secs {
        classes.push((0..s.len()).step_by(4096).map(|o| (all.len() + o, (s.len() - o).min(4096))).collect());
        all.extend_from_slice(s);
    }
    apply(&mut all, &classes, &muts);
    let mut at = 0;
    for s in secs.iter_mut() {
        let n = s.len();
        s.copy_from_slice(&all[at..at + n]);
        at += n;
    }
    let sections = Sections {
        info: Cow::Borrowed(&secs[0]),
        abbrev: Cow::Borrowed(&secs[1]),
        str_: opt(&secs[2]),
        line_str: opt(&secs[3]),
    };
    let Ok(d) = Dwarf::from_sections(sections, None) else { return false };
    let layouts = Layouts::load(&d).is_ok();
    d.frame_locals(&base.image).is_ok() && layouts
}

fn opt(v: &[u8]) -> Option<Cow<'_, [u8]>> {
    (!v.is_empty()).then_some(Cow::Borrowed(v))
}
