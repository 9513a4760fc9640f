//! `#[periodic(..)]` on methods of a `#[service]` impl block.
//!
//! Spacing follows oslo.service: 0 (or no `spacing`) means the default of
//! 60 s, and a negative spacing means the task is never scheduled. Keys that
//! only matter for a scheduled task (`run_immediately`, `initial_delay`,
//! `enabled = true`) are errors next to a negative spacing, since they would
//! silently do nothing.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{ImplItem, ImplItemFn, ItemImpl};

use super::parse::{is_hook_name, option_path};
use super::signature::{self, Checked, Expected};
use crate::args::{Args, AttrSpec, Number, literal_number};
use crate::errors::Errors;

const PERIODIC_ATTR: AttrSpec = AttrSpec {
    name: "#[periodic]",
    keys: &[
        // spacing = 60 | spacing = 0.5 | spacing = group.option
        "spacing",
        // run_immediately (flag)
        "run_immediately",
        // initial_delay = 5 (seconds)
        "initial_delay",
        // name = "task_name"
        "name",
        // enabled = false
        "enabled",
        // external_process_ok (flag)
        "external_process_ok",
    ],
    hints: &[
        ("interval", "write `spacing = ...`, in seconds"),
        ("period", "write `spacing = ...`, in seconds"),
        ("delay", "write `initial_delay = ...`, in seconds"),
        ("immediate", "write `run_immediately`"),
        ("disabled", "write `enabled = false`"),
        ("external", "write `external_process_ok`"),
    ],
};

/// Timers do not resolve less than a millisecond.
const MIN_SPACING_SECS: f64 = 0.001;

/// One `#[periodic]` method.
pub(crate) struct Periodic {
    pub(crate) signature: Checked,
    pub(crate) settings: Settings,
}

/// What `#[periodic(..)]` says about the task.
pub(crate) struct Settings {
    pub(crate) name: String,
    /// Where the name comes from: the `name` value or the method name.
    name_span: Span,
    pub(crate) spacing: Spacing,
    pub(crate) run_immediately: bool,
    pub(crate) initial_delay: Option<f64>,
    pub(crate) enabled: bool,
    pub(crate) external_process_ok: bool,
}

/// Time between runs.
pub(crate) enum Spacing {
    /// Seconds: 0 is the default of 60 s, negative is never scheduled.
    Seconds(f64),
    /// An option's value: group and name.
    Option(String, String),
}

/// Removes every `#[periodic]` attribute from the impl block's methods and
/// reads the tasks they declare.
pub(crate) fn take_all(item: &mut ItemImpl, errors: &Errors) -> Vec<Periodic> {
    let mut tasks: Vec<Periodic> = Vec::new();
    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let attrs = take_attrs(&mut method.attrs);
        let Some(first) = attrs.first() else {
            continue;
        };
        for extra in &attrs[1..] {
            errors.error_at(
                extra,
                "more than one `#[periodic]` on one method: merge them",
            );
        }
        let Some(task) = parse(method, first, errors) else {
            continue;
        };
        let name = &task.settings.name;
        if tasks.iter().any(|earlier| earlier.settings.name == *name) {
            let message =
                format!("two periodic tasks named `{name}`: give one another `name = \"...\"`");
            errors.error_at_span(task.settings.name_span, message);
        }
        tasks.push(task);
    }
    tasks
}

/// `#[periodic]` applied outside a `#[service]` block.
pub(crate) fn outside_service(item: TokenStream) -> TokenStream {
    let message = "`#[periodic]` works on methods of an impl block marked `#[service]`: \
                   add `#[service]` to the impl block";
    let span = match syn::parse2::<syn::ItemFn>(item.clone()) {
        Ok(function) => function.sig.ident.span(),
        Err(_) => Span::call_site(),
    };
    let error = syn::Error::new(span, message).to_compile_error();
    quote!(#item #error)
}

/// Takes the attributes named `periodic`, however the path is written.
fn take_attrs(attrs: &mut Vec<syn::Attribute>) -> Vec<syn::Attribute> {
    let mut taken = Vec::new();
    attrs.retain(|attr| {
        let is_periodic = attr
            .path()
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "periodic");
        if is_periodic {
            taken.push(attr.clone());
        }
        !is_periodic
    });
    taken
}

fn parse(method: &ImplItemFn, attr: &syn::Attribute, errors: &Errors) -> Option<Periodic> {
    let args = attr_args(attr, errors);
    let ident = &method.sig.ident;
    if is_hook_name(&ident.to_string()) {
        let message = format!(
            "`{ident}` is a lifecycle hook, which the runtime calls on its own: \
             give the periodic task a method of its own"
        );
        errors.error_at(attr, message);
    }
    let expected = Expected {
        what: format!("the periodic task `{ident}`"),
        receiver: true,
        arguments: (0, 1),
        example: format!("async fn {ident}(&mut self, ctx: &Context)"),
    };
    let signature = signature::check(method, &expected, errors);
    let settings = read_settings(&args, method, errors);
    Some(Periodic {
        signature: signature?,
        settings,
    })
}

fn attr_args(attr: &syn::Attribute, errors: &Errors) -> Args {
    match &attr.meta {
        syn::Meta::List(list) => Args::parse(list.tokens.clone(), &PERIODIC_ATTR, errors),
        syn::Meta::Path(_) => Args::empty(),
        syn::Meta::NameValue(name_value) => {
            let message = "write `#[periodic(spacing = ...)]`, not `#[periodic = ...]`";
            errors.error_at(name_value, message);
            Args::empty()
        }
    }
}

fn read_settings(args: &Args, method: &ImplItemFn, errors: &Errors) -> Settings {
    let spacing = spacing(args, errors);
    let run_immediately = args.flag("run_immediately", errors).unwrap_or(false);
    let initial_delay = initial_delay(args, errors);
    let enabled = args.flag("enabled", errors);
    if let Spacing::Seconds(seconds) = spacing {
        if seconds < 0.0 {
            check_never_scheduled(args, run_immediately, enabled, errors);
        }
    }
    if let Some(key) = args.key_span("initial_delay").filter(|_| run_immediately) {
        let message = "`initial_delay` conflicts with `run_immediately`: the first run \
                       comes either at once or after the delay; keep one";
        errors.error_at_span(key, message);
    }
    let (name, name_span) = task_name(args, method, errors);
    Settings {
        name,
        name_span,
        spacing,
        run_immediately,
        initial_delay: initial_delay.map(|delay| delay.value),
        enabled: enabled.unwrap_or(true),
        external_process_ok: args.flag("external_process_ok", errors).unwrap_or(false),
    }
}

fn spacing(args: &Args, errors: &Errors) -> Spacing {
    let Some(expr) = args.expr("spacing", errors) else {
        return Spacing::Seconds(0.0);
    };
    if let Some(seconds) = literal_number(&expr) {
        if seconds > 0.0 && seconds < MIN_SPACING_SECS {
            let message = format!(
                "`spacing` of {seconds} s is below the 1 ms resolution of timers; \
                 use 0.001 or more (0 means the default of 60 s)"
            );
            errors.error_at(&expr, message);
        } else if seconds > u64::MAX as f64 {
            errors.error_at(
                &expr,
                "`spacing` is too large for a duration: use fewer seconds",
            );
        }
        return Spacing::Seconds(seconds);
    }
    if let Some((group, name)) = option_path(&expr) {
        return Spacing::Option(group, name);
    }
    let message = "`spacing` takes seconds as a number literal, or an option as \
                   `group.option`: `spacing = 60` or `spacing = my_service.interval`";
    errors.error_at(&expr, message);
    Spacing::Seconds(0.0)
}

fn initial_delay(args: &Args, errors: &Errors) -> Option<Number> {
    let delay = args.number("initial_delay", errors)?;
    if delay.value < 0.0 {
        let message = "`initial_delay` cannot be negative: it is the seconds between the \
                       start and the first run";
        errors.error_at(&delay.expr, message);
        return None;
    }
    if delay.value > u64::MAX as f64 {
        errors.error_at(
            &delay.expr,
            "`initial_delay` is too large for a duration: use fewer seconds",
        );
        return None;
    }
    Some(delay)
}

/// A negative spacing never schedules the task: keys that shape its runs
/// would do nothing.
fn check_never_scheduled(
    args: &Args,
    run_immediately: bool,
    enabled: Option<bool>,
    errors: &Errors,
) {
    let pointless = [
        ("run_immediately", run_immediately),
        ("initial_delay", true),
        ("enabled", enabled == Some(true)),
    ];
    for (key, set) in pointless {
        let Some(span) = args.key_span(key).filter(|_| set) else {
            continue;
        };
        let message = format!(
            "a negative `spacing` means the task is never scheduled, so `{key}` has no \
             effect: remove `{key}`, or use a spacing of 0 (60 s) or more; \
             to turn a task off, write `enabled = false`"
        );
        errors.error_at_span(span, message);
    }
}

fn task_name(args: &Args, method: &ImplItemFn, errors: &Errors) -> (String, Span) {
    let ident = &method.sig.ident;
    let Some(name) = args.string("name", errors) else {
        return (ident.to_string(), ident.span());
    };
    if name.value().trim().is_empty() {
        let message = "a periodic task's `name` cannot be empty: give it a name, or remove \
                       `name` to use the method's";
        errors.error_at(&name, message);
    }
    (name.value(), name.span())
}
