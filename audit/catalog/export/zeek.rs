//! A Zeek Intel framework file: one row per catalog entry with its class, tool and verdict under the
//! policy in extra `meta.egress_*` columns (declared by the shipped script,
//! `audit/data/integrations/zeek/egress_audit.zeek`).
//!
//! Zeek matches `Intel::DOMAIN` indicators exactly. An exact catalog name is written as itself; a
//! catalog suffix `*.x` as `.x` (`meta.egress_match` `subdomains`), which Zeek's Intel framework alone
//! never matches: the shipped script reads the file itself and walks the parents of each name it
//! checks (b.c then c for a.b.c), as egress-audit's own lookup does. Path rules are `Intel::URL` rows
//! (`host/path`, the form Zeek's HTTP intel uses) with the prefix in `meta.egress_path`.
//!
//! The header is Zeek's own log header (`#separator` … `#types`), so the file is also a valid Zeek
//! log for log readers.

use super::detect::{DetectPlan, safe_text};
use crate::policy::Policy;
use std::fmt::Write as _;

const FIELDS: [(&str, &str); 12] = [
    ("indicator", "string"),
    ("indicator_type", "enum"),
    ("meta.source", "string"),
    ("meta.desc", "string"),
    ("meta.egress_class", "string"),
    ("meta.egress_tool", "string"),
    ("meta.egress_verdict", "string"),
    ("meta.egress_host", "string"),
    ("meta.egress_match", "string"),
    ("meta.egress_path", "string"),
    ("meta.egress_rule", "string"),
    ("meta.egress_policy", "string"),
];

/// A cell: no tab or newline (the separators), `-` for unset and `(empty)` for empty as Zeek writes them.
fn cell(value: Option<&str>) -> String {
    match value {
        None => "-".into(),
        Some("") => "(empty)".into(),
        Some("-") => "\\x2d".into(),
        Some(v) => safe_text(v, &[]).replace('\\', "\\x5c"),
    }
}

pub(crate) fn render(plan: &DetectPlan, policy: &Policy, header: &[String]) -> (String, usize, Vec<String>) {
    let mut out = String::new();
    for h in header {
        let _ = writeln!(out, "# {h}");
    }
    out.push_str(
        "# Load with audit/data/integrations/zeek (it declares the meta.egress_* fields and tags ssl, dns, http and\n\
         # quic logs); Zeek's Intel framework may read it too (Intel::read_files): *.x rules are written .x and only\n\
         # the script matches them, by walking the parents of each name.\n",
    );
    let _ = writeln!(
        out,
        "# Names outside the catalog: redef EgressAudit::unknown_verdict = \"{}\"; (this policy's [unknown] verdict).",
        policy.unknown
    );
    for n in &plan.notes {
        let _ = writeln!(out, "# note: {}", safe_text(n, &[]));
    }
    out.push_str("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tintel\n");
    let names: Vec<&str> = FIELDS.iter().map(|(n, _)| *n).collect();
    let types: Vec<&str> = FIELDS.iter().map(|(_, t)| *t).collect();
    let _ = writeln!(out, "#fields\t{}", names.join("\t"));
    let _ = writeln!(out, "#types\t{}", types.join("\t"));
    let policy_name = safe_text(&policy.name, &[]);
    for d in &plan.entries {
        let dot = if d.host.subtree { "." } else { "" };
        let (indicator, kind) = match &d.path {
            Some(path) => (format!("{dot}{}{path}", d.host.name), "Intel::URL"),
            None => (format!("{dot}{}", d.host.name), "Intel::DOMAIN"),
        };
        let desc = format!(
            "egress-audit: {} {} ({}) is {} under policy {policy_name}",
            d.class,
            d.host.pattern(),
            d.tool.as_deref().unwrap_or("no tool"),
            d.verdict
        );
        let row = [
            cell(Some(&indicator)),
            kind.to_string(),
            cell(Some("egress-audit")),
            cell(Some(&desc)),
            cell(Some(d.class.as_str())),
            cell(d.tool.as_deref()),
            cell(Some(d.verdict.as_str())),
            cell(Some(&d.host.name)),
            cell(Some(if d.host.subtree { "subdomains" } else { "exact" })),
            cell(d.path.as_deref()),
            cell(d.origin.as_deref()),
            cell(Some(&policy_name)),
        ];
        let _ = writeln!(out, "{}", row.join("\t"));
    }
    (out, plan.entries.len(), plan.notes.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_split_a_row() {
        assert_eq!(cell(Some("a\tb\nc")), "a_b_c");
        assert_eq!(cell(Some("")), "(empty)");
        assert_eq!(cell(None), "-");
        assert_eq!(cell(Some("-")), "\\x2d");
    }
}
