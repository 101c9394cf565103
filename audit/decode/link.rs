//! Strips link-layer framing down to the IP packet.
//!
//! etherparse has no entry point for SLL2, BSD NULL/LOOP, PPP or NFLOG, and rejects loopback SLL, so
//! every link type is handled here the same way: find the network protocol, return the bytes after
//! the link headers.

/// LINKTYPE_* values (tcpdump.org/linktypes.html) this decoder understands.
pub mod linktype {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const PPP: u32 = 9;
    /// DLT_RAW as some BSDs write it into files instead of LINKTYPE_RAW.
    pub const RAW_BSD_12: u32 = 12;
    pub const RAW_BSD_14: u32 = 14;
    pub const PPP_HDLC: u32 = 50;
    pub const RAW: u32 = 101;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const NFLOG: u32 = 239;
    pub const LINUX_SLL2: u32 = 276;
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
const ETHERTYPE_MPLS: u16 = 0x8847;
const ETHERTYPE_MPLS_MULTICAST: u16 = 0x8848;

/// Stacked 802.1Q/802.1ad tags and MPLS labels allowed before a frame is given up on; real networks
/// use two or three, a hostile frame could claim thousands.
const MAX_SHIM_HEADERS: usize = 8;

/// Returns the IP packet carried by a frame of the given link type, or `None` when the frame carries
/// something else (ARP, LLC, …) or is too short.
#[inline]
pub fn ip_payload(linktype: u32, frame: &[u8]) -> Option<&[u8]> {
    // Untagged Ethernet carrying IP, by far the most common frame, without the general dispatch.
    if linktype == linktype::ETHERNET
        && let Some(&[hi, lo]) = frame.get(12..14)
        && matches!(u16::from_be_bytes([hi, lo]), ETHERTYPE_IPV4 | ETHERTYPE_IPV6)
    {
        return Some(&frame[14..]);
    }
    any_ip_payload(linktype, frame)
}

fn any_ip_payload(linktype: u32, frame: &[u8]) -> Option<&[u8]> {
    use linktype::*;
    match linktype {
        ETHERNET => ethernet(frame),
        RAW | RAW_BSD_12 | RAW_BSD_14 | IPV4 | IPV6 => ip_by_version(frame),
        NULL => bsd_null(frame),
        LOOP => {
            let af = u32::from_be_bytes(frame.get(..4)?.try_into().ok()?);
            address_family(af, frame.get(4..)?)
        }
        LINUX_SLL => by_ethertype(be16(frame, 14)?, frame.get(16..)?),
        LINUX_SLL2 => by_ethertype(be16(frame, 0)?, frame.get(20..)?),
        PPP | PPP_HDLC => ppp(frame),
        NFLOG => nflog(frame),
        _ => None,
    }
}

/// Link types [`ip_payload`] decodes, for telling a user why a capture yielded nothing.
pub fn is_supported(linktype: u32) -> bool {
    use linktype::*;
    matches!(
        linktype,
        NULL | ETHERNET
            | PPP
            | RAW_BSD_12
            | RAW_BSD_14
            | PPP_HDLC
            | RAW
            | LOOP
            | LINUX_SLL
            | IPV4
            | IPV6
            | NFLOG
            | LINUX_SLL2
    )
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]))
}

/// Raw IP: the version nibble says which.
fn ip_by_version(data: &[u8]) -> Option<&[u8]> {
    match data.first()? >> 4 {
        4 | 6 => Some(data),
        _ => None,
    }
}

/// Ethernet II, with any number of VLAN tags up to [`MAX_SHIM_HEADERS`]. 802.3 frames (length field
/// below 0x600) carry LLC, never IP we care about.
pub(crate) fn ethernet(frame: &[u8]) -> Option<&[u8]> {
    by_ethertype(be16(frame, 12)?, frame.get(14..)?)
}

fn by_ethertype(mut ethertype: u16, mut rest: &[u8]) -> Option<&[u8]> {
    for _ in 0..MAX_SHIM_HEADERS {
        match ethertype {
            ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => return Some(rest),
            ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD => {
                ethertype = be16(rest, 2)?;
                rest = rest.get(4..)?;
            }
            // PPPoE session header (RFC 2516): ver/type, code, session id, length, then a PPP protocol.
            ETHERTYPE_PPPOE_SESSION => return ppp_protocol(be16(rest, 6)?, rest.get(8..)?),
            ETHERTYPE_MPLS | ETHERTYPE_MPLS_MULTICAST => return mpls(rest),
            _ => return None,
        }
    }
    None
}

fn mpls(mut rest: &[u8]) -> Option<&[u8]> {
    for _ in 0..MAX_SHIM_HEADERS {
        let bottom_of_stack = rest.get(2)? & 0x01 != 0;
        rest = rest.get(4..)?;
        if bottom_of_stack {
            return ip_by_version(rest);
        }
    }
    None
}

/// BSD loopback: a 4-byte address family in the *capturing* host's byte order.
fn bsd_null(frame: &[u8]) -> Option<&[u8]> {
    let raw: [u8; 4] = frame.get(..4)?.try_into().ok()?;
    let le = u32::from_le_bytes(raw);
    let af = if le > 0xffff { u32::from_be_bytes(raw) } else { le };
    address_family(af, frame.get(4..)?)
}

/// AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS).
fn address_family(af: u32, rest: &[u8]) -> Option<&[u8]> {
    match af {
        2 | 10 | 24 | 28 | 30 => ip_by_version(rest),
        _ => None,
    }
}

fn ppp(frame: &[u8]) -> Option<&[u8]> {
    // Address/control bytes (0xff 0x03) are optional (RFC 1662 §3.2 address-and-control compression).
    let rest = if frame.starts_with(&[0xff, 0x03]) { &frame[2..] } else { frame };
    // The protocol field may be compressed to one byte; full protocol numbers have an even first byte.
    let first = *rest.first()?;
    if first & 1 == 1 {
        ppp_protocol(u16::from(first), &rest[1..])
    } else {
        ppp_protocol(be16(rest, 0)?, rest.get(2..)?)
    }
}

fn ppp_protocol(protocol: u16, rest: &[u8]) -> Option<&[u8]> {
    match protocol {
        0x0021 | 0x0057 => ip_by_version(rest),
        _ => None,
    }
}

/// Linux NFLOG: a 4-byte header, then TLVs in host byte order; TLV type 9 (NFULA_PAYLOAD) holds the
/// IP packet. Lengths include the 4-byte TLV header and are padded to 4.
fn nflog(frame: &[u8]) -> Option<&[u8]> {
    const NFULA_PAYLOAD: u16 = 9;
    let mut rest = frame.get(4..)?;
    while rest.len() >= 4 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let kind = u16::from_le_bytes([rest[2], rest[3]]) & 0x7fff;
        if len < 4 {
            return None;
        }
        let value = rest.get(4..len.min(rest.len()))?;
        if kind == NFULA_PAYLOAD {
            return ip_by_version(value);
        }
        rest = rest.get(len.next_multiple_of(4).min(rest.len())..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPV4_START: [u8; 4] = [0x45, 0, 0, 20];

    #[test]
    fn null_loopback_accepts_either_byte_order() {
        let mut le = vec![2, 0, 0, 0];
        le.extend_from_slice(&IPV4_START);
        let mut be = vec![0, 0, 0, 2];
        be.extend_from_slice(&IPV4_START);
        assert_eq!(ip_payload(linktype::NULL, &le), Some(&IPV4_START[..]));
        assert_eq!(ip_payload(linktype::NULL, &be), Some(&IPV4_START[..]));
    }

    #[test]
    fn ethernet_with_two_vlan_tags() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 2, 0x08, 0x00]);
        f.extend_from_slice(&IPV4_START);
        assert_eq!(ip_payload(linktype::ETHERNET, &f), Some(&IPV4_START[..]));
    }

    #[test]
    fn endless_vlan_tags_are_refused() {
        let mut f = vec![0u8; 12];
        for _ in 0..100 {
            f.extend_from_slice(&[0x81, 0x00, 0, 1]);
        }
        assert_eq!(ip_payload(linktype::ETHERNET, &f), None);
    }

    #[test]
    fn sll2_protocol_is_at_the_start() {
        let mut f = vec![0x86, 0xdd];
        f.extend_from_slice(&[0u8; 18]);
        f.push(0x60);
        assert_eq!(ip_payload(linktype::LINUX_SLL2, &f), Some(&[0x60][..]));
    }

    #[test]
    fn ppp_with_and_without_address_control() {
        let mut f = vec![0xff, 0x03, 0x00, 0x21];
        f.extend_from_slice(&IPV4_START);
        assert_eq!(ip_payload(linktype::PPP, &f), Some(&IPV4_START[..]));
        let mut g = vec![0x21];
        g.extend_from_slice(&IPV4_START);
        assert_eq!(ip_payload(linktype::PPP, &g), Some(&IPV4_START[..]));
    }

    #[test]
    fn short_frames_yield_nothing() {
        for lt in [0, 1, 9, 101, 108, 113, 228, 239, 276] {
            assert_eq!(ip_payload(lt, &[]), None);
            assert_eq!(ip_payload(lt, &[1, 2, 3]), None);
        }
    }
}
