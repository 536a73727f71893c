//! The tools' command lines. (The tools against real servers are tested by the server's
//! tests/tools.rs; running these tests also makes Cargo build the tools' binaries for
//! it.)

use std::process::Command;

#[test]
fn every_tool_explains_its_flags() {
    for (path, flags) in [
        (
            env!("CARGO_BIN_EXE_load"),
            &[
                "--addr",
                "--rpc",
                "--concurrency",
                "--duration",
                "--requests",
                "--server-pid",
                "--bare-headers",
                "--user-agent",
                "--accept-encoding",
                "--dump-frame",
            ][..],
        ),
        (
            env!("CARGO_BIN_EXE_bare_greeter"),
            &["--listen", "--current-thread"],
        ),
        (
            env!("CARGO_BIN_EXE_startup"),
            &["--addr", "--runs", "--timeout"],
        ),
    ] {
        let output = Command::new(path).arg("--help").output().unwrap();
        assert!(output.status.success(), "{path} --help failed");
        let help = String::from_utf8(output.stdout).unwrap();
        for flag in flags {
            assert!(help.contains(flag), "{path} --help lacks {flag}:\n{help}");
        }
    }
}
