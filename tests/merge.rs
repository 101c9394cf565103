//! `egress-audit merge`: reports produced by replaying the project's fixtures under different
//! profiles, merged into one fleet view; its JSON validated against
//! reports/egress-audit-fleet.v1.schema.json.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn egress_audit(args: &[&str]) -> (i32, Vec<u8>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_egress-audit")).args(args).output().unwrap_or_else(|e| panic!("{e}"));
    (out.status.code().unwrap_or(-1), out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Replays a fixture into `dir/<machine>.json`; returns the path and the report.
fn report(dir: &Path, machine: &str, fixture: &str, profile: &str) -> (String, Value) {
    let pcap = root().join("fixtures").join(fixture).to_string_lossy().into_owned();
    let (_, stdout, stderr) = egress_audit(&["replay", &pcap, "--profile", profile, "--format", "json"]);
    let path = dir.join(format!("{machine}.json"));
    std::fs::write(&path, &stdout).unwrap_or_else(|e| panic!("{e}"));
    let v: Value = serde_json::from_slice(&stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    (path.to_string_lossy().into_owned(), v)
}

/// (kind, destination) of every violation in one report, as the fleet view keys them.
fn violations(r: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for f in r["flows"].as_array().into_iter().flatten() {
        let requests: Vec<&Value> =
            f["requests"].as_array().into_iter().flatten().filter(|q| q["verdict"] == "violation").collect();
        for q in &requests {
            let host = q["host"].as_str().or(f["host"].as_str()).unwrap_or_default();
            out.insert(("request".into(), format!("{host}{}", q["path"].as_str().unwrap_or_default())));
        }
        if f["verdict"] == "violation" && requests.is_empty() {
            out.insert(("flow".into(), f["host"].as_str().or(f["dst"].as_str()).unwrap_or_default().to_string()));
        }
    }
    for q in r["dns"].as_array().into_iter().flatten().filter(|q| q["verdict"] == "violation") {
        out.insert(("dns".into(), q["name"].as_str().unwrap_or_default().to_string()));
    }
    out
}

fn validate(fleet: &Value) {
    let text = std::fs::read_to_string(root().join("reports/egress-audit-fleet.v1.schema.json")).unwrap_or_default();
    let schema: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("schema is not JSON: {e}"));
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("schema does not compile: {e}"));
    let errors: Vec<String> = validator.iter_errors(fleet).map(|e| format!("{e} at {}", e.instance_path)).collect();
    assert!(errors.is_empty(), "fleet view does not match its schema:\n{}", errors.join("\n"));
}

#[test]
fn merge_folds_reports_from_several_machines() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let inputs = [
        report(dir.path(), "laptop-a", "claude-default.pcap", "claude-code"),
        report(dir.path(), "laptop-b", "claude-hardened.pcap", "claude-code"),
        report(dir.path(), "ci-runner-1", "mixed-vendors.pcap", "claude-code"),
        report(dir.path(), "ci-runner-2", "claude-default.pcap", "default"),
    ];
    let paths: Vec<&str> = inputs.iter().map(|(p, _)| p.as_str()).collect();
    let mut args = vec!["merge", "--format", "json"];
    args.extend(&paths);
    let (code, stdout, stderr) = egress_audit(&args);
    let fleet: Value = serde_json::from_slice(&stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    validate(&fleet);
    assert_eq!(code, 1, "violations on some machines");
    assert_eq!(fleet["summary"]["reports"], 4);
    assert_eq!(fleet["summary"]["machines"], 4);
    // Every violation of every report, with the machines that had it.
    let mut want: BTreeSet<(String, String)> = BTreeSet::new();
    for (path, r) in &inputs {
        let machine = Path::new(path).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        for (kind, dest) in violations(r) {
            let row = fleet["violations"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|v| v["kind"] == kind.as_str() && format!("{}{}", s(&v["host"]), s(&v["path"])) == dest)
                .unwrap_or_else(|| panic!("{kind} {dest} of {machine} is missing from the fleet view"));
            assert!(
                row["machines"].as_array().into_iter().flatten().any(|m| m == machine.as_str()),
                "{dest}: {machine} not listed"
            );
            want.insert((kind, dest));
        }
    }
    assert_eq!(fleet["violations"].as_array().map_or(0, |v| v.len()), want.len(), "no invented violations");
    assert!(want.len() >= 4, "the fixtures hold violations ({want:?})");
    // statsig.anthropic.com is a violation on both machines that replayed the default session.
    let statsig = fleet["violations"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["host"] == "statsig.anthropic.com" && v["kind"] == "flow")
        .unwrap_or_else(|| panic!("statsig missing: {fleet}"));
    let machines: BTreeSet<&str> =
        statsig["machines"].as_array().into_iter().flatten().filter_map(|m| m.as_str()).collect();
    assert_eq!(machines, BTreeSet::from(["ci-runner-2", "laptop-a"]));
    assert!(statsig["first_seen"].as_str().is_some_and(|f| f <= statsig["last_seen"].as_str().unwrap_or("")));
    let hardened = fleet["machines"].as_array().into_iter().flatten().find(|m| m["machine"] == "laptop-b");
    assert_eq!(hardened.map(|m| &m["violations"]), Some(&Value::from(0)), "the hardened session is clean");

    for format in ["table", "markdown"] {
        let mut args = vec!["merge", "--format", format];
        args.extend(&paths);
        let (code, stdout, _) = egress_audit(&args);
        let text = String::from_utf8_lossy(&stdout);
        assert_eq!(code, 1);
        for (_, dest) in &want {
            let host = dest.split('/').next().unwrap_or_default();
            assert!(text.contains(host), "{format} lacks {host}:\n{text}");
        }
        assert!(text.contains("ci-runner-1") && text.contains("laptop-b"), "{format}:\n{text}");
    }
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

#[test]
fn merge_of_clean_reports_passes_and_bad_input_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (clean, _) = report(dir.path(), "clean", "claude-hardened.pcap", "claude-code");
    let (code, stdout, _) = egress_audit(&["merge", "--format", "json", &clean]);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&stdout));
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"schema\": \"something/else\"}").unwrap_or_else(|e| panic!("{e}"));
    let (code, _, stderr) = egress_audit(&["merge", &clean, &bad.to_string_lossy()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("bad.json"), "the error names the file: {stderr}");
    let (code, _, _) = egress_audit(&["merge", &dir.path().join("missing.json").to_string_lossy()]);
    assert_eq!(code, 2);
}
