//! User items named like prelude types and crates do not break the
//! expansion, which names everything by absolute path.
#![allow(dead_code, non_camel_case_types)]

mod shadowed {
    use ::service_runtime::prelude::*;

    struct Option;
    struct Some;
    struct None;
    struct Result;
    struct Ok;
    struct Err;
    struct Vec;
    struct String;
    struct Box;
    struct Send;
    struct Future;
    struct Default;
    struct Duration;
    struct bool;
    struct str;
    struct u32;
    mod std {}
    mod core {}
    mod anyhow {}
    mod service_runtime {}
    macro_rules! vec {
        ($($t:tt)*) => {
            compile_error!("the user's `vec!` was called")
        };
    }
    macro_rules! env {
        ($($t:tt)*) => {
            compile_error!("the user's `env!` was called")
        };
    }

    pub struct Worker;

    #[service(name = "worker", workers = 2)]
    impl Worker {
        async fn new(_conf: &Conf) -> ::core::result::Result<Self, ::std::io::Error> {
            ::core::result::Result::Ok(Worker)
        }

        async fn start(&mut self, _ctx: &Context) {}

        #[periodic(spacing = 1.5, initial_delay = 2)]
        async fn tick(&mut self) {}
    }

    mod entry {
        ::service_runtime::main!(super::Worker);
    }
}

fn main() {
    use service_runtime::Service;
    assert_eq!(shadowed::Worker::periodic_tasks().len(), 1);
}
