//! The data of `egress-audit sockets [--agent NAME]`: agent sessions, their processes (the agent and every
//! descendant) and the sockets each holds, as one plain serializable value. Renderers format it; nothing
//! here prints.

use super::{AttributeError, Attributor, SocketState, sockets};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

pub const SCHEMA: &str = "egress-audit/sockets-snapshot/v1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SocketsSnapshot {
    pub schema: &'static str,
    pub taken_unix_ns: u64,
    /// The `--agent` filter as given.
    pub agent_filter: Option<String>,
    pub sessions: Vec<AgentSession>,
    /// Processes and sockets over all sessions.
    pub processes: usize,
    pub sockets: usize,
}

/// One agent session: a root process and its descendants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentSession {
    /// Agent id of the root (`claude-code`), or the explicit root's label.
    pub agent: String,
    /// Human name from the catalog, when the catalog knows the agent.
    pub agent_name: Option<String>,
    pub root_pid: u32,
    pub root_cmdline: String,
    pub explicit: bool,
    /// Tree order (depth first from the root), each with its depth below the root.
    pub processes: Vec<ProcessSockets>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessSockets {
    pub pid: u32,
    pub ppid: Option<u32>,
    /// 0 for the root.
    pub depth: usize,
    pub name: String,
    pub exe: Option<String>,
    pub cmdline: Vec<String>,
    pub user: Option<String>,
    /// The nearest agent this process runs under, when it differs from the session's (claude → codex).
    pub agent: Option<String>,
    pub sockets: Vec<SocketRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SocketRow {
    pub proto: String,
    pub local: SocketAddr,
    pub remote: Option<SocketAddr>,
    pub state: Option<SocketState>,
    /// Name of the remote address, filled by [`SocketsSnapshot::name_remotes`] (DNS sniff, sidecar).
    pub remote_host: Option<String>,
}

impl SocketsSnapshot {
    /// Names remote addresses (e.g. from DNS answers seen by a short sniff, or a capture's sidecar).
    pub fn name_remotes(&mut self, mut name: impl FnMut(IpAddr) -> Option<String>) {
        for row in self.sessions.iter_mut().flat_map(|s| s.processes.iter_mut()).flat_map(|p| p.sockets.iter_mut()) {
            if let Some(r) = row.remote {
                row.remote_host = name(r.ip());
            }
        }
    }
}

impl Attributor {
    /// Takes a fresh snapshot and groups agent processes with their sockets. `agent` keeps the sessions of
    /// one agent (id, name, tool or alias, ignoring case; for explicit roots, their label), and sessions in
    /// which a process runs that agent (an explicit `check` session running codex).
    pub fn sockets_snapshot(&mut self, agent: Option<&str>) -> Result<SocketsSnapshot, AttributeError> {
        self.refresh_now()?;
        let wanted: Option<String> =
            agent.map(|a| self.catalog.find(a).map_or_else(|| a.to_string(), |x| x.id.clone()));
        let children = self.procs.children();
        // Every session root, with the agent id of the session as its root sees it.
        let mut roots: BTreeMap<(String, u32), (String, bool)> = BTreeMap::new();
        let pids: Vec<u32> = self.procs.iter().map(|r| r.pid).collect();
        for pid in pids {
            if let Some(info) = self.agent_of(pid)
                && info.root_pid == pid
            {
                roots.insert((info.id.clone(), pid), (info.root_cmdline.clone(), info.explicit));
            }
        }
        let mut sockets_by_pid: HashMap<u32, Vec<SocketRow>> = HashMap::new();
        for e in self.sockets.entries() {
            for &pid in &e.pids {
                sockets_by_pid.entry(pid).or_default().push(SocketRow {
                    proto: sockets::proto_name(e.proto),
                    local: e.local,
                    remote: e.remote,
                    state: e.state,
                    remote_host: None,
                });
            }
        }
        let mut sessions = Vec::new();
        for ((id, root_pid), (root_cmdline, explicit)) in roots {
            let mut processes = Vec::new();
            // Depth-first walk of the root's descendants that belong to this session (a nested agent
            // that starts its own session is listed under it instead), bounded by the tree's size.
            let mut stack = vec![(root_pid, 0usize)];
            let mut visited = std::collections::HashSet::new();
            while let Some((pid, depth)) = stack.pop() {
                if !visited.insert(pid) || depth > self.config.max_depth {
                    continue;
                }
                let Some(info) = self.agent_of(pid) else { continue };
                if info.root_pid != root_pid {
                    continue;
                }
                let Some(r) = self.procs.get(pid).cloned() else { continue };
                let mut socks = sockets_by_pid.remove(&pid).unwrap_or_default();
                socks.sort_by(|a, b| (&a.proto, a.local, a.remote).cmp(&(&b.proto, b.local, b.remote)));
                processes.push(ProcessSockets {
                    pid,
                    ppid: r.ppid,
                    depth,
                    name: r.name.clone(),
                    exe: r.exe.clone(),
                    cmdline: r.cmdline.clone(),
                    user: r.user.clone(),
                    agent: (info.id != id).then(|| info.id.clone()),
                    sockets: socks,
                });
                if let Some(kids) = children.get(&pid) {
                    for &k in kids.iter().rev() {
                        stack.push((k, depth + 1));
                    }
                }
            }
            let matches = |a: &str| wanted.as_ref().is_none_or(|w| a.eq_ignore_ascii_case(w));
            if !matches(&id) && !processes.iter().any(|p| p.agent.as_deref().is_some_and(matches)) {
                continue;
            }
            let agent_name = self.catalog.agents().iter().find(|a| a.id == id).map(|a| a.name.clone());
            sessions.push(AgentSession { agent: id, agent_name, root_pid, root_cmdline, explicit, processes });
        }
        let processes = sessions.iter().map(|s| s.processes.len()).sum();
        let sockets = sessions.iter().flat_map(|s| &s.processes).map(|p| p.sockets.len()).sum();
        let taken_unix_ns =
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Ok(SocketsSnapshot {
            schema: SCHEMA,
            taken_unix_ns,
            agent_filter: agent.map(str::to_string),
            sessions,
            processes,
            sockets,
        })
    }
}
