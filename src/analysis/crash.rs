//! Why the process died: the panic, the fatal error or the signal, with the message the
//! runtime printed for it, the goroutine and the place.
//!
//! The dump says whether it is a crash at all (a core's fatal signal, a minidump's exception
//! stream); a snapshot of a live process gives no report. For a crash, the crashing thread's
//! stack is walked across the runtime's stack switches (signal handler → interrupted context,
//! system stack → goroutine) and its innermost decisive frame tells what happened:
//!
//! | frame | reason | message |
//! |---|---|---|
//! | `runtime.fatalpanic` | `panic` | the goroutine's `_panic` chain as `printpanics` prints it: `panic: …`, `[recovered]`, nested panics after a tab |
//! | `runtime.fatalthrow` | `fatal_error` | `fatal error: …`, the argument of `runtime.throw`/`runtime.fatal` (Go 1.26+: `fatal` prints the goroutine's panics first) |
//! | `runtime.sighandler` | `signal` | the runtime's name of the signal it handled, `SIGABRT: abort` (`fatalsignal`) |
//!
//! A `GOTRACEBACK=crash` core always ends in SIGABRT, which the runtime raises after printing:
//! that signal is not the reason, the frames below it are. If no thread shows any of these
//! frames (a signal the Go runtime did not handle, a Windows exception caught before it), the
//! reason is `signal` or `exception` with no message.
//!
//! `message` holds the lines that name the failure, exactly as printed; `details` the lines the
//! runtime printed right after them (`[signal SIGSEGV: segmentation violation code=… addr=…
//! pc=…]` under a panic or throw a fault caused, `PC=… m=… sigcode=…` under a signal's name).
//! Diagnostics printed before (`runtime: out of memory: cannot allocate …-byte block`) are not
//! in the dump.

use serde::{Serialize, Serializer};

use crate::dump::Os;
use crate::runtime::goroutines::{Frame, Location};
use crate::runtime::panics::PanicRecord;
use crate::runtime::threads::{StackOwner, ThreadStack};
use crate::runtime::unwind::Unwound;
use crate::runtime::{Goroutine, Process};

/// What killed the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// An unrecovered panic (`panic: …`).
    Panic,
    /// A fatal error: `runtime.throw` (the runtime found itself in a state it cannot go on
    /// from: out of memory, a corrupted heap…) or `runtime.fatal` (the program broke a rule:
    /// concurrent map writes, all goroutines asleep…): `fatal error: …`.
    FatalError,
    /// A signal the runtime's handler found fatal (`SIGSEGV` outside Go code, `SIGABRT`,
    /// `SIGQUIT`…), or one that killed the process without the runtime's handler.
    Signal,
    /// A Windows exception the runtime did not turn into a panic or a fatal error.
    Exception,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Panic => "panic",
            Reason::FatalError => "fatal_error",
            Reason::Signal => "signal",
            Reason::Exception => "exception",
        }
    }
}

/// The signal behind a crash.
#[derive(Clone, Debug, Serialize)]
pub struct SignalInfo {
    pub number: i32,
    /// `SIGSEGV`; `signal N` where the runtime has no name for it.
    pub name: String,
    /// The runtime's description, `SIGSEGV: segmentation violation` (`runtime.sigtable`).
    pub description: Option<String>,
    /// `si_code` (or `g.sigcode0`).
    pub code: Option<i64>,
    /// The faulting address (`si_addr`, `g.sigcode1`), for the signals that have one.
    #[serde(serialize_with = "opt_hex")]
    pub addr: Option<u64>,
    /// Where the signal arrived.
    #[serde(serialize_with = "opt_hex")]
    pub pc: Option<u64>,
}

/// A Windows exception (the minidump's exception stream).
#[derive(Clone, Debug, Serialize)]
pub struct ExceptionInfo {
    #[serde(serialize_with = "hex32")]
    pub code: u32,
    #[serde(serialize_with = "opt_hex")]
    pub address: Option<u64>,
}

/// Why the process died.
#[derive(Clone, Debug, Serialize)]
pub struct CrashReport {
    pub reason: Reason,
    /// The lines naming the failure, as the runtime printed them (several for nested
    /// panics): `panic: validate: field "age": value -1 out of range`, `fatal error: out of
    /// memory`, `SIGABRT: abort`. None when the runtime printed none or the dump lost it.
    pub message: Option<String>,
    /// The lines the runtime printed right after the message (`[signal …]`, `PC=… m=…`).
    pub details: Vec<String>,
    /// The goroutine that panicked, threw, or was interrupted by the signal.
    pub goroutine: Option<u64>,
    /// The OS thread that crashed (the dump's crashing thread, or the thread found panicking).
    pub thread_id: u64,
    /// The M that thread ran.
    pub m_id: Option<i64>,
    /// The signal that caused the crash: the one the runtime's handler found fatal, or the
    /// fault a panic or throw came from (a nil dereference's SIGSEGV); None for a panic or
    /// throw of the program's own. (The signal that ended the process, often the runtime's
    /// own SIGABRT after printing, is the dump's: [`crate::dump::CrashInfo`].)
    pub cause: Option<SignalInfo>,
    /// The exception the minidump records (Windows).
    pub exception: Option<ExceptionInfo>,
    /// The goroutine's active panics, innermost first (for a panic; for a fatal error raised
    /// while panicking).
    pub panics: Vec<PanicRecord>,
    /// Where in the program: the first frame outside the runtime from the panic, throw or
    /// interrupted instruction outwards (`main.validate`, main.go:54).
    pub location: Option<Location>,
    /// The function that called panic or throw (or that the signal interrupted), when it is
    /// not `location` (`runtime.(*mcache).allocLarge` for an out-of-memory throw).
    pub caller: Option<Location>,
    /// What could not be read, and why.
    pub warnings: Vec<String>,
}

fn opt_hex<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(&format_args!("{v:#x}")),
        None => s.serialize_none(),
    }
}

fn hex32<S: Serializer>(v: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{v:#010x}"))
}

/// What the thread's decisive frame says.
enum Found {
    Panic { owner: StackOwner, frame: usize },
    Throw { frame: usize },
    Signal { segment: usize, frame: usize },
}

/// Why the process died; None for a snapshot of a live process. `gs` are its goroutines
/// ([`Process::goroutines`]), for their ids.
pub fn why_died(p: &Process, gs: &[Goroutine]) -> Option<CrashReport> {
    let info = p.dump.crash.as_ref()?;
    let mut warnings = Vec::new();
    let ms = p.ms().unwrap_or_else(|e| {
        warnings.push(format!("the runtime's Ms could not be read: {e}"));
        Vec::new()
    });
    let mut r = CrashReport {
        reason: if p.dump.os == Os::Windows && info.exception_code.is_some() {
            Reason::Exception
        } else {
            Reason::Signal
        },
        message: None,
        details: Vec::new(),
        goroutine: None,
        thread_id: info.thread_id,
        m_id: None,
        cause: info.signal.map(|n| signal_info(p, n, None, None, None)),
        exception: info.exception_code.map(|code| ExceptionInfo { code, address: info.exception_address }),
        panics: Vec::new(),
        location: None,
        caller: None,
        warnings: Vec::new(),
    };
    // The crashing thread first. The runtime may have had another thread raise the fatal
    // signal: then the thread that panicked or threw is elsewhere (other threads in the
    // runtime's signal handler are printing their stacks for the crash, not its cause).
    let crashing = p.thread_stack(info.thread_id, &ms);
    let found = crashing.as_ref().and_then(|s| decisive(p, s).map(|f| (s.clone(), f))).or_else(|| {
        p.dump
            .threads
            .iter()
            .filter(|t| t.tid != info.thread_id)
            .filter_map(|t| p.thread_stack(t.tid, &ms))
            .find_map(|s| match decisive(p, &s) {
                Some(Found::Signal { .. }) | None => None,
                Some(f) => Some((s, f)),
            })
    });
    let Some((stack, found)) = found else {
        if let Some(e) = crashing.as_ref().and_then(|s| s.error.clone()) {
            warnings.push(format!("crashing thread: {e}"));
        }
        warnings.push(
            "no thread is panicking, throwing or handling a fatal signal: the runtime printed \
             nothing the dump holds"
                .into(),
        );
        r.goroutine = gs.iter().find(|g| g.thread_id == Some(info.thread_id)).map(|g| g.id);
        r.warnings = warnings;
        return Some(r);
    };
    r.thread_id = stack.tid;
    r.m_id = stack.m.as_ref().map(|m| m.id);
    let m = stack.m.clone().unwrap_or_default();
    let frames = symbolized(p, &stack);
    // The signal the kernel killed the process with is the runtime's own SIGABRT after a
    // panic or throw (GOTRACEBACK=crash), not their cause.
    r.cause = None;
    let types = p.types().map_err(|e| warnings.push(format!("type descriptors: {e}"))).ok();
    match found {
        Found::Panic { owner, frame } => {
            r.reason = Reason::Panic;
            let g = owner_g(owner);
            r.goroutine = goroutine_id(p, gs, g);
            if let Some(g) = g {
                r.panics = p.panic_chain(g, types.as_ref(), &mut warnings);
                r.message = p.print_panics(&r.panics);
                add_goroutine_signal(p, g, &mut r);
            }
            if r.message.is_none() {
                warnings.push("the panic's value is not in the dump".into());
            }
            place(&frames, first_index(&frames, frame), true, &mut r);
        }
        Found::Throw { frame } => {
            r.reason = Reason::FatalError;
            let call = p.throw_message(&stack);
            let owner = call.as_ref().map_or(StackOwner::G0, |c| c.owner);
            let g = owner_g(owner);
            r.goroutine = goroutine_id(p, gs, g.or(Some(m.curg).filter(|g| *g != 0)));
            let mut message = match call.as_ref().and_then(|c| c.message.as_ref()) {
                Some(s) => Some(format!("fatal error: {}", indent(p, s))),
                None => {
                    warnings.push("the message of the fatal error is no longer on its frame".into());
                    None
                }
            };
            if let (Some(g), Some(c)) = (g, &call) {
                r.panics = p.panic_chain(g, types.as_ref(), &mut warnings);
                // Go 1.26+: `fatal` prints the panics in flight first, then a tab.
                if c.function == "runtime.fatal" && p.print_rules().fatal_prints_panics {
                    if r.panics.iter().any(|x| !x.goexit && x.value.text.is_none()) {
                        warnings.push("a panic the fatal error printed first is not in the dump".into());
                        message = None;
                    } else if let (Some(pp), Some(m)) = (p.print_panics(&r.panics), &message) {
                        message = Some(format!("{pp}\n\t{m}"));
                    }
                }
            }
            r.message = message;
            // dopanic_m reports the signal of the g fatalthrow ran on.
            let thrower = match owner {
                StackOwner::Goroutine(g) => Some(g),
                StackOwner::G0 => Some(m.g0),
                StackOwner::Gsignal => Some(m.gsignal),
            };
            if let Some(g) = thrower.filter(|g| *g != 0) {
                add_goroutine_signal(p, g, &mut r);
            }
            let at = call.map_or(frame, |c| c.frame);
            place(&frames, first_index(&frames, at), true, &mut r);
        }
        Found::Signal { segment, frame } => {
            r.reason = Reason::Signal;
            let sf = stack.segments[segment].signal;
            let interrupted = stack.segments.get(segment + 1);
            let g = interrupted.and_then(|s| owner_g(s.owner)).or(Some(m.curg).filter(|g| *g != 0));
            r.goroutine = goroutine_id(p, gs, g);
            match sf {
                Some(sf) => {
                    r.message = p.fatal_signal_line(sf.signo as u32);
                    if r.message.is_none() {
                        warnings.push(format!("the runtime's name of signal {} cannot be read", sf.signo));
                    }
                    let mut line =
                        format!("PC={:#x} m={} sigcode={}", sf.regs.pc, m.id, sf.code as i64 as u64);
                    if is_fault(p, sf.signo) {
                        line += &format!(" addr={:#x}", sf.addr);
                    }
                    r.details.push(line);
                    r.cause = Some(signal_info(
                        p,
                        sf.signo,
                        Some(sf.code as i64),
                        is_fault(p, sf.signo).then_some(sf.addr),
                        Some(sf.regs.pc),
                    ));
                }
                None => warnings.push("the signal frame of the runtime's handler is not in the dump".into()),
            }
            // The interrupted context starts after the handler's own frames.
            let first = stack.segments[..=segment].iter().map(|s| s.unwound.frames.len()).sum::<usize>();
            debug_assert!(first > frame);
            place(&frames, first_index(&frames, first), false, &mut r);
        }
    }
    r.warnings = warnings;
    Some(r)
}

/// The innermost panic, throw or fatal-signal frame of a thread.
fn decisive(p: &Process, s: &ThreadStack) -> Option<Found> {
    let mut i = 0;
    for (k, seg) in s.segments.iter().enumerate() {
        for f in &seg.unwound.frames {
            match p.func_name(f.func) {
                "runtime.fatalpanic" => return Some(Found::Panic { owner: seg.owner, frame: i }),
                "runtime.fatalthrow" | "runtime.fatalthrow.func1" => return Some(Found::Throw { frame: i }),
                "runtime.sighandler" => return Some(Found::Signal { segment: k, frame: i }),
                _ => {}
            }
            i += 1;
        }
    }
    None
}

/// The `g` a stack belongs to: a goroutine's own; for the system stack, the goroutine the M
/// was running.
fn owner_g(owner: StackOwner) -> Option<u64> {
    match owner {
        StackOwner::Goroutine(g) => Some(g),
        StackOwner::G0 | StackOwner::Gsignal => None,
    }
    .filter(|g| *g != 0)
}

fn goroutine_id(p: &Process, gs: &[Goroutine], g: Option<u64>) -> Option<u64> {
    let g = g?;
    gs.iter()
        .find(|x| x.addr == g)
        .map(|x| x.id)
        .or_else(|| p.mem.read_u64(g.saturating_add(p.layouts.g.goid)))
}

fn add_goroutine_signal(p: &Process, g: u64, r: &mut CrashReport) {
    if let Some(s) = p.goroutine_signal(g) {
        r.details.push(p.signal_line(&s));
        r.cause = Some(signal_info(p, s.sig as i32, Some(s.code as i64), Some(s.addr), Some(s.pc)));
    }
}

/// A signal (on Windows, the exception code the runtime keeps in its place).
fn signal_info(p: &Process, n: i32, code: Option<i64>, addr: Option<u64>, pc: Option<u64>) -> SignalInfo {
    let description = (n >= 0).then(|| p.signal_description(n as u32)).flatten();
    let name = match description.as_deref().and_then(|d| d.split(':').next()).filter(|n| n.starts_with("SIG"))
    {
        Some(n) => n.to_string(),
        None if p.dump.os == Os::Windows => format!("exception {:#010x}", n as u32),
        None => format!("signal {n}"),
    };
    SignalInfo { number: n, name, description, code, addr, pc }
}

/// Whether `fatalsignal` prints the fault address for this signal (SIGSEGV, SIGBUS).
fn is_fault(p: &Process, sig: i32) -> bool {
    let c = |n: &str, dflt: i64| p.exe.dwarf.as_ref().and_then(|d| d.constant(n)).unwrap_or(dflt);
    sig as i64 == c("runtime._SIGSEGV", 11) || sig as i64 == c("runtime._SIGBUS", 7)
}

/// A throw's message as `printindented` prints it.
fn indent(p: &Process, s: &str) -> String {
    if p.print_rules().indent_newlines {
        s.replace('\n', "\n\t")
    } else {
        s.to_string()
    }
}

/// Every frame of the thread, symbolized (inlined calls expanded), with the index of the
/// physical frame each comes from.
fn symbolized(p: &Process, s: &ThreadStack) -> Vec<(usize, Frame)> {
    let mut out = Vec::new();
    for (i, (_, f)) in s.frames().enumerate() {
        let one = Unwound { frames: vec![*f], error: None };
        out.extend(p.symbolize(&one).into_iter().map(|fr| (i, fr)));
    }
    out
}

/// The first symbolized frame of physical frame `phys`, or None.
fn first_index(frames: &[(usize, Frame)], phys: usize) -> Option<usize> {
    frames.iter().position(|(i, _)| *i >= phys)
}

/// Set `caller` and `location` from the frames outward of the frame at `at`. With
/// `machinery` (a panic or throw), `caller` is the first frame after the run of functions of
/// `runtime/panic.go` (`panic`, `throw`, `fatal`, the helpers that raise the runtime's errors
/// such as `goPanicIndex` and `panicmem`, and the runtime's `fatal`s linked into other
/// packages such as `sync.fatal`); without (a signal) the frame at `at`, the interrupted one.
/// `location` is the first frame from `caller` outwards that is not the runtime's.
fn place(frames: &[(usize, Frame)], at: Option<usize>, machinery: bool, r: &mut CrashReport) {
    let Some(at) = at else { return };
    let rest = &frames[at.min(frames.len())..];
    let in_panic_go = |f: &Frame| f.file.ends_with("/runtime/panic.go");
    let start = match rest.iter().position(|(_, f)| machinery && in_panic_go(f)) {
        Some(i) => i + rest[i..].iter().take_while(|(_, f)| in_panic_go(f)).count(),
        None => 0,
    };
    let loc = |f: &Frame| Location { function: f.function.clone(), file: f.file.clone(), line: f.line };
    let after = &rest[start.min(rest.len())..];
    let caller = after.first().map(|(_, f)| loc(f));
    let shown = after.iter().find(|(_, f)| !is_runtime(f));
    r.location = shown.map(|(_, f)| loc(f)).or_else(|| caller.clone());
    r.caller = caller.filter(|c| Some(c) != r.location.as_ref());
}

/// A frame of the runtime: hidden by its traceback, or of `runtime` or `internal/runtime/…`.
fn is_runtime(f: &Frame) -> bool {
    !f.shown_by_default() || f.function.starts_with("runtime.") || f.function.starts_with("internal/runtime/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed(platform: &str) -> Option<Process> {
        let (d, meta) = crate::testutil::fixture_cases().into_iter().find(|(d, m)| {
            m["go_version"] == "1.26.6"
                && m["platform"] == platform
                && m["scenario"] == "leaky"
                && d.ends_with(format!("go1.26.6-{platform}-leaky"))
        })?;
        let file = |k: &str| d.join(meta[k].as_str().unwrap_or(k));
        Some(Process::open(&file("dump"), Some(&file("exe"))).unwrap())
    }

    /// A healthy process that `GOTRACEBACK=crash` killed with SIGABRT; broken stacks and
    /// missing layouts give partial reports with warnings, never a panic; a live snapshot none.
    #[test]
    fn signal_and_bad_input() {
        let (Some(mut p), Some(w)) = (committed("linux-amd64"), committed("windows-amd64")) else {
            eprintln!("note: no committed go1.26.6 leaky fixtures: skipping");
            return;
        };
        assert!(why_died(&w, &w.goroutines().unwrap()).is_none());
        let gs = p.goroutines().unwrap();
        let r = why_died(&p, &gs).unwrap();
        assert_eq!(
            (r.reason, r.message.as_deref(), r.goroutine),
            (Reason::Signal, Some("SIGABRT: abort"), Some(1))
        );
        assert!(r.details[0].starts_with("PC=0x") && r.warnings.is_empty(), "{r:?}");
        assert_eq!(r.cause.as_ref().map(|c| (c.number, c.code)), Some((6, Some(-6))));

        // The runtime's layouts of panics and signals missing: the signal's name is unknown.
        let saved = p.layouts.panics.take();
        let r = why_died(&p, &gs).unwrap();
        assert_eq!((r.reason, r.message.as_deref()), (Reason::Signal, None));
        assert!(!r.warnings.is_empty());
        p.layouts.panics = saved;

        // The crashing thread's registers point nowhere: no thread explains the crash.
        let tid = p.dump.crash.as_ref().unwrap().thread_id;
        let t = p.dump.threads.iter_mut().find(|t| t.tid == tid).unwrap();
        (t.regs.pc, t.regs.sp, t.regs.fp) = (0x10, 0x20, 0);
        let r = why_died(&p, &gs).unwrap();
        assert_eq!((r.reason, r.message.as_deref(), r.goroutine), (Reason::Signal, None, Some(1)));
        assert_eq!(r.cause.as_ref().map(|c| c.number), Some(6));
        assert!(r.warnings.iter().any(|w| w.contains("crashing thread")), "{:?}", r.warnings);
        // Every thread's registers broken: still a report.
        for t in &mut p.dump.threads {
            (t.regs.pc, t.regs.sp) = (u64::MAX, u64::MAX);
        }
        assert!(why_died(&p, &gs).is_some());
    }
}
