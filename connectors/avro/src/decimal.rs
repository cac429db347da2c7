//! Exact decimals between their text form and Avro's `decimal` bytes (the unscaled integer as
//! minimal big-endian two's complement).
//!
//! Values of up to 38 digits take an `i128` fast path; longer ones (PostgreSQL's unconstrained
//! `numeric` allows thousands of digits) go through a byte-wise base conversion. A value with
//! more fractional digits than the column's scale is an error, never silently rounded.

/// Parse `-123.4500` into (negative, digits without sign or point, number of fractional digits).
fn parse(text: &str) -> Result<(bool, &str, String), String> {
    let t = text.trim();
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() && frac.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(format!("{text:?} is not a finite decimal number"));
    }
    Ok((neg, frac, format!("{int}{frac}")))
}

/// The unscaled value of `text` at `scale`, as Avro decimal bytes.
pub fn to_unscaled_bytes(text: &str, scale: u32, out: &mut Vec<u8>) -> Result<(), String> {
    let (neg, frac, mut digits) = parse(text)?;
    let frac_len = frac.len() as u32;
    if frac_len > scale {
        // Trailing zeros beyond the scale are harmless; anything else would be rounding.
        let extra = (frac_len - scale) as usize;
        if !digits[digits.len() - extra..].bytes().all(|b| b == b'0') {
            return Err(format!("{text:?} has more than {scale} fractional digits"));
        }
        digits.truncate(digits.len() - extra);
    } else {
        digits.extend(std::iter::repeat_n('0', (scale - frac_len) as usize));
    }
    let trimmed = digits.trim_start_matches('0');
    if trimmed.len() <= 38 {
        let mut v: i128 = if trimmed.is_empty() { 0 } else { trimmed.parse().map_err(|e| format!("{e}"))? };
        if neg {
            v = -v;
        }
        write_i128(v, out);
        return Ok(());
    }
    big_to_twos_complement(trimmed, neg, out);
    Ok(())
}

/// The scale of a decimal's text (digits after the point).
pub fn scale_of(text: &str) -> Result<u32, String> {
    let (_, frac, _) = parse(text)?;
    Ok(frac.len() as u32)
}

fn write_i128(v: i128, out: &mut Vec<u8>) {
    let bytes = v.to_be_bytes();
    // Drop leading bytes that only repeat the sign.
    let mut start = 0;
    while start < 15 {
        let b = bytes[start];
        let next_high = bytes[start + 1] & 0x80;
        if (b == 0x00 && next_high == 0) || (b == 0xFF && next_high != 0) {
            start += 1;
        } else {
            break;
        }
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Base-10 digit string → big-endian magnitude bytes → two's complement with sign.
fn big_to_twos_complement(digits: &str, neg: bool, out: &mut Vec<u8>) {
    let mut dec: Vec<u8> = digits.bytes().map(|b| b - b'0').collect();
    let mut le = Vec::new();
    while !dec.is_empty() {
        let mut rem: u32 = 0;
        let mut q = Vec::with_capacity(dec.len());
        for &d in &dec {
            let cur = rem * 10 + u32::from(d);
            let qd = (cur / 256) as u8;
            rem = cur % 256;
            if !(q.is_empty() && qd == 0) {
                q.push(qd);
            }
        }
        le.push(rem as u8);
        dec = q;
    }
    if le.last().is_some_and(|&b| b & 0x80 != 0) {
        le.push(0);
    }
    if neg {
        let mut carry = true;
        for b in le.iter_mut() {
            *b = !*b;
            if carry {
                let (v, c) = b.overflowing_add(1);
                *b = v;
                carry = c;
            }
        }
    }
    out.extend(le.iter().rev());
}

/// Avro decimal bytes at `scale` back to text (used by decoders and tests).
pub fn from_unscaled_bytes(bytes: &[u8], scale: u32) -> String {
    if bytes.is_empty() {
        return if scale == 0 { "0".into() } else { format!("0.{}", "0".repeat(scale as usize)) };
    }
    let neg = bytes[0] & 0x80 != 0;
    let mut mag: Vec<u8> = bytes.to_vec();
    if neg {
        // Two's complement negate: invert, add one.
        for b in mag.iter_mut() {
            *b = !*b;
        }
        for b in mag.iter_mut().rev() {
            let (v, c) = b.overflowing_add(1);
            *b = v;
            if !c {
                break;
            }
        }
    }
    // Magnitude bytes → decimal digits by repeated division by 10.
    let mut digits = Vec::new();
    let mut cur = mag;
    while cur.iter().any(|&b| b != 0) {
        let mut rem: u32 = 0;
        for b in cur.iter_mut() {
            let v = (rem << 8) | u32::from(*b);
            *b = (v / 10) as u8;
            rem = v % 10;
        }
        digits.push(b'0' + rem as u8);
    }
    while digits.len() <= scale as usize {
        digits.push(b'0');
    }
    digits.reverse();
    let s = String::from_utf8_lossy(&digits).into_owned();
    let (int, frac) = s.split_at(s.len() - scale as usize);
    let sign = if neg { "-" } else { "" };
    if scale == 0 {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(t: &str, s: u32) -> Vec<u8> {
        let mut v = Vec::new();
        to_unscaled_bytes(t, s, &mut v).unwrap();
        v
    }

    #[test]
    fn small_values_are_minimal_twos_complement() {
        assert_eq!(enc("0", 0), vec![0]);
        assert_eq!(enc("1.23", 2), vec![123]);
        assert_eq!(enc("1.28", 2), vec![0, 128]);
        assert_eq!(enc("-1.28", 2), vec![0x80]);
        assert_eq!(enc("-1.29", 2), vec![0xFF, 0x7F]);
        assert_eq!(enc("12.3", 2), enc("12.30", 2));
        assert_eq!(enc("12.300", 2), enc("12.30", 2));
        assert!(to_unscaled_bytes("12.345", 2, &mut Vec::new()).is_err());
        assert!(to_unscaled_bytes("NaN", 2, &mut Vec::new()).is_err());
    }

    #[test]
    fn round_trips_small_and_huge() {
        for (t, s) in [
            ("0.00", 2),
            ("-0.01", 2),
            ("123456789012345678901234567890.12345678", 8),
            ("-99999999999999999999999999999999999999", 0),
            ("1234567890123456789012345678901234567890123456789012345678901234567890.5", 1),
            ("-1234567890123456789012345678901234567890123456789012345678901234567890.5", 1),
        ] {
            let b = enc(t, s);
            assert_eq!(from_unscaled_bytes(&b, s), t, "{t}");
        }
        // The big path agrees with the i128 path where both apply.
        let mut big = Vec::new();
        big_to_twos_complement("170141183460469231731687303715884105727", false, &mut big);
        assert_eq!(big, enc("170141183460469231731687303715884105727", 0));
        let mut bigneg = Vec::new();
        big_to_twos_complement("12345", true, &mut bigneg);
        assert_eq!(bigneg, enc("-12345", 0));
    }
}
