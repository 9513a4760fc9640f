//! `workers` as a number and as an option.
use service_runtime::prelude::*;

#[config_group(name = "api")]
pub struct ApiOpts {
    #[opt(default = 4, min = 1)]
    pub workers: u32,
}

#[derive(Default)]
pub struct Fixed;

#[service(name = "fixed", workers = 3)]
impl Fixed {}

#[derive(Default)]
pub struct FromOption;

#[service(name = "from-option", workers = api.workers)]
impl FromOption {}

#[derive(Default)]
pub struct Single;

#[service]
impl Single {}

fn main() {
    let conf = service_runtime::testkit::conf(&[("api", "workers", "6")]);
    assert_eq!(Fixed::workers(&conf), Ok(3));
    assert_eq!(Fixed::workers_option(), None);
    assert_eq!(FromOption::workers(&conf), Ok(6));
    assert_eq!(FromOption::workers_option(), Some(("api", "workers")));
    assert_eq!(Single::workers(&conf), Ok(1));
}
