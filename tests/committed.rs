//! The committed fixtures (one linux/amd64 crash core per Go release, one linux/arm64, one
//! windows/amd64; real dumps of fixtures/scenarios/leaky) against the runtime's own traceback.
//! Runs in `cargo test` on a fresh clone: no Go, Wine or qemu needed.

mod common;

use std::path::Path;

use common::compare;
use rayon::prelude::*;

#[test]
fn committed_fixtures_match_runtime_traceback() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/committed");
    let cases = compare::cases(&root);
    let platforms: std::collections::BTreeSet<String> =
        cases.iter().map(|c| c.meta["platform"].as_str().unwrap_or("").to_string()).collect();
    for want in ["linux-amd64", "linux-arm64", "windows-amd64"] {
        assert!(platforms.contains(want), "no committed fixture for {want} under {}", root.display());
    }
    let results: Vec<_> = cases.par_iter().map(|c| (c.name(), compare::check(c))).collect();
    let report = compare::report(&results, &compare::known_failures());
    eprintln!("{}", report.text);
    assert!(
        report.unexpected == 0,
        "{} committed cases differ from the runtime's traceback",
        report.unexpected
    );
}
