//! TLS for any name: the ClientHello is read first (SNI and offered ALPN are logged even when the client
//! then refuses our certificate), then a certificate is minted for the SNI or, without one, for the local
//! address the client dialled. Also the byte counters every connection is wrapped in.

use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::Acceptor;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

use super::ca::{ConnResolver, LeafCache};

/// ALPN ids we speak, in our order of preference.
const SPOKEN: [&[u8]; 2] = [b"h2", b"http/1.1"];
/// Offered ALPN ids logged per connection.
const MAX_ALPN_LOGGED: usize = 16;

/// Bytes read from and written to one connection (TCP payload, TLS records included).
#[derive(Default, Debug)]
pub struct Counters {
    pub read: AtomicU64,
    pub written: AtomicU64,
}

/// A stream that counts its bytes.
pub struct Counted<S> {
    inner: S,
    counters: Arc<Counters>,
}

impl<S> Counted<S> {
    pub fn new(inner: S, counters: Arc<Counters>) -> Counted<S> {
        Counted { inner, counters }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len().saturating_sub(before);
        self.counters.read.fetch_add(n as u64, Ordering::Relaxed);
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &poll {
            self.counters.written.fetch_add(*n as u64, Ordering::Relaxed);
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// What the handshake showed, whether or not it completed.
#[derive(Default, Debug)]
pub struct Handshake {
    pub sni: Option<String>,
    pub alpn_offered: Vec<String>,
    pub alpn: Option<String>,
    pub version: Option<String>,
    pub error: Option<String>,
}

pub struct Tls {
    pub provider: Arc<CryptoProvider>,
    pub leaves: Arc<LeafCache>,
}

impl Tls {
    fn config(&self, local_ip: IpAddr, offered: &[Vec<u8>]) -> Result<Arc<ServerConfig>, rustls::Error> {
        let resolver = Arc::new(ConnResolver { cache: self.leaves.clone(), local_ip });
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(resolver);
        // Only what the client offered: a list without overlap would make rustls refuse the client.
        config.alpn_protocols =
            SPOKEN.iter().filter(|p| offered.iter().any(|o| o.as_slice() == **p)).map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }

    /// Runs the server handshake; `Err` carries what was learned before it failed.
    pub async fn accept<S>(
        &self,
        io: S,
        local_ip: IpAddr,
        limit: Duration,
    ) -> Result<(TlsStream<S>, Handshake), Handshake>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut seen = Handshake::default();
        let start = match tokio::time::timeout(limit, LazyConfigAcceptor::new(Acceptor::default(), io)).await {
            Ok(Ok(start)) => start,
            Ok(Err(e)) => {
                seen.error = Some(format!("client hello: {e}"));
                return Err(seen);
            }
            Err(_) => {
                seen.error = Some("client hello: timeout".into());
                return Err(seen);
            }
        };
        let hello = start.client_hello();
        seen.sni = hello.server_name().map(str::to_string);
        let offered: Vec<Vec<u8>> =
            hello.alpn().map(|it| it.take(MAX_ALPN_LOGGED).map(<[u8]>::to_vec).collect()).unwrap_or_default();
        seen.alpn_offered = offered.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect();
        let config = match self.config(local_ip, &offered) {
            Ok(c) => c,
            Err(e) => {
                seen.error = Some(format!("config: {e}"));
                return Err(seen);
            }
        };
        match tokio::time::timeout(limit, start.into_stream(config)).await {
            Ok(Ok(stream)) => {
                let conn = stream.get_ref().1;
                seen.alpn = conn.alpn_protocol().map(|p| String::from_utf8_lossy(p).into_owned());
                seen.version = conn.protocol_version().and_then(|v| v.as_str()).map(str::to_string);
                Ok((stream, seen))
            }
            Ok(Err(e)) => {
                seen.error = Some(e.to_string());
                Err(seen)
            }
            Err(_) => {
                seen.error = Some("handshake: timeout".into());
                Err(seen)
            }
        }
    }
}
