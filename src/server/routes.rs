//! The router of every hosted service (tonic's `Routes`, dispatching on the
//! `/package.Service/Method` path), each service set up with its message limits and
//! compression, and the descriptor sets that reflection serves.

use std::sync::Arc;

use tonic::{codec::CompressionEncoding, server::NamedService, service::Routes};

use super::{
    ServeError,
    compression::grpc::Compressed,
    settings::{Settings, video_message_limit},
};
use crate::{
    domain::{
        budget::MemoryBudget, feedback::FeedbackStore, health::HealthRegistry,
        models::ModelRegistry, streams::ActiveStreams,
    },
    proto::{
        self,
        calculator::calculator_server::CalculatorServer,
        echo::echo_server::EchoServer,
        feedback::feedback_service_server::FeedbackServiceServer,
        fraud_detection::fraud_detection_service_server::FraudDetectionServiceServer,
        helloworld::greeter_server::GreeterServer,
        inference::grpc_inference_service_server::GrpcInferenceServiceServer,
        interop::{
            test_service_server::TestServiceServer,
            unimplemented_service_server::UnimplementedServiceServer,
        },
        model::model_inference_server::ModelInferenceServer,
        seeds::{
            calculator_server::CalculatorServer as SeedCalculatorServer,
            feedback_service_server::FeedbackServiceServer as SeedFeedbackServer,
            greeter_server::GreeterServer as SeedGreeterServer,
        },
        video::video_processing_server::VideoProcessingServer,
    },
    services::{
        calculator::CalculatorService,
        echo::{EchoService, metadata::EchoMetadata},
        feedback::FeedbackService,
        fraud_detection::FraudService,
        greeter::GreeterService,
        health::HealthService,
        inference::InferenceService,
        interop::{InteropService, Unimplemented, wire::InteropWire},
        model::ModelService,
        seeds::{SeedCalculator, SeedFeedback, SeedGreeter},
        video::VideoService,
    },
};

/// Every descriptor set the server knows: ours, google.rpc's error details, health and
/// both reflection versions.
pub const DESCRIPTOR_SETS: [&[u8]; 5] = [
    proto::FILE_DESCRIPTOR_SET,
    tonic_types::pb::FILE_DESCRIPTOR_SET,
    tonic_health::pb::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
];

/// Lets `$server` (a generated tonic server) decompress requests sent with gzip, zstd
/// or deflate, and compresses its replies as `$policy` says ([`Compressed`]; tonic's
/// own `send_compressed` would gzip every reply for any client that can decode gzip).
macro_rules! with_compression {
    ($server:expr, $policy:expr) => {
        Compressed::new(
            $server
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .accept_compressed(CompressionEncoding::Deflate),
            $policy,
        )
    };
}

/// The router of every hosted service, and the full names of those services (as
/// registered with health); `host` is this machine's name, for the instance names.
pub(super) fn routes(
    settings: &Settings,
    health: &HealthRegistry,
    streams: &ActiveStreams,
    models: &Arc<ModelRegistry>,
    feedback: FeedbackStore,
    host: &str,
) -> Result<(Routes, Vec<String>), ServeError> {
    let limit = settings.max_message_size;
    // One budget for the replies of every service that makes large ones from small
    // requests (video frames, interop payloads).
    let memory = MemoryBudget::new(settings.stream_memory, settings.memory_budget);
    let echo = EchoServer::new(EchoService::new(streams.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let greeter = GreeterServer::new(GreeterService::new(
        settings.greeting_interval,
        streams.clone(),
    ))
    .max_decoding_message_size(limit)
    .max_encoding_message_size(limit);
    let calculator = CalculatorServer::new(CalculatorService::new(streams.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let model = ModelInferenceServer::new(ModelService::new(Arc::clone(models), streams.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let inference =
        GrpcInferenceServiceServer::new(InferenceService::new(Arc::clone(models), streams.clone()))
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit);
    let fraud = FraudDetectionServiceServer::new(FraudService::new(
        Arc::clone(models),
        settings.fraud_model.clone(),
    ))
    .max_decoding_message_size(limit)
    .max_encoding_message_size(limit);
    let seed_feedback =
        SeedFeedbackServer::new(SeedFeedback::new(feedback.clone(), streams.clone()))
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit);
    let feedback = FeedbackServiceServer::new(FeedbackService::new(feedback, streams.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let video_limit = video_message_limit(&settings.frame_limits);
    let video = VideoProcessingServer::new(VideoService::new(
        settings.frame_limits,
        streams.clone(),
        memory.clone(),
    ))
    .max_decoding_message_size(video_limit)
    .max_encoding_message_size(video_limit);
    let health_service = tonic_health::pb::health_server::HealthServer::new(HealthService::new(
        health.clone(),
        streams.clone(),
    ));

    // Every descriptor set goes to both reflection versions, so that a client speaking
    // either one lists and describes every service, both reflection services included.
    // (tonic-reflection 0.14.9's include_reflection_service adds only the version
    // being built.) google/rpc/error_details.proto is there so that grpcurl can decode
    // the google.rpc.BadRequest in our error details instead of printing raw bytes.
    let reflection = || {
        DESCRIPTOR_SETS.iter().fold(
            tonic_reflection::server::Builder::configure().include_reflection_service(false),
            |builder, set| builder.register_encoded_file_descriptor_set(set),
        )
    };
    let reflection_v1 = reflection().build_v1().map_err(ServeError::Reflection)?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .map_err(ServeError::Reflection)?;

    // The interop service's requests may ask for compressed replies whatever the
    // policy (its tests' CompressedResponse).
    let policy = settings.response_compression;
    let interop = Compressed::new(
        InteropWire::new(
            TestServiceServer::new(InteropService::new(
                settings
                    .instance_name
                    .clone()
                    .unwrap_or_else(|| host.to_owned()),
                host.to_owned(),
                streams.clone(),
                memory.clone(),
            ))
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            .accept_compressed(CompressionEncoding::Deflate),
        ),
        policy,
    )
    .on_request();
    let unimplemented = with_compression!(UnimplementedServiceServer::new(Unimplemented), policy);
    let instance = settings.instance_name.as_deref();
    let echo = EchoMetadata::new(with_compression!(echo, policy), instance, host)
        .map_err(|err| ServeError::Setting(format!("--instance-name {instance:?}: {err}")))?;
    let (greeter, calculator, model, fraud, inference) = (
        with_compression!(greeter, policy),
        with_compression!(calculator, policy),
        with_compression!(model, policy),
        with_compression!(fraud, policy),
        with_compression!(inference, policy),
    );
    let (feedback, video, health_service) = (
        with_compression!(feedback, policy),
        with_compression!(video, policy),
        with_compression!(health_service, policy),
    );
    // The seeds' package-less services (proto/seeds/), on the same code.
    let (seed_greeter, seed_feedback, seed_calculator) = (
        with_compression!(
            SeedGreeterServer::new(SeedGreeter)
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit),
            policy
        ),
        with_compression!(seed_feedback, policy),
        with_compression!(
            SeedCalculatorServer::new(SeedCalculator)
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit),
            policy
        ),
    );
    let (reflection_v1, reflection_v1alpha) = (
        with_compression!(reflection_v1, policy),
        with_compression!(reflection_v1alpha, policy),
    );

    let names = vec![
        name_of(&greeter),
        name_of(&echo),
        name_of(&interop),
        name_of(&unimplemented),
        name_of(&calculator),
        name_of(&model),
        name_of(&inference),
        name_of(&fraud),
        name_of(&feedback),
        name_of(&video),
        name_of(&seed_greeter),
        name_of(&seed_feedback),
        name_of(&seed_calculator),
        name_of(&health_service),
        name_of(&reflection_v1),
        name_of(&reflection_v1alpha),
    ];
    let routes = Routes::builder()
        .add_service(greeter)
        .add_service(echo)
        .add_service(interop)
        .add_service(unimplemented)
        .add_service(calculator)
        .add_service(model)
        .add_service(inference)
        .add_service(fraud)
        .add_service(feedback)
        .add_service(video)
        .add_service(seed_greeter)
        .add_service(seed_feedback)
        .add_service(seed_calculator)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .clone()
        .routes();
    Ok((routes, names))
}

/// Whether the requests of `service` (its full name) may ask for compressed replies,
/// whatever the policy: the interop service's (its tests' CompressedResponse).
pub fn compresses_on_request(service: &str) -> bool {
    service == <TestServiceServer<InteropService> as NamedService>::NAME
}

fn name_of<S: NamedService>(_: &S) -> String {
    name_of_type::<S>()
}

pub(super) fn name_of_type<S: NamedService>() -> String {
    S::NAME.to_owned()
}
