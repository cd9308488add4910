//! SIP ALG detection over UDP: the reflector's echo service and the agent's outbound test (the
//! decisions live in [`pbxguard_probe::alg`]).

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pbxguard_probe::admission::Keyring;
use pbxguard_probe::agent::Credentials;
use pbxguard_probe::alg::{EchoError, EchoService, Rewrite, compare, probe_request};

use crate::agent::random_nonce;
use crate::reflector::unix_ms;
use crate::udp::DriverError;

/// The reflector's SIP echo on a UDP port (normally 5060, where routers' ALGs look), stopped and
/// joined on drop.
pub struct EchoServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for EchoServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EchoServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl EchoServer {
    /// Binds `addr` and starts answering.
    ///
    /// # Errors
    ///
    /// [`DriverError::Bind`] when the address cannot be bound.
    pub fn start(addr: SocketAddr, keys: Keyring) -> Result<EchoServer, DriverError> {
        let bind = |source| DriverError::Bind { addr, source };
        let socket = UdpSocket::bind(addr).map_err(bind)?;
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(bind)?;
        let addr = socket.local_addr().map_err(bind)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut service = EchoService::new(keys);
                let mut buf = vec![0u8; 8192];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, from)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    let Some(req) = buf.get(..n) else { continue };
                    if let Ok(answer) = service.answer(Instant::now(), unix_ms(), from.ip(), req) {
                        let _ = socket.send_to(&answer, from);
                    }
                }
            })
        };
        Ok(EchoServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Why the ALG test produced no verdict.
#[derive(Debug)]
#[non_exhaustive]
pub enum AlgCheckError {
    /// A local socket failed.
    Io(io::Error),
    /// No authenticated echo arrived after all attempts.
    NoEcho {
        /// The last invalid answer, if any.
        last_invalid: Option<EchoError>,
    },
}

impl fmt::Display for AlgCheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlgCheckError::Io(e) => write!(f, "socket error: {e}"),
            AlgCheckError::NoEcho { last_invalid } => {
                write!(f, "no answer from the reflector's SIP echo")?;
                if let Some(e) = last_invalid {
                    write!(f, " (last answer rejected: {e})")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for AlgCheckError {}

impl From<io::Error> for AlgCheckError {
    fn from(e: io::Error) -> Self {
        AlgCheckError::Io(e)
    }
}

/// Sends the ALG probe from `local_ip` to the reflector's SIP echo at `echo`, up to three times,
/// and returns what the network rewrote on the way out (empty: no ALG).
///
/// # Errors
///
/// [`AlgCheckError`] when no authenticated echo arrives.
pub fn outbound(
    echo: SocketAddr,
    creds: &Credentials,
    local_ip: IpAddr,
    wait: Duration,
) -> Result<Vec<Rewrite>, AlgCheckError> {
    let s = UdpSocket::bind(SocketAddr::new(local_ip, 0))?;
    let local = s.local_addr()?;
    let mut buf = vec![0u8; 16_384];
    let mut last_invalid = None;
    for _ in 0..3 {
        // A fresh nonce per attempt: the echo refuses a nonce it has seen.
        let nonce = random_nonce()?;
        let sent = probe_request(&creds.key_id, &creds.secret, unix_ms(), nonce, local, echo);
        s.send_to(&sent, echo)?;
        let end = Instant::now() + wait;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            s.set_read_timeout(Some(left))?;
            match s.recv_from(&mut buf) {
                Ok((n, from)) if from == echo => {
                    let answer = buf.get(..n).unwrap_or_default();
                    match compare(&creds.secret, nonce, &sent, answer) {
                        Ok(rewrites) => return Ok(rewrites),
                        Err(e) => last_invalid = Some(e),
                    }
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::ConnectionRefused
                    ) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Err(AlgCheckError::NoEcho { last_invalid })
}
