//! The expansion adds no warning under strict lints in the user's crate.
#![deny(
    warnings,
    unused,
    unused_qualifications,
    unused_results,
    unused_import_braces,
    unused_lifetimes,
    unsafe_code,
    trivial_casts,
    trivial_numeric_casts,
    elided_lifetimes_in_paths,
    single_use_lifetimes,
    let_underscore_drop,
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    non_ascii_idents,
    rust_2018_idioms,
    future_incompatible,
    nonstandard_style
)]
//! A crate with strict lints.

use service_runtime::config_group;

/// Options of a database client.
#[config_group(name = "strict")]
#[derive(Debug)]
pub struct StrictOpts {
    /// A number.
    #[opt(default = 10, min = 1)]
    pub timeout: u32,

    /// Text.
    #[opt(default = "x", choices = ["x", "y"])]
    pub mode: String,

    /// Many.
    #[opt(multi, default = ["a"])]
    pub many: Vec<String>,

    /// Perhaps.
    pub maybe: Option<u32>,
}

fn main() {
    let conf = service_runtime::testkit::conf(&[]);
    assert_eq!(conf.group::<StrictOpts>().timeout, 10);
}
