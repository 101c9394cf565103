//! unbound with `log-queries`, `log-replies` and `log-local-actions` (measured on unbound 1.17.1).
//!
//! `[1795772716] unbound[10279:0] info: 127.0.0.1 name. A IN` — a question;
//! `… info: 127.0.0.1 name. A IN NXDOMAIN 0.000000 1 50` — its reply (rcode, seconds, from cache,
//! size; no addresses: unbound does not log them);
//! `… info: zone. always_nxdomain 127.0.0.1@48099 name. A IN` — a local-zone answered it.
//! The time is `[epoch]`, or `Nov 27 09:45:16` with `log-time-ascii: yes`, or syslog's.
//! A local-zone action that refuses, nulls or answers locally (`always_*`, `refuse`, `deny`,
//! `static`, `redirect`) is a block; the reply line that follows it (NOERROR for always_null) is
//! then the block's reply, not an answer.

use super::{Parser, Prefix, split_prefix, strip_root};
use crate::logs::clock::Clock;
use crate::logs::{Event, InputFormat, Kind};
use std::net::IpAddr;

const BLOCKING_ACTIONS: [&str; 10] = [
    "always_nxdomain",
    "always_null",
    "always_refuse",
    "always_deny",
    "refuse",
    "deny",
    "inform_deny",
    "static",
    "redirect",
    "inform_redirect",
];

pub struct Unbound {
    clock: Clock,
    /// (client, name, type) answered by a blocking local-zone, waiting for its reply line.
    pending: Vec<(String, String, String, String)>,
}

impl Unbound {
    pub fn new(clock: Clock) -> Unbound {
        Unbound { clock, pending: Vec::new() }
    }
}

impl Parser for Unbound {
    fn format(&self) -> InputFormat {
        InputFormat::Unbound
    }

    fn parse(&mut self, line: &str, out: &mut Vec<Event>) -> Result<(), &'static str> {
        let p = match split_prefix(line, &self.clock, &["unbound"]) {
            Prefix::Ours(p) => p,
            Prefix::Other => return Ok(()),
            Prefix::Unreadable => return Err("not an unbound log line (no time stamp and unbound tag)"),
        };
        // `[pid:tid] info: …`; syslog writes `unbound[pid]: [pid:tid] info: …`.
        let body = p.raw.trim_start_matches(|c| c != ' ').trim_start();
        let body = if body.starts_with('[') { body.trim_start_matches(|c| c != ' ').trim_start() } else { body };
        let body = match body.split_once(": ") {
            Some(("info" | "reply", b)) => b,
            Some(_) => return Ok(()),
            None => return Err("unbound line without a level"),
        };
        let f: Vec<&str> = body.split(' ').collect();
        let time = p.time;
        match f.len() {
            4 | 8 if f[0].parse::<IpAddr>().is_ok() && f[1].ends_with('.') => {
                let (client, name, qtype) = (f[0], strip_root(f[1]), f[2]);
                if f.len() == 4 {
                    let mut e = Event::new(time, name, Kind::Query);
                    e.qtype = Some(qtype.to_string());
                    e.client = Some(client.to_string());
                    out.push(e);
                    return Ok(());
                }
                let rcode = f[4];
                let at = self.pending.iter().position(|(c, n, t, _)| c == client && n == name && t == qtype);
                let (kind, detail) = match at {
                    Some(i) => (Kind::Blocked, Some(self.pending.swap_remove(i).3)),
                    None if rcode == "NOERROR" => (Kind::Answered, None),
                    None => (Kind::Failed, Some(rcode.to_string())),
                };
                let mut e = Event::new(time, name, kind);
                e.qtype = Some(qtype.to_string());
                e.client = Some(client.to_string());
                e.answer = Some(rcode.to_string());
                e.detail = detail;
                out.push(e);
                Ok(())
            }
            6 if f[2].contains('@') && f[3].ends_with('.') => {
                let (zone, action, name, qtype) = (f[0], f[1], strip_root(f[3]), f[4]);
                if !BLOCKING_ACTIONS.contains(&action) {
                    return Ok(());
                }
                let client = f[2].rsplit_once('@').map_or(f[2], |(c, _)| c);
                let detail = format!("local-zone {zone} {action}");
                // Bounded: a reply line that never comes must not grow this forever.
                if self.pending.len() >= 1024 {
                    self.pending.remove(0);
                }
                self.pending.push((client.to_string(), name.to_string(), qtype.to_string(), detail));
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_zone_blocks_and_replies() {
        let mut p = Unbound::new(Clock::zone("UTC").unwrap_or_else(|e| panic!("{e}")));
        let mut out = Vec::new();
        for l in [
            "[1795772716] unbound[10279:0] info: start of service (unbound 1.17.1).",
            "[1795772716] unbound[10279:0] info: 127.0.0.1 o1.ingest.sentry.io. A IN",
            "[1795772716] unbound[10279:0] info: sentry.io. always_null 127.0.0.1@57412 o1.ingest.sentry.io. A IN",
            "[1795772716] unbound[10279:0] info: 127.0.0.1 o1.ingest.sentry.io. A IN NOERROR 0.000000 1 64",
            "[1795772716] unbound[10279:0] info: 127.0.0.1 api.anthropic.com. A IN NOERROR 0.000214 0 62",
            "[1795772716] unbound[10279:0] error: SERVFAIL <api.anthropic.com. AAAA IN>: all failed",
            "Nov 27 09:45:16 unbound[10279:0] info: 127.0.0.1 nxd.example. A IN NXDOMAIN 0.000217 0 40",
            "Nov 27 09:45:16 host unbound[10279]: [10279:0] info: 127.0.0.1 x.example. AAAA IN",
        ] {
            p.parse(l, &mut out).unwrap_or_else(|e| panic!("{e}: {l}"));
        }
        let got: Vec<_> = out.iter().map(|e| (e.name.as_str(), e.kind, e.detail.as_deref())).collect();
        assert_eq!(
            got,
            [
                ("o1.ingest.sentry.io", Kind::Query, None),
                ("o1.ingest.sentry.io", Kind::Blocked, Some("local-zone sentry.io. always_null")),
                ("api.anthropic.com", Kind::Answered, None),
                ("nxd.example", Kind::Failed, Some("NXDOMAIN")),
                ("x.example", Kind::Query, None),
            ]
        );
        assert!(p.parse("garbage", &mut out).is_err());
    }
}
