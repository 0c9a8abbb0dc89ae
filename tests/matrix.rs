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
