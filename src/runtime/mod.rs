//! Layer 3: the Go runtime model.
//!
//! A [`Process`] pairs a [`Dump`] with its [`Executable`]: it checks they belong together,
//! computes the load bias, backs the memory the dump omits with the executable's image, and
//! loads the runtime's layouts. [`goroutines`] and [`threads`] read the runtime's own
//! structures through it; [`unwind`] walks stacks post-mortem; [`panics`] reads what a crash
//! leaves behind (panics, throw messages, signals); [`heap`] walks the heap and [`mstats`]
//! reads the runtime's memory accounting and address space.

pub mod goroutines;
pub mod heap;
pub mod layout;
pub mod mstats;
pub mod names;
pub mod panics;
pub mod roots;
pub mod threads;
pub mod types;
pub mod unwind;
pub mod version;
pub mod waits;

use std::path::Path;

use crate::dump::{AddressSpace, Dump, DumpKind, InputLimits, Os};
use crate::exe::{ExeFormat, Executable, Func};
use crate::{Error, Result};

pub use goroutines::{Goroutine, Status};
pub use layout::Layouts;
pub use threads::MInfo;

/// Addresses (run-time, bias applied) of the runtime globals the model reads.
#[derive(Clone, Debug, Default)]
pub struct Globals {
    pub allgs: u64,
    pub allm: u64,
    /// `runtime.allp` ([]*p), if found.
    pub allp: Option<u64>,
    pub sched: u64,
    /// `runtime.waitReasonStrings`: address and element count.
    pub wait_reason_strings: Option<(u64, u64)>,
    pub memstats: Option<u64>,
    pub work: Option<u64>,
    pub start_nano: Option<u64>,
    pub build_version: Option<u64>,
    /// `runtime.semtable`: the goroutines waiting on semaphores.
    pub semtable: Option<u64>,
}

pub struct Process {
    pub dump: Dump,
    pub exe: Executable,
    /// The dump's memory, with the holes the executable can fill (text, rodata) filled.
    pub mem: AddressSpace,
    /// Run-time address = link-time address + bias (wrapping).
    pub bias: u64,
    pub layouts: Layouts,
    pub globals: Globals,
    /// Soft errors: what was skipped and why (includes the dump's and the executable's).
    pub warnings: Vec<String>,
    /// The estimate of "now" for wait durations, computed once.
    now: std::sync::OnceLock<Option<goroutines::Now>>,
    /// The stacks [`Process::goroutines`] unwound, kept for the root scan that follows it (the
    /// report reads both: each stack is unwound once).
    unwound: std::sync::OnceLock<Vec<goroutines::GoroutineFrames>>,
}

impl Process {
    /// Open a dump and its executable. Without `exe`, the executable the dump names is used.
    pub fn open(dump_path: &Path, exe: Option<&Path>) -> Result<Process> {
        Process::open_with(dump_path, exe, &InputLimits::default())
    }

    /// [`Process::open`], decompressing compressed inputs within `limits`.
    pub fn open_with(dump_path: &Path, exe: Option<&Path>, limits: &InputLimits) -> Result<Process> {
        let dump = Dump::open_with(dump_path, limits)?;
        if !dump.full_memory {
            return Err(Error::Unsupported(format!(
                "{}: this minidump holds no full memory (it was not written with \
                 MiniDumpWithFullMemory, as procdump -ma does): it has thread stacks but not the \
                 Go heap, where goroutines live",
                dump_path.display()
            )));
        }
        let exe_path = match exe {
            Some(p) => p.to_path_buf(),
            None => find_executable(&dump)?,
        };
        let exe = Executable::open_with(&exe_path, limits)?;
        Process::new(dump, exe)
    }

    pub fn new(dump: Dump, exe: Executable) -> Result<Process> {
        version::check_supported(&exe.build_info.go_version, exe.build_info.version)?;
        check_platform(&dump, &exe)?;
        let mut warnings = dump.warnings.clone();
        warnings.extend(exe.warnings.iter().cloned());
        let bias = load_bias(&dump, &exe)?;
        verify_pairing(&dump, &exe, bias, &mut warnings)?;

        let mut mem = dump.memory.clone();
        let file_id = mem.add_file(exe.image.file.clone());
        for (va, len, off) in exe.image.loadable() {
            mem.fill_holes(va.wrapping_add(bias), len, file_id, off);
        }

        let Some(dwarf) = exe.dwarf.as_ref() else {
            if let Some(e) = &exe.dwarf_error {
                // gomortem cannot work without DWARF yet: a corrupt one stops here.
                return Err(Error::malformed(
                    exe.path.display().to_string(),
                    format!("the executable's DWARF is corrupt: {e}"),
                ));
            }
            return Err(Error::Unsupported(format!(
                "{} has no DWARF (built with -ldflags=-w or stripped); reading such binaries needs \
                 per-release layout tables, which this version of gomortem does not have yet",
                exe.path.display()
            )));
        };
        let layouts = Layouts::load(dwarf)?;
        let globals = find_globals(&exe, bias)?;
        Ok(Process {
            dump,
            exe,
            mem,
            bias,
            layouts,
            globals,
            warnings,
            now: std::sync::OnceLock::new(),
            unwound: std::sync::OnceLock::new(),
        })
    }

    pub fn read_u64(&self, addr: u64, what: &str) -> Result<u64> {
        self.mem.read_u64(addr).ok_or_else(|| Error::MissingMemory { addr, len: 8, what: what.to_string() })
    }

    /// Read a Go string header `{ptr, len}` at `addr`; None if unreadable or absurd.
    pub fn read_go_string(&self, addr: u64) -> Option<String> {
        let ptr = self.mem.read_u64(addr)?;
        let len = self.mem.read_u64(addr.saturating_add(8))?;
        self.read_string_data(ptr, len)
    }

    pub fn read_string_data(&self, ptr: u64, len: u64) -> Option<String> {
        if len == 0 {
            return Some(String::new());
        }
        if len > 1 << 20 {
            return None;
        }
        let mut buf = vec![0u8; len as usize];
        self.mem.read_into(ptr, &mut buf).then(|| String::from_utf8_lossy(&buf).into_owned())
    }

    /// The function containing a run-time pc.
    pub fn func(&self, pc: u64) -> Option<Func> {
        self.exe.pclntab.find_func(pc.wrapping_sub(self.bias))
    }

    pub fn func_name(&self, f: Func) -> &str {
        self.exe.pclntab.name(f)
    }

    /// Entry (run-time address) of a function found by name.
    pub fn func_entry(&self, name: &str) -> Option<u64> {
        self.exe.pclntab.func_by_name(name).map(|f| f.entry.wrapping_add(self.bias))
    }

    pub fn go_version(&self) -> &str {
        &self.exe.build_info.go_version
    }
}

/// The executable the dump names: at that path, at its Wine mapping (`Z:\\x` is `/x`), or
/// under the same file name beside the dump.
fn find_executable(dump: &Dump) -> Result<std::path::PathBuf> {
    let Some(named) = dump.process.exe_path.as_deref() else {
        return Err(Error::NoExecutable("the dump does not name its executable; pass --exe PATH".into()));
    };
    let mut candidates = vec![std::path::PathBuf::from(named)];
    if let Some(rest) = named.strip_prefix("Z:").or_else(|| named.strip_prefix("z:")) {
        candidates.push(std::path::PathBuf::from(rest.replace('\\', "/")));
    }
    let base = named.rsplit(['/', '\\']).next().unwrap_or(named);
    if let Some(dir) = dump.path.parent() {
        candidates.push(dir.join(base));
    }
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        Error::NoExecutable(format!(
            "the dump names {named}, which is neither there nor beside the dump; pass --exe PATH"
        ))
    })
}

fn check_platform(dump: &Dump, exe: &Executable) -> Result<()> {
    if dump.arch != exe.image.arch {
        return Err(Error::Mismatch(format!(
            "the dump is of a {} process, {} is a {} executable",
            dump.arch.name(),
            exe.path.display(),
            exe.image.arch.name()
        )));
    }
    let want = match dump.kind {
        DumpKind::ElfCore => ExeFormat::Elf,
        DumpKind::Minidump => ExeFormat::Pe,
    };
    if exe.image.format != want || dump.os != exe.image.os {
        return Err(Error::Mismatch(format!(
            "the dump is of a {} process, {} is a {} executable",
            dump.os.name(),
            exe.path.display(),
            exe.image.os.name()
        )));
    }
    Ok(())
}

const AT_ENTRY: u64 = 9;

/// Run-time minus link-time address of the executable's image.
fn load_bias(dump: &Dump, exe: &Executable) -> Result<u64> {
    match dump.os {
        Os::Linux => {
            if !exe.image.relocatable {
                return Ok(0);
            }
            let entry = dump.auxv.iter().find(|(k, _)| *k == AT_ENTRY).map(|(_, v)| *v);
            match entry {
                Some(e) => Ok(e.wrapping_sub(exe.image.entry)),
                None => Err(Error::malformed(
                    dump.path.display().to_string(),
                    "position-independent executable, but the core has no AT_ENTRY to locate it",
                )),
            }
        }
        Os::Windows => {
            let name = exe.path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
            let base_of = |m: &crate::dump::Module| {
                let mname = m.path.rsplit(['\\', '/']).next().unwrap_or("").to_lowercase();
                (mname == name).then_some(m.base)
            };
            let base = dump
                .modules
                .iter()
                .find_map(base_of)
                .or_else(|| dump.modules.first().map(|m| m.base))
                .ok_or_else(|| {
                    Error::malformed(dump.path.display().to_string(), "minidump lists no modules")
                })?;
            Ok(base.wrapping_sub(exe.image.preferred_base))
        }
    }
}

/// Compare the executable with the image in the dump: the Go build ID where the dump holds it,
/// else sampled pages of text.
fn verify_pairing(dump: &Dump, exe: &Executable, bias: u64, warnings: &mut Vec<String>) -> Result<()> {
    let img = &exe.image;
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    if let Some(s) = img.section(".note.go.buildid") {
        ranges.push((s.addr, s.size.min(256)));
    }
    let (text, text_end) = img.text_range();
    ranges.push((text, 256.min(text_end - text)));
    let pages = 16u64;
    let step = ((text_end - text) / pages).max(4096) & !4095;
    let mut a = (text + 4095) & !4095;
    while a + 4096 <= text_end && ranges.len() < 2 + pages as usize {
        ranges.push((a, 4096));
        a += step;
    }
    let mut compared = 0;
    for (va, len) in ranges {
        let (Some(want), Some(got)) = (img.read_at(va, len), dump.memory.slice(va.wrapping_add(bias), len))
        else {
            continue;
        };
        compared += 1;
        if want != got {
            let id = img.go_build_id.as_deref().unwrap_or("unknown");
            return Err(Error::Mismatch(format!(
                "{} (Go build ID {id}) is not the program in this dump: its code at {:#x} differs \
                 from the dump's; pass the executable that produced the dump with --exe",
                exe.path.display(),
                va.wrapping_add(bias)
            )));
        }
    }
    if compared == 0 {
        // None of the code is in the dump (a kernel core omits file-backed text): the runtime's
        // globals must at least be in memory the dump lists, or this is another process.
        let globals: Vec<(&str, u64)> = ["runtime.allgs", "runtime.allm", "runtime.sched"]
            .into_iter()
            .filter_map(|name| img.symbol(name).map(|(a, _)| (name, a.wrapping_add(bias))))
            .collect();
        let listed =
            |a: u64| dump.memory.contains(a, 8) || dump.mappings.iter().any(|m| a >= m.va && a < m.end());
        if !globals.is_empty() && !globals.iter().any(|&(_, a)| listed(a)) {
            let at: Vec<String> = globals.iter().map(|(n, a)| format!("{n} at {a:#x}")).collect();
            return Err(Error::Mismatch(format!(
                "this dump is not of this executable ({}): none of its code is in the dump, and none \
                 of its runtime globals ({}) is in memory the dump lists; pass the executable that \
                 produced the dump with --exe",
                exe.path.display(),
                at.join(", ")
            )));
        }
        warnings.push(
            "could not verify that the executable matches the dump: the dump holds none of its code".into(),
        );
    }
    Ok(())
}

fn find_globals(exe: &Executable, bias: u64) -> Result<Globals> {
    let sym = |name: &str| -> Option<(u64, u64)> {
        exe.image
            .symbol(name)
            .or_else(|| {
                let d = exe.dwarf.as_ref()?;
                let (addr, ty) = d.global(name)?;
                Some((addr, d.ty(ty).size))
            })
            .map(|(a, s)| (a.wrapping_add(bias), s))
    };
    let need = |name: &str| {
        sym(name).map(|(a, _)| a).ok_or_else(|| {
            Error::Unsupported(format!(
                "the executable has no symbol {name}; stripped binaries are not supported yet"
            ))
        })
    };
    Ok(Globals {
        allgs: need("runtime.allgs")?,
        allm: need("runtime.allm")?,
        allp: sym("runtime.allp").map(|(a, _)| a),
        sched: need("runtime.sched")?,
        wait_reason_strings: sym("runtime.waitReasonStrings").map(|(a, s)| (a, s / 16)),
        memstats: sym("runtime.memstats").map(|(a, _)| a),
        work: sym("runtime.work").map(|(a, _)| a),
        start_nano: sym("runtime.startNano").map(|(a, _)| a),
        build_version: sym("runtime.buildVersion").map(|(a, _)| a),
        semtable: sym("runtime.semtable").map(|(a, _)| a),
    })
}
