//! Hygiene of the expansions: every path that generated code writes goes
//! through the runtime's hidden `__private` module, by an absolute path (or
//! through the `crate = ".."` override), so that no item of the user's can
//! change what it means.
//!
//! The user's own item comes first in every expansion and is left out: it
//! is the user's code. The rest is walked with `syn`, macro arguments
//! included.

use proc_macro2::TokenStream;
use quote::quote;
use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};

/// Paths in generated code that do not go through `prefix`.
struct Stray<'a> {
    /// `::service_runtime::__private`, or the override's equivalent.
    prefix: &'a str,
    /// Single names the generated code may use: its own locals and the
    /// user's types and functions, which it must name as written.
    allowed: &'a [&'a str],
    found: Vec<String>,
}

impl Stray<'_> {
    fn check_path(&mut self, path: &syn::Path) {
        let names: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        let colon = if path.leading_colon.is_some() {
            "::"
        } else {
            ""
        };
        let text = format!("{colon}{}", names.join("::"));
        let single = path.leading_colon.is_none() && path.segments.len() == 1;
        let fine = if single {
            let name = path.segments[0].ident.to_string();
            // `__` names are the expansion's own locals and items, inside
            // its anonymous `const`, where they hide any outer name.
            name == "Self"
                || name == "self"
                || name.starts_with("__")
                || self.allowed.contains(&name.as_str())
        } else {
            text.starts_with(&format!("{}::", self.prefix))
        };
        if !fine {
            self.found.push(text);
        }
    }
}

impl<'ast> Visit<'ast> for Stray<'_> {
    fn visit_path(&mut self, path: &'ast syn::Path) {
        self.check_path(path);
        visit::visit_path(self, path);
    }

    fn visit_expr_path(&mut self, expr: &'ast syn::ExprPath) {
        match &expr.qself {
            // `<Type>::method`: the user's type, then its method.
            Some(qself) => self.visit_type(&qself.ty),
            None => self.visit_path(&expr.path),
        }
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.check_path(&mac.path);
        let parser = Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated;
        let arguments = mac
            .parse_body_with(parser)
            .expect("macro arguments are expressions");
        for argument in &arguments {
            self.visit_expr(argument);
        }
    }

    fn visit_attribute(&mut self, attr: &'ast syn::Attribute) {
        // Built-in attributes name nothing a user can shadow; any other
        // attribute is a path like the rest.
        let builtin = ["allow", "automatically_derived", "linkme", "doc"];
        if !builtin.iter().any(|name| attr.path().is_ident(name)) {
            self.check_path(attr.path());
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        let text = quote!(#item).to_string().replace(' ', "");
        if !text.starts_with(&format!("use{}::", self.prefix)) {
            self.found.push(text);
        }
    }

    fn visit_local(&mut self, local: &'ast syn::Local) {
        // Patterns bind names; only their types and initialisers are paths.
        if let syn::Pat::Type(typed) = &local.pat {
            self.visit_type(&typed.ty);
        }
        if let Some(init) = &local.init {
            self.visit_expr(&init.expr);
        }
    }

    fn visit_pat(&mut self, _: &'ast syn::Pat) {}
}

/// The paths of `output`, past the user's item, that miss `prefix`.
fn stray_paths(output: &TokenStream, prefix: &str, allowed: &[&str]) -> Vec<String> {
    let file: syn::File = syn::parse2(output.clone()).expect("the expansion parses");
    let mut stray = Stray {
        prefix,
        allowed,
        found: Vec::new(),
    };
    assert!(file.items.len() > 1, "the expansion adds items");
    for item in &file.items[1..] {
        stray.visit_item(item);
    }
    stray.found
}

/// Parameters of the generated functions, named after the trait's.
const LOCALS: &[&str] = &["conf", "ctx", "graceful", "service"];

fn service_input() -> TokenStream {
    quote! {
        impl Worker {
            fn listeners(conf: &Conf) -> Vec<Listen> {
                Vec::new()
            }
            async fn new(conf: &Conf) -> Self {
                Worker
            }
            async fn start(&mut self, ctx: &Context) {}
            async fn stop(&self, graceful: bool) {}
            async fn reset(&mut self, conf: &Conf) {}
            #[periodic(spacing = worker.interval, run_immediately)]
            async fn tick(&mut self, ctx: &Context) {}
            #[periodic(spacing = 1.5, initial_delay = 2, name = "slow")]
            async fn slow(&self) {}
        }
    }
}

fn config_group_input() -> TokenStream {
    quote! {
        pub struct WorkerOpts {
            /// A count.
            #[opt(default = 4, min = 1, max = 8)]
            pub count: Count,
            /// A name.
            #[opt(default = "x", choices = ["x", "y"])]
            pub label: Label,
            /// Many names.
            #[opt(multi, default = ["a"])]
            pub many: Vec<Label>,
            /// Perhaps.
            pub maybe: Option<Label>,
        }
    }
}

/// The user's names in the inputs above, which the expansion repeats.
const USER_NAMES: &[&str] = &["Worker", "WorkerOpts", "Count", "Label", "Vec", "Option"];

fn allowed() -> Vec<&'static str> {
    LOCALS.iter().chain(USER_NAMES).copied().collect()
}

#[test]
fn service_reaches_the_runtime_only_through_private() {
    let output = crate::service::expand(quote!(name = "worker", workers = 2), service_input());
    let stray = stray_paths(&output, "::service_runtime::__private", &allowed());
    assert!(stray.is_empty(), "paths outside `__private`: {stray:?}");
}

#[test]
fn service_honours_the_crate_override() {
    let args = quote!(workers = worker.count, crate = "renamed::rt");
    let output = crate::service::expand(args, service_input());
    let stray = stray_paths(&output, "renamed::rt::__private", &allowed());
    assert!(
        stray.is_empty(),
        "paths outside `renamed::rt::__private`: {stray:?}"
    );
}

#[test]
fn config_group_reaches_the_runtime_only_through_private() {
    let output = crate::config_group::expand(quote!(name = "worker"), config_group_input());
    let stray = stray_paths(&output, "::service_runtime::__private", &allowed());
    assert!(stray.is_empty(), "paths outside `__private`: {stray:?}");
}

#[test]
fn config_group_honours_the_crate_override() {
    let args = quote!(name = "worker", crate = "renamed_rt");
    let output = crate::config_group::expand(args, config_group_input());
    let stray = stray_paths(&output, "renamed_rt::__private", &allowed());
    assert!(
        stray.is_empty(),
        "paths outside `renamed_rt::__private`: {stray:?}"
    );
}

#[test]
fn the_check_finds_a_stray_path() {
    let output = quote! {
        struct User;
        fn generated() -> Option<::std::string::String> { None }
    };
    let stray = stray_paths(&output, "::service_runtime::__private", LOCALS);
    assert_eq!(stray, ["Option", "::std::string::String", "None"]);
}
