//! The `grpc-showcase` binary, started as a user starts it, for the tests of its
//! command line, signals and crash behaviour.

use std::{
    io::{BufRead, BufReader},
    process::Stdio,
    sync::mpsc,
    time::Duration,
};

use super::process::{KillOnDrop, command, workspace_binary};

/// The server binary's path.
pub fn server_binary() -> std::path::PathBuf {
    workspace_binary("grpc-showcase")
}

/// The server binary, started on a free port, with its log lines; killed when dropped.
pub struct Running {
    child: KillOnDrop,
    /// Where it listens, `host:port`.
    pub addr: String,
    logs: mpsc::Receiver<String>,
    /// The log lines before "listening on".
    pub startup: Vec<String>,
    /// The "listening on" line itself, with the services it names.
    pub listening: String,
    /// Its data directory, deleted with it (`None` when the test chose none).
    data: Option<tempfile::TempDir>,
}

impl Running {
    /// Starts the binary (listen address from the environment, as a deployment would
    /// set it) and waits for its "listening on" log line.
    pub fn start() -> Self {
        Self::start_with_data(tempfile::tempdir().unwrap())
    }

    /// Starts the binary on the data directory `data`.
    pub fn start_with_data(data: tempfile::TempDir) -> Self {
        Self::start_with(data, &[])
    }

    /// Starts the binary on the data directory `data` with extra flags `args`.
    pub fn start_with(data: tempfile::TempDir, args: &[&str]) -> Self {
        let mut server = command(server_binary());
        server
            .args(args)
            .env("GRPC_SHOWCASE_LISTEN", "127.0.0.1:0")
            .env("GRPC_SHOWCASE_DATA_DIR", data.path())
            .env("GRPC_SHOWCASE_SHUTDOWN_GRACE", "5s");
        Self::spawn(server, Some(data))
    }

    /// Starts `server` (a command of the binary, its flags and environment set; its
    /// standard error is read here) and waits for its "listening on" log line; `data`
    /// is deleted with it.
    pub fn spawn(mut server: std::process::Command, data: Option<tempfile::TempDir>) -> Self {
        let mut child = server
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start the server binary");
        let stderr = child.stderr.take().unwrap();
        let child = KillOnDrop(child);
        let (lines, logs) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut startup = Vec::new();
        let (addr, listening) = loop {
            let line = logs
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no \"listening on\" in the logs:\n{startup:#?}"));
            if let Some((_, rest)) = line.split_once("listening on ") {
                break (rest.split_whitespace().next().unwrap().to_owned(), line);
            }
            startup.push(line);
        };
        Self {
            child,
            addr,
            logs,
            startup,
            listening,
            data,
        }
    }

    /// `http://` and its address.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// Sends it `signal`.
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.pid()).unwrap();
        // SAFETY: kill(2) has no memory-safety preconditions; pid is our own child,
        // which has not been reaped yet (we have not waited on it).
        let result = unsafe { libc::kill(pid, signal) };
        assert_eq!(result, 0, "kill: {}", std::io::Error::last_os_error());
    }

    /// Kills the process with SIGKILL (no chance to clean up) and returns its data
    /// directory.
    pub fn kill_9(mut self) -> tempfile::TempDir {
        self.signal(libc::SIGKILL);
        self.child.0.wait().unwrap();
        self.data
            .take()
            .expect("a server started with a data directory")
    }

    /// Waits for the process to exit, failing after 20 s.
    pub fn wait(mut self) -> (std::process::ExitStatus, Vec<String>) {
        for _ in 0..2000 {
            if let Some(status) = self.child.0.try_wait().unwrap() {
                return (status, self.logs.try_iter().collect());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the server did not exit within 20 s");
    }
}
