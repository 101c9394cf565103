//! The sealed-run sink against real clients on loopback (127.0.0.1 and ::1, port 0): curl over HTTP/1.1
//! and HTTP/2, an IP literal, plain HTTP, openssl s_client without the CA, Python's ssl module, a
//! WebSocket upgrade, the vendors' real SDKs parsing the emulated model replies, canaries, and hostile
//! input (garbage, slowloris, oversized headers and bodies, too many connections).

// Helpers outside #[test] functions too: in a test a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use egress_audit::sealed::sink::{Canary, RequestRecord, Sink, SinkConfig, SinkHandle, SinkLog, TlsOutcome};
use serde_json::Value;

struct Run {
    sink: Option<SinkHandle>,
    dir: tempfile::TempDir,
}

impl Run {
    fn start(listen: &[&str], tweak: impl FnOnce(&mut SinkConfig)) -> Run {
        let dir = tempfile::tempdir().unwrap();
        let mut config = SinkConfig {
            listen: listen.iter().map(|a| a.parse().unwrap()).collect(),
            ca_cert_path: Some(dir.path().join("ca.pem")),
            log_path: Some(dir.path().join("sink.ndjson")),
            ..SinkConfig::default()
        };
        tweak(&mut config);
        let sink = Sink::start(config).unwrap();
        Run { sink: Some(sink), dir }
    }

    fn addr(&self, v6: bool) -> SocketAddr {
        *self.sink.as_ref().unwrap().local_addrs().iter().find(|a| a.is_ipv6() == v6).unwrap()
    }

    fn port(&self) -> u16 {
        self.addr(false).port()
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn log_file(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sink.ndjson")).unwrap()
    }

    fn stop(&mut self) -> SinkLog {
        self.sink.take().unwrap().stop()
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn curl(args: &[&str]) -> Output {
    run(Command::new("curl").args(["-sS", "--max-time", "20", "--noproxy", "*"]).args(args))
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn requests_to<'a>(log: &'a SinkLog, path: &str) -> Vec<&'a RequestRecord> {
    log.requests.iter().filter(|r| r.path == path).collect()
}

const SECRET: &str = "sk-ant-secret-value-never-logged-7f3a";

#[test]
fn curl_http1_and_http2_to_any_name_with_the_run_ca() {
    let mut sink = Run::start(&["127.0.0.1:0"], |_| {});
    let port = sink.port();
    let resolve = format!("api.anthropic.test:{port}:127.0.0.1");
    let url = format!("https://api.anthropic.test:{port}/v1/messages?beta=true");
    let ca = sink.ca();
    let ca = ca.to_str().unwrap();
    let header = format!("x-api-key: {SECRET}");
    let body = r#"{"model":"claude-curl-1","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;
    let h1 = curl(&["--http1.1", "--cacert", ca, "--resolve", &resolve, "-H", &header, "-d", body, &url]);
    assert!(h1.status.success(), "{h1:?}");
    let reply: Value = serde_json::from_str(&text(&h1)).unwrap();
    assert_eq!(reply["content"][0]["text"], "OK");
    assert_eq!(reply["model"], "claude-curl-1");

    let stream_body = r#"{"model":"claude-curl-2","stream":true,"max_tokens":8,"messages":[]}"#;
    let h2 = curl(&["--http2", "--cacert", ca, "--resolve", &resolve, "-H", &header, "-d", stream_body, &url]);
    assert!(h2.status.success(), "{h2:?}");
    let sse = text(&h2);
    let events: Vec<&str> = sse.lines().filter_map(|l| l.strip_prefix("event: ")).map(str::trim).collect::<Vec<_>>();
    assert_eq!(
        events,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );

    // Streamed to the file as it happens, before stop(): a killed run keeps its log.
    let early = sink.log_file();
    assert_eq!(early.lines().filter(|l| l.contains(r#""record":"request""#)).count(), 2, "{early}");

    let log = sink.stop();
    let file = sink.log_file();
    assert!(!file.contains(SECRET), "a header value reached the log file");
    assert!(!serde_json::to_string(&log).unwrap().contains(SECRET), "a header value reached the log");

    assert_eq!(log.connections.len(), 2, "{log:#?}");
    let alpns: Vec<Option<&str>> = log.connections.iter().map(|c| c.alpn.as_deref()).collect();
    assert!(alpns.contains(&Some("http/1.1")) && alpns.contains(&Some("h2")), "{alpns:?}");
    for c in &log.connections {
        assert_eq!(c.outcome, TlsOutcome::Established);
        assert!(c.tls);
        assert_eq!(c.sni.as_deref(), Some("api.anthropic.test"));
        assert_eq!(c.local.port(), port);
        assert!(c.peer.ip().is_loopback() && c.peer.port() != port);
        assert!(c.bytes_in > 500 && c.bytes_out > 500, "{c:?}");
        assert!(c.closed.is_some());
    }
    let h2_conn = log.connections.iter().find(|c| c.alpn.as_deref() == Some("h2")).unwrap();
    assert_eq!(h2_conn.alpn_offered, ["h2", "http/1.1"]);
    let reqs = requests_to(&log, "/v1/messages?beta=true");
    assert_eq!(reqs.len(), 2);
    let versions: Vec<&str> = reqs.iter().map(|r| r.http_version).collect();
    assert_eq!(versions, ["HTTP/1.1", "HTTP/2"]);
    for r in &reqs {
        assert_eq!(r.method, "POST");
        assert_eq!(r.authority.as_deref(), Some(format!("api.anthropic.test:{port}").as_str()));
        assert!(r.header_names.iter().any(|h| h == "x-api-key"), "{:?}", r.header_names);
        assert!(r.header_names.iter().any(|h| h == "content-type"));
        assert_eq!(r.status, 200);
        assert!(r.body.is_none(), "bodies are kept only with keep_bodies");
        assert!(r.canary_hits.is_empty());
    }
    assert_eq!(reqs[0].emulation, Some("anthropic.messages"));
    assert_eq!(reqs[1].emulation, Some("anthropic.messages.stream"));
    assert_eq!(reqs[1].model.as_deref(), Some("claude-curl-2"));
    assert_eq!(reqs[0].body_size, body.len() as u64);
}

#[test]
fn ipv6_ip_literals_and_plain_http_on_the_same_listener() {
    let mut sink = Run::start(&["127.0.0.1:0", "[::1]:0"], |c| c.default_status = 410);
    let (p4, p6) = (sink.port(), sink.addr(true).port());
    let ca = sink.ca();
    let ca = ca.to_str().unwrap();
    let chat = r#"{"model":"gpt-curl","messages":[{"role":"user","content":"hi"}]}"#;
    // IP literals: no SNI is sent, the certificate carries the dialled address as IP SAN and verifies.
    let v6 = curl(&["--cacert", ca, "-d", chat, &format!("https://[::1]:{p6}/v1/chat/completions")]);
    assert!(v6.status.success(), "{v6:?}");
    let reply: Value = serde_json::from_str(&text(&v6)).unwrap();
    assert_eq!(reply["choices"][0]["message"]["content"], "OK");
    let v4 = curl(&["--cacert", ca, "-d", chat, &format!("https://127.0.0.1:{p4}/v1/chat/completions")]);
    assert!(v4.status.success(), "{v4:?}");
    // A name over IPv6.
    let named = curl(&[
        "--cacert",
        ca,
        "--resolve",
        &format!("gen.example.test:{p6}:[::1]"),
        "-X",
        "POST",
        "-d",
        "{}",
        &format!("https://gen.example.test:{p6}/v1beta/models/gemini-x:generateContent"),
    ]);
    assert!(named.status.success(), "{named:?}");
    let reply: Value = serde_json::from_str(&text(&named)).unwrap();
    assert_eq!(reply["candidates"][0]["content"]["parts"][0]["text"], "OK");
    assert_eq!(reply["modelVersion"], "gemini-x");
    // Plain HTTP to the TLS port: seen too, and a path no emulation covers gets the configured status.
    let plain = curl(&["-o", "/dev/null", "-w", "%{http_code}", &format!("http://127.0.0.1:{p4}/api/hello?x=1")]);
    assert_eq!(text(&plain), "410");

    let log = sink.stop();
    assert_eq!(log.connections.len(), 4, "{log:#?}");
    let v6_conn = log.connections.iter().find(|c| c.local.ip().is_ipv6() && c.sni.is_none()).unwrap();
    assert_eq!(v6_conn.outcome, TlsOutcome::Established);
    assert_eq!(v6_conn.local.ip().to_string(), "::1");
    let named_conn = log.connections.iter().find(|c| c.sni.as_deref() == Some("gen.example.test")).unwrap();
    assert!(named_conn.local.is_ipv6());
    let plain_conn = log.connections.iter().find(|c| c.outcome == TlsOutcome::Plain).unwrap();
    assert!(!plain_conn.tls && plain_conn.sni.is_none());
    let hello = requests_to(&log, "/api/hello?x=1");
    assert_eq!(hello.len(), 1);
    assert_eq!((hello[0].status, hello[0].emulation), (410, None));
    assert_eq!(hello[0].authority.as_deref(), Some(format!("127.0.0.1:{p4}").as_str()));
    assert_eq!(hello[0].connection, plain_conn.id);
    assert_eq!(requests_to(&log, "/v1/chat/completions").len(), 2);
}

#[test]
fn tls12_and_clients_offering_only_unknown_alpn_are_served() {
    let mut sink = Run::start(&["127.0.0.1:0"], |_| {});
    let port = sink.port();
    let ca = sink.ca();
    let tls12 = curl(&[
        "--tls-max",
        "1.2",
        "--cacert",
        ca.to_str().unwrap(),
        "--resolve",
        &format!("old.example.test:{port}:127.0.0.1"),
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("https://old.example.test:{port}/tls12"),
    ]);
    assert_eq!(text(&tls12), "404", "{tls12:?}");
    let mut s_client = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect", &format!("127.0.0.1:{port}"), "-servername", "alpn.example.test"])
        .args(["-alpn", "x-custom/1", "-verify_return_error", "-CAfile"])
        .arg(&ca)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    s_client.stdin.take().unwrap().write_all(b"GET /alpn HTTP/1.1\r\nHost: alpn\r\nConnection: close\r\n\r\n").unwrap();
    let out = s_client.wait_with_output().unwrap();
    assert!(text(&out).starts_with("HTTP/1.1 404"), "{out:?}");

    let log = sink.stop();
    let old = log.connections.iter().find(|c| c.sni.as_deref() == Some("old.example.test")).unwrap();
    assert_eq!(old.tls_version.as_deref(), Some("TLSv1_2"));
    let custom = log.connections.iter().find(|c| c.sni.as_deref() == Some("alpn.example.test")).unwrap();
    assert_eq!((custom.alpn_offered.as_slice(), custom.alpn.as_deref()), (&["x-custom/1".to_string()][..], None));
    assert_eq!(requests_to(&log, "/alpn").len(), 1);
}

#[test]
fn clients_that_do_not_trust_the_ca_are_logged_with_sni_and_alpn() {
    let mut sink = Run::start(&["127.0.0.1:0"], |_| {});
    let port = sink.port();
    let s_client = run(Command::new("openssl").args([
        "s_client",
        "-connect",
        &format!("127.0.0.1:{port}"),
        "-servername",
        "untrusted.example.test",
        "-alpn",
        "h2,http/1.1",
        "-verify_return_error",
    ]));
    assert!(!s_client.status.success(), "s_client verified a certificate it has no CA for");
    let no_ca = curl(&[
        "--resolve",
        &format!("statsig.example.test:{port}:127.0.0.1"),
        &format!("https://statsig.example.test:{port}/v1/initialize"),
    ]);
    assert_eq!(no_ca.status.code(), Some(60), "curl without the CA: {no_ca:?}");

    let log = sink.stop();
    assert!(log.requests.is_empty(), "{:?}", log.requests);
    assert_eq!(log.connections.len(), 2);
    for (sni, offered) in
        [("untrusted.example.test", vec!["h2", "http/1.1"]), ("statsig.example.test", vec!["h2", "http/1.1"])]
    {
        let c = log.connections.iter().find(|c| c.sni.as_deref() == Some(sni)).unwrap();
        assert_eq!(c.outcome, TlsOutcome::Failed, "{c:?}");
        assert!(c.tls);
        assert_eq!(c.alpn_offered, offered);
        let err = c.tls_error.as_deref().unwrap_or_default();
        eprintln!("{sni}: {err}");
        // The client's alert says why: it does not know our CA.
        assert!(err.contains("UnknownCA"), "{sni}: {err}");
    }
}

#[test]
fn websocket_upgrade_is_refused_with_426_and_python_ssl_client_is_served() {
    let mut sink = Run::start(&["127.0.0.1:0"], |_| {});
    let port = sink.port();
    let ca = sink.ca();
    let ws = curl(&[
        "--http1.1",
        "--cacert",
        ca.to_str().unwrap(),
        "--resolve",
        &format!("api.openai.test:{port}:127.0.0.1"),
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        "Connection: Upgrade",
        "-H",
        "Upgrade: websocket",
        "-H",
        "Sec-WebSocket-Version: 13",
        "-H",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        &format!("https://api.openai.test:{port}/v1/responses"),
    ]);
    assert_eq!(text(&ws), "426", "{ws:?}");

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sealed_sink/ssl_client.py");
    let py = run(Command::new("python3").arg(&script).arg(port.to_string()).arg(&ca).arg("py.example.test"));
    assert!(py.status.success(), "{py:?}");
    let seen: Value = serde_json::from_str(text(&py).trim()).unwrap();
    assert_eq!(seen["status"], 404);
    assert_eq!(seen["alpn"], "http/1.1");
    assert_eq!(seen["san"], serde_json::json!([["DNS", "py.example.test"]]));

    let log = sink.stop();
    let ws_req = requests_to(&log, "/v1/responses");
    assert_eq!(ws_req.len(), 1);
    assert_eq!((ws_req[0].status, ws_req[0].emulation), (426, Some("websocket_refused")));
    assert!(ws_req[0].header_names.iter().any(|h| h == "upgrade"));
    let py_req = requests_to(&log, "/v1/models?client=python");
    assert_eq!(py_req.len(), 1);
    assert_eq!(py_req[0].method, "GET");
    let py_conn = log.connection(py_req[0].connection).unwrap();
    assert_eq!(py_conn.sni.as_deref(), Some("py.example.test"));
    assert_eq!(py_conn.tls_version.as_deref(), Some("TLSv1_3"));
}

#[test]
fn emulation_off_gives_every_request_the_default_status() {
    let mut sink = Run::start(&["127.0.0.1:0"], |c| c.emulate = false);
    let port = sink.port();
    let out =
        curl(&["-o", "/dev/null", "-w", "%{http_code}", "-d", "{}", &format!("http://127.0.0.1:{port}/v1/messages")]);
    assert_eq!(text(&out), "404");
    let log = sink.stop();
    assert_eq!((log.requests[0].status, log.requests[0].emulation), (404, None));
}

#[test]
fn cleartext_http2_code_assist_and_gemini_json_streams() {
    let mut sink = Run::start(&["127.0.0.1:0"], |_| {});
    let port = sink.port();
    let body = r#"{"model":"gemini-ca-model","project":"p","request":{"contents":[]}}"#;
    let ca = curl(&[
        "--http2-prior-knowledge",
        "-d",
        body,
        &format!("http://127.0.0.1:{port}/v1internal:streamGenerateContent?alt=sse"),
    ]);
    assert!(ca.status.success(), "{ca:?}");
    let sse = text(&ca);
    let data: Value = serde_json::from_str(sse.trim().strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(data["response"]["candidates"][0]["content"]["parts"][0]["text"], "OK");
    assert_eq!(data["response"]["modelVersion"], "gemini-ca-model");
    let array = curl(&["-d", "{}", &format!("http://127.0.0.1:{port}/v1beta/models/gem-j:streamGenerateContent")]);
    let chunks: Value = serde_json::from_str(&text(&array)).unwrap();
    assert_eq!(chunks[0]["candidates"][0]["content"]["parts"][0]["text"], "OK");

    let log = sink.stop();
    let ca_req = &requests_to(&log, "/v1internal:streamGenerateContent?alt=sse")[0];
    assert_eq!((ca_req.http_version, ca_req.emulation), ("HTTP/2", Some("gemini.code_assist.stream_sse")));
    assert_eq!(log.connection(ca_req.connection).unwrap().outcome, TlsOutcome::Plain);
    assert_eq!(
        requests_to(&log, "/v1beta/models/gem-j:streamGenerateContent")[0].emulation,
        Some("gemini.stream_json")
    );
}

#[test]
fn compressed_bodies_are_decoded_for_emulation_and_canaries() {
    use std::io::Write as _;
    let canary = "cnry-gz-0b9e4471";
    let mut sink =
        Run::start(&["127.0.0.1:0"], |c| c.canaries = vec![Canary { id: "npm".into(), value: canary.into() }]);
    let port = sink.port();
    let plain = format!(r#"{{"model":"claude-gz","stream":true,"metadata":{{"note":"{canary}"}}}}"#);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(plain.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let zst = ruzstd::encoding::compress_to_vec(plain.as_bytes(), ruzstd::encoding::CompressionLevel::Fastest);
    for (name, bytes) in [("gzip", gz), ("zstd", zst)] {
        let file = sink.dir.path().join(name);
        std::fs::write(&file, &bytes).unwrap();
        let out = curl(&[
            "-H",
            &format!("content-encoding: {name}"),
            "--data-binary",
            &format!("@{}", file.display()),
            &format!("http://127.0.0.1:{port}/{name}/v1/messages"),
        ]);
        assert!(
            text(&out).contains("event: message_stop"),
            "{name}: the stream flag inside the compressed body was read"
        );
    }
    let log = sink.stop();
    for name in ["gzip", "zstd"] {
        let r = requests_to(&log, &format!("/{name}/v1/messages"))[0];
        assert_eq!(r.body_decoded, Some(name));
        assert_eq!(r.model.as_deref(), Some("claude-gz"));
        let hits: Vec<(&str, &str)> = r.canary_hits.iter().map(|h| (h.location.as_str(), h.encoding)).collect();
        assert_eq!(hits, [("body", "raw")], "{name}");
    }
}

#[test]
fn a_context_longer_than_the_body_buffer_still_gets_a_stream() {
    let mut sink = Run::start(&["127.0.0.1:0"], |_| {});
    let port = sink.port();
    // 3 MiB of context, and the stream flag last, as SDKs serialize it: past the 1 MiB buffer.
    let context = "x".repeat(3 << 20);
    let body =
        format!(r#"{{"model":"claude-long","messages":[{{"role":"user","content":"{context}"}}],"stream":true}}"#);
    let file = sink.dir.path().join("long.json");
    std::fs::write(&file, &body).unwrap();
    let out =
        curl(&["--data-binary", &format!("@{}", file.display()), &format!("http://127.0.0.1:{port}/v1/messages")]);
    assert!(text(&out).contains("event: message_stop"), "{out:?}");
    let log = sink.stop();
    let r = &log.requests[0];
    assert_eq!((r.emulation, r.model.as_deref()), (Some("anthropic.messages.stream"), Some("claude-long")));
    assert_eq!((r.body_size, r.body_truncated), (body.len() as u64, true));
}

#[test]
fn canaries_are_found_in_headers_paths_and_encoded_bodies() {
    use base64::Engine;
    let canary = "cnry-5d1e0c77-AWS-key";
    let mut sink = Run::start(&["127.0.0.1:0"], |c| {
        c.canaries = vec![Canary { id: "aws".into(), value: canary.into() }];
        c.keep_bodies = true;
    });
    let port = sink.port();
    // Base64 of the canary behind a 2-byte prefix: the encoded canary sits at an unaligned offset.
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("k={canary};"));
    let body = format!(r#"{{"blob":"{b64}"}}"#);
    let leak = curl(&[
        "-o",
        "/dev/null",
        "-H",
        &format!("authorization: Bearer {canary}"),
        "-d",
        &body,
        &format!("http://127.0.0.1:{port}/upload?token=cnry%2D5d1e0c77%2DAWS%2Dkey"),
    ]);
    assert!(leak.status.success(), "{leak:?}");
    let clean = curl(&[
        "-o",
        "/dev/null",
        "-H",
        "authorization: Bearer nothing",
        "-d",
        "{}",
        &format!("http://127.0.0.1:{port}/clean"),
    ]);
    assert!(clean.status.success());
    // In a name: over HTTP/2 the Host header becomes :authority.
    let named = curl(&[
        "--http2-prior-knowledge",
        "-o",
        "/dev/null",
        "-H",
        &format!("Host: {}.example.test", canary.to_lowercase()),
        &format!("http://127.0.0.1:{port}/named"),
    ]);
    assert!(named.status.success());

    let log = sink.stop();
    let named = requests_to(&log, "/named")[0];
    assert_eq!(named.http_version, "HTTP/2");
    let hits: Vec<(&str, &str)> = named.canary_hits.iter().map(|h| (h.location.as_str(), h.encoding)).collect();
    assert_eq!(hits, [("header::authority", "raw")]);
    let leak = requests_to(&log, "/upload?token=cnry%2D5d1e0c77%2DAWS%2Dkey")[0];
    let mut hits: Vec<(String, &str)> = leak.canary_hits.iter().map(|h| (h.location.clone(), h.encoding)).collect();
    hits.sort();
    assert_eq!(
        hits,
        [("body".to_string(), "base64"), ("header:authorization".to_string(), "raw"), ("path".to_string(), "percent")]
    );
    assert!(leak.canary_hits.iter().all(|h| h.id == "aws"));
    assert_eq!(leak.body.as_deref(), Some(body.as_str()));
    assert!(requests_to(&log, "/clean")[0].canary_hits.is_empty());
    let line = sink.log_file().lines().find(|l| l.contains("/upload")).unwrap().to_string();
    assert!(line.contains(r#""where":"header:authorization""#), "{line}");
    assert!(!line.contains("Bearer"), "header values are never logged: {line}");
}

#[test]
fn hostile_clients_do_not_crash_or_grow_the_sink() {
    let mut sink = Run::start(&["127.0.0.1:0"], |c| {
        c.limits.max_connections = 24;
        c.limits.header_timeout = Duration::from_millis(800);
        c.limits.first_byte_timeout = Duration::from_millis(800);
        c.limits.handshake_timeout = Duration::from_millis(800);
        c.limits.body_keep = 4096;
        c.limits.body_drain = 256 << 10;
        c.keep_bodies = true;
    });
    let addr = sink.addr(false);
    let connect = || {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    };
    // Garbage, garbage that starts like TLS, a truncated ClientHello, and a header block far too large.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    };
    let mut tls_garbage = vec![0x16, 0x03, 0x01, 0x40, 0x00];
    tls_garbage.extend(noise(2000));
    let mut huge_headers = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..2000 {
        huge_headers.extend(format!("x-h{i}: {}\r\n", "v".repeat(60)).as_bytes());
    }
    huge_headers.extend(b"\r\n");
    let mut h2_garbage = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    h2_garbage.extend(noise(3000));
    for payload in [noise(5000), tls_garbage, vec![0x16, 0x03, 0x01, 0x00, 0x05, 0x01], huge_headers, h2_garbage] {
        let mut s = connect();
        let _ = s.write_all(&payload);
        let mut sink_reply = Vec::new();
        // The sink answers or closes: the read ends either way, well before the 10 s read timeout.
        let started = Instant::now();
        let _ = s.read_to_end(&mut sink_reply);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    // A body larger than the drain limit: read up to the limit, kept up to the keep limit.
    {
        let mut s = connect();
        let body_len = 2 << 20;
        let head = format!("POST /v1/messages HTTP/1.1\r\nHost: big\r\nContent-Length: {body_len}\r\n\r\n");
        s.write_all(head.as_bytes()).unwrap();
        let chunk = vec![b'a'; 64 << 10];
        for _ in 0..(body_len / chunk.len()) {
            if s.write_all(&chunk).is_err() {
                break;
            }
        }
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply);
    }
    // Slowloris: partial headers, one byte at a time, on more connections than the sink allows.
    let slow: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            let _ = s.write_all(b"GET /slow HTTP/1.1\r\nHost: slow\r\nX-A: ");
            s
        })
        .collect();
    let started = Instant::now();
    for round in 0..4 {
        std::thread::sleep(Duration::from_millis(300));
        for mut s in &slow {
            let _ = s.write_all(&[b'a' + round]);
        }
    }
    // The header timeout closes every slow connection: each read ends with EOF or a reset.
    for mut s in slow {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
    }
    assert!(started.elapsed() < Duration::from_secs(8), "slow connections were held {:?}", started.elapsed());
    // Still serving.
    let ok = curl(&["-o", "/dev/null", "-w", "%{http_code}", &format!("http://{addr}/after")]);
    assert_eq!(text(&ok), "404");

    let log = sink.stop();
    assert!(log.connections_refused >= 16, "40 slow clients over a limit of 24: {} refused", log.connections_refused);
    assert_eq!(requests_to(&log, "/after").len(), 1);
    assert!(requests_to(&log, "/slow").is_empty());
    let failed: Vec<_> = log.connections.iter().filter(|c| c.outcome == TlsOutcome::Failed).collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed.iter().all(|c| c.tls_error.is_some() && c.sni.is_none()));
    let big = log.requests.iter().find(|r| r.authority.as_deref() == Some("big")).unwrap();
    assert!(big.body_truncated);
    assert!(big.body_size >= 256 << 10 && big.body_size < (256 << 10) + (128 << 10), "{}", big.body_size);
    assert_eq!(big.body.as_ref().map(String::len), Some(4096));
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Sends a POST with a `len`-byte body, in two halves with `pause` between them; returns the raw reply.
fn post_slowly(addr: SocketAddr, path: &str, body: &[u8], pause: Duration) -> Vec<u8> {
    let len = body.len();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!("POST {path} HTTP/1.1\r\nHost: flood\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body[..len / 2]).unwrap();
    std::thread::sleep(pause);
    s.write_all(&body[len / 2..]).unwrap();
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    reply
}

#[test]
fn buffered_bodies_share_one_budget_and_memory_stays_flat_under_a_flood() {
    // Memory is measured in a process of its own: tests running beside it would move its RSS.
    const NAME: &str = "buffered_bodies_share_one_budget_and_memory_stays_flat_under_a_flood";
    if std::env::var_os("SEALED_SINK_MEMORY_CHILD").is_none() {
        let out = run(Command::new(std::env::current_exe().unwrap())
            .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
            .env("SEALED_SINK_MEMORY_CHILD", "1"));
        let stdout = text(&out);
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && stdout.contains("1 passed"), "{stdout}");
        return;
    }
    const MIB: usize = 1 << 20;
    let mut sink = Run::start(&["127.0.0.1:0"], |c| {
        c.keep_bodies = true;
        c.limits.body_keep = MIB;
        c.limits.body_budget = 2 * MIB;
        c.limits.log_body_bytes = 4 * MIB;
    });
    let addr = sink.addr(false);
    // Client buffers are made once, before memory is measured: the sink shares this process.
    let held_body: &'static [u8] = vec![b'z'; 3 * MIB / 2].leak();
    let flood_body: &'static [u8] = vec![b'f'; 4 * MIB].leak();
    // Six bodies of 1.5 MiB in flight at once: only 2 MiB may be buffered among them.
    let threads: Vec<_> = (0..6)
        .map(|i| {
            std::thread::spawn(move || post_slowly(addr, &format!("/held/{i}"), held_body, Duration::from_millis(600)))
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap().starts_with(b"HTTP/1.1 404"));
    }
    // Floods of 256 MiB of bodies over 64 connections, 8 at a time: the first warms the allocator and the
    // sink's buffers up; a second flood must not grow memory further.
    let flood = |round: usize| {
        let started = Instant::now();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                std::thread::spawn(move || {
                    for i in 0..8 {
                        let reply = post_slowly(addr, &format!("/flood/{round}/{t}/{i}"), flood_body, Duration::ZERO);
                        assert!(reply.starts_with(b"HTTP/1.1 404"));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        started.elapsed()
    };
    let before = rss_kib();
    let took = flood(0);
    let warm = rss_kib();
    flood(1);
    let after = rss_kib();
    eprintln!(
        "flood: 256 MiB of bodies in {took:?}; RSS {before} KiB, {warm} KiB after the first flood, {after} KiB after the second"
    );
    let log = sink.stop();
    let held: Vec<&RequestRecord> = log.requests.iter().filter(|r| r.path.starts_with("/held/")).collect();
    assert_eq!(held.len(), 6);
    assert!(held.iter().all(|r| r.body_size == (3 * MIB / 2) as u64 && r.body_truncated));
    let full = held.iter().filter(|r| r.body.as_ref().map(String::len) == Some(MIB)).count();
    assert!(full <= 2, "{full} bodies kept 1 MiB each with a 2 MiB budget");
    assert!(log.bodies_dropped > 100, "kept bodies past 4 MiB stay out of the in-memory log");
    let flood: Vec<&RequestRecord> = log.requests.iter().filter(|r| r.path.starts_with("/flood/")).collect();
    assert_eq!(flood.len(), 128);
    assert!(flood.iter().all(|r| r.body_size == (4 * MIB) as u64));
    let grown = after.saturating_sub(warm);
    assert!(grown < 16 * 1024, "RSS grew by {grown} KiB in a second flood while bodies were bounded to 2 MiB");
}

#[test]
fn stop_returns_within_the_grace_period_with_clients_still_connected() {
    let mut sink = Run::start(&["127.0.0.1:0"], |_| {});
    let addr = sink.addr(false);
    let mut idle = TcpStream::connect(addr).unwrap();
    idle.write_all(b"GET /keep HTTP/1.1\r\nHost: k\r\n\r\n").unwrap();
    let mut buf = [0u8; 512];
    let n = idle.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 404"));
    let _half = TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let log = sink.stop();
    assert!(started.elapsed() < Duration::from_millis(1500), "stop took {:?}", started.elapsed());
    assert_eq!(requests_to(&log, "/keep").len(), 1);
    assert!(TcpStream::connect(addr).is_err(), "still accepting after stop");
    let outcomes: Vec<TlsOutcome> = log.connections.iter().map(|c| c.outcome).collect();
    assert_eq!(outcomes, [TlsOutcome::Plain, TlsOutcome::Silent], "the silent client is logged at stop");
}

/// A venv with the vendors' SDKs, cached across runs; `None` (with the reason printed) when pip cannot
/// install them.
fn sdk_python() -> Option<PathBuf> {
    const PACKAGES: [&str; 3] = ["anthropic==2.14.0", "openai==3.57.0", "google-genai==3.6.1"];
    let dir = std::env::var_os("EGRESS_SDK_VENV").map(PathBuf::from).unwrap_or_else(|| {
        std::env::temp_dir().join(format!("egress-audit-sdk-venv-{}", PACKAGES.join("_").replace(['=', '.'], "")))
    });
    let python = dir.join("bin/python");
    let ready = |p: &Path| run(Command::new(p).args(["-c", "import anthropic, openai, google.genai"])).status.success();
    if python.exists() && ready(&python) {
        return Some(python);
    }
    let venv = run(Command::new("python3").args(["-m", "venv", "--clear"]).arg(&dir));
    assert!(
        venv.status.success(),
        "python3 -m venv failed (is python3-venv installed? .ci/deps installs it): {venv:?}"
    );
    let pip =
        run(Command::new(dir.join("bin/pip")).args(["install", "-q", "--disable-pip-version-check"]).args(PACKAGES));
    if !pip.status.success() {
        eprintln!("SKIPPED: pip cannot install the vendors' SDKs: {}", String::from_utf8_lossy(&pip.stderr));
        return None;
    }
    assert!(ready(&python), "SDKs installed but do not import");
    Some(python)
}

#[test]
fn the_vendors_sdks_complete_calls_against_the_emulated_model() {
    let Some(python) = sdk_python() else { return };
    let mut sink = Run::start(&["127.0.0.1:0"], |_| {});
    let port = sink.port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sealed_sink/sdk_check.py");
    let out = run(Command::new(&python)
        .arg(&script)
        .arg(format!("https://localhost:{port}"))
        .arg(sink.ca())
        .env("SSL_CERT_FILE", sink.ca())
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("ALL_PROXY")
        .env("NO_PROXY", "*"));
    eprintln!("{}", text(&out));
    let lines: Vec<Value> = text(&out).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(out.status.success(), "{}\n{}", text(&out), String::from_utf8_lossy(&out.stderr));
    let calls: Vec<&str> = lines.iter().filter(|l| l["ok"] == true).filter_map(|l| l["call"].as_str()).collect();
    assert_eq!(calls.len(), 12, "{calls:?}");

    let log = sink.stop();
    let answered: std::collections::BTreeSet<&str> = log.requests.iter().filter_map(|r| r.emulation).collect();
    for name in [
        "anthropic.messages",
        "anthropic.messages.stream",
        "anthropic.count_tokens",
        "openai.responses",
        "openai.responses.stream",
        "openai.chat",
        "openai.chat.stream",
        "gemini.generate_content",
        "gemini.stream_sse",
        "gemini.count_tokens",
    ] {
        assert!(answered.contains(name), "{name} never answered: {answered:?}");
    }
    assert!(log.requests.iter().all(|r| r.status == 200), "{:#?}", log.requests);
    let models: std::collections::BTreeSet<&str> = log.requests.iter().filter_map(|r| r.model.as_deref()).collect();
    assert_eq!(models.into_iter().collect::<Vec<_>>(), ["claude-sdk-test", "gemini-sdk-test", "gpt-sdk-test"]);
}
