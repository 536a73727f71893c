//! A throwaway PostgreSQL for the replica tests: a cluster made with `initdb` in a
//! temporary directory and run with `pg_ctl` on a free port, or the database of
//! `GRPC_SHOWCASE_TEST_POSTGRES` (a URL) when it is set.
//!
//! The binaries are found on PATH or in Debian's `/usr/lib/postgresql/*/bin`. Without
//! them the tests are skipped, unless `GRPC_SHOWCASE_REQUIRE_POSTGRES=1` (CI) makes that
//! a failure. PostgreSQL refuses to run as root: as root, the cluster runs as the
//! `postgres` user that Debian's package creates.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
};

use super::process::free_port;

/// A PostgreSQL server for one test, with a database of its own.
pub struct Postgres {
    /// The cluster's directory, when this test started the server; `None` for
    /// `GRPC_SHOWCASE_TEST_POSTGRES`.
    cluster: Option<Cluster>,
    /// The URL of this test's database.
    url: String,
}

struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// The user the server runs as (`postgres` when the tests run as root).
    run_as: Option<String>,
    /// More server options (`-c name=value ...`).
    options: String,
}

impl Postgres {
    /// A fresh database; `None` (the test is skipped) when PostgreSQL is not installed
    /// and not required.
    pub fn start(test: &str) -> Option<Self> {
        if let Ok(url) = std::env::var("GRPC_SHOWCASE_TEST_POSTGRES") {
            return Some(Self::external(&url, test));
        }
        Self::cluster(None)
    }

    /// A cluster of this test's own that serves TLS (as well as plain connections) with
    /// this PEM certificate chain and key; `None` as [`Postgres::start`], and also with
    /// `GRPC_SHOWCASE_TEST_POSTGRES` (whose server's TLS this test cannot set).
    pub fn start_tls(cert: &str, key: &str) -> Option<Self> {
        if std::env::var_os("GRPC_SHOWCASE_TEST_POSTGRES").is_some() {
            eprintln!(
                "skipped: GRPC_SHOWCASE_TEST_POSTGRES is a server whose TLS this test cannot set"
            );
            return None;
        }
        Self::cluster(Some((cert, key)))
    }

    fn cluster(tls: Option<(&str, &str)>) -> Option<Self> {
        let Some(bin) = find_bin() else {
            assert!(
                std::env::var_os("GRPC_SHOWCASE_REQUIRE_POSTGRES").is_none(),
                "GRPC_SHOWCASE_REQUIRE_POSTGRES is set, but initdb and pg_ctl were not found \
                 (install Debian's postgresql package)"
            );
            eprintln!("skipped: PostgreSQL is not installed (Debian's postgresql package)");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("grpc-showcase-pg")
            .tempdir()
            .unwrap();
        let run_as = is_root().then(|| "postgres".to_owned());
        if run_as.is_some() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown the cluster directory to postgres");
        }
        let port = free_port();
        let mut options = String::new();
        if let Some((cert, key)) = tls {
            use std::os::unix::fs::PermissionsExt;
            let (cert_file, key_file) =
                (dir.path().join("server.crt"), dir.path().join("server.key"));
            std::fs::write(&cert_file, cert).unwrap();
            std::fs::write(&key_file, key).unwrap();
            // PostgreSQL refuses a key that others can read.
            std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
            if run_as.is_some() {
                let status = Command::new("chown")
                    .arg("postgres:postgres")
                    .args([&cert_file, &key_file])
                    .status()
                    .unwrap();
                assert!(status.success());
            }
            options = format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                cert_file.display(),
                key_file.display()
            );
        }
        let cluster = Cluster {
            dir,
            bin,
            port,
            run_as,
            options,
        };
        cluster.run(
            "initdb",
            &[
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--no-sync",
                "-D",
                &cluster.data().display().to_string(),
            ],
        );
        cluster.pg_ctl_start();
        let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        Some(Self {
            cluster: Some(cluster),
            url,
        })
    }

    /// A database of its own for `test` on the server of `url`.
    fn external(url: &str, test: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "showcase_{test}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let status = Command::new("psql")
            .args([url, "-q", "-c", &format!("CREATE DATABASE {name}")])
            .status()
            .unwrap();
        assert!(status.success(), "create database {name}");
        let (base, _) = url.rsplit_once('/').expect("a URL with a database name");
        Self {
            cluster: None,
            url: format!("{base}/{name}"),
        }
    }

    /// The port of this test's own cluster.
    pub fn port(&self) -> Option<u16> {
        self.cluster.as_ref().map(|cluster| cluster.port)
    }

    /// The URL of this test's database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether this test runs the server, and so may stop and restart it.
    pub fn can_restart(&self) -> bool {
        self.cluster.is_some()
    }

    /// Stops the server as a crash would (`pg_ctl stop -m immediate`: no checkpoint,
    /// recovery from the WAL at the next start).
    pub fn crash(&self) {
        let cluster = self.cluster.as_ref().expect("a cluster of this test's own");
        cluster.run(
            "pg_ctl",
            &[
                "stop",
                "-w",
                "-m",
                "immediate",
                "-D",
                &cluster.data().display().to_string(),
            ],
        );
    }

    /// Starts the server again on the same port.
    pub fn restart(&self) {
        self.cluster
            .as_ref()
            .expect("a cluster of this test's own")
            .pg_ctl_start();
    }
}

impl Cluster {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pg_ctl_start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200{}",
            self.port,
            self.dir.path().display(),
            self.options
        );
        self.run(
            "pg_ctl",
            &[
                "start",
                "-w",
                "-t",
                "30",
                "-D",
                &self.data().display().to_string(),
                "-l",
                &self.dir.path().join("log").display().to_string(),
                "-o",
                &options,
            ],
        );
    }

    /// One of PostgreSQL's programs, to run as the cluster's user.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        match &self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(&program);
                command
            }
            None => Command::new(&program),
        }
    }

    /// Runs one of PostgreSQL's programs, as the cluster's user; fails the test when it
    /// fails.
    fn run(&self, program: &str, args: &[&str]) {
        let output = self.command(program).args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(cluster) = &self.cluster {
            let data = cluster.data().display().to_string();
            let _ = cluster
                .command("pg_ctl")
                .args(["stop", "-m", "immediate", "-D", &data])
                .output();
        }
    }
}

/// The directory of `initdb` and `pg_ctl`.
fn find_bin() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>());
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("bin"));
    on_path
        .chain(debian)
        .find(|dir| has(dir, "initdb") && has(dir, "pg_ctl"))
        .map(|dir| {
            // Debian links /usr/bin programs to the versioned directory; use that one
            // so the two programs come from the same version.
            std::fs::canonicalize(dir.join("initdb"))
                .ok()
                .and_then(|initdb| initdb.parent().map(Path::to_owned))
                .unwrap_or(dir)
        })
}

fn has(dir: &Path, program: &str) -> bool {
    dir.join(program).is_file()
}

fn is_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
