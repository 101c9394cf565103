//! The pipeline from frames to finished flows: decode → dissect → flow table, one frame at a time.
//!
//! Sources push frames in; finished flows come out through a callback as soon as they end, so a long
//! capture never holds more than its active flows.

use crate::decode::{Decoder, link};
use crate::dissect::dns::{Message, RData};
use crate::flows::dns_log::{DnsLog, Seen};
use crate::flows::dns_names::DnsNames;
use crate::flows::owner::{Owner, OwnerLookup};
use crate::flows::table::FlowTable;
use crate::flows::{AppProtocol, Flow, inspect};
use crate::source::Frame;
use std::collections::BTreeSet;
use std::net::SocketAddr;

/// Counters about the input itself, for the report's `source` section.
#[derive(Debug, Clone, Default)]
pub struct InputStats {
    pub frames: u64,
    /// Captured bytes of all frames.
    pub bytes: u64,
    /// Frames that carried no IP we could read (ARP, LLC, unsupported link types, damaged headers).
    pub not_ip: u64,
    /// Frames cut short by the capture's snaplen.
    pub truncated: u64,
    pub unsupported_linktypes: BTreeSet<u32>,
    /// IP datagrams whose fragments never all arrived.
    pub incomplete_fragments: u64,
    /// Flows ended before their time because the flow table was full.
    pub flows_ended_early: u64,
    /// Flows whose inspection stopped because all flows together buffered too much.
    pub inspections_abandoned: u64,
    /// DNS names not recorded because the DNS log was full.
    pub dns_names_dropped: u64,
}

/// Packets of a flow during which a missing owner is looked up again: the socket may appear in the
/// snapshot a moment after the first packet (late binding).
const OWNER_RETRY_PACKETS: u64 = 16;

#[derive(Default)]
pub struct Analyzer {
    decoder: Decoder,
    table: FlowTable,
    names: DnsNames,
    dns: DnsLog,
    stats: InputStats,
    owners: Option<Box<dyn OwnerLookup>>,
    /// Flows whose owner lookup was deferred (rate limit), asked again when the capture is idle.
    pending_owners: Vec<(u8, SocketAddr, SocketAddr)>,
}

/// Deferred owner lookups remembered at once; older ones still get asked on their next packet.
const MAX_PENDING_OWNERS: usize = 4096;

impl Analyzer {
    pub fn new() -> Self {
        Self::default()
    }

    /// An analyzer whose flows together may buffer at most `bytes` of stream data for inspection.
    pub fn with_inspection_budget(mut self, bytes: usize) -> Self {
        self.table.budget.limit = bytes;
        self
    }

    /// An analyzer that asks `lookup` which process owns each new flow (live capture, sidecar).
    pub fn with_owner_lookup(lookup: Box<dyn OwnerLookup>) -> Self {
        Analyzer { owners: Some(lookup), ..Self::default() }
    }

    /// Processes one frame; flows that have ended by its time are handed to `emit`.
    pub fn push(&mut self, frame: &Frame<'_>, emit: &mut dyn FnMut(Flow)) {
        let Analyzer { decoder, table, names, dns, stats, owners, pending_owners } = self;
        stats.frames += 1;
        stats.bytes += frame.data.len() as u64;
        if frame.data.len() < frame.orig_len as usize {
            stats.truncated += 1;
        }
        let Some(p) = decoder.decode(frame) else {
            stats.not_ip += 1;
            if !link::is_supported(frame.linktype) {
                stats.unsupported_linktypes.insert(frame.linktype);
            }
            return;
        };
        table.expire(frame.ts, &mut |mut flow| {
            if let Some(lookup) = owners.as_mut() {
                ask_again_if_pending(lookup.as_mut(), &mut flow);
            }
            emit(flow)
        });
        let (flow, from_client, budget) = table.flow_and_budget(&p, frame.ts, frame.number, names);
        let dir = usize::from(!from_client);
        flow.packets[dir] += 1;
        flow.bytes[dir] += u64::from(p.ip_len);
        flow.last_seen = flow.last_seen.max(frame.ts);
        if let Some(lookup) = owners.as_mut() {
            let ask = match &flow.owner {
                None => true,
                Some(Owner::Unattributed { .. }) => flow.total_packets() <= OWNER_RETRY_PACKETS,
                Some(Owner::Process(_)) => false,
            };
            if ask {
                let owner = lookup.lookup(flow.proto, flow.client, flow.server);
                if owner.is_pending() && flow.owner.is_none() && pending_owners.len() < MAX_PENDING_OWNERS {
                    pending_owners.push((flow.proto, flow.client, flow.server));
                }
                flow.owner = Some(owner);
            }
        }
        let flow_id = flow.id;
        let mut on_dns = |m: &Message, protocol: AppProtocol| {
            let resolver = if m.is_response { p.src } else { p.dst };
            dns.record(m, Seen { ts: frame.ts, frame: frame.number, flow_id, protocol, resolver });
            if m.is_response {
                learn_addresses(names, m, frame.ts);
            }
        };
        match (p.proto, p.tcp) {
            (6, Some(tcp)) => {
                if tcp.has(crate::decode::TcpMeta::RST) {
                    flow.reset = true;
                }
                if tcp.has(crate::decode::TcpMeta::FIN) {
                    flow.fin[dir] = true;
                }
                flow.note_sequence(dir, tcp, p.payload.len());
                budget.run(flow, |flow| inspect::tcp_segment(flow, from_client, tcp, p.payload, &mut on_dns));
            }
            (17, _) => inspect::udp_datagram(flow, p.payload, &mut on_dns),
            _ => {}
        }
    }

    /// Nothing to read right now: ask again for owners that were deferred, while their processes
    /// may still hold the sockets. Cheap when nothing is pending.
    pub fn idle(&mut self) {
        let Some(lookup) = self.owners.as_mut() else { return };
        let table = &mut self.table;
        self.pending_owners.retain(|&(proto, client, server)| {
            let Some(flow) = table.get_mut(proto, client, server) else { return false };
            if !flow.owner.as_ref().is_some_and(Owner::is_pending) {
                return false; // settled meanwhile, by a later packet of the flow
            }
            let owner = lookup.lookup(proto, client, server);
            let still_pending = owner.is_pending();
            flow.owner = Some(owner);
            still_pending
        });
    }

    /// Stream bytes all active flows hold for inspection right now.
    pub fn buffered_bytes(&self) -> usize {
        self.table.budget.used
    }

    /// The latest name DNS answers gave `address` so far.
    pub fn name_of(&self, address: std::net::IpAddr) -> Option<String> {
        self.names.latest(address).map(str::to_string)
    }

    /// Flows still in progress, for live views.
    pub fn active_flows(&self) -> impl Iterator<Item = &Flow> {
        self.table.flows()
    }

    /// Ends the input: every remaining flow goes to `emit`; returns the DNS log and input counters.
    pub fn finish(mut self, emit: &mut dyn FnMut(Flow)) -> (DnsLog, InputStats) {
        if let Some(lookup) = self.owners.as_mut() {
            lookup.settle();
            let lookup = lookup.as_mut();
            self.table.drain(&mut |mut flow| {
                ask_again_if_pending(lookup, &mut flow);
                emit(flow)
            });
        } else {
            self.table.drain(emit);
        }
        self.stats.incomplete_fragments = self.decoder.incomplete_fragments();
        self.stats.flows_ended_early = self.table.ended_early;
        self.stats.inspections_abandoned = self.table.budget.abandoned;
        self.stats.dns_names_dropped = self.dns.dropped_names;
        (self.dns, self.stats)
    }
}

fn ask_again_if_pending(lookup: &mut dyn OwnerLookup, flow: &mut Flow) {
    if flow.owner.as_ref().is_some_and(Owner::is_pending) {
        flow.owner = Some(lookup.lookup(flow.proto, flow.client, flow.server));
    }
}

/// Binds every A/AAAA address of a response to the names the client asked for and to the record's
/// owner (the end of a CNAME chain). The question comes first: it is the name the program used.
fn learn_addresses(names: &mut DnsNames, m: &Message, ts: crate::source::Nanos) {
    for a in &m.answers {
        let address = match a.data {
            RData::A(v4) => v4.into(),
            RData::Aaaa(v6) => v6.into(),
            _ => continue,
        };
        for q in &m.questions {
            if q.name != a.name {
                names.learn(address, &q.name, ts, a.ttl);
            }
        }
        names.learn(address, &a.name, ts, a.ttl);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A raw-IPv4 TCP segment from 10.0.0.1:`sport` to 10.0.0.2:443.
    fn segment(sport: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let total = (40 + payload.len()) as u16;
        let mut v = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        v[2..4].copy_from_slice(&total.to_be_bytes());
        v.extend_from_slice(&sport.to_be_bytes());
        v.extend_from_slice(&[1, 187]);
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend_from_slice(&[0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn all_flows_together_stay_within_the_inspection_budget() {
        let limit = 256 << 10;
        let mut a = Analyzer::new().with_inspection_budget(limit);
        // Each flow starts a 16 KiB ClientHello record and sends 8 KiB of it: it must keep buffering.
        let mut start = vec![22, 3, 1, 0x40, 0, 1, 0, 0x3f, 0xfc];
        start.resize(8192, 7);
        let mut ended = 0;
        for flow in 0..200u16 {
            let ip = segment(20_000 + flow, 1000, &start);
            let frame =
                Frame { number: u64::from(flow) + 1, ts: 0, linktype: 101, data: &ip, orig_len: ip.len() as u32 };
            a.push(&frame, &mut |_| ended += 1);
            assert!(a.buffered_bytes() <= limit, "{} > {limit}", a.buffered_bytes());
        }
        assert!(a.buffered_bytes() > limit / 2, "the budget should be used, not refused outright");
        let (_, stats) = a.finish(&mut |_| ended += 1);
        assert_eq!(ended, 200);
        assert!(stats.inspections_abandoned >= 200 - (limit / 8192) as u64, "{}", stats.inspections_abandoned);
    }
}
