//! DNS messages (RFC 1035), read tolerantly: the questions survive a malformed answer section.
//!
//! Hand-written rather than a crate because the report needs what a strict parser throws away (the
//! query names of a message whose answers are damaged), and because compression must stay linear on
//! hostile pointer chains: every name follows at most [`MAX_POINTER_JUMPS`] pointers.

use std::net::{Ipv4Addr, Ipv6Addr};

const HEADER_LEN: usize = 12;
/// A name has at most 127 labels; more jumps than that can only be a loop.
const MAX_POINTER_JUMPS: usize = 128;
/// RFC 1035 §2.3.4: 255 octets in wire form.
const MAX_NAME_WIRE_LEN: usize = 255;
/// Records read per section; a 64 KiB message cannot hold more than a few thousand real ones.
const MAX_RECORDS: usize = 512;
/// Questions read per message: real ones ask one (RFC 9619 makes more than one an error); a hostile
/// qdcount of 64,000 pointer-chasing names would otherwise cost a millisecond per packet.
const MAX_QUESTIONS: usize = 16;

pub mod rtype {
    pub const A: u16 = 1;
    pub const CNAME: u16 = 5;
    pub const PTR: u16 = 12;
    pub const AAAA: u16 = 28;
    pub const SVCB: u16 = 64;
    pub const HTTPS: u16 = 65;
}

/// The name of a DNS record type for reports.
pub fn type_name(t: u16) -> String {
    match t {
        1 => "A".into(),
        2 => "NS".into(),
        5 => "CNAME".into(),
        6 => "SOA".into(),
        12 => "PTR".into(),
        15 => "MX".into(),
        16 => "TXT".into(),
        28 => "AAAA".into(),
        33 => "SRV".into(),
        41 => "OPT".into(),
        64 => "SVCB".into(),
        65 => "HTTPS".into(),
        255 => "ANY".into(),
        other => format!("TYPE{other}"),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub name: String,
    pub qtype: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    /// CNAME target.
    Cname(String),
    /// SVCB/HTTPS (RFC 9460): the target name; "." means the owner itself.
    Service {
        priority: u16,
        target: String,
    },
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub name: String,
    pub rtype: u16,
    pub ttl: u32,
    pub data: RData,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub id: u16,
    pub is_response: bool,
    pub opcode: u8,
    pub rcode: u8,
    /// TC bit: the answer did not fit and the client should retry over TCP.
    pub truncated: bool,
    pub questions: Vec<Question>,
    pub answers: Vec<Answer>,
    /// False when parsing stopped early on damage; what was read before is still here.
    pub complete: bool,
}

/// Parses a DNS message. `None` only when not even the header and one question could be read.
pub fn parse(msg: &[u8]) -> Option<Message> {
    let h = msg.get(..HEADER_LEN)?;
    let flags = u16::from_be_bytes([h[2], h[3]]);
    let mut m = Message {
        id: u16::from_be_bytes([h[0], h[1]]),
        is_response: flags & 0x8000 != 0,
        opcode: ((flags >> 11) & 0xf) as u8,
        rcode: (flags & 0xf) as u8,
        truncated: flags & 0x0200 != 0,
        ..Message::default()
    };
    let qdcount = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let ancount = usize::from(u16::from_be_bytes([h[6], h[7]]));
    let mut at = HEADER_LEN;
    for _ in 0..qdcount.min(MAX_QUESTIONS) {
        let Some((name, next)) = read_name(msg, at) else {
            // An over-long name that is still well formed: skip it, keep reading the others.
            match name_end(msg, at) {
                Some(end) if msg.len() >= end + 4 => {
                    at = end + 4;
                    continue;
                }
                _ => return finish(m),
            }
        };
        let Some(fixed) = msg.get(next..next + 4) else {
            // A name without its type: keep the name (tshark does too).
            m.questions.push(Question { name, qtype: 0 });
            return finish(m);
        };
        m.questions.push(Question { name, qtype: u16::from_be_bytes([fixed[0], fixed[1]]) });
        at = next + 4;
    }
    for _ in 0..ancount.min(MAX_RECORDS) {
        match read_record(msg, at) {
            Some((answer, next)) => {
                if !answer.name.is_empty() {
                    m.answers.push(answer);
                }
                at = next;
            }
            None => return finish(m),
        }
    }
    m.complete = true;
    Some(m)
}

fn finish(m: Message) -> Option<Message> {
    if m.questions.is_empty() && m.answers.is_empty() { None } else { Some(m) }
}

fn read_record(msg: &[u8], at: usize) -> Option<(Answer, usize)> {
    let (name, next) = match read_name(msg, at) {
        Some(found) => found,
        // Unreadable owner names (over 255 bytes) are reported empty; the record is still walked.
        None => (String::new(), name_end(msg, at)?),
    };
    let f = msg.get(next..next + 10)?;
    let rtype = u16::from_be_bytes([f[0], f[1]]);
    let ttl = u32::from_be_bytes([f[4], f[5], f[6], f[7]]);
    let rdlen = usize::from(u16::from_be_bytes([f[8], f[9]]));
    let start = next + 10;
    let rdata = msg.get(start..start + rdlen)?;
    let data = match rtype {
        rtype::A => <[u8; 4]>::try_from(rdata).map(|b| RData::A(b.into())).unwrap_or(RData::Other),
        rtype::AAAA => <[u8; 16]>::try_from(rdata).map(|b| RData::Aaaa(b.into())).unwrap_or(RData::Other),
        rtype::CNAME => read_name(msg, start)
            .filter(|(_, end)| *end <= start + rdlen)
            .map(|(n, _)| RData::Cname(n))
            .unwrap_or(RData::Other),
        rtype::SVCB | rtype::HTTPS if rdlen >= 3 => {
            let priority = u16::from_be_bytes([rdata[0], rdata[1]]);
            read_name(msg, start + 2)
                .filter(|(_, end)| *end <= start + rdlen)
                .map(|(target, _)| RData::Service { priority, target })
                .unwrap_or(RData::Other)
        }
        _ => RData::Other,
    };
    Some((Answer { name, rtype, ttl, data }, start + rdlen))
}

/// Offset just past the in-place part of the name at `at`, ignoring the 255-byte limit, so that a
/// record with an invalid name can be stepped over.
fn name_end(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)?;
        match len & 0xc0 {
            0x00 if len == 0 => return Some(at + 1),
            0x00 => at += 1 + usize::from(len),
            0xc0 => return msg.get(at + 1).map(|_| at + 2),
            _ => return None,
        }
    }
}

/// Reads a possibly compressed name at `at`; returns it (lowercased, RFC 1035 master-file escapes
/// for unusual bytes, root as ".") and the offset after its in-place part.
pub fn read_name(msg: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut out = String::with_capacity(32);
    let mut wire_len = 0usize;
    let mut jumps = 0usize;
    let mut resume: Option<usize> = None;
    loop {
        let len = *msg.get(at)?;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    break;
                }
                let label = msg.get(at + 1..at + 1 + usize::from(len))?;
                wire_len += 1 + label.len();
                if wire_len > MAX_NAME_WIRE_LEN {
                    return None;
                }
                if !out.is_empty() {
                    out.push('.');
                }
                push_label(&mut out, label);
                at += 1 + usize::from(len);
            }
            0xc0 => {
                let target = usize::from(u16::from_be_bytes([len, *msg.get(at + 1)?]) & 0x3fff);
                jumps += 1;
                if jumps > MAX_POINTER_JUMPS {
                    return None;
                }
                resume.get_or_insert(at + 2);
                at = target;
            }
            // 0x40 / 0x80: extended label types (RFC 6891 §5) — obsolete and never valid in a name.
            _ => return None,
        }
    }
    if out.is_empty() {
        out.push('.');
    }
    Some((out, resume.unwrap_or(at + 1)))
}

fn push_label(out: &mut String, label: &[u8]) {
    // Most labels are lowercase letters, digits and hyphens: copied at once. Checking without an early
    // exit lets the compiler test many bytes at a time.
    let plain = label.iter().fold(true, |plain, &b| {
        plain & (0x21..=0x7e).contains(&b) & !b.is_ascii_uppercase() & (b != b'.') & (b != b'\\')
    });
    if plain && let Ok(text) = std::str::from_utf8(label) {
        out.push_str(text);
        return;
    }
    for &b in label {
        match b {
            b'A'..=b'Z' => out.push(b.to_ascii_lowercase() as char),
            b'.' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x21..=0x7e => out.push(b as char),
            _ => {
                // RFC 1035 §5.1 \DDD, three decimal digits (no formatting machinery on the hot path).
                out.push('\\');
                out.push(char::from(b'0' + b / 100));
                out.push(char::from(b'0' + b / 10 % 10));
                out.push(char::from(b'0' + b % 10));
            }
        }
    }
}

/// True when a payload on a port that is not DNS's own is shaped like a DNS message: one question,
/// a standard opcode, and records that parse to the last byte. Strict on purpose, so random UDP
/// (QUIC, games, VPNs) is not mistaken for DNS.
pub fn looks_like_dns(payload: &[u8]) -> bool {
    let Some(h) = payload.get(..HEADER_LEN) else { return false };
    let flags = u16::from_be_bytes([h[2], h[3]]);
    let qdcount = u16::from_be_bytes([h[4], h[5]]);
    let opcode = (flags >> 11) & 0xf;
    let z = flags & 0x0040;
    if qdcount != 1 || opcode != 0 || z != 0 {
        return false;
    }
    // The question must be a readable, non-root name with a type…
    let Some((name, next)) = read_name(payload, HEADER_LEN) else { return false };
    let qtype = payload.get(next..next + 2).map(|t| u16::from_be_bytes([t[0], t[1]]));
    if name == "." || qtype.is_none_or(|t| t == 0) {
        return false;
    }
    // …and the sections must end exactly at the payload's end.
    sections_end(payload) == Some(payload.len())
}

fn sections_end(msg: &[u8]) -> Option<usize> {
    let count = |i: usize| usize::from(u16::from_be_bytes([msg[i], msg[i + 1]]));
    let (qd, an, ns, ar) = (count(4), count(6), count(8), count(10));
    let mut at = HEADER_LEN;
    for _ in 0..qd {
        at = name_end(msg, at)? + 4;
    }
    for _ in 0..(an + ns + ar).min(MAX_RECORDS) {
        // Owner name, then type, class, TTL and the RDATA its length announces.
        at = name_end(msg, at)?;
        let rdlen = msg.get(at + 8..at + 10).map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))?;
        at += 10 + rdlen;
    }
    (at <= msg.len()).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            m.push(label.len() as u8);
            m.extend_from_slice(label.as_bytes());
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        m
    }

    #[test]
    fn query_name_is_lowercased() {
        let m = parse(&query("API.Anthropic.com")).unwrap_or_default();
        assert_eq!(m.questions, vec![Question { name: "api.anthropic.com".into(), qtype: 1 }]);
        assert!(looks_like_dns(&query("api.anthropic.com")));
    }

    #[test]
    fn compressed_cname_and_a_answer() {
        let mut m = query("a.example");
        m[2] = 0x81;
        m[7] = 2;
        // a.example CNAME b.a.example ; b.a.example A 1.2.3.4
        m.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 4, 1, b'b', 0xc0, 12]);
        let cname_target = m.len() - 4;
        m.extend_from_slice(&[0xc0, cname_target as u8, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]);
        let parsed = parse(&m).unwrap_or_default();
        assert!(parsed.complete);
        assert_eq!(parsed.answers[0].data, RData::Cname("b.a.example".into()));
        assert_eq!(parsed.answers[1].name, "b.a.example");
        assert_eq!(parsed.answers[1].data, RData::A(Ipv4Addr::new(1, 2, 3, 4)));
    }

    #[test]
    fn pointer_loop_is_refused_but_question_kept() {
        let mut m = query("x.example");
        m[7] = 1;
        m.extend_from_slice(&[0xc0, (m.len()) as u8]); // answer name points at itself
        let parsed = parse(&m).unwrap_or_default();
        assert_eq!(parsed.questions.len(), 1);
        assert!(parsed.answers.is_empty());
        assert!(!parsed.complete);
    }

    #[test]
    fn odd_bytes_are_escaped() {
        let mut m = vec![0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'a', 0x1b, b'.', 0, 0, 1, 0, 1];
        m.truncate(21);
        let parsed = parse(&m).unwrap_or_default();
        assert_eq!(parsed.questions[0].name, "a\\027\\.");
    }

    #[test]
    fn random_bytes_are_not_dns() {
        assert!(!looks_like_dns(&[0xc3, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0]));
    }

    /// The label copy that skips plain labels writes what the byte-by-byte escaping writes.
    fn escaped(label: &[u8]) -> String {
        let mut out = String::new();
        for &b in label {
            match b {
                b'A'..=b'Z' => out.push(b.to_ascii_lowercase() as char),
                b'.' | b'\\' => {
                    out.push('\\');
                    out.push(b as char);
                }
                0x21..=0x7e => out.push(b as char),
                _ => out.push_str(&format!("\\{b:03}")),
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn labels_are_written_as_escaped(label in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..70)) {
            let mut out = String::from("x");
            push_label(&mut out, &label);
            proptest::prop_assert_eq!(out, format!("x{}", escaped(&label)));
        }

        #[test]
        fn plain_looking_labels_too(label in "[a-zA-Z0-9._\\\\-]{0,63}") {
            let mut out = String::new();
            push_label(&mut out, label.as_bytes());
            proptest::prop_assert_eq!(out, escaped(label.as_bytes()));
        }
    }
}
