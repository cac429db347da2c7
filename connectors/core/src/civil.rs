//! Proleptic Gregorian calendar arithmetic (astronomical year numbering: year 0 is 1 BC), the
//! one copy every crate uses to turn dates into days since 1970-01-01 and back. Exact for every
//! `i64` day count a source can produce; no time zones.

/// Days from 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`]: (year, month, day).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `YYYY-MM-DD`, or `YYYY-MM-DD BC` (year 0 is 1 BC), for days since 1970-01-01.
pub fn date_text(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    if y <= 0 {
        format!("{:04}-{m:02}-{d:02} BC", 1 - y)
    } else {
        format!("{y:04}-{m:02}-{d:02}")
    }
}

/// `HH:MM:SS.ffffff` for microseconds since midnight; hours may exceed 23 or be negative.
pub fn time_text(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let a = micros.unsigned_abs();
    let secs = a / 1_000_000;
    format!("{sign}{:02}:{:02}:{:02}.{:06}", secs / 3600, (secs % 3600) / 60, secs % 60, a % 1_000_000)
}

/// `YYYY-MM-DD HH:MM:SS.ffffff`, with ` BC` last for years before 1, for microseconds since
/// 1970-01-01 00:00.
pub fn timestamp_text(micros: i64) -> String {
    let date = date_text(micros.div_euclid(86_400_000_000));
    let time = time_text(micros.rem_euclid(86_400_000_000));
    match date.strip_suffix(" BC") {
        Some(d) => format!("{d} {time} BC"),
        None => format!("{date} {time}"),
    }
}

/// ISO 8601 `YYYY-MM-DDTHH:MM:SS.ffffff` + `zone` (`""` or `"Z"`), with ` BC` last for years
/// before 1, for microseconds since 1970-01-01 00:00.
pub fn iso_timestamp(micros: i64, zone: &str) -> String {
    let t = timestamp_text(micros).replacen(' ', "T", 1);
    match t.strip_suffix(" BC") {
        Some(t) => format!("{t}{zone} BC"),
        None => format!("{t}{zone}"),
    }
}

/// `+HH:MM` (or `+HH:MM:SS` when seconds are not zero) for a UTC offset in seconds.
pub fn utc_offset_text(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    let (h, m, s) = (a / 3600, (a % 3600) / 60, a % 60);
    if s == 0 {
        format!("{sign}{h:02}:{m:02}")
    } else {
        format!("{sign}{h:02}:{m:02}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_across_eras() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(days_from_civil(-43, 3, 15)), (-43, 3, 15));
        assert_eq!(civil_from_days(days_from_civil(10000, 2, 29)), (10000, 2, 29));
        for d in [-1_000_000, -719_468, -1, 0, 59, 2_932_896, 100_000_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }
}
