use service_runtime::prelude::*;

#[derive(Default)]
pub struct Reporter {
    reports: u64,
}

#[service(name = "reporter")]
impl Reporter {
    #[periodic(spacing = 60, run_immediately)]
    async fn report(&mut self) -> anyhow::Result<()> {
        self.reports += 1;
        Ok(())
    }

    #[periodic(spacing = 10, initial_delay = 5)]
    async fn tick(&mut self, _ctx: &Context) {}
}

fn main() {}
