//! The domain catalog: which host (and, where paths are known, which path) is what kind of traffic.
//!
//! Data, not code: the shipped files under `audit/data/catalog/` are embedded in the binary and users
//! add their own with `--catalog FILE` (format in `audit/data/README.md`). Lookup cost does not grow
//! with the catalog: exact names are one hash probe, suffix patterns one probe per label of the name.

mod class;
pub mod diff;
pub mod export;
pub mod import;
pub mod lint;
mod load;

pub use class::Class;
pub use import::{ImportError, ImportFormat, ImportSummary};
pub use load::CatalogError;

use rustc_hash::FxHashMap;
use std::sync::Arc;

/// One catalog entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// As written: `statsig.anthropic.com` or `*.sentry.io`.
    pub host: String,
    pub path: Option<String>,
    pub class: Class,
    pub tool: String,
    pub note: String,
    pub source: String,
    /// Where the entry was defined: `anthropic.toml:12` or the user file's path and line.
    pub origin: Arc<str>,
    pub line: usize,
}

impl Rule {
    /// A short, stable reference for reports: `anthropic.toml:12 api.anthropic.com/api/eval/`.
    pub fn reference(&self) -> String {
        format!("{}:{} {}{}", self.origin, self.line, self.host, self.path.as_deref().unwrap_or(""))
    }
}

/// Rules sharing one host pattern: the host-level rule and path rules, longest path first.
#[derive(Debug, Default, Clone)]
struct PatternRules {
    host_level: Option<u32>,
    by_path: Vec<u32>,
}

#[derive(Debug, Default, Clone)]
pub struct Catalog {
    rules: Vec<Rule>,
    exact: FxHashMap<String, PatternRules>,
    /// Keyed by the suffix without `*.`: `sentry.io` for `*.sentry.io`.
    suffix: FxHashMap<String, PatternRules>,
    /// Rules replaced by a later rule with the same host and path (for `lint`).
    replaced: Vec<Rule>,
}

impl Catalog {
    /// The catalog shipped in the binary.
    pub fn builtin() -> Result<Catalog, CatalogError> {
        let mut c = Catalog::default();
        for (name, text) in load::BUILTIN_FILES {
            c.add_toml(text, name)?;
        }
        Ok(c)
    }

    /// Adds the entries of one catalog file; an entry with the same host and path as an existing one
    /// replaces it.
    pub fn add_toml(&mut self, text: &str, origin: &str) -> Result<(), CatalogError> {
        for rule in load::parse(text, origin)? {
            self.insert(rule);
        }
        Ok(())
    }

    fn insert(&mut self, rule: Rule) {
        let (map, key) = match rule.host.strip_prefix("*.") {
            Some(suffix) => (&mut self.suffix, suffix.to_string()),
            None => (&mut self.exact, rule.host.clone()),
        };
        let slot = map.entry(key).or_default();
        let existing = match &rule.path {
            None => slot.host_level,
            Some(p) => slot.by_path.iter().copied().find(|&i| self.rules[i as usize].path.as_ref() == Some(p)),
        };
        if let Some(i) = existing {
            let old = std::mem::replace(&mut self.rules[i as usize], rule);
            self.replaced.push(old);
            return;
        }
        let index = self.rules.len() as u32;
        match &rule.path {
            None => slot.host_level = Some(index),
            Some(_) => slot.by_path.push(index),
        }
        self.rules.push(rule);
        let rules = &self.rules;
        slot.by_path.sort_by_key(|&i| std::cmp::Reverse(rules[i as usize].path.as_ref().map_or(0, String::len)));
    }

    /// Adds a file in any format [`import`] reads (native TOML, hosts, plain domain list,
    /// AdGuard/uBlock DNS syntax, dnsmasq), detected from its content. Names from block lists get
    /// `class` and `tool`; see [`Catalog::add_import`] for how they merge.
    pub fn add_file(
        &mut self,
        text: &str,
        origin: &str,
        class: Class,
        tool: &str,
    ) -> Result<ImportSummary, ImportError> {
        self.add_import(text, origin, ImportFormat::Auto, class, tool)
    }

    /// Rules that a later rule with the same host and path replaced, in the order they were replaced.
    pub fn replaced(&self) -> &[Rule] {
        &self.replaced
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The most specific rule for a host (already normalized: lowercase, no port, no trailing dot)
    /// and, when known, the request path.
    pub fn lookup(&self, host: &str, path: Option<&str>) -> Option<&Rule> {
        let pattern = self.exact.get(host).or_else(|| {
            // Walk parents from the longest: for a.b.c.d try b.c.d, c.d, d.
            let mut rest = host;
            while let Some(dot) = rest.find('.') {
                rest = &rest[dot + 1..];
                if let Some(p) = self.suffix.get(rest) {
                    return Some(p);
                }
            }
            None
        })?;
        let by_path = path.and_then(|p| {
            pattern
                .by_path
                .iter()
                .find(|&&i| self.rules[i as usize].path.as_deref().is_some_and(|prefix| p.starts_with(prefix)))
        });
        by_path.copied().or(pattern.host_level).map(|i| &self.rules[i as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(text: &str) -> Catalog {
        let mut c = Catalog::default();
        c.add_toml(text, "test.toml").unwrap_or_else(|e| panic!("{e}"));
        c
    }

    const SAMPLE: &str = r#"
[[entry]]
host = "api.anthropic.com"
class = "model"
tool = "claude-code"
note = "model"
source = "s"

[[entry]]
host = "api.anthropic.com"
path = "/api/"
class = "update-sharing"
tool = "claude-code"
note = "product"
source = "s"

[[entry]]
host = "api.anthropic.com"
path = "/api/event_logging/"
class = "telemetry"
tool = "claude-code"
note = "events"
source = "s"

[[entry]]
host = "*.sentry.io"
class = "error-reporting"
tool = "shared"
note = "sentry"
source = "s"

[[entry]]
host = "*.ingest.sentry.io"
class = "telemetry"
tool = "shared"
note = "more specific"
source = "s"
"#;

    #[test]
    fn most_specific_wins() {
        let c = catalog(SAMPLE);
        let class = |h: &str, p: Option<&str>| c.lookup(h, p).map(|r| r.class);
        assert_eq!(class("api.anthropic.com", None), Some(Class::Model));
        assert_eq!(class("api.anthropic.com", Some("/v1/messages")), Some(Class::Model));
        assert_eq!(class("api.anthropic.com", Some("/api/hello")), Some(Class::UpdateSharing));
        assert_eq!(class("api.anthropic.com", Some("/api/event_logging/v2/batch")), Some(Class::Telemetry));
        assert_eq!(class("o1.ingest.sentry.io", None), Some(Class::Telemetry));
        assert_eq!(class("o1.us.sentry.io", None), Some(Class::ErrorReporting));
        assert_eq!(class("sentry.io", None), None);
        assert_eq!(class("notsentry.io", None), None);
    }

    #[test]
    fn later_entry_replaces_same_host_and_path() {
        let mut c = catalog(SAMPLE);
        c.add_toml(
            "[[entry]]\nhost = \"*.sentry.io\"\nclass = \"telemetry\"\ntool = \"x\"\nnote = \"n\"\nsource = \"s\"\n",
            "user.toml",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let rule = c.lookup("o1.us.sentry.io", None);
        assert_eq!(
            rule.map(|r| (r.class, r.reference())),
            Some((Class::Telemetry, "user.toml:1 *.sentry.io".to_string()))
        );
    }

    #[test]
    fn builtin_catalog_loads() {
        let c = Catalog::builtin().unwrap_or_else(|e| panic!("{e}"));
        assert!(c.len() > 100);
        assert_eq!(c.lookup("statsig.anthropic.com", None).map(|r| r.class), Some(Class::Telemetry));
        assert_eq!(c.lookup("api.openai.com", None).map(|r| r.class), Some(Class::Model));
    }
}
