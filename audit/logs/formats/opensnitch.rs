//! OpenSnitch, the application firewall: every connection with the process that opened it and the
//! rule's action. Three forms real setups produce:
//! - the daemon's event logger, JSON format (`"Loggers"` in default-config.json): one
//!   `{"Event":{…connection…},"Rule":"name","Action":"allow|deny|reject","Type":0}` per event,
//!   possibly behind a syslog prefix;
//! - the same logger in RFC 5424 format: `… TCPOUT - [SRC="…" DSTHOST="…" PATH="…" ARG1="deny" ARG2="rule"]`;
//! - the GUI's `connections` table (its SQLite database) exported as CSV with a header
//!   (`sqlite3 -header -csv db 'select * from connections'`): `time,node,action,protocol,src_ip,
//!   src_port,dst_ip,dst_host,dst_port,uid,pid,process,process_args,process_cwd,rule`, time local.
//!
//! An `allow` is a connection that went out (counted as answered), `deny`/`reject` a block.

use super::Parser;
use crate::logs::clock::Clock;
use crate::logs::csv;
use crate::logs::{Event, InputFormat, Kind};
use serde_json::Value;

pub struct OpenSnitch {
    clock: Clock,
    columns: Option<Vec<String>>,
}

impl OpenSnitch {
    pub fn new(clock: Clock) -> OpenSnitch {
        OpenSnitch { clock, columns: None }
    }
}

/// One connection as the three forms describe it.
#[derive(Default)]
struct Connection {
    time: Option<crate::source::Nanos>,
    action: String,
    rule: String,
    dst_host: String,
    dst_ip: String,
    dst_port: String,
    protocol: String,
    src_ip: String,
    process: String,
    pid: String,
}

impl Parser for OpenSnitch {
    fn format(&self) -> InputFormat {
        InputFormat::Opensnitch
    }

    fn parse(&mut self, line: &str, out: &mut Vec<Event>) -> Result<(), &'static str> {
        let c = if let Some(start) = line.find("{\"Event\"") {
            let time = self.clock.syslog(line).or_else(|| self.clock.iso(line)).map(|(t, _)| t);
            from_json(&line[start..], time)?
        } else if let Some(start) = line.find(" TCPOUT - [") {
            let time = line.split(' ').nth(1).and_then(|t| self.clock.iso(t)).map(|(t, _)| t);
            from_rfc5424(&line[start + 11..], time)?
        } else if line.starts_with("time,node,action") {
            self.columns = Some(csv::fields(line)?);
            return Ok(());
        } else if let Some(cols) = &self.columns {
            let f = csv::fields(line)?;
            let get = |n: &str| cols.iter().position(|c| c == n).and_then(|i| f.get(i)).cloned().unwrap_or_default();
            let time = self.clock.iso(&get("time")).map(|(t, _)| t);
            Connection {
                time,
                action: get("action"),
                rule: get("rule"),
                dst_host: get("dst_host"),
                dst_ip: get("dst_ip"),
                dst_port: get("dst_port"),
                protocol: get("protocol"),
                src_ip: get("src_ip"),
                process: get("process"),
                pid: get("pid"),
            }
        } else {
            return Err("not an OpenSnitch event (JSON or RFC 5424 logger line, or connections CSV row)");
        };
        let name = if c.dst_host.is_empty() { c.dst_ip.clone() } else { c.dst_host.clone() };
        if name.is_empty() {
            return Err("connection without a destination");
        }
        let kind = match c.action.to_ascii_lowercase().as_str() {
            "allow" | "accept" => Kind::Answered,
            "deny" | "reject" | "drop" => Kind::Blocked,
            _ => return Err("connection action is not allow, deny or reject"),
        };
        let mut q = Event::new(c.time, name, Kind::Query);
        q.qtype = Some(format!("{}/{}", c.protocol, c.dst_port));
        q.client = (!c.src_ip.is_empty()).then(|| c.src_ip.clone());
        q.process = (!c.process.is_empty()).then(|| {
            if c.pid.is_empty() || c.pid == "0" { c.process.clone() } else { format!("{} [{}]", c.process, c.pid) }
        });
        let mut o = q.clone();
        o.kind = kind;
        o.answer = (!c.dst_ip.is_empty()).then(|| c.dst_ip.clone());
        o.detail = Some(if c.rule.is_empty() { c.action.clone() } else { format!("{} (rule {})", c.action, c.rule) });
        out.push(q);
        out.push(o);
        Ok(())
    }
}

fn from_json(text: &str, time: Option<crate::source::Nanos>) -> Result<Connection, &'static str> {
    let v: Value = serde_json::from_str(text.trim_end()).map_err(|_| "OpenSnitch event is not valid JSON")?;
    let ev = v.get("Event").ok_or("OpenSnitch event without Event")?;
    let s = |o: &Value, k: &str| match o.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    Ok(Connection {
        time,
        action: s(&v, "Action"),
        rule: s(&v, "Rule"),
        dst_host: s(ev, "dst_host"),
        dst_ip: s(ev, "dst_ip"),
        dst_port: s(ev, "dst_port"),
        protocol: s(ev, "protocol"),
        src_ip: s(ev, "src_ip"),
        process: s(ev, "process_path"),
        pid: s(ev, "process_id"),
    })
}

/// `SRC="…" SPT="…" … ARG1="deny" ARG2="rule"]`.
fn from_rfc5424(text: &str, time: Option<crate::source::Nanos>) -> Result<Connection, &'static str> {
    let mut c = Connection { time, ..Connection::default() };
    let mut rest = text;
    while let Some(eq) = rest.find("=\"") {
        let key = rest[..eq].trim();
        let after = &rest[eq + 2..];
        let end = after.find('"').ok_or("unterminated value")?;
        let value = after[..end].to_string();
        match key {
            "SRC" => c.src_ip = value,
            "DST" => c.dst_ip = value,
            "DSTHOST" => c.dst_host = value,
            "DPT" => c.dst_port = value,
            "PROTO" => c.protocol = value,
            "PID" => c.pid = value,
            "PATH" => c.process = value,
            "ARG1" => c.action = value,
            "ARG2" => c.rule = value,
            _ => {}
        }
        rest = &after[end + 1..];
    }
    Ok(c)
}
