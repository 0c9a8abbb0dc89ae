//! The diagnoses (`gomortem report`, `gomortem channels`) on real dumps: every fault a scenario
//! planted is found and nothing else is (the healthy scenario gets no finding at all), the
//! stuck goroutines are exactly those that can never wake up, the report's JSON matches its
//! JSON Schema, and the signature is the same for two dumps of one failure and different
//! across scenarios. The committed fixtures run in `cargo test`; every cached case with
//! GOMORTEM_MATRIX=1 (`just matrix`).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{compare, facts, findings};
use rayon::prelude::*;
use serde_json::Value;

fn committed() -> Vec<compare::Case> {
    compare::cases(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/committed"))
}

/// Check every case; returns the report of each for the signature checks.
fn check_all(cases: &[compare::Case]) -> Vec<(String, Value)> {
    let results: Vec<(String, Result<Value, String>)> = cases
        .par_iter()
        .map(|c| {
            let r = (|| {
                let f = facts::load(c)?;
                let r = findings::report(c)?;
                findings::validate(&r)?;
                findings::check(&f, &r)?;
                Ok(r)
            })();
            (c.name(), r)
        })
        .collect();
    let mut failed = 0;
    let mut out = Vec::new();
    for (name, r) in results {
        match r {
            Ok(v) => {
                let n = v["findings"].as_array().map_or(0, |a| a.len());
                eprintln!("ok      {name}: {n} findings, {} stuck", v["goroutines"]["stuck"]);
                out.push((name, v));
            }
            Err(e) => {
                failed += 1;
                eprintln!("FAILED  {name}:\n    {e}");
            }
        }
    }
    eprintln!("diagnoses: {} cases, {failed} failed", cases.len());
    assert_eq!(failed, 0, "{failed} cases differ from what their scenarios planted");
    out
}

/// Two dumps of one failure share a signature: the two snapshots of `growing`, and a
/// scenario's kernel core and gcore of the same build (a crash by SIGABRT is not the failure);
/// different scenarios of one release and platform do not.
fn check_signatures(reports: &[(String, Value)]) {
    let sig = |name: &str| {
        reports.iter().find(|r| r.0 == name).map(|r| r.1["signature"].as_str().unwrap().to_string())
    };
    let mut pairs = 0;
    for (name, v) in reports {
        if let Some(first) = name.strip_suffix(" #2") {
            assert_eq!(
                sig(first).as_deref(),
                v["signature"].as_str(),
                "{name}: the snapshots of one leak differ"
            );
            pairs += 1;
        }
        if name.contains(" linux-amd64-gcore ") && !name.ends_with(" #2") {
            let core = name.replace(" linux-amd64-gcore ", " linux-amd64 ");
            if let Some(s) = sig(&core) {
                assert_eq!(
                    Some(s.as_str()),
                    v["signature"].as_str(),
                    "{name} and {core}: one failure, two signatures"
                );
                pairs += 1;
            }
        }
    }
    // Distinct across scenarios, per release and platform.
    let mut by: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
    for (name, v) in reports.iter().filter(|r| !r.0.ends_with(" #2")) {
        let parts: Vec<&str> = name.split(' ').collect();
        by.entry((parts[0].to_string(), parts[1].to_string()))
            .or_default()
            .push(v["signature"].as_str().unwrap());
    }
    for ((v, p), sigs) in &by {
        let mut s = sigs.clone();
        s.sort();
        s.dedup();
        assert_eq!(s.len(), sigs.len(), "go{v} {p}: two scenarios share a signature: {sigs:?}");
    }
    eprintln!(
        "signatures: {pairs} pairs of one failure equal; distinct across scenarios in {} groups",
        by.len()
    );
}

#[test]
fn committed_reports_find_what_was_planted() {
    let cases = committed();
    assert!(cases.iter().any(|c| c.meta["scenario"] == "healthy"), "no committed healthy fixture");
    let reports = check_all(&cases);
    let healthy = reports.iter().find(|r| r.0.contains("healthy")).unwrap();
    assert_eq!(healthy.1["findings"], Value::Array(vec![]), "the healthy scenario has findings");
    check_signatures(&reports);
}

#[test]
fn matrix_reports_find_what_was_planted() {
    let Some(cases) = compare::matrix_cases() else { return };
    let reports = check_all(&cases);
    check_signatures(&reports);
}

/// `gomortem ARGS`: (exit status, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gomortem")).args(args).output().expect("run gomortem");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn case(scenario: &str) -> compare::Case {
    committed()
        .into_iter()
        .find(|c| {
            c.meta["scenario"] == scenario
                && c.meta["go_version"] == "1.26.6"
                && c.meta["platform"] == "linux-amd64"
        })
        .unwrap_or_else(|| panic!("no committed go1.26.6 linux-amd64 {scenario}"))
}

/// Exit statuses for bots: 0 analysed, 4 with `--fail-on` met, 1 when the dump cannot be read.
#[test]
fn report_exit_statuses() {
    let (leaky, healthy) = (case("leaky"), case("healthy"));
    let args = |c: &compare::Case| {
        [c.file("dump").display().to_string(), "--exe".into(), c.file("exe").display().to_string()]
    };
    let [d, e, x] = args(&healthy);
    let (code, out, _) = run(&["report", &d, &e, &x, "--fail-on", "info"]);
    assert_eq!(code, 0, "healthy with --fail-on info");
    assert!(out.contains("FINDINGS (0)"), "{out}");
    let [d, e, x] = args(&leaky);
    let (code, _, err) = run(&["report", &d, &e, &x, "--fail-on", "critical", "--format", "json"]);
    assert_eq!(code, 4, "leaky has a critical finding (a deadlock): {err}");
    assert!(err.contains("--fail-on"), "{err}");
    let (code, _, _) = run(&["report", &d, &e, &x]);
    assert_eq!(code, 0);
    // Thresholds: raising min-retained drops the retention findings.
    let (_, out, _) = run(&["report", &d, &e, &x, "--json", "--min-retained", "1GiB"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["kind"] != "growing-container" && f["kind"] != "pool-hoarding"));
    let (code, _, err) = run(&["report", "/nonexistent/core", &e, &x]);
    assert_eq!(code, 1, "{err}");
    let (code, _, err) = run(&["report", &d, &e, &x, "--fail-on", "worst"]);
    assert_eq!(code, 2, "a bad severity is a usage error: {err}");
}

/// `report -o FILE` writes the file and nothing to stdout.
#[test]
fn report_to_file() {
    let c = case("leaky");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let (code, stdout, err) = run(&[
        "report",
        c.file("dump").to_str().unwrap(),
        "--exe",
        c.file("exe").to_str().unwrap(),
        "--format",
        "json",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.is_empty());
    let v: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    findings::validate(&v).unwrap();
}

/// `channels --stuck --json` lists the stuck goroutines the scenario made, and only stuck
/// channels.
#[test]
fn channels_stuck() {
    let c = case("leaky");
    let f = facts::load(&c).unwrap();
    let (code, out, err) = run(&[
        "channels",
        c.file("dump").to_str().unwrap(),
        "--exe",
        c.file("exe").to_str().unwrap(),
        "--stuck",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["command"], "channels");
    let stuck: Vec<u64> =
        v["stuck_goroutines"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
    let send = &f["goroutines"]["chan_send"]["ids"];
    for id in send.as_array().unwrap() {
        assert!(stuck.contains(&id.as_u64().unwrap()), "chan_send goroutine {id} not stuck");
    }
    let chans = v["channels"].as_array().unwrap();
    assert!(chans.iter().all(|c| c["stuck"] == true));
    let fan = chans
        .iter()
        .find(|c| c["senders"].as_array().unwrap().len() == 20)
        .expect("the channel 20 goroutines send on");
    assert_eq!(fan["elem_type"], "main.payload");
    assert!(v["locks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["primitive"] == "sync.Mutex" && l["stuck"] == true));
}
