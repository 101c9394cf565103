//! OCSF 1.5.0 events, one JSON object per line, for SIEM pipelines (Splunk, Elastic, Security Lake):
//! Network Activity (4001, activity Traffic) per flow, HTTP Activity (4002) per visible request,
//! DNS Activity (4003, activity Query) per DNS question. Profiles `host` (the agent process as
//! `actor.process`) and `security_control` (the verdict).
//!
//! Where egress-audit's answer lives:
//! - verdict: `disposition_id` (allow 1 Allowed, warn 17 Logged, violation 19 Alert), `is_alert`,
//!   `severity_id` (1 Informational, 3 Medium, 4 High); `action_id` is 3 Observed (an audit blocks
//!   nothing);
//! - class: `firewall_rule.category`, with the catalog rule as `firewall_rule.name` and the reason as
//!   `firewall_rule.desc` and `message`;
//! - tool: `app_name`;
//! - the destination name: `dst_endpoint.hostname` (and `domain` for DNS questions);
//! - `unmapped.egress_audit`: what OCSF has no attribute for (the verdict word, how the flow was
//!   named, the blind spot, the report's flow id).

use super::Renderer;
use crate::policy::Verdict;
use crate::report::model::{DnsReport, FlowReport, Report, RequestReport};
use serde_json::{Map, Value, json};
use std::io::{self, Write};
use std::net::SocketAddr;

pub const OCSF_VERSION: &str = "1.5.0";
const PROFILES: [&str; 2] = ["host", "security_control"];

pub struct Ocsf<'w> {
    out: Box<dyn Write + 'w>,
}

impl<'w> Ocsf<'w> {
    pub fn new(out: Box<dyn Write + 'w>) -> Self {
        Ocsf { out }
    }

    fn line(&mut self, event: &Value) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, event)?;
        self.out.write_all(b"\n")
    }
}

/// Milliseconds since the epoch (OCSF `timestamp_t`); 0 when the report's time is not readable.
pub(crate) fn millis(rfc3339: &str) -> i64 {
    rfc3339.parse::<jiff::Timestamp>().map(|t| t.as_millisecond()).unwrap_or(0)
}

pub(crate) fn verdict_fields(e: &mut Map<String, Value>, verdict: Verdict) {
    let (disposition_id, disposition, severity_id, severity) = match verdict {
        Verdict::Allow => (1, "Allowed", 1, "Informational"),
        Verdict::Warn => (17, "Logged", 3, "Medium"),
        Verdict::Violation => (19, "Alert", 4, "High"),
    };
    e.insert("action_id".into(), json!(3));
    e.insert("action".into(), json!("Observed"));
    e.insert("disposition_id".into(), json!(disposition_id));
    e.insert("disposition".into(), json!(disposition));
    e.insert("severity_id".into(), json!(severity_id));
    e.insert("severity".into(), json!(severity));
    e.insert("is_alert".into(), json!(verdict == Verdict::Violation));
}

pub(crate) fn base(
    class_uid: u32,
    class_name: &str,
    activity_id: u32,
    activity: &str,
    time: &str,
    uid: &str,
) -> Map<String, Value> {
    let mut e = Map::new();
    e.insert("class_uid".into(), json!(class_uid));
    e.insert("class_name".into(), json!(class_name));
    e.insert("category_uid".into(), json!(4));
    e.insert("category_name".into(), json!("Network Activity"));
    e.insert("activity_id".into(), json!(activity_id));
    e.insert("activity_name".into(), json!(activity));
    e.insert("type_uid".into(), json!(class_uid * 100 + activity_id));
    e.insert("type_name".into(), json!(format!("{class_name}: {activity}")));
    e.insert("time".into(), json!(millis(time)));
    e.insert(
        "metadata".into(),
        json!({
            "version": OCSF_VERSION,
            "profiles": PROFILES,
            "uid": uid,
            "product": {
                "name": "egress-audit",
                "vendor_name": "egress-audit",
                "version": env!("CARGO_PKG_VERSION"),
            },
        }),
    );
    e
}

pub(crate) fn rule(e: &mut Map<String, Value>, class: &str, rule: Option<&str>, reason: &str, tool: Option<&str>) {
    let mut r = Map::new();
    r.insert("category".into(), json!(class));
    r.insert("desc".into(), json!(reason));
    // OCSF wants a name or uid on every rule; flows no catalog rule matched get a placeholder.
    r.insert("name".into(), json!(rule.unwrap_or("(no catalog rule)")));
    e.insert("firewall_rule".into(), Value::Object(r));
    e.insert("message".into(), json!(reason));
    if let Some(t) = tool {
        e.insert("app_name".into(), json!(t));
    }
}

pub(crate) fn endpoint(addr: &str, hostname: Option<&str>) -> Value {
    let mut m = Map::new();
    match addr.parse::<SocketAddr>() {
        Ok(sa) => {
            m.insert("ip".into(), json!(sa.ip().to_string()));
            m.insert("port".into(), json!(sa.port()));
        }
        Err(_) => {
            if let Ok(ip) = addr.parse::<std::net::IpAddr>() {
                m.insert("ip".into(), json!(ip.to_string()));
            }
        }
    }
    if let Some(h) = hostname {
        m.insert("hostname".into(), json!(h));
    }
    Value::Object(m)
}

fn actor(flow: &FlowReport<'_>) -> Option<Value> {
    let p = flow.process.as_ref()?.process()?;
    let mut process = Map::new();
    process.insert("pid".into(), json!(p.pid));
    process.insert("name".into(), json!(p.name));
    if !p.cmdline.is_empty() {
        process.insert("cmd_line".into(), json!(p.cmdline.join(" ")));
    }
    if let Some(exe) = &p.exe {
        let name = exe.rsplit('/').next().unwrap_or(exe);
        process.insert("file".into(), json!({"path": exe, "name": name, "type_id": 1}));
    }
    if let Some(user) = &p.user {
        process.insert("user".into(), json!({"name": user}));
    }
    if let Some(ppid) = p.ppid {
        process.insert("parent_process".into(), json!({"pid": ppid}));
    }
    let mut a = Map::new();
    a.insert("process".into(), Value::Object(process));
    if let Some(agent) = &p.agent {
        a.insert("app_name".into(), json!(agent));
    }
    Some(Value::Object(a))
}

fn network_event(flow: &FlowReport<'_>) -> Value {
    let mut e = base(4001, "Network Activity", 6, "Traffic", &flow.first_seen.to_string(), &flow.id.to_string());
    verdict_fields(&mut e, flow.verdict);
    rule(&mut e, flow.class.as_str(), flow.rule.as_deref(), &flow.reason, flow.tool.as_deref());
    e.insert("start_time".into(), json!(flow.first_seen.millis()));
    e.insert("end_time".into(), json!(flow.last_seen.millis()));
    e.insert("src_endpoint".into(), endpoint(&flow.src.to_string(), None));
    e.insert("dst_endpoint".into(), endpoint(&flow.dst.to_string(), flow.host.as_deref()));
    e.insert(
        "connection_info".into(),
        json!({"protocol_name": flow.proto, "direction_id": 2, "direction": "Outbound"}),
    );
    e.insert(
        "traffic".into(),
        json!({"bytes": flow.bytes, "bytes_in": flow.bytes_in, "bytes_out": flow.bytes_out, "packets": flow.packets}),
    );
    if let Some(a) = actor(flow) {
        e.insert("actor".into(), a);
    }
    e.insert(
        "unmapped".into(),
        json!({"egress_audit": {
            "verdict": flow.verdict,
            "host_source": flow.host_source,
            "blind_spot": flow.blind_spot,
            "sni": flow.sni,
            "ech": flow.ech,
            "flow_id": flow.id,
        }}),
    );
    Value::Object(e)
}

fn http_activity(method: &str) -> (u32, &'static str) {
    match method {
        "CONNECT" => (1, "Connect"),
        "DELETE" => (2, "Delete"),
        "GET" => (3, "Get"),
        "HEAD" => (4, "Head"),
        "OPTIONS" => (5, "Options"),
        "POST" => (6, "Post"),
        "PUT" => (7, "Put"),
        "TRACE" => (8, "Trace"),
        _ => (99, "Other"),
    }
}

fn http_event(flow: &FlowReport<'_>, index: usize, r: &RequestReport) -> Value {
    let (activity_id, activity) = http_activity(&r.method);
    let uid = format!("{}.r{index}", flow.id);
    let mut e = base(4002, "HTTP Activity", activity_id, activity, &flow.first_seen.to_string(), &uid);
    verdict_fields(&mut e, r.verdict);
    rule(&mut e, r.class.as_str(), r.rule.as_deref(), &format!("{} {}", r.method, r.path), r.tool.as_deref());
    let host = r.host.as_deref().or(flow.host.as_deref());
    let (path, query) = match r.path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (r.path.as_str(), None),
    };
    let mut url = Map::new();
    url.insert("path".into(), json!(path));
    if let Some(q) = query {
        url.insert("query_string".into(), json!(q));
    }
    if let Some(h) = host {
        url.insert("hostname".into(), json!(h));
    }
    let mut request = Map::new();
    request.insert("http_method".into(), json!(r.method));
    request.insert("url".into(), Value::Object(url));
    if let Some(ua) = &r.user_agent {
        request.insert("user_agent".into(), json!(ua));
    }
    e.insert("http_request".into(), Value::Object(request));
    e.insert("src_endpoint".into(), endpoint(&flow.src.to_string(), None));
    e.insert("dst_endpoint".into(), endpoint(&flow.dst.to_string(), host));
    if let Some(a) = actor(flow) {
        e.insert("actor".into(), a);
    }
    e.insert("unmapped".into(), json!({"egress_audit": {"verdict": r.verdict, "flow_id": flow.id}}));
    Value::Object(e)
}

fn dns_event(index: usize, d: &DnsReport) -> Value {
    let uid = format!("{}.q{index}", d.flow_id);
    let mut e = base(4003, "DNS Activity", 1, "Query", &d.first_seen, &uid);
    verdict_fields(&mut e, d.verdict);
    rule(&mut e, d.class.as_str(), d.rule.as_deref(), &d.reason, d.tool.as_deref());
    e.insert("start_time".into(), json!(millis(&d.first_seen)));
    e.insert("end_time".into(), json!(millis(&d.last_seen)));
    e.insert("count".into(), json!(d.queries));
    e.insert("query".into(), json!({"hostname": d.name, "type": d.qtype}));
    let answers: Vec<Value> = d.answers.iter().map(|a| json!({"rdata": a.value, "type": a.rtype})).collect();
    if !answers.is_empty() {
        e.insert("answers".into(), Value::Array(answers));
    }
    if let Some(resolver) = d.resolvers.first() {
        e.insert("dst_endpoint".into(), endpoint(resolver, None));
    }
    e.insert(
        "unmapped".into(),
        json!({"egress_audit": {
            "verdict": d.verdict,
            "protocol": d.protocol,
            "responses": d.responses,
            "errors": d.errors,
            "resolvers": d.resolvers,
            "flow_id": d.flow_id,
        }}),
    );
    Value::Object(e)
}

impl Renderer for Ocsf<'_> {
    fn flow(&mut self, flow: &FlowReport<'_>) -> io::Result<()> {
        self.line(&network_event(flow))?;
        for (i, r) in flow.requests.iter().enumerate() {
            self.line(&http_event(flow, i, r))?;
        }
        Ok(())
    }

    fn finish(&mut self, report: &Report) -> io::Result<()> {
        for (i, d) in report.dns.iter().enumerate() {
            self.line(&dns_event(i, d))?;
        }
        self.out.flush()
    }
}
