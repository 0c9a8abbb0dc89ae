//! (to be written)
use std::path::Path;
use super::{Dump, MappedFile};
use crate::Result;

pub fn read(path: &Path, file: MappedFile) -> Result<Dump> {
    let _ = (path, file);
    todo!("dump::minidump::read")
}
