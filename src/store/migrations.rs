//! The store's schema as numbered migrations, applied in order at start by the binaries
//! (graphile-worker ships its schema the same way). A migration is never edited once
//! released: a change is a new one at the end. `apiphant_migrations` records the applied
//! versions.

/// One step of the schema.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// 1, 2, ...: applied in this order, each once.
    pub version: i32,
    /// What it does, in a few words.
    pub name: &'static str,
    /// The SQL (several statements).
    pub sql: &'static str,
}

/// The jobs table's indexes, the same SQL in both dialects.
macro_rules! jobs_indexes {
    () => {
        "
        CREATE UNIQUE INDEX apiphant_jobs_by_key
            ON apiphant_jobs (product, identity, route, action, idem_key)
            WHERE idem_key IS NOT NULL;
        CREATE INDEX apiphant_jobs_to_claim ON apiphant_jobs (product, queue, state, run_at);
        CREATE INDEX apiphant_jobs_finished ON apiphant_jobs (product, finished_at)
            WHERE finished_at IS NOT NULL;
        "
    };
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "ticks of scheduled tasks",
        sql: "
        CREATE TABLE apiphant_ticks (
            product    text        NOT NULL,
            task       text        NOT NULL,
            -- the slot as '2026-01-01T00:00:00Z', or 'start:<deployment>' for a start run
            tick       text        NOT NULL,
            is_start   boolean     NOT NULL,
            -- the slot (a start run: when it was claimed)
            slot       timestamptz NOT NULL,
            worker     text        NOT NULL,
            claimed_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (product, task, tick)
        );
        CREATE INDEX apiphant_ticks_by_slot ON apiphant_ticks (product, task, slot)
            WHERE NOT is_start;
    ",
    },
    Migration {
        version: 2,
        name: "jobs of asynchronous calls",
        sql: concat!(
            "
        CREATE TABLE apiphant_jobs (
            id           text   PRIMARY KEY,
            product      text   NOT NULL,
            route        text   NOT NULL,
            action       text   NOT NULL,
            queue        text   NOT NULL,
            body         bytea  NOT NULL,
            request_id   text   NOT NULL,
            identity     text   NOT NULL,
            idem_key     text,
            -- queued, running, succeeded, failed, cancelled
            state        text   NOT NULL,
            attempts     bigint NOT NULL,
            max_attempts bigint NOT NULL,
            result       text,
            error        text,
            locked_by    text,
            -- times: milliseconds since the epoch
            locked_until bigint,
            run_at       bigint NOT NULL,
            created_at   bigint NOT NULL,
            started_at   bigint,
            finished_at  bigint
        );
    ",
            jobs_indexes!()
        ),
    },
    Migration {
        version: 3,
        name: "word to idle workers when a job is enqueued",
        // One notification per new job (`queue product`): the workers LISTEN and claim at
        // once instead of at their next poll. Sent at commit; none for a rolled-back insert.
        sql: "
        CREATE FUNCTION apiphant_jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('apiphant_jobs', NEW.queue || ' ' || NEW.product);
            RETURN NULL;
        END
        $$;
        CREATE TRIGGER apiphant_jobs_enqueued AFTER INSERT ON apiphant_jobs
            FOR EACH ROW EXECUTE FUNCTION apiphant_jobs_notify();
    ",
    },
];

/// The embedded store's schema (SQLite), numbered on its own: the same `apiphant_jobs`
/// (no ticks: scheduled tasks on one host need no claims).
pub const SQLITE_MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "jobs of asynchronous calls",
    sql: concat!(
        "
        CREATE TABLE apiphant_jobs (
            id           TEXT    PRIMARY KEY,
            product      TEXT    NOT NULL,
            route        TEXT    NOT NULL,
            action       TEXT    NOT NULL,
            queue        TEXT    NOT NULL,
            body         BLOB    NOT NULL,
            request_id   TEXT    NOT NULL,
            identity     TEXT    NOT NULL,
            idem_key     TEXT,
            state        TEXT    NOT NULL,
            attempts     INTEGER NOT NULL,
            max_attempts INTEGER NOT NULL,
            result       TEXT,
            error        TEXT,
            locked_by    TEXT,
            locked_until INTEGER,
            run_at       INTEGER NOT NULL,
            created_at   INTEGER NOT NULL,
            started_at   INTEGER,
            finished_at  INTEGER
        );
    ",
        jobs_indexes!()
    ),
}];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_count_up_from_one() {
        for list in [MIGRATIONS, SQLITE_MIGRATIONS] {
            for (n, migration) in list.iter().enumerate() {
                assert_eq!(usize::try_from(migration.version).ok(), Some(n + 1));
            }
        }
    }
}
