//! Per-flow application inspection: decides by content what a TCP stream carries and feeds it to
//! the right dissector until the flow is named, then lets go of its buffers. On UDP: DNS, and QUIC
//! client Initials reassembled into a ClientHello.

use super::stream::Stream;
use super::{AppInfo, AppProtocol, Flow, MAX_REQUESTS_PER_FLOW};
use crate::decode::TcpMeta;
use crate::dissect::dns::{self, Message};
use crate::dissect::{http, quic, socks, tls};

/// Client bytes buffered while looking for a hello or a request head.
const CLIENT_LIMIT: usize = tls::MAX_HELLO + 8 * 1024;
/// One whole DNS-over-TCP message plus its length prefix, with room for the next one's start.
const DNS_TCP_LIMIT: usize = 2 * 65_538;
/// Client data segments examined for a late hello or request (STARTTLS, proxies) before giving up.
const SCAN_SEGMENTS: u32 = 64;
/// PostgreSQL SSLRequest (protocol 1234.5679): TLS follows once the server answers 'S'.
const POSTGRES_SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 4, 210, 22, 47];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the client's first bytes to say what this is.
    Detect,
    Tls,
    Http,
    DnsTcp,
    /// Unknown protocol: watch segment starts for a hello or request (STARTTLS, tunnels).
    Scan,
}

#[derive(Debug)]
pub(crate) struct Inspector {
    client: Stream,
    server: Option<Stream>,
    state: State,
    scanned: u32,
    /// HTTP: client bytes already searched for the end of an incomplete request head.
    head_scanned: usize,
    /// UDP only: the flow's QUIC Initial reassembly (the TCP fields above stay empty).
    quic: Option<Box<quic::Assembler>>,
}

impl Inspector {
    /// Stream bytes buffered for this flow (QUIC reassembly has its own 64 KiB cap).
    pub(crate) fn held(&self) -> usize {
        self.client.held() + self.server.as_ref().map_or(0, Stream::held)
    }

    pub(crate) fn for_tcp(client_port: u16, server_port: u16) -> Box<Inspector> {
        let dns = [53, 5353].contains(&server_port) || [53, 5353].contains(&client_port);
        Box::new(Inspector {
            client: Stream::new(if dns { DNS_TCP_LIMIT } else { CLIENT_LIMIT }),
            server: dns.then(|| Stream::new(DNS_TCP_LIMIT)),
            state: if dns { State::DnsTcp } else { State::Detect },
            scanned: 0,
            head_scanned: 0,
            quic: None,
        })
    }

    fn for_quic() -> Box<Inspector> {
        Box::new(Inspector {
            client: Stream::new(0),
            server: None,
            state: State::Scan,
            scanned: 0,
            head_scanned: 0,
            quic: Some(Box::new(quic::Assembler::new())),
        })
    }
}

/// Feeds one TCP segment to the flow's inspector. DNS messages found are handed to `on_dns`.
pub(crate) fn tcp_segment(
    flow: &mut Flow,
    from_client: bool,
    tcp: TcpMeta,
    payload: &[u8],
    on_dns: &mut dyn FnMut(&Message, AppProtocol),
) {
    let Some(insp) = flow.inspect.as_mut() else { return };
    let finished = match feed(insp, from_client, tcp, payload) {
        Fed::Nothing => return,
        Fed::GiveUp => true,
        Fed::NewBytes => advance(insp, &mut flow.app, from_client, on_dns),
    };
    if finished {
        flow.inspect = None;
    }
}

enum Fed {
    Nothing,
    NewBytes,
    GiveUp,
}

fn feed(insp: &mut Inspector, from_client: bool, tcp: TcpMeta, payload: &[u8]) -> Fed {
    let Some(stream) = (if from_client { Some(&mut insp.client) } else { insp.server.as_mut() }) else {
        return Fed::Nothing;
    };
    if tcp.has(TcpMeta::SYN) {
        stream.syn(tcp.seq);
    }
    if payload.is_empty() {
        return Fed::Nothing;
    }
    // Data on a SYN (TCP Fast Open) starts one past the SYN's sequence number.
    let data_seq = if tcp.has(TcpMeta::SYN) { tcp.seq.wrapping_add(1) } else { tcp.seq };
    if insp.state == State::Scan {
        if !from_client {
            return Fed::Nothing;
        }
        insp.scanned += 1;
        if tls::starts_like_hello(payload) {
            insp.state = State::Tls;
        } else if http::starts_like_request(payload) {
            insp.state = State::Http;
        } else if insp.scanned >= SCAN_SEGMENTS {
            return Fed::GiveUp;
        } else {
            return Fed::Nothing;
        }
        insp.client.restart_at(data_seq);
    }
    let stream = if from_client { &mut insp.client } else { insp.server.as_mut().unwrap_or(&mut insp.client) };
    if stream.push(data_seq, payload) {
        Fed::NewBytes
    } else if stream.overflowed() {
        Fed::GiveUp
    } else {
        Fed::Nothing
    }
}

/// Runs the state machine over whatever in-order bytes are buffered; true once the flow needs no
/// more inspection.
fn advance(
    insp: &mut Inspector,
    app: &mut AppInfo,
    from_client: bool,
    on_dns: &mut dyn FnMut(&Message, AppProtocol),
) -> bool {
    loop {
        match insp.state {
            State::Detect => {
                let d = insp.client.data();
                if d.is_empty() {
                    return false;
                }
                if tls::starts_like_hello(d) || (d.len() < 6 && d[0] == 22) {
                    insp.state = State::Tls;
                } else if http::starts_like_request(d) || (d.len() < 8 && http::request(d) == http::Progress::NeedMore)
                {
                    insp.state = State::Http;
                } else if d.starts_with(&POSTGRES_SSL_REQUEST) {
                    insp.client.consume(POSTGRES_SSL_REQUEST.len());
                } else if matches!(d[0], 4 | 5) && app.protocol.is_none() {
                    match socks::connect(d) {
                        socks::Progress::NeedMore => return false,
                        socks::Progress::Connect { target, len } => {
                            app.protocol = Some(AppProtocol::Socks);
                            app.connect_target.get_or_insert(target);
                            insp.client.consume(len);
                        }
                        socks::Progress::NotSocks => {
                            app.unrecognized = true;
                            insp.state = State::Scan;
                            insp.client.consume(d.len());
                        }
                    }
                } else if d.starts_with(b"SSH-") {
                    app.protocol.get_or_insert(AppProtocol::Ssh);
                    return true;
                } else if d.len() < 8
                    && (POSTGRES_SSL_REQUEST.starts_with(d) || b"SSH-".starts_with(&d[..d.len().min(4)]))
                {
                    return false;
                } else {
                    app.unrecognized = true;
                    insp.state = State::Scan;
                    insp.client.consume(d.len());
                }
            }
            State::Tls => match tls::client_hello(insp.client.data()) {
                tls::Progress::NeedMore => return false,
                tls::Progress::NotAHello => {
                    insp.state = State::Scan;
                    let n = insp.client.data().len();
                    insp.client.consume(n);
                }
                tls::Progress::Hello(hello) => {
                    app.protocol = Some(AppProtocol::Tls);
                    app.hello.get_or_insert(hello);
                    return true;
                }
            },
            State::Http if http::head_incomplete(insp.client.data(), &mut insp.head_scanned) => return false,
            State::Http => match http::request(insp.client.data()) {
                http::Progress::NeedMore => return false,
                http::Progress::NotHttp => {
                    insp.state = State::Scan;
                    let n = insp.client.data().len();
                    insp.client.consume(n);
                }
                http::Progress::Request(req, head_len) => {
                    app.protocol.get_or_insert(AppProtocol::Http);
                    insp.client.consume(head_len);
                    let is_connect = req.method == "CONNECT";
                    if is_connect && app.connect_target.is_none() {
                        app.connect_target = req.host.clone();
                    }
                    if req.body_unknown {
                        insp.state = State::Scan;
                        let n = insp.client.data().len();
                        insp.client.consume(n);
                    } else if is_connect {
                        // The tunnel's own bytes follow (a ClientHello for the target, usually).
                        insp.state = State::Detect;
                    } else {
                        insp.client.consume(req.body_len);
                    }
                    if app.requests.len() < MAX_REQUESTS_PER_FLOW {
                        app.requests.push(req);
                    } else {
                        app.requests_dropped += 1;
                    }
                }
            },
            State::DnsTcp => {
                let stream =
                    if from_client { &mut insp.client } else { insp.server.as_mut().unwrap_or(&mut insp.client) };
                loop {
                    let d = stream.data();
                    if d.len() < 2 {
                        return false;
                    }
                    let len = usize::from(u16::from_be_bytes([d[0], d[1]]));
                    let Some(body) = d.get(2..2 + len) else { return false };
                    if let Some(m) = dns::parse(body) {
                        app.protocol = Some(AppProtocol::Dns);
                        on_dns(&m, AppProtocol::Dns);
                    }
                    stream.consume(2 + len);
                }
            }
            State::Scan => return false,
        }
    }
}

/// DNS protocol a UDP port pair speaks by assignment.
fn dns_by_port(a: u16, b: u16) -> Option<AppProtocol> {
    for p in [a, b] {
        match p {
            53 => return Some(AppProtocol::Dns),
            5353 => return Some(AppProtocol::Mdns),
            5355 => return Some(AppProtocol::Llmnr),
            _ => {}
        }
    }
    None
}

/// NetBIOS Name Service (UDP 137) uses DNS's wire format for encoded NetBIOS names; it is a
/// different protocol, and tshark does not count it as DNS either.
fn speaks_dns_lookalike(flow: &Flow) -> bool {
    flow.client.port() == 137 || flow.server.port() == 137
}

/// Looks at a UDP datagram: QUIC (a client Initial of a known version, on any port), then DNS (by
/// port, or by shape on the first packets of a flow).
pub(crate) fn udp_datagram(flow: &mut Flow, payload: &[u8], on_dns: &mut dyn FnMut(&Message, AppProtocol)) {
    if quic_datagram(flow, payload) {
        return;
    }
    let protocol = match flow.app.protocol {
        Some(p @ (AppProtocol::Dns | AppProtocol::Mdns | AppProtocol::Llmnr)) => Some(p),
        Some(_) => None,
        None => dns_by_port(flow.client.port(), flow.server.port()).or_else(|| {
            let shaped = flow.total_packets() <= 4 && !speaks_dns_lookalike(flow) && dns::looks_like_dns(payload);
            shaped.then_some(AppProtocol::Dns)
        }),
    };
    let Some(protocol) = protocol else { return };
    if let Some(m) = dns::parse(payload) {
        flow.app.protocol = Some(protocol);
        on_dns(&m, protocol);
    }
}

/// Packets into a UDP flow after which a first QUIC Initial no longer starts reassembly: bounds the
/// work a flow of Initial-looking garbage can cause once an assembler has given up.
const QUIC_START_WITHIN: u64 = quic::MAX_DATAGRAMS as u64;

/// QUIC: reassembles the client's Initial CRYPTO frames into its ClientHello. Only a flow not named
/// otherwise starts it, on a long-header Initial of a known version, on any port but DNS's. The
/// client is the side whose Initials authenticate under the client Initial keys, whatever the flow
/// table guessed. True when the datagram was QUIC's.
fn quic_datagram(flow: &mut Flow, payload: &[u8]) -> bool {
    let assembling = flow.inspect.as_ref().is_some_and(|i| i.quic.is_some());
    if !assembling {
        let start = flow.app.protocol.is_none()
            && flow.total_packets() <= QUIC_START_WITHIN
            && dns_by_port(flow.client.port(), flow.server.port()).is_none()
            && quic::starts_with_initial(payload);
        if !start {
            return flow.app.protocol == Some(AppProtocol::Quic);
        }
        flow.inspect = Some(Inspector::for_quic());
    }
    let Some(assembler) = flow.inspect.as_mut().and_then(|i| i.quic.as_mut()) else { return false };
    let progress = assembler.datagram(payload);
    if assembler.authenticated() {
        flow.app.protocol = Some(AppProtocol::Quic);
    }
    match progress {
        quic::Progress::NeedMore => {}
        quic::Progress::Hello(hello) => {
            flow.app.hello.get_or_insert(hello);
            flow.inspect = None;
        }
        quic::Progress::GiveUp => flow.inspect = None,
    }
    true
}
