//! `egress-audit diff BEFORE.json AFTER.json`: what changed between two audits.

use super::Fatal;
use clap::Args;
use egress_audit::compare::{self, render};
use std::io::{self, Write};
use std::path::PathBuf;

#[derive(Args)]
pub struct DiffArgs {
    /// The baseline report (JSON, e.g. before an update or with default settings).
    #[arg(value_name = "BEFORE")]
    before: PathBuf,
    /// The report to compare with it (e.g. after the update, or hardened).
    #[arg(value_name = "AFTER")]
    after: PathBuf,
    #[arg(long, value_enum, default_value_t = DiffFormat::Table)]
    format: DiffFormat,
    /// Also list what did not change.
    #[arg(long)]
    all: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    Table,
    Json,
    Markdown,
}

pub(super) fn read(path: &PathBuf) -> Result<serde_json::Value, Fatal> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Fatal(format!("cannot read {label}: {e}")))?;
    compare::parse_report(&text, &label).map_err(|e| Fatal(e.to_string()))
}

/// Exit 1 when the after report adds destinations, requests or DNS names that its policy does not allow.
pub fn run(args: DiffArgs) -> Result<i32, Fatal> {
    let (before, after) = (read(&args.before)?, read(&args.after)?);
    let d = compare::diff(&before, &after, &args.before.display().to_string(), &args.after.display().to_string());
    print(&d, args.format, args.all)?;
    Ok(d.summary.exit_code)
}

pub fn print(d: &compare::ReportDiff, format: DiffFormat, all: bool) -> Result<(), Fatal> {
    let mut out = io::stdout().lock();
    match format {
        DiffFormat::Table => render::table(d, all, &mut out)?,
        DiffFormat::Json => render::json(d, &mut out)?,
        DiffFormat::Markdown => render::markdown(d, all, &mut out)?,
    }
    out.flush()?;
    Ok(())
}
