//! Layer 5: reports. Each command's data is gathered once into a serialisable document,
//! then written as human text or as versioned JSON (see docs/json-schema.md).

pub mod channels;
pub mod diff;
pub mod heap;
pub mod json;
pub mod memory;
pub mod object;
pub mod text;
pub mod triage;

use serde::Serialize;

use crate::analysis::crash::{self, CrashReport};
use crate::analysis::group::{self, Group};
use crate::dump::{CrashInfo, DumpKind};
use crate::runtime::goroutines::Now;
use crate::runtime::{Goroutine, Process, Status};
use crate::Result;

/// Version of the JSON documents; bumped on every change (docs/json-schema.md has the log).
pub const SCHEMA_VERSION: &str = "1.7.0";

/// A frame of a goroutine's stack, as the report and diff documents give it.
#[derive(Serialize, Clone, Debug)]
pub struct FrameRow {
    pub function: String,
    pub file: String,
    pub line: u32,
    pub inlined: bool,
}

impl FrameRow {
    /// The frames the runtime's traceback shows (runtime frames and wrappers hidden).
    pub fn shown(fs: &[crate::runtime::goroutines::Frame]) -> Vec<FrameRow> {
        fs.iter()
            .filter(|f| f.shown_by_default())
            .map(|f| FrameRow {
                function: f.function.clone(),
                file: f.file.clone(),
                line: f.line,
                inlined: f.inlined,
            })
            .collect()
    }
}

/// What the dump is and what the process was doing.
pub struct Overview {
    pub dump: DumpSummary,
    pub go: GoSummary,
    pub threads: usize,
    pub goroutines: usize,
    pub goroutines_by_status: Vec<(String, usize)>,
    pub crash: Option<Crash>,
    pub now_estimate: Option<Now>,
    pub warnings: Vec<String>,
}

#[derive(Serialize)]
pub struct DumpSummary {
    pub path: String,
    pub kind: DumpKind,
    pub producer: Option<String>,
    pub os: String,
    pub arch: String,
    pub pid: u64,
    pub executable: String,
    /// Memory regions and bytes the dump holds.
    pub regions: usize,
    pub bytes: u64,
    pub full_memory: bool,
}

#[derive(Serialize)]
pub struct GoSummary {
    pub version: String,
    pub experiments: Vec<String>,
    pub path: String,
    #[serde(serialize_with = "module")]
    pub main_module: Option<(String, String)>,
    /// Build settings in the order the build info lists them (a JSON object).
    #[serde(serialize_with = "pairs")]
    pub settings: Vec<(String, String)>,
    pub has_dwarf: bool,
    pub go_build_id: Option<String>,
}

pub struct Crash {
    /// What the dump says: the thread, the signal that ended the process, the exception.
    pub info: CrashInfo,
    pub signal_name: Option<String>,
    /// The goroutine that panicked, threw or took the fatal signal; else the one running on
    /// the crashing thread, if any.
    pub goroutine: Option<u64>,
    /// Why it died ([`crash::why_died`]).
    pub why: Option<CrashReport>,
}

fn pairs<S: serde::Serializer>(v: &[(String, String)], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_map(v.iter().map(|(k, v)| (k, v)))
}

fn module<S: serde::Serializer>(m: &Option<(String, String)>, s: S) -> std::result::Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Module<'a> {
        path: &'a str,
        version: &'a str,
    }
    m.as_ref().map(|(path, version)| Module { path, version }).serialize(s)
}

pub fn overview(p: &Process, gs: &[Goroutine]) -> Result<Overview> {
    let (regions, bytes) = p.dump.memory.stats();
    let mut by_status: Vec<(String, usize)> = Vec::new();
    for g in gs {
        let key = match (&g.wait_reason, g.status) {
            (Some(r), Status::Waiting) => format!("waiting ({r})"),
            (_, s) => s.name().to_string(),
        };
        match by_status.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => by_status.push((key, 1)),
        }
    }
    by_status.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let why = crash::why_died(p, gs);
    let mut warnings = p.warnings.clone();
    warnings.extend(why.iter().flat_map(|w| w.warnings.iter().map(|w| format!("crash: {w}"))));
    let crash = p.dump.crash.clone().map(|info| {
        let on_thread = gs
            .iter()
            .find(|g| g.thread_id == Some(info.thread_id) && g.status == Status::Running)
            .or_else(|| gs.iter().find(|g| g.thread_id == Some(info.thread_id)))
            .map(|g| g.id);
        let goroutine = why.as_ref().and_then(|w| w.goroutine).or(on_thread);
        Crash { signal_name: info.signal.map(signal_name), goroutine, info, why: why.clone() }
    });
    let bi = &p.exe.build_info;
    Ok(Overview {
        dump: DumpSummary {
            path: p.dump.path.display().to_string(),
            kind: p.dump.kind,
            producer: p.dump.producer.clone(),
            os: p.dump.os.name().into(),
            arch: p.dump.arch.name().into(),
            pid: p.dump.process.pid,
            executable: p.exe.path.display().to_string(),
            regions,
            bytes,
            full_memory: p.dump.full_memory,
        },
        go: GoSummary {
            version: bi.go_version.clone(),
            experiments: bi.experiments.clone(),
            path: bi.path.clone(),
            main_module: bi.main_module.clone(),
            settings: bi.settings.clone(),
            has_dwarf: p.exe.dwarf.is_some(),
            go_build_id: p.exe.image.go_build_id.clone(),
        },
        threads: p.dump.threads.len(),
        goroutines: gs.len(),
        goroutines_by_status: by_status,
        crash,
        now_estimate: p.estimate_now(),
        warnings,
    })
}

/// The goroutines document: every goroutine, and the groups of identical ones.
pub struct GoroutinesDoc {
    pub goroutines: Vec<Goroutine>,
    pub groups: Vec<Group>,
    pub now_estimate: Option<Now>,
    pub warnings: Vec<String>,
}

pub fn goroutines(p: &Process) -> Result<GoroutinesDoc> {
    let goroutines = p.goroutines()?;
    let groups = group::group(&goroutines);
    Ok(GoroutinesDoc { groups, goroutines, now_estimate: p.estimate_now(), warnings: p.warnings.clone() })
}

/// Linux signal names (the runtime's own spelling).
pub fn signal_name(sig: i32) -> String {
    let n = match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => return format!("signal {sig}"),
    };
    n.to_string()
}
