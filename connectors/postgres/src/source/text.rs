//! Parsing PostgreSQL's text output format (what pgoutput sends for each column) into exact
//! [`Value`]s.
//!
//! The replication connection pins the output settings (`DateStyle=ISO`, `IntervalStyle=postgres`,
//! `TimeZone=UTC`, `extra_float_digits=3`, `bytea_output=hex`), so every format parsed here is the
//! one that setting produces; offsets in `timestamptz`/`timetz` are still parsed generally.
//! A text that does not parse is an error naming the type (never the value), which the reader
//! turns into a poison-record error.
//!
//! `infinity`/`-infinity` dates and timestamps have no Avro equivalent: they map to `i32::MAX`/
//! `i32::MIN` days and `i64::MAX`/`i64::MIN` microseconds (documented in docs/postgres.md).

use sluice_core::Value;

use super::types::PgKind;

type R<T> = Result<T, String>;

/// Parse one column's text value for its resolved kind.
pub fn parse(kind: &PgKind, text: &str) -> R<Value> {
    Ok(match kind {
        PgKind::Bool => match text {
            "t" => Value::Bool(true),
            "f" => Value::Bool(false),
            _ => return Err("boolean is neither t nor f".into()),
        },
        PgKind::Int2 => Value::Int16(text.parse().map_err(|_| "bad int2")?),
        PgKind::Int4 => Value::Int32(text.parse().map_err(|_| "bad int4")?),
        PgKind::Int8 => Value::Int64(text.parse().map_err(|_| "bad int8")?),
        PgKind::Float4 => Value::Float32(parse_float(text)? as f32),
        PgKind::Float8 => Value::Float64(parse_float(text)?),
        PgKind::Numeric { .. } => Value::Decimal(text.to_owned()),
        PgKind::Text | PgKind::Enum(_) => Value::Text(text.to_owned()),
        PgKind::Json => Value::Json(text.to_owned()),
        PgKind::Bytea => Value::Bytes(parse_bytea(text)?),
        PgKind::Uuid => Value::Uuid(parse_uuid(text)?),
        PgKind::Date => Value::Date(parse_date(text)?),
        PgKind::Time => Value::Time(parse_time(text)?),
        PgKind::TimeTz => {
            let (t, off) = split_offset(text).ok_or("timetz without offset")?;
            Value::TimeTz { micros: parse_time(t)?, offset_seconds: off }
        }
        PgKind::Timestamp => Value::Timestamp(parse_timestamp(text)?.0),
        PgKind::TimestampTz => {
            let (local, off) = parse_timestamp(text)?;
            match local {
                i64::MAX | i64::MIN => Value::TimestampTz(local),
                _ => Value::TimestampTz(
                    local.checked_sub(i64::from(off.unwrap_or(0)) * 1_000_000).ok_or(TIMESTAMP_RANGE)?,
                ),
            }
        }
        PgKind::Interval => {
            let (months, days, micros) = parse_interval(text)?;
            Value::Interval { months, days, micros }
        }
        PgKind::Array { elem, delim } => {
            let items = super::array::parse_array(text, *delim)?;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(match item {
                    None => Value::Null,
                    Some(s) => parse(elem, &s)?,
                });
            }
            Value::Array(out)
        }
    })
}

fn parse_float(text: &str) -> R<f64> {
    match text {
        "NaN" => Ok(f64::NAN),
        "Infinity" => Ok(f64::INFINITY),
        "-Infinity" => Ok(f64::NEG_INFINITY),
        _ => text.parse().map_err(|_| "bad float".into()),
    }
}

fn parse_bytea(text: &str) -> R<Vec<u8>> {
    let hex = text.strip_prefix("\\x").ok_or("bytea not in hex output format (set bytea_output=hex)")?;
    if hex.len() % 2 != 0 {
        return Err("odd bytea hex length".into());
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| "bad bytea hex".to_owned()))
        .collect()
}

fn parse_uuid(text: &str) -> R<[u8; 16]> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return Err("bad uuid length".into());
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| "bad uuid hex")?;
    }
    Ok(out)
}

/// `YYYY-MM-DD` with an optional ` BC` suffix handled by the caller.
fn parse_ymd(s: &str, bc: bool) -> R<i64> {
    let mut it = s.splitn(3, '-');
    let y: i64 = it.next().and_then(|v| v.parse().ok()).ok_or("bad year")?;
    let m: u32 = it.next().and_then(|v| v.parse().ok()).ok_or("bad month")?;
    let d: u32 = it.next().and_then(|v| v.parse().ok()).ok_or("bad day")?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err("date out of range".into());
    }
    let year = if bc { 1 - y } else { y };
    Ok(sluice_core::civil::days_from_civil(year, m, d))
}

fn parse_date(text: &str) -> R<i32> {
    match text {
        "infinity" => return Ok(i32::MAX),
        "-infinity" => return Ok(i32::MIN),
        _ => {}
    }
    let (s, bc) = match text.strip_suffix(" BC") {
        Some(s) => (s, true),
        None => (text, false),
    };
    i32::try_from(parse_ymd(s, bc)?).map_err(|_| "date out of range".into())
}

/// `HH:MM:SS[.ffffff]` → microseconds (24:00:00 allowed, as PostgreSQL does).
fn parse_time(text: &str) -> R<i64> {
    let mut it = text.splitn(3, ':');
    let h: i64 = it.next().and_then(|v| v.parse().ok()).ok_or("bad hour")?;
    let m: i64 = it.next().and_then(|v| v.parse().ok()).ok_or("bad minute")?;
    let sec = it.next().ok_or("bad second")?;
    let (s, frac) = sec.split_once('.').unwrap_or((sec, ""));
    let s: i64 = s.parse().map_err(|_| "bad second")?;
    Ok((h * 3600 + m * 60 + s) * 1_000_000 + parse_frac_micros(frac)?)
}

fn parse_frac_micros(frac: &str) -> R<i64> {
    if frac.is_empty() {
        return Ok(0);
    }
    if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err("bad fractional seconds".into());
    }
    let v: i64 = frac.parse().map_err(|_| "bad fractional seconds")?;
    Ok(v * 10i64.pow(6 - frac.len() as u32))
}

/// Split a trailing `+hh[:mm[:ss]]` / `-hh…` offset; returns the rest and the offset in seconds.
fn split_offset(text: &str) -> Option<(&str, i32)> {
    let i = text.rfind(['+', '-'])?;
    // A '-' inside the date part is not an offset: the offset comes after the time's colon.
    if !text[..i].contains(':') {
        return None;
    }
    let sign = if text.as_bytes()[i] == b'-' { -1 } else { 1 };
    let mut secs = 0i32;
    for (n, part) in text[i + 1..].split(':').enumerate() {
        let v: i32 = part.parse().ok()?;
        secs += v * [3600, 60, 1].get(n)?;
    }
    Some((&text[..i], sign * secs))
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff][±offset][ BC]` → (local microseconds, offset seconds).
fn parse_timestamp(text: &str) -> R<(i64, Option<i32>)> {
    match text {
        "infinity" => return Ok((i64::MAX, None)),
        "-infinity" => return Ok((i64::MIN, None)),
        _ => {}
    }
    let (s, bc) = match text.strip_suffix(" BC") {
        Some(s) => (s, true),
        None => (text, false),
    };
    let (date, rest) = s.split_once(' ').ok_or("timestamp without time part")?;
    let (time, off) = match split_offset(rest) {
        Some((t, o)) => (t, Some(o)),
        None => (rest, None),
    };
    let days = parse_ymd(date, bc)?;
    let tod = parse_time(time)?;
    let micros = days
        .checked_mul(86_400_000_000)
        .and_then(|d| d.checked_add(tod))
        .filter(|m| *m != i64::MAX && *m != i64::MIN)
        .ok_or(TIMESTAMP_RANGE)?;
    Ok((micros, off))
}

/// PostgreSQL accepts timestamps up to 294276 AD; microseconds since 1970 in 64 bits reach
/// 294247 AD (and ±infinity take the extremes).
const TIMESTAMP_RANGE: &str = "timestamp beyond 294247 AD or before 290308 BC, which 64-bit microseconds \
    since 1970 cannot hold: exclude the column (`exclude_columns`) or update the value";

/// The `postgres` interval style: `1 year 2 mons -3 days -04:05:06.000007`, or `00:00:00`.
pub fn parse_interval(text: &str) -> R<(i32, i32, i64)> {
    let (mut months, mut days, mut micros) = (0i64, 0i64, 0i64);
    let mut tokens = text.split_whitespace().peekable();
    while let Some(tok) = tokens.next() {
        if tok.contains(':') {
            let (neg, t) = match tok.strip_prefix('-') {
                Some(t) => (true, t),
                None => (false, tok.strip_prefix('+').unwrap_or(tok)),
            };
            // Hours may exceed 24 and have more than two digits.
            let mut it = t.splitn(3, ':');
            let h: i64 = it.next().and_then(|v| v.parse().ok()).ok_or("bad interval hours")?;
            let m: i64 = it.next().and_then(|v| v.parse().ok()).ok_or("bad interval minutes")?;
            let sec = it.next().unwrap_or("0");
            let (s, frac) = sec.split_once('.').unwrap_or((sec, ""));
            let s: i64 = s.parse().map_err(|_| "bad interval seconds")?;
            let v = (h * 3600 + m * 60 + s) * 1_000_000 + parse_frac_micros(frac)?;
            micros += if neg { -v } else { v };
            continue;
        }
        let n: i64 = tok.parse().map_err(|_| "bad interval number")?;
        let unit = tokens.next().ok_or("interval number without unit")?;
        match unit.trim_end_matches('s') {
            "year" => months += n * 12,
            "mon" => months += n,
            "day" => days += n,
            _ => return Err("unknown interval unit".into()),
        }
    }
    Ok((
        i32::try_from(months).map_err(|_| "interval months out of range")?,
        i32::try_from(days).map_err(|_| "interval days out of range")?,
        micros,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::civil::days_from_civil;

    #[test]
    fn timestamps_beyond_64_bit_microseconds_are_a_named_error() {
        let err = parse(&PgKind::Timestamp, "294276-12-31 23:59:59.999999").unwrap_err();
        assert!(err.contains("exclude_columns"), "{err}");
        assert!(parse(&PgKind::TimestampTz, "294276-12-31 23:59:59+00").is_err());
        assert_eq!(
            parse(&PgKind::Timestamp, "10000-01-01 00:00:00").unwrap(),
            Value::Timestamp(253_402_300_800_000_000)
        );
    }

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1, 1, 1), -719_162);
        assert_eq!(parse_date("0001-01-01 BC").unwrap(), days_from_civil(0, 1, 1) as i32);
        assert_eq!(parse_date("infinity").unwrap(), i32::MAX);
    }

    #[test]
    fn timestamps_and_offsets() {
        assert_eq!(parse(&PgKind::Timestamp, "1970-01-01 00:00:01.5").unwrap(), Value::Timestamp(1_500_000));
        assert_eq!(parse(&PgKind::TimestampTz, "1970-01-01 05:30:00+05:30").unwrap(), Value::TimestampTz(0));
        assert_eq!(
            parse(&PgKind::TimestampTz, "1969-12-31 23:59:59.999999+00").unwrap(),
            Value::TimestampTz(-1)
        );
        assert_eq!(
            parse(&PgKind::TimeTz, "12:34:56.789-05").unwrap(),
            Value::TimeTz { micros: 45_296_789_000, offset_seconds: -18_000 }
        );
        assert_eq!(parse(&PgKind::Time, "24:00:00").unwrap(), Value::Time(86_400_000_000));
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("1 year 2 mons 3 days 04:05:06.000007").unwrap(), (14, 3, 14_706_000_007));
        assert_eq!(parse_interval("-1 years -2 mons +3 days -04:05:06").unwrap(), (-14, 3, -14_706_000_000));
        assert_eq!(parse_interval("00:00:00").unwrap(), (0, 0, 0));
        assert_eq!(parse_interval("100:00:00").unwrap(), (0, 0, 360_000_000_000));
        assert_eq!(parse_interval("1 day").unwrap(), (0, 1, 0));
    }

    #[test]
    fn scalars() {
        assert_eq!(parse(&PgKind::Bytea, "\\x00ff").unwrap(), Value::Bytes(vec![0, 255]));
        assert!(matches!(parse(&PgKind::Float8, "NaN").unwrap(), Value::Float64(f) if f.is_nan()));
        assert_eq!(parse(&PgKind::Float4, "1.5").unwrap(), Value::Float32(1.5));
        let u = parse(&PgKind::Uuid, "550e8400-e29b-41d4-a716-446655440000").unwrap();
        assert!(matches!(u, Value::Uuid(b) if b[0] == 0x55 && b[15] == 0));
        assert!(parse(&PgKind::Int4, "x").unwrap_err().contains("int4"));
    }
}
