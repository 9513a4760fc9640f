use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::*;
use crate::looping::{Dynamic, Ended, FixedInterval, Flow, Next};
use crate::testkit::CallLog;
use crate::testkit::support::CapturedLogs;

fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

fn ticking(
    log: &CallLog,
) -> FixedInterval<impl FnMut() -> std::future::Ready<Result<Flow<()>, String>> + use<>> {
    let log = log.clone();
    FixedInterval::new(secs(1), move || {
        log.record();
        std::future::ready(Ok(Flow::Continue))
    })
}

/// A task that sleeps `duration`, then counts itself in `finished`.
fn sleeper(duration: Duration, finished: &Arc<AtomicU32>) -> impl Future<Output = ()> + use<> {
    let finished = finished.clone();
    async move {
        sleep(duration).await;
        finished.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn graceful_stop_waits_for_running_tasks() {
    let group = TaskGroup::new();
    let finished = Arc::new(AtomicU32::new(0));
    group.spawn(sleeper(secs(1), &finished));
    let start = Instant::now();

    group.stop(true).await;

    assert_eq!(start.elapsed(), secs(1));
    assert_eq!(finished.load(Ordering::SeqCst), 1);
    assert_eq!(group.task_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_stop_without_grace_aborts_tasks_and_stops_timers() {
    let group = TaskGroup::new();
    let finished = Arc::new(AtomicU32::new(0));
    let log = CallLog::new();
    for _ in 0..3 {
        group.spawn(sleeper(secs(1), &finished));
    }
    let timer = group.add_timer(ticking(&log));
    let start = Instant::now();

    group.stop(false).await;
    group.wait().await;

    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(finished.load(Ordering::SeqCst), 0);
    assert_eq!((group.task_count(), group.timer_count()), (0, 0));
    assert_eq!(timer.wait().await.unwrap(), Ended::Stopped);
}

#[tokio::test(start_paused = true)]
async fn the_token_lets_tasks_end_cleanly() {
    let group = TaskGroup::new();
    let token = group.token();
    let cleaned = group.spawn(async move {
        token.cancelled().await;
        "cleaned up"
    });

    group.stop(false).await;

    // The task saw the token before its abort reached it, or was aborted:
    // either way it is gone.
    let outcome = cleaned.await;
    assert!(
        outcome
            .as_ref()
            .map_or_else(|e| e.is_cancelled(), |v| *v == "cleaned up")
    );
    assert!(group.token().is_cancelled());
}

#[tokio::test(start_paused = true)]
async fn a_task_stopping_its_group_is_not_aborted() {
    let group = TaskGroup::new();
    let finished = Arc::new(AtomicU32::new(0));
    for _ in 0..3 {
        group.spawn(sleeper(secs(60), &finished));
    }
    let stopper = group.clone();
    let own = finished.clone();
    let handle = group.spawn(async move {
        sleep(secs(1)).await;
        stopper.stop(false).await;
        sleep(secs(1)).await;
        own.fetch_add(10, Ordering::SeqCst);
    });

    sleep(Duration::from_millis(1500)).await;
    assert_eq!(group.task_count(), 1);
    handle.await.expect("the stopping task runs to its end");

    assert_eq!(finished.load(Ordering::SeqCst), 10);
    assert_eq!(group.task_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn stop_timers_empties_the_timers_and_new_ones_still_run() {
    let group = TaskGroup::new();
    let fixed_log = CallLog::new();
    let fixed = group.add_timer(ticking(&fixed_log));
    let dynamic_log = CallLog::new();
    let recorder = dynamic_log.clone();
    let dynamic = group.add_timer(Dynamic::new(move || {
        recorder.record();
        std::future::ready(Ok::<_, String>(Next::<()>::After(secs(2))))
    }));
    assert_eq!(group.timer_count(), 2);
    sleep(Duration::from_millis(4500)).await;

    group.stop_timers(true).await;

    assert_eq!(group.timer_count(), 0);
    assert!(fixed.is_finished() && dynamic.is_finished());
    assert_eq!((fixed_log.count(), dynamic_log.count()), (5, 3));
    let later_log = CallLog::new();
    let later = group.add_timer(ticking(&later_log));
    sleep(Duration::from_millis(2500)).await;
    assert_eq!(later_log.count(), 3);
    assert_eq!(later.stop_and_wait().await.unwrap(), Ended::Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_stopped_timer_leaves_the_count_when_its_loop_ends() {
    let group = TaskGroup::new();
    let timer = group.add_timer(ticking(&CallLog::new()));

    timer.stop();
    tokio::task::yield_now().await;
    tokio::task::yield_now().await;

    assert_eq!(group.timer_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn finished_and_failing_tasks_leave_the_group() {
    let logs = CapturedLogs::start();
    let group = TaskGroup::new();
    group.spawn(async {});
    group.spawn(async { Err::<(), _>("failed") });
    let panicking = group.spawn(async {
        sleep(secs(1)).await;
        panic!("lost the connection");
    });

    group.wait().await;

    assert_eq!(group.task_count(), 0);
    assert!(panicking.await.unwrap_err().is_panic());
    assert_eq!(logs.lines_with(&["ERROR", "lost the connection"]).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn wait_waits_for_timers_then_tasks() {
    let group = TaskGroup::new();
    let finished = Arc::new(AtomicU32::new(0));
    group.spawn(sleeper(secs(1), &finished));
    let mut left = 3;
    group.add_timer(FixedInterval::new(secs(2), move || {
        left -= 1;
        let flow = if left == 0 {
            Flow::Done(())
        } else {
            Flow::Continue
        };
        std::future::ready(Ok::<_, String>(flow))
    }));
    let start = Instant::now();

    group.wait().await;

    assert_eq!(start.elapsed(), secs(4));
    assert_eq!(finished.load(Ordering::SeqCst), 1);
}
