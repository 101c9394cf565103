//! Tests on the committed recordings of real agent CLIs under `check --sealed` (fixtures/agents/, made by
//! fixtures/agents/record.sh; no agent runs here): what each documented opt-out removes from the wire, by
//! request path through `egress-audit diff`, that replaying each committed capture names the same hosts as the
//! recorded report, and the verdicts of the hardened runs under each agent's profile.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join("agents")
}

fn load(path: &Path) -> Value {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn report(agent: &str, variant: &str) -> Value {
    load(&dir().join(agent).join(format!("{variant}.json")))
}

fn egress_audit(args: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_egress-audit"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run egress-audit: {e}"));
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: bad JSON ({e}); stderr: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), json)
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// Every request the sink saw, as `METHOD host/path` without the query (the key `diff` uses).
fn requests(report: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for flow in arr(&report["flows"]) {
        for req in arr(&flow["requests"]) {
            let path = req["path"].as_str().unwrap_or("");
            let path = path.split('?').next().unwrap_or(path);
            out.insert(format!(
                "{} {}{}",
                req["method"].as_str().unwrap_or("?"),
                req["host"].as_str().unwrap_or("?"),
                path
            ));
        }
    }
    out
}

/// Requests `diff BEFORE AFTER --format json` lists with this change ("added" or "removed").
fn diff_requests(agent: &str, before: &str, after: &str, change: &str) -> BTreeSet<String> {
    let a = dir().join(agent).join(format!("{before}.json"));
    let b = dir().join(agent).join(format!("{after}.json"));
    let (code, diff) = egress_audit(&["diff", &a.to_string_lossy(), &b.to_string_lossy(), "--format", "json"]);
    assert!(code == 0 || code == 1, "diff {agent} {before} {after}: exit {code}");
    arr(&diff["items"])
        .iter()
        .filter(|i| i["kind"] == "request" && i["change"] == change)
        .filter_map(|i| i["key"].as_str().map(str::to_owned))
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// (agent, profile the recording was judged with, or None for the policy file next to the fixtures).
const AGENTS: &[(&str, Option<&str>)] = &[
    ("claude-code", Some("claude-code")),
    ("codex", Some("codex")),
    ("copilot-cli", Some("copilot")),
    ("gemini-cli", Some("gemini")),
    ("opencode", Some("opencode")),
    ("continue", None),
    ("pi", Some("claude-code")),
];

fn judge_args(agent: &str) -> Vec<String> {
    match AGENTS.iter().find(|(a, _)| *a == agent) {
        Some((_, Some(profile))) => vec!["--profile".into(), (*profile).into()],
        _ => vec!["--policy".into(), dir().join("continue-openai.toml").to_string_lossy().into_owned()],
    }
}

const CLAUDE_NONESSENTIAL: &[&str] = &[
    "HEAD api.anthropic.com/api/hello",
    "GET api.anthropic.com/api/claude_cli/bootstrap",
    "GET api.anthropic.com/api/claude_code_penguin_mode",
    "GET api.anthropic.com/api/claude_code/organizations/metrics_enabled",
    "GET api.anthropic.com/api/directory/server-urls",
    "POST api.anthropic.com/api/eval/sdk-zAZezfDKGoZuXXKe",
    "POST api.anthropic.com/api/event_logging/v2/batch",
];
const CODEX_PLUGINS: &[&str] = &[
    "GET api.github.com/repos/openai/plugins",
    "GET chatgpt.com/backend-api/plugins/export/curated",
    "GET github.com/openai/plugins.git/info/refs",
];
const CODEX_METRICS: &str = "POST ab.chatgpt.com/otlp/v1/metrics";
const COPILOT_RELEASES: &str = "GET api.github.com/repos/github/copilot-cli/releases";
const COPILOT_TELEMETRY: &str = "POST telemetry.individual.githubcopilot.com/telemetry";
const GEMINI_CLEARCUT: &str = "POST play.googleapis.com/log";
const OPENCODE_MODELS: &str = "GET models.opencode.ai/api.json";

/// What each recorded variant removed compared with `default` (empty: does nothing on the wire).
fn expected_removed(agent: &str, variant: &str) -> Option<BTreeSet<String>> {
    let all_codex = || {
        let mut s = set(CODEX_PLUGINS);
        s.insert(CODEX_METRICS.into());
        s
    };
    Some(match (agent, variant) {
        ("claude-code", "hardened" | "opt-nonessential") => set(CLAUDE_NONESSENTIAL),
        ("claude-code", "opt-telemetry") => set(&[
            "GET api.anthropic.com/api/claude_code/organizations/metrics_enabled",
            "POST api.anthropic.com/api/eval/sdk-zAZezfDKGoZuXXKe",
            "POST api.anthropic.com/api/event_logging/v2/batch",
        ]),
        ("claude-code", "opt-autoupdater" | "opt-error-reporting" | "opt-feedback-command" | "opt-feedback-survey") => {
            set(&[])
        }
        ("codex", "hardened") => all_codex(),
        ("codex", "opt-analytics" | "opt-otel-metrics-exporter") => set(&[CODEX_METRICS]),
        ("codex", "opt-plugins") => set(CODEX_PLUGINS),
        ("codex", "opt-otel-exporter" | "opt-update-check") => set(&[]),
        ("copilot-cli", "hardened" | "opt-disable-client-telemetry") => set(&[COPILOT_RELEASES, COPILOT_TELEMETRY]),
        ("copilot-cli", "opt-no-auto-update" | "opt-auto-update-env") => set(&[]),
        ("gemini-cli", "hardened" | "opt-usage-statistics") => set(&[GEMINI_CLEARCUT]),
        ("gemini-cli", "opt-telemetry" | "opt-auto-update") => set(&[]),
        ("opencode", "hardened" | "opt-models-fetch") => set(&[OPENCODE_MODELS]),
        (
            "opencode",
            "opt-autoupdate" | "opt-autoupdate-config" | "opt-default-plugins" | "opt-lsp-download" | "opt-share",
        ) => set(&[]),
        ("continue", "hardened" | "opt-telemetry-env" | "opt-anonymous-telemetry") => set(&[]),
        ("pi", "hardened" | "opt-skip-version-check" | "opt-offline") => set(&[]),
        _ => return None,
    })
}

fn variants(agent: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir().join(agent))
        .unwrap_or_else(|e| panic!("fixtures/agents/{agent}: {e}"))
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json").map(str::to_owned))
        .collect();
    out.sort();
    out
}

#[test]
fn every_agent_has_default_hardened_and_opt_outs_with_captures() {
    for (agent, _) in AGENTS {
        let vs = variants(agent);
        assert!(vs.iter().any(|v| v == "default"), "{agent}: no default.json");
        assert!(vs.iter().any(|v| v == "hardened"), "{agent}: no hardened.json");
        assert!(vs.iter().filter(|v| v.starts_with("opt-")).count() >= 2, "{agent}: fewer than two opt-outs: {vs:?}");
        for v in &vs {
            // A recording without an expectation here is untested: add it to expected_removed.
            assert!(v == "default" || expected_removed(agent, v).is_some(), "{agent}/{v}: no expectation");
            let pcap = dir().join(agent).join(format!("{v}.pcap"));
            let size = std::fs::metadata(&pcap).map(|m| m.len()).unwrap_or(0);
            assert!(size > 24, "{agent}/{v}.pcap: missing or empty");
        }
    }
    let versions = std::fs::read_to_string(dir().join("VERSIONS")).unwrap_or_default();
    for pkg in ["@anthropic-ai/claude-code", "@openai/codex", "@github/copilot", "@google/gemini-cli", "opencode-ai"] {
        assert!(versions.lines().any(|l| l.starts_with(&format!("{pkg} "))), "VERSIONS lacks {pkg}");
    }
}

#[test]
fn every_run_was_sealed_and_only_the_model_was_answered() {
    for (agent, _) in AGENTS {
        for v in variants(agent) {
            let r = report(agent, &v);
            let sealed = &r["sealed"];
            assert_eq!(sealed["trust_ca"], true, "{agent}/{v}");
            assert_eq!(sealed["emulate"], true, "{agent}/{v}");
            assert_eq!(sealed["default_status"], 404, "{agent}/{v}");
            let mut answered = 0;
            for flow in arr(&r["flows"]) {
                for req in arr(&flow["requests"]) {
                    let path = req["path"].as_str().unwrap_or("");
                    if req["status"] == 200 {
                        answered += 1;
                        // Only model endpoints get a 200: every product request in the report is the agent's own
                        // initiative, answered 404.
                        assert_eq!(req["class"], "model", "{agent}/{v}: {path} answered 200");
                    } else {
                        assert!(req["status"] == 404 || req["status"] == 426, "{agent}/{v}: {path} {}", req["status"]);
                    }
                }
            }
            let stdout = std::fs::read_to_string(dir().join(agent).join(format!("{v}.stdout"))).unwrap_or_default();
            assert!(answered >= 1, "{agent}/{v}: no model reply: not a completed turn");
            assert!(sealed["sink"]["emulated_model_replies"].as_u64().unwrap_or(0) >= 1, "{agent}/{v}");
            assert_eq!(stdout.trim(), "OK", "{agent}/{v}: the agent did not print the emulated answer");
            if *agent == "copilot-cli" {
                // Copilot reaches its model through GitHub's user lookup and Copilot's model list, which the sink
                // plays as part of the model's own path.
                assert!(requests(&r).contains("GET api.github.com/copilot_internal/user"), "{agent}/{v}");
                assert!(requests(&r).contains("POST api.individual.githubcopilot.com/responses"), "{agent}/{v}");
            }
        }
    }
}

#[test]
fn each_opt_out_removes_what_was_recorded_and_adds_nothing() {
    for (agent, _) in AGENTS {
        let default = requests(&report(agent, "default"));
        for v in variants(agent).into_iter().filter(|v| v != "default") {
            let Some(expected) = expected_removed(agent, &v) else { continue };
            let removed = diff_requests(agent, "default", &v, "removed");
            assert_eq!(removed, expected, "{agent}: default → {v} removed");
            assert_eq!(diff_requests(agent, "default", &v, "added"), BTreeSet::new(), "{agent}: default → {v} added");
            // The same from the reports themselves: diff must agree with a plain set difference.
            let after = requests(&report(agent, &v));
            let gone: BTreeSet<String> = default.difference(&after).cloned().collect();
            assert_eq!(gone, expected, "{agent}/{v}: set difference");
            assert!(after.is_subset(&default), "{agent}/{v}: requests default never made: {after:?}");
        }
    }
}

#[test]
fn the_issue_evidence_one_switch_at_a_time() {
    let claude = diff_requests("claude-code", "default", "opt-nonessential", "removed");
    for p in
        ["bootstrap", "/api/eval/", "event_logging", "metrics_enabled", "penguin_mode", "server-urls", "/api/hello"]
    {
        assert!(claude.iter().any(|r| r.contains(p)), "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC did not remove {p}");
    }
    let kept = requests(&report("claude-code", "opt-nonessential"));
    assert_eq!(
        kept,
        set(&[
            "GET api.anthropic.com/api/claude_code/policy_limits",
            "GET api.anthropic.com/api/claude_code/settings",
            "POST api.anthropic.com/v1/messages",
        ])
    );
    for v in ["opt-autoupdater", "opt-error-reporting"] {
        assert_eq!(requests(&report("claude-code", v)), requests(&report("claude-code", "default")), "claude-code {v}");
    }
    assert!(diff_requests("codex", "default", "opt-analytics", "removed").contains(CODEX_METRICS));
    assert!(requests(&report("codex", "opt-otel-exporter")).contains(CODEX_METRICS));
    let copilot = diff_requests("copilot-cli", "default", "opt-disable-client-telemetry", "removed");
    assert!(copilot.contains(COPILOT_RELEASES) && copilot.contains(COPILOT_TELEMETRY), "{copilot:?}");
    // Copilot posts its telemetry after the model's reply: only a completed turn shows it.
    assert!(requests(&report("copilot-cli", "default")).contains(COPILOT_TELEMETRY));
    assert_eq!(
        requests(&report("copilot-cli", "opt-no-auto-update")),
        requests(&report("copilot-cli", "default")),
        "--no-auto-update alone removes nothing"
    );
}

fn hosts_of(report: &Value) -> BTreeSet<String> {
    arr(&report["flows"]).iter().filter_map(|f| f["host"].as_str().map(str::to_owned)).collect()
}

fn dns_names_of(report: &Value) -> BTreeSet<String> {
    arr(&report["dns"]["questions"]).iter().filter_map(|q| q["name"].as_str().map(str::to_owned)).collect()
}

#[test]
fn replaying_each_capture_names_the_same_hosts_as_the_sealed_report() {
    for (agent, _) in AGENTS {
        for v in variants(agent) {
            let recorded = report(agent, &v);
            let pcap = dir().join(agent).join(format!("{v}.pcap"));
            let mut args =
                vec!["replay".to_owned(), pcap.to_string_lossy().into_owned(), "--format".into(), "json".into()];
            args.extend(judge_args(agent));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (code, replayed) = egress_audit(&args);
            assert!(code == 0 || code == 1, "{agent}/{v}: replay exit {code}");
            let hosts = hosts_of(&recorded);
            assert!(!hosts.is_empty(), "{agent}/{v}: no named flow");
            assert_eq!(hosts_of(&replayed), hosts, "{agent}/{v}: hosts");
            assert_eq!(dns_names_of(&replayed), dns_names_of(&recorded), "{agent}/{v}: DNS names");
        }
    }
}

/// Hosts judged a violation in the hardened run: what no documented switch removes.
fn hardened_unavoidable(agent: &str) -> BTreeSet<String> {
    match agent {
        // The npm metadata of @opencode-ai/plugin, fetched even with OPENCODE_DISABLE_DEFAULT_PLUGINS=1.
        "opencode" => set(&["registry.npmjs.org"]),
        // cn's version check GET /cn/info?id=<machine hash>: no setting removes it.
        "continue" => set(&["api.continue.dev"]),
        _ => set(&[]),
    }
}

fn violating_hosts(report: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for flow in arr(&report["flows"]) {
        for req in arr(&flow["requests"]) {
            if req["verdict"] == "violation" {
                out.insert(req["host"].as_str().unwrap_or("?").to_owned());
            }
        }
        if flow["verdict"] == "violation" {
            out.insert(flow["host"].as_str().unwrap_or("?").to_owned());
        }
    }
    out
}

#[test]
fn hardened_runs_violate_only_what_no_switch_removes() {
    for (agent, _) in AGENTS {
        let hardened = report(agent, "hardened");
        assert_eq!(violating_hosts(&hardened), hardened_unavoidable(agent), "{agent}: hardened violations");
        assert_eq!(hardened["summary"]["result"] == "pass", hardened_unavoidable(agent).is_empty(), "{agent}");
    }
    // Where a default run sends telemetry, the profile catches it by path on the model's own host.
    let claude = report("claude-code", "default");
    let telemetry: Vec<&Value> =
        arr(&claude["flows"]).iter().flat_map(|f| arr(&f["requests"])).filter(|r| r["class"] == "telemetry").collect();
    assert!(!telemetry.is_empty());
    assert!(telemetry.iter().all(|r| r["verdict"] == "violation" && r["host"] == "api.anthropic.com"));
    for agent in ["codex", "gemini-cli", "opencode"] {
        assert_eq!(report(agent, "default")["summary"]["result"], "fail", "{agent} default");
    }
}

#[test]
fn hardened_captures_replay_clean_where_the_report_is() {
    for (agent, _) in AGENTS {
        let pcap = dir().join(agent).join("hardened.pcap");
        let mut args = vec!["replay".to_owned(), pcap.to_string_lossy().into_owned(), "--format".into(), "json".into()];
        args.extend(judge_args(agent));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, replayed) = egress_audit(&args);
        let expect = if hardened_unavoidable(agent).is_empty() { 0 } else { 1 };
        assert_eq!(code, expect, "{agent}: replay of hardened.pcap: {}", replayed["summary"]);
    }
}
