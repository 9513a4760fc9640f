use service_runtime::prelude::*;

#[derive(Default)]
pub struct Reporter;

#[service(name = "reporter")]
impl Reporter {
    #[periodic(interval = 60)]
    async fn report(&mut self) {}
}

fn main() {}
