//! Dynamic batching: one-row predictions that arrive together run as one batch.
//!
//! tract's cost per run is mostly fixed: for the fraud MLP, one row costs about 14 µs
//! and each further row 0.65 µs (BENCHMARKS.md, `cargo bench --bench inference`). So
//! under concurrent calls, rows that wait together are stacked into one `[N, width]`
//! tensor and run at once, as model servers do (Triton's dynamic batcher, TensorFlow
//! Serving's batching). This batcher never waits to fill a batch: when it is free it
//! takes the rows already queued (Triton's `max_queue_delay_microseconds: 0`), so a
//! call alone is not delayed, and a batch forms only while a previous one runs or
//! while other calls are being read.
//!
//! Each row is checked before it is queued (width, finite float32 values), so a bad
//! row is refused on its own and never fails the rows batched with it. The result of
//! a row does not depend on its batch: each output row is computed from its input row
//! only, and equals the row run alone to float32 precision (tested).

use std::sync::{
    Arc, OnceLock,
    atomic::{AtomicU64, Ordering},
};

use tokio::sync::{mpsc, oneshot};

use super::{LoadedModel, ModelError};

/// The most rows in one batch.
pub const MAX_BATCH_ROWS: usize = 128;

/// Rows waiting for the batcher; callers wait for room beyond this.
const QUEUE: usize = 1024;

/// One row waiting to run, and where its output goes.
struct Job {
    row: Vec<f64>,
    reply: oneshot::Sender<Result<Vec<f64>, ModelError>>,
}

/// Runs one-row predictions of a model in batches. Cheap to clone (the clones share
/// one queue and one batching task). The task is started by the first prediction, so
/// a `Batcher` can be made outside a Tokio runtime; it ends when the last clone is
/// dropped.
#[derive(Debug, Clone)]
pub struct Batcher {
    model: Arc<LoadedModel>,
    queue: Arc<OnceLock<mpsc::Sender<Job>>>,
    /// Model runs so far.
    runs: Arc<AtomicU64>,
}

impl Batcher {
    /// A batcher of `model`.
    pub fn new(model: Arc<LoadedModel>) -> Self {
        Self {
            model,
            queue: Arc::new(OnceLock::new()),
            runs: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How many times the model has run: rows predicted / runs is the mean batch size.
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// The model it runs.
    pub fn model(&self) -> &Arc<LoadedModel> {
        &self.model
    }

    /// The model's output row (width [`LoadedModel::output_width`]) for `row`, one
    /// input row of [`LoadedModel::input_width`] values, possibly run in a batch with
    /// other callers' rows.
    ///
    /// # Errors
    /// [`ModelError::ShapeMismatch`] or [`ModelError::EmptyInput`] for a row of the
    /// wrong width, [`ModelError::InvalidValue`] for a value that is not a finite
    /// float32, both before anything runs; [`ModelError::Inference`] if the batch's
    /// run fails.
    pub async fn predict(&self, row: Vec<f64>) -> Result<Vec<f64>, ModelError> {
        let width = self.model.input_width();
        if row.is_empty() {
            return Err(ModelError::EmptyInput { width });
        }
        if row.len() != width {
            return Err(ModelError::ShapeMismatch {
                len: row.len(),
                width,
            });
        }
        for (index, &value) in row.iter().enumerate() {
            super::model::to_f32(index, value)?;
        }
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            tokio::spawn(run_batches(
                Arc::clone(&self.model),
                receiver,
                Arc::clone(&self.runs),
            ));
            sender
        });
        let (reply, output) = oneshot::channel();
        queue
            .send(Job { row, reply })
            .await
            .map_err(|_| ModelError::Inference("the batching task has stopped".into()))?;
        output
            .await
            .map_err(|_| ModelError::Inference("the batching task has stopped".into()))?
    }
}

/// The batching task: takes the rows queued, runs them as one batch, answers each.
async fn run_batches(
    model: Arc<LoadedModel>,
    mut queue: mpsc::Receiver<Job>,
    runs: Arc<AtomicU64>,
) {
    let mut jobs = Vec::with_capacity(MAX_BATCH_ROWS);
    let mut inputs = Vec::with_capacity(MAX_BATCH_ROWS * model.input_width());
    // On a multi-thread runtime, a task woken by the running task runs next (Tokio's
    // LIFO slot): this task would run right after the first call that queued a row, and
    // batch one row at a time. Yielding once lets the calls already woken (the rest of a
    // burst read from the network) queue their rows first. The current-thread scheduler
    // runs woken tasks in order, so those calls run before this task anyway, and a yield
    // would only cost a wake-up through the I/O driver (an eventfd write per batch, seen
    // with strace).
    let yield_first = tokio::runtime::Handle::current().runtime_flavor()
        == tokio::runtime::RuntimeFlavor::MultiThread;
    while let Some(first) = queue.recv().await {
        if yield_first {
            tokio::task::yield_now().await;
        }
        jobs.push(first);
        while jobs.len() < MAX_BATCH_ROWS {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        // A caller that has gone (cancelled, deadline) needs no row.
        jobs.retain(|job| !job.reply.is_closed());
        if jobs.is_empty() {
            continue;
        }
        inputs.clear();
        for job in &jobs {
            inputs.extend_from_slice(&job.row);
        }
        runs.fetch_add(1, Ordering::Relaxed);
        match model.predict(&inputs) {
            Ok(prediction) => {
                for (job, output) in jobs
                    .drain(..)
                    .zip(prediction.outputs.chunks(prediction.width))
                {
                    let _ = job.reply.send(Ok(output.to_vec()));
                }
            }
            Err(err) => {
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(err.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::domain::models::ModelRegistry;

    fn fraud_model() -> Arc<LoadedModel> {
        let registry =
            ModelRegistry::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models"));
        Arc::clone(registry.get("fraud").unwrap())
    }

    /// `n` different rows of fraud features.
    fn rows(n: usize) -> Vec<Vec<f64>> {
        (0..n)
            .map(|i| {
                let x = i as f64;
                vec![
                    x * 0.05,
                    x.sin(),
                    x.cos(),
                    (i % 9) as f64,
                    (i % 4) as f64 * 0.5,
                ]
            })
            .collect()
    }

    // One thread, so that the count of runs depends only on the order Tokio and
    // `join_all` poll tasks in, never on the machine's load: on two worker threads, the
    // second one ran the batcher while the burst was still being queued, and a loaded CI
    // machine saw 300 rows in 23 runs.
    #[tokio::test]
    async fn a_burst_runs_in_batches_and_each_row_gets_its_own_output() {
        let model = fraud_model();
        let batcher = Batcher::new(Arc::clone(&model));
        let rows = rows(300);
        // The batcher runs only when `join_all` yields (it polls 32 futures per turn), so
        // rows are queued in bursts and run in batches of up to 128 rows.
        let outputs =
            futures::future::join_all(rows.iter().map(|row| batcher.predict(row.clone()))).await;
        for (i, (row, output)) in rows.iter().zip(outputs).enumerate() {
            let alone = model.predict(row).unwrap().outputs;
            let output = output.unwrap();
            assert_eq!(output.len(), 2);
            for (got, want) in output.iter().zip(&alone) {
                assert!(
                    (got - want).abs() <= 1e-6,
                    "row {i}: {output:?} vs {alone:?}"
                );
            }
        }
        assert!(
            (3..=10).contains(&batcher.runs()),
            "300 rows in {} runs",
            batcher.runs()
        );
    }

    /// Runs 300 calls, each in its own task as hyper runs them, spawned from a task of
    /// the runtime (so on its worker, not on the test's own thread); returns the count
    /// of model runs.
    async fn burst_of_tasks() -> u64 {
        let batcher = Batcher::new(fraud_model());
        let spawner = {
            let batcher = batcher.clone();
            tokio::spawn(async move {
                let calls: Vec<_> = rows(300)
                    .into_iter()
                    .map(|row| {
                        let batcher = batcher.clone();
                        tokio::spawn(async move { batcher.predict(row).await })
                    })
                    .collect();
                futures::future::join_all(calls).await
            })
        };
        for output in spawner.await.unwrap() {
            assert_eq!(output.unwrap().unwrap().len(), 2);
        }
        batcher.runs()
    }

    // The multi-thread scheduler, whose LIFO slot the batcher yields for (without the
    // yield: 300 runs, one per row). One worker, so that the order is Tokio's alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_burst_of_tasks_runs_in_batches_on_the_multi_thread_scheduler() {
        let runs = burst_of_tasks().await;
        assert!((3..=30).contains(&runs), "300 rows in {runs} runs");
    }

    // The current-thread scheduler (the server's on one CPU), where the batcher does
    // not yield.
    #[tokio::test]
    async fn a_burst_of_tasks_runs_in_batches_on_the_current_thread_scheduler() {
        let runs = burst_of_tasks().await;
        assert!((3..=30).contains(&runs), "300 rows in {runs} runs");
    }

    #[tokio::test]
    async fn a_bad_row_is_refused_alone_and_its_burst_still_runs() {
        let batcher = Batcher::new(fraud_model());
        let mut rows = rows(20);
        rows[7][2] = f64::NAN;
        rows[11][0] = 1e300;
        let outputs =
            futures::future::join_all(rows.into_iter().map(|row| batcher.predict(row))).await;
        for (i, output) in outputs.iter().enumerate() {
            match i {
                7 => assert!(
                    matches!(output, Err(ModelError::InvalidValue { index: 2, value }) if value.is_nan())
                ),
                11 => assert_eq!(
                    output,
                    &Err(ModelError::InvalidValue {
                        index: 0,
                        value: 1e300
                    })
                ),
                _ => assert!(output.is_ok(), "row {i}: {output:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_row_of_the_wrong_width_is_refused() {
        let batcher = Batcher::new(fraud_model());
        assert_eq!(
            batcher.predict(vec![1.0; 4]).await,
            Err(ModelError::ShapeMismatch { len: 4, width: 5 })
        );
        assert_eq!(
            batcher.predict(Vec::new()).await,
            Err(ModelError::EmptyInput { width: 5 })
        );
        assert_eq!(batcher.runs(), 0);
    }
}
