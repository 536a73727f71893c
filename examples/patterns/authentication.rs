//! Lesson: authentication. A client proves who it is with a bearer token in every
//! call's `authorization` metadata (call credentials); the server answers
//! UNAUTHENTICATED to a missing or unknown token, and PERMISSION_DENIED to a known
//! token that may not call that method.
//!
//! ```text
//! cargo run --release -- --auth-tokens examples/patterns/data/tokens.json   # the server
//! cargo run --bin authentication                                             # this lesson
//! ```
//!
//! The tokens file gives `lesson-admin` every service and `lesson-greeter` only
//! `helloworld.Greeter/SayHello`. (They are in the repository: demo tokens, not secrets.)

#[path = "common.rs"]
mod common;

/// The code build.rs generates from `proto/helloworld.proto`.
pub mod helloworld {
    tonic::include_proto!("helloworld");
}

use clap::Parser;
use common::{EchoClient, echo_request, notice, step};
use helloworld::{HelloRequest, greeter_client::GreeterClient};
use tonic::{Request, Status, metadata::MetadataValue, service::Interceptor};

/// Calls with no token, a limited token and an admin token.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: common::Server,
    /// A token that may call everything.
    #[arg(
        long,
        env = "GRPC_SHOWCASE_TOKEN",
        default_value = "lesson-admin-token-not-a-secret"
    )]
    admin_token: String,
    /// A token that may only call Greeter/SayHello.
    #[arg(long, default_value = "lesson-greeter-token-not-a-secret")]
    greeter_token: String,
}

/// Call credentials: the same `authorization: Bearer <token>` on every call of a client.
#[derive(Clone)]
struct Bearer(Option<MetadataValue<tonic::metadata::Ascii>>);

impl Bearer {
    fn token(token: &str) -> Result<Self, Box<dyn std::error::Error>> {
        Ok(Self(Some(format!("Bearer {token}").parse()?)))
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

fn outcome<T>(result: Result<T, Status>) -> String {
    match result {
        Ok(_) => "OK".to_owned(),
        Err(status) => format!("{:?}: {}", status.code(), status.message()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let channel = args.server.connect().await?;
    let callers = [
        ("no token", Bearer(None)),
        (
            "a wrong token",
            Bearer::token("not-a-token-the-server-knows")?,
        ),
        (
            "the greeter-only token",
            Bearer::token(&args.greeter_token)?,
        ),
        ("the admin token", Bearer::token(&args.admin_token)?),
    ];
    for (who, credentials) in callers {
        step(&format!("calls with {who}"));
        let mut greeter = GreeterClient::with_interceptor(channel.clone(), credentials.clone());
        let mut echo = EchoClient::with_interceptor(channel.clone(), credentials);
        let hello = greeter.say_hello(HelloRequest { name: "Ada".into() }).await;
        println!("   Greeter/SayHello: {}", outcome(hello));
        println!(
            "   Echo/UnaryEcho:   {}",
            outcome(echo.unary_echo(echo_request("hi", &[])).await)
        );
    }
    notice("no token or an unknown one: UNAUTHENTICATED (who are you?); a known token without");
    notice("the permission: PERMISSION_DENIED (you may not). Health and reflection need no token.");
    Ok(())
}
