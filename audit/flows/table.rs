//! The flow table: packets → flows keyed by 5-tuple, oriented client → server, expired on time.

use super::dns_names::DnsNames;
use super::inspect::Inspector;
use super::{AppInfo, Flow};
use crate::decode::{Packet, TcpMeta};
use crate::source::Nanos;
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use rustc_hash::FxBuildHasher;
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};

const SECOND: Nanos = 1_000_000_000;
/// Zeek's defaults: 5 min for idle TCP, 1 min for UDP and others.
const TCP_IDLE: Nanos = 300 * SECOND;
const UDP_IDLE: Nanos = 60 * SECOND;
/// A closed TCP connection lingers briefly so trailing ACKs and retransmitted FINs join it instead of
/// starting a new flow.
const CLOSED_LINGER: Nanos = 10 * SECOND;
const SWEEP_EVERY: Nanos = 10 * SECOND;
/// Active flows held at once; past this the least recently seen are ended early.
const MAX_ACTIVE: usize = 1 << 19;

#[derive(Hash, PartialEq, Eq, Clone, Copy, Debug)]
struct Key {
    /// Endpoint addresses, the one of the smaller (address, port) pair first, so both directions
    /// share a key; five machine words to hash and compare per packet.
    lo: u128,
    hi: u128,
    /// The two ports (in the same order) and the IP protocol.
    ports_proto: u64,
}

/// IPv4 addresses as IPv4-mapped IPv6 (::ffff:a.b.c.d), so every address is one u128. The bytes are
/// taken in native order (no byte swaps): the key only needs some order between the endpoints, not
/// the numeric one.
fn packed(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from_ne_bytes(v4.to_ipv6_mapped().octets()),
        IpAddr::V6(v6) => u128::from_ne_bytes(v6.octets()),
    }
}

impl Key {
    fn new(proto: u8, a: (IpAddr, u16), b: (IpAddr, u16)) -> Key {
        let (a, b) = ((packed(a.0), a.1), (packed(b.0), b.1));
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        Key { lo: lo.0, hi: hi.0, ports_proto: u64::from(lo.1) << 32 | u64::from(hi.1) << 16 | u64::from(proto) }
    }

    fn of(p: &Packet<'_>) -> Key {
        Key::new(p.proto, (p.src, p.src_port), (p.dst, p.dst_port))
    }
}

/// A flow and the key it is found by.
struct Slot {
    key: Key,
    flow: Flow,
}

fn hash(key: &Key) -> u64 {
    FxBuildHasher.hash_one(key)
}

/// Flows live in a dense `Vec`; the hash table holds only their positions (4 bytes each), so a lookup
/// probes a small table that stays in cache and then touches the one slot it needs, instead of
/// probing slots of a table whose entries are whole flows (hundreds of bytes each).
#[derive(Default)]
pub struct FlowTable {
    index: HashTable<u32>,
    slots: Vec<Slot>,
    /// Slot of the last packet's flow: most packets belong to the same flow as the one before (a
    /// transfer and its ACKs), and comparing one key is cheaper than hashing and probing. Only a
    /// hint, checked against the key: removals may have moved another flow there.
    last: usize,
    next_id: u64,
    next_sweep: Option<Nanos>,
    /// Flows ended before their time because the table was full.
    pub ended_early: u64,
    pub budget: InspectionBudget,
}

/// Stream bytes buffered by all flows' inspectors together, against a limit.
#[derive(Debug, Clone, Copy)]
pub struct InspectionBudget {
    pub used: usize,
    pub limit: usize,
    /// Flows whose inspection was abandoned because the limit was reached.
    pub abandoned: u64,
}

impl Default for InspectionBudget {
    fn default() -> Self {
        InspectionBudget { used: 0, limit: INSPECTION_BUDGET, abandoned: 0 }
    }
}

impl InspectionBudget {
    /// Runs `inspect` on a flow, accounting for the stream bytes it buffers; a flow that grows past
    /// the limit gives up inspection.
    pub(crate) fn run(&mut self, flow: &mut Flow, inspect: impl FnOnce(&mut Flow)) {
        let before = flow.inspect.as_ref().map_or(0, |i| i.held());
        inspect(flow);
        let after = flow.inspect.as_ref().map_or(0, |i| i.held());
        self.used = (self.used + after).saturating_sub(before);
        if after > before && self.used > self.limit {
            flow.inspect = None;
            self.used = self.used.saturating_sub(after);
            self.abandoned += 1;
        }
    }
}

/// Stream bytes all flows may buffer together. Each flow is capped (~72 KiB), but half a million
/// flows each at their cap would be tens of GiB: past this budget the flow that asks for more gives
/// up inspection instead (it stays in the report, unnamed unless DNS names it).
const INSPECTION_BUDGET: usize = 256 << 20;

impl FlowTable {
    /// Ends flows that are over by `now` (capture time) and hands them to `emit`.
    /// Called for every packet: inlined so that the usual answer (not due yet) costs a comparison.
    #[inline]
    pub fn expire(&mut self, now: Nanos, emit: &mut dyn FnMut(Flow)) {
        let due = self.next_sweep.is_none_or(|t| now >= t);
        if due || self.slots.len() >= MAX_ACTIVE {
            self.sweep(now, emit);
        }
    }

    #[inline(never)]
    fn sweep(&mut self, now: Nanos, emit: &mut dyn FnMut(Flow)) {
        self.next_sweep = Some(now.saturating_add(SWEEP_EVERY));
        let ended: Vec<(u64, Key)> =
            self.slots.iter().filter(|s| is_over(&s.flow, now)).map(|s| (s.flow.id, s.key)).collect();
        self.emit_keys(ended, emit);
        if self.slots.len() >= MAX_ACTIVE {
            let mut by_age: Vec<(Nanos, u64, Key)> =
                self.slots.iter().map(|s| (s.flow.last_seen, s.flow.id, s.key)).collect();
            // Ties broken by id, so which flows end does not depend on where they are stored.
            by_age.sort_unstable_by_key(|&(t, id, _)| (t, id));
            let excess: Vec<(u64, Key)> = by_age.into_iter().take(MAX_ACTIVE / 4).map(|(_, id, k)| (id, k)).collect();
            self.ended_early += excess.len() as u64;
            self.emit_keys(excess, emit);
        }
    }

    /// Ends the flows of `keys` (with their ids) in the order they began. The keys are sorted, not the
    /// flows: a flow is large, and each move of one copies it.
    fn emit_keys(&mut self, mut keys: Vec<(u64, Key)>, emit: &mut dyn FnMut(Flow)) {
        keys.sort_unstable_by_key(|&(id, _)| id);
        for (_, k) in keys {
            let Some(mut f) = self.remove(&k) else { continue };
            if let Some(i) = f.inspect.take() {
                self.budget.used = self.budget.used.saturating_sub(i.held());
            }
            emit(f);
        }
    }

    /// Takes a flow out. The last slot moves into its place, so the slots stay dense.
    fn remove(&mut self, key: &Key) -> Option<Flow> {
        let FlowTable { index, slots, .. } = self;
        let (at, _) = index.find_entry(hash(key), |&i| slots[i as usize].key == *key).ok()?.remove();
        let at = at as usize;
        let last = slots.len() - 1;
        if at != last {
            let moved = hash(&slots[last].key);
            if let Some(i) = index.find_mut(moved, |&i| i as usize == last) {
                *i = at as u32;
            }
        }
        Some(slots.swap_remove(at).flow)
    }

    /// Ends every remaining flow (end of input), in the order they began.
    pub fn drain(&mut self, emit: &mut dyn FnMut(Flow)) {
        let keys: Vec<(u64, Key)> = self.slots.iter().map(|s| (s.flow.id, s.key)).collect();
        self.emit_keys(keys, emit);
    }

    /// Finds the packet's flow, creating it if new; returns it, whether the packet came from the
    /// client, and the table's inspection budget.
    #[inline]
    pub fn flow_and_budget(
        &mut self,
        p: &Packet<'_>,
        ts: Nanos,
        frame: u64,
        names: &DnsNames,
    ) -> (&mut Flow, bool, &mut InspectionBudget) {
        let key = Key::of(p);
        let FlowTable { index, slots, next_id, last, .. } = self;
        let at = if slots.get(*last).is_some_and(|s| s.key == key) {
            *last
        } else {
            match index.entry(hash(&key), |&i| slots[i as usize].key == key, |&i| hash(&slots[i as usize].key)) {
                Entry::Occupied(e) => *e.get() as usize,
                Entry::Vacant(e) => {
                    *next_id += 1;
                    slots.push(Slot { key, flow: new_flow(*next_id, p, ts, frame, names) });
                    e.insert((slots.len() - 1) as u32);
                    slots.len() - 1
                }
            }
        };
        *last = at;
        let flow = &mut slots[at].flow;
        let from_client = flow.client.ip() == p.src && flow.client.port() == p.src_port;
        (flow, from_client, &mut self.budget)
    }

    /// The active flow between these endpoints, if any.
    pub fn get_mut(&mut self, proto: u8, a: SocketAddr, b: SocketAddr) -> Option<&mut Flow> {
        let key = Key::new(proto, (a.ip(), a.port()), (b.ip(), b.port()));
        let slots = &mut self.slots;
        let at = *self.index.find(hash(&key), |&i| slots[i as usize].key == key)? as usize;
        Some(&mut slots[at].flow)
    }

    pub fn flows(&self) -> impl Iterator<Item = &Flow> {
        self.slots.iter().map(|s| &s.flow)
    }

    pub fn active(&self) -> usize {
        self.slots.len()
    }
}

fn is_over(f: &Flow, now: Nanos) -> bool {
    let idle = now.saturating_sub(f.last_seen);
    if f.proto == 6 {
        if f.reset || (f.fin[0] && f.fin[1]) { idle > CLOSED_LINGER } else { idle > TCP_IDLE }
    } else {
        idle > UDP_IDLE
    }
}

/// Ports on which the listener usually sits, to orient flows first seen mid-connection.
fn is_service_port(port: u16) -> bool {
    port < 1024
        || matches!(
            port,
            1080 | 1433 | 3128 | 3306 | 4433 | 5353 | 5355 | 5432 | 6379 | 8000 | 8008 | 8080 | 8443 | 8888 | 11434
        )
}

/// Out of line: one packet in fifteen starts a flow, and the per-packet lookup stays small.
#[inline(never)]
fn new_flow(id: u64, p: &Packet<'_>, ts: Nanos, frame: u64, names: &DnsNames) -> Flow {
    let sender_is_client = match p.tcp {
        Some(t) if t.has(TcpMeta::SYN) => !t.has(TcpMeta::ACK),
        // Mid-connection: the side on a service port is the server.
        _ => !is_service_port(p.src_port) || is_service_port(p.dst_port),
    };
    let (client, server) = if sender_is_client {
        (SocketAddr::new(p.src, p.src_port), SocketAddr::new(p.dst, p.dst_port))
    } else {
        (SocketAddr::new(p.dst, p.dst_port), SocketAddr::new(p.src, p.src_port))
    };
    Flow {
        id,
        proto: p.proto,
        client,
        server,
        first_seen: ts,
        last_seen: ts,
        first_frame: frame,
        packets: [0; 2],
        bytes: [0; 2],
        app: AppInfo::default(),
        dns_names: names.names_at(server.ip(), ts),
        inspect: (p.proto == 6).then(|| Inspector::for_tcp(client.port(), server.port())),
        fin: [false; 2],
        seq_span: [None; 2],
        reset: false,
        owner: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use std::net::Ipv4Addr;

    fn packet(proto: u8, src: (u8, u16), dst: (u8, u16)) -> Packet<'static> {
        Packet {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, src.0)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, dst.0)),
            proto,
            src_port: src.1,
            dst_port: dst.1,
            tcp: None,
            payload: &[],
            truncated: false,
            ip_len: 20,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        /// Flows come and go in random order (so removals move slots around): each packet still finds
        /// the flow its endpoints had, every active flow is found by its endpoints, and each flow ends
        /// exactly once.
        #[test]
        fn every_packet_finds_its_flow_while_others_come_and_go(
            packets in prop::collection::vec(
                (prop::sample::select(&[6u8, 17][..]), (0u8..4, 1u16..6), (0u8..4, 1u16..6), 0i64..90),
                1..300,
            ),
        ) {
            let names = DnsNames::default();
            let mut table = FlowTable::default();
            let mut open: HashMap<u64, (u8, SocketAddr, SocketAddr)> = HashMap::new();
            let mut ended = Vec::new();
            let mut now = 0;
            for (i, &(proto, src, dst, gap)) in packets.iter().enumerate() {
                now += gap * SECOND;
                table.expire(now, &mut |f| ended.push(f.id));
                for id in &ended {
                    prop_assert!(open.remove(id).is_some(), "flow {} ended twice or never began", id);
                }
                ended.clear();
                let p = packet(proto, src, dst);
                let expected = open.iter().find(|&(_, &(pr, c, s))| {
                    let ends = [SocketAddr::new(p.src, p.src_port), SocketAddr::new(p.dst, p.dst_port)];
                    pr == proto && ((c, s) == (ends[0], ends[1]) || (s, c) == (ends[0], ends[1]))
                }).map(|(&id, _)| id);
                let (flow, from_client, _) = table.flow_and_budget(&p, now, i as u64, &names);
                flow.last_seen = now;
                prop_assert_eq!(from_client, flow.client == SocketAddr::new(p.src, p.src_port));
                match expected {
                    Some(id) => prop_assert_eq!(flow.id, id),
                    None => {
                        prop_assert!(!open.contains_key(&flow.id));
                        open.insert(flow.id, (flow.proto, flow.client, flow.server));
                    }
                }
                prop_assert_eq!(table.active(), open.len());
                for (&id, &(proto, client, server)) in &open {
                    let found = table.get_mut(proto, server, client).map(|f| f.id);
                    prop_assert_eq!(found, Some(id));
                }
            }
            table.drain(&mut |f| ended.push(f.id));
            let mut left: Vec<u64> = open.keys().copied().collect();
            left.sort_unstable();
            prop_assert_eq!(ended, left, "drain ends the rest in the order they began");
            prop_assert_eq!(table.active(), 0);
        }
    }
}
