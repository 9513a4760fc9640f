//! Where the programs under measurement are and how they are started.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::instance::Instance;

/// Longest wait for a program to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The programs, the scratch directory and the run counts.
pub struct Setup {
    pub service: PathBuf,
    pub baseline: PathBuf,
    pub driver: PathBuf,
    pub dir: PathBuf,
    /// Runs of the quick figures.
    pub runs: usize,
    /// Runs of the figures that take seconds each.
    pub long_runs: usize,
    /// Shorter durations, for a smoke test of the bench itself.
    pub quick: bool,
    instances: Cell<u32>,
}

impl Setup {
    /// Finds the programs next to the driver and writes the configuration
    /// file the service reads.
    pub fn new(dir: PathBuf, runs: usize, long_runs: usize, quick: bool) -> anyhow::Result<Setup> {
        let driver = std::env::current_exe().context("cannot find the driver's own path")?;
        let bin_dir = driver.parent().context("the driver has no directory")?;
        build_siblings()?;
        let service = sibling(bin_dir, "bench-service")?;
        let baseline = sibling(bin_dir, "bench-baseline")?;
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::write(dir.join("bench-service.conf"), "[DEFAULT]\nbind_port = 0\n")?;
        Ok(Setup {
            service,
            baseline,
            driver,
            dir,
            runs,
            long_runs,
            quick,
            instances: Cell::new(0),
        })
    }

    /// A fresh name for an instance's socket and log.
    fn name(&self, prefix: &str) -> String {
        let number = self.instances.get() + 1;
        self.instances.set(number);
        format!("{prefix}-{number}")
    }

    /// The bench service with `workers` workers, on a clean environment:
    /// no inherited `OS_*` options and no `RUST_LOG`.
    pub fn service_command(&self, workers: u32) -> Command {
        let mut command = Command::new(&self.service);
        command
            .arg("--workers")
            .arg(workers.to_string())
            .arg("--config-file")
            .arg(self.dir.join("bench-service.conf"))
            .env_remove("RUST_LOG")
            .env_remove("SERVICE_BENCH_TASKS");
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("OS_") {
                command.env_remove(name);
            }
        }
        command
    }

    /// Starts a program built by [`Setup::service_command`] or similar.
    pub fn spawn(&self, command: Command, prefix: &str) -> anyhow::Result<Instance> {
        Instance::spawn(command, &self.dir, &self.name(prefix))
    }

    /// Starts the bench service and waits until it is ready.
    pub fn ready_service(&self, command: Command, prefix: &str) -> anyhow::Result<Instance> {
        let instance = self.spawn(command, prefix)?;
        instance.wait_ready(READY_TIMEOUT)?;
        Ok(instance)
    }
}

/// When the driver was started by `cargo run`, which builds only the
/// driver, builds the bench service and the baselines with the same
/// profile, so that one command measures the current source. Cargo has
/// released its build lock by then: `cargo run` replaces itself with the
/// program it runs.
fn build_siblings() -> anyhow::Result<()> {
    let Some(cargo) = std::env::var_os("CARGO") else {
        return Ok(());
    };
    let mut command = Command::new(cargo);
    command.args(["build", "-p", "service-bench", "--bins"]);
    if !cfg!(debug_assertions) {
        command.arg("--release");
    }
    if let Some(manifest) = std::env::var_os("CARGO_MANIFEST_DIR") {
        command.current_dir(manifest);
    }
    eprintln!("building the bench service and the baselines: {command:?}");
    let status = command.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("{command:?} failed: {status}");
    }
    Ok(())
}

fn sibling(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    if !path.is_file() {
        bail!(
            "{} is missing: build every program of the bench first with \
             `cargo build --release -p service-bench`",
            path.display()
        );
    }
    Ok(path)
}
