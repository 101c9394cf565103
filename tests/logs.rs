//! `egress-audit logs` on logs written by the real programs: dnsmasq (--log-queries and
//! --log-queries=extra) and unbound (log-queries/log-replies/log-local-actions) answering dig in a
//! private network namespace, hardened with the block lists `catalog export` writes and leaky without.
//! The committed files (fixtures/logs/, recorded by fixtures/logs/record.sh) are judged here, and, as
//! root, the recording is run again live and the fresh logs judged the same way.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `logs` with JSON output; returns the exit code and the schema-checked report.
fn logs(files: &[&Path], extra: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_egress-audit"))
        .arg("logs")
        .args(files)
        .args(["--format", "json", "--tz", "UTC"])
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("cannot run egress-audit: {e}"));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("bad JSON ({e}): {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    });
    validate(&report);
    (out.status.code().unwrap_or(-1), report)
}

fn validate(report: &Value) {
    let text = std::fs::read_to_string(root().join("reports/egress-audit-logs.v1.schema.json")).unwrap_or_default();
    let schema: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("schema does not compile: {e}"));
    let errors: Vec<String> = validator.iter_errors(report).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "report does not match its schema:\n{}", errors.join("\n"));
}

/// name → (finding, queries, answered, blocked, failed)
fn findings(report: &Value) -> BTreeMap<String, (String, u64, u64, u64, u64)> {
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap_or(u64::MAX);
    report["names"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            let name = v["name"].as_str().unwrap_or_default().to_string();
            let finding = v["finding"].as_str().unwrap_or_default().to_string();
            (name, (finding, n(v, "queries"), n(v, "answered"), n(v, "blocked"), n(v, "failed")))
        })
        .collect()
}

fn row(f: &str, q: u64, a: u64, b: u64, x: u64) -> (String, u64, u64, u64, u64) {
    (f.to_string(), q, a, b, x)
}

/// The same questions (fixtures/logs/record.sh) through a hardened and a leaky resolver, under the
/// claude-code profile.
fn expect_hardened(report: &Value) {
    let want: BTreeMap<String, _> = [
        ("api.anthropic.com", row("allowed", 3, 3, 0, 0)),
        ("statsig.anthropic.com", row("denied-and-blocked", 2, 0, 2, 0)),
        ("o1234.ingest.sentry.io", row("denied-and-blocked", 1, 0, 1, 0)),
        ("api.openai.com", row("denied-and-blocked", 1, 0, 1, 0)),
        ("downloads.claude.ai", row("warn", 1, 0, 1, 0)),
        ("nx.example", row("warn", 1, 0, 0, 1)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(findings(report), want);
    assert_eq!(report["summary"]["violations"], 0);
    assert_eq!(report["summary"]["denied_and_blocked"], 3);
}

fn expect_leaky(report: &Value) {
    let want: BTreeMap<String, _> = [
        ("api.anthropic.com", row("allowed", 3, 3, 0, 0)),
        ("statsig.anthropic.com", row("denied-but-answered", 2, 2, 0, 0)),
        ("o1234.ingest.sentry.io", row("denied-but-answered", 1, 1, 0, 0)),
        ("api.openai.com", row("denied-but-answered", 1, 1, 0, 0)),
        ("downloads.claude.ai", row("warn", 1, 1, 0, 0)),
        ("nx.example", row("warn", 1, 0, 0, 1)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(findings(report), want);
    assert_eq!(report["summary"]["violations"], 3);
    // The first name in the report is a violation: they come first.
    assert_eq!(report["names"][0]["finding"], "denied-but-answered");
}

fn check_recorded(dir: &Path) {
    for (file, format, hardened) in [
        ("dnsmasq-hardened.log", "dnsmasq", true),
        ("dnsmasq-leaky.log", "dnsmasq", false),
        ("unbound-hardened.log", "unbound", true),
        ("unbound-leaky.log", "unbound", false),
    ] {
        let path = dir.join(file);
        let (code, report) = logs(&[&path], &["--profile", "claude-code"]);
        assert_eq!(report["files"][0]["format"], format, "{file}");
        assert_eq!(report["files"][0]["malformed"], 0, "{file}");
        if hardened {
            assert_eq!(code, 0, "{file}");
            expect_hardened(&report);
        } else {
            assert_eq!(code, 1, "{file}");
            expect_leaky(&report);
        }
    }
}

#[test]
fn committed_dnsmasq_and_unbound_logs() {
    check_recorded(&root().join("fixtures/logs"));
}

#[test]
fn extra_mode_ties_clients_and_dnsmasq_times_are_read_in_the_given_zone() {
    let path = root().join("fixtures/logs/dnsmasq-hardened.log");
    let (_, utc) = logs(&[&path], &["--profile", "claude-code"]);
    let name =
        |r: &Value| r["names"].as_array().into_iter().flatten().find(|n| n["name"] == "statsig.anthropic.com").cloned();
    let s = name(&utc).unwrap_or(Value::Null);
    assert_eq!(s["clients"], serde_json::json!(["127.0.0.1"]));
    assert_eq!(s["details"], serde_json::json!(["config: 0.0.0.0", "config: ::"]));
    let utc_seen = s["first_seen"].as_str().unwrap_or_default().to_string();
    assert!(utc_seen.ends_with("T09:54:37.000000Z"), "{utc_seen}");
    // The same syslog time stamp read as Berlin local time (UTC+1 in November) is an hour earlier.
    let out = Command::new(env!("CARGO_BIN_EXE_egress-audit"))
        .args(["logs", "--format", "json", "--tz", "Europe/Berlin", "--profile", "claude-code"])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let berlin: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let b = name(&berlin).unwrap_or(Value::Null);
    assert!(b["first_seen"].as_str().unwrap_or_default().ends_with("T08:54:37.000000Z"), "{b}");
    assert_eq!(berlin["files"][0]["time_zone"], "Europe/Berlin");
}

#[test]
fn unbound_epoch_times_are_exact() {
    let (_, r) = logs(&[&root().join("fixtures/logs/unbound-leaky.log")], &["--profile", "claude-code"]);
    let first: Vec<&str> =
        r["names"].as_array().into_iter().flatten().filter_map(|n| n["first_seen"].as_str()).collect();
    // [1795773279] in the committed file.
    assert!(first.contains(&"2026-11-27T09:54:39.000000Z"), "{first:?}");
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

fn have(program: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {program}")]).output().is_ok_and(|o| o.status.success())
}

#[test]
fn live_recording_with_real_dnsmasq_and_unbound() {
    if !is_root() || !["dnsmasq", "unbound", "dig"].iter().all(|p| have(p)) {
        eprintln!("live logs test needs root, dnsmasq, unbound and dig (bash .ci/deps): skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ns = format!("ea-logs-{}", std::process::id());
    let status = Command::new("bash")
        .arg(root().join("fixtures/logs/record.sh"))
        .arg(dir.path())
        .env("EGRESS_AUDIT", env!("CARGO_BIN_EXE_egress-audit"))
        .env("NS", &ns)
        .status()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success(), "record.sh failed");
    check_recorded(dir.path());
}
