//! `$name` and `${group.name}` references inside option values.
//!
//! oslo.config resolves references when an option is read, using Python's
//! `string.Template` syntax: `$name`, `${name}`, `$group.name`,
//! `${group.name}`; `$$` (and `\$`, rewritten to `$$` first) give a literal
//! `$`; a `$` that starts no valid name is left as it is. A bare name is
//! looked up in the group of the option being read, then in `DEFAULT`.

use std::fmt;

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
}

/// A reference that could not be resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubstitutionError {
    /// The reference as written, without `$` and braces.
    pub reference: String,
    /// Why it failed.
    pub reason: String,
}

impl fmt::Display for SubstitutionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot resolve ${{{}}}: {}", self.reference, self.reason)
    }
}

impl std::error::Error for SubstitutionError {}

/// How deep references may nest before they are taken for a cycle.
const MAX_DEPTH: usize = 32;

/// Replaces every reference in `value`, read as an option of `group`.
///
/// # Errors
///
/// A reference to a missing option or group, or a cycle of references.
pub fn substitute(
    value: &str,
    group: &str,
    resolver: &dyn Resolver,
) -> Result<String, SubstitutionError> {
    substitute_at_depth(value, group, resolver, 0)
}

fn substitute_at_depth(
    value: &str,
    group: &str,
    resolver: &dyn Resolver,
    depth: usize,
) -> Result<String, SubstitutionError> {
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
                let resolved = resolve(name, group, resolver, depth)?;
                out.push_str(&resolved);
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

enum Reference<'a> {
    Escape,
    Name { name: &'a str, consumed: usize },
    Invalid,
}

fn parse_reference(after: &str) -> Reference<'_> {
    if after.starts_with('$') {
        return Reference::Escape;
    }
    if let Some(braced) = after.strip_prefix('{') {
        let length = identifier_length(braced);
        if length > 0 && braced[length..].starts_with('}') {
            return Reference::Name { name: &braced[..length], consumed: length + 2 };
        }
        return Reference::Invalid;
    }
    let length = identifier_length(after);
    if length > 0 {
        Reference::Name { name: &after[..length], consumed: length }
    } else {
        Reference::Invalid
    }
}

/// Length of the identifier `[_a-z][._a-z0-9]*` (case-insensitive) at the
/// start of `text`.
fn identifier_length(text: &str) -> usize {
    let bytes = text.as_bytes();
    match bytes.first() {
        Some(b) if b.is_ascii_alphabetic() || *b == b'_' => {}
        _ => return 0,
    }
    bytes
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_' || **b == b'.')
        .count()
}

fn resolve(
    name: &str,
    group: &str,
    resolver: &dyn Resolver,
    depth: usize,
) -> Result<String, SubstitutionError> {
    if depth >= MAX_DEPTH {
        return Err(SubstitutionError {
            reference: name.to_string(),
            reason: "references nest too deep (a cycle?)".to_string(),
        });
    }
    let failure = |reason: &str| SubstitutionError {
        reference: name.to_string(),
        reason: reason.to_string(),
    };
    let (target_group, target_name) = match name.split_once('.') {
        Some((g, n)) => (g, n),
        None => (group, name),
    };
    let attempt = |g: &str, n: &str| -> Result<Option<String>, SubstitutionError> {
        match resolver.lookup(g, n) {
            Lookup::Found(raw) => substitute_at_depth(&raw, g, resolver, depth + 1).map(Some),
            Lookup::NoSuchOption => Ok(None),
            Lookup::NoSuchGroup => Err(failure(&format!("no such group: {g}"))),
        }
    };
    let first = match attempt(target_group, target_name) {
        Err(e) if name.contains('.') => return Err(e),
        Err(_) => None,
        Ok(found) => found,
    };
    if let Some(found) = first {
        return Ok(found);
    }
    match attempt(super::DEFAULT_GROUP, name) {
        Ok(Some(found)) => Ok(found),
        _ => Err(failure(&format!("no such option: {name}"))),
    }
}
