//! Compare gomortem's goroutines with the Go runtime's own traceback (the oracle) for one
//! fixture case. Used by the committed-fixture tests and by the full matrix.

use std::path::{Path, PathBuf};

use gomortem::runtime::goroutines::Frame;
use gomortem::runtime::{Goroutine, Process, Status};

use super::oracle;

/// One fixture case directory (see fixtures/README.md).
pub struct Case {
    pub dir: PathBuf,
    pub meta: serde_json::Value,
}

impl Case {
    pub fn file(&self, key: &str) -> PathBuf {
        self.dir.join(self.meta[key].as_str().unwrap_or(key))
    }
    pub fn name(&self) -> String {
        let snapshot = match self.meta["snapshot"].as_u64() {
            Some(n) if n > 1 => format!(" #{n}"),
            _ => String::new(),
        };
        format!(
            "go{} {} {}{snapshot}",
            self.meta["go_version"].as_str().unwrap_or("?"),
            self.meta["platform"].as_str().unwrap_or("?"),
            self.meta["scenario"].as_str().unwrap_or("?")
        )
    }
    pub fn is_live(&self) -> bool {
        self.meta["oracle_kind"].as_str() == Some("runtime-stack")
    }
}

/// A case's file, decompressed once under the target's temporary directory (each run of the
/// binary would otherwise spend most of its time in xz).
pub fn plain(case: &Case, key: &str) -> PathBuf {
    static DONE: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let src = case.file(key);
    if !src.extension().is_some_and(|e| e == "xz" || e == "gz" || e == "zst") {
        return src;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("unpacked").join(case.dir.file_name().unwrap());
    let out = dir.join(src.file_stem().unwrap()); // dump.xz → dump, dump2.xz → dump2
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if !done.contains(&out) {
        let f = gomortem::dump::MappedFile::open_maybe_compressed(&src).unwrap();
        let same = std::fs::metadata(&out).is_ok_and(|m| m.len() == f.len());
        if !same {
            // Written aside, then renamed: another test run may be reading the old one.
            std::fs::create_dir_all(&dir).unwrap();
            let tmp = dir.join(format!("{key}.{}", std::process::id()));
            write_sparse(&tmp, f.bytes());
            std::fs::rename(&tmp, &out).unwrap();
        }
        done.push(out.clone());
    }
    out
}

/// Write `bytes`, leaving holes where whole pages are zero (cores are mostly zeros).
fn write_sparse(path: &Path, bytes: &[u8]) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::File::create(path).unwrap();
    for (i, page) in bytes.chunks(4096).enumerate() {
        if page.iter().any(|&b| b != 0) {
            f.seek(SeekFrom::Start(i as u64 * 4096)).unwrap();
            f.write_all(page).unwrap();
        }
    }
    f.set_len(bytes.len() as u64).unwrap();
}

/// The cached cases of the full matrix (`GOMORTEM_FIXTURES`, default `fixtures/cache`), when
/// `GOMORTEM_MATRIX` is set (`just matrix`); None (with a note) otherwise. Panics if there are
/// none: the matrix asked for is never silently empty.
pub fn matrix_cases() -> Option<Vec<Case>> {
    if std::env::var_os("GOMORTEM_MATRIX").is_none() {
        eprintln!("matrix: skipped (set GOMORTEM_MATRIX=1, or run `just matrix`)");
        return None;
    }
    let root = PathBuf::from(std::env::var_os("GOMORTEM_FIXTURES").unwrap_or("fixtures/cache".into()));
    let cases = cases(&root);
    assert!(!cases.is_empty(), "no fixture cases under {} (run `just fixtures`)", root.display());
    Some(cases)
}

/// Every case under `root` (any depth), sorted by path. A case dumped more than once
/// (`snapshots` in its case.json: `dump2`, `oracle2`, `facts2`, `oracle_goroutine2`, …) gives
/// one case per snapshot, the later ones with their files under the plain keys and `snapshot`
/// set.
pub fn cases(root: &Path) -> Vec<Case> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            // Never follow symbolic links: a Wine prefix links z: to /.
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "case.json") {
                if let Ok(text) = std::fs::read_to_string(&p) {
                    if let Ok(meta) = serde_json::from_str::<serde_json::Value>(&text) {
                        for n in 2..=meta["snapshots"].as_u64().unwrap_or(1) {
                            let mut m = meta.clone();
                            for key in ["dump", "oracle", "facts", "oracle_goroutine"] {
                                m[key] = meta[format!("{key}{n}")].clone();
                            }
                            m["snapshot"] = n.into();
                            out.push(Case { dir: d.clone(), meta: m });
                        }
                        out.push(Case { dir: d.clone(), meta });
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| a.dir.cmp(&b.dir).then(a.meta["snapshot"].as_u64().cmp(&b.meta["snapshot"].as_u64())));
    out
}

/// The status text the runtime prints in a goroutine header for ours.
fn header_status(g: &Goroutine) -> String {
    match (g.status, &g.wait_reason) {
        (Status::Waiting, Some(r)) => r.clone(),
        (Status::Leaked, Some(r)) => format!("{r} (leaked)"),
        (s, _) => s.name().to_string(),
    }
}

fn key(f: &Frame) -> (String, String, u32) {
    (f.function.clone(), f.file.clone(), f.line)
}

fn okey(f: &oracle::Frame) -> (String, String, u32) {
    (f.function.clone(), f.file.clone(), f.line)
}

/// Inner and outer frames the runtime keeps when it elides the middle of a long stack.
const INNER: usize = 50;

fn frames_match(
    ours: &[(String, String, u32)],
    want: &[(String, String, u32)],
    elided: bool,
    extra_inner_ok: bool,
) -> bool {
    if !elided {
        if ours == want {
            return true;
        }
        // The crashing goroutine has moved on into the crash path since the runtime printed it.
        return extra_inner_ok && ours.len() > want.len() && ours.ends_with(want);
    }
    let split = INNER.min(want.len());
    let (inner, outer) = want.split_at(split);
    ours.len() >= want.len() && ours.starts_with(inner) && ours.ends_with(outer)
}

/// The number of goroutines compared and the differences found, or why the case could not be read.
pub type CaseResult = Result<(usize, Vec<String>), String>;

/// Check one case; returns the differences (empty when it matches) and the number of
/// goroutines compared.
pub fn check(case: &Case) -> CaseResult {
    let p = Process::open(&case.file("dump"), Some(&case.file("exe"))).map_err(|e| e.to_string())?;
    let gs = p.goroutines().map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(case.file("oracle")).map_err(|e| e.to_string())?;
    let want = oracle::parse(&text);
    let live = case.is_live();
    let printer = case.meta["oracle_goroutine"].as_u64();
    let crash_gid = p
        .dump
        .crash
        .as_ref()
        .and_then(|c| gs.iter().find(|g| g.thread_id == Some(c.thread_id)).map(|g| g.id));
    let mut diffs = Vec::new();
    let mut compared = 0;
    for w in want.iter().filter(|w| w.id != 0) {
        let Some(g) = gs.iter().find(|g| g.id == w.id) else {
            diffs.push(format!("goroutine {}: in the traceback, not found", w.id));
            continue;
        };
        compared += 1;
        if Some(w.id) == printer {
            continue;
        }
        let st = header_status(g);
        if st != w.status {
            diffs.push(format!("goroutine {}: status {st:?}, traceback says {:?}", w.id, w.status));
        }
        if g.wait_minutes != w.minutes {
            diffs.push(format!(
                "goroutine {}: {} minutes, traceback says {}",
                w.id, g.wait_minutes, w.minutes
            ));
        }
        if !w.labels.is_empty() {
            let mut theirs = w.labels.clone();
            theirs.sort();
            if theirs != g.labels {
                diffs.push(format!("goroutine {}: labels {:?}, traceback says {:?}", w.id, g.labels, theirs));
            }
        }
        if w.stack_unavailable {
            continue;
        }
        let ours: Vec<_> = g.frames.iter().filter(|f| !live || f.shown_by_default()).map(key).collect();
        let theirs: Vec<_> = w.frames.iter().map(okey).collect();
        let extra_ok = Some(g.id) == crash_gid;
        if !frames_match(&ours, &theirs, w.elided, extra_ok) {
            let first =
                ours.iter().zip(&theirs).position(|(a, b)| a != b).unwrap_or(ours.len().min(theirs.len()));
            diffs.push(format!(
                "goroutine {} [{}]: frames differ at #{first}: ours {:?}, traceback {:?} ({} vs {} frames)",
                w.id,
                w.status,
                ours.get(first),
                theirs.get(first),
                ours.len(),
                theirs.len()
            ));
        }
        if let (Some((f, _, fr)), Some(c)) = (&w.created_by, &g.created_by) {
            if *f != c.function || fr.file != c.file || fr.line != c.line {
                diffs.push(format!(
                    "goroutine {}: created by {}:{}:{}, traceback {f} {}:{}",
                    w.id, c.function, c.file, c.line, fr.file, fr.line
                ));
            }
        }
    }
    // What the scenario knows: goroutines it labeled carry labels (every release; the runtime
    // prints them only from 1.26 on).
    if let Ok(text) = std::fs::read_to_string(case.file("facts")) {
        let facts: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        for id in facts["goroutines"]["labeled"]["ids"].as_array().into_iter().flatten() {
            let id = id.as_u64().unwrap_or(0);
            match gs.iter().find(|g| g.id == id) {
                Some(g) if g.labels.is_empty() => {
                    diffs.push(format!("goroutine {id}: labeled by the program, no labels found"))
                }
                None => diffs.push(format!("goroutine {id}: labeled by the program, not found")),
                _ => {}
            }
        }
    }
    // Every goroutine the runtime would list must be in the traceback too.
    for g in &gs {
        let listed = !live || !g.runtime_internal;
        if listed && !want.iter().any(|w| w.id == g.id) && Some(g.id) != printer {
            diffs.push(format!(
                "goroutine {} ({:?}): found, but not in the traceback",
                g.id,
                header_status(g)
            ));
        }
    }
    Ok((compared, diffs))
}

/// Cases known not to match yet, with the reason: `tests/matrix-known-failures.txt`, one
/// `go<ver> <platform> <scenario>: reason` per line.
pub fn known_failures() -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/matrix-known-failures.txt");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

pub struct Report {
    pub text: String,
    pub unexpected: usize,
}

/// Summarise case results: matching cases, known failures, and unexpected ones (with their
/// differences).
pub fn report(results: &[(String, CaseResult)], known: &[(String, String)]) -> Report {
    use std::fmt::Write;
    let mut text = String::new();
    let (mut ok, mut unexpected, mut known_n, mut goroutines) = (0, 0, 0, 0);
    for (name, r) in results {
        let is_known = known.iter().find(|(k, _)| k == name);
        let problems: Vec<String> = match r {
            Ok((n, d)) => {
                goroutines += n;
                d.clone()
            }
            Err(e) => vec![format!("error: {e}")],
        };
        if problems.is_empty() {
            ok += 1;
            let _ = writeln!(
                text,
                "ok      {name}{}",
                if is_known.is_some() { " (listed as a known failure: remove it)" } else { "" }
            );
        } else if let Some((_, why)) = is_known {
            known_n += 1;
            let _ = writeln!(text, "known   {name}: {why} ({} differences)", problems.len());
        } else {
            unexpected += 1;
            let _ = writeln!(text, "FAILED  {name}");
            for p in problems.iter().take(20) {
                let _ = writeln!(text, "        {p}");
            }
            if problems.len() > 20 {
                let _ = writeln!(text, "        … {} more", problems.len() - 20);
            }
        }
    }
    let _ = writeln!(text, "{ok} passed, {unexpected} failed, {known_n} known failures ({} cases, {goroutines} goroutines compared)", results.len());
    Report { text, unexpected }
}
