//! `helloworld.Greeter`: unary, server streaming and bidirectional streaming greetings.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::ResponseStream;
use crate::{
    domain::greeter::{self, NameError},
    domain::streams::ActiveStreams,
    proto::helloworld::{HelloReply, HelloRequest, greeter_server::Greeter},
};

/// The Greeter service.
#[derive(Debug, Clone)]
pub struct GreeterService {
    /// The pause between two replies of `SayHelloStreamReply`, so that a person
    /// watching grpcurl sees a stream arrive rather than one burst.
    reply_interval: Duration,
    /// Counts the streams this service is working on.
    streams: ActiveStreams,
}

impl GreeterService {
    /// A Greeter whose `SayHelloStreamReply` waits `reply_interval` between replies.
    pub fn new(reply_interval: Duration, streams: ActiveStreams) -> Self {
        Self {
            reply_interval,
            streams,
        }
    }
}

fn name_status(err: NameError) -> Status {
    super::invalid_argument("name", err.to_string())
}

#[tonic::async_trait]
impl Greeter for GreeterService {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let message = greeter::hello(&request.get_ref().name).map_err(name_status)?;
        Ok(Response::new(HelloReply { message }))
    }

    async fn say_hello_again(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let message = greeter::hello_again(&request.get_ref().name).map_err(name_status)?;
        Ok(Response::new(HelloReply { message }))
    }

    type SayHelloStreamReplyStream = ReceiverStream<Result<HelloReply, Status>>;

    async fn say_hello_stream_reply(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<Self::SayHelloStreamReplyStream>, Status> {
        let name = request.into_inner().name;
        // Validate before the stream starts, so a bad name is a plain error status.
        greeter::validate_name(&name).map_err(name_status)?;

        // The pattern of tonic's streaming example: a task feeds a small channel whose
        // receiving end is the response stream. The bound (4) is the back-pressure: the
        // task waits when the client reads slowly.
        let (tx, rx) = mpsc::channel(4);
        let guard = self.streams.open();
        let interval = self.reply_interval;
        tokio::spawn(async move {
            let _guard = guard;
            for (i, word) in greeter::GREETINGS.iter().enumerate() {
                if i > 0 {
                    tokio::select! {
                        // The client cancelled or went away: stop now, not at the next send.
                        () = tx.closed() => return,
                        () = tokio::time::sleep(interval) => {}
                    }
                }
                let reply = greeter::greet(word, &name)
                    .map(|message| HelloReply { message })
                    .map_err(name_status);
                if tx.send(reply).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    type SayHelloBidiStreamStream = ResponseStream<HelloReply>;

    async fn say_hello_bidi_stream(
        &self,
        request: Request<Streaming<HelloRequest>>,
    ) -> Result<Response<Self::SayHelloBidiStreamStream>, Status> {
        let mut names = request.into_inner();
        let guard = self.streams.open();
        // One loop reads a name and writes its greeting. When the client cancels, tonic
        // drops this stream, and with it the loop and the guard.
        let replies = async_stream::try_stream! {
            let _guard = guard;
            while let Some(HelloRequest { name }) = names.message().await? {
                let message = greeter::hello(&name).map_err(name_status)?;
                yield HelloReply { message };
            }
        };
        Ok(Response::new(Box::pin(replies)))
    }
}
