//! The DynamoDB client of a sink, and the tables it writes: created on first use (on-demand
//! capacity) when `create_tables` is on, their key schema read back and checked against the
//! source table's key.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
};
use aws_sdk_dynamodb::Client;
use sluice_core::TableSchema;

use crate::config::DynamoEndpoint;
use crate::error::DynamoError;
use crate::value::key_type;

/// How long a table may stay `CREATING` before the sink gives up (retriable).
const CREATE_WAIT: Duration = Duration::from_secs(300);

pub async fn client(ep: &DynamoEndpoint) -> Result<Client, DynamoError> {
    let conf = sluice_aws::sdk_config(ep, "[sink.connection]").await.map_err(DynamoError::fatal)?;
    Ok(Client::new(&conf))
}

/// A target table's primary key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySchema {
    pub hash: (String, ScalarAttributeType),
    pub range: Option<(String, ScalarAttributeType)>,
}

impl KeySchema {
    /// The key a source table's primary key maps to: the first column as partition key, the
    /// second as sort key; three or more columns make the sort key one string attribute named
    /// by the other columns' names joined with `#`.
    pub fn of(t: &TableSchema) -> Option<Self> {
        let col = |i: usize| t.columns.get(i);
        let first = col(*t.key.first()?)?;
        let hash = (first.name.clone(), key_type(&first.data_type));
        let range = match t.key.len() {
            1 => None,
            2 => col(t.key[1]).map(|c| (c.name.clone(), key_type(&c.data_type))),
            _ => {
                let names: Vec<&str> =
                    t.key[1..].iter().filter_map(|&i| col(i)).map(|c| c.name.as_str()).collect();
                Some((names.join("#"), ScalarAttributeType::S))
            }
        };
        Some(Self { hash, range })
    }

    pub fn composite(&self, t: &TableSchema) -> bool {
        t.key.len() > 2
    }
}

/// The key schema of `table`, `None` when the table does not exist.
pub async fn describe(client: &Client, table: &str) -> Result<Option<(KeySchema, bool)>, DynamoError> {
    let out = match client.describe_table().table_name(table).send().await {
        Ok(o) => o,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {
            return Ok(None)
        }
        Err(e) => return Err(DynamoError::request(format!("describing table {table}"), &e)),
    };
    let Some(t) = out.table() else { return Ok(None) };
    let ty = |name: &str| {
        t.attribute_definitions()
            .iter()
            .find(|d| d.attribute_name() == name)
            .map_or(ScalarAttributeType::S, |d| d.attribute_type().clone())
    };
    let mut hash = None;
    let mut range = None;
    for k in t.key_schema() {
        let entry = (k.attribute_name().to_owned(), ty(k.attribute_name()));
        match k.key_type() {
            KeyType::Hash => hash = Some(entry),
            _ => range = Some(entry),
        }
    }
    let hash = hash.ok_or_else(|| DynamoError::fatal(format!("table {table} has no partition key")))?;
    let active = t.table_status() == Some(&TableStatus::Active);
    Ok(Some((KeySchema { hash, range }, active)))
}

/// Make sure `table` exists with `want` as its key (creating it when allowed) and is ACTIVE.
pub async fn ensure_table(
    client: &Client,
    table: &str,
    want: &KeySchema,
    create: bool,
) -> Result<(), DynamoError> {
    let started = Instant::now();
    let mut created = false;
    loop {
        match describe(client, table).await? {
            Some((have, active)) => {
                if &have != want {
                    return Err(DynamoError::fatal(format!(
                        "table {table} has key {have:?}, but the source table's primary key maps to {want:?}; \
                         drop or rename the table, or write to another one (table_pattern)"
                    )));
                }
                if active {
                    if created {
                        tracing::info!(table, "created table (on-demand capacity)");
                    }
                    return Ok(());
                }
            }
            None if !create => {
                return Err(DynamoError::fatal(format!(
                "table {table} does not exist and create_tables = false; create it with partition key {:?}{}",
                want.hash,
                want.range.as_ref().map(|r| format!(" and sort key {r:?}")).unwrap_or_default()
            )))
            }
            None if !created => {
                create_table(client, table, want).await?;
                created = true;
            }
            None => {}
        }
        if started.elapsed() > CREATE_WAIT {
            return Err(DynamoError::retriable(format!("table {table} is not ACTIVE after {CREATE_WAIT:?}")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn create_table(client: &Client, table: &str, want: &KeySchema) -> Result<(), DynamoError> {
    let build = |e: aws_sdk_dynamodb::error::BuildError| DynamoError::fatal(format!("table {table}: {e}"));
    let mut req = client.create_table().table_name(table).billing_mode(BillingMode::PayPerRequest);
    let mut keys = vec![(&want.hash, KeyType::Hash)];
    if let Some(r) = &want.range {
        keys.push((r, KeyType::Range));
    }
    for ((name, ty), kt) in keys {
        req = req
            .key_schema(KeySchemaElement::builder().attribute_name(name).key_type(kt).build().map_err(build)?)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ty.clone())
                    .build()
                    .map_err(build)?,
            );
    }
    match req.send().await {
        Ok(_) => Ok(()),
        // Another process is creating it: wait for it like for our own.
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => Ok(()),
        Err(e) => Err(DynamoError::request(format!("creating table {table}"), &e)),
    }
}
