//! A bounds-checked cursor over a row image: every read either returns the bytes asked for or
//! an error saying how many were missing, so malformed events never panic.

#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or_else(|| {
            format!("row image ends early: need {n} bytes at offset {}, {} left", self.pos, self.remaining())
        })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    /// Unsigned little-endian integer of `n` (≤ 8) bytes.
    pub fn uint_le(&mut self, n: usize) -> Result<u64, String> {
        Ok(self.take(n)?.iter().rev().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// Unsigned big-endian integer of `n` (≤ 8) bytes.
    pub fn uint_be(&mut self, n: usize) -> Result<u64, String> {
        Ok(be(self.take(n)?))
    }
}

/// Unsigned big-endian integer of up to 8 bytes.
pub fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_bounds() {
        let mut r = Reader::new(&[1, 2, 3, 4]);
        assert_eq!(r.uint_le(2).unwrap(), 0x0201);
        assert_eq!(r.uint_be(2).unwrap(), 0x0304);
        assert!(r.is_empty());
        assert!(r.u8().is_err());
    }
}
