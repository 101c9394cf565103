//! Dissectors: pure functions over byte slices that name a flow (DNS, TLS ClientHello, HTTP).
//!
//! No I/O, no clock, no flow state: the flow table feeds them reassembled bytes.

pub mod dns;
pub mod http;
pub mod tls;
