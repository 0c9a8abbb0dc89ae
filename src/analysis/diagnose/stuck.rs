//! Which blocked goroutines can never wake up, proven from the dump: the fixpoint that Go
//! 1.26's goroutine-leak detector computes in the collector (mgc.go `findGoroutineLeaks`),
//! done offline over the object graph.
//!
//! The detector marks from every root but the stacks of the candidates (goroutines blocked on a
//! channel, a `select`, a sync primitive; see [`super::blocking`]): globals, specials, and the
//! stacks of goroutines that run, are runnable, in system calls, in IO wait, asleep. The
//! `sudog`s the candidates wait through are reached but not followed (the runtime's own
//! structures, such as `runtime.allgs` → `g.waiting` and the semaphore table, point from them
//! to what they wait on; the detector hides those pointers too). Then repeatedly: a candidate
//! whose channel (any case of its `select`) or primitive is marked, or not on the heap (a
//! global), can be woken: its stack is marked from. At the fixpoint the candidates left are
//! stuck. A nil channel or `select {}` is stuck by definition. A channel a live timer sends on
//! is marked through the timer (the P's timer heap, or the `time.Ticker` a live root holds).
//!
//! The same result without marking the whole heap again: the objects whose liveness is in
//! question (`S`) are those the candidates' stacks and what they wait on reach without
//! passing an object a live root points to (that one, and all below it, is live). An object
//! outside `S` that the full search reached is reached from a live root: it is live. So an
//! object of `S` is live when a live object outside `S` (a `sudog` aside) points to it, or a
//! live one of `S` does; only `S` and the edges into it are looked at (one pass over the
//! edges, in parallel), whatever the size of the rest of the heap.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::blocking::{Blocking, WaitOn};
use crate::analysis::HeapAnalysis;

/// A set of objects, a bit each.
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: u32) -> Bits {
        Bits(vec![0; (n as usize).div_ceil(64)])
    }
    #[inline]
    fn has(&self, o: u32) -> bool {
        self.0.get((o / 64) as usize).is_some_and(|w| w >> (o % 64) & 1 == 1)
    }
    /// Set the bit; true if it was not set.
    #[inline]
    fn insert(&mut self, o: u32) -> bool {
        let (w, b) = ((o / 64) as usize, 1u64 << (o % 64));
        let was = self.0[w] & b != 0;
        self.0[w] |= b;
        !was
    }
}

/// The result of the stuck analysis.
pub struct Stuck {
    /// Ids of the stuck goroutines, ascending.
    pub goroutines: Vec<u64>,
    /// Rounds of the fixpoint (1 if no candidate woke).
    pub rounds: u32,
    /// The objects whose liveness was in question (`S`), and those of them found live.
    questioned: Vec<u32>,
    in_s: Bits,
    live: Bits,
    /// The candidates' `sudog`s: reached, never followed.
    stop: HashSet<u32>,
}

/// Sync primitives the tiny allocator packed into one 16-byte block with other small values:
/// the collector marks such a block as a whole, so a pointer to a neighbour keeps a lock
/// "reachable" that nothing can reach. Blocks of the tiny class hold no pointers, so their
/// values are independent: one is reached when a pointer into its own bytes is.
struct TinyRefs {
    /// (wait, object) → the primitive's bytes in the block.
    ranges: HashMap<(usize, u32), (u64, u64)>,
    /// Per block: the pointers into it (value), from heap objects (source) or roots.
    from_objects: HashMap<u32, Vec<(u32, u64)>>,
    from_roots: HashMap<u32, Vec<(u32, u64)>>,
}

impl TinyRefs {
    /// `stop`: the candidates' `sudog`s, which point to what they wait on and are no reference.
    fn new(
        a: &HeapAnalysis,
        b: &Blocking,
        pending: &[(usize, Option<Vec<u32>>)],
        stop: &HashSet<u32>,
    ) -> TinyRefs {
        let heap = &a.heap;
        let tiny_class = a.p.layouts.heap.as_ref().map(|h| h.tiny_size_class as usize);
        let mut out = TinyRefs {
            ranges: Default::default(),
            from_objects: Default::default(),
            from_roots: Default::default(),
        };
        for (i, objs) in pending {
            let (WaitOn::Sync { sema, lock, .. }, Some(objs)) = (&b.waits[*i].on, objs) else { continue };
            for &o in objs {
                let span = heap.span(o);
                if Some(span.size_class()) == tiny_class && span.noscan() {
                    out.ranges.insert((*i, o), (*lock.min(sema), sema + 4));
                }
            }
        }
        if out.ranges.is_empty() {
            return out;
        }
        let mut blocks: Vec<u32> = out.ranges.keys().map(|k| k.1).collect();
        blocks.sort_unstable();
        blocks.dedup();
        for (o, src) in a.graph.edges_into(&blocks).into_iter().filter(|(_, src)| !stop.contains(src)) {
            let (start, end) = (heap.addr(o), heap.addr(o) + heap.size(o));
            heap.for_each_pointer(a.p, src, |_, v| {
                if v >= start && v < end {
                    out.from_objects.entry(o).or_default().push((src, v));
                }
            });
        }
        for e in &a.roots.edges {
            if blocks.binary_search(&e.object).is_ok() {
                let r = &a.roots.roots[e.root as usize];
                if let Some(v) = a.p.mem.read_u64(r.addr.saturating_add(e.offset)) {
                    out.from_roots.entry(e.object).or_default().push((e.root, v));
                }
            }
        }
        out
    }

    /// Whether a live pointer points into `range` of block `o`.
    fn reached(
        &self,
        live_obj: &dyn Fn(u32) -> bool,
        live_root: &dyn Fn(u32) -> bool,
        o: u32,
        range: (u64, u64),
    ) -> bool {
        let inside = |v: u64| v >= range.0 && v < range.1;
        self.from_objects.get(&o).into_iter().flatten().any(|&(src, v)| inside(v) && live_obj(src))
            || self.from_roots.get(&o).into_iter().flatten().any(|&(r, v)| inside(v) && live_root(r))
    }
}

/// The heap objects the roots of `ids` point to.
fn root_objects<'a>(
    a: &'a HeapAnalysis,
    b: &'a Blocking,
    ids: impl Iterator<Item = &'a u64> + 'a,
) -> impl Iterator<Item = u32> + 'a {
    ids.flat_map(|g| b.roots_of.get(g).into_iter().flatten().copied())
        .filter_map(|r| a.root_edges.binary_search_by_key(&r, |e| e.root).ok())
        .flat_map(|i| a.root_edges[i].objects.iter().copied())
}

impl Stuck {
    /// Run the fixpoint; sets the `stuck` flag of `b`'s channels and locks.
    pub fn compute(a: &HeapAnalysis, b: &mut Blocking) -> Stuck {
        let t = crate::analysis::Timings::start();
        let (heap, g) = (&a.heap, &a.graph);
        let n = g.len();
        let candidates: HashSet<u64> = b.waits.iter().map(|w| w.goroutine).collect();
        let stop: HashSet<u32> =
            b.waits.iter().flat_map(|w| &w.sudogs).filter_map(|&s| heap.find_object(s)).collect();
        let candidate_root =
            |r: u32| a.roots.roots[r as usize].goroutine.is_some_and(|g| candidates.contains(&g));
        // Candidates to decide: (wait, the heap objects it waits on; None: something off the
        // heap, which the collector takes as marked).
        let mut pending: Vec<(usize, Option<Vec<u32>>)> = b
            .waits
            .iter()
            .enumerate()
            .filter_map(|(i, w)| {
                let addrs: Vec<u64> = match &w.on {
                    WaitOn::Never => return None,
                    WaitOn::Chans(cases) => cases.iter().map(|c| c.chan).collect(),
                    WaitOn::Sync { sema, .. } => vec![*sema],
                };
                Some((i, addrs.iter().map(|&x| heap.find_object(x)).collect()))
            })
            .collect();
        // What a live root points to is live, and all below it.
        let mut live_rooted = Bits::new(n);
        for e in a.root_edges.iter().filter(|e| !candidate_root(e.root)) {
            e.objects.iter().filter(|&&o| o < n).for_each(|&o| {
                live_rooted.insert(o);
            });
        }
        // S: from the candidates' roots and what they wait on, not into live-rooted objects,
        // not out of sudogs.
        let mut in_s = Bits::new(n);
        let mut questioned = Vec::new();
        let seeds = root_objects(a, b, candidates.iter())
            .chain(pending.iter().flat_map(|(_, objs)| objs.iter().flatten().copied()));
        let mut stack: Vec<u32> = Vec::new();
        for o in seeds.filter(|&o| o < n) {
            if !live_rooted.has(o) && in_s.insert(o) {
                questioned.push(o);
                stack.push(o);
            }
        }
        while let Some(u) = stack.pop() {
            if stop.contains(&u) {
                continue;
            }
            for &v in g.targets(u) {
                if !live_rooted.has(v) && in_s.insert(v) {
                    questioned.push(v);
                    stack.push(v);
                }
            }
        }
        questioned.sort_unstable();
        t.lap("diagnose: stuck: questioned objects");
        // Live to begin with: what a live object outside S points to (reached by the full
        // search, so from a live root).
        let mut live = Bits::new(n);
        let mut frontier: Vec<u32> = Vec::new();
        if !questioned.is_empty() {
            for (x, p) in g.edges_into(&questioned) {
                if !in_s.has(p) && !stop.contains(&p) && a.reach.is_reachable(p) && live.insert(x) {
                    frontier.push(x);
                }
            }
        }
        let spread = |live: &mut Bits, frontier: &mut Vec<u32>| {
            while let Some(u) = frontier.pop() {
                if stop.contains(&u) {
                    continue;
                }
                for &v in g.targets(u) {
                    if in_s.has(v) && live.insert(v) {
                        frontier.push(v);
                    }
                }
            }
        };
        spread(&mut live, &mut frontier);
        t.lap("diagnose: stuck: live objects");
        let tiny = TinyRefs::new(a, b, &pending, &stop);
        // Candidates found able to wake: their roots are live from then on.
        let mut woke: HashSet<u64> = HashSet::default();
        let mut rounds = 1;
        loop {
            let live_obj = |o: u32| {
                if in_s.has(o) {
                    live.has(o)
                } else {
                    !stop.contains(&o) && a.reach.is_reachable(o)
                }
            };
            let root_live = |r: u32| {
                a.roots.roots[r as usize]
                    .goroutine
                    .is_none_or(|g| !candidates.contains(&g) || woke.contains(&g))
            };
            let reached = |i: usize, o: u32| match tiny.ranges.get(&(i, o)) {
                Some(&range) => tiny.reached(&live_obj, &root_live, o, range),
                None => live_obj(o),
            };
            let (woken, rest): (Vec<_>, Vec<_>) = pending
                .into_iter()
                .partition(|(i, objs)| objs.as_ref().is_none_or(|o| o.iter().any(|&x| reached(*i, x))));
            pending = rest;
            if woken.is_empty() {
                break;
            }
            rounds += 1;
            let ids: Vec<u64> = woken.iter().map(|(i, _)| b.waits[*i].goroutine).collect();
            for o in root_objects(a, b, ids.iter()) {
                if in_s.has(o) && live.insert(o) {
                    frontier.push(o);
                }
            }
            spread(&mut live, &mut frontier);
            woke.extend(ids);
        }
        let mut goroutines: Vec<u64> = pending.iter().map(|(i, _)| b.waits[*i].goroutine).collect();
        goroutines.extend(b.waits.iter().filter(|w| matches!(w.on, WaitOn::Never)).map(|w| w.goroutine));
        goroutines.sort_unstable();
        let is_stuck = |g: &u64| goroutines.binary_search(g).is_ok();
        for c in &mut b.chans {
            let waiting = c.senders.iter().chain(&c.receivers);
            c.stuck =
                c.senders.len() + c.receivers.len() > 0 && waiting.clone().all(|w| is_stuck(&w.goroutine));
        }
        for l in &mut b.locks {
            l.stuck = l.waiters.iter().all(is_stuck);
        }
        t.lap("diagnose: stuck");
        Stuck { goroutines, rounds, questioned, in_s, live, stop }
    }

    pub fn is_stuck(&self, goroutine: u64) -> bool {
        self.goroutines.binary_search(&goroutine).is_ok()
    }

    /// Whether a reachable heap object is reachable from something that is not stuck.
    pub fn is_live(&self, a: &HeapAnalysis, obj: u32) -> bool {
        if self.in_s.has(obj) {
            self.live.has(obj)
        } else {
            a.reach.is_reachable(obj)
        }
    }

    /// How many objects were in question (reached from the candidates, not from a live root
    /// directly).
    pub fn questioned(&self) -> usize {
        self.questioned.len()
    }

    /// What only the stuck goroutines keep alive, attributed to `groups` of them in order (an
    /// object two groups reach counts in the first): (objects, bytes) per group.
    pub fn retained_by(self, a: &HeapAnalysis, b: &Blocking, groups: &[Vec<u64>]) -> Vec<(u64, u64)> {
        let Stuck { in_s, live, stop, .. } = self;
        let mut claimed = Bits::new(a.graph.len());
        groups
            .iter()
            .map(|ids| {
                let (mut objects, mut bytes) = (0u64, 0u64);
                let mut stack: Vec<u32> = Vec::new();
                let mut visit = |o: u32, stack: &mut Vec<u32>| {
                    if in_s.has(o) && !live.has(o) && claimed.insert(o) {
                        objects += 1;
                        bytes += a.heap.size(o);
                        stack.push(o);
                    }
                };
                for o in root_objects(a, b, ids.iter()) {
                    visit(o, &mut stack);
                }
                while let Some(u) = stack.pop() {
                    if stop.contains(&u) {
                        continue;
                    }
                    for &v in a.graph.targets(u) {
                        visit(v, &mut stack);
                    }
                }
                (objects, bytes)
            })
            .collect()
    }
}
