//! Reads `#[config_group(..)]` and every field's `#[opt(..)]` into a typed
//! model. Problems are recorded and parsing goes on, so every bad attribute
//! of the struct is reported in one build.

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{Expr, Field, Ident, ItemStruct, LitStr, Type};

use crate::args::{Args, AttrSpec, Number, runtime_path};
use crate::errors::Errors;

const GROUP_ATTR: AttrSpec = AttrSpec {
    name: "#[config_group]",
    // name = "group" | crate = "path::to::runtime"
    keys: &["name", "crate"],
    hints: &[("group", "the group is set with `name = \"...\"`")],
};

const OPT_ATTR: AttrSpec = AttrSpec {
    name: "#[opt]",
    keys: &[
        // default = <expression of the field's type>
        "default",
        // min = <number>, max = <number>
        "min",
        "max",
        // choices = ["a", "b"]
        "choices",
        // secret, mutable, required, cli, multi (flags, or `= false`)
        "secret",
        "mutable",
        "required",
        "cli",
        "multi",
        // name = "option_name"
        "name",
        // deprecated_name = "old" | ["old", "older"], same for groups
        "deprecated_name",
        "deprecated_group",
        // deprecated_for_removal, deprecated_reason = "..."
        "deprecated_for_removal",
        "deprecated_reason",
        // sample_default = "text shown in sample files"
        "sample_default",
    ],
    hints: &[
        ("help", "the help text is the field's `///` doc comment"),
        ("minimum", "write `min = ...`"),
        ("maximum", "write `max = ...`"),
        ("optional", "make the field `Option<T>` instead"),
        ("deprecated_opts", "write `deprecated_name = \"old\"`"),
        ("positional", "positional arguments are not supported"),
    ],
};

/// The struct and its options.
pub(crate) struct Group {
    /// The path to the runtime crate: `::service_runtime` unless overridden.
    pub(crate) krate: TokenStream,
    /// The group name, when it is present and valid.
    pub(crate) name: Option<LitStr>,
    pub(crate) options: Vec<OptionField>,
}

/// One field, read as an option.
pub(crate) struct OptionField {
    pub(crate) ident: Ident,
    /// The option's name: the field's, or `#[opt(name = "...")]`.
    pub(crate) name: String,
    pub(crate) name_span: Span,
    pub(crate) ty: Type,
    pub(crate) shape: Shape,
    /// The doc comment, which is the help text.
    pub(crate) help: String,
    pub(crate) default: Option<Expr>,
    pub(crate) min: Option<Number>,
    pub(crate) max: Option<Number>,
    pub(crate) choices: Vec<LitStr>,
    pub(crate) secret: bool,
    pub(crate) mutable: bool,
    pub(crate) required: bool,
    pub(crate) cli: bool,
    pub(crate) deprecated_names: Vec<LitStr>,
    pub(crate) deprecated_groups: Vec<LitStr>,
    pub(crate) deprecated_for_removal: bool,
    pub(crate) deprecated_reason: Option<LitStr>,
    pub(crate) sample_default: Option<LitStr>,
    /// The attribute's arguments, for the spans of later checks.
    pub(crate) args: Args,
}

/// How a field's type holds its value.
pub(crate) enum Shape {
    /// `T`: one value.
    Single,
    /// `Option<T>`: one value or none.
    Optional(Type),
    /// `Vec<T>` with `multi`: every occurrence.
    Multi(Type),
}

impl Group {
    /// Reads the attribute arguments and the fields, removing every
    /// `#[opt]` from `item` so that the struct can be emitted as it is.
    pub(crate) fn from_ast(args: TokenStream, item: &mut ItemStruct, errors: &Errors) -> Group {
        let args = Args::parse(args, &GROUP_ATTR, errors);
        let krate = runtime_path(&args, errors);
        let name = args.string("name", errors);
        if args.get("name").is_none() {
            let message = "missing group name: write `#[config_group(name = \"...\")]`, \
                           or `name = \"DEFAULT\"` for the top-level group";
            errors.error_at(&item.ident, message);
        }
        let options = match &mut item.fields {
            syn::Fields::Named(named) => named
                .named
                .iter_mut()
                .filter_map(|field| OptionField::from_field(field, errors))
                .collect(),
            _ => Vec::new(),
        };
        Group {
            krate,
            name,
            options,
        }
    }
}

impl OptionField {
    fn from_field(field: &mut Field, errors: &Errors) -> Option<OptionField> {
        let args = take_opt_args(field, errors);
        let ident = field.ident.clone()?;
        let multi = args.flag("multi", errors).unwrap_or(false);
        let name_lit = args.string("name", errors);
        let name = name_lit
            .as_ref()
            .map_or_else(|| ident.to_string(), LitStr::value);
        let name = name.strip_prefix("r#").unwrap_or(&name).to_string();
        let flag = |key| args.flag(key, errors).unwrap_or(false);
        Some(OptionField {
            shape: field_shape(&field.ty, multi, &args, errors),
            name,
            name_span: name_lit.as_ref().map_or(ident.span(), LitStr::span),
            ident,
            ty: field.ty.clone(),
            help: doc_text(&field.attrs),
            default: args.expr("default", errors),
            min: args.number("min", errors),
            max: args.number("max", errors),
            choices: args.strings("choices", errors),
            secret: flag("secret"),
            mutable: flag("mutable"),
            required: flag("required"),
            cli: flag("cli"),
            deprecated_names: args.strings("deprecated_name", errors),
            deprecated_groups: args.strings("deprecated_group", errors),
            deprecated_for_removal: flag("deprecated_for_removal"),
            deprecated_reason: args.string("deprecated_reason", errors),
            sample_default: args.string("sample_default", errors),
            args,
        })
    }

    /// The type that implements `OptionValue`: `T` of `Option<T>` and of a
    /// `multi` option's `Vec<T>`, else the field's type.
    pub(crate) fn value_type(&self) -> &Type {
        match &self.shape {
            Shape::Single => &self.ty,
            Shape::Optional(inner) | Shape::Multi(inner) => inner,
        }
    }

    /// Whether the option collects every occurrence.
    pub(crate) fn is_multi(&self) -> bool {
        matches!(self.shape, Shape::Multi(_))
    }
}

/// Removes the `#[opt(...)]` attributes from the field and parses them.
fn take_opt_args(field: &mut Field, errors: &Errors) -> Args {
    let mut found: Vec<syn::Attribute> = Vec::new();
    field.attrs.retain(|attr| {
        let is_opt = attr.path().is_ident("opt");
        if is_opt {
            found.push(attr.clone());
        }
        !is_opt
    });
    for extra in found.iter().skip(1) {
        errors.error_at(extra, "more than one `#[opt]` on one field: merge them");
    }
    match found.first().map(|attr| &attr.meta) {
        Some(syn::Meta::List(list)) => Args::parse(list.tokens.clone(), &OPT_ATTR, errors),
        Some(syn::Meta::NameValue(name_value)) => {
            let message = "write `#[opt(key = value, ...)]`, not `#[opt = ...]`";
            errors.error_at(name_value, message);
            Args::malformed()
        }
        Some(syn::Meta::Path(_)) | None => Args::empty(),
    }
}

fn field_shape(ty: &Type, multi: bool, args: &Args, errors: &Errors) -> Shape {
    if let Some(inner) = generic_argument(ty, "Option") {
        if let Some(span) = args.key_span("multi").filter(|_| multi) {
            let message = "a `multi` option is a `Vec<T>`, never absent: \
                           make the field `Vec<T>` instead of `Option<..>`";
            errors.error_at_span(span, message);
        }
        return Shape::Optional(inner);
    }
    if !multi {
        return Shape::Single;
    }
    if let Some(inner) = generic_argument(ty, "Vec") {
        return Shape::Multi(inner);
    }
    let span = args.key_span("multi").unwrap_or_else(|| ty.span());
    let written = quote::quote!(#ty).to_string().replace(' ', "");
    let message = format!(
        "`multi` collects every occurrence into a `Vec<T>`: make the field `Vec<{written}>`, \
         or remove `multi`"
    );
    errors.error_at_span(span, message);
    // Read on as if it were right, so that no other rule reports the same
    // mistake again.
    Shape::Multi(ty.clone())
}

/// `T` when `ty` is `Name<T>`, also through a path like
/// `std::option::Option<T>`.
pub(crate) fn generic_argument(ty: &Type, name: &str) -> Option<Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(inner) if args.args.len() == 1 => Some(inner.clone()),
        _ => None,
    }
}

/// The doc comment's text: lines of a paragraph joined with spaces,
/// paragraphs separated by a blank line.
fn doc_text(attrs: &[syn::Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .filter_map(|attr| match &attr.meta {
            syn::Meta::NameValue(name_value) => crate::args::string_literal(&name_value.value),
            _ => None,
        })
        .map(|line| line.value().trim().to_string())
        .collect();
    let paragraphs: Vec<String> = lines
        .split(String::is_empty)
        .map(|paragraph| paragraph.join(" "))
        .filter(|paragraph| !paragraph.is_empty())
        .collect();
    paragraphs.join("\n\n")
}
