//! The object graph of the heap, its roots, and what they keep reachable.
//!
//! [`ObjectGraph`] holds, for every heap object, its outgoing edges to other heap objects in
//! compressed sparse rows: the target object and the byte offset, in the source object, of the
//! pointer taken. Pointers are found through the heap's pointer bitmaps; an object whose
//! pointer information is unknown is scanned conservatively (every word that resolves to an
//! object is taken as a pointer). Roots come from the caller as [`RootEdges`] (the precise
//! roots of the runtime model), or from [`conservative_roots`]. [`Reachability`] marks from the
//! roots breadth-first, so that [`Reachability::path_to`] gives a shortest path.
//!
//! Size and speed (a heap of 16M objects and 21M edges): the graph is built in parallel, a
//! chunk of objects at a time, and kept in those chunks (4 bytes an object, 6 to 8 an edge,
//! no copy). The search expands wide levels in parallel yet finds what a sequential search
//! would, parents included (see `Reachability::parallel_level`); it keeps 4 bytes an object
//! (parents) and notes which objects have several predecessors, for the dominators. Both are
//! bound by cache misses: rows and marks are prefetched a few objects ahead, and a wide
//! level's marks and parents are written range by range of objects.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use rayon::prelude::*;

use crate::runtime::heap::{Heap, PointerInfo};
use crate::runtime::Process;

/// Bit of a raw field ([`ObjectGraph::raw_fields`]): the pointer points where the target's
/// value starts (after its malloc header), not inside it.
pub const FIELD_AT_START: u32 = 1 << 31;
/// Bit of a raw field: the pointer points at the first byte of the target's slot (its value's
/// start if it has no malloc header, else its header). With [`FIELD_AT_START`], the two say
/// where in its slot a pointer to the start of a value points without a look at the slot.
pub const FIELD_AT_SLOT: u32 = 1 << 30;
/// The offset bits of a raw field (offsets past 1 GiB are clamped, and never at start).
pub const FIELD_MASK: u32 = FIELD_AT_SLOT - 1;

/// Objects scanned per parallel task, and kept together in the graph.
const CHUNK: usize = 16 * 1024;
/// Marker of "no object" in parent arrays.
pub(crate) const NONE: u32 = u32::MAX;
/// Parent of an object a root points to directly.
pub(crate) const FROM_ROOT: u32 = u32::MAX - 1;

/// The heap objects one root points to.
#[derive(Clone, Debug, Default)]
pub struct RootEdges {
    /// Index of the root in the caller's list of roots.
    pub root: u32,
    /// Heap objects (indices into the [`Heap`]) the root points to; duplicates are harmless.
    pub objects: Vec<u32>,
}

impl RootEdges {
    /// Group flat `(root, object)` pairs by root (ascending), one entry per root that has any.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (u32, u32)>) -> Vec<RootEdges> {
        let mut pairs: Vec<(u32, u32)> = pairs.into_iter().collect();
        pairs.sort_unstable();
        let mut out: Vec<RootEdges> = Vec::new();
        for (root, obj) in pairs {
            match out.last_mut() {
                Some(last) if last.root == root => last.objects.push(obj),
                _ => out.push(RootEdges { root, objects: vec![obj] }),
            }
        }
        out
    }
}

/// What a conservative root is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RootKind {
    /// A global variable (a symbol of the data or bss section), or the words of those sections
    /// no symbol covers.
    Global,
    /// The live part `[sp, hi)` of a goroutine's stack.
    Stack,
}

/// A root found by [`conservative_roots`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct Root {
    /// `main.cache`, `data (no symbol)`, `goroutine 17 stack`.
    pub name: String,
    pub kind: RootKind,
    /// Run-time address and length of the memory scanned.
    pub addr: u64,
    pub size: u64,
}

/// Roots from a conservative scan: every pointer-sized word of the data and bss sections and
/// of each goroutine's live stack `[sp, hi)` whose value lies in a heap object. `edges[i].root`
/// indexes `roots`; only roots that point into the heap are listed.
///
/// A fallback for when the precise roots (stack maps, GC masks of the globals) cannot be read:
/// it over-approximates what is live (stale words of a stack frame, integers that look like
/// pointers).
pub fn conservative_roots(p: &Process, heap: &Heap) -> (Vec<Root>, Vec<RootEdges>) {
    let mut ranges: Vec<(Root, Vec<u32>)> = Vec::new();
    for (name, start, end) in
        [("data", "runtime.data", "runtime.edata"), ("bss", "runtime.bss", "runtime.ebss")]
    {
        let sym = |s: &str| p.exe.image.symbol(s).map(|(a, _)| a);
        let (lo, hi) = match (sym(start), sym(end)) {
            (Some(a), Some(b)) if a < b => (a, b),
            _ => match p.exe.image.section(&format!(".{name}")) {
                Some(s) => (s.addr, s.addr.saturating_add(s.size)),
                None => continue,
            },
        };
        global_roots(p, heap, name, lo, hi, &mut ranges);
    }
    stack_roots(p, heap, &mut ranges);
    let mut roots = Vec::new();
    let mut edges = Vec::new();
    for (root, objects) in ranges {
        if !objects.is_empty() {
            edges.push(RootEdges { root: roots.len() as u32, objects });
        }
        roots.push(root);
    }
    (roots, edges)
}

/// The heap objects the aligned words of `[addr, addr+len)` point into.
fn scan_words(p: &Process, heap: &Heap, addr: u64, len: u64) -> Vec<u32> {
    let mut out = Vec::new();
    let start = (addr + 7) & !7;
    let end = addr.saturating_add(len) & !7;
    let mut a = start;
    while a < end {
        // Borrow whole regions at a time.
        let Some(s) = p.mem.slice_to_end(a) else {
            a = (a + 4096) & !4095;
            continue;
        };
        let n = (s.len() as u64).min(end - a) / 8;
        if n == 0 {
            break;
        }
        for w in s[..(n * 8) as usize].chunks_exact(8) {
            let v = u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
            if v != 0 {
                out.extend(heap.find_object(v));
            }
        }
        a += n * 8;
    }
    out
}

/// One root per data/bss symbol that points into the heap, plus one for uncovered words.
fn global_roots(p: &Process, heap: &Heap, section: &str, lo: u64, hi: u64, out: &mut Vec<(Root, Vec<u32>)>) {
    let mut syms: Vec<(u64, u64, &str)> = p
        .exe
        .image
        .symbols()
        .filter(|&(_, a, s)| s > 0 && a >= lo && a < hi)
        .map(|(n, a, s)| (a, s.min(hi - a), n))
        .collect();
    syms.sort_unstable();
    let bias = p.bias;
    let mut uncovered = Vec::new();
    let mut cur = lo;
    for (a, s, name) in syms {
        if a < cur {
            continue; // overlaps the previous symbol
        }
        uncovered.extend(scan_words(p, heap, cur.wrapping_add(bias), a - cur));
        let objs = scan_words(p, heap, a.wrapping_add(bias), s);
        let root =
            Root { name: name.to_string(), kind: RootKind::Global, addr: a.wrapping_add(bias), size: s };
        out.push((root, objs));
        cur = a + s;
    }
    uncovered.extend(scan_words(p, heap, cur.wrapping_add(bias), hi - cur));
    let root = Root {
        name: format!("{section} (no symbol)"),
        kind: RootKind::Global,
        addr: lo.wrapping_add(bias),
        size: hi - lo,
    };
    out.push((root, uncovered));
}

/// One root per goroutine that is not dead: its stack from the lowest stack pointer known
/// (saved in `g.sched`, `g.syscallsp`, or its thread's registers) up; the whole stack of a
/// running goroutine whose thread's stack pointer is elsewhere (a signal stack).
fn stack_roots(p: &Process, heap: &Heap, out: &mut Vec<(Root, Vec<u32>)>) {
    let Ok(gs) = p.allgs() else {
        return;
    };
    let l = &p.layouts;
    let rd = |a: u64| p.mem.read_u64(a);
    let found: Vec<(Root, Vec<u32>)> = gs
        .par_iter()
        .filter_map(|&g| {
            let status = (p.mem.read_u32(g.saturating_add(l.g.atomicstatus))? as i64) & !l.status.scan_bit;
            if status == l.status.dead || Some(status) == l.status.deadextra {
                return None;
            }
            let (lo, hi) = (rd(g.saturating_add(l.g.stack_lo))?, rd(g.saturating_add(l.g.stack_hi))?);
            if lo >= hi || hi - lo > 1 << 30 {
                return None;
            }
            let in_stack = |sp: u64| sp >= lo && sp < hi;
            let thread_sp = rd(g.saturating_add(l.g.m))
                .filter(|&m| m != 0)
                .and_then(|m| rd(m.saturating_add(l.m.procid)))
                .and_then(|tid| p.dump.thread(tid))
                .map(|t| t.regs.sp)
                .filter(|&sp| in_stack(sp));
            let sp = if status == l.status.running {
                thread_sp.unwrap_or(lo)
            } else {
                [rd(g.saturating_add(l.g.sched + l.gobuf.sp)), rd(g.saturating_add(l.g.syscallsp)), thread_sp]
                    .into_iter()
                    .flatten()
                    .filter(|&sp| in_stack(sp))
                    .min()
                    .unwrap_or(lo)
            };
            let id = rd(g.saturating_add(l.g.goid))?;
            let root = Root {
                name: format!("goroutine {id} stack"),
                kind: RootKind::Stack,
                addr: sp,
                size: hi - sp,
            };
            Some((root, scan_words(p, heap, sp, hi - sp)))
        })
        .collect();
    out.extend(found);
}

/// Counts of what [`ObjectGraph::build`] met.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct GraphStats {
    /// Non-nil pointer slots read.
    pub pointers: u64,
    /// Of them, those that point outside every heap object (globals, stacks, rodata, freed slots).
    pub outside_heap: u64,
    /// Pointers of an object into itself, which are dropped.
    pub self_edges: u64,
    /// Objects whose pointer information was unknown, scanned conservatively.
    pub conservative_objects: u64,
}

impl GraphStats {
    fn add(&mut self, o: &GraphStats) {
        self.pointers += o.pointers;
        self.outside_heap += o.outside_heap;
        self.self_edges += o.self_edges;
        self.conservative_objects += o.conservative_objects;
    }
}

/// The edges of [`CHUNK`] consecutive objects in compressed rows: the edges of the `i`-th
/// object are `offsets[i]..offsets[i+1]` of `targets` and `fields`.
struct Chunk {
    offsets: Box<[u32]>,
    targets: Box<[u32]>,
    fields: ChunkFields,
    /// Which objects have edges, 64 a word (searches skip the others without reading rows).
    nonempty: Box<[u64]>,
}

/// The heap's object graph in compressed sparse rows, kept in the chunks of objects it was
/// scanned by (in parallel), so that building it copies nothing: 4 bytes an object, 8 an edge.
pub struct ObjectGraph {
    n: u32,
    chunks: Vec<Chunk>,
    edges: u64,
    pub stats: GraphStats,
}

/// Builds one [`Chunk`].
#[derive(Default)]
struct ChunkBuilder {
    offsets: Vec<u32>,
    targets: Vec<u32>,
    fields: Vec<u32>,
    stats: GraphStats,
    /// Pointers read but not yet looked up, (offset, value), of the objects in `pending_objs`
    /// with how many each has: looked up a batch at a time, in steps, so that the cache misses
    /// of one pointer's lookup overlap those of the others.
    pending: Vec<(u64, u64)>,
    pending_objs: Vec<(u32, u32)>,
    /// The span of each pending pointer's page, during a lookup.
    spans: Vec<Option<u32>>,
}

/// Pointers looked up together by [`ChunkBuilder`].
const LOOKUP_BATCH: usize = 128;

impl ChunkBuilder {
    /// A pointer `v` at offset `off` of the object being scanned, looked up later.
    #[inline]
    fn read(&mut self, heap: &Heap, off: u64, v: u64) {
        heap.prefetch_page(v);
        self.pending.push((off, v));
    }

    /// The object `obj`, whose pointers were the last `read`, is scanned.
    fn end_read(&mut self, heap: &Heap, obj: u32, pointers: usize) {
        self.pending_objs.push((obj, pointers as u32));
        if self.pending.len() >= LOOKUP_BATCH {
            self.look_up(heap);
        }
    }

    /// Look up the pending pointers, and add the rows of their objects: first the page of
    /// each (prefetched as it was read), then its span (prefetched by that step), then the
    /// object in the span.
    fn look_up(&mut self, heap: &Heap) {
        let mut spans = std::mem::take(&mut self.spans);
        spans.clear();
        spans.extend(self.pending.iter().map(|&(_, v)| heap.page_span(v)));
        let mut at = 0;
        for i in 0..self.pending_objs.len() {
            let (obj, k) = self.pending_objs[i];
            for (j, &si) in spans[at..at + k as usize].iter().enumerate() {
                let (off, v) = self.pending[at + j];
                self.stats.pointers += 1;
                self.add_found(obj, off, si.and_then(|si| heap.find_object_start_in(si, v)));
            }
            at += k as usize;
            self.end_object();
        }
        self.pending.clear();
        self.pending_objs.clear();
        self.spans = spans;
    }

    /// Record a pointer at offset `off` of `obj` to what `found` is.
    #[inline]
    fn add_found(&mut self, obj: u32, off: u64, found: Option<(u32, u64, bool)>) {
        match found {
            Some((t, _, _)) if t == obj => self.stats.self_edges += 1,
            // A chunk holds at most 4G edges (32 GB of pointers): drop the rest.
            Some((t, inner, start)) if self.targets.len() < u32::MAX as usize => {
                self.targets.push(t);
                let mut field = off.min(FIELD_MASK as u64) as u32;
                if off <= FIELD_MASK as u64 {
                    field |=
                        if start { FIELD_AT_START } else { 0 } | if inner == 0 { FIELD_AT_SLOT } else { 0 };
                }
                self.fields.push(field);
            }
            Some(_) => {}
            None => self.stats.outside_heap += 1,
        }
    }

    /// Close the row of the object just scanned.
    fn end_object(&mut self) {
        self.offsets.push(self.targets.len() as u32);
    }

    /// The chunk, in slices of the exact size; the builder is left empty for the next one
    /// (reusing its buffers saves their growth: copies and fresh pages).
    fn finish(&mut self) -> (Chunk, GraphStats) {
        let mut nonempty = vec![0u64; (self.offsets.len() - 1).div_ceil(64)];
        for (i, w) in self.offsets.windows(2).enumerate() {
            nonempty[i / 64] |= ((w[1] > w[0]) as u64) << (i % 64);
        }
        let c = Chunk {
            offsets: self.offsets.as_slice().into(),
            targets: self.targets.as_slice().into(),
            fields: ChunkFields::new(&self.fields),
            nonempty: nonempty.into_boxed_slice(),
        };
        self.offsets.clear();
        self.targets.clear();
        self.fields.clear();
        (c, std::mem::take(&mut self.stats))
    }
}

/// `f(offset, value)` for every non-nil word of an object (after its malloc header): the
/// conservative scan of an object whose pointer slots are unknown.
fn every_word(p: &Process, heap: &Heap, obj: u32, mut f: impl FnMut(u64, u64)) {
    let (a, size) = (heap.addr(obj), heap.size(obj));
    let mut off = heap.header_size(obj);
    while off + 8 <= size {
        if let Some(v) = p.mem.read_u64(a.saturating_add(off)).filter(|&v| v != 0) {
            f(off, v);
        }
        off += 8;
    }
}

/// The offset in `a` of its first pointer to `b`, found as [`ObjectGraph::build`] finds edges:
/// the field of that edge once the graph's fields are taken ([`ObjectGraph::take_fields`]), or
/// past the offsets a field holds; None past 4 GiB.
pub fn first_pointer_to(p: &Process, heap: &Heap, a: u32, b: u32) -> Option<u32> {
    if a == b {
        return None;
    }
    let found = std::cell::Cell::new(None);
    let look = |off: u64, v: u64| {
        if found.get().is_none() && heap.find_object(v) == Some(b) {
            found.set(u32::try_from(off).ok());
        }
    };
    if let PointerInfo::Unknown(_) = heap.for_each_pointer(p, a, look) {
        found.set(None);
        every_word(p, heap, a, look);
    }
    found.get()
}

/// The fields of a graph's edges ([`ObjectGraph::raw_fields`]), taken out of it so that they
/// can be freed once what needs them (the typing) is done.
pub struct EdgeFields(Vec<ChunkFields>);

impl EdgeFields {
    /// [`ObjectGraph::raw_fields`] of `obj`, `g` the graph these were taken from.
    #[inline]
    pub fn of(&self, g: &ObjectGraph, obj: u32) -> RowFields<'_> {
        let (_, r) = g.row(obj);
        self.0.get(obj as usize / CHUNK).map(|f| f.row(r)).unwrap_or_default()
    }
}

/// The fields of a chunk's edges (see [`ObjectGraph::raw_fields`]): 2 bytes an edge when every
/// offset in the chunk is a multiple of 8 below 128 KiB (pointer slots are 8-aligned, and most
/// objects are small), else 4.
enum ChunkFields {
    /// The offset over 8 in the low bits ([`NARROW_OFFSET`]), [`FIELD_AT_START`] and
    /// [`FIELD_AT_SLOT`] in the top two, [`NARROW_FLAGS_SHIFT`] bits down from theirs.
    Narrow(Box<[u16]>),
    Wide(Box<[u32]>),
}

/// The offset bits of a narrow field (offsets over 8: 128 KiB at most).
const NARROW_OFFSET: u16 = 0x3fff;
/// How far a raw field's flags lie above a narrow field's.
const NARROW_FLAGS_SHIFT: u32 = 16;

impl Default for ChunkFields {
    fn default() -> ChunkFields {
        ChunkFields::Wide(Box::default())
    }
}

impl ChunkFields {
    fn new(raw: &[u32]) -> ChunkFields {
        let narrow =
            |f: u32| (f & FIELD_MASK).is_multiple_of(8) && (f & FIELD_MASK) >> 3 <= NARROW_OFFSET as u32;
        if raw.iter().all(|&f| narrow(f)) {
            let flags = |f: u32| ((f & !FIELD_MASK) >> NARROW_FLAGS_SHIFT) as u16;
            ChunkFields::Narrow(raw.iter().map(|&f| ((f & FIELD_MASK) >> 3) as u16 | flags(f)).collect())
        } else {
            ChunkFields::Wide(raw.into())
        }
    }

    fn row(&self, r: std::ops::Range<usize>) -> RowFields<'_> {
        match self {
            ChunkFields::Narrow(f) => f.get(r).map(RowFields::Narrow),
            ChunkFields::Wide(f) => f.get(r).map(RowFields::Wide),
        }
        .unwrap_or_default()
    }

    fn bytes(&self) -> usize {
        match self {
            ChunkFields::Narrow(f) => f.len() * 2,
            ChunkFields::Wide(f) => f.len() * 4,
        }
    }
}

/// The raw fields of one object's edges ([`ObjectGraph::raw_fields`]), as the chunk keeps them.
#[derive(Clone, Copy, Debug)]
pub enum RowFields<'a> {
    Narrow(&'a [u16]),
    Wide(&'a [u32]),
}

impl Default for RowFields<'_> {
    fn default() -> Self {
        RowFields::Wide(&[])
    }
}

impl RowFields<'_> {
    /// The raw field of the `k`-th edge: its offset ([`FIELD_MASK`]) and flags.
    #[inline]
    pub fn get(&self, k: usize) -> Option<u32> {
        match self {
            RowFields::Narrow(f) => f.get(k).map(|&x| {
                ((x & NARROW_OFFSET) as u32) << 3 | ((x & !NARROW_OFFSET) as u32) << NARROW_FLAGS_SHIFT
            }),
            RowFields::Wide(f) => f.get(k).copied(),
        }
    }

    /// The first edge whose offset is at least `off` (the row is in ascending offset).
    #[inline]
    pub fn first_at(&self, off: u32) -> usize {
        match self {
            RowFields::Narrow(f) => {
                // Offsets are multiples of 8 here: one at or past `off` is one at or past its
                // multiple of 8 rounded up.
                let o = off.div_ceil(8);
                f.partition_point(|&x| ((x & NARROW_OFFSET) as u32) < o)
            }
            RowFields::Wide(f) => f.partition_point(|&x| x & FIELD_MASK < off),
        }
    }
}

impl ObjectGraph {
    /// Take the fields out of the graph: [`Self::field`] and [`Self::raw_fields`] know none
    /// after this (see [`first_pointer_to`]).
    pub fn take_fields(&mut self) -> EdgeFields {
        EdgeFields(self.chunks.iter_mut().map(|c| std::mem::take(&mut c.fields)).collect())
    }

    /// Scan every object's pointers, in parallel by chunks of objects.
    pub fn build(p: &Process, heap: &Heap) -> ObjectGraph {
        let n = heap.len();
        let built: Vec<(Chunk, GraphStats)> = (0..(n as usize).div_ceil(CHUNK))
            .into_par_iter()
            .with_max_len(1)
            .map_init(ChunkBuilder::default, |ch, c| {
                let objs = (c * CHUNK) as u32..((c + 1) * CHUNK).min(n as usize) as u32;
                ch.offsets.reserve_exact(objs.len() + 1);
                ch.offsets.push(0);
                for obj in objs {
                    let before = ch.pending.len();
                    if let PointerInfo::Unknown(_) =
                        heap.for_each_pointer(p, obj, |off, v| ch.read(heap, off, v))
                    {
                        ch.stats.conservative_objects += 1;
                        // Drop what a partial scan reported, then take every word.
                        ch.pending.truncate(before);
                        every_word(p, heap, obj, |off, v| ch.read(heap, off, v));
                    }
                    ch.end_read(heap, obj, ch.pending.len() - before);
                }
                ch.look_up(heap);
                ch.finish()
            })
            .collect();
        Self::from_chunks(n, built)
    }

    fn from_chunks(n: u32, built: Vec<(Chunk, GraphStats)>) -> ObjectGraph {
        let mut stats = GraphStats::default();
        let mut chunks = Vec::with_capacity(built.len());
        let mut edges = 0;
        for (c, s) in built {
            stats.add(&s);
            edges += c.targets.len() as u64;
            chunks.push(c);
        }
        ObjectGraph { n, chunks, edges, stats }
    }

    /// A graph from explicit edges `(from, field offset, to)` over `n` objects (tests, tools);
    /// edges out of range are dropped, the others kept in their order.
    pub fn from_edges(n: u32, mut edges: Vec<(u32, u32, u32)>) -> ObjectGraph {
        edges.retain(|&(a, _, b)| a < n && b < n);
        edges.sort_by_key(|e| e.0);
        let mut built = Vec::new();
        let mut rest = &edges[..];
        for c in 0..(n as usize).div_ceil(CHUNK) {
            let mut ch = ChunkBuilder::default();
            ch.offsets.push(0);
            for obj in (c * CHUNK) as u32..((c + 1) * CHUNK).min(n as usize) as u32 {
                while let Some((&(a, f, b), tail)) = rest.split_first().filter(|(e, _)| e.0 == obj) {
                    debug_assert_eq!(a, obj);
                    ch.targets.push(b);
                    ch.fields.push(f & FIELD_MASK);
                    rest = tail;
                }
                ch.end_object();
            }
            built.push(ch.finish());
        }
        Self::from_chunks(n, built)
    }

    /// Number of objects.
    pub fn len(&self) -> u32 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Number of edges.
    pub fn edge_count(&self) -> u64 {
        self.edges
    }

    #[inline]
    fn row(&self, obj: u32) -> (&Chunk, std::ops::Range<usize>) {
        let c = &self.chunks[obj as usize / CHUNK];
        let i = obj as usize % CHUNK;
        (c, c.offsets[i] as usize..c.offsets[i + 1] as usize)
    }

    /// The objects `obj` points to.
    #[inline]
    pub fn targets(&self, obj: u32) -> &[u32] {
        let (c, r) = self.row(obj);
        &c.targets[r]
    }

    /// Start loading the row of `obj` into the cache (a hint; nothing is read).
    #[inline]
    pub fn prefetch_row(&self, obj: u32) {
        let c = &self.chunks[obj as usize / CHUNK];
        prefetch(c.offsets.as_ptr().wrapping_add(obj as usize % CHUNK));
    }

    /// Start loading the first targets of `obj` into the cache (reads its row offsets).
    #[inline]
    pub fn prefetch_targets(&self, obj: u32) {
        let c = &self.chunks[obj as usize / CHUNK];
        if let Some(&o) = c.offsets.get(obj as usize % CHUNK) {
            prefetch(c.targets.as_ptr().wrapping_add(o as usize));
        }
    }

    /// Whether `obj` points to any object (cheaper than reading its row).
    #[inline]
    pub fn has_targets(&self, obj: u32) -> bool {
        let c = &self.chunks[obj as usize / CHUNK];
        let i = obj as usize % CHUNK;
        c.nonempty[i / 64] >> (i % 64) & 1 == 1
    }

    /// Parallel tasks over the objects that follow their edges, as ranges of 64-object words
    /// (of bitsets such as [`Self::has_targets_word`]): each at most `max_words` words, ended
    /// early once it holds `max_edges` edges. Objects with many pointers come in runs (a big
    /// map's tables, allocated together): cut by count, one task would hold most edges and
    /// leave the other cores idle at its end.
    pub fn word_tasks(&self, max_words: usize, max_edges: u32) -> Vec<std::ops::Range<usize>> {
        // A chunk's tasks end with it: the chunks are cut in parallel.
        self.chunks
            .par_iter()
            .enumerate()
            .flat_map_iter(|(ci, c)| {
                let (first, words) = (ci * (CHUNK / 64), (c.offsets.len() - 1).div_ceil(64));
                let mut out = Vec::new();
                let (mut start, mut edges) = (0, 0u32);
                for w in 0..words {
                    let end = (w * 64 + 64).min(c.offsets.len() - 1);
                    edges = edges.saturating_add(c.offsets[end] - c.offsets[w * 64]);
                    if w + 1 - start >= max_words || edges >= max_edges || w + 1 == words {
                        out.push(first + start..first + w + 1);
                        (start, edges) = (w + 1, 0);
                    }
                }
                out
            })
            .collect()
    }

    /// [`Self::has_targets`] of objects `64 i .. 64 i + 64`, a bit each.
    #[inline]
    pub fn has_targets_word(&self, i: usize) -> u64 {
        let c = &self.chunks[i / (CHUNK / 64)];
        c.nonempty.get(i % (CHUNK / 64)).copied().unwrap_or(0)
    }

    /// The offset in `obj` of the pointer to its `k`-th target; None past [`FIELD_MASK`] (the
    /// offset was clamped: see [`first_pointer_to`]).
    #[inline]
    pub fn field(&self, obj: u32, k: usize) -> Option<u32> {
        self.raw_fields(obj).get(k).map(|f| f & FIELD_MASK).filter(|&f| f != FIELD_MASK)
    }

    /// The fields of `obj`'s pointers, parallel to [`Self::targets`] and in ascending offset:
    /// each the offset in `obj` ([`FIELD_MASK`]), whether the pointer points where the
    /// target's value starts ([`FIELD_AT_START`]) and whether at its slot's first byte
    /// ([`FIELD_AT_SLOT`]).
    #[inline]
    pub fn raw_fields(&self, obj: u32) -> RowFields<'_> {
        let (c, r) = self.row(obj);
        c.fields.row(r)
    }

    /// The edges into a few `targets`: (target, source) pairs, sorted, one pass over every
    /// edge (in parallel).
    pub fn edges_into(&self, targets: &[u32]) -> Vec<(u32, u32)> {
        let words = (self.n as usize).div_ceil(64);
        let mut set = vec![0u64; words];
        for &t in targets.iter().filter(|&&t| t < self.n) {
            set[(t / 64) as usize] |= 1 << (t % 64);
        }
        let set = &set;
        let mut out: Vec<(u32, u32)> = (0..self.chunks.len())
            .into_par_iter()
            .flat_map_iter(|ci| {
                let base = (ci * CHUNK) as u32;
                let c = &self.chunks[ci];
                (0..c.offsets.len() as u32 - 1).flat_map(move |i| {
                    let r = c.offsets[i as usize] as usize..c.offsets[i as usize + 1] as usize;
                    c.targets[r]
                        .iter()
                        .filter(|&&t| set[(t / 64) as usize] >> (t % 64) & 1 == 1)
                        .map(move |&t| (t, base + i))
                })
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Bytes held by the graph's arrays.
    pub fn memory_bytes(&self) -> u64 {
        let per =
            |c: &Chunk| (c.offsets.len() + c.targets.len()) * 4 + c.fields.bytes() + c.nonempty.len() * 8;
        (self.chunks.iter().map(per).sum::<usize>() + self.chunks.capacity() * size_of::<Chunk>()) as u64
    }
}

pub(crate) use crate::runtime::heap::prefetch;

/// `len` copies of `v`, written in parallel: the first touch of a big array's pages is most
/// of the cost of making it.
pub(crate) fn filled(len: usize, v: u32) -> Vec<u32> {
    let mut out = Vec::with_capacity(len);
    out.par_extend(rayon::iter::repeat_n(v, len));
    out
}

/// How far ahead in a frontier rows and targets are prefetched.
const AHEAD_ROW: usize = 16;
const AHEAD_TARGETS: usize = 8;
/// How far ahead the marks of targets are prefetched.
const AHEAD_MARKS: usize = 4;

/// One step of a path from a root.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The root (index into the caller's list of roots) the path starts from.
    Root(u32),
    /// An object, reached from the previous step; `field` is the offset of the pointer taken
    /// in the previous object (None from a root).
    Object { obj: u32, field: Option<u32> },
}

/// Bitsets over objects, set from several threads, interleaved: the words of the same 64
/// objects in every set share a cache line (a search reads and sets several per edge).
struct Lanes(Vec<[AtomicU64; LANES]>);

/// The sets of a search, as lanes of [`Lanes`].
const MARKED: usize = 0;
/// Objects with more than one predecessor.
const MANY: usize = 1;
/// During a parallel level: the objects it marked (its next frontier, those with edges).
const NEW: usize = 2;
const LANES: usize = 3;

impl Lanes {
    fn new(n: u32) -> Lanes {
        Lanes((0..(n as usize).div_ceil(64)).map(|_| Default::default()).collect())
    }

    #[inline]
    fn word(&self, lane: usize, o: u32) -> &AtomicU64 {
        &self.0[(o / 64) as usize][lane]
    }

    #[inline]
    fn get(&self, lane: usize, o: u32) -> bool {
        self.word(lane, o).load(Relaxed) >> (o % 64) & 1 == 1
    }

    /// Set the bit; true if this call set it.
    #[inline]
    fn claim(&self, lane: usize, o: u32) -> bool {
        let bit = 1u64 << (o % 64);
        self.word(lane, o).fetch_or(bit, Relaxed) & bit == 0
    }

    /// Set the bit, reading it first (most are set already).
    #[inline]
    fn set(&self, lane: usize, o: u32) {
        if !self.get(lane, o) {
            self.word(lane, o).fetch_or(1 << (o % 64), Relaxed);
        }
    }

    #[inline]
    fn prefetch(&self, o: u32) {
        prefetch(self.0.as_ptr().wrapping_add((o / 64) as usize));
    }

    /// Set the bit of a word no other thread writes meanwhile (no atomic operation).
    #[inline]
    fn set_owned(&self, lane: usize, o: u32) {
        let w = self.word(lane, o);
        w.store(w.load(Relaxed) | 1 << (o % 64), Relaxed);
    }

    /// One lane's words.
    fn lane(&self, lane: usize) -> Vec<u64> {
        self.0.par_iter().map(|w| w[lane].load(Relaxed)).collect()
    }
}

/// View `u32`s as atomics (same size and alignment; the borrow is exclusive).
pub(crate) fn as_atomic(v: &mut [u32]) -> &[AtomicU32] {
    // SAFETY: AtomicU32 has the size and alignment of u32, and `v` is borrowed mutably, so
    // nothing else reads it while the atomics are in use.
    unsafe { &*(v as *mut [u32] as *const [AtomicU32]) }
}

/// The shared state of a search.
struct SearchState<'a> {
    /// [`MARKED`], [`MANY`], [`NEW`].
    sets: Lanes,
    /// Parent of each marked object (written, in a parallel level, by the range that owns it).
    parent: &'a [AtomicU32],
}

/// Frontiers at least this long are expanded in parallel.
const PARALLEL_FRONTIER: usize = 4096;
/// Frontier objects per parallel task.
const FRONTIER_STEP: usize = 1024;
/// How many ranges of objects a parallel level's candidates are sorted into (see
/// [`Reachability::parallel_level`]).
const LEVEL_BUCKETS: usize = 64;

/// The objects reachable from the roots, marked breadth-first (in parallel for wide levels,
/// with the same result as a sequential search: an object's parent is the first object of the
/// previous level, in frontier order, that points to it; each frontier is in object order).
pub struct Reachability {
    marked: Vec<u64>,
    /// Objects more than one edge (from a root or a reachable object) points to.
    many_preds: Vec<u64>,
    /// BFS parent of each reached object: an object, or [`FROM_ROOT`]; [`NONE`] if unreached.
    parent: Vec<u32>,
    /// (object, root) for the objects a root points to, sorted, the lowest root first.
    root_of: Vec<(u32, u32)>,
    /// Root edges in range, for checking that a later user passes the same roots.
    root_edges: u64,
    /// Reachable objects and the bytes of their slots.
    pub objects: u64,
    pub bytes: u64,
    /// Length of the longest shortest path (in edges from a root's object).
    pub depth: u32,
}

/// The set bits of a word, lowest first.
pub(crate) struct BitIter(pub(crate) u64);

impl Iterator for BitIter {
    type Item = u32;
    #[inline]
    fn next(&mut self) -> Option<u32> {
        (self.0 != 0).then(|| {
            let b = self.0.trailing_zeros();
            self.0 &= self.0 - 1;
            b
        })
    }
}

/// How many bits of `objs` are set in a bitset of 64 objects a word.
fn count_ones_in(bits: &[u64], objs: std::ops::Range<u32>) -> u64 {
    let (a, b) = (objs.start as usize, objs.end as usize);
    if a >= b {
        return 0;
    }
    let (wa, wb) = (a / 64, (b - 1) / 64);
    let lo = !0u64 << (a % 64);
    let hi = !0u64 >> (63 - (b - 1) % 64);
    let word = |i: usize| bits.get(i).copied().unwrap_or(0);
    if wa == wb {
        return (word(wa) & lo & hi).count_ones() as u64;
    }
    let mid: u64 = (wa + 1..wb).map(|i| word(i).count_ones() as u64).sum();
    (word(wa) & lo).count_ones() as u64 + mid + (word(wb) & hi).count_ones() as u64
}

impl Reachability {
    /// Mark from `roots` over `g`; object indices out of range are ignored.
    pub fn compute(g: &ObjectGraph, heap: &Heap, roots: &[RootEdges]) -> Reachability {
        let mut r = Self::search(g, roots, PARALLEL_FRONTIER);
        // Span by span: the objects of a span have one size.
        let marked = &r.marked;
        r.bytes = heap.par_object_runs().map(|(objs, size, _)| count_ones_in(marked, objs) * size).sum();
        r
    }

    /// As [`Self::compute`], with object sizes from `size` (for graphs not built from a heap).
    pub fn compute_with(
        g: &ObjectGraph,
        roots: &[RootEdges],
        size: impl Fn(u32) -> u64 + Sync,
    ) -> Reachability {
        let mut r = Self::search(g, roots, PARALLEL_FRONTIER);
        r.bytes = r
            .marked
            .par_iter()
            .enumerate()
            .map(|(i, &w)| BitIter(w).map(|b| size(i as u32 * 64 + b)).sum::<u64>())
            .sum();
        r
    }

    /// Breadth-first search; frontiers of at least `parallel` objects go in parallel.
    /// The bytes reached are left at 0 for the caller.
    fn search(g: &ObjectGraph, roots: &[RootEdges], parallel: usize) -> Reachability {
        let n = g.len();
        let mut parent_v = filled(n as usize, NONE);
        let st = SearchState { sets: Lanes::new(n), parent: as_atomic(&mut parent_v) };
        let (sets, parent) = (&st.sets, st.parent);
        // Objects without edges are marked but never enter a frontier.
        let mut frontier = Vec::new();
        let mut root_of: Vec<(u32, u32)> = roots
            .iter()
            .flat_map(|r| r.objects.iter().filter(|&&o| o < n).map(move |&o| (o, r.root)))
            .collect();
        // Their marks and parents are in no useful order: fetched a few ahead.
        const AHEAD: usize = 16;
        for (i, &(o, _)) in root_of.iter().enumerate() {
            if let Some(&(next, _)) = root_of.get(i + AHEAD) {
                sets.prefetch(next);
                prefetch(parent.as_ptr().wrapping_add(next as usize));
            }
            if sets.claim(MARKED, o) {
                parent[o as usize].store(FROM_ROOT, Relaxed);
                if g.has_targets(o) {
                    frontier.push(o);
                }
            } else {
                sets.set(MANY, o);
            }
        }
        let root_edges = root_of.len() as u64;
        root_of.sort_unstable();
        root_of.dedup_by_key(|e| e.0);
        let mut depth = 0;
        let mut next = Vec::new();
        while !frontier.is_empty() {
            let claimed = if frontier.len() < parallel {
                next.clear();
                let mut claimed = 0;
                for &u in &frontier {
                    for &v in g.targets(u) {
                        if sets.claim(MARKED, v) {
                            parent[v as usize].store(u, Relaxed);
                            claimed += 1;
                            if g.has_targets(v) {
                                next.push(v);
                            }
                        } else {
                            sets.set(MANY, v);
                        }
                    }
                }
                // In object order, as a parallel level makes it.
                next.sort_unstable();
                std::mem::swap(&mut frontier, &mut next);
                claimed
            } else {
                let claimed;
                (frontier, claimed) = Self::parallel_level(g, &frontier, &st);
                claimed
            };
            depth += (claimed > 0) as u32;
        }
        let (marked, many) = (st.sets.lane(MARKED), st.sets.lane(MANY));
        drop(st);
        let objects = marked.par_iter().map(|w| w.count_ones() as u64).sum();
        Reachability {
            marked,
            many_preds: many,
            parent: parent_v,
            root_of,
            root_edges,
            objects,
            bytes: 0,
            depth,
        }
    }

    /// One level of the search in parallel, with the result of a sequential search: the next
    /// frontier (in object order), and how many objects were claimed (those without edges are
    /// not in the frontier).
    ///
    /// First, each part of the frontier lists its edges to objects not marked before this
    /// level, as (source, target), sorted by the range of objects the target is in (a bucket
    /// of whole bitset words). Then each bucket goes through its candidates, part after part:
    /// in frontier order, so the first candidate of a target is its parent, as in a sequential
    /// search. A bucket alone writes its objects' marks and parents, without atomic
    /// operations, and they lie close together (in the cache) rather than all over the heap.
    fn parallel_level(g: &ObjectGraph, frontier: &[u32], s: &SearchState) -> (Vec<u32>, usize) {
        /// Candidates of one part of the frontier, by bucket: those of bucket `b` are
        /// `cand[off[b]..off[b + 1]]`, in frontier order.
        struct Part {
            off: Vec<u32>,
            cand: Vec<(u32, u32)>,
        }
        let sets = &s.sets;
        let words = (g.len() as usize).div_ceil(64);
        let bucket_words = words.div_ceil(LEVEL_BUCKETS).max(1);
        let buckets = words.div_ceil(bucket_words);
        let bucket = |v: u32| v as usize / 64 / bucket_words;
        let parts: Vec<Part> = frontier
            .par_chunks(FRONTIER_STEP)
            .map_init(Vec::new, |found: &mut Vec<(u32, u32)>, c| {
                found.clear();
                for (i, &u) in c.iter().enumerate() {
                    if let Some(&w) = c.get(i + AHEAD_ROW) {
                        g.prefetch_row(w);
                    }
                    if let Some(&w) = c.get(i + AHEAD_TARGETS) {
                        g.prefetch_targets(w);
                    }
                    if let Some(&w) = c.get(i + AHEAD_MARKS) {
                        g.targets(w).iter().take(8).for_each(|&v| sets.prefetch(v));
                    }
                    for &v in g.targets(u) {
                        // Marked at an earlier level: this is another predecessor.
                        if sets.get(MARKED, v) {
                            sets.set(MANY, v);
                        } else {
                            found.push((u, v));
                        }
                    }
                }
                let mut off = vec![0u32; buckets + 1];
                found.iter().for_each(|&(_, v)| off[bucket(v) + 1] += 1);
                for b in 0..buckets {
                    off[b + 1] += off[b];
                }
                let mut at = off.clone();
                let mut cand = vec![(0, 0); found.len()];
                for &(u, v) in found.iter() {
                    let b = bucket(v);
                    cand[at[b] as usize] = (u, v);
                    at[b] += 1;
                }
                Part { off, cand }
            })
            .collect();
        let next: Vec<(Vec<u32>, usize)> = (0..buckets)
            .into_par_iter()
            .with_max_len(1)
            .map(|b| {
                let mut claimed = 0;
                for part in &parts {
                    for &(u, v) in &part.cand[part.off[b] as usize..part.off[b + 1] as usize] {
                        if sets.get(MARKED, v) {
                            // Claimed by an earlier candidate of this level.
                            sets.set_owned(MANY, v);
                        } else {
                            sets.set_owned(MARKED, v);
                            sets.set_owned(NEW, v);
                            s.parent[v as usize].store(u, Relaxed);
                            claimed += 1;
                        }
                    }
                }
                // The bucket's part of the next frontier: what it marked that has edges.
                let mut next = Vec::new();
                for w in b * bucket_words..((b + 1) * bucket_words).min(words) {
                    let new = sets.0[w][NEW].load(Relaxed);
                    if new != 0 {
                        sets.0[w][NEW].store(0, Relaxed);
                        let base = (w * 64) as u32;
                        next.extend(BitIter(new & g.has_targets_word(w)).map(|k| base + k));
                    }
                }
                (next, claimed)
            })
            .collect();
        let mut out = Vec::with_capacity(next.iter().map(|p| p.0.len()).sum());
        let claimed = next.iter().map(|p| p.1).sum();
        next.into_iter().for_each(|p| out.extend_from_slice(&p.0));
        (out, claimed)
    }

    pub fn is_reachable(&self, obj: u32) -> bool {
        self.marked.get((obj / 64) as usize).is_some_and(|w| w >> (obj % 64) & 1 == 1)
    }

    /// Whether more than one edge, from a root or a reachable object, points to `obj` (a
    /// reachable object not in this set has exactly one predecessor: its parent).
    pub fn has_many_preds(&self, obj: u32) -> bool {
        self.many_preds.get((obj / 64) as usize).is_some_and(|w| w >> (obj % 64) & 1 == 1)
    }

    /// The bitsets of reachable objects and of those with several predecessors, 64 objects a
    /// word.
    pub(crate) fn bitsets(&self) -> (&[u64], &[u64]) {
        (&self.marked, &self.many_preds)
    }

    /// The BFS parent of each object: an object, [`FROM_ROOT`] or [`NONE`].
    pub(crate) fn parents(&self) -> &[u32] {
        &self.parent
    }

    /// Number of root edges to objects in range the search started from.
    pub(crate) fn root_edge_count(&self) -> u64 {
        self.root_edges
    }

    /// Bytes held by the arrays.
    pub fn memory_bytes(&self) -> u64 {
        (self.marked.capacity() * 8
            + self.many_preds.capacity() * 8
            + self.parent.capacity() * 4
            + self.root_of.capacity() * 8) as u64
    }

    /// A shortest path from a root to `obj`: the root, then each object with the field taken;
    /// None if `obj` is unreachable.
    pub fn path_to(&self, g: &ObjectGraph, obj: u32) -> Option<Vec<Step>> {
        if !self.is_reachable(obj) {
            return None;
        }
        let mut objs = vec![obj];
        let mut cur = obj;
        loop {
            match *self.parent.get(cur as usize)? {
                FROM_ROOT => break,
                NONE => return None,
                p => {
                    objs.push(p);
                    cur = p;
                }
            }
        }
        let i = self.root_of.binary_search_by_key(&cur, |e| e.0).ok()?;
        let mut path = vec![Step::Root(self.root_of[i].1)];
        let mut prev: Option<u32> = None;
        for &o in objs.iter().rev() {
            let field = prev.and_then(|p| {
                let k = g.targets(p).iter().position(|&t| t == o)?;
                g.field(p, k)
            });
            path.push(Step::Object { obj: o, field });
            prev = Some(o);
        }
        Some(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::heap::dominators::{Dominators, Node};
    use std::path::{Path, PathBuf};

    /// Fields keep their offsets and flags whether a chunk holds them in 2 bytes or 4, and a
    /// row finds the first edge at an offset the same either way.
    #[test]
    fn narrow_and_wide_fields_agree() {
        let narrow =
            [0, 8 | FIELD_AT_START | FIELD_AT_SLOT, 16 | FIELD_AT_START, 24 | FIELD_AT_SLOT, (8 << 14) - 8];
        let wide = [0, 8 | FIELD_AT_START, 12, 1 << 20, FIELD_MASK];
        for raw in [&narrow[..], &wide[..]] {
            let f = ChunkFields::new(raw);
            assert_eq!(matches!(f, ChunkFields::Narrow(_)), raw == &narrow[..]);
            let row = f.row(0..raw.len());
            for (k, &x) in raw.iter().enumerate() {
                assert_eq!(row.get(k), Some(x));
                let first = raw.iter().position(|&y| y & FIELD_MASK >= x & FIELD_MASK).unwrap();
                assert_eq!(row.first_at(x & FIELD_MASK), first);
                assert_eq!(row.first_at((x & FIELD_MASK).saturating_sub(1)), first);
            }
            assert_eq!(row.get(raw.len()), None);
        }
    }

    /// Tasks cover every word once, in order, within a chunk each; none has more words than
    /// asked, and one ends early at its edge budget (here one object with many pointers
    /// among objects with none).
    #[test]
    fn word_tasks_share_out_edges() {
        let n = (CHUNK + 3000) as u32;
        let mut edges: Vec<(u32, u32, u32)> = (0..5000).map(|i| (130, 8 * i, i % n)).collect();
        edges.extend((0..n).step_by(7).map(|i| (i, 0, (i + 1) % n)));
        let g = ObjectGraph::from_edges(n, edges);
        let tasks = g.word_tasks(16, 1000);
        let mut next = 0;
        for t in &tasks {
            assert_eq!(t.start, next);
            assert!(!t.is_empty() && t.len() <= 16, "{t:?}");
            assert_eq!(t.start / (CHUNK / 64), (t.end - 1) / (CHUNK / 64), "{t:?} crosses a chunk");
            next = t.end;
        }
        assert_eq!(next, (n as usize).div_ceil(64));
        // Object 130 is in word 2: the task holding it ends there.
        assert!(tasks.iter().any(|t| t.end == 3), "{tasks:?}");
    }

    /// Everything over one dump; checks the invariants every dump satisfies.
    struct Analysed {
        p: Process,
        heap: Heap,
        g: ObjectGraph,
        roots: Vec<Root>,
        reach: Reachability,
        dom: Dominators,
    }

    fn analyse(dump: &Path, exe: &Path) -> Analysed {
        let name = dump.display();
        let p = Process::open(dump, Some(exe)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let heap = p.heap().unwrap_or_else(|e| panic!("{name}: {e}"));
        let g = ObjectGraph::build(&p, &heap);
        let (roots, edges) = conservative_roots(&p, &heap);
        let reach = Reachability::compute(&g, &heap, &edges);
        let dom = Dominators::from_heap(&g, &heap, &edges).unwrap();
        let t = &heap.totals;
        eprintln!(
            "{name}: {} objects {} bytes, {} edges {:?}; {} roots; reachable {} objects {} bytes, depth {}",
            t.objects,
            t.bytes,
            g.edge_count(),
            g.stats,
            roots.len(),
            reach.objects,
            reach.bytes,
            reach.depth
        );
        assert!(reach.objects <= t.objects && reach.bytes <= t.bytes, "{name}");
        assert!(reach.objects > 0, "{name}");
        assert_eq!(
            dom.retained(Node::SuperRoot, |o| heap.size(o)),
            (reach.bytes, reach.objects as u32),
            "{name}"
        );
        // Every edge is in range, every reachable object has a path whose steps are edges.
        for obj in (0..g.len()).step_by((g.len() as usize / 200).max(1)) {
            assert!(g.targets(obj).iter().all(|&t| t < g.len() && t != obj));
            let Some(path) = reach.path_to(&g, obj) else {
                assert!(!reach.is_reachable(obj));
                continue;
            };
            let Step::Root(r) = path[0] else { panic!("{name}: {path:?}") };
            assert!((r as usize) < roots.len());
            for w in path[1..].windows(2) {
                let (Step::Object { obj: a, .. }, Step::Object { obj: b, field }) = (w[0], w[1]) else {
                    panic!("{name}: {path:?}")
                };
                let k = g.targets(a).iter().position(|&t| t == b).unwrap();
                assert_eq!(field, g.field(a, k));
            }
            // Every dominator of a reachable object is reachable and retains at least as much.
            if let Some(Node::Object(d)) = dom.idom(Node::Object(obj)) {
                assert!(reach.is_reachable(d));
                assert!(
                    dom.retained(Node::Object(d), |o| heap.size(o)).0
                        > dom.retained(Node::Object(obj), |o| heap.size(o)).0
                );
            }
        }
        for r in dom.top_retainers(5, |o| heap.size(o)) {
            let label = match r.node {
                Node::Root(i) => roots[i as usize].name.clone(),
                n => format!("{n:?}"),
            };
            eprintln!("  {label}: {} bytes, {} objects", r.retained_bytes, r.retained_objects);
        }
        Analysed { p, heap, g, roots, reach, dom }
    }

    fn root_retained(a: &Analysed, name: &str) -> (u64, u32) {
        let i = a.roots.iter().position(|r| r.name == name).unwrap_or_else(|| panic!("no root {name}"));
        a.dom.retained(Node::Root(i as u32), |o| a.heap.size(o))
    }

    /// Dumps of the structure program (see the report): `$GOMORTEM_GRAPH_DUMPS/*/{exe,dump,stdout}`.
    #[test]
    fn structure_dumps() {
        for (d, out) in crate::testutil::env_dumps("GOMORTEM_GRAPH_DUMPS") {
            let d = &d;
            let name = d.display().to_string();
            let val = |k: &str| crate::testutil::printed(&out, k);
            let a = analyse(&d.join("dump"), &d.join("exe"));
            // The list and the tree are held by their globals alone.
            let (lb, lc) = root_retained(&a, "main.list");
            assert_eq!((lb, lc as u64), (48 * val("list"), val("list")), "{name}: list");
            let (tb, tc) = root_retained(&a, "main.tree");
            assert_eq!((tb, tc as u64), (24 * val("tree"), val("tree")), "{name}: tree");
            // The map holds its payloads, its tables, and nothing else.
            let (mb, mc) = root_retained(&a, "main.bigMap");
            let payloads = val("entries") * val("payload");
            eprintln!("{name}: main.bigMap retains {mb} bytes, {mc} objects; payloads {payloads}");
            assert!(mc as u64 > val("entries") && mb > payloads && mb < payloads + payloads / 2, "{name}");
            let top = a.dom.top_retainers(3, |o| a.heap.size(o));
            let i = a.roots.iter().position(|r| r.name == "main.bigMap").unwrap() as u32;
            assert_eq!(top[0].node, Node::Root(i), "{name}");
            // A payload's shortest path starts at the map.
            let payload = (0..a.heap.len())
                .find(|&o| a.heap.size(o) == val("payload") && a.reach.is_reachable(o))
                .unwrap();
            let path = a.reach.path_to(&a.g, payload).unwrap();
            assert_eq!(path[0], Step::Root(i), "{name}");
            assert!(a.dom.idom(Node::Object(payload)).is_some());
        }
    }

    /// Directories holding a `case.json` under `root` (any depth, symlinks and hidden
    /// directories not followed), sorted.
    fn case_dirs(root: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let (p, hidden) = (e.path(), e.file_name().to_string_lossy().starts_with('.'));
                if e.file_type().is_ok_and(|t| t.is_dir()) && !hidden {
                    stack.push(p);
                } else if e.file_name() == "case.json" {
                    out.push(d.clone());
                }
            }
        }
        out.sort();
        out
    }

    /// Every fixture case; the leaky service's global cache retains its 500 × 2 KB entries (by
    /// the precise roots, as `top` finds them: a conservative scan of the stacks may hold parts
    /// of the map too).
    #[test]
    fn fixture_cases() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let cache =
            std::env::var_os("GOMORTEM_FIXTURES").map(PathBuf::from).unwrap_or(root.join("fixtures/cache"));
        let mut dirs = case_dirs(&cache);
        dirs.extend(case_dirs(&root.join("fixtures/committed")));
        if dirs.is_empty() {
            eprintln!("note: no fixture case under {}: skipping", cache.display());
        }
        for d in dirs {
            let meta: serde_json::Value =
                serde_json::from_slice(&std::fs::read(d.join("case.json")).unwrap()).unwrap();
            let file = |k: &str| d.join(meta[k].as_str().unwrap_or(k));
            let a = analyse(&file("dump"), &file("exe"));
            if meta["scenario"] == "leaky" {
                let roots = a.p.roots(&a.heap).unwrap();
                let edges = RootEdges::from_pairs(roots.edges.iter().map(|e| (e.root, e.object)));
                let reach = Reachability::compute(&a.g, &a.heap, &edges);
                let dom = Dominators::from_reach(&a.g, &a.heap, &edges, &reach).unwrap();
                let i = roots.roots.iter().position(|r| r.name == "main.sessionCache").unwrap();
                let (b, c) = dom.retained(Node::Root(i as u32), |o| a.heap.size(o));
                eprintln!("{}: main.sessionCache retains {b} bytes, {c} objects", d.display());
                assert!(b >= 500 * 2048 && c >= 500, "{}", d.display());
            }
            drop(a.p);
        }
    }

    #[test]
    fn count_ones_in_ranges() {
        use crate::analysis::heap::dominators::tests::Rng;
        let mut rng = Rng(0x9e3779b97f4a7c15);
        let bits: Vec<u64> =
            (0..8).map(|_| (rng.next(u32::MAX) as u64) << 32 | rng.next(u32::MAX) as u64).collect();
        let naive =
            |a: u32, b: u32| (a..b).filter(|&o| bits[(o / 64) as usize] >> (o % 64) & 1 == 1).count() as u64;
        for a in 0..=512u32 {
            for b in [a, a + 1, a + 63, a + 64, a + 65, a + 200, 512] {
                let b = b.min(512);
                assert_eq!(count_ones_in(&bits, a..b.max(a)), naive(a, b.max(a)), "{a}..{b}");
            }
        }
    }

    /// The parallel search finds what the sequential one does, parents included.
    fn same_search(name: &str, g: &ObjectGraph, roots: &[RootEdges]) {
        let (seq, par) = (Reachability::search(g, roots, usize::MAX), Reachability::search(g, roots, 1));
        assert_eq!((seq.objects, seq.depth), (par.objects, par.depth), "{name}");
        assert!(seq.marked == par.marked && seq.many_preds == par.many_preds, "{name}: marks");
        assert!(seq.parent == par.parent && seq.root_of == par.root_of, "{name}: parents");
    }

    #[test]
    fn parallel_search_is_sequential_search() {
        use crate::analysis::heap::dominators::tests::Rng;
        // Random graphs wide enough for levels of several parallel parts, with duplicate edges,
        // edges shared within and across levels, and objects without edges.
        let mut rng = Rng(0x2545f4914f6cdd1d);
        for n in [1000u32, 50_000, 300_000] {
            let edges: Vec<(u32, u32, u32)> = (0..2 * n)
                .map(|i| {
                    let a = rng.next(n / 2);
                    (a, i, if i % 5 == 0 { a + 1 } else { rng.next(n) })
                })
                .collect();
            let roots: Vec<RootEdges> = (0..20)
                .map(|r| RootEdges { root: r, objects: (0..50).map(|_| rng.next(n + 10)).collect() })
                .collect();
            same_search(&format!("random {n}"), &ObjectGraph::from_edges(n, edges), &roots);
        }
        for (d, meta) in crate::testutil::fixture_cases() {
            let file = |k: &str| d.join(meta[k].as_str().unwrap_or(k));
            let Ok(p) = Process::open(&file("dump"), Some(&file("exe"))) else { continue };
            let Ok(heap) = p.heap() else { continue };
            let g = ObjectGraph::build(&p, &heap);
            same_search(&d.display().to_string(), &g, &conservative_roots(&p, &heap).1);
        }
    }
}
