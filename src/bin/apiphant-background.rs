//! `apiphant-background`: the background worker binary. Everything lives in the library;
//! see `src/background/cli.rs`.

fn main() -> std::process::ExitCode {
    apiphant::background::cli::main()
}
