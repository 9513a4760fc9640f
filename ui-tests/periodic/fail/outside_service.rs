use service_runtime::prelude::*;

pub struct Reporter;

impl Reporter {
    #[periodic(spacing = 60)]
    async fn report(&mut self) {}
}

fn main() {}
