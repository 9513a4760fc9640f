//! The `transport_url` option: which brokers, which credentials, which
//! virtual host.

use std::fmt;

use super::error::TransportError;

/// The port RabbitMQ listens on when a URL names none.
const DEFAULT_PORT: u16 = 5672;

/// One broker of a transport URL.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerHost {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// User name to log in with.
    pub username: String,
    /// Password to log in with.
    pub password: String,
}

impl fmt::Debug for BrokerHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerHost")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &crate::config::MASK)
            .finish()
    }
}

/// A parsed `transport_url`, as oslo.messaging reads it:
/// `rabbit://[user:pass@]host[:port][,[user:pass@]host2[:port2]]/[vhost]`.
///
/// A host without credentials logs in as `guest:guest`; an empty or missing
/// virtual host means `/`. Query parameters are refused, since none changes
/// anything here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportUrl {
    /// The brokers, in the order written.
    pub hosts: Vec<BrokerHost>,
    /// The virtual host.
    pub virtual_host: String,
}

impl TransportUrl {
    /// Parses a transport URL.
    ///
    /// # Errors
    ///
    /// A scheme other than `rabbit`, a bad port, a bad percent escape or a
    /// query string, each named with what was expected.
    pub fn parse(text: &str) -> Result<TransportUrl, TransportError> {
        let invalid = |reason: String| TransportError::InvalidUrl { reason };
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(invalid("expected `rabbit://...`, found no `://`".into()));
        };
        // `kombu` is oslo.messaging's old alias of `rabbit`; its `amqp`
        // driver speaks AMQP 1.0, which RabbitMQ's native port does not.
        if scheme != "rabbit" && scheme != "kombu" {
            return Err(invalid(format!(
                "expected the scheme `rabbit`, found `{scheme}`"
            )));
        }
        if rest.contains('?') {
            return Err(invalid(
                "expected no query string: set options in [oslo_messaging_rabbit]".into(),
            ));
        }
        let (netloc, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], Some(&rest[slash + 1..])),
            None => (rest, None),
        };

        let mut hosts = Vec::new();
        for entry in netloc.split(',').filter(|entry| !entry.is_empty()) {
            hosts.push(parse_host(entry).map_err(invalid)?);
        }
        if hosts.is_empty() {
            hosts.push(BrokerHost {
                host: "localhost".into(),
                port: DEFAULT_PORT,
                username: "guest".into(),
                password: "guest".into(),
            });
        }

        let virtual_host = match path.map(percent_decode).transpose().map_err(invalid)? {
            Some(vhost) if !vhost.is_empty() => vhost,
            _ => "/".to_string(),
        };
        Ok(TransportUrl {
            hosts,
            virtual_host,
        })
    }
}

/// `[user[:pass]@]host[:port]`, with `[v6]` brackets allowed.
fn parse_host(entry: &str) -> Result<BrokerHost, String> {
    let (credentials, address) = match entry.rsplit_once('@') {
        Some((credentials, address)) => (Some(credentials), address),
        None => (None, entry),
    };
    let (username, password) = match credentials {
        Some(credentials) => match credentials.split_once(':') {
            Some((user, pass)) => (percent_decode(user)?, percent_decode(pass)?),
            None => (percent_decode(credentials)?, String::new()),
        },
        None => ("guest".to_string(), "guest".to_string()),
    };
    let (host, port) = split_host_port(address)?;
    if host.is_empty() {
        return Err(format!("expected a host name in `{address}`, found none"));
    }
    Ok(BrokerHost {
        host,
        port,
        username,
        password,
    })
}

fn split_host_port(address: &str) -> Result<(String, u16), String> {
    let parse_port = |port: &str| {
        port.parse::<u16>()
            .ok()
            .filter(|port| *port > 0)
            .ok_or_else(|| format!("expected a port from 1 to 65535, found `{port}`"))
    };
    if let Some(bracketed) = address.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return Err(format!(
                "expected `]` closing the IPv6 address in `{address}`"
            ));
        };
        let port = match after.strip_prefix(':') {
            Some(port) => parse_port(port)?,
            None if after.is_empty() => DEFAULT_PORT,
            None => return Err(format!("expected `:port` after `]`, found `{after}`")),
        };
        return Ok((host.to_string(), port));
    }
    match address.rsplit_once(':') {
        Some((host, port)) => Ok((host.to_string(), parse_port(port)?)),
        None => Ok((address.to_string(), DEFAULT_PORT)),
    }
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = bytes
                .get(index + 1..index + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| format!("expected two hex digits after `%` in `{text}`"))?;
            decoded.push(hex);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).map_err(|_| format!("expected UTF-8 after decoding `{text}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(host: &str, port: u16, username: &str, password: &str) -> BrokerHost {
        BrokerHost {
            host: host.into(),
            port,
            username: username.into(),
            password: password.into(),
        }
    }

    #[test]
    fn bare_scheme_means_local_guest() {
        let url = TransportUrl::parse("rabbit://").unwrap();
        assert_eq!(url.hosts, vec![host("localhost", 5672, "guest", "guest")]);
        assert_eq!(url.virtual_host, "/");
    }

    #[test]
    fn several_hosts_with_credentials_and_vhost() {
        let url = TransportUrl::parse("rabbit://a:p%40ss@h1:5673,b:q@h2/nova").unwrap();
        assert_eq!(
            url.hosts,
            vec![host("h1", 5673, "a", "p@ss"), host("h2", 5672, "b", "q")]
        );
        assert_eq!(url.virtual_host, "nova");
    }

    #[test]
    fn slash_vhost_spellings() {
        for text in [
            "rabbit://h/",
            "rabbit://h//",
            "rabbit://h/%2F",
            "rabbit://h",
        ] {
            assert_eq!(
                TransportUrl::parse(text).unwrap().virtual_host,
                "/",
                "{text}"
            );
        }
    }

    #[test]
    fn ipv6_host() {
        let url = TransportUrl::parse("rabbit://u:p@[::1]:5674/").unwrap();
        assert_eq!(url.hosts, vec![host("::1", 5674, "u", "p")]);
    }

    #[test]
    fn bad_input_names_the_problem() {
        let message = |text: &str| TransportUrl::parse(text).unwrap_err().to_string();
        assert!(message("http://h/").contains("expected the scheme `rabbit`"));
        assert!(message("rabbit://h:99999/").contains("port from 1 to 65535"));
        assert!(message("rabbit://h/?ssl=1").contains("expected no query string"));
        assert!(message("localhost").contains("rabbit://"));
        assert!(message("rabbit://u:%zz@h/").contains("two hex digits"));
    }

    #[test]
    fn debug_hides_the_password() {
        let url = TransportUrl::parse("rabbit://u:topsecret@h/").unwrap();
        assert!(!format!("{url:?}").contains("topsecret"));
    }
}
