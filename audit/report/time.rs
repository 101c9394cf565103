//! RFC 3339 timestamps (UTC, microseconds) without a date crate.

use crate::source::Nanos;

pub fn rfc3339(ts: Nanos) -> String {
    match fixed(ts) {
        // ASCII digits and separators, so the conversion cannot fail.
        Ok(text) => std::str::from_utf8(&text).map_or_else(|_| String::new(), str::to_owned),
        Err(text) => text,
    }
}

/// Appends [`rfc3339`]'s text to `out` without making a `String` (the JSON report writes two per flow).
pub fn push_rfc3339(out: &mut Vec<u8>, ts: Nanos) {
    match fixed(ts) {
        Ok(text) => out.extend_from_slice(&text),
        Err(text) => out.extend_from_slice(text.as_bytes()),
    }
}

/// The common case, years 0 to 9999, written two digits at a time into a fixed buffer; other years
/// are formatted (`Err`), with more digits or a sign.
fn fixed(ts: Nanos) -> Result<[u8; 27], String> {
    let secs = ts.div_euclid(1_000_000_000);
    let micros = ts.rem_euclid(1_000_000_000) / 1_000;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        return Err(format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
            sod / 3600,
            sod / 60 % 60,
            sod % 60
        ));
    }
    let mut out = *b"0000-00-00T00:00:00.000000Z";
    let pairs = [
        (0, y / 100),
        (2, y % 100),
        (5, i64::from(m)),
        (8, i64::from(d)),
        (11, sod / 3600),
        (14, sod / 60 % 60),
        (17, sod % 60),
        (20, micros / 10_000),
        (22, micros / 100 % 100),
        (24, micros % 100),
    ];
    for (at, v) in pairs {
        let v = v as usize;
        out[at] = b'0' + (v / 10) as u8;
        out[at + 1] = b'0' + (v % 10) as u8;
    }
    Ok(out)
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(1_704_067_200_123_456_789), "2024-01-01T00:00:00.123456Z");
        assert_eq!(rfc3339(951_782_400_000_000_000), "2000-02-29T00:00:00.000000Z");
    }

    /// The implementation before the two-digit rewrite, digit by digit, kept as the reference.
    fn reference(ts: Nanos) -> String {
        let secs = ts.div_euclid(1_000_000_000);
        let micros = ts.rem_euclid(1_000_000_000) / 1_000;
        let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (y, m, d) = civil_from_days(days);
        format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z", sod / 3600, sod / 60 % 60, sod % 60)
    }

    proptest::proptest! {
        #[test]
        fn same_as_reference(ts in proptest::prelude::any::<i64>()) {
            proptest::prop_assert_eq!(rfc3339(ts), reference(ts));
        }

        #[test]
        fn same_as_reference_in_1970_to_2100(ts in 0i64..4_102_444_800_000_000_000) {
            proptest::prop_assert_eq!(rfc3339(ts), reference(ts));
        }

        #[test]
        fn pushed_text_is_the_same(ts in proptest::prelude::any::<i64>()) {
            let mut out = b"x".to_vec();
            push_rfc3339(&mut out, ts);
            proptest::prop_assert_eq!(out, format!("x{}", reference(ts)).into_bytes());
        }
    }
}
