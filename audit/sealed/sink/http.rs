//! One HTTP request (HTTP/1.x or HTTP/2): read the body within bounds, scan for canaries, let an
//! emulation answer or return the default status, and log the request: header names, never values.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, HOST, HeaderValue, UPGRADE};
use hyper::{Method, Request, Response, StatusCode, Version};
use serde_json::json;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::log::{RequestRecord, now};
use super::{Shared, SinkLimits};
use super::{decode, emulate};

/// Header names listed per request; a request with more gets a count of the rest.
const MAX_HEADER_NAMES: usize = 128;
/// Bytes kept from the end of a body too long to keep whole.
const TAIL: usize = 4096;
/// Longest method, path or authority recorded (bytes); longer ones are cut.
const MAX_TEXT: usize = 8192;

fn version_str(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/?",
    }
}

fn cut(s: &str) -> String {
    if s.len() <= MAX_TEXT {
        return s.to_string();
    }
    let mut end = MAX_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// The body as far as we read it: bytes kept (at most the keep limit), bytes seen, and whether we
/// stopped before its end.
struct Body {
    kept: Vec<u8>,
    /// The last bytes of a body longer than `kept` (bounded by [`TAIL`]).
    tail: Vec<u8>,
    size: u64,
    truncated: bool,
    /// Bytes of the sink-wide buffer budget this body holds until its request is logged.
    budget: Option<OwnedSemaphorePermit>,
}

impl Body {
    /// Takes `n` more bytes of the shared budget; false when the budget is spent.
    fn reserve(&mut self, budget: &Arc<Semaphore>, n: usize) -> bool {
        let Ok(n) = u32::try_from(n) else { return false };
        match budget.clone().try_acquire_many_owned(n) {
            Ok(p) => {
                match self.budget.as_mut() {
                    Some(held) => held.merge(p),
                    None => self.budget = Some(p),
                }
                true
            }
            Err(_) => false,
        }
    }
}

async fn read_body(mut body: Incoming, limits: &SinkLimits, budget: &Arc<Semaphore>) -> Body {
    let (keep, drain) = (limits.body_keep, limits.body_drain);
    let mut out = Body { kept: Vec::new(), tail: Vec::new(), size: 0, truncated: false, budget: None };
    let deadline = Instant::now() + limits.body_timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    out.size += data.len() as u64;
                    let mut take = if out.truncated { 0 } else { keep.saturating_sub(out.kept.len()).min(data.len()) };
                    // Past the sink-wide budget (many large bodies at once) a body is drained, not kept; once
                    // a byte is skipped nothing more is kept, so a kept body never has a hole.
                    if take > 0 && !out.reserve(budget, take) {
                        take = 0;
                    }
                    out.kept.extend_from_slice(&data[..take]);
                    if take < data.len() {
                        out.truncated = true;
                        let rest = &data[take..];
                        let rest = &rest[rest.len().saturating_sub(TAIL)..];
                        let drop = (out.tail.len() + rest.len()).saturating_sub(TAIL);
                        out.tail.drain(..drop);
                        out.tail.extend_from_slice(rest);
                    }
                    if out.size > drain {
                        out.truncated = true;
                        return out;
                    }
                }
            }
            Ok(None) => return out,
            // A reset stream or a client that stalls: answer with what arrived.
            Ok(Some(Err(_))) | Err(_) => {
                out.truncated = true;
                return out;
            }
        }
    }
}

fn is_websocket(req: &Request<Incoming>) -> bool {
    let h1 =
        req.headers().get_all(UPGRADE).iter().any(|v| {
            String::from_utf8_lossy(v.as_bytes()).split(',').any(|p| p.trim().eq_ignore_ascii_case("websocket"))
        });
    let h2 = req.method() == Method::CONNECT
        && req.extensions().get::<hyper::ext::Protocol>().is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"));
    h1 || h2
}

pub async fn handle(
    req: Request<Incoming>,
    conn_id: u64,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let time = now();
    let websocket = is_websocket(&req);
    let (parts, body) = req.into_parts();
    let method = cut(parts.method.as_str());
    let authority = parts
        .uri
        .authority()
        .map(|a| cut(a.as_str()))
        .or_else(|| parts.headers.get(HOST).map(|h| cut(&String::from_utf8_lossy(h.as_bytes()))));
    let path = match parts.uri.path_and_query() {
        Some(pq) => cut(pq.as_str()),
        // CONNECT carries an authority, not a path.
        None => cut(&parts.uri.to_string()),
    };
    let mut header_names: Vec<String> = Vec::new();
    let mut headers_dropped = 0u64;
    let mut hits = Vec::new();
    for (name, value) in &parts.headers {
        let name = name.as_str();
        if !header_names.iter().any(|n| n == name) {
            if header_names.len() < MAX_HEADER_NAMES {
                header_names.push(name.to_string());
            } else {
                headers_dropped += 1;
            }
        }
        if !shared.canaries.is_empty() {
            let location = format!("header:{name}");
            shared.canaries.scan(value.as_bytes(), &location, &mut hits);
            if name == "host" {
                shared.canaries.scan_name(value.as_bytes(), &location, &mut hits);
            }
        }
    }
    shared.canaries.scan(path.as_bytes(), "path", &mut hits);
    if let Some(a) = parts.uri.authority() {
        // HTTP/2's :authority is no header in hyper's map; HTTP/1's Host was scanned above.
        shared.canaries.scan_name(a.as_str().as_bytes(), "header::authority", &mut hits);
    }

    let limits = &shared.limits;
    let mut body = read_body(body, limits, &shared.body_budget).await;
    let encoding = parts.headers.get(CONTENT_ENCODING).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let mut body_decoded = None;
    let decoded = encoding.and_then(|e| {
        // Decoded output counts against the budget too; without room, only what fits is decoded.
        let room = limits.body_keep.saturating_sub(body.kept.len());
        let limit = if body.reserve(&shared.body_budget, room) { limits.body_keep } else { body.kept.len() };
        decode::decode(&e, &body.kept, limit)
    });
    if let Some((plain, name)) = decoded {
        // Canaries in the bytes as sent (an encoded token survives compression only by chance) and as decoded.
        shared.canaries.scan(&body.kept, "body", &mut hits);
        body.kept = plain;
        body_decoded = Some(name);
    }
    shared.canaries.scan(&body.kept, "body", &mut hits);

    let reply = if shared.emulate {
        emulate::reply(&emulate::Request {
            method: &method,
            path: parts.uri.path(),
            query: parts.uri.query(),
            websocket,
            body: &body.kept,
            tail: &body.tail,
            size: body.size,
        })
    } else {
        None
    };
    let (status, content_type, payload, emulation, model) = match reply {
        Some(r) => (r.status, r.content_type, r.body, Some(r.name), r.model),
        None => {
            let payload = json!({"error": {"type": "not_found", "message": "egress-audit sealed sink: nothing here"}});
            (shared.default_status, "application/json", payload.to_string().into_bytes(), None, None)
        }
    };

    let (kept_text, kept_b64) = match (shared.keep_bodies, body.kept.is_empty()) {
        (true, false) => match String::from_utf8(body.kept) {
            Ok(text) => (Some(text), None),
            Err(e) => (None, Some(base64::engine::general_purpose::STANDARD.encode(e.as_bytes()))),
        },
        _ => (None, None),
    };
    shared.recorder.request(RequestRecord {
        connection: conn_id,
        time,
        http_version: version_str(parts.version),
        method,
        authority,
        path,
        header_names,
        headers_dropped,
        status,
        emulation,
        model,
        body_size: body.size,
        body_truncated: body.truncated,
        body_decoded,
        body: kept_text,
        body_base64: kept_b64,
        canary_hits: hits,
    });

    let mut response = Response::new(Full::new(Bytes::from(payload)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::NOT_FOUND);
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if content_type == "text/event-stream" {
        response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    Ok(response)
}
