//! The access log: one INFO line per request, in a template with
//! Python-style `%(key)s` fields as oslo.service's `wsgi_log_format` uses.

use std::fmt::{self, Write as _};
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use crate::utc::UtcSecond;

/// The tracing target of access log lines.
pub const ACCESS_LOG_TARGET: &str = "service_runtime::http::access";

/// The default template, the same as oslo.service's `wsgi_log_format`.
pub const DEFAULT_ACCESS_LOG_FORMAT: &str = "%(client_ip)s \"%(request_line)s\" status: \
     %(status_code)s  len: %(body_length)s time: %(wall_seconds).7f";

/// Longest request line written to the log, in bytes; longer ones are cut
/// and end in `...`, so an oversized request cannot produce a huge line.
const MAX_LOGGED_REQUEST_LINE: usize = 2048;

/// The keys a template may use, in the order the error message lists them.
const KEY_NAMES: &str =
    "client_ip, date_time, request_line, status_code, body_length, wall_seconds";

/// A parsed access log template.
///
/// Fields are written `%(key)` followed by an optional flag (`-` to align
/// left, `0` to pad numbers with zeros, `+` to show a sign), an optional
/// width, an optional `.precision` and a conversion: `s` (text), `d` or `i`
/// (integer) or `f` (fixed-point). `%%` is a literal percent sign. The keys
/// are `client_ip`, `date_time` (UTC, `05/Mar/2024 13:07:01`),
/// `request_line`, `status_code`, `body_length` (bytes of body sent) and
/// `wall_seconds` (from the request head being read to the end of the
/// response).
#[derive(Clone, Debug, PartialEq)]
pub struct AccessLogFormat {
    template: String,
    pieces: Vec<Piece>,
}

/// Why an access log template was refused. Positions are byte offsets into
/// the template.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AccessLogFormatError {
    /// A `%` not followed by `(key)` or `%`.
    #[error(
        "access log format: `%` at byte {at} must be followed by `(key)`; \
         write `%%` for a literal percent sign"
    )]
    BarePercent {
        /// Where the `%` is.
        at: usize,
    },
    /// A `%(` without its closing parenthesis.
    #[error("access log format: `%(` at byte {at} has no closing `)`")]
    UnclosedKey {
        /// Where the `%(` is.
        at: usize,
    },
    /// A key that is not one of the known ones.
    #[error("access log format: unknown key `{key}` at byte {at}; expected one of {KEY_NAMES}")]
    UnknownKey {
        /// The key as written.
        key: String,
        /// Where the field starts.
        at: usize,
    },
    /// A conversion other than `s`, `d`, `i` or `f`, or none at all.
    #[error(
        "access log format: field at byte {at} has conversion `{conversion}`; \
         expected `s`, `d`, `i` or `f` after the key, flags, width and precision"
    )]
    BadConversion {
        /// The conversion found, or an empty string at the end of the template.
        conversion: String,
        /// Where the field starts.
        at: usize,
    },
    /// A numeric conversion on a text key.
    #[error(
        "access log format: key `{key}` at byte {at} is text and can only use `s`, \
         not `{conversion}`"
    )]
    TextAsNumber {
        /// The key.
        key: &'static str,
        /// The numeric conversion used.
        conversion: char,
        /// Where the field starts.
        at: usize,
    },
}

#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Literal(String),
    Field { key: Key, spec: Spec },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Key {
    ClientIp,
    DateTime,
    RequestLine,
    StatusCode,
    BodyLength,
    WallSeconds,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Spec {
    left_align: bool,
    zero_pad: bool,
    plus_sign: bool,
    width: usize,
    precision: Option<usize>,
    conversion: Conversion,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
enum Conversion {
    #[default]
    Text,
    Integer,
    Fixed,
}

/// The facts about one finished request that a log line can show.
pub(crate) struct AccessEntry<'a> {
    pub(crate) client_ip: &'a str,
    /// When the request ended; `None`: now, read only if the template
    /// shows the time.
    pub(crate) time: Option<SystemTime>,
    pub(crate) request_line: &'a dyn WriteRequestLine,
    pub(crate) status_code: u16,
    pub(crate) body_length: u64,
    pub(crate) wall_time: Duration,
}

/// A request line that writes itself into a log line: kept in parts until
/// then, so that a request whose line is never logged costs no copy.
pub(crate) trait WriteRequestLine {
    /// Appends the line, without its line end.
    fn write_request_line(&self, out: &mut String);
}

/// A request line known only as text, or `-` when there was none.
impl WriteRequestLine for &str {
    fn write_request_line(&self, out: &mut String) {
        out.push_str(self);
    }
}

/// A value of one key, typed as Python's `%` operator would see it.
enum Value<'a> {
    Text(&'a str),
    Owned(String),
    /// The request line, written when the line is; cut when it is long.
    RequestLine(&'a dyn WriteRequestLine),
    Integer(u64),
    /// A time span, a float to Python; written exactly from nanoseconds.
    Seconds(Duration),
}

impl Default for AccessLogFormat {
    fn default() -> Self {
        DEFAULT_ACCESS_LOG_FORMAT
            .parse()
            .expect("the default access log format is valid")
    }
}

impl FromStr for AccessLogFormat {
    type Err = AccessLogFormatError;

    fn from_str(template: &str) -> Result<Self, Self::Err> {
        AccessLogFormat::parse(template)
    }
}

impl AccessLogFormat {
    /// Parses a template, checking every key and conversion.
    ///
    /// # Errors
    ///
    /// Returns an [`AccessLogFormatError`] naming the first bad field.
    pub fn parse(template: &str) -> Result<Self, AccessLogFormatError> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = template;

        while let Some(percent) = rest.find('%') {
            literal.push_str(&rest[..percent]);
            let at = template.len() - rest.len() + percent;
            let after = &rest[percent + 1..];

            if let Some(tail) = after.strip_prefix('%') {
                literal.push('%');
                rest = tail;
                continue;
            }

            let (key, spec, tail) = parse_field(after, at)?;
            if !literal.is_empty() {
                pieces.push(Piece::Literal(std::mem::take(&mut literal)));
            }
            pieces.push(Piece::Field { key, spec });
            rest = tail;
        }

        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(AccessLogFormat {
            template: template.to_owned(),
            pieces,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.template
    }

    /// Writes the line for one request.
    #[cfg(test)]
    pub(crate) fn render(&self, entry: &AccessEntry<'_>) -> String {
        let mut line = String::new();
        self.render_into(entry, &mut line);
        line
    }

    /// Appends the line for one request to `line`: the server renders every
    /// request into one reused buffer.
    pub(crate) fn render_into(&self, entry: &AccessEntry<'_>, line: &mut String) {
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => line.push_str(text),
                Piece::Field { key, spec } => {
                    let value = key.value_of(entry);
                    write_field(line, &value, spec);
                }
            }
        }
    }
}

/// Parses `(key)flags width .precision conversion` after a `%` at `at`.
fn parse_field(after: &str, at: usize) -> Result<(Key, Spec, &str), AccessLogFormatError> {
    let Some(inner) = after.strip_prefix('(') else {
        return Err(AccessLogFormatError::BarePercent { at });
    };
    let Some(close) = inner.find(')') else {
        return Err(AccessLogFormatError::UnclosedKey { at });
    };
    let name = &inner[..close];
    let key = Key::from_name(name).ok_or_else(|| AccessLogFormatError::UnknownKey {
        key: name.to_owned(),
        at,
    })?;

    let mut spec = Spec::default();
    let mut rest = &inner[close + 1..];
    while let Some(flag) = rest.chars().next().filter(|c| matches!(c, '-' | '0' | '+')) {
        match flag {
            '-' => spec.left_align = true,
            '0' => spec.zero_pad = true,
            _ => spec.plus_sign = true,
        }
        rest = &rest[1..];
    }
    let (width, tail) = take_number(rest);
    spec.width = width.unwrap_or(0);
    rest = tail;
    if let Some(tail) = rest.strip_prefix('.') {
        let (precision, tail) = take_number(tail);
        spec.precision = Some(precision.unwrap_or(0));
        rest = tail;
    }

    let conversion = rest.chars().next();
    spec.conversion = match conversion {
        Some('s') => Conversion::Text,
        Some('d' | 'i') => Conversion::Integer,
        Some('f') => Conversion::Fixed,
        other => {
            return Err(AccessLogFormatError::BadConversion {
                conversion: other.map(String::from).unwrap_or_default(),
                at,
            });
        }
    };
    if key.is_text() && spec.conversion != Conversion::Text {
        return Err(AccessLogFormatError::TextAsNumber {
            key: key.name(),
            conversion: conversion.unwrap_or('?'),
            at,
        });
    }
    Ok((key, spec, &rest[1..]))
}

/// Splits leading ASCII digits off `text`.
fn take_number(text: &str) -> (Option<usize>, &str) {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return (None, text);
    }
    (text[..digits].parse().ok(), &text[digits..])
}

impl Key {
    fn from_name(name: &str) -> Option<Key> {
        Some(match name {
            "client_ip" => Key::ClientIp,
            "date_time" => Key::DateTime,
            "request_line" => Key::RequestLine,
            "status_code" => Key::StatusCode,
            "body_length" => Key::BodyLength,
            "wall_seconds" => Key::WallSeconds,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Key::ClientIp => "client_ip",
            Key::DateTime => "date_time",
            Key::RequestLine => "request_line",
            Key::StatusCode => "status_code",
            Key::BodyLength => "body_length",
            Key::WallSeconds => "wall_seconds",
        }
    }

    fn is_text(self) -> bool {
        matches!(self, Key::ClientIp | Key::DateTime | Key::RequestLine)
    }

    fn value_of<'a>(self, entry: &AccessEntry<'a>) -> Value<'a> {
        match self {
            Key::ClientIp => Value::Text(entry.client_ip),
            Key::DateTime => {
                Value::Owned(format_date_time(entry.time.unwrap_or_else(SystemTime::now)))
            }
            Key::RequestLine => Value::RequestLine(entry.request_line),
            Key::StatusCode => Value::Integer(entry.status_code.into()),
            Key::BodyLength => Value::Integer(entry.body_length),
            Key::WallSeconds => Value::Seconds(entry.wall_time),
        }
    }
}

/// Writes one value with its flags, width and precision. Without a width
/// or a sign, which are rare, the value is written straight into the line.
fn write_field(line: &mut String, value: &Value<'_>, spec: &Spec) {
    if spec.width == 0 && !spec.plus_sign {
        write_body(line, value, spec);
        return;
    }
    let mut body = String::new();
    if spec.plus_sign && spec.conversion != Conversion::Text {
        body.push('+');
    }
    write_body(&mut body, value, spec);
    pad(line, &body, spec);
}

/// Appends a value as its conversion shows it, before any padding.
fn write_body(out: &mut String, value: &Value<'_>, spec: &Spec) {
    let precision = spec.precision.unwrap_or(6);
    let _ = match (spec.conversion, value) {
        (_, Value::Text(text)) => {
            out.push_str(truncate(text, spec.precision));
            Ok(())
        }
        (_, Value::Owned(text)) => {
            out.push_str(truncate(text, spec.precision));
            Ok(())
        }
        (_, Value::RequestLine(request_line)) => {
            write_request_line(out, *request_line, spec.precision);
            Ok(())
        }
        (Conversion::Text | Conversion::Integer, Value::Integer(n)) => {
            out.push_str(itoa::Buffer::new().format(*n));
            Ok(())
        }
        (Conversion::Text, Value::Seconds(time)) => write_python_float_str(out, time.as_secs_f64()),
        (Conversion::Integer, Value::Seconds(time)) => write!(out, "{}", time.as_secs()),
        (Conversion::Fixed, Value::Integer(n)) => write!(out, "{:.*}", precision, *n as f64),
        (Conversion::Fixed, Value::Seconds(time)) => write_fixed_seconds(out, *time, precision),
    };
}

/// Writes a time span in seconds with `precision` decimals, rounded half
/// up from its nanoseconds: the exact decimal of what was measured, and
/// without the float formatting that would cost more than the rest of the
/// line.
fn write_fixed_seconds(out: &mut String, time: Duration, precision: usize) -> fmt::Result {
    if precision > 9 {
        let zeros = precision - 9;
        return write!(
            out,
            "{}.{:09}{:0zeros$}",
            time.as_secs(),
            time.subsec_nanos(),
            0
        );
    }
    let nanos = u64::try_from(time.as_nanos()).unwrap_or(u64::MAX);
    let unit = 10u64.pow(9 - precision as u32);
    let scaled = nanos.saturating_add(unit / 2) / unit;
    let per_second = 10u64.pow(precision as u32);
    let mut digits = itoa::Buffer::new();
    out.push_str(digits.format(scaled / per_second));
    if precision > 0 {
        let fraction = digits.format(scaled % per_second);
        out.push('.');
        out.extend(std::iter::repeat_n('0', precision - fraction.len()));
        out.push_str(fraction);
    }
    Ok(())
}

/// Python's `str()` of a float keeps a `.0` on whole numbers.
fn write_python_float_str(out: &mut String, value: f64) -> fmt::Result {
    if value.fract() == 0.0 && value.is_finite() {
        write!(out, "{value:.1}")
    } else {
        write!(out, "{value}")
    }
}

fn truncate(text: &str, precision: Option<usize>) -> &str {
    match precision {
        Some(max) => match text.char_indices().nth(max) {
            Some((end, _)) => &text[..end],
            None => text,
        },
        None => text,
    }
}

/// Pads `text` to the field's width: on the right with `-`, with zeros
/// after any sign for a number with `0`, else on the left with spaces.
fn pad(line: &mut String, text: &str, spec: &Spec) {
    let numeric = spec.conversion != Conversion::Text;
    let missing = spec.width.saturating_sub(text.chars().count());
    if spec.left_align {
        line.push_str(text);
        line.extend(std::iter::repeat_n(' ', missing));
    } else if spec.zero_pad && numeric {
        let (sign, digits) = text.split_at(usize::from(text.starts_with(['+', '-'])));
        line.push_str(sign);
        line.extend(std::iter::repeat_n('0', missing));
        line.push_str(digits);
    } else {
        line.extend(std::iter::repeat_n(' ', missing));
        line.push_str(text);
    }
}

/// Appends the request line, cut to [`MAX_LOGGED_REQUEST_LINE`] bytes and
/// marked with `...` when cut, so that an oversized request cannot produce
/// a huge line; then cut to `precision` characters when there is one.
fn write_request_line(
    out: &mut String,
    request_line: &dyn WriteRequestLine,
    precision: Option<usize>,
) {
    let start = out.len();
    request_line.write_request_line(out);
    if out.len() - start > MAX_LOGGED_REQUEST_LINE {
        let mut end = start + MAX_LOGGED_REQUEST_LINE;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str("...");
    }
    if let Some(max) = precision
        && let Some((cut, _)) = out[start..].char_indices().nth(max)
    {
        out.truncate(start + cut);
    }
}

/// Formats a time as `05/Mar/2024 13:07:01` in UTC, the layout of Python's
/// `BaseHTTPRequestHandler.log_date_time_string`.
fn format_date_time(time: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let at = UtcSecond::of(time);
    let mut text = String::with_capacity(20);
    let _ = write!(
        text,
        "{:02}/{}/{:04} {:02}:{:02}:{:02}",
        at.day,
        MONTHS[at.month as usize - 1],
        at.year,
        at.hour,
        at.minute,
        at.second
    );
    text
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn entry<'a>(request_line: &'a &'a str) -> AccessEntry<'a> {
        AccessEntry {
            client_ip: "192.0.2.7",
            time: Some(std::time::UNIX_EPOCH + Duration::from_secs(1_709_644_021)),
            request_line,
            status_code: 200,
            body_length: 42,
            wall_time: Duration::from_nanos(12_345_678),
        }
    }

    #[test]
    fn default_format_matches_oslo_layout() {
        let line = AccessLogFormat::default().render(&entry(&"GET /ping HTTP/1.1"));
        assert_eq!(
            line,
            "192.0.2.7 \"GET /ping HTTP/1.1\" status: 200  len: 42 time: 0.0123457"
        );
    }

    #[test]
    fn date_time_flags_width_and_percent() {
        let format =
            AccessLogFormat::parse("[%(date_time)s] %(status_code)05d %(client_ip)-12s| 100%%")
                .unwrap();
        let line = format.render(&entry(&"GET / HTTP/1.1"));
        assert_eq!(line, "[05/Mar/2024 13:07:01] 00200 192.0.2.7   | 100%");
    }

    #[test]
    fn numbers_as_text_and_integers() {
        let format =
            AccessLogFormat::parse("%(wall_seconds)s %(wall_seconds)d %(body_length)f").unwrap();
        assert_eq!(format.render(&entry(&"x")), "0.012345678 0 42.000000");
    }

    #[test]
    fn bad_templates_name_the_problem() {
        let cases = [
            ("%(client)s", "unknown key `client` at byte 0"),
            ("ok %s", "`%` at byte 3 must be followed by `(key)`"),
            ("%(client_ip", "`%(` at byte 0 has no closing `)`"),
            ("%(status_code)x", "conversion `x`"),
            ("%(status_code)", "conversion ``"),
            ("%(client_ip)d", "key `client_ip` at byte 0 is text"),
        ];
        for (template, expected) in cases {
            let error = AccessLogFormat::parse(template).unwrap_err().to_string();
            assert!(error.contains(expected), "{template}: {error}");
        }
    }

    #[test]
    fn long_request_lines_are_cut_in_the_log() {
        let long = format!("GET /{} HTTP/1.1", "é".repeat(5000));
        let logged = AccessLogFormat::parse("%(request_line)s")
            .unwrap()
            .render(&entry(&long.as_str()));
        assert!(
            logged.len() <= MAX_LOGGED_REQUEST_LINE + 3,
            "{}",
            logged.len()
        );
        assert!(
            logged.len() > MAX_LOGGED_REQUEST_LINE - 2,
            "{}",
            logged.len()
        );
        assert!(logged.ends_with("é..."));
        let short = AccessLogFormat::parse("%(request_line).3s|%(request_line)-20s|")
            .unwrap()
            .render(&entry(&"GET / HTTP/1.1"));
        assert_eq!(short, "GET|GET / HTTP/1.1      |");
    }

    #[test]
    fn seconds_are_rounded_from_nanoseconds() {
        let shown = |nanos: u64, precision: usize| {
            let mut text = String::new();
            write_fixed_seconds(&mut text, Duration::from_nanos(nanos), precision).unwrap();
            text
        };
        assert_eq!(shown(12_345_678, 7), "0.0123457");
        assert_eq!(shown(12_345_649, 7), "0.0123456");
        assert_eq!(shown(2_000, 7), "0.0000020");
        assert_eq!(shown(999_999_999, 3), "1.000");
        assert_eq!(shown(61_500_000_000, 0), "62");
        assert_eq!(shown(1_000_000_001, 12), "1.000000001000");
        assert_eq!(shown(7, 9), "0.000000007");
    }

    #[test]
    fn signs_widths_and_zeros_follow_python() {
        let format = AccessLogFormat::parse(
            "%(status_code)+d|%(status_code)+6d|%(status_code)06d|%(status_code)5s|\
             %(wall_seconds)010.3f|%(body_length)-5d|%(status_code)05s",
        )
        .unwrap();
        assert_eq!(
            format.render(&entry(&"x")),
            "+200|  +200|000200|  200|000000.012|42   |  200"
        );
    }
}
