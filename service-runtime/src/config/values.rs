//! [`OptionValue`] for the standard types.

use std::path::PathBuf;

use super::value::{Kind, OptionValue};

impl OptionValue for String {
    const KIND: Kind = Kind::String;

    fn parse_raw(raw: &str) -> Result<Self, String> {
        Ok(raw.to_string())
    }

    fn render(&self) -> String {
        self.clone()
    }
}

impl OptionValue for PathBuf {
    const KIND: Kind = Kind::Path;

    fn parse_raw(raw: &str) -> Result<Self, String> {
        Ok(PathBuf::from(raw))
    }

    fn render(&self) -> String {
        self.display().to_string()
    }
}

const BOOL_SPELLINGS: &[&str] = &["true", "false", "yes", "no", "on", "off", "1", "0"];

impl OptionValue for bool {
    const KIND: Kind = Kind::Boolean;

    fn parse_raw(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "on" | "yes" => Ok(true),
            "false" | "0" | "off" | "no" => Ok(false),
            _ => Err("expected a boolean: true/false, yes/no, on/off or 1/0".to_string()),
        }
    }

    fn render(&self) -> String {
        self.to_string()
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Bool(*self)
    }

    fn choices() -> Option<&'static [&'static str]> {
        Some(BOOL_SPELLINGS)
    }
}

macro_rules! integer_option {
    ($($ty:ty),*) => {$(
        impl OptionValue for $ty {
            const KIND: Kind = Kind::Integer;

            fn parse_raw(raw: &str) -> Result<Self, String> {
                raw.trim().parse::<$ty>().map_err(|_| {
                    format!(
                        "expected an integer from {} to {}",
                        <$ty>::MIN,
                        <$ty>::MAX
                    )
                })
            }

            fn render(&self) -> String {
                self.to_string()
            }

            #[allow(clippy::cast_precision_loss)]
            fn as_number(&self) -> Option<f64> {
                Some(*self as f64)
            }

            fn to_json(&self) -> serde_json::Value {
                serde_json::Value::from(*self)
            }

            fn empty_means_unset() -> bool {
                true
            }
        }
    )*};
}

integer_option!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

macro_rules! float_option {
    ($($ty:ty),*) => {$(
        impl OptionValue for $ty {
            const KIND: Kind = Kind::Float;

            fn parse_raw(raw: &str) -> Result<Self, String> {
                let parsed = raw.trim().parse::<$ty>().map_err(|_| "expected a number".to_string())?;
                if parsed.is_finite() {
                    Ok(parsed)
                } else {
                    Err("expected a finite number".to_string())
                }
            }

            fn render(&self) -> String {
                self.to_string()
            }

            fn as_number(&self) -> Option<f64> {
                Some(f64::from(*self))
            }

            fn to_json(&self) -> serde_json::Value {
                serde_json::Value::from(f64::from(*self))
            }

            fn empty_means_unset() -> bool {
                true
            }
        }
    )*};
}

float_option!(f32, f64);

impl<T: OptionValue> OptionValue for Vec<T> {
    const KIND: Kind = Kind::List;

    fn parse_raw(raw: &str) -> Result<Self, String> {
        split_list(raw)
            .into_iter()
            .map(|item| T::parse_raw(&item).map_err(|e| format!("list item {item:?}: {e}")))
            .collect()
    }

    fn render(&self) -> String {
        self.iter().map(OptionValue::render).collect::<Vec<_>>().join(",")
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(self.iter().map(OptionValue::to_json).collect())
    }
}

/// Splits a comma list as oslo.config does: strip, drop one trailing comma,
/// split on `,`, strip each item; an empty string is the empty list.
pub(crate) fn split_list(raw: &str) -> Vec<String> {
    let trimmed = raw.trim();
    let trimmed = trimmed.strip_suffix(',').unwrap_or(trimmed);
    if trimmed.trim().is_empty() {
        return Vec::new();
    }
    trimmed.split(',').map(|item| item.trim().to_string()).collect()
}
