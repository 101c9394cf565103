//! Listeners and connections: each accepted connection is peeked (a TLS record starts with 0x16), so a
//! client that speaks plain HTTP to 443 or TLS to 80 is still seen, then served as HTTP/1.1 or HTTP/2.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use socket2::{Domain, Socket, Type};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, watch};

use super::log::{ConnectionRecord, TlsOutcome, now};
use super::tls::{Counted, Counters, Handshake};
use super::{Shared, SinkError};

/// First byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// A listener on `addr`; IPv6 listeners are IPv6-only so `0.0.0.0:P` and `[::]:P` can both be bound.
pub fn bind(addr: SocketAddr) -> Result<TcpListener, SinkError> {
    let fail = |e| SinkError::Bind(addr, e);
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).map_err(fail)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true).map_err(fail)?;
    }
    socket.set_reuse_address(true).map_err(fail)?;
    socket.bind(&addr.into()).map_err(fail)?;
    socket.listen(1024).map_err(fail)?;
    socket.set_nonblocking(true).map_err(fail)?;
    TcpListener::from_std(socket.into()).map_err(fail)
}

pub async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match shared.connections.clone().try_acquire_owned() {
                    Ok(permit) => {
                        tokio::spawn(connection(stream, peer, shared.clone(), shutdown.clone(), permit));
                    }
                    Err(_) => shared.recorder.refused(),
                },
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
        }
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let time = now();
    let local = stream.local_addr().unwrap_or(peer);
    let _ = stream.set_nodelay(true);
    let mut record = ConnectionRecord {
        id,
        time,
        peer: canonical(peer),
        local: canonical(local),
        tls: false,
        outcome: TlsOutcome::Silent,
        sni: None,
        alpn_offered: Vec::new(),
        alpn: None,
        tls_version: None,
        tls_error: None,
        bytes_in: 0,
        bytes_out: 0,
        closed: None,
    };
    let counters = Arc::new(Counters::default());
    let mut first = [0u8; 1];
    // A client that connects and waits is logged when the sink stops, not lost with the runtime.
    let mut stopping = shutdown.clone();
    let peeked = tokio::select! {
        r = tokio::time::timeout(shared.limits.first_byte_timeout, stream.peek(&mut first)) => r.ok().and_then(Result::ok),
        _ = stopping.changed() => None,
    };
    if peeked != Some(1) {
        shared.recorder.connection(record);
        shared.recorder.connection_end(id, 0, 0);
        return;
    }
    let io = Counted::new(stream, counters.clone());
    if first[0] == TLS_HANDSHAKE {
        record.tls = true;
        let result = tokio::select! {
            r = shared.tls.accept(io, local.ip(), shared.limits.handshake_timeout) => r,
            _ = stopping.changed() => Err(Handshake { error: Some("sink stopped during the handshake".into()), ..Handshake::default() }),
        };
        let (Ok((_, seen)) | Err(seen)) = &result;
        fill(&mut record, seen);
        match result {
            Ok((tls, _)) => {
                record.outcome = TlsOutcome::Established;
                shared.recorder.connection(record);
                serve(tls, id, &shared, shutdown).await;
            }
            Err(_) => {
                record.outcome = TlsOutcome::Failed;
                shared.recorder.connection(record);
            }
        }
    } else {
        record.outcome = TlsOutcome::Plain;
        shared.recorder.connection(record);
        serve(io, id, &shared, shutdown).await;
    }
    shared.recorder.connection_end(id, counters.read.load(Ordering::Relaxed), counters.written.load(Ordering::Relaxed));
}

fn fill(record: &mut ConnectionRecord, seen: &Handshake) {
    record.sni = seen.sni.clone();
    record.alpn_offered = seen.alpn_offered.clone();
    record.alpn = seen.alpn.clone();
    record.tls_version = seen.version.clone();
    record.tls_error = seen.error.clone();
}

/// IPv4-mapped IPv6 addresses as IPv4, as the capture shows them.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

async fn serve<S>(io: S, id: u64, shared: &Arc<Shared>, mut shutdown: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = &shared.limits;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.header_bytes.max(8192))
        .max_headers(limits.header_count);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(100)
        .max_pending_accept_reset_streams(50)
        .enable_connect_protocol();
    let service_shared = shared.clone();
    let service = service_fn(move |req| super::http::handle(req, id, service_shared.clone()));
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let lifetime = tokio::time::sleep(limits.connection_lifetime);
    tokio::pin!(lifetime);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(limits.grace, conn.as_mut()).await;
        }
        _ = &mut lifetime => {}
    }
}
