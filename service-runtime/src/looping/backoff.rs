//! The back-off loop: sleeps grow while the function fails.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Called, Ended, Loop, LoopError, LoopResult, LoopingCall};

/// The deviation of the random factor around the jitter.
const FACTOR_DEVIATION: f64 = 0.1;

/// What a back-off function gives back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt<T> {
    /// It worked: the interval starts over.
    Succeeded,
    /// It did not: the next sleep is longer.
    Failed,
    /// End the loop with this value.
    Done(T),
}

/// A source of the random factor before its absolute value is taken.
type FactorSource = Box<dyn FnMut() -> f64 + Send>;

/// Calls a function and sleeps longer after each failure, until a success,
/// `Done`, or a run of failures whose sleeps add up to more than the timeout
/// (oslo's `BackOffLoopingCall`).
///
/// After each call a random factor `r = |N(jitter, 0.1)|` is drawn. After a
/// success the interval starts over and the sleep is `starting_interval × r`.
/// After a failure the sleep is `interval × 2 × r` kept within
/// `[min_interval, max_interval]`, the interval becomes
/// `max(interval × 2 × jitter, min_interval)`, and when the sleeps of the
/// current run of failures would pass the timeout the loop ends with
/// [`LoopError::TimedOut`] instead. An error from the function ends the loop.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use service_runtime::looping::{Attempt, BackOff, Ended, Loop};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let mut tries = 0;
/// let call = BackOff::new(move || {
///     tries += 1;
///     // Pretend the peer answers on the fourth try.
///     let attempt = if tries < 4 { Attempt::Failed } else { Attempt::Done(tries) };
///     async move { Ok::<_, std::io::Error>(attempt) }
/// })
/// .starting_interval(Duration::from_millis(100))
/// .timeout(Duration::from_secs(10))
/// .start();
///
/// assert_eq!(call.wait().await.unwrap(), Ended::Done(4));
/// # }
/// ```
pub struct BackOff<F> {
    function: F,
    initial_delay: Option<Duration>,
    starting_interval: Duration,
    timeout: Option<Duration>,
    max_interval: Duration,
    min_interval: Duration,
    jitter: f64,
    factor: Option<FactorSource>,
    name: String,
}

impl<F> std::fmt::Debug for BackOff<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackOff")
            .field("name", &self.name)
            .field("starting_interval", &self.starting_interval)
            .field("timeout", &self.timeout)
            .field("max_interval", &self.max_interval)
            .field("min_interval", &self.min_interval)
            .field("jitter", &self.jitter)
            .finish_non_exhaustive()
    }
}

impl<F> BackOff<F> {
    /// A loop calling `function` at once, with oslo's defaults: starting
    /// interval 1 s, timeout 300 s, maximum interval 300 s, jitter 0.75,
    /// minimum interval 1 ms.
    pub fn new(function: F) -> Self {
        BackOff {
            function,
            initial_delay: None,
            starting_interval: Duration::from_secs(1),
            timeout: Some(Duration::from_secs(300)),
            max_interval: Duration::from_secs(300),
            min_interval: Duration::from_millis(1),
            jitter: 0.75,
            factor: None,
            name: "back-off".to_string(),
        }
    }

    /// Waits `delay` before the first call.
    #[must_use]
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = Some(delay);
        self
    }

    /// The interval the sleeps start from, and start over from after a
    /// success.
    #[must_use]
    pub fn starting_interval(mut self, interval: Duration) -> Self {
        self.starting_interval = interval;
        self
    }

    /// The limit on the sum of the sleeps of one run of failures; zero means
    /// no limit.
    #[must_use]
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit).filter(|limit| !limit.is_zero());
        self
    }

    /// The longest sleep.
    #[must_use]
    pub fn max_interval(mut self, max: Duration) -> Self {
        self.max_interval = max;
        self
    }

    /// The shortest sleep after a failure; it must be above zero.
    #[must_use]
    pub fn min_interval(mut self, min: Duration) -> Self {
        self.min_interval = min;
        self
    }

    /// The growth factor of the interval per failure, halved (0.75 makes the
    /// interval grow by 1.5 per failure), and the mean of the random factor.
    #[must_use]
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// Replaces the random factor's source, for tests: it gives the factor
    /// before its absolute value is taken. By default it is drawn from a
    /// normal distribution with mean `jitter` and deviation 0.1.
    #[must_use]
    pub fn random_factor(mut self, source: impl FnMut() -> f64 + Send + 'static) -> Self {
        self.factor = Some(Box::new(source));
        self
    }

    /// The name used in log lines.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The first unusable setting, if any.
    fn invalid_setting(&self) -> Option<(&'static str, String)> {
        if self.min_interval.is_zero() {
            let message = "must be above zero, or failing calls could follow each other \
                           without a pause";
            return Some(("min_interval", message.to_string()));
        }
        if self.max_interval < self.min_interval {
            let message = format!(
                "{:?} is below the minimum interval {:?}",
                self.max_interval, self.min_interval
            );
            return Some(("max_interval", message));
        }
        if !self.jitter.is_finite() || self.jitter < 0.0 {
            let message = format!("{} is not a finite number of at least 0", self.jitter);
            return Some(("jitter", message));
        }
        None
    }
}

impl<F, Fut, T, E> Loop for BackOff<F>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<Attempt<T>, E>> + Send + 'static,
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

impl<F, Fut, T, E> BackOff<F>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Attempt<T>, E>>,
    E: Display,
{
    async fn run(mut self, token: CancellationToken) -> LoopResult<T, E> {
        if let Some((setting, message)) = self.invalid_setting() {
            return Err(LoopError::InvalidSetting { setting, message });
        }
        if !super::initial_pause(&token, self.initial_delay).await {
            return Ok(Ended::Stopped);
        }
        let mut schedule = Schedule::new(&self);
        let mut factor = self
            .factor
            .take()
            .unwrap_or_else(|| normal_source(self.jitter));
        let mut failing_since = None;
        loop {
            let call_start = Instant::now();
            let succeeded = match super::call(&mut self.function).await {
                Called::Returned(Attempt::Done(value)) => return Ok(Ended::Done(value)),
                Called::Returned(Attempt::Succeeded) => true,
                Called::Returned(Attempt::Failed) => false,
                Called::Failed(error) => {
                    super::log_error(&self.name, &error);
                    return Err(LoopError::Failed(error));
                }
                Called::Panicked(message) => {
                    super::log_panic(&self.name, &message);
                    return Err(LoopError::Panicked(message));
                }
            };
            if token.is_cancelled() {
                return Ok(Ended::Stopped);
            }
            let random = factor();
            let sleep = if succeeded {
                failing_since = None;
                schedule.after_success(random)
            } else {
                let since = *failing_since.get_or_insert(call_start);
                schedule.after_failure(random).map_err(|limit| {
                    let elapsed = since.elapsed();
                    tracing::warn!(call.name = self.name, "back-off timed out");
                    LoopError::TimedOut { elapsed, limit }
                })?
            };
            tracing::trace!(
                call.name = self.name,
                sleep_secs = sleep.as_secs_f64(),
                "sleeping"
            );
            if !super::pause(&token, sleep).await {
                return Ok(Ended::Stopped);
            }
        }
    }
}

/// The interval arithmetic of a back-off loop, in seconds as `f64` like
/// oslo's, so that its sums and comparisons come out the same.
#[derive(Clone, Debug)]
pub(crate) struct Schedule {
    starting: f64,
    min: f64,
    max: f64,
    jitter: f64,
    timeout: Option<Duration>,
    /// Grows by `2 × jitter` per failure. It may reach `f64::MAX` but never
    /// infinity, and every sleep is clamped to `max`, so any number of
    /// failures is fine.
    interval: f64,
    /// The sum of the sleeps of the current run of failures.
    failing_for: f64,
}

impl Schedule {
    fn new<F>(settings: &BackOff<F>) -> Self {
        Schedule {
            starting: settings.starting_interval.as_secs_f64(),
            min: settings.min_interval.as_secs_f64(),
            max: settings.max_interval.as_secs_f64(),
            jitter: settings.jitter,
            timeout: settings.timeout,
            interval: settings.starting_interval.as_secs_f64(),
            failing_for: 0.0,
        }
    }

    /// The random factor: the absolute value, the jitter itself when the
    /// source gives something that is not a number.
    fn factor(&self, random: f64) -> f64 {
        if random.is_finite() {
            random.abs()
        } else {
            self.jitter
        }
    }

    /// The sleep after a success, within `[min, max]`.
    pub(crate) fn after_success(&mut self, random: f64) -> Duration {
        self.interval = self.starting;
        self.failing_for = 0.0;
        let sleep = (self.starting * self.factor(random))
            .max(self.min)
            .min(self.max);
        Duration::from_secs_f64(sleep)
    }

    /// The sleep after a failure, or the timeout exceeded.
    pub(crate) fn after_failure(&mut self, random: f64) -> Result<Duration, Duration> {
        let sleep = (self.interval * (2.0 * self.factor(random)))
            .max(self.min)
            .min(self.max);
        self.interval = (self.interval * (2.0 * self.jitter)).clamp(self.min, f64::MAX);
        if let Some(limit) = self.timeout {
            if self.failing_for + sleep > limit.as_secs_f64() {
                return Err(limit);
            }
        }
        self.failing_for += sleep;
        Ok(Duration::from_secs_f64(sleep))
    }
}

/// Draws from a normal distribution with mean `mean` and deviation 0.1
/// (Box-Muller on the thread's random generator).
fn normal_source(mean: f64) -> FactorSource {
    Box::new(move || {
        let u1 = 1.0 - rand::random::<f64>();
        let u2 = rand::random::<f64>();
        let standard = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        mean + FACTOR_DEVIATION * standard
    })
}

#[cfg(test)]
mod tests;
