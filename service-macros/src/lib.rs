//! Procedural macros of `service-runtime`. Use them through that crate,
//! which re-exports them and documents each with its expansion.
//!
//! Each macro reads its input into a model, validates it, then expands it.
//! Errors are collected in [`errors::Errors`] so that one build reports
//! every mistake of an item; on error the item is still emitted, with stub
//! impls where they prevent follow-up errors.

mod args;
mod config_group;
mod errors;
mod service;
mod span;
#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// This macro is defined in the `service-macros` crate and used through
/// `service_runtime`.
#[proc_macro_attribute]
pub fn config_group(args: TokenStream, item: TokenStream) -> TokenStream {
    config_group::expand(args.into(), item.into()).into()
}

/// This macro is defined in the `service-macros` crate and used through
/// `service_runtime`.
#[proc_macro_attribute]
pub fn service(args: TokenStream, item: TokenStream) -> TokenStream {
    service::expand(args.into(), item.into()).into()
}

/// This macro is defined in the `service-macros` crate and used through
/// `service_runtime`. Outside a `#[service]` impl block it is an error: only
/// the service macro can schedule the method.
#[proc_macro_attribute]
pub fn periodic(args: TokenStream, item: TokenStream) -> TokenStream {
    let _ = args;
    service::periodic_outside_service(item.into()).into()
}
