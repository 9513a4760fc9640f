//! What the macros' expansions use. Not a public API: it may change in any
//! release.
//!
//! Everything an expansion names goes through here, by absolute path, so
//! that user code that shadows `Option`, `Result`, `Vec`, `std` or even a
//! primitive type such as `bool` cannot break it, and so that a crate that
//! renames the runtime in its `Cargo.toml` needs only that one path changed
//! (the macros find the new name there, or take `crate = "..."`).
//! The traits carry `#[diagnostic::on_unimplemented]` messages: the
//! expansions span their uses at the user's tokens, so a wrong type is
//! reported where it was written, in the words of the macro.

use std::marker::PhantomData;

pub use anyhow;
pub use futures::future::BoxFuture;
pub use linkme;
pub use std::boxed::Box;
pub use std::future::Future;
pub use std::marker::Send;
pub use std::option::Option::{self, None, Some};
pub use std::primitive::{bool, str, u32};
pub use std::result::Result::{self, Err, Ok};
pub use std::string::String;
pub use std::time::Duration;
pub use std::vec::Vec;
pub use std::{assert, compile_error, concat, env, file, line, unreachable, vec};

pub use crate::config::Conf;
pub use crate::config::{
    CONFIG_GROUPS, ConfigError, ConfigGroup, GroupSpec, Kind, OptionSpec, OptionValue,
    ResolvedGroup, group_spec,
};
pub use crate::launcher::run_main;
pub use crate::listen::Listen;
pub use crate::periodic::{PeriodicTask, Spacing, TaskOutcome};
pub use crate::service::{Context, Service};

// ---------------------------------------------------------------------------
// `#[config_group]`

/// Implemented by every type with an option kind; it exists for its error
/// message, which the check at a field's type shows.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an option type",
    label = "this type has no option kind",
    note = "option fields are strings, `bool`, integers, floats, `Port`, `Duration`, \
            `PathBuf`, `Vec<T>`, `Dict<T>`, enums declared with `option_choices!`, \
            or any type implementing `service_runtime::config::OptionValue`"
)]
pub trait IsOptionValue {}

#[diagnostic::do_not_recommend]
impl<T: OptionValue> IsOptionValue for T {}

/// Compiles only for types that have an option kind; the macro spans the
/// call at the field's type.
pub const fn assert_option_value<T: IsOptionValue>() {}

/// Whether `min` and `max` mean something for `kind`.
pub const fn has_bounds(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Integer | Kind::Float | Kind::Port | Kind::Duration
    )
}

/// A default written as an expression of the option's type. Spanned at the
/// default, so a mistyped default is reported there.
pub fn typed<T>(value: T) -> T {
    value
}

/// Types that a string literal default converts to.
#[diagnostic::on_unimplemented(
    message = "a string literal cannot be the default of a `{Self}` option",
    label = "expected a value of type `{Self}`",
    note = "string literals convert to `String`, `PathBuf` and other types with \
            `From<&'static str>`; write any other default as an expression of the field's type"
)]
pub trait StrDefault {
    /// Converts the literal.
    fn from_literal(literal: &'static str) -> Self;
}

#[diagnostic::do_not_recommend]
impl<T: From<&'static str>> StrDefault for T {
    fn from_literal(literal: &'static str) -> Self {
        T::from(literal)
    }
}

/// A string literal default, converted to the option's type.
pub fn from_str_default<T: StrDefault>(literal: &'static str) -> T {
    T::from_literal(literal)
}

/// Unwraps a value the build step has checked to be present.
pub fn present<T>(value: Option<T>) -> T {
    value.expect("values are checked before the struct is built")
}

/// Reaches an option type's `OptionValue` impl from generated code.
///
/// Its methods come from [`KnownKind`] when `T` has an option kind, and
/// from [`UnknownKind`] otherwise (method lookup tries `&Probe<T>` before
/// `&&Probe<T>`). Generated code therefore type-checks whatever the field's
/// type, and a type without a kind fails once, at the field's type, through
/// [`assert_option_value`], instead of once per use.
pub struct Probe<T>(PhantomData<fn() -> T>);

impl<T> Probe<T> {
    /// The probe of `T`.
    pub const NEW: Self = Probe(PhantomData);
}

/// What generated code asks of an option's value type.
pub trait KnownKind {
    /// The option's value type.
    type Value;

    /// The option's kind.
    fn kind(&self) -> Kind;

    /// The closed set of values of the kind, for sample files (not for
    /// `bool`, whose many spellings are all accepted).
    fn choices(&self) -> Option<&'static [&'static str]>;

    /// The parser and checker of raw values.
    fn check_fn(&self) -> fn(&str) -> Result<serde_json::Value, String>;

    /// A default as help texts and sample files show it.
    fn render_default(&self, default: Option<Self::Value>) -> Option<String>;

    /// The default of a multi-valued option as sample files show it.
    fn render_multi_default(&self, default: Vec<Self::Value>) -> Option<String>;

    /// The value of a single option.
    fn single(
        &self,
        values: &ResolvedGroup<'_>,
        name: &str,
        default: Option<Self::Value>,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Self::Value>;

    /// The value of an `Option<T>` option.
    fn optional(
        &self,
        values: &ResolvedGroup<'_>,
        name: &str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Option<Self::Value>>;

    /// The values of a multi-valued option.
    fn multi(
        &self,
        values: &ResolvedGroup<'_>,
        name: &str,
        default: Vec<Self::Value>,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Vec<Self::Value>>;
}

impl<T: OptionValue> KnownKind for Probe<T> {
    type Value = T;

    fn kind(&self) -> Kind {
        T::KIND
    }

    fn choices(&self) -> Option<&'static [&'static str]> {
        if T::KIND == Kind::Boolean {
            None
        } else {
            T::choices()
        }
    }

    fn check_fn(&self) -> fn(&str) -> Result<serde_json::Value, String> {
        |raw| T::parse_raw(raw).map(|value| value.to_json())
    }

    fn render_default(&self, default: Option<T>) -> Option<String> {
        default.map(|value| value.render())
    }

    fn render_multi_default(&self, default: Vec<T>) -> Option<String> {
        // One value per line, the way a file gives a multi-valued option
        // one assignment per value (see `OptionSpec::default_values`).
        let rendered: Vec<String> = default.iter().map(OptionValue::render).collect();
        Some(rendered.join("\n"))
    }

    fn single(
        &self,
        values: &ResolvedGroup<'_>,
        name: &str,
        default: Option<T>,
        errors: &mut Vec<ConfigError>,
    ) -> Option<T> {
        values.single(name, default, errors)
    }

    fn optional(
        &self,
        values: &ResolvedGroup<'_>,
        name: &str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Option<T>> {
        values.optional(name, errors)
    }

    fn multi(
        &self,
        values: &ResolvedGroup<'_>,
        name: &str,
        default: Vec<T>,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Vec<T>> {
        values.multi(name, default, errors)
    }
}

/// The same methods for a type without an option kind. They are only
/// chosen when compilation already fails at the field's type, so they
/// never run.
pub trait UnknownKind {
    /// The option's value type.
    type Value;

    /// Never runs.
    fn kind(&self) -> Kind {
        unreachable!("a field type without an option kind fails to compile")
    }

    /// Never runs.
    fn choices(&self) -> Option<&'static [&'static str]> {
        unreachable!("a field type without an option kind fails to compile")
    }

    /// Never runs.
    fn check_fn(&self) -> fn(&str) -> Result<serde_json::Value, String> {
        unreachable!("a field type without an option kind fails to compile")
    }

    /// Never runs.
    fn render_default(&self, _: Option<Self::Value>) -> Option<String> {
        unreachable!("a field type without an option kind fails to compile")
    }

    /// Never runs.
    fn render_multi_default(&self, _: Vec<Self::Value>) -> Option<String> {
        unreachable!("a field type without an option kind fails to compile")
    }

    /// Never runs.
    fn single(
        &self,
        _: &ResolvedGroup<'_>,
        _: &str,
        _: Option<Self::Value>,
        _: &mut Vec<ConfigError>,
    ) -> Option<Self::Value> {
        unreachable!("a field type without an option kind fails to compile")
    }

    /// Never runs.
    fn optional(
        &self,
        _: &ResolvedGroup<'_>,
        _: &str,
        _: &mut Vec<ConfigError>,
    ) -> Option<Option<Self::Value>> {
        unreachable!("a field type without an option kind fails to compile")
    }

    /// Never runs.
    fn multi(
        &self,
        _: &ResolvedGroup<'_>,
        _: &str,
        _: Vec<Self::Value>,
        _: &mut Vec<ConfigError>,
    ) -> Option<Vec<Self::Value>> {
        unreachable!("a field type without an option kind fails to compile")
    }
}

impl<T> UnknownKind for &Probe<T> {
    type Value = T;
}

// ---------------------------------------------------------------------------
// `#[service]` and `#[periodic]`

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

/// Types `#[service]` can build with `Default` when there is no `new` hook.
#[diagnostic::on_unimplemented(
    message = "the service `{Self}` has no `new` hook and does not implement `Default`",
    label = "the runtime cannot build this service",
    note = "add `async fn new(conf: &Conf) -> anyhow::Result<Self>` to the `#[service]` impl \
            block, or derive `Default`"
)]
pub trait DefaultService {
    /// Builds the service.
    fn default_service() -> Self;
}

#[diagnostic::do_not_recommend]
impl<T: Default> DefaultService for T {
    fn default_service() -> Self {
        T::default()
    }
}

/// The service built with `Default`.
pub fn default_service<T: DefaultService>() -> T {
    T::default_service()
}

/// What `new` may return: `Self`, or `Result<Self, E>` for any error that
/// converts to `anyhow::Error`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid return type of the hook `new`",
    label = "expected `Self`, `anyhow::Result<Self>` or `Result<Self, E>`",
    note = "`new` builds the service: `async fn new(conf: &Conf) -> anyhow::Result<Self>`"
)]
pub trait IntoNewResult<S> {
    /// Converts to the runtime's result.
    fn into_new_result(self) -> anyhow::Result<S>;
}

impl<S, E: Into<anyhow::Error>> IntoNewResult<S> for Result<S, E> {
    fn into_new_result(self) -> anyhow::Result<S> {
        self.map_err(Into::into)
    }
}

impl<S> IntoNewResult<S> for S {
    fn into_new_result(self) -> anyhow::Result<S> {
        Ok(self)
    }
}

/// What `start` may return: `()` or `Result<(), E>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid return type of the hook `start`",
    label = "expected `()`, `anyhow::Result<()>` or `Result<(), E>`",
    note = "an error from `start` stops the worker"
)]
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

/// What `stop` and `reset` return: nothing.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid return type of the hooks `stop` and `reset`",
    label = "expected no return type",
    note = "the runtime has no use for a value after `stop` or `reset`: \
            log a problem in the hook and return nothing"
)]
pub trait HookReturnsNothing {
    /// Drops the (empty) result.
    fn into_unit(self);
}

impl HookReturnsNothing for () {
    fn into_unit(self) {}
}

/// What a periodic task may return: `()` or `Result<(), E>` for any
/// displayable error.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid return type of a periodic task",
    label = "expected `()`, `anyhow::Result<()>` or `Result<(), E>` with `E: Display`",
    note = "an error is logged with the task's name; the task runs again at its next slot"
)]
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

/// A future for the stub `new` of a service whose macro failed. It never
/// runs: the program does not compile.
pub async fn unreachable_future<T>() -> T {
    unreachable!("a `#[service]` with errors fails to compile")
}

// ---------------------------------------------------------------------------
// `main!`

/// Types that `main!` can run.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a service",
    label = "`main!` runs a type whose impl block is marked `#[service]`",
    note = "add `#[service]` to an `impl {Self} {{ .. }}` block, or implement \
            `service_runtime::Service` for it"
)]
pub trait RunnableService: Service {}

#[diagnostic::do_not_recommend]
impl<S: Service> RunnableService for S {}

/// The body of the `fn main` that `main!` writes.
pub fn main<S: RunnableService>(version: &'static str) -> ! {
    run_main::<S>(version)
}
