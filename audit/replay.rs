//! Replay: saved captures through the pipeline into a report.

use crate::analyzer::{Analyzer, InputStats};
use crate::attribute::sidecar::SidecarAttributor;
use crate::catalog::Catalog;
use crate::flows::dns_log::DnsLog;
use crate::policy::Policy;
use crate::report::model::{Header, InputError, PolicyInfo, SourceFile, ToolInfo};
use crate::report::render::Renderer;
use crate::report::{Builder, Report, SCHEMA};
use crate::source::Frame;
use crate::source::file::{Access, FileInfo, read_frames_via};
use std::io;
use std::path::PathBuf;

pub struct ReplayConfig {
    pub files: Vec<PathBuf>,
    pub catalog: Catalog,
    pub policy: Policy,
    pub options: ReportOptions,
    /// How the files are read (mapped unless `--no-mmap`).
    pub access: Access,
}

/// Report settings shared by every way of running the pipeline.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// The configured DNS resolvers; plain DNS to others is a blind spot. Empty: not judged.
    pub resolvers: Vec<std::net::IpAddr>,
    /// Fail when fewer flows than this percentage are named.
    pub min_coverage: Option<f64>,
    /// A doctor audit to include (`check --doctor`).
    pub doctor: Option<crate::doctor::DoctorReport>,
}

impl ReportOptions {
    pub fn builder<'a>(&self, catalog: &'a Catalog, policy: &'a Policy) -> Builder<'a> {
        Builder::new(catalog, policy)
            .with_resolvers(self.resolvers.clone())
            .with_min_coverage(self.min_coverage)
            .with_doctor(self.doctor.clone())
    }
}

/// Nameservers of /etc/resolv.conf: what a live capture's host resolves with.
pub fn system_resolvers() -> Vec<std::net::IpAddr> {
    std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().split('%').next().and_then(|a| a.parse().ok()))
        .collect()
}

pub fn policy_info(policy: &Policy, catalog: &Catalog) -> PolicyInfo {
    PolicyInfo {
        name: policy.name.clone(),
        origin: policy.origin.clone(),
        description: policy.description.clone(),
        model_allow: policy
            .model_allow
            .iter()
            .map(|p| match p {
                crate::policy::HostPattern::Any => "*".to_string(),
                crate::policy::HostPattern::Exact(h) => h.clone(),
                crate::policy::HostPattern::Subdomains(s) => format!("*{s}"),
            })
            .collect(),
        unknown: policy.unknown,
        blind_spots: policy.blind_spots,
        catalog_rules: catalog.len(),
    }
}

pub fn header(sources: Vec<SourceFile>, policy: &Policy, catalog: &Catalog) -> Header {
    Header {
        schema: SCHEMA,
        tool: ToolInfo { name: "egress-audit", version: env!("CARGO_PKG_VERSION") },
        source: sources,
        policy: policy_info(policy, catalog),
    }
}

/// Something that pushes a source's frames, in order, into the callback it is given (`None`: no
/// frame is waiting right now, see [`crate::source::live::LiveCapture::run`]).
pub type Feed<'f> = dyn FnMut(&mut dyn FnMut(Option<&Frame<'_>>)) + 'f;

/// Runs one source (a file, a live capture) through a fresh analyzer: `feed` pushes its frames into
/// the callback it is given. Finished flows are judged and streamed to `out` as they end.
pub fn analyze(
    builder: &mut Builder<'_>,
    out: &mut dyn Renderer,
    name: &str,
    index: usize,
    analyzer: &mut Option<Analyzer>,
    feed: &mut Feed<'_>,
) -> io::Result<(DnsLog, InputStats)> {
    let mut write_error: Option<io::Error> = None;
    let mut a = analyzer.take().unwrap_or_default();
    let mut emit = |flow: crate::flows::Flow| {
        let report = builder.flow(&flow, name, index);
        if write_error.is_none() {
            write_error = out.flow(&report).err();
        }
    };
    feed(&mut |frame| match frame {
        Some(frame) => a.push(frame, &mut emit),
        None => a.idle(),
    });
    let (dns, stats) = a.finish(&mut emit);
    if let Some(e) = write_error {
        return Err(e);
    }
    builder.dns(&dns, name, index);
    Ok((dns, stats))
}

pub fn source_entry(kind: &'static str, path: String, info: FileInfo, stats: &InputStats) -> SourceFile {
    SourceFile {
        kind,
        path,
        format: info.format.to_string(),
        linktypes: info.linktypes,
        frames: info.frames,
        bytes: info.bytes,
        not_ip_frames: stats.not_ip,
        truncated_frames: stats.truncated,
        unsupported_linktypes: stats.unsupported_linktypes.iter().copied().collect(),
        incomplete_fragments: stats.incomplete_fragments,
        flows_ended_early: stats.flows_ended_early,
        inspections_abandoned: stats.inspections_abandoned,
        error: None,
        capture: None,
        command: None,
        hostname: None,
    }
}

/// Replays every file (each its own session: DNS learned in one file does not name flows of
/// another) and renders the report. Damaged input is reported in the report's `errors`, with the
/// flows read before the damage kept.
pub fn run(cfg: &ReplayConfig, out: &mut dyn Renderer) -> io::Result<Report> {
    let mut builder = cfg.options.builder(&cfg.catalog, &cfg.policy);
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    for (index, path) in cfg.files.iter().enumerate() {
        let name = path.display().to_string();
        let mut read = None;
        // A sockets sidecar recorded beside the capture (`check --write-pcap`) restores attribution.
        let mut analyzer = match SidecarAttributor::for_capture(path) {
            Some(Ok(sidecar)) => Some(Analyzer::with_owner_lookup(Box::new(sidecar))),
            Some(Err(e)) => {
                errors.push(format!("{name}: {e}"));
                None
            }
            None => None,
        };
        let (_, stats) = analyze(&mut builder, out, &name, index + 1, &mut analyzer, &mut |push| {
            read = Some(read_frames_via(path, cfg.access, &mut |frame| push(Some(frame))));
        })?;
        let (info, error) = match read {
            Some(Ok(info)) => (info, None),
            Some(Err((info, e))) => {
                errors.push(format!("{name}: {e}"));
                (info, Some(InputError { offset: e.offset, message: e.reason }))
            }
            None => (FileInfo::default(), None),
        };
        let mut entry = source_entry("replay", name, info, &stats);
        entry.error = error;
        sources.push(entry);
    }
    let report = builder.finish(header(sources, &cfg.policy, &cfg.catalog), errors, Vec::new());
    out.finish(&report)?;
    Ok(report)
}
