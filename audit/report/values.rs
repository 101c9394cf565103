//! Scalar fields of a flow report kept in binary form until a renderer writes them: the JSON
//! renderer writes them straight into its output (it runs once per flow), the others through
//! `Display`. Each serializes as the string `Display` gives.

use crate::source::Nanos;
use serde::{Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;

/// `F<file>.<flow>`: a flow's stable id in a report (file index from 1, flow number in that file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowId {
    pub file: u64,
    pub flow: u64,
}

impl FlowId {
    pub fn push(&self, out: &mut Vec<u8>) {
        let mut buf = [0u8; 20];
        out.push(b'F');
        out.extend_from_slice(crate::text::decimal_digits(self.file, &mut buf));
        out.push(b'.');
        out.extend_from_slice(crate::text::decimal_digits(self.flow, &mut buf));
    }
}

impl fmt::Display for FlowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "F{}.{}", self.file, self.flow)
    }
}

/// An IP protocol by number, named as the report names it: `tcp`, `udp`, `icmp`, `icmpv6`, else `ip-N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Proto(pub u8);

impl Proto {
    pub fn name(self) -> Cow<'static, str> {
        match self.0 {
            6 => "tcp".into(),
            17 => "udp".into(),
            1 => "icmp".into(),
            58 => "icmpv6".into(),
            other => format!("ip-{other}").into(),
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A flow's end point, written `ip:port` (`[ip]:port` for IPv6) as `SocketAddr` displays it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint(pub SocketAddr);

impl Endpoint {
    /// Appends the text to `scratch` (cleared first) and returns it.
    pub fn text<'s>(&self, scratch: &'s mut String) -> &'s str {
        scratch.clear();
        crate::flows::addr::push_socket(scratch, &self.0);
        scratch
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::flows::addr::socket(&self.0))
    }
}

/// A capture time, written as RFC 3339 in UTC with microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub Nanos);

impl Timestamp {
    pub fn push(&self, out: &mut Vec<u8>) {
        super::time::push_rfc3339(out, self.0);
    }

    /// Milliseconds since the epoch of the written (microsecond) time; 0 outside years ±9999.
    pub fn millis(&self) -> i64 {
        jiff::Timestamp::from_microsecond(self.0.div_euclid(1_000)).map_or(0, |t| t.as_millisecond())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&super::time::rfc3339(self.0))
    }
}

macro_rules! serialize_as_display {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}
serialize_as_display!(FlowId, Proto, Endpoint, Timestamp);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_as_before() {
        let mut out = Vec::new();
        FlowId { file: 2, flow: 1234 }.push(&mut out);
        assert_eq!(out, b"F2.1234");
        assert_eq!(FlowId { file: 2, flow: 1234 }.to_string(), "F2.1234");
        assert_eq!(Proto(6).to_string(), "tcp");
        assert_eq!(Proto(58).to_string(), "icmpv6");
        assert_eq!(Proto(132).to_string(), "ip-132");
        let mut scratch = String::from("old");
        let v6: SocketAddr = "[fd00::1]:443".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Endpoint(v6).text(&mut scratch), "[fd00::1]:443");
        assert_eq!(Endpoint(v6).to_string(), v6.to_string());
        assert_eq!(
            serde_json::to_string(&Timestamp(1_704_067_200_123_456_789)).ok().as_deref(),
            Some("\"2024-01-01T00:00:00.123456Z\"")
        );
    }

    proptest::proptest! {
        /// The milliseconds OCSF events carry are those of the written time, parsed back.
        #[test]
        fn millis_of_the_written_time(ts in proptest::prelude::any::<i64>()) {
            let parsed = super::super::time::rfc3339(ts).parse::<jiff::Timestamp>().map(|t| t.as_millisecond()).unwrap_or(0);
            proptest::prop_assert_eq!(Timestamp(ts).millis(), parsed);
        }
    }
}
