//! Memory-mapped files. A compressed dump is decompressed once into an unlinked
//! temporary file, which is then mapped like any other: the dump is never read whole
//! into the heap.
//!
//! Hostile input is bounded here: only regular files are opened (a FIFO would block, a
//! device never ends); a compressed file must start, once decompressed, like what the caller
//! expects (a dump, an executable) or decompression stops at its first bytes; the output is
//! capped ([`InputLimits::max_decompressed`], and the free space of the temporary directory);
//! a decoder error (corrupt data, a failed checksum) is refused, while a compressed stream
//! that merely ends early is kept as a truncated file for the readers to report.

use std::fs::File;
use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::sync::Arc;

use memmap2::Mmap;

use crate::{Error, Result};

/// A read-only memory map, cheap to clone; or bytes held in memory (for tests and fuzzing).
#[derive(Clone)]
pub struct MappedFile {
    map: Arc<Backing>,
    /// Set when the file was decompressed from a compressed stream that ended early: what the
    /// stream held up to there.
    pub truncated_stream: Option<String>,
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

/// What a file is expected to be: a compressed file must decompress to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// An ELF core or a minidump (`\x7fELF`, `MDMP`).
    Dump,
    /// An ELF or PE executable (`\x7fELF`, `MZ`; `MDMP` too, so that a minidump given as the
    /// executable is named as such).
    Executable,
    /// Anything.
    Any,
}

impl Expect {
    fn accepts(self, head: &[u8]) -> bool {
        match self {
            Expect::Dump => head.starts_with(b"\x7fELF") || head.starts_with(b"MDMP"),
            Expect::Executable => {
                head.starts_with(b"\x7fELF") || head.starts_with(b"MZ") || head.starts_with(b"MDMP")
            }
            Expect::Any => true,
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Expect::Dump => "dump",
            Expect::Executable => "executable",
            Expect::Any => "file",
        }
    }

    fn unrecognised(self, path: &Path) -> Error {
        match self {
            Expect::Executable => Error::UnknownExeFormat(path.to_path_buf()),
            _ => Error::UnknownDumpFormat(path.to_path_buf()),
        }
    }
}

/// Bounds on decompressing a compressed input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputLimits {
    /// At most this many decompressed bytes (`--max-decompressed`); the free space of the
    /// temporary directory, less [`FREE_SPACE_MARGIN`], bounds it further.
    pub max_decompressed: u64,
}

/// The default `--max-decompressed`: 64 GiB. Bigger than the cores gomortem is used on (the
/// largest in our matrix is 1.2 GB, production Go processes rarely exceed tens of GiB), small
/// enough that a decompression bomb with a valid header stops within a minute instead of
/// filling the disk. A larger dump can be analysed with a larger limit, or decompressed first
/// (an uncompressed file is mapped in place, with no copy and no limit).
pub const DEFAULT_MAX_DECOMPRESSED: u64 = 64 << 30;

/// Free space left in the temporary directory when decompressing: 512 MiB.
pub const FREE_SPACE_MARGIN: u64 = 512 << 20;

impl Default for InputLimits {
    fn default() -> Self {
        InputLimits { max_decompressed: DEFAULT_MAX_DECOMPRESSED }
    }
}

/// A file size in words: `1 MiB`, `64 GiB`, `1234 bytes`.
pub fn human_size(n: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (m, u) in UNITS {
        if n >= m {
            return if n.is_multiple_of(m) {
                format!("{} {u}", n / m)
            } else {
                format!("{:.1} {u}", n as f64 / m as f64)
            };
        }
    }
    format!("{n} bytes")
}

enum Compression {
    Gzip,
    Xz,
    Zstd,
}

impl Compression {
    fn name(&self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
        }
    }
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

/// Refuse what is not a regular file, before opening it: opening a FIFO blocks until a writer
/// comes, and a device (`/dev/zero`) has no size and no end.
fn check_regular(path: &Path, expect: Expect) -> Result<()> {
    let md = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if md.is_file() {
        return Ok(());
    }
    Err(not_regular(path, &md.file_type(), expect))
}

fn not_regular(path: &Path, ft: &std::fs::FileType, expect: Expect) -> Error {
    let mut kind = if ft.is_dir() { "a directory" } else { "not a file" };
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            kind = "a FIFO";
        } else if ft.is_char_device() {
            kind = "a character device";
        } else if ft.is_block_device() {
            kind = "a block device";
        } else if ft.is_socket() {
            kind = "a socket";
        }
    }
    let what = match expect {
        Expect::Dump => "a dump file",
        Expect::Executable => "an executable file",
        Expect::Any => "a file",
    };
    Error::Other(format!(
        "{} is not a regular file ({kind}); gomortem needs {what} it can map",
        path.display()
    ))
}

/// Open for reading without ever blocking: should the path become a FIFO between the check
/// and the open, the open does not wait for a writer (the metadata check after it refuses it).
/// On a regular file O_NONBLOCK changes nothing.
fn open_nonblocking(path: &Path) -> Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    }
    o.open(path).map_err(|e| Error::io(path, e))
}

/// The compressed input as the decoder consumes it: counts the bytes consumed (where decoding
/// stands, for the error message), hands them out in small slices (so that the count is
/// precise to a slice), and tells a read error of the file from a decoder error.
struct Counting<R> {
    inner: R,
    state: std::rc::Rc<std::cell::Cell<InputState>>,
}

#[derive(Clone, Copy, Default)]
struct InputState {
    consumed: u64,
    io_failed: bool,
}

const SLICE: usize = 16 << 10;

impl<R: BufRead> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let src = self.fill_buf()?;
        let n = src.len().min(buf.len());
        buf[..n].copy_from_slice(&src[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counting<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        match self.inner.fill_buf() {
            Ok(b) => Ok(&b[..b.len().min(SLICE)]),
            Err(e) => {
                let mut s = self.state.get();
                s.io_failed = true;
                self.state.set(s);
                Err(e)
            }
        }
    }

    fn consume(&mut self, n: usize) {
        let mut s = self.state.get();
        s.consumed += n as u64;
        self.state.set(s);
        self.inner.consume(n);
    }
}

/// Bytes the file system holding `f` can still take from us; None where it cannot be told.
fn free_space(f: &File) -> Option<u64> {
    #[cfg(unix)]
    {
        let s = rustix::fs::fstatvfs(f).ok()?;
        Some(s.f_bavail.saturating_mul(s.f_frsize))
    }
    #[cfg(not(unix))]
    {
        let _ = f;
        None
    }
}

impl MappedFile {
    /// Map a regular file as it is.
    pub fn open(path: &Path) -> Result<MappedFile> {
        check_regular(path, Expect::Any)?;
        let f = open_nonblocking(path)?;
        Self::from_file(path, &f, Expect::Any)
    }

    fn from_file(path: &Path, f: &File, expect: Expect) -> Result<MappedFile> {
        let md = f.metadata().map_err(|e| Error::io(path, e))?;
        if !md.is_file() {
            return Err(not_regular(path, &md.file_type(), expect));
        }
        if md.len() == 0 {
            return Err(Error::malformed(path.display().to_string(), "file is empty"));
        }
        // SAFETY: the map is read-only; a dump or executable being modified while we
        // read it is outside what any post-mortem tool can defend against.
        let map = unsafe { Mmap::map(f) }.map_err(|e| Error::io(path, e))?;
        Ok(MappedFile { map: Arc::new(Backing::Map(map)), truncated_stream: None })
    }

    /// [`MappedFile::open_input`] expecting anything, with the default limits.
    pub fn open_maybe_compressed(path: &Path) -> Result<MappedFile> {
        Self::open_input(path, Expect::Any, &InputLimits::default())
    }

    /// Open a regular file; if it is gzip, xz or zstd compressed (recognised by its magic, not
    /// its name), decompress it into an anonymous temporary file and map that. The
    /// decompressed bytes must start as `expect` says (checked on the first bytes: a bomb of
    /// anything else stops there) and stay within `limits` and the temporary directory's free
    /// space. A corrupt stream is refused; one that ends early gives what it held, with
    /// [`MappedFile::truncated_stream`] set.
    pub fn open_input(path: &Path, expect: Expect, limits: &InputLimits) -> Result<MappedFile> {
        check_regular(path, expect)?;
        let mut f = open_nonblocking(path)?;
        let md = f.metadata().map_err(|e| Error::io(path, e))?;
        if !md.is_file() {
            return Err(not_regular(path, &md.file_type(), expect));
        }
        let mut head = [0u8; 6];
        let n = read_up_to(&mut f, &mut head).map_err(|e| Error::io(path, e))?;
        let Some(kind) = sniff(&head[..n]) else {
            return Self::from_file(path, &f, expect);
        };
        std::io::Seek::rewind(&mut f).map_err(|e| Error::io(path, e))?;
        let state = std::rc::Rc::new(std::cell::Cell::new(InputState::default()));
        let input = Counting { inner: std::io::BufReader::with_capacity(1 << 20, f), state: state.clone() };
        let dec: Box<dyn Read> = match kind {
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
            Compression::Xz => Box::new(xz2::bufread::XzDecoder::new_multi_decoder(input)),
            // libzstd verifies a frame's checksum when the frame has one (the `zstd` tool
            // writes one by default): a mismatch is a decoder error, refused below.
            Compression::Zstd => {
                Box::new(zstd::stream::read::Decoder::with_buffer(input).map_err(|e| Error::io(path, e))?)
            }
        };
        decompress(path, &kind, dec, &state, expect, limits)
    }

    /// Bytes held in memory, read like a mapped file (tests and fuzz targets build inputs so).
    pub fn from_vec(bytes: Vec<u8>) -> MappedFile {
        MappedFile { map: Arc::new(Backing::Owned(bytes)), truncated_stream: None }
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

/// Check the free space again after this many bytes written.
const SPACE_CHECK_EVERY: u64 = 256 << 20;

/// Decompress into an unlinked temporary file (nothing is left behind, whatever happens) and
/// map it.
fn decompress(
    path: &Path,
    kind: &Compression,
    mut dec: Box<dyn Read + '_>,
    state: &std::rc::Rc<std::cell::Cell<InputState>>,
    expect: Expect,
    limits: &InputLimits,
) -> Result<MappedFile> {
    let what = path.display().to_string();
    let tmp = tempfile::tempfile().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let tmp_dir = std::env::temp_dir();
    let room_now =
        |f: &File, written: u64| free_space(f).map(|free| written + free.saturating_sub(FREE_SPACE_MARGIN));
    let mut room = room_now(&tmp, 0);
    let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp);
    let mut buf = vec![0u8; 1 << 20];
    let mut head: Vec<u8> = Vec::with_capacity(4);
    let mut checked = expect == Expect::Any;
    let (mut total, mut since_check) = (0u64, 0u64);
    let failed = loop {
        let n = match dec.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => break Some(e),
        };
        let chunk = &buf[..n];
        if !checked {
            let take = (4 - head.len()).min(n);
            head.extend_from_slice(&chunk[..take]);
            if head.len() == 4 {
                if !expect.accepts(&head) {
                    return Err(expect.unrecognised(path));
                }
                checked = true;
            }
        }
        let after = total + n as u64;
        if after > limits.max_decompressed {
            return Err(Error::malformed(
                what,
                format!(
                    "decompresses to more than {} (the --max-decompressed limit); if this is a genuine \
                     {}, raise the limit (--max-decompressed SIZE, e.g. 256GiB) or decompress it first",
                    human_size(limits.max_decompressed),
                    expect.noun()
                ),
            ));
        }
        if let Some(r) = room.filter(|&r| after > r) {
            return Err(Error::malformed(
                what,
                format!(
                    "decompressing it needs more room than the temporary directory {} has ({} usable, \
                     keeping {} free); set TMPDIR to a larger file system, or decompress it first",
                    tmp_dir.display(),
                    human_size(r),
                    human_size(FREE_SPACE_MARGIN)
                ),
            ));
        }
        w.write_all(chunk).map_err(|e| Error::io(&tmp_dir, e))?;
        total = after;
        since_check += n as u64;
        if since_check >= SPACE_CHECK_EVERY {
            since_check = 0;
            room = room_now(w.get_ref(), total);
        }
    };
    let tmp = w.into_inner().map_err(|e| Error::io(&tmp_dir, e.into_error()))?;
    let mut truncated_stream = None;
    if let Some(e) = failed {
        let s = state.get();
        if s.io_failed {
            return Err(Error::io(path, e));
        }
        if e.kind() != std::io::ErrorKind::UnexpectedEof {
            return Err(Error::malformed(
                what,
                format!(
                    "the compressed {} is corrupt at byte {} ({}: {e}); it cannot be analysed",
                    expect.noun(),
                    s.consumed,
                    kind.name()
                ),
            ));
        }
        // A compressed stream that ends early: keep what was decompressed, if anything, so that
        // the dump reader can say what it holds; it will report the truncation.
        if total == 0 {
            return Err(Error::malformed(what, format!("cannot decompress: {e}")));
        }
        truncated_stream = Some(format!(
            "the compressed file ends early ({} {e} after {} compressed bytes): only its first {} \
             decompressed bytes are read",
            kind.name(),
            s.consumed,
            total
        ));
    }
    if !checked {
        return Err(expect.unrecognised(path));
    }
    let mut m = MappedFile::from_file(path, &tmp, Expect::Any)?;
    m.truncated_stream = truncated_stream;
    Ok(m)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF-looking payload: a header, then text that compresses, then noise that does not.
    fn payload() -> Vec<u8> {
        let mut v = b"\x7fELF\x02\x01\x01\0".to_vec();
        for i in 0..20_000u32 {
            v.extend_from_slice(format!("line {i} of a compressible payload\n").as_bytes());
        }
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.push(x as u8);
        }
        v
    }

    fn compress(kind: &str, data: &[u8]) -> Vec<u8> {
        match kind {
            "gz" => {
                let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                w.write_all(data).unwrap();
                w.finish().unwrap()
            }
            "xz" => {
                let mut w = xz2::write::XzEncoder::new(Vec::new(), 1);
                w.write_all(data).unwrap();
                w.finish().unwrap()
            }
            _ => {
                let mut w = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
                w.include_checksum(true).unwrap();
                w.write_all(data).unwrap();
                w.finish().unwrap()
            }
        }
    }

    fn open(bytes: &[u8], expect: Expect, max: u64) -> Result<MappedFile> {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), bytes).unwrap();
        MappedFile::open_input(f.path(), expect, &InputLimits { max_decompressed: max })
    }

    #[test]
    fn whole_corrupt_truncated() {
        let data = payload();
        for kind in ["gz", "xz", "zst"] {
            let z = compress(kind, &data);
            let m = open(&z, Expect::Dump, u64::MAX).unwrap();
            assert_eq!(m.bytes(), &data[..], "{kind}");
            assert!(m.truncated_stream.is_none());
            // Flipped in the compressible part, in the noise (stored as it is: only the checksum
            // tells), and in the trailer.
            for at in [z.len() / 8, z.len() * 3 / 4, z.len() - 2] {
                let mut bad = z.clone();
                bad[at] ^= 0x10;
                let e = open(&bad, Expect::Dump, u64::MAX).err().map(|e| e.to_string());
                assert!(
                    e.as_deref().is_some_and(|e| e.contains("the compressed dump is corrupt at byte ")),
                    "{kind} flipped at {at} of {}: {e:?}",
                    z.len()
                );
            }
            let cut = open(&z[..z.len() / 2], Expect::Dump, u64::MAX).unwrap();
            assert!(cut.len() < data.len() as u64 && data.starts_with(cut.bytes()), "{kind}");
            assert!(cut.truncated_stream.as_deref().is_some_and(|t| t.contains("ends early")), "{kind}");
        }
    }

    #[test]
    fn expected_format_and_limit() {
        let z = compress("zst", &payload());
        assert!(open(&z, Expect::Executable, u64::MAX).is_ok());
        let mut not_elf = payload();
        not_elf[..4].copy_from_slice(b"JUNK");
        let z2 = compress("gz", &not_elf);
        assert!(matches!(open(&z2, Expect::Executable, u64::MAX), Err(Error::UnknownExeFormat(_))));
        assert!(matches!(open(&z2, Expect::Dump, u64::MAX), Err(Error::UnknownDumpFormat(_))));
        assert!(open(&z2, Expect::Any, u64::MAX).is_ok());
        let e = open(&z, Expect::Dump, 100 << 10).err().unwrap().to_string();
        assert!(e.contains("more than 100 KiB (the --max-decompressed limit)"), "{e}");
        // Decompressing to nothing, or to less than a header.
        assert!(matches!(
            open(&compress("xz", b"\x7fE"), Expect::Dump, u64::MAX),
            Err(Error::UnknownDumpFormat(_))
        ));
    }

    #[test]
    fn not_regular() {
        let e = MappedFile::open_input(Path::new("/dev/null"), Expect::Dump, &InputLimits::default());
        let e = e.err().unwrap().to_string();
        assert!(e.contains("/dev/null is not a regular file (a character device)"), "{e}");
        let d = tempfile::tempdir().unwrap();
        let e = MappedFile::open(d.path()).err().unwrap().to_string();
        assert!(e.contains("(a directory)"), "{e}");
    }

    #[test]
    fn sizes_in_words() {
        assert_eq!(human_size(1 << 20), "1 MiB");
        assert_eq!(human_size(64 << 30), "64 GiB");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(12), "12 bytes");
    }
}
