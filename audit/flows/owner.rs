//! Who opened a flow's socket: the process (and the agent whose tree it belongs to), or why that is
//! not known. Filled in during live capture, or from a recorded sidecar on replay.

use serde::Serialize;
use std::net::SocketAddr;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessOwner {
    pub pid: u32,
    pub ppid: Option<u32>,
    pub name: String,
    pub exe: Option<String>,
    pub cmdline: Vec<String>,
    pub user: Option<String>,
    /// Agent id from the agent catalog (`claude-code`, `codex`, …), or `command` for the process tree
    /// of `check -- COMMAND`.
    pub agent: Option<String>,
    /// The agent process this one descends from (itself when it is the agent).
    pub agent_pid: Option<u32>,
    /// The agent process's command line, for reports.
    pub agent_cmdline: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Owner {
    Process(ProcessOwner),
    /// No process found; `reason` says why (closed before the snapshot, TIME_WAIT, another user's
    /// process, not a local socket).
    Unattributed {
        reason: String,
    },
}

impl Owner {
    pub fn process(&self) -> Option<&ProcessOwner> {
        match self {
            Owner::Process(p) => Some(p),
            Owner::Unattributed { .. } => None,
        }
    }
}

/// Looks up the owner of a flow's local socket. Implementations bound their own cost (a snapshot
/// refresh at most every few milliseconds), so asking again on later packets is cheap.
pub trait OwnerLookup {
    fn lookup(&mut self, proto: u8, client: SocketAddr, server: SocketAddr) -> Owner;

    /// Treats `pid` and its descendants as an agent session labelled `label` (the command that
    /// `check -- COMMAND` launched).
    fn add_agent_root(&mut self, _pid: u32, _label: &str) {}

    /// Makes pending answers final (end of capture): later lookups of them are definitive.
    fn settle(&mut self) {}
}

impl Owner {
    /// An answer that may still change on a later ask (the lookup was rate-limited).
    pub fn is_pending(&self) -> bool {
        matches!(self, Owner::Unattributed { reason } if reason == "pending")
    }
}
