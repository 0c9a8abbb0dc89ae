//! The `memory` report: where the process's memory went, by category, with the runtime's
//! counters beside the Go rows (docs/memory.md; JSON in docs/json-schema.md).

use std::fmt::Write as _;

use serde::Serialize;

use super::SCHEMA_VERSION;
use crate::analysis::memory::{
    self, Category, CounterCheck, Kind, MemoryBreakdown, OutsideLive, OutsideLiveThresholds,
};
use crate::dump::DumpKind;
use crate::runtime::heap::SpanCensus;
use crate::runtime::Process;
use crate::Result;

#[derive(Serialize)]
pub struct MemoryDoc {
    pub schema_version: &'static str,
    pub command: &'static str,
    #[serde(flatten)]
    pub memory: Breakdown,
}

/// The breakdown of the process's memory (the `memory` document without its header; the
/// report's `memory.breakdown`).
#[derive(Serialize)]
pub struct Breakdown {
    pub go_version: String,
    /// `linux/amd64`, `windows/amd64`, …
    pub platform: String,
    pub dump_kind: DumpKind,
    /// The process's address space: the sum of the categories' bytes.
    pub total_bytes: u64,
    /// Of it: memory (mapped with access), heap released to the OS, reserved address space.
    pub memory_bytes: u64,
    pub released_bytes: u64,
    pub reserved_bytes: u64,
    /// The Go runtime's own (its Sys, as gomortem measures it).
    pub go_bytes: u64,
    pub categories: Vec<Category>,
    pub counters: Vec<CounterCheck>,
    pub counter_excess_bytes: u64,
    /// One line: how much of the memory the heap's objects take, and where the rest is.
    pub verdict: String,
    pub outside_live: OutsideLive,
    pub warnings: Vec<String>,
}

/// The breakdown of the process's memory and the default assessment of it (`heap`:
/// [`Process::span_census`], or `Heap::census`).
pub fn memory(p: &Process, heap: &SpanCensus) -> Result<MemoryDoc> {
    let b = memory::breakdown(p, heap)?;
    let o = memory::outside_live(&b, &OutsideLiveThresholds::default());
    let mut warnings = p.warnings.clone();
    warnings.extend(heap.warnings.iter().cloned());
    Ok(doc(p, b, o, warnings))
}

/// The document of a breakdown and its assessment (`warnings`: the process's and the heap's;
/// the breakdown's own are added).
pub fn doc(p: &Process, b: MemoryBreakdown, o: OutsideLive, warnings: Vec<String>) -> MemoryDoc {
    MemoryDoc { schema_version: SCHEMA_VERSION, command: "memory", memory: breakdown(p, b, o, warnings) }
}

/// The breakdown of a process's memory and its assessment, for documents.
pub fn breakdown(p: &Process, b: MemoryBreakdown, o: OutsideLive, mut warnings: Vec<String>) -> Breakdown {
    warnings.extend(b.warnings.iter().cloned());
    Breakdown {
        go_version: p.go_version().to_string(),
        platform: format!("{}/{}", p.dump.os.name(), p.dump.arch.name()),
        dump_kind: p.dump.kind,
        total_bytes: b.total_bytes,
        memory_bytes: b.memory_bytes,
        released_bytes: b.released_bytes,
        reserved_bytes: b.reserved_bytes,
        go_bytes: b.go_bytes,
        verdict: verdict(&o),
        categories: b.categories,
        counters: b.counters,
        counter_excess_bytes: b.counter_excess_bytes,
        outside_live: o,
        warnings,
    }
}

/// `62% of the process's memory (1.9 GiB) is allocated heap objects (1.2 GiB)`, and when that
/// is less than half, where most of the rest is.
pub fn verdict(o: &OutsideLive) -> String {
    let mut v = format!(
        "{:.0}% of the process's memory ({}) is allocated heap objects ({})",
        100.0 * o.heap_object_share,
        bytes(o.memory_bytes),
        bytes(o.heap_object_bytes)
    );
    if o.mostly_outside {
        if let Some(c) = o.causes.first() {
            let _ = write!(v, "; the biggest part of the rest: {}", c.why);
        }
    }
    v
}

fn bytes(n: u64) -> String {
    super::text::bytes(n)
}

/// The table: memory rows largest first, then what holds no memory, each Go row with its
/// runtime counter (`=` when gomortem's own measure equals it).
pub fn memory_text(d: &MemoryDoc) -> String {
    breakdown_text(&d.memory)
}

/// [`memory_text`] of a breakdown.
pub fn breakdown_text(d: &Breakdown) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "memory of the process ({} {}, {}): {} mapped, of {} of address space",
        d.platform,
        match d.dump_kind {
            DumpKind::ElfCore => "core",
            DumpKind::Minidump => "minidump",
        },
        d.go_version,
        bytes(d.memory_bytes),
        bytes(d.total_bytes)
    );
    let _ = writeln!(o, "{}.\n", d.verdict);

    let width = d.categories.iter().map(|c| c.label.chars().count()).max().unwrap_or(10).max(26);
    let shared: Vec<&Category> = d
        .categories
        .iter()
        .filter(|c| c.runtime_counter.as_ref().is_some_and(|r| r.categories.len() > 1))
        .collect();
    let counter = |c: &Category| -> String {
        let Some(r) = &c.runtime_counter else { return String::new() };
        let ours: u64 = d.categories.iter().filter(|x| r.categories.contains(&x.name)).map(|x| x.bytes).sum();
        let star = if r.categories.len() > 1 { "*" } else { "" };
        let mark = if ours == r.bytes {
            "=".to_string()
        } else {
            format!("differs by {:+} B", ours as i64 - r.bytes as i64)
        };
        format!("{:<22} {:>10}  {mark}", format!("{}{star}", r.name), bytes(r.bytes))
    };
    let row = |o: &mut String, label: &str, n: u64, share: Option<f64>, counter: String| {
        let share = share.map_or(String::new(), |s| format!("{:.1}%", 100.0 * s));
        let line = format!("  {label:<width$}  {:>10}  {share:>6}   {counter}", bytes(n));
        let _ = writeln!(o, "{}", line.trim_end());
    };
    let _ = writeln!(o, "  {:<width$}  {:>10}  {:>6}   runtime counter", "category", "bytes", "share");
    let mut mem: Vec<&Category> =
        d.categories.iter().filter(|c| c.kind == Kind::Memory && c.bytes > 0).collect();
    mem.sort_by_key(|c| std::cmp::Reverse(c.bytes));
    let of = |n: u64| if d.memory_bytes == 0 { 0.0 } else { n as f64 / d.memory_bytes as f64 };
    for c in &mem {
        row(&mut o, c.label, c.bytes, Some(of(c.bytes)), counter(c));
    }
    row(&mut o, "memory (mapped)", d.memory_bytes, Some(of(d.memory_bytes)), String::new());
    let _ = writeln!(o);
    let mut none: Vec<&Category> =
        d.categories.iter().filter(|c| c.kind != Kind::Memory && c.bytes > 0).collect();
    none.sort_by_key(|c| std::cmp::Reverse(c.bytes));
    for c in &none {
        let label = format!("{} (no memory)", c.label);
        row(&mut o, &label, c.bytes, None, counter(c));
    }
    row(&mut o, "address space", d.total_bytes, None, String::new());
    if let Some(sys) = d.counters.iter().find(|c| c.name == "Sys") {
        let mark = if sys.matches() {
            "=".to_string()
        } else {
            format!("differs by {:+} B", d.go_bytes as i64 - sys.runtime as i64)
        };
        let counter = format!("{:<22} {:>10}  {mark}", "Sys", bytes(sys.runtime));
        row(&mut o, "of which the Go runtime's", d.go_bytes, None, counter);
    }
    let mut noted = Vec::new();
    for c in shared {
        let r = c.runtime_counter.as_ref().unwrap();
        if noted.contains(&r.name) {
            continue;
        }
        noted.push(r.name);
        let labels: Vec<String> = r
            .categories
            .iter()
            .filter_map(|n| d.categories.iter().find(|x| x.name == *n))
            .map(|x| format!("\"{}\"", x.label))
            .collect();
        let _ = writeln!(o, "\n  * {} counts {} together.", r.name, labels.join(" and "));
    }
    if !d.outside_live.causes.is_empty() {
        let _ = writeln!(o, "\noutside the heap's objects:");
        for c in &d.outside_live.causes {
            let _ = writeln!(o, "  {}", c.why);
        }
    }
    for w in &d.warnings {
        let _ = writeln!(o, "warning: {w}");
    }
    o
}
