//! Live audits: capture on an interface for a while, or for the lifetime of a command the audit
//! launches (`check -- COMMAND`), through the same pipeline as replay.

use crate::analyzer::Analyzer;
use crate::catalog::Catalog;
use crate::policy::Policy;
use crate::replay::{analyze, header, source_entry};
use crate::report::model::{CaptureInfo, CommandInfo};
use crate::report::render::Renderer;
use crate::report::{Builder, Report};
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
    /// Set by a signal handler (Ctrl-C, SIGTERM): stop capturing and still write the report.
    pub stop: &'a AtomicBool,
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

/// What kernel drops mean for the report.
pub fn drop_notes(kernel: &CaptureStats) -> Vec<String> {
    if kernel.dropped + kernel.if_dropped == 0 {
        return Vec::new();
    }
    vec![format!(
        "the kernel dropped {} packets ({} by the interface): flows in them may be missing or unnamed",
        kernel.dropped, kernel.if_dropped
    )]
}

fn launch(argv: &[String]) -> Result<Child, LiveAuditError> {
    let (program, args) = argv.split_first().ok_or_else(|| LiveAuditError::Launch("empty command".into()))?;
    Command::new(program).args(args).spawn().map_err(|e| LiveAuditError::Launch(format!("cannot run {program}: {e}")))
}

/// Audits live traffic until the duration ends, the command exits, or a stop is requested.
pub fn check(cfg: &LiveConfig<'_>, out: &mut dyn Renderer) -> Result<Report, LiveAuditError> {
    let mut capture = LiveCapture::open(&cfg.iface, cfg.filter.as_deref(), cfg.write_pcap.as_deref())
        .map_err(LiveAuditError::Capture)?;
    let started = Instant::now();
    let mut child = if cfg.command.is_empty() { None } else { Some(launch(&cfg.command)?) };
    let pid = child.as_ref().map(Child::id);
    let mut exit_code: Option<i32> = None;
    let mut exited_at: Option<Instant> = None;
    let mut builder = Builder::new(&cfg.catalog, &cfg.policy);
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
    let mut analyzer = Some(Analyzer::new());
    let (_, stats) = analyze(&mut builder, out, &name, 1, &mut analyzer, &mut |push| {
        capture_error = capture.run(&mut keep_going, push).err();
    })
    .map_err(LiveAuditError::Output)?;
    if let Some(e) = capture_error {
        return Err(LiveAuditError::Capture(e));
    }
    let kernel = capture.stats().unwrap_or_default();
    let mut notes = drop_notes(&kernel);
    if let Some(c) = child.as_mut()
        && exit_code.is_none()
        && exited_at.is_none()
    {
        notes.push(format!("the audited command (pid {}) was still running when the audit ended", c.id()));
    }
    let info =
        FileInfo { format: "live", linktypes: vec![capture.linktype()], frames: stats.frames, bytes: stats.bytes };
    let mut entry = source_entry("live", name, info, &stats);
    entry.capture = Some(CaptureInfo {
        filter: cfg.filter.clone(),
        received: kernel.received,
        dropped: kernel.dropped,
        if_dropped: kernel.if_dropped,
        duration_ms: started.elapsed().as_millis() as u64,
    });
    if !cfg.command.is_empty() {
        entry.command = Some(CommandInfo { argv: cfg.command.clone(), pid, exit_code });
    }
    let report = builder.finish(header(vec![entry], &cfg.policy, &cfg.catalog), Vec::new(), notes);
    out.finish(&report).map_err(LiveAuditError::Output)?;
    Ok(report)
}
