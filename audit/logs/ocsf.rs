//! The `logs` report as OCSF 1.5.0 DNS Activity events (4003, activity Query), one per name: the
//! resolver's own outcome in `action`/`disposition` (a block it logged is `Denied`/`Blocked`), the
//! policy's judgement in `severity_id`/`is_alert` (an answered denied name is the alert), counts and
//! first/last seen as `count`/`start_time`/`end_time`.

use super::model::{LogsReport, NameReport};
use crate::policy::Verdict;
use crate::report::render::ocsf::{base, endpoint, millis, rule, verdict_fields};
use serde_json::{Value, json};
use std::io::{self, Write};

fn event(index: usize, n: &NameReport, fallback_time: &str) -> Value {
    let first = n.first_seen.as_deref().unwrap_or(fallback_time);
    let last = n.last_seen.as_deref().unwrap_or(first);
    let uid = format!("L{index}");
    let mut e = base(4003, "DNS Activity", 1, "Query", first, &uid);
    // The alert is what the log proves went wrong, not the policy's view of the name alone.
    let verdict = if n.finding.is_violation() {
        Verdict::Violation
    } else if n.verdict == Verdict::Violation {
        Verdict::Allow
    } else {
        n.verdict
    };
    verdict_fields(&mut e, verdict);
    if n.blocked > 0 && n.answered == 0 {
        e.insert("action_id".into(), json!(2));
        e.insert("action".into(), json!("Denied"));
        e.insert("disposition_id".into(), json!(2));
        e.insert("disposition".into(), json!("Blocked"));
    }
    rule(&mut e, n.class.as_str(), n.rule.as_deref(), &n.reason, n.tool.as_deref());
    e.insert("start_time".into(), json!(millis(first)));
    e.insert("end_time".into(), json!(millis(last)));
    e.insert("count".into(), json!(n.queries.max(1)));
    let qtype = n.qtypes.first().map(String::as_str).unwrap_or("A");
    e.insert("query".into(), json!({"hostname": n.name, "type": qtype}));
    let answers: Vec<Value> = n.answers.iter().map(|a| json!({"rdata": a})).collect();
    if !answers.is_empty() {
        e.insert("answers".into(), Value::Array(answers));
    }
    // OCSF wants an endpoint on every network event: the client's address when the log has one
    // (`203.0.113.7 (laptop)` keeps its device name), else the log that saw the query.
    let src = match n.clients.first() {
        Some(client) => {
            let (addr, rest) = client.split_once(' ').unwrap_or((client.as_str(), ""));
            let mut ep = endpoint(addr, None);
            let name = rest.trim().trim_start_matches('(').trim_end_matches(')');
            if let Some(m) = ep.as_object_mut() {
                if m.get("ip").is_none() {
                    m.insert("name".into(), json!(client));
                } else if !name.is_empty() {
                    m.insert("name".into(), json!(name));
                }
            }
            ep
        }
        None => json!({"name": format!("{} log", n.formats.first().map(String::as_str).unwrap_or("resolver"))}),
    };
    e.insert("src_endpoint".into(), src);
    e.insert(
        "unmapped".into(),
        json!({"egress_audit": {
            "verdict": n.verdict,
            "finding": n.finding.as_str(),
            "answered": n.answered,
            "blocked": n.blocked,
            "failed": n.failed,
            "qtypes": n.qtypes,
            "clients": n.clients,
            "processes": n.processes,
            "formats": n.formats,
        }}),
    );
    Value::Object(e)
}

/// One DNS Activity event per name, in the report's order.
pub fn render(report: &LogsReport, out: &mut dyn Write) -> io::Result<()> {
    let fallback = report.files.iter().find_map(|f| f.first_seen.clone()).unwrap_or_default();
    for (i, n) in report.names.iter().enumerate() {
        serde_json::to_writer(&mut *out, &event(i, n, &fallback))?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// `denied-and-blocked` is what a hardened setup should show: it must not raise an alert.
#[cfg(test)]
mod tests {
    use super::super::model::Finding;

    #[test]
    fn blocked_is_not_an_alert() {
        assert!(!Finding::DeniedAndBlocked.is_violation());
        assert!(Finding::DeniedButAnswered.is_violation());
    }
}
