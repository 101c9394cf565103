//! `--print-fix`: the smallest edits that make the failing findings pass, grouped per file. Snippets are
//! produced by the JSON, TOML and YAML serializers (never by editing text), to be merged into the named file.

use super::{DoctorReport, Fix, Status};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

/// Every fix of the report's failing (and by-hand unknown) findings, as text: JSON and TOML snippets per
/// file, `export` lines, cache paths to remove, and what only a person can do. Empty when nothing fails.
pub fn fixes(report: &DoctorReport) -> String {
    let mut json: BTreeMap<PathBuf, serde_json::Value> = BTreeMap::new();
    let mut toml_files: BTreeMap<PathBuf, toml::Table> = BTreeMap::new();
    let mut yaml: BTreeMap<PathBuf, serde_json::Value> = BTreeMap::new();
    let mut exports: BTreeMap<String, String> = BTreeMap::new();
    let mut removes: BTreeSet<PathBuf> = BTreeSet::new();
    let mut manual: Vec<(String, String)> = Vec::new();
    for f in report.findings.iter().filter(|f| matches!(f.status, Status::Fail | Status::Unknown)) {
        match &f.fix {
            Some(Fix::Json { file, merge }) => {
                merge_json(json.entry(file.clone()).or_insert_with(|| serde_json::json!({})), merge);
            }
            Some(Fix::Toml { file, merge }) => merge_toml(toml_files.entry(file.clone()).or_default(), merge),
            Some(Fix::Yaml { file, merge }) => {
                merge_json(yaml.entry(file.clone()).or_insert_with(|| serde_json::json!({})), merge);
            }
            Some(Fix::Export { name, value }) => {
                exports.insert(name.clone(), value.clone());
            }
            Some(Fix::Remove { path }) => {
                removes.insert(path.clone());
            }
            Some(Fix::Manual { text }) => manual.push((f.id.clone(), text.clone())),
            None => {}
        }
    }
    let mut out = String::new();
    for (file, value) in &json {
        let text = serde_json::to_string_pretty(value).unwrap_or_default();
        let _ = writeln!(out, "# {}: merge these keys (JSON)\n{text}\n", file.display());
    }
    for (file, table) in &toml_files {
        let text = toml::to_string(table).unwrap_or_default();
        let _ = writeln!(out, "# {}: merge these keys (TOML)\n{}\n", file.display(), text.trim_end());
    }
    for (file, value) in &yaml {
        let text = serde_yaml_ng::to_string(value).unwrap_or_default();
        let _ = writeln!(out, "# {}: merge these keys (YAML)\n{}\n", file.display(), text.trim_end());
    }
    if !exports.is_empty() {
        let _ = writeln!(out, "# environment the agents start from (e.g. ~/.profile)");
        for (name, value) in &exports {
            let _ = writeln!(out, "export {name}={}", shell_quote(value));
        }
        out.push('\n');
    }
    if !removes.is_empty() {
        let _ = writeln!(out, "# local telemetry queues");
        for path in &removes {
            let _ = writeln!(out, "rm -rf -- {}", shell_quote(&path.display().to_string()));
        }
        out.push('\n');
    }
    if !manual.is_empty() {
        let _ = writeln!(out, "# by hand");
        for (id, text) in &manual {
            let _ = writeln!(out, "# {id}: {text}");
        }
    }
    out
}

fn merge_json(into: &mut serde_json::Value, from: &serde_json::Value) {
    match (into, from) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge_json(existing, v),
                    _ => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, value) => *slot = value.clone(),
    }
}

fn merge_toml(into: &mut toml::Table, from: &toml::Table) {
    for (k, v) in from {
        match (into.get_mut(k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge_toml(a, b),
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:@".contains(&b)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
