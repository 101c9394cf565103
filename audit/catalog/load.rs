//! Reading catalog files (strict: unknown keys and classes are errors, with file and line).

use super::{Class, Rule};
use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

/// The shipped catalog, embedded at build time.
pub(super) const BUILTIN_FILES: [(&str, &str); 14] = [
    ("anthropic.toml", include_str!("../data/catalog/anthropic.toml")),
    ("openai.toml", include_str!("../data/catalog/openai.toml")),
    ("github.toml", include_str!("../data/catalog/github.toml")),
    ("microsoft.toml", include_str!("../data/catalog/microsoft.toml")),
    ("cursor.toml", include_str!("../data/catalog/cursor.toml")),
    ("cline.toml", include_str!("../data/catalog/cline.toml")),
    ("continue.toml", include_str!("../data/catalog/continue.toml")),
    ("opencode.toml", include_str!("../data/catalog/opencode.toml")),
    ("gemini.toml", include_str!("../data/catalog/gemini.toml")),
    ("amazon-q.toml", include_str!("../data/catalog/amazon-q.toml")),
    ("pi.toml", include_str!("../data/catalog/pi.toml")),
    ("vendors.toml", include_str!("../data/catalog/vendors.toml")),
    ("dns-bypass.toml", include_str!("../data/catalog/dns-bypass.toml")),
    ("local.toml", include_str!("../data/catalog/local.toml")),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogError {
    pub origin: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "catalog {}:{}: {}", self.origin, self.line, self.message)
    }
}

impl std::error::Error for CatalogError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    entry: Vec<toml::Spanned<Entry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    host: String,
    path: Option<String>,
    class: String,
    tool: String,
    note: String,
    source: String,
}

/// Line numbers of byte offsets, found by binary search over the newline positions (counting from
/// the start for every entry made loading a 200k-entry blocklist quadratic).
struct Lines(Vec<usize>);

impl Lines {
    fn of(text: &str) -> Lines {
        Lines(text.bytes().enumerate().filter(|&(_, b)| b == b'\n').map(|(i, _)| i).collect())
    }

    fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&nl| nl < offset) + 1
    }
}

pub(super) fn parse(text: &str, origin: &str) -> Result<Vec<Rule>, CatalogError> {
    let err = |line, message: String| CatalogError { origin: origin.to_string(), line, message };
    let lines = Lines::of(text);
    let file: File = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(0, |s| lines.line(s.start));
        err(line, e.message().to_string())
    })?;
    let origin: Arc<str> = Arc::from(origin);
    let mut seen = HashSet::new();
    let mut rules = Vec::with_capacity(file.entry.len());
    for spanned in file.entry {
        let line = lines.line(spanned.span().start);
        let e = spanned.into_inner();
        let class: Class = e.class.parse().map_err(|m| err(line, m))?;
        if matches!(class, Class::Unknown | Class::Dns) {
            return Err(err(line, format!("class {class} is assigned by the analysis, not by the catalog")));
        }
        validate_host(&e.host).map_err(|m| err(line, m))?;
        if let Some(p) = &e.path {
            if !p.starts_with('/') {
                return Err(err(line, format!("path {p:?} must start with /")));
            }
            if e.host.starts_with("*.") {
                return Err(err(line, "path rules are only allowed on exact hosts".into()));
            }
        }
        if !seen.insert((e.host.clone(), e.path.clone())) {
            return Err(err(line, format!("{}{} appears twice in this file", e.host, e.path.as_deref().unwrap_or(""))));
        }
        rules.push(Rule {
            host: e.host,
            path: e.path,
            class,
            tool: e.tool,
            note: e.note,
            source: e.source,
            origin: origin.clone(),
            line,
        });
    }
    Ok(rules)
}

fn validate_host(host: &str) -> Result<(), String> {
    let bare = host.strip_prefix("*.").unwrap_or(host);
    let ok = !bare.is_empty()
        && !bare.ends_with('.')
        && bare.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_' | b':'));
    if ok {
        Ok(())
    } else {
        Err(format!("host {host:?} must be lowercase, without port or trailing dot; '*.' only as a prefix"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_line() {
        let text = "[[entry]]\nhost = \"a.example\"\nclass = \"telemetry\"\ntool = \"t\"\nnote = \"n\"\nsource = \"s\"\n\n[[entry]]\nhost = \"B.example\"\nclass = \"telemetry\"\ntool = \"t\"\nnote = \"n\"\nsource = \"s\"\n";
        let e = parse(text, "x.toml").err();
        assert_eq!(e.map(|e| e.line), Some(8));
        let e = parse("[[entry]]\nhost = \"a\"\nklass = \"x\"\n", "y.toml").err();
        assert!(e.is_some_and(|e| e.message.contains("klass")));
    }
}
