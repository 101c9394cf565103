//! The terminal table: one row per destination, violations first, then DNS questions that were not
//! allowed, then the summary. Every packet-derived string is escaped before it reaches the terminal.

use super::{Renderer, human_bytes};
use crate::policy::Verdict;
use crate::report::model::{FlowReport, Report};
use crate::text::printable_str;
use comfy_table::{Table as Grid, presets};
use std::io::{self, Write};

pub struct Table<'w> {
    out: Box<dyn Write + 'w>,
    requests: super::requests::RequestRows,
}

impl<'w> Table<'w> {
    pub fn new(out: Box<dyn Write + 'w>) -> Self {
        Table { out, requests: Default::default() }
    }
}

fn grid(header: &[&str]) -> Grid {
    let mut t = Grid::new();
    t.load_style(presets::UTF8_FULL_CONDENSED);
    t.set_header(header.to_vec());
    t
}

fn verdict_cell(v: Verdict) -> &'static str {
    match v {
        Verdict::Violation => "VIOLATION",
        Verdict::Warn => "warn",
        Verdict::Allow => "allow",
    }
}

impl Renderer for Table<'_> {
    fn flow(&mut self, flow: &FlowReport) -> io::Result<()> {
        self.requests.add(flow);
        Ok(())
    }

    fn finish(&mut self, r: &Report) -> io::Result<()> {
        let with_processes = r.destinations.iter().any(|d| !d.processes.is_empty());
        let mut header = vec!["verdict", "destination", "class", "tool", "flows", "bytes", "first seen", "named by"];
        if with_processes {
            header.push("process");
        }
        let mut t = grid(&header);
        for d in &r.destinations {
            let named: Vec<String> = d
                .named_by
                .iter()
                .map(|n| serde_json::to_value(n).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default())
                .collect();
            let mut row = vec![
                verdict_cell(d.verdict).to_string(),
                printable_str(&d.host),
                d.class.to_string(),
                d.tool.as_deref().unwrap_or("-").to_string(),
                d.flows.to_string(),
                human_bytes(d.bytes),
                d.first_seen.get(..19).unwrap_or(&d.first_seen).replace('T', " "),
                named.join(","),
            ];
            if with_processes {
                row.push(d.processes.join("\n"));
            }
            t.add_row(row);
        }
        writeln!(self.out, "{t}")?;
        if !self.requests.is_empty() {
            let mut t = grid(&["verdict", "request", "class", "tool", "count", "answered"]);
            for (k, row) in &self.requests.rows {
                let mut what = printable_str(&format!("{} {}{}", k.method, k.host, k.path));
                if !row.canary_hits.is_empty() {
                    what.push_str(&format!("\nCANARY {}", printable_str(&row.canary_hits.join(", "))));
                }
                t.add_row(vec![
                    verdict_cell(k.verdict.0).to_string(),
                    what,
                    row.class.map(|c| c.to_string()).unwrap_or_default(),
                    row.tool.as_deref().unwrap_or("-").to_string(),
                    row.count.to_string(),
                    super::requests::statuses(row),
                ]);
            }
            writeln!(self.out, "{t}")?;
            if self.requests.not_listed > 0 {
                writeln!(self.out, "({} more requests not listed)", self.requests.not_listed)?;
            }
        }
        let judged: Vec<_> = r.dns.iter().filter(|d| d.verdict != Verdict::Allow).collect();
        if !judged.is_empty() {
            let mut t = grid(&["verdict", "DNS question", "type", "class", "tool", "queries", "answers"]);
            for d in judged {
                t.add_row(vec![
                    verdict_cell(d.verdict).to_string(),
                    printable_str(&d.name),
                    d.qtype.clone(),
                    d.class.to_string(),
                    d.tool.as_deref().unwrap_or("-").to_string(),
                    d.queries.max(d.responses).to_string(),
                    d.answers.len().to_string(),
                ]);
            }
            writeln!(self.out, "{t}")?;
        }
        let s = &r.summary;
        writeln!(
            self.out,
            "{}: {} violation(s), {} warning(s) · {} flows, {} · {} DNS questions · policy {}",
            s.result.to_uppercase(),
            s.violations,
            s.warnings,
            s.flows,
            human_bytes(s.bytes),
            s.dns_questions,
            printable_str(&r.header.policy.name),
        )?;
        writeln!(self.out, "coverage: {}", super::coverage_line(&s.coverage))?;
        if !s.blind_spots.is_empty() {
            let spots: Vec<String> = s.blind_spots.iter().map(|(b, n)| format!("{} {}", b.as_str(), n.flows)).collect();
            writeln!(self.out, "blind spots (flows): {}", spots.join(", "))?;
        }
        if let Some(a) = &s.attribution {
            let missing: u64 = a.unattributed.values().map(|c| c.flows).sum();
            let reasons: Vec<String> = a.unattributed.iter().map(|(k, c)| format!("{k}: {}", c.flows)).collect();
            writeln!(
                self.out,
                "attribution: {} of {} flows have a process{}",
                a.attributed.flows,
                a.attributed.flows + missing,
                if reasons.is_empty() { String::new() } else { format!(" (without: {})", reasons.join(", ")) }
            )?;
        }
        if let Some(sealed) = &r.sealed {
            writeln!(self.out, "sealed: {}", super::sealed_line(sealed))?;
        }
        if let Some(d) = &r.doctor {
            crate::doctor::render::table(d, &mut self.out)?;
        }
        for n in &r.notes {
            writeln!(self.out, "note: {}", printable_str(n))?;
        }
        for e in &r.errors {
            writeln!(self.out, "error: {}", printable_str(e))?;
        }
        self.out.flush()
    }
}
