//! Growth between two dumps of one program (`gomortem diff OLD NEW`): what grew, by type, by
//! retainer and by goroutine group, matched by name, never by address.
//!
//! Each dump is analysed on its own and summarised ([`snapshot`], [`Snapshot::take`]); its heap
//! analysis is dropped before the next dump is read, so one heap analysis at most is held at a
//! time. [`diff`] then compares the two summaries.
//!
//! - **Types**: reachable objects and bytes per type name, as `heap`'s histogram counts them,
//!   and *owned* bytes: each reachable object's bytes counted for the nearest object that
//!   dominates it (itself included) and is a value of the program rather than storage (a
//!   backing array, string bytes, a channel's buffer, a map's directory, tables, groups or
//!   buckets, an untyped object); storage with no such owner counts for its own type. So a
//!   `main.subscription` owns its `buf` backing array and its strings: the leaking type heads
//!   the list, not `[]uint8 backing array`. Owned bytes partition the reachable heap.
//! - **Retainers**: what each root retains (its dominator subtree), the roots named as users name
//!   them, a goroutine's variables without the goroutine's id (`goroutine main.worker buf`;
//!   every goroutine with that function and variable counts under that one name); and inside
//!   the roots, the objects retaining at least [`Snapshot::record_min`] bytes, down to
//!   [`MAX_DEPTH`] named steps, each named by its path from its root with the addresses
//!   stripped: the type of each object and the pointer taken to it (`.next`, `[3]`,
//!   `["key"]`). A map's internal objects (directory, tables, groups, buckets) are left out
//!   of the path, so that a map's entries keep their names as it grows and its tables split;
//!   a map value keeps its key: the same key is the same entry in both dumps, and a new key a
//!   new one, counted from 0. Parts are compared only under a root alone under its name in
//!   both dumps (a global; a goroutine's variable when one goroutine has it): which of 400
//!   goroutines' buffers is which has no answer.
//! - **Goroutine groups**: goroutines with the same stack (function, file and line of every
//!   frame) and the same creator (`created_by`), ids, status and wait reason ignored; the
//!   runtime's own goroutines are left out.
//!
//! **Noise**: retained sizes move when nothing leaks (a cache rewritten every tick, a
//! `sync.Pool`, buffers in flight), and a part is recorded only if it retains
//! [`Snapshot::record_min`] or more in that dump: 0.025% of its reachable bytes, at least 4 KiB
//! (more if there were over [`MAX_PARTS`] parts). A retainer is listed only if it changed by
//! [`Diff::noise_bytes`] or more: four times the larger `record_min` (so 16 KiB at least, and
//! 0.1% of the larger reachable heap), so that a part recorded in one dump only (missing less
//! than `record_min` in the other) is never listed for that alone; and only if every retainer
//! above it, up to its root, changed too, by the noise or more, the same way: a part that grew while
//! its root did not only moved inside it (a pool's buffer from one P to another, an entry
//! replaced by another). A retainer whose change one of its parts explains within the noise is
//! not listed: the part is, the more precise name for it. Types and goroutine groups are exact
//! counts: every change is listed.
//!
//! **Identity**: two dumps are compared only if they are of one build of one program: the
//! same Go build ID, or, without one, the same build info (main package, main module and
//! version, VCS revision and modified flag, Go version); [`check_same_program`].

use std::collections::hash_map::Entry as MapEntry;
use std::path::Path;

use rayon::prelude::*;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::heap::dominators::{Dominators, Node};
use super::heap::graph::{first_pointer_to, Step};
use super::heap::paths::field_name;
use super::heap::typing::{MapPart, ObjKind, TyRef};
use super::{release_freed_memory, HeapAnalysis, Timings};
use crate::runtime::goroutines::{Frame, Location};
use crate::runtime::heap::PointerInfo;
use crate::runtime::types::Kind;
use crate::runtime::{Goroutine, Process, Status};
use crate::{Error, Result};

/// Named steps below a root at most for a recorded part (the root's object is the first).
pub const MAX_DEPTH: usize = 8;
/// Parts recorded per dump at most (the largest).
pub const MAX_PARTS: usize = 20_000;
/// The smallest noise threshold.
pub const MIN_NOISE: u64 = 16 << 10;
/// Objects this big or bigger are scanned once for all their pointers when naming paths.
const BIG_OBJECT: u64 = 64 << 10;

/// Which build of which program a dump is of.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    pub go_build_id: Option<String>,
    pub go_version: String,
    /// The main package's path.
    pub program: String,
    pub main_module: Option<(String, String)>,
    pub vcs_revision: Option<String>,
    pub vcs_modified: Option<String>,
}

impl Identity {
    pub fn of(p: &Process) -> Identity {
        let bi = &p.exe.build_info;
        Identity {
            go_build_id: p.exe.image.go_build_id.clone(),
            go_version: bi.go_version.clone(),
            program: bi.path.clone(),
            main_module: bi.main_module.clone(),
            vcs_revision: bi.setting("vcs.revision").map(str::to_string),
            vcs_modified: bi.setting("vcs.modified").map(str::to_string),
        }
    }

    /// The same build: the same Go build ID if both have one, else the same build info.
    pub fn same_build(&self, other: &Identity) -> bool {
        match (&self.go_build_id, &other.go_build_id) {
            (Some(a), Some(b)) => a == b,
            _ => {
                (&self.go_version, &self.program, &self.main_module, &self.vcs_revision, &self.vcs_modified)
                    == (
                        &other.go_version,
                        &other.program,
                        &other.main_module,
                        &other.vcs_revision,
                        &other.vcs_modified,
                    )
            }
        }
    }

    /// `command-line-arguments (module example.com/x v1.2.0, vcs.revision abc), go1.26.6, Go
    /// build ID …`
    pub fn describe(&self) -> String {
        let mut extra = Vec::new();
        if let Some((m, v)) = &self.main_module {
            extra.push(format!("module {m} {v}"));
        }
        if let Some(r) = &self.vcs_revision {
            let modified = if self.vcs_modified.as_deref() == Some("true") { ", modified" } else { "" };
            extra.push(format!("vcs.revision {r}{modified}"));
        }
        let extra = if extra.is_empty() { String::new() } else { format!(" ({})", extra.join(", ")) };
        let id =
            self.go_build_id.as_deref().map_or("no Go build ID".to_string(), |b| format!("Go build ID {b}"));
        format!("{}{extra}, {}, {id}", self.program, self.go_version)
    }
}

/// Refuse to compare dumps of different programs or builds: the error names both.
pub fn check_same_program(old: &Identity, new: &Identity, old_path: &Path, new_path: &Path) -> Result<()> {
    if old.same_build(new) {
        return Ok(());
    }
    Err(Error::Other(format!(
        "not two dumps of one build of one program (diff matches what grew by name, and names differ \
         between programs and builds): {} is of {}; {} is of {}",
        old_path.display(),
        old.describe(),
        new_path.display(),
        new.describe()
    )))
}

/// Reachable objects and bytes of one type name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TypeCounts {
    pub objects: u64,
    pub bytes: u64,
    /// Its objects' bytes and the storage they alone keep (see the module documentation).
    pub owned_bytes: u64,
}

/// A retainer, by name: the root, then the steps from it (empty for the root itself).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RetainerKey {
    /// `main.registry`, `goroutine main.worker buf`.
    pub root: String,
    /// `TYPE` for the object the root points to (`VIA → TYPE` when the root's pointer is a
    /// field of it: `.handlers[3] → []main.handler backing array`), then `VIA → TYPE`.
    pub path: Vec<String>,
}

/// What a named retainer retains in one dump.
#[derive(Clone, Debug)]
pub struct Retained {
    pub key: RetainerKey,
    /// The nearest recorded retainer that dominates it (an index into the same list); None for
    /// a root.
    pub parent: Option<usize>,
    pub bytes: u64,
    pub objects: u64,
    /// For a root: how many roots have that name (the goroutines with that function and
    /// variable); for a part, the objects of that name.
    pub count: usize,
}

/// Goroutines of one stack and creator.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StackKey {
    pub frames: Vec<(String, String, u32)>,
    pub created_by: Option<(String, String, u32)>,
}

/// Goroutines of one stack in one dump.
#[derive(Clone, Debug)]
pub struct StackGroup {
    pub key: StackKey,
    pub count: usize,
    /// Where they are in the program's code: the first frame shown outside `sync` (as the
    /// report's groups).
    pub location: Option<Location>,
    pub created_by: Option<Location>,
    /// Of the first of them.
    pub status: Status,
    pub wait_reason: Option<String>,
    /// The frames the runtime's traceback shows.
    pub frames: Vec<Frame>,
}

/// What [`diff`] needs of one dump.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub path: String,
    pub pid: u64,
    pub identity: Identity,
    /// The runtime's clock at the dump (approximately: [`Process::estimate_now`]).
    pub nanotime: Option<i64>,
    pub missing_bytes: u64,
    pub reachable_objects: u64,
    pub reachable_bytes: u64,
    /// Not counting the runtime's own.
    pub goroutines: usize,
    pub types: HashMap<String, TypeCounts>,
    pub retainers: Vec<Retained>,
    /// Parts (below the roots) retaining less are not recorded.
    pub record_min: u64,
    pub groups: Vec<StackGroup>,
    pub warnings: Vec<String>,
}

/// Analyse one dump and summarise it; the heap analysis is freed before returning.
pub fn snapshot(p: &Process) -> Result<Snapshot> {
    let t = Timings::start();
    let gs = p.goroutines()?;
    let a = HeapAnalysis::run_with(p, true)?;
    let s = Snapshot::take(&a, &gs);
    t.lap("diff: snapshot");
    drop(a);
    drop(gs);
    release_freed_memory();
    s
}

impl Snapshot {
    /// The summary of one analysed dump.
    pub fn take(a: &HeapAnalysis, gs: &[Goroutine]) -> Result<Snapshot> {
        let p = a.p;
        let mut warnings = a.warnings.clone();
        let mut record_min = (a.reach.bytes / 4000).max(MIN_NOISE / 4);
        let (types, retainers) = match a.dominators() {
            Ok(dom) => {
                let t = Timings::start();
                let per_root = RootTotals::compute(a, dom);
                t.lap("diff: root totals");
                let (r, min) = retainers(a, dom, &per_root, record_min);
                record_min = min;
                let types = types(a, Some(dom));
                t.lap("diff: types");
                (types, r)
            }
            Err(e) => {
                warnings.push(format!("no retainers: {e}"));
                (types(a, None), Vec::new())
            }
        };
        Ok(Snapshot {
            path: p.dump.path.display().to_string(),
            pid: p.dump.process.pid,
            identity: Identity::of(p),
            nanotime: p.estimate_now().map(|n| n.nanotime),
            missing_bytes: p.dump.missing_bytes,
            reachable_objects: a.reach.objects,
            reachable_bytes: a.reach.bytes,
            goroutines: gs.iter().filter(|g| !g.runtime_internal).count(),
            types,
            retainers,
            record_min,
            groups: stack_groups(gs),
            warnings,
        })
    }

    fn retainer_index(&self) -> HashMap<&RetainerKey, usize> {
        self.retainers.iter().enumerate().map(|(i, r)| (&r.key, i)).collect()
    }
}

/// What an object is, for ownership and naming.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A value of the program: owns the storage it dominates.
    Value,
    /// Storage: a backing array, string bytes, a channel's buffer, untyped.
    Storage,
    /// A map's internal object other than its header (storage too, and no name of its own).
    MapInternal,
}

fn roles(a: &HeapAnalysis) -> Vec<Role> {
    a.typing
        .entries
        .iter()
        .map(|e| match e.kind {
            ObjKind::Map(_, MapPart::Header) => Role::Value,
            ObjKind::Map(..) => Role::MapInternal,
            // The heap's own record types a big map's parts by their run-time types.
            ObjKind::Value(TyRef::Runtime(t)) if map_internal_type(a, t, 2) => Role::MapInternal,
            ObjKind::StringBytes | ObjKind::ChanBuffer(_) => Role::Storage,
            ObjKind::Value(_) if e.array => Role::Storage,
            _ => Role::Value,
        })
        .collect()
}

/// A type of a map's internal objects, or a pointer to one (a directory of tables, a list of
/// overflow buckets): swiss tables (`internal/runtime/maps.table`), groups (`map.group[K]V`)
/// and old buckets (`map.bucket[K]V`), as the heap's record names them (a big map's
/// directory, tables and groups carry it; propagation from the map's header gives them their
/// [`MapPart`] instead).
fn map_internal_type(a: &HeapAnalysis, t: u64, ptrs: u32) -> bool {
    let Ok(ty) = a.types.get(t) else { return false };
    if ty.name.starts_with("map.group[") || ty.name.starts_with("map.bucket[") {
        return true;
    }
    if ty.name == "maps.table" && ty.pkg_path.as_deref() == Some("internal/runtime/maps") {
        return true;
    }
    ptrs > 0 && ty.kind == Kind::Pointer && ty.elem().is_some_and(|e| map_internal_type(a, e, ptrs - 1))
}

fn role(a: &HeapAnalysis, roles: &[Role], o: u32) -> Role {
    roles.get(a.typing.entry_index(o) as usize).copied().unwrap_or(Role::Storage)
}

/// Reachable objects and bytes by type name, and owned bytes (with the dominator tree).
fn types(a: &HeapAnalysis, dom: Option<&Dominators>) -> HashMap<String, TypeCounts> {
    let mut out: HashMap<String, TypeCounts> = HashMap::default();
    for r in a.histogram().types.iter().filter(|r| r.reachable_objects > 0) {
        let c = out.entry(r.type_name.clone()).or_default();
        c.objects += r.reachable_objects;
        c.bytes += r.reachable_bytes;
    }
    let Some(dom) = dom else { return out };
    let roles = roles(a);
    let n = a.typing.entries.len();
    let owned = a
        .heap
        .par_object_runs()
        .fold(
            || vec![0u64; n + 1],
            |mut acc, (objs, size, _)| {
                for o in objs.filter(|&o| a.reach.is_reachable(o)) {
                    let owner = owner(a, dom, &roles, o);
                    let e = (a.typing.entry_index(owner) as usize).min(n);
                    acc[e] += size;
                }
                acc
            },
        )
        .reduce(
            || vec![0u64; n + 1],
            |mut x, y| {
                x.iter_mut().zip(&y).for_each(|(a, b)| *a += b);
                x
            },
        );
    for (i, &b) in owned.iter().enumerate().filter(|(_, b)| **b > 0) {
        let name = a.typing.entries.get(i).map_or("untyped", |e| e.name.as_str());
        out.entry(name.to_string()).or_default().owned_bytes += b;
    }
    out
}

/// The nearest object dominating `o` (itself included) that is a value of the program; `o`
/// if none is.
fn owner(a: &HeapAnalysis, dom: &Dominators, roles: &[Role], o: u32) -> u32 {
    let mut cur = o;
    for _ in 0..64 {
        if role(a, roles, cur) == Role::Value {
            return cur;
        }
        match dom.idom(Node::Object(cur)) {
            Some(Node::Object(d)) => cur = d,
            _ => return o,
        }
    }
    o
}

/// What each root retains: the sum over the objects it immediately dominates (each root
/// looked up once: [`Dominators::retained`] of a root searches the list of roots).
struct RootTotals {
    /// Per root index: bytes, objects.
    by_root: HashMap<u32, (u64, u64)>,
}

impl RootTotals {
    fn compute(a: &HeapAnalysis, dom: &Dominators) -> RootTotals {
        let size = |o: u32| a.heap.size(o);
        let pairs: Vec<(u32, u64, u64)> = a
            .heap
            .par_object_runs()
            .flat_map_iter(|(objs, _, _)| {
                objs.filter_map(|o| match dom.idom(Node::Object(o)) {
                    Some(Node::Root(r)) => {
                        let (b, n) = dom.retained(Node::Object(o), size);
                        Some((r, b, n as u64))
                    }
                    _ => None,
                })
            })
            .collect();
        let mut by_root: HashMap<u32, (u64, u64)> = HashMap::default();
        for (r, b, n) in pairs {
            let e = by_root.entry(r).or_default();
            e.0 += b;
            e.1 += n;
        }
        RootTotals { by_root }
    }
}

/// A root's name without what differs between dumps of one program: a goroutine's id
/// (`goroutine 17 main.worker buf` → `goroutine main.worker buf`) and heap addresses
/// (`finalizer for 0xc000123400 (main.T)` → `finalizer for 0x… (main.T)`).
pub fn stable_root_name(name: &str) -> String {
    let name = match name.strip_prefix("goroutine ") {
        Some(rest) => {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            match rest[digits..].strip_prefix(' ') {
                Some(tail) if digits > 0 => format!("goroutine {tail}"),
                _ => name.to_string(),
            }
        }
        None => name.to_string(),
    };
    strip_addresses(&name)
}

/// Hex numbers of 0x10000 and more (addresses, not offsets) become `0x…`.
fn strip_addresses(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("0x") {
        out.push_str(&rest[..i]);
        let hex = &rest[i + 2..];
        let n = hex.bytes().take_while(u8::is_ascii_hexdigit).count();
        if n > 4 || (n > 0 && u64::from_str_radix(&hex[..n], 16).is_ok_and(|v| v >= 0x10000)) {
            out.push_str("0x…");
        } else {
            out.push_str(&rest[i..i + 2 + n]);
        }
        rest = &hex[n..];
    }
    out.push_str(rest);
    out
}

/// Offsets of pointers between objects, for naming steps: the pointers of big objects to the
/// objects the paths need are found in one scan of each (a big array of pointers is scanned
/// once, not once for each of its elements a path goes through).
struct Offsets<'a, 'p> {
    a: &'a HeapAnalysis<'p>,
    /// (big object, target) → offset of its first pointer to the target.
    big: HashMap<(u32, u32), u32>,
    /// Big objects whose pointers the heap does not know (looked up one target at a time).
    unknown: HashSet<u32>,
}

impl<'a, 'p> Offsets<'a, 'p> {
    /// For these paths.
    fn new(a: &'a HeapAnalysis<'p>, paths: &[Option<Vec<Step>>]) -> Offsets<'a, 'p> {
        let mut wanted: HashMap<u32, HashSet<u32>> = HashMap::default();
        for steps in paths.iter().flatten() {
            let objs: Vec<u32> = steps
                .iter()
                .filter_map(|s| match *s {
                    Step::Object { obj, .. } => Some(obj),
                    _ => None,
                })
                .collect();
            for w in objs.windows(2).filter(|w| a.heap.size(w[0]) >= BIG_OBJECT) {
                wanted.entry(w[0]).or_default().insert(w[1]);
            }
        }
        // (big object, (target, offset) of its pointers to the targets wanted, or None).
        type Scan = (u32, Option<Vec<(u32, u32)>>);
        let scanned: Vec<Scan> = wanted
            .into_par_iter()
            .map(|(from, targets)| {
                let mut found: HashMap<u32, u32> = HashMap::default();
                let info = a.heap.for_each_pointer(a.p, from, |off, v| {
                    if let (Some(t), Ok(off)) = (a.heap.find_object(v), u32::try_from(off)) {
                        if targets.contains(&t) {
                            found.entry(t).or_insert(off);
                        }
                    }
                });
                let known = !matches!(info, PointerInfo::Unknown(_));
                (from, known.then(|| found.into_iter().collect()))
            })
            .collect();
        let mut o = Offsets { a, big: HashMap::default(), unknown: HashSet::default() };
        for (from, found) in scanned {
            match found {
                Some(f) => o.big.extend(f.into_iter().map(|(t, off)| ((from, t), off))),
                None => {
                    o.unknown.insert(from);
                }
            }
        }
        o
    }

    fn of(&self, from: u32, to: u32) -> Option<u32> {
        let (p, heap) = (self.a.p, &self.a.heap);
        if heap.size(from) < BIG_OBJECT || self.unknown.contains(&from) {
            return first_pointer_to(p, heap, from, to);
        }
        self.big.get(&(from, to)).copied()
    }
}

/// The roots by name, then the parts inside them retaining `min` bytes or more (see the module
/// documentation), and the least a part retains to be recorded: `min`, or more if there were
/// more than [`MAX_PARTS`].
fn retainers(
    a: &HeapAnalysis,
    dom: &Dominators,
    per_root: &RootTotals,
    mut min: u64,
) -> (Vec<Retained>, u64) {
    let t = Timings::start();
    // Roots, by stable name.
    let mut out: Vec<Retained> = Vec::new();
    let mut index: HashMap<RetainerKey, usize> = HashMap::default();
    let mut root_entry: HashMap<u32, usize> = HashMap::default();
    let mut names: HashMap<u32, String> = HashMap::default();
    for (i, r) in a.roots.roots.iter().enumerate() {
        let name = stable_root_name(&r.name);
        let key = RetainerKey { root: name.clone(), path: Vec::new() };
        let k = *index.entry(key.clone()).or_insert_with(|| {
            out.push(Retained { key, parent: None, bytes: 0, objects: 0, count: 0 });
            out.len() - 1
        });
        let (b, o) = per_root.by_root.get(&(i as u32)).copied().unwrap_or_default();
        out[k].bytes += b;
        out[k].objects += o;
        out[k].count += 1;
        root_entry.insert(i as u32, k);
        names.insert(i as u32, name);
    }
    // Parts: objects retaining at least `min` (big leaves too), under one root, not too deep.
    let roles = roles(a);
    let mut candidates: Vec<(u32, u64, u64)> = dom
        .retaining_at_least(min)
        .into_iter()
        .filter_map(|r| match r.node {
            Node::Object(o) => Some((o, r.retained_bytes, r.retained_objects as u64)),
            _ => None,
        })
        .collect();
    let listed: HashSet<u32> = candidates.iter().map(|c| c.0).collect();
    let leaves: Vec<(u32, u64, u64)> = a
        .heap
        .par_object_runs()
        .filter(|(_, size, _)| *size >= min)
        .flat_map_iter(|(objs, size, _)| {
            objs.filter(|&o| a.reach.is_reachable(o) && !listed.contains(&o)).map(move |o| (o, size, 1))
        })
        .collect();
    candidates.extend(leaves);
    // Under which root, through which recorded part.
    struct Part {
        obj: u32,
        bytes: u64,
        objects: u64,
        root: u32,
        parent: Option<u32>,
    }
    let mut parts: Vec<Part> = candidates
        .into_par_iter()
        .filter_map(|(o, bytes, objects)| {
            if role(a, &roles, o) == Role::MapInternal {
                return None;
            }
            let (mut cur, mut depth, mut parent) = (o, 1, None);
            loop {
                match dom.idom(Node::Object(cur))? {
                    Node::Object(d) => {
                        if role(a, &roles, d) != Role::MapInternal {
                            depth += 1;
                            parent.get_or_insert(d);
                            if depth > MAX_DEPTH {
                                return None;
                            }
                        }
                        cur = d;
                    }
                    Node::Root(r) => return Some(Part { obj: o, bytes, objects, root: r, parent }),
                    Node::SuperRoot => return None,
                }
            }
        })
        .collect();
    // Parts under a root that is not alone under its name are not recorded (see the module
    // documentation).
    parts.retain(|p| root_entry.get(&p.root).is_some_and(|&k| out[k].count == 1));
    parts.sort_by_key(|p| (std::cmp::Reverse(p.bytes), p.obj));
    if parts.len() > MAX_PARTS {
        // Those retaining as much as the first left out are left out too: what is recorded is
        // all that retains `min` or more.
        min = parts[MAX_PARTS].bytes + 1;
        parts.retain(|p| p.bytes >= min);
    }
    t.lap("diff: parts");
    // Name each part by its path from its root.
    let paths: Vec<Option<Vec<Step>>> = parts.par_iter().map(|p| a.reach.path_to(&a.graph, p.obj)).collect();
    let mut first_edges: HashMap<(u32, u32), u64> = paths
        .iter()
        .filter_map(|s| match s.as_deref()? {
            [Step::Root(r), Step::Object { obj, .. }, ..] => Some(((*r, *obj), u64::MAX)),
            _ => None,
        })
        .collect();
    for e in &a.roots.edges {
        if let Some(off) = first_edges.get_mut(&(e.root, e.object)) {
            if *off == u64::MAX {
                *off = e.offset;
            }
        }
    }
    let offsets = Offsets::new(a, &paths);
    // Each part's entry (parts of one name share it), then each entry's parent: the entry of
    // the nearest part above it, else its root's.
    let mut part_entry: HashMap<u32, usize> = HashMap::default();
    for (p, steps) in parts.iter().zip(paths) {
        let Some(path) = steps.and_then(|s| name_steps(a, &roles, &s, p.root, &first_edges, &offsets)) else {
            continue;
        };
        let key = RetainerKey { root: names[&p.root].clone(), path };
        let k = match index.entry(key) {
            MapEntry::Occupied(e) => *e.get(),
            MapEntry::Vacant(e) => {
                let r = Retained { key: e.key().clone(), parent: None, bytes: 0, objects: 0, count: 0 };
                out.push(r);
                *e.insert(out.len() - 1)
            }
        };
        out[k].bytes += p.bytes;
        out[k].objects += p.objects;
        out[k].count += 1;
        part_entry.insert(p.obj, k);
    }
    for p in &parts {
        let Some(&k) = part_entry.get(&p.obj) else { continue };
        if out[k].parent.is_none() {
            let up = p.parent.and_then(|o| part_entry.get(&o)).filter(|&&u| u != k);
            out[k].parent = Some(up.copied().unwrap_or(root_entry[&p.root]));
        }
    }
    t.lap("diff: names");
    (out, min)
}

/// The steps of a path from root `root`, named without addresses, a map's internal objects
/// left out; None if the path is not from that root.
fn name_steps(
    a: &HeapAnalysis,
    roles: &[Role],
    steps: &[Step],
    root: u32,
    first_edges: &HashMap<(u32, u32), u64>,
    offsets: &Offsets,
) -> Option<Vec<String>> {
    let (&Step::Root(r), rest) = steps.split_first()? else { return None };
    if r != root {
        return None;
    }
    let mut out = Vec::new();
    let mut prev: Option<u32> = None;
    for s in rest {
        let Step::Object { obj, .. } = *s else { continue };
        let via = match prev {
            None => {
                let rt = a.roots.roots.get(r as usize)?;
                let full = match first_edges.get(&(r, obj)) {
                    Some(&offset) if offset != u64::MAX => {
                        let e = crate::runtime::roots::RootEdge { root: r, object: obj, offset };
                        a.roots.path(a.p, &e)
                    }
                    _ => rt.name.clone(),
                };
                strip_addresses(full.strip_prefix(rt.name.as_str()).unwrap_or("").trim())
            }
            Some(p) => match offsets.of(p, obj) {
                Some(off) => field_name(a, p, off as u64),
                None => "?".to_string(),
            },
        };
        prev = Some(obj);
        if role(a, roles, obj) == Role::MapInternal {
            continue;
        }
        let ty = a.type_name(obj);
        out.push(if via.is_empty() { ty } else { format!("{via} → {ty}") });
    }
    Some(out)
}

fn stack_groups(gs: &[Goroutine]) -> Vec<StackGroup> {
    let loc = |l: &Location| (l.function.clone(), l.file.clone(), l.line);
    let mut index: HashMap<StackKey, usize> = HashMap::default();
    let mut out: Vec<StackGroup> = Vec::new();
    for g in gs.iter().filter(|g| !g.runtime_internal) {
        let key = StackKey {
            frames: g.frames.iter().map(|f| (f.function.clone(), f.file.clone(), f.line)).collect(),
            created_by: g.created_by.as_ref().map(loc),
        };
        match index.entry(key) {
            MapEntry::Occupied(e) => out[*e.get()].count += 1,
            MapEntry::Vacant(e) => {
                let at = super::diagnose::findings::block_frame(&g.frames);
                out.push(StackGroup {
                    key: e.key().clone(),
                    count: 1,
                    location: at.map(|f| Location {
                        function: f.function.clone(),
                        file: f.file.clone(),
                        line: f.line,
                    }),
                    created_by: g.created_by.clone(),
                    status: g.status,
                    wait_reason: g.wait_reason.clone(),
                    frames: g.frames.iter().filter(|f| f.shown_by_default()).cloned().collect(),
                });
                e.insert(out.len() - 1);
            }
        }
    }
    out
}

/// A type's change.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TypeDelta {
    #[serde(rename = "type")]
    pub type_name: String,
    pub objects_delta: i64,
    pub bytes_delta: i64,
    pub owned_bytes_delta: i64,
    pub old: TypeCounts,
    pub new: TypeCounts,
}

impl TypeDelta {
    /// What the list is sorted by: [`type_growth`].
    pub fn growth(&self) -> i64 {
        type_growth(self.owned_bytes_delta, self.bytes_delta)
    }
}

/// A type's growth: the larger, in size, of the changes of its owned bytes and of its bytes: a
/// value by what it owns (its own bytes included), storage by its own bytes (most of which its
/// owners own), so that a type ranks above the storage it owns.
pub fn type_growth(owned_bytes_delta: i64, bytes_delta: i64) -> i64 {
    if owned_bytes_delta.unsigned_abs() >= bytes_delta.unsigned_abs() {
        owned_bytes_delta
    } else {
        bytes_delta
    }
}

/// A retainer's change.
#[derive(Clone, Debug)]
pub struct RetainerDelta {
    pub key: RetainerKey,
    pub bytes_delta: i64,
    pub objects_delta: i64,
    pub old_bytes: u64,
    pub new_bytes: u64,
    /// Roots of that name (a root), or objects of that name (a part), in the new dump (the old
    /// one if it is gone).
    pub count: usize,
}

/// A goroutine group's change.
#[derive(Clone, Debug)]
pub struct GroupDelta {
    pub count_delta: i64,
    pub old_count: usize,
    pub new_count: usize,
    /// As in the new dump (the old one if none is left).
    pub group: StackGroup,
}

/// What changed from one dump to the other; each list sorted by growth, the largest first,
/// what shrank last (the most last), what did not change left out.
#[derive(Clone, Debug)]
pub struct Diff {
    /// Retainers changing less are not listed (see the module documentation).
    pub noise_bytes: u64,
    /// Seconds between the dumps, by the runtime's clock, when both are of one process.
    pub elapsed_seconds: Option<f64>,
    pub types: Vec<TypeDelta>,
    pub retainers: Vec<RetainerDelta>,
    pub goroutine_groups: Vec<GroupDelta>,
    pub warnings: Vec<String>,
}

fn delta(old: u64, new: u64) -> i64 {
    new as i64 - old as i64
}

/// Compare two summaries of one program (check [`check_same_program`] first).
pub fn diff(old: &Snapshot, new: &Snapshot) -> Diff {
    let mut warnings = Vec::new();
    let same_process = old.pid == new.pid && old.pid != 0;
    let elapsed_seconds = match (old.nanotime, new.nanotime) {
        (Some(a), Some(b)) if same_process => Some((b - a) as f64 / 1e9),
        _ => None,
    };
    if !same_process {
        warnings.push(format!(
            "the dumps are of different processes of the program (pid {} and {}): what differs may be \
             what each process was doing rather than growth",
            old.pid, new.pid
        ));
    }
    if elapsed_seconds.is_some_and(|s| s < 0.0) {
        warnings.push(
            "the new dump was taken before the old one (by the runtime's clock): growth shows as shrinking; \
             swap them"
                .into(),
        );
    }
    // Types.
    let mut types: Vec<TypeDelta> = old
        .types
        .keys()
        .chain(new.types.keys().filter(|k| !old.types.contains_key(*k)))
        .filter_map(|name| {
            let (o, n) = (
                old.types.get(name).copied().unwrap_or_default(),
                new.types.get(name).copied().unwrap_or_default(),
            );
            (o != n).then(|| TypeDelta {
                type_name: name.clone(),
                objects_delta: delta(o.objects, n.objects),
                bytes_delta: delta(o.bytes, n.bytes),
                owned_bytes_delta: delta(o.owned_bytes, n.owned_bytes),
                old: o,
                new: n,
            })
        })
        .collect();
    types.sort_by(|a, b| {
        (b.growth(), b.objects_delta)
            .cmp(&(a.growth(), a.objects_delta))
            .then_with(|| a.type_name.cmp(&b.type_name))
    });
    // Retainers.
    let noise_bytes = noise(old, new);
    let retainers = retainer_deltas(old, new, noise_bytes);
    // Goroutine groups.
    let old_groups: HashMap<&StackKey, &StackGroup> = old.groups.iter().map(|g| (&g.key, g)).collect();
    let new_keys: HashSet<&StackKey> = new.groups.iter().map(|g| &g.key).collect();
    let mut goroutine_groups: Vec<GroupDelta> = new
        .groups
        .iter()
        .map(|g| (old_groups.get(&g.key).map_or(0, |o| o.count), g))
        .chain(old.groups.iter().filter(|g| !new_keys.contains(&g.key)).map(|g| (g.count, g)))
        .filter_map(|(old_count, g)| {
            let new_count = if new_keys.contains(&g.key) { g.count } else { 0 };
            (old_count != new_count).then(|| GroupDelta {
                count_delta: new_count as i64 - old_count as i64,
                old_count,
                new_count,
                group: g.clone(),
            })
        })
        .collect();
    let fn_name = |g: &GroupDelta| g.group.location.as_ref().map(|l| l.function.clone()).unwrap_or_default();
    goroutine_groups
        .sort_by(|a, b| b.count_delta.cmp(&a.count_delta).then_with(|| fn_name(a).cmp(&fn_name(b))));
    Diff { noise_bytes, elapsed_seconds, types, retainers, goroutine_groups, warnings }
}

/// The noise threshold of two dumps: four times the larger of their `record_min`.
pub fn noise(old: &Snapshot, new: &Snapshot) -> u64 {
    4 * old.record_min.max(new.record_min).max(MIN_NOISE / 4)
}

/// The retainers that changed by `noise` or more, as their root did (and every part between),
/// without those whose change one of their parts explains (see the module documentation).
fn retainer_deltas<'s>(old: &'s Snapshot, new: &'s Snapshot, noise: u64) -> Vec<RetainerDelta> {
    let (oi, ni) = (old.retainer_index(), new.retainer_index());
    // Every name, as the new dump has it, else the old one.
    struct Row<'s> {
        key: &'s RetainerKey,
        parent: Option<&'s RetainerKey>,
        old: Option<&'s Retained>,
        new: Option<&'s Retained>,
        delta: i64,
    }
    let row = |key: &'s RetainerKey, parent: Option<&'s RetainerKey>| {
        let (o, n) = (oi.get(key).map(|&i| &old.retainers[i]), ni.get(key).map(|&i| &new.retainers[i]));
        Row { key, parent, old: o, new: n, delta: delta(o.map_or(0, |x| x.bytes), n.map_or(0, |x| x.bytes)) }
    };
    let rows: HashMap<&RetainerKey, Row> = new
        .retainers
        .iter()
        .map(|r| (&r.key, row(&r.key, r.parent.map(|p| &new.retainers[p].key))))
        .chain(
            old.retainers
                .iter()
                .filter(|r| !ni.contains_key(&r.key))
                .map(|r| (&r.key, row(&r.key, r.parent.map(|p| &old.retainers[p].key)))),
        )
        .collect();
    // The roots alone under their name in both dumps (or in the one that has them).
    let alone = |root: &str| {
        let key = RetainerKey { root: root.to_string(), path: Vec::new() };
        let o = oi.get(&key).map_or(1, |&i| old.retainers[i].count);
        let n = ni.get(&key).map_or(1, |&i| new.retainers[i].count);
        o == 1 && n == 1
    };
    // Changed beyond the noise, and so did everything above (else it moved inside its root:
    // a pool's buffer from one P to another, an entry replaced by another).
    let changed = |d: i64, by: i64| by.signum() == d.signum() && by.unsigned_abs() >= noise;
    let listed: Vec<&Row> = rows
        .values()
        .filter(|r| r.key.path.is_empty() || alone(&r.key.root))
        .filter(|r| {
            let mut up = Some(*r);
            for _ in 0..=MAX_DEPTH + 1 {
                let Some(u) = up else { return true };
                if !changed(r.delta, u.delta) {
                    return false;
                }
                up = u.parent.and_then(|p| rows.get(p));
            }
            true
        })
        .collect();
    // A change one part explains within the noise is that part's.
    let explained: HashSet<&RetainerKey> = listed
        .iter()
        .filter_map(|r| {
            let p = rows.get(r.parent?)?;
            (r.delta.unsigned_abs() + noise >= p.delta.unsigned_abs()).then_some(p.key)
        })
        .collect();
    let mut out: Vec<RetainerDelta> = listed
        .into_iter()
        .filter(|r| !explained.contains(r.key))
        .map(|r| RetainerDelta {
            key: r.key.clone(),
            bytes_delta: r.delta,
            objects_delta: delta(r.old.map_or(0, |x| x.objects), r.new.map_or(0, |x| x.objects)),
            old_bytes: r.old.map_or(0, |x| x.bytes),
            new_bytes: r.new.map_or(0, |x| x.bytes),
            count: r.new.or(r.old).map_or(0, |x| x.count),
        })
        .collect();
    out.sort_by(|a, b| {
        b.bytes_delta
            .cmp(&a.bytes_delta)
            .then_with(|| a.key.root.cmp(&b.key.root))
            .then_with(|| a.key.path.cmp(&b.key.path))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_names() {
        assert_eq!(stable_root_name("goroutine 17 main.worker buf"), "goroutine main.worker buf");
        assert_eq!(stable_root_name("goroutine 17 defer record"), "goroutine defer record");
        assert_eq!(stable_root_name("main.cache"), "main.cache");
        assert_eq!(stable_root_name("goroutine x"), "goroutine x");
        assert_eq!(stable_root_name("finalizer for 0xc000123400 (main.T)"), "finalizer for 0x… (main.T)");
        assert_eq!(stable_root_name("main.buf+0x10"), "main.buf+0x10");
        assert_eq!(
            stable_root_name("queued finalizer 3 of block 0xc000123400"),
            "queued finalizer 3 of block 0x…"
        );
    }

    /// (root, path, index of the parent, bytes, count)
    type Row<'a> = (&'a str, &'a [&'a str], Option<usize>, u64, usize);

    /// A summary with these retainers.
    fn snap(reachable: u64, rs: &[Row]) -> Snapshot {
        Snapshot {
            path: String::new(),
            pid: 1,
            identity: Identity::default(),
            nanotime: None,
            missing_bytes: 0,
            reachable_objects: 0,
            reachable_bytes: reachable,
            goroutines: 0,
            types: HashMap::default(),
            retainers: rs
                .iter()
                .map(|&(root, path, parent, bytes, count)| Retained {
                    key: RetainerKey {
                        root: root.into(),
                        path: path.iter().map(|s| s.to_string()).collect(),
                    },
                    parent,
                    bytes,
                    objects: bytes / 100,
                    count,
                })
                .collect(),
            record_min: (reachable / 4000).max(MIN_NOISE / 4),
            groups: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn rows(d: &Diff) -> Vec<(String, Vec<String>, i64)> {
        d.retainers.iter().map(|r| (r.key.root.clone(), r.key.path.clone(), r.bytes_delta)).collect()
    }

    #[test]
    fn retainer_rules() {
        const K: u64 = 1024;
        let old = snap(
            4000 * K,
            &[
                // 0: grows through one part (the map header): the part stands for it.
                ("main.registry", &[], None, 100 * K, 1),
                ("main.registry", &["map header"], Some(0), 99 * K, 1),
                // 2: a pool whose buffer moved from one P to another: nothing grew.
                ("main.pool", &[], None, 37 * K, 1),
                ("main.pool", &[".local → array", "[0].private → buf"], Some(2), 32 * K, 1),
                // 4: churns within the noise.
                ("main.cache", &[], None, 280 * K, 1),
                // 5: shrinks.
                ("main.gone", &[], None, 500 * K, 1),
                // 6: 200 goroutines' variable; a part of one of them.
                ("goroutine main.pump ch", &[], None, 200 * K, 200),
                ("goroutine main.pump ch", &["chan"], Some(6), 20 * K, 1),
            ],
        );
        let new = snap(
            4000 * K,
            &[
                ("main.registry", &[], None, 2100 * K, 1),
                ("main.registry", &["map header"], Some(0), 2099 * K, 1),
                ("main.pool", &[], None, 37 * K, 1),
                ("main.pool", &[".local → array", "[1].private → buf"], Some(2), 32 * K, 1),
                ("main.cache", &[], None, 285 * K, 1),
                // 5: new, with two parts that grew, neither the whole of it.
                ("main.app", &[], None, 200 * K, 1),
                ("main.app", &["main.App"], Some(5), 200 * K, 1),
                ("main.app", &["main.App", ".sessions → map header"], Some(6), 120 * K, 1),
                ("main.app", &["main.App", ".logs → []main.log backing array"], Some(6), 80 * K, 1),
                ("goroutine main.pump ch", &[], None, 400 * K, 400),
                ("goroutine main.pump ch", &["chan"], Some(9), 90 * K, 1),
            ],
        );
        let d = diff(&old, &new);
        assert_eq!(d.noise_bytes, 16 * K);
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            rows(&d),
            vec![
                ("main.registry".into(), s(&["map header"]), 2000 * K as i64),
                ("goroutine main.pump ch".into(), vec![], 200 * K as i64),
                ("main.app".into(), s(&["main.App"]), 200 * K as i64),
                ("main.app".into(), s(&["main.App", ".sessions → map header"]), 120 * K as i64),
                ("main.app".into(), s(&["main.App", ".logs → []main.log backing array"]), 80 * K as i64),
                ("main.gone".into(), vec![], -500 * K as i64),
            ]
        );
        assert_eq!(d.retainers[1].count, 400);
        // The bigger heap sets the noise.
        let big = snap(100_000 * K, &[]);
        assert_eq!(diff(&old, &big).noise_bytes, 4 * (100_000 * K / 4000));
    }

    fn id(build: Option<&str>, rev: Option<&str>) -> Identity {
        Identity {
            go_build_id: build.map(str::to_string),
            go_version: "go1.26.6".into(),
            program: "example.com/x".into(),
            main_module: Some(("example.com/x".into(), "(devel)".into())),
            vcs_revision: rev.map(str::to_string),
            vcs_modified: None,
        }
    }

    #[test]
    fn identities() {
        assert!(id(Some("a/b"), None).same_build(&id(Some("a/b"), None)));
        assert!(!id(Some("a/b"), None).same_build(&id(Some("a/c"), None)));
        // Without a build ID on one side, the build info decides.
        assert!(id(None, Some("r1")).same_build(&id(Some("a/b"), Some("r1"))));
        assert!(!id(None, Some("r1")).same_build(&id(Some("a/b"), Some("r2"))));
        let e = check_same_program(
            &id(Some("a/b"), None),
            &id(Some("a/c"), None),
            Path::new("o"),
            Path::new("n"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("Go build ID a/b") && e.contains("Go build ID a/c"), "{e}");
    }

    /// The time and size of one summary of a big dump: `GOMORTEM_DIFF_BENCH=DIR` (with `dump`
    /// and `exe`), release build, with `GOMORTEM_TIMINGS=1` for its phases:
    /// `cargo test --release --lib analysis::diff::tests::snapshot_bench -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn snapshot_bench() {
        let Some(d) = std::env::var_os("GOMORTEM_DIFF_BENCH").map(std::path::PathBuf::from) else {
            return;
        };
        let p = Process::open(&d.join("dump"), Some(&d.join("exe"))).unwrap();
        let t = std::time::Instant::now();
        let s = snapshot(&p).unwrap();
        eprintln!(
            "snapshot in {:.2} s: {} types, {} retainers ({} parts, record_min {}), {} goroutine groups",
            t.elapsed().as_secs_f64(),
            s.types.len(),
            s.retainers.len(),
            s.retainers.iter().filter(|r| !r.key.path.is_empty()).count(),
            s.record_min,
            s.groups.len()
        );
        let mut rs: Vec<&Retained> = s.retainers.iter().collect();
        rs.sort_by_key(|r| std::cmp::Reverse(r.bytes));
        for r in rs.iter().take(12) {
            eprintln!("  {:>12} {} {:?}", r.bytes, r.key.root, r.key.path);
        }
    }
}
