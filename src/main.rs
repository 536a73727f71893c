//! The `grpc-showcase` binary: parse the command line, start logging, run the server
//! until SIGINT or SIGTERM.

use std::{io::IsTerminal, process::ExitCode};

use clap::Parser;
use grpc_showcase::{
    config::{Config, LogFormat},
    server::{self, ServeError, Server},
};
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc's malloc. Every call allocates and frees dozens of small
/// blocks (header maps, frames, boxed futures and bodies); under load glibc's malloc and
/// free were 13% of the server's CPU (perf, PredictFraud at 16 calls in flight), and
/// mimalloc, built for exactly this pattern, takes a fraction of that (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let config = Config::parse();
    match grpc_showcase::runtime::build(config.worker_threads) {
        Ok(runtime) => runtime.block_on(run(config)),
        Err(err) => {
            eprintln!("cannot start the async runtime: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Keeps the kernel from backing this process's memory with 2 MiB transparent huge
/// pages. mimalloc asks for them on its arenas (`madvise(MADV_HUGEPAGE)`: the v3
/// allocator's `allow_thp` option, on by default, as compiled by libmimalloc-sys 0.1.49),
/// and the server's heap is a few megabytes spread thinly over them: the idle release
/// server held 20.2 MB of anonymous memory with them and 3.9 MB without
/// (`/proc/PID/status` RssAnon after start and three calls). `PR_SET_THP_DISABLE`
/// overrides the madvise for the whole process. Best effort: a kernel without it (before
/// Linux 3.15) keeps its default.
///
/// It runs as an ELF constructor (`.init_array`), before Rust's runtime makes its first
/// allocation: called at the top of `main`, it came after mimalloc had already faulted
/// in its first huge page (7.3 MB RssAnon instead of 3.9).
#[used]
#[unsafe(link_section = ".init_array")]
static DISABLE_TRANSPARENT_HUGE_PAGES: extern "C" fn() = disable_transparent_huge_pages;

extern "C" fn disable_transparent_huge_pages() {
    // SAFETY: prctl(2) with PR_SET_THP_DISABLE reads only its integer arguments.
    let _ = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
}

/// Runs the server as `config` says until SIGINT or SIGTERM.
async fn run(config: Config) -> ExitCode {
    let filter = match EnvFilter::try_new(&config.log_level) {
        Ok(filter) => filter,
        Err(err) => {
            eprintln!("invalid --log-level {:?}: {err}", config.log_level);
            return ExitCode::from(2);
        }
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not in files or log collectors.
        .with_ansi(std::io::stderr().is_terminal());
    match config.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }

    let settings = match config.settings() {
        Ok(settings) => settings,
        Err(err) => {
            tracing::error!("--auth-tokens: {err}");
            return ExitCode::from(2);
        }
    };
    let server = match Server::bind_all(&config.listen, settings).await {
        Ok(server) => server,
        Err(err) => {
            tracing::error!("{err}");
            // A feedback store that cannot be opened or reached, or a models directory
            // that cannot be read, is a setting to fix (--feedback-store, --data-dir,
            // --models-dir), like an invalid flag: status 2.
            return match err {
                ServeError::Storage(_) | ServeError::Models(_) => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            };
        }
    };
    match server.serve(server::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            ExitCode::FAILURE
        }
    }
}
