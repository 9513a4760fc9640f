//! RPC interface versions: `major.minor[.revision]`, compared the way
//! oslo.messaging's dispatcher compares them.

use std::cmp::Ordering;

/// Whether an endpoint implementing `implemented` can serve a request
/// asking for `requested`: same major, and the request's minor (then
/// revision) no greater than the endpoint's.
///
/// # Errors
///
/// A version that is not `major.minor` or `major.minor.revision` in
/// decimal digits, naming it.
///
/// # Examples
///
/// ```
/// use service_runtime::rpc::version_is_compatible;
///
/// assert!(version_is_compatible("1.3", "1.1").unwrap());
/// assert!(!version_is_compatible("1.3", "1.4").unwrap());
/// assert!(!version_is_compatible("2.0", "1.0").unwrap());
/// ```
pub fn version_is_compatible(implemented: &str, requested: &str) -> Result<bool, String> {
    let implemented = parse(implemented)?;
    let requested = parse(requested)?;
    if implemented.0 != requested.0 {
        return Ok(false);
    }
    let newer = (requested.1, requested.2).cmp(&(implemented.1, implemented.2));
    Ok(newer != Ordering::Greater)
}

fn parse(version: &str) -> Result<(u64, u64, u64), String> {
    let invalid = || format!("expected a version like `1.2` or `1.2.3`, found `{version}`");
    let parts: Vec<&str> = version.split('.').collect();
    if !(2..=3).contains(&parts.len()) {
        return Err(invalid());
    }
    let number = |part: &str| part.parse::<u64>().map_err(|_| invalid());
    let revision = match parts.get(2) {
        Some(part) => number(part)?,
        None => 0,
    };
    Ok((number(parts[0])?, number(parts[1])?, revision))
}

#[cfg(test)]
mod tests {
    use super::version_is_compatible;

    #[test]
    fn follows_major_minor_revision_rules() {
        let cases = [
            ("1.0", "1.0", true),
            ("1.5", "1.2", true),
            ("1.2", "1.5", false),
            ("2.0", "1.0", false),
            ("1.0", "2.0", false),
            ("1.2.3", "1.2.3", true),
            ("1.2.3", "1.2.4", false),
            ("1.2", "1.2.1", false),
            ("1.3", "1.2.9", true),
        ];
        for (implemented, requested, expected) in cases {
            assert_eq!(
                version_is_compatible(implemented, requested).unwrap(),
                expected,
                "{implemented} serving {requested}"
            );
        }
    }

    #[test]
    fn malformed_versions_are_named() {
        let error = version_is_compatible("1.0", "one").unwrap_err();
        assert!(error.contains("`one`"), "{error}");
        assert!(version_is_compatible("1", "1.0").is_err());
        assert!(version_is_compatible("1.0.0.0", "1.0").is_err());
    }
}
