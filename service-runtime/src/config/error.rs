//! Configuration errors that say where the bad input is.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// The option's declared default.
    Default,
    /// A configuration file, with the 1-based line of the key.
    File {
        /// The file as named on the command line or found in a directory.
        path: PathBuf,
        /// The line of the assignment.
        line: usize,
    },
    /// An `OS_<GROUP>__<NAME>` environment variable.
    Env {
        /// The variable's name.
        var: String,
    },
    /// A command-line flag.
    Cli {
        /// The flag as written, with its dashes.
        flag: String,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File { path, line } => write!(f, "{}:{}", path.display(), line),
            Source::Env { var } => write!(f, "environment variable {var}"),
            Source::Cli { flag } => write!(f, "command-line flag {flag}"),
        }
    }
}

/// One problem with the configuration.
///
/// Its message names, when they are known, the file and line, the group and
/// option, the value seen (masked for secrets) and what was expected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigError {
    /// Where the offending input is, when it comes from a source.
    pub source: Option<Source>,
    /// The group and option concerned, when there is one.
    pub option: Option<(String, String)>,
    /// The value seen, already masked when the option is secret.
    pub value: Option<String>,
    /// What is wrong, or what was expected.
    pub message: String,
}

impl ConfigError {
    /// An error about the configuration as a whole (a missing file, say).
    pub fn general(source: Option<Source>, message: impl Into<String>) -> Self {
        ConfigError {
            source,
            option: None,
            value: None,
            message: message.into(),
        }
    }

    /// An error about one option's value.
    pub fn for_option(
        group: &str,
        name: &str,
        source: Option<Source>,
        value: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        ConfigError {
            source,
            option: Some((group.to_string(), name.to_string())),
            value,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(source) = &self.source {
            write!(f, "{source}: ")?;
        }
        if let Some((group, name)) = &self.option {
            write!(f, "option [{group}] {name}: ")?;
        }
        if let Some(value) = &self.value {
            write!(f, "invalid value {value:?}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found while loading, reported together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
