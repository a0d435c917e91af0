//! Dates as Dynatrace's token APIs accept them [doc: "Access tokens API - POST a token"]:
//! ISO-8601 with any UTC offset (a space may replace `T`, seconds optional, no zone = UTC) and
//! relative `now±NU[/A]` with calendar months and years and an optional alignment `/A` that
//! rounds down to the start of that unit. All values are epoch milliseconds (UTC).

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of `days_from_civil`: (year, month 1-12, day 1-31).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (the IMF-fixdate of HTTP, RFC 9110) for epoch seconds.
pub fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = (secs / 86_400) as i64;
    let (y, m, d) = civil_from_days(days);
    let t = secs % 86_400;
    format!(
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1).clamp(0, 11) as usize],
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

fn days_in_month(y: i64, m: i64) -> i64 {
    let next = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    days_from_civil(next.0, next.1, 1) - days_from_civil(y, m, 1)
}

/// `ms` moved by `months` calendar months, the day clamped to the target month's length.
fn add_months(ms: i64, months: i64) -> i64 {
    let (days, rest) = (ms.div_euclid(DAY), ms.rem_euclid(DAY));
    let (y, m, d) = civil_from_days(days);
    let total = y * 12 + (m - 1) + months;
    let (y, m) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    days_from_civil(y, m, d.min(days_in_month(y, m))) * DAY + rest
}

/// Rounds `ms` down to the start of its minute, hour, day, ISO week (Monday), month or year.
fn align(ms: i64, unit: char) -> Option<i64> {
    let days = ms.div_euclid(DAY);
    let (y, m, _) = civil_from_days(days);
    Some(match unit {
        'm' => ms - ms.rem_euclid(MINUTE),
        'h' => ms - ms.rem_euclid(HOUR),
        'd' => days * DAY,
        // 1970-01-01 was a Thursday: day 4 of its ISO week (Monday = 1).
        'w' => (days - (days + 3).rem_euclid(7)) * DAY,
        'M' => days_from_civil(y, m, 1) * DAY,
        'y' => days_from_civil(y, 1, 1) * DAY,
        _ => return None,
    })
}

/// `+15m`, `-1y/d` (what follows `now`), relative to `now`; `None` if malformed.
pub fn relative(rel: &str, now: u64) -> Option<u64> {
    let (shift, alignment) = match rel.split_once('/') {
        Some((s, a)) => (s, Some(a)),
        None => (rel, None),
    };
    let mut ms = i64::try_from(now).ok()?;
    if !shift.is_empty() {
        let sign = match shift.as_bytes()[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let unit = shift[1..].chars().last()?;
        let digits = &shift[1..shift.len() - unit.len_utf8()];
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: i64 = digits.parse().ok().filter(|n| *n <= 100_000)?;
        ms = match unit {
            'm' => ms + sign * n * MINUTE,
            'h' => ms + sign * n * HOUR,
            'd' => ms + sign * n * DAY,
            'w' => ms + sign * n * 7 * DAY,
            'M' => add_months(ms, sign * n),
            'y' => add_months(ms, sign * n * 12),
            _ => return None,
        };
    }
    aligned(u64::try_from(ms).ok()?, alignment)
}

fn aligned(ms: u64, alignment: Option<&str>) -> Option<u64> {
    let Some(a) = alignment else { return Some(ms) };
    let mut chars = a.chars();
    match (chars.next(), chars.next()) {
        (Some(unit), None) => u64::try_from(align(i64::try_from(ms).ok()?, unit)?).ok(),
        _ => None,
    }
}

/// Takes exactly `n` ASCII digits from the front of `s`.
fn digits(s: &mut &str, n: usize) -> Option<i64> {
    let head = s.get(..n)?;
    if !head.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    *s = &s[n..];
    head.parse().ok()
}

fn expect(s: &mut &str, c: char) -> Option<()> {
    *s = s.strip_prefix(c)?;
    Some(())
}

/// `2030-01-25T05:57:01.123+01:00` and its shorter forms; `None` if malformed.
pub fn iso(s: &str) -> Option<u64> {
    let mut r = s;
    let (y, _) = (digits(&mut r, 4)?, expect(&mut r, '-')?);
    let (mo, _) = (digits(&mut r, 2)?, expect(&mut r, '-')?);
    let d = digits(&mut r, 2)?;
    r = r.strip_prefix('T').or_else(|| r.strip_prefix(' '))?;
    let (h, _) = (digits(&mut r, 2)?, expect(&mut r, ':')?);
    let mi = digits(&mut r, 2)?;
    let mut ms = 0;
    if let Some(rest) = r.strip_prefix(':') {
        r = rest;
        ms = digits(&mut r, 2)? * 1000;
        if let Some(rest) = r.strip_prefix('.') {
            let n = rest.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return None;
            }
            // Milliseconds: pad or cut the fraction to three digits.
            let frac = format!("{:0<3}", &rest[..n.min(3)]);
            ms += frac.parse::<i64>().ok()?;
            r = &rest[n..];
        }
    }
    let offset = match r {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match r.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            r = &r[1..];
            let oh = digits(&mut r, 2)?;
            r = r.strip_prefix(':').unwrap_or(r);
            let om = if r.is_empty() { 0 } else { digits(&mut r, 2)? };
            if !r.is_empty() || oh > 18 || om > 59 {
                return None;
            }
            sign * (oh * HOUR + om * MINUTE)
        }
    };
    let valid = (1..=12).contains(&mo)
        && (1..=days_in_month(y, mo)).contains(&d)
        && h < 24
        && mi < 60
        && ms < 60_000;
    if !valid {
        return None;
    }
    let t = days_from_civil(y, mo, d) * DAY + h * HOUR + mi * MINUTE + ms - offset;
    u64::try_from(t).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_700_000_000_000; // 2023-11-14T22:13:20Z, a Tuesday

    #[test]
    fn http_dates() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(T / 1000), "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn iso_forms() {
        assert_eq!(iso("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            iso("2030-01-25T05:57:01.123+01:00"),
            iso("2030-01-25T04:57:01.123Z")
        );
        assert_eq!(iso("2030-01-25 05:57"), iso("2030-01-25T05:57:00.000Z"));
        assert_eq!(iso("2030-01-25T05:57+0530"), iso("2030-01-25T00:27Z"));
        assert_eq!(
            iso("2030-01-25T05:57:01.5Z"),
            iso("2030-01-25T05:57:01.500Z")
        );
        assert_eq!(iso("2024-02-29T00:00Z").map(|t| t % DAY as u64), Some(0));
        for bad in [
            "2030-02-30T00:00",
            "2030-01-25",
            "2030-01-25T24:00",
            "2030-01-25T05:57+25:00",
            "x",
        ] {
            assert_eq!(iso(bad), None, "{bad}");
        }
    }

    #[test]
    fn relative_forms() {
        let day = DAY as u64;
        assert_eq!(relative("", T), Some(T));
        assert_eq!(relative("+15m", T), Some(T + 900_000));
        assert_eq!(relative("+1w", T), Some(T + 7 * day));
        assert_eq!(relative("-1h", T), Some(T - 3_600_000));
        assert_eq!(relative("+1y", T), iso("2024-11-14T22:13:20Z"));
        assert_eq!(relative("+1M/M", T), iso("2023-12-01T00:00Z"));
        assert_eq!(relative("+1d/d", T), iso("2023-11-15T00:00Z"));
        assert_eq!(relative("/w", T), iso("2023-11-13T00:00Z"));
        assert_eq!(relative("+0y/y", T), iso("2023-01-01T00:00Z"));
        assert_eq!(
            relative("+1M", iso("2024-01-31T00:00Z").unwrap()),
            iso("2024-02-29T00:00Z")
        );
        for bad in ["+", "+d", "1d", "+1x", "+1d/", "+1d/dd", "+-1d", "+1.5d"] {
            assert_eq!(relative(bad, T), None, "{bad}");
        }
    }
}
