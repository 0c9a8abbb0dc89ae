//! The heap analysis: every object of the heap, its type, the object graph from the roots,
//! what is reachable, the dominator tree, and paths from the roots, computed once and shared
//! by the heap commands and the diagnoses.

pub mod dominators;
pub mod graph;
pub mod paths;
pub mod retention;
pub mod typing;

use crate::runtime::heap::Heap;
use crate::runtime::roots::Roots;
use crate::runtime::types::TypeTable;
use crate::runtime::Process;
use crate::Result;

use super::{release_freed_memory, Timings};

use dominators::Dominators;
use graph::{ObjectGraph, Reachability, RootEdges, Step};
use paths::{NamedPath, NamedStep};
use typing::ObjectTypes;

/// The heap, its roots, the object graph, what is reachable and the type of every object:
/// what the heap commands share, computed once.
pub struct HeapAnalysis<'p> {
    pub p: &'p Process,
    pub heap: Heap,
    pub types: TypeTable<'p>,
    pub roots: Roots,
    pub root_edges: Vec<RootEdges>,
    pub graph: ObjectGraph,
    pub reach: Reachability,
    pub typing: ObjectTypes,
    pub warnings: Vec<String>,
    dom: std::sync::OnceLock<std::result::Result<Dominators, String>>,
    hist: std::sync::OnceLock<typing::Histogram>,
}

impl<'p> HeapAnalysis<'p> {
    /// Everything but the dominator tree (computed on first use by [`Self::dominators`]).
    pub fn run(p: &'p Process) -> Result<HeapAnalysis<'p>> {
        Self::run_with(p, false)
    }

    /// Like [`Self::run`]; with `dominators`, the dominator tree is computed too: its parallel
    /// first stage on every core, then its mostly sequential rest alongside the typing (both
    /// follow the object graph, independent of each other).
    pub fn run_with(p: &'p Process, dominators: bool) -> Result<HeapAnalysis<'p>> {
        let t = Timings::start();
        let heap = p.heap()?;
        t.lap("heap");
        let types = p.types()?;
        t.lap("types");
        // The roots and the object graph both need the heap alone: the unwinding of the stacks
        // keeps one core busy at times, the graph's scan fills the other.
        // The graph's scan reads the spans holding pointers: asked for up front, a dump not in
        // the page cache arrives in large reads while the stacks are unwound (and the pages
        // the scan skips are not read around the ones it needs).
        let (roots, mut graph) = std::thread::scope(|s| {
            s.spawn(|| heap.scanned_ranges().into_iter().for_each(|(a, len)| p.mem.will_need(a, len)));
            let roots = || {
                let r = p.roots(&heap);
                t.lap("roots");
                r
            };
            let graph = || {
                let g = ObjectGraph::build(p, &heap);
                t.lap("graph");
                g
            };
            rayon::join(roots, graph)
        });
        let roots = roots?;
        t.lap("roots and graph");
        let root_edges = RootEdges::from_pairs(roots.edges.iter().map(|e| (e.root, e.object)));
        release_freed_memory();
        // The fields of the edges serve the typing; freed as it ends, before the dominators'
        // peak (paths find theirs again, see `name_path`).
        let fields = graph.take_fields();
        // Reachability first, on every core. The dominators follow it, and their search is
        // sequential: beside the typing, it keeps one core while the typing takes the other.
        let reach = Reachability::compute(&graph, &heap, &root_edges);
        t.lap("reachability");
        let (dom, hist) = (std::sync::OnceLock::new(), std::sync::OnceLock::new());
        let typing = || {
            let typing = ObjectTypes::infer(p, &heap, &types, &roots, Some((&graph, &fields)));
            t.lap("typing");
            // Before the dominators' peak (the predecessor rows), not after.
            drop(fields);
            release_freed_memory();
            if dominators {
                // What the report asks of the typing next, made while the dominators finish
                // (their last steps are sequential: a core is free).
                typing.stats(&heap);
                t.lap("typing stats");
                let _ = hist.set(Self::histogram_of(&typing, &heap, &reach));
                t.lap("histogram");
            }
            typing
        };
        // The dominators' first stage is parallel: it takes every core. The rest is mostly
        // sequential (a depth-first search, then semidominators and sums): the typing goes
        // beside it.
        let typing =
            match dominators.then(|| Dominators::prepare(&graph, &root_edges, &reach, |o| heap.size(o))) {
                Some(Ok(prepared)) => {
                    let (typing, d) = rayon::join(typing, || prepared.finish());
                    t.lap("dominators");
                    let _ = dom.set(d.map_err(|e| e.to_string()));
                    typing
                }
                Some(Err(e)) => {
                    let _ = dom.set(Err(e.to_string()));
                    typing()
                }
                None => typing(),
            };
        let mut warnings = p.warnings.clone();
        warnings.extend(heap.warnings.iter().cloned());
        warnings.extend(roots.warnings.iter().cloned());
        warnings.extend(typing.warnings.iter().cloned());
        Ok(HeapAnalysis { p, heap, types, roots, root_edges, graph, reach, typing, warnings, dom, hist })
    }

    /// Objects and bytes by type, allocated and reachable (computed once).
    pub fn histogram(&self) -> &typing::Histogram {
        self.hist.get_or_init(|| Self::histogram_of(&self.typing, &self.heap, &self.reach))
    }

    fn histogram_of(typing: &ObjectTypes, heap: &Heap, reach: &Reachability) -> typing::Histogram {
        typing.histogram(heap, Some(reach.bitsets().0))
    }

    /// The dominator tree of the reachable objects (computed once).
    pub fn dominators(&self) -> Result<&Dominators> {
        self.dom
            .get_or_init(|| {
                Dominators::from_reach(&self.graph, &self.heap, &self.root_edges, &self.reach)
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| crate::Error::Other(e.clone()))
    }

    /// The type name of an object, or `untyped`.
    pub fn type_name(&self, obj: u32) -> String {
        self.typing.entry(obj).map_or_else(|| "untyped".to_string(), |e| e.name.clone())
    }

    /// Name a path from a root: the root as the runtime and users name it, down to the pointer
    /// it holds (`main.cache`, `main.cfg.handlers[3]`, `goroutine 17 main.worker buf`), then
    /// each object with the pointer of the previous one taken to reach it, named by that
    /// object's type (`.next`, `[17]`, `["key"]`, `.captured`; see [`paths::field_name`]).
    pub fn name_path(&self, steps: &[Step]) -> Option<NamedPath> {
        let Some(&Step::Root(root)) = steps.first() else {
            return None;
        };
        let mut out = NamedPath { root, root_name: String::new(), steps: Vec::with_capacity(steps.len()) };
        let mut prev = None;
        for s in &steps[1..] {
            let Step::Object { obj, field } = *s else { continue };
            let field = field.or_else(|| graph::first_pointer_to(self.p, &self.heap, prev?, obj));
            let via = match (prev, field) {
                (Some(p), Some(f)) => Some(paths::field_name(self, p, f as u64)),
                (Some(_), None) => Some("?".to_string()),
                (None, _) => {
                    // Name the root by the exact pointer it holds to this object.
                    let edge = self.roots.edges.iter().find(|e| e.root == root && e.object == obj);
                    out.root_name = match edge {
                        Some(e) => self.roots.path(self.p, e),
                        None => {
                            self.roots.roots.get(root as usize).map(|r| r.name.clone()).unwrap_or_default()
                        }
                    };
                    None
                }
            };
            out.steps.push(NamedStep { obj, via });
            prev = Some(obj);
        }
        Some(out)
    }

    /// One line per step of a named path: the root, then `TYPE @ ADDRESS` for the object it
    /// points to, then `VIA → TYPE @ ADDRESS` for each next one.
    pub fn path_lines(&self, p: &NamedPath) -> Vec<String> {
        let mut out = Vec::with_capacity(p.steps.len() + 1);
        out.push(p.root_name.clone());
        for s in &p.steps {
            let via = s.via.as_deref().map(|v| format!("{v} → ")).unwrap_or_default();
            out.push(format!("{via}{} @ {:#x}", self.type_name(s.obj), self.heap.addr(s.obj)));
        }
        out
    }

    /// [`Self::name_path`] as [`Self::path_lines`].
    pub fn path_names(&self, steps: &[Step]) -> Vec<String> {
        self.name_path(steps).map(|p| self.path_lines(&p)).unwrap_or_default()
    }

    /// The shortest path from a root to an object, named; None if unreachable.
    pub fn path_to(&self, obj: u32) -> Option<Vec<String>> {
        self.reach.path_to(&self.graph, obj).map(|steps| self.path_names(&steps))
    }

    /// Up to `n` distinct paths from the roots to an object, named, the shortest first (see
    /// [`paths::distinct_paths`]); empty if unreachable.
    pub fn paths_to(&self, obj: u32, n: usize) -> Vec<NamedPath> {
        paths::distinct_paths(self, obj, n).iter().filter_map(|s| self.name_path(s)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Timing of one phase of the heap analysis on a big dump, repeated in one process (what
    /// it needs computed once): `GOMORTEM_PHASE_BENCH=DIR` (with `dump` and `exe`),
    /// `GOMORTEM_PHASE=graph|reach|typing|dominators` (default dominators),
    /// `GOMORTEM_PHASE_RUNS` (default 7), release build:
    /// `cargo test --release --lib analysis::heap::tests::phase_bench -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn phase_bench() {
        let Some(d) = std::env::var_os("GOMORTEM_PHASE_BENCH").map(std::path::PathBuf::from) else {
            return;
        };
        let phase = std::env::var("GOMORTEM_PHASE").unwrap_or_else(|_| "dominators".into());
        let runs: usize = std::env::var("GOMORTEM_PHASE_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(7);
        let p = Process::open(&d.join("dump"), Some(&d.join("exe"))).unwrap();
        let a = HeapAnalysis::run(&p).unwrap();
        let mut times = Vec::new();
        eprintln!(
            "{} roots, {} root edges, {} object types",
            a.roots.roots.len(),
            a.roots.edges.len(),
            a.roots.object_types.len()
        );
        for _ in 0..runs {
            let t = std::time::Instant::now();
            match phase.as_str() {
                "graph" => drop(std::hint::black_box(ObjectGraph::build(&p, &a.heap))),
                "roots" => drop(std::hint::black_box(p.roots(&a.heap).unwrap())),
                "reach" => {
                    drop(std::hint::black_box(Reachability::compute(&a.graph, &a.heap, &a.root_edges)))
                }
                "typing" => {
                    // A graph of its own: the analysis freed its edges' fields.
                    let mut g = ObjectGraph::build(&p, &a.heap);
                    let fields = g.take_fields();
                    let t = std::time::Instant::now();
                    let ty = ObjectTypes::infer(&p, &a.heap, &a.types, &a.roots, Some((&g, &fields)));
                    times.push(t.elapsed().as_secs_f64());
                    std::hint::black_box(ty);
                    continue;
                }
                _ => drop(std::hint::black_box(
                    Dominators::from_reach(&a.graph, &a.heap, &a.root_edges, &a.reach).unwrap(),
                )),
            }
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        eprintln!("{phase}: min {:.3} s, median {:.3} s over {runs} runs", times[0], times[runs / 2]);
    }
}
