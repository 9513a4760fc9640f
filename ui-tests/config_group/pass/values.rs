//! The expansion builds the struct from the configuration: values given,
//! defaults, absent optional values and every occurrence of a multi option.
use std::path::PathBuf;
use std::time::Duration;

use service_runtime::config_group;
use service_runtime::testkit;

/// The default timeout, in seconds.
const DEFAULT_TIMEOUT: u32 = 30;

#[config_group(name = "client")]
pub struct ClientOpts {
    #[opt(default = DEFAULT_TIMEOUT)]
    pub timeout: u32,

    #[opt(default = -1)]
    pub retries: i64,

    #[opt(default = 0.5)]
    pub backoff: f64,

    #[opt(default = Duration::from_millis(1500))]
    pub deadline: Duration,

    #[opt(default = "/tmp/client")]
    pub cache: PathBuf,

    #[opt(default = ["a", "b"])]
    pub zones: Vec<String>,

    #[opt(default = vec![80, 443])]
    pub ports: Vec<u16>,

    #[opt(multi)]
    pub peers: Vec<String>,

    pub proxy: Option<String>,

    pub region: std::option::Option<String>,
}

fn main() {
    let conf = testkit::conf(&[("client", "timeout", "5"), ("client", "region", "eu")]);
    let client = conf.group::<ClientOpts>();
    assert_eq!(client.timeout, 5);
    assert_eq!(client.retries, -1);
    assert_eq!(client.backoff, 0.5);
    assert_eq!(client.deadline, Duration::from_millis(1500));
    assert_eq!(client.cache, PathBuf::from("/tmp/client"));
    assert_eq!(client.zones, ["a", "b"]);
    assert_eq!(client.ports, [80, 443]);
    assert!(client.peers.is_empty());
    assert_eq!(client.proxy, None);
    assert_eq!(client.region.as_deref(), Some("eu"));
}
