//! The dynamic loop: the function says how long to sleep.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Called, Ended, Loop, LoopError, LoopResult, LoopingCall};

/// The delay after an error when neither an error delay nor a maximum
/// interval is set.
const FALLBACK_ERROR_DELAY: Duration = Duration::from_secs(1);

/// What a dynamic function gives back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next<T> {
    /// Call again after this delay (capped by the maximum interval).
    After(Duration),
    /// Call again after the maximum interval; an error when there is none.
    Max,
    /// End the loop with this value.
    Done(T),
}

/// Calls a function, then sleeps for as long as it asked (oslo's
/// `DynamicLoopingCall`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use service_runtime::looping::{Dynamic, Ended, Loop, Next};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let mut backlog = vec![3, 0, 7];
/// let call = Dynamic::new(move || {
///     // Poll again soon while there is work, else at the maximum interval.
///     let next = match backlog.pop() {
///         Some(0) => Next::Max,
///         Some(_) => Next::After(Duration::from_secs(1)),
///         None => Next::Done("drained"),
///     };
///     async move { Ok::<_, std::io::Error>(next) }
/// })
/// .max_interval(Duration::from_secs(30))
/// .start();
///
/// assert_eq!(call.wait().await.unwrap(), Ended::Done("drained"));
/// # }
/// ```
#[derive(Debug)]
pub struct Dynamic<F> {
    function: F,
    initial_delay: Option<Duration>,
    max_interval: Option<Duration>,
    stop_on_error: bool,
    error_delay: Option<Duration>,
    name: String,
}

impl<F> Dynamic<F> {
    /// A loop calling `function`, first at once.
    pub fn new(function: F) -> Self {
        Dynamic {
            function,
            initial_delay: None,
            max_interval: None,
            stop_on_error: true,
            error_delay: None,
            name: "dynamic".to_string(),
        }
    }

    /// Waits `delay` before the first call.
    #[must_use]
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = Some(delay);
        self
    }

    /// Caps every delay, and is the delay of [`Next::Max`].
    #[must_use]
    pub fn max_interval(mut self, max: Duration) -> Self {
        self.max_interval = Some(max);
        self
    }

    /// Whether an error from the function ends the loop (the default) or is
    /// logged and the loop goes on after the error delay.
    #[must_use]
    pub fn stop_on_error(mut self, stop: bool) -> Self {
        self.stop_on_error = stop;
        self
    }

    /// The delay after a logged error, capped by the maximum interval. By
    /// default the maximum interval, or one second without one.
    #[must_use]
    pub fn error_delay(mut self, delay: Duration) -> Self {
        self.error_delay = Some(delay);
        self
    }

    /// The name used in log lines.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

impl<F, Fut, T, E> Loop for Dynamic<F>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<Next<T>, E>> + Send + 'static,
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

impl<F, Fut, T, E> Dynamic<F>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Next<T>, E>>,
    E: Display,
{
    async fn run(mut self, token: CancellationToken) -> LoopResult<T, E> {
        if !super::initial_pause(&token, self.initial_delay).await {
            return Ok(Ended::Stopped);
        }
        loop {
            let asked = match super::call(&mut self.function).await {
                Called::Returned(Next::Done(value)) => return Ok(Ended::Done(value)),
                Called::Returned(Next::After(delay)) => Some(delay),
                Called::Returned(Next::Max) => None,
                Called::Failed(error) => {
                    super::log_error(&self.name, &error);
                    if self.stop_on_error {
                        return Err(LoopError::Failed(error));
                    }
                    Some(self.delay_after_error())
                }
                Called::Panicked(message) => {
                    super::log_panic(&self.name, &message);
                    return Err(LoopError::Panicked(message));
                }
            };
            if token.is_cancelled() {
                return Ok(Ended::Stopped);
            }
            let delay = self.capped(asked)?;
            tracing::trace!(
                call.name = self.name,
                sleep_secs = delay.as_secs_f64(),
                "sleeping"
            );
            if !super::pause(&token, delay).await {
                return Ok(Ended::Stopped);
            }
        }
    }

    fn delay_after_error(&self) -> Duration {
        self.error_delay
            .or(self.max_interval)
            .unwrap_or(FALLBACK_ERROR_DELAY)
    }

    /// The delay asked for, capped by the maximum; the maximum for `None`.
    fn capped(&self, asked: Option<Duration>) -> Result<Duration, LoopError<E>> {
        match (asked, self.max_interval) {
            (Some(asked), Some(max)) => Ok(asked.min(max)),
            (Some(asked), None) => Ok(asked),
            (None, Some(max)) => Ok(max),
            (None, None) => Err(LoopError::NoInterval),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::time::Instant;

    use super::*;
    use crate::testkit::CallLog;
    use crate::testkit::support::CapturedLogs;

    fn secs(seconds: u64) -> Duration {
        Duration::from_secs(seconds)
    }

    /// A function giving each of `answers` in turn, then `Done(calls)`.
    fn answering(
        log: &CallLog,
        answers: Vec<Result<Next<usize>, String>>,
    ) -> impl FnMut() -> std::future::Ready<Result<Next<usize>, String>> + use<> {
        let log = log.clone();
        let mut answers = answers.into_iter();
        move || {
            log.record();
            let answer = answers.next().unwrap_or(Ok(Next::Done(log.count())));
            std::future::ready(answer)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_function_sets_each_delay_capped_by_the_maximum() {
        let log = CallLog::new();
        let answers = vec![Ok(Next::After(secs(11))), Ok(Next::After(secs(1)))];
        let call = Dynamic::new(answering(&log, answers))
            .max_interval(secs(5))
            .start();

        assert_eq!(call.wait().await.unwrap(), Ended::Done(3));

        assert_eq!(log.gaps(), [secs(5), secs(1)]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_initial_delay_comes_first() {
        let log = CallLog::new();
        let call = Dynamic::new(answering(&log, vec![Ok(Next::After(secs(2)))]))
            .initial_delay(secs(3))
            .start();

        call.wait().await.unwrap();

        assert_eq!(log.times(), [secs(3), secs(5)]);
    }

    #[tokio::test(start_paused = true)]
    async fn max_sleeps_the_maximum_interval() {
        let log = CallLog::new();
        let call = Dynamic::new(answering(&log, vec![Ok(Next::Max)])).max_interval(secs(5));

        call.start().wait().await.unwrap();

        assert_eq!(log.gaps(), [secs(5)]);
    }

    #[tokio::test(start_paused = true)]
    async fn max_without_a_maximum_is_an_error() {
        let log = CallLog::new();
        let call = Dynamic::new(answering(&log, vec![Ok(Next::Max)]));

        let error = call.start().wait().await.unwrap_err();

        assert!(matches!(error, LoopError::NoInterval));
        assert!(error.to_string().contains("no maximum"), "{error}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_ends_the_loop_by_default() {
        let log = CallLog::new();
        let call = Dynamic::new(answering(&log, vec![Err("quota exceeded".to_string())]));

        let error = call.start().wait().await.unwrap_err();

        assert!(matches!(error, LoopError::Failed(text) if text == "quota exceeded"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_passed_over_error_waits_the_error_delay() {
        let logs = CapturedLogs::start();
        let log = CallLog::new();
        let answers = vec![
            Err("first".to_string()),
            Ok(Next::After(secs(2))),
            Err("second".to_string()),
        ];
        let call = Dynamic::new(answering(&log, answers))
            .stop_on_error(false)
            .max_interval(secs(30))
            .name("syncer");

        call.start().wait().await.unwrap();

        assert_eq!(log.gaps(), [secs(30), secs(2), secs(30)]);
        assert_eq!(logs.lines_with(&["ERROR", "syncer"]).len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_error_delay_can_be_set_and_defaults_to_a_second() {
        let log = CallLog::new();
        let answers = vec![Err("a".to_string())];
        let call = Dynamic::new(answering(&log, answers)).stop_on_error(false);
        call.start().wait().await.unwrap();
        assert_eq!(log.gaps(), [secs(1)]);

        let log = CallLog::new();
        let answers = vec![Err("b".to_string())];
        let call = Dynamic::new(answering(&log, answers))
            .stop_on_error(false)
            .error_delay(secs(7));
        call.start().wait().await.unwrap();
        assert_eq!(log.gaps(), [secs(7)]);
    }

    #[tokio::test(start_paused = true)]
    async fn stop_during_the_initial_delay_never_calls() {
        let log = CallLog::new();
        let start = Instant::now();
        let call = Dynamic::new(answering(&log, vec![]))
            .initial_delay(secs(60))
            .start();

        tokio::time::sleep(secs(1)).await;
        let ended = call.stop_and_wait().await.unwrap();

        assert_eq!(ended, Ended::Stopped);
        assert_eq!(log.count(), 0);
        assert_eq!(start.elapsed(), secs(1));
    }
}
