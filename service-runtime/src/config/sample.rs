//! Sample configuration files in oslo-config-generator's format.

use std::fmt::Write;

use super::{DEFAULT_GROUP, Kind, OptionSpec, Registry};

const WRAP_WIDTH: usize = 70;

/// A sample file with every option commented out: its help, type, bounds,
/// choices, notes and default. Reading it back gives the defaults.
pub fn generate(registry: &Registry) -> String {
    let mut out = String::new();
    let mut groups = registry.group_names();
    if !groups.contains(&DEFAULT_GROUP) {
        groups.insert(0, DEFAULT_GROUP);
    }
    for (index, group) in groups.iter().enumerate() {
        if index > 0 {
            out.push_str("\n\n");
        }
        let _ = writeln!(out, "[{group}]");
        for option in registry.options().filter(|o| o.group == *group) {
            write_option(&mut out, option);
        }
    }
    out
}

fn write_option(out: &mut String, option: &OptionSpec) {
    out.push('\n');
    let prefix = if option.deprecated_for_removal {
        "DEPRECATED: "
    } else {
        ""
    };
    let kind = if option.multi {
        "multi valued"
    } else {
        option.kind.sample_name()
    };
    let help = format!("{prefix}{} ({kind})", option.help);
    for line in wrap(&help, WRAP_WIDTH - 2) {
        if line.is_empty() {
            out.push_str("#\n");
        } else {
            let _ = writeln!(out, "# {line}");
        }
    }
    if let Some(min) = option.min {
        let _ = writeln!(out, "# Minimum value: {min}");
    }
    if let Some(max) = option.max {
        let _ = writeln!(out, "# Maximum value: {max}");
    }
    if let Some(choices) = option.choices {
        let _ = writeln!(out, "# Possible values:");
        for choice in choices {
            let _ = writeln!(out, "# {choice} - <No description provided>");
        }
    }
    if option.mutable {
        let _ = writeln!(
            out,
            "# Note: This option can be changed without restarting."
        );
    }
    for (group, name) in option.alternatives().into_iter().skip(1) {
        let _ = writeln!(out, "# Deprecated group/name - [{group}]/{name}");
    }
    if option.deprecated_for_removal {
        let _ = writeln!(out, "# This option is deprecated for removal.");
        let _ = writeln!(out, "# Its value may be silently ignored in the future.");
        if let Some(reason) = option.deprecated_reason {
            let _ = writeln!(out, "# Reason: {reason}");
        }
    }
    for value in sample_values(option) {
        write_assignment(out, option.name, &value);
    }
}

/// `#name = value`; the lines of a value that holds line breaks continue
/// as indented comment lines, which read back as continuation lines once
/// uncommented. An empty value gives `#name =`.
fn write_assignment(out: &mut String, name: &str, value: &str) {
    if value.is_empty() {
        let _ = writeln!(out, "#{name} =");
        return;
    }
    let value = value.replace('\n', "\n#    ");
    let _ = writeln!(out, "#{name} = {value}");
}

/// The values the sample shows: the `sample_default` when there is one,
/// `<None>` without a default, one line per value of a multi-valued
/// option (a single empty line for an empty list), and strings with
/// spaces at either end, or in quotes, quoted so that they read back
/// unchanged.
fn sample_values(option: &OptionSpec) -> Vec<String> {
    if let Some(sample) = option.sample_default {
        return vec![sample.to_string()];
    }
    if option.default.is_none() {
        return vec!["<None>".to_string()];
    }
    let values = option.default_values();
    if values.is_empty() {
        return vec![String::new()];
    }
    let textual = matches!(option.kind, Kind::String | Kind::Path | Kind::Choice);
    values
        .into_iter()
        .map(|value| {
            if textual && (value.trim() != value || is_quoted(value)) {
                format!("\"{value}\"")
            } else {
                value.to_string()
            }
        })
        .collect()
}

/// Whether the file reader would take a pair of quotes off the value.
fn is_quoted(value: &str) -> bool {
    value.len() >= 2
        && ['"', '\'']
            .iter()
            .any(|quote| value.starts_with(*quote) && value.ends_with(*quote))
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.split("\n\n") {
        if !lines.is_empty() {
            lines.push(String::new());
        }
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            lines.push(line);
        }
    }
    lines
}
