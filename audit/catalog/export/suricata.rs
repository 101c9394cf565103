//! Suricata rules (7.x keywords): one rule per catalog entry and buffer — `tls.sni`, `quic.sni`,
//! `dns.query`, `http.host` (with `http.uri` for path rules).
//!
//! - `alert` for what the policy judges a violation (classtype `policy-violation`) or a warning
//!   (`misc-activity`); `pass` for the policy's model endpoint (`not-suspicious`). Other allowed
//!   names get no rule: a `pass` silences every other rule on the flow, so it is kept to the
//!   endpoint the user chose.
//! - The catalog's most-specific-wins lookup is reproduced with negated `pcre` exclusions: a
//!   `*.x` rule does not fire for a more specific catalog name under x, and a host rule does not
//!   fire on HTTP requests whose path has a rule of its own. So one request matches one rule, and
//!   its metadata (`egress_class`, `tool`, `egress_verdict`, `egress_policy`, `egress_rule`) is the
//!   catalog's answer.
//! - `sid`s are stable: FNV-1a (64 bit) of action, buffer, host pattern and path, mapped into
//!   [`SID_BASE`, `SID_BASE` + `SID_SPAN`) — a range of its own, outside the local-use range
//!   (1,000,000–1,999,999) and the public rule sets', and below 2^31 for tools that store sids as
//!   signed integers. A collision inside one export takes the next free sid and is noted.

use super::detect::{DetectPlan, Detection, HostKey, safe_text};
use crate::policy::{Policy, Verdict};
use std::collections::BTreeSet;
use std::fmt::Write as _;

pub const SID_BASE: u32 = 1_970_000_000;
pub const SID_SPAN: u32 = 10_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Buffer {
    TlsSni,
    QuicSni,
    DnsQuery,
    HttpHost,
}

impl Buffer {
    const HOST_LEVEL: [Buffer; 4] = [Buffer::TlsSni, Buffer::QuicSni, Buffer::DnsQuery, Buffer::HttpHost];

    fn proto(self) -> &'static str {
        match self {
            Buffer::TlsSni => "tls",
            Buffer::QuicSni => "quic",
            Buffer::DnsQuery => "dns",
            Buffer::HttpHost => "http",
        }
    }

    fn keyword(self) -> &'static str {
        match self {
            Buffer::TlsSni => "tls.sni",
            Buffer::QuicSni => "quic.sni",
            Buffer::DnsQuery => "dns.query",
            Buffer::HttpHost => "http.host",
        }
    }

    fn flow(self) -> &'static str {
        match self {
            Buffer::TlsSni | Buffer::HttpHost => "flow:established,to_server; ",
            Buffer::QuicSni | Buffer::DnsQuery => "flow:to_server; ",
        }
    }

    /// `http.host` is normalized to lowercase and Suricata rejects `nocase` on it.
    fn nocase(self) -> bool {
        self != Buffer::HttpHost
    }
}

/// FNV-1a, 64 bit: stable across platforms and releases (unlike `std`'s hasher).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The sid a rule gets when nothing collides with it.
pub fn stable_sid(key: &str) -> u32 {
    // The modulus keeps the value below SID_SPAN, so the conversion cannot fail.
    SID_BASE + u32::try_from(fnv1a(key) % u64::from(SID_SPAN)).unwrap_or(0)
}

/// A content string: plain where Suricata allows it, `|hh|` otherwise.
fn content(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        // suricata-check (S120) wants `: ; space " ' { | \ / ` $ ( )` escaped even where Suricata
        // would read them plainly.
        if b.is_ascii_alphanumeric() || b".-_~*=&?%@+!,[]".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "|{b:02x}|");
        }
    }
    out
}

/// A regular-expression literal for text inside `pcre:"/…/"`.
fn regex_literal(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

fn host_regex(h: &HostKey) -> String {
    if h.subtree { format!("\\x2e{}$", regex_literal(&h.name)) } else { format!("^{}$", regex_literal(&h.name)) }
}

/// Metadata values: no separators (`,` `;`), no quotes, no spaces.
fn meta(text: &str) -> String {
    safe_text(text, &[',', ';', '"', '\\', ' ', '|'])
}

fn msg_text(text: &str) -> String {
    safe_text(text, &[';', '"', '\\', '|'])
}

struct Rule {
    key: String,
    /// Everything before `sid`.
    body: String,
    /// The last option (suricata-check S208).
    metadata: String,
}

fn host_match(out: &mut String, buffer: Buffer, d: &Detection) {
    let name = if buffer == Buffer::HttpHost { d.host.name.to_ascii_lowercase() } else { d.host.name.clone() };
    let nocase = if buffer.nocase() { " nocase;" } else { "" };
    // The host is the rarest string of the rule: make it the prefilter, not the path.
    let fast = if d.path.is_some() { " fast_pattern;" } else { "" };
    let _ = write!(out, "{}; ", buffer.keyword());
    if d.host.subtree {
        let _ = write!(out, "content:\".{}\";{nocase} endswith;{fast} ", content(&name));
    } else {
        let _ = write!(out, "bsize:{}; content:\"{}\";{nocase}{fast} ", name.len(), content(&name));
    }
    if !d.inner_hosts.is_empty() {
        let alternatives: Vec<String> = d.inner_hosts.iter().map(host_regex).collect();
        let flags = if buffer.nocase() { "i" } else { "" };
        let _ = write!(out, "pcre:!\"/(?:{})/{flags}\"; ", alternatives.join("|"));
    }
}

fn path_exclusions(out: &mut String, d: &Detection) {
    if d.inner_paths.is_empty() {
        return;
    }
    let alternatives: Vec<String> = d.inner_paths.iter().map(|p| regex_literal(p)).collect();
    let _ = write!(out, "pcre:!\"/^(?:{})/\"; ", alternatives.join("|"));
}

fn rules_for(d: &Detection, policy: &Policy) -> Vec<Rule> {
    let (action, classtype) = match d.verdict {
        Verdict::Violation => ("alert", "policy-violation"),
        Verdict::Warn => ("alert", "misc-activity"),
        Verdict::Allow if d.model_endpoint => ("pass", "not-suspicious"),
        Verdict::Allow => return Vec::new(),
    };
    let buffers: &[Buffer] = if d.path.is_some() { &[Buffer::HttpHost] } else { &Buffer::HOST_LEVEL };
    let tool = d.tool.as_deref().unwrap_or("-");
    let what = format!("{}{}", d.host.pattern(), d.path.as_deref().unwrap_or(""));
    // Names in messages are written `api .example .com` (suricata-check S406: a message that is
    // copied into tickets or chats must not turn into a link or a lookup).
    let mut rules = Vec::new();
    for &buffer in buffers {
        let mut body = String::new();
        let _ = write!(
            body,
            "{action} {} any any -> any any (msg:\"EGRESS-AUDIT {} {} {} ({tool}) {}\"; {}",
            buffer.proto(),
            d.class.as_str().to_ascii_uppercase(),
            d.verdict,
            msg_text(&what).replace('.', " ."),
            buffer.keyword().replace('.', "_"),
            buffer.flow()
        );
        host_match(&mut body, buffer, d);
        if buffer == Buffer::HttpHost {
            match &d.path {
                Some(path) => {
                    let _ = write!(body, "http.uri; content:\"{}\"; startswith; ", content(path));
                    path_exclusions(&mut body, d);
                }
                None if !d.inner_paths.is_empty() => {
                    body.push_str("http.uri; ");
                    path_exclusions(&mut body, d);
                }
                None => {}
            }
        }
        let severity = match d.verdict {
            Verdict::Violation => "Major",
            Verdict::Warn => "Minor",
            Verdict::Allow => "Informational",
        };
        let _ = write!(body, "target:src_ip; classtype:{classtype}; ");
        let metadata = format!(
            "metadata:egress_class {}, tool {}, \
             egress_verdict {}, egress_policy {}, egress_rule {}, attack_target Client_Endpoint, \
             signature_severity {severity}, performance_impact Low, deployment Perimeter;",
            d.class,
            meta(tool),
            d.verdict,
            meta(&policy.name),
            meta(d.origin.as_deref().unwrap_or("policy")),
        );
        let key = format!("{action}|{}|{}|{}", buffer.keyword(), d.host.pattern(), d.path.as_deref().unwrap_or(""));
        rules.push(Rule { key, body, metadata });
    }
    rules
}

/// The rules file and what could not be said.
pub(crate) fn render(plan: &DetectPlan, policy: &Policy, header: &[String]) -> (String, usize, Vec<String>) {
    let mut notes = plan.notes.clone();
    let mut used: BTreeSet<u32> = BTreeSet::new();
    let mut lines = Vec::new();
    let mut collisions = 0;
    for d in &plan.entries {
        for r in rules_for(d, policy) {
            let mut sid = stable_sid(&r.key);
            while !used.insert(sid) {
                collisions += 1;
                sid = SID_BASE + (sid - SID_BASE + 1) % SID_SPAN;
            }
            lines.push(format!("{}sid:{sid}; rev:1; {})", r.body, r.metadata));
        }
    }
    if collisions > 0 {
        notes.push(format!("{collisions} sid collisions resolved by taking the next free sid"));
    }
    let mut out = String::new();
    for h in header {
        let _ = writeln!(out, "# {h}");
    }
    let _ = writeln!(
        out,
        "# Suricata 7 (any address, any direction: agents run on laptops, CI runners and behind local proxies). alert = the policy denies (classtype policy-violation) or warns (misc-activity); pass = the \
         policy's model endpoint."
    );
    let _ = writeln!(
        out,
        "# One request matches one rule: negated pcre options exclude the more specific catalog names and paths that \
         have rules of their own."
    );
    let _ = writeln!(
        out,
        "# sids are stable hashes of action, buffer, host pattern and path in {SID_BASE}..{}.",
        SID_BASE + SID_SPAN - 1
    );
    for n in &notes {
        let _ = writeln!(out, "# note: {n}");
    }
    out.push('\n');
    for l in &lines {
        out.push_str(l);
        out.push('\n');
    }
    (out, lines.len(), notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_are_stable_and_in_range() {
        let a = stable_sid("alert|tls.sni|statsig.anthropic.com|");
        assert_eq!(a, stable_sid("alert|tls.sni|statsig.anthropic.com|"));
        assert_ne!(a, stable_sid("alert|dns.query|statsig.anthropic.com|"));
        assert!((SID_BASE..SID_BASE + SID_SPAN).contains(&a));
    }

    #[test]
    fn hostile_text_cannot_break_out_of_a_rule() {
        assert_eq!(content("a\";b|c"), "a|22||3b|b|7c|c");
        assert_eq!(regex_literal("a.b/\""), "a\\x2eb\\x2f\\x22");
        assert_eq!(meta("x, y;z"), "x__y_z");
    }
}
