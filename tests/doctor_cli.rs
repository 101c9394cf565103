//! `egress-audit doctor` through the real binary on a fake home.

use std::process::Command;

#[test]
fn doctor_reports_a_codex_profile_and_prints_the_fix() {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(home.path().join(".codex")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        home.path().join(".codex/config.toml"),
        "[analytics]\nenabled = false\n[otel]\nmetrics_exporter = \"none\"\n[profiles.work.analytics]\nenabled = true\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(env!("CARGO_BIN_EXE_egress-audit"))
        .args(["doctor", "--agent", "codex", "--format", "json", "--home"])
        .arg(home.path())
        .env_remove("CODEX_HOME")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let status =
        |id: &str| r["findings"].as_array().into_iter().flatten().find(|f| f["id"] == id).map(|f| f["status"].clone());
    assert_eq!(status("codex.analytics.enabled"), Some("pass".into()));
    assert_eq!(status("codex.analytics.enabled@profile.work"), Some("fail".into()), "{r}");
    let fix = Command::new(env!("CARGO_BIN_EXE_egress-audit"))
        .args(["doctor", "--agent", "codex", "--print-fix", "--home"])
        .arg(home.path())
        .env_remove("CODEX_HOME")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&fix.stdout);
    assert!(text.contains("[profiles.work.analytics]") && text.contains("enabled = false"), "{text}");
}
