//! The `oss` binary: everything lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    oss::cli::main()
}
