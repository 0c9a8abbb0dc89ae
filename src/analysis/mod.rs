//! Layer 4: analyses over the runtime model.

pub mod dominators;
pub mod graph;
pub mod group;
pub mod typing;

use crate::runtime::heap::Heap;
use crate::runtime::roots::Roots;
use crate::runtime::types::TypeTable;
use crate::runtime::Process;
use crate::Result;

use dominators::Dominators;
use graph::{ObjectGraph, Reachability, RootEdges, Step};
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
}

impl<'p> HeapAnalysis<'p> {
    pub fn run(p: &'p Process) -> Result<HeapAnalysis<'p>> {
        let heap = p.heap()?;
        let types = p.types()?;
        let roots = p.roots(&heap)?;
        let root_edges = RootEdges::from_pairs(roots.edges.iter().map(|e| (e.root, e.object)));
        let graph = ObjectGraph::build(p, &heap);
        let reach = Reachability::compute(&graph, &heap, &root_edges);
        let typing = ObjectTypes::infer(p, &heap, &types, &roots);
        let mut warnings = p.warnings.clone();
        warnings.extend(heap.warnings.iter().cloned());
        warnings.extend(roots.warnings.iter().cloned());
        warnings.extend(typing.warnings.iter().cloned());
        Ok(HeapAnalysis { p, heap, types, roots, root_edges, graph, reach, typing, warnings })
    }

    pub fn dominators(&self) -> Result<Dominators> {
        Dominators::from_heap(&self.graph, &self.heap, &self.root_edges)
    }

    /// The type name of an object, or `untyped`.
    pub fn type_name(&self, obj: u32) -> String {
        self.typing.entry(obj).map_or_else(|| "untyped".to_string(), |e| e.name.clone())
    }

    /// Name each step of a path from a root: the root as the runtime and users name it
    /// (`main.cache`, `goroutine 17 main.worker buf`), then each object with its type and the
    /// field offset the pointer was taken at.
    pub fn path_names(&self, steps: &[Step]) -> Vec<String> {
        let mut out = Vec::with_capacity(steps.len());
        let mut root = None;
        for (i, s) in steps.iter().enumerate() {
            match *s {
                Step::Root(r) => root = Some(r),
                Step::Object { obj, field } => {
                    if i == 1 {
                        // Name the root by the exact pointer it holds to this object.
                        let edge = root
                            .and_then(|r| self.roots.edges.iter().find(|e| e.root == r && e.object == obj));
                        let name = match (edge, root) {
                            (Some(e), _) => self.roots.path(self.p, e),
                            (None, Some(r)) => {
                                self.roots.roots.get(r as usize).map(|r| r.name.clone()).unwrap_or_default()
                            }
                            _ => String::new(),
                        };
                        out.push(name);
                    }
                    let via = field.map(|f| format!("+{f:#x} → ")).unwrap_or_default();
                    out.push(format!("{via}{} @ {:#x}", self.type_name(obj), self.heap.addr(obj)));
                }
            }
        }
        out
    }

    /// The shortest path from a root to an object, named; None if unreachable.
    pub fn path_to(&self, obj: u32) -> Option<Vec<String>> {
        self.reach.path_to(&self.graph, obj).map(|steps| self.path_names(&steps))
    }
}
