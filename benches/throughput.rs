//! Throughput benchmarks on large real dumps, generated here on first use (cached under
//! `fixtures/cache/bench/`). Reports wall time and throughput; asserts nothing about time.
//!
//!   cargo bench --bench throughput              # all
//!   GOMORTEM_BENCH_GOROUTINES=20000 cargo bench # another size
//!
//! Needs a Go toolchain (`just setup`), and `ulimit -c unlimited` permitted.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use gomortem::analysis::group;
use gomortem::runtime::Process;

const GO: &str = "/opt/go-venv/1.26.6/bin/go";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// A kernel core of the `many` scenario holding `n` parked goroutines.
fn many_dump(n: usize) -> Option<(PathBuf, PathBuf)> {
    make_dump(&format!("many-{n}"), "./many", &format!("crash {n}"))
}

/// A kernel core of the `bigheap` scenario: a global map of `entries` entries (about 3 objects
/// and 500 bytes each) and `goroutines` parked goroutines.
fn bigheap_dump(entries: usize, goroutines: usize) -> Option<(PathBuf, PathBuf)> {
    make_dump(&format!("bigheap-{entries}-{goroutines}"), "./bigheap", &format!("{entries} {goroutines}"))
}

fn make_dump(name: &str, pkg: &str, args: &str) -> Option<(PathBuf, PathBuf)> {
    let dir = root().join(format!("fixtures/cache/bench/{name}"));
    let (exe, dump) = (dir.join("exe"), dir.join("dump"));
    if exe.exists() && dump.exists() {
        return Some((exe, dump));
    }
    if !Path::new(GO).exists() {
        eprintln!("bench: {GO} missing (run `just setup`); skipped");
        return None;
    }
    std::fs::create_dir_all(&dir).ok()?;
    let scen = root().join("fixtures/scenarios");
    let ok = Command::new(GO)
        .args(["build", "-o"])
        .arg(&exe)
        .arg(pkg)
        .current_dir(&scen)
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("CGO_ENABLED", "0")
        .status()
        .ok()?
        .success();
    if !ok {
        return None;
    }
    let t = Instant::now();
    let _ = Command::new("bash")
        .arg("-c")
        .arg(format!("ulimit -c unlimited; rm -f core; GOTRACEBACK=crash ./exe {args} >facts.txt 2>oracle.txt; mv core dump"))
        .current_dir(&dir)
        .status();
    eprintln!("bench: made {} in {:.1} s", dump.display(), t.elapsed().as_secs_f64());
    dump.exists().then_some((exe, dump))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn bench_goroutines(n: usize) {
    let Some((exe, dump)) = many_dump(n) else { return };
    let size = std::fs::metadata(&dump).map(|m| m.len()).unwrap_or(0);
    let mut times = Vec::new();
    let mut count = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let p = Process::open(&dump, Some(&exe)).expect("open");
        let gs = p.goroutines().expect("goroutines");
        let groups = group::group(&gs);
        count = gs.len();
        std::hint::black_box(groups);
        times.push(t.elapsed().as_secs_f64());
    }
    let m = median(times);
    // The command line end to end, output included.
    let cli = |json: bool| {
        let mut t = Vec::new();
        for _ in 0..3 {
            let start = Instant::now();
            let mut c = Command::new(env!("CARGO_BIN_EXE_gomortem"));
            c.arg("goroutines").arg(&dump).arg("--exe").arg(&exe);
            if json {
                c.arg("--json");
            }
            let out = c.output().expect("run gomortem");
            assert!(out.status.success());
            t.push(start.elapsed().as_secs_f64());
        }
        median(t)
    };
    println!("gomortem goroutines (text)   many-{n}: median {:.3} s wall", cli(false));
    println!("gomortem goroutines --json   many-{n}: median {:.3} s wall", cli(true));
    println!(
        "goroutines  many-{n}: {count} goroutines, dump {:.0} MB: median {:.3} s wall (open + unwind + symbolize + group), {:.0} goroutines/s, {} threads",
        size as f64 / 1e6,
        m,
        count as f64 / m,
        rayon::current_num_threads()
    );
}

/// Peak resident memory of this process so far (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn bench_heap(entries: usize, goroutines: usize) {
    let Some((exe, dump)) = bigheap_dump(entries, goroutines) else { return };
    let size = std::fs::metadata(&dump).map(|m| m.len()).unwrap_or(0);
    let t = Instant::now();
    let p = Process::open(&dump, Some(&exe)).expect("open");
    let open = t.elapsed().as_secs_f64();
    let a = gomortem::analysis::HeapAnalysis::run(&p).expect("heap analysis");
    let analysis = t.elapsed().as_secs_f64();
    let doc = gomortem::report::heap::heap(&a, 30);
    let hist = t.elapsed().as_secs_f64();
    let top = gomortem::report::heap::top(&a, 10).expect("top");
    let total = t.elapsed().as_secs_f64();
    std::hint::black_box((&doc, &top));
    println!(
        "heap+top    bigheap-{entries}: {} objects, {} edges, dump {:.1} GB: {:.2} s wall (open {:.2}, heap+roots+graph+reach+typing {:.2}, histogram {:.2}, dominators+top {:.2}); peak RSS {:.0} MB (mapped dump pages included), {:.0} objects/s",
        a.heap.totals.objects,
        a.graph.edge_count(),
        size as f64 / 1e9,
        total,
        open,
        analysis - open,
        hist - analysis,
        total - hist,
        peak_rss() as f64 / 1e6,
        a.heap.totals.objects as f64 / total
    );
}

fn main() {
    // GOMORTEM_BENCH_HEAP=ENTRIES[,ENTRIES…] (default 5,000,000): heap + top on bigheap dumps.
    let heap_sizes: Vec<usize> = match std::env::var("GOMORTEM_BENCH_HEAP") {
        Ok(s) => s.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
        Err(_) => vec![5_000_000],
    };
    for n in heap_sizes {
        bench_heap(n, 100_000);
    }
    let sizes: Vec<usize> = match std::env::var("GOMORTEM_BENCH_GOROUTINES") {
        Ok(s) => s.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
        Err(_) => vec![100_000],
    };
    for n in sizes {
        bench_goroutines(n);
    }
}
