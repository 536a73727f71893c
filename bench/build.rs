//! Generates the code of every service from the server's own `../proto` files (with its
//! subdirectories: the interop client needs `grpc/testing/`), clients and servers
//! (bare_greeter is a server), with protox (no `protoc` needed) and tonic-prost-build.

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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut protos = protos_in(Path::new("../proto"))?;
    protos.sort();
    let descriptors = protox::compile(&protos, ["../proto"])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    println!("cargo:rerun-if-changed=../proto");
    Ok(())
}
