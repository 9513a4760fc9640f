//! Every key of `#[periodic]`, checked against the tasks the expansion
//! declares.
use std::time::Duration;

use service_runtime::periodic::Spacing;
use service_runtime::prelude::*;

#[config_group(name = "reporter")]
pub struct ReporterOpts {
    #[opt(default = 30.0)]
    pub interval: f64,
}

#[derive(Default)]
pub struct Reporter {
    reports: u64,
}

#[service(name = "reporter")]
impl Reporter {
    /// No arguments: every 60 s, first one spacing after start.
    #[periodic]
    async fn plain(&mut self) {}

    #[periodic(spacing = 60, run_immediately)]
    async fn report(&mut self) -> anyhow::Result<()> {
        self.reports += 1;
        Ok(())
    }

    #[periodic(spacing = 0.5, initial_delay = 5, name = "quick_tick")]
    async fn tick(&mut self, _ctx: &Context) -> Result<(), String> {
        Ok(())
    }

    #[periodic(spacing = reporter.interval, external_process_ok)]
    async fn from_option(&self) {}

    #[periodic(spacing = 10, enabled = false)]
    async fn switched_off(&mut self) {}

    /// oslo.service's way to turn a task off: a negative spacing.
    #[periodic(spacing = -1)]
    async fn never(&mut self) {}

    #[service_runtime::periodic(spacing = 0)]
    async fn by_path(&mut self) {}
}

fn main() {
    let tasks = Reporter::periodic_tasks();
    let names: Vec<&str> = tasks.iter().map(|task| task.name).collect();
    assert_eq!(
        names,
        ["plain", "report", "quick_tick", "from_option", "switched_off", "never", "by_path"]
    );

    assert_eq!(tasks[0].spacing, Spacing::Seconds(0.0));
    assert!(!tasks[0].run_immediately && tasks[0].enabled);
    assert_eq!(tasks[0].initial_delay, None);

    assert_eq!(tasks[1].spacing, Spacing::Seconds(60.0));
    assert!(tasks[1].run_immediately);

    assert_eq!(tasks[2].spacing, Spacing::Seconds(0.5));
    assert_eq!(tasks[2].initial_delay, Some(Duration::from_secs(5)));

    let option = Spacing::Option {
        group: "reporter",
        name: "interval",
    };
    assert_eq!(tasks[3].spacing, option);
    assert!(tasks[3].external_process_ok);

    assert!(!tasks[4].enabled);
    assert_eq!(tasks[5].spacing, Spacing::Seconds(-1.0));
}
