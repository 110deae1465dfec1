//! Unix seconds as a UTC calendar date and time, written in the two forms the service sends: the RFC 9110
//! §5.6.7 IMF-fixdate of the `Date` header and the RFC 3339 timestamp of `lastChanged` and the log lines.
//! Pure arithmetic into fixed arrays: no clock read, no allocation. A leaf, so `log.rs` and `http/` share it
//! without the logger importing from `http/`.

/// `Sun, 06 Nov 1994 08:49:37 GMT`
pub const IMF_FIXDATE_LEN: usize = 29;
/// `2023-12-11T04:45:08Z`
pub const RFC3339_LEN: usize = 20;

const DAY_NAMES: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"]; // day 0 = Thursday
const MONTH_NAMES: [&[u8; 3]; 12] =
    [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];

/// A broken-down UTC time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Civil {
    pub year: u64,
    pub month: u64, // 1..=12
    pub day: u64,   // 1..=31
    pub hour: u64,
    pub minute: u64,
    pub second: u64,
    pub weekday: usize, // index into DAY_NAMES
}

/// Converts Unix seconds to a UTC civil time (Howard Hinnant's `civil_from_days`, for days >= 0).
pub fn civil(unix_secs: u64) -> Civil {
    let days = unix_secs / 86_400;
    let rem = unix_secs % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    Civil { year, month, day, hour: rem / 3600, minute: rem / 60 % 60, second: rem % 60, weekday: (days % 7) as usize }
}

fn put2(out: &mut [u8], v: u64) {
    out[0] = b'0' + (v / 10 % 10) as u8;
    out[1] = b'0' + (v % 10) as u8;
}

fn put4(out: &mut [u8], v: u64) {
    put2(&mut out[0..2], v / 100);
    put2(&mut out[2..4], v % 100);
}

/// Formats `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn imf_fixdate(unix_secs: u64) -> [u8; IMF_FIXDATE_LEN] {
    let c = civil(unix_secs);
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    out[0..3].copy_from_slice(DAY_NAMES[c.weekday]);
    put2(&mut out[5..7], c.day);
    out[8..11].copy_from_slice(MONTH_NAMES[(c.month - 1) as usize]);
    put4(&mut out[12..16], c.year);
    put2(&mut out[17..19], c.hour);
    put2(&mut out[20..22], c.minute);
    put2(&mut out[23..25], c.second);
    out
}

/// Formats `2023-12-11T04:45:08Z`.
pub fn rfc3339(unix_secs: u64) -> [u8; RFC3339_LEN] {
    let c = civil(unix_secs);
    let mut out = *b"1970-01-01T00:00:00Z";
    put4(&mut out[0..4], c.year);
    put2(&mut out[5..7], c.month);
    put2(&mut out[8..10], c.day);
    put2(&mut out[11..13], c.hour);
    put2(&mut out[14..16], c.minute);
    put2(&mut out[17..19], c.second);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        // RFC 9110 §5.6.7's own example.
        assert_eq!(&imf_fixdate(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        // The original service's sample output.
        assert_eq!(&rfc3339(1_702_269_908), b"2023-12-11T04:45:08Z");
        assert_eq!(&rfc3339(0), b"1970-01-01T00:00:00Z");
        assert_eq!(&imf_fixdate(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        // Leap day and the day after a century non-leap year boundary.
        assert_eq!(&rfc3339(951_782_400), b"2000-02-29T00:00:00Z");
        assert_eq!(&rfc3339(4_107_542_400), b"2100-03-01T00:00:00Z");
        assert_eq!(&imf_fixdate(1_795_867_199), b"Sat, 28 Nov 2026 11:59:59 GMT");
    }

    #[test]
    fn every_day_for_years_round_trips_through_the_calendar() {
        // Walk day by day from 1970 to 2400 and check the civil date increments correctly.
        let mut prev = civil(0);
        for day in 1..(430 * 366) {
            let c = civil(day * 86_400);
            assert_eq!(c.weekday, (prev.weekday + 1) % 7);
            if c.day == 1 {
                assert!(c.month == prev.month % 12 + 1, "{c:?} after {prev:?}");
            } else {
                assert_eq!((c.year, c.month, c.day), (prev.year, prev.month, prev.day + 1));
            }
            prev = c;
        }
    }
}
