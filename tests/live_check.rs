//! Live capture for real: inside a network namespace made for the test (tests/lab/lab.sh: only `lo`,
//! a dnsmasq answering every name with 127.0.0.2, an HTTPS sink there), `egress-audit check -i lo --
//! COMMAND` audits real curl runs. Needs root (network namespaces, capture); without it the tests
//! say so and do nothing.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

static LAB_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A namespace that is removed again when dropped.
struct Lab {
    ns: String,
    work: PathBuf,
}

impl Lab {
    fn up() -> Option<Lab> {
        if !is_root() {
            eprintln!("live tests need root (network namespaces and packet capture): skipped");
            return None;
        }
        let n = LAB_COUNTER.fetch_add(1, Ordering::SeqCst);
        let ns = format!("ea-test-{}-{n}", std::process::id());
        let work = std::env::temp_dir().join(&ns);
        let lab = Lab { ns, work };
        let status = Command::new("bash").arg(lab_script()).args(["up", &lab.ns]).arg(&lab.work).status();
        assert!(status.is_ok_and(|s| s.success()), "lab.sh up failed");
        Some(lab)
    }

    /// Starts egress-audit inside the namespace with its output piped, for tests that end it by signal.
    fn spawn_egress_audit(&self, args: &[&str]) -> std::process::Child {
        Command::new("ip")
            .args(["netns", "exec", &self.ns, env!("CARGO_BIN_EXE_egress-audit")])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run: {e}"))
    }

    /// Runs egress-audit inside the namespace.
    fn egress_audit(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns, env!("CARGO_BIN_EXE_egress-audit")])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run: {e}"))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(lab_script()).args(["down", &self.ns]).arg(&self.work).status();
    }
}

fn lab_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/lab/lab.sh")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bad JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn flow_verdicts(r: &Value) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = r["flows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["proto"] == "tcp")
        .map(|f| {
            (
                f["host"].as_str().unwrap_or("").to_string(),
                f["class"].as_str().unwrap_or("").to_string(),
                f["verdict"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

const CURLS: &str = "curl -4 -sk -o /dev/null https://api.anthropic.com/v1/messages?hold=300 && \
                     curl -4 -sk -o /dev/null https://statsig.anthropic.com/v1/rgstr?hold=300";

#[test]
fn check_audits_a_command_and_fails_on_telemetry() {
    let Some(lab) = Lab::up() else { return };
    let out = lab.egress_audit(&[
        "check",
        "-i",
        "lo",
        "--profile",
        "claude-code",
        "--format",
        "json",
        "--",
        "sh",
        "-c",
        CURLS,
    ]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let r = json(&out);
    assert_eq!(
        flow_verdicts(&r),
        vec![
            ("api.anthropic.com".into(), "model".into(), "allow".into()),
            ("statsig.anthropic.com".into(), "telemetry".into(), "violation".into()),
        ]
    );
    let source = &r["source"][0];
    assert_eq!(source["kind"], "live");
    assert_eq!(source["command"]["argv"][0], "sh");
    assert_eq!(source["command"]["exit_code"], 0);
    assert!(source["command"]["pid"].as_u64().is_some_and(|p| p > 1));
    assert_eq!(source["capture"]["dropped"], 0);
    let dns: Vec<&str> = r["dns"].as_array().into_iter().flatten().filter_map(|d| d["name"].as_str()).collect();
    assert!(dns.contains(&"statsig.anthropic.com") && dns.contains(&"api.anthropic.com"), "{dns:?}");
    // Each TLS flow is curl's, a child of the launched command (the agent session's root).
    let sh_pid = source["command"]["pid"].as_u64();
    let mut curl_pids = Vec::new();
    for f in r["flows"].as_array().into_iter().flatten().filter(|f| f["proto"] == "tcp") {
        let p = &f["process"];
        assert_eq!(p["status"], "process", "{f}");
        assert_eq!(p["name"], "curl", "{f}");
        assert_eq!(p["agent"], "command", "{f}");
        assert_eq!(p["agent_pid"].as_u64(), sh_pid, "{f}");
        assert_eq!(p["ppid"].as_u64(), sh_pid, "{f}");
        assert!(
            p["cmdline"].as_array().is_some_and(|c| c
                .iter()
                .any(|a| a.as_str().is_some_and(|a| a.contains(f["host"].as_str().unwrap_or("?"))))),
            "{f}"
        );
        curl_pids.push(p["pid"].as_u64());
    }
    curl_pids.dedup();
    assert_eq!(curl_pids.len(), 2, "two curl processes, one per request");
    assert!(r["summary"]["attribution"]["attributed"]["flows"].as_u64().is_some_and(|n| n >= 2));
}

#[test]
fn concurrent_clients_are_attributed_to_their_own_process_trees() {
    let Some(lab) = Lab::up() else { return };
    // Two shells, each with its own curl, running at the same time; the launched command is their parent.
    let script = "(exec -a tree-a sh -c 'curl -4 -sk -o /dev/null https://api.anthropic.com/a?hold=400') & \
                  (exec -a tree-b sh -c 'curl -4 -sk -o /dev/null https://statsig.anthropic.com/b?hold=400') & wait";
    let out = lab.egress_audit(&[
        "check",
        "-i",
        "lo",
        "--profile",
        "claude-code",
        "--format",
        "json",
        "--",
        "bash",
        "-c",
        script,
    ]);
    let r = json(&out);
    let root = r["source"][0]["command"]["pid"].as_u64();
    let mut parents = std::collections::BTreeMap::new();
    for f in r["flows"].as_array().into_iter().flatten().filter(|f| f["proto"] == "tcp") {
        let p = &f["process"];
        assert_eq!((p["name"].as_str(), p["agent_pid"].as_u64()), (Some("curl"), root), "{f}");
        parents.insert(f["host"].as_str().unwrap_or("").to_string(), p["ppid"].as_u64());
    }
    assert_eq!(parents.len(), 2, "{parents:?}");
    let distinct: std::collections::BTreeSet<_> = parents.values().collect();
    assert_eq!(distinct.len(), 2, "each curl has its own parent shell: {parents:?}");
    assert!(!distinct.contains(&root), "the curls are grandchildren of the launched command");
}

#[test]
fn hardened_command_passes_and_its_exit_code_is_recorded() {
    let Some(lab) = Lab::up() else { return };
    let cmd = "curl -4 -sk -o /dev/null https://api.anthropic.com/v1/messages; exit 3";
    let out =
        lab.egress_audit(&["check", "-i", "lo", "--profile", "claude-code", "--format", "json", "--", "sh", "-c", cmd]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let r = json(&out);
    assert_eq!(flow_verdicts(&r), vec![("api.anthropic.com".into(), "model".into(), "allow".into())]);
    assert_eq!(r["source"][0]["command"]["exit_code"], 3);
}

#[test]
fn duration_ends_the_capture_on_time_without_traffic() {
    let Some(lab) = Lab::up() else { return };
    let started = Instant::now();
    let out = lab.egress_audit(&["check", "-i", "lo", "--duration", "700ms", "--format", "json"]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0));
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(json(&out)["source"][0]["capture"]["duration_ms"].as_u64().is_some_and(|ms| (700..2000).contains(&ms)));
}

#[test]
fn recorded_session_replays_to_the_same_verdicts() {
    let Some(lab) = Lab::up() else { return };
    let pcap = lab.work.join("session.pcap");
    let pcap_arg = pcap.to_string_lossy().into_owned();
    let live = lab.egress_audit(&[
        "check",
        "-i",
        "lo",
        "--profile",
        "claude-code",
        "--format",
        "json",
        "--write-pcap",
        &pcap_arg,
        "--",
        "sh",
        "-c",
        CURLS,
    ]);
    let replayed = Command::new(env!("CARGO_BIN_EXE_egress-audit"))
        .args(["replay", &pcap_arg, "--profile", "claude-code", "--format", "json"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(replayed.status.code(), live.status.code());
    let (replayed, live) = (json(&replayed), json(&live));
    assert_eq!(flow_verdicts(&replayed), flow_verdicts(&live));
    // The sockets sidecar written beside the pcap gives the replay the same processes.
    assert!(std::path::Path::new(&format!("{pcap_arg}.sockets.ndjson")).exists());
    let owners = |r: &Value| {
        let mut v: Vec<(String, Value, Value)> = r["flows"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["proto"] == "tcp")
            .map(|f| {
                (
                    f["host"].as_str().unwrap_or("").to_string(),
                    f["process"]["pid"].clone(),
                    f["process"]["agent"].clone(),
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    assert_eq!(owners(&replayed), owners(&live));
    assert!(owners(&live).iter().all(|(_, pid, agent)| pid.is_u64() && agent == "command"), "{:?}", owners(&live));
}

#[test]
fn missing_capture_privilege_names_the_fix() {
    if !is_root() {
        eprintln!("needs root to drop privileges with setpriv: skipped");
        return;
    }
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"])
        .arg(env!("CARGO_BIN_EXE_egress-audit"))
        .args(["check", "-i", "lo", "--duration", "1s"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run setpriv: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("CAP_NET_RAW") && stderr.contains("setcap cap_net_raw,cap_net_admin+eip"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().unwrap_or_else(|e| panic!("tmux: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn curl_in(lab: &Lab, url: &str) {
    let status =
        Command::new("ip").args(["netns", "exec", &lab.ns, "curl", "-4", "-sk", "-o", "/dev/null", url]).status();
    assert!(status.is_ok_and(|s| s.success()), "curl {url} failed");
}

#[test]
fn watch_draws_a_live_table_in_a_terminal_and_quits_on_q() {
    let Some(lab) = Lab::up() else { return };
    let session = lab.ns.clone();
    let code_file = lab.work.join("watch.exit");
    // The pane outlives watch (sleep) so its last screen can be read; the exit code goes to a file.
    let command = format!(
        "ip netns exec {} {} watch -i lo --profile claude-code; echo $? > {}; sleep 60",
        lab.ns,
        env!("CARGO_BIN_EXE_egress-audit"),
        code_file.display()
    );
    tmux(&["new-session", "-d", "-s", &session, "-x", "200", "-y", "50", &command]);
    std::thread::sleep(Duration::from_millis(800));
    curl_in(&lab, "https://statsig.anthropic.com/v1/rgstr");
    curl_in(&lab, "https://api.anthropic.com/v1/messages");
    std::thread::sleep(Duration::from_millis(2500));
    let screen = tmux(&["capture-pane", "-p", "-t", &session]);
    tmux(&["send-keys", "-t", &session, "q"]);
    let mut code = String::new();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        code = std::fs::read_to_string(&code_file).unwrap_or_default();
        if !code.is_empty() {
            break;
        }
    }
    let after = tmux(&["capture-pane", "-p", "-t", &session]);
    tmux(&["kill-session", "-t", &session]);
    assert!(screen.contains("statsig.anthropic.com") && screen.contains("violation"), "screen:\n{screen}");
    assert!(screen.contains("api.anthropic.com") && screen.contains("q or Ctrl-C to quit"), "screen:\n{screen}");
    assert_eq!(code.trim(), "1", "watch did not quit on q with exit 1; screen:\n{after}");
    assert!(after.contains("FAIL: "), "summary missing:\n{after}");
}

#[test]
fn watch_writes_plain_lines_to_a_pipe_and_stops_on_sigint() {
    let Some(lab) = Lab::up() else { return };
    let child = lab.spawn_egress_audit(&["watch", "-i", "lo", "--profile", "claude-code"]);
    std::thread::sleep(Duration::from_millis(800));
    curl_in(&lab, "https://statsig.anthropic.com/v1/rgstr");
    std::thread::sleep(Duration::from_millis(1800));
    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains('\x1b'), "escape sequences on a pipe:\n{text}");
    assert!(text.lines().any(|l| l.contains("VIOLATION host=statsig.anthropic.com class=telemetry")), "{text}");
    assert!(text.contains("FAIL: "), "{text}");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn sigterm_ends_a_capture_on_any_and_the_report_is_written() {
    let Some(lab) = Lab::up() else { return };
    // Default interface `any` (Linux cooked SLL2), no duration, no command: only a signal ends it.
    let child = lab.spawn_egress_audit(&["check", "--profile", "claude-code", "--format", "json"]);
    std::thread::sleep(Duration::from_millis(800));
    curl_in(&lab, "https://api.anthropic.com/v1/messages?hold=200");
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let r = json(&out);
    assert_eq!(r["source"][0]["path"], "any");
    assert_eq!(r["source"][0]["linktypes"], serde_json::json!([276]), "any is captured as SLL2");
    assert_eq!(flow_verdicts(&r), vec![("api.anthropic.com".into(), "model".into(), "allow".into())]);
    assert_eq!(
        r["flows"].as_array().map(|f| f.iter().filter(|f| f["proto"] == "tcp").count()),
        Some(1),
        "each packet once, not once per interface"
    );
}

#[test]
fn check_with_doctor_includes_the_machines_agent_switches() {
    let Some(lab) = Lab::up() else { return };
    let home = lab.work.join("home");
    std::fs::create_dir_all(home.join(".codex")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(home.join(".codex/config.toml"), "[analytics]\nenabled = true\n").unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.ns, env!("CARGO_BIN_EXE_egress-audit")])
        .args(["check", "-i", "lo", "--profile", "claude-code", "--doctor", "--format", "json", "--", "sh", "-c"])
        .arg("curl -4 -sk -o /dev/null https://api.anthropic.com/v1/messages")
        .env("HOME", &home)
        .env_remove("CODEX_HOME")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let r = json(&out);
    assert_eq!(flow_verdicts(&r), vec![("api.anthropic.com".into(), "model".into(), "allow".into())]);
    let failed: Vec<&str> = r["doctor"]["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["status"] == "fail")
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(failed.contains(&"codex.analytics.enabled"), "{failed:?}");
    assert_eq!(out.status.code(), Some(1), "a failing switch fails the check");
    assert_eq!(r["summary"]["result"], "fail");
}
