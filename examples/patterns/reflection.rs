//! Lesson: server reflection. A server can describe itself: which services it hosts,
//! and every method's request and response types, as the descriptors compiled from its
//! .proto files (with their comments). grpcurl, Postman and evans work this way, with no
//! .proto file and no generated code for the services they call.
//!
//! ```text
//! cargo run --release                 # the server, in one terminal
//! cargo run --bin reflection          # this lesson, in another
//! cargo run --bin reflection -- --describe helloworld.Greeter
//! ```
//!
//! The only generated code here is the reflection service's own client (tonic-reflection).

#[path = "common.rs"]
mod common;

use clap::Parser;
use common::{notice, step};
use prost::Message;
use prost_types::{FileDescriptorProto, source_code_info::Location};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

/// Lists the services, then describes one.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: common::Server,
    /// The service to describe.
    #[arg(long, default_value = "grpc.examples.echo.Echo")]
    describe: String,
}

/// Asks the reflection service one question and returns its answer.
async fn ask(
    client: &mut ServerReflectionClient<tonic::transport::Channel>,
    request: MessageRequest,
) -> Result<MessageResponse, Box<dyn std::error::Error>> {
    let question = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    // The reflection RPC is a bidirectional stream: one answer per question.
    let mut answers = client
        .server_reflection_info(tokio_stream::iter([question]))
        .await?
        .into_inner();
    let answer = answers.message().await?.ok_or("no answer")?;
    answer
        .message_response
        .ok_or_else(|| "an empty answer".into())
}

/// The comment of the element at `path` in `file` (source info keeps comments by path).
fn comment<'a>(file: &'a FileDescriptorProto, path: &[i32]) -> Option<&'a str> {
    let locations = &file.source_code_info.as_ref()?.location;
    let found: Option<&Location> = locations.iter().find(|l| l.path == path);
    found
        .and_then(|l| l.leading_comments.as_deref())
        .map(str::trim)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut client = ServerReflectionClient::new(args.server.connect().await?);

    step("the services the server hosts");
    let MessageResponse::ListServicesResponse(list) =
        ask(&mut client, MessageRequest::ListServices(String::new())).await?
    else {
        return Err("not a service list".into());
    };
    for service in &list.service {
        println!("   {}", service.name);
    }

    step(&format!("the file that defines {}", args.describe));
    let answer = ask(
        &mut client,
        MessageRequest::FileContainingSymbol(args.describe.clone()),
    )
    .await?;
    let MessageResponse::FileDescriptorResponse(files) = answer else {
        return Err(format!("the server does not know {}", args.describe).into());
    };
    // The answer holds the file and the files it imports, each an encoded descriptor.
    for bytes in &files.file_descriptor_proto {
        let file = FileDescriptorProto::decode(bytes.as_slice())?;
        for (s, service) in file.service.iter().enumerate() {
            if format!("{}.{}", file.package(), service.name()) != args.describe {
                continue;
            }
            println!("   {} (from {})", args.describe, file.name());
            for (m, method) in service.method.iter().enumerate() {
                let style = match (method.client_streaming(), method.server_streaming()) {
                    (false, false) => "unary",
                    (false, true) => "server streaming",
                    (true, false) => "client streaming",
                    (true, true) => "bidirectional streaming",
                };
                println!(
                    "   rpc {}({}) returns ({}): {style}",
                    method.name(),
                    method.input_type(),
                    method.output_type()
                );
                // Path: file.service (6) [s] .method (2) [m].
                if let Some(text) = comment(&file, &[6, s as i32, 2, m as i32]) {
                    println!("       // {}", text.lines().next().unwrap_or_default());
                }
            }
        }
    }
    notice("the types, the streaming styles and the comments all came from the running server");
    Ok(())
}
