//! The `oss` binary: everything lives in the library's `cli` module.

/// mimalloc instead of the system allocator: a plan of 100,000 nodes makes millions of small
/// allocations, and glibc's malloc and free were a third of its time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    oss::cli::main()
}
