//! One sealed run's world inside the namespace: the DNS responder, the sink with the run's CA, the
//! environment the agent gets, and the join of what the sink saw to the captured flows.

use super::canary_home::{Planted, in_dns_name, plant, planted_paths, sink_canaries};
use super::dns::{DnsLog, Responder};
use super::netns::Sealed;
use super::reads::{CredentialRead, ReadWatcher};
use super::sink::{Canary, Sink, SinkConfig, SinkHandle, SinkLog, TlsOutcome};
use crate::report::seen::{RequestSource, SeenRequest};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Ports the sink answers on by default (both families): web ports, the OTLP exporters' 4317/4318
/// (telemetry pointed at a collector), common development servers and a local Ollama's 11434. Anything
/// else is refused and shows in the capture as an attempt (`--sink-port` adds ports).
pub const DEFAULT_PORTS: [u16; 12] = [80, 443, 3000, 4317, 4318, 5000, 8000, 8080, 8443, 8888, 9000, 11434];

/// Variables through which agents and their runtimes read extra or replacement CA certificates.
pub const CA_VARIABLES: [&str; 13] = [
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "CODEX_CA_CERTIFICATE",
    "AWS_CA_BUNDLE",
    "DENO_CERT",
    "PIP_CERT",
    "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
    "NIX_SSL_CERT_FILE",
    "HTTPLIB2_CA_CERTS",
    "CARGO_HTTP_CAINFO",
];

/// A proxy from the user's environment would swallow every request into CONNECTs to one host.
pub const PROXY_VARIABLES: [&str; 8] =
    ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy"];

#[derive(Debug, Clone)]
pub struct WorldOptions {
    pub run_dir: PathBuf,
    pub trust_ca: bool,
    pub emulate: bool,
    pub keep_bodies: bool,
    pub default_status: u16,
    pub ports: Vec<u16>,
    pub canaries: Vec<Canary>,
    pub ipv6: bool,
    /// Give the agent a fresh HOME (`run_dir/home`) with planted credentials.
    pub canary_home: bool,
    /// Files or directories (relative to the real HOME) copied into the canary HOME first, e.g. the
    /// agent's own settings.
    pub copy_into_home: Vec<PathBuf>,
}

pub struct World {
    dns: Responder,
    sink: SinkHandle,
    ca_path: PathBuf,
    options: WorldOptions,
    planted: Vec<Planted>,
    reads: Option<ReadWatcher>,
}

/// What a stopped world saw.
pub struct Outcome {
    /// The report's `sealed` section.
    pub info: Value,
    pub sink: SinkLog,
    pub dns: DnsLog,
    /// Canaries found in DNS question names: (canary, encoding, name).
    pub dns_leaks: Vec<(String, String, String)>,
    pub reads: Vec<CredentialRead>,
}

#[derive(Debug)]
pub struct WorldError(pub String);

impl std::fmt::Display for WorldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl World {
    pub fn start(options: WorldOptions, sealed: &mut Sealed) -> Result<World, WorldError> {
        std::fs::create_dir_all(&options.run_dir)
            .map_err(|e| WorldError(format!("cannot create the run directory {}: {e}", options.run_dir.display())))?;
        let ca_path = options.ca_path();
        let mut listen: Vec<SocketAddr> = Vec::new();
        for &port in &options.ports {
            listen.push(([0, 0, 0, 0], port).into());
            if options.ipv6 {
                listen.push((std::net::Ipv6Addr::UNSPECIFIED, port).into());
            }
        }
        let mut canaries = options.canaries.clone();
        let mut planted = Vec::new();
        let mut reads = None;
        if options.canary_home {
            let home = options.home();
            copy_into_home(&options.copy_into_home, &home)?;
            planted =
                plant(&home).map_err(|e| WorldError(format!("cannot plant canaries in {}: {e}", home.display())))?;
            canaries.extend(sink_canaries(&planted));
            reads = Some(ReadWatcher::start(planted_paths(&home, &planted)));
        }
        let config = SinkConfig {
            listen,
            ca_cert_path: Some(ca_path.clone()),
            log_path: Some(options.run_dir.join("sink.ndjson")),
            emulate: options.emulate,
            default_status: options.default_status,
            keep_bodies: options.keep_bodies,
            canaries,
            ..SinkConfig::default()
        };
        let sink = Sink::start(config).map_err(|e| WorldError(e.to_string()))?;
        if options.trust_ca && sealed.trust_stores.is_empty() {
            super::netns::trust_ca_system_wide(sealed, &ca_path).map_err(|e| WorldError(e.to_string()))?;
        }
        let dns = Responder::start(options.ipv6).map_err(|e| WorldError(e.to_string()))?;
        Ok(World { dns, sink, ca_path, options, planted, reads })
    }

    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    /// Joins sink requests to flows by the client's address (the sink's peer).
    pub fn request_source(&self) -> Box<dyn RequestSource + '_> {
        Box::new(SinkRequests { sink: &self.sink, ports: self.options.ports.clone(), cache: Mutex::new(None) })
    }

    /// Stops the DNS responder, the sink and the read watch; what they saw.
    pub fn stop(self, sealed: &Sealed) -> Outcome {
        let (watch_mode, watch_error) = match &self.reads {
            Some(w) => (Some(w.mode), w.error.clone()),
            None => (None, None),
        };
        let reads = self.reads.map(ReadWatcher::stop).unwrap_or_default();
        let sink = self.sink.stop();
        let dns = self.dns.stop();
        let mut dns_leaks = Vec::new();
        if !self.planted.is_empty() {
            let mut seen = std::collections::BTreeSet::new();
            for q in &dns.log {
                if !seen.insert(q.name.as_str()) {
                    continue;
                }
                for (id, encoding) in in_dns_name(&self.planted, &q.name) {
                    dns_leaks.push((id.to_string(), encoding.to_string(), q.name.clone()));
                }
            }
        }
        let mut info = summary(sealed, &self.options, &self.ca_path, &sink, &dns);
        if self.options.canary_home {
            let leaks: Vec<Value> = dns_leaks
                .iter()
                .map(|(c, e, n)| json!({"canary": c, "encoding": e, "name": crate::text::printable_str(n)}))
                .collect();
            info["canaries"] = json!({
                "home": self.options.home().display().to_string(),
                "planted": self.planted.iter().map(|p| json!({"canary": p.id, "path": p.path})).collect::<Vec<_>>(),
                "read_watch": watch_mode,
                "read_watch_error": watch_error,
                "reads": reads,
                "dns_leaks": leaks,
            });
        }
        let _ = write_json_lines(&self.options.run_dir.join("dns.ndjson"), &dns.log);
        Outcome { info, sink, dns, dns_leaks, reads }
    }
}

impl WorldOptions {
    /// Where the run's CA certificate is written (the key never is).
    pub fn ca_path(&self) -> PathBuf {
        self.run_dir.join("run-ca.pem")
    }

    /// The canary HOME, when asked for.
    pub fn home(&self) -> PathBuf {
        self.run_dir.join("home")
    }

    /// Variables to set (Some) and to remove (None) for the agent.
    pub fn command_env(&self) -> Vec<(String, Option<String>)> {
        let mut env: Vec<(String, Option<String>)> = PROXY_VARIABLES.iter().map(|v| ((*v).to_string(), None)).collect();
        if self.canary_home {
            env.push(("HOME".into(), Some(self.home().display().to_string())));
            // Per-user directories elsewhere would bypass the planted HOME.
            for v in ["XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"] {
                env.push((v.into(), None));
            }
        }
        if self.trust_ca {
            let ca = self.ca_path().display().to_string();
            env.extend(CA_VARIABLES.iter().map(|v| ((*v).to_string(), Some(ca.clone()))));
        }
        env
    }
}

/// Copies the user's chosen files (relative to the real HOME) into the canary HOME.
fn copy_into_home(items: &[PathBuf], home: &Path) -> Result<(), WorldError> {
    let real = std::env::var_os("HOME").map(PathBuf::from);
    for item in items {
        let Some(real) = &real else { return Err(WorldError("--copy-into-home needs $HOME".into())) };
        if item.is_absolute() || item.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            return Err(WorldError(format!("--copy-into-home {} must be relative to $HOME", item.display())));
        }
        copy_tree(&real.join(item), &home.join(item))
            .map_err(|e| WorldError(format!("cannot copy ~/{} into the canary HOME: {e}", item.display())))?;
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    if from.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        return Ok(());
    }
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::copy(from, to).map(|_| ())
}

fn write_json_lines<T: serde::Serialize>(path: &Path, items: &[T]) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for i in items {
        serde_json::to_writer(&mut out, i).map_err(std::io::Error::other)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// The sealed section of the report: how the world was made and what it saw, in counts and lists a
/// reader can act on (names that failed TLS, ports refused), the full logs staying in the run dir.
fn summary(sealed: &Sealed, options: &WorldOptions, ca: &Path, sink: &SinkLog, dns: &DnsLog) -> Value {
    let mut outcomes: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut tls_failed: BTreeMap<String, u64> = BTreeMap::new();
    for c in &sink.connections {
        let o = match c.outcome {
            TlsOutcome::Established => "tls",
            TlsOutcome::Failed => "tls_failed",
            TlsOutcome::Plain => "plain",
            TlsOutcome::Silent => "silent",
        };
        *outcomes.entry(o).or_default() += 1;
        if c.outcome == TlsOutcome::Failed {
            let name = c.sni.clone().unwrap_or_else(|| c.local.ip().to_string());
            *tls_failed.entry(name).or_default() += 1;
        }
    }
    let emulated = sink.requests.iter().filter(|r| r.emulation.is_some()).count();
    let canary_hits: Vec<Value> = sink
        .requests
        .iter()
        .flat_map(|r| {
            r.canary_hits.iter().map(move |h| {
                json!({"canary": h.id, "where": h.location, "encoding": h.encoding,
                       "request": format!("{} {}{}", r.method, r.authority.as_deref().unwrap_or(""), crate::report::seen::path_only(&r.path))})
            })
        })
        .collect();
    json!({
        "isolation": sealed.isolation.as_str(),
        "run_dir": options.run_dir.display().to_string(),
        "ca_certificate": ca.display().to_string(),
        "trust_ca": options.trust_ca,
        "system_trust_stores_replaced": sealed.trust_stores,
        "hidden_host_sockets": sealed.hidden,
        "emulate": options.emulate,
        "default_status": options.default_status,
        "ports": options.ports,
        "ipv6": options.ipv6,
        "dns_questions": dns.questions,
        "sink": {
            "connections": sink.connections.len(),
            "by_outcome": outcomes,
            "tls_failed_names": tls_failed,
            "requests": sink.requests.len(),
            "emulated_model_replies": emulated,
            "connections_refused": sink.connections_refused,
        },
        "canary_hits": canary_hits,
    })
}

struct SinkRequests<'a> {
    sink: &'a SinkHandle,
    /// Only flows to these ports can have reached the sink.
    ports: Vec<u16>,
    /// The last snapshot, by client address; refreshed when a flow finds nothing in it.
    cache: Mutex<Option<BTreeMap<SocketAddr, Vec<SeenRequest>>>>,
}

fn index(log: &SinkLog) -> BTreeMap<SocketAddr, Vec<SeenRequest>> {
    let peers: BTreeMap<u64, SocketAddr> = log.connections.iter().map(|c| (c.id, c.peer)).collect();
    let mut by_peer: BTreeMap<SocketAddr, Vec<SeenRequest>> = BTreeMap::new();
    for r in &log.requests {
        let Some(peer) = peers.get(&r.connection) else { continue };
        by_peer.entry(canonical(*peer)).or_default().push(SeenRequest {
            method: r.method.clone(),
            authority: r.authority.clone(),
            path: r.path.clone(),
            http_version: Some(r.http_version.to_string()),
            user_agent: None,
            header_names: r.header_names.clone(),
            status: Some(r.status),
            answered_by: r.emulation.map(str::to_string),
            canary_hits: r.canary_hits.iter().map(|h| format!("{}@{}", h.id, h.location)).collect(),
        });
    }
    by_peer
}

/// IPv4-mapped IPv6 peers are the IPv4 clients they stand for.
fn canonical(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::from((v4, v6.port())),
            None => a,
        },
        v4 => v4,
    }
}

impl RequestSource for SinkRequests<'_> {
    fn requests(&self, client: SocketAddr, server: SocketAddr) -> Vec<SeenRequest> {
        if !self.ports.contains(&server.port()) {
            return Vec::new();
        }
        let Ok(mut cache) = self.cache.lock() else { return Vec::new() };
        let client = canonical(client);
        if let Some(found) = cache.as_ref().and_then(|c| c.get(&client)) {
            return found.clone();
        }
        let fresh = index(&self.sink.snapshot());
        let found = fresh.get(&client).cloned().unwrap_or_default();
        *cache = Some(fresh);
        found
    }
}
