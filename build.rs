//! Compiles every `.proto` under `proto/` and its subdirectories with protox (pure Rust:
//! a fresh machine has no `protoc`) and generates the tonic servers and clients with
//! tonic-prost-build.
//!
//! The same descriptor set, with source info (the proto comments) kept, is written to
//! `$OUT_DIR/descriptor_set.bin`; server reflection serves it, which is how
//! `grpcurl describe` shows the comments.

use std::{
    env, fs,
    path::{Path, PathBuf},
};

/// Every `.proto` file under `dir`, in its subdirectories too (`proto/grpc/testing/`).
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
    let mut protos = protos_in(Path::new("proto"))?;
    // A stable order keeps the generated files and the descriptor set reproducible.
    protos.sort();

    let mut compiler = protox::Compiler::new(["proto"])?;
    compiler.include_source_info(true).include_imports(true);
    for proto in &protos {
        compiler.open_file(proto)?;
    }
    let fds = compiler.file_descriptor_set();

    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out_dir.join("descriptor_set.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    tonic_prost_build::configure().compile_fds(fds)?;

    println!("cargo:rerun-if-changed=proto");
    for proto in &protos {
        println!("cargo:rerun-if-changed={}", proto.display());
    }
    Ok(())
}
