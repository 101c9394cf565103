//! Traffic classes: what a flow is for.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// The inference endpoint (and what must be called to reach it).
    Model,
    Telemetry,
    ErrorReporting,
    Experiments,
    /// Update checks, downloads, remote catalogs, sharing, other product APIs.
    UpdateSharing,
    /// Encrypted DNS resolvers: later lookups vanish from the capture.
    DnsBypass,
    /// Traffic that stays on the machine or the local network.
    Local,
    /// Plain DNS transport; its questions are judged one by one in the DNS section.
    Dns,
    Unknown,
}

impl Class {
    pub const ALL: [Class; 9] = [
        Class::Model,
        Class::Telemetry,
        Class::ErrorReporting,
        Class::Experiments,
        Class::UpdateSharing,
        Class::DnsBypass,
        Class::Local,
        Class::Dns,
        Class::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Model => "model",
            Class::Telemetry => "telemetry",
            Class::ErrorReporting => "error-reporting",
            Class::Experiments => "experiments",
            Class::UpdateSharing => "update-sharing",
            Class::DnsBypass => "dns-bypass",
            Class::Local => "local",
            Class::Dns => "dns",
            Class::Unknown => "unknown",
        }
    }

    /// Product traffic: denied unless the policy opts in.
    pub fn is_product(self) -> bool {
        matches!(
            self,
            Class::Telemetry | Class::ErrorReporting | Class::Experiments | Class::UpdateSharing | Class::DnsBypass
        )
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Class {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Class::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| {
            format!("unknown class {s:?} (expected one of: {})", Class::ALL.map(Class::as_str).join(", "))
        })
    }
}
