//! A worker's clock. The monotonic clock (`Instant`, CLOCK_MONOTONIC) is read once per wakeup and drives every
//! deadline: connection timeouts, the stop deadline, the Redis link's timers. The wall clock is read only when a
//! second boundary may have passed, and serves only what a person reads: `Date` and `lastChanged`. A wall clock
//! step (NTP, a VM resume, an operator) therefore moves no deadline; `Date` follows it within a second.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Wall-clock Unix seconds (0 before 1970): for `Date`, `lastChanged`, and the start time main reports.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub struct Clock {
    /// The worker's start: monotonic seconds count from here.
    start: Instant,
    /// The earliest instant at which a whole monotonic second or a wall-clock second ends: before it, a wakeup
    /// costs one clock read and one comparison.
    next_second: Instant,
    mono_secs: u64,
    wall_secs: u64,
}

impl Clock {
    pub fn new() -> Clock {
        let start = Instant::now();
        let mut clock = Clock { start, next_second: start, mono_secs: 0, wall_secs: 0 };
        clock.observe(start);
        clock
    }

    /// This wakeup's time: the monotonic clock, read once. `true` when a second boundary passed since the last
    /// call; `mono_secs` and `wall_secs` are then up to date.
    pub fn read(&mut self) -> (Instant, bool) {
        let now = Instant::now();
        if now < self.next_second {
            return (now, false);
        }
        self.observe(now);
        (now, true)
    }

    /// Whole seconds since the worker started (monotonic): the unit of connection and stop deadlines.
    pub fn mono_secs(&self) -> u64 {
        self.mono_secs
    }

    /// The wall clock's Unix second as of the last second boundary.
    pub fn wall_secs(&self) -> u64 {
        self.wall_secs
    }

    fn observe(&mut self, now: Instant) {
        let since = now.saturating_duration_since(self.start);
        self.mono_secs = since.as_secs();
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        self.wall_secs = wall.as_secs();
        // Both clocks tick whole seconds at their own phase; wake the slow path at whichever ends first. The wall
        // clock's phase is taken afresh each time, so after a step the next boundary is found within a second.
        let to_mono = Duration::from_secs(self.mono_secs + 1).saturating_sub(since);
        let to_wall = Duration::from_secs(1) - Duration::from_nanos(u64::from(wall.subsec_nanos()));
        self.next_second = now + to_mono.min(to_wall);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_follow_both_clocks() {
        let mut clock = Clock::new();
        assert_eq!(clock.mono_secs(), 0);
        assert!(clock.wall_secs().abs_diff(unix_now()) <= 1);
        let (now, _) = clock.read();
        assert!(clock.next_second > now && clock.next_second <= now + Duration::from_secs(1));
        std::thread::sleep(Duration::from_millis(1100));
        let (_, second) = clock.read();
        assert!(second, "a second boundary passed");
        assert!(clock.mono_secs() >= 1);
    }
}
