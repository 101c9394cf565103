//! Every DNS question asked in the capture, aggregated by (name, type, protocol), with its answers.
//!
//! A lookup of a telemetry host is evidence even when no connection follows, so questions are kept
//! on their own, not only as names for flows.

use super::AppProtocol;
use crate::dissect::dns::{self, Message, RData};
use crate::source::Nanos;
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;
use std::net::IpAddr;

/// Distinct (name, type) records kept; beyond it further names are counted, not stored.
const MAX_RECORDS: usize = 200_000;
/// Distinct answers kept per record.
const MAX_ANSWERS: usize = 32;
const MAX_RESOLVERS: usize = 8;

/// One answer resource record: owner name, type, value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AnswerRecord {
    pub name: String,
    pub rtype: String,
    pub value: String,
}

#[derive(Debug, Clone)]
pub struct DnsRecord {
    pub name: String,
    pub qtype: u16,
    pub protocol: AppProtocol,
    pub queries: u64,
    pub responses: u64,
    /// Responses with a non-zero RCODE (NXDOMAIN, SERVFAIL, …).
    pub errors: u64,
    pub answers: BTreeSet<AnswerRecord>,
    /// Addresses the questions were sent to.
    pub resolvers: BTreeSet<IpAddr>,
    pub first_seen: Nanos,
    pub last_seen: Nanos,
    pub first_frame: u64,
    pub flow_id: u64,
}

/// Records by name, then by (type, protocol): looking a name up borrows it, so the common case (a name
/// seen before) allocates nothing.
#[derive(Default)]
pub struct DnsLog {
    records: FxHashMap<String, Vec<DnsRecord>>,
    count: usize,
    pub dropped_names: u64,
}

/// Where a DNS message was seen.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    pub ts: Nanos,
    pub frame: u64,
    pub flow_id: u64,
    pub protocol: AppProtocol,
    /// The resolver: destination of a query, source of a response.
    pub resolver: IpAddr,
}

impl DnsLog {
    pub fn record(&mut self, m: &Message, seen: Seen) {
        for q in &m.questions {
            let known = self
                .records
                .get(q.name.as_str())
                .and_then(|v| v.iter().position(|r| r.qtype == q.qtype && r.protocol == seen.protocol));
            let rec = match known {
                Some(i) => match self.records.get_mut(q.name.as_str()) {
                    Some(v) => &mut v[i],
                    None => continue,
                },
                None => {
                    if self.count >= MAX_RECORDS {
                        self.dropped_names += 1;
                        continue;
                    }
                    self.count += 1;
                    let v = self.records.entry(q.name.clone()).or_default();
                    v.push(DnsRecord {
                        name: q.name.clone(),
                        qtype: q.qtype,
                        protocol: seen.protocol,
                        queries: 0,
                        responses: 0,
                        errors: 0,
                        answers: BTreeSet::new(),
                        resolvers: BTreeSet::new(),
                        first_seen: seen.ts,
                        last_seen: seen.ts,
                        first_frame: seen.frame,
                        flow_id: seen.flow_id,
                    });
                    let last = v.len() - 1;
                    &mut v[last]
                }
            };
            rec.last_seen = rec.last_seen.max(seen.ts);
            if rec.resolvers.len() < MAX_RESOLVERS {
                rec.resolvers.insert(seen.resolver);
            }
            if m.is_response {
                rec.responses += 1;
                if m.rcode != 0 {
                    rec.errors += 1;
                }
                for a in &m.answers {
                    if rec.answers.len() >= MAX_ANSWERS {
                        break;
                    }
                    let Some(value) = answer_value(&a.data) else { continue };
                    // Most responses repeat answers already held: compare before allocating the rest.
                    let rtype = dns::type_name(a.rtype);
                    if !rec.answers.iter().any(|r| r.value == value && r.name == a.name && r.rtype == rtype) {
                        rec.answers.insert(AnswerRecord { name: a.name.clone(), rtype, value });
                    }
                }
            } else {
                rec.queries += 1;
            }
        }
    }

    /// Records in order of first appearance.
    pub fn records(&self) -> Vec<&DnsRecord> {
        let mut v: Vec<&DnsRecord> = self.records.values().flatten().collect();
        v.sort_by(|a, b| (a.first_frame, &a.name, a.qtype).cmp(&(b.first_frame, &b.name, b.qtype)));
        v
    }
}

fn answer_value(d: &RData) -> Option<String> {
    match d {
        RData::A(a) => Some(super::addr::ip((*a).into())),
        RData::Aaaa(a) => Some(super::addr::ip((*a).into())),
        RData::Cname(n) => Some(n.clone()),
        RData::Service { target, .. } => Some(target.clone()),
        RData::Other => None,
    }
}
