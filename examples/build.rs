//! Generates the client code of every service from the server's own `../proto` files:
//! protox compiles them (pure Rust, so no `protoc` to install), and tonic-prost-build
//! writes the messages, a client and a server per service into `$OUT_DIR`, where each lesson
//! includes its package with `tonic::include_proto!("helloworld")`.

use std::{fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut protos: Vec<PathBuf> = fs::read_dir("../proto")?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    protos.retain(|path| path.extension().is_some_and(|ext| ext == "proto"));
    protos.sort();
    let descriptors = protox::compile(&protos, ["../proto"])?;
    // Clients, and servers too: the deadline lesson runs a small service of its own.
    tonic_prost_build::configure().compile_fds(descriptors)?;
    println!("cargo:rerun-if-changed=../proto");
    Ok(())
}
