//! ELF and PE images: sections, symbols, build ids, preferred load address.
//!
//! Everything is parsed once in [`Image::open`] with the `object` crate and kept as plain
//! owned tables; section bytes are borrowed from the memory map on demand.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use object::elf;
use object::pe;
use object::read::elf::{FileHeader, ProgramHeader};
use object::read::pe::{ImageNtHeaders, ImageOptionalHeader};
use object::{Object, ObjectSection, ObjectSymbol, SectionFlags, SymbolKind};

use crate::bytes::Cursor;
use crate::dump::{Arch, MappedFile, Os};
use crate::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExeFormat {
    Elf,
    Pe,
}

#[derive(Clone, Debug)]
pub struct Section {
    pub name: String,
    /// Link-time virtual address (for PE: ImageBase + RVA).
    pub addr: u64,
    /// Size in memory.
    pub size: u64,
    /// Where the section's bytes lie in the file (None for NOBITS/.bss or uninitialised data).
    pub file_range: Option<(u64, u64)>,
    /// True if the section occupies memory at run time (SHF_ALLOC / not discardable).
    pub alloc: bool,
}

#[derive(Clone)]
pub struct Image {
    /// The path the image was opened from.
    pub path: std::path::PathBuf,
    pub file: MappedFile,
    pub format: ExeFormat,
    pub os: Os,
    pub arch: Arch,
    /// ELF: lowest PT_LOAD vaddr (page aligned); PE: OptionalHeader.ImageBase.
    pub preferred_base: u64,
    /// ELF ET_DYN (PIE) or PE with DYNAMIC_BASE: the load address may differ from the preferred one.
    pub relocatable: bool,
    pub entry: u64,
    pub sections: Vec<Section>,
    /// Symbols with addresses, sorted by name for lookup (ELF .symtab, PE COFF symbol table).
    symbols: Vec<(String, u64, u64)>,
    /// Go build ID (`.note.go.buildid` in ELF; the `\xff Go build ID: "..."` string in PE text).
    pub go_build_id: Option<String>,
    /// GNU build ID (ELF NT_GNU_BUILD_ID), hex, if present.
    pub gnu_build_id: Option<String>,
    /// File-backed ranges the loader maps: (link-time va, length, file offset).
    loadable: Vec<(u64, u64, u64)>,
    /// The address space the loaded image takes, file-backed or not (bss): link-time
    /// `[start, end)`, page aligned. ELF: each PT_LOAD's `p_memsz`; PE: `SizeOfImage` from
    /// `ImageBase`.
    pub extent: Vec<(u64, u64)>,
}

/// Page size used to round the ELF preferred base (the smallest page of our targets).
const PAGE: u64 = 0x1000;

impl Image {
    /// Open an ELF or PE executable (possibly gzip/xz/zstd compressed).
    pub fn open(path: &Path) -> Result<Image> {
        Image::open_with(path, &crate::dump::InputLimits::default())
    }

    /// [`Image::open`], decompressing within `limits`.
    pub fn open_with(path: &Path, limits: &crate::dump::InputLimits) -> Result<Image> {
        Self::from_file(path, MappedFile::open_input(path, crate::dump::Expect::Executable, limits)?)
    }

    /// Read an executable from bytes already mapped (or held in memory); `path` names it.
    pub fn from_file(path: &Path, file: MappedFile) -> Result<Image> {
        let what = path.display().to_string();
        let data = file.bytes();
        if data.starts_with(b"MDMP") {
            return Err(Error::Unsupported(format!(
                "{what} is a Windows minidump, not an executable: pass it as the dump"
            )));
        }
        let kind = object::FileKind::parse(data).map_err(|_| Error::UnknownExeFormat(path.to_path_buf()))?;
        let obj = match kind {
            object::FileKind::Elf64 | object::FileKind::Pe64 => object::File::parse(data)
                .map_err(|e| Error::malformed(&what, format!("cannot parse executable: {e}")))?,
            object::FileKind::Elf32 | object::FileKind::Pe32 => {
                return Err(Error::Unsupported(format!(
                    "{what}: 32-bit executables are not supported (only amd64 and arm64)"
                )))
            }
            _ => return Err(Error::UnknownExeFormat(path.to_path_buf())),
        };
        if let object::File::Elf64(elf) = &obj {
            if elf.elf_header().e_type(elf.endian()) == elf::ET_CORE {
                return Err(Error::Unsupported(format!(
                    "{what} is a core file, not an executable: pass it as the dump, and the Go program as the executable"
                )));
            }
        }
        let arch = match obj.architecture() {
            object::Architecture::X86_64 => Arch::Amd64,
            object::Architecture::Aarch64 => Arch::Arm64,
            a => {
                return Err(Error::Unsupported(format!(
                    "{what}: architecture {a:?} is not supported (only amd64 and arm64)"
                )))
            }
        };

        let sections = read_sections(&obj, &what)?;
        let mut image = Image {
            format: ExeFormat::Elf,
            os: Os::Linux,
            arch,
            preferred_base: 0,
            relocatable: false,
            entry: obj.entry(),
            sections,
            symbols: read_symbols(&obj),
            go_build_id: None,
            gnu_build_id: None,
            loadable: Vec::new(),
            extent: Vec::new(),
            file: file.clone(),
            path: path.to_path_buf(),
        };
        match &obj {
            object::File::Elf64(elf) => {
                let endian = elf.endian();
                let hdr = elf.elf_header();
                match hdr.e_type(endian) {
                    elf::ET_EXEC => {}
                    elf::ET_DYN => image.relocatable = true,
                    t => return Err(Error::malformed(&what, format!("ELF type {t} is not an executable"))),
                }
                for ph in elf.elf_program_headers() {
                    if ph.p_type(endian) == elf::PT_LOAD {
                        let (va, off) = (ph.p_vaddr(endian), ph.p_offset(endian));
                        image.loadable.push((va, ph.p_filesz(endian), off));
                        let end =
                            va.saturating_add(ph.p_memsz(endian)).saturating_add(PAGE - 1) & !(PAGE - 1);
                        image.extent.push((va & !(PAGE - 1), end));
                    }
                }
                image.preferred_base =
                    image.loadable.iter().map(|l| l.0).min().map_or(0, |v| v & !(PAGE - 1));
                image.go_build_id = image.section(".note.go.buildid").and_then(|s| {
                    let d = image.section_data(s)?;
                    elf_note(d, b"Go", 4).map(|d| String::from_utf8_lossy(trim_nul(d)).into_owned())
                });
                image.gnu_build_id =
                    obj.build_id().ok().flatten().map(|b| b.iter().map(|x| format!("{x:02x}")).collect());
            }
            object::File::Pe64(pe) => {
                image.format = ExeFormat::Pe;
                image.os = Os::Windows;
                let opt = pe.nt_headers().optional_header();
                image.preferred_base = opt.image_base();
                image.relocatable =
                    opt.dll_characteristics() & pe::IMAGE_DLLCHARACTERISTICS_DYNAMIC_BASE != 0;
                let hdr_len = u64::from(opt.size_of_headers()).min(file.len());
                image.extent.push((
                    image.preferred_base,
                    image.preferred_base.saturating_add(opt.size_of_image().into()),
                ));
                image.loadable.push((image.preferred_base, hdr_len, 0));
                for s in image.sections.iter().filter(|s| s.alloc) {
                    if let Some((off, len)) = s.file_range {
                        image.loadable.push((s.addr, len, off));
                    }
                }
                image.go_build_id =
                    image.section(".text").and_then(|s| image.section_data(s)).and_then(pe_go_build_id);
            }
            _ => return Err(Error::UnknownExeFormat(path.to_path_buf())),
        }
        Ok(image)
    }

    /// Address and size of a symbol (link-time address).
    pub fn symbol(&self, name: &str) -> Option<(u64, u64)> {
        self.symbols
            .binary_search_by(|(n, _, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| (self.symbols[i].1, self.symbols[i].2))
    }

    /// All symbols as (name, address, size), sorted by name.
    pub fn symbols(&self) -> impl Iterator<Item = (&str, u64, u64)> + '_ {
        self.symbols.iter().map(|(n, a, s)| (n.as_str(), *a, *s))
    }

    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// File bytes of a section, if it has any.
    pub fn section_data(&self, s: &Section) -> Option<&[u8]> {
        let (off, len) = s.file_range?;
        let end = off.checked_add(len)?;
        self.file.bytes().get(usize::try_from(off).ok()?..usize::try_from(end).ok()?)
    }

    /// The contents of a section, decompressed if needed: ELF `SHF_COMPRESSED` sections, and
    /// the `.zdebug_*` form (`"ZLIB"` + 8-byte big-endian size + zlib stream) that Go writes in
    /// PE files. Asking for `.debug_info` also finds `.zdebug_info`. None if there is no such
    /// section or it has no file bytes.
    pub fn decompressed_section(&self, name: &str) -> Result<Option<Cow<'_, [u8]>>> {
        let zname = name.strip_prefix(".debug_").map(|rest| format!(".zdebug_{rest}"));
        let Some(sec) = self.section(name).or_else(|| zname.as_deref().and_then(|z| self.section(z))) else {
            return Ok(None);
        };
        let Some(raw) = self.section_data(sec) else {
            return Ok(None);
        };
        if let (true, Ok(size)) = (raw.starts_with(b"ZLIB"), crate::bytes::u64_be_at(raw, 4)) {
            return inflate(&raw[12..], size, &sec.name).map(|v| Some(Cow::Owned(v)));
        }
        if self.format == ExeFormat::Elf {
            let obj = object::File::parse(self.file.bytes())
                .map_err(|e| Error::malformed("executable", e.to_string()))?;
            if let Some(s) = obj.section_by_name(&sec.name) {
                return s
                    .uncompressed_data()
                    .map(Some)
                    .map_err(|e| Error::malformed(format!("section {}", sec.name), e.to_string()));
            }
        }
        Ok(Some(Cow::Borrowed(raw)))
    }

    /// Bytes at a link-time address, as the file holds them (initialised, allocated sections
    /// only).
    pub fn read_at(&self, addr: u64, len: u64) -> Option<&[u8]> {
        let end = addr.checked_add(len)?;
        for s in self.sections.iter().filter(|s| s.alloc) {
            if let Some((off, flen)) = s.file_range {
                if addr >= s.addr && end <= s.addr.saturating_add(flen) {
                    let o = usize::try_from(off + (addr - s.addr)).ok()?;
                    return self.file.bytes().get(o..o.checked_add(usize::try_from(len).ok()?)?);
                }
            }
        }
        None
    }

    pub fn read_u64_at(&self, addr: u64) -> Option<u64> {
        crate::bytes::u64_at(self.read_at(addr, 8)?, 0).ok()
    }

    pub fn ptr_size(&self) -> u64 {
        8
    }

    /// The file-backed ranges the loader maps, as (link-time va, length, file offset):
    /// ELF PT_LOAD (p_vaddr, p_filesz, p_offset); PE the headers, then each non-discardable
    /// section's raw data at ImageBase+RVA. Use it to pair the image with a dump and to back
    /// memory the dump omits (text, rodata).
    pub fn loadable(&self) -> Vec<(u64, u64, u64)> {
        self.loadable.clone()
    }

    /// The `.text` section as [start, end) in link-time addresses; (0, 0) if there is none.
    pub fn text_range(&self) -> (u64, u64) {
        self.section(".text").map_or((0, 0), |s| (s.addr, s.addr.saturating_add(s.size)))
    }
}

fn read_sections(obj: &object::File<'_>, what: &str) -> Result<Vec<Section>> {
    let mut out = Vec::new();
    for s in obj.sections() {
        let name =
            s.name().map_err(|e| Error::malformed(what, format!("bad section name: {e}")))?.to_string();
        let alloc = match s.flags() {
            SectionFlags::Elf { sh_flags } => sh_flags & u64::from(elf::SHF_ALLOC) != 0,
            SectionFlags::Coff { characteristics } => characteristics & pe::IMAGE_SCN_MEM_DISCARDABLE == 0,
            _ => false,
        };
        if name.is_empty() && s.size() == 0 {
            continue; // the ELF null section
        }
        out.push(Section { name, addr: s.address(), size: s.size(), file_range: s.file_range(), alloc });
    }
    Ok(out)
}

/// Defined, named symbols with addresses, sorted by (name, address). PE COFF symbols carry no
/// size: each gets the distance to the next symbol of its section (or the section end).
fn read_symbols(obj: &object::File<'_>) -> Vec<(String, u64, u64)> {
    let mut syms: Vec<(String, u64, u64, usize)> = Vec::new();
    for s in obj.symbols() {
        if s.is_undefined() || matches!(s.kind(), SymbolKind::Section | SymbolKind::File) {
            continue;
        }
        let Some(sec) = s.section_index() else {
            continue;
        };
        match s.name() {
            Ok(n) if !n.is_empty() => syms.push((n.to_string(), s.address(), s.size(), sec.0)),
            _ => {}
        }
    }
    if matches!(obj, object::File::Pe64(_)) {
        syms.sort_by_key(|s| (s.3, s.1));
        for i in 0..syms.len() {
            let end = match syms.get(i + 1) {
                Some(n) if n.3 == syms[i].3 => n.1,
                _ => obj
                    .section_by_index(object::SectionIndex(syms[i].3))
                    .map_or(syms[i].1, |s| s.address().saturating_add(s.size())),
            };
            syms[i].2 = end.saturating_sub(syms[i].1);
        }
    }
    let mut out: Vec<(String, u64, u64)> = syms.into_iter().map(|(n, a, s, _)| (n, a, s)).collect();
    out.sort();
    out
}

/// The descriptor of the first ELF note with the given owner and type.
fn elf_note<'a>(d: &'a [u8], owner: &[u8], ntype: u32) -> Option<&'a [u8]> {
    let align4 = |n: usize| n.checked_add(3).map(|v| v & !3);
    let mut c = Cursor::new(d);
    while c.remaining() >= 12 {
        let (namesz, descsz, t) = (c.u32().ok()? as usize, c.u32().ok()? as usize, c.u32().ok()?);
        let name = c.sub(c.offset(), namesz).ok()?.rest();
        c.skip(align4(namesz)?).ok()?;
        let desc = c.sub(c.offset(), descsz).ok()?.rest();
        if t == ntype && trim_nul(name) == owner {
            return Some(desc);
        }
        c.skip(align4(descsz)?).ok()?;
    }
    None
}

fn trim_nul(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., 0] = b {
        b = rest;
    }
    b
}

/// The Go build ID at the start of a PE text section: `\xff Go build ID: "<id>"\n \xff`.
fn pe_go_build_id(text: &[u8]) -> Option<String> {
    const MAGIC: &[u8] = b"\xff Go build ID: \"";
    let head = text.get(..text.len().min(4096))?;
    let start = head.windows(MAGIC.len()).position(|w| w == MAGIC)? + MAGIC.len();
    let len = head.get(start..)?.iter().position(|&b| b == b'"')?;
    Some(String::from_utf8_lossy(&head[start..start + len]).into_owned())
}

/// Inflate a zlib stream that should yield `size` bytes.
fn inflate(z: &[u8], size: u64, name: &str) -> Result<Vec<u8>> {
    let bad = |m: String| Error::malformed(format!("section {name}"), m);
    if size > 1 << 32 {
        return Err(bad(format!("implausible uncompressed size {size}")));
    }
    // zlib cannot expand more than ~1032:1: a larger size is a corrupt header.
    if size > (z.len() as u64).saturating_mul(1100).saturating_add(64) {
        return Err(bad(format!("uncompressed size {size} is implausible for {} bytes", z.len())));
    }
    let mut out = Vec::new();
    out.try_reserve_exact(size as usize).map_err(|e| bad(format!("cannot allocate {size} bytes: {e}")))?;
    flate2::read::ZlibDecoder::new(z)
        .take(size)
        .read_to_end(&mut out)
        .map_err(|e| bad(format!("cannot decompress: {e}")))?;
    if out.len() as u64 != size {
        return Err(bad(format!("decompressed to {} bytes, header says {size}", out.len())));
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::path::PathBuf;

    /// Fixture executables: `$GOMORTEM_FIXTURES` (default `fixtures/cache`) laid out as
    /// `<dir>/go<ver>/<platform>/<scenario>/exe`, plus `fixtures/committed/*/exe.xz`.
    /// Returns (go version dir, platform, path), sorted.
    pub(crate) fn fixture_exes() -> Vec<(String, String, PathBuf)> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let cache = std::env::var_os("GOMORTEM_FIXTURES")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("fixtures/cache"));
        let mut out = Vec::new();
        let dirs = |p: &Path| -> Vec<PathBuf> {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect())
                .unwrap_or_default();
            v.sort();
            v
        };
        let fname = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for ver in dirs(&cache) {
            for plat in dirs(&ver) {
                for scen in dirs(&plat) {
                    for name in ["exe", "exe.exe", "exe.xz"] {
                        let p = scen.join(name);
                        if p.is_file() {
                            out.push((fname(&ver), fname(&plat), p));
                            break;
                        }
                    }
                }
            }
        }
        for d in dirs(&root.join("fixtures/committed")) {
            let p = d.join("exe.xz");
            if p.is_file() {
                out.push(("committed".into(), fname(&d), p));
            }
        }
        if out.is_empty() {
            eprintln!(
                "note: no fixture executables under {} or fixtures/committed: skipping",
                cache.display()
            );
        }
        out
    }

    #[test]
    fn open_fixtures() {
        for (ver, plat, path) in fixture_exes() {
            let img = Image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let text = img.text_range();
            assert!(text.0 < text.1, "{ver}/{plat}: no text");
            assert!(img.go_build_id.is_some(), "{ver}/{plat}: no Go build id");
            assert!(!img.loadable().is_empty());
            assert!(img.entry >= text.0 && img.entry < text.1, "{ver}/{plat}: entry outside text");
            if plat.contains("windows") {
                assert_eq!((img.format, img.os), (ExeFormat::Pe, Os::Windows));
                assert!(img.relocatable);
            } else if plat.contains("linux") {
                assert_eq!((img.format, img.os), (ExeFormat::Elf, Os::Linux));
            }
            if plat.contains("arm64") {
                assert_eq!(img.arch, Arch::Arm64);
            } else if plat.contains("amd64") {
                assert_eq!(img.arch, Arch::Amd64);
            }
            // Unstripped Go binaries name their pclntab; both formats resolve it into a section.
            if let Some((a, _)) = img.symbol("runtime.pclntab") {
                assert!(img.read_at(a, 8).is_some(), "{ver}/{plat}: pclntab not readable");
            }
        }
    }

    fn temp_with(bytes: &[u8]) -> tempfile::NamedTempFile {
        use std::io::Write;
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    #[test]
    fn garbage_and_truncated() {
        let g = temp_with(b"this is not an executable at all, just text");
        assert!(matches!(Image::open(g.path()), Err(Error::UnknownExeFormat(_))));
        let mut elf = vec![0u8; 40];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        let t = temp_with(&elf);
        assert!(matches!(Image::open(t.path()), Err(Error::Malformed { .. })));
        let m = temp_with(b"MDMP\x93\xa7\0\0");
        assert!(Image::open(m.path()).err().unwrap().to_string().contains("minidump"));
        let mut core = vec![0u8; 64];
        core[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
        core[16] = 4; // ET_CORE
        core[18] = 62; // EM_X86_64
        core[20] = 1; // EV_CURRENT
        core[52] = 64; // e_ehsize
        let c = temp_with(&core);
        let err = Image::open(c.path()).err().unwrap().to_string();
        assert!(err.contains("is a core file"), "{err}");
        let mut pe = vec![0u8; 128];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3c] = 0x40;
        pe[0x40..0x44].copy_from_slice(b"PE\0\0");
        let p = temp_with(&pe);
        assert!(Image::open(p.path()).is_err());
    }

    #[test]
    fn notes_and_build_ids() {
        let mut n = Vec::new();
        for (name, t, desc) in [(&b"GNU\0"[..], 3u32, &b"abcd"[..]), (b"Go\0\0", 4, b"xyz\0")] {
            n.extend_from_slice(&4u32.to_le_bytes());
            n.extend_from_slice(&(desc.len() as u32).to_le_bytes());
            n.extend_from_slice(&t.to_le_bytes());
            n.extend_from_slice(name);
            n.extend_from_slice(desc);
        }
        assert_eq!(elf_note(&n, b"Go", 4), Some(&b"xyz\0"[..]));
        assert_eq!(elf_note(&n, b"Go", 5), None);
        assert_eq!(elf_note(&n[..20], b"Go", 4), None);
        assert_eq!(pe_go_build_id(b"\xff Go build ID: \"ab/cd\"\n \xff"), Some("ab/cd".into()));
        assert_eq!(pe_go_build_id(b"\xff Go build ID: \"unterminated"), None);
        assert!(inflate(b"not zlib", 10, "x").is_err());
    }
}
