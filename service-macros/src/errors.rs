//! Collects every error of an item, so that one build shows them all.
//!
//! Parsing and validation never stop at the first problem: they record it
//! here, go on with a neutral value, and the expansion asks once, at the
//! end, whether anything went wrong.

use std::cell::RefCell;
use std::fmt::Display;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

/// An error sink shared by reference through one macro invocation.
pub(crate) struct Errors {
    errors: RefCell<Option<Vec<syn::Error>>>,
}

impl Errors {
    /// An empty sink; [`Errors::check`] must be called before it drops.
    pub(crate) fn new() -> Self {
        Errors {
            errors: RefCell::new(Some(Vec::new())),
        }
    }

    /// Records an error spanning `tokens`.
    pub(crate) fn error_at(&self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error at `span`.
    pub(crate) fn error_at_span(&self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    /// Records a finished error.
    pub(crate) fn push(&self, error: syn::Error) {
        self.errors
            .borrow_mut()
            .as_mut()
            .expect("errors are recorded before they are checked")
            .push(error);
    }

    /// All errors as `compile_error!` invocations, or `Ok` when there were
    /// none. Consumes the sink: nothing can be recorded afterwards.
    pub(crate) fn check(self) -> Result<(), TokenStream> {
        let errors = self
            .errors
            .borrow_mut()
            .take()
            .expect("errors are checked once");
        if errors.is_empty() {
            return Ok(());
        }
        Err(errors.iter().map(syn::Error::to_compile_error).collect())
    }
}

impl Drop for Errors {
    fn drop(&mut self) {
        let unchecked = self
            .errors
            .get_mut()
            .as_ref()
            .is_some_and(|e| !e.is_empty());
        if unchecked && !std::thread::panicking() {
            panic!("a macro recorded errors and never reported them");
        }
    }
}
