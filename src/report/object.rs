//! `gomortem object`: one heap object, or one global variable, decoded by its type field by
//! field to a given depth; pointers as addresses with the type of what they point to.
//!
//! What an object is decides how it is shown (see [`crate::analysis::heap::typing::ObjKind`]):
//! values of a run-time type or of a DWARF-only type (the runtime's own structures) field by
//! field, one value per element for arrays; string bytes as the string; a closure as its
//! function and the variables it captures (by name from DWARF, Go 1.23+; those captured by
//! reference read through their pointer); a channel as its `hchan` and the values queued in
//! its buffer; a map's header, table or groups as their fields and the map's entries
//! (`["key"] = value`). An untyped object shows the pointers the heap's bitmap marks in it.

use std::cell::Cell;
use std::fmt::Write as _;

use serde::Serialize;

use super::SCHEMA_VERSION;
use crate::analysis::heap::dominators::Node;
use crate::analysis::heap::paths::{map_key, scalar, short_value};
use crate::analysis::heap::typing::{MapPart, ObjKind, TyRef};
use crate::analysis::HeapAnalysis;
use crate::exe::dwarf::{Kind as DKind, TypeId};
use crate::runtime::roots::RootKind;
use crate::runtime::types::{Detail, Kind, MapInfo, Type};
use crate::{Error, Result};

/// What to decode: an address (in a heap object or a global), or a global by name.
pub enum Target {
    Address(u64),
    Global(String),
}

/// One value: a field, an element, or the object itself.
#[derive(Serialize)]
pub struct Value {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub offset: u64,
    /// The value as Go would print it (numbers, quoted strings); pointers as `0x… (T)`.
    pub value: Option<String>,
    pub fields: Vec<Value>,
}

/// One entry of a map.
#[derive(Serialize)]
pub struct MapEntry {
    /// The key as Go would write it: `"abc"`, `17`, `{1, 2}`; null if unreadable.
    pub key: Option<String>,
    /// Where the value is.
    pub address: String,
    pub value: Value,
}

/// The entries of a map reached from the object (a map header, table or groups).
#[derive(Serialize)]
pub struct MapEntries {
    #[serde(rename = "type")]
    pub type_name: String,
    /// Entries found (full slots), all of them counted.
    pub len: u64,
    /// The first entries, at most 64.
    pub entries: Vec<MapEntry>,
}

#[derive(Serialize)]
pub struct ObjectDoc {
    pub schema_version: &'static str,
    pub command: &'static str,
    pub address: String,
    /// `heap` (an allocated object) or `global` (a global variable).
    pub kind: &'static str,
    /// The global's name.
    pub name: Option<String>,
    /// Where the object or global starts.
    pub object: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub size: u64,
    pub reachable: bool,
    /// What the object (or the global, as a root) alone keeps alive, itself included.
    pub retained_bytes: u64,
    pub retained_objects: u32,
    /// The values the object holds (one per element for arrays, at most 64).
    pub values: Vec<Value>,
    /// A map's entries, for its header, tables and groups.
    pub map: Option<MapEntries>,
}

/// Elements of an array (and entries of a map) shown at most.
const MAX_ELEMS: u64 = 64;
/// Values decoded at most in one document.
const MAX_VALUES: u32 = 4096;
/// Bytes of a string shown at most.
const MAX_STRING: u64 = 1024;

pub fn object(a: &HeapAnalysis, target: &Target, depth: u32) -> Result<ObjectDoc> {
    let d = Dec { a, left: Cell::new(MAX_VALUES) };
    let dom = a.dominators()?;
    let addr = match target {
        Target::Address(x) if a.heap.find_object(*x).is_some() => *x,
        Target::Address(x) => return global(a, &d, dom, *x, None, depth),
        Target::Global(name) => {
            let dw = a.p.exe.dwarf.as_ref().ok_or_else(|| Error::Other("no DWARF".into()))?;
            let (link, _) = dw.global(name).ok_or_else(|| {
                Error::Other(format!("{name:?} is neither an address nor a global variable the DWARF knows"))
            })?;
            return global(a, &d, dom, link.wrapping_add(a.p.bias), Some(name), depth);
        }
    };
    let o = super::heap::object_at(a, addr)?;
    let start = a.heap.addr(o) + a.heap.header_size(o);
    let count = a.typing.count(o);
    let mut values = Vec::new();
    let mut map = None;
    let elements = |t: TyRef, size: u64, values: &mut Vec<Value>| {
        let n = count.clamp(1, MAX_ELEMS);
        for i in 0..n {
            let name = if n > 1 { format!("[{i}]") } else { String::new() };
            values.push(d.tyref(t, start + i * size, i * size, name, depth));
        }
    };
    match a.typing.entry(o).map(|e| (e.kind, e.elem_size)) {
        // A channel typed by DWARF (through the runtime's pointers to it) is a channel still.
        Some((ObjKind::Value(t), _)) if count <= 1 && d.is_hchan(t) => values = d.chan(start, 0, depth),
        Some((ObjKind::Value(t), size)) => {
            elements(t, size, &mut values);
            values.extend(d.runtime_timer(o, t, start, depth));
        }
        Some((ObjKind::ChanBuffer(t), size)) => elements(TyRef::Runtime(t), size, &mut values),
        Some((ObjKind::StringBytes, _)) => {
            let n = count.min(a.heap.size(o));
            let s = a.p.read_string_data(start, n.min(MAX_STRING)).map(|s| {
                let more = if n > MAX_STRING { format!("… ({n} bytes)") } else { String::new() };
                format!("{s:?}{more}")
            });
            values.push(Value {
                name: String::new(),
                type_name: "string".into(),
                offset: 0,
                value: s,
                fields: vec![],
            });
        }
        Some((ObjKind::Closure(entry), _)) => values = d.closure(o, start, entry, depth),
        Some((ObjKind::Chan(elem), _)) => values = d.chan(start, elem, depth),
        Some((ObjKind::Map(m, part), _)) => {
            let (v, entries) = d.map(m, part, start, count, depth);
            values = v;
            map = entries;
        }
        None => values = d.untyped(o),
    }
    let (retained_bytes, retained_objects) = dom.retained(Node::Object(o), |x| a.heap.size(x));
    Ok(ObjectDoc {
        schema_version: SCHEMA_VERSION,
        command: "object",
        address: format!("{addr:#x}"),
        kind: "heap",
        name: None,
        object: format!("{:#x}", a.heap.addr(o)),
        type_name: a.type_name(o),
        size: a.heap.size(o),
        reachable: a.reach.is_reachable(o),
        retained_bytes,
        retained_objects,
        values,
        map,
    })
}

/// A global variable, by an address inside it or its name.
fn global(
    a: &HeapAnalysis,
    d: &Dec,
    dom: &crate::analysis::heap::dominators::Dominators,
    addr: u64,
    name: Option<&str>,
    depth: u32,
) -> Result<ObjectDoc> {
    let not_found =
        || Error::Other(format!("{addr:#x} is not inside an allocated heap object or a global variable"));
    let dw = a.p.exe.dwarf.as_ref().ok_or_else(not_found)?;
    let link = addr.wrapping_sub(a.p.bias);
    let (gname, glink, ty) = match name {
        Some(n) => dw.global(n).map(|(l, t)| (n.to_string(), l, t)).ok_or_else(not_found)?,
        None => dw
            .globals()
            .find(|&(_, l, t)| l <= link && link < l + dw.ty(t).size.max(1))
            .map(|(n, l, t)| (n.to_string(), l, t))
            .ok_or_else(not_found)?,
    };
    let start = glink.wrapping_add(a.p.bias);
    let value = d.dwarf(ty, start, 0, String::new(), depth);
    let root = a
        .roots
        .roots
        .iter()
        .position(|r| matches!(r.kind, RootKind::Data | RootKind::Bss) && r.addr == start);
    let (retained_bytes, retained_objects) =
        root.map_or((0, 0), |i| dom.retained(Node::Root(i as u32), |x| a.heap.size(x)));
    Ok(ObjectDoc {
        schema_version: SCHEMA_VERSION,
        command: "object",
        address: format!("{addr:#x}"),
        kind: "global",
        name: Some(gname),
        object: format!("{start:#x}"),
        type_name: value.type_name.clone(),
        size: dw.ty(ty).size,
        reachable: true,
        retained_bytes,
        retained_objects,
        values: vec![value],
        map: None,
    })
}

/// A decoder with a budget of values.
struct Dec<'a, 'p> {
    a: &'a HeapAnalysis<'p>,
    left: Cell<u32>,
}

impl Dec<'_, '_> {
    fn word(&self, at: u64) -> Option<u64> {
        self.a.p.mem.read_u64(at)
    }

    /// Whether another value fits the budget (and take it).
    fn take(&self) -> bool {
        let n = self.left.get();
        self.left.set(n.saturating_sub(1));
        n > 0
    }

    fn tyref(&self, t: TyRef, at: u64, offset: u64, name: String, depth: u32) -> Value {
        match t {
            TyRef::Runtime(t) => match self.a.types.get(t) {
                Ok(t) => self.runtime(&t, at, offset, name, depth),
                Err(_) => unknown(name, offset, format!("<type {t:#x}>")),
            },
            TyRef::Dwarf(id) => self.dwarf(id, at, offset, name, depth),
        }
    }

    fn runtime(&self, t: &Type, at: u64, offset: u64, name: String, depth: u32) -> Value {
        let a = self.a;
        let mem = &a.p.mem;
        let word = |off: u64| mem.read_u64(at + off);
        let mut fields = Vec::new();
        let more = depth > 0 && self.take();
        let value = match (&t.kind, &t.detail) {
            (Kind::Struct, Detail::Struct { fields: fs, .. }) => {
                if more {
                    for f in fs {
                        if let Ok(ft) = a.types.get(f.ty) {
                            fields.push(self.runtime(
                                &ft,
                                at + f.offset,
                                offset + f.offset,
                                f.name.clone(),
                                depth - 1,
                            ));
                        }
                    }
                }
                None
            }
            (Kind::Array, Detail::Array { elem, len }) => {
                if let (true, Ok(et)) = (more, a.types.get(*elem)) {
                    for i in 0..(*len).min(MAX_ELEMS) {
                        let off = i * et.size;
                        fields.push(self.runtime(&et, at + off, offset + off, format!("[{i}]"), depth - 1));
                    }
                }
                Some(format!("[{len}]"))
            }
            (Kind::String, _) => string(a, word(0), word(8)),
            (Kind::Slice, _) => match (word(0), word(8), word(16)) {
                (Some(p), Some(l), Some(c)) => Some(format!("{} len {l} cap {c}", pointer(a, p))),
                _ => None,
            },
            (Kind::Interface, Detail::Interface { methods, .. }) => {
                let dynamic =
                    if methods.is_empty() { a.types.eface_type(at) } else { a.types.iface_type(at) };
                self.interface(dynamic.ok(), at, offset, depth, &mut fields)
            }
            (Kind::Func, _) => word(0).map(|p| func(a, p)),
            (Kind::Pointer, _) if is_type_ptr(&t.name) => word(0).map(|p| type_ptr(a, p)),
            (Kind::Pointer | Kind::UnsafePointer | Kind::Map | Kind::Chan, _) => {
                word(0).map(|p| pointer(a, p))
            }
            (Kind::Bool, _) => mem.read_u8(at).map(|b| (b != 0).to_string()),
            (k, _) => scalar(mem, at, *k, t.size),
        };
        Value { name, type_name: t.name.clone(), offset, value, fields }
    }

    /// An interface's value: `T 0x… (T)` for pointer-shaped dynamic types, else the dynamic
    /// value decoded where the data word points.
    fn interface(
        &self,
        dynamic: Option<Option<std::sync::Arc<Type>>>,
        at: u64,
        offset: u64,
        depth: u32,
        fields: &mut Vec<Value>,
    ) -> Option<String> {
        let data = self.word(at + 8)?;
        match dynamic? {
            None => Some("nil".into()),
            Some(dt) if dt.direct_iface => {
                let v = self.runtime(&dt, at + 8, offset + 8, String::new(), 0);
                Some(format!("{} {}", dt.name, v.value.unwrap_or_default()))
            }
            Some(dt) => {
                if depth > 0 && matches!(dt.kind, Kind::Struct | Kind::Array | Kind::String | Kind::Slice) {
                    let v = self.runtime(&dt, data, offset + 8, format!("({})", dt.name), depth - 1);
                    fields.push(v);
                }
                let short = match dt.kind {
                    Kind::Struct | Kind::Array => None,
                    _ => short_value(self.a, dt.addr, data, 0),
                };
                Some(match short {
                    Some(s) => format!("{} {s} at {}", dt.name, pointer(self.a, data)),
                    None => format!("{} {}", dt.name, pointer(self.a, data)),
                })
            }
        }
    }

    /// A value of a DWARF type (the run-time type, when it has one).
    fn dwarf(&self, id: TypeId, at: u64, offset: u64, name: String, depth: u32) -> Value {
        let a = self.a;
        let Some(d) = a.p.exe.dwarf.as_ref() else {
            return unknown(name, offset, "?".into());
        };
        if let Some(rt) = a.types.runtime_type(id) {
            if let Ok(t) = a.types.get(rt) {
                return self.runtime(&t, at, offset, name, depth);
            }
        }
        let rid = d.resolve(id);
        let t = d.ty(rid);
        let type_name = match d.type_name(id) {
            "" => d.type_name(rid).to_string(),
            n => n.to_string(),
        };
        let mem = &a.p.mem;
        let word = |off: u64| mem.read_u64(at + off);
        let mut fields = Vec::new();
        let more = depth > 0 && self.take();
        let named = d.ty(id);
        let slice = t.kind == DKind::Slice
            || named.go_kind == Some(23)
            || (t.kind == DKind::Struct && type_name.starts_with("[]"));
        let value = if slice {
            match (word(0), word(8), word(16)) {
                (Some(p), Some(l), Some(c)) => Some(format!("{} len {l} cap {c}", pointer(a, p))),
                _ => None,
            }
        } else {
            match t.kind {
                DKind::String => string(a, word(0), word(8)),
                DKind::Interface => {
                    let eface = t.target.is_some_and(|r| d.type_name(d.resolve(r)).ends_with("eface"))
                        || type_name == "interface {}";
                    let dynamic = if eface { a.types.eface_type(at) } else { a.types.iface_type(at) };
                    self.interface(dynamic.ok(), at, offset, depth, &mut fields)
                }
                DKind::Struct => {
                    if more {
                        for f in d.fields(rid) {
                            fields.push(self.dwarf(
                                f.ty,
                                at + f.offset,
                                offset + f.offset,
                                d.str(f.name).to_string(),
                                depth - 1,
                            ));
                        }
                    }
                    None
                }
                DKind::Array => {
                    let (elem, n) = (t.elem.or(t.target), t.count.unwrap_or(0));
                    if let (true, Some(e)) = (more, elem) {
                        let es = d.ty(e).size;
                        for i in 0..n.min(MAX_ELEMS) {
                            fields.push(self.dwarf(
                                e,
                                at + i * es,
                                offset + i * es,
                                format!("[{i}]"),
                                depth - 1,
                            ));
                        }
                    }
                    Some(format!("[{n}]"))
                }
                DKind::Func => word(0).map(|p| func(a, p)),
                DKind::Pointer if is_type_ptr(&type_name) => word(0).map(|p| type_ptr(a, p)),
                DKind::Pointer | DKind::Map | DKind::Chan | DKind::Unspecified
                    if t.size == 8 || t.size == 0 =>
                {
                    word(0).map(|p| pointer(a, p))
                }
                DKind::Bool => mem.read_u8(at).map(|b| (b != 0).to_string()),
                DKind::Int | DKind::Uint | DKind::Float => {
                    let k = match (t.kind, t.size) {
                        (DKind::Int, 1) => Kind::Int8,
                        (DKind::Int, 2) => Kind::Int16,
                        (DKind::Int, 4) => Kind::Int32,
                        (DKind::Int, _) => Kind::Int64,
                        (DKind::Float, 4) => Kind::Float32,
                        (DKind::Float, _) => Kind::Float64,
                        _ if type_name == "uintptr" => Kind::Uintptr,
                        _ => Kind::Uint64,
                    };
                    scalar(mem, at, k, t.size)
                }
                _ => None,
            }
        };
        Value { name, type_name, offset, value, fields }
    }

    /// A `time.Timer` or `time.Ticker` made by `time.NewTimer`/`NewTicker` (Go 1.23+) is the
    /// head of a `runtime.timeTimer`, which holds the runtime's timer: that, decoded by DWARF.
    fn runtime_timer(&self, o: u32, t: TyRef, start: u64, depth: u32) -> Option<Value> {
        let a = self.a;
        let TyRef::Runtime(t) = t else { return None };
        let name = a.types.get(t).ok()?.name.clone();
        if name != "time.Timer" && name != "time.Ticker" {
            return None;
        }
        let d = a.p.exe.dwarf.as_ref()?;
        let tt = d.type_by_name("runtime.timeTimer")?;
        let fits = a.heap.size(o) - a.heap.header_size(o) >= d.ty(tt).size;
        fits.then(|| self.dwarf(tt, start, 0, "(runtime timer)".into(), depth))
    }

    /// The function, then each captured variable.
    fn closure(&self, o: u32, start: u64, entry: u64, depth: u32) -> Vec<Value> {
        let a = self.a;
        let f = a.p.func(entry).map_or("?".to_string(), |f| a.p.func_name(f).to_string());
        let mut out = vec![Value {
            name: "fn".into(),
            type_name: "uintptr".into(),
            offset: 0,
            value: Some(format!("func {f}")),
            fields: vec![],
        }];
        let caps = crate::analysis::heap::paths::captures(a.p, entry);
        let d = a.p.exe.dwarf.as_ref();
        for c in caps.iter() {
            let ty = c.ty;
            let mut v = self.dwarf(ty, start + c.offset, c.offset, c.name.clone(), depth);
            // A variable captured by reference: show it, through the pointer.
            let target = d.and_then(|d| d.ty(d.resolve(ty)).target);
            if let (true, Some(t), Some(p)) =
                (c.variable().1 && depth > 0, target, self.word(start + c.offset))
            {
                if p != 0 {
                    v.fields.push(self.dwarf(t, p, 0, c.variable().0.to_string(), depth - 1));
                }
            }
            out.push(v);
        }
        if caps.is_empty() {
            // No DWARF for the captures (Go 1.22): the pointers the heap marks.
            out.extend(self.untyped(o).into_iter().filter(|v| v.offset != 0));
        }
        out
    }

    fn is_hchan(&self, t: TyRef) -> bool {
        let d = self.a.p.exe.dwarf.as_ref();
        matches!((t, d), (TyRef::Dwarf(id), Some(d)) if d.type_name(d.resolve(id)) == "runtime.hchan")
    }

    /// The `hchan` by DWARF, then the values queued in its buffer, in receive order; the
    /// element type is `elem`, or else the channel's own `elemtype`.
    fn chan(&self, start: u64, elem: u64, depth: u32) -> Vec<Value> {
        let a = self.a;
        let Some(d) = a.p.exe.dwarf.as_ref() else { return vec![] };
        let Some(h) = d.type_by_name("runtime.hchan") else { return vec![] };
        let mut out = vec![self.dwarf(h, start, 0, String::new(), depth)];
        let f = |n: &str| d.field_offset("runtime.hchan", n).and_then(|o| self.word(start + o));
        let elem = if elem != 0 { elem } else { f("elemtype").unwrap_or(0) };
        let (Some(q), Some(cap), Some(buf)) = (f("qcount"), f("dataqsiz"), f("buf")) else {
            return out;
        };
        let recvx = d.field_offset("runtime.hchan", "recvx").and_then(|o| a.p.mem.read_u32(start + o));
        let (Ok(et), Some(recvx)) = (a.types.get(elem), recvx) else {
            return out;
        };
        let q = (q & 0xffff_ffff).min(cap & 0xffff_ffff);
        let cap = cap & 0xffff_ffff;
        if elem == 0 || cap == 0 || buf == 0 || et.size == 0 {
            return out;
        }
        let mut fields = Vec::new();
        if depth > 0 {
            for i in 0..q.min(MAX_ELEMS) {
                let idx = (recvx as u64 + i) % cap;
                let at = buf + idx * et.size;
                fields.push(self.runtime(&et, at, idx * et.size, format!("[{i}]"), depth - 1));
            }
        }
        out.push(Value {
            name: "queued".into(),
            type_name: format!("[{q}]{}", et.name),
            offset: 0,
            value: Some(format!("{q} of {cap}")),
            fields,
        });
        out
    }

    /// A map part's fields (by DWARF), and the map's entries it leads to.
    fn map(
        &self,
        m: u64,
        part: MapPart,
        start: u64,
        count: u64,
        depth: u32,
    ) -> (Vec<Value>, Option<MapEntries>) {
        let a = self.a;
        let Ok(mt) = a.types.get(m) else { return (vec![], None) };
        let Detail::Map(mi) = &mt.detail else { return (vec![], None) };
        let d = a.p.exe.dwarf.as_ref();
        let by_name = |n: &str| d.and_then(|d| d.type_by_name(n));
        let field =
            |t: &str, f: &str| d.and_then(|d| d.field_offset(t, f)).and_then(|o| self.word(start + o));
        let mut values = Vec::new();
        let mut groups: Vec<(u64, u64)> = Vec::new();
        let mut buckets: Vec<(u64, u64)> = Vec::new();
        let show = |name: &str, values: &mut Vec<Value>| {
            if let Some(t) = by_name(name) {
                values.push(self.dwarf(t, start, 0, String::new(), depth));
            }
        };
        match part {
            MapPart::Header if mi.swiss => {
                show("internal/runtime/maps.Map", &mut values);
                let t = "internal/runtime/maps.Map";
                let (dir, n) = (field(t, "dirPtr").unwrap_or(0), field(t, "dirLen").unwrap_or(0));
                if dir != 0 && n == 0 {
                    groups.push((dir, 1));
                }
                let mut tables: Vec<u64> =
                    (0..n.min(1 << 16)).filter_map(|i| self.word(dir + 8 * i)).collect();
                tables.dedup();
                for tb in tables {
                    groups.extend(self.table_groups(tb));
                }
            }
            MapPart::Header => {
                show("runtime.hmap", &mut values);
                let t = "runtime.hmap";
                let b = d
                    .and_then(|d| d.field_offset(t, "B"))
                    .and_then(|o| a.p.mem.read_u8(start + o))
                    .unwrap_or(0)
                    .min(40);
                let flags =
                    d.and_then(|d| d.field_offset(t, "flags")).and_then(|o| a.p.mem.read_u8(start + o));
                if let Some(bk) = field(t, "buckets") {
                    buckets.push((bk, 1 << b));
                }
                if let Some(old) = field(t, "oldbuckets") {
                    let same = flags.is_some_and(|f| f & 8 != 0);
                    buckets.push((old, if same || b == 0 { 1 << b } else { 1 << (b - 1) }));
                }
            }
            MapPart::Table => {
                show("internal/runtime/maps.table", &mut values);
                groups.extend(self.table_groups(start));
            }
            MapPart::Groups if mi.swiss => groups.push((start, count.max(1))),
            MapPart::Groups => {
                for i in 0..count.max(1) {
                    buckets.push((start + i * mi.group_size, 0));
                }
            }
            MapPart::Extra => show("runtime.mapextra", &mut values),
            MapPart::Directory | MapPart::OverflowList => {
                for i in 0..count.clamp(1, MAX_ELEMS) {
                    if let Some(p) = self.word(start + 8 * i) {
                        values.push(Value {
                            name: format!("[{i}]"),
                            type_name: "unsafe.Pointer".into(),
                            offset: 8 * i,
                            value: Some(pointer(a, p)),
                            fields: vec![],
                        });
                    }
                }
            }
            MapPart::OverflowSlice => {}
        }
        if groups.is_empty() && buckets.is_empty() {
            return (values, None);
        }
        let mut entries = MapEntries { type_name: mt.name.clone(), len: 0, entries: Vec::new() };
        let slot = |g: u64, i: u64, entries: &mut MapEntries| {
            entries.len += 1;
            if entries.entries.len() as u64 >= MAX_ELEMS {
                return;
            }
            let mut at = g + mi.elems_off + i * mi.elem_stride;
            if mi.indirect_elem {
                at = self.word(at).unwrap_or(0);
            }
            let key = map_key(a, mi, g, i);
            let name = format!("[{}]", key.as_deref().unwrap_or("?"));
            let value = match a.types.get(mi.elem) {
                Ok(et) => self.runtime(&et, at, 0, name, depth.saturating_sub(1)),
                Err(_) => unknown(name, 0, "?".into()),
            };
            entries.entries.push(MapEntry { key, address: format!("{at:#x}"), value });
        };
        // Swiss groups: a slot is full when its control byte's high bit is clear.
        for (g0, n) in groups {
            for k in 0..n.min(1 << 24) {
                let g = g0 + k * mi.group_size;
                let Some(ctrl) = self.word(g) else { break };
                for i in 0..8 {
                    if (ctrl >> (8 * i)) & 0x80 == 0 {
                        slot(g, i, &mut entries);
                    }
                }
            }
        }
        // Old buckets and their overflow chains: full slots have a tophash of at least 5
        // (2 to 4: evacuated to the new array).
        for (b0, n) in buckets {
            for k in 0..n.clamp(1, 1 << 24) {
                let mut bk = b0 + k * mi.group_size;
                for _ in 0..1024 {
                    for i in 0..8 {
                        if a.p.mem.read_u8(bk + i).is_some_and(|h| h >= 5) {
                            slot(bk, i, &mut entries);
                        }
                    }
                    match self.word(bk + mi.group_size - 8) {
                        Some(next) if next != 0 && n > 0 => bk = next,
                        _ => break,
                    }
                }
            }
        }
        (values, Some(entries))
    }

    /// (first group, number of groups) of a swiss table.
    fn table_groups(&self, tb: u64) -> Option<(u64, u64)> {
        let d = self.a.p.exe.dwarf.as_ref()?;
        let t = "internal/runtime/maps.table";
        let data = self.word(tb + d.field_offset(t, "groups.data")?)?;
        let mask = self.word(tb + d.field_offset(t, "groups.lengthMask")?)?;
        (data != 0).then_some((data, (mask & 0xffff_ffff) + 1))
    }

    /// The pointers the heap's bitmap marks in an object nothing typed.
    fn untyped(&self, o: u32) -> Vec<Value> {
        let a = self.a;
        let base = a.heap.addr(o);
        let mut out = Vec::new();
        a.heap.for_each_pointer(a.p, o, |off, v| {
            if (out.len() as u64) < MAX_ELEMS {
                out.push(Value {
                    name: format!("+{off:#x}"),
                    type_name: "pointer".into(),
                    offset: off,
                    value: Some(pointer(a, v)),
                    fields: vec![],
                });
            }
        });
        let _ = base;
        out
    }
}

fn unknown(name: String, offset: u64, type_name: String) -> Value {
    Value { name, type_name, offset, value: None, fields: vec![] }
}

fn string(a: &HeapAnalysis, p: Option<u64>, n: Option<u64>) -> Option<String> {
    let (p, n) = (p?, n?);
    a.p.read_string_data(p, n.min(256)).map(|s| {
        let more = if n > 256 { format!("… ({n} bytes)") } else { String::new() };
        format!("{s:?}{more}")
    })
}

/// A pointer to a type descriptor (`abi.Type`, `runtime._type`).
fn is_type_ptr(name: &str) -> bool {
    matches!(name, "*abi.Type" | "*internal/abi.Type" | "*runtime._type")
}

/// `0x… (type main.T)`.
fn type_ptr(a: &HeapAnalysis, p: u64) -> String {
    match a.types.get(p) {
        Ok(t) if p != 0 && !t.name.is_empty() => format!("{p:#x} (type {})", t.name),
        _ => pointer(a, p),
    }
}

/// `0x… (func main.f.func1)`, or a pointer.
fn func(a: &HeapAnalysis, p: u64) -> String {
    match a.types.funcval_target(p) {
        Ok(Some((_, f))) if p != 0 => format!("{p:#x} (func {})", a.p.func_name(f)),
        _ => pointer(a, p),
    }
}

/// `0x… (T)`: an address and what is there, if it is a heap object; a map header with its
/// length, a channel with its length and capacity.
fn pointer(a: &HeapAnalysis, p: u64) -> String {
    if p == 0 {
        return "nil".into();
    }
    let Some(o) = a.heap.find_object(p) else {
        return format!("{p:#x}");
    };
    let d = a.p.exe.dwarf.as_ref();
    let at =
        |t: &str, f: &str| d.and_then(|d| d.field_offset(t, f)).and_then(|off| a.p.mem.read_u64(p + off));
    let extra = match a.typing.entry(o).map(|e| e.kind) {
        Some(ObjKind::Map(m, MapPart::Header)) => {
            let swiss =
                a.types.get(m).is_ok_and(|t| matches!(&t.detail, Detail::Map(MapInfo { swiss: true, .. })));
            let len =
                if swiss { at("internal/runtime/maps.Map", "used") } else { at("runtime.hmap", "count") };
            len.map(|n| format!(", len {}", n & 0xffff_ffff_ffff))
        }
        Some(ObjKind::Chan(_)) => match (at("runtime.hchan", "qcount"), at("runtime.hchan", "dataqsiz")) {
            (Some(q), Some(c)) => Some(format!(", len {} cap {}", q & 0xffff_ffff, c & 0xffff_ffff)),
            _ => None,
        },
        _ => None,
    };
    format!("{p:#x} ({}{})", a.type_name(o), extra.unwrap_or_default())
}

pub fn object_text(d: &ObjectDoc) -> String {
    let what = match (&d.name, d.kind) {
        (Some(n), _) => format!("{n} ({}) at {}", d.type_name, d.object),
        (None, _) => format!("{} at {}", d.type_name, d.object),
    };
    let mut o = format!(
        "{what} ({} bytes{}){}\n",
        d.size,
        if d.reachable { "" } else { ", unreachable" },
        if d.address != d.object { format!(", holding {}", d.address) } else { String::new() }
    );
    if d.retained_objects > 0 {
        let _ =
            writeln!(o, "retains {} in {} objects", super::text::bytes(d.retained_bytes), d.retained_objects);
    }
    fn write(o: &mut String, v: &Value, indent: usize) {
        let name = if v.name.is_empty() { String::new() } else { format!("{} ", v.name) };
        let val = v.value.as_deref().map(|s| format!(" = {s}")).unwrap_or_default();
        let _ = writeln!(o, "{:indent$}+{:#06x} {name}{}{val}", "", v.offset, v.type_name);
        for f in &v.fields {
            write(o, f, indent + 2);
        }
    }
    for v in &d.values {
        write(&mut o, v, 2);
    }
    if let Some(m) = &d.map {
        let _ = writeln!(o, "{} entries of {}:", m.len, m.type_name);
        for e in &m.entries {
            let val = e.value.value.as_deref().map(|s| format!(" = {s}")).unwrap_or_default();
            let _ = writeln!(o, "  {} {}{val} (at {})", e.value.name, e.value.type_name, e.address);
            for f in &e.value.fields {
                write(&mut o, f, 4);
            }
        }
        if m.len > m.entries.len() as u64 {
            let _ = writeln!(o, "  … {} more", m.len - m.entries.len() as u64);
        }
    }
    o
}
