//! The fixed-interval loop, with or without a timeout.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Called, Ended, Loop, LoopError, LoopResult, LoopingCall};

/// What a fixed-interval function gives back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flow<T> {
    /// Call again at the next interval.
    Continue,
    /// End the loop with this value.
    Done(T),
}

/// Calls a function every `interval`, counted from the start of one call to
/// the start of the next (oslo's `FixedIntervalLoopingCall`, and with
/// [`FixedInterval::timeout`] its `FixedIntervalWithTimeoutLoopingCall`).
///
/// A call that outlasts the interval is warned about, with the overrun, and
/// the next call follows at once.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use service_runtime::looping::{Ended, FixedInterval, Flow, Loop};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let mut beats = 0;
/// let call = FixedInterval::new(Duration::from_secs(5), move || {
///     beats += 1;
///     let flow = if beats == 3 { Flow::Done(beats) } else { Flow::Continue };
///     async move { Ok::<_, std::io::Error>(flow) }
/// })
/// .start();
///
/// assert_eq!(call.wait().await.unwrap(), Ended::Done(3));
/// # }
/// ```
#[derive(Debug)]
pub struct FixedInterval<F> {
    function: F,
    interval: Duration,
    initial_delay: Option<Duration>,
    stop_on_error: bool,
    timeout: Option<Duration>,
    name: String,
}

impl<F> FixedInterval<F> {
    /// A loop calling `function` every `interval`, first at once.
    pub fn new(interval: Duration, function: F) -> Self {
        FixedInterval {
            function,
            interval,
            initial_delay: None,
            stop_on_error: true,
            timeout: None,
            name: "fixed-interval".to_string(),
        }
    }

    /// Waits `delay` before the first call.
    #[must_use]
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = Some(delay);
        self
    }

    /// Whether an error from the function ends the loop (the default) or is
    /// logged and the loop goes on.
    #[must_use]
    pub fn stop_on_error(mut self, stop: bool) -> Self {
        self.stop_on_error = stop;
        self
    }

    /// Ends the loop with [`LoopError::TimedOut`] when, after a call, more
    /// than `limit` has passed since the start (initial delay included).
    /// Zero means no limit.
    #[must_use]
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit).filter(|limit| !limit.is_zero());
        self
    }

    /// The name used in log lines.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

impl<F, Fut, T, E> Loop for FixedInterval<F>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<Flow<T>, E>> + Send + 'static,
    T: Send + 'static,
    E: Display + Send + 'static,
{
    type Output = T;
    type Error = E;

    fn start_on(
        self,
        tracker: Option<&TaskTracker>,
        parent: &CancellationToken,
    ) -> LoopingCall<T, E> {
        super::launch(tracker, parent, |token| self.run(token))
    }
}

impl<F, Fut, T, E> FixedInterval<F>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Flow<T>, E>>,
    E: Display,
{
    async fn run(mut self, token: CancellationToken) -> LoopResult<T, E> {
        let started = Instant::now();
        if !super::initial_pause(&token, self.initial_delay).await {
            return Ok(Ended::Stopped);
        }
        loop {
            let call_start = Instant::now();
            match super::call(&mut self.function).await {
                Called::Returned(Flow::Done(value)) => return Ok(Ended::Done(value)),
                Called::Returned(Flow::Continue) => {}
                Called::Failed(error) => {
                    super::log_error(&self.name, &error);
                    if self.stop_on_error {
                        return Err(LoopError::Failed(error));
                    }
                }
                Called::Panicked(message) => {
                    super::log_panic(&self.name, &message);
                    return Err(LoopError::Panicked(message));
                }
            }
            if token.is_cancelled() {
                return Ok(Ended::Stopped);
            }
            self.check_timeout(started)?;
            let rest = self.rest_of_interval(call_start.elapsed());
            if !super::pause(&token, rest).await {
                return Ok(Ended::Stopped);
            }
        }
    }

    fn check_timeout(&self, started: Instant) -> Result<(), LoopError<E>> {
        let elapsed = started.elapsed();
        match self.timeout {
            Some(limit) if elapsed > limit => Err(LoopError::TimedOut { elapsed, limit }),
            _ => Ok(()),
        }
    }

    /// The sleep after a call that took `took`; an overrun is warned about.
    fn rest_of_interval(&self, took: Duration) -> Duration {
        if let Some(rest) = self.interval.checked_sub(took) {
            tracing::trace!(
                call.name = self.name,
                sleep_secs = rest.as_secs_f64(),
                "sleeping"
            );
            return rest;
        }
        let overrun = took - self.interval;
        tracing::warn!(
            call.name = self.name,
            overrun_secs = overrun.as_secs_f64(),
            "looping call {} outlasted its interval by {:.2} s",
            self.name,
            overrun.as_secs_f64()
        );
        Duration::ZERO
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use tokio::time::sleep;

    use super::*;
    use crate::testkit::CallLog;
    use crate::testkit::support::CapturedLogs;

    fn millis(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    /// A function that runs for each of `run_times` in turn, then is done.
    fn timed_calls(
        log: &CallLog,
        run_times: Vec<Duration>,
    ) -> impl FnMut() -> futures::future::BoxFuture<'static, Result<Flow<usize>, String>> + use<>
    {
        let log = log.clone();
        let mut calls = 0;
        move || {
            log.record();
            calls += 1;
            let took = run_times.get(calls - 1).copied();
            Box::pin(async move {
                match took {
                    Some(took) => {
                        sleep(took).await;
                        Ok(Flow::Continue)
                    }
                    None => Ok(Flow::Done(calls)),
                }
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn sleeps_are_counted_start_to_start() {
        let logs = CapturedLogs::start();
        let log = CallLog::new();
        let runs = vec![millis(990), millis(2000), millis(1010)];
        let call = FixedInterval::new(millis(1010), timed_calls(&log, runs))
            .name("ticker")
            .start();

        assert_eq!(call.wait().await.unwrap(), Ended::Done(4));

        // Runs of 0.99, 2.0 and 1.01 s at an interval of 1.01 s: sleeps of
        // 0.02, 0 and 0 s.
        assert_eq!(log.times(), [0, 1010, 3010, 4020].map(millis));
        let warnings = logs.lines_with(&["WARN", "ticker", "outlasted", "0.99 s"]);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(logs.lines_with(&["outlasted"]).len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_initial_delay_comes_before_the_first_call() {
        let log = CallLog::new();
        let call = FixedInterval::new(millis(100), timed_calls(&log, vec![Duration::ZERO; 2]))
            .initial_delay(millis(250))
            .start();

        call.wait().await.unwrap();

        assert_eq!(log.times(), [250, 350, 450].map(millis));
    }

    #[tokio::test(start_paused = true)]
    async fn done_gives_its_value_to_the_waiter() {
        for value in [true, false] {
            let call = FixedInterval::new(millis(10), move || async move {
                Ok::<_, String>(Flow::Done(value))
            });
            assert_eq!(call.start().wait().await.unwrap(), Ended::Done(value));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_ends_the_loop_by_default() {
        let logs = CapturedLogs::start();
        let call = FixedInterval::new(millis(10), || async {
            Err::<Flow<()>, _>("connection refused".to_string())
        })
        .name("poller");

        let error = call.start().wait().await.unwrap_err();

        assert!(matches!(&error, LoopError::Failed(text) if text == "connection refused"));
        assert_eq!(
            logs.lines_with(&["ERROR", "poller", "connection refused"])
                .len(),
            1
        );
    }

    #[tokio::test(start_paused = true)]
    async fn errors_can_be_logged_and_passed_over() {
        let logs = CapturedLogs::start();
        let calls = Arc::new(AtomicU32::new(0));
        let counter = calls.clone();
        let call = FixedInterval::new(millis(10), move || {
            let call = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                match call {
                    1 | 2 => Err(format!("failure {call}")),
                    _ => Ok(Flow::Done(false)),
                }
            }
        })
        .stop_on_error(false);

        assert_eq!(call.start().wait().await.unwrap(), Ended::Done(false));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(logs.lines_with(&["ERROR", "failure"]).len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_panic_ends_the_loop_with_its_message() {
        let call = FixedInterval::new(millis(10), || async {
            if Instant::now().elapsed() == Duration::ZERO {
                panic!("counter overflow");
            }
            Ok::<Flow<()>, String>(Flow::Continue)
        });

        let error = call.start().wait().await.unwrap_err();

        assert!(matches!(&error, LoopError::Panicked(text) if text == "counter overflow"));
    }

    #[tokio::test(start_paused = true)]
    async fn stop_cuts_a_sleep_short() {
        let log = CallLog::new();
        let recorder = log.clone();
        let start = Instant::now();
        let call = FixedInterval::new(Duration::from_secs(60), move || {
            recorder.record();
            async { Ok::<Flow<()>, String>(Flow::Continue) }
        })
        .start();

        sleep(Duration::from_secs(90)).await;
        call.stop();
        call.stop();
        let ended = call.wait().await.unwrap();

        assert_eq!(ended, Ended::Stopped);
        assert_eq!(start.elapsed(), Duration::from_secs(90));
        assert_eq!(log.count(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_in_progress_finishes_before_the_stop() {
        let finished = Arc::new(AtomicU32::new(0));
        let counter = finished.clone();
        let call = FixedInterval::new(millis(10), move || {
            let counter = counter.clone();
            async move {
                sleep(millis(500)).await;
                counter.fetch_add(1, Ordering::SeqCst);
                Ok::<Flow<()>, String>(Flow::Continue)
            }
        })
        .start();

        sleep(millis(100)).await;
        let ended = call.stop_and_wait().await.unwrap();

        assert_eq!(ended, Ended::Stopped);
        assert_eq!(finished.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_timeout_is_checked_after_each_call() {
        let log = CallLog::new();
        let recorder = log.clone();
        let call = FixedInterval::new(millis(100), move || {
            recorder.record();
            async { Ok::<Flow<()>, String>(Flow::Continue) }
        })
        .timeout(millis(300));

        let error = call.start().wait().await.unwrap_err();

        assert!(
            matches!(error, LoopError::TimedOut { elapsed, limit }
                if elapsed == millis(400) && limit == millis(300)),
            "{error}"
        );
        assert_eq!(log.times(), [0, 100, 200, 300, 400].map(millis));
        assert_eq!(
            error.to_string(),
            "timed out after 0.40 s (the limit is 0.30 s)"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_timeout_includes_the_initial_delay() {
        let call = FixedInterval::new(millis(100), || async {
            Ok::<Flow<()>, String>(Flow::Continue)
        })
        .initial_delay(millis(250))
        .timeout(millis(300));

        let error = call.start().wait().await.unwrap_err();

        assert!(matches!(error, LoopError::TimedOut { elapsed, .. } if elapsed == millis(350)));
    }
}
