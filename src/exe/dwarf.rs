//! DWARF (4 and 5, compressed or not): type layouts, integer constants and global variables.
//!
//! [`Dwarf::load`] walks `.debug_info` once with gimli's raw entry reader, keeping only the
//! compile-unit-level type DIEs (with their struct members and array ranges), constants and
//! variables; every other DIE is skipped without being decoded. Names are not copied: a
//! [`Str`] is a span of the section that holds it (`.debug_info` for Go's inline strings),
//! and the sections are kept alive in the struct (borrowed from the executable's map when
//! uncompressed, owned when they had to be decompressed).

use std::collections::HashMap;
use std::sync::Arc;

use gimli::{constants as dw, AttributeValue, EndianSlice, LittleEndian, SectionId};

use super::Image;
use crate::dump::MappedFile;
use crate::{Error, Result};

/// Go's DWARF extension attributes (cmd/internal/dwarf).
const DW_AT_GO_KIND: u16 = 0x2900;
const DW_AT_GO_KEY: u16 = 0x2901;
const DW_AT_GO_ELEM: u16 = 0x2902;
const DW_AT_GO_EMBEDDED_FIELD: u16 = 0x2903;
const DW_AT_GO_RUNTIME_TYPE: u16 = 0x2904;
/// Go 1.23+: on a closure function's variable, its offset in the closure context.
const DW_AT_GO_CLOSURE_OFFSET: u16 = 0x2907;

/// Go `abi.Kind` values carried in `DW_AT_go_kind`.
mod go_kind {
    pub const CHAN: u8 = 18;
    pub const FUNC: u8 = 19;
    pub const INTERFACE: u8 = 20;
    pub const MAP: u8 = 21;
    pub const SLICE: u8 = 23;
    pub const STRING: u8 = 24;
}

/// Index of a type in [`Dwarf`]'s table. `TypeId(0)` is a placeholder "unknown" type that
/// unresolvable references point to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeId(pub u32);

/// A name in one of the DWARF string-holding sections; read it with [`Dwarf::str`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Str {
    buf: u8,
    off: u32,
    len: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Bool,
    Int,
    Uint,
    Float,
    Complex,
    Pointer,
    Array,
    Slice,
    String,
    Struct,
    Interface,
    Map,
    Chan,
    Func,
    /// A Go named type's typedef (e.g. the `runtime.g` typedef of the `runtime.g` struct).
    Typedef,
    Unspecified,
}

#[derive(Clone, Debug)]
pub struct Type {
    pub name: Str,
    pub kind: Kind,
    /// Size in bytes; for typedefs and interfaces the size of what they stand for, for
    /// pointers, maps, chans and funcs the pointer size; 0 if unknown.
    pub size: u64,
    /// `DW_AT_type` as written: the pointee of a pointer, the element of an array, the type a
    /// typedef names, the representation of a chan/map (`*hchan<T>`, `*map<K,V>`) or an
    /// interface (`runtime.iface`/`runtime.eface`). None for `unsafe.Pointer`.
    pub target: Option<TypeId>,
    /// Element type: of arrays and slices and chans (`DW_AT_go_elem`), map values.
    pub elem: Option<TypeId>,
    /// Map key type (`DW_AT_go_key`).
    pub key: Option<TypeId>,
    /// Array length.
    pub count: Option<u64>,
    /// `DW_AT_go_kind` (the reflect/abi kind), when present.
    pub go_kind: Option<u8>,
    /// `DW_AT_go_runtime_type`: offset of the type's `abi.Type` from `moduledata.types`; None
    /// when absent or 0 (the type has no descriptor in this binary).
    pub runtime_type: Option<u64>,
    /// Range of this type's members in the shared field table (see [`Dwarf::fields`]).
    fields: (u32, u32),
}

#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub name: Str,
    pub offset: u64,
    pub ty: TypeId,
    /// `DW_AT_go_embedded_field`.
    pub embedded: bool,
}

/// The DWARF sections gomortem reads, decompressed.
pub struct Sections<'a> {
    pub info: std::borrow::Cow<'a, [u8]>,
    pub abbrev: std::borrow::Cow<'a, [u8]>,
    pub str_: Option<std::borrow::Cow<'a, [u8]>>,
    pub line_str: Option<std::borrow::Cow<'a, [u8]>>,
}

/// A DWARF section's bytes, kept for the strings that point into it.
#[derive(Clone)]
enum Buf {
    Empty,
    Mapped { file: MappedFile, off: usize, len: usize },
    Owned(Vec<u8>),
}

impl Buf {
    fn bytes(&self) -> &[u8] {
        match self {
            Buf::Empty => &[],
            Buf::Mapped { file, off, len } => crate::bytes::bytes_at(file.bytes(), *off, *len).unwrap_or(&[]),
            Buf::Owned(v) => v,
        }
    }
}

/// The DWARF of a Go executable, read once.
#[derive(Clone)]
pub struct Dwarf {
    /// `.debug_info`, `.debug_str`, `.debug_line_str`: the sections names live in.
    bufs: [Buf; 3],
    /// DWARF version of the first compile unit (4 up to Go 1.24, 5 from Go 1.25).
    pub version: u16,
    types: Vec<Type>,
    fields: Vec<Field>,
    /// Named types sorted by name; real definitions before typedefs of the same name.
    by_name: Vec<TypeId>,
    /// Integer constants, sorted by name.
    constants: Vec<(Str, i64)>,
    /// Global variables (name, link-time address, type), sorted by name.
    globals: Vec<(Str, u64, TypeId)>,
    /// `.debug_info` offset of each type's DIE, by id (sorted; id 0 is the placeholder).
    /// Functions and their locals are read on demand by [`Dwarf::frame_locals`].
    type_dies: Vec<usize>,
    /// [`Dwarf::frame_locals`], read once (or why it could not be).
    locals: std::sync::OnceLock<std::result::Result<FrameLocals, String>>,
}

type R<'a> = EndianSlice<'a, LittleEndian>;

/// A type as read, before references are turned into ids.
struct RawType {
    die: usize,
    ty: Type,
    byte_size: Option<u64>,
    target: Option<usize>,
    elem: Option<usize>,
    key: Option<usize>,
}

struct RawField {
    field: Field,
    ty: Option<usize>,
}

impl Dwarf {
    /// None if the image has no DWARF (`-w`, stripped).
    pub fn load(image: &Image) -> Result<Option<Dwarf>> {
        let Some(info) = image.decompressed_section(".debug_info")? else {
            return Ok(None);
        };
        let abbrev = image
            .decompressed_section(".debug_abbrev")?
            .ok_or_else(|| Error::malformed("DWARF", ".debug_info without .debug_abbrev"))?;
        let sections = Sections {
            info,
            abbrev,
            str_: image.decompressed_section(".debug_str")?,
            line_str: image.decompressed_section(".debug_line_str")?,
        };
        Self::from_sections(sections, Some(&image.file)).map(Some)
    }

    /// Read the DWARF from its (decompressed) sections. Section bytes borrowed from `file` stay
    /// in it; others are kept as owned copies.
    pub fn from_sections(sections: Sections<'_>, file: Option<&MappedFile>) -> Result<Dwarf> {
        let Sections { info, abbrev, str_, line_str } = sections;
        let slices = [&info[..], str_.as_deref().unwrap_or(&[]), line_str.as_deref().unwrap_or(&[])];

        let dwarf: gimli::Dwarf<R<'_>> = gimli::Dwarf::load(|id| -> Result<R<'_>> {
            let data: &[u8] = match id {
                SectionId::DebugInfo => slices[0],
                SectionId::DebugAbbrev => &abbrev,
                SectionId::DebugStr => slices[1],
                SectionId::DebugLineStr => slices[2],
                _ => &[],
            };
            Ok(EndianSlice::new(data, LittleEndian))
        })?;
        let mut b = Builder::new(slices);
        b.walk(&dwarf).map_err(|e| Error::malformed("DWARF .debug_info", e.to_string()))?;

        let keep = |c: Option<std::borrow::Cow<'_, [u8]>>| match c {
            None => Buf::Empty,
            Some(std::borrow::Cow::Owned(v)) => Buf::Owned(v),
            Some(std::borrow::Cow::Borrowed(s)) => {
                let mapped = file.and_then(|file| {
                    let base = file.bytes().as_ptr() as usize;
                    let off = (s.as_ptr() as usize).checked_sub(base)?;
                    (off as u64 + s.len() as u64 <= file.len()).then(|| Buf::Mapped {
                        file: file.clone(),
                        off,
                        len: s.len(),
                    })
                });
                mapped.unwrap_or_else(|| Buf::Owned(s.to_vec()))
            }
        };
        let version = b.version;
        let type_dies = b.types.iter().map(|t| t.die).collect();
        let (types, fields, constants, globals) = b.finish();
        let mut d = Dwarf {
            bufs: [keep(Some(info)), keep(str_), keep(line_str)],
            version,
            types,
            fields,
            by_name: Vec::new(),
            constants,
            globals,
            type_dies,
            locals: std::sync::OnceLock::new(),
        };
        d.index();
        Ok(d)
    }

    /// Sort the name tables.
    fn index(&mut self) {
        let mut by_name: Vec<TypeId> =
            (1..self.types.len() as u32).map(TypeId).filter(|&id| self.ty(id).name.len > 0).collect();
        by_name.sort_by(|&a, &b| {
            let (ta, tb) = (self.ty(a), self.ty(b));
            self.str(ta.name)
                .cmp(self.str(tb.name))
                .then((ta.kind == Kind::Typedef).cmp(&(tb.kind == Kind::Typedef)))
                .then(a.cmp(&b))
        });
        self.by_name = by_name;
        let mut constants = std::mem::take(&mut self.constants);
        constants.sort_by(|a, b| self.str(a.0).cmp(self.str(b.0)));
        self.constants = constants;
        let mut globals = std::mem::take(&mut self.globals);
        globals.sort_by(|a, b| self.str(a.0).cmp(self.str(b.0)));
        self.globals = globals;
    }

    /// The text of a name.
    pub fn str(&self, s: Str) -> &str {
        let bytes = self.bufs[s.buf as usize].bytes();
        let (off, len) = (s.off as usize, s.len as usize);
        crate::bytes::bytes_at(bytes, off, len).ok().and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("")
    }

    /// Number of types (including the placeholder `TypeId(0)`).
    pub fn type_count(&self) -> usize {
        self.types.len()
    }

    pub fn ty(&self, id: TypeId) -> &Type {
        self.types.get(id.0 as usize).unwrap_or(&self.types[0])
    }

    pub fn type_name(&self, id: TypeId) -> &str {
        self.str(self.ty(id).name)
    }

    /// A type by its Go name ("runtime.g", "*runtime.g", "[]*runtime.g", "uint64",
    /// "map[string]int", "hchan<int>"…). For a named struct this is the struct, not its typedef.
    pub fn type_by_name(&self, name: &str) -> Option<TypeId> {
        let i = self.by_name.partition_point(|&id| self.type_name(id) < name);
        let id = *self.by_name.get(i)?;
        (self.type_name(id) == name).then_some(id)
    }

    /// Follow typedefs to the type they name.
    pub fn resolve(&self, mut id: TypeId) -> TypeId {
        for _ in 0..16 {
            let t = self.ty(id);
            match (t.kind, t.target) {
                (Kind::Typedef, Some(next)) => id = next,
                _ => break,
            }
        }
        id
    }

    /// The members of a struct (also of the structs Go uses for strings, slices and the
    /// synthesized `hchan<T>`, `map<K,V>`…), typedefs followed.
    pub fn fields(&self, id: TypeId) -> &[Field] {
        let (start, end) = self.ty(self.resolve(id)).fields;
        self.fields.get(start as usize..end as usize).unwrap_or(&[])
    }

    /// A member of a struct by name.
    pub fn field(&self, id: TypeId, name: &str) -> Option<&Field> {
        self.fields(id).iter().find(|f| self.str(f.name) == name)
    }

    /// A struct type by name (typedefs followed).
    pub fn struct_type(&self, name: &str) -> Option<&Type> {
        let t = self.ty(self.resolve(self.type_by_name(name)?));
        matches!(t.kind, Kind::Struct | Kind::Slice | Kind::String).then_some(t)
    }

    /// Offset of a dotted field path within a named struct: `field_offset("runtime.g",
    /// "sched.sp")`, `("runtime.g", "atomicstatus.value")`.
    pub fn field_offset(&self, type_name: &str, path: &str) -> Option<u64> {
        let mut id = self.type_by_name(type_name)?;
        let mut off = 0u64;
        for part in path.split('.') {
            let f = self.field(id, part)?;
            off = off.checked_add(f.offset)?;
            id = f.ty;
        }
        Some(off)
    }

    /// Size of a named type.
    pub fn size_of(&self, name: &str) -> Option<u64> {
        Some(self.ty(self.type_by_name(name)?).size)
    }

    /// An integer constant (`runtime._Gwaiting`, `runtime.heapArenaBytes`…).
    pub fn constant(&self, name: &str) -> Option<i64> {
        let i = self.constants.partition_point(|c| self.str(c.0) < name);
        self.constants.get(i).filter(|c| self.str(c.0) == name).map(|c| c.1)
    }

    /// All integer constants, sorted by name.
    pub fn constants(&self) -> impl Iterator<Item = (&str, i64)> + '_ {
        self.constants.iter().map(|c| (self.str(c.0), c.1))
    }

    /// A global variable's link-time address and type (`runtime.allgs`…).
    pub fn global(&self, name: &str) -> Option<(u64, TypeId)> {
        let i = self.globals.partition_point(|g| self.str(g.0) < name);
        self.globals.get(i).filter(|g| self.str(g.0) == name).map(|g| (g.1, g.2))
    }

    /// All global variables (name, link-time address, type), sorted by name.
    pub fn globals(&self) -> impl Iterator<Item = (&str, u64, TypeId)> + '_ {
        self.globals.iter().map(|g| (self.str(g.0), g.1, g.2))
    }
}

/// State of the single pass over `.debug_info`.
struct Builder<'a> {
    /// The sections names may point into, in [`Dwarf::bufs`] order.
    slices: [&'a [u8]; 3],
    version: u16,
    types: Vec<RawType>,
    fields: Vec<RawField>,
    constants: Vec<(Str, i64)>,
    globals: Vec<(Str, u64, Option<usize>)>,
}

/// What is being read at depth 1 whose children (members, array range) matter.
#[derive(Clone, Copy, PartialEq)]
enum Parent {
    None,
    Struct,
    Array,
}

impl<'a> Builder<'a> {
    fn new(slices: [&'a [u8]; 3]) -> Self {
        let unknown = RawType {
            die: 0,
            ty: Type {
                name: Str::default(),
                kind: Kind::Unspecified,
                size: 0,
                target: None,
                elem: None,
                key: None,
                count: None,
                go_kind: None,
                runtime_type: None,
                fields: (0, 0),
            },
            byte_size: None,
            target: None,
            elem: None,
            key: None,
        };
        Builder {
            slices,
            version: 0,
            types: vec![unknown],
            fields: Vec::new(),
            constants: Vec::new(),
            globals: Vec::new(),
        }
    }

    /// A span for a string that lies in one of the sections; None otherwise or if not UTF-8.
    fn span(&self, s: &[u8]) -> Option<Str> {
        std::str::from_utf8(s).ok()?;
        let p = s.as_ptr() as usize;
        self.slices.iter().enumerate().find_map(|(i, b)| {
            let base = b.as_ptr() as usize;
            (p >= base && p + s.len() <= base + b.len()).then(|| Str {
                buf: i as u8,
                off: (p - base) as u32,
                len: s.len() as u32,
            })
        })
    }

    fn string(&self, dwarf: &gimli::Dwarf<R<'a>>, v: AttributeValue<R<'a>>) -> Option<Str> {
        let s = match v {
            AttributeValue::String(s) => s,
            AttributeValue::DebugStrRef(o) => dwarf.debug_str.get_str(o).ok()?,
            AttributeValue::DebugLineStrRef(o) => dwarf.debug_line_str.get_str(o).ok()?,
            _ => return None,
        };
        self.span(s.slice())
    }

    fn walk(&mut self, dwarf: &gimli::Dwarf<R<'a>>) -> gimli::Result<()> {
        let mut units = dwarf.units();
        let mut abbrevs: HashMap<usize, Arc<gimli::Abbreviations>> = HashMap::new();
        while let Some(unit) = units.next()? {
            if self.version == 0 {
                self.version = unit.version();
            }
            let ab = match abbrevs.get(&unit.debug_abbrev_offset().0) {
                Some(a) => a.clone(),
                None => {
                    let a = dwarf.abbreviations(&unit)?;
                    abbrevs.insert(unit.debug_abbrev_offset().0, a.clone());
                    a
                }
            };
            let mut entries = unit.entries_raw(&ab, None)?;
            let mut parent = Parent::None;
            while !entries.is_empty() {
                let depth = entries.next_depth();
                let die = entries.next_offset().to_debug_info_offset(&unit).map_or(0, |o| o.0);
                let Some(abbrev) = entries.read_abbreviation()? else {
                    continue;
                };
                let tag = abbrev.tag();
                if depth == 1 {
                    parent = Parent::None;
                }
                let wanted = match depth {
                    1 => matches!(
                        tag,
                        dw::DW_TAG_base_type
                            | dw::DW_TAG_array_type
                            | dw::DW_TAG_typedef
                            | dw::DW_TAG_subroutine_type
                            | dw::DW_TAG_pointer_type
                            | dw::DW_TAG_structure_type
                            | dw::DW_TAG_unspecified_type
                            | dw::DW_TAG_constant
                            | dw::DW_TAG_variable
                    ),
                    2 => {
                        (parent == Parent::Struct && tag == dw::DW_TAG_member)
                            || (parent == Parent::Array && tag == dw::DW_TAG_subrange_type)
                    }
                    _ => false,
                };
                if !wanted {
                    entries.skip_attributes(abbrev.attributes())?;
                    continue;
                }
                let mut a = Attrs::default();
                for spec in abbrev.attributes() {
                    let attr = entries.read_attribute(*spec)?;
                    let v = attr.value();
                    let reference = |v: &AttributeValue<R<'a>>| match *v {
                        AttributeValue::DebugInfoRef(o) => Some(o.0),
                        AttributeValue::UnitRef(o) => o.to_debug_info_offset(&unit).map(|o| o.0),
                        _ => None,
                    };
                    match attr.name() {
                        dw::DW_AT_name => a.name = self.string(dwarf, v),
                        dw::DW_AT_type => a.ty = reference(&v),
                        dw::DW_AT_byte_size => a.byte_size = attr.udata_value(),
                        dw::DW_AT_encoding => {
                            if let AttributeValue::Encoding(e) = v {
                                a.encoding = Some(e);
                            }
                        }
                        dw::DW_AT_count => a.count = attr.udata_value(),
                        dw::DW_AT_upper_bound if a.count.is_none() => {
                            a.count = attr.udata_value().map(|u| u + 1)
                        }
                        dw::DW_AT_const_value => {
                            a.const_value = match v {
                                AttributeValue::Sdata(s) => Some(s),
                                _ => attr.udata_value().map(|u| u as i64),
                            }
                        }
                        dw::DW_AT_data_member_location => {
                            a.member_offset = match v {
                                AttributeValue::Exprloc(e) => plus_uconst(e.0.slice()),
                                AttributeValue::Block(b) => plus_uconst(b.slice()),
                                _ => attr.udata_value(),
                            }
                        }
                        dw::DW_AT_location => {
                            a.addr = match v {
                                AttributeValue::Exprloc(e) => op_addr(e.0.slice()),
                                AttributeValue::Block(b) => op_addr(b.slice()),
                                _ => None,
                            }
                        }
                        gimli::DwAt(DW_AT_GO_KIND) => a.go_kind = attr.udata_value().map(|k| k as u8),
                        gimli::DwAt(DW_AT_GO_KEY) => a.key = reference(&v),
                        gimli::DwAt(DW_AT_GO_ELEM) => a.elem = reference(&v),
                        gimli::DwAt(DW_AT_GO_EMBEDDED_FIELD) => {
                            a.embedded = matches!(v, AttributeValue::Flag(true))
                        }
                        // 0 is "no descriptor" (the linker writes it for types the binary
                        // has none for; no type lives at offset 0 of the types section).
                        gimli::DwAt(DW_AT_GO_RUNTIME_TYPE) => {
                            a.runtime_type = match v {
                                AttributeValue::Addr(x) => Some(x),
                                _ => attr.udata_value(),
                            }
                            .filter(|&x| x != 0)
                        }
                        _ => {}
                    }
                }
                self.add(tag, die, a, &mut parent);
            }
        }
        Ok(())
    }

    fn add(&mut self, tag: gimli::DwTag, die: usize, a: Attrs, parent: &mut Parent) {
        let kind = match tag {
            dw::DW_TAG_member => {
                if let Some(t) = self.types.last_mut() {
                    t.ty.fields.1 += 1;
                }
                self.fields.push(RawField {
                    field: Field {
                        name: a.name.unwrap_or_default(),
                        offset: a.member_offset.unwrap_or(0),
                        ty: TypeId(0),
                        embedded: a.embedded,
                    },
                    ty: a.ty,
                });
                return;
            }
            dw::DW_TAG_subrange_type => {
                if let Some(t) = self.types.last_mut() {
                    t.ty.count = a.count;
                }
                return;
            }
            dw::DW_TAG_constant => {
                if let (Some(n), Some(v)) = (a.name, a.const_value) {
                    self.constants.push((n, v));
                }
                return;
            }
            dw::DW_TAG_variable => {
                if let (Some(n), Some(addr)) = (a.name, a.addr) {
                    self.globals.push((n, addr, a.ty));
                }
                return;
            }
            dw::DW_TAG_base_type => match a.encoding {
                Some(dw::DW_ATE_boolean) => Kind::Bool,
                Some(dw::DW_ATE_signed) | Some(dw::DW_ATE_signed_char) => Kind::Int,
                Some(dw::DW_ATE_unsigned) | Some(dw::DW_ATE_unsigned_char) => Kind::Uint,
                Some(dw::DW_ATE_float) => Kind::Float,
                Some(dw::DW_ATE_complex_float) => Kind::Complex,
                _ => Kind::Unspecified,
            },
            dw::DW_TAG_array_type => {
                *parent = Parent::Array;
                Kind::Array
            }
            dw::DW_TAG_structure_type => {
                *parent = Parent::Struct;
                match a.go_kind {
                    Some(go_kind::SLICE) => Kind::Slice,
                    Some(go_kind::STRING) => Kind::String,
                    _ => Kind::Struct,
                }
            }
            dw::DW_TAG_pointer_type => Kind::Pointer,
            dw::DW_TAG_subroutine_type => Kind::Func,
            dw::DW_TAG_typedef => match a.go_kind {
                Some(go_kind::CHAN) => Kind::Chan,
                Some(go_kind::MAP) => Kind::Map,
                Some(go_kind::INTERFACE) => Kind::Interface,
                Some(go_kind::FUNC) => Kind::Func,
                _ => Kind::Typedef,
            },
            _ => Kind::Unspecified,
        };
        let n = self.fields.len() as u32;
        // Array elements are DW_AT_type; chans and slices name theirs with DW_AT_go_elem.
        let elem = if kind == Kind::Array { a.ty } else { a.elem };
        self.types.push(RawType {
            die,
            ty: Type {
                name: a.name.unwrap_or_default(),
                kind,
                size: 0,
                target: None,
                elem: None,
                key: None,
                count: None,
                go_kind: a.go_kind,
                runtime_type: a.runtime_type,
                fields: (n, n),
            },
            byte_size: a.byte_size,
            target: a.ty,
            elem,
            key: a.key,
        });
    }

    /// Resolve DIE references to ids and compute sizes.
    #[allow(clippy::type_complexity)]
    fn finish(self) -> (Vec<Type>, Vec<Field>, Vec<(Str, i64)>, Vec<(Str, u64, TypeId)>) {
        // DIEs were read in .debug_info order, so their offsets are sorted (id 0 aside).
        let dies: Vec<usize> = self.types.iter().map(|t| t.die).collect();
        let id_of = |die: Option<usize>| -> Option<TypeId> {
            let die = die?;
            let i = dies[1..].binary_search(&die).ok()? + 1;
            Some(TypeId(i as u32))
        };
        let mut types: Vec<Type> = Vec::with_capacity(self.types.len());
        for t in &self.types {
            let mut ty = t.ty.clone();
            ty.target = id_of(t.target);
            ty.elem = id_of(t.elem);
            ty.key = id_of(t.key);
            ty.size = t.byte_size.unwrap_or(0);
            types.push(ty);
        }
        // Sizes: pointer-shaped kinds are a pointer; typedefs and interfaces take their target's.
        for i in 0..types.len() {
            if self.types[i].byte_size.is_some() {
                continue;
            }
            types[i].size = match types[i].kind {
                Kind::Pointer | Kind::Map | Kind::Chan | Kind::Func => 8,
                Kind::Typedef | Kind::Interface => {
                    let mut cur = types[i].target;
                    let mut size = 0;
                    for _ in 0..16 {
                        let Some(c) = cur else { break };
                        let t = &types[c.0 as usize];
                        if self.types[c.0 as usize].byte_size.is_some() || t.kind != Kind::Typedef {
                            size = match t.kind {
                                Kind::Pointer | Kind::Map | Kind::Chan | Kind::Func => 8,
                                _ => t.size,
                            };
                            break;
                        }
                        cur = t.target;
                    }
                    size
                }
                _ => 0,
            };
        }
        let fields = self
            .fields
            .into_iter()
            .map(|f| Field { ty: id_of(f.ty).unwrap_or(TypeId(0)), ..f.field })
            .collect();
        let globals =
            self.globals.into_iter().map(|(n, a, t)| (n, a, id_of(t).unwrap_or(TypeId(0)))).collect();
        (types, fields, self.constants, globals)
    }
}

/// Where (part of) a local variable lives, relative to its frame's CFA (the caller's SP,
/// Go's `DW_AT_frame_base`), over a range of pcs.
#[derive(Clone, Copy, Debug)]
pub struct LocalPiece {
    /// Link-time pcs `[lo, hi)` where this holds; None: the whole function.
    pub pcs: Option<(u64, u64)>,
    pub cfa_off: i64,
    pub size: u64,
}

/// A named local variable or parameter of a function (or of a function inlined into it).
#[derive(Clone, Debug)]
pub struct Local {
    pub name: String,
    pub param: bool,
    pub ty: Option<TypeId>,
    /// Its pieces that live in the frame (pieces in registers are left out).
    pub pieces: Vec<LocalPiece>,
}

/// A variable a closure captured (Go 1.23+ `DW_AT_go_closure_offset`): where it is in the
/// closure context (the `funcval` object, whose word 0 is the code pointer). A variable
/// captured by reference is named `&x` and typed `*T`.
#[derive(Clone, Debug)]
pub struct Capture {
    pub name: String,
    pub offset: u64,
    pub ty: TypeId,
}

impl Capture {
    /// The variable's name (`x` for `&x`), and whether the closure holds a pointer to it.
    pub fn variable(&self) -> (&str, bool) {
        match self.name.strip_prefix('&') {
            Some(n) => (n, true),
            None => (&self.name, false),
        }
    }
}

/// The frame-resident locals of every function with code, read from the `DW_TAG_subprogram`
/// subtrees (see [`Dwarf::frame_locals`]), and the captured variables of closure functions.
#[derive(Clone, Default)]
pub struct FrameLocals {
    /// (low pc, high pc, locals), sorted by low pc.
    funcs: Vec<(u64, u64, Vec<Local>)>,
    /// (entry pc, captures by offset), sorted by entry pc.
    closures: Vec<(u64, Vec<Capture>)>,
}

impl FrameLocals {
    /// The local holding the frame word at `cfa_off` (from the CFA) while its function is at
    /// link-time `pc`, and the CFA offset where that piece of it starts.
    pub fn find(&self, pc: u64, cfa_off: i64) -> Option<(&Local, i64)> {
        let i = self.funcs.partition_point(|f| f.0 <= pc).checked_sub(1)?;
        let (lo, hi, vars) = self.funcs.get(i)?;
        if pc < *lo || pc >= *hi {
            return None;
        }
        vars.iter().find_map(|v| {
            v.pieces
                .iter()
                .find(|p| {
                    p.pcs.is_none_or(|(a, b)| a <= pc && pc < b)
                        && p.cfa_off <= cfa_off
                        && cfa_off < p.cfa_off.saturating_add(p.size as i64)
                })
                .map(|p| (v, p.cfa_off))
        })
    }

    /// The captured variables of the closure function whose link-time entry is `entry`, by
    /// offset (empty if it captures nothing, or the release does not describe captures).
    pub fn captures(&self, entry: u64) -> &[Capture] {
        let i = self.closures.partition_point(|c| c.0 < entry);
        self.closures.get(i).filter(|c| c.0 == entry).map_or(&[], |c| &c.1)
    }

    /// Number of functions with code.
    pub fn len(&self) -> usize {
        self.funcs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.funcs.is_empty()
    }
}

/// (pcs, CFA offset, piece size or None for the whole variable).
type RawPiece = (Option<(u64, u64)>, i64, Option<u64>);

/// A variable DIE under a concrete function, before its abstract origin and type are resolved.
struct RawLocal {
    func: usize,
    /// A direct child of the function's DIE (not in a lexical block or inlined call).
    top: bool,
    name: Option<String>,
    param: bool,
    ty: Option<usize>,
    origin: Option<usize>,
    closure_off: Option<u64>,
    pieces: Vec<RawPiece>,
}

/// What the locals pass collects: functions (low, high pc), their variables, and the names,
/// types and closure offsets of every named variable DIE (the targets of abstract origins).
#[derive(Default)]
struct LocalsPass {
    funcs: Vec<(u64, u64)>,
    vars: Vec<RawLocal>,
    named: HashMap<usize, (String, Option<usize>, Option<u64>)>,
}

impl Dwarf {
    /// The frame-resident locals and parameters of every concrete function, and the captures
    /// of closure functions: a second pass over `.debug_info`, with the location lists, made
    /// on the first call (`image` must be the one this was loaded from).
    pub fn frame_locals(&self, image: &Image) -> Result<&FrameLocals> {
        self.locals
            .get_or_init(|| self.read_frame_locals(image).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| Error::malformed("DWARF locals", e.clone()))
    }

    fn read_frame_locals(&self, image: &Image) -> Result<FrameLocals> {
        let sect = |n: &str| image.decompressed_section(n);
        let (info, abbrev) = (sect(".debug_info")?, sect(".debug_abbrev")?);
        let (loc, loclists, addr) = (sect(".debug_loc")?, sect(".debug_loclists")?, sect(".debug_addr")?);
        let (str_, line_str) = (sect(".debug_str")?, sect(".debug_line_str")?);
        // Parsing a unit reads its line program header and ranges too.
        let (line, ranges, rnglists) =
            (sect(".debug_line")?, sect(".debug_ranges")?, sect(".debug_rnglists")?);
        let d: gimli::Dwarf<R<'_>> = gimli::Dwarf::load(|id| -> Result<R<'_>> {
            let data = match id {
                SectionId::DebugInfo => info.as_deref(),
                SectionId::DebugAbbrev => abbrev.as_deref(),
                SectionId::DebugLoc => loc.as_deref(),
                SectionId::DebugLocLists => loclists.as_deref(),
                SectionId::DebugAddr => addr.as_deref(),
                SectionId::DebugStr => str_.as_deref(),
                SectionId::DebugLineStr => line_str.as_deref(),
                SectionId::DebugLine => line.as_deref(),
                SectionId::DebugRanges => ranges.as_deref(),
                SectionId::DebugRngLists => rnglists.as_deref(),
                _ => None,
            };
            Ok(EndianSlice::new(data.unwrap_or(&[]), LittleEndian))
        })?;
        let mut pass = LocalsPass::default();
        pass.walk(&d).map_err(|e| Error::malformed("DWARF locals", e.to_string()))?;

        let mut funcs: Vec<(u64, u64, Vec<Local>)> =
            pass.funcs.iter().map(|&(lo, hi)| (lo, hi, Vec::new())).collect();
        let mut closures: HashMap<usize, Vec<Capture>> = HashMap::new();
        for v in pass.vars {
            let origin = v.origin.and_then(|o| pass.named.get(&o));
            let Some(name) = v.name.or_else(|| origin.map(|o| o.0.clone())) else { continue };
            let ty = v.ty.or_else(|| origin.and_then(|o| o.1)).and_then(|die| self.type_of_die(die));
            let closure_off = v.closure_off.or_else(|| origin.and_then(|o| o.2));
            if let (Some(offset), Some(ty), true) = (closure_off, ty, v.top) {
                closures.entry(v.func).or_default().push(Capture { name: name.clone(), offset, ty });
            }
            if v.pieces.is_empty() {
                continue;
            }
            let whole = ty.map(|t| self.ty(t).size).filter(|s| *s > 0).unwrap_or(8);
            let pieces = v
                .pieces
                .iter()
                .map(|&(pcs, cfa_off, size)| LocalPiece { pcs, cfa_off, size: size.unwrap_or(whole) })
                .collect();
            if let Some(f) = funcs.get_mut(v.func) {
                f.2.push(Local { name, param: v.param, ty, pieces });
            }
        }
        funcs.sort_by_key(|f| f.0);
        let mut closures: Vec<(u64, Vec<Capture>)> = closures
            .into_iter()
            .filter_map(|(f, mut c)| {
                c.sort_by_key(|c| c.offset);
                c.dedup_by_key(|c| c.offset);
                Some((pass.funcs.get(f)?.0, c))
            })
            .collect();
        closures.sort_by_key(|c| c.0);
        closures.dedup_by_key(|c| c.0);
        Ok(FrameLocals { funcs, closures })
    }

    /// The type whose DIE is at `.debug_info` offset `die`.
    fn type_of_die(&self, die: usize) -> Option<TypeId> {
        let i = self.type_dies.get(1..)?.binary_search(&die).ok()? + 1;
        Some(TypeId(i as u32))
    }
}

impl LocalsPass {
    fn walk(&mut self, d: &gimli::Dwarf<R<'_>>) -> gimli::Result<()> {
        let mut units = d.units();
        while let Some(header) = units.next()? {
            let unit = d.unit(header)?;
            let mut entries = unit.entries_raw(None)?;
            // The concrete function being read and its depth.
            let mut func: Option<(usize, isize)> = None;
            while !entries.is_empty() {
                let depth = entries.next_depth();
                let die = entries.next_offset().to_debug_info_offset(&unit.header).map_or(0, |o| o.0);
                let Some(abbrev) = entries.read_abbreviation()? else { continue };
                if func.is_some_and(|(_, fd)| depth <= fd) {
                    func = None;
                }
                let tag = abbrev.tag();
                let is_var = tag == dw::DW_TAG_variable || tag == dw::DW_TAG_formal_parameter;
                if tag != dw::DW_TAG_subprogram && !(is_var && depth >= 2) {
                    entries.skip_attributes(abbrev.attributes())?;
                    continue;
                }
                let (mut low, mut high, mut high_len) = (None, None, None);
                let mut v = RawLocal {
                    func: func.map_or(0, |f| f.0),
                    top: func.is_some_and(|(_, fd)| depth == fd + 1),
                    name: None,
                    param: tag == dw::DW_TAG_formal_parameter,
                    ty: None,
                    origin: None,
                    closure_off: None,
                    pieces: Vec::new(),
                };
                for spec in abbrev.attributes() {
                    let attr = entries.read_attribute(*spec)?;
                    let val = attr.value();
                    let reference = |v: &AttributeValue<R<'_>>| match *v {
                        AttributeValue::DebugInfoRef(o) => Some(o.0),
                        AttributeValue::UnitRef(o) => o.to_debug_info_offset(&unit.header).map(|o| o.0),
                        _ => None,
                    };
                    match attr.name() {
                        dw::DW_AT_low_pc => low = d.attr_address(&unit, val)?,
                        dw::DW_AT_high_pc => match val {
                            AttributeValue::Udata(n) => high_len = Some(n),
                            v => high = d.attr_address(&unit, v)?,
                        },
                        dw::DW_AT_name if is_var => {
                            v.name = d.attr_string(&unit, val).ok().map(|s| s.to_string_lossy().into_owned())
                        }
                        dw::DW_AT_type if is_var => v.ty = reference(&val),
                        dw::DW_AT_abstract_origin if is_var => v.origin = reference(&val),
                        gimli::DwAt(DW_AT_GO_CLOSURE_OFFSET) if is_var => v.closure_off = attr.udata_value(),
                        dw::DW_AT_location if is_var && func.is_some() => {
                            if let AttributeValue::Exprloc(e) = val {
                                v.pieces
                                    .extend(frame_pieces(e.0.slice()).into_iter().map(|(o, s)| (None, o, s)));
                            } else if let Some(off) = d.attr_locations_offset(&unit, val)? {
                                let mut it = d.locations(&unit, off)?;
                                while let Some(le) = it.next()? {
                                    let pcs = Some((le.range.begin, le.range.end));
                                    v.pieces.extend(
                                        frame_pieces(le.data.0.slice()).into_iter().map(|(o, s)| (pcs, o, s)),
                                    );
                                }
                            }
                        }
                        _ => {}
                    }
                }
                if tag == dw::DW_TAG_subprogram {
                    if let Some(lo) = low {
                        let hi = high.or(high_len.map(|n| lo.wrapping_add(n))).unwrap_or(lo);
                        self.funcs.push((lo, hi));
                        func = Some((self.funcs.len() - 1, depth));
                    }
                    continue;
                }
                if let Some(n) = &v.name {
                    self.named.insert(die, (n.clone(), v.ty, v.closure_off));
                }
                let captured = v.closure_off.is_some() || v.origin.is_some();
                if func.is_some() && (!v.pieces.is_empty() || (captured && v.top)) {
                    self.vars.push(v);
                }
            }
        }
        Ok(())
    }
}

/// The pieces of a location expression that live in the frame: (CFA offset, piece size, None
/// for the whole variable). Go writes `DW_OP_call_frame_cfa [DW_OP_consts N DW_OP_plus]` or
/// `DW_OP_fbreg N` (its frame base is the CFA), registers as `DW_OP_regN`, and `DW_OP_piece`.
fn frame_pieces(e: &[u8]) -> Vec<(i64, Option<u64>)> {
    let mut out = Vec::new();
    // The expression's stack: (value, whether it is relative to the CFA).
    let mut stack: Vec<(i64, bool)> = Vec::new();
    let mut pieces = false;
    let mut r = EndianSlice::new(e, LittleEndian);
    let mut step = || -> Option<()> {
        use gimli::Reader as _;
        match r.read_u8().ok()? {
            0x9c => stack.push((0, true)),
            0x91 => stack.push((r.read_sleb128().ok()?, true)),
            0x11 => stack.push((r.read_sleb128().ok()?, false)),
            0x10 => stack.push((r.read_uleb128().ok()? as i64, false)),
            op @ (0x22 | 0x1c) => {
                let (b, a) = (stack.pop()?, stack.pop()?);
                let v = if op == 0x22 { a.0.wrapping_add(b.0) } else { a.0.wrapping_sub(b.0) };
                stack.push((v, a.1 || b.1));
            }
            0x23 => {
                let n = r.read_uleb128().ok()? as i64;
                let t = stack.last_mut()?;
                t.0 = t.0.wrapping_add(n);
            }
            0x50..=0x6f => stack.clear(),
            0x90 => {
                r.read_uleb128().ok()?;
                stack.clear();
            }
            0x93 => {
                let size = r.read_uleb128().ok()?;
                if let Some(&(off, true)) = stack.last() {
                    out.push((off, Some(size)));
                }
                stack.clear();
                pieces = true;
            }
            _ => return None,
        }
        (!r.is_empty()).then_some(())
    };
    while step().is_some() {}
    if !pieces {
        if let Some(&(off, true)) = stack.last() {
            out.push((off, None));
        }
    }
    out
}

/// The attributes of one DIE that matter here.
#[derive(Default)]
struct Attrs {
    name: Option<Str>,
    ty: Option<usize>,
    byte_size: Option<u64>,
    encoding: Option<gimli::DwAte>,
    count: Option<u64>,
    const_value: Option<i64>,
    member_offset: Option<u64>,
    addr: Option<u64>,
    go_kind: Option<u8>,
    key: Option<usize>,
    elem: Option<usize>,
    embedded: bool,
    runtime_type: Option<u64>,
}

/// `DW_OP_addr <u64>`: a global's static address.
fn op_addr(e: &[u8]) -> Option<u64> {
    match e {
        [0x03, rest @ ..] if rest.len() == 8 => crate::bytes::u64_at(rest, 0).ok(),
        _ => None,
    }
}

/// `DW_OP_plus_uconst <uleb>`: a member offset written as an expression.
fn plus_uconst(e: &[u8]) -> Option<u64> {
    let (&op, rest) = e.split_first()?;
    if op != 0x23 {
        return None;
    }
    let mut r = EndianSlice::new(rest, LittleEndian);
    gimli::Reader::read_uleb128(&mut r).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exe::image::tests::fixture_exes;
    use crate::exe::BuildInfo;

    const REFERENCE: &str = "/work/shared/reference";

    /// Fixtures with DWARF, with their Go minor version ("1.26") and platform ("linux-amd64").
    /// Those built with a GOEXPERIMENT are left out (the reference layouts are for defaults).
    fn with_dwarf() -> Vec<(String, String, Image, Dwarf)> {
        let mut out = Vec::new();
        for (_, _, path) in fixture_exes() {
            let img = Image::open(&path).unwrap();
            let bi = BuildInfo::read(&img).unwrap();
            if !bi.experiments.is_empty() {
                continue;
            }
            let minor = format!("{}.{}", bi.version.0, bi.version.1);
            let plat = format!("{}-{}", img.os.name(), img.arch.name());
            match Dwarf::load(&img).unwrap_or_else(|e| panic!("{}: {e}", path.display())) {
                Some(d) => out.push((minor, plat, img, d)),
                None => assert!(img.decompressed_section(".debug_info").unwrap().is_none()),
            }
        }
        out
    }

    /// Every constant of `dwarf-consts/<minor>-<platform>.txt` has the same value here.
    #[test]
    fn constants_match_reference() {
        for (minor, plat, _, d) in with_dwarf() {
            let f = format!("{REFERENCE}/dwarf-consts/{minor}-{plat}.txt");
            let Ok(text) = std::fs::read_to_string(&f) else {
                eprintln!("note: no {f}: skipping");
                continue;
            };
            let mut n = 0;
            for line in text.lines() {
                let Some((name, rest)) = line.split_once(" = ") else {
                    continue;
                };
                let want: i64 = rest.split(' ').next().unwrap().parse().unwrap();
                match d.constant(name) {
                    Some(v) => assert_eq!(v, want, "{minor} {plat}: {name}"),
                    None => assert!(!name.starts_with("runtime."), "{minor} {plat}: no {name}"),
                }
                n += 1;
            }
            assert!(n > 200, "{f}: {n} constants");
        }
    }

    /// Struct sizes and field offsets agree with the layout appendix (for the structs this
    /// program has; linux-amd64 rows, overridden by the platform's differing rows).
    #[test]
    fn layouts_match_reference() {
        let Ok(text) = std::fs::read_to_string(format!("{REFERENCE}/go-runtime-layouts-appendix.md")) else {
            eprintln!("note: no layout appendix: skipping");
            return;
        };
        for (minor, plat, _, d) in with_dwarf() {
            // (type, field) -> offset: linux-amd64 first, then this platform's rows on top.
            // The bool says the row is linux-amd64's, for a type whose layout differs on this
            // platform: the appendix lists the added/moved rows, not the absent ones.
            let mut want: Vec<((String, String), u64, bool)> = Vec::new();
            let mut differs: Vec<String> = Vec::new();
            let (mut ty, mut section, mut col) = (String::new(), String::new(), None);
            for line in text.lines() {
                if let Some(t) = line.strip_prefix("## ") {
                    ty = t.trim().to_string();
                } else if let Some(s) = line.strip_prefix("### ") {
                    section = s.split(' ').next().unwrap_or("").to_string();
                    if section == plat && plat != "linux-amd64" {
                        differs.push(ty.clone());
                    }
                } else if line.starts_with("| field") {
                    col = line.split('|').map(str::trim).position(|c| c == minor);
                } else if line.starts_with("| ") && !line.starts_with("|---") {
                    if section != "linux-amd64" && section != plat {
                        continue;
                    }
                    let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                    let (Some(c), Some(field)) = (col, cells.get(1)) else {
                        continue;
                    };
                    let Some(v) = cells.get(c).and_then(|v| v.split(' ').next()) else {
                        continue;
                    };
                    let Some(v) = v.strip_prefix("0x").and_then(|h| u64::from_str_radix(h, 16).ok()) else {
                        continue;
                    };
                    let key = (ty.clone(), field.to_string());
                    want.retain(|(k, _, _)| *k != key);
                    want.push((key, v, section != plat));
                }
            }
            let mut checked = 0;
            for ((ty, field), v, base) in want {
                if d.type_by_name(&ty).is_none() || field == "_" || field.starts_with("_#") {
                    continue;
                }
                // The appendix used go1.24.4; go1.24.8+ added m.allpSnapshot (a patch-release fix).
                if minor == "1.24" && ty == "runtime.m" && d.field_offset(&ty, "allpSnapshot").is_some() {
                    continue;
                }
                let got = if field == "*sizeof*" { d.size_of(&ty) } else { d.field_offset(&ty, &field) };
                if got.is_none() && base && differs.contains(&ty) {
                    continue;
                }
                assert_eq!(got, Some(v), "{minor} {plat}: {ty}.{field}");
                checked += 1;
            }
            assert!(checked > 300, "{minor} {plat}: only {checked} offsets checked");
        }
    }

    #[test]
    fn types_globals_and_paths() {
        for (minor, plat, img, d) in with_dwarf() {
            let what = format!("{minor} {plat}");
            assert_eq!(d.version, if minor.as_str() >= "1.25" { 5 } else { 4 }, "{what}");
            let g = d.type_by_name("runtime.g").unwrap();
            assert_eq!(d.ty(g).kind, Kind::Struct);
            assert_eq!(d.field_offset("runtime.g", "sched.sp"), Some(0x38), "{what}");
            let goid = d.field_offset("runtime.g", "goid").unwrap();
            assert_eq!(d.field_offset("runtime.g", "atomicstatus.value"), Some(goid - 8), "{what}");
            let pg = d.type_by_name("*runtime.g").unwrap();
            assert_eq!((d.ty(pg).kind, d.ty(pg).size), (Kind::Pointer, 8));
            assert_eq!(d.resolve(d.ty(pg).target.unwrap()), g, "{what}");
            let sl = d.ty(d.type_by_name("[]*runtime.g").unwrap());
            assert_eq!((sl.kind, sl.size, sl.elem), (Kind::Slice, 24, Some(pg)), "{what}");
            let s = d.ty(d.type_by_name("string").unwrap());
            assert_eq!((s.kind, s.size), (Kind::String, 16));
            let u = d.ty(d.type_by_name("uint64").unwrap());
            assert_eq!((u.kind, u.size), (Kind::Uint, 8));
            // Maps and chans name their key/element types; the runtime's synthesized
            // per-type structs are there.
            for (i, t) in d.types.iter().enumerate() {
                let name = d.str(t.name);
                match t.kind {
                    Kind::Map => {
                        assert!(t.key.is_some() && t.elem.is_some() && t.size == 8, "{what}: {name}")
                    }
                    Kind::Chan => {
                        let elem = d.type_name(t.elem.unwrap());
                        let bare = ["chan ", "<-chan ", "chan<- "].iter().find_map(|p| name.strip_prefix(p));
                        // Named channel types (`type done chan struct{}`) carry their own name.
                        if let Some(bare) = bare {
                            assert_eq!(bare, elem, "{what}");
                        }
                        assert!(d.struct_type(&format!("hchan<{elem}>")).is_some(), "{what}: {name}");
                    }
                    Kind::Typedef => assert!(t.target.is_some(), "{what}: {name}"),
                    Kind::Pointer if name.starts_with('*') => {
                        let pointee = t.target.map(|p| d.type_name(p));
                        assert_eq!(name.strip_prefix('*'), pointee, "{what}: {i}");
                    }
                    _ => {}
                }
            }
            let e = d.ty(d.type_by_name("error").unwrap());
            assert_eq!((e.kind, e.size), (Kind::Interface, 16), "{what}");
            let arr = d.ty(d.type_by_name("runtime.m").map(|m| d.field(m, "tls").unwrap().ty).unwrap());
            assert_eq!((arr.kind, arr.count, arr.size), (Kind::Array, Some(6), 48), "{what}");
            assert!(d.fields.iter().any(|f| f.embedded), "{what}: no embedded fields");
            // Globals agree with the symbol table where there is one.
            let (addr, ty) = d.global("runtime.allgs").unwrap();
            assert_eq!(d.type_name(ty), "[]*runtime.g", "{what}");
            if let Some((sym, _)) = img.symbol("runtime.allgs") {
                assert_eq!(sym, addr, "{what}");
            }
            let n = d.globals().filter(|(n, a, _)| img.symbol(n).is_some_and(|s| s.0 == *a)).count();
            assert!(n * 10 >= d.globals().count() * 9, "{what}: {n} globals match symbols");
            // runtime_type is an offset from moduledata.types (runtime.types).
            let rt = d.ty(g).runtime_type.unwrap();
            if let Some((types, _)) = img.symbol("runtime.types") {
                let size = img.read_u64_at(types + rt);
                assert_eq!(size, Some(d.ty(g).size), "{what}: abi.Type.Size_ of runtime.g");
            }
        }
    }

    /// Closure captures (`DW_AT_go_closure_offset`, Go 1.23+): the webapp's logger middleware
    /// captures `mu` and `captured` by reference and `next` by value; Go 1.22 says nothing.
    /// No type keeps `DW_AT_go_runtime_type` 0 (the linker's "no descriptor").
    #[test]
    fn closure_captures() {
        for (minor, plat, img, d) in with_dwarf() {
            assert!(d.types.iter().all(|t| t.runtime_type != Some(0)), "{minor} {plat}");
            if d.global("main.run").is_none() || d.type_by_name("main.requestLog").is_none() {
                continue; // not the webapp
            }
            let what = format!("{minor} {plat}");
            let l = d.frame_locals(&img).unwrap();
            if minor.as_str() < "1.23" {
                assert!(l.closures.is_empty(), "{what}");
                continue;
            }
            let caps = |c: &[Capture]| -> Vec<(String, u64, String)> {
                c.iter().map(|c| (c.name.clone(), c.offset, d.type_name(c.ty).to_string())).collect()
            };
            let handler = l.closures.iter().map(|c| caps(&c.1)).find(|c| c.iter().any(|v| v.0 == "next"));
            let want = [
                ("&mu", 8, "*sync.Mutex"),
                ("&captured", 16, "*[]main.requestLog"),
                ("next", 24, "net/http.Handler"),
            ]
            .map(|(n, o, t)| (n.to_string(), o, t.to_string()));
            assert_eq!(handler.as_deref(), Some(&want[..]), "{what}");
            // Looked up by the function's entry.
            let entry = l.closures.iter().find(|c| c.1.len() == 3).map(|c| c.0).unwrap();
            assert_eq!(l.captures(entry).len(), 3, "{what}");
            assert!(l.captures(entry + 1).is_empty(), "{what}");
        }
    }

    /// Linux and Windows builds of one release give the same runtime.g and runtime.m layouts
    /// where the appendix says they agree (and the PE DWARF is `.zdebug_*`).
    #[test]
    fn pe_dwarf_matches_elf() {
        let all = with_dwarf();
        for (minor, plat, img, d) in &all {
            if !plat.starts_with("windows") {
                continue;
            }
            assert!(img.section(".zdebug_info").is_some() || img.section(".debug_info").is_some());
            let Some((_, _, _, l)) = all.iter().find(|x| x.0 == *minor && x.1 == "linux-amd64") else {
                continue;
            };
            for f in ["goid", "sched.sp", "sched.pc", "atomicstatus", "waitreason", "m", "startpc"] {
                assert_eq!(d.field_offset("runtime.g", f), l.field_offset("runtime.g", f), "{minor} {f}");
            }
            assert_eq!(d.size_of("runtime.g"), l.size_of("runtime.g"));
            assert_eq!(d.constant("runtime._Gwaiting"), l.constant("runtime._Gwaiting"));
        }
    }

    /// Corrupted DWARF is an error, never a panic.
    #[test]
    fn corrupt_debug_info() {
        let Some((_, _, path)) = fixture_exes().into_iter().next() else {
            return;
        };
        let img = Image::open(&path).unwrap();
        let Some(sec) = img.section(".debug_info").or_else(|| img.section(".zdebug_info")) else {
            return;
        };
        let (off, len) = sec.file_range.unwrap();
        let mut bytes = img.file.bytes().to_vec();
        bytes[off as usize..(off + len) as usize].fill(0xff);
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, &bytes).unwrap();
        let bad = Image::open(f.path()).unwrap();
        assert!(Dwarf::load(&bad).is_err());
    }

    #[test]
    fn expressions() {
        assert_eq!(op_addr(&[0x03, 1, 0, 0, 0, 0, 0, 0, 0]), Some(1));
        assert_eq!(op_addr(&[0x03, 1, 0]), None);
        assert_eq!(plus_uconst(&[0x23, 0x80, 0x01]), Some(128));
        assert_eq!(plus_uconst(&[0x23]), None);
    }
}
