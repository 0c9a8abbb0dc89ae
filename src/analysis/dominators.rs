//! The dominator tree of the object graph, and what each object and root retains.
//!
//! A super-root sits above every root; each root is a node of its own whose successors are
//! the objects it points to. An object `d` dominates `o` when every path from the super-root
//! to `o` goes through `d`; what `d` retains is `d` and every object it dominates (what would
//! be freed if `d` were). A root's retained set is what it alone keeps alive.
//!
//! Algorithm: semidominators by Lengauer–Tarjan (simple version: path compression, no
//! balancing), then immediate dominators by the nearest-common-ancestor walk of Semi-NCA
//! (Georgiadis), which needs no buckets. Everything is iterative: a 1M-long chain is fine.
//! Retained sizes are summed in reverse DFS preorder (an idom precedes its children).

use crate::analysis::graph::{ObjectGraph, RootEdges};
use crate::runtime::heap::Heap;
use crate::{Error, Result};

const NONE: u32 = u32::MAX;

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

/// Immediate dominators and retained sizes of every node reachable from the roots.
pub struct Dominators {
    objects: u32,
    /// Root index (caller's) of each root node.
    root_ids: Vec<u32>,
    /// Per node (objects, then root nodes, then the super-root): immediate dominator node,
    /// NONE if unreachable (the super-root is its own).
    idom: Vec<u32>,
    retained_bytes: Vec<u64>,
    retained_count: Vec<u32>,
    /// Nodes reached from the super-root (itself included).
    pub reached: u32,
}

/// The graph with the root nodes and the super-root added.
struct Augmented<'a> {
    g: &'a ObjectGraph,
    roots: &'a [RootEdges],
    n: u32,
    sup: u32,
}

impl Augmented<'_> {
    /// The `k`-th successor of node `u`.
    #[inline]
    fn succ(&self, u: u32, k: usize) -> Option<u32> {
        if u < self.n {
            self.g.targets(u).get(k).copied()
        } else if u < self.sup {
            // Objects out of range are skipped by the caller's check.
            self.roots[(u - self.n) as usize].objects.get(k).copied()
        } else {
            (k < self.roots.len()).then(|| self.n + k as u32)
        }
    }

    fn for_each_succ(&self, u: u32, mut f: impl FnMut(u32)) {
        if u < self.n {
            self.g.targets(u).iter().for_each(|&v| f(v));
        } else if u < self.sup {
            self.roots[(u - self.n) as usize].objects.iter().filter(|&&v| v < self.n).for_each(|&v| f(v));
        } else {
            (self.n..self.sup).for_each(f);
        }
    }
}

impl Dominators {
    /// Dominators of a heap's object graph; `roots` should hold one entry per root.
    pub fn from_heap(g: &ObjectGraph, heap: &Heap, roots: &[RootEdges]) -> Result<Dominators> {
        Self::compute(g, roots, |o| heap.size(o))
    }

    /// Dominators over `g` with the given roots, objects weighing `size(obj)` bytes.
    pub fn compute(g: &ObjectGraph, roots: &[RootEdges], size: impl Fn(u32) -> u64) -> Result<Dominators> {
        let n = g.len();
        let total = n as u64 + roots.len() as u64 + 1;
        if total >= NONE as u64 {
            return Err(Error::Unsupported(format!("{total} nodes in the object graph: too many")));
        }
        let sup = total as u32 - 1;
        let a = Augmented { g, roots, n, sup };

        // Iterative DFS from the super-root: preorder numbers and DFS-tree parents.
        let mut dfs_of = vec![NONE; total as usize];
        let mut vertex: Vec<u32> = Vec::new();
        let mut parent: Vec<u32> = Vec::new();
        let mut stack: Vec<(u32, u32)> = vec![(sup, 0)];
        dfs_of[sup as usize] = 0;
        vertex.push(sup);
        parent.push(0);
        while let Some(top) = stack.last_mut() {
            let (u, k) = *top;
            match a.succ(u, k as usize) {
                None => {
                    stack.pop();
                }
                Some(v) => {
                    top.1 += 1;
                    if (v < n || u == sup) && dfs_of[v as usize] == NONE {
                        dfs_of[v as usize] = vertex.len() as u32;
                        parent.push(dfs_of[u as usize]);
                        vertex.push(v);
                        stack.push((v, 0));
                    }
                }
            }
        }
        drop(stack);
        let m = vertex.len();

        // Predecessors in DFS numbering, in compressed rows.
        let mut pred_off = vec![0u32; m + 1];
        for &u in &vertex {
            a.for_each_succ(u, |v| pred_off[dfs_of[v as usize] as usize + 1] += 1);
        }
        for i in 0..m {
            pred_off[i + 1] = pred_off[i]
                .checked_add(pred_off[i + 1])
                .ok_or_else(|| Error::Unsupported("more than 4G edges in the object graph".into()))?;
        }
        let mut preds = vec![0u32; pred_off[m] as usize];
        {
            let mut fill: Vec<u32> = pred_off[..m].to_vec();
            for (d, &u) in vertex.iter().enumerate() {
                a.for_each_succ(u, |v| {
                    let t = dfs_of[v as usize] as usize;
                    preds[fill[t] as usize] = d as u32;
                    fill[t] += 1;
                });
            }
        }
        drop(dfs_of);

        // Semidominators, in reverse preorder. A node is linked into the forest once
        // processed, i.e. iff its number is above the current one.
        let mut semi: Vec<u32> = (0..m as u32).collect();
        let mut label: Vec<u32> = (0..m as u32).collect();
        let mut ancestor = parent.clone();
        let mut path: Vec<u32> = Vec::new();
        for w in (1..m as u32).rev() {
            let mut s = semi[w as usize];
            for &v in &preds[pred_off[w as usize] as usize..pred_off[w as usize + 1] as usize] {
                let u = if v <= w {
                    v
                } else {
                    // eval(v), compressing the path of linked nodes above v.
                    let mut x = v;
                    while ancestor[x as usize] > w {
                        path.push(x);
                        x = ancestor[x as usize];
                    }
                    while let Some(y) = path.pop() {
                        let an = ancestor[y as usize] as usize;
                        if semi[label[an] as usize] < semi[label[y as usize] as usize] {
                            label[y as usize] = label[an];
                        }
                        ancestor[y as usize] = ancestor[an];
                    }
                    label[v as usize]
                };
                s = s.min(semi[u as usize]);
            }
            semi[w as usize] = s;
        }
        drop((label, ancestor, preds, pred_off));

        // Immediate dominators: the nearest ancestor of the DFS parent, in the tree built so
        // far, numbered at most the semidominator.
        let mut idom = parent;
        for w in 1..m {
            let mut x = idom[w];
            while x > semi[w] {
                x = idom[x as usize];
            }
            idom[w] = x;
        }
        drop(semi);

        // Retained sizes, per node, children before their dominators.
        let mut node_idom = vec![NONE; total as usize];
        let mut bytes = vec![0u64; total as usize];
        let mut count = vec![0u32; total as usize];
        for &v in &vertex {
            if v < n {
                bytes[v as usize] = size(v);
                count[v as usize] = 1;
            }
        }
        node_idom[sup as usize] = sup;
        for d in (1..m).rev() {
            let (v, p) = (vertex[d] as usize, vertex[idom[d] as usize] as usize);
            node_idom[v] = p as u32;
            bytes[p] += bytes[v];
            count[p] += count[v];
        }
        Ok(Dominators {
            objects: n,
            root_ids: roots.iter().map(|r| r.root).collect(),
            idom: node_idom,
            retained_bytes: bytes,
            retained_count: count,
            reached: m as u32,
        })
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
            Node::Root(r) => self.root_ids.iter().position(|&x| x == r).map(|i| self.objects + i as u32),
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
    pub fn retained(&self, node: Node) -> (u64, u32) {
        self.id(node).map_or((0, 0), |i| (self.retained_bytes[i as usize], self.retained_count[i as usize]))
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
    pub fn top_retainers(&self, n: usize) -> Vec<Retainer> {
        use std::cmp::Reverse;
        let sup = self.idom.len() as u32 - 1;
        // A bounded min-heap; among equal sizes, roots (they weigh 0 themselves, so may
        // retain exactly what their object does) and then lower ids first.
        let mut heap = std::collections::BinaryHeap::with_capacity(n + 1);
        for id in 0..sup {
            let (b, d) = (self.retained_bytes[id as usize], self.idom[id as usize]);
            if d == NONE || b == 0 || (d != sup && b.saturating_mul(2) >= self.retained_bytes[d as usize]) {
                continue;
            }
            let key = Reverse((b, id >= self.objects, Reverse(id)));
            if heap.len() < n {
                heap.push(key);
            } else if heap.peek().is_some_and(|min| key < *min) {
                heap.pop();
                heap.push(key);
            }
        }
        heap.into_sorted_vec()
            .into_iter()
            .map(|Reverse((b, _, Reverse(id)))| Retainer {
                node: self.node(id),
                retained_bytes: b,
                retained_objects: self.retained_count[id as usize],
                dominator: self.node(self.idom[id as usize]),
            })
            .collect()
    }

    /// Bytes held by the result arrays.
    pub fn memory_bytes(&self) -> u64 {
        (self.idom.capacity() * 4 + self.retained_bytes.capacity() * 8 + self.retained_count.capacity() * 4)
            as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::graph::{Reachability, Step};

    struct Rng(u64);
    impl Rng {
        fn next(&mut self, n: u32) -> u32 {
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
        size: impl Fn(u32) -> u64 + Copy + Sync,
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
                assert_eq!(d.retained(node(v)), (0, 0));
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
            assert_eq!(d.retained(node(v)), (bytes, dominated.len() as u32), "retained by {v}");
        }
        let all: Vec<u32> = (0..n).filter(|&o| reach[o as usize]).collect();
        let r = Reachability::compute_with(&g, &roots, size);
        assert_eq!(r.objects, all.len() as u64);
        assert_eq!(d.retained(Node::SuperRoot), (r.bytes, all.len() as u32));
        for o in 0..n {
            assert_eq!(r.is_reachable(o), reach[o as usize]);
        }
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
        assert_eq!(d.retained(Node::Root(7)), (30, 3));
        assert_eq!(d.retained(Node::Root(9)), (0, 0));
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
        assert_eq!(d.retained(Node::Object(0)), (32 * n as u64, n));
        assert_eq!(d.retained(Node::Object(n / 2)), (32 * (n / 2) as u64, n / 2));
        assert_eq!(d.idom(Node::Object(n - 1)), Some(Node::Object(n - 2)));
        assert_eq!((r.objects, r.depth), (n as u64, n - 1));
        let path = r.path_to(&g, n - 1).unwrap();
        assert_eq!(path.len(), n as usize + 1);
        assert_eq!(path[0], Step::Root(0));
        assert_eq!(path[2], Step::Object { obj: 1, field: Some(8) });
        // A top list names the chain once.
        let top = d.top_retainers(5);
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
        let top: Vec<Node> = d.top_retainers(10).iter().map(|r| r.node).collect();
        // Object 0 is root 0 seen one level down; object 1 is most of object 0; 2 is a small
        // part; 3 is shared by both roots (dominated by the super-root); root 1 alone retains
        // nothing, so it is not listed.
        assert_eq!(top, vec![Node::Root(0), Node::Object(2), Node::Object(3)]);
    }
}
