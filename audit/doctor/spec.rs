//! The checks as data (`audit/data/doctor.toml`, embedded): which tool, which file and key, what value, and why.

use serde::Deserialize;
use std::collections::BTreeMap;

/// The shipped check list.
pub const DOCTOR_TOML: &str = include_str!("../data/doctor.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(default)]
    pub tool: Vec<ToolSpec>,
    #[serde(default)]
    pub check: Vec<CheckSpec>,
}

/// A tool whose switches are checked, and how to tell it is on this machine.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolSpec {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub detect: Vec<String>,
    #[serde(default)]
    pub bins: Vec<String>,
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Json,
    Toml,
    Yaml,
    ClaudeEnv,
    Env,
    Cache,
    Credential,
    Manual,
}

/// Another spelling of a key (an older schema, or the opposite polarity).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AltKey {
    pub key: String,
    pub expect: toml::Value,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    pub id: String,
    pub tools: Vec<String>,
    pub kind: Kind,
    pub why: String,
    pub source: String,
    #[serde(default)]
    pub known_ineffective: Option<String>,
    #[serde(default)]
    pub hardened: bool,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub fix_file: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub flat: bool,
    #[serde(default)]
    pub expect: Option<toml::Value>,
    #[serde(default)]
    pub default: Option<toml::Value>,
    #[serde(default)]
    pub alt: Vec<AltKey>,
    #[serde(default)]
    pub env: Option<String>,
    #[serde(default)]
    pub env_expect: Option<String>,
    #[serde(default)]
    pub extension: Option<String>,
    #[serde(default)]
    pub only_if_exists: bool,
    #[serde(default)]
    pub profiles: bool,
    #[serde(default)]
    pub covered_by: Vec<String>,
    #[serde(default)]
    pub path: Option<String>,
}

/// Parses the shipped check list. An error here is a bug in the shipped data (a test loads it).
pub fn shipped() -> Result<Spec, String> {
    toml::from_str(DOCTOR_TOML).map_err(|e| format!("audit/data/doctor.toml: {e}"))
}
