//! Procedural macros of `service-runtime`. Use them through that crate,
//! which re-exports them and documents each with its expansion.

mod args;
mod config_group;
mod errors;
mod service;

use proc_macro::TokenStream;

/// Declares a group of options. Documented in `service-runtime`.
#[proc_macro_attribute]
pub fn config_group(args: TokenStream, item: TokenStream) -> TokenStream {
    config_group::expand(args.into(), item.into()).into()
}

/// Turns an `impl` block into a service. Documented in `service-runtime`.
#[proc_macro_attribute]
pub fn service(args: TokenStream, item: TokenStream) -> TokenStream {
    service::expand(args.into(), item.into()).into()
}

/// Marks a method of a `#[service]` impl block as a periodic task.
/// Documented in `service-runtime`.
///
/// Used alone, outside a `#[service]` block, it is an error: only the
/// service macro can schedule the method.
#[proc_macro_attribute]
pub fn periodic(args: TokenStream, item: TokenStream) -> TokenStream {
    service::periodic_outside_service(args.into(), item.into()).into()
}
