//! How a Rust type becomes an option kind.
//!
//! Every field type of a `#[config_group]` struct implements [`OptionValue`]:
//! it says how one raw string from a file, the environment or the command
//! line becomes a value, how a value is shown in a sample file, and which
//! oslo.config kind it corresponds to.

use std::fmt::Debug;

/// The oslo.config kind an option has, as named in generated sample files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `StrOpt`
    String,
    /// `BoolOpt`
    Boolean,
    /// `IntOpt`
    Integer,
    /// `FloatOpt`
    Float,
    /// `PortOpt`
    Port,
    /// `ListOpt`
    List,
    /// `DictOpt`
    Dict,
    /// `IPOpt`
    IpAddress,
    /// `HostAddressOpt`
    HostAddress,
    /// `URIOpt`
    Uri,
    /// A string naming a filesystem path.
    Path,
    /// A string restricted to a fixed set of choices (an enum).
    Choice,
    /// A number of seconds, written as an integer or a float.
    Duration,
}

impl Kind {
    /// The type name oslo-config-generator writes after an option's help.
    pub fn sample_name(self) -> &'static str {
        match self {
            Kind::String | Kind::Choice => "string value",
            Kind::Boolean => "boolean value",
            Kind::Integer => "integer value",
            Kind::Float | Kind::Duration => "floating point value",
            Kind::Port => "port value",
            Kind::List => "list value",
            Kind::Dict => "dict value",
            Kind::IpAddress => "IP address value",
            Kind::HostAddress => "host address value",
            Kind::Uri => "uri value",
            Kind::Path => "string value",
        }
    }
}

/// A type that can be the value of an option.
///
/// Implemented for the standard types an option usually has (strings,
/// integers, floats, `bool`, `Vec<T>` as a comma list, `Option<T>` for an
/// option without default) and for the option kinds of this crate.
pub trait OptionValue: Sized + Clone + Debug + Send + Sync + 'static {
    /// The oslo.config kind, used in help texts and sample files.
    const KIND: Kind;

    /// Parses one raw value. The error says what was expected, in words a
    /// user can act on, for example `expected an integer`.
    fn parse_raw(raw: &str) -> Result<Self, String>;

    /// Renders the value the way a configuration file would write it.
    fn render(&self) -> String;

    /// The value as a number, for `min`/`max` checks. `None` for kinds
    /// without bounds.
    fn as_number(&self) -> Option<f64> {
        None
    }

    /// The value as JSON, for `--print-config` and the control socket.
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::String(self.render())
    }

    /// The valid spellings when the kind is a closed set (enums, `bool`).
    fn choices() -> Option<&'static [&'static str]> {
        None
    }

    /// Whether an empty raw value means "not set" (oslo.config gives `None`
    /// for an empty integer or float). The option then takes its default.
    fn empty_means_unset() -> bool {
        false
    }
}
