//! Making packet-derived bytes safe to print.
//!
//! Names, SNIs and headers come from hostile input. Anything that is not printable ASCII is written
//! as `\xNN`, so no escape sequence reaches a terminal or a CI log, and the report stays plain UTF-8.

/// Renders bytes as printable ASCII, escaping everything else (and the backslash) as `\xNN`.
pub fn printable(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        push_printable(&mut out, b);
    }
    out
}

/// Escapes control and non-ASCII characters of a string that may already hold packet text.
/// Backslashes are kept, so text escaped once (`\\x1b`, DNS `\\027`) is not escaped twice.
pub fn printable_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b == b'\\' {
            out.push('\\');
        } else {
            push_printable(&mut out, b);
        }
    }
    out
}

fn push_printable(out: &mut String, b: u8) {
    if (0x20..0x7f).contains(&b) && b != b'\\' {
        out.push(b as char);
    } else {
        out.push_str(&format!("\\x{b:02x}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_defused() {
        assert_eq!(printable(b"a\x1b[31mb"), "a\\x1b[31mb");
        assert_eq!(printable_str("ok.example"), "ok.example");
        assert_eq!(printable_str("é"), "\\xc3\\xa9");
        assert_eq!(printable_str("a\\027b"), "a\\027b");
    }
}
