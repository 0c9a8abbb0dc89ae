//! ELF and PE images: sections, symbols, build ids, preferred load address.
//! (to be written: see the exe helper's brief)

use std::path::Path;

use crate::dump::{Arch, MappedFile, Os};
use crate::Result;

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

pub struct Image {
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
}

impl Image {
    pub fn open(path: &Path) -> Result<Image> {
        let _ = path;
        todo!("exe::image::Image::open")
    }

    /// Address and size of a symbol (link-time address).
    pub fn symbol(&self, name: &str) -> Option<(u64, u64)> {
        self.symbols
            .binary_search_by(|(n, _, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| (self.symbols[i].1, self.symbols[i].2))
    }

    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// File bytes of a section, if it has any.
    pub fn section_data(&self, s: &Section) -> Option<&[u8]> {
        let (off, len) = s.file_range?;
        self.file.bytes().get(off as usize..(off + len) as usize)
    }

    /// Bytes at a link-time address, as the file holds them (initialised sections only).
    pub fn read_at(&self, addr: u64, len: u64) -> Option<&[u8]> {
        for s in &self.sections {
            if let Some((off, flen)) = s.file_range {
                if addr >= s.addr && addr + len <= s.addr + flen {
                    let o = (off + addr - s.addr) as usize;
                    return self.file.bytes().get(o..o + len as usize);
                }
            }
        }
        None
    }

    pub fn read_u64_at(&self, addr: u64) -> Option<u64> {
        self.read_at(addr, 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    }

    pub fn ptr_size(&self) -> u64 {
        8
    }
}
