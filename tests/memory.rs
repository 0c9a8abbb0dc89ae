//! `gomortem memory`: the dump's address space by category. On every case, the categories add
//! up to the total, the total is the address space the dump and the runtime's structures
//! describe, the kinds (memory, released, reserved) agree with the dump's own protections,
//! gomortem's accounting of each Go part equals the runtime's counter for it, and those
//! counters equal the memstats the program printed just before the dump (docs/testing.md).
//!
//! The committed fixtures run in `cargo test`; every cached case with GOMORTEM_MATRIX=1:
//! `GOMORTEM_FIXTURES=fixtures/cache GOMORTEM_MATRIX=1 cargo test --release --test memory`.

mod common;

use std::path::Path;
use std::process::Command;

use common::{compare, facts};
use gomortem::analysis::memory::{self, Kind, OutsideLiveThresholds};
use gomortem::runtime::mstats::{merge_ranges, ranges_len};
use gomortem::runtime::Process;
use rayon::prelude::*;

/// A serialisable value as JSON, to compare documents.
fn value<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap()
}

/// What one case showed.
struct Checked {
    /// MemStats fields compared with the printed memstats.
    facts_fields: usize,
    memory: u64,
    total: u64,
}

fn check(case: &compare::Case) -> Result<Checked, String> {
    let p = Process::open(&case.file("dump"), Some(&case.file("exe"))).map_err(|e| e.to_string())?;
    let heap = p.span_census().map_err(|e| e.to_string())?;
    let b = memory::breakdown(&p, &heap).map_err(|e| e.to_string())?;
    if !b.warnings.is_empty() {
        return Err(format!("warnings: {:?}", b.warnings));
    }
    // The categories add up to the total, and nothing is claimed beyond the dump's memory.
    let sum: u64 = b.categories.iter().map(|c| c.bytes).sum();
    if sum != b.total_bytes || b.counter_excess_bytes != 0 {
        return Err(format!(
            "categories add up to {sum}, total {} (excess {})",
            b.total_bytes, b.counter_excess_bytes
        ));
    }
    for k in [Kind::Memory, Kind::Released, Kind::Reserved] {
        let by_kind: u64 = b.categories.iter().filter(|c| c.kind == k).map(|c| c.bytes).sum();
        let told = match k {
            Kind::Memory => b.memory_bytes,
            Kind::Released => b.released_bytes,
            Kind::Reserved => b.reserved_bytes,
        };
        if by_kind != told {
            return Err(format!("{k:?}: categories {by_kind}, told {told}"));
        }
    }
    // The total is the address space the dump lists, with what the runtime says it reserved.
    let g = p.go_memory().map_err(|e| e.to_string())?;
    let listed: Vec<(u64, u64)> = p.dump.mappings.iter().map(|m| (m.va, m.end())).collect();
    let mut all = listed.clone();
    all.extend(g.arenas.iter().chain(&g.heap_mapped).chain(&g.arena_index));
    all.extend(g.reservations.iter().map(|r| (r.start, r.end)));
    let (listed, all) = (ranges_len(&merge_ranges(listed)), ranges_len(&merge_ranges(all)));
    if b.total_bytes != all {
        return Err(format!("total {} bytes, the address space {all}", b.total_bytes));
    }
    // The kinds agree with the protections the dump records.
    let accessible: u64 = p.dump.mappings.iter().filter(|m| m.accessible()).map(|m| m.len).sum();
    let kinds_ok = match case.meta["dump_kind"].as_str() {
        // The kernel and qemu record PROT_NONE; the released heap is mapped.
        Some("kernel-core") | Some("qemu-core") => {
            b.memory_bytes + b.released_bytes == accessible
                && b.reserved_bytes == listed - accessible
                && all == listed
        }
        // Committed memory only; the released heap is decommitted, reservations unlisted.
        Some("minidump") => b.memory_bytes == listed && b.released_bytes + b.reserved_bytes == all - listed,
        // gdb writes PROT_NONE mappings as readable: only the total can be compared.
        _ => all == listed,
    };
    if !kinds_ok {
        return Err(format!(
            "kinds: memory {} released {} reserved {}; the dump lists {listed} bytes, {accessible} accessible; the address space {all}",
            b.memory_bytes, b.released_bytes, b.reserved_bytes
        ));
    }
    // gomortem's own accounting equals the runtime's counters…
    let differ: Vec<String> = b
        .counters
        .iter()
        .filter(|c| !c.matches())
        .map(|c| format!("{} ours {:?} runtime {}", c.name, c.ours, c.runtime))
        .collect();
    if !differ.is_empty() || b.counters.len() != 15 {
        return Err(format!("{} counters; differ: {differ:?}", b.counters.len()));
    }
    for cat in &b.categories {
        if let Some(r) = &cat.runtime_counter {
            let ours: u64 =
                b.categories.iter().filter(|c| r.categories.contains(&c.name)).map(|c| c.bytes).sum();
            if ours != r.bytes {
                return Err(format!("{}: {ours} bytes, {} {}", cat.name, r.name, r.bytes));
            }
        }
    }
    // …and the counters equal the memstats the program printed.
    let f = facts::load(case)?;
    let stats = p.mem_counters().map_err(|e| e.to_string())?.mem_stats();
    let compared = facts::check_mem_counters(case, &p, &stats, &f)?;
    let o = memory::outside_live(&b, &OutsideLiveThresholds::default());
    if o.memory_bytes != b.memory_bytes || o.heap_object_bytes != heap.totals.bytes {
        return Err("outside_live disagrees with the breakdown".into());
    }
    // The census of a walked heap is the same, and so is its breakdown.
    let walked = p.heap().map_err(|e| e.to_string())?.census();
    let b2 = memory::breakdown(&p, &walked).map_err(|e| e.to_string())?;
    if value(&walked) != value(&heap) || value(&b2.categories) != value(&b.categories) {
        return Err("the census of the walked heap differs from the span census".into());
    }
    let doc = gomortem::report::memory::doc(&p, b, o, Vec::new());
    let text = gomortem::report::memory::memory_text(&doc);
    if !text.contains("is allocated heap objects") {
        return Err(format!("no verdict in:\n{text}"));
    }
    Ok(Checked {
        facts_fields: compared.len(),
        memory: doc.memory.memory_bytes,
        total: doc.memory.total_bytes,
    })
}

fn committed() -> Vec<compare::Case> {
    compare::cases(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/committed"))
}

/// Every committed fixture: the checks of [`check`]; their facts carry the memstats of the
/// older harness (Sys, HeapSys, HeapIdle, HeapReleased, HeapInuse, StackInuse, StackSys) at
/// least.
#[test]
fn memory_on_committed_fixtures() {
    let cases = committed();
    assert!(cases.len() >= 8, "expected the committed fixtures");
    let results: Vec<_> = cases.par_iter().map(|c| (c.name(), check(c))).collect();
    for (name, r) in &results {
        match r {
            Ok(c) => {
                eprintln!(
                    "{name}: memory {} of {} bytes, {} memstats compared",
                    c.memory, c.total, c.facts_fields
                );
                assert!(c.facts_fields >= 7, "{name}: only {} memstats fields in the facts", c.facts_fields);
            }
            Err(e) => panic!("{name}: {e}"),
        }
    }
}

/// `gomortem memory --json` and the text, through the binary.
#[test]
fn memory_command() {
    let case = committed().into_iter().find(|c| c.meta["platform"] == "linux-amd64").unwrap();
    let run = |json: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gomortem"));
        cmd.arg("memory").arg(case.file("dump")).arg("--exe").arg(case.file("exe"));
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let d: serde_json::Value = serde_json::from_str(&run(true)).unwrap();
    assert_eq!(d["schema_version"], gomortem::report::SCHEMA_VERSION);
    assert_eq!(d["command"], "memory");
    let cats = d["categories"].as_array().unwrap();
    let sum: u64 = cats.iter().map(|c| c["bytes"].as_u64().unwrap()).sum();
    assert_eq!(sum, d["total_bytes"].as_u64().unwrap());
    let cat = |n: &str| cats.iter().find(|c| c["name"] == n).unwrap_or_else(|| panic!("no {n}"));
    let f = facts::load(&case).unwrap();
    // leaky allocates nothing after its facts.
    assert_eq!(cat("heap_objects")["bytes"], f["memstats"]["HeapAlloc"]);
    assert_eq!(cat("heap_objects")["runtime_counter"]["name"], "HeapAlloc");
    assert_eq!(cat("heap_released")["runtime_counter"]["bytes"], f["memstats"]["HeapReleased"]);
    assert_eq!(cat("heap_released")["kind"], "released");
    assert!(cat("other")["runtime_counter"].is_null());
    let sys = d["counters"].as_array().unwrap().iter().find(|c| c["name"] == "Sys").unwrap();
    assert_eq!(sys["runtime"], f["memstats"]["Sys"]);
    assert_eq!(sys["ours"], f["memstats"]["Sys"]);
    assert!(d["verdict"].as_str().unwrap().contains("is allocated heap objects"));
    let text = run(false);
    assert!(text.contains("HeapAlloc") && text.contains("address space"), "{text}");
    assert!(
        text.lines().any(|l| l.contains("heap: allocated objects") && l.trim_end().ends_with('=')),
        "{text}"
    );
}

/// Every cached case (GOMORTEM_MATRIX=1): the checks of [`check`], with every memstats field
/// the facts carry.
#[test]
fn matrix_memory_matches_runtime_counters() {
    let Some(cases) = compare::matrix_cases() else { return };
    let results: Vec<_> = cases.par_iter().map(|c| (c.name(), check(c))).collect();
    let known = compare::known_failures();
    let (mut problems, mut full, mut old) = (0, 0, 0);
    for (name, r) in &results {
        match r {
            Ok(c) => {
                if c.facts_fields == facts::MEM_FIELDS.len() {
                    full += 1;
                } else {
                    old += 1;
                    eprintln!("old     {name}: its facts carry {} of the memstats fields", c.facts_fields);
                }
            }
            Err(e) => match known.iter().find(|(k, _)| k.strip_prefix("memory ") == Some(name.as_str())) {
                Some((_, why)) => eprintln!("KNOWN   {name}: {e} ({why})"),
                None => {
                    problems += 1;
                    eprintln!("FAILED  {name}: {e}");
                }
            },
        }
    }
    eprintln!(
        "memory: {} cases, {problems} problems; categories = total = address space, ours = runtime \
         counters = printed memstats in {} ({full} with all {} fields, {old} with the older facts)",
        cases.len(),
        cases.len() - problems,
        facts::MEM_FIELDS.len()
    );
    assert!(problems == 0);
}
