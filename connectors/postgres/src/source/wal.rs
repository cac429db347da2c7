//! The replication connection: a task that owns `pg_walstream`'s low-level connection, forwards
//! XLogData frames through a bounded channel, answers keepalives, and reports the flush LSN
//! Sluice has acknowledged — and never anything beyond it.
//!
//! Invariants:
//! - The flush (and apply) LSN sent to the server is exactly the last value passed to
//!   [`WalStream::acknowledge`] (0 until then, which the server ignores), so the slot's
//!   `confirmed_flush_lsn` never passes what the broker has acknowledged.
//! - No silent reconnects: a connection error ends the stream with an error; the source is then
//!   restarted from the slot, which re-sends everything after the last acknowledged LSN.
//! - Status updates go out on every keepalive that asks for one, otherwise within
//!   [`STATUS_EVERY`] of the acknowledged LSN moving — also while no frame arrives (the slot's
//!   `confirmed_flush_lsn` follows the broker's acknowledgements promptly, so the server frees
//!   WAL early and lag is measured right) — and every 10 s while the consumer applies
//!   back-pressure (the channel is full and no frames are read), so a slow broker never makes
//!   the server drop the connection for `wal_sender_timeout`.

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use futures::FutureExt;
use pg_walstream::{CancellationToken, PgReplicationConnection};
use sluice_core::ErrorKind;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::endpoint::PgEndpoint;
use crate::error::PgError;

/// A replication slot just created with an exported snapshot (`CREATE_REPLICATION_SLOT …
/// EXPORT_SNAPSHOT`). The snapshot shows the database exactly as of the slot's consistent point:
/// every transaction committed before `lsn` is visible in it, none after, and streaming from the
/// slot starts with the first transaction it does not show.
///
/// The snapshot can be imported (`SET TRANSACTION SNAPSHOT`) only while this value lives — its
/// exporting replication connection stays open and idle. Drop it once every reader imported it.
pub struct ExportedSlot {
    pub lsn: sluice_core::Lsn,
    pub snapshot: String,
    _conn: PgReplicationConnection,
}

impl std::fmt::Debug for ExportedSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportedSlot").field("lsn", &self.lsn).field("snapshot", &self.snapshot).finish()
    }
}

/// Create logical slot `slot` (pgoutput) on a replication connection, exporting its snapshot.
pub async fn create_slot_exporting(ep: &PgEndpoint, slot: &str) -> Result<ExportedSlot, PgError> {
    let info = conninfo(ep);
    let addr = ep.addr();
    let slot = slot.to_owned();
    tokio::task::spawn_blocking(move || -> Result<ExportedSlot, PgError> {
        let mut conn = PgReplicationConnection::connect(&info).map_err(|e| repl_err(&addr, "connect", &e))?;
        let opts =
            pg_walstream::ReplicationSlotOptions { snapshot: Some("export".into()), ..Default::default() };
        let res = conn
            .create_replication_slot_with_options(
                &slot,
                pg_walstream::SlotType::Logical,
                Some("pgoutput"),
                &opts,
            )
            .map_err(|e| repl_err(&addr, "CREATE_REPLICATION_SLOT", &e))?;
        // Columns: slot_name, consistent_point, snapshot_name, output_plugin.
        let bad = |what: &str| PgError::Source {
            reason: format!("CREATE_REPLICATION_SLOT answered without a {what}"),
            kind: ErrorKind::Fatal,
        };
        let lsn = res.get_value(0, 1).ok_or_else(|| bad("consistent point"))?;
        let snapshot = res.get_value(0, 2).ok_or_else(|| bad("snapshot name"))?;
        let lsn = lsn.parse().map_err(|e: sluice_core::Error| PgError::Source {
            reason: e.to_string(),
            kind: ErrorKind::Fatal,
        })?;
        tracing::info!(slot, lsn = %lsn, snapshot, "created replication slot with an exported snapshot");
        Ok(ExportedSlot { lsn, snapshot, _conn: conn })
    })
    .await
    .map_err(|e| PgError::Connect {
        addr: ep.addr(),
        reason: e.to_string(),
        kind: ErrorKind::Retriable,
    })?
}

/// One message from the server.
#[derive(Debug)]
pub enum WalEvent {
    /// A pgoutput message with its XLogData header LSNs.
    Data { wal_start: u64, wal_end: u64, data: Bytes },
    /// The server's current send position (while idle or between messages).
    Keepalive { wal_end: u64 },
}

/// Output settings pinned on the replication session so text values have one format.
const SESSION_SETTINGS: &[&str] = &[
    "SET DateStyle = 'ISO, YMD'",
    "SET TimeZone = 'UTC'",
    "SET IntervalStyle = 'postgres'",
    "SET extra_float_digits = 3",
    "SET bytea_output = 'hex'",
];

pub struct WalStream {
    rx: mpsc::Receiver<Result<WalEvent, PgError>>,
    acked: watch::Sender<u64>,
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
}

/// Plugin options for START_REPLICATION.
pub struct StartOptions<'a> {
    pub slot: &'a str,
    pub publication: &'a str,
    pub streaming: bool,
    /// `logical_decoding_work_mem` for the walsender (validated: digits and a unit).
    pub work_mem: Option<&'a str>,
    /// Where to start: 0 for the slot's confirmed position; a later LSN skips every transaction
    /// that commits before it.
    pub start_lsn: u64,
}

fn conninfo(ep: &PgEndpoint) -> String {
    let q = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut s = format!(
        "host={} port={} user={} dbname={} replication=database connect_timeout={}",
        q(&ep.host),
        ep.port,
        q(&ep.user),
        q(&ep.database),
        ep.connect_timeout_secs
    );
    if !ep.password.is_empty() {
        s.push_str(&format!(" password={}", q(ep.password.expose())));
    }
    s
}

fn repl_err(addr: &str, context: &str, e: &pg_walstream::ReplicationError) -> PgError {
    let kind = if e.is_transient() { ErrorKind::Retriable } else { ErrorKind::Fatal };
    // pg_walstream's messages carry the server's text, never the conninfo.
    PgError::Connect { addr: addr.to_owned(), reason: format!("{context}: {e}"), kind }
}

impl WalStream {
    /// Connect in replication mode, pin the session settings and start streaming from the
    /// slot's confirmed position.
    pub async fn start(ep: &PgEndpoint, opts: &StartOptions<'_>) -> Result<Self, PgError> {
        let info = conninfo(ep);
        let addr = ep.addr();
        let slot = opts.slot.to_owned();
        let publication = format!("\"{}\"", opts.publication.replace('"', "\"\""));
        let streaming = opts.streaming;
        let start_lsn = opts.start_lsn;
        let mut settings: Vec<String> = SESSION_SETTINGS.iter().map(|s| (*s).to_owned()).collect();
        if let Some(m) = opts.work_mem {
            if m.is_empty() || !m.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(PgError::Source {
                    reason: format!("logical_decoding_work_mem {m:?} is not a size like 64MB"),
                    kind: ErrorKind::Fatal,
                });
            }
            settings.push(format!("SET logical_decoding_work_mem = '{m}'"));
        }
        // The library's connect/exec/start are blocking calls.
        let conn = tokio::task::spawn_blocking(move || -> Result<PgReplicationConnection, PgError> {
            let mut conn =
                PgReplicationConnection::connect(&info).map_err(|e| repl_err(&addr, "connect", &e))?;
            for sql in &settings {
                conn.exec(sql).map_err(|e| repl_err(&addr, "session setting", &e))?;
            }
            let mut options: Vec<(&str, &str)> = vec![
                ("proto_version", if streaming { "2" } else { "1" }),
                ("publication_names", &publication),
                ("messages", "true"),
            ];
            if streaming {
                options.push(("streaming", "on"));
            }
            // 0/0: start at the slot's confirmed_flush_lsn.
            conn.start_replication(&slot, start_lsn, &options)
                .map_err(|e| repl_err(&addr, "START_REPLICATION", &e))?;
            Ok(conn)
        })
        .await
        .map_err(|e| PgError::Connect {
            addr: ep.addr(),
            reason: e.to_string(),
            kind: ErrorKind::Retriable,
        })??;

        let (tx, rx) = mpsc::channel(16_384);
        let (acked, acked_rx) = watch::channel(0u64);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(conn, tx, acked_rx, cancel.clone(), ep.addr()));
        Ok(Self { rx, acked, cancel, task: Some(task) })
    }

    /// The next event, waiting at most `timeout`; `Ok(None)` on timeout.
    pub async fn recv(&mut self, timeout: Duration) -> Result<Option<WalEvent>, PgError> {
        match tokio::time::timeout(timeout, self.rx.recv()).await {
            Err(_) => Ok(None),
            Ok(Some(r)) => r.map(Some),
            Ok(None) => Err(PgError::Connect {
                addr: "replication".into(),
                reason: "replication stream ended".into(),
                kind: ErrorKind::Retriable,
            }),
        }
    }

    /// The next event if one is already waiting.
    pub fn try_recv(&mut self) -> Option<Result<WalEvent, PgError>> {
        self.rx.try_recv().ok()
    }

    /// Report `lsn` as flushed: everything before it is durable downstream.
    pub fn acknowledge(&self, lsn: u64) {
        self.acked.send_if_modified(|cur| {
            if lsn > *cur {
                *cur = lsn;
                true
            } else {
                false
            }
        });
    }

    /// Send a final status update and close the connection.
    pub async fn close(&mut self) {
        self.cancel.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for WalStream {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Least time between two status updates reporting a moved acknowledged LSN.
const STATUS_EVERY: Duration = Duration::from_millis(200);

/// Resolves when the acknowledged LSN differs from `reported` and `since` is [`STATUS_EVERY`]
/// ago; never when the sender is gone.
async fn ack_due(acked: &mut watch::Receiver<u64>, reported: u64, since: Instant) {
    loop {
        if *acked.borrow_and_update() != reported {
            tokio::time::sleep_until((since + STATUS_EVERY).into()).await;
            return;
        }
        if acked.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

async fn run(
    mut conn: PgReplicationConnection,
    tx: mpsc::Sender<Result<WalEvent, PgError>>,
    mut acked: watch::Receiver<u64>,
    cancel: CancellationToken,
    addr: String,
) {
    let mut received: u64 = 0;
    let mut reported: u64 = 0;
    let mut last_report = Instant::now();
    loop {
        // `get_copy_data_async` is cancel-safe (its read buffer and frame queue live in the
        // connection), so a status update may pre-empt the wait for the next frame. A frame
        // already received is taken without that race (no timer per frame while streaming).
        let next = match conn.get_copy_data_async(&cancel).now_or_never() {
            Some(f) => Some(f),
            None => tokio::select! {
                f = conn.get_copy_data_async(&cancel) => Some(f),
                () = ack_due(&mut acked, reported, last_report) => None,
            },
        };
        let Some(next) = next else {
            let flush = *acked.borrow();
            if let Err(e) = conn.send_standby_status_update(received.max(flush), flush, flush, false).await {
                let _ = tx.send(Err(repl_err(&addr, "standby status update", &e))).await;
                return;
            }
            reported = flush;
            last_report = Instant::now();
            continue;
        };
        let frame = match next {
            Ok(f) => f,
            Err(e) if e.is_cancelled() => break,
            Err(e) => {
                let _ = tx.send(Err(repl_err(&addr, "replication stream", &e))).await;
                return;
            }
        };
        let mut reply_requested = false;
        let event = match parse_frame(frame) {
            Ok(ev) => ev,
            Err(reason) => {
                let _ = tx
                    .send(Err(PgError::Connect { addr: addr.clone(), reason, kind: ErrorKind::Fatal }))
                    .await;
                return;
            }
        };
        match &event {
            Some((WalEvent::Data { wal_end, .. }, _)) => received = received.max(*wal_end),
            Some((WalEvent::Keepalive { wal_end }, reply)) => {
                received = received.max(*wal_end);
                reply_requested = *reply;
            }
            None => {}
        }
        if let Some((ev, _)) = event {
            // While the consumer applies back-pressure, keep the walsender from timing out
            // (`wal_sender_timeout`) with a status update every 10 s.
            let permit = loop {
                match tokio::time::timeout(Duration::from_secs(10), tx.reserve()).await {
                    Ok(Ok(p)) => break Some(p),
                    Ok(Err(_)) => break None,
                    Err(_) => {
                        let flush = *acked.borrow();
                        if let Err(e) =
                            conn.send_standby_status_update(received.max(flush), flush, flush, false).await
                        {
                            let _ = tx.send(Err(repl_err(&addr, "standby status update", &e))).await;
                            return;
                        }
                        reported = flush;
                        last_report = Instant::now();
                    }
                }
            };
            let Some(permit) = permit else { break };
            permit.send(Ok(ev));
        }
        let flush = *acked.borrow();
        if reply_requested || (flush != reported && last_report.elapsed() >= STATUS_EVERY) {
            if let Err(e) = conn.send_standby_status_update(received.max(flush), flush, flush, false).await {
                let _ = tx.send(Err(repl_err(&addr, "standby status update", &e))).await;
                return;
            }
            reported = flush;
            last_report = Instant::now();
        }
    }
    // Shutting down: report the final acknowledged position.
    let flush = *acked.borrow();
    if flush > 0 {
        let _ = conn.send_standby_status_update(received.max(flush), flush, flush, false).await;
    }
}

/// `w` XLogData or `k` keepalive; other CopyData messages are ignored.
fn parse_frame(mut f: Bytes) -> Result<Option<(WalEvent, bool)>, String> {
    if f.is_empty() {
        return Ok(None);
    }
    match f.get_u8() {
        b'w' => {
            if f.remaining() < 24 {
                return Err("truncated XLogData header".into());
            }
            let wal_start = f.get_u64();
            let wal_end = f.get_u64();
            let _server_time = f.get_i64();
            Ok(Some((WalEvent::Data { wal_start, wal_end, data: f }, false)))
        }
        b'k' => {
            if f.remaining() < 17 {
                return Err("truncated keepalive".into());
            }
            let wal_end = f.get_u64();
            let _server_time = f.get_i64();
            let reply = f.get_u8() == 1;
            Ok(Some((WalEvent::Keepalive { wal_end }, reply)))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::Secret;

    #[test]
    fn conninfo_quotes_and_includes_replication() {
        let ep = PgEndpoint {
            host: "db".into(),
            port: 5432,
            user: "o'neil".into(),
            password: Secret::new("p w"),
            database: "app".into(),
            connect_timeout_secs: 3,
        };
        let s = conninfo(&ep);
        assert!(
            s.contains("user='o\\'neil'")
                && s.contains("password='p w'")
                && s.contains("replication=database"),
            "{s}"
        );
    }

    #[test]
    fn frames() {
        let mut w = vec![b'w'];
        w.extend_from_slice(&10u64.to_be_bytes());
        w.extend_from_slice(&20u64.to_be_bytes());
        w.extend_from_slice(&0i64.to_be_bytes());
        w.push(b'B');
        let Some((WalEvent::Data { wal_start: 10, wal_end: 20, data }, false)) =
            parse_frame(Bytes::from(w)).unwrap()
        else {
            panic!()
        };
        assert_eq!(&data[..], b"B");
        let mut k = vec![b'k'];
        k.extend_from_slice(&30u64.to_be_bytes());
        k.extend_from_slice(&0i64.to_be_bytes());
        k.push(1);
        assert!(matches!(
            parse_frame(Bytes::from(k)).unwrap(),
            Some((WalEvent::Keepalive { wal_end: 30 }, true))
        ));
    }
}
