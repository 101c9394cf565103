//! Live audits: capture on an interface for a while, or for the lifetime of a command the audit
//! launches (`check -- COMMAND`), through the same pipeline as replay.

use crate::analyzer::{Analyzer, InputStats};
use crate::attribute::agents::AgentCatalog;
use crate::attribute::owner::RecordingLookup;
use crate::attribute::sidecar::SidecarWriter;
use crate::attribute::{Attributor, Config as AttributeConfig};
use crate::catalog::Catalog;
use crate::flows::owner::{Owner, OwnerLookup};
use crate::policy::Policy;
use crate::replay::{analyze, header, source_entry};
use crate::report::Report;
use crate::report::model::{CaptureInfo, CommandInfo, SourceFile};
use crate::report::render::Renderer;
use crate::report::seen::RequestSource;
use crate::source::file::FileInfo;
use crate::source::live::{CaptureStats, LiveCapture, LiveError};
use std::io;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// After the audited command exits, keep capturing this long for its last packets (FIN, late DNS).
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(500);

pub struct LiveConfig<'a> {
    pub iface: String,
    pub filter: Option<String>,
    pub duration: Option<Duration>,
    /// `check -- COMMAND ARGS…`: launched once the capture is open; its process tree is the agent.
    pub command: Vec<String>,
    pub write_pcap: Option<PathBuf>,
    pub catalog: Catalog,
    pub policy: Policy,
    pub options: crate::replay::ReportOptions,
    /// Set by a signal handler (Ctrl-C, SIGTERM): stop capturing and still write the report.
    pub stop: &'a AtomicBool,
    /// Variables set (Some) or removed (None) for the command.
    pub env: Vec<(String, Option<String>)>,
    /// Every address is this host's (the sealed namespace): both ends of every flow are looked up.
    pub all_addresses_local: bool,
    /// End the command when the audit ends before it (the sealed world it needs ends with the audit).
    pub end_command: bool,
}

/// What a run adds around the capture (the sealed world): requests seen off the wire, and its own
/// section of the report once the capture ended.
pub trait Session {
    fn request_source(&self) -> Option<Box<dyn RequestSource + '_>>;
    fn finish(&mut self, report: &mut Report);
}

#[derive(Debug)]
pub enum LiveAuditError {
    Capture(LiveError),
    Launch(String),
    Output(io::Error),
}

impl std::fmt::Display for LiveAuditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LiveAuditError::Capture(e) => write!(f, "{e}"),
            LiveAuditError::Launch(m) => f.write_str(m),
            LiveAuditError::Output(e) => write!(f, "cannot write the report: {e}"),
        }
    }
}

/// The report's `source` entry for a finished live capture, and the notes its kernel counters call for.
pub fn live_source(
    capture: &mut LiveCapture,
    name: String,
    stats: &InputStats,
    filter: Option<&str>,
    started: Instant,
) -> (SourceFile, Vec<String>) {
    let kernel = capture.stats().unwrap_or_default();
    let info =
        FileInfo { format: "live", linktypes: vec![capture.linktype()], frames: stats.frames, bytes: stats.bytes };
    let mut entry = source_entry("live", name, info, stats);
    entry.hostname = nix::unistd::gethostname().ok().map(|h| crate::text::printable_str(&h.to_string_lossy()));
    entry.capture = Some(CaptureInfo {
        filter: filter.map(str::to_string),
        received: kernel.received,
        dropped: kernel.dropped,
        if_dropped: kernel.if_dropped,
        duration_ms: started.elapsed().as_millis() as u64,
    });
    (entry, drop_notes(&kernel))
}

/// What kernel drops mean for the report.
fn drop_notes(kernel: &CaptureStats) -> Vec<String> {
    if kernel.dropped + kernel.if_dropped == 0 {
        return Vec::new();
    }
    vec![format!(
        "the kernel dropped {} packets ({} by the interface): flows in them may be missing or unnamed",
        kernel.dropped, kernel.if_dropped
    )]
}

/// Process attribution for a live capture; with `--write-pcap` every answer is also recorded to the
/// sockets sidecar beside the pcap.
pub fn owner_lookup(
    write_pcap: Option<&std::path::Path>,
    notes: &mut Vec<String>,
) -> Result<Box<dyn OwnerLookup>, LiveAuditError> {
    owner_lookup_with(write_pcap, false, notes)
}

/// [`owner_lookup`]; `all_local` when every address is this host's (the sealed namespace).
pub fn owner_lookup_with(
    write_pcap: Option<&std::path::Path>,
    all_local: bool,
    notes: &mut Vec<String>,
) -> Result<Box<dyn OwnerLookup>, LiveAuditError> {
    // Short-lived processes (a curl, a git) hold their sockets for milliseconds: a miss refreshes the
    // snapshot after 2 ms already, and a burst of misses spends at most a third of a core on snapshots.
    let config = AttributeConfig {
        min_refresh_interval: std::time::Duration::from_millis(2),
        cost_factor: 2,
        all_addresses_local: all_local,
        ..Default::default()
    };
    let catalog = AgentCatalog::builtin().map_err(|e| LiveAuditError::Launch(e.to_string()))?;
    let attributor = match Attributor::with(config, catalog) {
        Ok(a) => a,
        Err(e) => {
            notes.push(format!("process attribution unavailable: {e}"));
            return Ok(Box::new(NoOwners));
        }
    };
    match write_pcap {
        Some(pcap) => {
            let hosts = attributor.local_addresses();
            let writer = SidecarWriter::create(pcap, &hosts).map_err(|e| {
                LiveAuditError::Launch(format!("cannot write the sockets sidecar beside {}: {e}", pcap.display()))
            })?;
            Ok(Box::new(RecordingLookup::new(attributor, writer)))
        }
        None => Ok(Box::new(attributor)),
    }
}

/// Used when the process table cannot be read: every flow says why it has no owner.
struct NoOwners;

impl OwnerLookup for NoOwners {
    fn lookup(&mut self, _: u8, _: std::net::SocketAddr, _: std::net::SocketAddr) -> Owner {
        Owner::Unattributed { reason: "attribution_unavailable".into() }
    }
}

/// SIGTERM, a grace period, then SIGKILL.
fn end_command(child: &mut Child) {
    use nix::sys::signal::{Signal, kill};
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = kill(pid, Signal::SIGTERM);
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn launch(argv: &[String], env: &[(String, Option<String>)]) -> Result<Child, LiveAuditError> {
    let (program, args) = argv.split_first().ok_or_else(|| LiveAuditError::Launch("empty command".into()))?;
    let mut command = Command::new(program);
    command.args(args);
    for (key, value) in env {
        match value {
            Some(v) => command.env(key, v),
            None => command.env_remove(key),
        };
    }
    command.spawn().map_err(|e| LiveAuditError::Launch(format!("cannot run {program}: {e}")))
}

/// Audits live traffic until the duration ends, the command exits, or a stop is requested.
pub fn check(cfg: &LiveConfig<'_>, out: &mut dyn Renderer) -> Result<Report, LiveAuditError> {
    check_with(cfg, out, None)
}

/// [`check`] with a session around the capture (see [`Session`]).
pub fn check_with(
    cfg: &LiveConfig<'_>,
    out: &mut dyn Renderer,
    session: Option<&mut dyn Session>,
) -> Result<Report, LiveAuditError> {
    let mut capture = LiveCapture::open(&cfg.iface, cfg.filter.as_deref(), cfg.write_pcap.as_deref())
        .map_err(LiveAuditError::Capture)?;
    let mut notes = Vec::new();
    // The first process snapshot is the expensive one: take it before the command starts, so the
    // command's first connections find the attribution ready to look again at once.
    let mut owners = owner_lookup_with(cfg.write_pcap.as_deref(), cfg.all_addresses_local, &mut notes)?;
    let started = Instant::now();
    let mut child = if cfg.command.is_empty() { None } else { Some(launch(&cfg.command, &cfg.env)?) };
    let pid = child.as_ref().map(Child::id);
    if let Some(pid) = pid {
        owners.add_agent_root(pid, "command");
    }
    let mut exit_code: Option<i32> = None;
    let mut exited_at: Option<Instant> = None;
    let source = session.as_deref().and_then(|s| s.request_source());
    let mut builder = cfg.options.builder(&cfg.catalog, &cfg.policy).with_request_source(source);
    let name = cfg.iface.clone();
    let mut capture_error = None;
    let mut keep_going = || {
        if cfg.stop.load(Ordering::Relaxed) {
            return false;
        }
        if cfg.duration.is_some_and(|d| started.elapsed() >= d) {
            return false;
        }
        if let Some(c) = child.as_mut()
            && exited_at.is_none()
            && let Ok(Some(status)) = c.try_wait()
        {
            exit_code = status.code();
            exited_at = Some(Instant::now());
        }
        exited_at.is_none_or(|t| t.elapsed() < DRAIN_AFTER_EXIT)
    };
    let mut analyzer = Some(Analyzer::with_owner_lookup(owners));
    let (_, stats) = analyze(&mut builder, out, &name, 1, &mut analyzer, &mut |push| {
        capture_error = capture.run(&mut keep_going, push).err();
    })
    .map_err(LiveAuditError::Output)?;
    if let Some(e) = capture_error {
        return Err(LiveAuditError::Capture(e));
    }
    let (mut entry, drops) = live_source(&mut capture, name, &stats, cfg.filter.as_deref(), started);
    notes.extend(drops);
    if let Some(c) = child.as_mut()
        && exit_code.is_none()
        && exited_at.is_none()
    {
        if cfg.end_command {
            end_command(c);
            notes.push(format!("the audited command (pid {}) was still running when the audit ended: ended", c.id()));
        } else {
            notes.push(format!("the audited command (pid {}) was still running when the audit ended", c.id()));
        }
    }
    if !cfg.command.is_empty() {
        entry.command = Some(CommandInfo { argv: cfg.command.clone(), pid, exit_code });
    }
    let mut report = builder.finish(header(vec![entry], &cfg.policy, &cfg.catalog), Vec::new(), notes);
    if let Some(s) = session {
        s.finish(&mut report);
    }
    out.finish(&report).map_err(LiveAuditError::Output)?;
    Ok(report)
}
