//! Signature checks of hooks and periodic tasks. What the macro can see
//! (`async`, the receiver, the number of arguments) is checked here; the
//! argument and return types are left to the compiler, through calls the
//! expansion spans at the user's types.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{FnArg, ImplItemFn, ReturnType, Signature, Type};

use crate::errors::Errors;

/// What a method must look like.
pub(crate) struct Expected {
    /// How messages name the method: `the hook `start``.
    pub(crate) what: String,
    /// Whether it takes `&self` or `&mut self`.
    pub(crate) receiver: bool,
    /// The fewest and the most arguments besides the receiver.
    pub(crate) arguments: (usize, usize),
    /// The signature to suggest, like `async fn stop(&mut self, graceful: bool)`.
    pub(crate) example: String,
}

/// A signature that passed the checks.
pub(crate) struct Checked {
    /// The method's name.
    pub(crate) ident: syn::Ident,
    /// Where each argument's type is, besides the receiver.
    pub(crate) argument_spans: Vec<Span>,
    /// Where the return type is (the signature's end when there is none).
    pub(crate) output_span: Span,
}

/// Checks `method` against `expected`, recording each problem.
pub(crate) fn check(method: &ImplItemFn, expected: &Expected, errors: &Errors) -> Option<Checked> {
    let sig = &method.sig;
    let mut ok = check_qualifiers(sig, expected, errors);
    let receiver = sig.inputs.first().and_then(|arg| match arg {
        FnArg::Receiver(receiver) => Some(receiver),
        FnArg::Typed(_) => None,
    });
    ok &= check_receiver(sig, receiver, expected, errors);
    let arguments: Vec<&syn::PatType> = sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            FnArg::Typed(typed) => Some(typed),
            FnArg::Receiver(_) => None,
        })
        .collect();
    ok &= check_argument_count(sig, &arguments, expected, errors);
    ok.then(|| Checked {
        ident: sig.ident.clone(),
        argument_spans: arguments.iter().map(|arg| arg.ty.span()).collect(),
        output_span: output_span(sig),
    })
}

fn check_qualifiers(sig: &Signature, expected: &Expected, errors: &Errors) -> bool {
    let what = &expected.what;
    let mut ok = true;
    if sig.asyncness.is_none() {
        let message = format!("{what} must be `async fn`: write `{}`", expected.example);
        errors.error_at(sig.fn_token, message);
        ok = false;
    }
    if let Some(unsafety) = &sig.unsafety {
        errors.error_at(
            unsafety,
            format!("{what} cannot be `unsafe`: remove `unsafe`"),
        );
        ok = false;
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        let message = format!("{what} cannot be generic: the runtime calls it with fixed types");
        errors.error_at(&sig.generics, message);
        ok = false;
    }
    if let Some(variadic) = &sig.variadic {
        let message = format!("{what} cannot be variadic: `{}`", expected.example);
        errors.error_at(variadic, message);
        ok = false;
    }
    ok
}

fn check_receiver(
    sig: &Signature,
    receiver: Option<&syn::Receiver>,
    expected: &Expected,
    errors: &Errors,
) -> bool {
    let what = &expected.what;
    let example = &expected.example;
    match (expected.receiver, receiver) {
        (false, Some(receiver)) => {
            let message = format!("{what} builds the service, so it takes no `self`: `{example}`");
            errors.error_at(receiver, message);
            false
        }
        (true, None) => {
            let message = format!("{what} takes `&mut self` first: `{example}`");
            errors.error_at_span(sig.paren_token.span.join(), message);
            false
        }
        (true, Some(receiver)) if !matches!(*receiver.ty, Type::Reference(_)) => {
            let message = format!(
                "{what} takes `&mut self` or `&self`, not `{}`",
                spelled(receiver)
            );
            errors.error_at(receiver, message);
            false
        }
        _ => true,
    }
}

/// The receiver as written: `self`, `mut self`, `self: Box<Self>`.
fn spelled(receiver: &syn::Receiver) -> String {
    quote::quote!(#receiver).to_string()
}

fn check_argument_count(
    sig: &Signature,
    arguments: &[&syn::PatType],
    expected: &Expected,
    errors: &Errors,
) -> bool {
    let (fewest, most) = expected.arguments;
    let what = &expected.what;
    let example = &expected.example;
    if let Some(extra) = arguments.get(most) {
        let message = format!("{what} takes no argument here: `{example}`");
        errors.error_at(extra, message);
        return false;
    }
    if arguments.len() < fewest {
        let message = format!("{what} is missing an argument: `{example}`");
        errors.error_at_span(sig.paren_token.span.join(), message);
        return false;
    }
    true
}

pub(crate) fn output_span(sig: &Signature) -> Span {
    match &sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => sig.paren_token.span.close(),
    }
}
