//! `key = value` and bare `flag` attribute arguments, with the checks every
//! macro shares: unknown keys list the valid ones, repeated keys are errors,
//! values of the wrong kind point at the value. A malformed argument is
//! reported and skipped; the arguments after it are still read.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Expr, Lit, LitStr, Meta, Token};

use crate::errors::Errors;

/// What an attribute accepts, for parsing and for messages.
pub(crate) struct AttrSpec {
    /// The attribute as users write it: `#[opt]`.
    pub(crate) name: &'static str,
    /// Every accepted key.
    pub(crate) keys: &'static [&'static str],
    /// Advice for keys that users write by mistake: `(wrong, advice)`.
    pub(crate) hints: &'static [(&'static str, &'static str)],
}

/// One argument: its key and, unless it is a bare flag, its value.
pub(crate) struct Arg {
    pub(crate) key: String,
    pub(crate) key_span: Span,
    pub(crate) value: Option<Expr>,
    /// The whole `key = value`, for errors about the argument as a whole.
    pub(crate) span: Span,
}

/// A number literal and the expression it was read from.
pub(crate) struct Number {
    pub(crate) value: f64,
    pub(crate) expr: Expr,
}

/// The arguments of one attribute, after the shared checks.
pub(crate) struct Args {
    args: Vec<Arg>,
    /// Whether a syntax error was reported: rules that depend on the
    /// attribute as a whole are then skipped, to report nothing twice.
    malformed: bool,
    /// Whether an unknown key was reported: a misspelled `default` must not
    /// also read as a missing one.
    unknown_keys: bool,
}

impl Args {
    /// No arguments, as for `#[opt]` without parentheses.
    pub(crate) fn empty() -> Args {
        Args {
            args: Vec::new(),
            malformed: false,
            unknown_keys: false,
        }
    }

    /// No usable arguments: the attribute's syntax was wrong, and that was
    /// reported.
    pub(crate) fn malformed() -> Args {
        Args {
            args: Vec::new(),
            malformed: true,
            unknown_keys: false,
        }
    }

    /// Whether a syntax error was reported for this attribute.
    pub(crate) fn is_malformed(&self) -> bool {
        self.malformed
    }

    /// Whether an unknown key was reported.
    pub(crate) fn has_unknown_keys(&self) -> bool {
        self.unknown_keys
    }

    /// Parses `tokens` as a comma list of `key` and `key = value`,
    /// reporting malformed, unknown and repeated keys.
    pub(crate) fn parse(tokens: TokenStream, spec: &AttrSpec, errors: &Errors) -> Args {
        let (metas, mut malformed) = parse_metas(tokens, errors);
        let mut args: Vec<Arg> = Vec::new();
        let mut unknown_keys = false;
        for meta in metas {
            let Some(arg) = Arg::from_meta(&meta, spec, errors) else {
                malformed = true;
                continue;
            };
            if !spec.keys.contains(&arg.key.as_str()) {
                errors.error_at_span(arg.key_span, unknown_key_message(&arg.key, spec));
                unknown_keys = true;
                continue;
            }
            if args.iter().any(|seen| seen.key == arg.key) {
                let message = format!("duplicate key `{}` in `{}`: keep one", arg.key, spec.name);
                errors.error_at_span(arg.key_span, message);
                continue;
            }
            args.push(arg);
        }
        Args {
            args,
            malformed,
            unknown_keys,
        }
    }

    /// The argument `key`, if given.
    pub(crate) fn get(&self, key: &str) -> Option<&Arg> {
        self.args.iter().find(|arg| arg.key == key)
    }

    /// Where `key` was written, if it was.
    pub(crate) fn key_span(&self, key: &str) -> Option<Span> {
        self.get(key).map(|arg| arg.key_span)
    }

    /// A flag: `key` alone or `key = true|false`. `None` when absent.
    pub(crate) fn flag(&self, key: &str, errors: &Errors) -> Option<bool> {
        let arg = self.get(key)?;
        let Some(value) = &arg.value else {
            return Some(true);
        };
        if let Expr::Lit(syn::ExprLit {
            lit: Lit::Bool(value),
            ..
        }) = value
        {
            return Some(value.value);
        }
        let message = format!("`{key}` is a flag: write `{key}` or `{key} = false`");
        errors.error_at(value, message);
        None
    }

    /// A string literal value.
    pub(crate) fn string(&self, key: &str, errors: &Errors) -> Option<LitStr> {
        let arg = self.get(key)?;
        match &arg.value {
            Some(Expr::Lit(syn::ExprLit {
                lit: Lit::Str(value),
                ..
            })) => Some(value.clone()),
            Some(other) => {
                let message = format!("`{key}` takes a string literal: `{key} = \"...\"`");
                errors.error_at(other, message);
                None
            }
            None => {
                let message = format!("`{key}` needs a value: `{key} = \"...\"`");
                errors.error_at_span(arg.span, message);
                None
            }
        }
    }

    /// A list of string literals: `key = ["a", "b"]` (a single string is
    /// accepted as a list of one).
    pub(crate) fn strings(&self, key: &str, errors: &Errors) -> Vec<LitStr> {
        let Some(arg) = self.get(key) else {
            return Vec::new();
        };
        let message =
            format!("`{key}` takes a string or a list of strings: `{key} = [\"a\", \"b\"]`");
        match &arg.value {
            Some(Expr::Array(array)) => {
                let strings: Option<Vec<LitStr>> = array.elems.iter().map(string_literal).collect();
                if strings.is_none() {
                    let first_wrong = array.elems.iter().find(|e| string_literal(e).is_none());
                    errors.error_at(first_wrong, &message);
                }
                strings.unwrap_or_default()
            }
            Some(other) => {
                let string = string_literal(other);
                if string.is_none() {
                    errors.error_at(other, &message);
                }
                string.into_iter().collect()
            }
            None => {
                errors.error_at_span(arg.span, &message);
                Vec::new()
            }
        }
    }

    /// Any expression value.
    pub(crate) fn expr(&self, key: &str, errors: &Errors) -> Option<Expr> {
        let arg = self.get(key)?;
        if arg.value.is_none() {
            let message = format!("`{key}` needs a value: `{key} = ...`");
            errors.error_at_span(arg.span, message);
        }
        arg.value.clone()
    }

    /// A number literal, possibly negative.
    pub(crate) fn number(&self, key: &str, errors: &Errors) -> Option<Number> {
        let expr = self.expr(key, errors)?;
        let Some(value) = literal_number(&expr) else {
            let message = format!("`{key}` takes a number literal: `{key} = 10`");
            errors.error_at(&expr, message);
            return None;
        };
        Some(Number { value, expr })
    }
}

/// Reads `key`, `key = value` and `key(...)` items separated by commas. A
/// malformed item is reported and dropped, and parsing resumes after the
/// next comma. Also says whether anything was malformed.
fn parse_metas(tokens: TokenStream, errors: &Errors) -> (Vec<Meta>, bool) {
    let mut malformed = false;
    let parser = |input: ParseStream| {
        let mut metas = Vec::new();
        while !input.is_empty() {
            let item = input.parse::<Meta>().and_then(|meta| {
                if !input.is_empty() {
                    input.parse::<Token![,]>()?;
                }
                Ok(meta)
            });
            match item {
                Ok(meta) => metas.push(meta),
                Err(error) => {
                    errors.push(error);
                    malformed = true;
                    skip_past_comma(input)?;
                }
            }
        }
        Ok(metas)
    };
    let metas = parser.parse2(tokens).unwrap_or_else(|error| {
        errors.push(error);
        Vec::new()
    });
    (metas, malformed)
}

/// Moves past the next top-level comma, or to the end.
fn skip_past_comma(input: ParseStream) -> syn::Result<()> {
    input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tree, next)) = rest.token_tree() {
            rest = next;
            if matches!(&tree, TokenTree::Punct(punct) if punct.as_char() == ',') {
                break;
            }
        }
        Ok(((), rest))
    })
}

impl Arg {
    fn from_meta(meta: &Meta, spec: &AttrSpec, errors: &Errors) -> Option<Arg> {
        let path = meta.path();
        let Some(key) = single_segment(path) else {
            let message = format!("expected a key of `{}`, like `name = ...`", spec.name);
            errors.error_at(path, message);
            return None;
        };
        let value = match meta {
            Meta::Path(_) => None,
            Meta::NameValue(name_value) => Some(name_value.value.clone()),
            Meta::List(list) => {
                let message = format!("write `{key} = ...`, not `{key}(...)`");
                errors.error_at(list, message);
                return None;
            }
        };
        Some(Arg {
            key,
            key_span: path.span(),
            value,
            span: meta.span(),
        })
    }
}

/// The one segment of `path`, also for keywords such as `crate`.
fn single_segment(path: &syn::Path) -> Option<String> {
    let only = path.segments.len() == 1 && path.leading_colon.is_none();
    let segment = path.segments.first().filter(|_| only)?;
    segment
        .arguments
        .is_none()
        .then(|| segment.ident.to_string())
}

fn unknown_key_message(key: &str, spec: &AttrSpec) -> String {
    let valid = spec
        .keys
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let advice = spec
        .hints
        .iter()
        .find(|(wrong, _)| *wrong == key)
        .map(|(_, advice)| format!(" ({advice})"))
        .or_else(|| closest_key(key, spec.keys).map(|k| format!(" (did you mean `{k}`?)")))
        .unwrap_or_default();
    format!(
        "unknown key `{key}` in `{}`{advice}; valid keys are {valid}",
        spec.name
    )
}

/// The valid key nearest to a misspelled one, when it is near enough.
fn closest_key(key: &str, keys: &[&'static str]) -> Option<&'static str> {
    keys.iter()
        .map(|candidate| (edit_distance(key, candidate), *candidate))
        .filter(|(distance, candidate)| *distance <= candidate.len().max(key.len()) / 3)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance between two short ASCII words.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// The string of a string literal expression.
pub(crate) fn string_literal(expr: &Expr) -> Option<LitStr> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(value),
            ..
        }) => Some(value.clone()),
        Expr::Group(group) => string_literal(&group.expr),
        _ => None,
    }
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

/// The `crate = "path"` override, else the name the user's `Cargo.toml`
/// gives `service-runtime` (so that a renamed dependency works without an
/// override), else `::service_runtime`.
pub(crate) fn runtime_path(args: &Args, errors: &Errors) -> TokenStream {
    let default = declared_runtime_path();
    let Some(lit) = args.string("crate", errors) else {
        return default;
    };
    match lit.parse::<syn::Path>() {
        Ok(path) => quote::quote!(#path),
        Err(_) => {
            let message = "`crate` takes a path to the runtime crate: `crate = \"my_runtime\"`";
            errors.error_at(&lit, message);
            default
        }
    }
}

/// `::name` for the name under which the crate being compiled depends on
/// `service-runtime`. When the manifest cannot be read, or the runtime is
/// the crate being compiled, the runtime's own name is the best guess.
fn declared_runtime_path() -> TokenStream {
    use proc_macro_crate::{FoundCrate, crate_name};

    match crate_name("service-runtime") {
        Ok(FoundCrate::Name(name)) => {
            let ident = syn::Ident::new(&name, proc_macro2::Span::call_site());
            quote::quote!(::#ident)
        }
        Ok(FoundCrate::Itself) | Err(_) => quote::quote!(::service_runtime),
    }
}
