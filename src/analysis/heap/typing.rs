//! A type for every heap object that can be typed without guessing.
//!
//! Sources, in order of precedence:
//! 1. The heap's own record (Go 1.22+): the `*abi.Type` malloc header of scan objects above
//!    512 B in small spans, and `mspan.largeType` of large objects. An object whose slot holds
//!    several values of that type is an array of them.
//! 2. Propagation along typed pointers, breadth first, from the typed roots (DWARF-typed
//!    globals, stack locals, stack slots channel operations wait on, function words) and from
//!    every typed object: pointers, slices (their backing array, `cap` elements), strings
//!    (their bytes), interfaces (the dynamic type, from the type word or the itab), channels
//!    (the `hchan`, its separate buffer typed by `elemtype`), closures (named by their
//!    function; what they capture by DWARF's `DW_AT_go_closure_offset`, Go 1.23+, and a method
//!    value's receiver by its function `pkg.T.M-fm`), maps (old `hmap`/buckets/overflow lists;
//!    swiss `Map`/directory/tables/groups, the group type giving keys and elems, indirect ones
//!    included), `sync.Pool` per-P arrays (a victim array emptied to size 0 by its capacity),
//!    `sync.Map`'s trie nodes, and the runtime's own structures through DWARF. Static values
//!    in the module's data a typed pointer leads to (`var p = &T{…}` makes the `T` a static)
//!    are walked like roots. The runtime's records type a few more objects at the start: a
//!    finalized object by its finalizer's `ot`, the idle GC workers' nodes on their pool.
//!
//! A pointer types its target only when it points at the target's start (after any malloc
//! header): an interior pointer says nothing of the whole object. String bytes are the
//! exception (a string may start anywhere in its allocation). Nor does a GC shape (generic
//! code's `go.shape.*uint8`, `go.shape.int`…): it stands for every type of its layout, so
//! pointers and slices of shapes claim nothing. The first type found wins, except that the
//! heap's own record always wins; a larger backing array of the same type extends an earlier,
//! shorter one. Objects nothing typed reaches stay untyped.
//!
//! Storage: one `u32` per object into a small table of distinct [`Entry`]s (`u32::MAX`:
//! untyped), and one `u32` per object counting the elements the entry describes.

use rustc_hash::FxHashMap as HashMap;
use std::sync::{Arc, RwLock};

use rayon::prelude::*;

use crate::analysis::heap::graph::{
    prefetch, EdgeFields, ObjectGraph, RowFields, FIELD_AT_SLOT, FIELD_AT_START, FIELD_MASK,
};
use crate::dump::AddressSpace;
use crate::exe::dwarf::{FrameLocals, Kind as DKind, TypeId};
use crate::runtime::heap::Heap;
use crate::runtime::roots::Roots;
use crate::runtime::types::{Detail, Kind, TypeTable};
use crate::runtime::Process;

/// A type from one of the two type systems: a run-time descriptor, or DWARF.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TyRef {
    /// Run-time address of an `abi.Type`.
    Runtime(u64),
    /// A DWARF type with no run-time descriptor (runtime internals, closure contexts…).
    Dwarf(TypeId),
}

/// The part of a map's internal structure an object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MapPart {
    /// `runtime.hmap` (old maps) or `maps.Map` (swiss).
    Header,
    /// Swiss: the directory, `[dirLen]*table`.
    Directory,
    /// Swiss: a `maps.table`.
    Table,
    /// Swiss groups or old buckets: an array of the map type's group type.
    Groups,
    /// Old maps: `mapextra`.
    Extra,
    /// Old maps: a `[]*bmap` header of overflow buckets, and its backing array.
    OverflowSlice,
    OverflowList,
}

/// What an object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjKind {
    /// Values of a type (one, or an array of them).
    Value(TyRef),
    /// Bytes of strings.
    StringBytes,
    /// A closure (`funcval` and captures) of the function at this run-time entry.
    Closure(u64),
    /// A channel (`hchan`), element type descriptor (0 if unknown).
    Chan(u64),
    /// The separately allocated buffer of a channel with this element type.
    ChanBuffer(u64),
    /// Internal structure of a map of this map type descriptor.
    Map(u64, MapPart),
}

/// How an object's type was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The malloc header or the span's `largeType`.
    Header,
    /// A pointer of a DWARF-typed root (global, stack local).
    Root,
    /// A pointer of a typed object.
    Propagated,
}

const SOURCES: [Source; 3] = [Source::Header, Source::Root, Source::Propagated];

/// One distinct object type.
#[derive(Clone, Debug)]
pub struct Entry {
    pub kind: ObjKind,
    /// An array of `count` elements (a slice's backing array, a slot of several values).
    pub array: bool,
    pub source: Source,
    /// `*main.T`, `[]main.T backing array`, `closure main.f.func1`, `map[string]int groups`…
    pub name: String,
    /// Bytes per element (per byte for string bytes; the slot for a closure of unknown size).
    pub elem_size: u64,
}

/// Totals of one source.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SourceTotals {
    pub source: Option<Source>,
    pub objects: u64,
    /// Slot bytes of the objects.
    pub bytes: u64,
    /// Bytes the types cover (at most the slots).
    pub covered_bytes: u64,
}

/// What typing found, over all allocated objects.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct TypingStats {
    pub typed_objects: u64,
    pub typed_bytes: u64,
    pub covered_bytes: u64,
    pub untyped_objects: u64,
    pub untyped_bytes: u64,
    pub by_source: Vec<SourceTotals>,
    /// Propagation rounds (depth of the breadth-first walk).
    pub rounds: u32,
}

/// One row of the type histogram.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Row {
    #[serde(rename = "type")]
    pub type_name: String,
    pub objects: u64,
    pub bytes: u64,
    pub reachable_objects: u64,
    pub reachable_bytes: u64,
}

/// Objects and bytes by type name, largest first; the last row is `untyped`, if any.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Histogram {
    pub types: Vec<Row>,
    pub total: Row,
}

/// The type of every heap object (see the module documentation).
pub struct ObjectTypes {
    slots: ObjSlots,
    pub entries: Vec<Entry>,
    /// Made on first use ([`Self::stats`]): `top` has no need of them.
    stats: std::sync::OnceLock<TypingStats>,
    rounds: u32,
    pub warnings: Vec<String>,
}

pub const UNTYPED: u32 = u32::MAX;

/// Per object, its entry ([`UNTYPED`] if none) and the count of elements it describes, side
/// by side in 4 bytes, so that a claim reads and writes both with one cache miss (the typing's
/// sequential step is bound by these misses). Counts of 65,535 or more (big arrays) are kept
/// aside; past 65,534 entries (never, in the programs seen so far), the entries move to 4
/// bytes of their own.
#[derive(PartialEq)]
struct ObjSlots {
    /// Entry (or [`Self::NARROW_UNTYPED`]), count (or [`Self::WIDE`]).
    v: Vec<[u16; 2]>,
    wide_ids: Option<Vec<u32>>,
    wide_counts: HashMap<u32, u32>,
}

impl ObjSlots {
    const NARROW_UNTYPED: u16 = u16::MAX;
    const WIDE: u16 = u16::MAX;

    fn new(n: usize) -> ObjSlots {
        ObjSlots { v: vec![[Self::NARROW_UNTYPED, 0]; n], wide_ids: None, wide_counts: HashMap::default() }
    }

    /// Start loading an object's entry and count into the cache.
    #[inline]
    fn prefetch(&self, o: usize) {
        if let Some(x) = self.v.get(o) {
            prefetch(x);
        }
        if let Some(x) = self.wide_ids.as_ref().and_then(|w| w.get(o)) {
            prefetch(x);
        }
    }

    /// The object's entry index.
    #[inline]
    fn ty(&self, o: usize) -> u32 {
        if let Some(w) = &self.wide_ids {
            return w.get(o).copied().unwrap_or(UNTYPED);
        }
        match self.v.get(o) {
            Some(&[Self::NARROW_UNTYPED, _]) | None => UNTYPED,
            Some(&[t, _]) => t as u32,
        }
    }

    fn set_ty(&mut self, o: usize, id: u32) {
        if self.wide_ids.is_none() {
            if id < Self::NARROW_UNTYPED as u32 {
                self.v[o][0] = id as u16;
                return;
            }
            let wide = self
                .v
                .iter()
                .map(|&[t, _]| if t == Self::NARROW_UNTYPED { UNTYPED } else { t as u32 })
                .collect();
            self.wide_ids = Some(wide);
        }
        if let Some(w) = &mut self.wide_ids {
            w[o] = id;
        }
    }

    /// The object's count as kept in its slot ([`Self::WIDE`]: see [`Self::count`]).
    #[inline]
    fn narrow_count(&self, o: u32) -> u16 {
        self.v.get(o as usize).map_or(0, |x| x[1])
    }

    #[inline]
    fn count(&self, o: u32) -> u32 {
        match self.narrow_count(o) {
            Self::WIDE => self.wide_counts.get(&o).copied().unwrap_or(0),
            c => c as u32,
        }
    }

    #[inline]
    fn set_count(&mut self, o: u32, c: u32) {
        if c >= Self::WIDE as u32 {
            self.v[o as usize][1] = Self::WIDE;
            self.wide_counts.insert(o, c);
        } else {
            self.v[o as usize][1] = c as u16;
        }
    }
}

/// Longest array walked per object, in elements, and deepest type nesting.
const MAX_COUNT: u64 = u32::MAX as u64;
const MAX_DEPTH: u32 = 48;
/// Largest plan inlined for an array before it is kept as a repeat.
const MAX_INLINE: usize = 64;
/// Objects walked per parallel batch, and the most bytes of the heap a batch spans: the claims
/// of a batch are all held until it is applied, and big pointer arrays (a map's groups) make
/// many claims per object.
const BATCH: usize = 1 << 16;
const BATCH_BYTES: u64 = 16 << 20;
/// Queue words per parallel task of a batch, and the most bytes of the heap a task spans: a
/// batch of big objects (a map's groups) is still cut in tasks enough for every core.
const TASK_WORDS: usize = 8;
const TASK_BYTES: u64 = 1 << 20;
/// Claims a batch task's buffer keeps from one batch to the next (16 bytes each).
const KEPT_CLAIMS: usize = 1 << 14;

/// Where the batch of queue words from `start` (of `words`) ends: at most [`BATCH`] objects,
/// spanning at most [`BATCH_BYTES`] of addresses (objects are in address order), one word at
/// least.
fn batch_end(heap: &Heap, words: usize, start: usize) -> usize {
    span_end(heap, words, start, BATCH / 64, BATCH_BYTES)
}

/// Where a run of queue words from `start` (of `words`) ends: at most `most` words, spanning at
/// most `bytes` of addresses (objects are in address order), one word at least.
fn span_end(heap: &Heap, words: usize, start: usize, most: usize, bytes: u64) -> usize {
    let last = (start + most).min(words);
    let addr = |w: usize| heap.addr((w * 64) as u32);
    let from = addr(start);
    // The first word from start + 1 on whose first object lies past the limit.
    let (mut lo, mut hi) = (start + 1, last);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if addr(mid).wrapping_sub(from) <= bytes {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Whether walking an object of entry `id` can claim anything: its type holds pointers (it has
/// a plan in `walk`), or it is a channel or a map's structure (walked by hand).
fn walks(walk: &[Option<(Arc<Plan>, u64)>], entries: &[Entry], id: u32) -> bool {
    walk.get(id as usize).is_some_and(|w| w.is_some())
        || entries.get(id as usize).is_some_and(|e| matches!(e.kind, ObjKind::Chan(_) | ObjKind::Map(..)))
}

/// What a pointer-holding word (or pair of words) of a value is.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Ptr(TyRef),
    /// A slice of elements of this type and size.
    Slice(TyRef, u64),
    Str,
    Eface,
    Iface,
    Chan,
    /// A map value, of this map type descriptor.
    Map(u64),
    Func,
    /// A `*node[K,V]` of `internal/sync.HashTrieMap`: an `entry` or an `indirect` by the
    /// node's `isEntry` byte.
    TrieNode {
        entry: TyRef,
        indirect: TyRef,
    },
    /// An `unsafe.Pointer` to an array of `elem` whose length is the word at `len_off`
    /// (relative to the slot): `sync.Pool.local`.
    Array {
        elem: TyRef,
        len_off: i64,
    },
}

/// The pointer-holding slots of a type, flattened.
#[derive(Debug, Default)]
struct Plan {
    items: Vec<Item>,
}

#[derive(Debug)]
enum Item {
    Slot(u64, Slot),
    /// `n` copies of a plan, `stride` apart, from `off`.
    Repeat {
        off: u64,
        n: u64,
        stride: u64,
        plan: Arc<Plan>,
    },
}

/// DWARF offsets of the runtime structures walked by hand.
#[derive(Default)]
struct Offsets {
    hchan: Option<TypeId>,
    hchan_size: u64,
    hchan_buf: Option<u64>,
    hchan_dataqsiz: Option<u64>,
    hchan_elemtype: Option<u64>,
    hmap_size: u64,
    hmap_buckets: Option<u64>,
    hmap_oldbuckets: Option<u64>,
    hmap_extra: Option<u64>,
    extra_overflow: Option<u64>,
    extra_oldoverflow: Option<u64>,
    map_size: u64,
    map_dir_ptr: Option<u64>,
    map_dir_len: Option<u64>,
    table_size: u64,
    table_groups_data: Option<u64>,
    table_groups_mask: Option<u64>,
    pool_local: Option<u64>,
    pool_local_size: Option<u64>,
    pool_victim: Option<u64>,
    pool_victim_size: Option<u64>,
    pool_local_type: Option<TyRef>,
}

/// A claim: object `obj` is `count` elements (at most [`MAX_COUNT`]) of the kind `kind` of
/// its [`Claims`]. 16 bytes: one walk round of a big heap makes tens of millions.
#[derive(Clone, Copy, Debug)]
struct Claim {
    obj: u32,
    count: u32,
    kind: u32,
    array: bool,
}

/// Claims in the order made, their kinds interned.
#[derive(Default)]
struct Claims {
    list: Vec<Claim>,
    kinds: Vec<ObjKind>,
    index: HashMap<ObjKind, u32>,
}

impl Claims {
    #[inline]
    fn push(&mut self, obj: u32, kind: ObjKind, array: bool, count: u64) {
        // A walk makes claims of a few kinds, over and over: a short scan finds them.
        let k = match self.kinds.iter().take(8).position(|&k| k == kind) {
            Some(k) => k as u32,
            None => *self.index.entry(kind).or_insert_with(|| {
                self.kinds.push(kind);
                self.kinds.len() as u32 - 1
            }),
        };
        self.list.push(Claim { obj, count: count.min(MAX_COUNT) as u32, kind: k, array });
    }

    /// Drop the claims that cannot change `ot` (see [`ObjectTypes::may_change`]), in order.
    fn retain_changes(&mut self, ot: &ObjectTypes) {
        const AHEAD: usize = 32;
        let (list, kinds) = (&mut self.list, &self.kinds);
        let mut kept = 0;
        for i in 0..list.len() {
            if let Some(next) = list.get(i + AHEAD) {
                ot.slots.prefetch(next.obj as usize);
            }
            let c = list[i];
            if ot.may_change(&c, kinds[c.kind as usize]) {
                list[kept] = c;
                kept += 1;
            }
        }
        list.truncate(kept);
    }

    fn kind(&self, c: &Claim) -> ObjKind {
        self.kinds[c.kind as usize]
    }

    /// Empty, keeping the buffers.
    fn clear(&mut self) {
        self.list.clear();
        self.kinds.clear();
        self.index.clear();
    }
}

/// Where a walk puts its claims, with the graph's row of the heap object walked, if any.
#[derive(Default)]
struct Sink<'g> {
    claims: Claims,
    row: GraphRow<'g>,
}

/// The pointers of one heap object as the object graph resolved them (offset, target, and
/// whether it points at the target's start): a walk of that object takes its targets from
/// here rather than looking each up in the heap again, which was most of the typing's time.
#[derive(Default)]
struct GraphRow<'g> {
    base: u64,
    /// Bytes of the object a field can describe.
    len: u64,
    fields: RowFields<'g>,
    targets: &'g [u32],
    /// Where the next lookup starts (walks go up the object, mostly).
    next: usize,
    /// The object's bytes, borrowed from the dump.
    data: &'g [u8],
}

impl<'g> GraphRow<'g> {
    /// The row of object `o`, at `base`, `size` bytes.
    fn of(
        g: &'g ObjectGraph,
        fields: &'g EdgeFields,
        mem: &'g AddressSpace,
        o: u32,
        base: u64,
        size: u64,
    ) -> GraphRow<'g> {
        GraphRow {
            base,
            len: size.min(FIELD_MASK as u64),
            fields: fields.of(g, o),
            targets: g.targets(o),
            next: 0,
            data: mem.slice(base, size).unwrap_or_default(),
        }
    }

    /// The word at `a` if it lies in the object's bytes.
    #[inline]
    fn word(&self, a: u64) -> Option<u64> {
        let off = a.wrapping_sub(self.base) as usize;
        let b = self.data.get(off..off.checked_add(8)?)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }

    /// The graph's target for the pointer word at `a`, and where in the target it points (its
    /// raw field's [`FIELD_AT_START`] and [`FIELD_AT_SLOT`] bits); None when the graph took no
    /// edge there (not a pointer slot, nil, outside the heap or into the object itself: the
    /// caller looks the value up itself).
    #[inline]
    fn find(&mut self, a: u64) -> Option<(u32, u32)> {
        let off = a.wrapping_sub(self.base);
        if off >= self.len {
            return None;
        }
        let (off, f) = (off as u32, self.fields);
        let (k, x) = match f.get(self.next) {
            Some(x) if x & FIELD_MASK == off => (self.next, x),
            _ => {
                let k = f.first_at(off);
                match f.get(k) {
                    Some(x) if x & FIELD_MASK == off => (k, x),
                    _ => return None,
                }
            }
        };
        self.next = k + 1;
        Some((self.targets[k], x & !FIELD_MASK))
    }

    /// The target of an edge a few past the last one found (the walk goes up the object), if
    /// the graph's edge does not say where in it the pointer points.
    #[inline]
    fn inside_ahead(&self) -> Option<u32> {
        const AHEAD: usize = 8;
        let k = self.next + AHEAD;
        self.fields.get(k).filter(|&f| f & (FIELD_AT_SLOT | FIELD_AT_START) == 0).map(|_| self.targets[k])
    }
}

/// Ids of typing runs, so that the per-thread caches of one run are never read by another.
static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

type PlanCache = HashMap<(u64, TyRef), Option<Arc<Plan>>>;

std::thread_local! {
    /// Per-thread caches of type sizes and plans, by typing run: the propagation asks for them
    /// once per pointer slot, and the shared, locked tables behind them took a fifth of its time.
    static SIZES: std::cell::RefCell<HashMap<(u64, TyRef), u64>> = std::cell::RefCell::new(HashMap::default());
    static PLANS: std::cell::RefCell<PlanCache> = std::cell::RefCell::new(HashMap::default());
}

struct Ctx<'a, 'p> {
    run: u64,
    p: &'a Process,
    heap: &'a Heap,
    types: &'a TypeTable<'p>,
    /// The object graph and its fields, whose rows resolve the pointers of the objects walked.
    graph: Option<(&'a ObjectGraph, &'a EdgeFields)>,
    off: Offsets,
    plans: RwLock<HashMap<TyRef, Arc<Plan>>>,
    /// Closure captures (Go 1.23+ DWARF).
    locals: Option<&'a FrameLocals>,
    /// Plans of closure contexts, by run-time entry.
    closure_plans: RwLock<HashMap<u64, Option<Arc<Plan>>>>,
    /// Run-time `[data, ebss)`: static values typed pointers lead to are walked once each.
    statics: (u64, u64),
    statics_seen: std::sync::Mutex<std::collections::HashSet<(u64, TyRef)>>,
}

impl ObjectTypes {
    /// Type every object of `heap`: heap records first, then propagation from `roots` and the
    /// typed objects. With the object `graph` of the heap (and its fields, taken out of it),
    /// the pointers of heap objects are taken from its rows (the same result, without looking
    /// each up again).
    pub fn infer(
        p: &Process,
        heap: &Heap,
        types: &TypeTable,
        roots: &Roots,
        graph: Option<(&ObjectGraph, &EdgeFields)>,
    ) -> ObjectTypes {
        let md = p.exe.pclntab.moduledata();
        let cx = Ctx {
            run: RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            p,
            heap,
            types,
            graph,
            off: Offsets::load(p, types),
            plans: RwLock::new(HashMap::default()),
            locals: p.exe.dwarf.as_ref().and_then(|d| d.frame_locals(&p.exe.image).ok()),
            closure_plans: RwLock::new(HashMap::default()),
            statics: (md.data.wrapping_add(p.bias), md.ebss.wrapping_add(p.bias)),
            statics_seen: Default::default(),
        };
        let n = heap.len() as usize;
        let mut st = State {
            ot: ObjectTypes {
                slots: ObjSlots::new(n),
                entries: Vec::new(),
                stats: Default::default(),
                rounds: 0,
                warnings: Vec::new(),
            },
            index: HashMap::default(),
            walk: Vec::new(),
            queue: vec![0; n.div_ceil(64)],
            queued: 0,
        };
        if p.exe.dwarf.is_none() {
            st.ot.warnings.push("no DWARF: roots and runtime structures are not typed".into());
        }

        // 1. The heap's own record.
        // Only large spans and small scan spans with malloc headers have one.
        let headers: Vec<(u32, u64, u64)> = heap
            .spans
            .par_iter()
            .filter(|s| s.objects > 0 && (s.is_large() || heap.header_size(s.first_object) > 0))
            .flat_map_iter(|s| {
                (s.first_object..s.first_object + s.objects).filter_map(|o| cx.header_claim(o))
            })
            .collect();
        let mut claims = Claims::default();
        for (o, typ, n) in headers {
            claims.push(o, ObjKind::Value(TyRef::Runtime(typ)), n > 1, n);
        }
        st.apply(&cx, &claims, Source::Header);
        drop(claims);

        // 2. Typed roots, then typed objects, breadth first.
        let mut claims = Sink::default();
        for r in roots.roots.iter() {
            if let Some(ty) = r.ty {
                let tr = cx.tyref_of_dwarf(ty);
                if let Some(plan) = cx.plan(tr) {
                    cx.walk_plan(&plan, r.addr, 0, &mut claims);
                }
            }
        }
        // Objects a runtime record types: finalized objects, idle GC workers' nodes.
        for &(addr, t) in &roots.object_types {
            let t = TyRef::Runtime(t);
            if let (Some(o), true) = (cx.object_at(addr), cx.ty_size(t) > 0) {
                cx.claim(&mut claims, o, ObjKind::Value(t), false, 1);
            }
        }
        cx.worker_nodes(&mut claims);
        st.apply(&cx, &claims.claims, Source::Root);
        // Each round walks the objects typed (or extended) in the previous one, in address
        // order: the dump is read front to back, not in the random order pointers lead.
        let mut rounds = 0;
        // One sink per task of a batch, kept from batch to batch: their buffers are allocated
        // once, by the threads that fill them (freeing them in the applying thread instead,
        // batch after batch, made the threads wait on each other's allocator locks).
        let mut sinks: Vec<Sink> = Vec::new();
        let mut tasks: Vec<(usize, usize)> = Vec::new();
        while st.queued > 0 {
            rounds += 1;
            let words = std::mem::replace(&mut st.queue, vec![0; n.div_ceil(64)]);
            st.queued = 0;
            let mut next = 0;
            while next < words.len() {
                let (start, end) = (next, batch_end(heap, words.len(), next));
                next = end;
                // Tasks from a queued object on (late rounds queue few).
                tasks.clear();
                let mut t = start;
                while let Some(k) = words[t..end].iter().position(|&w| w != 0) {
                    let te = span_end(heap, end, t + k, TASK_WORDS, TASK_BYTES);
                    tasks.push((t + k, te));
                    t = te;
                }
                if sinks.len() < tasks.len() {
                    sinks.resize_with(tasks.len(), Sink::default);
                }
                let words = &words;
                sinks[..tasks.len()].par_iter_mut().zip(tasks.par_iter()).for_each(|(out, &(from, to))| {
                    out.claims.clear();
                    for (wi, &w) in words[from..to].iter().enumerate() {
                        let mut w = w;
                        while w != 0 {
                            let o = (from + wi) * 64 + w.trailing_zeros() as usize;
                            w &= w - 1;
                            cx.walk_object(&st.ot, &st.walk, o as u32, out);
                        }
                    }
                    // Claims that cannot change anything, dropped here in parallel rather
                    // than in the sequential apply.
                    out.claims.retain_changes(&st.ot);
                });
                for out in &mut sinks[..tasks.len()] {
                    st.apply(&cx, &out.claims, Source::Propagated);
                    // A task over big arrays made many claims: not kept for the next batches.
                    if out.claims.list.capacity() > KEPT_CLAIMS {
                        out.claims.list = Vec::new();
                    }
                }
            }
        }
        let mut ot = st.ot;
        ot.clamp_string_bytes(heap);
        ot.rounds = rounds;
        ot
    }

    /// String bytes are claimed up to where each string ends, which a string of a corrupt or
    /// stale length puts past its object's slot: bring those counts back to the slot's end
    /// (the slot's size, a cache miss per string, is known here by runs of objects).
    fn clamp_string_bytes(&mut self, heap: &Heap) {
        let strings: Vec<bool> = self.entries.iter().map(|e| e.kind == ObjKind::StringBytes).collect();
        let (strings, this) = (&strings, &*self);
        let over: Vec<(u32, u64)> = heap
            .par_object_runs()
            .flat_map_iter(|(objs, size, _)| {
                let past = move |o: u32| {
                    // The 2 bytes first: most counts are below any slot size.
                    let c = this.slots.narrow_count(o);
                    (c == ObjSlots::WIDE || c as u64 > size)
                        && this.slots.count(o) as u64 > size
                        && strings.get(this.slots.ty(o as usize) as usize).copied().unwrap_or(false)
                };
                objs.filter(move |&o| past(o)).map(move |o| (o, size)).collect::<Vec<_>>()
            })
            .collect();
        for (o, size) in over {
            self.slots.set_count(o, size.min(MAX_COUNT) as u32);
        }
    }

    /// Totals by source and what stays untyped (computed once).
    pub fn stats(&self, heap: &Heap) -> &TypingStats {
        self.stats.get_or_init(|| self.compute_stats(heap, self.rounds))
    }

    /// Whether a claim could change the object's type: untyped, another kind (see
    /// `State::apply`), or a longer array of the same kind.
    fn may_change(&self, c: &Claim, kind: ObjKind) -> bool {
        let cur = self.slots.ty(c.obj as usize);
        cur == UNTYPED || self.entries[cur as usize].kind != kind || c.count > self.slots.count(c.obj)
    }

    /// The entry of an object, None if untyped.
    pub fn entry(&self, obj: u32) -> Option<&Entry> {
        self.entries.get(self.slots.ty(obj as usize) as usize)
    }

    /// The entry index of an object ([`UNTYPED`] if none).
    pub fn entry_index(&self, obj: u32) -> u32 {
        self.slots.ty(obj as usize)
    }

    /// Number of elements (bytes, for string bytes) the object's entry describes.
    pub fn count(&self, obj: u32) -> u64 {
        self.slots.count(obj) as u64
    }

    /// Bytes of the object's slot its type covers (malloc header included).
    pub fn covered(&self, heap: &Heap, obj: u32) -> u64 {
        let Some(e) = self.entry(obj) else {
            return 0;
        };
        let (slot, header) = heap.size_and_header(obj);
        self.covered_in(e, obj, slot, header)
    }

    /// [`Self::covered`] for an object of entry `e`, slot size and malloc header known.
    #[inline]
    fn covered_in(&self, e: &Entry, obj: u32, slot: u64, header: u64) -> u64 {
        (header + self.count(obj).saturating_mul(e.elem_size)).min(slot)
    }

    fn compute_stats(&self, heap: &Heap, rounds: u32) -> TypingStats {
        let mut by: Vec<SourceTotals> =
            SOURCES.iter().map(|&s| SourceTotals { source: Some(s), ..Default::default() }).collect();
        let per: Vec<(u64, u64, u64)> = heap
            .par_object_runs()
            .fold(
                || vec![(0u64, 0u64, 0u64); 4],
                |mut acc, (objs, size, header)| {
                    for o in objs {
                        let Some(e) = self.entry(o) else {
                            acc[3].0 += 1;
                            acc[3].1 += size;
                            continue;
                        };
                        let a = &mut acc[e.source as usize];
                        a.0 += 1;
                        a.1 += size;
                        a.2 += self.covered_in(e, o, size, header);
                    }
                    acc
                },
            )
            .reduce(
                || vec![(0, 0, 0); 4],
                |a, b| a.iter().zip(&b).map(|(x, y)| (x.0 + y.0, x.1 + y.1, x.2 + y.2)).collect(),
            );
        let mut s = TypingStats { rounds, ..Default::default() };
        for (t, &(o, b, c)) in by.iter_mut().zip(&per) {
            (t.objects, t.bytes, t.covered_bytes) = (o, b, c);
            s.typed_objects += o;
            s.typed_bytes += b;
            s.covered_bytes += c;
        }
        (s.untyped_objects, s.untyped_bytes) = (per[3].0, per[3].1);
        s.by_source = by;
        s
    }

    /// Objects and bytes by type name (entries of the same name merged), with the objects for
    /// which `reachable` holds counted apart; sorted by bytes, then name.
    pub fn histogram(&self, heap: &Heap, reachable: Option<&[u64]>) -> Histogram {
        let mut names: Vec<&str> = self.entries.iter().map(|e| e.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let row_of: Vec<u32> =
            self.entries.iter().map(|e| names.binary_search(&e.name.as_str()).unwrap_or(0) as u32).collect();
        let untyped = names.len();
        let zero = || vec![[0u64; 4]; untyped + 1];
        let sums = heap
            .par_object_runs()
            .fold(zero, |mut acc, (objs, b, _)| {
                let reached = |o: u32| {
                    reachable
                        .is_some_and(|r| r.get((o / 64) as usize).is_some_and(|w| w >> (o % 64) & 1 == 1))
                };
                // Objects and reachable ones of the same row in a row, added at once.
                let add = |acc: &mut Vec<[u64; 4]>, row: usize, objects: u64, reached: u64| {
                    if let Some(a) = acc.get_mut(row) {
                        *a = [a[0] + objects, a[1] + objects * b, a[2] + reached, a[3] + reached * b];
                    }
                };
                let (mut row, mut objects, mut reached_objects) = (usize::MAX, 0u64, 0u64);
                for o in objs {
                    let i = row_of.get(self.slots.ty(o as usize) as usize).map_or(untyped, |&r| r as usize);
                    if i != row {
                        add(&mut acc, row, objects, reached_objects);
                        (row, objects, reached_objects) = (i, 0, 0);
                    }
                    objects += 1;
                    reached_objects += reached(o) as u64;
                }
                add(&mut acc, row, objects, reached_objects);
                acc
            })
            .reduce(zero, |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| (0..4).for_each(|k| x[k] += y[k]));
                a
            });
        let mut h = Histogram::default();
        h.total.type_name = "total".into();
        for (i, s) in sums.iter().enumerate().filter(|(_, s)| s[0] > 0) {
            let name = names.get(i).copied().unwrap_or("untyped");
            let row = Row {
                type_name: name.to_string(),
                objects: s[0],
                bytes: s[1],
                reachable_objects: s[2],
                reachable_bytes: s[3],
            };
            h.total.objects += row.objects;
            h.total.bytes += row.bytes;
            h.total.reachable_objects += row.reachable_objects;
            h.total.reachable_bytes += row.reachable_bytes;
            h.types.push(row);
        }
        let last = |r: &Row| r.type_name == "untyped" && !names.contains(&"untyped");
        h.types.sort_by(|a, b| {
            (last(a), std::cmp::Reverse(a.bytes), &a.type_name).cmp(&(
                last(b),
                std::cmp::Reverse(b.bytes),
                &b.type_name,
            ))
        });
        h
    }
}

/// Typing in progress: the result, the entry index, the objects to walk next.
struct State {
    ot: ObjectTypes,
    index: HashMap<(ObjKind, bool, Source), u32>,
    /// Per entry: the plan its elements are walked with, and the element size.
    walk: Vec<Option<(Arc<Plan>, u64)>>,
    /// Objects to walk next round, as a bitset, and how many.
    queue: Vec<u64>,
    queued: usize,
}

impl State {
    fn walks(&self, id: u32) -> bool {
        walks(&self.walk, &self.ot.entries, id)
    }

    fn enqueue(&mut self, o: u32) {
        let (w, b) = (o as usize / 64, 1u64 << (o % 64));
        if self.queue[w] & b == 0 {
            self.queue[w] |= b;
            self.queued += 1;
        }
    }

    /// The entry of a kind, made on first use.
    fn entry_id(&mut self, cx: &Ctx, kind: ObjKind, array: bool, source: Source, obj: u32) -> u32 {
        let key = (kind, array, source);
        if let Some(&id) = self.index.get(&key) {
            return id;
        }
        let id = self.ot.entries.len() as u32;
        self.ot.entries.push(cx.entry(kind, array, source, cx.heap.size(obj)));
        self.walk.push(cx.walk_plan_of(kind));
        self.index.insert(key, id);
        id
    }

    /// Record claims in order: the first wins; a longer array of the same kind extends.
    fn apply(&mut self, cx: &Ctx, claims: &Claims, source: Source) {
        // Entry of each claim kind (and array or not) with `source`, found once.
        let mut ids = vec![[UNTYPED; 2]; claims.kinds.len()];
        let given = source;
        const AHEAD: usize = 32;
        for (i, c) in claims.list.iter().enumerate() {
            if let Some(next) = claims.list.get(i + AHEAD) {
                let o = next.obj as usize;
                self.ot.slots.prefetch(o);
                if let Some(q) = self.queue.get(o / 64) {
                    prefetch(q);
                }
            }
            let o = c.obj as usize;
            let (count, kind) = (c.count, claims.kind(c));
            let cur = self.ot.slots.ty(o);
            let mut source = given;
            if cur != UNTYPED {
                let e = &self.ot.entries[cur as usize];
                if e.kind == kind && e.source != Source::Header && count > self.ot.slots.count(c.obj) {
                    self.ot.slots.set_count(c.obj, count);
                    if self.walks(cur) {
                        self.enqueue(c.obj);
                    }
                    continue;
                }
                // Groups or buckets the heap typed by their group type: name them by map.
                let (ObjKind::Value(TyRef::Runtime(g)), ObjKind::Map(m, MapPart::Groups)) = (e.kind, kind)
                else {
                    continue;
                };
                if e.source != Source::Header || !cx.is_group_of(g, m) {
                    continue;
                }
                source = Source::Header;
            }
            let id = if source == given {
                let cached = &mut ids[c.kind as usize][c.array as usize];
                if *cached == UNTYPED {
                    *cached = self.entry_id(cx, kind, c.array, source, c.obj);
                }
                *cached
            } else {
                self.entry_id(cx, kind, c.array, source, c.obj)
            };
            self.ot.slots.set_ty(o, id);
            if cur == UNTYPED {
                self.ot.slots.set_count(c.obj, count);
                if self.walks(id) {
                    self.enqueue(c.obj);
                }
            }
        }
    }
}

impl Offsets {
    fn load(p: &Process, types: &TypeTable) -> Offsets {
        let Some(d) = p.exe.dwarf.as_ref() else {
            return Offsets::default();
        };
        let f = |t: &str, path: &str| d.field_offset(t, path);
        let size = |t: &str| d.size_of(t).unwrap_or(0);
        let pool_local_type = d.type_by_name("sync.poolLocal").map(|id| match types.runtime_type(id) {
            Some(rt) => TyRef::Runtime(rt),
            None => TyRef::Dwarf(id),
        });
        Offsets {
            hchan: d.type_by_name("runtime.hchan"),
            hchan_size: size("runtime.hchan"),
            hchan_buf: f("runtime.hchan", "buf"),
            hchan_dataqsiz: f("runtime.hchan", "dataqsiz"),
            hchan_elemtype: f("runtime.hchan", "elemtype"),
            hmap_size: size("runtime.hmap"),
            hmap_buckets: f("runtime.hmap", "buckets"),
            hmap_oldbuckets: f("runtime.hmap", "oldbuckets"),
            hmap_extra: f("runtime.hmap", "extra"),
            extra_overflow: f("runtime.mapextra", "overflow"),
            extra_oldoverflow: f("runtime.mapextra", "oldoverflow"),
            map_size: size("internal/runtime/maps.Map"),
            map_dir_ptr: f("internal/runtime/maps.Map", "dirPtr"),
            map_dir_len: f("internal/runtime/maps.Map", "dirLen"),
            table_size: size("internal/runtime/maps.table"),
            table_groups_data: f("internal/runtime/maps.table", "groups.data"),
            table_groups_mask: f("internal/runtime/maps.table", "groups.lengthMask"),
            pool_local: f("sync.Pool", "local"),
            pool_local_size: f("sync.Pool", "localSize"),
            pool_victim: f("sync.Pool", "victim"),
            pool_victim_size: f("sync.Pool", "victimSize"),
            pool_local_type,
        }
    }
}

impl<'a> Ctx<'a, '_> {
    fn read(&self, a: u64) -> Option<u64> {
        self.p.mem.read_u64(a)
    }

    /// [`Self::read`], from the bytes of the object walked when it holds `a`.
    #[inline]
    fn read_at(&self, out: &Sink, a: u64) -> Option<u64> {
        out.row.word(a).or_else(|| self.read(a))
    }

    /// The object starting (after its malloc header) at `v`.
    fn object_at(&self, v: u64) -> Option<u32> {
        self.heap.object_starting_at(v)
    }

    /// Values of `size` bytes that fit in the object after its header.
    fn capacity(&self, o: u32, size: u64) -> u64 {
        let (slot, header) = self.heap.size_and_header(o);
        (slot - header) / size.max(1)
    }

    /// The heap's record of an object: (object, type, values of the type it holds).
    fn header_claim(&self, o: u32) -> Option<(u32, u64, u64)> {
        let s = self.heap.span(o);
        let typ = if s.is_large() {
            s.large_type
        } else if self.heap.header_size(o) > 0 {
            self.read(self.heap.addr(o))?
        } else {
            return None;
        };
        if typ == 0 {
            return None;
        }
        let t = self.types.get(typ).ok()?;
        let n = self.capacity(o, t.size);
        (t.size > 0 && n > 0).then_some((o, typ, n))
    }

    fn is_group_of(&self, group: u64, map: u64) -> bool {
        self.types.get(map).is_ok_and(|t| matches!(&t.detail, Detail::Map(mi) if mi.group == group))
    }

    /// The run-time type of a DWARF type if it has one.
    fn tyref_of_dwarf(&self, id: TypeId) -> TyRef {
        match self.types.runtime_type(id) {
            Some(rt) if self.types.get(rt).is_ok() => TyRef::Runtime(rt),
            _ => TyRef::Dwarf(id),
        }
    }

    fn ty_size(&self, t: TyRef) -> u64 {
        let key = (self.run, t);
        if let Some(v) = SIZES.with(|c| c.borrow().get(&key).copied()) {
            return v;
        }
        let v = self.ty_size_uncached(t);
        SIZES.with(|c| c.borrow_mut().insert(key, v));
        v
    }

    fn ty_size_uncached(&self, t: TyRef) -> u64 {
        match t {
            TyRef::Runtime(a) => self.types.get(a).map_or(0, |t| t.size),
            TyRef::Dwarf(id) => self.p.exe.dwarf.as_ref().map_or(0, |d| d.ty(id).size),
        }
    }

    fn ty_name(&self, t: TyRef) -> String {
        match t {
            TyRef::Runtime(a) => self.types.name(a),
            TyRef::Dwarf(id) => {
                let n = self.p.exe.dwarf.as_ref().map_or("", |d| d.type_name(id));
                if n.is_empty() {
                    format!("<dwarf type {}>", id.0)
                } else {
                    n.to_string()
                }
            }
        }
    }

    fn entry(&self, kind: ObjKind, array: bool, source: Source, slot: u64) -> Entry {
        let map_name = |m: u64| self.types.name(m);
        let (name, elem_size) = match kind {
            ObjKind::Value(t) if array => (format!("[]{} backing array", self.ty_name(t)), self.ty_size(t)),
            ObjKind::Value(t) => (self.ty_name(t), self.ty_size(t)),
            ObjKind::StringBytes => ("string bytes".into(), 1),
            ObjKind::Closure(entry) => {
                let f = self.p.func(entry).map_or("?".to_string(), |f| self.p.func_name(f).to_string());
                (format!("closure {f}"), slot)
            }
            ObjKind::Chan(e) => {
                let e = if e == 0 { "?".into() } else { self.types.name(e) };
                (format!("chan {e}"), self.off.hchan_size.max(8))
            }
            ObjKind::ChanBuffer(e) => {
                (format!("chan buffer of {}", self.types.name(e)), self.ty_size(TyRef::Runtime(e)))
            }
            ObjKind::Map(m, part) => {
                let (what, size) = match part {
                    MapPart::Header => {
                        let swiss = self
                            .types
                            .get(m)
                            .ok()
                            .is_some_and(|t| matches!(&t.detail, Detail::Map(mi) if mi.swiss));
                        ("header", if swiss { self.off.map_size } else { self.off.hmap_size })
                    }
                    MapPart::Directory => ("directory", 8),
                    MapPart::Table => ("table", self.off.table_size),
                    MapPart::Groups => {
                        let gs = self.types.get(m).ok().and_then(|t| match &t.detail {
                            Detail::Map(mi) => Some((mi.swiss, mi.group_size)),
                            _ => None,
                        });
                        match gs {
                            Some((true, s)) => ("groups", s),
                            Some((false, s)) => ("buckets", s),
                            None => ("groups", 0),
                        }
                    }
                    MapPart::Extra => ("mapextra", 24),
                    MapPart::OverflowSlice => ("overflow list header", 24),
                    MapPart::OverflowList => ("overflow list", 8),
                };
                (format!("{} {what}", map_name(m)), size)
            }
        };
        Entry { kind, array, source, name, elem_size }
    }

    /// How the elements of objects of a kind are walked by plan: values and channel buffers by
    /// their type, map groups by the group type; None for kinds walked by hand or not at all.
    fn walk_plan_of(&self, kind: ObjKind) -> Option<(Arc<Plan>, u64)> {
        let t = match kind {
            ObjKind::Value(t) => t,
            ObjKind::ChanBuffer(e) => TyRef::Runtime(e),
            ObjKind::Map(m, MapPart::Groups) => match &self.types.get(m).ok()?.detail {
                Detail::Map(mi) => return Some((self.plan(TyRef::Runtime(mi.group))?, mi.group_size)),
                _ => return None,
            },
            // One context, its captures at their offsets.
            ObjKind::Closure(entry) => return Some((self.closure_plan(entry)?, 0)),
            _ => return None,
        };
        Some((self.plan(t)?, self.ty_size(t)))
    }

    /// The plan of a type (cached); None if it holds no pointers.
    fn plan(&self, t: TyRef) -> Option<Arc<Plan>> {
        let key = (self.run, t);
        if let Some(p) = PLANS.with(|c| c.borrow().get(&key).cloned()) {
            return p;
        }
        let p = self.plan_shared(t);
        PLANS.with(|c| c.borrow_mut().insert(key, p.clone()));
        p
    }

    fn plan_shared(&self, t: TyRef) -> Option<Arc<Plan>> {
        if let Some(p) = self.plans.read().ok().and_then(|c| c.get(&t).cloned()) {
            return (!p.items.is_empty()).then_some(p);
        }
        let mut items = Vec::new();
        self.build(t, 0, &mut items, 0);
        let p = Arc::new(Plan { items });
        if let Ok(mut c) = self.plans.write() {
            c.insert(t, p.clone());
        }
        (!p.items.is_empty()).then_some(p)
    }

    fn build(&self, t: TyRef, off: u64, out: &mut Vec<Item>, depth: u32) {
        if depth > MAX_DEPTH {
            return;
        }
        match t {
            TyRef::Runtime(a) => self.build_runtime(a, off, out, depth),
            TyRef::Dwarf(id) => self.build_dwarf(id, off, out, depth),
        }
    }

    fn build_array(&self, elem: TyRef, esize: u64, n: u64, off: u64, out: &mut Vec<Item>, depth: u32) {
        if n == 0 || esize == 0 {
            return;
        }
        let mut sub = Vec::new();
        self.build(elem, 0, &mut sub, depth + 1);
        if sub.is_empty() {
            return;
        }
        if sub.len().saturating_mul(n as usize) <= MAX_INLINE {
            for i in 0..n {
                for it in &sub {
                    out.push(shift(it, off + i * esize));
                }
            }
        } else {
            out.push(Item::Repeat { off, n, stride: esize, plan: Arc::new(Plan { items: sub }) });
        }
    }

    fn build_runtime(&self, a: u64, off: u64, out: &mut Vec<Item>, depth: u32) {
        let Ok(t) = self.types.get(a) else { return };
        if t.ptr_bytes == 0 {
            return;
        }
        let slot = match (&t.kind, &t.detail) {
            (Kind::Pointer, _) if Self::pointer_shape(&t.name) => return,
            (Kind::Pointer, Detail::Pointer { elem }) => {
                self.trie_node(*elem).unwrap_or(Slot::Ptr(TyRef::Runtime(*elem)))
            }
            (Kind::Slice, Detail::Slice { elem }) => {
                let t = TyRef::Runtime(*elem);
                Slot::Slice(t, self.ty_size(t))
            }
            (Kind::String, _) => Slot::Str,
            (Kind::Interface, Detail::Interface { methods, .. }) => {
                if methods.is_empty() {
                    Slot::Eface
                } else {
                    Slot::Iface
                }
            }
            (Kind::Chan, _) => Slot::Chan,
            (Kind::Map, _) => Slot::Map(a),
            (Kind::Func, _) => Slot::Func,
            (Kind::Array, Detail::Array { elem, len }) => {
                let esize = self.types.get(*elem).map_or(0, |e| e.size);
                return self.build_array(TyRef::Runtime(*elem), esize, *len, off, out, depth);
            }
            (Kind::Struct, _) if t.name == "sync.eface" => Slot::Eface,
            (Kind::Struct, Detail::Struct { fields, .. }) => {
                if t.name == "sync.Pool" {
                    self.pool_slots(off, out);
                }
                if let Some(slot) = self.atomic_pointer(&t.name, fields) {
                    self.push_slot(out, off, slot);
                    return;
                }
                for f in fields {
                    self.build(TyRef::Runtime(f.ty), off + f.offset, out, depth + 1);
                }
                return;
            }
            _ => return,
        };
        self.push_slot(out, off, slot);
    }

    /// `atomic.Pointer[T]` (`{_ [0]*T; _ noCopy; v unsafe.Pointer}`): a `*T` at `v`, which
    /// must be the only pointer word (the plan item is placed at the struct's offset).
    fn atomic_pointer(&self, name: &str, fields: &[crate::runtime::types::Field]) -> Option<Slot> {
        if !name.starts_with("atomic.Pointer[") {
            return None;
        }
        let z = fields.iter().find(|f| f.name == "_" && self.types.get(f.ty).is_ok_and(|t| t.size == 0))?;
        let v = fields.iter().find(|f| f.name == "v")?;
        let Detail::Array { elem, .. } = self.types.get(z.ty).ok()?.detail else {
            return None;
        };
        let Detail::Pointer { elem } = self.types.get(elem).ok()?.detail else {
            return None;
        };
        (v.offset == 0).then(|| self.trie_node(elem).unwrap_or(Slot::Ptr(TyRef::Runtime(elem))))
    }

    /// The slot of a `*internal/sync.node[K,V]`, whose target is an `entry[K,V]` or an
    /// `indirect[K,V]` (HashTrieMap, behind `sync.Map` from 1.24).
    fn trie_node(&self, elem: u64) -> Option<Slot> {
        let name = self.types.get(elem).ok()?.name.clone();
        self.trie_node_named(name.strip_prefix("sync.node[")?)
    }

    /// [`Self::trie_node`] for `node[` + `args`: `entry` and `indirect` by their DWARF types,
    /// else (Go 1.27 DWARF has only their shapes) by their run-time descriptors.
    fn trie_node_named(&self, args: &str) -> Option<Slot> {
        let d = self.p.exe.dwarf.as_ref()?;
        let ty = |n: &str| match d.type_by_name(&format!("internal/sync.{n}[{args}")) {
            Some(id) => Some(self.tyref_of_dwarf(id)),
            None => self.runtime_type_named(&format!("sync.{n}[{args}")),
        };
        Some(Slot::TrieNode { entry: ty("entry")?, indirect: ty("indirect")? })
    }

    /// A named type's run-time descriptor, through the pointer type to it: unnamed composite
    /// types are listed in every release (see [`TypeTable::by_name`]), named ones from 1.27.
    fn runtime_type_named(&self, name: &str) -> Option<TyRef> {
        let ptr = self.types.by_name(&format!("*{name}"))?;
        self.types.get(ptr).ok()?.elem().map(TyRef::Runtime)
    }

    /// A DWARF `atomic.Pointer[T]` (no run-time descriptor): its `_ [0]*T` gives `T`.
    fn atomic_pointer_dwarf(&self, id: TypeId) -> Option<Slot> {
        let d = self.p.exe.dwarf.as_ref()?;
        if !d.type_name(id).starts_with("sync/atomic.Pointer[") {
            return None;
        }
        let fields = d.fields(id);
        let v = fields.iter().find(|f| d.str(f.name) == "v")?;
        let elem = fields.iter().find_map(|f| {
            let a = d.ty(d.resolve(f.ty));
            let p = d.ty(d.resolve(a.target.or(a.elem)?));
            (d.str(f.name) == "_" && a.kind == DKind::Array && a.count == Some(0) && p.kind == DKind::Pointer)
                .then_some(p.target)
                .flatten()
        })?;
        if v.offset != 0 {
            return None;
        }
        let t = self.tyref_of_dwarf(elem);
        let node = match t {
            TyRef::Runtime(a) => self.trie_node(a),
            TyRef::Dwarf(e) => {
                d.type_name(e).strip_prefix("internal/sync.node[").and_then(|a| self.trie_node_named(a))
            }
        };
        Some(node.unwrap_or(Slot::Ptr(t)))
    }

    /// `sync.Pool.local` and `victim`: unsafe pointers to `[localSize]poolLocal`.
    fn pool_slots(&self, off: u64, out: &mut Vec<Item>) {
        let o = &self.off;
        let Some(elem) = o.pool_local_type else {
            return;
        };
        for (p, n) in [(o.pool_local, o.pool_local_size), (o.pool_victim, o.pool_victim_size)] {
            if let (Some(p), Some(n)) = (p, n) {
                out.push(Item::Slot(off + p, Slot::Array { elem, len_off: n as i64 - p as i64 }));
            }
        }
    }

    fn build_dwarf(&self, id: TypeId, off: u64, out: &mut Vec<Item>, depth: u32) {
        let Some(d) = self.p.exe.dwarf.as_ref() else {
            return;
        };
        if let TyRef::Runtime(a) = self.tyref_of_dwarf(id) {
            return self.build_runtime(a, off, out, depth);
        }
        if Self::pointer_shape(d.type_name(id)) {
            return;
        }
        let id = d.resolve(id);
        let t = d.ty(id);
        let slot = match t.kind {
            DKind::Pointer if Self::pointer_shape(d.type_name(id)) => return,
            DKind::Pointer => match t.target {
                Some(e) => Slot::Ptr(self.tyref_of_dwarf(e)),
                None => return,
            },
            DKind::Slice => match t.elem {
                Some(e) => {
                    let t = self.tyref_of_dwarf(e);
                    Slot::Slice(t, self.ty_size(t))
                }
                None => return,
            },
            DKind::String => Slot::Str,
            DKind::Interface => {
                let eface = t.target.is_some_and(|r| d.type_name(d.resolve(r)).ends_with("eface"));
                if eface {
                    Slot::Eface
                } else {
                    Slot::Iface
                }
            }
            DKind::Chan => Slot::Chan,
            DKind::Func => Slot::Func,
            DKind::Map => match self.types.runtime_type(id) {
                Some(m) => Slot::Map(m),
                None => return,
            },
            DKind::Array => {
                let (Some(e), Some(n)) = (t.elem.or(t.target), t.count) else {
                    return;
                };
                let esize = d.ty(e).size;
                return self.build_array(self.tyref_of_dwarf(e), esize, n, off, out, depth);
            }
            DKind::Struct if d.type_name(id) == "sync.eface" => Slot::Eface,
            DKind::Struct => {
                if d.type_name(id) == "sync.Pool" {
                    self.pool_slots(off, out);
                }
                if let Some(slot) = self.atomic_pointer_dwarf(id) {
                    self.push_slot(out, off, slot);
                    return;
                }
                for f in d.fields(id) {
                    self.build(self.tyref_of_dwarf(f.ty), off + f.offset, out, depth + 1);
                }
                return;
            }
            _ => return,
        };
        self.push_slot(out, off, slot);
    }

    /// The idle GC mark workers' nodes, on the lock-free stack `runtime.gcBgMarkWorkerPool`
    /// (`lfnode` first, its `next` a tagged pointer: `runtime.tagBits` and `addrBits` from
    /// DWARF): each a `gcBgMarkWorkerNodePadded` (Go 1.25+) or `gcBgMarkWorkerNode`, which only
    /// the worker's stack, in a slot DWARF does not describe, points to otherwise.
    fn worker_nodes(&self, out: &mut Sink) {
        let Some(d) = self.p.exe.dwarf.as_ref() else { return };
        let (Some((pool, _)), Some(tag), Some(addr_bits)) = (
            d.global("runtime.gcBgMarkWorkerPool"),
            d.constant("runtime.tagBits"),
            d.constant("runtime.addrBits"),
        ) else {
            return;
        };
        let align = tag - (64 - addr_bits);
        if !(0..64).contains(&tag) || !(0..16).contains(&align) {
            return;
        }
        // Nodes aligned past a word are the padded type (Go 1.27 DWARF leaves it out).
        let padded = match d.type_by_name("runtime.gcBgMarkWorkerNodePadded") {
            Some(id) => Some(self.tyref_of_dwarf(id)),
            None => self.runtime_type_named("runtime.gcBgMarkWorkerNodePadded"),
        };
        let t = match padded {
            Some(t) => t,
            None if align <= 3 => match d.type_by_name("runtime.gcBgMarkWorkerNode") {
                Some(id) => self.tyref_of_dwarf(id),
                None => return,
            },
            None => return,
        };
        let unpack = |v: u64| (v >> tag) << align;
        let mut v = self.read(pool.wrapping_add(self.p.bias)).map_or(0, unpack);
        for _ in 0..4096 {
            let Some(o) = self.object_at(v).filter(|_| v != 0) else { break };
            self.claim(out, o, ObjKind::Value(t), false, 1);
            v = self.read(v).map_or(0, unpack);
        }
    }

    /// The receiver a method value's closure holds after its function word (the compiler's
    /// `struct { F uintptr; R T }` for `x.M`, whose function is `pkg.T.M-fm` or
    /// `pkg.(*T).M-fm`): its type, by the name the function's receiver gives, and offset.
    fn method_value_receiver(&self, entry: u64) -> Option<(TyRef, u64)> {
        let d = self.p.exe.dwarf.as_ref()?;
        let f = self.p.func(entry)?;
        let name = self.p.func_name(f).strip_suffix("-fm")?;
        // The package path ends at the first '.' after its last '/'.
        let pkg_end = name.rfind('/').map_or(0, |i| i + 1);
        let dot = pkg_end + name[pkg_end..].find('.')?;
        let (pkg, rest) = (&name[..dot], &name[dot + 1..]);
        let recv = &rest[..rest.rfind('.')?];
        let ty = match recv.strip_prefix("(*").and_then(|r| r.strip_suffix(')')) {
            Some(r) => format!("*{pkg}.{r}"),
            None => format!("{pkg}.{recv}"),
        };
        // R's alignment is at most a word's: it follows F directly.
        Some((self.tyref_of_dwarf(d.type_by_name(&ty)?), 8))
    }

    /// The plan of a closure context: its captures at their offsets (Go 1.23+ DWARF).
    fn closure_plan(&self, entry: u64) -> Option<Arc<Plan>> {
        if let Some(p) = self.closure_plans.read().ok().and_then(|c| c.get(&entry).cloned()) {
            return p;
        }
        let caps = self.locals.map_or(&[][..], |l| l.captures(entry.wrapping_sub(self.p.bias)));
        let mut items = Vec::new();
        for c in caps {
            self.build(self.tyref_of_dwarf(c.ty), c.offset, &mut items, 1);
        }
        if caps.is_empty() {
            if let Some((t, off)) = self.method_value_receiver(entry) {
                self.build(t, off, &mut items, 1);
            }
        }
        let p = (!items.is_empty()).then(|| Arc::new(Plan { items }));
        if let Ok(mut c) = self.closure_plans.write() {
            c.insert(entry, p.clone());
        }
        p
    }

    /// A value of type `t` at `v` outside the heap, in the module's data or bss (a static
    /// temporary a typed pointer leads to): walked once.
    fn static_value(&self, v: u64, t: TyRef, out: &mut Sink) {
        if v < self.statics.0 || v >= self.statics.1 {
            return;
        }
        let Some(plan) = self.plan(t) else { return };
        let fresh = self.statics_seen.lock().is_ok_and(|mut s| s.insert((v, t)));
        if fresh {
            self.walk_plan(&plan, v, 0, out);
        }
    }

    /// Whether a type is a GC shape's pointer (`go.shape.*uint8`): generic code's stand-in for
    /// any pointer, which says nothing of what it points to.
    fn pointer_shape(name: &str) -> bool {
        name.starts_with("go.shape.*")
    }

    /// Whether a type is a GC shape (`go.shape.int`, `go.shape.struct { … }`): generic code's
    /// stand-in for every type of that layout, which does not say which one a value is.
    fn is_shape(&self, t: TyRef) -> bool {
        match t {
            TyRef::Runtime(a) => self.types.get(a).is_ok_and(|t| t.name.starts_with("go.shape.")),
            TyRef::Dwarf(id) => {
                self.p.exe.dwarf.as_ref().is_some_and(|d| d.type_name(id).starts_with("go.shape."))
            }
        }
    }

    /// A plan item, unless it would claim objects as a shape.
    fn push_slot(&self, out: &mut Vec<Item>, off: u64, slot: Slot) {
        if let Slot::Ptr(t) | Slot::Slice(t, _) = slot {
            if self.is_shape(t) {
                return;
            }
        }
        // A pointer to an empty type claims nothing (`claim_value` relies on it).
        if let Slot::Ptr(t) = slot {
            if self.ty_size(t) == 0 {
                return;
            }
        }
        out.push(Item::Slot(off, slot));
    }

    /// Apply a plan to the value at `base`, `depth` levels of repeats deep.
    fn walk_plan(&self, plan: &Plan, base: u64, depth: u32, out: &mut Sink) {
        for it in &plan.items {
            match it {
                Item::Slot(off, s) => self.slot(base.wrapping_add(*off), *s, out),
                Item::Repeat { off, n, stride, plan } if depth < MAX_DEPTH => {
                    for i in 0..*n {
                        self.walk_plan(plan, base.wrapping_add(off + i * stride), depth + 1, out);
                    }
                }
                Item::Repeat { .. } => {}
            }
        }
    }

    fn claim(&self, out: &mut Sink, obj: u32, kind: ObjKind, array: bool, count: u64) {
        out.claims.push(obj, kind, array, count);
    }

    /// The object whose value starts at `v`, the pointer read at `a`: from the row of the
    /// object walked if it holds `a`, else from the heap.
    #[inline]
    fn resolve(&self, out: &mut Sink, a: u64, v: u64) -> Option<u32> {
        match out.row.find(a) {
            Some((o, at)) => (at & FIELD_AT_START != 0).then_some(o),
            None => self.heap.object_starting_at(v),
        }
    }

    /// The object whose slot holds `v` (anywhere in it), the pointer read at `a`, and the
    /// offset of `v` in the object's slot.
    #[inline]
    fn resolve_inside(&self, out: &mut Sink, a: u64, v: u64) -> Option<(u32, u64)> {
        if let Some(t) = out.row.inside_ahead() {
            self.heap.prefetch_addr(t);
        }
        let (o, at) = match out.row.find(a) {
            Some(found) => found,
            None => (self.heap.find_object(v)?, 0),
        };
        // Where the graph's edge says, without a look at the object (a cache miss or two).
        let off = if at & FIELD_AT_SLOT != 0 {
            0
        } else if at & FIELD_AT_START != 0 {
            self.heap.malloc_header_size()
        } else {
            v.wrapping_sub(self.heap.addr(o))
        };
        Some((o, off))
    }

    /// A value of type `t`, of a size above zero (plans leave out pointers to empty types),
    /// pointed to by `v`, read at `a`.
    fn claim_value(&self, a: u64, v: u64, t: TyRef, out: &mut Sink) {
        if v == 0 {
            return;
        }
        match self.resolve(out, a, v) {
            Some(o) => self.claim(out, o, ObjKind::Value(t), false, 1),
            None => self.static_value(v, t, out),
        }
    }

    /// The word(s) of a slot at `a`.
    fn slot(&self, a: u64, s: Slot, out: &mut Sink) {
        let Some(v) = self.read_at(out, a).filter(|&v| v != 0) else {
            return;
        };
        match s {
            Slot::Ptr(t) => self.claim_value(a, v, t, out),
            Slot::Slice(t, esize) => {
                // Only a slice from the start of an allocation says the allocation is its
                // backing array: one from inside (s[i:], or a slice of an array field of a
                // struct) says nothing of what the rest of the object is.
                let cap = self.read_at(out, a + 16).unwrap_or(0);
                if let (Some(o), true) = (self.resolve(out, a, v), cap > 0 && esize > 0) {
                    let n = cap.min(self.capacity(o, esize));
                    if n > 0 {
                        self.claim(out, o, ObjKind::Value(t), true, n);
                    }
                }
            }
            Slot::Str => {
                let len = self.read_at(out, a + 8).unwrap_or(0);
                if let (Some((o, off)), true) = (self.resolve_inside(out, a, v), len > 0) {
                    // Not clamped to the slot here (its size is a cache miss): see
                    // `ObjectTypes::clamp_string_bytes`.
                    self.claim(out, o, ObjKind::StringBytes, false, off.saturating_add(len));
                }
            }
            Slot::Eface | Slot::Iface => {
                let t = if matches!(s, Slot::Eface) {
                    v
                } else {
                    match self.types.itab(v) {
                        Ok(it) => it.ty,
                        Err(_) => return,
                    }
                };
                let Ok(dt) = self.types.get(t) else { return };
                if dt.direct_iface {
                    if let Some(plan) = self.plan(TyRef::Runtime(t)) {
                        self.walk_plan(&plan, a + 8, 0, out);
                    }
                } else if let (Some(d), true) = (self.read_at(out, a + 8), dt.size > 0) {
                    self.claim_value(a + 8, d, TyRef::Runtime(t), out);
                }
            }
            Slot::TrieNode { entry, indirect } => {
                let is_entry = self.p.mem.read_u8(v).unwrap_or(0) != 0;
                let t = if is_entry { entry } else { indirect };
                if self.ty_size(t) > 0 {
                    self.claim_value(a, v, t, out);
                }
            }
            Slot::Chan => {
                if let Some(o) = self.resolve(out, a, v) {
                    let elem =
                        self.off.hchan_elemtype.and_then(|e| self.read(v.saturating_add(e))).unwrap_or(0);
                    self.claim(out, o, ObjKind::Chan(elem), false, 1);
                }
            }
            Slot::Map(m) => {
                if let Some(o) = self.resolve(out, a, v) {
                    self.claim(out, o, ObjKind::Map(m, MapPart::Header), false, 1);
                }
            }
            Slot::Func => {
                if let (Some(o), Some(pc)) = (self.resolve(out, a, v), self.read(v)) {
                    if let Some(f) = self.p.func(pc) {
                        let entry = f.entry.wrapping_add(self.p.bias);
                        self.claim(out, o, ObjKind::Closure(entry), false, 1);
                    }
                }
            }
            Slot::Array { elem, len_off } => {
                // A victim cache emptied by `getSlow` keeps its array with a size of 0: an
                // array of at least one element, its slot zeroed past the last.
                let n = self.read_at(out, a.wrapping_add(len_off as u64)).unwrap_or(0);
                let esize = self.ty_size(elem);
                if let (Some(o), true) = (self.resolve(out, a, v), esize > 0) {
                    let cap = self.capacity(o, esize);
                    let n = if n == 0 { cap } else { n.min(cap) };
                    self.claim(out, o, ObjKind::Value(elem), n > 1, n);
                }
            }
        }
    }

    /// Claims from the pointers of a typed object.
    fn walk_object(&self, ot: &ObjectTypes, walk: &[Option<(Arc<Plan>, u64)>], o: u32, out: &mut Sink<'a>) {
        let id = ot.entry_index(o);
        let Some(e) = ot.entries.get(id as usize) else { return };
        if !walks(walk, &ot.entries, id) {
            // No pointers to follow (strings' bytes, byte slices' arrays): nothing to read.
            return;
        }
        let plan = walk.get(id as usize).and_then(|w| w.as_ref());
        let (addr, (size, header)) = (self.heap.addr(o), self.heap.size_and_header(o));
        out.row = self.graph.map(|(g, f)| GraphRow::of(g, f, &self.p.mem, o, addr, size)).unwrap_or_default();
        let start = addr + header;
        let count = ot.count(o);
        if let Some((plan, size)) = plan {
            for i in 0..count {
                self.walk_plan(plan, start + i * size, 0, out);
            }
            return;
        }
        match e.kind {
            ObjKind::Value(_) | ObjKind::ChanBuffer(_) => {}
            ObjKind::StringBytes | ObjKind::Closure(_) => {}
            ObjKind::Chan(el) => self.walk_chan(o, start, el, out),
            ObjKind::Map(m, part) => self.walk_map(m, part, start, count, out),
        }
    }

    fn walk_chan(&self, o: u32, c: u64, elem: u64, out: &mut Sink) {
        let off = &self.off;
        if let Some(h) = off.hchan {
            if let Some(plan) = self.plan(TyRef::Dwarf(h)) {
                self.walk_plan(&plan, c, 0, out);
            }
        }
        let (Some(bo), Some(qo)) = (off.hchan_buf, off.hchan_dataqsiz) else {
            return;
        };
        let (Some(buf), Some(n)) = (self.read_at(out, c + bo), self.read_at(out, c + qo)) else {
            return;
        };
        if elem == 0 || n == 0 || buf == 0 {
            return;
        }
        match self.resolve(out, c + bo, buf) {
            Some(b) if b != o => self.claim(out, b, ObjKind::ChanBuffer(elem), true, n),
            _ => {}
        }
    }

    fn walk_map(&self, m: u64, part: MapPart, s: u64, count: u64, out: &mut Sink) {
        let Ok(mt) = self.types.get(m) else { return };
        let Detail::Map(mi) = &mt.detail else { return };
        let off = &self.off;
        // A non-nil word of the object: its address and value.
        let rd = |o: Option<u64>| {
            o.and_then(|o| Some((s + o, self.read(s.saturating_add(o)).filter(|&v| v != 0)?)))
        };
        let groups = |(a, v): (u64, u64), n: Option<u64>, out: &mut Sink| {
            if let Some(o) = self.resolve(out, a, v) {
                let n = n.unwrap_or(u64::MAX).min(self.capacity(o, mi.group_size));
                if n > 0 {
                    self.claim(out, o, ObjKind::Map(m, MapPart::Groups), n > 1, n);
                }
            }
        };
        let to = |w: Option<(u64, u64)>, part: MapPart, n: u64, out: &mut Sink| {
            if let Some(o) = w.and_then(|(a, v)| self.resolve(out, a, v)) {
                self.claim(out, o, ObjKind::Map(m, part), n > 1, n);
            }
        };
        match part {
            MapPart::Header if mi.swiss => {
                let Some(dir) = rd(off.map_dir_ptr) else {
                    return;
                };
                match rd(off.map_dir_len) {
                    None => groups(dir, Some(1), out),
                    Some((_, n)) => to(Some(dir), MapPart::Directory, n.min(1 << 24), out),
                }
            }
            MapPart::Header => {
                for b in [rd(off.hmap_buckets), rd(off.hmap_oldbuckets)].into_iter().flatten() {
                    groups(b, None, out);
                }
                to(rd(off.hmap_extra), MapPart::Extra, 1, out);
            }
            MapPart::Directory => {
                for i in 0..count {
                    to(rd(Some(8 * i)), MapPart::Table, 1, out);
                }
            }
            MapPart::Table => {
                if let Some(data) = rd(off.table_groups_data) {
                    groups(
                        data,
                        rd(off.table_groups_mask).map(|(_, m)| m.saturating_add(1)).or(Some(1)),
                        out,
                    );
                }
            }
            // Walked with the entry's plan (see `walk_plan_of`).
            MapPart::Groups => {}
            MapPart::Extra => {
                for v in [rd(off.extra_overflow), rd(off.extra_oldoverflow)] {
                    to(v, MapPart::OverflowSlice, 1, out);
                }
            }
            MapPart::OverflowSlice => {
                let cap = self.read_at(out, s + 16).unwrap_or(0).min(1 << 24);
                to(rd(Some(0)), MapPart::OverflowList, cap, out);
            }
            MapPart::OverflowList => {
                for i in 0..count {
                    if let Some(b) = rd(Some(8 * i)) {
                        groups(b, Some(1), out);
                    }
                }
            }
        }
    }
}

fn shift(it: &Item, by: u64) -> Item {
    match it {
        Item::Slot(o, s) => Item::Slot(o + by, *s),
        Item::Repeat { off, n, stride, plan } => {
            Item::Repeat { off: off + by, n: *n, stride: *stride, plan: plan.clone() }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::heap::graph::{ObjectGraph, Reachability, RootEdges};
    use std::path::{Path, PathBuf};

    #[test]
    fn entry_ids_widen_past_65534() {
        let mut t = ObjSlots::new(3);
        t.set_ty(0, 7);
        t.set_count(0, 3);
        t.set_count(1, 1 << 20);
        assert_eq!((t.ty(0), t.ty(1), t.ty(9)), (7, UNTYPED, UNTYPED));
        t.set_ty(1, 70_000);
        assert!(t.wide_ids.is_some());
        assert_eq!((t.ty(0), t.ty(1), t.ty(2)), (7, 70_000, UNTYPED));
        t.set_ty(2, 9);
        assert_eq!((t.count(0), t.count(1), t.count(2), t.count(5)), (3, 1 << 20, 0, 0));
        assert_eq!(t.ty(2), 9);
    }

    /// Scenario cases (`case.json` beside `dump`, `exe`, `facts.json`) of one scenario under
    /// `$GOMORTEM_FIXTURES` (else `fixtures/cache`), any depth.
    fn cases(scenario: &str) -> Vec<PathBuf> {
        let root = std::env::var_os("GOMORTEM_FIXTURES")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cache"));
        let mut out = Vec::new();
        let mut stack = vec![root];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                // Not through symlinks (Wine prefixes link to /).
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(p);
                } else if p.file_name().is_some_and(|n| n == "case.json") && d.ends_with(scenario) {
                    out.push(d.clone());
                }
            }
        }
        out.sort();
        out
    }

    fn pct(a: u64, b: u64) -> f64 {
        100.0 * a as f64 / b.max(1) as f64
    }

    /// Type a case; print and return (untyped % of all bytes, untyped % of reachable bytes).
    fn run(d: &Path) -> (Process, Heap, ObjectTypes, Reachability) {
        let p = Process::open(&d.join("dump"), Some(&d.join("exe"))).unwrap();
        let heap = p.heap().unwrap();
        let types = p.types().unwrap();
        let roots = p.roots(&heap).unwrap();
        let t0 = std::time::Instant::now();
        let ot = ObjectTypes::infer(&p, &heap, &types, &roots, None);
        let dt = t0.elapsed();
        let g = ObjectGraph::build(&p, &heap);
        let re = RootEdges::from_pairs(roots.edges.iter().map(|e| (e.root, e.object)));
        let r = Reachability::compute(&g, &heap, &re);
        let s = ot.stats(&heap);
        let (mut uo, mut ub) = (0u64, 0u64);
        for o in (0..heap.len()).filter(|&o| r.is_reachable(o) && ot.entry(o).is_none()) {
            uo += 1;
            ub += heap.size(o);
        }
        eprintln!(
            "{}: {} objects {} B; typed {} obj {} B ({} B covered), untyped {} obj {} B ({:.1}% of bytes); \
             reachable {} obj {} B, untyped {uo} obj {ub} B ({:.1}%); {} entries, {} rounds, {dt:?}",
            d.display(),
            heap.len(),
            heap.totals.bytes,
            s.typed_objects,
            s.typed_bytes,
            s.covered_bytes,
            s.untyped_objects,
            s.untyped_bytes,
            pct(s.untyped_bytes, heap.totals.bytes),
            r.objects,
            r.bytes,
            pct(ub, r.bytes),
            ot.entries.len(),
            s.rounds
        );
        for t in &s.by_source {
            eprintln!("  {:?}: {} objects {} B ({} covered)", t.source, t.objects, t.bytes, t.covered_bytes);
        }
        (p, heap, ot, r)
    }

    /// Taking pointers from the graph's rows types every object exactly as looking each up
    /// in the heap does; no string's bytes reach past its object's slot.
    #[test]
    fn graph_rows_change_nothing() {
        let cases = crate::testutil::fixture_cases();
        assert!(!cases.is_empty(), "no fixtures");
        for (d, _) in cases {
            let Ok(p) = Process::open(&d.join("dump"), Some(&d.join("exe"))) else { continue };
            let (Ok(heap), Ok(types)) = (p.heap(), p.types()) else { continue };
            let Ok(roots) = p.roots(&heap) else { continue };
            let mut g = ObjectGraph::build(&p, &heap);
            let f = g.take_fields();
            let a = ObjectTypes::infer(&p, &heap, &types, &roots, None);
            let b = ObjectTypes::infer(&p, &heap, &types, &roots, Some((&g, &f)));
            let names = |ot: &ObjectTypes| ot.entries.iter().map(|e| e.name.clone()).collect::<Vec<_>>();
            assert_eq!(names(&a), names(&b), "{}", d.display());
            assert!(a.slots == b.slots, "{}: object types differ", d.display());
            // String bytes are claimed unclamped, and clamped to their slots once typed.
            for o in 0..heap.len() {
                if b.entry(o).is_some_and(|e| e.kind == ObjKind::StringBytes) {
                    assert!(b.count(o) <= heap.size(o), "{}: string bytes past the slot of {o}", d.display());
                }
            }
        }
    }

    /// Timing on a big dump: `GOMORTEM_TYPING_BENCH=DIR` (with `dump` and `exe`), release:
    /// `cargo test --release --lib analysis::heap::typing::tests::bench -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn bench() {
        let Some(d) = std::env::var_os("GOMORTEM_TYPING_BENCH").map(PathBuf::from) else {
            return;
        };
        let p = Process::open(&d.join("dump"), Some(&d.join("exe"))).unwrap();
        let heap = p.heap().unwrap();
        let types = p.types().unwrap();
        let roots = p.roots(&heap).unwrap();
        let mut g = ObjectGraph::build(&p, &heap);
        let f = g.take_fields();
        let t0 = std::time::Instant::now();
        let ot = ObjectTypes::infer(&p, &heap, &types, &roots, Some((&g, &f)));
        let t1 = std::time::Instant::now();
        let h = ot.histogram(&heap, None);
        let s = ot.stats(&heap);
        eprintln!(
            "{}: {} objects; infer {:?}, histogram {:?}; untyped {} obj {} B ({:.1}%), {} entries, {} rounds",
            d.display(),
            heap.len(),
            t1 - t0,
            t1.elapsed(),
            s.untyped_objects,
            s.untyped_bytes,
            pct(s.untyped_bytes, heap.totals.bytes),
            ot.entries.len(),
            s.rounds
        );
        h.types
            .iter()
            .take(8)
            .for_each(|r| eprintln!("    {:>11} B {:>9} obj  {}", r.bytes, r.objects, r.type_name));
    }

    #[test]
    fn leaky() {
        let dirs = cases("leaky");
        if dirs.is_empty() {
            eprintln!("note: no leaky fixture case: skipping");
            return;
        }
        for d in dirs {
            let name = d.display().to_string();
            let (p, heap, ot, r) = run(&d);
            let facts: serde_json::Value =
                serde_json::from_slice(&std::fs::read(d.join("facts.json")).unwrap()).unwrap();
            let entries = facts["global_map"]["entries"].as_u64().unwrap();
            let each = facts["global_map"]["payload_bytes_each"].as_u64().unwrap();
            // The global map: its header and internals, its entries and their payloads.
            let (link, _) = p.exe.dwarf.as_ref().unwrap().global("main.sessionCache").unwrap();
            let m = p.read_u64(link.wrapping_add(p.bias), "main.sessionCache").unwrap();
            let hdr = heap.find_object(m).unwrap();
            let mname = "map[string]*main.session";
            assert_eq!(ot.entry(hdr).map(|e| e.name.as_str()), Some(&*format!("{mname} header")), "{name}");
            let count = |f: &dyn Fn(&Entry, u32) -> bool| {
                (0..heap.len()).filter(|&o| ot.entry(o).is_some_and(|e| f(e, o))).count() as u64
            };
            let groups = count(&|e, _| {
                e.name.starts_with(mname) && (e.name.ends_with("groups") || e.name.ends_with("buckets"))
            });
            assert!(groups > 0, "{name}: map groups");
            assert!(count(&|e, _| e.name == "main.session") >= entries, "{name}: sessions");
            let payloads = count(&|e, o| e.name == "[]uint8 backing array" && ot.count(o) == each);
            assert!(payloads >= entries, "{name}: {payloads} payloads");
            // Keys are strings: their bytes are typed too.
            assert!(count(&|e, _| e.kind == ObjKind::StringBytes) >= entries, "{name}: keys");
            // Closures are named by their function (the leaky program's own may live only on
            // stacks, as goroutine contexts).
            let closures: Vec<&str> = ot
                .entries
                .iter()
                .filter(|e| matches!(e.kind, ObjKind::Closure(_)))
                .map(|e| e.name.as_str())
                .collect();
            eprintln!("  closures: {closures:?}");
            assert!(!closures.is_empty() && closures.iter().all(|c| !c.ends_with('?')), "{name}: closures");
            // Nothing typed that is not allocated, and the untyped share of reachable bytes.
            let unreached_untyped: u64 = (0..heap.len())
                .filter(|&o| r.is_reachable(o) && ot.entry(o).is_none())
                .map(|o| heap.size(o))
                .sum();
            assert!(pct(unreached_untyped, r.bytes) < 5.0, "{name}: untyped reachable bytes");
            let h = ot.histogram(&heap, Some(r.bitsets().0));
            assert_eq!(h.total.objects, heap.len() as u64);
            assert_eq!(h.total.bytes, heap.totals.bytes);
            assert_eq!(h.total.reachable_bytes, r.bytes);
            for row in h.types.iter().take(12) {
                eprintln!("    {:>9} B {:>6} obj  {}", row.bytes, row.objects, row.type_name);
            }
            // The payloads of the values blocked senders hold on their stacks, in stack objects
            // no DWARF local describes: typed through the channel operation's element type.
            let roots = p.roots(&heap).unwrap();
            let elems: Vec<u32> = roots
                .edges
                .iter()
                .filter(|e| roots.roots[e.root as usize].name.ends_with("(channel element)"))
                .map(|e| e.object)
                .collect();
            assert!(elems.len() >= 20, "{name}: {} channel elements", elems.len());
            for o in elems {
                assert!(ot.entry(o).is_some(), "{name}: channel element's {:#x} untyped", heap.addr(o));
            }
        }
    }

    /// The Go minor version of a case (`case.json`'s `go_version`).
    fn minor(d: &Path) -> u32 {
        let c: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join("case.json")).unwrap()).unwrap();
        c["go_version"].as_str().and_then(|v| v.split('.').nth(1)?.parse().ok()).unwrap()
    }

    /// Every case of the other scenarios: under 5% of the reachable bytes untyped, and what a
    /// source of its own types: oom's hoard (a `[][]byte` global whose type has no run-time
    /// descriptor: typed through DWARF alone), webapp's closure captures (Go 1.23+ DWARF).
    #[test]
    fn scenarios() {
        for scenario in ["oom", "waiting", "panicking", "webapp"] {
            for d in cases(scenario) {
                let name = d.display().to_string();
                let (p, heap, ot, r) = run(&d);
                let untyped: u64 = (0..heap.len())
                    .filter(|&o| r.is_reachable(o) && ot.entry(o).is_none())
                    .map(|o| heap.size(o))
                    .sum();
                assert!(pct(untyped, r.bytes) < 5.0, "{name}: {:.2}% untyped", pct(untyped, r.bytes));
                let named =
                    |n: &str| (0..heap.len()).filter(|&o| ot.entry(o).is_some_and(|e| e.name == n)).count();
                if scenario == "oom" {
                    let (link, _) = p.exe.dwarf.as_ref().unwrap().global("main.hoard").unwrap();
                    let hoard = link.wrapping_add(p.bias);
                    let arr = p.read_u64(hoard, "hoard").unwrap();
                    for i in 0..p.read_u64(hoard.saturating_add(8), "hoard len").unwrap() {
                        let b = p.read_u64(arr.saturating_add(24 * i), "hoard[i]").unwrap();
                        let e = heap.find_object(b).and_then(|o| ot.entry(o)).map(|e| e.name.as_str());
                        assert_eq!(e, Some("[]uint8 backing array"), "{name}: hoard[{i}]");
                    }
                }
                if scenario == "webapp" && minor(&d) >= 23 {
                    // The slice logger's closures capture by reference: the variable's cell.
                    assert_eq!(named("[]main.requestLog"), 1, "{name}: captured");
                }
            }
        }
    }
}
#[cfg(test)]
mod debug {
    use super::*;
    use crate::analysis::heap::graph::{ObjectGraph, Reachability, RootEdges, Step};
    #[test]
    fn untyped_debug() {
        let Some(d) = std::env::var_os("TYPING_DEBUG").map(std::path::PathBuf::from) else {
            return;
        };
        let p = Process::open(&d.join("dump"), Some(&d.join("exe"))).unwrap();
        let heap = p.heap().unwrap();
        let types = p.types().unwrap();
        let roots = p.roots(&heap).unwrap();
        let ot = ObjectTypes::infer(&p, &heap, &types, &roots, None);
        let g = ObjectGraph::build(&p, &heap);
        let re = RootEdges::from_pairs(roots.edges.iter().map(|e| (e.root, e.object)));
        let r = Reachability::compute(&g, &heap, &re);
        let mut v: Vec<u32> =
            (0..heap.len()).filter(|&o| r.is_reachable(o) && ot.entry(o).is_none()).collect();
        v.sort_by_key(|&o| std::cmp::Reverse(heap.size(o)));
        for &o in v.iter().take(40) {
            let path = r.path_to(&g, o).unwrap_or_default();
            let desc: Vec<String> = path
                .iter()
                .rev()
                .take(4)
                .map(|s| match s {
                    Step::Root(i) => format!("root {}", roots.roots[*i as usize].name),
                    Step::Object { obj, field } => format!(
                        "{:#x}[{}]+{:?}",
                        heap.addr(*obj),
                        ot.entry(*obj).map_or("untyped", |e| &e.name),
                        field
                    ),
                })
                .collect();
            eprintln!("{:#x} {} B: {}", heap.addr(o), heap.size(o), desc.join(" <- "));
        }
    }
}
