//! `#[config_group(name = "...")]`: a struct whose fields are options.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, Field, ItemStruct, LitStr, Type};

use crate::args::{Args, AttrName, literal_number, runtime_path};
use crate::errors::Errors;

const GROUP_KEYS: &[&str] = &["name", "crate"];

const OPT_KEYS: &[&str] = &[
    "default",
    "min",
    "max",
    "choices",
    "secret",
    "mutable",
    "required",
    "cli",
    "multi",
    "name",
    "deprecated_name",
    "deprecated_group",
    "deprecated_for_removal",
    "deprecated_reason",
    "sample_default",
];

/// Names oslo.config reserves in `DEFAULT`, plus the runtime's own flags.
const RESERVED: &[&str] = &[
    "project",
    "prog",
    "version",
    "usage",
    "default_config_files",
    "default_config_dirs",
    "config_file",
    "config_dir",
    "config_source",
    "shell_completion",
    "help",
];

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let errors = Errors::default();
    let mut item: ItemStruct = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(_) => {
            let message = "`#[config_group]` goes on a struct with named fields";
            let error = syn::Error::new_spanned(&item, message).to_compile_error();
            return fallback(item, error);
        }
    };
    let group_args = Args::parse(args, &AttrName("#[config_group]"), GROUP_KEYS, &errors);
    let krate = runtime_path(&group_args, &errors);
    let group = group_name(&group_args, &item, &errors);
    check_shape(&item, &errors);
    let options: Vec<OptionField> = match &mut item.fields {
        syn::Fields::Named(named) => named
            .named
            .iter_mut()
            .filter_map(|field| OptionField::parse(field, &errors))
            .collect(),
        _ => Vec::new(),
    };
    check_unique_names(&options, &errors);
    if let Some(group) = &group {
        check_reserved(group, &options, &errors);
    }
    if !errors.is_empty() {
        return fallback(quote!(#item), errors.to_compile_errors());
    }
    let group = group.expect("a group name is present when there are no errors");
    generate(&item, &group, &options, &krate)
}

/// On error: the user's struct, unchanged but for the consumed attributes,
/// so that code using it still type-checks, and the errors.
fn fallback(item: TokenStream, errors: TokenStream) -> TokenStream {
    quote!(#item #errors)
}

fn group_name(args: &Args, item: &ItemStruct, errors: &Errors) -> Option<LitStr> {
    let Some(name) = args.string("name", errors) else {
        if args.get("name").is_none() {
            errors.error_at(
                &item.ident,
                "missing group name: write `#[config_group(name = \"...\")]`, \
                 or `name = \"DEFAULT\"` for the top level",
            );
        }
        return None;
    };
    let value = name.value();
    let valid = !value.is_empty()
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && (value == "DEFAULT" || value.chars().all(|c| !c.is_ascii_uppercase()));
    if !valid {
        errors.error_at(
            &name,
            "group names are lower-case letters, digits and `_` (section names are \
             read case-insensitively), or exactly `DEFAULT`",
        );
        return None;
    }
    Some(name)
}

fn check_shape(item: &ItemStruct, errors: &Errors) {
    if !item.generics.params.is_empty() {
        errors.error_at(
            &item.generics,
            "`#[config_group]` structs cannot be generic",
        );
    }
    if !matches!(item.fields, syn::Fields::Named(_)) {
        errors.error_at(
            &item.ident,
            "`#[config_group]` needs a struct with named fields",
        );
    }
}

/// One field, read as an option.
struct OptionField {
    ident: syn::Ident,
    name: String,
    name_span: proc_macro2::Span,
    ty: Type,
    shape: Shape,
    help: String,
    default: Option<Expr>,
    min: Option<(f64, Expr)>,
    max: Option<(f64, Expr)>,
    choices: Vec<LitStr>,
    secret: bool,
    mutable: bool,
    required: bool,
    cli: bool,
    deprecated_names: Vec<LitStr>,
    deprecated_groups: Vec<LitStr>,
    deprecated_for_removal: bool,
    deprecated_reason: Option<LitStr>,
    sample_default: Option<LitStr>,
}

/// How a field's type holds its value.
enum Shape {
    /// `T`: one value, with a default.
    Single,
    /// `Option<T>`: one value or none.
    Optional(Type),
    /// `Vec<T>` with `multi`: every occurrence.
    Multi(Type),
}

impl OptionField {
    fn parse(field: &mut Field, errors: &Errors) -> Option<OptionField> {
        let ident = field.ident.clone()?;
        let args = take_opt_args(field, errors);
        let help = doc_text(&field.attrs);
        let multi = args.flag("multi", errors);
        let shape = field_shape(&field.ty, multi, errors);
        let name_lit = args.string("name", errors);
        let name = name_lit
            .as_ref()
            .map_or_else(|| ident.to_string(), LitStr::value);
        let name = name.strip_prefix("r#").unwrap_or(&name).to_string();
        let name_span = name_lit.as_ref().map_or(ident.span(), LitStr::span);
        let option = OptionField {
            ident,
            name,
            name_span,
            ty: field.ty.clone(),
            shape,
            help,
            default: args.expr("default", errors),
            min: args.number("min", errors),
            max: args.number("max", errors),
            choices: args.strings("choices", errors),
            secret: args.flag("secret", errors),
            mutable: args.flag("mutable", errors),
            required: args.flag("required", errors),
            cli: args.flag("cli", errors),
            deprecated_names: args.strings("deprecated_name", errors),
            deprecated_groups: args.strings("deprecated_group", errors),
            deprecated_for_removal: args.flag("deprecated_for_removal", errors),
            deprecated_reason: args.string("deprecated_reason", errors),
            sample_default: args.string("sample_default", errors),
        };
        option.validate(field, errors);
        Some(option)
    }

    fn validate(&self, field: &Field, errors: &Errors) {
        self.validate_name(errors);
        self.validate_default(field, errors);
        self.validate_bounds(errors);
    }

    fn validate_name(&self, errors: &Errors) {
        let valid = self
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !self.name.starts_with('_');
        if !valid {
            let message = format!(
                "option name `{}` is not valid: use letters, digits and `_`, not starting with `_`",
                self.name
            );
            errors.push(syn::Error::new(self.name_span, message));
        }
    }

    fn validate_default(&self, field: &Field, errors: &Errors) {
        match (&self.shape, &self.default) {
            (Shape::Optional(_), Some(default)) => errors.error_at(
                default,
                "an `Option<T>` field has no default: remove `default` or make the field `T`",
            ),
            (Shape::Single, None) if !self.required => errors.error_at(
                &field.ty,
                format!(
                    "option `{}` needs a default: add `#[opt(default = ...)]`, make the field \
                     `Option<T>`, or mark it `required`",
                    self.name
                ),
            ),
            _ => {}
        }
    }

    fn validate_bounds(&self, errors: &Errors) {
        if let (Some((min, _)), Some((max, max_expr))) = (&self.min, &self.max) {
            if min > max {
                errors.error_at(
                    max_expr,
                    format!("`max` ({max}) is smaller than `min` ({min})"),
                );
            }
        }
        let Some(default) = self.default.as_ref() else {
            return;
        };
        let Some(value) = literal_number(default) else {
            return;
        };
        if let Some((min, _)) = self.min.as_ref().filter(|(min, _)| value < *min) {
            errors.error_at(default, format!("default {value} is below `min` ({min})"));
        }
        if let Some((max, _)) = self.max.as_ref().filter(|(max, _)| value > *max) {
            errors.error_at(default, format!("default {value} is above `max` ({max})"));
        }
    }

    /// The type that implements `OptionValue`.
    fn value_type(&self) -> &Type {
        match &self.shape {
            Shape::Single => &self.ty,
            Shape::Optional(inner) | Shape::Multi(inner) => inner,
        }
    }
}

/// Removes the `#[opt(...)]` attribute from the field and parses it.
fn take_opt_args(field: &mut Field, errors: &Errors) -> Args {
    let mut found: Vec<syn::Attribute> = Vec::new();
    field.attrs.retain(|attr| {
        let is_opt = attr.path().is_ident("opt");
        if is_opt {
            found.push(attr.clone());
        }
        !is_opt
    });
    if found.len() > 1 {
        errors.error_at(&found[1], "more than one `#[opt]` on one field: merge them");
    }
    let tokens = match found.first().map(|attr| &attr.meta) {
        Some(syn::Meta::List(list)) => list.tokens.clone(),
        Some(syn::Meta::Path(_)) | None => TokenStream::new(),
        Some(other) => {
            errors.error_at(other, "write `#[opt(key = value, ...)]`");
            TokenStream::new()
        }
    };
    Args::parse(tokens, &AttrName("#[opt]"), OPT_KEYS, errors)
}

fn field_shape(ty: &Type, multi: bool, errors: &Errors) -> Shape {
    if let Some(inner) = generic_argument(ty, "Option") {
        if multi {
            errors.error_at(ty, "a `multi` option is a `Vec<T>`, not an `Option`");
        }
        return Shape::Optional(inner);
    }
    if multi {
        return match generic_argument(ty, "Vec") {
            Some(inner) => Shape::Multi(inner),
            None => {
                errors.error_at(ty, "a `multi` option must have type `Vec<T>`");
                Shape::Single
            }
        };
    }
    Shape::Single
}

/// `T` when `ty` is `Name<T>` (also through a path like `std::option::Option<T>`).
fn generic_argument(ty: &Type, name: &str) -> Option<Type> {
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

/// The doc comment's text, lines joined with spaces and trimmed.
pub(crate) fn doc_text(attrs: &[syn::Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .filter_map(|attr| match &attr.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .map(|line| line.trim().to_string())
        .collect();
    let paragraphs: Vec<String> = lines
        .split(String::is_empty)
        .map(|p| p.join(" "))
        .filter(|p| !p.is_empty())
        .collect();
    paragraphs.join("\n\n")
}

fn check_unique_names(options: &[OptionField], errors: &Errors) {
    for (index, option) in options.iter().enumerate() {
        let names = std::iter::once(option.name.clone())
            .chain(option.deprecated_names.iter().map(LitStr::value));
        for name in names {
            let earlier = options[..index]
                .iter()
                .find(|o| o.name == name || o.deprecated_names.iter().any(|d| d.value() == name));
            if let Some(earlier) = earlier {
                let message = format!(
                    "two options named `{name}` in one group (the other is field `{}`)",
                    earlier.ident
                );
                errors.push(syn::Error::new(option.name_span, message));
            }
        }
    }
}

fn check_reserved(group: &LitStr, options: &[OptionField], errors: &Errors) {
    if group.value() != "DEFAULT" {
        return;
    }
    for option in options
        .iter()
        .filter(|o| RESERVED.contains(&o.name.as_str()))
    {
        let message = format!(
            "`{}` is reserved in `DEFAULT` (used by the command line); rename the option",
            option.name
        );
        errors.push(syn::Error::new(option.name_span, message));
    }
}

fn generate(
    item: &ItemStruct,
    group: &LitStr,
    options: &[OptionField],
    krate: &TokenStream,
) -> TokenStream {
    let ident = &item.ident;
    let private = quote!(#krate::__private);
    let specs = options
        .iter()
        .map(|option| option_spec(option, group, &private));
    let getters = options.iter().map(|option| getter(option, &private));
    let fields = options.iter().map(|option| {
        let ident = &option.ident;
        quote!(#ident: #private::present(#ident))
    });
    let type_checks = options.iter().map(|option| type_check(option, &private));
    quote! {
        #item

        const _: () = {
            #(#type_checks)*

            #[automatically_derived]
            impl #private::ConfigGroup for #ident {
                const GROUP: &'static str = #group;

                fn options() -> #private::Vec<#private::OptionSpec> {
                    #private::vec![#(#specs),*]
                }

                fn build(
                    values: &#private::ResolvedGroup<'_>,
                ) -> #private::Result<Self, #private::Vec<#private::ConfigError>> {
                    let mut errors = #private::Vec::new();
                    #(#getters)*
                    if !errors.is_empty() {
                        return #private::Err(errors);
                    }
                    #private::Ok(Self { #(#fields),* })
                }
            }

            #[#private::linkme::distributed_slice(#private::CONFIG_GROUPS)]
            #[linkme(crate = #private::linkme)]
            static REGISTER: #private::GroupSpec = #private::group_spec::<#ident>();
        };
    }
}

/// Makes a field type without an option kind fail at the field's type.
fn type_check(option: &OptionField, private: &TokenStream) -> TokenStream {
    let ty = option.value_type();
    quote_spanned! {ty.span()=>
        const _: () = #private::assert_option_value::<#ty>();
    }
}

fn default_value(option: &OptionField, private: &TokenStream) -> TokenStream {
    let ty = option.value_type();
    let Some(default) = &option.default else {
        return match option.shape {
            Shape::Multi(_) => quote!(#private::Vec::<#ty>::new()),
            _ => quote!(#private::None::<#ty>),
        };
    };
    let target = match option.shape {
        Shape::Multi(_) => quote!(#private::Vec<#ty>),
        _ => quote!(#ty),
    };
    // A string literal converts (`String`, `PathBuf`); anything else is
    // typed as the field so that number literals infer their type.
    let is_string_literal = matches!(
        default,
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(_),
            ..
        })
    );
    let value = if is_string_literal {
        quote_spanned!(default.span()=> #private::Into::into(#default))
    } else {
        quote_spanned!(default.span()=> #default)
    };
    let typed = quote_spanned! {default.span()=>
        {
            let value: #target = #value;
            value
        }
    };
    match option.shape {
        Shape::Multi(_) => typed,
        _ => quote!(#private::Some(#typed)),
    }
}

fn getter(option: &OptionField, private: &TokenStream) -> TokenStream {
    let ident = &option.ident;
    let name = &option.name;
    let ty = option.value_type();
    let default = default_value(option, private);
    match option.shape {
        Shape::Single => quote! {
            let #ident = values.single::<#ty>(#name, #default, &mut errors);
        },
        Shape::Optional(_) => quote! {
            let #ident = values.optional::<#ty>(#name, &mut errors);
        },
        Shape::Multi(_) => quote! {
            let #ident = values.multi::<#ty>(#name, #default, &mut errors);
        },
    }
}

fn option_spec(option: &OptionField, group: &LitStr, private: &TokenStream) -> TokenStream {
    let name = &option.name;
    let help = &option.help;
    let ty = option.value_type();
    let rust_type = quote!(#ty).to_string().replace(' ', "");
    let default = match (&option.shape, &option.default) {
        (Shape::Optional(_), _) | (Shape::Single, None) => quote!(#private::None),
        (Shape::Multi(_), _) => {
            let value = default_value(option, private);
            quote!(#private::Some(#private::render_multi::<#ty>(&#value)))
        }
        (Shape::Single, Some(_)) => {
            let value = default_value(option, private);
            quote!(#value.map(|value| #private::render::<#ty>(&value)))
        }
    };
    let optional_f64 = |value: &Option<(f64, Expr)>| match value {
        Some((number, _)) => quote!(#private::Some(#number)),
        None => quote!(#private::None),
    };
    let min = optional_f64(&option.min);
    let max = optional_f64(&option.max);
    let choices = if option.choices.is_empty() {
        quote!(#private::choices_of::<#ty>())
    } else {
        let list = &option.choices;
        quote!(#private::Some(&[#(#list),*]))
    };
    let optional_str = |value: &Option<LitStr>| match value {
        Some(lit) => quote!(#private::Some(#lit)),
        None => quote!(#private::None),
    };
    let sample_default = optional_str(&option.sample_default);
    let deprecated_reason = optional_str(&option.deprecated_reason);
    let deprecated_names = &option.deprecated_names;
    let deprecated_groups = &option.deprecated_groups;
    let (secret, mutable, required, cli) =
        (option.secret, option.mutable, option.required, option.cli);
    let multi = matches!(option.shape, Shape::Multi(_));
    let deprecated_for_removal = option.deprecated_for_removal;
    let declared_at = quote_spanned! {option.name_span=>
        #private::concat!(#private::file!(), ":", #private::line!())
    };
    quote! {
        #private::OptionSpec {
            group: #group,
            name: #name,
            help: #help,
            kind: <#ty as #private::OptionValue>::KIND,
            rust_type: #rust_type,
            default: #default,
            sample_default: #sample_default,
            min: #min,
            max: #max,
            choices: #choices,
            secret: #secret,
            mutable: #mutable,
            required: #required,
            cli: #cli,
            multi: #multi,
            deprecated_names: &[#(#deprecated_names),*],
            deprecated_groups: &[#(#deprecated_groups),*],
            deprecated_for_removal: #deprecated_for_removal,
            deprecated_reason: #deprecated_reason,
            declared_at: #declared_at,
            check: #private::check_raw::<#ty>,
        }
    }
}
