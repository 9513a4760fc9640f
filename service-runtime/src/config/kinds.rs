//! Option kinds beyond the standard types: ports, addresses, URIs, maps,
//! durations, quoted strings and closed sets of choices.
//!
//! Each kind parses exactly what the oslo.config type of the same name
//! accepts, with the few differences listed in `docs/option-kinds.md`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Deref;
use std::str::FromStr;
use std::time::Duration;

use super::value::{Kind, OptionValue};
use super::values::{integer_text, without_digit_underscores};

/// A TCP or UDP port, 0 to 65535, oslo.config's `PortOpt`.
///
/// Port 0 is accepted: binding to it lets the system pick a free port,
/// which is what tests and side-by-side instances want.
///
/// # Examples
///
/// ```
/// use service_runtime::config::{OptionValue, Port};
///
/// assert_eq!(Port::parse_raw(" 8080 ").unwrap().get(), 8080);
/// assert!(Port::parse_raw("65536").is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port(pub u16);

impl Port {
    /// The port number.
    pub fn get(self) -> u16 {
        self.0
    }

    /// Whether the system is asked to pick a free port.
    pub fn is_any(self) -> bool {
        self.0 == 0
    }
}

impl From<u16> for Port {
    fn from(port: u16) -> Self {
        Port(port)
    }
}

impl From<Port> for u16 {
    fn from(port: Port) -> Self {
        port.0
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl OptionValue for Port {
    const KIND: Kind = Kind::Port;

    fn parse_raw(raw: &str) -> Result<Self, String> {
        integer_text(raw)
            .and_then(|text| text.parse::<u16>().ok())
            .map(Port)
            .ok_or_else(|| {
                "expected a port number from 0 to 65535 (0 picks any free port)".to_string()
            })
    }

    fn render(&self) -> String {
        self.0.to_string()
    }

    fn as_number(&self) -> Option<f64> {
        Some(f64::from(self.0))
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::from(self.0)
    }

    /// oslo.config reads an empty port as "not set", like any integer.
    fn empty_means_unset() -> bool {
        true
    }
}

/// A string that may be wrapped in one pair of quotes, oslo.config's
/// `String(quotes=True)`.
///
/// A value starting with `"` or `'` must end with the same quote, and the
/// pair is removed. As the item type of a list it lets items contain
/// commas: `"a,b", c` gives `a,b` and `c`.
///
/// # Examples
///
/// ```
/// use service_runtime::config::{OptionValue, QuotedString};
///
/// let items = Vec::<QuotedString>::parse_raw(r#""a,b", c"#).unwrap();
/// assert_eq!(items[0].as_str(), "a,b");
/// assert_eq!(items[1].as_str(), "c");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QuotedString(pub String);

impl QuotedString {
    /// The text, quotes removed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `render` has to quote the text for it to read back the same,
    /// alone or as a list item. An empty item at the end of a list is lost
    /// with the trailing commas unless it is written `""`.
    fn needs_quotes(&self) -> bool {
        let text = &self.0;
        text.is_empty()
            || text.contains(',')
            || text.starts_with(['"', '\''])
            || text.trim() != text
    }
}

/// Whether `quote`, then only spaces, then a comma occur in `text`: the
/// place where a list item quoted with `quote` would be taken to end.
fn closes_before_comma(text: &str, quote: char) -> bool {
    text.match_indices(quote)
        .any(|(at, _)| text[at + 1..].trim_start().starts_with(','))
}

impl Deref for QuotedString {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for QuotedString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl OptionValue for QuotedString {
    const KIND: Kind = Kind::String;

    fn parse_raw(raw: &str) -> Result<Self, String> {
        let Some(quote) = raw.chars().next().filter(|c| matches!(c, '"' | '\'')) else {
            return Ok(QuotedString(raw.to_string()));
        };
        if raw.len() < 2 || !raw.ends_with(quote) {
            return Err(format!(
                "expected a closing {quote} at the end of the value"
            ));
        }
        Ok(QuotedString(raw[1..raw.len() - 1].to_string()))
    }

    /// Quoted when needed, with `"` unless the text holds a `"` before a
    /// comma: as a list item, that would end the item early, so `'` is
    /// used instead. A text that holds both quotes before commas cannot be
    /// written as a list item at all (oslo.config has no escapes); it is
    /// rendered with `"`, which still reads back as a single value.
    fn render(&self) -> String {
        if !self.needs_quotes() {
            return self.0.clone();
        }
        let quote = if closes_before_comma(&self.0, '"') && !closes_before_comma(&self.0, '\'') {
            '\''
        } else {
            '"'
        };
        format!("{quote}{}{quote}", self.0)
    }

    /// The text itself: quotes are file syntax, not part of the value.
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::String(self.0.clone())
    }
}

macro_rules! ip_option {
    ($($ty:ty => $expected:literal),* $(,)?) => {$(
        /// Strict: the text form only, no surrounding spaces, no leading
        /// zeros, no zone index, as oslo.config's `inet_pton` check.
        impl OptionValue for $ty {
            const KIND: Kind = Kind::IpAddress;

            fn parse_raw(raw: &str) -> Result<Self, String> {
                <$ty>::from_str(raw).map_err(|_| $expected.to_string())
            }

            fn render(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

ip_option! {
    IpAddr => "expected an IPv4 or IPv6 address, such as 192.0.2.10 or 2001:db8::1",
    Ipv4Addr => "expected an IPv4 address, such as 192.0.2.10",
    Ipv6Addr => "expected an IPv6 address, such as 2001:db8::1",
}

const MAX_NAME_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;

/// Checks a DNS name the way oslo.config's `Hostname` does (RFC 1123):
/// at most 253 characters, labels of 1 to 63 letters, digits and `-` (and
/// `_` when `allow_underscore`), no label starting or ending with `-`, and
/// a last label with a letter, so that `10.0.0.300` is not a name. One
/// trailing dot (a fully qualified name) is allowed and removed.
fn check_host_name(raw: &str, allow_underscore: bool) -> Result<String, String> {
    if raw.is_empty() {
        return Err("the name is empty".to_string());
    }
    if raw.len() > MAX_NAME_LEN {
        return Err(format!("the name is longer than {MAX_NAME_LEN} characters"));
    }

    let name = raw.strip_suffix('.').unwrap_or(raw);
    for label in name.split('.') {
        check_label(label, allow_underscore)?;
    }

    let last = name.rsplit('.').next().unwrap_or(name);
    if !last.bytes().any(|b| b.is_ascii_alphabetic() || b == b'-') {
        return Err(format!("the last label {last:?} has no letter"));
    }
    Ok(name.to_string())
}

fn check_label(label: &str, allow_underscore: bool) -> Result<(), String> {
    if label.is_empty() {
        return Err("the name has an empty label (two dots in a row?)".to_string());
    }
    if label.len() > MAX_LABEL_LEN {
        return Err(format!(
            "label {label:?} is longer than {MAX_LABEL_LEN} characters"
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || (allow_underscore && c == '_');
    if let Some(bad) = label.chars().find(|c| !allowed(*c)) {
        let what = if allow_underscore {
            "letters, digits, '-' and '_'"
        } else {
            "letters, digits and '-'"
        };
        return Err(format!(
            "label {label:?} contains {bad:?}; only {what} are allowed"
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!("label {label:?} starts or ends with '-'"));
    }
    Ok(())
}

/// A DNS host name, oslo.config's `HostnameOpt`: RFC 1123 labels of 1 to
/// 63 letters, digits and `-`, not starting or ending with `-`, at most
/// 253 characters, the last label not all digits. A trailing dot is
/// removed. The case is kept as written.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hostname(String);

impl Hostname {
    /// The name, without a trailing dot.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl OptionValue for Hostname {
    const KIND: Kind = Kind::HostAddress;

    fn parse_raw(raw: &str) -> Result<Self, String> {
        check_host_name(raw, false)
            .map(Hostname)
            .map_err(|problem| format!("expected a host name: {problem}"))
    }

    fn render(&self) -> String {
        self.0.clone()
    }
}

/// An IP address or a host name, oslo.config's `HostAddressOpt`.
///
/// Text that is an IP address is one; anything else must be a valid
/// [`Hostname`], so a mistyped address such as `10.0.0.300` is refused
/// rather than taken for a name.
///
/// # Examples
///
/// ```
/// use service_runtime::config::{HostAddress, OptionValue};
///
/// assert!(matches!(HostAddress::parse_raw("::1"), Ok(HostAddress::Ip(_))));
/// assert!(matches!(HostAddress::parse_raw("db.example"), Ok(HostAddress::Name(_))));
/// assert!(HostAddress::parse_raw("10.0.0.300").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HostAddress {
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A host name.
    Name(Hostname),
}

impl fmt::Display for HostAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostAddress::Ip(ip) => ip.fmt(f),
            HostAddress::Name(name) => name.fmt(f),
        }
    }
}

impl OptionValue for HostAddress {
    const KIND: Kind = Kind::HostAddress;

    fn parse_raw(raw: &str) -> Result<Self, String> {
        if let Ok(ip) = IpAddr::from_str(raw) {
            return Ok(HostAddress::Ip(ip));
        }
        check_host_name(raw, false)
            .map(|name| HostAddress::Name(Hostname(name)))
            .map_err(|problem| format!("expected an IP address or a host name: {problem}"))
    }

    fn render(&self) -> String {
        self.to_string()
    }
}

/// An IP address or a domain name that may contain `_`, oslo.config's
/// `HostDomainOpt` (service records such as `_sip._tcp.example` need it).
/// Otherwise the rules of [`HostAddress`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HostDomain {
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A domain name, without a trailing dot.
    Name(String),
}

impl fmt::Display for HostDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostDomain::Ip(ip) => ip.fmt(f),
            HostDomain::Name(name) => f.write_str(name),
        }
    }
}

impl OptionValue for HostDomain {
    const KIND: Kind = Kind::HostAddress;

    fn parse_raw(raw: &str) -> Result<Self, String> {
        if let Ok(ip) = IpAddr::from_str(raw) {
            return Ok(HostDomain::Ip(ip));
        }
        check_host_name(raw, true)
            .map(HostDomain::Name)
            .map_err(|problem| format!("expected an IP address or a domain name: {problem}"))
    }

    fn render(&self) -> String {
        self.to_string()
    }
}

/// An absolute URI with a scheme and a host, oslo.config's `URIOpt`, such
/// as `mysql+pymysql://user:secret@db.example/nova` or
/// `amqp://guest@broker:5672//`.
///
/// The whole text must be a valid RFC 3986 URI. The text is kept as
/// written (no normalisation), so it renders unchanged.
///
/// # Examples
///
/// ```
/// use service_runtime::config::{OptionValue, Uri};
///
/// let uri = Uri::parse_raw("https://keystone.example:5000/v3").unwrap();
/// assert_eq!(uri.scheme(), "https");
/// assert_eq!(uri.host(), "keystone.example");
/// assert!(Uri::parse_raw("file:///etc/hosts").is_err()); // no host
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Uri {
    text: String,
    scheme: String,
    host: String,
}

impl Uri {
    /// The URI as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The scheme, as written (schemes compare case-insensitively).
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The host: a name, an IPv4 address, or an IPv6 address in brackets.
    pub fn host(&self) -> &str {
        &self.host
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl OptionValue for Uri {
    const KIND: Kind = Kind::Uri;

    fn parse_raw(raw: &str) -> Result<Self, String> {
        let parsed = fluent_uri::UriRef::parse(raw).map_err(|error| {
            let from_there = raw.get(error.index()..).unwrap_or_default();
            format!("expected a URI (RFC 3986): {error} ({from_there:?} onwards)")
        })?;
        let Some(scheme) = parsed.scheme() else {
            return Err("expected a URI with a scheme, such as https://host/".to_string());
        };
        let host = parsed.authority().map_or("", |authority| authority.host());
        if host.is_empty() {
            return Err("expected a URI with a host, such as scheme://host/".to_string());
        }
        let looks_numeric = host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        if looks_numeric && Ipv4Addr::from_str(host).is_err() {
            return Err(format!(
                "expected a URI with a valid host: {host:?} is not an IPv4 address"
            ));
        }
        let (scheme, host) = (scheme.as_str().to_string(), host.to_string());
        Ok(Uri {
            text: raw.to_string(),
            scheme,
            host,
        })
    }

    fn render(&self) -> String {
        self.text.clone()
    }
}

/// Key/value pairs, oslo.config's `DictOpt`: `key:value,key2:value2`.
///
/// Pairs are split on `,` and each pair at its first `:`; keys and values
/// are trimmed. An empty value gives an empty map. A pair without `:`, an
/// empty key or a repeated key is an error. The value type `V` is a string
/// unless given; a value piece that `V` refuses is joined with the next
/// piece, as list items are, so `Dict<QuotedString>` allows `k:"a,b"`.
/// Keys are kept sorted, which is also how the map renders.
///
/// # Examples
///
/// ```
/// use service_runtime::config::{Dict, OptionValue};
///
/// let mappings = Dict::<String>::parse_raw("physnet1:br-eth1, physnet2:br-eth2").unwrap();
/// assert_eq!(mappings["physnet2"], "br-eth2");
/// assert_eq!(mappings.render(), "physnet1:br-eth1,physnet2:br-eth2");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dict<V = String>(pub BTreeMap<String, V>);

impl<V> Default for Dict<V> {
    fn default() -> Self {
        Dict(BTreeMap::new())
    }
}

impl<V> Dict<V> {
    /// The map itself.
    pub fn into_inner(self) -> BTreeMap<String, V> {
        self.0
    }
}

impl<V> Deref for Dict<V> {
    type Target = BTreeMap<String, V>;

    fn deref(&self) -> &BTreeMap<String, V> {
        &self.0
    }
}

impl<V> From<BTreeMap<String, V>> for Dict<V> {
    fn from(map: BTreeMap<String, V>) -> Self {
        Dict(map)
    }
}

impl<V: OptionValue> OptionValue for Dict<V> {
    const KIND: Kind = Kind::Dict;

    fn parse_raw(raw: &str) -> Result<Self, String> {
        let body = raw.trim();
        let mut map = BTreeMap::new();
        if body.is_empty() {
            return Ok(Dict(map));
        }

        let mut pieces = body.split(',');
        while let Some(first) = pieces.next() {
            let (key, value) = parse_pair::<V>(first, &mut pieces)?;
            if map.contains_key(&key) {
                return Err(format!("duplicate key {key:?}: expected each key once"));
            }
            map.insert(key, value);
        }
        Ok(Dict(map))
    }

    fn render(&self) -> String {
        let pairs = self
            .0
            .iter()
            .map(|(key, value)| format!("{key}:{}", value.render()));
        pairs.collect::<Vec<_>>().join(",")
    }

    fn to_json(&self) -> serde_json::Value {
        let entries = self
            .0
            .iter()
            .map(|(key, value)| (key.clone(), value.to_json()));
        serde_json::Value::Object(entries.collect())
    }
}

/// Parses the pair starting at `first`, joining following pieces to the
/// value while `V` refuses it (see [`Dict`]).
fn parse_pair<'a, V: OptionValue>(
    first: &'a str,
    rest: &mut impl Iterator<Item = &'a str>,
) -> Result<(String, V), String> {
    let Some((key, value)) = first.split_once(':') else {
        return Err(format!(
            "pair {:?} has no ':': expected key:value pairs separated by ','",
            first.trim()
        ));
    };
    let key = key.trim().to_string();
    if key.is_empty() {
        return Err(format!(
            "pair {:?} has an empty key: expected key:value",
            first.trim()
        ));
    }

    let first_error = match V::parse_raw(value.trim()) {
        Ok(value) => return Ok((key, value)),
        Err(error) => error,
    };
    if value.trim().is_empty() {
        return Err(format!("the value of key {key:?} is empty: {first_error}"));
    }
    let mut joined = value.to_string();
    for next in rest {
        joined.push(',');
        joined.push_str(next);
        if let Ok(value) = V::parse_raw(joined.trim()) {
            return Ok((key, value));
        }
    }
    Err(format!("the value of key {key:?}: {first_error}"))
}

const SECONDS_EXPECTED: &str = "expected a non-negative number of seconds, such as 30 or 0.5";

/// A number of seconds, integer or decimal, not negative. oslo.config has no
/// duration kind: services use an integer or float option counted in
/// seconds, and this reads the same text.
impl OptionValue for Duration {
    const KIND: Kind = Kind::Duration;

    fn parse_raw(raw: &str) -> Result<Self, String> {
        let text = without_digit_underscores(raw.trim()).ok_or(SECONDS_EXPECTED)?;
        if let Some(exact) = decimal_seconds(&text) {
            return Ok(exact);
        }
        let seconds = text
            .parse::<f64>()
            .ok()
            .filter(|seconds| seconds.is_finite());
        let seconds = seconds
            .filter(|seconds| *seconds >= 0.0)
            .ok_or(SECONDS_EXPECTED)?;
        Duration::try_from_secs_f64(seconds.abs())
            .map_err(|_| format!("expected a number of seconds up to {}", u64::MAX))
    }

    fn render(&self) -> String {
        let nanos = self.subsec_nanos();
        if nanos == 0 {
            return self.as_secs().to_string();
        }
        let fraction = format!("{nanos:09}");
        format!("{}.{}", self.as_secs(), fraction.trim_end_matches('0'))
    }

    fn as_number(&self) -> Option<f64> {
        Some(self.as_secs_f64())
    }

    fn to_json(&self) -> serde_json::Value {
        if self.subsec_nanos() == 0 {
            serde_json::Value::from(self.as_secs())
        } else {
            serde_json::Value::from(self.as_secs_f64())
        }
    }

    fn empty_means_unset() -> bool {
        true
    }
}

/// Reads `12`, `12.`, `12.5` or `.5` exactly, to the nanosecond, where a
/// float would round `0.1`. `None` for anything else (exponents, signs,
/// more than nine decimals), which the float path then handles.
fn decimal_seconds(text: &str) -> Option<Duration> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    if fraction.len() > 9 {
        return None;
    }
    let seconds = if whole.is_empty() {
        0
    } else {
        whole.parse::<u64>().ok()?
    };
    let nanos = format!("{fraction:0<9}").parse::<u32>().ok()?;
    Some(Duration::new(seconds, nanos))
}

/// Defines an enum whose variants are the choices of an option.
///
/// Each variant names the spelling that selects it in files, the
/// environment and on the command line. The spelling must match exactly
/// (oslo.config compares choices case-sensitively by default); anything
/// else is an error listing every choice. The enum derives `Clone`,
/// `Copy`, `Debug`, `PartialEq`, `Eq` and `Hash`; add other derives
/// (`Default` with a `#[default]` variant, say) as attributes.
///
/// # Examples
///
/// ```
/// use service_runtime::config::OptionValue;
///
/// service_runtime::option_choices! {
///     /// How log lines are written.
///     pub enum LogFormat {
///         /// One line of text per event.
///         Text = "text",
///         /// One JSON object per event.
///         Json = "json",
///     }
/// }
///
/// assert_eq!(LogFormat::parse_raw("json"), Ok(LogFormat::Json));
/// assert_eq!(LogFormat::Text.render(), "text");
/// assert_eq!(LogFormat::choices(), Some(&["text", "json"][..]));
/// assert_eq!(LogFormat::parse_raw("yaml").unwrap_err(), "expected one of: text, json");
/// ```
#[macro_export]
macro_rules! option_choices {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident = $spelling:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$variant_meta])* $variant ),+
        }

        impl $name {
            /// Every spelling, in declaration order.
            pub const SPELLINGS: &'static [&'static str] = &[$($spelling),+];

            /// The spelling that selects this choice.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $spelling ),+
                }
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::config::OptionValue for $name {
            const KIND: $crate::config::Kind = $crate::config::Kind::Choice;

            fn parse_raw(
                raw: &str,
            ) -> ::core::result::Result<Self, ::std::string::String> {
                match raw {
                    $( $spelling => ::core::result::Result::Ok($name::$variant), )+
                    _ => ::core::result::Result::Err(::std::format!(
                        "expected one of: {}",
                        Self::SPELLINGS.join(", ")
                    )),
                }
            }

            fn render(&self) -> ::std::string::String {
                ::std::string::ToString::to_string(self.as_str())
            }

            fn choices() -> ::core::option::Option<&'static [&'static str]> {
                ::core::option::Option::Some(Self::SPELLINGS)
            }
        }
    };
}

#[cfg(test)]
mod tests;
