//! Tasks keep the network namespace they were started in. Sockets, child processes and IPVS
//! clients belong to the namespace of the thread that makes them, and the loop runs every
//! task on one thread: a monitor started inside `lvs.with_netns("d1", ...)` would otherwise
//! probe from, and edit the table of, whatever namespace is current when it next runs. So each
//! task is polled inside its own namespace, and the thread goes back afterwards.

use std::cell::RefCell;
use std::fs::File;
use std::future::Future;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use nix::sched::{CloneFlags, setns};

/// A namespace by its inode (device and inode number of its nsfs file).
pub type NsId = (u64, u64);

/// A network namespace, held open.
pub struct Netns {
    id: NsId,
    file: File,
}

impl Netns {
    pub fn id(&self) -> NsId {
        self.id
    }
}

thread_local! {
    /// The thread's namespace, as last seen; `moved` forgets it after a switch made elsewhere.
    static HERE: RefCell<Option<Rc<Netns>>> = const { RefCell::new(None) };
}

/// The namespace this thread is in.
pub fn here() -> std::io::Result<Rc<Netns>> {
    if let Some(ns) = HERE.with(|h| h.borrow().clone()) {
        return Ok(ns);
    }
    let file = File::open("/proc/thread-self/ns/net")?;
    let meta = file.metadata()?;
    let ns = Rc::new(Netns {
        id: (meta.dev(), meta.ino()),
        file,
    });
    HERE.with(|h| *h.borrow_mut() = Some(ns.clone()));
    Ok(ns)
}

/// Says the thread changed namespace by other means (`lvs.netns`, `lvs.with_netns`).
pub fn moved() {
    HERE.with(|h| *h.borrow_mut() = None);
}

fn enter(ns: &Rc<Netns>) -> nix::Result<()> {
    setns(ns.file.as_fd(), CloneFlags::CLONE_NEWNET)?;
    HERE.with(|h| *h.borrow_mut() = Some(ns.clone()));
    Ok(())
}

/// `fut`, polled in the namespace the thread is in now.
pub fn kept<F: Future>(fut: F) -> InNetns<F> {
    InNetns {
        fut: Box::pin(fut),
        ns: here().ok(),
        failed: false,
    }
}

pub struct InNetns<F> {
    fut: Pin<Box<F>>,
    ns: Option<Rc<Netns>>,
    failed: bool,
}

impl<F: Future> Future for InNetns<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let (Some(ns), Ok(outer)) = (this.ns.clone(), here()) else {
            return this.fut.as_mut().poll(cx);
        };
        if ns.id != outer.id
            && let Err(e) = enter(&ns)
        {
            // polling it here would act on the wrong namespace: it waits instead, said once
            if !this.failed {
                this.failed = true;
                crate::log::error(&format!(
                    "a task cannot return to its network namespace ({e}); it is stopped"
                ));
            }
            return Poll::Pending;
        }
        let out = this.fut.as_mut().poll(cx);
        if let Ok(now) = here() {
            // a task that switched namespace itself (`lvs.netns` in a callback) now belongs
            // there; the thread goes back to where it was
            if now.id != ns.id {
                this.ns = Some(now.clone());
            }
            if now.id != outer.id
                && let Err(e) = enter(&outer)
            {
                crate::log::error(&format!(
                    "cannot return to the loop's network namespace after a task ran: {e}"
                ));
            }
        }
        out
    }
}
