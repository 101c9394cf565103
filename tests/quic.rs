//! QUIC Initial decoding: hostile input never panics and never grows state beyond the caps; a
//! hello split and shuffled across Initials is always recovered; and the binary names a QUIC flow
//! by its SNI with `host_source: "quic"` (on a capture built here, and on the corpus when present).

use egress_audit::dissect::quic::{
    self, Assembler, MAX_CLIENT_DATAGRAMS, MAX_CRYPTO, MAX_DATAGRAMS, MAX_FRAGMENTS, Progress, VERSION_1, VERSION_2,
    protect_client_initial,
};
use proptest::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Remembered DCIDs per flow (the assembler's private bound, checked from outside).
const MAX_KEY_SETS: usize = 4;

/// A TLS 1.3-style ClientHello handshake message (no record layer) with SNI and ALPN.
fn hello_message(sni: &str, alpn: &[&str]) -> Vec<u8> {
    let mut exts = Vec::new();
    let name = sni.as_bytes();
    exts.extend_from_slice(&[0, 0]);
    exts.extend_from_slice(&(name.len() as u16 + 5).to_be_bytes());
    exts.extend_from_slice(&(name.len() as u16 + 3).to_be_bytes());
    exts.push(0);
    exts.extend_from_slice(&(name.len() as u16).to_be_bytes());
    exts.extend_from_slice(name);
    let mut list = Vec::new();
    for p in alpn {
        list.push(p.len() as u8);
        list.extend_from_slice(p.as_bytes());
    }
    exts.extend_from_slice(&[0, 16]);
    exts.extend_from_slice(&(list.len() as u16 + 2).to_be_bytes());
    exts.extend_from_slice(&(list.len() as u16).to_be_bytes());
    exts.extend_from_slice(&list);
    // quic_transport_parameters (57), as a QUIC client sends it.
    exts.extend_from_slice(&[0, 57, 0, 4, 0x01, 0x02, 0x40, 0x64]);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[0x42; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 2, 0x13, 0x01, 1, 0]);
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut msg = vec![1];
    msg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    msg.extend_from_slice(&body);
    msg
}

fn crypto_frame(offset: usize, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0x06];
    f.extend_from_slice(&(0x8000_0000u32 | offset as u32).to_be_bytes());
    f.extend_from_slice(&(0x4000u16 | data.len() as u16).to_be_bytes());
    f.extend_from_slice(data);
    f
}

/// A client Initial carrying `frames`, padded to the 1200-byte datagram minimum.
fn initial(version: u32, dcid: &[u8], pn: u32, mut frames: Vec<u8>) -> Vec<u8> {
    frames.resize(frames.len().max(1162), 0);
    protect_client_initial(version, dcid, b"scid", pn, &frames).unwrap_or_else(|| panic!("cannot build an Initial"))
}

/// Checks the bounds after every datagram.
fn feed(asm: &mut Assembler, datagram: &[u8]) -> Progress {
    let p = asm.datagram(datagram);
    assert!(asm.held_bytes() <= MAX_CRYPTO, "held {} bytes", asm.held_bytes());
    assert!(asm.fragments() <= MAX_FRAGMENTS, "{} fragments", asm.fragments());
    assert!(asm.key_sets() <= MAX_KEY_SETS, "{} key sets", asm.key_sets());
    p
}

/// Feeds datagrams as the flow would: stops at the first result other than NeedMore, and never
/// reads more long-header datagrams than the budget.
fn run(datagrams: &[Vec<u8>]) -> Progress {
    let mut asm = Assembler::new();
    let mut long = 0;
    for d in datagrams {
        long += u32::from(d.first().is_some_and(|b| b & 0x80 != 0));
        match feed(&mut asm, d) {
            Progress::NeedMore => assert!(long < MAX_DATAGRAMS, "budget not enforced"),
            done => return done,
        }
    }
    Progress::NeedMore
}

/// A valid Initial's bytes, for mutation.
fn seeds() -> Vec<Vec<u8>> {
    let msg = hello_message("api.anthropic.com", &["h3"]);
    let (a, b) = msg.split_at(50);
    let mut two = crypto_frame(50, b);
    two.extend_from_slice(&[0x01, 0x02, 0x00, 0x00, 0x00, 0x00]);
    two.extend(crypto_frame(0, a));
    vec![initial(VERSION_1, &[1; 8], 0, crypto_frame(0, &msg)), initial(VERSION_2, &[2; 20], 7, two)]
}

fn arb_version() -> impl Strategy<Value = u32> {
    prop_oneof![Just(VERSION_1), Just(VERSION_2), Just(quic::DRAFT_29), Just(quic::DRAFT_28)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary datagrams, raw or behind a plausible long header of a known version.
    #[test]
    fn arbitrary_bytes_never_panic(
        datagrams in prop::collection::vec(
            (any::<bool>(), arb_version(), prop::collection::vec(any::<u8>(), 0..1500)), 1..40),
    ) {
        let datagrams: Vec<Vec<u8>> = datagrams
            .into_iter()
            .map(|(header, version, body)| {
                if !header {
                    return body;
                }
                let mut d = vec![0xc0];
                d.extend_from_slice(&version.to_be_bytes());
                d.extend(body);
                d
            })
            .collect();
        run(&datagrams);
    }

    /// Valid Initials with bytes flipped, cut short, extended or coalesced with copies of themselves.
    #[test]
    fn mutated_initials_never_panic(
        seed in 0usize..2,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
        tail in prop::collection::vec(any::<u8>(), 0..64),
        copies in 1usize..4,
    ) {
        let mut d = seeds().swap_remove(seed);
        for (at, x) in flips {
            let i = at.index(d.len());
            d[i] ^= x;
        }
        if truncate {
            d.truncate(cut.index(d.len() + 1));
        }
        d.extend(tail);
        let coalesced = d.repeat(copies);
        run(&[d, coalesced]);
    }

    /// Authenticated Initials whose decrypted frames are arbitrary: the frame parser and the
    /// reassembly see hostile content past the AES-GCM check.
    #[test]
    fn authenticated_garbage_frames_stay_bounded(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..1400), 1..24),
        dcid in prop::collection::vec(any::<u8>(), 0..=20),
        version in arb_version(),
    ) {
        let datagrams: Vec<Vec<u8>> = payloads
            .into_iter()
            .enumerate()
            .map(|(pn, p)| protect_client_initial(version, &dcid, b"", pn as u32, &p).expect("valid parameters"))
            .collect();
        run(&datagrams);
    }

    /// CRYPTO frames at arbitrary offsets and lengths (up to 2^62) in authenticated Initials.
    #[test]
    fn crypto_frames_anywhere_stay_bounded(
        frames in prop::collection::vec((0u64..(1 << 62), 0usize..1200, any::<u8>()), 1..60),
    ) {
        let mut datagrams = Vec::new();
        for (pn, chunk) in frames.chunks(4).enumerate() {
            let mut payload = Vec::new();
            for &(offset, len, fill) in chunk {
                payload.push(0x06);
                payload.extend_from_slice(&(0xc000_0000_0000_0000 | offset).to_be_bytes());
                payload.extend_from_slice(&(0x4000u16 | len as u16).to_be_bytes());
                payload.extend(std::iter::repeat_n(fill, len));
            }
            datagrams.push(initial(VERSION_1, &[3; 8], pn as u32, payload));
        }
        run(&datagrams);
    }

    /// A hello cut at random points, its pieces plus a few overlapping retransmissions shuffled across
    /// packets and datagrams (several Initials coalesced in one) with PING/PADDING between, is always
    /// read whole.
    #[test]
    fn split_and_shuffled_hello_is_recovered(
        name in "[a-z]{1,20}(\\.[a-z]{1,10}){1,3}",
        cuts in prop::collection::btree_set(1usize..200, 0..12),
        order in any::<u64>(),
        per_packet in 1usize..5,
        version in arb_version(),
        retransmitted in prop::collection::vec((0usize..300, 1usize..80), 0..4),
    ) {
        let msg = hello_message(&name, &["h3"]);
        let mut bounds: Vec<usize> = cuts.into_iter().filter(|&c| c < msg.len()).collect();
        bounds.insert(0, 0);
        bounds.push(msg.len());
        let mut pieces: Vec<(usize, &[u8])> = bounds.windows(2).map(|w| (w[0], &msg[w[0]..w[1]])).collect();
        for (from, len) in retransmitted {
            if from < msg.len() {
                pieces.push((from, &msg[from..(from + len).min(msg.len())]));
            }
        }
        // Deterministic shuffle from the drawn seed.
        let mut state = order | 1;
        for i in (1..pieces.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            pieces.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let dcid = [0x5a; 8];
        let packets: Vec<Vec<u8>> = pieces
            .chunks(per_packet)
            .enumerate()
            .map(|(pn, chunk)| {
                let mut frames = Vec::new();
                for (offset, data) in chunk {
                    frames.extend_from_slice(&[0x01, 0x00]);
                    frames.extend(crypto_frame(*offset, data));
                }
                let mut f = frames;
                f.resize(f.len().max(100), 0);
                protect_client_initial(version, &dcid, b"", pn as u32, &f).expect("valid parameters")
            })
            .collect();
        // Two packets per datagram where there are several: coalesced Initials.
        let datagrams: Vec<Vec<u8>> = packets.chunks(2).map(|c| c.concat()).collect();
        prop_assume!(datagrams.len() < MAX_CLIENT_DATAGRAMS as usize);
        let Progress::Hello(h) = run(&datagrams) else {
            return Err(TestCaseError::fail("hello not recovered"));
        };
        prop_assert_eq!(h.sni.as_deref(), Some(name.as_str()));
        prop_assert_eq!(h.alpn, vec!["h3".to_string()]);
    }
}

#[test]
fn out_of_budget_gives_up() {
    let mut asm = Assembler::new();
    let junk = [0xc0, 0, 0, 0, 1, 0, 0];
    for _ in 1..MAX_DATAGRAMS {
        assert_eq!(feed(&mut asm, &junk), Progress::NeedMore);
    }
    assert_eq!(feed(&mut asm, &junk), Progress::GiveUp);
    // Short-header datagrams are not QUIC Initials and cost nothing.
    let mut asm = Assembler::new();
    for _ in 0..1000 {
        assert_eq!(feed(&mut asm, &[0x40, 1, 2, 3]), Progress::NeedMore);
    }
}

// ---- through the binary ----

fn egress_audit_json(file: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_egress-audit"))
        .args(["replay", &file.to_string_lossy(), "--format", "json"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run: {e}"));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn validate(report: &Value) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("reports/egress-audit-report.v1.schema.json")).unwrap_or_default();
    let schema: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("schema does not compile: {e}"));
    let errors: Vec<String> = validator.iter_errors(report).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "report does not match its schema:\n{}", errors.join("\n"));
}

fn udp_flows(report: &Value) -> Vec<&Value> {
    report["flows"].as_array().into_iter().flatten().filter(|f| f["proto"] == "udp").collect()
}

/// Ethernet + IPv4 + UDP frames in a classic pcap.
/// (source address, source port, destination address, destination port, UDP payload).
type Datagram = ([u8; 4], u16, [u8; 4], u16, Vec<u8>);

fn write_pcap(path: &Path, datagrams: &[Datagram]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, (src, sport, dst, dport, payload)) in datagrams.iter().enumerate() {
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&((20 + 8 + payload.len()) as u16).to_be_bytes());
        ip.extend_from_slice(&[0, i as u8, 0x40, 0, 64, 17, 0, 0]);
        ip.extend_from_slice(src);
        ip.extend_from_slice(dst);
        let sum = ip.chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))).sum::<u32>();
        let sum = !((sum & 0xffff) + (sum >> 16)) as u16;
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        ip.extend_from_slice(&sport.to_be_bytes());
        ip.extend_from_slice(&dport.to_be_bytes());
        ip.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0]);
        ip.extend_from_slice(payload);
        let mut frame = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
        frame.extend(ip);
        out.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend(frame);
    }
    std::fs::write(path, out).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// A hello split over two Initials sent second-part-first, on a non-standard port, with a server
/// Initial-looking answer in between: the flow is QUIC, named by its SNI.
#[test]
fn binary_names_a_built_quic_flow_by_sni() {
    let msg = hello_message("statsig.anthropic.com", &["h3"]);
    let (a, b) = msg.split_at(60);
    let dcid = [0x11; 8];
    let second = initial(VERSION_1, &dcid, 1, crypto_frame(60, b));
    let first = initial(VERSION_1, &dcid, 0, crypto_frame(0, a));
    let server_like = initial(VERSION_1, b"scid", 0, vec![0x02, 0, 0, 0, 0]);
    let (client, server) = ([192, 0, 2, 10], [198, 51, 100, 7]);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("quic-split.pcap");
    write_pcap(
        &path,
        &[
            (client, 50123, server, 4433, second),
            (server, 4433, client, 50123, server_like),
            (client, 50123, server, 4433, first),
        ],
    );
    let report = egress_audit_json(&path);
    validate(&report);
    let flows = udp_flows(&report);
    assert_eq!(flows.len(), 1, "{report}");
    let f = flows[0];
    assert_eq!(f["app_protocol"], "quic");
    assert_eq!(f["host_source"], "quic");
    assert_eq!(f["host"], "statsig.anthropic.com");
    assert_eq!(f["sni"], "statsig.anthropic.com");
    assert_eq!(f["alpn"], serde_json::json!(["h3"]));
    assert_eq!(f["verdict"], "violation", "a telemetry host over QUIC is judged like over TLS");
}

fn corpus_file(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/pcaps").join(name);
    p.is_file().then_some(p)
}

#[test]
fn binary_names_corpus_quic_flows() {
    let cases = [
        ("zeek__quic__chromium-dpd-custom-port-4433.pcap", "api.cirrus-ci.com", "110.213.53.115:4433"),
        ("sv__quic-retry__input.pcap", "www.gravatar.com", "192.0.73.2:443"),
        ("zeek__quic__quicv2-echo-443.pcap", "localhost", ""),
    ];
    let mut ran = 0;
    for (file, sni, dst) in cases {
        let Some(path) = corpus_file(file) else { continue };
        ran += 1;
        let report = egress_audit_json(&path);
        validate(&report);
        let named: Vec<_> = udp_flows(&report).into_iter().filter(|f| f["sni"] == sni).collect();
        assert_eq!(named.len(), 1, "{file}: {report}");
        let f = named[0];
        assert_eq!(f["app_protocol"], "quic", "{file}");
        assert_eq!(f["host_source"], "quic", "{file}");
        assert_eq!(f["host"], sni, "{file}");
        if !dst.is_empty() {
            assert_eq!(f["dst"], dst);
        }
        let by = &report["summary"]["named_by"]["quic"]["flows"];
        assert!(by.as_u64().is_some_and(|n| n >= 1), "{file}: summary.named_by.quic = {by}");
    }
    if ran == 0 {
        eprintln!("../shared/corpus not present; skipping");
    }
    // 49 QUIC flows named in Chrome's shuffled-CRYPTO capture.
    if let Some(path) = corpus_file("ndpi__quic_frags_ch_out_of_order_same_packet_craziness.pcapng") {
        let report = egress_audit_json(&path);
        let names: std::collections::BTreeSet<String> = udp_flows(&report)
            .into_iter()
            .filter(|f| f["host_source"] == "quic")
            .filter_map(|f| f["sni"].as_str().map(str::to_string))
            .collect();
        assert_eq!(names.len(), 49);
    }
}
