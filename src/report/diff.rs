//! `gomortem diff OLD NEW`: what grew between two dumps of one program, by type, by retainer
//! and by goroutine group (see [`crate::analysis::diff`]), as text or JSON.

use std::fmt::Write as _;

use serde::Serialize;

use super::text::bytes;
use super::SCHEMA_VERSION;
use crate::analysis::diff::{type_growth, Diff, GroupDelta, Snapshot, TypeCounts};
use crate::runtime::goroutines::Location;
use crate::runtime::Status;

/// One of the two dumps.
#[derive(Serialize)]
pub struct DumpJ {
    pub path: String,
    pub pid: u64,
    pub go_version: String,
    /// The main package's path.
    pub program: String,
    pub go_build_id: Option<String>,
    pub reachable_objects: u64,
    pub reachable_bytes: u64,
    /// Not counting the runtime's own.
    pub goroutines: usize,
}

impl DumpJ {
    fn new(s: &Snapshot) -> DumpJ {
        DumpJ {
            path: s.path.clone(),
            pid: s.pid,
            go_version: s.identity.go_version.clone(),
            program: s.identity.program.clone(),
            go_build_id: s.identity.go_build_id.clone(),
            reachable_objects: s.reachable_objects,
            reachable_bytes: s.reachable_bytes,
            goroutines: s.goroutines,
        }
    }
}

#[derive(Serialize)]
pub struct TotalsJ {
    pub reachable_objects_delta: i64,
    pub reachable_bytes_delta: i64,
    pub goroutines_delta: i64,
}

#[derive(Serialize)]
pub struct TypeJ {
    #[serde(rename = "type")]
    pub type_name: String,
    pub objects_delta: i64,
    pub bytes_delta: i64,
    pub owned_bytes_delta: i64,
    pub old: TypeCounts,
    pub new: TypeCounts,
}

impl TypeJ {
    /// What the list is sorted by ([`type_growth`]).
    pub fn growth(&self) -> i64 {
        type_growth(self.owned_bytes_delta, self.bytes_delta)
    }
}

#[derive(Serialize)]
pub struct RetainerJ {
    /// The root by name: `main.registry`, `goroutine main.worker buf` (no goroutine id).
    pub root: String,
    /// From the root: `TYPE` of the object it points to, then `VIA → TYPE`; empty for the root
    /// itself.
    pub path: Vec<String>,
    pub bytes_delta: i64,
    pub objects_delta: i64,
    pub old_bytes: u64,
    pub new_bytes: u64,
    /// Roots of that name (for a root: goroutines with that function and variable), or
    /// objects of that name (for a part).
    pub count: usize,
}

#[derive(Serialize)]
pub struct GroupJ {
    /// The function where they are (the first frame of the program's code).
    pub function: String,
    pub location: Option<Location>,
    pub created_by: Option<Location>,
    pub count_delta: i64,
    pub old_count: usize,
    pub new_count: usize,
    pub status: Status,
    pub wait_reason: Option<String>,
    pub frames: Vec<super::FrameRow>,
}

/// The `diff` document.
#[derive(Serialize)]
pub struct DiffDoc {
    pub schema_version: &'static str,
    pub command: &'static str,
    pub old: DumpJ,
    pub new: DumpJ,
    /// Seconds between the dumps by the runtime's clock (one process only; approximate).
    pub elapsed_seconds: Option<f64>,
    pub totals: TotalsJ,
    /// Retainers changing less are not listed.
    pub noise_bytes: u64,
    pub types: Vec<TypeJ>,
    pub retainers: Vec<RetainerJ>,
    pub goroutine_groups: Vec<GroupJ>,
    pub warnings: Vec<String>,
}

/// The `top` rows that grew the most (the list's head) and the `top` that shrank the most (its
/// tail), in the list's order (sorted by `change`, descending).
fn ends<T>(v: &[T], top: usize, change: impl Fn(&T) -> i64) -> impl Iterator<Item = &T> {
    let grew = v.iter().take_while(|x| change(x) > 0).count();
    let shrank = v.iter().rev().take_while(|x| change(x) < 0).count();
    v[..grew.min(top)].iter().chain(v[v.len() - shrank.min(top)..].iter())
}

fn group_json(g: &GroupDelta) -> GroupJ {
    let s = &g.group;
    GroupJ {
        function: s.location.as_ref().map(|l| l.function.clone()).unwrap_or_default(),
        location: s.location.clone(),
        created_by: s.created_by.clone(),
        count_delta: g.count_delta,
        old_count: g.old_count,
        new_count: g.new_count,
        status: s.status,
        wait_reason: s.wait_reason.clone(),
        frames: super::FrameRow::shown(&s.frames),
    }
}

/// The document: at most `top` rows that grew and `top` that shrank in each list.
pub fn diff(old: &Snapshot, new: &Snapshot, d: &Diff, top: usize) -> DiffDoc {
    let mut warnings: Vec<String> = Vec::new();
    warnings.extend(old.warnings.iter().map(|w| format!("old: {w}")));
    warnings.extend(new.warnings.iter().map(|w| format!("new: {w}")));
    warnings.extend(d.warnings.iter().cloned());
    DiffDoc {
        schema_version: SCHEMA_VERSION,
        command: "diff",
        old: DumpJ::new(old),
        new: DumpJ::new(new),
        elapsed_seconds: d.elapsed_seconds,
        totals: TotalsJ {
            reachable_objects_delta: new.reachable_objects as i64 - old.reachable_objects as i64,
            reachable_bytes_delta: new.reachable_bytes as i64 - old.reachable_bytes as i64,
            goroutines_delta: new.goroutines as i64 - old.goroutines as i64,
        },
        noise_bytes: d.noise_bytes,
        types: ends(&d.types, top, |t| t.growth())
            .map(|t| TypeJ {
                type_name: t.type_name.clone(),
                objects_delta: t.objects_delta,
                bytes_delta: t.bytes_delta,
                owned_bytes_delta: t.owned_bytes_delta,
                old: t.old,
                new: t.new,
            })
            .collect(),
        retainers: ends(&d.retainers, top, |r| r.bytes_delta)
            .map(|r| RetainerJ {
                root: r.key.root.clone(),
                path: r.key.path.clone(),
                bytes_delta: r.bytes_delta,
                objects_delta: r.objects_delta,
                old_bytes: r.old_bytes,
                new_bytes: r.new_bytes,
                count: r.count,
            })
            .collect(),
        goroutine_groups: ends(&d.goroutine_groups, top, |g| g.count_delta).map(group_json).collect(),
        warnings,
    }
}

fn signed_bytes(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "+" };
    format!("{sign}{}", bytes(n.unsigned_abs()))
}

fn short(l: &Location) -> String {
    let file = l.file.rsplit('/').next().unwrap_or(&l.file);
    format!("{} ({file}:{})", l.function, l.line)
}

/// `shrank:` once, before the first row that shrank.
#[derive(Default)]
struct Shrank(bool);

impl Shrank {
    fn heading(&mut self, o: &mut String, shrank: bool) {
        if shrank && !self.0 {
            self.0 = true;
            o.push_str("  shrank:\n");
        }
    }
}

pub fn diff_text(d: &DiffDoc) -> String {
    let mut o = String::new();
    let (a, b) = (&d.old, &d.new);
    let _ = writeln!(o, "old: {} (pid {})\nnew: {} (pid {})", a.path, a.pid, b.path, b.pid);
    let when = match d.elapsed_seconds {
        Some(s) if s < 0.0 => format!(", new taken {:.1} s before old", -s),
        Some(s) => format!(", new taken {s:.1} s after old"),
        None => String::new(),
    };
    let _ = writeln!(
        o,
        "{} {}{when}: reachable {} → {} ({}), {} → {} objects ({:+}); goroutines {} → {} ({:+})",
        b.program,
        b.go_version,
        bytes(a.reachable_bytes),
        bytes(b.reachable_bytes),
        signed_bytes(d.totals.reachable_bytes_delta),
        a.reachable_objects,
        b.reachable_objects,
        d.totals.reachable_objects_delta,
        a.goroutines,
        b.goroutines,
        d.totals.goroutines_delta
    );

    let _ = writeln!(
        o,
        "\nby type (reachable; owned: with the backing arrays, strings and map internals it alone keeps):\n"
    );
    if d.types.is_empty() {
        let _ = writeln!(o, "  no change");
    } else {
        let _ = writeln!(o, "{:>10} {:>12} {:>12}  type", "objects", "bytes", "owned");
        let mut shrank = Shrank::default();
        for t in &d.types {
            shrank.heading(&mut o, t.growth() < 0);
            let _ = writeln!(
                o,
                "{:>+10} {:>12} {:>12}  {}",
                t.objects_delta,
                signed_bytes(t.bytes_delta),
                signed_bytes(t.owned_bytes_delta),
                t.type_name
            );
        }
    }

    let _ = writeln!(
        o,
        "\nby retainer (what each keeps alive alone; changes under {} left out as noise):\n",
        bytes(d.noise_bytes)
    );
    if d.retainers.is_empty() {
        let _ = writeln!(o, "  no change");
    }
    let mut shrank = Shrank::default();
    for r in &d.retainers {
        shrank.heading(&mut o, r.bytes_delta < 0);
        let count =
            if r.path.is_empty() && r.count > 1 { format!(" ({} roots)", r.count) } else { String::new() };
        let _ = writeln!(
            o,
            "{:>12}  {} → {}  {}{count}",
            signed_bytes(r.bytes_delta),
            bytes(r.old_bytes),
            bytes(r.new_bytes),
            r.root
        );
        for step in &r.path {
            let _ = writeln!(o, "{:14}{step}", "");
        }
    }

    let _ = writeln!(o, "\nby goroutine group (same stack and creator):\n");
    if d.goroutine_groups.is_empty() {
        let _ = writeln!(o, "  no change");
    }
    let mut shrank = Shrank::default();
    for g in &d.goroutine_groups {
        shrank.heading(&mut o, g.count_delta < 0);
        let at = g.location.as_ref().map_or_else(|| "(no frames)".to_string(), short);
        let state = match (&g.wait_reason, g.status) {
            (Some(r), Status::Waiting) => r.clone(),
            (_, s) => s.name().to_string(),
        };
        let by = g.created_by.as_ref().map(|c| format!(", created by {}", short(c))).unwrap_or_default();
        let _ = writeln!(o, "{:>+8}  {} → {}  {at} [{state}]{by}", g.count_delta, g.old_count, g.new_count);
    }
    for w in &d.warnings {
        let _ = writeln!(o, "warning: {w}");
    }
    o
}
