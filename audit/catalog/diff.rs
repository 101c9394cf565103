//! Policy drift: an existing allowlist or denylist compared with the catalog and a policy.
//!
//! - An **allowlist** (a devcontainer firewall script's domains, Little Snitch allow rules) is
//!   checked for what it lets through that the policy denies (telemetry, error reporting, another
//!   vendor's model…), and for what the policy allows that it misses (the chosen model would be
//!   blocked).
//! - A **denylist** (a Pi-hole list, `.lsrules` denied domains) is checked for what it blocks that
//!   the policy allows (the chosen model, opted-in hosts), and for catalog names the policy denies
//!   that it does not block.
//!
//! A listed entry is an exact name, `*.name` (strict sub-domains) or `.name` (the name and its
//! sub-domains, Squid and Little Snitch "domain" style). A domain entry also covers every catalog
//! name under it.

use super::{Catalog, Class, import};
use crate::classify::{Subject, judge};
use crate::policy::{HostPattern, Policy, Verdict};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt::{self, Write as _};
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ListKind {
    Allowlist,
    Denylist,
}

impl FromStr for ListKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "allowlist" | "allow" => Ok(ListKind::Allowlist),
            "denylist" | "deny" | "blocklist" => Ok(ListKind::Denylist),
            _ => Err(format!("unknown list kind {s:?} (expected allowlist or denylist)")),
        }
    }
}

impl fmt::Display for ListKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ListKind::Allowlist => "allowlist",
            ListKind::Denylist => "denylist",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffEntry {
    /// The list entry concerned (`None` for names the list misses).
    pub listed: Option<String>,
    /// The name judged: the listed name, or a catalog pattern under a listed domain.
    pub host: String,
    pub class: Class,
    pub tool: Option<String>,
    pub rule: Option<String>,
    pub verdict: Verdict,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffReport {
    pub kind: ListKind,
    pub policy: String,
    /// Entries read from the list.
    pub listed: usize,
    /// Allowlist: what it lets through that the policy denies.
    pub lets_through: Vec<DiffEntry>,
    /// Allowlist: names the policy allows that the list does not (they would be blocked).
    pub misses_allowed: Vec<DiffEntry>,
    /// Denylist: what it blocks that the policy allows (the chosen model needs it).
    pub blocks_allowed: Vec<DiffEntry>,
    /// Denylist: catalog names the policy denies that it does not block.
    pub misses_denied: Vec<DiffEntry>,
    /// Listed names the catalog does not classify.
    pub unknown: Vec<String>,
}

/// A listed entry, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listed {
    text: String,
    name: String,
    /// Covers the name itself.
    apex: bool,
    /// Covers the name's sub-domains.
    subdomains: bool,
}

fn parse_entry(raw: &str) -> Option<Listed> {
    let text = raw.trim().to_string();
    let (name, apex, subdomains) = if let Some(rest) = text.strip_prefix("*.") {
        (rest, false, true)
    } else if let Some(rest) = text.strip_prefix('.') {
        (rest, true, true)
    } else {
        (text.as_str(), true, false)
    };
    let name = import::normalize_name(name).ok()?;
    Some(Listed { text: text.clone(), name, apex, subdomains })
}

impl Listed {
    fn covers(&self, host: &str) -> bool {
        (self.apex && host == self.name)
            || (self.subdomains && host.len() > self.name.len() + 1 && host.ends_with(&format!(".{}", self.name)))
    }

    /// Whether this entry covers the pattern `*.suffix` entirely.
    fn covers_subdomains_of(&self, suffix: &str) -> bool {
        self.subdomains && (suffix == self.name || self.covers(suffix))
    }
}

fn entry(catalog: &Catalog, policy: &Policy, listed: Option<&str>, host: &str) -> DiffEntry {
    let j = judge(Subject { host: Some(host), path: None, server: None }, catalog, policy);
    DiffEntry {
        listed: listed.map(str::to_string),
        host: host.to_string(),
        class: j.class,
        tool: j.tool.as_deref().map(str::to_string),
        rule: j.rule.as_deref().map(str::to_string),
        verdict: j.verdict,
        reason: j.reason.to_string(),
    }
}

/// Compares `list` (entries as described in the module docs) with the catalog under `policy`.
pub fn diff(catalog: &Catalog, policy: &Policy, list: &[String], kind: ListKind) -> DiffReport {
    let listed: Vec<Listed> = list.iter().filter_map(|s| parse_entry(s)).collect();
    let mut report = DiffReport {
        kind,
        policy: policy.name.clone(),
        listed: listed.len(),
        lets_through: Vec::new(),
        misses_allowed: Vec::new(),
        blocks_allowed: Vec::new(),
        misses_denied: Vec::new(),
        unknown: Vec::new(),
    };
    // Catalog host patterns (host-level), as probes: `name` or `*.suffix`.
    let probes: BTreeSet<String> = catalog
        .exact
        .iter()
        .filter(|(_, s)| s.host_level.is_some())
        .map(|(k, _)| k.clone())
        .chain(catalog.suffix.iter().filter(|(_, s)| s.host_level.is_some()).map(|(k, _)| format!("*.{k}")))
        .collect();
    let covered_by_list = |probe: &str| match probe.strip_prefix("*.") {
        Some(suffix) => listed.iter().find(|l| l.covers_subdomains_of(suffix)),
        None => listed.iter().find(|l| l.covers(probe)),
    };
    let mut seen = BTreeSet::new();
    let wrong = |v: Verdict| match kind {
        ListKind::Allowlist => v == Verdict::Violation,
        ListKind::Denylist => v == Verdict::Allow,
    };
    let push = |report: &mut DiffReport, e: DiffEntry| match kind {
        ListKind::Allowlist => report.lets_through.push(e),
        ListKind::Denylist => report.blocks_allowed.push(e),
    };
    for l in &listed {
        let probe = if l.apex { l.name.clone() } else { format!("*.{}", l.name) };
        let e = entry(catalog, policy, Some(&l.text), &probe);
        if e.rule.is_none() && !policy.allows_model(&probe) && !policy.opts_in_host(&probe) {
            report.unknown.push(l.text.clone());
        } else if wrong(e.verdict) && seen.insert(probe.clone()) {
            push(&mut report, e);
        }
    }
    for probe in &probes {
        if let Some(l) = covered_by_list(probe) {
            let e = entry(catalog, policy, Some(&l.text), probe);
            if wrong(e.verdict) && !matches!(e.class, Class::Local | Class::Unknown) && seen.insert(probe.clone()) {
                push(&mut report, e);
            }
        } else {
            let e = entry(catalog, policy, None, probe);
            let missed = match kind {
                ListKind::Allowlist => e.verdict == Verdict::Allow && e.class == Class::Model,
                ListKind::Denylist => e.verdict == Verdict::Violation && e.class != Class::Unknown,
            };
            if missed {
                match kind {
                    ListKind::Allowlist => report.misses_allowed.push(e),
                    ListKind::Denylist => report.misses_denied.push(e),
                }
            }
        }
    }
    if kind == ListKind::Allowlist {
        // The policy's own model endpoints and opted-in hosts, even when the catalog does not list them.
        for p in policy.model_allow.iter().chain(policy.opt_in_hosts.iter()) {
            let probe = match p {
                HostPattern::Any => continue,
                HostPattern::Exact(h) => h.clone(),
                HostPattern::Subdomains(dot) => format!("*{dot}"),
            };
            if covered_by_list(&probe).is_none() && !report.misses_allowed.iter().any(|e| e.host == probe) {
                let e = entry(catalog, policy, None, &probe);
                if e.verdict == Verdict::Allow {
                    report.misses_allowed.push(e);
                }
            }
        }
    }
    for v in
        [&mut report.lets_through, &mut report.misses_allowed, &mut report.blocks_allowed, &mut report.misses_denied]
    {
        v.sort_by(|a, b| (a.class, &a.host).cmp(&(b.class, &b.host)));
    }
    report
}

impl DiffReport {
    /// Plain text for a terminal.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{} of {} entries compared with policy {}", self.kind, self.listed, self.policy);
        let section = |out: &mut String, title: &str, v: &[DiffEntry]| {
            if v.is_empty() {
                return;
            }
            let _ = writeln!(out, "\n{title} ({}):", v.len());
            for e in v {
                let via =
                    e.listed.as_deref().filter(|l| *l != e.host).map(|l| format!(" (via {l})")).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  {}{via}\t{}\t{}\t{}\t{}",
                    e.host,
                    e.class,
                    e.tool.as_deref().unwrap_or("-"),
                    e.rule.as_deref().unwrap_or("-"),
                    e.reason
                );
            }
        };
        section(&mut out, "lets through what the policy denies", &self.lets_through);
        section(&mut out, "misses what the policy allows (it would be blocked)", &self.misses_allowed);
        section(&mut out, "blocks what the policy allows", &self.blocks_allowed);
        section(&mut out, "does not block what the policy denies", &self.misses_denied);
        if !self.unknown.is_empty() {
            let _ = writeln!(out, "\nnot in the catalog ({}): {}", self.unknown.len(), self.unknown.join(" "));
        }
        out
    }

    /// Nothing the list lets through or blocks contradicts the policy.
    pub fn is_clean(&self) -> bool {
        self.lets_through.is_empty() && self.blocks_allowed.is_empty() && self.misses_allowed.is_empty()
    }
}

/// Which syntax [`parse_list`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// Little Snitch `.lsrules` JSON.
    Lsrules,
    /// A shell script (devcontainer firewall): host-name tokens.
    Script,
    /// A block list [`import`](super::import) reads (hosts, domains, AdGuard, dnsmasq).
    Blocklist(import::ImportFormat),
}

/// The entries of a list file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedList {
    pub format: ListFormat,
    /// What the file says it is, when it says (`.lsrules` deny keys, a firewall script).
    pub kind: Option<ListKind>,
    /// `name`, `*.name` or `.name` entries (see the module docs).
    pub hosts: Vec<String>,
}

/// Reads the entries of an allowlist or denylist file: `.lsrules` JSON (denied-remote-domains and
/// -hosts, and `rules` with their action), a firewall script (every token that looks like a host
/// name outside comments: `for domain in "a.com" "b.com"`, `$(dig +short a.com)`, …), or any block
/// list format [`import`](super::import) reads.
pub fn parse_list(text: &str) -> Result<ParsedList, import::ImportError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        return parse_lsrules(text);
    }
    let looks_like_script = trimmed.starts_with("#!")
        || ["iptables", "ipset", "nft ", "dig ", "for domain", "$("].iter().any(|m| text.contains(m));
    if !looks_like_script {
        let format = import::ImportFormat::Auto.resolve(text);
        if format != import::ImportFormat::Toml
            && let Ok(imported) = import::import(text, "list", format, Class::Telemetry, "list")
        {
            let mut hosts: Vec<String> = Vec::new();
            for r in &imported.rules {
                hosts.push(r.host.clone());
            }
            return Ok(ParsedList { format: ListFormat::Blocklist(format), kind: None, hosts });
        }
    }
    Ok(ParsedList { format: ListFormat::Script, kind: Some(ListKind::Allowlist), hosts: script_hosts(text) })
}

fn parse_lsrules(text: &str) -> Result<ParsedList, import::ImportError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| import::ImportError {
        origin: "lsrules".into(),
        line: e.line(),
        message: e.to_string(),
    })?;
    let strings = |v: Option<&serde_json::Value>| -> Vec<String> {
        match v {
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
            _ => Vec::new(),
        }
    };
    let mut deny: Vec<String> = Vec::new();
    let mut allow: Vec<String> = Vec::new();
    deny.extend(strings(value.get("denied-remote-domains")).into_iter().map(|d| format!(".{d}")));
    deny.extend(strings(value.get("denied-remote-hosts")));
    if let Some(rules) = value.get("rules").and_then(|r| r.as_array()) {
        for rule in rules {
            let target = match rule.get("action").and_then(|a| a.as_str()) {
                Some("allow") => &mut allow,
                Some("deny") => &mut deny,
                _ => continue,
            };
            target.extend(strings(rule.get("remote-domains")).into_iter().map(|d| format!(".{d}")));
            target.extend(strings(rule.get("remote-hosts")));
        }
    }
    let (kind, hosts) = if deny.is_empty() { (ListKind::Allowlist, allow) } else { (ListKind::Denylist, deny) };
    Ok(ParsedList { format: ListFormat::Lsrules, kind: Some(kind), hosts })
}

/// File extensions and words that look like host names in scripts but are not.
const NOT_TLDS: [&str; 24] = [
    "sh", "bash", "txt", "json", "conf", "log", "py", "js", "md", "toml", "yaml", "yml", "d", "list", "lock", "rs",
    "html", "deb", "gz", "tar", "zip", "pem", "crt", "key",
];

fn looks_like_host(token: &str) -> bool {
    let bare = token.strip_prefix("*.").unwrap_or(token);
    let labels: Vec<&str> = bare.split('.').collect();
    let Some(tld) = labels.last() else { return false };
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && tld.len() >= 2
        && tld.bytes().all(|b| b.is_ascii_alphabetic())
        && !NOT_TLDS.contains(&tld.to_ascii_lowercase().as_str())
}

/// Host-name tokens of a script, first occurrence order, comments excluded.
fn script_hosts(text: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut hosts = Vec::new();
    for line in text.lines() {
        let code = line.trim_start();
        if code.starts_with('#') {
            continue;
        }
        let code = code.split(" #").next().unwrap_or(code);
        for token in code.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '*' | '_'))) {
            let token = token.trim_matches('.');
            if looks_like_host(token) {
                let host = token.to_ascii_lowercase();
                if seen.insert(host.clone()) {
                    hosts.push(host);
                }
            }
        }
    }
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_tokens() {
        let s = "#!/bin/bash\n# allow evil.example\nfor domain in \"api.anthropic.com\" \"sentry.io\"; do\n  ipset add allowed $(dig +short statsig.com)\ndone\nsource /etc/init.d/x.sh\n";
        assert_eq!(script_hosts(s), vec!["api.anthropic.com", "sentry.io", "statsig.com"]);
    }
}
