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

pub use mapped::MappedFile;
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

impl Dump {
    /// Open a core file or minidump, decompressing `.gz`, `.xz` and `.zst` first.
    pub fn open(path: &Path) -> Result<Dump> {
        let file = MappedFile::open_maybe_compressed(path)?;
        let head = file.bytes();
        if head.len() >= 4 && &head[..4] == b"\x7fELF" {
            elfcore::read(path, file)
        } else if head.len() >= 4 && &head[..4] == b"MDMP" {
            minidump::read(path, file)
        } else {
            Err(Error::UnknownDumpFormat(path.to_path_buf()))
        }
    }

    pub fn thread(&self, tid: u64) -> Option<&Thread> {
        self.threads.iter().find(|t| t.tid == tid)
    }
}
