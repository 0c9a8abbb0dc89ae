//! The dominator tree of the object graph, and what each object and root retains.
//!
//! A super-root sits above every root; each root is a node of its own whose successors are
//! the objects it points to. An object `d` dominates `o` when every path from the super-root
//! to `o` goes through `d`; what `d` retains is `d` and every object it dominates (what would
//! be freed if `d` were). A root's retained set is what it alone keeps alive.
//!
//! Algorithm. The breadth-first search of [`Reachability`] tells which reachable objects have
//! more than one predecessor, and the one of the others (its search parent), which dominates
//! them. Most objects of a heap (strings, byte slices, payloads) have one predecessor and no
//! edges: a parallel pass adds them to their dominator and leaves them out of what follows.
//! An iterative depth-first search from the super-root goes over the rest; a node whose
//! subtree in it has one predecessor a node is *pendant*: dominated by its predecessor, its
//! retained size summed as the search leaves it, and never numbered. The other nodes are
//! numbered in preorder (a node when it turns out not to be pendant, its ancestors first); the
//! predecessors of those with several are put in compressed rows by number, counted and
//! filled in parallel. On the numbered nodes alone: semidominators by Lengauer–Tarjan (path
//! compression, no balancing), immediate dominators by the nearest-common-ancestor walk of
//! Semi-NCA (Georgiadis); a node with one predecessor has it as semidominator and dominator.
//! Retained sizes are summed in reverse preorder. Everything is iterative (a 1M-long chain is
//! fine), in `u32` arrays, with prefetching where the access pattern is known ahead (the work
//! is mostly cache misses).

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;

use rayon::prelude::*;

use crate::analysis::heap::graph::{
    as_atomic, filled, prefetch, BitIter, ObjectGraph, Reachability, RootEdges,
};
use crate::runtime::heap::Heap;
use crate::{Error, Result};

const NONE: u32 = u32::MAX;
/// Retained bytes from this value up are kept in [`Retained::big`].
const BIG: u32 = u32::MAX;
/// Objects per parallel task at most (64 bitset words).
const STEP: usize = 64 * 64;
/// Edges from which a parallel task that follows them ends early (see
/// [`ObjectGraph::word_tasks`]).
const TASK_EDGES: u32 = 1 << 16;

/// How many successors ahead the depth-first search prefetches what it reads of them.
const SEARCH_AHEAD: usize = 6;

/// `v` cut at the tasks' ranges of 64-element words (the tasks cover it, in order).
fn split_words<'a, T>(mut v: &'a mut [T], tasks: &[std::ops::Range<usize>]) -> Vec<&'a mut [T]> {
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        let (head, tail) = v.split_at_mut((t.len() * 64).min(v.len()));
        out.push(head);
        v = tail;
    }
    out
}

/// A node of the dominator tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Node {
    /// Above every root.
    SuperRoot,
    /// A root, by its index in the caller's list of roots.
    Root(u32),
    /// A heap object.
    Object(u32),
}

/// An entry of [`Dominators::top_retainers`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct Retainer {
    pub node: Node,
    pub retained_bytes: u64,
    pub retained_objects: u32,
    /// The node's immediate dominator.
    pub dominator: Node,
}

impl Retainer {
    /// Orders nodes of equal size: roots first, then objects, by index.
    fn node_key(&self) -> (u8, u32) {
        match self.node {
            Node::SuperRoot => (0, 0),
            Node::Root(r) => (1, r),
            Node::Object(o) => (2, o),
        }
    }
}

/// Immediate dominators and retained sizes of every node reachable from the roots.
pub struct Dominators {
    objects: u32,
    /// Root index (caller's) of each root node.
    root_ids: Vec<u32>,
    /// Per node (objects, then root nodes, then the super-root): immediate dominator node,
    /// NONE if unreachable (the super-root is its own).
    idom: Vec<u32>,
    sums: Sums,
    /// Nodes reached from the super-root (itself included).
    pub reached: u32,
}

/// A set of objects (64 a word), and their ranks in it: an index into arrays over the set's
/// objects alone.
struct Ranks<B> {
    bits: B,
    /// Objects of the set before each word.
    base: Vec<u32>,
    len: u32,
}

/// The objects with several predecessors.
type Many<'a> = Ranks<&'a [u64]>;

impl<B: std::ops::Deref<Target = [u64]>> Ranks<B> {
    fn new(bits: B) -> Ranks<B> {
        let mut base = Vec::with_capacity(bits.len());
        let mut len = 0u32;
        for &w in bits.iter() {
            base.push(len);
            len += w.count_ones();
        }
        Ranks { bits, base, len }
    }

    #[inline]
    fn has(&self, v: u32) -> bool {
        self.bits[(v / 64) as usize] >> (v % 64) & 1 == 1
    }

    #[inline]
    fn rank(&self, v: u32) -> usize {
        let (i, b) = ((v / 64) as usize, v % 64);
        (self.base[i] + (self.bits[i] & ((1u64 << b) - 1)).count_ones()) as usize
    }

    fn memory_bytes(&self) -> usize {
        self.base.capacity() * 4 + self.bits.len() * 8
    }
}

/// What each node retains, in bytes and objects. Only the nodes that may retain others have
/// an entry: the reachable objects with edges (by rank), then the root nodes and the
/// super-root. An object without edges retains itself alone, its own size (two thirds of the
/// objects, in a heap of strings and byte slices): the caller's `size` tells it.
struct Sums {
    stored: Ranks<Vec<u64>>,
    objects: u32,
    /// Bytes and objects per entry, side by side (one cache miss); sums of 4 GiB or more are
    /// [`BIG`] bytes here, and kept in `big` by entry.
    entries: Vec<[u32; 2]>,
    big: HashMap<u32, u64>,
}

impl Sums {
    /// Entries for the reachable objects of `g` with edges (`marked`: the reachable ones),
    /// each retaining itself to begin with, and for `others` nodes past the objects, retaining
    /// nothing yet.
    fn new(g: &ObjectGraph, marked: &[u64], n: u32, others: u32, size: &(dyn Fn(u32) -> u64 + Sync)) -> Sums {
        let bits: Vec<u64> = marked.par_iter().enumerate().map(|(i, &w)| w & g.has_targets_word(i)).collect();
        let stored = Ranks::new(bits);
        let len = (stored.len + others) as usize;
        // Objects with edges retain themselves, the others nothing yet.
        // Filled in parallel: the first touch of its pages is most of the cost.
        let mut entries = Vec::with_capacity(len);
        entries.par_extend(rayon::iter::repeat_n([0u32, 1], stored.len as usize));
        entries.par_extend(rayon::iter::repeat_n([0u32, 0], len - stored.len as usize));
        let big: Vec<(u32, u64)> = {
            let at = as_atomic(entries.as_flattened_mut());
            stored
                .bits
                .par_iter()
                .enumerate()
                .flat_map_iter(|(i, &w)| {
                    let mut big = Vec::new();
                    for (k, b) in BitIter(w).enumerate() {
                        let (slot, s) = (stored.base[i] + k as u32, size(i as u32 * 64 + b));
                        at[2 * slot as usize].store(s.min(BIG as u64) as u32, Relaxed);
                        if s >= BIG as u64 {
                            big.push((slot, s));
                        }
                    }
                    big
                })
                .collect()
        };
        Sums { stored, objects: n, entries, big: big.into_iter().collect() }
    }

    /// The entry of a node, None for an object without edges.
    #[inline]
    fn slot(&self, id: u32) -> Option<usize> {
        if id >= self.objects {
            Some((self.stored.len + (id - self.objects)) as usize)
        } else {
            self.stored.has(id).then(|| self.stored.rank(id))
        }
    }

    #[inline]
    fn bytes_at(&self, s: usize) -> u64 {
        match self.entries[s][0] {
            BIG => self.big.get(&(s as u32)).copied().unwrap_or(0),
            b => b as u64,
        }
    }

    #[inline]
    fn set_at(&mut self, s: usize, v: u64) {
        if v >= BIG as u64 {
            self.entries[s][0] = BIG;
            self.big.insert(s as u32, v);
        } else {
            self.entries[s][0] = v as u32;
        }
    }

    /// Bytes and objects a node retains; an object without edges weighs `size` if `reached`.
    #[inline]
    fn get(&self, id: u32, reached: bool, size: &dyn Fn(u32) -> u64) -> (u64, u32) {
        match self.slot(id) {
            Some(s) => (self.bytes_at(s), self.entries[s][1]),
            None if reached => (size(id), 1),
            None => (0, 0),
        }
    }

    /// Add to what a node with an entry retains (only those retain others).
    #[inline]
    fn add(&mut self, id: u32, b: u64, c: u32) {
        if let Some(s) = self.slot(id) {
            self.add_at(s, b, c);
        }
    }

    #[inline]
    fn add_at(&mut self, s: usize, b: u64, c: u32) {
        if b != 0 {
            self.set_at(s, self.bytes_at(s) + b);
        }
        self.entries[s][1] += c;
    }

    /// Start loading a node's entry into the cache.
    #[inline]
    fn prefetch(&self, id: u32) {
        if let Some(s) = self.slot(id) {
            prefetch(&self.entries[s]);
        }
    }

    fn memory_bytes(&self) -> usize {
        self.entries.capacity() * 8 + self.stored.memory_bytes() + self.big.capacity() * 16
    }
}

/// A node on the depth-first search's stack.
struct Frame<'a> {
    succ: &'a [u32],
    /// Next successor to look at.
    k: u32,
    node: u32,
    /// Preorder number; NONE while the node may be pendant.
    dfs: u32,
    /// What the node retains so far past itself: its pendant successors.
    bytes: u64,
    count: u32,
}

/// The numbered nodes of the depth-first search: `vertex[w]` is the node numbered `w`, its
/// search parent `parent[w]` (a number).
struct Numbering {
    vertex: Vec<u32>,
    parent: Vec<u32>,
}

impl Numbering {
    /// Number the unnumbered nodes at the top of the stack, the deepest last (each is the
    /// parent of the next), keeping each number in `dfs` meanwhile; the top's number.
    fn number_top(&mut self, stack: &mut [Frame], dfs: &mut [u32]) -> u32 {
        let top = stack.len() - 1;
        if stack[top].dfs == NONE {
            let mut i = top;
            while i > 0 && stack[i - 1].dfs == NONE {
                i -= 1;
            }
            for j in i..=top {
                // The bottom frame is a root node, a child of the super-root (number 0).
                let p = if j == 0 { 0 } else { stack[j - 1].dfs };
                stack[j].dfs = self.push(stack[j].node, p);
                dfs[stack[j].node as usize] = stack[j].dfs;
            }
        }
        stack[top].dfs
    }

    fn push(&mut self, node: u32, parent: u32) -> u32 {
        self.vertex.push(node);
        self.parent.push(parent);
        self.vertex.len() as u32 - 1
    }
}

impl Dominators {
    /// Dominators of a heap's object graph; `roots` should hold one entry per root. Searches
    /// the graph from the roots first: [`Self::from_reach`] reuses a search.
    pub fn from_heap(g: &ObjectGraph, heap: &Heap, roots: &[RootEdges]) -> Result<Dominators> {
        Self::compute(g, roots, |o| heap.size(o))
    }

    /// Dominators of a heap's object graph, given its reachability from these `roots`.
    pub fn from_reach(
        g: &ObjectGraph,
        heap: &Heap,
        roots: &[RootEdges],
        reach: &Reachability,
    ) -> Result<Dominators> {
        Self::compute_reached(g, roots, reach, |o| heap.size(o))
    }

    /// Dominators over `g` with the given roots, objects weighing `size(obj)` bytes.
    pub fn compute(
        g: &ObjectGraph,
        roots: &[RootEdges],
        size: impl Fn(u32) -> u64 + Send + Sync,
    ) -> Result<Dominators> {
        let reach = Reachability::compute_with(g, roots, &size);
        Self::compute_reached(g, roots, &reach, size)
    }

    /// As [`Self::compute`], given the reachability of `g` from these `roots`.
    pub fn compute_reached(
        g: &ObjectGraph,
        roots: &[RootEdges],
        reach: &Reachability,
        size: impl Fn(u32) -> u64 + Send + Sync,
    ) -> Result<Dominators> {
        Self::prepare(g, roots, reach, size)?.finish()
    }

    /// The first, parallel stage of [`Self::compute_reached`]: what the objects with one
    /// predecessor settle, and the counts of the others' predecessors. [`Prepared::finish`]
    /// does the rest, mostly sequential: the caller may give the other cores work beside it.
    pub fn prepare<'a>(
        g: &'a ObjectGraph,
        roots: &'a [RootEdges],
        reach: &'a Reachability,
        size: impl Fn(u32) -> u64 + Send + Sync + 'a,
    ) -> Result<Prepared<'a>> {
        let t = crate::analysis::Timings::start();
        let n = g.len();
        let total = n as u64 + roots.len() as u64 + 1;
        if total >= NONE as u64 {
            return Err(Error::Unsupported(format!("{total} nodes in the object graph: too many")));
        }
        let (marked, many_bits) = reach.bitsets();
        let in_range = roots.iter().flat_map(|r| &r.objects).filter(|&&o| o < n).count() as u64;
        if marked.len() != (n as usize).div_ceil(64) || reach.root_edge_count() != in_range {
            return Err(Error::Other("dominators: reachability of other roots or of another graph".into()));
        }
        let size: Box<dyn Fn(u32) -> u64 + Send + Sync + 'a> = Box::new(size);
        let sums = Sums::new(g, marked, n, total as u32 - n, &*size);
        let mut c = Computation {
            g,
            roots,
            marked,
            many: Many::new(many_bits),
            n,
            sup: total as u32 - 1,
            idom: filled(total as usize, NONE),
            sums,
            size,
            tasks: g.word_tasks(STEP / 64, TASK_EDGES),
        };
        t.lap("dominators: arrays");
        let preds_of = c.single_predecessors(reach.parents());
        t.lap("dominators: weights and single predecessors");
        Ok(Prepared { c, preds_of, reached: (1 + roots.len() as u64 + reach.objects) as u32, t })
    }

    fn node(&self, id: u32) -> Node {
        if id < self.objects {
            Node::Object(id)
        } else if id < self.objects + self.root_ids.len() as u32 {
            Node::Root(self.root_ids[(id - self.objects) as usize])
        } else {
            Node::SuperRoot
        }
    }

    fn id(&self, node: Node) -> Option<u32> {
        match node {
            Node::Object(o) => (o < self.objects).then_some(o),
            // Roots come sorted (`RootEdges::from_pairs`); any other order is searched.
            Node::Root(r) => self
                .root_ids
                .binary_search(&r)
                .ok()
                .or_else(|| self.root_ids.iter().position(|&x| x == r))
                .map(|i| self.objects + i as u32),
            Node::SuperRoot => Some(self.idom.len() as u32 - 1),
        }
    }

    /// The immediate dominator of a node; None if it is unreachable (or the super-root).
    pub fn idom(&self, node: Node) -> Option<Node> {
        let id = self.id(node)?;
        match self.idom[id as usize] {
            NONE => None,
            d if d == id => None,
            d => Some(self.node(d)),
        }
    }

    /// Bytes and objects a node retains (0 if unreachable); the super-root retains every
    /// reachable object.
    /// `size` weighs an object, as for the computation.
    pub fn retained(&self, node: Node, size: impl Fn(u32) -> u64) -> (u64, u32) {
        self.id(node).map_or((0, 0), |i| self.sums.get(i, self.idom[i as usize] != NONE, &size))
    }

    /// The nodes (roots and objects) that retain the most bytes, largest first; nodes that
    /// retain nothing are not listed.
    ///
    /// An object that retains at least half of what its immediate dominator (an object or a
    /// root) retains is left out: it is the same structure seen one level down (a global, its
    /// map header, the map's bucket array; each node of a linked list), and the user wants the
    /// outermost name for it. A node retaining less than half of its dominator is a distinct
    /// part of it and is listed (e.g. the biggest of many tables of a map). The rule is local,
    /// so the list is the top `n` of the nodes it keeps.
    /// `size` weighs an object, as for the computation.
    pub fn top_retainers(&self, n: usize, size: impl Fn(u32) -> u64 + Sync) -> Vec<Retainer> {
        const PART: u32 = 1 << 16;
        let nodes = self.idom.len() as u32 - 1;
        let parts =
            (0..nodes.div_ceil(PART)).into_par_iter().map(|i| (i * PART..((i + 1) * PART).min(nodes), None));
        self.top_in(n, parts, &size)
    }

    /// [`Self::top_retainers`], the objects given by runs of one size each (a heap's spans:
    /// see [`Heap::par_object_runs`]), which spares looking up the size of each object
    /// without edges; every object must be in a run.
    pub fn top_retainers_in_runs(
        &self,
        n: usize,
        runs: impl ParallelIterator<Item = (std::ops::Range<u32>, u64)>,
        size: impl Fn(u32) -> u64 + Sync,
    ) -> Vec<Retainer> {
        let roots = self.objects..self.idom.len() as u32 - 1;
        let parts = runs.map(|(r, s)| (r, Some(s))).chain(rayon::iter::once((roots, None)));
        self.top_in(n, parts, &size)
    }

    /// The top `n` among `parts` of the nodes (the super-root aside): ranges of node ids, with
    /// the size of each object without edges in it if it is the same for all.
    fn top_in(
        &self,
        n: usize,
        parts: impl ParallelIterator<Item = (std::ops::Range<u32>, Option<u64>)>,
        size: &(dyn Fn(u32) -> u64 + Sync),
    ) -> Vec<Retainer> {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let sup = self.idom.len() as u32 - 1;
        // Bounded min-heaps, one per parallel part; among equal sizes, roots (they weigh 0
        // themselves, so may retain exactly what their object does) and then lower ids first.
        type Key = Reverse<(u64, bool, Reverse<u32>)>;
        let offer = |heap: &mut BinaryHeap<Key>, key: Key| {
            if heap.len() < n {
                heap.push(key);
            } else if heap.peek().is_some_and(|min| key < *min) {
                heap.pop();
                heap.push(key);
            }
        };
        let top = parts
            .fold(BinaryHeap::new, |mut heap, (ids, uniform)| {
                for id in ids {
                    let d = self.idom[id as usize];
                    if d == NONE {
                        continue;
                    }
                    let b = match self.sums.slot(id) {
                        Some(s) => self.sums.bytes_at(s),
                        None => uniform.unwrap_or_else(|| size(id)),
                    };
                    if b == 0 {
                        continue;
                    }
                    // Too small for the list so far: no need to look at the dominator (a cache
                    // miss).
                    let full = heap.len() == n;
                    if n == 0 || full && heap.peek().is_some_and(|&Reverse((min, _, _))| b < min) {
                        continue;
                    }
                    if d != sup && b.saturating_mul(2) >= self.sums.get(d, true, size).0 {
                        continue;
                    }
                    offer(&mut heap, Reverse((b, id >= self.objects, Reverse(id))));
                }
                heap
            })
            .reduce(BinaryHeap::new, |mut a, b| {
                b.into_iter().for_each(|key| offer(&mut a, key));
                a
            });
        top.into_sorted_vec()
            .into_iter()
            .map(|Reverse((b, _, Reverse(id)))| Retainer {
                node: self.node(id),
                retained_bytes: b,
                retained_objects: self.sums.get(id, true, size).1,
                dominator: self.node(self.idom[id as usize]),
            })
            .collect()
    }

    /// What each root node retains: (the caller's root index, bytes, objects), in root order (a
    /// root that reaches nothing retains nothing). One pass, not a lookup per root.
    pub fn roots_retained(&self) -> impl Iterator<Item = (u32, u64, u32)> + '_ {
        self.root_ids.iter().enumerate().map(move |(i, &r)| {
            let id = self.objects + i as u32;
            let (b, o) = self.sums.get(id, self.idom[id as usize] != NONE, &|_| 0);
            (r, b, o)
        })
    }

    /// Every node (root or object) that points to others and retains at least `min` bytes,
    /// largest first (unlike [`Self::top_retainers`], nodes inside others are kept).
    pub fn retaining_at_least(&self, min: u64) -> Vec<Retainer> {
        const PART: u32 = 1 << 16;
        let nodes = self.idom.len() as u32 - 1;
        let mut out: Vec<Retainer> = (0..nodes.div_ceil(PART))
            .into_par_iter()
            .flat_map_iter(|i| {
                (i * PART..((i + 1) * PART).min(nodes)).filter_map(|id| {
                    let d = self.idom[id as usize];
                    let s = self.sums.slot(id).filter(|_| d != NONE)?;
                    let b = self.sums.bytes_at(s);
                    (b >= min).then(|| Retainer {
                        node: self.node(id),
                        retained_bytes: b,
                        retained_objects: self.sums.entries[s][1],
                        dominator: self.node(d),
                    })
                })
            })
            .collect();
        out.sort_by_key(|r| (std::cmp::Reverse(r.retained_bytes), r.node_key()));
        out
    }

    /// Bytes held by the result arrays.
    pub fn memory_bytes(&self) -> u64 {
        (self.idom.capacity() * 4 + self.sums.memory_bytes()) as u64
    }
}

/// Dominators half computed: see [`Dominators::prepare`].
pub struct Prepared<'a> {
    c: Computation<'a>,
    /// Predecessors of each object with several, by rank.
    preds_of: Vec<u32>,
    reached: u32,
    t: crate::analysis::Timings,
}

impl Prepared<'_> {
    /// The depth-first search, the predecessor rows, semidominators and dominators, and the
    /// retained sizes.
    pub fn finish(self) -> Result<Dominators> {
        let Prepared { mut c, preds_of, reached, t } = self;
        let num = c.search();
        t.lap("dominators: search");
        let (off, preds) = c.predecessor_rows(&num, preds_of)?;
        t.lap("dominators: predecessor rows");
        let dom = semi_nca(num.parent, off, &preds);
        drop(preds);
        t.lap("dominators: semi-NCA");
        c.sum_retained(&num.vertex, &dom);
        t.lap("dominators: retained sums");
        Ok(Dominators {
            objects: c.n,
            root_ids: c.roots.iter().map(|r| r.root).collect(),
            idom: c.idom,
            sums: c.sums,
            reached,
        })
    }
}

/// The state of one computation of dominators.
struct Computation<'a> {
    g: &'a ObjectGraph,
    roots: &'a [RootEdges],
    /// Reachable objects, 64 a word.
    marked: &'a [u64],
    many: Many<'a>,
    n: u32,
    sup: u32,
    /// Per node: the immediate dominator; meanwhile, for the numbered nodes, their number.
    idom: Vec<u32>,
    sums: Sums,
    /// Weighs an object.
    size: Box<dyn Fn(u32) -> u64 + Send + Sync + 'a>,
    /// The parallel passes' tasks (see [`ObjectGraph::word_tasks`]).
    tasks: Vec<std::ops::Range<usize>>,
}

impl Computation<'_> {
    /// In one parallel pass over the reachable objects: an object with one predecessor, an
    /// object, is dominated by it (its search parent, in `parents`). A target with one
    /// predecessor that points nowhere is pendant: its object adds it to what it retains (its
    /// own entry: no other task writes it). And the predecessors of the objects with several
    /// are counted, by rank. (Prefetching first, and no stores between the atomic operations:
    /// each waits for the stores before it.)
    fn single_predecessors(&mut self, parents: &[u32]) -> Vec<u32> {
        let (g, n, many, marked, size) = (self.g, self.n, &self.many, self.marked, &*self.size);
        let mut preds_of = vec![0u32; many.len as usize];
        let tasks = &self.tasks;
        let deferred: Vec<(u32, u64)> = {
            let sums = &mut self.sums;
            let (stored, big) = (&sums.stored, &sums.big);
            let entries = as_atomic(sums.entries.as_flattened_mut());
            let cnt = as_atomic(&mut preds_of);
            let doms = split_words(&mut self.idom[..n as usize], tasks);
            tasks
                .par_iter()
                .zip(doms)
                .with_max_len(1)
                .map_init(
                    || (Vec::new(), Vec::new()),
                    |(sinks, ranks): &mut (Vec<(u32, u32)>, Vec<u32>), (task, d)| {
                        sinks.clear();
                        ranks.clear();
                        let base = task.start * 64;
                        for (wi, (&w, &nw)) in
                            marked[task.clone()].iter().zip(&many.bits[task.clone()]).enumerate()
                        {
                            // The edges of those that have some (most objects point nowhere:
                            // their rows are not read).
                            let edges = g.has_targets_word(task.start + wi);
                            for b in BitIter(w & edges) {
                                let v = (base + wi * 64 + b as usize) as u32;
                                for &t in g.targets(v) {
                                    if many.has(t) {
                                        ranks.push(many.rank(t) as u32);
                                    } else if !g.has_targets(t) {
                                        // Its one predecessor is v.
                                        sinks.push((v, t));
                                    }
                                }
                            }
                            // The others' dominator: their search parent (under a root, p is
                            // FROM_ROOT: the search does it).
                            for b in BitIter(w & !nw) {
                                let k = wi * 64 + b as usize;
                                let p = parents[base + k];
                                if p < n {
                                    d[k] = p;
                                }
                            }
                        }
                        let mut deferred = Vec::new();
                        for run in sinks.chunk_by(|a, b| a.0 == b.0) {
                            let v = run[0].0;
                            // Sinks retain their own size; v has edges: an entry.
                            let add: u64 = run.iter().map(|&(_, t)| size(t)).sum();
                            let at = stored.rank(v);
                            let (bytes, count) = (&entries[2 * at], &entries[2 * at + 1]);
                            let c = count.load(Relaxed);
                            count.store(c + run.len() as u32, Relaxed);
                            let own = match bytes.load(Relaxed) {
                                BIG => big.get(&(at as u32)).copied().unwrap_or(0),
                                b => b as u64,
                            };
                            match own + add {
                                b if b >= BIG as u64 => deferred.push((at as u32, b)),
                                b => bytes.store(b as u32, Relaxed),
                            }
                        }
                        ranks.iter().for_each(|&r| prefetch(&cnt[r as usize]));
                        ranks.iter().for_each(|&r| {
                            cnt[r as usize].fetch_add(1, Relaxed);
                        });
                        deferred
                    },
                )
                .flatten_iter()
                .collect()
        };
        for (at, b) in deferred {
            self.sums.set_at(at as usize, b);
        }
        for r in self.roots {
            for &o in r.objects.iter().filter(|&&o| o < n && many.has(o)) {
                preds_of[many.rank(o)] += 1;
            }
        }
        preds_of
    }

    /// The depth-first search from the super-root (number 0), a root node at a time, over the
    /// nodes left: it numbers them, but the pendant ones, whose retained sizes it sums (each
    /// frame what it retains through pendant nodes). A numbered node's `idom` holds its number
    /// until [`Self::sum_retained`].
    fn search(&mut self) -> Numbering {
        let (g, n, sup) = (self.g, self.n, self.sup);
        let many = &self.many;
        self.idom[sup as usize] = sup;
        // The super-root, the roots, the objects with several predecessors and some with edges
        // are numbered: room for all of them (untouched room costs no memory), as growing
        // would copy.
        let cap = 1 + self.roots.len() + many.len as usize + self.sums.stored.len as usize;
        let mut num = Numbering { vertex: Vec::with_capacity(cap), parent: Vec::with_capacity(cap) };
        num.push(sup, 0);
        // Per 64 objects: those with several predecessors, those with edges, and those visited
        // (of the first), side by side for one cache miss.
        let mut bits: Vec<[u64; 4]> = vec![[0; 4]; many.bits.len()];
        bits.par_iter_mut().enumerate().for_each(|(i, b)| *b = [many.bits[i], g.has_targets_word(i), 0, 0]);
        let (sums, idom, size) = (&mut self.sums, &mut self.idom, &*self.size);
        // What the search reads of a successor when it comes to it, its bits and its row, is
        // prefetched: for the first successors of a frame as it is pushed, for the others
        // SEARCH_AHEAD successors before (the misses of a node's successors overlap).
        fn ahead(bits: &[[u64; 4]], n: u32, w: u32) {
            if w < n {
                prefetch(&bits[(w / 64) as usize]);
            }
        }
        fn frame<'s>(bits: &[[u64; 4]], n: u32, succ: &'s [u32], node: u32, dfs: u32) -> Frame<'s> {
            succ.iter().take(SEARCH_AHEAD).for_each(|&w| ahead(bits, n, w));
            Frame { succ, k: 0, node, dfs, bytes: 0, count: 0 }
        }
        // Half as far ahead, the row of a successor with edges (its bits arrived meanwhile;
        // most successors point nowhere, and their rows are never read).
        let row_ahead = |bits: &[[u64; 4]], w: u32| {
            if w < n && bits[(w / 64) as usize][1] >> (w % 64) & 1 != 0 {
                g.prefetch_row(w);
            }
        };
        let mut stack: Vec<Frame> = Vec::new();
        for (i, r) in self.roots.iter().enumerate() {
            let node = n + i as u32;
            stack.push(frame(&bits, n, &r.objects, node, NONE));
            while let Some(top) = stack.last_mut() {
                let k = top.k as usize;
                let Some(&v) = top.succ.get(k) else {
                    let Some(f) = stack.pop() else { break };
                    if f.dfs != NONE && f.bytes == 0 && f.count == 0 {
                        // Numbered, with nothing pendant below: its sums wait for its
                        // dominator's (two cache misses spared; the usual case).
                        continue;
                    }
                    let (b, c) = sums.get(f.node, true, size);
                    let (b, c) = (b + f.bytes, c + f.count);
                    sums.add(f.node, f.bytes, f.count);
                    if f.dfs == NONE {
                        // Pendant: retained by its one predecessor (a pendant root: by the
                        // super-root, below).
                        if let Some(p) = stack.last_mut() {
                            p.bytes += b;
                            p.count += c;
                        }
                    }
                    continue;
                };
                top.k += 1;
                if let Some(&w) = top.succ.get(k + SEARCH_AHEAD) {
                    ahead(&bits, n, w);
                }
                if let Some(&w) = top.succ.get(k + SEARCH_AHEAD / 2) {
                    row_ahead(&bits, w);
                }
                if v >= n {
                    continue; // a root's object out of range
                }
                let (u, under_root) = (top.node, top.node >= n);
                let (wi, bit) = ((v / 64) as usize, 1u64 << (v % 64));
                let [many_w, edges_w, visited_w, _] = bits[wi];
                if many_w & bit != 0 {
                    // Its predecessor is not pendant, nor its own.
                    let du = num.number_top(&mut stack, idom);
                    if visited_w & bit == 0 {
                        bits[wi][2] |= bit;
                        let dfs = num.push(v, du);
                        idom[v as usize] = dfs;
                        stack.push(frame(&bits, n, g.targets(v), v, dfs));
                    }
                } else if edges_w & bit != 0 {
                    // Its one predecessor is its dominator (set before for objects).
                    if under_root {
                        idom[v as usize] = u;
                    }
                    sums.prefetch(v);
                    stack.push(frame(&bits, n, g.targets(v), v, NONE));
                } else if under_root {
                    // Pendant, pointing nowhere (the others were done before).
                    idom[v as usize] = u;
                    let (b, c) = (size(v), 1);
                    if let Some(top) = stack.last_mut() {
                        top.bytes += b;
                        top.count += c;
                    }
                }
            }
        }
        // Pendant root nodes are the super-root's.
        let (mut b, mut c) = (0, 0);
        for r in n..sup {
            if idom[r as usize] == NONE {
                idom[r as usize] = sup;
                let (rb, rc) = sums.get(r, true, size);
                (b, c) = (b + rb, c + rc);
            }
        }
        sums.add(sup, b, c);
        num
    }

    /// The predecessors of the numbered nodes in rows by number: row w is
    /// `preds[off[w]..off[w + 1]]`, empty for the nodes with one predecessor. Filled in
    /// parallel, each row downwards from its end, kept by rank in `preds_of` (which held the
    /// counts).
    fn predecessor_rows(&self, num: &Numbering, mut preds_of: Vec<u32>) -> Result<(Vec<u32>, Vec<u32>)> {
        let (g, n, many, marked) = (self.g, self.n, &self.many, self.marked);
        let m = num.vertex.len();
        let mut off = vec![0u32; m + 1];
        off[..m].par_iter_mut().zip(num.vertex.par_iter()).for_each(|(o, &v)| {
            if v < n && many.has(v) {
                *o = preds_of[many.rank(v)];
            }
        });
        let mut sum = 0u64;
        for o in &mut off[..m] {
            let c = *o as u64;
            *o = sum as u32;
            sum += c;
        }
        off[m] = u32::try_from(sum)
            .map_err(|_| Error::Unsupported("more than 4G edges in the object graph".into()))?;
        {
            let ends = as_atomic(&mut preds_of);
            num.vertex.par_iter().zip(off[1..].par_iter()).for_each(|(&v, &end)| {
                if v < n && many.has(v) {
                    ends[many.rank(v)].store(end, Relaxed);
                }
            });
        }
        let mut preds = vec![0u32; sum as usize];
        let (end, rows) = (as_atomic(&mut preds_of), as_atomic(&mut preds));
        // A numbered node's `idom` is its number.
        let dfs = &self.idom;
        let fill = |edges: &[(u32, u32)]| {
            edges.iter().for_each(|&(_, r)| prefetch(&end[r as usize]));
            let at: Vec<u32> =
                edges.iter().map(|&(_, r)| end[r as usize].fetch_sub(1, Relaxed) - 1).collect();
            for (&(u, _), &at) in edges.iter().zip(&at) {
                rows[at as usize].store(dfs[u as usize], Relaxed);
            }
        };
        // Every edge from a reachable object to one with several predecessors, as (source,
        // rank of the target), a batch per task; then those from roots.
        self.tasks.par_iter().with_max_len(1).for_each_init(Vec::new, |edges, task| {
            edges.clear();
            for (wi, &w) in marked[task.clone()].iter().enumerate() {
                let word = task.start + wi;
                let base = (word * 64) as u32;
                // Most objects point nowhere: skipped without reading their rows.
                for b in BitIter(w & g.has_targets_word(word)) {
                    for &v in g.targets(base + b) {
                        if many.has(v) {
                            edges.push((base + b, many.rank(v) as u32));
                        }
                    }
                }
            }
            fill(edges);
        });
        let mut edges = Vec::new();
        for (i, r) in self.roots.iter().enumerate() {
            for &o in r.objects.iter().filter(|&&o| o < n && many.has(o)) {
                edges.push((n + i as u32, many.rank(o) as u32));
            }
        }
        fill(&edges);
        Ok((off, preds))
    }

    /// Retained sizes, children before their dominators; the dominators of the numbered
    /// nodes as nodes (`dom` in numbers). The dominators are stored, and the numbered nodes'
    /// entries found, in parallel first: the sequential sums then read two arrays by number.
    fn sum_retained(&mut self, vertex: &[u32], dom: &[u32]) {
        let sums = &self.sums;
        let slots: Vec<u32> = {
            let idom = as_atomic(&mut self.idom);
            vertex
                .par_iter()
                .zip(dom.par_iter())
                .enumerate()
                .map(|(w, (&v, &d))| {
                    if w > 0 {
                        idom[v as usize].store(vertex[d as usize], Relaxed);
                    }
                    sums.slot(v).map_or(NONE, |s| s as u32)
                })
                .collect()
        };
        // Cache lines a few steps ahead: the dominator's number, then both entries.
        const AHEAD: usize = 16;
        let sums = &mut self.sums;
        for w in (1..vertex.len()).rev() {
            if w > 2 * AHEAD {
                prefetch(&slots[dom[w - 2 * AHEAD] as usize]);
            }
            if w > AHEAD {
                for s in [slots[w - AHEAD], slots[dom[w - AHEAD] as usize]].into_iter().filter(|&s| s != NONE)
                {
                    prefetch(&sums.entries[s as usize]);
                }
            }
            let (vs, ps) = (slots[w], slots[dom[w] as usize]);
            let (b, c) = match vs {
                NONE => ((self.size)(vertex[w]), 1),
                s => (sums.bytes_at(s as usize), sums.entries[s as usize][1]),
            };
            // A dominator retains others: it has an entry.
            if ps != NONE {
                sums.add_at(ps as usize, b, c);
            }
        }
    }
}

/// Immediate dominators of the numbered nodes (as numbers, in place of their search
/// parents), from their search parents and predecessor rows (`off` is consumed).
fn semi_nca(parent: Vec<u32>, mut off: Vec<u32>, preds: &[u32]) -> Vec<u32> {
    // Semidominators, in reverse preorder. A node is linked into the forest once processed,
    // i.e. iff its number is above the current one; `best[x]` is the least semidominator on
    // the compressed path above a linked x. The semidominator of w is kept in `off[w + 1]`,
    // read for the last time as w's row is (rows are done downwards).
    let m = parent.len();
    let semi_of = |off: &[u32], w: usize| off[w + 1];
    let mut best = vec![0u32; m];
    let mut ancestor = parent.clone();
    let mut path: Vec<u32> = Vec::new();
    for w in (1..m as u32).rev() {
        let row = &preds[off[w as usize] as usize..off[w as usize + 1] as usize];
        let mut s = if row.is_empty() { parent[w as usize] } else { w };
        for &p in row {
            let c = if p <= w {
                p
            } else {
                // eval(p), compressing the path of linked nodes above p.
                let mut x = p;
                while ancestor[x as usize] > w {
                    path.push(x);
                    x = ancestor[x as usize];
                }
                while let Some(y) = path.pop() {
                    let an = ancestor[y as usize] as usize;
                    best[y as usize] = best[y as usize].min(best[an]);
                    ancestor[y as usize] = ancestor[an];
                }
                best[p as usize]
            };
            s = s.min(c);
        }
        off[w as usize + 1] = s;
        best[w as usize] = s;
    }
    drop((best, ancestor));
    // Immediate dominators: the nearest ancestor of the search parent, in the tree built so
    // far, numbered at most the semidominator.
    let mut dom = parent;
    for w in 1..m {
        let (mut x, semi) = (dom[w], semi_of(&off, w));
        while x > semi {
            x = dom[x as usize];
        }
        dom[w] = x;
    }
    dom
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::analysis::heap::graph::{Reachability, Step};

    /// A xorshift generator, for random test graphs.
    pub(crate) struct Rng(pub u64);
    impl Rng {
        pub(crate) fn next(&mut self, n: u32) -> u32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as u32
        }
    }

    /// Adjacency of the augmented graph (objects, root nodes, super-root), for the naive check.
    fn augmented(n: u32, edges: &[(u32, u32, u32)], roots: &[RootEdges]) -> Vec<Vec<u32>> {
        let total = n as usize + roots.len() + 1;
        let mut adj = vec![Vec::new(); total];
        for &(a, _, b) in edges {
            adj[a as usize].push(b);
        }
        for (i, r) in roots.iter().enumerate() {
            adj[n as usize + i] = r.objects.clone();
            adj[total - 1].push(n + i as u32);
        }
        adj
    }

    /// Nodes reachable from the super-root when `removed` is taken out.
    fn reach_without(adj: &[Vec<u32>], removed: Option<usize>) -> Vec<bool> {
        let mut seen = vec![false; adj.len()];
        let sup = adj.len() - 1;
        let mut stack = vec![sup];
        seen[sup] = true;
        while let Some(u) = stack.pop() {
            for &v in &adj[u] {
                if Some(v as usize) != removed && !seen[v as usize] {
                    seen[v as usize] = true;
                    stack.push(v as usize);
                }
            }
        }
        seen
    }

    /// Compare with the definition: d dominates v iff removing d makes v unreachable.
    fn check(
        n: u32,
        edges: Vec<(u32, u32, u32)>,
        roots: Vec<RootEdges>,
        size: impl Fn(u32) -> u64 + Copy + Send + Sync,
    ) {
        let adj = augmented(n, &edges, &roots);
        let total = adj.len();
        let g = ObjectGraph::from_edges(n, edges);
        let d = Dominators::compute(&g, &roots, size).unwrap();
        let node = |i: usize| d.node(i as u32);
        let reach = reach_without(&adj, None);
        // strict[v] = strict dominators of v.
        let mut strict = vec![Vec::new(); total];
        for x in 0..total - 1 {
            let r = reach_without(&adj, Some(x));
            for v in (0..total).filter(|&v| v != x && reach[v] && !r[v]) {
                strict[v].push(x);
            }
        }
        for v in 0..total - 1 {
            let got = d.idom(node(v));
            if !reach[v] {
                assert_eq!(got, None, "{v} unreachable");
                assert_eq!(d.retained(node(v), size), (0, 0));
                continue;
            }
            // The idom is the strict dominator every other one dominates; else the super-root.
            let want = strict[v]
                .iter()
                .copied()
                .find(|&c| strict[v].iter().all(|&o| o == c || strict[c].contains(&o)))
                .map_or(Node::SuperRoot, node);
            assert_eq!(got, Some(want), "idom of {v}");
            let dominated: Vec<usize> =
                (0..n as usize).filter(|&o| reach[o] && (o == v || strict[o].contains(&v))).collect();
            let bytes: u64 = dominated.iter().map(|&o| size(o as u32)).sum();
            assert_eq!(d.retained(node(v), size), (bytes, dominated.len() as u32), "retained by {v}");
        }
        let all: Vec<u32> = (0..n).filter(|&o| reach[o as usize]).collect();
        let r = Reachability::compute_with(&g, &roots, size);
        assert_eq!(r.objects, all.len() as u64);
        assert_eq!(d.retained(Node::SuperRoot, size), (r.bytes, all.len() as u32));
        for o in 0..n {
            assert_eq!(r.is_reachable(o), reach[o as usize]);
        }
    }

    /// Immediate dominators (node ids; NONE if unreachable, the super-root its own) and
    /// retained sizes of every node, by the iterative algorithm of Cooper, Harvey and Kennedy
    /// ("A Simple, Fast Dominance Algorithm") over the augmented graph: a reference that
    /// shares no code with [`Dominators::compute`].
    fn reference(
        g: &ObjectGraph,
        roots: &[RootEdges],
        size: impl Fn(u32) -> u64,
    ) -> (Vec<u32>, Vec<(u64, u32)>) {
        let n = g.len();
        let total = n as usize + roots.len() + 1;
        let sup = total as u32 - 1;
        let succ = |u: u32| -> Vec<u32> {
            if u < n {
                g.targets(u).to_vec()
            } else if u < sup {
                roots[(u - n) as usize].objects.iter().copied().filter(|&o| o < n).collect()
            } else {
                (n..sup).collect()
            }
        };
        // Postorder numbers, by an iterative search.
        let mut post = vec![NONE; total];
        let mut order = Vec::new();
        let mut seen = vec![false; total];
        let mut stack = vec![(sup, succ(sup), 0usize)];
        seen[sup as usize] = true;
        while let Some((u, s, k)) = stack.last_mut() {
            if let Some(&v) = s.get(*k) {
                *k += 1;
                if !seen[v as usize] {
                    seen[v as usize] = true;
                    let sv = succ(v);
                    stack.push((v, sv, 0));
                }
            } else {
                post[*u as usize] = order.len() as u32;
                order.push(*u);
                stack.pop();
            }
        }
        let mut preds = vec![Vec::new(); total];
        for &u in &order {
            for v in succ(u) {
                preds[v as usize].push(u);
            }
        }
        let mut doms = vec![NONE; total];
        doms[sup as usize] = sup;
        let mut changed = true;
        while changed {
            changed = false;
            for &b in order.iter().rev().filter(|&&b| b != sup) {
                let mut new = NONE;
                for &p in &preds[b as usize] {
                    if doms[p as usize] == NONE {
                        continue;
                    }
                    if new == NONE {
                        new = p;
                        continue;
                    }
                    let (mut x, mut y) = (p, new);
                    while x != y {
                        while post[x as usize] < post[y as usize] {
                            x = doms[x as usize];
                        }
                        while post[y as usize] < post[x as usize] {
                            y = doms[y as usize];
                        }
                    }
                    new = x;
                }
                if doms[b as usize] != new {
                    doms[b as usize] = new;
                    changed = true;
                }
            }
        }
        // Retained: children (earlier in postorder... not always) summed up the tree, deepest
        // first by dominator-tree depth.
        let mut depth = vec![0u32; total];
        for &b in order.iter().rev().filter(|&&b| b != sup) {
            depth[b as usize] = depth[doms[b as usize] as usize] + 1;
        }
        let mut by_depth: Vec<u32> = order.clone();
        by_depth.sort_by_key(|&b| std::cmp::Reverse(depth[b as usize]));
        let mut ret: Vec<(u64, u32)> = (0..total as u32)
            .map(|v| if v < n && seen[v as usize] { (size(v), 1) } else { (0, 0) })
            .collect();
        for &b in by_depth.iter().filter(|&&b| b != sup) {
            let (d, r) = (doms[b as usize] as usize, ret[b as usize]);
            ret[d].0 += r.0;
            ret[d].1 += r.1;
        }
        (doms, ret)
    }

    /// On every fixture dump (precise roots, as the `top` command uses, and conservative
    /// ones), the dominators and retained sizes equal the reference's.
    #[test]
    fn fixtures_match_the_reference() {
        use crate::analysis::heap::graph::conservative_roots;
        use crate::runtime::Process;
        let mut checked = 0;
        for (d, meta) in crate::testutil::fixture_cases() {
            let file = |k: &str| d.join(meta[k].as_str().unwrap_or(k));
            let Ok(p) = Process::open(&file("dump"), Some(&file("exe"))) else { continue };
            let Ok(heap) = p.heap() else { continue };
            if heap.len() > 400_000 {
                continue;
            }
            let g = ObjectGraph::build(&p, &heap);
            let mut root_sets = vec![conservative_roots(&p, &heap).1];
            if let Ok(r) = p.roots(&heap) {
                root_sets.push(RootEdges::from_pairs(r.edges.iter().map(|e| (e.root, e.object))));
            }
            for roots in root_sets {
                let size = |o: u32| heap.size(o);
                let dom = Dominators::from_heap(&g, &heap, &roots).unwrap();
                let (want, ret) = reference(&g, &roots, size);
                for (id, &w) in want.iter().enumerate() {
                    let node = dom.node(id as u32);
                    let got = dom.idom[id];
                    assert_eq!(got, w, "{}: idom of {node:?}", d.display());
                    assert_eq!(dom.retained(node, size), ret[id], "{}: retained by {node:?}", d.display());
                }
                checked += 1;
            }
        }
        eprintln!("{checked} root sets checked");
    }

    #[test]
    fn random_graphs_match_the_definition() {
        let mut rng = Rng(0x9e3779b97f4a7c15);
        for round in 0..400 {
            let n = 1 + rng.next(24);
            let m = rng.next(3 * n + 1);
            let edges: Vec<(u32, u32, u32)> = (0..m).map(|i| (rng.next(n), i * 8, rng.next(n))).collect();
            let nroots = 1 + rng.next(4);
            let roots: Vec<RootEdges> = (0..nroots)
                .map(|r| RootEdges {
                    root: r * 3 + (round % 2),
                    objects: (0..rng.next(4)).map(|_| rng.next(n + 2)).collect(), // some out of range
                })
                .collect();
            check(n, edges, roots, |o| 16 + o as u64);
        }
    }

    #[test]
    fn diamond_cycle_self_loop() {
        // 0 -> 1, 0 -> 2, 1 -> 3, 2 -> 3 (diamond), 3 -> 4 -> 5 -> 3 (cycle), 5 -> 5 (self loop).
        let e = |a, b| (a, 0, b);
        let edges = vec![e(0, 1), e(0, 2), e(1, 3), e(2, 3), e(3, 4), e(4, 5), e(5, 3), e(5, 5)];
        let roots = vec![RootEdges { root: 7, objects: vec![0] }, RootEdges { root: 9, objects: vec![4] }];
        check(6, edges.clone(), roots.clone(), |_| 10);
        let g = ObjectGraph::from_edges(6, edges);
        let d = Dominators::compute(&g, &roots, |_| 10).unwrap();
        // Root 9 points into the cycle, so 3 is no longer dominated by 0.
        assert_eq!(d.idom(Node::Object(3)), Some(Node::SuperRoot));
        assert_eq!(d.idom(Node::Object(0)), Some(Node::Root(7)));
        assert_eq!(d.retained(Node::Root(7), |_| 10), (30, 3));
        assert_eq!(d.retained(Node::Root(9), |_| 10), (0, 0));
    }

    #[test]
    fn long_chain_no_recursion() {
        let n = 1_000_000u32;
        // A chain with back edges to its head every so often, and a path query at its end.
        let mut edges: Vec<(u32, u32, u32)> = (0..n - 1).map(|i| (i, 8, i + 1)).collect();
        edges.extend((0..n).step_by(1000).map(|i| (i, 16, 0)));
        let roots = vec![RootEdges { root: 0, objects: vec![0] }];
        let g = ObjectGraph::from_edges(n, edges);
        let t = std::time::Instant::now();
        let d = Dominators::compute(&g, &roots, |_| 32).unwrap();
        let r = Reachability::compute_with(&g, &roots, |_| 32);
        eprintln!("1M chain: {:?}", t.elapsed());
        assert_eq!(d.retained(Node::Object(0), |_| 32), (32 * n as u64, n));
        assert_eq!(d.retained(Node::Object(n / 2), |_| 32), (32 * (n / 2) as u64, n / 2));
        assert_eq!(d.idom(Node::Object(n - 1)), Some(Node::Object(n - 2)));
        assert_eq!((r.objects, r.depth), (n as u64, n - 1));
        let path = r.path_to(&g, n - 1).unwrap();
        assert_eq!(path.len(), n as usize + 1);
        assert_eq!(path[0], Step::Root(0));
        assert_eq!(path[2], Step::Object { obj: 1, field: Some(8) });
        // A top list names the chain once.
        let top = d.top_retainers(5, |_| 32);
        assert_eq!(top.len(), 1, "{top:?}");
        assert_eq!(top[0].node, Node::Root(0));
    }

    #[test]
    fn top_retainers_keep_distinct_parts() {
        // Root 0 -> 0; 0 holds 1 (a 1000-byte object) and 2 -> 3 (two small ones).
        let edges = vec![(0, 0, 1), (0, 8, 2), (2, 0, 3)];
        let roots = vec![RootEdges { root: 0, objects: vec![0] }, RootEdges { root: 1, objects: vec![3] }];
        let size = |o: u32| if o == 1 { 1000 } else { 10 };
        let g = ObjectGraph::from_edges(4, edges);
        let d = Dominators::compute(&g, &roots, size).unwrap();
        let top: Vec<Node> = d.top_retainers(10, size).iter().map(|r| r.node).collect();
        // Object 0 is root 0 seen one level down; object 1 is most of object 0; 2 is a small
        // part; 3 is shared by both roots (dominated by the super-root); root 1 alone retains
        // nothing, so it is not listed.
        assert_eq!(top, vec![Node::Root(0), Node::Object(2), Node::Object(3)]);
    }

    #[test]
    fn top_retainers_in_runs_is_top_retainers() {
        let mut rng = Rng(0x2545f4914f6cdd1d);
        let n = 20_000u32;
        // Runs of objects of one size, as a heap's spans.
        let mut runs = Vec::new();
        let mut at = 0;
        while at < n {
            let len = (1 + rng.next(300)).min(n - at);
            runs.push((at..at + len, 8 + 8 * rng.next(64) as u64));
            at += len;
        }
        let size_of: Vec<u64> = runs.iter().flat_map(|(r, s)| r.clone().map(move |_| *s)).collect();
        let size = |o: u32| size_of[o as usize];
        // Sparse edges: many objects without any, some with several predecessors.
        let mut edges = Vec::new();
        for a in 0..n {
            if rng.next(3) == 0 {
                edges.push((a, 0, rng.next(n)));
            }
        }
        let roots: Vec<RootEdges> =
            (0..50).map(|i| RootEdges { root: i, objects: (0..40).map(|_| rng.next(n)).collect() }).collect();
        let g = ObjectGraph::from_edges(n, edges);
        let d = Dominators::compute(&g, &roots, size).unwrap();
        for k in [0, 1, 7, 100, 5000] {
            let a = d.top_retainers(k, size);
            let b = d.top_retainers_in_runs(k, runs.clone().into_par_iter(), size);
            let key = |r: &Retainer| (r.node, r.retained_bytes, r.retained_objects, r.dominator);
            assert_eq!(
                a.iter().map(key).collect::<Vec<_>>(),
                b.iter().map(key).collect::<Vec<_>>(),
                "top {k}"
            );
        }
    }
}
