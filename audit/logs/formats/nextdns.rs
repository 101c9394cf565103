//! NextDNS log export (CSV, one query per row). Columns, as NextDNS writes them:
//! `timestamp,domain,query_type,dnssec,protocol,client_ip,status,reasons,destination_country,
//! root_domain,device_id,device_name,device_model,device_local_ip,matched_name,client_name`.
//! Columns are found by their header name, so reordered or added columns do not matter.
//! `status` is `blocked` (a privacy/security/deny-list rule: `reasons` names it), `error`, or
//! empty/`default`/`allowed` (resolved). The timestamp is ISO 8601 with an offset.

use super::Parser;
use crate::logs::clock::Clock;
use crate::logs::csv;
use crate::logs::{Event, InputFormat, Kind};

pub struct NextDns {
    clock: Clock,
    columns: Option<Columns>,
}

struct Columns {
    timestamp: usize,
    domain: usize,
    query_type: Option<usize>,
    client_ip: Option<usize>,
    status: usize,
    reasons: Option<usize>,
    device_name: Option<usize>,
    client_name: Option<usize>,
}

impl NextDns {
    pub fn new(clock: Clock) -> NextDns {
        NextDns { clock, columns: None }
    }
}

impl Parser for NextDns {
    fn format(&self) -> InputFormat {
        InputFormat::NextdnsCsv
    }

    fn parse(&mut self, line: &str, out: &mut Vec<Event>) -> Result<(), &'static str> {
        let f = csv::fields(line.trim_start_matches('\u{feff}'))?;
        let Some(c) = &self.columns else {
            let at = |n: &str| f.iter().position(|h| h.trim() == n);
            self.columns = Some(Columns {
                timestamp: at("timestamp").ok_or("NextDNS header without a timestamp column")?,
                domain: at("domain").ok_or("NextDNS header without a domain column")?,
                query_type: at("query_type"),
                client_ip: at("client_ip"),
                status: at("status").ok_or("NextDNS header without a status column")?,
                reasons: at("reasons"),
                device_name: at("device_name"),
                client_name: at("client_name"),
            });
            return Ok(());
        };
        let get = |i: usize| f.get(i).map(|s| s.trim()).filter(|s| !s.is_empty());
        let opt = |i: Option<usize>| i.and_then(get);
        let name = get(c.domain).ok_or("row without a domain")?;
        let time = match get(c.timestamp) {
            Some(t) => Some(self.clock.iso(t).ok_or("timestamp is not ISO 8601")?.0),
            None => None,
        };
        let status = get(c.status).unwrap_or("default");
        let kind = match status {
            "blocked" => Kind::Blocked,
            "error" => Kind::Failed,
            "default" | "allowed" | "" => Kind::Answered,
            _ => return Err("unknown status (want blocked, allowed, default or error)"),
        };
        let client = match (opt(c.client_ip), opt(c.device_name).or(opt(c.client_name))) {
            (Some(ip), Some(dev)) => Some(format!("{ip} ({dev})")),
            (ip, dev) => ip.or(dev).map(str::to_string),
        };
        let mut q = Event::new(time, name, Kind::Query);
        q.qtype = opt(c.query_type).map(str::to_string);
        q.client = client;
        let mut outcome = q.clone();
        outcome.kind = kind;
        if kind != Kind::Answered {
            outcome.detail = Some(match opt(c.reasons) {
                Some(r) => format!("{status}: {r}"),
                None => status.to_string(),
            });
        }
        out.push(q);
        out.push(outcome);
        Ok(())
    }
}
