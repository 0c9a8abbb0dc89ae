//! Test support shared by the unit tests: finding the real fixture dumps.

use std::path::{Path, PathBuf};

/// Every fixture case directory with its `case.json`: those under `$GOMORTEM_FIXTURES` (default
/// `fixtures/cache`, laid out `go<ver>/<platform>/<scenario>/`) and under `fixtures/committed/`,
/// sorted; symbolic links are never followed (a Wine prefix links `z:` to `/`).
pub(crate) fn fixture_cases() -> Vec<(PathBuf, serde_json::Value)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cache = std::env::var_os("GOMORTEM_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("fixtures/cache"));
    let mut out = Vec::new();
    for top in [cache, root.join("fixtures/committed")] {
        walk(&top, 4, &mut out);
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn walk(d: &Path, depth: u32, out: &mut Vec<(PathBuf, serde_json::Value)>) {
    if let Some(case) = std::fs::read(d.join("case.json")).ok().and_then(|b| serde_json::from_slice(&b).ok())
    {
        out.push((d.to_path_buf(), case));
        return;
    }
    if depth == 0 {
        return;
    }
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&e.path(), depth - 1, out);
        }
    }
}

/// Dumps of an ad-hoc test program under `$var` (skipped with a note when unset): every
/// `$var/*/` holding `exe`, `dump` and the program's `stdout`, sorted.
pub(crate) fn env_dumps(var: &str) -> Vec<(PathBuf, String)> {
    let Some(root) = std::env::var_os(var) else {
        eprintln!("note: {var} not set: skipping");
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(root).into_iter().flatten().flatten().map(|e| e.path()).collect();
    dirs.sort();
    dirs.into_iter()
        .filter_map(|d| Some((d.clone(), std::fs::read_to_string(d.join("stdout")).ok()?)))
        .collect()
}

/// The number printed as `key=N` in a test program's output.
pub(crate) fn printed(out: &str, key: &str) -> u64 {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}="))?.parse().ok())
        .unwrap_or_else(|| panic!("the program printed no {key}="))
}
