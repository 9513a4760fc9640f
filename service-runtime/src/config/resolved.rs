//! Values after precedence and substitution, before typing.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::registry::Registry;
use super::spec::OptionSpec;
use super::value::{Kind, OptionValue};
use super::values::{integer_text, without_digit_underscores};
use super::{ConfigError, MASK, Source};

/// One raw value and where it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawValue {
    /// The text, references already substituted.
    pub text: String,
    /// Where it came from.
    pub source: Source,
}

/// The raw values an option ends up with: the single winning value, or
/// every occurrence for a multi-valued option.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolved {
    /// In reading order; the last one wins for single-valued options.
    pub values: Vec<RawValue>,
}

impl Resolved {
    /// The value a single-valued option takes.
    pub fn last(&self) -> Option<&RawValue> {
        self.values.last()
    }

    /// Where the effective value came from.
    pub fn source(&self) -> Source {
        self.last().map_or(Source::Default, |v| v.source.clone())
    }
}

/// Every resolved option of a configuration, and the files it was read
/// from. This is what the main process hands to its workers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The files read, in order.
    pub files: Vec<PathBuf>,
    /// group -> option -> values.
    pub values: BTreeMap<String, BTreeMap<String, Resolved>>,
}

impl Snapshot {
    /// The resolved values of one option, if any source set it.
    pub fn get(&self, group: &str, name: &str) -> Option<&Resolved> {
        self.values.get(group)?.get(name)
    }
}

/// The view of one group that a `#[config_group]` struct is built from.
#[derive(Debug)]
pub struct ResolvedGroup<'a> {
    group: &'a str,
    snapshot: &'a Snapshot,
    registry: &'a Registry,
}

impl<'a> ResolvedGroup<'a> {
    pub(crate) fn new(group: &'a str, snapshot: &'a Snapshot, registry: &'a Registry) -> Self {
        ResolvedGroup {
            group,
            snapshot,
            registry,
        }
    }

    /// A single-valued option: the winning value, else `default`.
    ///
    /// Returns `None` after pushing an error when the value is bad, or when
    /// a required option without default is unset.
    pub fn single<T: OptionValue>(
        &self,
        name: &str,
        default: Option<T>,
        errors: &mut Vec<ConfigError>,
    ) -> Option<T> {
        let raw = self.snapshot.get(self.group, name).and_then(Resolved::last);
        match raw {
            Some(raw) if !(T::empty_means_unset() && raw.text.trim().is_empty()) => {
                self.parse_checked(name, raw, errors)
            }
            _ => self.fallback(name, default, errors),
        }
    }

    /// An `Option<T>` field: `Some(None)` when no source sets it.
    pub fn optional<T: OptionValue>(
        &self,
        name: &str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Option<T>> {
        let raw = self.snapshot.get(self.group, name).and_then(Resolved::last);
        match raw {
            Some(raw) if !(T::empty_means_unset() && raw.text.trim().is_empty()) => {
                self.parse_checked(name, raw, errors).map(Some)
            }
            _ => self
                .fallback(name, None, errors)
                .map(|_: T| None)
                .or(Some(None)),
        }
    }

    /// A multi-valued option: every occurrence, else `default`.
    pub fn multi<T: OptionValue>(
        &self,
        name: &str,
        default: Vec<T>,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Vec<T>> {
        let Some(resolved) = self.snapshot.get(self.group, name) else {
            return self.fallback(name, Some(default), errors);
        };
        let before = errors.len();
        let parsed: Vec<T> = resolved
            .values
            .iter()
            .filter_map(|raw| self.parse_checked(name, raw, errors))
            .collect();
        (errors.len() == before).then_some(parsed)
    }

    /// The default of an option no source gives a usable value. A required
    /// option without default is an error, unless a source did set it and
    /// its value was refused already (a failed `$` reference).
    fn fallback<T>(
        &self,
        name: &str,
        default: Option<T>,
        errors: &mut Vec<ConfigError>,
    ) -> Option<T> {
        let Some(spec) = self.spec(name) else {
            return default;
        };
        let refused = self
            .snapshot
            .get(self.group, name)
            .is_some_and(|resolved| resolved.values.is_empty());
        if spec.required && default.is_none() && !refused {
            errors.push(missing_required(spec));
        }
        default
    }

    fn parse_checked<T: OptionValue>(
        &self,
        name: &str,
        raw: &RawValue,
        errors: &mut Vec<ConfigError>,
    ) -> Option<T> {
        let spec = self.spec(name);
        let out_of_bounds = spec.and_then(|spec| bound_violation(spec, &raw.text));
        let result = match out_of_bounds {
            Some(message) => Err(message),
            None => T::parse_raw(&raw.text).and_then(|value| match spec {
                Some(spec) => check_constraints(spec, &value, &raw.text).map(|()| value),
                None => Ok(value),
            }),
        };
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                let secret = spec.is_some_and(|s| s.secret);
                let shown = if secret {
                    MASK.to_string()
                } else {
                    raw.text.clone()
                };
                let source = Some(raw.source.clone());
                errors.push(ConfigError::for_option(
                    self.group,
                    name,
                    source,
                    Some(shown),
                    message,
                ));
                None
            }
        }
    }

    fn spec(&self, name: &str) -> Option<&OptionSpec> {
        self.registry.option(self.group, name)
    }
}

/// How the error for a missing required option starts.
pub(crate) const MISSING_REQUIRED: &str = "required option is not set";

/// Whether `error` says that a required option is missing.
pub(crate) fn is_missing_required(error: &ConfigError) -> bool {
    error.source.is_none() && error.message.starts_with(MISSING_REQUIRED)
}

/// The error for a required option that no source sets, saying where it
/// can be set.
fn missing_required(spec: &OptionSpec) -> ConfigError {
    let mut places = vec![
        format!("in [{}] of a configuration file", spec.group),
        format!("with {}", spec.env_name()),
    ];
    if spec.cli {
        places.push(format!("with --{}", spec.flag_name()));
    }
    let message = format!(
        "{MISSING_REQUIRED}: expected a value {}",
        places.join(", or ")
    );
    ConfigError::for_option(spec.group, spec.name, None, None, message)
}

/// A numeric value outside the declared bounds, checked on the text before
/// the kind reads it, so that `-1` for a `u32` with `min = 0` is reported
/// against the bound rather than against the range of `u32`.
fn bound_violation(spec: &OptionSpec, raw: &str) -> Option<String> {
    let numeric = matches!(
        spec.kind,
        Kind::Integer | Kind::Float | Kind::Port | Kind::Duration
    );
    if !numeric || (spec.min.is_none() && spec.max.is_none()) {
        return None;
    }
    let number = match integer_text(raw) {
        Some(digits) => digits.parse::<f64>().ok(),
        None => without_digit_underscores(raw.trim()).and_then(|text| text.parse::<f64>().ok()),
    };
    bounds_message(spec, number.filter(|n| n.is_finite())?)
}

fn bounds_message(spec: &OptionSpec, number: f64) -> Option<String> {
    if let Some(min) = spec.min.filter(|min| number < *min) {
        return Some(format!("should be greater than or equal to {min}"));
    }
    if let Some(max) = spec.max.filter(|max| number > *max) {
        return Some(format!("should be less than or equal to {max}"));
    }
    None
}

/// Checks bounds and choices; the message states the rule broken.
pub(crate) fn check_constraints<T: OptionValue>(
    spec: &OptionSpec,
    value: &T,
    raw: &str,
) -> Result<(), String> {
    if let Some(message) = value.as_number().and_then(|n| bounds_message(spec, n)) {
        return Err(message);
    }
    if let Some(choices) = spec.choices {
        let text = raw.trim();
        if !choices.contains(&text) {
            return Err(format!("expected one of: {}", choices.join(", ")));
        }
    }
    Ok(())
}

/// The JSON form of an option's effective value (default when unset).
pub(crate) fn json_value(
    option: &OptionSpec,
    resolved: Option<&Resolved>,
) -> Option<serde_json::Value> {
    let Some(resolved) = resolved else {
        if option.multi {
            let items = option.default_values().into_iter();
            let items = items.filter_map(|text| (option.check)(text).ok());
            return Some(serde_json::Value::Array(items.collect()));
        }
        let default = option.default.as_deref()?;
        return (option.check)(default).ok();
    };
    if option.multi {
        let items = resolved
            .values
            .iter()
            .filter_map(|v| (option.check)(&v.text).ok());
        return Some(serde_json::Value::Array(items.collect()));
    }
    let last = resolved.last()?;
    match (option.check)(&last.text) {
        Ok(value) if !value.is_null() => Some(value),
        // A blank value means "not set" (a text keeps it as an empty
        // text): the option keeps its default.
        _ if last.text.trim().is_empty() => {
            let default = option.default.as_deref();
            Some(
                default
                    .and_then(|text| (option.check)(text).ok())
                    .unwrap_or_default(),
            )
        }
        checked => checked.ok(),
    }
}
