//! `#[service]` on an impl block, and the `#[periodic]` methods inside it.
//!
//! [`parse`] reads the arguments, the hooks and the tasks ([`periodic`]),
//! checking signatures with [`signature`]; [`expand`] writes the `Service`
//! impl, or on error a stub of it.

mod expand;
mod parse;
mod periodic;
mod signature;

use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemImpl;

use crate::config_group::first_line;
use crate::errors::Errors;

pub(crate) use periodic::outside_service as periodic_outside_service;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut item: ItemImpl = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(_) => {
            let message = "`#[service]` goes on the impl block of the service type: \
                           `#[service] impl MyService { .. }`";
            let error = syn::Error::new_spanned(first_line(&item), message);
            let error = error.to_compile_error();
            return quote!(#item #error);
        }
    };
    let errors = Errors::new();
    let model = parse::ServiceModel::from_ast(args, &mut item, &errors);
    match errors.check() {
        Ok(()) => expand::generate(&item, &model),
        Err(compile_errors) => expand::fallback(&item, &model.krate, compile_errors),
    }
}
