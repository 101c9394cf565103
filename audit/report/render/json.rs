//! One JSON document: `schema` and `flows` first (flows streamed), the rest of the report after.

use super::Renderer;
use crate::report::model::{FlowReport, Report, SCHEMA};
use std::io::{self, Write};

pub struct Json<'w> {
    out: Box<dyn Write + 'w>,
    flows: u64,
    /// One flow is serialized here first, then written at once: many small writes through a
    /// `dyn Write` cost more than the serialization itself.
    line: Vec<u8>,
}

impl<'w> Json<'w> {
    pub fn new(out: Box<dyn Write + 'w>) -> Self {
        Json { out, flows: 0, line: Vec::with_capacity(2048) }
    }

    /// Writes `,\n"key": value` straight to the output (no intermediate `serde_json::Value`).
    fn field<T: serde::Serialize>(&mut self, key: &str, value: &T) -> io::Result<()> {
        write!(self.out, ",\n{}: ", serde_json::to_string(key)?)?;
        serde_json::to_writer(&mut self.out, value)?;
        Ok(())
    }

    fn start(&mut self) -> io::Result<()> {
        write!(self.out, "{{\n\"schema\": {},\n\"flows\": [", serde_json::to_string(SCHEMA)?)
    }
}

impl Renderer for Json<'_> {
    fn flow(&mut self, flow: &FlowReport) -> io::Result<()> {
        if self.flows == 0 {
            self.start()?;
        }
        self.line.clear();
        self.line.extend_from_slice(if self.flows == 0 { b"\n" } else { b",\n" });
        serde_json::to_writer(&mut self.line, flow)?;
        self.flows += 1;
        self.out.write_all(&self.line)
    }

    fn finish(&mut self, report: &Report) -> io::Result<()> {
        if self.flows == 0 {
            self.start()?;
        }
        self.out.write_all(b"\n]")?;
        let h = &report.header;
        self.field("tool", &h.tool)?;
        self.field("source", &h.source)?;
        self.field("policy", &h.policy)?;
        self.field("dns", &report.dns)?;
        self.field("destinations", &report.destinations)?;
        self.field("summary", &report.summary)?;
        self.field("errors", &report.errors)?;
        self.field("notes", &report.notes)?;
        if let Some(s) = &report.sealed {
            self.field("sealed", s)?;
        }
        if let Some(d) = &report.doctor {
            self.field("doctor", d)?;
        }
        self.out.write_all(b"\n}\n")?;
        self.out.flush()
    }
}
