//! Values as MariaDB statement parameters.
//!
//! Every [`Value`] becomes a [`Cell`]: a hashable mirror of a `mysql_async` parameter, so a row's
//! key can index the batch plan. Values are bound in the binary protocol, never spliced into SQL.
//! Exactness rules: decimals travel as their decimal text and must fit the target's
//! `DECIMAL(p,s)` without rounding; temporal values are built from their integer microseconds
//! (`DATETIME`/`TIME` keep all six fractional digits; `TIMESTAMP WITH TIME ZONE` is bound in UTC,
//! the session time zone); bytes stay bytes. Types MariaDB has no counterpart for are bound as
//! text: `timetz` with its offset, intervals in ISO 8601 (`P1Y2M3DT4H5M6.5S`), uuids in their
//! hyphenated form, arrays as JSON arrays.
//!
//! Failure: a value MariaDB cannot store (a date outside years 1–9999, `NaN`/`Infinity`, a
//! `TIME` beyond ±838:59:59.999999, a decimal needing more digits than its column) is refused
//! with a reason; the caller names table and column and fails the batch (fatal). Nothing is
//! silently clamped, rounded or nulled. [`Cell::Unchanged`] is not a value: the statement
//! builder leaves such a column out.

use sluice_core::{civil, text};

use sluice_core::Value;

/// Largest `TIME` magnitude MariaDB stores: 838:59:59.999999, in microseconds.
const MAX_TIME_MICROS: i64 = (838 * 3600 + 59 * 60 + 59) * 1_000_000 + 999_999;

/// One column of a row as it will be bound.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Cell {
    /// The source did not send it; the target keeps its value.
    Unchanged,
    Null,
    Int(i64),
    UInt(u64),
    /// `f32` bits (hashable); always finite.
    Float(u32),
    /// `f64` bits (hashable); always finite.
    Double(u64),
    Bytes(Vec<u8>),
    DateTime {
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
        micros: u32,
    },
    Time {
        negative: bool,
        days: u32,
        hours: u8,
        minutes: u8,
        seconds: u8,
        micros: u32,
    },
}

impl Cell {
    /// The parameter to bind. `Unchanged` binds as NULL but is never bound by the builder.
    pub fn param(&self) -> mysql_async::Value {
        use mysql_async::Value as V;
        match self {
            Cell::Unchanged | Cell::Null => V::NULL,
            Cell::Int(n) => V::Int(*n),
            Cell::UInt(n) => V::UInt(*n),
            Cell::Float(b) => V::Float(f32::from_bits(*b)),
            Cell::Double(b) => V::Double(f64::from_bits(*b)),
            Cell::Bytes(b) => V::Bytes(b.clone()),
            Cell::DateTime { year, month, day, hour, minute, second, micros } => {
                V::Date(*year, *month, *day, *hour, *minute, *second, *micros)
            }
            Cell::Time { negative, days, hours, minutes, seconds, micros } => {
                V::Time(*negative, *days, *hours, *minutes, *seconds, *micros)
            }
        }
    }

    /// Roughly how many bytes the parameter takes on the wire (for statement sizing).
    pub fn wire_len(&self) -> usize {
        match self {
            Cell::Bytes(b) => b.len() + 9,
            _ => 12,
        }
    }
}

/// What the conversion needs to know about the target column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// `DECIMAL(p,s)`: a decimal must fit without rounding.
    Decimal {
        precision: u32,
        scale: u32,
    },
    /// `BIT(n)`: bit strings (little-endian bytes from a MariaDB source) are bound as integers.
    Bit,
    Other,
}

impl Slot {
    /// From a target column type as `information_schema.COLUMNS.COLUMN_TYPE` spells it.
    pub fn of(column_type: &str) -> Slot {
        let t = column_type.trim().to_ascii_lowercase();
        let args = || -> Vec<u32> {
            t.find('(')
                .and_then(|a| t[a + 1..].find(')').map(|b| &t[a + 1..a + 1 + b]))
                .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
                .unwrap_or_default()
        };
        if t.starts_with("decimal") || t.starts_with("numeric") {
            let a = args();
            Slot::Decimal {
                precision: a.first().copied().unwrap_or(10),
                scale: a.get(1).copied().unwrap_or(0),
            }
        } else if t.starts_with("bit") {
            Slot::Bit
        } else {
            Slot::Other
        }
    }
}

/// The cell for `v` in a column of kind `slot`, or why MariaDB cannot store it.
pub fn cell(v: &Value, slot: Slot) -> Result<Cell, String> {
    Ok(match v {
        Value::Null => Cell::Null,
        Value::Unchanged => Cell::Unchanged,
        Value::Bool(b) => Cell::Int(i64::from(*b)),
        Value::Int16(n) => Cell::Int(i64::from(*n)),
        Value::Int32(n) => Cell::Int(i64::from(*n)),
        Value::Int64(n) => Cell::Int(*n),
        Value::UInt64(n) => Cell::UInt(*n),
        Value::Float32(f) if f.is_finite() => Cell::Float(f.to_bits()),
        Value::Float64(f) if f.is_finite() => Cell::Double(f.to_bits()),
        Value::Float32(f) => return Err(format!("{f} cannot be stored: MariaDB has no NaN or infinity")),
        Value::Float64(f) => return Err(format!("{f} cannot be stored: MariaDB has no NaN or infinity")),
        Value::Decimal(s) => {
            check_decimal(s, slot)?;
            Cell::Bytes(s.as_bytes().to_vec())
        }
        Value::Text(s) | Value::Json(s) => Cell::Bytes(s.as_bytes().to_vec()),
        Value::Bytes(b) if slot == Slot::Bit => {
            if b.len() > 8 {
                return Err(format!("a bit string of {} bytes does not fit BIT(64)", b.len()));
            }
            // Little-endian, as sources carry bit strings.
            Cell::UInt(b.iter().rev().fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte)))
        }
        Value::Bytes(b) => Cell::Bytes(b.clone()),
        Value::Uuid(u) => Cell::Bytes(text::uuid_text(u).into_bytes()),
        Value::Date(days) => {
            let (year, month, day) = civil_checked(i64::from(*days), || civil::date_text(i64::from(*days)))?;
            Cell::DateTime { year, month, day, hour: 0, minute: 0, second: 0, micros: 0 }
        }
        Value::Time(micros) => {
            if micros.unsigned_abs() > MAX_TIME_MICROS.unsigned_abs() {
                return Err(format!(
                    "time {} is outside MariaDB's TIME range (±838:59:59.999999)",
                    civil::time_text(*micros)
                ));
            }
            let a = micros.unsigned_abs();
            let secs = a / 1_000_000;
            let hours = secs / 3600;
            Cell::Time {
                negative: *micros < 0,
                days: (hours / 24) as u32,
                hours: (hours % 24) as u8,
                minutes: ((secs % 3600) / 60) as u8,
                seconds: (secs % 60) as u8,
                micros: (a % 1_000_000) as u32,
            }
        }
        Value::TimeTz { micros, offset_seconds } => Cell::Bytes(
            format!("{}{}", civil::time_text(*micros), sluice_core::civil::utc_offset_text(*offset_seconds))
                .into_bytes(),
        ),
        Value::Timestamp(m) | Value::TimestampTz(m) => {
            let days = m.div_euclid(86_400_000_000);
            let rem = m.rem_euclid(86_400_000_000);
            let (year, month, day) = civil_checked(days, || civil::timestamp_text(*m))?;
            let secs = rem / 1_000_000;
            Cell::DateTime {
                year,
                month,
                day,
                hour: (secs / 3600) as u8,
                minute: ((secs % 3600) / 60) as u8,
                second: (secs % 60) as u8,
                micros: (rem % 1_000_000) as u32,
            }
        }
        Value::Interval { months, days, micros } => {
            Cell::Bytes(text::interval_iso(*months, *days, *micros).into_bytes())
        }
        Value::Array(items) => {
            let mut s = String::new();
            text::json_array(items, &mut s);
            Cell::Bytes(s.into_bytes())
        }
    })
}

/// The nearest value MariaDB holds for `v`, which `cell` refused (`unrepresentable_values =
/// "clamp"`); `None` when there is none (NaN, a decimal that does not fit).
pub fn clamped(v: &Value, slot: Slot) -> Option<Cell> {
    let days_of = |d: i64| d.clamp(MIN_DAYS, MAX_DAYS);
    match v {
        Value::Float32(f) if f.is_infinite() => Some(Cell::Float((f.signum() * f32::MAX).to_bits())),
        Value::Float64(f) if f.is_infinite() => Some(Cell::Double((f.signum() * f64::MAX).to_bits())),
        Value::Date(d) => cell(&Value::Date(days_of(i64::from(*d)) as i32), slot).ok(),
        Value::Timestamp(m) | Value::TimestampTz(m) => {
            let lo = MIN_DAYS * 86_400_000_000;
            let hi = (MAX_DAYS + 1) * 86_400_000_000 - 1;
            cell(&Value::Timestamp((*m).clamp(lo, hi)), slot).ok()
        }
        Value::Time(t) => cell(&Value::Time((*t).clamp(-MAX_TIME_MICROS, MAX_TIME_MICROS)), slot).ok(),
        _ => None,
    }
}

/// Days of 0001-01-01 and 9999-12-31, MariaDB's first and last dates.
const MIN_DAYS: i64 = -719_162;
const MAX_DAYS: i64 = 2_932_896;

/// A decimal's text must be finite and, for a `DECIMAL(p,s)` column, need at most `p-s` integer
/// and `s` fractional digits (trailing fractional zeros are free): MariaDB would round or refuse.
fn check_decimal(s: &str, slot: Slot) -> Result<(), String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    if lower.contains("nan") || lower.contains("inf") {
        return Err(format!("decimal {t} cannot be stored: MariaDB's DECIMAL has no NaN or infinity"));
    }
    let Slot::Decimal { precision, scale } = slot else { return Ok(()) };
    if lower.contains('e') {
        return Ok(()); // exponent form: left to the server's range check
    }
    let digits = t.trim_start_matches(['-', '+']);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let int_digits = int.trim_start_matches('0').len();
    let frac_digits = frac.trim_end_matches('0').len();
    let int_room = precision.saturating_sub(scale) as usize;
    if int_digits > int_room || frac_digits > scale as usize {
        return Err(format!(
            "decimal {t} does not fit DECIMAL({precision},{scale}) without rounding or overflow"
        ));
    }
    Ok(())
}

/// The civil date, if MariaDB's `DATE`/`DATETIME` (years 1–9999) can hold it.
fn civil_checked(days: i64, text: impl Fn() -> String) -> Result<(u16, u8, u8), String> {
    let (y, m, d) = sluice_core::civil::civil_from_days(days);
    if !(1..=9999).contains(&y) {
        return Err(format!("{} is outside MariaDB's date range (0001-01-01 … 9999-12-31)", text()));
    }
    Ok((y as u16, m as u8, d as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(c: Cell) -> String {
        match c {
            Cell::Bytes(b) => String::from_utf8(b).unwrap(),
            other => panic!("not bytes: {other:?}"),
        }
    }

    #[test]
    fn clamping_reaches_the_nearest_storable_value() {
        assert!(matches!(
            clamped(&Value::Timestamp(i64::MAX), Slot::Other),
            Some(Cell::DateTime { year: 9999, month: 12, day: 31, micros: 999_999, .. })
        ));
        assert!(clamped(&Value::Date(i32::MIN), Slot::Other).is_some());
        assert!(clamped(&Value::Float64(f64::NAN), Slot::Other).is_none());
        assert!(clamped(&Value::Float64(f64::NEG_INFINITY), Slot::Other).is_some());
        assert!(cell(&Value::Date(MAX_DAYS as i32), Slot::Other).is_ok());
        assert!(cell(&Value::Date(MIN_DAYS as i32), Slot::Other).is_ok());
    }

    #[test]
    fn temporal_values() {
        assert_eq!(
            cell(&Value::Timestamp(1_500_001), Slot::Other).unwrap(),
            Cell::DateTime { year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 1, micros: 500_001 }
        );
        assert_eq!(
            cell(&Value::TimestampTz(-1), Slot::Other).unwrap(),
            Cell::DateTime {
                year: 1969,
                month: 12,
                day: 31,
                hour: 23,
                minute: 59,
                second: 59,
                micros: 999_999
            }
        );
        let bc = cell(&Value::Date(-719_528), Slot::Other).unwrap_err();
        assert!(bc.contains("0001-01-01 BC"), "{bc}");
        assert!(cell(&Value::Date(-719_162), Slot::Other).is_ok()); // 0001-01-01
        assert_eq!(
            cell(&Value::Time(-(25 * 3600 * 1_000_000 + 1)), Slot::Other).unwrap(),
            Cell::Time { negative: true, days: 1, hours: 1, minutes: 0, seconds: 0, micros: 1 }
        );
        assert!(cell(&Value::Time(MAX_TIME_MICROS + 1), Slot::Other).is_err());
        assert_eq!(
            text(
                cell(&Value::TimeTz { micros: 3_600_000_000, offset_seconds: -19_800 }, Slot::Other).unwrap()
            ),
            "01:00:00.000000-05:30"
        );
    }

    #[test]
    fn intervals_are_iso_8601() {
        assert_eq!(
            text::interval_iso(14, 3, 4 * 3_600_000_000 + 5 * 60_000_000 + 6_500_000),
            "P1Y2M3DT4H5M6.5S"
        );
        assert_eq!(text::interval_iso(-14, 0, -1_500_000), "P-1Y-2MT-1.5S");
        assert_eq!(text::interval_iso(0, 0, 0), "PT0S");
    }

    #[test]
    fn decimals_fit_or_fail() {
        let slot = Slot::of("decimal(6,2)");
        assert_eq!(slot, Slot::Decimal { precision: 6, scale: 2 });
        assert!(cell(&Value::Decimal("-1234.50".into()), slot).is_ok());
        assert!(cell(&Value::Decimal("1234.5000".into()), slot).is_ok());
        assert!(cell(&Value::Decimal("12345.5".into()), slot).is_err());
        assert!(cell(&Value::Decimal("1.234".into()), slot).is_err());
        assert!(cell(&Value::Decimal("NaN".into()), Slot::Other).is_err());
        assert!(cell(&Value::Float64(f64::INFINITY), Slot::Other).is_err());
    }

    #[test]
    fn arrays_bits_uuids() {
        let a = Value::Array(vec![
            Value::Array(vec![Value::Int32(1), Value::Null]),
            Value::Array(vec![Value::Decimal("1.50".into()), Value::Text("a\"b".into())]),
            Value::Array(vec![Value::Json("{\"k\":1}".into()), Value::Decimal("NaN".into())]),
        ]);
        assert_eq!(text(cell(&a, Slot::Other).unwrap()), r#"[[1,null],[1.50,"a\"b"],[{"k":1},"NaN"]]"#);
        assert_eq!(cell(&Value::Bytes(vec![0x01, 0x02]), Slot::Bit).unwrap(), Cell::UInt(0x0201));
        let u = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(text(cell(&Value::Uuid(u), Slot::Other).unwrap()), "12345678-9abc-def0-0102-030405060708");
        assert!(
            text::is_json_number("-0.5")
                && text::is_json_number("10")
                && !text::is_json_number("01")
                && !text::is_json_number("1.")
        );
    }
}
