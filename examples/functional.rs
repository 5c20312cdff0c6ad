//! The original's `test.py`, ported: functional tests of a running server with
//! `apiphant::testing`. `./test.sh` starts the server and runs this against it:
//! `cargo run --example functional` (host, port and version from `APIPHANT_TEST_HOST`,
//! `APIPHANT_TEST_PORT`, `APIPHANT_TEST_VERSION`; default 127.0.0.1:8001, v0). Every case
//! runs; each failure names its line in examples/cases/original.rs; the exit status is 1
//! if any failed.

#[path = "cases/original.rs"]
mod original;

use apiphant::testing::Suite;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut t = Suite::new();
    original::run(&mut t);
    t.finish()
}
