//! Every hook, with each accepted receiver and return type.
use std::fmt;

use service_runtime::prelude::*;

pub struct Worker {
    events: Vec<&'static str>,
}

/// An error type of the service's own.
#[derive(Debug)]
pub struct WorkerError;

impl fmt::Display for WorkerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("worker error")
    }
}

impl std::error::Error for WorkerError {}

#[service(name = "worker")]
impl Worker {
    async fn new(_conf: &Conf) -> Result<Self, WorkerError> {
        Ok(Worker { events: Vec::new() })
    }

    async fn start(&self, _ctx: &Context) {}

    async fn stop(&mut self, graceful: bool) {
        self.events.push(if graceful { "graceful" } else { "fast" });
    }

    async fn reset(&mut self, _conf: &Conf) {
        self.events.push("reset");
    }

    /// Not a hook: left alone.
    pub fn events(&self) -> &[&'static str] {
        &self.events
    }
}

/// `new` may also return `Self`.
pub struct Plain;

#[service]
impl Plain {
    async fn new(_conf: &Conf) -> Self {
        Plain
    }

    async fn start(&mut self, _ctx: &Context) -> anyhow::Result<()> {
        Ok(())
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let conf = service_runtime::testkit::conf(&[]);
    runtime.block_on(async {
        let mut worker = <Worker as Service>::new(&conf).await.unwrap();
        Service::stop(&mut worker, true).await;
        Service::reset(&mut worker, &conf).await;
        assert_eq!(worker.events(), ["graceful", "reset"]);
        assert!(<Plain as Service>::new(&conf).await.is_ok());
    });
    assert_eq!(<Plain as Service>::NAME, "plain");
}
