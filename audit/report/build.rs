//! Builds the report from finished flows and the DNS log: judges each, aggregates destinations and
//! counts. Deciding happens here (through `classify`), never in a renderer.

use super::model::*;
use super::seen::{RequestSource, SeenRequest, path_only};
use super::time::rfc3339;
use super::values::{Endpoint, FlowId, Proto, Timestamp};
use crate::blind_spots;
use crate::catalog::{Catalog, Class};
use crate::classify::{Judgement, Subject, judge};
use crate::flows::dns_log::DnsLog;
use crate::flows::owner::{Owner, ProcessOwner};
use crate::flows::{AppProtocol, Flow, HostSource, normalize_host};
use crate::policy::{Policy, Verdict};
use crate::text::printable_str;
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Destinations kept as separate rows; past this, further ones are folded into one row so memory
/// stays bounded on captures with millions of unnamed addresses.
const MAX_DESTINATIONS: usize = 50_000;
const FOLDED: &str = "(other destinations)";

struct DestinationAgg {
    class: Class,
    tool: Option<Arc<str>>,
    verdict: Verdict,
    reason: Arc<str>,
    flows: u64,
    packets: u64,
    bytes: u64,
    first_seen: i64,
    named_by: BTreeSet<HostSource>,
    processes: BTreeSet<String>,
}

/// Process labels kept per destination row.
const MAX_PROCESSES_PER_DESTINATION: usize = 8;

fn process_label(p: &ProcessOwner) -> String {
    let mut label = format!("{}[{}]", p.name, p.pid);
    if let Some(agent) = &p.agent {
        match p.agent_pid {
            Some(root) if root != p.pid => label.push_str(&format!(" (agent {agent}, pid {root})")),
            _ => label.push_str(&format!(" (agent {agent})")),
        }
    }
    printable_str(&label)
}

pub struct Builder<'a> {
    catalog: &'a Catalog,
    policy: &'a Policy,
    destinations: FxHashMap<String, DestinationAgg>,
    folded: u64,
    summary: Summary,
    dns: Vec<DnsReport>,
    /// Configured DNS resolvers: plain DNS to any other is a blind spot (empty: not judged).
    resolvers: Vec<std::net::IpAddr>,
    /// Judgements by host name (see [`Builder::judge_host`]).
    judged: std::cell::RefCell<FxHashMap<String, Judgement>>,
    /// Judgements of unnamed flows to a remote and to a local address (see [`Builder::judge_host`]).
    judged_unnamed: std::cell::RefCell<[Option<Judgement>; 2]>,
    /// The judgements of DNS and of mDNS/LLMNR flows, which do not depend on the flow.
    fixed: [Judgement; 2],
    doctor: Option<crate::doctor::DoctorReport>,
    request_source: Option<Box<dyn RequestSource + 'a>>,
}

fn seen_report(r: SeenRequest, rj: Judgement) -> RequestReport {
    RequestReport {
        method: printable_str(&r.method),
        host: r.authority.as_deref().map(printable_str),
        path: printable_str(path_only(&r.path)),
        user_agent: r.user_agent.as_deref().map(printable_str),
        class: rj.class,
        tool: rj.tool,
        rule: rj.rule,
        verdict: rj.verdict,
        seen_by: "sink",
        http_version: r.http_version,
        header_names: r.header_names.iter().map(|h| printable_str(h)).collect(),
        status: r.status,
        answered_by: r.answered_by,
        canary_hits: r.canary_hits,
    }
}

fn fixed_judgement(class: Class, reason: &str) -> Judgement {
    Judgement { class, tool: None, rule: None, verdict: Verdict::Allow, reason: reason.into() }
}

/// Host names whose judgement is remembered.
const MAX_JUDGED_HOSTS: usize = 65_536;

/// `F<file>.<flow>`, the flow's stable id in a report.
fn flow_id(file_index: usize, id: u64) -> String {
    let mut s = String::with_capacity(16);
    s.push('F');
    crate::text::push_decimal(&mut s, file_index as u64);
    s.push('.');
    crate::text::push_decimal(&mut s, id);
    s
}

impl<'a> Builder<'a> {
    pub fn new(catalog: &'a Catalog, policy: &'a Policy) -> Self {
        Builder {
            catalog,
            policy,
            destinations: FxHashMap::default(),
            folded: 0,
            summary: Summary {
                result: "pass",
                exit_code: 0,
                flows: 0,
                bytes: 0,
                dns_questions: 0,
                violations: 0,
                warnings: 0,
                by_class: Default::default(),
                by_verdict: Default::default(),
                named_by: Default::default(),
                destinations_folded: 0,
                attribution: None,
                blind_spots: Default::default(),
                coverage: Default::default(),
            },
            dns: Vec::new(),
            resolvers: Vec::new(),
            judged: Default::default(),
            judged_unnamed: Default::default(),
            fixed: [
                fixed_judgement(Class::Dns, "DNS transport; each question is judged in the DNS section"),
                fixed_judgement(Class::Local, "link-local name resolution (mDNS/LLMNR)"),
            ],
            doctor: None,
            request_source: None,
        }
    }

    /// Requests seen off the wire (the sealed sink), joined to flows by their endpoints.
    pub fn with_request_source(mut self, source: Option<Box<dyn RequestSource + 'a>>) -> Self {
        self.request_source = source;
        self
    }

    /// A request the sink saw, judged by its authority (else the flow's name) and path. A planted
    /// credential in it is a violation whatever the host.
    fn judge_seen(&self, r: &SeenRequest, flow_host: Option<&str>, server: std::net::SocketAddr) -> Judgement {
        let host = r.authority.as_deref().map(normalize_host).or_else(|| flow_host.map(str::to_string));
        let path = (r.method != "CONNECT").then_some(path_only(&r.path));
        let mut rj = judge(Subject { host: host.as_deref(), path, server: Some(server) }, self.catalog, self.policy);
        if !r.canary_hits.is_empty() {
            rj.verdict = Verdict::Violation;
            rj.reason = format!("credential-leak: planted credential(s) {} sent", r.canary_hits.join(", ")).into();
        }
        rj
    }

    /// Includes a doctor audit of the machine's agent switches; its failures fail the report.
    pub fn with_doctor(mut self, doctor: Option<crate::doctor::DoctorReport>) -> Self {
        self.doctor = doctor;
        self
    }

    /// The system's DNS resolvers, so that DNS to any other is reported.
    pub fn with_resolvers(mut self, resolvers: Vec<std::net::IpAddr>) -> Self {
        self.resolvers = resolvers;
        self
    }

    /// Fail the report when less than `pct` percent of the flows are named.
    pub fn with_min_coverage(mut self, pct: Option<f64>) -> Self {
        self.summary.coverage.minimum_pct = pct;
        self
    }

    /// Judges one finished flow and returns its report line.
    pub fn flow<'f>(&mut self, f: &'f Flow, file: &'f str, file_index: usize) -> FlowReport<'f> {
        let report = self.judge_flow(f, file, file_index);
        self.count_flow(&report, f);
        report
    }

    /// Judges a flow without counting it (for a live view of flows still in progress).
    pub fn judge_flow<'f>(&self, f: &'f Flow, file: &'f str, file_index: usize) -> FlowReport<'f> {
        let (host, host_source) = f.host();
        let subject = Subject { host: host.as_deref(), path: None, server: Some(f.server) };
        let mut j = match f.app.protocol {
            Some(AppProtocol::Dns) => self.fixed[0].clone(),
            Some(AppProtocol::Mdns | AppProtocol::Llmnr) => self.fixed[1].clone(),
            _ => self.judge_host(subject),
        };
        let mut requests = Vec::with_capacity(f.app.requests.len());
        for r in &f.app.requests {
            let req_host = r.host.as_deref().map(normalize_host).or_else(|| host.as_deref().map(str::to_string));
            let path = (r.method != "CONNECT").then_some(r.path.as_str());
            let rj =
                judge(Subject { host: req_host.as_deref(), path, server: Some(f.server) }, self.catalog, self.policy);
            // A flow is as bad as its worst request: product calls on the model host show up here.
            if rj.verdict > j.verdict {
                j = rj.clone();
            }
            requests.push(RequestReport {
                method: r.method.clone(),
                host: r.host.clone(),
                path: r.path.clone(),
                user_agent: r.user_agent.clone(),
                class: rj.class,
                tool: rj.tool,
                rule: rj.rule,
                verdict: rj.verdict,
                seen_by: "wire",
                http_version: None,
                header_names: Vec::new(),
                status: None,
                answered_by: None,
                canary_hits: Vec::new(),
            });
        }
        if let Some(source) = &self.request_source {
            let seen = source.requests(f.client, f.server);
            // The sink saw the same plain-HTTP requests as the wire, with more detail: keep its copy.
            if !seen.is_empty() {
                requests.retain(|w| !seen.iter().any(|r| r.method == w.method && path_only(&r.path) == w.path));
            }
            for r in seen {
                let rj = self.judge_seen(&r, host.as_deref(), f.server);
                if rj.verdict > j.verdict {
                    j = rj.clone();
                }
                requests.push(seen_report(r, rj));
            }
        }
        let blind_spot = blind_spots::of(f, host_source, j.class, &self.resolvers);
        if let Some(b) = blind_spot.filter(|b| b.affects_verdict())
            && !(j.class == Class::Local && j.verdict == Verdict::Allow)
            && self.policy.blind_spots > j.verdict
        {
            j.verdict = self.policy.blind_spots;
            j.reason =
                format!("{}; blind spot {}: policy {} says {}", j.reason, b.as_str(), self.policy.name, j.verdict)
                    .into();
        }
        let hello = f.app.hello.as_ref();
        FlowReport {
            id: FlowId { file: file_index as u64, flow: f.id },
            file,
            first_frame: f.first_frame,
            proto: Proto(f.proto),
            src: Endpoint(f.client),
            dst: Endpoint(f.server),
            app_protocol: f.app.protocol,
            host,
            host_source,
            sni: hello.and_then(|h| h.sni.as_deref()),
            alpn: hello.map_or(&[], |h| h.alpn.as_slice()),
            ech: hello.is_some_and(|h| h.ech || h.esni),
            connect_target: f.app.connect_target.as_deref(),
            dns_names: &f.dns_names,
            requests,
            class: j.class,
            tool: j.tool,
            rule: j.rule,
            verdict: j.verdict,
            reason: j.reason,
            blind_spot,
            packets: f.total_packets(),
            bytes: f.bytes_each_way()[0] + f.bytes_each_way()[1],
            bytes_out: f.bytes_each_way()[0],
            bytes_in: f.bytes_each_way()[1],
            first_seen: Timestamp(f.first_seen),
            last_seen: Timestamp(f.last_seen),
            process: f.owner.as_ref(),
        }
    }

    fn count_flow(&mut self, r: &FlowReport<'_>, f: &Flow) {
        let s = &mut self.summary;
        s.flows += 1;
        s.bytes += r.bytes;
        match r.verdict {
            Verdict::Violation => s.violations += 1,
            Verdict::Warn => s.warnings += 1,
            Verdict::Allow => {}
        }
        for counts in [s.by_class.entry(r.class).or_default(), s.by_verdict.entry(r.verdict).or_default()] {
            counts.flows += 1;
            counts.bytes += r.bytes;
        }
        let named = s.named_by.entry(r.host_source).or_default();
        named.flows += 1;
        named.bytes += r.bytes;
        if let Some(b) = r.blind_spot {
            let c = s.blind_spots.entry(b).or_default();
            c.flows += 1;
            c.bytes += r.bytes;
        }
        if !matches!(r.app_protocol, Some(AppProtocol::Dns | AppProtocol::Mdns | AppProtocol::Llmnr)) {
            let cov = &mut s.coverage;
            cov.flows += 1;
            cov.bytes += r.bytes;
            let share = cov.by_source.entry(r.host_source).or_default();
            share.flows += 1;
            share.bytes += r.bytes;
            if r.host_source != HostSource::None {
                cov.named_flows += 1;
                cov.named_bytes += r.bytes;
            }
        }
        if let Some(owner) = &f.owner {
            let coverage = s.attribution.get_or_insert_with(Default::default);
            let counts = match owner {
                Owner::Process(_) => &mut coverage.attributed,
                Owner::Unattributed { reason } => coverage.unattributed.entry(reason.clone()).or_default(),
            };
            counts.flows += 1;
            counts.bytes += r.bytes;
        }
        let unnamed;
        let destination = match &r.host {
            Some(host) => host.as_ref(),
            None => {
                unnamed = crate::flows::addr::ip(f.server.ip());
                unnamed.as_str()
            }
        };
        // Looked up by `&str` first: a destination is new once, and seen again for every other flow.
        let key = if self.destinations.contains_key(destination) {
            destination
        } else {
            let key = if self.destinations.len() >= MAX_DESTINATIONS {
                self.folded += 1;
                FOLDED
            } else {
                destination
            };
            self.destinations.entry(key.to_string()).or_insert_with(|| DestinationAgg {
                class: r.class,
                tool: r.tool.clone(),
                verdict: r.verdict,
                reason: r.reason.clone(),
                flows: 0,
                packets: 0,
                bytes: 0,
                first_seen: f.first_seen,
                named_by: BTreeSet::new(),
                processes: BTreeSet::new(),
            });
            key
        };
        let Some(d) = self.destinations.get_mut(key) else { return };
        if let Some(p) = f.owner.as_ref().and_then(Owner::process)
            && d.processes.len() < MAX_PROCESSES_PER_DESTINATION
        {
            d.processes.insert(process_label(p));
        }
        if r.verdict > d.verdict {
            d.verdict = r.verdict;
            d.class = r.class;
            d.tool = r.tool.clone();
            d.reason = r.reason.clone();
        }
        d.flows += 1;
        d.packets += r.packets;
        d.bytes += r.bytes;
        d.first_seen = d.first_seen.min(f.first_seen);
        d.named_by.insert(r.host_source);
    }

    /// [`judge`] for a flow, remembered per host name when the answer cannot depend on the address
    /// (no local allow-list, a name rather than an IP literal): most flows go to a few hosts.
    fn judge_host(&self, subject: Subject<'_>) -> Judgement {
        let cacheable = self.policy.local_allow.is_empty()
            && subject.path.is_none()
            && subject.host.is_some_and(|h| h.parse::<std::net::IpAddr>().is_err());
        // Without a name or a local allow-list, only whether the address is local can matter.
        if subject.host.is_none() && subject.path.is_none() && self.policy.local_allow.is_empty() {
            let local = usize::from(subject.server.is_some_and(|s| crate::classify::is_local_address(s.ip())));
            let mut cache = self.judged_unnamed.borrow_mut();
            return cache[local].get_or_insert_with(|| judge(subject, self.catalog, self.policy)).clone();
        }
        let Some(host) = subject.host.filter(|_| cacheable) else {
            return judge(subject, self.catalog, self.policy);
        };
        if let Some(j) = self.judged.borrow().get(host) {
            return j.clone();
        }
        let j = judge(subject, self.catalog, self.policy);
        let mut cache = self.judged.borrow_mut();
        if cache.len() < MAX_JUDGED_HOSTS {
            cache.insert(host.to_string(), j.clone());
        }
        j
    }

    /// Judges every DNS question of one input's log.
    pub fn dns(&mut self, log: &DnsLog, file: &str, file_index: usize) {
        for rec in log.records() {
            let j = match rec.protocol {
                AppProtocol::Mdns | AppProtocol::Llmnr => self.fixed[1].clone(),
                _ => judge(Subject { host: Some(&rec.name), path: None, server: None }, self.catalog, self.policy),
            };
            self.summary.dns_questions += rec.queries.max(rec.responses);
            match j.verdict {
                Verdict::Violation => self.summary.violations += 1,
                Verdict::Warn => self.summary.warnings += 1,
                Verdict::Allow => {}
            }
            for counts in [
                self.summary.by_class.entry(j.class).or_default(),
                self.summary.by_verdict.entry(j.verdict).or_default(),
            ] {
                counts.dns_questions += 1;
            }
            self.dns.push(DnsReport {
                name: rec.name.clone(),
                qtype: crate::dissect::dns::type_name(rec.qtype),
                protocol: rec.protocol,
                queries: rec.queries,
                responses: rec.responses,
                errors: rec.errors,
                answers: rec
                    .answers
                    .iter()
                    .map(|a| AnswerReport { name: a.name.clone(), rtype: a.rtype.clone(), value: a.value.clone() })
                    .collect(),
                resolvers: rec.resolvers.iter().map(|&r| crate::flows::addr::ip(r)).collect(),
                class: j.class,
                tool: j.tool,
                rule: j.rule,
                verdict: j.verdict,
                reason: j.reason,
                file: file.to_string(),
                first_frame: rec.first_frame,
                flow_id: flow_id(file_index, rec.flow_id),
                first_seen: rfc3339(rec.first_seen),
                last_seen: rfc3339(rec.last_seen),
            });
        }
    }

    /// Completes the report; any input error makes the exit code 2.
    pub fn finish(mut self, header: Header, errors: Vec<String>, mut notes: Vec<String>) -> Report {
        let mut destinations: Vec<Destination> = self
            .destinations
            .drain()
            .map(|(host, d)| Destination {
                host,
                class: d.class,
                tool: d.tool,
                verdict: d.verdict,
                reason: d.reason,
                flows: d.flows,
                packets: d.packets,
                bytes: d.bytes,
                first_seen: rfc3339(d.first_seen),
                named_by: d.named_by.into_iter().collect(),
                processes: d.processes.into_iter().collect(),
            })
            .collect();
        // Violations first, then warnings; within a verdict the most traffic first.
        destinations.sort_by(|a, b| b.verdict.cmp(&a.verdict).then(b.bytes.cmp(&a.bytes)).then(a.host.cmp(&b.host)));
        self.summary.destinations_folded = self.folded;
        let cov = &mut self.summary.coverage;
        let pct = |part: u64, whole: u64| {
            if whole == 0 { 100.0 } else { (part as f64 * 10_000.0 / whole as f64).round() / 100.0 }
        };
        cov.named_flows_pct = pct(cov.named_flows, cov.flows);
        cov.named_bytes_pct = pct(cov.named_bytes, cov.bytes);
        let (flows, bytes) = (cov.flows, cov.bytes);
        for share in cov.by_source.values_mut() {
            share.flows_pct = pct(share.flows, flows);
            share.bytes_pct = pct(share.bytes, bytes);
        }
        cov.below_minimum = cov.minimum_pct.is_some_and(|m| cov.named_flows_pct < m);
        if let (true, Some(m)) = (cov.below_minimum, cov.minimum_pct) {
            notes.push(format!("only {}% of the flows are named, below --min-coverage {m}%", cov.named_flows_pct));
        }
        let doctor_failures = self.doctor.as_ref().map_or(0, |d| d.summary.fail);
        if doctor_failures > 0 {
            notes.push(format!("doctor: {doctor_failures} agent switch(es) not set as they should be"));
        }
        let failed = self.summary.violations > 0 || cov.below_minimum || doctor_failures > 0;
        self.summary.exit_code = if !errors.is_empty() { 2 } else { i32::from(failed) };
        self.summary.result = if !errors.is_empty() {
            "error"
        } else if failed {
            "fail"
        } else {
            "pass"
        };
        Report {
            header,
            dns: self.dns,
            destinations,
            summary: self.summary,
            errors,
            notes,
            doctor: self.doctor,
            sealed: None,
        }
    }
}
