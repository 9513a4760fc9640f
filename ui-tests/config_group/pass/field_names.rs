//! Fields named like the expansion's own variables do not disturb it.
use service_runtime::config_group;
use service_runtime::testkit;

#[config_group(name = "names")]
pub struct NameOpts {
    #[opt(default = 1)]
    pub values: u32,

    #[opt(default = 2)]
    pub errors: u32,

    #[opt(default = 3)]
    pub conf: u32,

    #[opt(default = 4)]
    pub name: u32,

    #[opt(default = 5)]
    pub default: u32,
}

fn main() {
    let conf = testkit::conf(&[("names", "errors", "20")]);
    let names = conf.group::<NameOpts>();
    assert_eq!(
        (names.values, names.errors, names.conf, names.name, names.default),
        (1, 20, 3, 4, 5)
    );
}
