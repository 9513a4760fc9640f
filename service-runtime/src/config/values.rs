//! [`OptionValue`] for the standard types, read as oslo.config reads them.
//!
//! Strings are taken as they are; booleans accept oslo's eight spellings in
//! any case; integers and floats follow Python's `int()` and `float()`
//! (surrounding spaces and `_` between digits allowed, an empty value
//! means "not set"); `Vec<T>` is oslo's comma list.

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

    /// Case-insensitive, and like oslo.config without trimming: the file
    /// reader already strips values, so spaces can only come from the
    /// environment, where oslo.config rejects them too.
    fn parse_raw(raw: &str) -> Result<Self, String> {
        match raw.to_ascii_lowercase().as_str() {
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

/// Removes the `_` separators Python allows between two digits (`1_000`).
/// `None` when an underscore stands anywhere else, which Python rejects.
pub(crate) fn without_digit_underscores(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let digit_at = |index: Option<usize>| {
        index
            .and_then(|i| bytes.get(i))
            .is_some_and(u8::is_ascii_digit)
    };
    for (index, byte) in bytes.iter().enumerate() {
        if *byte == b'_' && !(digit_at(index.checked_sub(1)) && digit_at(Some(index + 1))) {
            return None;
        }
    }
    Some(text.replace('_', ""))
}

/// The text of an integer as Python's `int()` reads it: surrounding spaces,
/// one optional sign, ASCII digits with single `_` between them. Returns
/// the digits with their sign, ready for Rust's parser; `-0` becomes `0`
/// so that unsigned types accept it as Python does.
pub(crate) fn integer_text(raw: &str) -> Option<String> {
    let text = raw.trim();
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'+') => (false, &text[1..]),
        Some(b'-') => (true, &text[1..]),
        _ => (false, text),
    };
    let digits = without_digit_underscores(unsigned)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let is_zero = digits.bytes().all(|b| b == b'0');
    Some(if negative && !is_zero {
        format!("-{digits}")
    } else {
        digits
    })
}

macro_rules! integer_option {
    ($($ty:ty),*) => {$(
        impl OptionValue for $ty {
            const KIND: Kind = Kind::Integer;

            fn parse_raw(raw: &str) -> Result<Self, String> {
                let Some(text) = integer_text(raw) else {
                    return Err("expected an integer, such as 42 or -7".to_string());
                };
                text.parse::<$ty>().map_err(|_| {
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

            /// Python's `float()` syntax. Unlike oslo.config, `nan` and
            /// `inf` are refused: they would slip through every bound.
            fn parse_raw(raw: &str) -> Result<Self, String> {
                let parsed = without_digit_underscores(raw.trim())
                    .and_then(|text| text.parse::<$ty>().ok())
                    .ok_or_else(|| "expected a number, such as 2.5 or 10".to_string())?;
                if parsed.is_finite() {
                    Ok(parsed)
                } else {
                    Err("expected a finite number".to_string())
                }
            }

            /// Debug formatting keeps the `.0` of whole numbers, so the
            /// value reads as a float in sample files.
            fn render(&self) -> String {
                format!("{self:?}")
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
        let body = raw.trim().trim_end_matches(',');
        if body.is_empty() {
            return Ok(Vec::new());
        }

        let mut pieces = body.split(',');
        let mut items = Vec::new();
        while let Some(first) = pieces.next() {
            let position = items.len() + 1;
            items.push(parse_list_item(first, &mut pieces, position)?);
        }
        Ok(items)
    }

    fn render(&self) -> String {
        self.iter()
            .map(OptionValue::render)
            .collect::<Vec<_>>()
            .join(",")
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(self.iter().map(OptionValue::to_json).collect())
    }
}

/// Parses one list item starting at `first`. A piece the item type refuses
/// is joined with the following pieces, comma restored, until the item
/// type accepts the result: that is how an item may contain commas (a
/// quoted string, for instance). An empty piece is never joined: it is an
/// empty item, valid only if the item type accepts an empty value.
fn parse_list_item<'a, T: OptionValue>(
    first: &'a str,
    rest: &mut impl Iterator<Item = &'a str>,
    position: usize,
) -> Result<T, String> {
    let first_error = match T::parse_raw(first.trim()) {
        Ok(item) => return Ok(item),
        Err(error) => error,
    };
    if first.trim().is_empty() {
        return Err(format!("list item {position} is empty: {first_error}"));
    }

    let mut joined = first.to_string();
    for next in rest {
        joined.push(',');
        joined.push_str(next);
        if let Ok(item) = T::parse_raw(joined.trim()) {
            return Ok(item);
        }
    }
    Err(format!(
        "list item {position} {:?}: {first_error}",
        first.trim()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T: OptionValue + PartialEq>(value: T) {
        let rendered = value.render();
        let parsed = T::parse_raw(&rendered).expect("a rendered value parses");
        assert_eq!(parsed, value, "render gave {rendered:?}");
    }

    #[test]
    fn strings_and_paths_are_taken_as_written() {
        assert_eq!(String::parse_raw(" a b ").unwrap(), " a b ");
        assert_eq!(String::parse_raw("\"q\"").unwrap(), "\"q\"");
        assert_eq!(
            PathBuf::parse_raw("/var/lib/x").unwrap(),
            PathBuf::from("/var/lib/x")
        );
        round_trips(String::from("any text, even with commas"));
        round_trips(PathBuf::from("/etc/probe.conf"));
    }

    #[test]
    fn booleans_accept_oslo_spellings_in_any_case() {
        for spelling in ["true", "TRUE", "True", "1", "on", "ON", "yes", "Yes"] {
            assert_eq!(bool::parse_raw(spelling), Ok(true), "{spelling}");
        }
        for spelling in ["false", "FALSE", "0", "off", "Off", "no", "NO"] {
            assert_eq!(bool::parse_raw(spelling), Ok(false), "{spelling}");
        }
    }

    #[test]
    fn booleans_refuse_everything_else() {
        let expected = "expected a boolean: true/false, yes/no, on/off or 1/0";
        for bad in ["", "y", "n", "2", "enabled", " true", "true "] {
            assert_eq!(bool::parse_raw(bad).unwrap_err(), expected, "{bad:?}");
        }
        round_trips(true);
        round_trips(false);
    }

    #[test]
    fn integers_follow_python_int() {
        assert_eq!(i64::parse_raw(" 5 "), Ok(5));
        assert_eq!(i64::parse_raw("+5"), Ok(5));
        assert_eq!(i64::parse_raw("-5"), Ok(-5));
        assert_eq!(i64::parse_raw("007"), Ok(7));
        assert_eq!(i64::parse_raw("1_000"), Ok(1000));
        assert_eq!(u32::parse_raw("-0"), Ok(0));
        assert_eq!(i64::parse_raw("\t12\n"), Ok(12));
    }

    #[test]
    fn integers_refuse_other_syntax_with_a_clear_message() {
        let expected = "expected an integer, such as 42 or -7";
        for bad in [
            "1.5", "0x10", "1e3", "four", "1_", "_1", "1__0", "- 5", "+-5", "5 5", "",
        ] {
            assert_eq!(i64::parse_raw(bad).unwrap_err(), expected, "{bad:?}");
        }
    }

    #[test]
    fn integers_out_of_the_type_range_name_the_range() {
        assert_eq!(
            u8::parse_raw("256").unwrap_err(),
            "expected an integer from 0 to 255"
        );
        assert_eq!(
            u32::parse_raw("-1").unwrap_err(),
            "expected an integer from 0 to 4294967295"
        );
        assert_eq!(
            i8::parse_raw("-129").unwrap_err(),
            "expected an integer from -128 to 127"
        );
    }

    #[test]
    fn empty_numbers_mean_unset() {
        assert!(i64::empty_means_unset());
        assert!(u16::empty_means_unset());
        assert!(f64::empty_means_unset());
        assert!(!String::empty_means_unset());
        assert!(!bool::empty_means_unset());
        assert!(!Vec::<String>::empty_means_unset());
    }

    #[test]
    fn integers_round_trip_and_give_numbers() {
        round_trips(i64::MIN);
        round_trips(u64::MAX);
        round_trips(0u8);
        assert_eq!(7i32.as_number(), Some(7.0));
        assert_eq!(7i32.to_json(), serde_json::json!(7));
    }

    #[test]
    fn floats_follow_python_float() {
        assert_eq!(f64::parse_raw(" 1.5 "), Ok(1.5));
        assert_eq!(f64::parse_raw("1e3"), Ok(1000.0));
        assert_eq!(f64::parse_raw(".5"), Ok(0.5));
        assert_eq!(f64::parse_raw("5."), Ok(5.0));
        assert_eq!(f64::parse_raw("-2"), Ok(-2.0));
        assert_eq!(f64::parse_raw("1_0.5"), Ok(10.5));
        assert_eq!(f32::parse_raw("0.25"), Ok(0.25));
    }

    #[test]
    fn floats_refuse_junk_and_non_finite_values() {
        let expected = "expected a number, such as 2.5 or 10";
        for bad in ["0x10", "1,5", "one", "1.5s", "1_.5", ""] {
            assert_eq!(f64::parse_raw(bad).unwrap_err(), expected, "{bad:?}");
        }
        for bad in ["inf", "-inf", "nan", "infinity", "1e400"] {
            assert_eq!(
                f64::parse_raw(bad).unwrap_err(),
                "expected a finite number",
                "{bad}"
            );
        }
        assert_eq!(
            f32::parse_raw("1e40").unwrap_err(),
            "expected a finite number"
        );
    }

    #[test]
    fn floats_render_as_floats_and_round_trip() {
        assert_eq!(2.0f64.render(), "2.0");
        assert_eq!(0.1f64.render(), "0.1");
        for value in [0.1f64, 2.0, -7.25, 1e20, 1e-9, f64::MAX] {
            round_trips(value);
        }
        round_trips(0.3f32);
        assert_eq!(2.5f64.to_json(), serde_json::json!(2.5));
    }

    #[test]
    fn lists_drop_trailing_commas_and_trim_items() {
        let apis = Vec::<String>::parse_raw("alpha, beta, gamma,").unwrap();
        assert_eq!(apis, ["alpha", "beta", "gamma"]);
        assert_eq!(Vec::<i64>::parse_raw("1,2,3,").unwrap(), [1, 2, 3]);
        assert_eq!(Vec::<String>::parse_raw("a, b ,,").unwrap(), ["a", "b"]);
        assert_eq!(Vec::<i64>::parse_raw(" 1 , 2 ").unwrap(), [1, 2]);
    }

    #[test]
    fn empty_lists() {
        for empty in ["", "   ", ",", " , ", ",,"] {
            assert_eq!(
                Vec::<String>::parse_raw(empty).unwrap(),
                Vec::<String>::new(),
                "{empty:?}"
            );
            assert_eq!(
                Vec::<i64>::parse_raw(empty).unwrap(),
                Vec::<i64>::new(),
                "{empty:?}"
            );
        }
    }

    #[test]
    fn an_interior_empty_string_item_is_kept() {
        assert_eq!(Vec::<String>::parse_raw("a,,b").unwrap(), ["a", "", "b"]);
        assert_eq!(Vec::<String>::parse_raw(",a").unwrap(), ["", "a"]);
        assert_eq!(Vec::<String>::parse_raw("a, ,").unwrap(), ["a", ""]);
    }

    #[test]
    fn an_interior_empty_typed_item_is_an_error_naming_it() {
        assert_eq!(
            Vec::<i64>::parse_raw("1,,2").unwrap_err(),
            "list item 2 is empty: expected an integer, such as 42 or -7"
        );
        assert_eq!(
            Vec::<f64>::parse_raw(",1.5").unwrap_err(),
            "list item 1 is empty: expected a number, such as 2.5 or 10"
        );
    }

    #[test]
    fn a_bad_typed_item_is_named_with_its_position() {
        assert_eq!(
            Vec::<i64>::parse_raw("1,x,2").unwrap_err(),
            "list item 2 \"x\": expected an integer, such as 42 or -7"
        );
        assert_eq!(
            Vec::<bool>::parse_raw("yes, maybe").unwrap_err(),
            "list item 2 \"maybe\": expected a boolean: true/false, yes/no, on/off or 1/0"
        );
    }

    #[test]
    fn plain_string_items_keep_their_quotes() {
        let items = Vec::<String>::parse_raw("\"a,b\",c").unwrap();
        assert_eq!(items, ["\"a", "b\"", "c"]);
    }

    /// An item type that needs exactly one comma, to watch pieces join.
    #[derive(Clone, Debug, PartialEq)]
    struct CommaPair(String);

    impl OptionValue for CommaPair {
        const KIND: Kind = Kind::String;

        fn parse_raw(raw: &str) -> Result<Self, String> {
            if raw.matches(',').count() == 1 {
                Ok(CommaPair(raw.to_string()))
            } else {
                Err("expected two parts".to_string())
            }
        }

        fn render(&self) -> String {
            self.0.clone()
        }
    }

    #[test]
    fn a_refused_piece_is_joined_with_the_next_ones() {
        let pairs = Vec::<CommaPair>::parse_raw("a, b,c ,d").unwrap();
        assert_eq!(pairs, [CommaPair("a, b".into()), CommaPair("c ,d".into())]);
        assert_eq!(
            Vec::<CommaPair>::parse_raw("a,b,c").unwrap_err(),
            "list item 2 \"c\": expected two parts"
        );
    }

    #[test]
    fn lists_round_trip_and_give_json_arrays() {
        round_trips(vec!["a".to_string(), "b c".to_string()]);
        round_trips(vec![1i64, -2, 3]);
        round_trips(Vec::<i64>::new());
        round_trips(vec![true, false]);
        assert_eq!(vec![1u16, 2].to_json(), serde_json::json!([1, 2]));
        assert_eq!(vec![1u16, 2].render(), "1,2");
    }
}
