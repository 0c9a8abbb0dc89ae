//! The signature of a dump: a short stable string, the same for two dumps of one bug (the same
//! program version and the same failure: the same crash site, or the same dominant finding at
//! the same place) and different for different bugs, so that a triage bot can bucket thousands
//! of dumps. Nothing that varies between runs goes in: no address, goroutine id, count, size
//! or time.

use super::findings::{Finding, Kind};
use crate::runtime::goroutines::Location;
use crate::runtime::Process;

/// The version of the signature's recipe: a new recipe changes every signature.
pub const RECIPE: &str = "gm1";

/// The program's identity: its Go build ID (a hash of its inputs), else its main module's path,
/// version and VCS revision.
pub fn program_id(p: &Process) -> String {
    if let Some(id) = &p.exe.image.go_build_id {
        return format!("build {id}");
    }
    let bi = &p.exe.build_info;
    let (path, version) = bi.main_module.clone().unwrap_or_else(|| (bi.path.clone(), String::new()));
    let rev = bi.setting("vcs.revision").unwrap_or("");
    format!("module {path}@{version} {rev} {}", bi.go_version)
}

fn place(l: &Location) -> String {
    let file = l.file.rsplit(['/', '\\']).next().unwrap_or(&l.file);
    format!("{} {file}:{}", l.function, l.line)
}

/// The rank of a kind when picking the dominant finding among those of one severity.
fn rank(k: Kind) -> u8 {
    match k {
        Kind::Deadlock => 0,
        Kind::GoroutineLeak => 1,
        Kind::GrowingContainer => 2,
        Kind::ClosureRetention => 3,
        Kind::PoolHoarding => 4,
        Kind::ContextLeak => 5,
        Kind::UnclosedResource => 6,
        Kind::TickerLeak => 7,
        Kind::StuckChannel => 8,
        Kind::Memory => 9,
    }
}

/// What identifies a finding across dumps: its kind and where it is (source location, root).
fn finding_key(f: &Finding) -> String {
    let at = f.location.as_ref().map(place).or_else(|| f.root.clone()).unwrap_or_default();
    format!("{} {at}", f.kind.name())
}

/// The dominant finding: the most severe, then by kind, then by place (sizes and counts vary
/// between two dumps of one bug; they do not pick it).
pub fn dominant(findings: &[Finding]) -> Option<&Finding> {
    findings.iter().min_by(|a, b| {
        (a.severity, rank(a.kind), finding_key(a)).cmp(&(b.severity, rank(b.kind), finding_key(b)))
    })
}

/// The text a signature hashes: the program, then the failure (`crash` is the crash site when
/// the process died of its own failure: a panic, a fatal error, a fault).
pub fn basis(program: &str, crash: Option<&str>, findings: &[Finding]) -> String {
    let failure = match (crash, dominant(findings)) {
        (Some(c), _) => format!("crash {c}"),
        (None, Some(f)) => format!("finding {}", finding_key(f)),
        (None, None) => "healthy".to_string(),
    };
    format!("{RECIPE}; {program}; {failure}")
}

/// The signature of a basis: the recipe and 16 hex digits of its FNV-1a hash.
pub fn signature(basis: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in basis.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{RECIPE}-{h:016x}")
}

/// The crash-site part of a basis: how it died and where.
pub fn crash_site(reason: &str, at: Option<&Location>) -> String {
    match at {
        Some(l) => format!("{reason} at {}", place(l)),
        None => reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::diagnose::findings::Severity;

    fn finding(kind: Kind, severity: Severity, function: &str, line: u32) -> Finding {
        Finding {
            kind,
            severity,
            summary: String::new(),
            goroutines: vec![7],
            objects: vec![0xc000010000],
            retained_bytes: 1234,
            count: 1,
            location: Some(Location { function: function.into(), file: "/src/x/main.go".into(), line }),
            root: None,
            path: Vec::new(),
            details: Vec::new(),
            hint: String::new(),
        }
    }

    #[test]
    fn stable_and_distinct() {
        let a = [finding(Kind::GoroutineLeak, Severity::Medium, "main.f", 10)];
        let mut b = a.clone();
        // Counts, sizes, ids and addresses do not change it.
        b[0].goroutines = vec![9, 10];
        b[0].objects = vec![0x1949a46c81e0];
        b[0].retained_bytes = 99;
        let (sa, sb) = (signature(&basis("p", None, &a)), signature(&basis("p", None, &b)));
        assert_eq!(sa, sb);
        assert!(sa.starts_with("gm1-") && sa.len() == 20);
        // Another place, another program, another kind: another signature.
        let c = [finding(Kind::GoroutineLeak, Severity::Medium, "main.f", 11)];
        assert_ne!(sa, signature(&basis("p", None, &c)));
        assert_ne!(sa, signature(&basis("q", None, &a)));
        assert_ne!(sa, signature(&basis("p", Some("panic at main.g main.go:3"), &a)));
        // The dominant finding is the most severe, whatever the order.
        let d = [
            finding(Kind::TickerLeak, Severity::Medium, "main.t", 1),
            finding(Kind::Deadlock, Severity::Critical, "main.d", 2),
        ];
        assert_eq!(dominant(&d).unwrap().kind, Kind::Deadlock);
        assert_eq!(basis("p", None, &[]), "gm1; p; healthy");
    }
}
