//! feedback.FeedbackService through a real client over a real socket.

mod common;

use std::{collections::BTreeSet, time::Duration};

use common::{TestServer, bad_request_field, eventually, list_all};
use grpc_showcase::{
    proto::feedback::{
        FeedbackRequest, FeedbackResponse, ListFeedbackRequest, WatchFeedbackRequest,
        feedback_service_client::FeedbackServiceClient, watch_feedback_event::Event,
    },
    server::Settings,
};
use tokio::sync::mpsc;
use tokio_stream::{StreamExt, wrappers::ReceiverStream};
use tonic::{Code, transport::Channel};

fn feedback(consumer: &str, text: &str) -> FeedbackRequest {
    FeedbackRequest {
        consumer_id: consumer.to_owned(),
        feedback: text.to_owned(),
        ..FeedbackRequest::default()
    }
}

async fn send_all(
    client: &mut FeedbackServiceClient<Channel>,
    requests: Vec<FeedbackRequest>,
) -> Vec<FeedbackResponse> {
    client
        .send_feedback(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner()
        .map(|r| r.unwrap())
        .collect()
        .await
}

#[tokio::test]
async fn one_response_per_feedback_in_order_and_all_readable_afterwards() {
    let server = TestServer::start().await;
    let mut client = FeedbackServiceClient::new(server.channel().await);
    // No digits in the texts: VADER's lexicon scores some numbers ("86" is negative).
    let texts: Vec<&str> = (0..100)
        .map(|i| match i % 3 {
            0 => "wonderful, fast and friendly!",
            1 => "broken on arrival, terrible support",
            _ => "the parcel came on Tuesday",
        })
        .collect();
    let consumers: Vec<String> = (0..100).map(|i| format!("alice-{i}")).collect();
    let requests = consumers
        .iter()
        .zip(&texts)
        .map(|(c, t)| feedback(c, t))
        .collect();
    let responses = send_all(&mut client, requests).await;
    assert_eq!(responses.len(), 100);
    for (i, r) in responses.iter().enumerate() {
        assert_eq!(r.index, i as u64);
        assert!(r.error.is_none(), "{r:?}");
        assert!(r.stored_at_unix_ms > 1_700_000_000_000);
        assert!(r.response_message.contains(&consumers[i]), "{r:?}");
        let expected = ["positive", "negative", "neutral"][i % 3];
        assert_eq!(r.sentiment, expected, "{}: {}", texts[i], r.sentiment_score);
    }
    assert!(
        responses
            .windows(2)
            .all(|w| w[0].feedback_id < w[1].feedback_id),
        "stored in the order sent"
    );
    let stored = list_all(&mut client, 7).await;
    let expected: Vec<_> = responses
        .iter()
        .zip(consumers.iter().zip(&texts))
        .map(|(r, (c, t))| (r.feedback_id, c.clone(), t.to_string()))
        .collect();
    assert_eq!(stored, expected);
}

#[tokio::test]
async fn a_watcher_sees_feedback_from_concurrent_senders() {
    let server = TestServer::start().await;
    let channel = server.channel().await;
    let mut watcher = FeedbackServiceClient::new(channel.clone())
        .watch_feedback(WatchFeedbackRequest::default())
        .await
        .unwrap()
        .into_inner();
    let senders: Vec<_> = (0..4)
        .map(|s| {
            let mut client = FeedbackServiceClient::new(channel.clone());
            tokio::spawn(async move {
                let requests = (0..25)
                    .map(|i| feedback(&format!("sender{s}"), &format!("note {i}")))
                    .collect();
                send_all(&mut client, requests).await
            })
        })
        .collect();
    let mut acked = BTreeSet::new();
    for sender in senders {
        acked.extend(sender.await.unwrap().iter().map(|r| r.feedback_id));
    }
    let mut watched = Vec::new();
    while watched.len() < 100 {
        match watcher.message().await.unwrap().unwrap().event.unwrap() {
            Event::Feedback(f) => watched.push(f.id),
            Event::Lagged(l) => panic!("unexpected lag {l:?}"),
        }
    }
    assert!(watched.windows(2).all(|w| w[0] < w[1]), "in storage order");
    assert_eq!(watched.into_iter().collect::<BTreeSet<_>>(), acked);
}

#[tokio::test]
async fn watch_replays_after_an_id_then_goes_live_with_filters() {
    let server = TestServer::start().await;
    let mut client = FeedbackServiceClient::new(server.channel().await);
    let first = send_all(
        &mut client,
        (0..10)
            .map(|i| feedback(if i % 2 == 0 { "a" } else { "b" }, &format!("old {i}")))
            .collect(),
    )
    .await;
    let mut watch = client
        .watch_feedback(WatchFeedbackRequest {
            consumer_id: "a".into(),
            replay_after_id: Some(first[4].feedback_id),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    send_all(
        &mut client,
        vec![feedback("b", "new b"), feedback("a", "new a")],
    )
    .await;
    let mut texts = Vec::new();
    while texts.len() < 3 {
        if let Event::Feedback(f) = watch.message().await.unwrap().unwrap().event.unwrap() {
            assert_eq!(f.consumer_id, "a");
            texts.push(f.feedback);
        }
    }
    assert_eq!(texts, ["old 6", "old 8", "new a"]);

    let status = client
        .watch_feedback(WatchFeedbackRequest {
            sentiment: "happy".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(bad_request_field(&status), "sentiment");
}

#[tokio::test]
async fn a_slow_watcher_does_not_stall_senders_and_can_resume() {
    let server = TestServer::with_settings(Settings {
        feedback_watch_buffer: 8,
        ..Settings::default()
    })
    .await;
    let channel = server.channel().await;
    let mut client = FeedbackServiceClient::new(channel.clone());
    // A watcher that reads nothing while 1,500 feedbacks of 3 KB (4.5 MB, more than the
    // HTTP/2 windows can hold) are sent.
    let mut slow = FeedbackServiceClient::new(channel.clone())
        .watch_feedback(WatchFeedbackRequest::default())
        .await
        .unwrap()
        .into_inner();
    let text = "x".repeat(3000);
    let responses = tokio::time::timeout(
        Duration::from_secs(120),
        send_all(
            &mut client,
            (0..1500).map(|_| feedback("bulk", &text)).collect(),
        ),
    )
    .await
    .expect("senders finish while the watcher reads nothing");
    assert!(responses.iter().all(|r| r.error.is_none()));

    let mut seen = Vec::new();
    let resume = loop {
        match slow
            .message()
            .await
            .unwrap()
            .expect("a lag event before the end")
            .event
            .unwrap()
        {
            Event::Feedback(f) => seen.push(f.id),
            Event::Lagged(lag) => {
                assert!(lag.missed > 0);
                break lag.resume_after_id;
            }
        }
    };
    assert!(
        slow.message().await.unwrap().is_none(),
        "the watch ends after the lag event"
    );
    let mut resumed = client
        .watch_feedback(WatchFeedbackRequest {
            replay_after_id: Some(resume),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    while seen.len() < 1500 {
        if let Event::Feedback(f) = resumed.message().await.unwrap().unwrap().event.unwrap() {
            seen.push(f.id);
        }
    }
    let acked: Vec<i64> = responses.iter().map(|r| r.feedback_id).collect();
    assert_eq!(seen, acked, "no gap and no repeat across the lag");
}

#[tokio::test]
async fn invalid_feedback_is_refused_in_band_and_the_stream_continues() {
    let server = TestServer::start().await;
    let mut client = FeedbackServiceClient::new(server.channel().await);
    let responses = send_all(
        &mut client,
        vec![
            feedback("alice", "fine"),
            feedback("", "no consumer"),
            feedback("alice", "   "),
            feedback("alice", &"y".repeat(4097)),
            feedback("alice", "still here"),
        ],
    )
    .await;
    let codes: Vec<_> = responses
        .iter()
        .map(|r| r.error.as_ref().map(|e| e.code))
        .collect();
    let invalid = Some(Code::InvalidArgument as i32);
    assert_eq!(codes, [None, invalid, invalid, invalid, None]);
    assert!(
        responses[1]
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("consumer_id")
    );
    assert!(
        responses[3]
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("4097 bytes")
    );
    let stored = list_all(&mut client, 50).await;
    let texts: Vec<_> = stored.iter().map(|s| s.2.as_str()).collect();
    assert_eq!(texts, ["fine", "still here"]);

    let status = client
        .list_feedback(ListFeedbackRequest {
            page_token: "abc".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(bad_request_field(&status), "page_token");
}

#[tokio::test]
async fn an_oversized_message_ends_the_stream_and_keeps_what_was_acknowledged() {
    let server = TestServer::with_settings(Settings {
        max_message_size: 1024,
        ..Settings::default()
    })
    .await;
    let mut client = FeedbackServiceClient::new(server.channel().await);
    let (tx, rx) = mpsc::channel(4);
    let mut responses = client
        .send_feedback(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    tx.send(feedback("alice", "before")).await.unwrap();
    let ack = responses.message().await.unwrap().unwrap();
    assert!(ack.error.is_none());
    tx.send(feedback("alice", &"z".repeat(2000))).await.unwrap();
    let status = responses.message().await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let stored = list_all(&mut client, 50).await;
    assert_eq!(
        stored,
        [(ack.feedback_id, "alice".to_owned(), "before".to_owned())]
    );
}

#[tokio::test]
async fn a_client_that_disconnects_loses_nothing_acknowledged() {
    let server = TestServer::start().await;
    let connection = server.disconnectable_channel().await;
    let mut client = FeedbackServiceClient::new(connection.channel.clone());
    let (tx, rx) = mpsc::channel(8);
    let mut responses = client
        .send_feedback(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let mut acked = Vec::new();
    for i in 0..20 {
        tx.send(feedback("carol", &format!("message {i}")))
            .await
            .unwrap();
        acked.push(responses.message().await.unwrap().unwrap().feedback_id);
    }
    assert!(server.streams.count() >= 1);
    connection.disconnect();
    let streams = server.streams.clone();
    eventually("the stream is freed", || streams.count() == 0).await;
    drop(tx);

    let mut reader = FeedbackServiceClient::new(server.channel().await);
    let stored: Vec<i64> = list_all(&mut reader, 500)
        .await
        .iter()
        .map(|s| s.0)
        .collect();
    for id in acked {
        assert!(stored.contains(&id), "acknowledged feedback {id} is stored");
    }
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_gets_the_first_acknowledgement() {
    let server = TestServer::start().await;
    let mut client = FeedbackServiceClient::new(server.channel().await);
    let keyed = |key: &str| FeedbackRequest {
        idempotency_key: key.to_owned(),
        ..feedback("ada", "The streams are wonderful!")
    };
    let first = send_all(&mut client, vec![keyed("order-7")]).await;
    let retry = send_all(
        &mut client,
        vec![keyed("order-7"), keyed("x".repeat(129).as_str())],
    )
    .await;
    assert_eq!(retry[0].feedback_id, first[0].feedback_id);
    assert_eq!(retry[0].response_message, first[0].response_message);
    // A key over 128 bytes is refused in-band, like any bad feedback.
    let error = retry[1].error.as_ref().expect("refused");
    assert_eq!(error.code, Code::InvalidArgument as i32);
    assert!(error.message.contains("idempotency_key"), "{error:?}");
    assert_eq!(list_all(&mut client, 10).await.len(), 1);
}
