//! systemd-resolved, in the two forms a user can get without extra setup:
//!
//! `resolvectl monitor` (systemd 252+; no time stamps):
//! `→ Q: name IN A`, then `← S: success` (or `rcode-failure`, `not-found`, `timeout`, …) and one
//! `← A: name IN A 1.2.3.4` per answer record.
//!
//! Debug journal lines (`resolvectl log-level debug`, then `journalctl -u systemd-resolved`):
//! `Looking up RR for name IN A.`, `Transaction 4711 for <name IN A> on scope dns on eth0/* now
//! complete with <success> from network (…).`, `Positive cache hit for name IN A`,
//! `Negative cache hit for name IN A`.
//! resolved does not block names; a non-success state is a failure.

use super::{Parser, Prefix, split_prefix, strip_root};
use crate::logs::clock::Clock;
use crate::logs::{Event, InputFormat, Kind};

pub struct Resolved {
    clock: Clock,
    /// The question `resolvectl monitor` printed last: its `S:` and `A:` lines follow it.
    last: Option<(String, String)>,
}

impl Resolved {
    pub fn new(clock: Clock) -> Resolved {
        Resolved { clock, last: None }
    }
}

/// `name IN A` → (name, type).
fn key(s: &str) -> Option<(&str, &str)> {
    let f: Vec<&str> = s.split(' ').collect();
    (f.len() >= 3 && f[1] == "IN" && !f[0].is_empty()).then(|| (strip_root(f[0]), f[2]))
}

impl Parser for Resolved {
    fn format(&self) -> InputFormat {
        InputFormat::Resolved
    }

    fn parse(&mut self, line: &str, out: &mut Vec<Event>) -> Result<(), &'static str> {
        if let Some(q) = line.strip_prefix("→ Q: ") {
            let (name, qtype) = key(q.trim()).ok_or("monitor question not `name IN TYPE`")?;
            self.last = Some((name.to_string(), qtype.to_string()));
            let mut e = Event::new(None, name, Kind::Query);
            e.qtype = Some(qtype.to_string());
            out.push(e);
            return Ok(());
        }
        if let Some(state) = line.strip_prefix("← S: ") {
            let Some((name, qtype)) = &self.last else { return Ok(()) };
            let state = state.trim();
            let kind = if state == "success" { Kind::Answered } else { Kind::Failed };
            let mut e = Event::new(None, name.clone(), kind);
            e.qtype = Some(qtype.clone());
            e.detail = (kind == Kind::Failed).then(|| state.to_string());
            out.push(e);
            return Ok(());
        }
        if let Some(rr) = line.strip_prefix("← A: ") {
            let f: Vec<&str> = rr.trim().splitn(4, ' ').collect();
            if f.len() == 4 {
                let mut e = Event::new(None, strip_root(f[0]), Kind::Detail);
                e.answer = Some(f[3].to_string());
                out.push(e);
            }
            return Ok(());
        }
        if line.starts_with("→ ") || line.starts_with("← ") || line.trim_start().starts_with("Q: ") {
            return Ok(());
        }
        let p = match split_prefix(line, &self.clock, &["systemd-resolved"]) {
            Prefix::Ours(p) => p,
            Prefix::Other => return Ok(()),
            Prefix::Unreadable => return Err("not a resolvectl monitor or systemd-resolved journal line"),
        };
        let msg = p.msg.trim_end_matches('.');
        if let Some(k) = msg.strip_prefix("Looking up RR for ") {
            let (name, qtype) = key(k).ok_or("lookup line without `name IN TYPE`")?;
            let mut e = Event::new(p.time, name, Kind::Query);
            e.qtype = Some(qtype.to_string());
            out.push(e);
        } else if msg.starts_with("Transaction ") && msg.contains(" now complete with <") {
            let k = msg.split_once(" for <").and_then(|(_, r)| r.split_once('>')).map(|(k, _)| k);
            let state = msg.split_once(" now complete with <").and_then(|(_, r)| r.split_once('>')).map(|(s, _)| s);
            let (Some(k), Some(state)) = (k, state) else { return Err("transaction line cut short") };
            let (name, qtype) = key(k).ok_or("transaction without `name IN TYPE`")?;
            let kind = if state == "success" { Kind::Answered } else { Kind::Failed };
            let mut e = Event::new(p.time, name, kind);
            e.qtype = Some(qtype.to_string());
            e.detail = (kind == Kind::Failed).then(|| state.to_string());
            out.push(e);
        } else if let Some(k) =
            msg.strip_prefix("Positive cache hit for ").or_else(|| msg.strip_prefix("Negative cache hit for "))
        {
            let (name, qtype) = key(k).ok_or("cache line without `name IN TYPE`")?;
            let kind = if msg.starts_with("Positive") { Kind::Answered } else { Kind::Failed };
            let mut e = Event::new(p.time, name, kind);
            e.qtype = Some(qtype.to_string());
            e.detail = (kind == Kind::Failed).then(|| "negative cache hit".to_string());
            out.push(e);
        }
        Ok(())
    }
}
