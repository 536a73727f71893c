//! Code generated from `proto/` by `build.rs` (prost messages, tonic clients and
//! servers), and the descriptor set that server reflection serves.

#![allow(missing_docs)]

/// `proto/helloworld.proto`: the grpc.io quickstart's Greeter.
pub mod helloworld {
    tonic::include_proto!("helloworld");
}

/// `proto/calculator.proto`: arithmetic in all four RPC styles.
pub mod calculator {
    tonic::include_proto!("calculator");
}

/// The encoded `FileDescriptorSet` of every file under `proto/`, with source info kept,
/// so that reflection clients (`grpcurl describe`) see the proto comments.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/descriptor_set.bin"));
