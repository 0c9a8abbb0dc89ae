//! Bounds-checked reads over borrowed bytes, for every parser of dump and executable formats.
//!
//! A [`Cursor`] is a zero-copy view of a byte slice with a position, in the spirit of gimli's
//! `Reader`: every read is little-endian, checks its bounds with checked arithmetic and returns
//! an [`OutOfBounds`] error past the end, never a panic and never a made-up 0. The random-access
//! helpers ([`u16_at`], [`u32_at`], [`u64_at`], [`bytes_at`]) do the same at a fixed offset.
//!
//! The error says what was read, where, and how long the data is; [`OutOfBounds::context`] (or
//! [`ResultExt::context`]) turns it into [`crate::Error::Malformed`] naming the file.

use std::fmt;

/// A read past the end of the data (or at an offset that overflows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfBounds {
    /// What was being read ("u32", "bytes", "uvarint" …, or a field name given by the caller).
    pub what: &'static str,
    /// Offset of the read within the data (saturated when it overflowed).
    pub offset: u64,
    /// Bytes wanted.
    pub wanted: u64,
    /// Length of the data.
    pub len: u64,
}

impl fmt::Display for OutOfBounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.what == "uvarint" && self.wanted == 0 {
            return write!(f, "uvarint at {:#x} overflows 64 bits", self.offset);
        }
        write!(
            f,
            "{} at {:#x} (+{:#x}) is past the end of the data ({:#x} bytes)",
            self.what, self.offset, self.wanted, self.len
        )
    }
}

impl std::error::Error for OutOfBounds {}

impl OutOfBounds {
    /// The error as [`crate::Error::Malformed`] of `what` (a file, a stream, a table).
    pub fn context(self, what: impl Into<String>) -> crate::Error {
        crate::Error::malformed(what, self.to_string())
    }
}

pub type Result<T> = std::result::Result<T, OutOfBounds>;

/// `.context(what)` on a [`Result`] of this module.
pub trait ResultExt<T> {
    fn context(self, what: impl Into<String>) -> crate::Result<T>;
}

impl<T> ResultExt<T> for Result<T> {
    fn context(self, what: impl Into<String>) -> crate::Result<T> {
        self.map_err(|e| e.context(what))
    }
}

#[inline]
fn oob(what: &'static str, offset: usize, wanted: usize, len: usize) -> OutOfBounds {
    OutOfBounds { what, offset: offset as u64, wanted: wanted as u64, len: len as u64 }
}

/// `n` bytes at `off` of `b`.
#[inline]
pub fn bytes_at(b: &[u8], off: usize, n: usize) -> Result<&[u8]> {
    off.checked_add(n).and_then(|end| b.get(off..end)).ok_or_else(|| oob("bytes", off, n, b.len()))
}

/// `n` bytes at a 64-bit offset of `b` (a file offset read from the file).
#[inline]
pub fn bytes_at_u64(b: &[u8], off: u64, n: u64) -> Result<&[u8]> {
    match (usize::try_from(off), usize::try_from(n)) {
        (Ok(o), Ok(n)) => bytes_at(b, o, n),
        _ => Err(OutOfBounds { what: "bytes", offset: off, wanted: n, len: b.len() as u64 }),
    }
}

#[inline]
fn array_at<const N: usize>(b: &[u8], off: usize, what: &'static str) -> Result<[u8; N]> {
    match off.checked_add(N).and_then(|end| b.get(off..end)) {
        Some(s) => {
            let mut a = [0u8; N];
            a.copy_from_slice(s);
            Ok(a)
        }
        None => Err(oob(what, off, N, b.len())),
    }
}

/// A little-endian u8 at `off` of `b`.
#[inline]
pub fn u8_at(b: &[u8], off: usize) -> Result<u8> {
    b.get(off).copied().ok_or_else(|| oob("u8", off, 1, b.len()))
}
/// A little-endian u16 at `off` of `b`.
#[inline]
pub fn u16_at(b: &[u8], off: usize) -> Result<u16> {
    array_at(b, off, "u16").map(u16::from_le_bytes)
}
/// A little-endian u32 at `off` of `b`.
#[inline]
pub fn u32_at(b: &[u8], off: usize) -> Result<u32> {
    array_at(b, off, "u32").map(u32::from_le_bytes)
}
/// A little-endian u64 at `off` of `b`.
#[inline]
pub fn u64_at(b: &[u8], off: usize) -> Result<u64> {
    array_at(b, off, "u64").map(u64::from_le_bytes)
}
/// A big-endian u64 at `off` of `b` (the `.zdebug_*` header's size).
#[inline]
pub fn u64_be_at(b: &[u8], off: usize) -> Result<u64> {
    array_at(b, off, "u64").map(u64::from_be_bytes)
}

/// A zero-copy reader over borrowed bytes with a position.
#[derive(Clone, Copy, Debug)]
pub struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Cursor { data, pos: 0 }
    }

    /// A cursor over `data` positioned at `offset` (an error past the end).
    pub fn at(data: &'a [u8], offset: usize) -> Result<Self> {
        let mut c = Cursor::new(data);
        c.seek(offset)?;
        Ok(c)
    }

    /// The whole data this cursor reads.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The position, from the start of the data.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Bytes left after the position.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The bytes left, not consumed.
    pub fn rest(&self) -> &'a [u8] {
        &self.data[self.pos..]
    }

    /// Move to `offset` from the start (at most the end of the data).
    pub fn seek(&mut self, offset: usize) -> Result<()> {
        if offset > self.data.len() {
            return Err(oob("seek", offset, 0, self.data.len()));
        }
        self.pos = offset;
        Ok(())
    }

    /// Skip `n` bytes.
    pub fn skip(&mut self, n: usize) -> Result<()> {
        self.bytes(n).map(|_| ())
    }

    /// The next `n` bytes, borrowed.
    #[inline]
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let s = bytes_at(self.data, self.pos, n)?;
        self.pos += n;
        Ok(s)
    }

    /// A cursor over the next `n` bytes (consumed from this one).
    pub fn split(&mut self, n: usize) -> Result<Cursor<'a>> {
        self.bytes(n).map(Cursor::new)
    }

    /// A cursor over `len` bytes at `offset` from the start of the data (this one unmoved).
    pub fn sub(&self, offset: usize, len: usize) -> Result<Cursor<'a>> {
        bytes_at(self.data, offset, len).map(Cursor::new)
    }

    #[inline]
    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let a = array_at(self.data, self.pos, what)?;
        self.pos += N;
        Ok(a)
    }

    #[inline]
    pub fn u8(&mut self) -> Result<u8> {
        let v = u8_at(self.data, self.pos)?;
        self.pos += 1;
        Ok(v)
    }
    #[inline]
    pub fn u16(&mut self) -> Result<u16> {
        self.array("u16").map(u16::from_le_bytes)
    }
    #[inline]
    pub fn u32(&mut self) -> Result<u32> {
        self.array("u32").map(u32::from_le_bytes)
    }
    #[inline]
    pub fn u64(&mut self) -> Result<u64> {
        self.array("u64").map(u64::from_le_bytes)
    }

    /// An unsigned LEB128 varint (Go's `uvarint`), at most 10 bytes; an error if it runs past
    /// the end or does not fit 64 bits. The position is unmoved on error.
    pub fn uvarint(&mut self) -> Result<u64> {
        let start = self.pos;
        let mut v = 0u64;
        for i in 0..10usize {
            let Some(&byte) = self.data.get(start + i) else {
                return Err(oob("uvarint", start, i + 1, self.data.len()));
            };
            let bits = u64::from(byte & 0x7f);
            // The 10th byte holds bit 63 only.
            if i == 9 && byte > 1 {
                return Err(OutOfBounds {
                    what: "uvarint",
                    offset: start as u64,
                    wanted: 0,
                    len: self.data.len() as u64,
                });
            }
            v |= bits << (7 * i);
            if byte & 0x80 == 0 {
                self.pos = start + i + 1;
                return Ok(v);
            }
        }
        Err(OutOfBounds { what: "uvarint", offset: start as u64, wanted: 0, len: self.data.len() as u64 })
    }

    /// A uvarint-length-prefixed byte string.
    pub fn uvarint_bytes(&mut self) -> Result<&'a [u8]> {
        let save = self.pos;
        let n = self.uvarint()?;
        let r = usize::try_from(n)
            .map_err(|_| OutOfBounds {
                what: "bytes",
                offset: self.pos as u64,
                wanted: n,
                len: self.data.len() as u64,
            })
            .and_then(|n| self.bytes(n));
        if r.is_err() {
            self.pos = save;
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_little_endian() {
        let b = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
        let mut c = Cursor::new(&b);
        assert_eq!(c.u8(), Ok(1));
        assert_eq!(c.u16(), Ok(0x0302));
        assert_eq!(c.u32(), Ok(0x0706_0504));
        assert_eq!(c.offset(), 7);
        assert_eq!(c.remaining(), 2);
        assert_eq!(c.bytes(2), Ok(&b[7..9]));
        assert!(c.is_empty());
        assert_eq!(u64_at(&b, 1), Ok(0x0908_0706_0504_0302));
        assert_eq!(u64_be_at(&b, 0), Ok(0x0102_0304_0506_0708));
        assert_eq!(u16_at(&b, 7), Ok(0x0908));
    }

    #[test]
    fn past_the_end_is_an_error_not_zero() {
        let b = [0xffu8; 7];
        let mut c = Cursor::new(&b);
        let e = c.u64().unwrap_err();
        assert_eq!((e.what, e.offset, e.wanted, e.len), ("u64", 0, 8, 7));
        assert_eq!(c.offset(), 0, "a failed read does not move");
        assert!(u32_at(&b, 4).is_err());
        assert!(u32_at(&b, 3).is_ok());
        assert!(u8_at(&b, 7).is_err());
        assert!(u16_at(&[], 0).is_err());
        assert!(c.skip(8).is_err());
        c.skip(7).unwrap();
        assert!(c.u8().is_err());
        assert!(Cursor::at(&b, 8).is_err());
        assert!(Cursor::at(&b, 7).unwrap().is_empty());
        let msg = e.context("minidump").to_string();
        assert!(msg.contains("minidump") && msg.contains("past the end"), "{msg}");
    }

    #[test]
    fn overflowing_offsets() {
        let b = [0u8; 16];
        for off in [usize::MAX, usize::MAX - 1, usize::MAX - 7] {
            assert!(u64_at(&b, off).is_err());
            assert!(u32_at(&b, off).is_err());
            assert!(u16_at(&b, off).is_err());
            assert!(u8_at(&b, off).is_err());
            assert!(bytes_at(&b, off, 2).is_err());
        }
        assert!(bytes_at(&b, 1, usize::MAX).is_err());
        assert!(bytes_at_u64(&b, u64::MAX, 1).is_err());
        assert!(bytes_at_u64(&b, 8, u64::MAX).is_err());
        assert_eq!(bytes_at_u64(&b, 8, 8).unwrap().len(), 8);
        let mut c = Cursor::new(&b);
        c.skip(4).unwrap();
        assert!(c.bytes(usize::MAX).is_err());
        assert!(c.sub(usize::MAX, 2).is_err());
        assert!(c.sub(4, usize::MAX).is_err());
        assert_eq!(c.sub(4, 12).unwrap().remaining(), 12);
        assert!(c.split(13).is_err());
        assert_eq!(c.split(12).unwrap().remaining(), 12);
    }

    #[test]
    fn uvarints() {
        let mut c = Cursor::new(&[0x96, 0x01, 0x00, 0x7f]);
        assert_eq!(c.uvarint(), Ok(150));
        assert_eq!(c.uvarint(), Ok(0));
        assert_eq!(c.uvarint(), Ok(127));
        assert!(c.uvarint().is_err());
        // u64::MAX: nine 0xff and a final 0x01.
        let mut max = vec![0xffu8; 9];
        max.push(0x01);
        assert_eq!(Cursor::new(&max).uvarint(), Ok(u64::MAX));
        // Overflow: the 10th byte holds more than bit 63, or an 11th byte would follow.
        let mut over = vec![0xffu8; 9];
        over.push(0x02);
        assert!(Cursor::new(&over).uvarint().is_err());
        assert!(Cursor::new(&[0xffu8; 11]).uvarint().is_err());
        // Unterminated.
        let mut c = Cursor::new(&[0x80, 0x80]);
        assert!(c.uvarint().is_err());
        assert_eq!(c.offset(), 0);
        // Length-prefixed strings.
        let mut c = Cursor::new(b"\x03abc\x05de");
        assert_eq!(c.uvarint_bytes(), Ok(&b"abc"[..]));
        assert!(c.uvarint_bytes().is_err());
        assert_eq!(c.offset(), 4);
        let mut huge = max.clone();
        huge.push(b'x');
        assert!(Cursor::new(&huge).uvarint_bytes().is_err());
    }
}
