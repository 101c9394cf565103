//! The catalog commands through the real binary: lint, export, diff, and block-list import.

use std::process::Command;

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_egress-audit")).args(args).output().unwrap_or_else(|e| panic!("{e}"));
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn lint_reports_the_shipped_catalogs_known_findings() {
    let (code, text) = run(&["catalog", "lint"]);
    assert_eq!(code, 1);
    // Two redundant cursor rules kept for their sources, and github.com's path rule that is meant to match
    // nothing without a path (github.com itself is deliberately unclassified: see vendors.toml).
    assert!(text.contains("*.gcpp.cursor.sh") && text.contains("3 finding(s)"), "{text}");
    assert!(text.contains("unreachable-path: github.com"), "{text}");
}

#[test]
fn export_blocks_telemetry_but_never_the_chosen_model() {
    let (code, text) = run(&["catalog", "export", "--format", "dnsmasq", "--profile", "claude-code"]);
    assert_eq!(code, 0);
    assert!(text.contains("address=/statsig.anthropic.com/"), "{text}");
    assert!(!text.lines().any(|l| l.starts_with("address=/api.anthropic.com/")), "the model is never blocked");
    let (_, codex) = run(&["catalog", "export", "--format", "hosts", "--profile", "codex"]);
    assert!(codex.contains("api.anthropic.com") && !codex.lines().any(|l| l.ends_with(" api.openai.com")));
}

#[test]
fn diff_finds_a_denylist_that_blocks_the_model() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let list = dir.path().join("deny.txt");
    std::fs::write(&list, "0.0.0.0 statsig.anthropic.com\n0.0.0.0 api.anthropic.com\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let (code, text) = run(&["catalog", "diff", "--against", &list.to_string_lossy(), "--profile", "claude-code"]);
    assert_eq!(code, 1);
    assert!(text.contains("blocks what the policy allows (1)") && text.contains("api.anthropic.com\tmodel"), "{text}");
}

#[test]
fn a_community_block_list_extends_the_catalog() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let list = dir.path().join("adguard.txt");
    std::fs::write(&list, "! a block list\n||evil-telemetry.example^\n@@||good.evil-telemetry.example^\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let path = list.to_string_lossy().into_owned();
    let (_, text) =
        run(&["catalog", "lookup", "evil-telemetry.example", "--catalog", &path, "--profile", "claude-code"]);
    assert!(text.contains("class:   telemetry") && text.contains("verdict: violation"), "{text}");
    let (_, text) =
        run(&["catalog", "lookup", "x.evil-telemetry.example", "--catalog", &path, "--import-class", "experiments"]);
    assert!(text.contains("class:   experiments"), "{text}");
}
