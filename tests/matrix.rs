//! The full matrix: every cached fixture case (every Go release x platform x scenario, made
//! fresh by `just fixtures`) checked against the runtime's own traceback.
//! Runs only with GOMORTEM_MATRIX=1 (`just matrix`); cases live in GOMORTEM_FIXTURES.

mod common;

use std::path::PathBuf;

use common::compare;
use rayon::prelude::*;

#[test]
fn matrix_matches_runtime_traceback() {
    if std::env::var_os("GOMORTEM_MATRIX").is_none() {
        eprintln!("matrix: skipped (set GOMORTEM_MATRIX=1, or run `just matrix`)");
        return;
    }
    let root = PathBuf::from(std::env::var_os("GOMORTEM_FIXTURES").unwrap_or("fixtures/cache".into()));
    let cases = compare::cases(&root);
    assert!(!cases.is_empty(), "no fixture cases under {} (run `just fixtures`)", root.display());
    let known = compare::known_failures();
    let results: Vec<_> = cases.par_iter().map(|c| (c.name(), compare::check(c))).collect();
    let report = compare::report(&results, &known);
    eprintln!("{}", report.text);
    assert!(report.unexpected == 0, "{} cases differ from the runtime's traceback", report.unexpected);
}

/// Every cached case's heap: the walk equals the runtime's own counters (what ReadMemStats
/// would have returned at the moment of the dump), reachable never exceeds allocated, and
/// `top` finds retainers.
#[test]
fn matrix_heap_matches_runtime_counters() {
    if std::env::var_os("GOMORTEM_MATRIX").is_none() {
        eprintln!("matrix: skipped (set GOMORTEM_MATRIX=1, or run `just matrix`)");
        return;
    }
    let root = PathBuf::from(std::env::var_os("GOMORTEM_FIXTURES").unwrap_or("fixtures/cache".into()));
    let cases = compare::cases(&root);
    assert!(!cases.is_empty(), "no fixture cases under {}", root.display());
    let problems: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            let check = || -> Result<(), String> {
                let p = gomortem::runtime::Process::open(&c.file("dump"), Some(&c.file("exe")))
                    .map_err(|e| e.to_string())?;
                let a = gomortem::analysis::HeapAnalysis::run(&p).map_err(|e| e.to_string())?;
                let t = &a.heap.totals;
                let rs = a.heap.runtime_stats.as_ref().ok_or("no runtime counters")?;
                if (t.objects, t.bytes) != (rs.heap_objects, rs.heap_alloc) {
                    return Err(format!(
                        "walk {} objects {} bytes, runtime {} objects {} bytes",
                        t.objects, t.bytes, rs.heap_objects, rs.heap_alloc
                    ));
                }
                if a.reach.bytes > t.bytes || a.reach.objects > t.objects {
                    return Err("reachable exceeds allocated".into());
                }
                let top = gomortem::report::heap::top(&a, 5).map_err(|e| e.to_string())?;
                if top.retainers.is_empty() {
                    return Err("no retainers".into());
                }
                Ok(())
            };
            check().err().map(|e| format!("{}: {e}", c.name()))
        })
        .collect();
    eprintln!("heap: {} cases, {} problems", cases.len(), problems.len());
    for p in &problems {
        eprintln!("FAILED  {p}");
    }
    assert!(problems.is_empty());
}
