//! The runtime renamed in Cargo.toml: the crate `ui-tests-renamed` depends
//! on it only as `renamed_runtime` and uses `crate = "renamed_runtime"`.
//! That it compiled at all is most of the test; this runs its expansions.

fn main() {
    ui_tests_renamed::check();
}
