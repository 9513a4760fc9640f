//! The results table, in markdown and JSON, and the machine it ran on.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use service_bench::stats::Spread;

/// What a figure must reach, and against what.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// The framework's median is at most this many units.
    AtMost(f64),
    /// The framework's median divided by the baseline's is at least this.
    RatioAtLeast(f64),
    /// The framework's median exceeds the baseline's by at most this.
    WithinOfBaseline(f64),
    /// Reported for information; no target.
    None,
}

impl Target {
    fn describe(self, unit: &str) -> String {
        match self {
            Target::AtMost(value) => format!("≤ {} {unit}", number(value)),
            Target::RatioAtLeast(value) => format!("ratio ≥ {}", number(value)),
            Target::WithinOfBaseline(value) => {
                format!("≤ baseline + {} {unit}", number(value))
            }
            Target::None => String::new(),
        }
    }

    fn met(self, framework: Option<&Spread>, baseline: Option<&Spread>) -> Option<bool> {
        let framework = framework?.median;
        match self {
            Target::AtMost(value) => Some(framework <= value),
            Target::RatioAtLeast(value) => Some(framework / baseline?.median >= value),
            Target::WithinOfBaseline(value) => Some(framework - baseline?.median <= value),
            Target::None => None,
        }
    }
}

/// One line of the table.
#[derive(Clone, Debug)]
pub struct Row {
    pub section: &'static str,
    pub figure: String,
    pub unit: &'static str,
    pub framework: Option<Spread>,
    pub baseline: Option<Spread>,
    pub baseline_name: Option<&'static str>,
    pub target: Target,
    pub note: String,
}

impl Row {
    /// A row with the framework's figure only.
    pub fn new(section: &'static str, figure: impl Into<String>, unit: &'static str) -> Row {
        Row {
            section,
            figure: figure.into(),
            unit,
            framework: None,
            baseline: None,
            baseline_name: None,
            target: Target::None,
            note: String::new(),
        }
    }

    pub fn framework(mut self, runs: &[f64]) -> Row {
        self.framework = Spread::of(runs);
        self
    }

    pub fn baseline(mut self, name: &'static str, runs: &[f64]) -> Row {
        self.baseline = Spread::of(runs);
        self.baseline_name = Some(name);
        self
    }

    pub fn target(mut self, target: Target) -> Row {
        self.target = target;
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Row {
        self.note = note.into();
        self
    }

    fn ratio(&self) -> Option<f64> {
        let baseline = self.baseline.as_ref()?.median;
        (baseline != 0.0).then(|| self.framework.as_ref().map(|f| f.median / baseline))?
    }

    fn met(&self) -> Option<bool> {
        self.target
            .met(self.framework.as_ref(), self.baseline.as_ref())
    }
}

/// The machine and the conditions of the run.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub rustc: String,
    pub load_average_before: String,
    pub load_average_after: String,
    pub started_utc: String,
    pub duration_s: f64,
    pub commit: String,
    pub runs: usize,
}

impl Machine {
    /// What can be read about the machine now; the end fields are filled
    /// in later.
    pub fn describe(runs: usize) -> Machine {
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
            .unwrap_or_else(|| "unknown".to_string());
        let memory_kib: f64 = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        let commit = output_of("git", &["rev-parse", "--short", "HEAD"]);
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            memory_gib: memory_kib / 1024.0 / 1024.0,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            rustc: output_of(&rustc, &["--version"]),
            load_average_before: load_average(),
            load_average_after: String::new(),
            started_utc: utc_now(),
            duration_s: 0.0,
            commit,
            runs,
        }
    }
}

/// The first line a command prints, or `unknown`.
fn output_of(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout);
            text.lines().next().map(str::to_string)
        })
        .unwrap_or_else(|| "unknown".to_string())
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The current time as `YYYY-MM-DD HH:MM UTC`.
fn utc_now() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(seconds / 86_400).unwrap_or_default();
    let (year, month, day) = civil_from_days(days);
    let minutes = seconds % 86_400 / 60;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        minutes / 60,
        minutes % 60
    )
}

/// The Gregorian date of a day number counted from 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = u32::try_from(day_of_year - (153 * month_index + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    })
    .unwrap_or(1);
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A number with as many decimals as its size deserves.
fn number(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 0.1 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

fn spread_cell(spread: Option<&Spread>, unit: &str) -> String {
    match spread {
        Some(s) if s.runs.len() == 1 => format!("{} {unit}", number(s.median)),
        Some(s) => format!(
            "{} {unit} ({} – {})",
            number(s.median),
            number(s.min),
            number(s.max)
        ),
        None => "–".to_string(),
    }
}

/// The table in markdown, one table per section, notes below each.
pub fn markdown(machine: &Machine, rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# service-runtime benchmark\n");
    let _ = writeln!(
        out,
        "Machine: {} ({} cores, {:.0} GiB), Linux {}, {}. Started {}, took {:.0} s, \
         commit {}. Load average before: {}; after: {}. Each figure is the median \
         of its runs (min – max in brackets); {} runs unless the figure says otherwise.\n",
        machine.cpu,
        machine.cores,
        machine.memory_gib,
        machine.kernel,
        machine.rustc,
        machine.started_utc,
        machine.duration_s,
        machine.commit,
        machine.load_average_before,
        machine.load_average_after,
        machine.runs,
    );
    let mut sections: Vec<&str> = Vec::new();
    for row in rows {
        if !sections.contains(&row.section) {
            sections.push(row.section);
        }
    }
    for section in sections {
        let _ = writeln!(out, "## {section}\n");
        let _ = writeln!(
            out,
            "| Figure | Framework | Baseline | Ratio | Target | Met |\n|---|---|---|---|---|---|"
        );
        let in_section: Vec<&Row> = rows.iter().filter(|r| r.section == section).collect();
        for row in &in_section {
            let baseline = match (row.baseline_name, &row.baseline) {
                (Some(name), Some(_)) => {
                    format!("{}: {}", name, spread_cell(row.baseline.as_ref(), row.unit))
                }
                _ => "–".to_string(),
            };
            let met = match row.met() {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                row.figure,
                spread_cell(row.framework.as_ref(), row.unit),
                baseline,
                row.ratio().map(|r| format!("{r:.2}")).unwrap_or_default(),
                row.target.describe(row.unit),
                met,
            );
        }
        let notes: Vec<&&Row> = in_section.iter().filter(|r| !r.note.is_empty()).collect();
        if !notes.is_empty() {
            out.push('\n');
            for row in notes {
                let _ = writeln!(out, "- {}: {}", row.figure, row.note);
            }
        }
        out.push('\n');
    }
    out
}

#[derive(Serialize)]
struct JsonRow<'a> {
    section: &'a str,
    figure: &'a str,
    unit: &'a str,
    framework: Option<&'a Spread>,
    baseline_name: Option<&'a str>,
    baseline: Option<&'a Spread>,
    ratio: Option<f64>,
    target: String,
    met: Option<bool>,
    note: &'a str,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    machine: &'a Machine,
    rows: Vec<JsonRow<'a>>,
}

/// The table as JSON: the machine, then one object per row with every run.
pub fn json(machine: &Machine, rows: &[Row]) -> String {
    let rows = rows
        .iter()
        .map(|row| JsonRow {
            section: row.section,
            figure: &row.figure,
            unit: row.unit,
            framework: row.framework.as_ref(),
            baseline_name: row.baseline_name,
            baseline: row.baseline.as_ref(),
            ratio: row.ratio(),
            target: row.target.describe(row.unit),
            met: row.met(),
            note: &row.note,
        })
        .collect();
    serde_json::to_string_pretty(&JsonReport { machine, rows }).expect("the report serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_judged_on_the_median() {
        let row = Row::new("Start-up", "exec to READY=1", "ms")
            .framework(&[10.0, 30.0, 12.0])
            .target(Target::AtMost(20.0));
        assert_eq!(row.met(), Some(true));
        let ratio = Row::new("HTTP", "requests per second", "req/s")
            .framework(&[90.0])
            .baseline("hyper", &[100.0])
            .target(Target::RatioAtLeast(0.95));
        assert_eq!(ratio.met(), Some(false));
        assert!((ratio.ratio().unwrap() - 0.9).abs() < 1e-9);
    }

    #[test]
    fn markdown_has_a_table_per_section() {
        let rows = vec![
            Row::new("Start-up", "4 workers", "ms")
                .framework(&[1.0, 2.0, 3.0])
                .target(Target::AtMost(20.0))
                .note("measured from exec"),
            Row::new("Memory", "main", "MiB").framework(&[4.0]),
        ];
        let text = markdown(&Machine::describe(3), &rows);
        assert!(text.contains("## Start-up"));
        let row = "| 4 workers | 2.00 ms (1.00 – 3.00) | – |  | ≤ 20.0 ms | yes |";
        assert!(text.contains(row));
        assert!(text.contains("- 4 workers: measured from exec"));
        assert!(text.contains("## Memory"));
        let parsed: serde_json::Value =
            serde_json::from_str(&json(&Machine::describe(3), &rows)).expect("valid JSON");
        assert_eq!(parsed["rows"][0]["met"], true);
    }

    #[test]
    fn dates_from_day_numbers() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_147), (2025, 2, 28));
    }
}
