//! The triage report (`gomortem report`): why the process died, the findings by severity with
//! their evidence, memory (the heap against the runtime's counters, top types, top retainers
//! as a tree, retention by root group), goroutine groups and stuck channels. The text reads
//! top-down like an incident summary, the verdict first; the JSON is the contract with triage
//! bots (docs/json-schema.md, docs/report.schema.json).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::channels::{chan_rows, ChanRow, LockRow};
use super::heap::{RetainerRow, RootGroupRow};
use super::text::{bytes, id_ranges};
use super::SCHEMA_VERSION;
use crate::analysis::crash::{CrashReport, Reason};
use crate::analysis::diagnose::findings::{block_frame, Finding, Kind, Severity, Thresholds};
use crate::analysis::diagnose::{signature, Diagnosis};
use crate::analysis::heap::typing::Row;
use crate::analysis::HeapAnalysis;
use crate::runtime::goroutines::Location;
use crate::runtime::Status;

/// What the report shows of long lists.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// Rows of the type histogram and top-level retainers.
    pub top: usize,
    pub thresholds: Thresholds,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions { top: 10, thresholds: Thresholds::default() }
    }
}

#[derive(Serialize)]
pub struct DumpJ {
    pub path: String,
    pub kind: crate::dump::DumpKind,
    pub os: String,
    pub arch: String,
    pub pid: u64,
    pub executable: String,
    pub go_version: String,
    /// The main package's path.
    pub program: String,
    pub go_build_id: Option<String>,
}

#[derive(Serialize)]
pub struct FindingJ {
    pub kind: &'static str,
    pub severity: Severity,
    pub summary: String,
    pub goroutines: Vec<u64>,
    pub objects: Vec<String>,
    pub retained_bytes: u64,
    pub count: u64,
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    pub location: Option<Location>,
    pub root: Option<String>,
    pub path: Vec<String>,
    pub details: Vec<String>,
    pub hint: String,
}

impl FindingJ {
    fn new(f: &Finding) -> FindingJ {
        FindingJ {
            kind: f.kind.name(),
            severity: f.severity,
            summary: f.summary.clone(),
            goroutines: f.goroutines.clone(),
            objects: f.objects.iter().map(|a| format!("{a:#x}")).collect(),
            retained_bytes: f.retained_bytes,
            count: f.count,
            type_name: f.type_name.clone(),
            location: f.location.clone(),
            root: f.root.clone(),
            path: f.path.clone(),
            details: f.details.clone(),
            hint: f.hint.clone(),
        }
    }
}

#[derive(Serialize)]
pub struct HeapJ {
    pub allocated_objects: u64,
    pub allocated_bytes: u64,
    pub reachable_objects: u64,
    pub reachable_bytes: u64,
    /// What `runtime.ReadMemStats` would have returned (HeapObjects, HeapAlloc).
    pub runtime_heap_objects: Option<u64>,
    pub runtime_heap_alloc: Option<u64>,
}

#[derive(Serialize)]
pub struct MemoryJ {
    /// Where the process's memory went (as `gomortem memory` says; absent if the dump does
    /// not tell).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<super::memory::Breakdown>,
    pub heap: HeapJ,
    pub top_types: Vec<Row>,
    pub top_retainers: Vec<RetainerRow>,
    pub retention_by_root_group: Vec<RootGroupRow>,
}

#[derive(Serialize)]
pub struct GroupJ {
    pub count: usize,
    pub status: Status,
    pub wait_reason: Option<String>,
    pub wait_minutes: MinMax,
    /// Where they block or run in the program's code (the first frame the runtime's
    /// traceback shows).
    pub location: Option<Location>,
    pub created_by: Option<Location>,
    /// How many of them can never wake up.
    pub stuck: usize,
    pub runtime_internal: bool,
    pub ids: Vec<u64>,
    pub frames: Vec<super::FrameRow>,
}

#[derive(Serialize)]
pub struct MinMax {
    pub min: u64,
    pub max: u64,
}

#[derive(Serialize)]
pub struct GoroutinesJ {
    pub total: usize,
    /// Goroutines that can never wake up (main's `select {}` included), and their ids.
    pub stuck: usize,
    pub stuck_ids: Vec<u64>,
    pub by_status: BTreeMap<String, usize>,
}

#[derive(Serialize)]
pub struct ThresholdsJ {
    pub min_retained: u64,
    pub min_entries: u64,
    pub min_resources: u64,
    pub min_children: u64,
    pub many_goroutines: u64,
    pub memory_live_below: f64,
    pub memory_min: u64,
}

/// The report document (JSON as is; text by [`report_text`]).
#[derive(Serialize)]
pub struct ReportDoc {
    pub schema_version: &'static str,
    pub command: &'static str,
    pub signature: String,
    /// What the signature hashes (for people checking why two dumps share one).
    pub signature_basis: String,
    /// One line: the verdict.
    pub verdict: String,
    pub dump: DumpJ,
    /// Why it died (as `overview` says it); null for a snapshot of a live process.
    pub crash: Option<CrashReport>,
    pub findings: Vec<FindingJ>,
    pub memory: MemoryJ,
    pub goroutines: GoroutinesJ,
    pub goroutine_groups: Vec<GroupJ>,
    /// Channels goroutines wait on (stuck ones first).
    pub channels: Vec<ChanRow>,
    /// Sync primitives goroutines wait on.
    pub locks: Vec<LockRow>,
    pub thresholds: ThresholdsJ,
    pub warnings: Vec<String>,
}

impl ReportDoc {
    /// The most severe finding's severity.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).min()
    }
}

/// Build the report.
pub fn report(a: &HeapAnalysis, d: &Diagnosis, opt: &ReportOptions) -> ReportDoc {
    let p = a.p;
    let t = crate::analysis::Timings::start();
    let mut warnings = a.warnings.clone();
    warnings.extend(d.warnings.iter().cloned());
    // Why it died. A crash the process was made to have by a signal from outside (SIGQUIT,
    // SIGABRT: how dumps of hung processes are taken) is not its failure: the findings are.
    let crash = d.crash.clone();
    let own_failure = crash.as_ref().filter(|c| match c.reason {
        Reason::Panic | Reason::FatalError | Reason::Exception => true,
        Reason::Signal => !c.cause.as_ref().is_some_and(|s| {
            matches!(s.name.as_str(), "SIGABRT" | "SIGQUIT" | "SIGKILL" | "SIGTERM" | "SIGINT")
        }),
    });
    let crash_site = own_failure.map(|c| {
        let value = c.panics.first().and_then(|p| p.value.type_name.clone()).unwrap_or_default();
        signature::crash_site(&format!("{} {value}", c.reason.name()), c.location.as_ref())
    });
    let basis = signature::basis(&signature::program_id(p), crash_site.as_deref(), &d.findings);
    // Memory.
    let hist = a.histogram();
    let top_types = hist.types.iter().filter(|r| r.reachable_bytes > 0).take(opt.top).cloned().collect();
    let top_retainers = super::heap::retainer_rows(a, opt.top).unwrap_or_else(|e| {
        warnings.push(format!("no retainers: {e}"));
        Vec::new()
    });
    let group_of_goroutine: std::collections::HashMap<u64, usize> =
        d.groups.iter().enumerate().flat_map(|(i, g)| g.ids.iter().map(move |&id| (id, i))).collect();
    let group_of = |id: u64| group_of_goroutine.get(&id).copied();
    let group_name = |i: usize| -> String {
        let gr = &d.groups[i];
        let n = if gr.count == 1 { "1 goroutine".to_string() } else { format!("{} goroutines", gr.count) };
        match block_frame(&gr.frames).or(gr.frames.first()) {
            Some(at) => {
                let file = at.file.rsplit('/').next().unwrap_or(&at.file);
                format!("{n} at {} ({file}:{})", at.function, at.line)
            }
            None => n,
        }
    };
    let groups = crate::analysis::heap::retention::GoroutineGroups { group_of: &group_of, name: &group_name };
    let by_root_group = super::heap::root_group_rows(a, opt.top, Some(&groups)).unwrap_or_default();
    t.lap("report: root groups");
    let rs = a.heap.runtime_stats.as_ref();
    let memory = MemoryJ {
        breakdown: d.memory.clone().map(|(b, o)| super::memory::breakdown(p, b, o, Vec::new())),
        heap: HeapJ {
            allocated_objects: a.heap.totals.objects,
            allocated_bytes: a.heap.totals.bytes,
            reachable_objects: a.reach.objects,
            reachable_bytes: a.reach.bytes,
            runtime_heap_objects: rs.map(|r| r.heap_objects),
            runtime_heap_alloc: rs.map(|r| r.heap_alloc),
        },
        top_types,
        top_retainers,
        retention_by_root_group: by_root_group,
    };
    // Goroutines.
    let mut by_status = BTreeMap::new();
    for g in &d.goroutines {
        *by_status.entry(g.status.name().to_string()).or_insert(0) += 1;
    }
    let goroutine_groups = d
        .groups
        .iter()
        .map(|g| GroupJ {
            count: g.count,
            status: g.status,
            wait_reason: g.wait_reason.clone(),
            wait_minutes: MinMax { min: g.min_wait_minutes, max: g.max_wait_minutes },
            location: block_frame(&g.frames).map(|f| Location {
                function: f.function.clone(),
                file: f.file.clone(),
                line: f.line,
            }),
            created_by: g.created_by.clone(),
            stuck: g.ids.iter().filter(|id| d.stuck.binary_search(id).is_ok()).count(),
            runtime_internal: g.runtime_internal,
            ids: g.ids.clone(),
            frames: super::FrameRow::shown(&g.frames),
        })
        .collect();
    let waited: Vec<_> =
        d.blocking.chans.iter().filter(|c| !c.senders.is_empty() || !c.receivers.is_empty()).collect();
    let mut channels = chan_rows(a, &d.blocking, &waited);
    channels.sort_by_key(|r| std::cmp::Reverse((r.stuck, r.senders.len() + r.receivers.len())));
    let locks = super::channels::lock_rows(a, &d.blocking, false);
    let findings: Vec<FindingJ> = d.findings.iter().map(FindingJ::new).collect();
    // Goroutines the findings say can never wake up (not main's idle `select {}`).
    let stuck_found: std::collections::BTreeSet<u64> = d
        .findings
        .iter()
        .filter(|f| matches!(f.kind, Kind::GoroutineLeak | Kind::Deadlock))
        .flat_map(|f| f.goroutines.iter().copied())
        .collect();
    let verdict = verdict(crash.as_ref(), &findings, stuck_found.len());
    let th = &opt.thresholds;
    t.lap("report: document");
    ReportDoc {
        schema_version: SCHEMA_VERSION,
        command: "report",
        signature: signature::signature(&basis),
        signature_basis: basis,
        verdict,
        dump: DumpJ {
            path: p.dump.path.display().to_string(),
            kind: p.dump.kind,
            os: p.dump.os.name().into(),
            arch: p.dump.arch.name().into(),
            pid: p.dump.process.pid,
            executable: p.exe.path.display().to_string(),
            go_version: p.exe.build_info.go_version.clone(),
            program: p.exe.build_info.path.clone(),
            go_build_id: p.exe.image.go_build_id.clone(),
        },
        crash,
        findings,
        memory,
        goroutines: GoroutinesJ {
            total: d.goroutines.len(),
            stuck: d.stuck.len(),
            stuck_ids: d.stuck.clone(),
            by_status,
        },
        goroutine_groups,
        channels,
        locks,
        thresholds: ThresholdsJ {
            min_retained: th.min_retained,
            min_entries: th.min_entries,
            min_resources: th.min_resources,
            min_children: th.min_children,
            many_goroutines: th.many_goroutines,
            memory_live_below: th.memory.live_share_below,
            memory_min: th.memory.min_memory_bytes,
        },
        warnings,
    }
}

/// The one-line verdict.
fn verdict(crash: Option<&CrashReport>, findings: &[FindingJ], stuck: usize) -> String {
    let died = match crash {
        Some(c) => match (&c.message, c.goroutine) {
            (Some(m), Some(g)) => format!("Died of {m} (goroutine {g})"),
            (Some(m), None) => format!("Died of {m}"),
            _ => format!("Died ({})", c.reason.name()),
        },
        None => "A snapshot of a live process".to_string(),
    };
    let mut by: BTreeMap<Severity, usize> = BTreeMap::new();
    for f in findings {
        *by.entry(f.severity).or_default() += 1;
    }
    let counts: Vec<String> = by.iter().map(|(s, n)| format!("{n} {}", s.name())).collect();
    let what = match findings.first() {
        None => "no findings".to_string(),
        Some(f) => format!("{} findings ({}); the worst: {}", findings.len(), counts.join(", "), f.summary),
    };
    let stuck = match stuck {
        0 => String::new(),
        1 => "; 1 goroutine can never wake up".to_string(),
        n => format!("; {n} goroutines can never wake up"),
    };
    format!("{died}; {what}{stuck}.")
}

/// The report as text: the verdict first, the evidence below.
pub fn report_text(r: &ReportDoc) -> String {
    let mut o = String::new();
    let d = &r.dump;
    let _ =
        writeln!(o, "gomortem report: {} ({}, {}/{}), pid {}", d.program, d.go_version, d.os, d.arch, d.pid);
    let _ = writeln!(o, "signature: {}\n", r.signature);
    let _ = writeln!(o, "{}\n", r.verdict);
    let _ = writeln!(o, "WHY IT DIED");
    match &r.crash {
        Some(c) => {
            let _ = writeln!(o, "  {}", c.message.as_deref().unwrap_or(c.reason.name()));
            for d in &c.details {
                let _ = writeln!(o, "  {d}");
            }
            if let Some(g) = c.goroutine {
                let at = c.location.as_ref().map(|l| format!(" at {} ({}:{})", l.function, l.file, l.line));
                let _ = writeln!(o, "  in goroutine {g}{}", at.unwrap_or_default());
            }
        }
        None => {
            let _ = writeln!(o, "  it did not: this is a snapshot of a live process");
        }
    }
    let _ = writeln!(o, "\nFINDINGS ({})", r.findings.len());
    if r.findings.is_empty() {
        let _ = writeln!(o, "  none");
    }
    for f in &r.findings {
        let _ = writeln!(o, "  [{}] {}: {}", f.severity.name(), f.kind, f.summary);
        if f.severity >= Severity::Low {
            continue;
        }
        if let Some(l) = &f.location {
            let _ = writeln!(o, "      at {} ({}:{})", l.function, l.file, l.line);
        }
        if !f.path.is_empty() {
            let _ = writeln!(o, "      path: {}", f.path.join(" "));
        }
        if !f.goroutines.is_empty() {
            let _ = writeln!(o, "      goroutines: {}", id_ranges(&f.goroutines, 12));
        }
        if !f.objects.is_empty() {
            let shown: Vec<&str> = f.objects.iter().take(6).map(|s| s.as_str()).collect();
            let more = if f.objects.len() > 6 {
                format!(", … (+{} more)", f.objects.len() - 6)
            } else {
                String::new()
            };
            let _ = writeln!(o, "      objects: {}{more}", shown.join(", "));
        }
        for x in &f.details {
            let _ = writeln!(o, "      {x}");
        }
        let _ = writeln!(o, "      fix: {}", f.hint);
    }
    let m = &r.memory;
    let h = &m.heap;
    let _ = writeln!(o, "\nMEMORY");
    if let Some(b) = &m.breakdown {
        for line in super::memory::breakdown_text(b).lines() {
            let _ = writeln!(o, "  {line}");
        }
        o.push('\n');
    }
    let runtime = match (h.runtime_heap_objects, h.runtime_heap_alloc) {
        (Some(ob), Some(b)) if ob == h.allocated_objects && b == h.allocated_bytes => {
            " (equal to the runtime's HeapAlloc/HeapObjects)".to_string()
        }
        (Some(ob), Some(b)) => format!(" (the runtime counts {} in {ob} objects)", bytes(b)),
        _ => String::new(),
    };
    let _ = writeln!(
        o,
        "  heap: {} allocated in {} objects{runtime}; {} reachable in {} objects",
        bytes(h.allocated_bytes),
        h.allocated_objects,
        bytes(h.reachable_bytes),
        h.reachable_objects
    );
    let _ = writeln!(o, "\n  top types (reachable):");
    for t in &m.top_types {
        let _ = writeln!(
            o,
            "    {:>12} {:>9} objects  {}",
            bytes(t.reachable_bytes),
            t.reachable_objects,
            t.type_name
        );
    }
    let _ =
        writeln!(o, "\n  top retainers (what each alone keeps alive; one inside another shown under it):\n");
    let mut tree = String::new();
    super::heap::retainers_text(&mut tree, &m.top_retainers);
    for line in tree.lines() {
        let _ = writeln!(o, "  {line}");
    }
    let _ = writeln!(o, "  retention by root group (the sum of what each root alone keeps):");
    let mut groups = String::new();
    super::heap::root_groups_text(&mut groups, &m.retention_by_root_group);
    for line in groups.lines() {
        let _ = writeln!(o, "  {line}");
    }
    let gs = &r.goroutines;
    let _ = writeln!(o, "\nGOROUTINES: {} ({} stuck)", gs.total, gs.stuck);
    for g in r.goroutine_groups.iter().filter(|g| !g.runtime_internal).take(20) {
        let state = match &g.wait_reason {
            Some(w) => w.clone(),
            None => format!("{:?}", g.status).to_lowercase(),
        };
        let stuck = if g.stuck > 0 { format!(", {} stuck", g.stuck) } else { String::new() };
        let at = g
            .location
            .as_ref()
            .map(|l| format!(" at {} ({}:{})", l.function, l.file, l.line))
            .unwrap_or_default();
        let _ = writeln!(o, "  {:>6} [{state}{stuck}]{at}", g.count);
    }
    let stuck: Vec<&ChanRow> = r.channels.iter().filter(|c| c.stuck).collect();
    let _ = writeln!(o, "\nSTUCK CHANNELS: {}", stuck.len());
    for c in stuck.iter().take(20) {
        let _ = writeln!(
            o,
            "  chan {} @ {}: {} senders, {} receivers",
            c.elem_type,
            c.address,
            c.senders.len(),
            c.receivers.len()
        );
    }
    if stuck.len() > 20 {
        let _ = writeln!(o, "  … (+{} more)", stuck.len() - 20);
    }
    for w in &r.warnings {
        let _ = writeln!(o, "warning: {w}");
    }
    o
}
