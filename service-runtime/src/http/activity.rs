//! What a connection is doing, for the client timeout: how many requests are
//! in flight, since when it has had none, and since when a write has been
//! blocked on a client that does not read.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// Shared between a connection's task, its stream and its requests (which
/// may run on other threads under HTTP/2).
#[derive(Debug)]
pub(crate) struct Activity {
    state: Mutex<State>,
    /// Whether `write_blocked_since` is set, so that the many writes that
    /// complete at once need no lock. Only the connection's stream changes
    /// it, from one task.
    write_blocked: AtomicBool,
}

#[derive(Debug)]
struct State {
    in_flight: usize,
    idle_since: Instant,
    write_blocked_since: Option<Instant>,
    http2: bool,
}

impl Activity {
    pub(crate) fn new() -> Self {
        Activity {
            state: Mutex::new(State {
                in_flight: 0,
                idle_since: Instant::now(),
                write_blocked_since: None,
                http2: false,
            }),
            write_blocked: AtomicBool::new(false),
        }
    }

    /// A request head has been read and handed to the application.
    pub(crate) fn request_started(&self) {
        self.lock().in_flight += 1;
    }

    /// The connection carried an HTTP/2 request, so it can be told to go
    /// away (GOAWAY) rather than be closed under a client.
    pub(crate) fn saw_http2(&self) {
        self.lock().http2 = true;
    }

    /// Whether the connection is known to speak HTTP/2.
    pub(crate) fn is_http2(&self) -> bool {
        self.lock().http2
    }

    /// A request's response has been sent, or abandoned.
    pub(crate) fn request_finished(&self) {
        let mut state = self.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        if state.in_flight == 0 {
            state.idle_since = Instant::now();
        }
    }

    /// Since when the connection has had no request in flight.
    pub(crate) fn idle_since(&self) -> Instant {
        self.lock().idle_since
    }

    /// When the connection runs out of time, or `None` while nothing can
    /// expire (a request is being handled and no write is blocked).
    ///
    /// Deadlines only ever move later as the state changes, so a watcher
    /// that sleeps until the returned instant and asks again never misses
    /// one.
    pub(crate) fn deadline(&self, timeout: Duration) -> Option<Instant> {
        let state = self.lock();
        let idle =
            (state.in_flight == 0).then(|| crate::deadline::after(state.idle_since, timeout));
        let blocked = state
            .write_blocked_since
            .map(|since| crate::deadline::after(since, timeout));
        match (idle, blocked) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn write_pending(&self) {
        if self.write_blocked.swap(true, Ordering::Relaxed) {
            return;
        }
        self.lock()
            .write_blocked_since
            .get_or_insert_with(Instant::now);
    }

    fn write_done(&self) {
        if self.write_blocked.swap(false, Ordering::Relaxed) {
            self.lock().write_blocked_since = None;
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every update
        // is a single assignment.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Resolves once the connection has been idle, or blocked writing, for
/// `timeout`.
pub(crate) async fn expired(activity: Arc<Activity>, timeout: Duration) {
    loop {
        match activity.deadline(timeout) {
            Some(deadline) if deadline <= Instant::now() => return,
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => tokio::time::sleep(timeout).await,
        }
    }
}

/// A stream that reports blocked and completed writes to [`Activity`].
pub(crate) struct TrackedIo<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> TrackedIo<T> {
    pub(crate) fn new(inner: T, activity: Arc<Activity>) -> Self {
        TrackedIo { inner, activity }
    }

    fn track<R>(&self, poll: Poll<R>) -> Poll<R> {
        match poll {
            Poll::Pending => self.activity.write_pending(),
            Poll::Ready(_) => self.activity.write_done(),
        }
        poll
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.track(poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.track(poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.track(poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.track(poll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(30);

    #[tokio::test(start_paused = true)]
    async fn idle_connection_expires_after_the_timeout() {
        let activity = Arc::new(Activity::new());
        let started = Instant::now();

        expired(activity, TIMEOUT).await;

        assert_eq!(started.elapsed(), TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn request_in_flight_holds_the_connection_open() {
        let activity = Arc::new(Activity::new());
        activity.request_started();
        let started = Instant::now();
        let watcher = tokio::spawn(expired(activity.clone(), TIMEOUT));

        tokio::time::sleep(TIMEOUT * 5).await;
        assert!(!watcher.is_finished());

        activity.request_finished();
        watcher.await.unwrap();
        assert_eq!(started.elapsed(), TIMEOUT * 6);
    }

    #[tokio::test(start_paused = true)]
    async fn blocked_write_expires_even_with_a_request_in_flight() {
        let activity = Arc::new(Activity::new());
        activity.request_started();
        tokio::time::sleep(Duration::from_secs(100)).await;
        activity.write_pending();
        let blocked_at = Instant::now();

        expired(activity, TIMEOUT).await;

        assert_eq!(blocked_at.elapsed(), TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn write_progress_clears_the_blocked_deadline() {
        let activity = Arc::new(Activity::new());
        activity.request_started();
        activity.write_pending();
        activity.write_done();

        assert_eq!(activity.deadline(TIMEOUT), None);
    }
}
