//! The gomortem command line: parses arguments and calls into the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use gomortem::analysis::diagnose::{Severity, Thresholds};
use gomortem::commands::{self, exit, Format, Outcome};
use gomortem::dump::InputLimits;
use gomortem::report::text::GoroutineOptions;
use gomortem::report::triage::ReportOptions;

/// Post-mortem analysis of Go processes: open a Linux core or a Windows minidump with the Go
/// executable that produced it, and see what every goroutine was doing.
#[derive(Parser)]
#[command(name = "gomortem", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// A compressed dump or executable may decompress to at most SIZE (and to what the
    /// temporary directory can hold, less 512 MiB): a bound on decompression bombs.
    #[arg(long, global = true, value_name = "SIZE", value_parser = commands::parse_size, default_value = "64GiB")]
    max_decompressed: u64,
}

#[derive(Args)]
struct Target {
    /// The dump: an ELF core or a Windows minidump (.gz, .xz, .zst accepted).
    dump: PathBuf,
    /// The Go executable (default: the one the dump names).
    #[arg(long, short = 'e', value_name = "EXE")]
    exe: Option<PathBuf>,
    /// Print one JSON document (schema in docs/json-schema.md).
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// What the dump is, which Go, threads, goroutines by state, what crashed.
    Overview {
        #[command(flatten)]
        target: Target,
    },
    /// Goroutines, grouped by identical stacks and state.
    Goroutines {
        #[command(flatten)]
        target: Target,
        /// List every goroutine instead of groups.
        #[arg(long)]
        all: bool,
        /// Also show runtime goroutines and runtime frames (always in JSON).
        #[arg(long)]
        runtime: bool,
    },
    /// The heap: allocated and reachable objects and bytes, compared with the runtime's own
    /// counters, then a histogram by type.
    Heap {
        #[command(flatten)]
        target: Target,
        /// Rows of the histogram.
        #[arg(long, default_value_t = 30)]
        top: usize,
        /// Also list the N biggest retainers, as `top` does, from the same analysis (one run for
        /// both answers).
        #[arg(long, value_name = "N", default_value_t = 0)]
        retainers: usize,
    },
    /// Where the process's memory went: heap (objects, free slots, free and released pages),
    /// stacks, runtime metadata, the executable, and what the Go runtime does not own, each
    /// Go part beside the runtime's own counter.
    Memory {
        #[command(flatten)]
        target: Target,
    },
    /// What retains the most memory (dominator tree), and through which path from which root.
    Top {
        #[command(flatten)]
        target: Target,
        /// How many retainers.
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
    /// How an object is kept alive: the shortest path from a root to it, each step named
    /// (`.next`, `[17]`, `["key"]`, a closure's capture); with -n, several distinct ones.
    Path {
        #[command(flatten)]
        target: Target,
        /// An address inside the object (hex with 0x, or decimal).
        #[arg(value_parser = parse_addr)]
        addr: u64,
        /// Show up to N distinct paths: the shortest from each root that reaches the object,
        /// then through each other object that points to it.
        #[arg(long = "paths", short = 'n', value_name = "N", default_value_t = 1)]
        paths: usize,
    },
    /// Channels and the sync primitives goroutines wait on: who waits to send and receive, who
    /// holds them, and which can never make progress (stuck: nothing that can still run reaches
    /// them).
    Channels {
        #[command(flatten)]
        target: Target,
        /// Only the stuck ones.
        #[arg(long)]
        stuck: bool,
    },
    /// The triage report: why the process died, the findings (leaks, stuck goroutines and
    /// channels, deadlocks…) by severity with their evidence, memory, goroutine groups.
    Report {
        /// The dump: an ELF core or a Windows minidump (.gz, .xz, .zst accepted).
        dump: PathBuf,
        /// The Go executable (default: the one the dump names).
        #[arg(long, short = 'e', value_name = "EXE")]
        exe: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
        /// Same as --format json.
        #[arg(long)]
        json: bool,
        /// Write the report to FILE instead of stdout.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
        /// Exit with status 4 if a finding is at least this severe.
        #[arg(long, value_name = "SEVERITY", value_parser = parse_severity)]
        fail_on: Option<Severity>,
        /// Rows of the top types, retainers and root groups.
        #[arg(long, default_value_t = 10)]
        top: usize,
        #[command(flatten)]
        thresholds: ThresholdArgs,
    },
    /// What grew between two dumps of one program (taken minutes or hours apart): by type, by
    /// root and retainer, by goroutine group, matched by name and stack, never by address.
    Diff {
        /// The older dump.
        old: PathBuf,
        /// The newer dump (of the same build of the same program).
        new: PathBuf,
        /// The Go executable of both dumps (default: the one each dump names).
        #[arg(long, short = 'e', value_name = "EXE")]
        exe: Option<PathBuf>,
        /// The executable of the newer dump, if not --exe (the same build, at another path).
        #[arg(long, value_name = "EXE")]
        exe_new: Option<PathBuf>,
        /// Print one JSON document (schema in docs/json-schema.md).
        #[arg(long)]
        json: bool,
        /// Rows that grew, and rows that shrank, in each list.
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
    /// Decode one heap object or global variable: its type and fields, to a given depth;
    /// map entries, channel buffers, closure captures and strings included.
    Object {
        #[command(flatten)]
        target: Target,
        /// An address inside a heap object or a global (hex with 0x, or decimal), or the name of
        /// a global variable (`main.cache`).
        addr: String,
        /// How deep to decode nested structs and arrays.
        #[arg(long, default_value_t = 2)]
        depth: u32,
    },
}

/// When findings are reported (docs/diagnoses.md).
#[derive(Args)]
struct ThresholdArgs {
    /// closure-retention, growing-container, pool-hoarding: retained bytes at least.
    #[arg(long, value_name = "SIZE", value_parser = commands::parse_size, default_value = "1MiB")]
    min_retained: u64,
    /// growing-container: entries (maps) or elements (slices) at least, whatever they retain.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    min_entries: u64,
    /// unclosed-resource: open files, sockets or rows of one kind at least.
    #[arg(long, value_name = "N", default_value_t = 10)]
    min_resources: u64,
    /// context-leak: children of one cancel context at least.
    #[arg(long, value_name = "N", default_value_t = 100)]
    min_children: u64,
    /// goroutine-leak: a group of at least N stuck goroutines is high severity (else medium).
    #[arg(long, value_name = "N", default_value_t = 100)]
    many_goroutines: u64,
    /// memory: reported when the heap's objects are under this share of the process's memory…
    #[arg(long, value_name = "SHARE", default_value_t = 0.5)]
    memory_live_below: f64,
    /// …and the process's memory is at least SIZE.
    #[arg(long, value_name = "SIZE", value_parser = commands::parse_size, default_value = "256MiB")]
    memory_min: u64,
}

impl From<ThresholdArgs> for Thresholds {
    fn from(t: ThresholdArgs) -> Self {
        Thresholds {
            min_retained: t.min_retained,
            min_entries: t.min_entries,
            min_resources: t.min_resources,
            min_children: t.min_children,
            many_goroutines: t.many_goroutines,
            memory: gomortem::analysis::memory::OutsideLiveThresholds {
                live_share_below: t.memory_live_below,
                min_memory_bytes: t.memory_min,
                ..Default::default()
            },
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ReportFormat {
    Text,
    Json,
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    s.parse()
}

fn parse_addr(s: &str) -> Result<u64, String> {
    commands::parse_addr(s)
}

fn run(cli: Cli) -> gomortem::Result<Outcome> {
    let limits = InputLimits { max_decompressed: cli.max_decompressed };
    let tgt = |t: Target| commands::Target { dump: t.dump, exe: t.exe, json: t.json, limits };
    let mut stdout = std::io::stdout().lock();
    let out: &mut dyn std::io::Write = &mut stdout;
    match cli.command {
        Command::Overview { target } => commands::overview(&tgt(target), out),
        Command::Goroutines { target, all, runtime } => {
            commands::goroutines(&tgt(target), GoroutineOptions { all, runtime }, out)
        }
        Command::Heap { target, top, retainers } => commands::heap(&tgt(target), top, retainers, out),
        Command::Memory { target } => commands::memory(&tgt(target), out),
        Command::Top { target, top } => commands::top(&tgt(target), top, out),
        Command::Path { target, addr, paths } => commands::path(&tgt(target), addr, paths, out),
        Command::Object { target, addr, depth } => commands::object(&tgt(target), &addr, depth, out),
        Command::Channels { target, stuck } => commands::channels(&tgt(target), stuck, out),
        Command::Diff { old, new, exe, exe_new, json, top } => {
            commands::diff(&commands::DiffTarget { old, new, exe, exe_new, json, limits }, top, out)
        }
        Command::Report { dump, exe, format, json, output, fail_on, top, thresholds } => {
            let target = commands::Target { dump, exe, json: false, limits };
            let format = if json || format == ReportFormat::Json { Format::Json } else { Format::Text };
            let opt = ReportOptions { top, thresholds: thresholds.into() };
            match output {
                Some(path) => {
                    let mut file = std::io::BufWriter::new(
                        std::fs::File::create(&path).map_err(|e| gomortem::Error::io(&path, e))?,
                    );
                    let r = commands::report(&target, format, &opt, fail_on, &mut file);
                    std::io::Write::flush(&mut file).map_err(|e| gomortem::Error::io(&path, e))?;
                    r
                }
                None => commands::report(&target, format, &opt, fail_on, out),
            }
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    match run(cli) {
        Ok(outcome) => {
            if let Some(msg) = outcome.message() {
                eprintln!("gomortem: {msg}");
            }
            ExitCode::from(outcome.exit_code())
        }
        Err(e) => {
            eprintln!("gomortem: error: {e}");
            ExitCode::from(exit::ERROR)
        }
    }
}

/// `--help` and `--version` print as clap prints them (exit 0); a usage error is one line like
/// every other error, `gomortem: error: …`, with a pointer to `--help`, and exit status 2.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::from(exit::OK);
    }
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let _ = e.print();
        return ExitCode::from(exit::USAGE);
    }
    // clap's message is its first paragraph (a list of missing arguments continues it on
    // indented lines); usage and tips follow a blank line.
    let rendered = e.render().to_string();
    let msg: Vec<&str> = rendered
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let msg = msg.join(" ");
    let msg = msg.strip_prefix("error: ").unwrap_or(&msg);
    eprintln!("gomortem: error: {}", if msg.is_empty() { "bad command line" } else { msg });
    eprintln!("(see gomortem --help)");
    ExitCode::from(exit::USAGE)
}
