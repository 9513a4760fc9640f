//! The macros with the runtime renamed in Cargo.toml to `renamed_runtime`.
//!
//! This crate has no dependency named `service_runtime`: it builds only if
//! every expansion honours `crate = "renamed_runtime"` (and `main!` its
//! `$crate`), and, for the items without the override, only if the macros
//! find the renamed dependency in this crate's `Cargo.toml` themselves.
//! [`check`] runs the expansions; a pass case of the UI tests calls it.

use renamed_runtime::prelude::*;

/// Options reached through the renamed crate.
#[config_group(name = "renamed", crate = "renamed_runtime")]
pub struct RenamedOpts {
    /// A number.
    #[opt(default = 7, min = 1)]
    pub count: u32,

    /// Perhaps a label.
    pub label: Option<String>,

    /// Every peer.
    #[opt(multi, default = ["a"])]
    pub peers: Vec<String>,
}

/// A service reached through the renamed crate.
#[derive(Default)]
pub struct Renamed {
    ticks: u32,
}

#[service(name = "renamed", workers = renamed.count, crate = "renamed_runtime")]
impl Renamed {
    async fn start(&mut self, _ctx: &Context) -> anyhow_free::Result {
        Ok(())
    }

    #[periodic(spacing = 5, run_immediately)]
    async fn tick(&mut self) {
        self.ticks += 1;
    }
}

/// Options of a group that relies on the macros finding the renamed crate.
#[config_group(name = "found")]
pub struct FoundOpts {
    /// A number.
    #[opt(default = 2, min = 1)]
    pub count: u32,
}

/// A service that relies on the macros finding the renamed crate.
#[derive(Default)]
pub struct Found;

#[service(name = "found", workers = found.count)]
impl Found {
    #[periodic(spacing = 5)]
    async fn tick(&mut self) {}
}

/// `main!` through the renamed crate; never called.
#[allow(dead_code)]
mod entry {
    renamed_runtime::main!(super::Renamed);
}

/// An error type that is not `anyhow`, which this crate does not depend on.
mod anyhow_free {
    /// The result of a hook.
    pub type Result = std::result::Result<(), std::io::Error>;
}

/// Reads the group and the service's declarations back.
///
/// # Panics
///
/// When the expansion lost a value.
pub fn check() {
    let conf = renamed_runtime::testkit::conf(&[("renamed", "count", "3")]);
    let opts = conf.group::<RenamedOpts>();
    assert_eq!((opts.count, opts.label.as_deref()), (3, None));
    assert_eq!(opts.peers, ["a"]);
    assert_eq!(<Renamed as Service>::NAME, "renamed");
    assert_eq!(Renamed::workers(&conf), Ok(3));
    let tasks = Renamed::periodic_tasks();
    assert_eq!(tasks.len(), 1);
    assert!(tasks[0].run_immediately);

    let conf = renamed_runtime::testkit::conf(&[("found", "count", "4")]);
    assert_eq!(conf.group::<FoundOpts>().count, 4);
    assert_eq!(Found::workers(&conf), Ok(4));
    assert_eq!(Found::periodic_tasks().len(), 1);
}
