//! How long checks take, as a histogram: counts per bucket, a sum and a count, kept per
//! monitor and check so that a scrape only copies them (the exposition is encoded elsewhere).

use std::time::Duration;

/// Upper bounds in seconds: a local TCP connect takes well under a millisecond, an HTTP check
/// of a slow application or an exec check seconds, and a timeout is the last bucket.
pub const BOUNDS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Latencies {
    /// Observations per bucket (not cumulative); the last one is above every bound.
    pub counts: [u64; BOUNDS.len() + 1],
    pub sum: f64,
    pub count: u64,
}

impl Latencies {
    pub fn observe(&mut self, took: Duration) {
        let s = took.as_secs_f64();
        let i = BOUNDS.iter().position(|&b| s <= b).unwrap_or(BOUNDS.len());
        self.counts[i] += 1;
        self.sum += s;
        self.count += 1;
    }

    /// (upper bound, count) per bucket, the last bound infinite.
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        BOUNDS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(self.counts)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_fall_in_the_first_bucket_that_holds_them() {
        let mut l = Latencies::default();
        l.observe(Duration::from_micros(300));
        l.observe(Duration::from_millis(1));
        l.observe(Duration::from_millis(7));
        l.observe(Duration::from_secs(5));
        let b = l.buckets();
        assert_eq!(b[0], (0.0005, 1));
        assert_eq!(b[1], (0.001, 1), "a bound holds what equals it");
        assert_eq!(b[4], (0.01, 1));
        assert_eq!(b[12].1, 1);
        assert!(b[12].0.is_infinite());
        assert_eq!(l.count, 4);
        assert!((l.sum - 5.0083).abs() < 1e-9);
    }
}
