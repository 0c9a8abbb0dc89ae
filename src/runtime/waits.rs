//! What goroutines block on, as the runtime records it: channels (`hchan`) and their wait
//! queues of `sudog`s, the `sudog`s a goroutine waits through (`g.waiting`: one per channel
//! operation, one per case of a `select`; and, from Go 1.26, the one of a sync wait), the
//! semaphore table (`runtime.semtable`: a treap of `sudog`s per bucket, keyed by the address of
//! the semaphore word, each with the list of the goroutines waiting on that address), and
//! timers (`runtime.timer`, and the `time.Ticker`/`time.Timer` objects that hold them).
//!
//! Everything here reads the dump through the layouts of [`SyncLayout`]; lists are followed
//! with a bound, so a corrupt dump gives short lists, not a hang.

use super::layout::SyncLayout;
use super::Process;
use crate::{Error, Result};

/// Most `sudog`s followed along one list, and nodes visited in one treap.
const MAX_LIST: usize = 1 << 20;

/// One `sudog`: a goroutine waiting on a channel or a semaphore.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sudog {
    pub addr: u64,
    /// The waiting goroutine's `g`.
    pub g: u64,
    /// Channels: the value being sent or the slot to receive into (often on the goroutine's
    /// stack). Semaphores: the address of the semaphore word.
    pub elem: u64,
    /// The channel (`hchan`), 0 for semaphores.
    pub chan: u64,
    /// A case of a `select`.
    pub is_select: bool,
}

/// A channel, as `hchan` holds it.
#[derive(Clone, Debug)]
pub struct ChanState {
    pub addr: u64,
    /// The element type's `abi.Type` (0 if unreadable).
    pub elem_type: u64,
    pub elem_size: u64,
    /// Values in the buffer, and its size (`cap`).
    pub len: u64,
    pub cap: u64,
    pub closed: bool,
    /// The timer of a timer channel (`time.Ticker.C`, `time.After`; Go 1.23+).
    pub timer: Option<u64>,
    pub recvq: Vec<Sudog>,
    pub sendq: Vec<Sudog>,
}

/// A goroutine waiting on a semaphore (sync.Mutex, RWMutex, WaitGroup, semaphores of the
/// runtime), as the semaphore table holds it.
#[derive(Clone, Copy, Debug)]
pub struct SemaWaiter {
    /// The semaphore word's address (inside the sync object).
    pub addr: u64,
    pub sudog: Sudog,
}

/// A `runtime.timer` and what package time made it for.
#[derive(Clone, Copy, Debug)]
pub struct TimerState {
    /// The `runtime.timer`.
    pub addr: u64,
    /// When it fires next (the runtime's `nanotime` clock), 0 if not set.
    pub when: i64,
    /// The ticker's period (0 for a one-shot timer).
    pub period: i64,
    /// Set and not stopped: it will fire (and send on its channel).
    pub active: bool,
    /// The channel it sends on (`time.Ticker.C`, `time.Timer.C`), 0 if not a channel timer.
    pub chan: u64,
    /// The function it runs: `time.sendTime` for channel timers.
    pub func: u64,
}

impl Process {
    fn sync_layout(&self) -> Result<&SyncLayout> {
        self.layouts.sync.as_ref().ok_or_else(|| {
            Error::Unsupported(format!(
                "{} lacks the layouts of channels and semaphores: {}",
                self.layouts.source,
                self.layouts.sync_missing.join(", ")
            ))
        })
    }

    /// One `sudog`.
    pub fn sudog(&self, addr: u64) -> Option<Sudog> {
        let l = self.layouts.sync.as_ref()?;
        let m = &self.mem;
        Some(Sudog {
            addr,
            g: m.read_u64(addr.saturating_add(l.sudog_g))?,
            elem: m.read_u64(addr.saturating_add(l.sudog_elem)).unwrap_or(0),
            chan: m.read_u64(addr.saturating_add(l.sudog_c)).unwrap_or(0),
            is_select: m.read_u8(addr.saturating_add(l.sudog_is_select)).unwrap_or(0) != 0,
        })
    }

    /// The `sudog`s of a list linked by the field at `link`, from `first`.
    fn sudog_list(&self, first: u64, link: u64) -> Vec<Sudog> {
        let mut out = Vec::new();
        let mut seen = rustc_hash::FxHashSet::default();
        let mut sg = first;
        // A corrupt list may loop: each sudog once.
        while sg != 0 && out.len() < MAX_LIST && seen.insert(sg) {
            let Some(s) = self.sudog(sg) else { break };
            out.push(s);
            sg = self.mem.read_u64(sg.saturating_add(link)).unwrap_or(0);
        }
        out
    }

    /// The `sudog`s a goroutine waits through (`g.waiting`, linked by `waitlink`): one per
    /// channel operation or `select` case; from Go 1.26, also the one of a sync wait.
    pub fn g_waiting(&self, g: u64) -> Vec<Sudog> {
        let Some(l) = self.layouts.sync.as_ref() else { return Vec::new() };
        let first = self.mem.read_u64(g.saturating_add(self.layouts.g.waiting)).unwrap_or(0);
        self.sudog_list(first, l.sudog_waitlink)
    }

    /// A channel.
    pub fn chan_state(&self, addr: u64) -> Result<ChanState> {
        let l = self.sync_layout()?;
        let m = &self.mem;
        let rd = |off: u64, what: &str| self.read_u64(addr.saturating_add(off), what);
        let timer = match l.chan_timer {
            Some(off) => Some(rd(off, "hchan.timer")?).filter(|&t| t != 0),
            None => None,
        };
        let first = |q: u64| m.read_u64(addr.saturating_add(q + l.waitq_first)).unwrap_or(0);
        Ok(ChanState {
            addr,
            elem_type: m.read_u64(addr.saturating_add(l.chan_elemtype)).unwrap_or(0),
            elem_size: m.read_u16(addr.saturating_add(l.chan_elemsize)).unwrap_or(0) as u64,
            len: rd(l.chan_qcount, "hchan.qcount")?,
            cap: rd(l.chan_dataqsiz, "hchan.dataqsiz")?,
            closed: m.read_u32(addr.saturating_add(l.chan_closed)).unwrap_or(0) != 0,
            timer,
            recvq: self.sudog_list(first(l.chan_recvq), l.sudog_next),
            sendq: self.sudog_list(first(l.chan_sendq), l.sudog_next),
        })
    }

    /// Every goroutine waiting on a semaphore (`runtime.semtable`: per bucket a treap of
    /// `sudog`s by address, `prev`/`next` its children, each node the first of the waiters on
    /// its address, linked by `waitlink`).
    pub fn sema_waiters(&self) -> Result<Vec<SemaWaiter>> {
        let l = self.sync_layout()?;
        let Some(table) = self.globals.semtable else {
            return Err(Error::Unsupported("the executable has no symbol runtime.semtable".into()));
        };
        let mut out = Vec::new();
        let mut stack = Vec::new();
        let mut visited = 0usize;
        for i in 0..l.semtab_len {
            let root = table + i * l.semtab_stride;
            stack.push(self.read_u64(root.saturating_add(l.sema_treap), "runtime.semtable")?);
            while let Some(node) = stack.pop() {
                if node == 0 {
                    continue;
                }
                visited += 1;
                if visited > MAX_LIST {
                    return Err(Error::malformed("runtime.semtable", "a treap that does not end"));
                }
                let m = &self.mem;
                stack.push(m.read_u64(node.saturating_add(l.sudog_prev)).unwrap_or(0));
                stack.push(m.read_u64(node.saturating_add(l.sudog_next)).unwrap_or(0));
                for s in self.sudog_list(node, l.sudog_waitlink) {
                    out.push(SemaWaiter { addr: s.elem, sudog: Sudog { chan: 0, ..s } });
                }
            }
        }
        Ok(out)
    }

    /// The `runtime.timer` at `addr`.
    pub fn timer(&self, addr: u64) -> Option<TimerState> {
        let l = self.layouts.sync.as_ref()?;
        let m = &self.mem;
        let when = m.read_i64(addr.saturating_add(l.timer_when))?;
        let period = m.read_i64(addr.saturating_add(l.timer_period))?;
        let f = m.read_u64(addr.saturating_add(l.timer_f))?;
        // `f` is a func value: the entry is the first word of the funcval it points to.
        let func = if f != 0 { m.read_u64(f).unwrap_or(0) } else { 0 };
        // `arg` is an `any`: the channel is its data word.
        let chan = m.read_u64(addr.saturating_add(l.timer_arg + 8)).unwrap_or(0);
        let stopped = l
            .timer_status
            .and_then(|off| m.read_u32(addr.saturating_add(off)))
            .is_some_and(|s| l.timer_stopped_states.contains(&s));
        Some(TimerState { addr, when, period, active: when > 0 && !stopped, chan, func })
    }

    /// The layout of the objects `time.NewTicker`/`time.NewTimer` allocate: (size, offset of
    /// the channel, offset of the `runtime.timer`).
    pub fn ticker_layout(&self) -> Option<(u64, u64, u64)> {
        self.layouts.sync.as_ref()?.ticker
    }
}
