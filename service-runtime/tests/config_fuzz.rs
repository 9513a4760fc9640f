//! Property tests of the configuration reader.
//!
//! - Any bytes, and any text built from the characters that matter to the
//!   grammar, parse or fail cleanly: no panic, and the result is consistent.
//! - A file written from random sections, keys and values (quotes, `=`, `:`,
//!   comments, blank lines, continuation lines, every line end, Python-only
//!   whitespace) parses back to exactly those sections and values.
//! - Every option kind parses any text or refuses it, and a value it parses
//!   reads back equal from its rendering.
//! - `$` references among random options resolve or fail, and always end.
//! - Random files (one given, one in a `--config-dir`), `OS_*` variables
//!   and flags load or fail with errors; a loaded value keeps its bounds
//!   and a secret stays masked.
//!
//! The normal run is short. `PROPTEST_CASES` sets the number of cases per
//! property; `docs/configuration-reader.md` gives a command for a long run.

use proptest::prelude::*;
use service_runtime::config::ini::{self, IniError, IniFile};

/// Cases per property: `PROPTEST_CASES`, else a number that keeps the
/// normal test run to a few seconds.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok());
    ProptestConfig {
        cases: cases.unwrap_or(1024),
        ..ProptestConfig::default()
    }
}

/// A tenth (or another part) of the cases of [`config`], at least 64, for
/// the properties whose cases are slow.
fn config_divided(divisor: u32) -> ProptestConfig {
    let cases = (config().cases / divisor).max(64);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// The characters Python's `str.isspace` accepts, written out here rather
/// than taken from the crate, so the writer below checks the parser.
const PYTHON_SPACE: &[char] = &[
    '\t', '\n', '\u{0b}', '\u{0c}', '\r', '\u{1c}', '\u{1d}', '\u{1e}', '\u{1f}', ' ', '\u{85}',
    '\u{a0}', '\u{1680}', '\u{2000}', '\u{2001}', '\u{2002}', '\u{2003}', '\u{2004}', '\u{2005}',
    '\u{2006}', '\u{2007}', '\u{2008}', '\u{2009}', '\u{200a}', '\u{2028}', '\u{2029}', '\u{202f}',
    '\u{205f}', '\u{3000}',
];

fn is_space(c: char) -> bool {
    PYTHON_SPACE.contains(&c)
}

fn strip(text: &str) -> &str {
    text.trim_matches(is_space)
}

/// Characters with a meaning to the grammar, plus some that only look like
/// they might have one.
const INTERESTING: &[char] = &[
    'a',
    'Z',
    '0',
    '_',
    '.',
    '-',
    '/',
    ' ',
    '\t',
    '=',
    ':',
    '#',
    ';',
    '[',
    ']',
    '"',
    '\'',
    '$',
    '{',
    '}',
    '\\',
    '%',
    '\u{0b}',
    '\u{0c}',
    '\u{1c}',
    '\u{1f}',
    '\u{85}',
    '\u{a0}',
    '\u{2028}',
    '\u{3000}',
    '\u{200b}',
    '\u{feff}',
    '\u{e9}',
    '\u{17f}',
    '\u{1f600}',
];

fn interesting_char() -> impl Strategy<Value = char> {
    prop::sample::select(INTERESTING)
}

fn line_end() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&["\n", "\n", "\n", "\r\n", "\r"][..])
}

/// Text made of lines of interesting characters, with mixed line ends.
fn line_structured_text() -> impl Strategy<Value = String> {
    let line = prop::collection::vec(interesting_char(), 0..24);
    let line =
        (line, line_end()).prop_map(|(chars, end)| chars.into_iter().collect::<String>() + end);
    let header = prop::sample::select(&["[DEFAULT]\n", "[a]\n", ""][..]);
    (header, prop::collection::vec(line, 0..40))
        .prop_map(|(header, lines)| header.to_string() + &lines.concat())
}

/// Lines as the parser counts them: ends at `\n`, `\r\n`, lone `\r`.
fn line_count(text: &str) -> usize {
    let breaks = text.replace("\r\n", "\n").matches(['\r', '\n']).count();
    let unterminated = !text.is_empty() && !text.ends_with(['\r', '\n']);
    breaks + usize::from(unterminated)
}

/// What holds for any result of `parse`.
fn check_consistent(bytes: &[u8], result: &Result<IniFile, IniError>) -> Result<(), TestCaseError> {
    let text = std::str::from_utf8(bytes);
    match result {
        Err(IniError::Decode { offset, .. }) => {
            let error = text.expect_err("a decode error means the bytes are not UTF-8");
            prop_assert_eq!(*offset, error.valid_up_to());
        }
        Err(IniError::Parse { line, message, .. }) => {
            let text = text.expect("a parse error means the bytes are UTF-8");
            prop_assert!(
                *line >= 1 && *line <= line_count(text),
                "line {line}: {message}"
            );
        }
        Ok(file) => {
            let text = text.expect("a parsed file is UTF-8");
            for section in &file.sections {
                prop_assert!(!section.name.is_empty());
                for entry in &section.entries {
                    prop_assert!(!entry.key.is_empty() && strip(&entry.key) == entry.key);
                    prop_assert!(entry.line >= 1 && entry.line <= line_count(text));
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let result = ini::parse(&bytes);
        check_consistent(&bytes, &result)?;
    }

    #[test]
    fn arbitrary_line_structured_text_never_panics(text in line_structured_text()) {
        let result = ini::parse(text.as_bytes());
        check_consistent(text.as_bytes(), &result)?;
    }

    #[test]
    fn written_files_read_back_unchanged(model in model(), layout in layout()) {
        let text = write(&model, &layout);
        let parsed = match ini::parse(text.as_bytes()) {
            Ok(parsed) => parsed,
            Err(error) => return Err(TestCaseError::fail(format!("{error} in {text:?}"))),
        };
        prop_assert_eq!(read_back(&parsed), merged(&model), "file: {:?}", text);
    }
}

// ---------------------------------------------------------------------------
// Round trip: a model, a writer, and what the reader must give back
// ---------------------------------------------------------------------------

/// A value: its first line, then continuation lines.
#[derive(Clone, Debug)]
struct Value {
    first: String,
    more: Vec<String>,
}

impl Value {
    fn joined(&self) -> String {
        std::iter::once(self.first.as_str())
            .chain(self.more.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Sections in writing order; a name may come back, and then adds to the
/// first section of that name.
type Model = Vec<(String, Vec<(String, Value)>)>;

/// How the writer spells things, independent of the content.
#[derive(Clone, Debug)]
struct Layout {
    /// Cycled through for each line end.
    ends: Vec<&'static str>,
    /// Cycled through for each separator.
    separators: Vec<&'static str>,
    /// Cycled through: what goes before each assignment.
    fillers: Vec<&'static str>,
    /// Cycled through: the indentation of continuation lines.
    indents: Vec<&'static str>,
    /// Cycled through: whitespace at the end of a line, which the reader
    /// strips (Python's notion of whitespace, not Rust's).
    pads: Vec<&'static str>,
    /// Cycled through: spellings of an empty value.
    empties: Vec<&'static str>,
}

fn layout() -> impl Strategy<Value = Layout> {
    let ends = prop::collection::vec(line_end(), 1..4);
    let separators = prop::collection::vec(
        prop::sample::select(
            &[
                "=",
                " = ",
                ":",
                ": ",
                " =\t",
                "\u{a0}:\u{3000}",
                " \u{1c}= \u{1f}",
            ][..],
        ),
        1..4,
    );
    let fillers = prop::collection::vec(
        prop::sample::select(
            &[
                "",
                "",
                "\n",
                "# comment = x\n",
                "; [not] a: section\n",
                " \u{0c}\n",
            ][..],
        ),
        1..4,
    );
    let indents = prop::collection::vec(
        prop::sample::select(&[" ", "\t", "    ", " \u{1c}", "\t\u{3000}"][..]),
        1..3,
    );
    let pads = prop::collection::vec(
        prop::sample::select(
            &[
                "",
                "",
                " ",
                "\t",
                "\u{1c}\u{1f}",
                "\u{85}",
                "\u{a0}\u{3000}",
                "\u{0c}",
            ][..],
        ),
        1..4,
    );
    let empties = prop::collection::vec(
        prop::sample::select(&["", "\"", "'", "\"\"", "''"][..]),
        1..3,
    );
    let spelling = (ends, separators, fillers, indents);
    (spelling, pads, empties).prop_map(|((ends, separators, fillers, indents), pads, empties)| {
        Layout {
            ends,
            separators,
            fillers,
            indents,
            pads,
            empties,
        }
    })
}

fn text_of(
    chars: &[char],
    length: std::ops::Range<usize>,
) -> impl Strategy<Value = String> + use<> {
    let pool: Vec<char> = chars.to_vec();
    prop::collection::vec(prop::sample::select(pool), length).prop_map(|c| c.into_iter().collect())
}

/// Any interesting character except line ends.
fn line_chars() -> Vec<char> {
    INTERESTING
        .iter()
        .copied()
        .filter(|c| !matches!(c, '\r' | '\n'))
        .collect()
}

fn section_name() -> impl Strategy<Value = String> {
    let chosen =
        prop::sample::select(&["DEFAULT", "default", "Database", "database", " database "][..]);
    prop_oneof![chosen.prop_map(String::from), text_of(&line_chars(), 1..12)]
}

/// Line characters other than Python whitespace and `exclude`.
fn solid_chars(exclude: &[char]) -> Vec<char> {
    let solid = line_chars().into_iter().filter(|c| !is_space(*c));
    solid.filter(|c| !exclude.contains(c)).collect()
}

/// Text whose ends are not whitespace: `start`, then optionally any middle
/// and a solid last character. Built, not filtered, so that long runs do
/// not hit proptest's limit on rejected inputs.
fn solid_ended(
    start: Vec<char>,
    middle: Vec<char>,
    end: Vec<char>,
) -> impl Strategy<Value = String> {
    let single = prop::sample::select(start.clone()).prop_map(String::from);
    let longer = (
        prop::sample::select(start),
        text_of(&middle, 0..10),
        prop::sample::select(end),
    )
        .prop_map(|(first, middle, last)| format!("{first}{middle}{last}"));
    prop_oneof![single, longer]
}

/// A key stays a key when written at column 0: stripped, no separator, and
/// not starting like a header or comment.
fn key() -> impl Strategy<Value = String> {
    let middle: Vec<char> = line_chars()
        .into_iter()
        .filter(|c| !matches!(c, '=' | ':'))
        .collect();
    solid_ended(
        solid_chars(&['=', ':', '[', '#', ';']),
        middle,
        solid_chars(&['=', ':']),
    )
}

/// Continuation lines come back stripped and must not be blank.
fn continuation_line() -> impl Strategy<Value = String> {
    solid_ended(solid_chars(&[]), line_chars(), solid_chars(&[]))
}

fn value() -> impl Strategy<Value = Value> {
    let first = text_of(&line_chars(), 0..16);
    let more = prop::collection::vec(continuation_line(), 0..3);
    (first, more).prop_map(|(first, more)| Value { first, more })
}

fn model() -> impl Strategy<Value = Model> {
    let entries = prop::collection::vec((key(), value()), 0..6);
    prop::collection::vec((section_name(), entries), 0..5)
}

/// The first line of a value as written: quoted when stripping or quote
/// removal would change it.
fn written_first_line(first: &str) -> String {
    let quoted_already = first.len() > 1
        && (first.starts_with('"') && first.ends_with('"')
            || first.starts_with('\'') && first.ends_with('\''));
    let lone_quote = first == "\"" || first == "'";
    if strip(first) != first || quoted_already || lone_quote {
        format!("\"{first}\"")
    } else {
        first.to_string()
    }
}

fn write(model: &Model, layout: &Layout) -> String {
    let mut out = String::new();
    let mut counter = 0;
    let mut next = |choices: &[&'static str]| {
        counter += 1;
        choices[counter % choices.len()]
    };
    for (name, entries) in model {
        out.push_str(&format!(
            "[{name}]{}{}",
            next(&layout.pads),
            next(&layout.ends)
        ));
        for (key, value) in entries {
            out.push_str(&next(&layout.fillers).replace('\n', next(&layout.ends)));
            let first = match value.first.as_str() {
                "" => next(&layout.empties).to_string(),
                first => written_first_line(first),
            };
            let separator = next(&layout.separators);
            let pad = next(&layout.pads);
            out.push_str(&format!(
                "{key}{separator}{first}{pad}{}",
                next(&layout.ends)
            ));
            for line in &value.more {
                let indent = next(&layout.indents);
                let pad = next(&layout.pads);
                out.push_str(&format!("{indent}{line}{pad}{}", next(&layout.ends)));
            }
        }
    }
    out
}

/// name -> [(key, value)] in first-appearance order of names.
type Flat = Vec<(String, Vec<(String, String)>)>;

fn merged(model: &Model) -> Flat {
    let mut flat: Flat = Vec::new();
    for (name, entries) in model {
        let index = match flat.iter().position(|(n, _)| n == name) {
            Some(index) => index,
            None => {
                flat.push((name.clone(), Vec::new()));
                flat.len() - 1
            }
        };
        flat[index]
            .1
            .extend(entries.iter().map(|(k, v)| (k.clone(), v.joined())));
    }
    flat
}

fn read_back(file: &IniFile) -> Flat {
    let entries = |s: &ini::Section| {
        s.entries
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect()
    };
    file.sections
        .iter()
        .map(|s| (s.name.clone(), entries(s)))
        .collect()
}

#[test]
fn the_writer_quotes_what_the_reader_would_change() {
    assert_eq!(written_first_line(" a"), "\" a\"");
    assert_eq!(written_first_line("a\u{1c}"), "\"a\u{1c}\"");
    assert_eq!(written_first_line("'a'"), "\"'a'\"");
    assert_eq!(written_first_line("\""), "\"\"\"");
    assert_eq!(written_first_line("\"a"), "\"a");
    assert_eq!(written_first_line(""), "");
}

// ---------------------------------------------------------------------------
// Option kinds: any text is a value or an error, and values read back
// ---------------------------------------------------------------------------

mod kinds {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::path::PathBuf;
    use std::time::Duration;

    use proptest::prelude::*;
    use service_runtime::config::{
        Dict, HostAddress, HostDomain, Hostname, OptionValue, Port, QuotedString, Uri,
    };

    service_runtime::option_choices! {
        /// A closed set of spellings.
        pub enum Mode {
            /// The first.
            Fast = "fast",
            /// The second.
            Safe = "safe",
        }
    }

    /// Characters that mean something to at least one kind.
    const VALUE_CHARS: &str = concat!(
        "0179aeEfxzA.,:-+_/@%[]\"' \t#=${}\\",
        "\u{a0}\u{1c}\u{85}\u{661}\u{ff11}\u{e9}\u{17f}\u{1f600}",
    );

    /// Fragments that form whole tokens of some kind.
    const VALUE_WORDS: &[&str] = &[
        "true",
        "No",
        "ON",
        "nan",
        "inf",
        "-inf",
        "1e308",
        "1e-400",
        "0x10",
        "1_000",
        "__1",
        "65535",
        "65536",
        "-1",
        "9223372036854775808",
        "::1",
        "::ffff:1.2.3.4",
        "fe80::1%eth0",
        "127.0.0.1",
        "01.2.3.4",
        "http://",
        "mysql+pymysql://u:p@h/db",
        "[::1]:80",
        "h.example.",
        "a-",
        "_sip._tcp",
        "k:v",
        "a:\"x,y\"",
        "fast",
        "safe",
        "\"",
        "'",
        ",,",
        ", ,",
    ];

    fn value_text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            prop::sample::select(VALUE_CHARS.chars().collect::<Vec<_>>()).prop_map(String::from),
            prop::sample::select(VALUE_WORDS).prop_map(String::from),
        ];
        prop_oneof![
            4 => prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat()),
            1 => any::<String>(),
        ]
    }

    /// Parsing never panics, nor do the uses of a parsed value.
    fn parses_cleanly<T: OptionValue>(raw: &str) -> Option<T> {
        let value = T::parse_raw(raw).ok()?;
        let _ = (value.render(), value.to_json(), value.as_number());
        let _ = (T::choices(), T::empty_means_unset(), T::KIND.sample_name());
        Some(value)
    }

    /// A value that parses reads back equal from its rendering, which is
    /// what sample files, `--print-config` and reloads rely on.
    fn reads_back<T: OptionValue + PartialEq>(raw: &str) -> Result<(), TestCaseError> {
        let Some(value) = parses_cleanly::<T>(raw) else {
            return Ok(());
        };
        let rendered = value.render();
        let again = T::parse_raw(&rendered).map_err(|error| {
            let kind = std::any::type_name::<T>();
            TestCaseError::fail(format!(
                "{kind}: {raw:?} gave {value:?}, rendered {rendered:?}, which fails: {error}"
            ))
        })?;
        prop_assert_eq!(&again, &value, "{:?} rendered {:?}", raw, rendered);
        Ok(())
    }

    /// Whether a quoted text can be a list item: not when both quote
    /// characters occur before a comma, as oslo.config's lists have no
    /// escapes (see `QuotedString::render`).
    fn writable(text: &QuotedString) -> bool {
        let closes = |quote: char| {
            text.match_indices(quote)
                .any(|(at, _)| text[at + 1..].trim_start().starts_with(','))
        };
        !(closes('"') && closes('\''))
    }

    proptest! {
        #![proptest_config(super::config())]

        #[test]
        fn every_kind_parses_or_refuses_any_text(raw in value_text()) {
            reads_back::<bool>(&raw)?;
            reads_back::<i8>(&raw)?;
            reads_back::<i32>(&raw)?;
            reads_back::<i64>(&raw)?;
            reads_back::<u8>(&raw)?;
            reads_back::<u16>(&raw)?;
            reads_back::<u64>(&raw)?;
            reads_back::<isize>(&raw)?;
            reads_back::<usize>(&raw)?;
            reads_back::<f32>(&raw)?;
            reads_back::<f64>(&raw)?;
            reads_back::<Port>(&raw)?;
            reads_back::<String>(&raw)?;
            reads_back::<PathBuf>(&raw)?;
            reads_back::<QuotedString>(&raw)?;
            reads_back::<IpAddr>(&raw)?;
            reads_back::<Ipv4Addr>(&raw)?;
            reads_back::<Ipv6Addr>(&raw)?;
            reads_back::<Hostname>(&raw)?;
            reads_back::<HostAddress>(&raw)?;
            reads_back::<HostDomain>(&raw)?;
            reads_back::<Uri>(&raw)?;
            reads_back::<Duration>(&raw)?;
            reads_back::<Mode>(&raw)?;
            reads_back::<Vec<i64>>(&raw)?;
            reads_back::<Vec<Port>>(&raw)?;
            reads_back::<Vec<Duration>>(&raw)?;
            if Vec::<QuotedString>::parse_raw(&raw).is_ok_and(|v| v.iter().all(writable)) {
                reads_back::<Vec<QuotedString>>(&raw)?;
            }
            reads_back::<Dict>(&raw)?;
            reads_back::<Dict<i64>>(&raw)?;
            if Dict::<QuotedString>::parse_raw(&raw).is_ok_and(|d| d.values().all(writable)) {
                reads_back::<Dict<QuotedString>>(&raw)?;
            }
            // A list of plain strings cannot write an empty item at its
            // end (oslo.config drops trailing commas), so only parsing is
            // checked for it.
            parses_cleanly::<Vec<String>>(&raw);
        }
    }
}

// ---------------------------------------------------------------------------
// `$` references and whole loads
// ---------------------------------------------------------------------------

mod loads {
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::time::Duration;

    use proptest::prelude::*;
    use service_runtime::config::interp::{self, Lookup, Resolver};
    use service_runtime::config::{
        Dict, LoadArgs, Port, QuotedString, Registry, SourceArg, group_spec, load,
    };
    use service_runtime::config_group;

    const GROUPS: &[&str] = &["DEFAULT", "g", "h"];
    const NAMES: &[&str] = &["x", "y", "count", "g", "g.x", "h.y"];

    /// Pieces of values: references of every spelling, escapes and text.
    const VALUE_PIECES: &[&str] = &[
        "$x",
        "${y}",
        "$count",
        "${g.x}",
        "$g.y",
        "${h.count}",
        "$h",
        "${DEFAULT.x}",
        "$$",
        "\\$",
        "$",
        "${",
        "${}",
        "${x",
        "$9",
        "$\u{17f}x",
        "$X",
        "${G.X}",
        "text",
        " ",
        ",",
        ":",
        "7",
        "-1",
        "\"",
        "'",
        "a,b",
        "k:v",
        "1.5",
        "true",
        "::1",
        "http://h/",
        "\u{a0}",
    ];

    fn value() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(VALUE_PIECES), 0..6)
            .prop_map(|pieces| pieces.concat())
    }

    /// Options of three groups whose values refer to each other.
    #[derive(Debug)]
    struct World {
        values: HashMap<(String, String), String>,
    }

    impl Resolver for World {
        fn lookup(&self, group: &str, name: &str) -> Lookup {
            if !GROUPS.contains(&group) {
                return Lookup::NoSuchGroup;
            }
            let key = (group.to_string(), name.to_string());
            match self.values.get(&key) {
                Some(value) => Lookup::Found(value.clone()),
                None => Lookup::NoSuchOption,
            }
        }

        fn is_group(&self, name: &str) -> bool {
            name != "DEFAULT" && GROUPS.contains(&name)
        }
    }

    fn world() -> impl Strategy<Value = World> {
        let key = (prop::sample::select(GROUPS), prop::sample::select(NAMES));
        let entry = (key, value()).prop_map(|((g, n), v)| ((g.to_string(), n.to_string()), v));
        prop::collection::vec(entry, 0..12).prop_map(|entries| World {
            values: entries.into_iter().collect(),
        })
    }

    /// `[DEFAULT]` options of many kinds.
    #[config_group(name = "DEFAULT")]
    pub struct Top {
        /// A string.
        #[opt(default = "")]
        pub x: String,
        /// A string without default.
        pub y: Option<String>,
        /// A bounded integer.
        #[opt(default = 1, min = 0, max = 100, cli)]
        pub count: i32,
        /// A port.
        #[opt(default = Port(80))]
        pub port: Port,
        /// Values given once per line.
        #[opt(multi)]
        pub hooks: Vec<String>,
        /// A duration.
        #[opt(default = Duration::from_secs(1))]
        pub wait: Duration,
    }

    /// `[g]` options of more kinds.
    #[config_group(name = "g")]
    pub struct G {
        /// A string.
        #[opt(default = "$x", deprecated_name = "old_x")]
        pub x: String,
        /// A list.
        #[opt(default = Vec::new())]
        pub y: Vec<QuotedString>,
        /// A map.
        #[opt(default = Dict::default())]
        pub count: Dict<i64>,
        /// A secret.
        #[opt(default = "", secret)]
        pub token: String,
        /// A switch.
        #[opt(default = false, mutable)]
        pub on: bool,
        /// A float.
        #[opt(default = 0.5, min = 0.0)]
        pub ratio: f64,
    }

    const HEADERS: &[&str] = &["[DEFAULT]", "[g]", "[G]", "[h]", "[default]", "[ g ]"];
    const KEYS: &[&str] = &[
        "x", "y", "count", "port", "hooks", "wait", "old_x", "token", "on", "ratio", "unknown", "X",
    ];

    /// A file made of headers, assignments, comments and continuations.
    fn file_text() -> impl Strategy<Value = String> {
        let assignment = (
            prop::sample::select(KEYS),
            prop::sample::select(&[" = ", ":", "="][..]),
        )
            .prop_flat_map(|(key, sep)| value().prop_map(move |v| format!("{key}{sep}{v}")));
        let line = prop_oneof![
            1 => prop::sample::select(HEADERS).prop_map(String::from),
            4 => assignment,
            1 => Just("# a comment".to_string()),
            1 => Just(String::new()),
            1 => value().prop_map(|v| format!("  {v}")),
        ];
        prop::collection::vec(line, 0..16).prop_map(|lines| lines.join("\n") + "\n")
    }

    fn env() -> impl Strategy<Value = Vec<(String, String)>> {
        let name = prop::sample::select(
            &[
                "OS_DEFAULT__COUNT",
                "OS_G__X",
                "OS_G__COUNT",
                "OS_DEFAULT__HOOKS",
                "OS_H__Y",
            ][..],
        );
        prop::collection::vec((name.prop_map(String::from), value()), 0..3)
    }

    fn cli() -> impl Strategy<Value = Vec<(String, String, String, String)>> {
        let flag = |raw: String| {
            let pieces = ["DEFAULT", "count", raw.as_str(), "--count"];
            pieces.map(str::to_string).into()
        };
        prop::option::of(value().prop_map(flag)).prop_map(|one| one.into_iter().collect())
    }

    fn registry() -> Arc<Registry> {
        let registry = Registry::from_groups([group_spec::<Top>(), group_spec::<G>()])
            .unwrap_or_else(|errors| panic!("the groups conflict: {errors:?}"));
        Arc::new(registry)
    }

    proptest! {
        #![proptest_config(super::config())]

        #[test]
        fn references_resolve_or_fail_and_always_end(world in world()) {
            for ((group, _), value) in &world.values {
                let result = interp::substitute(value, group, &world);
                if !value.contains(['$', '\\']) {
                    prop_assert_eq!(result.as_deref().ok(), Some(value.as_str()));
                }
                if let Err(error) = result {
                    let _ = error.to_string();
                }
            }
        }
    }

    proptest! {
        // Each case writes two files: a tenth of the cases of the others.
        #![proptest_config(super::config_divided(10))]

        #[test]
        fn any_files_environment_and_flags_load_or_fail_cleanly(
            first in file_text(),
            second in file_text(),
            env in env(),
            cli_values in cli(),
        ) {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let a = dir.path().join("a.conf");
            let b = dir.path().join("d/b.conf");
            std::fs::create_dir(dir.path().join("d")).expect("a directory");
            std::fs::write(&a, first).expect("a file");
            std::fs::write(&b, second).expect("a file");
            let args = LoadArgs {
                sources: vec![SourceArg::File(a), SourceArg::Dir(dir.path().join("d"))],
                env,
                cli_values,
                ..LoadArgs::default()
            };
            match load(&registry(), &args) {
                Ok(loaded) => {
                    let shown = loaded.conf.effective_values();
                    let token = shown.iter().find(|v| v.group == "g" && v.name == "token");
                    let token = &token.expect("the secret is listed").value;
                    prop_assert!(token == "****" || token.is_null(), "secret shown: {}", token);
                    let (top, g) = (loaded.conf.group::<Top>(), loaded.conf.group::<G>());
                    prop_assert!((0..=100).contains(&top.count), "bounds ignored: {}", top.count);
                    prop_assert!(g.ratio >= 0.0 && g.ratio.is_finite(), "ratio {}", g.ratio);
                    let _ = (&top.x, &top.y, top.port, &top.hooks, top.wait);
                    let _ = (&g.x, &g.y, &g.count, g.on);
                    prop_assert!(g.token.is_empty() || token == "****", "secret shown: {}", token);
                }
                Err(errors) => {
                    prop_assert!(!errors.0.is_empty());
                    let _ = errors.to_string();
                }
            }
        }
    }
}
