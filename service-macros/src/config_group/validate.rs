//! Rules that involve more than one key, more than one field, or the
//! struct's shape. The rules a macro cannot decide (the type of a default,
//! the kind of a field's type) are left to the compiler, through checks the
//! expansion spans at the user's tokens.

use syn::{ItemStruct, LitStr};

use super::parse::{Group, OptionField, Shape};
use crate::args::{literal_number, string_literal};
use crate::errors::Errors;

/// Names oslo.config reserves in `DEFAULT` for its command line, plus the
/// runtime's own flags.
const RESERVED: &[&str] = &[
    "project",
    "prog",
    "version",
    "usage",
    "default_config_files",
    "default_config_dirs",
    "config_file",
    "config_dir",
    "config_source",
    "shell_completion",
    "help",
];

pub(crate) fn check(item: &ItemStruct, group: &Group, errors: &Errors) {
    check_shape(item, errors);
    if let Some(name) = &group.name {
        check_group_name(name, errors);
    }
    for option in &group.options {
        check_option(option, errors);
    }
    check_unique_names(&group.options, errors);
    if group
        .name
        .as_ref()
        .is_some_and(|name| name.value() == "DEFAULT")
    {
        check_reserved(&group.options, errors);
    }
}

fn check_shape(item: &ItemStruct, errors: &Errors) {
    if !item.generics.params.is_empty() {
        let message = "a `#[config_group]` struct cannot be generic: \
                       each group is one set of options";
        errors.error_at(&item.generics, message);
    }
    if !matches!(item.fields, syn::Fields::Named(_)) {
        let message = "`#[config_group]` needs a struct with named fields: \
                       each field is an option named after it";
        errors.error_at(&item.ident, message);
    }
}

fn check_group_name(name: &LitStr, errors: &Errors) {
    let value = name.value();
    let lower_word = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if value != "DEFAULT" && !lower_word {
        let message = "a group name is lower-case letters, digits and `_` (sections are \
                       matched without regard to case), or exactly `DEFAULT`";
        errors.error_at(name, message);
    }
}

fn check_option(option: &OptionField, errors: &Errors) {
    // A malformed `#[opt]` was reported already; its other rules would
    // only repeat the mistake in other words.
    if option.args.is_malformed() {
        return;
    }
    check_option_name(option, errors);
    check_default_presence(option, errors);
    check_flags(option, errors);
    check_bounds(option, errors);
    check_choices(option, errors);
    check_deprecation(option, errors);
}

fn check_option_name(option: &OptionField, errors: &Errors) {
    let name = &option.name;
    let valid = !name.is_empty()
        && !name.starts_with('_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        let message = format!(
            "option name `{name}` is not valid: use letters, digits and `_`, \
             not starting with `_`"
        );
        errors.error_at_span(option.name_span, message);
    }
}

/// Every option has a value when the struct is built: from a source, from
/// its default, or it is `Option<T>`, or `required`.
fn check_default_presence(option: &OptionField, errors: &Errors) {
    let default = option.default.as_ref();
    let required = option.args.key_span("required").filter(|_| option.required);
    match (&option.shape, default, required) {
        (Shape::Optional(_), Some(default), _) => errors.error_at(
            default,
            "an `Option<T>` option has no default: remove `default`, \
             or make the field `T`",
        ),
        (Shape::Optional(_), None, Some(required)) => errors.error_at_span(
            required,
            "a `required` option always has a value: make the field `T` \
             instead of `Option<T>`",
        ),
        (_, Some(_), Some(required)) => errors.error_at_span(
            required,
            "`required` conflicts with `default`: a default always provides a value; \
             remove one of them",
        ),
        // A misspelled key was reported; it may well be the default.
        (Shape::Single, None, None) if option.args.has_unknown_keys() => {}
        (Shape::Single, None, None) => errors.error_at(
            &option.ty,
            format!(
                "option `{}` has no default: add `#[opt(default = ...)]`, \
                 make the field `Option<T>`, or mark it `#[opt(required)]`",
                option.name
            ),
        ),
        _ => {}
    }
}

fn check_flags(option: &OptionField, errors: &Errors) {
    let cli = option.args.key_span("cli").filter(|_| option.cli);
    if let Some(cli) = cli.filter(|_| option.secret) {
        let message = "a `secret` option cannot be `cli`: command-line arguments are visible \
                       to every user in the process list; set it in a configuration file or \
                       in the environment";
        errors.error_at_span(cli, message);
    }
}

fn check_bounds(option: &OptionField, errors: &Errors) {
    if let (Some(min), Some(max)) = (&option.min, &option.max) {
        if min.value > max.value {
            let message = format!(
                "`max` ({}) is below `min` ({}): swap them, or correct one",
                max.value, min.value
            );
            errors.error_at(&max.expr, message);
            return;
        }
    }
    let Some(default) = option.default.as_ref() else {
        return;
    };
    let Some(value) = literal_number(default) else {
        return;
    };
    if let Some(min) = option.min.as_ref().filter(|min| value < min.value) {
        let message = format!(
            "default {value} is below `min` ({}): raise the default or lower `min`",
            min.value
        );
        errors.error_at(default, message);
    } else if let Some(max) = option.max.as_ref().filter(|max| value > max.value) {
        let message = format!(
            "default {value} is above `max` ({}): lower the default or raise `max`",
            max.value
        );
        errors.error_at(default, message);
    }
}

fn check_choices(option: &OptionField, errors: &Errors) {
    let Some(arg) = option.args.get("choices") else {
        return;
    };
    if matches!(&arg.value, Some(syn::Expr::Array(array)) if array.elems.is_empty()) {
        let message = "`choices` needs at least one value: list the accepted values, \
                       or remove `choices`";
        errors.error_at_span(arg.key_span, message);
        return;
    }
    for (index, choice) in option.choices.iter().enumerate() {
        if option.choices[..index]
            .iter()
            .any(|c| c.value() == choice.value())
        {
            let message = format!(
                "`{}` is listed twice in `choices`: remove one",
                choice.value()
            );
            errors.error_at(choice, message);
        }
    }
    let Some(default) = option.default.as_ref().and_then(string_literal) else {
        return;
    };
    if !option.choices.iter().any(|c| c.value() == default.value()) {
        let message = format!(
            "default `{}` is not one of the `choices`: add it to them or change it",
            default.value()
        );
        errors.error_at(&default, message);
    }
}

fn check_deprecation(option: &OptionField, errors: &Errors) {
    let reason = option.args.key_span("deprecated_reason");
    if let Some(reason) = reason.filter(|_| !option.deprecated_for_removal) {
        let message = "`deprecated_reason` says why an option goes away: \
                       add `deprecated_for_removal`";
        errors.error_at_span(reason, message);
    }
    for old in &option.deprecated_names {
        if old.value() == option.name {
            let message = format!(
                "`{}` is the option's own name: a deprecated name must differ",
                option.name
            );
            errors.error_at(old, message);
        }
    }
}

/// Two options cannot share a name, counting deprecated names.
fn check_unique_names(options: &[OptionField], errors: &Errors) {
    for (index, option) in options.iter().enumerate() {
        let own = (option.name.clone(), option.name_span);
        let deprecated = option
            .deprecated_names
            .iter()
            .map(|d| (d.value(), d.span()));
        for (name, span) in std::iter::once(own).chain(deprecated) {
            let earlier = options[..index].iter().find(|earlier| {
                earlier.name == name || earlier.deprecated_names.iter().any(|d| d.value() == name)
            });
            if let Some(earlier) = earlier {
                let message = format!(
                    "two options named `{name}` in one group (the other is field `{}`); \
                     rename one with `#[opt(name = \"...\")]`",
                    earlier.ident
                );
                errors.error_at_span(span, message);
            }
        }
    }
}

fn check_reserved(options: &[OptionField], errors: &Errors) {
    let reserved = options
        .iter()
        .filter(|o| RESERVED.contains(&o.name.as_str()));
    for option in reserved {
        let message = format!(
            "`{}` is reserved in `DEFAULT` for the command line; rename the option, \
             for example with `#[opt(name = \"...\")]`",
            option.name
        );
        errors.error_at_span(option.name_span, message);
    }
}
