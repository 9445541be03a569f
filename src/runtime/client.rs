//! Whose code the loop is running: a chunk sent by an attached control client is polled
//! inside that client's context, so what it prints goes back to the client's terminal (not
//! to the daemon's stdout), Ctrl-C there interrupts that chunk only, and an override it sets
//! records who set it. Tasks the chunk starts are not the client's: they run on their own.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

/// An attached client's process, as SO_PEERCRED told it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub pid: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

/// Where a client's output goes: the function returns false once the client is gone (its
/// output is then dropped, not printed on the daemon's stdout).
pub type Sink = Box<dyn Fn(Stream, &str) -> bool>;

pub struct Client {
    pub peer: Peer,
    pub sink: Sink,
    /// Raised by the client's reader thread on Ctrl-C: the count hook interrupts the chunk
    /// even while it keeps the loop from turning.
    pub interrupt: Arc<AtomicBool>,
}

thread_local! {
    static CURRENT: RefCell<Vec<Rc<Client>>> = const { RefCell::new(Vec::new()) };
}

/// `fut`, polled as `client`'s.
pub fn inside<F: Future>(client: Rc<Client>, fut: F) -> Inside<F> {
    Inside {
        fut: Box::pin(fut),
        client,
    }
}

pub struct Inside<F> {
    fut: Pin<Box<F>>,
    client: Rc<Client>,
}

struct Pop;

impl Drop for Pop {
    fn drop(&mut self) {
        CURRENT.with(|c| c.borrow_mut().pop());
    }
}

impl<F: Future> Future for Inside<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        CURRENT.with(|c| c.borrow_mut().push(this.client.clone()));
        let _pop = Pop;
        this.fut.as_mut().poll(cx)
    }
}

fn current() -> Option<Rc<Client>> {
    CURRENT.with(|c| c.borrow().last().cloned())
}

/// The attached client whose chunk runs now, if one does.
pub fn peer() -> Option<Peer> {
    current().map(|c| c.peer)
}

/// Sends `text` to the client whose chunk runs now; false when no client's chunk runs (the
/// caller prints it where it would have).
pub fn write(stream: Stream, text: &str) -> bool {
    match current() {
        Some(c) => {
            (c.sink)(stream, text);
            true
        }
        None => false,
    }
}

/// Whether the client whose chunk runs now asked to interrupt it (asked once, told once).
pub fn interrupted() -> bool {
    current().is_some_and(|c| c.interrupt.swap(false, Ordering::SeqCst))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn output_inside_a_client_goes_to_it_and_outside_does_not() {
        let got = Rc::new(RefCell::new(String::new()));
        let g = got.clone();
        let client = Rc::new(Client {
            peer: Peer { uid: 0, pid: 7 },
            sink: Box::new(move |_, t| {
                g.borrow_mut().push_str(t);
                true
            }),
            interrupt: Arc::new(AtomicBool::new(true)),
        });
        assert!(!write(Stream::Out, "nobody's"));
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(inside(client, async {
            assert!(write(Stream::Out, "mine"));
            assert_eq!(peer(), Some(Peer { uid: 0, pid: 7 }));
            assert!(interrupted());
            assert!(!interrupted());
        }));
        assert_eq!(peer(), None);
        assert_eq!(*got.borrow(), "mine");
    }
}
