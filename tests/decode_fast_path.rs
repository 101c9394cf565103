//! The decoder's fast path for common packets (`ip::parse_common`) must give exactly what the general
//! path gives: every field of every packet, on real frames (every fixture capture, and the shared
//! corpus when it sits beside the checkout), on those frames damaged (byte flips, inserts, deletes,
//! truncation) and on arbitrary bytes.

use egress_audit::decode::ip::{self, Parsed};
use egress_audit::decode::{Decoder, Packet, link};
use egress_audit::source::Frame;
use egress_audit::source::file::read_frames;
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

#[path = "support/mutate.rs"]
mod support;
use support::{Mutation, mutate};

/// Proptest settings: no regression files are written next to this source (the tree is shared).
fn cfg(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

struct RealFrame {
    linktype: u32,
    data: Vec<u8>,
}

fn captures_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            captures_under(&path, out);
        } else if path.extension().is_some_and(|e| e == "pcap" || e == "pcapng") {
            out.push(path);
        }
    }
}

/// Every frame of every fixture capture (and of the shared corpus, if present), read once.
fn real_frames() -> &'static [RealFrame] {
    static FRAMES: OnceLock<Vec<RealFrame>> = OnceLock::new();
    FRAMES.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        captures_under(&root.join("fixtures"), &mut files);
        captures_under(&root.join("../shared/corpus/pcaps"), &mut files);
        files.sort();
        let mut frames = Vec::new();
        for f in &files {
            // Damaged captures in the corpus still deliver the frames before the damage.
            let _ = read_frames(f, &mut |fr| frames.push(RealFrame { linktype: fr.linktype, data: fr.data.to_vec() }));
        }
        assert!(frames.len() > 1000, "fixtures hold too few frames: {}", frames.len());
        frames
    })
}

/// Both paths agree on one IP packet. Returns whether the fast path answered.
fn same_ip(bytes: &[u8]) -> Result<bool, TestCaseError> {
    let Some(fast) = ip::parse_common(bytes) else { return Ok(false) };
    let general = match ip::parse(bytes) {
        Some(Parsed::Packet(p)) => p,
        Some(Parsed::Fragment(_)) => {
            return Err(TestCaseError::fail(format!("fast path read a fragment: {bytes:02x?}")));
        }
        None => return Err(TestCaseError::fail(format!("fast path read what the general path refuses: {bytes:02x?}"))),
    };
    same_packet(&fast, &general, bytes)?;
    Ok(true)
}

/// Equal fields, and the payload is the same slice of the input (not just equal bytes).
fn same_packet(fast: &Packet<'_>, general: &Packet<'_>, input: &[u8]) -> Result<(), TestCaseError> {
    prop_assert_eq!(fast, general, "input {:02x?}", input);
    let within = |p: &Packet<'_>| input.as_ptr_range().contains(&p.payload.as_ptr());
    if within(general) || within(fast) {
        prop_assert_eq!(fast.payload.as_ptr(), general.payload.as_ptr(), "payload offset differs: {:02x?}", input);
    }
    Ok(())
}

/// Both decoders (fast and general) agree on a sequence of frames, fragments included, and on the
/// counter the decoder keeps. Returns how many frames the fast path could have taken.
fn same_decoding<'a>(frames: impl Iterator<Item = (u32, &'a [u8])>) -> Result<usize, TestCaseError> {
    let (mut fast, mut general) = (Decoder::default(), Decoder::default());
    let mut common = 0;
    for (i, (linktype, data)) in frames.enumerate() {
        let frame =
            Frame { number: i as u64 + 1, ts: i as i64 * 1_000_000, linktype, data, orig_len: data.len() as u32 };
        if let Some(ip_bytes) = link::ip_payload(linktype, data) {
            common += usize::from(same_ip(ip_bytes)?);
        }
        let a = fast.decode(&frame);
        let b = general.decode_general(&frame);
        match (&a, &b) {
            (Some(a), Some(b)) => same_packet(a, b, data)?,
            (None, None) => {}
            _ => prop_assert!(false, "frame {}: fast {:?} general {:?}", i + 1, a, b),
        }
    }
    prop_assert_eq!(fast.incomplete_fragments(), general.incomplete_fragments());
    Ok(common)
}

#[test]
fn real_frames_decode_the_same_both_ways() {
    let frames = real_frames();
    let common = same_decoding(frames.iter().map(|f| (f.linktype, &f.data[..]))).unwrap_or_else(|e| panic!("{e}"));
    // The comparison must exercise the fast path, not just the fallback.
    assert!(common * 2 > frames.len(), "fast path took only {common} of {} frames", frames.len());
}

/// Edits whose positions fall near the front (the headers) more often than a uniform draw would.
fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    let position = prop_oneof![0usize..80, any::<usize>()];
    prop::collection::vec((0u8..4, position, any::<u8>()), 1..8)
}

/// Link types the decoder reads, to wrap arbitrary bytes in.
const LINKTYPES: [u32; 13] = [0, 1, 9, 12, 14, 50, 101, 108, 113, 228, 229, 239, 276];

proptest! {
    #![proptest_config(cfg(2048))]

    #[test]
    fn mutated_real_frames_decode_the_same_both_ways(
        which in any::<prop::sample::Index>(),
        edits in mutations(),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let frames = real_frames();
        let base = which.get(frames);
        let damaged = mutate(&base.data, &edits, cut);
        same_decoding(std::iter::once((base.linktype, &damaged[..])))?;
    }

    #[test]
    fn runs_of_mutated_real_frames_decode_the_same_both_ways(
        start in any::<prop::sample::Index>(),
        edits in prop::collection::vec((mutations(), proptest::option::of(any::<usize>())), 1..24),
    ) {
        let frames = real_frames();
        let first = start.index(frames.len());
        let damaged: Vec<(u32, Vec<u8>)> = frames[first..]
            .iter()
            .zip(&edits)
            .map(|(f, (e, cut))| (f.linktype, mutate(&f.data, e, *cut)))
            .collect();
        same_decoding(damaged.iter().map(|(lt, d)| (*lt, &d[..])))?;
    }

    #[test]
    fn arbitrary_ip_bytes_decode_the_same_both_ways(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        same_ip(&bytes)?;
    }

    #[test]
    fn arbitrary_headers_behind_a_version_nibble_decode_the_same_both_ways(
        first in prop::sample::select(&[0x45u8, 0x46, 0x4f, 0x44, 0x40, 0x60, 0x6f][..]),
        proto in prop::sample::select(&[6u8, 17, 0, 4, 41, 44, 47, 51, 60][..]),
        mut bytes in prop::collection::vec(any::<u8>(), 0..120),
        cut in any::<usize>(),
    ) {
        // Put the protocol where each version keeps it, so TCP/UDP headers get past the first check.
        let at = if first >> 4 == 4 { 8 } else { 5 };
        if bytes.len() > at {
            bytes[at] = proto;
        }
        let mut input = vec![first];
        input.extend_from_slice(&bytes);
        input.truncate(cut % (input.len() + 1));
        same_ip(&input)?;
    }

    #[test]
    fn built_packets_with_edge_values_decode_the_same_both_ways(
        v6 in any::<bool>(),
        proto in prop::sample::select(&[6u8, 17, 6, 17, 0, 4, 41, 44, 47, 51, 60][..]),
        ihl in prop_oneof![Just(5u8), 0u8..16],
        ip_len in length_choice(),
        fragment in prop::sample::select(&[0u16, 0, 0x4000, 0x8000, 0x2000, 0x0001, 0x1fff, 0x6000][..]),
        ports in (prop_oneof![Just(4789u16), any::<u16>()], prop_oneof![Just(4789u16), Just(443), any::<u16>()]),
        tcp_offset in prop_oneof![Just(5u8), 0u8..16],
        udp_len in length_choice(),
        payload in prop::collection::vec(any::<u8>(), 0..64),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let bytes = build(v6, proto, ihl, ip_len, fragment, ports, tcp_offset, udp_len, &payload, cut);
        same_ip(&bytes)?;
    }

    #[test]
    fn arbitrary_frames_decode_the_same_both_ways(
        linktype in prop::sample::select(&LINKTYPES[..]),
        bytes in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        same_decoding(std::iter::once((linktype, &bytes[..])))?;
    }
}

#[test]
fn vxlan_and_fragments_are_left_to_the_general_path() {
    // UDP to 4789 carrying a VXLAN header and an inner Ethernet/IPv4/UDP packet.
    let inner_ip =
        [0x45, 0, 0, 29, 0, 0, 0, 0, 64, 17, 0, 0, 192, 168, 0, 1, 192, 168, 0, 2, 0x12, 0x34, 0, 53, 0, 9, 0, 0, 0x61];
    let mut vxlan = vec![0x30, 0x39, 0x12, 0xb5, 0, 0, 0, 0, 0x08, 0, 0, 0, 0, 0, 1, 0];
    vxlan.extend_from_slice(&[0u8; 12]);
    vxlan.extend_from_slice(&[0x08, 0x00]);
    vxlan.extend_from_slice(&inner_ip);
    let total = (20 + vxlan.len()) as u16;
    let mut outer = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
    outer[2..4].copy_from_slice(&total.to_be_bytes());
    outer.extend_from_slice(&vxlan);
    assert!(ip::parse_common(&outer).is_none());
    let mut d = Decoder::default();
    let p = d.decode_ip(0, &outer).unwrap_or_else(|| panic!("VXLAN not followed"));
    assert_eq!((p.dst_port, p.payload), (53, &b"a"[..]));

    // The first fragment of a datagram (more-fragments set) is the general path's too.
    let mut first = outer.clone();
    first[6] = 0x20;
    assert!(ip::parse_common(&first).is_none());
    assert!(d.decode_ip(0, &first).is_none());
}

/// How a length field is filled: (kind, amount). Kinds: 0 zero, 1 exact, 2 short by amount, 3 long by
/// amount, else the amount itself.
type LengthChoice = (u8, u16);

fn length_choice() -> impl Strategy<Value = LengthChoice> {
    (0u8..5, prop_oneof![0u16..48, any::<u16>()])
}

fn length_field(choice: LengthChoice, exact: usize) -> [u8; 2] {
    let exact = exact as u16;
    let v = match choice.0 {
        0 => 0,
        1 => exact,
        2 => exact.wrapping_sub(choice.1),
        3 => exact.wrapping_add(choice.1),
        _ => choice.1,
    };
    v.to_be_bytes()
}

/// An IP packet whose header fields are set to the given (often wrong) values.
#[allow(clippy::too_many_arguments)]
fn build(
    v6: bool,
    proto: u8,
    ihl: u8,
    ip_len: LengthChoice,
    fragment: u16,
    (sport, dport): (u16, u16),
    tcp_offset: u8,
    udp_len: LengthChoice,
    payload: &[u8],
    cut: Option<usize>,
) -> Vec<u8> {
    let mut l4 = Vec::new();
    l4.extend_from_slice(&sport.to_be_bytes());
    l4.extend_from_slice(&dport.to_be_bytes());
    if proto == 17 {
        l4.extend_from_slice(&length_field(udp_len, 8 + payload.len()));
        l4.extend_from_slice(&[0, 0]);
    } else {
        l4.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2, tcp_offset << 4, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
        l4.resize(usize::from(tcp_offset.max(5)) * 4, 1); // options
    }
    l4.extend_from_slice(payload);
    let mut v = if v6 {
        let mut h = vec![0x60, 0, 0, 0];
        h.extend_from_slice(&length_field(ip_len, l4.len()));
        h.extend_from_slice(&[proto, 64]);
        h.extend((0..32).map(|i| i as u8));
        h
    } else {
        let header_len = usize::from(ihl.max(5)) * 4;
        let mut h = vec![0x40 | ihl, 0];
        h.extend_from_slice(&length_field(ip_len, header_len + l4.len()));
        h.extend_from_slice(&[0, 7]);
        h.extend_from_slice(&fragment.to_be_bytes());
        h.extend_from_slice(&[64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        h.resize(header_len, 1); // options
        h
    };
    v.extend_from_slice(&l4);
    if let Some(c) = cut {
        v.truncate(c % (v.len() + 1));
    }
    v
}
