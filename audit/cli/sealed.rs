//! `check --sealed`: the agent in a private network namespace where every host is our sink.

use super::{CheckArgs, Fatal, STOP, load, output};
use clap::Args;
use egress_audit::live::LiveConfig;
use egress_audit::report::render::{self, Format};
use egress_audit::sealed::{self, netns, world};
use std::path::PathBuf;
use std::sync::atomic::Ordering;

#[derive(Args)]
pub struct SealedArgs {
    /// Run COMMAND in a private network namespace where every name and address answers locally: a DNS
    /// responder, and a sink that accepts TLS for any name with a CA made for this run, plays the model
    /// and logs every request path (root, or an unprivileged user namespace where the kernel allows).
    #[arg(long, requires = "command")]
    pub sealed: bool,
    /// Pass the run's CA to the agent (CA variables and the system trust store), so requests complete
    /// and their paths are seen (default).
    #[arg(long, overrides_with = "no_trust_ca")]
    pub trust_ca: bool,
    /// Do not: see what the agent attempts when TLS fails (names only, no paths).
    #[arg(long)]
    pub no_trust_ca: bool,
    /// Answer every request with --default-status, model endpoints included.
    #[arg(long)]
    pub no_emulate: bool,
    /// Status for requests the sink does not play the model for.
    #[arg(long, value_name = "STATUS", default_value_t = 404)]
    pub default_status: u16,
    /// Keep request bodies (up to 1 MiB each) in the run directory's sink.ndjson.
    #[arg(long)]
    pub keep_bodies: bool,
    /// Also accept connections on this port (repeatable; always: 80, 443, 3000, 4317, 4318, 5000, 8000,
    /// 8080, 8443, 8888, 9000, 11434).
    #[arg(long = "sink-port", value_name = "PORT")]
    pub sink_ports: Vec<u16>,
    /// Where the run's capture, sink and DNS logs and CA certificate go (default: a new directory under
    /// the system's temporary directory; its path is in the report).
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// Run COMMAND twice, the second time with K=V set (repeatable), and show what the setting changed
    /// (the diff of the two reports; both are written to the run directory).
    #[arg(long = "compare-env", value_name = "K=V", requires = "sealed")]
    pub compare_env: Vec<String>,
    /// Run this shell command (`sh -c`) as the second run instead of COMMAND, and show what changed
    /// (e.g. the agent's next version against the installed one). Combines with --compare-env.
    #[arg(long = "compare-command", value_name = "SHELL COMMAND", requires = "sealed")]
    pub compare_command: Option<String>,
    /// Give the agent a fresh HOME in the run directory with planted canary credentials (AWS, SSH, kube,
    /// npm, PyPI, Docker, gcloud, Azure, git, GnuPG), unique to the run: one sent in a request or a DNS
    /// name is a credential-leak violation; opening one is reported as a credential read (with the
    /// process as root).
    #[arg(long, requires = "sealed")]
    pub canary_home: bool,
    /// Copy this file or directory (relative to $HOME, e.g. .claude/settings.json) into the canary HOME
    /// first (repeatable), so the agent keeps its own settings.
    #[arg(long = "copy-into-home", value_name = "PATH", requires = "canary_home")]
    pub copy_into_home: Vec<PathBuf>,
}

fn default_run_dir() -> PathBuf {
    let stamp =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default();
    std::env::temp_dir().join(format!("egress-audit-sealed-{stamp}-{}", std::process::id()))
}

fn parse_env(pairs: &[String]) -> Result<Vec<(String, Option<String>)>, Fatal> {
    pairs
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), Some(v.to_string()))),
            _ => Err(Fatal(format!("--compare-env wants KEY=VALUE, got {p:?}"))),
        })
        .collect()
}

pub fn run(args: CheckArgs) -> Result<i32, Fatal> {
    let s = &args.sealed;
    let compare = parse_env(&s.compare_env)?;
    // First, while this process has a single thread: the kernel refuses a user namespace otherwise.
    let mut sealed = netns::enter().map_err(|e| Fatal(e.to_string()))?;
    eprintln!(
        "egress-audit: sealed run in a private network namespace ({})",
        match sealed.isolation {
            netns::Isolation::Root => "as root",
            netns::Isolation::UserNamespace => "unprivileged, through a user namespace",
        }
    );
    let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::Relaxed));
    let run_dir = s.run_dir.clone().unwrap_or_else(default_run_dir);
    let mut ports: Vec<u16> = world::DEFAULT_PORTS.to_vec();
    for p in &s.sink_ports {
        if !ports.contains(p) {
            ports.push(*p);
        }
    }
    let ipv6 = std::path::Path::new("/proc/net/if_inet6").exists();
    let options = |dir: PathBuf| world::WorldOptions {
        run_dir: dir,
        trust_ca: !s.no_trust_ca,
        emulate: !s.no_emulate,
        keep_bodies: s.keep_bodies,
        default_status: s.default_status,
        ports: ports.clone(),
        canaries: Vec::new(),
        ipv6,
        canary_home: s.canary_home,
        copy_into_home: s.copy_into_home.clone(),
    };
    let one_run = |sealed: &mut netns::Sealed,
                   command: &[String],
                   dir: PathBuf,
                   extra_env: &[(String, Option<String>)],
                   format: Format,
                   out: Option<PathBuf>|
     -> Result<egress_audit::report::Report, Fatal> {
        let (catalog, policy) = load(&args.policy)?;
        let opts = options(dir.clone());
        let mut env = opts.command_env();
        env.extend(extra_env.iter().cloned());
        let config = LiveConfig {
            iface: "lo".into(),
            filter: args.capture.filter.clone(),
            duration: args.duration,
            command: command.to_vec(),
            write_pcap: Some(args.write_pcap.clone().unwrap_or_else(|| dir.join("capture.pcap"))),
            catalog,
            policy,
            options: args.policy.options(false),
            stop: &STOP,
            env,
            all_addresses_local: true,
            end_command: true,
        };
        let mut renderer = render::renderer(format, output(&out)?);
        let report = sealed::run(sealed, opts, &config, renderer.as_mut()).map_err(Fatal)?;
        drop(renderer);
        for n in &report.notes {
            eprintln!("egress-audit: note: {n}");
        }
        Ok(report)
    };
    if compare.is_empty() && s.compare_command.is_none() {
        let report = one_run(&mut sealed, &args.command, run_dir, &[], args.format, args.output.clone())?;
        return Ok(report.summary.exit_code);
    }
    let second_name = if s.compare_command.is_some() { "compared" } else { "with-env" };
    let second_command = match &s.compare_command {
        Some(c) => vec!["sh".to_string(), "-c".to_string(), c.clone()],
        None => args.command.clone(),
    };
    std::fs::create_dir_all(&run_dir).map_err(|e| Fatal(format!("cannot create {}: {e}", run_dir.display())))?;
    let before_path = run_dir.join("baseline.json");
    let after_path = run_dir.join(format!("{second_name}.json"));
    one_run(&mut sealed, &args.command, run_dir.join("baseline"), &[], Format::Json, Some(before_path.clone()))?;
    if STOP.load(Ordering::Relaxed) {
        return Err(Fatal("interrupted after the baseline run".into()));
    }
    one_run(&mut sealed, &second_command, run_dir.join(second_name), &compare, Format::Json, Some(after_path.clone()))?;
    let mut label = s.compare_env.join(" ");
    if let Some(c) = &s.compare_command {
        label = format!("`{c}` {label}").trim_end().to_string();
    }
    let d = egress_audit::compare::diff(
        &super::diff::read(&before_path)?,
        &super::diff::read(&after_path)?,
        "baseline",
        &format!("with {label}"),
    );
    let format = match args.format {
        Format::Json | Format::Ndjson => super::diff::DiffFormat::Json,
        Format::Markdown => super::diff::DiffFormat::Markdown,
        _ => super::diff::DiffFormat::Table,
    };
    super::diff::print(&d, format, false)?;
    eprintln!("egress-audit: reports: {} and {}", before_path.display(), after_path.display());
    Ok(d.summary.exit_code)
}
