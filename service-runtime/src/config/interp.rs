//! `$name` and `${group.name}` references inside option values.
//!
//! oslo.config resolves references when an option is read, with Python's
//! `string.Template` syntax and a name pattern of `[_a-z][._a-z0-9]*` that
//! ignores case:
//!
//! - `$name` and `${name}` name an option; an unbraced name may contain dots.
//! - `$$` gives a literal `$`; `\$` is rewritten to `$$` before anything else.
//! - A `$` that starts no valid name (`cost$`, `${`, `${}`, `${host`) stays.
//! - `name` is looked up in the group of the option being read, then in
//!   `DEFAULT`. `g.x` is option `x` of group `g` (a missing group fails at
//!   once), then an option literally named `g.x` in `DEFAULT`. The `DEFAULT`
//!   retry also happens when a missing option is found deeper down, while
//!   substituting the referenced value; the error then names the outer
//!   reference.
//! - There is no group called `DEFAULT` for `${DEFAULT.x}`, and a name that
//!   is a group rather than an option (`$database` read in `DEFAULT`) fails.
//! - Referenced values are substituted in turn; a cycle is an error.

use std::fmt;

use super::DEFAULT_GROUP;

/// What a reference resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The option exists; its raw value (empty when it has none).
    Found(String),
    /// No such option in that group.
    NoSuchOption,
    /// No such group.
    NoSuchGroup,
}

/// Finds the raw value of the option a reference names.
pub trait Resolver {
    /// The option `name` of `group` (`DEFAULT` for the top level).
    fn lookup(&self, group: &str, name: &str) -> Lookup;

    /// Whether `name` is a group other than `DEFAULT`. oslo.config refuses to
    /// substitute a group, so `$name` read in `DEFAULT` fails when this is
    /// true. The default answer, `false`, suits a resolver without groups.
    fn is_group(&self, name: &str) -> bool {
        let _ = name;
        false
    }
}

/// Why a reference could not be resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubstitutionFailure {
    /// No option `name` in `group` (oslo.config's `NoSuchOptError`).
    NoSuchOption {
        /// The group searched last.
        group: String,
        /// The option name searched last.
        name: String,
    },
    /// No group `group` (oslo.config's `NoSuchGroupError`).
    NoSuchGroup {
        /// The group named by the reference.
        group: String,
    },
    /// The name is a group, not an option (`TemplateSubstitutionError`).
    GroupNotValue {
        /// The group's name.
        group: String,
    },
    /// The references lead back to an option being substituted, or nest
    /// deeper than any sensible configuration does.
    Cycle {
        /// `group.name` of each option on the way, outermost first.
        chain: Vec<String>,
    },
}

/// A reference that could not be resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubstitutionError {
    /// The reference as written, without `$` and braces.
    pub reference: String,
    /// Why it failed, in words.
    pub reason: String,
    /// Why it failed, for programs.
    pub failure: SubstitutionFailure,
}

impl SubstitutionError {
    fn new(reference: &str, failure: SubstitutionFailure) -> Self {
        let reason = match &failure {
            SubstitutionFailure::NoSuchOption { group, name } => {
                format!("no option `{name}` in group [{group}]")
            }
            SubstitutionFailure::NoSuchGroup { group } => format!("no group [{group}]"),
            SubstitutionFailure::GroupNotValue { group } => {
                format!("`{group}` is a group, not an option; name one of its options")
            }
            SubstitutionFailure::Cycle { chain } if chain.len() > MAX_DEPTH => {
                format!(
                    "references nest more than {MAX_DEPTH} deep: {}",
                    chain.join(" -> ")
                )
            }
            SubstitutionFailure::Cycle { chain } => {
                format!("references form a cycle: {}", chain.join(" -> "))
            }
        };
        SubstitutionError {
            reference: reference.to_string(),
            reason,
            failure,
        }
    }
}

impl fmt::Display for SubstitutionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot resolve ${{{}}}: {}", self.reference, self.reason)
    }
}

impl std::error::Error for SubstitutionError {}

/// How many references may nest before the chain is taken for a runaway.
/// Python's recursion limit stops oslo.config somewhat above this depth.
const MAX_DEPTH: usize = 100;

/// Replaces every reference in `value`, read as an option of `group`.
///
/// # Errors
///
/// A reference to a missing option or group, to a group itself, or a cycle
/// of references.
pub fn substitute(
    value: &str,
    group: &str,
    resolver: &dyn Resolver,
) -> Result<String, SubstitutionError> {
    let mut walk = Walk {
        resolver,
        chain: Vec::new(),
    };
    walk.substitute(value, group)
}

/// One substitution in progress: the options whose values are being
/// substituted, outermost first, to detect cycles.
struct Walk<'a> {
    resolver: &'a dyn Resolver,
    chain: Vec<(String, String)>,
}

impl Walk<'_> {
    fn substitute(&mut self, value: &str, group: &str) -> Result<String, SubstitutionError> {
        if !value.contains('$') {
            return Ok(value.to_string());
        }
        let value = value.replace("\\$", "$$");
        let mut out = String::with_capacity(value.len());
        let mut rest = value.as_str();
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            match parse_reference(after) {
                Reference::Escape => {
                    out.push('$');
                    rest = &after[1..];
                }
                Reference::Name { name, consumed } => {
                    out.push_str(&self.reference(name, group)?);
                    rest = &after[consumed..];
                }
                Reference::Invalid => {
                    out.push('$');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The value of the reference `name` read from an option of `group`.
    fn reference(&mut self, name: &str, group: &str) -> Result<String, SubstitutionError> {
        let first = match name.split_once('.') {
            Some((target_group, option)) => self.in_named_group(target_group, option, name),
            None => self.option(group, name, name),
        };
        match first {
            Err(SubstitutionError {
                failure: SubstitutionFailure::NoSuchOption { .. },
                ..
            }) => self.option(DEFAULT_GROUP, name, name),
            other => other,
        }
    }

    /// `${group.option}`: the group must exist, and `DEFAULT` is no group.
    fn in_named_group(
        &mut self,
        group: &str,
        option: &str,
        reference: &str,
    ) -> Result<String, SubstitutionError> {
        if group == DEFAULT_GROUP {
            let failure = SubstitutionFailure::NoSuchGroup {
                group: group.to_string(),
            };
            return Err(SubstitutionError::new(reference, failure));
        }
        self.option(group, option, reference)
    }

    /// The substituted value of option `name` of `group`.
    fn option(
        &mut self,
        group: &str,
        name: &str,
        reference: &str,
    ) -> Result<String, SubstitutionError> {
        if group == DEFAULT_GROUP && self.resolver.is_group(name) {
            let failure = SubstitutionFailure::GroupNotValue {
                group: name.to_string(),
            };
            return Err(SubstitutionError::new(reference, failure));
        }
        let raw = match self.resolver.lookup(group, name) {
            Lookup::Found(raw) => raw,
            Lookup::NoSuchGroup if group != DEFAULT_GROUP => {
                let failure = SubstitutionFailure::NoSuchGroup {
                    group: group.to_string(),
                };
                return Err(SubstitutionError::new(reference, failure));
            }
            Lookup::NoSuchOption | Lookup::NoSuchGroup => {
                let failure = SubstitutionFailure::NoSuchOption {
                    group: group.to_string(),
                    name: name.to_string(),
                };
                return Err(SubstitutionError::new(reference, failure));
            }
        };

        let key = (group.to_string(), name.to_string());
        if self.chain.contains(&key) || self.chain.len() > MAX_DEPTH {
            return Err(self.cycle(key, reference));
        }
        self.chain.push(key);
        let substituted = self.substitute(&raw, group);
        self.chain.pop();
        substituted
    }

    fn cycle(&self, key: (String, String), reference: &str) -> SubstitutionError {
        let chain = self.chain.iter().chain(std::iter::once(&key));
        let chain = chain.map(|(g, n)| format!("{g}.{n}")).collect();
        SubstitutionError::new(reference, SubstitutionFailure::Cycle { chain })
    }
}

enum Reference<'a> {
    Escape,
    Name { name: &'a str, consumed: usize },
    Invalid,
}

/// Reads what follows a `$`.
fn parse_reference(after: &str) -> Reference<'_> {
    if after.starts_with('$') {
        return Reference::Escape;
    }
    if let Some(braced) = after.strip_prefix('{') {
        let length = identifier_length(braced);
        if length > 0 && braced[length..].starts_with('}') {
            return Reference::Name {
                name: &braced[..length],
                consumed: length + 2,
            };
        }
        return Reference::Invalid;
    }
    match identifier_length(after) {
        0 => Reference::Invalid,
        length => Reference::Name {
            name: &after[..length],
            consumed: length,
        },
    }
}

/// Byte length of the name `[_a-z][._a-z0-9]*` at the start of `text`.
fn identifier_length(text: &str) -> usize {
    let mut chars = text.char_indices();
    match chars.next() {
        Some((_, c)) if is_name_start(c) => {}
        _ => return 0,
    }
    chars
        .find(|(_, c)| !is_name_start(*c) && !matches!(c, '.' | '0'..='9'))
        .map_or(text.len(), |(at, _)| at)
}

/// A letter or `_`, matched without regard to case the way Python's regular
/// expressions do it: besides ASCII letters, four characters whose case
/// mapping is an ASCII letter also match (`İ`, `ı`, `ſ` and the Kelvin sign).
fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || matches!(c, '_' | '\u{130}' | '\u{131}' | '\u{17f}' | '\u{212a}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Options by `(group, name)`; the groups are those of the options.
    #[derive(Default)]
    struct Options(HashMap<(String, String), String>);

    impl Options {
        fn with(mut self, group: &str, name: &str, value: &str) -> Self {
            self.0
                .insert((group.to_string(), name.to_string()), value.to_string());
            self
        }
    }

    impl Resolver for Options {
        fn lookup(&self, group: &str, name: &str) -> Lookup {
            if group != DEFAULT_GROUP && !self.is_group(group) {
                return Lookup::NoSuchGroup;
            }
            match self.0.get(&(group.to_string(), name.to_string())) {
                Some(value) => Lookup::Found(value.clone()),
                None => Lookup::NoSuchOption,
            }
        }

        fn is_group(&self, name: &str) -> bool {
            self.0.keys().any(|(g, _)| g != DEFAULT_GROUP && g == name)
        }
    }

    fn options() -> Options {
        Options::default()
            .with(DEFAULT_GROUP, "my_ip", "10.0.0.1")
            .with(DEFAULT_GROUP, "state_path", "/var/lib/x")
            .with(DEFAULT_GROUP, "empty", "")
            .with(DEFAULT_GROUP, "lock_path", "$state_path/lock")
            .with(DEFAULT_GROUP, "vnc.host", "literal-dotted")
            .with("vnc", "host", "$my_ip")
            .with("vnc", "port", "5900")
            .with("vnc", "broken", "$missing")
            .with("database", "connection", "sqlite://")
    }

    fn ok(value: &str, group: &str) -> String {
        match substitute(value, group, &options()) {
            Ok(text) => text,
            Err(error) => panic!("{value:?} in [{group}] should resolve: {error}"),
        }
    }

    fn failure(value: &str, group: &str) -> SubstitutionFailure {
        match substitute(value, group, &options()) {
            Ok(text) => panic!("{value:?} in [{group}] should fail, got {text:?}"),
            Err(error) => error.failure,
        }
    }

    #[test]
    fn plain_and_braced_names() {
        assert_eq!(ok("$my_ip:80", DEFAULT_GROUP), "10.0.0.1:80");
        assert_eq!(ok("${my_ip}x", DEFAULT_GROUP), "10.0.0.1x");
        assert_eq!(ok("no references", DEFAULT_GROUP), "no references");
    }

    #[test]
    fn names_ignore_case_in_the_pattern_but_not_in_the_lookup() {
        let upper = Options::default().with(DEFAULT_GROUP, "MY_IP", "1.2.3.4");
        assert_eq!(
            substitute("$MY_IP", DEFAULT_GROUP, &upper).unwrap(),
            "1.2.3.4"
        );
        let failure = substitute("$My_ip", DEFAULT_GROUP, &options())
            .unwrap_err()
            .failure;
        assert!(matches!(failure, SubstitutionFailure::NoSuchOption { .. }));
    }

    #[test]
    fn dollar_dollar_and_backslash_dollar_are_literal() {
        assert_eq!(ok("a$$b", DEFAULT_GROUP), "a$b");
        assert_eq!(ok("\\$my_ip", DEFAULT_GROUP), "$my_ip");
        assert_eq!(ok("$$$my_ip", DEFAULT_GROUP), "$10.0.0.1");
        assert_eq!(ok("\\\\$my_ip", DEFAULT_GROUP), "\\$my_ip");
    }

    #[test]
    fn a_dollar_that_starts_no_name_stays() {
        for text in [
            "cost$", "${", "${}", "${my_ip", "$9", "$-x", "${a b}", "$.x", "%(x)s",
        ] {
            assert_eq!(ok(text, DEFAULT_GROUP), text);
        }
        assert_eq!(ok("$ $my_ip", DEFAULT_GROUP), "$ 10.0.0.1");
    }

    #[test]
    fn unbraced_names_take_dots_and_the_rest_is_text() {
        assert_eq!(ok("$vnc.port/x", DEFAULT_GROUP), "5900/x");
        assert_eq!(ok("$my_ip-x", DEFAULT_GROUP), "10.0.0.1-x");
        assert!(matches!(
            failure("$state_path.lock", DEFAULT_GROUP),
            SubstitutionFailure::NoSuchGroup { .. }
        ));
    }

    #[test]
    fn python_case_folding_letters_are_name_characters() {
        assert_eq!(identifier_length("\u{17f}x y"), 3);
        assert_eq!(identifier_length("a\u{212a}"), 4);
        assert_eq!(identifier_length("\u{e9}"), 0);
    }

    #[test]
    fn bare_names_fall_back_to_default() {
        assert_eq!(ok("$my_ip", "vnc"), "10.0.0.1");
        assert_eq!(ok("$port", "vnc"), "5900");
        assert_eq!(ok("$host", "vnc"), "10.0.0.1");
    }

    #[test]
    fn group_references_read_another_group() {
        assert_eq!(ok("${database.connection}", "vnc"), "sqlite://");
        assert_eq!(ok("$vnc.host", "database"), "10.0.0.1");
    }

    #[test]
    fn a_missing_option_of_a_group_falls_back_to_a_dotted_default_option() {
        let options = Options::default()
            .with(DEFAULT_GROUP, "vnc.nothing", "dotted")
            .with("vnc", "port", "1");
        assert_eq!(
            substitute("${vnc.nothing}", DEFAULT_GROUP, &options).unwrap(),
            "dotted"
        );
    }

    #[test]
    fn a_missing_group_fails_at_once() {
        let expected = SubstitutionFailure::NoSuchGroup {
            group: "nowhere".into(),
        };
        assert_eq!(failure("${nowhere.thing}", "vnc"), expected);
    }

    #[test]
    fn default_is_not_a_group_name() {
        let expected = SubstitutionFailure::NoSuchGroup {
            group: DEFAULT_GROUP.into(),
        };
        assert_eq!(failure("${DEFAULT.my_ip}", DEFAULT_GROUP), expected);
    }

    #[test]
    fn a_missing_option_is_an_error_naming_default() {
        let expected = SubstitutionFailure::NoSuchOption {
            group: DEFAULT_GROUP.into(),
            name: "nothing".into(),
        };
        assert_eq!(failure("$nothing/x", "vnc"), expected);
        let error = substitute("$nothing", "vnc", &options()).unwrap_err();
        assert_eq!(error.reference, "nothing");
        assert!(error.to_string().contains("nothing"), "{error}");
    }

    #[test]
    fn a_deeper_missing_option_is_reported_under_the_outer_name() {
        let expected = SubstitutionFailure::NoSuchOption {
            group: DEFAULT_GROUP.into(),
            name: "broken".into(),
        };
        assert_eq!(failure("$broken", "vnc"), expected);
        let expected = SubstitutionFailure::NoSuchOption {
            group: DEFAULT_GROUP.into(),
            name: "vnc.broken".into(),
        };
        assert_eq!(failure("${vnc.broken}", "database"), expected);
    }

    #[test]
    fn a_deeper_fallback_can_still_succeed() {
        let options = options().with(DEFAULT_GROUP, "broken", "rescued");
        assert_eq!(substitute("$broken", "vnc", &options).unwrap(), "rescued");
    }

    #[test]
    fn references_are_substituted_recursively_in_their_own_group() {
        assert_eq!(ok("$lock_path", DEFAULT_GROUP), "/var/lib/x/lock");
        assert_eq!(ok("${vnc.host}", DEFAULT_GROUP), "10.0.0.1");
    }

    #[test]
    fn an_empty_value_contributes_nothing() {
        assert_eq!(ok("[$empty]", DEFAULT_GROUP), "[]");
    }

    #[test]
    fn a_group_name_is_not_a_value() {
        let expected = SubstitutionFailure::GroupNotValue {
            group: "database".into(),
        };
        assert_eq!(failure("$database", DEFAULT_GROUP), expected);
        assert_eq!(failure("$database", "vnc"), expected);
    }

    #[test]
    fn cycles_are_errors() {
        let options = Options::default()
            .with(DEFAULT_GROUP, "a", "$b")
            .with(DEFAULT_GROUP, "b", "x$a")
            .with("g", "self", "$self");
        let error = substitute("$a", DEFAULT_GROUP, &options).unwrap_err();
        let chain = ["DEFAULT.a", "DEFAULT.b", "DEFAULT.a"]
            .map(String::from)
            .to_vec();
        assert_eq!(error.failure, SubstitutionFailure::Cycle { chain });
        let error = substitute("$self", "g", &options).unwrap_err();
        assert!(
            matches!(error.failure, SubstitutionFailure::Cycle { .. }),
            "{error}"
        );
    }

    #[test]
    fn the_same_option_twice_in_one_value_is_no_cycle() {
        let text = ok("$my_ip $my_ip ${lock_path}$lock_path", DEFAULT_GROUP);
        assert_eq!(text, "10.0.0.1 10.0.0.1 /var/lib/x/lock/var/lib/x/lock");
    }

    #[test]
    fn runaway_chains_stop() {
        let mut options = Options::default();
        for i in 0..500 {
            options = options.with(DEFAULT_GROUP, &format!("o{i}"), &format!("$o{}", i + 1));
        }
        let error = substitute("$o0", DEFAULT_GROUP, &options).unwrap_err();
        assert!(
            matches!(error.failure, SubstitutionFailure::Cycle { .. }),
            "{error}"
        );
    }
}
