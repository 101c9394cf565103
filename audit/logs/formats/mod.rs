//! One parser per log format: a line in, the [`Event`]s it recorded out.
//!
//! A parser returns `Ok` with no events for lines of its program that say nothing about a name
//! (startup, statistics) and for other programs' lines in a shared syslog file; `Err(reason)` only
//! for a line that should be its own and cannot be read.

mod bind;
mod dnsmasq;
mod nextdns;
mod opensnitch;
mod resolved;
mod unbound;

use super::clock::{Clock, epoch};
use super::{Event, InputFormat};
use crate::source::Nanos;

pub trait Parser {
    fn parse(&mut self, line: &str, out: &mut Vec<Event>) -> Result<(), &'static str>;
    /// The format as finally recognized (a dnsmasq log turns out to be Pi-hole's).
    fn format(&self) -> InputFormat;
}

pub fn parser(format: InputFormat, clock: &Clock) -> Box<dyn Parser> {
    match format {
        InputFormat::Dnsmasq | InputFormat::Pihole => Box::new(dnsmasq::Dnsmasq::new(clock.clone(), format)),
        InputFormat::Unbound => Box::new(unbound::Unbound::new(clock.clone())),
        InputFormat::NextdnsCsv => Box::new(nextdns::NextDns::new(clock.clone())),
        InputFormat::Bind => Box::new(bind::Bind::new(clock.clone())),
        InputFormat::Resolved => Box::new(resolved::Resolved::new(clock.clone())),
        InputFormat::Opensnitch => Box::new(opensnitch::OpenSnitch::new(clock.clone())),
    }
}

/// A log line split into its time and the program's message.
pub struct Prefixed<'a> {
    pub time: Option<Nanos>,
    /// The program tag that matched (`dnsmasq`, `pihole-FTL`).
    pub tag: &'a str,
    /// What the program wrote, after `tag[pid]: `.
    pub msg: &'a str,
    /// Everything after the tag (`[10279:0] info: …` for unbound, whose level follows the pid).
    pub raw: &'a str,
}

/// What a line's prefix says.
pub enum Prefix<'a> {
    /// A line of one of `tags`.
    Ours(Prefixed<'a>),
    /// A well-formed line of another program (a shared syslog file).
    Other,
    /// Neither: no time stamp or program tag where one should be.
    Unreadable,
}

/// Splits `TIME [HOST] TAG[PID]: MESSAGE` for any of the time forms logs use: syslog
/// (`Nov 27 09:45:08`), ISO 8601 / journald `short-iso`, unbound's `[epoch]`, BIND's
/// `27-Nov-2026 09:45:16.123`.
pub fn split_prefix<'a>(line: &'a str, clock: &Clock, tags: &[&'a str]) -> Prefix<'a> {
    let (time, rest) = match leading_time(line, clock) {
        Some((t, n)) => (Some(t), line[n..].trim_start()),
        None => return Prefix::Unreadable,
    };
    // The tag is the first or second word (after an optional host name).
    let mut words = rest.splitn(3, ' ');
    let candidates = [words.next(), words.next()];
    for (i, word) in candidates.iter().enumerate() {
        let Some(word) = word else { break };
        for &tag in tags {
            if let Some(after) = word.strip_prefix(tag)
                && (after.starts_with('[') || after == ":")
            {
                let skip: usize = candidates[..i].iter().flatten().map(|w| w.len() + 1).sum();
                let from = &rest[skip + tag.len()..];
                let msg = match from.find(": ") {
                    Some(p) => &from[p + 2..],
                    None => return Prefix::Unreadable,
                };
                return Prefix::Ours(Prefixed { time, tag, msg, raw: from });
            }
        }
        if word.ends_with(':') || word.contains('[') {
            return Prefix::Other;
        }
    }
    Prefix::Other
}

fn leading_time(line: &str, clock: &Clock) -> Option<(Nanos, usize)> {
    if let Some(rest) = line.strip_prefix('[') {
        let end = rest.find(']')?;
        return Some((epoch(&rest[..end])?, end + 2));
    }
    clock.syslog(line).or_else(|| clock.iso(line)).or_else(|| clock.bind(line))
}

/// `name.` → `name` (normalization proper happens in the aggregate).
pub fn strip_root(name: &str) -> &str {
    if name.len() > 1 { name.strip_suffix('.').unwrap_or(name) } else { name }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_of_every_shape() {
        let c = Clock::zone("UTC").unwrap_or_else(|e| panic!("{e}"));
        for line in [
            "Nov 27 09:45:08 dnsmasq[9978]: query[A] x from 127.0.0.1",
            "Nov 27 09:45:08 myhost dnsmasq[9978]: query[A] x from 127.0.0.1",
            "2026-11-27T09:45:08+0000 myhost dnsmasq[9978]: query[A] x from 127.0.0.1",
        ] {
            match split_prefix(line, &c, &["dnsmasq"]) {
                Prefix::Ours(p) => assert_eq!((p.tag, p.msg), ("dnsmasq", "query[A] x from 127.0.0.1"), "{line}"),
                _ => panic!("not ours: {line}"),
            }
        }
        assert!(matches!(split_prefix("Nov 27 09:45:08 host sshd[1]: hello", &c, &["dnsmasq"]), Prefix::Other));
        assert!(matches!(split_prefix("garbage", &c, &["dnsmasq"]), Prefix::Unreadable));
    }
}
