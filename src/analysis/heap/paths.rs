//! Paths from the roots to an object, and the names of their steps.
//!
//! [`distinct_paths`] gives the shortest path (the one [`Reachability::path_to`] gives, so
//! that `path` and `top` agree), then up to N-1 more, each different from those before it:
//! first the shortest from every other root that reaches the object, nearest first (one
//! backward breadth-first search from the object over a predecessor index of the reachable
//! objects, built on demand), then the shortest through every other object that points to it
//! directly (one backward search from that object, the target excluded, so paths stay simple).
//!
//! [`field_name`] names the pointer at an offset of an object as a Go programmer would write
//! it, by the object's type (run-time or DWARF): `.next`, `[17]`, `.local[0].private` (embedded
//! structs elided, as Go's promoted fields are), `["session-00017"]` (a map value, by its key),
//! `key "abc"` (a map key), `.captured` (a closure's capture, by DWARF's
//! `DW_AT_go_closure_offset`, Go 1.23+), `.buf` (a channel's), `*` (an object that is one
//! pointer), `[:]` (one slice or string). An offset nothing names stays `+0x18`.

use std::collections::{HashSet, VecDeque};
use std::fmt::Write as _;

use super::graph::{ObjectGraph, Reachability, Step};
use super::typing::{MapPart, ObjKind, TyRef};
use super::HeapAnalysis;
use crate::exe::dwarf::{Capture, Kind as DKind, TypeId};
use crate::runtime::types::{Detail, Kind, MapInfo};
use crate::runtime::Process;

/// Slots of a swiss-table group or of an old map bucket.
const MAP_SLOTS: u64 = 8;
/// Longest string shown as a map key.
const MAX_KEY: usize = 64;
/// Visits allowed to one backward search before it gives up (a million-object cycle).
const MAX_VISITS: usize = 1 << 24;

/// A path from a root to an object, each step named.
#[derive(Clone, Debug)]
pub struct NamedPath {
    /// Index of the root in [`crate::runtime::roots::Roots::roots`].
    pub root: u32,
    /// The root as users name it, down to the pointer taken: `main.cfg.handlers[3]`,
    /// `goroutine 17 main.worker buf`.
    pub root_name: String,
    /// The objects from the root's to the target.
    pub steps: Vec<NamedStep>,
}

#[derive(Clone, Debug)]
pub struct NamedStep {
    pub obj: u32,
    /// The pointer of the previous object taken to reach this one (None for the first).
    pub via: Option<String>,
}

/// The variables the closure function at run-time `entry` captures, by offset (from DWARF,
/// Go 1.23+; see [`crate::exe::dwarf::Capture`]); empty if DWARF does not say.
pub fn captures(p: &Process, entry: u64) -> &[Capture] {
    p.exe
        .dwarf
        .as_ref()
        .and_then(|d| d.frame_locals(&p.exe.image).ok())
        .map_or(&[], |l| l.captures(entry.wrapping_sub(p.bias)))
}

/// Predecessors of the reachable objects, in compressed rows.
struct Preds {
    offsets: Vec<u64>,
    sources: Vec<u32>,
}

impl Preds {
    fn build(g: &ObjectGraph, reach: &Reachability) -> Preds {
        let n = g.len() as usize;
        let mut offsets = vec![0u64; n + 1];
        for u in (0..g.len()).filter(|&u| reach.is_reachable(u)) {
            for &v in g.targets(u) {
                offsets[v as usize + 1] += 1;
            }
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let mut fill: Vec<u64> = offsets[..n].to_vec();
        let mut sources = vec![0u32; offsets[n] as usize];
        for u in (0..g.len()).filter(|&u| reach.is_reachable(u)) {
            for &v in g.targets(u) {
                let f = &mut fill[v as usize];
                sources[*f as usize] = u;
                *f += 1;
            }
        }
        Preds { offsets, sources }
    }

    fn of(&self, v: u32) -> &[u32] {
        let (a, b) = (self.offsets[v as usize] as usize, self.offsets[v as usize + 1] as usize);
        &self.sources[a..b]
    }
}

/// Backward searches over [`Preds`], sharing their arrays (a search stamp instead of clearing).
struct Search<'a> {
    g: &'a ObjectGraph,
    preds: &'a Preds,
    /// (object, root) of every root edge, sorted.
    root_of: Vec<(u32, u32)>,
    stamp: Vec<u32>,
    next: Vec<u32>,
    run: u32,
}

impl<'a> Search<'a> {
    fn new(a: &'a HeapAnalysis, preds: &'a Preds) -> Search<'a> {
        let mut root_of: Vec<(u32, u32)> = a.roots.edges.iter().map(|e| (e.object, e.root)).collect();
        root_of.sort_unstable();
        root_of.dedup();
        let n = a.graph.len() as usize;
        Search { g: &a.graph, preds, root_of, stamp: vec![0; n], next: vec![0; n], run: 0 }
    }

    fn roots_of(&self, o: u32) -> impl Iterator<Item = u32> + '_ {
        let i = self.root_of.partition_point(|e| e.0 < o);
        self.root_of[i..].iter().take_while(move |e| e.0 == o).map(|e| e.1)
    }

    /// Search back from `from` (never through `avoid`); `found(root, object)` is called for
    /// every root edge met, nearest first, and stops the search by returning true.
    fn run(&mut self, from: u32, avoid: Option<u32>, mut found: impl FnMut(&Self, u32, u32) -> bool) {
        self.run += 1;
        let run = self.run;
        self.stamp[from as usize] = run;
        self.next[from as usize] = u32::MAX;
        let mut queue = VecDeque::from([from]);
        let mut visits = 0usize;
        while let Some(u) = queue.pop_front() {
            for r in self.roots_of(u).collect::<Vec<_>>() {
                if found(self, r, u) {
                    return;
                }
            }
            for &w in self.preds.of(u) {
                if self.stamp[w as usize] != run && Some(w) != avoid {
                    self.stamp[w as usize] = run;
                    self.next[w as usize] = u;
                    queue.push_back(w);
                }
            }
            visits += 1;
            if visits > MAX_VISITS {
                return;
            }
        }
    }

    /// The steps from root `r` through `u` along the search's `next` links.
    fn steps(&self, r: u32, u: u32) -> Vec<Step> {
        let mut out = vec![Step::Root(r), Step::Object { obj: u, field: None }];
        let mut cur = u;
        while let Some(&n) = self.next.get(cur as usize).filter(|&&n| n != u32::MAX) {
            out.push(Step::Object { obj: n, field: field_of(self.g, cur, n) });
            cur = n;
        }
        out
    }
}

/// The offset of the (first) pointer from `a` to `b`.
fn field_of(g: &ObjectGraph, a: u32, b: u32) -> Option<u32> {
    let k = g.targets(a).iter().position(|&t| t == b)?;
    g.field(a, k)
}

fn root_and_last(path: &[Step]) -> (Option<u32>, Option<u32>) {
    let root = match path.first() {
        Some(Step::Root(r)) => Some(*r),
        _ => None,
    };
    let last = match path.len() {
        n if n >= 3 => match path[n - 2] {
            Step::Object { obj, .. } => Some(obj),
            _ => None,
        },
        _ => None,
    };
    (root, last)
}

/// Up to `n` distinct paths from the roots to `obj` (see the module documentation); empty if
/// `obj` is unreachable.
pub fn distinct_paths(a: &HeapAnalysis, obj: u32, n: usize) -> Vec<Vec<Step>> {
    let Some(first) = a.reach.path_to(&a.graph, obj) else {
        return Vec::new();
    };
    let mut out = vec![first];
    if n <= 1 {
        return out;
    }
    let preds = Preds::build(&a.graph, &a.reach);
    let mut s = Search::new(a, &preds);
    let (r0, l0) = root_and_last(&out[0]);
    let mut roots: HashSet<u32> = r0.into_iter().collect();
    let mut lasts: HashSet<Option<u32>> = HashSet::from([l0]);
    // 1. The shortest path from each other root, nearest first.
    let mut found = Vec::new();
    s.run(obj, None, |s, r, u| {
        if roots.insert(r) {
            found.push(s.steps(r, u));
        }
        out.len() + found.len() >= n
    });
    for p in found {
        lasts.insert(root_and_last(&p).1);
        out.push(p);
    }
    // 2. Through each other object that points to `obj`, shortest first.
    let mut holders: Vec<u32> = preds.of(obj).to_vec();
    holders.sort_unstable();
    holders.dedup();
    let mut more: Vec<Vec<Step>> = Vec::new();
    // Each holder costs a search: try a few more than needed (some reach no root but
    // through `obj`), then keep the shortest.
    let tries = n.saturating_mul(4);
    for h in holders.into_iter().filter(|h| !lasts.contains(&Some(*h))).take(tries) {
        if out.len() + more.len() >= n.saturating_mul(2) {
            break;
        }
        let mut best = None;
        s.run(h, Some(obj), |s, r, u| {
            best = Some(s.steps(r, u));
            true
        });
        if let Some(mut p) = best {
            p.push(Step::Object { obj, field: field_of(&a.graph, h, obj) });
            more.push(p);
        }
    }
    more.sort_by_key(|p| p.len());
    out.extend(more);
    out.truncate(n);
    out
}

/// Name the pointer at `off` (from [`crate::runtime::heap::Heap::addr`]) of object `src` by
/// the object's type; `+0xOFF` when nothing names it.
pub fn field_name(a: &HeapAnalysis, src: u32, off: u64) -> String {
    let fallback = || format!("+{off:#x}");
    let hdr = a.heap.header_size(src);
    let (Some(rel), Some(e)) = (off.checked_sub(hdr), a.typing.entry(src)) else {
        return fallback();
    };
    let start = a.heap.addr(src) + hdr;
    let count = a.typing.count(src);
    let mut out = String::new();
    let leaf = match e.kind {
        ObjKind::Value(t) => elems(a, t, e.elem_size, count, e.array, start, rel, &mut out),
        ObjKind::ChanBuffer(t) => elems(a, TyRef::Runtime(t), e.elem_size, count, true, start, rel, &mut out),
        ObjKind::StringBytes => None,
        ObjKind::Closure(entry) => closure_name(a, entry, rel, &mut out),
        ObjKind::Chan(_) => named_struct(a, "runtime.hchan", rel, &mut out),
        ObjKind::Map(m, part) => map_name(a, m, part, start, rel, &mut out),
    };
    match leaf {
        Some(_) if !out.is_empty() => out,
        Some(Leaf::Pointer) => "*".into(),
        Some(Leaf::Slice) => "[:]".into(),
        Some(Leaf::Interface) => ".(…)".into(),
        _ => fallback(),
    }
}

/// What a field path ended at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leaf {
    Pointer,
    /// A slice or string (the pointer to its backing array or bytes).
    Slice,
    Interface,
    /// Anything else, or an offset inside a value the path could not split.
    Other,
}

/// `[i]` of an array object (or of a slot holding several values), then the path in element i.
#[allow(clippy::too_many_arguments)]
fn elems(
    a: &HeapAnalysis,
    t: TyRef,
    size: u64,
    count: u64,
    array: bool,
    start: u64,
    rel: u64,
    out: &mut String,
) -> Option<Leaf> {
    if size == 0 {
        return None;
    }
    let i = rel / size;
    if i >= count.max(1) {
        return None;
    }
    // Map groups are named by the key alone, wherever they are.
    let group = matches!(t, TyRef::Runtime(x) if a.types.get(x).is_ok_and(|t| {
        t.name.starts_with("map.group[") || t.name.starts_with("map.bucket[")
    }));
    if (array || count > 1) && !group {
        let _ = write!(out, "[{i}]");
    }
    value_path(a, t, start + i * size, rel % size, out)
}

/// Append the path, within a value of type `t` at `at`, to the word at `rel`.
fn value_path(a: &HeapAnalysis, t: TyRef, at: u64, rel: u64, out: &mut String) -> Option<Leaf> {
    match t {
        TyRef::Runtime(t) => runtime_path(a, t, at, rel, out),
        TyRef::Dwarf(id) => dwarf_path(a, id, rel, out),
    }
}

fn runtime_path(a: &HeapAnalysis, mut t: u64, mut at: u64, mut rel: u64, out: &mut String) -> Option<Leaf> {
    for _ in 0..32 {
        let ty = a.types.get(t).ok()?;
        if let Some(next) = group_slot(a, &ty, at, rel, out) {
            (t, at, rel) = next;
            continue;
        }
        match (&ty.kind, &ty.detail) {
            (Kind::Struct, Detail::Struct { fields, .. }) => {
                let f = fields
                    .iter()
                    .rev()
                    .find(|f| f.offset <= rel && rel < f.offset + a.types.get(f.ty).map_or(0, |t| t.size))?;
                let aggregate = a.types.get(f.ty).is_ok_and(|t| matches!(t.kind, Kind::Struct | Kind::Array));
                if !(f.embedded && aggregate) {
                    out.push('.');
                    out.push_str(&f.name);
                }
                rel -= f.offset;
                at += f.offset;
                t = f.ty;
            }
            (Kind::Array, Detail::Array { elem, .. }) => {
                let es = a.types.get(*elem).ok()?.size;
                if es == 0 {
                    return None;
                }
                let _ = write!(out, "[{}]", rel / es);
                at += rel / es * es;
                rel %= es;
                t = *elem;
            }
            (k, _) => {
                let leaf = match k {
                    Kind::Pointer | Kind::UnsafePointer | Kind::Map | Kind::Chan | Kind::Func => {
                        Leaf::Pointer
                    }
                    Kind::Slice | Kind::String => Leaf::Slice,
                    Kind::Interface => Leaf::Interface,
                    _ => Leaf::Other,
                };
                return Some(end_at_leaf(leaf, rel, out));
            }
        }
    }
    None
}

/// In a map's group (`map.group[K]V`: `ctrl`, `slots[8]{key, elem}`) or bucket
/// (`map.bucket[K]V`: `topbits`, `keys`, `elems`, `overflow`) that nothing tied to its map
/// (the heap typed it first): name a slot's key `key K` and its value `[K]`, as in
/// [`map_name`]. Returns where to go on (type, address, offset in it); None if `ty` is not a
/// group or `rel` not in a slot.
fn group_slot(
    a: &HeapAnalysis,
    ty: &crate::runtime::types::Type,
    at: u64,
    rel: u64,
    out: &mut String,
) -> Option<(u64, u64, u64)> {
    let Detail::Struct { fields, .. } = &ty.detail else { return None };
    let f = |n: &str| fields.iter().find(|f| f.name == n);
    let size = |t: u64| a.types.get(t).map_or(0, |t| t.size);
    // (key type, key address, value type, value address, offset in the key or value, is key)
    let (kt, ka, vt, va, off, is_key) = if ty.name.starts_with("map.group[") {
        let slots = f("slots")?;
        let st = a.types.get(slots.ty).ok()?;
        let Detail::Array { elem, .. } = st.detail else { return None };
        let es = size(elem);
        let r = rel.checked_sub(slots.offset).filter(|_| es > 0)?;
        let et = a.types.get(elem).ok()?;
        let Detail::Struct { fields: sf, .. } = &et.detail else { return None };
        let (k, v) = (sf.iter().find(|f| f.name == "key")?, sf.iter().find(|f| f.name == "elem")?);
        let slot = at + slots.offset + r / es * es;
        let r = r % es;
        let is_key = r < k.offset + size(k.ty) && r >= k.offset;
        let off = if is_key { r - k.offset } else { r.checked_sub(v.offset)? };
        (k.ty, slot + k.offset, v.ty, slot + v.offset, off, is_key)
    } else if ty.name.starts_with("map.bucket[") {
        let (keys, elems) = (f("keys")?, f("elems")?);
        let (kat, vat) = (a.types.get(keys.ty).ok()?, a.types.get(elems.ty).ok()?);
        let (Detail::Array { elem: k, .. }, Detail::Array { elem: v, .. }) = (&kat.detail, &vat.detail)
        else {
            return None;
        };
        let (ks, vs) = (size(*k).max(1), size(*v).max(1));
        if (keys.offset..keys.offset + kat.size).contains(&rel) {
            let i = (rel - keys.offset) / ks;
            let v_at = at + elems.offset + i * vs;
            (*k, at + keys.offset + i * ks, *v, v_at, (rel - keys.offset) % ks, true)
        } else if (elems.offset..elems.offset + vat.size).contains(&rel) {
            let i = (rel - elems.offset) / vs;
            (*k, at + keys.offset + i * ks, *v, at + elems.offset + i * vs, (rel - elems.offset) % vs, false)
        } else {
            return None;
        }
    } else {
        return None;
    };
    let key = short_value(a, kt, ka, 2);
    if is_key {
        match key {
            Some(k) => {
                let _ = write!(out, "key {k}");
            }
            None => out.push_str("map key"),
        }
        Some((kt, ka, off))
    } else {
        match key {
            Some(k) => {
                let _ = write!(out, "[{k}]");
            }
            None => out.push_str("map value"),
        }
        Some((vt, va, off))
    }
}

/// One value (slices, strings, interfaces) though DWARF describes it as a struct.
fn dwarf_is_one(d: &crate::exe::Dwarf, id: TypeId) -> Option<Leaf> {
    let named = d.ty(id);
    let r = d.ty(d.resolve(id));
    match (named.kind, r.kind) {
        (DKind::Interface, _) | (_, DKind::Interface) => return Some(Leaf::Interface),
        (DKind::Slice | DKind::String, _) | (_, DKind::Slice | DKind::String) => return Some(Leaf::Slice),
        _ => {}
    }
    match named.go_kind {
        Some(20) => Some(Leaf::Interface),
        Some(23 | 24) => Some(Leaf::Slice),
        _ if d.str(named.name).starts_with("[]") => Some(Leaf::Slice),
        _ => None,
    }
}

fn dwarf_path(a: &HeapAnalysis, id: TypeId, mut rel: u64, out: &mut String) -> Option<Leaf> {
    let d = a.p.exe.dwarf.as_ref()?;
    let mut id = id;
    for _ in 0..32 {
        let leaf = dwarf_is_one(d, id);
        let rid = d.resolve(id);
        let t = d.ty(rid);
        match (leaf, t.kind) {
            (None, DKind::Struct) => {
                let f = d
                    .fields(rid)
                    .iter()
                    .rev()
                    .find(|f| f.offset <= rel && rel < f.offset + d.ty(f.ty).size)?;
                let fk = d.ty(d.resolve(f.ty)).kind;
                let aggregate = matches!(fk, DKind::Struct | DKind::Array) && dwarf_is_one(d, f.ty).is_none();
                if !(f.embedded && aggregate) {
                    out.push('.');
                    out.push_str(d.str(f.name));
                }
                rel -= f.offset;
                id = f.ty;
            }
            (None, DKind::Array) => {
                let elem = t.elem.or(t.target)?;
                let es = d.ty(elem).size;
                if es == 0 {
                    return None;
                }
                let _ = write!(out, "[{}]", rel / es);
                rel %= es;
                id = elem;
            }
            (leaf, k) => {
                let leaf = leaf.unwrap_or(match k {
                    DKind::Pointer | DKind::Map | DKind::Chan | DKind::Func => Leaf::Pointer,
                    _ => Leaf::Other,
                });
                return Some(end_at_leaf(leaf, rel, out));
            }
        }
    }
    None
}

/// A path that reached a scalar, pointer, slice or interface `rel` bytes into it: that leaf
/// (an interface's data word counts as the interface), else `+rel` and no leaf.
fn end_at_leaf(leaf: Leaf, rel: u64, out: &mut String) -> Leaf {
    let data = leaf == Leaf::Interface && rel == 8;
    if rel != 0 && !data {
        let _ = write!(out, "+{rel:#x}");
        return Leaf::Other;
    }
    leaf
}

fn named_struct(a: &HeapAnalysis, name: &str, rel: u64, out: &mut String) -> Option<Leaf> {
    let id = a.p.exe.dwarf.as_ref()?.type_by_name(name)?;
    dwarf_path(a, id, rel, out)
}

fn closure_name(a: &HeapAnalysis, entry: u64, rel: u64, out: &mut String) -> Option<Leaf> {
    let caps = captures(a.p, entry);
    let d = a.p.exe.dwarf.as_ref();
    let i = caps.iter().rposition(|c| c.offset <= rel)?;
    let c = &caps[i];
    let size = d
        .map(|d| d.ty(c.ty).size)
        .filter(|&s| s > 0)
        .or_else(|| caps.get(i + 1).map(|n| n.offset - c.offset))
        .unwrap_or(8);
    if rel >= c.offset + size {
        return None;
    }
    let (name, _) = c.variable();
    out.push('.');
    out.push_str(name);
    dwarf_path(a, c.ty, rel - c.offset, out).or(Some(Leaf::Other))
}

fn map_name(a: &HeapAnalysis, m: u64, part: MapPart, start: u64, rel: u64, out: &mut String) -> Option<Leaf> {
    let mt = a.types.get(m).ok()?;
    let Detail::Map(mi) = &mt.detail else { return None };
    match part {
        MapPart::Header if mi.swiss => named_struct(a, "internal/runtime/maps.Map", rel, out),
        MapPart::Header => named_struct(a, "runtime.hmap", rel, out),
        MapPart::Table => named_struct(a, "internal/runtime/maps.table", rel, out),
        MapPart::Extra => named_struct(a, "runtime.mapextra", rel, out),
        MapPart::Directory | MapPart::OverflowList => {
            let _ = write!(out, "[{}]", rel / 8);
            Some(Leaf::Pointer)
        }
        MapPart::OverflowSlice => None,
        MapPart::Groups => {
            let gs = mi.group_size;
            if gs == 0 {
                return None;
            }
            let (g, r) = (start + rel / gs * gs, rel % gs);
            if !mi.swiss && r + 8 == gs {
                out.push_str(".overflow");
                return Some(Leaf::Pointer);
            }
            let ksize = if mi.indirect_key { 8 } else { a.types.get(mi.key).ok()?.size };
            let esize = if mi.indirect_elem { 8 } else { a.types.get(mi.elem).ok()?.size };
            for i in 0..MAP_SLOTS {
                let (k, e) = (mi.keys_off + i * mi.key_stride, mi.elems_off + i * mi.elem_stride);
                if (k..k + ksize).contains(&r) {
                    match map_key(a, mi, g, i) {
                        Some(key) => {
                            let _ = write!(out, "key {key}");
                        }
                        None => out.push_str("map key"),
                    }
                    if mi.indirect_key {
                        return Some(Leaf::Pointer);
                    }
                    return runtime_path(a, mi.key, g + k, r - k, out);
                }
                if (e..e + esize).contains(&r) {
                    match map_key(a, mi, g, i) {
                        Some(key) => {
                            let _ = write!(out, "[{key}]");
                        }
                        None => out.push_str("map value"),
                    }
                    if mi.indirect_elem {
                        return Some(Leaf::Pointer);
                    }
                    return runtime_path(a, mi.elem, g + e, r - e, out);
                }
            }
            None
        }
    }
}

/// The key of slot `i` of the group or bucket at `g`, as Go would write it.
pub fn map_key(a: &HeapAnalysis, mi: &MapInfo, g: u64, i: u64) -> Option<String> {
    let mut at = g + mi.keys_off + i * mi.key_stride;
    if mi.indirect_key {
        at = a.p.mem.read_u64(at)?;
    }
    short_value(a, mi.key, at, 2)
}

/// A value of run-time type `t` at `at`, short, as Go would write it in source: `"abc"`, `17`,
/// `true`, `0xc000123400`, `{1, "x"}`; None if it cannot be read or is too complex.
pub fn short_value(a: &HeapAnalysis, t: u64, at: u64, depth: u32) -> Option<String> {
    let ty = a.types.get(t).ok()?;
    let mem = &a.p.mem;
    Some(match (&ty.kind, &ty.detail) {
        (Kind::String, _) => {
            let (p, n) = (mem.read_u64(at)?, mem.read_u64(at.saturating_add(8))?);
            let s = a.p.read_string_data(p, n.min(MAX_KEY as u64))?;
            if n as usize > MAX_KEY {
                format!("{s:?}…")
            } else {
                format!("{s:?}")
            }
        }
        (Kind::Bool, _) => (mem.read_u8(at)? != 0).to_string(),
        (Kind::Pointer | Kind::UnsafePointer | Kind::Chan | Kind::Map | Kind::Func, _) => {
            format!("{:#x}", mem.read_u64(at)?)
        }
        (Kind::Interface, Detail::Interface { methods, .. }) => {
            let dt = if methods.is_empty() { a.types.eface_type(at) } else { a.types.iface_type(at) };
            match dt.ok()? {
                None => "nil".into(),
                Some(dt) if dt.direct_iface => short_value(a, dt.addr, at + 8, depth)?,
                Some(dt) => short_value(a, dt.addr, mem.read_u64(at.saturating_add(8))?, depth)?,
            }
        }
        (Kind::Struct, Detail::Struct { fields, .. }) if depth > 0 && fields.len() <= 4 => {
            let parts: Option<Vec<String>> =
                fields.iter().map(|f| short_value(a, f.ty, at + f.offset, depth - 1)).collect();
            format!("{{{}}}", parts?.join(", "))
        }
        (Kind::Array, Detail::Array { elem, len }) if depth > 0 && *len <= 4 => {
            let es = a.types.get(*elem).ok()?.size;
            let parts: Option<Vec<String>> =
                (0..*len).map(|i| short_value(a, *elem, at + i * es, depth - 1)).collect();
            format!("[{}]", parts?.join(", "))
        }
        (k, _) => scalar(&a.p.mem, at, *k, ty.size)?,
    })
}

/// A number of kind `k` and `size` bytes at `at`, as Go prints it.
pub fn scalar(mem: &crate::dump::AddressSpace, at: u64, k: Kind, size: u64) -> Option<String> {
    let mut b = [0u8; 8];
    if size == 0 || size > 8 || !mem.read_into(at, &mut b[..size as usize]) {
        return None;
    }
    let u = u64::from_le_bytes(b);
    let sext = |bits: u32| ((u << (64 - bits)) as i64 >> (64 - bits)).to_string();
    Some(match k {
        Kind::Int | Kind::Int64 => sext(64),
        Kind::Int32 => sext(32),
        Kind::Int16 => sext(16),
        Kind::Int8 => sext(8),
        Kind::Float64 => f64::from_bits(u).to_string(),
        Kind::Float32 => f32::from_bits(u as u32).to_string(),
        Kind::Uintptr => format!("{u:#x}"),
        Kind::Uint | Kind::Uint8 | Kind::Uint16 | Kind::Uint32 | Kind::Uint64 => u.to_string(),
        _ => return None,
    })
}
