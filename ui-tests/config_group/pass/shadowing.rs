//! User items named like prelude types and crates do not break the
//! expansion, which names everything by absolute path.
#![allow(dead_code, non_camel_case_types)]

mod shadowed {
    use ::service_runtime::config_group;

    struct Option;
    struct Some;
    struct None;
    struct Result;
    struct Ok;
    struct Err;
    struct Vec;
    struct String;
    struct Box;
    struct Into;
    struct Default;
    struct bool;
    struct str;
    struct u32;
    mod std {}
    mod core {}
    mod service_runtime {}
    macro_rules! vec {
        ($($t:tt)*) => {
            compile_error!("the user's `vec!` was called")
        };
    }
    macro_rules! concat {
        ($($t:tt)*) => {
            compile_error!("the user's `concat!` was called")
        };
    }

    #[config_group(name = "shadowed")]
    pub struct ShadowedOpts {
        #[opt(default = "text")]
        pub text: ::std::string::String,

        #[opt(multi, default = ["a"])]
        pub many: ::std::vec::Vec<::std::string::String>,

        pub maybe: ::std::option::Option<::std::primitive::u32>,
    }
}

fn main() {
    let conf = service_runtime::testkit::conf(&[]);
    assert_eq!(conf.group::<shadowed::ShadowedOpts>().text, "text");
}
