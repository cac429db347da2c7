//! The change-event envelope: compiling a value schema (Sluice's or Debezium's) into a plan of
//! its top-level fields, and walking one record with it.
//!
//! Fields are recognized by name, not position, so any Debezium 2.x/3.x layout works (the
//! `transaction` block before or after `op`, `ts_us`/`ts_ns` present or not); fields the
//! decoder has no use for (`version`, `ts_us`, …) are skipped by their schema. `before` and
//! `after` must be `[null, Value]` of one and the same record, whose fields become the columns.
//! A schema with an `unchanged` field is Sluice's; any other is Debezium's.
//!
//! Invariants: a record is read to its last byte — trailing bytes, unknown union branches and
//! unknown names in `unchanged` are faults (poison records), never silently ignored.

use std::sync::Arc;

use serde_json::Value as Json;
use sluice_core::{Column, Row};

use super::compile::{self, ColumnRules, Names, Ty};
use super::read::{self, ColumnPlan, Cursor, Node, Nullity, ReadResult};
use crate::schema_gen::SourceKind;

/// Whose envelope a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Sluice's: has the `unchanged` list.
    Sluice,
    /// Debezium's (or anything else without `unchanged`): the
    /// `__debezium_unavailable_value` placeholder marks unchanged columns.
    Debezium,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SourceRole {
    Name,
    TsMs,
    Snapshot,
    Db,
    Sequence,
    Schema,
    Table,
    TxId,
    Lsn,
    Xmin,
    ServerId,
    Gtid,
    File,
    Pos,
    Row,
    Thread,
    Query,
}

impl SourceRole {
    /// The role of a `source` field and whether it is a string (else a number). `version` and
    /// `connector` are skipped: the connector is known from the schema.
    fn of(name: &str) -> Option<(SourceRole, bool)> {
        use SourceRole::*;
        Some(match name {
            "name" => (Name, true),
            "ts_ms" => (TsMs, false),
            "snapshot" => (Snapshot, true),
            "db" => (Db, true),
            "sequence" => (Sequence, true),
            "schema" => (Schema, true),
            "table" => (Table, true),
            "txId" => (TxId, false),
            "lsn" => (Lsn, false),
            "xmin" => (Xmin, false),
            "server_id" => (ServerId, false),
            "gtid" => (Gtid, true),
            "file" => (File, true),
            "pos" => (Pos, false),
            "row" => (Row, false),
            "thread" => (Thread, false),
            "query" => (Query, true),
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TxRole {
    Id,
    TotalOrder,
    DataCollectionOrder,
}

#[derive(Debug, Clone)]
pub(super) enum ScalarKind {
    Str,
    /// `int` or `long`.
    Long,
    /// An Avro enum read as its symbol.
    Symbol(Arc<[String]>),
}

#[derive(Debug, Clone)]
pub(super) struct Scalar {
    nullity: Nullity,
    kind: ScalarKind,
}

#[derive(Debug, Clone)]
pub(super) enum Field<R> {
    Role(R, Scalar),
    Skip(Node),
}

#[derive(Debug, Clone)]
pub(super) enum EnvField {
    Image { after: bool, nullity: Nullity },
    Source(Vec<Field<SourceRole>>),
    Transaction { nullity: Nullity, fields: Vec<Field<TxRole>> },
    Op(Scalar),
    TsMs(Scalar),
    Unchanged(Nullity),
    Skip(Node),
}

/// The compiled envelope of one value schema.
#[derive(Debug, Clone)]
pub(super) struct EnvelopePlan {
    pub fields: Vec<EnvField>,
    pub row: Vec<ColumnPlan>,
}

/// Everything a value schema yields.
pub(super) struct Compiled {
    pub plan: EnvelopePlan,
    pub columns: Vec<Column>,
    /// Avro field names of the columns (what key schemas refer to).
    pub field_names: Vec<String>,
    pub connector: SourceKind,
    pub flavor: Flavor,
    /// Namespace of the row record: `<prefix>.<schema>.<table>`.
    pub namespace: String,
}

fn scalar(names: &Names<'_>, ty: Ty<'_>) -> Result<Option<Scalar>, String> {
    let (nullity, inner) = names.split_nullable(ty)?;
    let kind = match inner {
        Ty::Prim(compile::Prim::String, _) => ScalarKind::Str,
        Ty::Prim(compile::Prim::Int | compile::Prim::Long, _) => ScalarKind::Long,
        Ty::Enum(obj) => match names.node(Ty::Enum(obj), 0)? {
            Node::Enum(symbols) => ScalarKind::Symbol(symbols),
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    Ok(Some(Scalar { nullity, kind }))
}

fn role_fields<R: Copy>(
    names: &Names<'_>,
    obj: &serde_json::Map<String, Json>,
    ns: &str,
    role_of: impl Fn(&str) -> Option<(R, bool)>,
) -> Result<Vec<Field<R>>, String> {
    let mut out = Vec::new();
    for (name, t) in Names::fields(obj)? {
        let ty = names.resolve(t, ns)?;
        let field = match (role_of(name), scalar(names, names.resolve(t, ns)?)?) {
            (Some((role, true)), Some(s @ Scalar { kind: ScalarKind::Str | ScalarKind::Symbol(_), .. }))
            | (Some((role, false)), Some(s @ Scalar { kind: ScalarKind::Long, .. })) => Field::Role(role, s),
            _ => Field::Skip(names.node(ty, 0)?),
        };
        out.push(field);
    }
    Ok(out)
}

fn connector_of(full: &str, fields: &[Field<SourceRole>]) -> Result<SourceKind, String> {
    let has = |r: SourceRole| fields.iter().any(|f| matches!(f, Field::Role(x, _) if *x == r));
    match full {
        "io.debezium.connector.postgresql.Source" => Ok(SourceKind::Postgres),
        "io.debezium.connector.mysql.Source" | "io.debezium.connector.mariadb.Source" => {
            Ok(SourceKind::MySql)
        }
        _ if has(SourceRole::Lsn) => Ok(SourceKind::Postgres),
        _ if has(SourceRole::File) && has(SourceRole::Pos) => Ok(SourceKind::MySql),
        _ => Err(format!("source block {full} is neither PostgreSQL's nor MySQL's")),
    }
}

/// Compile a value schema. `Err` says why it is not a change-event envelope Sluice decodes.
pub(super) fn compile(schema: &Json) -> Result<Compiled, String> {
    let names = Names::collect(schema)?;
    let Ty::Record { obj, ns, .. } = names.resolve(schema, "")? else {
        return Err("the value schema is not a record".into());
    };
    let fields = Names::fields(obj)?;
    for required in ["before", "after", "source", "op"] {
        if !fields.iter().any(|(n, _)| *n == required) {
            return Err(format!("not a change-event envelope: it has no {required:?} field"));
        }
    }
    let flavor =
        if fields.iter().any(|(n, _)| *n == "unchanged") { Flavor::Sluice } else { Flavor::Debezium };
    let rules =
        ColumnRules { placeholders: flavor == Flavor::Debezium, all_modifiers: flavor == Flavor::Sluice };
    let mut row_record: Option<(String, String)> = None;
    let (mut columns, mut row, mut field_names) = (Vec::new(), Vec::new(), Vec::new());
    let mut connector = None;
    let mut out = Vec::with_capacity(fields.len());
    for (name, t) in fields {
        let ty = names.resolve(t, &ns)?;
        let f = match name {
            "before" | "after" => {
                let (nullity, inner) = names.split_nullable(ty)?;
                let Ty::Record { full, obj: vobj, ns: vns } = inner else {
                    return Err(format!("{name} is not a record"));
                };
                match &row_record {
                    Some((seen, _)) if *seen != full => {
                        return Err("before and after are different records".into())
                    }
                    Some(_) => {}
                    None => {
                        for (fname, ft) in Names::fields(vobj)? {
                            let (c, p) = compile::column(&names, fname, ft, &vns, rules)
                                .map_err(|e| format!("column {fname}: {e}"))?;
                            columns.push(c);
                            row.push(p);
                            field_names.push(fname.to_owned());
                        }
                        row_record = Some((full, vns));
                    }
                }
                EnvField::Image { after: name == "after", nullity }
            }
            "source" => {
                let Ty::Record { full, obj: sobj, ns: sns } = ty else {
                    return Err("source is not a record".into());
                };
                let sf = role_fields(&names, sobj, &sns, SourceRole::of)?;
                connector = Some(connector_of(&full, &sf)?);
                EnvField::Source(sf)
            }
            "transaction" => match names.split_nullable(ty)? {
                (nullity, Ty::Record { obj: tobj, ns: tns, .. }) => {
                    let tf = role_fields(&names, tobj, &tns, |n| match n {
                        "id" => Some((TxRole::Id, true)),
                        "total_order" => Some((TxRole::TotalOrder, false)),
                        "data_collection_order" => Some((TxRole::DataCollectionOrder, false)),
                        _ => None,
                    })?;
                    EnvField::Transaction { nullity, fields: tf }
                }
                _ => EnvField::Skip(names.node(names.resolve(t, &ns)?, 0)?),
            },
            "op" => match scalar(&names, ty)? {
                Some(s @ Scalar { kind: ScalarKind::Str | ScalarKind::Symbol(_), .. }) => EnvField::Op(s),
                _ => return Err("op is not a string".into()),
            },
            "ts_ms" => match scalar(&names, ty)? {
                Some(s @ Scalar { kind: ScalarKind::Long, .. }) => EnvField::TsMs(s),
                _ => EnvField::Skip(names.node(names.resolve(t, &ns)?, 0)?),
            },
            "unchanged" => match names.split_nullable(ty)? {
                (nullity, Ty::Array(aobj, ans))
                    if matches!(
                        aobj.get("items").map(|i| names.resolve(i, &ans)),
                        Some(Ok(Ty::Prim(compile::Prim::String, _)))
                    ) =>
                {
                    EnvField::Unchanged(nullity)
                }
                _ => return Err("unchanged is not an array of strings".into()),
            },
            _ => EnvField::Skip(names.node(ty, 0)?),
        };
        out.push(f);
    }
    let (_, namespace) = row_record.ok_or("no row record")?;
    let connector = connector.ok_or("no source block")?;
    Ok(Compiled {
        plan: EnvelopePlan { fields: out, row },
        columns,
        field_names,
        connector,
        flavor,
        namespace,
    })
}

/// A decoding failure, located.
#[derive(Debug)]
pub(super) enum Fault {
    Column { image: &'static str, index: usize, reason: String },
    Field { field: &'static str, reason: String },
}

fn at(field: &'static str) -> impl Fn(String) -> Fault {
    move |reason| Fault::Field { field, reason }
}

/// The `source` block's fields, borrowed from the record (or, for enum symbols, the plan).
#[derive(Debug, Default)]
pub(super) struct RawSource<'a> {
    pub name: Option<&'a str>,
    pub snapshot: Option<&'a str>,
    pub db: Option<&'a str>,
    pub sequence: Option<&'a str>,
    pub schema: Option<&'a str>,
    pub table: Option<&'a str>,
    pub gtid: Option<&'a str>,
    pub file: Option<&'a str>,
    pub query: Option<&'a str>,
    pub ts_ms: Option<i64>,
    pub tx_id: Option<i64>,
    pub lsn: Option<i64>,
    pub xmin: Option<i64>,
    pub server_id: Option<i64>,
    pub pos: Option<i64>,
    pub row: Option<i64>,
    pub thread: Option<i64>,
}

#[derive(Debug, Default)]
pub(super) struct RawTx<'a> {
    pub id: Option<&'a str>,
    pub total_order: Option<i64>,
    pub data_collection_order: Option<i64>,
}

/// One envelope, read but not yet assembled into a `ChangeEvent`.
#[derive(Debug, Default)]
pub(super) struct RawEvent<'a> {
    pub before: Option<Row>,
    pub after: Option<Row>,
    pub source: RawSource<'a>,
    pub tx: Option<RawTx<'a>>,
    pub op: Option<&'a str>,
    pub ts_ms: Option<i64>,
    /// Column indexes listed in Sluice's `unchanged`.
    pub unchanged: Vec<usize>,
}

enum Sv<'a> {
    Str(&'a str),
    Long(i64),
}

fn read_scalar<'a>(cur: &mut Cursor<'a>, s: &'a Scalar) -> ReadResult<Option<Sv<'a>>> {
    if !cur.present(s.nullity)? {
        return Ok(None);
    }
    Ok(Some(match &s.kind {
        ScalarKind::Str => Sv::Str(cur.str()?),
        ScalarKind::Long => Sv::Long(cur.long()?),
        ScalarKind::Symbol(symbols) => {
            let i = cur.long()?;
            let sym = usize::try_from(i).ok().and_then(|i| symbols.get(i));
            Sv::Str(sym.ok_or_else(|| format!("enum index {i} out of range"))?)
        }
    }))
}

fn as_str(v: Option<Sv<'_>>) -> Option<&str> {
    match v {
        Some(Sv::Str(s)) => Some(s),
        _ => None,
    }
}

fn as_long(v: Option<Sv<'_>>) -> Option<i64> {
    match v {
        Some(Sv::Long(l)) => Some(l),
        _ => None,
    }
}

fn read_row(cur: &mut Cursor<'_>, plans: &[ColumnPlan], image: &'static str) -> Result<Row, Fault> {
    let mut row = Vec::with_capacity(plans.len());
    for (index, p) in plans.iter().enumerate() {
        row.push(read::read_column(cur, p).map_err(|reason| Fault::Column { image, index, reason })?);
    }
    Ok(row)
}

fn read_source<'a>(
    cur: &mut Cursor<'a>,
    fields: &'a [Field<SourceRole>],
    out: &mut RawSource<'a>,
) -> ReadResult<()> {
    for f in fields {
        let (role, s) = match f {
            Field::Skip(node) => {
                read::skip(cur, node)?;
                continue;
            }
            Field::Role(role, s) => (*role, s),
        };
        let v = read_scalar(cur, s)?;
        use SourceRole::*;
        match role {
            Name => out.name = as_str(v),
            Snapshot => out.snapshot = as_str(v),
            Db => out.db = as_str(v),
            Sequence => out.sequence = as_str(v),
            Schema => out.schema = as_str(v),
            Table => out.table = as_str(v),
            Gtid => out.gtid = as_str(v),
            File => out.file = as_str(v),
            Query => out.query = as_str(v),
            TsMs => out.ts_ms = as_long(v),
            TxId => out.tx_id = as_long(v),
            Lsn => out.lsn = as_long(v),
            Xmin => out.xmin = as_long(v),
            ServerId => out.server_id = as_long(v),
            Pos => out.pos = as_long(v),
            Row => out.row = as_long(v),
            Thread => out.thread = as_long(v),
        }
    }
    Ok(())
}

fn read_tx<'a>(cur: &mut Cursor<'a>, fields: &'a [Field<TxRole>]) -> ReadResult<RawTx<'a>> {
    let mut tx = RawTx::default();
    for f in fields {
        match f {
            Field::Skip(node) => read::skip(cur, node)?,
            Field::Role(TxRole::Id, s) => tx.id = as_str(read_scalar(cur, s)?),
            Field::Role(TxRole::TotalOrder, s) => tx.total_order = as_long(read_scalar(cur, s)?),
            Field::Role(TxRole::DataCollectionOrder, s) => {
                tx.data_collection_order = as_long(read_scalar(cur, s)?)
            }
        }
    }
    Ok(tx)
}

fn read_unchanged(cur: &mut Cursor<'_>, columns: &[Column], out: &mut Vec<usize>) -> ReadResult<()> {
    loop {
        let n = cur.long()?;
        if n == 0 {
            return Ok(());
        }
        if n < 0 {
            cur.long()?;
        }
        for _ in 0..n.unsigned_abs() {
            let name = cur.str()?;
            let i = columns
                .iter()
                .position(|c| c.name == name)
                .ok_or_else(|| format!("lists column {name:?}, which the schema does not have"))?;
            out.push(i);
        }
    }
}

/// Read one envelope body (after the wire header) with its plan.
pub(super) fn read<'a>(
    body: &'a [u8],
    plan: &'a EnvelopePlan,
    columns: &[Column],
) -> Result<RawEvent<'a>, Fault> {
    let mut cur = Cursor::new(body);
    let mut ev = RawEvent::default();
    for f in &plan.fields {
        match f {
            EnvField::Image { after, nullity } => {
                let image = if *after { "after" } else { "before" };
                if cur.present(*nullity).map_err(at(image))? {
                    let row = read_row(&mut cur, &plan.row, image)?;
                    if *after {
                        ev.after = Some(row);
                    } else {
                        ev.before = Some(row);
                    }
                }
            }
            EnvField::Source(fields) => {
                read_source(&mut cur, fields, &mut ev.source).map_err(at("source"))?
            }
            EnvField::Transaction { nullity, fields } => {
                if cur.present(*nullity).map_err(at("transaction"))? {
                    ev.tx = Some(read_tx(&mut cur, fields).map_err(at("transaction"))?);
                }
            }
            EnvField::Op(s) => ev.op = as_str(read_scalar(&mut cur, s).map_err(at("op"))?),
            EnvField::TsMs(s) => ev.ts_ms = as_long(read_scalar(&mut cur, s).map_err(at("ts_ms"))?),
            EnvField::Unchanged(nullity) => {
                if cur.present(*nullity).map_err(at("unchanged"))? {
                    read_unchanged(&mut cur, columns, &mut ev.unchanged).map_err(at("unchanged"))?;
                }
            }
            EnvField::Skip(node) => read::skip(&mut cur, node).map_err(at("envelope"))?,
        }
    }
    if cur.remaining() != 0 {
        return Err(Fault::Field {
            field: "envelope",
            reason: format!("{} bytes left after the record (written with another schema?)", cur.remaining()),
        });
    }
    Ok(ev)
}
