//! Dissectors: pure functions over byte slices that name a flow (DNS, TLS ClientHello, HTTP, QUIC
//! Initial).
//!
//! No I/O, no clock, no flow state: the flow table feeds them reassembled bytes. The one exception
//! is QUIC's [`quic::Assembler`], a bounded value the flow owns while CRYPTO frames from several
//! Initial packets come together into a ClientHello.

pub mod dns;
pub mod http;
pub mod quic;
pub mod socks;
pub mod tls;
