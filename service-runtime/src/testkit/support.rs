//! Helpers for this crate's own tests: a configuration with the options the
//! periodic tests read, and a capture of log lines.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use crate::config::{
    Conf, ConfigError, ConfigGroup, OptionSpec, OptionValue, Registry, ResolvedGroup, group_spec,
};

/// The options the tests set: `[DEFAULT] run_external_periodic_tasks` and a
/// few spacing options in `[tasks]`.
struct TestOptions;

impl ConfigGroup for TestOptions {
    const GROUP: &'static str = "tasks";

    fn options() -> Vec<OptionSpec> {
        vec![
            option::<bool>("DEFAULT", "run_external_periodic_tasks", Some("true")),
            option::<f64>("tasks", "poll_spacing", Some("10")),
            option::<f64>("tasks", "unset_spacing", None),
            option::<String>("tasks", "word_spacing", Some("soon")),
        ]
    }

    fn build(_values: &ResolvedGroup<'_>) -> Result<Self, Vec<ConfigError>> {
        Ok(TestOptions)
    }
}

fn option<T: OptionValue>(
    group: &'static str,
    name: &'static str,
    default: Option<&str>,
) -> OptionSpec {
    OptionSpec {
        group,
        name,
        help: "an option of the periodic tests",
        kind: T::KIND,
        rust_type: std::any::type_name::<T>(),
        default: default.map(str::to_string),
        sample_default: None,
        min: None,
        max: None,
        choices: None,
        secret: false,
        mutable: true,
        required: false,
        cli: false,
        multi: false,
        deprecated_names: &[],
        deprecated_groups: &[],
        deprecated_for_removal: false,
        deprecated_reason: None,
        declared_at: "testkit/support.rs",
        check: check::<T>,
    }
}

fn check<T: OptionValue>(raw: &str) -> Result<serde_json::Value, String> {
    T::parse_raw(raw).map(|value| value.to_json())
}

/// A configuration with the test options and `values` set.
pub(crate) fn test_conf(values: &[(&str, &str, &str)]) -> Conf {
    let registry = Registry::from_groups([group_spec::<TestOptions>()])
        .unwrap_or_else(|errors| panic!("test options conflict: {errors:?}"));
    super::conf_with(Arc::new(registry), values)
}

/// Log lines written while the capture lives, on this thread.
pub(crate) struct CapturedLogs {
    buffer: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

struct SharedWriter(Arc<Mutex<Vec<u8>>>);

impl Write for SharedWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    /// Captures every event of the current thread from now on.
    pub(crate) fn start() -> Self {
        let buffer: Arc<Mutex<Vec<u8>>> = Arc::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || SharedWriter(writer.clone()))
            .with_ansi(false)
            .without_time()
            .with_max_level(tracing::Level::TRACE)
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        CapturedLogs {
            buffer,
            _guard: guard,
        }
    }

    /// The captured lines that contain every one of `parts`.
    pub(crate) fn lines_with(&self, parts: &[&str]) -> Vec<String> {
        let bytes = self
            .buffer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|line| parts.iter().all(|part| line.contains(part)))
            .map(str::to_string)
            .collect()
    }
}
