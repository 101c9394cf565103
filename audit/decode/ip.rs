//! IP (v4 and v6, through tunnels) and the TCP/UDP headers above it.

use super::link;
use etherparse::{IpNumber, LaxIpSlice};
use std::net::IpAddr;

/// Tunnels inside tunnels deeper than this are not followed (hostile nesting costs nothing).
const MAX_TUNNEL_DEPTH: usize = 4;
const VXLAN_PORT: u16 = 4789;
const PROTO_IPIP: u8 = 4;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_IPV6_IN_IP: u8 = 41;
const PROTO_GRE: u8 = 47;

/// TCP header fields the flow table and stream reassembly need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpMeta {
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
}

impl TcpMeta {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const ACK: u8 = 0x10;

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// The innermost IP packet of a frame, reduced to what the dissectors use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IP protocol number (6 TCP, 17 UDP, …).
    pub proto: u8,
    /// Zero when the protocol has no ports or the header was cut off.
    pub src_port: u16,
    pub dst_port: u16,
    /// Present for TCP when the header was complete.
    pub tcp: Option<TcpMeta>,
    pub payload: &'a [u8],
    /// The capture's snaplen (or a short frame) cut the payload: do not trust it to be whole.
    pub truncated: bool,
    /// Length of the IP packet as its header declares it (bytes on the wire at the IP layer).
    pub ip_len: u32,
}

/// The addressing part of an IP header, kept while a fragmented datagram is reassembled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpHeader {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
}

/// One fragment of a fragmented datagram.
#[derive(Debug, Clone, Copy)]
pub struct Fragment<'a> {
    pub header: IpHeader,
    pub id: u32,
    /// Byte offset of `data` in the reassembled payload.
    pub offset: usize,
    pub more: bool,
    pub data: &'a [u8],
}

pub enum Parsed<'a> {
    Packet(Packet<'a>),
    Fragment(Fragment<'a>),
}

/// The common case read straight from the bytes: IPv4 that is not a fragment, or IPv6 whose next header
/// is the transport, carrying TCP or UDP (but not VXLAN). `None` for everything else — tunnels,
/// fragments, extension headers, IPv4 AH, other protocols, damage — which [`parse`] handles. Where it
/// answers, the answer is the one [`parse`] gives (tests/decode_fast_path.rs checks that on real and
/// mutated frames); it only skips etherparse's general slicing, the costliest step per packet.
#[inline]
pub fn parse_common(bytes: &[u8]) -> Option<Packet<'_>> {
    let (header, body, incomplete, ip_len) = match bytes.first()? >> 4 {
        4 => {
            let fixed: &[u8; 20] = bytes.first_chunk()?;
            let header_len = usize::from(fixed[0] & 0x0f) * 4;
            // More-fragments flag or a fragment offset: reassembly is the general path's job.
            let fragment = u16::from_be_bytes([fixed[6], fixed[7]]) & 0x3fff != 0;
            let proto = fixed[9];
            if header_len < 20 || bytes.len() < header_len || fragment || !matches!(proto, PROTO_TCP | PROTO_UDP) {
                return None;
            }
            let total = usize::from(u16::from_be_bytes([fixed[2], fixed[3]]));
            // etherparse's lax rules: a total length below the header falls back to the slice; one
            // beyond the slice takes what was captured and marks it incomplete.
            let (end, incomplete) = match total {
                t if t < header_len => (bytes.len(), false),
                t if t > bytes.len() => (bytes.len(), true),
                t => (t, false),
            };
            let ip_len = if total == 0 { bytes.len() as u32 } else { total as u32 };
            let src = IpAddr::from([fixed[12], fixed[13], fixed[14], fixed[15]]);
            let dst = IpAddr::from([fixed[16], fixed[17], fixed[18], fixed[19]]);
            (IpHeader { src, dst, proto }, &bytes[header_len..end], incomplete, ip_len)
        }
        6 => {
            let fixed: &[u8; 40] = bytes.first_chunk()?;
            let proto = fixed[6];
            if !matches!(proto, PROTO_TCP | PROTO_UDP) {
                return None;
            }
            let payload_len = usize::from(u16::from_be_bytes([fixed[4], fixed[5]]));
            let available = bytes.len() - 40;
            let (end, incomplete) = match payload_len {
                0 => (bytes.len(), false),
                n if n > available => (bytes.len(), true),
                n => (40 + n, false),
            };
            let ip_len = if payload_len == 0 { bytes.len() as u32 } else { payload_len as u32 + 40 };
            let src = IpAddr::from(<[u8; 16]>::try_from(&fixed[8..24]).ok()?);
            let dst = IpAddr::from(<[u8; 16]>::try_from(&fixed[24..40]).ok()?);
            (IpHeader { src, dst, proto }, &bytes[40..end], incomplete, ip_len)
        }
        _ => return None,
    };
    if header.proto == PROTO_UDP && vxlan(body).is_some() {
        return None;
    }
    transport_with_len(header, body, incomplete, ip_len)
}

/// Parses an IP packet, following IP-in-IP, 6in4, GRE and VXLAN to the innermost packet.
pub fn parse(mut bytes: &[u8]) -> Option<Parsed<'_>> {
    for _ in 0..=MAX_TUNNEL_DEPTH {
        let (ip, _) = LaxIpSlice::from_slice(bytes).ok()?;
        let header = IpHeader { src: ip.source_addr(), dst: ip.destination_addr(), proto: ip.payload().ip_number.0 };
        let body = ip.payload();
        if body.fragmented {
            return fragment(&ip, header, body.payload).map(Parsed::Fragment);
        }
        let ip_len = declared_len(&ip, bytes.len());
        match header.proto {
            PROTO_IPIP | PROTO_IPV6_IN_IP => bytes = body.payload,
            PROTO_GRE => bytes = gre(body.payload)?,
            PROTO_UDP => match vxlan(body.payload) {
                Some(inner) => bytes = inner,
                None => return transport_with_len(header, body.payload, body.incomplete, ip_len).map(Parsed::Packet),
            },
            _ => return transport_with_len(header, body.payload, body.incomplete, ip_len).map(Parsed::Packet),
        }
    }
    None
}

fn declared_len(ip: &LaxIpSlice<'_>, available: usize) -> u32 {
    match ip {
        LaxIpSlice::Ipv4(v4) => match v4.header().total_len() {
            // TSO/GSO super-frames are captured before segmentation with a total length of 0.
            0 => available as u32,
            n => u32::from(n),
        },
        LaxIpSlice::Ipv6(v6) => match v6.header().payload_length() {
            0 => available as u32,
            n => u32::from(n) + 40,
        },
    }
}

fn fragment<'a>(ip: &LaxIpSlice<'a>, header: IpHeader, data: &'a [u8]) -> Option<Fragment<'a>> {
    match ip {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            Some(Fragment {
                header,
                id: u32::from(h.identification()),
                offset: usize::from(h.fragments_offset().value()) * 8,
                more: h.more_fragments(),
                data,
            })
        }
        LaxIpSlice::Ipv6(v6) => {
            let (id, offset, more, proto) = ipv6_fragment_header(v6.extensions().slice(), v6.header().next_header())?;
            Some(Fragment { header: IpHeader { proto, ..header }, id, offset, more, data })
        }
    }
}

/// Walks the IPv6 extension chain to the Fragment header (RFC 8200 §4.5): (id, offset, more, next).
fn ipv6_fragment_header(mut exts: &[u8], mut next: IpNumber) -> Option<(u32, usize, bool, u8)> {
    const FRAGMENT: u8 = 44;
    const AUTH: u8 = 51;
    while !exts.is_empty() {
        let len = match next.0 {
            FRAGMENT => {
                let h = exts.get(..8)?;
                let field = u16::from_be_bytes([h[2], h[3]]);
                let id = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
                return Some((id, usize::from(field >> 3) * 8, field & 1 == 1, h[0]));
            }
            AUTH => (usize::from(*exts.get(1)?) + 2) * 4,
            _ => (usize::from(*exts.get(1)?) + 1) * 8,
        };
        next = IpNumber(*exts.first()?);
        exts = exts.get(len..)?;
    }
    None
}

/// GRE (RFC 2784/2890): flags say which optional words follow; the protocol is an EtherType.
fn gre(data: &[u8]) -> Option<&[u8]> {
    let flags = *data.first()?;
    let protocol = u16::from_be_bytes([*data.get(2)?, *data.get(3)?]);
    let mut at = 4;
    if flags & 0x80 != 0 {
        at += 4; // checksum + reserved
    }
    if flags & 0x20 != 0 {
        at += 4; // key
    }
    if flags & 0x10 != 0 {
        at += 4; // sequence number
    }
    let rest = data.get(at..)?;
    match protocol {
        0x0800 | 0x86dd => Some(rest),
        0x6558 => link::ethernet(rest), // transparent Ethernet bridging
        _ => None,
    }
}

/// VXLAN (RFC 7348) on its IANA port: an 8-byte header with the I flag, then an Ethernet frame.
fn vxlan(udp: &[u8]) -> Option<&[u8]> {
    let dst = u16::from_be_bytes([*udp.get(2)?, *udp.get(3)?]);
    if dst != VXLAN_PORT {
        return None;
    }
    let header = udp.get(8..16)?;
    if header[0] & 0x08 == 0 {
        return None;
    }
    link::ethernet(udp.get(16..)?)
}

/// Parses the transport header of a (reassembled) payload.
pub fn transport<'a>(header: IpHeader, payload: &'a [u8], truncated: bool) -> Option<Packet<'a>> {
    let ip_len = payload.len() as u32 + if header.src.is_ipv4() { 20 } else { 40 };
    transport_with_len(header, payload, truncated, ip_len)
}

#[inline]
fn transport_with_len(header: IpHeader, payload: &[u8], truncated: bool, ip_len: u32) -> Option<Packet<'_>> {
    let mut p = Packet {
        src: header.src,
        dst: header.dst,
        proto: header.proto,
        src_port: 0,
        dst_port: 0,
        tcp: None,
        payload: &[],
        truncated,
        ip_len,
    };
    if !matches!(header.proto, PROTO_TCP | PROTO_UDP) {
        p.payload = payload;
        return Some(p);
    }
    // Ports survive even when the snaplen cut the rest of the header.
    if payload.len() < 4 {
        p.truncated = true;
        return Some(p);
    }
    p.src_port = u16::from_be_bytes([payload[0], payload[1]]);
    p.dst_port = u16::from_be_bytes([payload[2], payload[3]]);
    if header.proto == PROTO_TCP {
        if payload.len() < 20 {
            p.truncated = true;
            return Some(p);
        }
        let header_len = usize::from(payload[12] >> 4) * 4;
        if header_len < 20 {
            return None;
        }
        p.tcp = Some(TcpMeta {
            seq: u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]),
            ack: u32::from_be_bytes([payload[8], payload[9], payload[10], payload[11]]),
            flags: payload[13],
        });
        match payload.get(header_len..) {
            Some(body) => p.payload = body,
            None => p.truncated = true,
        }
    } else {
        if payload.len() < 8 {
            p.truncated = true;
            return Some(p);
        }
        let udp_len = usize::from(u16::from_be_bytes([payload[4], payload[5]]));
        // A length of 0 appears on jumbograms and in some offloaded captures: take what is there.
        let end = if udp_len >= 8 { udp_len.min(payload.len()) } else { payload.len() };
        if udp_len > payload.len() {
            p.truncated = true;
        }
        p.payload = &payload[8..end];
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_udp(payload: &[u8]) -> Vec<u8> {
        let total = 20 + 8 + payload.len();
        let mut v = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        v.extend_from_slice(&[0x30, 0x39, 0, 53, 0, (8 + payload.len()) as u8, 0, 0]);
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn udp_ports_and_payload() {
        let bytes = ipv4_udp(b"hello");
        let Some(Parsed::Packet(p)) = parse(&bytes) else { panic!("not a packet") };
        assert_eq!((p.src_port, p.dst_port, p.payload, p.ip_len), (12345, 53, &b"hello"[..], 33));
    }

    #[test]
    fn ipv6_in_ipv4_is_followed() {
        let mut inner = vec![0x60, 0, 0, 0, 0, 8, 17, 64];
        inner.extend_from_slice(&[0u8; 32]);
        inner.extend_from_slice(&[0, 1, 0, 53, 0, 8, 0, 0]);
        let total = 20 + inner.len();
        let mut outer = vec![0x45, 0, 0, total as u8, 0, 1, 0, 0, 64, 41, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2];
        outer.extend_from_slice(&inner);
        let Some(Parsed::Packet(p)) = parse(&outer) else { panic!("not a packet") };
        assert!(p.src.is_ipv6());
        assert_eq!(p.dst_port, 53);
    }

    #[test]
    fn truncated_tcp_keeps_ports() {
        let mut v = vec![0x45, 0, 0, 60, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        v.extend_from_slice(&[0x01, 0xbb, 0x00, 0x50, 0, 0]);
        let Some(Parsed::Packet(p)) = parse(&v) else { panic!("not a packet") };
        assert_eq!((p.src_port, p.dst_port, p.truncated), (443, 80, true));
    }
}
