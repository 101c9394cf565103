//! Which addresses are this host's: the side of a flow to look up in the socket table.
//!
//! Interface addresses come from sysinfo's network list (re-read at most once per
//! [`LocalAddrs::MIN_REREAD`] when an unknown address is asked about, so a new interface is noticed);
//! addresses that sockets are bound to count too, and loopback always does.

use super::sockets::canonical_ip;
use std::collections::HashSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use sysinfo::Networks;

#[derive(Debug, Default)]
pub struct LocalAddrs {
    interfaces: HashSet<IpAddr>,
    bound: HashSet<IpAddr>,
    read_at: Option<Instant>,
    all: bool,
}

impl LocalAddrs {
    /// An unknown address re-reads the interface list at most this often.
    pub const MIN_REREAD: Duration = Duration::from_secs(1);

    pub fn new() -> LocalAddrs {
        let mut l = LocalAddrs::default();
        l.reread();
        l
    }

    /// Every address counts as this host's: in the sealed namespace all of them are routed to `lo`,
    /// so whichever address the agent dialled, both ends of the flow are local.
    pub fn with_all_local(mut self, all: bool) -> LocalAddrs {
        self.all = all;
        self
    }

    fn reread(&mut self) {
        // On error keep what we knew: loopback and bound addresses still answer.
        let Ok(nets) = Networks::new_with_refreshed_list() else {
            self.read_at = Some(Instant::now());
            return;
        };
        self.interfaces =
            nets.values().flat_map(|data| data.ip_networks().iter().map(|n| canonical_ip(n.addr))).collect();
        self.read_at = Some(Instant::now());
    }

    /// Replaces the addresses sockets are bound to (from the latest socket snapshot).
    pub fn set_bound(&mut self, ips: impl Iterator<Item = IpAddr>) {
        self.bound = ips.map(canonical_ip).collect();
    }

    /// Known without touching the OS: loopback, an interface address, or a bound address.
    pub fn knows(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        self.all || ip.is_loopback() || self.interfaces.contains(&ip) || self.bound.contains(&ip)
    }

    /// Whether `ip` is this host's, re-reading the interface list if it is not known and the last
    /// read is older than [`Self::MIN_REREAD`].
    pub fn is_local(&mut self, ip: IpAddr) -> bool {
        if self.knows(ip) {
            return true;
        }
        if self.read_at.is_none_or(|t| t.elapsed() >= Self::MIN_REREAD) {
            self.reread();
            return self.knows(ip);
        }
        false
    }

    /// Every address known to be this host's (interfaces and bound addresses), sorted.
    pub fn addresses(&self) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = self.interfaces.union(&self.bound).copied().collect();
        v.sort();
        v
    }
}
