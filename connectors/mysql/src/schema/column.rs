//! One column as the binlog stores it: its storage kind (how its bytes in a row image are laid
//! out and what they mean), and the Sluice logical type and MySQL type name derived from it.
//!
//! Invariant: [`ColumnKind::data_type`] and the value the decoder produces for the kind always
//! agree (the decoder in `crate::decode` matches on the same kinds), e.g. an unsigned 4-byte int
//! is `Int64` in both. Smaller unsigned integers widen to the next signed type; `BIGINT UNSIGNED`
//! is `UInt64`.

use sluice_core::DataType;

use crate::charset::Charset;

/// Binlog column type codes (`enum_field_types`).
pub mod code {
    pub const DECIMAL: u8 = 0;
    pub const TINY: u8 = 1;
    pub const SHORT: u8 = 2;
    pub const LONG: u8 = 3;
    pub const FLOAT: u8 = 4;
    pub const DOUBLE: u8 = 5;
    pub const NULL: u8 = 6;
    pub const TIMESTAMP: u8 = 7;
    pub const LONGLONG: u8 = 8;
    pub const INT24: u8 = 9;
    pub const DATE: u8 = 10;
    pub const TIME: u8 = 11;
    pub const DATETIME: u8 = 12;
    pub const YEAR: u8 = 13;
    pub const NEWDATE: u8 = 14;
    pub const VARCHAR: u8 = 15;
    pub const BIT: u8 = 16;
    pub const TIMESTAMP2: u8 = 17;
    pub const DATETIME2: u8 = 18;
    pub const TIME2: u8 = 19;
    pub const JSON: u8 = 245;
    pub const NEWDECIMAL: u8 = 246;
    pub const ENUM: u8 = 247;
    pub const SET: u8 = 248;
    pub const TINY_BLOB: u8 = 249;
    pub const MEDIUM_BLOB: u8 = 250;
    pub const LONG_BLOB: u8 = 251;
    pub const BLOB: u8 = 252;
    pub const VAR_STRING: u8 = 253;
    pub const STRING: u8 = 254;
    pub const GEOMETRY: u8 = 255;
}

/// How a column's value is laid out in a row image, with what its decoding needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnKind {
    /// TINYINT (1), SMALLINT (2), MEDIUMINT (3), INT (4), BIGINT (8).
    Int {
        bytes: u8,
        unsigned: bool,
    },
    Float,
    Double,
    Decimal {
        precision: u8,
        scale: u8,
    },
    Year,
    Date,
    /// TIME with fractional seconds precision (MySQL 5.6.4+ format).
    Time2 {
        fsp: u8,
    },
    /// Pre-5.6.4 TIME (no fractions).
    Time,
    DateTime2 {
        fsp: u8,
    },
    DateTime,
    Timestamp2 {
        fsp: u8,
    },
    Timestamp,
    Bit {
        bits: u16,
    },
    /// `pack` is 1 or 2 bytes (the 1-based index of the value).
    Enum {
        pack: u8,
        values: Vec<String>,
    },
    /// `pack` is 1..=8 bytes (a bitmask over the values).
    Set {
        pack: u8,
        values: Vec<String>,
    },
    /// CHAR / BINARY: `max_bytes` is the declared length × the charset's longest character.
    Char {
        max_bytes: u16,
        charset: Charset,
    },
    /// VARCHAR / VARBINARY.
    VarChar {
        max_bytes: u16,
        charset: Charset,
    },
    /// TEXT / BLOB family: `len_bytes` (1..=4) is the size of the length prefix. `json` marks a
    /// MariaDB JSON column (LONGTEXT with a `json_valid` check).
    Blob {
        len_bytes: u8,
        charset: Charset,
        json: bool,
    },
    /// MySQL binary JSON.
    Json {
        len_bytes: u8,
    },
    /// GEOMETRY family: an internal SRID (4 bytes) then WKB, behind a length prefix.
    Geometry {
        len_bytes: u8,
        subtype: GeometrySubtype,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GeometrySubtype {
    #[default]
    Geometry,
    Point,
    LineString,
    Polygon,
    MultiPoint,
    MultiLineString,
    MultiPolygon,
    GeometryCollection,
}

impl GeometrySubtype {
    pub fn from_name(n: &str) -> Self {
        match n {
            "point" => Self::Point,
            "linestring" => Self::LineString,
            "polygon" => Self::Polygon,
            "multipoint" => Self::MultiPoint,
            "multilinestring" => Self::MultiLineString,
            "multipolygon" => Self::MultiPolygon,
            "geometrycollection" | "geomcollection" => Self::GeometryCollection,
            _ => Self::Geometry,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Geometry => "geometry",
            Self::Point => "point",
            Self::LineString => "linestring",
            Self::Polygon => "polygon",
            Self::MultiPoint => "multipoint",
            Self::MultiLineString => "multilinestring",
            Self::MultiPolygon => "multipolygon",
            Self::GeometryCollection => "geometrycollection",
        }
    }
}

impl ColumnKind {
    pub fn data_type(&self) -> DataType {
        match self {
            ColumnKind::Int { bytes: 1 | 2, unsigned: false } | ColumnKind::Int { bytes: 1, .. } => {
                DataType::Int16
            }
            ColumnKind::Int { bytes: 2 | 3, .. } | ColumnKind::Int { bytes: 4, unsigned: false } => {
                DataType::Int32
            }
            ColumnKind::Int { bytes: 8, unsigned: true } => DataType::UInt64,
            ColumnKind::Int { .. } => DataType::Int64,
            ColumnKind::Float => DataType::Float32,
            ColumnKind::Double => DataType::Float64,
            ColumnKind::Decimal { precision, scale } => {
                DataType::Decimal { precision: Some(u32::from(*precision)), scale: Some(u32::from(*scale)) }
            }
            ColumnKind::Year => DataType::Int32,
            ColumnKind::Date => DataType::Date,
            ColumnKind::Time2 { .. } | ColumnKind::Time => DataType::Time,
            ColumnKind::DateTime2 { .. } | ColumnKind::DateTime => DataType::Timestamp,
            ColumnKind::Timestamp2 { .. } | ColumnKind::Timestamp => DataType::TimestampTz,
            ColumnKind::Bit { bits } => DataType::Bits(u32::from(*bits)),
            ColumnKind::Enum { values, .. } => DataType::Enum(values.clone()),
            ColumnKind::Set { values, .. } => DataType::Set(values.clone()),
            ColumnKind::Blob { json: true, .. } | ColumnKind::Json { .. } => DataType::Json,
            ColumnKind::Char { charset, .. }
            | ColumnKind::VarChar { charset, .. }
            | ColumnKind::Blob { charset, .. } => {
                if charset.is_binary() {
                    DataType::Bytes
                } else {
                    DataType::Text
                }
            }
            ColumnKind::Geometry { .. } => DataType::Bytes,
        }
    }

    /// The MySQL type name with modifiers, as `SHOW CREATE TABLE` would write it (without
    /// integer display widths): `bigint unsigned`, `decimal(10,2)`, `varchar(20)`.
    pub fn source_type(&self) -> String {
        let fsp = |base: &str, fsp: u8| if fsp == 0 { base.to_owned() } else { format!("{base}({fsp})") };
        match self {
            ColumnKind::Int { bytes, unsigned } => {
                let base = match bytes {
                    1 => "tinyint",
                    2 => "smallint",
                    3 => "mediumint",
                    4 => "int",
                    _ => "bigint",
                };
                if *unsigned {
                    format!("{base} unsigned")
                } else {
                    base.to_owned()
                }
            }
            ColumnKind::Float => "float".into(),
            ColumnKind::Double => "double".into(),
            ColumnKind::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
            ColumnKind::Year => "year".into(),
            ColumnKind::Date => "date".into(),
            ColumnKind::Time2 { fsp: f } => fsp("time", *f),
            ColumnKind::Time => "time".into(),
            ColumnKind::DateTime2 { fsp: f } => fsp("datetime", *f),
            ColumnKind::DateTime => "datetime".into(),
            ColumnKind::Timestamp2 { fsp: f } => fsp("timestamp", *f),
            ColumnKind::Timestamp => "timestamp".into(),
            ColumnKind::Bit { bits } => format!("bit({bits})"),
            ColumnKind::Enum { values, .. } => format!("enum({})", quote_list(values)),
            ColumnKind::Set { values, .. } => format!("set({})", quote_list(values)),
            ColumnKind::Char { max_bytes, charset } => {
                let n = max_bytes / u16::from(charset.max_len);
                if charset.is_binary() {
                    format!("binary({n})")
                } else {
                    format!("char({n})")
                }
            }
            ColumnKind::VarChar { max_bytes, charset } => {
                let n = max_bytes / u16::from(charset.max_len);
                if charset.is_binary() {
                    format!("varbinary({n})")
                } else {
                    format!("varchar({n})")
                }
            }
            ColumnKind::Blob { json: true, .. } | ColumnKind::Json { .. } => "json".into(),
            ColumnKind::Blob { len_bytes, charset, .. } => {
                let size = match len_bytes {
                    1 => "tiny",
                    2 => "",
                    3 => "medium",
                    _ => "long",
                };
                if charset.is_binary() {
                    format!("{size}blob")
                } else {
                    format!("{size}text")
                }
            }
            ColumnKind::Geometry { subtype, .. } => subtype.name().into(),
        }
    }

    /// The charset of a character column (CHAR, VARCHAR, TEXT/BLOB).
    pub fn charset(&self) -> Option<&Charset> {
        match self {
            ColumnKind::Char { charset, .. }
            | ColumnKind::VarChar { charset, .. }
            | ColumnKind::Blob { charset, .. } => Some(charset),
            _ => None,
        }
    }
}

/// `'a','it''s'`: values quoted the way MySQL writes them in a column type.
fn quote_list(values: &[String]) -> String {
    values.iter().map(|v| format!("'{}'", v.replace('\'', "''"))).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf8mb4() -> Charset {
        Charset::new("utf8mb4", 4)
    }

    #[test]
    fn integer_widening() {
        let dt = |bytes, unsigned| ColumnKind::Int { bytes, unsigned }.data_type();
        assert_eq!(dt(1, false), DataType::Int16);
        assert_eq!(dt(1, true), DataType::Int16);
        assert_eq!(dt(2, false), DataType::Int16);
        assert_eq!(dt(2, true), DataType::Int32);
        assert_eq!(dt(3, false), DataType::Int32);
        assert_eq!(dt(3, true), DataType::Int32);
        assert_eq!(dt(4, false), DataType::Int32);
        assert_eq!(dt(4, true), DataType::Int64);
        assert_eq!(dt(8, false), DataType::Int64);
        assert_eq!(dt(8, true), DataType::UInt64);
    }

    #[test]
    fn source_types_with_modifiers() {
        assert_eq!(ColumnKind::Int { bytes: 8, unsigned: true }.source_type(), "bigint unsigned");
        assert_eq!(ColumnKind::Decimal { precision: 10, scale: 2 }.source_type(), "decimal(10,2)");
        assert_eq!(ColumnKind::VarChar { max_bytes: 80, charset: utf8mb4() }.source_type(), "varchar(20)");
        assert_eq!(
            ColumnKind::VarChar { max_bytes: 8, charset: Charset::new("binary", 1) }.source_type(),
            "varbinary(8)"
        );
        assert_eq!(ColumnKind::DateTime2 { fsp: 6 }.source_type(), "datetime(6)");
        assert_eq!(ColumnKind::DateTime2 { fsp: 0 }.source_type(), "datetime");
        let e = ColumnKind::Enum { pack: 1, values: vec!["a".into(), "it's".into()] };
        assert_eq!(e.source_type(), "enum('a','it''s')");
        assert_eq!(
            ColumnKind::Blob { len_bytes: 4, charset: utf8mb4(), json: true }.data_type(),
            DataType::Json
        );
        assert_eq!(
            ColumnKind::Blob { len_bytes: 3, charset: utf8mb4(), json: false }.source_type(),
            "mediumtext"
        );
    }
}
