//! GC roots, each named: what keeps the heap alive, as the runtime's mark phase sees it
//! (mgcmark.go `markroot`), for reachability and retained sizes.
//!
//! - Globals: `.data` and `.bss` through the module's GC masks (`gcdatamask`, `gcbssmask`,
//!   filled at start-up, so read from the dump), named by the symbol or DWARF global holding
//!   each word and, with DWARF, the field path within it. A static value only a pointer
//!   global points to (`var p = &T{…}`; Go 1.27 gives it no symbol) is named `*p`, typed `T`.
//! - Goroutine stacks (dead ones skipped): each physical frame's locals and arguments by its
//!   stack maps (stkframe.go `getStackMap`), stack objects live only if a live pointer of the
//!   same stack reaches them, `runtime.asyncPreempt` and the frame it interrupted scanned
//!   conservatively (so is the innermost frame of a goroutine caught mid-instruction),
//!   `g.sched.ctxt`, and `_defer` closures and heap-allocated records. Words are named by the
//!   DWARF local that holds them at that pc; a stack object no local describes but a channel
//!   operation of the goroutine waits on (`g.waiting` → `sudog.elem`) is a `(channel element)`
//!   of the channel's element type.
//! - Specials: a finalizer keeps what its object points to (not the object) and its function;
//!   a cleanup its function and argument; a weak pointer its handle. Queued finalizers
//!   (`runtime.allfin`) keep their function and object. The finalized objects' types (the
//!   element of the finalizer's `ot`) are in [`Roots::object_types`] for typing.
//!
//! Roots that hold function values (contexts, defers, finalizer and cleanup functions) are
//! typed `func()`, so that typing names the closures they hold.
//!
//! Not roots here: the cleanup queue (`gcCleanups`: cleanups of objects already dead, waiting
//! to run), `g._panic` (on the stack it belongs to), the 1.26+ `g.xRegs` vector registers of
//! async-preempted goroutines, and thread registers; `allgs` and the `g`s are not in the heap.

use rustc_hash::FxHashMap as HashMap;

use rayon::prelude::*;

use super::heap::{Heap, PointerInfo};
use super::layout::RootsLayout;
use super::types::{Kind as TypeKind, TypeTable};
use super::unwind::PhysFrame;
use super::Process;
use crate::dump::Arch;
use crate::exe::dwarf::{FrameLocals, Kind, TypeId};
use crate::exe::pclntab::{
    FUNCDATA_ARGS_POINTER_MAPS, FUNCDATA_LOCALS_POINTER_MAPS, FUNCDATA_STACK_OBJECTS, PCDATA_STACK_MAP_INDEX,
};
use crate::Result;

/// What kind of memory a root is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RootKind {
    Data,
    Bss,
    /// A frame's local variable or argument, by the frame's stack maps.
    Local,
    /// A stack object (an address-taken local) that a live pointer of its stack reaches.
    StackObject,
    /// Words of an async-preempted or interrupted frame, scanned conservatively.
    Conservative,
    /// `g.sched.ctxt`.
    Context,
    /// A `_defer` closure, or a heap-allocated `_defer` record.
    Defer,
    /// Everything a finalized object points to (the object itself is not a root).
    Finalizer,
    FinalizerFn,
    Cleanup,
    WeakHandle,
    /// A queued finalizer (`runtime.allfin`): its function and object.
    FinalizerQueue,
}

impl RootKind {
    fn on_stack(self) -> bool {
        matches!(self, RootKind::Local | RootKind::StackObject | RootKind::Conservative)
    }
}

/// One root: a named piece of memory outside the heap (or a special) that holds pointers.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Root {
    /// `main.cache`, `goroutine 17 main.worker buf`, `finalizer for 0x… (main.T)`…
    pub name: String,
    pub kind: RootKind,
    /// The goroutine, for stack roots.
    pub goroutine: Option<u64>,
    /// Address of the root's memory; edge offsets are from here. For a frame region with no
    /// variable name, the frame's sp.
    pub addr: u64,
    pub size: u64,
    /// The variable's DWARF type, when known: it names the field of each edge.
    #[serde(skip)]
    pub ty: Option<TypeId>,
    /// No variable name: edges are named by their offset.
    pub unnamed: bool,
}

impl Root {
    /// The Go type of the root's variable (`map[string]*main.session`, `sync.Pool`), when the
    /// executable describes it.
    pub fn type_name(&self, p: &Process) -> Option<String> {
        Some(p.exe.dwarf.as_ref()?.type_name(self.ty?).to_string())
    }
}

/// A pointer from a root to a heap object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RootEdge {
    pub root: u32,
    pub object: u32,
    /// Where the pointer is, from the root's address.
    pub offset: u64,
}

/// Every root and its pointers into the heap (roots without any are left out).
#[derive(Default)]
pub struct Roots {
    pub roots: Vec<Root>,
    pub edges: Vec<RootEdge>,
    /// Heap values whose run-time type a runtime record states: (address of the value, `abi.Type`).
    /// A finalized object (or a queued finalizer's argument) is the element type of the
    /// finalizer's `ot` (`*T` for `SetFinalizer(*T, …)`).
    pub object_types: Vec<(u64, u64)>,
    /// What was skipped and why.
    pub warnings: Vec<String>,
}

impl Roots {
    /// The full name of the pointer an edge stands for: `main.cfg.handlers[3]`,
    /// `goroutine 17 main.worker (frame +0x28)`, `main.buf+0x10`.
    pub fn path(&self, p: &Process, e: &RootEdge) -> String {
        let Some(r) = self.roots.get(e.root as usize) else {
            return String::new();
        };
        if let (Some(ty), Some(d)) = (r.ty, p.exe.dwarf.as_ref()) {
            let mut s = r.name.clone();
            field_path(d, ty, e.offset, &mut s);
            return s;
        }
        match (r.unnamed, e.offset) {
            (true, off) if r.kind.on_stack() && r.kind != RootKind::StackObject => {
                format!("{} (frame +{off:#x})", r.name)
            }
            (_, 0) => r.name.clone(),
            (_, off) => format!("{}+{off:#x}", r.name),
        }
    }

    /// Append `other`'s roots that hold pointers, with their edges (a root without any is
    /// left out); `map` is scratch.
    fn append_used(&mut self, other: Roots, map: &mut Vec<u32>) {
        map.clear();
        map.resize(other.roots.len(), u32::MAX);
        other.edges.iter().for_each(|e| map[e.root as usize] = 0);
        for (m, r) in map.iter_mut().zip(other.roots) {
            if *m == 0 {
                *m = self.roots.len() as u32;
                self.roots.push(r);
            }
        }
        self.edges.extend(other.edges.into_iter().map(|e| RootEdge { root: map[e.root as usize], ..e }));
        self.object_types.extend(other.object_types);
        self.warnings.extend(other.warnings);
    }
}

/// Append the field path of the word at `off` within a value of type `ty`.
fn field_path(d: &crate::exe::Dwarf, ty: TypeId, mut off: u64, out: &mut String) {
    let mut id = ty;
    for _ in 0..32 {
        // Slices, strings and interfaces are one value (1.27 describes slices as plain structs).
        let named = d.ty(id);
        let one = matches!(named.kind, Kind::Interface | Kind::Slice | Kind::String)
            || named.go_kind.is_some_and(|k| matches!(k, 20 | 23 | 24))
            || d.str(named.name).starts_with("[]");
        if one {
            break;
        }
        id = d.resolve(id);
        let t = d.ty(id);
        match t.kind {
            Kind::Struct => {
                let Some(f) = d.fields(id).iter().rev().find(|f| f.offset <= off) else {
                    break;
                };
                if off >= f.offset + d.ty(f.ty).size.max(1) {
                    break;
                }
                out.push('.');
                out.push_str(d.str(f.name));
                off -= f.offset;
                id = f.ty;
            }
            Kind::Array => {
                let Some(elem) = t.elem else { break };
                let esize = d.ty(elem).size;
                if esize == 0 {
                    break;
                }
                out.push_str(&format!("[{}]", off / esize));
                off %= esize;
                id = elem;
            }
            _ => break,
        }
    }
    if off != 0 {
        out.push_str(&format!("+{off:#x}"));
    }
}

/// Roots being collected: lazily created by key, edges only to heap objects.
struct Acc<'h> {
    heap: &'h Heap,
    out: Roots,
    keys: HashMap<(usize, String), u32>,
}

impl<'h> Acc<'h> {
    fn new(heap: &'h Heap) -> Self {
        Acc { heap, out: Roots::default(), keys: HashMap::default() }
    }

    /// The root for `key`, made by `make` the first time.
    fn root(&mut self, key: (usize, String), make: impl FnOnce() -> Root) -> u32 {
        keyed_root(&mut self.keys, &mut self.out.roots, key, make)
    }

    fn new_root(&mut self, r: Root) -> u32 {
        self.out.roots.push(r);
        (self.out.roots.len() - 1) as u32
    }

    /// An edge if `value` points into an allocated heap object.
    fn edge(&mut self, root: u32, offset: u64, value: u64) -> bool {
        match self.heap.find_object(value) {
            Some(object) => {
                self.out.edges.push(RootEdge { root, object, offset });
                true
            }
            None => false,
        }
    }
}

/// The root `keys` holds for `key`, else the one `make` makes, added to `roots`.
fn keyed_root<K: std::hash::Hash + Eq>(
    keys: &mut HashMap<K, u32>,
    roots: &mut Vec<Root>,
    key: K,
    make: impl FnOnce() -> Root,
) -> u32 {
    *keys.entry(key).or_insert_with(|| {
        roots.push(make());
        (roots.len() - 1) as u32
    })
}

/// A stack object of a frame.
struct StackObj {
    addr: u64,
    size: u64,
    ptr_words: u64,
    mask: u64,
    frame: usize,
    scanned: bool,
}

/// The scan of one goroutine's stack.
struct StackScan<'a, 'h> {
    p: &'a Process,
    locals: Option<&'a FrameLocals>,
    goid: u64,
    stack: (u64, u64),
    frames: &'a [PhysFrame],
    acc: Acc<'h>,
    /// Pointers into this stack, for stack objects.
    stack_ptrs: Vec<u64>,
    objects: Vec<StackObj>,
    /// Stack slots the goroutine's channel operations wait on (`sudog.elem`), with the
    /// channel's element type: values the compiler's stack object records leave untyped.
    chan_slots: Vec<(u64, TypeId)>,
    /// The roots of frame words: (frame, the DWARF local's name and where it starts), or
    /// (frame, "", [`i64::MIN`]) for the frame itself. No string is made per word.
    frame_keys: HashMap<(usize, &'a str, i64), u32>,
}

const FRAME_KEY_BASE: usize = 1 << 20;

/// The function of frame `fi`.
fn frame_func<'a>(p: &'a Process, frames: &[PhysFrame], fi: usize) -> &'a str {
    frames.get(fi).map_or("?", |f| p.func_name(f.func))
}

impl StackScan<'_, '_> {
    fn func_name(&self, fi: usize) -> &str {
        frame_func(self.p, self.frames, fi)
    }

    /// The link-time pc to look locals up at (the call, not the return address).
    fn lookup_pc(&self, fr: &PhysFrame) -> u64 {
        let link = fr.pc.wrapping_sub(self.p.bias);
        if fr.trap || link == fr.func.entry {
            link
        } else {
            link - 1
        }
    }

    /// The root of the frame word at `addr`: the DWARF local holding it, else the frame.
    fn frame_root(&mut self, fi: usize, addr: u64, kind: RootKind) -> (u32, u64) {
        let fr = self.frames[fi];
        let cfa_off = addr.wrapping_sub(fr.fp) as i64;
        let found = self.locals.and_then(|l| l.find(self.lookup_pc(&fr), cfa_off));
        let goid = self.goid;
        // Named only when the root is new (a frame's words share their roots).
        let (p, frames) = (self.p, self.frames);
        let func = || frame_func(p, frames, fi);
        let (keys, roots) = (&mut self.frame_keys, &mut self.acc.out.roots);
        match found {
            Some((local, start)) => {
                let base = fr.fp.wrapping_add(start as u64);
                let whole = local.pieces.iter().all(|p| p.cfa_off == start);
                let d = self.p.exe.dwarf.as_ref();
                let size = local.pieces.iter().find(|p| p.cfa_off == start).map_or(8, |p| p.size);
                let ty = local.ty.filter(|t| whole && d.is_some_and(|d| d.ty(*t).size == size));
                let r = keyed_root(keys, roots, (fi, local.name.as_str(), start), || Root {
                    name: format!("goroutine {goid} {} {}", func(), local.name),
                    kind,
                    goroutine: Some(goid),
                    addr: base,
                    size,
                    ty,
                    unnamed: false,
                });
                (r, addr.wrapping_sub(base))
            }
            None => {
                let r = keyed_root(keys, roots, (fi, "", i64::MIN), || Root {
                    name: format!("goroutine {goid} {}", func()),
                    kind,
                    goroutine: Some(goid),
                    addr: fr.sp,
                    size: fr.fp.saturating_sub(fr.sp),
                    ty: None,
                    unnamed: true,
                });
                (r, addr.wrapping_sub(fr.sp))
            }
        }
    }

    /// A live pointer word of frame `fi` at `addr`.
    fn frame_word(&mut self, fi: usize, addr: u64, kind: RootKind) {
        let Some(v) = self.p.mem.read_u64(addr) else {
            return;
        };
        if v == 0 {
            return;
        }
        if v >= self.stack.0 && v < self.stack.1 {
            self.stack_ptrs.push(v);
        } else if self.acc.heap.find_object(v).is_some() {
            let (r, off) = self.frame_root(fi, addr, kind);
            self.acc.edge(r, off, v);
        }
    }

    /// A stack map (`runtime.stackmap{n, nbit int32; bytedata}`) bitmap `idx`: (nbit, bits).
    fn stack_map(&self, fi: usize, which: u8, idx: i32) -> Option<(u64, &[u8])> {
        let p = self.p;
        let sm = p.exe.pclntab.funcdata(self.frames[fi].func, which)?.wrapping_add(p.bias);
        let n = p.mem.read_u32(sm)? as i32;
        let nbit = p.mem.read_u32(sm.saturating_add(4))? as i32;
        if nbit <= 0 || idx < 0 || idx >= n {
            return None;
        }
        let stride = (nbit as u64).div_ceil(8);
        Some((nbit as u64, p.mem.slice(sm + 8 + idx as u64 * stride, stride)?))
    }

    fn scan_frames(&mut self) {
        let p = self.p;
        let arm64 = p.dump.arch == Arch::Arm64;
        let tab = &p.exe.pclntab;
        let mut conservative_next = false;
        for fi in 0..self.frames.len() {
            let fr = self.frames[fi];
            let name = tab.name(fr.func);
            let injected = matches!(name, "runtime.asyncPreempt" | "runtime.debugCallV2");
            let mut varp = fr.fp - if arm64 { 0 } else { 8 };
            if varp > fr.sp {
                varp -= 8;
            }
            let argp = fr.fp + if arm64 { 8 } else { 0 };
            let args = tab.args(fr.func).max(0) as u64;
            let interrupted = fi == 0 && fr.trap && name != "runtime.sigpanic";
            if conservative_next || injected || interrupted {
                conservative_next = injected;
                let words = (fr.sp..varp).step_by(8).chain((argp..argp + args).step_by(8));
                for a in words.collect::<Vec<_>>() {
                    self.frame_word(fi, a, RootKind::Conservative);
                }
                continue;
            }
            // The pc the frame continues at; a frame sigpanic interrupted resumes at its
            // deferreturn, or is dead.
            let link = fr.pc.wrapping_sub(p.bias);
            let mut cont = link;
            if fi > 0 && self.func_name(fi - 1) == "runtime.sigpanic" {
                let dr = tab.deferreturn(fr.func) as u64;
                cont = if dr != 0 { fr.func.entry + dr + 1 } else { 0 };
            }
            if cont == 0 {
                continue;
            }
            let idx = if cont != fr.func.entry {
                tab.pcdata(fr.func, PCDATA_STACK_MAP_INDEX, cont - 1).unwrap_or(-1).max(0)
            } else {
                0
            };
            let minsize = if arm64 { 16 } else { 0 };
            if varp - fr.sp > minsize {
                if let Some((nbit, bits)) = self.stack_map(fi, FUNCDATA_LOCALS_POINTER_MAPS, idx) {
                    let base = varp - nbit * 8;
                    let live: Vec<u64> =
                        (0..nbit).filter(|b| bits[(b / 8) as usize] >> (b % 8) & 1 == 1).collect();
                    live.into_iter().for_each(|b| self.frame_word(fi, base + b * 8, RootKind::Local));
                }
            }
            if args > 0 {
                if let Some((nbit, bits)) = self.stack_map(fi, FUNCDATA_ARGS_POINTER_MAPS, idx) {
                    let live: Vec<u64> =
                        (0..nbit).filter(|b| bits[(b / 8) as usize] >> (b % 8) & 1 == 1).collect();
                    live.into_iter().for_each(|b| self.frame_word(fi, argp + b * 8, RootKind::Local));
                }
            }
            self.frame_objects(fi, varp, argp);
        }
    }

    /// The stack objects of frame `fi` (FUNCDATA_StackObjects: `n uintptr` then records
    /// `{off, size, ptrdata int32; gcdataoff uint32}`).
    fn frame_objects(&mut self, fi: usize, varp: u64, argp: u64) {
        let p = self.p;
        let fr = self.frames[fi];
        let Some(fd) = p.exe.pclntab.funcdata(fr.func, FUNCDATA_STACK_OBJECTS) else {
            return;
        };
        let fd = fd.wrapping_add(p.bias);
        let n = p.mem.read_u64(fd).unwrap_or(0).min(1 << 16);
        let rodata = p.exe.pclntab.moduledata().rodata.wrapping_add(p.bias);
        for k in 0..n {
            let Some(rec) = p.mem.slice(fd.saturating_add(8 + k * 16), 16) else {
                return;
            };
            let f = |i: usize| i32::from_le_bytes([rec[i], rec[i + 1], rec[i + 2], rec[i + 3]]);
            let (off, size, ptrdata, gcdataoff) = (f(0), f(4), f(8), f(12) as u32);
            let addr = if off < 0 { varp } else { argp }.wrapping_add(off as i64 as u64);
            if ptrdata < 0 {
                self.acc.out.warnings.push(format!(
                    "goroutine {}: a stack object of {} uses a GC program: not scanned",
                    self.goid,
                    self.func_name(fi)
                ));
                continue;
            }
            if addr < fr.sp || size <= 0 || ptrdata == 0 {
                continue;
            }
            self.objects.push(StackObj {
                addr,
                size: size as u64,
                ptr_words: ptrdata as u64 / 8,
                mask: rodata + gcdataoff as u64,
                frame: fi,
                scanned: false,
            });
        }
    }

    /// Scan the stack objects that live pointers of the stack reach, transitively.
    fn scan_objects(&mut self) {
        self.objects.sort_by_key(|o| o.addr);
        while let Some(ptr) = self.stack_ptrs.pop() {
            let i = self.objects.partition_point(|o| o.addr <= ptr);
            let Some(i) = i.checked_sub(1) else { continue };
            let o = &mut self.objects[i];
            if o.scanned || ptr >= o.addr + o.size {
                continue;
            }
            o.scanned = true;
            let (addr, size, words, mask, fi) = (o.addr, o.size, o.ptr_words, o.mask, o.frame);
            let Some(bits) = self.p.mem.slice(mask, words.div_ceil(8)) else {
                continue;
            };
            for w in (0..words).filter(|w| bits[(w / 8) as usize] >> (w % 8) & 1 == 1) {
                let a = addr.saturating_add(w * 8);
                let Some(v) = self.p.mem.read_u64(a) else {
                    continue;
                };
                if v >= self.stack.0 && v < self.stack.1 {
                    self.stack_ptrs.push(v);
                } else if self.acc.heap.find_object(v).is_some() {
                    let key = (FRAME_KEY_BASE + i, String::new());
                    let fr = self.frames[fi];
                    let named = self
                        .locals
                        .and_then(|l| l.find(self.lookup_pc(&fr), addr.wrapping_sub(fr.fp) as i64))
                        .filter(|(_, start)| fr.fp.wrapping_add(*start as u64) == addr);
                    let func = self.func_name(fi);
                    let chan = self.chan_slots.iter().find(|c| c.0 == addr).map(|c| c.1);
                    let (name, ty, unnamed) = match (named, chan) {
                        (Some((l, _)), _) => {
                            (format!("goroutine {} {func} {}", self.goid, l.name), l.ty, false)
                        }
                        (None, Some(t)) => {
                            (format!("goroutine {} {func} (channel element)", self.goid), Some(t), false)
                        }
                        (None, None) => {
                            (format!("goroutine {} {func} (stack object)", self.goid), None, true)
                        }
                    };
                    let goid = self.goid;
                    let r = self.acc.root(key, || Root {
                        name,
                        kind: RootKind::StackObject,
                        goroutine: Some(goid),
                        addr,
                        size,
                        ty,
                        unnamed,
                    });
                    self.acc.edge(r, a - addr, v);
                }
            }
        }
    }
}

/// What the stacks and specials share, read once per [`Process::roots`]: DWARF locals, the
/// roots layout, and what types some roots.
struct RootsCx<'p> {
    locals: Option<&'p FrameLocals>,
    rl: Option<&'p RootsLayout>,
    types: Option<TypeTable<'p>>,
    /// DWARF `func()`: the type of the function words of closures, defers and specials.
    func: Option<TypeId>,
    /// `g.waiting`; `sudog.elem`, `.c`, `.waitlink`; `hchan.elemtype`.
    sudog: Option<[u64; 5]>,
    /// `runtime.finalizer.ot`, of queued finalizers.
    fin_ot: Option<u64>,
}

impl<'p> RootsCx<'p> {
    fn new(p: &'p Process, locals: Option<&'p FrameLocals>, rl: Option<&'p RootsLayout>) -> Self {
        let Some(d) = p.exe.dwarf.as_ref() else {
            return RootsCx { locals, rl, types: p.types().ok(), func: None, sudog: None, fin_ot: None };
        };
        // Go 1.26+: `sudog.elem` and `.c` are `maybeTraceable*`, whose `vu` is the address.
        let f = |t: &str, a: &str, b: &str| d.field_offset(t, a).or_else(|| d.field_offset(t, b));
        let sudog = match (
            d.field_offset("runtime.g", "waiting"),
            f("runtime.sudog", "elem.vu", "elem"),
            f("runtime.sudog", "c.vu", "c"),
            d.field_offset("runtime.sudog", "waitlink"),
            d.field_offset("runtime.hchan", "elemtype"),
        ) {
            (Some(a), Some(b), Some(c), Some(e), Some(g)) => Some([a, b, c, e, g]),
            _ => None,
        };
        RootsCx {
            locals,
            rl,
            types: p.types().ok(),
            func: d.type_by_name("func()"),
            sudog,
            fin_ot: d.field_offset("runtime.finalizer", "ot"),
        }
    }

    /// The run-time type of the object a finalizer was set for: the element of its `ot`.
    fn finalized_elem(&self, ot: u64) -> Option<u64> {
        let t = self.types.as_ref()?.get(ot).ok()?;
        (t.kind == TypeKind::Pointer).then(|| t.elem()).flatten()
    }

    /// The name of the object type a finalizer was set for, from its `*abi.PtrType`.
    fn finalized_type(&self, ot: u64) -> String {
        match (self.finalized_elem(ot), self.types.as_ref()) {
            (Some(elem), Some(types)) => types.name(elem),
            _ => "?".into(),
        }
    }

    /// The stack slots the channel operations of the goroutine `g` wait on (`g.waiting`, a
    /// list of `sudog`s linked by `waitlink`), each with its channel's element type, when the
    /// slot is on the goroutine's stack and DWARF has the type.
    fn chan_slots(&self, p: &Process, g: u64, stack: (u64, u64)) -> Vec<(u64, TypeId)> {
        let mut out = Vec::new();
        let (Some([waiting, elem, c, link, et]), Some(types)) = (self.sudog, self.types.as_ref()) else {
            return out;
        };
        let m = &p.mem;
        let mut sg = m.read_u64(g.saturating_add(waiting)).unwrap_or(0);
        for _ in 0..1024 {
            if sg == 0 {
                break;
            }
            let e = m.read_u64(sg.saturating_add(elem)).unwrap_or(0);
            let ch = m.read_u64(sg.saturating_add(c)).unwrap_or(0);
            if e >= stack.0 && e < stack.1 && ch != 0 {
                if let Some(ty) = m.read_u64(ch.saturating_add(et)).and_then(|t| types.dwarf_type(t)) {
                    out.push((e, ty));
                }
            }
            sg = m.read_u64(sg.saturating_add(link)).unwrap_or(0);
        }
        out
    }
}

impl Process {
    /// Every GC root and its pointers into `heap`.
    pub fn roots(&self, heap: &Heap) -> Result<Roots> {
        let (mut out, mut map) = (Roots::default(), Vec::new());
        let mut acc = Acc::new(heap);
        self.global_roots(&mut acc);
        out.append_used(acc.out, &mut map);

        let locals = match self.exe.dwarf.as_ref().map(|d| d.frame_locals(&self.exe.image)) {
            Some(Ok(l)) => Some(l),
            Some(Err(e)) => {
                out.warnings.push(format!("DWARF locals unreadable, frames named by offset: {e}"));
                None
            }
            None => None,
        };
        let rl = self.layouts.roots.as_ref();
        if rl.is_none() {
            out.warnings.push(format!(
                "no specials, finalizer queue or defers: {} lacks {}",
                self.layouts.source,
                self.layouts.roots_missing.join(", ")
            ));
        }
        let rt = RootsCx::new(self, locals, rl);
        let gs = self.goroutine_frames()?;
        // Gathered in goroutine order, a few big appends rather than one per goroutine.
        let stacks: Vec<Roots> = gs
            .par_iter()
            .fold(Roots::default, |mut acc, (goid, g, _, u)| {
                self.stack_roots(heap, &rt, *goid, *g, &u.frames, &mut acc);
                acc
            })
            .collect();
        out.roots.reserve(stacks.iter().map(|s| s.roots.len()).sum());
        out.edges.reserve(stacks.iter().map(|s| s.edges.len()).sum());
        stacks.into_iter().for_each(|s| out.append_used(s, &mut map));

        if let Some(rl) = rl {
            let specials: Vec<Roots> = heap
                .spans
                .par_chunks(4096)
                .map(|spans| {
                    let mut acc = Acc::new(heap);
                    spans.iter().for_each(|s| self.span_specials(rl, &rt, s, &mut acc));
                    acc.out
                })
                .collect();
            specials.into_iter().for_each(|s| out.append_used(s, &mut map));
            let mut acc = Acc::new(heap);
            self.finalizer_queue(rl, &rt, &mut acc);
            out.append_used(acc.out, &mut map);
        }
        Ok(out)
    }

    /// `.data` and `.bss` words the module's GC masks mark as pointers.
    fn global_roots(&self, acc: &mut Acc) {
        let md = self.exe.pclntab.moduledata();
        let md_addr = md.addr.wrapping_add(self.bias);
        let vars = self.global_vars(md.data, md.ebss);
        let sections = [
            (RootKind::Data, md.data, md.edata, md.layout.gcdatamask),
            (RootKind::Bss, md.bss, md.ebss, md.layout.gcbssmask),
        ];
        for (kind, start, end, mask_off) in sections {
            let what = if kind == RootKind::Data { "data" } else { "bss" };
            let (n, bytes) = match (
                self.mem.read_u32(md_addr.saturating_add(mask_off)),
                self.mem.read_u64(md_addr.saturating_add(mask_off + 8)),
            ) {
                (Some(n), Some(b)) => (n as i32, b),
                _ => {
                    acc.out.warnings.push(format!("the {what} GC mask is not in the dump"));
                    continue;
                }
            };
            let words = end.saturating_sub(start) / 8;
            let Some(bits) = (n >= 0 && n as u64 <= words + 64)
                .then(|| self.mem.slice(bytes, (n as u64).div_ceil(8)))
                .flatten()
            else {
                acc.out.warnings.push(format!("the {what} GC mask ({n} bits at {bytes:#x}) is unreadable"));
                continue;
            };
            for w in (0..n as u64).filter(|w| bits[(w / 8) as usize] >> (w % 8) & 1 == 1) {
                let link = start + w * 8;
                let Some(v) = self.mem.read_u64(link.wrapping_add(self.bias)) else {
                    continue;
                };
                if v == 0 || acc.heap.find_object(v).is_none() {
                    continue;
                }
                let i = vars.partition_point(|g| g.0 <= link).checked_sub(1);
                let var = i.filter(|&i| link < vars[i].0 + vars[i].1.max(8));
                let (r, off) = match var {
                    Some(i) => {
                        let g = &vars[i];
                        let root = acc.root((i, String::new()), || Root {
                            name: g.2.clone(),
                            kind,
                            goroutine: None,
                            addr: g.0.wrapping_add(self.bias),
                            size: g.1,
                            ty: g.3,
                            unnamed: false,
                        });
                        (root, link - g.0)
                    }
                    None => {
                        let root = acc.root((usize::MAX, what.to_string()), || Root {
                            name: format!("(unnamed {what})"),
                            kind,
                            goroutine: None,
                            addr: start.wrapping_add(self.bias),
                            size: end - start,
                            ty: None,
                            unnamed: true,
                        });
                        (root, link - start)
                    }
                };
                acc.edge(r, off, v);
            }
        }
    }

    /// Global variables in `[lo, hi)` (link-time): (address, size, name, DWARF type), sorted.
    fn global_vars(&self, lo: u64, hi: u64) -> Vec<(u64, u64, String, Option<TypeId>)> {
        let mut by_addr: HashMap<u64, (u64, String, Option<TypeId>)> = HashMap::default();
        if let Some(d) = self.exe.dwarf.as_ref() {
            for (name, a, ty) in d.globals().filter(|g| g.1 >= lo && g.1 < hi) {
                by_addr.insert(a, (d.ty(ty).size, name.to_string(), Some(ty)));
            }
        }
        for (name, a, size) in self.exe.image.symbols().filter(|s| s.1 >= lo && s.1 < hi) {
            let e = by_addr.entry(a).or_insert_with(|| (size, name.to_string(), None));
            e.0 = e.0.max(size);
        }
        let mut v: Vec<_> = by_addr.into_iter().map(|(a, (s, n, t))| (a, s, n, t)).collect();
        v.sort_by_key(|g| g.0);
        let statics = self.static_pointees(&v, lo, hi);
        if !statics.is_empty() {
            v.extend(statics);
            v.sort_by_key(|g| g.0);
        }
        v
    }

    /// Values in `[lo, hi)` that no symbol covers but a pointer global points to: `var p =
    /// &T{…}` makes the `T` a static temporary, which Go 1.27 leaves without a symbol. Each is
    /// named `*p` and typed by the pointer's DWARF type.
    fn static_pointees(
        &self,
        vars: &[(u64, u64, String, Option<TypeId>)],
        lo: u64,
        hi: u64,
    ) -> Vec<(u64, u64, String, Option<TypeId>)> {
        let Some(d) = self.exe.dwarf.as_ref() else {
            return Vec::new();
        };
        let covered = |a: u64| {
            let i = vars.partition_point(|g| g.0 <= a).checked_sub(1);
            i.is_some_and(|i| a < vars[i].0 + vars[i].1.max(1))
        };
        let mut out: Vec<(u64, u64, String, Option<TypeId>)> = Vec::new();
        for (addr, _, name, ty) in vars {
            let Some(ty) = ty else { continue };
            let t = d.ty(d.resolve(*ty));
            let Some(target) = t.target.filter(|_| t.kind == Kind::Pointer) else {
                continue;
            };
            let size = d.ty(target).size;
            let Some(v) = self.mem.read_u64(addr.wrapping_add(self.bias)) else {
                continue;
            };
            let v = v.wrapping_sub(self.bias);
            if size == 0
                || v < lo
                || v.saturating_add(size) > hi
                || covered(v)
                || out.iter().any(|o| o.0 == v)
            {
                continue;
            }
            out.push((v, size, format!("*{name}"), Some(target)));
        }
        out
    }

    /// The roots of one goroutine, appended to `out`.
    fn stack_roots(
        &self,
        heap: &Heap,
        rt: &RootsCx,
        goid: u64,
        g: u64,
        frames: &[PhysFrame],
        out: &mut Roots,
    ) {
        let l = &self.layouts;
        let stack = (
            self.mem.read_u64(g.saturating_add(l.g.stack_lo)).unwrap_or(0),
            self.mem.read_u64(g.saturating_add(l.g.stack_hi)).unwrap_or(0),
        );
        let mut s = StackScan {
            p: self,
            locals: rt.locals,
            goid,
            stack,
            frames,
            acc: Acc { out: std::mem::take(out), ..Acc::new(heap) },
            stack_ptrs: Vec::new(),
            objects: Vec::new(),
            chan_slots: rt.chan_slots(self, g, stack),
            frame_keys: HashMap::default(),
        };
        s.scan_frames();
        // Both are func values (a `*funcval`, the closure).
        let func_ty = rt.func;
        let one = |s: &mut StackScan, addr: u64, kind: RootKind, name: &str| {
            let Some(v) = self.mem.read_u64(addr).filter(|v| *v != 0) else {
                return;
            };
            if v >= stack.0 && v < stack.1 {
                s.stack_ptrs.push(v);
            } else if heap.find_object(v).is_some() {
                let r = s.acc.new_root(Root {
                    name: format!("goroutine {goid} {name}"),
                    kind,
                    goroutine: Some(goid),
                    addr,
                    size: 8,
                    ty: func_ty,
                    unnamed: false,
                });
                s.acc.edge(r, 0, v);
            }
        };
        one(&mut s, g.saturating_add(l.g.sched + l.gobuf.ctxt), RootKind::Context, "context (g.sched.ctxt)");
        if let Some(rl) = rt.rl {
            let mut d = self.mem.read_u64(g.saturating_add(rl.g_defer)).unwrap_or(0);
            for _ in 0..100_000 {
                if d == 0 {
                    break;
                }
                one(&mut s, d.saturating_add(rl.defer_fn), RootKind::Defer, "defer fn");
                if self.mem.read_u8(d.saturating_add(rl.defer_heap)).is_some_and(|h| h != 0) {
                    let r = s.acc.new_root(Root {
                        name: format!("goroutine {goid} defer record"),
                        kind: RootKind::Defer,
                        goroutine: Some(goid),
                        addr: g.saturating_add(rl.g_defer),
                        size: 8,
                        ty: None,
                        unnamed: false,
                    });
                    s.acc.edge(r, 0, d);
                }
                d = self.mem.read_u64(d.saturating_add(rl.defer_link)).unwrap_or(0);
            }
        }
        s.scan_objects();
        *out = s.acc.out;
    }

    /// The finalizers, cleanups and weak handles attached to the objects of one span.
    fn span_specials(&self, rl: &RootsLayout, rt: &RootsCx, s: &super::heap::Span, acc: &mut Acc) {
        let m = &self.mem;
        let mut sp = m.read_u64(s.mspan.saturating_add(rl.span_specials)).unwrap_or(0);
        for _ in 0..(1u32 << 20) {
            if sp == 0 {
                break;
            }
            let kind = m.read_u8(sp.saturating_add(rl.special_kind));
            let off = match rl.special_offset_size {
                2 => m.read_u16(sp.saturating_add(rl.special_offset)).map(u64::from),
                _ => m.read_u64(sp.saturating_add(rl.special_offset)),
            };
            let (Some(kind), Some(off)) = (kind, off) else {
                break;
            };
            let slot = s.base + off / s.elemsize.max(1) * s.elemsize;
            let obj = acc.heap.find_object(slot);
            let user = slot + obj.map_or(0, |o| acc.heap.header_size(o));
            let single = |acc: &mut Acc, name: String, kind: RootKind, addr: u64, words: &[u64]| {
                // A finalizer's or cleanup's function word is a func value.
                let ty =
                    if matches!(kind, RootKind::FinalizerFn | RootKind::Cleanup) { rt.func } else { None };
                let r = acc.new_root(Root { name, kind, goroutine: None, addr, size: 8, ty, unnamed: false });
                for &w in words {
                    if let Some(v) = m.read_u64(addr.saturating_add(w)) {
                        acc.edge(r, w, v);
                    }
                }
            };
            if kind == rl.kind_finalizer {
                let ot = m.read_u64(sp.saturating_add(rl.finalizer_ot)).unwrap_or(0);
                if let Some(elem) = obj.and_then(|_| rt.finalized_elem(ot)) {
                    acc.out.object_types.push((user, elem));
                }
                let ty = rt.finalized_type(ot);
                let r = acc.new_root(Root {
                    name: format!("finalizer for {user:#x} ({ty})"),
                    kind: RootKind::Finalizer,
                    goroutine: None,
                    addr: slot,
                    size: s.elemsize,
                    ty: None,
                    unnamed: false,
                });
                if let Some(o) = obj {
                    let mut ptrs = Vec::new();
                    if let PointerInfo::Unknown(why) =
                        acc.heap.for_each_pointer(self, o, |off, v| ptrs.push((off, v)))
                    {
                        acc.out
                            .warnings
                            .push(format!("finalized object {user:#x}: pointers unknown ({why:?})"));
                    }
                    ptrs.into_iter().for_each(|(off, v)| {
                        acc.edge(r, off, v);
                    });
                }
                single(
                    acc,
                    format!("finalizer fn for {user:#x}"),
                    RootKind::FinalizerFn,
                    sp.saturating_add(rl.finalizer_fn),
                    &[0],
                );
            } else if Some(kind) == rl.kind_cleanup {
                if let Some(f) = rl.cleanup_fn {
                    let arg = rl.cleanup_arg.map(|a| a.wrapping_sub(f));
                    let words: Vec<u64> = std::iter::once(0).chain(arg).collect();
                    single(
                        acc,
                        format!("cleanup for {user:#x}"),
                        RootKind::Cleanup,
                        sp.saturating_add(f),
                        &words,
                    );
                }
            } else if Some(kind) == rl.kind_weak_handle {
                if let Some(h) = rl.weak_handle {
                    single(
                        acc,
                        format!("weak handle for {user:#x}"),
                        RootKind::WeakHandle,
                        sp.saturating_add(h),
                        &[0],
                    );
                }
            }
            sp = m.read_u64(sp.saturating_add(rl.special_next)).unwrap_or(0);
        }
    }

    /// Finalizers queued to run (`runtime.allfin` blocks): their function and object.
    fn finalizer_queue(&self, rl: &RootsLayout, rt: &RootsCx, acc: &mut Acc) {
        let Some((allfin, _)) = self.exe.image.symbol("runtime.allfin") else {
            return;
        };
        let allfin = allfin.wrapping_add(self.bias);
        let m = &self.mem;
        let mut b = m.read_u64(allfin).unwrap_or(0);
        for _ in 0..(1u32 << 20) {
            if b == 0 {
                break;
            }
            let cnt = m.read_u32(b.saturating_add(rl.finblock_cnt)).unwrap_or(0).min(1 << 16) as u64;
            for i in 0..cnt {
                let f = b.saturating_add(rl.finblock_fin + i * rl.queued_size);
                let r = acc.new_root(Root {
                    name: format!("queued finalizer {i} of block {b:#x}"),
                    kind: RootKind::FinalizerQueue,
                    goroutine: None,
                    addr: f,
                    size: rl.queued_size,
                    ty: None,
                    unnamed: false,
                });
                for w in [rl.queued_fn, rl.queued_arg] {
                    if let Some(v) = m.read_u64(f.saturating_add(w)) {
                        acc.edge(r, w, v);
                    }
                }
                let arg = m.read_u64(f.saturating_add(rl.queued_arg)).unwrap_or(0);
                let elem = rt
                    .fin_ot
                    .and_then(|o| m.read_u64(f.saturating_add(o)))
                    .and_then(|t| rt.finalized_elem(t));
                if let (true, Some(elem)) = (arg != 0, elem) {
                    acc.out.object_types.push((arg, elem));
                }
            }
            b = m.read_u64(b.saturating_add(rl.finblock_alllink)).unwrap_or(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    /// Mark from the roots through `for_each_pointer`; returns the marked set.
    fn mark(p: &Process, h: &Heap, roots: &Roots) -> Vec<bool> {
        let mut seen = vec![false; h.len() as usize];
        let mut work: Vec<u32> = roots.edges.iter().map(|e| e.object).collect();
        while let Some(o) = work.pop() {
            if std::mem::replace(&mut seen[o as usize], true) {
                continue;
            }
            h.for_each_pointer(p, o, |_, v| {
                if let Some(t) = h.find_object(v) {
                    if !seen[t as usize] {
                        work.push(t);
                    }
                }
            });
        }
        seen
    }

    /// The roots of one dump of the roots test program (`main.go` in the report): every
    /// object the program printed is found where it should be.
    fn check_program_dump(d: &Path) {
        let name = d.display().to_string();
        let out = std::fs::read_to_string(d.join("stdout")).unwrap();
        let val = |k: &str| -> Option<u64> {
            out.lines().find_map(|l| u64::from_str_radix(l.strip_prefix(&format!("{k}=0x"))?, 16).ok())
        };
        let p = Process::open(&d.join("dump"), Some(&d.join("exe"))).unwrap();
        let h = p.heap().unwrap();
        let t0 = std::time::Instant::now();
        let roots = p.roots(&h).unwrap();
        let took = t0.elapsed();
        let obj =
            |k: &str| h.find_object(val(k).unwrap()).unwrap_or_else(|| panic!("{name}: {k} not in heap"));
        let paths_to = |o: u32| -> Vec<String> {
            roots.edges.iter().filter(|e| e.object == o).map(|e| roots.path(&p, e)).collect()
        };
        let by_kind = |k: RootKind| roots.roots.iter().filter(|r| r.kind == k).count();
        eprintln!(
            "{name}: {} roots, {} edges in {took:?}; locals {} stack objects {} conservative {} finalizer {} cleanup {}; warnings {:?}",
            roots.roots.len(),
            roots.edges.len(),
            by_kind(RootKind::Local),
            by_kind(RootKind::StackObject),
            by_kind(RootKind::Conservative),
            by_kind(RootKind::Finalizer),
            by_kind(RootKind::Cleanup),
            roots.warnings
        );
        // Globals, named down to the field.
        for i in 0..4 {
            let paths = paths_to(obj(&format!("handler{i}")));
            assert!(paths.contains(&format!("main.cfg.handlers[{i}]")), "{name}: handler{i}: {paths:?}");
        }
        assert!(paths_to(obj("keep")).contains(&"main.keepPtr".to_string()), "{name}");
        assert!(roots.roots.iter().any(|r| r.name == "main.cache" && r.kind == RootKind::Bss), "{name}");
        // A local slice kept live, by its name; a stack object's elements.
        let wb = paths_to(obj("workerbuf"));
        // (1.27 names the pointer of a decomposed slice `buf.ptr` itself.)
        let named_buf = |s: &String| s.ends_with(" main.worker buf") || s.ends_with(" main.worker buf.ptr");
        assert!(wb.iter().any(|s| s.starts_with("goroutine ") && named_buf(s)), "{name}: {wb:?}");
        for i in 0..3 {
            let paths = paths_to(obj(&format!("stackobj{i}")));
            let kinds: Vec<RootKind> = roots
                .edges
                .iter()
                .filter(|e| e.object == obj(&format!("stackobj{i}")))
                .map(|e| roots.roots[e.root as usize].kind)
                .collect();
            eprintln!("{name}: stackobj{i}: {paths:?} {kinds:?}");
            assert!(paths.iter().any(|s| s.contains("main.stackobj arr")), "{name}: stackobj{i}: {paths:?}");
        }
        // What the finalized object points to is a root, through its finalizer.
        let fc = obj("finchild");
        let fin = roots.edges.iter().find(|e| e.object == fc).map(|e| &roots.roots[e.root as usize]);
        assert_eq!(fin.map(|r| r.kind), Some(RootKind::Finalizer), "{name}");
        assert!(fin.unwrap().name.ends_with("(main.F)"), "{name}: {}", fin.unwrap().name);
        // Everything the program knows is live is reached.
        let seen = mark(&p, &h, &roots);
        let mut live = vec!["cache_k007", "workerbuf", "finchild", "keep"];
        if val("cleanuparg").is_some() {
            live.push("cleanuparg");
            assert!(by_kind(RootKind::Cleanup) > 0, "{name}");
        }
        for k in live {
            assert!(seen[obj(k) as usize], "{name}: {k} not reached");
        }
        let marked = seen.iter().filter(|s| **s).count();
        eprintln!("{name}: marked {marked} of {} objects", h.len());
    }

    /// `GOMORTEM_ROOTS_DUMPS=DIR`: `DIR/*/{exe,dump,stdout}`, dumps of the roots test program.
    #[test]
    fn program_dumps() {
        let Some(root) = std::env::var_os("GOMORTEM_ROOTS_DUMPS") else {
            eprintln!("note: GOMORTEM_ROOTS_DUMPS not set: skipping");
            return;
        };
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(root).unwrap().flatten().map(|e| e.path()).collect();
        dirs.sort();
        for d in dirs.iter().filter(|d| d.join("stdout").is_file() && d.join("dump").is_file()) {
            check_program_dump(d);
        }
    }

    /// Fixture cases of the `leaky` scenario: its global map is a named root, and the union
    /// of roots reaches the map's payloads.
    #[test]
    fn leaky_fixtures() {
        let mut n = 0;
        for (d, meta) in crate::testutil::fixture_cases() {
            if meta["scenario"] != "leaky" {
                continue;
            }
            let file = |k: &str| d.join(meta[k].as_str().unwrap_or(k));
            let name = d.display().to_string();
            let p = Process::open(&file("dump"), Some(&file("exe"))).unwrap();
            let h = p.heap().unwrap();
            let roots = p.roots(&h).unwrap();
            let cache_root = roots.roots.iter().position(|r| r.name == "main.sessionCache");
            assert!(cache_root.is_some(), "{name}: no main.sessionCache root");
            let seen = mark(&p, &h, &roots);
            let marked: u64 = (0..h.len()).filter(|&o| seen[o as usize]).map(|o| h.size(o)).sum();
            eprintln!(
                "{name}: {} roots, {} edges; marked {marked} of {} bytes",
                roots.roots.len(),
                roots.edges.len(),
                h.totals.bytes
            );
            // 500 × 2 KB session payloads at least.
            assert!(marked > 500 * 2048, "{name}");
            // The payloads the blocked senders hold are in stack objects no DWARF local
            // describes: typed by the channel each waits on.
            let d = p.exe.dwarf.as_ref().unwrap();
            let elems = roots.roots.iter().filter(|r| r.name.ends_with("(channel element)"));
            let typed: Vec<&str> = elems.map(|r| r.ty.map_or("", |t| d.type_name(t))).collect();
            let payloads = typed.iter().filter(|t| **t == "main.payload").count();
            assert!(payloads >= 20 && typed.iter().all(|t| !t.is_empty()), "{name}: {typed:?}");
            n += 1;
        }
        if n == 0 {
            eprintln!("note: no leaky fixture (GOMORTEM_FIXTURES, fixtures/committed): skipping");
        }
    }
}
