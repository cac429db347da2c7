//! The SQL catalog, the change-log tables' Iceberg schemas, and their evolution.
//!
//! A change-log table holds the metadata columns (`__op`, `__ts_ms`, `__source_pos`, `__txn_id`,
//! `__topic`, `__partition`, `__offset`, `__unchanged`) then the source table's columns, every one
//! optional. Types (docs/sinks.md, "Iceberg target"): smallint/int → int, bigint → long,
//! `BIGINT UNSIGNED` → decimal(20, 0), float/double → float/double, decimal(p ≤ 38, s) →
//! decimal(p, s) (else string with the exact text), date, time (MySQL/MariaDB `TIME`, a duration:
//! long µs), timestamp / timestamptz, uuid, binary, arrays → list, everything else → string.
//!
//! Invariants: field ids are the catalog's (assigned at create and by `update_schema`); a column
//! the source adds becomes a new optional field, a column it drops stays (null from then on); a
//! column whose type changed in a way Iceberg cannot promote is a fatal, named error.

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::io::{
    S3_ACCESS_KEY_ID, S3_DISABLE_CONFIG_LOAD, S3_DISABLE_EC2_METADATA, S3_ENDPOINT, S3_PATH_STYLE_ACCESS,
    S3_REGION, S3_SECRET_ACCESS_KEY, S3_SESSION_TOKEN,
};
use iceberg::spec::{
    ListType, NestedField, NestedFieldRef, PrimitiveType as P, Schema, Transform, Type, UnboundPartitionSpec,
};
use iceberg::table::Table;
use iceberg::transaction::{AddColumn, ApplyTransactionAction, Transaction};
use iceberg::{Catalog, CatalogBuilder, NamespaceIdent, TableCreation, TableIdent};
use iceberg_catalog_sql::{
    SqlBindStyle, SqlCatalog, SqlCatalogBuilder, SQL_CATALOG_PROP_BIND_STYLE, SQL_CATALOG_PROP_URI,
    SQL_CATALOG_PROP_WAREHOUSE,
};
use iceberg_storage_opendal::OpenDalStorageFactory;
use sluice_core::{DataType, TableSchema};

use crate::config::{IcebergSinkConfig, Partitioning};
use crate::error::IcebergError;

/// The metadata columns, in table order (the same as the files' of the `s3` target).
pub use sluice_s3::rows::META_COLUMNS;

/// Open the SQL catalog (its tables are created if missing) with the warehouse's S3 settings.
pub async fn open(config: &IcebergSinkConfig) -> Result<SqlCatalog, IcebergError> {
    sqlx_drivers();
    let postgres = !config.catalog.uri.starts_with("sqlite:");
    let style = if postgres { SqlBindStyle::DollarNumeric } else { SqlBindStyle::QMark };
    let mut props = HashMap::from([
        (SQL_CATALOG_PROP_URI.to_string(), config.catalog.uri.clone()),
        (SQL_CATALOG_PROP_WAREHOUSE.to_string(), config.warehouse.clone()),
        (SQL_CATALOG_PROP_BIND_STYLE.to_string(), style.to_string()),
    ]);
    let ep = config.connection.as_ref();
    let region = ep
        .and_then(|e| e.region.clone())
        .or_else(|| std::env::var("AWS_REGION").ok())
        .unwrap_or_else(|| "us-east-1".into());
    props.insert(S3_REGION.into(), region);
    if let Some(ep) = ep {
        if let Some(url) = &ep.endpoint_url {
            props.insert(S3_ENDPOINT.into(), url.trim_end_matches('/').to_owned());
            props
                .insert(S3_PATH_STYLE_ACCESS.into(), (!ep.virtual_hosted_style.unwrap_or(false)).to_string());
        } else if let Some(v) = ep.virtual_hosted_style {
            props.insert(S3_PATH_STYLE_ACCESS.into(), (!v).to_string());
        }
        if let Some(key) = &ep.access_key_id {
            props.insert(S3_ACCESS_KEY_ID.into(), key.clone());
            props.insert(S3_SECRET_ACCESS_KEY.into(), ep.secret_access_key.expose().to_owned());
            if !ep.session_token.is_empty() {
                props.insert(S3_SESSION_TOKEN.into(), ep.session_token.expose().to_owned());
            }
            props.insert(S3_DISABLE_EC2_METADATA.into(), "true".into());
            props.insert(S3_DISABLE_CONFIG_LOAD.into(), "true".into());
        }
    }
    SqlCatalogBuilder::default()
        .with_storage_factory(Arc::new(OpenDalStorageFactory::S3 { customized_credential_load: None }))
        .load(&config.catalog.name, props)
        .await
        .map_err(|e| IcebergError::from_iceberg(&format!("opening catalog {}", config.catalog.uri), &e))
}

/// sqlx's `Any` driver finds SQLite and PostgreSQL only once they are installed.
fn sqlx_drivers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

/// The namespace, created if missing.
pub async fn ensure_namespace(catalog: &SqlCatalog, ns: &NamespaceIdent) -> Result<(), IcebergError> {
    let ctx = || format!("namespace {}", ns.to_url_string());
    if !catalog.namespace_exists(ns).await.map_err(|e| IcebergError::from_iceberg(&ctx(), &e))? {
        catalog
            .create_namespace(ns, HashMap::new())
            .await
            .map_err(|e| IcebergError::from_iceberg(&ctx(), &e))?;
    }
    Ok(())
}

/// An Iceberg type of a source column (`mysql`: MySQL/MariaDB, whose `TIME` is a duration).
pub fn iceberg_type(dt: &DataType, mysql: bool) -> Type {
    let p = |t| Type::Primitive(t);
    match dt {
        DataType::Boolean => p(P::Boolean),
        DataType::Int16 | DataType::Int32 => p(P::Int),
        DataType::Int64 => p(P::Long),
        DataType::UInt64 => p(P::Decimal { precision: 20, scale: 0 }),
        DataType::Float32 => p(P::Float),
        DataType::Float64 => p(P::Double),
        DataType::Decimal { precision: Some(pr), scale } if *pr <= 38 => {
            p(P::Decimal { precision: *pr, scale: scale.unwrap_or(0) })
        }
        DataType::Uuid => p(P::Uuid),
        DataType::Bytes => p(P::Binary),
        DataType::Date => p(P::Date),
        DataType::Time if mysql => p(P::Long),
        DataType::Time => p(P::Time),
        DataType::Timestamp => p(P::Timestamp),
        DataType::TimestampTz => p(P::Timestamptz),
        // Ids are placeholders: the catalog assigns them.
        DataType::Array(inner) => {
            Type::List(ListType::new(NestedField::list_element(0, iceberg_type(inner, mysql), false).into()))
        }
        DataType::Decimal { .. }
        | DataType::Text
        | DataType::Json
        | DataType::TimeTz
        | DataType::Interval
        | DataType::Enum(_)
        | DataType::Set(_)
        | DataType::Bits(_) => p(P::String),
    }
}

fn meta_fields() -> Vec<NestedFieldRef> {
    let p = |t| Type::Primitive(t);
    let strings = Type::List(ListType::new(NestedField::list_element(0, p(P::String), false).into()));
    vec![
        NestedField::required(1, "__op", p(P::String)).into(),
        NestedField::required(2, "__ts_ms", p(P::Timestamptz)).into(),
        NestedField::required(3, "__source_pos", p(P::String)).into(),
        NestedField::optional(4, "__txn_id", p(P::String)).into(),
        NestedField::required(5, "__topic", p(P::String)).into(),
        NestedField::required(6, "__partition", p(P::Int)).into(),
        NestedField::required(7, "__offset", p(P::Long)).into(),
        NestedField::optional(8, "__unchanged", strings).into(),
    ]
}

/// The change-log schema of source table `t` (ids are renumbered by the catalog at create).
pub fn schema(t: &TableSchema, mysql: bool) -> Result<Schema, IcebergError> {
    let mut fields = meta_fields();
    let mut id = fields.len() as i32;
    for c in &t.columns {
        id += 1;
        fields.push(NestedField::optional(id, &c.name, iceberg_type(&c.data_type, mysql)).into());
    }
    // List elements need ids distinct from the columns' until the catalog renumbers them.
    let fields = fields
        .into_iter()
        .map(|f| {
            let Type::List(l) = f.field_type.as_ref() else { return f };
            id += 1;
            let elem = NestedField::list_element(id, l.element_field.field_type.as_ref().clone(), false);
            Arc::new(NestedField::new(f.id, &f.name, Type::List(ListType::new(elem.into())), f.required))
        })
        .collect::<Vec<_>>();
    Schema::builder()
        .with_fields(fields)
        .build()
        .map_err(|e| IcebergError::from_iceberg(&format!("schema of {}", t.id), &e))
}

/// The table for source table `t`: loaded, or created (partitioned per `config`), then evolved so
/// that every column of `t` is a field.
pub async fn ensure_table(
    catalog: &SqlCatalog,
    config: &IcebergSinkConfig,
    ident: &TableIdent,
    t: &TableSchema,
    mysql: bool,
) -> Result<Table, IcebergError> {
    let ctx = || format!("table {ident}");
    let exists = catalog.table_exists(ident).await.map_err(|e| IcebergError::from_iceberg(&ctx(), &e))?;
    let table = if exists {
        catalog.load_table(ident).await.map_err(|e| IcebergError::from_iceberg(&ctx(), &e))?
    } else {
        let mut creation = TableCreation::builder()
            .name(ident.name().to_owned())
            .schema(schema(t, mysql)?)
            .properties(HashMap::from([
                ("write.format.default".to_string(), "parquet".to_string()),
                ("write.parquet.compression-codec".to_string(), "zstd".to_string()),
            ]))
            .build();
        if config.partitioning == Partitioning::Day {
            let spec = UnboundPartitionSpec::builder()
                .add_partition_field(2, "__ts_ms_day", Transform::Day)
                .map_err(|e| IcebergError::from_iceberg(&ctx(), &e))?
                .build();
            creation.partition_spec = Some(spec);
        }
        tracing::info!(table = %ident, source = %t.id, "creating Iceberg table");
        catalog
            .create_table(ident.namespace(), creation)
            .await
            .map_err(|e| IcebergError::from_iceberg(&format!("creating {}", ctx()), &e))?
    };
    evolve(catalog, table, t, mysql).await
}

/// Add the columns of `t` that `table` lacks; refuse a column whose type changed.
pub async fn evolve(
    catalog: &SqlCatalog,
    table: Table,
    t: &TableSchema,
    mysql: bool,
) -> Result<Table, IcebergError> {
    let current = table.metadata().current_schema().clone();
    let (mut missing, mut names) = (Vec::new(), Vec::new());
    for c in &t.columns {
        let want = iceberg_type(&c.data_type, mysql);
        match current.field_by_name(&c.name) {
            None => {
                names.push(c.name.clone());
                missing.push(AddColumn::optional(&c.name, want));
            }
            Some(f) if same_type(&f.field_type, &want) => {}
            Some(f) => {
                return Err(IcebergError::fatal(format!(
                    "column {} of {}: the Iceberg table {} holds it as {}, the source now sends {}; \
                     Iceberg cannot change it in place — write to a new table (table_pattern) or \
                     convert the column with Spark/pyiceberg, then restart",
                    c.name,
                    t.id,
                    table.identifier(),
                    f.field_type,
                    want
                )))
            }
        }
    }
    if missing.is_empty() {
        return Ok(table);
    }
    tracing::info!(table = %table.identifier(), columns = ?names, "adding columns");
    let ctx = format!("adding columns to {}", table.identifier());
    let tx = Transaction::new(&table);
    let mut action = tx.update_schema();
    for a in missing {
        action = action.add_column(a);
    }
    let tx = action.apply(tx).map_err(|e| IcebergError::from_iceberg(&ctx, &e))?;
    tx.commit(catalog).await.map_err(|e| IcebergError::from_iceberg(&ctx, &e))
}

/// Equal types, list element ids aside.
fn same_type(a: &Type, b: &Type) -> bool {
    match (a, b) {
        (Type::List(x), Type::List(y)) => same_type(&x.element_field.field_type, &y.element_field.field_type),
        _ => a == b,
    }
}
