//! The triage report of a fixture case against what its scenario planted (`facts.json`:
//! `expected_findings`, and `stuck` per goroutine kind; fixtures/README.md), both ways: every
//! planted fault is found, and every finding is a planted fault. The report's JSON is also
//! validated against docs/report.schema.json.

use std::collections::BTreeSet;

use gomortem::analysis::diagnose::{Diagnosis, Thresholds};
use gomortem::analysis::HeapAnalysis;
use gomortem::report::triage::{self, ReportOptions};
use gomortem::runtime::Process;
use serde_json::Value;

use super::compare::Case;

/// The report of a case, as `gomortem report --json` writes it.
pub fn report(case: &Case) -> Result<Value, String> {
    let p = Process::open(&case.file("dump"), Some(&case.file("exe"))).map_err(|e| e.to_string())?;
    let gs = p.goroutines().map_err(|e| e.to_string())?;
    let a = HeapAnalysis::run_with(&p, true).map_err(|e| e.to_string())?;
    let opt = ReportOptions { top: 10, thresholds: Thresholds::default() };
    let d = Diagnosis::run(&a, gs, &opt.thresholds);
    serde_json::to_value(triage::report(&a, &d, &opt)).map_err(|e| e.to_string())
}

/// The JSON Schema of the report (docs/report.schema.json), compiled once.
pub fn schema() -> &'static jsonschema::Validator {
    static S: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json");
        let text = std::fs::read_to_string(&path).expect("docs/report.schema.json");
        let v: Value = serde_json::from_str(&text).expect("the schema is JSON");
        jsonschema::validator_for(&v).expect("a valid JSON Schema")
    })
}

/// Errors of `v` against the report schema.
pub fn validate(v: &Value) -> Result<(), String> {
    let errors: Vec<String> =
        schema().iter_errors(v).take(5).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("report JSON does not match docs/report.schema.json: {}", errors.join("; ")))
    }
}

fn ids(v: &Value) -> BTreeSet<u64> {
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_u64()).collect()).unwrap_or_default()
}

/// The goroutine ids of the kinds an expected finding names.
fn kind_ids(facts: &Value, e: &Value) -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    for k in e["goroutine_kinds"].as_array().into_iter().flatten() {
        out.extend(ids(&facts["goroutines"][k.as_str().unwrap_or("")]["ids"]));
    }
    out
}

/// Whether finding `f` is the planted fault `e`.
fn matches(facts: &Value, f: &Value, e: &Value) -> bool {
    let fk = f["kind"].as_str().unwrap_or("");
    let ek = e["kind"].as_str().unwrap_or("");
    let gs = ids(&f["goroutines"]);
    let function = f["location"]["function"].as_str();
    let root = f["root"].as_str();
    let retained_ok = |f: &Value| {
        e["min_retained_bytes"]
            .as_u64()
            .is_none_or(|m| f["retained_bytes"].as_u64().unwrap_or(0) as f64 >= 0.99 * m as f64)
    };
    match (fk, ek) {
        // A goroutine leak (or a deadlock, for goroutines stuck on a lock): the same goroutines.
        ("goroutine-leak" | "deadlock", "goroutine-leak") => {
            let want = kind_ids(facts, e);
            !gs.is_empty() && gs.is_subset(&want) && (fk == "deadlock" || function == e["function"].as_str())
        }
        ("deadlock", "deadlock") | ("stuck-channel", "stuck-channel") => {
            let want = kind_ids(facts, e);
            !gs.is_empty() && gs.is_subset(&want) && (fk == "deadlock" || function == e["function"].as_str())
        }
        ("growing-container" | "pool-hoarding" | "ticker-leak" | "context-leak" | "unclosed-resource", _)
            if fk == ek =>
        {
            let count_ok = match (fk, e["count"].as_u64().filter(|_| !e["optional"].is_string())) {
                // Entries, tickers and children are exact; open files at least (a program has more).
                ("growing-container" | "ticker-leak" | "context-leak", Some(n)) => {
                    f["count"].as_u64() == Some(n)
                }
                ("unclosed-resource", Some(n)) => f["count"].as_u64().unwrap_or(0) >= n,
                _ => true,
            };
            root == e["root"].as_str() && count_ok && retained_ok(f)
        }
        // The closure by its function; when the compiler inlined the function that makes it, the
        // closure is named after the caller (`main.startHTTP.logger.func2`): then by what it
        // captures, its type and count.
        // Memory mostly outside live objects, by its biggest cause.
        ("memory", "memory") => f["type"] == e["type"],
        ("closure-retention", "closure-retention") => {
            let by_capture = f["type"] == e["type"] && f["count"] == e["count"];
            (function == e["function"].as_str() || by_capture) && retained_ok(f)
        }
        _ => false,
    }
}

/// The report against the facts: the stuck goroutines are exactly the stuck kinds' (and main's
/// `select {}`), every planted fault is found, and every finding is a planted fault.
pub fn check(facts: &Value, r: &Value) -> Result<(), String> {
    let mut errors = Vec::new();
    let stuck = ids(&r["goroutines"]["stuck_ids"]);
    let mut known = BTreeSet::new();
    for (kind, g) in facts["goroutines"].as_object().into_iter().flatten() {
        let gids = ids(&g["ids"]);
        known.extend(gids.iter().copied());
        match g["stuck"].as_bool() {
            Some(true) => {
                let missing: Vec<_> = gids.difference(&stuck).collect();
                if !missing.is_empty() {
                    errors.push(format!("{kind}: goroutines {missing:?} are stuck but not found stuck"));
                }
            }
            Some(false) => {
                let wrong: Vec<_> = gids.intersection(&stuck).collect();
                if !wrong.is_empty() {
                    errors.push(format!("{kind}: goroutines {wrong:?} can wake up but are called stuck"));
                }
            }
            None => errors.push(format!("facts: goroutine kind {kind} has no `stuck`")),
        }
    }
    // Stuck goroutines of no kind: only main blocked in `select {}` (live mode's end).
    let main = facts["main_goroutine"].as_u64().unwrap_or(1);
    for g in stuck.difference(&known) {
        if *g != main {
            errors.push(format!("goroutine {g} is called stuck, but the scenario did not make it so"));
        }
    }
    let findings = r["findings"].as_array().cloned().unwrap_or_default();
    let expected = facts["expected_findings"].as_array().cloned().unwrap_or_default();
    for e in &expected {
        if e["optional"].is_string() {
            continue;
        }
        if !findings.iter().any(|f| matches(facts, f, e)) {
            errors.push(format!("planted but not found: {e}"));
        }
    }
    for f in &findings {
        if !expected.iter().any(|e| matches(facts, f, e)) {
            errors.push(format!(
                "found but not planted: {} {} ({})",
                f["kind"].as_str().unwrap_or("?"),
                f["summary"].as_str().unwrap_or(""),
                f["root"].as_str().or(f["location"]["function"].as_str()).unwrap_or("")
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n    "))
    }
}
