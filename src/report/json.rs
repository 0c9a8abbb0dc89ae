//! JSON output, streamed from borrowed views of the model (no intermediate tree: a dump with
//! 100,000 goroutines makes a 100+ MB document). Addresses are hex strings; every document
//! carries `schema_version` (docs/json-schema.md).

use std::collections::BTreeMap;
use std::io::Write;

use serde::{Serialize, Serializer};

use super::{GoroutinesDoc, Overview, SCHEMA_VERSION};
use crate::analysis::crash::{Reason, SignalInfo};
use crate::runtime::goroutines::{Frame, Location, Now};
use crate::runtime::panics::PanicRecord;
use crate::runtime::{Goroutine, Status};
use crate::Result;

/// A u64 written as a hex string.
struct Hex(u64);

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:#x}", self.0))
    }
}

#[derive(Serialize)]
struct FrameJ<'a> {
    function: &'a str,
    file: &'a str,
    line: u32,
    pc: Hex,
    inlined: bool,
}

fn frames(fs: &[Frame]) -> Vec<FrameJ<'_>> {
    fs.iter()
        .map(|f| FrameJ {
            function: &f.function,
            file: &f.file,
            line: f.line,
            pc: Hex(f.pc),
            inlined: f.inlined,
        })
        .collect()
}

#[derive(Serialize)]
struct StackJ {
    lo: Hex,
    hi: Hex,
}

#[derive(Serialize)]
struct GoroutineJ<'a> {
    id: u64,
    address: Hex,
    status: Status,
    wait_reason: Option<&'a str>,
    wait_minutes: u64,
    created_by: Option<&'a Location>,
    parent_id: u64,
    start_function: Option<&'a str>,
    thread_id: Option<u64>,
    m_id: Option<i64>,
    locked_to_thread: bool,
    labels: BTreeMap<&'a str, &'a str>,
    runtime_internal: bool,
    stack: StackJ,
    frames: Vec<FrameJ<'a>>,
    unwind_error: Option<&'a str>,
}

fn goroutine(g: &Goroutine) -> GoroutineJ<'_> {
    GoroutineJ {
        id: g.id,
        address: Hex(g.addr),
        status: g.status,
        wait_reason: g.wait_reason.as_deref(),
        wait_minutes: g.wait_minutes,
        created_by: g.created_by.as_ref(),
        parent_id: g.parent_id,
        start_function: g.start_function.as_deref(),
        thread_id: g.thread_id,
        m_id: g.m_id,
        locked_to_thread: g.locked_to_thread,
        labels: g.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
        runtime_internal: g.runtime_internal,
        stack: StackJ { lo: Hex(g.stack.0), hi: Hex(g.stack.1) },
        frames: frames(&g.frames),
        unwind_error: g.unwind_error.as_deref(),
    }
}

#[derive(Serialize)]
struct MinMax {
    min: u64,
    max: u64,
}

#[derive(Serialize)]
struct GroupJ<'a> {
    count: usize,
    status: Status,
    wait_reason: Option<&'a str>,
    wait_minutes: MinMax,
    locked_to_thread: bool,
    runtime_internal: bool,
    created_by: Option<&'a Location>,
    ids: &'a [u64],
    frames: Vec<FrameJ<'a>>,
}

/// Serialise a sequence lazily, one element at a time.
struct Seq<I>(std::cell::Cell<Option<I>>);

impl<I: Iterator<Item = T>, T: Serialize> Serialize for Seq<I> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.0.take().into_iter().flatten())
    }
}

fn seq<I>(it: I) -> Seq<I> {
    Seq(std::cell::Cell::new(Some(it)))
}

#[derive(Serialize)]
struct GoroutinesJ<'a, G: Serialize, R: Serialize> {
    schema_version: &'static str,
    command: &'static str,
    now_estimate: Option<&'a Now>,
    warnings: &'a [String],
    goroutines: G,
    groups: R,
}

/// Stream a document; a reader that went away (`| head`) is not an error.
pub(crate) fn write_to(w: impl Write, v: &impl Serialize) -> Result<()> {
    let mut w = std::io::BufWriter::with_capacity(1 << 20, w);
    let r = serde_json::to_writer(&mut w, v)
        .map_err(std::io::Error::from)
        .and_then(|_| w.write_all(b"\n"))
        .and_then(|_| w.flush());
    match r {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(crate::Error::Other(format!("writing JSON: {e}")))
        }
        _ => Ok(()),
    }
}

/// Write the goroutines document.
pub fn goroutines(doc: &GoroutinesDoc, w: impl Write) -> Result<()> {
    let groups = doc.groups.iter().map(|gr| GroupJ {
        count: gr.count,
        status: gr.status,
        wait_reason: gr.wait_reason.as_deref(),
        wait_minutes: MinMax { min: gr.min_wait_minutes, max: gr.max_wait_minutes },
        locked_to_thread: gr.locked_to_thread,
        runtime_internal: gr.runtime_internal,
        created_by: gr.created_by.as_ref(),
        ids: &gr.ids,
        frames: frames(&gr.frames),
    });
    let v = GoroutinesJ {
        schema_version: SCHEMA_VERSION,
        command: "goroutines",
        now_estimate: doc.now_estimate.as_ref(),
        warnings: &doc.warnings,
        goroutines: seq(doc.goroutines.iter().map(goroutine)),
        groups: seq(groups),
    };
    write_to(w, &v)
}

#[derive(Serialize)]
struct CrashJ<'a> {
    thread_id: u64,
    signal: Option<i32>,
    signal_name: Option<&'a str>,
    exception_code: Option<u32>,
    exception_address: Option<Hex>,
    goroutine: Option<u64>,
    // Why it died (analysis::crash::CrashReport), since 1.4.0.
    reason: Option<Reason>,
    message: Option<&'a str>,
    details: &'a [String],
    m_id: Option<i64>,
    cause: Option<&'a SignalInfo>,
    panics: &'a [PanicRecord],
    location: Option<&'a Location>,
    caller: Option<&'a Location>,
}

#[derive(Serialize)]
struct OverviewJ<'a> {
    schema_version: &'static str,
    command: &'static str,
    dump: &'a super::DumpSummary,
    go: &'a super::GoSummary,
    threads: usize,
    goroutines: usize,
    goroutines_by_status: BTreeMap<&'a str, usize>,
    crash: Option<CrashJ<'a>>,
    now_estimate: Option<&'a Now>,
    warnings: &'a [String],
}

/// Write the overview document.
pub fn overview(o: &Overview, w: impl Write) -> Result<()> {
    let v = OverviewJ {
        schema_version: SCHEMA_VERSION,
        command: "overview",
        dump: &o.dump,
        go: &o.go,
        threads: o.threads,
        goroutines: o.goroutines,
        goroutines_by_status: o.goroutines_by_status.iter().map(|(k, n)| (k.as_str(), *n)).collect(),
        crash: o.crash.as_ref().map(|c| {
            let w = c.why.as_ref();
            CrashJ {
                thread_id: c.info.thread_id,
                signal: c.info.signal,
                signal_name: c.signal_name.as_deref(),
                exception_code: c.info.exception_code,
                exception_address: c.info.exception_address.map(Hex),
                goroutine: c.goroutine,
                reason: w.map(|w| w.reason),
                message: w.and_then(|w| w.message.as_deref()),
                details: w.map_or(&[], |w| &w.details),
                m_id: w.and_then(|w| w.m_id),
                cause: w.and_then(|w| w.cause.as_ref()),
                panics: w.map_or(&[], |w| &w.panics),
                location: w.and_then(|w| w.location.as_ref()),
                caller: w.and_then(|w| w.caller.as_ref()),
            }
        }),
        now_estimate: o.now_estimate.as_ref(),
        warnings: &o.warnings,
    };
    write_to(w, &v)
}
