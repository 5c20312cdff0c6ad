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

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[Migration {
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
}];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_count_up_from_one() {
        for (n, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(usize::try_from(migration.version).ok(), Some(n + 1));
        }
    }
}
