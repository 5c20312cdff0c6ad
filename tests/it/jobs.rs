//! Durable asynchronous calls end to end: the real server and real workers with the jobs
//! fixture (tests/fixtures/jobs), the same behaviour tests on the embedded store (SQLite in
//! the product's `var/`) and on a PostgreSQL of the test's own (`postgres.rs`; skipped
//! only when PostgreSQL is not installed and `APIPHANT_REQUIRE_POSTGRES` is unset).
//!
//! The fixture records every run (`start <tag> <pid> ...`) and every success (`done <tag>
//! <pid>`) in a file, so a test counts what really ran.

use crate::auth::new_token;
use crate::postgres::{Postgres, PASSWORD};
use crate::util::{command_in, plugin, terminate, Server, TempDir};
use apiphant_sdk::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A worker process, killed (and waited for) on drop: a failing test leaves none behind.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where the jobs are: the embedded store, or `[database]`.
enum Store {
    Embedded,
    Postgres(Postgres),
}

impl Store {
    fn postgres() -> Option<Store> {
        Postgres::start().map(Store::Postgres)
    }

    fn section(&self) -> String {
        match self {
            Store::Embedded => String::new(),
            Store::Postgres(postgres) => format!("[database]\nurl = \"{}\"\n", postgres.url()),
        }
    }
}

/// A product with the jobs fixture: its folder, the record file, its server and workers.
struct Product {
    dir: TempDir,
    record: PathBuf,
    server: Server,
}

impl Product {
    /// `jobs` is the `[jobs]` section's body.
    fn start(store: &Store, jobs: &str) -> Product {
        Product::start_with(store, jobs, &[])
    }

    /// [`Product::start`] with more server arguments.
    fn start_with(store: &Store, jobs: &str, extra: &[&str]) -> Product {
        let dir = TempDir::new("jobs");
        let record = dir.path().join("record");
        let config = format!(
            "name = \"jobsproduct\"\n{}[background]\nlock_file = \"{}\"\n[jobs]\npoll_ms = 20\nbackoff_secs = 0.1\n{jobs}\n",
            store.section(),
            dir.path().join("worker.lock").display()
        );
        std::fs::write(dir.path().join("apiphant.toml"), config).expect("apiphant.toml");
        let mut command = command_in(dir.path(), &[plugin("fixture-jobs")], extra);
        command
            .env("APIPHANT_DATABASE_PASSWORD", PASSWORD)
            .env("JOBS_RECORD", &record);
        let server = Server::spawn(command);
        Product {
            dir,
            record,
            server,
        }
    }

    /// Starts a worker; its log is `worker-<n>.log`.
    fn worker(&self, n: usize) -> Worker {
        self.worker_env(n, &[])
    }

    /// [`Product::worker`] with more environment variables.
    fn worker_env(&self, n: usize, env: &[(&str, &str)]) -> Worker {
        let log = std::fs::File::create(self.worker_log_path(n)).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_apiphant-background"))
            .arg(self.dir.path())
            .arg("--plugin")
            .arg(plugin("fixture-jobs"))
            .env("APIPHANT_DATABASE_PASSWORD", PASSWORD)
            .env("JOBS_RECORD", &self.record)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("apiphant-background starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self
            .worker_log(n)
            .contains("Running asynchronous calls from")
        {
            assert!(
                Instant::now() < deadline,
                "worker not started:\n{}",
                self.worker_log(n)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Worker(child)
    }

    fn worker_log_path(&self, n: usize) -> PathBuf {
        self.dir.path().join(format!("worker-{n}.log"))
    }

    fn worker_log(&self, n: usize) -> String {
        std::fs::read_to_string(self.worker_log_path(n)).unwrap_or_default()
    }

    fn record(&self) -> String {
        std::fs::read_to_string(&self.record).unwrap_or_default()
    }

    /// Lines of the record starting with `kind tag `.
    fn count(&self, kind: &str, tag: &str) -> usize {
        let prefix = format!("{kind} {tag} ");
        self.record()
            .lines()
            .filter(|line| line.starts_with(&prefix))
            .count()
    }

    /// POSTs `body` to `path` with `headers`: (status, headers, body as JSON).
    fn post(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> (u16, Vec<(String, String)>, Value) {
        let response = self
            .server
            .client()
            .send("POST", path, headers, body.to_string().as_bytes())
            .expect("response");
        let json = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        (response.status, response.headers, json)
    }

    /// Enqueues `body` on `v0/work create`: the job's id (asserts the 202).
    fn enqueue(&self, body: &Value) -> String {
        let (status, headers, answer) =
            self.post("/api/v0/work/create", &[("Prefer", "respond-async")], body);
        assert_eq!(status, 202, "{answer}\n{}", self.server.log_text());
        assert!(
            headers.iter().any(
                |(name, value)| name.eq_ignore_ascii_case("preference-applied")
                    && value == "respond-async"
            ),
            "{headers:?}"
        );
        answer["job"].as_str().expect("a job id").to_owned()
    }

    fn read(&self, id: &str) -> (u16, Value) {
        let (status, _, body) = self.post("/api/v0/_jobs/read", &[], &json!({"job": id}));
        (status, body)
    }

    /// Waits (bounded) until job `id` is in `state`; its status.
    fn wait_state(&self, id: &str, state: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let (status, body) = self.read(id);
            assert_eq!(status, 200, "{body}");
            if body["state"] == state {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "job {id} not {state} within {within:?}: {body}\nrecord:\n{}\nworker:\n{}",
                self.record(),
                self.worker_log(0)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Every behaviour of one store, in one product (one PostgreSQL start per store).
fn behaviour(store: &Store) {
    let product = Product::start(store, "max_attempts = 3");
    // Not marked: the preference is only a preference.
    let (status, headers, body) = product.post(
        "/api/v0/work/read",
        &[("Prefer", "respond-async")],
        &json!({"tag": "now"}),
    );
    assert_eq!((status, &body["tag"]), (200, &json!("now")), "{body}");
    assert!(!headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("preference-applied")));
    // Marked, without the preference: answered at once too.
    let (status, _, body) = product.post("/api/v0/work/create", &[], &json!({"tag": "plain"}));
    assert_eq!((status, &body["tag"]), (200, &json!("plain")), "{body}");

    // With no worker running: queued; cancelled; never runs.
    let cancelled = product.enqueue(&json!({"tag": "cancelled"}));
    assert_eq!(product.read(&cancelled).1["state"], "queued");
    let (status, _, body) = product.post("/api/v0/_jobs/delete", &[], &json!({"job": cancelled}));
    assert_eq!(
        (status, &body["state"]),
        (200, &json!("cancelled")),
        "{body}"
    );
    // An unknown job, and a body without one.
    assert_eq!(product.read("0123").0, 404);
    let (status, _, _) = product.post("/api/v0/_jobs/read", &[], &json!({}));
    assert_eq!(status, 400);

    // Idempotency: the same key and body, the same job; another body, 409 in JSON.
    let key = [("Prefer", "respond-async"), ("Idempotency-Key", "order-7")];
    let (status, _, first) = product.post("/api/v0/work/create", &key, &json!({"tag": "idem"}));
    assert_eq!(status, 202, "{first}");
    let (status, _, again) = product.post("/api/v0/work/create", &key, &json!({"tag": "idem"}));
    assert_eq!((status, &again["job"]), (202, &first["job"]));
    let (status, _, conflict) = product.post("/api/v0/work/create", &key, &json!({"tag": "other"}));
    assert_eq!(status, 409, "{conflict}");
    assert!(conflict["error"].is_string(), "{conflict}");

    let ok = product.enqueue(&json!({"tag": "ok"}));
    let retried = product.enqueue(&json!({"tag": "retried", "fail_times": 2}));
    let broken = product.enqueue(&json!({"tag": "broken", "fail_times": 9}));
    let refused = product.enqueue(&json!({"tag": "refused", "status": 422}));
    let mut worker = product.worker(0);

    let done = product.wait_state(&ok, "succeeded", Duration::from_secs(30));
    assert_eq!(done["result"], json!({"tag": "ok", "runs": 1}), "{done}");
    assert_eq!(done["attempts"], 1);
    assert!(
        done["finished_at"].is_string() && done["created_at"].is_string(),
        "{done}"
    );
    let idem = first["job"].as_str().expect("id");
    product.wait_state(idem, "succeeded", Duration::from_secs(30));
    assert_eq!(product.count("start", "idem"), 1);

    let done = product.wait_state(&retried, "succeeded", Duration::from_secs(30));
    assert_eq!(done["attempts"], 3, "{done}");
    assert_eq!(product.count("start", "retried"), 3);

    let failed = product.wait_state(&broken, "failed", Duration::from_secs(30));
    assert_eq!(failed["attempts"], 3, "{failed}");
    assert_eq!(
        failed["error"],
        json!({"error": "500 Internal Server Error"})
    );
    assert_eq!(product.count("start", "broken"), 3);
    let log = product.worker_log(0);
    assert!(log.contains("planned failure 3 of 9 for broken"), "{log}");
    let hook = format!("on_error job v0/work create {broken}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !product.record().contains(&hook) {
        assert!(Instant::now() < deadline, "{}", product.record());
        std::thread::sleep(Duration::from_millis(20));
    }

    // A 4xx is the caller's mistake: failed at once, its error body kept.
    let failed = product.wait_state(&refused, "failed", Duration::from_secs(30));
    assert_eq!(failed["attempts"], 1, "{failed}");
    assert_eq!(failed["error"], json!({"error": "asked for 422"}));

    // The cancelled job never ran; the run carried the enqueuing request's id.
    assert_eq!(product.count("start", "cancelled"), 0);
    assert_eq!(product.read(&cancelled).1["state"], "cancelled");
    assert_eq!(
        terminate(&mut worker.0, Duration::from_secs(10)).and_then(|s| s.code()),
        Some(0),
        "{}",
        product.worker_log(0)
    );
}

/// A worker killed with SIGKILL in the middle of a long job: another worker runs it after
/// the lease ran out, and it succeeds exactly once.
fn killed_worker(store: &Store) {
    let product = Product::start(store, "lease_secs = 2");
    let id = product.enqueue(&json!({"tag": "long", "sleep_ms": 3000}));
    let mut first = product.worker(0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while product.count("start", "long") == 0 {
        assert!(Instant::now() < deadline, "{}", product.worker_log(0));
        std::thread::sleep(Duration::from_millis(20));
    }
    first.0.kill().expect("SIGKILL");
    let _ = first.0.wait();
    assert_eq!(product.read(&id).1["state"], "running");
    let started = Instant::now();
    let mut second = product.worker(1);
    let done = product.wait_state(&id, "succeeded", Duration::from_secs(60));
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "ran before the lease ran out"
    );
    assert_eq!(done["attempts"], 2, "{done}");
    assert_eq!(product.count("start", "long"), 2, "{}", product.record());
    assert_eq!(product.count("done", "long"), 1, "{}", product.record());
    let _ = terminate(&mut second.0, Duration::from_secs(10));
}

/// Jobs enqueued from code: a plugin action's job delayed 2 s (not started before, run
/// after, with the caller's identity), the unmarked action refused in words, listing by
/// state (the caller's own only), a task's job (once, under its idempotency key), and the
/// queue depth on the admin listener's `/metrics` (promtool-checked): above 0, then 0.
fn from_code(store: &Store) {
    let (alice, alice_line) = new_token("alice", &["v0/later/*", "v0/work/*", "v0/_jobs/*"]);
    let (bob, bob_line) = new_token("bob", &["v0/_jobs/*"]);
    let product = Product::start_with(
        store,
        &format!("[auth.tokens]\n{alice_line}\n{bob_line}\n"),
        &["--admin", "127.0.0.1:0"],
    );
    let (alice, bob) = (format!("Bearer {alice}"), format!("Bearer {bob}"));
    let as_alice = [("Authorization", alice.as_str())];
    let as_bob = [("Authorization", bob.as_str())];
    let asked = Instant::now();
    let (status, _, body) = product.post(
        "/api/v0/later/create",
        &as_alice,
        &json!({"tag": "delayed", "delay_ms": 2000}),
    );
    assert_eq!(status, 200, "{body}\n{}", product.server.log_text());
    let delayed = body["job"].as_str().expect("a job id").to_owned();
    let (status, _, body) = product.post(
        "/api/v0/later/create",
        &as_alice,
        &json!({"tag": "x", "action": "read"}),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or("")
            .contains("not asynchronous"),
        "{body}"
    );
    // Its status shows when it may run: 2 s after it was made.
    let (status, _, job) = product.post("/api/v0/_jobs/read", &as_alice, &json!({"job": delayed}));
    assert_eq!((status, &job["state"]), (200, &json!("queued")), "{job}");
    let time = |field: &str| {
        chrono::DateTime::parse_from_rfc3339(job[field].as_str().unwrap_or(""))
            .map(|time| time.timestamp_millis())
            .unwrap_or_else(|_| panic!("{field}: {job}"))
    };
    assert!(time("run_at") - time("created_at") >= 1000, "{job}");
    // Listed by state: the caller's own, newest first; another caller's list is empty.
    let (status, _, listed) = product.post(
        "/api/v0/_jobs/read",
        &as_alice,
        &json!({"state": "queued", "limit": 10}),
    );
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["jobs"][0]["job"], json!(delayed), "{listed}");
    let (_, _, theirs) = product.post("/api/v0/_jobs/read", &as_bob, &json!({"state": "queued"}));
    assert_eq!(theirs, json!({"jobs": []}));
    let (status, _, _) = product.post("/api/v0/_jobs/read", &as_alice, &json!({"state": "lost"}));
    assert_eq!(status, 400);
    let (status, _, _) = product.post(
        "/api/v0/_jobs/read",
        &as_alice,
        &json!({"state": "queued", "limit": 100_000}),
    );
    assert_eq!(status, 400);
    // The queue depth, read off the request path: above 0 while it waits.
    let mut admin = crate::util::Conn::open(crate::admin::admin_port(&product.server));
    let queued = "apiphant_jobs_queued{queue=\"default\"}";
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = crate::admin::scrape(&mut admin);
        if crate::admin::value(&text, queued).unwrap_or(0.0) >= 1.0 {
            assert!(text.contains("apiphant_jobs_oldest_queued_seconds{queue=\"default\"}"));
            break;
        }
        assert!(Instant::now() < deadline, "{text}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // A worker: not started before its time, then succeeded, with the caller's identity.
    let mut worker = product.worker_env(0, &[("JOBS_TASK_ENQUEUE", "1")]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while product.count("start", "delayed") == 0 {
        assert!(Instant::now() < deadline, "{}", product.worker_log(0));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        asked.elapsed() >= Duration::from_millis(1950),
        "started {:?} after the enqueue",
        asked.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let done = loop {
        let (_, _, job) = product.post("/api/v0/_jobs/read", &as_alice, &json!({"job": delayed}));
        if job["state"] == "succeeded" {
            break job;
        }
        assert!(
            Instant::now() < deadline,
            "{job}\n{}",
            product.worker_log(0)
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(done["result"]["tag"], "delayed", "{done}");
    let started = product
        .record()
        .lines()
        .find(|line| line.starts_with("start delayed "))
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(started.ends_with(" alice"), "{started}");
    let (_, _, listed) = product.post(
        "/api/v0/_jobs/read",
        &as_alice,
        &json!({"state": "succeeded"}),
    );
    assert_eq!(listed["jobs"][0]["job"], json!(delayed), "{listed}");
    // The task's job: enqueued by the worker's store, run once whatever the task's runs.
    let deadline = Instant::now() + Duration::from_secs(30);
    while product.count("done", "from-task") == 0 {
        assert!(
            Instant::now() < deadline,
            "{}\n{}",
            product.record(),
            product.worker_log(0)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while product.count("enqueued", "from-task") < 2 {
        assert!(Instant::now() < deadline, "{}", product.record());
        std::thread::sleep(Duration::from_millis(50));
    }
    let ids: std::collections::BTreeSet<String> = product
        .record()
        .lines()
        .filter_map(|line| line.strip_prefix("enqueued from-task "))
        .map(str::to_owned)
        .collect();
    assert_eq!(ids.len(), 1, "{}", product.record());
    assert_eq!(
        product.count("start", "from-task"),
        1,
        "{}",
        product.record()
    );
    // Nothing queued any more: the gauge is back to 0.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = crate::admin::scrape(&mut admin);
        if crate::admin::value(&text, queued) == Some(0.0) {
            break;
        }
        assert!(Instant::now() < deadline, "{text}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = terminate(&mut worker.0, Duration::from_secs(10));
}

#[test]
fn jobs_from_code_on_the_embedded_store() {
    from_code(&Store::Embedded);
}

#[test]
fn jobs_from_code_on_postgres() {
    if let Some(store) = Store::postgres() {
        from_code(&store);
    }
}

#[test]
fn behaviour_on_the_embedded_store() {
    behaviour(&Store::Embedded);
}

#[test]
fn behaviour_on_postgres() {
    if let Some(store) = Store::postgres() {
        behaviour(&store);
    }
}

#[test]
fn a_killed_worker_s_job_runs_once_elsewhere_on_the_embedded_store() {
    killed_worker(&Store::Embedded);
}

#[test]
fn a_killed_worker_s_job_runs_once_elsewhere_on_postgres() {
    if let Some(store) = Store::postgres() {
        killed_worker(&store);
    }
}

/// The embedded store is a file in the product's `var/` (the documented layout).
#[test]
fn the_embedded_store_is_in_the_product_var_folder() {
    let product = Product::start(&Store::Embedded, "");
    product.enqueue(&json!({"tag": "file"}));
    assert!(Path::new(&product.dir.path().join("var/jobs.sqlite3")).is_file());
}

/// With `[auth]`, only the identity that enqueued a job may read or cancel it (another
/// caller gets the 404 of an unknown job), the scopes cover `v0/_jobs` like any route, and
/// the run gets the caller's identity.
#[test]
fn only_the_enqueuing_identity_sees_its_job() {
    let (alice, alice_line) = new_token("alice", &["v0/work/*", "v0/_jobs/*"]);
    let (bob, bob_line) = new_token("bob", &["v0/work/*", "v0/_jobs/*"]);
    let (carol, carol_line) = new_token("carol", &["v0/work/*"]);
    let product = Product::start(
        &Store::Embedded,
        &format!("[auth.tokens]\n{alice_line}\n{bob_line}\n{carol_line}\n"),
    );
    let bearer = |token: &str| format!("Bearer {token}");
    let (alice, bob, carol) = (bearer(&alice), bearer(&bob), bearer(&carol));
    let (status, _, body) = product.post(
        "/api/v0/work/create",
        &[("Prefer", "respond-async"), ("Authorization", &alice)],
        &json!({"tag": "mine"}),
    );
    assert_eq!(status, 202, "{body}");
    let id = json!({"job": body["job"]});
    let ask = |action: &str, who: &str| {
        product.post(
            &format!("/api/v0/_jobs/{action}"),
            &[("Authorization", who)],
            &id,
        )
    };
    assert_eq!(ask("read", &bob).0, 404);
    assert_eq!(ask("delete", &bob).0, 404);
    assert_eq!(ask("read", &carol).0, 403);
    assert_eq!(product.post("/api/v0/_jobs/read", &[], &id).0, 401);
    let (status, _, body) = ask("read", &alice);
    assert_eq!((status, &body["state"]), (200, &json!("queued")), "{body}");
    let mut worker = product.worker(0);
    let id = body["job"].as_str().expect("id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    while ask("read", &alice).2["state"] != "succeeded" {
        assert!(Instant::now() < deadline, "{}", product.worker_log(0));
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = product
        .record()
        .lines()
        .find(|line| line.starts_with("start mine "))
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(started.ends_with(" alice"), "{started} ({id})");
    let _ = terminate(&mut worker.0, Duration::from_secs(10));
}

/// PostgreSQL stopped for 10 s while a job runs: enqueues and status reads meanwhile get a
/// 503 in JSON at once (not a hang); after the restart the server and the worker reconnect
/// by themselves, and every job enqueued before, during (none taken) and after succeeds.
#[test]
fn a_postgres_outage_is_a_503_and_no_job_is_lost() {
    let Some(mut store) = Store::postgres() else {
        return;
    };
    let product = Product::start(&store, "lease_secs = 2\nstore_timeout_secs = 3");
    let mut worker = product.worker(0);
    let before: Vec<String> = (0..5)
        .map(|n| product.enqueue(&json!({"tag": format!("before-{n}")})))
        .collect();
    let during = product.enqueue(&json!({"tag": "during", "sleep_ms": 3000}));
    let deadline = Instant::now() + Duration::from_secs(30);
    while product.count("start", "during") == 0 {
        assert!(Instant::now() < deadline, "{}", product.worker_log(0));
        std::thread::sleep(Duration::from_millis(20));
    }
    let Store::Postgres(postgres) = &mut store else {
        unreachable!()
    };
    postgres.stop();
    let stopped = Instant::now();
    for _ in 0..3 {
        let asked = Instant::now();
        let (status, _, body) = product.post(
            "/api/v0/work/create",
            &[("Prefer", "respond-async")],
            &json!({"tag": "refused"}),
        );
        assert_eq!(status, 503, "{body}");
        assert_eq!(body, json!({"error": "503 Service Unavailable"}));
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "{:?}",
            asked.elapsed()
        );
        assert_eq!(product.read(&during).0, 503);
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(10).saturating_sub(stopped.elapsed()));
    postgres.restart();
    // Reconnected by themselves: the server at once, the worker on its next claim.
    let after = product.enqueue(&json!({"tag": "after"}));
    for id in before.iter().chain([&during, &after]) {
        product.wait_state(id, "succeeded", Duration::from_secs(60));
    }
    for tag in ["before-0", "before-4", "during", "after"] {
        assert!(
            product.count("done", tag) >= 1,
            "{tag}: {}",
            product.record()
        );
    }
    assert_eq!(product.count("start", "refused"), 0);
    let log = product.worker_log(0);
    assert!(
        log.contains("cannot"),
        "the outage is not in the worker's log:\n{log}"
    );
    let _ = terminate(&mut worker.0, Duration::from_secs(10));
}

/// `APIPHANT_JOBS_BULK` (default 10,000 on PostgreSQL, 2,000 on the embedded store)
/// asynchronous calls enqueued by 8 clients at once
/// while a worker runs them (8 at once): every call answered 202 (a 503 under load retried
/// with its Idempotency-Key), one job per call, every job succeeded, each run exactly once
/// (nothing crashed), in bounded time. Prints the rates.
fn bulk(store: &Store, default: usize) {
    let total: usize = std::env::var("APIPHANT_JOBS_BULK")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default);
    let product = Product::start(store, "concurrency = 8");
    let mut workers = [product.worker(0)];
    let started = Instant::now();
    let clients = 8;
    let retried = std::sync::atomic::AtomicUsize::new(0);
    let ids: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|client| {
                let (product, retried) = (&product, &retried);
                scope.spawn(move || {
                    let http = product.server.client();
                    (client..total)
                        .step_by(clients)
                        .map(|n| {
                            let body = json!({"tag": format!("bulk-{n}"), "quiet": true});
                            let key = format!("bulk-{n}");
                            let headers = [("Prefer", "respond-async"), ("Idempotency-Key", &*key)];
                            // A 503 (the store's queue full, or late) is retried with the
                            // same key, as docs/jobs.md tells clients: never a second job.
                            for _ in 0..50 {
                                let response = http
                                    .send(
                                        "POST",
                                        "/api/v0/work/create",
                                        &headers,
                                        body.to_string().as_bytes(),
                                    )
                                    .expect("response");
                                if response.status == 503 {
                                    retried.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                    std::thread::sleep(Duration::from_millis(100));
                                    continue;
                                }
                                assert_eq!(response.status, 202, "{:?}", response.body);
                                let answer: Value =
                                    serde_json::from_slice(&response.body).unwrap_or(Value::Null);
                                return answer["job"].as_str().unwrap_or_default().to_owned();
                            }
                            panic!("bulk-{n}: 503 fifty times");
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("client"))
            .collect()
    });
    let enqueued = started.elapsed();
    assert_eq!(ids.len(), total);
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), total, "two calls got the same job");
    // Counted in the store itself: (succeeded, runs started).
    let counts = || -> (i64, i64) {
        let query = "SELECT count(*) FILTER (WHERE state = 'succeeded'), coalesce(sum(attempts), 0)::bigint FROM apiphant_jobs";
        match store {
            Store::Embedded => {
                let path = product.dir.path().join("var/jobs.sqlite3");
                let connection = rusqlite::Connection::open(path).expect("open");
                let query = "SELECT coalesce(sum(state = 'succeeded'), 0), coalesce(sum(attempts), 0) FROM apiphant_jobs";
                connection
                    .query_row(query, [], |row| Ok((row.get(0)?, row.get(1)?)))
                    .unwrap_or((0, 0))
            }
            Store::Postgres(postgres) => {
                let row = postgres.client().query_one(query, &[]).expect("counts");
                (row.get(0), row.get(1))
            }
        }
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    let (mut succeeded, mut runs) = counts();
    while succeeded < total as i64 {
        assert!(
            Instant::now() < deadline,
            "{succeeded} of {total} succeeded within 600 s\n{}",
            product.worker_log(0)
        );
        std::thread::sleep(Duration::from_millis(200));
        (succeeded, runs) = counts();
    }
    let done = started.elapsed();
    assert_eq!(runs, total as i64, "a job ran twice without a crash");
    eprintln!(
        "bulk: {total} calls enqueued in {:.1} s ({:.0}/s, {} 503s retried with their key), all succeeded after {:.1} s ({:.0} jobs/s end to end)",
        enqueued.as_secs_f64(),
        total as f64 / enqueued.as_secs_f64(),
        retried.load(std::sync::atomic::Ordering::Relaxed),
        done.as_secs_f64(),
        total as f64 / done.as_secs_f64()
    );
    for worker in &mut workers {
        let _ = terminate(&mut worker.0, Duration::from_secs(10));
    }
}

#[test]
fn thousands_of_calls_on_the_embedded_store() {
    bulk(&Store::Embedded, 2_000);
}

#[test]
fn ten_thousand_calls_on_postgres() {
    if let Some(store) = Store::postgres() {
        bulk(&store, 10_000);
    }
}
