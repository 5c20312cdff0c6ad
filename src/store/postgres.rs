//! The PostgreSQL store: connects with `[database]` (reconnecting after a lost connection),
//! applies the migrations at start, and claims ticks with one statement.
//!
//! The claim is `INSERT ... ON CONFLICT DO NOTHING` on the key (product, task, tick): the
//! row that goes in is the claim, recorded with the worker that made it. It is refused when
//! a later slot of the task is already claimed (a worker that fell behind does not run a
//! stale slot). No session state is used, so it works behind PgBouncer's transaction
//! pooling; the migrations' lock is a transaction-level advisory lock for the same reason.

use super::jobs::{self, Claimed, Enqueued, Finish, JobStore, NewJob, QueueDepth, Status};
use super::{Claim, Tick, TickStore, MIGRATIONS};
use crate::config::DatabaseConfig;
use chrono::{DateTime, SecondsFormat, Utc};
use postgres::{Client, NoTls};
use std::time::Duration;

/// The key of the advisory lock held while migrating (any constant: `apiphant` in ASCII).
const MIGRATION_LOCK: i64 = 0x6170_6970_6861_6e74;

/// A connection to `[database]` and who this worker is.
pub struct PgStore {
    config: postgres::Config,
    client: Option<Client>,
    /// Whether `client` has run `LISTEN apiphant_jobs` (a new connection has not).
    listening: bool,
    url: String,
    product: String,
    deployment: String,
    worker: String,
}

/// Connects to `database` and migrates it; the error is one line (the URL's password masked).
pub fn connect(
    database: &DatabaseConfig,
    product: &str,
    deployment: &str,
    worker: &str,
) -> Result<PgStore, String> {
    let url = database.display_url();
    let mut config: postgres::Config = database
        .url
        .parse()
        .map_err(|error| format!("database.url \"{url}\": {error}"))?;
    if let Some(password) = &database.password {
        config.password(password);
    }
    config
        .connect_timeout(Duration::from_secs_f64(database.connect_timeout_secs))
        .application_name("apiphant");
    let mut store = PgStore {
        config,
        client: None,
        listening: false,
        url,
        product: product.to_owned(),
        deployment: deployment.to_owned(),
        worker: worker.to_owned(),
    };
    store.migrate()?;
    Ok(store)
}

/// Shows the URL with its password masked, never the client's configuration.
impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("url", &self.url)
            .field("connected", &self.client.is_some())
            .field("product", &self.product)
            .field("deployment", &self.deployment)
            .field("worker", &self.worker)
            .finish()
    }
}

impl PgStore {
    /// The connection, made again if it was lost.
    fn client(&mut self) -> Result<&mut Client, String> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        match &mut self.client {
            Some(client) => Ok(client),
            slot @ None => {
                self.listening = false;
                let client = self
                    .config
                    .connect(NoTls)
                    .map_err(|error| format!("cannot connect to {}: {error}", self.url))?;
                Ok(slot.insert(client))
            }
        }
    }

    /// Forgets the connection after an error that lost it.
    fn failed(&mut self, error: &postgres::Error) -> String {
        if error.is_closed() || error.code().is_none() {
            self.client = None;
        }
        format!("database {}: {error}", self.url)
    }

    /// Applies every migration the database lacks, in one transaction under an advisory
    /// lock (workers starting together wait for the first); refuses a database migrated
    /// by a newer apiphant.
    pub fn migrate(&mut self) -> Result<Vec<i32>, String> {
        let result = migrate(self.client()?);
        result.map_err(|error| match error {
            MigrateError::Database(error) => self.failed(&error),
            MigrateError::Newer(version) => format!(
                "database {} is at schema version {version}, newer than this apiphant's {} (install the newer apiphant on every host)",
                self.url,
                MIGRATIONS.len()
            ),
        })
    }
}

enum MigrateError {
    Database(postgres::Error),
    Newer(i32),
}

impl From<postgres::Error> for MigrateError {
    fn from(error: postgres::Error) -> Self {
        MigrateError::Database(error)
    }
}

fn migrate(client: &mut Client) -> Result<Vec<i32>, MigrateError> {
    let mut transaction = client.transaction()?;
    transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    // Created when absent (not `IF NOT EXISTS`, whose notice the client would log).
    let exists: bool = transaction
        .query_one("SELECT to_regclass('apiphant_migrations') IS NOT NULL", &[])?
        .get(0);
    if !exists {
        transaction.batch_execute(
            "CREATE TABLE apiphant_migrations (
             version    integer     PRIMARY KEY,
             name       text        NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
        )?;
    }
    let latest: i32 = transaction
        .query_one(
            "SELECT coalesce(max(version), 0) FROM apiphant_migrations",
            &[],
        )?
        .get(0);
    let known = MIGRATIONS.last().map_or(0, |migration| migration.version);
    if latest > known {
        return Err(MigrateError::Newer(latest));
    }
    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| m.version > latest) {
        transaction.batch_execute(migration.sql)?;
        transaction.execute(
            "INSERT INTO apiphant_migrations (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )?;
        applied.push(migration.version);
    }
    transaction.commit()?;
    for version in &applied {
        log::info!("Database: schema migration {version} applied.");
    }
    Ok(applied)
}

/// One statement: the latest earlier slot, whether a later one is claimed, and the claim.
const CLAIM: &str = "
    WITH previous AS (
        SELECT max(slot) AS slot FROM apiphant_ticks
        WHERE product = $1 AND task = $2 AND NOT is_start AND slot < $4 AND NOT $5
    ), later AS (
        SELECT 1 FROM apiphant_ticks
        WHERE product = $1 AND task = $2 AND NOT is_start AND slot > $4 AND NOT $5
        LIMIT 1
    ), claimed AS (
        INSERT INTO apiphant_ticks (product, task, tick, is_start, slot, worker)
        SELECT $1, $2, $3, $5, $4, $6 WHERE NOT EXISTS (SELECT 1 FROM later)
        ON CONFLICT DO NOTHING
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM claimed), (SELECT slot FROM previous)";

impl TickStore for PgStore {
    fn claim(&mut self, task: &str, tick: Tick) -> Result<Claim, String> {
        let (key, slot, is_start) = match tick {
            Tick::Start => (format!("start:{}", self.deployment), Utc::now(), true),
            Tick::Slot(slot) => (
                slot.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                slot,
                false,
            ),
        };
        let (product, worker) = (self.product.clone(), self.worker.clone());
        let params: [&(dyn postgres::types::ToSql + Sync); 6] =
            [&product, &task, &key, &slot, &is_start, &worker];
        let result = self.client()?.query_one(CLAIM, &params);
        match result {
            Ok(row) => {
                let won: i64 = row.get(0);
                let previous: Option<DateTime<Utc>> = row.get(1);
                Ok(if won == 1 {
                    Claim::Won { previous }
                } else {
                    Claim::Lost
                })
            }
            Err(error) => Err(self.failed(&error)),
        }
    }

    fn describe(&self) -> String {
        format!(
            "database {} (worker {}, deployment {})",
            self.url, self.worker, self.deployment
        )
    }
}

/// The claim on PostgreSQL: the pick locks its rows (at most `$6`) and skips rows other
/// workers hold; materialized, so the rows picked are the rows taken.
const CLAIM_JOB: &str = "
    WITH picked AS MATERIALIZED (
        SELECT id FROM apiphant_jobs
        WHERE product = $1 AND queue = $2
          AND ((state = 'queued' AND run_at <= $3) OR (state = 'running' AND locked_until < $3))
        ORDER BY run_at LIMIT $6
        FOR UPDATE SKIP LOCKED
    )
    UPDATE apiphant_jobs
    SET state = 'running', attempts = attempts + 1, locked_by = $4, locked_until = $5,
        started_at = $3
    WHERE id IN (SELECT id FROM picked)
    RETURNING id, route, action, body, request_id, identity, attempts, max_attempts";

fn status_row(row: &postgres::Row) -> Status {
    Status {
        state: row.get(0),
        result: row.get(1),
        error: row.get(2),
        attempts: row.get(3),
        max_attempts: row.get(4),
        queue: row.get(5),
        created_at: row.get(6),
        run_at: row.get(7),
        started_at: row.get(8),
        finished_at: row.get(9),
    }
}

impl PgStore {
    /// Runs `statement` with `params`. A connection found lost (the database restarted
    /// since its last use) is made again and the statement sent once more.
    fn execute(
        &mut self,
        statement: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<u64, String> {
        self.retried(|client| client.execute(statement, params))
    }

    /// [`PgStore::execute`] for rows.
    fn query(
        &mut self,
        statement: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>, String> {
        self.retried(|client| client.query(statement, params))
    }

    fn retried<T>(
        &mut self,
        mut run: impl FnMut(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, String> {
        let was_connected = self.client.is_some();
        let result = run(self.client()?);
        match result {
            Ok(value) => Ok(value),
            Err(error) => {
                let why = self.failed(&error);
                if !(was_connected && self.client.is_none()) {
                    return Err(why);
                }
                let result = run(self.client()?);
                result.map_err(|error| self.failed(&error))
            }
        }
    }
}

impl JobStore for PgStore {
    fn enqueue(&mut self, job: &NewJob, now: i64) -> Result<Enqueued, String> {
        let id = jobs::new_id()?;
        let product = self.product.clone();
        let max_attempts = i64::from(job.max_attempts);
        let run_at = job.first_run(now);
        let inserted = self.execute(
            jobs::ENQUEUE,
            &[
                &id,
                &product,
                &job.route,
                &job.action,
                &job.queue,
                &job.body,
                &job.request_id,
                &job.identity,
                &job.key,
                &max_attempts,
                &now,
                &run_at,
            ],
        )?;
        if inserted == 1 {
            return Ok(Enqueued::New(id));
        }
        let rows = self.query(
            jobs::BY_KEY,
            &[&product, &job.identity, &job.route, &job.action, &job.key],
        )?;
        match rows.first() {
            Some(row) if row.get::<_, Vec<u8>>(1) == job.body => Ok(Enqueued::Existing(row.get(0))),
            Some(_) => Ok(Enqueued::Conflict),
            None => Err(format!(
                "database {}: the job was neither stored nor found",
                self.url
            )),
        }
    }

    fn status(&mut self, id: &str, identity: &str) -> Result<Option<Status>, String> {
        let product = self.product.clone();
        let rows = self.query(jobs::STATUS, &[&id, &product, &identity])?;
        Ok(rows.first().map(status_row))
    }

    fn cancel(&mut self, id: &str, identity: &str, now: i64) -> Result<Option<Status>, String> {
        let product = self.product.clone();
        self.execute(jobs::CANCEL, &[&id, &product, &identity, &now])?;
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
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.query(
            CLAIM_JOB,
            &[&product, &queue, &now, &worker, &until, &limit],
        )?;
        Ok(rows
            .iter()
            .map(|row| Claimed {
                id: row.get(0),
                route: row.get(1),
                action: row.get(2),
                body: row.get(3),
                request_id: row.get(4),
                identity: row.get(5),
                attempts: u32::try_from(row.get::<_, i64>(6)).unwrap_or(u32::MAX),
                max_attempts: u32::try_from(row.get::<_, i64>(7)).unwrap_or(u32::MAX),
            })
            .collect())
    }

    fn wait_enqueued(&mut self, timeout: Duration) -> Result<Option<Vec<String>>, String> {
        if !self.listening {
            self.retried(|client| client.batch_execute("LISTEN apiphant_jobs"))?;
            self.listening = true;
        }
        let mut words = Vec::new();
        let mut error = None;
        if let Some(client) = self.client.as_mut() {
            use postgres::fallible_iterator::FallibleIterator;
            let mut notifications = client.notifications();
            // The first word (waiting at most `timeout`), then whatever else already came.
            let mut next = notifications.timeout_iter(timeout).next();
            loop {
                match next {
                    Ok(Some(notification)) => words.push(notification.payload().to_owned()),
                    Ok(None) => break,
                    Err(failure) => {
                        error = Some(failure);
                        break;
                    }
                }
                next = notifications.iter().next();
            }
        }
        if let Some(error) = error {
            return Err(self.failed(&error));
        }
        if self.client.is_none() {
            self.listening = false;
        }
        let product = self.product.as_str();
        Ok(Some(
            words
                .iter()
                .filter_map(|word| word.split_once(' '))
                .filter(|(_, of)| *of == product)
                .map(|(queue, _)| queue.to_owned())
                .collect(),
        ))
    }

    fn renew(&mut self, id: &str, until: i64) -> Result<bool, String> {
        let worker = self.worker.clone();
        Ok(self.execute(jobs::RENEW, &[&id, &worker, &until])? == 1)
    }

    fn finish(&mut self, id: &str, finish: &Finish, now: i64) -> Result<bool, String> {
        let worker = self.worker.clone();
        let rows = match finish {
            Finish::Succeeded(result) => self.execute(jobs::SUCCEED, &[&id, &worker, result, &now]),
            Finish::Failed(error) => self.execute(jobs::FAIL, &[&id, &worker, error, &now]),
            Finish::Retry { error, at } => self.execute(jobs::RETRY, &[&id, &worker, error, at]),
        }?;
        Ok(rows == 1)
    }

    fn list(
        &mut self,
        identity: &str,
        state: &str,
        limit: i64,
    ) -> Result<Vec<(String, Status)>, String> {
        let product = self.product.clone();
        let rows = self.query(jobs::LIST, &[&product, &identity, &state, &limit])?;
        Ok(rows
            .iter()
            .map(|row| (row.get(10), status_row(row)))
            .collect())
    }

    fn depth(&mut self, now: i64) -> Result<Vec<QueueDepth>, String> {
        let product = self.product.clone();
        let rows = self.query(jobs::DEPTH, &[&product, &now])?;
        Ok(rows
            .iter()
            .map(|row| QueueDepth {
                queue: row.get(0),
                queued: row.get(1),
                oldest_due: row.get(2),
            })
            .collect())
    }

    fn purge(&mut self, before: i64) -> Result<u64, String> {
        let product = self.product.clone();
        self.execute(jobs::PURGE, &[&product, &before])
    }

    fn describe(&self) -> String {
        format!("database {}", self.url)
    }
}
