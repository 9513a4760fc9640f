//! Configuration through real processes, on the probe example: errors
//! that name what is wrong and stop the service with exit code 78, the
//! precedence of files, directories, environment and flags, the default
//! file search, `--help`, `--generate-config`, `--check-config`,
//! `--print-config` and the start-up log, secrets masked everywhere.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use integration_tests::{PATIENCE, Running, example};

/// The configuration code every configuration error exits with.
const EX_CONFIG: i32 = 78;

/// A home directory of its own, so that no file of the machine's is found
/// by the default search, and a place for configuration files.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        Home { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file (creating its directory) and returns its path as text.
    fn write(&self, name: &str, text: &str) -> String {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    }

    /// Starts the probe as a service that runs until stopped.
    fn start(&self, args: &[&str], env: &[(&str, &str)]) -> Running {
        let home = self.dir.path().to_str().unwrap();
        let mut env = env.to_vec();
        env.push(("HOME", home));
        Running::start(&example("probe"), args, &env)
    }

    /// The probe's command line, for a run that ends by itself.
    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(example("probe"));
        command
            .args(args)
            .envs(env.iter().copied())
            .env("HOME", self.dir.path());
        command
    }

    /// Runs the probe to its exit, for actions that end by themselves.
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Finished {
        run_to_exit(self.command(args, env))
    }

    /// The effective value of `option` and its source, from `--print-config`.
    fn printed(&self, args: &[&str], env: &[(&str, &str)], option: &str) -> (String, String) {
        let mut all = args.to_vec();
        all.push("--print-config");
        let finished = self.run(&all, env);
        assert_eq!(finished.code, 0, "{finished:#?}");
        printed_value(&finished.stdout, option)
    }
}

/// What a probe that ran to its exit printed.
#[derive(Debug)]
struct Finished {
    code: i32,
    stdout: Vec<String>,
    stderr: Vec<String>,
}

impl Finished {
    /// The `error: ` lines.
    fn errors(&self) -> Vec<String> {
        let errors = self.stderr.iter().filter(|l| l.starts_with("error: "));
        errors.cloned().collect()
    }
}

/// Runs `command` to its exit and reads everything it prints. After
/// `PATIENCE` its process group is killed and the test fails.
fn run_to_exit(mut command: Command) -> Finished {
    command
        .env_remove("NOTIFY_SOCKET")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command.spawn().expect("the probe starts");
    let stdout = read_lines(child.stdout.take().unwrap());
    let stderr = read_lines(child.stderr.take().unwrap());
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let group = i32::try_from(child.id()).unwrap();
            // SAFETY: kill(2) on the process group this test started.
            unsafe { libc::kill(-group, libc::SIGKILL) };
            let _ = child.wait();
            panic!("the probe did not exit within {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Finished {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

fn read_lines(stream: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::BufReader::new(stream).read_to_string(&mut text);
        text.lines().map(str::to_string).collect()
    })
}

/// `value` and `source` of the line `option = value (source)`.
fn printed_value(lines: &[String], option: &str) -> (String, String) {
    let prefix = format!("{option} = ");
    let line = lines
        .iter()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("{option} is not printed in {lines:#?}"));
    let (value, source) = line.split_once(" (").expect("value (source)");
    (value.to_string(), source.trim_end_matches(')').to_string())
}

/// Every `error:` line of a run that must fail with exit code 78.
fn config_errors(home: &Home, args: &[&str]) -> Vec<String> {
    let finished = home.run(args, &[]);
    assert_eq!(finished.code, EX_CONFIG, "{finished:#?}");
    finished.errors()
}

/// The address of the probe's `listening` log line.
fn listening_address(probe: &Running) -> String {
    let line = probe
        .wait_for_lines(&["listening", "address="], 1)
        .remove(0);
    let start = line.find("address=").unwrap() + "address=".len();
    line[start..].split_whitespace().next().unwrap().to_string()
}

/// The body of `GET path` from the probe at `address`.
fn http_get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("the probe accepts connections");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{answer}");
    body.to_string()
}

fn stop(mut probe: Running) {
    probe.signal(libc::SIGTERM);
    assert_eq!(probe.wait_exit_code(), 0, "log:\n{}", probe.log());
}

// B16: configuration errors are specific and fatal.

#[test]
fn b16_a_non_numeric_worker_count_names_everything_and_stops_the_start() {
    let home = Home::new();
    let file = home.write("bad.conf", "[DEFAULT]\nworkers = four\n");
    let finished = home.run(&["--config-file", &file], &[]);
    assert_eq!(finished.code, EX_CONFIG, "{finished:#?}");
    assert_eq!(
        finished.errors(),
        [format!(
            "error: {file}:2: option [DEFAULT] workers: invalid value \"four\": \
             expected an integer, such as 42 or -7"
        )]
    );
    let started = finished
        .stderr
        .iter()
        .filter(|l| l.contains("service started"));
    assert_eq!(started.count(), 0, "{finished:#?}");
}

#[test]
fn b16_bounds_of_zero_are_checked_and_every_violation_is_reported() {
    let home = Home::new();
    let file = home.write(
        "bounds.conf",
        "[DEFAULT]\ngraceful_shutdown_timeout = -1\n[probe]\ntick_cost = -1\n",
    );
    let errors = config_errors(&home, &["--config-file", &file]);
    assert_eq!(
        errors,
        [
            format!(
                "error: {file}:2: option [DEFAULT] graceful_shutdown_timeout: invalid value \
                 \"-1\": should be greater than or equal to 0"
            ),
            format!(
                "error: {file}:4: option [probe] tick_cost: invalid value \"-1\": \
                 should be greater than or equal to 0"
            ),
        ]
    );
}

#[test]
fn b16_port_zero_binds_a_free_port_and_logs_it() {
    let home = Home::new();
    let file = home.write("any-port.conf", "[DEFAULT]\nworkers = 1\nbind_port = 0\n");
    let probe = home.start(&["--config-file", &file], &[]);
    let address = listening_address(&probe);
    let port: u16 = address.strip_prefix("127.0.0.1:").unwrap().parse().unwrap();
    assert_ne!(port, 0, "{address}");
    probe.wait_for_lines(&["service started"], 1);
    assert_eq!(http_get(&address, "/ping"), probe.pid().to_string());
    assert_eq!(http_get(&address, "/conf?name=bind_port"), "0");
    stop(probe);
}

#[test]
fn b16_a_missing_config_dir_is_fatal_and_named() {
    let home = Home::new();
    let missing = home.path("no-such-dir");
    let missing = missing.to_str().unwrap();
    let errors = config_errors(&home, &["--config-dir", missing]);
    assert_eq!(errors, [format!("error: config dir not found: {missing}")]);
}

#[test]
fn b16_a_missing_config_file_is_fatal_and_named() {
    let home = Home::new();
    let missing = home.path("missing.conf");
    let missing = missing.to_str().unwrap();
    let errors = config_errors(&home, &["--config-file", missing]);
    assert_eq!(errors, [format!("error: config file not found: {missing}")]);
}

/// The user the probe runs as to meet a permission it cannot override.
const NOBODY: u32 = 65534;

/// B16 item 5. Root reads every file, so as root the probe is started as
/// `nobody`, which file permissions do bind.
#[test]
fn b16_an_unreadable_file_is_permission_denied_not_not_found() {
    let home = Home::new();
    let dir = home.dir.path();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let locked = home.write("locked.conf", "[DEFAULT]\nworkers = 1\n");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();

    let mut command = home.command(&["--config-file", &locked], &[]);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        command.uid(NOBODY).gid(NOBODY);
    }
    let finished = run_to_exit(command);
    assert_eq!(finished.code, EX_CONFIG, "{finished:#?}");
    assert_eq!(
        finished.errors(),
        [format!(
            "error: config file not readable (permission denied): {locked}"
        )]
    );
}

// B17: precedence of the sources; an explicit flag wins wherever it stands.

fn b17_files(home: &Home) -> (String, String, String) {
    let a = home.write("a.conf", "[DEFAULT]\nworkers = 3\n");
    let b = home.write("b.conf", "[DEFAULT]\nworkers = 7\n");
    home.write("d/10-x.conf", "[DEFAULT]\nworkers = 4\n");
    home.write("d/20-y.conf", "[DEFAULT]\nworkers = 6\n");
    home.write("d/30-z.txt", "[DEFAULT]\nworkers = 9\n");
    let d = home.path("d").to_str().unwrap().to_string();
    (a, b, d)
}

#[test]
fn b17_sources_are_applied_in_oslo_config_order() {
    let home = Home::new();
    let (a, b, d) = b17_files(&home);
    let workers = |args: &[&str]| home.printed(args, &[], "DEFAULT.workers");

    assert_eq!(workers(&[]), ("2".into(), "default".into()));
    assert_eq!(
        workers(&["--config-file", &a]),
        ("3".into(), format!("{a}:2"))
    );
    let flag = ("5".to_string(), "command-line flag --workers".to_string());
    assert_eq!(workers(&["--config-file", &a, "--workers", "5"]), flag);
    assert_eq!(workers(&["--config-file", &a, "--config-dir", &d]).0, "6");
    assert_eq!(workers(&["--config-file", &a, "--config-file", &b]).0, "7");
}

/// The position question: oslo.config applies sources in command-line
/// order, so a file after a flag overrides it there. Here an explicit flag
/// always wins.
#[test]
fn b17_an_explicit_flag_wins_even_before_a_config_file() {
    let home = Home::new();
    let (a, _, _) = b17_files(&home);
    let printed = home.printed(
        &["--workers", "5", "--config-file", &a],
        &[],
        "DEFAULT.workers",
    );
    assert_eq!(printed, ("5".into(), "command-line flag --workers".into()));
    let debug = home.printed(&["--debug", "--config-file", &a], &[], "DEFAULT.debug");
    assert_eq!(debug, ("true".into(), "command-line flag --debug".into()));
}

#[test]
fn b17_the_running_service_uses_the_flag_over_the_file() {
    let home = Home::new();
    let file = home.write("a.conf", "[DEFAULT]\nworkers = 3\nbind_port = 0\n");
    let probe = home.start(&["--workers", "1", "--config-file", &file], &[]);
    let address = listening_address(&probe);
    probe.wait_for_lines(&["service started"], 1);
    assert_eq!(http_get(&address, "/conf?name=workers"), "1");
    assert!(
        probe.worker_pids().is_empty(),
        "one worker runs in the main process"
    );
    stop(probe);
}

#[test]
fn the_environment_sits_between_files_and_flags() {
    let home = Home::new();
    let a = home.write(
        "a.conf",
        "[DEFAULT]\nworkers = 3\n[probe]\ntick_cost = 0.5\n",
    );
    let env = [
        ("OS_DEFAULT__WORKERS", "4"),
        ("OS_PROBE__TICK_COST", "0.25"),
    ];
    let workers = home.printed(&["--config-file", &a], &env, "DEFAULT.workers");
    assert_eq!(
        workers,
        (
            "4".into(),
            "environment variable OS_DEFAULT__WORKERS".into()
        )
    );
    let cost = home.printed(&["--config-file", &a], &env, "probe.tick_cost");
    assert_eq!(cost.0, "0.25");
    let flag = home.printed(
        &["--config-file", &a, "--workers", "5"],
        &env,
        "DEFAULT.workers",
    );
    assert_eq!(flag.0, "5");
}

#[test]
fn the_default_file_and_directory_are_searched_in_the_home_directory() {
    let home = Home::new();
    let default_file = home.write(".probe/probe.conf", "[DEFAULT]\nworkers = 3\n");
    home.write("probe.conf.d/10-a.conf", "[DEFAULT]\nbind_port = 9\n");
    let other = home.write("other.conf", "[DEFAULT]\nbind_host = ::1\n");
    let dir = home.write("d/10-b.conf", "[DEFAULT]\nbind_port = 10\n");
    let dir = Path::new(&dir)
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();

    let printed = |args: &[&str], option| home.printed(args, &[], option);
    assert_eq!(
        printed(&[], "DEFAULT.workers"),
        ("3".into(), format!("{default_file}:2"))
    );
    assert_eq!(printed(&[], "DEFAULT.bind_port").0, "9");
    // A --config-file replaces the default file, not the default directory.
    assert_eq!(
        printed(&["--config-file", &other], "DEFAULT.workers").0,
        "2"
    );
    assert_eq!(
        printed(&["--config-file", &other], "DEFAULT.bind_port").0,
        "9"
    );
    // A --config-dir replaces the default directory, not the default file.
    assert_eq!(printed(&["--config-dir", &dir], "DEFAULT.workers").0, "3");
    assert_eq!(
        printed(&["--config-dir", &dir], "DEFAULT.bind_port").0,
        "10"
    );
}

// The operator's actions.

#[test]
fn help_shows_each_flag_with_its_type_and_default() {
    let home = Home::new();
    let help = home.run(&["--help"], &[]);
    assert_eq!(help.code, 0, "{help:#?}");
    let lines_with = |part: &str| -> Vec<&String> {
        help.stdout
            .iter()
            .filter(|line| line.contains(part))
            .collect()
    };
    let debug = lines_with("--debug ");
    assert_eq!(debug.len(), 1, "{help:#?}");
    let described = "Log at debug level. [boolean value, default: false]";
    assert!(debug[0].ends_with(described), "{debug:?}");
    assert_eq!(lines_with("--nodebug").len(), 1);
    for flag in [
        "--config-file",
        "--config-dir",
        "--workers",
        "--generate-config",
    ] {
        assert_eq!(lines_with(flag).len(), 1, "{flag} in {help:#?}");
    }
}

#[test]
fn the_generated_sample_uncommented_gives_the_defaults() {
    let home = Home::new();
    let generated = home.run(&["--generate-config"], &[]);
    assert_eq!(generated.code, 0, "{generated:#?}");
    let sample = generated.stdout;
    assert_eq!(sample[0], "[DEFAULT]");
    assert!(sample.iter().any(|l| l == "[probe]"), "{sample:#?}");

    let uncommented: Vec<String> = sample
        .iter()
        .map(|line| match line.strip_prefix('#') {
            Some(rest) if is_assignment(rest) && !rest.ends_with("= <None>") => rest.to_string(),
            _ => line.clone(),
        })
        .collect();
    let file = home.write("sample.conf", &(uncommented.join("\n") + "\n"));
    let defaults = print_config(&home, &[]);
    let from_sample = print_config(&home, &["--config-file", &file]);
    assert_eq!(defaults.len(), from_sample.len());
    for ((option, default, _), (same, read, source)) in defaults.iter().zip(&from_sample) {
        assert_eq!(option, same);
        assert_eq!(read, default, "{option}");
        if read != "null" {
            assert!(source.starts_with(&file), "{option} comes from {source}");
        }
    }
}

fn is_assignment(text: &str) -> bool {
    text.split_once(" =").is_some_and(|(name, _)| {
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    })
}

/// Every `option = value (source)` line of `--print-config`.
fn print_config(home: &Home, args: &[&str]) -> Vec<(String, String, String)> {
    let mut all = args.to_vec();
    all.push("--print-config");
    let finished = home.run(&all, &[]);
    assert_eq!(finished.code, 0, "{finished:#?}");
    let lines = finished.stdout.iter().filter(|line| !line.starts_with('#'));
    lines
        .map(|line| {
            let (option, _) = line.split_once(" = ").expect("option = value");
            let (value, source) = printed_value(std::slice::from_ref(line), option);
            (option.to_string(), value, source)
        })
        .collect()
}

#[test]
fn check_config_accepts_a_valid_configuration() {
    let home = Home::new();
    let file = home.write(
        "ok.conf",
        "[DEFAULT]\nworkers = 3\n[probe]\nunknown_knob = 1\n",
    );
    let checked = home.run(&["--check-config", "--config-file", &file], &[]);
    assert_eq!(checked.code, 0, "{checked:#?}");
    let valid = format!("configuration is valid (files read: {file})");
    assert_eq!(checked.stdout, [valid]);
    let unknown = format!("warning: {file}:4: [probe] unknown_knob is not a known option; ignored");
    assert_eq!(checked.stderr, [unknown]);
}

#[test]
fn an_endless_config_file_is_refused_instead_of_filling_the_memory() {
    let home = Home::new();
    let checked = home.run(&["--check-config", "--config-file", "/dev/zero"], &[]);
    assert_eq!(checked.code, 78, "{checked:#?}");
    assert_eq!(
        checked.stderr,
        ["error: config file /dev/zero is larger than 64 MiB; is it the right file?"]
    );
}

/// `--print-config | head -1`: a reader that has gone is no error, and
/// certainly no panic.
#[test]
fn printing_to_a_closed_pipe_exits_quietly() {
    let home = Home::new();
    for action in ["--print-config", "--generate-config"] {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let mut command = home.command(&[action], &[]);
        command.stdout(Stdio::from(writer)).stderr(Stdio::piped());
        let output = command.output().expect("the probe runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{action}: {stderr}");
        assert!(stderr.is_empty(), "{action}: {stderr}");
    }
}

#[test]
fn check_config_without_a_file_says_none_was_read() {
    let home = Home::new();
    let checked = home.run(&["--check-config"], &[]);
    assert_eq!(checked.code, 0, "{checked:#?}");
    assert_eq!(
        checked.stdout,
        ["configuration is valid (no configuration file read)"]
    );
}

#[test]
fn check_config_prints_every_problem_and_fails() {
    let home = Home::new();
    let file = home.write(
        "bad.conf",
        "[DEFAULT]\nworkers = 0\nrestart_method = restart\n[probe]\ntick_spacing = x\n",
    );
    let errors = config_errors(&home, &["--check-config", "--config-file", &file]);
    assert_eq!(errors.len(), 3, "{errors:#?}");
    for expected in [
        format!(
            "{file}:3: option [DEFAULT] restart_method: invalid value \"restart\": \
             expected one of: reload, mutate"
        ),
        format!(
            "{file}:2: option [DEFAULT] workers: invalid value \"0\": \
             should be greater than or equal to 1"
        ),
        format!(
            "{file}:5: option [probe] tick_spacing: invalid value \"x\": \
             expected a number, such as 2.5 or 10"
        ),
    ] {
        let found = errors
            .iter()
            .filter(|e| **e == format!("error: {expected}"))
            .count();
        assert_eq!(found, 1, "{expected} in {errors:#?}");
    }
}

/// Every problem of `[ssl]` is reported with the bad values of other
/// groups, in reading order: each file on its own (a missing certificate
/// does not hide a key file that is not PEM), the version, and the value
/// of an ordinary option. Start-up reports the same list; `--print-config`
/// does not check the TLS files.
#[test]
fn check_config_reports_tls_problems_with_every_other_problem() {
    let home = Home::new();
    let key = home.write("key.txt", "this is not a key\n");
    let file = home.write(
        "tls.conf",
        &format!(
            "[probe]\ntick_spacing = x\n[ssl]\ncert_file = /nonexistent/cert.pem\n\
             key_file = {key}\nversion = tlsv1\n"
        ),
    );
    let expected = [
        format!(
            "error: {file}:2: option [probe] tick_spacing: invalid value \"x\": \
             expected a number, such as 2.5 or 10"
        ),
        format!(
            "error: {file}:4: option [ssl] cert_file: invalid value \"/nonexistent/cert.pem\": \
             the file does not exist"
        ),
        format!(
            "error: {file}:5: option [ssl] key_file: invalid value \"{key}\": not a PEM file \
             with a PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block"
        ),
        format!(
            "error: {file}:6: option [ssl] version: invalid value \"tlsv1\": expected one of \
             `tlsv1_2` (TLS 1.2 and 1.3), `tlsv1_3` (TLS 1.3 only); TLS 1.0, TLS 1.1 and SSL \
             are not offered"
        ),
    ];
    let checked = config_errors(&home, &["--check-config", "--config-file", &file]);
    assert_eq!(checked, expected);
    let started = config_errors(&home, &["--config-file", &file]);
    assert_eq!(started, expected);

    // `--print-config` starts nothing, so TLS files do not stop it.
    let tls_only = home.write(
        "tls-only.conf",
        &format!("[ssl]\ncert_file = /nonexistent/cert.pem\nkey_file = {key}\n"),
    );
    let printed = home.printed(&["--config-file", &tls_only], &[], "ssl.key_file");
    assert_eq!(printed, (format!("{key:?}"), format!("{tls_only}:3")));
}

#[test]
fn secrets_are_masked_in_print_config_errors_logs_and_conf() {
    let home = Home::new();
    let file = home.write(
        "secret.conf",
        "[DEFAULT]\nworkers = 1\nbind_port = 0\n[probe]\npassword = hunter2\n",
    );
    let printed = home.printed(&["--config-file", &file], &[], "probe.password");
    assert_eq!(printed, ("\"****\"".into(), format!("{file}:5")));

    let probe = home.start(&["--config-file", &file, "--debug"], &[]);
    let address = listening_address(&probe);
    probe.wait_for_lines(&["service started"], 1);
    let logged = probe.wait_for_lines(&["option=probe.password"], 1);
    assert!(logged[0].contains("value=\"****\""), "{logged:?}");
    assert_eq!(
        probe
            .lines_with(&["option=DEFAULT.workers", "value=1"])
            .len(),
        1
    );
    assert_eq!(http_get(&address, "/conf?name=probe.password"), "\"****\"");
    assert!(
        probe.lines_with(&["hunter2"]).is_empty(),
        "log:\n{}",
        probe.log()
    );
    stop(probe);
}

#[test]
fn option_values_are_not_logged_when_log_options_is_off() {
    let home = Home::new();
    let file = home.write(
        "quiet.conf",
        "[DEFAULT]\nworkers = 1\nbind_port = 0\nlog_options = false\n",
    );
    let probe = home.start(&["--config-file", &file, "--debug"], &[]);
    probe.wait_for_lines(&["service started"], 1);
    assert!(
        probe.lines_with(&["option=DEFAULT.workers"]).is_empty(),
        "log:\n{}",
        probe.log()
    );
    stop(probe);
}
