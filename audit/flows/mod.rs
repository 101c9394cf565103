//! Flows: the flow table, per-flow inspection, and what DNS taught us about addresses.
//!
//! Owns all state between packets; everything here is bounded (flows expire, buffers are capped, the
//! DNS maps have ceilings) so memory stays flat however long the capture is.

pub mod addr;
pub mod dns_log;
pub mod dns_names;
pub(crate) mod inspect;
pub mod owner;
pub mod stream;
pub mod table;

use crate::dissect::{http, tls};
use crate::source::Nanos;
use serde::Serialize;
use std::borrow::Cow;
use std::net::SocketAddr;

/// HTTP requests remembered per flow; a keep-alive connection can carry thousands.
pub const MAX_REQUESTS_PER_FLOW: usize = 32;

/// Application protocol recognized on a flow (by content, not port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AppProtocol {
    Tls,
    Http,
    Dns,
    Mdns,
    Llmnr,
    Ssh,
    /// A SOCKS proxy handshake; the tunnel is named by its CONNECT target.
    Socks,
    /// QUIC (versions 1 and 2, drafts 23 to 32): a client Initial authenticated under its public keys.
    Quic,
}

/// What the dissectors learned about a flow.
#[derive(Debug, Clone, Default)]
pub struct AppInfo {
    pub protocol: Option<AppProtocol>,
    /// The TLS ClientHello: over TCP, or from QUIC Initial CRYPTO frames when `protocol` is QUIC.
    pub hello: Option<tls::ClientHello>,
    pub requests: Vec<http::Request>,
    /// Requests seen beyond [`MAX_REQUESTS_PER_FLOW`].
    pub requests_dropped: u64,
    /// Target of the first HTTP CONNECT or SOCKS request: this flow is a tunnel through a proxy.
    pub connect_target: Option<String>,
    /// The client sent bytes no dissector recognized (not TLS, HTTP, DNS, SSH, SOCKS…).
    pub unrecognized: bool,
}

/// One transport conversation (5-tuple), oriented client → server.
#[derive(Debug)]
pub struct Flow {
    /// Stable within one analysis: flows are numbered in the order they were first seen.
    pub id: u64,
    /// IP protocol number.
    pub proto: u8,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub first_seen: Nanos,
    pub last_seen: Nanos,
    /// Frame number of the flow's first packet in the source.
    pub first_frame: u64,
    /// Index 0: client → server; 1: server → client.
    pub packets: [u64; 2],
    /// IP-layer bytes as the headers declare them.
    pub bytes: [u64; 2],
    pub app: AppInfo,
    /// Names that DNS answers seen earlier gave the server's address (most recent first).
    pub dns_names: Vec<String>,
    /// Inspection state while the flow is not yet named: TCP stream reassembly, or on UDP the QUIC
    /// Initial reassembly. Dropped once the flow is named or given up on.
    pub(crate) inspect: Option<Box<inspect::Inspector>>,
    pub(crate) fin: [bool; 2],
    /// Per direction: the furthest sequence number known to have been sent (from its own segments,
    /// or from the other side's acknowledgements) and the payload bytes it has advanced since the
    /// first one seen, across wraps. It gives the bytes of a flow whose bulk payload a live capture's
    /// kernel filter dropped.
    pub(crate) seq_span: [Option<(u32, u64)>; 2],
    pub(crate) reset: bool,
    /// The process behind the flow (live capture or sidecar), if asked for.
    pub owner: Option<owner::Owner>,
}

/// How a flow got its name, best evidence first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HostSource {
    Connect,
    Sni,
    /// The SNI of a ClientHello read from QUIC Initial packets.
    Quic,
    Http,
    Dns,
    None,
}

impl HostSource {
    pub fn as_str(self) -> &'static str {
        match self {
            HostSource::Connect => "connect",
            HostSource::Sni => "sni",
            HostSource::Quic => "quic",
            HostSource::Http => "http",
            HostSource::Dns => "dns",
            HostSource::None => "none",
        }
    }
}

impl Flow {
    /// The flow's name and the evidence for it: a CONNECT target names the tunnel, then the TLS SNI,
    /// then the SNI of a QUIC Initial, then the HTTP Host, then DNS. Lowercased, without port or
    /// trailing dot.
    pub fn host(&self) -> (Option<Cow<'_, str>>, HostSource) {
        if let Some(t) = &self.app.connect_target {
            return (Some(normalized_host(t)), HostSource::Connect);
        }
        if let Some(sni) = self.app.hello.as_ref().and_then(|h| h.sni.as_ref()).filter(|s| !s.is_empty()) {
            let source = if self.app.protocol == Some(AppProtocol::Quic) { HostSource::Quic } else { HostSource::Sni };
            return (Some(normalized_host(sni)), source);
        }
        if let Some(h) = self.app.requests.iter().find_map(|r| r.host.as_ref()).filter(|h| !h.is_empty()) {
            return (Some(normalized_host(h)), HostSource::Http);
        }
        if let Some(n) = self.dns_names.first() {
            return (Some(Cow::Borrowed(n.as_str())), HostSource::Dns);
        }
        (None, HostSource::None)
    }

    pub fn total_bytes(&self) -> u64 {
        self.bytes[0] + self.bytes[1]
    }

    /// Bytes each way: what the packets seen add up to, or the TCP payload their sequence numbers
    /// prove was sent, whichever is larger (they differ when a kernel filter dropped bulk segments).
    pub fn bytes_each_way(&self) -> [u64; 2] {
        let span = |d: usize| self.seq_span[d].map_or(0, |(_, advanced)| advanced);
        [self.bytes[0].max(span(0)), self.bytes[1].max(span(1))]
    }

    /// Records what a TCP segment proves about both directions' byte spans.
    pub(crate) fn note_sequence(&mut self, dir: usize, tcp: crate::decode::TcpMeta, payload_len: usize) {
        use crate::decode::TcpMeta as T;
        let start = if tcp.has(T::SYN) { tcp.seq.wrapping_add(1) } else { tcp.seq };
        let end = start.wrapping_add(payload_len as u32);
        advance(self.seq_span[dir].get_or_insert((start, 0)), end);
        if tcp.has(T::ACK)
            && let Some(other) = self.seq_span[1 - dir].as_mut()
        {
            advance(other, tcp.ack);
        }
    }

    pub fn total_packets(&self) -> u64 {
        self.packets[0] + self.packets[1]
    }
}

/// Moves a (furthest sequence number, bytes advanced) pair forward to `to` if `to` is ahead.
/// RFC 9293 comparison: ahead means less than half the sequence space away.
fn advance(span: &mut (u32, u64), to: u32) {
    let delta = to.wrapping_sub(span.0);
    if delta != 0 && delta < 1 << 31 {
        span.0 = to;
        span.1 += u64::from(delta);
    }
}

/// Lowercases a host and removes a `:port`, IPv6 brackets and a trailing dot.
pub fn normalize_host(raw: &str) -> String {
    normalized_host(raw).into_owned()
}

/// [`normalize_host`], borrowing `raw` when it is already in normal form (as names on the wire are).
pub fn normalized_host(raw: &str) -> Cow<'_, str> {
    let h = raw.trim();
    let h = if let Some(rest) = h.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else if h.matches(':').count() == 1 {
        h.split(':').next().unwrap_or(h)
    } else {
        h
    };
    let h = h.trim_end_matches('.');
    if h.bytes().any(|b| b.is_ascii_uppercase()) { Cow::Owned(h.to_ascii_lowercase()) } else { Cow::Borrowed(h) }
}

#[cfg(test)]
mod tests {
    use super::normalize_host;

    #[test]
    fn sequence_advance_counts_across_wraps() {
        let mut span = (u32::MAX - 10, 0);
        super::advance(&mut span, 5);
        assert_eq!(span, (5, 16));
        super::advance(&mut span, 2); // behind: a retransmission or an old ACK
        assert_eq!(span, (5, 16));
        for _ in 0..8 {
            let to = span.0.wrapping_add(1 << 30);
            super::advance(&mut span, to);
        }
        assert_eq!(span.1, 16 + 8 * (1u64 << 30));
    }

    #[test]
    fn host_normalization() {
        assert_eq!(normalize_host("API.OpenAI.com:443"), "api.openai.com");
        assert_eq!(normalize_host("[::1]:11434"), "::1");
        assert_eq!(normalize_host("fe80::1"), "fe80::1");
        assert_eq!(normalize_host("example.com."), "example.com");
    }
}
