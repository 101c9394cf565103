//! Replay: saved captures through the pipeline into a report.

use crate::analyzer::Analyzer;
use crate::catalog::Catalog;
use crate::policy::Policy;
use crate::report::model::{Header, InputError, PolicyInfo, SourceFile, ToolInfo};
use crate::report::render::Renderer;
use crate::report::{Builder, Report, SCHEMA};
use crate::source::file::read_frames;
use std::io;
use std::path::PathBuf;

pub struct ReplayConfig {
    pub files: Vec<PathBuf>,
    pub catalog: Catalog,
    pub policy: Policy,
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
        catalog_rules: catalog.len(),
    }
}

/// Replays every file (each its own session: DNS learned in one file does not name flows of
/// another) and renders the report. Damaged input is reported in the report's `errors`, with the
/// flows read before the damage kept.
pub fn run(cfg: &ReplayConfig, out: &mut dyn Renderer) -> io::Result<Report> {
    let mut builder = Builder::new(&cfg.catalog, &cfg.policy);
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    for (index, path) in cfg.files.iter().enumerate() {
        let file_index = index + 1;
        let name = path.display().to_string();
        let mut analyzer = Analyzer::new();
        let mut write_error: Option<io::Error> = None;
        let mut emit = |flow: crate::flows::Flow| {
            let report = builder.flow(&flow, &name, file_index);
            if write_error.is_none() {
                write_error = out.flow(&report).err();
            }
        };
        let read = read_frames(path, &mut |frame| analyzer.push(frame, &mut emit));
        let (dns, stats) = analyzer.finish(&mut emit);
        if let Some(e) = write_error {
            return Err(e);
        }
        builder.dns(&dns, &name, file_index);
        let (info, error) = match read {
            Ok(info) => (info, None),
            Err((info, e)) => {
                errors.push(format!("{name}: {e}"));
                (info, Some(InputError { offset: e.offset, message: e.reason }))
            }
        };
        sources.push(SourceFile {
            kind: "replay",
            path: name,
            format: info.format.to_string(),
            linktypes: info.linktypes,
            frames: info.frames,
            bytes: info.bytes,
            not_ip_frames: stats.not_ip,
            truncated_frames: stats.truncated,
            unsupported_linktypes: stats.unsupported_linktypes.into_iter().collect(),
            incomplete_fragments: stats.incomplete_fragments,
            error,
        });
    }
    let header = Header {
        schema: SCHEMA,
        tool: ToolInfo { name: "egress-audit", version: env!("CARGO_PKG_VERSION") },
        source: sources,
        policy: policy_info(&cfg.policy, &cfg.catalog),
    };
    let report = builder.finish(header, errors);
    out.finish(&report)?;
    Ok(report)
}
