//! Checks a catalog for rules that are redundant, ambiguous or can never apply.
//!
//! Every finding is defined so that it can be decided exactly from the rules and the matching
//! rules in `audit/data/README.md`:
//!
//! | kind | finding |
//! |---|---|
//! | `duplicate` | the same `(host, path)` is defined more than once (across files) with the same class: the later one replaced the earlier |
//! | `class-conflict` | the same `(host, path)` is defined more than once with different classes, neither being `model`: which one applies depends on file order |
//! | `model-and-product` | the same `(host, path)` is `model` in one place and a product class in another, with no path rule to tell the two apart: the model host is also called telemetry (or the reverse) |
//! | `redundant` | a suffix rule `*.a.x` whose nearest enclosing suffix rule (`*.x`) gives the same class and tool: removing it changes no lookup (exact names under a suffix of the same class are not flagged: they document a host the vendor is known to use) |
//! | `unreachable-path` | path rules on a host without a host-level rule: when the path is unknown (always, over TLS) the host matches nothing, and suffix rules are not consulted either |
//!
//! Carve-outs that imports add for exceptions (class `unknown`) are not linted.

use super::{Catalog, Class, PatternRules, Rule};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LintKind {
    Duplicate,
    ClassConflict,
    ModelAndProduct,
    Redundant,
    UnreachablePath,
}

impl LintKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LintKind::Duplicate => "duplicate",
            LintKind::ClassConflict => "class-conflict",
            LintKind::ModelAndProduct => "model-and-product",
            LintKind::Redundant => "redundant",
            LintKind::UnreachablePath => "unreachable-path",
        }
    }
}

impl fmt::Display for LintKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LintFinding {
    pub kind: LintKind,
    /// One line a user can act on.
    pub message: String,
    /// The rules involved, as [`Rule::reference`] (`origin:line host/path`); the rule in effect first.
    pub rules: Vec<String>,
}

impl fmt::Display for LintFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} [{}]", self.kind, self.message, self.rules.join(", "))
    }
}

fn pattern_text(rule: &Rule) -> String {
    format!("{}{}", rule.host, rule.path.as_deref().unwrap_or(""))
}

/// All findings, sorted by kind and then by the first rule reference.
pub fn lint(catalog: &Catalog) -> Vec<LintFinding> {
    let mut findings = Vec::new();
    duplicates(catalog, &mut findings);
    for (key, slot) in &catalog.exact {
        patterns(catalog, key, false, slot, &mut findings);
    }
    for (key, slot) in &catalog.suffix {
        patterns(catalog, key, true, slot, &mut findings);
    }
    findings.sort_by(|a, b| (a.kind, &a.rules).cmp(&(b.kind, &b.rules)));
    findings
}

fn duplicates(catalog: &Catalog, findings: &mut Vec<LintFinding>) {
    // (host, path) → every rule ever defined for it, the one in effect last.
    let mut by_key: BTreeMap<(&str, Option<&str>), Vec<&Rule>> = BTreeMap::new();
    for r in catalog.replaced.iter().filter(|r| r.class != Class::Unknown) {
        by_key.entry((r.host.as_str(), r.path.as_deref())).or_default().push(r);
    }
    for (key, earlier) in by_key.iter_mut() {
        if let Some(current) = current_rule(catalog, key.0, key.1) {
            earlier.push(current);
        }
    }
    for defs in by_key.values() {
        let Some(current) = defs.last() else { continue };
        let mut refs = vec![current.reference()];
        refs.extend(defs[..defs.len() - 1].iter().map(|r| r.reference()));
        let classes: Vec<Class> = defs.iter().map(|r| r.class).collect();
        let has_model = classes.contains(&Class::Model);
        let has_product = classes.iter().any(|c| c.is_product());
        let name = pattern_text(current);
        let (kind, message) = if classes.iter().all(|&c| c == current.class) {
            (
                LintKind::Duplicate,
                format!("{name} is defined {} times as {}; the last one wins", defs.len(), current.class),
            )
        } else if has_model && has_product {
            (
                LintKind::ModelAndProduct,
                format!(
                    "{name} is both model and {} with no path rule to tell them apart; {} wins by file order",
                    classes.iter().find(|c| c.is_product()).map_or("product", |c| c.as_str()),
                    current.class
                ),
            )
        } else {
            (
                LintKind::ClassConflict,
                format!(
                    "{name} is defined as {}; {} wins by file order",
                    classes.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(" and "),
                    current.class
                ),
            )
        };
        findings.push(LintFinding { kind, message, rules: refs });
    }
}

/// The rule in effect for exactly this `(host, path)`.
fn current_rule<'c>(catalog: &'c Catalog, host: &str, path: Option<&str>) -> Option<&'c Rule> {
    let slot = match host.strip_prefix("*.") {
        Some(suffix) => catalog.suffix.get(suffix),
        None => catalog.exact.get(host),
    }?;
    let index = match path {
        None => slot.host_level,
        Some(p) => slot.by_path.iter().copied().find(|&i| catalog.rules[i as usize].path.as_deref() == Some(p)),
    }?;
    Some(&catalog.rules[index as usize])
}

/// The nearest suffix rule that would match names of `key` (exact) or under `key` (suffix) if the
/// pattern itself did not exist.
/// For an exact `a.b.c` that is `*.b.c`, …; for `*.b.c` it is `*.c`, ….
fn enclosing<'c>(catalog: &'c Catalog, key: &str) -> Option<&'c Rule> {
    let mut rest = key;
    loop {
        let dot = rest.find('.')?;
        rest = &rest[dot + 1..];
        if let Some(slot) = catalog.suffix.get(rest) {
            // The most specific suffix wins alone, even without a host-level rule.
            return slot.host_level.map(|i| &catalog.rules[i as usize]);
        }
    }
}

fn patterns(catalog: &Catalog, key: &str, is_suffix: bool, slot: &PatternRules, findings: &mut Vec<LintFinding>) {
    let rule = |i: u32| &catalog.rules[i as usize];
    let host_level = slot.host_level.map(rule).filter(|r| r.class != Class::Unknown);
    let shown = if is_suffix { format!("*.{key}") } else { key.to_string() };
    if slot.host_level.is_none() && !slot.by_path.is_empty() {
        let refs: Vec<String> = slot.by_path.iter().map(|&i| rule(i).reference()).collect();
        findings.push(LintFinding {
            kind: LintKind::UnreachablePath,
            message: format!(
                "{shown} has path rules but no host-level rule: when the path is unknown the name matches nothing (add a host-level entry)"
            ),
            rules: refs,
        });
    }
    if let Some(r) = host_level
        && is_suffix
        && slot.by_path.is_empty()
        && let Some(parent) = enclosing(catalog, key)
        && parent.class == r.class
        && parent.tool == r.tool
    {
        findings.push(LintFinding {
            kind: LintKind::Redundant,
            message: format!("{shown} adds nothing: {} already classes it as {} for {}", parent.host, r.class, r.tool),
            rules: vec![r.reference(), parent.reference()],
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_stable_names() {
        assert_eq!(LintKind::ModelAndProduct.as_str(), "model-and-product");
    }
}
