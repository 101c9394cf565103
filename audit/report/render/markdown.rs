//! A summary fit for a CI step summary (GitHub `$GITHUB_STEP_SUMMARY`, GitLab reports).

use super::{Renderer, human_bytes};
use crate::policy::Verdict;
use crate::report::model::{FlowReport, Report};
use crate::text::printable_str;
use std::io::{self, Write};

pub struct Markdown<'w> {
    out: Box<dyn Write + 'w>,
    requests: super::requests::RequestRows,
}

impl<'w> Markdown<'w> {
    pub fn new(out: Box<dyn Write + 'w>) -> Self {
        Markdown { out, requests: Default::default() }
    }
}

/// Packet text inside a table cell: escaped, and unable to break the table or start markup.
fn cell(s: &str) -> String {
    printable_str(s).replace('|', "\\|").replace('`', "'").replace('<', "&lt;")
}

impl Renderer for Markdown<'_> {
    fn flow(&mut self, flow: &FlowReport) -> io::Result<()> {
        self.requests.add(flow);
        Ok(())
    }

    fn finish(&mut self, r: &Report) -> io::Result<()> {
        let s = &r.summary;
        let icon = match s.result {
            "pass" => "✅",
            "fail" => "❌",
            _ => "⚠️",
        };
        writeln!(
            self.out,
            "## {icon} egress-audit: {} — {} violation(s), {} warning(s)\n",
            s.result.to_uppercase(),
            s.violations,
            s.warnings
        )?;
        let files: Vec<String> = r.header.source.iter().map(|f| format!("`{}`", cell(&f.path))).collect();
        writeln!(
            self.out,
            "Policy **{}** · {} flows · {} · {} DNS questions · source {}\n",
            cell(&r.header.policy.name),
            s.flows,
            human_bytes(s.bytes),
            s.dns_questions,
            files.join(", ")
        )?;
        writeln!(self.out, "Coverage: {}\n", super::coverage_line(&s.coverage))?;
        if !s.blind_spots.is_empty() {
            let spots: Vec<String> =
                s.blind_spots.iter().map(|(b, n)| format!("`{}` {}", b.as_str(), n.flows)).collect();
            writeln!(self.out, "Blind spots (flows that cannot be verified): {}\n", spots.join(", "))?;
        }
        if let Some(sealed) = &r.sealed {
            writeln!(self.out, "Sealed run: {}\n", cell(&super::sealed_line(sealed)))?;
        }
        if !self.requests.is_empty() {
            writeln!(self.out, "| verdict | request | class | tool | count | answered |")?;
            writeln!(self.out, "|---|---|---|---|---|---|")?;
            for (k, row) in &self.requests.rows {
                let mut what = format!("`{}`", cell(&format!("{} {}{}", k.method, k.host, k.path)));
                if !row.canary_hits.is_empty() {
                    what.push_str(&format!(" **canary {}**", cell(&row.canary_hits.join(", "))));
                }
                writeln!(
                    self.out,
                    "| {} | {what} | {} | {} | {} | {} |",
                    k.verdict.0,
                    row.class.map(|c| c.to_string()).unwrap_or_default(),
                    cell(row.tool.as_deref().unwrap_or("-")),
                    row.count,
                    cell(&super::requests::statuses(row))
                )?;
            }
            writeln!(self.out)?;
        }
        if !r.destinations.is_empty() {
            writeln!(self.out, "| verdict | destination | class | tool | flows | bytes | why |")?;
            writeln!(self.out, "|---|---|---|---|---:|---:|---|")?;
            for d in &r.destinations {
                writeln!(
                    self.out,
                    "| {} | `{}` | {} | {} | {} | {} | {} |",
                    d.verdict,
                    cell(&d.host),
                    d.class,
                    cell(d.tool.as_deref().unwrap_or("-")),
                    d.flows,
                    human_bytes(d.bytes),
                    cell(&d.reason)
                )?;
            }
            writeln!(self.out)?;
        }
        let judged: Vec<_> = r.dns.iter().filter(|d| d.verdict != Verdict::Allow).collect();
        if !judged.is_empty() {
            writeln!(self.out, "**DNS questions not allowed**\n")?;
            writeln!(self.out, "| verdict | name | type | class | tool |")?;
            writeln!(self.out, "|---|---|---|---|---|")?;
            for d in judged {
                writeln!(
                    self.out,
                    "| {} | `{}` | {} | {} | {} |",
                    d.verdict,
                    cell(&d.name),
                    d.qtype,
                    d.class,
                    cell(d.tool.as_deref().unwrap_or("-"))
                )?;
            }
            writeln!(self.out)?;
        }
        if let Some(d) = &r.doctor {
            writeln!(self.out, "### Agent switches (doctor)\n")?;
            crate::doctor::render::markdown(d, &mut self.out)?;
        }
        for n in &r.notes {
            writeln!(self.out, "> **note:** {}", cell(n))?;
        }
        for e in &r.errors {
            writeln!(self.out, "> **input error:** {}", cell(e))?;
        }
        self.out.flush()
    }
}
