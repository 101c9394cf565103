//! Streams one log file through detection and its parser, line by line.
//!
//! Memory stays flat: one line buffer (at most [`MAX_LINE`] bytes are kept of a line; the rest is
//! skipped and the line reported malformed), the few lines held back while the format is detected,
//! and the aggregate, which grows with distinct names, not with lines.

use super::aggregate::Aggregator;
use super::clock::Clock;
use super::detect::{self, InputFormat};
use super::formats;
use super::{Event, model::FileStats};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// Longest line parsed; longer lines are counted as malformed (no real resolver writes one).
pub const MAX_LINE: usize = 64 * 1024;
/// Lines looked at to recognize a format before giving up on a file.
const DETECT_LINES: usize = 1000;

pub fn read_file(path: &Path, forced: Option<InputFormat>, clock: &Clock, agg: &mut Aggregator) {
    let shown = path.display().to_string();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return agg.input_error(&shown, format!("cannot read {shown}: {e}")),
    };
    let mtime = file
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_nanos()).ok());
    let clock = clock.for_file(mtime);
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut buf = Vec::with_capacity(4096);
    let mut stats = FileStats::new(&shown, clock.zone_name());
    stats.format = forced;
    let mut held: Vec<(u64, String)> = Vec::new();
    let mut parser = forced.map(|f| formats::parser(f, &clock));
    let mut events: Vec<Event> = Vec::new();
    let mut line_no = 0u64;
    loop {
        let truncated = match read_line(&mut reader, &mut buf) {
            Ok(Some(t)) => t,
            Ok(None) => break,
            Err(e) => {
                agg.input_error(&shown, format!("{shown}:{}: read error: {e}", line_no + 1));
                break;
            }
        };
        line_no += 1;
        stats.lines += 1;
        if truncated {
            agg.malformed(&mut stats, line_no, "line longer than 64 KiB", &buf);
            continue;
        }
        let text = String::from_utf8_lossy(&buf);
        let line = text.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            stats.ignored += 1;
            continue;
        }
        if parser.is_none() {
            match detect::detect_line(line) {
                Some(f) => {
                    stats.format = Some(f);
                    let mut p = formats::parser(f, &clock);
                    for (n, held_line) in std::mem::take(&mut held) {
                        feed(p.as_mut(), &held_line, n, &mut events, &mut stats, agg);
                    }
                    parser = Some(p);
                }
                None => {
                    if held.len() < DETECT_LINES {
                        held.push((line_no, line.to_string()));
                        continue;
                    }
                    break;
                }
            }
        }
        if let Some(p) = parser.as_mut() {
            feed(p.as_mut(), line, line_no, &mut events, &mut stats, agg);
        }
    }
    match &parser {
        Some(p) => stats.format = Some(p.format()),
        None => {
            agg.input_error(
                &shown,
                format!(
                    "{shown}: no line in a known log format (dnsmasq, pihole, nextdns-csv, resolved, bind, unbound, \
                     opensnitch) among the first {} lines; give --format-in",
                    held.len()
                ),
            );
            stats.ignored += held.len() as u64;
        }
    }
    agg.end_file(stats);
}

fn feed(
    parser: &mut dyn formats::Parser,
    line: &str,
    line_no: u64,
    events: &mut Vec<Event>,
    stats: &mut FileStats,
    agg: &mut Aggregator,
) {
    events.clear();
    match parser.parse(line, events) {
        Ok(()) if events.is_empty() => stats.ignored += 1,
        Ok(()) => {
            stats.used += 1;
            // A dnsmasq log turns out to be Pi-hole's at its first gravity line.
            stats.format = Some(parser.format());
            for e in events.drain(..) {
                agg.event(e, stats);
            }
        }
        Err(reason) => agg.malformed(stats, line_no, reason, line.as_bytes()),
    }
}

/// Reads one line into `buf` (without the newline), keeping at most [`MAX_LINE`] bytes.
/// `Ok(Some(true))` when the line was longer and cut; `Ok(None)` at the end of the file.
fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut truncated = false;
    let mut any = false;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(any.then_some(truncated));
        }
        any = true;
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        let room = MAX_LINE.saturating_sub(buf.len());
        if take > room {
            truncated = true;
        }
        buf.extend_from_slice(&chunk[..take.min(room)]);
        reader.consume(if done { take + 1 } else { take });
        if done {
            return Ok(Some(truncated));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_and_flagged_and_the_next_line_survives() {
        let mut data = vec![b'a'; MAX_LINE + 10];
        data.extend_from_slice(b"\nshort\nlast");
        let mut r = BufReader::with_capacity(1024, &data[..]);
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut r, &mut buf).ok(), Some(Some(true)));
        assert_eq!(buf.len(), MAX_LINE);
        assert_eq!(read_line(&mut r, &mut buf).ok(), Some(Some(false)));
        assert_eq!(buf, b"short");
        assert_eq!(read_line(&mut r, &mut buf).ok(), Some(Some(false)));
        assert_eq!(buf, b"last");
        assert_eq!(read_line(&mut r, &mut buf).ok(), Some(None));
    }
}
