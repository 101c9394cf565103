//! Requests folded into rows (verdict, method, host, path) for the table and markdown: in a sealed run
//! the paths are what tell product traffic from the model on one host.

use crate::catalog::Class;
use crate::policy::Verdict;
use crate::report::model::FlowReport;
use std::collections::BTreeMap;

/// Distinct rows kept; further requests only count.
const MAX_ROWS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequestKey {
    /// Worst first when sorted (Reverse of the verdict order).
    pub verdict: std::cmp::Reverse<Verdict>,
    pub host: String,
    pub path: String,
    pub method: String,
}

#[derive(Debug, Clone, Default)]
pub struct RequestRow {
    pub class: Option<Class>,
    pub tool: Option<std::sync::Arc<str>>,
    pub count: u64,
    /// Statuses the sink answered, with counts.
    pub statuses: BTreeMap<u16, u64>,
    pub answered_by: Option<String>,
    pub canary_hits: Vec<String>,
}

#[derive(Default)]
pub struct RequestRows {
    pub rows: BTreeMap<RequestKey, RequestRow>,
    pub not_listed: u64,
}

impl RequestRows {
    pub fn add(&mut self, flow: &FlowReport<'_>) {
        for r in &flow.requests {
            let host = r
                .host
                .clone()
                .or_else(|| flow.host.as_deref().map(str::to_string))
                .unwrap_or_else(|| flow.dst.to_string());
            let key = RequestKey {
                verdict: std::cmp::Reverse(r.verdict),
                host,
                path: r.path.clone(),
                method: r.method.clone(),
            };
            if !self.rows.contains_key(&key) && self.rows.len() >= MAX_ROWS {
                self.not_listed += 1;
                continue;
            }
            let row = self.rows.entry(key).or_default();
            row.class = Some(r.class);
            row.tool.clone_from(&r.tool);
            row.count += 1;
            if let Some(s) = r.status {
                *row.statuses.entry(s).or_default() += 1;
            }
            if r.answered_by.is_some() {
                row.answered_by.clone_from(&r.answered_by);
            }
            for h in &r.canary_hits {
                if !row.canary_hits.contains(h) {
                    row.canary_hits.push(h.clone());
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// `200 ×3, 404` style.
pub fn statuses(row: &RequestRow) -> String {
    let parts: Vec<String> =
        row.statuses.iter().map(|(s, n)| if *n > 1 { format!("{s} ×{n}") } else { s.to_string() }).collect();
    let mut text = parts.join(", ");
    if let Some(a) = &row.answered_by {
        text.push_str(&format!(" ({a})"));
    }
    text
}
