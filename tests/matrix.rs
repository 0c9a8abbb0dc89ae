//! The full matrix: every cached fixture case (every Go release x platform x scenario, made
//! fresh by `just fixtures`) checked against the runtime's own traceback.
//! Runs only with GOMORTEM_MATRIX=1 (`just matrix`); cases live in GOMORTEM_FIXTURES.

mod common;

use common::{compare, facts};
use rayon::prelude::*;

#[test]
fn matrix_matches_runtime_traceback() {
    let Some(cases) = compare::matrix_cases() else { return };
    let known = compare::known_failures();
    let results: Vec<_> = cases.par_iter().map(|c| (c.name(), compare::check(c))).collect();
    let report = compare::report(&results, &known);
    eprintln!("{}", report.text);
    assert!(report.unexpected == 0, "{} cases differ from the runtime's traceback", report.unexpected);
}

/// Every cached case's heap: the walk equals the runtime's own counters (what ReadMemStats
/// would have returned at the moment of the dump) and the memstats the program printed just
/// before the dump (exactly; but for what `panicking` and `oom` allocate after them, exactly
/// too: docs/testing.md), reachable never exceeds allocated, `top` finds retainers, and the
/// global map's retainer retains what the program measured it holds (within 1%), and less
/// than 5% of the reachable bytes are untyped.
#[test]
fn matrix_heap_matches_runtime_counters() {
    let Some(cases) = compare::matrix_cases() else { return };
    let results: Vec<(String, Result<Option<facts::MapRetained>, String>)> = cases
        .par_iter()
        .map(|c| {
            let check = || -> Result<Option<facts::MapRetained>, String> {
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
                let f = facts::load(c)?;
                facts::check_memstats(c, &a, &f)?;
                if a.reach.bytes > t.bytes || a.reach.objects > t.objects {
                    return Err("reachable exceeds allocated".into());
                }
                // The untyped share of the reachable bytes, as `heap` reports it: below 5% on
                // the scenario programs.
                let sum = gomortem::report::heap::heap(&a, 0, 0).summary;
                if sum.untyped_reachable_bytes * 20 >= sum.reachable_bytes.max(1) {
                    return Err(format!(
                        "{} of {} reachable bytes untyped (5% or more)",
                        sum.untyped_reachable_bytes, sum.reachable_bytes
                    ));
                }
                let top = gomortem::report::heap::top(&a, 20).map_err(|e| e.to_string())?;
                if top.retainers.is_empty() {
                    return Err("no retainers".into());
                }
                let retainers = serde_json::to_value(&top.retainers).map_err(|e| e.to_string())?;
                facts::check_global_map(&f, retainers.as_array().map_or(&[], |v| v))
            };
            (c.name(), check())
        })
        .collect();
    let known = compare::known_failures();
    let mut problems = 0;
    let (mut maps, mut exact_maps) = (0, 0);
    for (name, r) in &results {
        match r {
            Ok(m) => {
                if let Some(m) = m {
                    maps += 1;
                    exact_maps += m.exact() as usize;
                    if !m.exact() {
                        eprintln!(
                            "map     {name}: {} retains {} bytes {} objects, measured {} bytes {} objects",
                            m.var, m.ours.0, m.ours.1, m.facts.0, m.facts.1
                        );
                    }
                }
            }
            // Known heap failures are listed as `heap NAME: reason`.
            Err(e) => match known.iter().find(|(k, _)| k.strip_prefix("heap ") == Some(name.as_str())) {
                Some((_, why)) => eprintln!("KNOWN   {name}: {e} ({why})"),
                None => {
                    problems += 1;
                    eprintln!("FAILED  {name}: {e}");
                }
            },
        }
    }
    eprintln!(
        "heap: {} cases, {problems} problems; walk = printed memstats (+ documented) in {}; global map \
         retained within 1% in {maps}, exactly in {exact_maps}",
        cases.len(),
        cases.len() - problems
    );
    assert!(problems == 0);
}
