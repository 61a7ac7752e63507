//! The `holt` binary.

fn main() -> std::process::ExitCode {
    holt::cli::main()
}
