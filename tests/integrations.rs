//! Exports for network monitors, checked by the real programs: Suricata loads the rules (`-T`) and
//! runs them over the fixture captures (`-r`), where its alerts must agree with egress-audit's own
//! verdicts; suricata-check (PyPI) reviews them; the Zeek intel file is read by parsezeeklogs (PyPI).
//!
//! CI installs them (`.ci/deps`): Suricata 7 from Debian bookworm-backports, the Python tools in the
//! virtual environment `/opt/egress-audit-py` (`EGRESS_AUDIT_PYTHON` names another interpreter).
//! Zeek itself is not packaged in Debian: the shipped Zeek script is not run here.

use egress_audit::catalog::export::{self, ExportFormat, SID_BASE, SID_SPAN};
use egress_audit::catalog::{Catalog, Class};
use egress_audit::policy::Policy;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn builtin() -> Catalog {
    Catalog::builtin().unwrap_or_else(|e| panic!("{e}"))
}

fn profile(name: &str) -> Policy {
    Policy::profile(name).unwrap_or_else(|e| panic!("{e}"))
}

fn export_text(catalog: &Catalog, policy: &Policy, format: ExportFormat) -> String {
    export::export(catalog, policy, format, &[]).unwrap_or_else(|e| panic!("{e}"))
}

fn suricata() -> PathBuf {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join("suricata");
        if p.exists() {
            return p;
        }
    }
    panic!("suricata is not installed: run `bash .ci/deps` (Debian bookworm-backports package suricata)");
}

fn python() -> PathBuf {
    let p = std::env::var_os("EGRESS_AUDIT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/egress-audit-py/bin/python3"));
    assert!(p.exists(), "{} is missing: run `bash .ci/deps` (it creates the Python tools' environment)", p.display());
    p
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn rule_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).collect()
}

/// `suricata -T` with the packaged configuration: every rule must load.
fn suricata_loads(dir: &Path, text: &str) {
    let rules = dir.join("egress-audit.rules");
    std::fs::write(&rules, text).unwrap_or_else(|e| panic!("{e}"));
    let (ok, out) = run(Command::new(suricata())
        .args(["-T", "-v", "-c", "/etc/suricata/suricata.yaml", "-S"])
        .arg(&rules)
        .arg("-l")
        .arg(dir));
    let want = format!("{} rules successfully loaded, 0 rules failed", rule_lines(text).len());
    assert!(ok && out.contains(&want), "suricata -T did not load every rule (want {want:?}):\n{out}");
}

#[test]
fn suricata_loads_the_rules_of_every_profile() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let catalog = builtin();
    for name in Policy::profile_names() {
        let text = export_text(&catalog, &profile(name), ExportFormat::Suricata);
        let lines = rule_lines(&text);
        assert!(lines.len() > 100, "{name}: only {} rules", lines.len());
        let sids: BTreeSet<u64> =
            lines.iter().filter_map(|l| l.split("sid:").nth(1)?.split(';').next()?.parse().ok()).collect();
        assert_eq!(sids.len(), lines.len(), "{name}: every rule has its own sid");
        assert!(sids.iter().all(|s| (u64::from(SID_BASE)..u64::from(SID_BASE + SID_SPAN)).contains(s)));
        suricata_loads(dir.path(), &text);
    }
    // The golden as committed.
    let golden = std::fs::read_to_string(root().join("tests/export_golden/suricata.txt")).unwrap_or_default();
    suricata_loads(dir.path(), &golden);
}

#[test]
fn suricata_sids_do_not_move_when_the_catalog_grows() {
    let policy = profile("claude-code");
    let before = export_text(&builtin(), &policy, ExportFormat::Suricata);
    let mut grown = builtin();
    grown
        .add_toml(
            "[[entry]]\nhost = \"new.example.org\"\nclass = \"telemetry\"\ntool = \"t\"\nnote = \"n\"\nsource = \"s\"\n",
            "extra.toml",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let after = export_text(&grown, &policy, ExportFormat::Suricata);
    let old: BTreeSet<&str> = rule_lines(&before).into_iter().collect();
    let new: BTreeSet<&str> = rule_lines(&after).into_iter().collect();
    assert!(old.is_subset(&new), "existing rules (and their sids) changed when an entry was added");
    assert_eq!(new.len() - old.len(), 4, "one rule per buffer for the new name");
}

/// What egress-audit says about a capture: violating flow names and DNS questions.
fn replay_violations(pcap: &Path, profile: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let out = Command::new(env!("CARGO_BIN_EXE_egress-audit"))
        .arg("replay")
        .arg(pcap)
        .args(["--profile", profile, "--format", "json"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let violation = |v: &Value| v["verdict"] == "violation";
    let flows = report["flows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| violation(f) && f["requests"].as_array().is_none_or(|r| r.is_empty()))
        .filter_map(|f| f["host"].as_str().map(String::from))
        .collect();
    let dns = report["dns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|q| violation(q))
        .filter_map(|q| q["name"].as_str().map(String::from))
        .collect();
    (flows, dns)
}

/// Suricata's alerts on a capture: (buffer's name, egress_verdict) per alert, flows and DNS apart.
fn suricata_alerts(dir: &Path, rules: &str, pcap: &Path) -> (BTreeSet<String>, BTreeSet<String>, Vec<Value>) {
    let file = dir.join("egress-audit.rules");
    std::fs::write(&file, rules).unwrap_or_else(|e| panic!("{e}"));
    // Suricata appends to an existing eve.json: one directory per capture.
    let log = dir.join(pcap.file_name().unwrap_or_default());
    std::fs::create_dir_all(&log).unwrap_or_else(|e| panic!("{e}"));
    let (ok, out) = run(Command::new(suricata())
        .args(["-c", "/etc/suricata/suricata.yaml", "-k", "none", "--runmode", "single", "-r"])
        .arg(pcap)
        .arg("-S")
        .arg(&file)
        .arg("-l")
        .arg(&log));
    assert!(ok, "suricata -r failed:\n{out}");
    let eve = std::fs::read_to_string(log.join("eve.json")).unwrap_or_default();
    let alerts: Vec<Value> = eve
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event_type"] == "alert")
        .collect();
    let (mut flows, mut dns) = (BTreeSet::new(), BTreeSet::new());
    for a in &alerts {
        let verdict = &a["alert"]["metadata"]["egress_verdict"][0];
        if verdict != "violation" {
            continue;
        }
        if let Some(q) = a["dns"]["query"][0]["rrname"].as_str().or_else(|| a["dns"]["rrname"].as_str()) {
            dns.insert(q.to_string());
        }
        for name in [&a["tls"]["sni"], &a["quic"]["sni"], &a["http"]["hostname"]] {
            if let Some(n) = name.as_str() {
                flows.insert(n.to_string());
            }
        }
    }
    (flows, dns, alerts)
}

#[test]
fn suricata_on_the_fixtures_agrees_with_replay() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let catalog = builtin();
    let mut compared = 0;
    for (fixture, profile_name) in
        [("claude-default.pcap", "claude-code"), ("mixed-vendors.pcap", "claude-code"), ("quic-local.pcap", "default")]
    {
        let pcap = root().join("fixtures").join(fixture);
        let rules = export_text(&catalog, &profile(profile_name), ExportFormat::Suricata);
        let (flows, dns) = replay_violations(&pcap, profile_name);
        let (alerted_flows, alerted_dns, alerts) = suricata_alerts(dir.path(), &rules, &pcap);
        assert_eq!(alerted_flows, flows, "{fixture}: Suricata's flow alerts differ from replay's violations");
        assert_eq!(alerted_dns, dns, "{fixture}: Suricata's DNS alerts differ from replay's violations");
        for a in &alerts {
            let m = &a["alert"]["metadata"];
            assert!(m["egress_class"][0].is_string() && m["tool"][0].is_string(), "{fixture}: {a}");
        }
        compared += flows.len() + dns.len();
    }
    assert!(compared >= 4, "the fixtures hold violations to compare ({compared})");
}

/// A small catalog with every rule shape: exact and suffix names, a more specific name inside a
/// suffix, path rules under a model host, an opted-in host.
const SHAPES_CATALOG: &str = r#"
[[entry]]
host = "api.example-model.test"
class = "model"
tool = "shape"
note = "n"
source = "s"

[[entry]]
host = "api.example-model.test"
path = "/v1/chat"
class = "model"
tool = "shape"
note = "n"
source = "s"

[[entry]]
host = "api.example-model.test"
path = "/api/"
class = "update-sharing"
tool = "shape"
note = "n"
source = "s"

[[entry]]
host = "api.example-model.test"
path = "/api/events/"
class = "telemetry"
tool = "shape"
note = "n"
source = "s"

[[entry]]
host = "*.tracker.test"
class = "error-reporting"
tool = "shape"
note = "n"
source = "s"

[[entry]]
host = "ok.tracker.test"
class = "update-sharing"
tool = "shape"
note = "n"
source = "s"
"#;

const SHAPES_POLICY: &str = r#"
name = "shapes"
description = "every rule shape"
[model]
allow = ["api.example-model.test"]
[local]
allow = []
[unknown]
verdict = "warn"
[opt_in]
classes = []
hosts = ["ok.tracker.test"]
"#;

#[test]
fn suricata_check_finds_no_warning_in_any_rule_shape() {
    let mut catalog = Catalog::default();
    catalog.add_toml(SHAPES_CATALOG, "shapes.toml").unwrap_or_else(|e| panic!("{e}"));
    let policy = Policy::from_toml(SHAPES_POLICY, "shapes.toml").unwrap_or_else(|e| panic!("{e}"));
    let text = export_text(&catalog, &policy, ExportFormat::Suricata);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    suricata_loads(dir.path(), &text);
    let lines = rule_lines(&text);
    // The model host and its model path pass, the product paths and the tracker alert, the
    // opted-in name inside the tracker's domain has no rule and is excluded from the tracker's.
    assert_eq!(lines.iter().filter(|l| l.starts_with("pass ")).count(), 5, "{text}");
    assert_eq!(lines.iter().filter(|l| l.starts_with("alert ")).count(), 6, "{text}");
    assert!(lines.iter().filter(|l| l.contains("tracker")).all(|l| l.contains("pcre:!")), "{text}");
    let out = dir.path().join("check");
    let (ok, log) = run(Command::new(python())
        .args(["-m", "suricata_check", "--log-level", "ERROR", "-r"])
        .arg(dir.path().join("egress-audit.rules"))
        .arg("-o")
        .arg(&out));
    assert!(ok, "suricata-check failed:\n{log}");
    let fast = std::fs::read_to_string(out.join("suricata-check-fast.log")).unwrap_or_default();
    let checked: BTreeSet<&str> = fast.lines().filter_map(|l| l.split("sid ").nth(1)?.split(':').next()).collect();
    assert_eq!(checked.len(), lines.len(), "suricata-check reviewed every rule:\n{fast}");
    let complaints: Vec<&str> =
        fast.lines().filter(|l| l.contains("(WARNING)") || l.contains("(ERROR)") || l.contains("(CRITICAL)")).collect();
    assert!(complaints.is_empty(), "suricata-check complains:\n{}", complaints.join("\n"));
    // Class filters keep the model endpoint's pass rules.
    let only = export::export(&catalog, &policy, ExportFormat::Suricata, &[Class::Telemetry])
        .unwrap_or_else(|e| panic!("{e}"));
    let kept = rule_lines(&only);
    assert!(kept.iter().all(|l| l.starts_with("pass ") || l.contains("egress_class telemetry")), "{only}");
    assert_eq!(kept.iter().filter(|l| l.starts_with("alert ")).count(), 1, "{only}");
}

/// Reads a Zeek log with parsezeeklogs; returns (records, lines it skipped).
fn zeek_log_records(path: &Path) -> (Vec<Value>, u64) {
    let script = r#"
import json, sys
from parsezeeklogs import ZeekLog
log = ZeekLog(sys.argv[1])
records = list(log)
print(json.dumps({"path": log.path, "skipped": log.skipped, "fields": log.fields, "records": records}))
"#;
    let out = Command::new(python()).arg("-c").arg(script).arg(path).output().unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "parsezeeklogs failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v["path"], "intel");
    let records = v["records"].as_array().cloned().unwrap_or_default();
    (records, v["skipped"].as_u64().unwrap_or(u64::MAX))
}

#[test]
fn zeek_intel_files_read_by_a_zeek_log_reader_say_what_egress_audit_says() {
    use egress_audit::classify::{Subject, judge};
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let catalog = builtin();
    let golden = root().join("tests/export_golden/zeek-intel.txt");
    for name in ["claude-code", "codex", "local-only"] {
        let policy = profile(name);
        let text = export_text(&catalog, &policy, ExportFormat::ZeekIntel);
        let file = dir.path().join(format!("{name}.intel"));
        std::fs::write(&file, &text).unwrap_or_else(|e| panic!("{e}"));
        for (path, text) in [(file.clone(), text.clone()), (golden.clone(), String::new())] {
            if path == golden && name != "claude-code" {
                continue;
            }
            let (records, skipped) = zeek_log_records(&path);
            let rows = std::fs::read_to_string(&path).unwrap_or(text).lines().filter(|l| !l.starts_with('#')).count();
            assert_eq!(skipped, 0, "{}: parsezeeklogs skipped lines", path.display());
            assert_eq!(records.len(), rows, "{}: every row is a record", path.display());
            assert!(rows > 100, "{}: {rows} rows", path.display());
            let mut suffixes = 0;
            for r in &records {
                let host = r["meta.egress_host"].as_str().unwrap_or_default();
                let indicator = r["indicator"].as_str().unwrap_or_default();
                let subtree = r["meta.egress_match"] == "subdomains";
                let path_rule = r["meta.egress_path"].as_str();
                // A name the suffix rule covers, as Zeek's script would see it.
                let probe = if subtree { format!("zz-probe.{host}") } else { host.to_string() };
                let j = judge(Subject { host: Some(&probe), path: path_rule, server: None }, &catalog, &policy);
                assert_eq!(r["meta.egress_class"], j.class.as_str(), "{name}: {r}");
                assert_eq!(r["meta.egress_verdict"], j.verdict.as_str(), "{name}: {r}");
                assert_eq!(r["meta.egress_tool"].as_str(), j.tool.as_deref(), "{name}: {r}");
                let want_type = if path_rule.is_some() { "Intel::URL" } else { "Intel::DOMAIN" };
                assert_eq!(r["indicator_type"], want_type, "{r}");
                let dot = if subtree { "." } else { "" };
                assert_eq!(indicator, format!("{dot}{host}{}", path_rule.unwrap_or("")), "{r}");
                suffixes += usize::from(subtree);
            }
            assert!(suffixes > 0, "suffix rules are exported as .x rows");
        }
    }
}

#[test]
fn the_zeek_script_reads_the_columns_the_export_writes() {
    let script = std::fs::read_to_string(root().join("audit/data/integrations/zeek/egress_audit.zeek"))
        .unwrap_or_else(|e| panic!("{e}"));
    let text = export_text(&builtin(), &profile("claude-code"), ExportFormat::ZeekIntel);
    let fields: Vec<&str> =
        text.lines().find_map(|l| l.strip_prefix("#fields\t")).map(|f| f.split('\t').collect()).unwrap_or_default();
    for f in fields.iter().filter_map(|f| f.strip_prefix("meta.egress_")) {
        assert!(
            script.contains(&format!("egress_{f}: string &optional;")),
            "the script does not declare meta.egress_{f}"
        );
    }
    for stream in ["SSL", "DNS", "HTTP", "QUIC"] {
        assert!(script.contains(&format!("hook {stream}::log_policy(")), "{stream} records are not tagged");
    }
}
