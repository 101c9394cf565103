//! HTTP/1.x requests: method, Host (or the authority of an absolute or CONNECT target), path.
//!
//! Only the request head is read; bodies are skipped by Content-Length. A request head larger than
//! [`MAX_HEAD`] is given up on rather than buffered.

/// [`crate::text::printable`], with text that needs no escaping (nearly all of it) copied at once.
fn printable(bytes: &[u8]) -> String {
    if bytes.iter().all(|&b| (0x20..0x7f).contains(&b) && b != b'\\')
        && let Ok(text) = std::str::from_utf8(bytes)
    {
        return text.to_owned();
    }
    crate::text::printable(bytes)
}

pub const MAX_HEAD: usize = 16 << 10;

const METHODS: [&[u8]; 9] =
    [b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"CONNECT ", b"PATCH ", b"TRACE "];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The Host header as sent (may carry `:port`); for CONNECT, the target authority.
    pub host: Option<String>,
    /// Path without the query string (queries often carry identifiers that a report should not copy).
    pub path: String,
    pub user_agent: Option<String>,
    /// Body bytes that follow the head, when Content-Length says so.
    pub body_len: usize,
    /// The body length is unknown (chunked or absent on a method with a body): the next request cannot
    /// be located by counting.
    pub body_unknown: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    NeedMore,
    NotHttp,
    /// The request and the length of its head in the stream.
    Request(Request, usize),
}

/// True when a payload starts with an HTTP/1.x request method and a space.
pub fn starts_like_request(p: &[u8]) -> bool {
    METHODS.iter().any(|m| p.starts_with(m))
}

/// Reads the request head at the start of a client's byte stream.
pub fn request(stream: &[u8]) -> Progress {
    if !starts_like_request(stream) {
        return if stream.len() < 8 && METHODS.iter().any(|m| m.starts_with(stream)) {
            Progress::NeedMore
        } else {
            Progress::NotHttp
        };
    }
    let window = &stream[..stream.len().min(MAX_HEAD)];
    let Some(end) = head_end(window) else {
        return if stream.len() >= MAX_HEAD { Progress::NotHttp } else { Progress::NeedMore };
    };
    let head = &stream[..end];
    let mut lines = lines(head).map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let Some(request_line) = lines.next() else { return Progress::NotHttp };
    let mut parts = request_line.splitn(3, |&b| b == b' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Progress::NotHttp;
    };
    if !version.starts_with(b"HTTP/") {
        return Progress::NotHttp;
    }
    let mut req = Request {
        method: printable(method),
        host: None,
        path: String::new(),
        user_agent: None,
        body_len: 0,
        body_unknown: false,
    };
    let mut chunked = false;
    let mut has_length = false;
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.eq_ignore_ascii_case(b"host") {
            req.host.get_or_insert_with(|| printable(value));
        } else if name.eq_ignore_ascii_case(b"user-agent") {
            req.user_agent.get_or_insert_with(|| printable(value));
        } else if name.eq_ignore_ascii_case(b"content-length") {
            has_length = true;
            req.body_len = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()).unwrap_or(0);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked = true;
        }
    }
    if method == b"CONNECT" {
        req.host = Some(printable(target));
        req.path = String::new();
    } else {
        let (authority, path) = split_target(target);
        if let Some(authority) = authority {
            req.host.get_or_insert_with(|| printable(authority));
        }
        let path = path.split(|&b| b == b'?').next().unwrap_or_default();
        req.path = printable(path);
    }
    req.body_unknown = chunked || (!has_length && matches!(method, b"POST" | b"PUT" | b"PATCH"));
    Progress::Request(req, end)
}

/// True while [`request`] would need more bytes because the head has not ended yet. The search
/// resumes where the previous call stopped (`scanned`): a head that arrives in many segments is
/// searched once, not once per segment. `scanned` goes back to 0 whenever the answer is false, as
/// [`request`] is called next and may consume the stream.
pub fn head_incomplete(stream: &[u8], scanned: &mut usize) -> bool {
    // A newline in the last two bytes searched could not be checked for the blank line after it.
    let from = scanned.saturating_sub(2).min(stream.len());
    let incomplete = stream.len() < MAX_HEAD && starts_like_request(stream) && head_end(&stream[from..]).is_none();
    *scanned = if incomplete { stream.len() } else { 0 };
    incomplete
}

/// Splits an absolute-form target (`http://host/path`, used towards proxies) into authority and path.
fn split_target(target: &[u8]) -> (Option<&[u8]>, &[u8]) {
    for scheme in [&b"http://"[..], b"https://"] {
        if target.len() > scheme.len() && target[..scheme.len()].eq_ignore_ascii_case(scheme) {
            let rest = &target[scheme.len()..];
            let slash = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
            let path = if slash < rest.len() { &rest[slash..] } else { b"/" };
            return (Some(&rest[..slash]), path);
        }
    }
    (None, target)
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |i| i + 1);
    &v[start..end]
}

/// The lines of `head` as `split` on `\n` gives them (the last one may be empty).
fn lines(mut rest: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        match find_newline(rest) {
            Some(i) => {
                let line = &rest[..i];
                rest = &rest[i + 1..];
                Some(line)
            }
            None => {
                done = true;
                Some(rest)
            }
        }
    })
}

/// Index of the first `\n`, eight bytes at a time: each request head is searched for line ends
/// twice, and heads with cookies run to kilobytes.
fn find_newline(hay: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut at = 0;
    for chunk in hay.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ (ONES * u64::from(b'\n'));
        // Some byte of `x` is zero (a newline in the chunk): find it below.
        if x.wrapping_sub(ONES) & !x & HIGHS != 0 {
            break;
        }
        at += 8;
    }
    hay[at..].iter().position(|&b| b == b'\n').map(|i| at + i)
}

/// Length of the request head: up to the first empty line (CRLF CRLF, or bare LF LF).
fn head_end(window: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = find_newline(&window[from..]) {
        let nl = from + i;
        if window.get(nl + 1) == Some(&b'\n') {
            return Some(nl + 2);
        }
        if window.get(nl + 1..nl + 3) == Some(b"\r\n") {
            return Some(nl + 3);
        }
        from = nl + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_path_and_agent() {
        let s = b"POST /api/event_logging/batch?x=1 HTTP/1.1\r\nHost: api.anthropic.com\r\nUser-Agent: claude-cli/2.0\r\nContent-Length: 5\r\n\r\nhello";
        let Progress::Request(r, head) = request(s) else { panic!("no request") };
        assert_eq!(r.host.as_deref(), Some("api.anthropic.com"));
        assert_eq!(r.path, "/api/event_logging/batch");
        assert_eq!(r.user_agent.as_deref(), Some("claude-cli/2.0"));
        assert_eq!((head + r.body_len, r.body_unknown), (s.len(), false));
    }

    #[test]
    fn connect_is_named_by_its_target() {
        let s = b"CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n\r\n";
        let Progress::Request(r, _) = request(s) else { panic!("no request") };
        assert_eq!((r.method.as_str(), r.host.as_deref()), ("CONNECT", Some("api.openai.com:443")));
    }

    #[test]
    fn newlines_and_lines_as_the_slice_methods_find_them() {
        for len in 0..40usize {
            for nl in [None, Some(0), Some(len / 2), Some(len.saturating_sub(1))] {
                let mut hay: Vec<u8> = (0..len).map(|i| b"a\x0b\x8a\r\x09\xff\x8b"[i % 7]).collect();
                for at in nl.into_iter().chain((len % 2 == 0).then_some(len * 3 / 4)).filter(|&at| at < len) {
                    hay[at] = b'\n';
                }
                assert_eq!(find_newline(&hay), hay.iter().position(|&b| b == b'\n'), "{hay:?}");
                let ours: Vec<&[u8]> = lines(&hay).collect();
                let split: Vec<&[u8]> = hay.split(|&b| b == b'\n').collect();
                assert_eq!(ours, split);
            }
        }
    }

    #[test]
    fn head_search_resumes_across_segments() {
        let head = b"GET /x HTTP/1.1\r\nHost: a.example\r\nUser-Agent: u\r\n\r\nrest";
        // Every split point, including inside the CR LF CR LF, gives the same answer as `request`.
        for cut in 1..head.len() {
            let mut scanned = 0;
            let mut seen = Vec::new();
            for part in [&head[..cut], &head[cut..]] {
                seen.extend_from_slice(part);
                let incomplete = head_incomplete(&seen, &mut scanned);
                assert_eq!(incomplete, request(&seen) == Progress::NeedMore && seen.len() >= 4, "cut {cut}");
            }
            assert_eq!(scanned, 0, "cut {cut}");
        }
        let mut scanned = 0;
        let mut seen = b"POST /a HTTP/1.1\r\n".to_vec();
        for _ in 0..100 {
            seen.extend_from_slice(b"X-Pad: 0123456789\r\n");
            assert!(head_incomplete(&seen, &mut scanned));
            assert_eq!(scanned, seen.len());
        }
        seen.extend_from_slice(b"\n");
        assert!(!head_incomplete(&seen, &mut scanned));
        assert!(matches!(request(&seen), Progress::Request(..)));
    }

    #[test]
    fn head_split_over_segments_needs_more() {
        let s = b"GET / HTTP/1.1\r\nHost: a.example\r\n";
        assert_eq!(request(s), Progress::NeedMore);
        assert_eq!(request(b"GE"), Progress::NeedMore);
        assert_eq!(request(b"SSH-2.0-OpenSSH"), Progress::NotHttp);
    }
}
