fn main() -> std::process::ExitCode {
    klinivo::cli::main()
}
