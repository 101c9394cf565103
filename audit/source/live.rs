//! Live capture on an interface (libpcap), delivering the same [`Frame`]s as a file.
//!
//! Reads are non-blocking: libpcap's blocking read can hang past its timeout once traffic stops
//! (TPACKET_V3, libpcap #550/#1489), which would keep `check --duration` from ending on time. When the
//! ring is empty the loop sleeps: 1 ms while traffic flows, so a new flow is seen (and its process
//! looked up) while short-lived clients still hold their sockets; after a second without packets it
//! backs off to 10 ms, so an idle capture wakes a hundred times a second.

use super::{Frame, Nanos};
use pcap::{Active, Capture, Device, Savefile};
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// Kernel pre-filter: drops IPv4 TCP segments that carry more than 2 KiB of payload, have no
/// SYN/FIN/RST, and do not start a TLS record — bulk payload of flows that are already named (a
/// ClientHello starts with 0x16; HTTP heads and DNS are small; on loopback and with GRO, bulk arrives
/// in segments of tens of KiB). What it drops is still counted: byte totals come from sequence and
/// acknowledgement numbers. DNS over TCP (port 53) is never dropped. IPv6 is not filtered (libpcap
/// cannot index past extension headers reliably).
pub const BULK_PREFILTER: &str = "not (ip and tcp and not port 53 and tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) == 0 \
     and (ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2)) > 2048 \
     and tcp[((tcp[12] & 0xf0) >> 2):1] != 0x16)";

/// Large enough for any frame a NIC or loopback delivers, so a whole ClientHello is seen.
pub const SNAPLEN: i32 = 262_144;
const BUSY_SLEEP: Duration = Duration::from_millis(1);
const IDLE_SLEEP: Duration = Duration::from_millis(10);
/// Without packets for this long the capture counts as idle.
const IDLE_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveError {
    /// Capturing needs CAP_NET_RAW (and CAP_NET_ADMIN for some setups).
    Permission {
        iface: String,
    },
    NoSuchInterface {
        iface: String,
        available: Vec<String>,
    },
    BadFilter {
        filter: String,
        message: String,
    },
    Other(String),
}

impl fmt::Display for LiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LiveError::Permission { iface } => write!(
                f,
                "no permission to capture on {iface}: run as root, or give the binary capture rights once with \
                 `sudo setcap cap_net_raw,cap_net_admin+eip $(command -v egress-audit)` (needs CAP_NET_RAW)"
            ),
            LiveError::NoSuchInterface { iface, available } => {
                write!(f, "no interface named {iface}; available: {}", available.join(", "))
            }
            LiveError::BadFilter { filter, message } => write!(f, "capture filter {filter:?} rejected: {message}"),
            LiveError::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for LiveError {}

fn classify_error(iface: &str, e: pcap::Error) -> LiveError {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("permission") || lower.contains("not permitted") || lower.contains("eperm") {
        LiveError::Permission { iface: iface.to_string() }
    } else if lower.contains("no such device") || lower.contains("doesn't exist") {
        let available = Device::list().map(|d| d.into_iter().map(|d| d.name).collect()).unwrap_or_default();
        LiveError::NoSuchInterface { iface: iface.to_string(), available }
    } else {
        LiveError::Other(format!("capture on {iface} failed: {text}"))
    }
}

/// Kernel packet counters (libpcap `pcap_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureStats {
    pub received: u64,
    /// Dropped because the capture buffer was full: these packets were never seen.
    pub dropped: u64,
    pub if_dropped: u64,
}

pub struct LiveCapture {
    iface: String,
    cap: Capture<Active>,
    linktype: u32,
    savefile: Option<Savefile>,
    frames: u64,
    /// When the last packet arrived (kept across `run` calls: `watch` runs once per screen refresh).
    last_packet: std::time::Instant,
}

impl LiveCapture {
    /// Opens `iface` (`any` for all interfaces) with an optional BPF filter, and optionally a pcap file
    /// that records every frame delivered.
    pub fn open(iface: &str, filter: Option<&str>, write_pcap: Option<&Path>) -> Result<LiveCapture, LiveError> {
        let inactive = Capture::from_device(iface).map_err(|e| classify_error(iface, e))?;
        let mut cap = inactive
            .snaplen(SNAPLEN)
            .promisc(false)
            .immediate_mode(true)
            .buffer_size(64 << 20)
            .open()
            .map_err(|e| classify_error(iface, e))?
            .setnonblock()
            .map_err(|e| classify_error(iface, e))?;
        if iface == "any" {
            // SLL2 carries the interface index; libpcap ≥ 1.10 offers it on `any`.
            let _ = cap.set_datalink(pcap::Linktype(276));
        }
        if let Some(f) = filter {
            cap.filter(f, true).map_err(|e| LiveError::BadFilter { filter: f.to_string(), message: e.to_string() })?;
        }
        let linktype = cap.get_datalink().0 as u32;
        let savefile = match write_pcap {
            Some(p) => {
                Some(cap.savefile(p).map_err(|e| LiveError::Other(format!("cannot write {}: {e}", p.display())))?)
            }
            None => None,
        };
        Ok(LiveCapture {
            iface: iface.to_string(),
            cap,
            linktype,
            savefile,
            frames: 0,
            last_packet: std::time::Instant::now(),
        })
    }

    pub fn linktype(&self) -> u32 {
        self.linktype
    }

    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// Delivers frames until `keep_going` returns false (checked between reads and while idle).
    /// `on_frame(None)` says the ring is empty (the capture is about to sleep): a moment for work
    /// that waits on no packet, such as settling pending process lookups.
    pub fn run(
        &mut self,
        keep_going: &mut dyn FnMut() -> bool,
        on_frame: &mut dyn FnMut(Option<&Frame<'_>>),
    ) -> Result<(), LiveError> {
        while keep_going() {
            match self.cap.next_packet() {
                Ok(packet) => {
                    self.last_packet = std::time::Instant::now();
                    self.frames += 1;
                    if let Some(s) = self.savefile.as_mut() {
                        s.write(&packet);
                    }
                    let ts: Nanos = packet.header.ts.tv_sec * 1_000_000_000 + packet.header.ts.tv_usec * 1_000;
                    on_frame(Some(&Frame {
                        number: self.frames,
                        ts,
                        linktype: self.linktype,
                        data: packet.data,
                        orig_len: packet.header.len,
                    }));
                }
                Err(pcap::Error::TimeoutExpired | pcap::Error::NoMorePackets) => {
                    on_frame(None);
                    std::thread::sleep(if self.last_packet.elapsed() < IDLE_AFTER { BUSY_SLEEP } else { IDLE_SLEEP });
                }
                Err(e) => return Err(classify_error(&self.iface, e)),
            }
        }
        if let Some(s) = self.savefile.as_mut() {
            s.flush().map_err(|e| LiveError::Other(format!("cannot flush the recorded pcap: {e}")))?;
        }
        Ok(())
    }

    pub fn stats(&mut self) -> Option<CaptureStats> {
        self.cap.stats().ok().map(|s| CaptureStats {
            received: u64::from(s.received),
            dropped: u64::from(s.dropped),
            if_dropped: u64::from(s.if_dropped),
        })
    }
}
