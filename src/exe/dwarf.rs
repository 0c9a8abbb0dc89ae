//! DWARF (4 and 5, compressed or not): struct layouts, constants and global variables.
//! (to be written)

use super::Image;
use crate::Result;

pub struct Dwarf {}

impl Dwarf {
    /// None if the image has no DWARF (`-w`, stripped).
    pub fn load(image: &Image) -> Result<Option<Dwarf>> {
        let _ = image;
        todo!("exe::dwarf::Dwarf::load")
    }
}
