//! Runtime struct layouts and constants, in one place.
//!
//! Every offset the runtime model uses is read here from a [`LayoutSource`]: the executable's
//! DWARF today; a table generated per Go release can implement the same trait for binaries
//! without DWARF. Nothing outside this module hard-codes an offset that differs between releases.

use crate::exe::Dwarf;
use crate::{Error, Result};

/// Where layouts come from.
pub trait LayoutSource {
    /// Offset of a (dotted) field path within a named struct type.
    fn field(&self, ty: &str, path: &str) -> Option<u64>;
    /// Size of a named type.
    fn size(&self, ty: &str) -> Option<u64>;
    /// An integer constant of the runtime (e.g. `runtime._Gwaiting`).
    fn constant(&self, name: &str) -> Option<i64>;
    /// Number of elements of a named array type (`runtime.semTable`).
    fn array_len(&self, ty: &str) -> Option<u64>;
    /// What this source is, for error messages.
    fn describe(&self) -> String;
}

impl LayoutSource for Dwarf {
    fn field(&self, ty: &str, path: &str) -> Option<u64> {
        self.field_offset(ty, path)
    }
    fn size(&self, ty: &str) -> Option<u64> {
        self.size_of(ty)
    }
    fn constant(&self, name: &str) -> Option<i64> {
        Dwarf::constant(self, name)
    }
    fn array_len(&self, ty: &str) -> Option<u64> {
        self.ty(self.resolve(self.type_by_name(ty)?)).count
    }
    fn describe(&self) -> String {
        "the executable's DWARF".to_string()
    }
}

struct Reader<'a> {
    src: &'a dyn LayoutSource,
    missing: Vec<String>,
}

impl Reader<'_> {
    fn req(&mut self, ty: &str, path: &str) -> u64 {
        self.src.field(ty, path).unwrap_or_else(|| {
            self.missing.push(format!("{ty}.{path}"));
            0
        })
    }
    /// First path that exists (fields renamed across releases, atomics wrapped in structs).
    fn req_any(&mut self, ty: &str, paths: &[&str]) -> u64 {
        paths.iter().find_map(|p| self.src.field(ty, p)).unwrap_or_else(|| {
            self.missing.push(format!("{ty}.{}", paths[0]));
            0
        })
    }
    fn opt(&self, ty: &str, path: &str) -> Option<u64> {
        self.src.field(ty, path)
    }
    fn size(&mut self, ty: &str) -> u64 {
        self.src.size(ty).unwrap_or_else(|| {
            self.missing.push(format!("sizeof({ty})"));
            0
        })
    }
    fn konst(&mut self, name: &str) -> i64 {
        self.src.constant(name).unwrap_or_else(|| {
            self.missing.push(name.to_string());
            -1
        })
    }
}

/// `runtime.gobuf`
#[derive(Clone, Debug, Default)]
pub struct Gobuf {
    pub sp: u64,
    pub pc: u64,
    pub lr: u64,
    pub bp: u64,
    pub ctxt: u64,
}

/// `runtime.g`
#[derive(Clone, Debug, Default)]
pub struct GLayout {
    pub size: u64,
    pub stack_lo: u64,
    pub stack_hi: u64,
    pub m: u64,
    pub sched: u64,
    pub syscallsp: u64,
    pub syscallpc: u64,
    /// Go 1.23+.
    pub syscallbp: Option<u64>,
    pub atomicstatus: u64,
    pub goid: u64,
    pub waitsince: u64,
    pub waitreason: u64,
    pub lockedm: u64,
    pub parent_goid: u64,
    pub gopc: u64,
    pub startpc: u64,
    pub labels: u64,
    pub waiting: u64,
}

/// `runtime.m`
#[derive(Clone, Debug, Default)]
pub struct MLayout {
    pub g0: u64,
    pub procid: u64,
    pub gsignal: u64,
    pub curg: u64,
    pub id: u64,
    pub alllink: u64,
    pub throwing: Option<u64>,
    pub caughtsig: Option<u64>,
    /// Linux: Go caller of a vDSO call in progress.
    pub vdso_sp: Option<u64>,
    pub vdso_pc: Option<u64>,
    /// Windows: Go caller of a system call through asmstdcall.
    pub libcall_sp: Option<u64>,
    pub libcall_pc: Option<u64>,
}

/// The `_G*` status numbers of this release.
#[derive(Clone, Debug, Default)]
pub struct StatusConsts {
    pub idle: i64,
    pub runnable: i64,
    pub running: i64,
    pub syscall: i64,
    pub waiting: i64,
    pub dead: i64,
    pub copystack: i64,
    pub preempted: i64,
    /// Go 1.26+.
    pub leaked: Option<i64>,
    /// Go 1.26+: dead g of an extra M.
    pub deadextra: Option<i64>,
    pub scan_bit: i64,
}

#[derive(Clone, Debug, Default)]
pub struct Layouts {
    pub gobuf: Gobuf,
    pub g: GLayout,
    pub m: MLayout,
    pub status: StatusConsts,
    /// `runtime.schedt.lastpoll`
    pub sched_lastpoll: u64,
    /// `runtime.mstats.last_gc_nanotime` offset within `runtime.memstats`, if known.
    pub memstats_last_gc_nanotime: Option<u64>,
    /// `runtime.workType.tstart`, if known.
    pub work_tstart: Option<u64>,
    /// `runtime.timer.when` and `runtime.g.timer`, for the "now" estimate.
    pub g_timer: Option<u64>,
    pub timer_when: Option<u64>,
    /// Go 1.23+: `runtime.g.sleepWhen`.
    pub g_sleep_when: Option<u64>,
    /// `runtime.p.limiterEvent.stamp`: when the P last went idle (or into a GC assist), a
    /// monotonic time with an event type in its top `limiter_event_bits` bits.
    pub p_limiter_stamp: Option<u64>,
    pub limiter_event_bits: u32,
    /// The heap's layouts (`mheap`, `mspan`, `mcache`, consistent stats, `abi.Type`); None when
    /// the source lacks some of them (see `heap_missing`).
    pub heap: Option<HeapLayout>,
    /// What the heap layouts lack, when `heap` is None.
    pub heap_missing: Vec<String>,
    /// Type descriptor layouts; None (with the reason in `abi_missing`) if the source lacks them.
    pub abi: Option<AbiLayout>,
    pub abi_missing: Option<String>,
    /// Layouts of the runtime's memory accounting (counters, page allocator, reservations);
    /// None (with what is missing in `mem_missing`) if the source lacks them.
    pub mem: Option<MemLayout>,
    pub mem_missing: Vec<String>,
    /// Layouts of the GC roots beyond globals and frames (specials, finalizer queue, defers);
    /// None (with what is missing in `roots_missing`) if the source lacks them.
    pub roots: Option<RootsLayout>,
    pub roots_missing: Vec<String>,
    /// Layouts of channels, wait queues, semaphores and timers; None (with what is missing in
    /// `sync_missing`) if the source lacks them.
    pub sync: Option<SyncLayout>,
    pub sync_missing: Vec<String>,
    /// The standard library's types the diagnoses read.
    pub std: StdLayout,
    /// Layouts of what a crash leaves behind (`_panic` records, the signal a goroutine took,
    /// the runtime's signal table); None (with what is missing in `panics_missing`) if the
    /// source lacks them.
    pub panics: Option<PanicLayout>,
    pub panics_missing: Vec<String>,
    pub source: String,
}

/// Layouts and constants of the Go heap (mheap.go, mcache.go, mstats.go, abi/type.go).
#[derive(Clone, Debug, Default)]
pub struct HeapLayout {
    /// `runtime.mheap`: `allspans`, `arenas`, `sweepgen`.
    pub mheap_allspans: u64,
    pub mheap_arenas: u64,
    pub mheap_sweepgen: u64,
    /// `runtime.heapArena.spans`.
    pub arena_spans: u64,
    /// `runtime.mspan` fields (`freeindex`, `nelems`, `allocCount`, `allocCountBeforeCache`
    /// are uint16, `spanclass` and `state` u8, in every supported release).
    pub span_start: u64,
    pub span_npages: u64,
    pub span_freeindex: u64,
    pub span_nelems: u64,
    pub span_alloc_bits: u64,
    pub span_gcmark_bits: u64,
    pub span_sweepgen: u64,
    pub span_alloc_count: u64,
    pub span_alloc_count_before_cache: u64,
    pub span_spanclass: u64,
    pub span_state: u64,
    pub span_elemsize: u64,
    pub span_limit: u64,
    pub span_large_type: u64,
    pub span_size: u64,
    /// `runtime.p.mcache` and `runtime.mcache` fields.
    pub p_mcache: u64,
    pub mcache_alloc: u64,
    pub mcache_tiny: u64,
    pub mcache_tinyoffset: u64,
    pub mcache_tiny_allocs: u64,
    /// `runtime.mstats.heapStats.stats` ([3]heapStatsDelta) and the delta's fields.
    pub mstats_heap_stats: u64,
    pub delta_size: u64,
    pub delta_in_heap: u64,
    pub delta_tiny_alloc_count: u64,
    pub delta_large_alloc: u64,
    pub delta_large_alloc_count: u64,
    pub delta_small_alloc_count: u64,
    pub delta_large_free: u64,
    pub delta_large_free_count: u64,
    pub delta_small_free_count: u64,
    /// `internal/abi.Type` fields.
    pub type_size: u64,
    pub type_ptrbytes: u64,
    pub type_tflag: u64,
    pub type_kind: u64,
    pub type_gcdata: u64,
    /// Constants.
    pub page_size: u64,
    pub pages_per_arena: u64,
    pub heap_arena_bytes: u64,
    pub arena_l1_bits: u32,
    pub arena_l2_bits: u32,
    pub arena_base_offset: u64,
    pub span_in_use: u8,
    pub span_manual: u8,
    pub num_size_classes: u64,
    pub tiny_size_class: u64,
    pub malloc_header_size: u64,
    pub min_size_for_malloc_header: u64,
    /// `abi.TFlagGCMaskOnDemand` (1.24+): GCData is a `**byte` filled lazily.
    pub tflag_gc_mask_on_demand: Option<u8>,
    /// `abi.KindGCProg` (≤1.23): GCData is a GC program, unless `tflag_unrolled_bitmap` is set.
    pub kind_gc_prog: Option<u8>,
    pub tflag_unrolled_bitmap: Option<u8>,
    /// Size of `runtime.spanInlineMarkBits` when the binary has it (Green Tea GC).
    pub inline_mark_bits_size: Option<u64>,
    /// To rebuild on-demand masks from a type's structure: `abi.ArrayType.Elem`/`Len`,
    /// `abi.StructType.Fields`, `abi.StructField.Typ`/`Offset` and its size.
    pub array_elem: Option<u64>,
    pub array_len: Option<u64>,
    pub struct_fields: Option<u64>,
    pub field_typ: Option<u64>,
    pub field_offset: Option<u64>,
    pub field_size: Option<u64>,
}

impl HeapLayout {
    fn load(src: &dyn LayoutSource) -> std::result::Result<HeapLayout, Vec<String>> {
        let mut r = Reader { src, missing: Vec::new() };
        let (h, s, c, d, t) = (
            "runtime.mheap",
            "runtime.mspan",
            "runtime.mcache",
            "runtime.heapStatsDelta",
            "internal/abi.Type",
        );
        let opt_const = |name: &str| src.constant(name);
        let l = HeapLayout {
            mheap_allspans: r.req(h, "allspans"),
            mheap_arenas: r.req(h, "arenas"),
            mheap_sweepgen: r.req(h, "sweepgen"),
            arena_spans: r.req("runtime.heapArena", "spans"),
            span_start: r.req(s, "startAddr"),
            span_npages: r.req(s, "npages"),
            span_freeindex: r.req(s, "freeindex"),
            span_nelems: r.req(s, "nelems"),
            span_alloc_bits: r.req(s, "allocBits"),
            span_gcmark_bits: r.req(s, "gcmarkBits"),
            span_sweepgen: r.req(s, "sweepgen"),
            span_alloc_count: r.req(s, "allocCount"),
            span_alloc_count_before_cache: r.req(s, "allocCountBeforeCache"),
            span_spanclass: r.req(s, "spanclass"),
            span_state: r.req_any(s, &["state.s.value", "state.s", "state"]),
            span_elemsize: r.req(s, "elemsize"),
            span_limit: r.req(s, "limit"),
            span_large_type: r.req(s, "largeType"),
            span_size: r.size(s),
            p_mcache: r.req("runtime.p", "mcache"),
            mcache_alloc: r.req(c, "alloc"),
            mcache_tiny: r.req(c, "tiny"),
            mcache_tinyoffset: r.req(c, "tinyoffset"),
            mcache_tiny_allocs: r.req(c, "tinyAllocs"),
            mstats_heap_stats: r.req("runtime.mstats", "heapStats.stats"),
            delta_size: r.size(d),
            delta_in_heap: r.req(d, "inHeap"),
            delta_tiny_alloc_count: r.req(d, "tinyAllocCount"),
            delta_large_alloc: r.req(d, "largeAlloc"),
            delta_large_alloc_count: r.req(d, "largeAllocCount"),
            delta_small_alloc_count: r.req(d, "smallAllocCount"),
            delta_large_free: r.req(d, "largeFree"),
            delta_large_free_count: r.req(d, "largeFreeCount"),
            delta_small_free_count: r.req(d, "smallFreeCount"),
            type_size: r.req(t, "Size_"),
            type_ptrbytes: r.req(t, "PtrBytes"),
            type_tflag: r.req(t, "TFlag"),
            type_kind: r.req(t, "Kind_"),
            type_gcdata: r.req(t, "GCData"),
            page_size: r.konst("runtime.pageSize") as u64,
            pages_per_arena: r.konst("runtime.pagesPerArena") as u64,
            heap_arena_bytes: r.konst("runtime.heapArenaBytes") as u64,
            arena_l1_bits: r.konst("runtime.arenaL1Bits") as u32,
            arena_l2_bits: r.konst("runtime.arenaL2Bits") as u32,
            arena_base_offset: opt_const("runtime.arenaBaseOffsetUintptr")
                .or_else(|| opt_const("runtime.arenaBaseOffset"))
                .unwrap_or(0) as u64,
            span_in_use: r.konst("runtime.mSpanInUse") as u8,
            span_manual: r.konst("runtime.mSpanManual") as u8,
            num_size_classes: (r.konst("runtime.numSpanClasses") / 2) as u64,
            tiny_size_class: opt_const("runtime.tinySizeClass").unwrap_or(2) as u64,
            // 8 and 512 in every supported release; 1.25+ DWARF may omit them.
            malloc_header_size: opt_const("runtime.mallocHeaderSize").unwrap_or(8) as u64,
            min_size_for_malloc_header: opt_const("runtime.minSizeForMallocHeader").unwrap_or(512) as u64,
            tflag_gc_mask_on_demand: opt_const("internal/abi.TFlagGCMaskOnDemand").map(|v| v as u8),
            kind_gc_prog: opt_const("internal/abi.KindGCProg").map(|v| v as u8),
            tflag_unrolled_bitmap: opt_const("internal/abi.TFlagUnrolledBitmap").map(|v| v as u8),
            inline_mark_bits_size: src.size("runtime.spanInlineMarkBits"),
            array_elem: src.field("internal/abi.ArrayType", "Elem"),
            array_len: src.field("internal/abi.ArrayType", "Len"),
            struct_fields: src.field("internal/abi.StructType", "Fields"),
            field_typ: src.field("internal/abi.StructField", "Typ"),
            field_offset: src.field("internal/abi.StructField", "Offset"),
            field_size: src.size("internal/abi.StructField"),
        };
        let bad_consts = l.page_size == 0
            || l.heap_arena_bytes == 0
            || l.pages_per_arena == 0
            || l.arena_l1_bits > 16
            || l.arena_l2_bits > 32;
        if bad_consts && r.missing.is_empty() {
            r.missing.push("sane heap arena constants".into());
        }
        if r.missing.is_empty() {
            Ok(l)
        } else {
            Err(r.missing)
        }
    }
}

/// Layouts and constants of the runtime's memory accounting (mstats.go, mgc.go's
/// `gcControllerState`, mpagealloc.go, mpagecache.go, mgcscavenge.go, mgcwork.go): what
/// `runtime.ReadMemStats` reads, and where the runtime keeps its address space.
#[derive(Clone, Debug, Default)]
pub struct MemLayout {
    /// `runtime.gcControllerState.heapInUse`, `.heapFree`, `.heapReleased` (sysMemStat, u64).
    pub ctl_heap_in_use: u64,
    pub ctl_heap_free: u64,
    pub ctl_heap_released: u64,
    /// `runtime.mstats` sysMemStats: `stacks_sys`, `mspan_sys`, `mcache_sys`, `buckhash_sys`,
    /// `gcMiscSys`, `other_sys`.
    pub stacks_sys: u64,
    pub mspan_sys: u64,
    pub mcache_sys: u64,
    pub buckhash_sys: u64,
    pub gc_misc_sys: u64,
    pub other_sys: u64,
    /// `runtime.heapStatsDelta`: `committed`, `released`, `inStacks`, `inWorkBufs`, and
    /// `inPtrScalarBits` (up to Go 1.24: GC program bitmaps, gone since).
    pub delta_committed: u64,
    pub delta_released: u64,
    pub delta_in_stacks: u64,
    pub delta_in_work_bufs: u64,
    pub delta_in_ptr_scalar_bits: Option<u64>,
    /// `runtime.mheap`: `pages`, `spanalloc.inuse`, `cachealloc.inuse`, and the list of the
    /// heap's arenas (`allArenas` up to 1.25, `heapArenas` since).
    pub mheap_pages: u64,
    pub mheap_spanalloc_inuse: u64,
    pub mheap_cachealloc_inuse: u64,
    pub mheap_arena_list: u64,
    /// `runtime.pageAlloc`: `summary` ([summaryLevels][]pallocSum), `chunks`, `inUse.ranges`,
    /// `scav.index.chunks`.
    pub pages_summary: u64,
    pub pages_chunks: u64,
    pub pages_in_use: u64,
    pub pages_scav_chunks: u64,
    /// `runtime.addrRange` size and `limit` (`base` is at 0).
    pub addr_range_size: u64,
    pub addr_range_limit: u64,
    /// `runtime.pallocData` size and `scavenged` (its `pallocBits` are at 0).
    pub palloc_data_size: u64,
    pub palloc_scavenged: u64,
    /// `runtime.p.pcache` and `runtime.pageCache` `base`, `cache`, `scav`.
    pub p_pcache: u64,
    pub pcache_base: u64,
    pub pcache_cache: u64,
    pub pcache_scav: u64,
    /// `runtime.workType.wbufSpans.free` and `.busy` (`mSpanList`, `first` at 0), `mspan.next`.
    pub work_wbuf_free: u64,
    pub work_wbuf_busy: u64,
    pub span_next: u64,
    /// Constants: `summaryLevels`, `pallocSumBytes`, `pallocChunkPages`, `pallocChunkBytes`,
    /// `pallocChunksL1Bits`, `pallocChunksL2Bits`, and `sizeof(atomicScavChunkData)`.
    pub summary_levels: u64,
    pub palloc_sum_bytes: u64,
    pub palloc_chunk_pages: u64,
    pub palloc_chunk_bytes: u64,
    pub palloc_chunks_l1_bits: u32,
    pub palloc_chunks_l2_bits: u32,
    pub scav_chunk_data_size: u64,
}

impl MemLayout {
    fn load(src: &dyn LayoutSource) -> std::result::Result<MemLayout, Vec<String>> {
        let mut r = Reader { src, missing: Vec::new() };
        let (ctl, ms, d, h, pa) = (
            "runtime.gcControllerState",
            "runtime.mstats",
            "runtime.heapStatsDelta",
            "runtime.mheap",
            "runtime.pageAlloc",
        );
        let l = MemLayout {
            ctl_heap_in_use: r.req(ctl, "heapInUse"),
            ctl_heap_free: r.req(ctl, "heapFree"),
            ctl_heap_released: r.req(ctl, "heapReleased"),
            stacks_sys: r.req(ms, "stacks_sys"),
            mspan_sys: r.req(ms, "mspan_sys"),
            mcache_sys: r.req(ms, "mcache_sys"),
            buckhash_sys: r.req(ms, "buckhash_sys"),
            gc_misc_sys: r.req(ms, "gcMiscSys"),
            other_sys: r.req(ms, "other_sys"),
            delta_committed: r.req(d, "committed"),
            delta_released: r.req(d, "released"),
            delta_in_stacks: r.req(d, "inStacks"),
            delta_in_work_bufs: r.req(d, "inWorkBufs"),
            delta_in_ptr_scalar_bits: r.opt(d, "inPtrScalarBits"),
            mheap_pages: r.req(h, "pages"),
            mheap_spanalloc_inuse: r.req(h, "spanalloc.inuse"),
            mheap_cachealloc_inuse: r.req(h, "cachealloc.inuse"),
            mheap_arena_list: r.req_any(h, &["heapArenas", "allArenas"]),
            pages_summary: r.req(pa, "summary"),
            pages_chunks: r.req(pa, "chunks"),
            pages_in_use: r.req(pa, "inUse.ranges"),
            pages_scav_chunks: r.req(pa, "scav.index.chunks"),
            addr_range_size: r.size("runtime.addrRange"),
            addr_range_limit: r.req("runtime.addrRange", "limit"),
            palloc_data_size: r.size("runtime.pallocData"),
            palloc_scavenged: r.req("runtime.pallocData", "scavenged"),
            p_pcache: r.req("runtime.p", "pcache"),
            pcache_base: r.req("runtime.pageCache", "base"),
            pcache_cache: r.req("runtime.pageCache", "cache"),
            pcache_scav: r.req("runtime.pageCache", "scav"),
            work_wbuf_free: r.req("runtime.workType", "wbufSpans.free"),
            work_wbuf_busy: r.req("runtime.workType", "wbufSpans.busy"),
            span_next: r.req("runtime.mspan", "next"),
            summary_levels: r.konst("runtime.summaryLevels") as u64,
            palloc_sum_bytes: r.konst("runtime.pallocSumBytes") as u64,
            palloc_chunk_pages: r.konst("runtime.pallocChunkPages") as u64,
            palloc_chunk_bytes: r.konst("runtime.pallocChunkBytes") as u64,
            palloc_chunks_l1_bits: r.konst("runtime.pallocChunksL1Bits") as u32,
            palloc_chunks_l2_bits: r.konst("runtime.pallocChunksL2Bits") as u32,
            scav_chunk_data_size: r.size("runtime.atomicScavChunkData"),
        };
        let sane = l.summary_levels > 0
            && l.summary_levels <= 8
            && l.palloc_sum_bytes > 0
            && l.palloc_chunk_pages > 0
            && l.palloc_chunk_pages <= 1 << 16
            && l.palloc_chunk_pages.is_multiple_of(64)
            && l.palloc_chunk_bytes.is_power_of_two()
            && l.palloc_chunks_l1_bits <= 32
            && l.palloc_chunks_l2_bits <= 32
            && l.palloc_data_size >= l.palloc_chunk_pages / 4;
        if !sane && r.missing.is_empty() {
            r.missing.push("sane page allocator constants".into());
        }
        if r.missing.is_empty() {
            Ok(l)
        } else {
            Err(r.missing)
        }
    }
}

/// Layouts of the GC roots the runtime keeps besides globals and stack frames (mheap.go
/// specials, mfinal.go finalizer blocks, runtime2.go `_defer`).
#[derive(Clone, Debug, Default)]
pub struct RootsLayout {
    /// `mspan.specials`; `special.next`, `.offset` (u16 up to 1.23, uintptr since), `.kind`.
    pub span_specials: u64,
    pub special_next: u64,
    pub special_offset: u64,
    pub special_offset_size: u64,
    pub special_kind: u64,
    /// `specialfinalizer.fn` and `.ot` (`*abi.PtrType` of the object).
    pub finalizer_fn: u64,
    pub finalizer_ot: u64,
    /// `specialCleanup.fn` (1.24, 1.25) or `.cleanup.fn` and `.cleanup.arg` (1.26+).
    pub cleanup_fn: Option<u64>,
    pub cleanup_arg: Option<u64>,
    /// `specialWeakHandle.handle` (1.23+).
    pub weak_handle: Option<u64>,
    /// `_KindSpecialFinalizer`, `_KindSpecialCleanup`, `_KindSpecialWeakHandle`.
    pub kind_finalizer: u8,
    pub kind_cleanup: Option<u8>,
    pub kind_weak_handle: Option<u8>,
    /// `runtime.allfin` blocks (`finblock`, `finBlock` in 1.26+): `alllink`, `cnt`, `fin`, and
    /// the queued `finalizer`'s size, `fn` and `arg`.
    pub finblock_alllink: u64,
    pub finblock_cnt: u64,
    pub finblock_fin: u64,
    pub queued_size: u64,
    pub queued_fn: u64,
    pub queued_arg: u64,
    /// `g._defer`; `_defer.fn`, `.link`, `.heap`.
    pub g_defer: u64,
    pub defer_fn: u64,
    pub defer_link: u64,
    pub defer_heap: u64,
}

impl RootsLayout {
    fn load(src: &dyn LayoutSource) -> std::result::Result<RootsLayout, Vec<String>> {
        let mut r = Reader { src, missing: Vec::new() };
        let (s, sf, sc) = ("runtime.special", "runtime.specialfinalizer", "runtime.specialCleanup");
        let fb = if src.size("runtime.finBlock").is_some() { "runtime.finBlock" } else { "runtime.finblock" };
        let kind = |n: &str| src.constant(&format!("runtime._KindSpecial{n}")).map(|v| v as u8);
        let special_offset = r.req(s, "offset");
        let special_kind = r.req(s, "kind");
        let l = RootsLayout {
            span_specials: r.req("runtime.mspan", "specials"),
            special_next: r.req(s, "next"),
            special_offset,
            special_offset_size: special_kind.saturating_sub(special_offset).min(8),
            special_kind,
            finalizer_fn: r.req(sf, "fn"),
            finalizer_ot: r.req(sf, "ot"),
            cleanup_fn: src.field(sc, "fn").or_else(|| src.field(sc, "cleanup.fn")),
            cleanup_arg: src.field(sc, "cleanup.arg"),
            weak_handle: src.field("runtime.specialWeakHandle", "handle"),
            kind_finalizer: r.konst("runtime._KindSpecialFinalizer") as u8,
            kind_cleanup: kind("Cleanup"),
            kind_weak_handle: kind("WeakHandle"),
            finblock_alllink: r.req(fb, "alllink"),
            finblock_cnt: r.req(fb, "cnt"),
            finblock_fin: r.req(fb, "fin"),
            queued_size: r.size("runtime.finalizer"),
            queued_fn: r.req("runtime.finalizer", "fn"),
            queued_arg: r.req("runtime.finalizer", "arg"),
            g_defer: r.req("runtime.g", "_defer"),
            defer_fn: r.req("runtime._defer", "fn"),
            defer_link: r.req("runtime._defer", "link"),
            defer_heap: r.req("runtime._defer", "heap"),
        };
        if r.missing.is_empty() {
            Ok(l)
        } else {
            Err(r.missing)
        }
    }
}

/// Layouts of what goroutines block on (chan.go, runtime2.go `sudog`/`waitq`, sema.go, time.go):
/// channels and their wait queues, the semaphore table, timers and the `time.Ticker`/`Timer`
/// objects that hold them.
#[derive(Clone, Debug, Default)]
pub struct SyncLayout {
    /// `runtime.hchan`.
    pub chan_qcount: u64,
    pub chan_dataqsiz: u64,
    pub chan_buf: u64,
    pub chan_elemsize: u64,
    pub chan_closed: u64,
    pub chan_elemtype: u64,
    pub chan_recvq: u64,
    pub chan_sendq: u64,
    /// `hchan.timer` (1.23+): the timer of a timer channel.
    pub chan_timer: Option<u64>,
    /// `runtime.waitq.first`.
    pub waitq_first: u64,
    /// `runtime.sudog`: `g`, `next`, `prev`, `parent`, `waitlink`, `ticket`, `isSelect`, and the
    /// address `elem` and `c` hold (1.26+: the `vu` word of `maybeTraceable*`).
    pub sudog_g: u64,
    pub sudog_next: u64,
    pub sudog_prev: u64,
    pub sudog_parent: u64,
    pub sudog_waitlink: u64,
    pub sudog_ticket: u64,
    pub sudog_is_select: u64,
    pub sudog_elem: u64,
    pub sudog_c: u64,
    pub sudog_size: u64,
    /// `runtime.semtable`'s elements: stride, and the treap of their `semaRoot`.
    pub semtab_stride: u64,
    pub semtab_len: u64,
    pub sema_treap: u64,
    /// `runtime.timer`: `when`, `period`, `f`, `arg` (an eface: the channel of a channel timer
    /// is its data word); the status word of releases that have one (≤1.22 `status`).
    pub timer_when: u64,
    pub timer_period: u64,
    pub timer_f: u64,
    pub timer_arg: u64,
    pub timer_status: Option<u64>,
    /// Status values of a timer that is not running any more (≤1.22: `timerNoStatus`,
    /// `timerDeleted`, `timerRemoving`, `timerRemoved`).
    pub timer_stopped_states: Vec<u32>,
    /// The object a `time.NewTicker`/`NewTimer` allocates (1.23+ `runtime.timeTimer`, ≤1.22
    /// `time.Ticker`): its size, where its channel and its `runtime.timer` are in it; None if
    /// the program has no such type (it makes no tickers).
    pub ticker: Option<(u64, u64, u64)>,
    /// Where the sync package keeps its semaphore words, when the binary has the types.
    pub sema: SemaOffsets,
}

/// Offsets of the semaphore words (and the lock state) in the sync package's types, for the
/// ones the binary has (1.24+ wraps `sync.Mutex` around `internal/sync.Mutex`).
#[derive(Clone, Debug, Default)]
pub struct SemaOffsets {
    /// `sync.Mutex`: its `sema` and `state` words.
    pub mutex_sema: Option<u64>,
    pub mutex_state: Option<u64>,
    /// `sync.RWMutex`: `readerSem`, `writerSem`, the writers' `w` mutex's sema.
    pub rw_reader_sem: Option<u64>,
    pub rw_writer_sem: Option<u64>,
    pub rw_w_sema: Option<u64>,
    /// `sync.WaitGroup.sema` and its counter (`state`: counter in the high 32 bits).
    pub wg_sema: Option<u64>,
    pub wg_state: Option<u64>,
    /// `sync.Cond.notify` (the `notifyList` its waiters queue on), and the list's `head`
    /// (its waiters' `sudog`s, linked by `next`).
    pub cond_notify: Option<u64>,
    pub notify_head: Option<u64>,
}

/// Layouts of the standard library's types the diagnoses read, each present only if the
/// program uses the type: map headers' entry counts, open files and sockets, contexts.
#[derive(Clone, Debug, Default)]
pub struct StdLayout {
    /// The entry count of a map header (swiss `maps.Map.used`, old `hmap.count`; 8 bytes).
    pub map_count: Option<u64>,
    /// `os.file`: its descriptor (`pfd.Sysfd`; -1 once closed) and `name`.
    pub file_fd: Option<u64>,
    pub file_name: Option<u64>,
    /// `net.netFD`: its descriptor, and `net` (the network name, a string).
    pub netfd_fd: Option<u64>,
    pub netfd_net: Option<u64>,
    /// `database/sql.Rows.closed`.
    pub rows_closed: Option<u64>,
    /// `context.cancelCtx.children` (a map), `.err` (an interface, set once cancelled).
    pub ctx_children: Option<u64>,
    pub ctx_err: Option<u64>,
}

impl StdLayout {
    fn load(src: &dyn LayoutSource) -> StdLayout {
        StdLayout {
            map_count: src
                .field("internal/runtime/maps.Map", "used")
                .or_else(|| src.field("runtime.hmap", "count")),
            file_fd: src.field("os.file", "pfd.Sysfd"),
            file_name: src.field("os.file", "name"),
            netfd_fd: src.field("net.netFD", "pfd.Sysfd"),
            netfd_net: src.field("net.netFD", "net"),
            rows_closed: src.field("database/sql.Rows", "closed"),
            ctx_children: src.field("context.cancelCtx", "children"),
            ctx_err: any(src, "context.cancelCtx", &["err.v", "err"]),
        }
    }
}

/// The first of `paths` that `ty` has.
fn any(src: &dyn LayoutSource, ty: &str, paths: &[&str]) -> Option<u64> {
    paths.iter().find_map(|p| src.field(ty, p))
}

impl SyncLayout {
    fn load(src: &dyn LayoutSource) -> std::result::Result<SyncLayout, Vec<String>> {
        let mut r = Reader { src, missing: Vec::new() };
        let (h, sg, t) = ("runtime.hchan", "runtime.sudog", "runtime.timer");
        let semtab_len = src.array_len("runtime.semTable").unwrap_or(0);
        let semtab_size = r.size("runtime.semTable");
        // 1.23+: the runtime allocates `timeTimer{c; init; timer}` for package time; before, the
        // runtime timer is `time.Ticker.r` (`runtimeTimer`, the same layout).
        let (holder, chan_field, timer_field) = if src.size("runtime.timeTimer").is_some() {
            ("runtime.timeTimer", "c", "timer")
        } else {
            ("time.Ticker", "C", "r")
        };
        let stopped = ["timerNoStatus", "timerDeleted", "timerRemoving", "timerRemoved"];
        let l = SyncLayout {
            chan_qcount: r.req(h, "qcount"),
            chan_dataqsiz: r.req(h, "dataqsiz"),
            chan_buf: r.req(h, "buf"),
            chan_elemsize: r.req(h, "elemsize"),
            chan_closed: r.req(h, "closed"),
            chan_elemtype: r.req(h, "elemtype"),
            chan_recvq: r.req(h, "recvq"),
            chan_sendq: r.req(h, "sendq"),
            chan_timer: r.opt(h, "timer"),
            waitq_first: r.req("runtime.waitq", "first"),
            sudog_g: r.req(sg, "g"),
            sudog_next: r.req(sg, "next"),
            sudog_prev: r.req(sg, "prev"),
            sudog_parent: r.req(sg, "parent"),
            sudog_waitlink: r.req(sg, "waitlink"),
            sudog_ticket: r.req(sg, "ticket"),
            sudog_is_select: r.req(sg, "isSelect"),
            sudog_elem: r.req_any(sg, &["elem.vu", "elem"]),
            sudog_c: r.req_any(sg, &["c.vu", "c"]),
            sudog_size: r.size(sg),
            semtab_stride: semtab_size.checked_div(semtab_len).unwrap_or(0),
            semtab_len,
            sema_treap: r.req("runtime.semaRoot", "treap"),
            timer_when: r.req(t, "when"),
            timer_period: r.req(t, "period"),
            timer_f: r.req(t, "f"),
            timer_arg: r.req(t, "arg"),
            timer_status: r.opt(t, "status.value").or_else(|| r.opt(t, "status")),
            timer_stopped_states: stopped
                .iter()
                .filter_map(|c| src.constant(&format!("runtime.{c}")).map(|v| v as u32))
                .collect(),
            ticker: src
                .size(holder)
                .zip(src.field(holder, chan_field))
                .zip(src.field(holder, timer_field))
                .map(|((s, c), t)| (s, c, t)),
            sema: SemaOffsets {
                mutex_sema: any(src, "sync.Mutex", &["mu.sema", "sema"]),
                mutex_state: any(src, "sync.Mutex", &["mu.state", "state"]),
                rw_reader_sem: src.field("sync.RWMutex", "readerSem"),
                rw_writer_sem: src.field("sync.RWMutex", "writerSem"),
                rw_w_sema: any(src, "sync.RWMutex", &["w.mu.sema", "w.sema"]),
                wg_sema: src.field("sync.WaitGroup", "sema"),
                wg_state: any(src, "sync.WaitGroup", &["state.v", "state"]),
                cond_notify: src.field("sync.Cond", "notify"),
                notify_head: any(src, "runtime.notifyList", &["head"])
                    .or_else(|| src.field("sync.notifyList", "head")),
            },
        };
        if semtab_len == 0 {
            r.missing.push("len(runtime.semTable)".into());
        }
        if r.missing.is_empty() {
            Ok(l)
        } else {
            Err(r.missing)
        }
    }
}

/// Layouts of a goroutine's panics and of what the runtime records about a fatal signal
/// (runtime2.go `_panic`, `g.sig*`; signal_unix.go `sigTabT`), and of the error types whose
/// `Error()` text can be rebuilt from their fields.
#[derive(Clone, Debug, Default)]
pub struct PanicLayout {
    /// `g._panic`: the innermost active panic.
    pub g_panic: u64,
    /// `_panic.arg` (an `any`), `.link` (the panic it interrupted), `.recovered`, `.goexit`.
    pub panic_arg: u64,
    pub panic_link: u64,
    pub panic_recovered: u64,
    pub panic_goexit: u64,
    /// `_panic.repanicked` (Go 1.25+): the same value panicked again after a recover.
    pub panic_repanicked: Option<u64>,
    /// `g.sig` (u32), `g.sigcode0`, `g.sigcode1`, `g.sigpc`: the signal that turned into a panic.
    pub g_sig: u64,
    pub g_sigcode0: u64,
    pub g_sigcode1: u64,
    pub g_sigpc: u64,
    /// `runtime.sigTabT` (`runtime.sigtable`'s element, Unix) size and its `name` string.
    pub sigtab_size: Option<u64>,
    pub sigtab_name: Option<u64>,
    pub errors: ErrorLayouts,
}

/// Fields of the error types [`crate::runtime::panics`] knows the `Error()` text of; each None
/// when the program does not use the type.
#[derive(Clone, Debug, Default)]
pub struct ErrorLayouts {
    /// `errors.errorString.s`
    pub errors_error_string: Option<u64>,
    /// `fmt.wrapError.msg`, `fmt.wrapErrors.msg`
    pub fmt_wrap_error: Option<u64>,
    pub fmt_wrap_errors: Option<u64>,
    /// `runtime.errorAddressString.msg`
    pub error_address_string: Option<u64>,
    /// `runtime.boundsError`: `x` (int64), `y` (int), `signed` (bool), `code` (u8).
    pub bounds_x: Option<u64>,
    pub bounds_y: Option<u64>,
    pub bounds_signed: Option<u64>,
    pub bounds_code: Option<u64>,
    /// `runtime.TypeAssertionError`: `_interface`, `concrete`, `asserted` (`*abi.Type`),
    /// `missingMethod` (string).
    pub assert_interface: Option<u64>,
    pub assert_concrete: Option<u64>,
    pub assert_asserted: Option<u64>,
    pub assert_missing_method: Option<u64>,
}

impl PanicLayout {
    fn load(src: &dyn LayoutSource) -> std::result::Result<PanicLayout, Vec<String>> {
        let mut r = Reader { src, missing: Vec::new() };
        let (g, p, ta) = ("runtime.g", "runtime._panic", "runtime.TypeAssertionError");
        let f = |t: &str, path: &str| src.field(t, path);
        let l = PanicLayout {
            g_panic: r.req(g, "_panic"),
            panic_arg: r.req(p, "arg"),
            panic_link: r.req(p, "link"),
            panic_recovered: r.req(p, "recovered"),
            panic_goexit: r.req(p, "goexit"),
            panic_repanicked: r.opt(p, "repanicked"),
            g_sig: r.req(g, "sig"),
            g_sigcode0: r.req(g, "sigcode0"),
            g_sigcode1: r.req(g, "sigcode1"),
            g_sigpc: r.req(g, "sigpc"),
            sigtab_size: src.size("runtime.sigTabT"),
            sigtab_name: f("runtime.sigTabT", "name"),
            errors: ErrorLayouts {
                errors_error_string: f("errors.errorString", "s"),
                fmt_wrap_error: f("fmt.wrapError", "msg"),
                fmt_wrap_errors: f("fmt.wrapErrors", "msg"),
                error_address_string: f("runtime.errorAddressString", "msg"),
                bounds_x: f("runtime.boundsError", "x"),
                bounds_y: f("runtime.boundsError", "y"),
                bounds_signed: f("runtime.boundsError", "signed"),
                bounds_code: f("runtime.boundsError", "code"),
                assert_interface: f(ta, "_interface"),
                assert_concrete: f(ta, "concrete"),
                assert_asserted: f(ta, "asserted"),
                assert_missing_method: f(ta, "missingMethod"),
            },
        };
        if r.missing.is_empty() {
            Ok(l)
        } else {
            Err(r.missing)
        }
    }
}

impl Layouts {
    pub fn load(src: &dyn LayoutSource) -> Result<Layouts> {
        let mut r = Reader { src, missing: Vec::new() };
        let gobuf = Gobuf {
            sp: r.req("runtime.gobuf", "sp"),
            pc: r.req("runtime.gobuf", "pc"),
            lr: r.req("runtime.gobuf", "lr"),
            bp: r.req("runtime.gobuf", "bp"),
            ctxt: r.req("runtime.gobuf", "ctxt"),
        };
        let g = "runtime.g";
        let gl = GLayout {
            size: r.size(g),
            stack_lo: r.req(g, "stack.lo"),
            stack_hi: r.req(g, "stack.hi"),
            m: r.req(g, "m"),
            sched: r.req(g, "sched"),
            syscallsp: r.req(g, "syscallsp"),
            syscallpc: r.req(g, "syscallpc"),
            syscallbp: r.opt(g, "syscallbp"),
            atomicstatus: r.req_any(g, &["atomicstatus.value", "atomicstatus"]),
            goid: r.req(g, "goid"),
            waitsince: r.req(g, "waitsince"),
            waitreason: r.req(g, "waitreason"),
            lockedm: r.req(g, "lockedm"),
            parent_goid: r.req(g, "parentGoid"),
            gopc: r.req(g, "gopc"),
            startpc: r.req(g, "startpc"),
            labels: r.req(g, "labels"),
            waiting: r.req(g, "waiting"),
        };
        let m = "runtime.m";
        let ml = MLayout {
            g0: r.req(m, "g0"),
            procid: r.req(m, "procid"),
            gsignal: r.req(m, "gsignal"),
            curg: r.req(m, "curg"),
            id: r.req(m, "id"),
            alllink: r.req(m, "alllink"),
            throwing: r.opt(m, "throwing"),
            caughtsig: r.opt(m, "caughtsig"),
            vdso_sp: r.opt(m, "vdsoSP"),
            vdso_pc: r.opt(m, "vdsoPC"),
            libcall_sp: r.opt(m, "libcallsp"),
            libcall_pc: r.opt(m, "libcallpc"),
        };
        let status = StatusConsts {
            idle: r.konst("runtime._Gidle"),
            runnable: r.konst("runtime._Grunnable"),
            running: r.konst("runtime._Grunning"),
            syscall: r.konst("runtime._Gsyscall"),
            waiting: r.konst("runtime._Gwaiting"),
            dead: r.konst("runtime._Gdead"),
            copystack: r.konst("runtime._Gcopystack"),
            preempted: r.konst("runtime._Gpreempted"),
            leaked: src.constant("runtime._Gleaked"),
            deadextra: src.constant("runtime._Gdeadextra"),
            scan_bit: r.konst("runtime._Gscan"),
        };
        let sched_lastpoll = r.req_any("runtime.schedt", &["lastpoll.value", "lastpoll"]);
        let heap = HeapLayout::load(src);
        let mem = MemLayout::load(src);
        let roots = RootsLayout::load(src);
        let sync = SyncLayout::load(src);
        let panics = PanicLayout::load(src);
        let (abi, abi_missing) = match AbiLayout::load(src) {
            Ok(a) => (Some(a), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let layouts = Layouts {
            abi,
            abi_missing,
            gobuf,
            g: gl,
            m: ml,
            status,
            sched_lastpoll,
            memstats_last_gc_nanotime: src.field("runtime.mstats", "last_gc_nanotime"),
            work_tstart: src.field("runtime.workType", "tstart"),
            g_timer: src.field(g, "timer"),
            timer_when: src.field("runtime.timer", "when"),
            g_sleep_when: src.field(g, "sleepWhen"),
            p_limiter_stamp: src
                .field("runtime.p", "limiterEvent.stamp.value")
                .or_else(|| src.field("runtime.p", "limiterEvent.stamp")),
            // runtime.limiterEventBits is 3 in every supported release; DWARF omits it.
            limiter_event_bits: src.constant("runtime.limiterEventBits").unwrap_or(3) as u32,
            heap: heap.as_ref().ok().cloned(),
            heap_missing: heap.err().unwrap_or_default(),
            mem: mem.as_ref().ok().cloned(),
            mem_missing: mem.err().unwrap_or_default(),
            roots: roots.as_ref().ok().cloned(),
            roots_missing: roots.err().unwrap_or_default(),
            sync: sync.as_ref().ok().cloned(),
            sync_missing: sync.err().unwrap_or_default(),
            std: StdLayout::load(src),
            panics: panics.as_ref().ok().cloned(),
            panics_missing: panics.err().unwrap_or_default(),
            source: src.describe(),
        };
        if !r.missing.is_empty() {
            return Err(Error::Unsupported(format!(
                "{} lacks runtime layouts this release needs: {}",
                src.describe(),
                r.missing.join(", ")
            )));
        }
        Ok(layouts)
    }
}

/// Layouts of the type descriptors (`internal/abi.Type` and its kind-specific extensions,
/// `abi.Name`, itabs, funcvals) and the flag/kind constants of this release.
#[derive(Clone, Debug, Default)]
pub struct AbiLayout {
    /// `sizeof(abi.Type)`: where the kind-specific part of a descriptor starts.
    pub type_size: u64,
    pub size: u64,
    pub ptr_bytes: u64,
    pub hash: u64,
    pub tflag: u64,
    pub align: u64,
    pub kind: u64,
    pub gcdata: u64,
    pub str: u64,
    pub ptr_to_this: u64,
    pub tflag_uncommon: u8,
    pub tflag_extra_star: u8,
    pub tflag_named: u8,
    /// Go 1.24+: GCData is a `**byte` slot filled lazily by the runtime.
    pub tflag_gc_mask_on_demand: Option<u8>,
    /// Go 1.26+: pointer-shaped types are stored directly in interfaces (was a kind bit).
    pub tflag_direct_iface: Option<u8>,
    /// Mask of the kind proper in `Kind_` (≤1.25: 0x1f; 1.26+: the whole byte).
    pub kind_mask: u8,
    /// ≤1.25: the direct-iface bit of `Kind_`.
    pub kind_direct_iface: Option<u8>,
    /// ≤1.23: GCData is a GC program.
    pub kind_gc_prog: Option<u8>,
    /// Sizes of the kind-specific structs (the uncommon part follows them) and their fields.
    pub ptr_type_size: u64,
    pub ptr_elem: u64,
    pub slice_type_size: u64,
    pub slice_elem: u64,
    pub array_type_size: u64,
    pub array_elem: u64,
    pub array_len: u64,
    pub chan_type_size: u64,
    pub chan_elem: u64,
    pub chan_dir: u64,
    pub func_type_size: u64,
    pub func_in_count: u64,
    pub func_out_count: u64,
    pub struct_type_size: u64,
    pub struct_pkg_path: u64,
    pub struct_fields: u64,
    pub field_size: u64,
    pub field_name: u64,
    pub field_typ: u64,
    pub field_offset: u64,
    pub iface_type_size: u64,
    pub iface_pkg_path: u64,
    pub iface_methods: u64,
    pub imethod_size: u64,
    pub imethod_name: u64,
    pub imethod_typ: u64,
    pub uncommon_size: u64,
    pub uncommon_pkg_path: u64,
    pub uncommon_mcount: u64,
    pub uncommon_xcount: u64,
    pub uncommon_moff: u64,
    pub method_size: u64,
    pub method_name: u64,
    pub method_mtyp: u64,
    pub map: MapTypeLayout,
    /// `abi.ITab` (1.23+) or `runtime.itab`.
    pub itab_inter: u64,
    pub itab_type: u64,
    pub itab_fun: u64,
    pub itab_size: u64,
    /// `runtime.eface._type`, `runtime.iface.tab`, and their `data`.
    pub eface_type: u64,
    pub eface_data: u64,
    pub iface_tab: u64,
    pub iface_data: u64,
    /// `runtime.funcval.fn`
    pub funcval_fn: u64,
}

/// The map type descriptor: `abi.MapType` (buckets ≤1.23, swiss 1.26+), `abi.SwissMapType`
/// (1.24, 1.25) or `abi.OldMapType` (noswissmap).
#[derive(Clone, Debug, Default)]
pub struct MapTypeLayout {
    /// Swiss tables (groups) rather than buckets.
    pub swiss: bool,
    pub type_size: u64,
    pub key: u64,
    pub elem: u64,
    /// `Group` (swiss) or `Bucket` (old): the type of a group/bucket.
    pub group: u64,
    /// `GroupSize` (uintptr, swiss) or `BucketSize` (u16, old).
    pub group_size: u64,
    /// Old: `KeySize`, `ValueSize` (u8).
    pub key_size: Option<u64>,
    pub value_size: Option<u64>,
    /// Swiss 1.24–1.26: `SlotSize`, `ElemOff` (uintptr).
    pub slot_size: Option<u64>,
    pub elem_off: Option<u64>,
    /// Swiss 1.27+: `KeysOff`, `KeyStride`, `ElemsOff`, `ElemStride` (uintptr).
    pub keys_off: Option<u64>,
    pub key_stride: Option<u64>,
    pub elems_off: Option<u64>,
    pub elem_stride: Option<u64>,
    /// `Flags` (u32 swiss, u32 old) and its indirect-key / indirect-elem bits.
    pub flags: u64,
    pub flag_indirect_key: u32,
    pub flag_indirect_elem: u32,
}

impl AbiLayout {
    /// Read from `src`; an error names what is missing.
    pub fn load(src: &dyn LayoutSource) -> Result<AbiLayout> {
        let mut r = Reader { src, missing: Vec::new() };
        let t = "internal/abi.Type";
        let c = |n: &str| src.constant(&format!("internal/abi.{n}")).map(|v| v as u8);
        let konst = |r: &mut Reader, n: &str| r.konst(&format!("internal/abi.{n}")) as u8;
        let (ptr, slice, arr, chan, func) = (
            "internal/abi.PtrType",
            "internal/abi.SliceType",
            "internal/abi.ArrayType",
            "internal/abi.ChanType",
            "internal/abi.FuncType",
        );
        let (st, sf, it, im, un, me) = (
            "internal/abi.StructType",
            "internal/abi.StructField",
            "internal/abi.InterfaceType",
            "internal/abi.Imethod",
            "internal/abi.UncommonType",
            "internal/abi.Method",
        );
        let itab = if src.size("internal/abi.ITab").is_some() { "internal/abi.ITab" } else { "runtime.itab" };
        let kind_mask = c("KindMask").unwrap_or(0xff);
        let l = AbiLayout {
            type_size: r.size(t),
            size: r.req(t, "Size_"),
            ptr_bytes: r.req(t, "PtrBytes"),
            hash: r.req(t, "Hash"),
            tflag: r.req(t, "TFlag"),
            align: r.req(t, "Align_"),
            kind: r.req(t, "Kind_"),
            gcdata: r.req(t, "GCData"),
            str: r.req(t, "Str"),
            ptr_to_this: r.req(t, "PtrToThis"),
            tflag_uncommon: konst(&mut r, "TFlagUncommon"),
            tflag_extra_star: konst(&mut r, "TFlagExtraStar"),
            tflag_named: konst(&mut r, "TFlagNamed"),
            tflag_gc_mask_on_demand: c("TFlagGCMaskOnDemand"),
            tflag_direct_iface: c("TFlagDirectIface"),
            kind_mask,
            kind_direct_iface: c("KindDirectIface"),
            kind_gc_prog: c("KindGCProg"),
            ptr_type_size: r.size(ptr),
            ptr_elem: r.req(ptr, "Elem"),
            slice_type_size: r.size(slice),
            slice_elem: r.req(slice, "Elem"),
            array_type_size: r.size(arr),
            array_elem: r.req(arr, "Elem"),
            array_len: r.req(arr, "Len"),
            chan_type_size: r.size(chan),
            chan_elem: r.req(chan, "Elem"),
            chan_dir: r.req(chan, "Dir"),
            func_type_size: r.size(func),
            func_in_count: r.req(func, "InCount"),
            func_out_count: r.req(func, "OutCount"),
            struct_type_size: r.size(st),
            struct_pkg_path: r.req(st, "PkgPath"),
            struct_fields: r.req(st, "Fields"),
            field_size: r.size(sf),
            field_name: r.req(sf, "Name"),
            field_typ: r.req(sf, "Typ"),
            field_offset: r.req(sf, "Offset"),
            iface_type_size: r.size(it),
            iface_pkg_path: r.req(it, "PkgPath"),
            iface_methods: r.req(it, "Methods"),
            imethod_size: r.size(im),
            imethod_name: r.req(im, "Name"),
            imethod_typ: r.req(im, "Typ"),
            uncommon_size: r.size(un),
            uncommon_pkg_path: r.req(un, "PkgPath"),
            uncommon_mcount: r.req(un, "Mcount"),
            uncommon_xcount: r.req(un, "Xcount"),
            uncommon_moff: r.req(un, "Moff"),
            method_size: r.size(me),
            method_name: r.req(me, "Name"),
            method_mtyp: r.req(me, "Mtyp"),
            map: MapTypeLayout::load(&mut r),
            itab_inter: r.req_any(itab, &["Inter", "inter"]),
            itab_type: r.req_any(itab, &["Type", "_type"]),
            itab_fun: r.req_any(itab, &["Fun", "fun"]),
            itab_size: r.size(itab),
            eface_type: r.req("runtime.eface", "_type"),
            eface_data: r.req("runtime.eface", "data"),
            iface_tab: r.req("runtime.iface", "tab"),
            iface_data: r.req("runtime.iface", "data"),
            funcval_fn: r.req("runtime.funcval", "fn"),
        };
        if !r.missing.is_empty() {
            return Err(Error::Unsupported(format!(
                "{} lacks the type descriptor layouts: {}",
                src.describe(),
                r.missing.join(", ")
            )));
        }
        Ok(l)
    }
}

impl MapTypeLayout {
    fn load(r: &mut Reader) -> MapTypeLayout {
        // The map type the runtime uses: swiss if the binary has swiss map internals.
        let swiss = r.src.size("internal/runtime/maps.Map").is_some();
        let candidates: &[&str] = if swiss {
            &["internal/abi.SwissMapType", "internal/abi.MapType"]
        } else {
            &["internal/abi.OldMapType", "internal/abi.MapType"]
        };
        let group_field = if swiss { "Group" } else { "Bucket" };
        let m = candidates
            .iter()
            .copied()
            .find(|n| r.src.field(n, group_field).is_some())
            .unwrap_or(candidates[0]);
        let konst = |n: &str| {
            ["internal/abi.", "internal/abi.Swiss"]
                .iter()
                .find_map(|p| r.src.constant(&format!("{p}{n}")))
                .map(|v| v as u32)
        };
        // The bucket map's flag bits (1 indirect key, 2 indirect elem) never changed and have
        // no named constants; the swiss map's are `MapIndirectKey`/`MapIndirectElem`.
        let (fk, fe) = if swiss {
            (konst("MapIndirectKey").unwrap_or(4), konst("MapIndirectElem").unwrap_or(8))
        } else {
            (1, 2)
        };
        MapTypeLayout {
            swiss,
            type_size: r.size(m),
            key: r.req(m, "Key"),
            elem: r.req(m, "Elem"),
            group: r.req(m, group_field),
            group_size: r.req(m, if swiss { "GroupSize" } else { "BucketSize" }),
            key_size: r.opt(m, "KeySize"),
            value_size: r.opt(m, "ValueSize"),
            slot_size: r.opt(m, "SlotSize"),
            elem_off: r.opt(m, "ElemOff"),
            keys_off: r.opt(m, "KeysOff"),
            key_stride: r.opt(m, "KeyStride"),
            elems_off: r.opt(m, "ElemsOff"),
            elem_stride: r.opt(m, "ElemStride"),
            flags: r.req(m, "Flags"),
            flag_indirect_key: fk,
            flag_indirect_elem: fe,
        }
    }
}
