//! Spans for generated code that must point at the user's tokens.

use proc_macro2::Span;

/// A span located at `span`, so that errors point at the user's tokens, but
/// marked as macro output, so that lints such as `unused_qualifications`
/// do not fire on generated code in the user's crate.
pub(crate) fn at(span: Span) -> Span {
    Span::call_site().located_at(span)
}
