//! The command line every service gets: configuration sources, the
//! operator's actions, and a flag for each option marked `cli`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::config::{Kind, LoadArgs, MASK, OptionSpec, Registry, SourceArg};

/// What the operator asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Run the service.
    Run,
    /// Print a sample configuration file.
    GenerateConfig,
    /// Load and validate the configuration, then exit.
    CheckConfig,
    /// Print each option's effective value and its source.
    PrintConfig,
    /// Send a command to the running service's control socket.
    Ctl,
}

/// The parsed command line.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) action: Action,
    pub(crate) load: LoadArgs,
    pub(crate) workers: Option<u32>,
    /// The words of the `ctl` command.
    pub(crate) ctl: Vec<String>,
}

const CONFIG_FILE: &str = "config-file";
const CONFIG_DIR: &str = "config-dir";
const WORKERS: &str = "workers";
const CTL: &str = "ctl";
const CTL_COMMAND: &str = "command";

/// Builds the command for a service named `name`.
pub(crate) fn command(name: &'static str, version: &'static str, registry: &Registry) -> Command {
    let mut command = Command::new(name)
        .version(version)
        .about(format!("Runs the {name} service."))
        .arg(
            Arg::new(CONFIG_FILE)
                .long(CONFIG_FILE)
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .action(ArgAction::Append)
                .global(true)
                .help("Read this configuration file; repeat for several, later files win"),
        )
        .arg(
            Arg::new(CONFIG_DIR)
                .long(CONFIG_DIR)
                .value_name("DIR")
                .value_parser(clap::value_parser!(PathBuf))
                .action(ArgAction::Append)
                .global(true)
                .help("Read every *.conf file of this directory, in name order"),
        )
        .arg(
            Arg::new(WORKERS)
                .long(WORKERS)
                .value_name("N")
                .value_parser(clap::value_parser!(u32).range(1..))
                .help("Number of worker processes, overriding the configuration"),
        )
        .arg(action_flag(
            "generate-config",
            "Print a sample configuration file and exit",
        ))
        .arg(action_flag(
            "check-config",
            "Load and validate the configuration, then exit",
        ))
        .arg(action_flag(
            "print-config",
            "Print each option's effective value and its source, then exit",
        ))
        .group(
            clap::ArgGroup::new("action")
                .args(["generate-config", "check-config", "print-config"])
                .multiple(false),
        )
        .subcommand(ctl_command());
    for option in registry.options().filter(|o| o.cli) {
        command = add_option_flags(command, option);
    }
    command
}

/// `ctl COMMAND...`: the client of the control socket, which it finds in
/// the same configuration as the service.
fn ctl_command() -> Command {
    Command::new(CTL)
        .about("Send a command to the running service through its control socket")
        .long_about(
            "Send a command to the running service through its control socket and print the \
             answer as JSON. Give the same --config-file as the service, so that `ctl` finds \
             the socket. Commands: status, tasks, config, reload, run-task NAME, workers N, \
             help.",
        )
        .arg(
            Arg::new(CTL_COMMAND)
                .value_name("COMMAND")
                .num_args(1..)
                .required(true)
                .help("status | tasks | config | reload | run-task NAME | workers N | help"),
        )
}

fn action_flag(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .action(ArgAction::SetTrue)
        .help(help)
}

/// The help line of an option's flag: the first sentence of its help, then
/// its type, choices and default, as in `[integer value, default: 60]`.
fn flag_help(option: &OptionSpec) -> String {
    let kind = if option.multi {
        format!("{}, repeatable", option.kind.sample_name())
    } else {
        option.kind.sample_name().to_string()
    };
    let choices = match option.choices {
        Some(choices) => format!(", one of: {}", choices.join(", ")),
        None => String::new(),
    };
    let default = match &option.default {
        None => "<None>".to_string(),
        Some(_) if option.secret => MASK.to_string(),
        Some(_) => option.default_values().join(", "),
    };
    format!(
        "{} [{kind}{choices}, default: {default}]",
        first_sentence(option.help)
    )
}

fn add_option_flags(command: Command, option: &OptionSpec) -> Command {
    let flag = option.flag_name();
    let help = flag_help(option);
    if is_switch(option) {
        let negative = format!("no{flag}");
        return command
            .arg(
                Arg::new(flag.clone())
                    .long(flag.clone())
                    .action(ArgAction::SetTrue)
                    .help(help),
            )
            .arg(
                Arg::new(negative.clone())
                    .long(negative)
                    .action(ArgAction::SetTrue)
                    .overrides_with(flag)
                    .help(format!("The opposite of --{}", option.flag_name())),
            );
    }
    let action = if option.multi {
        ArgAction::Append
    } else {
        ArgAction::Set
    };
    let value_name = option.name.to_uppercase();
    command.arg(
        Arg::new(flag.clone())
            .long(flag)
            .value_name(value_name)
            .action(action)
            .help(help),
    )
}

/// A single-valued boolean: `--name` sets it, `--noname` clears it.
fn is_switch(option: &OptionSpec) -> bool {
    option.kind == Kind::Boolean && !option.multi
}

fn first_sentence(help: &str) -> &str {
    let paragraph = help.split("\n\n").next().unwrap_or("");
    match paragraph.find(". ") {
        Some(end) => &paragraph[..=end],
        None => paragraph,
    }
}

/// Parses the command line. On `--help`, `--version` or a usage error clap
/// prints and exits.
pub(crate) fn parse(
    name: &'static str,
    version: &'static str,
    registry: &Registry,
    args: Vec<OsString>,
) -> Request {
    let matches = command(name, version, registry).get_matches_from(&args);
    let ctl: Vec<String> = matches
        .subcommand_matches(CTL)
        .and_then(|ctl| ctl.get_many::<String>(CTL_COMMAND))
        .map(|words| words.cloned().collect())
        .unwrap_or_default();
    let action = if matches.subcommand_matches(CTL).is_some() {
        Action::Ctl
    } else if matches.get_flag("generate-config") {
        Action::GenerateConfig
    } else if matches.get_flag("check-config") {
        Action::CheckConfig
    } else if matches.get_flag("print-config") {
        Action::PrintConfig
    } else {
        Action::Run
    };
    let load = LoadArgs {
        sources: sources_in_order(&matches),
        project: name.to_string(),
        prog: prog_name(&args),
        cli_values: option_values(&matches, registry),
        env: option_variables(),
    };
    Request {
        action,
        load,
        workers: matches.get_one::<u32>(WORKERS).copied(),
        ctl,
    }
}

/// The program's file name, searched for default files after the project
/// name, as oslo.config does.
fn prog_name(args: &[OsString]) -> String {
    args.first()
        .map(std::path::Path::new)
        .and_then(|path| path.file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The `OS_*` variables, the only ones options are read from. Variables
/// whose name or value is not UTF-8 cannot name an option and are skipped.
fn option_variables() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)))
        .filter(|(key, _)| key.starts_with("OS_"))
        .collect()
}

/// `--config-file` and `--config-dir` arguments in the order given.
fn sources_in_order(matches: &ArgMatches) -> Vec<SourceArg> {
    let mut indexed: Vec<(usize, SourceArg)> = Vec::new();
    for (id, wrap) in [
        (CONFIG_FILE, SourceArg::File as fn(PathBuf) -> SourceArg),
        (CONFIG_DIR, SourceArg::Dir),
    ] {
        let (Some(values), Some(indices)) =
            (matches.get_many::<PathBuf>(id), matches.indices_of(id))
        else {
            continue;
        };
        indexed.extend(
            indices
                .zip(values)
                .map(|(index, path)| (index, wrap(path.clone()))),
        );
    }
    indexed.sort_by_key(|(index, _)| *index);
    indexed.into_iter().map(|(_, source)| source).collect()
}

/// Values of option flags: group, name, raw value, flag as written.
fn option_values(
    matches: &ArgMatches,
    registry: &Registry,
) -> Vec<(String, String, String, String)> {
    let mut values = Vec::new();
    for option in registry.options().filter(|o| o.cli) {
        let flag = option.flag_name();
        let entry = |raw: &str, written: &str| {
            (
                option.group.to_string(),
                option.name.to_string(),
                raw.to_string(),
                written.to_string(),
            )
        };
        if is_switch(option) {
            let negative = format!("no{flag}");
            if matches.get_flag(&flag) {
                values.push(entry("true", &format!("--{flag}")));
            } else if matches.get_flag(&negative) {
                values.push(entry("false", &format!("--{negative}")));
            }
            continue;
        }
        if let Some(given) = matches.get_many::<String>(&flag) {
            values.extend(given.map(|raw| entry(raw, &format!("--{flag}"))));
        }
    }
    values
}
