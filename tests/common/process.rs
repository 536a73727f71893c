//! Processes that tests start (the server binary, the lessons, the tools): each one ends
//! with its test, pass or fail.
//!
//! Two guards, because `std::process::Child` neither kills nor reaps on drop:
//! - [`KillOnDrop`] (and `kill_on_drop(true)` for Tokio's commands) kills and reaps the
//!   process when the test lets go of it, which includes unwinding from a failed
//!   assertion;
//! - [`command`] asks the kernel to SIGKILL the process when the thread that started
//!   it ends (`PR_SET_PDEATHSIG`), which covers a test process that is itself killed.
//!   Every test runs on a thread of its own, so start processes from the test's thread
//!   (or a `#[tokio::test]`'s, the same thread), not from a pooled one that may end
//!   early.
//!
//! tests/cli.rs checks both, and `.ci/run` checks after the suite that nothing started
//! from the target directory is still running.

use std::{
    ffi::OsStr,
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Child, Output},
};

/// A command for `program` whose process the kernel kills when the calling thread ends.
pub fn command(program: impl AsRef<OsStr>) -> std::process::Command {
    let mut command = std::process::Command::new(program);
    // SAFETY: the closure runs in the child between fork and exec; prctl(2) is
    // async-signal-safe and the closure touches no memory shared with the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

/// [`command`] for Tokio, also killed when its `Child` (or the future of `output()`)
/// is dropped.
pub fn tokio_command(program: impl AsRef<OsStr>) -> tokio::process::Command {
    let mut command = tokio::process::Command::from(self::command(program));
    command.kill_on_drop(true);
    command
}

/// A child process that is killed (SIGKILL) and reaped when this is dropped.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // Both fail harmlessly when the process has already exited and been reaped.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The path of a binary of the workspace: the server (`grpc-showcase`), a lesson
/// (`greeter` ...) or a tool (`load` ...), in the target directory of this test binary.
/// `cargo test` from the repository's root builds them all (the lessons and tools are
/// built for their own packages' tests).
pub fn workspace_binary(name: &str) -> PathBuf {
    let test_binary = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test binary>
    let path = test_binary
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run the suite with `cargo test` from the repository's root, \
         which builds every package's binaries",
        path.display()
    );
    path
}

/// Runs the binary `name` with `args` to its end, failing the test unless it succeeds;
/// returns its standard output.
pub async fn run_binary(name: &str, args: &[&str]) -> String {
    let output: Output = tokio_command(workspace_binary(name))
        .args(args)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{name} failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Runs lesson or tool `name` against the server at `addr` (`http://host:port`), with
/// `args`.
pub async fn run_client(name: &str, addr: &str, args: &[&str]) -> String {
    let all: Vec<&str> = ["--addr", addr].iter().chain(args).copied().collect();
    run_binary(name, &all).await
}

/// Whether process `pid` is gone: exited and reaped, so `kill(pid, 0)` finds nothing.
pub fn is_gone(pid: u32) -> bool {
    let pid = libc::pid_t::try_from(pid).unwrap();
    // SAFETY: signal 0 sends nothing; it only checks that the process exists.
    let result = unsafe { libc::kill(pid, 0) };
    result == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// A port of 127.0.0.1 free now (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
