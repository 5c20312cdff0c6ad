//! Log setup: env_logger (`RUST_LOG`, default `info,may=warn`) in the original apiphant's shape,
//! `INFO at module:line [2026-11-21 16:02:51,466] message`, on stderr.

use std::io::Write;

/// Installs the logger once; later calls do nothing.
pub fn init() {
    let mut builder = env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("info,may=warn"),
    );
    builder.format(|out, record| {
        let time = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S,%3f");
        let module = record.module_path().unwrap_or_else(|| record.target());
        match record.line() {
            Some(line) => writeln!(
                out,
                "{} at {module}:{line} [{time}] {}",
                record.level(),
                record.args()
            ),
            None => writeln!(
                out,
                "{} at {module} [{time}] {}",
                record.level(),
                record.args()
            ),
        }
    });
    let _ = builder.try_init();
}
