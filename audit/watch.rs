//! `watch`: a live table of which process talks to which host and what the policy says, refreshed
//! about once a second in place on a terminal, or as append-only lines when output is piped.

use crate::analyzer::Analyzer;
use crate::catalog::Catalog;
use crate::flows::owner::OwnerLookup;
use crate::policy::{Policy, Verdict};
use crate::replay::header;
use crate::report::Report;
use crate::report::model::FlowReport;
use crate::report::render::{Renderer, human_bytes};
use crate::source::live::{LiveCapture, LiveError};
use crate::text::printable_str;
use comfy_table::{Cell, Color, Table, presets};
use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyModifiers};
use crossterm::terminal;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const TICK: Duration = Duration::from_secs(1);
/// Keys are polled this often, not per packet, so a busy capture does not pay a syscall per frame.
const KEY_POLL: Duration = Duration::from_millis(50);

pub struct WatchConfig<'a> {
    pub iface: String,
    pub filter: Option<String>,
    pub catalog: Catalog,
    pub policy: Policy,
    /// Only rows of this agent (catalog id) are shown.
    pub agent: Option<String>,
    pub stop: &'a AtomicBool,
    pub owners: Option<Box<dyn OwnerLookup>>,
    pub options: crate::replay::ReportOptions,
}

#[derive(Clone)]
struct Row {
    agent: String,
    pid: String,
    process: String,
    host: String,
    class: String,
    verdict: Verdict,
    flows: u64,
    bytes: u64,
    last_seen: String,
}

type RowKey = (String, String, String);

fn row_of(r: &FlowReport<'_>) -> (RowKey, Row) {
    let (agent, pid, process) = match r.process.as_ref().and_then(|o| o.process()) {
        Some(p) => (p.agent.clone().unwrap_or_else(|| "-".into()), p.pid.to_string(), p.name.clone()),
        None => ("-".into(), "-".into(), "-".into()),
    };
    let host = r.host.as_deref().map_or_else(|| r.dst.to_string(), str::to_string);
    let row = Row {
        agent: agent.clone(),
        pid: pid.clone(),
        process,
        host: host.clone(),
        class: r.class.to_string(),
        verdict: r.verdict,
        flows: 1,
        bytes: r.bytes,
        last_seen: {
            let t = r.last_seen.to_string();
            t.get(11..19).unwrap_or(&t).to_string()
        },
    };
    ((agent, pid, host), row)
}

fn merge(rows: &mut BTreeMap<RowKey, Row>, r: &FlowReport<'_>) {
    let (key, row) = row_of(r);
    match rows.get_mut(&key) {
        Some(existing) => {
            existing.flows += 1;
            existing.bytes += row.bytes;
            existing.last_seen = existing.last_seen.clone().max(row.last_seen);
            if row.verdict > existing.verdict {
                existing.verdict = row.verdict;
                existing.class = row.class;
            }
        }
        None => {
            rows.insert(key, row);
        }
    }
}

/// Restores the terminal however the watch ends.
struct RawMode(bool);

impl Drop for RawMode {
    fn drop(&mut self) {
        if self.0 {
            let _ = terminal::disable_raw_mode();
        }
    }
}

fn quit_key(ev: &Event) -> bool {
    matches!(
        ev,
        Event::Key(KeyEvent { code: KeyCode::Char('q') | KeyCode::Esc, .. })
            | Event::Key(KeyEvent { code: KeyCode::Char('c'), modifiers: KeyModifiers::CONTROL, .. })
    )
}

pub fn watch(
    cfg: WatchConfig<'_>,
    tty: bool,
    out: &mut dyn Write,
    summary: &mut dyn Renderer,
) -> Result<Report, LiveError> {
    let mut capture = LiveCapture::open(&cfg.iface, cfg.filter.as_deref(), None)?;
    let started = Instant::now();
    let raw = RawMode(tty && terminal::enable_raw_mode().is_ok());
    let mut builder = cfg.options.builder(&cfg.catalog, &cfg.policy);
    let mut analyzer = match cfg.owners {
        Some(o) => Analyzer::with_owner_lookup(o),
        None => Analyzer::new(),
    };
    let mut finished: BTreeMap<RowKey, Row> = BTreeMap::new();
    let mut printed: BTreeMap<RowKey, Verdict> = BTreeMap::new();
    let iface = cfg.iface.clone();
    let mut last_key_poll = Instant::now();
    let mut quit = false;
    while !quit && !cfg.stop.load(Ordering::Relaxed) {
        let tick_end = Instant::now() + TICK;
        let mut keep_going = || {
            if raw.0 && last_key_poll.elapsed() >= KEY_POLL {
                last_key_poll = Instant::now();
                while event::poll(Duration::ZERO).unwrap_or(false) {
                    if event::read().is_ok_and(|ev| quit_key(&ev)) {
                        quit = true;
                    }
                }
            }
            !quit && !cfg.stop.load(Ordering::Relaxed) && Instant::now() < tick_end
        };
        capture.run(&mut keep_going, &mut |frame| match frame {
            Some(frame) => analyzer.push(frame, &mut |flow| {
                let report = builder.flow(&flow, &iface, 1);
                // The summary's own format (json, ndjson, ocsf) gets every flow, as `check` writes them.
                let _ = summary.flow(&report);
                merge(&mut finished, &report);
            }),
            None => analyzer.idle(),
        })?;
        let mut rows = finished.clone();
        for f in analyzer.active_flows() {
            merge(&mut rows, &builder.judge_flow(f, &iface, 1));
        }
        if let Some(agent) = &cfg.agent {
            rows.retain(|(a, _, _), _| a == agent);
        }
        let shown = if tty { draw(out, &rows, &iface) } else { append_lines(out, &rows, &mut printed) };
        if shown.is_err() {
            break;
        }
    }
    drop(raw);
    let (dns, stats) = analyzer.finish(&mut |flow| {
        let _ = summary.flow(&builder.flow(&flow, &iface, 1));
    });
    builder.dns(&dns, &iface, 1);
    let (entry, notes) = crate::live::live_source(&mut capture, iface, &stats, cfg.filter.as_deref(), started);
    let report = builder.finish(header(vec![entry], &cfg.policy, &cfg.catalog), Vec::new(), notes);
    let _ = summary.finish(&report);
    Ok(report)
}

fn sorted(rows: &BTreeMap<RowKey, Row>) -> Vec<&Row> {
    let mut v: Vec<&Row> = rows.values().collect();
    v.sort_by(|a, b| b.verdict.cmp(&a.verdict).then(b.bytes.cmp(&a.bytes)).then(a.host.cmp(&b.host)));
    v
}

fn draw(out: &mut dyn Write, rows: &BTreeMap<RowKey, Row>, iface: &str) -> io::Result<()> {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED);
    t.set_header(vec!["verdict", "agent", "pid", "process", "host", "class", "flows", "bytes", "last seen"]);
    for r in sorted(rows) {
        let color = match r.verdict {
            Verdict::Violation => Color::Red,
            Verdict::Warn => Color::Yellow,
            Verdict::Allow => Color::Green,
        };
        t.add_row(vec![
            Cell::new(r.verdict.as_str()).fg(color),
            Cell::new(printable_str(&r.agent)),
            Cell::new(&r.pid),
            Cell::new(printable_str(&r.process)),
            Cell::new(printable_str(&r.host)),
            Cell::new(&r.class),
            Cell::new(r.flows),
            Cell::new(human_bytes(r.bytes)),
            Cell::new(&r.last_seen),
        ]);
    }
    // Raw mode: lines need an explicit carriage return.
    let text = format!("{t}").replace('\n', "\r\n");
    write!(out, "\x1b[H\x1b[2J{text}\r\negress-audit watch on {iface} · q or Ctrl-C to quit\r\n")?;
    out.flush()
}

fn append_lines(
    out: &mut dyn Write,
    rows: &BTreeMap<RowKey, Row>,
    printed: &mut BTreeMap<RowKey, Verdict>,
) -> io::Result<()> {
    for (key, r) in rows {
        if printed.get(key).is_some_and(|v| *v >= r.verdict) {
            continue;
        }
        printed.insert(key.clone(), r.verdict);
        writeln!(
            out,
            "{} {} host={} class={} agent={} pid={} process={}",
            r.last_seen,
            r.verdict.as_str().to_uppercase(),
            printable_str(&r.host),
            r.class,
            printable_str(&r.agent),
            r.pid,
            printable_str(&r.process)
        )?;
    }
    out.flush()
}
