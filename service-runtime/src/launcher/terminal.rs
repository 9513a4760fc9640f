//! Whether a SIGHUP means "reload" or "the terminal went away".
//!
//! oslo.service reloads on SIGHUP only when the process runs as a daemon,
//! and treats a SIGHUP to a service in a terminal's foreground as the
//! terminal hanging up (after which it lingers half-alive). That also turns
//! a deliberate `kill -HUP` into a stop whenever the service happens to run
//! in a terminal. This runtime asks the terminal instead: when standard
//! input, output or error is a terminal that has hung up, reads of its
//! state fail with `EIO`, and the service stops gracefully; in every other
//! case (a daemon, pipes, files, a live terminal) SIGHUP reloads.

/// Whether standard input, output or error is a terminal that hung up.
pub(crate) fn terminal_hung_up() -> bool {
    [libc::STDIN_FILENO, libc::STDOUT_FILENO, libc::STDERR_FILENO]
        .into_iter()
        .any(hung_up)
}

fn hung_up(fd: i32) -> bool {
    // SAFETY: tcgetpgrp only reads the state of a descriptor; on a
    // descriptor that is not an open terminal it fails with an error code.
    let foreground = unsafe { libc::tcgetpgrp(fd) };
    if foreground != -1 {
        return false;
    }
    let error = std::io::Error::last_os_error().raw_os_error();
    matches!(error, Some(libc::EIO | libc::ENXIO))
}
