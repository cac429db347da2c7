//! MySQL's binary DECIMAL format (5.0+), decoded to exact decimal text.
//!
//! Layout: the integer and fraction digits are stored separately, in groups of nine decimal
//! digits per 4 bytes (big-endian); a leftover group of k < 9 digits takes 1–4 bytes. The first
//! byte's top bit is flipped so that the bytes sort like the numbers; negative numbers have every
//! byte inverted. The text has exactly `scale` fraction digits, no leading zeros, and `0` before
//! the point when the integer part is zero (`-0.50`, `12.30`, `0`).

use super::reader::{be, Reader};

const DIG2BYTES: [usize; 10] = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];

/// Bytes a DECIMAL(precision, scale) value occupies.
pub fn decimal_size(precision: u8, scale: u8) -> usize {
    let intg = usize::from(precision.saturating_sub(scale));
    let s = usize::from(scale);
    DIG2BYTES[intg % 9] + intg / 9 * 4 + s / 9 * 4 + DIG2BYTES[s % 9]
}

pub fn read_decimal(r: &mut Reader<'_>, precision: u8, scale: u8) -> Result<String, String> {
    if scale > precision || precision > 65 {
        return Err(format!("invalid DECIMAL({precision},{scale})"));
    }
    let mut bytes = r.take(decimal_size(precision, scale))?.to_vec();
    decimal_from_bytes(&mut bytes, precision, scale)
}

/// Decode in place (`bytes` is modified).
pub fn decimal_from_bytes(bytes: &mut [u8], precision: u8, scale: u8) -> Result<String, String> {
    if scale > precision || precision > 65 {
        return Err(format!("invalid DECIMAL({precision},{scale})"));
    }
    let Some(first) = bytes.first_mut() else { return Ok("0".into()) };
    let negative = *first & 0x80 == 0;
    *first ^= 0x80;
    if negative {
        bytes.iter_mut().for_each(|b| *b = !*b);
    }
    let intg = usize::from(precision - scale);
    let s = usize::from(scale);
    let mut pos = 0usize;
    let mut group = |n: usize| -> Result<u64, String> {
        let g = bytes.get(pos..pos + n).ok_or("DECIMAL value is truncated")?;
        pos += n;
        Ok(be(g))
    };
    let mut int_digits = String::new();
    let lead = intg % 9;
    if lead > 0 {
        int_digits.push_str(&format!("{:0width$}", group(DIG2BYTES[lead])?, width = lead));
    }
    for _ in 0..intg / 9 {
        int_digits.push_str(&format!("{:09}", group(4)?));
    }
    let mut frac_digits = String::new();
    for _ in 0..s / 9 {
        frac_digits.push_str(&format!("{:09}", group(4)?));
    }
    let tail = s % 9;
    if tail > 0 {
        frac_digits.push_str(&format!("{:0width$}", group(DIG2BYTES[tail])?, width = tail));
    }
    if int_digits.len() > intg || frac_digits.len() > s {
        return Err(format!("DECIMAL({precision},{scale}) group out of range"));
    }
    let int_part = int_digits.trim_start_matches('0');
    let is_zero = int_part.is_empty() && frac_digits.bytes().all(|b| b == b'0');
    let mut out = String::with_capacity(int_digits.len() + frac_digits.len() + 2);
    if negative && !is_zero {
        out.push('-');
    }
    out.push_str(if int_part.is_empty() { "0" } else { int_part });
    if s > 0 {
        out.push('.');
        out.push_str(&frac_digits);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn dec(bytes: &[u8], p: u8, s: u8) -> String {
        assert_eq!(bytes.len(), decimal_size(p, s));
        read_decimal(&mut Reader::new(bytes), p, s).unwrap()
    }

    #[test]
    fn documented_example() {
        // 1234567890.1234 as DECIMAL(14,4): the example of MySQL's decimal2bin documentation.
        let b = [0x81, 0x0D, 0xFB, 0x38, 0xD2, 0x04, 0xD2];
        assert_eq!(dec(&b, 14, 4), "1234567890.1234");
        // -1234567890.1234: every byte inverted.
        let n: Vec<u8> = b.iter().map(|x| !x).collect();
        assert_eq!(dec(&n, 14, 4), "-1234567890.1234");
    }

    #[test]
    fn small_values() {
        // DECIMAL(10,2): 8 integer digits (4 bytes), 2 fraction digits (1 byte).
        assert_eq!(dec(&[0x80, 0, 0, 0, 0], 10, 2), "0.00");
        assert_eq!(dec(&[0x80, 0, 0, 12, 34], 10, 2), "12.34");
        let neg: Vec<u8> = [0x80u8, 0, 0, 0, 50].iter().map(|x| !x).collect();
        assert_eq!(dec(&neg, 10, 2), "-0.50");
        assert_eq!(dec(&[0x87], 2, 0), "7");
        // Precision and scale from untrusted bytes (binary JSON) never panic.
        assert!(decimal_from_bytes(&mut [0x80], 2, 5).is_err());
        assert!(decimal_from_bytes(&mut [0x80], 10, 2).is_err(), "too few bytes");
    }
}
