//! Per-alias call statistics for `/metrics`: calls by gRPC status code, a latency
//! histogram, and bytes each way. Every counter is a relaxed atomic, so recording a call
//! takes no lock.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram's buckets; +Inf follows.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The names of gRPC status codes 0–16.
pub const CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

#[derive(Debug, Default)]
pub struct CallStats {
    codes: [AtomicU64; 17],
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    micros: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
}

/// A copy of the counters, for one scrape.
#[derive(Debug, Clone, Default)]
pub struct CallSnapshot {
    pub codes: Vec<(&'static str, u64)>,
    /// Cumulative counts per bucket, the last one being +Inf (= the call count).
    pub buckets: Vec<u64>,
    pub seconds: f64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl CallStats {
    /// Counts one finished call; a status code outside 0–16, or none, counts as UNKNOWN.
    pub fn record(&self, code: Option<u16>, elapsed: Duration) {
        let index = code
            .map(usize::from)
            .filter(|c| *c < CODE_NAMES.len())
            .unwrap_or(2);
        self.codes[index].fetch_add(1, Relaxed);
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|le| seconds <= *le)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Relaxed);
        self.micros.fetch_add(
            elapsed.as_micros().min(u128::from(u64::MAX)) as u64,
            Relaxed,
        );
    }

    pub fn snapshot(&self) -> CallSnapshot {
        let mut cumulative = 0;
        CallSnapshot {
            codes: CODE_NAMES
                .iter()
                .zip(&self.codes)
                .map(|(name, count)| (*name, count.load(Relaxed)))
                .filter(|(_, count)| *count > 0)
                .collect(),
            buckets: self
                .buckets
                .iter()
                .map(|b| {
                    cumulative += b.load(Relaxed);
                    cumulative
                })
                .collect(),
            seconds: self.micros.load(Relaxed) as f64 / 1e6,
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_land_in_their_code_and_bucket() {
        let stats = CallStats::default();
        stats.record(Some(0), Duration::from_micros(300));
        stats.record(Some(14), Duration::from_millis(3));
        stats.record(None, Duration::from_secs(60));
        let snap = stats.snapshot();
        assert_eq!(
            snap.codes,
            vec![("OK", 1), ("UNKNOWN", 1), ("UNAVAILABLE", 1)]
        );
        assert_eq!(snap.buckets[0], 1, "300 µs is within 0.5 ms");
        assert_eq!(snap.buckets[3], 2, "3 ms is within 5 ms");
        assert_eq!(*snap.buckets.last().expect("+Inf"), 3);
        assert!((snap.seconds - 60.0033).abs() < 1e-6);
    }
}
