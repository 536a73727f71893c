//! The command line: every flag also settable by an environment variable.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Parser, ValueEnum};

use crate::{server::Settings, video::Limits};

/// One gRPC server hosting the classic demo services on one port: helloworld.Greeter,
/// calculator.Calculator, model.ModelInference, fraud_detection.FraudDetectionService,
/// feedback.FeedbackService, video.VideoProcessing, grpc.health.v1.Health and server
/// reflection (v1 and v1alpha).
///
/// Explore it with grpcurl:  grpcurl -plaintext localhost:50051 list
#[derive(Debug, Clone, Parser)]
#[command(name = "grpc-showcase", version, about, long_about)]
// clap prints these doc comments verbatim as --help; `[::]:50051` there is an address,
// not a rustdoc link.
#[allow(rustdoc::broken_intra_doc_links)]
pub struct Config {
    /// The address and port to listen on. The default takes connections from this
    /// machine only; to take them from your network, bind all interfaces explicitly
    /// with 0.0.0.0:50051 (IPv4) or [::]:50051 (IPv6). Port 0 picks a free port.
    #[arg(long, env = "GRPC_SHOWCASE_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// Which logs to print: a level (error, warn, info, debug, trace) or per-module
    /// directives as in RUST_LOG, for example "info,grpc_showcase=debug".
    #[arg(long, env = "GRPC_SHOWCASE_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// How to print logs: human-readable text, or one JSON object per line for log
    /// collectors. Logs go to standard error.
    #[arg(long, env = "GRPC_SHOWCASE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// On SIGINT or SIGTERM, how long calls in flight may take to finish before the
    /// server closes their connections and exits, for example "10s", "500ms", "1m".
    #[arg(long, env = "GRPC_SHOWCASE_SHUTDOWN_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,

    /// The largest message, in bytes, that the server decodes or encodes. A request
    /// message over it gets RESOURCE_EXHAUSTED. Clients have their own limit (4 MiB in
    /// most gRPC libraries) for the replies they accept.
    #[arg(long, env = "GRPC_SHOWCASE_MAX_MESSAGE_SIZE", default_value_t = 4 * 1024 * 1024)]
    pub max_message_size: usize,

    /// The directory of the models to serve: one subdirectory per model, holding
    /// model.json (its metadata) and the ONNX file it names. Relative paths start from
    /// the working directory; the default is the shipped models of this repository.
    #[arg(long, env = "GRPC_SHOWCASE_MODELS_DIR", default_value = "models")]
    pub models_dir: PathBuf,

    /// The id of the model fraud_detection.FraudDetectionService scores with. Its
    /// model.json must give a decision threshold.
    #[arg(long, env = "GRPC_SHOWCASE_FRAUD_MODEL", default_value = "fraud")]
    pub fraud_model: String,

    /// The directory of the server's data: the feedback database (feedback.sqlite3),
    /// created with its schema on first start. Relative paths start from the working
    /// directory.
    #[arg(long, env = "GRPC_SHOWCASE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// The largest video frame the video service accepts, in pixels (width x height);
    /// the default is 4K UHD, 3840 x 2160. A JPEG or PNG frame is checked from its
    /// header, before it is decoded. A larger frame gets RESOURCE_EXHAUSTED.
    #[arg(long, env = "GRPC_SHOWCASE_MAX_FRAME_PIXELS", default_value_t = 3840 * 2160)]
    pub max_frame_pixels: u64,

    /// The largest video frame the video service accepts, in bytes of frame data; the
    /// default, 32 MiB, holds a raw 4K RGB frame (24.9 MB). The video service's message
    /// limit is this plus 1 KiB, instead of --max-message-size. Clients need a
    /// matching limit for the processed frames they receive.
    #[arg(long, env = "GRPC_SHOWCASE_MAX_FRAME_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_frame_bytes: usize,
}

/// The log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per event.
    Json,
}

impl Config {
    /// The server settings these flags give.
    pub fn settings(&self) -> Settings {
        Settings {
            max_message_size: self.max_message_size,
            shutdown_grace: self.shutdown_grace,
            models_dir: self.models_dir.clone(),
            fraud_model: self.fraud_model.clone(),
            data_dir: self.data_dir.clone(),
            frame_limits: Limits {
                max_pixels: self.max_frame_pixels,
                max_bytes: self.max_frame_bytes,
            },
            ..Settings::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_listen_on_loopback_only() {
        let config = Config::parse_from(["grpc-showcase"]);
        assert_eq!(config.listen, "127.0.0.1:50051".parse().unwrap());
        assert_eq!(config.settings().shutdown_grace, Duration::from_secs(10));
        assert_eq!(config.settings().max_message_size, 4 * 1024 * 1024);
        assert_eq!(config.settings().frame_limits, Limits::default());
    }

    #[test]
    fn flags_override_defaults() {
        let config = Config::parse_from([
            "grpc-showcase",
            "--listen",
            "0.0.0.0:6000",
            "--shutdown-grace",
            "1500ms",
            "--max-message-size",
            "1024",
            "--log-format",
            "json",
            "--max-frame-pixels",
            "307200",
            "--max-frame-bytes",
            "1000000",
        ]);
        assert_eq!(config.listen.port(), 6000);
        assert_eq!(config.shutdown_grace, Duration::from_millis(1500));
        assert_eq!(config.max_message_size, 1024);
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(
            config.settings().frame_limits,
            Limits {
                max_pixels: 640 * 480,
                max_bytes: 1_000_000
            }
        );
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Config::command().debug_assert();
    }
}
