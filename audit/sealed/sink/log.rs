//! What the sink saw: one record per connection and per request, kept in memory (bounded) and streamed
//! as JSON lines to a file, flushed per record, so a run that is killed still leaves its log.
//!
//! Header values are never recorded: they carry the agent's credentials. Only names are.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Records kept in memory per kind; the file still gets every record past this.
const MAX_RECORDS: usize = 200_000;

/// Seconds since the Unix epoch, as in the capture's timestamps.
pub fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsOutcome {
    /// Handshake completed.
    Established,
    /// The client (or we) gave up during the handshake: an untrusted CA shows up here.
    Failed,
    /// Plain bytes (not a TLS record) on this connection.
    Plain,
    /// The client sent nothing before the first-byte timeout or closed at once.
    Silent,
}

#[derive(Clone, Debug, Serialize)]
pub struct ConnectionRecord {
    pub id: u64,
    pub time: f64,
    /// The client's ip:port: joins the capture's flow and, through it, the process.
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub tls: bool,
    pub outcome: TlsOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alpn_offered: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<String>,
    /// Why the handshake failed (an alert the client sent, such as `UnknownCA`, or our own error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_error: Option<String>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CanaryHit {
    pub id: String,
    /// `header:<name>`, `path` or `body`.
    #[serde(rename = "where")]
    pub location: String,
    /// `raw`, `base64`, `base64url`, `percent` or `hex`.
    pub encoding: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct RequestRecord {
    pub connection: u64,
    pub time: f64,
    pub http_version: &'static str,
    pub method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// Path with query.
    pub path: String,
    /// Names only, in order of first appearance, lowercased.
    pub header_names: Vec<String>,
    /// Headers past the recorded limit (their names are not listed).
    #[serde(skip_serializing_if = "is_zero")]
    pub headers_dropped: u64,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emulation: Option<&'static str>,
    /// Model name the emulation echoed, when it found one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub body_size: u64,
    /// The body was longer than what was read or kept: `body_size` counts what arrived before we stopped.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub body_truncated: bool,
    /// The body came compressed with this encoding (`gzip`, `deflate`, `zstd`): emulation, canary scan
    /// and the kept body use it decoded (bounded like any body).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_decoded: Option<&'static str>,
    /// Kept only with `keep_bodies`: UTF-8 text as is, anything else in `body_base64`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub canary_hits: Vec<CanaryHit>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Everything the sink saw in one run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SinkLog {
    pub connections: Vec<ConnectionRecord>,
    pub requests: Vec<RequestRecord>,
    /// Connections refused because `max_connections` were open.
    pub connections_refused: u64,
    /// Records left out of this in-memory log (never out of the file) past its bound.
    pub records_dropped: u64,
    /// Kept bodies left out of this in-memory log (never out of the file) past its byte bound.
    #[serde(skip_serializing_if = "is_zero")]
    pub bodies_dropped: u64,
    /// Errors writing the JSON-lines file (the first one's text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_error: Option<String>,
}

impl SinkLog {
    pub fn connection(&self, id: u64) -> Option<&ConnectionRecord> {
        self.connections.iter().find(|c| c.id == id)
    }
}

#[derive(Serialize)]
#[serde(tag = "record", rename_all = "snake_case")]
enum Line<'a> {
    Sink { time: f64, listen: &'a [SocketAddr] },
    Connection(&'a ConnectionRecord),
    ConnectionEnd { id: u64, time: f64, bytes_in: u64, bytes_out: u64 },
    Request(&'a RequestRecord),
}

/// The shared recorder: in-memory log plus the JSON-lines file.
pub struct Recorder {
    inner: Mutex<RecorderInner>,
}

struct RecorderInner {
    log: SinkLog,
    file: Option<BufWriter<File>>,
    /// Body bytes the in-memory log may still hold.
    body_room: usize,
}

impl Recorder {
    pub fn new(path: Option<&Path>, body_room: usize) -> std::io::Result<Recorder> {
        let file = match path {
            Some(p) => Some(BufWriter::new(File::create(p)?)),
            None => None,
        };
        Ok(Recorder { inner: Mutex::new(RecorderInner { log: SinkLog::default(), file, body_room }) })
    }

    fn write(inner: &mut RecorderInner, line: &Line<'_>) {
        let Some(file) = inner.file.as_mut() else { return };
        let result = serde_json::to_writer(&mut *file, line)
            .map_err(std::io::Error::other)
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.flush());
        if let Err(e) = result
            && inner.log.file_error.is_none()
        {
            inner.log.file_error = Some(e.to_string());
        }
    }

    pub fn started(&self, listen: &[SocketAddr]) {
        if let Ok(mut inner) = self.inner.lock() {
            Self::write(&mut inner, &Line::Sink { time: now(), listen });
        }
    }

    pub fn connection(&self, record: ConnectionRecord) {
        if let Ok(mut inner) = self.inner.lock() {
            Self::write(&mut inner, &Line::Connection(&record));
            if inner.log.connections.len() < MAX_RECORDS {
                inner.log.connections.push(record);
            } else {
                inner.log.records_dropped += 1;
            }
        }
    }

    pub fn connection_end(&self, id: u64, bytes_in: u64, bytes_out: u64) {
        if let Ok(mut inner) = self.inner.lock() {
            let time = now();
            Self::write(&mut inner, &Line::ConnectionEnd { id, time, bytes_in, bytes_out });
            // Connections end roughly in the order they were logged: search from the back.
            if let Some(c) = inner.log.connections.iter_mut().rev().find(|c| c.id == id) {
                c.bytes_in = bytes_in;
                c.bytes_out = bytes_out;
                c.closed = Some(time);
            }
        }
    }

    pub fn request(&self, mut record: RequestRecord) {
        if let Ok(mut inner) = self.inner.lock() {
            Self::write(&mut inner, &Line::Request(&record));
            let body = record.body.as_ref().map_or(0, String::len) + record.body_base64.as_ref().map_or(0, String::len);
            if body > inner.body_room {
                record.body = None;
                record.body_base64 = None;
                inner.log.bodies_dropped += 1;
            } else {
                inner.body_room -= body;
            }
            if inner.log.requests.len() < MAX_RECORDS {
                inner.log.requests.push(record);
            } else {
                inner.log.records_dropped += 1;
            }
        }
    }

    pub fn refused(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.log.connections_refused += 1;
        }
    }

    pub fn snapshot(&self) -> SinkLog {
        self.inner.lock().map(|i| i.log.clone()).unwrap_or_default()
    }

    pub fn finish(&self) -> SinkLog {
        match self.inner.lock() {
            Ok(mut inner) => {
                if let Some(f) = inner.file.as_mut() {
                    let _ = f.flush();
                }
                std::mem::take(&mut inner.log)
            }
            Err(_) => SinkLog::default(),
        }
    }
}
