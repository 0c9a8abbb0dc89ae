//! The `channels` report: every channel with its waiting senders and receivers, every sync
//! primitive goroutines wait on, and which of them can never make progress (stuck).

use std::fmt::Write as _;

use serde::Serialize;

use super::SCHEMA_VERSION;
use crate::analysis::diagnose::blocking::{Blocking, Chan, Lock, Primitive, WaitOn};
use crate::analysis::diagnose::Stuck;
use crate::analysis::HeapAnalysis;

/// Holders named per channel or lock, at most.
const MAX_HOLDERS: usize = 5;

/// A channel, for JSON (also the report's `channels` entries).
#[derive(Serialize, Clone, Debug)]
pub struct ChanRow {
    pub address: String,
    pub elem_type: String,
    pub capacity: u64,
    pub len: u64,
    pub closed: bool,
    /// Goroutines waiting to send, to receive (ids, ascending).
    pub senders: Vec<u64>,
    pub receivers: Vec<u64>,
    /// Those of the waiters that wait in a `select` (with this channel as one of its cases).
    pub in_select: Vec<u64>,
    /// Has waiters, and none of them can ever be woken.
    pub stuck: bool,
    /// The timer that sends on it, if any.
    pub timer: Option<TimerRow>,
    /// Who points to it: roots named as `path` names them (`goroutine 19 main.worker ch`,
    /// `main.jobs`), and heap objects by their path from a root; at most 5 (for channels with
    /// waiters).
    pub referenced_by: Vec<String>,
    /// How many roots and objects point to it in all (for channels with waiters).
    pub references: usize,
}

#[derive(Serialize, Clone, Debug)]
pub struct TimerRow {
    pub address: String,
    /// 0 for a one-shot timer.
    pub period_ns: i64,
    pub active: bool,
}

/// A sync primitive goroutines wait on.
#[derive(Serialize, Clone, Debug)]
pub struct LockRow {
    pub address: String,
    /// `sync.Mutex`, `sync.RWMutex`, `sync.WaitGroup`, `sync.Cond`, `semaphore`.
    pub primitive: &'static str,
    /// What the waiters wait for: `lock`, `rlock`, `wait`.
    pub wait: &'static str,
    /// The semaphore word the waiters queue on.
    pub sema: String,
    /// The object holding it (`main.server @ 0x…`) and its path from a root, if on the heap.
    pub holder: Option<String>,
    pub waiters: Vec<u64>,
    /// A Mutex's locked bit; a WaitGroup's counter.
    pub locked: Option<bool>,
    pub counter: Option<u64>,
    /// Goroutines (not waiting on it) whose stacks point to its object: a Mutex's holder is
    /// among them; so is whoever may call a WaitGroup's Done.
    pub referenced_by: Vec<u64>,
    pub stuck: bool,
}

#[derive(Serialize)]
pub struct ChannelsDoc {
    pub schema_version: &'static str,
    pub command: &'static str,
    pub stuck_goroutines: Vec<u64>,
    /// Goroutines waiting on a nil channel or in `select {}` (stuck by definition).
    pub waiting_forever: Vec<u64>,
    pub channels: Vec<ChanRow>,
    pub locks: Vec<LockRow>,
    pub warnings: Vec<String>,
}

/// The channels and locks (only the stuck ones with `stuck_only`).
pub fn channels(a: &HeapAnalysis, b: &Blocking, s: &Stuck, stuck_only: bool) -> ChannelsDoc {
    let chans: Vec<&Chan> = b.chans.iter().filter(|c| !stuck_only || c.stuck).collect();
    let mut rows = chan_rows(a, b, &chans);
    rows.sort_by_key(|r| std::cmp::Reverse((r.stuck, r.senders.len() + r.receivers.len())));
    let locks = lock_rows(a, b, stuck_only);
    let mut warnings = a.warnings.clone();
    warnings.extend(b.warnings.iter().cloned());
    ChannelsDoc {
        schema_version: SCHEMA_VERSION,
        command: "channels",
        stuck_goroutines: s.goroutines.clone(),
        waiting_forever: b
            .waits
            .iter()
            .filter(|w| matches!(w.on, WaitOn::Never))
            .map(|w| w.goroutine)
            .collect(),
        channels: rows,
        locks,
        warnings,
    }
}

/// Rows of `chans`, with who references the ones that have waiters.
pub fn chan_rows(a: &HeapAnalysis, b: &Blocking, chans: &[&Chan]) -> Vec<ChanRow> {
    let waited: Vec<u32> = chans
        .iter()
        .filter(|c| !c.senders.is_empty() || !c.receivers.is_empty())
        .filter_map(|c| c.obj)
        .collect();
    // The wait queues' sudogs point to their channels: not holders.
    let sudogs: rustc_hash::FxHashSet<u32> =
        b.waits.iter().flat_map(|w| &w.sudogs).filter_map(|&s| a.heap.find_object(s)).collect();
    let into = if waited.is_empty() { Vec::new() } else { a.graph.edges_into(&waited) };
    let waited_set: rustc_hash::FxHashSet<u32> = waited.iter().copied().collect();
    let mut root_refs: rustc_hash::FxHashMap<u32, Vec<usize>> = Default::default();
    for (i, e) in a.roots.edges.iter().enumerate() {
        if waited_set.contains(&e.object) {
            root_refs.entry(e.object).or_default().push(i);
        }
    }
    let ids = |ws: &[crate::analysis::diagnose::blocking::Waiter]| {
        let mut v: Vec<u64> = ws.iter().map(|w| w.goroutine).collect();
        v.sort_unstable();
        v
    };
    chans
        .iter()
        .map(|c| {
            let mut referenced_by = Vec::new();
            let mut references = 0;
            if let Some(o) = c.obj.filter(|o| waited_set.contains(o)) {
                for &i in root_refs.get(&o).into_iter().flatten() {
                    references += 1;
                    if referenced_by.len() < MAX_HOLDERS {
                        referenced_by.push(a.roots.path(a.p, &a.roots.edges[i]));
                    }
                }
                let lo = into.partition_point(|&(t, _)| t < o);
                for &(_, src) in into[lo..].iter().take_while(|&&(t, _)| t == o) {
                    if sudogs.contains(&src) {
                        continue;
                    }
                    references += 1;
                    if referenced_by.len() < MAX_HOLDERS {
                        referenced_by.push(holder_path(a, src, o));
                    }
                }
            }
            let mut in_select: Vec<u64> =
                c.senders.iter().chain(&c.receivers).filter(|w| w.select).map(|w| w.goroutine).collect();
            in_select.sort_unstable();
            ChanRow {
                address: format!("{:#x}", c.addr),
                elem_type: c.elem_type.clone(),
                capacity: c.cap,
                len: c.len,
                closed: c.closed,
                senders: ids(&c.senders),
                receivers: ids(&c.receivers),
                in_select,
                stuck: c.stuck,
                timer: c.timer.map(|t| TimerRow {
                    address: format!("{:#x}", t.addr),
                    period_ns: t.period,
                    active: t.active,
                }),
                referenced_by,
                references,
            }
        })
        .collect()
}

/// `ROOT → … TYPE @ ADDR .field` for a heap object `src` pointing to `dst`.
fn holder_path(a: &HeapAnalysis, src: u32, dst: u32) -> String {
    let mut s = a
        .path_to(src)
        .map(|l| l.join(" "))
        .unwrap_or_else(|| format!("{} @ {:#x} (unreachable)", a.type_name(src), a.heap.addr(src)));
    if let Some(f) = crate::analysis::heap::graph::first_pointer_to(a.p, &a.heap, src, dst) {
        s.push(' ');
        s.push_str(&crate::analysis::heap::paths::field_name(a, src, f as u64));
    }
    s
}

/// The sync primitives goroutines wait on (only the stuck ones with `stuck_only`).
pub fn lock_rows(a: &HeapAnalysis, b: &Blocking, stuck_only: bool) -> Vec<LockRow> {
    b.locks.iter().filter(|l| !stuck_only || l.stuck).map(|l| lock_row(a, l)).collect()
}

fn lock_row(a: &HeapAnalysis, l: &Lock) -> LockRow {
    let holder = l.obj.map(|o| {
        let path = a.path_to(o).map(|p| p.join(" ")).unwrap_or_else(|| "unreachable".into());
        let off = l.addr.saturating_sub(a.heap.addr(o) + a.heap.header_size(o));
        let field = if off > 0 {
            format!(" {}", crate::analysis::heap::paths::field_name(a, o, off))
        } else {
            String::new()
        };
        format!("{}{field} (path: {path})", a.type_name(o))
    });
    LockRow {
        address: format!("{:#x}", l.addr),
        primitive: l.primitive.name(),
        wait: match l.primitive {
            Primitive::Mutex | Primitive::RwMutexWrite => "lock",
            Primitive::RwMutexRead => "rlock",
            Primitive::WaitGroup | Primitive::Cond | Primitive::Semaphore => "wait",
        },
        sema: format!("{:#x}", l.sema),
        holder,
        waiters: l.waiters.clone(),
        locked: l.locked,
        counter: l.counter,
        referenced_by: l.referenced_by.clone(),
        stuck: l.stuck,
    }
}

/// The channels document as text.
pub fn channels_text(d: &ChannelsDoc) -> String {
    use super::text::id_ranges;
    let mut o = String::new();
    let waited: Vec<&ChanRow> =
        d.channels.iter().filter(|c| !c.senders.is_empty() || !c.receivers.is_empty()).collect();
    let stuck = waited.iter().filter(|c| c.stuck).count();
    let _ = writeln!(
        o,
        "{} channels; {} with waiting goroutines, {stuck} of them stuck (no goroutine that can run will ever \
         reach them); {} goroutines stuck in all\n",
        d.channels.len(),
        waited.len(),
        d.stuck_goroutines.len()
    );
    for c in &waited {
        let state = if c.stuck { "STUCK" } else { "ok" };
        let closed = if c.closed { ", closed" } else { "" };
        let timer = match &c.timer {
            Some(t) if t.period_ns > 0 => format!(", ticker every {}", duration(t.period_ns)),
            Some(_) => ", timer".to_string(),
            None => String::new(),
        };
        let _ = writeln!(
            o,
            "chan {} @ {} [{state}] len {} cap {}{closed}{timer}",
            c.elem_type, c.address, c.len, c.capacity
        );
        let sel = |ids: &[u64]| {
            let n = ids.iter().filter(|i| c.in_select.binary_search(i).is_ok()).count();
            if n == 0 {
                String::new()
            } else if n == ids.len() {
                " (in select)".into()
            } else {
                format!(" ({n} in select)")
            }
        };
        if !c.senders.is_empty() {
            let _ = writeln!(
                o,
                "  {} waiting to send{}: {}",
                c.senders.len(),
                sel(&c.senders),
                id_ranges(&c.senders, 12)
            );
        }
        if !c.receivers.is_empty() {
            let _ = writeln!(
                o,
                "  {} waiting to receive{}: {}",
                c.receivers.len(),
                sel(&c.receivers),
                id_ranges(&c.receivers, 12)
            );
        }
        for r in &c.referenced_by {
            let _ = writeln!(o, "  held by {r}");
        }
        if c.references > c.referenced_by.len() {
            let _ = writeln!(o, "  … and {} more references", c.references - c.referenced_by.len());
        }
        o.push('\n');
    }
    let idle = d.channels.len() - waited.len();
    if idle > 0 {
        let _ = writeln!(o, "{idle} channels without waiting goroutines (listed in --json)\n");
    }
    if !d.locks.is_empty() {
        let _ = writeln!(o, "sync primitives with waiting goroutines:\n");
        for l in &d.locks {
            let state = if l.stuck { "STUCK" } else { "ok" };
            let extra = match (l.locked, l.counter) {
                (Some(true), _) => ", locked".to_string(),
                (Some(false), _) => ", unlocked".to_string(),
                (_, Some(n)) => format!(", counter {n}"),
                _ => String::new(),
            };
            let _ = writeln!(o, "{} @ {} [{state}]{extra}", l.primitive, l.address);
            if let Some(h) = &l.holder {
                let _ = writeln!(o, "  in {h}");
            }
            let _ = writeln!(o, "  {} waiting to {}: {}", l.waiters.len(), l.wait, id_ranges(&l.waiters, 12));
            if !l.referenced_by.is_empty() {
                let _ = writeln!(
                    o,
                    "  also referenced by the stacks of goroutines {} (the holder, if locked, is among them)",
                    id_ranges(&l.referenced_by, 12)
                );
            }
            o.push('\n');
        }
    }
    let never = &d.waiting_forever;
    if !never.is_empty() {
        let _ = writeln!(
            o,
            "{} goroutines wait on a nil channel or in select {{}}: {}\n",
            never.len(),
            id_ranges(never, 12)
        );
    }
    for w in &d.warnings {
        let _ = writeln!(o, "warning: {w}");
    }
    o
}

/// `1h30m`, `2s`, `150ms`: a duration as Go prints it, roughly.
pub fn duration(ns: i64) -> String {
    let s = ns as f64 / 1e9;
    if ns % 3_600_000_000_000 == 0 {
        format!("{}h", ns / 3_600_000_000_000)
    } else if ns % 60_000_000_000 == 0 {
        format!("{}m", ns / 60_000_000_000)
    } else if s >= 1.0 {
        format!("{s}s")
    } else {
        format!("{}ms", ns as f64 / 1e6)
    }
}
