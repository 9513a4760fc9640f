//! The options a service's expansion names are checked against the
//! program's declarations when the configuration is loaded: an undeclared
//! option or one of the wrong kind compiles (the macros cannot see other
//! groups) and is reported by `option_reference_errors` as a mistake in the
//! program.
use service_runtime::config::Registry;
use service_runtime::prelude::*;
use service_runtime::service::option_reference_errors;

#[config_group(name = "inventory")]
pub struct InventoryOpts {
    #[opt(default = "secret")]
    pub pw: String,
    #[opt(default = 4)]
    pub workers: u32,
    #[opt(default = 2.5)]
    pub interval: f64,
    #[opt(default = true)]
    pub audit: bool,
}

#[derive(Default)]
pub struct Broken;

#[service(name = "broken", workers = inventory.nosuch)]
impl Broken {
    #[periodic(spacing = inventory.pw)]
    async fn c(&mut self) {}

    #[periodic(spacing = inventory.interval)]
    async fn fine(&mut self) {}

    #[periodic(spacing = inventory.audit)]
    async fn listed(&mut self) {}
}

#[derive(Default)]
pub struct WrongWorkers;

#[service(name = "wrong-workers", workers = inventory.interval)]
impl WrongWorkers {}

#[derive(Default)]
pub struct Sound;

#[service(name = "sound", workers = inventory.workers)]
impl Sound {
    #[periodic(spacing = inventory.interval)]
    async fn fine(&mut self) {}
}

fn main() {
    let registry = Registry::from_program().expect("the declarations are valid");
    let program = "This is a mistake in the program, not in the configuration: \
                   the program must be corrected and built again";

    let errors: Vec<String> = option_reference_errors::<Broken>(&registry)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        [
            format!(
                "the service `broken` takes its worker count from option [inventory] nosuch, \
                 which no #[config_group] declares. {program}"
            ),
            format!(
                "the periodic task `c` of the service `broken` takes its spacing from \
                 [inventory] pw, a string option; spacing needs an integer, float or \
                 duration option. {program}"
            ),
            format!(
                "the periodic task `listed` of the service `broken` takes its spacing from \
                 [inventory] audit, a boolean option; spacing needs an integer, float or \
                 duration option. {program}"
            ),
        ]
    );

    let errors = option_reference_errors::<WrongWorkers>(&registry);
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].message,
        format!(
            "the service `wrong-workers` takes its worker count from [inventory] interval, \
             a floating point option; the worker count needs an integer option. {program}"
        )
    );

    assert!(option_reference_errors::<Sound>(&registry).is_empty());
}
