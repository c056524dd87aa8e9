//! The `scoregeo` binary: a thin shell over [`scoregeo::cli`].

fn main() -> std::process::ExitCode {
    scoregeo::cli::main()
}
