//! Procedural macros of `service-runtime`.
use proc_macro::TokenStream;

/// Declares a group of options.
#[proc_macro_attribute]
pub fn config_group(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
