//! Evaluating the checks: one finding per check and tool (and per Codex profile that sets a key).

use super::files::{self, Doc, Docs, Format};
use super::spec::{AltKey, CheckSpec, Kind, Spec, ToolSpec};
use super::{DoctorOptions, DoctorReport, Finding, Fix, Status};
use crate::report::render::human_bytes;
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const CLAUDE_FILES: [&str; 4] = [
    "/etc/claude-code/managed-settings.json",
    "{project}/.claude/settings.local.json",
    "{project}/.claude/settings.json",
    "~/.claude/settings.json",
];
const CLAUDE_USER_FILE: &str = "~/.claude/settings.json";

struct Ctx<'a> {
    opts: &'a DoctorOptions,
    docs: Docs,
    /// Files already reported as malformed or unreadable (one finding per file).
    reported: BTreeSet<PathBuf>,
    findings: Vec<Finding>,
}

pub fn evaluate(spec: &Spec, opts: &DoctorOptions, report: &mut DoctorReport) {
    if !opts.home.is_dir() {
        report.errors.push(format!("home {} is not a directory", opts.home.display()));
        return;
    }
    let selected: Option<&ToolSpec> = match &opts.agent {
        None => None,
        Some(name) => match spec.tool.iter().find(|t| matches_name(t, name)) {
            Some(t) => Some(t),
            None => {
                let known: Vec<&str> = spec.tool.iter().map(|t| t.id.as_str()).collect();
                report.errors.push(format!("unknown agent {name:?}: one of {}", known.join(", ")));
                return;
            }
        },
    };
    let no_vars = BTreeMap::new();
    let present: BTreeSet<&str> = spec
        .tool
        .iter()
        .filter(|t| {
            t.detect.iter().filter_map(|d| files::expand(d, opts, &t.vars)).any(|p| files::exists(&p))
                || t.bins.iter().any(|b| files::on_path(b, &opts.env))
        })
        .map(|t| t.id.as_str())
        .collect();
    report.summary.tools_present = present.iter().map(|s| s.to_string()).collect();
    let mut ctx = Ctx { opts, docs: Docs::default(), reported: BTreeSet::new(), findings: Vec::new() };
    for check in &spec.check {
        for tool_id in &check.tools {
            let Some(tool) = spec.tool.iter().find(|t| &t.id == tool_id) else {
                report.errors.push(format!("audit/data/doctor.toml: check {} names unknown tool {tool_id}", check.id));
                continue;
            };
            if selected.is_some_and(|s| s.id != tool.id) {
                continue;
            }
            let id = check.id.replace("{tool}", &tool.id);
            let mut base = Finding {
                id,
                tool: tool.id.clone(),
                status: Status::NotApplicable,
                file: None,
                line: None,
                key: check.key.clone(),
                found: String::new(),
                expected: expected_text(check),
                why: check.why.clone(),
                source: check.source.clone(),
                known_ineffective: check.known_ineffective.clone(),
                hardened: check.hardened,
                fix: None,
            };
            // An explicitly selected agent is judged even when nothing of it is found.
            if selected.is_none() && !present.contains(tool.id.as_str()) {
                let places: Vec<String> = tool.detect.iter().chain(tool.bins.iter()).cloned().collect();
                base.found = format!("{} not found (looked for {})", tool.name, places.join(", "));
                ctx.findings.push(base);
                continue;
            }
            if check.hardened && !opts.hardened {
                base.found = "judged only in a hardened profile (--hardened)".into();
                ctx.findings.push(base);
                continue;
            }
            if let Some(ext) = &check.extension {
                let dir = tool.vars.get("extensions").and_then(|d| files::expand(d, opts, &no_vars));
                if !dir.as_ref().is_some_and(|d| files::extension_installed(d, ext)) {
                    base.found = format!("extension {ext} not installed");
                    ctx.findings.push(base);
                    continue;
                }
            }
            match check.kind {
                Kind::Json | Kind::Toml | Kind::Yaml => ctx.settings(check, tool, base),
                Kind::ClaudeEnv => ctx.claude_env(check, base),
                Kind::Env => ctx.env(check, base),
                Kind::Cache => ctx.cache(check, tool, base),
                Kind::Credential => ctx.credential(check, tool, base),
                Kind::Manual => {
                    base.status = Status::Unknown;
                    base.found = "not stored in a file this audit can read".into();
                    base.fix = Some(Fix::Manual { text: base.expected.clone() });
                    ctx.findings.push(base);
                }
            }
        }
    }
    report.findings = ctx.findings;
}

fn matches_name(t: &ToolSpec, name: &str) -> bool {
    let n = name.trim().to_ascii_lowercase();
    t.id == n || t.aliases.iter().any(|a| a.eq_ignore_ascii_case(&n)) || t.name.eq_ignore_ascii_case(&n)
}

fn expected_text(check: &CheckSpec) -> String {
    let Some(expect) = &check.expect else { return String::new() };
    match check.kind {
        Kind::Json | Kind::Toml | Kind::Yaml => {
            let mut s = format!("{} = {}", check.key.as_deref().unwrap_or(""), show_toml(expect));
            for alt in &check.alt {
                s.push_str(&format!(" (or {} = {})", alt.key, show_toml(&alt.expect)));
            }
            if let (Some(env), Some(v)) = (&check.env, &check.env_expect) {
                s.push_str(&format!(" (or {env}={v})"));
            }
            s
        }
        Kind::ClaudeEnv | Kind::Env => match expect.as_str() {
            Some("*") => format!("{} set", check.key.as_deref().unwrap_or("")),
            Some(v) => format!("{}={v}", check.key.as_deref().unwrap_or("")),
            None => String::new(),
        },
        _ => expect.as_str().map(String::from).unwrap_or_else(|| show_toml(expect)),
    }
}

fn show_toml(v: &toml::Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn to_json(v: &toml::Value) -> Json {
    serde_json::to_value(v).unwrap_or(Json::Null)
}

/// Looks a key up in JSON: first as one flat key (VS Code's `"telemetry.telemetryLevel"`), then as a
/// path through nested objects, trying every split of the dotted name.
fn json_lookup<'v>(v: &'v Json, key: &str) -> Option<&'v Json> {
    let obj = v.as_object()?;
    if let Some(found) = obj.get(key) {
        return Some(found);
    }
    key.match_indices('.').find_map(|(i, _)| obj.get(&key[..i]).and_then(|inner| json_lookup(inner, &key[i + 1..])))
}

fn toml_lookup<'v>(t: &'v toml::Table, key: &str) -> Option<&'v toml::Value> {
    let mut parts = key.split('.');
    let mut cur = t.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_table()?.get(p)?;
    }
    Some(cur)
}

/// `{"a": {"b": v}}` for `a.b`, or `{"a.b": v}` for a flat key.
fn json_edit(key: &str, flat: bool, value: Json) -> Json {
    if flat {
        return Json::Object([(key.to_string(), value)].into_iter().collect());
    }
    key.rsplit('.').fold(value, |acc, part| Json::Object([(part.to_string(), acc)].into_iter().collect()))
}

fn toml_edit(path: &[&str], value: toml::Value) -> toml::Table {
    let mut acc = value;
    for part in path.iter().rev() {
        acc = toml::Value::Table([(part.to_string(), acc)].into_iter().collect());
    }
    match acc {
        toml::Value::Table(t) => t,
        _ => toml::Table::new(),
    }
}

fn truthy(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
}

fn falsy(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "0" | "false" | "no" | "off")
}

/// Whether an environment value satisfies an expectation: `*` any non-empty value, true-ish and
/// false-ish spellings as equals, anything else exactly.
fn env_ok(value: &str, expect: &str) -> bool {
    if expect == "*" {
        !value.is_empty()
    } else if truthy(expect) {
        truthy(value)
    } else if falsy(expect) {
        falsy(value)
    } else {
        value == expect
    }
}

fn env_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Ctx<'_> {
    fn path(&self, template: &str, tool: &ToolSpec) -> Option<PathBuf> {
        files::expand(template, self.opts, &tool.vars)
    }

    /// One finding per malformed or unreadable file, the first time a check reads it.
    fn report_file_problem(&mut self, tool: &str, path: &Path, doc: &Doc) {
        if !self.reported.insert(path.to_path_buf()) {
            return;
        }
        let (status, id, line, found) = match doc {
            Doc::Malformed { line, message } => (
                Status::Fail,
                "malformed",
                Some(*line),
                format!(
                    "does not parse (line {line}): {message}; the tool ignores or rejects it, so none of its switches apply"
                ),
            ),
            Doc::Unreadable(e) => (Status::Unknown, "unreadable", None, format!("cannot be read: {e}")),
            _ => return,
        };
        self.findings.push(Finding {
            id: format!("{tool}.file.{id}"),
            tool: tool.to_string(),
            status,
            file: Some(path.to_path_buf()),
            line,
            key: None,
            found,
            expected: "a readable, valid settings file".into(),
            why: "A settings file the tool cannot parse is skipped or rejects the whole configuration: every switch in it is lost".into(),
            source: match Format::of(path, Format::Json) {
                Format::Yaml => "https://yaml.org/spec/1.2.2/".into(),
                _ => "https://code.visualstudio.com/docs/languages/json#_json-with-comments".into(),
            },
            known_ineffective: None,
            hardened: false,
            fix: None,
        });
    }

    fn settings(&mut self, check: &CheckSpec, tool: &ToolSpec, mut base: Finding) {
        let format = match check.kind {
            Kind::Toml => Format::Toml,
            Kind::Yaml => Format::Yaml,
            _ => Format::Json,
        };
        let key = check.key.clone().unwrap_or_default();
        let expect = check.expect.clone().unwrap_or(toml::Value::Boolean(false));
        // An environment variable that does the same job satisfies the check.
        if let (Some(env), Some(want)) = (&check.env, &check.env_expect)
            && let Some(v) = self.opts.env.get(env)
            && env_ok(v, want)
        {
            base.status = Status::Pass;
            base.key = Some(env.clone());
            base.found = format!("{env}={v} (process environment)");
            self.findings.push(base);
            return;
        }
        let paths: Vec<PathBuf> = check.files.iter().filter_map(|f| self.path(f, tool)).collect();
        let keys: Vec<AltKey> = std::iter::once(AltKey { key: key.clone(), expect: expect.clone() })
            .chain(check.alt.iter().cloned())
            .collect();
        let mut any_file = false;
        let mut first_file: Option<PathBuf> = None;
        let mut broken: Option<PathBuf> = None;
        let mut profile_findings = Vec::new();
        let mut decided = false;
        for path in &paths {
            let doc = self.docs.get(path, Format::of(path, format)).clone();
            match &doc {
                Doc::Missing => continue,
                Doc::Unreadable(_) | Doc::Malformed { .. } => {
                    any_file = true;
                    self.report_file_problem(&tool.id, path, &doc);
                    broken.get_or_insert(path.clone());
                    continue;
                }
                _ => {
                    any_file = true;
                    first_file.get_or_insert(path.clone());
                }
            }
            if check.profiles
                && let Doc::Toml(t) = &doc
                && let Some(profiles) = t.get("profiles").and_then(|p| p.as_table())
            {
                for (name, profile) in profiles {
                    let Some(profile) = profile.as_table() else { continue };
                    for k in &keys {
                        if let Some(v) = toml_lookup(profile, &k.key) {
                            let mut f = base.clone();
                            f.id = format!("{}@profile.{name}", base.id);
                            f.key = Some(format!("profiles.{name}.{}", k.key));
                            f.file = Some(path.clone());
                            f.found = format!("{} = {}", k.key, show_toml(v));
                            f.status = if v == &k.expect { Status::Pass } else { Status::Fail };
                            if f.status == Status::Fail {
                                let mut route = vec!["profiles", name.as_str()];
                                route.extend(k.key.split('.'));
                                f.fix =
                                    Some(Fix::Toml { file: path.clone(), merge: toml_edit(&route, k.expect.clone()) });
                            }
                            profile_findings.push(f);
                            break;
                        }
                    }
                }
            }
            if decided {
                continue;
            }
            for k in &keys {
                let found: Option<Json> = match &doc {
                    Doc::Json(v) => json_lookup(v, &k.key).cloned(),
                    Doc::Toml(t) => toml_lookup(t, &k.key).map(to_json),
                    _ => None,
                };
                if let Some(v) = found {
                    let want = to_json(&k.expect);
                    base.key = Some(k.key.clone());
                    base.file = Some(path.clone());
                    base.found = match files::symlink_note(path) {
                        Some(s) => format!("{v} ({s})"),
                        None => v.to_string(),
                    };
                    base.status = if v == want { Status::Pass } else { Status::Fail };
                    if base.status == Status::Fail {
                        base.fix =
                            Some(self.edit(Format::of(path, format), path.clone(), &k.key, check.flat, &k.expect));
                    }
                    decided = true;
                    break;
                }
            }
        }
        if !decided {
            if let Some(path) = broken {
                base.status = Status::Unknown;
                base.file = Some(path);
                base.found = "the file that may set it could not be read or parsed".into();
            } else if check.only_if_exists && !any_file {
                base.found = "no such file (the switch only exists in it)".into();
            } else {
                base.found = match &check.default {
                    Some(d) => format!("not set (default {})", show_toml(d)),
                    None => "not set".into(),
                };
                base.status = if check.default.as_ref() == Some(&expect) { Status::Pass } else { Status::Fail };
                // A switch that only exists in its file is fixed in the file that is there.
                let target = if check.only_if_exists { first_file } else { None }
                    .or_else(|| check.fix_file.as_deref().and_then(|f| self.path(f, tool)));
                if base.status == Status::Fail
                    && let Some(file) = target
                {
                    base.file = Some(file.clone());
                    base.fix = Some(self.edit(Format::of(&file, format), file, &key, check.flat, &expect));
                }
            }
        }
        self.findings.push(base);
        self.findings.extend(profile_findings);
    }

    fn edit(&self, format: Format, file: PathBuf, key: &str, flat: bool, value: &toml::Value) -> Fix {
        match format {
            Format::Json => Fix::Json { file, merge: json_edit(key, flat, to_json(value)) },
            Format::Yaml => Fix::Yaml { file, merge: json_edit(key, flat, to_json(value)) },
            Format::Toml => {
                let route: Vec<&str> = key.split('.').collect();
                Fix::Toml { file, merge: toml_edit(&route, value.clone()) }
            }
        }
    }

    /// Claude Code applies the `env` blocks of its settings files over the process environment;
    /// managed settings win over local, project and user settings.
    fn claude_value(&mut self, key: &str) -> (Option<(Option<PathBuf>, String)>, Option<PathBuf>) {
        let none = BTreeMap::new();
        let mut broken = None;
        for template in CLAUDE_FILES {
            let Some(path) = files::expand(template, self.opts, &none) else { continue };
            let doc = self.docs.get(&path, Format::Json).clone();
            match &doc {
                Doc::Json(v) => {
                    if let Some(val) = v.get("env").and_then(|e| e.get(key)) {
                        return (Some((Some(path), env_text(val))), broken);
                    }
                }
                Doc::Malformed { .. } | Doc::Unreadable(_) => {
                    self.report_file_problem("claude-code", &path, &doc);
                    broken.get_or_insert(path);
                }
                _ => {}
            }
        }
        (self.opts.env.get(key).map(|v| (None, v.clone())), broken)
    }

    fn claude_env(&mut self, check: &CheckSpec, mut base: Finding) {
        let key = check.key.clone().unwrap_or_default();
        let want = check.expect.as_ref().and_then(|v| v.as_str()).unwrap_or("1").to_string();
        let (value, broken) = self.claude_value(&key);
        let describe = |file: &Option<PathBuf>, v: &str| match file {
            Some(p) => format!("{v} (env block of {})", p.display()),
            None => format!("{v} (process environment)"),
        };
        if let Some((file, v)) = &value
            && env_ok(v, &want)
        {
            base.status = Status::Pass;
            base.file = file.clone();
            base.found = describe(file, v);
            self.findings.push(base);
            return;
        }
        for cover in &check.covered_by {
            if let (Some((file, v)), _) = self.claude_value(cover)
                && truthy(&v)
            {
                base.status = Status::Pass;
                base.file = file.clone();
                base.found = format!("covered by {cover}={}", describe(&file, &v));
                self.findings.push(base);
                return;
            }
        }
        let user_file = files::expand(CLAUDE_USER_FILE, self.opts, &BTreeMap::new()).unwrap_or_default();
        match value {
            Some((file, v)) => {
                base.status = Status::Fail;
                base.found = describe(&file, &v);
                let target = file.clone().unwrap_or(user_file);
                base.file = file.or(Some(target.clone()));
                base.fix = Some(Fix::Json {
                    file: target,
                    merge: json_edit(&format!("env.{key}"), false, Json::String(want)),
                });
            }
            None if broken.is_some() => {
                base.status = Status::Unknown;
                base.file = broken;
                base.found = "not set where readable; a settings file could not be read or parsed".into();
            }
            None => {
                base.status = Status::Fail;
                base.found = "not set".into();
                base.file = Some(user_file.clone());
                base.fix = Some(Fix::Json {
                    file: user_file,
                    merge: json_edit(&format!("env.{key}"), false, Json::String(want)),
                });
            }
        }
        self.findings.push(base);
    }

    fn env(&mut self, check: &CheckSpec, mut base: Finding) {
        let key = check.key.clone().unwrap_or_default();
        let want = check.expect.as_ref().and_then(|v| v.as_str()).unwrap_or("1").to_string();
        match self.opts.env.get(&key) {
            Some(v) if env_ok(v, &want) => {
                base.status = Status::Pass;
                base.found = format!("{key}={v}");
            }
            other => {
                base.status = Status::Fail;
                base.found = other.map_or_else(|| "not set".into(), |v| format!("{key}={v}"));
                let value = if want == "*" { "1".to_string() } else { want };
                base.fix = Some(Fix::Export { name: key, value });
            }
        }
        self.findings.push(base);
    }

    fn cache(&mut self, check: &CheckSpec, tool: &ToolSpec, mut base: Finding) {
        let Some(path) = check.path.as_deref().and_then(|p| self.path(p, tool)) else { return };
        base.file = Some(path.clone());
        base.key = None;
        base.expected = "absent or empty".into();
        if !files::exists(&path) {
            base.status = Status::Pass;
            base.found = "absent".into();
        } else {
            match files::dir_usage(&path) {
                Ok((0, _)) => {
                    base.status = Status::Pass;
                    base.found = "empty".into();
                }
                Ok((n, bytes)) => {
                    base.status = Status::Fail;
                    base.found = format!("{n} file(s), {} queued", human_bytes(bytes));
                    base.fix = Some(Fix::Remove { path });
                }
                Err(e) => {
                    base.status = Status::Unknown;
                    base.found = format!("cannot be listed: {e}");
                }
            }
        }
        self.findings.push(base);
    }

    fn credential(&mut self, check: &CheckSpec, tool: &ToolSpec, mut base: Finding) {
        let Some(path) = check.path.as_deref().and_then(|p| self.path(p, tool)) else { return };
        base.file = Some(path.clone());
        base.key = None;
        base.expected = "not readable by the agent's user".into();
        let link = files::symlink_note(&path).map(|s| format!(" ({s})")).unwrap_or_default();
        if !files::exists(&path) {
            base.status = if self.opts.hardened { Status::Pass } else { Status::NotApplicable };
            base.found = "absent".into();
        } else {
            match files::readable(&path) {
                Ok(true) if self.opts.hardened => {
                    base.status = Status::Fail;
                    base.found = format!("readable by the current user{link}");
                    base.fix = Some(Fix::Manual {
                        text: format!(
                            "keep {} out of the agent's reach: run the agent as another user or in a sandbox that hides it (e.g. bwrap --tmpfs {})",
                            path.display(),
                            path.display()
                        ),
                    });
                }
                Ok(true) => {
                    base.status = Status::NotApplicable;
                    base.found =
                        format!("readable by the current user{link}; an exposure in a hardened profile (--hardened)");
                }
                Ok(false) => {
                    base.status = Status::Pass;
                    base.found = format!("present, not readable by the current user{link}");
                }
                Err(e) => {
                    base.status = Status::Unknown;
                    base.found = format!("cannot be checked: {e}{link}");
                }
            }
        }
        self.findings.push(base);
    }
}
