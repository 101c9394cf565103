//! SOCKS proxy handshakes (RFC 1928 SOCKS5; SOCKS4/4a): the CONNECT target names the tunnel.

use crate::text::printable;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    NeedMore,
    NotSocks,
    /// The client asked the proxy to connect to `target` (`host:port`); the handshake took `len`
    /// bytes of the client's stream, the tunnel's own bytes follow.
    Connect {
        target: String,
        len: usize,
    },
}

/// Reads a SOCKS handshake at the start of a client's byte stream.
pub fn connect(stream: &[u8]) -> Progress {
    match stream.first() {
        Some(5) => socks5(stream),
        Some(4) => socks4(stream),
        Some(_) => Progress::NotSocks,
        None => Progress::NeedMore,
    }
}

/// Greeting `05 n methods…`, then request `05 01 00 atyp addr port` (the client does not wait for
/// anything it needs to send the request, so both are in its stream).
fn socks5(s: &[u8]) -> Progress {
    let Some(&methods) = s.get(1) else { return Progress::NeedMore };
    if methods == 0 || methods > 16 {
        return Progress::NotSocks;
    }
    let req = 2 + usize::from(methods);
    let Some(head) = s.get(req..req + 4) else { return Progress::NeedMore };
    if head[0] != 5 || head[1] != 1 || head[2] != 0 {
        return Progress::NotSocks;
    }
    let at = req + 4;
    let (host, end) = match head[3] {
        1 => match s.get(at..at + 4) {
            Some(a) => (format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3]), at + 4),
            None => return Progress::NeedMore,
        },
        3 => {
            let Some(&len) = s.get(at) else { return Progress::NeedMore };
            match s.get(at + 1..at + 1 + usize::from(len)) {
                Some(name) if len > 0 => (printable(name), at + 1 + usize::from(len)),
                Some(_) => return Progress::NotSocks,
                None => return Progress::NeedMore,
            }
        }
        4 => match s.get(at..at + 16).and_then(|a| <[u8; 16]>::try_from(a).ok()) {
            Some(a) => (format!("[{}]", std::net::Ipv6Addr::from(a)), at + 16),
            None => return Progress::NeedMore,
        },
        _ => return Progress::NotSocks,
    };
    let Some(port) = s.get(end..end + 2) else { return Progress::NeedMore };
    Progress::Connect { target: format!("{host}:{}", u16::from_be_bytes([port[0], port[1]])), len: end + 2 }
}

/// `04 01 port ip userid 00`, and SOCKS4a's `0.0.0.x` address followed by the host name and `00`.
fn socks4(s: &[u8]) -> Progress {
    let Some(head) = s.get(..8) else { return Progress::NeedMore };
    if head[1] != 1 {
        return Progress::NotSocks;
    }
    let port = u16::from_be_bytes([head[2], head[3]]);
    let Some(user_end) = s[8..].iter().position(|&b| b == 0).map(|i| 8 + i) else {
        return if s.len() > 8 + 255 { Progress::NotSocks } else { Progress::NeedMore };
    };
    if head[4..7] == [0, 0, 0] && head[7] != 0 {
        let rest = &s[user_end + 1..];
        let Some(host_end) = rest.iter().position(|&b| b == 0) else {
            return if rest.len() > 255 { Progress::NotSocks } else { Progress::NeedMore };
        };
        return Progress::Connect {
            target: format!("{}:{port}", printable(&rest[..host_end])),
            len: user_end + 1 + host_end + 1,
        };
    }
    Progress::Connect { target: format!("{}.{}.{}.{}:{port}", head[4], head[5], head[6], head[7]), len: user_end + 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socks5_domain_connect() {
        let mut s = vec![5, 1, 0, 5, 1, 0, 3, 17];
        s.extend_from_slice(b"api.anthropic.com");
        s.extend_from_slice(&443u16.to_be_bytes());
        let n = s.len();
        s.extend_from_slice(&[22, 3, 1]);
        assert_eq!(connect(&s), Progress::Connect { target: "api.anthropic.com:443".into(), len: n });
        for cut in 0..n {
            assert_eq!(connect(&s[..cut]), Progress::NeedMore, "cut {cut}");
        }
    }

    #[test]
    fn socks4a_and_garbage() {
        let mut s = vec![4, 1, 1, 187, 0, 0, 0, 1, b'u', 0];
        s.extend_from_slice(b"statsig.anthropic.com\0");
        assert_eq!(connect(&s), Progress::Connect { target: "statsig.anthropic.com:443".into(), len: s.len() });
        assert_eq!(connect(b"\x05\x00"), Progress::NotSocks);
        assert_eq!(connect(b"GET / HTTP/1.1"), Progress::NotSocks);
    }
}
