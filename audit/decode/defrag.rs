//! IP fragment reassembly (IPv4 and IPv6), bounded in datagrams, bytes and time.
//!
//! DNS answers larger than the path MTU arrive fragmented; without reassembly their names are lost.

use super::ip::{Fragment, IpHeader};
use crate::source::Nanos;
use std::collections::HashMap;
use std::net::IpAddr;

/// Datagrams being reassembled at once; past this the oldest is abandoned.
const MAX_PENDING: usize = 1024;
/// Largest reassembled payload an IP header can describe.
const MAX_DATAGRAM: usize = 65_535;
/// Fragments accepted per datagram: a 64 KiB datagram in 8-byte fragments would need 8,192, real
/// ones use a handful; past this the datagram is abandoned rather than sorted again and again.
const MAX_FRAGMENTS: usize = 256;
/// Linux's default ipfrag_time.
const EXPIRY: Nanos = 30_000_000_000;

#[derive(Hash, PartialEq, Eq, Clone, Copy)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    id: u32,
}

struct Pending {
    header: IpHeader,
    buf: Vec<u8>,
    /// Byte ranges received, unsorted; a datagram has few fragments.
    ranges: Vec<(usize, usize)>,
    total: Option<usize>,
    started: Nanos,
}

/// A datagram whose fragments have all arrived.
pub struct Reassembled<'a> {
    pub header: IpHeader,
    pub payload: &'a [u8],
}

#[derive(Default)]
pub struct Defragmenter {
    pending: HashMap<Key, Pending>,
    done: Vec<u8>,
    abandoned: u64,
}

impl Defragmenter {
    /// Adds a fragment; returns the whole payload once the last hole is filled.
    pub fn push(&mut self, ts: Nanos, f: Fragment<'_>) -> Option<Reassembled<'_>> {
        let end = f.offset.checked_add(f.data.len())?;
        if end > MAX_DATAGRAM {
            return None;
        }
        let key = Key { src: f.header.src, dst: f.header.dst, proto: f.header.proto, id: f.id };
        if !self.pending.contains_key(&key) {
            self.make_room(ts);
        }
        let entry = self.pending.entry(key).or_insert_with(|| Pending {
            header: f.header,
            buf: Vec::new(),
            ranges: Vec::new(),
            total: None,
            started: ts,
        });
        if entry.buf.len() < end {
            entry.buf.resize(end, 0);
        }
        entry.buf[f.offset..end].copy_from_slice(f.data);
        entry.ranges.push((f.offset, end));
        if entry.ranges.len() > MAX_FRAGMENTS {
            self.pending.remove(&key);
            self.abandoned += 1;
            return None;
        }
        if !f.more {
            entry.total = Some(end);
        }
        if !is_complete(entry) {
            return None;
        }
        let mut whole = self.pending.remove(&key)?;
        whole.buf.truncate(whole.total.unwrap_or(whole.buf.len()));
        self.done = whole.buf;
        Some(Reassembled { header: whole.header, payload: &self.done })
    }

    pub fn abandoned(&self) -> u64 {
        self.abandoned
    }

    fn make_room(&mut self, now: Nanos) {
        if self.pending.len() < MAX_PENDING {
            return;
        }
        let before = self.pending.len();
        self.pending.retain(|_, p| now.saturating_sub(p.started) < EXPIRY);
        if self.pending.len() >= MAX_PENDING
            && let Some(oldest) = self.pending.iter().min_by_key(|(_, p)| p.started).map(|(k, _)| *k)
        {
            self.pending.remove(&oldest);
        }
        self.abandoned += (before - self.pending.len()) as u64;
    }
}

fn is_complete(p: &mut Pending) -> bool {
    let Some(total) = p.total else { return false };
    p.ranges.sort_unstable();
    let mut covered = 0;
    for &(start, end) in &p.ranges {
        if start > covered {
            return false;
        }
        covered = covered.max(end);
    }
    covered >= total
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn frag(offset: usize, more: bool, data: &[u8]) -> Fragment<'_> {
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        Fragment { header: IpHeader { src: a, dst: a, proto: 17 }, id: 7, offset, more, data }
    }

    #[test]
    fn out_of_order_fragments_reassemble() {
        let mut d = Defragmenter::default();
        assert!(d.push(0, frag(8, false, b"world!!!")).is_none());
        let whole = d.push(1, frag(0, true, b"hello, w")).map(|r| r.payload.to_vec());
        assert_eq!(whole.as_deref(), Some(&b"hello, wworld!!!"[..]));
    }

    #[test]
    fn pending_table_is_bounded() {
        let mut d = Defragmenter::default();
        for id in 0..(MAX_PENDING as u32 * 3) {
            let mut f = frag(0, true, b"12345678");
            f.id = id;
            d.push(0, f);
        }
        assert!(d.pending.len() <= MAX_PENDING);
        assert!(d.abandoned() > 0);
    }
}
