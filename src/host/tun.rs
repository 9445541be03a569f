//! A TUN device that lives only as long as lvsh holds it: the fate-sharing half of anycast.
//!
//! The VIPs a director announces are addresses on this device, and BIRD's `direct` protocol
//! turns them into routes it exports over BGP. The device is not persistent: when the file
//! descriptor closes — lvsh exits, is killed with SIGKILL, or its lifeline thread cuts it
//! because the event loop stopped turning — the kernel deletes the device with its
//! addresses, BIRD sees the interface go and withdraws the routes. No cleanup of lvsh's has
//! to run for a dead or hung director to stop attracting traffic.

use std::fs::OpenOptions;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::rtnl::{HostError, check_ifname};

const TUNSETIFF: nix::libc::c_ulong = 0x4004_54ca;
const IFF_TUN: u16 = 0x0001;
const IFF_NO_PI: u16 = 0x1000;

/// Creates the device `name` (not persistent: it goes when the descriptor closes).
pub fn open(name: &str) -> Result<OwnedFd, HostError> {
    check_ifname(name)?;
    let file = match open_clone() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // the module may not be loaded and its device node not made yet
            let _ = std::process::Command::new("modprobe").arg("tun").status();
            open_clone()
        }
        r => r,
    }
    .map_err(|e| HostError(format!("cannot open /dev/net/tun: {e}")))?;
    // struct ifreq: the name, then the flags (a short) in the union
    let mut ifr = [0u8; 40];
    ifr[..name.len()].copy_from_slice(name.as_bytes());
    ifr[16..18].copy_from_slice(&(IFF_TUN | IFF_NO_PI).to_ne_bytes());
    // SAFETY: TUNSETIFF reads and writes a struct ifreq, which `ifr` is large enough for.
    let rc = unsafe { nix::libc::ioctl(file.as_raw_fd(), TUNSETIFF as _, ifr.as_mut_ptr()) };
    if rc < 0 {
        let e = std::io::Error::last_os_error();
        return Err(HostError(format!("cannot create the device {name}: {e}")));
    }
    Ok(file.into())
}

fn open_clone() -> std::io::Result<std::fs::File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_CLOEXEC | nix::libc::O_NONBLOCK)
        .open("/dev/net/tun")
}

fn millis() -> u64 {
    static ANCHOR: OnceLock<Instant> = OnceLock::new();
    ANCHOR.get_or_init(Instant::now).elapsed().as_millis() as u64
}

struct Shared {
    beat: AtomicU64,
    cut: AtomicBool,
    stop: AtomicBool,
    open: AtomicBool,
    generation: AtomicU64,
    stalls: AtomicU64,
}

/// The device held by a thread of its own, which lets it go when the event loop has not
/// beaten for `hang` (a stalled loop cannot withdraw anything itself) and takes it again
/// once the loop beats.
pub struct Lifeline {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Lifeline {
    /// Creates the device now (in the calling thread's network namespace, which the lifeline
    /// thread inherits for later re-creations) and starts holding it.
    pub fn start(dev: &str, hang: Duration) -> Result<Lifeline, HostError> {
        let fd = open(dev)?;
        let shared = Arc::new(Shared {
            beat: AtomicU64::new(millis()),
            cut: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            open: AtomicBool::new(true),
            generation: AtomicU64::new(1),
            stalls: AtomicU64::new(0),
        });
        let s = shared.clone();
        let dev = dev.to_string();
        let hang = hang.as_millis() as u64;
        let thread = std::thread::Builder::new()
            .name(format!("lifeline {dev}"))
            .spawn(move || hold(&s, &dev, hang, Some(fd)))
            .map_err(|e| HostError(format!("cannot start the lifeline thread: {e}")))?;
        Ok(Lifeline {
            shared,
            thread: Some(thread),
        })
    }

    /// The event loop is alive.
    pub fn beat(&self) {
        self.shared.beat.store(millis(), Ordering::Relaxed);
    }

    /// Let the device go for good (a graceful stop: withdraw everything first), or take it
    /// again.
    pub fn cut(&self, cut: bool) {
        self.shared.cut.store(cut, Ordering::SeqCst);
    }

    pub fn is_open(&self) -> bool {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// Counts creations of the device: a new one has no addresses yet.
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::SeqCst)
    }

    /// Times the device was let go because the loop stalled.
    pub fn stalls(&self) -> u64 {
        self.shared.stalls.load(Ordering::SeqCst)
    }
}

impl Drop for Lifeline {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The lifeline thread: off the event loop, so its sleeps hold nothing up.
fn hold(s: &Shared, dev: &str, hang: u64, mut fd: Option<OwnedFd>) {
    const LOOK: Duration = Duration::from_millis(50);
    let mut failed = false;
    while !s.stop.load(Ordering::SeqCst) {
        let silent = millis().saturating_sub(s.beat.load(Ordering::Relaxed));
        let cut = s.cut.load(Ordering::SeqCst);
        let want = !cut && silent <= hang;
        if fd.is_some() && !want {
            fd = None;
            s.open.store(false, Ordering::SeqCst);
            if !cut {
                s.stalls.fetch_add(1, Ordering::SeqCst);
                crate::log::error(&format!(
                    "anycast: the event loop has not turned for {silent} ms: {dev} removed, its VIPs withdrawn"
                ));
            }
        } else if fd.is_none() && want {
            match open(dev) {
                Ok(f) => {
                    fd = Some(f);
                    failed = false;
                    s.generation.fetch_add(1, Ordering::SeqCst);
                    s.open.store(true, Ordering::SeqCst);
                }
                Err(e) if !failed => {
                    failed = true;
                    crate::log::error(&format!("anycast: {}", e.0));
                }
                Err(_) => {}
            }
        }
        // this thread is the lifeline's own, never the event loop's: its sleep holds up nothing
        std::thread::sleep(LOOK);
    }
}
