//! Temporal storage formats (MySQL 5.6.4+ "2" formats, used by MariaDB ≥ 10.1.2 with
//! `mysql56_temporal_format=ON`, and the older fixed formats) decoded to exact integers.
//!
//! - DATE: 3 bytes little-endian, `year << 9 | month << 5 | day` → days since 1970-01-01.
//! - TIME2: 3 bytes big-endian `hms + 0x800000` plus 0–3 bytes of fraction, with negative values
//!   stored in "reverse fraction" order → signed microseconds, up to ±838:59:59.999999.
//! - DATETIME2: 5 bytes big-endian `ymdhms + 0x8000000000` plus fraction → wall-clock
//!   microseconds since the epoch (no time zone).
//! - TIMESTAMP2: 4 bytes big-endian seconds since the epoch (UTC) plus fraction → microseconds.
//!
//! A date whose month or day is zero (`0000-00-00`, `2024-00-10`) or whose day does not exist in
//! its month has no day number: the decoder returns [`Temporal::Zero`] and the caller applies the
//! configured zero-date rule.

use super::reader::Reader;

/// A decoded temporal value, or the marker for a zero/invalid date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temporal {
    Value(i64),
    Zero,
}

const MICROS_PER_SEC: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SEC;

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days since the epoch, or `None` for a zero or impossible date.
pub fn civil_days(y: i64, m: u32, d: u32) -> Option<i64> {
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(sluice_core::civil::days_from_civil(y, m, d))
}

/// Fractional seconds stored after the integer part, in microseconds. `signed` selects the
/// DATETIME2 reading (sign-extended) over the TIMESTAMP2 one; both hold 0..=999999.
fn read_fraction(r: &mut Reader<'_>, fsp: u8) -> Result<i64, String> {
    Ok(match fsp {
        0 => 0,
        1 | 2 => i64::from(r.u8()?) * 10_000,
        3 | 4 => r.uint_be(2)? as i64 * 100,
        5 | 6 => r.uint_be(3)? as i64,
        _ => return Err(format!("invalid fractional seconds precision {fsp}")),
    })
}

pub fn read_date(r: &mut Reader<'_>) -> Result<Temporal, String> {
    let v = r.uint_le(3)?;
    let (y, m, d) = ((v >> 9) as i64, ((v >> 5) & 15) as u32, (v & 31) as u32);
    Ok(civil_days(y, m, d).map_or(Temporal::Zero, Temporal::Value))
}

/// Signed microseconds from a TIME2 value.
pub fn read_time2(r: &mut Reader<'_>, fsp: u8) -> Result<i64, String> {
    const INT_OFS: i64 = 0x80_0000;
    let packed: i64 = match fsp {
        0 => (r.uint_be(3)? as i64 - INT_OFS) << 24,
        1 | 2 => {
            let mut int = r.uint_be(3)? as i64 - INT_OFS;
            let mut frac = i64::from(r.u8()?);
            if int < 0 && frac != 0 {
                int += 1;
                frac -= 0x100;
            }
            int * (1 << 24) + frac * 10_000
        }
        3 | 4 => {
            let mut int = r.uint_be(3)? as i64 - INT_OFS;
            let mut frac = r.uint_be(2)? as i64;
            if int < 0 && frac != 0 {
                int += 1;
                frac -= 0x1_0000;
            }
            int * (1 << 24) + frac * 100
        }
        5 | 6 => r.uint_be(6)? as i64 - 0x8000_0000_0000,
        _ => return Err(format!("invalid TIME precision {fsp}")),
    };
    Ok(time_from_packed(packed))
}

/// MySQL's in-memory packed TIME (`hms << 24 | micros`, negated for negative values).
pub fn time_from_packed(packed: i64) -> i64 {
    let neg = packed < 0;
    let a = packed.unsigned_abs() as i64;
    let hms = a >> 24;
    let micros = a % (1 << 24);
    let hour = (hms >> 12) % (1 << 10);
    let minute = (hms >> 6) % (1 << 6);
    let second = hms % (1 << 6);
    let v = ((hour * 60 + minute) * 60 + second) * MICROS_PER_SEC + micros;
    if neg {
        -v
    } else {
        v
    }
}

/// Pre-5.6.4 TIME: 3-byte signed little-endian `±HHMMSS`.
pub fn read_time_old(r: &mut Reader<'_>) -> Result<i64, String> {
    let raw = r.uint_le(3)? as i64;
    let v = if raw & 0x80_0000 != 0 { raw - 0x100_0000 } else { raw };
    let a = v.abs();
    let secs = (a / 10_000) * 3600 + (a / 100 % 100) * 60 + a % 100;
    Ok(v.signum() * secs * MICROS_PER_SEC)
}

/// Wall-clock microseconds since the epoch from a DATETIME2 value.
pub fn read_datetime2(r: &mut Reader<'_>, fsp: u8) -> Result<Temporal, String> {
    let int = r.uint_be(5)? as i64 - 0x80_0000_0000;
    let frac = read_fraction(r, fsp)?;
    Ok(datetime_from_packed(int.abs(), frac))
}

/// `ymdhms` as packed by DATETIME2 (and by JSON's packed datetimes) plus microseconds.
pub fn datetime_from_packed(ymdhms: i64, micros: i64) -> Temporal {
    let ymd = ymdhms >> 17;
    let ym = ymd >> 5;
    let hms = ymdhms % (1 << 17);
    let (year, month, day) = (ym / 13, (ym % 13) as u32, (ymd % 32) as u32);
    let (hour, minute, second) = (hms >> 12, (hms >> 6) % 64, hms % 64);
    match civil_days(year, month, day) {
        Some(days) => Temporal::Value(
            days * MICROS_PER_DAY + ((hour * 60 + minute) * 60 + second) * MICROS_PER_SEC + micros,
        ),
        None => Temporal::Zero,
    }
}

/// Pre-5.6.4 DATETIME: 8-byte little-endian `YYYYMMDDhhmmss`.
pub fn read_datetime_old(r: &mut Reader<'_>) -> Result<Temporal, String> {
    let v = r.uint_le(8)? as i64;
    let (date, time) = (v / 1_000_000, v % 1_000_000);
    let (y, m, d) = (date / 10_000, (date / 100 % 100) as u32, (date % 100) as u32);
    let secs = (time / 10_000) * 3600 + (time / 100 % 100) * 60 + time % 100;
    Ok(match civil_days(y, m, d) {
        Some(days) => Temporal::Value(days * MICROS_PER_DAY + secs * MICROS_PER_SEC),
        None => Temporal::Zero,
    })
}

/// UTC microseconds since the epoch from a TIMESTAMP2 value; 0 is the zero timestamp.
pub fn read_timestamp2(r: &mut Reader<'_>, fsp: u8) -> Result<Temporal, String> {
    let secs = r.uint_be(4)? as i64;
    let frac = read_fraction(r, fsp)?;
    Ok(if secs == 0 && frac == 0 { Temporal::Zero } else { Temporal::Value(secs * MICROS_PER_SEC + frac) })
}

pub fn read_timestamp_old(r: &mut Reader<'_>) -> Result<Temporal, String> {
    let secs = r.uint_le(4)? as i64;
    Ok(if secs == 0 { Temporal::Zero } else { Temporal::Value(secs * MICROS_PER_SEC) })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use sluice_core::civil::days_from_civil;

    #[test]
    fn civil() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(1, 1, 1), -719_162);
        assert_eq!(days_from_civil(9999, 12, 31), 2_932_896);
        assert_eq!(civil_days(2023, 2, 29), None);
        assert_eq!(civil_days(2024, 2, 29), Some(19_782));
        assert_eq!(civil_days(0, 0, 0), None);
    }

    fn time2(bytes: &[u8], fsp: u8) -> i64 {
        read_time2(&mut Reader::new(bytes), fsp).unwrap()
    }

    /// TIME2 bytes as the server writes them: `packed + offset`, big-endian, where packed
    /// holds `hms << 24 | micros` negated for negative values.
    fn encode_time2(micros: i64, fsp: u8) -> Vec<u8> {
        let a = micros.abs();
        let secs = a / 1_000_000;
        let hms = ((secs / 3600) << 12) | ((secs / 60 % 60) << 6) | (secs % 60);
        let packed = (hms << 24) | (a % 1_000_000);
        let packed = if micros < 0 { -packed } else { packed };
        match fsp {
            0 => ((packed >> 24) + 0x80_0000).to_be_bytes()[5..].to_vec(),
            1..=4 => {
                // int part and fraction as MySQL's my_time_packed_to_binary splits them.
                // (C semantics: `>>` floors, `%` truncates, the fraction byte(s) wrap.)
                let (div, width, modulus) = if fsp <= 2 { (10_000, 1, 0x100) } else { (100, 2, 0x1_0000) };
                let int = packed >> 24;
                let frac = ((packed % (1 << 24)) / div).rem_euclid(modulus);
                let mut v = (int + 0x80_0000).to_be_bytes()[5..].to_vec();
                v.extend_from_slice(&frac.to_be_bytes()[8 - width..]);
                v
            }
            _ => (packed + 0x8000_0000_0000).to_be_bytes()[2..].to_vec(),
        }
    }

    #[test]
    fn time2_round_trips_negative_and_fractional() {
        let cases: [(i64, u8); 10] = [
            (0, 0),
            (3_723_000_000, 0),
            (-3_723_000_000, 0),
            (838 * 3_600_000_000 + 59 * 60_000_000 + 59_999_999, 6),
            (-(838 * 3_600_000_000 + 59 * 60_000_000 + 59_999_999), 6),
            (-10_000, 2),
            (-1_010_000, 2),
            (-1_100_000, 1),
            (-1_234_500, 4),
            (45_296_789_000, 3),
        ];
        for (micros, fsp) in cases {
            assert_eq!(time2(&encode_time2(micros, fsp), fsp), micros, "{micros} fsp {fsp}");
        }
        // The documented disk values of MySQL's my_time_packed_from_binary (fsp 2).
        assert_eq!(time2(&[0x80, 0, 0, 0], 2), 0);
        assert_eq!(time2(&[0x7F, 0xFF, 0xFF, 0xFF], 2), -10_000);
        assert_eq!(time2(&[0x7F, 0xFF, 0xFF, 0x9D], 2), -990_000);
        assert_eq!(time2(&[0x7F, 0xFF, 0xFF, 0x00], 2), -1_000_000);
        assert_eq!(time2(&[0x7F, 0xFF, 0xFE, 0xF6], 2), -1_100_000);
    }

    #[test]
    fn datetime2_and_timestamp2() {
        // 2024-02-29 13:14:15.123456 (fsp 6)
        let ymd = ((2024 * 13 + 2) << 5) | 29;
        let hms = (13 << 12) | (14 << 6) | 15;
        let int = ((ymd << 17) | hms) + 0x80_0000_0000i64;
        let mut b = int.to_be_bytes()[3..].to_vec();
        b.extend_from_slice(&123_456i64.to_be_bytes()[5..]);
        let expect = (days_from_civil(2024, 2, 29) * 86_400 + 13 * 3600 + 14 * 60 + 15) * 1_000_000 + 123_456;
        assert_eq!(read_datetime2(&mut Reader::new(&b), 6).unwrap(), Temporal::Value(expect));
        let zero = 0x80_0000_0000i64.to_be_bytes()[3..].to_vec();
        assert_eq!(read_datetime2(&mut Reader::new(&zero), 0).unwrap(), Temporal::Zero);

        let ts = [0x65, 0x00, 0x00, 0x00, 0x30, 0x39];
        assert_eq!(
            read_timestamp2(&mut Reader::new(&ts), 4).unwrap(),
            Temporal::Value(0x6500_0000 * 1_000_000 + 12_345 * 100)
        );
        assert_eq!(read_timestamp2(&mut Reader::new(&[0, 0, 0, 0]), 0).unwrap(), Temporal::Zero);
    }

    #[test]
    fn date_and_old_formats() {
        let v: u32 = (2024 << 9) | (12 << 5) | 31;
        let b = v.to_le_bytes();
        assert_eq!(
            read_date(&mut Reader::new(&b[..3])).unwrap(),
            Temporal::Value(days_from_civil(2024, 12, 31))
        );
        assert_eq!(read_date(&mut Reader::new(&[0, 0, 0])).unwrap(), Temporal::Zero);
        let t = (-123_456i32).to_le_bytes();
        assert_eq!(
            read_time_old(&mut Reader::new(&t[..3])).unwrap(),
            -(12 * 3600 + 34 * 60 + 56) * 1_000_000
        );
        let dt = 20240102030405u64.to_le_bytes();
        assert_eq!(
            read_datetime_old(&mut Reader::new(&dt)).unwrap(),
            Temporal::Value((days_from_civil(2024, 1, 2) * 86_400 + 3 * 3600 + 4 * 60 + 5) * 1_000_000)
        );
    }
}
