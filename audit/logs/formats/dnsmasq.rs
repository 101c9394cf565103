//! dnsmasq `--log-queries` (and Pi-hole's pihole.log, which is dnsmasq's log with its own block lines).
//!
//! Lines (after `dnsmasq[pid]: `; with `log-queries=extra` each starts with the query's serial and
//! `client/port`):
//! `query[A] NAME from CLIENT`, `forwarded NAME to SERVER`, `reply NAME is ANSWER`,
//! `cached NAME is ANSWER`, `config NAME is ANSWER` (`--address=/NAME/…`), `/etc/hosts NAME is IP`,
//! `reply error is REFUSED` (no name: only `extra` ties it to its query), and Pi-hole's
//! `gravity blocked NAME is 0.0.0.0`, `exactly denied …`, `regex blacklisted …`, `special domain …`.
//! ANSWER is an address, `NXDOMAIN`, `NODATA[-IPv4|-IPv6]`, `<CNAME>` or another `<TYPE>`.
//!
//! What blocks: an answer from dnsmasq's own configuration or a hosts-style list that is 0.0.0.0,
//! `::`, NXDOMAIN or NODATA (how `address=/x/` and block lists work), any Pi-hole block line, and an
//! upstream answer of 0.0.0.0/`::` (blocking resolvers such as NextDNS answer that way).

use super::{Parser, Prefix, split_prefix};
use crate::logs::clock::Clock;
use crate::logs::{Event, InputFormat, Kind};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::net::IpAddr;

/// Queries remembered by serial (log-queries=extra) to name `reply error is …` lines.
const SERIALS: usize = 4096;

pub struct Dnsmasq {
    clock: Clock,
    format: InputFormat,
    by_serial: FxHashMap<u64, (String, Option<String>)>,
    order: VecDeque<u64>,
}

impl Dnsmasq {
    pub fn new(clock: Clock, format: InputFormat) -> Dnsmasq {
        Dnsmasq { clock, format, by_serial: FxHashMap::default(), order: VecDeque::new() }
    }

    fn remember(&mut self, serial: u64, name: &str, client: Option<String>) {
        if self.by_serial.insert(serial, (name.to_string(), client)).is_none() {
            self.order.push_back(serial);
            if self.order.len() > SERIALS
                && let Some(old) = self.order.pop_front()
            {
                self.by_serial.remove(&old);
            }
        }
    }
}

impl Parser for Dnsmasq {
    fn format(&self) -> InputFormat {
        self.format
    }

    fn parse(&mut self, line: &str, out: &mut Vec<Event>) -> Result<(), &'static str> {
        let p = match split_prefix(line, &self.clock, &["dnsmasq", "pihole-FTL"]) {
            Prefix::Ours(p) => p,
            Prefix::Other => return Ok(()),
            Prefix::Unreadable => return Err("not a dnsmasq log line (no time stamp and dnsmasq tag)"),
        };
        if p.tag == "pihole-FTL" {
            self.format = InputFormat::Pihole;
        }
        let time = p.time;
        let (serial, extra_client, msg) = split_extra(p.msg);
        if let Some(rest) = msg.strip_prefix("query[") {
            let (qtype, rest) = rest.split_once("] ").ok_or("query line without a name")?;
            let (name, client) = rest.split_once(" from ").ok_or("query line without `NAME from CLIENT`")?;
            let client = Some(client.trim().to_string());
            if name.is_empty() || name.contains(' ') {
                return Err("query line with a malformed name");
            }
            let client = client.or(extra_client);
            if let Some(s) = serial {
                self.remember(s, name, client.clone());
            }
            let mut e = Event::new(time, name, Kind::Query);
            e.qtype = Some(qtype.to_string());
            e.client = client;
            out.push(e);
            return Ok(());
        }
        // `SOURCE NAME is ANSWER`: SOURCE is one word (reply, cached, config, /etc/hosts…) or
        // Pi-hole's two (gravity blocked, exactly denied, regex blacklisted, special domain).
        let Some((head, answer)) = msg.rsplit_once(" is ") else { return Ok(()) };
        let Some((source, name)) = head.rsplit_once(' ') else { return Ok(()) };
        let answer = answer.trim();
        if name == "query" && answer == "duplicate" {
            return Ok(());
        }
        let client = extra_client.or_else(|| serial.and_then(|s| self.by_serial.get(&s)).and_then(|(_, c)| c.clone()));
        let name = if name == "error" {
            // `reply error is REFUSED`: only the serial says which query it answers.
            match serial.and_then(|s| self.by_serial.get(&s)) {
                Some((n, _)) => n.clone(),
                None => return Ok(()),
            }
        } else {
            name.to_string()
        };
        if name.is_empty() {
            return Err("answer line with an empty name");
        }
        let kind = judge_answer(source, answer);
        let Some(kind) = kind else { return Ok(()) };
        if kind == Kind::Blocked && source.contains(' ') {
            self.format = InputFormat::Pihole;
        }
        let mut e = Event::new(time, name, kind);
        e.answer = Some(answer.to_string());
        e.client = client;
        if kind != Kind::Answered {
            e.detail = Some(format!("{source}: {answer}"));
        }
        out.push(e);
        Ok(())
    }
}

/// `5 127.0.0.1/41235 query[A] …` → (serial, client, rest) for log-queries=extra lines.
fn split_extra(msg: &str) -> (Option<u64>, Option<String>, &str) {
    let mut it = msg.splitn(3, ' ');
    if let (Some(serial), Some(addr), Some(rest)) = (it.next(), it.next(), it.next())
        && let Ok(serial) = serial.parse::<u64>()
        && let Some((ip, port)) = addr.rsplit_once('/')
        && port.bytes().all(|b| b.is_ascii_digit())
    {
        return (Some(serial), Some(ip.to_string()), rest);
    }
    (None, None, msg)
}

/// What an answer line means; `None` for lines that are not about a client's question
/// (DNSSEC validation, ipset additions).
fn judge_answer(source: &str, answer: &str) -> Option<Kind> {
    let local_rule = source == "config" || source.starts_with('/') || source.contains(' ');
    let pihole_block = source.contains(' ')
        && ["blocked", "denied", "blacklisted", "special domain"].iter().any(|w| source.contains(w));
    if pihole_block {
        return Some(Kind::Blocked);
    }
    match source {
        "reply" | "cached" | "cached-stale" | "config" => {}
        s if s.starts_with('/') => {}
        _ if local_rule => {}
        _ => return None,
    }
    let nothing = answer == "NXDOMAIN" || answer.starts_with("NODATA");
    if let Ok(ip) = answer.parse::<IpAddr>() {
        return Some(if ip.is_unspecified() { Kind::Blocked } else { Kind::Answered });
    }
    if nothing {
        return Some(if local_rule { Kind::Blocked } else { Kind::Failed });
    }
    if answer.starts_with('<') {
        return Some(Kind::Answered);
    }
    // SERVFAIL, REFUSED and the like.
    Some(Kind::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(lines: &str) -> Vec<Event> {
        let mut p = Dnsmasq::new(Clock::zone("UTC").unwrap_or_else(|e| panic!("{e}")), InputFormat::Dnsmasq);
        let mut out = Vec::new();
        for l in lines.lines() {
            p.parse(l, &mut out).unwrap_or_else(|e| panic!("{e}: {l}"));
        }
        out
    }

    #[test]
    fn extra_serials_name_error_replies() {
        let ev = parse_all(
            "Nov 27 09:45:08 dnsmasq[9978]: 11 127.0.0.1/48976 query[AAAA] api.anthropic.com from 127.0.0.1\n\
             Nov 27 09:45:08 dnsmasq[9978]: 11 127.0.0.1/48976 forwarded api.anthropic.com to 127.0.0.54\n\
             Nov 27 09:45:08 dnsmasq[9978]: 11 127.0.0.1/48976 reply error is REFUSED\n\
             Nov 27 09:45:08 dnsmasq[9978]: 7 127.0.0.1/46712 reply query is duplicate",
        );
        let kinds: Vec<_> = ev.iter().map(|e| (e.name.as_str(), e.kind)).collect();
        assert_eq!(kinds, [("api.anthropic.com", Kind::Query), ("api.anthropic.com", Kind::Failed)]);
        assert_eq!(ev[1].client.as_deref(), Some("127.0.0.1"));
    }

    #[test]
    fn blocks_answers_and_failures() {
        let ev = parse_all(
            "Nov 27 09:45:00 dnsmasq[1]: config blocked.example is 0.0.0.0\n\
             Nov 27 09:45:00 dnsmasq[1]: config nx.example is NXDOMAIN\n\
             Nov 27 09:45:00 dnsmasq[1]: config local.example is 127.0.0.2\n\
             Nov 27 09:45:00 dnsmasq[1]: reply up.example is NXDOMAIN\n\
             Nov 27 09:45:00 dnsmasq[1]: reply www.example is <CNAME>\n\
             Nov 27 09:45:00 dnsmasq[1]: cached www.example is 93.184.216.34\n\
             Nov 27 09:45:00 pihole-FTL[1]: gravity blocked ads.example is 0.0.0.0\n\
             Nov 27 09:45:00 dnsmasq[1]: /etc/pihole/gravity.list old.example is 0.0.0.0\n\
             Nov 27 09:45:00 dnsmasq[1]: validation www.example is SECURE",
        );
        let kinds: Vec<_> = ev.iter().map(|e| (e.name.as_str(), e.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("blocked.example", Kind::Blocked),
                ("nx.example", Kind::Blocked),
                ("local.example", Kind::Answered),
                ("up.example", Kind::Failed),
                ("www.example", Kind::Answered),
                ("www.example", Kind::Answered),
                ("ads.example", Kind::Blocked),
                ("old.example", Kind::Blocked),
            ]
        );
    }
}
