//! Panics of request handlers: caught where the request is served and
//! logged once, through `tracing`, instead of being printed on stderr.
//!
//! A panic hook only sees the panic's location and backtrace, and a
//! `catch_unwind` only its payload, so the two cooperate: while a handler
//! future is being polled, a thread-local flag is set; the hook, seeing the
//! flag, keeps the location (and the backtrace, when `RUST_BACKTRACE` asks
//! for one) for the catching code instead of printing. Every other panic
//! of the process goes to the hook that was in place before, unchanged.

use std::any::Any;
use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::Once;
use std::task::{Context, Poll};

thread_local! {
    /// Whether a handler future is being polled on this thread.
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    /// What the hook kept about the last captured panic on this thread.
    static CAPTURED: RefCell<Option<Site>> = const { RefCell::new(None) };
}

/// Where a captured panic happened.
#[derive(Debug, Default)]
pub(crate) struct Site {
    /// `file:line:column`, when the panic reported one.
    pub(crate) location: Option<String>,
    /// The backtrace, when `RUST_BACKTRACE` or `RUST_LIB_BACKTRACE` asks
    /// for one.
    pub(crate) backtrace: Option<String>,
}

/// Installs, once per process, the hook that keeps quiet about panics of
/// handler futures polled through [`Capturing`] and hands every other
/// panic to the hook installed before it.
pub(crate) fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !CAPTURING.with(Cell::get) {
                previous(info);
                return;
            }
            let backtrace = Backtrace::capture();
            let site = Site {
                location: info.location().map(ToString::to_string),
                backtrace: (backtrace.status() == BacktraceStatus::Captured)
                    .then(|| backtrace.to_string()),
            };
            CAPTURED.with(|captured| *captured.borrow_mut() = Some(site));
        }));
    });
}

/// What the hook kept about the panic just caught on this thread.
pub(crate) fn take_site() -> Site {
    CAPTURED.with(|captured| captured.borrow_mut().take().unwrap_or_default())
}

/// The message a panic was raised with.
pub(crate) fn message(payload: &(dyn Any + Send)) -> String {
    crate::periodic::panic_text(payload)
        .unwrap_or("the panic carried no message")
        .to_string()
}

pin_project_lite::pin_project! {
    /// A future whose panics are left to the caller to report: the hook
    /// installed by [`install_hook`] does not print them.
    pub(crate) struct Capturing<F> {
        #[pin]
        inner: F,
    }
}

impl<F> Capturing<F> {
    pub(crate) fn new(inner: F) -> Self {
        Capturing { inner }
    }
}

impl<F: Future> Future for Capturing<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _flag = Flag::raise();
        self.project().inner.poll(cx)
    }
}

/// Sets [`CAPTURING`] and puts back its former value when dropped, also
/// while a panic unwinds through the poll.
struct Flag {
    before: bool,
}

impl Flag {
    fn raise() -> Self {
        Flag {
            before: CAPTURING.with(|flag| flag.replace(true)),
        }
    }
}

impl Drop for Flag {
    fn drop(&mut self) {
        CAPTURING.with(|flag| flag.set(self.before));
    }
}

#[cfg(test)]
mod tests {
    use std::panic::AssertUnwindSafe;

    use futures::FutureExt as _;

    use super::*;

    #[test]
    fn a_captured_panic_leaves_its_location_and_lowers_the_flag() {
        install_hook();
        let caught = AssertUnwindSafe(Capturing::new(async { panic!("on purpose") }))
            .catch_unwind()
            .now_or_never()
            .expect("the future is ready at once");
        let payload = caught.expect_err("the panic is caught");
        assert_eq!(message(&*payload), "on purpose");
        let site = take_site();
        let location = site.location.expect("the hook kept the location");
        assert!(location.contains("panics.rs"), "{location}");
        assert!(
            !CAPTURING.with(Cell::get),
            "the flag is lowered after unwinding"
        );
    }

    #[test]
    fn a_panic_outside_a_handler_is_not_kept() {
        install_hook();
        let caught = std::panic::catch_unwind(|| panic!("elsewhere"));
        assert!(caught.is_err());
        assert!(take_site().location.is_none());
    }

    #[test]
    fn messages_of_every_payload_kind() {
        assert_eq!(message(&"text"), "text");
        assert_eq!(message(&String::from("owned")), "owned");
        assert_eq!(message(&42_u8), "the panic carried no message");
    }
}
