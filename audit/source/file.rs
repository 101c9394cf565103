//! Reads pcap and pcapng files (format detected by magic number, never by file name). A capture that
//! is a regular file is mapped and parsed in place ([`super::mapped`]); everything else is read.
//!
//! pcap-parser is used rather than libpcap: it measured ~1.6× faster read-only here, and it lets a
//! damaged file report the byte offset where reading stopped while keeping every frame read before.

use super::mapped::{MappedFile, prefetch_record};
use super::{Frame, Nanos};
use pcap_parser::nom;
use pcap_parser::pcapng::{Block, parse_block_be, parse_block_le};
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError, PcapNGReader};
use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Big enough for the largest record seen in practice (loopback frames reach 65,549 bytes) a few times
/// over, and small enough to stay in the CPU's L2 cache between the copy from the page cache and the
/// parse that follows it (256 KiB measured 1-2% faster than 1 MiB on a 0.63 GB capture; 64 KiB slower).
const BUFFER_BYTES: usize = 256 << 10;
/// A record that does not fit grows the buffer once to this size, the largest record read (records
/// beyond it are reported as damage).
const MAX_BUFFER_BYTES: usize = 4 << 20;

/// Why reading a capture file stopped before its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// Byte offset in the file where the unreadable record starts.
    pub offset: u64,
    pub reason: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte offset {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for ReadError {}

/// What a file turned out to be, for the report's `source` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileInfo {
    pub format: &'static str,
    pub linktypes: Vec<u32>,
    pub frames: u64,
    pub bytes: u64,
}

/// How a capture file's bytes reach the parser.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Access {
    /// Mapped into memory where the file allows it (a regular file), read otherwise: the fastest.
    #[default]
    Mapped,
    /// Always `read(2)`: for a file another program may truncate while it is read.
    Streamed,
}

/// Opens `path` and calls `on_frame` for every packet record in file order.
///
/// Returns what was read; on a damaged or truncated file the frames before the damage have already been
/// delivered and the error names the offset where reading stopped.
pub fn read_frames(path: &Path, on_frame: &mut dyn FnMut(&Frame<'_>)) -> Result<FileInfo, (FileInfo, ReadError)> {
    read_frames_via(path, Access::default(), on_frame)
}

/// [`read_frames`], choosing how the file is read.
pub fn read_frames_via(
    path: &Path,
    access: Access,
    on_frame: &mut dyn FnMut(&Frame<'_>),
) -> Result<FileInfo, (FileInfo, ReadError)> {
    let fail = |offset, reason: String| (FileInfo::default(), ReadError { offset, reason });
    let mut file = File::open(path).map_err(|e| fail(0, format!("cannot open: {e}")))?;
    let mut magic = [0u8; 4];
    let n = read_up_to(&mut file, &mut magic).map_err(|e| fail(0, format!("cannot read: {e}")))?;
    if n < 4 {
        return Err(fail(0, "file is too short to be a pcap or pcapng capture".into()));
    }
    file.seek(SeekFrom::Start(0)).map_err(|e| fail(0, format!("cannot read: {e}")))?;
    // Only a hint (a larger readahead window for a file read once, front to back): a file system that
    // ignores it or refuses it reads the same bytes.
    let _ = nix::fcntl::posix_fadvise(&file, 0, 0, nix::fcntl::PosixFadviseAdvice::POSIX_FADV_SEQUENTIAL);
    match u32::from_le_bytes(magic) {
        0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 => {
            match (access == Access::Mapped).then(|| MappedFile::new(&file)).flatten() {
                Some(mapped) => read_legacy_mapped(&mapped, on_frame),
                None => read_legacy(file, on_frame),
            }
        }
        0x0a0d_0d0a => match (access == Access::Mapped).then(|| MappedFile::new(&file)).flatten() {
            Some(mapped) => read_ng_mapped(&mapped, on_frame),
            None => read_ng_stream(file, on_frame),
        },
        other => Err(fail(0, format!("not a pcap or pcapng file (magic number 0x{other:08x})"))),
    }
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn describe<I>(e: &PcapError<I>) -> String {
    match e {
        PcapError::Eof => "end of file".into(),
        PcapError::BufferTooSmall => "record larger than the read buffer".into(),
        PcapError::UnexpectedEof | PcapError::Incomplete(_) => "file ends inside a record (truncated)".into(),
        PcapError::ReadError => "I/O error while reading".into(),
        PcapError::HeaderNotRecognized => "header not recognized".into(),
        PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
            format!("malformed record ({kind:?})")
        }
    }
}

/// How a classic pcap file lays out its record headers, from its file header.
#[derive(Clone, Copy)]
struct LegacyLayout {
    big_endian: bool,
    nanos_per_tick: i64,
    linktype: u32,
}

/// Where [`walk_legacy`] stopped in the bytes it was given.
enum Walked {
    /// At this offset the next record is incomplete (or the bytes end there).
    Incomplete(usize),
    /// The record at this offset is larger than any read buffer allows ([`MAX_BUFFER_BYTES`]).
    TooLarge(usize),
}

impl LegacyLayout {
    /// The header field at `at` of a record header `b`, in the file's byte order.
    #[inline]
    fn u32_at(self, b: &[u8], at: usize) -> u32 {
        let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.big_endian { u32::from_be_bytes(v) } else { u32::from_le_bytes(v) }
    }
}

/// Parses the file header of a classic pcap and says how its records are laid out.
fn legacy_layout(bytes: &[u8], info: &mut FileInfo) -> Result<(LegacyLayout, usize), ReadError> {
    let header = match pcap_parser::parse_pcap_header(bytes) {
        Ok((_, h)) => h,
        Err(e) => {
            let reason = match e {
                nom::Err::Error(e) | nom::Err::Failure(e) => describe(&e),
                nom::Err::Incomplete(_) => describe::<&[u8]>(&PcapError::Incomplete(0)),
            };
            return Err(ReadError { offset: 0, reason: format!("bad pcap header: {reason}") });
        }
    };
    // The upper bits of the link-type field carry FCS information (pcap spec §4).
    let linktype = header.network.0 as u32 & 0x0fff_ffff;
    info.linktypes.push(linktype);
    let mut nanos_per_tick: i64 = 1_000;
    if header.is_nanosecond_precision() {
        info.format = "pcap-nsec";
        nanos_per_tick = 1;
    }
    Ok((LegacyLayout { big_endian: header.is_bigendian(), nanos_per_tick, linktype }, header.size()))
}

/// Delivers every complete record at the start of `bytes`; this loop runs once per packet, so a record
/// is walked directly (a 16-byte header and its bytes) rather than through pcap-parser's block reader.
#[inline]
fn walk_legacy(
    layout: LegacyLayout,
    bytes: &[u8],
    info: &mut FileInfo,
    on_frame: &mut dyn FnMut(&Frame<'_>),
    mut reached: impl FnMut(usize),
) -> Walked {
    let u32_at = |b: &[u8], at: usize| layout.u32_at(b, at);
    let mut pos = 0;
    loop {
        let data = &bytes[pos..];
        if data.len() < 16 {
            return Walked::Incomplete(pos);
        }
        let caplen = u32_at(data, 8) as usize;
        if caplen >= MAX_BUFFER_BYTES - 16 {
            return Walked::TooLarge(pos);
        }
        let Some(record) = data.get(16..16 + caplen) else { return Walked::Incomplete(pos) };
        reached(pos + 16 + caplen);
        info.frames += 1;
        info.bytes += record.len() as u64;
        let ts = i64::from(u32_at(data, 0)) * 1_000_000_000 + i64::from(u32_at(data, 4)) * layout.nanos_per_tick;
        let orig_len = u32_at(data, 12);
        on_frame(&Frame { number: info.frames, ts, linktype: layout.linktype, data: record, orig_len });
        pos += 16 + caplen;
    }
}

/// A classic pcap parsed in place from its mapping, a window at a time: no copy, no refill. Frames,
/// errors and offsets are those of [`read_legacy`].
fn read_legacy_mapped(
    file: &MappedFile<'_>,
    on_frame: &mut dyn FnMut(&Frame<'_>),
) -> Result<FileInfo, (FileInfo, ReadError)> {
    let io_fail =
        |info, offset: u64, e: std::io::Error| (info, ReadError { offset, reason: format!("cannot read: {e}") });
    let mut info = FileInfo { format: "pcap", ..FileInfo::default() };
    let mut window = file.window(0).map_err(|e| io_fail(FileInfo::default(), 0, e))?;
    let (layout, start) = legacy_layout(window.bytes(), &mut info).map_err(|e| (FileInfo::default(), e))?;
    // Where the next record starts in the file.
    let mut pos = start as u64;
    loop {
        let records = &window.bytes()[(pos - window.offset()) as usize..];
        let fail = |info, offset, e: PcapError<&[u8]>| (info, ReadError { offset, reason: describe(&e) });
        match walk_legacy(layout, records, &mut info, on_frame, |next| prefetch_record(records, next)) {
            Walked::TooLarge(at) => return Err(fail(info, pos + at as u64, PcapError::BufferTooSmall)),
            Walked::Incomplete(at) => {
                pos += at as u64;
                if pos == file.len() {
                    return Ok(info);
                }
                // A record cut by the window's end is whole in the next window, which starts at its
                // page (windows are larger than any record accepted): no progress means the file ends.
                if window.reaches_end(file) || at == 0 {
                    return Err(fail(info, pos, PcapError::UnexpectedEof));
                }
            }
        }
        drop(window);
        window = file.window(pos).map_err(|e| io_fail(info.clone(), pos, e))?;
    }
}

/// A classic pcap read through a buffer refilled by `read(2)` (a pipe, or a file that cannot be
/// mapped). Errors, their offsets and the buffer limits are those of pcap-parser's
/// `LegacyPcapReader` with [`drive`], which reads pcapng.
fn read_legacy(mut file: impl Read, on_frame: &mut dyn FnMut(&Frame<'_>)) -> Result<FileInfo, (FileInfo, ReadError)> {
    let mut info = FileInfo { format: "pcap", ..FileInfo::default() };
    let mut buf = vec![0u8; BUFFER_BYTES];
    let fail = |info: FileInfo, offset: usize, e: &PcapError<&[u8]>| {
        (info, ReadError { offset: offset as u64, reason: describe(e) })
    };
    let io_error = PcapError::<&[u8]>::ReadError;
    let mut end = match file.read(&mut buf) {
        Ok(n) => n,
        Err(_) => {
            let reason = format!("bad pcap header: {}", describe(&io_error));
            return Err((FileInfo::default(), ReadError { offset: 0, reason }));
        }
    };
    let (layout, mut pos) = legacy_layout(&buf[..end], &mut info).map_err(|e| (FileInfo::default(), e))?;
    // Bytes of the file before `buf[0]`.
    let mut shifted = 0usize;
    let mut exhausted = false;
    loop {
        match walk_legacy(layout, &buf[pos..end], &mut info, on_frame, |_| {}) {
            Walked::Incomplete(at) => pos += at,
            Walked::TooLarge(at) => return Err(fail(info, shifted + pos + at, &PcapError::BufferTooSmall)),
        }
        if exhausted {
            if pos == end {
                return Ok(info);
            }
            return Err(fail(info, shifted + pos, &PcapError::UnexpectedEof));
        }
        let data = &buf[pos..end];
        let record = if data.len() < 16 { 16 } else { 16 + layout.u32_at(data, 8) as usize };
        if record >= buf.len() {
            // Only once: `walk_legacy` has refused every record that would not fit the larger buffer.
            buf.resize(MAX_BUFFER_BYTES, 0);
        }
        buf.copy_within(pos..end, 0);
        shifted += pos;
        end -= pos;
        pos = 0;
        match file.read(&mut buf[end..]) {
            Ok(n) => {
                exhausted = n == 0;
                end += n;
            }
            Err(_) => return Err(fail(info, shifted, &io_error)),
        }
    }
}

/// Hands every block to `on_block` in file order until the end of the file or the first damage,
/// whose offset the error names.
fn drive(reader: &mut dyn PcapReaderIterator, on_block: &mut dyn FnMut(PcapBlockOwned<'_>)) -> Result<(), ReadError> {
    let mut grown = false;
    loop {
        let offset = reader.consumed() as u64;
        match reader.next() {
            Ok((len, block)) => {
                on_block(block);
                // `consume` would move the unread rest of the buffer each time half of it is used;
                // `refill` moves it once, when it must.
                reader.consume_noshift(len);
            }
            Err(PcapError::Eof) => return Ok(()),
            Err(PcapError::BufferTooSmall) if !grown => {
                grown = true;
                if !reader.grow(MAX_BUFFER_BYTES) {
                    return Err(ReadError { offset, reason: describe::<&[u8]>(&PcapError::BufferTooSmall) });
                }
            }
            Err(PcapError::Incomplete(_)) => {
                if let Err(e) = reader.refill() {
                    return Err(ReadError { offset, reason: describe(&e) });
                }
            }
            Err(e) => return Err(ReadError { offset, reason: describe(&e) }),
        }
    }
}

/// Per-interface facts a pcapng file declares in its Interface Description Blocks.
#[derive(Clone, Copy)]
struct Interface {
    linktype: u32,
    ticks_per_second: u64,
    offset_seconds: i64,
}

/// A pcapng read through pcap-parser's `PcapNGReader` (a pipe, `--no-mmap`, or a file that cannot be
/// mapped). [`read_ng_mapped`] reproduces its results, errors and offsets from a mapped file.
fn read_ng_stream(file: impl Read, on_frame: &mut dyn FnMut(&Frame<'_>)) -> Result<FileInfo, (FileInfo, ReadError)> {
    let mut reader = PcapNGReader::new(BUFFER_BYTES, file).map_err(|e| {
        (FileInfo::default(), ReadError { offset: 0, reason: format!("bad pcapng section header: {}", describe(&e)) })
    })?;
    let mut section = NgSection::new();
    let done = drive(&mut reader, &mut |block| {
        if let PcapBlockOwned::NG(block) = block {
            section.block(block, on_frame);
        }
    });
    match done {
        Ok(()) => Ok(section.info),
        Err(e) => Err((section.info, e)),
    }
}

/// What a pcapng read has learnt so far: the counters, and the interfaces of the current section.
struct NgSection {
    info: FileInfo,
    // Interface ids restart in every section (pcapng §4.1).
    interfaces: Vec<Interface>,
}

impl NgSection {
    fn new() -> Self {
        Self { info: FileInfo { format: "pcapng", ..FileInfo::default() }, interfaces: Vec::new() }
    }

    fn block(&mut self, block: Block<'_>, on_frame: &mut dyn FnMut(&Frame<'_>)) {
        match block {
            Block::SectionHeader(_) => self.interfaces.clear(),
            Block::InterfaceDescription(idb) => {
                let linktype = idb.linktype.0 as u32;
                if !self.info.linktypes.contains(&linktype) {
                    self.info.linktypes.push(linktype);
                }
                self.interfaces.push(Interface {
                    linktype,
                    ticks_per_second: ticks_per_second(idb.if_tsresol),
                    offset_seconds: idb.if_tsoffset,
                });
            }
            Block::EnhancedPacket(epb) => {
                let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                self.packet(on_frame, epb.if_id, ticks, epb.caplen, epb.data, epb.origlen);
            }
            // A Simple Packet Block has no timestamp and belongs to interface 0.
            Block::SimplePacket(spb) => self.packet(on_frame, 0, 0, spb.origlen, spb.data, spb.origlen),
            _ => {}
        }
    }

    /// `data` is the block's packet field with its padding, cut here to the captured length.
    #[inline]
    fn packet(
        &mut self,
        on_frame: &mut dyn FnMut(&Frame<'_>),
        if_id: u32,
        ticks: u64,
        caplen: u32,
        data: &[u8],
        orig_len: u32,
    ) {
        let iface = self.interfaces.get(if_id as usize).copied();
        let data = &data[..(caplen as usize).min(data.len())];
        deliver_ng(&mut self.info, on_frame, iface, ticks, data, orig_len);
    }
}

/// What `PcapNGReader`'s buffer would hold at this point of the file, as file offsets.
///
/// Parsing the mapping as a whole would be simpler, but the reader's results depend on its buffer: a
/// block it cannot hold is an error even when the file has all of it, and whether a cut file ends in
/// "truncated" or "larger than the read buffer" depends on where the buffer stood. Keeping the same
/// buffer (filled as `read(2)` fills it from a regular file) keeps every error and offset identical.
struct ReaderBuffer {
    /// File offset of the buffer's first byte (the reader's `position()` is `at - start`).
    start: usize,
    /// File offset just past the buffer's last byte.
    end: usize,
    capacity: usize,
    /// A refill has read nothing: the file ends at `end`.
    exhausted: bool,
}

impl ReaderBuffer {
    /// `PcapReaderIterator::refill`: move the unread bytes to the front, then read once into the space
    /// left. False when there was no space to read into (the reader would parse the same bytes again).
    fn refill(&mut self, at: usize, file_len: usize) -> bool {
        self.start = at;
        let space = self.capacity - (self.end - at);
        if space == 0 {
            return false;
        }
        let read = space.min(file_len - self.end);
        self.exhausted = read == 0;
        self.end += read;
        true
    }
}

/// A pcapng file parsed in place from its mapping, a window at a time.
///
/// Same frames, [`FileInfo`] and errors as [`read_ng_stream`]: blocks go through the same pcap-parser
/// functions over the same bytes ([`ReaderBuffer`]), except the Enhanced Packet Block without options,
/// the block of nearly every packet, which [`plain_epb`] reads directly.
fn read_ng_mapped(
    file: &MappedFile<'_>,
    on_frame: &mut dyn FnMut(&Frame<'_>),
) -> Result<FileInfo, (FileInfo, ReadError)> {
    let io_fail = |info, at: usize, e: std::io::Error| {
        (info, ReadError { offset: at as u64, reason: format!("cannot read: {e}") })
    };
    let len = usize::try_from(file.len()).map_err(|e| io_fail(FileInfo::default(), 0, std::io::Error::other(e)))?;
    let mut window = file.window(0).map_err(|e| io_fail(FileInfo::default(), 0, e))?;
    let mut buffer = ReaderBuffer { start: 0, end: len.min(BUFFER_BYTES), capacity: BUFFER_BYTES, exhausted: false };
    // `PcapNGReader::new` checks the first block before anything is delivered (a window holds more
    // than the first buffer).
    if let Err(e) = pcap_parser::pcapng::parse_sectionheaderblock(&window.bytes()[..buffer.end]) {
        let e = match e {
            nom::Err::Error(e) | nom::Err::Failure(e) => e,
            nom::Err::Incomplete(_) => PcapError::Incomplete(0),
        };
        let reason = format!("bad pcapng section header: {}", describe(&e));
        return Err((FileInfo::default(), ReadError { offset: 0, reason }));
    }
    let mut section = NgSection::new();
    let fail = |section: NgSection, at: usize, e: &PcapError<&[u8]>| {
        Err((section.info, ReadError { offset: at as u64, reason: describe(e) }))
    };
    // The byte order of the current section; the reader starts little-endian.
    let mut big_endian = false;
    // Where the next block starts in the file.
    let mut at = 0usize;
    loop {
        // The buffer lies within `buffer.capacity` (at most 4 MiB) after `at`, and a window mapped at
        // `at` holds 16 MiB from its page.
        let mut offset = window.offset() as usize;
        if buffer.end > offset + window.bytes().len() {
            drop(window);
            window = file.window(at as u64).map_err(|e| io_fail(section.info.clone(), at, e))?;
            offset = window.offset() as usize;
        }
        let ahead = &window.bytes()[at - offset..];
        let data = &ahead[..buffer.end - at];
        if let Some(epb) = plain_epb(data, big_endian) {
            prefetch_block_after(ahead, epb.len, big_endian);
            section.packet(on_frame, epb.if_id, epb.ticks, epb.caplen, &data[28..epb.len - 4], epb.orig_len);
            at += epb.len;
            continue;
        }
        if data.is_empty() && at == buffer.start && buffer.exhausted {
            return Ok(section.info);
        }
        let parsed = if big_endian { parse_block_be(data) } else { parse_block_le(data) };
        match parsed {
            Ok((rest, block)) => {
                if let Block::SectionHeader(shb) = &block {
                    big_endian = shb.big_endian();
                }
                let block_len = data.len() - rest.len();
                prefetch_block_after(ahead, block_len, big_endian);
                section.block(block, on_frame);
                at += block_len;
            }
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => return fail(section, at, &e),
            Err(nom::Err::Incomplete(_)) if buffer.exhausted => return fail(section, at, &PcapError::UnexpectedEof),
            Err(nom::Err::Incomplete(nom::Needed::Size(n)))
                if data.len().saturating_add(n.get()) >= buffer.capacity =>
            {
                // `drive` grows the buffer once, to the largest size.
                if buffer.capacity >= MAX_BUFFER_BYTES {
                    return fail(section, at, &PcapError::BufferTooSmall);
                }
                buffer.capacity = MAX_BUFFER_BYTES;
            }
            Err(nom::Err::Incomplete(_)) => {
                // No space to refill only when the buffer is full of a block whose parser did not say
                // how many bytes it misses (pcap-parser's always say): the reader would loop forever.
                if !buffer.refill(at, len) {
                    return fail(section, at, &PcapError::BufferTooSmall);
                }
            }
        }
    }
}

/// Asks the CPU to load the end of the block at `next` (its trailing length, which [`plain_epb`] checks
/// before delivering the packet) and the start of the block after it (header and packet headers), while
/// the current packet is analysed. A block's end is a packet's length away from its start, too far for
/// the CPU to guess; the block at `next` was loaded by the previous call, so reading its length here
/// costs no wait. A wrong guess (a new section in the other byte order, damage) only wastes the hint.
#[inline]
fn prefetch_block_after(bytes: &[u8], next: usize, big_endian: bool) {
    let Some(&len) = bytes.get(next + 4..next + 8).and_then(|b| <&[u8; 4]>::try_from(b).ok()) else { return };
    let len = if big_endian { u32::from_be_bytes(len) } else { u32::from_le_bytes(len) };
    if let Some(end) = next.checked_add(len as usize) {
        prefetch_record(bytes, end.saturating_sub(4));
    }
}

/// The fields of an Enhanced Packet Block read by [`plain_epb`].
struct PlainEpb {
    /// The whole block's length, from its type to its trailing length.
    len: usize,
    if_id: u32,
    ticks: u64,
    caplen: u32,
    orig_len: u32,
}

/// An Enhanced Packet Block at the start of `data`, complete and without options, read field by field;
/// `None` for anything else, which pcap-parser's `parse_block_*` then parses. It accepts exactly the
/// blocks that `parse_enhancedpacketblock_*` accepts with no options, with the same fields: the block
/// lies wholly in `data`, its length is at least 32 and equals the trailing length, and the padded
/// packet fills the rest (`caplen` below `u32::MAX - 4`, where pcap-parser's padding would overflow).
#[inline]
fn plain_epb(data: &[u8], big_endian: bool) -> Option<PlainEpb> {
    let u32_at = |at: usize| -> Option<u32> {
        let v: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
        Some(if big_endian { u32::from_be_bytes(v) } else { u32::from_le_bytes(v) })
    };
    if data.len() < 32 || u32_at(0)? != pcap_parser::EPB_MAGIC {
        return None;
    }
    let len = u32_at(4)?;
    let caplen = u32_at(20)?;
    if caplen >= u32::MAX - 4 || u64::from(len) != 32 + u64::from(caplen).next_multiple_of(4) {
        return None;
    }
    let len = len as usize;
    if u32_at(len - 4)? != len as u32 {
        return None;
    }
    let ticks = (u64::from(u32_at(12)?) << 32) | u64::from(u32_at(16)?);
    Some(PlainEpb { len, if_id: u32_at(8)?, ticks, caplen, orig_len: u32_at(24)? })
}

fn deliver_ng(
    info: &mut FileInfo,
    on_frame: &mut dyn FnMut(&Frame<'_>),
    iface: Option<Interface>,
    ticks: u64,
    data: &[u8],
    orig_len: u32,
) {
    info.frames += 1;
    info.bytes += data.len() as u64;
    // A packet for an interface that was never described cannot be decoded; it still counts as read.
    let Some(iface) = iface else { return };
    on_frame(&Frame {
        number: info.frames,
        ts: ticks_to_nanos(ticks, iface.ticks_per_second, iface.offset_seconds),
        linktype: iface.linktype,
        data,
        orig_len,
    });
}

/// `if_tsresol` (pcapng §4.2): 10^-n seconds, or 2^-n when the high bit is set. Computed here because
/// pcap-parser 0.17 rejects every binary resolution.
fn ticks_per_second(tsresol: u8) -> u64 {
    let n = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 != 0 {
        1u64.checked_shl(n).unwrap_or(1_000_000)
    } else {
        10u64.checked_pow(n).unwrap_or(1_000_000)
    }
}

fn ticks_to_nanos(ticks: u64, ticks_per_second: u64, offset_seconds: i64) -> Nanos {
    let secs = ticks / ticks_per_second;
    let rem = ticks % ticks_per_second;
    let frac = (u128::from(rem) * 1_000_000_000 / u128::from(ticks_per_second)) as i64;
    (secs as i64).saturating_add(offset_seconds).saturating_mul(1_000_000_000).saturating_add(frac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_parser::LegacyPcapReader;

    type Frames = Vec<(u64, i64, u32, Vec<u8>, u32)>;
    type Outcome = (Frames, Result<FileInfo, (FileInfo, ReadError)>);

    /// The reader this file used before `read_legacy`: pcap-parser's, through `drive`.
    fn via_pcap_parser(bytes: &[u8]) -> (Frames, Result<FileInfo, (FileInfo, ReadError)>) {
        let mut frames = Frames::new();
        let mut keep = |f: &Frame<'_>| frames.push((f.number, f.ts, f.linktype, f.data.to_vec(), f.orig_len));
        let result = match LegacyPcapReader::new(BUFFER_BYTES, bytes) {
            Err(e) => Err((
                FileInfo::default(),
                ReadError { offset: 0, reason: format!("bad pcap header: {}", describe(&e)) },
            )),
            Ok(mut reader) => {
                let mut info = FileInfo { format: "pcap", ..FileInfo::default() };
                let (mut linktype, mut nanos_per_tick) = (0u32, 1_000i64);
                let done = drive(&mut reader, &mut |block| match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        linktype = h.network.0 as u32 & 0x0fff_ffff;
                        info.linktypes.push(linktype);
                        if h.is_nanosecond_precision() {
                            info.format = "pcap-nsec";
                            nanos_per_tick = 1;
                        }
                    }
                    PcapBlockOwned::Legacy(b) => {
                        info.frames += 1;
                        info.bytes += b.data.len() as u64;
                        let ts = i64::from(b.ts_sec) * 1_000_000_000 + i64::from(b.ts_usec) * nanos_per_tick;
                        keep(&Frame { number: info.frames, ts, linktype, data: b.data, orig_len: b.origlen });
                    }
                    PcapBlockOwned::NG(_) => {}
                });
                match done {
                    Ok(()) => Ok(info),
                    Err(e) => Err((info, e)),
                }
            }
        };
        (frames, result)
    }

    fn via_read_legacy(bytes: &[u8]) -> (Frames, Result<FileInfo, (FileInfo, ReadError)>) {
        let mut frames = Frames::new();
        let result =
            read_legacy(bytes, &mut |f| frames.push((f.number, f.ts, f.linktype, f.data.to_vec(), f.orig_len)));
        (frames, result)
    }

    /// `bytes` written to a file, mapped and parsed in place; `None` for a file that cannot be mapped.
    fn via_read_legacy_mapped(bytes: &[u8]) -> Option<Outcome> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("capture.pcap");
        std::fs::write(&path, bytes).unwrap();
        let file = File::open(&path).unwrap();
        let mapped = MappedFile::new(&file)?;
        let mut frames = Frames::new();
        let result = read_legacy_mapped(&mapped, &mut |f| {
            frames.push((f.number, f.ts, f.linktype, f.data.to_vec(), f.orig_len));
        });
        Some((frames, result))
    }

    /// Records of many sizes across several mapping windows (a record cut by each window's end), and
    /// the file cut inside a record near a window's end, read mapped and read with `read(2)`.
    #[test]
    fn mapped_windows_read_as_read_reads() {
        let mut v = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dns-tcp.pcap"))
            .unwrap()[..24]
            .to_vec();
        let window = super::super::mapped::WINDOW_BYTES as usize;
        let mut n = 0u32;
        while v.len() < 2 * window + 300_000 {
            n += 1;
            let caplen = (n * 7919) % 70_000 + 1;
            v.extend_from_slice(&n.to_le_bytes());
            v.extend_from_slice(&n.to_le_bytes());
            v.extend_from_slice(&caplen.to_le_bytes());
            v.extend_from_slice(&(caplen + 3).to_le_bytes());
            v.extend((0..caplen).map(|i| (i as u8) ^ (n as u8)));
        }
        for cut in [v.len(), window + 5, 2 * window - 3, 2 * window + 16, v.len() - 1] {
            let input = &v[..cut];
            let mapped = via_read_legacy_mapped(input).unwrap();
            assert!(mapped.0.len() > 100, "cut {cut}");
            assert_eq!(mapped, via_read_legacy(input), "cut {cut}");
        }
    }

    /// `file` read mapped and read with `read(2)`: the same frames (at least one) and the same result.
    fn assert_reads_agree(file: &std::path::Path) {
        let runs = [Access::Mapped, Access::Streamed].map(|access| {
            let mut frames = Frames::new();
            let result = read_frames_via(file, access, &mut |f| {
                frames.push((f.number, f.ts, f.linktype, f.data.to_vec(), f.orig_len));
            });
            (frames, result)
        });
        assert!(!runs[0].0.is_empty(), "{}", file.display());
        assert_eq!(runs[0], runs[1], "{}", file.display());
    }

    /// Both ways of reading a file give the same frames and the same error, mapped or read.
    #[test]
    fn mapped_and_streamed_reads_agree() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let tmp = tempfile::tempdir().unwrap();
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "pcap") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            // The whole file, and the file cut inside its last record.
            let cut = tmp.path().join("cut.pcap");
            std::fs::write(&cut, &bytes[..bytes.len() - 5]).unwrap();
            for file in [path.as_path(), cut.as_path()] {
                assert_reads_agree(file);
            }
            checked += 1;
        }
        assert!(checked >= 10, "{checked} fixtures");
    }

    /// Same frames, counters and errors (with offsets) as pcap-parser on every cut of a capture, on
    /// records too large for the first buffer or for any, and in both byte orders and resolutions.
    #[test]
    fn classic_pcap_reads_as_pcap_parser_read_it() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dns-tcp.pcap");
        let file = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // Every cut inside the first records, then every 13th byte (each input allocates two buffers).
        let cuts = (0..64).chain((64..file.len()).step_by(13));
        let mut inputs: Vec<Vec<u8>> = cuts.map(|n| file[..n].to_vec()).collect();
        inputs.push(file.clone());
        for caplen in [BUFFER_BYTES as u32 - 40, BUFFER_BYTES as u32 + 7, MAX_BUFFER_BYTES as u32 + 1, u32::MAX] {
            let mut v = file[..24].to_vec();
            v.extend_from_slice(&[1, 0, 0, 0, 2, 0, 0, 0]);
            v.extend_from_slice(&caplen.to_le_bytes());
            v.extend_from_slice(&caplen.to_le_bytes());
            v.extend(std::iter::repeat_n(0x45, (caplen as usize).min(MAX_BUFFER_BYTES + 64)));
            v.extend_from_slice(&file[24..]);
            inputs.push(v);
        }
        for (magic, nsec) in [(0xa1b2_c3d4u32, false), (0xa1b2_3c4d, true)] {
            // The same records big-endian: every 32-bit field of the headers swapped.
            let mut v = magic.to_be_bytes().to_vec();
            v.extend(file[4..8].chunks(2).flat_map(|c| [c[1], c[0]]));
            v.extend(file[8..24].chunks(4).flat_map(|c| [c[3], c[2], c[1], c[0]]));
            let mut at = 24;
            while at + 16 <= file.len() {
                let caplen = u32::from_le_bytes([file[at + 8], file[at + 9], file[at + 10], file[at + 11]]) as usize;
                v.extend(file[at..at + 16].chunks(4).flat_map(|c| [c[3], c[2], c[1], c[0]]));
                v.extend_from_slice(&file[at + 16..(at + 16 + caplen).min(file.len())]);
                at += 16 + caplen;
            }
            assert!(nsec || v.len() == file.len());
            inputs.push(v);
        }
        for input in &inputs {
            let expected = via_pcap_parser(input);
            assert_eq!(via_read_legacy(input), expected, "read, input of {} bytes", input.len());
            if let Some(mapped) = via_read_legacy_mapped(input) {
                assert_eq!(mapped, expected, "mapped, input of {} bytes", input.len());
            }
        }
    }

    /// Writes pcapng blocks in one byte order; lengths are written as given, so a test can make them lie.
    #[derive(Clone, Copy)]
    struct NgWriter {
        big_endian: bool,
    }

    impl NgWriter {
        fn u16(self, v: u16) -> [u8; 2] {
            if self.big_endian { v.to_be_bytes() } else { v.to_le_bytes() }
        }

        fn u32(self, v: u32) -> [u8; 4] {
            if self.big_endian { v.to_be_bytes() } else { v.to_le_bytes() }
        }

        /// A block whose both length fields say `12 + body.len()`.
        fn block(self, block_type: u32, body: &[u8]) -> Vec<u8> {
            self.block_with_lengths(block_type, body, 12 + body.len() as u32, 12 + body.len() as u32)
        }

        fn block_with_lengths(self, block_type: u32, body: &[u8], len1: u32, len2: u32) -> Vec<u8> {
            let mut b = self.u32(block_type).to_vec();
            b.extend_from_slice(&self.u32(len1));
            b.extend_from_slice(body);
            b.extend_from_slice(&self.u32(len2));
            b
        }

        fn option(self, code: u16, value: &[u8]) -> Vec<u8> {
            let mut o = self.u16(code).to_vec();
            o.extend_from_slice(&self.u16(value.len() as u16));
            o.extend_from_slice(value);
            o.resize(o.len().next_multiple_of(4), 0);
            o
        }

        fn shb(self, options: &[u8]) -> Vec<u8> {
            let mut body = self.u32(0x1a2b_3c4d).to_vec();
            body.extend_from_slice(&self.u16(1));
            body.extend_from_slice(&self.u16(0));
            body.extend_from_slice(&[0xff; 8]);
            body.extend_from_slice(options);
            self.block(0x0a0d_0d0a, &body)
        }

        fn idb(self, linktype: u16, options: &[u8]) -> Vec<u8> {
            let mut body = self.u16(linktype).to_vec();
            body.extend_from_slice(&[0, 0]);
            body.extend_from_slice(&self.u32(262_144));
            body.extend_from_slice(options);
            self.block(1, &body)
        }

        /// The body of an Enhanced Packet Block, packet padded to 32 bits.
        fn epb_body(self, if_id: u32, ticks: u64, caplen: u32, data: &[u8], orig_len: u32) -> Vec<u8> {
            let mut body = self.u32(if_id).to_vec();
            body.extend_from_slice(&self.u32((ticks >> 32) as u32));
            body.extend_from_slice(&self.u32(ticks as u32));
            body.extend_from_slice(&self.u32(caplen));
            body.extend_from_slice(&self.u32(orig_len));
            body.extend_from_slice(data);
            body.resize(body.len().next_multiple_of(4), 0);
            body
        }

        fn epb(self, if_id: u32, ticks: u64, data: &[u8], orig_len: u32, options: &[u8]) -> Vec<u8> {
            let mut body = self.epb_body(if_id, ticks, data.len() as u32, data, orig_len);
            body.extend_from_slice(options);
            self.block(6, &body)
        }

        fn spb(self, orig_len: u32, data: &[u8]) -> Vec<u8> {
            let mut body = self.u32(orig_len).to_vec();
            body.extend_from_slice(data);
            body.resize(body.len().next_multiple_of(4), 0);
            self.block(3, &body)
        }
    }

    /// The records of a classic little-endian pcap: (seconds, microseconds, bytes, original length).
    fn pcap_records(file: &[u8]) -> Vec<(u32, u32, Vec<u8>, u32)> {
        let u32_at = |at: usize| u32::from_le_bytes([file[at], file[at + 1], file[at + 2], file[at + 3]]);
        let mut records = Vec::new();
        let mut at = 24;
        while at + 16 <= file.len() {
            let caplen = u32_at(at + 8) as usize;
            records.push((u32_at(at), u32_at(at + 4), file[at + 16..at + 16 + caplen].to_vec(), u32_at(at + 12)));
            at += 16 + caplen;
        }
        records
    }

    /// The frames a pcapng capture built by [`sample_pcapng`] must read as.
    type Expected = Vec<(i64, u32, Vec<u8>, u32)>;

    /// A pcapng capture of a fixture's packets, with most of what the format allows: a little-endian
    /// section with two interfaces of different timestamp resolutions and offsets, packets with and
    /// without options, a Simple Packet Block, a packet for an undescribed interface, statistics, name
    /// resolution, custom and unknown blocks; then a big-endian section with an interface of binary
    /// resolution. Returns the bytes and the frames expected from them.
    fn sample_pcapng(records: &[(u32, u32, Vec<u8>, u32)], linktype: u16) -> (Vec<u8>, Expected, u64) {
        let (le, be) = (NgWriter { big_endian: false }, NgWriter { big_endian: true });
        let mut out = le.shb(&[le.option(4, b"egress-audit test"), le.option(0, b"")].concat());
        out.extend(le.idb(linktype, &[]));
        let nanos_tsresol = [le.option(9, &[9]), le.option(14, &100i64.to_le_bytes()), le.option(0, b"")].concat();
        out.extend(le.idb(101, &nanos_tsresol));
        let mut expected = Expected::new();
        let mut packets = 0;
        let half = records.len() / 2;
        for (n, (sec, usec, data, orig_len)) in records[..half].iter().enumerate() {
            let (sec, usec) = (u64::from(*sec), u64::from(*usec));
            let (if_id, ticks, ts) = if n % 2 == 0 {
                (0, sec * 1_000_000 + usec, (sec * 1_000_000_000 + usec * 1_000) as i64)
            } else {
                let ticks = sec * 1_000_000_000 + usec * 1_000 + 7;
                (1, ticks, ticks as i64 + 100_000_000_000)
            };
            // Every third packet carries an option (epb_flags), which only pcap-parser reads.
            let options = if n % 3 == 0 { [le.option(2, &[1, 0, 0, 0]), le.option(0, b"")].concat() } else { vec![] };
            out.extend(le.epb(if_id, ticks, data, *orig_len, &options));
            expected.push((ts, [u32::from(linktype), 101][if_id as usize], data.clone(), *orig_len));
            packets += 1;
        }
        // Statistics, name resolution, a custom block and an unknown type are skipped.
        out.extend(le.block(5, &[le.u32(0).as_slice(), &[0; 8]].concat()));
        out.extend(le.block(4, &[le.u16(0), le.u16(0)].concat()));
        out.extend(le.block(0x0bad, &[0u8; 8]));
        out.extend(le.block(0x0000_0777, &[0xab; 20]));
        // A packet for an interface the section never described is counted but not delivered.
        out.extend(le.epb(7, 1, &records[0].2, records[0].3, &[]));
        packets += 1;
        // A Simple Packet Block: interface 0, no timestamp, cut to its original length.
        out.extend(le.spb(3, &records[0].2));
        expected.push((0, u32::from(linktype), records[0].2[..3].to_vec(), 3));
        packets += 1;
        out.extend(be.shb(&[]));
        out.extend(be.idb(linktype, &[be.option(9, &[0x80 | 20]), be.option(0, b"")].concat()));
        for (sec, usec, data, orig_len) in &records[half..] {
            let ticks = (u64::from(*sec) << 20) + u64::from(*usec);
            out.extend(be.epb(0, ticks, data, *orig_len, &[]));
            let ts = i64::from(*sec) * 1_000_000_000 + (u128::from(*usec) * 1_000_000_000 / (1 << 20)) as i64;
            expected.push((ts, u32::from(linktype), data.clone(), *orig_len));
            packets += 1;
        }
        // Longer on the wire than in the block: the whole block's packet field, padding included, since
        // a Simple Packet Block does not say where the packet ends.
        out.extend(be.spb(1 << 20, &records[1].2));
        let mut padded = records[1].2.clone();
        padded.resize(padded.len().next_multiple_of(4), 0);
        expected.push((0, u32::from(linktype), padded, 1 << 20));
        packets += 1;
        (out, expected, packets)
    }

    fn via_read_ng_stream(bytes: &[u8]) -> Outcome {
        let mut frames = Frames::new();
        let result =
            read_ng_stream(bytes, &mut |f| frames.push((f.number, f.ts, f.linktype, f.data.to_vec(), f.orig_len)));
        (frames, result)
    }

    /// `bytes` written to a file, mapped and parsed in place.
    fn via_read_ng_mapped(bytes: &[u8]) -> Outcome {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("capture.pcapng");
        std::fs::write(&path, bytes).unwrap();
        let file = File::open(&path).unwrap();
        let mapped = MappedFile::new(&file).expect("a non-empty regular file is mapped");
        let mut frames = Frames::new();
        let result = read_ng_mapped(&mapped, &mut |f| {
            frames.push((f.number, f.ts, f.linktype, f.data.to_vec(), f.orig_len));
        });
        (frames, result)
    }

    /// The reason a read of `input` stopped, the same both ways (or "" for a clean end).
    fn assert_ng_paths_agree(input: &[u8], what: &str) -> String {
        let streamed = via_read_ng_stream(input);
        if !input.is_empty() {
            assert_eq!(via_read_ng_mapped(input), streamed, "{what}: input of {} bytes", input.len());
        }
        streamed.1.err().map(|(_, e)| e.to_string()).unwrap_or_default()
    }

    /// The mapped pcapng path reads what pcap-parser's reader read: the same frames, counters and
    /// errors (with offsets) on every cut of a capture, in both byte orders, across sections and
    /// interfaces, and on blocks that are damaged, odd or larger than either read buffer.
    #[test]
    fn pcapng_reads_in_place_as_pcap_parser_read_it() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dns-tcp.pcap");
        let pcap = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let linktype = u16::from_le_bytes([pcap[20], pcap[21]]);
        let records = pcap_records(&pcap);
        let (file, expected, packets) = sample_pcapng(&records, linktype);

        // The whole file reads as built: an oracle independent of both readers.
        let (frames, result) = via_read_ng_mapped(&file);
        let info = result.unwrap();
        assert_eq!((info.format, info.frames), ("pcapng", packets));
        assert_eq!(info.linktypes, vec![u32::from(linktype), 101]);
        let got: Expected = frames.iter().map(|f| (f.1, f.2, f.3.clone(), f.4)).collect();
        assert_eq!(got, expected);
        assert!(frames.windows(2).all(|w| w[0].0 < w[1].0), "frame numbers count every packet");

        // Every cut: inside the section header, the interface blocks, packet headers, packet data and
        // trailing lengths, in both sections.
        let mut reasons = std::collections::BTreeSet::new();
        for n in 0..=file.len() {
            reasons.insert(assert_ng_paths_agree(&file[..n], "cut"));
        }
        for reason in ["", "bad pcapng section header", "file ends inside a record (truncated)"] {
            assert!(reasons.iter().any(|r| r.contains(reason)), "{reason:?} not among {reasons:?}");
        }

        let (le, be) = (NgWriter { big_endian: false }, NgWriter { big_endian: true });
        // The end of the first interface block: damage placed there is read after two blocks.
        let idb_end = {
            let shb_len = u32::from_le_bytes([file[4], file[5], file[6], file[7]]) as usize;
            shb_len
                + u32::from_le_bytes([file[shb_len + 4], file[shb_len + 5], file[shb_len + 6], file[shb_len + 7]])
                    as usize
        };
        let insert = |block: &[u8]| [&file[..idb_end], block, &file[idb_end..]].concat();
        let mut odd: Vec<(&str, Vec<u8>)> = Vec::new();
        // Packets around and beyond both buffer sizes, and a capture length whose padding overflows.
        for caplen in
            [BUFFER_BYTES - 40, BUFFER_BYTES - 32, BUFFER_BYTES + 7, MAX_BUFFER_BYTES - 40, MAX_BUFFER_BYTES + 1]
        {
            odd.push(("large packet", insert(&le.epb(0, 5, &vec![0x45; caplen], caplen as u32, &[]))));
        }
        odd.push(("caplen u32::MAX", insert(&le.block(6, &le.epb_body(0, 5, u32::MAX, &[1, 2, 3, 4], 4)))));
        odd.push(("caplen beyond block", insert(&le.block(6, &le.epb_body(0, 5, 100, &[1, 2, 3, 4], 4)))));
        odd.push(("huge unknown block", insert(&le.block_with_lengths(0x0777, &[0; 16], 0x7fff_fff0, 28))));
        odd.push(("unknown block of 13 bytes", insert(&le.block_with_lengths(0x0777, &[0], 13, 13))));
        odd.push(("unknown block of 8 bytes", insert(&le.block_with_lengths(0x0777, &[], 8, 8))));
        odd.push(("unknown block of 0 bytes", insert(&le.block_with_lengths(0x0777, &[], 0, 0))));
        odd.push(("packet block of 28 bytes", insert(&le.block_with_lengths(6, &[0; 16], 28, 28))));
        let body = le.epb_body(0, 5, 1, &[9], 1);
        odd.push(("packet block of 33 bytes", insert(&le.block_with_lengths(6, &body, 33, 33))));
        odd.push(("trailing length differs", insert(&le.block_with_lengths(6, &body, 36, 40))));
        odd.push(("simple packet, trailing length differs", insert(&le.block_with_lengths(3, &[0; 8], 20, 24))));
        odd.push(("big-endian packet in a little-endian section", insert(&be.epb(0, 5, &[1; 20], 20, &[]))));
        let mut bad_bom = le.shb(&[]);
        bad_bom[8..12].copy_from_slice(&[1, 2, 3, 4]);
        odd.push(("second section with a bad byte-order mark", [file.as_slice(), &bad_bom].concat()));
        odd.push(("first section with a bad byte-order mark", [bad_bom.as_slice(), &file[28..]].concat()));
        // Section headers larger than the first buffer, first and second.
        let long_options: Vec<u8> = (0..5).flat_map(|_| le.option(1, &[b'x'; 65_532])).collect();
        let long_shb = le.shb(&long_options);
        odd.push(("first section header larger than the buffer", [long_shb.as_slice(), &file[28..]].concat()));
        odd.push(("second section header larger than the buffer", [file.as_slice(), &long_shb, &file].concat()));
        // Enough packets to refill the buffer many times, blocks straddling each refill.
        let mut long = file.clone();
        while long.len() < 3 * BUFFER_BYTES {
            long.extend_from_slice(&file[idb_end..]);
        }
        odd.push(("several buffers of packets", long));

        let mut too_large = 0;
        for (what, input) in &odd {
            let reason = assert_ng_paths_agree(input, what);
            too_large += usize::from(reason.contains("larger than the read buffer"));
            // Cuts inside the odd block's header, near the end of either buffer and of the file, and a
            // sparse stride (a cut of a large input costs milliseconds).
            let near = [(idb_end, 40), (BUFFER_BYTES, 12), (MAX_BUFFER_BYTES, 12), (input.len(), 12)]
                .into_iter()
                .flat_map(|(at, around)| at.saturating_sub(around)..at + around)
                .chain((0..input.len()).step_by(if input.len() < 1 << 16 { 13 } else { input.len() / 48 }));
            for n in near.filter(|&n| n < input.len()) {
                assert_ng_paths_agree(&input[..n], what);
            }
        }
        assert!(too_large >= 2, "records beyond the largest buffer are refused");
    }

    /// Mapped and streamed pcapng files agree through `read_frames_via`, on the sample capture and on
    /// every pcapng file in the shared corpus when it sits beside the checkout.
    #[test]
    fn pcapng_mapped_and_streamed_reads_agree() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let pcap = std::fs::read(root.join("fixtures/dns-tcp.pcap")).unwrap();
        let (sample, _, _) = sample_pcapng(&pcap_records(&pcap), u16::from_le_bytes([pcap[20], pcap[21]]));
        let tmp = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for (name, bytes) in [("sample.pcapng", &sample[..]), ("cut.pcapng", &sample[..sample.len() - 5])] {
            files.push(tmp.path().join(name));
            std::fs::write(tmp.path().join(name), bytes).unwrap();
        }
        match std::fs::read_dir(root.join("../shared/corpus/pcaps")) {
            Ok(dir) => files.extend(
                dir.map(|e| e.unwrap().path())
                    .filter(|p| std::fs::read(p).is_ok_and(|b| b.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]))),
            ),
            Err(e) => eprintln!("shared corpus not found ({e}): only the sample capture is compared"),
        }
        for file in &files {
            assert_reads_agree(file);
        }
    }

    /// Packets of many sizes across several mapping windows, blocks cut by each window's end (one of
    /// them nearly as large as the largest read buffer), and the file cut near a window's end or inside
    /// the large block: read mapped as read with `read(2)`.
    #[test]
    fn pcapng_mapped_windows_read_as_read_reads() {
        let le = NgWriter { big_endian: false };
        let window = super::super::mapped::WINDOW_BYTES as usize;
        let mut v = [le.shb(&[]), le.idb(1, &[])].concat();
        let (mut n, mut large_at) = (0u32, None);
        while v.len() < 2 * window + 300_000 {
            n += 1;
            let caplen = if large_at.is_none() && v.len() > window - (2 << 20) {
                large_at = Some(v.len());
                MAX_BUFFER_BYTES as u32 - 40
            } else {
                (n * 7919) % 70_000 + 1
            };
            let data: Vec<u8> = (0..caplen).map(|i| (i as u8) ^ (n as u8)).collect();
            let options = if n % 5 == 0 { [le.option(1, b"note"), le.option(0, b"")].concat() } else { vec![] };
            v.extend(le.epb(0, u64::from(n) * 1_000_003, &data, caplen + 3, &options));
        }
        let large_at = large_at.unwrap();
        assert!(large_at < window && large_at + MAX_BUFFER_BYTES > window, "the large block straddles a window");
        for cut in [v.len(), window + 5, large_at + (3 << 20), 2 * window - 3, 2 * window + 16, v.len() - 1] {
            let input = &v[..cut];
            let mapped = via_read_ng_mapped(input);
            assert!(mapped.0.len() > 100, "cut {cut}");
            assert_eq!(mapped, via_read_ng_stream(input), "cut {cut}");
        }
    }

    #[test]
    fn pcapng_ticks_convert_for_common_resolutions() {
        assert_eq!(ticks_to_nanos(1_500_000, 1_000_000, 0), 1_500_000_000);
        assert_eq!(ticks_to_nanos(1_500_000_000, 1_000_000_000, 0), 1_500_000_000);
        assert_eq!(ticks_to_nanos(3, 2, 10), 11_500_000_000);
        assert_eq!(ticks_per_second(6), 1_000_000);
        assert_eq!(ticks_per_second(9), 1_000_000_000);
        assert_eq!(ticks_per_second(0x80 | 20), 1 << 20);
        assert_eq!(ticks_per_second(0x80 | 99), 1_000_000);
    }
}
