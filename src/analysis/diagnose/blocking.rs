//! What each blocked goroutine waits on, every channel with its waiting senders and
//! receivers, every sync primitive with its waiters, and the timers of package time.
//!
//! A goroutine is a *candidate* (it may never wake up) when it waits on something only another
//! goroutine can provide: a channel operation or a `select` (the channels of its `sudog`s), a
//! nil channel or `select {}` (never), or a sync primitive (the semaphore word its `sudog`
//! queues on: from `g.waiting` in Go 1.26+, else from the semaphore table; a `sync.Cond` before
//! 1.26 by the receiver its `Wait` frame holds). Whether it can is [`super::stuck`]'s job.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use serde::Serialize;

use crate::analysis::heap::typing::ObjKind;
use crate::analysis::HeapAnalysis;
use crate::runtime::goroutines::Goroutine;
use crate::runtime::waits::{ChanState, Sudog, TimerState};
use crate::runtime::Status;

/// The direction of a channel operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    Send,
    Recv,
}

/// One channel a goroutine waits on: a channel operation, or one case of a `select`.
#[derive(Clone, Copy, Debug)]
pub struct ChanCase {
    pub chan: u64,
    pub dir: Dir,
    pub select: bool,
}

/// A sync primitive (what the goroutine's frames say it called).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Primitive {
    Mutex,
    /// `RWMutex.RLock`, waiting for the writer.
    RwMutexRead,
    /// `RWMutex.Lock`, waiting for readers or another writer.
    RwMutexWrite,
    WaitGroup,
    Cond,
    /// A semaphore of the runtime or of another package (`semacquire`).
    Semaphore,
}

impl Primitive {
    pub fn name(self) -> &'static str {
        match self {
            Primitive::Mutex => "sync.Mutex",
            Primitive::RwMutexRead | Primitive::RwMutexWrite => "sync.RWMutex",
            Primitive::WaitGroup => "sync.WaitGroup",
            Primitive::Cond => "sync.Cond",
            Primitive::Semaphore => "semaphore",
        }
    }
}

/// What a candidate goroutine waits on.
#[derive(Clone, Debug)]
pub enum WaitOn {
    /// Channel operations: one, or the cases of a `select`.
    Chans(Vec<ChanCase>),
    /// A nil channel or `select {}`: nothing can wake it (the wait reason says which).
    Never,
    /// A sync primitive: the address of the word its waiters queue on, and the primitive's
    /// own address where the binary's layouts tell it.
    Sync { sema: u64, primitive: Primitive, lock: u64 },
}

/// A goroutine that waits on something only another goroutine can provide.
#[derive(Clone, Debug)]
pub struct Wait {
    pub goroutine: u64,
    pub on: WaitOn,
    /// The `sudog`s it waits through: the stuck analysis does not follow their pointers (to
    /// the channel or the primitive), as Go's leak detector hides them from the collector.
    pub sudogs: Vec<u64>,
}

/// A goroutine waiting in a channel's queue.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Waiter {
    pub goroutine: u64,
    pub select: bool,
}

/// A channel: its state, who waits on it, and whether it can ever make progress.
#[derive(Clone, Debug)]
pub struct Chan {
    pub addr: u64,
    /// The heap object (channels are always on the heap).
    pub obj: Option<u32>,
    pub elem_type: String,
    pub cap: u64,
    pub len: u64,
    pub closed: bool,
    /// The timer that sends on it (a `time.Ticker`/`Timer`/`After` channel).
    pub timer: Option<TimerState>,
    pub senders: Vec<Waiter>,
    pub receivers: Vec<Waiter>,
    /// Set by the stuck analysis: has waiters, and all of them are stuck.
    pub stuck: bool,
}

/// A sync primitive that goroutines wait on.
#[derive(Clone, Debug)]
pub struct Lock {
    /// The word the waiters queue on (`sema`, `readerSem`, `notify`…).
    pub sema: u64,
    /// The primitive's address (the sync.Mutex, WaitGroup…), or `sema` if unknown.
    pub addr: u64,
    pub primitive: Primitive,
    /// The heap object holding it, if on the heap.
    pub obj: Option<u32>,
    /// A Mutex's locked bit; a WaitGroup's counter.
    pub locked: Option<bool>,
    pub counter: Option<u64>,
    pub waiters: Vec<u64>,
    /// Goroutines, not among the waiters, whose stacks point to the object holding it: the
    /// holder of a Mutex is among them (Go does not record who holds a lock), and so is whoever
    /// may call a WaitGroup's Done.
    pub referenced_by: Vec<u64>,
    /// Set by the stuck analysis: every waiter is stuck.
    pub stuck: bool,
}

/// A timer of package time (a `time.Ticker`, `time.Timer`, `time.After`).
#[derive(Clone, Copy, Debug)]
pub struct Timer {
    /// The object `time.NewTicker`/`NewTimer` allocated.
    pub obj: u32,
    pub state: TimerState,
}

/// Who waits on what.
#[derive(Default)]
pub struct Blocking {
    pub waits: Vec<Wait>,
    pub chans: Vec<Chan>,
    pub locks: Vec<Lock>,
    pub timers: Vec<Timer>,
    /// Per goroutine id: the indices of its roots (stack, context, defers).
    pub roots_of: HashMap<u64, Vec<u32>>,
    pub warnings: Vec<String>,
}

/// The wait reasons of candidates, by the runtime's own strings (stable across releases).
fn chan_wait(reason: &str) -> bool {
    matches!(
        reason,
        "chan receive"
            | "chan send"
            | "select"
            | "chan receive (durable)"
            | "chan send (durable)"
            | "select (durable)"
    )
}

fn never_wait(reason: &str) -> bool {
    matches!(reason, "chan receive (nil chan)" | "chan send (nil chan)" | "select (no cases)")
}

fn sync_wait(reason: &str) -> bool {
    matches!(
        reason,
        "sync.Cond.Wait"
            | "sync.Mutex.Lock"
            | "sync.RWMutex.RLock"
            | "sync.RWMutex.Lock"
            | "sync.WaitGroup.Wait"
            | "semacquire"
    )
}

/// The sync primitive a goroutine's frames show it waiting on, and the offset of the word it
/// queues on within it.
fn primitive_of(a: &HeapAnalysis, g: &Goroutine) -> (Primitive, Option<u64>) {
    let s = a.p.layouts.sync.as_ref().map(|l| &l.sema);
    let has = |f: &str| g.frames.iter().any(|fr| fr.function == f);
    let off = |o: Option<Option<u64>>| o.flatten();
    if has("sync.(*WaitGroup).Wait") {
        (Primitive::WaitGroup, off(s.map(|s| s.wg_sema)))
    } else if has("sync.(*Cond).Wait") {
        (Primitive::Cond, off(s.map(|s| s.cond_notify)))
    } else if has("sync.(*RWMutex).RLock") {
        (Primitive::RwMutexRead, off(s.map(|s| s.rw_reader_sem)))
    } else if has("sync.(*RWMutex).Lock") {
        // Waiting for the writers' mutex, or for the readers to leave.
        let inner_mutex = g.frames.iter().any(|f| f.function.ends_with(".(*Mutex).Lock"));
        let o = if inner_mutex { s.map(|s| s.rw_w_sema) } else { s.map(|s| s.rw_writer_sem) };
        (Primitive::RwMutexWrite, off(o))
    } else if g.frames.iter().any(|f| f.function.ends_with("sync.(*Mutex).Lock")) {
        (Primitive::Mutex, off(s.map(|s| s.mutex_sema)))
    } else {
        (Primitive::Semaphore, None)
    }
}

impl Blocking {
    /// Read who waits on what.
    pub fn read(a: &HeapAnalysis, gs: &[Goroutine]) -> Blocking {
        let p = a.p;
        let mut out = Blocking::default();
        if p.layouts.sync.is_none() {
            out.warnings.push(format!(
                "no channels, locks or stuck goroutines: {} lacks {}",
                p.layouts.source,
                p.layouts.sync_missing.join(", ")
            ));
            return out;
        }
        for (i, r) in a.roots.roots.iter().enumerate() {
            if let Some(id) = r.goroutine {
                out.roots_of.entry(id).or_default().push(i as u32);
            }
        }
        let goid: HashMap<u64, u64> = gs.iter().map(|g| (g.addr, g.id)).collect();
        let sema_of_g: HashMap<u64, Sudog> = match p.sema_waiters() {
            Ok(w) => w.into_iter().map(|w| (w.sudog.g, w.sudog)).collect(),
            Err(e) => {
                out.warnings.push(format!("semaphore waiters unknown: {e}"));
                HashMap::default()
            }
        };
        let mut chan_addrs: Vec<u64> = Vec::new();
        let mut send_queues: HashMap<u64, HashSet<u64>> = HashMap::default();
        for g in gs.iter().filter(|g| !g.runtime_internal) {
            let reason = g.wait_reason.as_deref().unwrap_or("");
            if !matches!(g.status, Status::Waiting | Status::Leaked) {
                continue;
            }
            let waiting = p.g_waiting(g.addr);
            if chan_wait(reason) {
                let cases: Vec<ChanCase> = waiting
                    .iter()
                    .filter(|s| s.chan != 0)
                    .map(|s| {
                        let dir = match reason {
                            "chan send" | "chan send (durable)" => Dir::Send,
                            "chan receive" | "chan receive (durable)" => Dir::Recv,
                            // A select case: sends queue on the channel's sendq (each channel's
                            // queue read once: 100,000 selects may share one).
                            _ => {
                                let sending = send_queues.entry(s.chan).or_insert_with(|| {
                                    p.chan_state(s.chan)
                                        .map(|c| c.sendq.iter().map(|w| w.addr).collect())
                                        .unwrap_or_default()
                                });
                                if sending.contains(&s.addr) {
                                    Dir::Send
                                } else {
                                    Dir::Recv
                                }
                            }
                        };
                        ChanCase { chan: s.chan, dir, select: s.is_select }
                    })
                    .collect();
                if cases.is_empty() {
                    out.warnings.push(format!(
                        "goroutine {} waits on a channel ({reason}) but lists no sudog: taken as able to wake",
                        g.id
                    ));
                    continue;
                }
                chan_addrs.extend(cases.iter().map(|c| c.chan));
                out.waits.push(Wait {
                    goroutine: g.id,
                    on: WaitOn::Chans(cases),
                    sudogs: waiting.iter().map(|s| s.addr).collect(),
                });
            } else if never_wait(reason) {
                out.waits.push(Wait { goroutine: g.id, on: WaitOn::Never, sudogs: Vec::new() });
            } else if sync_wait(reason) {
                let (primitive, sema_off) = primitive_of(a, g);
                // Go 1.26+ records the sync wait in g.waiting (its elem is the semaphore word or
                // the Cond's notify list); before, a semaphore waiter is in the semaphore table,
                // and a Cond waiter only on its stack.
                let sudog = waiting.first().copied().or_else(|| sema_of_g.get(&g.addr).copied());
                let sema = match sudog {
                    Some(s) if s.elem != 0 => Some(s.elem),
                    _ if primitive == Primitive::Cond => {
                        cond_of(a, &out.roots_of, g).zip(sema_off).map(|(c, off)| c + off)
                    }
                    _ => None,
                };
                let Some(sema) = sema else {
                    out.warnings.push(format!(
                        "goroutine {} waits on a {} but the dump does not say which: taken as able to wake",
                        g.id,
                        primitive.name()
                    ));
                    continue;
                };
                let lock = sema_off.and_then(|o| sema.checked_sub(o)).unwrap_or(sema);
                out.waits.push(Wait {
                    goroutine: g.id,
                    on: WaitOn::Sync { sema, primitive, lock },
                    sudogs: sudog.map(|s| s.addr).into_iter().collect(),
                });
            }
        }
        out.timers = timers(a);
        out.chans = channels(a, &goid, chan_addrs, &out.timers, &mut out.warnings);
        out.locks = locks(a, &out.waits, &out.roots_of);
        out
    }
}

/// The `sync.Cond` a goroutine waits on, before Go 1.26 (which records it in `g.waiting`):
/// among the pointers its `sync.(*Cond).Wait` frame holds, the one to a Cond whose notify list
/// holds this goroutine's `sudog`.
fn cond_of(a: &HeapAnalysis, roots_of: &HashMap<u64, Vec<u32>>, g: &Goroutine) -> Option<u64> {
    let p = a.p;
    let l = p.layouts.sync.as_ref()?;
    let (notify, head) = (l.sema.cond_notify?, l.sema.notify_head?);
    let frame = format!("goroutine {} sync.(*Cond).Wait", g.id);
    let roots = roots_of.get(&g.id)?;
    let waits_here = |cond: u64| {
        let mut sg = p.mem.read_u64(cond.saturating_add(notify + head)).unwrap_or(0);
        for _ in 0..1 << 16 {
            if sg == 0 {
                return false;
            }
            if p.mem.read_u64(sg.saturating_add(l.sudog_g)) == Some(g.addr) {
                return true;
            }
            sg = p.mem.read_u64(sg.saturating_add(l.sudog_next)).unwrap_or(0);
        }
        false
    };
    // The words of that frame's roots (a frame is small; the edges of every root are not).
    roots
        .iter()
        .map(|&r| &a.roots.roots[r as usize])
        .filter(|r| r.name.starts_with(&frame))
        .flat_map(|r| {
            (0..r.size.min(1 << 12))
                .step_by(8)
                .filter_map(move |off| p.mem.read_u64(r.addr.saturating_add(off)))
        })
        .find(|&v| v != 0 && a.heap.find_object(v).is_some() && waits_here(v))
}

/// Every `time.Ticker`/`Timer` object on the heap (those `time.NewTicker`, `NewTimer` and
/// `After` allocate: objects of their size whose timer runs `time.sendTime`).
fn timers(a: &HeapAnalysis) -> Vec<Timer> {
    use rayon::prelude::*;
    let p = a.p;
    let (Some((size, _, timer_off)), Some(send_time)) = (p.ticker_layout(), p.func_entry("time.sendTime"))
    else {
        return Vec::new();
    };
    let l = p.layouts.sync.as_ref().expect("ticker_layout implies the sync layout");
    // Objects of the size class of the ticker's size (the next class is at most 1/8 bigger
    // for such sizes).
    a.heap
        .par_object_runs()
        .filter(|(_, slot, header)| *slot >= size + header && *slot < size + size / 4 + 16 + header)
        .flat_map_iter(|(objs, _, header)| {
            objs.filter_map(move |o| {
                let base = a.heap.addr(o) + header;
                let f = p.mem.read_u64(base.saturating_add(timer_off + l.timer_f))?;
                (f != 0 && p.mem.read_u64(f)? == send_time)
                    .then(|| p.timer(base + timer_off))
                    .flatten()
                    .map(|state| Timer { obj: o, state })
            })
        })
        .collect()
}

/// Every channel: the heap objects typed as channels, and those goroutines wait on.
fn channels(
    a: &HeapAnalysis,
    goid: &HashMap<u64, u64>,
    waited: Vec<u64>,
    timers: &[Timer],
    warnings: &mut Vec<String>,
) -> Vec<Chan> {
    use rayon::prelude::*;
    let chan_entries: Vec<u32> = a
        .typing
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e.kind, ObjKind::Chan(_)))
        .map(|(i, _)| i as u32)
        .collect();
    let mut addrs: Vec<u64> = if chan_entries.is_empty() {
        Vec::new()
    } else {
        a.heap
            .par_object_runs()
            .flat_map_iter(|(objs, _, header)| {
                let e = &chan_entries;
                objs.filter(move |&o| e.contains(&a.typing.entry_index(o)))
                    .map(move |o| a.heap.addr(o) + header)
            })
            .collect()
    };
    addrs.extend(waited);
    addrs.sort_unstable();
    addrs.dedup();
    let timer_of: HashMap<u64, TimerState> =
        timers.iter().filter(|t| t.state.chan != 0).map(|t| (t.state.chan, t.state)).collect();
    let types = &a.types;
    let waiters = |q: &[Sudog]| -> Vec<Waiter> {
        q.iter().filter_map(|s| Some(Waiter { goroutine: *goid.get(&s.g)?, select: s.is_select })).collect()
    };
    let mut unreadable = 0;
    let out: Vec<Chan> = addrs
        .iter()
        .filter_map(|&addr| {
            let c: ChanState = match a.p.chan_state(addr) {
                Ok(c) => c,
                Err(_) => {
                    unreadable += 1;
                    return None;
                }
            };
            let timer = c.timer.and_then(|t| a.p.timer(t)).or_else(|| timer_of.get(&addr).copied());
            Some(Chan {
                addr,
                obj: a.heap.find_object(addr),
                elem_type: if c.elem_type != 0 { types.name(c.elem_type) } else { "?".into() },
                // A timer channel of Go 1.23+ reports 0 for both (chan.go chanlen/chancap).
                cap: if c.timer.is_some() { 0 } else { c.cap },
                len: if c.timer.is_some() { 0 } else { c.len },
                closed: c.closed,
                timer,
                senders: waiters(&c.sendq),
                receivers: waiters(&c.recvq),
                stuck: false,
            })
        })
        .collect();
    if unreadable > 0 {
        warnings.push(format!("{unreadable} channels could not be read (not in the dump)"));
    }
    out
}

/// Every sync primitive with waiters, grouped by the word they queue on.
fn locks(a: &HeapAnalysis, waits: &[Wait], roots_of: &HashMap<u64, Vec<u32>>) -> Vec<Lock> {
    let mut by_sema: HashMap<u64, Lock> = HashMap::default();
    for w in waits {
        let WaitOn::Sync { sema, primitive, lock } = w.on else { continue };
        let l = by_sema.entry(sema).or_insert_with(|| Lock {
            sema,
            addr: lock,
            primitive,
            obj: a.heap.find_object(sema),
            locked: None,
            counter: None,
            waiters: Vec::new(),
            referenced_by: Vec::new(),
            stuck: false,
        });
        l.waiters.push(w.goroutine);
    }
    let s = a.p.layouts.sync.as_ref().map(|l| l.sema.clone()).unwrap_or_default();
    let mut locks: Vec<Lock> = by_sema.into_values().collect();
    // Goroutines whose stacks point to a lock's object.
    let objs: HashSet<u32> = locks.iter().filter_map(|l| l.obj).collect();
    let mut refs: HashMap<u32, Vec<u64>> = HashMap::default();
    if !objs.is_empty() {
        for (goid, roots) in roots_of {
            for &r in roots {
                let Some(edges) = a.root_edges.binary_search_by_key(&r, |e| e.root).ok() else { continue };
                for &o in &a.root_edges[edges].objects {
                    if objs.contains(&o) {
                        refs.entry(o).or_default().push(*goid);
                    }
                }
            }
        }
    }
    for l in &mut locks {
        l.waiters.sort_unstable();
        let m = &a.p.mem;
        match l.primitive {
            Primitive::Mutex => {
                l.locked =
                    s.mutex_state.and_then(|o| m.read_u32(l.addr.saturating_add(o))).map(|st| st & 1 == 1);
            }
            Primitive::WaitGroup => {
                l.counter = s.wg_state.and_then(|o| m.read_u64(l.addr.saturating_add(o))).map(|st| st >> 32);
            }
            _ => {}
        }
        if let Some(o) = l.obj {
            let mut r = refs.get(&o).cloned().unwrap_or_default();
            r.sort_unstable();
            r.dedup();
            r.retain(|g| l.waiters.binary_search(g).is_err());
            l.referenced_by = r;
        }
    }
    locks.sort_by_key(|l| (std::cmp::Reverse(l.waiters.len()), l.addr));
    locks
}
