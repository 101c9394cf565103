//! The sealed run's DNS: answers every A and AAAA question with the name's own local address (every
//! other type gets an empty answer), over UDP and TCP, on whatever address the client sent to — the
//! host's configured resolver, a hard-coded 8.8.8.8 — and logs each question.

use super::addresses::AddressBook;
use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, sendmsg, setsockopt};
use serde::Serialize;
use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const TTL: u32 = 60;
const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
/// Questions logged; past this only the count grows.
const MAX_LOGGED: usize = 100_000;
/// TCP clients served at once; more wait in the kernel's backlog.
const MAX_TCP_CLIENTS: usize = 64;
const POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Serialize)]
pub struct DnsQuestion {
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    pub transport: &'static str,
    pub client: SocketAddr,
    /// Where the client sent it (its configured resolver, or a resolver it chose itself).
    pub server: IpAddr,
    pub name: String,
    #[serde(rename = "type")]
    pub qtype: u16,
    /// The address answered, if any.
    pub answer: Option<IpAddr>,
}

#[derive(Default)]
struct Shared {
    book: Mutex<AddressBook>,
    log: Mutex<Vec<DnsQuestion>>,
    questions: AtomicUsize,
    ipv6: AtomicBool,
}

pub struct Responder {
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

#[derive(Debug)]
pub struct DnsError(pub String);

impl std::fmt::Display for DnsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn bind_error(what: &str, e: impl std::fmt::Display) -> DnsError {
    DnsError(format!("sealed DNS: cannot listen on {what}: {e}"))
}

impl Responder {
    /// Listens on port 53 of every address (IPv4, and IPv6 when `ipv6`).
    pub fn start(ipv6: bool) -> Result<Responder, DnsError> {
        Self::start_on(53, ipv6)
    }

    pub fn start_on(port: u16, ipv6: bool) -> Result<Responder, DnsError> {
        let shared = Arc::new(Shared::default());
        shared.ipv6.store(ipv6, Ordering::Relaxed);
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let mut families = vec![false];
        if ipv6 {
            families.push(true);
        }
        for v6 in families {
            let udp = udp_socket(v6, port)?;
            let tcp = tcp_listener(v6, port)?;
            let (s, st) = (shared.clone(), stop.clone());
            threads.push(std::thread::spawn(move || serve_udp(udp, v6, &s, &st)));
            let (s, st) = (shared.clone(), stop.clone());
            threads.push(std::thread::spawn(move || serve_tcp(tcp, &s, &st)));
        }
        Ok(Responder { shared, stop, threads })
    }

    /// The name a sealed address was handed out for.
    pub fn name_of(&self, ip: IpAddr) -> Option<String> {
        self.shared.book.lock().ok()?.name_of(ip).map(str::to_string)
    }

    /// A handle that can name addresses while the responder runs (for joining connections to names).
    pub fn names(&self) -> Names {
        Names(self.shared.clone())
    }

    pub fn stop(mut self) -> DnsLog {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let questions = self.shared.questions.load(Ordering::Relaxed);
        let log = self.shared.log.lock().map(|mut l| std::mem::take(&mut *l)).unwrap_or_default();
        DnsLog { questions, log }
    }
}

#[derive(Clone)]
pub struct Names(Arc<Shared>);

impl Names {
    pub fn name_of(&self, ip: IpAddr) -> Option<String> {
        self.0.book.lock().ok()?.name_of(ip).map(str::to_string)
    }
}

#[derive(Debug, Default, Serialize)]
pub struct DnsLog {
    pub questions: usize,
    pub log: Vec<DnsQuestion>,
}

fn udp_socket(v6: bool, port: u16) -> Result<UdpSocket, DnsError> {
    let what = if v6 { "UDP [::]:53" } else { "UDP 0.0.0.0:53" };
    let domain = if v6 { socket2::Domain::IPV6 } else { socket2::Domain::IPV4 };
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, None).map_err(|e| bind_error(what, e))?;
    if v6 {
        s.set_only_v6(true).map_err(|e| bind_error(what, e))?;
        setsockopt(&s, nix::sys::socket::sockopt::Ipv6RecvPacketInfo, &true).map_err(|e| bind_error(what, e))?;
    } else {
        setsockopt(&s, nix::sys::socket::sockopt::Ipv4PacketInfo, &true).map_err(|e| bind_error(what, e))?;
    }
    let addr: SocketAddr =
        if v6 { (std::net::Ipv6Addr::UNSPECIFIED, port).into() } else { ([0, 0, 0, 0], port).into() };
    s.bind(&addr.into()).map_err(|e| bind_error(what, e))?;
    s.set_read_timeout(Some(POLL)).map_err(|e| bind_error(what, e))?;
    Ok(s.into())
}

fn tcp_listener(v6: bool, port: u16) -> Result<TcpListener, DnsError> {
    let what = if v6 { "TCP [::]:53" } else { "TCP 0.0.0.0:53" };
    let domain = if v6 { socket2::Domain::IPV6 } else { socket2::Domain::IPV4 };
    let s = socket2::Socket::new(domain, socket2::Type::STREAM, None).map_err(|e| bind_error(what, e))?;
    if v6 {
        s.set_only_v6(true).map_err(|e| bind_error(what, e))?;
    }
    s.set_reuse_address(true).map_err(|e| bind_error(what, e))?;
    let addr: SocketAddr =
        if v6 { (std::net::Ipv6Addr::UNSPECIFIED, port).into() } else { ([0, 0, 0, 0], port).into() };
    s.bind(&addr.into()).map_err(|e| bind_error(what, e))?;
    s.listen(128).map_err(|e| bind_error(what, e))?;
    s.set_nonblocking(true).map_err(|e| bind_error(what, e))?;
    Ok(s.into())
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn serve_udp(socket: UdpSocket, v6: bool, shared: &Shared, stop: &AtomicBool) {
    let mut buf = [0u8; 4096];
    let mut cmsg = if v6 { nix::cmsg_space!(nix::libc::in6_pktinfo) } else { nix::cmsg_space!(nix::libc::in_pktinfo) };
    while !stop.load(Ordering::Relaxed) {
        let (len, client, pktinfo) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = match recvmsg::<SockaddrStorage>(socket.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty())
            {
                Ok(m) => m,
                Err(_) => continue, // timeout (EAGAIN) or a transient error: look at the stop flag again
            };
            let client = msg.address.as_ref().and_then(sockaddr_to_std);
            let mut pktinfo = None;
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    match c {
                        ControlMessageOwned::Ipv4PacketInfo(i) => pktinfo = Some(PktInfo::V4(i)),
                        ControlMessageOwned::Ipv6PacketInfo(i) => pktinfo = Some(PktInfo::V6(i)),
                        _ => {}
                    }
                }
            }
            (msg.bytes, client, pktinfo)
        };
        let Some(client) = client else { continue };
        let server = pktinfo.as_ref().map(PktInfo::destination).unwrap_or(client.ip());
        let Some(reply) = answer(&buf[..len], shared, "udp", client, server) else { continue };
        let iov = [IoSlice::new(&reply)];
        let dest = SockaddrStorage::from(client);
        // Reply from the address the client wrote to: a connected client socket drops anything else.
        let _ = match &pktinfo {
            Some(PktInfo::V4(i)) => {
                let out = nix::libc::in_pktinfo { ipi_ifindex: 0, ipi_spec_dst: i.ipi_addr, ipi_addr: i.ipi_addr };
                sendmsg(
                    socket.as_raw_fd(),
                    &iov,
                    &[ControlMessage::Ipv4PacketInfo(&out)],
                    MsgFlags::empty(),
                    Some(&dest),
                )
            }
            Some(PktInfo::V6(i)) => {
                let out = nix::libc::in6_pktinfo { ipi6_addr: i.ipi6_addr, ipi6_ifindex: 0 };
                sendmsg(
                    socket.as_raw_fd(),
                    &iov,
                    &[ControlMessage::Ipv6PacketInfo(&out)],
                    MsgFlags::empty(),
                    Some(&dest),
                )
            }
            None => sendmsg(socket.as_raw_fd(), &iov, &[], MsgFlags::empty(), Some(&dest)),
        };
    }
}

enum PktInfo {
    V4(nix::libc::in_pktinfo),
    V6(nix::libc::in6_pktinfo),
}

impl PktInfo {
    fn destination(&self) -> IpAddr {
        match self {
            PktInfo::V4(i) => IpAddr::V4(std::net::Ipv4Addr::from(u32::from_be(i.ipi_addr.s_addr))),
            PktInfo::V6(i) => IpAddr::V6(std::net::Ipv6Addr::from(i.ipi6_addr.s6_addr)),
        }
    }
}

fn sockaddr_to_std(s: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(SocketAddr::from((v4.ip(), v4.port())));
    }
    s.as_sockaddr_in6().map(|v6| SocketAddr::from((v6.ip(), v6.port())))
}

fn serve_tcp(listener: TcpListener, shared: &Arc<Shared>, stop: &Arc<AtomicBool>) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, client)) if active.load(Ordering::Relaxed) < MAX_TCP_CLIENTS => {
                let server = stream.local_addr().map(|a| a.ip()).unwrap_or(client.ip());
                let (s, st, act) = (shared.clone(), stop.clone(), active.clone());
                act.fetch_add(1, Ordering::Relaxed);
                std::thread::spawn(move || {
                    serve_tcp_client(stream, client, server, &s, &st);
                    act.fetch_sub(1, Ordering::Relaxed);
                });
            }
            Ok(_) => {} // too many at once: dropping the connection is what a busy resolver does
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn serve_tcp_client(mut stream: TcpStream, client: SocketAddr, server: IpAddr, shared: &Shared, stop: &AtomicBool) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut len = [0u8; 2];
    while !stop.load(Ordering::Relaxed) {
        if stream.read_exact(&mut len).is_err() {
            return;
        }
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut msg).is_err() {
            return;
        }
        let Some(reply) = answer(&msg, shared, "tcp", client, server) else { return };
        let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&reply);
        if stream.write_all(&framed).is_err() {
            return;
        }
    }
}

/// The reply to one query message; None for what is not a query (no reply is the safe answer).
fn answer(msg: &[u8], shared: &Shared, transport: &'static str, client: SocketAddr, server: IpAddr) -> Option<Vec<u8>> {
    let q = parse_query(msg)?;
    let ipv6 = shared.ipv6.load(Ordering::Relaxed);
    let address: Option<IpAddr> = match q.qtype {
        _ if q.name.is_empty() => None,
        TYPE_A if q.name == "localhost" => Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
        TYPE_AAAA if q.name == "localhost" && ipv6 => Some(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)),
        TYPE_A => shared.book.lock().ok().map(|mut b| IpAddr::V4(b.v4(&q.name))),
        TYPE_AAAA if ipv6 => shared.book.lock().ok().map(|mut b| IpAddr::V6(b.v6(&q.name))),
        _ => None,
    };
    let n = shared.questions.fetch_add(1, Ordering::Relaxed);
    if n < MAX_LOGGED
        && let Ok(mut log) = shared.log.lock()
    {
        log.push(DnsQuestion {
            time_ms: now_ms(),
            transport,
            client,
            server,
            name: q.name.clone(),
            qtype: q.qtype,
            answer: address,
        });
    }
    Some(build_reply(msg, &q, address))
}

#[derive(Debug, PartialEq)]
struct Query {
    name: String,
    qtype: u16,
    /// End of the question section in the message.
    question_end: usize,
}

/// The first question of a standard query. Queries carry no compression pointers; one that does is
/// not answered.
fn parse_query(msg: &[u8]) -> Option<Query> {
    if msg.len() < 12 || msg[2] & 0x80 != 0 || (msg[2] >> 3) & 0x0f != 0 {
        return None;
    }
    if u16::from_be_bytes([msg[4], msg[5]]) == 0 {
        return None;
    }
    let mut pos = 12;
    let mut labels: Vec<String> = Vec::new();
    let mut total = 0usize;
    loop {
        let len = usize::from(*msg.get(pos)?);
        pos += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        total += len + 1;
        if total > 255 {
            return None;
        }
        let label = msg.get(pos..pos + len)?;
        labels.push(label.iter().map(|&b| char::from(b.to_ascii_lowercase())).collect());
        pos += len;
    }
    let qtype = u16::from_be_bytes([*msg.get(pos)?, *msg.get(pos + 1)?]);
    msg.get(pos + 3)?;
    Some(Query { name: labels.join("."), qtype, question_end: pos + 4 })
}

fn build_reply(msg: &[u8], q: &Query, address: Option<IpAddr>) -> Vec<u8> {
    let mut out = Vec::with_capacity(q.question_end + 32);
    out.extend_from_slice(&msg[..2]); // id
    // QR, the client's opcode (0) and RD; RA; rcode NOERROR (an empty answer is NODATA).
    out.push(0x80 | (msg[2] & 0x01));
    out.push(0x80);
    out.extend_from_slice(&[0, 1]);
    out.extend_from_slice(&[0, u8::from(address.is_some())]);
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&msg[12..q.question_end]);
    if let Some(addr) = address {
        out.extend_from_slice(&[0xc0, 12]); // the name, by pointer to the question
        let (rtype, rdata): (u16, Vec<u8>) = match addr {
            IpAddr::V4(a) => (TYPE_A, a.octets().to_vec()),
            IpAddr::V6(a) => (TYPE_AAAA, a.octets().to_vec()),
        };
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&[0, 1]);
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
        for label in name.split('.') {
            m.push(label.len() as u8);
            m.extend_from_slice(label.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&[0, 1]);
        m.extend_from_slice(&[0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0]); // EDNS OPT, ignored
        m
    }

    #[test]
    fn parses_and_answers() {
        let m = query("Statsig.Anthropic.com", TYPE_A);
        let q = parse_query(&m).unwrap();
        assert_eq!(q.name, "statsig.anthropic.com");
        assert_eq!(q.qtype, TYPE_A);
        let reply = build_reply(&m, &q, Some("198.18.0.1".parse().unwrap()));
        assert_eq!(&reply[..2], &[0x12, 0x34]);
        assert_eq!(reply[2] & 0x80, 0x80);
        assert_eq!(&reply[6..8], &[0, 1]);
        assert_eq!(&reply[reply.len() - 4..], &[198, 18, 0, 1]);
    }

    #[test]
    fn refuses_garbage() {
        assert_eq!(parse_query(&[]), None);
        assert_eq!(parse_query(&[0; 12]), None);
        let mut pointer = query("a.b", TYPE_A);
        pointer[12] = 0xc0;
        assert_eq!(parse_query(&pointer), None);
        let mut response = query("a.b", TYPE_A);
        response[2] |= 0x80;
        assert_eq!(parse_query(&response), None);
    }
}
