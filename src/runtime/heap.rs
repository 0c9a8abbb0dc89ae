//! The Go heap: in-use spans, the objects allocated in them, the runtime's own allocation
//! accounting, and the pointer bitmaps of objects.
//!
//! Spans come from `mheap_.allspans` (state checked first). A slot `n` of an in-use span is
//! allocated iff `n < freeindex || allocBits[n]` (mheap.go); a large span (size class 0) holds
//! one object. Mark bits are never used. Objects are kept as two arrays indexed by `u32`
//! (address, span), sorted by address; [`Heap::find_object`] goes through a page → span table
//! built per arena, then slot arithmetic.
//!
//! Pointer information (mbitmap.go, Go 1.22+ allocation headers): small objects (≤ 512 B) have
//! one bit per word at the end of their span (below the 128-byte inline mark bits with the
//! Green Tea GC); larger small objects start with an 8-byte `*abi.Type` header; large objects
//! have `mspan.largeType`. A type's mask is tiled over the whole slot, as the GC does.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use rayon::prelude::*;

use super::layout::HeapLayout;
use super::types::PtrMask;
use super::Process;
use crate::dump::AddressSpace;
use crate::{Error, Result};

/// One in-use heap span (`mspan` in state `mSpanInUse`).
#[derive(Clone, Debug)]
pub struct Span {
    /// Address of the `mspan` structure.
    pub mspan: u64,
    /// First byte of the span's memory.
    pub base: u64,
    pub npages: u64,
    pub elemsize: u64,
    pub nelems: u32,
    /// `sizeclass << 1 | noscan`.
    pub spanclass: u8,
    pub freeindex: u32,
    /// The runtime's `allocCount`.
    pub alloc_count: u32,
    /// The runtime's `allocCountBeforeCache` (meaningful while cached in an mcache).
    pub alloc_count_before_cache: u32,
    pub sweepgen: u32,
    /// `largeType` (large spans), 0 if nil.
    pub large_type: u64,
    /// The span is some P's current span for its class (`mcache.alloc`).
    pub cached: bool,
    /// Index of this span's first object in the heap's object arrays.
    pub first_object: u32,
    /// Number of allocated objects found in this span.
    pub objects: u32,
    /// Where this span's slot ranks start in the heap's rank table (spans with free slots).
    rank_base: u32,
    /// The runtime's `divMul` for small spans: `(offset * div_mul) >> 32` is the slot of an
    /// offset, without a division (0: divide).
    div_mul: u32,
}

/// The slot of `elemsize`-byte slots holding offset `rel`: by the runtime's `divMul` when
/// set (no division), checked, as the span may be corrupt; else by a division.
#[inline]
fn slot_of(rel: u64, elemsize: u64, div_mul: u32) -> u32 {
    if div_mul != 0 && rel >> 32 == 0 {
        let n = (rel * div_mul as u64) >> 32;
        if n * elemsize <= rel && rel - n * elemsize < elemsize {
            return n as u32;
        }
    }
    (rel / elemsize) as u32
}

impl Span {
    /// The slot holding the byte at offset `rel` of a small span.
    #[inline]
    fn slot(&self, rel: u64) -> u32 {
        slot_of(rel, self.elemsize, self.div_mul)
    }

    pub fn size_class(&self) -> usize {
        (self.spanclass >> 1) as usize
    }
    /// Objects of this span hold no pointers.
    pub fn noscan(&self) -> bool {
        self.spanclass & 1 == 1
    }
    /// A large-object span (size class 0): one object.
    pub fn is_large(&self) -> bool {
        self.size_class() == 0
    }
    /// End of the last slot.
    pub fn slots_end(&self) -> u64 {
        self.base + self.nelems as u64 * self.elemsize
    }
}

/// Allocated objects and bytes of one size class (class 0: large objects).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ClassTotals {
    /// Element size of the class (0 for class 0, whose objects have their span's size).
    pub size: u64,
    pub spans: u64,
    pub objects: u64,
    pub bytes: u64,
}

/// What the heap walk found.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct HeapTotals {
    /// Allocated objects (tiny allocations count as their 16-byte blocks) and their bytes
    /// (slot sizes; a large object counts its span's pages). These are what the runtime's
    /// MemStats.HeapObjects and HeapAlloc count.
    pub objects: u64,
    pub bytes: u64,
    /// Indexed by size class.
    pub by_class: Vec<ClassTotals>,
    /// `allspans` entries by state.
    pub spans_in_use: u64,
    pub spans_manual: u64,
    pub spans_dead: u64,
    pub spans_other: u64,
    /// Pages of in-use spans, in bytes (MemStats.HeapInuse).
    pub in_use_bytes: u64,
    /// Pages of manual spans (stacks, GC work buffers…), in bytes.
    pub manual_bytes: u64,
    /// In-use spans some mcache holds as its current span.
    pub cached_spans: u64,
    /// In-use spans whose count of allocated slots differs from their `allocCount`.
    pub inconsistent_spans: u64,
}

/// The runtime's own accounting, read from `memstats.heapStats` (the consistent stats that
/// `ReadMemStats` sums with `unsafeRead`) plus what the mcaches hold unflushed.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RuntimeStats {
    /// Per size class: `smallAllocCount`, `smallFreeCount`, the class's size.
    pub small_alloc: Vec<u64>,
    pub small_free: Vec<u64>,
    pub class_size: Vec<u64>,
    pub large_alloc_bytes: u64,
    pub large_alloc_count: u64,
    pub large_free_bytes: u64,
    pub large_free_count: u64,
    pub tiny_alloc_count: u64,
    /// Allocations from the mcaches' current spans since they were cached
    /// (`allocCount - allocCountBeforeCache`), per size class: `flushallmcaches` adds them.
    pub mcache_pending: Vec<u64>,
    /// `mcache.tinyAllocs` summed over the Ps.
    pub mcache_tiny_allocs: u64,
    /// What `runtime.ReadMemStats` would have returned at the moment of the dump (it flushes
    /// the mcaches first): HeapObjects, HeapAlloc, HeapInuse, Mallocs, Frees, TotalAlloc.
    pub heap_objects: u64,
    pub heap_alloc: u64,
    pub heap_inuse: u64,
    pub mallocs: u64,
    pub frees: u64,
    pub total_alloc: u64,
}

/// Why an object's pointers are unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoPointerInfo {
    /// The malloc header or `largeType` is nil (allocation or delayed zeroing in progress).
    NilType,
    /// The type's GC mask is built on demand (1.24+), was not built before the dump, and could
    /// not be rebuilt from the type's structure.
    MaskNotBuilt,
    /// The type uses a GC program (≤ 1.23), which is not interpreted.
    GcProgram,
    /// The object, its type or its mask is not in the dump.
    Unreadable,
}

/// What [`Heap::for_each_pointer`] reads objects from: the dump's memory, or the process,
/// which can also rebuild the GC masks the runtime did not build.
pub trait ObjectMemory {
    fn memory(&self) -> &AddressSpace;
    /// The process, for its type table; None for bare memory.
    fn process(&self) -> Option<&Process> {
        None
    }
}

impl ObjectMemory for AddressSpace {
    fn memory(&self) -> &AddressSpace {
        self
    }
}

impl ObjectMemory for Process {
    fn memory(&self) -> &AddressSpace {
        &self.mem
    }
    fn process(&self) -> Option<&Process> {
        Some(self)
    }
}

/// A type's pointer mask: the runtime's, in the dump, or one rebuilt.
enum Mask<'m> {
    Runtime(&'m [u8]),
    Built(Arc<PtrMask>),
}

impl Mask<'_> {
    fn bits(&self) -> &[u8] {
        match self {
            Mask::Runtime(b) => b,
            Mask::Built(m) => &m.bits,
        }
    }
}

/// What [`Heap::for_each_pointer`] could tell about an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PointerInfo {
    /// A noscan object: it holds no pointers.
    NoPointers,
    /// Every pointer slot was reported.
    Scanned,
    Unknown(NoPointerInfo),
}

/// Pointer information over every object (see [`Heap::pointer_census`]).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PointerCensus {
    pub noscan_objects: u64,
    pub scanned_objects: u64,
    /// Pointer slots reported (non-nil values).
    pub pointers: u64,
    pub unknown: Vec<(NoPointerInfo, u64)>,
}

/// Object addresses in 4 bytes each: the low half per object, the high half per run of
/// objects (a heap of a few GB is one run).
#[derive(Default)]
struct Addrs {
    lo: Vec<u32>,
    /// (first object, high half), ascending; the first run starts at object 0.
    hi: Vec<(u32, u32)>,
}

impl Addrs {
    #[inline]
    fn get(&self, o: u32) -> u64 {
        let hi = match self.hi.as_slice() {
            [(_, h)] => *h,
            runs => runs[runs.partition_point(|&(f, _)| f <= o).saturating_sub(1)].1,
        };
        (hi as u64) << 32 | self.lo[o as usize] as u64
    }

    /// Note that objects from `o` on have the high half `hi`.
    fn run(&mut self, o: u32, hi: u32) {
        if self.hi.last().is_none_or(|&(_, h)| h != hi) {
            self.hi.push((o, hi));
        }
    }

    /// The high halves of the objects of the spans, whose low halves are filled in: a span
    /// holds objects of increasing addresses, so the high half grows where the low one drops.
    fn runs(&mut self, spans: &[Span]) {
        for s in spans.iter().filter(|s| s.objects > 0) {
            let (first, mut hi) = (s.first_object, (s.base >> 32) as u32);
            self.run(first, hi);
            let end = s.base.saturating_add(s.nelems as u64 * s.elemsize).saturating_sub(1);
            if !s.is_large() && (end >> 32) as u32 != hi {
                for o in first + 1..first + s.objects {
                    if self.lo[o as usize] < self.lo[o as usize - 1] {
                        hi += 1;
                        self.run(o, hi);
                    }
                }
            }
        }
        if self.hi.is_empty() {
            self.hi.push((0, 0));
        }
    }
}

/// The heap of the dumped process.
pub struct Heap {
    /// In-use spans, sorted by base address.
    pub spans: Vec<Span>,
    /// Object addresses (slot starts), sorted.
    addrs: Addrs,
    /// For spans with free slots, per 64 slots: allocated objects before them in the span, and
    /// which of them are allocated; a slot's object index is a rank, not a search.
    ranks: Vec<(u32, u64)>,
    /// Span index of the first object of each block of [`OBJECT_BLOCK`] objects (the spans of
    /// the others are found from it: 4 bytes per block, not per object).
    block_span: Vec<u32>,
    /// Page → span, for [`Self::find_span`].
    page_table: PageTable,
    /// What a lookup of an address needs of each span, packed: one cache line per lookup.
    lookup: Vec<SpanLookup>,
    pub totals: HeapTotals,
    /// None when `memstats` or the size class table could not be read (see `warnings`).
    pub runtime_stats: Option<RuntimeStats>,
    /// Spans of objects ≤ 512 B keep inline mark bits in their last 128 bytes (Green Tea GC).
    pub green_tea: bool,
    pub warnings: Vec<String>,
    layout: HeapLayout,
    pages: PageGeometry,
    /// `runtime.inProgress`: the sentinel of a GC mask being built (1.24+).
    in_progress: Option<u64>,
    /// Masks of on-demand types rebuilt from their structure, by type address (None: could
    /// not be).
    built_masks: RwLock<HashMap<u64, Option<Arc<PtrMask>>>>,
}

/// The fields of an `abi.Type` the pointer walk needs.
struct TypeHead {
    size: u64,
    ptrbytes: u64,
    tflag: u8,
    kind: u8,
    gcdata: u64,
}

/// The fields of one mspan, as read.
struct RawSpan {
    state: u8,
    npages: u64,
    span: Option<Span>,
    alloc_bits: u64,
}

/// What the spans of the heap hold, without the objects: [`Process::span_census`] (a walk of
/// the spans alone) or [`Heap::census`].
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SpanCensus {
    pub totals: HeapTotals,
    /// Bytes of the slots of the in-use spans (`nelems * elemsize`, summed).
    pub slot_bytes: u64,
    pub runtime_stats: Option<RuntimeStats>,
    pub warnings: Vec<String>,
}

/// The spans read, with their counts of allocated slots (`Span::objects`) and the totals.
struct SpanWalk {
    l: HeapLayout,
    spans: Vec<Span>,
    alloc_bits: Vec<u64>,
    totals: HeapTotals,
    runtime_stats: Option<RuntimeStats>,
    warnings: Vec<String>,
}

impl Process {
    /// The heap's spans and their allocated slots, counted, without the objects' arrays that
    /// [`Self::heap`] builds: what a summary of the heap needs, at a fraction of the memory.
    pub fn span_census(&self) -> Result<SpanCensus> {
        let w = self.walk_spans()?;
        let slot_bytes = w.spans.iter().fold(0u64, |t, s| t.saturating_add(s.nelems as u64 * s.elemsize));
        Ok(SpanCensus { totals: w.totals, slot_bytes, runtime_stats: w.runtime_stats, warnings: w.warnings })
    }

    /// Walk the heap: every in-use span of `mheap_.allspans` and its allocated objects.
    pub fn heap(&self) -> Result<Heap> {
        let SpanWalk { l, mut spans, alloc_bits, totals, runtime_stats, warnings } = self.walk_spans()?;
        let mut next = 0u64;
        for s in spans.iter_mut() {
            s.first_object = next as u32;
            next += s.objects as u64;
            if next > u32::MAX as u64 {
                return Err(Error::Unsupported(format!("more than {} heap objects", u32::MAX)));
            }
        }
        let mut addrs = Addrs { lo: vec![0u32; next as usize], hi: Vec::new() };
        {
            let mut jobs = Vec::with_capacity(spans.len());
            let mut ra = addrs.lo.as_mut_slice();
            for (i, s) in spans.iter().enumerate() {
                let (a, rest_a) = ra.split_at_mut(s.objects as usize);
                ra = rest_a;
                jobs.push((i, a));
            }
            jobs.into_par_iter().for_each(|(i, a)| self.fill_objects(&spans[i], alloc_bits[i], a));
        }
        addrs.runs(&spans);

        // Slot ranks of the spans with free slots: where each span's start (in order), then
        // the spans' words in parallel.
        let mut words_total = 0usize;
        for s in spans.iter_mut() {
            if s.is_large() || s.objects == s.nelems {
                continue;
            }
            s.rank_base = words_total as u32;
            words_total += (s.nelems as usize).div_ceil(64);
        }
        let mut ranks = vec![(0u32, 0u64); words_total];
        {
            let mut jobs = Vec::new();
            let mut rest = ranks.as_mut_slice();
            for s in spans.iter().filter(|s| !s.is_large() && s.objects != s.nelems) {
                let (mine, tail) = rest.split_at_mut((s.nelems as usize).div_ceil(64));
                rest = tail;
                jobs.push((s, mine));
            }
            let addrs = &addrs;
            jobs.into_par_iter().for_each(|(s, mine)| {
                for o in s.first_object..s.first_object + s.objects {
                    let n = s.slot(addrs.get(o) - s.base) as usize;
                    mine[n / 64].1 |= 1 << (n % 64);
                }
                let mut cum = 0;
                for r in mine.iter_mut() {
                    r.0 = cum;
                    cum += r.1.count_ones();
                }
                debug_assert_eq!(cum, s.objects, "span at {:#x}", s.base);
            });
        }

        // The page → span table.
        let mut arenas: BTreeMap<u64, Box<[u32]>> = BTreeMap::new();
        let lookup: Vec<SpanLookup> = spans.iter().map(|s| SpanLookup::new(&l, s)).collect();
        let pages = PageGeometry::new(&l);
        for (i, s) in spans.iter().enumerate() {
            for page in 0..s.npages {
                let (ri, pi) = pages.locate(&l, s.base + page * l.page_size);
                let table = arenas
                    .entry(ri)
                    .or_insert_with(|| vec![0u32; l.pages_per_arena as usize].into_boxed_slice());
                table[pi as usize] = i as u32 + 1;
            }
        }

        let green_tea = self.detect_green_tea(&l, &spans);
        let block_span = block_spans(&spans, next as u32);
        Ok(Heap {
            spans,
            addrs,
            ranks,
            block_span,
            page_table: PageTable::new(arenas.into_iter().collect()),
            lookup,
            totals,
            runtime_stats,
            green_tea,
            warnings,
            pages,
            layout: l,
            in_progress: self.global("runtime.inProgress"),
            built_masks: RwLock::new(HashMap::new()),
        })
    }

    /// Read every span of `mheap_.allspans`, count the allocated slots of the in-use ones, and
    /// total them, with the runtime's own statistics.
    fn walk_spans(&self) -> Result<SpanWalk> {
        let Some(l) = self.layouts.heap.clone() else {
            return Err(Error::Unsupported(format!(
                "{} lacks the heap layouts: {}",
                self.layouts.source,
                self.layouts.heap_missing.join(", ")
            )));
        };
        let mheap = self
            .global("runtime.mheap_")
            .ok_or_else(|| Error::Unsupported("the executable has no symbol runtime.mheap_".into()))?;
        let mut warnings = Vec::new();

        let all = self.read_ptr_slice(mheap.saturating_add(l.mheap_allspans), 1 << 28, "mheap_.allspans")?;
        let raw: Vec<RawSpan> = all.par_iter().filter_map(|&a| self.read_span(&l, a)).collect();
        if raw.len() < all.len() {
            warnings.push(format!("{} of {} mspans unreadable", all.len() - raw.len(), all.len()));
        }

        let mut totals = HeapTotals::default();
        let mut spans = Vec::new();
        for r in raw {
            let bytes = r.npages.saturating_mul(l.page_size);
            if r.state == l.span_in_use {
                totals.spans_in_use += 1;
                totals.in_use_bytes = totals.in_use_bytes.saturating_add(bytes);
            } else if r.state == l.span_manual {
                totals.spans_manual += 1;
                totals.manual_bytes = totals.manual_bytes.saturating_add(bytes);
            } else if r.state == 0 {
                totals.spans_dead += 1;
            } else {
                totals.spans_other += 1;
            }
            if let Some(s) = r.span {
                spans.push((s, r.alloc_bits));
            }
        }
        // In-use spans have distinct bases: an unstable sort orders them all the same.
        spans.par_sort_unstable_by_key(|(s, _)| s.base);
        let (mut spans, alloc_bits): (Vec<Span>, Vec<u64>) = spans.into_par_iter().unzip();

        // The mcaches' current spans, and what they allocated since they were cached.
        let (cached, tiny_allocs) = self.mcaches(&l, &mut warnings);
        let cached: std::collections::HashSet<u64> = cached.into_iter().collect();
        let cached_spans: Vec<usize> =
            spans.par_iter().enumerate().filter(|(_, s)| cached.contains(&s.mspan)).map(|(i, _)| i).collect();
        let mut pending = vec![0u64; l.num_size_classes as usize];
        for i in cached_spans {
            let s = &mut spans[i];
            s.cached = true;
            totals.cached_spans += 1;
            if let Some(p) = pending.get_mut(s.size_class()) {
                *p += (s.alloc_count as u64).saturating_sub(s.alloc_count_before_cache as u64);
            }
        }

        // Count the allocated slots of each span.
        let counts: Vec<u32> = spans
            .par_iter()
            .zip(alloc_bits.par_iter())
            .map(|(s, &bits)| self.count_allocated(s, bits))
            .collect();
        for (s, &c) in spans.iter_mut().zip(&counts) {
            s.objects = c;
        }

        // Totals by class, consistency with allocCount.
        totals.by_class = vec![ClassTotals::default(); l.num_size_classes as usize];
        for s in &spans {
            let bytes = s.objects as u64 * s.elemsize;
            totals.objects += s.objects as u64;
            totals.bytes += bytes;
            if let Some(c) = totals.by_class.get_mut(s.size_class()) {
                c.size = if s.is_large() { 0 } else { s.elemsize };
                c.spans += 1;
                c.objects += s.objects as u64;
                c.bytes += bytes;
            }
            if !s.is_large() && s.objects != s.alloc_count {
                totals.inconsistent_spans += 1;
            }
        }
        if totals.inconsistent_spans > 0 {
            warnings.push(format!(
                "{} spans have a count of allocated slots that differs from their allocCount \
                 (the dump was taken while they were being changed)",
                totals.inconsistent_spans
            ));
        }
        let runtime_stats = match self.runtime_stats(&l, pending, tiny_allocs) {
            Ok(s) => Some(s),
            Err(e) => {
                warnings.push(format!("the runtime's heap statistics are unreadable: {e}"));
                None
            }
        };
        Ok(SpanWalk { l, spans, alloc_bits, totals, runtime_stats, warnings })
    }

    /// Run-time address of a global, by symbol or DWARF.
    pub(crate) fn global(&self, name: &str) -> Option<u64> {
        let link = self
            .exe
            .image
            .symbol(name)
            .map(|(a, _)| a)
            .or_else(|| self.exe.dwarf.as_ref()?.global(name).map(|(a, _)| a))?;
        Some(link.wrapping_add(self.bias))
    }

    /// The elements of a Go slice of pointers at `addr`.
    pub(crate) fn read_ptr_slice(&self, addr: u64, max: u64, what: &str) -> Result<Vec<u64>> {
        let ptr = self.read_u64(addr, what)?;
        let len = self.read_u64(addr.saturating_add(8), what)?;
        if len > max {
            return Err(Error::malformed(what, format!("implausible length {len}")));
        }
        let bytes = self.mem.slice(ptr, len * 8).ok_or_else(|| Error::MissingMemory {
            addr: ptr,
            len: len * 8,
            what: what.to_string(),
        })?;
        Ok(bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect())
    }

    fn read_span(&self, l: &HeapLayout, addr: u64) -> Option<RawSpan> {
        let b = self.mem.slice(addr, l.span_size)?;
        let u8_at = |o: u64| b.get(o as usize).copied();
        let u16_at = |o: u64| Some(u16::from_le_bytes(b.get(o as usize..o as usize + 2)?.try_into().ok()?));
        let u32_at = |o: u64| Some(u32::from_le_bytes(b.get(o as usize..o as usize + 4)?.try_into().ok()?));
        let u64_at = |o: u64| Some(u64::from_le_bytes(b.get(o as usize..o as usize + 8)?.try_into().ok()?));
        let state = u8_at(l.span_state)?;
        let base = u64_at(l.span_start)?;
        let npages = u64_at(l.span_npages)?;
        let mut raw = RawSpan { state, npages, span: None, alloc_bits: 0 };
        if state != l.span_in_use {
            return Some(raw);
        }
        let mut s = Span {
            mspan: addr,
            base,
            npages,
            elemsize: u64_at(l.span_elemsize)?,
            nelems: u16_at(l.span_nelems)? as u32,
            spanclass: u8_at(l.span_spanclass)?,
            freeindex: u16_at(l.span_freeindex)? as u32,
            alloc_count: u16_at(l.span_alloc_count)? as u32,
            alloc_count_before_cache: u16_at(l.span_alloc_count_before_cache)? as u32,
            sweepgen: u32_at(l.span_sweepgen)?,
            large_type: u64_at(l.span_large_type)?,
            cached: false,
            first_object: 0,
            objects: 0,
            rank_base: 0,
            div_mul: 0,
        };
        // A span whose geometry is absurd is skipped rather than trusted: objects that do not
        // fit it, or more memory than the whole dump holds (a corrupted npages).
        let span_bytes = npages.checked_mul(l.page_size)?;
        if s.elemsize > 0 && s.elemsize <= u32::MAX as u64 && !s.is_large() {
            s.div_mul = (u32::MAX / s.elemsize as u32).wrapping_add(1);
        }
        if s.elemsize == 0
            || (s.nelems as u64).checked_mul(s.elemsize)? > span_bytes
            || span_bytes > self.mem.stats().1
            || s.base.checked_add(span_bytes).is_none()
        {
            return Some(raw);
        }
        raw.alloc_bits = u64_at(l.span_alloc_bits)?;
        raw.span = Some(s);
        Some(raw)
    }

    /// Allocation bits of a small span, if readable.
    fn alloc_bits<'a>(&'a self, s: &Span, bits: u64) -> Option<&'a [u8]> {
        self.mem.slice(bits, (s.nelems as u64).div_ceil(8))
    }

    fn count_allocated(&self, s: &Span, bits: u64) -> u32 {
        if s.is_large() {
            // Counted by the runtime when allocLarge returns, before freeindex is set.
            return 1;
        }
        let free = s.freeindex.min(s.nelems);
        let Some(b) = self.alloc_bits(s, bits) else {
            return free;
        };
        free + (free..s.nelems).filter(|&n| b[(n / 8) as usize] >> (n % 8) & 1 == 1).count() as u32
    }

    /// The low halves of the addresses of a span's allocated objects, in order.
    fn fill_objects(&self, s: &Span, bits: u64, out: &mut [u32]) {
        if s.is_large() {
            if let Some(o) = out.first_mut() {
                *o = s.base as u32;
            }
            return;
        }
        let free = s.freeindex.min(s.nelems);
        let b = self.alloc_bits(s, bits);
        let allocated =
            (0..s.nelems).filter(|&n| n < free || b.is_some_and(|b| b[(n / 8) as usize] >> (n % 8) & 1 == 1));
        for (o, n) in out.iter_mut().zip(allocated) {
            *o = (s.base + n as u64 * s.elemsize) as u32;
        }
    }

    /// Addresses of the spans the Ps' mcaches hold, and the sum of their `tinyAllocs`.
    fn mcaches(&self, l: &HeapLayout, warnings: &mut Vec<String>) -> (Vec<u64>, u64) {
        let Some(allp) = self.globals.allp else {
            warnings.push("no runtime.allp: the mcaches' spans are not known".into());
            return (Vec::new(), 0);
        };
        let ps = match self.read_ptr_slice(allp, 1 << 20, "runtime.allp") {
            Ok(ps) => ps,
            Err(e) => {
                warnings.push(format!("the mcaches are unreadable: {e}"));
                return (Vec::new(), 0);
            }
        };
        let (mut spans, mut tiny) = (Vec::new(), 0u64);
        for p in ps.into_iter().filter(|&p| p != 0) {
            let Some(c) = self.mem.read_u64(p.saturating_add(l.p_mcache)).filter(|&c| c != 0) else {
                continue;
            };
            tiny += self.mem.read_u64(c.saturating_add(l.mcache_tiny_allocs)).unwrap_or(0);
            if let Some(b) = self.mem.slice(c.saturating_add(l.mcache_alloc), l.num_size_classes * 2 * 8) {
                spans.extend(b.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())));
            }
        }
        (spans, tiny)
    }

    /// Whether spans of objects of 16–512 B reserve inline mark bits: decided by the spans
    /// whose object count tells, else by the presence of `runtime.spanInlineMarkBits`.
    fn detect_green_tea(&self, l: &HeapLayout, spans: &[Span]) -> bool {
        let imb = l.inline_mark_bits_size.unwrap_or(128);
        let (mut yes, mut no) = (0u32, 0u32);
        for s in spans
            .iter()
            .filter(|s| !s.is_large() && s.elemsize >= 16 && s.elemsize <= l.min_size_for_malloc_header)
        {
            let bytes = s.npages * l.page_size;
            let bitmap = if s.noscan() { 0 } else { bytes / 64 };
            let without = (bytes - bitmap) / s.elemsize;
            let with = (bytes - bitmap).saturating_sub(imb) / s.elemsize;
            if without != with {
                match s.nelems as u64 {
                    n if n == with => yes += 1,
                    n if n == without => no += 1,
                    _ => {}
                }
            }
        }
        if yes + no == 0 {
            l.inline_mark_bits_size.is_some()
        } else {
            yes > no
        }
    }

    fn runtime_stats(&self, l: &HeapLayout, pending: Vec<u64>, tiny_allocs: u64) -> Result<RuntimeStats> {
        let ms = self.globals.memstats.ok_or_else(|| Error::Unsupported("no runtime.memstats".into()))?;
        let n = l.num_size_classes;
        let sizes_at = self
            .global("internal/runtime/gc.SizeClassToSize")
            .or_else(|| self.global("runtime.class_to_size"))
            .ok_or_else(|| Error::Unsupported("no size class table (class_to_size)".into()))?;
        let class_size: Vec<u64> = (0..n)
            .map(|i| self.mem.read_u16(sizes_at.saturating_add(2 * i)).map(u64::from))
            .collect::<Option<_>>()
            .ok_or_else(|| Error::MissingMemory {
                addr: sizes_at,
                len: 2 * n,
                what: "class_to_size".into(),
            })?;
        let mut st = RuntimeStats {
            small_alloc: vec![0; n as usize],
            small_free: vec![0; n as usize],
            class_size,
            mcache_tiny_allocs: tiny_allocs,
            ..Default::default()
        };
        let mut in_heap = 0u64;
        // heapStats.unsafeRead: the sum of the three generations.
        for g in 0..3 {
            let d = ms + l.mstats_heap_stats + g * l.delta_size;
            let rd = |off: u64| self.read_u64(d.saturating_add(off), "memstats.heapStats");
            in_heap = in_heap.wrapping_add(rd(l.delta_in_heap)?);
            st.tiny_alloc_count = st.tiny_alloc_count.wrapping_add(rd(l.delta_tiny_alloc_count)?);
            st.large_alloc_bytes = st.large_alloc_bytes.wrapping_add(rd(l.delta_large_alloc)?);
            st.large_alloc_count = st.large_alloc_count.wrapping_add(rd(l.delta_large_alloc_count)?);
            st.large_free_bytes = st.large_free_bytes.wrapping_add(rd(l.delta_large_free)?);
            st.large_free_count = st.large_free_count.wrapping_add(rd(l.delta_large_free_count)?);
            for i in 0..n {
                let a = rd(l.delta_small_alloc_count.saturating_add(8 * i))?;
                let f = rd(l.delta_small_free_count.saturating_add(8 * i))?;
                st.small_alloc[i as usize] = st.small_alloc[i as usize].wrapping_add(a);
                st.small_free[i as usize] = st.small_free[i as usize].wrapping_add(f);
            }
        }
        // readmemstats_m after flushallmcaches.
        let (mut total_alloc, mut mallocs) = (st.large_alloc_bytes, st.large_alloc_count);
        let (mut total_free, mut frees) = (st.large_free_bytes, st.large_free_count);
        for i in 0..n as usize {
            let a = st.small_alloc[i].wrapping_add(pending.get(i).copied().unwrap_or(0));
            total_alloc = total_alloc.wrapping_add(a.wrapping_mul(st.class_size[i]));
            mallocs = mallocs.wrapping_add(a);
            total_free = total_free.wrapping_add(st.small_free[i].wrapping_mul(st.class_size[i]));
            frees = frees.wrapping_add(st.small_free[i]);
        }
        let tiny = st.tiny_alloc_count.wrapping_add(tiny_allocs);
        st.mallocs = mallocs.wrapping_add(tiny);
        st.frees = frees.wrapping_add(tiny);
        st.total_alloc = total_alloc;
        st.heap_alloc = total_alloc.wrapping_sub(total_free);
        st.heap_objects = st.mallocs.wrapping_sub(st.frees);
        st.heap_inuse = in_heap;
        st.mcache_pending = pending;
        Ok(st)
    }
}

/// The heap's page-table geometry as shifts and a mask (the runtime's sizes are powers of
/// two; other values fall back to division).
#[derive(Clone, Copy, Debug)]
struct PageGeometry {
    arena_shift: u32,
    page_shift: u32,
    pages_mask: u64,
    pow2: bool,
}

impl PageGeometry {
    fn new(l: &HeapLayout) -> PageGeometry {
        let pow2 = [l.heap_arena_bytes, l.page_size, l.pages_per_arena].iter().all(|v| v.is_power_of_two());
        PageGeometry {
            arena_shift: l.heap_arena_bytes.trailing_zeros(),
            page_shift: l.page_size.trailing_zeros(),
            pages_mask: l.pages_per_arena.wrapping_sub(1),
            pow2,
        }
    }

    /// The arena index and the page within the arena of `addr`.
    #[inline]
    fn locate(&self, l: &HeapLayout, addr: u64) -> (u64, u64) {
        let a = addr.wrapping_sub(l.arena_base_offset);
        if self.pow2 {
            (a >> self.arena_shift, (addr >> self.page_shift) & self.pages_mask)
        } else {
            (a / l.heap_arena_bytes.max(1), (addr / l.page_size.max(1)) % l.pages_per_arena.max(1))
        }
    }
}

/// Objects per block of [`Heap::span_index`]'s table.
const OBJECT_BLOCK: u32 = 64;

/// The span of each block's first object: the last span whose objects start at or before it.
fn block_spans(spans: &[Span], objects: u32) -> Vec<u32> {
    let mut out = Vec::with_capacity(objects.div_ceil(OBJECT_BLOCK) as usize);
    let mut si = 0usize;
    for b in 0..objects.div_ceil(OBJECT_BLOCK) {
        let o = b * OBJECT_BLOCK;
        while spans.get(si + 1).is_some_and(|s| s.first_object <= o) {
            si += 1;
        }
        out.push(si as u32);
    }
    out
}

/// Page → span index of the in-use spans: per arena, a table of span index + 1 per page (0:
/// none); the arenas by a direct index when their range is compact (always, in the runtime's
/// usual layout), else by a search.
struct PageTable {
    /// Arena index of `slots[0]`.
    first: u64,
    /// Per arena index from `first`: its table's index + 1 (0: no table). Empty when the
    /// arenas are too far apart; then `keys` is searched.
    slots: Vec<u32>,
    keys: Vec<u64>,
    tables: Vec<Box<[u32]>>,
}

impl PageTable {
    /// Arena indices a direct index may cover (4 bytes each).
    const MAX_SLOTS: u64 = 1 << 20;

    fn new(arenas: Vec<(u64, Box<[u32]>)>) -> PageTable {
        let (keys, tables): (Vec<u64>, Vec<Box<[u32]>>) = arenas.into_iter().unzip();
        let first = keys.first().copied().unwrap_or(0);
        let span = keys.last().map_or(0, |&l| l - first + 1);
        let mut slots = Vec::new();
        if span <= Self::MAX_SLOTS {
            slots = vec![0u32; span as usize];
            for (i, &k) in keys.iter().enumerate() {
                slots[(k - first) as usize] = i as u32 + 1;
            }
        }
        PageTable { first, slots, keys, tables }
    }

    /// The span index of a page (arena index, page in the arena), if in use.
    #[inline]
    fn get(&self, at: (u64, u64)) -> Option<u32> {
        self.entry(at)?.checked_sub(1)
    }

    /// The entry of a page (span index + 1, or 0).
    #[inline]
    fn entry(&self, (arena, page): (u64, u64)) -> Option<&u32> {
        let t = if !self.slots.is_empty() {
            let i = *self.slots.get(arena.wrapping_sub(self.first) as usize)?;
            i.checked_sub(1)? as usize
        } else {
            self.keys.binary_search(&arena).ok()?
        };
        self.tables.get(t)?.get(page as usize)
    }
}

/// What finding the object at an address needs of its span, in 32 bytes (a [`Span`] is 80,
/// over two cache lines): the lookup of every pointer of the heap reads one of these.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(32))]
struct SpanLookup {
    base: u64,
    /// Bytes of slots from `base` (`nelems * elemsize`).
    extent: u32,
    elemsize: u32,
    div_mul: u32,
    first_object: u32,
    rank_base: u32,
    flags: u8,
}

impl SpanLookup {
    /// A large-object span.
    const LARGE: u8 = 1;
    /// Objects carry a malloc header.
    const HEADER: u8 = 2;
    /// Every slot is allocated (a large span: its object is).
    const FULL: u8 = 4;
    /// The extent or the element size does not fit 32 bits: see the [`Span`].
    const WIDE: u8 = 8;

    fn new(l: &HeapLayout, s: &Span) -> SpanLookup {
        let extent = s.nelems as u64 * s.elemsize;
        let mut flags = 0;
        if s.is_large() {
            flags |= Self::LARGE;
        }
        if Heap::has_header(l, s) {
            flags |= Self::HEADER;
        }
        if if s.is_large() { s.objects == 1 } else { s.objects == s.nelems } {
            flags |= Self::FULL;
        }
        if extent > u32::MAX as u64 || s.elemsize == 0 {
            flags |= Self::WIDE;
        }
        SpanLookup {
            base: s.base,
            extent: extent.min(u32::MAX as u64) as u32,
            elemsize: s.elemsize.min(u32::MAX as u64) as u32,
            div_mul: s.div_mul,
            first_object: s.first_object,
            rank_base: s.rank_base,
            flags,
        }
    }

    /// The slot holding offset `rel` (below `extent`), as [`Span::slot`].
    #[inline]
    fn slot(&self, rel: u32) -> u32 {
        slot_of(rel as u64, self.elemsize as u64, self.div_mul)
    }

    /// Bytes of malloc header before each object's value.
    #[inline]
    fn header(&self, l: &HeapLayout) -> u64 {
        if self.flags & Self::HEADER != 0 {
            l.malloc_header_size
        } else {
            0
        }
    }
}

impl Heap {
    /// What [`Process::span_census`] gives, from this walk.
    pub fn census(&self) -> SpanCensus {
        SpanCensus {
            totals: self.totals.clone(),
            slot_bytes: self.spans.iter().fold(0u64, |t, s| t.saturating_add(s.nelems as u64 * s.elemsize)),
            runtime_stats: self.runtime_stats.clone(),
            warnings: self.warnings.clone(),
        }
    }

    /// Number of allocated objects.
    pub fn len(&self) -> u32 {
        self.addrs.lo.len() as u32
    }

    pub fn is_empty(&self) -> bool {
        self.addrs.lo.is_empty()
    }

    /// Address of an object (the start of its slot; for objects with a malloc header, the
    /// header: the Go pointer to the object is `addr + header_size`).
    pub fn addr(&self, obj: u32) -> u64 {
        self.addrs.get(obj)
    }

    /// Size of an object's slot (its size class; a large object's span).
    #[inline]
    pub fn size(&self, obj: u32) -> u64 {
        self.size_and_header(obj).0
    }

    /// The span of an object: the last span whose objects start at or before it, searched
    /// from the span of its block's first object (most blocks lie in one or two spans).
    #[inline]
    pub fn span_index(&self, obj: u32) -> u32 {
        let b = (obj / OBJECT_BLOCK) as usize;
        let lo = self.block_span[b] as usize;
        let hi = self.block_span.get(b + 1).map_or(self.lookup.len(), |&h| h as usize + 1);
        match self.lookup.get(lo + 1) {
            Some(next) if next.first_object <= obj => {
                (lo + self.lookup[lo..hi].partition_point(|s| s.first_object <= obj) - 1) as u32
            }
            _ => lo as u32,
        }
    }

    #[inline]
    pub fn span(&self, obj: u32) -> &Span {
        &self.spans[self.span_index(obj) as usize]
    }

    /// Bytes of malloc header at the start of the object (8 for scan objects of small spans
    /// above 512 B, else 0).
    pub fn header_size(&self, obj: u32) -> u64 {
        self.size_and_header(obj).1
    }

    /// Start loading what [`Self::addr`] reads of an object (for callers that know which
    /// objects come next).
    #[inline]
    pub fn prefetch_addr(&self, obj: u32) {
        prefetch(self.addrs.lo.as_ptr().wrapping_add(obj as usize));
    }

    /// Bytes of a malloc header, for the objects that have one (the others have none: an
    /// object's header is this or nothing).
    pub fn malloc_header_size(&self) -> u64 {
        self.layout.malloc_header_size
    }

    /// [`Self::size`] and [`Self::header_size`], with one span lookup.
    #[inline]
    pub fn size_and_header(&self, obj: u32) -> (u64, u64) {
        let si = self.span_index(obj) as usize;
        let l = &self.lookup[si];
        if l.flags & SpanLookup::WIDE != 0 {
            return (self.spans[si].elemsize, l.header(&self.layout));
        }
        (l.elemsize as u64, l.header(&self.layout))
    }

    /// The objects of every span holding some, in parallel: their indices, slot size and
    /// malloc header bytes (what [`Self::size_and_header`] gives each, without a lookup per
    /// object).
    pub fn par_object_runs(&self) -> impl ParallelIterator<Item = (std::ops::Range<u32>, u64, u64)> + '_ {
        self.spans.par_iter().filter(|s| s.objects > 0).map(|s| {
            let header = if Self::has_header(&self.layout, s) { self.layout.malloc_header_size } else { 0 };
            (s.first_object..s.first_object + s.objects, s.elemsize, header)
        })
    }

    /// The address ranges of the spans whose objects hold pointers (what the object graph's
    /// scan reads), in address order, adjacent spans merged. Not across gaps: spans of
    /// pointer-free objects lie between them, and in a heap of byte slices those are most of
    /// its pages.
    pub fn scanned_ranges(&self) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        for s in self.spans.iter().filter(|s| s.objects > 0 && !s.noscan()) {
            let len = s.npages * self.layout.page_size;
            match out.last_mut() {
                Some((a, l)) if *a + *l == s.base => *l += len,
                _ => out.push((s.base, len)),
            }
        }
        out
    }

    fn has_header(l: &HeapLayout, s: &Span) -> bool {
        !s.noscan() && !s.is_large() && s.elemsize > l.min_size_for_malloc_header
    }

    /// The index of the in-use span whose pages hold `addr`, by the arena's page table (the
    /// span's slots may end before `addr`).
    #[inline]
    fn span_of_page(&self, addr: u64) -> Option<u32> {
        self.page_table.get(self.pages.locate(&self.layout, addr))
    }

    /// The in-use span holding `addr`, by the arena's page table.
    #[inline]
    pub fn find_span(&self, addr: u64) -> Option<u32> {
        let si = self.span_of_page(addr)?;
        let s = self.lookup.get(si as usize)?;
        if s.flags & SpanLookup::WIDE != 0 {
            let s = &self.spans[si as usize];
            return (s.base <= addr && addr < s.slots_end()).then_some(si);
        }
        (addr.wrapping_sub(s.base) < s.extent as u64).then_some(si)
    }

    /// The allocated object whose slot holds `addr`, if any: a span lookup, then the slot's rank
    /// among the span's allocated slots.
    #[inline]
    pub fn find_object(&self, addr: u64) -> Option<u32> {
        self.find_object_start(addr).map(|(o, _, _)| o)
    }

    /// The object in slot `n` of a small-object span, if that slot is allocated.
    #[inline]
    fn allocated_slot(&self, s: &Span, n: u32) -> Option<u32> {
        if s.objects == s.nelems {
            return Some(s.first_object + n);
        }
        self.ranked_slot(s.first_object, s.rank_base, n)
    }

    /// Slot `n` of a span with free slots, by its ranks.
    #[inline]
    fn ranked_slot(&self, first_object: u32, rank_base: u32, n: u32) -> Option<u32> {
        let (before, bits) = *self.ranks.get(rank_base as usize + n as usize / 64)?;
        let bit = 1u64 << (n % 64);
        (bits & bit != 0).then(|| first_object + before + (bits & (bit - 1)).count_ones())
    }

    /// The allocated object whose value starts at `addr` (after its malloc header, if any);
    /// None for interior pointers, free slots and non-heap addresses.
    #[inline]
    pub fn object_starting_at(&self, addr: u64) -> Option<u32> {
        self.find_object_start(addr).filter(|&(_, _, start)| start).map(|(o, _, _)| o)
    }

    /// [`Self::find_object`], the offset of `addr` in the object's slot, and whether `addr` is
    /// where the object's value starts (after its malloc header, if any) rather than inside
    /// it. The hot path of the graph's scan: a page-table entry and one [`SpanLookup`].
    #[inline]
    pub fn find_object_start(&self, addr: u64) -> Option<(u32, u64, bool)> {
        let si = self.span_of_page(addr)?;
        self.find_object_start_in(si, addr)
    }

    /// The first of the three steps of [`Self::find_object_start`], for a caller that looks
    /// up many addresses at once and hides the cache misses of each step behind the others:
    /// start loading the page-table entry of `addr`.
    #[inline]
    pub fn prefetch_page(&self, addr: u64) {
        if let Some(e) = self.page_table.entry(self.pages.locate(&self.layout, addr)) {
            prefetch(e);
        }
    }

    /// The second step: the index of the span whose pages hold `addr` (None off the heap),
    /// and start loading what the third step, [`Self::find_object_start_in`], reads of it.
    #[inline]
    pub fn page_span(&self, addr: u64) -> Option<u32> {
        let si = self.span_of_page(addr)?;
        prefetch(self.lookup.as_ptr().wrapping_add(si as usize));
        Some(si)
    }

    /// [`Self::find_object_start`] given the span of `addr`'s page ([`Self::page_span`]).
    #[inline]
    pub fn find_object_start_in(&self, si: u32, addr: u64) -> Option<(u32, u64, bool)> {
        let s = self.lookup.get(si as usize)?;
        let rel = addr.wrapping_sub(s.base);
        if s.flags & SpanLookup::WIDE != 0 {
            return self.find_object_start_wide(si, addr);
        }
        if rel >= s.extent as u64 {
            return None;
        }
        let header = s.header(&self.layout);
        if s.flags & SpanLookup::LARGE != 0 {
            return (s.flags & SpanLookup::FULL != 0).then_some((s.first_object, rel, rel == header));
        }
        let n = s.slot(rel as u32);
        let o = if s.flags & SpanLookup::FULL != 0 {
            s.first_object + n
        } else {
            self.ranked_slot(s.first_object, s.rank_base, n)?
        };
        let inner = rel - n as u64 * s.elemsize as u64;
        Some((o, inner, inner == header))
    }

    /// [`Self::find_object_start`] in a span whose extent does not fit 32 bits.
    #[cold]
    fn find_object_start_wide(&self, si: u32, addr: u64) -> Option<(u32, u64, bool)> {
        let s = &self.spans[si as usize];
        if addr < s.base || addr >= s.slots_end() {
            return None;
        }
        let header = self.lookup[si as usize].header(&self.layout);
        let rel = addr - s.base;
        if s.is_large() {
            return (s.objects == 1).then_some((s.first_object, rel, rel == header));
        }
        let n = s.slot(rel);
        let o = self.allocated_slot(s, n)?;
        let inner = rel - n as u64 * s.elemsize;
        Some((o, inner, inner == header))
    }

    /// Call `f(offset, value)` for every pointer slot of an object whose value is not nil;
    /// offsets are from the object's address (a malloc header is not a pointer slot).
    ///
    /// `mem` is the dump's memory, or the [`Process`]: only with the process can the GC mask
    /// of an on-demand type the runtime never built (Go 1.24+) be rebuilt from the type's
    /// structure ([`super::types::TypeTable::ptr_mask`]); with the memory alone such an object is
    /// [`NoPointerInfo::MaskNotBuilt`] unless the process rebuilt that mask before.
    pub fn for_each_pointer<M: ObjectMemory + ?Sized>(
        &self,
        mem: &M,
        obj: u32,
        mut f: impl FnMut(u64, u64),
    ) -> PointerInfo {
        let l = &self.layout;
        let s = self.span(obj);
        if s.noscan() {
            return PointerInfo::NoPointers;
        }
        let src = mem;
        let mem = src.memory();
        let addr = self.addr(obj);
        let span_bytes = s.npages * l.page_size;
        // Borrow the span whole (object and heap bits) when one region holds it, else the
        // object; else read word by word.
        let span = mem.slice(s.base, span_bytes);
        let data = match span {
            Some(b) => b.get((addr - s.base) as usize..(addr - s.base + s.elemsize) as usize),
            None => mem.slice(addr, s.elemsize),
        };
        let word = |off: u64| match data {
            Some(d) => {
                d.get(off as usize..off as usize + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()))
            }
            None => mem.read_u64(addr.saturating_add(off)),
        };
        let mut unreadable = false;
        let mut emit = |off: u64| match word(off) {
            Some(0) => {}
            Some(v) => f(off, v),
            None => unreadable = true,
        };
        if !s.is_large() && s.elemsize <= l.min_size_for_malloc_header {
            // Heap bits at the end of the span, one per word.
            let size = span_bytes / 64;
            let mut start = s.base + span_bytes - size;
            if self.green_tea && s.elemsize >= 16 {
                start -= l.inline_mark_bits_size.unwrap_or(128);
            }
            let w0 = (addr - s.base) / 8;
            // The object's bits, 64 at a time (at most 64: 512 bytes).
            let (words, first) = (s.elemsize / 8, w0 % 8);
            let (at, len) = (start + w0 / 8, (first + words).div_ceil(8));
            let bits = match span {
                Some(b) => b.get((at - s.base) as usize..(at - s.base + len) as usize),
                None => mem.slice(at, len),
            };
            let Some(bits) = bits else {
                return PointerInfo::Unknown(NoPointerInfo::Unreadable);
            };
            for (i, part) in bits.chunks(8).enumerate() {
                let mut buf = [0u8; 16];
                buf[..part.len()].copy_from_slice(part);
                buf[8] = bits.get(i * 8 + 8).copied().unwrap_or(0);
                let mut m = (u128::from_le_bytes(buf) >> first) as u64;
                let base = i as u64 * 64;
                if words - base < 64 {
                    m &= (1 << (words - base)) - 1;
                }
                while m != 0 {
                    let w = base + m.trailing_zeros() as u64;
                    m &= m - 1;
                    emit(w * 8);
                }
                if words <= base + 64 {
                    break;
                }
            }
            return if unreadable {
                PointerInfo::Unknown(NoPointerInfo::Unreadable)
            } else {
                PointerInfo::Scanned
            };
        }
        let (typ, data_start) = if s.is_large() {
            (s.large_type, 0)
        } else {
            match word(0) {
                Some(t) => (t, l.malloc_header_size),
                None => return PointerInfo::Unknown(NoPointerInfo::Unreadable),
            }
        };
        if typ == 0 {
            return PointerInfo::Unknown(NoPointerInfo::NilType);
        }
        let (size, ptr_words, mask) = match self.type_mask(src, typ) {
            Ok(t) => t,
            Err(why) => return PointerInfo::Unknown(why),
        };
        // Tile the type's mask over the slot, as the GC's typePointers iterator does.
        let mut elem = data_start;
        while elem < s.elemsize {
            for (bi, &byte) in mask.bits().iter().enumerate() {
                let mut m = byte;
                while m != 0 {
                    let w = bi as u64 * 8 + m.trailing_zeros() as u64;
                    m &= m - 1;
                    let off = elem + w * 8;
                    if w < ptr_words && off + 8 <= s.elemsize {
                        emit(off);
                    }
                }
            }
            if size == 0 {
                break;
            }
            elem += size;
        }
        if unreadable {
            PointerInfo::Unknown(NoPointerInfo::Unreadable)
        } else {
            PointerInfo::Scanned
        }
    }

    /// A type's size, pointer words and 1-bit-per-word mask.
    fn type_mask<'m, M: ObjectMemory + ?Sized>(
        &self,
        src: &'m M,
        typ: u64,
    ) -> std::result::Result<(u64, u64, Mask<'m>), NoPointerInfo> {
        let l = &self.layout;
        let mem = src.memory();
        let un = NoPointerInfo::Unreadable;
        let t = self.read_type(mem, typ).ok_or(un)?;
        if l.kind_gc_prog.is_some_and(|k| t.kind & k != 0)
            && l.tflag_unrolled_bitmap.is_none_or(|f| t.tflag & f == 0)
        {
            return Err(NoPointerInfo::GcProgram);
        }
        let words = t.ptrbytes / 8;
        let mut gcdata = t.gcdata;
        if l.tflag_gc_mask_on_demand.is_some_and(|f| t.tflag & f != 0) {
            gcdata = mem.read_u64(gcdata).ok_or(un)?;
            if gcdata == 0 || Some(gcdata) == self.in_progress {
                // Never built in the process: build it from the type, as buildGCMask does.
                return self.built_mask(src, typ).map(|m| (t.size, words, Mask::Built(m)));
            }
        }
        let mask = mem.slice(gcdata, words.div_ceil(8)).ok_or(un)?;
        Ok((t.size, words, Mask::Runtime(mask)))
    }

    /// The mask of an on-demand type, rebuilt by the process's type table (cached, failures
    /// too).
    fn built_mask<M: ObjectMemory + ?Sized>(
        &self,
        src: &M,
        typ: u64,
    ) -> std::result::Result<Arc<PtrMask>, NoPointerInfo> {
        let not_built = NoPointerInfo::MaskNotBuilt;
        if let Some(m) = self.built_masks.read().ok().and_then(|c| c.get(&typ).cloned()) {
            return m.ok_or(not_built);
        }
        let p = src.process().ok_or(not_built)?;
        let m = p.types().and_then(|tt| tt.ptr_mask(&*tt.get(typ)?)).ok();
        if let Ok(mut c) = self.built_masks.write() {
            c.insert(typ, m.clone());
        }
        m.ok_or(not_built)
    }

    fn read_type(&self, mem: &AddressSpace, typ: u64) -> Option<TypeHead> {
        let l = &self.layout;
        Some(TypeHead {
            size: mem.read_u64(typ.saturating_add(l.type_size))?,
            ptrbytes: mem.read_u64(typ.saturating_add(l.type_ptrbytes))?,
            tflag: mem.read_u8(typ.saturating_add(l.type_tflag))?,
            kind: mem.read_u8(typ.saturating_add(l.type_kind))?,
            gcdata: mem.read_u64(typ.saturating_add(l.type_gcdata))?,
        })
    }

    /// Pointer information over every object, in parallel.
    pub fn pointer_census<M: ObjectMemory + Sync + ?Sized>(&self, mem: &M) -> PointerCensus {
        let merge = |mut a: PointerCensus, b: PointerCensus| {
            a.noscan_objects += b.noscan_objects;
            a.scanned_objects += b.scanned_objects;
            a.pointers += b.pointers;
            for (k, n) in b.unknown {
                match a.unknown.iter_mut().find(|(x, _)| *x == k) {
                    Some(e) => e.1 += n,
                    None => a.unknown.push((k, n)),
                }
            }
            a
        };
        (0..self.len())
            .into_par_iter()
            .fold(PointerCensus::default, |mut c, obj| {
                let mut n = 0u64;
                match self.for_each_pointer(mem, obj, |_, _| n += 1) {
                    PointerInfo::NoPointers => c.noscan_objects += 1,
                    PointerInfo::Scanned => c.scanned_objects += 1,
                    PointerInfo::Unknown(k) => {
                        c = merge(c, PointerCensus { unknown: vec![(k, 1)], ..Default::default() })
                    }
                }
                c.pointers += n;
                c
            })
            .reduce(PointerCensus::default, merge)
    }
}

/// Hint the processor to load the cache line at `p` (nothing on other architectures).
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it does not fault on any address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p as *const i8, std::arch::x86_64::_MM_HINT_T0)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    /// Addresses kept in 4 bytes each come back whole, across a 4 GiB boundary inside a span.
    #[test]
    fn addresses_across_4g() {
        let span = |base: u64, elemsize: u64, nelems: u32, first_object: u32, objects: u32| Span {
            mspan: 0,
            base,
            npages: 1,
            elemsize,
            nelems,
            spanclass: 2,
            freeindex: nelems,
            alloc_count: objects,
            alloc_count_before_cache: 0,
            sweepgen: 0,
            large_type: 0,
            cached: false,
            first_object,
            objects,
            rank_base: 0,
            div_mul: 0,
        };
        let want: Vec<u64> = vec![
            0xc0_ffff_f000,
            0xc0_ffff_f800,
            0xc1_0000_0000,
            0xc1_0000_0800,
            0xc2_0000_0000,
            0xc2_0000_0010,
        ];
        let spans = [span(0xc0_ffff_f000, 0x800, 4, 0, 4), span(0xc2_0000_0000, 0x10, 2, 4, 2)];
        let mut a = Addrs { lo: want.iter().map(|&v| v as u32).collect(), hi: Vec::new() };
        a.runs(&spans);
        let got: Vec<u64> = (0..want.len() as u32).map(|o| a.get(o)).collect();
        assert_eq!(got, want);
        assert_eq!(a.hi, vec![(0, 0xc0), (2, 0xc1), (4, 0xc2)]);
    }

    use super::*;
    use std::path::PathBuf;

    #[test]
    fn page_table_near_and_far_arenas() {
        let table = |v: &[(u64, u32)]| -> Box<[u32]> {
            let mut t = vec![0u32; 8];
            v.iter().for_each(|&(p, s)| t[p as usize] = s);
            t.into_boxed_slice()
        };
        // Arenas 5 and 7: a direct index; 5 and 2^40: a search.
        for far in [7, 1 << 40] {
            let pt = PageTable::new(vec![(5, table(&[(0, 1), (3, 2)])), (far, table(&[(7, 9)]))]);
            assert_eq!(pt.slots.is_empty(), far > 7);
            assert_eq!(pt.get((5, 0)), Some(0));
            assert_eq!(pt.get((5, 3)), Some(1));
            assert_eq!(pt.get((5, 1)), None);
            assert_eq!(pt.get((far, 7)), Some(8));
            assert_eq!(pt.get((far, 8)), None);
            assert_eq!((pt.get((4, 0)), pt.get((6, 0)), pt.get((u64::MAX, 0))), (None, None, None));
        }
        assert_eq!(PageTable::new(Vec::new()).get((0, 0)), None);
    }

    /// Directories holding a `case.json` under `root` (any depth), sorted.
    /// The whole-heap invariants every real dump must satisfy; returns the heap.
    fn check_consistent(p: &Process, name: &str) -> Heap {
        let h = p.heap().unwrap_or_else(|e| panic!("{name}: heap: {e}"));
        let t = &h.totals;
        let rs = h.runtime_stats.as_ref().unwrap_or_else(|| panic!("{name}: {:?}", h.warnings));
        eprintln!(
            "{name}: {} objects, {} bytes, {} in-use spans ({} cached), green tea {}; runtime: {} objects, {} bytes",
            t.objects, t.bytes, t.spans_in_use, t.cached_spans, h.green_tea, rs.heap_objects, rs.heap_alloc
        );
        assert_eq!(t.inconsistent_spans, 0, "{name}");
        assert_eq!(rs.heap_objects, t.objects, "{name}: HeapObjects");
        assert_eq!(rs.heap_alloc, t.bytes, "{name}: HeapAlloc");
        assert_eq!(rs.heap_inuse, t.in_use_bytes, "{name}: HeapInuse");
        // The ranges to read ahead cover the scanned spans exactly, in order, apart.
        let ranges = h.scanned_ranges();
        let scanned: u64 = h
            .spans
            .iter()
            .filter(|s| s.objects > 0 && !s.noscan())
            .map(|s| s.npages * h.layout.page_size)
            .sum();
        assert_eq!(ranges.iter().map(|r| r.1).sum::<u64>(), scanned, "{name}: scanned ranges");
        assert!(ranges.windows(2).all(|w| w[0].0 + w[0].1 < w[1].0), "{name}: scanned ranges apart");
        // Each object in the span its block's search finds.
        for o in 0..h.len() {
            let s = h.span(o);
            assert!(s.first_object <= o && o < s.first_object + s.objects, "{name}: span of object {o}");
        }
        // Addresses sorted, each found back from its first and last byte.
        assert!((1..h.len()).all(|o| h.addr(o - 1) < h.addr(o)), "{name}: sorted");
        let step = (h.len() / 5000).max(1);
        for obj in (0..h.len()).step_by(step as usize) {
            let (a, n) = (h.addr(obj), h.size(obj));
            assert_eq!(h.find_object(a), Some(obj), "{name}: {a:#x}");
            assert_eq!(h.find_object(a + n - 1), Some(obj), "{name}: {a:#x}+{n}");
            // The packed lookup answers as the span itself does, around the object too (free
            // slots, span ends).
            for x in [a.wrapping_sub(1), a, a + 1, a + h.header_size(obj), a + n - 1, a + n] {
                let slow = h.find_span(x).and_then(|si| h.find_object_start_wide(si, x));
                assert_eq!(h.find_object_start(x), slow, "{name}: {x:#x}");
            }
        }
        // The runtime's own page → span map (mheap_.arenas[l1][l2].spans) agrees with ours.
        let l = &h.layout;
        let mheap = p.global("runtime.mheap_").unwrap();
        for obj in (0..h.len()).step_by(step as usize) {
            let a = h.addr(obj);
            let ri = a.wrapping_sub(l.arena_base_offset) / l.heap_arena_bytes;
            let (l1, l2) = (ri >> l.arena_l2_bits, ri & ((1 << l.arena_l2_bits) - 1));
            let l2map = p.mem.read_u64(mheap.saturating_add(l.mheap_arenas + 8 * l1)).unwrap();
            let ha = p.mem.read_u64(l2map.saturating_add(8 * l2)).unwrap();
            let page = (a / l.page_size) % l.pages_per_arena;
            let ms = p.mem.read_u64(ha.saturating_add(l.arena_spans + 8 * page)).unwrap();
            assert_eq!(ms, h.span(obj).mspan, "{name}: spanOf({a:#x})");
        }
        assert_eq!((h.find_object(0), h.find_object(u64::MAX)), (None, None));
        let c = h.pointer_census(p);
        eprintln!("{name}: pointers {c:?}");
        assert_eq!(
            c.noscan_objects + c.scanned_objects + c.unknown.iter().map(|u| u.1).sum::<u64>(),
            t.objects
        );
        h
    }

    /// Dumps of the heapprog program (see the report): `$GOMORTEM_HEAP_DUMPS/*/{exe,dump,stdout}`.
    #[test]
    fn heapprog_dumps() {
        for (d, out) in crate::testutil::env_dumps("GOMORTEM_HEAP_DUMPS") {
            let d = &d;
            let name = d.display().to_string();
            let val = |k: &str| crate::testutil::printed(&out, k);
            let p = Process::open(&d.join("dump"), Some(&d.join("exe"))).unwrap();
            let h = check_consistent(&p, &name);
            // Everything allocated after ReadMemStats is in the mcaches.
            assert_eq!(h.totals.objects, val("HeapObjects") + val("AfterObjects"), "{name}");
            assert_eq!(h.totals.bytes, val("HeapAlloc") + val("AfterBytes"), "{name}");
            // Some of them were flushed by a refill; the rest are pending in the mcaches.
            let pending: u64 = h.runtime_stats.as_ref().unwrap().mcache_pending.iter().sum();
            assert!(pending > 0 && pending <= val("AfterObjects"), "{name}: {pending} pending");
            let x = val("x");
            let ptrs = |user: u64| {
                let obj = h.find_object(user).unwrap();
                let mut v = Vec::new();
                let info = h.for_each_pointer(&p, obj, |o, val| v.push((o, val)));
                assert_eq!(info, PointerInfo::Scanned, "{name} {user:#x}");
                (h.addr(obj), v)
            };
            let (a, v) = ptrs(val("node"));
            assert_eq!((a, v.len(), v[0].0), (val("node"), 1, 0), "{name}: node");
            let (a, v) = ptrs(val("mid"));
            assert_eq!((a + 8, v), (val("mid"), vec![(8, x), (816, x)]), "{name}: mid");
            let (a, v) = ptrs(val("huge"));
            assert_eq!((a, v), (val("huge"), vec![(8, x), (4999 * 8, x)]), "{name}: huge");
            let (a, v) = ptrs(val("demand"));
            assert_eq!((a, v), (val("demand"), vec![(17000 * 8, x)]), "{name}: demand");
            if out.contains("fresh=") {
                let (a, v) = ptrs(val("fresh"));
                assert_eq!((a + 8, v), (val("fresh"), vec![(8, x), (1600, x), (1728, x)]), "{name}: fresh");
            }
        }
    }

    /// Every fixture case: the walk agrees with the runtime's own counters exactly. (The
    /// MemStats the program printed are checked, with their documented exact differences, by
    /// tests/matrix.rs and tests/heap.rs through `tests/common/facts.rs`.)
    #[test]
    fn fixture_cases() {
        let mut n = 0;
        for (d, meta) in crate::testutil::fixture_cases() {
            let file = |k: &str| d.join(meta[k].as_str().unwrap_or(k));
            let name = d.display().to_string();
            let p = match Process::open(&file("dump"), Some(&file("exe"))) {
                Ok(p) => p,
                Err(e) => panic!("{name}: {e}"),
            };
            check_consistent(&p, &name);
            n += 1;
        }
        if n == 0 {
            eprintln!("note: no fixture case (GOMORTEM_FIXTURES, fixtures/committed): skipping");
        }
    }

    fn rss_anon_kb() -> u64 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        s.lines()
            .find_map(|l| l.strip_prefix("RssAnon:")?.trim().strip_suffix("kB")?.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Timing on a big dump: `GOMORTEM_HEAP_BENCH=DIR` (with `dump` and `exe`), release build:
    /// `cargo test --release --lib runtime::heap::tests::bench -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn bench() {
        let Some(d) = std::env::var_os("GOMORTEM_HEAP_BENCH").map(PathBuf::from) else {
            return;
        };
        let p = Process::open(&d.join("dump"), Some(&d.join("exe"))).unwrap();
        let (r0, t0) = (rss_anon_kb(), std::time::Instant::now());
        let h = p.heap().unwrap();
        let (r1, t1) = (rss_anon_kb(), std::time::Instant::now());
        let c = h.pointer_census(&p);
        let t2 = std::time::Instant::now();
        let step = (h.len() / 1_000_000).max(1);
        let found =
            (0..h.len()).step_by(step as usize).filter(|&o| h.find_object(h.addr(o) + 1).is_some()).count();
        let t3 = std::time::Instant::now();
        eprintln!(
            "{}: {} objects, {} spans; heap() {:?}, +{} MiB anon; pointer census {:?} ({} pointers); {} find_object in {:?}",
            d.display(), h.len(), h.spans.len(), t1 - t0, (r1 - r0) / 1024, t2 - t1, c.pointers, found, t3 - t2
        );
    }
}
