//! The installed binary on its own, as a new user runs it (`cargo install --path .`,
//! then `grpc-showcase`): from an empty directory, with no flag but the port, it serves
//! the built-in models and keeps feedback in the platform's data directory; and
//! `--models-dir` still serves a directory, or stops the start when it cannot be read.
//!
//! Every server here runs with a clean environment (no GRPC_SHOWCASE_* variable), HOME
//! and XDG_DATA_HOME in temporary directories: nothing is written to the real home.

mod common;

use std::{
    fs,
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    time::{Duration, Instant},
};

use common::{
    process::{KillOnDrop, command},
    running::Running,
};
use grpc_showcase::proto::{
    feedback::{
        FeedbackRequest, ListFeedbackRequest, feedback_service_client::FeedbackServiceClient,
    },
    model::{ListModelsRequest, PredictRequest, model_inference_client::ModelInferenceClient},
};
use serde::Deserialize;
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

const SERVER: &str = env!("CARGO_BIN_EXE_grpc-showcase");

fn shipped_models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
}

/// The server binary, started in `workdir` with only the environment `env` and the
/// flags `args` (plus `--listen 127.0.0.1:0`); killed when dropped.
struct Started(Running);

impl Started {
    fn new(workdir: &Path, env: &[(&str, &Path)], args: &[&str]) -> Self {
        let mut server = command(SERVER);
        server
            .env_clear()
            .envs(env.iter().copied())
            .current_dir(workdir)
            .args(["--listen", "127.0.0.1:0"])
            .args(args);
        Self(Running::spawn(server, None))
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(self.0.url())
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// Whether a startup log line, up to and with "listening on", contains `text`.
    fn logged(&self, text: &str) -> bool {
        self.startup().iter().any(|line| line.contains(text))
    }

    /// The log lines up to and with "listening on".
    fn startup(&self) -> Vec<&str> {
        let before = self.0.startup.iter().map(String::as_str);
        before.chain([self.0.listening.as_str()]).collect()
    }

    /// The services of the "listening on" line: `services=["a.B", "c.D"]`.
    fn services(&self) -> Vec<String> {
        let line = &self.0.listening;
        let (_, list) = line.split_once("services=[").expect(line);
        let list = list.split(']').next().unwrap();
        list.split(", ")
            .map(|name| name.trim_matches('"').to_owned())
            .collect()
    }
}

/// Runs the server in `workdir` with `env` and `args` to its end (failing after 30 s);
/// its exit status and standard error.
fn run_to_exit(workdir: &Path, env: &[(&str, &Path)], args: &[&str]) -> (ExitStatus, String) {
    let mut server = command(SERVER);
    server
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(workdir)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = KillOnDrop(server.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the server did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut stderr).unwrap();
    (status, stderr)
}

/// The names of every entry of `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[derive(Deserialize)]
struct Reference {
    inputs: Vec<Vec<f64>>,
    outputs: Vec<Vec<f64>>,
}

async fn model_ids(server: &Started) -> Vec<(String, bool)> {
    let mut models = ModelInferenceClient::new(server.channel().await);
    let list = models.list_models(ListModelsRequest {}).await.unwrap();
    list.into_inner()
        .models
        .into_iter()
        .map(|model| (model.id, model.ready))
        .collect()
}

async fn health(server: &Started, service: &str) -> ServingStatus {
    let mut health = HealthClient::new(server.channel().await);
    let reply = health
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .unwrap_or_else(|status| panic!("{service}: {status:?}"));
    reply.into_inner().status()
}

#[tokio::test]
async fn from_an_empty_directory_it_serves_everything_and_keeps_data_in_xdg_data_home() {
    let workdir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let xdg = tempfile::tempdir().unwrap();
    let server = Started::new(
        workdir.path(),
        &[("HOME", home.path()), ("XDG_DATA_HOME", xdg.path())],
        &[],
    );
    assert!(
        server.logged("models: 4 built in (diabetes, digits, fraud, iris)"),
        "{:#?}",
        server.startup()
    );
    let database = xdg.path().join("grpc-showcase").join("feedback.sqlite3");
    assert!(
        server.logged(&format!("sqlite:{}", database.display())),
        "the startup log names the database: {:#?}",
        server.startup()
    );

    let services = server.services();
    for expected in [
        "fraud_detection.FraudDetectionService",
        "model.ModelInference",
        "feedback.FeedbackService",
    ] {
        assert!(services.iter().any(|s| s == expected), "{services:?}");
    }
    for service in services.iter().map(String::as_str).chain([""]) {
        assert_eq!(
            health(&server, service).await,
            ServingStatus::Serving,
            "{service}"
        );
    }

    let shipped = ["diabetes", "digits", "fraud", "iris"].map(|id| (id.to_owned(), true));
    assert_eq!(model_ids(&server).await, shipped);

    let text = fs::read_to_string(shipped_models().join("iris/reference.json")).unwrap();
    let reference: Reference = serde_json::from_str(&text).unwrap();
    let mut models = ModelInferenceClient::new(server.channel().await);
    let reply = models
        .predict(PredictRequest {
            model_id: "iris".into(),
            inputs: reference.inputs.concat(),
        })
        .await
        .unwrap()
        .into_inner();
    let want = reference.outputs.concat();
    assert_eq!(reply.outputs.len(), want.len());
    for (i, (got, want)) in reply.outputs.iter().zip(&want).enumerate() {
        assert!(
            (got - want).abs() <= 1e-5,
            "iris[{i}]: {got} vs onnxruntime {want}"
        );
    }

    // Feedback is stored, in $XDG_DATA_HOME/grpc-showcase, and nowhere else.
    let mut feedback = FeedbackServiceClient::new(server.channel().await);
    let request = FeedbackRequest {
        consumer_id: "new-user".into(),
        feedback: "It works out of the box, great!".into(),
        idempotency_key: String::new(),
    };
    let mut acks = feedback
        .send_feedback(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let ack = acks.message().await.unwrap().expect("an acknowledgement");
    assert!(ack.feedback_id > 0, "{ack:?}");
    let stored = feedback
        .list_feedback(ListFeedbackRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.feedback.len(), 1);
    assert!(database.is_file(), "{} is missing", database.display());
    assert!(
        entries(workdir.path()).is_empty(),
        "{:?}",
        entries(workdir.path())
    );
    assert!(
        entries(home.path()).is_empty(),
        "{:?}",
        entries(home.path())
    );
}

#[tokio::test]
async fn without_xdg_data_home_the_data_goes_to_home_local_share() {
    let workdir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let server = Started::new(workdir.path(), &[("HOME", home.path())], &[]);
    let database = home
        .path()
        .join(".local/share/grpc-showcase/feedback.sqlite3");
    assert!(database.is_file(), "{} is missing", database.display());
    assert!(
        entries(workdir.path()).is_empty(),
        "{:?}",
        entries(workdir.path())
    );
    // --data-dir still wins, relative to the working directory.
    drop(server);
    let elsewhere = tempfile::tempdir().unwrap();
    let _server = Started::new(
        elsewhere.path(),
        &[("HOME", home.path())],
        &["--data-dir", "mine"],
    );
    assert!(elsewhere.path().join("mine/feedback.sqlite3").is_file());
}

#[tokio::test]
async fn a_models_directory_of_one_model_serves_that_model_only() {
    let workdir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let models = tempfile::tempdir().unwrap();
    let iris = models.path().join("iris");
    fs::create_dir(&iris).unwrap();
    for file in ["model.json", "model.onnx"] {
        fs::copy(shipped_models().join("iris").join(file), iris.join(file)).unwrap();
    }
    let dir = models.path().to_str().unwrap();
    let env = [("HOME", home.path()), ("XDG_DATA_HOME", home.path())];
    for server in [
        Started::new(workdir.path(), &env, &["--models-dir", dir]),
        // The environment variable is the same setting.
        Started::new(
            workdir.path(),
            &[("GRPC_SHOWCASE_MODELS_DIR", models.path()), env[0], env[1]],
            &[],
        ),
    ] {
        assert!(
            server.logged(&format!("models: {dir} (1: iris)")),
            "{:#?}",
            server.startup()
        );
        assert_eq!(model_ids(&server).await, [("iris".to_owned(), true)]);
        // No fraud model: its service says so, the others serve.
        let fraud = "fraud_detection.FraudDetectionService";
        assert_eq!(health(&server, fraud).await, ServingStatus::NotServing);
        assert_eq!(
            health(&server, "model.ModelInference").await,
            ServingStatus::Serving
        );
    }
}

#[test]
fn a_models_directory_that_cannot_be_read_stops_the_start_with_status_2() {
    let workdir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let missing = workdir.path().join("no-such-models");
    let env = [("HOME", home.path()), ("XDG_DATA_HOME", home.path())];
    let flag = run_to_exit(
        workdir.path(),
        &env,
        &["--models-dir", missing.to_str().unwrap()],
    );
    let variable = run_to_exit(
        workdir.path(),
        &[("GRPC_SHOWCASE_MODELS_DIR", &missing), env[0], env[1]],
        &[],
    );
    let relative = run_to_exit(workdir.path(), &env, &["--models-dir", "models"]);
    for ((status, stderr), path) in [
        (flag, missing.display().to_string()),
        (variable, missing.display().to_string()),
        (relative, "models".to_owned()),
    ] {
        assert_eq!(status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "--models-dir: cannot read the models directory {path}:"
            )),
            "{stderr}"
        );
        assert!(!stderr.contains("listening on"), "{stderr}");
    }
    // Nothing was created on the way out: no database, no directory.
    assert!(
        entries(workdir.path()).is_empty(),
        "{:?}",
        entries(workdir.path())
    );
    assert!(
        entries(home.path()).is_empty(),
        "{:?}",
        entries(home.path())
    );
}
