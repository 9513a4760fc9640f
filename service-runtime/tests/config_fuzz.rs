//! Property tests of the configuration reader.
//!
//! - Any bytes, and any text built from the characters that matter to the
//!   grammar, parse or fail cleanly: no panic, and the result is consistent.
//! - A file written from random sections, keys and values (quotes, `=`, `:`,
//!   comments, blank lines, continuation lines, every line end, Python-only
//!   whitespace) parses back to exactly those sections and values.
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
