//! The host's processes: identity (name, executable, command line), parent, user and start time from
//! sysinfo, each with the agent rule that recognizes it, plus a bounded, cycle-safe ancestry walk.
//!
//! sysinfo reads a process's command line and executable once (`UpdateKind::OnlyIfNotSet`) and its name
//! only when it first sees the process. A process caught between `fork` and `exec` would keep its
//! parent's identity forever, and look like the agent itself. Refreshes happen exactly when new flows
//! (often from freshly spawned tools) appear, so this race is real: processes younger than
//! [`YOUNG_SECS`] have their name, command line and executable re-read from /proc on every refresh.

use super::AttributeError;
use super::agents::{AgentCatalog, AgentMatch, ProcessIdentity};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind, Users};

/// A process this young (seconds, sysinfo's start-time resolution) may not have exec'd yet when first seen.
pub const YOUNG_SECS: u64 = 3;

/// One process, as the last refresh saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessRecord {
    pub pid: u32,
    pub ppid: Option<u32>,
    /// Process name (`comm` on Linux: 15 bytes at most).
    pub name: String,
    pub exe: Option<String>,
    pub cmdline: Vec<String>,
    pub uid: Option<u32>,
    pub user: Option<String>,
    /// Seconds since the Unix epoch (with the pid, identifies the process across pid reuse).
    pub start_time: u64,
    /// The agent rule that recognizes this process itself (not its ancestors).
    pub agent: Option<AgentMatch>,
}

impl ProcessRecord {
    /// Command line arguments joined with single spaces.
    pub fn cmdline_joined(&self) -> String {
        self.cmdline.join(" ")
    }

    /// The command line, or the name in brackets when it has none (kernel threads, zombies).
    pub fn label(&self) -> String {
        if self.cmdline.is_empty() { format!("[{}]", self.name) } else { self.cmdline_joined() }
    }
}

/// Processes from sysinfo, refreshed on demand.
pub struct ProcessTable {
    sys: System,
    users: Users,
    records: HashMap<u32, Arc<ProcessRecord>>,
    refreshes: u64,
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn lossy(s: &std::ffi::OsStr) -> String {
    s.to_string_lossy().into_owned()
}

/// Name, command line and executable straight from /proc (for processes that may have exec'd since
/// sysinfo first saw them). None when the process is gone.
fn read_identity(pid: u32) -> Option<(String, Vec<String>, Option<String>)> {
    let dir = PathBuf::from(format!("/proc/{pid}"));
    let comm = std::fs::read(dir.join("comm")).ok()?;
    let name = String::from_utf8_lossy(&comm).trim_end_matches('\n').to_string();
    let cmdline = std::fs::read(dir.join("cmdline"))
        .map(|raw| {
            raw.split(|&b| b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect()
        })
        .unwrap_or_default();
    let exe = std::fs::read_link(dir.join("exe")).ok().map(|p| {
        let s = p.to_string_lossy().into_owned();
        s.strip_suffix(" (deleted)").map(str::to_string).unwrap_or(s)
    });
    Some((name, cmdline, exe))
}

fn identify(catalog: &AgentCatalog, name: &str, exe: Option<&str>, cmdline: &[String]) -> Option<AgentMatch> {
    let joined = cmdline.join(" ");
    catalog.identify(&ProcessIdentity { name, exe, cmdline: &joined, argv0: cmdline.first().map(String::as_str) })
}

impl ProcessTable {
    pub fn new() -> Result<ProcessTable, AttributeError> {
        let sys = System::new().map_err(|e| AttributeError::new("cannot read processes (sysinfo)", e))?;
        let users = Users::new_with_refreshed_list().map_err(|e| AttributeError::new("cannot read users", e))?;
        Ok(ProcessTable { sys, users, records: HashMap::new(), refreshes: 0 })
    }

    fn refresh_kind() -> ProcessRefreshKind {
        ProcessRefreshKind::nothing()
            .with_cmd(UpdateKind::OnlyIfNotSet)
            .with_exe(UpdateKind::OnlyIfNotSet)
            .with_user(UpdateKind::OnlyIfNotSet)
            .without_tasks()
    }

    /// Re-reads every process (one /proc walk) and rebuilds the records that changed.
    pub fn refresh(&mut self, catalog: &AgentCatalog) {
        self.sys.refresh_processes_specifics(ProcessesToUpdate::All, true, Self::refresh_kind());
        self.rebuild(catalog, None);
        self.refreshes += 1;
    }

    /// Reads these processes only (e.g. a socket holder born after the last full refresh).
    pub fn refresh_pids(&mut self, pids: &[u32], catalog: &AgentCatalog) {
        let pids: Vec<Pid> = pids.iter().map(|&p| Pid::from_u32(p)).collect();
        self.sys.refresh_processes_specifics(ProcessesToUpdate::Some(&pids), true, Self::refresh_kind());
        let only: HashSet<u32> = pids.iter().map(|p| p.as_u32()).collect();
        self.rebuild(catalog, Some(&only));
    }

    /// Rebuilds records from sysinfo: all of them, or `only` these pids (others kept as they are).
    fn rebuild(&mut self, catalog: &AgentCatalog, only: Option<&HashSet<u32>>) {
        let now = unix_now();
        let mut users_refreshed = false;
        let mut next = HashMap::with_capacity(self.sys.processes().len());
        for (pid, p) in self.sys.processes() {
            let pid = pid.as_u32();
            if only.is_some_and(|o| !o.contains(&pid)) {
                continue;
            }
            let ppid = p.parent().map(|x| x.as_u32());
            let start_time = p.start_time();
            let young = now.saturating_sub(start_time) <= YOUNG_SECS;
            let previous = self.records.get(&pid).filter(|r| r.start_time == start_time);
            if let Some(prev) = previous
                && !young
            {
                if prev.ppid == ppid {
                    next.insert(pid, prev.clone());
                } else {
                    // Reparented (its parent exited): same identity, new parent.
                    next.insert(pid, Arc::new(ProcessRecord { ppid, ..ProcessRecord::clone(prev) }));
                }
                continue;
            }
            let (name, cmdline, exe) = match young.then(|| read_identity(pid)).flatten() {
                Some(fresh) => fresh,
                None => (
                    lossy(p.name()),
                    p.cmd().iter().map(|a| lossy(a)).collect(),
                    p.exe().map(|e| e.to_string_lossy().into_owned()),
                ),
            };
            if let Some(prev) = previous
                && prev.ppid == ppid
                && prev.name == name
                && prev.cmdline == cmdline
                && prev.exe == exe
            {
                next.insert(pid, prev.clone());
                continue;
            }
            let uid = p.user_id().map(|u| **u);
            let mut user = p.user_id().and_then(|u| self.users.get_user_by_id(u)).map(|u| u.name().to_string());
            if user.is_none() && uid.is_some() && !users_refreshed {
                self.users.refresh();
                users_refreshed = true;
                user = p.user_id().and_then(|u| self.users.get_user_by_id(u)).map(|u| u.name().to_string());
            }
            let agent = identify(catalog, &name, exe.as_deref(), &cmdline);
            next.insert(pid, Arc::new(ProcessRecord { pid, ppid, name, exe, cmdline, uid, user, start_time, agent }));
        }
        match only {
            None => self.records = next,
            Some(only) => {
                for pid in only {
                    self.records.remove(pid);
                }
                self.records.extend(next);
            }
        }
    }

    /// Re-identifies every record against another catalog (after rules were added).
    pub fn reidentify(&mut self, catalog: &AgentCatalog) {
        for r in self.records.values_mut() {
            let agent = identify(catalog, &r.name, r.exe.as_deref(), &r.cmdline);
            if agent != r.agent {
                *r = Arc::new(ProcessRecord { agent, ..ProcessRecord::clone(r) });
            }
        }
    }

    pub fn get(&self, pid: u32) -> Option<&Arc<ProcessRecord>> {
        self.records.get(&pid)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<ProcessRecord>> {
        self.records.values()
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Full refreshes so far.
    pub fn refreshes(&self) -> u64 {
        self.refreshes
    }

    /// The process and its ancestors, nearest first: at most `max_depth` entries, stopping at a
    /// missing parent or a cycle (pid reuse can make a parent look like its own descendant).
    pub fn ancestry(&self, pid: u32, max_depth: usize) -> Vec<&Arc<ProcessRecord>> {
        let mut chain = Vec::new();
        let mut seen = HashSet::new();
        let mut next = Some(pid);
        while let Some(p) = next {
            if chain.len() >= max_depth || !seen.insert(p) {
                break;
            }
            let Some(r) = self.records.get(&p) else { break };
            chain.push(r);
            next = r.ppid;
        }
        chain
    }

    /// Children of every process, sorted by pid.
    pub fn children(&self) -> HashMap<u32, Vec<u32>> {
        let mut map: HashMap<u32, Vec<u32>> = HashMap::new();
        for r in self.records.values() {
            if let Some(pp) = r.ppid
                && pp != r.pid
            {
                map.entry(pp).or_default().push(r.pid);
            }
        }
        for v in map.values_mut() {
            v.sort_unstable();
        }
        map
    }
}
