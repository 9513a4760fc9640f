//! `fn listeners(conf: &Conf) -> Vec<Listen>` in the impl block becomes the
//! service's `Service::listeners`, read from its options; without it, the
//! service declares no socket.
use service_runtime::listen::ListenAddress;
use service_runtime::prelude::*;

#[config_group(name = "api")]
pub struct ApiOpts {
    #[opt(default = "127.0.0.1")]
    pub host: String,

    #[opt(default = 8080)]
    pub port: u16,
}

#[derive(Default)]
pub struct Api;

#[service(name = "api")]
impl Api {
    fn listeners(conf: &Conf) -> Vec<Listen> {
        let api = conf.group::<ApiOpts>();
        vec![
            Listen::tcp("public", api.host.clone(), api.port),
            Listen::unix("admin", "/run/api/admin.sock", Some(0o600)),
        ]
    }

    async fn start(&mut self, ctx: &Context) -> anyhow::Result<()> {
        let _ = ctx.listener("public");
        Ok(())
    }
}

#[derive(Default)]
pub struct Quiet;

#[service]
impl Quiet {}

fn main() {
    let conf = service_runtime::testkit::conf(&[("api", "port", "9000")]);
    let listeners = <Api as Service>::listeners(&conf);
    let names: Vec<&str> = listeners.iter().map(|listen| listen.name).collect();
    assert_eq!(names, ["public", "admin"]);
    let public = ListenAddress::Tcp {
        host: "127.0.0.1".to_string(),
        port: 9000,
    };
    assert_eq!(listeners[0].address, public);
    assert!(<Quiet as Service>::listeners(&conf).is_empty());
}
