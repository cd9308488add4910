//! The state store: bans (with reason, evidence and expiry), events and the runtime allow list, in SQLite
//! (WAL), so bans survive a restart and are restored into the kernel at start.

use std::fmt;
use std::path::Path;

use ipnet::IpNet;
use pbxguard_engine::{Decision, Detector, Evidence, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

/// Why the store failed. The store is local state: every variant is a system problem, not a peer's.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be opened or created at the path.
    OpenFailed {
        /// The path.
        path: String,
        /// SQLite's message.
        source: rusqlite::Error,
    },
    /// A statement failed.
    QueryFailed(rusqlite::Error),
    /// The writer thread could not be started.
    WriterUnavailable(std::io::Error),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::OpenFailed { path, source } => {
                write!(f, "cannot open the state store {path}: {source}")
            }
            StoreError::QueryFailed(e) => write!(f, "state store query failed: {e}"),
            StoreError::WriterUnavailable(e) => {
                write!(f, "cannot start the state store writer: {e}")
            }
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::QueryFailed(e)
    }
}

/// A ban as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBan {
    /// What is banned.
    pub target: IpNet,
    /// When it was decided.
    pub at: Timestamp,
    /// When it ends.
    pub until: Timestamp,
    /// The detector's name.
    pub detector: String,
    /// Offence number.
    pub offence: u32,
    /// Evidence as JSON.
    pub evidence: serde_json::Value,
}

/// The SQLite state store.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS bans (
    target    TEXT PRIMARY KEY,
    at        INTEGER NOT NULL,
    until     INTEGER NOT NULL,
    detector  TEXT NOT NULL,
    offence   INTEGER NOT NULL,
    evidence  TEXT NOT NULL,
    lifted_at INTEGER
);
CREATE INDEX IF NOT EXISTS bans_until ON bans(until);
CREATE TABLE IF NOT EXISTS events (
    id       INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    target   TEXT NOT NULL,
    detector TEXT,
    detail   TEXT
);
CREATE INDEX IF NOT EXISTS events_at ON events(at);
CREATE TABLE IF NOT EXISTS allow (
    net      TEXT PRIMARY KEY,
    added_at INTEGER NOT NULL,
    note     TEXT
);
CREATE TABLE IF NOT EXISTS log_positions (
    source   TEXT PRIMARY KEY,
    position TEXT NOT NULL,
    saved_at INTEGER NOT NULL
);
";

fn ms(t: Timestamp) -> i64 {
    i64::try_from(t.as_millis()).unwrap_or(i64::MAX)
}

fn ts(v: i64) -> Timestamp {
    Timestamp::from_millis(u64::try_from(v).unwrap_or(0))
}

/// Evidence as JSON, for the store and the API.
pub fn evidence_json(e: &Evidence) -> serde_json::Value {
    json!({
        "count": e.count,
        "threshold": e.threshold,
        "window_secs": e.window.as_secs(),
        "sample_user": e.sample_user,
        "sample_user_agent": e.sample_user_agent,
        "detail": e.detail,
    })
}

impl Store {
    /// Opens (creating if needed) the store at `path`.
    ///
    /// # Errors
    ///
    /// [`StoreError::OpenFailed`] when the file cannot be opened or the schema cannot be created.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let fail = |source| StoreError::OpenFailed {
            path: path.display().to_string(),
            source,
        };
        let conn = Connection::open(path).map_err(fail)?;
        // Several connections share the file (the writer thread's and the API's): a writer waits for
        // another's transaction instead of failing.
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(fail)?;
        conn.execute_batch(SCHEMA).map_err(fail)?;
        Ok(Self { conn })
    }

    /// An in-memory store (tests, dry runs).
    ///
    /// # Errors
    ///
    /// [`StoreError::OpenFailed`] if SQLite cannot create it.
    pub fn in_memory() -> Result<Self, StoreError> {
        let fail = |source| StoreError::OpenFailed {
            path: ":memory:".to_owned(),
            source,
        };
        let conn = Connection::open_in_memory().map_err(fail)?;
        conn.execute_batch(SCHEMA).map_err(fail)?;
        Ok(Self { conn })
    }

    /// Records decisions in one transaction: bans, lifted bans, and an event for each.
    ///
    /// # Errors
    ///
    /// [`StoreError::QueryFailed`]; nothing of the batch is stored then.
    pub fn record(&mut self, decisions: &[Decision]) -> Result<(), StoreError> {
        if decisions.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        {
            let mut ban = tx.prepare_cached(
                "INSERT INTO bans (target, at, until, detector, offence, evidence, lifted_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL)
                 ON CONFLICT(target) DO UPDATE SET at = ?2, until = ?3, detector = ?4, offence = ?5,
                 evidence = ?6, lifted_at = NULL",
            )?;
            let mut lift = tx.prepare_cached("UPDATE bans SET lifted_at = ?2 WHERE target = ?1")?;
            let mut event = tx.prepare_cached(
                "INSERT INTO events (at, kind, target, detector, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for d in decisions {
                match d {
                    Decision::Ban(b) => {
                        let evidence = evidence_json(&b.evidence).to_string();
                        let target = b.target.to_string();
                        ban.execute(params![
                            target,
                            ms(b.at),
                            ms(b.until),
                            b.detector.name(),
                            b.offence,
                            evidence
                        ])?;
                        event.execute(params![
                            ms(b.at),
                            "ban",
                            target,
                            b.detector.name(),
                            evidence
                        ])?;
                    }
                    Decision::Unban { target, at, reason } => {
                        let target = target.to_string();
                        lift.execute(params![target, ms(*at)])?;
                        event.execute(params![
                            ms(*at),
                            "unban",
                            target,
                            None::<String>,
                            format!("{reason:?}")
                        ])?;
                    }
                    Decision::Alert(a) => {
                        let detail = json!({ "kind": format!("{:?}", a.kind), "evidence": evidence_json(&a.evidence) });
                        event.execute(params![
                            ms(a.at),
                            "alert",
                            a.source.to_string(),
                            a.detector.name(),
                            detail.to_string()
                        ])?;
                    }
                    _ => {}
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Bans still in force at `now` (not lifted, not expired).
    ///
    /// # Errors
    ///
    /// [`StoreError::QueryFailed`].
    pub fn active_bans(&self, now: Timestamp) -> Result<Vec<StoredBan>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT target, at, until, detector, offence, evidence FROM bans
             WHERE lifted_at IS NULL AND until > ?1 ORDER BY until",
        )?;
        let rows = stmt.query_map(params![ms(now)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, u32>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (target, at, until, detector, offence, evidence) = row?;
            // A row this program did not write (or a damaged one) is skipped, not fatal.
            let Ok(target) = target.parse::<IpNet>() else {
                tracing::warn!("state store: skipping ban with unreadable target {target:?}");
                continue;
            };
            out.push(StoredBan {
                target,
                at: ts(at),
                until: ts(until),
                detector,
                offence,
                evidence: serde_json::from_str(&evidence).unwrap_or(serde_json::Value::Null),
            });
        }
        Ok(out)
    }

    /// What start-up needs to re-enforce the bans in force at `now`: target, decided at, until, offence.
    /// Lighter than [`Store::active_bans`]: no evidence is read.
    ///
    /// # Errors
    ///
    /// [`StoreError::QueryFailed`].
    pub fn restorable_bans(
        &self,
        now: Timestamp,
    ) -> Result<Vec<(IpNet, Timestamp, Timestamp, u32)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT target, at, until, offence FROM bans WHERE lifted_at IS NULL AND until > ?1",
        )?;
        let rows = stmt.query_map(params![ms(now)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, u32>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (target, at, until, offence) = row?;
            match target.parse::<IpNet>() {
                Ok(t) => out.push((t, ts(at), ts(until), offence)),
                Err(_) => {
                    tracing::warn!("state store: skipping ban with unreadable target {target:?}")
                }
            }
        }
        Ok(out)
    }

    /// Adds a network to the runtime allow list.
    ///
    /// # Errors
    ///
    /// [`StoreError::QueryFailed`].
    pub fn add_allow(&mut self, net: IpNet, now: Timestamp, note: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO allow (net, added_at, note) VALUES (?1, ?2, ?3)
             ON CONFLICT(net) DO UPDATE SET note = ?3",
            params![net.to_string(), ms(now), note],
        )?;
        Ok(())
    }

    /// Removes a network from the runtime allow list; returns whether it was there.
    ///
    /// # Errors
    ///
    /// [`StoreError::QueryFailed`].
    pub fn remove_allow(&mut self, net: IpNet) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM allow WHERE net = ?1", params![net.to_string()])?
            > 0)
    }

    /// The runtime allow list.
    ///
    /// # Errors
    ///
    /// [`StoreError::QueryFailed`].
    pub fn allow_list(&self) -> Result<Vec<IpNet>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT net FROM allow ORDER BY net")?;
        let nets = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .filter_map(|r| r.ok().and_then(|s| s.parse().ok()))
            .collect();
        Ok(nets)
    }

    /// The most recent events, newest first.
    ///
    /// # Errors
    ///
    /// [`StoreError::QueryFailed`].
    pub fn recent_events(&self, limit: u32) -> Result<Vec<serde_json::Value>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT at, kind, target, detector, detail FROM events ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit], |r| {
            Ok(json!({
                "at_ms": r.get::<_, i64>(0)?,
                "kind": r.get::<_, String>(1)?,
                "target": r.get::<_, String>(2)?,
                "detector": r.get::<_, Option<String>>(3)?,
                "detail": r.get::<_, Option<String>>(4)?,
            }))
        })?;
        Ok(rows.filter_map(Result::ok).collect())
    }

    /// Saves where log sources stopped reading (`source`, position as text), in one transaction.
    ///
    /// # Errors
    ///
    /// [`StoreError::QueryFailed`].
    pub fn save_log_positions(
        &mut self,
        now: Timestamp,
        positions: &[(String, String)],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO log_positions (source, position, saved_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(source) DO UPDATE SET position = ?2, saved_at = ?3",
            )?;
            for (source, position) in positions {
                stmt.execute(params![source, position, ms(now)])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Where a log source stopped reading, and when that was saved.
    ///
    /// # Errors
    ///
    /// [`StoreError::QueryFailed`].
    pub fn log_position(&self, source: &str) -> Result<Option<(String, Timestamp)>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT position, saved_at FROM log_positions WHERE source = ?1",
                params![source],
                |r| Ok((r.get::<_, String>(0)?, ts(r.get::<_, i64>(1)?))),
            )
            .optional()?)
    }

    /// Total bans ever recorded.
    ///
    /// # Errors
    ///
    /// [`StoreError::QueryFailed`].
    pub fn ban_count(&self) -> Result<u64, StoreError> {
        let n: Option<i64> = self
            .conn
            .query_row("SELECT COUNT(*) FROM bans", [], |r| r.get(0))
            .optional()?;
        Ok(u64::try_from(n.unwrap_or(0)).unwrap_or(0))
    }
}

/// Parses a detector name as stored.
pub fn detector(name: &str) -> Option<Detector> {
    Detector::from_name(name)
}

/// What the writer thread is asked to do.
enum Job {
    Record(Vec<Decision>),
    Positions(Timestamp, Vec<(String, String)>),
    Flush(std::sync::mpsc::SyncSender<()>),
}

/// Writes decisions and log positions into the store on a thread of its own, through its own connection,
/// so that the capture loop never waits for the disk (a commit, or a WAL checkpoint's fsync, can take
/// milliseconds). Jobs are written in the order they were given; [`StoreWriter::flush`] waits until
/// everything given so far is written, for readers that must see it. Dropping the writer writes what is
/// queued and joins the thread.
pub struct StoreWriter {
    jobs: Option<std::sync::mpsc::SyncSender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl fmt::Debug for StoreWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreWriter").finish_non_exhaustive()
    }
}

/// Jobs queued before [`StoreWriter::record`] waits for the writer (back-pressure, not loss).
const WRITER_QUEUE: usize = 4096;

impl StoreWriter {
    /// Starts the writer on `store` (its own connection to the file).
    ///
    /// # Errors
    ///
    /// [`StoreError::WriterUnavailable`] when the thread cannot be started.
    pub fn start(mut store: Store) -> Result<Self, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(WRITER_QUEUE);
        let thread = std::thread::Builder::new()
            .name("pbxguard-store".into())
            .spawn(move || {
                for job in rx {
                    let result = match job {
                        Job::Record(decisions) => store.record(&decisions),
                        Job::Positions(now, positions) => store.save_log_positions(now, &positions),
                        Job::Flush(done) => {
                            let _ = done.send(());
                            Ok(())
                        }
                    };
                    if let Err(e) = result {
                        tracing::error!("{e}");
                    }
                }
            })
            .map_err(StoreError::WriterUnavailable)?;
        Ok(Self {
            jobs: Some(tx),
            thread: Some(thread),
        })
    }

    fn send(&self, job: Job) {
        if let Some(tx) = &self.jobs
            && tx.send(job).is_err()
        {
            tracing::error!("the state store writer has stopped; a write was lost");
        }
    }

    /// Queues decisions to be recorded.
    pub fn record(&self, decisions: Vec<Decision>) {
        if !decisions.is_empty() {
            self.send(Job::Record(decisions));
        }
    }

    /// Queues log positions to be saved.
    pub fn save_log_positions(&self, now: Timestamp, positions: Vec<(String, String)>) {
        if !positions.is_empty() {
            self.send(Job::Positions(now, positions));
        }
    }

    /// Waits until everything queued so far is written (or the writer has stopped).
    pub fn flush(&self) {
        if let Some(tx) = &self.jobs {
            flush_through(tx);
        }
    }

    /// A handle that waits for the writer like [`StoreWriter::flush`] without borrowing it, so that a
    /// caller can wait without holding the lock that guards the writer's owner.
    pub fn flusher(&self) -> Flusher {
        Flusher(self.jobs.clone())
    }
}

/// See [`StoreWriter::flusher`].
#[derive(Clone)]
pub struct Flusher(Option<std::sync::mpsc::SyncSender<Job>>);

impl fmt::Debug for Flusher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flusher").finish_non_exhaustive()
    }
}

impl Flusher {
    /// Waits until everything queued so far is written (or the writer has stopped).
    pub fn flush(&self) {
        if let Some(tx) = &self.0 {
            flush_through(tx);
        }
    }
}

fn flush_through(tx: &std::sync::mpsc::SyncSender<Job>) {
    let (done, wait) = std::sync::mpsc::sync_channel(1);
    if tx.send(Job::Flush(done)).is_ok() {
        let _ = wait.recv();
    }
}

impl Drop for StoreWriter {
    fn drop(&mut self) {
        // Closing the queue ends the thread once it has written everything in it.
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pbxguard_engine::{Ban, UnbanReason};
    use std::time::Duration;

    fn ban(target: &str, at: u64, secs: u64) -> Decision {
        Decision::Ban(Ban {
            target: target.parse().unwrap(),
            at: Timestamp::from_secs(at),
            until: Timestamp::from_secs(at + secs),
            detector: Detector::Scanner,
            evidence: Evidence {
                count: 1,
                threshold: 1,
                window: Duration::ZERO,
                sample_user: None,
                sample_user_agent: Some("friendly-scanner".into()),
                detail: None,
            },
            offence: 1,
        })
    }

    #[test]
    fn bans_survive_reopening_and_expire_and_lift() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let mut s = Store::open(&path).unwrap();
            s.record(&[
                ban("203.0.113.1/32", 1000, 3600),
                ban("203.0.113.2/32", 1000, 10),
                ban("2001:db8::/64", 1000, 3600),
            ])
            .unwrap();
            s.record(&[Decision::Unban {
                target: "203.0.113.1/32".parse().unwrap(),
                at: Timestamp::from_secs(1001),
                reason: UnbanReason::Manual,
            }])
            .unwrap();
        }
        let s = Store::open(&path).unwrap();
        let active = s.active_bans(Timestamp::from_secs(1100)).unwrap();
        let targets: Vec<String> = active.iter().map(|b| b.target.to_string()).collect();
        assert_eq!(targets, vec!["2001:db8::/64"]);
        assert_eq!(active[0].evidence["sample_user_agent"], "friendly-scanner");
        assert_eq!(s.recent_events(10).unwrap().len(), 4);
    }

    #[test]
    fn the_writer_thread_writes_in_order_and_flush_makes_it_visible() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let reader = Store::open(&path).unwrap();
        let writer = StoreWriter::start(Store::open(&path).unwrap()).unwrap();
        writer.record(vec![ban("203.0.113.1/32", 1000, 3600)]);
        writer.record(vec![Decision::Unban {
            target: "203.0.113.1/32".parse().unwrap(),
            at: Timestamp::from_secs(1001),
            reason: UnbanReason::Manual,
        }]);
        writer.record(vec![ban("203.0.113.2/32", 1002, 3600)]);
        writer.save_log_positions(
            Timestamp::from_secs(1003),
            vec![("/l".into(), "1:2:3".into())],
        );
        writer.flush();
        let active = reader.active_bans(Timestamp::from_secs(1100)).unwrap();
        let targets: Vec<String> = active.iter().map(|b| b.target.to_string()).collect();
        assert_eq!(targets, ["203.0.113.2/32"]);
        assert!(reader.log_position("/l").unwrap().is_some());
        // Dropping the writer writes what is still queued.
        writer.record(vec![ban("203.0.113.3/32", 1004, 3600)]);
        drop(writer);
        assert_eq!(
            reader
                .active_bans(Timestamp::from_secs(1100))
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn log_positions_survive_reopening_and_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let mut s = Store::open(&path).unwrap();
            let t = Timestamp::from_secs(1000);
            s.save_log_positions(t, &[("/var/log/a".into(), "1:2:3".into())])
                .unwrap();
            s.save_log_positions(
                Timestamp::from_secs(1001),
                &[
                    ("/var/log/a".into(), "1:2:99".into()),
                    ("/var/log/b".into(), "4:5:6".into()),
                ],
            )
            .unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(
            s.log_position("/var/log/a").unwrap(),
            Some(("1:2:99".to_owned(), Timestamp::from_secs(1001)))
        );
        assert_eq!(s.log_position("/var/log/c").unwrap(), None);
    }

    #[test]
    fn allow_list_round_trips() {
        let mut s = Store::in_memory().unwrap();
        let net: IpNet = "192.0.2.0/24".parse().unwrap();
        s.add_allow(net, Timestamp::from_secs(1), "office").unwrap();
        assert_eq!(s.allow_list().unwrap(), vec![net]);
        assert!(s.remove_allow(net).unwrap());
        assert!(s.allow_list().unwrap().is_empty());
    }
}
