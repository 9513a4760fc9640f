//! Looping calls: a function called again and again on its own task, with
//! the sleep between calls decided by the kind of loop.
//!
//! | kind | sleep after a call |
//! |---|---|
//! | [`FixedInterval`] | what is left of the interval, counted start to start |
//! | [`Dynamic`] | what the function asks for, capped by a maximum |
//! | [`BackOff`] | growing after failures, reset after a success |
//!
//! Each kind is a builder; [`Loop::start`] spawns the loop and gives back a
//! [`LoopingCall`] handle, which can stop the loop and wait for its end. The
//! function ends the loop itself by returning `Done(value)`; the value is
//! what [`LoopingCall::wait`] gives back.
//!
//! [`Retry`] is the odd one out: it retries one operation in the caller's
//! task instead of looping on its own.
//!
//! The timing follows oslo.service's `loopingcall` module; the differences
//! are listed in `docs/periodic-tasks.md`.

mod backoff;
mod dynamic;
mod fixed;
mod retry;

use std::fmt::Display;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use backoff::{Attempt, BackOff};
pub use dynamic::{Dynamic, Next};
pub use fixed::{FixedInterval, Flow};
pub use retry::{Retry, retry};

/// How a loop ended without an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended<T> {
    /// The function returned `Done(value)`.
    Done(T),
    /// [`LoopingCall::stop`] was called.
    Stopped,
}

/// Why a loop ended with an error.
#[derive(Debug, thiserror::Error)]
pub enum LoopError<E> {
    /// The function returned an error and the loop stops on errors.
    #[error("the function failed: {0}")]
    Failed(E),
    /// The function panicked; the message is the panic's.
    #[error("the function panicked: {0}")]
    Panicked(String),
    /// The loop ran longer than its timeout.
    #[error(
        "timed out after {:.2} s (the limit is {:.2} s)",
        elapsed.as_secs_f64(),
        limit.as_secs_f64()
    )]
    TimedOut {
        /// Time measured from the start of the loop (for a back-off loop,
        /// from the first failure of the current run of failures).
        elapsed: Duration,
        /// The timeout that was exceeded.
        limit: Duration,
    },
    /// A dynamic loop's function asked for the maximum interval and the loop
    /// has none.
    #[error("the function asked for the maximum interval, but the loop has no maximum")]
    NoInterval,
    /// A setting of the loop is unusable; the function was never called.
    #[error("invalid setting `{setting}`: {message}")]
    InvalidSetting {
        /// The builder method that set it.
        setting: &'static str,
        /// What is wrong and what is expected.
        message: String,
    },
}

/// What every loop's outcome is.
pub type LoopResult<T, E> = Result<Ended<T>, LoopError<E>>;

/// A running looping call: stop it, or wait for how it ended.
#[derive(Debug)]
pub struct LoopingCall<T, E> {
    stop: CancellationToken,
    join: JoinHandle<LoopResult<T, E>>,
}

impl<T, E> LoopingCall<T, E> {
    /// Asks the loop to stop. A sleep ends at once; a call in progress is
    /// let finish, and its `Done` value or error still wins. Stopping twice
    /// is harmless.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Whether the loop has ended.
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }

    /// Waits for the end of the loop.
    ///
    /// # Errors
    ///
    /// How the loop failed: the function's error when it stops on errors, a
    /// panic, a timeout, or an unusable setting.
    pub async fn wait(self) -> LoopResult<T, E> {
        match self.join.await {
            Ok(result) => result,
            Err(error) if error.is_panic() => Err(LoopError::Panicked(
                crate::periodic::panic_message(&*error.into_panic()),
            )),
            Err(_) => Ok(Ended::Stopped),
        }
    }

    /// Stops the loop and waits for its end.
    ///
    /// # Errors
    ///
    /// As [`LoopingCall::wait`].
    pub async fn stop_and_wait(self) -> LoopResult<T, E> {
        self.stop();
        self.wait().await
    }
}

/// A looping call ready to start: one of [`FixedInterval`], [`Dynamic`] and
/// [`BackOff`].
pub trait Loop: Sized {
    /// The value the function ends the loop with.
    type Output: Send + 'static;
    /// The function's error.
    type Error: Send + 'static;

    /// Starts the loop on a new tokio task.
    fn start(self) -> LoopingCall<Self::Output, Self::Error> {
        self.start_on(None, &CancellationToken::new())
    }

    /// Starts the loop on a task of `tracker` (when given), stopped when
    /// `parent` is cancelled as well as by its own handle.
    fn start_on(
        self,
        tracker: Option<&TaskTracker>,
        parent: &CancellationToken,
    ) -> LoopingCall<Self::Output, Self::Error>;
}

/// Spawns a loop body that watches `token`.
fn launch<T, E, F>(
    tracker: Option<&TaskTracker>,
    parent: &CancellationToken,
    body: impl FnOnce(CancellationToken) -> F,
) -> LoopingCall<T, E>
where
    F: Future<Output = LoopResult<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let stop = parent.child_token();
    let future = body(stop.clone());
    let join = match tracker {
        Some(tracker) => tracker.spawn(future),
        None => tokio::spawn(future),
    };
    LoopingCall { stop, join }
}

/// What one call of the function gave.
enum Called<R, E> {
    Returned(R),
    Failed(E),
    Panicked(String),
}

/// Calls the function once, catching a panic.
async fn call<F, Fut, R, E>(function: &mut F) -> Called<R, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<R, E>>,
{
    let once = AssertUnwindSafe(async { function().await });
    match once.catch_unwind().await {
        Ok(Ok(value)) => Called::Returned(value),
        Ok(Err(error)) => Called::Failed(error),
        Err(payload) => Called::Panicked(crate::periodic::panic_message(payload.as_ref())),
    }
}

fn log_error(name: &str, error: &dyn Display) {
    tracing::error!(call.name = name, %error, "looping call {name} failed");
}

fn log_panic(name: &str, message: &str) {
    tracing::error!(
        call.name = name,
        panic = message,
        "looping call {name} panicked"
    );
}

/// Sleeps for `duration` unless `token` is cancelled first; `false` when
/// cancelled. A zero duration still yields to other tasks.
async fn pause(token: &CancellationToken, duration: Duration) -> bool {
    if duration.is_zero() {
        tokio::task::yield_now().await;
        return !token.is_cancelled();
    }
    tokio::select! {
        biased;
        () = token.cancelled() => false,
        () = tokio::time::sleep(duration) => true,
    }
}

/// Sleeps the initial delay, if any; `false` when stopped meanwhile.
async fn initial_pause(token: &CancellationToken, delay: Option<Duration>) -> bool {
    match delay.filter(|delay| !delay.is_zero()) {
        Some(delay) => pause(token, delay).await,
        None => !token.is_cancelled(),
    }
}
