//! Every flow is either named with its evidence or listed under a reason it could not be: blind
//! spots on public captures and recorded fixtures, their policy knob, coverage and --min-coverage.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/pcaps").join(name);
    p.exists().then_some(p)
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

fn replay(file: &Path, extra: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_egress-audit"))
        .arg("replay")
        .arg(file)
        .args(["--format", "json"])
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("bad JSON ({e})"));
    (out.status.code().unwrap_or(-1), v)
}

/// (host or dst, blind spot, verdict) of the flows that have a blind spot.
fn spots(r: &Value) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = r["flows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| !f["blind_spot"].is_null())
        .map(|f| {
            let host = f["host"].as_str().or(f["dst"].as_str()).unwrap_or("").to_string();
            (host, f["blind_spot"].as_str().unwrap_or("").to_string(), f["verdict"].as_str().unwrap_or("").to_string())
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

fn has(r: &Value, host: &str, spot: &str, verdict: &str) -> bool {
    spots(r).contains(&(host.to_string(), spot.to_string(), verdict.to_string()))
}

#[test]
fn ech_is_flagged_with_its_outer_name_warn_by_default_deny_when_hardened() {
    let Some(f) = corpus("zeek__tls__tls13-ech.pcap") else { return };
    let (_, r) = replay(&f, &["--profile", "claude-code"]);
    assert!(has(&r, "cloudflare-ech.com", "ech", "warn"), "{:?}", spots(&r));
    assert!(r["flows"].as_array().into_iter().flatten().any(|f| f["sni"] == "cloudflare-ech.com" && f["ech"] == true));
    let (code, r) = replay(&f, &["--profile", "local-only"]);
    assert!(has(&r, "cloudflare-ech.com", "ech", "violation"), "{:?}", spots(&r));
    assert_eq!(code, 1);
}

#[test]
fn dns_that_bypasses_the_capture_is_reported() {
    if let Some(f) = corpus("ndpi__dns_dot.pcap") {
        let (_, r) = replay(&f, &[]);
        assert!(spots(&r).iter().any(|(h, s, _)| h == "8.8.8.8:853" && s == "dns-over-tls"), "{:?}", spots(&r));
    }
    if let Some(f) = corpus("ndpi__dns_doh.pcap") {
        let (code, r) = replay(&f, &[]);
        assert!(has(&r, "mozilla.cloudflare-dns.com", "dns-over-https", "violation"), "{:?}", spots(&r));
        assert_eq!(code, 1);
    }
    if let Some(f) = corpus("ndpi__doq_adguard.pcapng") {
        let (_, r) = replay(&f, &[]);
        assert!(has(&r, "dns.adguard.com", "dns-over-quic", "violation"), "{:?}", spots(&r));
    }
}

#[test]
fn dns_to_another_resolver_is_reported_when_the_resolver_is_known() {
    let (_, r) = replay(&fixture("claude-default.pcap"), &["--profile", "claude-code", "--resolver", "127.0.0.53"]);
    assert!(spots(&r).is_empty(), "{:?}", spots(&r));
    let (_, r) = replay(&fixture("claude-default.pcap"), &["--profile", "claude-code", "--resolver", "10.9.9.9"]);
    let dns: Vec<_> = spots(&r).into_iter().filter(|(_, s, _)| s == "dns-other-resolver").collect();
    assert_eq!(dns, vec![("127.0.0.53:53".into(), "dns-other-resolver".into(), "warn".into())]);
}

#[test]
fn unnamed_flows_get_a_reason() {
    if let Some(f) = corpus("zeek__tls__tls1.2.pcap") {
        let (_, r) = replay(&f, &[]);
        assert!(spots(&r).iter().any(|(_, s, v)| s == "tls-no-sni" && v == "warn"), "{:?}", spots(&r));
    }
    if let Some(f) = corpus("ndpi__quic_q46.pcap") {
        let (_, r) = replay(&f, &[]);
        assert!(spots(&r).iter().any(|(_, s, _)| s == "quic-unreadable"), "{:?}", spots(&r));
    }
    let (_, r) = replay(&fixture("mixed-vendors.pcap"), &["--profile", "claude-code"]);
    let literal: Vec<&Value> =
        r["flows"].as_array().into_iter().flatten().filter(|f| f["dst"] == "127.0.0.40:443").collect();
    assert_eq!(
        (literal[0]["host_source"].as_str(), literal[0]["blind_spot"].as_str()),
        (Some("none"), Some("tls-no-sni"))
    );
    assert_eq!(r["summary"]["blind_spots"]["tls-no-sni"]["flows"], 1);
}

#[test]
fn proxies_are_reported_without_changing_the_targets_verdict() {
    let (_, r) = replay(&fixture("connect-proxy.pcap"), &["--profile", "claude-code"]);
    assert!(has(&r, "api.anthropic.com", "proxy", "allow"), "{:?}", spots(&r));
    assert!(has(&r, "statsig.anthropic.com", "proxy", "violation"), "{:?}", spots(&r));
}

#[test]
fn coverage_is_counted_and_can_fail_the_report() {
    // 6 flows besides DNS: 4 named by SNI, 1 by HTTP (the local Ollama), 1 not at all (IP literal).
    let permissive = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        permissive.path(),
        "name = \"permissive\"\ndescription = \"allow everything\"\n[model]\nallow = [\"*\"]\n[local]\nallow = [\"127.0.0.0/8\"]\n\
         [opt_in]\nclasses = [\"telemetry\", \"experiments\"]\nhosts = []\n[unknown]\nverdict = \"allow\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let policy = permissive.path().to_string_lossy().into_owned();
    let (code, r) = replay(&fixture("mixed-vendors.pcap"), &["--policy", &policy]);
    let c = &r["summary"]["coverage"];
    assert_eq!((c["flows"].as_u64(), c["named_flows"].as_u64()), (Some(6), Some(5)), "{c}");
    assert_eq!(c["named_flows_pct"], 83.33);
    assert_eq!(c["by_source"]["sni"]["flows"], 4);
    assert_eq!(code, 0, "everything allowed");
    let (code, r) = replay(&fixture("mixed-vendors.pcap"), &["--policy", &policy, "--min-coverage", "90"]);
    assert_eq!(code, 1);
    assert_eq!(r["summary"]["coverage"]["below_minimum"], true);
    assert!(
        r["notes"]
            .as_array()
            .is_some_and(|n| n.iter().any(|n| n.as_str().is_some_and(|n| n.contains("--min-coverage 90"))))
    );
    let (code, _) = replay(&fixture("mixed-vendors.pcap"), &["--policy", &policy, "--min-coverage", "80"]);
    assert_eq!(code, 0);
}

/// (dst, host, host_source, blind_spot) of every TCP/UDP flow that is not plain DNS to the resolver.
fn flows(r: &Value) -> Vec<(String, String, String, String)> {
    let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let mut v: Vec<_> = r["flows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| (f["proto"] == "tcp" || f["proto"] == "udp") && f["dst"] != "127.0.0.53:53")
        .map(|f| (s(&f["dst"]), s(&f["host"]), s(&f["host_source"]), s(&f["blind_spot"])))
        .collect();
    v.sort();
    v
}

fn row(dst: &str, host: &str, source: &str, spot: &str) -> (String, String, String, String) {
    (dst.into(), host.into(), source.into(), spot.into())
}

#[test]
fn recorded_quic_clients_are_named_including_a_hello_split_over_two_initials() {
    // aioquic client → aioquic server; the second hello is 1,890 bytes over two Initial packets, with
    // server_name in the second one.
    let (_, r) = replay(&fixture("quic-local.pcap"), &["--profile", "codex"]);
    assert_eq!(
        flows(&r),
        vec![
            row("127.0.0.30:443", "api.openai.com", "quic", "-"),
            row("127.0.0.33:443", "telemetry.quic.example", "quic", "-"),
        ]
    );
    let model: Vec<&Value> =
        r["flows"].as_array().into_iter().flatten().filter(|f| f["host"] == "api.openai.com").collect();
    assert_eq!((model[0]["verdict"].as_str(), model[0]["alpn"][0].as_str()), (Some("allow"), Some("h3")));
}

#[test]
fn recorded_dot_doh_and_another_resolver() {
    // kdig over TLS to stunnel+dnsmasq, curl --doh-url to a local DoH server, dig @127.0.0.99.
    let (code, r) = replay(&fixture("dot-doh.pcap"), &["--profile", "claude-code", "--resolver", "127.0.0.53"]);
    assert_eq!(
        flows(&r),
        vec![
            row("127.0.0.11:443", "api.anthropic.com", "sni", "-"),
            row("127.0.0.53:853", "dns.local.example", "sni", "dns-over-tls"),
            row("127.0.0.60:443", "cloudflare-dns.com", "sni", "dns-over-https"),
            row("127.0.0.99:53", "-", "none", "dns-other-resolver"),
        ]
    );
    assert_eq!(code, 1, "DoH to a public resolver is a violation");
}

#[test]
fn recorded_ech_ip_literal_non_tls_ssh_socks_and_unknown_udp() {
    let (_, r) = replay(&fixture("ech.pcap"), &["--profile", "local-only"]);
    assert_eq!(
        flows(&r),
        vec![
            row("127.0.0.11:443", "api.anthropic.com", "sni", "-"),
            row("127.0.0.1:1080", "api.anthropic.com", "connect", "proxy"),
            row("127.0.0.31:443", "public.ech.example", "sni", "ech"),
            row("127.0.0.40:443", "-", "none", "tls-no-sni"),
            row("127.0.0.41:443", "-", "none", "non-tls-on-443"),
            row("127.0.0.42:22", "-", "none", "ssh"),
            row("127.0.0.43:9999", "-", "none", "udp-unknown"),
        ]
    );
    // The hardened profile makes every blind spot but the proxy a violation.
    for f in r["flows"].as_array().into_iter().flatten() {
        if let Some(spot) = f["blind_spot"].as_str().filter(|s| *s != "proxy") {
            assert_eq!(f["verdict"], "violation", "{spot}: {f}");
        }
    }
    let (_, r) = replay(&fixture("ech.pcap"), &["--profile", "claude-code"]);
    assert!(has(&r, "public.ech.example", "ech", "warn"), "{:?}", spots(&r));
}
