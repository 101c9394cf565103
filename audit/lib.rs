//! egress-audit: proves what an AI coding agent really sends over the network.
//!
//! Data flows one way through stages that each live in their own module:
//! [`source`] (frames from a capture) → [`decode`] (link/IP/TCP/UDP) → [`dissect`] (DNS, TLS
//! ClientHello, HTTP) → [`flows`] (flow table, DNS-learned names) — glued by [`analyzer`] — then
//! [`catalog`] + [`policy`] → [`classify`] (pure verdicts) → [`report`] (renderers that never decide).

pub mod analyzer;
pub mod attribute;
pub mod blind_spots;
pub mod catalog;
pub mod classify;
pub mod compare;
pub mod decode;
pub mod dissect;
pub mod doctor;
pub mod flows;
pub mod live;
pub mod logs;
pub mod merge;
pub mod policy;
pub mod replay;
pub mod report;
pub mod sealed;
pub mod source;
pub mod text;
pub mod watch;
