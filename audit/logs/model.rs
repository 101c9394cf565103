//! The `logs` report: one value, schema `egress-audit/logs/v1`
//! (reports/egress-audit-logs.v1.schema.json), that every renderer only presents.

use super::InputFormat;
use crate::catalog::Class;
use crate::policy::Verdict;
use serde::{Serialize, Serializer};

pub const SCHEMA: &str = "egress-audit/logs/v1";

/// At most this many lines are quoted per file; the rest are counted.
pub const MALFORMED_SHOWN: usize = 20;

#[derive(Debug, Serialize)]
pub struct LogsReport {
    pub schema: &'static str,
    pub tool: Tool,
    pub policy: PolicyRef,
    pub files: Vec<FileStats>,
    /// One entry per name, violations first.
    pub names: Vec<NameReport>,
    pub summary: Summary,
    /// Input errors (unreadable file, unknown format): exit code 2.
    pub errors: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Serialize)]
pub struct PolicyRef {
    pub name: String,
    pub origin: String,
}

#[derive(Debug, Serialize)]
pub struct FileStats {
    pub path: String,
    #[serde(serialize_with = "format_name")]
    pub format: Option<InputFormat>,
    /// The zone timestamps without an offset were read in.
    pub time_zone: String,
    pub lines: u64,
    /// Lines that recorded a question, answer, block or connection.
    pub used: u64,
    /// Lines of the format that say nothing about a name (startup, statistics), blank lines, and
    /// other programs' lines in a shared syslog file.
    pub ignored: u64,
    pub malformed: u64,
    /// The first [`MALFORMED_SHOWN`] malformed lines.
    pub malformed_lines: Vec<MalformedLine>,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    #[serde(skip)]
    pub first_ns: Option<i64>,
    #[serde(skip)]
    pub last_ns: Option<i64>,
}

impl FileStats {
    pub fn new(path: &str, time_zone: String) -> FileStats {
        FileStats {
            path: crate::text::printable_str(path),
            format: None,
            time_zone,
            lines: 0,
            used: 0,
            ignored: 0,
            malformed: 0,
            malformed_lines: Vec::new(),
            first_seen: None,
            last_seen: None,
            first_ns: None,
            last_ns: None,
        }
    }
}

fn format_name<S: Serializer>(f: &Option<InputFormat>, s: S) -> Result<S::Ok, S::Error> {
    match f {
        Some(f) => s.serialize_str(f.as_str()),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Serialize)]
pub struct MalformedLine {
    pub line: u64,
    pub reason: &'static str,
    /// The line's first 160 bytes, escaped.
    pub text: String,
}

/// What the log shows for a name, read against the policy's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Finding {
    /// Denied by the policy and the log shows it answered (or the connection allowed): a violation.
    DeniedButAnswered,
    /// Denied, and the log records the question but no outcome: it cannot prove the block, a violation.
    DeniedUnresolved,
    /// Denied and stopped by the resolver's or firewall's own rule: what a hardened setup shows.
    DeniedAndBlocked,
    /// Denied, and it failed upstream (NXDOMAIN, SERVFAIL, timeout): nothing was resolved.
    DeniedFailed,
    /// The policy warns (unknown name, unlisted local destination).
    Warn,
    /// Allowed by the policy but blocked: the agent may not work (e.g. its model endpoint is blocked).
    AllowedButBlocked,
    Allowed,
}

impl Finding {
    pub fn as_str(self) -> &'static str {
        match self {
            Finding::DeniedButAnswered => "denied-but-answered",
            Finding::DeniedUnresolved => "denied-unresolved",
            Finding::DeniedAndBlocked => "denied-and-blocked",
            Finding::DeniedFailed => "denied-failed",
            Finding::Warn => "warn",
            Finding::AllowedButBlocked => "allowed-but-blocked",
            Finding::Allowed => "allowed",
        }
    }

    pub fn is_violation(self) -> bool {
        matches!(self, Finding::DeniedButAnswered | Finding::DeniedUnresolved)
    }
}

#[derive(Debug, Serialize)]
pub struct NameReport {
    pub name: String,
    pub class: Class,
    pub tool: Option<String>,
    pub rule: Option<String>,
    pub verdict: Verdict,
    pub reason: String,
    pub finding: Finding,
    /// Questions asked (or connections attempted).
    pub queries: u64,
    /// Answers with data (or connections let through).
    pub answered: u64,
    pub blocked: u64,
    pub failed: u64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub qtypes: Vec<String>,
    /// Distinct answers (addresses, `<CNAME>`, rcodes), at most 8.
    pub answers: Vec<String>,
    /// Distinct clients, at most 16.
    pub clients: Vec<String>,
    /// Processes that opened the connections (firewall logs), at most 16.
    pub processes: Vec<String>,
    /// Why it was blocked or failed (rule, list, rcode), at most 8 distinct.
    pub details: Vec<String>,
    /// Formats of the files it appeared in.
    pub formats: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// `pass`, `fail` (violations) or `error` (input errors).
    pub result: &'static str,
    pub exit_code: i32,
    pub files: usize,
    pub lines: u64,
    pub malformed_lines: u64,
    pub names: usize,
    pub queries: u64,
    /// Names whose finding is a violation (denied-but-answered + denied-unresolved).
    pub violations: usize,
    pub denied_but_answered: usize,
    pub denied_unresolved: usize,
    pub denied_and_blocked: usize,
    pub denied_failed: usize,
    pub warnings: usize,
    pub allowed_but_blocked: usize,
    pub allowed: usize,
}
