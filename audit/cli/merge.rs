//! `egress-audit merge REPORT…`: one fleet view of JSON reports from many machines or CI runs.

use super::Fatal;
use clap::Args;
use egress_audit::merge::{self, render};
use std::io::{self, Write};
use std::path::PathBuf;

#[derive(Args)]
pub struct MergeArgs {
    /// JSON reports (`--format json`), one per machine or CI run; name the files after the machine
    /// unless the reports carry `source[].hostname`.
    #[arg(value_name = "REPORT", required = true)]
    reports: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = MergeFormat::Table)]
    format: MergeFormat,
    /// Write here instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MergeFormat {
    Table,
    Json,
    Markdown,
}

/// Exit 1 when any report had a violation.
pub fn run(args: MergeArgs) -> Result<i32, Fatal> {
    let mut reports = Vec::new();
    for path in &args.reports {
        let label = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| Fatal(format!("cannot read {label}: {e}")))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Fatal(format!("{label}: not a JSON report: {e}")))?;
        reports.push((label, value));
    }
    let fleet = merge::merge(&reports).map_err(|e| Fatal(e.to_string()))?;
    let mut out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(io::BufWriter::new(
            std::fs::File::create(p).map_err(|e| Fatal(format!("cannot write {}: {e}", p.display())))?,
        )),
        None => Box::new(io::stdout().lock()),
    };
    match args.format {
        MergeFormat::Table => render::table(&fleet, &mut out)?,
        MergeFormat::Json => render::json(&fleet, &mut out)?,
        MergeFormat::Markdown => render::markdown(&fleet, &mut out)?,
    }
    out.flush()?;
    Ok(fleet.summary.exit_code)
}
