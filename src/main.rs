//! The `grpc-showcase` binary: parse the command line, start logging, run the server
//! until SIGINT or SIGTERM.

use std::{io, io::IsTerminal, num::NonZeroUsize, process::ExitCode};

use clap::Parser;
use grpc_showcase::{
    config::{Config, LogFormat},
    server::{self, Server},
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
    match runtime(config.worker_threads) {
        Ok(runtime) => runtime.block_on(run(config)),
        Err(err) => {
            eprintln!("cannot start the async runtime: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The Tokio runtime for `worker_threads` threads (default: the CPUs this process may
/// use).
///
/// One thread gets the current-thread scheduler rather than a multi-thread scheduler
/// with one worker. Both run every task on one thread, but the multi-thread scheduler
/// runs a task woken by the running task next (its LIFO slot), so each call that
/// finishes wakes the connection's task at once and its reply goes out in a write of
/// its own. The current-thread scheduler runs woken tasks in the order they were woken:
/// the calls finished together (a batch of predictions, say) all reply before the
/// connection's task writes, in one write. Tokio can turn the LIFO slot off only
/// behind its unstable flag (`Builder::disable_lifo_slot`, tokio 1.x).
fn runtime(worker_threads: Option<NonZeroUsize>) -> io::Result<tokio::runtime::Runtime> {
    let threads = worker_threads
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, NonZeroUsize::get);
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    builder.enable_all().build()
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
    let server = match Server::bind(config.listen, settings).await {
        Ok(server) => server,
        Err(err) => {
            tracing::error!("{err}");
            return ExitCode::FAILURE;
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
