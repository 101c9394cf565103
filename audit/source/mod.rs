//! Frame sources: where captured frames come from (a saved capture file today, a live interface later).
//!
//! Everything downstream sees the same [`Frame`] whatever the source, so replay and live capture share
//! one pipeline.

pub mod file;
pub mod live;
mod mapped;

/// Capture time in nanoseconds since the Unix epoch.
pub type Nanos = i64;

/// One captured frame, borrowed from the source's buffer for the duration of a callback.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// 1-based frame number in the source, as Wireshark numbers them.
    pub number: u64,
    pub ts: Nanos,
    /// LINKTYPE_* value (tcpdump.org/linktypes.html), not a DLT number.
    pub linktype: u32,
    pub data: &'a [u8],
    /// Length on the wire; larger than `data.len()` when the capture's snaplen cut the frame.
    pub orig_len: u32,
}
