//! Just enough calendar arithmetic for watermarks and delta windows, without
//! a date crate (components stay small): Unix seconds (or microseconds) to
//! and from a civil UTC date and time, HTTP `Date` headers and RFC 3339 in,
//! RFC 3339 out.
//!
//! ```
//! use synchost_sdk::time;
//!
//! // A watermark minus a 300 s overlap, to the microsecond.
//! let us = time::parse_rfc3339_micros("2026-11-30T03:43:04.1234+00:00").unwrap();
//! assert_eq!(time::format_rfc3339_micros(us - 300_000_000), "2026-11-30T03:38:04.123400Z");
//! assert_eq!(time::parse_rfc3339("2026-01-02T03:04:05Z"), Some(1_767_323_045));
//! ```
//!
//! The day arithmetic is Howard Hinnant's `days_from_civil` /
//! `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html>),
//! exact for every proleptic Gregorian date.

/// Seconds since 1970-01-01T00:00:00Z.
pub type Timestamp = i64;

/// Microseconds since 1970-01-01T00:00:00Z.
pub type Micros = i64;

const MICROS_PER_SECOND: i64 = 1_000_000;

/// A UTC date and time, to the second (month 1..=12, day 1..=31).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// Days since 1970-01-01 of the date `y-m-d` (month 1..=12).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // year of era, 0..=399
    let mp = i64::from((m + 9) % 12); // months since March
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1; // day of (March-based) year
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // day of era
    era * 146_097 + doe - 719_468
}

/// The date `(y, m, d)` of `z` days since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Civil {
    /// The date and time of `t`.
    pub fn from_timestamp(t: Timestamp) -> Civil {
        let (year, month, day) = civil_from_days(t.div_euclid(86_400));
        let secs = t.rem_euclid(86_400) as u32;
        Civil {
            year,
            month,
            day,
            hour: secs / 3600,
            minute: secs / 60 % 60,
            second: secs % 60,
        }
    }

    /// The timestamp, or `None` when a field is out of range. A leap second
    /// (`:60`) counts as the next second.
    pub fn to_timestamp(self) -> Option<Timestamp> {
        let valid = (1..=12).contains(&self.month)
            && (1..=days_in_month(self.year, self.month)).contains(&self.day)
            && self.hour < 24
            && self.minute < 60
            && self.second <= 60;
        valid.then(|| {
            days_from_civil(self.year, self.month, self.day) * 86_400
                + i64::from(self.hour * 3600 + self.minute * 60 + self.second)
        })
    }
}

/// `2026-01-02T03:04:05Z`: how watermarks are stored.
pub fn format_rfc3339(t: Timestamp) -> String {
    let c = Civil::from_timestamp(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// `2026-01-02T03:04:05.123456Z`: microseconds as RFC 3339, always with six
/// fraction digits.
pub fn format_rfc3339_micros(us: Micros) -> String {
    let seconds = format_rfc3339(us.div_euclid(MICROS_PER_SECOND));
    format!(
        "{}.{:06}Z",
        seconds.trim_end_matches('Z'),
        us.rem_euclid(MICROS_PER_SECOND)
    )
}

/// Parses RFC 3339 (`2026-01-02T03:04:05Z`, `…05.123+02:00`; a space may
/// replace the `T`). Fractions of a second are dropped.
pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
    parse_rfc3339_micros(s).map(|us| us.div_euclid(MICROS_PER_SECOND))
}

/// Parses RFC 3339 like [`parse_rfc3339`], keeping the fraction of a second
/// to the microsecond (further digits are dropped, so the result never lies
/// after the time written). PostgreSQL writes `timestamptz` this way with
/// trailing zeros of the fraction dropped: `…04.1234+00:00`, `…04+00:00`.
pub fn parse_rfc3339_micros(s: &str) -> Option<Micros> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(range)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let civil = Civil {
        year: i64::from(num(0..4)?),
        month: num(5..7)?,
        day: num(8..10)?,
        hour: num(11..13)?,
        minute: num(14..16)?,
        second: num(17..19)?,
    };
    let mut rest = &s[19..];
    let mut micros = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<6}", &frac[..digits.min(6)]);
        micros = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = rest[1..].split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
    };
    let seconds = civil.to_timestamp()? - offset;
    seconds.checked_mul(MICROS_PER_SECOND)?.checked_add(micros)
}

/// Parses an HTTP date, in any of the three forms a recipient must accept
/// (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT` (the one servers
/// send), `Sunday, 06-Nov-94 08:49:37 GMT` and `Sun Nov  6 08:49:37 1994`.
/// In all three the day comes before the year; two-digit years are 19xx from
/// 70 on, 20xx below.
pub fn parse_http_date(s: &str) -> Option<Timestamp> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let mut tokens = s
        .split([' ', ',', '-'])
        .filter(|t| !t.is_empty())
        .peekable();
    // The weekday, if any.
    if tokens.peek()?.bytes().all(|c| c.is_ascii_alphabetic())
        && !MONTHS.contains(&tokens.peek()?.to_ascii_lowercase().as_str())
    {
        tokens.next();
    }
    let (mut month, mut time, mut numbers) = (None, None, Vec::new());
    for token in tokens {
        let lower = token.to_ascii_lowercase();
        if let Some(i) = MONTHS.iter().position(|m| *m == lower) {
            month = Some(i as u32 + 1);
        } else if token.contains(':') {
            let mut parts = token.split(':').map(|p| p.parse::<u32>().ok());
            time = Some((parts.next()??, parts.next()??, parts.next()??));
        } else if token.bytes().all(|c| c.is_ascii_digit()) {
            numbers.push((token.len(), token.parse::<i64>().ok()?));
        } else if !matches!(token, "GMT" | "UTC" | "UT") {
            return None;
        }
    }
    let (&[(_, day), (year_digits, year)], Some(month), Some((hour, minute, second))) =
        (numbers.as_slice(), month, time)
    else {
        return None;
    };
    let year = match (year_digits, year) {
        (2, y) if y >= 70 => 1900 + y,
        (2, y) => 2000 + y,
        (4, y) => y,
        _ => return None,
    };
    Civil {
        year,
        month,
        day: u32::try_from(day).ok()?,
        hour,
        minute,
        second,
    }
    .to_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_arithmetic_round_trips() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        for z in (-800_000..800_000).step_by(97) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("1994-11-06T08:49:37Z"), Some(784_111_777));
        assert_eq!(
            parse_rfc3339("1994-11-06T10:49:37.123+02:00"),
            Some(784_111_777)
        );
        assert_eq!(parse_rfc3339("1994-11-06 08:49:37z"), Some(784_111_777));
        for bad in [
            "",
            "1994-11-06",
            "1994-11-06T08:49:37",
            "1994-13-06T08:49:37Z",
            "1994-02-30T08:49:37Z",
            "1994-11-06T08:49:37.Z",
            "1994-11-06T08:49:37+2:00",
            "x994-11-06T08:49:37Z",
            "1994-11-06T08:49:37Zjunk",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        let t = 1_767_323_045; // 2026-01-02T03:04:05Z
        assert_eq!(format_rfc3339(t), "2026-01-02T03:04:05Z");
        assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t));
    }

    #[test]
    fn http_dates() {
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_http_date(form), Some(784_111_777), "{form}");
        }
        assert_eq!(
            parse_http_date("Fri, 02 Jan 2026 03:04:05 GMT").map(format_rfc3339),
            Some("2026-01-02T03:04:05Z".into())
        );
        for bad in [
            "",
            "yesterday",
            "Sun, 06 Nov 1994 GMT",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 CET",
            "Sun, 06 Nov 994 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn micros_keep_the_fraction() {
        let base = 1_796_010_184; // 2026-11-30T03:43:04Z
        for (text, micros) in [
            ("2026-11-30T03:43:04.123456+00:00", 123_456),
            ("2026-11-30T03:43:04.1234+00:00", 123_400),
            ("2026-11-30T03:43:04.1+00:00", 100_000),
            ("2026-11-30T03:43:04+00:00", 0),
            ("2026-11-30T03:43:04.1234567891Z", 123_456),
            ("2026-11-30T05:43:04.000001+02:00", 1),
        ] {
            assert_eq!(
                parse_rfc3339_micros(text),
                Some(base * 1_000_000 + micros),
                "{text}"
            );
            assert_eq!(parse_rfc3339(text), Some(base), "{text}");
        }
        assert_eq!(
            format_rfc3339_micros(base * 1_000_000 + 123_400 - 300_000_000),
            "2026-11-30T03:38:04.123400Z"
        );
        // Before 1970 the fraction still counts forward from the second.
        assert_eq!(format_rfc3339_micros(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(
            parse_rfc3339_micros("1969-12-31T23:59:59.999999Z"),
            Some(-1)
        );
        for bad in ["2026-11-30T03:43:04.+00:00", "2026-11-30T03:43:04.12"] {
            assert_eq!(parse_rfc3339_micros(bad), None, "{bad}");
        }
        let t = base * 1_000_000 + 7;
        assert_eq!(parse_rfc3339_micros(&format_rfc3339_micros(t)), Some(t));
    }
}
