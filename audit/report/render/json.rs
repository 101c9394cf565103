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
    enums: Enums,
}

impl<'w> Json<'w> {
    pub fn new(out: Box<dyn Write + 'w>) -> Self {
        Json { out, flows: 0, line: Vec::with_capacity(2048), enums: Enums::default() }
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

/// Appends `flow` exactly as `serde_json::to_writer` would write it (field order and escaping of the
/// derive), without serde's per-field machinery: this runs once per flow, and field names need no
/// escaping. Nested values that are rare or have many shapes (requests, process) still go through
/// serde. `tests::flows_match_serde` keeps the two in step when `FlowReport` changes.
fn write_flow(out: &mut Vec<u8>, f: &FlowReport, enums: &mut Enums) -> io::Result<()> {
    out.extend_from_slice(b"{\"id\":");
    str(out, &f.id);
    out.extend_from_slice(b",\"file\":");
    str(out, &f.file);
    out.extend_from_slice(b",\"first_frame\":");
    u64(out, f.first_frame);
    out.extend_from_slice(b",\"proto\":");
    str(out, &f.proto);
    out.extend_from_slice(b",\"src\":");
    str(out, &f.src);
    out.extend_from_slice(b",\"dst\":");
    str(out, &f.dst);
    out.extend_from_slice(b",\"app_protocol\":");
    enums.app_protocol.write(out, f.app_protocol)?;
    out.extend_from_slice(b",\"host\":");
    opt_str(out, f.host.as_deref());
    out.extend_from_slice(b",\"host_source\":");
    enums.host_source.write(out, f.host_source)?;
    out.extend_from_slice(b",\"sni\":");
    opt_str(out, f.sni.as_deref());
    out.extend_from_slice(b",\"alpn\":");
    strs(out, &f.alpn);
    out.extend_from_slice(if f.ech { b",\"ech\":true" } else { b",\"ech\":false" });
    out.extend_from_slice(b",\"connect_target\":");
    opt_str(out, f.connect_target.as_deref());
    out.extend_from_slice(b",\"dns_names\":");
    strs(out, &f.dns_names);
    out.extend_from_slice(b",\"requests\":");
    if f.requests.is_empty() {
        out.extend_from_slice(b"[]");
    } else {
        serde_json::to_writer(&mut *out, &f.requests)?;
    }
    out.extend_from_slice(b",\"class\":");
    enums.class.write(out, f.class)?;
    out.extend_from_slice(b",\"tool\":");
    opt_str(out, f.tool.as_deref());
    out.extend_from_slice(b",\"rule\":");
    opt_str(out, f.rule.as_deref());
    out.extend_from_slice(b",\"verdict\":");
    enums.verdict.write(out, f.verdict)?;
    out.extend_from_slice(b",\"reason\":");
    str(out, &f.reason);
    out.extend_from_slice(b",\"blind_spot\":");
    enums.blind_spot.write(out, f.blind_spot)?;
    out.extend_from_slice(b",\"packets\":");
    u64(out, f.packets);
    out.extend_from_slice(b",\"bytes\":");
    u64(out, f.bytes);
    out.extend_from_slice(b",\"bytes_out\":");
    u64(out, f.bytes_out);
    out.extend_from_slice(b",\"bytes_in\":");
    u64(out, f.bytes_in);
    out.extend_from_slice(b",\"first_seen\":");
    str(out, &f.first_seen);
    out.extend_from_slice(b",\"last_seen\":");
    str(out, &f.last_seen);
    out.extend_from_slice(b",\"process\":");
    match &f.process {
        None => out.extend_from_slice(b"null"),
        Some(p) => serde_json::to_writer(&mut *out, p)?,
    }
    out.push(b'}');
    Ok(())
}

/// The JSON text of the enum fields of a flow, each value serialized by serde once and then copied.
#[derive(Default)]
struct Enums {
    app_protocol: Memo<Option<crate::flows::AppProtocol>>,
    host_source: Memo<crate::flows::HostSource>,
    class: Memo<crate::catalog::Class>,
    verdict: Memo<crate::policy::Verdict>,
    blind_spot: Memo<Option<crate::blind_spots::BlindSpot>>,
}

/// Values seen so far with their JSON text; these enums have a handful of values each.
struct Memo<T>(Vec<(T, Box<[u8]>)>);

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Memo(Vec::new())
    }
}

impl<T: Copy + PartialEq + serde::Serialize> Memo<T> {
    fn write(&mut self, out: &mut Vec<u8>, value: T) -> io::Result<()> {
        if let Some((_, text)) = self.0.iter().find(|(v, _)| *v == value) {
            out.extend_from_slice(text);
            return Ok(());
        }
        let text = serde_json::to_vec(&value)?;
        out.extend_from_slice(&text);
        self.0.push((value, text.into_boxed_slice()));
        Ok(())
    }
}

/// A JSON string. Most strings need no escaping; checking that without an early exit lets the
/// compiler test many bytes at once, and the rare string that needs it goes to serde_json.
fn str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    if b.iter().fold(true, |plain, &c| plain & (c >= 0x20) & (c != b'"') & (c != b'\\')) {
        out.reserve(b.len() + 2);
        out.push(b'"');
        out.extend_from_slice(b);
        out.push(b'"');
    } else if serde_json::to_writer(&mut *out, s).is_err() {
        // Writing a `str` into a `Vec` cannot fail; `null` keeps the document valid if it ever did.
        out.extend_from_slice(b"null");
    }
}

fn opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

fn strs(out: &mut Vec<u8>, v: &[String]) {
    out.push(b'[');
    for (i, s) in v.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        str(out, s);
    }
    out.push(b']');
}

fn u64(out: &mut Vec<u8>, n: u64) {
    let mut buf = [0u8; 20];
    out.extend_from_slice(crate::text::decimal_digits(n, &mut buf));
}

impl Renderer for Json<'_> {
    fn flow(&mut self, flow: &FlowReport) -> io::Result<()> {
        if self.flows == 0 {
            self.start()?;
        }
        self.line.clear();
        self.line.extend_from_slice(if self.flows == 0 { b"\n" } else { b",\n" });
        write_flow(&mut self.line, flow, &mut self.enums)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, Class};
    use crate::flows::owner::Owner;
    use crate::flows::{AppProtocol, HostSource};
    use crate::policy::{Policy, Verdict};
    use crate::replay::{ReplayConfig, ReportOptions};

    fn check(flow: &FlowReport) {
        let mut ours = Vec::new();
        let mut enums = Enums::default();
        // Twice: once serialized by serde, once copied from the memo.
        for _ in 0..2 {
            ours.clear();
            write_flow(&mut ours, flow, &mut enums).unwrap_or_else(|e| panic!("{e}"));
        }
        let serde = serde_json::to_vec(flow).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&serde));
    }

    /// Compares every flow with serde's output while the real pipeline renders the fixtures.
    struct Compare(usize);
    impl Renderer for Compare {
        fn flow(&mut self, flow: &FlowReport) -> io::Result<()> {
            check(flow);
            self.0 += 1;
            Ok(())
        }
        fn finish(&mut self, _: &Report) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn flows_match_serde() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
            .collect();
        files.sort();
        assert!(files.len() >= 10, "fixtures missing from {}", dir.display());
        let cfg = ReplayConfig {
            files,
            catalog: Catalog::builtin().unwrap_or_else(|e| panic!("{e}")),
            policy: Policy::profile("claude-code").unwrap_or_else(|e| panic!("{e}")),
            options: ReportOptions::default(),
            access: crate::source::file::Access::default(),
        };
        let mut compare = Compare(0);
        crate::replay::run(&cfg, &mut compare).unwrap_or_else(|e| panic!("{e}"));
        assert!(compare.0 > 50, "only {} flows", compare.0);
    }

    #[test]
    fn escapes_and_rare_shapes_match_serde() {
        let mut flow = FlowReport {
            id: "F1.2".into(),
            file: "dir with \"quotes\"\\and\ttab\u{1}/é€😀.pcap".into(),
            first_frame: u64::MAX,
            proto: "tcp".into(),
            src: "[fd00::1]:443".into(),
            dst: "10.0.0.1:0".into(),
            app_protocol: Some(AppProtocol::Quic),
            host: Some("\u{7f}x\u{1f}".into()),
            host_source: HostSource::Sni,
            sni: Some(String::new()),
            alpn: vec!["h2".into(), "\"".into()],
            ech: true,
            connect_target: Some("a:1".into()),
            dns_names: vec!["a.example".into(), "b\\x00.example".into()],
            requests: Vec::new(),
            class: Class::ErrorReporting,
            tool: Some("t".into()),
            rule: Some("r".into()),
            verdict: Verdict::Violation,
            reason: "x; y".into(),
            blind_spot: Some(crate::blind_spots::BlindSpot::TlsNoSni),
            packets: 0,
            bytes: 10,
            bytes_out: 1_000_000_007,
            bytes_in: 9,
            first_seen: "2024-01-01T00:00:00.000000Z".into(),
            last_seen: "\n".into(),
            process: Some(Owner::Unattributed { reason: "gone".into() }),
        };
        check(&flow);
        flow.app_protocol = None;
        flow.host = None;
        flow.sni = None;
        flow.alpn.clear();
        flow.ech = false;
        flow.connect_target = None;
        flow.dns_names.clear();
        flow.tool = None;
        flow.rule = None;
        flow.blind_spot = None;
        flow.process = None;
        check(&flow);
    }
}
