//! `--format ocsf`: every event validated against the published OCSF 1.5.0 schema (the JSON Schema
//! that the PyPI package ocsf-json-schema generates from the schema it bundles, checked by the
//! Python jsonschema validator), and the events say what the JSON report says.
//!
//! CI installs the tools in `/opt/egress-audit-py` (`.ci/deps`; `EGRESS_AUDIT_PYTHON` names
//! another interpreter).

use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    let p = std::env::var_os("EGRESS_AUDIT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/egress-audit-py/bin/python3"));
    assert!(p.exists(), "{} is missing: run `bash .ci/deps` (it creates the Python tools' environment)", p.display());
    p
}

fn replay(pcap: &Path, profile: &str, format: &str) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_egress-audit"))
        .arg("replay")
        .arg(pcap)
        .args(["--profile", profile, "--format", format])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.code().is_some_and(|c| c < 2), "replay failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

const VALIDATOR: &str = r#"
import json, sys
from jsonschema import Draft202012Validator
from ocsf_json_schema import get_ocsf_schema, OcsfJsonSchemaEmbedded
schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=sys.argv[1]))
validators = {}
errors = []
count = 0
for n, line in enumerate(sys.stdin, 1):
    event = json.loads(line)
    count += 1
    uid = event["class_uid"]
    profiles = tuple(event["metadata"].get("profiles", []))
    if (uid, profiles) not in validators:
        name = schema.lookup_class_name_from_uid(class_uid=uid)
        validators[(uid, profiles)] = Draft202012Validator(schema.get_class_schema(class_name=name, profiles=list(profiles)))
    for e in validators[(uid, profiles)].iter_errors(event):
        errors.append(f"line {n} ({uid}): {e.message} at {list(e.absolute_path)}")
print(json.dumps({"count": count, "errors": errors[:50]}))
"#;

/// Validates NDJSON events; returns how many were checked.
fn validate(ndjson: &[u8]) -> usize {
    let mut child = Command::new(python())
        .args(["-c", VALIDATOR, "1.5.0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    child.stdin.take().map(|mut s| s.write_all(ndjson)).transpose().unwrap_or_else(|e| panic!("{e}"));
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "validator failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let errors: Vec<&str> = v["errors"].as_array().into_iter().flatten().filter_map(|e| e.as_str()).collect();
    assert!(errors.is_empty(), "OCSF schema violations:\n{}", errors.join("\n"));
    v["count"].as_u64().unwrap_or(0) as usize
}

fn events(ndjson: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(ndjson)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn ocsf_events_match_the_published_schema_and_the_report() {
    let mut checked = 0;
    let mut classes = BTreeSet::new();
    for (fixture, profile) in [
        ("claude-default.pcap", "claude-code"),
        ("mixed-vendors.pcap", "claude-code"),
        ("quic-local.pcap", "default"),
        ("connect-proxy.pcap", "default"),
        ("dot-doh.pcap", "default"),
    ] {
        let pcap = root().join("fixtures").join(fixture);
        let ocsf = replay(&pcap, profile, "ocsf");
        let n = validate(&ocsf);
        let events = events(&ocsf);
        assert_eq!(n, events.len());
        let report: Value = serde_json::from_slice(&replay(&pcap, profile, "json")).unwrap_or_else(|e| panic!("{e}"));
        let flows = report["flows"].as_array().cloned().unwrap_or_default();
        let dns = report["dns"].as_array().cloned().unwrap_or_default();
        let requests: usize = flows.iter().map(|f| f["requests"].as_array().map_or(0, |r| r.len())).sum();
        let count = |uid: u64| events.iter().filter(|e| e["class_uid"] == uid).count();
        assert_eq!(count(4001), flows.len(), "{fixture}: one Network Activity per flow");
        assert_eq!(count(4002), requests, "{fixture}: one HTTP Activity per request");
        assert_eq!(count(4003), dns.len(), "{fixture}: one DNS Activity per question");
        // Verdict, class and tool where OCSF keeps them, for every flow.
        for f in &flows {
            let e = events
                .iter()
                .find(|e| e["class_uid"] == 4001 && e["metadata"]["uid"] == f["id"])
                .unwrap_or_else(|| panic!("{fixture}: no event for flow {}", f["id"]));
            let (disposition, alert) = match f["verdict"].as_str() {
                Some("allow") => (1, false),
                Some("warn") => (17, false),
                _ => (19, true),
            };
            assert_eq!(e["disposition_id"], disposition, "{fixture}: {e}");
            assert_eq!(e["is_alert"], alert, "{fixture}: {e}");
            assert_eq!(e["firewall_rule"]["category"], f["class"], "{fixture}: {e}");
            assert_eq!(e["app_name"], f["tool"].as_str().map_or(Value::Null, |t| t.into()), "{fixture}: {e}");
            assert_eq!(e["dst_endpoint"]["hostname"], f["host"], "{fixture}: {e}");
            assert_eq!(e["traffic"]["bytes"], f["bytes"], "{fixture}: {e}");
        }
        for q in &dns {
            assert!(
                events.iter().any(|e| e["class_uid"] == 4003
                    && e["query"]["hostname"] == q["name"]
                    && e["unmapped"]["egress_audit"]["verdict"] == q["verdict"]),
                "{fixture}: no DNS event for {q}"
            );
        }
        classes.extend(events.iter().filter_map(|e| e["class_uid"].as_u64()));
        checked += n;
    }
    assert_eq!(classes, BTreeSet::from([4001, 4002, 4003]), "every event class was exercised");
    assert!(checked > 30, "{checked} events");
}

#[test]
fn the_validator_rejects_what_ocsf_does_not_define() {
    // The same validator on an event with an attribute OCSF does not have, and one without a
    // required attribute: the check above can fail.
    let pcap = root().join("fixtures/claude-default.pcap");
    let ocsf = replay(&pcap, "claude-code", "ocsf");
    let mut first = events(&ocsf).remove(0);
    if let Some(o) = first.as_object_mut() {
        o.insert("egress_verdict".into(), "violation".into());
    }
    let line = format!("{first}\n");
    let result = std::panic::catch_unwind(|| validate(line.as_bytes()));
    assert!(result.is_err(), "an unknown attribute passed validation");
    if let Some(o) = first.as_object_mut() {
        o.remove("egress_verdict");
        o.remove("severity_id");
    }
    let line = format!("{first}\n");
    assert!(std::panic::catch_unwind(|| validate(line.as_bytes())).is_err(), "a missing severity_id passed");
}

#[test]
fn check_offers_ocsf_too() {
    let out = Command::new(env!("CARGO_BIN_EXE_egress-audit")).args(["check", "--help"]).output();
    let help = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    assert!(help.contains("ocsf"), "check --help does not list ocsf:\n{help}");
}

/// `logs --format ocsf`: one DNS Activity event per name of every fixture log, valid against the schema;
/// a block the resolver logged is `Denied`/`Blocked` and no alert, an answered denied name is the alert.
#[test]
fn logs_become_valid_dns_activity_events() {
    let logs = root().join("fixtures/logs");
    let mut all = Vec::new();
    let mut names = 0;
    for entry in std::fs::read_dir(&logs).unwrap_or_else(|e| panic!("{e}")) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        if path.extension().is_none_or(|x| x == "sh" || x == "md") {
            continue;
        }
        let run = |format: &str| {
            Command::new(env!("CARGO_BIN_EXE_egress-audit"))
                .args(["logs", "--profile", "claude-code", "--format", format])
                .arg(&path)
                .output()
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let (ocsf, json) = (run("ocsf"), run("json"));
        assert!(
            ocsf.status.code().is_some_and(|c| c < 2),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&ocsf.stderr)
        );
        let report: Value = serde_json::from_slice(&json.stdout).unwrap_or_else(|e| panic!("{e}"));
        let n = report["names"].as_array().map_or(0, Vec::len);
        assert_eq!(events(&ocsf.stdout).len(), n, "{}: one event per name", path.display());
        names += n;
        all.extend_from_slice(&ocsf.stdout);
    }
    assert_eq!(validate(&all), names);
    let evs = events(&all);
    let finding = |e: &Value| e["unmapped"]["egress_audit"]["finding"].as_str().unwrap_or("").to_string();
    let blocked =
        evs.iter().find(|e| finding(e) == "denied-and-blocked").unwrap_or_else(|| panic!("no block in the fixtures"));
    assert_eq!(
        (blocked["action"].as_str(), blocked["disposition"].as_str(), &blocked["is_alert"]),
        (Some("Denied"), Some("Blocked"), &Value::Bool(false))
    );
    let leak =
        evs.iter().find(|e| finding(e) == "denied-but-answered").unwrap_or_else(|| panic!("no leak in the fixtures"));
    assert_eq!((leak["is_alert"].as_bool(), leak["severity_id"].as_u64()), (Some(true), Some(4)));
}
