//! Local endpoints a policy allows: `ip`, `ip:port`, `[v6]:port`, CIDR, `name` or `name:port`.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalEndpoint {
    Address { ip: IpAddr, port: Option<u16> },
    Network { base: IpAddr, prefix: u8 },
    Name { host: String, port: Option<u16> },
}

impl LocalEndpoint {
    pub fn matches(&self, server: Option<SocketAddr>, host: Option<&str>) -> bool {
        let port_ok = |want: &Option<u16>| want.is_none_or(|p| server.is_some_and(|s| s.port() == p));
        match self {
            LocalEndpoint::Address { ip, port } => server.is_some_and(|s| canonical(s.ip()) == *ip) && port_ok(port),
            LocalEndpoint::Network { base, prefix } => {
                server.is_some_and(|s| in_network(canonical(s.ip()), *base, *prefix))
            }
            LocalEndpoint::Name { host: name, port } => host == Some(name.as_str()) && port_ok(port),
        }
    }
}

/// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn in_network(ip: IpAddr, base: IpAddr, prefix: u8) -> bool {
    match (ip, base) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix.min(32))) };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix.min(128))) };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

impl FromStr for LocalEndpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("bad local endpoint {s:?} (expected ip, ip:port, [v6]:port, CIDR, name or name:port)");
        if let Some((base, prefix)) = s.split_once('/') {
            let base: IpAddr = base.parse().map_err(|_| bad())?;
            let prefix: u8 = prefix.parse().map_err(|_| bad())?;
            if prefix > if base.is_ipv4() { 32 } else { 128 } {
                return Err(bad());
            }
            return Ok(LocalEndpoint::Network { base, prefix });
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(LocalEndpoint::Address { ip: canonical(ip), port: None });
        }
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Ok(LocalEndpoint::Address { ip: canonical(sa.ip()), port: Some(sa.port()) });
        }
        let (host, port) = match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p.parse::<u16>().map_err(|_| bad())?)),
            None => (s, None),
        };
        if host.is_empty() || host.contains(['[', ']', ':', '/']) {
            return Err(bad());
        }
        Ok(LocalEndpoint::Name { host: host.to_ascii_lowercase(), port })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> Option<SocketAddr> {
        s.parse().ok()
    }

    #[test]
    fn endpoint_forms() {
        let e = |s: &str| s.parse::<LocalEndpoint>().unwrap_or_else(|m| panic!("{m}"));
        assert!(e("127.0.0.1:11434").matches(sa("127.0.0.1:11434"), None));
        assert!(!e("127.0.0.1:11434").matches(sa("127.0.0.1:80"), None));
        assert!(e("127.0.0.1:11434").matches(sa("[::ffff:127.0.0.1]:11434"), None));
        assert!(e("[::1]:1234").matches(sa("[::1]:1234"), None));
        assert!(e("10.0.0.0/8").matches(sa("10.9.8.7:443"), None));
        assert!(!e("10.0.0.0/8").matches(sa("11.0.0.1:443"), None));
        assert!(e("localhost:11434").matches(sa("127.0.0.1:11434"), Some("localhost")));
        assert!("10.0.0.0/40".parse::<LocalEndpoint>().is_err());
    }
}
