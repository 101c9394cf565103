//! The report value: one document, several renderers. Its JSON form is a public interface, versioned
//! by [`SCHEMA`] and described by `reports/egress-audit-report.v1.schema.json`.

use super::values::{Endpoint, FlowId, Proto, Timestamp};
use crate::blind_spots::BlindSpot;
use crate::catalog::Class;
use crate::flows::owner::Owner;
use crate::flows::{AppProtocol, HostSource};
use crate::policy::Verdict;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

pub const SCHEMA: &str = "egress-audit/report/v1";

#[derive(Debug, Clone, Serialize)]
pub struct Header {
    pub schema: &'static str,
    pub tool: ToolInfo,
    pub source: Vec<SourceFile>,
    pub policy: PolicyInfo,
}

#[derive(Debug, Clone, Serialize)]
pub struct ToolInfo {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceFile {
    pub kind: &'static str,
    pub path: String,
    pub format: String,
    pub linktypes: Vec<u32>,
    pub frames: u64,
    pub bytes: u64,
    pub not_ip_frames: u64,
    pub truncated_frames: u64,
    pub unsupported_linktypes: Vec<u32>,
    pub incomplete_fragments: u64,
    /// Flows ended before their idle timeout because the flow table was full.
    pub flows_ended_early: u64,
    /// Flows whose naming stopped because all flows together buffered too much.
    pub inspections_abandoned: u64,
    pub error: Option<InputError>,
    /// Live capture only: the kernel's packet counters.
    pub capture: Option<CaptureInfo>,
    /// `check -- COMMAND` only: the command that was audited.
    pub command: Option<CommandInfo>,
    /// Live capture only: the machine's host name (so `merge` can tell machines apart).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaptureInfo {
    pub filter: Option<String>,
    pub received: u64,
    /// Packets the kernel dropped: flows in them may be missing or unnamed.
    pub dropped: u64,
    pub if_dropped: u64,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CommandInfo {
    pub argv: Vec<String>,
    pub pid: Option<u32>,
    /// The command's exit code; null when it was killed by a signal or still ran when the audit ended.
    pub exit_code: Option<i32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InputError {
    pub offset: u64,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyInfo {
    pub name: String,
    pub origin: String,
    pub description: String,
    pub model_allow: Vec<String>,
    pub unknown: Verdict,
    pub blind_spots: Verdict,
    pub catalog_rules: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct RequestReport {
    pub method: String,
    pub host: Option<String>,
    pub path: String,
    pub user_agent: Option<String>,
    pub class: Class,
    pub tool: Option<Arc<str>>,
    pub rule: Option<Arc<str>>,
    pub verdict: Verdict,
    /// Who saw the request: `wire` (plain HTTP in the capture) or `sink` (the sealed run's TLS sink).
    pub seen_by: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_version: Option<String>,
    /// Header names only (sink): values carry credentials and are never kept.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub header_names: Vec<String>,
    /// The status the sealed sink answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The model API the sealed sink played for this request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<String>,
    /// Planted canary credentials found in the request (`id@where`): each one is a credential leak.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub canary_hits: Vec<String>,
}

/// One finished flow, judged: built per flow, handed to the renderer and dropped, so it borrows
/// what it can from the flow and the shared judgement instead of copying it.
#[derive(Debug, Clone, Serialize)]
pub struct FlowReport<'a> {
    pub id: FlowId,
    pub file: &'a str,
    pub first_frame: u64,
    pub proto: Proto,
    pub src: Endpoint,
    pub dst: Endpoint,
    pub app_protocol: Option<AppProtocol>,
    pub host: Option<Cow<'a, str>>,
    pub host_source: HostSource,
    pub sni: Option<&'a str>,
    pub alpn: &'a [String],
    pub ech: bool,
    pub connect_target: Option<&'a str>,
    pub dns_names: &'a [String],
    pub requests: Vec<RequestReport>,
    pub class: Class,
    pub tool: Option<Arc<str>>,
    pub rule: Option<Arc<str>>,
    pub verdict: Verdict,
    pub reason: Arc<str>,
    /// Why this flow cannot be (fully) verified, if it cannot.
    pub blind_spot: Option<BlindSpot>,
    pub packets: u64,
    pub bytes: u64,
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Process attribution: live capture, or replay with a recorded sockets sidecar; null otherwise.
    pub process: Option<&'a Owner>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AnswerReport {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DnsReport {
    pub name: String,
    #[serde(rename = "type")]
    pub qtype: String,
    pub protocol: AppProtocol,
    pub queries: u64,
    pub responses: u64,
    pub errors: u64,
    pub answers: Vec<AnswerReport>,
    pub resolvers: Vec<String>,
    pub class: Class,
    pub tool: Option<Arc<str>>,
    pub rule: Option<Arc<str>>,
    pub verdict: Verdict,
    pub reason: Arc<str>,
    pub file: String,
    pub first_frame: u64,
    pub flow_id: String,
    pub first_seen: String,
    pub last_seen: String,
}

/// One row per destination (host, or address when unnamed): what the table shows.
#[derive(Debug, Clone, Serialize)]
pub struct Destination {
    pub host: String,
    pub class: Class,
    pub tool: Option<Arc<str>>,
    pub verdict: Verdict,
    pub reason: Arc<str>,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    pub first_seen: String,
    pub named_by: Vec<HostSource>,
    /// Processes behind the flows (`curl[4242] (agent command, pid 4240)`), when attributed.
    pub processes: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub flows: u64,
    pub bytes: u64,
    pub dns_questions: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// "pass" when nothing is a violation.
    pub result: &'static str,
    pub exit_code: i32,
    pub flows: u64,
    pub bytes: u64,
    pub dns_questions: u64,
    pub violations: u64,
    pub warnings: u64,
    pub by_class: BTreeMap<Class, Counts>,
    pub by_verdict: BTreeMap<Verdict, Counts>,
    /// Flows by how they were named: the share of traffic the audit could verify.
    pub named_by: BTreeMap<HostSource, Counts>,
    pub destinations_folded: u64,
    /// Attribution coverage (live capture or replay with a sidecar); null when nothing was attributed.
    pub attribution: Option<AttributionCoverage>,
    /// Flows (and bytes) by blind spot.
    pub blind_spots: BTreeMap<BlindSpot, Counts>,
    pub coverage: Coverage,
}

/// How much of the traffic the report could name, and by what evidence. DNS transport flows (whose
/// questions are judged on their own) are not counted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Coverage {
    pub flows: u64,
    pub bytes: u64,
    pub named_flows: u64,
    pub named_bytes: u64,
    pub named_flows_pct: f64,
    pub named_bytes_pct: f64,
    pub by_source: BTreeMap<HostSource, CoverageShare>,
    /// `--min-coverage`: the report fails when `named_flows_pct` is below it.
    pub minimum_pct: Option<f64>,
    pub below_minimum: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CoverageShare {
    pub flows: u64,
    pub bytes: u64,
    pub flows_pct: f64,
    pub bytes_pct: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AttributionCoverage {
    pub attributed: Counts,
    /// Flows without a process, by reason.
    pub unattributed: BTreeMap<String, Counts>,
}

/// Everything but the flows, which are streamed as they end.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub header: Header,
    pub dns: Vec<DnsReport>,
    pub destinations: Vec<Destination>,
    pub summary: Summary,
    pub errors: Vec<String>,
    /// Things that limit what the report can prove, without being errors (kernel drops, …).
    pub notes: Vec<String>,
    /// `check --doctor`: the agents' own switches on this machine, audited with the traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doctor: Option<crate::doctor::DoctorReport>,
    /// `check --sealed`: how the private world was made and what its DNS and sink saw.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sealed: Option<serde_json::Value>,
}
