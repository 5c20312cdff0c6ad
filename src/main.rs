//! `apiphant`: the server binary. Everything lives in the library; see `cli/`.

fn main() -> std::process::ExitCode {
    apiphant::cli::main()
}
