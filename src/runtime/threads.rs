//! The runtime's Ms (`runtime.allm`) and the OS threads they run on.

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
            let rd = |off: u64| self.mem.read_u64(m + off).unwrap_or(0);
            let stack = |g: u64| -> (u64, u64) {
                if g == 0 {
                    return (0, 0);
                }
                let lo = self.mem.read_u64(g + l.g.stack_lo).unwrap_or(0);
                let hi = self.mem.read_u64(g + l.g.stack_hi).unwrap_or(0);
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
            m = match self.mem.read_u64(m + l.m.alllink) {
                Some(n) => n,
                None => break,
            };
        }
        Ok(out)
    }
}
