//! `feedback.FeedbackService`: SendFeedback, WatchFeedback and ListFeedback over the
//! [`FeedbackStore`].

use futures::{Stream, StreamExt};
use tonic::{Code, Request, Response, Status, Streaming};

use super::ResponseStream;
use crate::domain::quote::quote;
use crate::{
    domain::feedback::{
        self, FeedbackStore, ListQuery, Sentiment, StoreError, WatchEvent,
        store::{NewFeedback, Receipt, StoredFeedback},
    },
    domain::streams::ActiveStreams,
    proto::feedback::{
        Feedback, FeedbackError, FeedbackRequest, FeedbackResponse, Lagged, ListFeedbackRequest,
        ListFeedbackResponse, WatchFeedbackEvent, WatchFeedbackRequest, feedback_service_server,
        watch_feedback_event::Event,
    },
};

/// How many feedbacks of one SendFeedback stream may wait for their commit at once.
/// They are answered in order; waiting together lets one commit (one disk sync) store
/// many of them.
const PIPELINE: usize = 64;
/// The default and largest ListFeedback page sizes.
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 500;

/// The feedback service.
#[derive(Debug, Clone)]
pub struct FeedbackService {
    /// Where feedback is stored.
    store: FeedbackStore,
    /// Counts the SendFeedback and WatchFeedback streams in progress.
    streams: ActiveStreams,
}

impl FeedbackService {
    /// A feedback service over `store`.
    pub fn new(store: FeedbackStore, streams: ActiveStreams) -> Self {
        Self { store, streams }
    }
}

fn store_status(err: StoreError) -> Status {
    Status::unavailable(err.to_string())
}

fn to_proto(f: &StoredFeedback) -> Feedback {
    Feedback {
        id: f.id,
        consumer_id: f.consumer_id.clone(),
        feedback: f.feedback.clone(),
        stored_at_unix_ms: f.stored_at_unix_ms,
        sentiment: f.sentiment.as_str().to_owned(),
        sentiment_score: f.sentiment_score,
    }
}

/// The filters of a watch or a page; INVALID_ARGUMENT for an unknown sentiment.
fn filters(consumer_id: String, sentiment: &str) -> Result<ListQuery, Status> {
    let sentiment = match sentiment {
        "" => None,
        label => Some(Sentiment::parse(label).ok_or_else(|| {
            super::invalid_argument(
                "sentiment",
                format!(
                    "unknown sentiment {}; use positive, neutral, negative or \"\"",
                    quote(label)
                ),
            )
        })?),
    };
    Ok(ListQuery {
        consumer_id: (!consumer_id.is_empty()).then_some(consumer_id),
        sentiment,
        ..ListQuery::default()
    })
}

/// One request on its way: refused at once, or queued for storage.
enum Pending {
    Refused(FeedbackResponse),
    Queued(u64, Receipt),
}

/// The longest idempotency key, bytes.
const MAX_IDEMPOTENCY_KEY_BYTES: usize = 128;

/// Validates, analyzes and queues one feedback (in request order).
async fn enqueue(
    store: &FeedbackStore,
    index: u64,
    request: FeedbackRequest,
) -> Result<Pending, Status> {
    let FeedbackRequest {
        consumer_id,
        feedback,
        idempotency_key,
    } = request;
    let key_too_long = (idempotency_key.len() > MAX_IDEMPOTENCY_KEY_BYTES).then(|| {
        format!(
            "idempotency_key is {} bytes; at most {MAX_IDEMPOTENCY_KEY_BYTES}",
            idempotency_key.len()
        )
    });
    if let Some(message) = key_too_long {
        return Ok(Pending::Refused(FeedbackResponse {
            index,
            error: Some(FeedbackError {
                code: Code::InvalidArgument as i32,
                message,
            }),
            ..FeedbackResponse::default()
        }));
    }
    if let Err(invalid) = feedback::validate(&consumer_id, &feedback) {
        return Ok(Pending::Refused(FeedbackResponse {
            index,
            error: Some(FeedbackError {
                code: Code::InvalidArgument as i32,
                message: invalid.message,
            }),
            ..FeedbackResponse::default()
        }));
    }
    let (sentiment, sentiment_score) = feedback::analyze(&feedback);
    let receipt = store
        .enqueue(NewFeedback {
            consumer_id,
            feedback,
            sentiment,
            sentiment_score,
            idempotency_key: (!idempotency_key.is_empty()).then_some(idempotency_key),
        })
        .await
        .map_err(store_status)?;
    Ok(Pending::Queued(index, receipt))
}

/// The response of a pending request once it is stored; a stream-ending status when
/// storage fails.
async fn respond(pending: Pending) -> Result<FeedbackResponse, Status> {
    let (index, receipt) = match pending {
        Pending::Refused(response) => return Ok(response),
        Pending::Queued(index, receipt) => (index, receipt),
    };
    let stored = receipt.stored().await.map_err(store_status)?;
    Ok(FeedbackResponse {
        response_message: feedback::reply(&stored.consumer_id, stored.id, stored.sentiment),
        feedback_id: stored.id,
        stored_at_unix_ms: stored.stored_at_unix_ms,
        sentiment: stored.sentiment.as_str().to_owned(),
        sentiment_score: stored.sentiment_score,
        index,
        error: None,
    })
}

/// The responses of a SendFeedback stream of `requests`, one per request, in order, each
/// once its feedback is stored (or refused, with `error` set). Seed 004's package-less
/// FeedbackService (`super::seeds`) answers from the same stream.
///
/// Requests are validated and queued one after the other (`then`), so they are stored
/// in the order sent; the waits for their commits overlap (`buffered`, up to
/// [`PIPELINE`]), and responses come out in request order. A failed read of the request
/// stream (oversized message, reset) passes through and ends it.
pub(super) fn acknowledgements(
    store: FeedbackStore,
    requests: impl Stream<Item = Result<FeedbackRequest, Status>> + Send + 'static,
) -> impl Stream<Item = Result<FeedbackResponse, Status>> + Send + 'static {
    requests
        .enumerate()
        .then(move |(index, request)| {
            let store = store.clone();
            async move { enqueue(&store, index as u64, request?).await }
        })
        .map(|pending| async move { respond(pending?).await })
        .buffered(PIPELINE)
}

#[tonic::async_trait]
impl feedback_service_server::FeedbackService for FeedbackService {
    type SendFeedbackStream = ResponseStream<FeedbackResponse>;

    async fn send_feedback(
        &self,
        request: Request<Streaming<FeedbackRequest>>,
    ) -> Result<Response<Self::SendFeedbackStream>, Status> {
        let responses = acknowledgements(self.store.clone(), request.into_inner());
        Ok(Response::new(Box::pin(self.streams.track(responses))))
    }

    type WatchFeedbackStream = ResponseStream<WatchFeedbackEvent>;

    async fn watch_feedback(
        &self,
        request: Request<WatchFeedbackRequest>,
    ) -> Result<Response<Self::WatchFeedbackStream>, Status> {
        let WatchFeedbackRequest {
            consumer_id,
            sentiment,
            replay_after_id,
        } = request.into_inner();
        let query = filters(consumer_id, &sentiment)?;
        let events = self.store.watch(query, replay_after_id).map(|event| {
            let event = match event.map_err(store_status)? {
                WatchEvent::Feedback(f) => Event::Feedback(to_proto(&f)),
                WatchEvent::Lagged {
                    missed,
                    resume_after_id,
                } => Event::Lagged(Lagged {
                    missed,
                    resume_after_id,
                }),
            };
            Ok(WatchFeedbackEvent { event: Some(event) })
        });
        Ok(Response::new(Box::pin(self.streams.track(events))))
    }

    async fn list_feedback(
        &self,
        request: Request<ListFeedbackRequest>,
    ) -> Result<Response<ListFeedbackResponse>, Status> {
        let ListFeedbackRequest {
            consumer_id,
            sentiment,
            page_size,
            page_token,
        } = request.into_inner();
        let mut query = filters(consumer_id, &sentiment)?;
        query.limit = match page_size as usize {
            0 => DEFAULT_PAGE,
            size => size.min(MAX_PAGE),
        };
        // The page token is the id of the last feedback of the previous page.
        query.after_id = match page_token.as_str() {
            "" => 0,
            token => token.parse::<i64>().ok().filter(|id| *id >= 0).ok_or_else(|| {
                super::invalid_argument(
                    "page_token",
                    format!(
                        "page_token {} is not one this server gave; pass next_page_token as it came",
                        quote(token)
                    ),
                )
            })?,
        };
        let page = self.store.list(query).await.map_err(store_status)?;
        Ok(Response::new(ListFeedbackResponse {
            feedback: page.items.iter().map(to_proto).collect(),
            next_page_token: page
                .next_after_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
        }))
    }
}
