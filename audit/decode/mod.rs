//! Decode: from a captured frame to addresses, ports and a payload slice.
//!
//! Zero copy except for IP fragments, which are reassembled into a buffer the decoder owns.

pub mod defrag;
pub mod ip;
pub mod link;

use crate::source::{Frame, Nanos};
use defrag::Defragmenter;
pub use ip::{Packet, TcpMeta};

/// Turns frames into packets; keeps the only decode state there is (pending IP fragments).
#[derive(Default)]
pub struct Decoder {
    defrag: Defragmenter,
}

impl Decoder {
    /// Decodes one frame; `None` for frames that carry no IP, or IP we cannot read.
    #[inline]
    pub fn decode<'a>(&'a mut self, frame: &Frame<'a>) -> Option<Packet<'a>> {
        let ip_bytes = link::ip_payload(frame.linktype, frame.data)?;
        self.decode_ip(frame.ts, ip_bytes)
    }

    /// Decodes an IP packet (the part after the link layer).
    #[inline]
    pub fn decode_ip<'a>(&'a mut self, ts: Nanos, ip_bytes: &'a [u8]) -> Option<Packet<'a>> {
        if let Some(p) = ip::parse_common(ip_bytes) {
            return Some(p);
        }
        self.decode_ip_general(ts, ip_bytes)
    }

    /// [`Decoder::decode`] without the fast path for common packets: the reference the fast path is
    /// tested against.
    pub fn decode_general<'a>(&'a mut self, frame: &Frame<'a>) -> Option<Packet<'a>> {
        let ip_bytes = link::ip_payload(frame.linktype, frame.data)?;
        self.decode_ip_general(frame.ts, ip_bytes)
    }

    fn decode_ip_general<'a>(&'a mut self, ts: Nanos, ip_bytes: &'a [u8]) -> Option<Packet<'a>> {
        match ip::parse(ip_bytes)? {
            ip::Parsed::Packet(p) => Some(p),
            ip::Parsed::Fragment(fragment) => {
                let whole = self.defrag.push(ts, fragment)?;
                ip::transport(whole.header, whole.payload, false)
            }
        }
    }

    /// Datagrams whose fragments never all arrived (dropped when they expired or the table was full).
    pub fn incomplete_fragments(&self) -> u64 {
        self.defrag.abandoned()
    }
}
