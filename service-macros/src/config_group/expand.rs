//! Code generation for `#[config_group]`: the `ConfigGroup` impl, its
//! registration, and the compile-time checks spanned at the user's tokens.
//!
//! Every option's value type is reached through `__private::Probe<T>`,
//! whose methods exist for any `T`: a type without an option kind then
//! fails once, in the check at the field's type, instead of once per use.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, ItemStruct, LitStr, Type};

use super::parse::{Group, OptionField, Shape, generic_argument};
use crate::args::string_literal;
use crate::span;

/// The item, its impl and its registration.
pub(crate) fn generate(item: &ItemStruct, group: &Group) -> TokenStream {
    let ident = &item.ident;
    let p = private(group);
    let name = group.name.as_ref().expect("a valid group has a name");
    let kind_checks = group.options.iter().map(|option| kind_check(option, &p));
    let bound_checks = group
        .options
        .iter()
        .filter_map(|option| bound_check(option, &p));
    let specs = group
        .options
        .iter()
        .map(|option| option_spec(option, name, &p));
    let build = build_fn(group, &p);
    quote! {
        #item

        const _: () = {
            use #p::{KnownKind as _, UnknownKind as _};

            #(#kind_checks)*
            #(#bound_checks)*

            #[automatically_derived]
            impl #p::ConfigGroup for #ident {
                const GROUP: &'static #p::str = #name;

                fn options() -> #p::Vec<#p::OptionSpec> {
                    #p::vec![#(#specs),*]
                }

                #build
            }

            #[#p::linkme::distributed_slice(#p::CONFIG_GROUPS)]
            #[linkme(crate = #p::linkme)]
            static __REGISTER: #p::GroupSpec = #p::group_spec::<#ident>();
        };
    }
}

/// On error: the struct, without its `#[opt]` attributes, the errors, and
/// an impl whose bodies never run, so that code naming the struct as a
/// group (`conf.group::<T>()`) reports nothing more.
pub(crate) fn fallback(item: &ItemStruct, group: &Group, errors: TokenStream) -> TokenStream {
    if !item.generics.params.is_empty() {
        return quote!(#item #errors);
    }
    let ident = &item.ident;
    let p = private(group);
    let name = group.name.as_ref().map_or_else(String::new, LitStr::value);
    quote! {
        #item
        #errors

        // Compilation fails on the errors above: these bodies never run.
        const _: () = {
            #[automatically_derived]
            impl #p::ConfigGroup for #ident {
                const GROUP: &'static #p::str = #name;

                fn options() -> #p::Vec<#p::OptionSpec> {
                    #p::unreachable!()
                }

                fn build(
                    _: &#p::ResolvedGroup<'_>,
                ) -> #p::Result<Self, #p::Vec<#p::ConfigError>> {
                    #p::unreachable!()
                }
            }
        };
    }
}

fn private(group: &Group) -> TokenStream {
    let krate = &group.krate;
    quote!(#krate::__private)
}

fn build_fn(group: &Group, p: &TokenStream) -> TokenStream {
    let locals: Vec<_> = (0..group.options.len())
        .map(|index| format_ident!("__option_{}", index))
        .collect();
    let getters = group
        .options
        .iter()
        .zip(&locals)
        .map(|(option, local)| getter(option, local, p));
    let fields = group.options.iter().zip(&locals).map(|(option, local)| {
        let ident = &option.ident;
        quote!(#ident: #p::present(#local))
    });
    quote! {
        fn build(
            __values: &#p::ResolvedGroup<'_>,
        ) -> #p::Result<Self, #p::Vec<#p::ConfigError>> {
            let mut __errors = #p::Vec::new();
            #(#getters)*
            if !__errors.is_empty() {
                return #p::Err(__errors);
            }
            #p::Ok(Self { #(#fields),* })
        }
    }
}

fn getter(option: &OptionField, local: &syn::Ident, p: &TokenStream) -> TokenStream {
    let name = &option.name;
    let probe = probe(option, p);
    match option.shape {
        Shape::Single => {
            let default = single_default(option, p);
            quote! {
                let #local = (#probe).single(__values, #name, #default, &mut __errors);
            }
        }
        Shape::Optional(_) => quote! {
            let #local = (#probe).optional(__values, #name, &mut __errors);
        },
        Shape::Multi(_) => {
            let default = multi_default(option, p);
            quote! {
                let #local = (#probe).multi(__values, #name, #default, &mut __errors);
            }
        }
    }
}

/// `&Probe::<T>::NEW`, whose methods reach `T`'s `OptionValue` impl.
fn probe(option: &OptionField, p: &TokenStream) -> TokenStream {
    let ty = option.value_type();
    quote!(&#p::Probe::<#ty>::NEW)
}

/// Fails at the field's type when it has no option kind.
fn kind_check(option: &OptionField, p: &TokenStream) -> TokenStream {
    let ty = option.value_type();
    quote_spanned! {span::at(ty.span())=>
        const _: () = #p::assert_option_value::<#ty>();
    }
}

/// Fails at `min` or `max` when the option's kind has no order.
fn bound_check(option: &OptionField, p: &TokenStream) -> Option<TokenStream> {
    let key = option
        .min
        .as_ref()
        .and(option.args.key_span("min"))
        .or_else(|| option.max.as_ref().and(option.args.key_span("max")))?;
    let ty = option.value_type();
    let message = "`min` and `max` bound numeric options (integers, floats, `Port`, \
                   `Duration`): remove them, or give the field a numeric type";
    let check = quote! {
        const _: () = #p::assert!(
            #p::has_bounds(<#ty as #p::OptionValue>::KIND),
            #message,
        );
    };
    Some(span::respan(check, key))
}

/// `Some(default)` or `None`, typed as the option's value.
fn single_default(option: &OptionField, p: &TokenStream) -> TokenStream {
    let Some(default) = &option.default else {
        return quote!(#p::None);
    };
    let ty = option.value_type();
    let value = match generic_argument(ty, "Vec") {
        Some(item) if matches!(default, Expr::Array(_)) => list_default(default, ty, &item, p),
        _ => converted(default, ty, p),
    };
    quote!(#p::Some(#value))
}

/// The default of a `multi` option: a `Vec<T>`, empty when none is given.
fn multi_default(option: &OptionField, p: &TokenStream) -> TokenStream {
    let item = option.value_type();
    match &option.default {
        Some(default) => list_default(default, &quote!(#p::Vec<#item>), item, p),
        None => quote!(#p::Vec::<#item>::new()),
    }
}

/// `[a, b]` as a `Vec` whose items convert like single defaults; any
/// other expression is typed as the whole list.
fn list_default(
    default: &Expr,
    list: &impl quote::ToTokens,
    item: &Type,
    p: &TokenStream,
) -> TokenStream {
    let Expr::Array(array) = default else {
        return converted(default, list, p);
    };
    let items = array.elems.iter().map(|elem| converted(elem, item, p));
    quote_spanned!(span::at(default.span())=> #p::vec![#(#items),*])
}

/// A default converted to `target`: string literals through
/// `From<&'static str>` (for `String`, `PathBuf`), anything else taken as
/// `target` itself, so that number literals get the field's type. The
/// binding makes a mistyped default fail at the default, with the field's
/// type as the reason.
fn converted(default: &Expr, target: &impl quote::ToTokens, p: &TokenStream) -> TokenStream {
    let span = default.span();
    let value = if string_literal(default).is_some() {
        span::respan(quote!(#p::from_str_default(#default)), span)
    } else {
        quote!(#default)
    };
    quote_spanned! {span::at(span)=>
        {
            let __default: #target = #value;
            __default
        }
    }
}

/// The rendered default, for help texts and sample files.
fn rendered_default(option: &OptionField, p: &TokenStream) -> TokenStream {
    match option.shape {
        Shape::Optional(_) => quote!(#p::None),
        Shape::Single if option.default.is_none() => quote!(#p::None),
        Shape::Single => {
            let default = single_default(option, p);
            quote!(__probe.render_default(#default))
        }
        Shape::Multi(_) => {
            let default = multi_default(option, p);
            quote!(__probe.render_multi_default(#default))
        }
    }
}

fn option_spec(option: &OptionField, group: &LitStr, p: &TokenStream) -> TokenStream {
    let name = &option.name;
    let help = &option.help;
    let ty = option.value_type();
    let probe = probe(option, p);
    let rust_type = quote!(#ty).to_string().replace(' ', "");
    let default = rendered_default(option, p);
    let number = |bound: Option<f64>| match bound {
        Some(number) => quote!(#p::Some(#number)),
        None => quote!(#p::None),
    };
    let min = number(option.min.as_ref().map(|min| min.value));
    let max = number(option.max.as_ref().map(|max| max.value));
    let choices = if option.choices.is_empty() {
        quote!(__probe.choices())
    } else {
        let list = &option.choices;
        quote!(#p::Some(&[#(#list),*]))
    };
    let text = |value: &Option<LitStr>| match value {
        Some(lit) => quote!(#p::Some(#lit)),
        None => quote!(#p::None),
    };
    let sample_default = text(&option.sample_default);
    let deprecated_reason = text(&option.deprecated_reason);
    let deprecated_names = &option.deprecated_names;
    let deprecated_groups = &option.deprecated_groups;
    let (secret, mutable, required, cli) =
        (option.secret, option.mutable, option.required, option.cli);
    let multi = option.is_multi();
    let deprecated_for_removal = option.deprecated_for_removal;
    let declared_at = quote_spanned! {span::at(option.name_span)=>
        #p::concat!(#p::file!(), ":", #p::line!())
    };
    quote! {
        {
            let __probe = #probe;
            #p::OptionSpec {
                group: #group,
                name: #name,
                help: #help,
                kind: __probe.kind(),
                rust_type: #rust_type,
                default: #default,
                sample_default: #sample_default,
                min: #min,
                max: #max,
                choices: #choices,
                secret: #secret,
                mutable: #mutable,
                required: #required,
                cli: #cli,
                multi: #multi,
                deprecated_names: &[#(#deprecated_names),*],
                deprecated_groups: &[#(#deprecated_groups),*],
                deprecated_for_removal: #deprecated_for_removal,
                deprecated_reason: #deprecated_reason,
                declared_at: #declared_at,
                check: __probe.check_fn(),
            }
        }
    }
}
