//! Building grpc-go's feature-example clients once per test run, and running them: the
//! machinery of tests/grpc_go.rs.

use std::{
    os::fd::AsRawFd,
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use super::common::process::{command, tokio_command};

/// Where Debian's golang-google-grpc-dev puts grpc-go's examples.
const EXAMPLES: &str = "/usr/share/doc/golang-google-grpc-dev/examples";
/// Debian's GOPATH of packaged Go sources (grpc-go, protobuf, x/net, oauth2 ...).
const GOCODE: &str = "/usr/share/gocode";
/// The import path of the examples, where their imports resolve.
const IMPORT: &str = "google.golang.org/grpc/examples";
/// The clients built, by directory under the examples.
const CLIENTS: [&str; 16] = [
    "helloworld/greeter_client",
    "features/authentication/client",
    "features/cancellation/client",
    "features/compression/client",
    "features/deadline/client",
    "features/debugging/client",
    "features/encryption/TLS/client",
    "features/errors/client",
    "features/health/client",
    "features/interceptor/client",
    "features/keepalive/client",
    "features/load_balancing/client",
    "features/metadata/client",
    "features/multiplex/client",
    "features/name_resolving/client",
    "features/retry/client",
];
/// The token the authentication and interceptor clients send.
pub const TOKEN: &str = "some-secret-token";

/// The built clients: a GOPATH holding a copy of the examples, and a binary for each.
pub struct GoClients {
    /// The target directory's `grpc-go`.
    dir: PathBuf,
}

impl GoClients {
    /// The binary of `client` (a directory of [`CLIENTS`]).
    fn binary(&self, client: &str) -> PathBuf {
        self.dir.join("bin").join(client.replace('/', "-"))
    }

    /// A file of the examples' data directory, such as `x509/server_cert.pem`.
    pub fn data(&self, file: &str) -> String {
        let path = self
            .dir
            .join("gopath/src")
            .join(IMPORT)
            .join("data")
            .join(file);
        path.to_str().unwrap().to_owned()
    }
}

static BUILT: OnceLock<Option<GoClients>> = OnceLock::new();

/// The clients, built on first use; `None` (the test skips) without Go or the examples.
pub fn go_clients() -> Option<&'static GoClients> {
    BUILT.get_or_init(build).as_ref()
}

fn build() -> Option<GoClients> {
    let go_found = command("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    let missing = if !go_found {
        Some("go is not installed (Debian: golang-go)".to_owned())
    } else {
        [
            EXAMPLES.to_owned(),
            format!("{GOCODE}/src/google.golang.org/grpc"),
        ]
        .into_iter()
        .find(|dir| !Path::new(dir).is_dir())
        .map(|dir| format!("{dir} is missing (Debian: golang-google-grpc-dev)"))
    };
    if let Some(missing) = missing {
        assert!(
            std::env::var_os("GRPC_SHOWCASE_REQUIRE_GO").is_none(),
            "the grpc-go tests are required here, but {missing}"
        );
        eprintln!("skipped: {missing}");
        return None;
    }
    let started = Instant::now();
    // target/<profile>/deps/<this test> -> target/<profile>/grpc-go, kept between runs
    // so that `go build` finds its binaries up to date.
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap().join("grpc-go");
    std::fs::create_dir_all(&dir).unwrap();
    // One build at a time, should two test runs share the target directory.
    let lock = std::fs::File::create(dir.join("lock")).unwrap();
    // SAFETY: flock(2) on a descriptor we own; the lock goes with the file.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    // The examples import google.golang.org/grpc/examples/...: a GOPATH entry whose
    // google.golang.org/grpc holds them beside links to the packaged grpc-go (GOPATH
    // mode takes the first entry that has a package's directory).
    let grpc = dir.join("gopath/src/google.golang.org/grpc");
    let _ = std::fs::remove_dir_all(&grpc);
    copy_tree(Path::new(EXAMPLES), &grpc.join("examples"));
    let packaged = Path::new(GOCODE).join("src/google.golang.org/grpc");
    for entry in std::fs::read_dir(&packaged).unwrap().map_while(Result::ok) {
        if entry.file_name() != "examples" {
            std::os::unix::fs::symlink(entry.path(), grpc.join(entry.file_name())).unwrap();
        }
    }
    let go = |args: &[&str]| {
        let mut go = command("go");
        go.args(args)
            .current_dir(grpc.join("examples"))
            .env("GO111MODULE", "off")
            .env(
                "GOPATH",
                format!("{}:{GOCODE}", dir.join("gopath").display()),
            )
            .env("GOCACHE", dir.join("cache"))
            .env("GOFLAGS", "")
            .env("GOENV", "off")
            .env("GOPROXY", "off");
        go
    };
    // One client first, which fills the build cache with grpc-go; then the others in
    // parallel (a client already up to date takes a quarter of a second).
    let clients = GoClients { dir: dir.clone() };
    let build = |client: &str| {
        let out = clients.binary(client);
        let args = ["build", "-ldflags=-s -w", "-o", out.to_str().unwrap()];
        let output = go(&args).arg(format!("./{client}")).output().unwrap();
        assert!(
            output.status.success(),
            "go build ./{client} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    build(CLIENTS[0]);
    std::thread::scope(|scope| {
        for client in &CLIENTS[1..] {
            scope.spawn(|| build(client));
        }
    });
    eprintln!(
        "built {} grpc-go clients in {:?}",
        CLIENTS.len(),
        started.elapsed()
    );
    Some(clients)
}

/// Copies the tree `from` to `to`, a `.gz` file decompressed (Debian compresses large
/// documentation files).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().map_while(Result::ok) {
        let (path, name) = (
            entry.path(),
            entry.file_name().to_string_lossy().into_owned(),
        );
        if path.is_dir() {
            copy_tree(&path, &to.join(&name));
        } else if let Some(plain) = name.strip_suffix(".gz") {
            let mut gz = flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap());
            let mut file = std::fs::File::create(to.join(plain)).unwrap();
            std::io::copy(&mut gz, &mut file).unwrap();
        } else {
            std::fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}

/// What a client printed (standard output and error, in the order read) and how it
/// ended: `None` when it was stopped after printing what was awaited.
pub struct Run {
    /// Standard output and error.
    pub output: String,
    /// The exit status, `None` when stopped.
    pub status: Option<ExitStatus>,
}

impl Run {
    /// Fails unless every one of `lines` was printed.
    pub fn expect(&self, client: &str, lines: &[&str]) -> &Self {
        for line in lines {
            assert!(
                self.output.contains(line),
                "{client}: missing {line:?} in:\n{}",
                self.output
            );
        }
        self
    }

    /// Fails unless the client exited successfully.
    pub fn succeeded(&self, client: &str) {
        assert!(
            self.status.is_some_and(|s| s.success()),
            "{client} ended with {:?}:\n{}",
            self.status,
            self.output
        );
    }
}

/// Runs `client` with `args` until it exits, or, given `until`, until `until` holds of
/// what it has printed (then stops it: some clients never exit); fails after 30 s.
pub async fn run(
    clients: &GoClients,
    client: &str,
    args: &[&str],
    until: Option<&dyn Fn(&str) -> bool>,
) -> Run {
    let mut child = tokio_command(clients.binary(client))
        .args(args)
        // Go 1.18+ refuses the SHA-1 signatures of the examples' test CA without this.
        .env("GODEBUG", "x509sha1=1")
        // grpc-go 1.33 retries only when asked (features/retry/README.md).
        .env("GRPC_GO_RETRY", "on")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (send, mut lines) = tokio::sync::mpsc::unbounded_channel();
    fn forward(
        pipe: impl AsyncRead + Unpin + Send + 'static,
        send: &tokio::sync::mpsc::UnboundedSender<String>,
    ) {
        let send = send.clone();
        tokio::spawn(async move {
            let mut pipe = BufReader::new(pipe).lines();
            while let Ok(Some(line)) = pipe.next_line().await {
                let _ = send.send(line);
            }
        });
    }
    forward(child.stdout.take().unwrap(), &send);
    forward(child.stderr.take().unwrap(), &send);
    drop(send);
    let mut output = String::new();
    let limit = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let line = tokio::time::timeout_at(limit, lines.recv()).await;
        let Ok(line) = line else {
            panic!("{client} took over 30 s; it printed:\n{output}");
        };
        let Some(line) = line else { break };
        output.push_str(&line);
        output.push('\n');
        if until.is_some_and(|until| until(&output)) {
            child.kill().await.unwrap();
            return Run {
                output,
                status: None,
            };
        }
    }
    let status = tokio::time::timeout_at(limit, child.wait()).await;
    let status = status.expect("the client exits").unwrap();
    Run {
        output,
        status: Some(status),
    }
}
