//! The fleet view: many JSON reports (schema `egress-audit/report/v1`, from many machines or CI runs)
//! folded into one — which machines, agents and agent versions had which violations, first and last
//! seen. Its JSON form is versioned by [`FLEET_SCHEMA`] and described by
//! `reports/egress-audit-fleet.v1.schema.json`.
//!
//! Reports are read as JSON values, not as the typed model, so reports from older and newer
//! egress-audit versions merge alike (v1 only grows).
//!
//! - machine: `source[].hostname` when a report carries it, else the report's file name without
//!   `.json` (name the files after the machine or CI job);
//! - agent: the attributed process's agent (`process.agent`), else the program of `source[].command`,
//!   else the catalog tool of the destination;
//! - agent version: the first product token of the User-Agent of the agent's requests
//!   (`claude-cli/2.0.14`), when a request was visible.

pub mod render;

use crate::text::printable_str;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

pub const FLEET_SCHEMA: &str = "egress-audit/fleet/v1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeError(pub String);

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MergeError {}

/// One input report, as the fleet view lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ReportEntry {
    pub file: String,
    pub machine: String,
    pub policy: String,
    pub result: String,
    pub violations: u64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Machine {
    pub machine: String,
    pub reports: u64,
    pub agents: BTreeSet<String>,
    pub violations: u64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Agent {
    pub agent: String,
    pub versions: BTreeSet<String>,
    pub machines: BTreeSet<String>,
    pub violations: u64,
}

/// One violating destination (a name, a name and path, or a DNS question) across the fleet.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Violation {
    /// `flow`, `request` or `dns`.
    pub kind: String,
    pub host: String,
    pub path: Option<String>,
    pub class: String,
    pub tool: Option<String>,
    pub machines: BTreeSet<String>,
    pub agents: BTreeSet<String>,
    pub agent_versions: BTreeSet<String>,
    /// Flows, requests or DNS questions (queries) seen.
    pub count: u64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FleetSummary {
    pub reports: u64,
    pub machines: u64,
    pub agents: u64,
    /// Distinct violating destinations.
    pub violations: u64,
    pub machines_with_violations: u64,
    pub result: &'static str,
    pub exit_code: i32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Fleet {
    pub schema: &'static str,
    pub reports: Vec<ReportEntry>,
    pub machines: Vec<Machine>,
    pub agents: Vec<Agent>,
    pub violations: Vec<Violation>,
    pub summary: FleetSummary,
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(printable_str)
}

fn earliest(slot: &mut Option<String>, t: Option<String>) {
    if let Some(t) = t
        && slot.as_ref().is_none_or(|s| t < *s)
    {
        *slot = Some(t);
    }
}

fn latest(slot: &mut Option<String>, t: Option<String>) {
    if let Some(t) = t
        && slot.as_ref().is_none_or(|s| t > *s)
    {
        *slot = Some(t);
    }
}

/// The first product token of a User-Agent: `claude-cli/2.0.14 (external, cli)` → `claude-cli/2.0.14`.
fn product_token(ua: &str) -> Option<String> {
    let token = ua.split_whitespace().next()?;
    token.contains('/').then(|| printable_str(token))
}

fn array(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// The machine a report comes from.
fn machine_of(report: &Value, file: &str) -> String {
    let from_source = array(&report["source"]).iter().find_map(|s| text(&s["hostname"]));
    from_source.unwrap_or_else(|| {
        let name = Path::new(file).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        printable_str(name.strip_suffix(".json").unwrap_or(&name))
    })
}

/// The agent behind a flow.
fn agent_of(flow: &Value, command_program: Option<&str>) -> Option<String> {
    text(&flow["process"]["agent"]).or_else(|| command_program.map(printable_str)).or_else(|| text(&flow["tool"]))
}

#[derive(Default)]
struct Builder {
    reports: Vec<ReportEntry>,
    machines: BTreeMap<String, Machine>,
    agents: BTreeMap<String, Agent>,
    violations: BTreeMap<(String, String, Option<String>), Violation>,
}

struct Seen<'a> {
    kind: &'a str,
    host: String,
    path: Option<String>,
    /// Where class and tool come from (the flow, request or DNS question).
    item: &'a Value,
    /// Where the times come from (a request's are its flow's).
    times: &'a Value,
    count: u64,
    agent: Option<String>,
    version: Option<String>,
}

impl Builder {
    fn violation(&mut self, machine: &str, s: Seen<'_>) {
        let key = (s.kind.to_string(), s.host.clone(), s.path.clone());
        let v = self.violations.entry(key).or_insert_with(|| Violation {
            kind: s.kind.to_string(),
            host: s.host.clone(),
            path: s.path.clone(),
            class: text(&s.item["class"]).unwrap_or_else(|| "unknown".into()),
            tool: text(&s.item["tool"]),
            ..Violation::default()
        });
        v.machines.insert(machine.to_string());
        v.count += s.count;
        earliest(&mut v.first_seen, text(&s.times["first_seen"]));
        latest(&mut v.last_seen, text(&s.times["last_seen"]).or_else(|| text(&s.times["first_seen"])));
        if let Some(a) = &s.agent {
            v.agents.insert(a.clone());
            let agent = self.agents.entry(a.clone()).or_insert_with(|| Agent { agent: a.clone(), ..Agent::default() });
            agent.violations += 1;
        }
        if let Some(ver) = s.version {
            v.agent_versions.insert(ver);
        }
    }

    fn add(&mut self, file: &str, report: &Value) {
        let machine = machine_of(report, file);
        let command_program = array(&report["source"])
            .iter()
            .find_map(|s| s["command"]["argv"][0].as_str())
            .map(|p| p.rsplit('/').next().unwrap_or(p).to_string());
        let mut entry = ReportEntry {
            file: printable_str(file),
            machine: machine.clone(),
            policy: text(&report["policy"]["name"]).unwrap_or_default(),
            result: text(&report["summary"]["result"]).unwrap_or_default(),
            violations: report["summary"]["violations"].as_u64().unwrap_or(0),
            first_seen: None,
            last_seen: None,
        };
        let mut agents_here: BTreeSet<String> = BTreeSet::new();
        for flow in array(&report["flows"]) {
            earliest(&mut entry.first_seen, text(&flow["first_seen"]));
            latest(&mut entry.last_seen, text(&flow["last_seen"]));
            let agent = agent_of(flow, command_program.as_deref());
            let versions: BTreeSet<String> = array(&flow["requests"])
                .iter()
                .filter_map(|r| r["user_agent"].as_str().and_then(product_token))
                .collect();
            if let Some(a) = &agent {
                agents_here.insert(a.clone());
                let ag = self.agents.entry(a.clone()).or_insert_with(|| Agent { agent: a.clone(), ..Agent::default() });
                ag.machines.insert(machine.clone());
                ag.versions.extend(versions.iter().cloned());
            }
            let host = text(&flow["host"]).or_else(|| text(&flow["dst"])).unwrap_or_default();
            let requests = array(&flow["requests"]);
            for r in requests.iter().filter(|r| r["verdict"] == "violation") {
                let rhost = text(&r["host"]).unwrap_or_else(|| host.clone());
                let seen = Seen {
                    kind: "request",
                    host: rhost,
                    path: text(&r["path"]).map(|p| p.split('?').next().unwrap_or_default().to_string()),
                    item: r,
                    times: flow,
                    count: 1,
                    agent: agent.clone(),
                    version: r["user_agent"].as_str().and_then(product_token),
                };
                self.violation(&machine, seen);
            }
            let flagged_by_request = requests.iter().any(|r| r["verdict"] == "violation");
            if flow["verdict"] == "violation" && !flagged_by_request {
                let seen = Seen {
                    kind: "flow",
                    host,
                    path: None,
                    item: flow,
                    times: flow,
                    count: 1,
                    agent: agent.clone(),
                    version: versions.iter().next().cloned(),
                };
                self.violation(&machine, seen);
            }
        }
        for q in array(&report["dns"]) {
            earliest(&mut entry.first_seen, text(&q["first_seen"]));
            latest(&mut entry.last_seen, text(&q["last_seen"]));
            if q["verdict"] != "violation" {
                continue;
            }
            let seen = Seen {
                kind: "dns",
                host: text(&q["name"]).unwrap_or_default(),
                path: None,
                item: q,
                times: q,
                count: q["queries"].as_u64().unwrap_or(1),
                agent: None,
                version: None,
            };
            self.violation(&machine, seen);
        }
        let m = self.machines.entry(machine.clone()).or_insert_with(|| Machine { machine, ..Machine::default() });
        m.reports += 1;
        m.violations += entry.violations;
        m.agents.extend(agents_here);
        earliest(&mut m.first_seen, entry.first_seen.clone());
        latest(&mut m.last_seen, entry.last_seen.clone());
        self.reports.push(entry);
    }

    fn finish(self) -> Fleet {
        let violations: Vec<Violation> = {
            let mut v: Vec<Violation> = self.violations.into_values().collect();
            v.sort_by(|a, b| {
                b.machines.len().cmp(&a.machines.len()).then_with(|| (&a.host, &a.kind).cmp(&(&b.host, &b.kind)))
            });
            v
        };
        let machines: Vec<Machine> = self.machines.into_values().collect();
        let machines_with_violations = machines.iter().filter(|m| m.violations > 0).count() as u64;
        let any = !violations.is_empty() || machines_with_violations > 0;
        let summary = FleetSummary {
            reports: self.reports.len() as u64,
            machines: machines.len() as u64,
            agents: self.agents.len() as u64,
            violations: violations.len() as u64,
            machines_with_violations,
            result: if any { "fail" } else { "pass" },
            exit_code: i32::from(any),
        };
        Fleet {
            schema: FLEET_SCHEMA,
            reports: self.reports,
            machines,
            agents: self.agents.into_values().collect(),
            violations,
            summary,
        }
    }
}

/// Merges parsed reports (`(file label, report)`); a report that is not `egress-audit/report/v1`
/// is an error naming its file.
pub fn merge(reports: &[(String, Value)]) -> Result<Fleet, MergeError> {
    let mut b = Builder::default();
    for (file, report) in reports {
        let schema = report.get("schema").and_then(Value::as_str).unwrap_or("");
        if !schema.starts_with("egress-audit/report/v1") {
            return Err(MergeError(format!(
                "{}: schema {:?} is not egress-audit/report/v1 (write reports with --format json)",
                printable_str(file),
                printable_str(schema)
            )));
        }
        b.add(file, report);
    }
    Ok(b.finish())
}
