//! TLS ClientHello: server name (SNI), ALPN, and whether the real name is hidden (ECH/ESNI).
//!
//! The hello may arrive split over TCP segments (post-quantum key shares push it past 1,500 bytes)
//! and over several TLS records (RFC 8446 §5.1 allows a handshake message to span records). The
//! caller hands in the client's reassembled byte stream; record bodies are concatenated here before
//! tls-parser reads the handshake message, because tls-parser reports a record-split hello as an
//! error rather than as incomplete.

use crate::text::printable;
use tls_parser::{TlsExtension, TlsMessage, TlsMessageHandshake};

const RECORD_HEADER: usize = 5;
/// RFC 8446 §5.1: 2^14 plus expansion allowance.
const MAX_RECORD: usize = (1 << 14) + 2048;
/// Hellos seen in the wild stay far below this (the corpus's largest is ~11 kB); beyond it the flow is
/// given up on rather than buffered.
pub const MAX_HELLO: usize = 64 << 10;

const CONTENT_HANDSHAKE: u8 = 22;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const EXT_SERVER_NAME: u16 = 0;
const EXT_ALPN: u16 = 16;
const EXT_ECH: u16 = 0xfe0d;
const EXT_ESNI: u16 = 0xffce;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientHello {
    /// The server_name extension, escaped for printing; case kept as sent.
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    /// encrypted_client_hello present: `sni` is only the outer (public) name.
    pub ech: bool,
    /// Draft ESNI extension present (obsolete predecessor of ECH).
    pub esni: bool,
    /// An SSL 2.0-format hello (no extensions, so never an SNI).
    pub sslv2: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The stream starts like a hello but is not complete yet.
    NeedMore,
    /// The stream does not start with a ClientHello.
    NotAHello,
    Hello(ClientHello),
}

/// True when a segment's payload starts like a TLS ClientHello record (or an SSLv2 hello): used to
/// spot TLS on any port, and after STARTTLS or a proxy CONNECT.
pub fn starts_like_hello(p: &[u8]) -> bool {
    if p.len() >= 6 && p[0] == CONTENT_HANDSHAKE && p[1] == 3 && p[2] <= 4 && p[5] == HANDSHAKE_CLIENT_HELLO {
        return true;
    }
    is_sslv2_hello(p)
}

fn is_sslv2_hello(p: &[u8]) -> bool {
    // RFC 6101 appendix E.2: 2-byte length with the high bit set, msg type 1, version 0x0002/0x03xx.
    p.len() >= 5 && p[0] & 0x80 != 0 && p[2] == 1 && (p[3] == 3 || (p[3] == 0 && p[4] == 2))
}

/// Reads the ClientHello at the start of a client's byte stream.
pub fn client_hello(stream: &[u8]) -> Progress {
    if is_sslv2_hello(stream) {
        return Progress::Hello(ClientHello { sslv2: true, ..ClientHello::default() });
    }
    // Usual case: the whole hello inside the first record, read in place without copying.
    if stream.len() > RECORD_HEADER && stream[0] == CONTENT_HANDSHAKE {
        let len = usize::from(u16::from_be_bytes([stream[3], stream[4]]));
        if let Some(body) = stream.get(RECORD_HEADER..RECORD_HEADER + len)
            && let Some(progress @ Progress::Hello(_)) = hello_in(body)
        {
            return progress;
        }
    }
    let mut handshake: Vec<u8> = Vec::new();
    let mut rest = stream;
    loop {
        if handshake.len() >= 4 {
            if handshake[0] != HANDSHAKE_CLIENT_HELLO {
                return Progress::NotAHello;
            }
            let len = usize::from(handshake[1]) << 16 | usize::from(handshake[2]) << 8 | usize::from(handshake[3]);
            if len > MAX_HELLO {
                return Progress::NotAHello;
            }
            if handshake.len() >= 4 + len {
                return parse_hello(&handshake[..4 + len]);
            }
        }
        if rest.len() < RECORD_HEADER {
            return Progress::NeedMore;
        }
        let (ctype, major, minor) = (rest[0], rest[1], rest[2]);
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        if ctype != CONTENT_HANDSHAKE || major != 3 || minor > 4 || len == 0 || len > MAX_RECORD {
            return Progress::NotAHello;
        }
        let Some(body) = rest.get(RECORD_HEADER..RECORD_HEADER + len) else {
            // Use what has arrived of a partial record: the hello may already be complete inside it.
            let partial = &rest[RECORD_HEADER..];
            if handshake.is_empty() {
                return match hello_in(partial) {
                    Some(progress) => progress,
                    None => Progress::NeedMore,
                };
            }
            handshake.extend_from_slice(partial);
            return match hello_in(&handshake) {
                Some(progress) => progress,
                None => Progress::NeedMore,
            };
        };
        handshake.extend_from_slice(body);
        rest = &rest[RECORD_HEADER + len..];
    }
}

/// Reads a ClientHello from raw handshake-layer bytes, without TLS record headers: QUIC carries the
/// handshake in CRYPTO frames (RFC 9001 §4). `NeedMore` until the declared message length is there.
pub fn client_hello_in_handshake(handshake: &[u8]) -> Progress {
    if let [HANDSHAKE_CLIENT_HELLO, a, b, c, ..] = *handshake
        && (usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c)) > MAX_HELLO
    {
        return Progress::NotAHello;
    }
    hello_in(handshake).unwrap_or(Progress::NeedMore)
}

/// A complete hello inside `handshake`, if there is one yet.
fn hello_in(handshake: &[u8]) -> Option<Progress> {
    if handshake.len() < 4 {
        return None;
    }
    if handshake[0] != HANDSHAKE_CLIENT_HELLO {
        return Some(Progress::NotAHello);
    }
    let len = usize::from(handshake[1]) << 16 | usize::from(handshake[2]) << 8 | usize::from(handshake[3]);
    (handshake.len() >= 4 + len).then(|| parse_hello(&handshake[..4 + len]))
}

fn parse_hello(message: &[u8]) -> Progress {
    let Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)))) =
        tls_parser::parse_tls_message_handshake(message)
    else {
        return Progress::NotAHello;
    };
    let mut hello = ClientHello::default();
    if let Some(ext) = ch.ext {
        read_extensions(ext, &mut hello);
    }
    Progress::Hello(hello)
}

/// Walks extensions one by one so that one malformed extension does not hide the others.
fn read_extensions(mut ext: &[u8], hello: &mut ClientHello) {
    while ext.len() >= 4 {
        let kind = u16::from_be_bytes([ext[0], ext[1]]);
        let len = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        let Some(block) = ext.get(..4 + len) else { return };
        match kind {
            EXT_SERVER_NAME | EXT_ALPN => match tls_parser::parse_tls_extension(block) {
                Ok((_, TlsExtension::SNI(names))) => {
                    // RFC 6066 §3: at most one name per type; host_name is type 0.
                    hello.sni = names.iter().find(|(t, _)| t.0 == 0).map(|(_, n)| printable(n));
                }
                Ok((_, TlsExtension::ALPN(protocols))) => {
                    hello.alpn = protocols.iter().map(|p| printable(p)).collect();
                }
                _ => {}
            },
            EXT_ECH => hello.ech = true,
            EXT_ESNI => hello.esni = true,
            _ => {}
        }
        ext = &ext[4 + len..];
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal TLS 1.2 ClientHello handshake message carrying the given SNI and ALPN.
    pub(crate) fn hello_message(sni: &str, alpn: &[&str]) -> Vec<u8> {
        let mut exts = Vec::new();
        let name = sni.as_bytes();
        let list_len = name.len() + 3;
        exts.extend_from_slice(&[0, 0]);
        exts.extend_from_slice(&((list_len + 2) as u16).to_be_bytes());
        exts.extend_from_slice(&(list_len as u16).to_be_bytes());
        exts.push(0);
        exts.extend_from_slice(&(name.len() as u16).to_be_bytes());
        exts.extend_from_slice(name);
        if !alpn.is_empty() {
            let mut list = Vec::new();
            for p in alpn {
                list.push(p.len() as u8);
                list.extend_from_slice(p.as_bytes());
            }
            exts.extend_from_slice(&[0, 16]);
            exts.extend_from_slice(&((list.len() + 2) as u16).to_be_bytes());
            exts.extend_from_slice(&(list.len() as u16).to_be_bytes());
            exts.extend_from_slice(&list);
        }
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7u8; 32]);
        body.push(0); // session id
        body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one cipher suite
        body.extend_from_slice(&[1, 0]); // null compression
        body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        body.extend_from_slice(&exts);
        let mut msg = vec![HANDSHAKE_CLIENT_HELLO];
        msg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        msg.extend_from_slice(&body);
        msg
    }

    pub(crate) fn records(message: &[u8], split_at: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut start = 0;
        for &end in split_at.iter().chain(std::iter::once(&message.len())) {
            out.extend_from_slice(&[CONTENT_HANDSHAKE, 3, 1]);
            out.extend_from_slice(&((end - start) as u16).to_be_bytes());
            out.extend_from_slice(&message[start..end]);
            start = end;
        }
        out
    }

    #[test]
    fn sni_and_alpn_from_one_record() {
        let stream = records(&hello_message("api.anthropic.com", &["h2", "http/1.1"]), &[]);
        assert!(starts_like_hello(&stream));
        let Progress::Hello(h) = client_hello(&stream) else { panic!("no hello") };
        assert_eq!(h.sni.as_deref(), Some("api.anthropic.com"));
        assert_eq!(h.alpn, vec!["h2", "http/1.1"]);
    }

    #[test]
    fn hello_split_across_records_and_segments() {
        let stream = records(&hello_message("statsig.anthropic.com", &[]), &[10, 40]);
        for cut in 0..stream.len() {
            assert_eq!(client_hello(&stream[..cut]), Progress::NeedMore, "cut at {cut}");
        }
        let Progress::Hello(h) = client_hello(&stream) else { panic!("no hello") };
        assert_eq!(h.sni.as_deref(), Some("statsig.anthropic.com"));
    }

    #[test]
    fn application_data_is_not_a_hello() {
        assert_eq!(client_hello(&[23, 3, 3, 0, 5, 1, 2, 3, 4, 5]), Progress::NotAHello);
    }
}
