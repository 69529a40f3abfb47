//! The `inferload` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    inferload::app::main()
}
