//! The layout of log lines.
//!
//! A text line is `<time> <role>[<pid>] <LEVEL> <target>: <message>`, the
//! time in UTC to the microsecond, then `tracing`'s own full format. Access
//! log lines, one per request, take a shorter path that writes the same
//! bytes: [`AccessLines`] skips the event machinery, takes the time from a
//! per-thread cache of the current second, and escapes control characters
//! as `tracing` escapes them.

use std::cell::{Cell, RefCell};
use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::Role;
use super::output::Output;
use crate::http::ACCESS_LOG_TARGET;
use crate::utc::UtcSecond;

/// Length of a timestamp such as `2026-12-04T09:12:03.792441Z`.
const TIMESTAMP_LEN: usize = 27;

/// The part of a timestamp before the microseconds, with its dot.
const SECOND_PREFIX_LEN: usize = 20;

pub(super) struct LineFormat {
    role: Role,
    /// This process's id, read once: every line carries it, and asking the
    /// kernel for it costs a system call each time. A worker is a new
    /// program (`exec`), which sets up its own logger.
    pid: u32,
    /// ` <role>[<pid>] `, written after the time of every text line.
    prefix: String,
    json: Arc<AtomicBool>,
    text: Format<Full, ()>,
}

impl LineFormat {
    pub(super) fn new(role: Role, json: Arc<AtomicBool>) -> LineFormat {
        let pid = std::process::id();
        LineFormat {
            role,
            pid,
            prefix: format!(" {role}[{pid}] "),
            json,
            text: Format::default().without_time().with_ansi(false),
        }
    }
}

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        if self.json.load(Ordering::Relaxed) {
            return write_json(self.role, self.pid, &mut writer, event);
        }
        write_timestamp(&mut writer)?;
        writer.write_str(&self.prefix)?;
        self.text.format_event(ctx, writer, event)
    }
}

/// Writes access lines straight to the output, in the layout `tracing`'s
/// format gives them, without the cost of an event: the dispatch through
/// the subscriber's layers, the formatter's own buffer and a second copy.
/// There is one line per request, so this is most of what logging costs a
/// busy server. Lines in JSON, or logged inside a span (whose fields the
/// line would show), still go through `tracing`.
pub(super) struct AccessLines {
    output: Output,
    /// ` <role>[<pid>]  INFO <target>: `, everything between the time and
    /// the message.
    prefix: String,
    json: Arc<AtomicBool>,
}

impl AccessLines {
    pub(super) fn new(output: Output, role: Role, json: Arc<AtomicBool>) -> AccessLines {
        let pid = std::process::id();
        AccessLines {
            output,
            prefix: format!(" {role}[{pid}]  INFO {ACCESS_LOG_TARGET}: "),
            json,
        }
    }

    /// Writes one access line; `false` when it must go through `tracing`.
    pub(super) fn write(&self, message: &str) -> bool {
        if self.json.load(Ordering::Relaxed) || inside_a_span() {
            return false;
        }
        ACCESS_LINE.with_borrow_mut(|line| {
            line.clear();
            let _ = write_timestamp(line);
            line.push_str(&self.prefix);
            let _ = Escaping(line).write_str(message);
            line.push('\n');
            self.output.write_line(line.as_bytes(), true);
        });
        true
    }
}

thread_local! {
    /// The buffer each thread writes access lines into.
    static ACCESS_LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

fn inside_a_span() -> bool {
    tracing::dispatcher::get_default(|dispatch| dispatch.current_span().id().is_some())
}

/// Escapes the characters that could drive a terminal (ESC, BEL, BS, FF,
/// DEL and the C1 controls), exactly as `tracing`'s format does, so that a
/// crafted request cannot hide itself from someone reading the log.
struct Escaping<'w, W>(&'w mut W);

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // Printable ASCII, by far the common case, needs no escape. The
        // check goes through every byte without stopping early, which lets
        // the compiler test many bytes at once.
        let printable = text
            .bytes()
            .fold(true, |all, byte| all & (b' '..=b'~').contains(&byte));
        if printable {
            return self.0.write_str(text);
        }
        for ch in text.chars() {
            match ch {
                '\x1b' => self.0.write_str("\\x1b")?,
                '\x07' => self.0.write_str("\\x07")?,
                '\x08' => self.0.write_str("\\x08")?,
                '\x0c' => self.0.write_str("\\x0c")?,
                '\x7f' => self.0.write_str("\\x7f")?,
                '\u{80}'..='\u{9f}' => write!(self.0, "\\u{{{:x}}}", ch as u32)?,
                _ => self.0.write_char(ch)?,
            }
        }
        Ok(())
    }
}

thread_local! {
    /// The second the prefix below was made for, and the prefix
    /// (`2026-12-04T09:12:03.`): a busy thread writes many lines a second
    /// and need not work out the date for each.
    static SECOND: Cell<(u64, [u8; SECOND_PREFIX_LEN])> =
        const { Cell::new((u64::MAX, [0; SECOND_PREFIX_LEN])) };
}

/// Writes the current time as `2026-12-04T09:12:03.792441Z`, the layout of
/// `tracing`'s `SystemTime` timer.
fn write_timestamp(out: &mut impl fmt::Write) -> fmt::Result {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    write_time_since_epoch(out, since_epoch)
}

fn write_time_since_epoch(out: &mut impl fmt::Write, since_epoch: Duration) -> fmt::Result {
    let seconds = since_epoch.as_secs();
    let (cached, mut prefix) = SECOND.get();
    if cached != seconds {
        let at = UtcSecond::from_unix(seconds);
        if at.year > 9999 {
            return write_long_year(out, at, since_epoch.subsec_micros());
        }
        let mut text = String::with_capacity(SECOND_PREFIX_LEN);
        write!(
            text,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.",
            at.year, at.month, at.day, at.hour, at.minute, at.second
        )?;
        prefix.copy_from_slice(text.as_bytes());
        SECOND.set((seconds, prefix));
    }
    let mut micros = *b"000000Z";
    let mut rest = since_epoch.subsec_micros();
    for digit in micros[..6].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    // Both parts are ASCII, written just above.
    out.write_str(std::str::from_utf8(&prefix).map_err(|_| fmt::Error)?)?;
    out.write_str(std::str::from_utf8(&micros).map_err(|_| fmt::Error)?)
}

/// Years past 9999 (a clock set far ahead) are written with a sign, as
/// `tracing` writes them.
fn write_long_year(out: &mut impl fmt::Write, at: UtcSecond, micros: u32) -> fmt::Result {
    write!(
        out,
        "+{}-{:02}-{:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        at.year, at.month, at.day, at.hour, at.minute, at.second
    )
}

/// Writes one event as a JSON object on one line.
fn write_json(
    role: Role,
    pid: u32,
    writer: &mut Writer<'_>,
    event: &tracing::Event<'_>,
) -> std::fmt::Result {
    let mut time = String::with_capacity(TIMESTAMP_LEN);
    write_timestamp(&mut time)?;
    let mut fields = JsonFields::default();
    event.record(&mut fields);
    let metadata = event.metadata();
    let line = serde_json::json!({
        "time": time,
        "level": metadata.level().as_str(),
        "target": metadata.target(),
        "message": fields.message,
        "fields": fields.values,
        "worker": role.worker(),
        "pid": pid,
    });
    writeln!(writer, "{line}")
}

/// Collects an event's fields as JSON values, the message apart.
#[derive(Default)]
struct JsonFields {
    message: String,
    values: serde_json::Map<String, serde_json::Value>,
}

impl JsonFields {
    fn insert(&mut self, field: &Field, value: serde_json::Value) {
        if field.name() == "message" {
            self.message = match value {
                serde_json::Value::String(text) => text,
                other => other.to_string(),
            };
        } else {
            self.values.insert(field.name().to_string(), value);
        }
    }
}

impl Visit for JsonFields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.insert(field, serde_json::json!(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.insert(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.insert(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.insert(field, value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.insert(field, value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.insert(field, value.to_string().into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.insert(field, format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tracing_subscriber::fmt::format::DefaultFields;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// The lines `log` writes through a [`LineFormat`] for worker 3.
    fn lines_of(log: impl FnOnce()) -> Vec<String> {
        let written = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = written.clone();
        let layer = tracing_subscriber::fmt::layer()
            .event_format(LineFormat::new(Role::Worker(3), Arc::default()))
            .fmt_fields(DefaultFields::new())
            .with_ansi(false)
            .with_writer(move || SharedBuffer(sink.clone()));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, log);
        let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for SharedBuffer {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// An output to a new file, writing every line at once.
    fn file_output(name: &str) -> (Output, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("format-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("test.log");
        let _ = std::fs::remove_file(&path);
        (Output::open(Some(&path), false).unwrap(), path)
    }

    #[test]
    fn access_lines_read_as_tracing_writes_them() {
        let message = "192.0.2.7 \"GET /a\u{1b}[31mb\u{85} HTTP/1.1\" status: 200";
        let (output, path) = file_output("same");
        let direct = AccessLines::new(output, Role::Worker(3), Arc::default());
        assert!(direct.write(message));
        let written = std::fs::read_to_string(&path).unwrap();
        let through_tracing = lines_of(|| tracing::info!(target: ACCESS_LOG_TARGET, "{message}"));

        let after_time = |line: &str| line[TIMESTAMP_LEN..].to_string();
        assert_eq!(
            after_time(written.trim_end_matches('\n')),
            after_time(&through_tracing[0])
        );
        let pid = std::process::id();
        assert!(
            written.contains(&format!(" worker 3[{pid}]  INFO ")),
            "{written}"
        );
        assert!(written.contains("/a\\x1b[31mb\\u{85} "), "{written}");
    }

    #[test]
    fn access_lines_in_json_or_in_a_span_go_through_tracing() {
        let (output, path) = file_output("fallback");
        let json = Arc::new(AtomicBool::new(true));
        let lines = AccessLines::new(output.clone(), Role::Main, json.clone());
        assert!(!lines.write("in json"));
        json.store(false, Ordering::Relaxed);
        let in_span = lines_of(|| {
            let span = tracing::info_span!("request", id = 7);
            let _entered = span.enter();
            assert!(!lines.write("in a span"));
            tracing::info!(target: ACCESS_LOG_TARGET, "in a span");
        });
        assert!(in_span[0].contains("request{id=7}: "), "{}", in_span[0]);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    }

    #[test]
    fn timestamps_have_tracings_layout_across_seconds() {
        let shown = |seconds: u64, nanos: u32| {
            let mut text = String::new();
            write_time_since_epoch(&mut text, Duration::new(seconds, nanos)).unwrap();
            text
        };
        assert_eq!(
            shown(1_709_644_021, 123_456_789),
            "2024-03-05T13:07:01.123456Z"
        );
        assert_eq!(shown(1_709_644_021, 7_000), "2024-03-05T13:07:01.000007Z");
        assert_eq!(shown(1_709_644_022, 0), "2024-03-05T13:07:02.000000Z");
        assert_eq!(shown(0, 999_999_999), "1970-01-01T00:00:00.999999Z");
        assert_eq!(shown(1_709_644_021, 0).len(), TIMESTAMP_LEN);
        assert_eq!(shown(253_402_300_800, 0), "+10000-01-01T00:00:00.000000Z");
    }
}
