//! Paths and decoded objects on the committed fixtures, against what the scenario programs
//! (fixtures/scenarios/{leaky,webapp}) really built, through the real binary's JSON: the
//! global map → its entry → the session → its payload, with the entry named by its key; the
//! sync.Pool's buffers, the never-stopped tickers (and their runtime timers) and the unclosed
//! resources attributed to their roots; the webapp's handler closure named by its function,
//! its captures named and retaining the requests it logged.

mod common;

use std::path::Path;
use std::process::Command;

use common::compare;
use serde_json::Value;

use compare::plain;

/// `gomortem CMD DUMP [ARGS…] --exe EXE --json`
fn run_json(case: &compare::Case, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_gomortem"))
        .arg(args[0])
        .arg(plain(case, "dump"))
        .args(&args[1..])
        .arg("--exe")
        .arg(plain(case, "exe"))
        .arg("--json")
        .output()
        .expect("run gomortem");
    assert!(out.status.success(), "{} {args:?}: {}", case.name(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// The committed cases of a scenario, and those under `$GOMORTEM_FIXTURES` if set (the full
/// matrix: `GOMORTEM_FIXTURES=fixtures/cache cargo test --release --test heap_paths`).
fn cases(scenario: &str) -> Vec<compare::Case> {
    let mut out = compare::cases(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/committed"));
    if let Some(more) = std::env::var_os("GOMORTEM_FIXTURES") {
        out.extend(compare::cases(Path::new(&more)));
    }
    out.retain(|c| c.meta["scenario"] == scenario);
    out
}

fn committed(cases: &[compare::Case]) -> usize {
    cases
        .iter()
        .filter(|c| c.dir.starts_with(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/committed")))
        .count()
}

/// Go 1.23 and later describe closure captures in DWARF (`DW_AT_go_closure_offset`).
fn names_captures(case: &compare::Case) -> bool {
    let v = case.meta["go_version"].as_str().unwrap_or("");
    let minor = v.split('.').nth(1).and_then(|m| m.parse::<u32>().ok()).unwrap_or(0);
    minor >= 23
}

fn facts(case: &compare::Case) -> Value {
    serde_json::from_str(&std::fs::read_to_string(case.file("facts")).unwrap()).unwrap()
}

/// The address a decoded value points to: the first `0x…` word of `0x… (T)`, `T 0x… (T)`.
fn target(v: &Value) -> String {
    let s = v["value"].as_str().unwrap_or_else(|| panic!("no value: {v}"));
    s.split_whitespace().find(|w| w.starts_with("0x")).unwrap_or_else(|| panic!("no address in {s:?}")).into()
}

/// A field of a decoded value, by name.
fn field<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["fields"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["name"] == name))
        .unwrap_or_else(|| panic!("no field {name} in {v}"))
}

fn vias(path: &Value) -> Vec<String> {
    path["steps"].as_array().unwrap().iter().map(|s| s["via"].as_str().unwrap_or("").to_string()).collect()
}

fn paths(d: &Value) -> &Vec<Value> {
    d["paths"].as_array().unwrap()
}

#[test]
fn global_map_entry_to_payload() {
    let cases = cases("leaky");
    assert!(committed(&cases) >= 8, "expected the committed leaky fixtures");
    for case in &cases {
        let name = case.name();
        let f = facts(case);
        let (entries, each) = (
            f["global_map"]["entries"].as_u64().unwrap(),
            f["global_map"]["payload_bytes_each"].as_u64().unwrap(),
        );
        // The global, its map header and the map's entries.
        let g = run_json(case, &["object", "main.sessionCache"]);
        assert_eq!(g["schema_version"], gomortem::report::SCHEMA_VERSION);
        assert_eq!((g["kind"].as_str(), g["name"].as_str()), (Some("global"), Some("main.sessionCache")));
        assert!(g["retained_bytes"].as_u64().unwrap() >= entries * each, "{name}: {g}");
        let hdr = target(&g["values"][0]);
        let m = run_json(case, &["object", &hdr, "--depth", "1"]);
        assert_eq!(m["type"], "map[string]*main.session header", "{name}");
        assert_eq!(m["map"]["len"].as_u64(), Some(entries), "{name}: {}", m["map"]);
        let es = m["map"]["entries"].as_array().unwrap();
        assert_eq!(es.len() as u64, entries.min(64), "{name}");
        let e = &es[es.len() / 2];
        let key = e["key"].as_str().unwrap();
        let i: u64 = key.trim_matches('"').strip_prefix("session-").unwrap().parse().unwrap();
        // The entry's session is the one the program stored under that key.
        let session = target(&e["value"]);
        let s = run_json(case, &["object", &session, "--depth", "1"]);
        assert_eq!(s["type"], "main.session", "{name}");
        let v = &s["values"][0];
        assert_eq!(field(v, "user")["value"].as_str(), Some(&*format!("\"user{i}\"")), "{name}: {s}");
        let data = field(v, "data");
        assert!(
            data["value"].as_str().unwrap().ends_with(&format!("len {each} cap {each}")),
            "{name}: {data}"
        );
        let payload = target(data);
        // Its path: the global, the map's internals, the entry by its key, then `.data`.
        let p = run_json(case, &["path", &payload]);
        assert_eq!(p["reachable"], true, "{name}");
        let first = &paths(&p)[0];
        assert_eq!(first["root"], "main.sessionCache", "{name}: {p}");
        assert!(matches!(first["root_kind"].as_str(), Some("bss" | "data")), "{name}: {p}");
        let steps = first["steps"].as_array().unwrap();
        assert_eq!(steps[0]["type"], "map[string]*main.session header", "{name}: {p}");
        let n = steps.len();
        assert_eq!(steps[n - 2]["address"].as_str(), Some(&*session), "{name}: {p}");
        assert_eq!(steps[n - 2]["via"].as_str(), Some(&*format!("[{key}]")), "{name}: {p}");
        assert_eq!(
            (steps[n - 1]["via"].as_str(), steps[n - 1]["address"].as_str()),
            (Some(".data"), Some(&*payload))
        );
        // Every step is named by a field, an index or a key, none by a bare offset.
        assert!(vias(first).iter().all(|v| !v.starts_with('+')), "{name}: {p}");
        // The lines agree with the steps.
        assert_eq!(p["path"][0], "main.sessionCache");
        assert_eq!(p["path"].as_array().unwrap().len(), n + 1);
    }
}

#[test]
fn pool_buffers_are_the_pools() {
    for case in cases("leaky") {
        let name = case.name();
        let f = facts(&case);
        let (n, each) = (f["pool"]["buffers"].as_u64().unwrap(), f["pool"]["buffer_bytes"].as_u64().unwrap());
        let g = run_json(&case, &["object", "main.bufPool", "--depth", "1"]);
        assert!(g["retained_bytes"].as_u64().unwrap() >= n * each, "{name}: {g}");
        // Each buffer the pool holds is a retainer of its own, reached from the pool's per-P
        // arrays through named fields.
        // inside the pool's own retainer: shown as its children (the biggest 5), the rest counted.
        let top = run_json(&case, &["top", "--top", "30"]);
        let pool = top["retainers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["path"][0] == "main.bufPool")
            .unwrap_or_else(|| panic!("{name}: the pool is no top-level retainer: {top}"));
        let bufs: Vec<&Value> = pool["children"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["type"] == "[]uint8" && r["retained_bytes"].as_u64().unwrap() >= each)
            .collect();
        assert_eq!(bufs.len() as u64 + pool["more_children"].as_u64().unwrap(), n, "{name}: {pool}");
        for b in bufs {
            let p = run_json(&case, &["path", b["address"].as_str().unwrap()]);
            let first = &paths(&p)[0];
            let root = first["root"].as_str().unwrap();
            assert!(root == "main.bufPool.local" || root == "main.bufPool.victim", "{name}: {p}");
            let v = vias(first).join("");
            assert!(v.contains(".private") || v.contains(".shared.head"), "{name}: {p}");
            assert!(vias(first).iter().all(|v| !v.starts_with('+')), "{name}: {p}");
        }
    }
}

#[test]
fn tickers_are_held_by_the_global_and_the_runtime_timers() {
    for case in cases("leaky") {
        let name = case.name();
        let count = facts(&case)["tickers"]["count"].as_u64().unwrap();
        let g = run_json(&case, &["object", "main.tickers"]);
        let v = g["values"][0]["value"].as_str().unwrap();
        assert!(
            v.contains("[]*time.Ticker backing array") && v.contains(&format!("len {count} ")),
            "{name}: {v}"
        );
        let arr = run_json(&case, &["object", &target(&g["values"][0])]);
        let tickers: Vec<String> =
            arr["values"].as_array().unwrap()[..count as usize].iter().map(target).collect();
        for (i, t) in tickers.iter().enumerate() {
            // The ticker holds its runtime timer: the time.Ticker's own (Go 1.22) or the
            // runtime.timeTimer it heads (1.23+), firing time.sendTime every period.
            let o = run_json(&case, &["object", t, "--depth", "3"]);
            assert_eq!(o["type"], "time.Ticker", "{name}");
            let vals = o["values"].as_array().unwrap();
            let timer = match vals.iter().find(|v| v["name"] == "(runtime timer)") {
                Some(tt) => field(tt, "timer").clone(),
                None => field(&vals[0], "r").clone(),
            };
            assert_eq!(
                field(&timer, "f")["value"].as_str().map(|s| s.ends_with("(func time.sendTime)")),
                Some(true)
            );
            assert!(
                field(&timer, "period")["value"].as_str().unwrap().parse::<u64>().unwrap()
                    >= 3_600_000_000_000
            );
            // Two roots keep it: the global slice, and a P's timer heap.
            let p = run_json(&case, &["path", t, "-n", "8"]);
            let ps = paths(&p);
            let global =
                ps.iter().find(|p| p["root"] == "main.tickers").unwrap_or_else(|| panic!("{name}: {p}"));
            assert_eq!(vias(global), ["".to_string(), format!("[{i}]")], "{name}: {p}");
            let timers = ps
                .iter()
                .find(|p| p["root"].as_str().unwrap().starts_with("runtime.allp"))
                .unwrap_or_else(|| panic!("{name}: no path from the P's timers: {p}"));
            assert!(vias(timers).iter().any(|v| v.starts_with(".timers")), "{name}: {p}");
            // Distinct paths: no root twice.
            let mut roots: Vec<&str> = ps.iter().map(|p| p["root"].as_str().unwrap()).collect();
            roots.sort_unstable();
            roots.dedup();
            assert_eq!(roots.len(), ps.len(), "{name}: {p}");
        }
    }
}

#[test]
fn unclosed_resources_are_held_by_their_roots() {
    for case in cases("leaky") {
        let name = case.name();
        let f = facts(&case);
        let files = f["resources"]["files"].as_array().unwrap().len();
        let rows = f["resources"]["rows"].as_u64().unwrap() as usize;
        let keep = run_json(&case, &["object", "main.keep"]);
        let arr = run_json(&case, &["object", &target(&keep["values"][0]), "--depth", "2"]);
        let held = |t: &str| -> Vec<(usize, String)> {
            arr["values"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
                .filter(|(_, v)| v["value"].as_str().is_some_and(|s| s.starts_with(t)))
                .map(|(i, v)| (i, target(v)))
                .collect()
        };
        // The files, by the global that keeps them.
        let fs = held("*os.File ");
        assert_eq!(fs.len(), files, "{name}: {arr}");
        for (i, file) in fs {
            let p = run_json(&case, &["path", &file, "-n", "4"]);
            let first = &paths(&p)[0];
            assert_eq!(first["root"], "main.keep", "{name}: {p}");
            assert_eq!(vias(first), ["".to_string(), format!("[{i}]")], "{name}: {p}");
            assert_eq!(first["steps"][1]["type"], "os.File", "{name}: {p}");
        }
        // The rows: by the global, and by the producer goroutine each one feeds.
        let slice = held("[]*main.Rows ");
        assert_eq!(slice.len(), 1, "{name}: {arr}");
        let hdr = run_json(&case, &["object", &slice[0].1, "--depth", "1"]);
        let backing = run_json(&case, &["object", &target(&hdr["values"][0])]);
        let all: Vec<String> = backing["values"].as_array().unwrap()[..rows].iter().map(target).collect();
        for r in all {
            let p = run_json(&case, &["path", &r, "-n", "4"]);
            let ps = paths(&p);
            assert_eq!(p["type"], "main.Rows", "{name}");
            assert!(ps.iter().any(|p| p["root"] == "main.keep"), "{name}: {p}");
            let producer =
                ps.iter().find(|p| p["root_kind"] == "local" && p["steps"].as_array().unwrap().len() == 1);
            let producer = producer.unwrap_or_else(|| panic!("{name}: no goroutine holds the rows: {p}"));
            let root = producer["root"].as_str().unwrap();
            assert!(
                root.starts_with("goroutine ") && root.ends_with(" main.(*Rows).produce r"),
                "{name}: {p}"
            );
            assert!(producer["goroutine"].as_u64().is_some(), "{name}: {p}");
        }
    }
}

#[test]
fn webapp_handler_closure_retains_the_captured_requests() {
    let cases = cases("webapp");
    assert!(committed(&cases) >= 1, "expected a committed webapp fixture");
    for case in &cases {
        let name = case.name();
        let f = facts(case);
        let (captured, body) =
            (f["http"]["captured"].as_u64().unwrap(), f["http"]["body_bytes"].as_u64().unwrap());
        // main.keep holds the server; its Handler is the logging closure, named by its function.
        let keep = run_json(case, &["object", "main.keep"]);
        let arr = run_json(case, &["object", &target(&keep["values"][0])]);
        let srv = target(&arr["values"][0]);
        let s = run_json(case, &["object", &srv, "--depth", "1"]);
        assert_eq!(s["type"], "http.Server", "{name}");
        let h = field(&s["values"][0], "Handler");
        let hv = h["value"].as_str().unwrap();
        assert!(
            hv.starts_with("http.HandlerFunc ") && hv.contains("(func main.") && hv.contains("logger.func")
        );
        let closure = target(h);
        let c = run_json(case, &["object", &closure, "--depth", "2"]);
        let ty = c["type"].as_str().unwrap();
        assert!(ty.starts_with("closure main.") && ty.contains("logger.func"), "{name}: {ty}");
        let vals = c["values"].as_array().unwrap();
        assert_eq!(vals[0]["value"].as_str(), Some(&*format!("func {}", &ty["closure ".len()..])));
        // It retains every request it logged, bodies included.
        assert!(c["retained_bytes"].as_u64().unwrap() >= captured * body, "{name}: {c}");
        if !names_captures(case) {
            continue;
        }
        // Its captures by name: the slice (by reference), the mutex, the next handler.
        let names: Vec<&str> = vals.iter().map(|v| v["name"].as_str().unwrap()).collect();
        for want in ["&captured", "&mu", "next"] {
            assert!(names.contains(&want), "{name}: captures {names:?}");
        }
        let cap = vals.iter().find(|v| v["name"] == "&captured").unwrap();
        let slice = field(cap, "captured");
        assert_eq!(slice["type"], "[]main.requestLog");
        let sv = slice["value"].as_str().unwrap();
        assert!(
            sv.contains("([]main.requestLog backing array)") && sv.contains(&format!(" len {captured} "))
        );
        // The path to the logged requests goes through the server's handler and the capture.
        let backing = target(slice);
        let p = run_json(case, &["path", &backing, "-n", "3"]);
        let first = &paths(&p)[0];
        let v = vias(first);
        let i = v.iter().position(|s| s == ".Handler").unwrap_or_else(|| panic!("{name}: {p}"));
        assert_eq!(first["steps"][i]["address"].as_str(), Some(&*closure), "{name}: {p}");
        assert_eq!(v[i + 1], ".captured", "{name}: {p}");
        // Several distinct roots keep the server (its goroutine, main.keep, the connection).
        let roots: std::collections::HashSet<&str> =
            paths(&p).iter().map(|p| p["root"].as_str().unwrap()).collect();
        assert_eq!(roots.len(), 3, "{name}: {p}");
    }
}

/// The retainers of a tree (`top`'s), parents before their children.
fn flat(rs: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for r in rs.as_array().into_iter().flatten() {
        out.push(r);
        out.extend(flat(&r["children"]));
    }
    out
}

#[test]
fn object_decodes_runtime_structures_by_dwarf() {
    // Objects typed from DWARF alone (the runtime's own structures): decoded field by field.
    let case = &cases("leaky")[0];
    let top = run_json(case, &["top", "--top", "30"]);
    let p = flat(&top["retainers"]).into_iter().find(|r| r["type"] == "runtime.p").expect("a runtime.p");
    let o = run_json(case, &["object", p["address"].as_str().unwrap(), "--depth", "1"]);
    let v = &o["values"][0];
    assert_eq!(v["type"], "runtime.p");
    assert!(field(v, "status")["value"].as_str().is_some(), "{o}");
    assert!(field(v, "mcache")["value"].as_str().is_some_and(|s| s.starts_with("0x")), "{o}");
}
