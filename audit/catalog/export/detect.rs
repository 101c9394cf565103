//! The catalog judged by a policy for network monitors (Zeek, Suricata): unlike the blockers, a
//! monitor sees every name and can tell allowed from denied, so every catalog pattern and path rule
//! becomes an entry with its class, tool and verdict, and each entry knows the more specific
//! patterns inside it (the catalog's most-specific-wins lookup, which a monitor's independent rules
//! must reproduce by excluding them).

use crate::catalog::{Catalog, Class};
use crate::classify::{Subject, judge};
use crate::policy::{HostPattern, Policy, Verdict};
use std::collections::BTreeSet;

/// A host pattern: an exact name, or the strict sub-domains of `name` (catalog `*.name`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct HostKey {
    pub name: String,
    pub subtree: bool,
}

impl HostKey {
    /// The catalog/policy spelling: `x` or `*.x`.
    pub fn pattern(&self) -> String {
        if self.subtree { format!("*.{}", self.name) } else { self.name.clone() }
    }

    /// Whether every name `other` matches is also matched by `self`, and `other` is not `self`.
    pub fn strictly_contains(&self, other: &HostKey) -> bool {
        if !self.subtree || self == other {
            return false;
        }
        other.name.len() > self.name.len()
            && other.name.ends_with(self.name.as_str())
            && other.name.as_bytes()[other.name.len() - self.name.len() - 1] == b'.'
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Detection {
    pub host: HostKey,
    /// Path prefix (HTTP only), for path rules.
    pub path: Option<String>,
    pub class: Class,
    pub tool: Option<String>,
    pub verdict: Verdict,
    /// `file:line` of the catalog rule; `None` for names that come from the policy alone.
    pub origin: Option<String>,
    /// The policy's model endpoint (or a model path on it): what a monitor may let pass.
    pub model_endpoint: bool,
    /// More specific host patterns inside `host` (for host-level entries and path entries alike).
    pub inner_hosts: Vec<HostKey>,
    /// Longer path prefixes on the same host pattern that start with this entry's path (or, for a
    /// host-level entry, every path rule of the pattern).
    pub inner_paths: Vec<String>,
}

pub(crate) struct DetectPlan {
    /// Sorted by host pattern, then path (host-level entry first).
    pub entries: Vec<Detection>,
    pub notes: Vec<String>,
}

/// Every catalog pattern (host level and path rules, `local` excluded) and every policy model/opt-in
/// pattern the catalog lacks, judged by the policy. `classes` keeps only those classes among the
/// entries that are not allowed (allowed ones are kept: monitors tag them).
pub(crate) fn plan(catalog: &Catalog, policy: &Policy, classes: &[Class]) -> DetectPlan {
    let mut entries = Vec::new();
    let mut notes = Vec::new();
    let mut hosts: BTreeSet<HostKey> = BTreeSet::new();
    let mut local_rules = 0usize;
    let mut paths_by_host: Vec<(HostKey, Vec<String>)> = Vec::new();
    let patterns =
        catalog.exact.iter().map(|(k, s)| (k, s, false)).chain(catalog.suffix.iter().map(|(k, s)| (k, s, true)));
    for (key, slot, subtree) in patterns {
        let host = HostKey { name: key.clone(), subtree };
        let probe = host.pattern();
        hosts.insert(host.clone());
        let mut paths = Vec::new();
        if let Some(i) = slot.host_level {
            let r = &catalog.rules[i as usize];
            if r.class == Class::Local {
                local_rules += 1;
            } else {
                let j = judge(Subject { host: Some(&probe), path: None, server: None }, catalog, policy);
                entries.push(Detection {
                    host: host.clone(),
                    path: None,
                    class: j.class,
                    tool: j.tool.as_deref().map(str::to_string),
                    verdict: j.verdict,
                    origin: Some(format!("{}:{}", r.origin, r.line)),
                    model_endpoint: j.verdict == Verdict::Allow && j.class == Class::Model,
                    inner_hosts: Vec::new(),
                    inner_paths: Vec::new(),
                });
            }
        }
        for &i in &slot.by_path {
            let r = &catalog.rules[i as usize];
            let Some(path) = r.path.clone() else { continue };
            paths.push(path.clone());
            if r.class == Class::Local {
                local_rules += 1;
                continue;
            }
            let j = judge(Subject { host: Some(&probe), path: Some(&path), server: None }, catalog, policy);
            entries.push(Detection {
                host: host.clone(),
                path: Some(path),
                class: j.class,
                tool: j.tool.as_deref().map(str::to_string),
                verdict: j.verdict,
                origin: Some(format!("{}:{}", r.origin, r.line)),
                model_endpoint: j.verdict == Verdict::Allow && j.class == Class::Model,
                inner_hosts: Vec::new(),
                inner_paths: Vec::new(),
            });
        }
        paths_by_host.push((host, paths));
    }
    for p in policy.model_allow.iter().chain(policy.opt_in_hosts.iter()) {
        let host = match p {
            HostPattern::Any => {
                notes.push(
                    "the policy allows any host (*): names outside the catalog get the unknown verdict of the \
                     policy here, not allow"
                        .into(),
                );
                continue;
            }
            HostPattern::Exact(h) => HostKey { name: h.clone(), subtree: false },
            HostPattern::Subdomains(dot) => HostKey { name: dot.trim_start_matches('.').to_string(), subtree: true },
        };
        if hosts.contains(&host) {
            continue;
        }
        let probe = host.pattern();
        let j = judge(Subject { host: Some(&probe), path: None, server: None }, catalog, policy);
        hosts.insert(host.clone());
        entries.push(Detection {
            model_endpoint: j.verdict == Verdict::Allow && policy.allows_model(&probe),
            host,
            path: None,
            class: j.class,
            tool: j.tool.as_deref().map(str::to_string),
            verdict: j.verdict,
            origin: None,
            inner_hosts: Vec::new(),
            inner_paths: Vec::new(),
        });
    }
    entries.retain(|e| e.verdict == Verdict::Allow || classes.is_empty() || classes.contains(&e.class));
    let hosts: Vec<HostKey> = hosts.into_iter().collect();
    for e in &mut entries {
        e.inner_hosts = hosts.iter().filter(|h| e.host.strictly_contains(h)).cloned().collect();
        let own_paths = paths_by_host.iter().find(|(h, _)| *h == e.host).map(|(_, p)| p.as_slice()).unwrap_or(&[]);
        let mut inner: Vec<String> = own_paths
            .iter()
            .filter(|p| match &e.path {
                None => true,
                Some(mine) => p.len() > mine.len() && p.starts_with(mine.as_str()),
            })
            .cloned()
            .collect();
        inner.sort();
        e.inner_paths = inner;
    }
    entries.sort_by(|a, b| (&a.host, &a.path).cmp(&(&b.host, &b.path)));
    if local_rules > 0 {
        notes.push(format!("{local_rules} local catalog rules not exported (loopback names never leave the machine)"));
    }
    DetectPlan { entries, notes }
}

/// A line-safe rendering of text from catalogs and policies (user files): printable ASCII only, no
/// separators of the formats that embed it.
pub(crate) fn safe_text(s: &str, forbidden: &[char]) -> String {
    s.chars().map(|c| if (c.is_ascii_graphic() || c == ' ') && !forbidden.contains(&c) { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containment_is_strict_and_on_label_boundaries() {
        let x = HostKey { name: "sentry.io".into(), subtree: true };
        assert!(x.strictly_contains(&HostKey { name: "o1.ingest.sentry.io".into(), subtree: false }));
        assert!(x.strictly_contains(&HostKey { name: "ingest.sentry.io".into(), subtree: true }));
        assert!(!x.strictly_contains(&HostKey { name: "sentry.io".into(), subtree: false }));
        assert!(!x.strictly_contains(&HostKey { name: "notsentry.io".into(), subtree: false }));
        assert!(!x.strictly_contains(&x));
    }
}
