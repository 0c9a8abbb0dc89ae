//! The gomortem command line: parses arguments and calls into the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use gomortem::report::{self, text::GoroutineOptions};
use gomortem::runtime::Process;

/// Post-mortem analysis of Go processes: open a Linux core or a Windows minidump with the Go
/// executable that produced it, and see what every goroutine was doing.
#[derive(Parser)]
#[command(name = "gomortem", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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

fn parse_addr(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("not an address: {s:?} (use hex like 0xc000123400, or decimal)"))
}

/// The output, and whether the dump was incomplete (truncated): then the output is printed but
/// the exit status is 2, as grep does when it could not read everything.
fn run(cli: Cli) -> gomortem::Result<(String, Option<String>)> {
    use gomortem::analysis::HeapAnalysis;
    use report::heap as rh;
    let stdout = || std::io::stdout().lock();
    match cli.command {
        Command::Heap { target, top, retainers } => {
            let p = Process::open(&target.dump, target.exe.as_deref())?;
            let doc = rh::heap(&HeapAnalysis::run_with(&p, retainers > 0)?, top, retainers);
            let out = if target.json {
                rh::json(stdout(), &doc).map(|_| String::new())?
            } else {
                rh::heap_text(&doc)
            };
            Ok((out, incomplete(&p)))
        }
        Command::Top { target, top } => {
            let p = Process::open(&target.dump, target.exe.as_deref())?;
            let doc = rh::top(&HeapAnalysis::run_with(&p, true)?, top)?;
            let out = if target.json {
                rh::json(stdout(), &doc).map(|_| String::new())?
            } else {
                rh::top_text(&doc)
            };
            Ok((out, incomplete(&p)))
        }
        Command::Object { target, addr, depth } => {
            let p = Process::open(&target.dump, target.exe.as_deref())?;
            let what = match parse_addr(&addr) {
                Ok(a) => report::object::Target::Address(a),
                Err(_) => report::object::Target::Global(addr),
            };
            let doc = report::object::object(&HeapAnalysis::run_with(&p, true)?, &what, depth)?;
            let out = if target.json {
                rh::json(stdout(), &doc).map(|_| String::new())?
            } else {
                report::object::object_text(&doc)
            };
            Ok((out, incomplete(&p)))
        }
        Command::Path { target, addr, paths } => {
            let p = Process::open(&target.dump, target.exe.as_deref())?;
            let doc = rh::path(&HeapAnalysis::run(&p)?, addr, paths)?;
            let out = if target.json {
                rh::json(stdout(), &doc).map(|_| String::new())?
            } else {
                rh::path_text(&doc)
            };
            Ok((out, incomplete(&p)))
        }
        Command::Overview { target } => {
            let p = Process::open(&target.dump, target.exe.as_deref())?;
            let gs = p.goroutines()?;
            let o = report::overview(&p, &gs)?;
            let out = if target.json {
                report::json::overview(&o, std::io::stdout().lock())?;
                String::new()
            } else {
                report::text::overview(&o)
            };
            Ok((out, incomplete(&p)))
        }
        Command::Goroutines { target, all, runtime } => {
            let p = Process::open(&target.dump, target.exe.as_deref())?;
            let doc = report::goroutines(&p)?;
            let out = if target.json {
                report::json::goroutines(&doc, std::io::stdout().lock())?;
                String::new()
            } else {
                report::text::goroutines(&doc, GoroutineOptions { all, runtime })
            };
            Ok((out, incomplete(&p)))
        }
    }
}

fn incomplete(p: &Process) -> Option<String> {
    (p.dump.missing_bytes > 0).then(|| {
        format!(
            "{} is truncated: {} bytes of its memory are missing; what is shown may be incomplete",
            p.dump.path.display(),
            p.dump.missing_bytes
        )
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok((out, incomplete)) => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (| head) is not an error worth reporting.
            if !out.is_empty() {
                let _ = stdout.write_all(out.as_bytes()).and_then(|_| {
                    if out.ends_with('\n') {
                        Ok(())
                    } else {
                        stdout.write_all(b"\n")
                    }
                });
            }
            match incomplete {
                Some(msg) => {
                    eprintln!("gomortem: error: {msg}");
                    ExitCode::from(2)
                }
                None => ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            eprintln!("gomortem: error: {e}");
            ExitCode::from(1)
        }
    }
}
