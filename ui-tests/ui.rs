//! Compile-pass and compile-fail cases of every macro, run with trybuild.
//!
//! The `.stderr` files are tied to the toolchain pinned in
//! `rust-toolchain.toml`. After a deliberate change of a message, run
//! `TRYBUILD=overwrite cargo test -p ui-tests` and review the diff.
//! `cargo test -p ui-tests --test ui -- ui trybuild=listeners` runs only the
//! cases whose path contains `listeners`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    for macro_name in ["config_group", "service", "periodic", "main"] {
        cases.pass(format!("{macro_name}/pass/*.rs"));
        cases.compile_fail(format!("{macro_name}/fail/*.rs"));
    }
}
