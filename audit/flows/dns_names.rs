//! Address → names learned from DNS answers, so a flow without SNI or Host is still named.
//!
//! A binding is valid from the answer until its TTL (at least [`MIN_VALIDITY`]) plus [`GRACE`] has
//! passed: resolvers and runtimes keep addresses a little beyond the TTL, but an address reused hours
//! later by another name must not inherit the old one.

use crate::source::Nanos;
use rustc_hash::FxHashMap;
use std::net::IpAddr;

const SECOND: Nanos = 1_000_000_000;
const MIN_VALIDITY: Nanos = 60 * SECOND;
const GRACE: Nanos = 300 * SECOND;
/// Captures from different vantage points may disagree slightly on time.
const CLOCK_SLACK: Nanos = SECOND;
/// Names remembered per address (CDN addresses serve many names).
const NAMES_PER_ADDRESS: usize = 8;
/// Addresses remembered at once; expired bindings are dropped when this is reached.
const MAX_ADDRESSES: usize = 1 << 20;

#[derive(Debug, Clone)]
struct Binding {
    name: String,
    from: Nanos,
    until: Nanos,
}

#[derive(Default)]
pub struct DnsNames {
    by_address: FxHashMap<IpAddr, Vec<Binding>>,
}

impl DnsNames {
    /// Records that `name` resolved to `address` at `ts` with the given TTL (seconds).
    pub fn learn(&mut self, address: IpAddr, name: &str, ts: Nanos, ttl: u32) {
        if self.by_address.len() >= MAX_ADDRESSES && !self.by_address.contains_key(&address) {
            self.by_address.retain(|_, b| {
                b.retain(|x| x.until > ts);
                !b.is_empty()
            });
            if self.by_address.len() >= MAX_ADDRESSES {
                return;
            }
        }
        let validity = (Nanos::from(ttl) * SECOND).max(MIN_VALIDITY) + GRACE;
        let bindings = self.by_address.entry(address).or_default();
        if let Some(b) = bindings.iter_mut().find(|b| b.name == name) {
            b.until = b.until.max(ts.saturating_add(validity));
            b.from = b.from.min(ts);
            return;
        }
        if bindings.len() >= NAMES_PER_ADDRESS {
            bindings.remove(0);
        }
        bindings.push(Binding { name: name.to_string(), from: ts, until: ts.saturating_add(validity) });
    }

    /// The most recently learned name of `address`, whatever its age (for naming a snapshot's sockets).
    pub fn latest(&self, address: IpAddr) -> Option<&str> {
        self.by_address.get(&address)?.iter().max_by_key(|b| b.from).map(|b| b.name.as_str())
    }

    /// Names valid for `address` at `ts`, most recently learned first.
    pub fn names_at(&self, address: IpAddr, ts: Nanos) -> Vec<String> {
        let Some(bindings) = self.by_address.get(&address) else { return Vec::new() };
        let mut valid: Vec<&Binding> =
            bindings.iter().filter(|b| b.from.saturating_sub(CLOCK_SLACK) <= ts && ts <= b.until).collect();
        valid.sort_by_key(|b| std::cmp::Reverse(b.from));
        valid.into_iter().map(|b| b.name.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_time_bounded() {
        let mut n = DnsNames::default();
        let ip: IpAddr = [10, 0, 0, 1].into();
        n.learn(ip, "old.example", 0, 30);
        n.learn(ip, "new.example", 10 * SECOND, 30);
        assert_eq!(n.names_at(ip, 20 * SECOND), vec!["new.example", "old.example"]);
        assert!(n.names_at(ip, -10 * SECOND).is_empty());
        assert!(n.names_at(ip, 3600 * SECOND).is_empty());
    }
}
