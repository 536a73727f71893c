//! Generates the code of every service from the server's own `../proto` files, clients
//! and servers (bare_greeter is a server), with protox (no `protoc` needed) and
//! tonic-prost-build.

use std::{fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut protos: Vec<PathBuf> = fs::read_dir("../proto")?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    protos.retain(|path| path.extension().is_some_and(|ext| ext == "proto"));
    protos.sort();
    let descriptors = protox::compile(&protos, ["../proto"])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    println!("cargo:rerun-if-changed=../proto");
    Ok(())
}
