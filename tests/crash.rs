//! Why the process died (`analysis::crash::why_died`) against what the runtime printed at the
//! moment of the crash: the lines of the traceback before its first goroutine (the oracle's
//! header: `panic: …`, `fatal error: …`, `SIGABRT: abort`, and the `[signal …]` or `PC=…`
//! line under it) are the report's message and details, exactly; a live snapshot has no
//! report.
//!
//! - `committed_crash_reports`: the committed fixtures (cargo test);
//! - `matrix_crash_reports`: every cached case (GOMORTEM_MATRIX=1, cases in GOMORTEM_FIXTURES);
//! - `adhoc_crash_dumps`: dumps of tests/data/crashes/main.go.txt, one mode each (panics of
//!   every value type, nested and repanicked panics, runtime errors, fatal errors, signals),
//!   made by tests/data/crashes/make.sh into GOMORTEM_CRASH_DUMPS (skipped when unset).

mod common;

use std::path::{Path, PathBuf};

use common::compare::{self, Case};
use common::{facts, oracle};
use gomortem::analysis::crash::{why_died, CrashReport, Reason};
use gomortem::runtime::Process;
use rayon::prelude::*;

/// The report's message and details, line by line, as the runtime printed them.
fn printed(r: &CrashReport) -> Vec<String> {
    let mut out: Vec<String> = r.message.iter().flat_map(|m| m.lines().map(str::to_string)).collect();
    out.extend(r.details.iter().cloned());
    out
}

fn report(dump: &Path, exe: &Path) -> Result<Option<CrashReport>, String> {
    let p = Process::open(dump, Some(exe)).map_err(|e| e.to_string())?;
    let gs = p.goroutines().map_err(|e| e.to_string())?;
    Ok(why_died(&p, &gs))
}

/// One fixture case: the report against the oracle and the scenario's facts. Returns what was
/// checked, for the summary.
fn check(case: &Case) -> Result<String, String> {
    let r = report(&case.file("dump"), &case.file("exe"))?;
    if case.is_live() {
        return match r {
            None => Ok("live".into()),
            Some(r) => Err(format!("a live snapshot with a crash report: {:?}", r.message)),
        };
    }
    let r = r.ok_or("a crash dump without a crash report")?;
    let text = std::fs::read_to_string(case.file("oracle")).map_err(|e| e.to_string())?;
    let want = oracle::crash_header(&text);
    if printed(&r) != want {
        return Err(format!("printed {want:?}, reported {:?} (warnings {:?})", printed(&r), r.warnings));
    }
    let f = facts::load(case)?;
    let main = f["main_goroutine"].as_u64();
    let func = r.location.as_ref().map(|l| l.function.as_str());
    let (reason, goroutine, location) = match case.meta["scenario"].as_str() {
        Some("panicking") => {
            if r.message.as_deref() != f["panic"]["message"].as_str() {
                return Err(format!("message {:?}, facts {}", r.message, f["panic"]["message"]));
            }
            (Reason::Panic, f["panic"]["goroutine"].as_u64(), f["panic"]["frames"][0].as_str())
        }
        Some("oom") => {
            if r.message.as_deref() != f["oom"]["message"].as_str() {
                return Err(format!("message {:?}, facts {}", r.message, f["oom"]["message"]));
            }
            (Reason::FatalError, main, Some("main.grow"))
        }
        // The harness raises SIGABRT on the main goroutine's thread.
        _ => (Reason::Signal, main, func),
    };
    if (r.reason, r.goroutine, func) != (reason, goroutine, location) {
        return Err(format!(
            "reason {:?}, goroutine {:?}, at {func:?}; want {reason:?}, {goroutine:?}, {location:?}",
            r.reason, r.goroutine
        ));
    }
    if !r.warnings.is_empty() {
        return Err(format!("warnings: {:?}", r.warnings));
    }
    Ok(r.reason.name().to_string())
}

fn run(cases: &[Case]) -> usize {
    let results: Vec<(String, Result<String, String>)> =
        cases.par_iter().map(|c| (c.name(), check(c))).collect();
    let mut failed = 0;
    let mut by_kind = std::collections::BTreeMap::<String, usize>::new();
    for (name, r) in &results {
        match r {
            Ok(k) => *by_kind.entry(k.clone()).or_default() += 1,
            Err(e) => {
                failed += 1;
                eprintln!("FAILED  {name}: {e}");
            }
        }
    }
    eprintln!("crash reports: {} cases, {failed} failed; passed by kind {by_kind:?}", results.len());
    failed
}

#[test]
fn committed_crash_reports() {
    let cases = compare::cases(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/committed"));
    assert!(cases.iter().any(|c| c.is_live()) && cases.iter().any(|c| !c.is_live()));
    assert_eq!(run(&cases), 0);
}

#[test]
fn matrix_crash_reports() {
    let Some(cases) = compare::matrix_cases() else { return };
    assert_eq!(run(&cases), 0);
}

/// Dumps of tests/data/crashes/main.go.txt: `$GOMORTEM_CRASH_DUMPS/*/` each with `dump`, `exe`
/// and the program's `stderr`.
#[test]
fn adhoc_crash_dumps() {
    let Some(root) = std::env::var_os("GOMORTEM_CRASH_DUMPS") else {
        eprintln!("note: GOMORTEM_CRASH_DUMPS not set: skipping");
        return;
    };
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(root).into_iter().flatten().flatten().map(|e| e.path()).collect();
    dirs.retain(|d| d.join("dump").is_file() && d.join("stderr").is_file());
    dirs.sort();
    let failed: Vec<String> = dirs
        .par_iter()
        .filter_map(|d| {
            let want = oracle::crash_header(&std::fs::read_to_string(d.join("stderr")).ok()?);
            let got = match report(&d.join("dump"), &d.join("exe")) {
                Ok(Some(r)) => printed(&r),
                Ok(None) => vec!["(no report)".into()],
                Err(e) => vec![format!("(error: {e})")],
            };
            (got != want).then(|| format!("{}: printed {want:?}, reported {got:?}", d.display()))
        })
        .collect();
    for f in &failed {
        eprintln!("FAILED  {f}");
    }
    eprintln!("ad-hoc crash dumps: {} of {} as printed", dirs.len() - failed.len(), dirs.len());
    assert!(failed.is_empty());
}
