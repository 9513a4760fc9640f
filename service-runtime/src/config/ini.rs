//! The INI dialect of oslo.config, read the way oslo.config reads it.
//!
//! oslo.config does not use Python's `configparser`; it has a small parser of
//! its own, and real deployments depend on its quirks. This module follows it
//! rule for rule:
//!
//! - The whole file must be UTF-8. A byte-order mark is kept as text, so a
//!   file that starts with one does not start with a section header.
//! - Lines end at `\n`, `\r\n` or a lone `\r`, and each line is right-stripped
//!   of whitespace as Python's `str.rstrip` sees it (see [`is_python_space`]).
//! - A line that starts with a space or a tab continues the pending value;
//!   a blank line or any line at column 0 ends it.
//! - `[name]` starts a section, taken verbatim; `#` and `;` start a comment,
//!   but only at column 0.
//! - The first `=` or `:` splits key from value; both are stripped, and one
//!   pair of matching quotes around the first line of a value is removed.
//! - A repeated key keeps every value; a repeated section adds to the first.
//! - The first error rejects the whole file.
//!
//! `docs/configuration-reader.md` lists every rule with examples.

use std::collections::HashMap;
use std::fmt;

/// One assignment, with the line it starts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The key, stripped.
    pub key: String,
    /// The value, stripped, unquoted, continuation lines joined with `\n`.
    pub value: String,
    /// 1-based line of the key.
    pub line: usize,
}

/// A section and its assignments, in file order. A section that appears
/// twice is one section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// The name exactly as written between the brackets.
    pub name: String,
    /// Every assignment, repeated keys included.
    pub entries: Vec<Entry>,
}

impl Section {
    /// The distinct keys, in order of first appearance.
    pub fn keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = Vec::new();
        for entry in &self.entries {
            if !keys.contains(&entry.key.as_str()) {
                keys.push(&entry.key);
            }
        }
        keys
    }

    /// Every value given to `key`, in file order.
    pub fn values<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |e| e.key == key)
            .map(|e| e.value.as_str())
    }
}

/// A parsed file: sections in order of first appearance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IniFile {
    /// The sections.
    pub sections: Vec<Section>,
}

impl IniFile {
    /// The section written exactly `name`, if the file has it.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }
}

/// Why a file was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IniError {
    /// The bytes are not UTF-8. Nothing of the file is used.
    Decode {
        /// Offset of the first bad byte.
        offset: usize,
        /// 1-based line of the first bad byte.
        line: usize,
        /// The first bad byte.
        byte: u8,
    },
    /// The text breaks the grammar.
    Parse {
        /// 1-based line, counted the way oslo.config counts it.
        line: usize,
        /// oslo.config's wording, so that operators recognise it.
        message: String,
        /// The offending line, right-stripped; empty when oslo gives none.
        text: String,
    },
}

impl IniError {
    /// The 1-based line the error is reported at.
    pub fn line(&self) -> usize {
        match self {
            IniError::Decode { line, .. } | IniError::Parse { line, .. } => *line,
        }
    }
}

impl fmt::Display for IniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IniError::Decode { offset, byte, .. } => write!(
                f,
                "not valid UTF-8: byte 0x{byte:02x} at offset {offset}; \
                 configuration files must be UTF-8"
            ),
            IniError::Parse { message, text, .. } if text.is_empty() => f.write_str(message),
            IniError::Parse { message, text, .. } => write!(f, "{message}: {text:?}"),
        }
    }
}

impl std::error::Error for IniError {}

const INVALID_SECTION: &str = "Invalid section (must end with ])";
const EMPTY_SECTION: &str = "Empty section name";
const NO_SEPARATOR: &str = "No ':' or '=' found in assignment";
const EMPTY_KEY: &str = "Key cannot be empty";
const UNEXPECTED_CONTINUATION: &str = "Unexpected continuation line";
const NO_SECTION: &str = "Section must be started before assignment";

/// Parses a whole file.
///
/// # Errors
///
/// [`IniError::Decode`] when the bytes are not UTF-8, else the first
/// [`IniError::Parse`] in the file.
pub fn parse(bytes: &[u8]) -> Result<IniFile, IniError> {
    let text = std::str::from_utf8(bytes).map_err(|e| decode_error(bytes, e))?;
    let mut parser = Parser::default();
    for line in split_lines(text) {
        parser.read_line(line)?;
    }
    parser.finish()
}

/// The group a section stands for: `DEFAULT` exactly is the top level, any
/// other name is folded to lower case, so `[Database]` and `[database]` are
/// one group and `[default]` is a group called `default`.
pub fn group_name(section: &str) -> String {
    if section == "DEFAULT" {
        section.to_string()
    } else {
        section.to_lowercase()
    }
}

/// Whether Python's `str.strip` removes `c`.
///
/// Python strips the characters of Unicode's `White_Space` property plus the
/// four ASCII separators `\x1c` to `\x1f`, which [`char::is_whitespace`]
/// keeps. A configuration file that ends a line with one of them must read
/// the same as under oslo.config.
pub fn is_python_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n'
            | '\u{0b}'
            | '\u{0c}'
            | '\r'
            | '\u{1c}'..='\u{1f}'
            | ' '
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// `text` without leading and trailing [Python whitespace](is_python_space).
pub fn strip_python(text: &str) -> &str {
    text.trim_matches(is_python_space)
}

fn decode_error(bytes: &[u8], error: std::str::Utf8Error) -> IniError {
    let offset = error.valid_up_to();
    let line = 1 + count_line_breaks(&bytes[..offset]);
    IniError::Decode {
        offset,
        line,
        byte: bytes[offset],
    }
}

fn count_line_breaks(bytes: &[u8]) -> usize {
    let mut count = 0;
    let mut previous_cr = false;
    for &b in bytes {
        match b {
            b'\r' => count += 1,
            b'\n' if !previous_cr => count += 1,
            _ => {}
        }
        previous_cr = b == b'\r';
    }
    count
}

/// Splits at `\n`, `\r\n` and lone `\r`, the three line ends of Python's
/// universal newlines. Other separators (`\x0b`, `\x0c`, `\u{2028}`...) stay
/// inside the line. A final line end does not start another line.
fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (line, next) = match rest.find(['\r', '\n']) {
            Some(at) if rest[at..].starts_with("\r\n") => (&rest[..at], &rest[at + 2..]),
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (rest, ""),
        };
        rest = next;
        Some(line)
    })
}

/// The state between lines: where assignments go, and the assignment whose
/// value may still grow by continuation lines.
#[derive(Default)]
struct Parser {
    file: IniFile,
    section_index: HashMap<String, usize>,
    current: Option<usize>,
    pending: Option<Entry>,
    line_number: usize,
}

impl Parser {
    fn read_line(&mut self, raw: &str) -> Result<(), IniError> {
        self.line_number += 1;
        let line = raw.trim_end_matches(is_python_space);
        if line.is_empty() {
            return self.store_pending();
        }
        if line.starts_with([' ', '\t']) {
            return self.continue_value(line);
        }

        self.store_pending()?;
        match line.as_bytes()[0] {
            b'[' => self.start_section(line),
            b'#' | b';' => Ok(()),
            _ => self.start_assignment(line),
        }
    }

    fn continue_value(&mut self, line: &str) -> Result<(), IniError> {
        let Some(pending) = &mut self.pending else {
            return Err(self.error(UNEXPECTED_CONTINUATION, line));
        };
        pending.value.push('\n');
        pending
            .value
            .push_str(line.trim_start_matches(is_python_space));
        Ok(())
    }

    fn start_section(&mut self, line: &str) -> Result<(), IniError> {
        if !line.ends_with(']') {
            return Err(self.error(INVALID_SECTION, line));
        }
        let name = &line[1..line.len() - 1];
        if name.is_empty() {
            return Err(self.error(EMPTY_SECTION, line));
        }

        let next_index = self.file.sections.len();
        let index = *self
            .section_index
            .entry(name.to_string())
            .or_insert(next_index);
        if index == next_index {
            let section = Section {
                name: name.to_string(),
                entries: Vec::new(),
            };
            self.file.sections.push(section);
        }
        self.current = Some(index);
        Ok(())
    }

    fn start_assignment(&mut self, line: &str) -> Result<(), IniError> {
        let Some(split) = line.find(['=', ':']) else {
            return Err(self.error(NO_SEPARATOR, line));
        };
        let key = strip_python(&line[..split]);
        if key.is_empty() {
            return Err(self.error(EMPTY_KEY, line));
        }

        let value = unquote(strip_python(&line[split + 1..]));
        let entry = Entry {
            key: key.to_string(),
            value: value.to_string(),
            line: self.line_number,
        };
        self.pending = Some(entry);
        Ok(())
    }

    /// Stores the pending assignment. oslo.config checks for a section only
    /// now, so a missing section is reported at the line that ended the
    /// assignment, with no line text.
    fn store_pending(&mut self) -> Result<(), IniError> {
        let Some(entry) = self.pending.take() else {
            return Ok(());
        };
        let Some(index) = self.current else {
            return Err(self.error(NO_SECTION, ""));
        };
        self.file.sections[index].entries.push(entry);
        Ok(())
    }

    fn finish(mut self) -> Result<IniFile, IniError> {
        self.store_pending()?;
        Ok(self.file)
    }

    fn error(&self, message: &str, text: &str) -> IniError {
        IniError::Parse {
            line: self.line_number,
            message: message.to_string(),
            text: text.to_string(),
        }
    }
}

/// Removes one pair of matching quotes. A lone quote is a matching pair of
/// itself, so `"` becomes the empty string.
fn unquote(value: &str) -> &str {
    let bytes = value.as_bytes();
    match bytes.first() {
        Some(&quote @ (b'"' | b'\'')) if bytes[bytes.len() - 1] == quote => {
            if value.len() == 1 {
                ""
            } else {
                &value[1..value.len() - 1]
            }
        }
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> IniFile {
        match parse(text.as_bytes()) {
            Ok(file) => file,
            Err(error) => panic!("{text:?} should parse, got {error}"),
        }
    }

    fn rejected(text: &str) -> (usize, String, String) {
        match parse(text.as_bytes()) {
            Err(IniError::Parse {
                line,
                message,
                text,
            }) => (line, message, text),
            other => panic!("{text:?} should be a parse error, got {other:?}"),
        }
    }

    /// `(section, key, value)` for every entry, in order.
    fn triples(text: &str) -> Vec<(String, String, String)> {
        let file = parsed(text);
        let mut out = Vec::new();
        for section in &file.sections {
            for entry in &section.entries {
                out.push((section.name.clone(), entry.key.clone(), entry.value.clone()));
            }
        }
        out
    }

    fn value_of(text: &str) -> String {
        let all = triples(text);
        assert_eq!(all.len(), 1, "{text:?} should hold one entry: {all:?}");
        all[0].2.clone()
    }

    #[test]
    fn invalid_utf8_anywhere_rejects_the_file() {
        let bytes = b"[DEFAULT]\n# caf\xe9\nx = 1\n";
        let error = parse(bytes).unwrap_err();
        assert_eq!(
            error,
            IniError::Decode {
                offset: 15,
                line: 2,
                byte: 0xe9
            }
        );
        assert!(error.to_string().contains("0xe9"), "{error}");
    }

    #[test]
    fn decode_error_line_counts_every_line_end() {
        let error = parse(b"a\r\nb\rc\nd\xff").unwrap_err();
        assert_eq!(error.line(), 4);
    }

    #[test]
    fn byte_order_mark_is_part_of_the_first_line() {
        let (line, message, text) = rejected("\u{feff}[DEFAULT]\nx = 1\n");
        assert_eq!((line, message.as_str()), (1, NO_SEPARATOR));
        assert_eq!(text, "\u{feff}[DEFAULT]");
    }

    #[test]
    fn lines_end_at_lf_crlf_and_lone_cr() {
        let file = parsed("[a]\r\nx = 1\ry = 2\nz = 3\r\n");
        let lines: Vec<usize> = file.sections[0].entries.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 4]);
    }

    #[test]
    fn other_separators_do_not_end_lines() {
        assert_eq!(
            value_of("[a]\nx = 1\u{0b}2\u{2028}3\n"),
            "1\u{0b}2\u{2028}3"
        );
    }

    #[test]
    fn python_whitespace_is_stripped_including_ascii_separators() {
        assert_eq!(value_of("[a]\nx = 1\u{1c}\u{1f}\u{a0}\u{3000}\n"), "1");
        assert_eq!(value_of("[a]\n\u{1d}x\u{85} = \u{2009}1\n"), "1");
        assert!(!'\u{1c}'.is_whitespace() && is_python_space('\u{1c}'));
        assert!(!is_python_space('\u{feff}') && !is_python_space('\u{200b}'));
    }

    #[test]
    fn python_space_matches_rust_white_space_plus_separators() {
        for c in (0..=0x10ffff_u32).filter_map(char::from_u32) {
            let expected = c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c);
            assert_eq!(is_python_space(c), expected, "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn a_line_of_only_whitespace_is_blank_and_ends_a_value() {
        assert_eq!(value_of("[a]\nx = 1\n \u{0c}\n"), "1");
        let (line, message, _) = rejected("[a]\nx = 1\n\u{0c}\n  more\n");
        assert_eq!((line, message.as_str()), (4, UNEXPECTED_CONTINUATION));
    }

    #[test]
    fn space_or_tab_continues_the_value_and_keeps_hash_and_bracket() {
        let text = "[a]\nx = 1\n\t2\n  # not a comment\n  [not a section]\n";
        assert_eq!(value_of(text), "1\n2\n# not a comment\n[not a section]");
    }

    #[test]
    fn a_form_feed_does_not_start_a_continuation() {
        let all = triples("[a]\nx = 1\n\u{0c}y = 2\n");
        assert_eq!(all[1].1, "y");
    }

    #[test]
    fn continuation_without_pending_key_is_an_error() {
        for text in ["[a]\n  x\n", "[a]\n# c\n  x\n", "[a]\nx = 1\n\n  y\n"] {
            let (_, message, line_text) = rejected(text);
            assert_eq!(message, UNEXPECTED_CONTINUATION, "{text:?}");
            assert!(line_text.starts_with("  "), "{line_text:?}");
        }
    }

    #[test]
    fn a_comment_at_column_zero_ends_a_value() {
        let (line, message, _) = rejected("[a]\nx = 1\n  2\n# c\n  3\n");
        assert_eq!((line, message.as_str()), (5, UNEXPECTED_CONTINUATION));
        assert_eq!(value_of("[a]\nx = 1\n  2\n; c\n"), "1\n2");
    }

    #[test]
    fn empty_first_line_gives_a_leading_newline() {
        assert_eq!(value_of("[a]\nx =\n  1\n  2\n"), "\n1\n2");
    }

    #[test]
    fn section_header_must_end_with_bracket_after_rstrip() {
        let (line, message, text) = rejected("[a]\nx = 1\n[b] # note\n");
        assert_eq!(
            (line, message.as_str(), text.as_str()),
            (3, INVALID_SECTION, "[b] # note")
        );
        assert_eq!(rejected("[\n").1, INVALID_SECTION);
        assert_eq!(triples("[b]  \t\nx=1").len(), 1);
    }

    #[test]
    fn empty_section_name_is_an_error() {
        assert_eq!(
            rejected("[]\n"),
            (1, EMPTY_SECTION.to_string(), "[]".to_string())
        );
    }

    #[test]
    fn section_names_are_taken_verbatim() {
        let file = parsed("[ database ]\na=1\n[[local|localrc]]\nb=2\n[x:y]\nc=3\n");
        let names: Vec<&str> = file.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, [" database ", "[local|localrc]", "x:y"]);
    }

    #[test]
    fn comments_only_at_column_zero() {
        let all = triples("[a]\n# x = 1\n; y = 2\nz = 3 # kept ; too\n");
        assert_eq!(all, [("a".into(), "z".into(), "3 # kept ; too".into())]);
    }

    #[test]
    fn the_first_of_colon_and_equals_separates() {
        let all = triples("[a]\nurl: http://x/?a=b\na = b:c\nenable_plugin heat https://h/x\n");
        let pairs: Vec<(&str, &str)> = all.iter().map(|t| (t.1.as_str(), t.2.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("url", "http://x/?a=b"),
                ("a", "b:c"),
                ("enable_plugin heat https", "//h/x")
            ]
        );
    }

    #[test]
    fn a_line_without_separator_is_an_error() {
        let (line, message, text) = rejected("[a]\n\nbare word\n");
        assert_eq!(
            (line, message.as_str(), text.as_str()),
            (3, NO_SEPARATOR, "bare word")
        );
    }

    #[test]
    fn empty_key_is_an_error() {
        assert_eq!(rejected("[a]\n= 1\n").1, EMPTY_KEY);
        assert_eq!(rejected("[a]\n:\n").1, EMPTY_KEY);
        assert_eq!(rejected("[a]\n\u{0c}: 1\n").1, EMPTY_KEY);
    }

    #[test]
    fn one_pair_of_matching_quotes_is_removed_from_the_first_line() {
        let cases = [
            ("\"a b\"", "a b"),
            ("'a'", "a"),
            ("\"", ""),
            ("'", ""),
            ("\"\"", ""),
            ("\"a\" \"b\"", "a\" \"b"),
            ("\"a'", "\"a'"),
            ("''a''", "'a'"),
            ("  \"padded\"  ", "padded"),
        ];
        for (written, read) in cases {
            assert_eq!(
                value_of(&format!("[a]\nx = {written}\n")),
                read,
                "{written}"
            );
        }
        assert_eq!(value_of("[a]\nx = \"1\n  '2'\n"), "\"1\n'2'");
    }

    #[test]
    fn assignment_before_any_section_is_reported_where_it_ends() {
        let (line, message, text) = rejected("x = 1\n  2\n  3\n\n[a]\n");
        assert_eq!((line, message.as_str(), text.as_str()), (4, NO_SECTION, ""));
        assert_eq!(rejected("x = 1\n  2\n  3").0, 3);
        assert_eq!(rejected("x = 1\n# comment\n").0, 2);
    }

    #[test]
    fn only_the_first_error_is_reported() {
        let (line, message, _) = rejected("[a]\nbare\n[]\n");
        assert_eq!((line, message.as_str()), (2, NO_SEPARATOR));
    }

    #[test]
    fn repeated_keys_and_sections_collect_in_order() {
        let file = parsed("[a]\nx = 1\n[b]\ny = 2\n[a]\nx = 3\nx =\n");
        let a = file.section("a").unwrap();
        assert_eq!(a.values("x").collect::<Vec<_>>(), ["1", "3", ""]);
        assert_eq!(a.keys(), ["x"]);
        assert_eq!(file.sections.len(), 2);
    }

    #[test]
    fn empty_and_blank_files_have_no_sections() {
        for text in ["", "\n\n", "# only\n; comments\n", "\r\n\r"] {
            assert_eq!(parsed(text), IniFile::default(), "{text:?}");
        }
    }

    #[test]
    fn group_names_fold_case_except_default() {
        assert_eq!(group_name("DEFAULT"), "DEFAULT");
        assert_eq!(group_name("Default"), "default");
        assert_eq!(group_name("Keystone_Authtoken"), "keystone_authtoken");
    }
}
