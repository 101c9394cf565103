//! `egress-audit logs FILE…`: judge the queries and blocks a resolver or firewall already logged.

use super::{Fatal, PolicyArgs, load, output};
use clap::Args;
use egress_audit::logs::{self, Clock, InputFormat, LogsConfig};
use egress_audit::report::render::Format;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args)]
pub(crate) struct LogsArgs {
    /// Log files (each detected on its own): dnsmasq/Pi-hole logs, NextDNS CSV exports, `resolvectl
    /// monitor` output or resolved journal lines, BIND query logs, unbound logs, OpenSnitch events.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// The files' format; `auto` detects each file's from its content.
    #[arg(long = "format-in", value_name = "FORMAT", default_value = "auto", value_parser = parse_format_in)]
    format_in: FormatIn,
    /// Time zone (IANA name, e.g. Europe/Berlin) of time stamps logged without one (syslog, BIND);
    /// default: the local zone (TZ, else /etc/localtime).
    #[arg(long, value_name = "ZONE")]
    tz: Option<String>,
    #[command(flatten)]
    policy: PolicyArgs,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write the report here instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy)]
pub(crate) struct FormatIn(Option<InputFormat>);

fn parse_format_in(s: &str) -> Result<FormatIn, String> {
    if s == "auto" {
        return Ok(FormatIn(None));
    }
    s.parse::<InputFormat>()
        .map(|f| FormatIn(Some(f)))
        .map_err(|e| format!("{e}; use auto, dnsmasq, pihole, nextdns-csv, resolved, bind, unbound or opensnitch"))
}

pub(crate) fn run(args: LogsArgs) -> Result<i32, Fatal> {
    let (catalog, policy) = load(&args.policy)?;
    let clock = match &args.tz {
        Some(zone) => Clock::zone(zone).map_err(Fatal)?,
        None => Clock::local(),
    };
    let config = LogsConfig { files: args.files, format: args.format_in.0, catalog, policy, clock };
    let report = logs::run(&config);
    let mut out = output(&args.output)?;
    logs::render::render(&report, args.format, &mut out)?;
    out.flush()?;
    drop(out);
    for f in &report.files {
        if f.malformed > 0 {
            let first =
                f.malformed_lines.first().map_or(String::new(), |m| format!(" (first: line {}: {})", m.line, m.reason));
            eprintln!("egress-audit: warning: {}: {} malformed line(s){first}", f.path, f.malformed);
        }
    }
    for e in &report.errors {
        eprintln!("egress-audit: error: {e}");
    }
    Ok(report.summary.exit_code)
}
