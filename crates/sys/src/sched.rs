//! Real-time scheduling for the capture thread.
//!
//! A ring block reaches user space when the kernel retires it, and wakes the thread waiting in `poll`.
//! Under a flood the CPU that retires it is busy with the flood's softirq work, and an ordinary (CFS)
//! thread woken there can wait milliseconds for its turn: measured in the lab flood, the full block was
//! picked up 1–4 ms after its last packet in a few percent of bans. At `SCHED_FIFO` priority 1 the
//! thread preempts ordinary work as soon as it is woken. It is one thread, so at most one CPU is ever
//! taken from ordinary tasks, and the kernel's real-time throttling still leaves them a share of it.

use std::io;

/// Puts the calling thread in `SCHED_FIFO` at `priority` (1 is the lowest real-time priority). Threads and
/// processes it starts later (a log follower, `journalctl`) get the normal policy back
/// (`SCHED_RESET_ON_FORK`).
///
/// # Errors
///
/// The system's error: `EPERM` without `CAP_SYS_NICE` or an `RLIMIT_RTPRIO` of at least `priority`
/// (systemd: `LimitRTPRIO=1`), `EINVAL` for a priority outside 1–99.
pub fn set_realtime(priority: i32) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `param` is a valid sched_param for the duration of the call; pid 0 is the calling thread.
    let r = unsafe {
        libc::sched_setscheduler(
            0,
            libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK,
            &raw const param,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether the calling thread runs under `SCHED_FIFO`.
pub fn is_realtime() -> bool {
    // SAFETY: no arguments besides the calling thread's id 0.
    let policy = unsafe { libc::sched_getscheduler(0) };
    policy & !libc::SCHED_RESET_ON_FORK == libc::SCHED_FIFO
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_becomes_realtime_when_allowed_and_others_are_untouched() {
        let in_thread = std::thread::spawn(|| {
            let result = set_realtime(1);
            let child = std::thread::spawn(is_realtime).join().unwrap();
            (result.is_ok(), is_realtime(), child)
        })
        .join()
        .unwrap();
        // What the real-time thread starts runs at normal priority.
        assert!(!in_thread.2);
        // Allowed (root, or an RTPRIO limit) or refused with EPERM: either way it says so truthfully.
        assert_eq!(in_thread.0, in_thread.1);
        assert!(!is_realtime(), "the test thread itself must stay ordinary");
        assert_eq!(
            set_realtime(1000).unwrap_err().raw_os_error(),
            Some(libc::EINVAL)
        );
    }
}
