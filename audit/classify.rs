//! Classification and verdicts: (name, path, address) + catalog + policy → class, rule, verdict.
//!
//! Pure: no I/O, no clock. The order of checks is the policy's documented reading order
//! (README "Policy"): local allow-list, opted-in hosts, catalog class, then the unknown verdict.

use crate::catalog::{Catalog, Class};
use crate::policy::{Policy, Verdict};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// What is being judged: a flow, one HTTP request of it, or a DNS question.
#[derive(Debug, Clone, Copy, Default)]
pub struct Subject<'a> {
    /// Normalized name (lowercase, no port, no trailing dot), if known.
    pub host: Option<&'a str>,
    /// Request path, when the request was visible.
    pub path: Option<&'a str>,
    /// Destination address, for flows.
    pub server: Option<SocketAddr>,
}

/// A verdict with its explanation. The texts are shared (`Arc`): a judgement is remembered per host
/// and copied into every flow report to that host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub class: Class,
    pub tool: Option<Arc<str>>,
    /// The catalog rule that classified it (`anthropic.toml:12 api.anthropic.com`), if any.
    pub rule: Option<Arc<str>>,
    pub verdict: Verdict,
    /// One line a user can act on.
    pub reason: Arc<str>,
}

pub fn judge(s: Subject<'_>, catalog: &Catalog, policy: &Policy) -> Judgement {
    let rule = s.host.and_then(|h| catalog.lookup(h, s.path));
    let class = match rule {
        Some(r) => r.class,
        None => fallback_class(s),
    };
    let done = |verdict: Verdict, reason: String| Judgement {
        class,
        tool: rule.map(|r| Arc::from(r.tool.as_str())),
        rule: rule.map(|r| Arc::from(r.reference())),
        verdict,
        reason: reason.into(),
    };
    let policy_name = &policy.name;
    if policy.allows_local(s.server, s.host) {
        return done(Verdict::Allow, format!("local endpoint allowed by policy {policy_name}"));
    }
    if let Some(h) = s.host.filter(|h| policy.opts_in_host(h)) {
        return done(Verdict::Allow, format!("{h} is opted in by policy {policy_name}"));
    }
    match class {
        Class::Model => {
            if s.host.is_some_and(|h| policy.allows_model(h)) {
                done(Verdict::Allow, format!("model endpoint chosen by policy {policy_name}"))
            } else {
                let tool = rule.map_or("another tool", |r| r.tool.as_str());
                done(Verdict::Violation, format!("model endpoint of {tool}, not the one policy {policy_name} chose"))
            }
        }
        c if policy.opt_in_classes.contains(&c) => {
            done(Verdict::Allow, format!("class {c} is opted in by policy {policy_name}"))
        }
        c if c.is_product() => done(Verdict::Violation, format!("{c} traffic is denied unless opted in")),
        Class::Dns => done(Verdict::Allow, "DNS transport; each question is judged in the DNS section".into()),
        Class::Local => done(policy.unknown, "local destination not in the policy's [local] allow list".into()),
        _ => {
            if s.host.is_some_and(|h| policy.allows_model(h))
                && !policy.model_allow.contains(&crate::policy::HostPattern::Any)
            {
                Judgement {
                    class: Class::Model,
                    ..done(Verdict::Allow, format!("model endpoint chosen by policy {policy_name}"))
                }
            } else {
                let what = if s.host.is_some() { "not in the catalog" } else { "unnamed (no SNI, Host or DNS answer)" };
                done(policy.unknown, format!("{what}; policy {policy_name} says {}", policy.unknown))
            }
        }
    }
}

/// Class for a name the catalog does not know: reverse lookups are DNS plumbing, addresses that
/// cannot leave the local network are local, everything else unknown.
fn fallback_class(s: Subject<'_>) -> Class {
    if let Some(h) = s.host {
        if h.ends_with(".in-addr.arpa") || h.ends_with(".ip6.arpa") {
            return Class::Dns;
        }
        if h == "localhost" || h.ends_with(".local") || h.ends_with(".localhost") {
            return Class::Local;
        }
        if let Ok(ip) = h.parse::<IpAddr>() {
            return if is_local_address(ip) { Class::Local } else { Class::Unknown };
        }
        return Class::Unknown;
    }
    match s.server {
        Some(sa) if is_local_address(sa.ip()) => Class::Local,
        _ => Class::Unknown,
    }
}

/// Loopback, private (RFC 1918, RFC 4193), link-local, CGNAT-free local scopes and multicast.
pub fn is_local_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_local_address(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_multicast()
                || v6.is_unspecified()
                || first & 0xfe00 == 0xfc00
                || first & 0xffc0 == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge_host(host: &str, path: Option<&str>, profile: &str) -> Judgement {
        let catalog = Catalog::builtin().unwrap_or_default();
        let policy = Policy::profile(profile).unwrap_or_else(|e| panic!("{e}"));
        judge(Subject { host: Some(host), path, server: None }, &catalog, &policy)
    }

    #[test]
    fn chosen_model_allowed_other_vendor_denied() {
        assert_eq!(judge_host("api.anthropic.com", None, "claude-code").verdict, Verdict::Allow);
        let other = judge_host("api.openai.com", None, "claude-code");
        assert_eq!((other.class, other.verdict), (Class::Model, Verdict::Violation));
    }

    #[test]
    fn product_traffic_on_the_model_host_is_denied_when_the_path_is_known() {
        let j = judge_host("api.anthropic.com", Some("/api/event_logging/v2/batch"), "claude-code");
        assert_eq!((j.class, j.verdict), (Class::Telemetry, Verdict::Violation));
        assert!(j.rule.is_some_and(|r| r.starts_with("anthropic.toml:")));
    }

    #[test]
    fn telemetry_is_denied_and_unknown_warns() {
        assert_eq!(judge_host("statsig.anthropic.com", None, "claude-code").verdict, Verdict::Violation);
        assert_eq!(judge_host("example.org", None, "claude-code").verdict, Verdict::Warn);
        assert_eq!(judge_host("example.org", None, "local-only").verdict, Verdict::Violation);
    }

    #[test]
    fn local_ollama_is_allowed_by_local_only() {
        let catalog = Catalog::builtin().unwrap_or_default();
        let policy = Policy::profile("local-only").unwrap_or_else(|e| panic!("{e}"));
        let s = Subject { host: None, path: None, server: "127.0.0.1:11434".parse().ok() };
        let j = judge(s, &catalog, &policy);
        assert_eq!((j.class, j.verdict), (Class::Local, Verdict::Allow));
        let other = Subject { host: None, path: None, server: "127.0.0.1:8080".parse().ok() };
        assert_eq!(judge(other, &catalog, &policy).verdict, Verdict::Violation);
    }
}
