//! The runtime's memory accounting, and where its memory lies.
//!
//! [`MemCounters`] are the counters `runtime.ReadMemStats` reads (mstats.go): the heap's in
//! `gcController` (`heapInUse`, `heapFree`, `heapReleased`), the `sysMemStat`s of `memstats`
//! (`stacks_sys`, `mspan_sys`, `mcache_sys`, `buckhash_sys`, `gcMiscSys`, `other_sys`), the
//! consistent stats (`memstats.heapStats`, summed over their three generations as `unsafeRead`
//! does) and the `inuse` of the span and mcache allocators. [`MemCounters::mem_stats`] computes
//! from them what `readmemstats_m` returns (Sys, HeapSys, HeapIdle, …), field by field as the
//! runtime does; where releases differ, the layouts say so (`inPtrScalarBits` exists up to Go
//! 1.24 and counts in Sys and GCSys).
//!
//! [`GoMemory`] is the runtime's address space read from its own structures, not from its
//! counters: the heap arenas it reserved (`mheap_.heapArenas`/`allArenas`), the part of them
//! it mapped (`mheap_.pages.inUse`), the state of every free page of that part (the page
//! allocator's bitmaps, `pallocData.pallocBits` and `.scavenged`, and the Ps' page caches), the
//! address space it reserved for the page allocator's summaries and the scavenger's index, the
//! arena index maps it mapped outside every counter, the GC work buffer spans
//! (`work.wbufSpans`), and the stacks of goroutines and Ms.

use serde::Serialize;

use super::Process;
use crate::{Error, Result};

/// The counters `runtime.ReadMemStats` reads, as the dump holds them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MemCounters {
    /// `gcController.heapInUse`, `.heapFree`, `.heapReleased`.
    pub heap_in_use: u64,
    pub heap_free: u64,
    pub heap_released: u64,
    /// `memstats.stacks_sys`, `.mspan_sys`, `.mcache_sys`, `.buckhash_sys`, `.gcMiscSys`,
    /// `.other_sys`.
    pub stacks_sys: u64,
    pub mspan_sys: u64,
    pub mcache_sys: u64,
    pub buckhash_sys: u64,
    pub gc_misc_sys: u64,
    pub other_sys: u64,
    /// The consistent stats: `inHeap`, `inStacks`, `inWorkBufs`, `inPtrScalarBits` (0 from Go
    /// 1.25, which has none), `committed`, `released`.
    pub in_heap: u64,
    pub in_stacks: u64,
    pub in_work_bufs: u64,
    pub in_ptr_scalar_bits: u64,
    pub committed: u64,
    pub released: u64,
    /// `mheap_.spanalloc.inuse`, `mheap_.cachealloc.inuse`.
    pub mspan_inuse: u64,
    pub mcache_inuse: u64,
}

/// The memory fields of the `runtime.MemStats` that `runtime.ReadMemStats` would have returned
/// at the moment of the dump, computed from [`MemCounters`] as `readmemstats_m` does.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MemStats {
    pub sys: u64,
    pub heap_sys: u64,
    pub heap_idle: u64,
    pub heap_inuse: u64,
    pub heap_released: u64,
    pub stack_inuse: u64,
    pub stack_sys: u64,
    pub mspan_inuse: u64,
    pub mspan_sys: u64,
    pub mcache_inuse: u64,
    pub mcache_sys: u64,
    pub buck_hash_sys: u64,
    pub gc_sys: u64,
    pub other_sys: u64,
}

impl MemStats {
    /// Each field with its `runtime.MemStats` name.
    pub fn fields(&self) -> [(&'static str, u64); 14] {
        [
            ("Sys", self.sys),
            ("HeapSys", self.heap_sys),
            ("HeapIdle", self.heap_idle),
            ("HeapInuse", self.heap_inuse),
            ("HeapReleased", self.heap_released),
            ("StackInuse", self.stack_inuse),
            ("StackSys", self.stack_sys),
            ("MSpanInuse", self.mspan_inuse),
            ("MSpanSys", self.mspan_sys),
            ("MCacheInuse", self.mcache_inuse),
            ("MCacheSys", self.mcache_sys),
            ("BuckHashSys", self.buck_hash_sys),
            ("GCSys", self.gc_sys),
            ("OtherSys", self.other_sys),
        ]
    }

    /// A field by its `runtime.MemStats` name.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.fields().iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
    }
}

impl MemCounters {
    /// What `readmemstats_m` computes from these counters (Go 1.22–1.27: the same code, but
    /// for `inPtrScalarBits`, which is 0 where the release has none). The runtime's arithmetic
    /// is on uint64, wrapping.
    pub fn mem_stats(&self) -> MemStats {
        let c = self;
        let sum = |v: &[u64]| v.iter().fold(0u64, |a, &b| a.wrapping_add(b));
        let heap_sys = sum(&[c.heap_in_use, c.heap_free, c.heap_released]);
        MemStats {
            sys: sum(&[
                heap_sys,
                c.stacks_sys,
                c.mspan_sys,
                c.mcache_sys,
                c.buckhash_sys,
                c.gc_misc_sys,
                c.other_sys,
                c.in_stacks,
                c.in_work_bufs,
                c.in_ptr_scalar_bits,
            ]),
            heap_sys,
            heap_idle: c.heap_free.wrapping_add(c.heap_released),
            heap_inuse: c.heap_in_use,
            heap_released: c.heap_released,
            stack_inuse: c.in_stacks,
            stack_sys: c.in_stacks.wrapping_add(c.stacks_sys),
            mspan_inuse: c.mspan_inuse,
            mspan_sys: c.mspan_sys,
            mcache_inuse: c.mcache_inuse,
            mcache_sys: c.mcache_sys,
            buck_hash_sys: c.buckhash_sys,
            gc_sys: sum(&[c.gc_misc_sys, c.in_work_bufs, c.in_ptr_scalar_bits]),
            other_sys: c.other_sys,
        }
    }
}

/// A range of address space the runtime reserved for its own structures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Reservation {
    /// "page summaries" (`mheap_.pages.summary`, one per level) or "scavenger index"
    /// (`mheap_.pages.scav.index.chunks`).
    pub what: &'static str,
    pub start: u64,
    pub end: u64,
}

/// The state of the pages of the heap's mapped address space, from the page allocator.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PageCensus {
    /// Bytes of `mheap_.pages.inUse`.
    pub mapped: u64,
    /// Bytes of pages allocated to spans (in use, or manual: stacks, work buffers).
    pub allocated: u64,
    /// Bytes of free pages the runtime keeps (not scavenged), and of free pages it returned
    /// to the OS (scavenged), P page caches included.
    pub free: u64,
    pub released: u64,
    /// Of `free + released`: bytes in the Ps' page caches (marked allocated in the bitmaps).
    pub cached: u64,
    /// Of `released`: pages marked both allocated and scavenged, which no span holds: the
    /// padding before a randomized heap base (Go 1.26+ `markRandomPaddingPages`), counted in
    /// HeapReleased and never used.
    pub padding: u64,
}

/// A stack the OS allocated for an M's g0 (the main thread's, a cgo thread's, a Windows
/// thread's): not in the Go heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct OsStack {
    pub lo: u64,
    pub hi: u64,
    /// `runtime.m0`'s: the process's main thread, whose bounds the runtime only estimates.
    pub m0: bool,
    /// The M's OS thread id.
    pub thread: u64,
}

/// The stacks of goroutines and Ms.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StackCensus {
    /// Goroutines not dead, and the bytes of their stacks.
    pub live_goroutines: u64,
    pub live_bytes: u64,
    /// Dead goroutines that keep a stack for reuse, and its bytes.
    pub dead_goroutines: u64,
    pub dead_bytes: u64,
    /// g0 and gsignal stacks of Ms that the runtime allocated from its heap.
    pub system_bytes: u64,
    /// g0 stacks outside the Go heap (allocated by the OS).
    pub os_stacks: Vec<OsStack>,
}

/// The runtime's address space and memory, from its own structures (see the module doc).
/// Each part is None when it could not be read (the reason is in `warnings`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct GoMemory {
    pub counters: Option<MemCounters>,
    /// The heap arenas, `[start, end)`, sorted and merged: address space reserved for the heap.
    pub arenas: Vec<(u64, u64)>,
    /// The part of the arenas the runtime mapped (`mheap_.pages.inUse`), sorted.
    pub heap_mapped: Vec<(u64, u64)>,
    pub pages: Option<PageCensus>,
    /// Page summaries and scavenger index (mapped in part; see [`Reservation`]).
    pub reservations: Vec<Reservation>,
    /// The arena index's second-level maps (`mheap_.arenas[i]`): mapped by the runtime with
    /// `sysAllocOS`, in no MemStats counter.
    pub arena_index: Vec<(u64, u64)>,
    /// Of `arena_index`: bytes of the physical pages holding the entries of the heap's arenas,
    /// the only ones the runtime writes (the rest is mapped but never touched).
    pub arena_index_written: u64,
    /// Bytes of the spans of `work.wbufSpans` (free and busy): GC work buffers.
    pub work_buf_bytes: Option<u64>,
    pub stacks: Option<StackCensus>,
    /// `runtime.physPageSize`.
    pub phys_page_size: u64,
    pub warnings: Vec<String>,
}

/// Sort ranges and merge those that touch or overlap; empty ones are dropped.
pub fn merge_ranges(mut v: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    v.retain(|r| r.0 < r.1);
    v.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
    for r in v {
        match out.last_mut() {
            Some(l) if r.0 <= l.1 => l.1 = l.1.max(r.1),
            _ => out.push(r),
        }
    }
    out
}

/// Bytes of sorted, merged ranges.
pub fn ranges_len(v: &[(u64, u64)]) -> u64 {
    v.iter().map(|r| r.1 - r.0).sum()
}

/// Whether `[lo, hi)` lies within one of the sorted, merged `ranges`.
pub fn within(ranges: &[(u64, u64)], lo: u64, hi: u64) -> bool {
    let i = ranges.partition_point(|r| r.1 <= lo);
    ranges.get(i).is_some_and(|r| r.0 <= lo && hi <= r.1)
}

impl Process {
    /// The counters `runtime.ReadMemStats` reads (see [`MemCounters`]).
    pub fn mem_counters(&self) -> Result<MemCounters> {
        let (Some(l), Some(h)) = (self.layouts.mem.as_ref(), self.layouts.heap.as_ref()) else {
            let mut missing = self.layouts.mem_missing.clone();
            missing.extend(self.layouts.heap_missing.iter().cloned());
            return Err(Error::Unsupported(format!(
                "{} lacks the layouts of the runtime's memory statistics: {}",
                self.layouts.source,
                missing.join(", ")
            )));
        };
        let need = |name: &str| {
            self.global(name)
                .ok_or_else(|| Error::Unsupported(format!("the executable has no symbol {name}")))
        };
        let ms = need("runtime.memstats")?;
        let ctl = need("runtime.gcController")?;
        let mheap = need("runtime.mheap_")?;
        let rd = |addr: u64, what: &str| self.read_u64(addr, what);
        let mut c = MemCounters {
            heap_in_use: rd(ctl.saturating_add(l.ctl_heap_in_use), "gcController.heapInUse")?,
            heap_free: rd(ctl.saturating_add(l.ctl_heap_free), "gcController.heapFree")?,
            heap_released: rd(ctl.saturating_add(l.ctl_heap_released), "gcController.heapReleased")?,
            stacks_sys: rd(ms.saturating_add(l.stacks_sys), "memstats.stacks_sys")?,
            mspan_sys: rd(ms.saturating_add(l.mspan_sys), "memstats.mspan_sys")?,
            mcache_sys: rd(ms.saturating_add(l.mcache_sys), "memstats.mcache_sys")?,
            buckhash_sys: rd(ms.saturating_add(l.buckhash_sys), "memstats.buckhash_sys")?,
            gc_misc_sys: rd(ms.saturating_add(l.gc_misc_sys), "memstats.gcMiscSys")?,
            other_sys: rd(ms.saturating_add(l.other_sys), "memstats.other_sys")?,
            mspan_inuse: rd(mheap.saturating_add(l.mheap_spanalloc_inuse), "mheap_.spanalloc.inuse")?,
            mcache_inuse: rd(mheap.saturating_add(l.mheap_cachealloc_inuse), "mheap_.cachealloc.inuse")?,
            ..Default::default()
        };
        // heapStats.unsafeRead: the sum of the three generations.
        for g in 0..3 {
            let d = ms + h.mstats_heap_stats + g * h.delta_size;
            let rd = |off: u64| self.read_u64(d.saturating_add(off), "memstats.heapStats");
            c.in_heap = c.in_heap.wrapping_add(rd(h.delta_in_heap)?);
            c.in_stacks = c.in_stacks.wrapping_add(rd(l.delta_in_stacks)?);
            c.in_work_bufs = c.in_work_bufs.wrapping_add(rd(l.delta_in_work_bufs)?);
            if let Some(off) = l.delta_in_ptr_scalar_bits {
                c.in_ptr_scalar_bits = c.in_ptr_scalar_bits.wrapping_add(rd(off)?);
            }
            c.committed = c.committed.wrapping_add(rd(l.delta_committed)?);
            c.released = c.released.wrapping_add(rd(l.delta_released)?);
        }
        Ok(c)
    }

    /// The runtime's address space and memory from its own structures (see [`GoMemory`]);
    /// what cannot be read is left out with a warning.
    pub fn go_memory(&self) -> Result<GoMemory> {
        let (Some(l), Some(h)) = (self.layouts.mem.as_ref(), self.layouts.heap.as_ref()) else {
            return Err(self
                .mem_counters()
                .err()
                .unwrap_or_else(|| Error::Other("no memory layouts".into())));
        };
        let mheap = self
            .global("runtime.mheap_")
            .ok_or_else(|| Error::Unsupported("the executable has no symbol runtime.mheap_".into()))?;
        let mut g = GoMemory { phys_page_size: 4096, ..Default::default() };
        match self.mem_counters() {
            Ok(c) => g.counters = Some(c),
            Err(e) => g.warnings.push(format!("the runtime's memory counters are unreadable: {e}")),
        }
        if let Some(p) = self.global("runtime.physPageSize").and_then(|a| self.mem.read_u64(a)) {
            if p.is_power_of_two() && (512..=1 << 30).contains(&p) {
                g.phys_page_size = p;
            }
        }

        // The heap arenas, from the list of their indices.
        match self.read_ptr_slice(mheap.saturating_add(l.mheap_arena_list), 1 << 24, "mheap_.heapArenas") {
            Ok(idx) => {
                let size = h.heap_arena_bytes;
                g.arenas = merge_ranges(
                    idx.iter()
                        .map(|&i| {
                            let base = i.wrapping_mul(size).wrapping_add(h.arena_base_offset);
                            (base, base.saturating_add(size))
                        })
                        .collect(),
                );
            }
            Err(e) => g.warnings.push(format!("the heap arenas are unreadable: {e}")),
        }

        // The arena index: L1 entries, each a map of 1 << arenaL2Bits pointers.
        let l1 = 1u64 << h.arena_l1_bits.min(16);
        let l2_bits = h.arena_l2_bits.min(40);
        let l2_bytes = (1u64 << l2_bits) * 8;
        let mut maps = vec![0u64; l1 as usize];
        for (i, slot) in maps.iter_mut().enumerate() {
            match self.mem.read_u64(mheap + h.mheap_arenas + 8 * i as u64) {
                Some(0) => {}
                Some(p) => {
                    *slot = p;
                    g.arena_index.push((p, p.saturating_add(l2_bytes)));
                }
                None => {
                    g.warnings.push("mheap_.arenas is unreadable".into());
                    break;
                }
            }
        }
        g.arena_index = merge_ranges(std::mem::take(&mut g.arena_index));
        // The pages of the index holding the heap's arenas' entries.
        let mut written: Vec<u64> = Vec::new();
        for &(start, end) in &g.arenas {
            let mut a = start;
            while a < end && h.heap_arena_bytes > 0 {
                let ri = a.wrapping_sub(h.arena_base_offset) / h.heap_arena_bytes;
                let (i1, i2) =
                    (if h.arena_l1_bits == 0 { 0 } else { ri >> l2_bits }, ri & ((1 << l2_bits) - 1));
                if let Some(&m) = maps.get(i1 as usize).filter(|&&m| m != 0) {
                    written.push((m + 8 * i2) / g.phys_page_size);
                }
                a = a.saturating_add(h.heap_arena_bytes);
            }
        }
        written.sort_unstable();
        written.dedup();
        g.arena_index_written = written.len() as u64 * g.phys_page_size;

        let pages = mheap + l.mheap_pages;
        match self.heap_mapped(l, pages) {
            Ok(r) => g.heap_mapped = r,
            Err(e) => g.warnings.push(format!("the heap's mapped ranges are unreadable: {e}")),
        }
        if !g.heap_mapped.is_empty() {
            match self.page_census(l, h, pages, &g.heap_mapped) {
                Ok(c) => g.pages = Some(c),
                Err(e) => g.warnings.push(format!("the page allocator's bitmaps are unreadable: {e}")),
            }
        }
        g.reservations = self.reservations(l, pages, g.phys_page_size, &mut g.warnings);
        match self.work_buf_bytes(l, h) {
            Ok(b) => g.work_buf_bytes = Some(b),
            Err(e) => g.warnings.push(format!("the GC work buffer spans are unreadable: {e}")),
        }
        match self.stack_census(&g.heap_mapped) {
            Ok(s) => g.stacks = Some(s),
            Err(e) => g.warnings.push(format!("the stacks are unreadable: {e}")),
        }
        Ok(g)
    }

    /// `mheap_.pages.inUse`: the heap's mapped address ranges.
    fn heap_mapped(&self, l: &super::layout::MemLayout, pages: u64) -> Result<Vec<(u64, u64)>> {
        let at = pages + l.pages_in_use;
        let ptr = self.read_u64(at, "mheap_.pages.inUse")?;
        let len = self.read_u64(at.saturating_add(8), "mheap_.pages.inUse")?;
        if len > 1 << 20 {
            return Err(Error::malformed("mheap_.pages.inUse", format!("implausible length {len}")));
        }
        // Grown as the ranges are read from the dump, not reserved from the length.
        let mut out = Vec::new();
        for i in 0..len {
            let r = ptr.saturating_add(i.saturating_mul(l.addr_range_size));
            let base = self.read_u64(r, "mheap_.pages.inUse range")?;
            let limit = self.read_u64(r.saturating_add(l.addr_range_limit), "mheap_.pages.inUse range")?;
            if limit < base {
                return Err(Error::malformed("mheap_.pages.inUse", format!("range {base:#x}..{limit:#x}")));
            }
            out.push((base, limit));
        }
        Ok(merge_ranges(out))
    }

    /// Every page of the heap's mapped ranges: allocated, free, or free and scavenged, from the
    /// page allocator's chunk bitmaps (allocated and scavenged: padding, released); the pages
    /// the Ps' page caches hold (allocated in the bitmaps) are free, scavenged as their `scav`
    /// bits say.
    fn page_census(
        &self,
        l: &super::layout::MemLayout,
        h: &super::layout::HeapLayout,
        pages: u64,
        mapped: &[(u64, u64)],
    ) -> Result<PageCensus> {
        let (page, chunk) = (h.page_size, l.palloc_chunk_bytes);
        if page == 0 || chunk / page != l.palloc_chunk_pages {
            return Err(Error::malformed("the page allocator", "chunk and page sizes disagree"));
        }
        let l2_mask = (1u64 << l.palloc_chunks_l2_bits) - 1;
        let words = (l.palloc_chunk_pages / 64) as usize;
        let mut c = PageCensus { mapped: ranges_len(mapped), ..Default::default() };
        for &(base, limit) in mapped {
            let mut a = base;
            while a < limit {
                let ci = a.wrapping_sub(h.arena_base_offset) / chunk;
                let chunk_base = (ci * chunk).wrapping_add(h.arena_base_offset);
                let end = limit.min(chunk_base.saturating_add(chunk));
                let i1 = if l.palloc_chunks_l1_bits == 0 { 0 } else { ci >> l.palloc_chunks_l2_bits };
                if i1 >> l.palloc_chunks_l1_bits != 0 {
                    return Err(Error::malformed("mheap_.pages.chunks", format!("chunk {ci} out of range")));
                }
                let l2 =
                    self.read_u64(pages.saturating_add(l.pages_chunks + 8 * i1), "mheap_.pages.chunks")?;
                let data = l2 + (ci & l2_mask) * l.palloc_data_size;
                let bits = |off: u64| -> Result<Vec<u64>> {
                    let b = self.mem.slice(data.saturating_add(off), words as u64 * 8).ok_or_else(|| {
                        Error::MissingMemory {
                            addr: data + off,
                            len: words as u64 * 8,
                            what: "pallocData".into(),
                        }
                    })?;
                    Ok(b.chunks_exact(8).map(|w| u64::from_le_bytes(w.try_into().unwrap())).collect())
                };
                let (alloc, scav) = (bits(0)?, bits(l.palloc_scavenged)?);
                for p in (a - chunk_base) / page..(end - chunk_base).div_ceil(page) {
                    let (w, b) = ((p / 64) as usize, p % 64);
                    match (alloc[w] >> b & 1 == 1, scav[w] >> b & 1 == 1) {
                        // Allocating pages clears their scavenged bits: both set is padding.
                        (true, true) => {
                            c.released += page;
                            c.padding += page;
                        }
                        (true, false) => c.allocated += page,
                        (false, true) => c.released += page,
                        (false, false) => c.free += page,
                    }
                }
                a = end;
            }
        }
        // The Ps' page caches: pages taken from the bitmaps, still free.
        if let Some(allp) = self.globals.allp {
            for p in self.read_ptr_slice(allp, 1 << 20, "runtime.allp")?.into_iter().filter(|&p| p != 0) {
                let pc = p.saturating_add(l.p_pcache);
                let cache = self.read_u64(pc.saturating_add(l.pcache_cache), "p.pcache")?;
                let scav = self.read_u64(pc.saturating_add(l.pcache_scav), "p.pcache")?;
                let free = cache.count_ones() as u64 * page;
                let released = (cache & scav).count_ones() as u64 * page;
                c.cached += free;
                c.allocated = c.allocated.saturating_sub(free);
                c.released += released;
                c.free += free - released;
            }
        }
        Ok(c)
    }

    /// The address space reserved for the page summaries (one array per level, its capacity
    /// rounded up to the physical page, as `pageAlloc.sysInit` reserves it) and for the
    /// scavenger index (its capacity).
    fn reservations(
        &self,
        l: &super::layout::MemLayout,
        pages: u64,
        phys_page: u64,
        warnings: &mut Vec<String>,
    ) -> Vec<Reservation> {
        let mut out = Vec::new();
        let slice = |at: u64| Some((self.mem.read_u64(at)?, self.mem.read_u64(at.saturating_add(16))?));
        for lvl in 0..l.summary_levels {
            match slice(pages.saturating_add(l.pages_summary + 24 * lvl)) {
                Some((ptr, cap)) if ptr != 0 && cap < 1 << 40 => {
                    let len = (cap * l.palloc_sum_bytes).div_ceil(phys_page) * phys_page;
                    out.push(Reservation {
                        what: "page summaries",
                        start: ptr,
                        end: ptr.saturating_add(len),
                    });
                }
                Some(_) => {}
                None => warnings.push(format!("mheap_.pages.summary[{lvl}] is unreadable")),
            }
        }
        match slice(pages.saturating_add(l.pages_scav_chunks)) {
            Some((ptr, cap)) if ptr != 0 && cap < 1 << 40 => out.push(Reservation {
                what: "scavenger index",
                start: ptr,
                end: ptr.saturating_add(cap * l.scav_chunk_data_size),
            }),
            Some(_) => {}
            None => warnings.push("mheap_.pages.scav.index is unreadable".into()),
        }
        out.sort_by_key(|r| r.start);
        out
    }

    /// Bytes of the spans on `work.wbufSpans.free` and `.busy`.
    fn work_buf_bytes(&self, l: &super::layout::MemLayout, h: &super::layout::HeapLayout) -> Result<u64> {
        let work = self.globals.work.ok_or_else(|| Error::Unsupported("no runtime.work".into()))?;
        let mut bytes = 0u64;
        for list in [l.work_wbuf_free, l.work_wbuf_busy] {
            let mut s = self.read_u64(work.saturating_add(list), "work.wbufSpans")?;
            let mut n = 0;
            while s != 0 {
                n += 1;
                if n > 1 << 24 {
                    return Err(Error::malformed("work.wbufSpans", "the span list does not end"));
                }
                let npages = self.read_u64(s.saturating_add(h.span_npages), "wbuf mspan.npages")?;
                bytes = bytes.saturating_add(npages.saturating_mul(h.page_size));
                s = self.read_u64(s.saturating_add(l.span_next), "wbuf mspan.next")?;
            }
        }
        Ok(bytes)
    }

    /// The stacks of every goroutine of `allgs`, and of every M's g0 and gsignal: those in the
    /// heap's mapped ranges came from the runtime's stack allocator, the others from the OS.
    fn stack_census(&self, heap: &[(u64, u64)]) -> Result<StackCensus> {
        let gl = &self.layouts.g;
        let st = &self.layouts.status;
        let mut c = StackCensus::default();
        let stack = |g: u64| -> Option<(u64, u64)> {
            let lo = self.mem.read_u64(g.saturating_add(gl.stack_lo))?;
            let hi = self.mem.read_u64(g.saturating_add(gl.stack_hi))?;
            (lo != 0 && lo < hi).then_some((lo, hi))
        };
        for g in self.allgs()? {
            let Some((lo, hi)) = stack(g) else { continue };
            let status =
                self.mem.read_u32(g.saturating_add(gl.atomicstatus)).map(|s| s as i64 & !st.scan_bit);
            if status == Some(st.dead) {
                c.dead_goroutines += 1;
                c.dead_bytes += hi - lo;
            } else {
                c.live_goroutines += 1;
                c.live_bytes += hi - lo;
            }
        }
        let m0 = self.global("runtime.m0");
        for m in self.ms()? {
            for (g, (lo, hi)) in [(m.g0, m.g0_stack), (m.gsignal, m.gsignal_stack)] {
                if g == 0 || lo == 0 || lo >= hi {
                    continue;
                }
                if within(heap, lo, hi) {
                    c.system_bytes += hi - lo;
                } else if g == m.g0 {
                    c.os_stacks.push(OsStack { lo, hi, m0: Some(m.addr) == m0, thread: m.procid });
                }
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_and_contain() {
        let r = merge_ranges(vec![(10, 20), (0, 5), (5, 8), (15, 30), (40, 40)]);
        assert_eq!(r, vec![(0, 8), (10, 30)]);
        assert_eq!(ranges_len(&r), 28);
        assert!(within(&r, 10, 30) && within(&r, 0, 1));
        assert!(!within(&r, 7, 11) && !within(&r, 30, 31));
    }

    #[test]
    fn mem_stats_as_readmemstats() {
        let c = MemCounters {
            heap_in_use: 100,
            heap_free: 20,
            heap_released: 30,
            stacks_sys: 1,
            mspan_sys: 2,
            mcache_sys: 3,
            buckhash_sys: 4,
            gc_misc_sys: 5,
            other_sys: 6,
            in_stacks: 7,
            in_work_bufs: 8,
            in_ptr_scalar_bits: 9,
            ..Default::default()
        };
        let s = c.mem_stats();
        assert_eq!((s.heap_sys, s.heap_idle, s.heap_inuse, s.heap_released), (150, 50, 100, 30));
        assert_eq!((s.stack_inuse, s.stack_sys, s.gc_sys), (7, 8, 22));
        assert_eq!(s.sys, 150 + 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9);
        assert_eq!(s.get("OtherSys"), Some(6));
    }
}
