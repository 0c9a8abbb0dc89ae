//! `gomortem object`: one heap object decoded by its type, field by field, to a given depth;
//! pointers as addresses with the type of what they point to.

use std::fmt::Write as _;

use serde::Serialize;

use super::SCHEMA_VERSION;
use crate::analysis::typing::{ObjKind, TyRef};
use crate::analysis::HeapAnalysis;
use crate::runtime::types::{Detail, Kind, Type};
use crate::Result;

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

#[derive(Serialize)]
pub struct ObjectDoc {
    pub schema_version: &'static str,
    pub command: &'static str,
    pub address: String,
    pub object: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub size: u64,
    pub reachable: bool,
    /// The values the object holds (one per element for arrays), decoded when its type is a
    /// run-time type; empty otherwise.
    pub values: Vec<Value>,
}

/// Elements of an array object shown at most.
const MAX_ELEMS: u64 = 64;

pub fn object(a: &HeapAnalysis, addr: u64, depth: u32) -> Result<ObjectDoc> {
    let o = super::heap::object_at(a, addr)?;
    let start = a.heap.addr(o) + a.heap.header_size(o);
    let mut values = Vec::new();
    if let Some(ObjKind::Value(TyRef::Runtime(t))) = a.typing.entry(o).map(|e| e.kind) {
        if let Ok(t) = a.types.get(t) {
            let n = a.typing.count(o).clamp(1, MAX_ELEMS);
            for i in 0..n {
                let name = if n > 1 { format!("[{i}]") } else { String::new() };
                values.push(decode(a, &t, start + i * t.size, i * t.size, name, depth));
            }
        }
    }
    Ok(ObjectDoc {
        schema_version: SCHEMA_VERSION,
        command: "object",
        address: format!("{addr:#x}"),
        object: format!("{:#x}", a.heap.addr(o)),
        type_name: a.type_name(o),
        size: a.heap.size(o),
        reachable: a.reach.is_reachable(o),
        values,
    })
}

fn decode(a: &HeapAnalysis, t: &Type, at: u64, offset: u64, name: String, depth: u32) -> Value {
    let mem = &a.p.mem;
    let word = |off: u64| mem.read_u64(at + off);
    let mut fields = Vec::new();
    let value = match (&t.kind, &t.detail) {
        (Kind::Struct, Detail::Struct { fields: fs, .. }) => {
            if depth > 0 {
                for f in fs {
                    if let Ok(ft) = a.types.get(f.ty) {
                        fields.push(decode(
                            a,
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
            if let (true, Ok(et)) = (depth > 0, a.types.get(*elem)) {
                for i in 0..(*len).min(MAX_ELEMS) {
                    let off = i * et.size;
                    fields.push(decode(a, &et, at + off, offset + off, format!("[{i}]"), depth - 1));
                }
            }
            Some(format!("[{len}]"))
        }
        (Kind::String, _) => match (word(0), word(8)) {
            (Some(p), Some(n)) => a.p.read_string_data(p, n.min(256)).map(|s| {
                let more = if n > 256 { format!("… ({n} bytes)") } else { String::new() };
                format!("{s:?}{more}")
            }),
            _ => None,
        },
        (Kind::Slice, _) => match (word(0), word(8), word(16)) {
            (Some(p), Some(l), Some(c)) => Some(format!("{} len {l} cap {c}", pointer(a, p))),
            _ => None,
        },
        (Kind::Interface, _) => {
            let dynamic = if matches!(&t.detail, Detail::Interface { methods, .. } if methods.is_empty()) {
                a.types.eface_type(at)
            } else {
                a.types.iface_type(at)
            };
            match (dynamic, word(8)) {
                (Ok(Some(dt)), Some(d)) => Some(format!("{} {}", dt.name, pointer(a, d))),
                (Ok(None), _) => Some("nil".into()),
                _ => None,
            }
        }
        (Kind::Pointer | Kind::UnsafePointer | Kind::Map | Kind::Chan, _) => word(0).map(|p| pointer(a, p)),
        (Kind::Func, _) => word(0).map(|p| match a.types.funcval_target(p) {
            Ok(Some((_, f))) if p != 0 => format!("{p:#x} (func {})", a.p.func_name(f)),
            _ => pointer(a, p),
        }),
        (Kind::Bool, _) => mem.read_u8(at).map(|b| (b != 0).to_string()),
        (k, _) => scalar(mem, at, *k, t.size),
    };
    Value { name, type_name: t.name.clone(), offset, value, fields }
}

fn scalar(mem: &crate::dump::AddressSpace, at: u64, k: Kind, size: u64) -> Option<String> {
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
        _ => u.to_string(),
    })
}

/// `0x… (T)`: an address and what is there, if it is a heap object.
fn pointer(a: &HeapAnalysis, p: u64) -> String {
    if p == 0 {
        return "nil".into();
    }
    match a.heap.find_object(p) {
        Some(o) => format!("{p:#x} ({})", a.type_name(o)),
        None => format!("{p:#x}"),
    }
}

pub fn object_text(d: &ObjectDoc) -> String {
    let mut o = format!(
        "{} at {} ({} bytes{}){}\n",
        d.type_name,
        d.object,
        d.size,
        if d.reachable { "" } else { ", unreachable" },
        if d.address != d.object { format!(", holding {}", d.address) } else { String::new() }
    );
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
    o
}
