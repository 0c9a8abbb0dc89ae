//! Layer 1: dump readers.
//!
//! A [`Dump`] is what a core file or a minidump says about a process: its memory as an
//! [`AddressSpace`] of borrowed slices over memory-mapped files, its threads with their
//! registers, its loaded modules, and what it was doing when it crashed. Nothing here
//! knows about Go.

pub mod elfcore;
pub mod mapped;
pub mod memory;
pub mod minidump;

use std::path::{Path, PathBuf};

pub use mapped::{Expect, InputLimits, MappedFile};
pub use memory::{AddressSpace, FileId};

use crate::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    Linux,
    Windows,
}

impl Os {
    pub fn name(self) -> &'static str {
        match self {
            Os::Linux => "linux",
            Os::Windows => "windows",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DumpKind {
    /// An ELF core file (kernel core, gcore, qemu-user guest core).
    ElfCore,
    /// A Windows minidump.
    Minidump,
}

/// The registers of one thread, as the unwinder needs them, plus all of them by name.
#[derive(Clone, Debug, Default)]
pub struct Registers {
    pub pc: u64,
    pub sp: u64,
    /// Frame pointer: RBP on amd64, X29 on arm64.
    pub fp: u64,
    /// Link register X30 on arm64; 0 on amd64.
    pub lr: u64,
    /// The register Go keeps the current g in: R14 on amd64, X28 on arm64.
    pub g: u64,
    /// linux/amd64 FS base (TLS); 0 if unknown.
    pub fs_base: u64,
    /// Every register by its conventional name, in the platform's order.
    pub all: Vec<(&'static str, u64)>,
}

#[derive(Clone, Debug)]
pub struct Thread {
    /// Kernel thread id (LWP) on Linux, thread id on Windows.
    pub tid: u64,
    pub regs: Registers,
    /// Windows: the thread's TEB address; 0 elsewhere.
    pub teb: u64,
    /// Linux: the signal the thread had pending/was stopped by (NT_PRSTATUS pr_cursig); 0 if none.
    pub signal: i32,
}

/// A file mapped into the process (NT_FILE entry, or a minidump module).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Module {
    pub path: String,
    pub base: u64,
    pub size: u64,
    /// File offset of `base` (NT_FILE gives it in pages; 0 for minidump modules).
    pub file_offset: u64,
}

/// Access rights of a mapping, as the dump records them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Prot {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

impl Prot {
    /// No access at all: reserved address space, which holds no memory (`PROT_NONE`,
    /// `MEM_RESERVE`, `PAGE_NOACCESS`).
    pub fn none(self) -> bool {
        !(self.read || self.write || self.exec)
    }
}

/// One mapping of the process's address space, as the dump lists it: an ELF core's PT_LOAD
/// segment (all of `p_memsz`, whether the file holds its bytes or not), a minidump's memory
/// region (MemoryInfoList) or, without one, a range of its Memory64List/MemoryList.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub va: u64,
    /// Bytes of address space.
    pub len: u64,
    /// Its access rights; None when the dump does not record them (a minidump without a
    /// MemoryInfoList lists only committed, readable memory). gdb's `gcore` writes a
    /// `PROT_NONE` mapping as readable: only kernel and qemu cores tell them apart.
    pub prot: Option<Prot>,
}

impl Mapping {
    pub fn end(&self) -> u64 {
        self.va.saturating_add(self.len)
    }

    /// Whether the dump says this mapping holds memory (not reserved address space).
    pub fn accessible(&self) -> bool {
        self.prot.is_none_or(|p| !p.none())
    }
}

/// What the dump says about a crash.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CrashInfo {
    /// The thread that crashed (Linux: first NT_PRSTATUS, whose pr_cursig is the fatal signal;
    /// Windows: the exception stream's thread).
    pub thread_id: u64,
    /// Linux signal number.
    pub signal: Option<i32>,
    /// Windows exception code (e.g. 0xc0000005).
    pub exception_code: Option<u32>,
    pub exception_address: Option<u64>,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ProcessInfo {
    pub pid: u64,
    /// Short name (NT_PRPSINFO pr_fname).
    pub name: String,
    /// Command line as far as the dump records it (NT_PRPSINFO pr_psargs).
    pub args: String,
    /// Path of the executable as the dump names it (AT_EXECFN, the NT_FILE entry
    /// holding the entry point, or the first minidump module).
    pub exe_path: Option<String>,
}

pub struct Dump {
    pub path: PathBuf,
    pub kind: DumpKind,
    pub os: Os,
    pub arch: Arch,
    pub memory: AddressSpace,
    /// The process's mappings as the dump lists them, sorted by address, not overlapping:
    /// what was mapped, not only what the file holds (see [`Mapping`]).
    pub mappings: Vec<Mapping>,
    pub threads: Vec<Thread>,
    pub modules: Vec<Module>,
    pub process: ProcessInfo,
    pub crash: Option<CrashInfo>,
    /// ELF auxiliary vector (type, value).
    pub auxv: Vec<(u64, u64)>,
    /// Minidump header timestamp (seconds since the epoch); None for cores.
    pub timestamp: Option<u64>,
    /// Minidump MiscInfo process create time (seconds since the epoch), if present.
    pub process_create_time: Option<u64>,
    /// False for a minidump that holds no full memory (no Memory64List).
    pub full_memory: bool,
    /// What wrote the dump, when it can be told: "kernel", "gdb (gcore)", "qemu-user",
    /// "dbghelp MiniDumpWriteDump" …
    pub producer: Option<String>,
    /// Soft errors: what was skipped while reading, and why.
    pub warnings: Vec<String>,
    /// Bytes of memory the dump lists but the file does not hold (a truncated dump); 0 if whole.
    pub missing_bytes: u64,
}

/// Sort mappings by address and trim overlaps (where two overlap, the one that starts first
/// keeps the bytes they share), as a corrupt dump may list them in any order.
pub(crate) fn normalize_mappings(mut m: Vec<Mapping>) -> Vec<Mapping> {
    m.retain(|x| x.len > 0);
    m.sort_by_key(|x| x.va);
    let mut out: Vec<Mapping> = Vec::with_capacity(m.len());
    for mut x in m {
        if let Some(last) = out.last() {
            let end = last.end();
            if x.va < end {
                if x.end() <= end {
                    continue;
                }
                x.len = x.end() - end;
                x.va = end;
            }
        }
        out.push(x);
    }
    out
}

impl Dump {
    /// Open a core file or minidump, decompressing `.gz`, `.xz` and `.zst` first.
    pub fn open(path: &Path) -> Result<Dump> {
        Dump::open_with(path, &InputLimits::default())
    }

    /// [`Dump::open`], decompressing within `limits`.
    pub fn open_with(path: &Path, limits: &InputLimits) -> Result<Dump> {
        Self::from_file(path, MappedFile::open_input(path, Expect::Dump, limits)?)
    }

    /// Read a dump from bytes already mapped (or held in memory); `path` names it in messages.
    pub fn from_file(path: &Path, file: MappedFile) -> Result<Dump> {
        let truncated_stream = file.truncated_stream.clone();
        let head = file.bytes();
        let mut dump = if head.len() >= 4 && &head[..4] == b"\x7fELF" {
            elfcore::read(path, file)?
        } else if head.len() >= 4 && &head[..4] == b"MDMP" {
            minidump::read(path, file)?
        } else {
            return Err(Error::UnknownDumpFormat(path.to_path_buf()));
        };
        if let Some(t) = truncated_stream {
            dump.warnings.push(t);
        }
        Ok(dump)
    }

    pub fn thread(&self, tid: u64) -> Option<&Thread> {
        self.threads.iter().find(|t| t.tid == tid)
    }

    /// The address space of a thread's stack, `[lo, hi)`, as the OS recorded it: on Windows
    /// from its TEB (`NT_TIB.StackBase`, and `DeallocationStack`, the base of the reservation,
    /// or else `NT_TIB.StackLimit`); None elsewhere (a core does not record stack bounds) or if
    /// the TEB is not in the dump.
    pub fn thread_stack(&self, t: &Thread) -> Option<(u64, u64)> {
        if self.os != Os::Windows || t.teb == 0 {
            return None;
        }
        // 64-bit TEB (amd64 and arm64): NT_TIB.StackBase at 0x08, StackLimit at 0x10;
        // DeallocationStack at 0x1478.
        let hi = self.memory.read_u64(t.teb.checked_add(0x08)?)?;
        let limit = self.memory.read_u64(t.teb.checked_add(0x10)?)?;
        let dealloc = self.memory.read_u64(t.teb.checked_add(0x1478)?).unwrap_or(0);
        if limit == 0 || limit >= hi {
            return None;
        }
        let lo = if dealloc != 0 && dealloc <= limit && hi - dealloc <= 1 << 32 { dealloc } else { limit };
        Some((lo, hi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_are_sorted_and_disjoint() {
        let rw = Some(Prot { read: true, write: true, exec: false });
        let m = |va, len, prot| Mapping { va, len, prot };
        let out = normalize_mappings(vec![
            m(0x5000, 0x1000, None),
            m(0x1000, 0x3000, rw),
            m(0x2000, 0x1000, None),                  // inside the previous: dropped
            m(0x3000, 0x3000, Some(Prot::default())), // overlaps both neighbours
            m(0x9000, 0, rw),
        ]);
        assert_eq!(
            out,
            vec![m(0x1000, 0x3000, rw), m(0x4000, 0x2000, Some(Prot::default())), m(0x6000, 0x0, None)]
                .into_iter()
                .filter(|x| x.len > 0)
                .collect::<Vec<_>>()
        );
        assert!(!out[1].accessible() && out[0].accessible());
        assert!(m(0, 1, None).accessible(), "a range with no recorded protection is committed memory");
    }
}
