//! The INI dialect of oslo.config, read the way oslo.config reads it.
//!
//! The rules, in short: the whole file must be valid UTF-8; lines end at
//! `\n`, `\r\n` or a lone `\r` and are right-stripped; a line starting with
//! a space or tab continues the previous value; `#` and `;` start a comment
//! only at column 0; the first of `=` and `:` splits key from value; one pair
//! of matching quotes around a value is removed; a repeated key keeps every
//! value; the first error rejects the whole file.

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

/// A parsed file: sections in order of first appearance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IniFile {
    /// The sections.
    pub sections: Vec<Section>,
}

/// Why a file was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IniError {
    /// The bytes are not UTF-8.
    Decode {
        /// Offset of the first bad byte.
        offset: usize,
        /// 1-based line of the first bad byte.
        line: usize,
    },
    /// The text breaks the grammar.
    Parse {
        /// 1-based line, counted the way oslo.config counts it.
        line: usize,
        /// oslo.config's wording.
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
            IniError::Decode { offset, .. } => {
                write!(f, "not valid UTF-8 (first bad byte at offset {offset})")
            }
            IniError::Parse { message, text, .. } if text.is_empty() => f.write_str(message),
            IniError::Parse { message, text, .. } => write!(f, "{message}: {text:?}"),
        }
    }
}

impl std::error::Error for IniError {}

/// Parses a whole file.
pub fn parse(bytes: &[u8]) -> Result<IniFile, IniError> {
    let text = std::str::from_utf8(bytes).map_err(|e| decode_error(bytes, e))?;
    let mut parser = Parser::default();
    for (index, line) in split_lines(text).enumerate() {
        parser.line(index + 1, line)?;
    }
    parser.finish()
}

fn decode_error(bytes: &[u8], error: std::str::Utf8Error) -> IniError {
    let offset = error.valid_up_to();
    let line = 1 + count_line_breaks(&bytes[..offset]);
    IniError::Decode { offset, line }
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

/// Splits at `\n`, `\r\n` and lone `\r`, as Python's `splitlines` does for
/// these three.
fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        if current.is_empty() {
            rest = None;
            return None;
        }
        match current.find(['\r', '\n']) {
            Some(at) => {
                let skip = if current[at..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&current[at + skip..]);
                Some(&current[..at])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

#[derive(Default)]
struct Parser {
    file: IniFile,
    current: Option<usize>,
    pending: Option<Entry>,
}

impl Parser {
    fn line(&mut self, number: usize, raw: &str) -> Result<(), IniError> {
        let line = raw.trim_end();
        if line.is_empty() {
            return self.finish_pending(number);
        }
        if line.starts_with([' ', '\t']) {
            return self.continuation(number, line);
        }
        self.finish_pending(number)?;
        match line.as_bytes()[0] {
            b'[' => self.section(number, line),
            b'#' | b';' => Ok(()),
            _ => self.assignment(number, line),
        }
    }

    fn continuation(&mut self, number: usize, line: &str) -> Result<(), IniError> {
        let Some(pending) = &mut self.pending else {
            return Err(parse_error(number, "Unexpected continuation line", line));
        };
        pending.value.push('\n');
        pending.value.push_str(line.trim_start());
        Ok(())
    }

    fn section(&mut self, number: usize, line: &str) -> Result<(), IniError> {
        if !line.ends_with(']') || line.len() < 2 {
            return Err(parse_error(number, "Invalid section (must end with ])", line));
        }
        let name = &line[1..line.len() - 1];
        if name.is_empty() {
            return Err(parse_error(number, "Empty section name", line));
        }
        let index = match self.file.sections.iter().position(|s| s.name == name) {
            Some(index) => index,
            None => {
                let section = Section { name: name.to_string(), entries: Vec::new() };
                self.file.sections.push(section);
                self.file.sections.len() - 1
            }
        };
        self.current = Some(index);
        Ok(())
    }

    fn assignment(&mut self, number: usize, line: &str) -> Result<(), IniError> {
        let Some(split) = line.find(['=', ':']) else {
            return Err(parse_error(number, "No ':' or '=' found in assignment", line));
        };
        let key = line[..split].trim();
        if key.is_empty() {
            return Err(parse_error(number, "Key cannot be empty", line));
        }
        let value = unquote(line[split + 1..].trim());
        let entry = Entry { key: key.to_string(), value: value.to_string(), line: number };
        self.pending = Some(entry);
        Ok(())
    }

    fn finish_pending(&mut self, number: usize) -> Result<(), IniError> {
        let Some(entry) = self.pending.take() else {
            return Ok(());
        };
        let Some(index) = self.current else {
            return Err(IniError::Parse {
                line: number,
                message: "Section must be started before assignment".to_string(),
                text: String::new(),
            });
        };
        self.file.sections[index].entries.push(entry);
        Ok(())
    }

    fn finish(mut self) -> Result<IniFile, IniError> {
        let last_line = self.pending.as_ref().map_or(0, |e| e.line);
        self.finish_pending(last_line)?;
        Ok(self.file)
    }
}

fn parse_error(line: usize, message: &str, text: &str) -> IniError {
    IniError::Parse { line, message: message.to_string(), text: text.to_string() }
}

fn unquote(value: &str) -> &str {
    let bytes = value.as_bytes();
    match bytes.first() {
        Some(&q @ (b'"' | b'\'')) if bytes[bytes.len() - 1] == q => {
            if value.len() == 1 { "" } else { &value[1..value.len() - 1] }
        }
        _ => value,
    }
}
