//! Layer 4: analyses over the runtime model.
//!
//! - [`heap`]: the heap analysis (object graph, reachability, typing, dominators, paths);
//! - [`group`]: goroutines grouped by identical stacks;
//! - [`crash`]: why the process died (the panic, fatal error or signal, and its message);
//! - [`diagnose`]: channels, locks and stuck goroutines, and the findings;
//! - [`diff`]: what grew between two dumps of one program (types, retainers, goroutine groups);
//! - [`memory`]: where the process's memory went, by category, against the runtime's counters.

pub mod crash;
pub mod diagnose;
pub mod diff;
pub mod group;
pub mod heap;
pub mod memory;

pub use heap::HeapAnalysis;

/// Give the memory freed so far back to the system. glibc keeps freed blocks in its arenas,
/// where the large arrays of the phases that follow cannot reuse them: without this, the
/// unwinding of 100,000 stacks, the graph's chunk builders and the edges' fields (freed once
/// the typing is done) stay in the process's footprint through the dominators' peak.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: `malloc_trim` only hands free pages of glibc's heaps back to the system.
        unsafe { malloc_trim(0) };
    }
}

/// `GOMORTEM_TIMINGS=1`: when each phase of the heap analysis ends, on stderr (for profiling;
/// see docs/testing.md).
pub(crate) struct Timings(Option<std::time::Instant>);

/// When the first [`Timings`] started: laps are from there, one clock for every phase.
static TIMINGS_START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

impl Timings {
    pub(crate) fn start() -> Timings {
        Timings(
            std::env::var_os("GOMORTEM_TIMINGS").map(|_| *TIMINGS_START.get_or_init(std::time::Instant::now)),
        )
    }

    pub(crate) fn lap(&self, phase: &str) {
        if let Some(t) = self.0 {
            eprintln!("timings: {phase} done at {:.3} s", t.elapsed().as_secs_f64());
        }
    }
}
