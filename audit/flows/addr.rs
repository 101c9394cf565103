//! Addresses as text, exactly as `Display` writes them, without the formatting machinery: a report
//! writes two or three per flow, and `fmt` costs several times more than the digits themselves.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// `ip:port`, `[ip]:port` for IPv6 (with `%scope` when it has one, through `Display`).
pub fn socket(sa: &SocketAddr) -> String {
    let mut s = String::with_capacity(48);
    push_socket(&mut s, sa);
    s
}

/// Appends [`socket`]'s text to `s`.
pub fn push_socket(s: &mut String, sa: &SocketAddr) {
    match sa {
        SocketAddr::V4(v4) => push_ipv4(s, *v4.ip()),
        SocketAddr::V6(v6) if v6.scope_id() == 0 => {
            s.push('[');
            push_ipv6(s, v6.ip());
            s.push(']');
        }
        v6 => {
            use std::fmt::Write;
            let _ = write!(s, "{v6}");
            return;
        }
    }
    s.push(':');
    push_decimal(s, u32::from(sa.port()));
}

pub fn ip(ip: IpAddr) -> String {
    let mut s = String::with_capacity(39);
    match ip {
        IpAddr::V4(v4) => push_ipv4(&mut s, v4),
        IpAddr::V6(v6) => push_ipv6(&mut s, &v6),
    }
    s
}

pub fn push_ipv4(s: &mut String, ip: Ipv4Addr) {
    // Digits into a fixed buffer, then one append: a report writes an address or two per flow and
    // per DNS answer, and per-octet appends cost several times the digits.
    let mut buf = [0u8; 15];
    let mut len = 0;
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            buf[len] = b'.';
            len += 1;
        }
        if octet >= 100 {
            buf[len] = b'0' + octet / 100;
            len += 1;
        }
        if octet >= 10 {
            buf[len] = b'0' + octet / 10 % 10;
            len += 1;
        }
        buf[len] = b'0' + octet % 10;
        len += 1;
    }
    // ASCII digits and dots, so the conversion cannot fail.
    s.push_str(std::str::from_utf8(&buf[..len]).unwrap_or_default());
}

fn push_decimal(s: &mut String, n: u32) {
    crate::text::push_decimal(s, u64::from(n));
}

/// RFC 5952 as the standard library writes it: IPv4-mapped addresses as `::ffff:a.b.c.d`; otherwise
/// lowercase hex groups, with the longest run of two or more zero groups (the first of equal runs)
/// written as `::`.
pub fn push_ipv6(s: &mut String, ip: &Ipv6Addr) {
    if let Some(v4) = ip.to_ipv4_mapped() {
        s.push_str("::ffff:");
        push_ipv4(s, v4);
        return;
    }
    let groups = ip.segments();
    let (mut best_start, mut best_len, mut start, mut len) = (0, 0, 0, 0);
    for (i, &g) in groups.iter().enumerate() {
        if g != 0 {
            len = 0;
            continue;
        }
        if len == 0 {
            start = i;
        }
        len += 1;
        if len > best_len {
            (best_start, best_len) = (start, len);
        }
    }
    if best_len > 1 {
        push_groups(s, &groups[..best_start]);
        s.push_str("::");
        push_groups(s, &groups[best_start + best_len..]);
    } else {
        push_groups(s, &groups);
    }
}

fn push_groups(s: &mut String, groups: &[u16]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, &g) in groups.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let digits = (16 - g.leading_zeros()).div_ceil(4).max(1);
        for d in (0..digits).rev() {
            s.push(char::from(HEX[usize::from((g >> (4 * d)) as u8 & 0xf)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_addresses_match_display() {
        for s in [
            "1.2.3.4:5",
            "255.255.255.255:65535",
            "0.0.0.0:0",
            "[::1]:443",
            "[::]:1",
            "[fd00:ea::10]:8443",
            "[1:0:0:2:0:0:0:3]:9",
            "[1:0:0:2:0:0:3:4]:9",
            "[0:0:1:0:0:0:0:0]:9",
            "[1:2:3:4:5:6:7:0]:9",
            "[1:0:3:4:5:6:7:8]:9",
            "[::ffff:10.0.0.1]:53",
            "[::10.0.0.1]:53",
            "[64:ff9b::1.2.3.4]:80",
            "[fe80::1%7]:22",
            "[2001:db8:ffff:abcd:1000:100:10:1]:65535",
        ] {
            let sa: SocketAddr = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(socket(&sa), sa.to_string());
            assert_eq!(ip(sa.ip()), sa.ip().to_string());
        }
    }

    proptest! {
        #[test]
        fn any_address_matches_display(v4 in any::<u32>(), groups in prop::array::uniform8(prop_oneof![Just(0u16), Just(1u16), any::<u16>()]), port in any::<u16>()) {
            let a = SocketAddr::new(Ipv4Addr::from(v4).into(), port);
            prop_assert_eq!(socket(&a), a.to_string());
            let v6 = Ipv6Addr::from(groups);
            let b = SocketAddr::new(v6.into(), port);
            prop_assert_eq!(socket(&b), b.to_string());
            prop_assert_eq!(ip(v6.into()), v6.to_string());
        }
    }
}
