//! Spans for generated code that must point at the user's tokens.

use proc_macro2::{Group, Span, TokenStream, TokenTree};

/// A span located at `span`, so that errors point at the user's tokens, but
/// marked as macro output, so that lints such as `unused_qualifications`
/// do not fire on generated code in the user's crate.
pub(crate) fn at(span: Span) -> Span {
    Span::call_site().located_at(span)
}

/// `tokens` with every token, nested ones too, located at `span` (see
/// [`at`]). For generated expressions whose every part should point at one
/// place in the user's code, such as a check spanned at an attribute key.
pub(crate) fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    let span = at(span);
    tokens
        .into_iter()
        .map(|tree| match tree {
            TokenTree::Group(group) => {
                let mut respanned = Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(span);
                TokenTree::Group(respanned)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}
