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
    let help = format!("{prefix}{} ({})", option.help, option.kind.sample_name());
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
    for name in option.deprecated_names {
        let _ = writeln!(out, "# Deprecated group/name - [{}]/{name}", option.group);
    }
    for group in option.deprecated_groups {
        let _ = writeln!(out, "# Deprecated group/name - [{group}]/{}", option.name);
    }
    if option.deprecated_for_removal {
        let _ = writeln!(out, "# This option is deprecated for removal.");
        let _ = writeln!(out, "# Its value may be silently ignored in the future.");
        if let Some(reason) = option.deprecated_reason {
            let _ = writeln!(out, "# Reason: {reason}");
        }
    }
    let _ = writeln!(out, "#{} = {}", option.name, sample_value(option));
}

fn sample_value(option: &OptionSpec) -> String {
    if let Some(sample) = option.sample_default {
        return sample.to_string();
    }
    match &option.default {
        None => "<None>".to_string(),
        Some(value) if option.kind == Kind::String && value.trim() != value => {
            format!("\"{value}\"")
        }
        Some(value) => value.clone(),
    }
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
