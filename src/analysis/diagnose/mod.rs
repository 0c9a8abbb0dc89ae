//! Diagnoses: what the goroutines wait on and which can never wake up (channels, locks,
//! deadlocks), and the findings built on them and on the heap analysis.

pub mod blocking;
pub mod findings;
pub mod signature;
pub mod stuck;

pub use blocking::Blocking;
pub use findings::{Finding, Severity, Thresholds};
pub use stuck::Stuck;

use crate::analysis::crash::{self, CrashReport};
use crate::analysis::group::{self, Group};
use crate::analysis::memory::{self, MemoryBreakdown, OutsideLive};
use crate::analysis::HeapAnalysis;
use crate::runtime::Goroutine;

/// Everything the diagnoses found in one dump.
pub struct Diagnosis {
    /// Why the process died; None for a snapshot of a live process.
    pub crash: Option<CrashReport>,
    /// Where the process's memory went, and whether it is mostly outside live objects (None,
    /// with a warning, if the dump does not say).
    pub memory: Option<(MemoryBreakdown, OutsideLive)>,
    pub goroutines: Vec<Goroutine>,
    pub groups: Vec<Group>,
    pub blocking: Blocking,
    /// Ids of the goroutines that can never wake up, ascending.
    pub stuck: Vec<u64>,
    /// Most severe first.
    pub findings: Vec<Finding>,
    pub warnings: Vec<String>,
}

impl Diagnosis {
    /// Diagnose a heap analysis (with its dominators, for the retention findings) and the
    /// process's goroutines.
    pub fn run(a: &HeapAnalysis, goroutines: Vec<Goroutine>, t: &Thresholds) -> Diagnosis {
        let timings = crate::analysis::Timings::start();
        let crash = crash::why_died(a.p, &goroutines);
        timings.lap("diagnose: crash");
        let mut blocking = Blocking::read(a, &goroutines);
        timings.lap("diagnose: waits");
        let stuck = Stuck::compute(a, &mut blocking);
        let stuck_ids = stuck.goroutines.clone();
        let (mut findings, mut warnings) = findings::find(a, &goroutines, &blocking, stuck, t);
        timings.lap("diagnose: findings");
        let memory = match memory::breakdown(a.p, &a.heap.census()) {
            Ok(b) => {
                let o = memory::outside_live(&b, &t.memory);
                findings.extend(findings::memory(&o));
                Some((b, o))
            }
            Err(e) => {
                warnings.push(format!("no memory breakdown: {e}"));
                None
            }
        };
        warnings.extend(blocking.warnings.iter().cloned());
        if let Some(c) = &crash {
            warnings.extend(c.warnings.iter().map(|w| format!("crash: {w}")));
        }
        timings.lap("diagnose: memory");
        let groups = group::group(&goroutines);
        Diagnosis { crash, memory, goroutines, groups, blocking, stuck: stuck_ids, findings, warnings }
    }
}
