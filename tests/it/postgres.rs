//! A PostgreSQL of the test's own: the Debian `postgresql` package's `initdb` and `pg_ctl`
//! (`/usr/lib/postgresql/<version>/bin`, nothing installed here) on a new cluster in a
//! temporary folder, on a free loopback port, with a password for TCP logins; stopped by
//! its PID (fast shutdown) and removed on drop. `initdb` refuses root: as root, every
//! command runs as the `postgres` system user (`runuser`).
//!
//! When the binaries are absent the tests that need them are skipped with a line saying
//! so, unless `APIPHANT_REQUIRE_POSTGRES` is set (CI sets it: there a missing engine fails).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The password of the `postgres` role for TCP logins.
pub const PASSWORD: &str = "apiphant-test-password";

/// A running test cluster.
pub struct Postgres {
    pub port: u16,
    pid: u32,
    dir: PathBuf,
}

/// A loopback port free right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb` and `pg_ctl`.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with("Uid:"))?;
            Some(line.split_whitespace().nth(1)? == "0")
        })
        .unwrap_or(false)
}

/// `program args...`, as the `postgres` user when we are root; panics with its output if
/// it fails.
fn run_as_postgres(program: &Path, args: &[&str]) {
    let mut command = if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    };
    let output = command.args(args).output().expect("runs");
    assert!(
        output.status.success(),
        "{} {args:?} failed: {}{}",
        program.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Postgres {
    /// Starts a new cluster, or `None` (with a line on stderr) when PostgreSQL is not
    /// installed and `APIPHANT_REQUIRE_POSTGRES` is unset.
    pub fn start() -> Option<Postgres> {
        let Some(bin) = bin_dir() else {
            assert!(
                std::env::var_os("APIPHANT_REQUIRE_POSTGRES").is_none(),
                "APIPHANT_REQUIRE_POSTGRES is set but no /usr/lib/postgresql/<version>/bin/initdb: apt-get install postgresql"
            );
            eprintln!(
                "SKIPPED: PostgreSQL is not installed (no /usr/lib/postgresql/<version>/bin/initdb): apt-get install postgresql, or set APIPHANT_REQUIRE_POSTGRES=1 to fail instead"
            );
            return None;
        };
        let dir = std::env::temp_dir().join(format!(
            "apiphant-pg-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("pg dir");
        if is_root() {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("chown");
            assert!(status.success(), "chown postgres {}", dir.display());
        }
        let data = dir.join("data");
        let pwfile = dir.join("pwfile");
        std::fs::write(&pwfile, format!("{PASSWORD}\n")).expect("pwfile");
        let text = |path: &Path| path.display().to_string();
        run_as_postgres(
            &bin.join("initdb"),
            &[
                "-D",
                &text(&data),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                &format!("--pwfile={}", text(&pwfile)),
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        let port = free_port();
        let pid = pg_ctl_start(&bin, &dir, port);
        Some(Postgres { port, pid, dir })
    }

    /// Stops the cluster (fast shutdown), waiting until it is gone.
    pub fn stop(&self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Path::new(&format!("/proc/{}", self.pid)).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the stopped cluster again on its port.
    pub fn restart(&mut self) {
        let bin = bin_dir().expect("PostgreSQL binaries");
        self.pid = pg_ctl_start(&bin, &self.dir, self.port);
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`: no password, it comes from
    /// `APIPHANT_DATABASE_PASSWORD` ([`PASSWORD`]).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A client of the test's own, to read what the workers recorded.
    pub fn client(&self) -> postgres::Client {
        let url = format!(
            "postgres://postgres:{PASSWORD}@127.0.0.1:{}/postgres",
            self.port
        );
        postgres::Client::connect(&url, postgres::NoTls).expect("connects")
    }
}

/// `pg_ctl start` of the cluster in `dir` on `port`, waiting until it accepts connections;
/// the postmaster's PID.
fn pg_ctl_start(bin: &Path, dir: &Path, port: u16) -> u32 {
    let text = |path: &Path| path.display().to_string();
    let data = dir.join("data");
    let options = format!(
        "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c synchronous_commit=off",
        text(dir)
    );
    run_as_postgres(
        &bin.join("pg_ctl"),
        &[
            "-D",
            &text(&data),
            "-l",
            &text(&dir.join("server.log")),
            "-o",
            &options,
            "-w",
            "-t",
            "60",
            "start",
        ],
    );
    std::fs::read_to_string(data.join("postmaster.pid"))
        .ok()
        .and_then(|text| text.lines().next()?.trim().parse().ok())
        .expect("postmaster.pid")
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGINT: PostgreSQL's fast shutdown.
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
