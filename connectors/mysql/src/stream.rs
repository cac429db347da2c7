//! Opening the replication stream and checking each event's CRC32.
//!
//! The connection registers as a replica with the configured server id, announces checksum
//! support (`@master_binlog_checksum`), asks for heartbeats on an idle stream
//! (`@master_heartbeat_period`, nanoseconds) and, on MariaDB, announces GTID capability
//! (`@mariadb_slave_capability=4`, so GTID events are sent as such rather than rewritten to
//! BEGIN). It then starts at:
//! - a MariaDB GTID position: `@slave_connect_state` (the server finds the binlog itself);
//! - a MySQL GTID set: `COM_BINLOG_DUMP_GTID` with the executed set (the server sends every
//!   transaction not in it);
//! - otherwise a file and offset: `COM_BINLOG_DUMP`.
//!
//! Errors the server returns for the start position (purged file, unknown GTID state) arrive as
//! the first stream item and become [`MySqlError::BinlogUnavailable`].

use mysql_async::binlog::events::Event;
use mysql_async::binlog::BinlogChecksumAlg;
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStream, BinlogStreamRequest};
use sluice_core::{BinlogPosition, GtidSet};

use crate::config::MySqlSourceConfig;
use crate::error::MySqlError;
use crate::gtid::mysql_sids;
use crate::server::{first_value, Flavor, ServerInfo};

/// How the stream is asked to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartMode {
    FilePos,
    MariaDbGtid(String),
    MySqlGtid(GtidSet),
}

/// GTID when asked for and the position has a non-empty set of the server's flavor, else file
/// and offset.
pub fn start_mode(server: &ServerInfo, from: &BinlogPosition, use_gtid: bool) -> StartMode {
    if !use_gtid {
        return StartMode::FilePos;
    }
    match (&from.gtid_set, server.flavor) {
        (Some(g @ GtidSet::MariaDb(m)), Flavor::MariaDb) if !m.is_empty() => {
            StartMode::MariaDbGtid(g.to_string())
        }
        (Some(g @ GtidSet::MySql(m)), Flavor::MySql) if !m.is_empty() && server.gtid_mode => {
            StartMode::MySqlGtid(g.clone())
        }
        _ => StartMode::FilePos,
    }
}

/// An open replication stream.
pub struct Opened {
    pub stream: BinlogStream,
    pub mode: StartMode,
    /// The server's connection id of the replication connection (for `KILL`, diagnostics).
    pub connection_id: u32,
    /// The server checksums events (`binlog_checksum=CRC32`): the artificial ROTATE it sends
    /// before the first FORMAT_DESCRIPTION then also ends in a CRC32, which `mysql_async`
    /// cannot know about yet and leaves attached to the file name.
    pub checksums: bool,
}

pub async fn open(
    cfg: &MySqlSourceConfig,
    server: &ServerInfo,
    from: &BinlogPosition,
    use_gtid: bool,
) -> Result<Opened, MySqlError> {
    let mut conn = cfg.connection.connect().await?;
    let connection_id = conn.id();
    let checksum: Option<String> = first_value(&mut conn, "SELECT @@GLOBAL.binlog_checksum").await;
    let checksums = checksum.is_some_and(|c| !c.eq_ignore_ascii_case("NONE"));
    let mode = start_mode(server, from, use_gtid);
    let heartbeat_ns = u128::from(cfg.heartbeat_interval_ms) * 1_000_000;
    let mut setup = vec![
        "SET @master_binlog_checksum = @@GLOBAL.binlog_checksum".to_owned(),
        format!("SET @master_heartbeat_period = {heartbeat_ns}"),
    ];
    if server.is_mariadb() {
        setup.push("SET @mariadb_slave_capability = 4".into());
        if let StartMode::MariaDbGtid(state) = &mode {
            if !state.chars().all(|c| c.is_ascii_digit() || c == '-' || c == ',') {
                return Err(MySqlError::Config(format!("invalid MariaDB GTID position {state:?}")));
            }
            setup.push(format!("SET @slave_connect_state = '{state}'"));
            setup.push("SET @slave_gtid_strict_mode = 0".into());
            setup.push("SET @slave_gtid_ignore_duplicates = 0".into());
        }
    }
    for q in &setup {
        conn.query_drop(q).await.map_err(|e| MySqlError::query("replication session setup", &e))?;
    }
    let server_id = cfg.effective_server_id();
    let request = BinlogStreamRequest::new(server_id);
    let stream = match &mode {
        StartMode::MySqlGtid(set) => {
            let sids = mysql_sids(set).map_err(MySqlError::Config)?;
            conn.get_binlog_stream(request.with_gtid().with_gtid_set(sids)).await
        }
        StartMode::MariaDbGtid(_) => conn.get_binlog_stream(request).await,
        StartMode::FilePos => {
            conn.get_binlog_stream(request.with_filename(from.file.as_bytes()).with_pos(from.pos)).await
        }
    }
    .map_err(|e| MySqlError::stream(from.to_string(), &e))?;
    tracing::info!(server_id, position = %from, mode = ?mode, connection_id, "binlog stream requested");
    Ok(Opened { stream, mode, connection_id, checksums })
}

/// The file name of a ROTATE event's body (`position u64 | name`), without the CRC32 the
/// server appends to the artificial ROTATE it sends before the first FORMAT_DESCRIPTION.
pub fn rotate_name(body: &[u8], strip_checksum: bool) -> Result<String, String> {
    let name = body.get(8..).ok_or("ROTATE event is too short")?;
    let name =
        if strip_checksum { name.get(..name.len().saturating_sub(4)).unwrap_or_default() } else { name };
    String::from_utf8(name.to_vec()).map_err(|_| "ROTATE event names a file that is not UTF-8".to_owned())
}

/// Check the CRC32 an event carries (events inside a compressed transaction payload carry none).
/// `Ok(true)` when a checksum was verified, `Ok(false)` when the event has none.
pub fn verify_checksum(ev: &Event) -> Result<bool, String> {
    let footer = ev.footer();
    if !footer.get_checksum_enabled() {
        return Ok(false);
    }
    let Ok(Some(alg @ BinlogChecksumAlg::BINLOG_CHECKSUM_ALG_CRC32)) = footer.get_checksum_alg() else {
        return Ok(false);
    };
    let Some(stored) = ev.checksum() else { return Ok(false) };
    let expected = ev.calc_checksum(alg);
    let stored = u32::from_le_bytes(stored);
    if stored == expected {
        Ok(true)
    } else {
        Err(format!(
            "event of type {} fails its CRC32 check (stored {stored:#010x}, computed {expected:#010x}); \
             the binlog may be corrupt (check it with mysqlbinlog --verify-binlog-checksum)",
            ev.header().event_type_raw()
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn server(flavor: Flavor, gtid_mode: bool) -> ServerInfo {
        ServerInfo {
            flavor,
            version: (8, 4, 0),
            version_string: String::new(),
            server_id: 1,
            gtid_mode,
            binlog_format: "ROW".into(),
            binlog_row_image: "FULL".into(),
            binlog_row_metadata: Some("FULL".into()),
        }
    }

    /// A XID event (type 16) as a server with binlog_checksum=CRC32 sends it.
    fn xid_event(crc: u32) -> Event {
        use mysql_async::binlog::events::{BinlogEventFooter, FormatDescriptionEvent};
        use mysql_async::binlog::BinlogVersion;
        let fde = FormatDescriptionEvent::new(BinlogVersion::Version4)
            .with_footer(BinlogEventFooter::new(BinlogChecksumAlg::BINLOG_CHECKSUM_ALG_CRC32));
        let mut b = Vec::new();
        b.extend_from_slice(&1_700_000_000u32.to_le_bytes()); // timestamp
        b.push(16); // XID_EVENT
        b.extend_from_slice(&1u32.to_le_bytes()); // server id
        b.extend_from_slice(&(19u32 + 8 + 4).to_le_bytes()); // event size
        b.extend_from_slice(&1000u32.to_le_bytes()); // log pos
        b.extend_from_slice(&0u16.to_le_bytes()); // flags
        b.extend_from_slice(&42u64.to_le_bytes()); // xid
        b.extend_from_slice(&crc.to_le_bytes());
        Event::read(&fde, &b[..]).unwrap()
    }

    #[test]
    fn rotate_before_format_description_drops_its_checksum() {
        let mut body = 4u64.to_le_bytes().to_vec();
        body.extend_from_slice(b"mysql-bin.000007");
        assert_eq!(rotate_name(&body, false).unwrap(), "mysql-bin.000007");
        body.extend_from_slice(&[0x69, 0x5c, 0xfe, 0x01]);
        assert_eq!(rotate_name(&body, true).unwrap(), "mysql-bin.000007");
        assert!(rotate_name(&body[..4], false).is_err());
    }

    #[test]
    fn checksums_are_verified() {
        let unchecked = xid_event(0);
        let good = unchecked.calc_checksum(BinlogChecksumAlg::BINLOG_CHECKSUM_ALG_CRC32);
        assert_eq!(verify_checksum(&xid_event(good)), Ok(true));
        let err = verify_checksum(&xid_event(good ^ 1)).unwrap_err();
        assert!(err.contains("CRC32"), "{err}");
    }

    #[test]
    fn gtid_when_the_position_has_one() {
        let pos = |g: Option<GtidSet>| BinlogPosition { file: "b.000001".into(), pos: 4, gtid_set: g };
        let maria = GtidSet::parse_mariadb("0-1-10").unwrap();
        assert_eq!(
            start_mode(&server(Flavor::MariaDb, true), &pos(Some(maria.clone())), true),
            StartMode::MariaDbGtid("0-1-10".into())
        );
        assert_eq!(
            start_mode(
                &server(Flavor::MariaDb, true),
                &pos(Some(GtidSet::MariaDb(Default::default()))),
                true
            ),
            StartMode::FilePos
        );
        let my = GtidSet::parse_mysql("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-9").unwrap();
        assert_eq!(
            start_mode(&server(Flavor::MySql, true), &pos(Some(my.clone())), true),
            StartMode::MySqlGtid(my.clone())
        );
        assert_eq!(
            start_mode(&server(Flavor::MySql, false), &pos(Some(my.clone())), true),
            StartMode::FilePos
        );
        assert_eq!(
            start_mode(&server(Flavor::MySql, true), &pos(Some(maria.clone())), true),
            StartMode::FilePos
        );
        assert_eq!(start_mode(&server(Flavor::MySql, true), &pos(None), true), StartMode::FilePos);
        assert_eq!(start_mode(&server(Flavor::MariaDb, true), &pos(Some(maria)), false), StartMode::FilePos);
    }
}
