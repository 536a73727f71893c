//! The deployment files of `deploy/`: every Kubernetes manifest parses into the API's
//! own types with no field left over (a typo fails here, not at `kubectl apply`), the
//! files agree with each other and with the server's flags, and the compose file and
//! Dockerfile name things that exist.

mod common;

use std::{collections::BTreeSet, path::Path, time::Duration};

use common::{process::command, running::server_binary};
use grpc_showcase::domain::feedback::StoreLocation;
use k8s_openapi::{
    api::{
        apps::v1::Deployment,
        autoscaling::v2::HorizontalPodAutoscaler,
        core::v1::{Container, Secret, Service},
        policy::v1::PodDisruptionBudget,
    },
    apimachinery::pkg::util::intstr::IntOrString,
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;

const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy");

/// Every manifest of `deploy/kubernetes`, by kind.
#[derive(Default)]
struct Manifests {
    deployments: Vec<Deployment>,
    services: Vec<Service>,
    secrets: Vec<Secret>,
    budgets: Vec<PodDisruptionBudget>,
    autoscalers: Vec<HorizontalPodAutoscaler>,
}

/// `document` as a `T`, failing when any field of the file is unknown to the type:
/// k8s-openapi 0.29 ignores unknown fields when it deserializes, so the typed value is
/// serialized again and must give back the document.
fn typed<T: DeserializeOwned + Serialize>(document: &Value, file: &str) -> T {
    let value: T =
        serde_json::from_value(document.clone()).unwrap_or_else(|err| panic!("{file}: {err}"));
    let again = serde_json::to_value(&value).unwrap();
    if let Some(path) = first_difference(document, &again, String::new()) {
        panic!("{file}: {path} is not a field of the Kubernetes API (or has the wrong type)");
    }
    value
}

/// The path of the first place where `written` has something `parsed` has not.
fn first_difference(written: &Value, parsed: &Value, path: String) -> Option<String> {
    match (written, parsed) {
        (Value::Object(written), Value::Object(parsed)) => {
            written.iter().find_map(|(key, value)| {
                let path = format!("{path}.{key}");
                match parsed.get(key) {
                    Some(parsed) => first_difference(value, parsed, path),
                    None => Some(path),
                }
            })
        }
        (Value::Array(written), Value::Array(parsed)) if written.len() == parsed.len() => written
            .iter()
            .zip(parsed)
            .enumerate()
            .find_map(|(i, (w, p))| first_difference(w, p, format!("{path}[{i}]"))),
        _ => (written != parsed).then_some(path),
    }
}

fn manifests() -> Manifests {
    let mut manifests = Manifests::default();
    let mut files: Vec<_> = std::fs::read_dir(Path::new(DEPLOY).join("kubernetes"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(file.ends_with(".yaml"), "{file}: only .yaml manifests here");
        let text = std::fs::read_to_string(&path).unwrap();
        for document in serde_yaml_ng::Deserializer::from_str(&text) {
            let document = Value::deserialize(document).unwrap_or_else(|e| panic!("{file}: {e}"));
            let kind = document["kind"].as_str().unwrap_or_default().to_owned();
            match kind.as_str() {
                "Deployment" => manifests.deployments.push(typed(&document, &file)),
                "Service" => manifests.services.push(typed(&document, &file)),
                "Secret" => manifests.secrets.push(typed(&document, &file)),
                "PodDisruptionBudget" => manifests.budgets.push(typed(&document, &file)),
                "HorizontalPodAutoscaler" => manifests.autoscalers.push(typed(&document, &file)),
                other => panic!("{file}: a {other:?} is not expected in deploy/kubernetes"),
            }
        }
    }
    manifests
}

/// The environment variables the server reads, from its --help.
fn known_variables() -> BTreeSet<String> {
    let output = command(server_binary()).arg("--help").output().unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    help.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("GRPC_SHOWCASE_"))
        .map(str::to_owned)
        .collect()
}

fn seconds(text: &str) -> Duration {
    humantime::parse_duration(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn env<'a>(container: &'a Container, name: &str) -> Option<&'a str> {
    container
        .env
        .iter()
        .flatten()
        .find(|var| var.name == name)
        .and_then(|var| var.value.as_deref())
}

#[test]
fn the_kubernetes_manifests_are_valid_and_agree() {
    let manifests = manifests();
    let [deployment] = manifests.deployments.as_slice() else {
        panic!("one Deployment");
    };
    let name = deployment.metadata.name.as_deref().unwrap();
    let spec = deployment.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(3));
    let labels = spec
        .template
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .clone()
        .unwrap();
    assert_eq!(spec.selector.match_labels.as_ref(), Some(&labels));
    let pod = spec.template.spec.as_ref().unwrap();
    assert_eq!(
        pod.security_context.as_ref().unwrap().run_as_non_root,
        Some(true)
    );
    let [container] = pod.containers.as_slice() else {
        panic!("one container");
    };
    let ports = container.ports.clone().unwrap();
    let grpc = ports
        .iter()
        .find(|p| p.name.as_deref() == Some("grpc"))
        .unwrap();
    assert_eq!(
        env(container, "GRPC_SHOWCASE_LISTEN"),
        Some(format!("0.0.0.0:{}", grpc.container_port).as_str())
    );

    // The kubelet's gRPC probes reach the health service on the container's port.
    for (which, probe) in [
        ("startup", &container.startup_probe),
        ("readiness", &container.readiness_probe),
        ("liveness", &container.liveness_probe),
    ] {
        let probe = probe.as_ref().unwrap_or_else(|| panic!("a {which} probe"));
        let action = probe
            .grpc
            .as_ref()
            .unwrap_or_else(|| panic!("{which}: grpc"));
        assert_eq!(action.port, grpc.container_port, "{which} probe port");
    }
    assert!(container.resources.as_ref().unwrap().requests.is_some());

    // preStop sleep + --shutdown-grace fit in the termination grace period.
    let pre_stop = container
        .lifecycle
        .as_ref()
        .and_then(|l| l.pre_stop.as_ref())
        .and_then(|h| h.sleep.as_ref())
        .map_or(0, |sleep| sleep.seconds);
    let grace = seconds(env(container, "GRPC_SHOWCASE_SHUTDOWN_GRACE").unwrap());
    let termination = pod.termination_grace_period_seconds.unwrap();
    assert!(
        Duration::from_secs(pre_stop as u64) + grace < Duration::from_secs(termination as u64),
        "preStop {pre_stop} s + grace {grace:?} must be under {termination} s"
    );

    // Every variable is one the server reads; the store's URL comes from the Secret.
    let known = known_variables();
    for var in container.env.iter().flatten() {
        assert!(
            known.contains(&var.name),
            "{} is not a server variable",
            var.name
        );
    }
    let store = container
        .env
        .iter()
        .flatten()
        .find(|var| var.name == "GRPC_SHOWCASE_FEEDBACK_STORE")
        .and_then(|var| var.value_from.as_ref()?.secret_key_ref.as_ref())
        .expect("the store's URL from a Secret");
    let secret = manifests
        .secrets
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some(store.name.as_str()))
        .expect("the Secret the Deployment names");
    let url = &secret.string_data.as_ref().unwrap()[&store.key];
    assert!(
        matches!(url.parse(), Ok(StoreLocation::Postgres(_))),
        "{url}"
    );

    // Both Services select the pods and reach the named port; one is headless.
    assert_eq!(manifests.services.len(), 2);
    for service in &manifests.services {
        let spec = service.spec.as_ref().unwrap();
        assert_eq!(spec.selector.as_ref(), Some(&labels));
        for port in spec.ports.iter().flatten() {
            assert_eq!(port.target_port, Some(IntOrString::String("grpc".into())));
            assert_eq!(port.port, grpc.container_port);
        }
    }
    assert!(
        manifests
            .services
            .iter()
            .any(|s| { s.spec.as_ref().unwrap().cluster_ip.as_deref() == Some("None") })
    );

    let [budget] = manifests.budgets.as_slice() else {
        panic!("one PodDisruptionBudget");
    };
    let budget = budget.spec.as_ref().unwrap();
    assert_eq!(
        budget.selector.as_ref().unwrap().match_labels.as_ref(),
        Some(&labels)
    );
    assert_eq!(budget.max_unavailable, Some(IntOrString::Int(1)));

    let [autoscaler] = manifests.autoscalers.as_slice() else {
        panic!("one HorizontalPodAutoscaler");
    };
    let autoscaler = autoscaler.spec.as_ref().unwrap();
    assert_eq!(autoscaler.scale_target_ref.kind, "Deployment");
    assert_eq!(autoscaler.scale_target_ref.name, name);
    assert_eq!(autoscaler.min_replicas, spec.replicas);
}

#[test]
fn a_typo_in_a_manifest_is_caught() {
    let document: Value = serde_yaml_ng::from_str(
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: x}\n\
         spec: {maxUnavailabel: 1}\n",
    )
    .unwrap();
    let caught = std::panic::catch_unwind(|| typed::<PodDisruptionBudget>(&document, "typo.yaml"));
    let message = *caught.unwrap_err().downcast::<String>().unwrap();
    assert!(message.contains(".spec.maxUnavailabel"), "{message}");
}

#[test]
fn the_compose_file_runs_three_replicas_on_postgres() {
    let text = std::fs::read_to_string(Path::new(DEPLOY).join("compose.yaml")).unwrap();
    let compose: Value = serde_yaml_ng::from_str(&text).unwrap();
    let server = &compose["services"]["grpc-showcase"];
    assert_eq!(server["deploy"]["replicas"], 3);
    let known = known_variables();
    let environment = server["environment"].as_object().unwrap();
    for name in environment.keys() {
        assert!(known.contains(name), "{name} is not a server variable");
    }
    let url = environment["GRPC_SHOWCASE_FEEDBACK_STORE"]
        .as_str()
        .unwrap();
    let Ok(StoreLocation::Postgres(_)) = url.parse() else {
        panic!("{url}");
    };
    assert!(
        url.contains("@postgres:5432/"),
        "the compose service's own name: {url}"
    );
    let postgres = &compose["services"]["postgres"]["environment"];
    for (field, part) in [
        ("POSTGRES_USER", "//"),
        ("POSTGRES_PASSWORD", ":"),
        ("POSTGRES_DB", "/"),
    ] {
        let value = postgres[field].as_str().unwrap();
        assert!(
            url.contains(&format!("{part}{value}")),
            "{field} {value} in {url}"
        );
    }
    assert_eq!(
        server["depends_on"]["postgres"]["condition"],
        "service_healthy"
    );
    let grace = seconds(
        environment["GRPC_SHOWCASE_SHUTDOWN_GRACE"]
            .as_str()
            .unwrap(),
    );
    assert!(seconds(server["stop_grace_period"].as_str().unwrap()) > grace);
    let context = Path::new(DEPLOY).join(server["build"]["context"].as_str().unwrap());
    assert!(
        context
            .join(server["build"]["dockerfile"].as_str().unwrap())
            .is_file()
    );
}

#[test]
fn the_dockerfile_builds_locked_and_runs_unprivileged() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("deploy/Dockerfile")).unwrap();
    let known = known_variables();
    let mut stages = 0;
    let mut user = None;
    for line in text.lines().map(str::trim) {
        let (instruction, rest) = line.split_once(' ').unwrap_or((line, ""));
        match instruction {
            "FROM" => stages += 1,
            "USER" => user = Some(rest.to_owned()),
            "COPY" if !rest.starts_with("--from") => {
                let source = rest.split_whitespace().next().unwrap();
                assert!(root.join(source).exists(), "COPY {source}: no such path");
            }
            "ENV" => {
                for name in rest.split_whitespace().filter_map(|a| a.split_once('=')) {
                    assert!(
                        known.contains(name.0),
                        "ENV {} is not a server variable",
                        name.0
                    );
                }
            }
            _ => {}
        }
        if let Some(name) = line
            .strip_prefix("GRPC_SHOWCASE_")
            .and_then(|l| l.split_once('='))
        {
            let name = format!("GRPC_SHOWCASE_{}", name.0);
            assert!(known.contains(&name), "{name} is not a server variable");
        }
    }
    assert!(stages >= 2, "a multi-stage build");
    let user = user.expect("a USER");
    assert!(
        !user.starts_with('0') && !user.starts_with("root"),
        "USER {user}"
    );
    assert!(text.contains("cargo build --release --locked"));
    assert!(text.contains("COPY models"));
}
