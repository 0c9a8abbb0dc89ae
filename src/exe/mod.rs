//! Layer 2: the executable.
//!
//! Everything here works in the executable's own *link-time* (preferred) addresses; the
//! runtime layer applies the load bias (PIE, ASLR) when it pairs the executable with a dump.
//! Nothing here reads the dump.

pub mod buildinfo;
pub mod dwarf;
pub mod image;
pub mod pclntab;

use std::path::{Path, PathBuf};

pub use buildinfo::BuildInfo;
pub use dwarf::Dwarf;
pub use image::{ExeFormat, Image, Section};
pub use pclntab::{Func, Pclntab, SourceFrame};

use crate::Result;

/// A Go executable: its image (sections, symbols), build info, pclntab, and DWARF if present.
#[derive(Clone)]
pub struct Executable {
    pub path: PathBuf,
    pub image: Image,
    pub build_info: BuildInfo,
    pub pclntab: Pclntab,
    /// None when the binary was built with `-ldflags=-w` or stripped, or when its DWARF is
    /// corrupt (then [`Executable::dwarf_error`] says why).
    pub dwarf: Option<Dwarf>,
    /// Why the DWARF the executable has could not be read (a corrupt section): the error
    /// naming the section.
    pub dwarf_error: Option<String>,
    /// Soft errors met while reading (e.g. DWARF present but unreadable); the CLI prints them.
    pub warnings: Vec<String>,
}

impl Executable {
    pub fn open(path: &Path) -> Result<Executable> {
        Executable::open_with(path, &crate::dump::InputLimits::default())
    }

    /// [`Executable::open`], decompressing within `limits`.
    pub fn open_with(path: &Path, limits: &crate::dump::InputLimits) -> Result<Executable> {
        Self::from_image(Image::open_with(path, limits)?)
    }

    /// Build info, pclntab and DWARF of an image already read.
    pub fn from_image(image: Image) -> Result<Executable> {
        let path = image.path.clone();
        let path = path.as_path();
        let build_info = BuildInfo::read(&image).map_err(|e| match e {
            crate::Error::NotGo(m) => crate::Error::NotGo(format!("{}: {m}", path.display())),
            e => e,
        })?;
        let pclntab = Pclntab::from_image(&image, &build_info)?;
        let mut warnings = Vec::new();
        let mut dwarf_error = None;
        let dwarf = match Dwarf::load(&image) {
            Ok(d) => d,
            Err(e) => {
                warnings.push(format!("the executable's DWARF is corrupt, continuing without it: {e}"));
                dwarf_error = Some(e.to_string());
                None
            }
        };
        Ok(Executable { path: path.to_path_buf(), image, build_info, pclntab, dwarf, dwarf_error, warnings })
    }
}
