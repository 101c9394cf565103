//! One address per name: the sealed DNS answers each name with an address of its own, so the capture
//! names every flow from DNS as it would on a real network, and a connection without SNI or Host is
//! still tied to the name the agent looked up.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// 198.18.0.0/15 (RFC 2544, benchmarking): never a real destination, 131,072 addresses.
const V4_BASE: u32 = u32::from_be_bytes([198, 18, 0, 0]);
const V4_SIZE: u32 = 1 << 17;
/// A unique-local /64 of our own (fd65:6772:6573:7300::/64, "egres" in hex).
const V6_PREFIX: [u16; 4] = [0xfd65, 0x6772, 0x6573, 0x7300];

/// Names past this share the last address: memory stays bounded when an agent asks for random names.
const MAX_NAMES: usize = 100_000;

#[derive(Default)]
pub struct AddressBook {
    by_name: HashMap<String, u32>,
    names: Vec<String>,
}

impl AddressBook {
    /// The name's index, allocated on first use.
    fn index(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.by_name.get(name) {
            return i;
        }
        if self.names.len() >= MAX_NAMES {
            return MAX_NAMES as u32;
        }
        let i = self.names.len() as u32 + 1;
        self.names.push(name.to_string());
        self.by_name.insert(name.to_string(), i);
        i
    }

    pub fn v4(&mut self, name: &str) -> Ipv4Addr {
        let i = self.index(name) % V4_SIZE;
        Ipv4Addr::from(V4_BASE + i)
    }

    pub fn v6(&mut self, name: &str) -> Ipv6Addr {
        let i = self.index(name);
        let [a, b, c, d] = V6_PREFIX;
        Ipv6Addr::new(a, b, c, d, 0, 0, (i >> 16) as u16, i as u16)
    }

    /// The name an address was given for, if it is one of ours.
    pub fn name_of(&self, ip: std::net::IpAddr) -> Option<&str> {
        let i = match ip {
            std::net::IpAddr::V4(v4) => {
                let n = u32::from(v4);
                if !(V4_BASE..V4_BASE + V4_SIZE).contains(&n) {
                    return None;
                }
                n - V4_BASE
            }
            std::net::IpAddr::V6(v6) => {
                let s = v6.segments();
                if s[..4] != V6_PREFIX || s[4] != 0 || s[5] != 0 {
                    return None;
                }
                (u32::from(s[6]) << 16) | u32::from(s[7])
            }
        };
        self.names.get((i as usize).checked_sub(1)?).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_its_own_address_both_families() {
        let mut book = AddressBook::default();
        let a = book.v4("api.anthropic.com");
        let b = book.v4("statsig.anthropic.com");
        assert_ne!(a, b);
        assert_eq!(book.v4("api.anthropic.com"), a);
        assert_eq!(a, Ipv4Addr::new(198, 18, 0, 1));
        let v6 = book.v6("statsig.anthropic.com");
        assert_eq!(v6, "fd65:6772:6573:7300::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(book.name_of(b.into()), Some("statsig.anthropic.com"));
        assert_eq!(book.name_of(v6.into()), Some("statsig.anthropic.com"));
        assert_eq!(book.name_of("8.8.8.8".parse().unwrap()), None);
        assert_eq!(book.name_of("198.18.9.9".parse().unwrap()), None);
    }
}
