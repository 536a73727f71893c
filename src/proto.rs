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

/// `proto/model.proto`: inference on the ONNX models.
pub mod model {
    tonic::include_proto!("model");
}

pub mod inference {
    tonic::include_proto!("inference");
}

/// `proto/fraud_detection.proto`: fraud scoring of card transactions.
pub mod fraud_detection {
    tonic::include_proto!("fraud_detection");
}

/// `proto/feedback.proto`: streamed feedback, stored and watched.
pub mod feedback {
    tonic::include_proto!("feedback");
}

/// `proto/video.proto`: image filters on streams of video frames.
pub mod video {
    tonic::include_proto!("video");
}

/// `proto/echo.proto`: grpc-go's echo service, behaviours chosen in metadata.
pub mod echo {
    tonic::include_proto!("grpc.examples.echo");
}

/// `proto/seeds/`: the seeds' package-less `Greeter`, `FeedbackService` and
/// `Calculator`, as the articles print them (prost puts the empty package in `_`).
pub mod seeds {
    tonic::include_proto!("_");
}

/// `proto/grpc/testing/`: the gRPC interop tests' TestService and UnimplementedService.
pub mod interop {
    tonic::include_proto!("grpc.testing");
}

/// The encoded `FileDescriptorSet` of every file under `proto/`, with source info kept,
/// so that reflection clients (`grpcurl describe`) see the proto comments.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/descriptor_set.bin"));
