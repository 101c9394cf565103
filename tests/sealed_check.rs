//! `check --sealed` for real: the binary makes its own private network namespace (as root, and as an
//! unprivileged user through a user namespace), real clients (curl over HTTP/1.1 and HTTP/2, IPv4
//! and IPv6, an IP literal, plain HTTP, Python's ssl, a client that does not trust the run's CA) talk
//! to names that exist nowhere, and the report judges each request by its path. One test watches the
//! host's own interfaces during a sealed run and finds none of its packets there.
//!
//! Needs root for the host-side capture and to switch users; without it the tests say so and do
//! nothing.

// Helpers outside #[test] functions panic on setup failures too: a failed setup is a failed test.
#![allow(clippy::expect_used)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

fn skip() -> bool {
    if !is_root() {
        eprintln!("sealed tests need root (they also switch to an unprivileged user): skipped");
        return true;
    }
    false
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("ea-sealed-").tempdir().expect("tempdir")
}

fn sealed(args: &[&str], script: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_egress-audit"))
        .arg("check")
        .arg("--sealed")
        .args(args)
        .args(["--", "sh", "-c", script])
        .output()
        .expect("run egress-audit")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("report is JSON")
}

fn assert_matches_schema(report: &Value) {
    let schema = read_json(&Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/egress-audit-report.v1.schema.json"));
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("schema does not compile: {e}"));
    let errors: Vec<String> = validator.iter_errors(report).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "a sealed report does not match its schema:\n{}", errors.join("\n"));
}

/// Every request of the report: (method, host, path, verdict, class, http_version, status).
fn requests(report: &Value) -> Vec<(String, String, String, String, String, String, u64)> {
    let mut out = Vec::new();
    for f in report["flows"].as_array().expect("flows") {
        for r in f["requests"].as_array().expect("requests") {
            let host = r["host"].as_str().or(f["host"].as_str()).unwrap_or("").to_string();
            out.push((
                r["method"].as_str().unwrap_or("").to_string(),
                host,
                r["path"].as_str().unwrap_or("").to_string(),
                r["verdict"].as_str().unwrap_or("").to_string(),
                r["class"].as_str().unwrap_or("").to_string(),
                r["http_version"].as_str().unwrap_or("").to_string(),
                r["status"].as_u64().unwrap_or(0),
            ));
        }
    }
    out
}

fn find<'a>(
    reqs: &'a [(String, String, String, String, String, String, u64)],
    host: &str,
    path: &str,
) -> &'a (String, String, String, String, String, String, u64) {
    let strip_port = |h: &'a str| match h.rsplit_once(':') {
        Some((a, p)) if p.chars().all(|c| c.is_ascii_digit()) && (!a.contains(':') || a.ends_with(']')) => a,
        _ => h,
    };
    reqs.iter()
        .find(|r| strip_port(&r.1) == host && r.2 == path)
        .unwrap_or_else(|| panic!("no request {host}{path} in {reqs:#?}"))
}

const MESSAGES: &str = r#"{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#;

/// The clients of one run, each a different way of reaching the network.
fn client_script() -> String {
    format!(
        r#"set -u
curl -sS -m 10 --http1.1 https://api.anthropic.com/v1/messages -H 'content-type: application/json' -d '{MESSAGES}' > "$OUT/messages.json"
curl -sS -m 10 --http2 -X POST https://api.anthropic.com/api/event_logging/v2/batch -d '{{}}' -o /dev/null
curl -sS -m 10 -6 https://statsig.anthropic.com/v1/initialize -o /dev/null
curl -sS -m 10 http://203.0.113.9/update/check -o /dev/null
curl -sS -m 10 https://198.51.100.7/ip-literal -o /dev/null
python3 -c 'import urllib.request; urllib.request.urlopen("https://o1.ingest.sentry.io/api/1/envelope/", data=b"x", timeout=10)' 2> "$OUT/python.err" || true
curl -sS -m 10 http://otel-collector.example:4318/v1/metrics -d x -o /dev/null
curl -sS -m 3 http://db.example:5432/ -o /dev/null || true
true"#
    )
}

#[test]
fn sealed_run_as_root_judges_every_request_by_path() {
    if skip() {
        return;
    }
    let dir = tempdir();
    let run_dir = dir.path().join("run");
    let report_path = dir.path().join("report.json");
    let script = format!("OUT={}; {}", dir.path().display(), client_script());
    let out = sealed(
        &[
            "--profile",
            "claude-code",
            "--run-dir",
            run_dir.to_str().expect("utf-8"),
            "--format",
            "json",
            "-o",
            report_path.to_str().expect("utf-8"),
        ],
        &script,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "telemetry must fail the run; stderr: {stderr}");
    let report = read_json(&report_path);
    assert_eq!(report["sealed"]["isolation"], "root", "{stderr}");
    assert_matches_schema(&report);
    // The model reply was valid enough for the client to save it.
    let reply = std::fs::read_to_string(dir.path().join("messages.json")).expect("curl wrote the reply");
    assert!(reply.contains("\"type\":\"message\""), "{reply}");

    let reqs = requests(&report);
    let m = find(&reqs, "api.anthropic.com", "/v1/messages");
    assert_eq!((m.3.as_str(), m.4.as_str(), m.5.as_str(), m.6), ("allow", "model", "HTTP/1.1", 200));
    let t = find(&reqs, "api.anthropic.com", "/api/event_logging/v2/batch");
    assert_eq!((t.3.as_str(), t.4.as_str(), t.5.as_str(), t.6), ("violation", "telemetry", "HTTP/2", 404));
    // The statsig request goes over IPv6 (`curl -6`): a kernel without IPv6 cannot make it.
    let ipv6 = Path::new("/proc/net/if_inet6").exists();
    if ipv6 {
        let s = find(&reqs, "statsig.anthropic.com", "/v1/initialize");
        assert_eq!(s.3, "violation");
    } else {
        eprintln!("no IPv6 in this kernel: the IPv6 part of the run is not checked");
    }
    let u = find(&reqs, "203.0.113.9", "/update/check");
    assert_eq!((u.3.as_str(), u.5.as_str()), ("warn", "HTTP/1.1"));
    let l = find(&reqs, "198.51.100.7", "/ip-literal");
    assert_eq!(l.3, "warn", "an IP literal is unknown traffic");
    // An OTLP exporter's port is a sink port; a port no listener has shows as an attempt.
    let otlp = find(&reqs, "otel-collector.example", "/v1/metrics");
    assert_eq!((otlp.3.as_str(), otlp.6), ("warn", 404));
    let refused = report["flows"]
        .as_array()
        .expect("flows")
        .iter()
        .find(|f| f["dst"].as_str().is_some_and(|d| d.ends_with(":5432")))
        .expect("the attempt on port 5432 is in the capture");
    assert_eq!(refused["host"], "db.example", "named by the sealed DNS answer: {refused}");
    let py = find(&reqs, "o1.ingest.sentry.io", "/api/1/envelope/");
    assert_eq!((py.3.as_str(), py.4.as_str()), ("violation", "error-reporting"));

    // IPv6: statsig was reached over the sealed IPv6 address its AAAA answer gave.
    if ipv6 {
        let statsig = report["flows"]
            .as_array()
            .expect("flows")
            .iter()
            .find(|f| f["host"] == "statsig.anthropic.com" && f["proto"] == "tcp")
            .expect("statsig flow");
        assert!(statsig["dst"].as_str().expect("dst").starts_with("[fd65:6772:6573:7300::"), "{statsig}");
    }
    // Processes of the command's tree own the flows.
    let owned: Vec<&Value> =
        report["flows"].as_array().expect("flows").iter().filter(|f| f["process"]["name"].is_string()).collect();
    assert!(!owned.is_empty(), "no flow attributed to a process");
    assert!(owned.iter().any(|f| f["process"]["name"] == "curl" || f["process"]["name"] == "python3"));

    // The run's files: the capture replays to the same names; the sink log never holds header values.
    let pcap = run_dir.join("capture.pcap");
    let replay = Command::new(env!("CARGO_BIN_EXE_egress-audit"))
        .args(["replay", "--format", "json", "--profile", "claude-code"])
        .arg(&pcap)
        .output()
        .expect("replay");
    let replayed: Value = serde_json::from_slice(&replay.stdout).expect("replay JSON");
    let hosts: Vec<&str> =
        replayed["destinations"].as_array().expect("rows").iter().filter_map(|d| d["host"].as_str()).collect();
    for h in ["api.anthropic.com", "o1.ingest.sentry.io"].into_iter().chain(ipv6.then_some("statsig.anthropic.com")) {
        assert!(hosts.contains(&h), "{h} missing from the replay of the run's capture: {hosts:?}");
    }
    let sink_log = std::fs::read_to_string(run_dir.join("sink.ndjson")).expect("sink log");
    assert!(sink_log.contains("content-type") && !sink_log.contains("application/json\""), "header values leaked");
    assert!(run_dir.join("run-ca.pem").exists());
}

#[test]
fn without_the_ca_the_attempts_still_show_by_name() {
    if skip() {
        return;
    }
    let dir = tempdir();
    let report_path = dir.path().join("report.json");
    let out = sealed(
        &["--no-trust-ca", "--profile", "claude-code", "--format", "json", "-o", report_path.to_str().expect("utf-8")],
        "curl -sS -m 10 https://api.anthropic.com/v1/messages -d x; \
         openssl s_client -connect statsig.anthropic.com:443 -servername statsig.anthropic.com -verify_return_error </dev/null; true",
    );
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let report = read_json(&report_path);
    assert!(requests(&report).is_empty(), "no request can complete without the CA");
    let failed = &report["sealed"]["sink"]["tls_failed_names"];
    assert!(failed["api.anthropic.com"].as_u64().unwrap_or(0) >= 1, "{failed}");
    assert!(failed["statsig.anthropic.com"].as_u64().unwrap_or(0) >= 1, "{failed}");
    let statsig = report["destinations"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|d| d["host"] == "statsig.anthropic.com")
        .expect("statsig named by SNI");
    assert_eq!(statsig["verdict"], "violation");
}

/// A copy of the binary an unprivileged user can run (the build dir may sit under /root).
fn unprivileged_binary(dir: &Path) -> PathBuf {
    let bin = dir.join("egress-audit");
    std::fs::copy(env!("CARGO_BIN_EXE_egress-audit"), &bin).expect("copy binary");
    for p in [dir, bin.as_path()] {
        Command::new("chmod").arg("a+rwx").arg(p).status().expect("chmod");
    }
    bin
}

#[test]
fn sealed_run_without_root_uses_a_user_namespace() {
    if skip() {
        return;
    }
    let dir = tempdir();
    let bin = unprivileged_binary(dir.path());
    let report_path = dir.path().join("report.json");
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "env", "HOME=/tmp"])
        .arg(&bin)
        .args(["check", "--sealed", "--profile", "codex", "--format", "json", "-o"])
        .arg(&report_path)
        .arg("--run-dir")
        .arg(dir.path().join("run"))
        .args([
            "--",
            "sh",
            "-c",
            r#"curl -sS -m 10 --http2 https://api.openai.com/v1/responses -H 'content-type: application/json' -d '{"model":"gpt-5","stream":true,"input":"hi"}' -o /dev/null; curl -sS -m 10 https://ab.chatgpt.com/otlp/v1/metrics -d x -o /dev/null"#,
        ])
        .output()
        .expect("setpriv");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("cannot create a private network namespace") {
        eprintln!("this kernel refuses unprivileged user namespaces; the error named the fix: {stderr}");
        assert!(stderr.contains("run as root"), "{stderr}");
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let report = read_json(&report_path);
    assert_eq!(report["sealed"]["isolation"], "user-namespace");
    let reqs = requests(&report);
    let r = find(&reqs, "api.openai.com", "/v1/responses");
    assert_eq!((r.3.as_str(), r.5.as_str(), r.6), ("allow", "HTTP/2", 200));
    assert_eq!(find(&reqs, "ab.chatgpt.com", "/otlp/v1/metrics").3, "violation");
}

#[test]
fn compare_env_shows_what_a_switch_removed() {
    if skip() {
        return;
    }
    let dir = tempdir();
    let script = format!(
        r#"curl -sS -m 10 https://api.anthropic.com/v1/messages -d '{MESSAGES}' -o /dev/null
if [ "${{TELEMETRY:-on}}" != off ]; then curl -sS -m 10 -X POST https://api.anthropic.com/api/event_logging/v2/batch -d '{{}}' -o /dev/null; fi"#
    );
    let out = sealed(
        &[
            "--profile",
            "claude-code",
            "--run-dir",
            dir.path().to_str().expect("utf-8"),
            "--compare-env",
            "TELEMETRY=off",
            "--format",
            "json",
        ],
        &script,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "the switch added nothing; stderr: {stderr}");
    let diff: Value = serde_json::from_slice(&out.stdout).expect("diff JSON");
    let removed: Vec<&str> = diff["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["change"] == "removed")
        .filter_map(|i| i["key"].as_str())
        .collect();
    assert!(removed.contains(&"POST api.anthropic.com/api/event_logging/v2/batch"), "{diff:#}");
    assert!(!removed.iter().any(|k| k.contains("/v1/messages")), "{diff:#}");
    assert!(dir.path().join("baseline.json").exists() && dir.path().join("with-env.json").exists());
    assert!(dir.path().join("baseline/capture.pcap").exists() && dir.path().join("with-env/capture.pcap").exists());
}

#[test]
fn nothing_of_a_sealed_run_reaches_the_host_interfaces() {
    if skip() {
        return;
    }
    let dir = tempdir();
    let watch_report = dir.path().join("host.json");
    // The host side: everything on every interface of the host's own namespace, for the run's length.
    let mut watcher = Command::new(env!("CARGO_BIN_EXE_egress-audit"))
        .args(["check", "-i", "any", "--no-prefilter", "--duration", "12s", "--format", "json", "-o"])
        .arg(&watch_report)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("host capture");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let probe = format!("leak-probe-{}.example", std::process::id());
    let script = format!(
        "curl -sS -m 5 https://{probe}/x -o /dev/null; curl -sS -m 5 http://192.0.2.44/y -o /dev/null; \
         curl -sS -m 5 -6 https://{probe}/z -o /dev/null; dig +time=2 +tries=1 @9.9.9.9 {probe} >/dev/null 2>&1; true"
    );
    let out = sealed(&["--format", "json", "-o", dir.path().join("sealed.json").to_str().expect("utf-8")], &script);
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    let sealed_report = read_json(&dir.path().join("sealed.json"));
    let reqs = requests(&sealed_report);
    find(&reqs, &probe, "/x");
    find(&reqs, "192.0.2.44", "/y");
    let status = watcher.wait().expect("host capture ends");
    assert!(status.code().is_some_and(|c| c <= 1), "host capture failed");
    let host = read_json(&watch_report);
    let text = host.to_string();
    assert!(!text.contains(&probe), "the probe name appeared on the host's interfaces");
    assert!(!text.contains("192.0.2.44"), "the IP literal appeared on the host's interfaces");
    assert!(!text.contains("198.18."), "a sealed address appeared on the host's interfaces");
    assert!(!text.contains("fd65:6772:6573:7300"), "a sealed IPv6 address appeared on the host's interfaces");
}

fn client(mode: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sealed/credential_client.py");
    format!("python3 {} {mode}", script.display())
}

/// Runs the credential client under `--canary-home`; returns the report.
fn canary_run(mode: &str) -> (Option<i32>, Value) {
    let dir = tempdir();
    let report_path = dir.path().join("report.json");
    let out = sealed(
        &[
            "--canary-home",
            "--run-dir",
            dir.path().join("run").to_str().expect("utf-8"),
            "--format",
            "json",
            "-o",
            report_path.to_str().expect("utf-8"),
        ],
        &client(mode),
    );
    (out.status.code(), read_json(&report_path))
}

fn notes(report: &Value) -> Vec<String> {
    report["notes"].as_array().expect("notes").iter().filter_map(|n| n.as_str().map(String::from)).collect()
}

#[test]
fn a_client_that_reads_and_posts_credentials_is_a_leak() {
    if skip() {
        return;
    }
    let (code, report) = canary_run("leak");
    assert_eq!(code, Some(1), "{report:#}");
    assert_matches_schema(&report);
    let upload = report["flows"]
        .as_array()
        .expect("flows")
        .iter()
        .flat_map(|f| f["requests"].as_array().expect("requests").iter())
        .find(|r| r["path"] == "/upload")
        .expect("the upload request");
    assert_eq!(upload["verdict"], "violation");
    assert_eq!(upload["canary_hits"], serde_json::json!(["aws@body"]));
    let reads = &report["sealed"]["canaries"]["reads"];
    assert_eq!(reads[0]["canary"], "aws");
    if report["sealed"]["canaries"]["read_watch"] == "fanotify" {
        assert!(reads[0]["process"].as_str().expect("process named").starts_with("python3["), "{reads}");
        assert!(notes(&report).iter().any(|n| n.starts_with("credential-read: python3[")));
    } else {
        // A container without CAP_SYS_ADMIN (or a seccomp profile) refuses fanotify even to root.
        let why = report["sealed"]["canaries"]["read_watch_error"].as_str().expect("the report says why");
        eprintln!("fanotify refused here, inotify used: {why}");
        assert_eq!(report["sealed"]["canaries"]["read_watch"], "inotify");
    }
}

#[test]
fn a_client_that_only_reads_credentials_is_a_read_not_a_leak() {
    if skip() {
        return;
    }
    let (code, report) = canary_run("read");
    assert_eq!(code, Some(0), "a read alone is a warning: {report:#}");
    assert_eq!(report["summary"]["violations"], 0);
    let reads = report["sealed"]["canaries"]["reads"].as_array().expect("reads");
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert!(reads[0]["path"].as_str().expect("path").ends_with("/home/.aws/credentials"));
    assert!(report["sealed"]["canaries"]["dns_leaks"].as_array().expect("leaks").is_empty());
}

#[test]
fn a_client_that_never_touches_credentials_leaves_nothing() {
    if skip() {
        return;
    }
    let (code, report) = canary_run("never");
    assert_eq!(code, Some(0), "{report:#}");
    assert!(report["sealed"]["canaries"]["reads"].as_array().expect("reads").is_empty());
    assert_eq!(report["sealed"]["canaries"]["planted"].as_array().expect("planted").len(), 10);
    assert!(!notes(&report).iter().any(|n| n.starts_with("credential-")));
}

#[test]
fn credentials_hex_encoded_in_a_dns_name_are_a_leak() {
    if skip() {
        return;
    }
    let (code, report) = canary_run("dns");
    assert_eq!(code, Some(1), "{report:#}");
    let leaks = &report["sealed"]["canaries"]["dns_leaks"];
    assert_eq!(leaks[0]["canary"], "aws", "{leaks}");
    assert_eq!(leaks[0]["encoding"], "hex");
    assert!(notes(&report).iter().any(|n| n.starts_with("credential-leak: the planted aws credential (hex)")));
}

#[test]
fn without_root_reads_are_still_seen_through_inotify() {
    if skip() {
        return;
    }
    let dir = tempdir();
    let bin = unprivileged_binary(dir.path());
    let script_dir = dir.path().join("client");
    std::fs::create_dir_all(&script_dir).expect("mkdir");
    let script = script_dir.join("credential_client.py");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sealed/credential_client.py"), &script)
        .expect("copy client");
    Command::new("chmod").arg("-R").arg("a+rwx").arg(&script_dir).status().expect("chmod");
    let report_path = dir.path().join("report.json");
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "env", "HOME=/tmp"])
        .arg(&bin)
        .args(["check", "--sealed", "--canary-home", "--format", "json", "-o"])
        .arg(&report_path)
        .arg("--run-dir")
        .arg(dir.path().join("run"))
        .args(["--", "python3"])
        .arg(&script)
        .arg("leak")
        .output()
        .expect("setpriv");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("cannot create a private network namespace") {
        eprintln!("no unprivileged user namespaces here: {stderr}");
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let report = read_json(&report_path);
    assert_eq!(report["sealed"]["canaries"]["read_watch"], "inotify");
    let reads = report["sealed"]["canaries"]["reads"].as_array().expect("reads");
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert!(reads[0]["pid"].is_null(), "inotify cannot name the process");
}

#[test]
fn compare_command_shows_what_a_second_command_added() {
    if skip() {
        return;
    }
    let dir = tempdir();
    let model = format!("curl -sS -m 10 https://api.anthropic.com/v1/messages -d '{MESSAGES}' -o /dev/null");
    let second = format!("{model}; curl -sS -m 10 https://cdn.growthbook.io/api/features/key -o /dev/null");
    let out = sealed(
        &[
            "--profile",
            "claude-code",
            "--run-dir",
            dir.path().to_str().expect("utf-8"),
            "--compare-command",
            &second,
            "--format",
            "json",
        ],
        &model,
    );
    assert_eq!(out.status.code(), Some(1), "the second command added an experiments host");
    let diff: Value = serde_json::from_slice(&out.stdout).expect("diff JSON");
    let added: Vec<&str> = diff["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["change"] == "added")
        .filter_map(|i| i["key"].as_str())
        .collect();
    assert!(added.contains(&"GET cdn.growthbook.io/api/features/key"), "{diff:#}");
    assert_eq!(diff["summary"]["removed"], 0);
    assert!(dir.path().join("compared.json").exists());
}
