//! Operating a running service: the control socket and its client, the
//! SIGUSR2 report, and logging across rotation and reload.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use integration_tests::{PATIENCE, Running, example, is_running, probe_http as http, probe_port};
use serde_json::Value;

/// A probe started with a configuration file in its own directory, which
/// is also its working directory: `@DIR@` in the configuration stands for
/// it, and relative paths are taken from it.
struct Probe {
    service: Running,
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Probe {
    fn start(config: &str, extra: &[&str]) -> Probe {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config_path = dir.path().join("probe.conf");
        let text = config.replace("@DIR@", dir.path().to_str().unwrap());
        std::fs::write(&config_path, text).unwrap();
        let mut args = vec!["--config-file", config_path.to_str().unwrap()];
        args.extend_from_slice(extra);
        let service = Running::start_in(&example("probe"), &args, &[], Some(dir.path()));
        Probe {
            service,
            dir,
            config: config_path,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn rewrite_config(&self, config: &str) {
        let text = config.replace("@DIR@", self.dir.path().to_str().unwrap());
        std::fs::write(&self.config, text).unwrap();
    }

    /// Runs `probe ctl WORDS --config-file F`.
    fn ctl(&self, words: &[&str]) -> CtlOutput {
        ctl_as(&self.config, words, None)
    }

    /// The result of a command that must succeed.
    fn ctl_ok(&self, words: &[&str]) -> Value {
        let output = self.ctl(words);
        assert_eq!(
            output.code,
            0,
            "`ctl {words:?}` failed: {}\nlog:\n{}",
            output.stderr,
            self.service.log()
        );
        serde_json::from_str(&output.stdout).expect("ctl prints JSON")
    }

    fn status(&self) -> Value {
        self.ctl_ok(&["status"])
    }

    /// Runs `probe --check-config` on the probe's configuration file.
    fn check_config(&self) -> std::process::Output {
        Command::new(example("probe"))
            .arg("--check-config")
            .arg("--config-file")
            .arg(&self.config)
            .output()
            .expect("the check runs")
    }
}

struct CtlOutput {
    code: i32,
    stdout: String,
    stderr: String,
}

fn ctl_as(config: &Path, words: &[&str], uid: Option<u32>) -> CtlOutput {
    let mut command = Command::new(example("probe"));
    command
        .arg("ctl")
        .args(words)
        .arg("--config-file")
        .arg(config)
        .env_remove("RUST_LOG");
    if let Some(uid) = uid {
        command.uid(uid).gid(uid);
    }
    let output = command.output().expect("the client runs");
    CtlOutput {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Polls `check` until it gives a value, for at most [`PATIENCE`].
fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn workers_of(status: &Value) -> Vec<Value> {
    status["workers"].as_array().cloned().unwrap_or_default()
}

fn pids_of(status: &Value) -> BTreeSet<i64> {
    workers_of(status)
        .iter()
        .filter_map(|w| w["pid"].as_i64())
        .collect()
}

/// Status once exactly `count` workers serve and none is stopping.
fn settled_status(probe: &Probe, count: usize) -> Value {
    eventually(&format!("{count} ready workers"), || {
        let status = probe.status();
        let workers = workers_of(&status);
        let settled = workers.len() == count
            && workers
                .iter()
                .all(|w| w["ready"] == true && w["stopping"] == false);
        settled.then_some(status)
    })
}

/// The `tick` statistics of each worker, by pid.
fn tick_runs(probe: &Probe) -> BTreeMap<i64, i64> {
    let tasks = probe.ctl_ok(&["tasks"]);
    workers_of(&tasks)
        .iter()
        .map(|worker| {
            let tick = worker["tasks"]
                .as_array()
                .and_then(|tasks| tasks.iter().find(|t| t["name"] == "tick"))
                .unwrap_or_else(|| panic!("no tick task in {worker}"));
            (
                worker["pid"].as_i64().unwrap(),
                tick["run_count"].as_i64().unwrap(),
            )
        })
        .collect()
}

const CONTROLLED: &str = "[DEFAULT]\nworkers = 2\ncontrol_socket = @DIR@/ctl.sock\n\
                          [probe]\ntick_spacing = 3600\npassword = not-shown-anywhere\n";

/// Every control command through `probe ctl`, against `probe` with 2
/// workers and a control socket:
///
/// - `status`: service name, mode `workers`, the main pid, generation 0,
///   2 workers wanted, and the 2 live worker pids, each ready, generation
///   0, no restart;
/// - `tasks`: one `tick` run per worker (it runs at once), its spacing,
///   no error, the next run about an hour away;
/// - `run-task tick`: scheduled in both workers, and a second run follows
///   in each; `run-task tock` fails naming the known tasks;
/// - `config`: the password shows as `****` and nowhere in clear, other
///   values as set, `mutable` flags;
/// - `reload` after a file change: `applied`, the changed option named,
///   both workers replaced by generation 1;
/// - `workers 3`: 3 workers, ids 1 to 3, all three answering HTTP;
///   `workers 1`: the two others stop gracefully (not killed), worker 1
///   stays;
/// - `help`: the list of commands; `workers 0` and an unknown command are
///   refused with exit code 2 and a reason.
#[test]
fn every_control_command_answers() {
    let probe = Probe::start(CONTROLLED, &[]);
    probe.service.wait_for_lines(&["all workers ready"], 1);

    let status = settled_status(&probe, 2);
    assert_eq!(status["service"], "probe");
    assert_eq!(status["mode"], "workers");
    assert_eq!(status["pid"].as_i64(), Some(i64::from(probe.service.pid())));
    assert_eq!(status["generation"], 0);
    assert_eq!(status["workers_wanted"], 2);
    let expected: BTreeSet<i64> = probe
        .service
        .worker_pids()
        .into_iter()
        .map(i64::from)
        .collect();
    assert_eq!(pids_of(&status), expected);
    for worker in workers_of(&status) {
        assert_eq!(worker["generation"], 0, "{worker}");
        assert_eq!(worker["restarts"], 0, "{worker}");
        assert!(worker["age_secs"].as_f64().unwrap() >= 0.0, "{worker}");
    }

    let runs = eventually("the immediate tick in each worker", || {
        let runs = tick_runs(&probe);
        (runs.len() == 2 && runs.values().all(|&n| n == 1)).then_some(runs)
    });
    let tasks = probe.ctl_ok(&["tasks"]);
    let tick = &workers_of(&tasks)[0]["tasks"][0];
    assert_eq!(tick["spacing_secs"], 3600.0);
    assert_eq!(tick["error_count"], 0);
    assert!(tick["last_duration_secs"].as_f64().is_some(), "{tick}");
    assert!(
        tick["next_run_in_secs"].as_f64().unwrap() > 3000.0,
        "{tick}"
    );

    let scheduled = probe.ctl_ok(&["run-task", "tick"]);
    for worker in workers_of(&scheduled) {
        assert_eq!(worker["result"]["scheduled"], true, "{scheduled}");
    }
    eventually("a second tick in each worker", || {
        let now = tick_runs(&probe);
        (now.keys().eq(runs.keys()) && now.values().all(|&n| n == 2)).then_some(())
    });
    let unknown = probe.ctl(&["run-task", "tock"]);
    assert_eq!(unknown.code, 1);
    assert!(
        unknown
            .stderr
            .contains("no scheduled periodic task named `tock`")
            && unknown.stderr.contains("tick"),
        "{}",
        unknown.stderr
    );

    let config = probe.ctl_ok(&["config"]);
    let option = |group: &str, name: &str| {
        config
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["group"] == group && o["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {group}.{name} in {config}"))
    };
    assert_eq!(option("probe", "password")["value"], "****");
    assert_eq!(option("DEFAULT", "workers")["value"], 2);
    let in_file = format!("{}:2", probe.config.display());
    assert_eq!(option("DEFAULT", "workers")["source"], in_file.as_str());
    assert_eq!(option("DEFAULT", "debug")["source"], "default");
    assert_eq!(option("probe", "tick_spacing")["mutable"], true);
    assert!(!config.to_string().contains("not-shown-anywhere"));

    let before = pids_of(&settled_status(&probe, 2));
    probe.rewrite_config(&CONTROLLED.replace("tick_spacing = 3600", "tick_spacing = 1800"));
    let reload = probe.ctl_ok(&["reload"]);
    assert_eq!(reload["reload"], "applied", "{reload}");
    assert_eq!(reload["changed"], serde_json::json!(["probe.tick_spacing"]));
    let reloaded = eventually("both workers replaced", || {
        let status = settled_status(&probe, 2);
        let replaced = workers_of(&status).iter().all(|w| w["generation"] == 1);
        replaced.then_some(status)
    });
    assert_eq!(reloaded["generation"], 1);
    assert!(pids_of(&reloaded).is_disjoint(&before));

    let grown = probe.ctl_ok(&["workers", "3"]);
    assert_eq!(
        grown,
        serde_json::json!({ "workers_before": 2, "workers": 3 })
    );
    let three = settled_status(&probe, 3);
    assert_eq!(three["workers_wanted"], 3);
    let ids: Vec<i64> = workers_of(&three)
        .iter()
        .map(|w| w["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2, 3]);
    let port = probe_port(&probe.service);
    eventually("all three workers answering", || {
        let answering: BTreeSet<i64> = (0..30)
            .filter_map(|_| http::get(port, "/ping").ok())
            .filter_map(|response| response.body.parse().ok())
            .collect();
        (answering == pids_of(&three)).then_some(())
    });

    let shrunk = probe.ctl_ok(&["workers", "1"]);
    assert_eq!(shrunk["workers"], 1);
    let one = settled_status(&probe, 1);
    let kept = pids_of(&one);
    for pid in pids_of(&three).difference(&kept) {
        eventually("a removed worker to exit", || {
            (!is_running(i32::try_from(*pid).unwrap())).then_some(())
        });
    }
    probe
        .service
        .wait_for_lines(&["worker stopped"], 2 + 2 /* the reload's two */);
    assert_eq!(probe.service.lines_with(&["worker exited"]).len(), 0);
    assert_eq!(one["workers"][0]["id"], 1);

    let help = probe.ctl_ok(&["help"]);
    let listed: Vec<&str> = help
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["command"].as_str())
        .collect();
    assert_eq!(
        listed,
        [
            "status",
            "tasks",
            "config",
            "reload",
            "run-task NAME",
            "workers N",
            "help"
        ]
    );

    let bad = probe.ctl(&["workers", "0"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("from 1 to 1024, got `0`"),
        "{}",
        bad.stderr
    );
    let unknown = probe.ctl(&["restart"]);
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("unknown command `restart`"));
}

/// `ctl reload` answers with what became of the reload it started, in a
/// service with workers and in one running in its main process: a
/// configuration that does not validate is rejected with its error, one
/// the service cannot start with is abandoned with the start's error, and
/// both exit 1; a good one answers `applied` only once it is in force, so
/// the status read right after shows every worker on the new generation.
#[test]
fn ctl_reload_answers_with_the_outcome_of_the_reload() {
    for workers in [2, 1] {
        reload_outcomes(workers);
    }
}

fn reload_outcomes(workers: usize) {
    let config = format!(
        "[DEFAULT]\nworkers = {workers}\ncontrol_socket = @DIR@/ctl.sock\n\
         [probe]\ntick_spacing = 3600\n"
    );
    let probe = Probe::start(&config, &[]);
    probe.service.wait_for_lines(&["control socket ready"], 1);
    settled_status(&probe, workers);

    // The client reads the same broken file: it warns, still reaches the
    // service, and the service's answer says what is wrong.
    probe.rewrite_config(&config.replace("tick_spacing = 3600", "tick_spacing = soon"));
    let status = probe.ctl(&["status"]);
    assert_eq!(status.code, 0, "{workers} workers: {}", status.stderr);
    assert!(status.stderr.contains("warning: "), "{}", status.stderr);
    assert!(status.stderr.contains("tick_spacing"), "{}", status.stderr);
    let rejected = probe.ctl(&["reload"]);
    assert_eq!(rejected.code, 1, "{workers} workers: {}", rejected.stderr);
    assert!(
        rejected
            .stderr
            .contains("reload rejected; the running configuration stays")
            && rejected.stderr.contains("tick_spacing"),
        "{workers} workers: {}",
        rejected.stderr
    );

    // What would stop a start is found before any worker is replaced.
    probe.rewrite_config(&config.replace("[probe]", "log_file = @DIR@/missing/x.log\n[probe]"));
    let unopenable = probe.ctl(&["reload"]);
    assert_eq!(
        unopenable.code, 1,
        "{workers} workers: {}",
        unopenable.stderr
    );
    assert!(
        unopenable.stderr.contains("reload rejected")
            && unopenable.stderr.contains("option [DEFAULT] log_file"),
        "{workers} workers: {}",
        unopenable.stderr
    );

    probe.rewrite_config(&format!("{config}fail_start = true\n"));
    let abandoned = probe.ctl(&["reload"]);
    assert_eq!(abandoned.code, 1, "{workers} workers: {}", abandoned.stderr);
    assert!(
        abandoned.stderr.contains("reload abandoned")
            && abandoned.stderr.contains("fail_start is set"),
        "{workers} workers: {}",
        abandoned.stderr
    );

    probe.rewrite_config(&config.replace("tick_spacing = 3600", "tick_spacing = 1800"));
    let applied = probe.ctl_ok(&["reload"]);
    assert_eq!(applied["reload"], "applied", "{applied}");
    assert_eq!(
        applied["changed"],
        serde_json::json!(["probe.tick_spacing"])
    );
    let status = probe.status();
    assert_eq!(status["generation"], 1, "{status}");
    assert_eq!(status["reloading"], false, "{status}");
    let serving: Vec<Value> = workers_of(&status)
        .into_iter()
        .filter(|worker| worker["stopping"] == false)
        .collect();
    assert_eq!(serving.len(), workers, "{status}");
    for worker in serving {
        assert_eq!(worker["generation"], 1, "{status}");
        assert_eq!(worker["ready"], true, "{status}");
    }
}

/// The line protocol itself: several commands on one connection, one JSON
/// answer line each, errors included.
#[test]
fn the_line_protocol_answers_each_line() {
    use std::io::{BufRead, BufReader, Write};
    let probe = Probe::start(CONTROLLED, &[]);
    probe.service.wait_for_lines(&["all workers ready"], 1);
    let socket = probe.path("ctl.sock");
    let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
        .write_all(b"status\nnonsense\n\nworkers many\nhelp\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut answers = Vec::new();
    for _ in 0..4 {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        answers.push(serde_json::from_str::<Value>(&line).expect("one JSON object per line"));
    }
    assert_eq!(answers[0]["ok"], true);
    assert_eq!(answers[0]["result"]["service"], "probe");
    assert_eq!(answers[1]["ok"], false);
    assert!(
        answers[1]["error"]
            .as_str()
            .unwrap()
            .contains("unknown command `nonsense`")
    );
    assert_eq!(answers[2]["ok"], false);
    assert!(answers[2]["error"].as_str().unwrap().contains("got `many`"));
    assert_eq!(answers[3]["ok"], true);
}

/// The control socket of `probe --workers 2` is mode 0600 and owned by the
/// service's user. When the tests run as root, `probe ctl status` run as
/// `nobody` (a child switched to uid and gid 65534 before it executes) is
/// refused by the kernel with `Permission denied`; with the socket's mode
/// loosened to 0666 by hand, the service itself refuses the connection
/// (peer credentials), answers why and logs a warning. The owner is
/// served. A client whose configuration sets no socket is told how to set
/// one.
#[test]
fn the_control_socket_refuses_other_users() {
    let probe = Probe::start(CONTROLLED, &[]);
    probe.service.wait_for_lines(&["control socket ready"], 1);
    let socket = probe.path("ctl.sock");
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // SAFETY: geteuid has no preconditions and touches no memory.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(meta.uid(), euid, "the socket belongs to the service's user");

    if euid == 0 {
        // Let `nobody` reach the directory and the configuration, so that
        // only the socket's own mode stands in the way.
        let open = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(probe.dir.path(), open).unwrap();
        let readable = std::fs::Permissions::from_mode(0o644);
        std::fs::set_permissions(&probe.config, readable).unwrap();
        let nobody = 65534;
        let refused = ctl_as(&probe.config, &["status"], Some(nobody));
        assert_eq!(refused.code, 1, "{}", refused.stdout);
        assert!(
            refused
                .stderr
                .contains("cannot connect to the control socket")
                && refused.stderr.contains("Permission denied"),
            "{}",
            refused.stderr
        );

        // With the mode loosened by hand, the service still checks who
        // connects.
        let loose = std::fs::Permissions::from_mode(0o666);
        std::fs::set_permissions(&socket, loose).unwrap();
        let checked = ctl_as(&probe.config, &["status"], Some(nobody));
        assert_eq!(checked.code, 1, "{}", checked.stdout);
        assert!(
            checked
                .stderr
                .contains("this socket serves only the service's own user"),
            "{}",
            checked.stderr
        );
        probe
            .service
            .wait_for_lines(&["control connection from another user refused"], 1);
    } else {
        eprintln!("not root: connecting as another user is not tried");
    }
    assert_eq!(probe.ctl(&["status"]).code, 0, "the owner is served");

    let (_dir, plain) = integration_tests::config_file("p.conf", "[DEFAULT]\nworkers = 2\n");
    let off = ctl_as(&plain, &["status"], None);
    assert_eq!(off.code, 1);
    assert!(
        off.stderr
            .contains("control socket of probe is off: set `control_socket`"),
        "{}",
        off.stderr
    );
}

/// A `control_socket` in a directory that does not exist is a mistake in
/// the configuration: `--check-config` reports it, naming the option, the
/// path and the reason, and a start exits 78 with the same message, before
/// any worker starts.
#[test]
fn an_unbindable_control_socket_is_a_configuration_error() {
    let config = "[DEFAULT]\nworkers = 2\ncontrol_socket = @DIR@/missing/ctl.sock\n";
    let expect_error = |stderr: &str, socket: &Path| {
        let line = stderr
            .lines()
            .find(|line| line.contains("option [DEFAULT] control_socket"))
            .unwrap_or_else(|| panic!("no control_socket error in:\n{stderr}"));
        assert!(line.contains(socket.to_str().unwrap()), "{line}");
        assert!(line.contains("No such file or directory"), "{line}");
        line.to_string()
    };

    let mut probe = Probe::start(config, &[]);
    let socket = probe.path("missing").join("ctl.sock");
    let code = probe.service.wait_exit_code();
    assert_eq!(code, 78, "{}", probe.service.log());
    let started = expect_error(&probe.service.log(), &socket);
    assert!(probe.service.lines_with(&["starting workers"]).is_empty());

    let checked = probe.check_config();
    assert_eq!(checked.status.code(), Some(78));
    let checked = expect_error(&String::from_utf8_lossy(&checked.stderr), &socket);
    assert_eq!(checked, started);
}

/// Options that would only fail once the service starts are checked
/// before: a `control_socket` that names a directory, a `log_file` in a
/// missing directory and a `wsgi_log_format` with an unknown key. Each is
/// one error line naming the file and line, the option and the reason;
/// `--check-config` and a start both exit 78, and no worker starts.
#[test]
fn options_that_fail_at_start_are_configuration_errors() {
    let cases = [
        (
            "control_socket = @DIR@\n",
            "option [DEFAULT] control_socket",
            "a directory, not a socket",
        ),
        (
            "log_file = @DIR@/missing/svc.log\n",
            "option [DEFAULT] log_file",
            "No such file or directory",
        ),
        (
            "wsgi_log_format = %(nope)s\n",
            "option [DEFAULT] wsgi_log_format",
            "unknown key `nope`",
        ),
    ];
    for (line, option, reason) in cases {
        let config = format!("[DEFAULT]\nworkers = 2\n{line}");
        let mut probe = Probe::start(&config, &[]);
        assert_eq!(
            probe.service.wait_exit_code(),
            78,
            "{}",
            probe.service.log()
        );
        let log = probe.service.log();
        let error = log
            .lines()
            .find(|l| l.contains(option))
            .unwrap_or_else(|| panic!("no error for {option}:\n{log}"));
        assert!(error.contains("probe.conf:3:"), "{error}");
        assert!(error.contains(reason), "{error}");
        assert!(probe.service.lines_with(&["starting workers"]).is_empty());

        let checked = probe.check_config();
        assert_eq!(checked.status.code(), Some(78), "{line}");
        let stderr = String::from_utf8_lossy(&checked.stderr);
        assert!(stderr.contains(error.trim()), "{stderr}");
    }
}

/// The inodes of the sockets the given processes hold, from their
/// descriptors.
fn socket_inodes(pids: &[i32]) -> BTreeSet<String> {
    let mut inodes = BTreeSet::new();
    for pid in pids {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let target = std::fs::read_link(fd.path()).unwrap_or_default();
            let target = target.to_string_lossy();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|t| t.strip_suffix(']'))
            {
                inodes.insert(inode.to_string());
            }
        }
    }
    inodes
}

/// A TCP socket as the kernel lists it: local address and port (address
/// in /proc's hex), remote port, state (`0A` is listening).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct TcpSocket {
    address: String,
    port: u16,
    remote_port: u16,
    state: String,
}

/// Every TCP socket, in any state, held by the given processes, from the
/// socket tables of the first one's network namespace.
fn tcp_sockets(pids: &[i32]) -> BTreeSet<TcpSocket> {
    let inodes = socket_inodes(pids);
    let mut found = BTreeSet::new();
    for table in ["tcp", "tcp6"] {
        let path = format!("/proc/{}/net/{table}", pids[0]);
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, remote, state, inode) = (fields[1], fields[2], fields[3], fields[9]);
            if !inodes.contains(inode) {
                continue;
            }
            let (address, port) = local.split_once(':').unwrap();
            let remote_port = remote.split_once(':').unwrap().1;
            found.insert(TcpSocket {
                address: address.to_string(),
                port: u16::from_str_radix(port, 16).unwrap(),
                remote_port: u16::from_str_radix(remote_port, 16).unwrap(),
                state: state.to_string(),
            });
        }
    }
    found
}

/// The paths of the listening unix sockets held by the given processes
/// (`-` for one without a path).
fn listening_unix(pids: &[i32]) -> Vec<String> {
    /// The kernel's flag of a socket that accepts connections.
    const ACCEPTS: u32 = 0x0001_0000;
    let inodes = socket_inodes(pids);
    let text = std::fs::read_to_string(format!("/proc/{}/net/unix", pids[0])).unwrap();
    let mut found = Vec::new();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let flags = u32::from_str_radix(fields[3], 16).unwrap();
        if flags & ACCEPTS != 0 && inodes.contains(fields[6]) {
            found.push(fields.get(7).copied().unwrap_or("-").to_string());
        }
    }
    found
}

/// The main process and its workers.
fn processes(probe: &Probe) -> Vec<i32> {
    let mut pids = vec![probe.service.pid()];
    pids.extend(probe.service.worker_pids());
    pids
}

/// `probe --workers 2` on defaults: the main process and both workers
/// hold one TCP socket only, the API's listener on 127.0.0.1, and no
/// listening unix socket (no control socket unless configured). With
/// `control_socket` set, the main process alone holds one listening unix
/// socket and still no other TCP socket exists. With `control_tcp_port = 0`, the main
/// process alone listens on one more port, on 127.0.0.1, which
/// `probe ctl` reaches.
#[test]
fn no_control_port_is_opened_unless_configured() {
    let api_only = |probe: &Probe| {
        let api = probe_port(&probe.service);
        let expected = TcpSocket {
            address: "0100007F".to_string(),
            port: api,
            remote_port: 0,
            state: "0A".to_string(),
        };
        let sockets = tcp_sockets(&processes(probe));
        assert_eq!(sockets, BTreeSet::from([expected]), "only the API listens");
    };

    let probe = Probe::start("", &["--workers", "2"]);
    probe.service.wait_for_lines(&["all workers ready"], 1);
    assert_eq!(probe.service.worker_pids().len(), 2);
    api_only(&probe);
    let unix = listening_unix(&processes(&probe));
    assert!(unix.is_empty(), "no control socket by default: {unix:?}");
    assert!(
        probe
            .service
            .lines_with(&["control socket ready"])
            .is_empty()
    );
    assert!(probe.service.lines_with(&["control port ready"]).is_empty());

    let probe = Probe::start(CONTROLLED, &[]);
    probe.service.wait_for_lines(&["all workers ready"], 1);
    api_only(&probe);
    // The kernel lists the name the socket was bound to, in a private
    // directory, before it was moved to `control_socket`.
    let unix = listening_unix(&processes(&probe));
    assert_eq!(unix.len(), 1, "one control socket: {unix:?}");
    assert_eq!(listening_unix(&[probe.service.pid()]), unix, "held by main");
    assert!(listening_unix(&probe.service.worker_pids()).is_empty());

    let with_port = "[DEFAULT]\nworkers = 2\ncontrol_tcp_port = 0\n";
    let probe = Probe::start(with_port, &[]);
    let line = probe
        .service
        .wait_for_lines(&["control port ready"], 1)
        .remove(0);
    assert!(line.contains("127.0.0.1:"), "{line}");
    probe.service.wait_for_lines(&["all workers ready"], 1);
    let api = probe_port(&probe.service);
    let listening = tcp_sockets(&processes(&probe));
    let control: Vec<&TcpSocket> = listening.iter().filter(|s| s.port != api).collect();
    assert_eq!(control.len(), 1, "{listening:?}");
    assert_eq!(
        control[0].address, "0100007F",
        "the control port is on 127.0.0.1"
    );
    assert_eq!(control[0].state, "0A");
    let workers_only = tcp_sockets(&probe.service.worker_pids());
    assert!(
        workers_only.iter().all(|s| s.port == api),
        "{workers_only:?}"
    );
    let port = control[0].port.to_string();
    probe.rewrite_config(&format!(
        "[DEFAULT]\nworkers = 2\ncontrol_tcp_port = {port}\n"
    ));
    let status = probe.ctl_ok(&["status"]);
    assert_eq!(status["workers"].as_array().unwrap().len(), 2);
}

/// SIGUSR2 writes the status and every worker's periodic tasks to the log.
#[test]
fn sigusr2_writes_a_report_to_the_log() {
    let probe = Probe::start(CONTROLLED, &[]);
    probe.service.wait_for_lines(&["all workers ready"], 1);
    let workers = probe.service.worker_pids();
    probe.service.signal(libc::SIGUSR2);
    let service = probe.service.wait_for_lines(&["report: service"], 1);
    assert!(service[0].contains("workers_wanted=2"), "{}", service[0]);
    for pid in &workers {
        let pid = format!("worker_pid={pid} ");
        probe.service.wait_for_lines(&["report: worker", &pid], 1);
        let task = probe
            .service
            .wait_for_lines(&["report: periodic task", &pid], 1);
        assert!(task[0].contains("task=tick") && task[0].contains("runs="));
    }
    assert!(probe.service.lines_with(&["ERROR"]).is_empty());
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Waits until the file holds `count` lines containing every one of
/// `parts`; returns them.
fn wait_for_file_lines(path: &Path, parts: &[&str], count: usize) -> Vec<String> {
    eventually(
        &format!("{count} lines with {parts:?} in {}", path.display()),
        || {
            let found: Vec<String> = read(path)
                .lines()
                .filter(|line| parts.iter().all(|p| line.contains(p)))
                .map(str::to_string)
                .collect();
            (found.len() >= count).then_some(found)
        },
    )
}

fn access_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|line| line.contains("\"GET /ping?n="))
        .collect()
}

/// `worker N[pid]` of a text log line: the pid.
fn line_pid(line: &str) -> Option<i64> {
    let start = line.find('[')? + 1;
    let end = start + line[start..].find(']')?;
    line[start..end].parse().ok()
}

/// B27: `probe --workers 3` with `log_file = ./svc.log`; 30 requests;
/// `mv svc.log svc.log.1`; SIGUSR1 to the main process (the documented way
/// to reopen the log); 30 more requests, until each worker has answered.
///
/// Checks: a new `svc.log` appears within 2 s; the main process and each of
/// the 3 workers log `log file reopened` into it; every later access line
/// is in `svc.log`, written by each of the 3 workers; `svc.log.1` stops
/// growing and keeps exactly the first 30 access lines; no request is
/// logged twice or lost; neither file holds an error or a word about a
/// closed or bad descriptor.
#[test]
fn b27_rotation_moves_every_process_to_the_new_file() {
    let probe = Probe::start("[DEFAULT]\nlog_file = ./svc.log\n", &["--workers", "3"]);
    let log = probe.path("svc.log");
    let rotated = probe.path("svc.log.1");
    wait_for_file_lines(&log, &["all workers ready"], 1);
    let line = wait_for_file_lines(&log, &["listening", "listener=\"api\""], 1).remove(0);
    let port: u16 = line.rsplit(':').next().unwrap().trim().parse().unwrap();

    for n in 0..30 {
        assert_eq!(
            http::get(port, &format!("/ping?n={n}")).unwrap().status,
            200
        );
    }
    wait_for_file_lines(&log, &["\"GET /ping?n="], 30);

    std::fs::rename(&log, &rotated).unwrap();
    let signalled = Instant::now();
    probe.service.signal(libc::SIGUSR1);
    eventually("a new svc.log", || log.exists().then_some(()));
    assert!(
        signalled.elapsed() < Duration::from_secs(2),
        "the new file appeared after {:?}",
        signalled.elapsed()
    );
    let reopened = wait_for_file_lines(&log, &["log file reopened"], 4);
    let reopened_by: BTreeSet<i64> = reopened.iter().filter_map(|l| line_pid(l)).collect();
    let mut processes: BTreeSet<i64> = probe
        .service
        .worker_pids()
        .into_iter()
        .map(i64::from)
        .collect();
    processes.insert(i64::from(probe.service.pid()));
    assert_eq!(reopened_by, processes, "the main process and each worker");
    let rotated_size = std::fs::metadata(&rotated).unwrap().len();

    let workers: BTreeSet<String> = probe
        .service
        .worker_pids()
        .iter()
        .map(i32::to_string)
        .collect();
    let mut answered = BTreeSet::new();
    let mut sent = 0;
    while sent < 30 || answered != workers {
        assert!(sent < 3000, "requests never reached every worker");
        let response = http::get(port, &format!("/ping?n={}", 100 + sent)).unwrap();
        answered.insert(response.body);
        sent += 1;
    }
    let after = wait_for_file_lines(&log, &["\"GET /ping?n="], sent);

    assert_eq!(
        std::fs::metadata(&rotated).unwrap().len(),
        rotated_size,
        "svc.log.1 stopped growing"
    );
    let before_text = read(&rotated);
    let before = access_lines(&before_text);
    assert_eq!(before.len(), 30, "the first 30 requests stay in svc.log.1");
    assert_eq!(after.len(), sent, "the later requests are all in svc.log");
    let mut seen = BTreeSet::new();
    for line in before
        .iter()
        .copied()
        .chain(after.iter().map(String::as_str))
    {
        let request = line.split('"').nth(1).unwrap().to_string();
        assert!(seen.insert(request), "duplicated: {line}");
    }
    assert_eq!(seen.len(), 30 + sent, "no line lost or duplicated");
    let writers: BTreeSet<String> = after
        .iter()
        .filter_map(|line| line_pid(line))
        .map(|pid| pid.to_string())
        .collect();
    assert_eq!(writers, workers, "every worker writes to the new file");
    let whole = format!("{before_text}{}", read(&log));
    for bad in ["ERROR", "closed", "Bad file descriptor"] {
        assert!(!whole.contains(bad), "{bad} in the logs:\n{whole}");
    }
}

/// Access lines wait to be written in batches; a long
/// `access_log_flush_interval` (60 s) keeps them waiting. `probe --workers
/// 2` answers 40 requests, then gets SIGTERM at once.
///
/// Checks: the service exits 0 and the log file holds one access line per
/// request, each written before its worker's `service stopped` line: a graceful
/// stop writes the waiting lines, whatever the interval.
#[test]
fn a_graceful_stop_writes_every_waiting_access_line() {
    let probe = Probe::start(
        "[DEFAULT]\nlog_file = ./svc.log\naccess_log_flush_interval = 60\n",
        &["--workers", "2"],
    );
    let log = probe.path("svc.log");
    wait_for_file_lines(&log, &["all workers ready"], 1);
    let line = wait_for_file_lines(&log, &["listening", "listener=\"api\""], 1).remove(0);
    let port: u16 = line.rsplit(':').next().unwrap().trim().parse().unwrap();
    let sent = 40;
    for n in 0..sent {
        assert_eq!(
            http::get(port, &format!("/ping?n={n}")).unwrap().status,
            200
        );
    }

    let mut probe = probe;
    probe.service.signal(libc::SIGTERM);
    assert_eq!(probe.service.wait_exit_code(), 0);
    let text = read(&log);
    let served = access_lines(&text);
    assert_eq!(served.len(), sent, "one access line per request:\n{text}");
    for request in served {
        let pid = line_pid(request).unwrap();
        let position = |needle: &str| text.find(needle).unwrap();
        let stopped = text
            .lines()
            .find(|l| line_pid(l) == Some(pid) && l.contains("service stopped"))
            .unwrap_or_else(|| panic!("worker {pid} logged no `service stopped`:\n{text}"));
        assert!(
            position(request) < position(stopped),
            "{request} after {stopped}"
        );
    }
}

/// Sends `/ping?n=<label><i>` over new connections until every pid in
/// `workers` has answered, at least `minimum` times; returns how many
/// requests were sent.
fn requests_reaching(port: u16, workers: &BTreeSet<i64>, minimum: usize, label: &str) -> usize {
    let mut answered = BTreeSet::new();
    let mut sent = 0;
    while sent < minimum || &answered != workers {
        assert!(sent < 3000, "requests never reached every worker");
        let response = http::get(port, &format!("/ping?n={label}{sent}")).unwrap();
        answered.insert(response.body.parse::<i64>().unwrap());
        sent += 1;
    }
    sent
}

const B28_BEFORE: &str = "[DEFAULT]\nworkers = 2\nlog_file = ./a.log\ndebug = false\n\
                          control_socket = @DIR@/ctl.sock\nrestart_method = METHOD\n";

fn b28_start(method: &str) -> (Probe, u16) {
    let probe = Probe::start(&B28_BEFORE.replace("METHOD", method), &[]);
    let a = probe.path("a.log");
    wait_for_file_lines(&a, &["all workers ready"], 1);
    let line = wait_for_file_lines(&a, &["listening", "listener=\"api\""], 1).remove(0);
    let port: u16 = line.rsplit(':').next().unwrap().trim().parse().unwrap();
    let workers = pids_of(&settled_status(&probe, 2));
    requests_reaching(port, &workers, 2, "before");
    assert!(
        !read(&a).contains(" DEBUG "),
        "no debug line before the reload"
    );
    let after = B28_BEFORE
        .replace("METHOD", method)
        .replace("a.log", "b.log")
        .replace("debug = false", "debug = true");
    probe.rewrite_config(&after);
    probe.service.signal(libc::SIGHUP);
    (probe, port)
}

/// B28 with `restart_method = reload`: `probe --workers 2`,
/// `log_file = ./a.log`, `debug = false`; the file is changed to
/// `log_file = ./b.log` and `debug = true`, SIGHUP is sent and at least 10
/// requests are made, until both new workers have answered.
///
/// `log_file` is reloadable. Checks: the reload is logged in `a.log` (its
/// start, and that output moves) and in `b.log` (it continues there, the
/// reload finished); the request lines of both new workers are in
/// `b.log`, with DEBUG lines from each; `a.log` never had a DEBUG line;
/// every request is logged once; no ERROR anywhere.
#[test]
fn b28_a_reload_moves_the_log_to_the_new_file_at_the_new_level() {
    let (probe, port) = b28_start("reload");
    let (a, b) = (probe.path("a.log"), probe.path("b.log"));
    wait_for_file_lines(&b, &["reload finished"], 1);
    assert!(read(&a).contains("reloading the configuration"));
    assert!(read(&a).contains("log output moves"));
    wait_for_file_lines(&b, &["log output continues here"], 1);

    let workers = pids_of(&settled_status(&probe, 2));
    let sent = requests_reaching(port, &workers, 10, "after");
    let served = wait_for_file_lines(&b, &["\"GET /ping?n=after"], sent);
    let writers: BTreeSet<i64> = served.iter().filter_map(|l| line_pid(l)).collect();
    assert_eq!(writers, workers, "request logs from both new workers");
    for pid in &workers {
        wait_for_file_lines(&b, &[&format!("[{pid}] DEBUG")], 1);
    }
    assert!(!read(&a).contains(" DEBUG "), "a.log keeps the old level");
    let both = format!("{}{}", read(&a), read(&b));
    assert!(!both.contains("ERROR"), "{both}");
    assert_eq!(
        access_lines(&both).len(),
        sent + access_lines(&read(&a)).len(),
        "every request logged once"
    );
}

/// B28 with `restart_method = mutate`: the same replay, with the workers
/// applying the new configuration in place.
///
/// `log_file` is not mutable. Checks: a WARN line names `DEFAULT.log_file`
/// as not mutable; both workers log that the configuration was applied;
/// the request lines of both workers stay in `a.log`, with DEBUG lines
/// from each (`debug` is mutable); `b.log` is never created; no ERROR.
#[test]
fn b28_a_mutate_keeps_the_log_file_and_names_it_as_needing_a_restart() {
    let (probe, port) = b28_start("mutate");
    let a = probe.path("a.log");
    let warning = wait_for_file_lines(&a, &["not mutable", "DEFAULT.log_file"], 1);
    assert!(warning[0].contains("WARN"), "{}", warning[0]);
    wait_for_file_lines(&a, &["configuration applied"], 2);
    let workers = pids_of(&settled_status(&probe, 2));
    let sent = requests_reaching(port, &workers, 10, "after");
    let served = wait_for_file_lines(&a, &["\"GET /ping?n=after"], sent);
    let writers: BTreeSet<i64> = served.iter().filter_map(|l| line_pid(l)).collect();
    assert_eq!(writers, workers, "request logs from both workers");
    for pid in &workers {
        wait_for_file_lines(&a, &[&format!("[{pid}] DEBUG")], 1);
    }
    assert!(!probe.path("b.log").exists(), "no output to b.log");
    assert!(!read(&a).contains("ERROR"));
}

/// Pieces of the secrets of [`a_secret_never_reaches_the_log`] that must
/// show nowhere.
const LEAKS: [&str; 5] = [
    "s3cr\"et-Value-42",
    "et-Value-42",
    "s3cr",
    "n3w-Secret-77",
    "Secret-77",
];

/// Asserts that `text` holds no piece of either secret.
fn assert_no_secret(text: &str, what: &str) {
    for leak in LEAKS {
        assert!(!text.contains(leak), "{leak:?} found in {what}:\n{text}");
    }
}

/// A secret never reaches a log line. `probe --workers 2` runs at debug
/// level (so the start-up dump of every option is logged), logging to a
/// file and to standard error, with `[probe] password` set in the file
/// and interpolated into the access-log template. The test makes
/// requests (one of them asks a worker for the password's value), runs
/// `ctl config`, `ctl tasks` and `ctl status`, gets a SIGUSR2 report,
/// then changes the password and switches to JSON lines, reloads through
/// `ctl reload`, and does it all again before SIGTERM.
///
/// Checks: the access lines show `key=****`; `ctl config` shows `****`
/// for the password, before and after the reload; every line of the log
/// file and of standard error (more than 50 of each), and everything the
/// control client printed, holds neither secret nor a piece of one.
#[test]
fn a_secret_never_reaches_the_log() {
    let config = "[DEFAULT]\nworkers = 2\ndebug = true\nlog_file = @DIR@/svc.log\n\
                  use_stderr = true\ncontrol_socket = @DIR@/ctl.sock\n\
                  wsgi_log_format = %(client_ip)s \"%(request_line)s\" key=${probe.password} \
                  status: %(status_code)s\n\
                  [probe]\npassword = s3cr\"et-Value-42\ntick_spacing = 0.2\n";
    let probe = Probe::start(config, &[]);
    let log = probe.path("svc.log");
    wait_for_file_lines(&log, &["all workers ready"], 1);
    let port = probe_port(&probe.service);
    let workers = pids_of(&settled_status(&probe, 2));
    let mut printed = String::new();
    let exercise = |label: &str, workers: &BTreeSet<i64>, printed: &mut String| {
        requests_reaching(port, workers, 5, label);
        let shown = http::get(port, "/conf?name=probe.password").unwrap();
        assert_eq!(shown.body, "\"****\"");
        let config = probe.ctl(&["config"]);
        let password = serde_json::from_str::<Value>(&config.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["group"] == "probe" && o["name"] == "password")
            .map(|o| o["value"].clone());
        assert_eq!(password, Some(Value::from("****")));
        for words in [&["config"][..], &["tasks"], &["status"]] {
            let output = probe.ctl(words);
            assert_eq!(output.code, 0, "{}", output.stderr);
            printed.push_str(&output.stdout);
            printed.push_str(&output.stderr);
        }
    };

    exercise("", &workers, &mut printed);
    wait_for_file_lines(&log, &["\"GET /ping?n=", "key=****"], 5);
    probe.service.signal(libc::SIGUSR2);
    wait_for_file_lines(&log, &["report: periodic task"], 2);

    let changed = config
        .replace("s3cr\"et-Value-42", "n3w-Secret-77")
        .replacen("[DEFAULT]\n", "[DEFAULT]\nuse_json = true\n", 1);
    probe.rewrite_config(&changed);
    let reload = probe.ctl_ok(&["reload"]);
    assert_eq!(reload["reload"], "applied");
    printed.push_str(&reload.to_string());
    let workers = eventually("new workers", || {
        let status = settled_status(&probe, 2);
        workers_of(&status)
            .iter()
            .all(|w| w["generation"] == 1)
            .then(|| pids_of(&status))
    });
    exercise("json", &workers, &mut printed);
    let json_lines =
        wait_for_file_lines(&log, &["\"target\":\"service_runtime::http::access\""], 5);
    for line in &json_lines {
        let entry: Value = serde_json::from_str(line).expect("a JSON line");
        assert!(
            entry["message"].as_str().unwrap().contains("key=****"),
            "{line}"
        );
        assert!(entry["worker"].as_u64().is_some() && entry["pid"].as_u64().is_some());
    }
    probe.service.signal(libc::SIGUSR2);
    wait_for_file_lines(&log, &["report: periodic task", "\"level\":\"INFO\""], 2);
    probe.service.signal(libc::SIGTERM);
    let mut service = probe.service;
    assert_eq!(service.wait_exit_code(), 0);

    let file = read(&log);
    let stderr = service.log();
    assert!(file.lines().count() > 50 && stderr.lines().count() > 50);
    assert!(file.contains("****") && stderr.contains("****"));
    assert_no_secret(&file, "the log file");
    assert_no_secret(&stderr, "standard error");
    assert!(printed.contains("****"));
    assert_no_secret(&printed, "the control client's output");
}

/// `use_json` writes one JSON object per line with the process's worker
/// number and pid; `default_log_levels` quiets a target and, being
/// mutable, changes in place.
#[test]
fn json_lines_and_log_levels_follow_the_configuration() {
    let config = "[DEFAULT]\nworkers = 2\nuse_json = true\nrestart_method = mutate\n\
                  default_log_levels = service_runtime::http::access=WARN\n";
    let probe = Probe::start(config, &[]);
    probe
        .service
        .wait_for_lines(&["\"message\":\"all workers ready\""], 1);
    let port = probe_port_json(&probe.service);
    let workers: BTreeSet<i64> = probe
        .service
        .worker_pids()
        .into_iter()
        .map(i64::from)
        .collect();
    requests_reaching(port, &workers, 4, "quiet");
    probe
        .service
        .wait_for_lines(&["\"message\":\"service started\""], 2);
    assert!(
        probe.service.lines_with(&["GET /ping?n="]).is_empty(),
        "the access log is quiet at WARN"
    );

    probe.rewrite_config(&config.replace("access=WARN", "access=INFO"));
    probe.service.signal(libc::SIGHUP);
    probe
        .service
        .wait_for_lines(&["\"message\":\"configuration applied\""], 2);
    let sent = requests_reaching(port, &workers, 4, "loud");
    let access = probe.service.wait_for_lines(&["GET /ping?n=loud"], sent);
    let writers: BTreeSet<i64> = access
        .iter()
        .map(|line| {
            let entry: Value = serde_json::from_str(line).unwrap();
            assert_eq!(entry["level"], "INFO");
            assert!(
                entry["worker"]
                    .as_u64()
                    .is_some_and(|w| (1..=2).contains(&w))
            );
            assert!(entry["time"].as_str().is_some() && entry["fields"].is_object());
            entry["pid"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(writers, workers);

    for line in probe.service.lines() {
        let entry: Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("not a JSON line: {line}"));
        let pid = entry["pid"].as_i64().expect("every line has a pid");
        if pid == i64::from(probe.service.pid()) {
            assert!(entry["worker"].is_null(), "{line}");
        } else {
            assert!(workers.contains(&pid) && entry["worker"].is_u64(), "{line}");
        }
    }
}

/// The API port from the main process's JSON `listening` line.
fn probe_port_json(service: &Running) -> u16 {
    let line = service
        .wait_for_lines(&["\"message\":\"listening\""], 1)
        .remove(0);
    let entry: Value = serde_json::from_str(&line).unwrap();
    let address = entry["fields"]["address"].as_str().unwrap();
    address.rsplit(':').next().unwrap().parse().unwrap()
}
