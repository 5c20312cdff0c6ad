//! The embedded store: jobs in a SQLite file (`[jobs] store`, default
//! `PRODUCT/var/jobs.sqlite3`) for a product on one host, with no server to install.
//! WAL journal (readers never wait for the writer), a busy timeout for the server and the
//! worker writing at once, and claims in `BEGIN IMMEDIATE` transactions (the write lock is
//! taken first, so two claims never pick the same row). The SQL is `jobs.rs`'s.

use super::jobs::{self, Claimed, Enqueued, Finish, JobStore, NewJob, QueueDepth, Status};
use super::{Migration, SQLITE_MIGRATIONS};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};

/// One connection to the file.
pub struct SqliteStore {
    connection: Connection,
    path: PathBuf,
    product: String,
    worker: String,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("product", &self.product)
            .finish_non_exhaustive()
    }
}

/// `$n` parameters as SQLite's `?n`.
fn sql(text: &str) -> String {
    text.replace('$', "?")
}

/// Opens (creating the file and its folder, mode 0700) and migrates the store at `path`;
/// the error is one line naming the file.
pub fn open(path: &Path, product: &str, worker: &str) -> Result<SqliteStore, String> {
    let failed = |error: &dyn std::fmt::Display| format!("job store '{}': {error}", path.display());
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        if !dir.exists() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|error| failed(&error))?;
        }
    }
    let connection = Connection::open(path).map_err(|error| failed(&error))?;
    connection
        .busy_timeout(std::time::Duration::from_secs(10))
        .map_err(|error| failed(&error))?;
    connection
        .pragma_update(None, "journal_mode", "WAL")
        .map_err(|error| failed(&error))?;
    connection
        .pragma_update(None, "synchronous", "NORMAL")
        .map_err(|error| failed(&error))?;
    let mut store = SqliteStore {
        connection,
        path: path.to_path_buf(),
        product: product.to_owned(),
        worker: worker.to_owned(),
    };
    migrate(&mut store.connection, SQLITE_MIGRATIONS).map_err(|error| failed(&error))?;
    Ok(store)
}

fn migrate(connection: &mut Connection, migrations: &[Migration]) -> Result<(), String> {
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|error| error.to_string())?;
    transaction
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS apiphant_migrations (
                 version    INTEGER PRIMARY KEY,
                 name       TEXT    NOT NULL,
                 applied_at TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP
             )",
        )
        .map_err(|error| error.to_string())?;
    let latest: i64 = transaction
        .query_row(
            "SELECT coalesce(max(version), 0) FROM apiphant_migrations",
            [],
            |row| row.get(0),
        )
        .map_err(|error| error.to_string())?;
    let known = migrations.last().map_or(0, |m| i64::from(m.version));
    if latest > known {
        return Err(format!(
            "at schema version {latest}, newer than this apiphant's {known} (install the newer apiphant)"
        ));
    }
    for migration in migrations.iter().filter(|m| i64::from(m.version) > latest) {
        transaction
            .execute_batch(migration.sql)
            .map_err(|error| error.to_string())?;
        transaction
            .execute(
                "INSERT INTO apiphant_migrations (version, name) VALUES (?1, ?2)",
                params![migration.version, migration.name],
            )
            .map_err(|error| error.to_string())?;
        log::info!("Job store: schema migration {} applied.", migration.version);
    }
    transaction.commit().map_err(|error| error.to_string())
}

impl SqliteStore {
    fn failed(&self, error: &rusqlite::Error) -> String {
        format!("job store '{}': {error}", self.path.display())
    }
}

/// The ids of the (at most `limit`) oldest claimable jobs of `queue`.
fn pick(
    connection: &Connection,
    product: &str,
    queue: &str,
    now: i64,
    limit: usize,
) -> rusqlite::Result<Vec<String>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut statement = connection.prepare_cached(&sql(jobs::CLAIM_PICK))?;
    let ids = statement.query_map(params![product, queue, now, limit], |row| row.get(0))?;
    ids.collect()
}

fn status_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Status> {
    Ok(Status {
        state: row.get(0)?,
        result: row.get(1)?,
        error: row.get(2)?,
        attempts: row.get(3)?,
        max_attempts: row.get(4)?,
        queue: row.get(5)?,
        created_at: row.get(6)?,
        run_at: row.get(7)?,
        started_at: row.get(8)?,
        finished_at: row.get(9)?,
    })
}

impl JobStore for SqliteStore {
    fn enqueue(&mut self, job: &NewJob, now: i64) -> Result<Enqueued, String> {
        let id = jobs::new_id()?;
        let inserted = self
            .connection
            .execute(
                &sql(jobs::ENQUEUE),
                params![
                    id,
                    self.product,
                    job.route,
                    job.action,
                    job.queue,
                    job.body,
                    job.request_id,
                    job.identity,
                    job.key,
                    job.max_attempts,
                    now,
                    job.first_run(now)
                ],
            )
            .map_err(|error| self.failed(&error))?;
        if inserted == 1 {
            return Ok(Enqueued::New(id));
        }
        let found: Option<(String, Vec<u8>)> = self
            .connection
            .query_row(
                &sql(jobs::BY_KEY),
                params![self.product, job.identity, job.route, job.action, job.key],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(|error| self.failed(&error))?;
        match found {
            Some((id, body)) if body == job.body => Ok(Enqueued::Existing(id)),
            Some(_) => Ok(Enqueued::Conflict),
            None => Err(format!(
                "job store '{}': the job was neither stored nor found",
                self.path.display()
            )),
        }
    }

    fn status(&mut self, id: &str, identity: &str) -> Result<Option<Status>, String> {
        self.connection
            .query_row(
                &sql(jobs::STATUS),
                params![id, self.product, identity],
                status_row,
            )
            .optional()
            .map_err(|error| self.failed(&error))
    }

    fn cancel(&mut self, id: &str, identity: &str, now: i64) -> Result<Option<Status>, String> {
        self.connection
            .execute(&sql(jobs::CANCEL), params![id, self.product, identity, now])
            .map_err(|error| self.failed(&error))?;
        self.status(id, identity)
    }

    fn claim(
        &mut self,
        queue: &str,
        now: i64,
        until: i64,
        limit: usize,
    ) -> Result<Vec<Claimed>, String> {
        let (product, worker) = (self.product.clone(), self.worker.clone());
        let path = self.path.display().to_string();
        let failed = |error: rusqlite::Error| format!("job store '{path}': {error}");
        // A read first (WAL: it waits for no writer): an idle poll takes no write lock.
        if pick(&self.connection, &product, queue, now, 1)
            .map_err(failed)?
            .is_empty()
        {
            return Ok(Vec::new());
        }
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed)?;
        let mut claimed = Vec::new();
        for picked in pick(&transaction, &product, queue, now, limit).map_err(failed)? {
            let job = transaction
                .query_row(
                    &sql(jobs::CLAIM_TAKE),
                    params![picked, worker, until, now],
                    |row| {
                        Ok(Claimed {
                            id: row.get(0)?,
                            route: row.get(1)?,
                            action: row.get(2)?,
                            body: row.get(3)?,
                            request_id: row.get(4)?,
                            identity: row.get(5)?,
                            attempts: row.get(6)?,
                            max_attempts: row.get(7)?,
                        })
                    },
                )
                .map_err(failed)?;
            claimed.push(job);
        }
        transaction.commit().map_err(failed)?;
        Ok(claimed)
    }

    fn renew(&mut self, id: &str, until: i64) -> Result<bool, String> {
        self.connection
            .execute(&sql(jobs::RENEW), params![id, self.worker, until])
            .map(|rows| rows == 1)
            .map_err(|error| self.failed(&error))
    }

    fn finish(&mut self, id: &str, finish: &Finish, now: i64) -> Result<bool, String> {
        let worker = &self.worker;
        let result = match finish {
            Finish::Succeeded(result) => self
                .connection
                .execute(&sql(jobs::SUCCEED), params![id, worker, result, now]),
            Finish::Failed(error) => self
                .connection
                .execute(&sql(jobs::FAIL), params![id, worker, error, now]),
            Finish::Retry { error, at } => self
                .connection
                .execute(&sql(jobs::RETRY), params![id, worker, error, at]),
        };
        result
            .map(|rows| rows == 1)
            .map_err(|error| self.failed(&error))
    }

    fn list(
        &mut self,
        identity: &str,
        state: &str,
        limit: i64,
    ) -> Result<Vec<(String, Status)>, String> {
        let failed = |error: rusqlite::Error| self.failed(&error);
        let mut statement = self
            .connection
            .prepare_cached(&sql(jobs::LIST))
            .map_err(failed)?;
        let rows = statement
            .query_map(params![self.product, identity, state, limit], |row| {
                Ok((row.get(10)?, status_row(row)?))
            })
            .map_err(failed)?;
        rows.collect::<Result<_, _>>().map_err(failed)
    }

    fn depth(&mut self, now: i64) -> Result<Vec<QueueDepth>, String> {
        let failed = |error: rusqlite::Error| self.failed(&error);
        let mut statement = self
            .connection
            .prepare_cached(&sql(jobs::DEPTH))
            .map_err(failed)?;
        let rows = statement
            .query_map(params![self.product, now], |row| {
                Ok(QueueDepth {
                    queue: row.get(0)?,
                    queued: row.get(1)?,
                    oldest_due: row.get(2)?,
                })
            })
            .map_err(failed)?;
        rows.collect::<Result<_, _>>().map_err(failed)
    }

    fn purge(&mut self, before: i64) -> Result<u64, String> {
        self.connection
            .execute(&sql(jobs::PURGE), params![self.product, before])
            .map(|rows| rows as u64)
            .map_err(|error| self.failed(&error))
    }

    fn describe(&self) -> String {
        format!("the embedded store '{}'", self.path.display())
    }
}
