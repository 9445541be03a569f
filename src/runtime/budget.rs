//! How long Lua may run on the loop without giving it a turn. Every check and callback the
//! loop runs is polled inside a slice with a deadline; the count hook asks `overrun` and
//! interrupts the Lua code once the innermost stretch of running without yielding is past
//! its deadline. A check or hook that spins would otherwise freeze every monitor and timer.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// After an interruption the unwinding (message handlers, `pcall` returning) needs a moment
/// of Lua of its own; a chunk that catches the error and spins on is interrupted again then.
const GRACE: Duration = Duration::from_millis(20);

/// What a callback may run without yielding unless `set_default` says otherwise.
pub const DEFAULT: Duration = Duration::from_secs(2);

struct Slice {
    deadline: Instant,
    budget: Duration,
    what: Rc<str>,
}

thread_local! {
    static SLICES: RefCell<Vec<Slice>> = const { RefCell::new(Vec::new()) };
    /// Counts the count hook's forced yields (`hook_yield`).
    static HOOK_YIELDS: Cell<u64> = const { Cell::new(0) };
    static CALLBACK_BUDGET: Cell<Duration> = const { Cell::new(DEFAULT) };
}

/// The budget of callbacks, and the most a check may have (checks get their timeout).
pub fn default_budget() -> Duration {
    CALLBACK_BUDGET.with(Cell::get)
}

pub fn set_default(d: Duration) {
    CALLBACK_BUDGET.with(|c| c.set(d));
}

/// `fut`, polled inside a slice of `budget`: each poll is one stretch without yielding.
pub fn budgeted<F: Future>(what: impl Into<Rc<str>>, budget: Duration, fut: F) -> Budgeted<F> {
    Budgeted {
        fut: Box::pin(fut),
        budget,
        what: what.into(),
        carried: None,
    }
}

/// The count hook made the running coroutine give the loop a turn: the code did not yield
/// of its own accord, so its stretch without yielding goes on at the next poll.
pub fn hook_yield() {
    HOOK_YIELDS.with(|n| n.set(n.get() + 1));
}

pub struct Budgeted<F> {
    fut: Pin<Box<F>>,
    budget: Duration,
    what: Rc<str>,
    /// What is left of a stretch the count hook broke up: the time the code itself runs
    /// counts, not the turns the loop gave others in between.
    carried: Option<Duration>,
}

/// Pops the slice even when the poll unwinds.
struct Pop;

impl Drop for Pop {
    fn drop(&mut self) {
        SLICES.with(|s| s.borrow_mut().pop());
    }
}

impl<F: Future> Future for Budgeted<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let slice = Slice {
            deadline: Instant::now() + this.carried.take().unwrap_or(this.budget),
            budget: this.budget,
            what: this.what.clone(),
        };
        SLICES.with(|s| s.borrow_mut().push(slice));
        let forced = HOOK_YIELDS.with(Cell::get);
        let _pop = Pop;
        let polled = this.fut.as_mut().poll(cx);
        if polled.is_pending() && HOOK_YIELDS.with(Cell::get) != forced {
            let deadline = SLICES.with(|s| s.borrow().last().map(|s| s.deadline));
            this.carried = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        }
        polled
    }
}

/// Why the running Lua code must stop now, if a slice it runs in is past its deadline (the
/// earliest deadline of the slices it is nested in: all of them have not yielded since).
pub fn overrun() -> Option<String> {
    SLICES.with(|s| {
        let mut slices = s.borrow_mut();
        let now = Instant::now();
        let late = slices
            .iter_mut()
            .filter(|s| now >= s.deadline)
            .min_by_key(|s| s.deadline)?;
        late.deadline = now + GRACE;
        Some(format!(
            "budget: {} ran {} without yielding to the event loop (its budget; see lvs.budget)",
            late.what,
            seconds(late.budget)
        ))
    })
}

pub fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{} s", (s * 1000.0).round() / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(d: Duration) -> Option<String> {
        let start = Instant::now();
        while start.elapsed() < d {
            if let Some(why) = overrun() {
                return Some(why);
            }
        }
        None
    }

    #[test]
    fn a_slice_past_its_budget_is_overrun_and_others_are_not() {
        let out = std::cell::RefCell::new(None);
        let fut = budgeted("the check", Duration::from_millis(30), async {
            *out.borrow_mut() = spin(Duration::from_millis(500));
        });
        let waker = std::task::Waker::noop();
        let mut fut = std::pin::pin!(fut);
        assert!(fut.as_mut().poll(&mut Context::from_waker(waker)).is_ready());
        let why = out.borrow().clone().expect("interrupted");
        assert!(
            why.starts_with("budget: the check ran 0.03 s without yielding"),
            "{why}"
        );
        // outside any slice nothing is ever overrun
        assert_eq!(spin(Duration::from_millis(40)), None);
    }

    #[test]
    fn the_deadline_starts_again_at_each_poll() {
        struct Twice(u8);
        impl Future for Twice {
            type Output = Option<String>;
            fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<String>> {
                let why = spin(Duration::from_millis(20));
                self.0 += 1;
                if self.0 == 3 || why.is_some() {
                    return Poll::Ready(why);
                }
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
        let mut fut = std::pin::pin!(budgeted("yielding", Duration::from_millis(35), Twice(0)));
        let waker = std::task::Waker::noop();
        let out = loop {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut Context::from_waker(waker)) {
                break v;
            }
        };
        assert_eq!(
            out, None,
            "60 ms in three polls of 20 ms each is within a 35 ms budget"
        );
    }

    #[test]
    fn a_stretch_the_hook_broke_up_goes_on_at_the_next_poll() {
        struct Forced(u8);
        impl Future for Forced {
            type Output = Option<String>;
            fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<String>> {
                let why = spin(Duration::from_millis(20));
                self.0 += 1;
                if self.0 == 3 || why.is_some() {
                    return Poll::Ready(why);
                }
                hook_yield();
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
        let mut fut = std::pin::pin!(budgeted("spinning", Duration::from_millis(35), Forced(0)));
        let waker = std::task::Waker::noop();
        let out = loop {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut Context::from_waker(waker)) {
                break v;
            }
        };
        let why = out.expect("the budget counts across forced yields");
        assert!(why.starts_with("budget: spinning ran 0.035 s"), "{why}");
    }
}
