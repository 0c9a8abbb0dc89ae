//! Which blocked goroutines can never wake up, proven from the dump: the fixpoint that Go
//! 1.26's goroutine-leak detector computes in the collector (mgc.go `findGoroutineLeaks`),
//! done offline over the object graph.
//!
//! Mark from every root but the stacks of the candidates (goroutines blocked on a channel, a
//! `select`, a sync primitive; see [`super::blocking`]): globals, specials, and the stacks of
//! goroutines that run, are runnable, in system calls, in IO wait, asleep. The `sudog`s the
//! candidates wait through are reached but not followed (the runtime's own structures, such as
//! `runtime.allgs` → `g.waiting` and the semaphore table, point from them to what they wait
//! on; the detector hides those pointers too). Then repeatedly: a candidate whose channel (any
//! case of its `select`) or primitive is marked, or not on the heap (a global), can be woken:
//! its stack is marked from. At the fixpoint the candidates left are stuck. A nil channel or
//! `select {}` is stuck by definition. A channel a live timer sends on is marked through the
//! timer (the P's timer heap, or the `time.Ticker` a live root holds).

use super::blocking::{Blocking, WaitOn};
use crate::analysis::heap::graph::Marks;
use crate::analysis::HeapAnalysis;

/// The result of the stuck analysis.
pub struct Stuck {
    /// Ids of the stuck goroutines, ascending.
    pub goroutines: Vec<u64>,
    /// Rounds of the fixpoint (1 if no candidate woke).
    pub rounds: u32,
    /// What is reachable from the goroutines that are not stuck (and the other roots); the
    /// rest of the reachable heap is kept only by stuck goroutines.
    marks: Marks,
}

/// Sync primitives the tiny allocator packed into one 16-byte block with other small values:
/// the collector marks such a block as a whole, so a pointer to a neighbour keeps a lock
/// "reachable" that nothing can reach. Blocks of the tiny class hold no pointers, so their
/// values are independent: one is reached when a pointer into its own bytes is.
struct TinyRefs {
    /// (wait, object) → the primitive's bytes in the block.
    ranges: rustc_hash::FxHashMap<(usize, u32), (u64, u64)>,
    /// Per block: the pointers into it (value), from heap objects (source) or roots.
    from_objects: rustc_hash::FxHashMap<u32, Vec<(u32, u64)>>,
    from_roots: rustc_hash::FxHashMap<u32, Vec<(u32, u64)>>,
}

impl TinyRefs {
    /// `stop`: the candidates' `sudog`s, which point to what they wait on and are no reference.
    fn new(
        a: &HeapAnalysis,
        b: &Blocking,
        pending: &[(usize, Option<Vec<u32>>)],
        stop: &rustc_hash::FxHashSet<u32>,
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
                if let Some(v) = a.p.mem.read_u64(r.addr + e.offset) {
                    out.from_roots.entry(e.object).or_default().push((e.root, v));
                }
            }
        }
        out
    }

    /// Whether a live pointer points into `range` of block `o`.
    fn reached(&self, marks: &Marks, live_root: &dyn Fn(u32) -> bool, o: u32, range: (u64, u64)) -> bool {
        let inside = |v: u64| v >= range.0 && v < range.1;
        self.from_objects.get(&o).into_iter().flatten().any(|&(src, v)| inside(v) && marks.contains(src))
            || self.from_roots.get(&o).into_iter().flatten().any(|&(r, v)| inside(v) && live_root(r))
    }
}

impl Stuck {
    /// Run the fixpoint; sets the `stuck` flag of `b`'s channels and locks.
    pub fn compute(a: &HeapAnalysis, b: &mut Blocking) -> Stuck {
        let t = crate::analysis::Timings::start();
        let heap = &a.heap;
        let candidates: rustc_hash::FxHashSet<u64> = b.waits.iter().map(|w| w.goroutine).collect();
        let stop_set: rustc_hash::FxHashSet<u32> =
            b.waits.iter().flat_map(|w| &w.sudogs).filter_map(|&s| heap.find_object(s)).collect();
        let mut marks = Marks::new(&a.graph, stop_set.iter().copied());
        let live_root = |r: u32| a.roots.roots[r as usize].goroutine.is_none_or(|g| !candidates.contains(&g));
        let seeds = a.root_edges.iter().filter(|e| live_root(e.root)).flat_map(|e| e.objects.iter().copied());
        marks.extend(&a.graph, seeds);
        // Candidates found able to wake: their roots are live from then on.
        let mut woke: rustc_hash::FxHashSet<u64> = Default::default();
        // Candidates still to decide: (wait, the heap objects it waits on; None: something
        // off the heap, which the collector takes as marked).
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
                let objs: Option<Vec<u32>> = addrs.iter().map(|&x| heap.find_object(x)).collect();
                Some((i, objs))
            })
            .collect();
        let tiny = TinyRefs::new(a, b, &pending, &stop_set);
        let mut rounds = 1;
        loop {
            let root_live = |r: u32| {
                a.roots.roots[r as usize]
                    .goroutine
                    .is_none_or(|g| !candidates.contains(&g) || woke.contains(&g))
            };
            let reached = |i: usize, o: u32| match tiny.ranges.get(&(i, o)) {
                Some(&range) => tiny.reached(&marks, &root_live, o, range),
                None => marks.contains(o),
            };
            let (woken, rest): (Vec<_>, Vec<_>) = pending
                .into_iter()
                .partition(|(i, objs)| objs.as_ref().is_none_or(|o| o.iter().any(|&x| reached(*i, x))));
            pending = rest;
            if woken.is_empty() {
                break;
            }
            rounds += 1;
            let roots: Vec<u32> = woken
                .iter()
                .flat_map(|(i, _)| b.roots_of.get(&b.waits[*i].goroutine).into_iter().flatten().copied())
                .collect();
            let seeds = roots.iter().filter_map(|&r| a.root_edges.binary_search_by_key(&r, |e| e.root).ok());
            let objs: Vec<u32> = seeds.flat_map(|i| a.root_edges[i].objects.iter().copied()).collect();
            marks.extend(&a.graph, objs);
            woke.extend(woken.iter().map(|(i, _)| b.waits[*i].goroutine));
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
        Stuck { goroutines, rounds, marks }
    }

    pub fn is_stuck(&self, goroutine: u64) -> bool {
        self.goroutines.binary_search(&goroutine).is_ok()
    }

    /// Whether a heap object is reachable from something that is not stuck.
    pub fn is_live(&self, obj: u32) -> bool {
        self.marks.contains(obj)
    }

    /// What only the stuck goroutines keep alive, attributed to `groups` of them in order (an
    /// object two groups reach counts in the first): (objects, bytes) per group. Consumes the
    /// analysis' marks.
    pub fn retained_by(self, a: &HeapAnalysis, b: &Blocking, groups: &[Vec<u64>]) -> Vec<(u64, u64)> {
        let mut marks = self.marks;
        groups
            .iter()
            .map(|ids| {
                let roots = ids.iter().flat_map(|g| b.roots_of.get(g).into_iter().flatten().copied());
                let edges = roots.filter_map(|r| a.root_edges.binary_search_by_key(&r, |e| e.root).ok());
                let objs: Vec<u32> = edges.flat_map(|i| a.root_edges[i].objects.iter().copied()).collect();
                marks.extend_sized(&a.graph, objs, |o| a.heap.size(o))
            })
            .collect()
    }
}
