//! The `egress-audit` command: arguments in, a stage pipeline from the library, an exit code out.

mod cli;

/// Replay allocates per flow and per name: mimalloc's thread-local free lists cost less than glibc's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(cli::run());
}
