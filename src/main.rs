/// mimalloc rather than the system allocator: a request allocates and frees many small
/// buffers on whichever worker thread runs it, and glibc's malloc spent a quarter of the
/// server's CPU on `GET /patients/{id}` under load (bench/README.md, "Figures behind the decisions").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    klinivo::cli::main()
}
