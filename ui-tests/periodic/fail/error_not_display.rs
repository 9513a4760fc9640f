use service_runtime::prelude::*;

#[derive(Default)]
pub struct Reporter;

/// An error that cannot be logged: it is not `Display`.
pub struct Problem;

#[service(name = "reporter")]
impl Reporter {
    #[periodic(spacing = 60)]
    async fn report(&mut self) -> Result<(), Problem> {
        Ok(())
    }
}

fn main() {}
