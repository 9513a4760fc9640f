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

/// A process-wide subscriber that wants every event and keeps none.
///
/// Tests run on many threads, each capture being the default of its own
/// thread only. tracing caches per call site whether anyone is interested,
/// and a call site first reached on a thread without a capture may be
/// cached as "never" while another thread's capture is alive, which would
/// silently drop that thread's events. With this subscriber as the global
/// default, some subscriber always wants every call site, so the cache
/// never says "never" and each capture sees all of its thread's events.
struct InterestedInEverything;

impl tracing::Subscriber for InterestedInEverything {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, _: &tracing::Event<'_>) {}

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

impl CapturedLogs {
    /// Captures every event of the current thread from now on.
    pub(crate) fn start() -> Self {
        static GLOBAL: std::sync::Once = std::sync::Once::new();
        GLOBAL.call_once(|| {
            // Fails only when a global subscriber is already set, and any
            // subscriber does the job.
            let _ = tracing::subscriber::set_global_default(InterestedInEverything);
        });
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
