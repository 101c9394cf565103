//! Replays the captures in fixtures/ (recorded from real programs by fixtures/record.sh) through the
//! real binary and checks exact verdicts, exit codes, the JSON schema and output hygiene.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> PathBuf {
    root().join("fixtures").join(name)
}

struct Run {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

fn egress_audit(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_egress-audit"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run: {e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn replay_json(file: &Path, profile: &str) -> (i32, Value) {
    let path = file.to_string_lossy().into_owned();
    let run = egress_audit(&["replay", &path, "--profile", profile, "--format", "json"]);
    let report: Value = serde_json::from_slice(&run.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", String::from_utf8_lossy(&run.stdout)));
    validate(&report);
    (run.code, report)
}

fn schema() -> Value {
    let text = std::fs::read_to_string(root().join("reports/egress-audit-report.v1.schema.json")).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn validate(report: &Value) {
    let schema = schema();
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("schema does not compile: {e}"));
    let errors: Vec<String> = validator.iter_errors(report).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "report does not match its schema:\n{}", errors.join("\n"));
}

/// (destination, class, verdict) rows of a report.
fn destinations(report: &Value) -> BTreeSet<(String, String, String)> {
    report["destinations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| (s(&d["host"]), s(&d["class"]), s(&d["verdict"])))
        .collect()
}

fn dns_verdicts(report: &Value) -> BTreeSet<(String, String, String)> {
    report["dns"].as_array().into_iter().flatten().map(|d| (s(&d["name"]), s(&d["type"]), s(&d["verdict"]))).collect()
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn set(rows: &[(&str, &str, &str)]) -> BTreeSet<(String, String, String)> {
    rows.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect()
}

fn flows<'a>(report: &'a Value, host: &str) -> Vec<&'a Value> {
    report["flows"].as_array().into_iter().flatten().filter(|f| f["host"] == host).collect()
}

#[test]
fn default_claude_session_fails_on_telemetry_and_error_reporting() {
    let (code, r) = replay_json(&fixture("claude-default.pcap"), "claude-code");
    assert_eq!(code, 1);
    assert_eq!(
        destinations(&r),
        set(&[
            ("o1234.ingest.sentry.io", "error-reporting", "violation"),
            ("statsig.anthropic.com", "telemetry", "violation"),
            ("downloads.claude.ai", "unknown", "warn"),
            ("api.anthropic.com", "model", "allow"),
            ("127.0.0.53", "dns", "allow"),
        ])
    );
    assert_eq!(
        dns_verdicts(&r),
        set(&[
            ("api.anthropic.com", "A", "allow"),
            ("statsig.anthropic.com", "A", "violation"),
            ("o1234.ingest.sentry.io", "A", "violation"),
            ("downloads.claude.ai", "A", "warn"),
        ])
    );
    let model = flows(&r, "api.anthropic.com");
    assert_eq!(model.len(), 1);
    assert_eq!(model[0]["host_source"], "sni");
    assert_eq!(model[0]["alpn"], serde_json::json!(["h2", "http/1.1"]));
    assert_eq!(model[0]["dns_names"], serde_json::json!(["api.anthropic.com"]));
    let download = flows(&r, "downloads.claude.ai");
    assert_eq!(download[0]["host_source"], "http");
    assert_eq!(download[0]["requests"][0]["path"], "/claude-code-releases/stable");
    assert_eq!(r["summary"]["result"], "fail");
    assert_eq!(r["summary"]["violations"], 4);
}

#[test]
fn hardened_claude_session_passes() {
    let (code, r) = replay_json(&fixture("claude-hardened.pcap"), "claude-code");
    assert_eq!(code, 0);
    assert_eq!(destinations(&r), set(&[("api.anthropic.com", "model", "allow"), ("127.0.0.53", "dns", "allow")]));
    assert_eq!(r["summary"]["result"], "pass");
}

#[test]
fn another_vendors_model_is_a_violation_and_unnamed_flows_are_reported() {
    let (code, r) = replay_json(&fixture("mixed-vendors.pcap"), "claude-code");
    assert_eq!(code, 1);
    let rows = destinations(&r);
    for row in [
        ("api.openai.com", "model", "violation"),
        ("api.anthropic.com", "model", "allow"),
        ("cdn.growthbook.io", "experiments", "violation"),
        ("api.segment.io", "telemetry", "violation"),
        ("127.0.0.40", "local", "warn"),
    ] {
        assert!(rows.contains(&(row.0.into(), row.1.into(), row.2.into())), "missing {row:?} in {rows:?}");
    }
    let literal: Vec<&Value> =
        r["flows"].as_array().into_iter().flatten().filter(|f| f["dst"] == "127.0.0.40:443").collect();
    assert_eq!(literal.len(), 1);
    assert_eq!((literal[0]["host_source"].as_str(), literal[0]["sni"].is_null()), (Some("none"), true));
    // The same capture under the codex profile flips the two model verdicts.
    let (_, codex) = replay_json(&fixture("mixed-vendors.pcap"), "codex");
    let rows = destinations(&codex);
    assert!(rows.contains(&("api.openai.com".into(), "model".into(), "allow".into())));
    assert!(rows.contains(&("api.anthropic.com".into(), "model".into(), "violation".into())));
}

#[test]
fn local_only_allows_the_local_model_and_denies_the_rest() {
    let (code, r) = replay_json(&fixture("mixed-vendors.pcap"), "local-only");
    assert_eq!(code, 1);
    let ollama: Vec<&Value> =
        r["flows"].as_array().into_iter().flatten().filter(|f| f["dst"] == "127.0.0.1:11434").collect();
    assert_eq!(ollama.len(), 1);
    assert_eq!(ollama[0]["verdict"], "allow");
    assert_eq!(ollama[0]["requests"][0]["path"], "/api/tags");
    let unnamed: Vec<&Value> =
        r["flows"].as_array().into_iter().flatten().filter(|f| f["dst"] == "127.0.0.40:443").collect();
    assert_eq!(unnamed[0]["verdict"], "violation");
}

#[test]
fn split_and_reordered_hellos_are_named() {
    let (_, r) = replay_json(&fixture("split-hello.pcap"), "default");
    let snis: BTreeSet<String> =
        r["flows"].as_array().into_iter().flatten().filter_map(|f| f["sni"].as_str().map(String::from)).collect();
    assert_eq!(snis, ["records.split.example", "telemetry.split.example"].map(String::from).into());
    let (_, r) = replay_json(&fixture("out-of-order-hello.pcap"), "default");
    let snis: Vec<&str> = r["flows"].as_array().into_iter().flatten().filter_map(|f| f["sni"].as_str()).collect();
    assert_eq!(snis, vec!["telemetry.split.example"]);
}

#[test]
fn ipv6_flows_are_named() {
    let (_, r) = replay_json(&fixture("ipv6.pcap"), "codex");
    let openai = flows(&r, "api.openai.com");
    assert!(
        openai.iter().any(|f| f["dst"] == "[fd00:ea::10]:443" && f["host_source"] == "sni" && f["verdict"] == "allow"),
        "{openai:?}"
    );
    let collector = flows(&r, "collector.github.com");
    assert!(
        collector
            .iter()
            .any(|f| f["host_source"] == "http" && f["class"] == "telemetry" && f["verdict"] == "violation")
    );
}

#[test]
fn proxy_tunnels_are_named_by_their_connect_target() {
    let (code, r) = replay_json(&fixture("connect-proxy.pcap"), "claude-code");
    assert_eq!(code, 1);
    let tunnels: Vec<&Value> =
        r["flows"].as_array().into_iter().flatten().filter(|f| f["dst"] == "127.0.0.1:3128").collect();
    let named: BTreeSet<(String, String, String)> =
        tunnels.iter().map(|f| (s(&f["host"]), s(&f["host_source"]), s(&f["verdict"]))).collect();
    assert_eq!(
        named,
        set(&[("api.anthropic.com", "connect", "allow"), ("statsig.anthropic.com", "connect", "violation")])
    );
    assert!(tunnels.iter().all(|f| f["sni"] == f["host"]), "the ClientHello inside the tunnel is read too");
}

#[test]
fn dns_over_tcp_https_records_and_cname_chains() {
    let (_, r) = replay_json(&fixture("dns-tcp.pcap"), "claude-code");
    let dns = dns_verdicts(&r);
    assert!(dns.contains(&("mobile.events.data.microsoft.com".into(), "A".into(), "violation".into())), "{dns:?}");
    assert!(dns.contains(&("mobile.events.data.microsoft.com".into(), "AAAA".into(), "violation".into())));
    let https: Vec<&Value> = r["dns"].as_array().into_iter().flatten().filter(|d| d["type"] == "HTTPS").collect();
    assert_eq!(https.len(), 1);
    assert!(
        https[0]["answers"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["type"] == "HTTPS" && a["value"] == "alt.openai.example")
    );
    let alias: Vec<&Value> =
        r["dns"].as_array().into_iter().flatten().filter(|d| d["name"] == "telemetry.alias.example").collect();
    let values: BTreeSet<String> =
        alias.iter().flat_map(|d| d["answers"].as_array().into_iter().flatten().map(|a| s(&a["value"]))).collect();
    assert!(values.contains("o1234.ingest.sentry.io") && values.contains("127.0.0.13"), "{values:?}");
}

#[test]
fn truncated_capture_keeps_flows_and_names_the_offset() {
    let path = fixture("truncated.pcap");
    let run = egress_audit(&["replay", &path.to_string_lossy(), "--profile", "claude-code", "--format", "json"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("byte offset 7366"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    let r: Value = serde_json::from_slice(&run.stdout).unwrap_or(Value::Null);
    validate(&r);
    assert_eq!(r["source"][0]["error"]["offset"], 7366);
    assert_eq!(r["source"][0]["frames"], 31);
    assert!(r["flows"].as_array().is_some_and(|f| !f.is_empty()));
    assert_eq!(r["summary"]["exit_code"], 2);
}

#[test]
fn usage_and_input_errors_exit_2_with_one_line() {
    for args in [
        vec!["replay", "/nonexistent.pcap"],
        vec!["replay", "Cargo.toml"],
        vec!["replay", "fixtures/claude-default.pcap", "--profile", "nope"],
        vec!["replay"],
        vec!["frobnicate"],
    ] {
        let run = egress_audit(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(!run.stderr.is_empty());
    }
}

#[test]
fn ndjson_lines_match_the_schema_definitions() {
    let run = egress_audit(&[
        "replay",
        &fixture("claude-default.pcap").to_string_lossy(),
        "--profile",
        "claude-code",
        "--format",
        "ndjson",
    ]);
    assert_eq!(run.code, 1);
    let schema = schema();
    let text = String::from_utf8_lossy(&run.stdout);
    let mut kinds = BTreeSet::new();
    for line in text.lines() {
        let mut v: Value = serde_json::from_str(line).unwrap_or(Value::Null);
        let kind = s(&v["record"]);
        kinds.insert(kind.clone());
        assert_eq!(v["schema"], "egress-audit/report/v1");
        if let Value::Object(m) = &mut v {
            m.remove("record");
            m.remove("schema");
        }
        let def_name = if kind == "summary" { "summary_record" } else { kind.as_str() };
        let def = schema["$defs"].get(def_name).unwrap_or_else(|| panic!("no schema definition for record {kind}"));
        let mut sub = def.clone();
        sub["$defs"] = schema["$defs"].clone();
        let validator = jsonschema::validator_for(&sub).unwrap_or_else(|e| panic!("{e}"));
        assert!(validator.is_valid(&v), "{kind} line does not match: {line}");
    }
    assert_eq!(kinds, ["destination", "dns", "flow", "source", "summary"].map(String::from).into());
}

/// A classic pcap (raw IPv4) holding one TCP packet with `payload` from 10.0.0.1:40000 to 10.0.0.2:80.
fn pcap_with_tcp_payload(payload: &[u8]) -> Vec<u8> {
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
    let total = (20 + 20 + payload.len()) as u16;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
    ip.extend_from_slice(payload);
    let mut file = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 101, 0, 0, 0];
    for v in [1_700_000_000u32, 0, ip.len() as u32, ip.len() as u32] {
        file.extend_from_slice(&v.to_le_bytes());
    }
    file.extend_from_slice(&ip);
    file
}

#[test]
fn terminal_escapes_in_packets_never_reach_the_output() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("hostile.pcap");
    let payload = b"GET /\x1b]0;pwned\x07 HTTP/1.1\r\nHost: evil\x1b[2J\x1b[31m.example\r\nUser-Agent: \x9b31m\r\n\r\n";
    std::fs::write(&path, pcap_with_tcp_payload(payload)).unwrap_or_else(|e| panic!("{e}"));
    for format in ["table", "markdown", "json", "ndjson"] {
        let run = egress_audit(&["replay", &path.to_string_lossy(), "--format", format]);
        assert_eq!(run.code, 0, "{format}: {}", run.stderr);
        assert!(
            !run.stdout.iter().any(|&b| b == 0x1b || b == 0x07 || b == 0x9b),
            "{format} output carries control bytes"
        );
        let text = String::from_utf8_lossy(&run.stdout).replace("\\\\", "\\");
        assert!(text.to_ascii_lowercase().contains("evil\\x1b[2j\\x1b[31m.example"), "{format}: {text}");
    }
}
