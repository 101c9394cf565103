//! Canary search: a planted secret found in a request's path, header values or body, raw or encoded the
//! ways software usually re-encodes a token (base64 standard and URL-safe at any of the three byte
//! alignments, percent-encoding, hex).
//!
//! Base64 of a value embedded in a longer string depends on where the value starts modulo 3, so each
//! alignment yields its own needle: the characters whose 6 bits all come from the value. Percent-encoding
//! is handled by decoding the haystack instead, which catches any mix of escaped and literal characters.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use memchr::memmem;
use serde::Deserialize;

use super::log::CanaryHit;

/// Shortest needle searched: shorter ones would match by chance.
const MIN_NEEDLE: usize = 4;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Canary {
    pub id: String,
    pub value: String,
}

struct Needle {
    bytes: Vec<u8>,
    encoding: &'static str,
}

struct Compiled {
    id: String,
    needles: Vec<Needle>,
    raw: Vec<u8>,
}

/// Canaries with their encoded forms precomputed.
pub struct CanarySet {
    canaries: Vec<Compiled>,
}

/// Base64 characters of `value` that do not depend on the bytes around it, when it starts `align` bytes
/// after a multiple of 3 within the encoded data.
fn base64_aligned(value: &[u8], align: usize, engine: &impl Engine) -> Vec<u8> {
    let mut data = vec![0u8; align];
    data.extend_from_slice(value);
    let encoded = engine.encode(&data).into_bytes();
    let first = (8 * align).div_ceil(6);
    let last = (8 * (align + value.len())) / 6;
    if first >= last || last > encoded.len() {
        return Vec::new();
    }
    encoded[first..last].to_vec()
}

impl CanarySet {
    pub fn new(canaries: &[Canary]) -> CanarySet {
        let canaries = canaries
            .iter()
            .filter(|c| !c.value.is_empty())
            .map(|c| {
                let raw = c.value.as_bytes().to_vec();
                let mut needles = vec![Needle { bytes: raw.clone(), encoding: "raw" }];
                for align in 0..3 {
                    for (engine, encoding) in [(&STANDARD_NO_PAD, "base64"), (&URL_SAFE_NO_PAD, "base64url")] {
                        let bytes = base64_aligned(&raw, align, engine);
                        let dup = needles.iter().any(|n| n.bytes == bytes);
                        if bytes.len() >= MIN_NEEDLE && !dup {
                            needles.push(Needle { bytes, encoding });
                        }
                    }
                }
                let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
                needles.push(Needle { bytes: hex.to_ascii_uppercase().into_bytes(), encoding: "hex" });
                needles.push(Needle { bytes: hex.into_bytes(), encoding: "hex" });
                Compiled { id: c.id.clone(), needles, raw }
            })
            .collect();
        CanarySet { canaries }
    }

    pub fn is_empty(&self) -> bool {
        self.canaries.is_empty()
    }

    /// Appends a hit per canary and encoding found in `haystack`, tagged with `location`.
    pub fn scan(&self, haystack: &[u8], location: &str, hits: &mut Vec<CanaryHit>) {
        if self.canaries.is_empty() || haystack.is_empty() {
            return;
        }
        let decoded = percent_decode(haystack);
        for c in &self.canaries {
            let mut found_raw = false;
            for n in &c.needles {
                if n.bytes.len() <= haystack.len() && memmem::find(haystack, &n.bytes).is_some() {
                    found_raw |= n.encoding == "raw";
                    push(hits, &c.id, location, n.encoding);
                }
            }
            if !found_raw
                && let Some(d) = &decoded
                && memmem::find(d, &c.raw).is_some()
            {
                push(hits, &c.id, location, "percent");
            }
        }
    }
}

impl CanarySet {
    /// For host names, which clients and resolvers lowercase: the raw value and hex, case-insensitively.
    pub fn scan_name(&self, name: &[u8], location: &str, hits: &mut Vec<CanaryHit>) {
        if self.canaries.is_empty() || name.is_empty() {
            return;
        }
        let name = name.to_ascii_lowercase();
        for c in &self.canaries {
            let raw = c.raw.to_ascii_lowercase();
            if memmem::find(&name, &raw).is_some() {
                push(hits, &c.id, location, "raw");
            }
            let hex: String = c.raw.iter().map(|b| format!("{b:02x}")).collect();
            if memmem::find(&name, hex.as_bytes()).is_some() {
                push(hits, &c.id, location, "hex");
            }
        }
    }
}

fn push(hits: &mut Vec<CanaryHit>, id: &str, location: &str, encoding: &'static str) {
    if !hits.iter().any(|h| h.id == id && h.location == location && h.encoding == encoding) {
        hits.push(CanaryHit { id: id.to_string(), location: location.to_string(), encoding });
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The haystack with `%XX` escapes (and `+` as a space, as in form bodies) decoded; `None` when it has none.
fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    if !s.iter().any(|&b| b == b'%' || b == b'+') {
        return None;
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => match (s.get(i + 1).copied().and_then(hex_val), s.get(i + 2).copied().and_then(hex_val)) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(value: &str) -> CanarySet {
        CanarySet::new(&[Canary { id: "c".into(), value: value.into() }])
    }

    fn encodings(set: &CanarySet, hay: &[u8]) -> Vec<&'static str> {
        let mut hits = Vec::new();
        set.scan(hay, "body", &mut hits);
        hits.iter().map(|h| h.encoding).collect()
    }

    #[test]
    fn base64_found_at_every_alignment_with_both_alphabets() {
        // Bytes chosen so the standard and URL-safe alphabets differ (0xfb 0xff encode to + and /).
        let value = "sk-canary\u{fb}\u{ff}?>~secret";
        let s = set(value);
        for prefix in ["", "a", "ab", "abc", "abcd"] {
            let data = format!("{prefix}{value}tail");
            let std = STANDARD_NO_PAD.encode(&data);
            let url = URL_SAFE_NO_PAD.encode(&data);
            assert!(encodings(&s, std.as_bytes()).contains(&"base64"), "prefix {prefix:?}: {std}");
            assert!(encodings(&s, url.as_bytes()).contains(&"base64url"), "prefix {prefix:?}: {url}");
        }
    }

    #[test]
    fn percent_and_hex_and_raw() {
        let s = set("tok/en value");
        assert_eq!(encodings(&s, b"x=tok%2Fen%20value&y"), vec!["percent"]);
        assert_eq!(encodings(&s, b"x=tok%2fen+value"), vec!["percent"]);
        assert_eq!(encodings(&s, b"pre tok/en value post"), vec!["raw"]);
        let hex: String = "tok/en value".bytes().map(|b| format!("{b:02X}")).collect();
        assert_eq!(encodings(&s, hex.as_bytes()), vec!["hex"]);
    }

    #[test]
    fn names_match_whatever_their_case() {
        let s = set("Cnry-AB12");
        let mut hits = Vec::new();
        s.scan_name(b"cnry-ab12.example.test:443", "header::authority", &mut hits);
        s.scan_name(b"x.436e72792d41423132.test", "header::authority", &mut hits);
        let found: Vec<&str> = hits.iter().map(|h| h.encoding).collect();
        assert_eq!(found, ["raw", "hex"]);
    }

    #[test]
    fn no_false_hits_and_no_panic_on_edges() {
        let s = set("the-canary-value-123");
        assert!(encodings(&s, b"nothing to see here %").is_empty());
        assert!(encodings(&s, b"%").is_empty());
        assert!(encodings(&s, b"%4").is_empty());
        assert!(encodings(&s, b"").is_empty());
        assert!(set("").is_empty());
    }
}
