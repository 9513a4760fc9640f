//! The options a service's expansion refers to by name, checked against the
//! options the program declares.
//!
//! `#[service(workers = group.option)]` and `#[periodic(spacing =
//! group.option)]` name an option of another `#[config_group]`, which the
//! macros cannot see. A name that no group declares, or an option of a kind
//! that cannot give the value, is a mistake in the program: it is reported
//! as such whenever the configuration is loaded for start-up or
//! `--check-config`, before anything runs.

use crate::config::{ConfigError, Kind, OptionSpec, Registry};
use crate::periodic::Spacing;
use crate::service::Service;

/// Every option that the expansion of `S` refers to and that the program
/// does not declare with a usable kind, one error each: the worker count
/// option of `#[service(workers = group.option)]` (an integer option) and
/// the spacing option of each `#[periodic(spacing = group.option)]` (an
/// integer, float or duration option). Start-up and `--check-config` run
/// this check and stop with exit code 78 when it finds anything.
///
/// Each message says that the mistake is in the program, not in the
/// configuration, for example "the service `probe` takes its worker count
/// from option [inventory] nosuch, which no #[config_group] declares".
pub fn option_reference_errors<S: Service>(registry: &Registry) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    if let Some((group, name)) = S::workers_option() {
        let user = format!("the service `{}` takes its worker count", S::NAME);
        let needs = "the worker count needs an integer option";
        errors.extend(check_one(registry, &user, group, name, needs, |kind| {
            kind == Kind::Integer
        }));
    }
    for task in S::periodic_tasks() {
        if let Spacing::Option { group, name } = task.spacing {
            let user = format!(
                "the periodic task `{}` of the service `{}` takes its spacing",
                task.name,
                S::NAME
            );
            let needs = "spacing needs an integer, float or duration option";
            errors.extend(check_one(registry, &user, group, name, needs, |kind| {
                matches!(kind, Kind::Integer | Kind::Float | Kind::Duration)
            }));
        }
    }
    errors
}

/// The error for one reference, if `[group] name` is not declared, holds
/// several values or is of a kind `fits` refuses.
fn check_one(
    registry: &Registry,
    user: &str,
    group: &str,
    name: &str,
    needs: &str,
    fits: impl Fn(Kind) -> bool,
) -> Option<ConfigError> {
    let problem = match registry.option(group, name) {
        None => format!("{user} from option [{group}] {name}, which no #[config_group] declares"),
        Some(option) if option.multi => {
            format!("{user} from [{group}] {name}, a multi-valued option; {needs}")
        }
        Some(option) if !fits(option.kind) => {
            format!(
                "{user} from [{group}] {name}, {}; {needs}",
                kind_words(option)
            )
        }
        Some(_) => return None,
    };
    let message = format!(
        "{problem}. This is a mistake in the program, not in the configuration: \
         the program must be corrected and built again"
    );
    Some(ConfigError::general(None, message))
}

/// `a string option`, `an integer option` and the like.
fn kind_words(option: &OptionSpec) -> String {
    let value = option.kind.sample_name();
    let kind = value.strip_suffix(" value").unwrap_or(value);
    let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u', 'I']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {kind} option")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_named_with_their_article() {
        let registry = Registry::from_program().expect("the runtime's own groups are valid");
        let debug = registry
            .option("DEFAULT", "debug")
            .expect("declared by the runtime");
        assert_eq!(kind_words(debug), "a boolean option");
        let workers = |kind| kind == Kind::Integer;
        let error = check_one(&registry, "x takes y", "DEFAULT", "debug", "z", workers);
        let message = error.expect("a boolean is refused").to_string();
        assert!(
            message.starts_with("x takes y from [DEFAULT] debug, a boolean option; z. "),
            "{message}"
        );
        assert!(message.contains("mistake in the program"), "{message}");
        let missing = check_one(&registry, "x takes y", "nosuch", "opt", "z", workers);
        let message = missing
            .expect("an undeclared option is refused")
            .to_string();
        assert!(
            message.starts_with("x takes y from option [nosuch] opt, which no #[config_group]"),
            "{message}"
        );
    }
}
