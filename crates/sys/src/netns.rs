//! Running socket-creating code inside another network namespace.
//!
//! A socket belongs to the namespace it was created in, for its whole life, whichever thread uses it later.
//! [`run_in`] therefore switches a short-lived helper thread into the namespace, runs the constructor there,
//! and hands the result back; the calling thread never changes namespace. This is how a guard on a router
//! (or a test) enforces and captures in a namespace other than its own.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Runs `f` on a fresh thread that has joined the network namespace at `path` (e.g.
/// `/var/run/netns/NAME` as created by `ip netns add`, or `/proc/PID/ns/net`), and returns its result.
///
/// # Errors
///
/// The namespace file cannot be opened, `setns(2)` fails (it needs `CAP_SYS_ADMIN`), or the thread panicked.
pub fn run_in<T, F>(path: &Path, f: F) -> io::Result<T>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    let ns = File::open(path)?;
    std::thread::scope(|s| {
        s.spawn(move || {
            // SAFETY: setns(2) on an open namespace descriptor only changes this helper thread's namespace;
            // the descriptor stays open for the duration of the call.
            let r = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            if r != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(f())
        })
        .join()
        .map_err(|_| io::Error::other("namespace helper thread panicked"))?
    })
}

/// The path `ip netns add NAME` creates for a named namespace.
pub fn named(name: &str) -> std::path::PathBuf {
    Path::new("/var/run/netns").join(name)
}
