//! Code generation for `#[service]`: the `Service` impl and one function
//! per periodic task.
//!
//! Each call of a user's method binds its result first and converts it
//! through a `__private` trait with the binding spanned at the method's
//! return type, so a wrong return type is reported there.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::{ItemImpl, LitStr, Type};

use super::parse::{Hook, HookKind, Listeners, ServiceModel, Workers, self_type_span};
use super::periodic::{Periodic, Spacing};
use crate::span;

/// Generation context: the service type and the path to `__private`.
struct Context<'a> {
    ty: &'a Type,
    p: TokenStream,
}

/// The impl block, the `Service` impl and the task functions.
pub(crate) fn generate(item: &ItemImpl, model: &ServiceModel) -> TokenStream {
    let krate = &model.krate;
    let cx = Context {
        ty: &item.self_ty,
        p: quote!(#krate::__private),
    };
    let (ty, p) = (cx.ty, &cx.p);
    let name = &model.name;
    let workers = cx.workers_fns(&model.workers);
    let new = cx.new_fn(model.hook(HookKind::New), item);
    let other_hooks = [HookKind::Start, HookKind::Stop, HookKind::Reset]
        .into_iter()
        .filter_map(|kind| model.hook(kind))
        .map(|hook| cx.hook_fn(hook));
    let listeners = model
        .listeners
        .as_ref()
        .map(|listeners| cx.listeners_fn(listeners));
    let task_fns = model.tasks.iter().map(|task| cx.task_fn(task));
    let task_specs = model.tasks.iter().map(|task| cx.task_spec(task));
    let item = allow_unused_async(item, model);
    quote! {
        #item

        const _: () = {
            #[automatically_derived]
            impl #p::Service for #ty {
                const NAME: &'static #p::str = #name;

                #workers
                #new
                #(#other_hooks)*
                #listeners

                fn periodic_tasks() -> #p::Vec<#p::PeriodicTask<Self>> {
                    #p::vec![#(#task_specs),*]
                }
            }

            #(#task_fns)*
        };
    }
}

/// On error: the impl block, without its `#[periodic]` attributes, the
/// errors, and a `Service` impl whose bodies never run, so that `main!`
/// and other uses of the type report nothing more.
pub(crate) fn fallback(item: &ItemImpl, krate: &TokenStream, errors: TokenStream) -> TokenStream {
    if !item.generics.params.is_empty() || item.trait_.is_some() {
        return quote!(#item #errors);
    }
    let ty = &item.self_ty;
    let p = quote!(#krate::__private);
    quote! {
        #item
        #errors

        // Compilation fails on the errors above: these bodies never run.
        const _: () = {
            #[automatically_derived]
            impl #p::Service for #ty {
                const NAME: &'static #p::str = "";

                fn new(
                    _: &#p::Conf,
                ) -> impl #p::Future<Output = #p::anyhow::Result<Self>> + #p::Send {
                    #p::unreachable_future()
                }
            }
        };
    }
}

impl Context<'_> {
    fn workers_fns(&self, workers: &Workers) -> TokenStream {
        let p = &self.p;
        let (count, option) = match workers {
            Workers::One => (quote!(#p::Ok(1)), quote!(#p::None)),
            Workers::Fixed(count) => (quote!(#p::Ok(#count)), quote!(#p::None)),
            Workers::Option(group, name) => (
                quote!(#p::workers_from_option(conf, #group, #name)),
                quote!(#p::Some((#group, #name))),
            ),
        };
        quote! {
            fn workers(conf: &#p::Conf) -> #p::Result<#p::u32, #p::String> {
                let _ = conf;
                #count
            }

            fn workers_option() -> #p::Option<(&'static #p::str, &'static #p::str)> {
                #option
            }
        }
    }

    /// `listeners`, forwarding to the user's function; its argument and
    /// result are spanned at the types the user wrote, so that a mismatch
    /// is reported there.
    fn listeners_fn(&self, listeners: &Listeners) -> TokenStream {
        let p = &self.p;
        let function = self.method_path(&listeners.ident);
        let conf = respan(&quote!(conf), listeners.argument_span);
        let output = output_binding(listeners.output_span);
        quote! {
            fn listeners(conf: &#p::Conf) -> #p::Vec<#p::Listen> {
                let #output = #function(#conf);
                #output
            }
        }
    }

    /// `new`: the user's hook, or `Default` when there is none.
    fn new_fn(&self, hook: Option<&Hook>, item: &ItemImpl) -> TokenStream {
        let (ty, p) = (self.ty, &self.p);
        let body = match hook {
            Some(hook) => {
                let call = self.call(hook, &[quote!(conf)]);
                let output = output_binding(hook.signature.output_span);
                let convert = quote!(#p::IntoNewResult::<Self>::into_new_result(#output));
                let convert = span::respan(convert, hook.signature.output_span);
                quote! {
                    let #output = #call;
                    #convert
                }
            }
            None => {
                let at = span::at(self_type_span(item));
                quote_spanned!(at=> #p::Ok(#p::default_service::<#ty>()))
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

    /// `start`, `stop` or `reset`, forwarding to the user's hook.
    fn hook_fn(&self, hook: &Hook) -> TokenStream {
        let p = &self.p;
        let output = output_binding(hook.signature.output_span);
        let (signature, convert) = match hook.kind {
            HookKind::Start => (
                quote! {
                    fn start(&mut self, ctx: &#p::Context)
                        -> impl #p::Future<Output = #p::anyhow::Result<()>> + #p::Send
                },
                quote!(#p::IntoHookResult::into_hook_result(#output)),
            ),
            HookKind::Stop => (
                quote! {
                    fn stop(&mut self, graceful: #p::bool)
                        -> impl #p::Future<Output = ()> + #p::Send
                },
                quote!(#p::HookReturnsNothing::into_unit(#output)),
            ),
            HookKind::Reset => (
                quote! {
                    fn reset(&mut self, conf: &#p::Conf)
                        -> impl #p::Future<Output = ()> + #p::Send
                },
                quote!(#p::HookReturnsNothing::into_unit(#output)),
            ),
            HookKind::New => unreachable!("`new` is generated by `new_fn`"),
        };
        let argument = match hook.kind {
            HookKind::Start => quote!(ctx),
            HookKind::Stop => quote!(graceful),
            _ => quote!(conf),
        };
        let call = self.call(hook, &[quote!(self), argument]);
        let convert = span::respan(convert, hook.signature.output_span);
        quote! {
            #signature {
                async move {
                    let #output = #call;
                    #convert
                }
            }
        }
    }

    /// `<Type>::method(args..).await`, each argument spanned at the type
    /// the user wrote for it, so that a mismatch is reported there, and the
    /// method at its name.
    fn call(&self, hook: &Hook, arguments: &[TokenStream]) -> TokenStream {
        let method = self.method_path(&hook.signature.ident);
        let spans = hook.signature.argument_spans.iter();
        // The receiver has no span of its own: it is the first argument
        // when the hook takes `self`.
        let skip = arguments.len() - hook.signature.argument_spans.len();
        let spanned = arguments.iter().enumerate().map(|(index, argument)| {
            if index < skip {
                return argument.clone();
            }
            let span = spans.clone().nth(index - skip).copied();
            respan(argument, span.unwrap_or_else(Span::call_site))
        });
        quote!(#method(#(#spanned),*).await)
    }

    /// `<Type>::method`, located at the method's name.
    fn method_path(&self, method: &syn::Ident) -> TokenStream {
        let ty = self.ty;
        span::respan(quote!(<#ty>::#method), method.span())
    }

    fn task_fn_ident(task: &Periodic) -> syn::Ident {
        format_ident!("__periodic_{}", task.signature.ident)
    }

    fn task_fn(&self, task: &Periodic) -> TokenStream {
        let (ty, p) = (self.ty, &self.p);
        let method = self.method_path(&task.signature.ident);
        let ident = Self::task_fn_ident(task);
        let output = output_binding(task.signature.output_span);
        let call = match task.signature.argument_spans.first() {
            Some(span) => {
                let ctx = respan(&quote!(ctx), *span);
                quote!(#method(service, #ctx).await)
            }
            None => quote!(#method(service).await),
        };
        let convert = quote!(#p::IntoTaskOutcome::into_task_outcome(#output));
        let convert = span::respan(convert, task.signature.output_span);
        quote! {
            fn #ident<'a>(
                service: &'a mut #ty,
                ctx: &'a #p::Context,
            ) -> #p::BoxFuture<'a, #p::TaskOutcome> {
                let _ = &ctx;
                #p::Box::pin(async move {
                    let #output = #call;
                    #convert
                })
            }
        }
    }

    fn task_spec(&self, task: &Periodic) -> TokenStream {
        let p = &self.p;
        let settings = &task.settings;
        let name = LitStr::new(&settings.name, Span::call_site());
        let run = Self::task_fn_ident(task);
        let spacing = match &settings.spacing {
            Spacing::Seconds(seconds) => quote!(#p::Spacing::Seconds(#seconds)),
            Spacing::Option(group, option) => {
                quote!(#p::Spacing::Option { group: #group, name: #option })
            }
        };
        let initial_delay = match settings.initial_delay {
            Some(delay) => quote!(#p::Some(#p::Duration::from_secs_f64(#delay))),
            None => quote!(#p::None),
        };
        let run_immediately = settings.run_immediately;
        let enabled = settings.enabled;
        let external = settings.external_process_ok;
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

/// The impl block with `clippy::unused_async` allowed on the hooks and
/// tasks: they must be `async fn` whether or not they await, so the lint
/// would only ask the user for something the macro forbids.
fn allow_unused_async(item: &ItemImpl, model: &ServiceModel) -> ItemImpl {
    let mut item = item.clone();
    let hooks = model.hooks.iter().map(|hook| &hook.signature.ident);
    let tasks = model.tasks.iter().map(|task| &task.signature.ident);
    let called: Vec<&syn::Ident> = hooks.chain(tasks).collect();
    for impl_item in &mut item.items {
        if let syn::ImplItem::Fn(method) = impl_item {
            if called.contains(&&method.sig.ident) {
                method
                    .attrs
                    .push(syn::parse_quote!(#[allow(clippy::unused_async)]));
            }
        }
    }
    item
}

/// The local that holds a user method's result, spanned at its return
/// type: a conversion trait that the type lacks is reported there.
fn output_binding(span: Span) -> syn::Ident {
    syn::Ident::new("__output", span::at(span))
}

/// `tokens` (a single identifier) located at `span`.
fn respan(tokens: &TokenStream, span: Span) -> TokenStream {
    let ident: syn::Ident = syn::parse2(tokens.clone()).expect("arguments are identifiers");
    let ident = syn::Ident::new(&ident.to_string(), span::at(span));
    quote!(#ident)
}
