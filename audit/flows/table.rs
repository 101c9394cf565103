//! The flow table: packets → flows keyed by 5-tuple, oriented client → server, expired on time.

use super::dns_names::DnsNames;
use super::inspect::Inspector;
use super::{AppInfo, Flow};
use crate::decode::{Packet, TcpMeta};
use crate::source::Nanos;
use rustc_hash::FxHashMap;
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
    /// Endpoints as (address, port) packed into one integer each, the smaller first, so both
    /// directions share a key; hashing and comparing two integers is the cheapest per-packet form.
    lo: (u128, u16),
    hi: (u128, u16),
    proto: u8,
}

/// IPv4 addresses as IPv4-mapped IPv6 (::ffff:a.b.c.d), so every address is one u128.
fn packed(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

impl Key {
    fn new(proto: u8, a: (IpAddr, u16), b: (IpAddr, u16)) -> Key {
        let (a, b) = ((packed(a.0), a.1), (packed(b.0), b.1));
        if a <= b { Key { lo: a, hi: b, proto } } else { Key { lo: b, hi: a, proto } }
    }

    fn of(p: &Packet<'_>) -> Key {
        Key::new(p.proto, (p.src, p.src_port), (p.dst, p.dst_port))
    }
}

#[derive(Default)]
pub struct FlowTable {
    flows: FxHashMap<Key, Flow>,
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
    pub fn expire(&mut self, now: Nanos, emit: &mut dyn FnMut(Flow)) {
        let due = self.next_sweep.is_none_or(|t| now >= t);
        if !due && self.flows.len() < MAX_ACTIVE {
            return;
        }
        self.next_sweep = Some(now.saturating_add(SWEEP_EVERY));
        let ended: Vec<(u64, Key)> =
            self.flows.iter().filter(|(_, f)| is_over(f, now)).map(|(k, f)| (f.id, *k)).collect();
        self.emit_keys(ended, emit);
        if self.flows.len() >= MAX_ACTIVE {
            let mut by_age: Vec<(Nanos, u64, Key)> = self.flows.iter().map(|(k, f)| (f.last_seen, f.id, *k)).collect();
            by_age.sort_unstable_by_key(|(t, _, _)| *t);
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
            let Some(mut f) = self.flows.remove(&k) else { continue };
            if let Some(i) = f.inspect.take() {
                self.budget.used = self.budget.used.saturating_sub(i.held());
            }
            emit(f);
        }
    }

    /// Ends every remaining flow (end of input), in the order they began.
    pub fn drain(&mut self, emit: &mut dyn FnMut(Flow)) {
        let keys: Vec<(u64, Key)> = self.flows.iter().map(|(k, f)| (f.id, *k)).collect();
        self.emit_keys(keys, emit);
    }

    /// Finds the packet's flow, creating it if new; returns it, whether the packet came from the
    /// client, and the table's inspection budget.
    pub fn flow_and_budget(
        &mut self,
        p: &Packet<'_>,
        ts: Nanos,
        frame: u64,
        names: &DnsNames,
    ) -> (&mut Flow, bool, &mut InspectionBudget) {
        let key = Key::of(p);
        let next_id = &mut self.next_id;
        let flow = self.flows.entry(key).or_insert_with(|| {
            *next_id += 1;
            new_flow(*next_id, p, ts, frame, names)
        });
        let from_client = flow.client.ip() == p.src && flow.client.port() == p.src_port;
        (flow, from_client, &mut self.budget)
    }

    /// The active flow between these endpoints, if any.
    pub fn get_mut(&mut self, proto: u8, a: SocketAddr, b: SocketAddr) -> Option<&mut Flow> {
        self.flows.get_mut(&Key::new(proto, (a.ip(), a.port()), (b.ip(), b.port())))
    }

    pub fn flows(&self) -> impl Iterator<Item = &Flow> {
        self.flows.values()
    }

    pub fn active(&self) -> usize {
        self.flows.len()
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
