//! Generates the code of every service from the server's own `../proto` files (with its
//! subdirectories: the interop client needs `grpc/testing/`), clients and servers
//! (bare_greeter is a server), with protox (no `protoc` needed) and tonic-prost-build.
//! Also gives the load tool tonic's version (TONIC_VERSION, from the workspace's
//! Cargo.lock), for the user-agent that tonic's Channel sends (load/transport.rs).

use std::{
    fs,
    path::{Path, PathBuf},
};

/// Every `.proto` file under `dir`, in its subdirectories too.
fn protos_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut protos = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            protos.extend(protos_in(&path)?);
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            protos.push(path);
        }
    }
    Ok(protos)
}

/// The version of tonic that Cargo.lock pins: the line after `name = "tonic"`.
fn tonic_version(lock: &str) -> Option<&str> {
    let mut lines = lock.lines();
    lines.find(|line| *line == "name = \"tonic\"")?;
    lines
        .next()?
        .strip_prefix("version = \"")?
        .strip_suffix('"')
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lock = fs::read_to_string("../Cargo.lock")?;
    let tonic = tonic_version(&lock).ok_or("no tonic in ../Cargo.lock")?;
    println!("cargo:rustc-env=TONIC_VERSION={tonic}");
    println!("cargo:rerun-if-changed=../Cargo.lock");
    let mut protos = protos_in(Path::new("../proto"))?;
    protos.sort();
    let descriptors = protox::compile(&protos, ["../proto"])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    println!("cargo:rerun-if-changed=../proto");
    Ok(())
}
