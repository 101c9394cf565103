//! Folds events per name and judges each name once with the catalog and policy.
//!
//! Everything that came from a log is escaped here ([`printable_str`]), once, so no renderer can
//! write a control character or invalid UTF-8 from a hostile log to a terminal.

use super::model::{
    FileStats, Finding, LogsReport, MALFORMED_SHOWN, MalformedLine, NameReport, PolicyRef, SCHEMA, Summary, Tool,
};
use super::{Event, Kind};
use crate::catalog::Catalog;
use crate::classify::{Judgement, Subject, judge};
use crate::flows::normalize_host;
use crate::policy::{Policy, Verdict};
use crate::report::time::rfc3339;
use crate::source::Nanos;
use crate::text::{printable, printable_str};
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;

const MAX_ANSWERS: usize = 8;
const MAX_CLIENTS: usize = 16;
const MAX_PROCESSES: usize = 16;
const MAX_DETAILS: usize = 8;
const MAX_QTYPES: usize = 16;

struct Entry {
    judgement: Judgement,
    queries: u64,
    answered: u64,
    blocked: u64,
    failed: u64,
    first: Option<Nanos>,
    last: Option<Nanos>,
    qtypes: BTreeSet<String>,
    answers: BTreeSet<String>,
    clients: BTreeSet<String>,
    processes: BTreeSet<String>,
    details: BTreeSet<String>,
    formats: BTreeSet<&'static str>,
}

pub struct Aggregator<'a> {
    catalog: &'a Catalog,
    policy: &'a Policy,
    names: FxHashMap<String, Entry>,
    files: Vec<FileStats>,
    errors: Vec<String>,
}

fn add_capped(set: &mut BTreeSet<String>, value: Option<&str>, cap: usize) {
    if let Some(v) = value.filter(|v| !v.is_empty())
        && set.len() < cap
    {
        set.insert(printable_str(v));
    }
}

impl<'a> Aggregator<'a> {
    pub fn new(catalog: &'a Catalog, policy: &'a Policy) -> Aggregator<'a> {
        Aggregator { catalog, policy, names: FxHashMap::default(), files: Vec::new(), errors: Vec::new() }
    }

    pub fn input_error(&mut self, _path: &str, message: String) {
        self.errors.push(printable_str(&message));
    }

    pub fn malformed(&mut self, stats: &mut FileStats, line: u64, reason: &'static str, text: &[u8]) {
        stats.malformed += 1;
        if stats.malformed_lines.len() < MALFORMED_SHOWN {
            stats.malformed_lines.push(MalformedLine { line, reason, text: printable(&text[..text.len().min(160)]) });
        }
    }

    pub fn end_file(&mut self, stats: FileStats) {
        self.files.push(stats);
    }

    pub fn event(&mut self, e: Event, stats: &mut FileStats) {
        if let Some(t) = e.time {
            stats.first_ns = Some(stats.first_ns.map_or(t, |f| f.min(t)));
            stats.last_ns = Some(stats.last_ns.map_or(t, |l| l.max(t)));
        }
        let name = printable_str(&normalize_host(&e.name));
        if name.is_empty() {
            return;
        }
        let entry = match self.names.get_mut(&name) {
            Some(entry) => entry,
            None => {
                let judgement =
                    judge(Subject { host: Some(&name), path: None, server: None }, self.catalog, self.policy);
                self.names.entry(name).or_insert(Entry {
                    judgement,
                    queries: 0,
                    answered: 0,
                    blocked: 0,
                    failed: 0,
                    first: None,
                    last: None,
                    qtypes: BTreeSet::new(),
                    answers: BTreeSet::new(),
                    clients: BTreeSet::new(),
                    processes: BTreeSet::new(),
                    details: BTreeSet::new(),
                    formats: BTreeSet::new(),
                })
            }
        };
        match e.kind {
            Kind::Query => entry.queries += 1,
            Kind::Answered => entry.answered += 1,
            Kind::Blocked => entry.blocked += 1,
            Kind::Failed => entry.failed += 1,
            Kind::Detail => {}
        }
        if let Some(t) = e.time {
            entry.first = Some(entry.first.map_or(t, |f| f.min(t)));
            entry.last = Some(entry.last.map_or(t, |l| l.max(t)));
        }
        if let Some(f) = stats.format {
            entry.formats.insert(f.as_str());
        }
        add_capped(&mut entry.qtypes, e.qtype.as_deref(), MAX_QTYPES);
        add_capped(&mut entry.answers, e.answer.as_deref(), MAX_ANSWERS);
        add_capped(&mut entry.clients, e.client.as_deref(), MAX_CLIENTS);
        add_capped(&mut entry.processes, e.process.as_deref(), MAX_PROCESSES);
        add_capped(&mut entry.details, e.detail.as_deref(), MAX_DETAILS);
    }

    pub fn finish(mut self) -> LogsReport {
        for f in &mut self.files {
            f.first_seen = f.first_ns.map(rfc3339);
            f.last_seen = f.last_ns.map(rfc3339);
        }
        let mut names: Vec<NameReport> = self.names.into_iter().map(|(name, e)| name_report(name, e)).collect();
        names.sort_by(|a, b| (a.finding, &a.name).cmp(&(b.finding, &b.name)));
        let count = |f: Finding| names.iter().filter(|n| n.finding == f).count();
        let mut s = Summary {
            files: self.files.len(),
            lines: self.files.iter().map(|f| f.lines).sum(),
            malformed_lines: self.files.iter().map(|f| f.malformed).sum(),
            names: names.len(),
            queries: names.iter().map(|n| n.queries).sum(),
            denied_but_answered: count(Finding::DeniedButAnswered),
            denied_unresolved: count(Finding::DeniedUnresolved),
            denied_and_blocked: count(Finding::DeniedAndBlocked),
            denied_failed: count(Finding::DeniedFailed),
            warnings: count(Finding::Warn),
            allowed_but_blocked: count(Finding::AllowedButBlocked),
            allowed: count(Finding::Allowed),
            ..Summary::default()
        };
        s.violations = s.denied_but_answered + s.denied_unresolved;
        (s.result, s.exit_code) = if !self.errors.is_empty() {
            ("error", 2)
        } else if s.violations > 0 {
            ("fail", 1)
        } else {
            ("pass", 0)
        };
        LogsReport {
            schema: SCHEMA,
            tool: Tool { name: "egress-audit", version: env!("CARGO_PKG_VERSION") },
            policy: PolicyRef { name: printable_str(&self.policy.name), origin: printable_str(&self.policy.origin) },
            files: self.files,
            names,
            summary: s,
            errors: self.errors,
        }
    }
}

/// The finding: the policy's verdict read against what the log shows happened.
fn finding(verdict: Verdict, e: &Entry) -> Finding {
    match verdict {
        Verdict::Violation if e.answered > 0 => Finding::DeniedButAnswered,
        Verdict::Violation if e.blocked > 0 => Finding::DeniedAndBlocked,
        Verdict::Violation if e.failed > 0 => Finding::DeniedFailed,
        Verdict::Violation => Finding::DeniedUnresolved,
        Verdict::Warn => Finding::Warn,
        Verdict::Allow if e.blocked > 0 && e.answered == 0 => Finding::AllowedButBlocked,
        Verdict::Allow => Finding::Allowed,
    }
}

fn name_report(name: String, e: Entry) -> NameReport {
    let j = &e.judgement;
    NameReport {
        finding: finding(j.verdict, &e),
        class: j.class,
        tool: j.tool.as_deref().map(str::to_string),
        rule: j.rule.as_deref().map(str::to_string),
        verdict: j.verdict,
        reason: j.reason.to_string(),
        name,
        queries: e.queries,
        answered: e.answered,
        blocked: e.blocked,
        failed: e.failed,
        first_seen: e.first.map(rfc3339),
        last_seen: e.last.map(rfc3339),
        qtypes: e.qtypes.into_iter().collect(),
        answers: e.answers.into_iter().collect(),
        clients: e.clients.into_iter().collect(),
        processes: e.processes.into_iter().collect(),
        details: e.details.into_iter().collect(),
        formats: e.formats.into_iter().map(str::to_string).collect(),
    }
}
