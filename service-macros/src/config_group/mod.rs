//! `#[config_group(name = "...")]`: a struct whose fields are options.
//!
//! Parsing reads the attributes into a model ([`parse`]), validation checks
//! the rules between keys and fields ([`validate`]), and the expansion
//! writes the `ConfigGroup` impl, or on error a stub of it ([`expand`]).

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemStruct;

use crate::errors::Errors;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut item: ItemStruct = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(_) => {
            let message = "`#[config_group]` goes on a struct with named fields, \
                           one per option";
            let error = syn::Error::new_spanned(first_line(&item), message);
            let error = error.to_compile_error();
            return quote!(#item #error);
        }
    };
    let errors = Errors::new();
    let group = parse::Group::from_ast(args, &mut item, &errors);
    validate::check(&item, &group, &errors);
    match errors.check() {
        Ok(()) => expand::generate(&item, &group),
        Err(compile_errors) => expand::fallback(&item, &group, compile_errors),
    }
}

/// The tokens before the item's body, to point at `enum Name` rather than
/// at the whole item.
pub(crate) fn first_line(item: &TokenStream) -> TokenStream {
    item.clone()
        .into_iter()
        .take_while(|tree| !matches!(tree, proc_macro2::TokenTree::Group(_)))
        .collect()
}
