//! The heap reports: `heap` (summary and histogram by type), `top` (the biggest retainers
//! and their paths from a root), `path` (how one object is kept alive).

use std::fmt::Write as _;
use std::io::Write;

use serde::Serialize;

use super::SCHEMA_VERSION;
use crate::analysis::heap::dominators::Node;
use crate::analysis::heap::retention::{self, RetainerNode};
use crate::analysis::heap::typing::Row;
use crate::analysis::HeapAnalysis;
use crate::runtime::roots::RootKind;
use crate::{Error, Result};

#[derive(Serialize)]
pub struct RuntimeCounts {
    /// What `runtime.ReadMemStats` would have returned at the moment of the dump.
    pub heap_objects: u64,
    pub heap_alloc: u64,
}

#[derive(Serialize)]
pub struct HeapSummary {
    pub allocated_objects: u64,
    pub allocated_bytes: u64,
    pub reachable_objects: u64,
    pub reachable_bytes: u64,
    pub untyped_objects: u64,
    pub untyped_bytes: u64,
    /// Untyped among the reachable objects.
    pub untyped_reachable_objects: u64,
    pub untyped_reachable_bytes: u64,
    pub runtime: Option<RuntimeCounts>,
    pub roots: usize,
    pub edges: u64,
}

#[derive(Serialize)]
pub struct HeapDoc {
    pub schema_version: &'static str,
    pub command: &'static str,
    pub summary: HeapSummary,
    pub types: Vec<Row>,
    /// With `--retainers N`: what `top` lists, from the same analysis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retainers: Option<Vec<RetainerRow>>,
    pub warnings: Vec<String>,
}

/// The summary and the `top` rows of the histogram; with `retainers` above 0, the biggest
/// retainers too (as [`top`] lists them), or a warning saying why they are missing.
pub fn heap(a: &HeapAnalysis, top: usize, retainers: usize) -> HeapDoc {
    let hist = a.histogram();
    let untyped = hist.types.iter().find(|r| r.type_name == "untyped");
    let t = &a.heap.totals;
    let summary = HeapSummary {
        allocated_objects: t.objects,
        allocated_bytes: t.bytes,
        reachable_objects: a.reach.objects,
        reachable_bytes: a.reach.bytes,
        untyped_objects: a.typing.stats(&a.heap).untyped_objects,
        untyped_bytes: a.typing.stats(&a.heap).untyped_bytes,
        untyped_reachable_objects: untyped.map_or(0, |r| r.reachable_objects),
        untyped_reachable_bytes: untyped.map_or(0, |r| r.reachable_bytes),
        runtime: a
            .heap
            .runtime_stats
            .as_ref()
            .map(|r| RuntimeCounts { heap_objects: r.heap_objects, heap_alloc: r.heap_alloc }),
        roots: a.roots.roots.len(),
        edges: a.graph.edge_count(),
    };
    let types = hist.types[..top.min(hist.types.len())].to_vec();
    let mut warnings = a.warnings.clone();
    let retainers = match retainers {
        0 => None,
        n => match retainer_rows(a, n) {
            Ok(r) => Some(r),
            Err(e) => {
                warnings.push(format!("no retainers: {e}"));
                None
            }
        },
    };
    HeapDoc { schema_version: SCHEMA_VERSION, command: "heap", summary, types, retainers, warnings }
}

/// A retainer, and the listed retainers nested in it.
#[derive(Serialize, Clone, Debug)]
pub struct RetainerRow {
    pub address: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub retained_bytes: u64,
    pub retained_objects: u32,
    /// Of its parent's retained bytes (1 at the top level).
    pub share_of_parent: f64,
    /// From a root to the object: the root first (`main.cache`, `goroutine 17 main.worker buf`).
    pub path: Vec<String>,
    /// Retainers inside this one, largest first (each at least 5% of it).
    pub children: Vec<RetainerRow>,
    /// Retainers inside this one not in `children`: how many, and what they retain together.
    pub more_children: usize,
    pub more_children_bytes: u64,
}

/// What one group of roots retains.
#[derive(Serialize, Clone, Debug)]
pub struct RootGroupRow {
    /// `package main`, `main.worker buf (1234 goroutines)`, `finalizers`…
    pub name: String,
    /// `globals`, `goroutines`, `specials`, `other`.
    pub kind: &'static str,
    pub roots: usize,
    pub goroutines: usize,
    pub retained_bytes: u64,
    pub retained_objects: u64,
}

#[derive(Serialize)]
pub struct TopDoc {
    pub schema_version: &'static str,
    pub command: &'static str,
    pub reachable_bytes: u64,
    /// The biggest retainers that lie in no other listed one, each with those inside it.
    pub retainers: Vec<RetainerRow>,
    /// What each group of roots retains, largest first.
    pub root_groups: Vec<RootGroupRow>,
    pub warnings: Vec<String>,
}

fn retainer_row(a: &HeapAnalysis, n: &RetainerNode, parent: Option<u64>) -> RetainerRow {
    let r = &n.retainer;
    let (address, type_name, path) = match r.node {
        Node::Object(o) => {
            (format!("{:#x}", a.heap.addr(o)), a.type_name(o), a.path_to(o).unwrap_or_default())
        }
        Node::Root(i) => {
            let root = a.roots.roots.get(i as usize);
            let ty = root.and_then(|r| r.type_name(a.p));
            (
                format!("{:#x}", root.map_or(0, |r| r.addr)),
                ty.unwrap_or_else(|| {
                    root.map_or_else(String::new, |r| format!("{:?}", r.kind).to_lowercase())
                }),
                vec![root.map_or_else(String::new, |r| r.name.clone())],
            )
        }
        Node::SuperRoot => (String::new(), "all roots".into(), Vec::new()),
    };
    RetainerRow {
        address,
        type_name,
        retained_bytes: r.retained_bytes,
        retained_objects: r.retained_objects,
        share_of_parent: parent.map_or(1.0, |p| r.retained_bytes as f64 / p.max(1) as f64),
        path,
        children: n.children.iter().map(|c| retainer_row(a, c, Some(r.retained_bytes))).collect(),
        more_children: n.more,
        more_children_bytes: n.more_bytes,
    }
}

/// The `n` biggest retainers as a tree (see [`retention::retainer_tree`]).
pub fn retainer_rows(a: &HeapAnalysis, n: usize) -> Result<Vec<RetainerRow>> {
    let t = crate::analysis::Timings::start();
    let tree = retention::retainer_tree(a, n, 5)?;
    t.lap("top: retainers");
    Ok(tree.iter().map(|n| retainer_row(a, n, None)).collect())
}

/// The `n` root groups that retain the most; goroutines' roots grouped by `groups`, or by
/// their function and variable.
pub fn root_group_rows(
    a: &HeapAnalysis,
    n: usize,
    groups: Option<&retention::GoroutineGroups>,
) -> Result<Vec<RootGroupRow>> {
    Ok(retention::by_root_group(a, groups)?
        .into_iter()
        .filter(|g| g.retained_bytes > 0)
        .take(n)
        .map(|g| RootGroupRow {
            name: g.name,
            kind: g.kind,
            roots: g.roots,
            goroutines: g.goroutines,
            retained_bytes: g.retained_bytes,
            retained_objects: g.retained_objects,
        })
        .collect())
}

pub fn top(a: &HeapAnalysis, n: usize) -> Result<TopDoc> {
    Ok(TopDoc {
        schema_version: SCHEMA_VERSION,
        command: "top",
        reachable_bytes: a.reach.bytes,
        retainers: retainer_rows(a, n)?,
        root_groups: root_group_rows(a, n, None)?,
        warnings: a.warnings.clone(),
    })
}

#[derive(Serialize)]
pub struct PathDoc {
    pub schema_version: &'static str,
    pub command: &'static str,
    pub address: String,
    pub object: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub size: u64,
    pub reachable: bool,
    /// The first of `paths`, as lines (as in `top`).
    pub path: Vec<String>,
    /// Up to `--paths` distinct paths, the shortest first.
    pub paths: Vec<PathJ>,
}

/// One path from a root, step by step.
#[derive(Serialize)]
pub struct PathJ {
    /// The root, named down to the pointer it holds (`main.cfg.handlers[3]`).
    pub root: String,
    pub root_kind: RootKind,
    /// The goroutine whose stack the root is on.
    pub goroutine: Option<u64>,
    pub steps: Vec<StepJ>,
}

#[derive(Serialize)]
pub struct StepJ {
    /// The pointer of the previous object taken (`.next`, `[3]`, `["key"]`, `+0x18`); null for
    /// the object the root points to.
    pub via: Option<String>,
    #[serde(rename = "type")]
    pub type_name: String,
    pub address: String,
}

/// Resolve an address (anywhere inside an object) to the object holding it.
pub fn object_at(a: &HeapAnalysis, addr: u64) -> Result<u32> {
    a.heap
        .find_object(addr)
        .ok_or_else(|| Error::Other(format!("{addr:#x} is not inside an allocated heap object")))
}

/// How an object is kept alive: up to `n` distinct paths from the roots (see
/// [`crate::analysis::heap::paths::distinct_paths`]).
pub fn path(a: &HeapAnalysis, addr: u64, n: usize) -> Result<PathDoc> {
    let o = object_at(a, addr)?;
    let named = a.paths_to(o, n.max(1));
    let paths = named
        .iter()
        .map(|p| {
            let root = a.roots.roots.get(p.root as usize);
            PathJ {
                root: p.root_name.clone(),
                root_kind: root.map_or(RootKind::Data, |r| r.kind),
                goroutine: root.and_then(|r| r.goroutine),
                steps: p
                    .steps
                    .iter()
                    .map(|s| StepJ {
                        via: s.via.clone(),
                        type_name: a.type_name(s.obj),
                        address: format!("{:#x}", a.heap.addr(s.obj)),
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(PathDoc {
        schema_version: SCHEMA_VERSION,
        command: "path",
        address: format!("{addr:#x}"),
        object: format!("{:#x}", a.heap.addr(o)),
        type_name: a.type_name(o),
        size: a.heap.size(o),
        reachable: a.reach.is_reachable(o),
        path: named.first().map(|p| a.path_lines(p)).unwrap_or_default(),
        paths,
    })
}

/// Write any document as JSON.
pub fn json(w: impl Write, doc: &impl Serialize) -> Result<()> {
    super::json::write_to(w, doc)
}

fn bytes(n: u64) -> String {
    super::text::bytes(n)
}

pub fn heap_text(d: &HeapDoc) -> String {
    let s = &d.summary;
    let mut o = String::new();
    let pct = |a: u64, b: u64| if b == 0 { 0.0 } else { 100.0 * a as f64 / b as f64 };
    let _ = writeln!(o, "allocated:  {:>12} objects  {:>12}", s.allocated_objects, bytes(s.allocated_bytes));
    if let Some(r) = &s.runtime {
        let same = r.heap_objects == s.allocated_objects && r.heap_alloc == s.allocated_bytes;
        let _ = writeln!(
            o,
            "runtime:    {:>12} objects  {:>12}  (MemStats HeapObjects/HeapAlloc at the dump{})",
            r.heap_objects,
            bytes(r.heap_alloc),
            if same { ": equal" } else { "" }
        );
    }
    let _ = writeln!(
        o,
        "reachable:  {:>12} objects  {:>12}  ({:.1}% of allocated bytes, from {} roots)",
        s.reachable_objects,
        bytes(s.reachable_bytes),
        pct(s.reachable_bytes, s.allocated_bytes),
        s.roots
    );
    let _ = writeln!(
        o,
        "untyped:    {:>12} objects  {:>12}  ({:.1}% of reachable bytes untyped)",
        s.untyped_objects,
        bytes(s.untyped_bytes),
        pct(s.untyped_reachable_bytes, s.reachable_bytes)
    );
    let _ =
        writeln!(o, "\n{:>10} {:>12} {:>10} {:>12}  type", "objects", "bytes", "reachable", "reach bytes");
    for r in &d.types {
        let _ = writeln!(
            o,
            "{:>10} {:>12} {:>10} {:>12}  {}",
            r.objects,
            bytes(r.bytes),
            r.reachable_objects,
            bytes(r.reachable_bytes),
            r.type_name
        );
    }
    if let Some(rs) = &d.retainers {
        let _ = writeln!(o, "\nthe biggest retainers (what each alone keeps alive):\n");
        retainers_text(&mut o, rs);
    }
    for w in &d.warnings {
        let _ = writeln!(o, "warning: {w}");
    }
    o
}

pub fn top_text(d: &TopDoc) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{} reachable; the biggest retainers (what each alone keeps alive; one inside another is \
         shown under it, with its share of it):\n",
        bytes(d.reachable_bytes)
    );
    retainers_text(&mut o, &d.retainers);
    if !d.root_groups.is_empty() {
        let _ = writeln!(o, "by root group (the sum of what each root alone keeps alive):\n");
        root_groups_text(&mut o, &d.root_groups);
    }
    o
}

/// The retainer tree, a block per top-level retainer with its path, nested ones indented.
pub fn retainers_text(o: &mut String, rs: &[RetainerRow]) {
    fn one(o: &mut String, r: &RetainerRow, depth: usize) {
        let indent = "    ".repeat(depth);
        let share =
            if depth > 0 { format!(" ({:.0}% of it)", 100.0 * r.share_of_parent) } else { String::new() };
        let _ = writeln!(
            o,
            "{indent}{:>12} {:>9} objects  {} {}{share}",
            bytes(r.retained_bytes),
            r.retained_objects,
            r.type_name,
            r.address
        );
        if depth == 0 {
            for (i, step) in r.path.iter().enumerate() {
                let _ = writeln!(o, "{}{}", if i == 0 { "    root: " } else { "          " }, step);
            }
        } else if let Some(last) = r.path.last() {
            let _ = writeln!(o, "{indent}    at {last}");
        }
        for c in &r.children {
            one(o, c, depth + 1);
        }
        if r.more_children > 0 {
            let _ = writeln!(
                o,
                "{indent}    … and {} smaller retainers inside it ({})",
                r.more_children,
                bytes(r.more_children_bytes)
            );
        }
    }
    for r in rs {
        one(o, r, 0);
        o.push('\n');
    }
}

/// Root groups, a line each.
pub fn root_groups_text(o: &mut String, gs: &[RootGroupRow]) {
    for g in gs {
        let _ = writeln!(o, "{:>12} {:>9} objects  {}", bytes(g.retained_bytes), g.retained_objects, g.name);
    }
}

pub fn path_text(d: &PathDoc) -> String {
    let mut o = format!("{} {} ({} bytes) at {}\n", d.type_name, d.object, d.size, d.address);
    if !d.reachable {
        o.push_str("not reachable from any root: garbage the GC has not collected yet\n");
    }
    let many = d.paths.len() > 1;
    for (i, p) in d.paths.iter().enumerate() {
        if many {
            let _ = writeln!(o, "{}path {} of {}:", if i > 0 { "\n" } else { "" }, i + 1, d.paths.len());
        }
        let _ = writeln!(o, "  root: {}", p.root);
        for s in &p.steps {
            let via = s.via.as_deref().map(|v| format!("{v} → ")).unwrap_or_default();
            let _ = writeln!(o, "        {via}{} @ {}", s.type_name, s.address);
        }
    }
    o
}
