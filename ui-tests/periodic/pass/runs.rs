//! The generated task functions call the methods: run in virtual time with
//! the test kit, a task's errors are counted and its runs happen.
use std::time::Duration;

use service_runtime::prelude::*;
use service_runtime::testkit::PeriodicHarness;

#[derive(Default)]
pub struct Counter {
    ticks: u32,
}

#[service(name = "counter")]
impl Counter {
    #[periodic(spacing = 10, run_immediately)]
    async fn tick(&mut self, ctx: &Context) {
        let _ = ctx.worker_id();
        self.ticks += 1;
    }

    #[periodic(spacing = 10, run_immediately)]
    async fn fail(&mut self) -> Result<(), String> {
        Err("always".to_string())
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let conf = service_runtime::testkit::conf(&[]);
        let mut harness = PeriodicHarness::for_service(Counter::default(), conf).without_jitter();
        harness.advance(Duration::from_secs(25)).await;
        assert_eq!(harness.service().ticks, 3);
        assert_eq!(harness.failure_count("fail"), 3);
    });
}
