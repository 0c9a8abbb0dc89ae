//! The heap commands on the committed fixtures (real dumps of fixtures/scenarios/leaky, Go
//! 1.22–1.27, linux/amd64, linux/arm64, windows/amd64), through the real binary's JSON.

mod common;

use std::path::Path;
use std::process::Command;

use common::{compare, facts};
use serde_json::Value;

/// `gomortem CMD DUMP [ARGS…] --exe EXE --json`
fn run_json(case: &compare::Case, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_gomortem"))
        .arg(args[0])
        .arg(case.file("dump"))
        .args(&args[1..])
        .arg("--exe")
        .arg(case.file("exe"))
        .arg("--json")
        .output()
        .expect("run gomortem");
    assert!(out.status.success(), "{} {args:?}: {}", case.name(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn leaky_cases() -> Vec<compare::Case> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/committed");
    compare::cases(&root).into_iter().filter(|c| c.meta["scenario"] == "leaky").collect()
}

#[test]
fn heap_agrees_with_runtime_and_is_typed() {
    let cases = leaky_cases();
    assert!(cases.len() >= 8, "expected the committed leaky fixtures");
    for case in &cases {
        let d = run_json(case, &["heap"]);
        assert_eq!(d["schema_version"], gomortem::report::SCHEMA_VERSION);
        let s = &d["summary"];
        let n = |k: &str| s[k].as_u64().unwrap();
        // The walk equals what runtime.ReadMemStats would have returned at the moment of the dump,
        assert_eq!(n("allocated_objects"), s["runtime"]["heap_objects"].as_u64().unwrap(), "{}", case.name());
        assert_eq!(n("allocated_bytes"), s["runtime"]["heap_alloc"].as_u64().unwrap(), "{}", case.name());
        // and what it returned to the program just before the dump (leaky allocates nothing after).
        let facts = facts::load(case).unwrap();
        assert_eq!(facts["memstats_at_dump"], true, "{}: facts from an older harness", case.name());
        let ms = &facts["memstats"];
        assert_eq!(n("allocated_objects"), ms["HeapObjects"].as_u64().unwrap(), "{}", case.name());
        assert_eq!(n("allocated_bytes"), ms["HeapAlloc"].as_u64().unwrap(), "{}", case.name());
        assert!(
            n("reachable_bytes") <= n("allocated_bytes") && n("reachable_objects") <= n("allocated_objects")
        );
        let untyped = n("untyped_reachable_bytes") as f64 / n("reachable_bytes") as f64;
        assert!(untyped < 0.05, "{}: {:.1}% of reachable bytes untyped", case.name(), untyped * 100.0);
        let types = d["types"].as_array().unwrap();
        assert!(types.iter().any(|t| t["type"] == "main.session"), "{}", case.name());
    }
}

#[test]
fn top_retainers_are_the_scenario_leaks() {
    for case in leaky_cases() {
        let facts = facts::load(&case).unwrap();
        let d = run_json(&case, &["top", "--top", "20"]);
        let rs = d["retainers"].as_array().unwrap();
        let by_root = |name: &str| {
            rs.iter()
                .find(|r| r["path"][0] == name)
                .unwrap_or_else(|| panic!("{}: no retainer {name}: {rs:?}", case.name()))
        };
        // The global map never cleaned retains its entries and their payloads: what the program
        // measured it holds, within 1%.
        let map = by_root(facts["global_map"]["var"].as_str().unwrap());
        assert!(map["type"].as_str().unwrap().starts_with("map["), "{}", case.name());
        let payload = facts["global_map"]["payload_bytes"].as_u64().unwrap();
        assert!(map["retained_bytes"].as_u64().unwrap() >= payload, "{}", case.name());
        if let Err(e) = facts::check_global_map(&facts, rs) {
            panic!("{}: {e}", case.name());
        }
        // The sync.Pool holds its large buffers.
        let pool = by_root(facts["pool"]["var"].as_str().unwrap());
        let bufs =
            facts["pool"]["buffers"].as_u64().unwrap() * facts["pool"]["buffer_bytes"].as_u64().unwrap();
        assert!(pool["retained_bytes"].as_u64().unwrap() >= bufs, "{}", case.name());
    }
}

#[test]
fn heap_with_retainers_is_heap_and_top_in_one_run() {
    let case = &leaky_cases()[0];
    let both = run_json(case, &["heap", "--top", "5", "--retainers", "7"]);
    let heap = run_json(case, &["heap", "--top", "5"]);
    let top = run_json(case, &["top", "--top", "7"]);
    assert_eq!(both["summary"], heap["summary"]);
    assert_eq!(both["types"], heap["types"]);
    assert_eq!(both["retainers"], top["retainers"]);
    assert_eq!(both["retainers"].as_array().map(|r| r.len()), Some(7));
    assert!(heap.get("retainers").is_none(), "no retainers unless asked");
}

#[test]
fn path_leads_from_a_root() {
    let case = &leaky_cases()[0];
    let top = run_json(case, &["top", "--top", "20"]);
    let obj = top["retainers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"].as_array().is_some_and(|p| p.len() > 1))
        .expect("a heap object among the retainers");
    let addr = obj["address"].as_str().unwrap();
    let d = run_json(case, &["path", addr]);
    assert_eq!(d["reachable"], true);
    assert_eq!(d["path"], obj["path"], "path and top agree");
    assert_eq!(d["object"].as_str(), Some(addr));
}

#[test]
fn object_decodes_fields() {
    let case = &leaky_cases()[0];
    let top = run_json(case, &["top", "--top", "20"]);
    let obj = top["retainers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"].as_array().is_some_and(|p| p.len() > 2))
        .expect("a heap object reached through another object");
    // The object one step above it on its path: a typed object with a pointer field to it.
    let step = obj["path"].as_array().unwrap()[1].as_str().unwrap();
    let parent = step.rsplit("@ ").next().unwrap();
    let d = run_json(case, &["object", parent, "--depth", "3"]);
    assert_eq!(d["object"].as_str(), Some(parent));
    assert!(!d["values"].as_array().unwrap().is_empty(), "{d}");
    assert_eq!(d["reachable"], true);
}
