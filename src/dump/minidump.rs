//! Windows minidump reader (`MDMP`, as written by dbghelp's `MiniDumpWriteDump`, procdump,
//! WER LocalDumps, or Wine's dbghelp).
//!
//! Reads the header and stream directory, then the streams a post-mortem needs: SystemInfo
//! (architecture), ThreadList (ids, TEBs, CONTEXT registers), ModuleList, Memory64List (the
//! full memory of `MiniDumpWithFullMemory` / `procdump -ma`) or else MemoryList (stacks only),
//! MiscInfo (pid, create time), the Exception stream, and MemoryInfoList when present (every
//! committed or reserved region with its protection: `procdump -ma` writes it, Wine's dbghelp
//! does not). Memory ranges become regions of the [`AddressSpace`] borrowed from the mapped
//! file: nothing is copied.
//!
//! Layouts follow Microsoft's `minidumpapiset.h` (all little-endian, packed to 4 bytes).

use std::path::Path;

use super::{
    AddressSpace, Arch, CrashInfo, Dump, DumpKind, FileId, MappedFile, Mapping, Module, Os, ProcessInfo,
    Prot, Registers, Thread,
};
use crate::bytes::{u16_at, u32_at, u64_at};
use crate::{Error, Result};

const HEADER_SIZE: usize = 32;
const DIRECTORY_ENTRY_SIZE: usize = 12;
const THREAD_SIZE: usize = 48;
const MODULE_SIZE: usize = 108;
const MEMORY_DESCRIPTOR_SIZE: usize = 16;

const THREAD_LIST_STREAM: u32 = 3;
const MODULE_LIST_STREAM: u32 = 4;
const MEMORY_LIST_STREAM: u32 = 5;
const EXCEPTION_STREAM: u32 = 6;
const SYSTEM_INFO_STREAM: u32 = 7;
const MEMORY64_LIST_STREAM: u32 = 9;
const MISC_INFO_STREAM: u32 = 15;
const MEMORY_INFO_LIST_STREAM: u32 = 16;
const STREAMS_READ: [u32; 8] = [
    THREAD_LIST_STREAM,
    MODULE_LIST_STREAM,
    MEMORY_LIST_STREAM,
    EXCEPTION_STREAM,
    SYSTEM_INFO_STREAM,
    MEMORY64_LIST_STREAM,
    MISC_INFO_STREAM,
    MEMORY_INFO_LIST_STREAM,
];

/// `MINIDUMP_MEMORY_INFO.State` values and `Protect` bits (winnt.h).
const MEM_COMMIT: u32 = 0x1000;
const MEM_FREE: u32 = 0x10000;
const PAGE_READONLY: u32 = 0x02;
const PAGE_READWRITE: u32 = 0x04;
const PAGE_WRITECOPY: u32 = 0x08;
const PAGE_EXECUTE: u32 = 0x10;
const PAGE_EXECUTE_READ: u32 = 0x20;
const PAGE_EXECUTE_READWRITE: u32 = 0x40;
const PAGE_EXECUTE_WRITECOPY: u32 = 0x80;

const PROCESSOR_ARCHITECTURE_AMD64: u16 = 9;
const PROCESSOR_ARCHITECTURE_ARM64: u16 = 12;

const MISC1_PROCESS_ID: u32 = 1;
const MISC1_PROCESS_TIMES: u32 = 2;

/// The general-purpose registers of the amd64 `CONTEXT`: name, offset, size.
const AMD64_CONTEXT: &[(&str, usize, usize)] = &[
    ("rax", 0x78, 8),
    ("rcx", 0x80, 8),
    ("rdx", 0x88, 8),
    ("rbx", 0x90, 8),
    ("rsp", 0x98, 8),
    ("rbp", 0xa0, 8),
    ("rsi", 0xa8, 8),
    ("rdi", 0xb0, 8),
    ("r8", 0xb8, 8),
    ("r9", 0xc0, 8),
    ("r10", 0xc8, 8),
    ("r11", 0xd0, 8),
    ("r12", 0xd8, 8),
    ("r13", 0xe0, 8),
    ("r14", 0xe8, 8),
    ("r15", 0xf0, 8),
    ("rip", 0xf8, 8),
    ("eflags", 0x44, 4),
    ("cs", 0x38, 2),
    ("ds", 0x3a, 2),
    ("es", 0x3c, 2),
    ("fs", 0x3e, 2),
    ("gs", 0x40, 2),
    ("ss", 0x42, 2),
];

/// The arm64 `CONTEXT` names X0..X28 at 0x08, then Fp (x29), Lr (x30), Sp, Pc, and Cpsr at 0x04.
const ARM64_NAMES: [&str; 29] = [
    "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15",
    "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28",
];

/// The dump's bytes; reads past the end are errors naming what was read.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn get(&self, off: u64, len: u64, what: &str) -> Result<&'a [u8]> {
        crate::bytes::bytes_at_u64(self.0, off, len).map_err(|_| {
            Error::malformed(
                "minidump",
                format!(
                    "{what} at {off:#x} (+{len:#x}) is past the end of the file ({:#x} bytes)",
                    self.0.len()
                ),
            )
        })
    }
}

/// A field of a record the caller sized (a directory entry, a list entry, a checked stream):
/// an error past its end says which record.
fn field<T>(r: crate::bytes::Result<T>, what: &str) -> Result<T> {
    r.map_err(|e| e.context(format!("minidump: {what}")))
}

/// A `MINIDUMP_LOCATION_DESCRIPTOR` (DataSize, Rva) at `off` of `b`.
fn location(b: &[u8], off: usize, what: &str) -> Result<(u64, u64)> {
    Ok((field(u32_at(b, off), what)? as u64, field(u32_at(b, off.saturating_add(4)), what)? as u64))
}

/// The entries of a list stream: a u32 count, then fixed-size entries. Some writers pad the
/// count to 8 bytes; that is told by the stream size, as debuggers' minidump readers do. A
/// stream cut short (truncated file) gives the entries it holds, and a warning.
fn list<'a>(stream: &'a [u8], entry: usize, what: &str, warnings: &mut Vec<String>) -> &'a [u8] {
    let Ok(n) = u32_at(stream, 0) else {
        warnings.push(format!("{what}: stream of {} bytes holds no count; ignored", stream.len()));
        return &[];
    };
    let n = n as usize;
    let need = n.saturating_mul(entry);
    let start = if stream.len().saturating_sub(8) == need { 8 } else { 4 };
    let rest = stream.get(start..).unwrap_or_default();
    let held = rest.len() / entry;
    if held < n {
        warnings.push(format!("{what}: only {held} of {n} entries are in the file ({} bytes)", stream.len()));
    }
    &rest[..held.min(n) * entry]
}

/// A `MINIDUMP_STRING` (u32 byte length, UTF-16LE) at `rva`.
fn string(b: &Bytes, rva: u64) -> Result<String> {
    let len = field(u32_at(b.get(rva, 4, "string")?, 0), "string")? as u64;
    let units: Vec<u16> = b
        .get(rva.saturating_add(4), len & !1, "string")?
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    Ok(String::from_utf16_lossy(&units))
}

fn registers(arch: Arch, ctx: &[u8]) -> crate::bytes::Result<Registers> {
    Ok(match arch {
        Arch::Amd64 => {
            let all = AMD64_CONTEXT
                .iter()
                .map(|&(name, off, size)| {
                    let v = match size {
                        8 => u64_at(ctx, off)?,
                        4 => u32_at(ctx, off)? as u64,
                        _ => u16_at(ctx, off)? as u64,
                    };
                    Ok((name, v))
                })
                .collect::<crate::bytes::Result<Vec<(&'static str, u64)>>>()?;
            let get = |n: &str| all.iter().find(|r| r.0 == n).map_or(0, |r| r.1);
            Registers {
                pc: get("rip"),
                sp: get("rsp"),
                fp: get("rbp"),
                lr: 0,
                g: get("r14"),
                fs_base: 0,
                all,
            }
        }
        Arch::Arm64 => {
            let mut all = ARM64_NAMES
                .iter()
                .enumerate()
                .map(|(i, &name)| Ok((name, u64_at(ctx, 0x08 + 8 * i)?)))
                .collect::<crate::bytes::Result<Vec<(&'static str, u64)>>>()?;
            all.extend([
                ("x29", u64_at(ctx, 0xf0)?),
                ("x30", u64_at(ctx, 0xf8)?),
                ("sp", u64_at(ctx, 0x100)?),
                ("pc", u64_at(ctx, 0x108)?),
                ("cpsr", u32_at(ctx, 0x04)? as u64),
            ]);
            Registers {
                pc: u64_at(ctx, 0x108)?,
                sp: u64_at(ctx, 0x100)?,
                fp: u64_at(ctx, 0xf0)?,
                lr: u64_at(ctx, 0xf8)?,
                g: u64_at(ctx, 0xe8)?,
                fs_base: 0,
                all,
            }
        }
    })
}

/// The bytes of `CONTEXT` the registers are read from (through Rip / Pc).
fn context_size(arch: Arch) -> u64 {
    match arch {
        Arch::Amd64 => 0x100,
        Arch::Arm64 => 0x110,
    }
}

/// Read a minidump from its mapped bytes.
pub fn read(path: &Path, file: MappedFile) -> Result<Dump> {
    let mut memory = AddressSpace::new();
    let fid = memory.add_file(file.clone());
    let b = Bytes(file.bytes());
    let mut warnings = Vec::new();

    let header = b.get(0, HEADER_SIZE as u64, "header")?;
    if &header[..4] != b"MDMP" {
        return Err(Error::UnknownDumpFormat(path.to_path_buf()));
    }
    let nstreams = field(u32_at(header, 8), "header")? as u64;
    let dir_rva = field(u32_at(header, 12), "header")? as u64;
    let timestamp = field(u32_at(header, 20), "header")? as u64;
    let dir = b.get(dir_rva, nstreams * DIRECTORY_ENTRY_SIZE as u64, "stream directory")?;

    // The first stream of each type read here; other types are skipped.
    let mut streams: Vec<(u32, &[u8])> = Vec::new();
    for e in dir.chunks_exact(DIRECTORY_ENTRY_SIZE) {
        let kind = field(u32_at(e, 0), "stream directory")?;
        let (size, rva) = location(e, 4, "stream directory")?;
        if !STREAMS_READ.contains(&kind) || streams.iter().any(|s| s.0 == kind) {
            continue;
        }
        // A truncated file keeps what it holds of a stream; its reader says what is missing.
        let held = size.min(b.0.len() as u64 - rva.min(b.0.len() as u64));
        if held < size {
            warnings.push(format!(
                "stream {kind} at {rva:#x} (+{size:#x}) runs past the end of the file: {} bytes missing",
                size - held
            ));
        }
        if let Ok(s) = b.get(rva, held, "stream") {
            streams.push((kind, s));
        }
    }
    let stream = |kind: u32| streams.iter().find(|s| s.0 == kind).map(|s| s.1);

    let sysinfo = stream(SYSTEM_INFO_STREAM)
        .ok_or_else(|| Error::malformed("minidump", "no SystemInfo stream (architecture unknown)"))?;
    let arch = match field(u16_at(sysinfo, 0), "SystemInfo stream")? {
        PROCESSOR_ARCHITECTURE_AMD64 => Arch::Amd64,
        PROCESSOR_ARCHITECTURE_ARM64 => Arch::Arm64,
        other => {
            return Err(Error::Unsupported(format!(
                "minidump of processor architecture {other} (only AMD64 = 9 and ARM64 = 12 are supported)"
            )))
        }
    };

    // Memory: Memory64List (full memory), else MemoryList (stacks and a few small ranges).
    let mut missing_bytes = 0;
    // Every memory range the dump lists (held in the file or not), for `Dump::mappings`.
    let mut listed: Vec<Mapping> = Vec::new();
    let full_memory = match stream(MEMORY64_LIST_STREAM) {
        Some(s) => {
            missing_bytes = memory64_list(&b, s, &mut memory, fid, &mut listed, &mut warnings)?;
            true
        }
        None => {
            warnings.push(
                "this minidump holds no full memory (not written with MiniDumpWithFullMemory / \
                 procdump -ma): no heap"
                    .to_string(),
            );
            if let Some(s) = stream(MEMORY_LIST_STREAM) {
                let entries = list(s, MEMORY_DESCRIPTOR_SIZE, "MemoryList", &mut warnings);
                for d in entries.chunks_exact(MEMORY_DESCRIPTOR_SIZE) {
                    let (size, rva) = location(d, 8, "MemoryList")?;
                    let va = field(u64_at(d, 0), "MemoryList")?;
                    push(&mut memory, va, size, fid, rva);
                    listed.push(committed(va, size));
                }
            }
            false
        }
    };

    let mut threads = Vec::new();
    if let Some(s) = stream(THREAD_LIST_STREAM) {
        let entries = list(s, THREAD_SIZE, "ThreadList", &mut warnings);
        for t in entries.chunks_exact(THREAD_SIZE) {
            let tid = field(u32_at(t, 0), "ThreadList")? as u64;
            // The stack is normally in the full memory too; this backs it in stack-only dumps.
            let (stack_size, stack_rva) = location(t, 32, "ThreadList")?;
            let stack = field(u64_at(t, 24), "ThreadList")?;
            push(&mut memory, stack, stack_size, fid, stack_rva);
            listed.push(committed(stack, stack_size));
            let (ctx_size, ctx_rva) = location(t, 40, "ThreadList")?;
            let regs = match b.get(ctx_rva, ctx_size, "thread context").map(|ctx| registers(arch, ctx)) {
                Ok(Ok(regs)) if ctx_size >= context_size(arch) => regs,
                _ => {
                    warnings.push(format!(
                        "thread {tid}: CONTEXT of {ctx_size} bytes at {ctx_rva:#x} is missing or too short; registers unknown"
                    ));
                    Registers::default()
                }
            };
            threads.push(Thread { tid, regs, teb: field(u64_at(t, 16), "ThreadList")?, signal: 0 });
        }
    } else {
        warnings.push("no ThreadList stream: no threads".to_string());
    }
    memory.finish();
    let mappings = match stream(MEMORY_INFO_LIST_STREAM) {
        Some(s) => memory_info_list(s, listed, &mut warnings),
        None => super::normalize_mappings(listed),
    };

    let mut modules = Vec::new();
    if let Some(s) = stream(MODULE_LIST_STREAM) {
        let entries = list(s, MODULE_SIZE, "ModuleList", &mut warnings);
        for m in entries.chunks_exact(MODULE_SIZE) {
            let base = field(u64_at(m, 0), "ModuleList")?;
            let size = field(u32_at(m, 8), "ModuleList")? as u64;
            let path = string(&b, field(u32_at(m, 20), "ModuleList")? as u64).unwrap_or_else(|e| {
                warnings.push(format!("module at {base:#x}: no name: {e}"));
                String::new()
            });
            modules.push(Module { path, base, size, file_offset: 0 });
        }
    }

    let mut process = ProcessInfo::default();
    let mut process_create_time = None;
    if let Some(s) = stream(MISC_INFO_STREAM) {
        match u32_at(s, 4) {
            Ok(flags) => {
                if let Some(pid) = u32_at(s, 8).ok().filter(|_| flags & MISC1_PROCESS_ID != 0) {
                    process.pid = pid as u64;
                }
                if let Some(t) = u32_at(s, 12).ok().filter(|_| flags & MISC1_PROCESS_TIMES != 0) {
                    process_create_time = Some(t as u64);
                }
            }
            Err(_) => warnings.push(format!("MiscInfo stream of {} bytes is too short; ignored", s.len())),
        }
    }
    if let Some(exe) = modules.first() {
        process.name = exe.path.rsplit(['\\', '/']).next().unwrap_or_default().to_string();
        process.exe_path = Some(exe.path.clone());
    }
    if let Some(t) = threads.first() {
        process.args = command_line(&memory, t.teb).unwrap_or_default();
    }

    let crash = match stream(EXCEPTION_STREAM) {
        Some(s) if s.len() >= 32 => Some(CrashInfo {
            thread_id: field(u32_at(s, 0), "Exception stream")? as u64,
            signal: None,
            exception_code: Some(field(u32_at(s, 8), "Exception stream")?),
            exception_address: Some(field(u64_at(s, 24), "Exception stream")?),
        }),
        Some(s) => {
            warnings.push(format!("Exception stream of {} bytes is too short; ignored", s.len()));
            None
        }
        None => None,
    };

    Ok(Dump {
        path: path.to_path_buf(),
        kind: DumpKind::Minidump,
        os: Os::Windows,
        arch,
        memory,
        mappings,
        threads,
        modules,
        process,
        crash,
        auxv: Vec::new(),
        timestamp: (timestamp != 0).then_some(timestamp),
        process_create_time,
        full_memory,
        producer: Some("dbghelp MiniDumpWriteDump".to_string()),
        warnings,
        missing_bytes,
    })
}

/// Back `[va, va+size)` with the file's bytes at `offset`, unless the range wraps around the
/// address space (garbage). Returns the number of bytes backed.
fn push(memory: &mut AddressSpace, va: u64, size: u64, fid: FileId, offset: u64) -> u64 {
    if va.checked_add(size).is_none() {
        return 0;
    }
    memory.push(va, size, fid, offset)
}

/// A range of committed memory whose protection the dump does not record.
fn committed(va: u64, size: u64) -> Mapping {
    Mapping { va, len: size.min(u64::MAX - va), prot: None }
}

/// Access rights of a `PAGE_*` protection (modifier bits such as `PAGE_GUARD` ignored).
fn page_prot(protect: u32) -> Prot {
    let p = protect & 0xff;
    Prot {
        read: p
            & (PAGE_READONLY
                | PAGE_READWRITE
                | PAGE_WRITECOPY
                | PAGE_EXECUTE_READ
                | PAGE_EXECUTE_READWRITE
                | PAGE_EXECUTE_WRITECOPY)
            != 0,
        write: p & (PAGE_READWRITE | PAGE_WRITECOPY | PAGE_EXECUTE_READWRITE | PAGE_EXECUTE_WRITECOPY) != 0,
        exec: p & (PAGE_EXECUTE | PAGE_EXECUTE_READ | PAGE_EXECUTE_READWRITE | PAGE_EXECUTE_WRITECOPY) != 0,
    }
}

/// The regions of a `MINIDUMP_MEMORY_INFO_LIST` (header size, entry size, u64 count, then
/// `MINIDUMP_MEMORY_INFO` entries): every committed or reserved region, with its protection
/// (reserved ones have none). Ranges the memory lists hold outside them are kept as they are.
fn memory_info_list(s: &[u8], listed: Vec<Mapping>, warnings: &mut Vec<String>) -> Vec<Mapping> {
    let (Ok(header), Ok(entry), Ok(n)) = (u32_at(s, 0), u32_at(s, 4), u64_at(s, 8)) else {
        warnings.push(format!("MemoryInfoList: stream of {} bytes is too short: ignored", s.len()));
        return super::normalize_mappings(listed);
    };
    let (header, entry) = (header as usize, entry as usize);
    if header < 16 || entry < 48 {
        warnings.push(format!("MemoryInfoList: header of {header} bytes, entries of {entry}: ignored"));
        return super::normalize_mappings(listed);
    }
    let held = (s.len().saturating_sub(header) / entry) as u64;
    if held < n {
        warnings.push(format!("MemoryInfoList: only {held} of {n} entries are in the file"));
    }
    let mut out: Vec<Mapping> = Vec::new();
    for e in s.get(header..).unwrap_or_default().chunks_exact(entry).take(n.min(held) as usize) {
        // Each entry is at least 48 bytes (checked above).
        let (Ok(va), Ok(size), Ok(state), Ok(protect)) =
            (u64_at(e, 0), u64_at(e, 24), u32_at(e, 32), u32_at(e, 36))
        else {
            continue;
        };
        if state == MEM_FREE || size == 0 {
            continue;
        }
        let prot = if state == MEM_COMMIT { page_prot(protect) } else { Prot::default() };
        out.push(Mapping { va, len: size.min(u64::MAX - va), prot: Some(prot) });
    }
    let mut regions = super::normalize_mappings(out);
    // Listed memory outside every region (a writer that omits some): keep it, unannotated.
    let mut extra = Vec::new();
    for m in listed {
        let mut cur = m.va;
        let first = regions.partition_point(|r| r.end() <= m.va);
        for r in regions[first..].iter().take_while(|r| r.va < m.end()) {
            if r.va > cur {
                extra.push(Mapping { va: cur, len: r.va - cur, prot: None });
            }
            cur = cur.max(r.end());
        }
        if cur < m.end() {
            extra.push(Mapping { va: cur, len: m.end() - cur, prot: None });
        }
    }
    regions.extend(extra);
    super::normalize_mappings(regions)
}

/// Push the ranges of a `MINIDUMP_MEMORY64_LIST`: a u64 count, the u64 file offset (BaseRva)
/// of the first range's bytes, then (start, size) pairs whose bytes follow each other in the
/// file. What a truncated file lacks is counted in a warning.
fn memory64_list(
    b: &Bytes,
    s: &[u8],
    memory: &mut AddressSpace,
    fid: FileId,
    ranges: &mut Vec<Mapping>,
    warnings: &mut Vec<String>,
) -> Result<u64> {
    if s.len() < 16 {
        return Err(Error::malformed("minidump", "Memory64List stream is too short"));
    }
    let n = field(u64_at(s, 0), "Memory64List")?;
    let mut offset = field(u64_at(s, 8), "Memory64List")?;
    let listed = ((s.len() - 16) / MEMORY_DESCRIPTOR_SIZE) as u64;
    if listed < n {
        warnings.push(format!(
            "Memory64List: only {listed} of {n} range descriptors are in the file; {} ranges missing",
            n - listed
        ));
    }
    let file_len = b.0.len() as u64;
    let (mut missing_ranges, mut missing_bytes) = (0u64, 0u64);
    for d in s[16..].chunks_exact(MEMORY_DESCRIPTOR_SIZE).take(n.min(listed) as usize) {
        let (va, size) = (field(u64_at(d, 0), "Memory64List")?, field(u64_at(d, 8), "Memory64List")?);
        ranges.push(committed(va, size));
        let held = if offset < file_len { push(memory, va, size, fid, offset) } else { 0 };
        if held < size {
            missing_ranges += 1;
            missing_bytes = missing_bytes.saturating_add(size - held);
        }
        offset = offset.saturating_add(size);
    }
    if missing_ranges > 0 {
        warnings.push(format!(
            "minidump is truncated: {missing_bytes} bytes of memory in {missing_ranges} ranges are missing"
        ));
    }
    Ok(missing_bytes)
}

/// The process command line, from TEB → PEB → ProcessParameters → CommandLine (64-bit layouts,
/// same on amd64 and arm64), when the dump holds that memory.
fn command_line(memory: &AddressSpace, teb: u64) -> Option<String> {
    let peb = memory.read_u64(teb.checked_add(0x60)?)?;
    let params = memory.read_u64(peb.checked_add(0x20)?)?;
    let len = memory.read_u16(params.checked_add(0x70)?)? as u64;
    let buf = memory.read_u64(params.checked_add(0x78)?)?;
    let mut bytes = vec![0u8; len as usize & !1];
    memory.read_into(buf, &mut bytes).then_some(())?;
    let units: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    Some(String::from_utf16_lossy(&units))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::PathBuf;

    fn blob(bytes: &[u8]) -> Result<Dump> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        read(f.path(), MappedFile::open(f.path()).unwrap())
    }

    fn err_text(r: Result<Dump>) -> String {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    /// A minidump of `streams` (type, bytes): header, directory, then each stream, laid out in
    /// order; `extra` is appended after the streams (e.g. Memory64List data).
    fn minidump(streams: &[(u32, Vec<u8>)], extra: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(b"MDMP");
        b.extend(0xa793u32.to_le_bytes());
        b.extend((streams.len() as u32).to_le_bytes());
        b.extend(32u32.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend(1_700_000_000u32.to_le_bytes());
        b.extend(0u64.to_le_bytes());
        let mut rva = 32 + 12 * streams.len();
        for (kind, s) in streams {
            b.extend(kind.to_le_bytes());
            b.extend((s.len() as u32).to_le_bytes());
            b.extend((rva as u32).to_le_bytes());
            rva += s.len();
        }
        for (_, s) in streams {
            b.extend(s);
        }
        b.extend(extra);
        b
    }

    fn sysinfo(arch: u16) -> (u32, Vec<u8>) {
        let mut s = vec![0u8; 56];
        s[..2].copy_from_slice(&arch.to_le_bytes());
        (SYSTEM_INFO_STREAM, s)
    }

    /// A Memory64List of `ranges` (va, size) whose data starts at `base_rva`.
    fn memory64(base_rva: u64, ranges: &[(u64, u64)]) -> (u32, Vec<u8>) {
        let mut s = Vec::new();
        s.extend((ranges.len() as u64).to_le_bytes());
        s.extend(base_rva.to_le_bytes());
        for (va, size) in ranges {
            s.extend(va.to_le_bytes());
            s.extend(size.to_le_bytes());
        }
        (MEMORY64_LIST_STREAM, s)
    }

    #[test]
    fn rejects_empty_short_and_foreign_files() {
        let f = tempfile::NamedTempFile::new().unwrap();
        assert!(Dump::open(f.path()).is_err());
        assert!(err_text(blob(b"MDM")).contains("past the end"));
        assert!(matches!(blob(&[b'X'; 64]), Err(Error::UnknownDumpFormat(_))));
    }

    #[test]
    fn rejects_bad_directory_and_missing_or_foreign_arch() {
        let mut b = minidump(&[sysinfo(9)], &[]);
        b[12..16].copy_from_slice(&0x1000u32.to_le_bytes()); // directory past the end
        assert!(err_text(blob(&b)).contains("stream directory"));
        let mut b = minidump(&[sysinfo(9)], &[]);
        b[8..12].copy_from_slice(&u32::MAX.to_le_bytes()); // absurd stream count
        assert!(err_text(blob(&b)).contains("stream directory"));
        assert!(err_text(blob(&minidump(&[], &[]))).contains("no SystemInfo"));
        assert!(matches!(blob(&minidump(&[sysinfo(0)], &[])), Err(Error::Unsupported(_))));
    }

    #[test]
    fn truncated_memory64_list_keeps_what_it_holds() {
        let streams = |base: u64| vec![sysinfo(9), memory64(base, &[(0x10000, 0x100), (0x20000, 0x100)])];
        let base = minidump(&streams(0), &[]).len() as u64;
        let data: Vec<u8> = (0..0x180u32).map(|i| i as u8).collect();
        let dump = blob(&minidump(&streams(base), &data)).unwrap();
        assert!(dump.full_memory);
        assert_eq!(dump.memory.read_u8(0x10005), Some(5));
        assert_eq!(dump.memory.read_u8(0x2007f), Some(0x7f));
        assert_eq!(dump.memory.read_u8(0x20080), None);
        let missing: Vec<_> = dump.warnings.iter().filter(|w| w.contains("missing")).collect();
        assert_eq!(missing.len(), 1, "{:?}", dump.warnings);
        assert!(missing[0].contains("128 bytes of memory in 1 ranges are missing"));
        assert_eq!(dump.timestamp, Some(1_700_000_000));

        // Cut inside the descriptor list: the stream is clipped, the lost descriptors counted.
        let b = minidump(&streams(base), &data);
        let dump = blob(&b[..base as usize - 8]).unwrap();
        assert!(dump.warnings.iter().any(|w| w.contains("only 1 of 2 range descriptors")));
        assert!(dump.warnings.iter().any(|w| w.contains("0x100 bytes of memory") || w.contains("256 bytes")));
    }

    /// A MemoryInfoList of `regions` (va, size, state, protect).
    fn memory_info(regions: &[(u64, u64, u32, u32)]) -> (u32, Vec<u8>) {
        let mut s = Vec::new();
        s.extend(16u32.to_le_bytes());
        s.extend(48u32.to_le_bytes());
        s.extend((regions.len() as u64).to_le_bytes());
        for &(va, size, state, protect) in regions {
            let mut e = vec![0u8; 48];
            e[..8].copy_from_slice(&va.to_le_bytes());
            e[8..16].copy_from_slice(&va.to_le_bytes());
            e[24..32].copy_from_slice(&size.to_le_bytes());
            e[32..36].copy_from_slice(&state.to_le_bytes());
            e[36..40].copy_from_slice(&protect.to_le_bytes());
            s.extend(e);
        }
        (MEMORY_INFO_LIST_STREAM, s)
    }

    #[test]
    fn mappings_from_memory_lists() {
        // Without a MemoryInfoList: the Memory64List's ranges, protection unknown.
        let streams = |base: u64| vec![sysinfo(9), memory64(base, &[(0x10000, 0x100), (0x30000, 0x100)])];
        let base = minidump(&streams(0), &[]).len() as u64;
        let dump = blob(&minidump(&streams(base), &[0u8; 0x200])).unwrap();
        let m: Vec<(u64, u64, Option<Prot>)> = dump.mappings.iter().map(|m| (m.va, m.len, m.prot)).collect();
        assert_eq!(m, vec![(0x10000, 0x100, None), (0x30000, 0x100, None)]);

        // With one: its committed and reserved regions (free ones skipped), their protection,
        // and listed memory outside them kept as it is.
        const RESERVE: u32 = 0x2000;
        let info = memory_info(&[
            (0x10000, 0x1000, MEM_COMMIT, PAGE_READWRITE),
            (0x11000, 0x3000, RESERVE, 0),
            (0x14000, 0x1000, MEM_COMMIT, 0x01 | 0x100), // PAGE_NOACCESS | PAGE_GUARD
            (0x20000, 0x1000, MEM_FREE, 0x01),
            (0x40000, 0x1000, MEM_COMMIT, PAGE_EXECUTE_READ),
        ]);
        let streams =
            |base: u64| vec![sysinfo(9), memory64(base, &[(0x10000, 0x100), (0x30000, 0x100)]), info.clone()];
        let base = minidump(&streams(0), &[]).len() as u64;
        let dump = blob(&minidump(&streams(base), &[0u8; 0x200])).unwrap();
        let rw = Prot { read: true, write: true, exec: false };
        let rx = Prot { read: true, write: false, exec: true };
        let m: Vec<(u64, u64, Option<Prot>)> = dump.mappings.iter().map(|m| (m.va, m.len, m.prot)).collect();
        assert_eq!(
            m,
            vec![
                (0x10000, 0x1000, Some(rw)),
                (0x11000, 0x3000, Some(Prot::default())),
                (0x14000, 0x1000, Some(Prot::default())),
                (0x30000, 0x100, None),
                (0x40000, 0x1000, Some(rx)),
            ]
        );
        assert_eq!(dump.mappings.iter().filter(|m| m.accessible()).count(), 3);
        // A cut or malformed MemoryInfoList: a warning, never a panic.
        let mut short = info.clone();
        short.1.truncate(40);
        let streams = vec![sysinfo(9), memory64(0, &[]), short];
        let dump = blob(&minidump(&streams, &[])).unwrap();
        assert!(dump.warnings.iter().any(|w| w.contains("MemoryInfoList")), "{:?}", dump.warnings);
    }

    #[test]
    fn stack_only_minidump_says_so() {
        let dump = blob(&minidump(&[sysinfo(12)], &[])).unwrap();
        assert_eq!(dump.arch, Arch::Arm64);
        assert!(!dump.full_memory);
        assert!(dump.warnings.iter().any(|w| w.contains("no full memory")));
    }

    #[test]
    fn never_panics_on_truncation_or_garbage() {
        let mut thread = vec![0u8; 4 + THREAD_SIZE];
        thread[..4].copy_from_slice(&1u32.to_le_bytes());
        thread[4 + 40..4 + 44].copy_from_slice(&0x4d0u32.to_le_bytes());
        thread[4 + 44..4 + 48].copy_from_slice(&0x10u32.to_le_bytes());
        let mut module = vec![0u8; 4 + MODULE_SIZE];
        module[..4].copy_from_slice(&1u32.to_le_bytes());
        module[4 + 20..4 + 24].copy_from_slice(&0xfff0u32.to_le_bytes());
        let b = minidump(
            &[
                sysinfo(9),
                (THREAD_LIST_STREAM, thread),
                (MODULE_LIST_STREAM, module),
                (MISC_INFO_STREAM, vec![0xff; 24]),
                (EXCEPTION_STREAM, vec![0xff; 40]),
                memory64(0, &[(u64::MAX - 4, 0x100), (0x1000, u64::MAX)]),
            ],
            &[0xee; 64],
        );
        for len in 1..b.len() {
            let _ = blob(&b[..len]);
        }
        for i in 0..b.len() {
            let mut c = b.clone();
            c[i] ^= 0xa5;
            let _ = blob(&c);
        }
        let dump = blob(&b).unwrap();
        assert_eq!(dump.threads.len(), 1);
        assert!(dump.warnings.iter().any(|w| w.contains("CONTEXT")));
        assert_eq!(dump.crash.as_ref().unwrap().exception_code, Some(0xffff_ffff));
        // A ThreadList that says 2 threads but holds 1.
        let at = b.windows(4).position(|w| w == [1, 0, 0, 0]).unwrap();
        let mut c = b.clone();
        c[at] = 2;
        let dump = blob(&c).unwrap();
        assert_eq!(dump.threads.len(), 1);
        assert!(dump.warnings.iter().any(|w| w.contains("ThreadList: only 1 of 2")));
    }

    /// Real minidumps: `$GOMORTEM_FIXTURES/go<ver>/<platform>/<scenario>/{dump,exe,case.json}`
    /// (default `fixtures/cache`) and `fixtures/committed/*windows*/` (`dump.xz`, `exe.xz`).
    fn real_cases() -> Vec<(PathBuf, serde_json::Value)> {
        crate::testutil::fixture_cases()
            .into_iter()
            .filter(|(_, case)| case["dump_kind"] == "minidump")
            .collect()
    }

    #[test]
    fn real_minidumps() {
        let cases = real_cases();
        if cases.is_empty() {
            eprintln!("note: no minidump fixtures found (run fixtures/generate.py); skipping");
            return;
        }
        for (dir, case) in cases {
            check_real_minidump(&dir, &case);
        }
    }

    fn check_real_minidump(dir: &Path, case: &serde_json::Value) {
        use object::{Object, ObjectSection, ObjectSymbol};
        let name = dir.display();
        let t0 = std::time::Instant::now();
        let dump = Dump::open(&dir.join(case["dump"].as_str().unwrap())).unwrap();
        let took = t0.elapsed();
        let (regions, bytes) = dump.memory.stats();
        eprintln!(
            "{name}: {:?} {} threads, {} modules, {regions} regions, {bytes} bytes, pid {}, args {:?}, exe {:?}, crash {:?}, open {took:?}",
            dump.arch,
            dump.threads.len(),
            dump.modules.len(),
            dump.process.pid,
            dump.process.args,
            dump.process.exe_path,
            dump.crash
        );
        assert_eq!((dump.kind, dump.os), (DumpKind::Minidump, Os::Windows));
        assert_eq!(dump.arch.name(), case["goarch"].as_str().unwrap(), "{name}");
        assert!(dump.warnings.is_empty(), "{name}: {:?}", dump.warnings);
        assert!(dump.full_memory && dump.process.pid != 0 && dump.timestamp.unwrap() > 1_600_000_000);
        // Wine's dbghelp writes no MemoryInfoList: the mappings are the Memory64List's ranges.
        assert_eq!(dump.mappings.iter().map(|m| m.len).sum::<u64>(), bytes, "{name}");
        for t in &dump.threads {
            let (lo, hi) = dump.thread_stack(t).expect("the TEB's stack bounds");
            assert!(
                lo <= t.regs.sp && t.regs.sp < hi,
                "{name}: tid {} sp {:#x} not in {lo:#x}..{hi:#x}",
                t.tid,
                t.regs.sp
            );
        }
        let exe_path = dump.process.exe_path.as_deref().expect("exe path");
        assert!(exe_path.to_ascii_lowercase().ends_with(".exe"), "{name}: {exe_path}");
        assert!(dump.process.name.to_ascii_lowercase().ends_with(".exe"));
        assert!(!dump.threads.is_empty());
        for t in &dump.threads {
            // Every thread is in some module (Go code, or ntdll for a thread in a system call).
            assert!(
                dump.modules.iter().any(|m| m.base <= t.regs.pc && t.regs.pc < m.base + m.size),
                "{name}: tid {} pc {:#x}",
                t.tid,
                t.regs.pc
            );
            assert!(dump.memory.contains(t.regs.sp, 8), "{name}: tid {} sp", t.tid);
            // NT_TIB.Self, at TEB+0x30, points to the TEB itself.
            assert_eq!(dump.memory.read_u64(t.teb + 0x30), Some(t.teb), "{name}: tid {} TEB", t.tid);
            assert_eq!(t.regs.all.len(), if dump.arch == Arch::Amd64 { 24 } else { 34 });
        }

        // runtime.buildVersion, rebased from the link-time ImageBase to the module base.
        let exe_map = MappedFile::open_maybe_compressed(&dir.join(case["exe"].as_str().unwrap())).unwrap();
        let exe = object::File::parse(exe_map.bytes()).unwrap();
        let bias = dump.modules[0].base.wrapping_sub(exe.relative_address_base());
        let text = exe.section_by_name(".text").expect(".text");
        let in_go = |pc: u64| pc.wrapping_sub(bias).wrapping_sub(text.address()) < text.size();
        eprintln!(
            "{name}: bias {bias:#x}, {} of {} threads in Go code",
            dump.threads.iter().filter(|t| in_go(t.regs.pc)).count(),
            dump.threads.len()
        );
        let global = |name: &str| {
            let sym = exe.symbols().find(|s| s.name() == Ok(name)).expect(name);
            sym.address().wrapping_add(bias)
        };
        let version = global("runtime.buildVersion");
        let ptr = dump.memory.read_u64(version).unwrap();
        let len = dump.memory.read_u64(version + 8).unwrap();
        let s = dump.memory.slice(ptr, len).expect("buildVersion bytes");
        let want = format!("go{}", case["go_version"].as_str().unwrap());
        assert!(s.starts_with(want.as_bytes()), "{name}: {:?}", String::from_utf8_lossy(s));

        // The heap is there: runtime.allglen counts at least the goroutines the oracle shows.
        let oracle = case["oracle"].as_str().and_then(|o| std::fs::read_to_string(dir.join(o)).ok());
        if let Some(oracle) = oracle {
            let shown = oracle.lines().filter(|l| l.starts_with("goroutine ")).count() as u64;
            let allglen = dump.memory.read_u64(global("runtime.allglen")).unwrap();
            assert!(shown > 0 && allglen >= shown, "{name}: allglen {allglen}, oracle {shown}");
        }

        // Each Go thread's TLS slot (TEB + runtime.tls_g) points to m.tls[0], which holds its
        // current g; g.stack (lo, hi) at offset 0 holds the thread's SP (g0 in a system call).
        let tls_g = dump.memory.read_u64(global("runtime.tls_g")).unwrap();
        let on_g_stack = dump
            .threads
            .iter()
            .filter(|t| {
                let g = dump.memory.read_u64(t.teb + tls_g).and_then(|m| dump.memory.read_u64(m));
                let stack = g.and_then(|g| Some((dump.memory.read_u64(g)?, dump.memory.read_u64(g + 8)?)));
                stack.is_some_and(|(lo, hi)| lo <= t.regs.sp && t.regs.sp < hi)
            })
            .count();
        eprintln!("{name}: {on_g_stack} of {} threads have SP on their g's stack", dump.threads.len());
        assert!(on_g_stack > 0, "{name}");
    }
}
