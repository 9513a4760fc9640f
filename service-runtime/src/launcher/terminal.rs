//! Whether SIGHUP means "reload" or "the terminal went away".
//!
//! oslo.service reloads on SIGHUP only when the process runs as a daemon:
//! when standard output is not a terminal (systemd, a pipe, a file), or is a
//! terminal whose foreground process group is not the service's. A SIGHUP
//! to a service in the foreground of a terminal is the terminal hanging up,
//! and oslo.service then stops handling signals and lingers. This runtime
//! follows the same rule but stops such a service gracefully instead.

/// Whether the process runs detached from a controlling terminal's
/// foreground.
pub(crate) fn is_daemon() -> bool {
    // SAFETY: tcgetpgrp and getpgrp only read process state; an invalid or
    // non-terminal descriptor makes tcgetpgrp fail with an error code.
    let (foreground, own) = unsafe { (libc::tcgetpgrp(libc::STDOUT_FILENO), libc::getpgrp()) };
    if foreground == -1 {
        let error = std::io::Error::last_os_error().raw_os_error();
        return error == Some(libc::ENOTTY);
    }
    foreground != own
}
