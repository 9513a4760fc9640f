use service_runtime::prelude::*;

#[derive(Default)]
pub struct Reporter;

#[service(name = "reporter")]
impl Reporter {
    #[periodic(spacing = 60)]
    async fn report(&mut self) -> u32 {
        0
    }
}

fn main() {}
