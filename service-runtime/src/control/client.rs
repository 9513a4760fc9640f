//! `<service> ctl COMMAND`: sends one command to the running service and
//! prints its answer.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::protocol::{self, Command};
use crate::config::{self, ConfigGroup, GroupSpec, LoadArgs, OptionSpec, Port, Registry};
use crate::exit;
use crate::options::ServiceOpts;

/// How much longer than the server's own limit the client waits for the
/// answer, so that the server's error arrives first.
const READ_MARGIN: Duration = Duration::from_secs(10);

/// The exit code when the command failed or the service could not be
/// reached.
const COMMAND_FAILED: i32 = 1;

/// Where `ctl` finds the service: the values of `control_socket` and
/// `control_tcp_port`.
#[derive(Debug, Default)]
pub(crate) struct ControlAddress {
    control_socket: Option<PathBuf>,
    control_tcp_port: Option<u16>,
}

impl ControlAddress {
    /// The address in a configuration that loaded.
    pub(crate) fn of(opts: &ServiceOpts) -> ControlAddress {
        ControlAddress {
            control_socket: opts.control_socket.clone(),
            control_tcp_port: opts.control_tcp_port.map(Port::get),
        }
    }

    /// The address read from the same sources as the whole configuration,
    /// those two options alone: when another option has a bad value, `ctl`
    /// can still reach the running service, which is when an operator
    /// most needs `status`, and `reload` tells what the service makes of
    /// the file. `None` when the two options themselves cannot be read.
    pub(crate) fn despite_errors(load: &LoadArgs) -> Option<ControlAddress> {
        let group = GroupSpec {
            name: ServiceOpts::GROUP,
            type_id: std::any::TypeId::of::<ControlAddress>,
            options: control_options,
            build: |_| Ok(Box::new(())),
        };
        let registry = Arc::new(Registry::from_groups([group]).ok()?);
        let conf = config::load(&registry, load).ok()?.conf;
        let socket = conf.value(ServiceOpts::GROUP, "control_socket");
        let port = conf.value(ServiceOpts::GROUP, "control_tcp_port");
        Some(ControlAddress {
            control_socket: socket.and_then(|v| v.as_str().map(PathBuf::from)),
            control_tcp_port: port
                .and_then(|v| v.as_u64())
                .and_then(|port| u16::try_from(port).ok()),
        })
    }
}

/// The declarations of `control_socket` and `control_tcp_port`, as the
/// runtime's options declare them.
fn control_options() -> Vec<OptionSpec> {
    ServiceOpts::options()
        .into_iter()
        .filter(|option| matches!(option.name, "control_socket" | "control_tcp_port"))
        .collect()
}

/// Runs the client: prints the answer's result as indented JSON on
/// standard output and returns 0, or prints the error on standard error
/// and returns 1 (2 for a command that is not valid).
pub(crate) fn run(service: &str, address: &ControlAddress, words: &[String]) -> i32 {
    let line = words.join(" ");
    let command = match Command::parse(&line) {
        Ok(command) => command,
        Err(error) => {
            eprintln!("error: {error}");
            return exit::USAGE;
        }
    };
    let read_timeout = command.answer_timeout() + READ_MARGIN;
    match exchange(service, address, &line, read_timeout) {
        Ok(Ok(result)) => {
            let text = serde_json::to_string_pretty(&result).unwrap_or_else(|_| result.to_string());
            println!("{text}");
            exit::OK
        }
        Ok(Err(error)) => {
            eprintln!("error: {error}");
            COMMAND_FAILED
        }
        Err(error) => {
            eprintln!("error: {error}");
            COMMAND_FAILED
        }
    }
}

fn exchange(
    service: &str,
    opts: &ControlAddress,
    line: &str,
    read_timeout: Duration,
) -> Result<super::Answer, String> {
    if let Some(path) = &opts.control_socket {
        let stream = UnixStream::connect(path).map_err(|error| {
            format!(
                "cannot connect to the control socket {}: {error}; is {service} running, and \
                 do you run this command as its user?",
                path.display()
            )
        })?;
        stream.set_read_timeout(Some(read_timeout)).ok();
        return talk(stream, line, read_timeout);
    }
    if let Some(port) = opts.control_tcp_port {
        let address = (Ipv4Addr::LOCALHOST, port);
        let stream = TcpStream::connect(address).map_err(|error| {
            format!(
                "cannot connect to the control port 127.0.0.1:{port}: {error}; is {service} \
                 running?"
            )
        })?;
        stream.set_read_timeout(Some(read_timeout)).ok();
        return talk(stream, line, read_timeout);
    }
    Err(format!(
        "the control socket of {service} is off: set `control_socket` in the [DEFAULT] group \
         of its configuration, and pass the same --config-file to `ctl`"
    ))
}

fn talk<S: Read + Write>(
    mut stream: S,
    line: &str,
    read_timeout: Duration,
) -> Result<super::Answer, String> {
    let sent = stream
        .write_all(format!("{line}\n").as_bytes())
        .and_then(|()| stream.flush());
    let mut answer = String::new();
    let read = BufReader::new(stream).read_line(&mut answer);
    if let Err(error) = sent {
        // A service that refuses the connection answers and closes it at
        // once, possibly before the command arrives: its reason is still
        // there to read, and says more than the failed write.
        return match read {
            Ok(length) if length > 0 => protocol::decode(answer.trim_end()),
            _ => Err(format!("cannot send the command: {error}")),
        };
    }
    match read {
        Ok(0) => Err("the service closed the connection without answering".to_string()),
        Ok(_) => protocol::decode(answer.trim_end()),
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
            Err(format!("no answer within {} s", read_timeout.as_secs()))
        }
        Err(error) => Err(format!("cannot read the answer: {error}")),
    }
}
