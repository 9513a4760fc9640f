use std::time::Duration;

use futures::future::BoxFuture;
use tokio::time::{Instant, sleep};

use super::*;
use crate::testkit::PeriodicHarness;
use crate::testkit::support::{CapturedLogs, test_conf};

#[derive(Default)]
struct Probe {
    alternate_failures: u32,
    slow_runs_left: u32,
}

fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

fn all_secs(seconds: &[u64]) -> Vec<Duration> {
    seconds.iter().copied().map(secs).collect()
}

fn noop<'a>(_probe: &'a mut Probe, _ctx: &'a Context) -> BoxFuture<'a, TaskOutcome> {
    Box::pin(async { Ok(()) })
}

fn fails<'a>(_probe: &'a mut Probe, _ctx: &'a Context) -> BoxFuture<'a, TaskOutcome> {
    Box::pin(async { Err("database unreachable".to_string()) })
}

/// Fails by error on odd runs and by panic on even ones.
fn fails_hard<'a>(probe: &'a mut Probe, _ctx: &'a Context) -> BoxFuture<'a, TaskOutcome> {
    Box::pin(async move {
        probe.alternate_failures += 1;
        if probe.alternate_failures % 2 == 1 {
            return Err("disk full".to_string());
        }
        panic!("index out of range");
    })
}

/// Takes 35 s while `slow_runs_left` is above zero.
fn slow<'a>(probe: &'a mut Probe, _ctx: &'a Context) -> BoxFuture<'a, TaskOutcome> {
    Box::pin(async move {
        if probe.slow_runs_left > 0 {
            probe.slow_runs_left -= 1;
            sleep(secs(35)).await;
        }
        Ok(())
    })
}

fn every(name: &'static str, seconds: f64) -> PeriodicTask<Probe> {
    PeriodicTask::new(name, Spacing::Seconds(seconds), noop)
}

fn harness(tasks: Vec<PeriodicTask<Probe>>) -> PeriodicHarness<Probe> {
    PeriodicHarness::new(Probe::default(), tasks, test_conf(&[])).without_jitter()
}

fn runner(tasks: Vec<PeriodicTask<Probe>>) -> PeriodicRunner<Probe> {
    PeriodicRunner::new(tasks, &test_conf(&[])).with_random(|| 0.0)
}

fn context() -> Context {
    Context::new(0, 0, test_conf(&[]))
}

#[tokio::test(start_paused = true)]
async fn spacing_zero_means_sixty_seconds_and_others_are_kept() {
    let mut harness = harness(vec![every("default", 0.0), every("four", 4.0)]);

    harness.advance(secs(130)).await;

    assert_eq!(harness.run_times("default"), all_secs(&[60, 120]));
    assert_eq!(harness.run_count("four"), 32);
    assert_eq!(harness.run_times("four")[..3], all_secs(&[4, 8, 12]));
    let spacings: Vec<_> = harness
        .runner()
        .stats()
        .iter()
        .map(|s| s.spacing_secs)
        .collect();
    assert_eq!(spacings, [Some(60.0), Some(4.0)]);
}

#[tokio::test(start_paused = true)]
async fn negative_and_disabled_tasks_are_not_scheduled() {
    let logs = CapturedLogs::start();
    let runner = runner(vec![every("negative", -1.0), every("off", 5.0).disabled()]);

    assert!(runner.task_names().is_empty());
    assert_eq!(runner.next_due(), None);
    let negative = logs.lines_with(&["INFO", "negative", "spacing is negative"]);
    assert_eq!(negative.len(), 1, "{negative:?}");
    assert_eq!(logs.lines_with(&["INFO", "off", "disabled"]).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn long_spacing_is_due_exactly_one_spacing_later() {
    let start = Instant::now();
    let runner = runner(vec![every("slow", 200.0)]);

    assert_eq!(runner.next_due(), Some(start + secs(200)));
}

#[tokio::test(start_paused = true)]
async fn a_task_that_is_not_immediate_waits_one_spacing() {
    let start = Instant::now();
    let mut runner = runner(vec![every("ten", 10.0)]);
    let mut probe = Probe::default();
    let ctx = context();

    sleep(secs(5)).await;
    assert!(runner.run_due_reported(&mut probe, &ctx).await.is_empty());
    assert_eq!(runner.next_due(), Some(start + secs(10)));

    sleep(secs(5)).await;
    let reports = runner.run_due_reported(&mut probe, &ctx).await;
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].started, start + secs(10));
    assert_eq!(runner.next_due(), Some(start + secs(20)));
}

#[tokio::test(start_paused = true)]
async fn an_immediate_task_runs_at_once_then_every_spacing() {
    let start = Instant::now();
    let mut runner = runner(vec![every("now", 10.0).immediate()]);
    let mut probe = Probe::default();
    let ctx = context();

    assert_eq!(runner.next_due(), Some(start));
    assert_eq!(runner.run_due_reported(&mut probe, &ctx).await.len(), 1);
    assert_eq!(runner.next_due(), Some(start + secs(10)));

    sleep(secs(5)).await;
    assert!(runner.run_due_reported(&mut probe, &ctx).await.is_empty());
    assert_eq!(runner.next_due(), Some(start + secs(10)));
}

#[tokio::test(start_paused = true)]
async fn an_initial_delay_sets_the_first_run_and_the_phase() {
    let mut harness = harness(vec![every("delayed", 10.0).delayed(secs(3))]);

    harness.advance(secs(25)).await;

    assert_eq!(harness.run_times("delayed"), all_secs(&[3, 13, 23]));
}

#[tokio::test(start_paused = true)]
async fn immediate_wins_over_an_initial_delay() {
    let mut harness = harness(vec![every("both", 10.0).immediate().delayed(secs(3))]);

    harness.advance(secs(15)).await;

    assert_eq!(harness.run_times("both"), all_secs(&[0, 10]));
}

#[tokio::test(start_paused = true)]
async fn spacing_nine_runs_once_every_nine_one_second_steps() {
    let mut runner = runner(vec![every("nine", 9.0)]);
    let mut probe = Probe::default();
    let ctx = context();
    let mut runs = 0;

    for step in 1..=200_u64 {
        sleep(secs(1)).await;
        runs += runner.run_due_reported(&mut probe, &ctx).await.len() as u64;
        assert_eq!(runs, step / 9, "after {step} s");
    }
}

/// The oslo scenario: the service starts at t=340 and is polled at 340, 400,
/// 430 and 490. Two tasks have the default spacing (one always fails), two
/// have 70 s (one immediate), and two more are external.
#[tokio::test(start_paused = true)]
async fn several_tasks_polled_at_irregular_times() {
    let seventy = 10.0 + DEFAULT_SPACING.as_secs_f64();
    let tasks = vec![
        every("doit", 0.0),
        PeriodicTask::new("crashit", Spacing::Seconds(0.0), fails),
        every("ticks", seventy).immediate(),
        every("tocks", seventy),
        every("foo", seventy).external(),
        every("bar", seventy).immediate().external(),
    ];
    let mut harness = PeriodicHarness::new(Probe::default(), tasks, test_conf(&[]));
    let names = ["doit", "crashit", "ticks", "tocks", "foo", "bar"];
    let counts = |h: &PeriodicHarness<Probe>| names.map(|name| h.run_count(name));

    harness.run_due().await;
    assert_eq!(counts(&harness), [0, 0, 1, 0, 0, 1]);

    sleep(secs(60)).await;
    harness.run_due().await;
    assert_eq!(counts(&harness), [1, 1, 1, 0, 0, 1]);
    assert_eq!(harness.failure_count("crashit"), 1);

    sleep(secs(30)).await;
    harness.run_due().await;
    assert_eq!(counts(&harness), [1, 1, 2, 1, 1, 2]);

    sleep(secs(60)).await;
    harness.run_due().await;
    assert_eq!(counts(&harness), [2, 2, 3, 2, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn nearest_slot_keeps_the_phase() {
    let base = Instant::now();
    let at = |seconds: u64| base + secs(seconds);
    // (last slot, spacing) -> the next slot is last + spacing.
    let cases = [(10, 7, 19, 17), (13, 7, 28, 27), (781, 88, 1841, 1837)];

    for (last, spacing, now, expected) in cases {
        let due = at(last + spacing);
        assert_eq!(
            aligned_start(due, secs(spacing), at(now)),
            at(expected),
            "{last},{spacing}"
        );
    }
}

#[test]
fn jitter_is_up_to_five_percent_in_whole_seconds() {
    assert_eq!(jitter_for(secs(200), 1.0), secs(10));
    assert_eq!(jitter_for(secs(200), 0.5), secs(5));
    assert_eq!(jitter_for(secs(200), 0.0), secs(0));
    assert_eq!(jitter_for(secs(100), 0.99), secs(4));
    assert_eq!(jitter_for(secs(19), 0.999), secs(0));
    assert_eq!(jitter_for(secs(88), 0.5), secs(2));
    assert_eq!(jitter_for(secs(200), f64::NAN), secs(0));
}

#[tokio::test(start_paused = true)]
async fn jitter_shifts_each_slot_by_whole_seconds() {
    let mut randoms = [0.0, 0.25, 0.5, 0.99].into_iter().cycle();
    let tasks = vec![every("hundred", 100.0)];
    let mut harness = PeriodicHarness::new(Probe::default(), tasks, test_conf(&[]))
        .with_random(move || randoms.next().unwrap_or(0.0));

    harness.advance(secs(520)).await;

    // First run at 100 (jitter 0), then 100 + 1, + 2, + 4 s apart.
    assert_eq!(
        harness.run_times("hundred"),
        all_secs(&[100, 200, 301, 403, 507])
    );
}

#[tokio::test(start_paused = true)]
async fn real_jitter_stays_within_bounds() {
    let tasks = vec![every("hundred", 100.0), every("short", 19.0)];
    let mut harness = PeriodicHarness::new(Probe::default(), tasks, test_conf(&[]));

    harness.advance(secs(100 * 60)).await;

    let times = harness.run_times("hundred");
    assert!(times.len() >= 57, "{} runs", times.len());
    for gap in times.windows(2).map(|pair| pair[1] - pair[0]) {
        assert!(gap >= secs(100) && gap <= secs(104), "gap {gap:?}");
        assert_eq!(gap.subsec_nanos(), 0, "gap {gap:?}");
    }
    let short = harness.run_times("short");
    assert!(short.windows(2).all(|pair| pair[1] - pair[0] == secs(19)));
}

#[tokio::test(start_paused = true)]
async fn an_overrun_is_warned_once_and_missed_slots_are_skipped() {
    let logs = CapturedLogs::start();
    let tasks = vec![PeriodicTask::new("slow", Spacing::Seconds(10.0), slow)];
    let mut harness = PeriodicHarness::new(
        Probe {
            slow_runs_left: 1,
            ..Probe::default()
        },
        tasks,
        test_conf(&[]),
    )
    .without_jitter();

    harness.advance(secs(62)).await;

    // 10 -> 45 covers the slots 20, 30 and 40: one run at 45 (slot 40), then
    // the phase goes on at 50.
    assert_eq!(harness.run_times("slow"), all_secs(&[10, 45, 50, 60]));
    let runs = harness.runs();
    for pair in runs.windows(2) {
        assert!(
            pair[0].at + pair[0].duration <= pair[1].at,
            "runs overlap: {pair:?}"
        );
    }
    let warnings = logs.lines_with(&["WARN", "task.name=\"slow\"", "outlasted", "25.00 s"]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(logs.lines_with(&["outlasted"]).len(), 1);
}

/// Case B10: a task failing by error and by panic on every run does not stop
/// another task, and keeps being retried at its spacing.
#[tokio::test(start_paused = true)]
async fn a_failing_task_does_not_stop_the_others() {
    let logs = CapturedLogs::start();
    let tasks = vec![
        PeriodicTask::new("a_fails", Spacing::Seconds(1.0), fails_hard),
        every("b_works", 1.0),
    ];
    let mut harness = harness(tasks);

    harness.advance(secs(6)).await;

    assert!(harness.run_count("b_works") >= 5, "{:?}", harness.runs());
    assert_eq!(harness.failure_count("b_works"), 0);
    assert_eq!(harness.run_times("a_fails"), all_secs(&[1, 2, 3, 4, 5, 6]));
    assert_eq!(harness.failure_count("a_fails"), 6);
    let by_error = logs.lines_with(&["ERROR", "task.name=\"a_fails\"", "disk full"]);
    let by_panic = logs.lines_with(&["ERROR", "task.name=\"a_fails\"", "index out of range"]);
    assert_eq!(
        (by_error.len(), by_panic.len()),
        (3, 3),
        "{by_error:?} {by_panic:?}"
    );
    assert_eq!(harness.runner().stats()[0].next_run_in_secs, Some(1.0));
}

#[tokio::test(start_paused = true)]
async fn statistics_tell_runs_failures_and_schedule() {
    let tasks = vec![
        PeriodicTask::new("broken", Spacing::Seconds(5.0), fails),
        every("fine", 7.0),
    ];
    let mut harness = harness(tasks);

    harness.advance(secs(12)).await;

    let stats = harness.runner().stats();
    assert_eq!((stats[0].run_count, stats[0].error_count), (2, 2));
    assert_eq!(stats[0].last_error.as_deref(), Some("database unreachable"));
    assert_eq!(stats[0].last_run_start_secs_ago, Some(2.0));
    assert_eq!(stats[0].next_run_in_secs, Some(3.0));
    assert_eq!((stats[1].run_count, stats[1].error_count), (1, 0));
    assert_eq!(stats[1].last_duration_secs, Some(0.0));
    let json = serde_json::to_value(&stats).expect("statistics serialise");
    assert_eq!(json[0]["name"], "broken");
    assert_eq!(json[0]["spacing_secs"], 5.0);
    assert_eq!(json[1]["next_run_in_secs"], 2.0);
    assert!(json[0].get("next_run").is_none());
}

#[tokio::test(start_paused = true)]
async fn external_tasks_follow_the_option() {
    let logs = CapturedLogs::start();
    let tasks = || vec![every("local", 10.0), every("shared", 10.0).external()];
    let refused = test_conf(&[("DEFAULT", RUN_EXTERNAL_OPTION, "false")]);
    let mut off = PeriodicHarness::new(Probe::default(), tasks(), refused).without_jitter();
    off.advance(secs(20)).await;
    let mut on = harness(tasks());
    on.advance(secs(20)).await;

    assert_eq!((off.run_count("local"), off.run_count("shared")), (2, 0));
    assert_eq!((on.run_count("local"), on.run_count("shared")), (2, 2));
    assert!(!off.runner_mut().run_now("shared"));
    assert_eq!(off.runner().stats()[1].next_run, None);
    assert_eq!(
        logs.lines_with(&["INFO", "shared", RUN_EXTERNAL_OPTION])
            .len(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn external_tasks_run_when_the_option_is_not_declared() {
    let tasks = vec![every("shared", 10.0).external()];
    let conf = crate::testkit::conf_with(std::sync::Arc::default(), &[]);
    let mut harness = PeriodicHarness::new(Probe::default(), tasks, conf).without_jitter();

    harness.advance(secs(10)).await;

    assert_eq!(harness.run_count("shared"), 1);
}

fn polled() -> PeriodicTask<Probe> {
    PeriodicTask::new(
        "poll",
        Spacing::Option {
            group: "tasks",
            name: "poll_spacing",
        },
        noop,
    )
}

#[tokio::test(start_paused = true)]
async fn a_spacing_option_is_read_again_on_reconfigure() {
    let mut harness = harness(vec![polled()]);

    harness.advance(secs(25)).await;
    harness.reconfigure(test_conf(&[("tasks", "poll_spacing", "30")]));
    harness.advance_to(secs(85)).await;

    // Slots 10 and 20 at 10 s; the next slot is 30 s after 20.
    assert_eq!(harness.run_times("poll"), all_secs(&[10, 20, 50, 80]));
}

#[tokio::test(start_paused = true)]
async fn a_negative_spacing_option_pauses_the_task_until_it_is_positive() {
    let mut harness = harness(vec![polled()]);
    harness.advance(secs(10)).await;

    harness.reconfigure(test_conf(&[("tasks", "poll_spacing", "-1")]));
    assert_eq!(harness.runner().next_due(), None);
    harness.advance_to(secs(40)).await;
    harness.reconfigure(test_conf(&[("tasks", "poll_spacing", "0")]));
    harness.advance_to(secs(160)).await;

    assert_eq!(harness.run_times("poll"), all_secs(&[10, 100, 160]));
}

#[tokio::test(start_paused = true)]
async fn a_shorter_spacing_makes_an_overdue_task_run_at_once() {
    let mut harness = harness(vec![polled()]);
    harness.advance(secs(18)).await;

    harness.reconfigure(test_conf(&[("tasks", "poll_spacing", "3")]));
    harness.advance_to(secs(20)).await;

    // Slot 10 + 3 = 13 is past at 18: the task runs at once, on slot 16.
    assert_eq!(harness.run_times("poll"), all_secs(&[10, 18, 19]));
}

#[tokio::test(start_paused = true)]
async fn unusable_spacing_options_are_errors_naming_the_option() {
    let logs = CapturedLogs::start();
    let option = |name| Spacing::Option {
        group: "tasks",
        name,
    };
    let tasks = vec![
        PeriodicTask::new("word", option("word_spacing"), noop),
        PeriodicTask::new("unset", option("unset_spacing"), noop),
        PeriodicTask::new("ghost", option("nowhere"), noop),
    ];
    let mut harness = harness(tasks);

    assert_eq!(harness.runner().next_due(), None);
    let word = logs.lines_with(&["ERROR", "word", "[tasks] word_spacing", "expected a number"]);
    assert_eq!(word.len(), 1, "{word:?}");
    assert_eq!(
        logs.lines_with(&["ERROR", "[tasks] unset_spacing", "no value"])
            .len(),
        1
    );
    assert_eq!(
        logs.lines_with(&["ERROR", "[tasks] nowhere", "not declared"])
            .len(),
        1
    );

    harness.reconfigure(test_conf(&[("tasks", "unset_spacing", "5")]));
    harness.advance(secs(5)).await;
    assert_eq!(harness.run_times("unset"), all_secs(&[5]));
}

#[tokio::test(start_paused = true)]
async fn an_unusable_value_on_reload_keeps_the_old_spacing() {
    let logs = CapturedLogs::start();
    let spacing = Spacing::Option {
        group: "tasks",
        name: "unset_spacing",
    };
    let task = PeriodicTask::new("unset", spacing, noop);
    let conf = test_conf(&[("tasks", "unset_spacing", "4")]);
    let mut harness = PeriodicHarness::new(Probe::default(), vec![task], conf).without_jitter();
    harness.advance(secs(4)).await;

    harness.reconfigure(test_conf(&[]));
    harness.advance_to(secs(12)).await;

    assert_eq!(harness.run_times("unset"), all_secs(&[4, 8, 12]));
    assert_eq!(
        logs.lines_with(&["ERROR", "keeps its spacing", "unset_spacing"])
            .len(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn run_now_makes_a_task_due_and_restarts_its_phase() {
    let mut harness = harness(vec![every("hourly", 3600.0)]);
    harness.advance(secs(10)).await;

    assert!(harness.runner_mut().run_now("hourly"));
    assert!(!harness.runner_mut().run_now("nobody"));
    harness.advance_to(secs(4000)).await;

    assert_eq!(harness.run_times("hourly"), all_secs(&[10, 3610]));
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_shutdown_token_ends_the_pass() {
    let mut runner = runner(vec![
        every("one", 1.0).immediate(),
        every("two", 1.0).immediate(),
    ]);
    let ctx = context();
    ctx.shutdown_token().cancel();

    let reports = runner.run_due_reported(&mut Probe::default(), &ctx).await;

    assert!(reports.is_empty());
}

#[tokio::test(start_paused = true)]
async fn run_until_cancelled_runs_tasks_until_shutdown() {
    let start = Instant::now();
    let mut runner = runner(vec![every("ten", 10.0)]);
    let ctx = context();
    let token = ctx.shutdown_token().clone();
    tokio::spawn(async move {
        sleep(secs(35)).await;
        token.cancel();
    });

    runner
        .run_until_cancelled(&mut Probe::default(), &ctx)
        .await;

    assert_eq!(start.elapsed(), secs(35));
    assert_eq!(runner.stats()[0].run_count, 3);
}

/// The worker loop may run on a multi-threaded runtime: the runner and the
/// future of a pass must be `Send`.
#[test]
fn the_runner_and_its_passes_can_cross_threads() {
    fn assert_send<T: Send>(_: &T) {}
    let mut runner = runner(vec![every("one", 1.0)]);
    let mut probe = Probe::default();
    let ctx = context();
    assert_send(&runner);
    let pass = runner.run_due(&mut probe, &ctx);
    assert_send(&pass);
}

#[tokio::test(start_paused = true)]
async fn spacings_below_the_timer_resolution_and_not_finite_are_errors() {
    let logs = CapturedLogs::start();
    let runner = runner(vec![every("tiny", 0.0001), every("endless", f64::INFINITY)]);

    assert!(runner.task_names().is_empty());
    assert_eq!(
        logs.lines_with(&["ERROR", "tiny", "below the 1 ms"]).len(),
        1
    );
    assert_eq!(
        logs.lines_with(&["ERROR", "endless", "not a finite number"])
            .len(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn the_harness_stops_running_tasks_after_shutdown() {
    let mut harness = harness(vec![every("one", 1.0)]);
    harness.advance(secs(2)).await;

    harness.context().shutdown_token().cancel();
    harness.advance(secs(5)).await;

    assert_eq!(harness.run_count("one"), 2);
    assert_eq!(harness.elapsed(), secs(7));
}
