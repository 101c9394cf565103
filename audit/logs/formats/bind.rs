//! BIND `named` query logging (`querylog yes;` or a `queries` category channel), RPZ rewrites and
//! query errors. With or without a syslog prefix, with `print-time` in BIND's local form
//! (`27-Nov-2026 09:45:16.123`) or ISO 8601, with or without `print-category`/`print-severity`:
//!
//! `client @0x7f… 10.0.0.2#5353 (name): query: name IN A +E(0)K (10.0.0.1)` — a question;
//! `client @0x7f… 10.0.0.2#5353 (name): rpz QNAME NXDOMAIN rewrite name/A/IN via name.rpz` — a block
//! (except `PASSTHRU`, which lets it through);
//! `client @0x7f… 10.0.0.2#5353 (name): query failed (SERVFAIL) for name/IN/A at query.c:…` — a failure.
//! BIND's query log records questions, not answers: a denied name with only query lines has no
//! logged outcome, and is reported so.

use super::{Parser, strip_root};
use crate::logs::clock::{Clock, epoch};
use crate::logs::{Event, InputFormat, Kind};

pub struct Bind {
    clock: Clock,
}

impl Bind {
    pub fn new(clock: Clock) -> Bind {
        Bind { clock }
    }
}

impl Parser for Bind {
    fn format(&self) -> InputFormat {
        InputFormat::Bind
    }

    fn parse(&mut self, line: &str, out: &mut Vec<Event>) -> Result<(), &'static str> {
        let Some(at) = line.find("client ") else {
            return if line.contains(" named[") || self.time(line).is_some() {
                Ok(())
            } else {
                Err("not a BIND log line")
            };
        };
        let time = self.time(line);
        let rest = &line[at + 7..];
        let rest = match rest.strip_prefix("@0x") {
            Some(r) => r.split_once(' ').map(|(_, r)| r).ok_or("client line cut short")?,
            None => rest,
        };
        let (addr, rest) = rest.split_once(' ').ok_or("client line cut short")?;
        let client = addr.rsplit_once('#').map_or(addr, |(ip, _)| ip);
        let rest = match rest.strip_prefix('(') {
            Some(r) => r.split_once("): ").map(|(_, r)| r).ok_or("client line without (name): ")?,
            None => rest,
        };
        let mut push = |name: &str, kind: Kind, qtype: Option<&str>, detail: Option<String>| {
            let mut e = Event::new(time, strip_root(name), kind);
            e.client = Some(client.to_string());
            e.qtype = qtype.map(str::to_string);
            e.detail = detail;
            out.push(e);
        };
        if let Some(q) = rest.strip_prefix("query: ") {
            let f: Vec<&str> = q.split(' ').collect();
            if f.len() < 3 || f[0].is_empty() {
                return Err("query line without name, class and type");
            }
            push(f[0], Kind::Query, Some(f[2]), None);
        } else if let Some(r) = rest.strip_prefix("rpz ") {
            // `QNAME NXDOMAIN rewrite name/A/IN via trigger`
            let f: Vec<&str> = r.split(' ').collect();
            if f.len() < 4 || f[2] != "rewrite" {
                return Err("rpz line not in the form `rpz TRIGGER POLICY rewrite name/type/class via …`");
            }
            if f[1] == "PASSTHRU" {
                return Ok(());
            }
            let mut parts = f[3].split('/');
            let (name, qtype) = (parts.next().unwrap_or_default(), parts.next());
            push(name, Kind::Blocked, qtype, Some(format!("rpz {} {}", f[0], f[1])));
        } else if let Some(r) = rest.strip_prefix("query failed (") {
            let (rcode, r) = r.split_once(") for ").ok_or("query failed line cut short")?;
            let target = r.split(' ').next().unwrap_or_default();
            let mut parts = target.split('/');
            let name = parts.next().unwrap_or_default();
            let qtype = parts.nth(1);
            push(name, Kind::Failed, qtype, Some(rcode.to_string()));
        }
        Ok(())
    }
}

impl Bind {
    fn time(&self, line: &str) -> Option<crate::source::Nanos> {
        if let Some(r) = line.strip_prefix('[') {
            return r.split_once(']').and_then(|(e, _)| epoch(e));
        }
        self.clock.bind(line).or_else(|| self.clock.syslog(line)).or_else(|| self.clock.iso(line)).map(|(t, _)| t)
    }
}
