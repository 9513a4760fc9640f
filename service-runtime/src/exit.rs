//! The exit codes of a service process.
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | stopped cleanly: every worker ran its `stop` hook in time |
//! | 1    | the service failed to start (`new` or `start` returned an error) |
//! | 2    | the command line was wrong |
//! | 3    | the graceful stop timed out and the remaining workers were killed |
//! | 4    | workers kept dying and the restart policy gave up |
//! | 78   | the configuration is invalid (`EX_CONFIG`) |
//! | 130  | stopped at once by a second SIGINT (Ctrl-C) |
//!
//! Under systemd, use `RestartPreventExitStatus=78` so that a broken
//! configuration is not restarted in a loop.

/// Stopped cleanly.
pub const OK: i32 = 0;
/// The service failed to start.
pub const START_FAILED: i32 = 1;
/// The command line was wrong.
pub const USAGE: i32 = 2;
/// The graceful stop timed out; remaining workers were killed.
pub const STOP_TIMED_OUT: i32 = 3;
/// Workers kept dying and the restart policy gave up.
pub const CRASH_LOOP: i32 = 4;
/// The configuration is invalid.
pub const CONFIG: i32 = 78;
/// Stopped at once by a second SIGINT.
pub const INTERRUPTED: i32 = 130;
