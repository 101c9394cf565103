//! `doctor` against fake HOME trees built in temp dirs: default, hardened, half-hardened, a Codex profile that
//! re-enables analytics, JSONC, malformed files, unreadable files, symlinks; the renderers and `--print-fix`.

// Helpers outside #[test] functions too: in a test a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use egress_audit::doctor::{self, DoctorOptions, DoctorReport, Fix, Status};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::PathBuf;
use tempfile::TempDir;

struct Machine {
    dir: TempDir,
}

impl Machine {
    fn new() -> Self {
        let m = Machine { dir: tempfile::tempdir().unwrap() };
        fs::create_dir_all(m.home()).unwrap();
        fs::create_dir_all(m.root()).unwrap();
        fs::create_dir_all(m.project()).unwrap();
        m
    }
    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }
    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    fn project(&self) -> PathBuf {
        self.dir.path().join("project")
    }
    /// Writes `text` at `rel` under home (`~/…`), the project (`{project}/…`) or the system root (`/…`).
    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.path(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        path
    }
    fn mkdir(&self, rel: &str) -> PathBuf {
        let path = self.path(rel);
        fs::create_dir_all(&path).unwrap();
        path
    }
    fn path(&self, rel: &str) -> PathBuf {
        if let Some(r) = rel.strip_prefix("~/") {
            self.home().join(r)
        } else if let Some(r) = rel.strip_prefix("{project}/") {
            self.project().join(r)
        } else {
            self.root().join(rel.trim_start_matches('/'))
        }
    }
    fn opts(&self, env: &[(&str, &str)], hardened: bool) -> DoctorOptions {
        DoctorOptions {
            home: self.home(),
            project_dir: Some(self.project()),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
            agent: None,
            hardened,
            system_root: self.root(),
        }
    }
}

fn status(r: &DoctorReport, id: &str) -> Status {
    r.finding(id).unwrap_or_else(|| panic!("no finding {id}; have {:?}", ids(r))).status
}

fn ids(r: &DoctorReport) -> Vec<&str> {
    r.findings.iter().map(|f| f.id.as_str()).collect()
}

fn found(r: &DoctorReport, id: &str) -> String {
    r.finding(id).unwrap().found.clone()
}

/// Every editor and agent present, nothing configured.
fn installed(m: &Machine) {
    for d in ["~/.claude", "~/.codex", "~/.gemini", "~/.copilot", "~/.config/opencode", "~/.continue", "~/.pi"] {
        m.mkdir(d);
    }
    m.mkdir("~/.config/Code/User");
}

#[test]
fn default_home_fails_the_documented_switches() {
    let m = Machine::new();
    installed(&m);
    let r = doctor::run(&m.opts(&[], false));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    for id in [
        "claude-code.env.CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
        "claude-code.env.DISABLE_TELEMETRY",
        "claude-code.env.DISABLE_ERROR_REPORTING",
        "claude-code.env.DISABLE_FEEDBACK_COMMAND",
        "claude-code.env.CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY",
        "codex.analytics.enabled",
        "codex.otel.metrics_exporter",
        "gemini.privacy.usageStatisticsEnabled",
        "vscode.telemetry.telemetryLevel",
        "vscode.workbench.enableExperiments",
        "continue.env.CONTINUE_TELEMETRY_ENABLED",
        "pi.env.PI_SKIP_VERSION_CHECK",
    ] {
        assert_eq!(status(&r, id), Status::Fail, "{id}");
    }
    // Defaults that are already safe pass without a file.
    for id in
        ["codex.otel.exporter", "codex.otel.trace_exporter", "codex.otel.log_user_prompt", "gemini.telemetry.enabled"]
    {
        assert_eq!(status(&r, id), Status::Pass, "{id}");
        assert!(found(&r, id).starts_with("not set (default"), "{id}");
    }
    assert_eq!(status(&r, "claude-code.cache.telemetry"), Status::Pass);
    // Hardened-only checks, tools that are not installed, extensions that are not installed, and
    // credentials outside a hardened profile are not judged.
    for id in [
        "claude-code.env.DISABLE_AUTOUPDATER",
        "gemini.general.enableAutoUpdate",
        "opencode.env.OPENCODE_DISABLE_MODELS_FETCH",
        "cursor.telemetry.telemetryLevel",
        "vscodium.telemetry.telemetryLevel",
        "vscode.continue.telemetryEnabled",
        "vscode.cline.telemetry",
        "continue.config.allowAnonymousTelemetry",
        "credentials.ssh",
    ] {
        assert_eq!(status(&r, id), Status::NotApplicable, "{id}");
    }
    assert_eq!(status(&r, "copilot-cli.telemetry"), Status::Unknown);
    // Every finding carries why and source; the measured ones carry their known-ineffective note.
    assert!(r.findings.iter().all(|f| !f.why.is_empty() && !f.source.is_empty()));
    assert!(
        r.finding("continue.env.CONTINUE_TELEMETRY_ENABLED")
            .unwrap()
            .known_ineffective
            .as_deref()
            .unwrap()
            .contains("1.5.47")
    );
    assert!(r.finding("codex.otel.exporter").unwrap().known_ineffective.is_some());
    let f = r.finding("claude-code.env.DISABLE_TELEMETRY").unwrap();
    assert_eq!(f.file.as_deref(), Some(m.path("~/.claude/settings.json").as_path()));
    assert_eq!(
        f.fix,
        Some(Fix::Json {
            file: m.path("~/.claude/settings.json"),
            merge: serde_json::json!({"env": {"DISABLE_TELEMETRY": "1"}})
        })
    );
    assert_eq!(r.summary.exit_code, 1);
    assert_eq!(r.summary.result, "fail");
}

#[test]
fn nothing_installed_is_all_not_applicable() {
    let m = Machine::new();
    let r = doctor::run(&m.opts(&[], false));
    assert!(r.findings.iter().filter(|f| f.tool != "credentials").all(|f| f.status == Status::NotApplicable));
    assert_eq!(r.summary.exit_code, 0);
    assert_eq!(r.summary.tools_present, vec!["credentials".to_string()]);
    // A binary on PATH is enough to make a tool present.
    let bin = m.mkdir("/usr/bin");
    fs::write(bin.join("codex"), "#!/bin/sh\n").unwrap();
    let r = doctor::run(&m.opts(&[("PATH", bin.to_str().unwrap())], false));
    assert_eq!(status(&r, "codex.analytics.enabled"), Status::Fail);
}

fn harden(m: &Machine) {
    installed(m);
    m.write(
        "~/.claude/settings.json",
        r#"{"env": {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_TELEMETRY": 1, "DISABLE_ERROR_REPORTING": "1",
            "DISABLE_FEEDBACK_COMMAND": "1", "CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY": "true", "DISABLE_AUTOUPDATER": "1",
            "CLAUDE_CODE_SUBPROCESS_ENV_SCRUB": "1"}}"#,
    );
    m.write(
        "~/.codex/config.toml",
        "model = \"o3\"\n[analytics]\nenabled = false\n[otel]\nexporter = \"none\"\nmetrics_exporter = \"none\"\ntrace_exporter = \"none\"\nlog_user_prompt = false\n",
    );
    m.write(
        "~/.gemini/settings.json",
        r#"{"privacy": {"usageStatisticsEnabled": false}, "telemetry": {"enabled": false}, "general": {"disableAutoUpdate": true}}"#,
    );
    m.write(
        "~/.config/Code/User/settings.json",
        r#"{"telemetry.telemetryLevel": "off", "workbench.enableExperiments": false,
            "workbench.settings.enableNaturalLanguageSearch": false, "update.mode": "none", "extensions.autoUpdate": false}"#,
    );
    m.write("~/.config/opencode/opencode.json", r#"{"autoupdate": false, "share": "disabled"}"#);
    m.write("~/.continue/config.json", r#"{"allowAnonymousTelemetry": false}"#);
    m.mkdir("~/.claude/telemetry");
}

const HARDENED_ENV: [(&str, &str); 6] = [
    ("OPENCODE_DISABLE_MODELS_FETCH", "1"),
    ("OPENCODE_DISABLE_LSP_DOWNLOAD", "true"),
    ("CONTINUE_TELEMETRY_ENABLED", "0"),
    ("PI_SKIP_VERSION_CHECK", "1"),
    ("PI_OFFLINE", "1"),
    ("COPILOT_AUTO_UPDATE", "false"),
];

#[test]
fn hardened_home_passes() {
    let m = Machine::new();
    harden(&m);
    let r = doctor::run(&m.opts(&HARDENED_ENV, true));
    let failing: Vec<_> = r.findings.iter().filter(|f| f.status == Status::Fail).map(|f| (&f.id, &f.found)).collect();
    assert!(failing.is_empty(), "{failing:?}");
    // Only the switches no file can show stay unknown.
    let unknown: Vec<&str> = r.findings.iter().filter(|f| f.status == Status::Unknown).map(|f| f.id.as_str()).collect();
    assert_eq!(unknown, vec!["copilot-cli.telemetry"]);
    for id in [
        "claude-code.env.DISABLE_AUTOUPDATER",
        "claude-code.env.CLAUDE_CODE_SUBPROCESS_ENV_SCRUB",
        "gemini.general.enableAutoUpdate",
        "vscode.update.mode",
        "opencode.autoupdate",
        "opencode.share",
        "credentials.ssh",
        "credentials.aws",
    ] {
        assert_eq!(status(&r, id), Status::Pass, "{id}");
    }
    assert_eq!(status(&r, "claude-code.cache.telemetry"), Status::Pass);
    assert_eq!(found(&r, "claude-code.cache.telemetry"), "empty");
    // A numeric 1 in the env block counts as "1".
    assert!(found(&r, "claude-code.env.DISABLE_TELEMETRY").starts_with("1 (env block of"));
    assert_eq!(r.summary.exit_code, 0);
    assert_eq!(doctor::fixes(&r).lines().filter(|l| !l.starts_with('#') && !l.is_empty()).count(), 0);
}

#[test]
fn half_hardened_home() {
    let m = Machine::new();
    installed(&m);
    // One Claude switch in the process environment covers the four it implies, not the survey.
    m.write("~/.claude/settings.json", r#"{"env": {"CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY": "1"}}"#);
    // A project-local file overrides the user's survey switch.
    let local =
        m.write("{project}/.claude/settings.local.json", r#"{"env": {"CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY": "0"}}"#);
    // Managed settings win over everything.
    let managed =
        m.write("/etc/claude-code/managed-settings.json", r#"{"env": {"CLAUDE_CODE_SUBPROCESS_ENV_SCRUB": "0"}}"#);
    m.write("~/.codex/config.toml", "[otel]\nexporter = \"none\"\n");
    m.write("~/.gemini/settings.json", r#"{"usageStatisticsEnabled": false}"#);
    m.mkdir("~/.ssh");
    let r = doctor::run(
        &m.opts(&[("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"), ("CLAUDE_CODE_SUBPROCESS_ENV_SCRUB", "1")], true),
    );
    assert_eq!(status(&r, "claude-code.env.CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"), Status::Pass);
    assert_eq!(found(&r, "claude-code.env.CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"), "1 (process environment)");
    for id in [
        "claude-code.env.DISABLE_TELEMETRY",
        "claude-code.env.DISABLE_ERROR_REPORTING",
        "claude-code.env.DISABLE_AUTOUPDATER",
    ] {
        assert_eq!(status(&r, id), Status::Pass, "{id}");
        assert!(found(&r, id).starts_with("covered by CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"), "{id}");
    }
    let survey = r.finding("claude-code.env.CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY").unwrap();
    assert_eq!(survey.status, Status::Fail);
    assert_eq!(survey.file.as_deref(), Some(local.as_path()));
    assert!(matches!(&survey.fix, Some(Fix::Json { file, .. }) if file == &local));
    let scrub = r.finding("claude-code.env.CLAUDE_CODE_SUBPROCESS_ENV_SCRUB").unwrap();
    assert_eq!(scrub.status, Status::Fail, "managed settings override the process environment");
    assert_eq!(scrub.file.as_deref(), Some(managed.as_path()));
    // Codex: the otel exporter alone passes its own check but is known not to remove the metrics.
    assert_eq!(status(&r, "codex.otel.exporter"), Status::Pass);
    assert_eq!(found(&r, "codex.otel.exporter"), "\"none\"");
    assert_eq!(status(&r, "codex.analytics.enabled"), Status::Fail);
    // Gemini's older flat spelling is read.
    assert_eq!(status(&r, "gemini.privacy.usageStatisticsEnabled"), Status::Pass);
    assert_eq!(
        r.finding("gemini.privacy.usageStatisticsEnabled").unwrap().key.as_deref(),
        Some("usageStatisticsEnabled")
    );
    assert_eq!(status(&r, "gemini.general.enableAutoUpdate"), Status::Fail);
    assert_eq!(status(&r, "credentials.ssh"), Status::Fail);
    assert_eq!(status(&r, "credentials.aws"), Status::Pass);
    assert_eq!(r.summary.exit_code, 1);
}

#[test]
fn codex_profile_that_reenables_analytics() {
    let m = Machine::new();
    let codex_home = m.mkdir("/srv/codex-home");
    fs::write(
        codex_home.join("config.toml"),
        "[analytics]\nenabled = false\n[otel]\nmetrics_exporter = \"none\"\n\n[profiles.work]\nmodel = \"o3\"\nanalytics.enabled = true\n\n[profiles.safe]\nmodel = \"o4-mini\"\n[profiles.safe.otel]\nlog_user_prompt = false\n",
    )
    .unwrap();
    let r = doctor::run(&m.opts(&[("CODEX_HOME", codex_home.to_str().unwrap())], false));
    assert_eq!(status(&r, "codex.analytics.enabled"), Status::Pass);
    let work = r.finding("codex.analytics.enabled@profile.work").unwrap();
    assert_eq!(work.status, Status::Fail);
    assert_eq!(work.key.as_deref(), Some("profiles.work.analytics.enabled"));
    assert_eq!(work.file.as_deref(), Some(codex_home.join("config.toml").as_path()));
    assert!(r.finding("codex.analytics.enabled@profile.safe").is_none(), "a profile that does not set it inherits");
    assert_eq!(status(&r, "codex.otel.log_user_prompt@profile.safe"), Status::Pass);
    // The fix is a TOML table that the TOML parser reads back as exactly that key.
    let fix = doctor::fixes(&r);
    let snippet: String = fix
        .split("# ")
        .find(|s| s.contains("config.toml: merge"))
        .unwrap()
        .lines()
        .skip(1)
        .collect::<Vec<_>>()
        .join("\n");
    let parsed: toml::Table = toml::from_str(&snippet).unwrap();
    assert_eq!(parsed["profiles"]["work"]["analytics"]["enabled"], toml::Value::Boolean(false));
    assert_eq!(parsed.len(), 1, "{snippet}");
}

#[test]
fn jsonc_parses_and_malformed_files_are_findings() {
    let m = Machine::new();
    installed(&m);
    m.write(
        "~/.config/Code/User/settings.json",
        "// VS Code writes JSONC\n{\n  /* block\n     comment */\n  \"telemetry.telemetryLevel\": \"off\", // trailing\n  \"editor.fontSize\": 14,\n  \"files.exclude\": {\"**/.git\": true,},\n}\n",
    );
    let gemini = m.write(
        "~/.gemini/settings.json",
        "{\n  \"privacy\": {\n    \"usageStatisticsEnabled\": false\n  }\n  \"telemetry\": {}\n}\n",
    );
    let codex = m.write("~/.codex/config.toml", "[analytics]\nenabled = false\n[otel\nexporter = \"none\"\n");
    let r = doctor::run(&m.opts(&[], false));
    assert_eq!(status(&r, "vscode.telemetry.telemetryLevel"), Status::Pass);
    let bad = r.finding("gemini.file.malformed").unwrap();
    assert_eq!(bad.status, Status::Fail);
    assert_eq!(bad.file.as_deref(), Some(gemini.as_path()));
    assert_eq!(bad.line, Some(5));
    assert_eq!(status(&r, "gemini.privacy.usageStatisticsEnabled"), Status::Unknown);
    let bad = r.finding("codex.file.malformed").unwrap();
    assert_eq!(bad.file.as_deref(), Some(codex.as_path()));
    assert_eq!(bad.line, Some(3));
    assert_eq!(status(&r, "codex.analytics.enabled"), Status::Unknown);
    // One finding per malformed file, however many checks read it.
    assert_eq!(r.findings.iter().filter(|f| f.id == "codex.file.malformed").count(), 1);
    let mut table = Vec::new();
    doctor::render::table(&r, &mut table).unwrap();
    let table = String::from_utf8(table).unwrap();
    assert!(table.contains(&format!("{}:5", gemini.display())), "{table}");
}

#[test]
fn unreadable_files_are_unknown_unless_really_readable() {
    let m = Machine::new();
    installed(&m);
    let settings = m.write("~/.gemini/settings.json", r#"{"privacy": {"usageStatisticsEnabled": false}}"#);
    fs::set_permissions(&settings, fs::Permissions::from_mode(0o000)).unwrap();
    let ssh = m.mkdir("~/.ssh");
    fs::write(ssh.join("id_ed25519"), "key").unwrap();
    fs::set_permissions(&ssh, fs::Permissions::from_mode(0o000)).unwrap();
    // Root reads through mode 000: the audit asks the kernel (open), not the mode bits.
    let root_reads = fs::read(&settings).is_ok();
    let r = doctor::run(&m.opts(&[], true));
    if root_reads {
        assert_eq!(status(&r, "gemini.privacy.usageStatisticsEnabled"), Status::Pass);
        assert!(r.finding("gemini.file.unreadable").is_none());
        assert_eq!(status(&r, "credentials.ssh"), Status::Fail);
    } else {
        assert_eq!(status(&r, "gemini.file.unreadable"), Status::Unknown);
        assert_eq!(status(&r, "gemini.privacy.usageStatisticsEnabled"), Status::Unknown);
        assert_eq!(status(&r, "credentials.ssh"), Status::Pass);
    }
    fs::set_permissions(&ssh, fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn symlinks_are_followed_and_reported() {
    let m = Machine::new();
    installed(&m);
    let dotfiles = m.write("/dotfiles/claude.json", r#"{"env": {"DISABLE_TELEMETRY": "1"}}"#);
    symlink(&dotfiles, m.path("~/.claude/settings.json")).unwrap();
    let secrets = m.mkdir("/secrets/aws");
    symlink(&secrets, m.path("~/.aws")).unwrap();
    m.mkdir("~/.config/Code/User");
    symlink(m.path("/nowhere/settings.json"), m.path("~/.config/Code/User/settings.json")).unwrap();
    let r = doctor::run(&m.opts(&[], true));
    assert_eq!(status(&r, "claude-code.env.DISABLE_TELEMETRY"), Status::Pass);
    assert_eq!(status(&r, "credentials.aws"), Status::Fail);
    assert!(found(&r, "credentials.aws").contains("symlink ->"));
    let dangling = r.finding("vscode.file.unreadable").unwrap();
    assert_eq!(dangling.status, Status::Unknown);
    assert!(dangling.found.contains("dangling symlink"), "{}", dangling.found);
    assert_eq!(status(&r, "vscode.telemetry.telemetryLevel"), Status::Unknown);
}

#[test]
fn telemetry_queue_and_extensions() {
    let m = Machine::new();
    installed(&m);
    let queue = m.write("~/.claude/telemetry/1p_failed_events.a.json", "{\"events\": [1, 2, 3]}");
    m.write("~/.claude/telemetry/1p_failed_events.b.json", "{}");
    m.mkdir("~/.vscode/extensions/continue.continue-1.2.3-linux-x64");
    m.mkdir("~/.vscode/extensions/saoudrizwan.claude-dev-3.0.0");
    let r = doctor::run(&m.opts(&[], false));
    let cache = r.finding("claude-code.cache.telemetry").unwrap();
    assert_eq!(cache.status, Status::Fail);
    assert!(cache.found.starts_with("2 file(s), 23 B"), "{}", cache.found);
    assert_eq!(status(&r, "vscode.continue.telemetryEnabled"), Status::Fail);
    assert_eq!(status(&r, "vscode.cline.telemetry"), Status::Unknown);
    assert_eq!(status(&r, "vscode.github.copilot.snippet-collection"), Status::NotApplicable);
    let fix = doctor::fixes(&r);
    assert!(fix.contains(&format!("rm -rf -- {}", queue.parent().unwrap().display())), "{fix}");
    // The VS Code snippet is flat (as VS Code writes keys) and parses as JSON.
    let vscode = fix.split("# ").find(|s| s.contains("Code/User/settings.json: merge")).unwrap();
    let json: serde_json::Value = serde_json::from_str(vscode.split_once('\n').unwrap().1).unwrap();
    assert_eq!(json["telemetry.telemetryLevel"], "off");
    assert_eq!(json["continue.telemetryEnabled"], false);
    assert!(fix.contains("export CONTINUE_TELEMETRY_ENABLED=0"));
}

#[test]
fn agent_filter_and_usage_errors() {
    let m = Machine::new();
    installed(&m);
    let mut o = m.opts(&[], false);
    o.agent = Some("Codex".into());
    let r = doctor::run(&o);
    assert!(r.findings.iter().all(|f| f.tool == "codex"));
    assert!(!r.findings.is_empty());
    o.agent = Some("claude".into());
    assert!(doctor::run(&o).findings.iter().all(|f| f.tool == "claude-code"));
    // An explicitly named agent is judged even when nothing of it is found.
    o.agent = Some("cursor".into());
    assert_eq!(status(&doctor::run(&o), "cursor.telemetry.telemetryLevel"), Status::Fail);
    o.agent = Some("nope".into());
    let r = doctor::run(&o);
    assert_eq!(r.summary.exit_code, 2);
    assert!(r.errors[0].contains("unknown agent"));
    let mut o = m.opts(&[], false);
    o.home = m.path("~/missing");
    assert_eq!(doctor::run(&o).summary.exit_code, 2);
}

#[test]
fn renderers_escape_file_text() {
    let m = Machine::new();
    installed(&m);
    m.write("~/.gemini/settings.json", "{\"privacy\": {\"usageStatisticsEnabled\": \"\\u001b[31mred\"}}");
    let r = doctor::run(&m.opts(&[], false));
    for render in [doctor::render::table, doctor::render::markdown, doctor::render::json] {
        let mut out = Vec::new();
        render(&r, &mut out).unwrap();
        assert!(!out.contains(&0x1b), "escape byte reached the output");
    }
    let mut out = Vec::new();
    doctor::render::json(&r, &mut out).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["schema"], "egress-audit/doctor/v1");
    assert_eq!(v["summary"]["exit_code"], 1);
    let f =
        v["findings"].as_array().unwrap().iter().find(|f| f["id"] == "gemini.privacy.usageStatisticsEnabled").unwrap();
    assert_eq!(f["status"], "fail");
    for key in ["tool", "file", "key", "found", "expected", "why", "source", "known_ineffective", "fix"] {
        assert!(f.get(key).is_some(), "{key}");
    }
    let mut md = Vec::new();
    doctor::render::markdown(&r, &mut md).unwrap();
    let md = String::from_utf8(md).unwrap();
    assert!(md.starts_with("## ❌ egress-audit doctor: FAIL"), "{md}");
}

#[test]
fn continue_config_yaml() {
    const ID: &str = "continue.config.allowAnonymousTelemetry";
    // The current YAML config switches telemetry off.
    let m = Machine::new();
    let yaml = m.write(
        "~/.continue/config.yaml",
        "name: Local\nversion: 1.0.0\nschema: v1\n# telemetry off\nallowAnonymousTelemetry: false\nmodels: []\n",
    );
    let r = doctor::run(&m.opts(&[], false));
    let f = r.finding(ID).unwrap();
    assert_eq!(f.status, Status::Pass, "{}", f.found);
    assert_eq!(f.file.as_deref(), Some(yaml.as_path()));
    // Switched on in YAML: the fix is a YAML mapping for config.yaml that a YAML parser reads back.
    m.write("~/.continue/config.yaml", "name: Local\nallowAnonymousTelemetry: true\n");
    let r = doctor::run(&m.opts(&[], false));
    let f = r.finding(ID).unwrap();
    assert_eq!(f.status, Status::Fail);
    assert_eq!(f.found, "true");
    assert_eq!(
        f.fix,
        Some(Fix::Yaml { file: yaml.clone(), merge: serde_json::json!({"allowAnonymousTelemetry": false}) })
    );
    let fix = doctor::fixes(&r);
    let snippet = fix.split("# ").find(|s| s.contains("config.yaml: merge these keys (YAML)")).unwrap();
    let parsed: serde_json::Value = serde_yaml_ng::from_str(snippet.split_once('\n').unwrap().1).unwrap();
    assert_eq!(parsed, serde_json::json!({"allowAnonymousTelemetry": false}));
    // An empty config.yaml leaves the default (on); the fix goes into the file that is there.
    m.write("~/.continue/config.yaml", "");
    let r = doctor::run(&m.opts(&[], false));
    let f = r.finding(ID).unwrap();
    assert_eq!((f.status, f.found.as_str()), (Status::Fail, "not set (default true)"));
    assert!(matches!(&f.fix, Some(Fix::Yaml { file, .. }) if file == &yaml));
    // Only the legacy config.json: read as before, fixed as JSON.
    fs::remove_file(&yaml).unwrap();
    let json = m.write("~/.continue/config.json", r#"{"models": []}"#);
    let r = doctor::run(&m.opts(&[], false));
    let f = r.finding(ID).unwrap();
    assert_eq!(f.status, Status::Fail);
    assert!(matches!(&f.fix, Some(Fix::Json { file, .. }) if file == &json), "{:?}", f.fix);
    m.write("~/.continue/config.json", r#"{"allowAnonymousTelemetry": false}"#);
    assert_eq!(status(&doctor::run(&m.opts(&[], false)), ID), Status::Pass);
}

#[test]
fn malformed_continue_yaml_is_a_finding_with_its_line() {
    let m = Machine::new();
    let yaml = m.write(
        "~/.continue/config.yaml",
        "name: Local\nversion: 1.0.0\nmodels:\n  - name: a\n    provider: [ollama\nallowAnonymousTelemetry: false\n",
    );
    let r = doctor::run(&m.opts(&[], false));
    let bad = r.finding("continue.file.malformed").unwrap();
    assert_eq!(bad.status, Status::Fail);
    assert_eq!(bad.file.as_deref(), Some(yaml.as_path()));
    assert!(bad.line.is_some_and(|l| (5..=7).contains(&l)), "{:?} {}", bad.line, bad.found);
    assert_eq!(status(&r, "continue.config.allowAnonymousTelemetry"), Status::Unknown);
    // Tabs for indentation and a bare mapping in a sequence are errors too, never a crash.
    for text in ["a:\n\tb: 1\n", "- a\nb: 1\n", "key: \"unterminated\n", "\u{feff}: :\n  - ]\n"] {
        m.write("~/.continue/config.yaml", text);
        let r = doctor::run(&m.opts(&[], false));
        let f = r.finding("continue.file.malformed").unwrap_or_else(|| panic!("{text:?}: {:?}", ids(&r)));
        assert!(f.line.is_some_and(|l| l >= 1), "{text:?}: {:?}", f.line);
    }
    // A YAML document that is not a mapping has no switch: not set, no crash.
    m.write("~/.continue/config.yaml", "- just\n- a list\n");
    let r = doctor::run(&m.opts(&[], false));
    assert_eq!(status(&r, "continue.config.allowAnonymousTelemetry"), Status::Fail);
    assert!(r.finding("continue.file.malformed").is_none());
}

/// Runs a real agent CLI once with a fresh HOME and no network (its own network namespace), so it writes
/// whatever it writes by default. `None` when no namespace can be made here.
fn run_offline(bin: &std::path::Path, home: &std::path::Path, cwd: &std::path::Path, args: &[&str]) -> Option<String> {
    for unshare in [&["-n"][..], &["-rn"][..]] {
        let probe = std::process::Command::new("unshare").args(unshare).arg("true").status();
        if !probe.is_ok_and(|s| s.success()) {
            continue;
        }
        let out = std::process::Command::new("unshare")
            .args(unshare)
            .args(["timeout", "20"])
            .arg(bin)
            .args(args)
            .current_dir(cwd)
            .env_clear()
            .env("HOME", home)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.parent().unwrap().display()))
            .env("TERM", "dumb")
            .env("OPENAI_API_KEY", "sk-offline-test")
            .stdin(std::process::Stdio::null())
            .output()
            .ok()?;
        return Some(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    None
}

/// One pinned agent CLI of `.ci/agents`: its binary, the arguments of one short offline run, and what doctor
/// must say about the files that run wrote into the fresh HOME.
struct RealAgent {
    bin: &'static str,
    args: &'static [&'static str],
    check: fn(&Machine),
}

/// Doctor's report for one agent in this machine's home.
fn agent_report(m: &Machine, agent: &str, hardened: bool) -> DoctorReport {
    let mut o = m.opts(&[], hardened);
    o.agent = Some(agent.into());
    let r = doctor::run(&o);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert!(r.summary.tools_present.contains(&agent.to_string()), "{agent} not detected: {:?}", r.summary);
    let broken: Vec<_> = r.findings.iter().filter(|f| f.id.contains(".file.")).map(|f| (&f.id, &f.found)).collect();
    assert!(broken.is_empty(), "the tool's own files parse: {broken:?}");
    r
}

const REAL_AGENTS: [RealAgent; 7] = [
    RealAgent {
        bin: "gemini",
        args: &["-p", "hi"],
        check: |m| {
            assert!(m.path("~/.gemini").is_dir(), "gemini wrote no ~/.gemini");
            let r = agent_report(m, "gemini", false);
            assert_eq!(status(&r, "gemini.privacy.usageStatisticsEnabled"), Status::Fail);
            assert_eq!(found(&r, "gemini.privacy.usageStatisticsEnabled"), "not set (default true)");
            assert_eq!(status(&r, "gemini.telemetry.enabled"), Status::Pass);
        },
    },
    RealAgent {
        bin: "codex",
        args: &["exec", "--skip-git-repo-check", "hi"],
        check: |m| {
            assert!(m.path("~/.codex").is_dir(), "codex wrote no ~/.codex");
            let r = agent_report(m, "codex", false);
            assert_eq!(status(&r, "codex.analytics.enabled"), Status::Fail);
            assert_eq!(found(&r, "codex.analytics.enabled"), "not set (default true)");
            assert_eq!(status(&r, "codex.otel.metrics_exporter"), Status::Fail);
            assert_eq!(status(&r, "codex.otel.exporter"), Status::Pass);
        },
    },
    // Claude Code without an API key exits at once, but first queues its unsent usage events.
    RealAgent {
        bin: "claude",
        args: &["-p", "hi"],
        check: |m| {
            assert!(m.path("~/.claude").is_dir(), "claude wrote no ~/.claude");
            let r = agent_report(m, "claude-code", false);
            assert!(r.finding("claude-code.file.malformed").is_none());
            for id in ["claude-code.env.CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "claude-code.env.DISABLE_TELEMETRY"]
            {
                assert_eq!(status(&r, id), Status::Fail, "{id}");
                assert_eq!(found(&r, id), "not set", "{id}");
            }
            let queue = r.finding("claude-code.cache.telemetry").unwrap();
            assert_eq!(queue.status, Status::Fail, "{}", queue.found);
            assert!(queue.found.contains("file(s)"), "{}", queue.found);
            assert_eq!(queue.fix, Some(Fix::Remove { path: m.path("~/.claude/telemetry") }));
        },
    },
    // `opencode run` waits for the network until the timeout; `debug config` loads (and writes) the same
    // global config and exits in about 2 s.
    RealAgent {
        bin: "opencode",
        args: &["debug", "config"],
        check: |m| {
            let file = m.path("~/.config/opencode/opencode.jsonc");
            assert!(file.is_file(), "opencode wrote no ~/.config/opencode/opencode.jsonc");
            let r = agent_report(m, "opencode", true);
            for (id, default) in
                [("opencode.autoupdate", "not set (default true)"), ("opencode.share", "not set (default \"manual\")")]
            {
                let f = r.finding(id).unwrap();
                assert_eq!(f.status, Status::Fail, "{id}");
                assert_eq!(f.found, default, "{id}");
            }
            assert_eq!(status(&r, "opencode.env.OPENCODE_DISABLE_MODELS_FETCH"), Status::Fail);
        },
    },
    // The Continue CLI writes logs and an index, no config.yaml: the file switch is not applicable and the
    // documented variable is reported unset (and known to be ignored by this version).
    RealAgent {
        bin: "cn",
        args: &["-p", "hi"],
        check: |m| {
            assert!(m.path("~/.continue").is_dir(), "cn wrote no ~/.continue");
            let r = agent_report(m, "continue", false);
            let config = r.finding("continue.config.allowAnonymousTelemetry").unwrap();
            if m.path("~/.continue/config.yaml").exists() || m.path("~/.continue/config.json").exists() {
                assert_ne!(config.status, Status::NotApplicable, "{}", config.found);
            } else {
                assert_eq!(config.status, Status::NotApplicable);
                assert_eq!(config.found, "no such file (the switch only exists in it)");
            }
            assert_eq!(status(&r, "continue.env.CONTINUE_TELEMETRY_ENABLED"), Status::Fail);
        },
    },
    // Copilot CLI writes ~/.copilot/config.json (JSONC, "managed automatically") and no switch: its
    // telemetry opt-out is a command-line flag that no file shows.
    RealAgent {
        bin: "copilot",
        args: &["-p", "hi"],
        check: |m| {
            assert!(m.path("~/.copilot").is_dir(), "copilot wrote no ~/.copilot");
            let config = m.path("~/.copilot/config.json");
            if config.is_file() {
                doctor::parse_jsonc(&fs::read_to_string(&config).unwrap()).unwrap();
            }
            let r = agent_report(m, "copilot-cli", false);
            assert_eq!(status(&r, "copilot-cli.telemetry"), Status::Unknown);
        },
    },
    // Pi without a provider asks to /login and exits; it has created ~/.pi/agent (sessions, auth.json).
    RealAgent {
        bin: "pi",
        args: &["-p", "hi"],
        check: |m| {
            assert!(m.path("~/.pi/agent").is_dir(), "pi wrote no ~/.pi/agent");
            let r = agent_report(m, "pi", true);
            assert_eq!(status(&r, "pi.env.PI_SKIP_VERSION_CHECK"), Status::Fail);
            assert_eq!(status(&r, "pi.env.PI_OFFLINE"), Status::Fail);
        },
    },
];

/// The real CLIs' own default files, when `DOCTOR_AGENT_BIN` names a directory holding them (`bash
/// .ci/agents` installs the pinned versions and prints it). Each agent runs with its own fresh HOME; every
/// agent is checked even when an earlier one fails, and a pinned agent whose binary is missing fails.
#[test]
fn real_agent_clis_default_files() {
    let Some(bin_dir) = std::env::var_os("DOCTOR_AGENT_BIN").map(PathBuf::from) else {
        eprintln!("skipped: set DOCTOR_AGENT_BIN to the directory `bash .ci/agents` prints");
        return;
    };
    let mut failures = Vec::new();
    for agent in &REAL_AGENTS {
        let bin = bin_dir.join(agent.bin);
        if !bin.is_file() {
            failures.push(format!("{}: no binary at {} (run bash .ci/agents)", agent.bin, bin.display()));
            continue;
        }
        let m = Machine::new();
        let started = std::time::Instant::now();
        let Some(log) = run_offline(&bin, &m.home(), &m.project(), agent.args) else {
            eprintln!("skipped: no network namespace available");
            return;
        };
        eprintln!(
            "{} (fresh HOME, offline, {:.1} s): {}",
            agent.bin,
            started.elapsed().as_secs_f64(),
            log.lines().last().unwrap_or("")
        );
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (agent.check)(&m)));
        if let Err(e) = outcome {
            let message = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}: {message}", agent.bin));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
