//! What retains the memory, for people: the biggest retainers as a tree (a retainer inside
//! another listed one is nested under it, with its share of it, rather than listed again), and
//! what each group of roots retains (the globals of one package, the goroutines of one group),
//! so that 1,234 goroutines that each retain 1 KB read as one line.

use rayon::prelude::*;
use rustc_hash::FxHashMap as HashMap;

use super::dominators::{Node, Retainer};
use super::HeapAnalysis;
use crate::runtime::roots::RootKind;
use crate::Result;

/// Steps up the dominator tree looked at to find a listed ancestor.
const MAX_UP: usize = 4096;

/// A retainer, and the listed retainers inside it.
#[derive(Clone, Debug)]
pub struct RetainerNode {
    pub retainer: Retainer,
    /// Nested retainers, largest first: those with at least [`MIN_SHARE`] of this one.
    pub children: Vec<RetainerNode>,
    /// Listed retainers nested in this one but not shown (smaller than [`MIN_SHARE`] of it, or
    /// past the limit): how many, and what they retain together.
    pub more: usize,
    pub more_bytes: u64,
}

/// The smallest share of its parent a nested retainer is shown with.
pub const MIN_SHARE: f64 = 0.05;

/// The `n` biggest retainers that lie in no other listed one, each with the listed ones
/// inside it (at most `per_parent` at each level). Candidates are the biggest retainers by the
/// rule of [`super::dominators::Dominators::top_retainers`] (an object retaining half of what
/// its dominator does is that structure seen one level down); a candidate that a bigger one
/// dominates goes under it.
pub fn retainer_tree(a: &HeapAnalysis, n: usize, per_parent: usize) -> Result<Vec<RetainerNode>> {
    let dom = a.dominators()?;
    let runs = a.heap.par_object_runs().map(|(objs, size, _)| (objs, size));
    let candidates = dom.top_retainers_in_runs(n.saturating_mul(4).max(n + 16), runs, |o| a.heap.size(o));
    let index: HashMap<Node, usize> = candidates.iter().enumerate().map(|(i, r)| (r.node, i)).collect();
    // The nearest listed ancestor of each candidate.
    let parent: Vec<Option<usize>> = candidates
        .iter()
        .map(|r| {
            let mut up = dom.idom(r.node);
            for _ in 0..MAX_UP {
                match up {
                    Some(Node::SuperRoot) | None => return None,
                    Some(u) => match index.get(&u) {
                        Some(&i) => return Some(i),
                        None => up = dom.idom(u),
                    },
                }
            }
            None
        })
        .collect();
    fn build(i: usize, c: &[Retainer], parent: &[Option<usize>], per: usize, depth: u32) -> RetainerNode {
        // Candidates are sorted by size: children come largest first.
        let nested: Vec<usize> = (0..c.len()).filter(|&j| parent[j] == Some(i)).collect();
        let big = |j: &usize| c[*j].retained_bytes as f64 >= MIN_SHARE * c[i].retained_bytes as f64;
        let shown = if depth >= 3 { 0 } else { nested.iter().take(per).take_while(|j| big(j)).count() };
        let children = nested[..shown].iter().map(|&j| build(j, c, parent, per, depth + 1)).collect();
        let rest = &nested[shown..];
        RetainerNode {
            retainer: c[i].clone(),
            children,
            more: rest.len(),
            more_bytes: rest.iter().map(|&j| c[j].retained_bytes).sum(),
        }
    }
    Ok((0..candidates.len())
        .filter(|&i| parent[i].is_none())
        .take(n)
        .map(|i| build(i, &candidates, &parent, per_parent, 0))
        .collect())
}

/// What one group of roots retains.
#[derive(Clone, Debug)]
pub struct RootGroup {
    /// `package main`, `goroutines at main.worker (main.go:42)`, `finalizers`…
    pub name: String,
    pub kind: &'static str,
    pub roots: usize,
    /// Goroutines in the group (for goroutine groups).
    pub goroutines: usize,
    /// The sum of what each root alone retains (objects several roots share are in none).
    pub retained_bytes: u64,
    pub retained_objects: u64,
}

/// The package of a global's name: `net/http` for `net/http.DefaultServeMux`.
fn package(name: &str) -> &str {
    let name = name.trim_start_matches('*');
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[slash..].find('.') {
        Some(dot) => &name[..slash + dot],
        None => name,
    }
}

/// How goroutines' roots are grouped: goroutine id → its group's index, and a group's name.
pub struct GoroutineGroups<'a> {
    pub group_of: &'a dyn Fn(u64) -> Option<usize>,
    pub name: &'a dyn Fn(usize) -> String,
}

/// The key of a root group (names are made once per group, not per root).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Key<'a> {
    Package(&'a str),
    Group(usize),
    /// A goroutine root's frame and variable (`main.worker buf`).
    Frame(&'a str),
    Special(&'static str),
    Other(RootKind),
}

/// What each group of roots retains, largest first: globals by package, goroutine stacks by
/// `groups` (without them, by the root's frame and variable), specials by kind.
pub fn by_root_group(a: &HeapAnalysis, groups: Option<&GoroutineGroups>) -> Result<Vec<RootGroup>> {
    let dom = a.dominators()?;
    let mut sums: HashMap<Key, (RootGroup, rustc_hash::FxHashSet<u64>)> = HashMap::default();
    for (root, b, o) in dom.roots_retained() {
        let Some(r) = a.roots.roots.get(root as usize) else { continue };
        let key = match (r.kind, r.goroutine) {
            (RootKind::Data | RootKind::Bss, _) => Key::Package(package(&r.name)),
            (_, Some(g)) => match groups.and_then(|gs| (gs.group_of)(g)) {
                Some(i) => Key::Group(i),
                // `goroutine 17 main.worker buf` → `main.worker buf`.
                None => Key::Frame(r.name.splitn(3, ' ').nth(2).unwrap_or(&r.name)),
            },
            (RootKind::Finalizer | RootKind::FinalizerFn | RootKind::FinalizerQueue, _) => {
                Key::Special("finalizers")
            }
            (RootKind::Cleanup, _) => Key::Special("cleanups"),
            (RootKind::WeakHandle, _) => Key::Special("weak pointers"),
            (k, None) => Key::Other(k),
        };
        let (g, ids) = sums.entry(key).or_insert_with(|| {
            let (name, kind) = match key {
                Key::Package(p) => (format!("package {p}"), "globals"),
                Key::Group(i) => (groups.map_or_else(String::new, |gs| (gs.name)(i)), "goroutines"),
                Key::Frame(f) => (format!("goroutines' {f}"), "goroutines"),
                Key::Special(s) => (s.to_string(), "specials"),
                Key::Other(k) => (format!("{k:?}").to_lowercase(), "other"),
            };
            (
                RootGroup { name, kind, roots: 0, goroutines: 0, retained_bytes: 0, retained_objects: 0 },
                Default::default(),
            )
        });
        g.roots += 1;
        g.retained_bytes += b;
        g.retained_objects += o as u64;
        if let Some(id) = r.goroutine {
            ids.insert(id);
        }
    }
    let mut out: Vec<RootGroup> = sums
        .into_values()
        .map(|(mut g, ids)| {
            g.goroutines = ids.len();
            g
        })
        .collect();
    out.sort_by(|x, y| y.retained_bytes.cmp(&x.retained_bytes).then_with(|| x.name.cmp(&y.name)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn packages() {
        assert_eq!(super::package("main.sessionCache"), "main");
        assert_eq!(super::package("net/http.DefaultServeMux"), "net/http");
        assert_eq!(super::package("*main.p"), "main");
        assert_eq!(super::package("gopkg.in/yaml%2ev3.x"), "gopkg.in/yaml%2ev3");
    }
}
