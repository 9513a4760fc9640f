//! `service-bench`: measures service-runtime against its baselines and
//! its targets, and writes the table in markdown and JSON.
//!
//! ```text
//! cargo run --release -p service-bench -- [--out DIR] [--runs N] [--long-runs N]
//!                                          [--quick] [--only SECTION,...]
//! service-bench load PORT [SECONDS [PID]]
//! ```
//!
//! Started by `cargo run`, the driver first builds the bench service and
//! the baselines with the same profile; started directly, it expects them
//! next to itself (`cargo build --release -p service-bench`).
//!
//! Sections: `startup` (start-up and stop), `reload`, `respawn` (with
//! `memory`), `http`, `periodic`, `cpu`. The table goes to
//! `DIR/bench.md` and `DIR/bench.json` (default `bench-results/`) and to
//! standard output.
//!
//! `load` runs only the HTTP load generator, against a server already
//! listening on `127.0.0.1:PORT`, to profile a server from outside.

mod http_load;
mod instance;
mod lifecycle;
mod periodic;
mod report;
mod setup;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, bail};

use crate::report::{Machine, Row};
use crate::setup::Setup;

const SECTIONS: [&str; 6] = ["startup", "reload", "respawn", "http", "periodic", "cpu"];

struct Options {
    out: PathBuf,
    runs: usize,
    long_runs: usize,
    quick: bool,
    only: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("hog") {
        periodic::spin();
        return Ok(());
    }
    if args.first().map(String::as_str) == Some("load") {
        return http_load::load_command(&args[1..]);
    }
    let options = parse(&args)?;
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build; the targets are for a release build (--release)"
        );
    }
    let work = std::env::temp_dir().join(format!("service-bench-{}", std::process::id()));
    let setup = Setup::new(work.clone(), options.runs, options.long_runs, options.quick)?;
    let mut machine = Machine::describe(options.runs);
    let started = Instant::now();
    let rows = run_sections(&setup, &options.only);
    machine.duration_s = started.elapsed().as_secs_f64();
    machine.load_average_after = report::load_average();
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("cannot create {}", options.out.display()))?;
    let markdown = report::markdown(&machine, &rows);
    std::fs::write(options.out.join("bench.md"), &markdown)?;
    std::fs::write(
        options.out.join("bench.json"),
        report::json(&machine, &rows),
    )?;
    println!("{markdown}");
    eprintln!(
        "wrote {} and {}",
        options.out.join("bench.md").display(),
        options.out.join("bench.json").display()
    );
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut options = Options {
        out: PathBuf::from("bench-results"),
        runs: 5,
        long_runs: 3,
        quick: false,
        only: SECTIONS.iter().map(|s| (*s).to_string()).collect(),
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| {
            iter.next()
                .cloned()
                .with_context(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--out" => options.out = PathBuf::from(value("--out")?),
            "--runs" => options.runs = count(&value("--runs")?, "--runs")?,
            "--long-runs" => options.long_runs = count(&value("--long-runs")?, "--long-runs")?,
            "--quick" => {
                options.quick = true;
                options.runs = 2;
                options.long_runs = 1;
            }
            "--only" => {
                options.only = value("--only")?.split(',').map(str::to_string).collect();
                if let Some(unknown) = options
                    .only
                    .iter()
                    .find(|s| !SECTIONS.contains(&s.as_str()))
                {
                    bail!(
                        "--only: unknown section {unknown:?}; expected some of {}",
                        SECTIONS.join(",")
                    );
                }
            }
            "-h" | "--help" => {
                println!(
                    "usage: service-bench [--out DIR] [--runs N] [--long-runs N] [--quick] \
                     [--only {}]",
                    SECTIONS.join(",")
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}; try --help"),
        }
    }
    Ok(options)
}

fn count(value: &str, name: &str) -> anyhow::Result<usize> {
    match value.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => bail!("{name} {value:?}: expected a whole number of at least 1"),
    }
}

/// Runs the chosen sections, noting a failed one in the table and going
/// on with the rest.
fn run_sections(setup: &Setup, only: &[String]) -> Vec<Row> {
    let wanted = |name: &str| only.iter().any(|s| s == name);
    let mut rows = Vec::new();
    let mut record = |name: &'static str, result: anyhow::Result<Vec<Row>>| match result {
        Ok(section) => rows.extend(section),
        Err(error) => {
            eprintln!("section {name} failed: {error:#}");
            rows.push(Row::new("Failures", name, "").note(format!("{error:#}")));
        }
    };
    let aged = if wanted("respawn") {
        eprintln!("starting the services whose workers must age for the respawn figures");
        match lifecycle::start_aged(setup) {
            Ok(aged) => Some(aged),
            Err(error) => {
                record("respawn", Err(error));
                None
            }
        }
    } else {
        None
    };
    if wanted("startup") {
        eprintln!("start-up and stop");
        record("startup", lifecycle::startup_and_stop(setup));
    }
    if wanted("reload") {
        eprintln!("reload");
        record("reload", lifecycle::reload(setup));
    }
    if let Some(aged) = aged {
        eprintln!("memory and respawn");
        record("memory", lifecycle::memory(&aged));
        record("respawn", lifecycle::respawn(setup, aged));
    }
    if wanted("http") {
        eprintln!("HTTP");
        record("http", http_load::section(setup));
    }
    if wanted("periodic") {
        eprintln!("periodic punctuality");
        record("periodic", periodic::punctuality(setup));
    }
    if wanted("cpu") {
        eprintln!("idle CPU with 1,000 periodic tasks");
        record("cpu", periodic::idle_cpu(setup));
    }
    rows
}
