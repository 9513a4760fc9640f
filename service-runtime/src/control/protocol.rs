//! The words of the control protocol and the shape of its answers.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Answer;

/// The most workers `workers N` accepts.
pub(crate) const MAX_WORKERS: u32 = 1024;

/// The longest wait for the service's answer to one command.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest wait for the outcome of a reload, which with several
/// workers replaces them one at a time, each started and ready before the
/// next.
const RELOAD_ANSWER_TIMEOUT: Duration = Duration::from_secs(600);

/// The commands, with a line of help each, as `help` lists them.
pub(crate) const COMMANDS: &[(&str, &str)] = &[
    ("status", "the workers: pid, generation, age, restarts"),
    (
        "tasks",
        "each worker's periodic tasks: last run, duration, next run, errors",
    ),
    ("config", "the effective configuration, secrets masked"),
    (
        "reload",
        "read the configuration again, as SIGHUP does; answers once it took effect or failed",
    ),
    (
        "run-task NAME",
        "run periodic task NAME now, in every worker",
    ),
    ("workers N", "run N worker processes from now on"),
    ("help", "this list"),
];

/// A command of the control protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Command {
    Status,
    Tasks,
    Config,
    Reload,
    RunTask(String),
    Workers(u32),
    Help,
}

impl Command {
    /// Parses one line: a command word and its arguments, separated by
    /// spaces.
    pub(crate) fn parse(line: &str) -> Result<Command, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((&word, arguments)) = words.split_first() else {
            return Err(format!("empty command; expected one of: {}", names()));
        };
        let command = match word.to_ascii_lowercase().as_str() {
            "status" => Command::Status,
            "tasks" => Command::Tasks,
            "config" => Command::Config,
            "reload" => Command::Reload,
            "help" => Command::Help,
            "run-task" => {
                let [name] = arguments else {
                    return Err("`run-task` takes one task name: `run-task NAME`".to_string());
                };
                return Ok(Command::RunTask((*name).to_string()));
            }
            "workers" => {
                let [count] = arguments else {
                    return Err(format!(
                        "`workers` takes one number: `workers N`, N from 1 to {MAX_WORKERS}"
                    ));
                };
                return parse_worker_count(count).map(Command::Workers);
            }
            _ => {
                return Err(format!(
                    "unknown command `{word}`; expected one of: {}",
                    names()
                ));
            }
        };
        if let Some(extra) = arguments.first() {
            return Err(format!("`{word}` takes no argument, got `{extra}`"));
        }
        Ok(command)
    }

    /// How long the service may take to answer: a reload answers with its
    /// outcome, so it may take as long as starting every worker again.
    pub(crate) fn answer_timeout(&self) -> Duration {
        match self {
            Command::Reload => RELOAD_ANSWER_TIMEOUT,
            _ => ANSWER_TIMEOUT,
        }
    }

    /// The list of commands, as `help` answers it.
    pub(crate) fn help() -> serde_json::Value {
        let commands: Vec<serde_json::Value> = COMMANDS
            .iter()
            .map(|(usage, help)| serde_json::json!({ "command": usage, "help": help }))
            .collect();
        serde_json::Value::Array(commands)
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Status => f.write_str("status"),
            Command::Tasks => f.write_str("tasks"),
            Command::Config => f.write_str("config"),
            Command::Reload => f.write_str("reload"),
            Command::RunTask(name) => write!(f, "run-task {name}"),
            Command::Workers(count) => write!(f, "workers {count}"),
            Command::Help => f.write_str("help"),
        }
    }
}

fn parse_worker_count(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(count) if (1..=MAX_WORKERS).contains(&count) => Ok(count),
        _ => Err(format!(
            "expected a number of workers from 1 to {MAX_WORKERS}, got `{text}`"
        )),
    }
}

fn names() -> String {
    COMMANDS
        .iter()
        .map(|(usage, _)| *usage)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the main process asks a worker on behalf of a control command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "query", rename_all = "snake_case")]
pub(crate) enum WorkerQuery {
    /// The statistics of every periodic task.
    Tasks,
    /// Make a periodic task due now.
    RunTask { name: String },
}

/// The answer as one line of JSON, without the line end.
pub(crate) fn encode(answer: &Answer) -> String {
    let value = match answer {
        Ok(result) => serde_json::json!({ "ok": true, "result": result }),
        Err(error) => serde_json::json!({ "ok": false, "error": error }),
    };
    value.to_string()
}

/// Reads an answer line.
pub(crate) fn decode(line: &str) -> Result<Answer, String> {
    let value: serde_json::Value = serde_json::from_str(line)
        .map_err(|error| format!("the service sent an answer that is not JSON: {error}"))?;
    match value["ok"].as_bool() {
        Some(true) => Ok(Ok(value["result"].clone())),
        Some(false) => Ok(Err(value["error"]
            .as_str()
            .unwrap_or("the service gave no reason")
            .to_string())),
        None => Err(format!("the service sent an answer without `ok`: {line}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_with_their_arguments() {
        assert_eq!(Command::parse(" status "), Ok(Command::Status));
        assert_eq!(Command::parse("TASKS"), Ok(Command::Tasks));
        assert_eq!(
            Command::parse("run-task tick"),
            Ok(Command::RunTask("tick".into()))
        );
        assert_eq!(Command::parse("workers 3"), Ok(Command::Workers(3)));
        for command in ["status", "tasks", "config", "reload", "help", "workers 2"] {
            assert_eq!(Command::parse(command).unwrap().to_string(), command);
        }
    }

    #[test]
    fn bad_commands_say_what_is_expected() {
        let unknown = Command::parse("restart").unwrap_err();
        assert!(unknown.contains("unknown command `restart`"), "{unknown}");
        assert!(unknown.contains("run-task NAME"), "{unknown}");
        let zero = Command::parse("workers 0").unwrap_err();
        assert!(zero.contains("from 1 to 1024, got `0`"), "{zero}");
        assert!(
            Command::parse("workers")
                .unwrap_err()
                .contains("`workers N`")
        );
        assert!(
            Command::parse("run-task")
                .unwrap_err()
                .contains("run-task NAME")
        );
        let extra = Command::parse("status now").unwrap_err();
        assert!(extra.contains("takes no argument, got `now`"), "{extra}");
        assert!(Command::parse("").unwrap_err().contains("empty command"));
    }

    #[test]
    fn answers_round_trip() {
        let ok: Answer = Ok(serde_json::json!({ "a": 1 }));
        assert_eq!(decode(&encode(&ok)), Ok(ok));
        let error: Answer = Err("nope".into());
        assert_eq!(decode(&encode(&error)), Ok(error));
        assert!(decode("{}").unwrap_err().contains("without `ok`"));
        assert!(decode("not json").unwrap_err().contains("not JSON"));
    }
}
