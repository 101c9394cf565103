//! Command-line interface: turns arguments into library configuration and an exit code
//! (0 clean, 1 policy violations, 2 usage or input error).

mod diff;
mod logs;
mod merge;
mod sealed;

use clap::{Args, Parser, Subcommand};
use egress_audit::catalog::{Catalog, Class};
use egress_audit::classify::{Subject, judge};
use egress_audit::flows::normalize_host;
use egress_audit::live::{self, LiveConfig};
use egress_audit::policy::Policy;
use egress_audit::replay::{self, ReplayConfig, ReportOptions};
use egress_audit::report::render::{self, Format};
use egress_audit::source::file::Access;
use egress_audit::text::printable_str;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

const EXIT_USAGE: i32 = 2;

#[derive(Parser)]
#[command(name = "egress-audit", version, about = "Prove what an AI coding agent really sends over the network")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay saved captures (pcap or pcapng): name, classify and judge every flow and DNS question.
    Replay(ReplayArgs),
    /// Look up, list or check the domain catalog.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Audit live traffic on an interface for a duration, or for the lifetime of a command it launches
    /// (`-- COMMAND ARGS…`): the post-update egress check. Needs capture rights (root or CAP_NET_RAW).
    Check(CheckArgs),
    /// A live table of which process talks to which host and what the policy says (q or Ctrl-C quits).
    Watch(WatchArgs),
    /// One-shot table of agent processes (and their descendants) with their sockets.
    Sockets(SocketsArgs),
    /// Audit the agents' own privacy switches, telemetry caches and credential exposure on this machine
    /// (reads, never writes; exit 1 when a switch is not set as it should be).
    Doctor(DoctorArgs),
    /// Judge what a resolver or firewall already logged (dnsmasq, Pi-hole, NextDNS CSV, systemd-resolved,
    /// BIND, unbound, OpenSnitch): per name, answered or blocked, and the verdict under the policy.
    Logs(logs::LogsArgs),
    /// List the shipped policy profiles.
    Profiles,
    /// What changed between two JSON reports (before/after an update or a settings change): destinations,
    /// request paths and DNS names added, removed or judged differently (exit 1 when something new is not allowed).
    Diff(diff::DiffArgs),
    /// One fleet view of JSON reports from many machines or CI runs: which machines, agents and agent
    /// versions had which violations, first and last seen (exit 1 when any report had a violation).
    Merge(merge::MergeArgs),
}

#[derive(Args)]
struct DoctorArgs {
    /// Home directory to inspect (default: $HOME).
    #[arg(long, value_name = "DIR")]
    home: Option<PathBuf>,
    /// Only this agent's checks (claude-code, codex, vscode, cursor, continue, opencode, pi, gemini-cli, copilot-cli, …).
    #[arg(long)]
    agent: Option<String>,
    /// Also the hardened checks: auto-update, remote model catalogs, sharing, credential directories.
    #[arg(long)]
    hardened: bool,
    /// Print the exact edits that fix the failures (snippets to merge, exports, caches to remove).
    #[arg(long)]
    print_fix: bool,
    #[arg(long, value_enum, default_value_t = DoctorFormat::Table)]
    format: DoctorFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DoctorFormat {
    Table,
    Json,
    Markdown,
}

fn doctor_command(args: DoctorArgs) -> Result<i32, Fatal> {
    use egress_audit::doctor;
    let home = match args.home.or_else(|| std::env::var_os("HOME").map(PathBuf::from)) {
        Some(h) => h,
        None => return Err(Fatal("no home directory: give --home DIR".into())),
    };
    let mut opts = doctor::DoctorOptions::new(home);
    opts.project_dir = std::env::current_dir().ok();
    opts.agent = args.agent;
    opts.hardened = args.hardened;
    let report = doctor::run(&opts);
    let mut out = io::stdout().lock();
    match args.format {
        DoctorFormat::Table => doctor::render::table(&report, &mut out)?,
        DoctorFormat::Json => doctor::render::json(&report, &mut out)?,
        DoctorFormat::Markdown => doctor::render::markdown(&report, &mut out)?,
    }
    if args.print_fix {
        writeln!(out, "{}", doctor::fixes(&report))?;
    }
    for e in &report.errors {
        eprintln!("egress-audit: error: {}", printable_str(&e.to_string()));
    }
    Ok(report.summary.exit_code)
}

#[derive(Args)]
struct SocketsArgs {
    /// Only this agent's sessions (catalog id or name, e.g. codex).
    #[arg(long)]
    agent: Option<String>,
    /// First listen to DNS for this long (e.g. 3s) to name remote addresses (needs capture rights).
    #[arg(long, value_parser = parse_duration)]
    sniff: Option<std::time::Duration>,
    /// Interface for --sniff.
    #[arg(short = 'i', long = "interface", default_value = "any")]
    iface: String,
    #[arg(long, value_enum, default_value_t = SocketsFormat::Table)]
    format: SocketsFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SocketsFormat {
    Table,
    Json,
}

fn sockets_command(args: SocketsArgs) -> Result<i32, Fatal> {
    let mut names: Option<egress_audit::analyzer::Analyzer> = None;
    if let Some(d) = args.sniff {
        let mut capture = egress_audit::source::live::LiveCapture::open(&args.iface, Some("port 53"), None)
            .map_err(|e| Fatal(e.to_string()))?;
        let mut analyzer = egress_audit::analyzer::Analyzer::new();
        let until = std::time::Instant::now() + d;
        capture
            .run(&mut || std::time::Instant::now() < until, &mut |f| {
                if let Some(f) = f {
                    analyzer.push(f, &mut |_| {});
                }
            })
            .map_err(|e| Fatal(e.to_string()))?;
        names = Some(analyzer);
    }
    let mut attributor = egress_audit::attribute::Attributor::new().map_err(|e| Fatal(e.to_string()))?;
    let mut snapshot = attributor.sockets_snapshot(args.agent.as_deref()).map_err(|e| Fatal(e.to_string()))?;
    if let Some(a) = &names {
        snapshot.name_remotes(|ip| a.name_of(ip));
    }
    let mut out = io::stdout().lock();
    if args.format == SocketsFormat::Json {
        serde_json::to_writer_pretty(&mut out, &snapshot).map_err(|e| Fatal(e.to_string()))?;
        writeln!(out)?;
        return Ok(0);
    }
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header(vec!["agent", "pid", "process", "proto", "local", "remote", "state", "remote host"]);
    for s in &snapshot.sessions {
        for p in &s.processes {
            let indent = "  ".repeat(p.depth.min(8));
            let agent = format!("{} [{}]", s.agent, s.root_pid);
            if p.sockets.is_empty() {
                t.add_row(vec![
                    agent.clone(),
                    p.pid.to_string(),
                    format!("{indent}{}", printable_str(&p.name)),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ]);
            }
            for row in &p.sockets {
                t.add_row(vec![
                    agent.clone(),
                    p.pid.to_string(),
                    format!("{indent}{}", printable_str(&p.name)),
                    row.proto.clone(),
                    row.local.to_string(),
                    row.remote.map(|r| r.to_string()).unwrap_or_default(),
                    row.state.map(|s| format!("{s:?}")).unwrap_or_default(),
                    row.remote_host.as_deref().map(printable_str).unwrap_or_default(),
                ]);
            }
        }
    }
    writeln!(out, "{t}")?;
    writeln!(
        out,
        "{} agent session(s), {} processes, {} sockets",
        snapshot.sessions.len(),
        snapshot.processes,
        snapshot.sockets
    )?;
    Ok(0)
}

#[derive(Args)]
struct WatchArgs {
    #[command(flatten)]
    capture: CaptureArgs,
    /// Show only this agent's rows (agent catalog id, e.g. claude-code).
    #[arg(long)]
    agent: Option<String>,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Format of the report written when watching ends (the live view is always a table).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write that report here instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Where and what a live audit captures.
#[derive(Args)]
struct CaptureArgs {
    /// Interface to capture on (`any` for all).
    #[arg(short = 'i', long = "interface", default_value = "any")]
    iface: String,
    /// Extra BPF filter (tcpdump syntax) applied in the kernel.
    #[arg(long)]
    filter: Option<String>,
    /// Capture every packet: no kernel pre-filter of bulk TCP payload (see README).
    #[arg(long)]
    no_prefilter: bool,
}

impl CaptureArgs {
    /// The user's filter combined with the bulk pre-filter.
    fn filter(&self) -> Option<String> {
        let pre = (!self.no_prefilter).then_some(egress_audit::source::live::BULK_PREFILTER);
        match (&self.filter, pre) {
            (Some(u), Some(p)) => Some(format!("({u}) and ({p})")),
            (Some(u), None) => Some(u.clone()),
            (None, p) => p.map(str::to_string),
        }
    }
}

fn watch_command(args: WatchArgs) -> Result<i32, Fatal> {
    use std::io::IsTerminal;
    let (catalog, policy) = load(&args.policy)?;
    let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::Relaxed));
    let tty = io::stdout().is_terminal() && io::stdin().is_terminal();
    let config = egress_audit::watch::WatchConfig {
        iface: args.capture.iface.clone(),
        filter: args.capture.filter(),
        catalog,
        policy,
        agent: args.agent,
        options: args.policy.options(true),
        stop: &STOP,
        owners: Some(live::owner_lookup(None, &mut Vec::new()).map_err(|e| Fatal(e.to_string()))?),
    };
    let mut screen = io::stdout();
    let mut summary = match &args.output {
        Some(_) => render::renderer(args.format, output(&args.output)?),
        None => render::renderer(args.format, Box::new(io::stdout())),
    };
    let report =
        egress_audit::watch::watch(config, tty, &mut screen, summary.as_mut()).map_err(|e| Fatal(e.to_string()))?;
    Ok(report.summary.exit_code)
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    capture: CaptureArgs,
    /// Stop after this long (e.g. 30s, 5m, 1h); without it, stop when COMMAND exits or on Ctrl-C.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<std::time::Duration>,
    /// Also record the session as a pcap file.
    #[arg(long, value_name = "FILE")]
    write_pcap: Option<PathBuf>,
    /// Also audit the agents' own switches on this machine (`doctor`, for $HOME) into the report.
    #[arg(long)]
    doctor: bool,
    #[command(flatten)]
    policy: PolicyArgs,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    sealed: sealed::SealedArgs,
    /// The agent command to run under audit; its whole process tree is the agent.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: f64 = number.parse().map_err(|_| format!("bad duration {s:?} (e.g. 500ms, 30s, 5m, 1h)"))?;
    let seconds = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("bad duration unit {unit:?} (use ms, s, m or h)")),
    };
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("bad duration {s:?}"));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

static STOP: AtomicBool = AtomicBool::new(false);

fn check_command(args: CheckArgs) -> Result<i32, Fatal> {
    if args.sealed.sealed {
        return sealed::run(args);
    }
    let (catalog, policy) = load(&args.policy)?;
    if args.duration.is_none() && args.command.is_empty() {
        eprintln!(
            "egress-audit: capturing on {} until Ctrl-C (give --duration or -- COMMAND to stop by itself)",
            args.capture.iface
        );
    }
    // A second Ctrl-C while the report is written is ignored; the first one only ends the capture.
    let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::Relaxed));
    let mut renderer = render::renderer(args.format, output(&args.output)?);
    let mut options = args.policy.options(true);
    if args.doctor {
        let home = std::env::var_os("HOME").map(PathBuf::from).ok_or_else(|| Fatal("--doctor needs $HOME".into()))?;
        let mut opts = egress_audit::doctor::DoctorOptions::new(home);
        opts.project_dir = std::env::current_dir().ok();
        options.doctor = Some(egress_audit::doctor::run(&opts));
    }
    let config = LiveConfig {
        iface: args.capture.iface.clone(),
        filter: args.capture.filter(),
        duration: args.duration,
        command: args.command,
        write_pcap: args.write_pcap,
        catalog,
        policy,
        options,
        stop: &STOP,
        env: Vec::new(),
        all_addresses_local: false,
        end_command: false,
    };
    let report = live::check(&config, renderer.as_mut()).map_err(|e| Fatal(e.to_string()))?;
    drop(renderer);
    for n in &report.notes {
        eprintln!("egress-audit: note: {n}");
    }
    Ok(report.summary.exit_code)
}

#[derive(Args)]
pub(crate) struct PolicyArgs {
    /// Policy file (TOML, same format as the shipped profiles).
    #[arg(long, value_name = "FILE", conflicts_with = "profile")]
    policy: Option<PathBuf>,
    /// Shipped profile: default, claude-code, codex, copilot, cursor, gemini, opencode, continue, local-only.
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// Extra catalog file(s): the catalog's TOML format (entries with the same host and path replace
    /// shipped ones), or a block list (hosts file, domain list, AdGuard/uBlock, dnsmasq), detected by content.
    #[arg(long = "catalog", value_name = "FILE")]
    catalogs: Vec<PathBuf>,
    /// Class given to the names of imported block lists.
    #[arg(long, value_name = "CLASS", default_value = "telemetry")]
    import_class: String,
    /// The system's DNS resolver (repeatable); plain DNS to any other is reported as a blind spot.
    /// Live audits default to /etc/resolv.conf.
    #[arg(long = "resolver", value_name = "IP")]
    resolvers: Vec<std::net::IpAddr>,
    /// Fail (exit 1) when less than this percentage of the flows are named.
    #[arg(long, value_name = "PCT")]
    min_coverage: Option<f64>,
}

impl PolicyArgs {
    fn options(&self, live: bool) -> ReportOptions {
        let resolvers =
            if self.resolvers.is_empty() && live { replay::system_resolvers() } else { self.resolvers.clone() };
        ReportOptions { resolvers, min_coverage: self.min_coverage, doctor: None }
    }
}

#[derive(Args)]
struct ReplayArgs {
    /// Capture files, each replayed as its own session.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    #[command(flatten)]
    policy: PolicyArgs,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write the report here instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Read the files with read(2) instead of mapping them into memory: for a capture another program
    /// may truncate while it is replayed (a mapped file that shrinks ends the replay with exit 2).
    #[arg(long)]
    no_mmap: bool,
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Why a host (and optional path) is classified as it is, and its verdict under the policy.
    Lookup {
        host: String,
        path: Option<String>,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Check the catalog for duplicates, conflicting classes, shadowed and unreachable rules (exit 1 on findings).
    Lint {
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Export what the policy denies, for a DNS blocker or firewall: hosts, dnsmasq, unbound, pihole,
    /// adguard, nextdns, little-snitch (.lsrules), opensnitch, squid, nftables (names resolved now).
    Export {
        #[arg(long)]
        format: String,
        /// Only these classes (repeatable); default: every class the policy denies.
        #[arg(long = "class")]
        classes: Vec<String>,
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Compare an existing allowlist or denylist (hosts/domain list, AdGuard, dnsmasq, .lsrules, a firewall
    /// script) with the catalog and policy: what it lets through that is product traffic, what it blocks that
    /// the chosen model needs (exit 1 when it disagrees).
    Diff {
        #[arg(long, value_name = "FILE")]
        against: PathBuf,
        /// allowlist or denylist (default: what the file says it is, else denylist).
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// List catalog entries.
    List {
        #[arg(long)]
        class: Option<String>,
        #[arg(long)]
        tool: Option<String>,
        #[command(flatten)]
        policy: PolicyArgs,
    },
}

/// A failure to report on one line, with exit code 2.
pub(crate) struct Fatal(pub(crate) String);

impl From<io::Error> for Fatal {
    fn from(e: io::Error) -> Self {
        Fatal(format!("cannot write the report: {e}"))
    }
}

pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { 0 };
        }
    };
    let result = match cli.command {
        Command::Replay(args) => replay_command(args),
        Command::Catalog(CatalogCommand::Lookup { host, path, policy }) => {
            lookup_command(&host, path.as_deref(), &policy)
        }
        Command::Catalog(CatalogCommand::List { class, tool, policy }) => list_command(class, tool, &policy),
        Command::Catalog(CatalogCommand::Lint { policy }) => lint_command(&policy),
        Command::Catalog(CatalogCommand::Export { format, classes, output: out, policy }) => {
            export_command(&format, &classes, &out, &policy)
        }
        Command::Catalog(CatalogCommand::Diff { against, kind, json, policy }) => {
            diff_command(&against, kind.as_deref(), json, &policy)
        }
        Command::Check(args) => check_command(args),
        Command::Watch(args) => watch_command(args),
        Command::Sockets(args) => sockets_command(args),
        Command::Doctor(args) => doctor_command(args),
        Command::Logs(args) => logs::run(args),
        Command::Profiles => profiles_command(),
        Command::Diff(args) => diff::run(args),
        Command::Merge(args) => merge::run(args),
    };
    match result {
        Ok(code) => code,
        Err(Fatal(message)) => {
            eprintln!("egress-audit: error: {message}");
            EXIT_USAGE
        }
    }
}

pub(crate) fn load(args: &PolicyArgs) -> Result<(Catalog, Policy), Fatal> {
    let mut catalog = Catalog::builtin().map_err(|e| Fatal(format!("shipped catalog is broken: {e}")))?;
    let import_class: Class = args.import_class.parse().map_err(Fatal)?;
    for path in &args.catalogs {
        let text =
            std::fs::read_to_string(path).map_err(|e| Fatal(format!("cannot read catalog {}: {e}", path.display())))?;
        catalog
            .add_file(&text, &path.display().to_string(), import_class, "imported")
            .map_err(|e| Fatal(e.to_string()))?;
    }
    let policy = match (&args.policy, &args.profile) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Fatal(format!("cannot read policy {}: {e}", path.display())))?;
            Policy::from_toml(&text, &path.display().to_string()).map_err(Fatal)?
        }
        (None, Some(name)) => Policy::profile(name).map_err(Fatal)?,
        (None, None) => Policy::profile("default").map_err(Fatal)?,
    };
    Ok((catalog, policy))
}

pub(crate) fn output(path: &Option<PathBuf>) -> Result<Box<dyn Write>, Fatal> {
    buffered_output(path, 8 << 10)
}

/// [`output`] with a buffer of `capacity` bytes: a replay writes tens of megabytes of report and
/// nobody waits for its first line, so it writes in large pieces (one system call per 8 KiB was ~2%
/// of a replay).
fn buffered_output(path: &Option<PathBuf>, capacity: usize) -> Result<Box<dyn Write>, Fatal> {
    Ok(match path {
        Some(p) => Box::new(BufWriter::with_capacity(
            capacity,
            File::create(p).map_err(|e| Fatal(format!("cannot create {}: {e}", p.display())))?,
        )),
        None => Box::new(BufWriter::with_capacity(capacity, io::stdout().lock())),
    })
}

fn replay_command(args: ReplayArgs) -> Result<i32, Fatal> {
    let (catalog, policy) = load(&args.policy)?;
    let mut renderer = render::renderer(args.format, buffered_output(&args.output, 64 << 10)?);
    let options = args.policy.options(false);
    let access = if args.no_mmap { Access::Streamed } else { Access::Mapped };
    let config = ReplayConfig { files: args.files, catalog, policy, options, access };
    let report = replay::run(&config, renderer.as_mut())?;
    drop(renderer);
    for e in &report.errors {
        eprintln!("egress-audit: error: {e}");
    }
    Ok(report.summary.exit_code)
}

fn lookup_command(host: &str, path: Option<&str>, args: &PolicyArgs) -> Result<i32, Fatal> {
    let (catalog, policy) = load(args)?;
    let host = normalize_host(host);
    let j = judge(Subject { host: Some(&host), path, server: None }, &catalog, &policy);
    let mut out = io::stdout().lock();
    writeln!(out, "host:    {host}{}", path.unwrap_or(""))?;
    writeln!(out, "class:   {}", j.class)?;
    writeln!(out, "tool:    {}", j.tool.as_deref().unwrap_or("-"))?;
    match catalog.lookup(&host, path) {
        Some(rule) => {
            writeln!(out, "rule:    {}", rule.reference())?;
            writeln!(out, "note:    {}", rule.note)?;
            writeln!(out, "source:  {}", rule.source)?;
        }
        None => writeln!(out, "rule:    none (not in the catalog)")?,
    }
    writeln!(out, "verdict: {} under policy {} ({})", j.verdict, policy.name, j.reason)?;
    Ok(0)
}

fn list_command(class: Option<String>, tool: Option<String>, args: &PolicyArgs) -> Result<i32, Fatal> {
    let (catalog, _) = load(args)?;
    let class: Option<Class> = class.map(|c| c.parse().map_err(Fatal)).transpose()?;
    let mut out = io::stdout().lock();
    for r in catalog.rules() {
        if class.is_some_and(|c| c != r.class) || tool.as_ref().is_some_and(|t| *t != r.tool) {
            continue;
        }
        writeln!(
            out,
            "{}{}\t{}\t{}\t{}:{}",
            r.host,
            r.path.as_deref().unwrap_or(""),
            r.class,
            r.tool,
            r.origin,
            r.line
        )?;
    }
    Ok(0)
}

fn lint_command(args: &PolicyArgs) -> Result<i32, Fatal> {
    let (catalog, _) = load(args)?;
    let findings = egress_audit::catalog::lint::lint(&catalog);
    let mut out = io::stdout().lock();
    for f in &findings {
        writeln!(out, "{}: {}", f.kind, printable_str(&f.message))?;
        for r in &f.rules {
            writeln!(out, "    {}", printable_str(r))?;
        }
    }
    writeln!(out, "{} finding(s) in {} rules", findings.len(), catalog.len())?;
    Ok(i32::from(!findings.is_empty()))
}

fn export_command(
    format: &str,
    classes: &[String],
    output_path: &Option<PathBuf>,
    args: &PolicyArgs,
) -> Result<i32, Fatal> {
    let (catalog, policy) = load(args)?;
    let format = format.parse::<egress_audit::catalog::export::ExportFormat>().map_err(|e| Fatal(e.to_string()))?;
    let classes: Vec<Class> = classes.iter().map(|c| c.parse().map_err(Fatal)).collect::<Result<_, _>>()?;
    let text =
        egress_audit::catalog::export::export(&catalog, &policy, format, &classes).map_err(|e| Fatal(e.to_string()))?;
    let mut out = output(output_path)?;
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(0)
}

fn diff_command(against: &std::path::Path, kind: Option<&str>, json: bool, args: &PolicyArgs) -> Result<i32, Fatal> {
    use egress_audit::catalog::diff::{self, ListKind};
    let (catalog, policy) = load(args)?;
    let text =
        std::fs::read_to_string(against).map_err(|e| Fatal(format!("cannot read {}: {e}", against.display())))?;
    let parsed = diff::parse_list(&text).map_err(|e| Fatal(e.to_string()))?;
    let kind: ListKind = match kind {
        Some(k) => k.parse::<ListKind>().map_err(|e| Fatal(e.to_string()))?,
        None => parsed.kind.unwrap_or(ListKind::Denylist),
    };
    let report = diff::diff(&catalog, &policy, &parsed.hosts, kind);
    let mut out = io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &report).map_err(|e| Fatal(e.to_string()))?;
        writeln!(out)?;
    } else {
        for line in report.to_text().lines() {
            let fields: Vec<String> = line.split('\t').map(printable_str).collect();
            writeln!(out, "{}", fields.join("\t"))?;
        }
    }
    Ok(i32::from(!report.is_clean()))
}

fn profiles_command() -> Result<i32, Fatal> {
    let mut out = io::stdout().lock();
    for name in Policy::profile_names() {
        let p = Policy::profile(name).map_err(Fatal)?;
        writeln!(out, "{name}\t{}", p.description)?;
    }
    Ok(0)
}
