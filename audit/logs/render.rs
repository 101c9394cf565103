//! The `logs` report as a table, JSON, NDJSON or markdown. Renderers present; they never decide.
//! Every string in the report was escaped when it was aggregated.

use super::model::{Finding, LogsReport, NameReport};
use crate::report::render::Format;
use std::io::{self, Write};

pub fn render(report: &LogsReport, format: Format, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)
        }
        Format::Ndjson => ndjson(report, out),
        Format::Table => table(report, out),
        Format::Markdown => markdown(report, out),
        Format::Ocsf => super::ocsf::render(report, out),
    }
}

fn ndjson(r: &LogsReport, out: &mut dyn Write) -> io::Result<()> {
    let line = |out: &mut dyn Write, record: &str, value: serde_json::Value| -> io::Result<()> {
        let mut v = value;
        if let Some(o) = v.as_object_mut() {
            o.insert("record".into(), record.into());
            o.insert("schema".into(), r.schema.into());
        }
        serde_json::to_writer(&mut *out, &v)?;
        writeln!(out)
    };
    for f in &r.files {
        line(out, "file", serde_json::to_value(f)?)?;
    }
    for n in &r.names {
        line(out, "name", serde_json::to_value(n)?)?;
    }
    let mut summary = serde_json::to_value(&r.summary)?;
    if let Some(o) = summary.as_object_mut() {
        o.insert("policy".into(), serde_json::to_value(&r.policy)?);
        o.insert("errors".into(), serde_json::to_value(&r.errors)?);
    }
    line(out, "summary", summary)
}

/// What the table says in words: "denied and blocked" is what a hardened setup should show,
/// "denied but answered" is the real problem.
fn finding_text(f: Finding) -> &'static str {
    match f {
        Finding::DeniedButAnswered => "VIOLATION: denied but answered",
        Finding::DeniedUnresolved => "VIOLATION: denied, outcome not logged",
        Finding::DeniedAndBlocked => "denied and blocked",
        Finding::DeniedFailed => "denied, failed upstream",
        Finding::Warn => "warn",
        Finding::AllowedButBlocked => "allowed but blocked",
        Finding::Allowed => "allowed",
    }
}

fn counts(n: &NameReport) -> String {
    format!("{}/{}/{}/{}", n.queries, n.answered, n.blocked, n.failed)
}

fn seen(n: &NameReport) -> String {
    match (&n.first_seen, &n.last_seen) {
        (Some(a), Some(b)) if a == b => a.clone(),
        (Some(a), Some(b)) => format!("{a} .. {b}"),
        _ => "-".into(),
    }
}

fn who(n: &NameReport) -> String {
    let mut parts: Vec<String> = n.processes.clone();
    if parts.is_empty() {
        parts = n.clients.clone();
    }
    parts.join(", ")
}

fn table(r: &LogsReport, out: &mut dyn Write) -> io::Result<()> {
    if !r.names.is_empty() {
        let mut t = comfy_table::Table::new();
        t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
        t.set_header(vec!["finding", "name", "class", "tool", "q/ans/blk/fail", "seen", "clients / processes", "why"]);
        for n in &r.names {
            let why =
                if n.details.is_empty() { n.reason.clone() } else { format!("{}; {}", n.reason, n.details.join(", ")) };
            t.add_row(vec![
                finding_text(n.finding).to_string(),
                n.name.clone(),
                n.class.to_string(),
                n.tool.clone().unwrap_or_else(|| "-".into()),
                counts(n),
                seen(n),
                who(n),
                why,
            ]);
        }
        writeln!(out, "{t}")?;
    }
    for f in &r.files {
        writeln!(
            out,
            "{}: {} ({} lines: {} used, {} ignored, {} malformed; times without a zone read as {})",
            f.path,
            f.format.map_or("unknown format", |f| f.as_str()),
            f.lines,
            f.used,
            f.ignored,
            f.malformed,
            f.time_zone
        )?;
        for m in &f.malformed_lines {
            writeln!(out, "  {}:{}: malformed ({}): {}", f.path, m.line, m.reason, m.text)?;
        }
    }
    let s = &r.summary;
    writeln!(
        out,
        "{}: {} names under policy {}: {} denied but answered, {} denied with no logged outcome, {} denied and \
         blocked, {} denied and failed, {} warnings, {} allowed but blocked, {} allowed",
        s.result.to_uppercase(),
        s.names,
        r.policy.name,
        s.denied_but_answered,
        s.denied_unresolved,
        s.denied_and_blocked,
        s.denied_failed,
        s.warnings,
        s.allowed_but_blocked,
        s.allowed
    )
}

/// Log text inside a table cell: unable to break the table or start markup.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('`', "'").replace('<', "&lt;")
}

fn markdown(r: &LogsReport, out: &mut dyn Write) -> io::Result<()> {
    let s = &r.summary;
    let icon = match s.result {
        "pass" => "✅",
        "fail" => "❌",
        _ => "⚠️",
    };
    writeln!(
        out,
        "## {icon} egress-audit logs: {} — {} violation(s), {} denied and blocked, {} warning(s)\n",
        s.result.to_uppercase(),
        s.violations,
        s.denied_and_blocked,
        s.warnings
    )?;
    let files: Vec<String> = r
        .files
        .iter()
        .map(|f| format!("`{}` ({})", cell(&f.path), f.format.map_or("unknown", |f| f.as_str())))
        .collect();
    writeln!(
        out,
        "Policy **{}** · {} names · {} lines · {}\n",
        cell(&r.policy.name),
        s.names,
        s.lines,
        files.join(", ")
    )?;
    if !r.names.is_empty() {
        writeln!(
            out,
            "| finding | name | class | tool | queries | answered | blocked | failed | clients / processes |"
        )?;
        writeln!(out, "|---|---|---|---|---:|---:|---:|---:|---|")?;
        for n in &r.names {
            writeln!(
                out,
                "| {} | `{}` | {} | {} | {} | {} | {} | {} | {} |",
                finding_text(n.finding),
                cell(&n.name),
                n.class,
                cell(n.tool.as_deref().unwrap_or("-")),
                n.queries,
                n.answered,
                n.blocked,
                n.failed,
                cell(&who(n))
            )?;
        }
        writeln!(out)?;
    }
    for f in r.files.iter().filter(|f| f.malformed > 0) {
        writeln!(out, "{} malformed line(s) in `{}`", f.malformed, cell(&f.path))?;
    }
    for e in &r.errors {
        writeln!(out, "- error: {}", cell(e))?;
    }
    Ok(())
}
