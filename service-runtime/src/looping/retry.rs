//! Retrying one operation with growing sleeps.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Decides whether an error is worth another try.
type RetryIf<E> = Arc<dyn Fn(&E) -> bool + Send + Sync>;

/// How to retry an operation (oslo's `RetryDecorator`): the first try at
/// once, then after each retryable error a sleep that grows by `increment`
/// (`increment`, `2 × increment`, ...) up to `max_sleep`, until the
/// operation succeeds, fails with an error that is not retried, or has used
/// up `max_retries`.
///
/// A policy can serve any number of calls, at the same time too: the retry
/// count and the sleep belong to each call of [`Retry::run`] and start from
/// zero every time.
///
/// # Examples
///
/// ```
/// use std::io::ErrorKind;
/// use std::time::Duration;
///
/// use service_runtime::looping::Retry;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let policy = Retry::new()
///     .max_retries(3)
///     .increment(Duration::from_millis(200))
///     .when(|error: &std::io::Error| error.kind() == ErrorKind::ConnectionRefused);
///
/// let mut tries = 0;
/// let answer = policy
///     .run(|| {
///         tries += 1;
///         let result = if tries < 3 {
///             Err(std::io::Error::from(ErrorKind::ConnectionRefused))
///         } else {
///             Ok("connected")
///         };
///         async move { result }
///     })
///     .await;
///
/// assert_eq!(answer.unwrap(), "connected");
/// # }
/// ```
pub struct Retry<E> {
    max_retries: Option<u32>,
    increment: Duration,
    max_sleep: Duration,
    retry_if: RetryIf<E>,
    name: String,
}

impl<E> Clone for Retry<E> {
    fn clone(&self) -> Self {
        Retry {
            max_retries: self.max_retries,
            increment: self.increment,
            max_sleep: self.max_sleep,
            retry_if: self.retry_if.clone(),
            name: self.name.clone(),
        }
    }
}

impl<E> std::fmt::Debug for Retry<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retry")
            .field("name", &self.name)
            .field("max_retries", &self.max_retries)
            .field("increment", &self.increment)
            .field("max_sleep", &self.max_sleep)
            .finish_non_exhaustive()
    }
}

impl<E> Default for Retry<E> {
    fn default() -> Self {
        Retry::new()
    }
}

impl<E> Retry<E> {
    /// oslo's defaults: retry without limit, sleeps growing by 10 s up to
    /// 60 s. Unlike oslo, every error is retried until [`Retry::when`] says
    /// otherwise.
    pub fn new() -> Self {
        Retry {
            max_retries: None,
            increment: Duration::from_secs(10),
            max_sleep: Duration::from_secs(60),
            retry_if: Arc::new(|_| true),
            name: "operation".to_string(),
        }
    }

    /// Gives up after `retries` retries (`retries + 1` tries in all).
    #[must_use]
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = Some(retries);
        self
    }

    /// Retries for as long as the errors are retryable (the default).
    #[must_use]
    pub fn unlimited(mut self) -> Self {
        self.max_retries = None;
        self
    }

    /// How much longer each sleep is than the one before.
    #[must_use]
    pub fn increment(mut self, increment: Duration) -> Self {
        self.increment = increment;
        self
    }

    /// The longest sleep.
    #[must_use]
    pub fn max_sleep(mut self, max: Duration) -> Self {
        self.max_sleep = max;
        self
    }

    /// Retries only the errors for which `retryable` is true; the others are
    /// returned at once.
    #[must_use]
    pub fn when(mut self, retryable: impl Fn(&E) -> bool + Send + Sync + 'static) -> Self {
        self.retry_if = Arc::new(retryable);
        self
    }

    /// The name used in log lines.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Runs `operation` until it succeeds or the policy gives up.
    ///
    /// # Errors
    ///
    /// The error that was not retried, or the last one when the retries are
    /// used up.
    pub async fn run<T, F, Fut>(&self, mut operation: F) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Display,
    {
        let mut retries: u32 = 0;
        let mut sleep = Duration::ZERO;
        loop {
            let error = match operation().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if !(self.retry_if)(&error) {
                return Err(error);
            }
            if self.max_retries.is_some_and(|max| retries >= max) {
                tracing::debug!(call.name = self.name, retries, %error, "giving up");
                return Err(error);
            }
            retries += 1;
            sleep = sleep.saturating_add(self.increment);
            let pause = sleep.min(self.max_sleep);
            tracing::debug!(
                call.name = self.name,
                retries,
                sleep_secs = pause.as_secs_f64(),
                %error,
                "retrying after an error"
            );
            tokio::time::sleep(pause).await;
        }
    }
}

/// Runs `operation` with the default [`Retry`] policy: every error retried,
/// without limit, after sleeps of 10, 20, ... up to 60 s.
///
/// # Errors
///
/// None in practice: the default policy retries until the operation
/// succeeds.
pub async fn retry<T, E, F, Fut>(operation: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Display,
{
    Retry::new().run(operation).await
}

#[cfg(test)]
mod tests {
    use tokio::time::Instant;

    use super::*;
    use crate::testkit::CallLog;

    #[derive(Clone, Debug, PartialEq)]
    enum Failure {
        Transient,
        Permanent,
    }

    impl Display for Failure {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{self:?}")
        }
    }

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    /// An operation giving each of `answers` in turn, then `Ok(calls)`.
    fn answering(
        log: &CallLog,
        answers: Vec<Failure>,
    ) -> impl FnMut() -> std::future::Ready<Result<usize, Failure>> + use<> {
        let log = log.clone();
        let mut answers = answers.into_iter();
        move || {
            log.record();
            std::future::ready(answers.next().map_or(Ok(log.count()), Err))
        }
    }

    fn transient_only() -> Retry<Failure> {
        Retry::new().when(|error| *error == Failure::Transient)
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_is_returned_without_retry() {
        let log = CallLog::new();

        assert_eq!(transient_only().run(answering(&log, vec![])).await, Ok(1));
        assert_eq!(log.count(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn retryable_errors_sleep_longer_each_time() {
        let log = CallLog::new();
        let policy = transient_only()
            .max_retries(10)
            .increment(ms(10))
            .max_sleep(ms(10_000));

        let answers = vec![Failure::Transient, Failure::Transient];
        assert_eq!(policy.run(answering(&log, answers)).await, Ok(3));

        assert_eq!(log.gaps(), [ms(10), ms(20)]);
    }

    #[tokio::test(start_paused = true)]
    async fn used_up_retries_return_the_last_error() {
        let log = CallLog::new();
        let policy = transient_only()
            .max_retries(2)
            .increment(ms(0))
            .max_sleep(ms(0));

        let answers = vec![Failure::Transient; 3];
        assert_eq!(
            policy.run(answering(&log, answers)).await,
            Err(Failure::Transient)
        );

        assert_eq!(log.count(), 3);
        assert_eq!(log.times(), [ms(0); 3]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_that_is_not_retried_is_returned_at_once() {
        let log = CallLog::new();

        let answers = vec![Failure::Permanent, Failure::Transient];
        let result = transient_only().run(answering(&log, answers)).await;

        assert_eq!(result, Err(Failure::Permanent));
        assert_eq!(log.count(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn sleeps_grow_by_the_increment_then_give_up() {
        let log = CallLog::new();
        let policy = Retry::new().max_retries(3).increment(ms(2000));

        let answers = vec![Failure::Transient; 10];
        assert_eq!(
            policy.run(answering(&log, answers)).await,
            Err(Failure::Transient)
        );

        assert_eq!(log.gaps(), [ms(2000), ms(4000), ms(6000)]);
    }

    #[tokio::test(start_paused = true)]
    async fn sleeps_stop_growing_at_the_maximum() {
        let log = CallLog::new();
        let policy = Retry::new().increment(ms(10_000)).max_sleep(ms(25_000));

        let answers = vec![Failure::Transient; 4];
        assert_eq!(policy.run(answering(&log, answers)).await, Ok(5));

        assert_eq!(log.gaps(), [10_000, 20_000, 25_000, 25_000].map(ms));
    }

    #[tokio::test(start_paused = true)]
    async fn each_call_counts_its_own_retries() {
        let policy = transient_only().max_retries(1).increment(ms(100));

        for _ in 0..3 {
            let log = CallLog::new();
            let answers = vec![Failure::Transient; 5];
            assert_eq!(
                policy.run(answering(&log, answers)).await,
                Err(Failure::Transient)
            );
            assert_eq!(log.gaps(), [ms(100)]);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_function_form_uses_the_defaults() {
        let log = CallLog::new();
        let start = Instant::now();

        let answers = vec![Failure::Permanent, Failure::Transient];
        assert_eq!(retry(answering(&log, answers)).await, Ok(3));

        assert_eq!(log.gaps(), [ms(10_000), ms(20_000)]);
        assert_eq!(start.elapsed(), ms(30_000));
    }
}
