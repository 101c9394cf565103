//! The fleet view as a table, markdown (for a CI step summary) or JSON.

use super::{Fleet, Violation};
use comfy_table::{Table, presets};
use std::collections::BTreeSet;
use std::io::{self, Write};

fn list(set: &BTreeSet<String>) -> String {
    if set.is_empty() { "-".into() } else { set.iter().cloned().collect::<Vec<_>>().join(", ") }
}

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

fn destination(v: &Violation) -> String {
    format!("{}{}", v.host, v.path.as_deref().unwrap_or(""))
}

pub fn json(fleet: &Fleet, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, fleet)?;
    writeln!(out)
}

pub fn table(fleet: &Fleet, out: &mut dyn Write) -> io::Result<()> {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "violation",
        "kind",
        "class",
        "tool",
        "machines",
        "agents",
        "versions",
        "count",
        "first seen",
        "last seen",
    ]);
    for v in &fleet.violations {
        t.add_row(vec![
            destination(v),
            v.kind.clone(),
            v.class.clone(),
            v.tool.clone().unwrap_or_else(|| "-".into()),
            list(&v.machines),
            list(&v.agents),
            list(&v.agent_versions),
            v.count.to_string(),
            opt(&v.first_seen),
            opt(&v.last_seen),
        ]);
    }
    writeln!(out, "{t}")?;
    let mut m = Table::new();
    m.load_style(presets::UTF8_FULL_CONDENSED);
    m.set_header(vec!["machine", "reports", "agents", "violations", "first seen", "last seen"]);
    for x in &fleet.machines {
        m.add_row(vec![
            x.machine.clone(),
            x.reports.to_string(),
            list(&x.agents),
            x.violations.to_string(),
            opt(&x.first_seen),
            opt(&x.last_seen),
        ]);
    }
    writeln!(out, "{m}")?;
    summary_line(fleet, out)
}

fn summary_line(fleet: &Fleet, out: &mut dyn Write) -> io::Result<()> {
    let s = &fleet.summary;
    writeln!(
        out,
        "{}: {} reports from {} machines, {} agents; {} violating destinations on {} machines",
        s.result, s.reports, s.machines, s.agents, s.violations, s.machines_with_violations
    )
}

/// Markdown cells: no pipe or newline from report text may break the table.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

pub fn markdown(fleet: &Fleet, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "## egress-audit fleet view\n")?;
    writeln!(
        out,
        "| violation | kind | class | tool | machines | agents | versions | count | first seen | last seen |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---:|---|---|")?;
    for v in &fleet.violations {
        writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&destination(v)).replace('`', "'"),
            v.kind,
            cell(&v.class),
            cell(v.tool.as_deref().unwrap_or("-")),
            cell(&list(&v.machines)),
            cell(&list(&v.agents)),
            cell(&list(&v.agent_versions)),
            v.count,
            cell(&opt(&v.first_seen)),
            cell(&opt(&v.last_seen)),
        )?;
    }
    writeln!(out, "\n| machine | reports | agents | violations | first seen | last seen |")?;
    writeln!(out, "|---|---:|---|---:|---|---|")?;
    for m in &fleet.machines {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            cell(&m.machine),
            m.reports,
            cell(&list(&m.agents)),
            m.violations,
            cell(&opt(&m.first_seen)),
            cell(&opt(&m.last_seen)),
        )?;
    }
    writeln!(out)?;
    summary_line(fleet, out)
}
