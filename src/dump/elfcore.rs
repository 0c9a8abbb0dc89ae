//! Linux ELF core files (ELF64 little-endian, x86_64 or aarch64): kernel cores, gdb's
//! `gcore`, and qemu-user guest cores.
//!
//! The file is parsed in place over its memory map (no crate: `object` reads ELF images well but
//! does not decode core notes, and nothing here needs more than the ELF header, the program
//! headers and the notes). Memory is PT_LOAD segments: `p_filesz` bytes are in the file, the
//! rest up to `p_memsz` was not dumped and stays absent (not zero); every segment, with its
//! `p_memsz` and `p_flags`, is also one of the dump's mappings. Threads come from
//! NT_PRSTATUS, the process from NT_PRPSINFO/NT_AUXV, mapped files from NT_FILE.
//!
//! Who wrote the core is told from the notes and headers:
//! * gdb (`gcore`): a note owned by "GDB" (NT_GDB_TDESC), or section headers (BFD always writes
//!   them; the kernel writes only section 0, and only when program headers overflow PN_XNUM);
//! * qemu-user: neither NT_FILE nor NT_SIGINFO (kernels write both since Linux 3.7; qemu writes
//!   only NT_PRSTATUS, NT_PRPSINFO and NT_AUXV);
//! * otherwise the kernel.

use std::path::Path;

use super::{
    AddressSpace, Arch, CrashInfo, Dump, DumpKind, MappedFile, Mapping, Module, Os, ProcessInfo, Prot,
    Registers, Thread,
};
use crate::bytes::{u16_at, u32_at, u64_at, Cursor, ResultExt};
use crate::{Error, Result};

const ET_CORE: u16 = 4;
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;
const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;
/// `e_phnum` value meaning "the real count is in section header 0's `sh_info`".
const PN_XNUM: u16 = 0xffff;

const NT_PRSTATUS: u32 = 1;
const NT_PRPSINFO: u32 = 3;
const NT_AUXV: u32 = 6;
const NT_SIGINFO: u32 = 0x5349_4749;
const NT_FILE: u32 = 0x4649_4c45;

const AT_ENTRY: u64 = 9;
const AT_EXECFN: u64 = 31;

/// Offset of `pr_reg` in `struct elf_prstatus` (same on x86_64 and aarch64).
const PRSTATUS_REGS: usize = 112;

const AMD64_REGS: [&str; 27] = [
    "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx", "rsi", "rdi",
    "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs",
];

const ARM64_REGS: [&str; 34] = [
    "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15",
    "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "x29", "x30",
    "sp", "pc", "pstate",
];

/// At most this many notes are read from a core, all note segments together; the rest are
/// skipped with a warning. A real core holds a handful per thread (the kernel: NT_PRSTATUS,
/// NT_FPREGSET and the architecture's register sets, up to about 12 on arm64; gdb adds
/// NT_SIGINFO), and Go stops a process at 10,000 threads by default (`debug.SetMaxThreads`):
/// 128 Ki notes hold that. Notes are read one at a time, never all kept, but a corrupt segment
/// (a PT_LOAD turned PT_NOTE, 1 GiB of zeros read as 12-byte empty notes) would otherwise be
/// walked for minutes.
const MAX_NOTES: usize = 128 << 10;
/// A note descriptor larger than this is skipped with a warning: the largest a kernel writes
/// is NT_FILE, at most 16 MiB (`core_file_note_size_limit`); register sets are a few KiB.
const MAX_NOTE_DESC: usize = 64 << 20;

/// A NUL-terminated (or full-length) C string field.
fn c_str(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn machine_name(m: u16) -> String {
    let name = match m {
        3 => "i386",
        8 => "MIPS",
        20 => "PowerPC",
        21 => "PowerPC64",
        22 => "s390",
        40 => "ARM (32-bit)",
        243 => "RISC-V",
        258 => "LoongArch",
        _ => return format!("ELF machine {m}"),
    };
    name.to_string()
}

struct Phdr {
    p_type: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
    align: u64,
}

const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;

/// One ELF note: owner name (without NUL), type, descriptor.
struct Note<'a> {
    name: &'a [u8],
    n_type: u32,
    desc: &'a [u8],
}

/// The notes of a PT_NOTE segment, one at a time; `align` is 8 only for 8-aligned note segments.
/// An error ends the walk.
struct Notes<'a, 'w> {
    seg: &'a [u8],
    off: usize,
    align: usize,
    what: &'w str,
}

impl<'a> Notes<'a, '_> {
    fn new<'w>(seg: &'a [u8], align: usize, what: &'w str) -> Notes<'a, 'w> {
        Notes { seg, off: 0, align, what }
    }

    /// Bytes not walked yet.
    fn remaining(&self) -> usize {
        self.seg.len().saturating_sub(self.off)
    }

    /// The next note, None at the end of the segment.
    fn next_note(&mut self) -> Result<Option<Note<'a>>> {
        let (seg, off) = (self.seg, self.off);
        if self.remaining() < 12 {
            self.off = seg.len();
            return Ok(None);
        }
        let bad = |msg: String| Error::malformed(self.what, msg);
        let mut c = Cursor::at(seg, off).context(self.what)?;
        let (namesz, descsz, n_type) = (
            c.u32().context(self.what)? as usize,
            c.u32().context(self.what)? as usize,
            c.u32().context(self.what)?,
        );
        let align = self.align;
        let pad = |n: usize| n.checked_add(align - 1).map(|v| v & !(align - 1));
        let name_off = c.offset();
        let desc_off = pad(namesz).and_then(|n| name_off.checked_add(n));
        let end = desc_off.and_then(|d| pad(descsz).and_then(|n| d.checked_add(n)));
        let (Some(desc_off), Some(end)) = (desc_off, end) else {
            return Err(bad(format!("note at +{off:#x}: sizes overflow")));
        };
        let name = crate::bytes::bytes_at(seg, name_off, namesz).ok();
        // The last note's padding may be missing.
        let desc = crate::bytes::bytes_at(seg, desc_off, descsz).ok();
        let (Some(name), Some(desc)) = (name, desc) else {
            return Err(bad(format!(
                "note at +{off:#x} (type {n_type:#x}, {descsz} bytes) runs past the end of the note segment ({} bytes)",
                seg.len()
            )));
        };
        let name = name.strip_suffix(&[0]).unwrap_or(name);
        self.off = end;
        Ok(Some(Note { name, n_type, desc }))
    }
}

fn registers(arch: Arch, regs: &[u8]) -> crate::bytes::Result<Registers> {
    let names: &[&'static str] = match arch {
        Arch::Amd64 => &AMD64_REGS,
        Arch::Arm64 => &ARM64_REGS,
    };
    let mut c = Cursor::new(regs);
    let all = names.iter().map(|&n| Ok((n, c.u64()?))).collect::<crate::bytes::Result<Vec<_>>>()?;
    let get = |n: &str| all.iter().find(|(k, _)| *k == n).map_or(0, |&(_, v)| v);
    Ok(match arch {
        Arch::Amd64 => Registers {
            pc: get("rip"),
            sp: get("rsp"),
            fp: get("rbp"),
            lr: 0,
            g: get("r14"),
            fs_base: get("fs_base"),
            all,
        },
        Arch::Arm64 => Registers {
            pc: get("pc"),
            sp: get("sp"),
            fp: get("x29"),
            lr: get("x30"),
            g: get("x28"),
            fs_base: 0,
            all,
        },
    })
}

fn parse_nt_file(desc: &[u8], what: &str) -> Result<Vec<Module>> {
    let bad = || Error::malformed(what, "NT_FILE note is truncated");
    let mut c = Cursor::new(desc);
    let count = c.u64().map_err(|_| bad())?;
    let page = c.u64().map_err(|_| bad())?;
    // 24 bytes of (start, end, offset) per file, then the names: the count is bounded by the note.
    let names_off = count
        .checked_mul(24)
        .and_then(|n| n.checked_add(16))
        .filter(|&n| n <= desc.len() as u64)
        .ok_or_else(bad)? as usize;
    let mut names = desc[names_off..].split(|&c| c == 0);
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let (start, end, pgoff) = (c.u64(), c.u64(), c.u64());
        let (Ok(start), Ok(end), Ok(pgoff)) = (start, end, pgoff) else {
            return Err(bad());
        };
        let path = String::from_utf8_lossy(names.next().ok_or_else(bad)?).into_owned();
        out.push(Module {
            path,
            base: start,
            size: end.saturating_sub(start),
            file_offset: pgoff.saturating_mul(page),
        });
    }
    Ok(out)
}

/// A C string in the dumped memory, at most 4 KiB.
fn read_c_string(mem: &AddressSpace, addr: u64) -> Option<String> {
    let s = mem.slice_to_end(addr)?;
    let s = &s[..s.len().min(4096)];
    let end = s.iter().position(|&c| c == 0)?;
    Some(String::from_utf8_lossy(&s[..end]).into_owned())
}

/// Read an ELF core file already mapped in memory.
pub fn read(path: &Path, file: MappedFile) -> Result<Dump> {
    let what = path.display().to_string();
    let b = file.bytes();
    let flen = b.len() as u64;
    let hdr = b.get(..64).ok_or_else(|| Error::malformed(&what, "truncated ELF header"))?;
    if &hdr[..4] != b"\x7fELF" {
        return Err(Error::UnknownDumpFormat(path.to_path_buf()));
    }
    if hdr[4] != 2 {
        return Err(Error::Unsupported(format!("{what}: 32-bit ELF core files are not supported")));
    }
    if hdr[5] != 1 {
        return Err(Error::Unsupported(format!("{what}: big-endian ELF core files are not supported")));
    }
    let e_type = u16_at(hdr, 16).context(&what)?;
    if e_type != ET_CORE {
        let kind = match e_type {
            1 => "a relocatable object (ET_REL)",
            2 => "an executable (ET_EXEC)",
            3 => "an executable or shared library (ET_DYN)",
            _ => "an ELF file of unknown type",
        };
        return Err(Error::Unsupported(format!(
            "{what}: this is {kind}, not a core file; pass the core dump as the dump"
        )));
    }
    let arch = match u16_at(hdr, 18).context(&what)? {
        EM_X86_64 => Arch::Amd64,
        EM_AARCH64 => Arch::Arm64,
        m => {
            return Err(Error::Unsupported(format!(
                "{what}: core files for {} are not supported (only x86_64 and aarch64)",
                machine_name(m)
            )))
        }
    };
    let phoff = u64_at(hdr, 32).context(&what)?;
    let shoff = u64_at(hdr, 40).context(&what)?;
    let phentsize = u16_at(hdr, 54).context(&what)? as u64;
    let e_phnum = u16_at(hdr, 56).context(&what)?;
    let shnum = u16_at(hdr, 60).context(&what)?;
    if phentsize < 56 {
        return Err(Error::malformed(&what, format!("program header size {phentsize} is too small")));
    }
    let phnum = if e_phnum == PN_XNUM {
        // sh_info of section header 0.
        (shoff != 0)
            .then(|| shoff.checked_add(44))
            .flatten()
            .and_then(|o| u32_at(b, usize::try_from(o).ok()?).ok())
            .ok_or_else(|| Error::malformed(&what, "PN_XNUM set but section header 0 is missing"))?
            as u64
    } else {
        e_phnum as u64
    };
    let ph_end = phnum.checked_mul(phentsize).and_then(|n| n.checked_add(phoff));
    if ph_end.is_none_or(|e| e > flen) {
        return Err(Error::malformed(
            &what,
            format!("{phnum} program headers at {phoff:#x} run past the end of the file ({flen} bytes)"),
        ));
    }
    // Every header lies in the file (checked above): at most one Phdr per 56 bytes of it.
    let phdrs = (0..phnum)
        .map(|i| {
            let at = i.checked_mul(phentsize).and_then(|o| o.checked_add(phoff));
            let p = crate::bytes::bytes_at_u64(b, at.unwrap_or(u64::MAX), 56)?;
            Ok(Phdr {
                p_type: u32_at(p, 0)?,
                flags: u32_at(p, 4)?,
                offset: u64_at(p, 8)?,
                vaddr: u64_at(p, 16)?,
                filesz: u64_at(p, 32)?,
                memsz: u64_at(p, 40)?,
                align: u64_at(p, 48)?,
            })
        })
        .collect::<crate::bytes::Result<Vec<Phdr>>>()
        .context(format!("{what}: program headers"))?;

    // Memory.
    let mut memory = AddressSpace::new();
    let fid = memory.add_file(file.clone());
    let mut warnings = Vec::new();
    let (mut loads, mut cut_segs, mut cut_bytes) = (0u64, 0u64, 0u64);
    let mut mappings = Vec::new();
    for p in phdrs.iter().filter(|p| p.p_type == PT_LOAD) {
        loads += 1;
        // What was mapped: all of p_memsz (p_filesz is what the core holds of it).
        let len = p.memsz.max(p.filesz).min(u64::MAX - p.vaddr);
        if len > 0 {
            let prot =
                Prot { read: p.flags & PF_R != 0, write: p.flags & PF_W != 0, exec: p.flags & PF_X != 0 };
            mappings.push(Mapping { va: p.vaddr, len, prot: Some(prot) });
        }
        if p.filesz == 0 {
            continue;
        }
        if p.vaddr.checked_add(p.filesz).is_none() {
            warnings.push(format!(
                "memory segment at {:#x} (+{}) wraps around the address space; skipped",
                p.vaddr, p.filesz
            ));
            continue;
        }
        let backed = memory.push(p.vaddr, p.filesz, fid, p.offset);
        if backed < p.filesz {
            cut_segs += 1;
            cut_bytes = cut_bytes.saturating_add(p.filesz - backed);
        }
    }
    memory.finish();
    if loads == 0 {
        return Err(Error::malformed(&what, "no PT_LOAD segment: the core holds no memory"));
    }
    if cut_segs > 0 {
        warnings.push(format!(
            "core file is truncated ({flen} bytes): {cut_segs} of {loads} memory segments cut short, {cut_bytes} bytes missing"
        ));
    }

    // Notes.
    let mut threads = Vec::new();
    let mut process = ProcessInfo::default();
    let mut auxv = Vec::new();
    let mut modules = Vec::new();
    let (mut gdb, mut has_file) = (false, false);
    let mut siginfo_signo = None;
    let (mut nnotes, mut skipped_segs, mut skipped_bytes) = (0usize, 0u64, 0u64);
    for p in phdrs.iter().filter(|p| p.p_type == PT_NOTE) {
        let seg = p
            .offset
            .checked_add(p.filesz)
            .and_then(|end| b.get(usize::try_from(p.offset).ok()?..usize::try_from(end).ok()?))
            .ok_or_else(|| {
                Error::malformed(
                    &what,
                    format!(
                        "core file is truncated ({flen} bytes): its note segment at {:#x} (+{}) runs past \
                         the end (gcore writes the notes last)",
                        p.offset, p.filesz
                    ),
                )
            })?;
        let align = if p.align == 8 { 8 } else { 4 };
        let mut notes = Notes::new(seg, align, &what);
        loop {
            if nnotes == MAX_NOTES {
                if notes.remaining() > 0 {
                    skipped_bytes = skipped_bytes.saturating_add(notes.remaining() as u64);
                    skipped_segs += 1;
                }
                break;
            }
            let Some(n) = notes.next_note()? else { break };
            nnotes += 1;
            if n.desc.len() > MAX_NOTE_DESC {
                warnings.push(format!(
                    "note of type {:#x} in the note segment at {:#x} holds {} bytes, more than a core's \
                     notes ({MAX_NOTE_DESC}): skipped",
                    n.n_type,
                    p.offset,
                    n.desc.len()
                ));
                continue;
            }
            if n.name == b"GDB" {
                gdb = true;
            }
            if n.name != b"CORE" {
                continue;
            }
            match n.n_type {
                NT_PRSTATUS => {
                    let regs = n.desc.get(PRSTATUS_REGS..).unwrap_or(&[]);
                    let need = match arch {
                        Arch::Amd64 => AMD64_REGS.len(),
                        Arch::Arm64 => ARM64_REGS.len(),
                    } * 8;
                    if regs.len() < need {
                        return Err(Error::malformed(
                            &what,
                            format!("NT_PRSTATUS note of {} bytes is too short", n.desc.len()),
                        ));
                    }
                    let short = |e: crate::bytes::OutOfBounds| e.context(format!("{what}: NT_PRSTATUS note"));
                    threads.push(Thread {
                        tid: u32_at(n.desc, 32).map_err(short)? as u64,
                        regs: registers(arch, regs).map_err(short)?,
                        teb: 0,
                        signal: u16_at(n.desc, 12).map_err(short)? as i16 as i32,
                    });
                }
                NT_PRPSINFO => {
                    if let Some(d) = n.desc.get(..136) {
                        process.pid = u32_at(d, 24).context(&what)? as u64;
                        process.name = c_str(&d[40..56]);
                        process.args = c_str(&d[56..136]).trim_end().to_string();
                    } else {
                        warnings.push(format!("NT_PRPSINFO note of {} bytes is too short", n.desc.len()));
                    }
                }
                NT_AUXV => {
                    auxv = n
                        .desc
                        .chunks_exact(16)
                        .map_while(|c| Some((u64_at(c, 0).ok()?, u64_at(c, 8).ok()?)))
                        .take_while(|&(t, _)| t != 0)
                        .collect();
                }
                NT_FILE => {
                    has_file = true;
                    modules = parse_nt_file(n.desc, &what)?;
                }
                // The kernel writes one (the dumping thread's); gdb one per thread.
                NT_SIGINFO if siginfo_signo.is_none() => match u32_at(n.desc, 0) {
                    Ok(signo) => siginfo_signo = Some(signo as i32),
                    Err(_) => {
                        warnings.push(format!("NT_SIGINFO note of {} bytes is too short", n.desc.len()))
                    }
                },
                _ => {}
            }
        }
    }
    if skipped_segs > 0 {
        warnings.push(format!(
            "more than {MAX_NOTES} notes (a real core holds a few per thread): the rest of {skipped_segs} note \
             segments, {skipped_bytes} bytes, skipped"
        ));
    }
    if threads.is_empty() {
        return Err(Error::malformed(&what, "no NT_PRSTATUS note: the core holds no thread"));
    }

    let producer = if gdb || (shnum > 0 && e_phnum != PN_XNUM) {
        "gdb (gcore)"
    } else if !has_file && siginfo_signo.is_none() {
        "qemu-user"
    } else {
        "kernel"
    };

    // The kernel writes the fatal signal in the first thread's pr_cursig, and in NT_SIGINFO.
    // A gcore of a live process records the SIGSTOP/SIGTRAP that stopped it: not a crash.
    let first = &threads[0];
    let signal = match (first.signal, producer) {
        (0, "kernel") => siginfo_signo.unwrap_or(0),
        (s, "gdb (gcore)") if gdb_stop_signal(s) => 0,
        (s, _) => s,
    };
    let crash =
        (signal != 0).then(|| CrashInfo { thread_id: first.tid, signal: Some(signal), ..Default::default() });

    let aux = |t: u64| auxv.iter().find(|&&(k, _)| k == t).map(|&(_, v)| v);
    let execfn = aux(AT_EXECFN).and_then(|a| read_c_string(&memory, a));
    let mapped_exe = aux(AT_ENTRY)
        .and_then(|e| modules.iter().find(|m| m.base <= e && e - m.base < m.size))
        .map(|m| m.path.clone());
    // AT_EXECFN is what was passed to execve, possibly relative to a cwd the core does not
    // record; the NT_FILE name is absolute, so it wins over a relative AT_EXECFN.
    process.exe_path = match (execfn, mapped_exe) {
        (Some(e), Some(m)) if !e.starts_with('/') => Some(m),
        (Some(e), _) => Some(e),
        (None, m) => m,
    };

    Ok(Dump {
        path: path.to_path_buf(),
        kind: DumpKind::ElfCore,
        os: Os::Linux,
        arch,
        memory,
        mappings: super::normalize_mappings(mappings),
        threads,
        modules,
        process,
        crash,
        auxv,
        timestamp: None,
        process_create_time: None,
        full_memory: true,
        producer: Some(producer.to_string()),
        warnings,
        missing_bytes: cut_bytes,
    })
}

/// Signals with which gdb stops a live process (SIGTRAP, SIGSTOP, SIGINT): a gcore taken
/// then is a snapshot, not a crash.
fn gdb_stop_signal(sig: i32) -> bool {
    matches!(sig, 2 | 5 | 19)
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol};
    use std::io::Write;
    use std::path::PathBuf;

    fn blob(bytes: &[u8]) -> Result<Dump> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        let m = MappedFile::open(f.path())?;
        read(f.path(), m)
    }

    /// A minimal ELF64 core header: `phnum` program headers right after it.
    fn header(machine: u16, e_type: u16, phnum: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = 1;
        h[6] = 1;
        h[16..18].copy_from_slice(&e_type.to_le_bytes());
        h[18..20].copy_from_slice(&machine.to_le_bytes());
        h[32..40].copy_from_slice(&64u64.to_le_bytes());
        h[52..54].copy_from_slice(&64u16.to_le_bytes());
        h[54..56].copy_from_slice(&56u16.to_le_bytes());
        h[56..58].copy_from_slice(&phnum.to_le_bytes());
        h
    }

    fn phdr(p_type: u32, offset: u64, vaddr: u64, filesz: u64) -> Vec<u8> {
        let mut p = vec![0u8; 56];
        p[..4].copy_from_slice(&p_type.to_le_bytes());
        p[8..16].copy_from_slice(&offset.to_le_bytes());
        p[16..24].copy_from_slice(&vaddr.to_le_bytes());
        p[32..40].copy_from_slice(&filesz.to_le_bytes());
        p[40..48].copy_from_slice(&filesz.to_le_bytes());
        p[48..56].copy_from_slice(&4u64.to_le_bytes());
        p
    }

    fn err_text(r: Result<Dump>) -> String {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn rejects_bad_headers() {
        assert!(matches!(blob(b"\x7fEL"), Err(Error::Malformed { .. })));
        assert!(matches!(blob(&[0u8; 100]), Err(Error::UnknownDumpFormat(_))));
        let mut h32 = header(EM_X86_64, ET_CORE, 0);
        h32[4] = 1;
        assert!(err_text(blob(&h32)).contains("32-bit"));
        assert!(err_text(blob(&header(EM_X86_64, 2, 0))).contains("executable"));
        assert!(err_text(blob(&header(EM_X86_64, 3, 0))).contains("not a core"));
        let e = err_text(blob(&header(243, ET_CORE, 0)));
        assert!(e.contains("RISC-V"), "{e}");
    }

    #[test]
    fn rejects_truncated_phdrs_and_notes() {
        // Five program headers announced, one present.
        let mut b = header(EM_X86_64, ET_CORE, 5);
        b.extend(phdr(PT_LOAD, 0, 0x1000, 64));
        assert!(err_text(blob(&b)).contains("program headers"));
        // PN_XNUM without section headers.
        assert!(err_text(blob(&header(EM_X86_64, ET_CORE, PN_XNUM))).contains("PN_XNUM"));
        // A note segment past the end of the file.
        let mut b = header(EM_X86_64, ET_CORE, 2);
        b.extend(phdr(PT_NOTE, 176, 0, 4096));
        b.extend(phdr(PT_LOAD, 0, 0x1000, 64));
        assert!(err_text(blob(&b)).contains("note segment"));
        // A note whose descriptor runs past its segment.
        let mut b = header(EM_X86_64, ET_CORE, 2);
        b.extend(phdr(PT_NOTE, 176, 0, 24));
        b.extend(phdr(PT_LOAD, 0, 0x1000, 64));
        b.extend(5u32.to_le_bytes());
        b.extend(336u32.to_le_bytes());
        b.extend(NT_PRSTATUS.to_le_bytes());
        b.extend(b"CORE\0\0\0\0");
        b.extend([0u8; 4]);
        assert!(err_text(blob(&b)).contains("past the end of the note segment"));
    }

    #[test]
    fn rejects_cores_without_memory_or_threads() {
        assert!(err_text(blob(&header(EM_X86_64, ET_CORE, 0))).contains("no PT_LOAD"));
        let mut b = header(EM_AARCH64, ET_CORE, 2);
        b.extend(phdr(PT_LOAD, 0, 0x1000, 64));
        b.extend(phdr(PT_LOAD, 0, u64::MAX - 8, 64));
        assert!(err_text(blob(&b)).contains("no thread"));
    }

    /// Real cores: `$GOMORTEM_FIXTURES/go<ver>/<platform>/<scenario>/{dump,exe,case.json}`
    /// (default `fixtures/cache`) and `fixtures/committed/*/` (compressed `dump.xz`, `exe.xz`).
    fn real_cases() -> Vec<(PathBuf, serde_json::Value)> {
        crate::testutil::fixture_cases()
            .into_iter()
            .filter(|(_, case)| {
                let windows = case["platform"].as_str().is_some_and(|p| p.starts_with("windows"));
                case["dump_kind"] != "minidump" && !windows
            })
            .collect()
    }

    #[test]
    fn real_cores() {
        let cases = real_cases();
        if cases.is_empty() {
            eprintln!("note: no ELF core fixtures found (run fixtures/generate.py); skipping");
            return;
        }
        for (dir, case) in &cases {
            check_real_core(dir, case);
        }
        let (dir, case) = &cases[0];
        let core = MappedFile::open_maybe_compressed(&dir.join(case["dump"].as_str().unwrap())).unwrap();
        truncated_and_corrupted(core.bytes());
    }

    /// A real core cut in half keeps what it holds and says so; its notes and headers,
    /// corrupted at random, give errors or warnings but never a panic.
    fn truncated_and_corrupted(core: &[u8]) {
        let half = blob(&core[..core.len() / 2]).unwrap();
        assert!(half.warnings.iter().any(|w| w.contains("truncated")), "{:?}", half.warnings);
        let notes_end = core.len().min(1 << 16);
        let mut head = core[..notes_end].to_vec();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200 {
            let mut b = head.clone();
            for k in 0..8 {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                // Half the hits in the ELF header, program headers and first notes.
                let i = (seed >> 33) as usize % if k % 2 == 0 { 2048 } else { b.len() };
                b[i] = (seed >> 17) as u8;
            }
            let _ = blob(&b);
        }
        head.truncate(4096);
        let _ = blob(&head);
    }

    /// The first committed (or cached) core, decompressed.
    fn first_real_core() -> Option<Vec<u8>> {
        let (dir, case) = real_cases().into_iter().next()?;
        let core = MappedFile::open_maybe_compressed(&dir.join(case["dump"].as_str().unwrap())).unwrap();
        Some(core.bytes().to_vec())
    }

    /// The program headers of a core: (file offset of the header, p_type, p_offset, p_filesz).
    fn phdr_table(b: &[u8]) -> Vec<(usize, u32, u64, u64)> {
        let (phoff, phnum) = (u64_at(b, 32).unwrap() as usize, u16_at(b, 56).unwrap() as usize);
        (0..phnum)
            .map(|i| {
                let at = phoff + i * 56;
                (at, u32_at(b, at).unwrap(), u64_at(b, at + 8).unwrap(), u64_at(b, at + 32).unwrap())
            })
            .collect()
    }

    /// Finding 1: a PT_LOAD turned PT_NOTE is read as notes, at most `MAX_NOTES` of them, none
    /// kept; the rest is skipped with a warning. Its memory, zeroed, is 12-byte empty notes.
    #[test]
    fn load_segment_turned_note_is_bounded() {
        let Some(core) = first_real_core() else {
            eprintln!("note: no ELF core fixtures found; skipping");
            return;
        };
        let loads: Vec<_> = phdr_table(&core).into_iter().filter(|p| p.1 == PT_LOAD && p.3 > 0).collect();
        // Every PT_LOAD in turn, as it is: an error or a dump, never a panic.
        for &(at, ..) in loads.iter().take(64) {
            let mut b = core.clone();
            b[at..at + 4].copy_from_slice(&PT_NOTE.to_le_bytes());
            let t0 = std::time::Instant::now();
            let _ = blob(&b);
            assert!(t0.elapsed().as_secs() < 10, "PT_LOAD at {at:#x} as notes: {:?}", t0.elapsed());
        }
        // The largest, zeroed: more empty notes than a core holds.
        let &(at, _, off, len) = loads.iter().max_by_key(|p| p.3).unwrap();
        assert!(len as usize / 12 > MAX_NOTES, "the largest segment holds {len} bytes");
        let mut b = core.clone();
        b[at..at + 4].copy_from_slice(&PT_NOTE.to_le_bytes());
        b[off as usize..(off + len) as usize].fill(0);
        let dump = blob(&b).unwrap();
        let w: Vec<_> =
            dump.warnings.iter().filter(|w| w.contains(&format!("more than {MAX_NOTES} notes"))).collect();
        assert_eq!(w.len(), 1, "{:?}", dump.warnings);
        // The cap counts the core's own notes too.
        let skipped: usize = w[0].split(", ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
        assert!(skipped > len as usize - 12 * MAX_NOTES && skipped < len as usize - 12 * (MAX_NOTES - 1000));
        assert!(!dump.threads.is_empty());
    }

    /// Finding 1: a 1 GiB note segment of zeros in a sparse file (4 KiB on disk) is walked up to
    /// the cap, quickly, without a per-note allocation.
    #[test]
    fn sparse_gigabyte_note_segment() {
        const GIB: u64 = 1 << 30;
        let mut b = header(EM_X86_64, ET_CORE, 2);
        b.extend(phdr(PT_NOTE, 4096, 0, GIB));
        b.extend(phdr(PT_LOAD, 0, 0x1000, 64));
        b.resize(4096, 0);
        // One real NT_PRSTATUS first: a thread, so that the dump opens and keeps its warnings.
        b.extend(5u32.to_le_bytes());
        b.extend(336u32.to_le_bytes());
        b.extend(NT_PRSTATUS.to_le_bytes());
        b.extend(b"CORE\0\0\0\0");
        b.extend([0u8; 336]);
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&b).unwrap();
        f.as_file().set_len(4096 + GIB).unwrap();
        let t0 = std::time::Instant::now();
        let dump = read(f.path(), MappedFile::open(f.path()).unwrap()).unwrap();
        assert!(t0.elapsed().as_secs() < 10, "{:?}", t0.elapsed());
        assert_eq!(dump.threads.len(), 1);
        let skipped = GIB - (12 + 8 + 336) - 12 * (MAX_NOTES as u64 - 1);
        assert!(
            dump.warnings
                .iter()
                .any(|w| w.contains("notes") && w.contains(&format!("{skipped} bytes, skipped"))),
            "{:?}",
            dump.warnings
        );
    }

    /// Finding 7: one byte 0xfc at offset 57 (`e_phnum`'s high byte) makes memory read as program
    /// headers whose sizes add up past u64: an error or warnings, no overflow.
    #[test]
    fn phnum_high_byte_does_not_overflow() {
        let Some(core) = first_real_core() else {
            eprintln!("note: no ELF core fixtures found; skipping");
            return;
        };
        for v in [0xfc, 0x7f, 0xff, 0x10] {
            let mut b = core.clone();
            b[57] = v;
            match blob(&b) {
                Ok(d) => assert!(!d.warnings.is_empty() || d.threads.is_empty() || v == 0x10),
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
    }

    fn check_real_core(dir: &Path, case: &serde_json::Value) {
        let name = dir.display();
        let t0 = std::time::Instant::now();
        let dump = Dump::open(&dir.join(case["dump"].as_str().unwrap())).unwrap();
        let took = t0.elapsed();
        let exe_map = MappedFile::open_maybe_compressed(&dir.join(case["exe"].as_str().unwrap())).unwrap();
        let exe = object::File::parse(exe_map.bytes()).unwrap();
        let (regions, bytes) = dump.memory.stats();
        // Every segment is a mapping, dumped or not; the dumped bytes lie in them.
        assert!(dump.mappings.windows(2).all(|w| w[0].end() <= w[1].va), "{name}");
        for (va, len) in dump.memory.ranges() {
            let i = dump.mappings.partition_point(|m| m.end() <= va);
            let covered: u64 = dump.mappings[i..].iter().take_while(|m| m.va < va + len).map(|m| m.len).sum();
            assert!(dump.mappings[i].va <= va && covered >= len, "{name}: {va:#x}+{len:#x} in no mapping");
        }
        // The Go runtime reserves address space PROT_NONE; gdb writes it as readable.
        let none = dump.mappings.iter().filter(|m| !m.accessible()).count();
        assert_eq!(none > 0, case["dump_kind"] != "gcore", "{name}: {none} mappings without access");
        eprintln!(
            "{name}: {:?} {} threads, {regions} regions, {bytes} bytes, producer {:?}, exe {:?}, crash {:?}, open {took:?}",
            dump.arch,
            dump.threads.len(),
            dump.producer,
            dump.process.exe_path,
            dump.crash
        );
        assert_eq!(dump.arch.name(), case["goarch"].as_str().unwrap(), "{name}");
        assert!(dump.warnings.is_empty(), "{name}: {:?}", dump.warnings);
        let kind = case["dump_kind"].as_str().unwrap_or("");
        let producer = dump.producer.as_deref().unwrap();
        match kind {
            "kernel-core" => assert_eq!(producer, "kernel", "{name}"),
            "gcore" => assert_eq!(producer, "gdb (gcore)", "{name}"),
            "qemu-core" => assert_eq!(producer, "qemu-user", "{name}"),
            _ => {}
        }
        if kind == "gcore" {
            assert!(dump.crash.is_none(), "{name}: a gcore snapshot is not a crash");
        } else {
            // GOTRACEBACK=crash ends every fatal error with SIGABRT.
            let crash = dump.crash.as_ref().expect("crash info");
            assert_eq!(crash.signal, Some(6), "{name}");
            assert_eq!(crash.thread_id, dump.threads[0].tid);
        }
        let exe_path = dump.process.exe_path.as_deref().expect("exe path");
        assert!(!exe_path.is_empty());
        if producer != "qemu-user" {
            assert!(exe_path.starts_with('/'), "{name}: {exe_path}");
            assert!(!dump.modules.is_empty());
            assert!(dump.process.pid != 0 && !dump.process.name.is_empty());
        }

        // The executable's load bias (0 unless PIE), from AT_ENTRY.
        let at_entry = dump.auxv.iter().find(|a| a.0 == AT_ENTRY).expect("AT_ENTRY").1;
        let bias = at_entry.wrapping_sub(exe.entry());
        let text = exe.section_by_name(".text").expect(".text");
        let (lo, hi) = (text.address() + bias, text.address() + text.size() + bias);
        for t in &dump.threads {
            // Static Go binaries: every thread is in Go code (signal handler, futex, usleep…).
            assert!(lo <= t.regs.pc && t.regs.pc < hi, "{name}: tid {} pc {:#x}", t.tid, t.regs.pc);
            assert!(dump.memory.contains(t.regs.sp, 8), "{name}: tid {} sp not dumped", t.tid);
            assert!(t.regs.g != 0 && dump.memory.contains(t.regs.g, 8), "{name}: g register");
            assert_eq!(t.regs.all.len(), if dump.arch == Arch::Amd64 { 27 } else { 34 });
        }

        // runtime.buildVersion: its string header is in dumped data; its bytes are in rodata,
        // which a kernel core leaves out, so back the holes with the executable.
        let mut mem = dump.memory.clone();
        let fid = mem.add_file(exe_map.clone());
        for seg in exe.segments() {
            let (off, size) = seg.file_range();
            mem.fill_holes(seg.address() + bias, size, fid, off);
        }
        let sym = exe.symbols().find(|s| s.name() == Ok("runtime.buildVersion")).expect("symbol");
        let ptr = mem.read_u64(sym.address() + bias).unwrap();
        let len = mem.read_u64(sym.address() + bias + 8).unwrap();
        let s = mem.slice(ptr, len).expect("buildVersion bytes");
        assert_eq!(s, format!("go{}", case["go_version"].as_str().unwrap()).as_bytes(), "{name}");
    }
}
