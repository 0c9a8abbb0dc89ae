//! Where the process's memory went: the dump's address space split into categories, each
//! byte counted once, the Go runtime's parts matched against its own counters (VMMap's and
//! viewcore's `breakdown`, for Go). The categories and how each is measured are in
//! docs/memory.md.
//!
//! The **total** is the process's address space as the dump and the runtime's structures in
//! it describe it: every mapping the dump lists (an ELF core's PT_LOAD segments, all of
//! `p_memsz`, whether the file holds their bytes or not, whatever their protection; a
//! minidump's memory regions), together with the address space the Go runtime says it
//! reserved (heap arenas, page summaries, scavenger index, arena index), which a minidump
//! without a MemoryInfoList does not list. It is split three ways, by [`Kind`]:
//!
//! - **memory**: mapped with some access (committed, on Windows). Not resident memory: a dump
//!   does not say which pages were resident;
//! - **released**: heap pages the runtime returned to the OS (HeapReleased): still mapped on
//!   Linux (`MADV_DONTNEED`), decommitted on Windows; no memory either way;
//! - **reserved**: address space with no access and no memory (`PROT_NONE`, `MEM_RESERVE`).
//!
//! Bytes are assigned by location first: the heap's mapped ranges (`mheap_.pages.inUse`, split
//! by the page allocator's bitmaps and the spans), the runtime's reservations, the arena
//! index, the executable's image, thread stacks, shared libraries and mapped files. The
//! runtime's metadata that no structure locates (mspans, mcaches, profiling buckets, GC
//! metadata, other) is measured by its counters and taken out of the remaining anonymous
//! memory; what remains of it is memory the Go runtime does not own.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::dump::{Mapping, Os};
use crate::runtime::heap::SpanCensus;
use crate::runtime::mstats::{merge_ranges, ranges_len, GoMemory, MemStats};
use crate::runtime::Process;
use crate::Result;

/// What a category's bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Mapped with some access: memory the process holds (committed), resident or not.
    Memory,
    /// Heap pages returned to the OS: mapped (Linux) or decommitted (Windows), no memory.
    Released,
    /// Address space reserved with no access: no memory.
    Reserved,
}

/// Who owns a category.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// The Go heap (HeapSys).
    Heap,
    /// Goroutine stacks (StackSys).
    Stacks,
    /// The Go runtime's own structures and address space.
    Runtime,
    /// The executable's image.
    Executable,
    /// What the Go runtime does not own.
    NotGo,
}

/// A MemStats counter a category is compared with: what `runtime.ReadMemStats` would have
/// returned, computed from the dump's counters. Some counters cover several categories
/// together (`categories`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuntimeCounter {
    /// The field of `runtime.MemStats`, or a difference of two (`HeapIdle-HeapReleased`).
    pub name: &'static str,
    pub bytes: u64,
    /// The categories whose bytes add up to the counter (this one among them).
    pub categories: Vec<&'static str>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Category {
    /// Stable identifier (JSON).
    pub name: &'static str,
    /// What it is, for people.
    pub label: &'static str,
    pub group: Group,
    pub kind: Kind,
    pub bytes: u64,
    pub runtime_counter: Option<RuntimeCounter>,
    /// A finer split of `bytes`, where one is known (e.g. free slots and span tails).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub detail: BTreeMap<&'static str, u64>,
}

/// A MemStats counter against gomortem's own accounting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CounterCheck {
    /// The field of `runtime.MemStats`.
    pub name: &'static str,
    /// What `runtime.ReadMemStats` would have returned at the moment of the dump.
    pub runtime: u64,
    /// gomortem's own measure (the sum of `categories`); None where it has none but the
    /// counter (MSpanInuse, MCacheInuse).
    pub ours: Option<u64>,
    pub categories: Vec<&'static str>,
}

impl CounterCheck {
    pub fn matches(&self) -> bool {
        self.ours.is_none_or(|o| o == self.runtime)
    }
}

/// The dump's address space by category (see the module doc).
#[derive(Clone, Debug, Serialize)]
pub struct MemoryBreakdown {
    /// The process's address space: the sum of every category's bytes.
    pub total_bytes: u64,
    /// Of it, by kind: memory (mapped with access), released, reserved.
    pub memory_bytes: u64,
    pub released_bytes: u64,
    pub reserved_bytes: u64,
    /// Bytes of the Go runtime's own (its Sys, as gomortem measures it).
    pub go_bytes: u64,
    /// In the order of the table in docs/memory.md (not sorted).
    pub categories: Vec<Category>,
    /// Every MemStats memory counter, with gomortem's measure of it.
    pub counters: Vec<CounterCheck>,
    /// Bytes the runtime's counters claim beyond the anonymous memory the dump lists (0 unless
    /// the counters or the dump are inconsistent; then counted in the total).
    pub counter_excess_bytes: u64,
    pub warnings: Vec<String>,
}

impl MemoryBreakdown {
    pub fn category(&self, name: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.name == name)
    }

    /// Bytes of a category (0 if there is none of that name).
    pub fn bytes(&self, name: &str) -> u64 {
        self.category(name).map_or(0, |c| c.bytes)
    }

    pub fn counter(&self, name: &str) -> Option<&CounterCheck> {
        self.counters.iter().find(|c| c.name == name)
    }

    /// The categories of a group, of kind memory.
    pub fn memory_of(&self, group: Group) -> u64 {
        self.categories.iter().filter(|c| c.group == group && c.kind == Kind::Memory).map(|c| c.bytes).sum()
    }
}

/// One elementary piece of the address space, by what it lies in.
#[derive(Clone, Copy, Debug, Default)]
struct Where {
    /// The dump lists it with access / as mapped for the runtime (writable, or committed with
    /// no protection recorded).
    accessible: bool,
    go_mapped: bool,
    heap_mapped: bool,
    arena: bool,
    arena_index: bool,
    reservation: bool,
    exe: bool,
    thread_stack: bool,
    library: bool,
}

/// Bytes of each location-based class.
#[derive(Clone, Copy, Debug, Default)]
struct Located {
    heap: u64,
    go_reserved: u64,
    arena_index: u64,
    /// Mapped parts of the runtime's reservations (page summaries, scavenger index): gcMiscSys.
    go_meta: u64,
    exe: u64,
    thread_stacks: u64,
    libraries: u64,
    anonymous: u64,
    other_reserved: u64,
}

/// Monotonic membership in sorted, merged ranges.
struct Cursor<'a> {
    ranges: &'a [(u64, u64)],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn new(ranges: &'a [(u64, u64)]) -> Self {
        Cursor { ranges, i: 0 }
    }
    /// Whether `a` lies in a range; `a` must not decrease from call to call.
    fn has(&mut self, a: u64) -> bool {
        while self.ranges.get(self.i).is_some_and(|r| r.1 <= a) {
            self.i += 1;
        }
        self.ranges.get(self.i).is_some_and(|r| r.0 <= a)
    }
}

/// Split the address space into pieces and classify each by priority (see [`breakdown`]).
fn locate(mappings: &[Mapping], sets: &Sets) -> Located {
    let acc: Vec<(u64, u64)> =
        merge_ranges(mappings.iter().filter(|m| m.accessible()).map(|m| (m.va, m.end())).collect());
    let go_mapped: Vec<(u64, u64)> = merge_ranges(
        mappings.iter().filter(|m| m.prot.is_none_or(|p| p.write)).map(|m| (m.va, m.end())).collect(),
    );
    let listed: Vec<(u64, u64)> = merge_ranges(mappings.iter().map(|m| (m.va, m.end())).collect());
    let all = merge_ranges(
        [&listed, &sets.arenas, &sets.heap_mapped, &sets.arena_index, &sets.reservations]
            .iter()
            .flat_map(|v| v.iter().copied())
            .collect(),
    );
    let lists: [&[(u64, u64)]; 10] = [
        &all,
        &acc,
        &go_mapped,
        &sets.heap_mapped,
        &sets.arenas,
        &sets.arena_index,
        &sets.reservations,
        &sets.exe,
        &sets.thread_stacks,
        &sets.libraries,
    ];
    let mut bounds: Vec<u64> = lists.iter().flat_map(|l| l.iter().flat_map(|r| [r.0, r.1])).collect();
    bounds.sort_unstable();
    bounds.dedup();
    let mut cur: Vec<Cursor> = lists.iter().map(|l| Cursor::new(l)).collect();
    let mut out = Located::default();
    for w in bounds.windows(2) {
        let (a, len) = (w[0], w[1] - w[0]);
        if !cur[0].has(a) {
            continue;
        }
        let at = Where {
            accessible: cur[1].has(a),
            go_mapped: cur[2].has(a),
            heap_mapped: cur[3].has(a),
            arena: cur[4].has(a),
            arena_index: cur[5].has(a),
            reservation: cur[6].has(a),
            exe: cur[7].has(a),
            thread_stack: cur[8].has(a),
            library: cur[9].has(a),
        };
        let slot = if at.heap_mapped {
            &mut out.heap
        } else if at.arena {
            &mut out.go_reserved
        } else if at.arena_index {
            &mut out.arena_index
        } else if at.reservation {
            // The runtime maps parts of these read-write; the rest is reserved (gdb writes
            // PROT_NONE as readable: only writable counts).
            if at.go_mapped {
                &mut out.go_meta
            } else {
                &mut out.go_reserved
            }
        } else if at.exe {
            &mut out.exe
        } else if !at.accessible {
            &mut out.other_reserved
        } else if at.thread_stack {
            &mut out.thread_stacks
        } else if at.library {
            &mut out.libraries
        } else {
            &mut out.anonymous
        };
        *slot += len;
    }
    out
}

/// The address ranges the classification needs, sorted and merged.
#[derive(Default)]
struct Sets {
    arenas: Vec<(u64, u64)>,
    heap_mapped: Vec<(u64, u64)>,
    arena_index: Vec<(u64, u64)>,
    reservations: Vec<(u64, u64)>,
    exe: Vec<(u64, u64)>,
    thread_stacks: Vec<(u64, u64)>,
    libraries: Vec<(u64, u64)>,
}

/// A mapping that holds an OS thread's stack, if it is small enough to be one (a larger one
/// is some merged anonymous region the stack lies in).
const MAX_THREAD_STACK_MAPPING: u64 = 64 << 20;

/// `AT_SYSINFO_EHDR`: the vDSO's address in the auxiliary vector.
const AT_SYSINFO_EHDR: u64 = 33;
/// The legacy vsyscall page of x86-64 Linux.
const VSYSCALL: u64 = 0xffff_ffff_ff60_0000;

fn containing(mappings: &[Mapping], a: u64) -> Option<&Mapping> {
    let i = mappings.partition_point(|m| m.end() <= a);
    mappings.get(i).filter(|m| m.va <= a)
}

/// Thread stacks the OS allocated: Windows, from each thread's TEB; Linux, the main thread's
/// stack mapping (the one holding `m0`'s g0 stack), the g0 stacks of other Ms outside the Go
/// heap (cgo threads), and the mapping holding the stack pointer of a thread that is no M
/// (a C thread), when neither the Go heap nor the executable holds it.
fn thread_stacks(p: &Process, g: &GoMemory) -> Vec<(u64, u64)> {
    let d = &p.dump;
    let mut out = Vec::new();
    if d.os == Os::Windows {
        out.extend(d.threads.iter().filter_map(|t| d.thread_stack(t)));
    }
    let mut m_threads = std::collections::HashSet::new();
    if let Some(s) = &g.stacks {
        for st in &s.os_stacks {
            m_threads.insert(st.thread);
            if d.os == Os::Windows {
                continue;
            }
            match containing(&d.mappings, st.hi.saturating_sub(1)) {
                Some(m) if st.m0 && m.len <= MAX_THREAD_STACK_MAPPING => out.push((m.va, m.end())),
                _ => out.push((st.lo & !0xfff, (st.hi + 0xfff) & !0xfff)),
            }
        }
    }
    if d.os == Os::Linux {
        let in_go = |a: u64| g.arenas.iter().any(|r| r.0 <= a && a < r.1);
        for t in d.threads.iter().filter(|t| !m_threads.contains(&t.tid) && t.regs.sp != 0) {
            if in_go(t.regs.sp) {
                continue;
            }
            if let Some(m) = containing(&d.mappings, t.regs.sp) {
                if m.len <= MAX_THREAD_STACK_MAPPING {
                    out.push((m.va, m.end()));
                }
            }
        }
    }
    merge_ranges(out)
}

/// Shared libraries, DLLs and mapped files: the dump's modules (NT_FILE entries, the minidump
/// module list) and, on Linux, the vDSO, the data pages just below it (`[vvar]`: readable,
/// not writable or executable), and the vsyscall page.
fn libraries(p: &Process) -> Vec<(u64, u64)> {
    let d = &p.dump;
    let mut out: Vec<(u64, u64)> =
        d.modules.iter().map(|m| (m.base, m.base.saturating_add(m.size))).collect();
    if let Some(&(_, vdso)) = d.auxv.iter().find(|a| a.0 == AT_SYSINFO_EHDR) {
        let i = d.mappings.partition_point(|m| m.end() <= vdso);
        if d.mappings.get(i).is_some_and(|m| m.va <= vdso) {
            out.push((d.mappings[i].va, d.mappings[i].end()));
            let mut j = i;
            while j > 0 {
                let (prev, next) = (&d.mappings[j - 1], &d.mappings[j]);
                let data = prev.prot.is_some_and(|p| p.read && !p.write && !p.exec);
                if prev.end() != next.va
                    || !data
                    || d.modules.iter().any(|f| f.base < prev.end() && prev.va < f.base + f.size)
                {
                    break;
                }
                out.push((prev.va, prev.end()));
                j -= 1;
            }
        }
    }
    if let Some(m) = containing(&d.mappings, VSYSCALL) {
        out.push((m.va, m.end()));
    }
    merge_ranges(out)
}

/// Where the memory of the dumped process went (see the module doc). `heap` is the heap's
/// spans counted: [`Process::span_census`], or [`Heap::census`](crate::runtime::heap::Heap::census)
/// of a heap already walked; nothing else is walked (no object, no graph), so beyond that this
/// costs what reading a few of the runtime's structures costs. What cannot be read is left out
/// with a warning; an error only when the executable lacks the runtime's layouts.
pub fn breakdown(p: &Process, heap: &SpanCensus) -> Result<MemoryBreakdown> {
    let g = p.go_memory()?;
    let mut warnings = g.warnings.clone();
    let counters = g.counters.clone();
    let stats: Option<MemStats> = counters.as_ref().map(|c| c.mem_stats());
    let t = &heap.totals;

    // The heap's mapped pages: in-use spans, manual spans (stacks, work buffers), free,
    // released; by the walk and the page allocator, else by the counters.
    let heap_mapped_bytes = ranges_len(&g.heap_mapped);
    let spans = t.in_use_bytes + t.manual_bytes;
    let (mut free, mut released) = match (&g.pages, &counters) {
        (Some(pc), _) => (pc.free, pc.released),
        (None, Some(c)) => (c.heap_free, c.heap_released),
        (None, None) => (0, 0),
    };
    let mut heap_unknown = 0u64;
    if heap_mapped_bytes > 0 {
        let allocated = heap_mapped_bytes.saturating_sub(free + released);
        if allocated > spans {
            heap_unknown = allocated - spans;
            warnings.push(format!(
                "{heap_unknown} bytes of the heap's pages are allocated in the page allocator but in no span read"
            ));
        } else if allocated < spans {
            let over = spans - allocated;
            warnings.push(format!(
                "the heap's spans hold {over} bytes more than the page allocator marks allocated"
            ));
            let take = over.min(free);
            free -= take;
            released -= (over - take).min(released);
        }
    }
    let slots = heap.slot_bytes;
    let heap_free_slots = t.in_use_bytes.saturating_sub(t.bytes);
    let unallocated_slots = slots.saturating_sub(t.bytes).min(heap_free_slots);

    let work_bufs = g.work_buf_bytes.unwrap_or_else(|| {
        counters.as_ref().map_or(0, |c| c.in_work_bufs.wrapping_add(c.in_ptr_scalar_bits))
    });
    let stack_spans = t.manual_bytes.saturating_sub(work_bufs);
    let (live, system, dead) =
        g.stacks.as_ref().map_or((0, 0, 0), |s| (s.live_bytes, s.system_bytes, s.dead_bytes));
    let stacks_in_use = (live + system).min(stack_spans);
    if live + system > stack_spans {
        warnings.push(format!(
            "goroutine and system stacks take {} bytes, the stack spans {stack_spans}",
            live + system
        ));
    }
    let stacks_free = stack_spans - stacks_in_use;

    let c = counters.clone().unwrap_or_default();
    if counters.is_none() {
        warnings.push("without the runtime's counters, its metadata counts as other memory".into());
    }

    // Location.
    let bias = p.bias;
    let sets = Sets {
        arenas: g.arenas.clone(),
        heap_mapped: g.heap_mapped.clone(),
        arena_index: g.arena_index.clone(),
        reservations: merge_ranges(g.reservations.iter().map(|r| (r.start, r.end)).collect()),
        exe: merge_ranges(
            p.exe.image.extent.iter().map(|&(a, b)| (a.wrapping_add(bias), b.wrapping_add(bias))).collect(),
        ),
        thread_stacks: thread_stacks(p, &g),
        libraries: libraries(p),
    };
    let loc = locate(&p.dump.mappings, &sets);
    if heap_mapped_bytes > 0 && loc.heap != heap_mapped_bytes {
        warnings.push(format!(
            "the heap's mapped ranges take {heap_mapped_bytes} bytes, {} of them located",
            loc.heap
        ));
    }

    // The Go runtime's metadata that no structure locates comes out of the anonymous memory;
    // the mapped parts of its reservations are gcMiscSys.
    let gc_misc_located = loc.go_meta.min(c.gc_misc_sys);
    if loc.go_meta > c.gc_misc_sys && counters.is_some() {
        warnings.push(format!(
            "the mapped parts of the runtime's reservations take {} bytes, more than gcMiscSys ({})",
            loc.go_meta, c.gc_misc_sys
        ));
    }
    let mut unlocated = [c.stacks_sys, c.mspan_sys, c.mcache_sys, c.buckhash_sys, c.other_sys]
        .iter()
        .fold(c.gc_misc_sys - gc_misc_located, |a, &b| a.saturating_add(b));
    // Heap rows not located (the mapped ranges unreadable) come out of it too.
    let heap_rows = t.bytes + heap_free_slots + free + released + stack_spans + work_bufs + heap_unknown;
    if heap_mapped_bytes == 0 {
        unlocated = unlocated.saturating_add(heap_rows);
        warnings.push(
            "the heap's mapped ranges are unknown: its memory is taken from the anonymous mappings".into(),
        );
    }
    let anonymous = loc.anonymous + (loc.go_meta - gc_misc_located);
    let other = anonymous.saturating_sub(unlocated);
    let excess = unlocated.saturating_sub(anonymous);
    if excess > 0 {
        warnings.push(format!(
            "the runtime's counters claim {excess} bytes more than the anonymous memory the dump lists"
        ));
    }

    // The categories.
    let counter = |name: &'static str, bytes: u64, cats: &[&'static str]| {
        stats.as_ref().map(|_| RuntimeCounter { name, bytes, categories: cats.to_vec() })
    };
    let s = stats.clone().unwrap_or_default();
    let heap_alloc = heap.runtime_stats.as_ref().map(|r| r.heap_alloc);
    let cats = vec![
        Category {
            name: "heap_objects",
            label: "heap: allocated objects",
            group: Group::Heap,
            kind: Kind::Memory,
            bytes: t.bytes,
            runtime_counter: heap_alloc.map(|b| RuntimeCounter {
                name: "HeapAlloc",
                bytes: b,
                categories: vec!["heap_objects"],
            }),
            detail: BTreeMap::new(),
        },
        Category {
            name: "heap_free_slots",
            label: "heap: free space in in-use spans",
            group: Group::Heap,
            kind: Kind::Memory,
            bytes: heap_free_slots,
            runtime_counter: match (&stats, heap_alloc) {
                (Some(s), Some(a)) => Some(RuntimeCounter {
                    name: "HeapInuse-HeapAlloc",
                    bytes: s.heap_inuse.wrapping_sub(a),
                    categories: vec!["heap_free_slots"],
                }),
                _ => None,
            },
            detail: BTreeMap::from([
                ("unallocated_slots", unallocated_slots),
                ("span_tails", heap_free_slots - unallocated_slots),
            ]),
        },
        Category {
            name: "heap_free_spans",
            label: "heap: free pages kept (not returned to the OS)",
            group: Group::Heap,
            kind: Kind::Memory,
            bytes: free,
            runtime_counter: counter(
                "HeapIdle-HeapReleased",
                s.heap_idle.wrapping_sub(s.heap_released),
                &["heap_free_spans"],
            ),
            detail: g
                .pages
                .as_ref()
                .map_or_else(BTreeMap::new, |pc| BTreeMap::from([("in_page_caches", pc.cached.min(free))])),
        },
        Category {
            name: "heap_released",
            label: "heap: free pages returned to the OS",
            group: Group::Heap,
            kind: Kind::Released,
            bytes: released,
            runtime_counter: counter("HeapReleased", s.heap_released, &["heap_released"]),
            detail: g.pages.as_ref().map_or_else(BTreeMap::new, |pc| {
                if pc.padding > 0 {
                    BTreeMap::from([("heap_base_padding", pc.padding)])
                } else {
                    BTreeMap::new()
                }
            }),
        },
        Category {
            name: "heap_unknown",
            label: "heap: pages allocated in no span read",
            group: Group::Heap,
            kind: Kind::Memory,
            bytes: heap_unknown,
            runtime_counter: None,
            detail: BTreeMap::new(),
        },
        Category {
            name: "stacks_in_use",
            label: "stacks: goroutines and threads",
            group: Group::Stacks,
            kind: Kind::Memory,
            bytes: stacks_in_use,
            runtime_counter: counter("StackInuse", s.stack_inuse, &["stacks_in_use", "stacks_free"]),
            detail: BTreeMap::from([
                ("goroutines", live.min(stacks_in_use)),
                ("system", stacks_in_use - live.min(stacks_in_use)),
            ]),
        },
        Category {
            name: "stacks_free",
            label: "stacks: free, cached for reuse",
            group: Group::Stacks,
            kind: Kind::Memory,
            bytes: stacks_free,
            runtime_counter: counter("StackInuse", s.stack_inuse, &["stacks_in_use", "stacks_free"]),
            detail: BTreeMap::from([("dead_goroutines", dead.min(stacks_free))]),
        },
        Category {
            name: "stacks_os",
            label: "stacks: mapped from the OS by the runtime",
            group: Group::Stacks,
            kind: Kind::Memory,
            bytes: c.stacks_sys,
            runtime_counter: counter(
                "StackSys-StackInuse",
                s.stack_sys.wrapping_sub(s.stack_inuse),
                &["stacks_os"],
            ),
            detail: BTreeMap::new(),
        },
        Category {
            name: "span_structures",
            label: "runtime: span structures (mspan)",
            group: Group::Runtime,
            kind: Kind::Memory,
            bytes: c.mspan_sys,
            runtime_counter: counter("MSpanSys", s.mspan_sys, &["span_structures"]),
            detail: counters
                .as_ref()
                .map_or_else(BTreeMap::new, |c| BTreeMap::from([("in_use", c.mspan_inuse)])),
        },
        Category {
            name: "mcache_structures",
            label: "runtime: per-P caches (mcache)",
            group: Group::Runtime,
            kind: Kind::Memory,
            bytes: c.mcache_sys,
            runtime_counter: counter("MCacheSys", s.mcache_sys, &["mcache_structures"]),
            detail: counters
                .as_ref()
                .map_or_else(BTreeMap::new, |c| BTreeMap::from([("in_use", c.mcache_inuse)])),
        },
        Category {
            name: "profiling_buckets",
            label: "runtime: profiling buckets",
            group: Group::Runtime,
            kind: Kind::Memory,
            bytes: c.buckhash_sys,
            runtime_counter: counter("BuckHashSys", s.buck_hash_sys, &["profiling_buckets"]),
            detail: BTreeMap::new(),
        },
        Category {
            name: "gc_metadata",
            label: "runtime: GC metadata (arena metadata, page allocator, work buffers)",
            group: Group::Runtime,
            kind: Kind::Memory,
            bytes: c.gc_misc_sys + work_bufs,
            runtime_counter: counter("GCSys", s.gc_sys, &["gc_metadata"]),
            detail: BTreeMap::from([
                ("work_buffers", work_bufs),
                ("page_summaries_and_scavenger_index", gc_misc_located),
                ("other", c.gc_misc_sys - gc_misc_located),
            ]),
        },
        Category {
            name: "other_runtime",
            label: "runtime: other (itabs, timers, trace, …)",
            group: Group::Runtime,
            kind: Kind::Memory,
            bytes: c.other_sys,
            runtime_counter: counter("OtherSys", s.other_sys, &["other_runtime"]),
            detail: BTreeMap::new(),
        },
        Category {
            name: "arena_index",
            label: "runtime: heap arena index (in no MemStats counter)",
            group: Group::Runtime,
            kind: Kind::Memory,
            bytes: loc.arena_index,
            runtime_counter: None,
            detail: BTreeMap::from([("pages_written", g.arena_index_written.min(loc.arena_index))]),
        },
        Category {
            name: "go_reserved",
            label: "runtime: reserved address space, not mapped",
            group: Group::Runtime,
            kind: Kind::Reserved,
            bytes: loc.go_reserved,
            runtime_counter: None,
            detail: BTreeMap::new(),
        },
        Category {
            name: "executable",
            label: "executable image",
            group: Group::Executable,
            kind: Kind::Memory,
            bytes: loc.exe,
            runtime_counter: None,
            detail: BTreeMap::new(),
        },
        Category {
            name: "thread_stacks",
            label: "not Go: OS thread stacks",
            group: Group::NotGo,
            kind: Kind::Memory,
            bytes: loc.thread_stacks,
            runtime_counter: None,
            detail: BTreeMap::new(),
        },
        Category {
            name: "shared_libraries",
            label: "not Go: shared libraries, DLLs, mapped files",
            group: Group::NotGo,
            kind: Kind::Memory,
            bytes: loc.libraries,
            runtime_counter: None,
            detail: BTreeMap::new(),
        },
        Category {
            name: "other",
            label: "not Go: other memory (C/cgo allocations, other mappings)",
            group: Group::NotGo,
            kind: Kind::Memory,
            bytes: other,
            runtime_counter: None,
            detail: BTreeMap::new(),
        },
        Category {
            name: "other_reserved",
            label: "not Go: reserved address space (guard pages, …)",
            group: Group::NotGo,
            kind: Kind::Reserved,
            bytes: loc.other_reserved,
            runtime_counter: None,
            detail: BTreeMap::new(),
        },
    ];
    let sum = |k: Kind| cats.iter().filter(|c| c.kind == k).map(|c| c.bytes).sum::<u64>();
    let (memory_bytes, released_bytes, reserved_bytes) =
        (sum(Kind::Memory), sum(Kind::Released), sum(Kind::Reserved));
    let go_names = [
        "heap_objects",
        "heap_free_slots",
        "heap_free_spans",
        "heap_released",
        "heap_unknown",
        "stacks_in_use",
        "stacks_free",
        "stacks_os",
        "span_structures",
        "mcache_structures",
        "profiling_buckets",
        "gc_metadata",
        "other_runtime",
    ];
    let bytes_of =
        |names: &[&str]| -> u64 { cats.iter().filter(|c| names.contains(&c.name)).map(|c| c.bytes).sum() };
    let go_bytes = bytes_of(&go_names);

    let mut checks = Vec::new();
    if let Some(s) = &stats {
        let mut check = |name: &'static str, runtime: u64, names: &[&'static str], ours: Option<u64>| {
            checks.push(CounterCheck {
                name,
                runtime,
                ours: ours.or_else(|| (!names.is_empty()).then(|| bytes_of(names))),
                categories: names.to_vec(),
            });
        };
        check("Sys", s.sys, &go_names[..], None);
        check(
            "HeapSys",
            s.heap_sys,
            &["heap_objects", "heap_free_slots", "heap_free_spans", "heap_released", "heap_unknown"],
            None,
        );
        check("HeapInuse", s.heap_inuse, &["heap_objects", "heap_free_slots"], None);
        check("HeapIdle", s.heap_idle, &["heap_free_spans", "heap_released"], None);
        check("HeapReleased", s.heap_released, &["heap_released"], None);
        check("StackInuse", s.stack_inuse, &["stacks_in_use", "stacks_free"], None);
        check("StackSys", s.stack_sys, &["stacks_in_use", "stacks_free", "stacks_os"], None);
        check("MSpanInuse", s.mspan_inuse, &[], None);
        check("MSpanSys", s.mspan_sys, &["span_structures"], None);
        check("MCacheInuse", s.mcache_inuse, &[], None);
        check("MCacheSys", s.mcache_sys, &["mcache_structures"], None);
        check("BuckHashSys", s.buck_hash_sys, &["profiling_buckets"], None);
        check("GCSys", s.gc_sys, &["gc_metadata"], None);
        check("OtherSys", s.other_sys, &["other_runtime"], None);
    }
    if let (Some(a), Some(pos)) = (heap_alloc, checks.iter().position(|c| c.name == "HeapInuse")) {
        checks.insert(
            pos,
            CounterCheck {
                name: "HeapAlloc",
                runtime: a,
                ours: Some(t.bytes),
                categories: vec!["heap_objects"],
            },
        );
    }
    for ch in checks.iter().filter(|c| !c.matches()) {
        warnings.push(format!(
            "{}: the runtime's counter says {} bytes, the dump's structures {}",
            ch.name,
            ch.runtime,
            ch.ours.unwrap_or(0)
        ));
    }

    Ok(MemoryBreakdown {
        total_bytes: memory_bytes + released_bytes + reserved_bytes,
        memory_bytes,
        released_bytes,
        reserved_bytes,
        go_bytes,
        categories: cats,
        counters: checks,
        counter_excess_bytes: excess,
        warnings,
    })
}

/// `12.3 MiB` (the report's format, for the causes' sentences).
fn human(n: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let (mut v, mut i) = (n as f64, 0);
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

/// Why memory lies outside the heap's objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Free space in in-use spans (`heap_free_slots`): slots of size classes the program
    /// allocated once and freed, or span tails.
    Fragmentation,
    /// Free heap pages kept, not yet returned to the OS (`heap_free_spans`).
    UnreturnedFreeSpans,
    /// Goroutine and runtime stacks (`stacks_*`): many goroutines, or deep ones.
    Stacks,
    /// The runtime's own structures (`span_structures`, `mcache_structures`,
    /// `profiling_buckets`, `gc_metadata`, `other_runtime`, `arena_index`).
    RuntimeMetadata,
    /// The executable's image.
    Executable,
    /// Memory the Go runtime does not own: OS thread stacks, shared libraries and DLLs,
    /// C/cgo allocations and other mappings (`thread_stacks`, `shared_libraries`, `other`).
    NonGo,
}

impl Cause {
    /// As the JSON spells it (`fragmentation`, `unreturned_free_spans`…).
    pub fn name(self) -> &'static str {
        match self {
            Cause::Fragmentation => "fragmentation",
            Cause::UnreturnedFreeSpans => "unreturned_free_spans",
            Cause::Stacks => "stacks",
            Cause::RuntimeMetadata => "runtime_metadata",
            Cause::Executable => "executable",
            Cause::NonGo => "non_go",
        }
    }

    /// The categories a cause sums.
    pub fn categories(self) -> &'static [&'static str] {
        match self {
            Cause::Fragmentation => &["heap_free_slots"],
            Cause::UnreturnedFreeSpans => &["heap_free_spans"],
            Cause::Stacks => &["stacks_in_use", "stacks_free", "stacks_os"],
            Cause::RuntimeMetadata => &[
                "span_structures",
                "mcache_structures",
                "profiling_buckets",
                "gc_metadata",
                "other_runtime",
                "arena_index",
            ],
            Cause::Executable => &["executable"],
            Cause::NonGo => &["thread_stacks", "shared_libraries", "other"],
        }
    }

    const ALL: [Cause; 6] = [
        Cause::Fragmentation,
        Cause::UnreturnedFreeSpans,
        Cause::Stacks,
        Cause::RuntimeMetadata,
        Cause::Executable,
        Cause::NonGo,
    ];
}

/// When [`outside_live`] says memory is mostly outside the heap's objects, and which causes
/// it names. Shares are of the process's memory (`memory_bytes`: mapped with access; not the
/// released heap nor reserved address space).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct OutsideLiveThresholds {
    /// Mostly outside: the heap's objects are less than this share of the memory (default
    /// 0.5).
    pub live_share_below: f64,
    /// And the memory is at least this big (default 256 MiB): a small process is mostly
    /// runtime and executable, and that is no finding.
    pub min_memory_bytes: u64,
    /// A cause is named when it takes at least this share of the memory (default 0.1)…
    pub cause_share: f64,
    /// …and at least this many bytes (default 16 MiB).
    pub cause_min_bytes: u64,
    /// Fragmentation is named only if the free space is also at least this share of the
    /// in-use spans (HeapInuse; default 0.25).
    pub fragmentation_share_of_in_use: f64,
}

impl Default for OutsideLiveThresholds {
    fn default() -> Self {
        OutsideLiveThresholds {
            live_share_below: 0.5,
            min_memory_bytes: 256 << 20,
            cause_share: 0.1,
            cause_min_bytes: 16 << 20,
            fragmentation_share_of_in_use: 0.25,
        }
    }
}

/// One cause of memory outside the heap's objects, with its numbers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutsideCause {
    pub cause: Cause,
    pub bytes: u64,
    /// Of the memory.
    pub share: f64,
    pub categories: Vec<&'static str>,
    /// The numbers, in a sentence.
    pub why: String,
}

/// Whether the process's memory lies mostly outside the heap's objects, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutsideLive {
    pub mostly_outside: bool,
    pub memory_bytes: u64,
    /// Bytes of allocated heap objects (`heap_objects`: live ones, and garbage not yet
    /// collected) and their share of the memory.
    pub heap_object_bytes: u64,
    pub heap_object_share: f64,
    /// The causes at or above their thresholds, the biggest first (named whether or not the
    /// memory is mostly outside the heap's objects).
    pub causes: Vec<OutsideCause>,
    pub thresholds: OutsideLiveThresholds,
}

/// Whether memory is mostly outside the heap's objects, and which causes take the most of it
/// (see [`OutsideLiveThresholds`]).
pub fn outside_live(b: &MemoryBreakdown, t: &OutsideLiveThresholds) -> OutsideLive {
    let mem = b.memory_bytes;
    let share = |x: u64| if mem == 0 { 0.0 } else { x as f64 / mem as f64 };
    let objects = b.bytes("heap_objects");
    let in_use = objects + b.bytes("heap_free_slots");
    let mut causes = Vec::new();
    for cause in Cause::ALL {
        let bytes: u64 = cause.categories().iter().map(|c| b.bytes(c)).sum();
        if share(bytes) < t.cause_share || bytes < t.cause_min_bytes {
            continue;
        }
        let pct = |x: u64, of: u64| if of == 0 { 0.0 } else { 100.0 * x as f64 / of as f64 };
        let h = human;
        let why = match cause {
            Cause::Fragmentation => {
                let of_in_use = if in_use == 0 { 0.0 } else { bytes as f64 / in_use as f64 };
                if of_in_use < t.fragmentation_share_of_in_use {
                    continue;
                }
                let d = b.category("heap_free_slots").map(|c| &c.detail);
                let slots = d.and_then(|d| d.get("unallocated_slots")).copied().unwrap_or(0);
                format!(
                    "{} free in in-use spans, {:.0}% of them (HeapInuse {}); {} in free slots, the rest span tails",
                    h(bytes),
                    100.0 * of_in_use,
                    h(in_use),
                    h(slots)
                )
            }
            Cause::UnreturnedFreeSpans => format!(
                "{} of free heap pages kept, not returned to the OS ({} returned)",
                h(bytes),
                h(b.bytes("heap_released"))
            ),
            Cause::Stacks => {
                let d = b.category("stacks_in_use").map(|c| &c.detail);
                let gs = d.and_then(|d| d.get("goroutines")).copied().unwrap_or(0);
                format!(
                    "{} of stacks: {} of goroutines', {} free for reuse",
                    h(bytes),
                    h(gs),
                    h(b.bytes("stacks_free"))
                )
            }
            Cause::RuntimeMetadata => format!(
                "{} of the runtime's own structures ({} of them the heap arena index, mapped but written only in {})",
                h(bytes),
                h(b.bytes("arena_index")),
                h(b.category("arena_index").and_then(|c| c.detail.get("pages_written")).copied().unwrap_or(0))
            ),
            Cause::Executable => format!("{} of executable image", h(bytes)),
            Cause::NonGo => format!(
                "{} the Go runtime does not own: {} thread stacks, {} shared libraries and mapped files, {} other",
                h(bytes),
                h(b.bytes("thread_stacks")),
                h(b.bytes("shared_libraries")),
                h(b.bytes("other"))
            ),
        };
        let why = format!("{why}: {:.0}% of the memory", pct(bytes, mem));
        causes.push(OutsideCause {
            cause,
            bytes,
            share: share(bytes),
            categories: cause.categories().to_vec(),
            why,
        });
    }
    causes.sort_by_key(|c| std::cmp::Reverse(c.bytes));
    OutsideLive {
        mostly_outside: mem >= t.min_memory_bytes && share(objects) < t.live_share_below,
        memory_bytes: mem,
        heap_object_bytes: objects,
        heap_object_share: share(objects),
        causes,
        thresholds: *t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dump::Prot;

    const RW: Option<Prot> = Some(Prot { read: true, write: true, exec: false });
    const R: Option<Prot> = Some(Prot { read: true, write: false, exec: false });
    const NONE: Option<Prot> = Some(Prot { read: false, write: false, exec: false });

    fn m(va: u64, len: u64, prot: Option<Prot>) -> Mapping {
        Mapping { va, len, prot }
    }

    #[test]
    fn every_byte_is_located_once() {
        let k = 0x1000;
        let mappings = vec![
            m(0, 4 * k, R),         // executable: text
            m(4 * k, 4 * k, RW),    // executable: data, bss, then anonymous
            m(16 * k, 8 * k, RW),   // heap arena, mapped part (heap)
            m(24 * k, 8 * k, NONE), // heap arena, reserved
            m(40 * k, 2 * k, RW),   // summaries: mapped part
            m(42 * k, 6 * k, R),    // summaries: PROT_NONE as gdb writes it
            m(48 * k, 4 * k, RW),   // arena index
            m(60 * k, k, NONE),     // a guard page
            m(61 * k, 3 * k, RW),   // a thread stack
            m(70 * k, 2 * k, R),    // a shared library
        ];
        let sets = Sets {
            arenas: vec![(16 * k, 32 * k)],
            heap_mapped: vec![(16 * k, 24 * k)],
            arena_index: vec![(48 * k, 52 * k)],
            // Reserved beyond what the dump lists (a minidump lists committed memory only).
            reservations: vec![(40 * k, 56 * k)],
            exe: vec![(0, 6 * k)],
            thread_stacks: vec![(61 * k, 64 * k)],
            libraries: vec![(70 * k, 72 * k)],
        };
        let l = locate(&mappings, &sets);
        assert_eq!(l.exe, 6 * k);
        assert_eq!(l.anonymous, 2 * k);
        assert_eq!(l.heap, 8 * k);
        assert_eq!(l.go_meta, 2 * k);
        assert_eq!(l.go_reserved, 8 * k + 6 * k + 4 * k);
        assert_eq!(l.arena_index, 4 * k);
        assert_eq!(l.other_reserved, k);
        assert_eq!(l.thread_stacks, 3 * k);
        assert_eq!(l.libraries, 2 * k);
        let sum = l.exe
            + l.anonymous
            + l.heap
            + l.go_meta
            + l.go_reserved
            + l.arena_index
            + l.other_reserved
            + l.thread_stacks
            + l.libraries;
        // 42 pages listed, and 4 pages of the reservations the dump does not list.
        assert_eq!(sum, 46 * k, "the listed mappings and the runtime's reservations");
    }

    fn breakdown_of(rows: &[(&'static str, u64)]) -> MemoryBreakdown {
        let categories: Vec<Category> = rows
            .iter()
            .map(|&(name, bytes)| Category {
                name,
                label: name,
                group: Group::Heap,
                kind: if name == "heap_released" { Kind::Released } else { Kind::Memory },
                bytes,
                runtime_counter: None,
                detail: BTreeMap::new(),
            })
            .collect();
        let memory_bytes = categories.iter().filter(|c| c.kind == Kind::Memory).map(|c| c.bytes).sum();
        MemoryBreakdown {
            total_bytes: categories.iter().map(|c| c.bytes).sum(),
            memory_bytes,
            released_bytes: 0,
            reserved_bytes: 0,
            go_bytes: 0,
            categories,
            counters: Vec::new(),
            counter_excess_bytes: 0,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn outside_live_names_causes_over_their_thresholds() {
        const M: u64 = 1 << 20;
        let b = breakdown_of(&[
            ("heap_objects", 300 * M),
            ("heap_free_slots", 200 * M),
            ("heap_free_spans", 150 * M),
            ("heap_released", 900 * M),
            ("stacks_in_use", 20 * M),
            ("other", 330 * M),
        ]);
        let t = OutsideLiveThresholds::default();
        let o = outside_live(&b, &t);
        assert!(o.mostly_outside);
        assert_eq!(o.memory_bytes, 1000 * M);
        assert!((o.heap_object_share - 0.3).abs() < 1e-9);
        let causes: Vec<Cause> = o.causes.iter().map(|c| c.cause).collect();
        // Stacks: 2% of the memory, under the threshold; the released heap holds no memory.
        assert_eq!(causes, vec![Cause::NonGo, Cause::Fragmentation, Cause::UnreturnedFreeSpans]);
        assert!(o.causes[1].why.contains("40%"), "{}", o.causes[1].why);
        // Free slots under a quarter of the in-use spans are no fragmentation.
        let t2 = OutsideLiveThresholds { fragmentation_share_of_in_use: 0.5, ..t };
        assert!(!outside_live(&b, &t2).causes.iter().any(|c| c.cause == Cause::Fragmentation));
        // A small process is never mostly outside, though its causes are still named.
        let t3 = OutsideLiveThresholds { min_memory_bytes: 2000 * M, ..t };
        let o3 = outside_live(&b, &t3);
        assert!(!o3.mostly_outside && !o3.causes.is_empty());
        // Mostly heap objects.
        let b = breakdown_of(&[("heap_objects", 900 * M), ("other", 100 * M)]);
        let o = outside_live(&b, &t);
        assert!(!o.mostly_outside && o.causes.iter().all(|c| c.cause == Cause::NonGo));
        // No memory at all: no division by zero.
        let o = outside_live(&breakdown_of(&[]), &t);
        assert!(!o.mostly_outside && o.causes.is_empty() && o.heap_object_share == 0.0);
    }
}
