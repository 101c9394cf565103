//! Socket snapshots: every TCP and UDP socket of the host (IPv4 and IPv6) from netlink `sock_diag`
//! (netstat2), joined to the processes holding them by walking `/proc/*/fd` (see [`SocketReader`]).
//!
//! netstat2's own pid join panics when /proc is unreadable and cannot tell "no process" from "a process
//! we may not look into", so the walk is done here: a process whose descriptors are unreadable (another
//! user's, without privilege) has its owner recorded, so that a socket of that owner without a visible
//! pid is reported as another user's rather than as closed. TIME_WAIT sockets belong to no process
//! (the kernel keeps them after close, with inode 0).

use super::AttributeError;
use netstat2::{AddressFamilyFlags, ProtocolFlags, ProtocolSocketInfo, TcpState};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// IP protocol numbers.
pub const TCP: u8 = 6;
pub const UDP: u8 = 17;

/// `tcp`, `udp`, or the number.
pub fn proto_name(proto: u8) -> String {
    match proto {
        TCP => "tcp".into(),
        UDP => "udp".into(),
        n => n.to_string(),
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, what a dual-stack socket reports for IPv4 peers)
/// become plain IPv4, so both spellings of one endpoint meet in one key.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// [`canonical_ip`], and without IPv6 flow label or scope (captures carry neither).
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(canonical_ip(addr.ip()), addr.port())
}

/// TCP state of a socket (None for UDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SocketState {
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
    Closed,
    Unknown,
}

impl From<TcpState> for SocketState {
    fn from(s: TcpState) -> Self {
        match s {
            TcpState::Listen => SocketState::Listen,
            TcpState::SynSent => SocketState::SynSent,
            TcpState::SynReceived => SocketState::SynReceived,
            TcpState::Established => SocketState::Established,
            TcpState::FinWait1 => SocketState::FinWait1,
            TcpState::FinWait2 => SocketState::FinWait2,
            TcpState::CloseWait => SocketState::CloseWait,
            TcpState::Closing => SocketState::Closing,
            TcpState::LastAck => SocketState::LastAck,
            TcpState::TimeWait => SocketState::TimeWait,
            TcpState::Closed | TcpState::DeleteTcb => SocketState::Closed,
            TcpState::Unknown => SocketState::Unknown,
        }
    }
}

/// One socket of the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketEntry {
    pub proto: u8,
    /// Canonical (see [`canonical`]).
    pub local: SocketAddr,
    /// TCP only: netstat2 reports no peer for UDP sockets.
    pub remote: Option<SocketAddr>,
    pub state: Option<SocketState>,
    /// Owner of the socket (its creator), as the kernel reports it.
    pub uid: u32,
    /// 0 for sockets no descriptor refers to any more (TIME_WAIT, orphaned FIN_WAIT).
    pub inode: u32,
    /// Processes holding a descriptor of it (several after fork), ascending.
    pub pids: Vec<u32>,
    /// Where each holder was seen: process and descriptor number (to verify it later in one readlink).
    pub holders: Vec<Holder>,
}

/// A process's descriptor of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Holder {
    pub pid: u32,
    pub fd: u32,
}

impl Holder {
    /// Whether this descriptor still refers to socket `inode` (one readlink).
    pub fn holds(&self, inode: u32) -> bool {
        std::fs::read_link(format!("/proc/{}/fd/{}", self.pid, self.fd)).is_ok_and(|t| socket_inode(&t) == Some(inode))
    }
}

/// How a flow met its socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Binding {
    /// The socket with this flow's local address and port (and, for TCP, peer).
    Exact,
    /// No connected TCP socket any more, but a listener on the local port: the process that accepts there.
    Listener,
    /// A UDP socket bound to the wildcard address (0.0.0.0 or ::) on the local port.
    Wildcard,
}

/// What the snapshot says about one flow's local side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketMatch<'a> {
    /// `holders`: (inode, holder) of every owned candidate socket, to verify before use.
    Owned { entry: &'a SocketEntry, pids: Vec<u32>, holders: Vec<(u32, Holder)>, binding: Binding },
    /// Only a TIME_WAIT socket: the connection is closed, no process holds it.
    TimeWait,
    /// The socket exists but its process is invisible to us (another user's, without privilege).
    OtherUser { uid: u32 },
    /// The socket exists but no process holds it any more (closed between the two halves of the snapshot).
    Unowned,
    /// No such socket.
    Missing,
}

/// What one snapshot cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SnapshotCost {
    /// Dumping the socket tables over netlink.
    #[serde(serialize_with = "micros")]
    pub netlink: Duration,
    /// Walking /proc/*/fd.
    #[serde(serialize_with = "micros")]
    pub fd_walk: Duration,
    /// Whether the walk read every process (else only until each new socket had its holder).
    pub full_walk: bool,
    pub sockets: usize,
    pub processes_walked: usize,
    pub fds_read: usize,
    /// Records netlink could not decode (skipped).
    pub errors: usize,
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// One snapshot of the host's TCP and UDP sockets with their processes.
#[derive(Debug, Clone)]
pub struct SocketTable {
    entries: Vec<SocketEntry>,
    tcp: HashMap<(SocketAddr, SocketAddr), Vec<usize>>,
    tcp_listen: HashMap<SocketAddr, Vec<usize>>,
    udp: HashMap<SocketAddr, Vec<usize>>,
    /// Owners of processes whose descriptors we could not read.
    unreadable_uids: HashSet<u32>,
    own_uid: Option<u32>,
    taken_at: Option<Instant>,
    pub cost: SnapshotCost,
}

impl SocketTable {
    /// Every process holding one of the sockets.
    pub fn pids(&self) -> impl Iterator<Item = u32> + '_ {
        self.entries.iter().flat_map(|e| e.pids.iter().copied())
    }
}

impl Default for SocketTable {
    fn default() -> Self {
        SocketTable::from_entries(Vec::new(), HashSet::new())
    }
}

/// Pids listed in /proc.
fn list_pids() -> Result<Vec<u32>, AttributeError> {
    let dir = std::fs::read_dir("/proc").map_err(|e| AttributeError::new("cannot list /proc", e))?;
    Ok(dir.flatten().filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok())).collect())
}

/// Parent pid from /proc/PID/stat (`pid (comm) state ppid …`; comm may hold spaces and parentheses).
fn ppid_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.get(stat.rfind(')')? + 1..)?.split_whitespace().nth(1)?.parse().ok().filter(|&p| p != 0)
}

fn socket_inode(target: &std::path::Path) -> Option<u32> {
    target.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
}

/// What scanning one process's descriptors gave.
enum Scan {
    Done {
        fds: usize,
    },
    /// Its descriptors are not ours to read: the owner of the process.
    Unreadable(Option<u32>),
    Gone,
}

/// Reads `pid`'s descriptors, calling `found(inode, fd)` for each socket until it says stop. `newest_first`
/// reads the highest numbers first: a new descriptor takes the lowest free number, which in a busy
/// process is usually the highest.
fn scan_process(pid: u32, newest_first: bool, mut found: impl FnMut(u32, u32) -> bool) -> Scan {
    let dir = PathBuf::from(format!("/proc/{pid}"));
    let entries = match std::fs::read_dir(dir.join("fd")) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Scan::Unreadable(std::fs::metadata(&dir).ok().map(|m| m.uid()));
        }
        // Exited meanwhile, or a kernel thread.
        Err(_) => return Scan::Gone,
    };
    let mut fds: Vec<u32> =
        entries.flatten().filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok())).collect();
    if newest_first {
        fds.sort_unstable_by(|a, b| b.cmp(a));
    }
    let fd_dir = dir.join("fd");
    let mut read = 0;
    for fd in fds {
        read += 1;
        let Ok(target) = std::fs::read_link(fd_dir.join(fd.to_string())) else { continue };
        if let Some(inode) = socket_inode(&target)
            && !found(inode, fd)
        {
            break;
        }
    }
    Scan::Done { fds: read }
}

/// Takes socket snapshots, remembering between them which process holds which socket.
///
/// A full `/proc/*/fd` walk costs one `readlink` per descriptor of the host (≈50 ms for 10,000 sockets).
/// Between full walks (at most every [`SocketReader::full_walk_every`]) a snapshot only searches the
/// sockets it has not seen before: new processes first, then processes that already hold sockets, then
/// the rest, stopping as soon as every new socket has its holder. Sockets a complete search did not find
/// (another user's, or closing) are not searched again until the next full walk, which also corrects
/// holders that changed. A remembered holder is verified (one readlink of its descriptor) before an
/// answer uses it: a process caught between fork and exec holds its parent's descriptors for a moment.
#[derive(Debug, Clone)]
pub struct SocketReader {
    holders: HashMap<u32, Vec<Holder>>,
    orphans: HashSet<u32>,
    unreadable_uids: HashSet<u32>,
    known_pids: HashSet<u32>,
    last_full: Option<Instant>,
    pub full_walk_every: Duration,
}

impl Default for SocketReader {
    fn default() -> Self {
        SocketReader {
            holders: HashMap::new(),
            orphans: HashSet::new(),
            unreadable_uids: HashSet::new(),
            known_pids: HashSet::new(),
            last_full: None,
            full_walk_every: Duration::from_secs(2),
        }
    }
}

/// Reads the socket tables over netlink: entries without holders.
fn dump() -> Result<(Vec<SocketEntry>, usize), AttributeError> {
    let iter = netstat2::iterate_sockets_info_without_pids(
        AddressFamilyFlags::IPV4 | AddressFamilyFlags::IPV6,
        ProtocolFlags::TCP | ProtocolFlags::UDP,
    )
    .map_err(|e| {
        // netstat2 says only "Failed to call ffi"; the OS error underneath says what failed.
        let detail = std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| format!("{e}: {s}"));
        AttributeError::new("cannot read the socket table (netlink sock_diag)", detail)
    })?;
    let mut entries = Vec::new();
    let mut errors = 0;
    for item in iter {
        let Ok(si) = item else {
            errors += 1;
            continue;
        };
        let (proto, local, remote, state) = match &si.protocol_socket_info {
            ProtocolSocketInfo::Tcp(t) => (
                TCP,
                SocketAddr::new(t.local_addr, t.local_port),
                Some(canonical(SocketAddr::new(t.remote_addr, t.remote_port))),
                Some(SocketState::from(t.state)),
            ),
            ProtocolSocketInfo::Udp(u) => (UDP, SocketAddr::new(u.local_addr, u.local_port), None, None),
        };
        // A listener's peer is all zeros: no peer.
        let remote = remote.filter(|r| !(r.ip().is_unspecified() && r.port() == 0));
        entries.push(SocketEntry {
            proto,
            local: canonical(local),
            remote,
            state,
            uid: si.uid,
            inode: si.inode,
            pids: Vec::new(),
            holders: Vec::new(),
        });
    }
    Ok((entries, errors))
}

impl SocketReader {
    pub fn new() -> SocketReader {
        SocketReader::default()
    }

    /// Takes a snapshot: one netlink dump per family and protocol, then a full or incremental
    /// /proc/*/fd walk.
    pub fn snapshot(&mut self) -> Result<SocketTable, AttributeError> {
        let t0 = Instant::now();
        let (mut entries, errors) = dump()?;
        let netlink = t0.elapsed();
        let t1 = Instant::now();
        let present: HashSet<u32> = entries.iter().map(|e| e.inode).filter(|&i| i != 0).collect();
        let full = self.last_full.is_none_or(|t| t.elapsed() >= self.full_walk_every);
        let (processes, fds) = if full { self.walk_full(&present)? } else { self.walk_new(&present)? };
        for e in &mut entries {
            if let Some(holders) = self.holders.get(&e.inode) {
                e.holders = holders.clone();
                e.pids = holders.iter().map(|h| h.pid).collect();
                e.pids.sort_unstable();
                e.pids.dedup();
            }
        }
        let mut table = SocketTable::from_entries(entries, self.unreadable_uids.clone());
        table.taken_at = Some(Instant::now());
        table.cost = SnapshotCost {
            netlink,
            fd_walk: t1.elapsed(),
            full_walk: full,
            sockets: table.entries.len(),
            processes_walked: processes,
            fds_read: fds,
            errors,
        };
        Ok(table)
    }

    fn walk_full(&mut self, present: &HashSet<u32>) -> Result<(usize, usize), AttributeError> {
        let pids = list_pids()?;
        let mut holders: HashMap<u32, Vec<Holder>> = HashMap::new();
        let mut unreadable = HashSet::new();
        let (mut processes, mut fds) = (0, 0);
        for &pid in &pids {
            let scan = scan_process(pid, false, |inode, fd| {
                if present.contains(&inode) {
                    holders.entry(inode).or_default().push(Holder { pid, fd });
                }
                true
            });
            match scan {
                Scan::Done { fds: n } => {
                    processes += 1;
                    fds += n;
                }
                Scan::Unreadable(uid) => unreadable.extend(uid),
                Scan::Gone => {}
            }
        }
        self.orphans = present.iter().copied().filter(|i| !holders.contains_key(i)).collect();
        self.holders = holders;
        self.unreadable_uids = unreadable;
        self.known_pids = pids.into_iter().collect();
        self.last_full = Some(Instant::now());
        Ok((processes, fds))
    }

    fn walk_new(&mut self, present: &HashSet<u32>) -> Result<(usize, usize), AttributeError> {
        self.holders.retain(|i, _| present.contains(i));
        self.orphans.retain(|i| present.contains(i));
        let missing: HashSet<u32> =
            present.iter().copied().filter(|i| !self.holders.contains_key(i) && !self.orphans.contains(i)).collect();
        if missing.is_empty() {
            return Ok((0, 0));
        }
        let search = self.search(missing.clone())?;
        if search.complete {
            // Searched everywhere: nobody we can see holds these.
            self.orphans.extend(missing.iter().filter(|i| !search.found.contains_key(i)));
        }
        self.holders.extend(search.found);
        Ok((search.processes, search.fds))
    }

    /// Finds a holder of each of `missing`: new processes first, then processes that hold sockets, then
    /// the rest; stops once all are found.
    fn search(&mut self, mut missing: HashSet<u32>) -> Result<Search, AttributeError> {
        let mut out = Search { found: HashMap::new(), processes: 0, fds: 0, complete: true };
        let mut pids = list_pids()?;
        let alive: HashSet<u32> = pids.iter().copied().collect();
        self.known_pids.retain(|p| alive.contains(p));
        let busy: HashSet<u32> = self.holders.values().flatten().map(|h| h.pid).collect();
        let rank = |p: &u32| {
            if !self.known_pids.contains(p) {
                0
            } else if busy.contains(p) {
                1
            } else {
                2
            }
        };
        pids.sort_unstable_by_key(|p| (rank(p), std::cmp::Reverse(*p)));
        for pid in pids {
            let found = &mut out.found;
            let scan = scan_process(pid, true, |inode, fd| {
                if missing.remove(&inode) {
                    let holders = found.entry(inode).or_default();
                    holders.push(Holder { pid, fd });
                    // The search stops at the first holder, and new processes come first: a child caught
                    // between fork and exec holds its parent's descriptors under the same numbers, so
                    // the parent is checked too (it outlives the child's copy).
                    if let Some(parent) = ppid_of(pid).map(|pp| Holder { pid: pp, fd })
                        && parent.holds(inode)
                    {
                        holders.push(parent);
                    }
                }
                !missing.is_empty()
            });
            self.known_pids.insert(pid);
            match scan {
                Scan::Done { fds } => {
                    out.processes += 1;
                    out.fds += fds;
                }
                Scan::Unreadable(uid) => {
                    self.unreadable_uids.extend(uid);
                }
                Scan::Gone => {}
            }
            if missing.is_empty() {
                out.complete = false;
                break;
            }
        }
        Ok(out)
    }

    /// Holders of `inode` now: the remembered ones that still hold it (one readlink each), plus the
    /// parent of each when it holds the same descriptor (shared across fork). When none does, the socket
    /// is forgotten so that the next snapshot searches for it again (searching here would escape the
    /// refresh rate limit).
    pub fn verify(&mut self, inode: u32, remembered: &[Holder], parent_of: impl Fn(u32) -> Option<u32>) -> Vec<Holder> {
        let mut valid: Vec<Holder> = remembered.iter().copied().filter(|h| h.holds(inode)).collect();
        let mut i = 0;
        while i < valid.len() {
            let h = valid[i];
            if let Some(pp) = parent_of(h.pid)
                && !valid.iter().any(|x| x.pid == pp)
            {
                let parent = Holder { pid: pp, fd: h.fd };
                if parent.holds(inode) {
                    valid.push(parent);
                }
            }
            i += 1;
        }
        if valid.is_empty() {
            self.holders.remove(&inode);
            self.orphans.remove(&inode);
        } else {
            self.holders.insert(inode, valid.clone());
        }
        valid
    }
}

/// What a search of /proc/*/fd found.
struct Search {
    found: HashMap<u32, Vec<Holder>>,
    processes: usize,
    fds: usize,
    /// Every process was read.
    complete: bool,
}

impl SocketTable {
    /// Takes a one-off snapshot with a full /proc/*/fd walk (see [`SocketReader`] for repeated ones).
    pub fn take() -> Result<SocketTable, AttributeError> {
        SocketReader::new().snapshot()
    }

    /// A table over given entries (and owners of unreadable processes): for tests and replays.
    pub fn from_entries(entries: Vec<SocketEntry>, unreadable_uids: HashSet<u32>) -> SocketTable {
        let mut tcp: HashMap<_, Vec<usize>> = HashMap::new();
        let mut tcp_listen: HashMap<_, Vec<usize>> = HashMap::new();
        let mut udp: HashMap<_, Vec<usize>> = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            match (e.proto, e.remote) {
                (TCP, Some(r)) => tcp.entry((e.local, r)).or_default().push(i),
                (TCP, None) if e.state == Some(SocketState::Listen) => tcp_listen.entry(e.local).or_default().push(i),
                (UDP, _) => udp.entry(e.local).or_default().push(i),
                _ => {}
            }
        }
        let own_uid = std::fs::metadata("/proc/self").ok().map(|m| m.uid());
        SocketTable {
            entries,
            tcp,
            tcp_listen,
            udp,
            unreadable_uids,
            own_uid,
            taken_at: None,
            cost: SnapshotCost::default(),
        }
    }

    pub fn entries(&self) -> &[SocketEntry] {
        &self.entries
    }

    /// When the snapshot was taken (None for a table built from entries).
    pub fn taken_at(&self) -> Option<Instant> {
        self.taken_at
    }

    /// Local addresses sockets are bound to (not wildcards): addresses of this host.
    pub fn local_ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.entries.iter().map(|e| e.local.ip()).filter(|ip| !ip.is_unspecified())
    }

    /// The sockets a process holds.
    pub fn of_pid(&self, pid: u32) -> impl Iterator<Item = &SocketEntry> + '_ {
        self.entries.iter().filter(move |e| e.pids.contains(&pid))
    }

    fn pidless(&self, e: &SocketEntry) -> SocketMatch<'_> {
        if e.state == Some(SocketState::TimeWait) {
            SocketMatch::TimeWait
        } else if e.inode != 0
            && (self.own_uid.is_some_and(|u| u != 0 && u != e.uid) || self.unreadable_uids.contains(&e.uid))
        {
            SocketMatch::OtherUser { uid: e.uid }
        } else {
            SocketMatch::Unowned
        }
    }

    /// The best verdict among candidate sockets: a holder, else another user's socket, else an
    /// unowned one, else TIME_WAIT.
    fn judge(&self, idx: &[usize], binding: Binding) -> SocketMatch<'_> {
        let owned: Vec<&SocketEntry> = idx.iter().map(|&i| &self.entries[i]).filter(|e| !e.pids.is_empty()).collect();
        if let Some(first) = owned.first() {
            let mut pids: Vec<u32> = owned.iter().flat_map(|e| e.pids.iter().copied()).collect();
            pids.sort_unstable();
            pids.dedup();
            let holders = owned.iter().flat_map(|e| e.holders.iter().map(|h| (e.inode, *h))).collect();
            return SocketMatch::Owned { entry: first, pids, holders, binding };
        }
        let rank = |m: &SocketMatch<'_>| match m {
            SocketMatch::OtherUser { .. } => 0,
            SocketMatch::Unowned => 1,
            SocketMatch::TimeWait => 2,
            _ => 3,
        };
        idx.iter().map(|&i| self.pidless(&self.entries[i])).min_by_key(rank).unwrap_or(SocketMatch::Missing)
    }

    /// Finds the socket of a flow's local side. Addresses are canonicalised here.
    pub fn find(&self, proto: u8, local: SocketAddr, remote: SocketAddr) -> SocketMatch<'_> {
        let local = canonical(local);
        let remote = canonical(remote);
        let wildcards = wildcard_keys(local);
        match proto {
            TCP => {
                if let Some(idx) = self.tcp.get(&(local, remote)) {
                    let m = self.judge(idx, Binding::Exact);
                    if matches!(m, SocketMatch::Owned { .. } | SocketMatch::OtherUser { .. }) {
                        return m;
                    }
                    // Closed (TIME_WAIT or unowned): a listener on the port still names the server.
                    return match self.listener(local, &wildcards) {
                        Some(owned @ SocketMatch::Owned { .. }) => owned,
                        _ => m,
                    };
                }
                self.listener(local, &wildcards).unwrap_or(SocketMatch::Missing)
            }
            UDP => {
                if let Some(idx) = self.udp.get(&local) {
                    return self.judge(idx, Binding::Exact);
                }
                for w in wildcards {
                    if let Some(idx) = self.udp.get(&w) {
                        return self.judge(idx, Binding::Wildcard);
                    }
                }
                SocketMatch::Missing
            }
            _ => SocketMatch::Missing,
        }
    }

    fn listener(&self, local: SocketAddr, wildcards: &[SocketAddr]) -> Option<SocketMatch<'_>> {
        std::iter::once(&local)
            .chain(wildcards)
            .find_map(|k| self.tcp_listen.get(k))
            .map(|idx| self.judge(idx, Binding::Listener))
            .filter(|m| matches!(m, SocketMatch::Owned { .. } | SocketMatch::OtherUser { .. }))
    }
}

/// Wildcard bindings that receive traffic for `local`: 0.0.0.0 for IPv4, :: for IPv6, and :: for
/// IPv4 too (a dual-stack socket).
fn wildcard_keys(local: SocketAddr) -> Vec<SocketAddr> {
    let port = local.port();
    match local.ip() {
        IpAddr::V4(_) => vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
        ],
        IpAddr::V6(_) => vec![SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn entry(
        proto: u8,
        local: &str,
        remote: Option<&str>,
        state: Option<SocketState>,
        inode: u32,
        pids: &[u32],
    ) -> SocketEntry {
        let holders = pids.iter().map(|&pid| Holder { pid, fd: 3 }).collect();
        SocketEntry {
            proto,
            local: sa(local),
            remote: remote.map(sa),
            state,
            uid: 0,
            inode,
            pids: pids.to_vec(),
            holders,
        }
    }

    #[test]
    fn mapped_addresses_meet() {
        assert_eq!(canonical(sa("[::ffff:10.0.0.1]:443")), sa("10.0.0.1:443"));
        assert_eq!(canonical(sa("[::1]:443")), sa("[::1]:443"));
    }

    #[test]
    fn find_prefers_holders_then_reasons() {
        let t = SocketTable::from_entries(
            vec![
                entry(TCP, "127.0.0.1:5000", Some("127.0.0.1:80"), Some(SocketState::TimeWait), 0, &[]),
                entry(TCP, "127.0.0.1:5001", Some("127.0.0.1:80"), Some(SocketState::Established), 7, &[42]),
                entry(TCP, "0.0.0.0:80", None, Some(SocketState::Listen), 8, &[9]),
                entry(UDP, "0.0.0.0:53", None, None, 10, &[11]),
                entry(UDP, "[::]:5353", None, None, 12, &[13]),
            ],
            HashSet::new(),
        );
        assert!(
            matches!(t.find(TCP, sa("127.0.0.1:5001"), sa("127.0.0.1:80")), SocketMatch::Owned { ref pids, binding: Binding::Exact, .. } if pids == &[42])
        );
        assert!(matches!(t.find(TCP, sa("[::ffff:127.0.0.1]:5001"), sa("127.0.0.1:80")), SocketMatch::Owned { .. }));
        assert_eq!(t.find(TCP, sa("127.0.0.1:5000"), sa("127.0.0.1:80")), SocketMatch::TimeWait);
        assert!(matches!(
            t.find(TCP, sa("127.0.0.1:80"), sa("127.0.0.1:5000")),
            SocketMatch::Owned { binding: Binding::Listener, .. }
        ));
        assert!(matches!(
            t.find(UDP, sa("192.168.1.2:53"), sa("192.168.1.3:9")),
            SocketMatch::Owned { binding: Binding::Wildcard, .. }
        ));
        assert!(
            matches!(t.find(UDP, sa("192.168.1.2:5353"), sa("192.168.1.3:9")), SocketMatch::Owned { ref pids, .. } if pids == &[13])
        );
        assert_eq!(t.find(UDP, sa("127.0.0.1:1"), sa("127.0.0.1:2")), SocketMatch::Missing);
    }
}
