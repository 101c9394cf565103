//! One JSON document: `schema` and `flows` first (flows streamed), the rest of the report after.

use super::Renderer;
use crate::report::model::{DnsReport, FlowReport, Report, RequestReport, SCHEMA};
use std::io::{self, Write};

pub struct Json<'w> {
    out: Box<dyn Write + 'w>,
    flows: u64,
    /// One flow is serialized here first, then written at once: many small writes through a
    /// `dyn Write` cost more than the serialization itself.
    line: Vec<u8>,
    enums: Enums,
    /// Addresses are made here before they are written.
    scratch: String,
}

impl<'w> Json<'w> {
    pub fn new(out: Box<dyn Write + 'w>) -> Self {
        Json { out, flows: 0, line: Vec::with_capacity(2048), enums: Enums::default(), scratch: String::new() }
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
fn write_flow(out: &mut Vec<u8>, f: &FlowReport<'_>, enums: &mut Enums, scratch: &mut String) -> io::Result<()> {
    out.extend_from_slice(b"{\"id\":\"");
    f.id.push(out);
    out.extend_from_slice(b"\",\"file\":");
    str(out, f.file);
    out.extend_from_slice(b",\"first_frame\":");
    u64(out, f.first_frame);
    out.extend_from_slice(b",\"proto\":");
    str(out, &f.proto.name());
    out.extend_from_slice(b",\"src\":");
    str(out, f.src.text(scratch));
    out.extend_from_slice(b",\"dst\":");
    str(out, f.dst.text(scratch));
    out.extend_from_slice(b",\"app_protocol\":");
    enums.app_protocol.write(out, f.app_protocol)?;
    out.extend_from_slice(b",\"host\":");
    opt_str(out, f.host.as_deref());
    out.extend_from_slice(b",\"host_source\":");
    enums.host_source.write(out, f.host_source)?;
    out.extend_from_slice(b",\"sni\":");
    opt_str(out, f.sni);
    out.extend_from_slice(b",\"alpn\":");
    strs(out, f.alpn);
    out.extend_from_slice(if f.ech { b",\"ech\":true" } else { b",\"ech\":false" });
    out.extend_from_slice(b",\"connect_target\":");
    opt_str(out, f.connect_target);
    out.extend_from_slice(b",\"dns_names\":");
    strs(out, f.dns_names);
    out.extend_from_slice(b",\"requests\":[");
    for (i, r) in f.requests.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_request(out, r, enums)?;
    }
    out.push(b']');
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
    out.extend_from_slice(b",\"first_seen\":\"");
    f.first_seen.push(out);
    out.extend_from_slice(b"\",\"last_seen\":\"");
    f.last_seen.push(out);
    out.extend_from_slice(b"\",\"process\":");
    match f.process {
        None => out.extend_from_slice(b"null"),
        Some(p) => serde_json::to_writer(&mut *out, p)?,
    }
    out.push(b'}');
    Ok(())
}

/// One request of a flow, as serde's derive writes it (optional sink fields left out when empty).
fn write_request(out: &mut Vec<u8>, r: &RequestReport, enums: &mut Enums) -> io::Result<()> {
    out.extend_from_slice(b"{\"method\":");
    str(out, &r.method);
    out.extend_from_slice(b",\"host\":");
    opt_str(out, r.host.as_deref());
    out.extend_from_slice(b",\"path\":");
    str(out, &r.path);
    out.extend_from_slice(b",\"user_agent\":");
    opt_str(out, r.user_agent.as_deref());
    out.extend_from_slice(b",\"class\":");
    enums.class.write(out, r.class)?;
    out.extend_from_slice(b",\"tool\":");
    opt_str(out, r.tool.as_deref());
    out.extend_from_slice(b",\"rule\":");
    opt_str(out, r.rule.as_deref());
    out.extend_from_slice(b",\"verdict\":");
    enums.verdict.write(out, r.verdict)?;
    out.extend_from_slice(b",\"seen_by\":");
    str(out, r.seen_by);
    if let Some(v) = &r.http_version {
        out.extend_from_slice(b",\"http_version\":");
        str(out, v);
    }
    if !r.header_names.is_empty() {
        out.extend_from_slice(b",\"header_names\":");
        strs(out, &r.header_names);
    }
    if let Some(s) = r.status {
        out.extend_from_slice(b",\"status\":");
        u64(out, u64::from(s));
    }
    if let Some(a) = &r.answered_by {
        out.extend_from_slice(b",\"answered_by\":");
        str(out, a);
    }
    if !r.canary_hits.is_empty() {
        out.extend_from_slice(b",\"canary_hits\":");
        strs(out, &r.canary_hits);
    }
    out.push(b'}');
    Ok(())
}

/// One entry of the DNS section, as serde's derive writes it: a report has one per name and type,
/// tens of thousands on a large capture.
fn write_dns(out: &mut Vec<u8>, d: &DnsReport, enums: &mut Enums) -> io::Result<()> {
    out.extend_from_slice(b"{\"name\":");
    str(out, &d.name);
    out.extend_from_slice(b",\"type\":");
    str(out, &d.qtype);
    out.extend_from_slice(b",\"protocol\":");
    enums.app_protocol.write(out, Some(d.protocol))?;
    out.extend_from_slice(b",\"queries\":");
    u64(out, d.queries);
    out.extend_from_slice(b",\"responses\":");
    u64(out, d.responses);
    out.extend_from_slice(b",\"errors\":");
    u64(out, d.errors);
    out.extend_from_slice(b",\"answers\":[");
    for (i, a) in d.answers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"name\":");
        str(out, &a.name);
        out.extend_from_slice(b",\"type\":");
        str(out, &a.rtype);
        out.extend_from_slice(b",\"value\":");
        str(out, &a.value);
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"resolvers\":");
    strs(out, &d.resolvers);
    out.extend_from_slice(b",\"class\":");
    enums.class.write(out, d.class)?;
    out.extend_from_slice(b",\"tool\":");
    opt_str(out, d.tool.as_deref());
    out.extend_from_slice(b",\"rule\":");
    opt_str(out, d.rule.as_deref());
    out.extend_from_slice(b",\"verdict\":");
    enums.verdict.write(out, d.verdict)?;
    out.extend_from_slice(b",\"reason\":");
    str(out, &d.reason);
    out.extend_from_slice(b",\"file\":");
    str(out, &d.file);
    out.extend_from_slice(b",\"first_frame\":");
    u64(out, d.first_frame);
    out.extend_from_slice(b",\"flow_id\":");
    str(out, &d.flow_id);
    out.extend_from_slice(b",\"first_seen\":");
    str(out, &d.first_seen);
    out.extend_from_slice(b",\"last_seen\":");
    str(out, &d.last_seen);
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
    fn flow(&mut self, flow: &FlowReport<'_>) -> io::Result<()> {
        if self.flows == 0 {
            self.start()?;
        }
        self.line.clear();
        self.line.extend_from_slice(if self.flows == 0 { b"\n" } else { b",\n" });
        write_flow(&mut self.line, flow, &mut self.enums, &mut self.scratch)?;
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
        self.out.write_all(b",\n\"dns\": [")?;
        for (i, d) in report.dns.iter().enumerate() {
            self.line.clear();
            if i > 0 {
                self.line.push(b',');
            }
            write_dns(&mut self.line, d, &mut self.enums)?;
            self.out.write_all(&self.line)?;
        }
        self.out.write_all(b"]")?;
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
    use crate::report::values::{Endpoint, FlowId, Proto, Timestamp};

    fn check(flow: &FlowReport) {
        let mut ours = Vec::new();
        let mut enums = Enums::default();
        // Twice: once serialized by serde, once copied from the memo.
        for _ in 0..2 {
            ours.clear();
            write_flow(&mut ours, flow, &mut enums, &mut String::from("stale")).unwrap_or_else(|e| panic!("{e}"));
        }
        let serde = serde_json::to_vec(flow).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&serde));
    }

    /// Compares every flow with serde's output while the real pipeline renders the fixtures.
    struct Compare(usize, usize);
    impl Renderer for Compare {
        fn flow(&mut self, flow: &FlowReport) -> io::Result<()> {
            check(flow);
            self.0 += 1;
            Ok(())
        }
        fn finish(&mut self, report: &Report) -> io::Result<()> {
            for d in &report.dns {
                let mut ours = Vec::new();
                write_dns(&mut ours, d, &mut Enums::default())?;
                assert_eq!(String::from_utf8_lossy(&ours), serde_json::to_string(d)?);
                self.1 += 1;
            }
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
        let mut compare = Compare(0, 0);
        crate::replay::run(&cfg, &mut compare).unwrap_or_else(|e| panic!("{e}"));
        assert!(compare.0 > 50, "only {} flows", compare.0);
        assert!(compare.1 > 10, "only {} DNS entries", compare.1);
    }

    #[test]
    fn escapes_and_rare_shapes_match_serde() {
        let alpn = vec!["h2".to_string(), "\"".to_string()];
        let dns_names = vec!["a.example".to_string(), "b\\x00.example".to_string()];
        let owner = Owner::Unattributed { reason: "gone".into() };
        let scoped = std::net::SocketAddr::V6(std::net::SocketAddrV6::new(std::net::Ipv6Addr::LOCALHOST, 53, 0, 7));
        let mut flow = FlowReport {
            id: FlowId { file: 1, flow: u64::MAX },
            file: "dir with \"quotes\"\\and\ttab\u{1}/é€😀.pcap",
            first_frame: u64::MAX,
            proto: Proto(132),
            src: Endpoint("[fd00::1]:443".parse().unwrap_or_else(|e| panic!("{e}"))),
            dst: Endpoint(scoped),
            app_protocol: Some(AppProtocol::Quic),
            host: Some("\u{7f}x\u{1f}".into()),
            host_source: HostSource::Sni,
            sni: Some(""),
            alpn: &alpn,
            ech: true,
            connect_target: Some("a:1"),
            dns_names: &dns_names,
            requests: vec![RequestReport {
                method: "POST".into(),
                host: Some("h\u{0}".into()),
                path: "/v1/\"x\"".into(),
                user_agent: None,
                class: Class::Telemetry,
                tool: None,
                rule: Some("r".into()),
                verdict: Verdict::Warn,
                seen_by: "sink",
                http_version: Some("HTTP/2".into()),
                header_names: vec!["user-agent".into(), "x-\u{7}".into()],
                status: Some(200),
                answered_by: Some("anthropic".into()),
                canary_hits: vec!["aws@body".into()],
            }],
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
            first_seen: Timestamp(1_704_067_200_123_456_789),
            // Years outside 0-9999 are written with a sign or more digits.
            last_seen: Timestamp(i64::MIN),
            process: Some(&owner),
        };
        check(&flow);
        flow.app_protocol = None;
        flow.host = None;
        flow.sni = None;
        flow.alpn = &[];
        flow.ech = false;
        flow.connect_target = None;
        flow.dns_names = &[];
        flow.tool = None;
        flow.rule = None;
        flow.blind_spot = None;
        flow.process = None;
        flow.proto = Proto(6);
        flow.last_seen = Timestamp(i64::MAX);
        let full = flow.requests[0].clone();
        flow.requests = vec![
            RequestReport {
                user_agent: Some("ua".into()),
                tool: Some("t".into()),
                rule: None,
                http_version: None,
                header_names: Vec::new(),
                status: None,
                answered_by: None,
                canary_hits: Vec::new(),
                ..full.clone()
            },
            full,
        ];
        check(&flow);
    }
}
