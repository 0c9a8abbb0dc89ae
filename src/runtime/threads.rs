//! The runtime's Ms (`runtime.allm`), the OS threads they run on, and a thread's whole stack
//! across the runtime's stack switches ([`ThreadStack`]).

use super::unwind::{PhysFrame, Regs, SignalFrame, Unwound};
use super::Process;
use crate::Result;

/// One `runtime.m`.
#[derive(Clone, Debug, Default)]
pub struct MInfo {
    pub addr: u64,
    pub id: i64,
    /// OS thread id (Linux LWP, Windows thread id).
    pub procid: u64,
    pub curg: u64,
    pub g0: u64,
    pub gsignal: u64,
    /// Stack bounds of g0 and gsignal.
    pub g0_stack: (u64, u64),
    pub gsignal_stack: (u64, u64),
    pub vdso_sp: u64,
    pub vdso_pc: u64,
    pub libcall_sp: u64,
    pub libcall_pc: u64,
}

impl Process {
    /// Every M, following `allm` through `m.alllink`.
    pub fn ms(&self) -> Result<Vec<MInfo>> {
        let l = &self.layouts;
        let mut out = Vec::new();
        let mut m = self.read_u64(self.globals.allm, "runtime.allm")?;
        while m != 0 && out.len() < 100_000 {
            let rd = |off: u64| self.mem.read_u64(m.saturating_add(off)).unwrap_or(0);
            let stack = |g: u64| -> (u64, u64) {
                if g == 0 {
                    return (0, 0);
                }
                let lo = self.mem.read_u64(g.saturating_add(l.g.stack_lo)).unwrap_or(0);
                let hi = self.mem.read_u64(g.saturating_add(l.g.stack_hi)).unwrap_or(0);
                (lo, hi)
            };
            let g0 = rd(l.m.g0);
            let gsignal = rd(l.m.gsignal);
            out.push(MInfo {
                addr: m,
                id: rd(l.m.id) as i64,
                procid: rd(l.m.procid),
                curg: rd(l.m.curg),
                g0,
                gsignal,
                g0_stack: stack(g0),
                gsignal_stack: stack(gsignal),
                vdso_sp: l.m.vdso_sp.map_or(0, rd),
                vdso_pc: l.m.vdso_pc.map_or(0, rd),
                libcall_sp: l.m.libcall_sp.map_or(0, rd),
                libcall_pc: l.m.libcall_pc.map_or(0, rd),
            });
            m = match self.mem.read_u64(m.saturating_add(l.m.alllink)) {
                Some(n) => n,
                None => break,
            };
        }
        Ok(out)
    }
}

/// Which stack a stretch of a thread's frames ran on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackOwner {
    /// The M's scheduling stack (`g0`): system calls on the system stack, the scheduler.
    G0,
    /// The M's signal stack (`gsignal`): signal handlers.
    Gsignal,
    /// A goroutine's own stack; the address of its `g`.
    Goroutine(u64),
}

/// One stretch of a thread's stack: the frames unwound on one stack, up to where the thread
/// had switched to it.
#[derive(Clone, Debug)]
pub struct StackSegment {
    pub owner: StackOwner,
    pub unwound: Unwound,
    /// The stretch starts in a signal handler: the kernel's signal frame above its
    /// `runtime.sigtramp`, that is the signal delivered and the context it interrupted (the
    /// next stretch).
    pub signal: Option<SignalFrame>,
}

/// A thread's whole stack, innermost stretch first: a signal handler's frames on the signal
/// stack, then the context the signal interrupted; system-stack frames on g0, then the
/// goroutine that switched to it (`runtime.systemstack`, or `runtime.morestack` to grow its
/// stack), as the runtime's own unwinder follows them (`unwindJumpStack`).
#[derive(Clone, Debug)]
pub struct ThreadStack {
    pub tid: u64,
    pub m: Option<MInfo>,
    pub segments: Vec<StackSegment>,
    /// Why the walk stopped before the thread's outermost frame, if it did.
    pub error: Option<String>,
}

impl ThreadStack {
    /// Every physical frame with the stack it ran on, innermost first.
    pub fn frames(&self) -> impl Iterator<Item = (StackOwner, &PhysFrame)> + '_ {
        self.segments.iter().flat_map(|s| s.unwound.frames.iter().map(move |f| (s.owner, f)))
    }
}

/// Stack switches followed at most (nested signals, systemstack).
const MAX_SEGMENTS: usize = 16;

impl Process {
    /// Unwind an OS thread from its registers across the switches the runtime makes: out of a
    /// signal handler into the context it interrupted (Linux), and from the system stack back
    /// to the goroutine that called `runtime.systemstack` or `runtime.morestack` (from the
    /// context they saved in its `g.sched`). `ms` are the process's Ms
    /// ([`Process::ms`]). None if the dump has no such thread.
    pub fn thread_stack(&self, tid: u64, ms: &[MInfo]) -> Option<ThreadStack> {
        let t = self.dump.thread(tid)?;
        let m = ms.iter().find(|m| m.procid == tid && tid != 0).cloned();
        let mut out = ThreadStack { tid, m: m.clone(), segments: Vec::new(), error: None };
        let Some(m) = m else {
            out.error = Some(format!("thread {tid} runs no M of the Go runtime"));
            return Some(out);
        };
        let l = &self.layouts;
        let g_stack = |g: u64| -> Option<(u64, u64)> {
            Some((
                self.mem.read_u64(g.saturating_add(l.g.stack_lo))?,
                self.mem.read_u64(g.saturating_add(l.g.stack_hi))?,
            ))
        };
        let curg_stack = if m.curg != 0 { g_stack(m.curg) } else { None };
        let within = |sp: u64, s: (u64, u64)| sp >= s.0 && sp < s.1;
        let mut regs = Regs { pc: t.regs.pc, sp: t.regs.sp, fp: t.regs.fp, lr: t.regs.lr };
        let mut trap = true;
        while out.segments.len() < MAX_SEGMENTS {
            let (owner, bounds) = if within(regs.sp, m.gsignal_stack) {
                (StackOwner::Gsignal, m.gsignal_stack)
            } else if within(regs.sp, m.g0_stack) {
                (StackOwner::G0, m.g0_stack)
            } else if let Some(s) = curg_stack.filter(|s| within(regs.sp, *s)) {
                (StackOwner::Goroutine(m.curg), s)
            } else {
                out.error = Some(format!("sp {:#x} is on none of the stacks of M {}", regs.sp, m.id));
                break;
            };
            let unwound = self.unwind(regs, trap, bounds);
            let last = unwound.frames.last().copied();
            let signal = last.filter(|f| self.is_sigtramp(f)).and_then(|f| self.kernel_signal_frame(&f));
            let next = match (signal, last) {
                (Some(sf), _) => Some((sf.regs, true)),
                (None, Some(f))
                    if owner == StackOwner::G0
                        && m.curg != 0
                        && matches!(self.func_name(f.func), "runtime.systemstack" | "runtime.morestack") =>
                {
                    let sched = m.curg.saturating_add(l.g.sched);
                    let rd = |off: u64| self.mem.read_u64(sched.saturating_add(off));
                    match (rd(l.gobuf.pc), rd(l.gobuf.sp), rd(l.gobuf.bp), rd(l.gobuf.lr)) {
                        (Some(pc), Some(sp), Some(fp), Some(lr)) => Some((Regs { pc, sp, fp, lr }, false)),
                        _ => None,
                    }
                }
                _ => None,
            };
            out.segments.push(StackSegment { owner, unwound, signal });
            match next {
                Some((r, t)) => (regs, trap) = (r, t),
                None => break,
            }
        }
        Some(out)
    }
}
