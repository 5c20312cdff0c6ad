//! Functional tests of the example product's typed targets (`plugins/users`,
//! `plugins/notes`, `plugins/typedecho`) against a running server, like
//! `examples/functional.rs` for the original's: `./test.sh` runs both (host, port and
//! version from `APIPHANT_TEST_HOST`, `APIPHANT_TEST_PORT`, `APIPHANT_TEST_VERSION`).
//! Every case runs; each failure names its line in examples/cases/typed.rs.

#[path = "cases/typed.rs"]
mod typed;

use apiphant::testing::Suite;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut t = Suite::new();
    typed::run(&mut t);
    t.finish()
}
