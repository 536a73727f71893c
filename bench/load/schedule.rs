//! When calls may start, and what each worker measured.

use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicU64, Ordering},
    time::Instant,
};

use hdrhistogram::Histogram;

/// When calls may start: a warm-up whose calls are not counted, then the measured
/// part, which ends at `end` or, with `--requests`, once that many calls have started.
pub struct Schedule {
    /// Calls started before this are not measured.
    pub warmup_end: Instant,
    /// No call starts after this.
    pub end: Instant,
    /// Measured calls not yet started, for a fixed count.
    pub remaining: Option<AtomicU64>,
}

impl Schedule {
    /// The time now if a call may start now (in the measured part of a fixed count,
    /// this takes one of the remaining calls), `None` once the run is over.
    pub fn start(&self) -> Option<Instant> {
        let now = Instant::now();
        if now >= self.end {
            return None;
        }
        if now < self.warmup_end {
            return Some(now);
        }
        match &self.remaining {
            None => Some(now),
            Some(remaining) => remaining
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .ok()
                .map(|_| now),
        }
    }

    /// Whether calls may still start (without taking one).
    pub fn open(&self) -> bool {
        Instant::now() < self.end
            && self
                .remaining
                .as_ref()
                .is_none_or(|n| n.load(Ordering::Relaxed) > 0)
    }

    /// Whether a call started at `started` is measured (not warm-up).
    pub fn measured(&self, started: Instant) -> bool {
        started >= self.warmup_end
    }
}

/// One worker's tally.
pub struct Tally {
    /// Latency of every measured call that succeeded, microseconds.
    pub latency_us: Histogram<u64>,
    /// Measured calls that failed, by status code (or in-band error).
    pub errors: BTreeMap<String, u64>,
    /// Measured replies (messages) that came compressed, by their grpc-encoding.
    pub compressed: BTreeMap<&'static str, u64>,
}

impl Tally {
    /// An empty tally: latencies from 1 µs to 60 s, 3 significant digits.
    pub fn new() -> Self {
        Self {
            latency_us: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
            errors: BTreeMap::new(),
            compressed: BTreeMap::new(),
        }
    }

    /// Records one measured reply that succeeded, `started` when its request went, and
    /// the encoding it came in (None: uncompressed).
    pub fn reply(&mut self, started: Instant, encoding: Option<&'static str>) {
        let micros = started.elapsed().as_micros().max(1) as u64;
        self.latency_us.saturating_record(micros);
        if let Some(encoding) = encoding {
            *self.compressed.entry(encoding).or_insert(0) += 1;
        }
    }

    /// Counts one failed call with the error `label`.
    pub fn error(&mut self, label: String) {
        *self.errors.entry(label).or_insert(0) += 1;
    }
}
