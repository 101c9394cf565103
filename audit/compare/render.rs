//! The report diff as a table, JSON or markdown. Unchanged items are listed only when asked.

use super::{Change, Item, ReportDiff, Seen};
use crate::text::printable_str;
use std::io::{self, Write};

fn judged(s: &Option<Seen>) -> String {
    s.as_ref().map_or("-".into(), |s| format!("{} {} ×{}", s.class, s.verdict, s.count))
}

fn shown(d: &ReportDiff, all: bool) -> impl Iterator<Item = &Item> {
    d.items.iter().filter(move |i| all || i.change != Change::Same)
}

fn headline(d: &ReportDiff) -> String {
    format!(
        "{} added ({} not allowed), {} removed, {} changed — before {}: {} ({} violations), after {}: {} ({} violations)",
        d.summary.added,
        d.summary.added_not_allowed,
        d.summary.removed,
        d.summary.changed,
        printable_str(&d.before.label),
        d.before.result,
        d.before.violations,
        printable_str(&d.after.label),
        d.after.result,
        d.after.violations
    )
}

pub fn table(d: &ReportDiff, all: bool, out: &mut dyn Write) -> io::Result<()> {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header(vec!["change", "kind", "what", "before", "after"]);
    for i in shown(d, all) {
        t.add_row(vec![
            i.change.as_str().to_string(),
            i.kind.as_str().to_string(),
            printable_str(&i.key),
            judged(&i.before),
            judged(&i.after),
        ]);
    }
    writeln!(out, "{t}")?;
    let classes: Vec<String> = d
        .by_class
        .iter()
        .filter(|(_, c)| c.before_flows != c.after_flows)
        .map(|(name, c)| format!("{name} {}→{}", c.before_flows, c.after_flows))
        .collect();
    if !classes.is_empty() {
        writeln!(out, "flows by class: {}", classes.join(", "))?;
    }
    writeln!(out, "{}", headline(d))
}

pub fn json(d: &ReportDiff, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, d).map_err(io::Error::other)?;
    writeln!(out)
}

fn md_cell(s: &str) -> String {
    printable_str(s).replace('|', "\\|")
}

pub fn markdown(d: &ReportDiff, all: bool, out: &mut dyn Write) -> io::Result<()> {
    let verdict =
        if d.summary.exit_code == 0 { "✅ nothing new that the policy denies" } else { "❌ new product traffic" };
    writeln!(out, "### egress-audit diff: {verdict}\n")?;
    writeln!(out, "{}\n", md_cell(&headline(d)))?;
    writeln!(out, "| change | kind | what | before | after |")?;
    writeln!(out, "|---|---|---|---|---|")?;
    for i in shown(d, all) {
        writeln!(
            out,
            "| {} | {} | `{}` | {} | {} |",
            i.change.as_str(),
            i.kind.as_str(),
            md_cell(&i.key).replace('`', "'"),
            md_cell(&judged(&i.before)),
            md_cell(&judged(&i.after))
        )?;
    }
    Ok(())
}
