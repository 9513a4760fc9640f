//! `key = value` and bare `flag` attribute arguments, with the checks every
//! macro shares: unknown keys list the valid ones, repeated keys are errors,
//! values of the wrong kind point at the value.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Lit, Meta, Token};

use crate::errors::Errors;

/// One argument: its key and, unless it is a bare flag, its value.
pub(crate) struct Arg {
    pub(crate) key: String,
    pub(crate) key_span: Span,
    pub(crate) value: Option<Expr>,
    pub(crate) meta: Meta,
}

/// The arguments of one attribute, after the shared checks.
pub(crate) struct Args {
    args: Vec<Arg>,
}

/// The attribute's own name, for messages: `#[opt]`, `#[periodic]`.
pub(crate) struct AttrName(pub(crate) &'static str);

impl Args {
    /// Parses `tokens` as a comma list of `key`, `key = value` and
    /// `key(...)`, reporting unknown and repeated keys.
    pub(crate) fn parse(
        tokens: TokenStream,
        attr: &AttrName,
        valid: &[&str],
        errors: &Errors,
    ) -> Args {
        let parser = Punctuated::<Meta, Token![,]>::parse_terminated;
        let metas = match parser.parse2(tokens) {
            Ok(metas) => metas,
            Err(error) => {
                errors.push(error);
                return Args { args: Vec::new() };
            }
        };
        let mut args: Vec<Arg> = Vec::new();
        for meta in metas {
            let Some(arg) = Arg::from_meta(meta, attr, errors) else {
                continue;
            };
            if !valid.contains(&arg.key.as_str()) {
                let list = valid
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let message = format!(
                    "unknown key `{}` in `{}`; valid keys are {list}",
                    arg.key, attr.0
                );
                errors.push(syn::Error::new(arg.key_span, message));
                continue;
            }
            if args.iter().any(|seen| seen.key == arg.key) {
                let message = format!("duplicate key `{}` in `{}`", arg.key, attr.0);
                errors.push(syn::Error::new(arg.key_span, message));
                continue;
            }
            args.push(arg);
        }
        Args { args }
    }

    /// The argument `key`, if given.
    pub(crate) fn get(&self, key: &str) -> Option<&Arg> {
        self.args.iter().find(|arg| arg.key == key)
    }

    /// A flag: `key` alone or `key = true|false`.
    pub(crate) fn flag(&self, key: &str, errors: &Errors) -> bool {
        let Some(arg) = self.get(key) else {
            return false;
        };
        match &arg.value {
            None => true,
            Some(Expr::Lit(lit)) => match &lit.lit {
                Lit::Bool(value) => value.value,
                other => {
                    errors.error_at(other, format!("`{key}` takes `true` or `false`"));
                    false
                }
            },
            Some(other) => {
                errors.error_at(other, format!("`{key}` takes `true` or `false`"));
                false
            }
        }
    }

    /// A string literal value.
    pub(crate) fn string(&self, key: &str, errors: &Errors) -> Option<syn::LitStr> {
        let arg = self.get(key)?;
        match &arg.value {
            Some(Expr::Lit(syn::ExprLit {
                lit: Lit::Str(value),
                ..
            })) => Some(value.clone()),
            Some(other) => {
                errors.error_at(
                    other,
                    format!("`{key}` takes a string literal, like `{key} = \"...\"`"),
                );
                None
            }
            None => {
                errors.error_at(
                    &arg.meta,
                    format!("`{key}` needs a value: `{key} = \"...\"`"),
                );
                None
            }
        }
    }

    /// A list of string literals: `key = ["a", "b"]` (a single string is
    /// accepted as a list of one).
    pub(crate) fn strings(&self, key: &str, errors: &Errors) -> Vec<syn::LitStr> {
        let Some(arg) = self.get(key) else {
            return Vec::new();
        };
        let message =
            format!("`{key}` takes a string or a list of strings, like `{key} = [\"a\"]`");
        match &arg.value {
            Some(Expr::Lit(syn::ExprLit {
                lit: Lit::Str(value),
                ..
            })) => vec![value.clone()],
            Some(Expr::Array(array)) => array
                .elems
                .iter()
                .filter_map(|elem| match elem {
                    Expr::Lit(syn::ExprLit {
                        lit: Lit::Str(value),
                        ..
                    }) => Some(value.clone()),
                    other => {
                        errors.error_at(other, &message);
                        None
                    }
                })
                .collect(),
            Some(other) => {
                errors.error_at(other, &message);
                Vec::new()
            }
            None => {
                errors.error_at(&arg.meta, &message);
                Vec::new()
            }
        }
    }

    /// Any expression value.
    pub(crate) fn expr(&self, key: &str, errors: &Errors) -> Option<Expr> {
        let arg = self.get(key)?;
        if arg.value.is_none() {
            errors.error_at(&arg.meta, format!("`{key}` needs a value: `{key} = ...`"));
        }
        arg.value.clone()
    }

    /// A numeric literal value, possibly negative.
    pub(crate) fn number(&self, key: &str, errors: &Errors) -> Option<(f64, Expr)> {
        let expr = self.expr(key, errors)?;
        match literal_number(&expr) {
            Some(number) => Some((number, expr)),
            None => {
                errors.error_at(
                    &expr,
                    format!("`{key}` takes a number literal, like `{key} = 1`"),
                );
                None
            }
        }
    }
}

impl Arg {
    fn from_meta(meta: Meta, attr: &AttrName, errors: &Errors) -> Option<Arg> {
        let path = meta.path();
        let Some(ident) = path.get_ident().cloned().or_else(|| single_keyword(path)) else {
            errors.error_at(
                path,
                format!("expected a key of `{}`, like `name = ...`", attr.0),
            );
            return None;
        };
        let value = match &meta {
            Meta::Path(_) => None,
            Meta::NameValue(nv) => Some(nv.value.clone()),
            Meta::List(list) => {
                let message = format!(
                    "`{}` does not take a parenthesised list here; write `{} = ...`",
                    ident, ident
                );
                errors.error_at(list, message);
                return None;
            }
        };
        Some(Arg {
            key: ident.to_string(),
            key_span: path.span(),
            value,
            meta,
        })
    }
}

/// `crate` parses as a path segment but not as an ident.
fn single_keyword(path: &syn::Path) -> Option<syn::Ident> {
    let segment = path.segments.first()?;
    (path.segments.len() == 1 && path.leading_colon.is_none())
        .then(|| syn::Ident::new(&segment.ident.to_string(), segment.ident.span()))
}

/// The value of an integer or float literal, with an optional minus sign.
pub(crate) fn literal_number(expr: &Expr) -> Option<f64> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(int), ..
        }) => int.base10_parse::<f64>().ok(),
        Expr::Lit(syn::ExprLit {
            lit: Lit::Float(float),
            ..
        }) => float.base10_parse::<f64>().ok(),
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => literal_number(expr).map(|n| -n),
        Expr::Group(group) => literal_number(&group.expr),
        Expr::Paren(paren) => literal_number(&paren.expr),
        _ => None,
    }
}

/// The `crate = "path"` override, or `::service_runtime`.
pub(crate) fn runtime_path(args: &Args, errors: &Errors) -> TokenStream {
    match args.string("crate", errors) {
        Some(lit) => match lit.parse::<syn::Path>() {
            Ok(path) => quote::quote!(#path),
            Err(_) => {
                errors.error_at(&lit, "`crate` takes a path, like `crate = \"my_runtime\"`");
                quote::quote!(::service_runtime)
            }
        },
        None => quote::quote!(::service_runtime),
    }
}
