//! The socket sidecar: what `--write-pcap FILE` keeps beside the capture (`FILE.sockets.ndjson`) so that
//! a later replay of FILE reproduces the live attribution.
//!
//! JSON lines. The first line is the header `{"schema":"egress-audit/sockets/v1","host_addresses":[…]}`
//! (`host_addresses`: this host's addresses, so replay can tell [`Reason::NoLocalSocket`]). Every other
//! line is one observed binding of a flow's local side:
//!
//! ```json
//! {"proto":"tcp","local":"10.0.0.2:40112","remote":"160.79.104.10:443","pid":4242,"ppid":4200,
//!  "name":"node","exe":"/usr/bin/node","cmdline":["node","/usr/lib/node_modules/@openai/codex/bin/codex.js"],
//!  "user":"dev","uid":1000,"start_time":1763900000,"agent":"codex","root_pid":4200,
//!  "root_cmdline":"codex exec hi","agent_rule":"agents.toml:58 cmdline~\"@openai/codex\"","agent_explicit":false,
//!  "binding":"exact","shared_with":[],"reason":null,"first_seen_unix_ns":1763900001234567890}
//! ```
//!
//! A flow that could not be attributed has `pid` (and every process field) null and `reason` set
//! (`closed_before_snapshot`, `time_wait`, `other_user`, `no_local_socket`). Pending answers are never
//! written: write the final one that [`super::Attributor::retry`] gives. The reader is strict: an unknown
//! schema, an unknown field or a malformed line is an error naming the line.

use super::{AgentInfo, Attribution, FlowKey, ProcessInfo, Reason, canonical_ip, sockets};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

pub const SCHEMA: &str = "egress-audit/sockets/v1";

/// `FILE.sockets.ndjson` for the capture `FILE`.
pub fn sidecar_path(pcap: &Path) -> PathBuf {
    let mut name = pcap.as_os_str().to_os_string();
    name.push(".sockets.ndjson");
    PathBuf::from(name)
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    schema: String,
    #[serde(default)]
    host_addresses: Vec<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    proto: String,
    local: SocketAddr,
    remote: SocketAddr,
    pid: Option<u32>,
    ppid: Option<u32>,
    name: Option<String>,
    exe: Option<String>,
    cmdline: Option<Vec<String>>,
    user: Option<String>,
    uid: Option<u32>,
    start_time: Option<u64>,
    agent: Option<String>,
    root_pid: Option<u32>,
    root_cmdline: Option<String>,
    agent_rule: Option<String>,
    agent_explicit: Option<bool>,
    binding: Option<sockets::Binding>,
    #[serde(default)]
    shared_with: Vec<u32>,
    reason: Option<Reason>,
    first_seen_unix_ns: u64,
}

fn proto_number(s: &str) -> Option<u8> {
    match s {
        "tcp" => Some(sockets::TCP),
        "udp" => Some(sockets::UDP),
        n => n.parse().ok(),
    }
}

impl Line {
    fn new(key: &FlowKey, a: &Attribution, first_seen_unix_ns: u64) -> Line {
        let mut line = Line {
            proto: sockets::proto_name(key.proto),
            local: key.local,
            remote: key.remote,
            pid: None,
            ppid: None,
            name: None,
            exe: None,
            cmdline: None,
            user: None,
            uid: None,
            start_time: None,
            agent: None,
            root_pid: None,
            root_cmdline: None,
            agent_rule: None,
            agent_explicit: None,
            binding: None,
            shared_with: Vec::new(),
            reason: a.reason(),
            first_seen_unix_ns,
        };
        if let Some(p) = a.process() {
            line.pid = Some(p.pid);
            line.ppid = p.ppid;
            line.name = Some(p.name.clone());
            line.exe = p.exe.clone();
            line.cmdline = Some(p.cmdline.clone());
            line.user = p.user.clone();
            line.uid = p.uid;
            line.start_time = Some(p.start_time);
            line.binding = p.binding;
            line.shared_with = p.shared_with.clone();
            if let Some(ag) = &p.agent {
                line.agent = Some(ag.id.clone());
                line.root_pid = Some(ag.root_pid);
                line.root_cmdline = Some(ag.root_cmdline.clone());
                line.agent_rule = ag.rule.clone();
                line.agent_explicit = Some(ag.explicit);
            }
        }
        line
    }

    fn attribution(&self) -> Result<Attribution, String> {
        let Some(pid) = self.pid else {
            return match self.reason {
                Some(Reason::Pending) | None => Err("a line without pid needs a final reason".into()),
                Some(r) => Ok(Attribution::Unattributed(r)),
            };
        };
        if self.reason.is_some() {
            return Err("a line has either a pid or a reason, not both".into());
        }
        let agent = match (&self.agent, self.root_pid) {
            (Some(id), Some(root_pid)) => Some(AgentInfo {
                id: id.clone(),
                root_pid,
                root_cmdline: self.root_cmdline.clone().unwrap_or_default(),
                rule: self.agent_rule.clone(),
                explicit: self.agent_explicit.unwrap_or(false),
            }),
            (None, None) => None,
            _ => return Err("agent and root_pid go together".into()),
        };
        Ok(Attribution::Found(ProcessInfo {
            pid,
            ppid: self.ppid,
            name: self.name.clone().unwrap_or_default(),
            exe: self.exe.clone(),
            cmdline: self.cmdline.clone().unwrap_or_default(),
            uid: self.uid,
            user: self.user.clone(),
            start_time: self.start_time.unwrap_or(0),
            agent,
            binding: self.binding,
            shared_with: self.shared_with.clone(),
        }))
    }
}

/// Writes the sidecar as the capture goes: one line per new (flow, process or reason), flushed at once so
/// a killed capture keeps what it saw.
pub struct SidecarWriter<W: Write> {
    out: W,
    seen: HashSet<(FlowKey, Option<u32>, Option<Reason>)>,
    /// Flows already recorded with their process.
    found: HashSet<FlowKey>,
    lines: u64,
}

impl SidecarWriter<BufWriter<File>> {
    /// Creates `FILE.sockets.ndjson` beside the capture `pcap`.
    pub fn create(pcap: &Path, host_addresses: &[IpAddr]) -> io::Result<SidecarWriter<BufWriter<File>>> {
        SidecarWriter::new(BufWriter::new(File::create(sidecar_path(pcap))?), host_addresses)
    }
}

impl<W: Write> SidecarWriter<W> {
    /// Writes the header line.
    pub fn new(mut out: W, host_addresses: &[IpAddr]) -> io::Result<SidecarWriter<W>> {
        let header = Header { schema: SCHEMA.to_string(), host_addresses: host_addresses.to_vec() };
        serde_json::to_writer(&mut out, &header)?;
        out.write_all(b"\n")?;
        out.flush()?;
        Ok(SidecarWriter { out, seen: HashSet::new(), found: HashSet::new(), lines: 0 })
    }

    /// Records a flow's attribution. `first_seen_unix_ns` is the flow's first packet time (replay
    /// matches it). Returns false when nothing was written: a repeat, or a pending answer.
    pub fn record(&mut self, key: &FlowKey, a: &Attribution, first_seen_unix_ns: u64) -> io::Result<bool> {
        if a.is_pending() {
            return Ok(false);
        }
        let key = FlowKey::new(key.proto, key.local, key.remote);
        // Once a flow's process is known, a later "closed" answer for it (asked after the process
        // exited) must not become the record replay uses.
        if a.process().is_none() && self.found.contains(&key) {
            return Ok(false);
        }
        if !self.seen.insert((key, a.process().map(|p| p.pid), a.reason())) {
            return Ok(false);
        }
        if a.process().is_some() {
            self.found.insert(key);
        }
        serde_json::to_writer(&mut self.out, &Line::new(&key, a, first_seen_unix_ns))?;
        self.out.write_all(b"\n")?;
        self.out.flush()?;
        self.lines += 1;
        Ok(true)
    }

    /// Binding lines written so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// A sidecar that cannot be read, with the line at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SidecarError {
    pub origin: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for SidecarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "socket sidecar {}:{}: {}", self.origin, self.line, self.message)
    }
}

impl std::error::Error for SidecarError {}

#[derive(Debug, Clone)]
struct Record {
    first_seen_unix_ns: u64,
    attribution: Attribution,
}

/// Attribution read back from a sidecar: the replay counterpart of [`super::Attributor`].
#[derive(Debug, Clone, Default)]
pub struct SidecarAttributor {
    by_key: HashMap<FlowKey, Vec<Record>>,
    /// UDP by local side only: a socket talks to many peers, and a replay may cut flows differently.
    udp_by_local: HashMap<SocketAddr, Vec<Record>>,
    host_addresses: HashSet<IpAddr>,
    records: usize,
}

impl SidecarAttributor {
    pub fn open(path: &Path) -> Result<SidecarAttributor, SidecarError> {
        let origin = path.display().to_string();
        let file =
            File::open(path).map_err(|e| SidecarError { origin: origin.clone(), line: 0, message: e.to_string() })?;
        SidecarAttributor::from_reader(BufReader::new(file), &origin)
    }

    /// The sidecar of capture `pcap`, if there is one.
    pub fn for_capture(pcap: &Path) -> Option<Result<SidecarAttributor, SidecarError>> {
        let path = sidecar_path(pcap);
        path.exists().then(|| SidecarAttributor::open(&path))
    }

    pub fn from_reader(input: impl BufRead, origin: &str) -> Result<SidecarAttributor, SidecarError> {
        let err = |line, message: String| SidecarError { origin: origin.to_string(), line, message };
        let mut out = SidecarAttributor::default();
        let mut header_seen = false;
        for (i, text) in input.lines().enumerate() {
            let n = i + 1;
            let text = text.map_err(|e| err(n, e.to_string()))?;
            if text.trim().is_empty() {
                continue;
            }
            if !header_seen {
                let h: Header = serde_json::from_str(&text).map_err(|e| err(n, format!("bad header: {e}")))?;
                if h.schema != SCHEMA {
                    return Err(err(n, format!("schema {:?} is not {SCHEMA:?}", h.schema)));
                }
                out.host_addresses = h.host_addresses.into_iter().map(canonical_ip).collect();
                header_seen = true;
                continue;
            }
            let line: Line = serde_json::from_str(&text).map_err(|e| err(n, e.to_string()))?;
            let proto = proto_number(&line.proto).ok_or_else(|| err(n, format!("unknown proto {:?}", line.proto)))?;
            let attribution = line.attribution().map_err(|m| err(n, m))?;
            let key = FlowKey::new(proto, line.local, line.remote);
            let record = Record { first_seen_unix_ns: line.first_seen_unix_ns, attribution };
            if proto == sockets::UDP && record.attribution.process().is_some() {
                out.udp_by_local.entry(key.local).or_default().push(record.clone());
            }
            out.by_key.entry(key).or_default().push(record);
            out.records += 1;
        }
        if !header_seen {
            return Err(err(0, "empty sidecar: no header line".into()));
        }
        for v in out.by_key.values_mut().chain(out.udp_by_local.values_mut()) {
            v.sort_by_key(|r| r.first_seen_unix_ns);
        }
        Ok(out)
    }

    /// Binding lines read.
    pub fn len(&self) -> usize {
        self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// The latest record of this local side and peer; see [`Self::lookup_at`] to pick by time.
    pub fn lookup(&self, proto: u8, local: SocketAddr, remote: SocketAddr) -> Attribution {
        self.lookup_at(proto, local, remote, u64::MAX)
    }

    /// The record for a flow that began at `first_seen_unix_ns`: the last one seen at or before that time
    /// (a port reused later by another process has a later record), else the earliest.
    pub fn lookup_at(&self, proto: u8, local: SocketAddr, remote: SocketAddr, first_seen_unix_ns: u64) -> Attribution {
        self.find(&FlowKey::new(proto, local, remote), first_seen_unix_ns).unwrap_or_else(|| self.miss(local))
    }

    /// Like [`super::Attributor::lookup_flow`]: whichever side of a client → server flow was recorded.
    pub fn lookup_flow(&self, proto: u8, client: SocketAddr, server: SocketAddr) -> Attribution {
        self.lookup_flow_at(proto, client, server, u64::MAX)
    }

    pub fn lookup_flow_at(
        &self,
        proto: u8,
        client: SocketAddr,
        server: SocketAddr,
        first_seen_unix_ns: u64,
    ) -> Attribution {
        let c = self.find(&FlowKey::new(proto, client, server), first_seen_unix_ns);
        if let Some(found @ Attribution::Found(_)) = c {
            return found;
        }
        match self.find(&FlowKey::new(proto, server, client), first_seen_unix_ns) {
            Some(found @ Attribution::Found(_)) => found,
            s => c.or(s).unwrap_or_else(|| {
                if self.is_local(client.ip()) || !self.is_local(server.ip()) {
                    self.miss(client)
                } else {
                    self.miss(server)
                }
            }),
        }
    }

    fn find(&self, key: &FlowKey, at: u64) -> Option<Attribution> {
        let pick = |v: &Vec<Record>| {
            v.iter().rev().find(|r| r.first_seen_unix_ns <= at).or_else(|| v.first()).map(|r| r.attribution.clone())
        };
        let exact = self.by_key.get(key).and_then(pick);
        if key.proto == sockets::UDP
            && exact.as_ref().is_none_or(|a| a.process().is_none())
            && let Some(found) = self.udp_by_local.get(&key.local).and_then(pick)
        {
            return Some(found);
        }
        exact
    }

    fn is_local(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        ip.is_loopback() || self.host_addresses.contains(&ip)
    }

    fn miss(&self, local: SocketAddr) -> Attribution {
        if !self.host_addresses.is_empty() && !self.is_local(local.ip()) {
            Attribution::Unattributed(Reason::NoLocalSocket)
        } else {
            Attribution::Unattributed(Reason::ClosedBeforeSnapshot)
        }
    }
}
