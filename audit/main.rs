//! The `egress-audit` command: arguments in, a stage pipeline from the library, an exit code out.

mod cli;

fn main() {
    std::process::exit(cli::run());
}
