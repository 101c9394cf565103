//! Output formats. Flows are streamed as they end (so memory stays flat on long captures); the rest
//! of the report arrives at the end.

mod json;
mod markdown;
mod ndjson;
pub mod ocsf;
pub mod requests;
mod table;

use super::model::{FlowReport, Report};
use std::io::{self, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Ndjson,
    Markdown,
    /// OCSF 1.5.0 events (Network, HTTP and DNS Activity), one per line.
    Ocsf,
}

/// A renderer: sees each flow once, then the finished report.
pub trait Renderer {
    fn flow(&mut self, flow: &FlowReport) -> io::Result<()>;
    fn finish(&mut self, report: &Report) -> io::Result<()>;
}

pub fn renderer<'w>(format: Format, out: Box<dyn Write + 'w>) -> Box<dyn Renderer + 'w> {
    match format {
        Format::Table => Box::new(table::Table::new(out)),
        Format::Json => Box::new(json::Json::new(out)),
        Format::Ndjson => Box::new(ndjson::Ndjson::new(out)),
        Format::Markdown => Box::new(markdown::Markdown::new(out)),
        Format::Ocsf => Box::new(ocsf::Ocsf::new(out)),
    }
}

/// One line on naming coverage: `83.33% of 6 flows named (63.56% of bytes): sni 66.67%, none 16.67%`.
pub(crate) fn coverage_line(c: &super::model::Coverage) -> String {
    let shares: Vec<String> =
        c.by_source.iter().map(|(source, share)| format!("{} {}%", source.as_str(), share.flows_pct)).collect();
    format!(
        "{}% of {} flows named ({}% of bytes): {}{}",
        c.named_flows_pct,
        c.flows,
        c.named_bytes_pct,
        shares.join(", "),
        c.minimum_pct.map_or(String::new(), |m| format!(" · minimum {m}%"))
    )
}

/// Human-readable byte counts for the table and markdown.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

/// One line on a sealed run: how it was isolated and what its DNS and sink saw.
pub(crate) fn sealed_line(s: &serde_json::Value) -> String {
    let get = |p: &str| s.pointer(p).cloned().unwrap_or(serde_json::Value::Null);
    let mut line = format!(
        "{} namespace, CA {}, model {} · {} DNS questions · {} connections, {} requests, {} model replies",
        get("/isolation").as_str().unwrap_or("?"),
        if get("/trust_ca").as_bool() == Some(true) { "trusted" } else { "not trusted" },
        if get("/emulate").as_bool() == Some(true) { "played" } else { "not played" },
        get("/dns_questions"),
        get("/sink/connections"),
        get("/sink/requests"),
        get("/sink/emulated_model_replies"),
    );
    if let Some(failed) = s.pointer("/sink/tls_failed_names").and_then(|v| v.as_object()).filter(|m| !m.is_empty()) {
        let names: Vec<String> = failed.keys().map(|k| crate::text::printable_str(k)).collect();
        line.push_str(&format!(" · TLS refused by the client for {}", names.join(", ")));
    }
    if let Some(dir) = get("/run_dir").as_str() {
        line.push_str(&format!(" · run files in {}", crate::text::printable_str(dir)));
    }
    line
}
