//! Runtime struct layouts and constants, in one place.
//!
//! Every offset the runtime model uses is read here from a [`LayoutSource`]: the executable's
//! DWARF today; a table generated per Go release can implement the same trait for binaries
//! without DWARF. Nothing outside this module hard-codes an offset that differs between releases.

use crate::exe::Dwarf;
use crate::{Error, Result};

/// Where layouts come from.
pub trait LayoutSource {
    /// Offset of a (dotted) field path within a named struct type.
    fn field(&self, ty: &str, path: &str) -> Option<u64>;
    /// Size of a named type.
    fn size(&self, ty: &str) -> Option<u64>;
    /// An integer constant of the runtime (e.g. `runtime._Gwaiting`).
    fn constant(&self, name: &str) -> Option<i64>;
    /// What this source is, for error messages.
    fn describe(&self) -> String;
}

impl LayoutSource for Dwarf {
    fn field(&self, ty: &str, path: &str) -> Option<u64> {
        self.field_offset(ty, path)
    }
    fn size(&self, ty: &str) -> Option<u64> {
        self.size_of(ty)
    }
    fn constant(&self, name: &str) -> Option<i64> {
        Dwarf::constant(self, name)
    }
    fn describe(&self) -> String {
        "the executable's DWARF".to_string()
    }
}

struct Reader<'a> {
    src: &'a dyn LayoutSource,
    missing: Vec<String>,
}

impl Reader<'_> {
    fn req(&mut self, ty: &str, path: &str) -> u64 {
        self.src.field(ty, path).unwrap_or_else(|| {
            self.missing.push(format!("{ty}.{path}"));
            0
        })
    }
    /// First path that exists (fields renamed across releases, atomics wrapped in structs).
    fn req_any(&mut self, ty: &str, paths: &[&str]) -> u64 {
        paths.iter().find_map(|p| self.src.field(ty, p)).unwrap_or_else(|| {
            self.missing.push(format!("{ty}.{}", paths[0]));
            0
        })
    }
    fn opt(&self, ty: &str, path: &str) -> Option<u64> {
        self.src.field(ty, path)
    }
    fn size(&mut self, ty: &str) -> u64 {
        self.src.size(ty).unwrap_or_else(|| {
            self.missing.push(format!("sizeof({ty})"));
            0
        })
    }
    fn konst(&mut self, name: &str) -> i64 {
        self.src.constant(name).unwrap_or_else(|| {
            self.missing.push(name.to_string());
            -1
        })
    }
}

/// `runtime.gobuf`
#[derive(Clone, Debug, Default)]
pub struct Gobuf {
    pub sp: u64,
    pub pc: u64,
    pub lr: u64,
    pub bp: u64,
    pub ctxt: u64,
}

/// `runtime.g`
#[derive(Clone, Debug, Default)]
pub struct GLayout {
    pub size: u64,
    pub stack_lo: u64,
    pub stack_hi: u64,
    pub m: u64,
    pub sched: u64,
    pub syscallsp: u64,
    pub syscallpc: u64,
    /// Go 1.23+.
    pub syscallbp: Option<u64>,
    pub atomicstatus: u64,
    pub goid: u64,
    pub waitsince: u64,
    pub waitreason: u64,
    pub lockedm: u64,
    pub parent_goid: u64,
    pub gopc: u64,
    pub startpc: u64,
    pub labels: u64,
    pub waiting: u64,
}

/// `runtime.m`
#[derive(Clone, Debug, Default)]
pub struct MLayout {
    pub g0: u64,
    pub procid: u64,
    pub gsignal: u64,
    pub curg: u64,
    pub id: u64,
    pub alllink: u64,
    pub throwing: Option<u64>,
    pub caughtsig: Option<u64>,
    /// Linux: Go caller of a vDSO call in progress.
    pub vdso_sp: Option<u64>,
    pub vdso_pc: Option<u64>,
    /// Windows: Go caller of a system call through asmstdcall.
    pub libcall_sp: Option<u64>,
    pub libcall_pc: Option<u64>,
}

/// The `_G*` status numbers of this release.
#[derive(Clone, Debug, Default)]
pub struct StatusConsts {
    pub idle: i64,
    pub runnable: i64,
    pub running: i64,
    pub syscall: i64,
    pub waiting: i64,
    pub dead: i64,
    pub copystack: i64,
    pub preempted: i64,
    /// Go 1.26+.
    pub leaked: Option<i64>,
    /// Go 1.26+: dead g of an extra M.
    pub deadextra: Option<i64>,
    pub scan_bit: i64,
}

#[derive(Clone, Debug, Default)]
pub struct Layouts {
    pub gobuf: Gobuf,
    pub g: GLayout,
    pub m: MLayout,
    pub status: StatusConsts,
    /// `runtime.schedt.lastpoll`
    pub sched_lastpoll: u64,
    /// `runtime.mstats.last_gc_nanotime` offset within `runtime.memstats`, if known.
    pub memstats_last_gc_nanotime: Option<u64>,
    /// `runtime.workType.tstart`, if known.
    pub work_tstart: Option<u64>,
    /// `runtime.timer.when` and `runtime.g.timer`, for the "now" estimate.
    pub g_timer: Option<u64>,
    pub timer_when: Option<u64>,
    /// Go 1.23+: `runtime.g.sleepWhen`.
    pub g_sleep_when: Option<u64>,
    /// `runtime.p.limiterEvent.stamp`: when the P last went idle (or into a GC assist), a
    /// monotonic time with an event type in its top `limiter_event_bits` bits.
    pub p_limiter_stamp: Option<u64>,
    pub limiter_event_bits: u32,
    pub source: String,
}

impl Layouts {
    pub fn load(src: &dyn LayoutSource) -> Result<Layouts> {
        let mut r = Reader { src, missing: Vec::new() };
        let gobuf = Gobuf {
            sp: r.req("runtime.gobuf", "sp"),
            pc: r.req("runtime.gobuf", "pc"),
            lr: r.req("runtime.gobuf", "lr"),
            bp: r.req("runtime.gobuf", "bp"),
            ctxt: r.req("runtime.gobuf", "ctxt"),
        };
        let g = "runtime.g";
        let gl = GLayout {
            size: r.size(g),
            stack_lo: r.req(g, "stack.lo"),
            stack_hi: r.req(g, "stack.hi"),
            m: r.req(g, "m"),
            sched: r.req(g, "sched"),
            syscallsp: r.req(g, "syscallsp"),
            syscallpc: r.req(g, "syscallpc"),
            syscallbp: r.opt(g, "syscallbp"),
            atomicstatus: r.req_any(g, &["atomicstatus.value", "atomicstatus"]),
            goid: r.req(g, "goid"),
            waitsince: r.req(g, "waitsince"),
            waitreason: r.req(g, "waitreason"),
            lockedm: r.req(g, "lockedm"),
            parent_goid: r.req(g, "parentGoid"),
            gopc: r.req(g, "gopc"),
            startpc: r.req(g, "startpc"),
            labels: r.req(g, "labels"),
            waiting: r.req(g, "waiting"),
        };
        let m = "runtime.m";
        let ml = MLayout {
            g0: r.req(m, "g0"),
            procid: r.req(m, "procid"),
            gsignal: r.req(m, "gsignal"),
            curg: r.req(m, "curg"),
            id: r.req(m, "id"),
            alllink: r.req(m, "alllink"),
            throwing: r.opt(m, "throwing"),
            caughtsig: r.opt(m, "caughtsig"),
            vdso_sp: r.opt(m, "vdsoSP"),
            vdso_pc: r.opt(m, "vdsoPC"),
            libcall_sp: r.opt(m, "libcallsp"),
            libcall_pc: r.opt(m, "libcallpc"),
        };
        let status = StatusConsts {
            idle: r.konst("runtime._Gidle"),
            runnable: r.konst("runtime._Grunnable"),
            running: r.konst("runtime._Grunning"),
            syscall: r.konst("runtime._Gsyscall"),
            waiting: r.konst("runtime._Gwaiting"),
            dead: r.konst("runtime._Gdead"),
            copystack: r.konst("runtime._Gcopystack"),
            preempted: r.konst("runtime._Gpreempted"),
            leaked: src.constant("runtime._Gleaked"),
            deadextra: src.constant("runtime._Gdeadextra"),
            scan_bit: r.konst("runtime._Gscan"),
        };
        let sched_lastpoll = r.req_any("runtime.schedt", &["lastpoll.value", "lastpoll"]);
        let layouts = Layouts {
            gobuf,
            g: gl,
            m: ml,
            status,
            sched_lastpoll,
            memstats_last_gc_nanotime: src.field("runtime.mstats", "last_gc_nanotime"),
            work_tstart: src.field("runtime.workType", "tstart"),
            g_timer: src.field(g, "timer"),
            timer_when: src.field("runtime.timer", "when"),
            g_sleep_when: src.field(g, "sleepWhen"),
            p_limiter_stamp: src
                .field("runtime.p", "limiterEvent.stamp.value")
                .or_else(|| src.field("runtime.p", "limiterEvent.stamp")),
            // runtime.limiterEventBits is 3 in every supported release; DWARF omits it.
            limiter_event_bits: src.constant("runtime.limiterEventBits").unwrap_or(3) as u32,
            source: src.describe(),
        };
        if !r.missing.is_empty() {
            return Err(Error::Unsupported(format!(
                "{} lacks runtime layouts this release needs: {}",
                src.describe(),
                r.missing.join(", ")
            )));
        }
        Ok(layouts)
    }
}
