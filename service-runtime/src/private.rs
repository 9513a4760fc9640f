//! What the macros' expansions use. Not a public API: it may change in any
//! release. Everything an expansion names goes through here, so that user
//! code that shadows `Option`, `Result` or `std` cannot break it.

pub use anyhow;
pub use futures::future::BoxFuture;
pub use linkme;
pub use std::boxed::Box;
pub use std::convert::Into;
pub use std::default::Default;
pub use std::future::Future;
pub use std::marker::Send;
pub use std::option::Option::{self, None, Some};
pub use std::result::Result::{self, Err, Ok};
pub use std::string::String;
pub use std::time::Duration;
pub use std::vec::Vec;
pub use std::{concat, file, line, vec};

pub use crate::config::Conf;
pub use crate::config::{
    CONFIG_GROUPS, ConfigError, ConfigGroup, GroupSpec, Kind, OptionSpec, OptionValue,
    ResolvedGroup, group_spec,
};
pub use crate::launcher::run_main;
pub use crate::listen::Listen;
pub use crate::periodic::{PeriodicTask, Spacing, TaskOutcome};
pub use crate::service::{Context, Service};

/// Compiles only for types that have an option kind; the macro spans the
/// call at the field's type so the error points there.
pub const fn assert_option_value<T: OptionValue>() {}

/// Unwraps a value the build step has checked to be present.
pub fn present<T>(value: Option<T>) -> T {
    value.expect("values are checked before the struct is built")
}

/// Renders a default for help texts and sample files.
pub fn render<T: OptionValue>(value: &T) -> String {
    value.render()
}

/// Renders the default of a multi-valued option: one value per line, the
/// way a file gives a multi-valued option one assignment per value (see
/// `OptionSpec::default_values`).
pub fn render_multi<T: OptionValue>(values: &[T]) -> String {
    values
        .iter()
        .map(OptionValue::render)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The closed set of values of a kind, for sample files (not for `bool`,
/// whose many spellings are all accepted).
pub fn choices_of<T: OptionValue>() -> Option<&'static [&'static str]> {
    if T::KIND == Kind::Boolean {
        None
    } else {
        T::choices()
    }
}

/// Parses one raw value into its JSON form.
///
/// # Errors
///
/// What the kind expected.
pub fn check_raw<T: OptionValue>(raw: &str) -> Result<serde_json::Value, String> {
    T::parse_raw(raw).map(|value| value.to_json())
}

/// The worker count from an integer option.
///
/// # Errors
///
/// A message naming the option when it is missing or not a positive
/// integer.
pub fn workers_from_option(conf: &Conf, group: &str, name: &str) -> Result<u32, String> {
    let value = conf.value(group, name).ok_or_else(|| {
        format!("option [{group}] {name} (the worker count) is not declared or has no value")
    })?;
    value
        .as_u64()
        .filter(|count| *count >= 1)
        .and_then(|count| u32::try_from(count).ok())
        .ok_or_else(|| format!("option [{group}] {name}: expected a worker count of at least 1"))
}

/// What `new` may return: `Result<Self, E>` for any error convertible to
/// `anyhow::Error`, or `Self`.
pub trait IntoNewResult<S> {
    /// Converts to the runtime's result.
    fn into_new_result(self) -> anyhow::Result<S>;
}

impl<S, E: Into<anyhow::Error>> IntoNewResult<S> for Result<S, E> {
    fn into_new_result(self) -> anyhow::Result<S> {
        self.map_err(Into::into)
    }
}

/// What `start` may return: `()` or `Result<(), E>`.
pub trait IntoHookResult {
    /// Converts to the runtime's result.
    fn into_hook_result(self) -> anyhow::Result<()>;
}

impl IntoHookResult for () {
    fn into_hook_result(self) -> anyhow::Result<()> {
        Ok(())
    }
}

impl<E: Into<anyhow::Error>> IntoHookResult for Result<(), E> {
    fn into_hook_result(self) -> anyhow::Result<()> {
        self.map_err(Into::into)
    }
}

/// What a periodic task may return: `()` or `Result<(), E>` for any
/// displayable error.
pub trait IntoTaskOutcome {
    /// Converts to a task outcome.
    fn into_task_outcome(self) -> TaskOutcome;
}

impl IntoTaskOutcome for () {
    fn into_task_outcome(self) -> TaskOutcome {
        Ok(())
    }
}

impl<E: std::fmt::Display> IntoTaskOutcome for Result<(), E> {
    fn into_task_outcome(self) -> TaskOutcome {
        self.map_err(|error| format!("{error:#}"))
    }
}
