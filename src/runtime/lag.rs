//! How late the loop's timers fire: a timer every 100 ms notes how much later than asked
//! it woke. A loop that stalls (Lua that never yields, a blocking call) shows here before
//! its checks are missed; metrics export the worst of the last ten seconds.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

const TICK: Duration = Duration::from_millis(100);
const KEPT: usize = 100;

thread_local! {
    static LATE: RefCell<Option<VecDeque<f64>>> = const { RefCell::new(None) };
}

/// Starts measuring on this thread's loop (once; later calls do nothing).
pub fn start() {
    let started = LATE.with(|l| {
        let mut l = l.borrow_mut();
        let was = l.is_some();
        l.get_or_insert_with(VecDeque::new);
        was
    });
    if started {
        return;
    }
    tokio::task::spawn_local(async {
        loop {
            let asked = Instant::now() + TICK;
            tokio::time::sleep_until(asked.into()).await;
            let late = Instant::now().saturating_duration_since(asked).as_secs_f64();
            LATE.with(|l| {
                if let Some(q) = l.borrow_mut().as_mut() {
                    if q.len() == KEPT {
                        q.pop_front();
                    }
                    q.push_back(late);
                }
            });
        }
    });
}

/// The worst lateness of the last ten seconds, in seconds (0 before any measurement).
pub fn recent() -> f64 {
    LATE.with(|l| {
        l.borrow()
            .as_ref()
            .map_or(0.0, |q| q.iter().copied().fold(0.0, f64::max))
    })
}
