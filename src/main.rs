//! The `grpc-showcase` binary: parse the command line, start logging, run the server
//! until SIGINT or SIGTERM.

use std::{io::IsTerminal, process::ExitCode};

use clap::Parser;
use grpc_showcase::{
    config::{Config, LogFormat},
    server::{self, Server},
};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
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
