//! Rows read by the full load (binary protocol) turned into the values the binlog decoder
//! produces for the same column, so a table's `op = r` and streamed events agree value by value.
//!
//! The snapshot connections pin `NAMES utf8mb4` and `time_zone = '+00:00'`: character columns
//! arrive as UTF-8 converted by the server from the column's charset (what the decoder does
//! with the stored bytes), TIMESTAMPs as UTC wall-clock time (what the binlog's epoch seconds
//! mean). Binary columns, BIT and GEOMETRY arrive as stored.
//!
//! Invariant: for every [`ColumnKind`], the value here has the variant the decoder in
//! `crate::decode` produces (same integer widths, BIT order, BINARY padding, zero-date rule).
//! A value of an unexpected wire type is an error naming the column, never a guess.

use mysql_async::Value as My;
use sluice_core::Value;

use crate::config::ZeroDateRule;
use crate::decode::temporal::civil_days;
use crate::decode::zero_value;
use crate::schema::column::ColumnKind;

const MICROS_PER_SEC: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SEC;

fn wrong(kind: &ColumnKind, v: &My) -> String {
    format!("unexpected {v:?} for a {} column", kind.source_type())
}

fn utf8(bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|_| "character value is not UTF-8 (the session uses utf8mb4)".into())
}

fn integer(v: &My) -> Option<i128> {
    match v {
        My::Int(i) => Some(i128::from(*i)),
        My::UInt(u) => Some(i128::from(*u)),
        My::Bytes(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// Days and microseconds of day from a `Date` wire value; `None` for a zero or impossible date.
fn wall_micros(y: u16, m: u8, d: u8, h: u8, mi: u8, s: u8, us: u32) -> Option<i64> {
    let days = civil_days(i64::from(y), u32::from(m), u32::from(d))?;
    Some(
        days * MICROS_PER_DAY
            + (i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s)) * MICROS_PER_SEC
            + i64::from(us),
    )
}

/// One column's value. `nullable` and `zero` apply the zero-date rule as the decoder does.
pub fn convert(kind: &ColumnKind, nullable: bool, v: My, zero: ZeroDateRule) -> Result<Value, String> {
    if v == My::NULL {
        return Ok(Value::Null);
    }
    Ok(match kind {
        ColumnKind::Int { bytes, unsigned } => {
            let n = integer(&v).ok_or_else(|| wrong(kind, &v))?;
            let bits = 8 * u32::from(*bytes);
            let fits = match unsigned {
                true => (0..1i128 << bits).contains(&n),
                false => (-(1i128 << (bits - 1))..1i128 << (bits - 1)).contains(&n),
            };
            let out = match (bytes, unsigned) {
                _ if !fits || bits > 64 => None,
                (1 | 2, false) | (1, true) => Some(Value::Int16(n as i16)),
                (2 | 3, true) | (3 | 4, false) => Some(Value::Int32(n as i32)),
                (4, true) | (8, false) => Some(Value::Int64(n as i64)),
                (8, true) => Some(Value::UInt64(n as u64)),
                _ => None,
            };
            out.ok_or_else(|| format!("{n} out of range for {}", kind.source_type()))?
        }
        ColumnKind::Float => match v {
            My::Float(f) => Value::Float32(f),
            My::Double(d) => Value::Float32(d as f32),
            v => return Err(wrong(kind, &v)),
        },
        ColumnKind::Double => match v {
            My::Double(d) => Value::Float64(d),
            My::Float(f) => Value::Float64(f64::from(f)),
            v => return Err(wrong(kind, &v)),
        },
        ColumnKind::Decimal { .. } => match v {
            My::Bytes(b) => Value::Decimal(utf8(b)?),
            v => return Err(wrong(kind, &v)),
        },
        ColumnKind::Year => {
            let y = integer(&v).ok_or_else(|| wrong(kind, &v))?;
            Value::Int32(i32::try_from(y).map_err(|_| wrong(kind, &v))?)
        }
        ColumnKind::Date => match v {
            My::Date(y, m, d, ..) => match civil_days(i64::from(y), u32::from(m), u32::from(d)) {
                Some(days) => Value::Date(days as i32),
                None => zero_value(kind, nullable, zero)?,
            },
            v => return Err(wrong(kind, &v)),
        },
        ColumnKind::DateTime | ColumnKind::DateTime2 { .. } => match v {
            My::Date(y, m, d, h, mi, s, us) => match wall_micros(y, m, d, h, mi, s, us) {
                Some(t) => Value::Timestamp(t),
                None => zero_value(kind, nullable, zero)?,
            },
            v => return Err(wrong(kind, &v)),
        },
        ColumnKind::Timestamp | ColumnKind::Timestamp2 { .. } => match v {
            My::Date(y, m, d, h, mi, s, us) => match wall_micros(y, m, d, h, mi, s, us) {
                Some(t) => Value::TimestampTz(t),
                None => zero_value(kind, nullable, zero)?,
            },
            v => return Err(wrong(kind, &v)),
        },
        ColumnKind::Time | ColumnKind::Time2 { .. } => match v {
            My::Time(neg, days, h, m, s, us) => {
                let t = i64::from(days) * MICROS_PER_DAY
                    + (i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(s)) * MICROS_PER_SEC
                    + i64::from(us);
                Value::Time(if neg { -t } else { t })
            }
            v => return Err(wrong(kind, &v)),
        },
        ColumnKind::Bit { bits } => match v {
            My::Bytes(b) if *bits == 1 => Value::Bool(b.iter().any(|x| *x != 0)),
            // Selected big-endian, carried little-endian like the decoder's.
            My::Bytes(mut b) => {
                let width = usize::from(*bits).div_ceil(8);
                if b.len() < width {
                    let mut padded = vec![0; width - b.len()];
                    padded.extend_from_slice(&b);
                    b = padded;
                }
                b.reverse();
                Value::Bytes(b)
            }
            My::Int(_) | My::UInt(_) => {
                let n = integer(&v).ok_or_else(|| wrong(kind, &v))? as u64;
                if *bits == 1 {
                    Value::Bool(n != 0)
                } else {
                    Value::Bytes(n.to_le_bytes()[..usize::from(*bits).div_ceil(8)].to_vec())
                }
            }
            v => return Err(wrong(kind, &v)),
        },
        ColumnKind::Enum { .. } | ColumnKind::Set { .. } => match v {
            My::Bytes(b) => Value::Text(utf8(b)?),
            v => return Err(wrong(kind, &v)),
        },
        ColumnKind::Char { max_bytes, charset } => match v {
            My::Bytes(mut b) if charset.is_binary() => {
                b.resize(b.len().max(usize::from(*max_bytes)), 0);
                Value::Bytes(b)
            }
            My::Bytes(b) => Value::Text(utf8(b)?),
            v => return Err(wrong(kind, &v)),
        },
        ColumnKind::VarChar { charset, .. } | ColumnKind::Blob { charset, json: false, .. } => match v {
            My::Bytes(b) if charset.is_binary() => Value::Bytes(b),
            My::Bytes(b) => Value::Text(utf8(b)?),
            v => return Err(wrong(kind, &v)),
        },
        ColumnKind::Blob { json: true, .. } | ColumnKind::Json { .. } => match v {
            My::Bytes(b) => Value::Json(utf8(b)?),
            v => return Err(wrong(kind, &v)),
        },
        ColumnKind::Geometry { .. } => match v {
            My::Bytes(b) => Value::Bytes(b.get(4..).ok_or("geometry value shorter than its SRID")?.to_vec()),
            v => return Err(wrong(kind, &v)),
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::charset::Charset;

    fn c(kind: ColumnKind, v: My) -> Value {
        convert(&kind, true, v, ZeroDateRule::Null).unwrap()
    }

    #[test]
    fn integers_keep_the_decoder_widths() {
        let int = |bytes, unsigned| ColumnKind::Int { bytes, unsigned };
        assert_eq!(c(int(1, false), My::Int(-128)), Value::Int16(-128));
        assert_eq!(c(int(1, true), My::UInt(255)), Value::Int16(255));
        assert_eq!(c(int(3, true), My::UInt(16_777_215)), Value::Int32(16_777_215));
        assert_eq!(c(int(4, true), My::UInt(4_294_967_295)), Value::Int64(4_294_967_295));
        assert_eq!(c(int(8, true), My::UInt(u64::MAX)), Value::UInt64(u64::MAX));
        assert_eq!(c(int(8, false), My::Int(i64::MIN)), Value::Int64(i64::MIN));
        assert!(convert(&int(1, false), true, My::Int(300), ZeroDateRule::Null).is_err());
    }

    #[test]
    fn temporal_values_and_zero_dates() {
        assert_eq!(c(ColumnKind::Date, My::Date(1970, 1, 2, 0, 0, 0, 0)), Value::Date(1));
        assert_eq!(c(ColumnKind::Date, My::Date(0, 0, 0, 0, 0, 0, 0)), Value::Null);
        assert_eq!(
            convert(&ColumnKind::Date, false, My::Date(2024, 0, 10, 0, 0, 0, 0), ZeroDateRule::Null).unwrap(),
            Value::Date(0)
        );
        assert_eq!(
            c(ColumnKind::DateTime2 { fsp: 6 }, My::Date(1970, 1, 1, 0, 0, 1, 5)),
            Value::Timestamp(1_000_005)
        );
        assert_eq!(
            c(ColumnKind::Time2 { fsp: 6 }, My::Time(true, 1, 2, 0, 0, 500_000)),
            Value::Time(-93_600_500_000)
        );
        assert!(convert(&ColumnKind::Date, true, My::Date(0, 0, 0, 0, 0, 0, 0), ZeroDateRule::Error).is_err());
    }

    #[test]
    fn bits_binary_padding_and_geometry() {
        assert_eq!(c(ColumnKind::Bit { bits: 1 }, My::Bytes(vec![1])), Value::Bool(true));
        assert_eq!(
            c(ColumnKind::Bit { bits: 12 }, My::Bytes(vec![0x0a, 0xbc])),
            Value::Bytes(vec![0xbc, 0x0a])
        );
        let binary = Charset::new("binary", 1);
        assert_eq!(
            c(ColumnKind::Char { max_bytes: 4, charset: binary }, My::Bytes(vec![1])),
            Value::Bytes(vec![1, 0, 0, 0])
        );
        let geo = ColumnKind::Geometry { len_bytes: 4, subtype: Default::default() };
        assert_eq!(c(geo, My::Bytes(vec![0, 0, 0, 0, 1, 2])), Value::Bytes(vec![1, 2]));
        let json = ColumnKind::Blob { len_bytes: 4, charset: Charset::new("utf8mb4", 4), json: true };
        assert_eq!(c(json, My::Bytes(b"{}".to_vec())), Value::Json("{}".into()));
    }
}
