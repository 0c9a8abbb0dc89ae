//! `gomortem diff OLD NEW` on the `growing` scenario (fixtures/scenarios/growing): two gcore
//! snapshots of one process, the second after it leaked more, checked against what the program
//! knew about itself at each (`facts.json`, `facts2.json`: `growing`); and the error for dumps
//! of different programs or builds.
//!
//! The committed pair runs with `cargo test`; every Go release's pair (the full matrix) with
//! `GOMORTEM_FIXTURES=DIR GOMORTEM_MATRIX=1 cargo test --release --test diff -- --nocapture`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::compare::{self, plain, Case};
use serde_json::Value;

/// The growing cases (one per directory: `dump` and `dump2`) under `root`.
fn growing(root: &Path) -> Vec<Case> {
    compare::cases(root)
        .into_iter()
        .filter(|c| {
            c.meta["scenario"] == "growing" && c.meta["dump2"].is_string() && c.meta["snapshot"].is_null()
        })
        .collect()
}

fn committed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/committed")
}

fn facts(case: &Case, key: &str) -> Value {
    let text = std::fs::read_to_string(case.file(key)).expect("facts");
    serde_json::from_str(&text).expect("facts JSON")
}

fn rows<'a>(doc: &'a Value, list: &str) -> &'a [Value] {
    doc[list].as_array().map_or(&[], |v| v.as_slice())
}

/// The diff of a growing case against its facts: what the assertions are, and why.
///
/// - Types: the first row is the leaking type (`main.subscription`): the list is sorted by
///   owned bytes (each entry owns its 1 KiB payload), so it ranks above `[]uint8 backing
///   array`, whose bytes grew as much; its reachable objects grew by exactly the entries the
///   program added (it never frees one, and the collector is stopped before each snapshot), and
///   it owns at least their payloads. The churning type (`main.cacheEntry`, always 256 entries)
///   did not change.
/// - Retainers: the first row is under the leaking global (`main.registry`), grown by at least
///   the added entries' payloads; no row at all under the churning global (`main.cache`), whose
///   entries are replaced every tick but not added: within the noise, and in fact unchanged.
/// - Goroutine groups: the first row is the leaking goroutines' (`main.pump`), grown by exactly
///   the goroutines the program started, from the count at the first snapshot; the churning
///   goroutine (`main.refresher`, one) is in no row.
fn check(doc: &Value, f1: &Value, f2: &Value) -> Result<String, String> {
    let (g1, g2) = (&f1["growing"], &f2["growing"]);
    let n = |v: &Value| v.as_i64().ok_or_else(|| format!("facts: not a number: {v}"));
    let entries = n(&g2["leak"]["entries"])? - n(&g1["leak"]["entries"])?;
    let payload = n(&g2["leak"]["payload_bytes_each"])?;
    let (pumps1, pumps2) = (n(&g1["leak_goroutines"]["count"])?, n(&g2["leak_goroutines"]["count"])?);
    if entries <= 0 || pumps2 <= pumps1 {
        return Err(format!("facts: nothing leaked between the snapshots: {g1} {g2}"));
    }
    if doc["command"] != "diff" || doc["schema_version"] != gomortem::report::SCHEMA_VERSION {
        return Err(format!("not a diff document: {} {}", doc["command"], doc["schema_version"]));
    }
    // Types.
    let types = rows(doc, "types");
    let t = types.first().ok_or("no type grew")?;
    if t["type"] != g2["leak"]["type"] {
        return Err(format!("first type row {t}, expected {}", g2["leak"]["type"]));
    }
    if n(&t["objects_delta"])? != entries {
        return Err(format!(
            "{}: {} objects more, the program added {entries}",
            t["type"], t["objects_delta"]
        ));
    }
    let owned = n(&t["owned_bytes_delta"])?;
    if owned < entries * payload + n(&t["bytes_delta"])? {
        return Err(format!(
            "{}: owns {owned} bytes more, less than its {entries} payloads of {payload}",
            t["type"]
        ));
    }
    if let Some(c) = types.iter().find(|r| r["type"] == g2["churn"]["type"]) {
        if c["objects_delta"] != 0 {
            return Err(format!("the churning type changed: {c}"));
        }
    }
    // Retainers.
    let retainers = rows(doc, "retainers");
    let r = retainers.first().ok_or("no retainer grew")?;
    if r["root"] != g2["leak"]["root"] {
        return Err(format!("first retainer row {r}, expected the root {}", g2["leak"]["root"]));
    }
    if n(&r["bytes_delta"])? < entries * payload {
        return Err(format!(
            "{}: {} bytes more, less than the {entries} payloads",
            r["root"], r["bytes_delta"]
        ));
    }
    if let Some(c) = retainers.iter().find(|r| r["root"] == g2["churn"]["root"]) {
        return Err(format!("the churning root is listed: {c}"));
    }
    // Goroutine groups.
    let groups = rows(doc, "goroutine_groups");
    let g = groups.first().ok_or("no goroutine group grew")?;
    if g["function"] != g2["leak_goroutines"]["function"] {
        return Err(format!("first goroutine group {g}, expected {}", g2["leak_goroutines"]["function"]));
    }
    if (n(&g["count_delta"])?, n(&g["old_count"])?, n(&g["new_count"])?) != (pumps2 - pumps1, pumps1, pumps2)
    {
        return Err(format!("{}: {g}, the program had {pumps1} then {pumps2}", g["function"]));
    }
    if let Some(c) = groups.iter().find(|r| r["function"] == g2["churn_goroutine"]["function"]) {
        return Err(format!("the churning goroutine's group changed: {c}"));
    }
    let s = |v: &Value| v.as_str().unwrap_or("?").to_string();
    Ok(format!(
        "{} +{} objects, {} +{} bytes, {} +{}",
        s(&t["type"]),
        t["objects_delta"],
        s(&r["root"]),
        r["bytes_delta"],
        s(&g["function"]),
        g["count_delta"]
    ))
}

struct Run {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

fn gomortem(args: &[&Path]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_gomortem")).args(args).output().expect("run gomortem");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "gomortem panicked on {args:?}:\n{stderr}");
    Run { code: out.status.code().unwrap_or(-1), stdout: out.stdout, stderr }
}

#[test]
fn committed_growing_pair() {
    let cases = growing(&committed());
    assert!(!cases.is_empty(), "no committed growing case");
    for case in &cases {
        let (old, new, exe) = (plain(case, "dump"), plain(case, "dump2"), plain(case, "exe"));
        let t = Instant::now();
        let r = gomortem(&[Path::new("diff"), &old, &new, Path::new("--exe"), &exe, Path::new("--json")]);
        let took = t.elapsed().as_secs_f64();
        assert_eq!(r.code, 0, "{}: {}", case.name(), r.stderr);
        let doc: Value = serde_json::from_slice(&r.stdout).expect("JSON");
        match check(&doc, &facts(case, "facts"), &facts(case, "facts2")) {
            Ok(s) => eprintln!("diff {}: {s} ({took:.2} s)", case.name()),
            Err(e) => panic!("{}: {e}\n{doc:#}", case.name()),
        }
        // One process, dumped in order; nothing was truncated.
        assert!(doc["elapsed_seconds"].as_f64().is_some_and(|s| s >= 0.0), "{}", doc["elapsed_seconds"]);
        assert_eq!(doc["old"]["pid"], doc["new"]["pid"]);
        assert!(rows(&doc, "warnings").is_empty(), "{}", doc["warnings"]);
        // The text names the same first, in each section.
        let r = gomortem(&[Path::new("diff"), &old, &new, Path::new("--exe"), &exe]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let text = String::from_utf8_lossy(&r.stdout);
        let first = |heading: &str| {
            text.split(heading).nth(1).and_then(|s| s.lines().find(|l| l.starts_with(' ') && l.contains('+')))
        };
        assert!(first("by type").is_some_and(|l| l.ends_with(" main.subscription")), "{text}");
        assert!(first("by retainer").is_some_and(|l| l.ends_with(" main.registry")), "{text}");
        assert!(first("by goroutine group").is_some_and(|l| l.contains(" main.pump (")), "{text}");
        assert!(!text.contains("main.cache"), "{text}");
    }
}

#[test]
fn matrix_growing_pairs() {
    if std::env::var_os("GOMORTEM_MATRIX").is_none() {
        eprintln!("matrix: skipped (set GOMORTEM_MATRIX=1, or run `just matrix`)");
        return;
    }
    let root = PathBuf::from(std::env::var_os("GOMORTEM_FIXTURES").unwrap_or("fixtures/cache".into()));
    let cases = growing(&root);
    assert!(!cases.is_empty(), "no growing cases under {}", root.display());
    let mut failed = 0;
    for case in &cases {
        let t = Instant::now();
        let target = gomortem::commands::DiffTarget {
            old: case.file("dump"),
            new: case.file("dump2"),
            exe: Some(case.file("exe")),
            exe_new: None,
            json: true,
            limits: Default::default(),
        };
        let mut out = Vec::new();
        let r = gomortem::commands::diff(&target, 10, &mut out)
            .map_err(|e| e.to_string())
            .and_then(|_| serde_json::from_slice::<Value>(&out).map_err(|e| e.to_string()))
            .and_then(|doc| check(&doc, &facts(case, "facts"), &facts(case, "facts2")));
        match r {
            Ok(s) => eprintln!("ok      {}: {s} ({:.2} s)", case.name(), t.elapsed().as_secs_f64()),
            Err(e) => {
                failed += 1;
                eprintln!("FAILED  {}: {e}", case.name());
            }
        }
    }
    eprintln!("diff: {} growing cases, {failed} failed", cases.len());
    assert_eq!(failed, 0);
}

/// The committed case of a scenario for a Go release and platform.
fn case(version: &str, platform: &str, scenario: &str) -> Case {
    compare::cases(&committed())
        .into_iter()
        .find(|c| {
            c.meta["go_version"] == version
                && c.meta["platform"] == platform
                && c.meta["scenario"] == scenario
                && c.meta["snapshot"].is_null()
        })
        .unwrap_or_else(|| panic!("no committed go{version} {platform} {scenario}"))
}

fn build_id(exe: &Path) -> String {
    gomortem::exe::Executable::open(exe).unwrap().image.go_build_id.expect("a Go build ID")
}

/// A clear error and exit status 1, never a panic.
fn expect_error(args: &[&Path], needles: &[&str]) {
    let r = gomortem(args);
    assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
    assert!(r.stderr.starts_with("gomortem: error: "), "{args:?}: {}", r.stderr);
    for n in needles {
        assert!(r.stderr.contains(n), "{args:?}: expected {n:?} in: {}", r.stderr);
    }
    assert!(r.stdout.is_empty(), "{args:?}: {}", String::from_utf8_lossy(&r.stdout));
}

#[test]
fn unrelated_dumps_are_refused() {
    let d = Path::new("diff");
    let (e, en) = (Path::new("--exe"), Path::new("--exe-new"));
    let grow = case("1.26.6", "linux-amd64-gcore", "growing");
    let (g_dump, g_exe) = (plain(&grow, "dump"), plain(&grow, "exe"));
    // Another program (leaky), same Go release: both identities in the error.
    let leaky = case("1.26.6", "linux-amd64", "leaky");
    let (l_dump, l_exe) = (plain(&leaky, "dump"), plain(&leaky, "exe"));
    let (l_id, g_id) = (build_id(&l_exe), build_id(&g_exe));
    expect_error(
        &[d, &l_dump, &g_dump, e, &l_exe, en, &g_exe],
        &["not two dumps of one build", &l_id, &g_id],
    );
    // The same program built by another Go release.
    let old = case("1.25.5", "linux-amd64", "leaky");
    let (o_dump, o_exe) = (plain(&old, "dump"), plain(&old, "exe"));
    expect_error(
        &[d, &o_dump, &l_dump, e, &o_exe, en, &l_exe],
        &["not two dumps of one build", "go1.25.5", "go1.26.6", &build_id(&o_exe), &l_id],
    );
    // One executable for both: the new dump is not of it.
    expect_error(&[d, &l_dump, &g_dump, e, &l_exe], &["does not match the dump", "--exe-new"]);
    // The same dump twice.
    expect_error(&[d, &g_dump, &g_dump, e, &g_exe], &["the same file"]);
}
