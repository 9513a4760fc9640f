use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::testkit::CallLog;

fn secs(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds)
}

/// Asserts that the sleeps seen are the ones expected. Tokio's timers round
/// a sleep up to the next millisecond, so that is the tolerance.
fn assert_close(seen: &[Duration], expected: &[f64]) {
    assert_eq!(seen.len(), expected.len(), "{seen:?} against {expected:?}");
    for (index, (seen, expected)) in seen.iter().zip(expected).enumerate() {
        let gap = seen.as_secs_f64() - expected;
        assert!(
            (0.0..0.001).contains(&gap),
            "sleep {index}: {seen:?} against {expected}"
        );
    }
}

/// A function that notes each call in `log` and always fails.
fn always_failing(
    log: &CallLog,
) -> impl FnMut() -> std::future::Ready<Result<Attempt<()>, String>> + use<> {
    let log = log.clone();
    move || {
        log.record();
        std::future::ready(Ok(Attempt::Failed))
    }
}

const WORKED_EXAMPLE: [f64; 11] = [
    1.6, 2.4, 3.6, 5.4, 8.1, 12.15, 18.225, 27.3375, 41.00625, 61.509375, 92.2640625,
];

#[test]
fn the_worked_example_is_computed_exactly() {
    let settings = BackOff::new(());
    let mut schedule = Schedule::new(&settings);

    for expected in WORKED_EXAMPLE {
        let sleep = schedule
            .after_failure(0.8)
            .expect("under the timeout")
            .as_secs_f64();
        assert!(
            (sleep - expected).abs() < 1e-9,
            "{sleep} against {expected}"
        );
    }
    assert_eq!(schedule.after_failure(0.8), Err(secs(300.0)));
}

#[tokio::test(start_paused = true)]
async fn the_worked_example_grows_by_half_then_times_out() {
    for factor in [0.8, -0.8] {
        let log = CallLog::new();
        let start = Instant::now();
        let call = BackOff::new(always_failing(&log))
            .random_factor(move || factor)
            .start();

        let error = call.wait().await.unwrap_err();

        assert_close(&log.gaps(), &WORKED_EXAMPLE);
        let LoopError::TimedOut { elapsed, limit } = error else {
            panic!("{error}")
        };
        assert_eq!(limit, secs(300.0));
        let planned: f64 = WORKED_EXAMPLE.iter().sum();
        assert!(
            (elapsed.as_secs_f64() - planned).abs() < 0.012,
            "{elapsed:?}"
        );
        assert_eq!(elapsed, start.elapsed());
    }
}

#[tokio::test(start_paused = true)]
async fn a_maximum_interval_caps_the_sleeps_and_the_timeout_still_hits() {
    let log = CallLog::new();
    let call = BackOff::new(always_failing(&log))
        .random_factor(|| 0.8)
        .max_interval(secs(60.0))
        .start();

    let error = call.wait().await.unwrap_err();

    let mut expected = WORKED_EXAMPLE[..9].to_vec();
    expected.extend([60.0, 60.0, 60.0]);
    assert_close(&log.gaps(), &expected);
    assert!(matches!(error, LoopError::TimedOut { .. }), "{error}");
}

#[tokio::test(start_paused = true)]
async fn successes_sleep_the_starting_interval_and_done_gives_its_value() {
    let log = CallLog::new();
    let recorder = log.clone();
    let mut answers = vec![Attempt::Succeeded; 3].into_iter();
    let call = BackOff::new(move || {
        recorder.record();
        let attempt = answers.next().unwrap_or(Attempt::Done("finished"));
        async move { Ok::<_, String>(attempt) }
    })
    .random_factor(|| 1.0);

    assert_eq!(call.start().wait().await.unwrap(), Ended::Done("finished"));
    assert_close(&log.gaps(), &[1.0, 1.0, 1.0]);
}

#[tokio::test(start_paused = true)]
async fn done_on_the_first_call_never_sleeps() {
    let start = Instant::now();
    let call = BackOff::new(|| async { Ok::<_, String>(Attempt::Done(true)) });

    assert_eq!(call.start().wait().await.unwrap(), Ended::Done(true));
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_success_starts_the_interval_and_the_timeout_over() {
    let log = CallLog::new();
    let recorder = log.clone();
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let call = BackOff::new(move || {
        recorder.record();
        let call = counter.fetch_add(1, Ordering::SeqCst) + 1;
        let attempt = match call {
            4 => Attempt::Succeeded,
            7 => Attempt::Done(call),
            _ => Attempt::Failed,
        };
        async move { Ok::<_, String>(attempt) }
    })
    .random_factor(|| 0.8)
    .timeout(secs(9.0));

    assert_eq!(call.start().wait().await.unwrap(), Ended::Done(7));
    // 1.6 + 2.4 + 3.6 = 7.6 s of failures; the success sleeps 0.8; then the
    // failures start from 1.6 again, under the timeout.
    assert_close(&log.gaps(), &[1.6, 2.4, 3.6, 0.8, 1.6, 2.4]);
}

#[tokio::test(start_paused = true)]
async fn an_error_from_the_function_ends_the_loop() {
    let call = BackOff::new(|| async { Err::<Attempt<()>, _>("refused".to_string()) });

    let error = call.start().wait().await.unwrap_err();

    assert!(matches!(error, LoopError::Failed(text) if text == "refused"));
}

/// Case B12: a jitter below one shrinks the interval towards zero; the
/// minimum interval keeps every sleep above zero, so the timeout is reached,
/// and the error states the time that really passed.
#[tokio::test(start_paused = true)]
async fn a_shrinking_interval_still_times_out() {
    let log = CallLog::new();
    let start = Instant::now();
    let call = BackOff::new(always_failing(&log))
        .starting_interval(secs(0.01))
        .jitter(0.4)
        .min_interval(secs(0.001))
        .timeout(secs(2.0))
        .start();

    let error = call.wait().await.unwrap_err();
    let measured = start.elapsed();

    let LoopError::TimedOut { elapsed, .. } = error else {
        panic!("{error}")
    };
    assert!(measured <= secs(3.0), "took {measured:?}");
    assert!(measured >= secs(1.9), "took {measured:?}");
    let gaps = log.gaps();
    assert!(gaps.iter().all(|gap| *gap >= secs(0.001)), "{gaps:?}");
    let drift = (elapsed.as_secs_f64() - measured.as_secs_f64()).abs();
    assert!(
        drift <= 0.2 * measured.as_secs_f64(),
        "{elapsed:?} against {measured:?}"
    );
    assert!(log.count() < 2100, "{} calls", log.count());
}

/// Case B12, second half: with the default jitter the sleeps grow by about
/// half per failure and end up at the maximum.
#[tokio::test(start_paused = true)]
async fn the_default_jitter_grows_the_sleeps_up_to_the_maximum() {
    let log = CallLog::new();
    let recorder = log.clone();
    let call = BackOff::new(move || {
        recorder.record();
        let attempt = if recorder.count() > 15 {
            Attempt::Done(())
        } else {
            Attempt::Failed
        };
        async move { Ok::<_, String>(attempt) }
    })
    .max_interval(secs(10.0))
    .timeout(Duration::ZERO);

    call.start().wait().await.unwrap();

    let gaps = log.gaps();
    assert_eq!(gaps.len(), 15);
    assert!(gaps[0] < secs(3.0), "{gaps:?}");
    assert!(gaps[9..].iter().all(|gap| *gap == secs(10.0)), "{gaps:?}");
    assert!(gaps[0] < gaps[2] && gaps[2] < gaps[9], "{gaps:?}");
}

#[test]
fn any_number_of_failures_keeps_sleeps_finite_and_capped() {
    let settings = BackOff::new(())
        .timeout(Duration::ZERO)
        .max_interval(secs(60.0));
    let mut schedule = Schedule::new(&settings);
    for _ in 0..20 {
        schedule.after_failure(0.75).expect("no timeout");
    }

    for _ in 0..10_000 {
        assert_eq!(schedule.after_failure(0.75), Ok(secs(60.0)));
    }
    assert!(schedule.interval.is_finite());
    assert_eq!(schedule.after_failure(0.0), Ok(secs(0.001)));
    assert_eq!(schedule.after_failure(f64::NAN), Ok(secs(60.0)));
    assert_eq!(schedule.after_success(1.0), secs(1.0));
}

#[test]
fn the_default_factor_is_normal_around_the_jitter() {
    let mut source = normal_source(0.75);
    let samples: Vec<f64> = (0..20_000).map(|_| source()).collect();

    let mean = samples.iter().sum::<f64>() / samples.len() as f64;
    let variance = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / samples.len() as f64;
    assert!((mean - 0.75).abs() < 0.01, "mean {mean}");
    assert!(
        (variance.sqrt() - 0.1).abs() < 0.01,
        "deviation {}",
        variance.sqrt()
    );
}

#[tokio::test(start_paused = true)]
async fn unusable_settings_are_reported_before_any_call() {
    let cases: [(BackOff<_>, &str); 3] = [
        (
            BackOff::new(always_failing(&CallLog::new())).min_interval(Duration::ZERO),
            "min_interval",
        ),
        (
            BackOff::new(always_failing(&CallLog::new())).max_interval(secs(0.0001)),
            "max_interval",
        ),
        (
            BackOff::new(always_failing(&CallLog::new())).jitter(f64::NAN),
            "jitter",
        ),
    ];
    for (call, expected) in cases {
        let error = call.start().wait().await.unwrap_err();
        let LoopError::InvalidSetting { setting, .. } = &error else {
            panic!("{error}")
        };
        assert_eq!(*setting, expected, "{error}");
    }
}
