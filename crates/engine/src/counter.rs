//! Fixed-size windowed counters: the per-source memory of every detector.
//!
//! Time inside the engine is a [`Tick`]: tenths of a second since the engine's epoch, in a `u32` (13 years).
//! A counter keeps the current and the previous window and weighs the previous one by how much of it still
//! overlaps the sliding window ending now: an estimate of "events in the last `w`" in 12 bytes, with no
//! per-event memory.

/// Tenths of a second since the engine's epoch.
pub(crate) type Tick = u32;

/// Events in a sliding window, estimated from two fixed windows.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WindowCounter {
    start: Tick,
    cur: u32,
    prev: u32,
}

impl WindowCounter {
    fn roll(&mut self, now: Tick, w: Tick) {
        let w = w.max(1);
        // Out-of-order times (merged replays) count in the current window.
        let elapsed = now.saturating_sub(self.start);
        if elapsed < w {
            return;
        }
        self.prev = if elapsed < w.saturating_mul(2) {
            self.cur
        } else {
            0
        };
        self.cur = 0;
        self.start = self.start.saturating_add(elapsed - elapsed % w);
    }

    /// The estimated number of events in the window of length `w` ending at `now`.
    pub(crate) fn estimate(&mut self, now: Tick, w: Tick) -> u32 {
        self.roll(now, w);
        let w64 = u64::from(w.max(1));
        let elapsed = u64::from(now.saturating_sub(self.start)).min(w64);
        let carried = u64::from(self.prev) * (w64 - elapsed) / w64;
        u32::try_from(carried)
            .unwrap_or(u32::MAX)
            .saturating_add(self.cur)
    }

    /// Counts `n` events at `now` and returns the new estimate.
    pub(crate) fn add(&mut self, now: Tick, w: Tick, n: u32) -> u32 {
        self.roll(now, w);
        self.cur = self.cur.saturating_add(n);
        self.estimate(now, w)
    }

    /// Counts `n` events at `now` and returns the events of the current and the previous fixed window: never
    /// fewer than the sliding window ending now holds (the estimate can be, when events sit early in the
    /// previous window), possibly a few up to `2w` old. For alerts that must not miss a burst.
    pub(crate) fn add_no_undercount(&mut self, now: Tick, w: Tick, n: u32) -> u32 {
        self.roll(now, w);
        self.cur = self.cur.saturating_add(n);
        self.cur.saturating_add(self.prev)
    }

    /// Takes one event back (an answered challenge).
    pub(crate) fn take_one(&mut self, now: Tick, w: Tick) {
        self.roll(now, w);
        if self.cur > 0 {
            self.cur -= 1;
        } else {
            self.prev = self.prev.saturating_sub(1);
        }
    }

    /// Whether the counter holds nothing that still matters at `now`.
    pub(crate) fn is_idle(&self, now: Tick, w: Tick) -> bool {
        (self.cur == 0 && self.prev == 0)
            || now.saturating_sub(self.start) >= w.max(1).saturating_mul(2)
    }
}

/// Distinct values in a sliding window, estimated by linear counting over a 64-bit bitmap per window.
///
/// Accurate to within about 10% up to a few dozen values, which is where enumeration thresholds sit; the
/// estimate saturates near 250. The union of the current and previous windows is counted, so a value is
/// remembered for between one and two windows.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DistinctCounter {
    start: Tick,
    cur: u64,
    prev: u64,
}

impl DistinctCounter {
    fn roll(&mut self, now: Tick, w: Tick) {
        let w = w.max(1);
        let elapsed = now.saturating_sub(self.start);
        if elapsed < w {
            return;
        }
        self.prev = if elapsed < w.saturating_mul(2) {
            self.cur
        } else {
            0
        };
        self.cur = 0;
        self.start = self.start.saturating_add(elapsed - elapsed % w);
    }

    /// Records the value whose hash is `hash` and returns the estimated number of distinct values.
    pub(crate) fn add(&mut self, now: Tick, w: Tick, hash: u64) -> u32 {
        self.roll(now, w);
        self.cur |= 1u64 << (hash % 64);
        self.estimate()
    }

    fn estimate(&self) -> u32 {
        let set = (self.cur | self.prev).count_ones();
        if set >= 64 {
            return 250;
        }
        // Linear counting: n ≈ -m ln(1 - k/m).
        let m = 64.0_f64;
        let n = -m * (1.0 - f64::from(set) / m).ln();
        // n is finite and below 250 here (set < 64).
        n.round() as u32
    }

    /// Whether the counter holds nothing that still matters at `now`.
    pub(crate) fn is_idle(&self, now: Tick, w: Tick) -> bool {
        (self.cur == 0 && self.prev == 0)
            || now.saturating_sub(self.start) >= w.max(1).saturating_mul(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_counted_exactly() {
        let mut c = WindowCounter::default();
        for i in 1..=10 {
            assert_eq!(c.add(5, 100, 1), i);
        }
    }

    #[test]
    fn a_steady_rate_of_n_per_window_estimates_about_n() {
        // One event per 60 s with a 600 s window: ten in any window.
        let mut c = WindowCounter::default();
        let mut last = 0;
        for i in 0..100u32 {
            last = c.add(i * 600, 6000, 1);
        }
        assert!((9..=11).contains(&last), "estimate {last}");
    }

    #[test]
    fn the_no_undercount_form_keeps_every_event_of_the_sliding_window() {
        // Five events 9 minutes apart in total, straddling a window boundary: all five are within the last
        // 10 minutes at the fifth, but the weighted estimate has discounted the earlier ones.
        let w = 6000; // 10 minutes in ticks
        let times = [5500, 5800, 6100, 9000, 10_900];
        let (mut est, mut sure) = (WindowCounter::default(), WindowCounter::default());
        let (mut e, mut s) = (0, 0);
        for t in times {
            e = est.add(t, w, 1);
            s = sure.add_no_undercount(t, w, 1);
        }
        assert!(e < 5, "the estimate was expected to lose some here: {e}");
        assert_eq!(s, 5);
        // And it forgets: nothing two windows on.
        assert_eq!(sure.add_no_undercount(30_000, w, 1), 1);
    }

    #[test]
    fn old_events_fade_out() {
        let mut c = WindowCounter::default();
        c.add(0, 10, 50);
        assert_eq!(c.estimate(5, 10), 50);
        assert!(c.estimate(15, 10) <= 25);
        assert_eq!(c.estimate(25, 10), 0);
        assert!(c.is_idle(25, 10));
    }

    #[test]
    fn taking_back_never_underflows() {
        let mut c = WindowCounter::default();
        c.take_one(3, 10);
        assert_eq!(c.estimate(3, 10), 0);
        c.add(3, 10, 2);
        c.take_one(4, 10);
        assert_eq!(c.estimate(4, 10), 1);
    }

    #[test]
    fn distinct_values_are_estimated_closely() {
        let mut d = DistinctCounter::default();
        let mut est = 0;
        for v in 0..12u64 {
            // Spread the hashes like a real hash function would.
            est = d.add(1, 100, v.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7);
        }
        assert!((9..=15).contains(&est), "estimate {est}");
        // The same value again does not count twice.
        let again = d.add(2, 100, 11u64.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7);
        assert_eq!(again, est);
    }
}
