//! Newline-delimited JSON: one object per line, each with a `record` kind (`flow`, `dns`, `destination`,
//! `source`, `summary`), for log pipelines. Field names are those of the JSON report.

use super::Renderer;
use crate::report::model::{FlowReport, Report, SCHEMA};
use serde::Serialize;
use std::io::{self, Write};

pub struct Ndjson<'w> {
    out: Box<dyn Write + 'w>,
}

impl<'w> Ndjson<'w> {
    pub fn new(out: Box<dyn Write + 'w>) -> Self {
        Ndjson { out }
    }

    fn line<T: Serialize>(&mut self, kind: &str, value: &T) -> io::Result<()> {
        let mut v = serde_json::to_value(value)?;
        if let serde_json::Value::Object(map) = &mut v {
            map.insert("record".into(), kind.into());
            map.insert("schema".into(), SCHEMA.into());
        }
        serde_json::to_writer(&mut self.out, &v)?;
        self.out.write_all(b"\n")
    }
}

impl Renderer for Ndjson<'_> {
    fn flow(&mut self, flow: &FlowReport) -> io::Result<()> {
        self.line("flow", flow)
    }

    fn finish(&mut self, report: &Report) -> io::Result<()> {
        for d in &report.dns {
            self.line("dns", d)?;
        }
        for d in &report.destinations {
            self.line("destination", d)?;
        }
        for s in &report.header.source {
            self.line("source", s)?;
        }
        let summary = serde_json::json!({
            "policy": report.header.policy,
            "summary": report.summary,
            "errors": report.errors,
            "notes": report.notes,
        });
        self.line("summary", &summary)?;
        self.out.flush()
    }
}
