use service_runtime::prelude::*;

#[derive(Default)]
pub struct Reporter;

#[service(name = "reporter")]
impl Reporter {
    #[periodic(spacing = 60)]
    async fn report(&mut self) {}

    #[periodic(spacing = 30, name = "report")]
    async fn report_again(&mut self) {}
}

fn main() {}
