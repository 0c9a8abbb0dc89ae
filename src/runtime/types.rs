//! Go type descriptors (`internal/abi.Type`) read from the dump: names, sizes, kinds, element
//! and field types, pointer masks, interfaces, itabs and closures.
//!
//! A descriptor is decoded on demand at its run-time address and cached ([`TypeTable::get`]).
//! Names are the descriptor's own string (`Str`, a `NameOff` from `moduledata.types`), which is
//! exactly what `reflect.Type.String()` returns. Types point to each other by address: look the
//! element, key and field types up in the same table.
//!
//! Pointer masks ([`TypeTable::ptr_mask`]) follow runtime/mbitmap.go and runtime/type.go: a
//! plain 1-bit-per-word `GCData`; a GC program (`KindGCProg`, Go ≤1.23) that is run; or, Go
//! 1.24+, `TFlagGCMaskOnDemand`, where `GCData` is a slot the runtime fills on first use: the
//! mask is rebuilt from the type's structure as `buildGCMask` does, since the slot may be empty.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use super::layout::AbiLayout;
use super::Process;
use crate::exe::dwarf::TypeId;
use crate::exe::Func;
use crate::{Error, Result};

/// `abi.Kind`, numbered as in Go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Invalid,
    Bool,
    Int,
    Int8,
    Int16,
    Int32,
    Int64,
    Uint,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Uintptr,
    Float32,
    Float64,
    Complex64,
    Complex128,
    Array,
    Chan,
    Func,
    Interface,
    Map,
    Pointer,
    Slice,
    String,
    Struct,
    UnsafePointer,
}

const KINDS: [Kind; 27] = [
    Kind::Invalid,
    Kind::Bool,
    Kind::Int,
    Kind::Int8,
    Kind::Int16,
    Kind::Int32,
    Kind::Int64,
    Kind::Uint,
    Kind::Uint8,
    Kind::Uint16,
    Kind::Uint32,
    Kind::Uint64,
    Kind::Uintptr,
    Kind::Float32,
    Kind::Float64,
    Kind::Complex64,
    Kind::Complex128,
    Kind::Array,
    Kind::Chan,
    Kind::Func,
    Kind::Interface,
    Kind::Map,
    Kind::Pointer,
    Kind::Slice,
    Kind::String,
    Kind::Struct,
    Kind::UnsafePointer,
];

impl Kind {
    fn from_u8(k: u8) -> Option<Kind> {
        KINDS.get(k as usize).copied()
    }

    /// The name `reflect.Kind.String()` gives.
    pub fn name(self) -> &'static str {
        const NAMES: [&str; 27] = [
            "invalid",
            "bool",
            "int",
            "int8",
            "int16",
            "int32",
            "int64",
            "uint",
            "uint8",
            "uint16",
            "uint32",
            "uint64",
            "uintptr",
            "float32",
            "float64",
            "complex64",
            "complex128",
            "array",
            "chan",
            "func",
            "interface",
            "map",
            "ptr",
            "slice",
            "string",
            "struct",
            "unsafe.Pointer",
        ];
        NAMES[self as usize]
    }
}

/// Direction of a channel type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum ChanDir {
    Recv,
    Send,
    Both,
}

/// A struct field.
#[derive(Clone, Debug)]
pub struct Field {
    pub name: String,
    /// Address of the field's type.
    pub ty: u64,
    pub offset: u64,
    pub embedded: bool,
    pub tag: String,
}

/// An interface method.
#[derive(Clone, Debug)]
pub struct IMethod {
    pub name: String,
    /// Address of the method's func type (0 if unresolved).
    pub ty: u64,
}

/// A map type, with where keys and elems sit in a group (swiss) or bucket (old maps), after
/// the 8 control/tophash bytes: slot `i`'s key is at `keys_off + i*key_stride`, its elem at
/// `elems_off + i*elem_stride` (a pointer to them if `indirect_key` / `indirect_elem`).
#[derive(Clone, Debug)]
pub struct MapInfo {
    pub key: u64,
    pub elem: u64,
    pub swiss: bool,
    /// Type of a group (swiss) or bucket (old).
    pub group: u64,
    /// Size of a group or bucket.
    pub group_size: u64,
    pub keys_off: u64,
    pub key_stride: u64,
    pub elems_off: u64,
    pub elem_stride: u64,
    pub indirect_key: bool,
    pub indirect_elem: bool,
}

/// The kind-specific part of a descriptor.
#[derive(Clone, Debug)]
pub enum Detail {
    None,
    Pointer { elem: u64 },
    Slice { elem: u64 },
    Array { elem: u64, len: u64 },
    Chan { elem: u64, dir: ChanDir },
    Map(MapInfo),
    Struct { pkg_path: String, fields: Vec<Field> },
    Interface { pkg_path: String, methods: Vec<IMethod> },
    Func { ins: Vec<u64>, outs: Vec<u64>, variadic: bool },
}

/// How the runtime stores a type's pointer mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GcData {
    /// `GCData` is the mask.
    Mask,
    /// `GCData` is a GC program (length-prefixed), Go ≤1.23.
    Program,
    /// `GCData` is a `**byte` slot filled lazily by the runtime, Go 1.24+.
    OnDemand,
}

/// A decoded `abi.Type`.
#[derive(Clone, Debug)]
pub struct Type {
    /// Run-time address of the descriptor.
    pub addr: u64,
    pub size: u64,
    /// Length of the prefix that holds pointers.
    pub ptr_bytes: u64,
    pub hash: u32,
    pub tflag: u8,
    pub kind: Kind,
    pub align: u8,
    /// `reflect.Type.String()`: "*main.T", "map[string]int", "struct { a int }"…; empty for
    /// descriptors outside the module (e.g. the runtime's unrolled-bitmap dummies).
    pub name: String,
    /// A defined (named) type: `main.T`, `int`, not `*main.T` or `[]int`.
    pub named: bool,
    /// The type is stored directly in an interface's data word (pointer-shaped).
    pub direct_iface: bool,
    pub gc: GcData,
    /// `GCData` as stored.
    pub gcdata: u64,
    /// `*T`'s descriptor if the binary has it, else 0.
    pub ptr_to_this: u64,
    /// Named types (and types with methods): package path and method counts.
    pub pkg_path: Option<String>,
    pub methods: u16,
    pub exported_methods: u16,
    pub detail: Detail,
    /// Size of the descriptor in memory (`abi.Type.DescriptorSize`).
    pub descriptor_size: u64,
}

impl Type {
    /// The element type: of pointers, slices, arrays, chans and maps.
    pub fn elem(&self) -> Option<u64> {
        match &self.detail {
            Detail::Pointer { elem } | Detail::Slice { elem } | Detail::Array { elem, .. } => Some(*elem),
            Detail::Chan { elem, .. } => Some(*elem),
            Detail::Map(m) => Some(m.elem),
            _ => None,
        }
    }
}

/// A pointer mask: bit `i` (little-endian within bytes, as the runtime stores it) says whether
/// word `i` of a value holds a pointer. It covers the type's `PtrBytes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PtrMask {
    pub nwords: u64,
    pub bits: Vec<u8>,
}

impl PtrMask {
    fn zeroed(nwords: u64) -> PtrMask {
        PtrMask { nwords, bits: vec![0; nwords.div_ceil(8) as usize] }
    }

    pub fn is_ptr(&self, word: u64) -> bool {
        word < self.nwords && self.bits.get((word / 8) as usize).is_some_and(|b| b >> (word % 8) & 1 != 0)
    }

    fn set(&mut self, word: u64) {
        if let Some(b) = self.bits.get_mut((word / 8) as usize) {
            *b |= 1 << (word % 8);
        }
    }

    /// Indices of the pointer words.
    pub fn ptr_words(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.nwords).filter(|&w| self.is_ptr(w))
    }

    /// Clear the bits past `nwords` in the last byte.
    fn trim(mut self) -> PtrMask {
        if !self.nwords.is_multiple_of(8) {
            if let Some(b) = self.bits.last_mut() {
                *b &= (1u8 << (self.nwords % 8)) - 1;
            }
        }
        self
    }
}

/// An itab: the pairing of an interface type and a concrete type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Itab {
    pub addr: u64,
    /// The interface type.
    pub inter: u64,
    /// The concrete type.
    pub ty: u64,
}

/// Type descriptors of a process, decoded on demand and cached. Shareable across threads.
pub struct TypeTable<'p> {
    p: &'p Process,
    l: &'p AbiLayout,
    /// Run-time `moduledata.types` / `etypes`.
    types: u64,
    etypes: u64,
    cache: RwLock<HashMap<u64, Arc<Type>>>,
    masks: RwLock<HashMap<u64, Arc<PtrMask>>>,
    dwarf_index: OnceLock<HashMap<u64, TypeId>>,
    by_name: OnceLock<HashMap<String, u64>>,
}

/// Deepest nesting of types followed (arrays of structs of arrays…).
const MAX_DEPTH: u32 = 100;
/// Longest name, field or method list accepted.
const MAX_NAME: u64 = 1 << 16;
const MAX_LIST: u64 = 1 << 16;
/// Largest pointer mask computed: 2^30 words (8 GiB of pointer-holding data).
const MAX_MASK_WORDS: u64 = 1 << 30;

impl Process {
    /// The type descriptors of this process.
    pub fn types(&self) -> Result<TypeTable<'_>> {
        let l = self.layouts.abi.as_ref().ok_or_else(|| {
            Error::Unsupported(self.layouts.abi_missing.clone().unwrap_or_else(|| "no type layouts".into()))
        })?;
        let md = self.exe.pclntab.moduledata();
        Ok(TypeTable {
            p: self,
            l,
            types: md.types.wrapping_add(self.bias),
            etypes: md.etypes.wrapping_add(self.bias),
            cache: RwLock::new(HashMap::new()),
            masks: RwLock::new(HashMap::new()),
            dwarf_index: OnceLock::new(),
            by_name: OnceLock::new(),
        })
    }
}

fn missing(addr: u64, len: u64, what: &str) -> Error {
    Error::MissingMemory { addr, len, what: what.to_string() }
}

impl<'p> TypeTable<'p> {
    fn u8(&self, a: u64, what: &str) -> Result<u8> {
        self.p.mem.read_u8(a).ok_or_else(|| missing(a, 1, what))
    }
    fn u16(&self, a: u64, what: &str) -> Result<u16> {
        self.p.mem.read_u16(a).ok_or_else(|| missing(a, 2, what))
    }
    fn u32(&self, a: u64, what: &str) -> Result<u32> {
        self.p.mem.read_u32(a).ok_or_else(|| missing(a, 4, what))
    }
    fn u64(&self, a: u64, what: &str) -> Result<u64> {
        self.p.mem.read_u64(a).ok_or_else(|| missing(a, 8, what))
    }
    fn bytes(&self, a: u64, len: u64, what: &str) -> Result<Vec<u8>> {
        if !self.p.mem.contains(a, len) {
            return Err(missing(a, len, what));
        }
        let mut v = vec![0u8; len as usize];
        if self.p.mem.read_into(a, &mut v) {
            Ok(v)
        } else {
            Err(missing(a, len, what))
        }
    }

    /// Whether `addr` is a descriptor of the module (between `types` and `etypes`).
    pub fn in_module(&self, addr: u64) -> bool {
        addr >= self.types && addr < self.etypes
    }

    /// Resolve a `NameOff` or `TypeOff` (relative to `moduledata.types`); None for 0 and -1
    /// (no type) and offsets outside the module.
    fn resolve_off(&self, off: u32) -> Option<u64> {
        let off = off as i32;
        if off == 0 || off == -1 {
            return None;
        }
        let a = self.types.wrapping_add(off as i64 as u64);
        self.in_module(a).then_some(a)
    }

    /// The decoded descriptor at `addr` (cached).
    pub fn get(&self, addr: u64) -> Result<Arc<Type>> {
        if let Some(t) = self.cache.read().ok().and_then(|c| c.get(&addr).cloned()) {
            return Ok(t);
        }
        let t = Arc::new(self.decode(addr)?);
        if let Ok(mut c) = self.cache.write() {
            c.insert(addr, t.clone());
        }
        Ok(t)
    }

    /// The name of the descriptor at `addr`, or a placeholder if it cannot be read.
    pub fn name(&self, addr: u64) -> String {
        match self.get(addr) {
            Ok(t) if !t.name.is_empty() => t.name.clone(),
            _ => format!("<type {addr:#x}>"),
        }
    }

    fn decode(&self, addr: u64) -> Result<Type> {
        if addr == 0 || !addr.is_multiple_of(8) {
            return Err(Error::malformed(format!("type descriptor {addr:#x}"), "misaligned or nil"));
        }
        let l = self.l;
        let what = "type descriptor";
        let raw_kind = self.u8(addr.wrapping_add(l.kind), what)?;
        let kind = Kind::from_u8(raw_kind & l.kind_mask).ok_or_else(|| {
            Error::malformed(format!("type descriptor {addr:#x}"), format!("bad kind {raw_kind:#x}"))
        })?;
        let tflag = self.u8(addr.wrapping_add(l.tflag), what)?;
        let size = self.u64(addr.wrapping_add(l.size), what)?;
        let ptr_bytes = self.u64(addr.wrapping_add(l.ptr_bytes), what)?;
        if ptr_bytes > size || ptr_bytes % 8 != 0 {
            return Err(Error::malformed(
                format!("type descriptor {addr:#x}"),
                format!("PtrBytes {ptr_bytes} vs size {size}"),
            ));
        }
        let has = |bit: Option<u8>, v: u8| bit.is_some_and(|b| v & b != 0);
        let gc = if has(l.kind_gc_prog, raw_kind) {
            GcData::Program
        } else if has(l.tflag_gc_mask_on_demand, tflag) {
            GcData::OnDemand
        } else {
            GcData::Mask
        };
        let direct_iface = match l.tflag_direct_iface {
            Some(b) => tflag & b != 0,
            None => has(l.kind_direct_iface, raw_kind),
        };
        let in_module = self.in_module(addr);
        let mut name = String::new();
        if in_module {
            let off = self.u32(addr.wrapping_add(l.str), what)?;
            if let Some(a) = self.resolve_off(off) {
                name = self.read_name(a)?.name;
            }
            if tflag & l.tflag_extra_star != 0 && name.starts_with('*') {
                name.remove(0);
            }
        }
        let ptr_to_this = if in_module {
            self.resolve_off(self.u32(addr.wrapping_add(l.ptr_to_this), what)?).unwrap_or(0)
        } else {
            0
        };
        let (detail, base, extra) = self.detail(addr, kind, tflag)?;
        let mut t = Type {
            addr,
            size,
            ptr_bytes,
            hash: self.u32(addr.wrapping_add(l.hash), what)?,
            tflag,
            kind,
            align: self.u8(addr.wrapping_add(l.align), what)?,
            name,
            named: tflag & l.tflag_named != 0,
            direct_iface,
            gc,
            gcdata: self.u64(addr.wrapping_add(l.gcdata), what)?,
            ptr_to_this,
            pkg_path: None,
            methods: 0,
            exported_methods: 0,
            detail,
            descriptor_size: base + extra,
        };
        if tflag & l.tflag_uncommon != 0 {
            let u = addr.wrapping_add(base);
            t.methods = self.u16(u.wrapping_add(l.uncommon_mcount), "uncommon type")?;
            t.exported_methods = self.u16(u.wrapping_add(l.uncommon_xcount), "uncommon type")?;
            let pkg = self.u32(u.wrapping_add(l.uncommon_pkg_path), "uncommon type")?;
            t.pkg_path = match self.resolve_off(pkg) {
                Some(a) => Some(self.read_name(a)?.name),
                None => Some(String::new()),
            };
            t.descriptor_size += l.uncommon_size + t.methods as u64 * l.method_size;
        }
        Ok(t)
    }

    /// The kind-specific part, the size of the kind's struct (where the uncommon part starts)
    /// and the size of what follows the uncommon part (func params, fields, methods).
    fn detail(&self, addr: u64, kind: Kind, tflag: u8) -> Result<(Detail, u64, u64)> {
        let l = self.l;
        let what = "type descriptor";
        let ptr = |off: u64| self.u64(addr.wrapping_add(off), what);
        Ok(match kind {
            Kind::Pointer => (Detail::Pointer { elem: ptr(l.ptr_elem)? }, l.ptr_type_size, 0),
            Kind::Slice => (Detail::Slice { elem: ptr(l.slice_elem)? }, l.slice_type_size, 0),
            Kind::Array => {
                (Detail::Array { elem: ptr(l.array_elem)?, len: ptr(l.array_len)? }, l.array_type_size, 0)
            }
            Kind::Chan => {
                let dir = match ptr(l.chan_dir)? {
                    1 => ChanDir::Recv,
                    2 => ChanDir::Send,
                    3 => ChanDir::Both,
                    d => {
                        return Err(Error::malformed(
                            format!("chan type {addr:#x}"),
                            format!("direction {d}"),
                        ))
                    }
                };
                (Detail::Chan { elem: ptr(l.chan_elem)?, dir }, l.chan_type_size, 0)
            }
            Kind::Map => (Detail::Map(self.map_info(addr)?), l.map.type_size, 0),
            Kind::Struct => {
                let pkg_path = self.name_at(ptr(l.struct_pkg_path)?)?;
                let (data, n) = self.slice_header(addr.wrapping_add(l.struct_fields))?;
                let mut fields = Vec::new();
                for i in 0..n {
                    let f = data.wrapping_add(i * l.field_size);
                    let name = self.read_name(self.u64(f.wrapping_add(l.field_name), "struct field")?)?;
                    fields.push(Field {
                        name: name.name,
                        ty: self.u64(f.wrapping_add(l.field_typ), "struct field")?,
                        offset: self.u64(f.wrapping_add(l.field_offset), "struct field")?,
                        embedded: name.embedded,
                        tag: name.tag,
                    });
                }
                (Detail::Struct { pkg_path, fields }, l.struct_type_size, n * l.field_size)
            }
            Kind::Interface => {
                let pkg_path = self.name_at(ptr(l.iface_pkg_path)?)?;
                let (data, n) = self.slice_header(addr.wrapping_add(l.iface_methods))?;
                let mut methods = Vec::new();
                for i in 0..n {
                    let m = data.wrapping_add(i * l.imethod_size);
                    let name = match self
                        .resolve_off(self.u32(m.wrapping_add(l.imethod_name), "interface method")?)
                    {
                        Some(a) => self.read_name(a)?.name,
                        None => String::new(),
                    };
                    let ty = self.resolve_off(self.u32(m.wrapping_add(l.imethod_typ), "interface method")?);
                    methods.push(IMethod { name, ty: ty.unwrap_or(0) });
                }
                (Detail::Interface { pkg_path, methods }, l.iface_type_size, n * l.imethod_size)
            }
            Kind::Func => {
                let nin = self.u16(addr.wrapping_add(l.func_in_count), what)? as u64;
                let out = self.u16(addr.wrapping_add(l.func_out_count), what)?;
                let nout = (out & 0x7fff) as u64;
                let mut params = l.func_type_size;
                if tflag & l.tflag_uncommon != 0 {
                    params += l.uncommon_size;
                }
                let all: Vec<u64> = (0..nin + nout).map(|i| ptr(params + 8 * i)).collect::<Result<_>>()?;
                let (ins, outs) = all.split_at(nin as usize);
                let d = Detail::Func { ins: ins.to_vec(), outs: outs.to_vec(), variadic: out & 0x8000 != 0 };
                (d, l.func_type_size, (nin + nout) * 8)
            }
            _ => (Detail::None, l.type_size, 0),
        })
    }

    fn map_info(&self, addr: u64) -> Result<MapInfo> {
        let m = &self.l.map;
        let what = "map type";
        let ptr = |off: u64| self.u64(addr.wrapping_add(off), what);
        let flags = self.u32(addr.wrapping_add(m.flags), what)?;
        let key = ptr(m.key)?;
        let elem = ptr(m.elem)?;
        let (group_size, keys_off, key_stride, elems_off, elem_stride);
        if m.swiss {
            group_size = ptr(m.group_size)?;
            if let (Some(ko), Some(ks), Some(eo), Some(es)) =
                (m.keys_off, m.key_stride, m.elems_off, m.elem_stride)
            {
                (keys_off, key_stride, elems_off, elem_stride) = (ptr(ko)?, ptr(ks)?, ptr(eo)?, ptr(es)?);
            } else {
                let (Some(ss), Some(eo)) = (m.slot_size, m.elem_off) else {
                    return Err(Error::Unsupported(
                        "swiss map type without SlotSize/ElemOff or KeysOff…".into(),
                    ));
                };
                let slot = ptr(ss)?;
                // Group: ctrl word, then slots {key, elem}.
                (keys_off, key_stride, elems_off, elem_stride) = (8, slot, 8 + ptr(eo)?, slot);
            }
        } else {
            group_size = self.u16(addr.wrapping_add(m.group_size), what)? as u64;
            let (Some(ks), Some(vs)) = (m.key_size, m.value_size) else {
                return Err(Error::Unsupported("bucket map type without KeySize/ValueSize".into()));
            };
            let ksz = self.u8(addr.wrapping_add(ks), what)? as u64;
            let vsz = self.u8(addr.wrapping_add(vs), what)? as u64;
            // Bucket: tophash [8]u8, keys [8]K, elems [8]V, overflow pointer.
            (keys_off, key_stride, elems_off, elem_stride) = (8, ksz, 8 + 8 * ksz, vsz);
        }
        Ok(MapInfo {
            key,
            elem,
            swiss: m.swiss,
            group: ptr(m.group)?,
            group_size,
            keys_off,
            key_stride,
            elems_off,
            elem_stride,
            indirect_key: flags & m.flag_indirect_key != 0,
            indirect_elem: flags & m.flag_indirect_elem != 0,
        })
    }

    /// A `[]T` header at `a`: (data, len), len bounded.
    fn slice_header(&self, a: u64) -> Result<(u64, u64)> {
        let data = self.u64(a, "slice header")?;
        let len = self.u64(a.wrapping_add(8), "slice header")?;
        if len > MAX_LIST {
            return Err(Error::malformed(format!("slice header at {a:#x}"), format!("length {len}")));
        }
        Ok((data, len))
    }

    /// The text of an `abi.Name` pointer (empty for nil).
    fn name_at(&self, a: u64) -> Result<String> {
        Ok(if a == 0 { String::new() } else { self.read_name(a)?.name })
    }

    /// Decode an `abi.Name`: flags byte, uvarint length, bytes, [uvarint tag length, tag].
    fn read_name(&self, a: u64) -> Result<Name> {
        let flags = self.u8(a, "type name")?;
        let (n, len) = self.uvarint(a.wrapping_add(1))?;
        let name = self.text(a.wrapping_add(1 + n), len)?;
        let mut tag = String::new();
        if flags & 2 != 0 {
            let t = a.wrapping_add(1 + n + len);
            let (n2, len2) = self.uvarint(t)?;
            tag = self.text(t.wrapping_add(n2), len2)?;
        }
        Ok(Name { name, tag, embedded: flags & 8 != 0 })
    }

    fn text(&self, a: u64, len: u64) -> Result<String> {
        if len > MAX_NAME {
            return Err(Error::malformed(format!("type name at {a:#x}"), format!("length {len}")));
        }
        Ok(String::from_utf8_lossy(&self.bytes(a, len, "type name")?).into_owned())
    }

    /// (bytes used, value)
    fn uvarint(&self, a: u64) -> Result<(u64, u64)> {
        let mut v = 0u64;
        for i in 0..10u64 {
            let b = self.u8(a.wrapping_add(i), "varint")?;
            v |= ((b & 0x7f) as u64) << (7 * i);
            if b & 0x80 == 0 {
                return Ok((i + 1, v));
            }
        }
        Err(Error::malformed(format!("varint at {a:#x}"), "too long"))
    }

    /// The pointer mask of a type over its `PtrBytes` (cached).
    pub fn ptr_mask(&self, t: &Type) -> Result<Arc<PtrMask>> {
        if let Some(m) = self.masks.read().ok().and_then(|c| c.get(&t.addr).cloned()) {
            return Ok(m);
        }
        let m = Arc::new(self.compute_mask(t)?);
        if let Ok(mut c) = self.masks.write() {
            c.insert(t.addr, m.clone());
        }
        Ok(m)
    }

    fn compute_mask(&self, t: &Type) -> Result<PtrMask> {
        let nwords = t.ptr_bytes / 8;
        if nwords > MAX_MASK_WORDS {
            return Err(Error::malformed(format!("type {:#x}", t.addr), "too large for a pointer mask"));
        }
        match t.gc {
            _ if nwords == 0 => Ok(PtrMask::zeroed(0)),
            GcData::Mask => {
                let bits = self.bytes(t.gcdata, nwords.div_ceil(8), "pointer mask")?;
                Ok(PtrMask { nwords, bits }.trim())
            }
            GcData::Program => self.run_gc_program(t),
            GcData::OnDemand => {
                let mut m = PtrMask::zeroed(nwords);
                self.build_mask(t, 0, &mut m, 0)?;
                Ok(m)
            }
        }
    }

    /// Write `t`'s pointer bits into `m` from word `at` (runtime/type.go `buildGCMask`).
    fn build_mask(&self, t: &Type, at: u64, m: &mut PtrMask, depth: u32) -> Result<()> {
        if t.ptr_bytes == 0 {
            return Ok(());
        }
        if depth > MAX_DEPTH {
            return Err(Error::malformed(format!("type {:#x}", t.addr), "types nested too deep"));
        }
        if t.gc != GcData::OnDemand {
            let own = self.ptr_mask(t)?;
            for w in own.ptr_words() {
                m.set(at + w);
            }
            return Ok(());
        }
        let bad = || Error::malformed(format!("type {:#x}", t.addr), "inconsistent on-demand type");
        match &t.detail {
            Detail::Array { elem, len } => {
                let e = self.get(*elem)?;
                if e.ptr_bytes == 0 {
                    return Ok(());
                }
                if e.size % 8 != 0 || len.checked_mul(e.size).is_none_or(|s| s > t.size) {
                    return Err(bad());
                }
                for i in 0..*len {
                    self.build_mask(&e, at + i * (e.size / 8), m, depth + 1)?;
                }
            }
            Detail::Struct { fields, .. } => {
                for f in fields {
                    let ft = self.get(f.ty)?;
                    if f.offset.checked_add(ft.size).is_none_or(|e| e > t.size) {
                        return Err(bad());
                    }
                    self.build_mask(&ft, at + f.offset / 8, m, depth + 1)?;
                }
            }
            _ => return Err(bad()),
        }
        Ok(())
    }

    /// Run a GC program (runtime/mbitmap.go `runGCProg`): literal bits, and repeats of the last
    /// n bits c times. The program follows a 4-byte length at `GCData`.
    fn run_gc_program(&self, t: &Type) -> Result<PtrMask> {
        let bad = |msg: &str| Error::malformed(format!("GC program of type {:#x}", t.addr), msg.to_string());
        let len = self.u32(t.gcdata, "GC program")? as u64;
        if len > MAX_LIST * 16 {
            return Err(bad("too long"));
        }
        let prog = self.bytes(t.gcdata.wrapping_add(4), len, "GC program")?;
        let limit = t.size / 8;
        if limit > MAX_MASK_WORDS {
            return Err(bad("type too large"));
        }
        let mut bits = PtrMask::zeroed(limit);
        let mut len = 0u64;
        let mut i = 0usize;
        let mut next = || -> Result<u8> {
            let b = *prog.get(i).ok_or_else(|| bad("truncated"))?;
            i += 1;
            Ok(b)
        };
        let varint = |next: &mut dyn FnMut() -> Result<u8>| -> Result<u64> {
            let mut v = 0u64;
            for s in (0..63).step_by(7) {
                let b = next()?;
                v |= ((b & 0x7f) as u64) << s;
                if b & 0x80 == 0 {
                    return Ok(v);
                }
            }
            Err(bad("varint too long"))
        };
        loop {
            let inst = next()?;
            let mut n = (inst & 0x7f) as u64;
            if inst & 0x80 == 0 {
                if n == 0 {
                    break;
                }
                if len + n > limit {
                    return Err(bad("longer than the type"));
                }
                for byte in 0..n.div_ceil(8) {
                    let b = next()?;
                    for j in 0..(n - byte * 8).min(8) {
                        if b >> j & 1 != 0 {
                            bits.set(len + j);
                        }
                    }
                    len += (n - byte * 8).min(8);
                }
                continue;
            }
            if n == 0 {
                n = varint(&mut next)?;
            }
            let c = varint(&mut next)?;
            let total = n.checked_mul(c).ok_or_else(|| bad("repeat overflows"))?;
            if n == 0 || n > len || len + total > limit {
                return Err(bad("bad repeat"));
            }
            let start = len - n;
            for k in 0..total {
                if bits.is_ptr(start.saturating_add(k % n)) {
                    bits.set(len + k);
                }
            }
            len += total;
        }
        bits.nwords = t.ptr_bytes / 8;
        bits.bits.truncate(bits.nwords.div_ceil(8) as usize);
        Ok(bits.trim())
    }

    /// The mask the runtime built for an on-demand type, if it has (None if the slot is still
    /// empty or being built, or the type is not on-demand).
    pub fn runtime_built_mask(&self, t: &Type) -> Result<Option<PtrMask>> {
        if t.gc != GcData::OnDemand {
            return Ok(None);
        }
        let p = self.u64(t.gcdata, "GC mask slot")?;
        let in_progress =
            self.p.exe.image.symbol("runtime.inProgress").map(|(a, _)| a.wrapping_add(self.p.bias));
        if p == 0 || Some(p) == in_progress {
            return Ok(None);
        }
        let nwords = t.ptr_bytes / 8;
        let bits = self.bytes(p, nwords.div_ceil(8), "built GC mask")?;
        Ok(Some(PtrMask { nwords, bits }.trim()))
    }

    /// The dynamic type of the `eface` (`any`) at `addr`; None if nil.
    pub fn eface_type(&self, addr: u64) -> Result<Option<Arc<Type>>> {
        match self.u64(addr.wrapping_add(self.l.eface_type), "eface")? {
            0 => Ok(None),
            t => self.get(t).map(Some),
        }
    }

    /// The dynamic type of the non-empty interface value at `addr` (through its itab); None if
    /// nil.
    pub fn iface_type(&self, addr: u64) -> Result<Option<Arc<Type>>> {
        match self.u64(addr.wrapping_add(self.l.iface_tab), "iface")? {
            0 => Ok(None),
            tab => self.get(self.itab(tab)?.ty).map(Some),
        }
    }

    /// The data word of an interface value at `addr`.
    pub fn iface_data(&self, addr: u64) -> Result<u64> {
        self.u64(addr.wrapping_add(self.l.iface_data), "interface data")
    }

    pub fn itab(&self, addr: u64) -> Result<Itab> {
        Ok(Itab {
            addr,
            inter: self.u64(addr.wrapping_add(self.l.itab_inter), "itab")?,
            ty: self.u64(addr.wrapping_add(self.l.itab_type), "itab")?,
        })
    }

    /// The itabs the linker made: `moduledata.itablinks` (≤1.26) or the itab range after the
    /// type descriptors (1.27+). Those made at run time live in `runtime.itabTable`.
    pub fn itabs(&self) -> Result<Vec<Itab>> {
        let md = self.p.exe.pclntab.moduledata();
        let mut out = Vec::new();
        if let Some((links, n)) = md.itablinks {
            let links = links.wrapping_add(self.p.bias);
            for i in 0..n.min(MAX_LIST * 16) {
                out.push(self.itab(self.u64(links.wrapping_add(8 * i), "itablinks")?)?);
            }
        } else if let (Some(off), Some(size)) = (md.itaboffset, md.itabsize) {
            let (mut a, end) = (self.types.wrapping_add(off), self.types.wrapping_add(off + size));
            while a < end {
                let it = self.itab(a)?;
                let fun0 = self.u64(a.wrapping_add(self.l.itab_fun), "itab")?;
                let mut size = self.l.itab_size;
                if fun0 != 0 {
                    if let Detail::Interface { methods, .. } = &self.get(it.inter)?.detail {
                        size += 8 * (methods.len() as u64).saturating_sub(1);
                    }
                }
                out.push(it);
                a += size.max(8);
            }
        }
        Ok(out)
    }

    /// The addresses of all type descriptors the linker made: `moduledata.typelinks` (≤1.26)
    /// or a walk of the descriptors laid out from `types` to `types + typedesclen` (1.27+).
    pub fn all(&self) -> Result<Vec<u64>> {
        let md = self.p.exe.pclntab.moduledata();
        let mut out = Vec::new();
        if let Some((links, n)) = md.typelinks {
            let links = links.wrapping_add(self.p.bias);
            for i in 0..n.min(MAX_LIST * 64) {
                let off = self.u32(links.wrapping_add(4 * i), "typelinks")?;
                out.push(self.types.wrapping_add(off as i32 as i64 as u64));
            }
        } else if let Some(len) = md.typedesclen {
            let end = self.types.wrapping_add(len);
            let mut a = self.types + 8;
            while a < end {
                a = a.next_multiple_of(8);
                let t = self.get(a)?;
                out.push(a);
                a += t.descriptor_size.max(8);
            }
        }
        Ok(out)
    }

    /// The function a func value points to: `funcval` is the value's pointer (the closure
    /// object); its first word is the code pointer. Returns (pc, function).
    pub fn funcval_target(&self, funcval: u64) -> Result<Option<(u64, Func)>> {
        let pc = self.u64(funcval.wrapping_add(self.l.funcval_fn), "funcval")?;
        Ok(self.p.func(pc).map(|f| (pc, f)))
    }

    /// The DWARF type of a runtime type (by `DW_AT_go_runtime_type`).
    pub fn dwarf_type(&self, addr: u64) -> Option<TypeId> {
        let index = self.dwarf_index.get_or_init(|| {
            let mut m = HashMap::new();
            if let Some(d) = self.p.exe.dwarf.as_ref() {
                for i in 1..d.type_count() as u32 {
                    if let Some(off) = d.ty(TypeId(i)).runtime_type {
                        m.entry(self.types.wrapping_add(off)).or_insert(TypeId(i));
                    }
                }
            }
            m
        });
        index.get(&addr).copied()
    }

    /// A descriptor of [`Self::all`] by its name (`sync.entry[interface {},interface {}]`);
    /// None if several share it (names carry only the last element of the package path). Up
    /// to Go 1.26 `all` holds only the unnamed composite types (typelinks); from 1.27 every
    /// descriptor. The index is built on the first call.
    pub fn by_name(&self, name: &str) -> Option<u64> {
        let index = self.by_name.get_or_init(|| {
            let mut m: HashMap<String, u64> = HashMap::new();
            for a in self.all().unwrap_or_default() {
                if let Ok(t) = self.get(a) {
                    m.entry(t.name.clone()).and_modify(|v| *v = 0).or_insert(a);
                }
            }
            m
        });
        index.get(name).copied().filter(|&a| a != 0)
    }

    /// The runtime type (descriptor address) of a DWARF type, typedefs followed.
    pub fn runtime_type(&self, id: TypeId) -> Option<u64> {
        let d = self.p.exe.dwarf.as_ref()?;
        let off = d.ty(id).runtime_type.or_else(|| d.ty(d.resolve(id)).runtime_type)?;
        Some(self.types.wrapping_add(off))
    }
}

struct Name {
    name: String,
    tag: String,
    embedded: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    /// Dumps of the types fixture program: directories holding `dump`, `exe` and `types.json`
    /// (the program's own table: reflect names, descriptor addresses, sizes, kinds, masks),
    /// under `$GOMORTEM_TYPES_DIRS` (colon-separated) and `$GOMORTEM_FIXTURES` or
    /// `fixtures/cache`, up to three levels down.
    fn type_fixtures() -> Vec<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut roots: Vec<PathBuf> = std::env::var("GOMORTEM_TYPES_DIRS")
            .map(|v| v.split(':').map(PathBuf::from).collect())
            .unwrap_or_default();
        roots.push(
            std::env::var_os("GOMORTEM_FIXTURES")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("fixtures/cache")),
        );
        let mut out = Vec::new();
        fn walk(d: &Path, depth: u32, out: &mut Vec<PathBuf>) {
            if d.join("types.json").is_file() && d.join("dump").is_file() && d.join("exe").is_file() {
                out.push(d.to_path_buf());
            }
            if depth == 0 {
                return;
            }
            let mut subs: Vec<PathBuf> = std::fs::read_dir(d)
                .map(|r| r.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect())
                .unwrap_or_default();
            subs.sort();
            for s in subs {
                walk(&s, depth - 1, out);
            }
        }
        for r in roots {
            walk(&r, 3, &mut out);
        }
        out
    }

    fn mask_string(m: &PtrMask) -> String {
        (0..m.nwords).map(|w| if m.is_ptr(w) { '1' } else { '0' }).collect()
    }

    #[test]
    fn real_types() {
        let dirs = type_fixtures();
        if dirs.is_empty() {
            eprintln!("note: no types fixtures (dump + exe + types.json) found; skipping");
            return;
        }
        for d in dirs {
            check_dir(&d);
        }
    }

    fn check_dir(d: &Path) {
        let p = Process::open(&d.join("dump"), Some(&d.join("exe"))).unwrap();
        let tt = p.types().unwrap();
        let table: Vec<serde_json::Value> =
            serde_json::from_slice(&std::fs::read(d.join("types.json")).unwrap()).unwrap();
        let addr = |e: &serde_json::Value| {
            u64::from_str_radix(e["addr"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
        };
        let (mut n, mut by_gc, mut built, mut dwarf) = (0, HashMap::new(), 0, 0);
        for e in table.iter().filter(|e| e["var"].is_null()) {
            let a = addr(e);
            let t = tt.get(a).unwrap();
            let want = e["name"].as_str().unwrap();
            assert_eq!(t.name, want, "{}: name at {a:#x}", d.display());
            assert_eq!(t.size, e["size"].as_u64().unwrap(), "{want}: size");
            assert_eq!(t.kind.name(), e["kind"].as_str().unwrap(), "{want}: kind");
            let m = tt.ptr_mask(&t).unwrap();
            assert_eq!(mask_string(&m), e["mask"].as_str().unwrap(), "{want}: mask ({:?})", t.gc);
            if let Some(rm) = tt.runtime_built_mask(&t).unwrap() {
                assert_eq!(rm, *m, "{want}: runtime-built mask");
                built += 1;
            }
            *by_gc.entry(format!("{:?}", t.gc)).or_insert(0) += 1;
            match t.kind {
                Kind::Pointer | Kind::Map | Kind::Chan | Kind::Func => {
                    assert!(t.direct_iface, "{want}")
                }
                Kind::String | Kind::Slice | Kind::Interface => assert!(!t.direct_iface, "{want}"),
                _ => {}
            }
            if let Some(id) = tt.dwarf_type(a) {
                let dw = p.exe.dwarf.as_ref().unwrap();
                assert_eq!(dw.ty(dw.resolve(id)).size, t.size, "{want}: DWARF size");
                assert_eq!(tt.runtime_type(id), Some(a), "{want}: DWARF round trip");
                dwarf += 1;
            }
            // Element and field types decode too.
            match &t.detail {
                _ if t.named => {}
                Detail::Struct { fields, .. } => {
                    fields.iter().for_each(|f| assert!(!tt.name(f.ty).starts_with('<')))
                }
                Detail::Map(mi) => {
                    assert!(want.starts_with(&format!("map[{}]", tt.name(mi.key))), "{want}");
                    assert!(want.ends_with(&tt.name(mi.elem)), "{want}");
                }
                _ => {
                    if let Some(el) = t.elem() {
                        assert!(want.ends_with(&tt.name(el)), "{want} elem {}", tt.name(el));
                    }
                }
            }
            n += 1;
        }
        for e in table.iter().filter(|e| e.get("var").is_some()) {
            let a = addr(e);
            match e["var"].as_str().unwrap() {
                "gErr" | "gStr" => {
                    assert_eq!(tt.iface_type(a).unwrap().unwrap().name, e["name"].as_str().unwrap())
                }
                "gAny" | "gAnyInt" => {
                    assert_eq!(tt.eface_type(a).unwrap().unwrap().name, e["name"].as_str().unwrap())
                }
                v => {
                    let fv = p.read_u64(a, "func value").unwrap();
                    let (_, f) = tt.funcval_target(fv).unwrap().unwrap();
                    assert_eq!(p.func_name(f), e["func"].as_str().unwrap(), "{v}");
                }
            }
        }
        // Every linked type decodes; its mask equals the DWARF-derived layout and the one the
        // runtime built, where those exist.
        let all = tt.all().unwrap();
        let dw = p.exe.dwarf.as_ref().unwrap();
        let (mut vs_dwarf, mut vs_built) = (0, 0);
        for &a in &all {
            let t = tt.get(a).unwrap();
            assert!(!t.name.is_empty(), "type at {a:#x}");
            let m = tt.ptr_mask(&t).unwrap();
            if let Some(rm) = tt.runtime_built_mask(&t).unwrap() {
                assert_eq!(rm, *m, "{}: runtime-built mask", t.name);
                vs_built += 1;
            }
            let Some(id) = tt.dwarf_type(a).filter(|&id| dw.ty(dw.resolve(id)).size == t.size) else {
                continue;
            };
            let mut words = vec![false; (t.size / 8) as usize];
            dwarf_ptrs(dw, id, 0, &mut words);
            let want: String = words.iter().map(|&b| if b { '1' } else { '0' }).collect();
            assert_eq!(mask_string(&m), want.trim_end_matches('0'), "{}: mask vs DWARF", t.name);
            vs_dwarf += 1;
        }
        let itabs = tt.itabs().unwrap();
        for it in &itabs {
            assert_eq!(tt.get(it.inter).unwrap().kind, Kind::Interface);
            tt.get(it.ty).unwrap();
        }
        assert!(itabs.iter().any(|it| tt.name(it.ty) == "*main.myErr" && tt.name(it.inter) == "error"));
        eprintln!(
            "{}: {n} types ok ({by_gc:?}, {built} runtime-built masks equal), {dwarf} DWARF-mapped, \
             {} linked types ({vs_dwarf} masks equal DWARF's, {vs_built} the runtime's), {} itabs",
            d.display(),
            all.len(),
            itabs.len()
        );
        bad_addresses(&tt);
    }

    /// Pointer words of a DWARF type placed at word `at` (interfaces: the data word only).
    fn dwarf_ptrs(dw: &crate::exe::Dwarf, id: TypeId, off: u64, words: &mut [bool]) {
        use crate::exe::dwarf::Kind as K;
        let id = dw.resolve(id);
        let t = dw.ty(id);
        let mut set = |w: u64| {
            if let Some(b) = words.get_mut(w as usize) {
                *b = true;
            }
        };
        match t.kind {
            // Pointers to not-in-heap memory are not GC pointers.
            K::Pointer if t.target.is_some_and(|e| not_in_heap(dw, e, 0)) => {}
            K::Pointer | K::Map | K::Chan | K::Func | K::String | K::Slice => set(off / 8),
            K::Interface => set(off / 8 + 1),
            K::Array => {
                let (Some(e), Some(n)) = (t.target, t.count) else {
                    return;
                };
                let es = dw.ty(dw.resolve(e)).size;
                for i in 0..n {
                    dwarf_ptrs(dw, e, off + i * es, words);
                }
            }
            K::Struct => {
                for f in dw.fields(id) {
                    dwarf_ptrs(dw, f.ty, off + f.offset, words);
                }
            }
            _ => {}
        }
    }

    /// A type marked `sys.NotInHeap` (directly, or through a field or array element).
    fn not_in_heap(dw: &crate::exe::Dwarf, id: TypeId, depth: u32) -> bool {
        use crate::exe::dwarf::Kind as K;
        let id = dw.resolve(id);
        let t = dw.ty(id);
        if depth > 4 {
            return false;
        }
        dw.type_name(id).ends_with("sys.NotInHeap")
            || match t.kind {
                K::Struct => dw.fields(id).iter().any(|f| not_in_heap(dw, f.ty, depth + 1)),
                K::Array => t.target.is_some_and(|e| not_in_heap(dw, e, depth + 1)),
                _ => false,
            }
    }

    /// Addresses that are not descriptors give errors, not panics.
    fn bad_addresses(tt: &TypeTable) {
        for a in [0, 1, 0x10, u64::MAX - 7, tt.types + 3] {
            assert!(tt.get(a).is_err(), "{a:#x}");
        }
        // Inside the module but not at a descriptor: an error or a (garbage) type, no panic.
        for off in (0..4096).step_by(8) {
            if let Ok(t) = tt.get(tt.types + off) {
                let _ = tt.ptr_mask(&t);
            }
        }
    }
}
