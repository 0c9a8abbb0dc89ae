//! Findings: the well-known ways Go programs leak and hang, each found from the dump with its
//! evidence (goroutines, objects, retained bytes, the path from a root, the source location)
//! and a hint for the fix. The thresholds are in [`Thresholds`] (documented in
//! docs/diagnoses.md, set on the command line).

use std::collections::BTreeMap;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use serde::Serialize;

use super::blocking::{Blocking, Primitive, WaitOn};
use super::stuck::Stuck;
use crate::analysis::heap::dominators::{Dominators, Node};
use crate::analysis::heap::typing::{MapPart, ObjKind, TyRef};
use crate::analysis::memory::{OutsideLive, OutsideLiveThresholds};
use crate::analysis::HeapAnalysis;
use crate::runtime::goroutines::{Frame, Goroutine, Location};
use crate::runtime::roots::RootKind;

/// What a finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Deadlock,
    GoroutineLeak,
    StuckChannel,
    ClosureRetention,
    GrowingContainer,
    PoolHoarding,
    TickerLeak,
    UnclosedResource,
    ContextLeak,
    /// The process's memory is mostly outside live objects.
    Memory,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Deadlock => "deadlock",
            Kind::GoroutineLeak => "goroutine-leak",
            Kind::StuckChannel => "stuck-channel",
            Kind::ClosureRetention => "closure-retention",
            Kind::GrowingContainer => "growing-container",
            Kind::PoolHoarding => "pool-hoarding",
            Kind::TickerLeak => "ticker-leak",
            Kind::UnclosedResource => "unclosed-resource",
            Kind::ContextLeak => "context-leak",
            Kind::Memory => "memory",
        }
    }
}

/// How bad a finding is, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Info,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Severity, String> {
        Ok(match s {
            "critical" => Severity::Critical,
            "high" => Severity::High,
            "medium" => Severity::Medium,
            "low" => Severity::Low,
            "info" => Severity::Info,
            _ => return Err(format!("not a severity: {s:?} (critical, high, medium, low, info)")),
        })
    }
}

/// When a pattern is reported (docs/diagnoses.md).
#[derive(Clone, Debug)]
pub struct Thresholds {
    /// closure-retention, growing-container, pool-hoarding: bytes retained at least.
    pub min_retained: u64,
    /// growing-container: entries (map) or elements (slice) at least, whatever they retain.
    pub min_entries: u64,
    /// unclosed-resource: open objects of one kind at least.
    pub min_resources: u64,
    /// context-leak: children of one cancel context at least.
    pub min_children: u64,
    /// goroutine-leak is `high` from this many goroutines in a group (else `medium`).
    pub many_goroutines: u64,
    /// memory: when the process's memory is mostly outside live objects.
    pub memory: OutsideLiveThresholds,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            min_retained: 1 << 20,
            min_entries: 100_000,
            min_resources: 10,
            min_children: 100,
            many_goroutines: 100,
            memory: OutsideLiveThresholds::default(),
        }
    }
}

/// One finding.
#[derive(Clone, Debug)]
pub struct Finding {
    pub kind: Kind,
    pub severity: Severity,
    /// One line a person understands at a glance.
    pub summary: String,
    /// Goroutine ids involved, ascending.
    pub goroutines: Vec<u64>,
    /// Addresses of the objects involved (channels, locks, the retaining object…).
    pub objects: Vec<u64>,
    pub retained_bytes: u64,
    /// How many of what it is about: goroutines (goroutine-leak, deadlock), channels
    /// (stuck-channel), entries or elements (growing-container), open objects
    /// (unclosed-resource), tickers (ticker-leak), children (context-leak), the objects the pool
    /// retains (pool-hoarding), the captured container's elements (closure-retention).
    pub count: u64,
    /// The type it is about: the container's (growing-container), what a closure captures
    /// (closure-retention), `os.File`, `time.Ticker`, `context.cancelCtx`, `sync.Pool`, a
    /// channel's (stuck-channel), the lock's (deadlock); for memory, the biggest cause
    /// (`fragmentation`, `unreturned_free_spans`, `stacks`, `runtime_metadata`, `non_go`…).
    pub type_name: Option<String>,
    /// Where in the source: where the goroutines block, the closure's function…
    pub location: Option<Location>,
    /// The root it hangs from, as users name it (`main.sessionCache`), if any.
    pub root: Option<String>,
    /// The path from that root to the object, as `path` prints it.
    pub path: Vec<String>,
    /// More evidence, one line each (the creator of leaked goroutines, descriptors…).
    pub details: Vec<String>,
    pub hint: String,
}

impl Finding {
    fn new(kind: Kind, severity: Severity, summary: String, hint: &str) -> Finding {
        Finding {
            kind,
            severity,
            summary,
            goroutines: Vec::new(),
            objects: Vec::new(),
            retained_bytes: 0,
            count: 0,
            type_name: None,
            location: None,
            root: None,
            path: Vec::new(),
            details: Vec::new(),
            hint: hint.to_string(),
        }
    }
}

/// What the finders share.
struct Cx<'a, 'p> {
    a: &'a HeapAnalysis<'p>,
    gs: HashMap<u64, &'a Goroutine>,
    b: &'a Blocking,
    t: &'a Thresholds,
    dom: Option<&'a Dominators>,
}

/// The goroutine exempt from goroutine-leak: goroutine 1 blocked in `select {}`, the idiom of
/// a `main` that leaves the work to other goroutines.
fn exempt(g: &Goroutine) -> bool {
    g.id == 1 && g.wait_reason.as_deref() == Some("select (no cases)")
}

/// Where a goroutine blocks in the program's code: its first frame the runtime's traceback
/// shows (runtime frames hidden), past the sync package's own (the caller of `Lock`, `Wait`).
pub fn block_frame(frames: &[Frame]) -> Option<&Frame> {
    let sync = |f: &&Frame| f.function.starts_with("sync.") || f.function.starts_with("internal/sync.");
    let mut shown = frames.iter().filter(|f| f.shown_by_default());
    let first = shown.clone().next();
    shown.find(|f| !sync(f)).or(first)
}

fn loc(f: &Frame) -> Location {
    Location { function: f.function.clone(), file: f.file.clone(), line: f.line }
}

fn short_loc(l: &Location) -> String {
    let file = l.file.rsplit('/').next().unwrap_or(&l.file);
    format!("{} ({file}:{})", l.function, l.line)
}

fn bytes(n: u64) -> String {
    crate::report::text::bytes(n)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Every finding, most severe first, then by retained bytes. Consumes the stuck analysis (its
/// marks attribute what stuck goroutines retain).
pub fn find(
    a: &HeapAnalysis,
    gs: &[Goroutine],
    b: &Blocking,
    stuck: Stuck,
    t: &Thresholds,
) -> (Vec<Finding>, Vec<String>) {
    let timings = crate::analysis::Timings::start();
    let mut warnings = Vec::new();
    let dom = match a.dominators() {
        Ok(d) => Some(d),
        Err(e) => {
            warnings.push(format!("no retention findings: {e}"));
            None
        }
    };
    let cx = Cx { a, gs: gs.iter().map(|g| (g.id, g)).collect(), b, t, dom };
    let mut out = Vec::new();
    out.extend(deadlocks(&cx));
    // Deadlocked goroutines are explained there, not again as leaks.
    let deadlocked: HashSet<u64> = out.iter().flat_map(|f| f.goroutines.iter().copied()).collect();
    out.extend(stuck_channels(&cx));
    out.extend(goroutine_leaks(&cx, stuck, &deadlocked));
    timings.lap("diagnose: goroutine findings");
    let census = census(&cx);
    timings.lap("diagnose: census");
    if dom.is_some() {
        out.extend(retention(&cx, &census));
    }
    out.extend(tickers(&cx));
    out.extend(resources(&cx, &census));
    out.extend(contexts(&cx, &census));
    timings.lap("diagnose: heap findings");
    out.sort_by(|x, y| {
        (x.severity, std::cmp::Reverse(x.retained_bytes), std::cmp::Reverse(x.goroutines.len()), x.kind).cmp(
            &(y.severity, std::cmp::Reverse(y.retained_bytes), std::cmp::Reverse(y.goroutines.len()), y.kind),
        )
    });
    (out, warnings)
}

/// What a goroutine waits for, in words.
fn waiting_for(reason: &str) -> &'static str {
    match reason {
        "chan send" => "sending on a channel that nothing can ever receive from",
        "chan receive" => "receiving from a channel that nothing can ever send on or close",
        "select" => "in a select whose channels nothing can ever make ready",
        "chan send (nil chan)" => "sending on a nil channel",
        "chan receive (nil chan)" => "receiving from a nil channel",
        "select (no cases)" => "in select {}",
        "sync.Mutex.Lock" => "waiting for a sync.Mutex that nothing can unlock",
        "sync.RWMutex.Lock" | "sync.RWMutex.RLock" => "waiting for a sync.RWMutex that nothing can unlock",
        "sync.WaitGroup.Wait" => "waiting on a sync.WaitGroup that nothing can call Done on",
        "sync.Cond.Wait" => "waiting on a sync.Cond that nothing can signal",
        _ => "waiting on something that nothing can ever provide",
    }
}

fn leak_hint(reason: &str) -> &'static str {
    match reason {
        "chan send" | "chan receive" | "select" => {
            "give every blocking channel operation a way out: a select on ctx.Done() or a quit channel, a \
             buffered channel sized for the senders, or a receiver (or close) that is guaranteed to happen"
        }
        "chan send (nil chan)" | "chan receive (nil chan)" => {
            "the channel was never made (make(chan T)) or was set to nil: a nil channel blocks forever"
        }
        "select (no cases)" => "select {} blocks forever: end the goroutine when its work is done",
        "sync.WaitGroup.Wait" | "semacquire" => {
            "every Add must be matched by a Done on every path (defer wg.Done() right after the goroutine starts)"
        }
        _ => "make sure the goroutine that must release the lock (or signal) can still run, on every path",
    }
}

type LocKey = Option<(String, String, u32)>;

fn loc_key(l: &Location) -> (String, String, u32) {
    (l.function.clone(), l.file.clone(), l.line)
}

fn from_key(k: &LocKey) -> Option<Location> {
    k.as_ref().map(|(function, file, line)| Location {
        function: function.clone(),
        file: file.clone(),
        line: *line,
    })
}

/// Stuck goroutines, grouped by how and where they block and where they were created; each
/// group with what only it keeps alive.
fn goroutine_leaks(cx: &Cx, stuck: Stuck, deadlocked: &HashSet<u64>) -> Vec<Finding> {
    let mut groups: BTreeMap<(String, LocKey, LocKey), Vec<u64>> = BTreeMap::new();
    for &id in &stuck.goroutines {
        let Some(g) = cx.gs.get(&id) else { continue };
        if exempt(g) || deadlocked.contains(&id) {
            continue;
        }
        let at = block_frame(&g.frames).map(|f| loc_key(&loc(f)));
        let by = g.created_by.as_ref().map(loc_key);
        groups.entry((g.wait_reason.clone().unwrap_or_default(), at, by)).or_default().push(id);
    }
    let mut groups: Vec<_> = groups.into_iter().collect();
    groups.sort_by_key(|(_, ids)| std::cmp::Reverse(ids.len()));
    let ids: Vec<Vec<u64>> = groups.iter().map(|(_, ids)| ids.clone()).collect();
    let retained = stuck.retained_by(cx.a, cx.b, &ids);
    groups
        .into_iter()
        .zip(retained)
        .map(|(((reason, at, by), ids), (_, heap_bytes))| {
            let gs: Vec<&Goroutine> = ids.iter().filter_map(|i| cx.gs.get(i).copied()).collect();
            let minutes = gs.iter().map(|g| g.wait_minutes).max().unwrap_or(0);
            let stacks: u64 = gs.iter().map(|g| g.stack.1.saturating_sub(g.stack.0)).sum();
            let n = ids.len();
            let severity = if n as u64 >= cx.t.many_goroutines || heap_bytes >= cx.t.min_retained {
                Severity::High
            } else {
                Severity::Medium
            };
            let at = from_key(&at);
            let by = from_key(&by);
            let mut summary = format!(
                "{} {}{} {}",
                plural(n, "goroutine is", "goroutines are"),
                if minutes > 0 {
                    format!("blocked for {minutes} minutes ")
                } else {
                    "blocked forever ".into()
                },
                waiting_for(&reason),
                at.as_ref().map(|l| format!("at {}", short_loc(l))).unwrap_or_default()
            );
            if let Some(by) = &by {
                summary.push_str(&format!(", created at {}", short_loc(by)));
            }
            let mut f = Finding::new(Kind::GoroutineLeak, severity, summary, leak_hint(&reason));
            f.retained_bytes = heap_bytes;
            f.count = n as u64;
            f.goroutines = ids;
            f.location = at;
            f.details.push(format!("wait reason: {reason}"));
            if let Some(by) = by {
                f.details.push(format!("created by {} at {}:{}", by.function, by.file, by.line));
            }
            f.details.push(format!(
                "keeps {} of heap alive that nothing else does, and {} of goroutine stacks",
                bytes(heap_bytes),
                bytes(stacks)
            ));
            // The channels or locks they wait on.
            let mut objs: Vec<u64> = Vec::new();
            for w in cx.b.waits.iter().filter(|w| f.goroutines.binary_search(&w.goroutine).is_ok()) {
                match &w.on {
                    WaitOn::Chans(cases) => objs.extend(cases.iter().map(|c| c.chan)),
                    WaitOn::Sync { lock, .. } => objs.push(*lock),
                    WaitOn::Never => {}
                }
            }
            objs.sort_unstable();
            objs.dedup();
            f.objects = objs;
            f
        })
        .collect()
}

/// Deadlocks: goroutines waiting for a Mutex or RWMutex that can never be unlocked (it is
/// stuck: no goroutine able to run can reach it, so its holder is stuck or gone), and lock
/// cycles. Go does not record who holds a lock; the possible holders are the goroutines whose
/// stacks point to the lock's object and that do not wait on it: when they make a cycle (each
/// waits for a lock another holds: a lock order inversion), the finding says so.
fn deadlocks(cx: &Cx) -> Vec<Finding> {
    let holdable =
        |p: Primitive| matches!(p, Primitive::Mutex | Primitive::RwMutexRead | Primitive::RwMutexWrite);
    let locks: Vec<_> =
        cx.b.locks.iter().filter(|l| holdable(l.primitive) && l.locked != Some(false)).collect();
    // Locks joined when a waiter of one may hold the other.
    let mut comp: Vec<usize> = (0..locks.len()).collect();
    fn find(c: &mut [usize], i: usize) -> usize {
        let mut r = i;
        while c[r] != r {
            r = c[r];
        }
        c[i] = r;
        r
    }
    for i in 0..locks.len() {
        for j in 0..locks.len() {
            if i != j && locks[i].waiters.iter().any(|w| locks[j].referenced_by.contains(w)) {
                let (a, b) = (find(&mut comp, i), find(&mut comp, j));
                comp[a] = b;
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..locks.len() {
        let r = find(&mut comp, i);
        groups.entry(r).or_default().push(i);
    }
    let mut out = Vec::new();
    for ls in groups.values() {
        let waiters: Vec<u64> = ls.iter().flat_map(|&i| locks[i].waiters.iter().copied()).collect();
        // A cycle: every lock of the group is held by a waiter of another.
        let cycle = ls.len() > 1
            && ls.iter().all(|&i| {
                locks[i].referenced_by.iter().any(|h| waiters.contains(h) && !locks[i].waiters.contains(h))
            });
        let all_stuck = ls.iter().all(|&i| locks[i].stuck);
        if !cycle && !all_stuck {
            continue;
        }
        let mut goroutines = waiters.clone();
        goroutines.sort_unstable();
        goroutines.dedup();
        let first = goroutines.first().and_then(|g| cx.gs.get(g));
        let at = first.and_then(|g| block_frame(&g.frames)).map(loc);
        let what = locks[ls[0]].primitive.name();
        let summary = if cycle {
            format!(
                "goroutines {} each wait for a {what} that another of them holds (lock order inversion){}",
                goroutines.iter().map(|g| g.to_string()).collect::<Vec<_>>().join(", "),
                at.as_ref().map(|l| format!(", at {}", short_loc(l))).unwrap_or_default()
            )
        } else {
            format!(
                "{} for {} that nothing able to run can unlock: the holder is stuck or gone{}",
                plural(goroutines.len(), "goroutine waits", "goroutines wait"),
                if ls.len() == 1 { format!("a {what}") } else { format!("{} locks", ls.len()) },
                at.as_ref().map(|l| format!(", at {}", short_loc(l))).unwrap_or_default()
            )
        };
        let mut f = Finding::new(
            Kind::Deadlock,
            Severity::Critical,
            summary,
            if cycle {
                "acquire locks in one global order everywhere (or hold one lock at a time); each of these \
                 goroutines holds a lock while it waits for another"
            } else {
                "every Lock must be matched by an Unlock on every path (defer mu.Unlock() right after Lock); \
                 a goroutine that returns or blocks forever while holding a lock blocks every other user of it"
            },
        );
        for &i in ls {
            let l = locks[i];
            let holders: Vec<String> = l.referenced_by.iter().map(|g| g.to_string()).collect();
            f.details.push(format!(
                "{} @ {:#x}: {} waiting ({}){}",
                l.primitive.name(),
                l.addr,
                l.waiters.len(),
                l.waiters.iter().map(|g| g.to_string()).collect::<Vec<_>>().join(", "),
                if holders.is_empty() {
                    String::new()
                } else {
                    format!("; held by goroutine {}", holders.join(" or "))
                }
            ));
        }
        f.count = goroutines.len() as u64;
        f.type_name = Some(what.to_string());
        f.goroutines = goroutines;
        f.objects = ls.iter().map(|&i| locks[i].addr).collect();
        f.location = at;
        out.push(f);
    }
    out
}

/// Stuck channels, grouped by element type and where their waiters block.
fn stuck_channels(cx: &Cx) -> Vec<Finding> {
    let mut groups: BTreeMap<(String, LocKey), Vec<usize>> = BTreeMap::new();
    // A channel one stuck goroutine waits on is that goroutine's leak; several waiting on one
    // (fan-out, fan-in) make the channel the finding.
    let shared = |c: &&crate::analysis::diagnose::blocking::Chan| c.senders.len() + c.receivers.len() >= 2;
    for (i, c) in cx.b.chans.iter().enumerate().filter(|(_, c)| c.stuck).filter(|(_, c)| shared(c)) {
        let first = c.senders.iter().chain(&c.receivers).map(|w| w.goroutine).min();
        let at =
            first.and_then(|g| cx.gs.get(&g)).and_then(|g| block_frame(&g.frames)).map(|f| loc_key(&loc(f)));
        groups.entry((c.elem_type.clone(), at)).or_default().push(i);
    }
    groups
        .into_iter()
        .map(|((elem, at), chans)| {
            let mut gs: Vec<u64> = chans
                .iter()
                .flat_map(|&i| {
                    cx.b.chans[i].senders.iter().chain(&cx.b.chans[i].receivers).map(|w| w.goroutine)
                })
                .collect();
            gs.sort_unstable();
            gs.dedup();
            let at = from_key(&at);
            let summary = format!(
                "{} of {elem} can never make progress: {} on {} that no goroutine able to run can reach{}",
                plural(chans.len(), "channel", "channels"),
                plural(gs.len(), "goroutine waits", "goroutines wait"),
                if chans.len() == 1 { "it" } else { "them" },
                at.as_ref().map(|l| format!(" (at {})", short_loc(l))).unwrap_or_default()
            );
            let mut f = Finding::new(
                Kind::StuckChannel,
                Severity::Low,
                summary,
                "the other end of the channel is gone: close it when the producer is done, or select on a \
                 cancellation channel in every operation on it",
            );
            f.objects = chans.iter().map(|&i| cx.b.chans[i].addr).collect();
            f.count = chans.len() as u64;
            f.type_name = Some(format!("chan {elem}"));
            f.goroutines = gs;
            f.location = at;
            f
        })
        .collect()
}

/// A root's type name, when DWARF gives it.
fn root_type(cx: &Cx, r: u32) -> Option<String> {
    cx.a.roots.roots.get(r as usize)?.type_name(cx.a.p)
}

/// The root a reachable object hangs from (its variable's name: `main.baseCtx`, `goroutine 19
/// main.worker buf`), its kind, and the named path from it (as `path` prints it).
fn rooted(cx: &Cx, obj: u32) -> Option<(String, RootKind, Vec<String>)> {
    let steps = cx.a.reach.path_to(&cx.a.graph, obj)?;
    let crate::analysis::heap::graph::Step::Root(r) = steps[0] else { return None };
    let root = cx.a.roots.roots.get(r as usize)?;
    Some((root.name.clone(), root.kind, cx.a.path_names(&steps)))
}

/// [`rooted`], when the root is a global or a goroutine's stack (not a finalizer or a
/// cleanup): the program holds the object.
fn held_by_program(cx: &Cx, obj: u32) -> Option<(String, Vec<String>)> {
    let (root, kind, path) = rooted(cx, obj)?;
    let ok = matches!(
        kind,
        RootKind::Data
            | RootKind::Bss
            | RootKind::Local
            | RootKind::StackObject
            | RootKind::Conservative
            | RootKind::Context
    );
    ok.then_some((root, path))
}

/// What one pass over the heap's objects finds for the findings: maps and slices with many
/// entries, open files, sockets and rows, contexts with many children (each object's class
/// comes from its typing entry, classified once).
#[derive(Default)]
struct Census {
    /// (object, entries) of containers with at least `min_entries`.
    many: Vec<(u32, u64)>,
    /// (resource kind: [`RESOURCES`], object, descriptor) of the reachable open ones.
    open: Vec<(usize, u32, i64)>,
    /// (context, children, the children map) with at least `min_children`.
    contexts: Vec<(u32, u64, u64)>,
}

/// The resources `unclosed-resource` counts: (type name, what the finding calls it).
const RESOURCES: [(&str, &str); 3] = [
    ("os.file", "os.File"),
    ("net.netFD", "net connection or listener"),
    ("database/sql.Rows", "database/sql.Rows"),
];

#[derive(Clone, Copy, PartialEq)]
enum Class {
    None,
    MapHeader,
    /// A slice's backing array of values that hold pointers (a byte buffer is no container).
    PtrArray,
    Resource(usize),
    Context,
}

fn census(cx: &Cx) -> Census {
    use rayon::prelude::*;
    let a = cx.a;
    let std = &a.p.layouts.std;
    let class: Vec<Class> = a
        .typing
        .entries
        .iter()
        .map(|e| match e.kind {
            ObjKind::Map(_, MapPart::Header) if std.map_count.is_some() => Class::MapHeader,
            ObjKind::Value(TyRef::Runtime(t))
                if e.array
                    && e.name.ends_with("backing array")
                    && a.types.get(t).is_ok_and(|t| t.ptr_bytes > 0) =>
            {
                Class::PtrArray
            }
            _ => {
                let offs = [std.file_fd, std.netfd_fd, std.rows_closed];
                match RESOURCES.iter().position(|r| r.0 == e.name) {
                    Some(k) if offs[k].is_some() => Class::Resource(k),
                    _ if matches!(e.name.as_str(), "context.cancelCtx" | "context.timerCtx")
                        && std.ctx_children.is_some()
                        && std.map_count.is_some() =>
                    {
                        Class::Context
                    }
                    _ => Class::None,
                }
            }
        })
        .collect();
    if class.iter().all(|c| *c == Class::None) {
        return Census::default();
    }
    let (min_entries, min_children) = (cx.t.min_entries, cx.t.min_children);
    let class = &class;
    // One object: what it adds to the census.
    let one = |o: u32, header: u64, c: &mut Census| {
        let Some(&k) = class.get(a.typing.entry_index(o) as usize) else { return };
        if k == Class::None || !a.reach.is_reachable(o) {
            return;
        }
        let m = &a.p.mem;
        let base = a.heap.addr(o) + header;
        match k {
            Class::MapHeader => {
                if let Some(n) = std
                    .map_count
                    .and_then(|off| m.read_u64(base.saturating_add(off)))
                    .filter(|&n| n >= min_entries)
                {
                    c.many.push((o, n));
                }
            }
            Class::PtrArray => {
                let n = a.typing.count(o);
                if n >= min_entries {
                    c.many.push((o, n));
                }
            }
            Class::Resource(2) => {
                if std.rows_closed.and_then(|off| m.read_u8(base.saturating_add(off))) == Some(0) {
                    c.open.push((2, o, -1));
                }
            }
            Class::Resource(k) => {
                let off = if k == 0 { std.file_fd } else { std.netfd_fd };
                if let Some(fd) =
                    off.and_then(|off| m.read_i64(base.saturating_add(off))).filter(|&fd| fd != -1)
                {
                    c.open.push((k, o, fd));
                }
            }
            Class::Context => {
                let (Some(ch), Some(count)) = (std.ctx_children, std.map_count) else { return };
                let Some(map) = m.read_u64(base.saturating_add(ch)) else { return };
                let n = if map != 0 { m.read_u64(map.saturating_add(count)).unwrap_or(0) } else { 0 };
                if n >= min_children {
                    c.contexts.push((o, n, map));
                }
            }
            Class::None => {}
        }
    };
    a.heap
        .par_object_runs()
        .fold(Census::default, |mut c, (objs, _, header)| {
            objs.for_each(|o| one(o, header, &mut c));
            c
        })
        .reduce(Census::default, |mut x, y| {
            x.many.extend(y.many);
            x.open.extend(y.open);
            x.contexts.extend(y.contexts);
            x
        })
}

/// Objects that retain at least the threshold: closures, maps and slices, pools.
fn retention(cx: &Cx, census: &Census) -> Vec<Finding> {
    let a = cx.a;
    let dom = cx.dom.expect("retention needs the dominators");
    let mut out = Vec::new();
    let big = dom.retaining_at_least(cx.t.min_retained);
    // Containers by entries, whatever they retain.
    let mut containers: Vec<(u32, u64)> = Vec::new();
    let mut reported: HashSet<u32> = HashSet::default();
    let kind_of = |o: u32| a.typing.entry(o).map(|e| (e.kind, e.array, e.name.as_str()));
    // Pools and closures reported: the containers inside them are theirs.
    let mut pool_nodes: Vec<(Node, u64)> = Vec::new();
    for r in &big {
        match r.node {
            Node::Object(o) => match kind_of(o) {
                Some((ObjKind::Closure(entry), _, name)) => {
                    if let Some(f) = closure_finding(cx, o, entry, name, r.retained_bytes) {
                        // What it captures is this finding's, not a container's.
                        pool_nodes.push((r.node, f.objects[0]));
                        out.push(f);
                    }
                }
                Some((ObjKind::Map(_, MapPart::Header), _, _)) => containers.push((o, r.retained_bytes)),
                // A slice whose elements retain more than the array itself.
                Some((ObjKind::Value(_), true, name))
                    if name.ends_with("backing array") && r.retained_bytes > a.heap.size(o) =>
                {
                    containers.push((o, r.retained_bytes));
                }
                Some((_, _, "sync.Pool")) => {
                    if let Some(f) = pool_finding(cx, Node::Object(o), r.retained_bytes, r.retained_objects) {
                        pool_nodes.push((r.node, f.objects[0]));
                        out.push(f);
                    }
                }
                _ => {}
            },
            Node::Root(i) => {
                if root_type(cx, i).as_deref() == Some("sync.Pool") {
                    if let Some(f) = pool_finding(cx, Node::Root(i), r.retained_bytes, r.retained_objects) {
                        pool_nodes.push((r.node, f.objects[0]));
                        out.push(f);
                    }
                }
            }
            Node::SuperRoot => {}
        }
    }
    // Maps and slices with many entries, whatever they retain.
    let map_count = a.p.layouts.std.map_count;
    let many = &census.many;
    for &(o, _) in many {
        if !containers.iter().any(|c| c.0 == o) {
            containers.push((o, dom.retained(Node::Object(o), |x| a.heap.size(x)).0));
        }
    }
    // The outermost container of nested ones (a map of maps: the outer); a pool's caches are
    // pool-hoarding's.
    let set: HashSet<Node> = containers.iter().map(|c| Node::Object(c.0)).collect();
    let pools: HashSet<Node> = pool_nodes.iter().map(|(n, _)| *n).collect();
    for &(o, retained) in &containers {
        let mut up = dom.idom(Node::Object(o));
        let mut nested = false;
        for _ in 0..64 {
            match up {
                Some(n) if set.contains(&n) || pools.contains(&n) => {
                    nested = true;
                    break;
                }
                Some(n @ Node::Object(_)) => up = dom.idom(n),
                _ => break,
            }
        }
        if nested || !reported.insert(o) {
            continue;
        }
        let Some((root, path)) = held_by_program(cx, o) else { continue };
        let e = a.typing.entry(o).expect("containers are typed");
        let (what, entries) = match e.kind {
            ObjKind::Map(..) => {
                let at = a.heap.addr(o) + a.heap.header_size(o);
                ("map", map_count.and_then(|c| a.p.mem.read_u64(at.saturating_add(c))).unwrap_or(0))
            }
            _ => ("slice", held_slice_len(cx, o).unwrap_or_else(|| a.typing.count(o))),
        };
        let ty = e.name.trim_end_matches(" header").trim_end_matches(" backing array").to_string();
        let by_entries = entries >= cx.t.min_entries;
        let severity = if retained >= 64 * cx.t.min_retained || by_entries && retained >= cx.t.min_retained {
            Severity::High
        } else {
            Severity::Medium
        };
        let unit = match (what, entries) {
            ("map", 1) => "entry",
            ("map", _) => "entries",
            (_, 1) => "element",
            _ => "elements",
        };
        let summary =
            format!("the {what} {root} ({ty}) holds {entries} {unit} and retains {}", bytes(retained));
        let mut f = Finding::new(
            Kind::GrowingContainer,
            severity,
            summary,
            "a long-lived container that only grows is a leak: bound it (evict old entries, an LRU, a TTL), \
             or delete entries when their work is done",
        );
        f.objects = vec![a.heap.addr(o)];
        f.retained_bytes = retained;
        f.root = Some(root);
        f.path = path;
        f.count = entries;
        f.type_name = Some(ty);
        out.push(f);
    }
    out
}

fn closure_finding(cx: &Cx, o: u32, entry: u64, name: &str, retained: u64) -> Option<Finding> {
    let a = cx.a;
    let dom = cx.dom?;
    let (root, path) = held_by_program(cx, o)?;
    let func = name.strip_prefix("closure ").unwrap_or(name).to_string();
    let location = a.p.func(entry).and_then(|f| {
        let (file, line) = a.p.exe.pclntab.file_line(f, f.entry)?;
        Some(Location { function: func.clone(), file: file.to_string(), line })
    });
    // Through which capture: the biggest object the closure alone keeps.
    let mut best: Option<(u64, u32, u32)> = None;
    for (k, &t) in a.graph.targets(o).iter().enumerate() {
        if dom.idom(Node::Object(t)) == Some(Node::Object(o)) {
            let r = dom.retained(Node::Object(t), |x| a.heap.size(x)).0;
            if best.is_none_or(|b| r > b.0) {
                best = Some((r, t, a.graph.field(o, k).unwrap_or(0)));
            }
        }
    }
    let through = best.map(|(r, t, field)| {
        let via = crate::analysis::heap::paths::field_name(a, o, field as u64);
        (via, a.type_name(t), r)
    });
    let summary = format!(
        "the closure {func} retains {}{}",
        bytes(retained),
        through
            .as_ref()
            .map(|(via, ty, _)| match via.strip_prefix('.') {
                Some(name) => format!(" through its captured {name} ({ty})"),
                None => format!(" through what it captures ({ty})"),
            })
            .unwrap_or_default()
    );
    let mut f = Finding::new(
        Kind::ClosureRetention,
        if retained >= 64 * cx.t.min_retained { Severity::High } else { Severity::Medium },
        summary,
        "a long-lived closure keeps everything it captures alive: do not capture a growing slice or map \
         (bound it, or keep it outside the closure and trim it)",
    );
    f.objects = vec![a.heap.addr(o)];
    f.retained_bytes = retained;
    f.location = location;
    f.root = Some(root);
    f.path = path;
    if let Some((via, ty, r)) = &through {
        f.details.push(format!("{via} ({ty}) alone retains {}", bytes(*r)));
    }
    if let Some((mut t, mut r)) = best.map(|b| (b.1, b.0)) {
        // Through a captured variable's own object (`&captured`, a slice header) to the
        // container that holds the memory (the slice's backing array).
        let mut len = None;
        for _ in 0..3 {
            let biggest = a
                .graph
                .targets(t)
                .iter()
                .filter(|&&c| dom.idom(Node::Object(c)) == Some(Node::Object(t)))
                .map(|&c| (dom.retained(Node::Object(c), |x| a.heap.size(x)).0, c))
                .max();
            match biggest {
                Some((rc, c)) if rc as f64 >= 0.9 * r as f64 => {
                    // From a slice's header to its backing array: the header has its length.
                    len = slice_len(a, a.heap.addr(t) + a.heap.header_size(t), c);
                    (t, r) = (c, rc);
                }
                _ => break,
            }
        }
        f.count = len.unwrap_or_else(|| a.typing.count(t));
        f.type_name = Some(a.type_name(t).trim_end_matches(" backing array").to_string());
    }
    Some(f)
}

/// The length of the slice whose backing array `o` is, from the header the shortest path from
/// a root takes to it.
fn held_slice_len(cx: &Cx, o: u32) -> Option<u64> {
    use crate::analysis::heap::graph::Step;
    let a = cx.a;
    let steps = a.reach.path_to(&a.graph, o)?;
    let at = match steps.get(steps.len().checked_sub(2)?)? {
        Step::Root(r) => {
            let e = a.roots.edges.iter().find(|e| e.root == *r && e.object == o)?;
            a.roots.roots.get(*r as usize)?.addr.saturating_add(e.offset)
        }
        Step::Object { obj, .. } => {
            let Some(Step::Object { field, .. }) = steps.last() else { return None };
            a.heap.addr(*obj) + (*field)? as u64
        }
    };
    slice_len(a, at, o)
}

/// The length of the slice whose header is at `at`, if it is the header of the backing array
/// `array` (its pointer points there; `len <= cap`, and `cap` elements fit the array).
fn slice_len(a: &HeapAnalysis, at: u64, array: u32) -> Option<u64> {
    let m = &a.p.mem;
    let (ptr, len, cap) =
        (m.read_u64(at)?, m.read_u64(at.saturating_add(8))?, m.read_u64(at.saturating_add(16))?);
    let start = a.heap.addr(array) + a.heap.header_size(array);
    let elem = a.typing.entry(array).map_or(1, |e| e.elem_size.max(1));
    (ptr == start && len <= cap && cap.checked_mul(elem)? <= a.heap.size(array)).then_some(len)
}

fn pool_finding(cx: &Cx, node: Node, retained: u64, objects: u32) -> Option<Finding> {
    let a = cx.a;
    let (name, path, addr) = match node {
        Node::Root(i) => {
            let r = a.roots.roots.get(i as usize)?;
            (r.name.clone(), vec![r.name.clone()], r.addr)
        }
        Node::Object(o) => {
            let (root, path) = held_by_program(cx, o)?;
            (root, path, a.heap.addr(o))
        }
        Node::SuperRoot => return None,
    };
    let mut f = Finding::new(
        Kind::PoolHoarding,
        if retained >= 64 * cx.t.min_retained { Severity::High } else { Severity::Medium },
        format!("the sync.Pool {name} keeps {} in its per-P caches (local and victim)", bytes(retained)),
        "a sync.Pool is for many short-lived objects of similar size: do not Put very large or \
         variable-sized buffers back (drop those over a size limit)",
    );
    f.objects = vec![addr];
    f.retained_bytes = retained;
    f.count = objects as u64;
    f.type_name = Some("sync.Pool".into());
    f.root = Some(name);
    f.path = path;
    Some(f)
}

/// Goroutine roots' objects: what some goroutine's stack points to.
fn stack_objects(cx: &Cx) -> HashSet<u32> {
    let a = cx.a;
    a.root_edges
        .iter()
        .filter(|e| a.roots.roots.get(e.root as usize).is_some_and(|r| r.goroutine.is_some()))
        .flat_map(|e| e.objects.iter().copied())
        .collect()
}

/// Active tickers that no goroutine receives from: no goroutine waits on the channel and no
/// goroutine's stack points to the ticker or its channel.
fn tickers(cx: &Cx) -> Vec<Finding> {
    let a = cx.a;
    let on_stacks = stack_objects(cx);
    let waited: HashSet<u64> =
        cx.b.chans.iter().filter(|c| !c.receivers.is_empty()).map(|c| c.addr).collect();
    let mut groups: BTreeMap<String, Vec<(u32, i64, Vec<String>)>> = BTreeMap::new();
    for t in cx.b.timers.iter().filter(|t| t.state.active && t.state.period > 0) {
        if waited.contains(&t.state.chan)
            || on_stacks.contains(&t.obj)
            || a.heap.find_object(t.state.chan).is_some_and(|c| on_stacks.contains(&c))
        {
            continue;
        }
        let (root, path) = match rooted(cx, t.obj) {
            Some((r, _, p)) => (r, p),
            None => ("nothing (unreachable)".to_string(), Vec::new()),
        };
        groups.entry(root).or_default().push((t.obj, t.state.period, path));
    }
    groups
        .into_iter()
        .map(|(root, ts)| {
            let periods: Vec<String> = ts.iter().map(|t| crate::report::channels::duration(t.1)).collect();
            let mut f = Finding::new(
                Kind::TickerLeak,
                Severity::Medium,
                format!(
                    "{} (every {}) keep firing but no goroutine receives from {}: held by {root}",
                    plural(ts.len(), "active time.Ticker", "active time.Tickers"),
                    periods.join(", "),
                    if ts.len() == 1 { "it" } else { "them" }
                ),
                "call Stop on a ticker when its loop ends (defer t.Stop() where it is made); an unstopped \
                 ticker keeps its timer running (and, before Go 1.23, is never collected)",
            );
            f.objects = ts.iter().map(|t| a.heap.addr(t.0)).collect();
            f.count = ts.len() as u64;
            f.type_name = Some("time.Ticker".into());
            f.root = Some(root);
            f.path = ts.first().map(|t| t.2.clone()).unwrap_or_default();
            f.details.push("Go does not record where a ticker was made: the path names what holds it".into());
            f
        })
        .collect()
}

/// Many open files, sockets or database rows.
fn resources(cx: &Cx, census: &Census) -> Vec<Finding> {
    let a = cx.a;
    let std = &a.p.layouts.std;
    let open = &census.open;
    let mut out = Vec::new();
    for (k, (_, what)) in RESOURCES.iter().enumerate() {
        let mut objs: Vec<(u32, i64)> = open.iter().filter(|x| x.0 == k).map(|x| (x.1, x.2)).collect();
        // The standard streams are not leaks.
        if k == 0 {
            objs.retain(|&(o, _)| {
                let name = std
                    .file_name
                    .and_then(|n| a.p.read_go_string(a.heap.addr(o) + a.heap.header_size(o) + n));
                !matches!(name.as_deref(), Some("/dev/stdin" | "/dev/stdout" | "/dev/stderr"))
            });
        }
        if (objs.len() as u64) < cx.t.min_resources {
            continue;
        }
        objs.sort_unstable();
        // What holds most of them.
        let mut holders: BTreeMap<String, usize> = BTreeMap::new();
        // The program's root of each (its own finalizer keeps an object that points to itself,
        // as Windows' os.file does, but that is no holder): directly, or through an object
        // that points to it.
        let sample: Vec<u32> = objs.iter().take(64).map(|x| x.0).collect();
        let preds = a.graph.edges_into(&sample);
        for &o in &sample {
            let lo = preds.partition_point(|&(t, _)| t < o);
            let through = preds[lo..].iter().take_while(|&&(t, _)| t == o).filter(|&&(_, p)| p != o);
            let root = held_by_program(cx, o)
                .map(|h| h.0)
                .or_else(|| through.clone().find_map(|&(_, p)| held_by_program(cx, p).map(|h| h.0)))
                .or_else(|| rooted(cx, o).map(|r| r.0));
            if let Some(root) = root {
                *holders.entry(root).or_default() += 1;
            }
        }
        let top = holders.iter().max_by_key(|(_, n)| **n).map(|(r, _)| r.clone());
        let mut f = Finding::new(
            Kind::UnclosedResource,
            Severity::Medium,
            format!(
                "{} open{}",
                plural(objs.len(), what, &format!("{what}s")),
                top.as_ref().map(|r| format!(", most held by {r}")).unwrap_or_default()
            ),
            "close what you open on every path (defer f.Close() / rows.Close() / conn.Close() right after \
             the error check); each open one holds a descriptor until it is closed or collected",
        );
        f.objects = objs.iter().map(|&(o, _)| a.heap.addr(o)).collect();
        f.count = objs.len() as u64;
        f.type_name = Some(["os.File", "net.netFD", "database/sql.Rows"][k].to_string());
        f.root = top;
        if k < 2 {
            let fds: Vec<String> = objs.iter().take(16).map(|x| x.1.to_string()).collect();
            f.details.push(format!(
                "descriptors: {}{}",
                fds.join(", "),
                if objs.len() > 16 { format!(", … (+{} more)", objs.len() - 16) } else { String::new() }
            ));
        }
        if k == 0 {
            let names: Vec<String> = objs
                .iter()
                .take(5)
                .filter_map(|&(o, _)| {
                    std.file_name.and_then(|n| a.p.read_go_string(a.heap.addr(o) + a.heap.header_size(o) + n))
                })
                .collect();
            f.details.push(format!("files: {}", names.join(", ")));
        }
        out.push(f);
    }
    out
}

/// Cancel contexts with many children that were never cancelled.
fn contexts(cx: &Cx, census: &Census) -> Vec<Finding> {
    let a = cx.a;
    let min = cx.t.min_children;
    let big = census.contexts.clone();
    big.into_iter()
        .map(|(o, n, m)| {
            let (root, path) = rooted(cx, o).map(|(r, _, p)| (r, p)).unwrap_or_default();
            let retained = match (cx.dom, a.heap.find_object(m)) {
                (Some(d), Some(mo)) => d.retained(Node::Object(mo), |x| a.heap.size(x)).0,
                _ => 0,
            };
            let mut f = Finding::new(
                Kind::ContextLeak,
                if n >= 100 * min { Severity::High } else { Severity::Medium },
                format!(
                    "the context {} ({}) has {n} children that were never cancelled{}",
                    root,
                    a.type_name(o),
                    if retained > 0 { format!(", retaining {}", bytes(retained)) } else { String::new() }
                ),
                "call the cancel function of every context.WithCancel/WithTimeout/WithDeadline (defer \
                 cancel()): a child stays in its parent's children until it is cancelled",
            );
            f.objects = vec![a.heap.addr(o) + a.heap.header_size(o)];
            f.retained_bytes = retained;
            f.count = n;
            f.type_name = Some(a.type_name(o));
            f.root = Some(root);
            f.path = path;
            f
        })
        .collect()
}

/// The memory finding: the process's memory lies mostly outside the heap's objects
/// (fragmentation, free spans not returned, huge stacks, runtime metadata, non-Go memory).
pub fn memory(o: &OutsideLive) -> Option<Finding> {
    if !o.mostly_outside {
        return None;
    }
    let outside = o.memory_bytes.saturating_sub(o.heap_object_bytes);
    let main = o.causes.first();
    let mut f = Finding::new(
        Kind::Memory,
        Severity::Medium,
        format!(
            "{:.0}% of the process's memory ({} of {}) is outside the heap's objects{}",
            100.0 * (1.0 - o.heap_object_share),
            bytes(outside),
            bytes(o.memory_bytes),
            main.map(|c| format!(": {}", c.why)).unwrap_or_default()
        ),
        match main.map(|c| c.cause) {
            Some(crate::analysis::memory::Cause::Fragmentation) => {
                "the heap's spans are mostly free slots: many objects of one size were freed while a few \
                 of each span stay live; GOGC/GOMEMLIMIT and debug.FreeOSMemory do not help, fewer \
                 long-lived small objects among short-lived ones do"
            }
            Some(crate::analysis::memory::Cause::UnreturnedFreeSpans) => {
                "free heap not yet returned to the OS: set GOMEMLIMIT (the scavenger returns memory to stay \
                 under it) or call debug.FreeOSMemory after a spike"
            }
            Some(crate::analysis::memory::Cause::Stacks) => {
                "goroutine stacks take the memory: look for leaked goroutines or deep recursion"
            }
            Some(crate::analysis::memory::Cause::NonGo) => {
                "memory the Go runtime does not own (cgo/C allocations, mapped files, other libraries): \
                 look at the C side"
            }
            _ => "see `gomortem memory` for where the memory went",
        },
    );
    f.retained_bytes = outside;
    f.count = o.causes.len() as u64;
    // What it is about: the biggest cause.
    f.type_name = main.map(|c| c.cause.name().to_string());
    f.details = o.causes.iter().map(|c| c.why.clone()).collect();
    Some(f)
}
