//! pclntab (Go 1.20+ format, magic 0xfffffff1): function table, pc-value tables, file/line,
//! inlined frames. Works without DWARF and without symbols.
//! (to be written)

use super::{BuildInfo, Image};
use crate::Result;

pub struct Pclntab {}

/// A function found in the table. Cheap handle: copy it around.
#[derive(Clone, Copy, Debug)]
pub struct Func {
    /// Offset of the `_func` record within the pclntab's `pclntable` section.
    pub(crate) off: u32,
    /// Entry point, link-time address.
    pub entry: u64,
}

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
}

impl Pclntab {
    pub fn from_image(image: &Image, build: &BuildInfo) -> Result<Pclntab> {
        let _ = (image, build);
        todo!("exe::pclntab::Pclntab::from_image")
    }
}
