//! `egress-audit logs`: judge what a resolver or firewall already logged.
//!
//! Each file is read line by line (memory stays flat however long the log), its format detected from
//! its content ([`detect`]), and every line turned into [`Event`]s by the format's parser: a question,
//! an answer, a block, a failure, or — for firewalls — a connection allowed or denied. [`aggregate`]
//! folds the events per name and judges each name with the same catalog, policy and
//! [`crate::classify::judge`] as `replay`; [`render`] writes the report.
//!
//! What counts as a violation (exit 1): a name the policy denies that the log shows **answered**
//! (resolved to an address, or a connection the firewall let through), or one whose outcome the log
//! does not record at all (a query log without replies cannot prove the block). A denied name that
//! was only **blocked** (0.0.0.0, NXDOMAIN or REFUSED from the blocker's own rule, a firewall deny)
//! is what a hardened setup should show and is reported as `denied-and-blocked`, not a violation.
//! A denied name that merely failed upstream (NXDOMAIN, SERVFAIL from the Internet) resolved to
//! nothing and is reported as `denied-failed`, not a violation.

pub mod aggregate;
mod clock;
mod csv;
pub mod detect;
mod formats;
pub mod model;
mod ocsf;
mod read;
pub mod render;

pub use clock::Clock;
pub use detect::InputFormat;

use crate::catalog::Catalog;
use crate::policy::Policy;
use crate::source::Nanos;
use std::path::PathBuf;

/// What one log line recorded about one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub time: Option<Nanos>,
    /// The name as logged (normalized when aggregated).
    pub name: String,
    pub kind: Kind,
    /// Query type (A, AAAA, HTTPS…), where logged.
    pub qtype: Option<String>,
    /// The client that asked (resolver logs) or the local address (firewalls).
    pub client: Option<String>,
    /// An answer (address, CNAME, rcode text) or the firewall's destination address.
    pub answer: Option<String>,
    /// Why it was blocked or failed: the blocker's list or rule, the rcode.
    pub detail: Option<String>,
    /// The process that opened the connection (firewalls that record it).
    pub process: Option<String>,
}

impl Event {
    pub fn new(time: Option<Nanos>, name: impl Into<String>, kind: Kind) -> Event {
        Event { time, name: name.into(), kind, qtype: None, client: None, answer: None, detail: None, process: None }
    }
}

/// The kinds of record a resolver or firewall log holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A question was asked (or a connection attempted).
    Query,
    /// The resolver gave an answer with data, or the firewall let the connection through.
    Answered,
    /// The resolver's or firewall's own rule stopped it.
    Blocked,
    /// No data came back for another reason (NXDOMAIN/SERVFAIL/REFUSED upstream, timeout).
    Failed,
    /// More about an outcome already counted (one more answer record): adds detail, not a count.
    Detail,
}

/// One `logs` run.
pub struct LogsConfig {
    pub files: Vec<PathBuf>,
    /// `None` detects each file's format from its content.
    pub format: Option<InputFormat>,
    pub catalog: Catalog,
    pub policy: Policy,
    /// Local time zone and year for formats that log neither (syslog's `Nov 27 09:45:08`).
    pub clock: Clock,
}

/// Reads every file and judges what they recorded.
pub fn run(config: &LogsConfig) -> model::LogsReport {
    let mut agg = aggregate::Aggregator::new(&config.catalog, &config.policy);
    for path in &config.files {
        read::read_file(path, config.format, &config.clock, &mut agg);
    }
    agg.finish()
}
