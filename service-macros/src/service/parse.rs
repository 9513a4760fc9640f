//! Reads `#[service(..)]`, finds the hooks of the impl block and takes its
//! `#[periodic]` methods, recording every problem and going on.

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{Expr, ImplItem, ItemImpl, LitStr, Type};

use super::periodic::{self, Periodic};
use super::signature::{self, Checked, Expected};
use crate::args::{Args, AttrSpec, literal_number, runtime_path};
use crate::errors::Errors;

/// `#[service(name = "my-service", workers = 4, crate = "path::to::runtime")]`,
/// where `workers` may also name an integer option: `workers = group.option`.
const SERVICE_ATTR: AttrSpec = AttrSpec {
    name: "#[service]",
    keys: &["name", "workers", "crate"],
    hints: &[
        ("worker", "write `workers = ...`"),
        ("processes", "write `workers = ...`"),
    ],
};

/// The plain associated function that declares the service's listeners.
const LISTENERS: &str = "listeners";

/// The service as the impl block declares it.
pub(crate) struct ServiceModel {
    pub(crate) krate: TokenStream,
    pub(crate) name: LitStr,
    pub(crate) workers: Workers,
    pub(crate) hooks: Vec<Hook>,
    /// `fn listeners(conf: &Conf)`, when the impl block defines it.
    pub(crate) listeners: Option<Listeners>,
    pub(crate) tasks: Vec<Periodic>,
}

/// Where the user's `listeners` function has its argument and return types,
/// for the spans of the call that forwards to it.
pub(crate) struct Listeners {
    pub(crate) ident: syn::Ident,
    pub(crate) argument_span: Span,
    pub(crate) output_span: Span,
}

/// Where the worker count comes from.
pub(crate) enum Workers {
    /// One worker, in the main process.
    One,
    /// A fixed number.
    Fixed(u32),
    /// An integer option: group and name.
    Option(String, String),
}

/// A lifecycle hook the impl block defines.
pub(crate) struct Hook {
    pub(crate) kind: HookKind,
    pub(crate) signature: Checked,
}

/// The lifecycle hooks, in the order the runtime calls them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum HookKind {
    New,
    Start,
    Stop,
    Reset,
}

impl HookKind {
    const ALL: [HookKind; 4] = [
        HookKind::New,
        HookKind::Start,
        HookKind::Stop,
        HookKind::Reset,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            HookKind::New => "new",
            HookKind::Start => "start",
            HookKind::Stop => "stop",
            HookKind::Reset => "reset",
        }
    }

    fn from_name(name: &str) -> Option<HookKind> {
        HookKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    fn expected(self) -> Expected {
        let (receiver, example) = match self {
            HookKind::New => (false, "async fn new(conf: &Conf) -> anyhow::Result<Self>"),
            HookKind::Start => (
                true,
                "async fn start(&mut self, ctx: &Context) -> anyhow::Result<()>",
            ),
            HookKind::Stop => (true, "async fn stop(&mut self, graceful: bool)"),
            HookKind::Reset => (true, "async fn reset(&mut self, conf: &Conf)"),
        };
        Expected {
            what: format!("the hook `{}`", self.name()),
            receiver,
            arguments: (1, 1),
            example: example.to_string(),
        }
    }
}

impl ServiceModel {
    /// Reads the arguments and the impl block, removing every `#[periodic]`
    /// attribute from it.
    pub(crate) fn from_ast(args: TokenStream, item: &mut ItemImpl, errors: &Errors) -> Self {
        let args = Args::parse(args, &SERVICE_ATTR, errors);
        check_impl_shape(item, errors);
        let tasks = periodic::take_all(item, errors);
        ServiceModel {
            krate: runtime_path(&args, errors),
            name: service_name(&args, item, errors),
            workers: workers_source(&args, errors),
            hooks: find_hooks(item, errors),
            listeners: find_listeners(item, errors),
            tasks,
        }
    }

    /// Whether the impl block defines `kind`.
    pub(crate) fn hook(&self, kind: HookKind) -> Option<&Hook> {
        self.hooks.iter().find(|hook| hook.kind == kind)
    }
}

fn check_impl_shape(item: &ItemImpl, errors: &Errors) {
    if let Some((_, path, _)) = &item.trait_ {
        let message = "`#[service]` goes on an inherent impl block (`impl MyService { .. }`), \
                       not on a trait impl";
        errors.error_at(path, message);
    }
    if !item.generics.params.is_empty() {
        let message = "a `#[service]` type cannot be generic: the program runs one service type";
        errors.error_at(&item.generics, message);
    }
    if let Some(unsafety) = &item.unsafety {
        errors.error_at(
            unsafety,
            "a `#[service]` impl block cannot be `unsafe`: remove `unsafe`",
        );
    }
}

/// The `name` key, or the type's name in snake case.
fn service_name(args: &Args, item: &ItemImpl, errors: &Errors) -> LitStr {
    if let Some(name) = args.string("name", errors) {
        let value = name.value();
        let valid = !value.is_empty()
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            let message = "a service name is letters, digits, `-` and `_`: it names the \
                           configuration files and the log lines";
            errors.error_at(&name, message);
        }
        return name;
    }
    let ident = match &*item.self_ty {
        Type::Path(path) => path.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    };
    let snake = to_snake_case(&ident.unwrap_or_else(|| "service".to_string()));
    LitStr::new(&snake, item.self_ty.span())
}

fn to_snake_case(name: &str) -> String {
    let mut out = String::new();
    for (index, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && index > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn workers_source(args: &Args, errors: &Errors) -> Workers {
    let Some(expr) = args.expr("workers", errors) else {
        return Workers::One;
    };
    if let Some(number) = literal_number(&expr) {
        let whole = number.fract() == 0.0 && number >= 1.0 && number <= f64::from(u32::MAX);
        if !whole {
            let message = "`workers` is a whole number of at least 1 (1 runs the service \
                           in the main process)";
            errors.error_at(&expr, message);
            return Workers::One;
        }
        // Checked above: a whole number within `u32`.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        return Workers::Fixed(number as u32);
    }
    if let Some((group, name)) = option_path(&expr) {
        return Workers::Option(group, name);
    }
    let message = "`workers` takes a number, or an integer option as `group.option`: \
                   `workers = 4` or `workers = my_service.workers`";
    errors.error_at(&expr, message);
    Workers::One
}

/// `group.option` written as a field access expression.
pub(crate) fn option_path(expr: &Expr) -> Option<(String, String)> {
    let Expr::Field(field) = expr else {
        return None;
    };
    let Expr::Path(base) = &*field.base else {
        return None;
    };
    let group = base.path.get_ident()?.to_string();
    let syn::Member::Named(name) = &field.member else {
        return None;
    };
    Some((group, name.to_string()))
}

fn find_hooks(item: &ItemImpl, errors: &Errors) -> Vec<Hook> {
    item.items
        .iter()
        .filter_map(|impl_item| match impl_item {
            ImplItem::Fn(method) => Some(method),
            _ => None,
        })
        .filter_map(|method| {
            let kind = HookKind::from_name(&method.sig.ident.to_string())?;
            let signature = signature::check(method, &kind.expected(), errors)?;
            Some(Hook { kind, signature })
        })
        .collect()
}

/// Finds `fn listeners(conf: &Conf) -> Vec<Listen>`, the plain function (run
/// by the main process before any worker starts) that declares what to bind.
fn find_listeners(item: &ItemImpl, errors: &Errors) -> Option<Listeners> {
    let method = item.items.iter().find_map(|impl_item| match impl_item {
        ImplItem::Fn(method) if method.sig.ident == LISTENERS => Some(method),
        _ => None,
    })?;
    let sig = &method.sig;
    let example = "fn listeners(conf: &Conf) -> Vec<Listen>";
    let mut ok = true;
    if let Some(asyncness) = sig.asyncness {
        let message = format!(
            "`listeners` is a plain `fn`, not `async fn`: the main process calls it \
             before any async runtime starts; remove `async`: `{example}`"
        );
        errors.error_at(asyncness, message);
        ok = false;
    }
    let mut arguments = Vec::new();
    for input in &sig.inputs {
        match input {
            syn::FnArg::Receiver(receiver) => {
                let message = format!(
                    "`listeners` takes no `self`: the main process calls it before any \
                     instance of the service exists; write `{example}`"
                );
                errors.error_at(receiver, message);
                ok = false;
            }
            syn::FnArg::Typed(typed) => arguments.push(typed),
        }
    }
    if let Some(extra) = arguments.get(1) {
        let message = format!("`listeners` takes the configuration only: `{example}`");
        errors.error_at(extra, message);
        ok = false;
    } else if arguments.is_empty() && ok {
        let message = format!("`listeners` reads the configuration it is given: `{example}`");
        errors.error_at_span(sig.paren_token.span.join(), message);
        ok = false;
    }
    let argument_span = arguments.first()?.ty.span();
    ok.then(|| Listeners {
        ident: sig.ident.clone(),
        argument_span,
        output_span: signature::output_span(sig),
    })
}

/// Whether `name` is the name of a lifecycle hook.
pub(crate) fn is_hook_name(name: &str) -> bool {
    HookKind::from_name(name).is_some()
}

/// The span to point at for the impl block as a whole: its self type.
pub(crate) fn self_type_span(item: &ItemImpl) -> Span {
    item.self_ty.span()
}
