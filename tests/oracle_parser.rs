//! The traceback-oracle parser on real runtime output (tests/data/oracle/: produced by
//! program.go.txt, see README.md there), and on the fixtures' oracles when they exist.

mod common;

use common::oracle::{parse, Frame, Goroutine};
use std::path::Path;

fn sample(name: &str) -> Vec<Goroutine> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/oracle").join(name);
    parse(&std::fs::read_to_string(path).unwrap())
}

fn by_id(gs: &[Goroutine], id: u64) -> &Goroutine {
    gs.iter().find(|g| g.id == id).unwrap_or_else(|| panic!("goroutine {id} missing"))
}

fn functions(g: &Goroutine) -> Vec<&str> {
    g.frames.iter().map(|f| f.function.as_str()).collect()
}

/// Every goroutine id appears once (except 0), and every block parsed has frames or says why not.
fn check_invariants(gs: &[Goroutine]) {
    let mut ids: Vec<u64> = gs.iter().map(|g| g.id).filter(|&id| id != 0).collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicate goroutines");
    for g in gs {
        assert!(!g.status.is_empty() && !g.status.contains(','), "{g:?}");
        assert!(!g.frames.is_empty() || g.stack_unavailable, "{g:?}");
        for f in &g.frames {
            assert!(!f.function.ends_with(')') && !f.function.is_empty(), "{f:?}");
            assert!(f.line > 0 && (f.file.ends_with(".go") || f.file.ends_with(".s")), "{f:?}");
        }
    }
}

#[test]
fn go122_crash() {
    let gs = sample("go1.22-crash.txt");
    check_invariants(&gs);
    // g0 of m0 (the thread that took SIGABRT) and of the five other threads.
    assert_eq!(gs.iter().filter(|g| g.id == 0).count(), 6);
    assert_eq!(gs.iter().filter(|g| g.id != 0).count(), 12);
    let g0 = &gs[0];
    assert_eq!((g0.id, g0.status.as_str(), g0.m), (0, "idle", Some(0)));

    let main = by_id(&gs, 1);
    assert_eq!((main.status.as_str(), main.m, main.created_by.is_none()), ("sleep", None, true));
    assert_eq!(functions(main).last(), Some(&"runtime.goexit"));

    let mutex = by_id(&gs, 8);
    assert_eq!(mutex.status, "sync.Mutex.Lock");
    assert_eq!(
        &functions(mutex)[4..8],
        ["sync.(*Mutex).lockSlow", "sync.(*Mutex).Lock", "main.(*T).Lock", "main.main.gowrap1"]
    );
    let (creator, parent, at) = mutex.created_by.clone().unwrap();
    assert_eq!((creator.as_str(), parent), ("main.main", Some(1)));
    assert_eq!((at.file.as_str(), at.line), ("/tmp/hcore/orc/main.go", 44));

    assert_eq!(functions(by_id(&gs, 9))[3], "main.(*Box[...]).Wait");
    let locked = by_id(&gs, 10);
    assert!(locked.locked_to_thread && locked.status == "chan receive" && locked.minutes == 0);
    assert_eq!(by_id(&gs, 11).status, "semacquire");
    assert_eq!(
        by_id(&gs, 12).frames[3],
        Frame { function: "main.main.func4".into(), file: "/tmp/hcore/orc/main.go".into(), line: 48 }
    );
    assert_eq!(functions(by_id(&gs, 2))[0], "runtime.gopark");
    assert!(!gs.iter().any(|g| g.elided || g.stack_unavailable));
}

#[test]
fn go126_crash_with_other_threads() {
    let gs = sample("go1.26-crash-threads.txt");
    check_invariants(&gs);
    // The busy goroutine on m0 took SIGABRT; the one on m4 was a placeholder first.
    let first = &gs[0];
    assert_eq!((first.id, first.status.as_str(), first.m), (15, "running", Some(0)));
    assert_eq!(functions(first), ["main.main.func5", "runtime.goexit"]);
    let other = by_id(&gs, 14);
    assert_eq!((other.m, other.stack_unavailable), (Some(4), false));
    assert_eq!(functions(other)[..2], ["main.main.func5", "runtime.goexit"]);
    assert_eq!(other.created_by.as_ref().unwrap().2.line, 53);
    assert_eq!(gs.iter().filter(|g| g.id == 0).count(), 4);
    assert!(gs.iter().filter(|g| g.id == 0).all(|g| g.status == "idle" && g.m.is_some()));

    let deep = by_id(&gs, 13);
    assert!(deep.elided);
    assert_eq!(deep.frames.len(), 100);
    assert_eq!(
        functions(deep)[..4],
        ["runtime.gopark", "runtime.chanrecv", "runtime.chanrecv1", "main.deep"]
    );
    assert_eq!(functions(deep)[97..], ["main.deep", "main.main.gowrap5", "runtime.goexit"]);
    // Inlined frames "main.deep(...)" alternate with real ones.
    assert!(deep.frames[4..].iter().take(90).all(|f| f.function == "main.deep" && f.line == 28));
}

#[test]
fn go126_runtime_stack() {
    let gs = sample("go1.26-runtime-stack.txt");
    check_invariants(&gs);
    assert_eq!(gs.len(), 9);
    assert!(gs.iter().all(|g| g.m.is_none()));
    let main = by_id(&gs, 1);
    assert_eq!((main.status.as_str(), functions(main)), ("running", vec!["main.main"]));
    // Runtime frames are hidden in runtime.Stack.
    assert_eq!(functions(by_id(&gs, 18)), ["main.main.func1"]);
    assert_eq!(by_id(&gs, 19).status, "select (no cases)");
    assert_eq!(by_id(&gs, 23).status, "sync.WaitGroup.Wait");
    assert_eq!(functions(by_id(&gs, 20))[4], "main.(*T).Lock");
    let labelled = by_id(&gs, 24);
    assert_eq!(labelled.status, "chan receive");
    assert_eq!(
        labelled.labels,
        [("req id".to_string(), "7".to_string()), ("svc".to_string(), "api".to_string())]
    );
    let deep = by_id(&gs, 25);
    assert!(deep.elided && deep.created_by.is_some());
}

#[test]
fn go127_panic_with_ancestors_and_labels() {
    let gs = sample("go1.27-panic.txt");
    check_invariants(&gs);
    assert_eq!(gs.len(), 8);
    let main = by_id(&gs, 1);
    assert_eq!(functions(main), ["main.main.func6", "main.main"]);
    assert_eq!(main.frames[0].line, 66);
    // "[originating from goroutine 1]:" frames belong to the ancestor, not to the goroutine.
    let recv = by_id(&gs, 6);
    assert_eq!(functions(recv), ["main.main.func1"]);
    assert_eq!(recv.created_by.as_ref().unwrap().1, Some(1));
    assert!(!recv.elided);
    assert_eq!(
        by_id(&gs, 12).labels,
        [("req id".to_string(), "7".to_string()), ("svc".to_string(), "api".to_string())]
    );
    assert_eq!(by_id(&gs, 12).status, "chan receive");
}

#[test]
fn go126_out_of_memory() {
    let gs = sample("go1.26-oom.txt");
    check_invariants(&gs);
    let g1 = &gs[0];
    assert_eq!((g1.id, g1.status.as_str(), g1.m), (1, "running", Some(3)));
    assert_eq!(functions(g1)[..2], ["runtime.throw", "runtime.(*mcache).allocLarge"]);
    assert!(functions(g1).contains(&"main.main"));
    assert_eq!(by_id(&gs, 3).status, "runnable");
}

/// The fixtures' oracles (fixtures/cache/…/oracle.txt), when generated.
#[test]
fn fixture_oracles() {
    let root = std::env::var_os("GOMORTEM_FIXTURES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cache"));
    let mut n = 0;
    let mut minutes = 0;
    for ver in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        for plat in std::fs::read_dir(ver.path()).into_iter().flatten().flatten() {
            for case in std::fs::read_dir(plat.path()).into_iter().flatten().flatten() {
                let Ok(text) = std::fs::read_to_string(case.path().join("oracle.txt")) else {
                    continue;
                };
                let gs = parse(&text);
                assert!(gs.iter().any(|g| g.id != 0), "{}", case.path().display());
                check_invariants(&gs);
                minutes += gs.iter().filter(|g| g.minutes > 0).count();
                n += 1;
            }
        }
    }
    eprintln!("parsed {n} fixture oracles ({minutes} goroutines waiting for minutes)");
}

#[test]
fn go126_wait_minutes() {
    let gs = sample("go1.26-minutes.txt");
    check_invariants(&gs);
    assert_eq!(by_id(&gs, 1).minutes, 0);
    let recv = by_id(&gs, 6);
    assert_eq!((recv.status.as_str(), recv.minutes, recv.locked_to_thread), ("chan receive", 1, false));
    let sel = by_id(&gs, 7);
    assert_eq!((sel.status.as_str(), sel.minutes, sel.locked_to_thread), ("select (no cases)", 1, true));
}
