fn main() -> std::process::ExitCode {
    synchost::cli::main()
}
