//! `diff A.json B.json`: what a config change or a version bump added or removed — destinations,
//! request paths, DNS names, classes — between two JSON reports (schema egress-audit/report/v1).
//! This is how a user proves "my hardened settings removed the telemetry" and "the update added
//! nothing".

pub mod render;

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// What one report says about one item (a host, a request, a DNS name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Seen {
    pub class: String,
    pub verdict: String,
    /// Flows, requests or queries.
    pub count: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A destination row: host (or address when unnamed).
    Host,
    /// `METHOD host/path` of a request seen in plain HTTP or by the sealed sink.
    Request,
    /// A DNS question name.
    Dns,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Host => "host",
            Kind::Request => "request",
            Kind::Dns => "dns",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    Added,
    Removed,
    /// In both, with another class or verdict.
    Changed,
    /// In both, judged the same (kept for the full listing, not shown by default).
    Same,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Changed => "changed",
            Change::Same => "same",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub change: Change,
    pub kind: Kind,
    pub key: String,
    pub before: Option<Seen>,
    pub after: Option<Seen>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ClassDelta {
    pub before_flows: u64,
    pub after_flows: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub label: String,
    pub result: String,
    pub violations: u64,
    pub flows: u64,
}

pub const SCHEMA: &str = "egress-audit/diff/v1";

#[derive(Debug, Clone, Serialize)]
pub struct ReportDiff {
    pub schema: &'static str,
    pub before: Side,
    pub after: Side,
    pub items: Vec<Item>,
    pub by_class: BTreeMap<String, ClassDelta>,
    pub summary: DiffSummary,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DiffSummary {
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    /// Added items that are not allowed under the after report's policy: new product traffic.
    pub added_not_allowed: u64,
    /// 1 when the after side added anything not allowed, else 0.
    pub exit_code: i32,
}

#[derive(Debug)]
pub struct DiffError(pub String);

impl std::fmt::Display for DiffError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything a report says, keyed for comparison.
#[derive(Default)]
struct Inventory {
    items: BTreeMap<(Kind, String), Seen>,
    classes: BTreeMap<String, u64>,
}

fn str_of<'v>(v: &'v Value, key: &str) -> &'v str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn u64_of(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// Worse verdict wins when several flows or requests fold into one item.
fn verdict_rank(v: &str) -> u8 {
    match v {
        "violation" => 2,
        "warn" => 1,
        _ => 0,
    }
}

fn fold(items: &mut BTreeMap<(Kind, String), Seen>, kind: Kind, key: String, class: &str, verdict: &str, n: u64) {
    let e = items.entry((kind, key)).or_insert_with(|| Seen {
        class: class.to_string(),
        verdict: verdict.to_string(),
        count: 0,
    });
    e.count += n;
    if verdict_rank(verdict) > verdict_rank(&e.verdict) {
        e.verdict = verdict.to_string();
        e.class = class.to_string();
    }
}

fn inventory(report: &Value) -> Inventory {
    let mut inv = Inventory::default();
    for d in report.get("destinations").and_then(Value::as_array).into_iter().flatten() {
        fold(
            &mut inv.items,
            Kind::Host,
            str_of(d, "host").to_string(),
            str_of(d, "class"),
            str_of(d, "verdict"),
            u64_of(d, "flows"),
        );
    }
    for f in report.get("flows").and_then(Value::as_array).into_iter().flatten() {
        let flow_host = f.get("host").and_then(Value::as_str);
        for r in f.get("requests").and_then(Value::as_array).into_iter().flatten() {
            let host = r.get("host").and_then(Value::as_str).or(flow_host).unwrap_or("?");
            let host =
                host.rsplit_once(':').filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit())).map_or(host, |(h, _)| h);
            let key = format!("{} {}{}", str_of(r, "method"), host.to_ascii_lowercase(), str_of(r, "path"));
            fold(&mut inv.items, Kind::Request, key, str_of(r, "class"), str_of(r, "verdict"), 1);
        }
    }
    for q in report.get("dns").and_then(Value::as_array).into_iter().flatten() {
        fold(
            &mut inv.items,
            Kind::Dns,
            str_of(q, "name").to_string(),
            str_of(q, "class"),
            str_of(q, "verdict"),
            u64_of(q, "queries"),
        );
    }
    if let Some(classes) = report.pointer("/summary/by_class").and_then(Value::as_object) {
        for (class, counts) in classes {
            inv.classes.insert(class.clone(), u64_of(counts, "flows"));
        }
    }
    inv
}

fn side(report: &Value, label: &str) -> Side {
    Side {
        label: label.to_string(),
        result: report.pointer("/summary/result").and_then(Value::as_str).unwrap_or("?").to_string(),
        violations: report.pointer("/summary/violations").and_then(Value::as_u64).unwrap_or(0),
        flows: report.pointer("/summary/flows").and_then(Value::as_u64).unwrap_or(0),
    }
}

/// Checks that `text` is a JSON report this version understands.
pub fn parse_report(text: &str, label: &str) -> Result<Value, DiffError> {
    let v: Value = serde_json::from_str(text).map_err(|e| DiffError(format!("{label}: not a JSON report: {e}")))?;
    let schema = v.get("schema").and_then(Value::as_str).unwrap_or("");
    if !schema.starts_with("egress-audit/report/v1") {
        return Err(DiffError(format!(
            "{label}: schema {schema:?} is not egress-audit/report/v1 (write reports with --format json)"
        )));
    }
    Ok(v)
}

/// Compares two reports; `before` is the baseline.
pub fn diff(before: &Value, after: &Value, before_label: &str, after_label: &str) -> ReportDiff {
    let (a, b) = (inventory(before), inventory(after));
    let mut items = Vec::new();
    let mut summary = DiffSummary::default();
    let keys: std::collections::BTreeSet<&(Kind, String)> = a.items.keys().chain(b.items.keys()).collect();
    for key in keys {
        let (old, new) = (a.items.get(key), b.items.get(key));
        let change = match (old, new) {
            (None, Some(n)) => {
                summary.added += 1;
                if n.verdict != "allow" {
                    summary.added_not_allowed += 1;
                }
                Change::Added
            }
            (Some(_), None) => {
                summary.removed += 1;
                Change::Removed
            }
            (Some(o), Some(n)) if o.class != n.class || o.verdict != n.verdict => {
                summary.changed += 1;
                Change::Changed
            }
            _ => Change::Same,
        };
        items.push(Item { change, kind: key.0, key: key.1.clone(), before: old.cloned(), after: new.cloned() });
    }
    items.sort_by(|x, y| x.change.cmp(&y.change).then(x.kind.cmp(&y.kind)).then(x.key.cmp(&y.key)));
    let mut by_class: BTreeMap<String, ClassDelta> = BTreeMap::new();
    for (c, n) in &a.classes {
        by_class.entry(c.clone()).or_default().before_flows = *n;
    }
    for (c, n) in &b.classes {
        by_class.entry(c.clone()).or_default().after_flows = *n;
    }
    summary.exit_code = i32::from(summary.added_not_allowed > 0);
    ReportDiff {
        schema: SCHEMA,
        before: side(before, before_label),
        after: side(after, after_label),
        items,
        by_class,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(hosts: &[(&str, &str, &str)], paths: &[(&str, &str, &str, &str)]) -> Value {
        json!({
            "schema": "egress-audit/report/v1",
            "destinations": hosts.iter().map(|(h, c, v)| json!({"host": h, "class": c, "verdict": v, "flows": 1})).collect::<Vec<_>>(),
            "flows": [{"host": "api.anthropic.com", "requests": paths.iter().map(|(m, p, c, v)| json!({"method": m, "host": null, "path": p, "class": c, "verdict": v})).collect::<Vec<_>>()}],
            "dns": [],
            "summary": {"result": "pass", "violations": 0, "flows": 1, "by_class": {"model": {"flows": 1}}}
        })
    }

    #[test]
    fn added_removed_changed() {
        let a = report(
            &[("api.anthropic.com", "model", "allow"), ("statsig.anthropic.com", "telemetry", "violation")],
            &[
                ("POST", "/v1/messages", "model", "allow"),
                ("POST", "/api/event_logging/v2/batch", "telemetry", "violation"),
            ],
        );
        let b = report(
            &[("api.anthropic.com", "model", "allow"), ("sentry.io", "error-reporting", "violation")],
            &[("POST", "/v1/messages", "model", "allow")],
        );
        let d = diff(&a, &b, "a", "b");
        let find = |c: Change, k: &str| d.items.iter().any(|i| i.change == c && i.key == k);
        assert!(find(Change::Removed, "statsig.anthropic.com"));
        assert!(find(Change::Removed, "POST api.anthropic.com/api/event_logging/v2/batch"));
        assert!(find(Change::Added, "sentry.io"));
        assert!(find(Change::Same, "POST api.anthropic.com/v1/messages"));
        assert_eq!(d.summary.added_not_allowed, 1);
        assert_eq!(d.summary.exit_code, 1);
        let back = diff(&b, &a, "b", "a");
        assert_eq!(back.summary.added, 2);
    }

    #[test]
    fn rejects_other_documents() {
        assert!(parse_report("{\"schema\": \"something/else\"}", "x").is_err());
        assert!(parse_report("not json", "x").is_err());
        assert!(parse_report("{\"schema\": \"egress-audit/report/v1\"}", "x").is_ok());
    }
}
