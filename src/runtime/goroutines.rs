//! Goroutines: every `g` in `runtime.allgs`, with its state and its unwound, symbolized stack.

use rayon::prelude::*;
use serde::Serialize;

use super::names;
use super::unwind::{Regs, Unwound};
use super::{MInfo, Process};
use crate::dump::Os;
use crate::{Error, Result};

/// A goroutine's status, as the runtime names it (lower case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Idle,
    Runnable,
    Running,
    Syscall,
    Waiting,
    Dead,
    Copystack,
    Preempted,
    Leaked,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Idle => "idle",
            Status::Runnable => "runnable",
            Status::Running => "running",
            Status::Syscall => "syscall",
            Status::Waiting => "waiting",
            Status::Dead => "dead",
            Status::Copystack => "copystack",
            Status::Preempted => "preempted",
            Status::Leaked => "leaked",
        }
    }
}

/// A source location.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Location {
    pub function: String,
    pub file: String,
    pub line: u32,
}

/// One frame of a goroutine's stack: a physical frame or a call inlined into it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Frame {
    /// As the runtime's traceback prints it (`main.Map[...]`, `panic`).
    pub function: String,
    pub file: String,
    pub line: u32,
    /// Run-time pc of the physical frame.
    pub pc: u64,
    pub inlined: bool,
    /// Hidden by the runtime's traceback at the default level (runtime internals).
    pub runtime: bool,
}

#[derive(Clone, Debug)]
pub struct Goroutine {
    pub id: u64,
    /// Address of the `g`.
    pub addr: u64,
    pub status: Status,
    /// Raw `atomicstatus`, scan bit included.
    pub raw_status: u32,
    /// The runtime's string for the wait reason (set when status is waiting or leaked).
    pub wait_reason: Option<String>,
    /// Whole minutes waited, as the runtime prints them (0 if unknown or under a minute).
    pub wait_minutes: u64,
    pub waitsince: i64,
    pub created_by: Option<Location>,
    pub parent_id: u64,
    /// The goroutine's own function (`startpc`).
    pub start_function: Option<String>,
    /// OS thread the goroutine is on (running and syscall goroutines).
    pub thread_id: Option<u64>,
    pub m_id: Option<i64>,
    pub locked_to_thread: bool,
    pub labels: Vec<(String, String)>,
    /// A runtime-internal goroutine (the runtime's `isSystemGoroutine`).
    pub runtime_internal: bool,
    pub stack: (u64, u64),
    /// Innermost first; runtime frames included.
    pub frames: Vec<Frame>,
    /// Why the stack could not be unwound to its end, if so.
    pub unwind_error: Option<String>,
}

/// The raw fields of one `g`, read before the (parallel) unwinding.
struct RawG {
    addr: u64,
    id: u64,
    status: u32,
    waitreason: u8,
    waitsince: i64,
    m: u64,
    sched: Regs,
    syscall: Regs,
    lockedm: u64,
    parent_id: u64,
    gopc: u64,
    startpc: u64,
    labels: u64,
    stack: (u64, u64),
}

/// How "now" was estimated for wait durations.
#[derive(Clone, Debug, Serialize)]
pub struct Now {
    /// Monotonic nanoseconds (the runtime's `nanotime()` clock).
    pub nanotime: i64,
    pub source: String,
}

impl Process {
    fn read_raw_g(&self, addr: u64) -> Option<RawG> {
        let l = &self.layouts;
        let m = &self.mem;
        let rd = |off: u64| m.read_u64(addr + off);
        let gobuf = |base: u64| -> Option<Regs> {
            Some(Regs {
                sp: rd(base + l.gobuf.sp)?,
                pc: rd(base + l.gobuf.pc)?,
                lr: rd(base + l.gobuf.lr)?,
                fp: rd(base + l.gobuf.bp)?,
            })
        };
        Some(RawG {
            addr,
            id: rd(l.g.goid)?,
            status: m.read_u32(addr + l.g.atomicstatus)?,
            waitreason: m.read_u8(addr + l.g.waitreason)?,
            waitsince: rd(l.g.waitsince)? as i64,
            m: rd(l.g.m)?,
            sched: gobuf(l.g.sched)?,
            syscall: Regs {
                sp: rd(l.g.syscallsp)?,
                pc: rd(l.g.syscallpc)?,
                fp: l.g.syscallbp.and_then(rd).unwrap_or(0),
                lr: 0,
            },
            lockedm: rd(l.g.lockedm)?,
            parent_id: rd(l.g.parent_goid)?,
            gopc: rd(l.g.gopc)?,
            startpc: rd(l.g.startpc)?,
            labels: rd(l.g.labels)?,
            stack: (rd(l.g.stack_lo)?, rd(l.g.stack_hi)?),
        })
    }

    fn status_of(&self, raw: u32) -> Option<Status> {
        let s = &self.layouts.status;
        let v = (raw as i64) & !s.scan_bit;
        Some(if v == s.idle {
            Status::Idle
        } else if v == s.runnable {
            Status::Runnable
        } else if v == s.running {
            Status::Running
        } else if v == s.syscall {
            Status::Syscall
        } else if v == s.waiting {
            Status::Waiting
        } else if v == s.dead || Some(v) == s.deadextra {
            Status::Dead
        } else if v == s.copystack {
            Status::Copystack
        } else if v == s.preempted {
            Status::Preempted
        } else if Some(v) == s.leaked {
            Status::Leaked
        } else {
            return None;
        })
    }

    /// Addresses of every `g` in `runtime.allgs`.
    pub fn allgs(&self) -> Result<Vec<u64>> {
        let a = self.globals.allgs;
        let ptr = self.read_u64(a, "runtime.allgs")?;
        let len = self.read_u64(a + 8, "runtime.allgs")?;
        if len > 1 << 28 {
            return Err(Error::malformed("runtime.allgs", format!("implausible length {len}")));
        }
        let mut out = Vec::with_capacity(len as usize);
        if let Some(s) = self.mem.slice(ptr, len * 8) {
            out.extend(s.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())));
        } else {
            for i in 0..len {
                out.push(self.read_u64(ptr + i * 8, "runtime.allgs element")?);
            }
        }
        Ok(out)
    }

    /// The runtime's wait reason strings (`runtime.waitReasonStrings`), by index.
    pub fn wait_reasons(&self) -> Vec<String> {
        let Some((addr, n)) = self.globals.wait_reason_strings else { return Vec::new() };
        (0..n.min(256)).map(|i| self.read_go_string(addr + i * 16).unwrap_or_default()).collect()
    }

    /// Estimate the runtime's `nanotime()` at the moment of the dump, for wait durations.
    /// The dump holds no clock; the runtime's latest monotonic stamps are lower bounds of it.
    pub fn estimate_now(&self) -> Option<Now> {
        let l = &self.layouts;
        let mut best: Option<(i64, String)> = None;
        let mut consider = |v: Option<u64>, what: &str| {
            if let Some(v) = v.map(|v| v as i64).filter(|v| *v > 0) {
                if best.as_ref().is_none_or(|(b, _)| v > *b) {
                    best = Some((v, what.to_string()));
                }
            }
        };
        consider(self.mem.read_u64(self.globals.sched + l.sched_lastpoll), "sched.lastpoll");
        if let (Some(ms), Some(off)) = (self.globals.memstats, l.memstats_last_gc_nanotime) {
            consider(self.mem.read_u64(ms + off), "memstats.last_gc_nanotime");
        }
        if let (Some(w), Some(off)) = (self.globals.work, l.work_tstart) {
            consider(self.mem.read_u64(w + off), "work.tstart");
        }
        // Windows: wall-clock time since the process started, added to the runtime's start.
        if let (Some(ts), Some(ct), Some(sn)) =
            (self.dump.timestamp, self.dump.process_create_time, self.globals.start_nano)
        {
            if let Some(start) = self.mem.read_u64(sn) {
                consider(Some(start + ts.saturating_sub(ct) * 1_000_000_000), "process uptime");
            }
        }
        best.map(|(nanotime, source)| Now { nanotime, source })
    }

    /// Every live goroutine (dead ones skipped), unwound and symbolized, in parallel.
    pub fn goroutines(&self) -> Result<Vec<Goroutine>> {
        let addrs = self.allgs()?;
        let ms = self.ms()?;
        let reasons = self.wait_reasons();
        let now = self.estimate_now();
        let raws: Vec<RawG> = addrs.par_iter().filter_map(|&a| self.read_raw_g(a)).collect();
        let mut gs: Vec<Goroutine> = raws
            .par_iter()
            .filter_map(|r| {
                let status = self.status_of(r.status)?;
                (status != Status::Dead).then(|| self.build_goroutine(r, status, &ms, &reasons, now.as_ref()))
            })
            .collect();
        gs.sort_by_key(|g| g.id);
        Ok(gs)
    }

    fn build_goroutine(
        &self,
        r: &RawG,
        status: Status,
        ms: &[MInfo],
        reasons: &[String],
        now: Option<&Now>,
    ) -> Goroutine {
        let m = ms.iter().find(|m| m.addr == r.m && r.m != 0);
        let on_thread = matches!(status, Status::Running | Status::Syscall);
        let thread_id = m.filter(|_| on_thread).map(|m| m.procid).filter(|t| *t != 0);
        let wait_reason = matches!(status, Status::Waiting | Status::Leaked)
            .then(|| reasons.get(r.waitreason as usize).cloned())
            .flatten()
            .filter(|s| !s.is_empty());
        let wait_minutes = match (status, now) {
            (Status::Waiting | Status::Syscall, Some(now)) if r.waitsince != 0 => {
                ((now.nanotime - r.waitsince).max(0) / 60_000_000_000) as u64
            }
            _ => 0,
        };
        let unwound = self.unwind_goroutine(r, status, m);
        let frames = self.symbolize(&unwound);
        let start_function = self.func(r.startpc).map(|f| self.func_name(f).to_string());
        Goroutine {
            id: r.id,
            addr: r.addr,
            status,
            raw_status: r.status,
            wait_reason,
            wait_minutes,
            waitsince: r.waitsince,
            // The runtime prints no creator for the main goroutine.
            created_by: if r.id == 1 { None } else { self.created_by(r.gopc) },
            parent_id: r.parent_id,
            runtime_internal: start_function.as_deref().is_some_and(is_system_start),
            start_function,
            thread_id,
            m_id: m.filter(|_| on_thread).map(|m| m.id),
            locked_to_thread: r.lockedm != 0,
            labels: self.labels(r.labels),
            stack: r.stack,
            frames,
            unwind_error: unwound.error,
        }
    }

    /// Choose where a goroutine's stack starts, as the runtime's traceback does, and unwind.
    fn unwind_goroutine(&self, r: &RawG, status: Status, m: Option<&MInfo>) -> Unwound {
        let in_stack = |sp: u64| sp >= r.stack.0 && sp < r.stack.1;
        if status == Status::Running {
            if let Some((m, t)) = m.and_then(|m| Some((m, self.dump.thread(m.procid)?))) {
                let regs = Regs { pc: t.regs.pc, sp: t.regs.sp, fp: t.regs.fp, lr: t.regs.lr };
                if in_stack(regs.sp) && self.func(regs.pc).is_some() {
                    return self.unwind(regs, true, r.stack);
                }
                let on_gsignal = regs.sp >= m.gsignal_stack.0 && regs.sp < m.gsignal_stack.1;
                if on_gsignal {
                    if let Some(ctx) = self.signal_context(regs, m.gsignal_stack) {
                        if in_stack(ctx.sp) && self.func(ctx.pc).is_some() {
                            return self.unwind(ctx, true, r.stack);
                        }
                    }
                }
                // In a vDSO call (Linux) or a system call through asmstdcall (Windows): the
                // runtime saved the Go caller.
                let (csp, cpc) = match self.dump.os {
                    Os::Linux => (m.vdso_sp, m.vdso_pc),
                    Os::Windows => (m.libcall_sp, m.libcall_pc),
                };
                if in_stack(regs.sp) && csp != 0 && in_stack(csp) {
                    return self.unwind(Regs { pc: cpc, sp: csp, fp: 0, lr: 0 }, false, r.stack);
                }
            }
        }
        // Parked, runnable, in a system call, or on the system stack: the saved context.
        let start = if r.syscall.sp != 0 { r.syscall } else { r.sched };
        self.unwind(start, false, r.stack)
    }

    /// Physical frames to source frames, inlined calls expanded, innermost first.
    fn symbolize(&self, u: &Unwound) -> Vec<Frame> {
        let tab = &self.exe.pclntab;
        let mut out = Vec::with_capacity(u.frames.len() * 2);
        for pf in &u.frames {
            let link = pf.pc.wrapping_sub(self.bias);
            let exact = pf.trap || link == pf.func.entry;
            for sf in tab.frames(link, exact) {
                out.push(Frame {
                    runtime: names::is_runtime_frame(&sf.function),
                    function: names::for_print(&sf.function),
                    file: sf.file,
                    line: sf.line,
                    pc: pf.pc,
                    inlined: sf.inlined,
                });
            }
        }
        out
    }

    /// "created by": the function holding the `go` statement and its line (`printcreatedby1`).
    fn created_by(&self, gopc: u64) -> Option<Location> {
        let f = self.func(gopc)?;
        let link = gopc.wrapping_sub(self.bias);
        let tracepc = if link > f.entry { link - self.exe.pclntab.min_lc() as u64 } else { link };
        let (file, line) = self.exe.pclntab.file_line(f, tracepc)?;
        Some(Location {
            function: names::for_print(self.func_name(f)),
            file: file.to_string(),
            line,
        })
    }

    /// pprof labels: a slice of {key, value} string pairs (Go 1.24+), or a map[string]string
    /// (up to 1.23), told apart by the DWARF of `runtime/pprof.labelMap`.
    fn labels(&self, ptr: u64) -> Vec<(String, String)> {
        if ptr == 0 {
            return Vec::new();
        }
        let Some(d) = self.exe.dwarf.as_ref() else { return Vec::new() };
        let slice_off = ["LabelSet.list", "Set.List", "list"]
            .iter()
            .find_map(|p| d.field_offset("runtime/pprof.labelMap", p));
        let mut out = Vec::new();
        if let Some(off) = slice_off {
            let (Some(data), Some(len)) =
                (self.mem.read_u64(ptr + off), self.mem.read_u64(ptr + off + 8))
            else {
                return out;
            };
            for i in 0..len.min(1024) {
                let e = data + i * 32;
                if let (Some(k), Some(v)) = (self.read_go_string(e), self.read_go_string(e + 16)) {
                    out.push((k, v));
                }
            }
        } else if let Some(h) = self.mem.read_u64(ptr) {
            out = self.read_string_map(h);
        }
        out.sort();
        out
    }

    /// Entries of a classic (bucket) `map[string]string`, up to Go 1.23.
    fn read_string_map(&self, hmap: u64) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let Some(d) = self.exe.dwarf.as_ref() else { return out };
        let (hash, bucket) = ("hash<string,string>", "bucket<string,string>");
        let (Some(b_off), Some(buckets_off), Some(bsize), Some(keys), Some(elems), Some(ovf)) = (
            d.field_offset(hash, "B"),
            d.field_offset(hash, "buckets"),
            d.size_of(bucket),
            d.field_offset(bucket, "keys"),
            d.field_offset(bucket, "elems"),
            d.field_offset(bucket, "overflow"),
        ) else {
            return out;
        };
        let (Some(b), Some(buckets)) = (self.mem.read_u8(hmap + b_off), self.mem.read_u64(hmap + buckets_off))
        else {
            return out;
        };
        for i in 0..(1u64 << b.min(16)) {
            let mut bk = buckets + i * bsize;
            let mut guard = 0;
            while bk != 0 && guard < 1024 {
                for slot in 0..8 {
                    if self.mem.read_u8(bk + slot).is_some_and(|t| t >= 5) {
                        let k = self.read_go_string(bk + keys + slot * 16);
                        let v = self.read_go_string(bk + elems + slot * 16);
                        if let (Some(k), Some(v)) = (k, v) {
                            out.push((k, v));
                        }
                    }
                }
                bk = self.mem.read_u64(bk + ovf).unwrap_or(0);
                guard += 1;
            }
        }
        out
    }
}

/// The runtime's `isSystemGoroutine`, from the goroutine's start function: runtime functions
/// other than `runtime.main` (the finalizer and cleanup goroutines count as system ones).
fn is_system_start(name: &str) -> bool {
    name.starts_with("runtime.") && name != "runtime.main" && !name.starts_with("runtime.corostart")
        && name != "runtime.handleAsyncEvent"
}
