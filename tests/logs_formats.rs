//! `egress-audit logs` on the formats no program in CI writes: samples written from each program's
//! documented format (fixtures/logs/README.md says which), plus hostile and broken input.

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str], files: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_egress-audit"))
        .arg("logs")
        .args(files)
        .args(["--tz", "UTC", "--profile", "claude-code"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run egress-audit: {e}"))
}

fn json(files: &[&Path]) -> (i32, Value) {
    let out = run(&["--format", "json"], files);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("bad JSON ({e}): {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    });
    let text = std::fs::read_to_string(root().join("reports/egress-audit-logs.v1.schema.json")).unwrap_or_default();
    let schema: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("schema does not compile: {e}"));
    let errors: Vec<String> = validator.iter_errors(&report).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "report does not match its schema:\n{}", errors.join("\n"));
    (out.status.code().unwrap_or(-1), report)
}

/// name → finding
fn findings(r: &Value) -> BTreeMap<String, String> {
    r["names"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| (n["name"].as_str().unwrap_or("").to_string(), n["finding"].as_str().unwrap_or("").to_string()))
        .collect()
}

fn name<'a>(r: &'a Value, wanted: &str) -> &'a Value {
    r["names"].as_array().into_iter().flatten().find(|n| n["name"] == wanted).unwrap_or(&Value::Null)
}

fn fixture(f: &str) -> PathBuf {
    root().join("fixtures/logs").join(f)
}

fn expect(file: &str, format: &str, code: i32, want: &[(&str, &str)]) -> Value {
    let (got_code, r) = json(&[&fixture(file)]);
    assert_eq!(r["files"][0]["format"], format, "{file}");
    assert_eq!(r["files"][0]["malformed"], 0, "{file}: {}", r["files"][0]);
    let want: BTreeMap<String, String> = want.iter().map(|(n, f)| (n.to_string(), f.to_string())).collect();
    assert_eq!(findings(&r), want, "{file}");
    assert_eq!(got_code, code, "{file}");
    r
}

#[test]
fn nextdns_csv_export() {
    let r = expect(
        "nextdns.csv",
        "nextdns-csv",
        1,
        &[
            ("api.anthropic.com", "allowed"),
            ("statsig.anthropic.com", "denied-and-blocked"),
            ("o1234.ingest.sentry.io", "denied-and-blocked"),
            ("api.openai.com", "denied-but-answered"),
            ("nx.example", "warn"),
        ],
    );
    let sentry = name(&r, "o1234.ingest.sentry.io");
    // A quoted reasons field with a comma, and a timestamp with an offset (+01:00) read as such.
    assert_eq!(sentry["details"][0], "blocked: NextDNS Ads & Trackers Blocklist, egress-audit denylist");
    assert_eq!(sentry["first_seen"], "2026-11-27T09:54:38.000000Z");
    assert_eq!(sentry["clients"][0], "203.0.113.7 (laptop)");
    assert_eq!(name(&r, "nx.example")["failed"], 1);
}

#[test]
fn pihole_log_gravity_and_regex_blocks() {
    let r = expect(
        "pihole.log",
        "pihole",
        1,
        &[
            ("api.anthropic.com", "allowed"),
            ("statsig.anthropic.com", "denied-and-blocked"),
            ("o1234.ingest.sentry.io", "denied-and-blocked"),
            ("api.openai.com", "denied-but-answered"),
            ("nx.example", "warn"),
        ],
    );
    assert_eq!(name(&r, "statsig.anthropic.com")["details"][0], "gravity blocked: 0.0.0.0");
    assert_eq!(name(&r, "api.openai.com")["answers"][0], "162.159.140.245");
}

#[test]
fn bind_query_log_without_answers_cannot_prove_blocks() {
    let r = expect(
        "bind-query.log",
        "bind",
        1,
        &[
            ("api.anthropic.com", "allowed"),
            ("statsig.anthropic.com", "denied-and-blocked"),
            ("o1234.ingest.sentry.io", "denied-unresolved"),
            ("api.openai.com", "denied-unresolved"),
            ("nx.example", "warn"),
        ],
    );
    assert_eq!(name(&r, "statsig.anthropic.com")["details"][0], "rpz QNAME NXDOMAIN");
    assert_eq!(name(&r, "api.anthropic.com")["first_seen"], "2026-11-27T09:54:37.120000Z");
    assert_eq!(name(&r, "o1234.ingest.sentry.io")["clients"][0], "10.0.0.24");
    assert_eq!(r["summary"]["denied_unresolved"], 2);
}

#[test]
fn resolvectl_monitor_and_resolved_journal() {
    let r = expect(
        "resolvectl-monitor.txt",
        "resolved",
        1,
        &[("api.anthropic.com", "allowed"), ("statsig.anthropic.com", "denied-but-answered"), ("nx.example", "warn")],
    );
    assert_eq!(name(&r, "statsig.anthropic.com")["answers"][0], "34.36.57.103");
    assert_eq!(name(&r, "nx.example")["details"][0], "rcode-failure");
    let r = expect(
        "resolved-journal.log",
        "resolved",
        1,
        &[("o1234.ingest.sentry.io", "denied-but-answered"), ("api.openai.com", "denied-failed")],
    );
    assert_eq!(name(&r, "api.openai.com")["details"][0], "timeout");
}

#[test]
fn opensnitch_events_name_the_process() {
    let r = expect(
        "opensnitch-events.json",
        "opensnitch",
        1,
        &[
            ("api.anthropic.com", "allowed"),
            ("statsig.anthropic.com", "denied-and-blocked"),
            ("o1234.ingest.sentry.io", "denied-and-blocked"),
            ("api.openai.com", "denied-but-answered"),
        ],
    );
    assert_eq!(name(&r, "api.openai.com")["processes"][0], "/usr/local/bin/codex [5151]");
    assert_eq!(name(&r, "statsig.anthropic.com")["details"][0], "deny (rule egress-audit-deny-claude-code)");
    assert_eq!(name(&r, "o1234.ingest.sentry.io")["first_seen"], "2026-11-27T09:54:39.000000Z");
    let r = expect(
        "opensnitch-connections.csv",
        "opensnitch",
        1,
        &[
            ("api.anthropic.com", "allowed"),
            ("statsig.anthropic.com", "denied-and-blocked"),
            ("o1234.ingest.sentry.io", "denied-but-answered"),
        ],
    );
    assert_eq!(name(&r, "statsig.anthropic.com")["qtypes"][0], "tcp/443");
}

#[test]
fn several_files_of_several_formats_make_one_report() {
    let (code, r) = json(&[&fixture("dnsmasq-hardened.log"), &fixture("opensnitch-events.json")]);
    assert_eq!(code, 1);
    let s = name(&r, "statsig.anthropic.com");
    assert_eq!((s["queries"].as_u64(), s["blocked"].as_u64()), (Some(3), Some(3)));
    assert_eq!(s["formats"], serde_json::json!(["dnsmasq", "opensnitch"]));
    assert_eq!(r["summary"]["files"], 2);
}

#[test]
fn table_says_denied_and_blocked_apart_from_denied_but_answered() {
    let out = run(&[], &[&fixture("nextdns.csv")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("VIOLATION: denied but answered"), "{text}");
    assert!(text.contains("denied and blocked"), "{text}");
    assert_eq!(out.status.code(), Some(1));
    let out = run(&["--format", "ndjson"], &[&fixture("nextdns.csv")]);
    let records: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap_or(Value::Null)).collect();
    assert_eq!(records.iter().filter(|r| r["record"] == "name").count(), 5);
    assert_eq!(records.last().map(|r| r["record"].clone()), Some(Value::from("summary")));
}

#[test]
fn hostile_lines_never_reach_the_terminal_raw_and_never_panic() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("hostile.log");
    let mut f = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut data: Vec<u8> = Vec::new();
    data.extend_from_slice(b"Nov 27 09:54:37 dnsmasq[1]: query[A] evil\x1b[31mred.example from 127.0.0.1\n");
    data.extend_from_slice(b"Nov 27 09:54:37 dnsmasq[1]: reply evil\x1b[31mred.example is 1.2.3.4\n");
    data.extend_from_slice(b"Nov 27 09:54:37 dnsmasq[1]: query[A] bad\xff\xfeutf8.example from 127.0.0.1\n");
    data.extend_from_slice(b"\x1b]0;pwned\x07 this is not a log line\n");
    data.extend_from_slice(b"Nov 27 09:54:37 dnsmasq[1]: query[A] from\n");
    data.extend(std::iter::repeat_n(b'A', 200_000));
    data.extend_from_slice(b"\nNov 27 09:54:38 dnsmasq[1]: query[A] after-the-huge-line.example from 127.0.0.1\n");
    data.extend_from_slice(b"Nov 99 99:99:99 dnsmasq[1]: query[A] x from y\n\0\0\0\n");
    f.write_all(&data).unwrap_or_else(|e| panic!("{e}"));
    drop(f);
    for format in ["table", "markdown", "json", "ndjson"] {
        let out = run(&["--format", format], &[&path]);
        assert!(out.status.code().is_some(), "{format}: killed by a signal");
        for stream in [&out.stdout, &out.stderr] {
            assert!(!stream.contains(&0x1b), "{format}: raw ESC reached the output");
            assert!(!stream.contains(&0x07), "{format}: raw BEL reached the output");
            assert!(std::str::from_utf8(stream).is_ok(), "{format}: output is not UTF-8");
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("malformed line(s)"), "{format}: {err}");
    }
    let (code, r) = json(&[&path]);
    assert_eq!(code, 0, "warnings only");
    let names = findings(&r);
    assert!(names.contains_key("evil\\x1b[31mred.example"), "{names:?}");
    assert!(names.contains_key("after-the-huge-line.example"), "{names:?}");
    let f = &r["files"][0];
    let bad: Vec<(u64, String)> = f["malformed_lines"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| (m["line"].as_u64().unwrap_or(0), m["reason"].as_str().unwrap_or("").to_string()))
        .collect();
    let lines: Vec<u64> = bad.iter().map(|(l, _)| *l).collect();
    // The escape-sequence line, the query without a name, the huge line, the impossible date, NULs.
    assert_eq!(lines, [4, 5, 6, 8, 9], "{bad:?}");
    assert_eq!(bad[2].1, "line longer than 64 KiB");
    assert!(f["malformed_lines"][0]["text"].as_str().is_some_and(|t| t.starts_with("\\x1b]0;pwned\\x07")));
}

#[test]
fn unknown_content_and_missing_files_are_input_errors() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "just some text\nnothing a resolver wrote\n").unwrap_or_else(|e| panic!("{e}"));
    let (code, r) = json(&[&path]);
    assert_eq!(code, 2);
    assert_eq!(r["summary"]["result"], "error");
    assert!(r["errors"][0].as_str().is_some_and(|e| e.contains("no line in a known log format")), "{}", r["errors"]);
    let (code, r) = json(&[&dir.path().join("missing.log"), &fixture("dnsmasq-hardened.log")]);
    assert_eq!(code, 2, "a missing file is an input error even when another file is clean");
    assert_eq!(r["summary"]["names"], 6);
    // Forcing a format reads a file detection would not recognize.
    let out = run(&["--format-in", "unbound", "--format", "json"], &[&path]);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(r["files"][0]["format"], "unbound");
    assert_eq!(r["files"][0]["malformed"], 2);
    let out = run(&["--format-in", "syslog"], &[&path]);
    assert_eq!(out.status.code(), Some(2));
}
