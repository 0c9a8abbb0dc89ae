//! The address space of a dumped process: sorted, non-overlapping regions, each backed by
//! a range of a memory-mapped file. Reads return slices borrowed from the maps.

use super::MappedFile;

/// Index of a backing file in an [`AddressSpace`].
pub type FileId = u32;

#[derive(Clone, Copy, Debug)]
struct Region {
    va: u64,
    len: u64,
    file: FileId,
    offset: u64,
}

#[derive(Clone, Default)]
pub struct AddressSpace {
    files: Vec<MappedFile>,
    /// Sorted by `va`, non-overlapping.
    regions: Vec<Region>,
    /// Bytes backed, as of the last [`Self::finish`].
    total: u64,
    /// Index of the largest region (a Go process's heap, where most reads go), tried first.
    hot: usize,
}

impl AddressSpace {
    pub fn new() -> Self {
        Self::default()
    }

    /// Register a backing file; returns its id for [`Self::push`].
    pub fn add_file(&mut self, f: MappedFile) -> FileId {
        self.files.push(f);
        (self.files.len() - 1) as FileId
    }

    /// Add a region `[va, va+len)` backed by `file[offset..offset+len]`. The range is clipped to
    /// the file's length (a truncated dump keeps what it holds). Regions may be pushed in any
    /// order; call [`Self::finish`] when done. Returns the number of bytes actually backed.
    pub fn push(&mut self, va: u64, len: u64, file: FileId, offset: u64) -> u64 {
        let flen = self.files[file as usize].len();
        if offset >= flen || len == 0 {
            return 0;
        }
        // Clip to the file, and so that `va + len` cannot wrap.
        let len = len.min(flen - offset).min(u64::MAX - va);
        if len == 0 {
            return 0;
        }
        self.regions.push(Region { va, len, file, offset });
        len
    }

    /// Sort the regions, drop overlaps (the first pushed wins), and merge regions adjacent both
    /// in memory and in the file, so that reads across them are still borrowed slices.
    pub fn finish(&mut self) {
        // Stable sort keeps push order among equal starts: earlier pushes win.
        self.regions.sort_by_key(|r| r.va);
        let mut out: Vec<Region> = Vec::with_capacity(self.regions.len());
        for mut r in self.regions.drain(..) {
            if let Some(last) = out.last_mut() {
                let last_end = last.va + last.len;
                if r.va < last_end {
                    // Overlap: keep the earlier region, trim this one.
                    let cut = last_end - r.va;
                    if cut >= r.len {
                        continue;
                    }
                    r.va += cut;
                    r.offset += cut;
                    r.len -= cut;
                }
                if r.va == last.va + last.len && r.file == last.file && r.offset == last.offset + last.len {
                    last.len += r.len;
                    continue;
                }
            }
            out.push(r);
        }
        self.total = out.iter().map(|r| r.len).sum();
        self.hot = (0..out.len()).max_by_key(|&i| out[i].len).unwrap_or(0);
        self.regions = out;
    }

    /// Fill holes: back `[va, va+len)` with `file[offset..]` only where no region exists yet,
    /// then re-finish. Used to back memory the dump omits (text, rodata) with the executable.
    pub fn fill_holes(&mut self, va: u64, len: u64, file: FileId, offset: u64) {
        self.finish();
        let end = va.saturating_add(len);
        let mut cur = va;
        let mut gaps = Vec::new();
        let start = self.regions.partition_point(|r| r.va + r.len <= va);
        for r in &self.regions[start..] {
            if r.va >= end {
                break;
            }
            if r.va > cur {
                gaps.push((cur, r.va - cur));
            }
            cur = cur.max(r.va + r.len);
        }
        if cur < end {
            gaps.push((cur, end - cur));
        }
        for (g, glen) in gaps {
            self.push(g, glen, file, offset + (g - va));
        }
        self.finish();
    }

    #[inline]
    fn find(&self, addr: u64) -> Option<&Region> {
        if let Some(r) = self.regions.get(self.hot).filter(|r| addr.wrapping_sub(r.va) < r.len) {
            return Some(r);
        }
        let i = self.regions.partition_point(|r| r.va <= addr);
        if i == 0 {
            return None;
        }
        let r = &self.regions[i - 1];
        (addr < r.va + r.len).then_some(r)
    }

    /// A borrowed slice of `len` bytes at `addr`, if the whole range lies in one region.
    pub fn slice(&self, addr: u64, len: u64) -> Option<&[u8]> {
        let r = self.find(addr)?;
        let off = addr - r.va;
        if len > r.len - off {
            return None;
        }
        let start = (r.offset + off) as usize;
        Some(&self.files[r.file as usize].bytes()[start..start + len as usize])
    }

    /// The longest borrowed slice starting at `addr` (up to the end of its region).
    pub fn slice_to_end(&self, addr: u64) -> Option<&[u8]> {
        let r = self.find(addr)?;
        let off = addr - r.va;
        let start = (r.offset + off) as usize;
        Some(&self.files[r.file as usize].bytes()[start..(r.offset + r.len) as usize])
    }

    /// Copy `buf.len()` bytes at `addr`, across region boundaries if needed.
    pub fn read_into(&self, mut addr: u64, buf: &mut [u8]) -> bool {
        let mut done = 0;
        while done < buf.len() {
            let Some(s) = self.slice_to_end(addr) else { return false };
            let n = s.len().min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&s[..n]);
            done += n;
            addr += n as u64;
        }
        true
    }

    /// Whether every byte of `[addr, addr+len)` is backed, across regions if need be.
    pub fn contains(&self, mut addr: u64, len: u64) -> bool {
        let Some(end) = addr.checked_add(len) else { return false };
        while addr < end {
            match self.slice_to_end(addr) {
                Some(s) => addr += s.len() as u64,
                None => return false,
            }
        }
        true
    }

    /// Hint that `[va, va + len)` will be read soon (see [`MappedFile::will_need`]).
    pub fn will_need(&self, va: u64, len: u64) {
        let end = va.saturating_add(len);
        let first = self.regions.partition_point(|r| r.va + r.len <= va);
        for r in self.regions[first..].iter().take_while(|r| r.va < end) {
            let (a, b) = (va.max(r.va), end.min(r.va + r.len));
            self.files[r.file as usize].will_need(r.offset + (a - r.va), b - a);
        }
    }

    pub fn read_u8(&self, addr: u64) -> Option<u8> {
        self.slice(addr, 1).map(|s| s[0])
    }
    pub fn read_u16(&self, addr: u64) -> Option<u16> {
        let mut b = [0u8; 2];
        self.read_into(addr, &mut b).then(|| u16::from_le_bytes(b))
    }
    pub fn read_u32(&self, addr: u64) -> Option<u32> {
        let mut b = [0u8; 4];
        self.read_into(addr, &mut b).then(|| u32::from_le_bytes(b))
    }
    pub fn read_u64(&self, addr: u64) -> Option<u64> {
        if let Some(s) = self.slice(addr, 8) {
            return Some(u64::from_le_bytes(s.try_into().unwrap()));
        }
        let mut b = [0u8; 8];
        self.read_into(addr, &mut b).then(|| u64::from_le_bytes(b))
    }
    pub fn read_i64(&self, addr: u64) -> Option<i64> {
        self.read_u64(addr).map(|v| v as i64)
    }

    /// Number of regions and total bytes backed.
    pub fn stats(&self) -> (usize, u64) {
        (self.regions.len(), self.total)
    }

    /// Iterate over the mapped ranges `(va, len)`.
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.regions.iter().map(|r| (r.va, r.len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn mapped(bytes: &[u8]) -> MappedFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        MappedFile::open(f.path()).unwrap()
    }

    #[test]
    fn merge_and_read_across() {
        let data: Vec<u8> = (0..=255u8).collect();
        let mut a = AddressSpace::new();
        let id = a.add_file(mapped(&data));
        a.push(0x1000, 16, id, 0);
        a.push(0x1010, 16, id, 16); // adjacent in memory and file: merges
        a.push(0x2000, 8, id, 100);
        a.finish();
        assert_eq!(a.stats().0, 2);
        assert_eq!(a.slice(0x100c, 8).unwrap(), &data[12..20]);
        assert_eq!(a.read_u64(0x2000), Some(u64::from_le_bytes(data[100..108].try_into().unwrap())));
        assert_eq!(a.read_u64(0x2004), None);
        assert_eq!(a.read_u8(0x0fff), None);
    }

    #[test]
    fn truncated_region_is_clipped_and_holes_fill() {
        let data = vec![7u8; 64];
        let mut a = AddressSpace::new();
        let id = a.add_file(mapped(&data));
        assert_eq!(a.push(0x1000, 0x1000, id, 32), 32);
        a.fill_holes(0x0ff0, 0x40, id, 0);
        a.finish();
        assert_eq!(a.read_u8(0x1000 + 31), Some(7));
        assert_eq!(a.read_u8(0x1000 + 32), Some(7)); // from the hole filler
        assert!(a.read_u8(0x1030).is_none());
    }

    #[test]
    fn will_need_is_only_a_hint() {
        // Ranges across regions, between them, past the file's end, empty: no error, nothing
        // read changes.
        let data: Vec<u8> = (0..=255u8).cycle().take(3 * 4096).collect();
        let mut a = AddressSpace::new();
        let id = a.add_file(mapped(&data));
        a.push(0x10000, 4096, id, 0);
        a.push(0x20000, 0x10000, id, 4096); // clipped to the file
        a.finish();
        for (va, len) in [(0x0, 0x100000), (0x10ff0, 0x20), (0x18000, 8), (0x2f000, 0x1000), (0x10000, 0)] {
            a.will_need(va, len);
        }
        a.will_need(u64::MAX - 4, 100);
        assert_eq!(a.read_u64(0x10008), Some(u64::from_le_bytes(data[8..16].try_into().unwrap())));
        assert_eq!(a.read_u8(0x20000 + 2 * 4096), None);
    }
}
