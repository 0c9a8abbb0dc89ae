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
}

fn run(cli: Cli) -> gomortem::Result<String> {
    match cli.command {
        Command::Overview { target } => {
            let p = Process::open(&target.dump, target.exe.as_deref())?;
            let gs = p.goroutines()?;
            let o = report::overview(&p, &gs)?;
            Ok(if target.json {
                report::json::overview(&o).to_string()
            } else {
                report::text::overview(&o)
            })
        }
        Command::Goroutines { target, all, runtime } => {
            let p = Process::open(&target.dump, target.exe.as_deref())?;
            let doc = report::goroutines(&p)?;
            Ok(if target.json {
                report::json::goroutines(&doc).to_string()
            } else {
                report::text::goroutines(&doc, GoroutineOptions { all, runtime })
            })
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (| head) is not an error worth reporting.
            let _ = stdout.write_all(out.as_bytes()).and_then(|_| {
                if out.ends_with('\n') { Ok(()) } else { stdout.write_all(b"\n") }
            });
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gomortem: error: {e}");
            ExitCode::from(1)
        }
    }
}
