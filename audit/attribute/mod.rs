//! Process attribution: which process, and which agent session, owns the local end of each flow.
//!
//! The OS sits behind this one module: sockets from netlink (`sockets`), processes from sysinfo
//! (`processes`), interface addresses (`local`). What is an agent is data (`agents`, shipped in
//! `audit/data/agents.toml`). A flow is joined to a socket by protocol and local address/port (and
//! peer for TCP); the socket's holder is then walked up its ancestry to the nearest agent, or to an
//! explicit agent root given by pid (the command `check -- COMMAND` launched).
//!
//! # Cost
//! A snapshot (netlink dump + a `/proc/*/fd` walk + one sysinfo refresh) is taken only when a lookup
//! misses, and at most once per [`Attributor::refresh_interval`]: 50 ms by default, or 10× the last
//! snapshot's duration on a host where snapshots are slow, so they never take more than ~10% of a core.
//! A burst of new flows costs one snapshot, never one per packet or per flow. The fd walk is complete
//! at most every 2 s; in between it only searches new sockets and stops once each has its holder
//! ([`SocketReader`]). RustNet measured the alternative (procfs on every miss) at ~52% CPU against ~5%
//! for periodic refresh; refreshing on misses keeps short connections that a fixed 1 s tick would miss.
//!
//! # Late binding
//! A miss that could not refresh (rate limit) answers `Unattributed(Reason::Pending)` and queues the flow.
//! The caller calls [`Attributor::retry`] on its tick (every 50–100 ms while [`Attributor::pending`] is not
//! empty): once a snapshot newer than the miss exists, every queued flow gets its final answer (found, or
//! a final reason) and the caller re-labels those flows. A flow's socket existed when its first packet was
//! sent, so one snapshot taken after the miss is decisive.
//!
//! # What cannot be attributed, and why
//! [`Reason`] says it: the connection closed before any snapshot saw it (short DNS lookups, fast HTTP
//! requests), only its TIME_WAIT remains, its process belongs to another user (we run unprivileged), or
//! the flow's local side is not an address of this host (a capture of other machines' traffic).

pub mod agents;
pub mod local;
pub mod owner;
pub mod processes;
pub mod sidecar;
pub mod snapshot;
pub mod sockets;

pub use agents::{Agent, AgentCatalog, AgentCatalogError, AgentMatch, AgentRule};
pub use processes::{ProcessRecord, ProcessTable};
pub use sockets::{
    Binding, Holder, SnapshotCost, SocketEntry, SocketReader, SocketState, SocketTable, TCP, UDP, canonical,
    canonical_ip,
};

use local::LocalAddrs;
use serde::Serialize;
use sockets::SocketMatch;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An OS read that failed, said so that the user knows what was being read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeError {
    pub context: String,
    pub message: String,
}

impl AttributeError {
    pub(crate) fn new(context: &str, e: impl fmt::Display) -> AttributeError {
        AttributeError { context: context.to_string(), message: e.to_string() }
    }
}

impl fmt::Display for AttributeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.context, self.message)
    }
}

impl std::error::Error for AttributeError {}

/// The agent session a process belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentInfo {
    /// Catalog id of the nearest recognized agent (`claude-code`); for an explicit root the catalog
    /// does not know, the root's label (by default its command line).
    pub id: String,
    /// The session's root: the outermost process of the nearest run of this agent, or the explicit root.
    pub root_pid: u32,
    pub root_cmdline: String,
    /// The rule that recognized the agent (`agents.toml:58 cmdline~"@openai/codex"`); None when only
    /// an explicit root makes this an agent.
    pub rule: Option<String>,
    /// True when the root was given by pid ([`Attributor::add_root`]).
    pub explicit: bool,
}

/// A process owning a flow's socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessInfo {
    pub pid: u32,
    pub ppid: Option<u32>,
    pub name: String,
    pub exe: Option<String>,
    pub cmdline: Vec<String>,
    pub uid: Option<u32>,
    pub user: Option<String>,
    /// Seconds since the Unix epoch.
    pub start_time: u64,
    pub agent: Option<AgentInfo>,
    /// How the flow met the socket (None when the process was asked for by pid).
    pub binding: Option<Binding>,
    /// Other processes holding the same socket (after fork), ascending.
    pub shared_with: Vec<u32>,
}

/// Why a flow has no process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// No snapshot taken after the flow began saw its socket: it was closed (or, for a listener-less
    /// server side, accepted and closed) before the snapshot.
    ClosedBeforeSnapshot,
    /// Only the TIME_WAIT remnant of the connection exists; the kernel keeps no process for it.
    TimeWait,
    /// The socket exists but its process belongs to another user and is invisible without privilege.
    OtherUser,
    /// The flow's local side is not an address of this host.
    NoLocalSocket,
    /// Not decided yet: the snapshot predates the flow and the rate limit forbade a new one. Call
    /// [`Attributor::retry`] later for the final answer.
    Pending,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::ClosedBeforeSnapshot => "closed before the socket snapshot",
            Reason::TimeWait => "closed (TIME_WAIT, no process)",
            Reason::OtherUser => "another user's process (run as root to see it)",
            Reason::NoLocalSocket => "local side is not this host",
            Reason::Pending => "pending",
        })
    }
}

/// The answer to "whose flow is this?".
// Answers are made once per flow and handed on, not stored in bulk: boxing the process would only
// cost an allocation per found flow.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribution {
    Found(ProcessInfo),
    Unattributed(Reason),
}

impl Attribution {
    pub fn process(&self) -> Option<&ProcessInfo> {
        match self {
            Attribution::Found(p) => Some(p),
            Attribution::Unattributed(_) => None,
        }
    }

    pub fn reason(&self) -> Option<Reason> {
        match self {
            Attribution::Found(_) => None,
            Attribution::Unattributed(r) => Some(*r),
        }
    }

    pub fn is_pending(&self) -> bool {
        self.reason() == Some(Reason::Pending)
    }

    /// The JSON value for a report's `process` field (see the `Serialize` impl).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// `{"status":"found", "pid":…, …}` or `{"status":"unattributed","reason":"time_wait"}`.
impl Serialize for Attribution {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(tag = "status", rename_all = "snake_case")]
        enum Json<'a> {
            Found(&'a ProcessInfo),
            Unattributed { reason: Reason },
        }
        match self {
            Attribution::Found(p) => Json::Found(p).serialize(s),
            Attribution::Unattributed(reason) => Json::Unattributed { reason: *reason }.serialize(s),
        }
    }
}

/// A flow's local side and peer, canonical (IPv4-mapped IPv6 as IPv4, no scope): how pending flows are
/// handed back by [`Attributor::retry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct FlowKey {
    pub proto: u8,
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

impl FlowKey {
    pub fn new(proto: u8, local: SocketAddr, remote: SocketAddr) -> FlowKey {
        FlowKey { proto, local: canonical(local), remote: canonical(remote) }
    }
}

/// Tuning of an [`Attributor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Snapshots are taken at most this often.
    pub min_refresh_interval: Duration,
    /// Ancestry walks stop after this many processes.
    pub max_depth: usize,
    /// Flows queued for late binding at most; beyond, the oldest is forgotten (a caller that never calls
    /// [`Attributor::retry`] and re-asks instead, like the analyzer, leaves a queue that just churns).
    pub max_pending: usize,
    /// Snapshots are also spaced by this many times the last one's duration, so that they use at most
    /// 1/`cost_factor` of a core however large the host's socket table (10: at most 10%).
    pub cost_factor: u32,
    /// A complete /proc/*/fd walk at most this often; snapshots in between only look for new sockets.
    pub full_walk_every: Duration,
    /// Every address is this host's (the sealed namespace routes all of them to `lo`).
    pub all_addresses_local: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            min_refresh_interval: Duration::from_millis(50),
            max_depth: 64,
            max_pending: 65_536,
            cost_factor: 10,
            full_walk_every: Duration::from_secs(2),
            all_addresses_local: false,
        }
    }
}

/// What the last snapshot cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RefreshCost {
    #[serde(serialize_with = "micros")]
    pub total: Duration,
    pub sockets: SnapshotCost,
    #[serde(serialize_with = "micros")]
    pub processes: Duration,
    pub process_count: usize,
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Counters of an [`Attributor`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub lookups: u64,
    pub found: u64,
    /// Snapshots taken (including the first).
    pub refreshes: u64,
    /// Misses that wanted a snapshot but the rate limit said no.
    pub rate_limited: u64,
    pub refresh_errors: u64,
    /// Pending flows forgotten because [`Config::max_pending`] was reached.
    pub pending_overflow: u64,
    pub last_refresh: RefreshCost,
}

#[derive(Debug, Clone)]
struct ExplicitRoot {
    start_time: Option<u64>,
    label: String,
}

/// Answers "which process owns this flow?" from socket and process snapshots, refreshed on misses at a
/// bounded rate. Not thread-safe by design: one owner (the capture loop) asks and retries.
pub struct Attributor {
    config: Config,
    catalog: AgentCatalog,
    procs: ProcessTable,
    reader: SocketReader,
    sockets: SocketTable,
    local: LocalAddrs,
    roots: HashMap<u32, ExplicitRoot>,
    /// Agent sessions of processes seen before, kept while the process lives: a child whose agent
    /// parent exited (and was reparented to init) stays in its session.
    lineage: HashMap<u32, (u64, Arc<AgentInfo>)>,
    /// Resolutions valid for the current snapshot.
    memo: HashMap<u32, Option<Arc<AgentInfo>>>,
    last_refresh: Option<Instant>,
    /// Set by [`Attributor::settle`]: the capture is over, a miss is final rather than pending.
    settled: bool,
    generation: u64,
    pending: VecDeque<FlowKey>,
    pending_set: HashSet<FlowKey>,
    stats: Stats,
    last_error: Option<AttributeError>,
}

enum Probe {
    /// (inode, holder) as the snapshot remembers them: verified before use.
    Owned(Vec<(u32, Holder)>, Binding),
    Final(Reason),
    Missing,
}

impl Attributor {
    /// The shipped agent catalog, default tuning, and a first snapshot.
    pub fn new() -> Result<Attributor, AttributeError> {
        let catalog = AgentCatalog::builtin().map_err(|e| AttributeError::new("agent catalog", e))?;
        Attributor::with(Config::default(), catalog)
    }

    pub fn with(config: Config, catalog: AgentCatalog) -> Result<Attributor, AttributeError> {
        let all_local = config.all_addresses_local;
        let mut reader = SocketReader::new();
        reader.full_walk_every = config.full_walk_every;
        let mut a = Attributor {
            config,
            catalog,
            procs: ProcessTable::new()?,
            reader,
            sockets: SocketTable::default(),
            local: LocalAddrs::new().with_all_local(all_local),
            roots: HashMap::new(),
            lineage: HashMap::new(),
            memo: HashMap::new(),
            last_refresh: None,
            settled: false,
            generation: 0,
            pending: VecDeque::new(),
            pending_set: HashSet::new(),
            stats: Stats::default(),
            last_error: None,
        };
        a.refresh_now()?;
        Ok(a)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn catalog(&self) -> &AgentCatalog {
        &self.catalog
    }

    pub fn processes(&self) -> &ProcessTable {
        &self.procs
    }

    pub fn sockets(&self) -> &SocketTable {
        &self.sockets
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The error of the last snapshot attempt, if it failed (the previous snapshot stays in use).
    pub fn last_error(&self) -> Option<&AttributeError> {
        self.last_error.as_ref()
    }

    /// Increases with every snapshot.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The spacing of snapshots now: [`Config::min_refresh_interval`], or [`Config::cost_factor`] times
    /// the last snapshot's duration when that is longer.
    pub fn refresh_interval(&self) -> Duration {
        self.config.min_refresh_interval.max(self.stats.last_refresh.total * self.config.cost_factor)
    }

    /// Takes a snapshot unless one was taken less than [`Self::refresh_interval`] ago.
    /// Returns whether it did. A failed snapshot counts against the rate too (and is kept in
    /// [`Self::last_error`]), so a broken netlink does not turn into a busy loop.
    pub fn refresh(&mut self) -> bool {
        if self.last_refresh.is_some_and(|t| t.elapsed() < self.refresh_interval()) {
            self.stats.rate_limited += 1;
            return false;
        }
        match self.snapshot(false) {
            Ok(()) => true,
            Err(e) => {
                self.stats.refresh_errors += 1;
                self.last_error = Some(e);
                false
            }
        }
    }

    /// Takes a snapshot now, whatever the rate limit, re-reading every process.
    pub fn refresh_now(&mut self) -> Result<(), AttributeError> {
        self.snapshot(true)
    }

    /// A socket snapshot, then the process table: all of it when `all_processes` (or on a full fd
    /// walk), otherwise only the holders it does not know yet.
    fn snapshot(&mut self, all_processes: bool) -> Result<(), AttributeError> {
        let t0 = Instant::now();
        self.last_refresh = Some(t0);
        // Sockets first: a holder found by the fd walk is then in the process refresh that follows,
        // unless it exited in between.
        let sockets = self.reader.snapshot()?;
        let t1 = Instant::now();
        if all_processes || sockets.cost.full_walk || self.procs.is_empty() {
            self.procs.refresh(&self.catalog);
        } else {
            // Between full walks only the holders the process table does not know yet (and their
            // unknown ancestors) are read: a full sysinfo refresh costs milliseconds, which is the
            // lifetime of a short connection, and the snapshot must stay cheap to be taken often.
            let mut unknown: Vec<u32> = sockets.pids().filter(|p| self.procs.get(*p).is_none()).collect();
            for _ in 0..self.config.max_depth {
                unknown.sort_unstable();
                unknown.dedup();
                if unknown.is_empty() {
                    break;
                }
                self.procs.refresh_pids(&unknown, &self.catalog);
                unknown = unknown
                    .iter()
                    .filter_map(|p| self.procs.get(*p).and_then(|r| r.ppid))
                    .filter(|pp| *pp != 0 && self.procs.get(*pp).is_none())
                    .collect();
            }
        }
        let processes = t1.elapsed();
        self.sockets = sockets;
        self.local.set_bound(self.sockets.local_ips());
        self.generation += 1;
        self.memo.clear();
        let procs = &self.procs;
        self.lineage.retain(|pid, (start, _)| procs.get(*pid).is_some_and(|r| r.start_time == *start));
        // Resolve everyone now, so that lineage remembers each agent's descendants while the agent
        // lives: O(processes) with the memo.
        let pids: Vec<u32> = self.procs.iter().map(|r| r.pid).collect();
        for pid in pids {
            self.resolve(pid);
        }
        self.stats.refreshes += 1;
        self.last_error = None;
        self.stats.last_refresh =
            RefreshCost { total: t0.elapsed(), sockets: self.sockets.cost, processes, process_count: self.procs.len() };
        Ok(())
    }

    /// Whether `ip` is an address of this host (loopback, an interface's, or one a socket is bound to).
    pub fn is_local_address(&mut self, ip: IpAddr) -> bool {
        self.local.is_local(ip)
    }

    /// This host's known addresses (for the sidecar header).
    pub fn local_addresses(&self) -> Vec<IpAddr> {
        self.local.addresses()
    }

    /// Makes `pid` (and its descendants) an agent session even if the catalog does not know it, as
    /// `check -- COMMAND` does for the child it launches. `label` names the session when the catalog
    /// does not (default: the process's command line). Returns false if no such process is visible
    /// (it is registered anyway, matching any start time).
    pub fn add_root(&mut self, pid: u32, label: Option<String>) -> bool {
        if self.procs.get(pid).is_none() {
            self.procs.refresh_pids(&[pid], &self.catalog);
        }
        let record = self.procs.get(pid).cloned();
        let label = label.or_else(|| record.as_ref().map(|r| r.label())).unwrap_or_else(|| format!("pid {pid}"));
        self.roots.insert(pid, ExplicitRoot { start_time: record.as_ref().map(|r| r.start_time), label });
        self.memo.clear();
        record.is_some()
    }

    /// Forgets an explicit root, and the session its descendants were remembered in.
    pub fn remove_root(&mut self, pid: u32) {
        self.roots.remove(&pid);
        self.lineage.retain(|_, (_, a)| !(a.explicit && a.root_pid == pid));
        self.memo.clear();
    }

    /// Flows waiting for a snapshot newer than their miss.
    pub fn pending(&self) -> impl Iterator<Item = &FlowKey> + '_ {
        self.pending.iter()
    }

    /// Late binding: if flows are pending and the rate limit allows, takes one snapshot and returns the
    /// final answer for every pending flow (found, or a final reason). Returns nothing otherwise; call it
    /// again on the next tick.
    pub fn retry(&mut self) -> Vec<(FlowKey, Attribution)> {
        if self.pending.is_empty() || !self.refresh() {
            return Vec::new();
        }
        let keys = std::mem::take(&mut self.pending);
        self.pending_set.clear();
        keys.into_iter()
            .map(|k| {
                let a = self.answer(&k).unwrap_or(Attribution::Unattributed(Reason::ClosedBeforeSnapshot));
                (k, a)
            })
            .collect()
    }

    /// Ends late binding (at the end of a capture): one snapshot now, whatever the rate limit, and the
    /// final answer for every pending flow.
    pub fn settle(&mut self) -> Vec<(FlowKey, Attribution)> {
        self.settled = true;
        if self.pending.is_empty() {
            return Vec::new();
        }
        self.last_refresh = None;
        self.retry()
    }

    /// Who owns the socket at `local` talking to `remote` (`local` must be this host's side).
    pub fn lookup(&mut self, proto: u8, local: SocketAddr, remote: SocketAddr) -> Attribution {
        self.lookup_key(FlowKey::new(proto, local, remote), true)
    }

    /// Like [`Self::lookup`] for a flow oriented client → server, whichever side is this host's: the
    /// client side first (on loopback both are, and the client is the one that initiated), then the
    /// server side.
    pub fn lookup_flow(&mut self, proto: u8, client: SocketAddr, server: SocketAddr) -> Attribution {
        self.lookup_flow_keyed(proto, client, server).1
    }

    /// [`Self::lookup_flow`], with the key (local side first) the answer belongs to.
    pub fn lookup_flow_keyed(&mut self, proto: u8, client: SocketAddr, server: SocketAddr) -> (FlowKey, Attribution) {
        let forward = FlowKey::new(proto, client, server);
        let backward = FlowKey::new(proto, server, client);
        let client_local = self.local.is_local(client.ip());
        let server_local = self.local.is_local(server.ip());
        match (client_local, server_local) {
            (true, false) => (forward, self.lookup_key(forward, true)),
            (false, true) => (backward, self.lookup_key(backward, true)),
            (false, false) => {
                self.stats.lookups += 1;
                (forward, Attribution::Unattributed(Reason::NoLocalSocket))
            }
            // Both ends on this host (loopback, a local proxy): the flow belongs to the side that
            // initiated it. Falling back to the listener when the client is gone would name the
            // server (a sink, a proxy) as the process that talked.
            (true, true) => (forward, self.lookup_key(forward, true)),
        }
    }

    fn lookup_key(&mut self, key: FlowKey, queue: bool) -> Attribution {
        self.stats.lookups += 1;
        if !self.local.is_local(key.local.ip()) {
            return Attribution::Unattributed(Reason::NoLocalSocket);
        }
        let answer = match self.answer(&key) {
            Some(a) => a,
            None if self.refresh() => {
                self.answer(&key).unwrap_or(Attribution::Unattributed(Reason::ClosedBeforeSnapshot))
            }
            None if self.settled => Attribution::Unattributed(Reason::ClosedBeforeSnapshot),
            None if !queue => Attribution::Unattributed(Reason::Pending),
            None => {
                if self.pending_set.insert(key) {
                    self.pending.push_back(key);
                    while self.pending.len() > self.config.max_pending.max(1) {
                        if let Some(old) = self.pending.pop_front() {
                            self.pending_set.remove(&old);
                            self.stats.pending_overflow += 1;
                        }
                    }
                }
                Attribution::Unattributed(Reason::Pending)
            }
        };
        if answer.process().is_some() {
            self.stats.found += 1;
        }
        answer
    }

    /// The answer the current snapshot gives, or None when it knows no holder (any more): then only a
    /// newer snapshot can tell.
    fn answer(&mut self, key: &FlowKey) -> Option<Attribution> {
        match self.probe(key) {
            Probe::Owned(holders, binding) => self.found(holders, binding),
            Probe::Final(r) => Some(Attribution::Unattributed(r)),
            Probe::Missing => None,
        }
    }

    fn probe(&self, key: &FlowKey) -> Probe {
        match self.sockets.find(key.proto, key.local, key.remote) {
            SocketMatch::Owned { holders, binding, .. } => Probe::Owned(holders, binding),
            SocketMatch::TimeWait => Probe::Final(Reason::TimeWait),
            SocketMatch::OtherUser { .. } => Probe::Final(Reason::OtherUser),
            SocketMatch::Unowned | SocketMatch::Missing => Probe::Missing,
        }
    }

    /// Verifies the holders the snapshot remembers (a process caught between fork and exec holds its
    /// parent's descriptors for a moment), picks one, and describes it. None when none holds the socket
    /// any more (the next snapshot searches it again).
    fn found(&mut self, holders: Vec<(u32, Holder)>, binding: Binding) -> Option<Attribution> {
        let mut by_inode: BTreeMap<u32, Vec<Holder>> = BTreeMap::new();
        for (inode, h) in holders {
            by_inode.entry(inode).or_default().push(h);
        }
        let mut pids = Vec::new();
        for (inode, hs) in by_inode {
            let procs = &self.procs;
            let valid = self.reader.verify(inode, &hs, |pid| procs.get(pid).and_then(|r| r.ppid));
            pids.extend(valid.iter().map(|h| h.pid));
        }
        pids.sort_unstable();
        pids.dedup();
        if pids.is_empty() {
            return None;
        }
        let unknown: Vec<u32> = pids.iter().copied().filter(|&p| self.procs.get(p).is_none()).collect();
        if !unknown.is_empty() {
            self.procs.refresh_pids(&unknown, &self.catalog);
        }
        // Holders that exited between the descriptor check and the process refresh.
        let Some(best) = pick_holder(&self.procs, &pids, self.config.max_depth) else {
            return Some(Attribution::Unattributed(Reason::ClosedBeforeSnapshot));
        };
        pids.retain(|&p| p != best);
        Some(match self.process(best) {
            Some(mut info) => {
                info.binding = Some(binding);
                info.shared_with = pids;
                Attribution::Found(info)
            }
            None => Attribution::Unattributed(Reason::ClosedBeforeSnapshot),
        })
    }

    /// A process from the current snapshot, with its agent session.
    pub fn process(&mut self, pid: u32) -> Option<ProcessInfo> {
        let r = self.procs.get(pid)?.clone();
        let agent = self.resolve(pid).map(|a| AgentInfo::clone(&a));
        Some(ProcessInfo {
            pid: r.pid,
            ppid: r.ppid,
            name: r.name.clone(),
            exe: r.exe.clone(),
            cmdline: r.cmdline.clone(),
            uid: r.uid,
            user: r.user.clone(),
            start_time: r.start_time,
            agent,
            binding: None,
            shared_with: Vec::new(),
        })
    }

    /// The agent session of a process: memoized per snapshot, computed top-down along its ancestry
    /// (bounded by [`Config::max_depth`], cycle-safe).
    pub fn agent_of(&mut self, pid: u32) -> Option<AgentInfo> {
        self.resolve(pid).map(|a| AgentInfo::clone(&a))
    }

    fn resolve(&mut self, pid: u32) -> Option<Arc<AgentInfo>> {
        if let Some(m) = self.memo.get(&pid) {
            return m.clone();
        }
        let mut chain: Vec<Arc<ProcessRecord>> = Vec::new();
        let mut seen = HashSet::new();
        let mut base = None;
        let mut next = Some(pid);
        while let Some(p) = next {
            if let Some(m) = self.memo.get(&p) {
                base = m.clone();
                break;
            }
            if chain.len() >= self.config.max_depth || !seen.insert(p) {
                break;
            }
            let Some(r) = self.procs.get(p) else { break };
            chain.push(r.clone());
            next = r.ppid;
        }
        for r in chain.iter().rev() {
            let info = self.step(r, base.as_ref());
            if let Some(i) = &info {
                self.lineage.insert(r.pid, (r.start_time, i.clone()));
            }
            self.memo.insert(r.pid, info.clone());
            base = info;
        }
        self.memo.get(&pid).cloned().flatten()
    }

    /// One process's session, given its parent's.
    fn step(&self, r: &ProcessRecord, parent: Option<&Arc<AgentInfo>>) -> Option<Arc<AgentInfo>> {
        let own = r.agent.map(|m| (self.catalog.agent(m).id.clone(), self.catalog.rule(m).reference()));
        if let Some(root) = self.roots.get(&r.pid)
            && root.start_time.is_none_or(|s| s == r.start_time)
        {
            let (id, rule) = match own {
                Some((id, rule)) => (id, Some(rule)),
                None => (root.label.clone(), None),
            };
            return Some(Arc::new(AgentInfo { id, root_pid: r.pid, root_cmdline: r.label(), rule, explicit: true }));
        }
        match (parent, own) {
            // Inside an explicit session: the session stays, the nearest agent names the flow.
            (Some(up), Some((id, rule))) if up.explicit => {
                if up.id == id {
                    Some(up.clone())
                } else {
                    Some(Arc::new(AgentInfo { id, rule: Some(rule), ..AgentInfo::clone(up) }))
                }
            }
            // The same agent again (npm launcher → native binary, Electron helpers): one session.
            (Some(up), Some((id, _))) if up.id == id => Some(up.clone()),
            (_, Some((id, rule))) => Some(Arc::new(AgentInfo {
                id,
                root_pid: r.pid,
                root_cmdline: r.label(),
                rule: Some(rule),
                explicit: false,
            })),
            (Some(up), None) => Some(up.clone()),
            (None, None) => {
                self.lineage.get(&r.pid).filter(|(start, _)| *start == r.start_time).map(|(_, a)| a.clone())
            }
        }
    }
}

/// Which of several processes holding one socket owns the flow. A holder that is an identical copy of
/// its parent (same name, executable and command line: a child between fork and exec, or a forked
/// worker) yields to that parent; among the rest the deepest in the tree wins (a program handed a socket
/// by its parent, as in socket activation, is the one using it).
fn pick_holder(procs: &ProcessTable, pids: &[u32], max_depth: usize) -> Option<u32> {
    let copy_of_parent = |r: &ProcessRecord| {
        r.ppid
            .filter(|pp| pids.contains(pp))
            .and_then(|pp| procs.get(pp))
            .is_some_and(|p| p.name == r.name && p.exe == r.exe && p.cmdline == r.cmdline)
    };
    pids.iter()
        .filter_map(|&p| procs.get(p))
        .filter(|r| !copy_of_parent(r))
        .max_by_key(|r| (procs.ancestry(r.pid, max_depth).len(), r.pid))
        .map(|r| r.pid)
}

/// Attribution coverage of a set of flows: how many flows and bytes have a process, and why the others
/// do not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Coverage {
    pub flows: u64,
    pub bytes: u64,
    pub attributed_flows: u64,
    pub attributed_bytes: u64,
    pub unattributed: BTreeMap<Reason, CoverageCount>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CoverageCount {
    pub flows: u64,
    pub bytes: u64,
}

impl Coverage {
    pub fn add(&mut self, a: &Attribution, bytes: u64) {
        self.flows += 1;
        self.bytes += bytes;
        match a {
            Attribution::Found(_) => {
                self.attributed_flows += 1;
                self.attributed_bytes += bytes;
            }
            Attribution::Unattributed(r) => {
                let c = self.unattributed.entry(*r).or_default();
                c.flows += 1;
                c.bytes += bytes;
            }
        }
    }
}
