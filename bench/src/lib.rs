//! Shared pieces of the benchmark: the lateness log that periodic tasks
//! fill from inside their runs, the process CPU clock, the statistics the
//! driver reports, and the `/ping` application both HTTP servers run.
//!
//! The crate builds three programs: `service-bench`, the driver that runs
//! everything and writes the table; `bench-service`, a service built on
//! `service-runtime`; and `bench-baseline`, the hand-written hyper server and
//! tokio interval loop the framework is compared with.

pub mod cpu;
pub mod lateness;
pub mod ping;
pub mod stats;
