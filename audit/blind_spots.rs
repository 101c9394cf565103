//! Blind spots: why a flow could not be verified (or can only partly be), so that no unnamed or
//! hidden flow is ever passed as clean.
//!
//! Pure: decided from what the dissectors saw, the flow's ports and its naming evidence.

use crate::catalog::Class;
use crate::flows::{AppProtocol, Flow, HostSource};
use serde::Serialize;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlindSpot {
    /// ECH (or draft ESNI): the SNI is only the outer, public name; the real destination is hidden.
    Ech,
    /// A TLS ClientHello without server_name (IP-literal clients, some DoT clients, SSLv2 hellos).
    TlsNoSni,
    /// TLS outside the usual TLS ports with no name: something chose to be hard to see.
    TlsUnusualPort,
    /// DNS over TLS (TCP 853): name lookups the capture cannot read.
    DnsOverTls,
    /// DNS over QUIC (UDP 853).
    DnsOverQuic,
    /// DNS over HTTPS to a known public resolver (catalog class `dns-bypass`).
    DnsOverHttps,
    /// Plain DNS to a resolver other than the configured ones.
    DnsOtherResolver,
    /// Bytes on port 443 that are not TLS.
    #[serde(rename = "non-tls-on-443")]
    NonTlsOn443,
    Ssh,
    /// Traffic through an HTTP CONNECT or SOCKS proxy: named by its target, but the proxy carries it.
    Proxy,
    /// QUIC whose Initial could not be read (unknown version, gQUIC, damaged).
    QuicUnreadable,
    /// UDP that is neither DNS nor QUIC.
    UdpUnknown,
    /// TCP whose content was not recognized and that no DNS answer named.
    UnknownProtocol,
    /// An address never seen in a DNS answer, with no name in the traffic itself.
    IpLiteral,
}

impl BlindSpot {
    /// Whether the policy's blind-spot verdict applies. A proxy only explains how a named flow
    /// travelled; the flow itself is judged by its target.
    pub fn affects_verdict(self) -> bool {
        self != BlindSpot::Proxy
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BlindSpot::Ech => "ech",
            BlindSpot::TlsNoSni => "tls-no-sni",
            BlindSpot::TlsUnusualPort => "tls-unusual-port",
            BlindSpot::DnsOverTls => "dns-over-tls",
            BlindSpot::DnsOverQuic => "dns-over-quic",
            BlindSpot::DnsOverHttps => "dns-over-https",
            BlindSpot::DnsOtherResolver => "dns-other-resolver",
            BlindSpot::NonTlsOn443 => "non-tls-on-443",
            BlindSpot::Ssh => "ssh",
            BlindSpot::Proxy => "proxy",
            BlindSpot::QuicUnreadable => "quic-unreadable",
            BlindSpot::UdpUnknown => "udp-unknown",
            BlindSpot::UnknownProtocol => "unknown-protocol",
            BlindSpot::IpLiteral => "ip-literal",
        }
    }
}

const TLS_PORTS: [u16; 4] = [443, 853, 8443, 4433];

/// The blind spot of a flow, if it has one. `class` is the flow's classification; `resolvers` the
/// configured DNS resolvers (empty: unknown, not judged).
pub fn of(flow: &Flow, host_source: HostSource, class: Class, resolvers: &[IpAddr]) -> Option<BlindSpot> {
    let port = flow.server.port();
    let hello = flow.app.hello.as_ref();
    if hello.is_some_and(|h| h.ech || h.esni) {
        return Some(BlindSpot::Ech);
    }
    match flow.app.protocol {
        Some(AppProtocol::Dns) => {
            let other = !resolvers.is_empty() && !resolvers.contains(&flow.server.ip());
            return other.then_some(BlindSpot::DnsOtherResolver);
        }
        Some(AppProtocol::Mdns | AppProtocol::Llmnr) => return None,
        Some(AppProtocol::Ssh) => return Some(BlindSpot::Ssh),
        Some(AppProtocol::Socks) => return Some(BlindSpot::Proxy),
        _ => {}
    }
    if flow.app.connect_target.is_some() {
        return Some(BlindSpot::Proxy);
    }
    let is_udp = flow.proto == 17;
    if port == 853 {
        return Some(if is_udp { BlindSpot::DnsOverQuic } else { BlindSpot::DnsOverTls });
    }
    if class == Class::DnsBypass {
        return Some(if is_udp { BlindSpot::DnsOverQuic } else { BlindSpot::DnsOverHttps });
    }
    if host_source != HostSource::None && host_source != HostSource::Dns {
        return None; // named by the traffic itself
    }
    if let Some(h) = hello
        && h.sni.as_deref().is_none_or(str::is_empty)
    {
        return Some(if TLS_PORTS.contains(&port) || is_udp { BlindSpot::TlsNoSni } else { BlindSpot::TlsUnusualPort });
    }
    if host_source == HostSource::Dns {
        return None;
    }
    if is_udp {
        return Some(if flow.app.protocol == Some(AppProtocol::Quic) || port == 443 {
            BlindSpot::QuicUnreadable
        } else {
            BlindSpot::UdpUnknown
        });
    }
    if flow.proto == 6 && flow.app.unrecognized {
        return Some(if port == 443 { BlindSpot::NonTlsOn443 } else { BlindSpot::UnknownProtocol });
    }
    (flow.proto == 6 || is_udp).then_some(BlindSpot::IpLiteral)
}
