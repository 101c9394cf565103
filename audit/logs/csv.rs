//! One CSV record per line (RFC 4180 quoting: `"a,b"`, `""` for a quote).
//!
//! Log exports write one record per line; a quoted field that runs past the end of the line is
//! reported as malformed rather than joined with the next line (which would let one bad quote
//! swallow the rest of a huge file).

/// Splits one line into fields, or `Err` when a quote is left open or stray.
pub fn fields(line: &str) -> Result<Vec<String>, &'static str> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                    if !matches!(chars.peek(), None | Some(',')) {
                        return Err("text after a closing quote");
                    }
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            ',' => {
                out.push(std::mem::take(&mut field));
                at_start = true;
                continue;
            }
            '"' if at_start => quoted = true,
            '"' => return Err("quote inside an unquoted field"),
            _ => field.push(c),
        }
        at_start = false;
    }
    if quoted {
        return Err("quoted field not closed on its line");
    }
    out.push(field);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::fields;

    #[test]
    fn quoting() {
        assert_eq!(
            fields("a,\"b,c\",\"d\"\"e\",").ok(),
            Some(vec!["a".into(), "b,c".into(), "d\"e".into(), String::new()])
        );
        assert!(fields("a,\"open").is_err());
        assert!(fields("a,b\"c").is_err());
    }
}
