//! Source positions: where in the source's change log an event was read, and what may be
//! acknowledged back to the source.
//!
//! Invariants: positions of one source are totally ordered in the order the source emits them
//! (`Lsn` numerically; binlog positions by file sequence number then offset). A position is
//! acknowledged to the source only after every event at or before it is durable downstream;
//! acknowledging it lets the source discard the log before it, so acknowledging early loses data.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// A PostgreSQL WAL position, displayed as `X/Y` like `pg_current_wal_lsn()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn(pub u64);

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

impl FromStr for Lsn {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || Error::fatal("position", format!("invalid LSN {s:?}: expected X/Y in hexadecimal"));
        let (hi, lo) = s.split_once('/').ok_or_else(bad)?;
        let hi = u64::from_str_radix(hi, 16).map_err(|_| bad())?;
        let lo = u64::from_str_radix(lo, 16).map_err(|_| bad())?;
        if hi > u64::from(u32::MAX) || lo > u64::from(u32::MAX) {
            return Err(bad());
        }
        Ok(Lsn((hi << 32) | lo))
    }
}

/// A set of executed global transaction ids.
///
/// MySQL: `uuid:1-5:7,uuid2:1-3` (intervals per server uuid). MariaDB: `domain-server-seq` per
/// replication domain, e.g. `0-1-100,1-2-7`, where only the last sequence number per domain
/// matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GtidSet {
    MySql(BTreeMap<String, Vec<(u64, u64)>>),
    MariaDb(BTreeMap<u32, (u32, u64)>),
}

impl GtidSet {
    pub fn parse_mysql(s: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::fatal("position", format!("invalid MySQL GTID set {s:?}: {why}"));
        let mut map: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let mut pieces = part.split(':');
            let uuid = pieces.next().ok_or_else(|| bad("empty member"))?.to_ascii_lowercase();
            if uuid.len() != 36 {
                return Err(bad("server uuid must have 36 characters"));
            }
            let intervals = map.entry(uuid).or_default();
            for iv in pieces {
                let (a, b) = match iv.split_once('-') {
                    Some((a, b)) => (a, b),
                    None => (iv, iv),
                };
                let a: u64 = a.parse().map_err(|_| bad("interval bound is not a number"))?;
                let b: u64 = b.parse().map_err(|_| bad("interval bound is not a number"))?;
                if a == 0 || b < a {
                    return Err(bad("interval must be 1-based and ascending"));
                }
                intervals.push((a, b));
            }
            normalize(intervals);
        }
        Ok(GtidSet::MySql(map))
    }

    pub fn parse_mariadb(s: &str) -> Result<Self, Error> {
        let bad = || {
            Error::fatal(
                "position",
                format!("invalid MariaDB GTID position {s:?}: expected domain-server-seq[,...]"),
            )
        };
        let mut map = BTreeMap::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let mut it = part.splitn(3, '-');
            let d: u32 = it.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
            let srv: u32 = it.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
            let seq: u64 = it.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
            map.insert(d, (srv, seq));
        }
        Ok(GtidSet::MariaDb(map))
    }

    /// Record one executed MySQL transaction `uuid:gno`.
    pub fn add_mysql(&mut self, uuid: &str, gno: u64) {
        if let GtidSet::MySql(map) = self {
            let intervals = map.entry(uuid.to_ascii_lowercase()).or_default();
            intervals.push((gno, gno));
            normalize(intervals);
        }
    }

    /// Record one executed MariaDB transaction `domain-server-seq`.
    pub fn add_mariadb(&mut self, domain: u32, server: u32, seq: u64) {
        if let GtidSet::MariaDb(map) = self {
            map.insert(domain, (server, seq));
        }
    }
}

fn normalize(intervals: &mut Vec<(u64, u64)>) {
    intervals.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(intervals.len());
    for &(a, b) in intervals.iter() {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    *intervals = out;
}

impl fmt::Display for GtidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GtidSet::MySql(map) => {
                let mut first = true;
                for (uuid, ivs) in map {
                    if !first {
                        f.write_str(",")?;
                    }
                    first = false;
                    f.write_str(uuid)?;
                    for (a, b) in ivs {
                        if a == b {
                            write!(f, ":{a}")?;
                        } else {
                            write!(f, ":{a}-{b}")?;
                        }
                    }
                }
                Ok(())
            }
            GtidSet::MariaDb(map) => {
                let mut first = true;
                for (d, (s, q)) in map {
                    if !first {
                        f.write_str(",")?;
                    }
                    first = false;
                    write!(f, "{d}-{s}-{q}")?;
                }
                Ok(())
            }
        }
    }
}

/// A MySQL/MariaDB binlog coordinate, with the GTID set executed up to it when GTIDs are on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinlogPosition {
    pub file: String,
    pub pos: u64,
    pub gtid_set: Option<GtidSet>,
}

impl BinlogPosition {
    /// The numeric suffix of `mysql-bin.000042`, used for ordering across files.
    pub fn file_sequence(&self) -> u64 {
        self.file.rsplit('.').next().and_then(|s| s.parse().ok()).unwrap_or(0)
    }
}

impl PartialOrd for BinlogPosition {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some((self.file_sequence(), self.pos).cmp(&(other.file_sequence(), other.pos)))
    }
}

impl fmt::Display for BinlogPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.pos)?;
        if let Some(g) = &self.gtid_set {
            write!(f, " gtid={g}")?;
        }
        Ok(())
    }
}

/// A position in some source's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    Postgres(Lsn),
    Binlog(BinlogPosition),
}

impl PartialOrd for Position {
    /// Positions of different source kinds are not comparable.
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match (self, other) {
            (Position::Postgres(a), Position::Postgres(b)) => Some(a.cmp(b)),
            (Position::Binlog(a), Position::Binlog(b)) => a.partial_cmp(b),
            _ => None,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Postgres(l) => write!(f, "lsn={l}"),
            Position::Binlog(b) => write!(f, "binlog={b}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_round_trips() {
        let l: Lsn = "16/B374D848".parse().unwrap();
        assert_eq!(l.0, 0x16_B374_D848);
        assert_eq!(l.to_string(), "16/B374D848");
        assert_eq!(Lsn(0).to_string(), "0/0");
        assert!("16B374D848".parse::<Lsn>().is_err());
        assert!("1FFFFFFFF/0".parse::<Lsn>().is_err());
    }

    #[test]
    fn mysql_gtid_set_merges_intervals() {
        let u = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        let mut g = GtidSet::parse_mysql(&format!("{u}:1-5:7")).unwrap();
        g.add_mysql(u, 6);
        assert_eq!(g.to_string(), format!("{u}:1-7"));
        g.add_mysql(u, 9);
        assert_eq!(g.to_string(), format!("{u}:1-7:9"));
        assert!(GtidSet::parse_mysql("abc:1").is_err());
        assert!(GtidSet::parse_mysql(&format!("{u}:5-3")).is_err());
    }

    #[test]
    fn mariadb_gtid_keeps_last_per_domain() {
        let mut g = GtidSet::parse_mariadb("0-1-100,1-2-7").unwrap();
        g.add_mariadb(0, 1, 101);
        assert_eq!(g.to_string(), "0-1-101,1-2-7");
        assert!(GtidSet::parse_mariadb("0-1").is_err());
    }

    #[test]
    fn binlog_positions_order_across_files() {
        let a = BinlogPosition { file: "mysql-bin.000009".into(), pos: 900, gtid_set: None };
        let b = BinlogPosition { file: "mysql-bin.000010".into(), pos: 4, gtid_set: None };
        assert!(Position::Binlog(a) < Position::Binlog(b));
        assert!(Position::Postgres(Lsn(1)).partial_cmp(&Position::Postgres(Lsn(2))).is_some());
    }
}
