//! Throughput benchmarks on large real dumps, generated here on first use (cached under
//! `fixtures/cache/bench/`). Reports wall time and throughput; asserts nothing about time.
//!
//!   cargo bench --bench throughput              # all
//!   GOMORTEM_BENCH_GOROUTINES=20000 cargo bench # another size
//!   GOMORTEM_BENCH_HEAP=1000000,2500000,5000000 GOMORTEM_BENCH_GOROUTINES= cargo bench --bench throughput
//!   GOMORTEM_BENCH_HEAP=5000000s ...          # the map keyed by strings (22M objects)
//!
//! The heap benchmark prints one table: per phase of `heap` + `top` (as `HeapAnalysis::run` and
//! the reports run them) the median wall time and CPU time, then the anonymous resident memory
//! (`RssAnon`, sampled every 10 ms: what the process holds beyond the mapped dump) each phase
//! adds to the peak, the overall peak, and `VmHWM` (mapped dump pages included). Each run is a
//! process of its own. The phases run one after the other there; the last rows time the
//! commands `gomortem heap`, `gomortem top` and `gomortem heap --retainers 10` (both answers
//! from one analysis) end to end as users run them (typing beside the dominators, output
//! included), with the peak `RssAnon` of each.
//!
//! Needs a Go toolchain (`just setup`), and `ulimit -c unlimited` permitted.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use gomortem::analysis::group;
use gomortem::runtime::Process;
use rayon::prelude::*;

const GO: &str = "/opt/go-venv/1.26.6/bin/go";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// A kernel core of the `many` scenario holding `n` parked goroutines.
fn many_dump(n: usize) -> Option<(PathBuf, PathBuf)> {
    make_dump(&format!("many-{n}"), "./many", &format!("crash {n}"))
}

/// A size of the heap benchmark: map entries, and whether the map is keyed by strings of
/// their own (`5000000s` in `GOMORTEM_BENCH_HEAP`) rather than by int64.
#[derive(Clone, Copy)]
struct HeapSize {
    entries: usize,
    string_keys: bool,
}

impl HeapSize {
    fn parse(s: &str) -> Option<HeapSize> {
        let s = s.trim();
        let (n, string_keys) = match s.strip_suffix('s') {
            Some(n) => (n, true),
            None => (s, false),
        };
        Some(HeapSize { entries: n.parse().ok()?, string_keys })
    }

    fn label(&self) -> String {
        format!("{}{}", self.entries, if self.string_keys { "s" } else { "" })
    }
}

/// A kernel core of the `bigheap` scenario: a global map of `entries` entries (about 3 objects
/// and 500 bytes each, one object more with string keys) and `goroutines` parked goroutines.
fn bigheap_dump(size: HeapSize, goroutines: usize) -> Option<(PathBuf, PathBuf)> {
    let keys = if size.string_keys { " strings" } else { "" };
    make_dump(
        &format!("bigheap-{}-{goroutines}", size.label()),
        "./bigheap",
        &format!("{} {goroutines}{keys}", size.entries),
    )
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

/// A field of /proc/self/status, in bytes (`VmHWM:` the peak resident set, `RssAnon:` the
/// resident anonymous memory, i.e. not the mapped dump).
fn status_bytes(key: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// CPU time of this process so far (all threads, user and system), from /proc/self/stat, in
/// seconds (10 ms resolution): a measure of work that other jobs on the machine do not skew.
fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is field 3, utime 14.
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest.split_whitespace().skip(11).take(2).filter_map(|x| x.parse().ok()).collect();
    f.iter().sum::<u64>() as f64 / 100.0
}

/// Samples `RssAnon` every 10 ms in a background thread, keeping the peak.
struct AnonPeak {
    peak: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AnonPeak {
    fn start() -> AnonPeak {
        let peak = Arc::new(AtomicU64::new(status_bytes("RssAnon:")));
        let done = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peak, done) = (peak.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(Relaxed) {
                    peak.fetch_max(status_bytes("RssAnon:"), Relaxed);
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            })
        };
        AnonPeak { peak, done, thread: Some(thread) }
    }

    /// The peak so far (also sampled now).
    fn get(&self) -> u64 {
        self.peak.fetch_max(status_bytes("RssAnon:"), Relaxed);
        self.peak.load(Relaxed)
    }
}

impl Drop for AnonPeak {
    fn drop(&mut self) {
        self.done.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Phases of `heap` + `top`, in order.
const PHASES: [&str; 10] =
    ["open", "heap", "types", "roots", "graph", "reach", "typing", "histogram", "dominators", "top"];

/// One run of `heap` + `top` on a bigheap dump, phase by phase as `HeapAnalysis::run` and the
/// reports do them.
struct HeapRun {
    objects: u64,
    edges: u64,
    /// Seconds per phase of [`PHASES`].
    phases: [f64; PHASES.len()],
    /// CPU seconds (all threads, user and system) per phase.
    cpu: [f64; PHASES.len()],
    /// Peak anonymous RSS at the end of each phase, in bytes (the first: before opening).
    anon_after: [u64; PHASES.len() + 1],
    hwm: u64,
}

/// Times and memory of the phases, one after the other.
struct Laps {
    anon: AnonPeak,
    phases: [f64; PHASES.len()],
    cpu: [f64; PHASES.len()],
    anon_after: [u64; PHASES.len() + 1],
    k: usize,
    t: Instant,
    c: f64,
}

impl Laps {
    /// The phase `k` ends.
    fn lap(&mut self) {
        self.phases[self.k] = self.t.elapsed().as_secs_f64();
        self.cpu[self.k] = cpu_seconds() - self.c;
        self.anon_after[self.k + 1] = self.anon.get();
        self.k += 1;
        self.restart();
    }

    /// The next phase starts now.
    fn restart(&mut self) {
        self.t = Instant::now();
        self.c = cpu_seconds();
    }
}

/// The phases of `heap` + `top` before the reports ([`Part::Analysis`]: as `HeapAnalysis::run`
/// does them, piece by piece), or the reports ([`Part::Reports`]: on a `HeapAnalysis`, the
/// anonymous memory counted from the end of `run`). Each in a process of its own: the first
/// part's memory, freed, would stay with the allocator and hide the second's.
#[derive(Clone, Copy)]
enum Part {
    Analysis,
    Reports,
}

/// Index in [`PHASES`] of the first report phase.
const REPORTS: usize = 7;

fn heap_run(exe: &Path, dump: &Path, part: Part) -> HeapRun {
    use gomortem::analysis::heap::dominators::{Dominators, Node};
    use gomortem::analysis::heap::graph::{ObjectGraph, Reachability, RootEdges};
    use gomortem::analysis::heap::typing::ObjectTypes;
    use gomortem::analysis::HeapAnalysis;

    let mut l = Laps {
        anon: AnonPeak::start(),
        phases: [0.0; PHASES.len()],
        cpu: [0.0; PHASES.len()],
        anon_after: [0; PHASES.len() + 1],
        k: 0,
        t: Instant::now(),
        c: cpu_seconds(),
    };
    l.anon_after[0] = l.anon.get();
    let p = Process::open(dump, Some(exe)).expect("open");
    if let Part::Analysis = part {
        l.lap();
        let heap = p.heap().expect("heap");
        l.lap();
        let types = p.types().expect("types");
        l.lap();
        let roots = p.roots(&heap).expect("roots");
        let root_edges = RootEdges::from_pairs(roots.edges.iter().map(|e| (e.root, e.object)));
        l.lap();
        let mut graph = ObjectGraph::build(&p, &heap);
        let fields = graph.take_fields();
        l.lap();
        let reach = Reachability::compute(&graph, &heap, &root_edges);
        l.lap();
        let typing = ObjectTypes::infer(&p, &heap, &types, &roots, Some((&graph, &fields)));
        drop(fields);
        l.lap();
        std::hint::black_box((&types, &reach, &typing));
        return HeapRun {
            objects: heap.totals.objects,
            edges: graph.edge_count(),
            phases: l.phases,
            cpu: l.cpu,
            anon_after: l.anon_after,
            hwm: status_bytes("VmHWM:"),
        };
    }
    let a = HeapAnalysis::run(&p).expect("heap analysis");
    l.anon_after[..=REPORTS].fill(l.anon.get());
    l.k = REPORTS;
    l.restart();
    let doc = gomortem::report::heap::heap(&a, 30, 0);
    std::hint::black_box(&doc);
    l.lap();
    // As `HeapAnalysis::dominators` should, reusing the search of the roots.
    let dom = Dominators::from_reach(&a.graph, &a.heap, &a.root_edges, &a.reach).expect("dominators");
    l.lap();
    // What `report::heap::top` does past the dominators: name and path each retainer.
    let runs = a.heap.par_object_runs().map(|(objs, size, _)| (objs, size));
    let top: Vec<_> = dom
        .top_retainers_in_runs(10, runs, |o| a.heap.size(o))
        .into_iter()
        .map(|r| match r.node {
            Node::Object(o) => (a.type_name(o), a.path_to(o).unwrap_or_default()),
            _ => (String::new(), Vec::new()),
        })
        .collect();
    std::hint::black_box(&top);
    l.lap();
    HeapRun {
        objects: a.heap.totals.objects,
        edges: a.graph.edge_count(),
        phases: l.phases,
        cpu: l.cpu,
        anon_after: l.anon_after,
        hwm: status_bytes("VmHWM:"),
    }
}

/// `heap` + `top` on bigheap dumps of each size (`goroutines` parked goroutines), as one table:
/// the median of `runs` runs per phase, and the peak anonymous RSS (what the process holds
/// beyond the mapped dump).
fn bench_heap(sizes: &[HeapSize], goroutines: usize, runs: usize) {
    let mut cols = Vec::new();
    for &hs in sizes {
        let Some((exe, dump)) = bigheap_dump(hs, goroutines) else { continue };
        let size = std::fs::metadata(&dump).map(|m| m.len()).unwrap_or(0);
        // Each run in a process of its own: memory freed by a run stays with the allocator
        // and would hide what the next one takes.
        let rs: Vec<HeapRun> = (0..runs).filter_map(|_| heap_run_apart(&exe, &dump)).collect();
        if rs.is_empty() {
            continue;
        }
        let cli: Vec<Vec<(f64, u64)>> =
            (0..runs).map(|_| CLI_RUNS.iter().map(|args| cli_run(&exe, &dump, args)).collect()).collect();
        cols.push((hs, size, rs, cli));
    }
    if cols.is_empty() {
        return;
    }
    let mb = |b: u64| b as f64 / (1 << 20) as f64;
    let mut out = format!(
        "heap + top on bigheap-N-{goroutines}, median of {runs} run(s), {} threads\n",
        rayon::current_num_threads()
    );
    out += &format!("{:<40}", "N");
    for (n, _, _, _) in &cols {
        out += &format!("{:>16}", n.label());
    }
    out += "\n";
    let row = |out: &mut String, name: &str, f: &dyn Fn(&[HeapRun]) -> String| {
        *out += &format!("{name:<40}");
        for (_, _, rs, _) in &cols {
            *out += &format!("{:>16}", f(rs));
        }
        *out += "\n";
    };
    out += &format!("{:<40}", "dump (GB)");
    for (_, size, _, _) in &cols {
        out += &format!("{:>16.2}", *size as f64 / 1e9);
    }
    out += "\n";
    row(&mut out, "objects", &|rs| rs[0].objects.to_string());
    row(&mut out, "edges", &|rs| rs[0].edges.to_string());
    for (i, name) in PHASES.iter().enumerate() {
        row(&mut out, &format!("{name} (s)"), &|rs| {
            format!("{:.3}", median(rs.iter().map(|r| r.phases[i]).collect()))
        });
    }
    for (i, name) in PHASES.iter().enumerate() {
        row(&mut out, &format!("{name} (cpu s)"), &|rs| {
            format!("{:.2}", median(rs.iter().map(|r| r.cpu[i]).collect()))
        });
    }
    let total = |r: &HeapRun| r.phases.iter().sum::<f64>();
    let sub = |r: &HeapRun, names: &[&str]| {
        PHASES.iter().zip(r.phases).filter(|(n, _)| names.contains(n)).map(|(_, t)| t).sum::<f64>()
    };
    row(&mut out, "total (s)", &|rs| format!("{:.3}", median(rs.iter().map(total).collect())));
    row(&mut out, "graph..top w/o typing", &|rs| {
        format!(
            "{:.3}",
            median(rs.iter().map(|r| sub(r, &["graph", "reach", "dominators", "top"])).collect())
        )
    });
    row(&mut out, "objects/s (M)", &|rs| {
        format!("{:.2}", median(rs.iter().map(|r| r.objects as f64 / total(r) / 1e6).collect()))
    });
    // Anonymous memory each phase added to the peak so far, then the overall peak.
    for (i, name) in PHASES.iter().enumerate() {
        row(&mut out, &format!("anon peak +{name} (MB)"), &|rs| {
            format!(
                "{:.0}",
                median(rs.iter().map(|r| mb(r.anon_after[i + 1].saturating_sub(r.anon_after[i]))).collect())
            )
        });
    }
    row(&mut out, "anon peak (MB)", &|rs| {
        format!(
            "{:.0}",
            median(
                rs.iter().map(|r| mb(r.anon_after[PHASES.len()].saturating_sub(r.anon_after[0]))).collect()
            )
        )
    });
    row(&mut out, "VmHWM (MB, with dump)", &|rs| {
        format!("{:.0}", median(rs.iter().map(|r| mb(r.hwm)).collect()))
    });
    // The commands end to end, as users run them (analysis overlapped, output included).
    for (i, args) in CLI_RUNS.iter().enumerate() {
        let cmd = args.join(" ");
        out += &format!("{:<40}", format!("gomortem {cmd} (s)"));
        for (_, _, _, cli) in &cols {
            out += &format!("{:>16.3}", median(cli.iter().map(|c| c[i].0).collect()));
        }
        out += &format!("\n{:<40}", format!("gomortem {cmd} anon (MB)"));
        for (_, _, _, cli) in &cols {
            out += &format!("{:>16.0}", cli.iter().map(|c| mb(c[i].1)).fold(0.0, f64::max));
        }
        out += "\n";
    }
    // The report against `heap --retainers 10` (the bound: at most 1.5 times).
    let at = |args: &[&str]| CLI_RUNS.iter().position(|a| *a == args).unwrap();
    let (base, report) = (at(&["heap", "--retainers", "10"]), at(&["report"]));
    out += &format!("{:<40}", "report / heap --retainers 10");
    for (_, _, _, cli) in &cols {
        let m = |i: usize| median(cli.iter().map(|c| c[i].0).collect());
        out += &format!("{:>16.2}", m(report) / m(base));
    }
    out += "\n";
    print!("{out}");
}

/// The commands timed end to end: `heap`, `top`, both answers from one run, and the triage
/// report (text and JSON).
const CLI_RUNS: [&[&str]; 5] =
    [&["heap"], &["top"], &["heap", "--retainers", "10"], &["report"], &["report", "--format", "json"]];

/// One run of `gomortem CMD DUMP --exe EXE [ARGS]`: its wall time, and the peak of its
/// anonymous resident memory (`RssAnon` of the child, sampled every 5 ms).
fn cli_run(exe: &Path, dump: &Path, args: &[&str]) -> (f64, u64) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gomortem"))
        .arg(args[0])
        .args(&args[1..])
        .arg(dump)
        .arg("--exe")
        .arg(exe)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("run gomortem");
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    while child.try_wait().ok().flatten().is_none() {
        let s = std::fs::read_to_string(&status).unwrap_or_default();
        let anon = s.lines().find_map(|l| l.strip_prefix("RssAnon:"));
        let kb = anon.and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
        peak = peak.max(kb.unwrap_or(0) * 1024);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    (start.elapsed().as_secs_f64(), peak)
}

/// [`heap_run`] in child processes (this program again, with `GOMORTEM_BENCH_ONE`), a part
/// each, merged.
fn heap_run_apart(exe: &Path, dump: &Path) -> Option<HeapRun> {
    let part = |name: &str| -> Option<HeapRun> {
        let me = std::env::current_exe().ok()?;
        let spec = format!("{name}\t{}\t{}", exe.display(), dump.display());
        let out = Command::new(me).env("GOMORTEM_BENCH_ONE", spec).output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(line) = text.lines().find_map(|l| l.strip_prefix("heap-run ")) else {
            eprintln!("bench: a run failed: {}", String::from_utf8_lossy(&out.stderr));
            return None;
        };
        let v: Vec<f64> = line.split(' ').filter_map(|x| x.parse().ok()).collect();
        let p = PHASES.len();
        (v.len() == 3 + 3 * p + 1).then(|| HeapRun {
            objects: v[0] as u64,
            edges: v[1] as u64,
            phases: std::array::from_fn(|i| v[2 + i]),
            cpu: std::array::from_fn(|i| v[2 + p + i]),
            anon_after: std::array::from_fn(|i| v[2 + 2 * p + i] as u64),
            hwm: v[3 + 3 * p] as u64,
        })
    };
    let (a, r) = (part("analysis")?, part("reports")?);
    // The reports' memory comes on top of what the analysis holds at its end.
    let base = a.anon_after[REPORTS];
    Some(HeapRun {
        phases: std::array::from_fn(|i| if i < REPORTS { a.phases[i] } else { r.phases[i] }),
        cpu: std::array::from_fn(|i| if i < REPORTS { a.cpu[i] } else { r.cpu[i] }),
        anon_after: std::array::from_fn(|i| {
            if i <= REPORTS {
                a.anon_after[i]
            } else {
                base.max(r.anon_after[i].saturating_sub(r.anon_after[REPORTS]) + base)
            }
        }),
        hwm: a.hwm.max(r.hwm),
        ..a
    })
}

/// The child's side of [`heap_run_apart`]: one part of a run, printed as one line.
fn heap_run_one(spec: &str) {
    let mut it = spec.split('\t');
    let (Some(part), Some(exe), Some(dump)) = (it.next(), it.next(), it.next()) else {
        panic!("GOMORTEM_BENCH_ONE=PART<tab>EXE<tab>DUMP")
    };
    let part = if part == "reports" { Part::Reports } else { Part::Analysis };
    let r = heap_run(Path::new(exe), Path::new(dump), part);
    let mut line = format!("heap-run {} {}", r.objects, r.edges);
    r.phases.iter().chain(&r.cpu).for_each(|x| line += &format!(" {x}"));
    r.anon_after.iter().chain([&r.hwm]).for_each(|x| line += &format!(" {x}"));
    println!("{line}");
}

fn main() {
    if let Ok(spec) = std::env::var("GOMORTEM_BENCH_ONE") {
        return heap_run_one(&spec);
    }
    // GOMORTEM_BENCH_HEAP=ENTRIES[s][,…] (default 5000000,5000000s): heap + top on bigheap
    // dumps (`s`: keyed by strings), GOMORTEM_BENCH_RUNS times each (default 3).
    let heap_sizes: Vec<HeapSize> = match std::env::var("GOMORTEM_BENCH_HEAP") {
        Ok(s) => s.split(',').filter_map(HeapSize::parse).collect(),
        Err(_) => ["5000000", "5000000s"].iter().filter_map(|s| HeapSize::parse(s)).collect(),
    };
    let runs = std::env::var("GOMORTEM_BENCH_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    bench_heap(&heap_sizes, 100_000, runs);
    let sizes: Vec<usize> = match std::env::var("GOMORTEM_BENCH_GOROUTINES") {
        Ok(s) => s.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
        Err(_) => vec![100_000],
    };
    for n in sizes {
        bench_goroutines(n);
    }
}
