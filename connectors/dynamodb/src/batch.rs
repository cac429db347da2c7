//! Guarded batch writes (`write_mode = "batch"`, the default): whole-item puts and deletes sent
//! with `BatchWriteItem` (25 per request), each chunk of up to 100 items first read back with a
//! strongly consistent `BatchGetItem` (projection: key and `__sluice_offset`).
//!
//! Invariants:
//! - **Same rule as the conditional writes**: a write is sent only when its item is absent or
//!   holds an older `__sluice_offset` than the write's; otherwise it is skipped and counted in
//!   `sluice_sink_stale_writes_total`. A replay after a crash (offsets not yet stored) therefore
//!   rewrites nothing the target already holds, and never rolls an item back.
//! - **What the read cannot do**: the read and the write are two requests, so they are not atomic
//!   against *another writer of the same item at the same moment*. Within one sink group the only
//!   such writer is a member that lost its partitions while still writing: the runtime polls (and
//!   so lets a rebalance proceed) only between batches, so this happens only when a member stays
//!   out longer than the consumer's `max.poll.interval.ms` (300 s by default). Such a member stops
//!   itself: no write request is started later than `write_deadline_secs` (60 s) after its
//!   batch's writes began, and each attempt times out (`connect_timeout_secs` × 6). A process frozen
//!   longer than that is the one case left; `write_mode = "conditional"` covers it too.
//! - Items whose batch could not name every column (an update with unchanged TOAST columns not
//!   seen earlier in the batch) are not sent here: they need `UpdateItem` (conditional mode's
//!   path) to keep the stored values.
//! - Unprocessed items and keys (throttling) are sent again with exponential backoff, up to ten
//!   attempts, then the batch fails retriably.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use sluice_core::sink::METRIC_APPLIED;

use crate::client::KeySchema;
use crate::error::DynamoError;
use crate::sink::{METRIC_STALE, OFFSET_ATTR};

pub(crate) type Item = HashMap<String, AttributeValue>;

/// Keys per `BatchGetItem`, items per `BatchWriteItem` (DynamoDB's limits).
pub(crate) const GET_CHUNK: usize = 100;
const WRITE_CHUNK: usize = 25;
const ATTEMPTS: u32 = 10;

/// One whole-item write: `item` = `None` deletes the key.
pub(crate) struct ItemWrite {
    pub key: Item,
    pub item: Option<Item>,
    pub offset: i64,
    pub op: &'static str,
}

/// Read the chunk's stored offsets, drop the writes that are not newer, send the rest.
pub(crate) async fn write_guarded(
    client: &Client,
    table: &str,
    key: &KeySchema,
    writes: Vec<ItemWrite>,
    deadline: Instant,
    deadline_secs: u64,
) -> Result<(), DynamoError> {
    let stored = stored_offsets(client, table, key, &writes).await?;
    let mut stale = 0u64;
    let mut counts: HashMap<&'static str, u64> = HashMap::new();
    let mut requests = Vec::with_capacity(writes.len());
    for w in writes {
        if stored.get(&key_id(&w.key)).is_some_and(|&o| o >= w.offset) {
            stale += 1;
            continue;
        }
        *counts.entry(w.op).or_default() += 1;
        requests.push(request(table, w)?);
    }
    let guard = Some((deadline, deadline_secs));
    futures::future::try_join_all(
        chunked(requests, WRITE_CHUNK).map(|c| batch_write(client, table, c, guard)),
    )
    .await?;
    if stale > 0 {
        metrics::counter!(METRIC_STALE, "table" => table.to_owned()).increment(stale);
    }
    for (op, n) in counts {
        metrics::counter!(METRIC_APPLIED, "table" => table.to_owned(), "op" => op).increment(n);
    }
    Ok(())
}

fn request(table: &str, w: ItemWrite) -> Result<WriteRequest, DynamoError> {
    let build = |e: aws_sdk_dynamodb::error::BuildError| DynamoError::fatal(format!("table {table}: {e}"));
    Ok(match w.item {
        Some(item) => WriteRequest::builder()
            .put_request(PutRequest::builder().set_item(Some(item)).build().map_err(build)?),
        None => WriteRequest::builder()
            .delete_request(DeleteRequest::builder().set_key(Some(w.key)).build().map_err(build)?),
    }
    .build())
}

/// `key id → __sluice_offset` of the chunk's items that exist.
async fn stored_offsets(
    client: &Client,
    table: &str,
    key: &KeySchema,
    writes: &[ItemWrite],
) -> Result<HashMap<String, i64>, DynamoError> {
    let (projection, names) = key_projection(key);
    let keys = KeysAndAttributes::builder()
        .set_keys(Some(writes.iter().map(|w| w.key.clone()).collect()))
        .consistent_read(true)
        .projection_expression(projection)
        .set_expression_attribute_names(Some(names))
        .build()
        .map_err(|e| DynamoError::fatal(format!("table {table}: {e}")))?;
    let mut pending: HashMap<String, KeysAndAttributes> = [(table.to_owned(), keys)].into();
    let mut out = HashMap::with_capacity(writes.len());
    let mut delay = Duration::from_millis(50);
    for _ in 0..ATTEMPTS {
        let page =
            client.batch_get_item().set_request_items(Some(pending)).send().await.map_err(|e| {
                DynamoError::request(format!("reading the stored offsets of table {table}"), &e)
            })?;
        for item in page.responses().and_then(|r| r.get(table)).into_iter().flatten() {
            let offset =
                item.get(OFFSET_ATTR).and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<i64>().ok());
            if let Some(o) = offset {
                out.insert(key_id(item), o);
            }
        }
        match page.unprocessed_keys() {
            Some(rest) if rest.values().any(|k| !k.keys().is_empty()) => pending = rest.clone(),
            _ => return Ok(out),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
    Err(DynamoError::retriable(format!(
        "table {table}: stored offsets still unprocessed after {ATTEMPTS} attempts (throttled)"
    )))
}

/// A projection of an item's key attributes and `__sluice_offset` (`#h, #o[, #r]`), with its
/// attribute names.
pub(crate) fn key_projection(key: &KeySchema) -> (String, HashMap<String, String>) {
    let mut names: HashMap<String, String> =
        [("#o".to_owned(), OFFSET_ATTR.to_owned()), ("#h".to_owned(), key.hash.0.clone())].into();
    let mut projection = String::from("#h, #o");
    if let Some((r, _)) = &key.range {
        names.insert("#r".into(), r.clone());
        projection.push_str(", #r");
    }
    (projection, names)
}

/// `items` in owned chunks of at most `n`, in order.
pub(crate) fn chunked<T>(mut items: Vec<T>, n: usize) -> impl Iterator<Item = Vec<T>> {
    std::iter::from_fn(move || {
        if items.is_empty() {
            return None;
        }
        let rest = items.split_off(items.len().min(n));
        Some(std::mem::replace(&mut items, rest))
    })
}

/// Send `requests` (≤ 25) with `BatchWriteItem`, resending what DynamoDB leaves unprocessed.
/// `guard`: (deadline, its setting in seconds) — no attempt starts after the deadline.
pub(crate) async fn batch_write(
    client: &Client,
    table: &str,
    requests: Vec<WriteRequest>,
    guard: Option<(Instant, u64)>,
) -> Result<(), DynamoError> {
    let mut pending: HashMap<String, Vec<WriteRequest>> = [(table.to_owned(), requests)].into();
    let mut delay = Duration::from_millis(50);
    for _ in 0..ATTEMPTS {
        if let Some((deadline, secs)) = guard {
            if Instant::now() > deadline {
                return Err(DynamoError::retriable(format!(
                    "table {table}: the batch's writes did not finish within write_deadline_secs = {secs} \
                     (a throttled or slow table); no more are sent, so that this process cannot overwrite \
                     newer items should it have lost its partitions meanwhile. The batch is consumed \
                     again and the writes already made are skipped; raise write_deadline_secs (below \
                     max.poll.interval.ms) or the table's capacity if this repeats"
                )));
            }
        }
        let out = client
            .batch_write_item()
            .set_request_items(Some(pending))
            .send()
            .await
            .map_err(|e| DynamoError::request(format!("writing items of table {table}"), &e))?;
        match out.unprocessed_items() {
            Some(rest) if rest.values().any(|v| !v.is_empty()) => pending = rest.clone(),
            _ => return Ok(()),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
    Err(DynamoError::retriable(format!(
        "table {table}: items still unprocessed after {ATTEMPTS} attempts (throttled)"
    )))
}

/// An item's identity by its key attributes (other attributes ignored), numbers compared by
/// value: DynamoDB returns `N` normalised (`"1.50"` comes back as `"1.5"`).
pub(crate) fn key_id(item: &Item) -> String {
    let mut parts: Vec<(&String, String)> = item
        .iter()
        .filter(|(k, _)| k.as_str() != OFFSET_ATTR)
        .map(|(k, v)| {
            let v = match v {
                AttributeValue::N(n) => format!("N{}", normal_number(n)),
                AttributeValue::S(s) => format!("S{s}"),
                AttributeValue::B(b) => format!("B{:?}", b.as_ref()),
                other => format!("{other:?}"),
            };
            (k, v)
        })
        .collect();
    parts.sort();
    let mut id = String::new();
    for (k, v) in parts {
        id.push_str(&format!("{}:{k}={}:{v};", k.len(), v.len()));
    }
    id
}

/// A decimal number's canonical text: sign, significant digits, exponent (`"-1.50"` and
/// `"-15E-1"` → `"-15e-1"`; zero → `"0"`). Text that is not a number is returned as it is.
fn normal_number(n: &str) -> String {
    let (mantissa, exp) = match n.find(['e', 'E']) {
        Some(i) => match n[i + 1..].parse::<i64>() {
            Ok(e) => (&n[..i], e),
            Err(_) => return n.to_owned(),
        },
        None => (n, 0),
    };
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if !(int.bytes().chain(frac.bytes()).all(|c| c.is_ascii_digit())) || int.len() + frac.len() == 0 {
        return n.to_owned();
    }
    let digits: String = format!("{int}{frac}");
    let mut exp = exp - frac.len() as i64;
    let digits = digits.trim_start_matches('0');
    let trimmed = digits.trim_end_matches('0');
    exp += (digits.len() - trimmed.len()) as i64;
    if trimmed.is_empty() {
        return "0".into();
    }
    format!("{}{trimmed}e{exp}", if negative { "-" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_by_value() {
        for (a, b) in [("1.50", "1.5"), ("-15E-1", "-1.5"), ("0100", "1e2"), ("0.000", "0"), ("-0", "0")] {
            assert_eq!(normal_number(a), normal_number(b), "{a} vs {b}");
        }
        assert_ne!(normal_number("15"), normal_number("1.5"));
        assert_eq!(normal_number("abc"), "abc");
    }

    #[test]
    fn key_ids_ignore_the_offset_and_order() {
        let a: Item =
            [("id".into(), AttributeValue::N("1.0".into())), ("k".into(), AttributeValue::S("x".into()))]
                .into();
        let mut b: Item =
            [("k".into(), AttributeValue::S("x".into())), ("id".into(), AttributeValue::N("1".into()))]
                .into();
        b.insert(OFFSET_ATTR.into(), AttributeValue::N("7".into()));
        assert_eq!(key_id(&a), key_id(&b));
        b.insert("k".into(), AttributeValue::S("y".into()));
        assert_ne!(key_id(&a), key_id(&b));
    }
}
