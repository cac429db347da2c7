//! Global transaction ids: MariaDB's GTID_EVENT (type 162) and GTID_LIST_EVENT (163), which
//! `mysql_async` passes through as unknown events with their raw bytes, and MySQL's
//! `uuid:gno` GTIDs and the SID set of `COM_BINLOG_DUMP_GTID`.
//!
//! MariaDB GTID_EVENT body (after the 19-byte common header, without the checksum):
//! `seq_no u64 | domain_id u32 | flags2 u8 | [commit_id u64 if FL_GROUP_COMMIT_ID] | [XID if
//! FL_PREPARED_XA or FL_COMPLETED_XA] | …`, little-endian; the server id comes from the common
//! header. GTID_LIST body: `count u32` (low 28 bits; the top 4 are flags) then `count` ×
//! `domain_id u32 | server_id u32 | seq_no u64`.
//!
//! Parsers never panic: short input is an error.

use mysql_async::binlog::events::GtidEvent;
use mysql_async::{GnoInterval, Sid};
use sluice_core::GtidSet;

/// MariaDB GTID_EVENT flags2 bits.
pub const FL_STANDALONE: u8 = 1;
pub const FL_GROUP_COMMIT_ID: u8 = 2;
pub const FL_TRANSACTIONAL: u8 = 4;
pub const FL_PREPARED_XA: u8 = 64;
pub const FL_COMPLETED_XA: u8 = 128;

/// A MariaDB GTID `domain-server-seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MariaGtid {
    pub domain: u32,
    pub server: u32,
    pub seq: u64,
}

impl std::fmt::Display for MariaGtid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}-{}", self.domain, self.server, self.seq)
    }
}

/// The GTID of one transaction, to add to the executed set at its commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnGtid {
    MariaDb(MariaGtid),
    MySql { uuid: String, gno: u64 },
}

impl std::fmt::Display for TxnGtid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TxnGtid::MariaDb(g) => g.fmt(f),
            TxnGtid::MySql { uuid, gno } => write!(f, "{uuid}:{gno}"),
        }
    }
}

impl TxnGtid {
    /// Record this transaction in an executed set of the same flavor.
    pub fn add_to(&self, set: &mut GtidSet) {
        match self {
            TxnGtid::MariaDb(g) => set.add_mariadb(g.domain, g.server, g.seq),
            TxnGtid::MySql { uuid, gno } => set.add_mysql(uuid, *gno),
        }
    }
}

/// A parsed MariaDB GTID_EVENT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MariaGtidEvent {
    pub gtid: MariaGtid,
    pub flags2: u8,
}

impl MariaGtidEvent {
    /// A single statement with no BEGIN/COMMIT around it (DDL): the next QUERY ends it.
    pub fn is_standalone(&self) -> bool {
        self.flags2 & FL_STANDALONE != 0
    }

    /// Part of an XA transaction (XA PREPARE or XA COMMIT/ROLLBACK group).
    pub fn is_xa(&self) -> bool {
        self.flags2 & (FL_PREPARED_XA | FL_COMPLETED_XA) != 0
    }
}

fn u32_le(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_le(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8).map(|s| {
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        u64::from_le_bytes(a)
    })
}

/// Parse a MariaDB GTID_EVENT body; `server_id` is the common header's server id.
pub fn parse_mariadb_gtid(body: &[u8], server_id: u32) -> Result<MariaGtidEvent, String> {
    let short = || format!("MariaDB GTID event is {} bytes, expected at least 13", body.len());
    let seq = u64_le(body, 0).ok_or_else(short)?;
    let domain = u32_le(body, 8).ok_or_else(short)?;
    let flags2 = *body.get(12).ok_or_else(short)?;
    Ok(MariaGtidEvent { gtid: MariaGtid { domain, server: server_id, seq }, flags2 })
}

/// Parse a MariaDB GTID_LIST_EVENT body.
pub fn parse_mariadb_gtid_list(body: &[u8]) -> Result<Vec<MariaGtid>, String> {
    let count = u32_le(body, 0).ok_or("MariaDB GTID list event is too short")? & 0x0fff_ffff;
    let count = usize::try_from(count).map_err(|_| "GTID list count overflows")?;
    let need = 4 + count.checked_mul(16).ok_or("GTID list count overflows")?;
    if body.len() < need {
        return Err(format!("MariaDB GTID list of {count} entries needs {need} bytes, has {}", body.len()));
    }
    Ok((0..count)
        .filter_map(|i| {
            let at = 4 + i * 16;
            Some(MariaGtid {
                domain: u32_le(body, at)?,
                server: u32_le(body, at + 4)?,
                seq: u64_le(body, at + 8)?,
            })
        })
        .collect())
}

/// `3e11fa47-71ca-11e1-9e33-c80aa9429562` from the 16 bytes of a server UUID.
pub fn format_uuid(b: &[u8; 16]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

pub fn parse_uuid(s: &str) -> Result<[u8; 16], String> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return Err(format!("invalid server uuid {s:?}"));
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
            .map_err(|_| format!("invalid server uuid {s:?}"))?;
    }
    Ok(out)
}

/// `uuid:gno` of a MySQL GTID event; tagged GTIDs (MySQL 8.3+) are refused because the shared
/// GTID set type has no place for the tag.
pub fn mysql_gtid(e: &GtidEvent) -> Result<(String, u64), String> {
    if e.is_tagged() {
        return Err("tagged GTIDs (uuid:tag:gno, MySQL 8.3+) are not supported".into());
    }
    Ok((format_uuid(&e.sid()), e.gno()))
}

/// The SID blocks of `COM_BINLOG_DUMP_GTID` for an executed MySQL GTID set (the server sends
/// every transaction not in it). Intervals are inclusive in [`GtidSet`], half-open on the wire.
pub fn mysql_sids(set: &GtidSet) -> Result<Vec<Sid<'static>>, String> {
    let GtidSet::MySql(map) = set else { return Err("not a MySQL GTID set".into()) };
    map.iter()
        .map(|(uuid, intervals)| {
            let sid = Sid::new(parse_uuid(uuid)?);
            Ok(sid.with_intervals(intervals.iter().map(|&(a, b)| GnoInterval::new(a, b + 1)).collect()))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn mariadb_gtid_event() {
        // seq 100, domain 2, flags2 STANDALONE|GROUP_COMMIT_ID, commit id 7.
        let mut b = 100u64.to_le_bytes().to_vec();
        b.extend_from_slice(&2u32.to_le_bytes());
        b.push(FL_STANDALONE | FL_GROUP_COMMIT_ID);
        b.extend_from_slice(&7u64.to_le_bytes());
        let e = parse_mariadb_gtid(&b, 1).unwrap();
        assert_eq!(e.gtid.to_string(), "2-1-100");
        assert!(e.is_standalone());
        assert!(!e.is_xa());
        // The 19-byte post-header form without commit id (6 bytes of padding).
        let mut p = 5u64.to_le_bytes().to_vec();
        p.extend_from_slice(&0u32.to_le_bytes());
        p.push(FL_TRANSACTIONAL);
        p.extend_from_slice(&[0; 6]);
        let e = parse_mariadb_gtid(&p, 3).unwrap();
        assert_eq!(e.gtid, MariaGtid { domain: 0, server: 3, seq: 5 });
        assert!(!e.is_standalone());
        assert!(parse_mariadb_gtid(&p[..12], 3).is_err());
    }

    #[test]
    fn mariadb_gtid_list() {
        let mut b = (2u32 | (1 << 28)).to_le_bytes().to_vec();
        for (d, s, q) in [(0u32, 1u32, 42u64), (1, 2, 7)] {
            b.extend_from_slice(&d.to_le_bytes());
            b.extend_from_slice(&s.to_le_bytes());
            b.extend_from_slice(&q.to_le_bytes());
        }
        let l = parse_mariadb_gtid_list(&b).unwrap();
        assert_eq!(l.iter().map(ToString::to_string).collect::<Vec<_>>(), ["0-1-42", "1-2-7"]);
        assert!(parse_mariadb_gtid_list(&b[..20]).is_err());
        assert_eq!(parse_mariadb_gtid_list(&0u32.to_le_bytes()).unwrap(), vec![]);
    }

    #[test]
    fn mysql_gtid_from_event_and_sids() {
        let uuid = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        let bytes = parse_uuid(uuid).unwrap();
        assert_eq!(format_uuid(&bytes), uuid);
        let e = GtidEvent::new(bytes, 23);
        assert_eq!(mysql_gtid(&e).unwrap(), (uuid.to_owned(), 23));

        let set = GtidSet::parse_mysql(&format!("{uuid}:1-5:7")).unwrap();
        let sids = mysql_sids(&set).unwrap();
        assert_eq!(sids.len(), 1);
        assert_eq!(sids[0].uuid(), bytes);
        let iv: Vec<(u64, u64)> = sids[0].intervals().iter().map(|i| (i.start(), i.end())).collect();
        assert_eq!(iv, vec![(1, 6), (7, 8)]);
        assert!(mysql_sids(&GtidSet::parse_mariadb("0-1-1").unwrap()).is_err());
    }
}
