//! A typed CRUD target with an in-memory store, what a newcomer writes first:
//! `POST /api/v0/notes/{create,read,update,delete}`. Requests and responses are structs
//! (`Json<T>`, and `Valid<T>` where rules apply: lengths, an enum); the store is shared
//! state built by the init hook from the plugin's typed settings, `[plugins.notes]` in
//! `apiphant.toml` (`max_notes`, default 1000). Each process that loads the plugin (the
//! server, `apiphant-background`) has its own store: statics are not shared between them.

use apiphant_sdk::{ApiError, ApiResult, Json, TaskResult, Valid};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock, PoisonError};
use validator::Validate;

/// `[plugins.notes]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// How many notes the store holds (409 beyond).
    #[serde(default = "default_max_notes")]
    pub max_notes: usize,
}

fn default_max_notes() -> usize {
    1000
}

/// The notes, by id, and the next id.
#[derive(Debug)]
struct Store {
    notes: Mutex<(BTreeMap<u64, Note>, u64)>,
    max_notes: usize,
}

static STORE: OnceLock<Store> = OnceLock::new();

fn store() -> &'static Store {
    STORE.get_or_init(|| Store::new(default_max_notes()))
}

impl Store {
    fn new(max_notes: usize) -> Store {
        Store {
            notes: Mutex::new((BTreeMap::new(), 1)),
            max_notes,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<u64, Note>, &mut u64) -> T) -> T {
        let mut guard = self.notes.lock().unwrap_or_else(PoisonError::into_inner);
        let (notes, next) = &mut *guard;
        f(notes, next)
    }
}

/// The init hook: builds the store from the typed settings (a bad `max_notes` stops
/// start-up with one line naming the key).
pub fn setup(settings: Settings) -> TaskResult {
    if settings.max_notes == 0 {
        return Err("setting max_notes must be at least 1".into());
    }
    let _ = STORE.set(Store::new(settings.max_notes));
    log::info!("notes: room for {} notes", settings.max_notes);
    Ok(())
}

/// How urgent a note is.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Some day.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Now.
    High,
}

/// A stored note, as answered.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Note {
    /// Given by the store.
    pub id: u64,
    /// 1 to 100 characters.
    pub title: String,
    /// Up to 10000 characters.
    pub body: String,
    /// Up to 10 tags.
    pub tags: Vec<String>,
    /// How urgent.
    pub priority: Priority,
}

/// `create`'s request.
#[derive(Debug, Deserialize, Validate, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    /// 1 to 100 characters.
    #[validate(length(min = 1, max = 100))]
    pub title: String,
    /// Up to 10000 characters.
    #[serde(default)]
    #[validate(length(max = 10000))]
    pub body: String,
    /// Up to 10 tags.
    #[serde(default)]
    #[validate(length(max = 10))]
    pub tags: Vec<String>,
    /// `low`, `normal` (default) or `high`.
    #[serde(default)]
    pub priority: Priority,
}

/// `read`'s and `delete`'s request.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteId {
    /// The note's id.
    pub id: u64,
}

/// `update`'s request: the id and the fields to change.
#[derive(Debug, Deserialize, Validate, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteChange {
    /// The note's id.
    pub id: u64,
    /// A new title.
    #[validate(length(min = 1, max = 100))]
    pub title: Option<String>,
    /// A new body.
    #[validate(length(max = 10000))]
    pub body: Option<String>,
    /// New tags.
    #[validate(length(max = 10))]
    pub tags: Option<Vec<String>>,
    /// A new priority.
    pub priority: Option<Priority>,
}

/// Stores a new note; answers it with its id.
pub fn create(Valid(new): Valid<NewNote>) -> ApiResult<Json<Note>> {
    let store = store();
    store.with(|notes, next| {
        if notes.len() >= store.max_notes {
            return Err(ApiError::new(409, "the store is full (max_notes)"));
        }
        let note = Note {
            id: *next,
            title: new.title,
            body: new.body,
            tags: new.tags,
            priority: new.priority,
        };
        *next += 1;
        notes.insert(note.id, note.clone());
        Ok(Json(note))
    })
}

/// Answers a note, or 404.
pub fn read(Json(request): Json<NoteId>) -> ApiResult<Json<Note>> {
    store().with(|notes, _| {
        notes
            .get(&request.id)
            .cloned()
            .map(Json)
            .ok_or_else(ApiError::not_found)
    })
}

/// Changes the fields given; answers the note, or 404.
pub fn update(Valid(change): Valid<NoteChange>) -> ApiResult<Json<Note>> {
    store().with(|notes, _| {
        let note = notes.get_mut(&change.id).ok_or_else(ApiError::not_found)?;
        if let Some(title) = change.title {
            note.title = title;
        }
        if let Some(body) = change.body {
            note.body = body;
        }
        if let Some(tags) = change.tags {
            note.tags = tags;
        }
        if let Some(priority) = change.priority {
            note.priority = priority;
        }
        Ok(Json(note.clone()))
    })
}

/// Removes a note (answers `{}`), or 404.
pub fn delete(Json(request): Json<NoteId>) -> ApiResult<()> {
    store().with(|notes, _| match notes.remove(&request.id) {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found()),
    })
}

apiphant_sdk::export! {
    init = setup,
    "v0/notes" => { create, read, update, delete },
}
