//! Timestamps of log lines, in the zone they were written in.
//!
//! Most formats carry an offset or are UTC (RFC 3339, journald `short-iso`, unbound's epoch seconds).
//! Two do not: syslog lines (`Nov 27 09:45:08`, dnsmasq's own log file) have neither year nor zone,
//! and BIND's `27-Nov-2026 09:45:16.123` has no zone. Those are read in the local time zone (the
//! `TZ` variable, else /etc/localtime, through the tz database, so DST is right) and a syslog line
//! takes the year of the file's modification time — the year before when that would put the line
//! more than a day after the file was last written (a December line in a file rotated in January).

use crate::source::Nanos;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// The zone and year a file's zoneless timestamps are read in.
#[derive(Clone, Debug)]
pub struct Clock {
    tz: TimeZone,
    /// The file's modification time: year of syslog lines, and the bound that moves them a year back.
    mtime: Option<Nanos>,
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAY: Nanos = 86_400 * 1_000_000_000;

impl Clock {
    /// The system's local zone (`TZ`, else /etc/localtime; UTC when neither can be read).
    pub fn local() -> Clock {
        Clock { tz: TimeZone::try_system().unwrap_or(TimeZone::UTC), mtime: None }
    }

    /// A fixed zone by IANA name (`Europe/Berlin`), for tests and `--tz`.
    pub fn zone(name: &str) -> Result<Clock, String> {
        TimeZone::get(name).map(|tz| Clock { tz, mtime: None }).map_err(|e| format!("time zone {name:?}: {e}"))
    }

    /// The same zone, with the year taken from this modification time.
    pub fn for_file(&self, mtime: Option<Nanos>) -> Clock {
        Clock { tz: self.tz.clone(), mtime }
    }

    pub fn zone_name(&self) -> String {
        self.tz.iana_name().unwrap_or("local").to_string()
    }

    fn year_now(&self) -> i16 {
        let ts = self.mtime.and_then(|m| jiff::Timestamp::from_nanosecond(i128::from(m)).ok());
        ts.unwrap_or_else(jiff::Timestamp::now).to_zoned(self.tz.clone()).year()
    }

    fn civil(&self, dt: DateTime) -> Option<Nanos> {
        let zoned = self.tz.to_ambiguous_zoned(dt).compatible().ok()?;
        Nanos::try_from(zoned.timestamp().as_nanosecond()).ok()
    }

    /// `Nov 27 09:45:08` (day may be space-padded) at the start of `s`; returns the time and the
    /// bytes consumed.
    pub fn syslog(&self, s: &str) -> Option<(Nanos, usize)> {
        let b = s.as_bytes();
        if b.len() < 15 || b[3] != b' ' || b[6] != b' ' || b[9] != b':' || b[12] != b':' {
            return None;
        }
        let month = MONTHS.iter().position(|m| *m == &s[..3])? as i8 + 1;
        let day: i8 = s[4..6].trim_start().parse().ok()?;
        let (h, m, sec) = (num(&s[7..9])?, num(&s[10..12])?, num(&s[13..15])?);
        let mut year = self.year_now();
        let at = |year: i16| DateTime::new(year, month, day, h, m, sec, 0).ok().and_then(|dt| self.civil(dt));
        let mut t = at(year)?;
        if self.mtime.is_some_and(|m| t > m + DAY) {
            year -= 1;
            t = at(year)?;
        }
        Some((t, 15))
    }

    /// An RFC 3339 / ISO 8601 timestamp up to the next space: `2026-11-27T09:45:08Z`,
    /// `2026-11-27T09:45:08.123456+00:00`, journald's `2026-11-27T09:45:08+0000`. Without an offset
    /// it is local time. A space between date and time is accepted (`2026-11-27 09:45:08.123`).
    pub fn iso(&self, s: &str) -> Option<(Nanos, usize)> {
        let b = s.as_bytes();
        if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ') {
            return None;
        }
        let end = 11 + s[11..].find([' ', ',', '"', ']']).unwrap_or(s.len() - 11);
        let text = &s[..end];
        let normalized = text.replacen(' ', "T", 1);
        let normalized = fix_basic_offset(&normalized);
        if let Ok(ts) = normalized.parse::<jiff::Timestamp>() {
            return Some((Nanos::try_from(ts.as_nanosecond()).ok()?, end));
        }
        let dt: DateTime = normalized.parse().ok()?;
        Some((self.civil(dt)?, end))
    }

    /// BIND's `27-Nov-2026 09:45:16.123` (local time).
    pub fn bind(&self, s: &str) -> Option<(Nanos, usize)> {
        let b = s.as_bytes();
        if b.len() < 20 || b[2] != b'-' || b[6] != b'-' || b[11] != b' ' {
            return None;
        }
        let day: i8 = num(&s[0..2])?;
        let month = MONTHS.iter().position(|m| *m == &s[3..6])? as i8 + 1;
        let year: i16 = s[7..11].parse().ok()?;
        let (h, m, sec) = (num(&s[12..14])?, num(&s[15..17])?, num(&s[18..20])?);
        let mut end = 20;
        let mut nanos = 0i32;
        if b.get(20) == Some(&b'.') {
            let digits = s[21..].bytes().take_while(u8::is_ascii_digit).count().min(9);
            let frac: i32 = s[21..21 + digits].parse().ok()?;
            nanos = frac * 10i32.pow(9 - digits as u32);
            end = 21 + digits;
        }
        let dt = DateTime::new(year, month, day, h, m, sec, nanos).ok()?;
        Some((self.civil(dt)?, end))
    }
}

/// Seconds since the epoch (unbound's `[1795772716]`), possibly with a fraction.
pub fn epoch(s: &str) -> Option<Nanos> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = whole.parse().ok()?;
    let digits = frac.len().min(9);
    let f: i64 = if digits == 0 { 0 } else { frac[..digits].parse().ok()? };
    secs.checked_mul(1_000_000_000)?.checked_add(f * 10i64.pow(9 - digits as u32))
}

fn num<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.bytes().all(|b| b.is_ascii_digit()) { s.parse().ok() } else { None }
}

/// `+0000` → `+00:00`: journald writes the basic form, RFC 3339 parsers want the extended one.
fn fix_basic_offset(s: &str) -> String {
    let b = s.as_bytes();
    if b.len() > 5 {
        let tail = &s[s.len() - 5..];
        let t = tail.as_bytes();
        if (t[0] == b'+' || t[0] == b'-') && t[1..].iter().all(u8::is_ascii_digit) && s[..s.len() - 5].contains('T') {
            return format!("{}{}:{}", &s[..s.len() - 5], &tail[..3], &tail[3..]);
        }
    }
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::time::rfc3339;

    fn berlin(mtime: &str) -> Clock {
        let m: jiff::Timestamp = mtime.parse().unwrap_or_else(|e| panic!("{e}"));
        Clock::zone("Europe/Berlin").unwrap_or_else(|e| panic!("{e}")).for_file(Some(m.as_nanosecond() as Nanos))
    }

    #[test]
    fn syslog_lines_take_the_files_year_and_the_local_zone() {
        let c = berlin("2026-11-27T12:00:00Z");
        let (t, n) = c.syslog("Nov 27 09:45:08 dnsmasq[1]: x").unwrap_or_else(|| panic!("no time"));
        assert_eq!((rfc3339(t), n), ("2026-11-27T08:45:08.000000Z".to_string(), 15));
        // Summer time in the same zone: UTC+2.
        let (t, _) = c.syslog("Jul  4 10:00:00 x").unwrap_or_else(|| panic!("no time"));
        assert_eq!(rfc3339(t), "2026-07-04T08:00:00.000000Z");
        // A December line in a file last written in January belongs to the year before.
        let jan = berlin("2027-01-02T00:00:00Z");
        let (t, _) = jan.syslog("Dec 31 23:59:59 x").unwrap_or_else(|| panic!("no time"));
        assert_eq!(rfc3339(t), "2026-12-31T22:59:59.000000Z");
    }

    #[test]
    fn iso_forms_with_and_without_offsets() {
        let c = berlin("2026-11-27T12:00:00Z");
        for (s, want) in [
            ("2026-11-27T09:45:08Z x", "2026-11-27T09:45:08.000000Z"),
            ("2026-11-27T09:45:08+0100 host", "2026-11-27T08:45:08.000000Z"),
            ("2026-11-27T09:45:08.250000+01:00 host", "2026-11-27T08:45:08.250000Z"),
            ("2026-11-27 09:45:08.5,x", "2026-11-27T08:45:08.500000Z"),
        ] {
            let (t, _) = c.iso(s).unwrap_or_else(|| panic!("{s}"));
            assert_eq!(rfc3339(t), want, "{s}");
        }
        assert!(c.iso("Nov 27 09:45:08").is_none());
    }

    #[test]
    fn bind_and_epoch() {
        let c = berlin("2026-11-27T12:00:00Z");
        let (t, n) = c.bind("27-Nov-2026 09:45:16.123 queries").unwrap_or_else(|| panic!("no time"));
        assert_eq!((rfc3339(t), n), ("2026-11-27T08:45:16.123000Z".to_string(), 24));
        assert_eq!(epoch("1795772716").map(rfc3339).as_deref(), Some("2026-11-27T09:45:16.000000Z"));
        assert_eq!(epoch("x"), None);
    }
}
