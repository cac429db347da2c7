//! Character sets: which charset a collation id (from the TABLE_MAP metadata or
//! `information_schema`) belongs to, its longest character in bytes, and decoding stored bytes
//! to text.
//!
//! Collation ids differ between MySQL and MariaDB above 247, so the map is read from the
//! server's own `information_schema.COLLATIONS` at start; a built-in table of the common ids is
//! the fallback. MySQL's `latin1` is Windows-1252 (0x80 is `€`), with the five bytes cp1252
//! leaves undefined mapped to the C1 controls of the same value, exactly as the server converts
//! them; it is decoded that way, never as ISO-8859-1.
//!
//! Failure modes: bytes that are not valid in their charset (which the server does not store)
//! and charsets without a decoder here (e.g. `gbk`, `sjis`) are errors naming the charset; they
//! are raised when a column of that charset is decoded, so other tables are unaffected.

use std::collections::HashMap;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

use crate::server::col;

/// The `binary` pseudo-charset: bytes, not text.
pub const BINARY_COLLATION: u16 = 63;

/// A character set with the facts decoding needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charset {
    pub name: String,
    /// Longest character in bytes (`CHARACTER_SETS.MAXLEN`): VARCHAR(n) stores n × this bytes.
    pub max_len: u8,
}

impl Charset {
    pub fn new(name: impl Into<String>, max_len: u8) -> Self {
        Self { name: name.into(), max_len: max_len.max(1) }
    }

    pub fn is_binary(&self) -> bool {
        self.name == "binary"
    }

    /// Decode stored bytes to text.
    pub fn decode(&self, bytes: &[u8]) -> Result<String, String> {
        match self.name.as_str() {
            "utf8mb4" | "utf8mb3" | "utf8" => {
                String::from_utf8(bytes.to_vec()).map_err(|e| format!("invalid {} bytes: {e}", self.name))
            }
            "latin1" => Ok(bytes.iter().map(|&b| latin1_char(b)).collect()),
            // ASCII columns only hold 7-bit bytes; anything else passes through as Latin-1.
            "ascii" => Ok(bytes.iter().map(|&b| latin1_char(b)).collect()),
            "ucs2" | "utf16" => decode_utf16(bytes, u16::from_be_bytes, &self.name),
            "utf16le" => decode_utf16(bytes, u16::from_le_bytes, &self.name),
            "utf32" => decode_utf32(bytes),
            "binary" => Err("binary data is not text".into()),
            other => Err(format!(
                "character set {other} is not supported by the MySQL source (supported: utf8mb4, \
                 utf8mb3, latin1, ascii, ucs2, utf16, utf16le, utf32, binary)"
            )),
        }
    }
}

/// MySQL `latin1` (cp1252 with the undefined bytes mapped to C1 controls).
pub fn latin1_char(b: u8) -> char {
    const HIGH: [u16; 32] = [
        0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039,
        0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
        0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
    ];
    if (0x80..0xA0).contains(&b) {
        char::from_u32(u32::from(HIGH[usize::from(b - 0x80)])).unwrap_or(char::REPLACEMENT_CHARACTER)
    } else {
        char::from(b)
    }
}

fn decode_utf16(bytes: &[u8], f: fn([u8; 2]) -> u16, name: &str) -> Result<String, String> {
    if !bytes.len().is_multiple_of(2) {
        return Err(format!("{name} value has an odd number of bytes"));
    }
    let units = bytes.chunks_exact(2).map(|c| f([c[0], c[1]]));
    char::decode_utf16(units).collect::<Result<String, _>>().map_err(|e| format!("invalid {name}: {e}"))
}

fn decode_utf32(bytes: &[u8]) -> Result<String, String> {
    if !bytes.len().is_multiple_of(4) {
        return Err("utf32 value length is not a multiple of 4".into());
    }
    bytes
        .chunks_exact(4)
        .map(|c| {
            let v = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
            char::from_u32(v).ok_or_else(|| format!("invalid utf32 code point {v:#x}"))
        })
        .collect()
}

/// Collation id → charset, for one server.
#[derive(Debug, Clone)]
pub struct Charsets {
    by_collation: HashMap<u16, Charset>,
    by_name: HashMap<String, Charset>,
}

impl Default for Charsets {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Charsets {
    /// Common collation ids shared by MySQL and MariaDB (used when the server cannot be asked).
    pub fn builtin() -> Self {
        let mut c = Self { by_collation: HashMap::new(), by_name: HashMap::new() };
        let sets: [(&str, u8, &[u16]); 8] = [
            ("latin1", 1, &[5, 8, 15, 31, 47, 48, 49, 94]),
            ("ascii", 1, &[11, 65]),
            ("binary", 1, &[63]),
            ("utf8mb3", 3, &[33, 83, 192, 193, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 223]),
            (
                "utf8mb4",
                4,
                &[45, 46, 224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 246],
            ),
            ("ucs2", 2, &[35, 90]),
            ("utf16", 4, &[54, 55]),
            ("utf32", 4, &[60, 61]),
        ];
        for (name, max_len, ids) in sets {
            c.insert_name(name, max_len);
            for &id in ids {
                c.by_collation.insert(id, Charset::new(name, max_len));
            }
        }
        // MySQL 8 utf8mb4_0900_* collations (MariaDB does not use 255..=309 for other charsets).
        for id in 255..=309 {
            c.by_collation.insert(id, Charset::new("utf8mb4", 4));
        }
        c.insert_name("utf16le", 4);
        c
    }

    fn insert_name(&mut self, name: &str, max_len: u8) {
        self.by_name.insert(name.to_owned(), Charset::new(name, max_len));
    }

    /// Read the server's collations and charsets; falls back to the built-in table on error.
    pub async fn load(conn: &mut Conn) -> Self {
        let mut c = Self::builtin();
        let rows = |r: Result<Vec<Row>, _>| r.unwrap_or_default();
        let sets = rows(
            conn.query("SELECT CHARACTER_SET_NAME, MAXLEN FROM information_schema.CHARACTER_SETS").await,
        );
        for row in &sets {
            if let (Some(name), Some(max_len)) = (col::<String>(row, 0), col::<u32>(row, 1)) {
                c.insert_name(&name, u8::try_from(max_len).unwrap_or(4));
            }
        }
        let mut collations =
            rows(conn.query("SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATIONS").await);
        // MariaDB ≥ 10.10 lists some collation ids only here.
        collations.extend(rows(
            conn.query(
                "SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATION_CHARACTER_SET_APPLICABILITY",
            )
            .await,
        ));
        for row in &collations {
            let (Some(id), Some(name)) = (col::<u32>(row, 0), col::<String>(row, 1)) else { continue };
            let Ok(id) = u16::try_from(id) else { continue };
            let max_len = c.by_name.get(&name).map(|s| s.max_len).unwrap_or(4);
            c.by_collation.insert(id, Charset::new(name, max_len));
        }
        c
    }

    pub fn by_collation(&self, id: u16) -> Option<&Charset> {
        self.by_collation.get(&id)
    }

    pub fn by_name(&self, name: &str) -> Option<&Charset> {
        self.by_name.get(name)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn latin1_is_cp1252_like_mysql() {
        let cs = Charset::new("latin1", 1);
        assert_eq!(cs.decode(&[0x80, 0x41, 0xE9, 0x9F, 0x81, 0xFF]).unwrap(), "€AéŸ\u{81}ÿ");
    }

    #[test]
    fn utf8_and_utf16_decode() {
        assert_eq!(Charset::new("utf8mb4", 4).decode("añ😀".as_bytes()).unwrap(), "añ😀");
        assert!(Charset::new("utf8mb4", 4).decode(&[0xFF]).is_err());
        assert_eq!(Charset::new("utf16", 4).decode(&[0xD8, 0x3D, 0xDE, 0x00]).unwrap(), "😀");
        assert_eq!(Charset::new("utf16le", 4).decode(&[0x41, 0x00]).unwrap(), "A");
        assert_eq!(Charset::new("utf32", 4).decode(&[0, 0, 0, 0x41]).unwrap(), "A");
        assert!(Charset::new("gbk", 2).decode(b"x").unwrap_err().contains("gbk"));
    }

    #[test]
    fn builtin_ids() {
        let c = Charsets::builtin();
        assert_eq!(c.by_collation(8).unwrap().name, "latin1");
        assert_eq!(c.by_collation(45).unwrap().max_len, 4);
        assert_eq!(c.by_collation(255).unwrap().name, "utf8mb4");
        assert!(c.by_collation(BINARY_COLLATION).unwrap().is_binary());
    }
}
