//! The history file: its schema, opening it with every check, and the
//! reads and writes of the commands.
//!
//! Opening never repairs or replaces anything: a file that SQLite does not
//! recognise, one that holds someone else's tables or application id, and
//! one whose `user_version` is newer than [`SCHEMA_VERSION`] all fail with a
//! [`HistoryError`] naming the file, before anything is written. A new (or
//! empty) file gets the schema and `user_version` in one transaction, so a
//! concurrent first run either sees no schema or all of it.
//!
//! Every entry is written in one `BEGIN IMMEDIATE` transaction (the row of
//! `runs` and its `records` row together), in SQLite's default rollback
//! journal mode: a process killed mid-write leaves a hot journal that the
//! next connection rolls back, so the file holds either the whole entry or
//! none of it, and every earlier entry stays intact.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};
use thiserror::Error;

/// `PRAGMA user_version` of the schema below; bumped on any change of it.
pub const SCHEMA_VERSION: i64 = 2;

/// `PRAGMA application_id`: "ILDH" (inferload history), so a SQLite file
/// of another program is recognised as not ours.
const APPLICATION_ID: i64 = 0x494C_4448;

/// How long a write waits for another process's transaction to end.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const SCHEMA: &str = "
CREATE TABLE runs (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    kind               TEXT    NOT NULL CHECK (kind IN ('run', 'sweep')),
    started_at         TEXT    NOT NULL,
    recorded_at        TEXT    NOT NULL,
    target_url         TEXT    NOT NULL,
    model              TEXT    NOT NULL,
    load               TEXT    NOT NULL,
    interrupted        INTEGER NOT NULL,
    requests           INTEGER,
    success_rate       REAL,
    request_throughput REAL,
    output_throughput  REAL,
    ttft_p90_ms        REAL,
    e2e_p99_ms         REAL,
    document           TEXT    NOT NULL,
    shape              TEXT    NOT NULL DEFAULT ''
);
CREATE TABLE records (
    run_id INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    stored INTEGER NOT NULL,
    total  INTEGER NOT NULL,
    jsonl  BLOB    NOT NULL
);
";

/// What can go wrong with the history file. Each prints as one line
/// naming the file.
#[derive(Debug, Error)]
pub enum HistoryError {
    #[error("history database {}: {reason}; move it away or choose another file with --db", path.display())]
    NotOurs { path: PathBuf, reason: String },
    #[error(
        "history database {} has schema version {found}, newer than this inferload reads ({SCHEMA_VERSION}); \
         upgrade inferload or choose another file with --db",
        path.display()
    )]
    Newer { path: PathBuf, found: i64 },
    #[error("history database {}: {err}", path.display())]
    Sqlite { path: PathBuf, err: rusqlite::Error },
    #[error("cannot create the directory of the history database {}: {err}", path.display())]
    Dir { path: PathBuf, err: std::io::Error },
    #[error("no run {id} in {}", path.display())]
    NoSuchRun { path: PathBuf, id: i64 },
}

/// The headline figures kept as columns (all optional: an interrupted run
/// or a sweep without a stable level may have none).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Headline {
    pub requests: Option<i64>,
    pub success_rate: Option<f64>,
    pub request_throughput: Option<f64>,
    pub output_throughput: Option<f64>,
    pub ttft_p90_ms: Option<f64>,
    pub e2e_p99_ms: Option<f64>,
}

/// The kept records of a run, as one JSONL blob.
#[derive(Debug, Clone)]
pub struct RecordsBlob {
    /// Records in the blob.
    pub stored: usize,
    /// Records the run kept (more than `stored` when the blob was bounded).
    pub total: usize,
    pub jsonl: Vec<u8>,
}

/// Version 1 to 2: the `shape` column, filled from each stored document.
const MIGRATE_1_TO_2: &str = "ALTER TABLE runs ADD COLUMN shape TEXT NOT NULL DEFAULT ''";

/// An entry to append.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub kind: &'static str,
    pub started_at: String,
    pub target_url: String,
    pub model: String,
    pub load: String,
    pub interrupted: bool,
    pub headline: Headline,
    pub document: String,
    /// What the load looked like beyond its schedule (`stages`,
    /// `multi-turn`, `trace`, joined by `+`; empty for a plain load).
    pub shape: String,
    pub records: Option<RecordsBlob>,
}

/// One row of `runs` (without its document).
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: i64,
    pub kind: String,
    pub started_at: String,
    pub target_url: String,
    pub model: String,
    pub load: String,
    pub interrupted: bool,
    pub headline: Headline,
    /// As [`NewEntry::shape`].
    pub shape: String,
    /// `(stored, total)` when the run's records are in the history.
    pub records: Option<(i64, i64)>,
}

/// An open, checked history database.
pub struct Db {
    conn: Connection,
    path: PathBuf,
    /// False for a file without our schema yet (an empty file read).
    has_schema: bool,
    /// The file's `user_version` (a version-1 file read without migrating
    /// has no `shape` column: it is read from the documents).
    version: i64,
}

impl Db {
    /// Opens the history to append to it, creating the file, its directory
    /// and the schema when missing.
    pub fn open_for_writing(path: &Path) -> Result<Self, HistoryError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|err| HistoryError::Dir {
                path: path.to_path_buf(),
                err,
            })?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| sql_error(path, e))?;
        let mut db = Self {
            conn,
            path: path.to_path_buf(),
            has_schema: false,
            version: 0,
        };
        db.prepare(true)?;
        Ok(db)
    }

    /// Opens an existing history to read it; `None` when the file does not
    /// exist. Nothing is written (SQLite may roll back a hot journal a
    /// killed writer left, which restores the last committed state).
    pub fn open_for_reading(path: &Path) -> Result<Option<Self>, HistoryError> {
        if !path.exists() {
            return Ok(None);
        }
        let rw = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let ro = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        // Read-write (without create) so a hot journal can be rolled back;
        // read-only when the file is not writable by us.
        let conn = Connection::open_with_flags(path, rw)
            .or_else(|_| Connection::open_with_flags(path, ro))
            .map_err(|e| sql_error(path, e))?;
        let mut db = Self {
            conn,
            path: path.to_path_buf(),
            has_schema: false,
            version: 0,
        };
        db.prepare(false)?;
        Ok(Some(db))
    }

    /// Checks the file is ours and readable by this version; with `create`,
    /// installs the schema in a fresh file, all inside one immediate
    /// transaction so two first runs do not race.
    fn prepare(&mut self, create: bool) -> Result<(), HistoryError> {
        let path = self.path.clone();
        let e = |err| sql_error(&path, err);
        self.conn.busy_timeout(BUSY_TIMEOUT).map_err(e)?;
        if !create {
            let state = check(&self.conn, &path)?;
            self.has_schema = matches!(state, State::Ours(_));
            self.version = match state {
                State::Ours(v) => v,
                State::Fresh => SCHEMA_VERSION,
            };
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e)?;
        match check(&tx, &path)? {
            State::Fresh => {
                tx.execute_batch(SCHEMA).map_err(e)?;
                tx.execute_batch(&format!(
                    "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
                ))
                .map_err(e)?;
                tx.commit().map_err(e)?;
            }
            State::Ours(1) => {
                // Every row kept; its shape read from its own document.
                tx.execute_batch(MIGRATE_1_TO_2).map_err(e)?;
                let rows: Vec<(i64, String, String)> = {
                    let mut stmt = tx.prepare("SELECT id, kind, document FROM runs").map_err(e)?;
                    let rows = stmt
                        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                        .map_err(e)?;
                    rows.collect::<Result<_, _>>().map_err(e)?
                };
                for (id, kind, document) in rows {
                    tx.execute(
                        "UPDATE runs SET shape = ?1 WHERE id = ?2",
                        params![super::stored_shape(&kind, &document), id],
                    )
                    .map_err(e)?;
                }
                tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION};"))
                    .map_err(e)?;
                tx.commit().map_err(e)?;
            }
            State::Ours(_) => {}
        }
        self.has_schema = true;
        self.version = SCHEMA_VERSION;
        Ok(())
    }

    /// Appends an entry (its run row and records together); returns its id.
    pub fn insert(&mut self, entry: &NewEntry) -> Result<i64, HistoryError> {
        let path = self.path.clone();
        let e = |err| sql_error(&path, err);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e)?;
        let h = &entry.headline;
        tx.execute(
            "INSERT INTO runs (kind, started_at, recorded_at, target_url, model, load, interrupted,
                requests, success_rate, request_throughput, output_throughput, ttft_p90_ms, e2e_p99_ms, document,
                shape)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            params![
                entry.kind,
                entry.started_at,
                chrono::Local::now().to_rfc3339(),
                entry.target_url,
                entry.model,
                entry.load,
                entry.interrupted,
                h.requests,
                finite(h.success_rate),
                finite(h.request_throughput),
                finite(h.output_throughput),
                finite(h.ttft_p90_ms),
                finite(h.e2e_p99_ms),
                entry.document,
                entry.shape,
            ],
        )
        .map_err(e)?;
        let id = tx.last_insert_rowid();
        if let Some(r) = &entry.records {
            tx.execute(
                "INSERT INTO records (run_id, stored, total, jsonl) VALUES (?1, ?2, ?3, ?4)",
                params![id, r.stored as i64, r.total as i64, r.jsonl],
            )
            .map_err(e)?;
        }
        tx.commit().map_err(e)?;
        Ok(id)
    }

    /// The newest `limit` entries, newest first.
    pub fn list(&self, limit: usize) -> Result<Vec<Entry>, HistoryError> {
        if !self.has_schema {
            return Ok(Vec::new());
        }
        let e = |err| sql_error(&self.path, err);
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {ENTRY_COLUMNS}, {} {FROM_RUNS} ORDER BY runs.id DESC LIMIT ?1",
                self.shape_column()
            ))
            .map_err(e)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map([limit], |row| self.entry_with_shape(row)).map_err(e)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(e)
    }

    /// The shape column, or the document to read it from in a version-1
    /// file (read without migrating).
    fn shape_column(&self) -> &'static str {
        if self.version >= 2 {
            "runs.shape"
        } else {
            "runs.document"
        }
    }

    fn entry_with_shape(&self, row: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
        let mut entry = entry_of_row(row)?;
        let value: String = row.get(15)?;
        entry.shape = if self.version >= 2 {
            value
        } else {
            super::stored_shape(&entry.kind, &value)
        };
        Ok(entry)
    }

    /// One entry and its JSON document.
    pub fn get(&self, id: i64) -> Result<(Entry, String), HistoryError> {
        let missing = || HistoryError::NoSuchRun {
            path: self.path.clone(),
            id,
        };
        if !self.has_schema {
            return Err(missing());
        }
        let e = |err| sql_error(&self.path, err);
        let found = self
            .conn
            .query_row(
                &format!(
                    "SELECT {ENTRY_COLUMNS}, {}, runs.document {FROM_RUNS} WHERE runs.id = ?1",
                    self.shape_column()
                ),
                [id],
                |row| Ok((self.entry_with_shape(row)?, row.get::<_, String>(16)?)),
            )
            .optional()
            .map_err(e)?;
        found.ok_or_else(missing)
    }

    /// The records blob of a run, if it kept them (read back by tests; no
    /// command prints it yet).
    #[cfg(test)]
    pub fn records(&self, id: i64) -> Result<Option<Vec<u8>>, HistoryError> {
        if !self.has_schema {
            return Ok(None);
        }
        self.conn
            .query_row("SELECT jsonl FROM records WHERE run_id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(|err| sql_error(&self.path, err))
    }
}

/// The columns [`entry_of_row`] reads, in its order.
const ENTRY_COLUMNS: &str = "runs.id, kind, started_at, target_url, model, load, interrupted,
        requests, success_rate, request_throughput, output_throughput, ttft_p90_ms, e2e_p99_ms,
        records.stored, records.total";
const FROM_RUNS: &str = "FROM runs LEFT JOIN records ON records.run_id = runs.id";

fn entry_of_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    let stored: Option<i64> = row.get(13)?;
    let total: Option<i64> = row.get(14)?;
    Ok(Entry {
        id: row.get(0)?,
        kind: row.get(1)?,
        started_at: row.get(2)?,
        target_url: row.get(3)?,
        model: row.get(4)?,
        load: row.get(5)?,
        interrupted: row.get(6)?,
        headline: Headline {
            requests: row.get(7)?,
            success_rate: row.get(8)?,
            request_throughput: row.get(9)?,
            output_throughput: row.get(10)?,
            ttft_p90_ms: row.get(11)?,
            e2e_p99_ms: row.get(12)?,
        },
        shape: String::new(),
        records: stored.zip(total),
    })
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    /// No tables and no version: a new or empty file.
    Fresh,
    /// Our schema, at a version this build reads (its `user_version`).
    Ours(i64),
}

/// What the file is; an error for anything but a fresh file or ours.
fn check(conn: &Connection, path: &Path) -> Result<State, HistoryError> {
    let e = |err| sql_error(path, err);
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(e)?;
    let app_id: i64 = conn.query_row("PRAGMA application_id", [], |r| r.get(0)).map_err(e)?;
    if app_id != 0 && app_id != APPLICATION_ID {
        return Err(not_ours(
            path,
            format!("application id {app_id:#x} is another program's"),
        ));
    }
    if version > SCHEMA_VERSION {
        return Err(HistoryError::Newer {
            path: path.to_path_buf(),
            found: version,
        });
    }
    if version == 0 {
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(e)?;
        if tables > 0 {
            return Err(not_ours(path, "it holds another program's tables".into()));
        }
        return Ok(State::Fresh);
    }
    if app_id != APPLICATION_ID {
        return Err(not_ours(path, "it has no inferload application id".into()));
    }
    Ok(State::Ours(version))
}

/// SQLite stores NaN as NULL anyway; infinities are no headline either.
fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

fn not_ours(path: &Path, reason: String) -> HistoryError {
    HistoryError::NotOurs {
        path: path.to_path_buf(),
        reason,
    }
}

/// A file SQLite cannot read as a database becomes [`HistoryError::NotOurs`];
/// anything else keeps SQLite's message.
fn sql_error(path: &Path, err: rusqlite::Error) -> HistoryError {
    match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => {
            not_ours(path, "not a SQLite database (corrupt or another kind of file)".into())
        }
        Some(ErrorCode::DatabaseCorrupt) => not_ours(path, "the database is corrupt".into()),
        _ => HistoryError::Sqlite {
            path: path.to_path_buf(),
            err,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: &'static str) -> NewEntry {
        NewEntry {
            kind,
            started_at: "2025-01-02T03:04:05+00:00".into(),
            target_url: "http://127.0.0.1:9".into(),
            model: "m".into(),
            load: "concurrency 2".into(),
            interrupted: false,
            headline: Headline {
                requests: Some(10),
                request_throughput: Some(f64::INFINITY),
                ..Default::default()
            },
            document: "{}".into(),
            shape: "stages".into(),
            records: Some(RecordsBlob {
                stored: 1,
                total: 2,
                jsonl: b"{}\n".to_vec(),
            }),
        }
    }

    #[test]
    fn entries_round_trip_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/history.db");
        let mut db = Db::open_for_writing(&path).unwrap();
        assert_eq!(db.insert(&entry("run")).unwrap(), 1);
        assert_eq!(db.insert(&entry("sweep")).unwrap(), 2);
        drop(db);
        let db = Db::open_for_reading(&path).unwrap().unwrap();
        let list = db.list(10).unwrap();
        assert_eq!(list.iter().map(|e| e.id).collect::<Vec<_>>(), [2, 1]);
        assert_eq!(list[1].headline.requests, Some(10));
        assert_eq!(list[1].headline.request_throughput, None);
        assert_eq!(list[1].records, Some((1, 2)));
        assert_eq!(list[1].shape, "stages");
        assert_eq!(db.list(1).unwrap().len(), 1);
        let (e, doc) = db.get(1).unwrap();
        assert_eq!((e.kind.as_str(), doc.as_str()), ("run", "{}"));
        assert_eq!(db.records(1).unwrap().unwrap(), b"{}\n");
        assert!(matches!(db.get(3), Err(HistoryError::NoSuchRun { id: 3, .. })));
    }

    /// A database made by schema version 1 (no `shape` column): read as it
    /// is, shapes from the documents; migrated by the next write with every
    /// row kept.
    #[test]
    fn a_version_1_database_opens_and_migrates_keeping_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        let v1 = SCHEMA.replace(",\n    shape              TEXT    NOT NULL DEFAULT ''", "");
        assert_ne!(v1, SCHEMA);
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&v1).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = 1;"
        ))
        .unwrap();
        // A multi-turn run's document (sessions) and a plain one.
        let mut doc = crate::doc::RunDocument::new(Default::default());
        doc.sessions = Some(Default::default());
        let multi = serde_json::to_string(&doc).unwrap();
        let plain = serde_json::to_string(&crate::doc::RunDocument::new(Default::default())).unwrap();
        for document in [&plain, &multi] {
            conn.execute(
                "INSERT INTO runs (kind, started_at, recorded_at, target_url, model, load, interrupted, document)
                 VALUES ('run', '2025-01-01T00:00:00+00:00', '2025-01-01T00:00:01+00:00', 'http://127.0.0.1:9', 'm',
                         'concurrency 1', 0, ?1)",
                [document],
            )
            .unwrap();
        }
        drop(conn);
        let shapes = |db: &Db| {
            db.list(10)
                .unwrap()
                .into_iter()
                .map(|e| (e.id, e.shape))
                .collect::<Vec<_>>()
        };
        let want = vec![(2, "multi-turn".to_string()), (1, String::new())];
        let before = std::fs::read(&path).unwrap();
        let db = Db::open_for_reading(&path).unwrap().unwrap();
        assert_eq!(shapes(&db), want);
        assert_eq!(db.get(2).unwrap().0.shape, "multi-turn");
        drop(db);
        assert_eq!(std::fs::read(&path).unwrap(), before, "reading writes nothing");
        let mut db = Db::open_for_writing(&path).unwrap();
        assert_eq!(db.insert(&entry("run")).unwrap(), 3);
        drop(db);
        let conn = Connection::open(&path).unwrap();
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let stored: Vec<String> = conn
            .prepare("SELECT shape FROM runs ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(stored, ["", "multi-turn", "stages"], "rows kept, shapes filled");
        let db = Db::open_for_reading(&path).unwrap().unwrap();
        assert_eq!(db.get(2).unwrap().1, multi, "documents kept");
    }

    #[test]
    fn a_missing_file_reads_as_none_and_an_empty_one_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        assert!(Db::open_for_reading(&path).unwrap().is_none());
        assert!(!path.exists(), "reading creates nothing");
        std::fs::write(&path, b"").unwrap();
        let db = Db::open_for_reading(&path).unwrap().unwrap();
        assert!(db.list(5).unwrap().is_empty());
        assert!(matches!(db.get(1), Err(HistoryError::NoSuchRun { .. })));
    }

    #[test]
    fn foreign_corrupt_and_newer_files_are_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.db");
        std::fs::write(&garbage, vec![b'x'; 4096]).unwrap();
        let err = Db::open_for_writing(&garbage).err().unwrap().to_string();
        assert!(
            err.contains("garbage.db") && err.contains("not a SQLite database"),
            "{err}"
        );
        assert_eq!(std::fs::read(&garbage).unwrap(), vec![b'x'; 4096]);

        let foreign = dir.path().join("foreign.db");
        Connection::open(&foreign)
            .unwrap()
            .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        let err = Db::open_for_writing(&foreign).err().unwrap().to_string();
        assert!(err.contains("another program's tables"), "{err}");

        let newer = dir.path().join("newer.db");
        drop(Db::open_for_writing(&newer).unwrap());
        Connection::open(&newer)
            .unwrap()
            .execute_batch("PRAGMA user_version = 99")
            .unwrap();
        let before = std::fs::read(&newer).unwrap();
        for err in [
            Db::open_for_writing(&newer).err().unwrap(),
            Db::open_for_reading(&newer).err().unwrap(),
        ] {
            assert!(matches!(err, HistoryError::Newer { found: 99, .. }), "{err}");
            assert!(err.to_string().contains("newer.db"));
        }
        assert_eq!(std::fs::read(&newer).unwrap(), before);
    }
}
