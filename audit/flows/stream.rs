//! One direction of a TCP connection, reassembled in sequence order for the dissectors.
//!
//! Bounded: at most `limit` unread bytes and [`MAX_OUT_OF_ORDER`] early segments are held; the owner
//! drops the whole buffer once the flow is named.

/// Segments that arrived before a gap is filled; a hello rarely spans more than a dozen.
const MAX_OUT_OF_ORDER: usize = 64;

#[derive(Debug)]
pub struct Stream {
    next_seq: Option<u32>,
    data: Vec<u8>,
    early: Vec<(u32, Vec<u8>)>,
    early_bytes: usize,
    /// Bytes still to be discarded as they arrive (an HTTP body being skipped).
    skipping: usize,
    limit: usize,
    overflowed: bool,
}

impl Stream {
    pub fn new(limit: usize) -> Self {
        Stream {
            next_seq: None,
            data: Vec::new(),
            early: Vec::new(),
            early_bytes: 0,
            skipping: 0,
            limit,
            overflowed: false,
        }
    }

    /// A SYN fixes the initial sequence number; data (TCP Fast Open) starts one past it.
    pub fn syn(&mut self, seq: u32) {
        if self.next_seq.is_none() {
            self.next_seq = Some(seq.wrapping_add(1));
        }
    }

    /// Starts the stream afresh at `seq` (a hello spotted at a segment start mid-connection).
    pub fn restart_at(&mut self, seq: u32) {
        *self = Stream::new(self.limit);
        self.next_seq = Some(seq);
    }

    /// Adds a segment. Returns true when new in-order bytes became readable.
    pub fn push(&mut self, seq: u32, payload: &[u8]) -> bool {
        if payload.is_empty() || self.overflowed {
            return false;
        }
        let next = *self.next_seq.get_or_insert(seq);
        let ahead = seq.wrapping_sub(next) as i32;
        if ahead > 0 {
            if self.early.len() < MAX_OUT_OF_ORDER && self.early_bytes + payload.len() <= self.limit {
                self.early_bytes += payload.len();
                self.early.push((seq, payload.to_vec()));
            } else {
                self.overflowed = true;
            }
            return false;
        }
        let mut grew = self.append_from(seq, payload);
        while let Some(i) =
            self.early.iter().position(|(s, _)| self.next_seq.is_some_and(|n| s.wrapping_sub(n) as i32 <= 0))
        {
            let (s, bytes) = self.early.swap_remove(i);
            self.early_bytes -= bytes.len();
            grew |= self.append_from(s, &bytes);
        }
        grew
    }

    /// Appends the part of a segment at or after `next_seq` (retransmitted bytes are dropped).
    fn append_from(&mut self, seq: u32, payload: &[u8]) -> bool {
        let Some(next) = self.next_seq else { return false };
        let behind = next.wrapping_sub(seq) as usize;
        if behind >= payload.len() {
            return false;
        }
        let mut fresh = &payload[behind..];
        self.next_seq = Some(next.wrapping_add(fresh.len() as u32));
        let skipped = self.skipping.min(fresh.len());
        self.skipping -= skipped;
        fresh = &fresh[skipped..];
        if fresh.is_empty() {
            return false;
        }
        if self.data.len() + fresh.len() > self.limit {
            self.overflowed = true;
            return false;
        }
        self.data.extend_from_slice(fresh);
        true
    }

    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Drops `n` bytes that have been read; if fewer are buffered, the rest is skipped by sequence
    /// number, so bytes that never arrive (a body dropped by a kernel filter) leave no gap to wait on.
    pub fn consume(&mut self, n: usize) {
        let have = n.min(self.data.len());
        self.data.drain(..have);
        let skip = n - have;
        if skip >= 1 << 31 {
            // Beyond half the sequence space the arithmetic is ambiguous: stop following this stream.
            self.overflowed = true;
            return;
        }
        if skip > 0 {
            match self.next_seq.as_mut() {
                Some(next) => *next = next.wrapping_add(skip as u32),
                None => self.skipping += skip,
            }
        }
    }

    /// Bytes this stream holds (in order and early), for the table-wide budget.
    pub fn held(&self) -> usize {
        self.data.len() + self.early_bytes
    }

    /// More was buffered than `limit` allows: the owner should stop inspecting.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_and_retransmitted_segments() {
        let mut s = Stream::new(1024);
        s.syn(99);
        assert!(!s.push(107, b"world"));
        assert!(s.push(100, b"hello, "));
        assert_eq!(s.data(), b"hello, world");
        assert!(!s.push(100, b"hello, "));
        assert!(s.push(103, b"lo, world!"));
        assert_eq!(s.data(), b"hello, world!");
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut s = Stream::new(1024);
        s.syn(u32::MAX - 1);
        assert!(s.push(u32::MAX, b"ab"));
        assert!(s.push(1, b"cd"));
        assert_eq!(s.data(), b"abcd");
    }

    #[test]
    fn limit_is_enforced() {
        let mut s = Stream::new(8);
        s.push(0, b"12345678");
        s.push(8, b"9");
        assert!(s.overflowed());
        assert_eq!(s.data().len(), 8);
    }

    #[test]
    fn consume_beyond_buffer_skips_future_bytes() {
        let mut s = Stream::new(64);
        s.push(0, b"head");
        s.consume(10);
        s.push(4, b"bodyXYnext");
        assert_eq!(s.data(), b"next");
    }
}
