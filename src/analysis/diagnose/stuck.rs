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

impl Stuck {
    /// Run the fixpoint; sets the `stuck` flag of `b`'s channels and locks.
    pub fn compute(a: &HeapAnalysis, b: &mut Blocking) -> Stuck {
        let t = crate::analysis::Timings::start();
        let heap = &a.heap;
        let candidates: rustc_hash::FxHashSet<u64> = b.waits.iter().map(|w| w.goroutine).collect();
        let stop = b.waits.iter().flat_map(|w| &w.sudogs).filter_map(|&s| heap.find_object(s));
        let mut marks = Marks::new(&a.graph, stop);
        let live_root = |r: u32| a.roots.roots[r as usize].goroutine.is_none_or(|g| !candidates.contains(&g));
        let seeds = a.root_edges.iter().filter(|e| live_root(e.root)).flat_map(|e| e.objects.iter().copied());
        marks.extend(&a.graph, seeds);
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
        let mut rounds = 1;
        loop {
            let (woken, rest): (Vec<_>, Vec<_>) = pending
                .into_iter()
                .partition(|(_, objs)| objs.as_ref().is_none_or(|o| o.iter().any(|&x| marks.contains(x))));
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
