//! JSON with comments (JSONC), as VS Code, Gemini CLI and Claude Code settings files allow it.
//!
//! Comments and trailing commas are blanked out (replaced by spaces, newlines kept) so that
//! `serde_json` reports errors at the line and column of the original file.

/// Parses JSONC: `//` and `/* */` comments, trailing commas before `}` or `]`, a leading BOM.
pub fn parse(text: &str) -> Result<serde_json::Value, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let blanked = blank_trailing_commas(&blank_comments(text)?);
    serde_json::from_str(&blanked).map_err(|e| ParseError {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

/// Where and why a settings file did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Replaces comments by spaces outside strings; an unterminated block comment is an error.
fn blank_comments(text: &str) -> Result<String, ParseError> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let (mut line, mut column) = (1usize, 0usize);
    let mut in_string = false;
    while let Some(c) = chars.next() {
        column += 1;
        if c == '\n' {
            line += 1;
            column = 0;
        }
        if in_string {
            out.push(c);
            if c == '\\' {
                if let Some(next) = chars.next() {
                    column += 1;
                    out.push(next);
                }
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                out.push(' ');
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        line += 1;
                        column = 0;
                        break;
                    }
                    out.push(' ');
                }
            }
            ('/', Some('*')) => {
                let (start_line, start_column) = (line, column);
                chars.next();
                out.push_str("  ");
                let mut closed = false;
                while let Some(n) = chars.next() {
                    if n == '*' && chars.peek() == Some(&'/') {
                        chars.next();
                        out.push_str("  ");
                        closed = true;
                        break;
                    }
                    if n == '\n' {
                        line += 1;
                        column = 0;
                        out.push('\n');
                    } else {
                        out.push(' ');
                    }
                }
                if !closed {
                    return Err(ParseError {
                        line: start_line,
                        column: start_column,
                        message: format!("unterminated /* comment at line {start_line} column {start_column}"),
                    });
                }
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// Replaces a comma that only whitespace separates from `}` or `]` by a space (comments are
/// already blank). Strings are skipped.
fn blank_trailing_commas(text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            if b == b'\\' {
                i += 1;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if b == b',' {
            let next = bytes[i + 1..].iter().find(|c| !c.is_ascii_whitespace());
            if matches!(next, Some(b'}') | Some(b']')) {
                bytes[i] = b' ';
            }
        }
        i += 1;
    }
    // Only an ASCII comma was replaced by an ASCII space: the bytes are still UTF-8.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_trailing_commas_parse() {
        let v = parse("{\n // c\n \"a\": \"x//y\", /* b\n */ \"b\": [1,2,],\n}\n").unwrap();
        assert_eq!(v["a"], "x//y");
        assert_eq!(v["b"], serde_json::json!([1, 2]));
    }

    #[test]
    fn errors_keep_their_line() {
        let e = parse("{\n// fine\n\"a\": 1\n\"b\": 2}").unwrap_err();
        assert_eq!(e.line, 4);
        let e = parse("{ /* open").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(parse("{\"s\": \"a\\\"/*\"}").is_ok());
    }
}
