//! Several server processes sharing one PostgreSQL feedback store
//! (`--feedback-store postgres://...`): one global order for watchers on every replica,
//! nothing acknowledged lost when a replica is killed or the database restarts, and a
//! clear error when the database cannot be reached at start.

mod common;

use std::time::Duration;

use common::{
    list_all,
    postgres::Postgres,
    process::{command, free_port},
    running::{Running, server_binary},
};
use grpc_showcase::proto::feedback::{
    FeedbackRequest, WatchFeedbackRequest, feedback_service_client::FeedbackServiceClient,
    watch_feedback_event::Event,
};
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_stream::{StreamExt, wrappers::ReceiverStream};
use tonic::{Code, Streaming, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

const FEEDBACK: &str = "feedback.FeedbackService";

fn replicas(postgres: &Postgres, count: usize) -> Vec<Running> {
    (0..count)
        .map(|_| {
            Running::start_with(
                tempfile::tempdir().unwrap(),
                &["--feedback-store", postgres.url()],
            )
        })
        .collect()
}

async fn client(replica: &Running) -> FeedbackServiceClient<Channel> {
    FeedbackServiceClient::connect(replica.url()).await.unwrap()
}

fn request(consumer: &str, i: usize) -> FeedbackRequest {
    FeedbackRequest {
        consumer_id: consumer.to_owned(),
        feedback: format!("delivery number {i} was wonderful"),
        ..FeedbackRequest::default()
    }
}

/// The ids of every stored feedback, read from `replica` in pages of `page_size`.
async fn stored_ids(replica: &Running, page_size: u32) -> Vec<i64> {
    let listed = list_all(&mut client(replica).await, page_size).await;
    listed.into_iter().map(|(id, _, _)| id).collect()
}

/// A watcher's ids, collected in the order received until the watch ends or `expected`
/// have come.
fn watch(
    mut events: Streaming<grpc_showcase::proto::feedback::WatchFeedbackEvent>,
    expected: usize,
) -> JoinHandle<Vec<i64>> {
    tokio::spawn(async move {
        let mut ids = Vec::new();
        while ids.len() < expected {
            match tokio::time::timeout(Duration::from_secs(20), events.next()).await {
                Ok(Some(Ok(event))) => match event.event {
                    Some(Event::Feedback(f)) => ids.push(f.id),
                    other => panic!("unexpected watch event {other:?}"),
                },
                Ok(other) => panic!("the watch ended after {} ids: {other:?}", ids.len()),
                Err(_) => panic!("no watch event for 20 s after {} ids", ids.len()),
            }
        }
        ids
    })
}

async fn start_watch(
    replica: &Running,
    replay_after_id: Option<i64>,
) -> Streaming<grpc_showcase::proto::feedback::WatchFeedbackEvent> {
    client(replica)
        .await
        .watch_feedback(WatchFeedbackRequest {
            replay_after_id,
            ..WatchFeedbackRequest::default()
        })
        .await
        .unwrap()
        .into_inner()
}

/// Sends `count` feedbacks on one stream to the replica at `url`; returns the ids
/// acknowledged.
async fn send(url: String, consumer: String, count: usize) -> Vec<i64> {
    let mut client = FeedbackServiceClient::connect(url).await.unwrap();
    let requests = (0..count).map(move |i| request(&consumer, i));
    let responses = client
        .send_feedback(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    responses
        .map(|response| {
            let response = response.unwrap();
            assert!(response.error.is_none(), "{response:?}");
            response.feedback_id
        })
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watchers_on_every_replica_see_one_global_order() {
    let Some(postgres) = Postgres::start("order") else {
        return;
    };
    let servers = replicas(&postgres, 3);
    const SENDERS: usize = 4;
    const EACH: usize = 150;
    let total = SENDERS * EACH;
    let mut watchers = Vec::new();
    for server in &servers {
        watchers.push(watch(start_watch(server, None).await, total));
    }

    // 4 senders on 3 replicas at once: their batches interleave in the database.
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let url = servers[s % servers.len()].url();
            tokio::spawn(send(url, format!("sender-{s}"), EACH))
        })
        .collect();
    let mut acknowledged = Vec::new();
    for sender in senders {
        let ids = sender.await.unwrap();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "one stream's ids rise");
        acknowledged.extend(ids);
    }
    acknowledged.sort_unstable();
    // Ids are assigned in commit order with no gaps: 1 to 600.
    assert_eq!(acknowledged, (1..=total as i64).collect::<Vec<_>>());

    for (replica, watcher) in watchers.into_iter().enumerate() {
        let seen = watcher.await.unwrap();
        assert_eq!(seen, acknowledged, "replica {replica}'s watcher");
    }

    // A watcher that resumes after id 250, on another replica, gets 251 to 600.
    let resumed = watch(start_watch(&servers[1], Some(250)).await, total - 250)
        .await
        .unwrap();
    assert_eq!(resumed, (251..=total as i64).collect::<Vec<_>>());

    // Pages of 7, from two replicas, list the same feedback.
    for server in [&servers[0], &servers[2]] {
        assert_eq!(stored_ids(server, 7).await, acknowledged);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_replica_loses_nothing_acknowledged() {
    let Some(postgres) = Postgres::start("kill") else {
        return;
    };
    let mut servers = replicas(&postgres, 3);
    let watcher_1 = start_watch(&servers[1], None).await;
    let watcher_2 = start_watch(&servers[2], None).await;

    // A stream to replica 0 that never ends on its own: one feedback every 2 ms.
    let (requests, queue) = mpsc::channel(8);
    tokio::spawn(async move {
        for i in 0.. {
            if requests.send(request("doomed", i)).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    let mut responses = client(&servers[0])
        .await
        .send_feedback(ReceiverStream::new(queue))
        .await
        .unwrap()
        .into_inner();
    let mut acknowledged = Vec::new();
    while acknowledged.len() < 100 {
        let response = responses.message().await.unwrap().unwrap();
        acknowledged.push(response.feedback_id);
    }
    servers.remove(0).kill_9();
    // Whatever was acknowledged before the kill came through.
    while let Ok(Some(response)) = responses.message().await {
        acknowledged.push(response.feedback_id);
    }

    // A live replica keeps taking feedback.
    let more = send(servers[0].url(), "survivor".to_owned(), 20).await;
    let listed = stored_ids(&servers[1], 50).await;
    for id in acknowledged.iter().chain(&more) {
        assert!(listed.contains(id), "acknowledged feedback #{id} is stored");
    }
    // Both watchers saw every stored feedback (acknowledged or not: a commit may land
    // just before the kill) in the same order.
    let seen_1 = watch(watcher_1, listed.len()).await.unwrap();
    let seen_2 = watch(watcher_2, listed.len()).await.unwrap();
    assert_eq!(seen_1, listed);
    assert_eq!(seen_2, listed);
}

async fn health(replica: &Running, service: &str) -> ServingStatus {
    let channel = Channel::from_shared(replica.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = HealthClient::new(channel);
    let status = client
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    ServingStatus::try_from(status).unwrap()
}

async fn eventually_health(replica: &Running, service: &str, want: ServingStatus) {
    for _ in 0..150 {
        if health(replica, service).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{service} did not become {want:?} within 15 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_restart_is_unavailable_then_recovers() {
    let Some(postgres) = Postgres::start("restart") else {
        return;
    };
    if !postgres.can_restart() {
        eprintln!("skipped: GRPC_SHOWCASE_TEST_POSTGRES is a server this test cannot restart");
        return;
    }
    let servers = replicas(&postgres, 2);
    let watcher = start_watch(&servers[1], None).await;
    let mut before = send(servers[0].url(), "before".to_owned(), 30).await;

    postgres.crash();
    // Calls fail with UNAVAILABLE, and the feedback service alone is NOT_SERVING.
    let mut client_0 = client(&servers[0]).await;
    let status = client_0
        .send_feedback(tokio_stream::iter([request("during", 0)]))
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let status = client_0
        .list_feedback(grpc_showcase::proto::feedback::ListFeedbackRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    for server in &servers {
        eventually_health(server, FEEDBACK, ServingStatus::NotServing).await;
        assert_eq!(
            health(server, "helloworld.Greeter").await,
            ServingStatus::Serving
        );
        assert_eq!(health(server, "").await, ServingStatus::Serving);
    }

    postgres.restart();
    for server in &servers {
        eventually_health(server, FEEDBACK, ServingStatus::Serving).await;
    }
    // The pool drops the connections the restart broke: the next calls succeed.
    let after = send(servers[0].url(), "after".to_owned(), 30).await;
    before.extend(&after);
    let listed = stored_ids(&servers[1], 25).await;
    for id in &before {
        assert!(listed.contains(id), "acknowledged feedback #{id} is stored");
    }
    // The watcher opened before the outage saw everything, in order.
    assert_eq!(watch(watcher, listed.len()).await.unwrap(), listed);
}

#[test]
fn an_unreachable_database_at_start_is_a_clear_error() {
    let url = format!("postgres://app:s3cret@127.0.0.1:{}/feedback", free_port());
    let output = command(server_binary())
        .args(["--listen", "127.0.0.1:0", "--feedback-store", &url])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let shown = url.replace("s3cret", "***");
    assert!(stderr.contains(&shown), "{stderr}");
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");

    let output = command(server_binary())
        .args(["--feedback-store", "mysql://root:hunter2@db/x"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("sqlite:PATH") && !stderr.contains("hunter2"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idempotency_key_is_stored_once_across_replicas() {
    let Some(postgres) = Postgres::start("idempotency") else {
        return;
    };
    let servers = replicas(&postgres, 2);
    let keyed = |i: usize, key: &str| FeedbackRequest {
        idempotency_key: key.to_owned(),
        ..request("carol", i)
    };
    // The same key twice in one stream (one batch, most likely), then a retry of it on
    // the other replica: one feedback stored, every answer gives its id.
    let first: Vec<i64> = client(&servers[0])
        .await
        .send_feedback(tokio_stream::iter([
            keyed(0, "order-1"),
            keyed(1, "order-2"),
            keyed(0, "order-1"),
        ]))
        .await
        .unwrap()
        .into_inner()
        .map(|r| r.unwrap().feedback_id)
        .collect()
        .await;
    assert_eq!(first[0], first[2]);
    assert_ne!(first[0], first[1]);
    let retry = client(&servers[1])
        .await
        .send_feedback(tokio_stream::iter([keyed(0, "order-1")]))
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(retry.feedback_id, first[0]);
    let listed = list_all(&mut client(&servers[1]).await, 10).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
}
