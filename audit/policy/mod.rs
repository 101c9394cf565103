//! Policy: "allow the model endpoint I chose, deny everything else unless I opted in".
//!
//! Profiles are data files under `audit/data/profiles/`, embedded in the binary; `--policy FILE`
//! reads the same format.

mod endpoint;
mod pattern;

pub use endpoint::LocalEndpoint;
pub use pattern::HostPattern;

use crate::catalog::Class;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;

/// The shipped profiles, embedded at build time.
const PROFILES: [(&str, &str); 9] = [
    ("default", include_str!("../data/profiles/default.toml")),
    ("claude-code", include_str!("../data/profiles/claude-code.toml")),
    ("codex", include_str!("../data/profiles/codex.toml")),
    ("copilot", include_str!("../data/profiles/copilot.toml")),
    ("cursor", include_str!("../data/profiles/cursor.toml")),
    ("gemini", include_str!("../data/profiles/gemini.toml")),
    ("opencode", include_str!("../data/profiles/opencode.toml")),
    ("continue", include_str!("../data/profiles/continue.toml")),
    ("local-only", include_str!("../data/profiles/local-only.toml")),
];

/// What the policy says about one flow, request or DNS question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allow,
    Warn,
    Violation,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Warn => "warn",
            Verdict::Violation => "violation",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a policy file spells verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum FileVerdict {
    Allow,
    Warn,
    Deny,
}

impl From<FileVerdict> for Verdict {
    fn from(v: FileVerdict) -> Verdict {
        match v {
            FileVerdict::Allow => Verdict::Allow,
            FileVerdict::Warn => Verdict::Warn,
            FileVerdict::Deny => Verdict::Violation,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub description: String,
    /// Where it came from: `profile` or the policy file's path.
    pub origin: String,
    pub model_allow: Vec<HostPattern>,
    pub local_allow: Vec<LocalEndpoint>,
    pub opt_in_classes: Vec<Class>,
    pub opt_in_hosts: Vec<HostPattern>,
    pub unknown: Verdict,
    /// Verdict for flows that cannot be verified (ECH, no SNI, IP literal, DNS bypass, …): at least
    /// this. Defaults to the `unknown` verdict.
    pub blind_spots: Verdict,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    name: String,
    description: String,
    model: ModelSection,
    local: LocalSection,
    opt_in: OptInSection,
    unknown: UnknownSection,
    #[serde(default)]
    blind_spots: Option<UnknownSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelSection {
    allow: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LocalSection {
    allow: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OptInSection {
    classes: Vec<String>,
    hosts: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnknownSection {
    verdict: FileVerdict,
}

impl Policy {
    /// Parses a policy in the profile format; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Policy, String> {
        let f: PolicyFile = toml::from_str(text).map_err(|e| format!("policy {origin}: {}", e.message()))?;
        let fail = |m: String| format!("policy {origin}: {m}");
        let hosts =
            |v: &[String]| v.iter().map(|h| h.parse::<HostPattern>().map_err(fail)).collect::<Result<Vec<_>, _>>();
        Ok(Policy {
            name: f.name,
            description: f.description,
            origin: origin.to_string(),
            model_allow: hosts(&f.model.allow)?,
            local_allow: f.local.allow.iter().map(|e| e.parse().map_err(fail)).collect::<Result<_, _>>()?,
            opt_in_classes: f.opt_in.classes.iter().map(|c| c.parse().map_err(fail)).collect::<Result<_, _>>()?,
            opt_in_hosts: hosts(&f.opt_in.hosts)?,
            unknown: f.unknown.verdict.into(),
            blind_spots: f.blind_spots.map_or(f.unknown.verdict, |b| b.verdict).into(),
        })
    }

    /// A shipped profile by name.
    pub fn profile(name: &str) -> Result<Policy, String> {
        let Some((_, text)) = PROFILES.iter().find(|(n, _)| *n == name) else {
            return Err(format!("no profile named {name:?}; profiles: {}", Policy::profile_names().join(", ")));
        };
        Policy::from_toml(text, "profile")
    }

    pub fn profile_names() -> Vec<&'static str> {
        PROFILES.iter().map(|(n, _)| *n).collect()
    }

    pub fn allows_model(&self, host: &str) -> bool {
        self.model_allow.iter().any(|p| p.matches(host))
    }

    pub fn opts_in_host(&self, host: &str) -> bool {
        self.opt_in_hosts.iter().any(|p| p.matches(host))
    }

    pub fn allows_local(&self, server: Option<SocketAddr>, host: Option<&str>) -> bool {
        self.local_allow.iter().any(|e| e.matches(server, host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_parses() {
        for name in Policy::profile_names() {
            let p = Policy::profile(name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(p.name, name);
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let text =
            include_str!("../data/profiles/claude-code.toml").replace("[unknown]", "[unknown]\nverdikt = \"deny\"");
        assert!(Policy::from_toml(&text, "x").is_err_and(|e| e.contains("verdikt")));
    }
}
