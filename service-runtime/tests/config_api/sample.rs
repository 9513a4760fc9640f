//! The sample file: oslo-config-generator's layout, and it reads back to
//! the defaults, commented out as written or with every value uncommented.

use std::collections::BTreeMap;
use std::path::PathBuf;

use service_runtime::config::{Dict, Port, QuotedString, Registry, Source, group_spec, sample};
use service_runtime::config_group;

use super::{Files, load_files, load_sources, registry};

service_runtime::option_choices! {
    /// How log lines are written.
    pub enum LogFormat {
        /// One line of text per event.
        Text = "text",
        /// One JSON object per event.
        Json = "json",
    }
}

/// Options of every kind and attribute the sample shows.
#[config_group(name = "DEFAULT")]
pub struct Everything {
    /// Number of worker processes. Each one runs the whole service.
    ///
    /// Raise it on machines with many cores.
    #[opt(default = 2, min = 1, max = 64)]
    pub workers: u32,

    /// Log at debug level.
    #[opt(default = false, mutable, cli)]
    pub debug: bool,

    /// The log line format.
    #[opt(default = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Text put in front of every log line.
    #[opt(default = "  padded  ")]
    pub prefix: String,

    /// A greeting written with quotes.
    #[opt(default = "\"hello\"")]
    pub quoted: String,

    /// A greeting that may hold commas.
    #[opt(default = QuotedString("a, b".into()))]
    pub quoted_string: QuotedString,

    /// A label that costs money.
    #[opt(default = "$$5")]
    pub price: String,

    /// Where the service keeps its files.
    #[opt(default = "/var/lib/everything")]
    pub state_path: PathBuf,

    /// Where the lock files go.
    #[opt(default = "$state_path/locks")]
    pub lock_path: String,

    /// Seconds between two checks.
    #[opt(default = 2.5, min = 0.5)]
    pub interval: f64,

    /// The administrator's password.
    #[opt(default = "changeme", secret)]
    pub admin_password: String,

    /// Host name announced to peers.
    #[opt(default = "localhost", sample_default = "<the machine's host name>")]
    pub host: String,

    /// An optional file.
    pub extra_file: Option<PathBuf>,

    /// Old knob.
    #[opt(
        default = 3,
        deprecated_for_removal,
        deprecated_reason = "nothing reads it"
    )]
    pub old_knob: u32,
}

/// The other group: lists, maps, multi-valued options, renamed options.
#[config_group(name = "api")]
pub struct EverythingApi {
    /// Port of the API.
    #[opt(default = Port(8080))]
    pub port: Port,

    /// Enabled extensions.
    #[opt(default = vec!["alpha".to_string(), "beta".to_string()])]
    pub extensions: Vec<String>,

    /// Quotas per project.
    #[opt(default = Dict(BTreeMap::from([("a".to_string(), 1u32), ("b".to_string(), 2)])))]
    pub quotas: Dict<u32>,

    /// Headers added to every answer.
    #[opt(multi, default = vec!["X-A: 1".to_string(), "X-B: 2".to_string()])]
    pub headers: Vec<String>,

    /// Hooks run at start.
    #[opt(multi)]
    pub hooks: Vec<String>,

    /// Where the API listens.
    #[opt(
        default = "0.0.0.0",
        deprecated_name = "listen",
        deprecated_group = "old_api"
    )]
    pub bind_host: String,

    /// Most requests at once.
    #[opt(default = 100, min = 0, choices = ["0", "100", "1000"])]
    pub max_requests: u32,
}

fn everything() -> std::sync::Arc<Registry> {
    registry([group_spec::<Everything>(), group_spec::<EverythingApi>()])
}

#[test]
fn the_sample_has_oslo_config_generators_layout() {
    let text = sample::generate(&everything());
    let expected_blocks = [
        "\n# Number of worker processes. Each one runs the whole service.\n#\n\
         # Raise it on machines with many cores. (integer value)\n# Minimum value: 1\n\
         # Maximum value: 64\n#workers = 2\n",
        "# Log at debug level. (boolean value)\n\
         # Note: This option can be changed without restarting.\n#debug = false\n",
        "# The log line format. (string value)\n# Possible values:\n\
         # text - <No description provided>\n# json - <No description provided>\n\
         #log_format = text\n",
        "#prefix = \"  padded  \"\n",
        "#quoted = \"\"hello\"\"\n",
        "#host = <the machine's host name>\n",
        "# An optional file. (string value)\n#extra_file = <None>\n",
        "# DEPRECATED: Old knob. (integer value)\n\
         # This option is deprecated for removal.\n\
         # Its value may be silently ignored in the future.\n# Reason: nothing reads it\n\
         #old_knob = 3\n",
        "\n\n[api]\n",
        "# Headers added to every answer. (multi valued)\n#headers = X-A: 1\n#headers = X-B: 2\n",
        "# Hooks run at start. (multi valued)\n#hooks =\n",
        "# Deprecated group/name - [api]/listen\n# Deprecated group/name - [old_api]/bind_host\n\
         # Deprecated group/name - [old_api]/listen\n#bind_host = 0.0.0.0\n",
        "#extensions = alpha,beta\n",
        "#quotas = a:1,b:2\n",
        "# Port of the API. (port value)\n#port = 8080\n",
    ];
    for block in expected_blocks {
        assert!(text.contains(block), "missing {block:?} in:\n{text}");
    }
    assert!(text.starts_with("[DEFAULT]\n"), "{text}");
    let long = text
        .lines()
        .filter(|line| line.len() > 70)
        .collect::<Vec<_>>();
    assert!(long.is_empty(), "lines over 70 columns: {long:?}");
}

#[test]
fn the_sample_read_as_written_gives_the_defaults() {
    let registry = everything();
    let files = Files::new();
    let file = files.write("sample.conf", &sample::generate(&registry));
    let defaults = load_sources(&registry, Vec::new()).unwrap();
    let loaded = load_files(&registry, &[&file]).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(
        loaded.conf.effective_values(),
        defaults.conf.effective_values()
    );
}

/// Every `#name = value` line uncommented, with its continuation lines,
/// except `<None>`, a `sample_default`, and the empty line of an empty
/// multi-valued option (which would read back as one empty value).
fn uncommented(text: &str, registry: &Registry) -> String {
    let shown_differently: Vec<&str> = registry
        .options()
        .filter(|o| o.sample_default.is_some() || (o.multi && o.default_values().is_empty()))
        .map(|o| o.name)
        .collect();
    let mut out = String::new();
    let mut continuing = false;
    for line in text.lines() {
        let assignment = line
            .strip_prefix('#')
            .and_then(|rest| rest.split_once(" ="))
            .filter(|(name, _)| {
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            });
        let keep_commented = match assignment {
            Some((name, value)) => value == " <None>" || shown_differently.contains(&name),
            None => !(continuing && line.starts_with("#    ")),
        };
        continuing = assignment.is_some() && !keep_commented;
        if keep_commented {
            out.push_str(line);
        } else {
            out.push_str(&line[1..]);
        }
        out.push('\n');
    }
    out
}

#[test]
fn the_sample_with_every_value_uncommented_gives_the_defaults() {
    let registry = everything();
    let files = Files::new();
    let text = uncommented(&sample::generate(&registry), &registry);
    let file = files.write("uncommented.conf", &text);
    let defaults = load_sources(&registry, Vec::new()).unwrap();
    let loaded = load_files(&registry, &[&file]).unwrap();

    let from_file: Vec<_> = loaded.conf.effective_values();
    for (read, default) in from_file.iter().zip(defaults.conf.effective_values()) {
        assert_eq!((&read.group, &read.name), (&default.group, &default.name));
        assert_eq!(
            read.value, default.value,
            "{}.{} in:\n{text}",
            read.group, read.name
        );
        let skipped = ["host", "extra_file", "hooks"].contains(&read.name.as_str());
        if !skipped {
            assert!(
                matches!(read.source, Source::File { .. }),
                "{}.{} was not read from the file:\n{text}",
                read.group,
                read.name
            );
        }
    }
    let everything = loaded.conf.group::<Everything>();
    assert_eq!(everything.prefix, "  padded  ");
    assert_eq!(everything.quoted, "\"hello\"");
    assert_eq!(everything.price, "$5");
    assert_eq!(everything.lock_path, "/var/lib/everything/locks");
    let api = loaded.conf.group::<EverythingApi>();
    assert_eq!(api.headers, ["X-A: 1", "X-B: 2"]);
    assert_eq!(api.quotas.0.get("b"), Some(&2));
}
