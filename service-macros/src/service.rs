//! `#[service]` on an impl block, and the `#[periodic]` methods inside it.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, FnArg, ImplItem, ImplItemFn, ItemImpl, LitStr, Type};

use crate::args::{Args, AttrName, literal_number, runtime_path};
use crate::errors::Errors;

const SERVICE_KEYS: &[&str] = &["name", "workers", "crate"];

const PERIODIC_KEYS: &[&str] = &[
    "spacing",
    "run_immediately",
    "initial_delay",
    "name",
    "enabled",
    "external_process_ok",
];

/// The lifecycle hooks a service may define.
const HOOKS: &[&str] = &["new", "start", "stop", "reset"];

/// The plain (not `async`) associated function that declares listeners.
const LISTENERS: &str = "listeners";

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let errors = Errors::default();
    let mut item: ItemImpl = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(_) => {
            let message = "`#[service]` goes on an inherent `impl` block: `impl MyService { ... }`";
            let error = syn::Error::new_spanned(&item, message).to_compile_error();
            return quote!(#item #error);
        }
    };
    let service_args = Args::parse(args, &AttrName("#[service]"), SERVICE_KEYS, &errors);
    let krate = runtime_path(&service_args, &errors);
    check_impl_shape(&item, &errors);
    let name = service_name(&service_args, &item, &errors);
    let workers = workers_source(&service_args, &errors);
    let periodic = take_periodic_methods(&mut item, &errors);
    let hooks = check_hooks(&item, &errors);
    if !errors.is_empty() {
        let compile_errors = errors.to_compile_errors();
        return quote!(#item #compile_errors);
    }
    let context = Generation {
        ty: &item.self_ty,
        private: quote!(#krate::__private),
    };
    let service_impl = context.service_impl(&name, &workers, &hooks, &periodic);
    quote! {
        #item
        #service_impl
    }
}

/// `#[periodic]` applied outside a `#[service]` block.
pub(crate) fn periodic_outside_service(_args: TokenStream, item: TokenStream) -> TokenStream {
    let message = "`#[periodic]` only works on a method of an impl block marked `#[service]`; \
                   add `#[service]` to the impl block";
    let error = match syn::parse2::<syn::ItemFn>(item.clone()) {
        Ok(function) => syn::Error::new_spanned(&function.sig.ident, message),
        Err(_) => syn::Error::new_spanned(&item, message),
    };
    let error = error.to_compile_error();
    quote!(#item #error)
}

fn check_impl_shape(item: &ItemImpl, errors: &Errors) {
    if let Some((_, path, _)) = &item.trait_ {
        errors.error_at(
            path,
            "`#[service]` goes on an inherent impl block, not a trait impl",
        );
    }
    if !item.generics.params.is_empty() {
        errors.error_at(&item.generics, "a `#[service]` type cannot be generic");
    }
}

fn service_name(args: &Args, item: &ItemImpl, errors: &Errors) -> LitStr {
    if let Some(name) = args.string("name", errors) {
        let valid = !name.value().is_empty()
            && name
                .value()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
        if !valid {
            errors.error_at(&name, "service names are letters, digits, `-` and `_`");
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
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Where the worker count comes from.
enum Workers {
    /// One worker, in the main process.
    One,
    /// A fixed number.
    Fixed(u32),
    /// An option: group and name.
    Option(String, String),
}

fn workers_source(args: &Args, errors: &Errors) -> Workers {
    let Some(expr) = args.expr("workers", errors) else {
        return Workers::One;
    };
    if let Some(number) = literal_number(&expr) {
        if number < 1.0 || number.fract() != 0.0 || number > f64::from(u32::MAX) {
            errors.error_at(&expr, "`workers` must be a whole number of at least 1");
            return Workers::One;
        }
        return Workers::Fixed(number as u32);
    }
    match option_path(&expr) {
        Some((group, name)) => Workers::Option(group, name),
        None => {
            errors.error_at(
                &expr,
                "`workers` takes a number or an option as `group.option`, \
                 like `workers = my_service.workers`",
            );
            Workers::One
        }
    }
}

/// `group.option` written as a field access expression.
fn option_path(expr: &Expr) -> Option<(String, String)> {
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

/// One `#[periodic]` method.
struct Periodic {
    method: syn::Ident,
    takes_context: bool,
    name: String,
    spacing: Spacing,
    run_immediately: bool,
    initial_delay: Option<f64>,
    enabled: bool,
    external_process_ok: bool,
    span: proc_macro2::Span,
}

enum Spacing {
    Seconds(f64),
    Option(String, String),
}

fn take_periodic_methods(item: &mut ItemImpl, errors: &Errors) -> Vec<Periodic> {
    let mut tasks: Vec<Periodic> = Vec::new();
    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let Some(attr) = take_attr(&mut method.attrs, "periodic", errors) else {
            continue;
        };
        if let Some(task) = parse_periodic(method, attr, errors) {
            if tasks.iter().any(|t| t.name == task.name) {
                let message = format!("two periodic tasks named `{}`", task.name);
                errors.push(syn::Error::new(task.span, message));
            }
            tasks.push(task);
        }
    }
    tasks
}

fn take_attr(
    attrs: &mut Vec<syn::Attribute>,
    name: &str,
    errors: &Errors,
) -> Option<syn::Attribute> {
    let position = attrs.iter().position(|attr| {
        attr.path()
            .segments
            .last()
            .is_some_and(|segment| segment.ident == name)
    })?;
    let attr = attrs.remove(position);
    if let Some(second) = attrs.iter().find(|a| a.path().is_ident(name)) {
        errors.error_at(second, format!("more than one `#[{name}]` on one method"));
    }
    Some(attr)
}

fn parse_periodic(method: &ImplItemFn, attr: syn::Attribute, errors: &Errors) -> Option<Periodic> {
    let tokens = match &attr.meta {
        syn::Meta::List(list) => list.tokens.clone(),
        _ => TokenStream::new(),
    };
    let args = Args::parse(tokens, &AttrName("#[periodic]"), PERIODIC_KEYS, errors);
    let takes_context = check_method_signature(method, "periodic task", Receiver::Either, errors);
    let spacing = periodic_spacing(&args, errors);
    let run_immediately = args.flag("run_immediately", errors);
    let initial_delay = args.number("initial_delay", errors).map(|(delay, expr)| {
        if delay < 0.0 {
            errors.error_at(&expr, "`initial_delay` cannot be negative");
        }
        if run_immediately {
            errors.error_at(
                &expr,
                "`initial_delay` conflicts with `run_immediately`: keep one",
            );
        }
        delay
    });
    let enabled = args.get("enabled").is_none() || args.flag("enabled", errors);
    let name = args
        .string("name", errors)
        .map_or_else(|| method.sig.ident.to_string(), |n| n.value());
    Some(Periodic {
        method: method.sig.ident.clone(),
        takes_context: takes_context?,
        name,
        spacing,
        run_immediately,
        initial_delay,
        enabled,
        external_process_ok: args.flag("external_process_ok", errors),
        span: method.sig.ident.span(),
    })
}

fn periodic_spacing(args: &Args, errors: &Errors) -> Spacing {
    let Some(expr) = args.expr("spacing", errors) else {
        return Spacing::Seconds(0.0);
    };
    if let Some(seconds) = literal_number(&expr) {
        return Spacing::Seconds(seconds);
    }
    match option_path(&expr) {
        Some((group, name)) => Spacing::Option(group, name),
        None => {
            errors.error_at(
                &expr,
                "`spacing` takes seconds or an option as `group.option`, like `spacing = 60`",
            );
            Spacing::Seconds(0.0)
        }
    }
}

/// Which receivers a method may have.
#[derive(Clone, Copy, PartialEq)]
enum Receiver {
    None,
    Mutable,
    Either,
}

/// Checks `async`, the receiver and the argument count; returns whether
/// the method takes one argument besides the receiver.
fn check_method_signature(
    method: &ImplItemFn,
    what: &str,
    receiver: Receiver,
    errors: &Errors,
) -> Option<bool> {
    let sig = &method.sig;
    let mut ok = true;
    if sig.asyncness.is_none() {
        errors.error_at(
            sig.fn_token,
            format!("the {what} `{}` must be `async fn`", sig.ident),
        );
        ok = false;
    }
    if !sig.generics.params.is_empty() {
        errors.error_at(
            &sig.generics,
            format!("the {what} `{}` cannot be generic", sig.ident),
        );
        ok = false;
    }
    let found = sig.inputs.first().and_then(|arg| match arg {
        FnArg::Receiver(r) => Some(r),
        FnArg::Typed(_) => None,
    });
    ok &= check_receiver(sig, found, what, receiver, errors);
    let others = sig.inputs.len() - usize::from(found.is_some());
    ok.then_some(others == 1)
}

fn check_receiver(
    sig: &syn::Signature,
    found: Option<&syn::Receiver>,
    what: &str,
    expected: Receiver,
    errors: &Errors,
) -> bool {
    let ident = &sig.ident;
    match (expected, found) {
        (Receiver::None, Some(r)) => {
            errors.error_at(r, format!("the {what} `{ident}` takes no `self`"));
            false
        }
        (Receiver::None, None) => true,
        (_, None) => {
            let message = format!("the {what} `{ident}` must take `&mut self`");
            errors.error_at(&sig.inputs, message);
            if sig.inputs.is_empty() {
                errors.error_at(ident, format!("the {what} `{ident}` must take `&mut self`"));
            }
            false
        }
        (_, Some(r)) if r.reference.is_none() => {
            errors.error_at(
                r,
                format!("the {what} `{ident}` must take `&mut self`, not `self`"),
            );
            false
        }
        (Receiver::Mutable, Some(r)) if r.mutability.is_none() => {
            errors.error_at(r, format!("the {what} `{ident}` must take `&mut self`"));
            false
        }
        _ => true,
    }
}

/// The hooks the user wrote, checked.
#[derive(Default)]
struct Hooks {
    new: bool,
    start: bool,
    stop: bool,
    reset: bool,
    listeners: bool,
}

fn check_hooks(item: &ItemImpl, errors: &Errors) -> Hooks {
    let mut hooks = Hooks::default();
    for impl_item in &item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let name = method.sig.ident.to_string();
        if name == LISTENERS {
            hooks.listeners = check_listeners_signature(method, errors);
            continue;
        }
        if !HOOKS.contains(&name.as_str()) {
            continue;
        }
        let receiver = if name == "new" {
            Receiver::None
        } else {
            Receiver::Mutable
        };
        let what = "hook";
        let Some(one_argument) = check_method_signature(method, what, receiver, errors) else {
            continue;
        };
        if !one_argument {
            let expected = match name.as_str() {
                "new" => "`async fn new(conf: &Conf) -> anyhow::Result<Self>`",
                "start" => "`async fn start(&mut self, ctx: &Context) -> anyhow::Result<()>`",
                "stop" => "`async fn stop(&mut self, graceful: bool)`",
                _ => "`async fn reset(&mut self, conf: &Conf)`",
            };
            let message = format!("the hook `{name}` has the wrong arguments; expected {expected}");
            errors.error_at(&method.sig, message);
            continue;
        }
        match name.as_str() {
            "new" => hooks.new = true,
            "start" => hooks.start = true,
            "stop" => hooks.stop = true,
            _ => hooks.reset = true,
        }
    }
    hooks
}

/// `fn listeners(conf: &Conf) -> Vec<Listen>`: plain, no receiver.
fn check_listeners_signature(method: &ImplItemFn, errors: &Errors) -> bool {
    let sig = &method.sig;
    if let Some(asyncness) = sig.asyncness {
        errors.error_at(asyncness, "`listeners` is a plain `fn`, not `async fn`");
        return false;
    }
    let receiver = sig
        .inputs
        .iter()
        .any(|arg| matches!(arg, FnArg::Receiver(_)));
    if receiver || sig.inputs.len() != 1 {
        errors.error_at(
            &sig.inputs,
            "expected `fn listeners(conf: &Conf) -> Vec<Listen>`, with no `self`",
        );
        return false;
    }
    true
}

struct Generation<'a> {
    ty: &'a Type,
    private: TokenStream,
}

impl Generation<'_> {
    fn service_impl(
        &self,
        name: &LitStr,
        workers: &Workers,
        hooks: &Hooks,
        periodic: &[Periodic],
    ) -> TokenStream {
        let (ty, p) = (self.ty, &self.private);
        let workers = self.workers_fn(workers);
        let new = self.new_fn(hooks.new);
        let start = hooks.start.then(|| {
            quote! {
                fn start(
                    &mut self,
                    ctx: &#p::Context,
                ) -> impl #p::Future<Output = #p::anyhow::Result<()>> + #p::Send {
                    async move { #p::IntoHookResult::into_hook_result(<#ty>::start(self, ctx).await) }
                }
            }
        });
        let stop = hooks.stop.then(|| {
            quote! {
                fn stop(&mut self, graceful: bool) -> impl #p::Future<Output = ()> + #p::Send {
                    <#ty>::stop(self, graceful)
                }
            }
        });
        let reset = hooks.reset.then(|| {
            quote! {
                fn reset(&mut self, conf: &#p::Conf) -> impl #p::Future<Output = ()> + #p::Send {
                    <#ty>::reset(self, conf)
                }
            }
        });
        let listeners = hooks.listeners.then(|| {
            quote! {
                fn listeners(conf: &#p::Conf) -> #p::Vec<#p::Listen> {
                    <#ty>::listeners(conf)
                }
            }
        });
        let task_fns = periodic.iter().map(|task| self.task_fn(task));
        let task_specs = periodic.iter().map(|task| self.task_spec(task));
        quote! {
            const _: () = {
                #[automatically_derived]
                impl #p::Service for #ty {
                    const NAME: &'static str = #name;
                    #workers
                    #new
                    #start
                    #stop
                    #reset
                    #listeners

                    fn periodic_tasks() -> #p::Vec<#p::PeriodicTask<Self>> {
                        #p::vec![#(#task_specs),*]
                    }
                }

                #(#task_fns)*
            };
        }
    }

    fn workers_fn(&self, workers: &Workers) -> TokenStream {
        let p = &self.private;
        let body = match workers {
            Workers::One => quote!(#p::Ok(1)),
            Workers::Fixed(count) => quote!(#p::Ok(#count)),
            Workers::Option(group, name) => quote!(#p::workers_from_option(conf, #group, #name)),
        };
        let option = match workers {
            Workers::Option(group, name) => quote!(#p::Some((#group, #name))),
            _ => quote!(#p::None),
        };
        quote! {
            fn workers(conf: &#p::Conf) -> #p::Result<u32, #p::String> {
                let _ = conf;
                #body
            }

            fn workers_option() -> #p::Option<(&'static str, &'static str)> {
                #option
            }
        }
    }

    fn new_fn(&self, user_defined: bool) -> TokenStream {
        let (ty, p) = (self.ty, &self.private);
        let body = if user_defined {
            quote!(#p::IntoNewResult::into_new_result(<#ty>::new(conf).await))
        } else {
            quote_spanned! {ty.span()=>
                #p::Ok(<#ty as #p::Default>::default())
            }
        };
        quote! {
            fn new(
                conf: &#p::Conf,
            ) -> impl #p::Future<Output = #p::anyhow::Result<Self>> + #p::Send {
                let _ = conf;
                async move { #body }
            }
        }
    }

    fn task_fn_ident(task: &Periodic) -> syn::Ident {
        format_ident!("__periodic_{}", task.method)
    }

    fn task_fn(&self, task: &Periodic) -> TokenStream {
        let (ty, p) = (self.ty, &self.private);
        let method = &task.method;
        let ident = Self::task_fn_ident(task);
        let call = if task.takes_context {
            quote_spanned!(task.span=> <#ty>::#method(service, ctx).await)
        } else {
            quote_spanned!(task.span=> <#ty>::#method(service).await)
        };
        quote! {
            fn #ident<'a>(
                service: &'a mut #ty,
                ctx: &'a #p::Context,
            ) -> #p::BoxFuture<'a, #p::TaskOutcome> {
                let _ = &ctx;
                #p::Box::pin(async move { #p::IntoTaskOutcome::into_task_outcome(#call) })
            }
        }
    }

    fn task_spec(&self, task: &Periodic) -> TokenStream {
        let p = &self.private;
        let name = &task.name;
        let run = Self::task_fn_ident(task);
        let spacing = match &task.spacing {
            Spacing::Seconds(seconds) => quote!(#p::Spacing::Seconds(#seconds)),
            Spacing::Option(group, option) => {
                quote!(#p::Spacing::Option { group: #group, name: #option })
            }
        };
        let initial_delay = match task.initial_delay {
            Some(delay) => quote!(#p::Some(#p::Duration::from_secs_f64(#delay))),
            None => quote!(#p::None),
        };
        let (run_immediately, enabled, external) =
            (task.run_immediately, task.enabled, task.external_process_ok);
        quote! {
            #p::PeriodicTask {
                name: #name,
                spacing: #spacing,
                run_immediately: #run_immediately,
                initial_delay: #initial_delay,
                enabled: #enabled,
                external_process_ok: #external,
                run: #run,
            }
        }
    }
}
