//! `doctor`: audits the agents' own privacy switches, their local telemetry queues and the credentials
//! within their reach, on this machine. It reads, never writes.
//!
//! Network verification proves what happened; the switches say what the user asked for. Each check is data
//! (`audit/data/doctor.toml`: tool, file, key, expected value, why, source, and where a measurement showed a
//! switch does nothing on its own); [`run`] evaluates them against a home directory and an environment
//! that are values (tests hand in fake ones), and the renderers only print the [`DoctorReport`].

mod eval;
mod files;
mod fix;
mod jsonc;
pub mod render;
mod spec;

pub use fix::fixes;
pub use jsonc::{ParseError, parse as parse_jsonc};

use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The `"schema"` of the JSON document.
pub const SCHEMA: &str = "egress-audit/doctor/v1";

/// What to audit: whose home, which project, which environment, which agent, how strict.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    /// The home directory whose dotfiles are read (`~`).
    pub home: PathBuf,
    /// The project whose `.claude/`, `.gemini/`, `opencode.json` are read; `None` skips project files.
    pub project_dir: Option<PathBuf>,
    /// The environment the agents would start with (the process environment in the CLI).
    pub env: BTreeMap<String, String>,
    /// Only this tool's checks (id, alias or name, e.g. `codex`, `claude`, `cursor`, `credentials`).
    pub agent: Option<String>,
    /// Also judge the hardened-profile checks (auto-update, model fetch, LSP downloads, credential exposure).
    pub hardened: bool,
    /// Prefix for system-wide files (`/etc/claude-code/managed-settings.json`, `/etc/gemini-cli/…`): `/`
    /// in the CLI, a temp dir in tests.
    pub system_root: PathBuf,
}

impl DoctorOptions {
    /// Options for this process: its environment, `/` as system root, no project, no agent filter.
    pub fn new(home: PathBuf) -> Self {
        DoctorOptions {
            home,
            project_dir: None,
            env: std::env::vars().collect(),
            agent: None,
            hardened: false,
            system_root: PathBuf::from("/"),
        }
    }
}

/// A finding's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Fail,
    Unknown,
    Pass,
    NotApplicable,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::NotApplicable => "not-applicable",
            Status::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The smallest edit that turns a failing finding into a passing one.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Fix {
    /// Merge this object into the JSON (JSONC) file.
    Json { file: PathBuf, merge: serde_json::Value },
    /// Merge this table into the TOML file.
    Toml { file: PathBuf, merge: toml::Table },
    /// Merge this mapping into the YAML file.
    Yaml { file: PathBuf, merge: serde_json::Value },
    /// Set this variable in the environment the agent starts from.
    Export { name: String, value: String },
    /// Remove this local queue (files or directory).
    Remove { path: PathBuf },
    /// No file edit can do it: what to do by hand.
    Manual { text: String },
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub id: String,
    pub tool: String,
    pub status: Status,
    /// The file the value came from (or the file that is missing, unreadable or malformed).
    pub file: Option<PathBuf>,
    /// 1-based line of a parse error in `file`.
    pub line: Option<usize>,
    /// The key (JSON/TOML path, environment variable) that was looked at.
    pub key: Option<String>,
    /// What was found, in words (`false`, `not set (default true)`, `3 files, 2.1 kB`).
    pub found: String,
    pub expected: String,
    pub why: String,
    pub source: String,
    /// Where a measurement shows the switch alone does not remove the traffic it is documented to remove.
    pub known_ineffective: Option<String>,
    /// Judged only with `--hardened`.
    pub hardened: bool,
    pub fix: Option<Fix>,
}

/// Counts and the exit code.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// `pass` (no failure), `fail` (at least one), `error` (usage or input error).
    pub result: &'static str,
    /// 0 no failure (unknown and not-applicable allowed), 1 at least one failure, 2 usage or input error.
    pub exit_code: i32,
    pub pass: usize,
    pub fail: usize,
    pub unknown: usize,
    pub not_applicable: usize,
    /// Tools found on this machine (config directory or binary on `PATH`).
    pub tools_present: Vec<String>,
}

/// The whole audit.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    pub schema: &'static str,
    pub home: PathBuf,
    pub project_dir: Option<PathBuf>,
    pub hardened: bool,
    pub agent: Option<String>,
    pub findings: Vec<Finding>,
    pub summary: Summary,
    /// Usage or input errors (unknown agent, home not a directory, broken shipped data): exit code 2.
    pub errors: Vec<String>,
}

impl DoctorReport {
    /// The finding with this id, if any.
    pub fn finding(&self, id: &str) -> Option<&Finding> {
        self.findings.iter().find(|f| f.id == id)
    }
}

/// Runs every applicable check against `opts` (never writes, never fails: problems become findings or errors).
pub fn run(opts: &DoctorOptions) -> DoctorReport {
    let mut report = DoctorReport {
        schema: SCHEMA,
        home: opts.home.clone(),
        project_dir: opts.project_dir.clone(),
        hardened: opts.hardened,
        agent: opts.agent.clone(),
        findings: Vec::new(),
        summary: Summary::default(),
        errors: Vec::new(),
    };
    match spec::shipped() {
        Ok(spec) => eval::evaluate(&spec, opts, &mut report),
        Err(e) => report.errors.push(e),
    }
    summarize(&mut report);
    report
}

fn summarize(r: &mut DoctorReport) {
    let count = |s: Status| r.findings.iter().filter(|f| f.status == s).count();
    let (pass, fail, unknown, not_applicable) =
        (count(Status::Pass), count(Status::Fail), count(Status::Unknown), count(Status::NotApplicable));
    let (result, exit_code) = if !r.errors.is_empty() {
        ("error", 2)
    } else if fail > 0 {
        ("fail", 1)
    } else {
        ("pass", 0)
    };
    let tools_present = std::mem::take(&mut r.summary.tools_present);
    r.summary = Summary { result, exit_code, pass, fail, unknown, not_applicable, tools_present };
}
