//! Making packet-derived bytes safe to print.
//!
//! Names, SNIs and headers come from hostile input. Anything that is not printable ASCII is written
//! as `\xNN`, so no escape sequence reaches a terminal or a CI log, and the report stays plain UTF-8.

/// Renders bytes as printable ASCII, escaping everything else (and the backslash) as `\xNN`.
pub fn printable(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        push_printable(&mut out, b);
    }
    out
}

/// Escapes control and non-ASCII characters of a string that may already hold packet text.
/// Backslashes are kept, so text escaped once (`\\x1b`, DNS `\\027`) is not escaped twice.
pub fn printable_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b == b'\\' {
            out.push('\\');
        } else {
            push_printable(&mut out, b);
        }
    }
    out
}

fn push_printable(out: &mut String, b: u8) {
    if (0x20..0x7f).contains(&b) && b != b'\\' {
        out.push(b as char);
    } else {
        out.push_str(&format!("\\x{b:02x}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_defused() {
        assert_eq!(printable(b"a\x1b[31mb"), "a\\x1b[31mb");
        assert_eq!(printable_str("ok.example"), "ok.example");
        assert_eq!(printable_str("é"), "\\xc3\\xa9");
        assert_eq!(printable_str("a\\027b"), "a\\027b");
    }
}

/// `ip:port` (IPv6 as `[ip]:port`) as `SocketAddr`'s Display writes it, without the formatting
/// machinery for the common IPv4 case: reports write two per flow.
pub fn socket_addr(sa: &std::net::SocketAddr) -> String {
    match sa {
        std::net::SocketAddr::V4(v4) => {
            let mut out = String::with_capacity(21);
            for (i, octet) in v4.ip().octets().iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_decimal(&mut out, u64::from(*octet));
            }
            out.push(':');
            push_decimal(&mut out, u64::from(v4.port()));
            out
        }
        v6 => v6.to_string(),
    }
}

/// The decimal digits of `n`, written into the end of `buf` (u64 has at most 20).
pub fn decimal_digits(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[at..]
}

/// Appends `n` in decimal.
pub fn push_decimal(out: &mut String, n: u64) {
    let mut buf = [0u8; 20];
    // ASCII digits, so the conversion cannot fail; one copy instead of a push per digit.
    out.push_str(std::str::from_utf8(decimal_digits(n, &mut buf)).unwrap_or_default());
}

#[cfg(test)]
mod socket_addr_tests {
    #[test]
    fn matches_display() {
        for s in ["1.2.3.4:5", "255.255.255.255:65535", "0.0.0.0:0", "[::1]:443", "[fd00:ea::10]:8443"] {
            let sa: std::net::SocketAddr = s.parse().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(super::socket_addr(&sa), sa.to_string());
        }
    }

    proptest::proptest! {
        #[test]
        fn push_decimal_matches_display(n in proptest::prelude::any::<u64>(), prefix in "[a-z]{0,3}") {
            let mut s = prefix.clone();
            super::push_decimal(&mut s, n);
            proptest::prop_assert_eq!(s, format!("{prefix}{n}"));
        }
    }
}
