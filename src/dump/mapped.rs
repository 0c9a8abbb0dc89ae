//! Memory-mapped files. A compressed dump is decompressed once into an unlinked
//! temporary file, which is then mapped like any other: the dump is never read whole
//! into the heap.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use memmap2::Mmap;

use crate::{Error, Result};

/// A read-only memory map, cheap to clone; or bytes held in memory (for tests and fuzzing).
#[derive(Clone)]
pub struct MappedFile {
    map: Arc<Backing>,
}

enum Backing {
    Map(Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Backing {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Backing::Map(m) => m,
            Backing::Owned(v) => v,
        }
    }
}

enum Compression {
    Gzip,
    Xz,
    Zstd,
}

fn sniff(head: &[u8]) -> Option<Compression> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some(Compression::Gzip)
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some(Compression::Xz)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Compression::Zstd)
    } else {
        None
    }
}

impl MappedFile {
    pub fn open(path: &Path) -> Result<MappedFile> {
        let f = File::open(path).map_err(|e| Error::io(path, e))?;
        Self::from_file(path, &f)
    }

    fn from_file(path: &Path, f: &File) -> Result<MappedFile> {
        let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
        if len == 0 {
            return Err(Error::malformed(path.display().to_string(), "file is empty"));
        }
        // SAFETY: the map is read-only; a dump or executable being modified while we
        // read it is outside what any post-mortem tool can defend against.
        let map = unsafe { Mmap::map(f) }.map_err(|e| Error::io(path, e))?;
        Ok(MappedFile { map: Arc::new(Backing::Map(map)) })
    }

    /// Open a file; if it is gzip, xz or zstd compressed (recognised by its magic, not its
    /// name), decompress it into an anonymous temporary file and map that.
    pub fn open_maybe_compressed(path: &Path) -> Result<MappedFile> {
        let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut head = [0u8; 6];
        let n = read_up_to(&mut f, &mut head).map_err(|e| Error::io(path, e))?;
        let Some(kind) = sniff(&head[..n]) else {
            return Self::from_file(path, &f);
        };
        let f = File::open(path).map_err(|e| Error::io(path, e))?;
        let reader = std::io::BufReader::with_capacity(1 << 20, f);
        let mut dec: Box<dyn Read> = match kind {
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
            Compression::Xz => Box::new(xz2::read::XzDecoder::new_multi_decoder(reader)),
            Compression::Zstd => {
                Box::new(zstd::stream::read::Decoder::with_buffer(reader).map_err(|e| Error::io(path, e))?)
            }
        };
        let tmp = tempfile::tempfile().map_err(|e| Error::io("temporary file", e))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp);
        let copied = std::io::copy(&mut dec, &mut w);
        let tmp = w.into_inner().map_err(|e| Error::io("temporary file", e.into_error()))?;
        if let Err(e) = copied {
            // A truncated compressed stream: keep what was decompressed, if anything, so that
            // the dump reader can say what it holds; it will report the truncation.
            if tmp.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
                return Err(Error::malformed(path.display().to_string(), format!("cannot decompress: {e}")));
            }
        }
        (&tmp).flush().ok();
        Self::from_file(path, &tmp)
    }

    /// Bytes held in memory, read like a mapped file (tests and fuzz targets build inputs so).
    pub fn from_vec(bytes: Vec<u8>) -> MappedFile {
        MappedFile { map: Arc::new(Backing::Owned(bytes)) }
    }

    /// The bytes given to [`Self::from_vec`] back, if this is their last holder.
    pub fn into_vec(self) -> Option<Vec<u8>> {
        match Arc::try_unwrap(self.map).ok()? {
            Backing::Owned(v) => Some(v),
            Backing::Map(_) => None,
        }
    }

    /// Ask the system to read `len` bytes from `offset` into its page cache, in the
    /// background: for a dump not yet cached, what will be read soon arrives in large reads
    /// instead of one page fault at a time. A hint: errors are ignored, and it does nothing
    /// off Unix.
    pub fn will_need(&self, offset: u64, len: u64) {
        let total = self.map.len() as u64;
        if offset >= total {
            return;
        }
        #[cfg(unix)]
        if let Backing::Map(map) = &*self.map {
            let len = len.min(total - offset);
            let _ = map.advise_range(memmap2::Advice::WillNeed, offset as usize, len as usize);
        }
        #[cfg(not(unix))]
        let _ = len;
    }

    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    pub fn len(&self) -> u64 {
        self.map.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}
