//! The store through its public handle: order, durability, pages, watchers.

use futures::StreamExt;

use super::*;
use crate::domain::feedback::Sentiment;

fn new(consumer: &str, text: &str) -> NewFeedback {
    let (sentiment, sentiment_score) = crate::domain::feedback::analyze(text);
    NewFeedback {
        consumer_id: consumer.to_owned(),
        feedback: text.to_owned(),
        sentiment,
        sentiment_score,
        idempotency_key: None,
    }
}

fn keyed(consumer: &str, text: &str, key: &str) -> NewFeedback {
    NewFeedback {
        idempotency_key: Some(key.to_owned()),
        ..new(consumer, text)
    }
}

fn all() -> ListQuery {
    ListQuery {
        limit: 1000,
        ..ListQuery::default()
    }
}

#[tokio::test]
async fn appends_are_stored_in_order_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let store = FeedbackStore::open(dir.path(), 16).unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            store
                .append(new("alice", &format!("message {i}")))
                .await
                .unwrap()
                .id,
        );
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    drop(store);

    let reopened = FeedbackStore::open(dir.path(), 16).unwrap();
    let page = reopened.list(all()).await.unwrap();
    let texts: Vec<_> = page.items.iter().map(|f| f.feedback.as_str()).collect();
    assert_eq!(
        texts,
        [
            "message 0",
            "message 1",
            "message 2",
            "message 3",
            "message 4"
        ]
    );
    let next = reopened
        .append(new("bob", "after reopening"))
        .await
        .unwrap();
    assert!(next.id > ids[4]);
}

#[tokio::test]
async fn concurrent_appends_are_all_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = FeedbackStore::open(dir.path(), 16).unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|c| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..50 {
                    store
                        .append(new(&format!("c{c}"), &format!("m{i}")))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(store.list(all()).await.unwrap().items.len(), 400);
}

#[tokio::test]
async fn pages_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let store = FeedbackStore::open(dir.path(), 16).unwrap();
    for i in 0..7 {
        let consumer = if i % 2 == 0 { "even" } else { "odd" };
        store
            .append(new(consumer, "I love it, wonderful"))
            .await
            .unwrap();
    }
    store
        .append(new("odd", "awful, broken, terrible"))
        .await
        .unwrap();
    let mut query = ListQuery {
        limit: 3,
        ..ListQuery::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = store.list(query.clone()).await.unwrap();
        seen.extend(page.items.iter().map(|f| f.id));
        match page.next_after_id {
            Some(next) => query.after_id = next,
            None => break,
        }
    }
    assert_eq!(seen.len(), 8);
    let odd = ListQuery {
        consumer_id: Some("odd".into()),
        ..all()
    };
    assert_eq!(store.list(odd).await.unwrap().items.len(), 4);
    let negative = ListQuery {
        sentiment: Some(Sentiment::Negative),
        ..all()
    };
    let page = store.list(negative).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].feedback, "awful, broken, terrible");
}

#[tokio::test]
async fn watch_replays_then_goes_live_without_gap_or_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let store = FeedbackStore::open(dir.path(), 64).unwrap();
    let first = store.append(new("a", "one")).await.unwrap();
    store.append(new("a", "two")).await.unwrap();
    let mut watch = Box::pin(store.watch(ListQuery::default(), Some(first.id)));
    store.append(new("a", "three")).await.unwrap();
    let mut texts = Vec::new();
    while texts.len() < 2 {
        if let Some(Ok(WatchEvent::Feedback(f))) = watch.next().await {
            texts.push(f.feedback.clone());
        }
    }
    store.append(new("a", "four")).await.unwrap();
    while texts.len() < 3 {
        if let Some(Ok(WatchEvent::Feedback(f))) = watch.next().await {
            texts.push(f.feedback.clone());
        }
    }
    assert_eq!(texts, ["two", "three", "four"]);
}

#[tokio::test]
async fn a_slow_watcher_is_told_where_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    let store = FeedbackStore::open(dir.path(), 4).unwrap();
    let mut watch = Box::pin(store.watch(ListQuery::default(), None));
    // The watcher reads nothing while 20 feedbacks are stored: appends do not wait.
    for i in 0..20 {
        store.append(new("a", &format!("m{i}"))).await.unwrap();
    }
    let mut delivered = Vec::new();
    let resume = loop {
        match watch.next().await.unwrap().unwrap() {
            WatchEvent::Feedback(f) => delivered.push(f.id),
            WatchEvent::Lagged {
                resume_after_id,
                missed,
            } => {
                assert!(missed > 0);
                break resume_after_id;
            }
        }
    };
    assert!(watch.next().await.is_none(), "the watch ends after Lagged");
    // Resuming replays exactly what was missed.
    let mut resumed = Box::pin(store.watch(ListQuery::default(), Some(resume)));
    let mut ids = delivered.clone();
    while ids.len() < 20 {
        if let Some(Ok(WatchEvent::Feedback(f))) = resumed.next().await {
            ids.push(f.id);
        }
    }
    let all: Vec<i64> = store
        .list(all())
        .await
        .unwrap()
        .items
        .iter()
        .map(|f| f.id)
        .collect();
    assert_eq!(ids, all);
}

#[tokio::test]
async fn an_idempotency_key_stores_once_and_answers_the_first_ack_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = FeedbackStore::open(dir.path(), 16).unwrap();
    let first = store.append(keyed("ada", "Lovely!", "k1")).await.unwrap();
    // In the same batch as a new one, and across a reopen (a restarted server).
    let (again, other) = tokio::join!(
        store.append(keyed("ada", "Lovely!", "k1")),
        store.append(keyed("ada", "Another", "k2")),
    );
    assert_eq!(again.unwrap(), first);
    // The same key from another consumer is another feedback.
    let grace = store.append(keyed("grace", "Lovely!", "k1")).await.unwrap();
    assert_ne!(grace.id, first.id);
    drop(store);
    let store = FeedbackStore::open(dir.path(), 16).unwrap();
    let retried = store.append(keyed("ada", "Lovely!", "k1")).await.unwrap();
    assert_eq!(retried, first);
    let page = store.list(all()).await.unwrap();
    assert_eq!(page.items.len(), 3, "{:?}", page.items);
    assert!(other.unwrap().id > first.id);
}

#[tokio::test]
async fn two_appends_with_one_key_in_one_batch_store_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = FeedbackStore::open(dir.path(), 16).unwrap();
    let appends = (0..8).map(|_| store.append(keyed("ada", "Twice?", "same")));
    let stored = futures::future::join_all(appends).await;
    let ids: std::collections::BTreeSet<i64> = stored.into_iter().map(|s| s.unwrap().id).collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(store.list(all()).await.unwrap().items.len(), 1);
}
