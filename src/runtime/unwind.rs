//! Post-mortem stack unwinding, following the runtime's own `unwinder` (traceback.go): frame
//! sizes from pclntab's pcsp table, the amd64 return-address slot, the arm64 link-register
//! rules, calls injected by signals (sigpanic, asyncPreempt), and TOPFRAME/SPWRITE stops.
//! On top of that it crosses Linux signal frames into the kernel's saved context, which the
//! runtime itself never needs to.

use crate::dump::{Arch, Os};
use crate::exe::Func;

use super::Process;

/// The machine state an unwind starts from.
#[derive(Clone, Copy, Debug, Default)]
pub struct Regs {
    pub pc: u64,
    pub sp: u64,
    pub fp: u64,
    /// arm64 link register; 0 if unknown or on amd64.
    pub lr: u64,
}

/// One physical frame.
#[derive(Clone, Copy, Debug)]
pub struct PhysFrame {
    pub pc: u64,
    pub sp: u64,
    pub fp: u64,
    pub func: Func,
    /// The pc is the faulting/interrupted instruction itself, not a return address: look up
    /// `pc`, not `pc-1`, for its line (the runtime's `unwindTrap`).
    pub trap: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Unwound {
    pub frames: Vec<PhysFrame>,
    /// Why the walk stopped early, if it did.
    pub error: Option<String>,
}

const FUNC_FLAG_TOPFRAME: u8 = 1;
const FUNC_FLAG_SPWRITE: u8 = 2;

/// Frames the runtime's traceback never prints more than; deeper stacks are cut here.
pub const MAX_FRAMES: usize = 1 << 16;

fn is_injected_call(name: &str) -> bool {
    matches!(name, "runtime.sigpanic" | "runtime.asyncPreempt" | "runtime.debugCallV2")
}

impl Process {
    fn arch(&self) -> Arch {
        self.dump.arch
    }

    /// Unwind one stack from `start`. `trap` says the start pc is an interrupted instruction
    /// (signal context, suspended thread) rather than a saved return address. `stack` bounds
    /// the walk.
    pub fn unwind(&self, start: Regs, trap: bool, stack: (u64, u64)) -> Unwound {
        let mut out = Unwound::default();
        let arm64 = self.arch() == Arch::Arm64;
        let ptr = 8u64;
        let (mut pc, mut sp, mut lr, mut trap) = (start.pc, start.sp, start.lr, trap);
        if pc == 0 {
            // A call through a nil function value: start at the caller (initAt).
            if arm64 {
                pc = lr;
                lr = 0;
            } else {
                match self.mem.read_u64(sp) {
                    Some(v) => {
                        pc = v;
                        sp += ptr;
                    }
                    None => {
                        out.error = Some(format!("stack memory at {sp:#x} is not in the dump"));
                        return out;
                    }
                }
            }
        }
        let mut innermost = true;
        loop {
            if out.frames.len() >= MAX_FRAMES {
                out.error = Some(format!("stopped after {MAX_FRAMES} frames"));
                break;
            }
            if sp < stack.0 || sp > stack.1 {
                out.error = Some(format!("sp {sp:#x} left the stack [{:#x}, {:#x})", stack.0, stack.1));
                break;
            }
            let Some(f) = self.func(pc) else {
                out.error = Some(format!("pc {pc:#x} is not in Go code"));
                break;
            };
            let tab = &self.exe.pclntab;
            let link_pc = pc.wrapping_sub(self.bias);
            let Some(spdelta) = tab.pcsp(f, link_pc) else {
                out.error = Some(format!("no frame size for {} at {pc:#x}", tab.name(f)));
                break;
            };
            let fp = sp.wrapping_add(spdelta as i64 as u64).wrapping_add(if arm64 { 0 } else { ptr });
            out.frames.push(PhysFrame { pc, sp, fp, func: f, trap });
            let flag = tab.flag(f);
            if flag & FUNC_FLAG_TOPFRAME != 0 || flag & FUNC_FLAG_SPWRITE != 0 {
                break;
            }
            let next = if arm64 {
                if lr == 0 || (innermost && sp < fp) {
                    self.mem.read_u64(sp)
                } else {
                    Some(lr)
                }
            } else {
                self.mem.read_u64(fp.wrapping_sub(ptr))
            };
            let Some(next) = next else {
                out.error = Some(format!("stack memory near {fp:#x} is not in the dump"));
                break;
            };
            if next == 0 {
                break;
            }
            if next == pc && fp == sp {
                out.error = Some("unwinding made no progress".into());
                break;
            }
            let injected = is_injected_call(tab.name(f));
            trap = injected;
            pc = next;
            sp = fp;
            lr = 0;
            if arm64 && injected {
                // sighandler saved the LR on the stack before faking the call.
                let x = self.mem.read_u64(sp).unwrap_or(0);
                sp += 16;
                match self.func(pc) {
                    None => pc = x,
                    Some(g) => {
                        if tab.pcsp(g, pc.wrapping_sub(self.bias)) == Some(0) {
                            lr = x;
                        }
                    }
                }
            }
            innermost = false;
        }
        out
    }

    /// For a thread stopped inside the runtime's signal handler (every thread of a
    /// `GOTRACEBACK=crash` core), the context the signal interrupted, read from the kernel's
    /// ucontext above `runtime.sigtramp`. Signals can nest (the crash path re-raises its
    /// signal from within the handler): follow them until the context leaves the signal stack.
    pub fn signal_context(&self, regs: Regs, gsignal_stack: (u64, u64)) -> Option<Regs> {
        if self.dump.os != Os::Linux {
            return None;
        }
        let mut cur = regs;
        for _ in 0..8 {
            let ctx = self.one_signal_context(cur, gsignal_stack)?;
            if ctx.sp < gsignal_stack.0 || ctx.sp >= gsignal_stack.1 {
                return Some(ctx);
            }
            cur = ctx;
        }
        None
    }

    fn one_signal_context(&self, regs: Regs, gsignal_stack: (u64, u64)) -> Option<Regs> {
        let walk = self.unwind(regs, true, gsignal_stack);
        let tramp = walk.frames.iter().find(|fr| self.is_sigtramp(fr))?;
        self.kernel_signal_frame(tramp).map(|s| s.regs)
    }

    /// Whether a frame is the runtime's signal trampoline, which the kernel called.
    pub fn is_sigtramp(&self, fr: &PhysFrame) -> bool {
        let n = self.func_name(fr.func);
        n == "runtime.sigtramp" || n == "runtime.cgoSigtramp"
    }

    /// The signal frame the kernel pushed before calling `runtime.sigtramp` (Linux): the
    /// interrupted context and the siginfo. `tramp` is the sigtramp frame.
    pub fn kernel_signal_frame(&self, tramp: &PhysFrame) -> Option<SignalFrame> {
        if self.dump.os != Os::Linux {
            return None;
        }
        let m = &self.mem;
        let (regs, siginfo) = match self.arch() {
            Arch::Amd64 => {
                // rt_sigframe { pretcode; ucontext; siginfo }: the ucontext sits right above
                // the return address the kernel pushed; its uc_mcontext (at +0x28) holds the
                // registers in sigcontext order. The ucontext is 304 bytes (flags, link,
                // stack_t, sigcontext, sigmask).
                let uc = tramp.fp;
                let gregs = uc + 0x28;
                let regs = Regs {
                    fp: m.read_u64(gregs.saturating_add(10 * 8))?,
                    sp: m.read_u64(gregs.saturating_add(15 * 8))?,
                    pc: m.read_u64(gregs.saturating_add(16 * 8))?,
                    lr: 0,
                };
                (regs, uc + 304)
            }
            Arch::Arm64 => {
                // rt_sigframe { siginfo (128 bytes); ucontext }, uc_mcontext at +0xb0:
                // fault_address, regs[31], sp, pc.
                let mc = tramp.fp + 128 + 0xb0;
                let regs = Regs {
                    fp: m.read_u64(mc.saturating_add(8 + 29 * 8))?,
                    lr: m.read_u64(mc.saturating_add(8 + 30 * 8))?,
                    sp: m.read_u64(mc.saturating_add(0x100))?,
                    pc: m.read_u64(mc.saturating_add(0x108))?,
                };
                (regs, tramp.fp)
            }
        };
        // siginfo { si_signo, si_errno, si_code (i32); union, 8-aligned: si_addr first }.
        Some(SignalFrame {
            regs,
            signo: m.read_u32(siginfo).map_or(0, |v| v as i32),
            code: m.read_u32(siginfo.saturating_add(8)).map_or(0, |v| v as i32),
            addr: m.read_u64(siginfo.saturating_add(16)).unwrap_or(0),
        })
    }
}

/// What the kernel saved when it delivered a signal (Linux `rt_sigframe`).
#[derive(Clone, Copy, Debug, Default)]
pub struct SignalFrame {
    /// The interrupted context.
    pub regs: Regs,
    /// `si_signo`, `si_code` and `si_addr` of the siginfo (0 if unreadable).
    pub signo: i32,
    pub code: i32,
    pub addr: u64,
}
