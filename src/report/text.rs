//! Human-readable text, in the shape of the Go runtime's own tracebacks.

use std::fmt::Write;

use super::{GoroutinesDoc, Overview};
use crate::runtime::goroutines::Frame;
use crate::runtime::Goroutine;

/// What the goroutine listing shows.
#[derive(Clone, Copy, Debug, Default)]
pub struct GoroutineOptions {
    /// One entry per goroutine instead of groups.
    pub all: bool,
    /// Show runtime-internal goroutines and runtime frames.
    pub runtime: bool,
}

pub fn overview(o: &Overview) -> String {
    let mut s = String::new();
    let d = &o.dump;
    let _ = writeln!(
        s,
        "dump:        {} ({:?}{})",
        d.path,
        d.kind,
        d.producer.as_ref().map(|p| format!(", written by {p}")).unwrap_or_default()
    );
    let _ = writeln!(s, "process:     pid {} on {}/{}", d.pid, d.os, d.arch);
    let _ = writeln!(s, "executable:  {}", d.executable);
    let _ = writeln!(
        s,
        "memory:      {} in {} regions{}",
        bytes(d.bytes),
        d.regions,
        if d.full_memory { "" } else { " (no full memory: no heap)" }
    );
    let g = &o.go;
    let exp = if g.experiments.is_empty() {
        String::new()
    } else {
        format!(" (GOEXPERIMENT={})", g.experiments.join(","))
    };
    let _ = writeln!(s, "go:          {}{}{}", g.version, exp, if g.has_dwarf { "" } else { ", no DWARF" });
    let module =
        g.main_module
            .as_ref()
            .map(|(p, v)| if *p == g.path { format!(" {v}") } else { format!(" ({p} {v})") });
    let _ = writeln!(s, "main:        {}{}", g.path, module.unwrap_or_default());
    for (k, v) in &g.settings {
        let _ = writeln!(s, "  build      {k}={v}");
    }
    let _ = writeln!(s, "threads:     {}", o.threads);
    let _ = writeln!(s, "goroutines:  {}", o.goroutines);
    for (k, n) in &o.goroutines_by_status {
        let _ = writeln!(s, "  {n:>8}   {k}");
    }
    match &o.crash {
        Some(c) => crash(&mut s, c),
        None => {
            let _ = writeln!(s, "crash:       no crash: a snapshot of a live process");
        }
    }
    if let Some(n) = &o.now_estimate {
        let _ = writeln!(s, "clock:       wait times measured against {} (see docs/wait-times.md)", n.source);
    }
    warnings(&mut s, &o.warnings);
    s
}

/// `crash:` and the lines under it: what the runtime printed, where, and how the process ended.
fn crash(s: &mut String, c: &super::Crash) {
    const PAD: &str = "             ";
    let ended = match (&c.signal_name, c.info.exception_code) {
        (Some(n), _) => n.clone(),
        (None, Some(code)) => format!("exception {code:#010x}"),
        _ => "unknown".into(),
    };
    let Some(w) = &c.why else {
        let g = c.goroutine.map(|g| format!(", goroutine {g}")).unwrap_or_default();
        let _ = writeln!(s, "crash:       {ended} on thread {}{g}", c.info.thread_id);
        return;
    };
    let mut lines: Vec<String> = match &w.message {
        Some(m) => m.lines().map(str::to_string).collect(),
        None => vec![format!("{} (the dump holds no message of the runtime's)", w.reason.name())],
    };
    lines.extend(w.details.iter().cloned());
    let place = |l: &crate::runtime::goroutines::Location| {
        let file = l.file.rsplit('/').next().unwrap_or(&l.file);
        format!("{} ({file}:{})", l.function, l.line)
    };
    let mut at = match w.goroutine.or(c.goroutine) {
        Some(g) => format!("in goroutine {g}"),
        None => "on the system stack".to_string(),
    };
    if let Some(l) = &w.location {
        let _ = write!(at, " at {}", place(l));
    }
    if let Some(l) = &w.caller {
        let _ = write!(at, ", via {}", place(l));
    }
    lines.push(at);
    let m = w.m_id.map(|m| format!(" (M {m})")).unwrap_or_default();
    lines.push(format!("on thread {}{m}; the process ended with {ended}", w.thread_id));
    for (i, l) in lines.iter().enumerate() {
        let _ = writeln!(s, "{}{l}", if i == 0 { "crash:       " } else { PAD });
    }
}

fn warnings(s: &mut String, w: &[String]) {
    for w in w {
        let _ = writeln!(s, "warning: {w}");
    }
}

pub(crate) fn bytes(n: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
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

/// `1-5, 7, 9-12`, cut after `max` ranges: `1-5, 7, … (+1234 more)`.
pub fn id_ranges(ids: &[u64], max: usize) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let mut j = i;
        while j + 1 < ids.len() && ids[j + 1] == ids[j] + 1 {
            j += 1;
        }
        if out.len() == max {
            return format!("{}, … (+{} more)", out.join(", "), ids.len() - i);
        }
        out.push(if i == j { ids[i].to_string() } else { format!("{}-{}", ids[i], ids[j]) });
        i = j + 1;
    }
    out.join(", ")
}

fn state(status: &str, reason: Option<&str>, min: u64, max: u64, locked: bool) -> String {
    let mut s = reason.unwrap_or(status).to_string();
    if max >= 1 {
        if min == max {
            let _ = write!(s, ", {max} minutes");
        } else {
            let _ = write!(s, ", {min}-{max} minutes");
        }
    }
    if locked {
        s.push_str(", locked to thread");
    }
    s
}

fn write_frames(s: &mut String, frames: &[Frame], show_runtime: bool) {
    let shown: Vec<&Frame> = frames.iter().filter(|f| show_runtime || f.shown_by_default()).collect();
    let mut i = 0;
    while i < shown.len() {
        let f = shown[i];
        // Deep recursion: a run of identical frames prints once, with its count.
        let mut run = 1;
        while i + run < shown.len() && same_place(shown[i + run], f) {
            run += 1;
        }
        let inl = if f.inlined { " (inlined)" } else { "" };
        let _ = writeln!(s, "{}(...){inl}\n\t{}:{}", f.function, f.file, f.line);
        if run > 2 {
            let _ = writeln!(s, "\t... the frame above, {} more times", run - 1);
            i += run;
        } else {
            i += 1;
        }
    }
    if shown.is_empty() && !frames.is_empty() {
        let _ = writeln!(s, "\t({} runtime frames; --runtime shows them)", frames.len());
    }
}

fn same_place(a: &Frame, b: &Frame) -> bool {
    a.function == b.function && a.file == b.file && a.line == b.line && a.inlined == b.inlined
}

fn write_created_by(s: &mut String, g: Option<&crate::runtime::goroutines::Location>, parent: Option<u64>) {
    if let Some(c) = g {
        let p = parent.filter(|p| *p != 0).map(|p| format!(" in goroutine {p}")).unwrap_or_default();
        let _ = writeln!(s, "created by {}{p}\n\t{}:{}", c.function, c.file, c.line);
    }
}

pub fn goroutines(doc: &GoroutinesDoc, opt: GoroutineOptions) -> String {
    let mut s = String::new();
    let shown = |g: &Goroutine| opt.runtime || !g.runtime_internal;
    let n_shown = doc.goroutines.iter().filter(|g| shown(g)).count();
    let hidden = doc.goroutines.len() - n_shown;
    if opt.all {
        let _ = writeln!(s, "{} goroutines{}\n", n_shown, hidden_note(hidden));
        for g in doc.goroutines.iter().filter(|g| shown(g)) {
            let mut head = format!(
                "goroutine {} [{}]",
                g.id,
                state(
                    g.status.name(),
                    g.wait_reason.as_deref(),
                    g.wait_minutes,
                    g.wait_minutes,
                    g.locked_to_thread
                )
            );
            if let Some(t) = g.thread_id {
                let _ = write!(head, " on thread {t}");
            }
            if !g.labels.is_empty() {
                let l: Vec<String> = g.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let _ = write!(head, " labels {{{}}}", l.join(", "));
            }
            let _ = writeln!(s, "{head}:");
            write_frames(&mut s, &g.frames, opt.runtime);
            write_created_by(&mut s, g.created_by.as_ref(), Some(g.parent_id));
            if let Some(e) = &g.unwind_error {
                let _ = writeln!(s, "\t(stack incomplete: {e})");
            }
            s.push('\n');
        }
    } else {
        let groups: Vec<_> = doc.groups.iter().filter(|gr| opt.runtime || !gr.runtime_internal).collect();
        let _ = writeln!(s, "{} goroutines in {} groups{}\n", n_shown, groups.len(), hidden_note(hidden));
        for gr in groups {
            let st = state(
                gr.status.name(),
                gr.wait_reason.as_deref(),
                gr.min_wait_minutes,
                gr.max_wait_minutes,
                gr.locked_to_thread,
            );
            let noun = if gr.count == 1 { "goroutine" } else { "goroutines" };
            let ids = if gr.count <= 1 {
                format!("goroutine {}", gr.ids[0])
            } else {
                format!("ids {}", id_ranges(&gr.ids, 12))
            };
            let _ = writeln!(s, "{} {noun} [{st}]: {ids}", gr.count);
            write_frames(&mut s, &gr.frames, opt.runtime);
            write_created_by(&mut s, gr.created_by.as_ref(), None);
            s.push('\n');
        }
    }
    warnings(&mut s, &doc.warnings);
    s
}

fn hidden_note(hidden: usize) -> String {
    if hidden == 0 {
        String::new()
    } else {
        format!(" ({hidden} runtime goroutines hidden; --runtime shows them and runtime frames)")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ranges() {
        assert_eq!(super::id_ranges(&[1, 2, 3, 5, 7, 8], 12), "1-3, 5, 7-8");
        assert_eq!(super::id_ranges(&[4], 12), "4");
        assert_eq!(super::id_ranges(&[1, 3, 5, 7], 2), "1, 3, … (+2 more)");
    }
}
