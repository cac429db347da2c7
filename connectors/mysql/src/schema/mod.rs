//! Schema tracking: the definition of each captured table as of the binlog position being read.
//!
//! Binlog rows carry no column names. Every transaction maps each table it touches with a
//! TABLE_MAP event; [`SchemaTracker::on_table_map`] turns it into a [`TrackedTable`] (column
//! kinds for the decoder plus the shared [`TableSchema`]). A TABLE_MAP whose body (everything
//! but the table id) equals the last one seen for the table reuses the cached definition, so
//! the steady-state cost is one byte comparison per table per transaction.
//!
//! Versioning: a table's first definition gets version 1 (or the history's latest version when
//! it is unchanged); every later definition whose columns or key differ gets the next version
//! and is recorded in the [`SchemaHistory`] before any event uses it. ALTER TABLE mid-stream
//! therefore shows up as a version bump at the first row written after it.
//!
//! `information_schema` ([`InfoTable`]) is read once per table definition and cached; a DDL
//! statement for the table (or one the parser cannot attribute) drops the cache entry.

pub mod column;
pub mod history;
pub mod infoschema;
pub mod tablemap;

use std::collections::HashMap;
use std::sync::Arc;

use mysql_async::binlog::events::TableMapEvent;
use mysql_async::Conn;
use sluice_core::{BinlogPosition, TableId, TableSchema};

use self::column::ColumnKind;
use self::history::{SchemaChange, SchemaHistory};
use self::infoschema::InfoTable;
use self::tablemap::{table_def_from_tme, MapRules, TableDef};
use crate::charset::Charsets;
use crate::error::MySqlError;
use crate::filter::TableFilter;

/// A captured table's definition, shared by every event decoded with it.
#[derive(Debug, PartialEq)]
pub struct TrackedTable {
    pub schema: Arc<TableSchema>,
    pub kinds: Vec<ColumnKind>,
}

struct Known {
    table: Arc<TrackedTable>,
    /// TABLE_MAP body without the table id; `None` when built from information_schema.
    fingerprint: Option<Vec<u8>>,
}

pub struct SchemaTracker {
    charsets: Charsets,
    filter: TableFilter,
    known: HashMap<TableId, Known>,
    /// Binlog table id → table, `None` for tables that are not captured.
    by_table_id: HashMap<u64, Option<Arc<TrackedTable>>>,
    info: HashMap<TableId, Option<InfoTable>>,
    history: Box<dyn SchemaHistory>,
    rules: MapRules,
}

impl SchemaTracker {
    pub fn new(
        charsets: Charsets,
        filter: TableFilter,
        history: Box<dyn SchemaHistory>,
        rules: MapRules,
    ) -> Self {
        Self {
            rules,
            charsets,
            filter,
            known: HashMap::new(),
            by_table_id: HashMap::new(),
            info: HashMap::new(),
            history,
        }
    }

    pub fn captures(&self, id: &TableId) -> bool {
        self.filter.captures(&id.schema, &id.table)
    }

    /// The table a rows event refers to: `Some(None)` for a table that is not captured, `None`
    /// when no TABLE_MAP was seen for the id (a protocol error).
    pub fn by_table_id(&self, table_id: u64) -> Option<Option<Arc<TrackedTable>>> {
        self.by_table_id.get(&table_id).cloned()
    }

    /// Handle a TABLE_MAP event (`body` is its raw data, used as the cache fingerprint).
    pub async fn on_table_map(
        &mut self,
        tme: &TableMapEvent<'_>,
        body: &[u8],
        conn: &mut Conn,
        position: &BinlogPosition,
    ) -> Result<Option<Arc<TrackedTable>>, MySqlError> {
        let id = TableId::new(
            String::from_utf8_lossy(tme.database_name_raw()).into_owned(),
            String::from_utf8_lossy(tme.table_name_raw()).into_owned(),
        );
        if !self.captures(&id) {
            self.by_table_id.insert(tme.table_id(), None);
            return Ok(None);
        }
        let fingerprint = body.get(8..).unwrap_or_default();
        if let Some(k) = self.known.get(&id) {
            if k.fingerprint.as_deref() == Some(fingerprint) {
                let t = k.table.clone();
                self.by_table_id.insert(tme.table_id(), Some(t.clone()));
                return Ok(Some(t));
            }
        }
        let info = self.info_for(&id, conn).await?;
        let def = table_def_from_tme(tme, &self.charsets, info.as_ref(), self.rules)
            .map_err(|e| MySqlError::decode(position.to_string(), format!("TABLE_MAP of {id}: {e}")))?;
        let table = self.adopt(id, def, Some(fingerprint.to_vec()), position)?;
        self.by_table_id.insert(tme.table_id(), Some(table.clone()));
        Ok(Some(table))
    }

    /// The current definition of a captured table, read from information_schema when no
    /// TABLE_MAP for it was seen yet. `None` when the table does not exist.
    pub async fn table(
        &mut self,
        id: &TableId,
        conn: &mut Conn,
        position: &BinlogPosition,
    ) -> Result<Option<Arc<TrackedTable>>, MySqlError> {
        if let Some(k) = self.known.get(id) {
            return Ok(Some(k.table.clone()));
        }
        let Some(info) = self.info_for(id, conn).await? else { return Ok(None) };
        let def = info.to_table_def(&self.charsets).map_err(|e| {
            MySqlError::decode(position.to_string(), format!("information_schema for {id}: {e}"))
        })?;
        Ok(Some(self.adopt(id.clone(), def, None, position)?))
    }

    /// A DDL statement changed `tables` (or unknown tables when `None`): forget what
    /// information_schema said and re-check the TABLE_MAP of the next transaction.
    pub fn on_ddl(&mut self, tables: Option<&[TableId]>) {
        match tables {
            Some(ts) => {
                for t in ts {
                    self.info.remove(t);
                    if let Some(k) = self.known.get_mut(t) {
                        k.fingerprint = None;
                    }
                }
            }
            None => {
                self.info.clear();
                for k in self.known.values_mut() {
                    k.fingerprint = None;
                }
            }
        }
    }

    /// Forget binlog table ids (they are only valid within one connection's stream).
    pub fn on_reconnect(&mut self) {
        self.by_table_id.clear();
    }

    async fn info_for(&mut self, id: &TableId, conn: &mut Conn) -> Result<Option<InfoTable>, MySqlError> {
        if let Some(i) = self.info.get(id) {
            return Ok(i.clone());
        }
        let i = InfoTable::load(conn, id).await?;
        self.info.insert(id.clone(), i.clone());
        Ok(i)
    }

    /// Give `def` its version (the previous one when nothing changed) and remember it.
    fn adopt(
        &mut self,
        id: TableId,
        def: TableDef,
        fingerprint: Option<Vec<u8>>,
        position: &BinlogPosition,
    ) -> Result<Arc<TrackedTable>, MySqlError> {
        let previous =
            self.known.get(&id).map(|k| k.table.schema.clone()).or_else(|| self.history.latest(&id));
        let TableDef { mut schema, kinds } = def;
        let same = |p: &TableSchema| p.columns == schema.columns && p.key == schema.key;
        let table = match previous {
            Some(p) if same(&p) => Arc::new(TrackedTable { schema: p, kinds }),
            p => match self.history.matching(&schema) {
                // Seen before (e.g. events replayed after a restart, written before a later DDL).
                Some(m) => Arc::new(TrackedTable { schema: m, kinds }),
                None => {
                    schema.version = p.map_or(1, |p| p.version + 1);
                    let schema = Arc::new(schema);
                    self.history
                        .record(&SchemaChange { schema: schema.clone(), position: position.clone() })?;
                    tracing::debug!(table = %id, version = schema.version, "new table definition");
                    Arc::new(TrackedTable { schema, kinds })
                }
            },
        };
        self.known.insert(id, Known { table: table.clone(), fingerprint });
        Ok(table)
    }
}
