//! Helpers for the integration tests: build the plugins once, start the real `apiphant`
//! binary on a free port (port 0, read back from its start-up line), stop it on drop; the
//! same for `apiphant-background` (a temporary product) and a real SMTP server (aiosmtpd).

use apiphant::testing::{Client, Response};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

/// The repository root (the example product).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Builds every plugin and fixture of the workspace, and the examples, once per test run
/// (debug profile).
pub fn build_plugins() {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .current_dir(root())
            .args(["build", "--workspace", "--lib", "--examples"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the plugins failed");
    });
}

/// A plugin library of the workspace, as built by [`build_plugins`].
pub fn plugin(crate_name: &str) -> PathBuf {
    build_plugins();
    root()
        .join("target/debug")
        .join(format!("lib{}.so", crate_name.replace('-', "_")))
}

/// The example product's own plugins.
pub fn example_plugins() -> Vec<PathBuf> {
    ["echo", "selftest", "users", "files"]
        .iter()
        .map(|name| plugin(name))
        .collect()
}

/// A running server; killed (and waited for) on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
    /// A temporary product directory (its `apiphant.toml`), removed on drop.
    pub dir: Option<TempDir>,
}

fn temp_log(tag: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    std::env::temp_dir().join(format!("apiphant-it-{}-{tag}-{n}.log", std::process::id()))
}

/// The `apiphant` command with the example product's plugins (or `plugins`) loaded.
pub fn command(plugins: &[PathBuf], extra: &[&str]) -> Command {
    command_in(&root(), plugins, extra)
}

/// The `apiphant` command serving the product in `dir` with exactly `plugins`.
pub fn command_in(dir: &Path, plugins: &[PathBuf], extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_apiphant"));
    command.arg(dir).arg("127.0.0.1:0").arg("--debug-plugins");
    for plugin in plugins {
        command.arg("--plugin").arg(plugin);
    }
    command.args(extra);
    command
}

impl Server {
    /// Starts the example product.
    pub fn start() -> Server {
        Server::start_with(&example_plugins(), &[])
    }

    /// Starts with these plugins and extra arguments; waits until it serves (30 s bound).
    pub fn start_with(plugins: &[PathBuf], extra: &[&str]) -> Server {
        Server::spawn(command(plugins, extra))
    }

    /// Starts `plugins` in a temporary product whose `apiphant.toml` has this `[server]`
    /// section body (e.g. `"header_timeout_secs = 1"`).
    pub fn start_configured(server_settings: &str, plugins: &[PathBuf]) -> Server {
        let dir = TempDir::new("product");
        let config = format!("name = \"hostile\"\n\n[server]\n{server_settings}\n");
        std::fs::write(dir.path().join("apiphant.toml"), config).expect("apiphant.toml");
        let mut server = Server::spawn(command_in(dir.path(), plugins, &[]));
        server.dir = Some(dir);
        server
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Open file descriptors of the server process.
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|dir| dir.count())
            .unwrap_or(0)
    }

    /// Resident memory of the server process, in KiB (`VmRSS` of /proc/PID/status).
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// Peak resident memory of the server process, in KiB (`VmHWM`).
    pub fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Waits (bounded) until the open-fd count is back to `baseline`.
    pub fn assert_fds_return_to(&self, baseline: usize, within: Duration) {
        let back = wait_until(within, || self.fd_count() <= baseline);
        assert!(
            back,
            "fd leak: {} open fds, baseline {baseline}",
            self.fd_count()
        );
    }

    /// A new connection to the server.
    pub fn connect(&self) -> Conn {
        Conn::open(self.port)
    }

    /// Spawns a prepared command (stderr to a log file) and waits for its start-up line.
    pub fn spawn(mut command: Command) -> Server {
        let log = temp_log("server");
        let file = std::fs::File::create(&log).expect("log file");
        let child = command
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("apiphant starts");
        let mut server = Server {
            child,
            port: 0,
            log,
            dir: None,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let text = server.log_text();
            if let Some(port) = serving_port(&text) {
                server.port = port;
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("apiphant exited with {status} before serving:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("apiphant did not serve within 30 s:\n{}", server.log_text());
    }

    pub fn client(&self) -> Client {
        Client::new("127.0.0.1", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// POSTs `body` to `path` and returns the response.
    pub fn post(&self, path: &str, body: &[u8]) -> Response {
        self.client()
            .send("POST", path, &[], body)
            .expect("response")
    }

    /// Sends raw bytes on a fresh connection and reads until the server closes (10 s bound).
    pub fn raw(&self, bytes: &[u8]) -> Vec<u8> {
        raw_exchange(self.port, bytes, Duration::from_secs(10))
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(&mut self, within: Duration) -> Option<ExitStatus> {
        terminate(&mut self.child, within)
    }
}

/// Sends SIGTERM to `child` and waits (bounded) for its exit status.
pub fn terminate(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The port in `Apiphant is serving ... at http://127.0.0.1:PORT/api`.
fn serving_port(log: &str) -> Option<u16> {
    let line = log
        .lines()
        .find(|line| line.contains("Apiphant is serving"))?;
    let after = line.split("http://").nth(1)?;
    let authority = after.split('/').next()?;
    authority.rsplit_once(':')?.1.parse().ok()
}

/// Writes `bytes` to a fresh connection to `port` and reads until EOF or `timeout`.
pub fn raw_exchange(port: u16, bytes: &[u8], timeout: Duration) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(timeout)).expect("timeout");
    stream.write_all(bytes).expect("write");
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    out
}

/// Runs `apiphant` expecting it to fail at start-up; returns (exit code, stderr).
pub fn start_failure(command: &mut Command) -> (Option<i32>, String) {
    let (code, _, stderr) = run_within(command, Duration::from_secs(60));
    (code, stderr)
}

/// Runs a command to its end, killing it (and failing) after `within`; returns the exit
/// code, stdout and stderr.
pub fn run_within(command: &mut Command, within: Duration) -> (Option<i32>, String, String) {
    let dir = TempDir::new("run");
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = command
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("the command runs");
    let deadline = Instant::now() + within;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    (status.code(), read(&out), read(&err))
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let path = temp_log(tag).with_extension("d");
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Polls `done` every 10 ms until it holds or `within` passes; returns whether it held.
pub fn wait_until(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Raises this process's open-file soft limit to the hard limit; returns it.
pub fn raise_fd_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024)
}

/// One HTTP response as read off the wire.
#[derive(Debug, Clone)]
pub struct WireResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl WireResponse {
    /// A header's value (first of that name, case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Whether the server said it closes the connection.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|value| value.eq_ignore_ascii_case("close"))
    }

    /// The body as text (for messages).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One complete response at the start of `bytes`, and its length.
pub fn parse_response(bytes: &[u8]) -> Option<(WireResponse, usize)> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()?
        .strip_prefix("HTTP/1.1 ")?
        .get(..3)?
        .parse()
        .ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    // A 204 has no body and no Content-Length (RFC 9110 §8.6).
    let length: usize = match headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        Some((_, v)) => v.parse().ok()?,
        None if status == 204 => 0,
        None => return None,
    };
    let body_start = end + 4;
    let body = bytes.get(body_start..body_start + length)?.to_vec();
    Some((
        WireResponse {
            status,
            headers,
            body,
        },
        body_start + length,
    ))
}

/// A raw client connection with a buffer of what the server sent.
pub struct Conn {
    pub stream: TcpStream,
    pub received: Vec<u8>,
}

impl Conn {
    pub fn open(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let _ = stream.set_nodelay(true);
        Conn {
            stream,
            received: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) -> &mut Conn {
        self.stream.write_all(bytes).expect("write");
        self
    }

    /// Reads until one complete response is buffered (bounded by `within`).
    pub fn response(&mut self, within: Duration) -> Option<WireResponse> {
        let deadline = Instant::now() + within;
        loop {
            if let Some((response, used)) = parse_response(&self.received) {
                self.received.drain(..used);
                return Some(response);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !self.read_more(left) {
                return None;
            }
        }
    }

    /// Whether the server closes the connection (EOF or reset) within `within`, with no
    /// further bytes; bytes that do arrive are kept in `received`.
    pub fn closed(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let _ = self.stream.set_read_timeout(Some(left));
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(n) => self.received.extend_from_slice(&buf[..n]),
                Err(error)
                    if matches!(
                        error.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return false
                }
                Err(_) => return true,
            }
        }
    }

    /// One read; false on EOF, error or timeout.
    fn read_more(&mut self, within: Duration) -> bool {
        let mut buf = [0u8; 16384];
        let _ = self.stream.set_read_timeout(Some(within));
        match self.stream.read(&mut buf) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.received.extend_from_slice(&buf[..n]);
                true
            }
        }
    }
}

/// A POST request with a `Content-Length` body.
pub fn post(path: &str, body: &[u8], extra_headers: &str) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra_headers}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// A running `apiphant-background` on a temporary product with the ticker fixture
/// (tests/fixtures/ticker); killed (and waited for) on drop.
pub struct Worker {
    pub child: Child,
    pub log: PathBuf,
    pub dir: TempDir,
}

/// A temporary product for the worker: `apiphant.toml` with `config` appended after a
/// `[background]` section that holds the lock file (extra `[background]` keys first in
/// `config`, without a header).
pub fn worker_product(config: &str) -> TempDir {
    let dir = TempDir::new("product");
    let lock = dir.path().join("worker.lock");
    let toml = format!(
        "name = \"ticker\"\n[background]\nlock_file = \"{}\"\n{config}\n",
        lock.display()
    );
    std::fs::write(dir.path().join("apiphant.toml"), toml).expect("write apiphant.toml");
    dir
}

/// The `apiphant-background` command on `product` with the ticker fixture.
pub fn worker_command(product: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_apiphant-background"));
    command
        .arg(product)
        .arg("--plugin")
        .arg(plugin("fixture-ticker"))
        .args(extra);
    command
}

impl Worker {
    /// Starts the worker on a new product (see [`worker_product`]) and waits for its
    /// start line (30 s bound).
    pub fn start(config: &str, env: &[(&str, &str)]) -> Worker {
        Worker::start_with(config, env, &[])
    }

    /// [`Worker::start`] with `extra` arguments.
    pub fn start_with(config: &str, env: &[(&str, &str)], extra: &[&str]) -> Worker {
        let dir = worker_product(config);
        let log = dir.path().join("worker.log");
        let file = std::fs::File::create(&log).expect("log file");
        let child = worker_command(dir.path(), extra)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("apiphant-background starts");
        let worker = Worker { child, log, dir };
        worker.wait_for("Apiphant is scheduling", 1, Duration::from_secs(30));
        worker
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log holds `needle` `count` times; returns the log. Panics with the
    /// log if the worker exits or `within` passes first.
    pub fn wait_for(&self, needle: &str, count: usize, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let text = self.log_text();
            if text.matches(needle).count() >= count {
                return text;
            }
            if Instant::now() > deadline {
                panic!("{needle:?} x{count} not logged within {within:?}:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn terminate(&mut self, within: Duration) -> Option<ExitStatus> {
        terminate(&mut self.child, within)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Python of the pinned test tools (tests/tools/requirements.txt, installed by
/// tests/tools/setup.sh into target/py-tools-venv), or the system's `python3` without it.
pub fn python() -> PathBuf {
    let venv = root().join("target/py-tools-venv/bin/python3");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// A real SMTP server (tests/smtp_server.py, aiosmtpd) on 127.0.0.1 and a free port; every
/// message it receives is a file in `dir`. Killed (and waited for) on drop.
pub struct SmtpServer {
    pub child: Child,
    pub port: u16,
    pub dir: TempDir,
}

impl SmtpServer {
    /// Starts it (refusing every login with `reject_login`) and waits until it listens.
    pub fn start(reject_login: bool) -> SmtpServer {
        let dir = TempDir::new("smtp");
        let mut command = Command::new(python());
        command
            .arg(root().join("tests/smtp_server.py"))
            .arg(dir.path());
        if reject_login {
            command.arg("--reject-login");
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect(
                "python3 runs (the email tests need aiosmtpd: tests/tools/setup.sh installs it)",
            );
        let stdout = child.stdout.take().expect("piped stdout");
        let mut server = SmtpServer {
            child,
            port: 0,
            dir,
        };
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
            let _ = sender.send(line);
        });
        let line = receiver
            .recv_timeout(Duration::from_secs(30))
            .expect("the SMTP server starts within 30 s");
        server.port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| {
                panic!("no port from smtp_server.py (is aiosmtpd installed?): {line:?}")
            });
        server
    }

    /// Waits until `count` messages arrived (bounded); returns them all, oldest first.
    pub fn wait_messages(&self, count: usize, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        loop {
            let mut files: Vec<(u32, PathBuf)> = std::fs::read_dir(self.dir.path())
                .into_iter()
                .flatten()
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
                .filter_map(|path| {
                    let n = path.file_stem()?.to_str()?.parse().ok()?;
                    Some((n, path))
                })
                .collect();
            if files.len() >= count {
                files.sort();
                return files
                    .iter()
                    .map(|(_, path)| std::fs::read_to_string(path).unwrap_or_default())
                    .collect();
            }
            assert!(
                Instant::now() < deadline,
                "{count} message(s) not received within {within:?} ({} so far)",
                files.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines of `log` that contain `needle`.
pub fn lines_containing<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|line| line.contains(needle)).collect()
}
