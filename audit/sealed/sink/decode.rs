//! Compressed request bodies (`Content-Encoding: gzip`, `deflate`, `zstd`), decoded with a bound on the
//! output, so the emulation reads the stream flag and the canary scan sees the plain bytes. A body that
//! does not decode is used as it came.

use std::io::Read;

/// The body decoded (at most `limit` bytes) and the encoding's name, or `None` when it is not an encoding
/// we decode or it does not decode.
pub fn decode(content_encoding: &str, body: &[u8], limit: usize) -> Option<(Vec<u8>, &'static str)> {
    let encoding = content_encoding.trim().to_ascii_lowercase();
    // Stacked encodings ("gzip, zstd") are rare in requests; only a single one is decoded.
    let (name, out): (&'static str, std::io::Result<Vec<u8>>) = match encoding.as_str() {
        "gzip" | "x-gzip" => ("gzip", read_bounded(flate2::read::MultiGzDecoder::new(body), limit)),
        // HTTP's "deflate" is zlib-wrapped, but some clients send raw deflate.
        "deflate" => (
            "deflate",
            read_bounded(flate2::read::ZlibDecoder::new(body), limit)
                .or_else(|_| read_bounded(flate2::read::DeflateDecoder::new(body), limit)),
        ),
        "zstd" => {
            let mut src = body;
            match ruzstd::decoding::StreamingDecoder::new(&mut src) {
                Ok(decoder) => ("zstd", read_bounded(decoder, limit)),
                Err(_) => return None,
            }
        }
        _ => return None,
    };
    out.ok().filter(|d| !d.is_empty()).map(|d| (d, name))
}

/// Reads at most `limit` bytes; a stream cut short by the limit (or by a truncated body) still yields
/// what decoded before.
fn read_bounded(reader: impl Read, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut take = reader.take(limit as u64);
    match take.read_to_end(&mut out) {
        Ok(_) => Ok(out),
        Err(e) if out.is_empty() => Err(e),
        Err(_) => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_deflate_and_zstd_decode() {
        let data = br#"{"model":"m","stream":true}"#;
        assert_eq!(decode("gzip", &gzip(data), 1 << 20), Some((data.to_vec(), "gzip")));
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(data).unwrap();
        assert_eq!(decode("Deflate", &z.finish().unwrap(), 1 << 20), Some((data.to_vec(), "deflate")));
        let zs = ruzstd::encoding::compress_to_vec(&data[..], ruzstd::encoding::CompressionLevel::Fastest);
        assert_eq!(decode("zstd", &zs, 1 << 20), Some((data.to_vec(), "zstd")));
    }

    #[test]
    fn bombs_are_cut_at_the_limit_and_garbage_is_refused() {
        let bomb = gzip(&vec![b'a'; 50 << 20]);
        assert!(bomb.len() < 1 << 20);
        let (out, _) = decode("gzip", &bomb, 4096).unwrap();
        assert_eq!(out.len(), 4096);
        let cut = &gzip(&vec![b'b'; 100_000])[..200];
        assert!(decode("gzip", cut, 1 << 20).is_some_and(|(d, _)| d.iter().all(|&b| b == b'b')));
        for enc in ["gzip", "deflate", "zstd", "br", "identity"] {
            assert!(decode(enc, b"\x28\xb5\x2f\xfd garbage that is not compressed", 1 << 20).is_none(), "{enc}");
            assert!(decode(enc, b"", 1 << 20).is_none());
        }
    }
}
