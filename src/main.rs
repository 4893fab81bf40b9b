fn main() -> std::process::ExitCode {
    // Die quietly when stdout is a closed pipe (`rationale ... | head`), as Unix tools do,
    // instead of panicking on the failed write.
    #[cfg(unix)]
    // SAFETY: restoring the default SIGPIPE action before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    rationale::cli::keep_freed_memory();
    rationale::cli::main()
}
