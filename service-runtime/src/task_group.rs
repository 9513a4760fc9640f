//! A group of tasks and timers that stop together (oslo's `ThreadGroup`).
//!
//! Tasks are tokio tasks; timers are looping calls started in the group.
//! [`TaskGroup::stop`] either waits for everything to end (graceful) or
//! cancels it: timers are stopped, the group's cancellation token is
//! cancelled, and the tasks are aborted at their next await point.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::FutureExt;
use tokio::task::{AbortHandle, JoinHandle};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::looping::{Loop, LoopingCall};

/// Tasks and timers that are stopped and waited for together.
///
/// Cloning gives another handle to the same group, so that a task can stop
/// its own group.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use service_runtime::looping::{FixedInterval, Flow};
/// use service_runtime::task_group::TaskGroup;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let group = TaskGroup::new();
/// let token = group.token();
/// group.spawn(async move {
///     token.cancelled().await;
///     // Close connections, flush buffers...
/// });
/// group.add_timer(FixedInterval::new(Duration::from_secs(10), || async {
///     Ok::<Flow<()>, std::io::Error>(Flow::Continue)
/// }));
///
/// group.stop(false).await;
/// group.wait().await;
/// assert_eq!((group.task_count(), group.timer_count()), (0, 0));
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct TaskGroup {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tasks: TaskTracker,
    aborts: Mutex<Vec<AbortHandle>>,
    cancel: CancellationToken,
    timers: TaskTracker,
    timer_stop: Mutex<CancellationToken>,
}

impl Default for Inner {
    fn default() -> Self {
        // Closed trackers still accept tasks; closing only lets `wait`
        // finish whenever they are empty.
        let tasks = TaskTracker::new();
        tasks.close();
        let timers = TaskTracker::new();
        timers.close();
        Inner {
            tasks,
            aborts: Mutex::default(),
            cancel: CancellationToken::new(),
            timers,
            timer_stop: Mutex::default(),
        }
    }
}

impl TaskGroup {
    /// An empty group.
    pub fn new() -> Self {
        TaskGroup::default()
    }

    /// Spawns a task in the group (oslo's `add_thread`). A panic in it is
    /// logged, and still reaches the returned handle.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = self.inner.tasks.spawn(logging_panics(future));
        let mut aborts = lock(&self.inner.aborts);
        aborts.retain(|abort| !abort.is_finished());
        aborts.push(handle.abort_handle());
        handle
    }

    /// A token cancelled when the group is stopped without grace, for tasks
    /// that want to end cleanly before they are aborted.
    pub fn token(&self) -> CancellationToken {
        self.inner.cancel.child_token()
    }

    /// Starts a looping call as a timer of the group (oslo's `add_timer` and
    /// `add_dynamic_timer`).
    pub fn add_timer<L: Loop>(&self, call: L) -> LoopingCall<L::Output, L::Error> {
        let parent = lock(&self.inner.timer_stop).clone();
        call.start_on(Some(&self.inner.timers), &parent)
    }

    /// How many tasks are still running.
    pub fn task_count(&self) -> usize {
        self.inner.tasks.len()
    }

    /// How many timers are still running. A stopped timer leaves the count
    /// once its loop has ended.
    pub fn timer_count(&self) -> usize {
        self.inner.timers.len()
    }

    /// Stops every timer, and with `wait` waits for their loops to end.
    /// Timers added later run normally.
    pub async fn stop_timers(&self, wait: bool) {
        let stopping = std::mem::take(&mut *lock(&self.inner.timer_stop));
        stopping.cancel();
        if wait {
            self.inner.timers.wait().await;
        }
    }

    /// Stops the group. Graceful: stop the timers and wait for them and for
    /// every task to end. Otherwise: stop the timers, cancel the group's
    /// token and abort every task but the caller's own, without waiting.
    pub async fn stop(&self, graceful: bool) {
        self.stop_timers(graceful).await;
        if graceful {
            self.inner.tasks.wait().await;
            return;
        }
        self.inner.cancel.cancel();
        let current = tokio::task::try_id();
        for abort in lock(&self.inner.aborts).drain(..) {
            if Some(abort.id()) != current {
                abort.abort();
            }
        }
    }

    /// Waits for every timer, then every task, to end. While a timer runs
    /// this waits: stop the timers first.
    pub async fn wait(&self) {
        self.inner.timers.wait().await;
        self.inner.tasks.wait().await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `future`, with a panic logged before it goes on to the task's handle.
async fn logging_panics<F: Future>(future: F) -> F::Output {
    match AssertUnwindSafe(future).catch_unwind().await {
        Ok(output) => output,
        Err(payload) => {
            let message = crate::periodic::panic_message(payload.as_ref());
            tracing::error!(panic = message, "a task of a task group panicked");
            std::panic::resume_unwind(payload)
        }
    }
}

#[cfg(test)]
mod tests;
