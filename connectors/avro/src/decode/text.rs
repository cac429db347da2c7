//! Text forms inside change events, parsed back into [`sluice_core::Value`] parts: Debezium's
//! `ZonedTimestamp` / `ZonedTime` strings, ISO-8601 intervals, UUID strings, and Avro decimal
//! bytes rendered as exact decimal text.
//!
//! Invariants: every parser is the inverse of the matching formatter in [`crate::encode`]
//! (`format_timetz`, `format_interval`, `format_uuid`, decimal bytes) and also accepts what
//! Debezium writes (`2024-01-02T01:04:05.123456Z`, `13:37:03.5Z`, `P1Y2M3DT4H5M6.78S`).
//! Digits below a microsecond are truncated (PostgreSQL and MySQL never produce them). No
//! parser allocates except for its result; a malformed input is an `Err` with a reason that
//! never repeats the input (it may be sensitive).

use crate::decimal;

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// A byte scanner over ASCII text.
struct Scan<'a> {
    s: &'a [u8],
}

impl<'a> Scan<'a> {
    fn new(s: &'a str) -> Self {
        Self { s: s.as_bytes() }
    }

    fn peek(&self) -> Option<u8> {
        self.s.first().copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.s = &self.s[1..];
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8, what: &str) -> Result<(), String> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(format!("expected {what}"))
        }
    }

    /// Up to `max` decimal digits as a number, with how many there were.
    fn digits(&mut self, max: usize) -> (i64, usize) {
        let mut v: i64 = 0;
        let mut n = 0;
        while n < max {
            match self.peek() {
                Some(b @ b'0'..=b'9') => {
                    v = v * 10 + i64::from(b - b'0');
                    self.s = &self.s[1..];
                    n += 1;
                }
                _ => break,
            }
        }
        (v, n)
    }

    /// Exactly `n` digits.
    fn fixed(&mut self, n: usize, what: &str) -> Result<i64, String> {
        match self.digits(n) {
            (v, got) if got == n => Ok(v),
            _ => Err(format!("expected {n}-digit {what}")),
        }
    }

    /// `.ffffff…` after seconds, as microseconds (digits past the sixth are dropped).
    fn fraction_micros(&mut self) -> Result<i64, String> {
        if !self.eat(b'.') && !self.eat(b',') {
            return Ok(0);
        }
        let (v, n) = self.digits(6);
        if n == 0 {
            return Err("expected fractional digits".into());
        }
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.s = &self.s[1..];
        }
        Ok(v * 10i64.pow(6 - n as u32))
    }

    fn done(&self) -> Result<(), String> {
        if self.s.is_empty() {
            Ok(())
        } else {
            Err(format!("{} unexpected trailing characters", self.s.len()))
        }
    }
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `HH:MM[:SS[.f]]` as microseconds since midnight (24:00:00 allowed, as PostgreSQL does).
fn time_of_day(sc: &mut Scan<'_>) -> Result<i64, String> {
    let h = sc.fixed(2, "hour")?;
    sc.expect(b':', "':' after the hour")?;
    let m = sc.fixed(2, "minute")?;
    let s = if sc.eat(b':') { sc.fixed(2, "second")? } else { 0 };
    let frac = sc.fraction_micros()?;
    if h > 24 || m > 59 || s > 60 || (h == 24 && (m, s, frac) != (0, 0, 0)) {
        return Err("time of day out of range".into());
    }
    Ok(((h * 60 + m) * 60 + s) * MICROS_PER_SECOND + frac)
}

/// `Z`, `±HH`, `±HHMM`, `±HH:MM` or `±HH:MM:SS` as seconds east of UTC.
fn zone_offset(sc: &mut Scan<'_>) -> Result<i32, String> {
    if sc.eat(b'Z') || sc.eat(b'z') {
        return Ok(0);
    }
    let sign = if sc.eat(b'+') {
        1
    } else if sc.eat(b'-') {
        -1
    } else {
        return Err("expected a zone offset (Z or ±HH:MM)".into());
    };
    let h = sc.fixed(2, "offset hours")?;
    let colon = sc.eat(b':');
    let (m, got) = sc.digits(2);
    if colon && got != 2 || got == 1 {
        return Err("expected 2-digit offset minutes".into());
    }
    let s = if got == 2 && sc.eat(b':') { sc.fixed(2, "offset seconds")? } else { 0 };
    if h > 18 || m > 59 || s > 59 {
        return Err("zone offset out of range".into());
    }
    Ok(sign * (h * 3600 + m * 60 + s) as i32)
}

/// Debezium's `io.debezium.time.ZonedTimestamp` (ISO-8601 with an offset, normally `Z`) as
/// microseconds since the epoch in UTC. PostgreSQL's `infinity` / `-infinity` map to
/// `i64::MAX` / `i64::MIN`.
pub(crate) fn parse_zoned_timestamp(text: &str) -> Result<i64, String> {
    match text {
        "infinity" | "+infinity" => return Ok(i64::MAX),
        "-infinity" => return Ok(i64::MIN),
        _ => {}
    }
    let mut sc = Scan::new(text);
    let neg_year = if sc.eat(b'-') {
        true
    } else {
        sc.eat(b'+');
        false
    };
    let (year, n) = sc.digits(9);
    if n < 4 {
        return Err("expected a year of at least 4 digits".into());
    }
    let year = if neg_year { -year } else { year };
    sc.expect(b'-', "'-' after the year")?;
    let month = sc.fixed(2, "month")? as u32;
    sc.expect(b'-', "'-' after the month")?;
    let day = sc.fixed(2, "day")? as u32;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err("date out of range".into());
    }
    if !sc.eat(b'T') && !sc.eat(b't') && !sc.eat(b' ') {
        return Err("expected 'T' between date and time".into());
    }
    let tod = time_of_day(&mut sc)?;
    let offset = zone_offset(&mut sc)?;
    sc.done()?;
    let micros = i128::from(sluice_core::civil::days_from_civil(year, month, day))
        * i128::from(MICROS_PER_DAY)
        + i128::from(tod)
        - i128::from(offset) * i128::from(MICROS_PER_SECOND);
    i64::try_from(micros).map_err(|_| "timestamp out of range".to_string())
}

/// Debezium's `io.debezium.time.ZonedTime` / Sluice's time-with-zone text
/// (`HH:MM:SS[.ffffff]±hh:mm[:ss]` or `…Z`) as (local microseconds since midnight, seconds
/// east of UTC).
pub(crate) fn parse_zoned_time(text: &str) -> Result<(i64, i32), String> {
    let mut sc = Scan::new(text);
    let micros = time_of_day(&mut sc)?;
    let offset = zone_offset(&mut sc)?;
    sc.done()?;
    Ok((micros, offset))
}

/// An ISO-8601 duration with an optional sign per component or on the whole
/// (`P1Y2M3DT4H5M6.000007S`, `P-1Y-2M`, `-P1D`, `PT0S`, `P2W`) as (months, days, micros).
pub(crate) fn parse_interval(text: &str) -> Result<(i32, i32, i64), String> {
    let mut sc = Scan::new(text);
    let whole_neg = sc.eat(b'-');
    if !whole_neg {
        sc.eat(b'+');
    }
    if !sc.eat(b'P') && !sc.eat(b'p') {
        return Err("an ISO-8601 duration starts with 'P'".into());
    }
    let (mut months, mut days, mut micros) = (0i64, 0i64, 0i64);
    let mut in_time = false;
    let mut any = false;
    while sc.peek().is_some() {
        if sc.eat(b'T') || sc.eat(b't') {
            if in_time {
                return Err("duplicate 'T' in duration".into());
            }
            in_time = true;
            continue;
        }
        let neg = sc.eat(b'-');
        if !neg {
            sc.eat(b'+');
        }
        let (int, n) = sc.digits(18);
        if n == 0 {
            return Err("expected a number in duration".into());
        }
        let frac = sc.fraction_micros()?;
        let unit = sc.peek().ok_or("duration component without a unit")?;
        sc.s = &sc.s[1..];
        let sign = if neg { -1 } else { 1 };
        let overflow = || "duration out of range".to_string();
        let add = |acc: i64, v: Option<i64>| v.and_then(|v| acc.checked_add(sign * v)).ok_or_else(overflow);
        if frac != 0 && !(in_time && matches!(unit, b'S' | b's')) {
            return Err("only seconds may have a fraction in a duration".into());
        }
        match (in_time, unit.to_ascii_uppercase()) {
            (false, b'Y') => months = add(months, int.checked_mul(12))?,
            (false, b'M') => months = add(months, Some(int))?,
            (false, b'W') => days = add(days, int.checked_mul(7))?,
            (false, b'D') => days = add(days, Some(int))?,
            (true, b'H') => micros = add(micros, int.checked_mul(3_600 * MICROS_PER_SECOND))?,
            (true, b'M') => micros = add(micros, int.checked_mul(60 * MICROS_PER_SECOND))?,
            (true, b'S') => {
                micros = add(micros, int.checked_mul(MICROS_PER_SECOND).and_then(|v| v.checked_add(frac)))?
            }
            _ => return Err("unknown duration unit".into()),
        }
        any = true;
    }
    if !any {
        return Err("empty duration".into());
    }
    let whole = |v: i64| if whole_neg { v.checked_neg() } else { Some(v) };
    let months = whole(months).and_then(|m| i32::try_from(m).ok()).ok_or("duration months out of range")?;
    let days = whole(days).and_then(|d| i32::try_from(d).ok()).ok_or("duration days out of range")?;
    Ok((months, days, whole(micros).ok_or("duration out of range")?))
}

/// `12345678-9abc-def0-1234-56789abcdef0` (or the 32 hex digits alone, any case).
pub(crate) fn parse_uuid(text: &str) -> Result<[u8; 16], String> {
    let b = text.as_bytes();
    let hyphenated = b.len() == 36;
    if !hyphenated && b.len() != 32 {
        return Err("a UUID has 32 hex digits".into());
    }
    if hyphenated && [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
        return Err("misplaced '-' in UUID".into());
    }
    let mut out = [0u8; 16];
    let mut nibbles = b.iter().filter(|&&c| !(hyphenated && c == b'-'));
    for byte in out.iter_mut() {
        let (Some(hi), Some(lo)) = (nibbles.next(), nibbles.next()) else {
            return Err("a UUID has 32 hex digits".into());
        };
        *byte = (hex(*hi)? << 4) | hex(*lo)?;
    }
    Ok(out)
}

fn hex(c: u8) -> Result<u8, String> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err("non-hex digit in UUID".into()),
    }
}

/// The largest decimal scale (either sign) accepted: PostgreSQL's `numeric` allows 16383
/// fractional digits; anything beyond is a corrupt record, refused before the text is sized.
pub(crate) const MAX_DECIMAL_SCALE: i32 = 1 << 15;

/// Avro decimal bytes (big-endian two's complement of the unscaled value) at `scale` as exact
/// text, in the same form as [`decimal::from_unscaled_bytes`]: `-12345.678`, `0.00`. A negative
/// scale (possible in `VariableScaleDecimal`) appends zeros. Values up to 16 bytes take an
/// integer fast path with one allocation (the result). `|scale|` must not exceed
/// [`MAX_DECIMAL_SCALE`] (callers check).
pub(crate) fn decimal_text(bytes: &[u8], scale: i32) -> String {
    if scale < 0 {
        let mut s = decimal_text(bytes, 0);
        if s != "0" {
            s.extend(std::iter::repeat_n('0', scale.unsigned_abs() as usize));
        }
        return s;
    }
    let scale = scale as u32;
    if bytes.len() > 16 {
        return decimal::from_unscaled_bytes(bytes, scale);
    }
    let mut v: i128 = if bytes.first().is_some_and(|b| b & 0x80 != 0) { -1 } else { 0 };
    for &b in bytes {
        v = (v << 8) | i128::from(b);
    }
    let neg = v < 0;
    let mut mag = v.unsigned_abs();
    // Digits, least significant first, into a stack buffer (u128 has at most 39).
    let mut digits = [0u8; 40];
    let mut n = 0;
    if let Ok(mut small) = u64::try_from(mag) {
        loop {
            digits[n] = b'0' + (small % 10) as u8;
            n += 1;
            small /= 10;
            if small == 0 {
                break;
            }
        }
    } else {
        while mag != 0 {
            digits[n] = b'0' + (mag % 10) as u8;
            n += 1;
            mag /= 10;
        }
    }
    let scale = scale as usize;
    let int_len = n.saturating_sub(scale).max(1);
    let mut out = String::with_capacity(usize::from(neg) + int_len + 1 + scale);
    if neg {
        out.push('-');
    }
    if n <= scale {
        out.push('0');
    } else {
        for i in (scale..n).rev() {
            out.push(char::from(digits[i]));
        }
    }
    if scale > 0 {
        out.push('.');
        for i in (0..scale).rev() {
            out.push(if i < n { char::from(digits[i]) } else { '0' });
        }
    }
    out
}

/// Standard base64 with padding (bytes inside structures rendered as JSON, as Kafka Connect's
/// JSON converter does).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{format_interval, format_timetz, format_uuid};
    use sluice_core::civil::days_from_civil;

    #[test]
    fn zoned_timestamps() {
        assert_eq!(parse_zoned_timestamp("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_zoned_timestamp("2024-01-02T01:04:05.123456Z"), Ok(1_704_157_445_123_456));
        assert_eq!(parse_zoned_timestamp("2024-01-02T02:04:05.123456+01:00"), Ok(1_704_157_445_123_456));
        assert_eq!(parse_zoned_timestamp("2024-01-02T01:04:05.1234567Z"), Ok(1_704_157_445_123_456));
        assert_eq!(parse_zoned_timestamp("2024-01-02T01:04:05.5Z"), Ok(1_704_157_445_500_000));
        assert_eq!(parse_zoned_timestamp("1969-12-31T23:59:58.999999Z"), Ok(-1_000_001));
        assert_eq!(parse_zoned_timestamp("2018-06-20T13:37:03Z"), Ok(1_529_501_823_000_000));
        assert_eq!(parse_zoned_timestamp("2000-02-29T00:00:00-0130"), Ok(951_787_800_000_000));
        assert_eq!(parse_zoned_timestamp("-infinity"), Ok(i64::MIN));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1, 1, 1), -719_162);
        assert_eq!(
            parse_zoned_timestamp("-0044-03-15T12:00:00Z"),
            Ok(days_from_civil(-44, 3, 15) * MICROS_PER_DAY + 12 * 3_600 * MICROS_PER_SECOND)
        );
        for bad in ["2024-13-01T00:00:00Z", "2023-02-29T00:00:00Z", "2024-01-02T01:04:05", "2024-01-02", "x"]
        {
            assert!(parse_zoned_timestamp(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn zoned_times_round_trip_the_encoder() {
        for (micros, off) in [(3_723_000_000, 3600), (0, -19_800), (86_399_999_999, 0), (1, 45_296)] {
            assert_eq!(parse_zoned_time(&format_timetz(micros, off)), Ok((micros, off)));
        }
        assert_eq!(parse_zoned_time("13:37:03.5Z"), Ok((49_023_500_000, 0)));
        assert_eq!(parse_zoned_time("24:00:00Z"), Ok((MICROS_PER_DAY, 0)));
        assert!(parse_zoned_time("13:37:03").is_err());
        assert!(parse_zoned_time("25:00:00Z").is_err());
    }

    #[test]
    fn intervals_round_trip_the_encoder() {
        for (m, d, us) in
            [(14, 3, 14_706_000_007), (0, 0, 0), (-14, 0, 0), (0, -1, -3_600_000_000), (1, -2, 5)]
        {
            assert_eq!(
                parse_interval(&format_interval(m, d, us)),
                Ok((m, d, us)),
                "{}",
                format_interval(m, d, us)
            );
        }
        assert_eq!(parse_interval("P1Y2M3DT4H5M6.78S"), Ok((14, 3, 14_706_780_000)));
        assert_eq!(parse_interval("P2W"), Ok((0, 14, 0)));
        assert_eq!(parse_interval("-P1DT1H"), Ok((0, -1, -3_600_000_000)));
        assert_eq!(parse_interval("PT-0.5S"), Ok((0, 0, -500_000)));
        for bad in
            ["", "P", "1D", "P1.5D", "P1X", "PT1H T", "-P768614336404564650Y-8M", "P999999999999999999D"]
        {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn uuids() {
        let u =
            [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0];
        assert_eq!(parse_uuid(&format_uuid(&u)), Ok(u));
        assert_eq!(parse_uuid("123456789ABCDEF0123456789ABCDEF0"), Ok(u));
        assert!(parse_uuid("12345678-9abc-def0-1234-56789abcdef").is_err());
        assert!(parse_uuid("1234567809abc-def0-1234-56789abcdef0").is_err());
        assert!(parse_uuid("g2345678-9abc-def0-1234-56789abcdef0").is_err());
    }

    #[test]
    fn decimal_text_matches_the_reference_conversion() {
        let cases = [
            ("0", 0),
            ("0.00", 2),
            ("-0.01", 2),
            ("-12345.678", 3),
            ("1.28", 2),
            ("-1.28", 2),
            ("18446744073709551615", 0),
            ("-99999999999999999999999999999999999999", 0),
            ("123456789012345678901234567890.12345678", 8),
            ("1234567890123456789012345678901234567890123456789012345678901234567890.5", 1),
        ];
        for (t, s) in cases {
            let mut b = Vec::new();
            decimal::to_unscaled_bytes(t, s, &mut b).unwrap();
            assert_eq!(decimal_text(&b, s as i32), t);
            assert_eq!(decimal::from_unscaled_bytes(&b, s), t);
        }
        assert_eq!(decimal_text(&[], 3), "0.000");
        assert_eq!(decimal_text(&[12], -3), "12000");
        assert_eq!(decimal_text(&[0], -3), "0");
    }

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0xff, 0xfe, 0x00, 0x01]), "//4AAQ==");
    }
}
