//! UTC calendar arithmetic for timestamps (RFC 3339 in the spool, the
//! `x-amz-date` basic format in SigV4), without a date-time dependency.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A UTC civil date and time, second precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcDateTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

// Howard Hinnant's days-from-civil and civil-from-days algorithms.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

impl UtcDateTime {
    pub fn from_system_time(time: SystemTime) -> Self {
        let secs = match time.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs() as i64),
        };
        let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
        let rem = secs.rem_euclid(86_400) as u32;
        UtcDateTime {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem % 3600 / 60,
            second: rem % 60,
        }
    }

    pub fn to_system_time(self) -> SystemTime {
        let secs = days_from_civil(self.year, self.month, self.day) * 86_400
            + i64::from(self.hour * 3600 + self.minute * 60 + self.second);
        if secs >= 0 {
            UNIX_EPOCH + Duration::from_secs(secs as u64)
        } else {
            UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
        }
    }

    /// Parses the SigV4 basic format `YYYYMMDDTHHMMSSZ`, strictly. Total:
    /// the value is attacker-chosen, so bytes are checked before any number
    /// is read and nothing is sliced (a multi-byte character would put a
    /// `str` slice off a char boundary).
    pub fn parse_amz_date(text: &str) -> Option<Self> {
        let bytes: &[u8; 16] = text.as_bytes().try_into().ok()?;
        let [
            y0,
            y1,
            y2,
            y3,
            mo0,
            mo1,
            d0,
            d1,
            b'T',
            h0,
            h1,
            mi0,
            mi1,
            s0,
            s1,
            b'Z',
        ] = *bytes
        else {
            return None;
        };
        let digit = |b: u8| b.is_ascii_digit().then(|| u32::from(b - b'0'));
        let number = |digits: &[u8]| {
            digits
                .iter()
                .try_fold(0u32, |acc, &b| Some(acc * 10 + digit(b)?))
        };
        let parsed = UtcDateTime {
            year: i64::from(number(&[y0, y1, y2, y3])?),
            month: number(&[mo0, mo1])?,
            day: number(&[d0, d1])?,
            hour: number(&[h0, h1])?,
            minute: number(&[mi0, mi1])?,
            second: number(&[s0, s1])?,
        };
        let valid = (1..=12).contains(&parsed.month)
            && parsed.day >= 1
            && parsed.day <= days_in_month(parsed.year, parsed.month)
            && parsed.hour < 24
            && parsed.minute < 60
            && parsed.second < 60;
        valid.then_some(parsed)
    }

    /// `YYYYMMDD`, the SigV4 credential-scope date.
    pub fn amz_day(&self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }

    /// `YYYYMMDDTHHMMSSZ`.
    pub fn amz_date(&self) -> String {
        format!(
            "{}T{:02}{:02}{:02}Z",
            self.amz_day(),
            self.hour,
            self.minute,
            self.second
        )
    }
}

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-28T10:06:23.123Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let t = UtcDateTime::from_system_time(time);
    let millis = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_millis())
        .unwrap_or(0);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second, millis
    )
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]
mod tests {
    use super::*;

    #[test]
    fn known_instants_format_correctly() {
        let t = UNIX_EPOCH + Duration::from_millis(1_440_938_160_123);
        assert_eq!(rfc3339(t), "2015-08-30T12:36:00.123Z");
        assert_eq!(
            UtcDateTime::from_system_time(t).amz_date(),
            "20150830T123600Z"
        );
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UtcDateTime::parse_amz_date("20240229T235959Z").unwrap();
        assert_eq!(UtcDateTime::from_system_time(leap.to_system_time()), leap);
    }

    #[test]
    fn amz_dates_parse_strictly() {
        assert!(UtcDateTime::parse_amz_date("20150830T123600Z").is_some());
        for bad in [
            "20150830T123600",
            "2015-08-30T12:36:00Z",
            "20150230T123600Z",
            "20230229T123600Z",
            "20151330T123600Z",
            "20150830T246000Z",
            "2015083OT123600Z",
            "+0150830T123600Z",
            "",
            "２0261128T101500Z",
        ] {
            assert_eq!(UtcDateTime::parse_amz_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn sixteen_bytes_with_a_multi_byte_character_anywhere_are_refused() {
        // `202é128T101500Z` once panicked: a slice ended inside the `é`.
        let good = "20261128T101500Z";
        for wide in ["é", "€", "😀"] {
            for at in 0..=good.len() - wide.len() {
                let bad = format!("{}{wide}{}", &good[..at], &good[at + wide.len()..]);
                assert_eq!(bad.len(), 16);
                assert_eq!(UtcDateTime::parse_amz_date(&bad), None, "{bad}");
            }
        }
        assert_eq!(UtcDateTime::parse_amz_date("202é128T101500Z"), None);
    }

    #[test]
    fn round_trip_over_many_days() {
        for day in (-1000i64..100_000).step_by(37) {
            let t = UNIX_EPOCH + Duration::from_secs((day.max(0) * 86_400 + 3_723) as u64);
            let civil = UtcDateTime::from_system_time(t);
            assert_eq!(civil.to_system_time(), t);
        }
    }
}
