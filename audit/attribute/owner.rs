//! Adapters from attribution to the analyzer's [`OwnerLookup`] hook: live ([`Attributor`]), live and
//! recorded to a sidecar ([`RecordingLookup`], for `--write-pcap`), and replayed ([`SidecarAttributor`]).
//!
//! The analyzer asks again on a flow's next packets while it has no owner, so a `pending` answer (rate
//! limit) is settled by those later asks; a flow with no later packet keeps `pending` unless the caller
//! also calls [`Attributor::retry`] or [`Attributor::settle`].

use super::sidecar::{SidecarAttributor, SidecarWriter};
use super::{Attribution, Attributor, FlowKey, Reason};
use crate::flows::owner::{Owner, OwnerLookup, ProcessOwner};
use std::io::Write;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// Stable machine names of [`Reason`] (the keys of a report's coverage table).
pub fn reason_id(r: Reason) -> &'static str {
    match r {
        Reason::ClosedBeforeSnapshot => "closed_before_snapshot",
        Reason::TimeWait => "time_wait",
        Reason::OtherUser => "other_user",
        Reason::NoLocalSocket => "no_local_socket",
        Reason::Pending => "pending",
    }
}

impl From<&Attribution> for Owner {
    fn from(a: &Attribution) -> Owner {
        match a {
            Attribution::Found(p) => Owner::Process(ProcessOwner {
                pid: p.pid,
                ppid: p.ppid,
                name: p.name.clone(),
                exe: p.exe.clone(),
                cmdline: p.cmdline.clone(),
                user: p.user.clone(),
                agent: p.agent.as_ref().map(|a| a.id.clone()),
                agent_pid: p.agent.as_ref().map(|a| a.root_pid),
                agent_cmdline: p.agent.as_ref().map(|a| a.root_cmdline.clone()),
            }),
            Attribution::Unattributed(r) => Owner::Unattributed { reason: reason_id(*r).to_string() },
        }
    }
}

impl OwnerLookup for Attributor {
    fn lookup(&mut self, proto: u8, client: SocketAddr, server: SocketAddr) -> Owner {
        Owner::from(&self.lookup_flow(proto, client, server))
    }

    fn add_agent_root(&mut self, pid: u32, label: &str) {
        self.add_root(pid, Some(label.to_string()));
    }

    fn settle(&mut self) {
        Attributor::settle(self);
    }
}

impl OwnerLookup for SidecarAttributor {
    fn lookup(&mut self, proto: u8, client: SocketAddr, server: SocketAddr) -> Owner {
        Owner::from(&self.lookup_flow(proto, client, server))
    }
}

fn now_unix_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A live [`Attributor`] that also records every final answer to a socket sidecar (`--write-pcap`).
/// Write errors are counted, not fatal: the capture itself matters more than its sidecar.
pub struct RecordingLookup<W: Write> {
    pub attributor: Attributor,
    pub writer: SidecarWriter<W>,
    pub write_errors: u64,
}

impl<W: Write> RecordingLookup<W> {
    pub fn new(attributor: Attributor, writer: SidecarWriter<W>) -> RecordingLookup<W> {
        RecordingLookup { attributor, writer, write_errors: 0 }
    }

    fn record(&mut self, key: &FlowKey, a: &Attribution) {
        if self.writer.record(key, a, now_unix_ns()).is_err() {
            self.write_errors += 1;
        }
    }
}

impl<W: Write> OwnerLookup for RecordingLookup<W> {
    fn lookup(&mut self, proto: u8, client: SocketAddr, server: SocketAddr) -> Owner {
        let (key, a) = self.attributor.lookup_flow_keyed(proto, client, server);
        self.record(&key, &a);
        Owner::from(&a)
    }

    fn add_agent_root(&mut self, pid: u32, label: &str) {
        self.attributor.add_root(pid, Some(label.to_string()));
    }

    fn settle(&mut self) {
        for (key, a) in self.attributor.settle() {
            self.record(&key, &a);
        }
    }
}
