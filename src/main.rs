fn main() -> std::process::ExitCode {
    rationale::cli::main()
}
