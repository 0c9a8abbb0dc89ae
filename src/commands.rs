//! One library entry point per command: open the dump, analyse it, write the answer. The CLI
//! (`src/main.rs`) parses arguments into these options and maps the [`Outcome`] to an exit
//! status ([`exit`]); tests and other programs can call the same functions.

use std::io::Write;
use std::path::PathBuf;

use crate::analysis::HeapAnalysis;
use crate::dump::InputLimits;
use crate::report::{self, heap as rh, text::GoroutineOptions};
use crate::runtime::Process;
use crate::Result;

/// Exit statuses of the `gomortem` command (documented in README.md).
pub mod exit {
    /// Analysed; the answer is on stdout.
    pub const OK: u8 = 0;
    /// The dump or the executable could not be read or analysed (nothing useful on stdout).
    pub const ERROR: u8 = 1;
    /// Bad command line (clap's own status).
    pub const USAGE: u8 = 2;
    /// Partly read: the dump is truncated; the answer is printed but may be incomplete.
    pub const PARTIAL: u8 = 3;
    /// `--fail-on SEVERITY`: a finding at or above that severity.
    pub const FINDINGS: u8 = 4;
}

/// What every command reads.
#[derive(Clone, Debug)]
pub struct Target {
    pub dump: PathBuf,
    /// The executable; None: the one the dump names.
    pub exe: Option<PathBuf>,
    /// JSON instead of text.
    pub json: bool,
    /// Bounds on decompressing a compressed dump or executable (`--max-decompressed`).
    pub limits: InputLimits,
}

impl Target {
    fn open(&self) -> Result<Process> {
        open_process(&self.dump, self.exe.as_deref(), &self.limits)
    }
}

/// Open a dump and its executable; the executable's warnings (a corrupt DWARF the command
/// can do without…) are printed on stderr at once, whatever the output format.
fn open_process(
    dump: &std::path::Path,
    exe: Option<&std::path::Path>,
    limits: &InputLimits,
) -> Result<Process> {
    let p = Process::open_with(dump, exe, limits)?;
    for w in &p.exe.warnings {
        eprintln!("gomortem: warning: {}: {w}", p.exe.path.display());
    }
    Ok(p)
}

/// How a command that produced its answer ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// The dump is incomplete (truncated): the answer may miss things.
    Partial(String),
    /// `--fail-on`: findings at or above the severity asked for.
    Findings(String),
}

impl Outcome {
    /// The exit status for this outcome.
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Done => exit::OK,
            Outcome::Partial(_) => exit::PARTIAL,
            Outcome::Findings(_) => exit::FINDINGS,
        }
    }

    /// What to say on stderr, if anything.
    pub fn message(&self) -> Option<&str> {
        match self {
            Outcome::Done => None,
            Outcome::Partial(m) | Outcome::Findings(m) => Some(m),
        }
    }
}

/// Partial if the dump is truncated.
fn outcome(p: &Process) -> Outcome {
    if p.dump.missing_bytes > 0 {
        Outcome::Partial(format!(
            "{} is truncated: {} bytes of its memory are missing; what is shown may be incomplete",
            p.dump.path.display(),
            p.dump.missing_bytes
        ))
    } else {
        Outcome::Done
    }
}

/// Text as it is printed: with a final newline. A reader that went away (`| head`) is not an
/// error.
pub(crate) fn write_text(out: &mut dyn Write, text: &str) -> Result<()> {
    let r = out.write_all(text.as_bytes()).and_then(|_| {
        if text.is_empty() || text.ends_with('\n') {
            Ok(())
        } else {
            out.write_all(b"\n")
        }
    });
    match r {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(crate::Error::Other(format!("writing the output: {e}")))
        }
        _ => Ok(()),
    }
}

/// `gomortem overview`
pub fn overview(t: &Target, out: &mut dyn Write) -> Result<Outcome> {
    let p = t.open()?;
    let gs = p.goroutines()?;
    let o = report::overview(&p, &gs)?;
    if t.json {
        report::json::overview(&o, out)?;
    } else {
        write_text(out, &report::text::overview(&o))?;
    }
    Ok(outcome(&p))
}

/// `gomortem goroutines`
pub fn goroutines(t: &Target, opt: GoroutineOptions, out: &mut dyn Write) -> Result<Outcome> {
    let p = t.open()?;
    let doc = report::goroutines(&p)?;
    if t.json {
        report::json::goroutines(&doc, out)?;
    } else {
        write_text(out, &report::text::goroutines(&doc, opt))?;
    }
    Ok(outcome(&p))
}

/// `gomortem heap`: the histogram's `top` rows; with `retainers` above 0, the biggest
/// retainers too, from the same analysis.
pub fn heap(t: &Target, top: usize, retainers: usize, out: &mut dyn Write) -> Result<Outcome> {
    let p = t.open()?;
    let doc = rh::heap(&HeapAnalysis::run_with(&p, retainers > 0)?, top, retainers);
    if t.json {
        rh::json(out, &doc)?;
    } else {
        write_text(out, &rh::heap_text(&doc))?;
    }
    Ok(outcome(&p))
}

/// `gomortem memory`: where the process's memory went, by category, against the runtime's
/// counters. Counts the heap's spans (no object arrays, no graph).
pub fn memory(t: &Target, out: &mut dyn Write) -> Result<Outcome> {
    let p = t.open()?;
    let heap = p.span_census()?;
    let doc = report::memory::memory(&p, &heap)?;
    if t.json {
        rh::json(out, &doc)?;
    } else {
        write_text(out, &report::memory::memory_text(&doc))?;
    }
    Ok(outcome(&p))
}

/// `gomortem top`
pub fn top(t: &Target, top: usize, out: &mut dyn Write) -> Result<Outcome> {
    let p = t.open()?;
    let doc = rh::top(&HeapAnalysis::run_with(&p, true)?, top)?;
    if t.json {
        rh::json(out, &doc)?;
    } else {
        write_text(out, &rh::top_text(&doc))?;
    }
    Ok(outcome(&p))
}

/// `gomortem path`
pub fn path(t: &Target, addr: u64, paths: usize, out: &mut dyn Write) -> Result<Outcome> {
    let p = t.open()?;
    let doc = rh::path(&HeapAnalysis::run(&p)?, addr, paths)?;
    if t.json {
        rh::json(out, &doc)?;
    } else {
        write_text(out, &rh::path_text(&doc))?;
    }
    Ok(outcome(&p))
}

/// `gomortem object`: `what` is an address inside a heap object or a global, or a global's
/// name.
pub fn object(t: &Target, what: &str, depth: u32, out: &mut dyn Write) -> Result<Outcome> {
    let p = t.open()?;
    let target = match parse_addr(what) {
        Ok(a) => report::object::Target::Address(a),
        Err(_) => report::object::Target::Global(what.to_string()),
    };
    let doc = report::object::object(&HeapAnalysis::run_with(&p, true)?, &target, depth)?;
    if t.json {
        rh::json(out, &doc)?;
    } else {
        write_text(out, &report::object::object_text(&doc))?;
    }
    Ok(outcome(&p))
}

/// `gomortem channels`: every channel and the sync primitives goroutines wait on, and which
/// can never make progress; with `stuck_only`, only those.
pub fn channels(t: &Target, stuck_only: bool, out: &mut dyn Write) -> Result<Outcome> {
    use crate::analysis::diagnose::{Blocking, Stuck};
    let p = t.open()?;
    let gs = p.goroutines()?;
    let a = HeapAnalysis::run(&p)?;
    let mut b = Blocking::read(&a, &gs);
    let s = Stuck::compute(&a, &mut b);
    let doc = report::channels::channels(&a, &b, &s, stuck_only);
    if t.json {
        rh::json(out, &doc)?;
    } else {
        write_text(out, &report::channels::channels_text(&doc))?;
    }
    Ok(outcome(&p))
}

/// What `gomortem diff` reads: two dumps of one program.
#[derive(Clone, Debug)]
pub struct DiffTarget {
    pub old: PathBuf,
    pub new: PathBuf,
    /// The executable of both; None: the one each dump names.
    pub exe: Option<PathBuf>,
    /// The executable of the new dump, if not `exe`.
    pub exe_new: Option<PathBuf>,
    /// JSON instead of text.
    pub json: bool,
    /// Bounds on decompressing compressed dumps and executables (`--max-decompressed`).
    pub limits: InputLimits,
}

/// `gomortem diff OLD NEW`: what grew from OLD to NEW, by type, retainer and goroutine group
/// (at most `top` rows that grew and `top` that shrank in each). Refused: the same file twice,
/// dumps of different programs or builds. One heap analysis at a time: OLD's is summarised and
/// freed before NEW is analysed.
pub fn diff(t: &DiffTarget, top: usize, out: &mut dyn Write) -> Result<Outcome> {
    use crate::analysis::diff;
    if same_file(&t.old, &t.new) {
        return Err(crate::Error::Other(format!(
            "{} and {} are the same file: diff compares two dumps of one program taken at different times",
            t.old.display(),
            t.new.display()
        )));
    }
    let old = open_process(&t.old, t.exe.as_deref(), &t.limits)?;
    // With one executable for both, a new dump of another build fails its pairing: say why.
    const ONE_EXE: &str = " (--exe is used for both dumps; --exe-new names the new dump's executable, but \
                           a dump of another build cannot be compared)";
    let new =
        open_process(&t.new, t.exe_new.as_deref().or(t.exe.as_deref()), &t.limits).map_err(|e| match e {
            crate::Error::Mismatch(m) if t.exe.is_some() && t.exe_new.is_none() => {
                crate::Error::Mismatch(format!("{m}{ONE_EXE}"))
            }
            e => e,
        })?;
    diff::check_same_program(&diff::Identity::of(&old), &diff::Identity::of(&new), &t.old, &t.new)?;
    let before = diff::snapshot(&old)?;
    drop(old);
    let after = diff::snapshot(&new)?;
    let d = diff::diff(&before, &after);
    let doc = report::diff::diff(&before, &after, &d, top);
    if t.json {
        rh::json(out, &doc)?;
    } else {
        write_text(out, &report::diff::diff_text(&doc))?;
    }
    let truncated: Vec<String> = [&before, &after]
        .iter()
        .filter(|s| s.missing_bytes > 0)
        .map(|s| format!("{} ({} bytes missing)", s.path, s.missing_bytes))
        .collect();
    Ok(if truncated.is_empty() {
        outcome(&new)
    } else {
        Outcome::Partial(format!("truncated: {}; what is shown may be incomplete", truncated.join(", ")))
    })
}

/// The same file (by device and inode where there are some, else by canonical path).
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return (x.dev(), x.ino()) == (y.dev(), y.ino());
        }
    }
    matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// The formats of `gomortem report`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// `gomortem report`: the triage report. With `fail_on`, findings at or above that severity
/// end it with [`Outcome::Findings`].
pub fn report(
    t: &Target,
    format: Format,
    opt: &report::triage::ReportOptions,
    fail_on: Option<crate::analysis::diagnose::Severity>,
    out: &mut dyn Write,
) -> Result<Outcome> {
    use crate::analysis::diagnose::Diagnosis;
    let timings = crate::analysis::Timings::start();
    let p = t.open()?;
    timings.lap("open");
    let gs = p.goroutines()?;
    timings.lap("goroutines");
    let a = HeapAnalysis::run_with(&p, true)?;
    let d = Diagnosis::run(&a, gs, &opt.thresholds);
    let doc = report::triage::report(&a, &d, opt);
    timings.lap("report");
    match format {
        Format::Json => rh::json(&mut *out, &doc)?,
        Format::Text => write_text(out, &report::triage::report_text(&doc))?,
    }
    timings.lap("output");
    let failed = fail_on.and_then(|level| {
        let n = doc.findings.iter().filter(|f| f.severity <= level).count();
        (n > 0).then(|| format!("{n} findings at or above {} (--fail-on)", level.name()))
    });
    Ok(match (failed, outcome(&p)) {
        (Some(m), _) => Outcome::Findings(m),
        (None, o) => o,
    })
}

/// A size: bytes, or with a unit (`512KiB`, `1MiB`, `2GB`, `1.5G`).
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("not a size: {s:?} (use 1048576, 512KiB, 1MiB, 2GiB)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(format!("not a size unit: {unit:?} in {s:?} (B, KiB, MiB, GiB, TiB)")),
    };
    Ok((n * mult as f64) as u64)
}

/// An address: hex with `0x`, or decimal.
pub fn parse_addr(s: &str) -> std::result::Result<u64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("not an address: {s:?} (use hex like 0xc000123400, or decimal)"))
}
