//! Doctor report formats: a terminal table, one JSON document, markdown for a CI step summary.
//! What came from the machine (values read from settings files, paths) is escaped like packet text, so no
//! escape sequence reaches a terminal; the shipped check text is printed as written.

use super::{DoctorReport, Finding, Status};
use crate::text::printable_str;
use comfy_table::{Table as Grid, presets};
use std::io::{self, Write};

fn status_cell(s: Status) -> &'static str {
    match s {
        Status::Fail => "FAIL",
        Status::Unknown => "unknown",
        Status::Pass => "pass",
        Status::NotApplicable => "n/a",
    }
}

/// Where the value was found: `file:line key`.
fn location(f: &Finding) -> String {
    let mut s = f.file.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    if let Some(line) = f.line {
        s.push_str(&format!(":{line}"));
    }
    if let Some(key) = &f.key {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(key);
    }
    s
}

/// Findings in report order, failures first.
fn ordered(r: &DoctorReport) -> Vec<&Finding> {
    let mut v: Vec<&Finding> = r.findings.iter().collect();
    v.sort_by_key(|f| f.status);
    v
}

fn summary_line(r: &DoctorReport) -> String {
    let s = &r.summary;
    format!(
        "{}: {} fail, {} unknown, {} pass, {} not applicable · tools found: {}{}",
        s.result.to_uppercase(),
        s.fail,
        s.unknown,
        s.pass,
        s.not_applicable,
        if s.tools_present.is_empty() { "none".to_string() } else { s.tools_present.join(", ") },
        if r.hardened { " · hardened profile" } else { "" }
    )
}

/// One row per judged finding (failures first; not-applicable ones only counted), why and source of
/// each failing or unknown finding, known-ineffective notes, then the summary.
pub fn table(r: &DoctorReport, out: &mut dyn Write) -> io::Result<()> {
    let mut t = Grid::new();
    t.load_style(presets::UTF8_FULL_CONDENSED);
    t.set_header(vec!["status", "check", "where", "found", "expected"]);
    for f in ordered(r).into_iter().filter(|f| f.status != Status::NotApplicable) {
        t.add_row(vec![
            status_cell(f.status).to_string(),
            f.id.clone(),
            printable_str(&location(f)),
            printable_str(&f.found),
            f.expected.clone(),
        ]);
    }
    writeln!(out, "{t}")?;
    for f in ordered(r).into_iter().filter(|f| matches!(f.status, Status::Fail | Status::Unknown)) {
        writeln!(out, "{} {}: {} (source: {})", status_cell(f.status), f.id, f.why, f.source)?;
        if let Some(note) = &f.known_ineffective {
            writeln!(out, "  known ineffective: {note}")?;
        }
    }
    for f in r.findings.iter().filter(|f| f.status == Status::Pass) {
        if let Some(note) = &f.known_ineffective {
            writeln!(out, "note: {} passes, but {note}", f.id)?;
        }
    }
    if r.summary.not_applicable > 0 {
        writeln!(
            out,
            "{} check(s) not applicable (tool not found, extension not installed, or --hardened only); --format json lists them",
            r.summary.not_applicable
        )?;
    }
    writeln!(out, "{}", summary_line(r))?;
    for e in &r.errors {
        writeln!(out, "error: {}", printable_str(e))?;
    }
    out.flush()
}

/// The report as one JSON document (`"schema": "egress-audit/doctor/v1"`).
pub fn json(r: &DoctorReport, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, r)?;
    writeln!(out)?;
    out.flush()
}

/// A cell of text from the machine: escaped, and unable to break the table or start markup.
fn cell(s: &str) -> String {
    text(&printable_str(s))
}

/// A cell of shipped text: it cannot break the table either.
fn text(s: &str) -> String {
    s.replace('|', "\\|").replace('`', "'").replace('<', "&lt;")
}

/// A summary for `$GITHUB_STEP_SUMMARY`: the table of findings that are not `not-applicable`, with why and source.
pub fn markdown(r: &DoctorReport, out: &mut dyn Write) -> io::Result<()> {
    let icon = match r.summary.result {
        "pass" => "✅",
        "fail" => "❌",
        _ => "⚠️",
    };
    writeln!(out, "## {icon} egress-audit doctor: {}\n", text(&summary_line(r)))?;
    let shown: Vec<&Finding> = ordered(r).into_iter().filter(|f| f.status != Status::NotApplicable).collect();
    if !shown.is_empty() {
        writeln!(out, "| status | check | where | found | expected | why |")?;
        writeln!(out, "|---|---|---|---|---|---|")?;
        for f in shown {
            let mut why =
                format!("{} ([source]({}))", text(&f.why), text(f.source.split([';', ' ']).next().unwrap_or("")));
            if let Some(note) = &f.known_ineffective {
                why.push_str(&format!(" **Known ineffective:** {}", text(note)));
            }
            writeln!(
                out,
                "| {} | `{}` | `{}` | {} | {} | {} |",
                f.status,
                text(&f.id),
                cell(&location(f)),
                cell(&f.found),
                text(&f.expected),
                why
            )?;
        }
        writeln!(out)?;
    }
    let na = r.summary.not_applicable;
    if na > 0 {
        writeln!(out, "{na} check(s) not applicable (tool not found, extension not installed, or hardened only).\n")?;
    }
    for e in &r.errors {
        writeln!(out, "> **input error:** {}", cell(e))?;
    }
    out.flush()
}
