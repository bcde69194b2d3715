//! Results: a table on stdout and a JSON document in `bench-results/<name>.json`, both carrying
//! the machine, the exact command and every target with whether it was met.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use serde_json::{Value, json};

/// One target from the issues, checked against a measurement.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    /// The target in words, e.g. `< 10 ms`.
    pub goal: String,
    pub measured: String,
    pub met: bool,
}

impl Target {
    pub fn new(name: &str, goal: &str, measured: String, met: bool) -> Self {
        Self {
            name: name.to_owned(),
            goal: goal.to_owned(),
            measured,
            met,
        }
    }

    fn to_json(&self) -> Value {
        json!({"name": self.name, "goal": self.goal, "measured": self.measured, "met": self.met})
    }
}

/// A table to print: a title, column headers and rows.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(title: &str, headers: &[&str]) -> Self {
        Self {
            title: title.to_owned(),
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn print(&self) {
        println!("\n{}", self.title);
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(String::len).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .enumerate()
                .take(columns)
                .map(|(i, c)| format!("{c:<width$}", width = widths[i]))
                .collect();
            println!("  {}", padded.join("  ").trim_end());
        };
        line(&self.headers);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(&rule);
        for row in &self.rows {
            line(row);
        }
    }
}

pub fn print_targets(targets: &[Target]) {
    let mut table = Table::new("Targets", &["target", "goal", "measured", "met"]);
    for t in targets {
        table.row(vec![
            t.name.clone(),
            t.goal.clone(),
            t.measured.clone(),
            if t.met { "yes" } else { "NO" }.to_owned(),
        ]);
    }
    table.print();
}

/// What the results were measured on.
pub fn machine() -> Value {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let memory_kib = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        })
        .unwrap_or(0);
    json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": cpu,
        "memoryMiB": memory_kib / 1024,
        "kernel": fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "loadAverage": load_average(),
    })
}

/// `/proc/loadavg`'s 1-minute figure: other work on the machine skews every number here.
pub fn load_average() -> f64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// The command line that produced these results.
pub fn command_line() -> String {
    let mut args = std::env::args();
    let program = args
        .next()
        .map(|p| {
            Path::new(&p)
                .file_name()
                .map(|n| format!("target/release/{}", n.to_string_lossy()))
                .unwrap_or(p)
        })
        .unwrap_or_default();
    std::iter::once(program)
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes `<out>/<name>.json` and returns its path.
pub fn write(
    out_dir: &Path,
    name: &str,
    parameters: Value,
    results: Value,
    targets: &[Target],
    load_before: f64,
) -> anyhow::Result<PathBuf> {
    fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let finished = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut machine = machine();
    machine["loadAverageBefore"] = json!(load_before);
    let document = json!({
        "benchmark": name,
        "command": command_line(),
        "finishedAtUnix": finished,
        "machine": machine,
        "parameters": parameters,
        "results": results,
        "targets": targets.iter().map(Target::to_json).collect::<Vec<_>>(),
    });
    let path = out_dir.join(format!("{name}.json"));
    fs::write(&path, serde_json::to_string_pretty(&document)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// `reverb-bench summary`: every target of every result file in `out_dir`.
pub fn summary(out_dir: &Path) -> anyhow::Result<bool> {
    let mut table = Table::new(
        "Summary (bench-results/*.json)",
        &["benchmark", "target", "goal", "measured", "met"],
    );
    let mut all_met = true;
    let mut names: Vec<PathBuf> = fs::read_dir(out_dir)
        .with_context(|| format!("reading {}", out_dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    names.sort();
    for path in names {
        let text = fs::read_to_string(&path)?;
        let document: Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let bench = document["benchmark"].as_str().unwrap_or("?").to_owned();
        for target in document["targets"].as_array().into_iter().flatten() {
            let met = target["met"].as_bool().unwrap_or(false);
            all_met &= met;
            table.row(vec![
                bench.clone(),
                target["name"].as_str().unwrap_or("").to_owned(),
                target["goal"].as_str().unwrap_or("").to_owned(),
                target["measured"].as_str().unwrap_or("").to_owned(),
                if met { "yes" } else { "NO" }.to_owned(),
            ]);
        }
    }
    table.print();
    Ok(all_met)
}

pub fn fmt_ms(ms: f64) -> String {
    format!("{ms:.2} ms")
}

pub fn fmt_mib(mib: f64) -> String {
    format!("{mib:.1} MiB")
}
