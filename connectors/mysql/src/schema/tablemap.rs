//! Table definitions from TABLE_MAP events: column storage kinds, names, nullability, key.
//!
//! A TABLE_MAP event always carries each column's binlog type, type metadata (lengths,
//! precision, fractional digits) and a nullability bitmap. With `binlog_row_metadata=FULL`
//! (MySQL ≥ 8.0.1, MariaDB ≥ 10.5) its optional metadata adds column names, signedness,
//! charsets, ENUM/SET values, geometry subtypes and the primary key, so the definition is exactly
//! the one the rows were written with. What the optional metadata lacks is taken from
//! `information_schema` hints ([`InfoTable`]), which describe the table as it is *now*.
//!
//! Invariant: the returned kinds are in binlog column order and there is one per column of the
//! TABLE_MAP; names are unique. Failure: an unknown column type, malformed metadata, or a column
//! whose name/charset/values neither source provides is an error naming the table.

use mysql_async::binlog::events::{OptionalMetadataField, TableMapEvent};
use mysql_async::consts::GeometryType;
use sluice_core::{Column, TableId, TableSchema};

use super::column::{code, ColumnKind, GeometrySubtype};
use super::infoschema::{parse_column_type, InfoTable};
use crate::charset::{Charset, Charsets, BINARY_COLLATION};

/// A table as the decoder needs it: the shared schema plus the storage kind of each column.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDef {
    pub schema: TableSchema,
    pub kinds: Vec<ColumnKind>,
}

impl TableDef {
    pub fn new(
        id: TableId,
        names: Vec<String>,
        kinds: Vec<ColumnKind>,
        nullable: Vec<bool>,
        key: Vec<usize>,
    ) -> Self {
        let columns = names
            .into_iter()
            .zip(&kinds)
            .zip(nullable)
            .map(|((name, kind), nullable)| Column::new(name, kind.data_type(), kind.source_type(), nullable))
            .collect();
        Self { schema: TableSchema { id, columns, key, version: 0 }, kinds }
    }

    /// The columns' constant defaults, in column order (from `information_schema`).
    pub fn with_defaults(mut self, defaults: Vec<Option<String>>) -> Self {
        for (c, d) in self.schema.columns.iter_mut().zip(defaults) {
            c.default = d;
        }
        self
    }
}

/// One column as read from the TABLE_MAP before the optional metadata is applied.
struct RawColumn {
    code: u8,
    meta: [u8; 2],
    nullable: bool,
}

/// Columns the server lists in the SIGNEDNESS field, in column order. YEAR and DECIMAL are
/// included (verified against MariaDB 10.11; `mysql_common` documents the same for MySQL).
fn is_numeric(code: u8) -> bool {
    matches!(
        code,
        code::TINY
            | code::SHORT
            | code::INT24
            | code::LONG
            | code::LONGLONG
            | code::NEWDECIMAL
            | code::DECIMAL
            | code::FLOAT
            | code::DOUBLE
            | code::YEAR
    )
}

/// Columns the server lists in the (COLUMN|DEFAULT)_CHARSET fields: CHAR, VARCHAR and the
/// TEXT/BLOB family, and on MariaDB also GEOMETRY (a BLOB there, with the binary charset;
/// verified against MariaDB 10.11). MySQL's JSON and GEOMETRY are not listed.
fn is_character(code: u8, geometry: bool) -> bool {
    matches!(
        code,
        code::STRING
            | code::VARCHAR
            | code::VAR_STRING
            | code::BLOB
            | code::TINY_BLOB
            | code::MEDIUM_BLOB
            | code::LONG_BLOB
    ) || (geometry && code == code::GEOMETRY)
}

/// Flavor-specific rules for reading a TABLE_MAP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MapRules {
    /// GEOMETRY columns take a slot in the charset lists (MariaDB).
    pub geometry_has_charset: bool,
}

/// Everything the optional metadata may say, per column (`None` when absent).
#[derive(Default)]
struct OptionalMeta {
    names: Option<Vec<String>>,
    unsigned: Option<Vec<bool>>,
    charsets: Option<Vec<u16>>,
    enum_set_charsets: Option<Vec<u16>>,
    enum_values: Option<Vec<Vec<Vec<u8>>>>,
    set_values: Option<Vec<Vec<Vec<u8>>>>,
    geometry: Option<Vec<GeometrySubtype>>,
    key: Option<Vec<usize>>,
}

fn geometry_subtype(g: GeometryType) -> GeometrySubtype {
    match g {
        GeometryType::GEOM_GEOMETRY => GeometrySubtype::Geometry,
        GeometryType::GEOM_POINT => GeometrySubtype::Point,
        GeometryType::GEOM_LINESTRING => GeometrySubtype::LineString,
        GeometryType::GEOM_POLYGON => GeometrySubtype::Polygon,
        GeometryType::GEOM_MULTIPOINT => GeometrySubtype::MultiPoint,
        GeometryType::GEOM_MULTILINESTRING => GeometrySubtype::MultiLineString,
        GeometryType::GEOM_MULTIPOLYGON => GeometrySubtype::MultiPolygon,
        GeometryType::GEOM_GEOMETRYCOLLECTION => GeometrySubtype::GeometryCollection,
    }
}

/// Expand DEFAULT_CHARSET (default plus `(index, collation)` exceptions) to one entry per
/// listed column.
fn expand_default(default: u16, exceptions: &[(u64, u16)], count: usize) -> Vec<u16> {
    let mut v = vec![default; count];
    for &(i, c) in exceptions {
        if let Some(slot) = usize::try_from(i).ok().and_then(|i| v.get_mut(i)) {
            *slot = c;
        }
    }
    v
}

fn read_optional(
    tme: &TableMapEvent<'_>,
    raw: &[RawColumn],
    rules: &mut MapRules,
) -> Result<OptionalMeta, String> {
    let bad = |e: std::io::Error| format!("malformed optional metadata: {e}");
    let count_char = |geometry: bool| raw.iter().filter(|c| is_character(c.code, geometry)).count();
    let n_char = count_char(rules.geometry_has_charset);
    let n_enum_set = raw.iter().filter(|c| matches!(c.code, code::ENUM | code::SET)).count();
    let n_numeric = raw.iter().filter(|c| is_numeric(c.code)).count();
    let mut m = OptionalMeta::default();
    for field in tme.iter_optional_meta() {
        match field.map_err(bad)? {
            OptionalMetadataField::Signedness(bits) => {
                m.unsigned =
                    Some(bits.iter().by_vals().chain(std::iter::repeat(false)).take(n_numeric).collect());
            }
            OptionalMetadataField::DefaultCharset(d) => {
                let ex = d
                    .iter_non_default()
                    .map(|x| x.map(|x| (x.column_index(), x.charset())))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(bad)?;
                m.charsets = Some(expand_default(d.default_charset(), &ex, n_char));
            }
            OptionalMetadataField::ColumnCharset(c) => {
                let v = c.iter_charsets().collect::<Result<Vec<_>, _>>().map_err(bad)?;
                // The list length settles whether GEOMETRY takes a slot, whatever the flavor.
                if v.len() != n_char {
                    if v.len() == count_char(true) {
                        rules.geometry_has_charset = true;
                    } else if v.len() == count_char(false) {
                        rules.geometry_has_charset = false;
                    }
                }
                m.charsets = Some(v);
            }
            OptionalMetadataField::EnumAndSetDefaultCharset(d) => {
                let ex = d
                    .iter_non_default()
                    .map(|x| x.map(|x| (x.column_index(), x.charset())))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(bad)?;
                m.enum_set_charsets = Some(expand_default(d.default_charset(), &ex, n_enum_set));
            }
            OptionalMetadataField::EnumAndSetColumnCharset(c) => {
                m.enum_set_charsets = Some(c.iter_charsets().collect::<Result<Vec<_>, _>>().map_err(bad)?);
            }
            OptionalMetadataField::ColumnName(names) => {
                let v = names
                    .iter_names()
                    .map(|n| n.map(|n| String::from_utf8_lossy(n.name_raw()).into_owned()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(bad)?;
                m.names = Some(v);
            }
            OptionalMetadataField::EnumStrValue(e) => {
                let mut all = Vec::new();
                for col in e.iter_values() {
                    let col = col.map_err(bad)?;
                    all.push(col.values().iter().map(|v| v.value_raw().to_vec()).collect());
                }
                m.enum_values = Some(all);
            }
            OptionalMetadataField::SetStrValue(s) => {
                let mut all = Vec::new();
                for col in s.iter_values() {
                    let col = col.map_err(bad)?;
                    all.push(col.values().iter().map(|v| v.value_raw().to_vec()).collect());
                }
                m.set_values = Some(all);
            }
            OptionalMetadataField::GeometryType(g) => {
                let types = g.iter_geometry_types().collect::<Result<Vec<_>, _>>().map_err(bad)?;
                m.geometry = Some(types.into_iter().map(geometry_subtype).collect());
            }
            OptionalMetadataField::SimplePrimaryKey(k) => {
                let v = k.iter_indexes().collect::<Result<Vec<_>, _>>().map_err(bad)?;
                m.key = Some(v.into_iter().filter_map(|i| usize::try_from(i).ok()).collect());
            }
            OptionalMetadataField::PrimaryKeyWithPrefix(k) => {
                let v = k
                    .iter_keys()
                    .map(|k| k.map(|k| k.column_index()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(bad)?;
                m.key = Some(v.into_iter().filter_map(|i| usize::try_from(i).ok()).collect());
            }
            OptionalMetadataField::ColumnVisibility(_) | OptionalMetadataField::Dimensionality(_) => {}
        }
    }
    Ok(m)
}

fn read_raw(tme: &TableMapEvent<'_>) -> Result<Vec<RawColumn>, String> {
    let n = usize::try_from(tme.columns_count()).map_err(|_| "column count overflows".to_owned())?;
    let nulls = tme.null_bitmask();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let ty = tme
            .get_raw_column_type(i)
            .map_err(|e| format!("column {i}: {e}"))?
            .ok_or_else(|| format!("column {i}: no type"))?;
        let mut code = ty as u8;
        let m = tme.get_column_metadata(i).ok_or_else(|| format!("column {i}: no metadata"))?;
        let mut meta = [m.first().copied().unwrap_or(0), m.get(1).copied().unwrap_or(0)];
        if code == code::STRING && meta[0] != 0 {
            // CHAR/ENUM/SET share type STRING; the real type and length are packed in meta.
            let (b0, b1) = (meta[0], meta[1]);
            if b0 & 0x30 != 0x30 {
                let len = u16::from(b1) | (u16::from((b0 & 0x30) ^ 0x30) << 4);
                code = b0 | 0x30;
                meta = len.to_le_bytes();
            } else {
                code = b0;
                meta = if code == code::STRING { u16::from(b1).to_le_bytes() } else { [b1, 0] };
            }
        } else if code == code::DATE {
            code = code::NEWDATE;
        }
        out.push(RawColumn { code, meta, nullable: nulls.get(i).map(|b| *b).unwrap_or(true) });
    }
    Ok(out)
}

/// Build the definition of the table a TABLE_MAP describes. `info` is consulted only for what
/// the optional metadata does not say (and for MariaDB's JSON check constraints).
pub fn table_def_from_tme(
    tme: &TableMapEvent<'_>,
    charsets: &Charsets,
    info: Option<&InfoTable>,
    rules: MapRules,
) -> Result<TableDef, String> {
    let mut rules = rules;
    let id = TableId::new(
        String::from_utf8_lossy(tme.database_name_raw()).into_owned(),
        String::from_utf8_lossy(tme.table_name_raw()).into_owned(),
    );
    let raw = read_raw(tme)?;
    let opt = read_optional(tme, &raw, &mut rules)?;
    let n = raw.len();

    // Names: binlog first, information_schema (same column count) second.
    let names: Vec<String> = match (&opt.names, info) {
        (Some(names), _) if names.len() == n => names.clone(),
        (_, Some(info)) if info.columns.len() == n => info.columns.iter().map(|c| c.name.clone()).collect(),
        (_, Some(info)) => {
            return Err(format!(
                "binlog_row_metadata is not FULL and information_schema lists {} columns for {id} \
                 where the binlog has {n}: the table changed since these rows were written; set \
                 binlog_row_metadata=FULL",
                info.columns.len()
            ))
        }
        (_, None) => {
            return Err(format!(
                "no column names for {id}: binlog_row_metadata is not FULL and information_schema \
                 has no such table (dropped?); set binlog_row_metadata=FULL"
            ))
        }
    };
    let info_col = |i: usize| info.and_then(|t| t.columns.get(i)).filter(|c| c.name == names[i]);
    let info_kind = |i: usize| -> Option<ColumnKind> {
        info_col(i).and_then(|c| parse_column_type(&c.column_type, c.charset.as_deref(), charsets).ok())
    };

    let (mut num_i, mut char_i, mut es_i, mut enum_i, mut set_i, mut geo_i) = (0, 0, 0, 0, 0, 0);
    let mut kinds = Vec::with_capacity(n);
    for (i, c) in raw.iter().enumerate() {
        let name = &names[i];
        let unsigned = if is_numeric(c.code) {
            let from_bin = opt.unsigned.as_ref().and_then(|v| v.get(num_i).copied());
            num_i += 1;
            from_bin.unwrap_or_else(|| info_col(i).is_some_and(|ic| ic.column_type.contains("unsigned")))
        } else {
            false
        };
        let charset = |slot: Option<u16>| -> Result<Charset, String> {
            if let Some(coll) = slot {
                return charsets
                    .by_collation(coll)
                    .cloned()
                    .ok_or_else(|| format!("column {name} of {id} has unknown collation id {coll}"));
            }
            match info_col(i) {
                Some(ic) => match &ic.charset {
                    Some(cs) => charsets.by_name(cs).cloned().ok_or_else(|| format!("unknown charset {cs}")),
                    None => charsets
                        .by_collation(BINARY_COLLATION)
                        .cloned()
                        .ok_or_else(|| "no binary charset".to_owned()),
                },
                None => Err(format!("no charset for column {name} of {id}; set binlog_row_metadata=FULL")),
            }
        };
        let kind = match c.code {
            code::TINY => ColumnKind::Int { bytes: 1, unsigned },
            code::SHORT => ColumnKind::Int { bytes: 2, unsigned },
            code::INT24 => ColumnKind::Int { bytes: 3, unsigned },
            code::LONG => ColumnKind::Int { bytes: 4, unsigned },
            code::LONGLONG => ColumnKind::Int { bytes: 8, unsigned },
            code::FLOAT => ColumnKind::Float,
            code::DOUBLE => ColumnKind::Double,
            code::NEWDECIMAL => ColumnKind::Decimal { precision: c.meta[0], scale: c.meta[1] },
            code::YEAR => ColumnKind::Year,
            code::NEWDATE => ColumnKind::Date,
            code::TIME2 => ColumnKind::Time2 { fsp: c.meta[0] },
            code::TIME => ColumnKind::Time,
            code::DATETIME2 => ColumnKind::DateTime2 { fsp: c.meta[0] },
            code::DATETIME => ColumnKind::DateTime,
            code::TIMESTAMP2 => ColumnKind::Timestamp2 { fsp: c.meta[0] },
            code::TIMESTAMP => ColumnKind::Timestamp,
            code::BIT => ColumnKind::Bit { bits: u16::from(c.meta[1]) * 8 + u16::from(c.meta[0]) },
            code::ENUM | code::SET => {
                let is_enum = c.code == code::ENUM;
                let es_charset = opt.enum_set_charsets.as_ref().and_then(|v| v.get(es_i).copied());
                es_i += 1;
                let bin_values = if is_enum {
                    enum_i += 1;
                    opt.enum_values.as_ref().and_then(|v| v.get(enum_i - 1))
                } else {
                    set_i += 1;
                    opt.set_values.as_ref().and_then(|v| v.get(set_i - 1))
                };
                let values = match bin_values {
                    Some(raw_values) => {
                        let cs = match es_charset {
                            Some(id) => charsets.by_collation(id).cloned(),
                            None => charsets.by_name("utf8mb4").cloned(),
                        }
                        .unwrap_or_else(|| Charset::new("utf8mb4", 4));
                        raw_values
                            .iter()
                            .map(|v| cs.decode(v))
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(|e| format!("ENUM/SET values of {name}: {e}"))?
                    }
                    None => match info_kind(i) {
                        Some(ColumnKind::Enum { values, .. } | ColumnKind::Set { values, .. }) => values,
                        _ => {
                            return Err(format!(
                                "no ENUM/SET values for column {name} of {id}; set binlog_row_metadata=FULL"
                            ))
                        }
                    },
                };
                if is_enum {
                    ColumnKind::Enum { pack: c.meta[0], values }
                } else {
                    ColumnKind::Set { pack: c.meta[0], values }
                }
            }
            code::STRING | code::VARCHAR | code::VAR_STRING => {
                let slot = opt.charsets.as_ref().and_then(|v| v.get(char_i).copied());
                char_i += 1;
                let max_bytes = u16::from_le_bytes(c.meta);
                let charset = charset(slot)?;
                if c.code == code::STRING {
                    ColumnKind::Char { max_bytes, charset }
                } else {
                    ColumnKind::VarChar { max_bytes, charset }
                }
            }
            code::BLOB | code::TINY_BLOB | code::MEDIUM_BLOB | code::LONG_BLOB => {
                let slot = opt.charsets.as_ref().and_then(|v| v.get(char_i).copied());
                char_i += 1;
                let json = info_col(i).is_some_and(|ic| ic.json);
                ColumnKind::Blob { len_bytes: c.meta[0], charset: charset(slot)?, json }
            }
            code::JSON => ColumnKind::Json { len_bytes: c.meta[0] },
            code::GEOMETRY => {
                if rules.geometry_has_charset {
                    char_i += 1;
                }
                let sub = opt.geometry.as_ref().and_then(|v| v.get(geo_i).copied());
                geo_i += 1;
                let subtype = match sub {
                    Some(s) => s,
                    None => match info_kind(i) {
                        Some(ColumnKind::Geometry { subtype, .. }) => subtype,
                        _ => GeometrySubtype::Geometry,
                    },
                };
                ColumnKind::Geometry { len_bytes: c.meta[0], subtype }
            }
            code::DECIMAL => {
                return Err(format!(
                    "column {name} of {id} uses the pre-5.0 DECIMAL format, which Sluice cannot decode: \
                     convert it (ALTER TABLE … MODIFY {name} DECIMAL(p,s)) or leave the table out (`exclude_tables`)"
                ))
            }
            other => {
                return Err(format!(
                    "column {name} of {id} has binlog type {other}, which Sluice cannot decode: leave the table out \
                     (`exclude_tables`)"
                ))
            }
        };
        kinds.push(kind);
    }

    let key = match (&opt.key, info) {
        (Some(k), _) => k.clone(),
        (None, Some(info)) if info.columns.len() == n => info.key.clone(),
        _ => Vec::new(),
    };
    if key.iter().any(|&k| k >= n) {
        return Err(format!("primary key of {id} names a column past the last one"));
    }
    let nullable = raw.iter().map(|c| c.nullable).collect();
    let defaults = match info {
        Some(info) if info.columns.len() == n => info.columns.iter().map(|c| c.default.clone()).collect(),
        _ => vec![None; n],
    };
    Ok(TableDef::new(id, names, kinds, nullable, key).with_defaults(defaults))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    //! A MySQL 8 TABLE_MAP with `binlog_row_metadata=FULL`, built byte by byte from the format in
    //! MySQL's `Table_map_event` documentation, then a row image of it decoded: covers the MySQL
    //! rules (binary JSON type 245, GEOMETRY without a charset slot, DEFAULT_CHARSET exceptions,
    //! MSB-first signedness) that the MariaDB bench cannot exercise.

    use std::sync::Arc;

    use mysql_async::binlog::events::{Event, FormatDescriptionEvent};
    use mysql_async::binlog::BinlogVersion;
    use sluice_core::{DataType, Value};

    use super::*;
    use crate::config::ZeroDateRule;
    use crate::decode::{decode_image, reader::Reader};
    use crate::schema::TrackedTable;

    fn tlv(t: u8, v: &[u8]) -> Vec<u8> {
        let mut out = vec![t, u8::try_from(v.len()).unwrap()];
        out.extend_from_slice(v);
        out
    }

    /// `id INT UNSIGNED PRIMARY KEY, j JSON, g POINT, name VARCHAR(10) CHARSET latin1,
    /// e ENUM('a','b')`, table default charset utf8mb4_0900_ai_ci (255).
    fn mysql_table_map() -> Event {
        table_map(true)
    }

    fn table_map(full: bool) -> Event {
        let mut body = Vec::new();
        body.extend_from_slice(&[7, 0, 0, 0, 0, 0]); // table id
        body.extend_from_slice(&[1, 0]); // flags
        body.push(4);
        body.extend_from_slice(b"shop\0");
        body.push(1);
        body.extend_from_slice(b"t\0");
        body.push(5); // column count
        body.extend_from_slice(&[code::LONG, code::JSON, code::GEOMETRY, code::VARCHAR, code::STRING]);
        let meta = [4u8, 4, 10, 0, code::ENUM, 1];
        body.push(meta.len() as u8);
        body.extend_from_slice(&meta);
        body.push(0b1_1110); // id NOT NULL
        if !full {
            return event(&body);
        }
        body.extend(tlv(1, &[0x80])); // SIGNEDNESS: id unsigned (MSB first)
        body.extend(tlv(2, &[0xfc, 0xff, 0x00, 0x00, 0x08])); // DEFAULT_CHARSET 255, char col 0 → 8
        body.extend(tlv(4, b"\x02id\x01j\x01g\x04name\x01e")); // COLUMN_NAME
        body.extend(tlv(6, b"\x02\x01a\x01b")); // ENUM_STR_VALUE
        body.extend(tlv(7, &[1])); // GEOMETRY_TYPE: point
        body.extend(tlv(8, &[0])); // SIMPLE_PRIMARY_KEY: column 0
        body.extend(tlv(10, &[0xfc, 0xff, 0x00])); // ENUM_AND_SET_DEFAULT_CHARSET 255
        event(&body)
    }

    fn event(body: &[u8]) -> Event {
        let mut ev = Vec::new();
        ev.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        ev.push(code_table_map());
        ev.extend_from_slice(&1u32.to_le_bytes());
        ev.extend_from_slice(&(19 + body.len() as u32).to_le_bytes());
        ev.extend_from_slice(&500u32.to_le_bytes());
        ev.extend_from_slice(&0u16.to_le_bytes());
        ev.extend_from_slice(body);
        Event::read(&FormatDescriptionEvent::new(BinlogVersion::Version4), &ev[..]).unwrap()
    }

    fn code_table_map() -> u8 {
        19
    }

    fn info(columns: &[(&str, &str, Option<&str>)]) -> InfoTable {
        use super::super::infoschema::InfoColumn;
        InfoTable {
            id: TableId::new("shop", "t"),
            columns: columns
                .iter()
                .map(|(n, t, cs)| InfoColumn {
                    name: (*n).into(),
                    column_type: (*t).into(),
                    charset: cs.map(Into::into),
                    nullable: true,
                    json: false,
                    default: None,
                })
                .collect(),
            key: vec![0],
        }
    }

    #[test]
    fn minimal_metadata_falls_back_to_information_schema() {
        let ev = table_map(false);
        let tme: TableMapEvent<'_> = ev.read_event().unwrap();
        let rules = MapRules { geometry_has_charset: false };
        let cs = Charsets::builtin();
        let err = table_def_from_tme(&tme, &cs, None, rules).unwrap_err();
        assert!(err.contains("binlog_row_metadata"), "{err}");

        let full = table_def_from_tme(&mysql_table_map().read_event().unwrap(), &cs, None, rules).unwrap();
        let i = info(&[
            ("id", "int(10) unsigned", None),
            ("j", "json", None),
            ("g", "point", None),
            ("name", "varchar(10)", Some("latin1")),
            ("e", "enum('a','b')", Some("utf8mb4")),
        ]);
        let def = table_def_from_tme(&tme, &cs, Some(&i), rules).unwrap();
        assert_eq!(def.schema.columns, full.schema.columns, "same definition as with FULL metadata");
        assert_eq!(def.kinds, full.kinds);
        assert_eq!(def.schema.key, vec![0]);

        // A column count that differs from the binlog's means the table changed since.
        let short = info(&[("id", "int(10) unsigned", None)]);
        let err = table_def_from_tme(&tme, &cs, Some(&short), rules).unwrap_err();
        assert!(err.contains("changed"), "{err}");
    }

    #[test]
    fn mysql8_full_metadata_table_map() {
        let ev = mysql_table_map();
        let tme: TableMapEvent<'_> = ev.read_event().unwrap();
        let def =
            table_def_from_tme(&tme, &Charsets::builtin(), None, MapRules { geometry_has_charset: false })
                .unwrap();
        let s = &def.schema;
        assert_eq!(s.id.to_string(), "shop.t");
        let cols: Vec<(&str, &str, bool)> =
            s.columns.iter().map(|c| (c.name.as_str(), c.source_type.as_str(), c.nullable)).collect();
        assert_eq!(
            cols,
            [
                ("id", "int unsigned", false),
                ("j", "json", true),
                ("g", "point", true),
                ("name", "varchar(10)", true),
                ("e", "enum('a','b')", true),
            ]
        );
        assert_eq!(s.columns[0].data_type, DataType::Int64);
        assert_eq!(s.columns[1].data_type, DataType::Json);
        assert_eq!(s.columns[2].data_type, DataType::Bytes);
        assert_eq!(s.columns[3].data_type, DataType::Text);
        assert_eq!(s.key, vec![0]);

        // A row image: id 4294967295, j {"k": [1, "x"]} in binary JSON, g POINT(1 2) with SRID 0,
        // name "€" in latin1 (0x80), e 'b'.
        let mut json = vec![0x00, 1, 0]; // small object, 1 member
        let arr = [0x02u8, 2, 0, 12, 0, 0x05, 1, 0, 0x0c, 10, 0, 1, b'x'];
        // Header: count, size, one key entry (4), one value entry (3) = 11; key "k" at 11; the
        // array (without its type byte, which is in the value entry) at 12.
        let size = 11 + 1 + (arr.len() - 1);
        json.extend_from_slice(&(size as u16).to_le_bytes());
        json.extend_from_slice(&11u16.to_le_bytes()); // key offset
        json.extend_from_slice(&1u16.to_le_bytes()); // key length
        json.extend_from_slice(&[0x02, 12, 0]); // value: small array at 12
        json.push(b'k');
        json.extend_from_slice(&arr[1..]);
        let mut wkb = vec![1u8, 1, 0, 0, 0];
        wkb.extend_from_slice(&1f64.to_le_bytes());
        wkb.extend_from_slice(&2f64.to_le_bytes());
        let mut img = vec![0u8];
        img.extend_from_slice(&u32::MAX.to_le_bytes());
        img.extend_from_slice(&(json.len() as u32).to_le_bytes());
        img.extend_from_slice(&json);
        img.extend_from_slice(&((wkb.len() + 4) as u32).to_le_bytes());
        img.extend_from_slice(&0u32.to_le_bytes());
        img.extend_from_slice(&wkb);
        img.extend_from_slice(&[1, 0x80]);
        img.push(2);
        let TableDef { schema, kinds } = def;
        let table = TrackedTable { schema: Arc::new(schema), kinds };
        let row = decode_image(&table, &[true; 5], &mut Reader::new(&img), ZeroDateRule::Null).unwrap();
        assert_eq!(
            row,
            vec![
                Value::Int64(4_294_967_295),
                Value::Json(r#"{"k": [1, "x"]}"#.into()),
                Value::Bytes(wkb),
                Value::Text("€".into()),
                Value::Text("b".into()),
            ]
        );
    }
}
