//! Blocking UDP drivers for the STUN probes and the STUN server.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pbxguard_stun::server::{Server, ServerStats};
use pbxguard_stun::{LocalSocket, Probe};

/// How often reader threads look at the stop flag.
const READ_POLL: Duration = Duration::from_millis(100);

/// The largest datagram read; STUN messages here stay far below it.
const MAX_DATAGRAM: usize = 2048;

/// Why a driver failed. Socket failures are the local system's; a deadline is the network's.
#[derive(Debug)]
#[non_exhaustive]
pub enum DriverError {
    /// Binding a local UDP socket failed.
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The system error.
        source: io::Error,
    },
    /// Finding the local address that routes to the server failed.
    Route {
        /// The server.
        server: SocketAddr,
        /// The system error.
        source: io::Error,
    },
    /// Sending a datagram failed.
    Send {
        /// The destination.
        to: SocketAddr,
        /// The system error.
        source: io::Error,
    },
    /// The probe was still running at the overall deadline.
    DeadlineExceeded {
        /// The deadline that passed.
        after: Duration,
    },
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriverError::Bind { addr, source } => write!(f, "cannot bind UDP {addr}: {source}"),
            DriverError::Route { server, source } => {
                write!(f, "no local address routes to {server}: {source}")
            }
            DriverError::Send { to, source } => write!(f, "cannot send to {to}: {source}"),
            DriverError::DeadlineExceeded { after } => {
                write!(f, "probe did not finish within {after:?}")
            }
        }
    }
}

impl std::error::Error for DriverError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DriverError::Bind { source, .. }
            | DriverError::Route { source, .. }
            | DriverError::Send { source, .. } => Some(source),
            DriverError::DeadlineExceeded { .. } => None,
        }
    }
}

/// The local IP address the system would use to reach `server` (no packet is sent: a UDP
/// `connect` only selects a route).
///
/// # Errors
///
/// [`DriverError::Route`] when there is no route.
pub fn local_ip_towards(server: SocketAddr) -> Result<IpAddr, DriverError> {
    let unspecified: SocketAddr = if server.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let route = |source| DriverError::Route { server, source };
    let s = UdpSocket::bind(unspecified).map_err(route)?;
    s.connect(server).map_err(route)?;
    Ok(s.local_addr().map_err(route)?.ip())
}

/// Random bytes for transaction IDs. Transaction IDs only need to be unpredictable enough that an
/// off-path sender cannot guess them (RFC 5389 §6); the standard library's per-process hash keys
/// give that without a dependency.
pub fn random_seed() -> [u8; 12] {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut out = [0u8; 12];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut h = RandomState::new().build_hasher();
        h.write_usize(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        let bytes = h.finish().to_be_bytes();
        for (o, b) in chunk.iter_mut().zip(bytes.iter()) {
            *o = *b;
        }
    }
    out
}

struct Incoming {
    local: LocalSocket,
    from: SocketAddr,
    bytes: Vec<u8>,
}

/// A set of client sockets named by [`LocalSocket`], bound lazily on `ip` with ephemeral ports.
pub struct ClientSockets {
    ip: IpAddr,
    sockets: HashMap<LocalSocket, UdpSocket>,
    readers: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    tx: Sender<Incoming>,
    rx: Receiver<Incoming>,
}

impl fmt::Debug for ClientSockets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSockets")
            .field("ip", &self.ip)
            .field("sockets", &self.sockets.len())
            .finish()
    }
}

impl ClientSockets {
    /// Sockets that will bind on `ip`.
    pub fn new(ip: IpAddr) -> Self {
        let (tx, rx) = mpsc::channel();
        ClientSockets {
            ip,
            sockets: HashMap::new(),
            readers: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
            tx,
            rx,
        }
    }

    /// Binds socket `local` if it is not bound yet, and returns its address.
    ///
    /// # Errors
    ///
    /// [`DriverError::Bind`] when the system refuses the socket.
    pub fn bind(&mut self, local: LocalSocket) -> Result<SocketAddr, DriverError> {
        if let Some(s) = self.sockets.get(&local) {
            return s.local_addr().map_err(|source| DriverError::Bind {
                addr: SocketAddr::new(self.ip, 0),
                source,
            });
        }
        let addr = SocketAddr::new(self.ip, 0);
        let bind = |source| DriverError::Bind { addr, source };
        let s = UdpSocket::bind(addr).map_err(bind)?;
        let reader = s.try_clone().map_err(bind)?;
        reader.set_read_timeout(Some(READ_POLL)).map_err(bind)?;
        let bound = s.local_addr().map_err(bind)?;
        let tx = self.tx.clone();
        let stop = Arc::clone(&self.stop);
        self.readers.push(std::thread::spawn(move || {
            let mut buf = vec![0u8; MAX_DATAGRAM];
            while !stop.load(Ordering::Relaxed) {
                match reader.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        let bytes = buf.get(..n).unwrap_or_default().to_vec();
                        if tx.send(Incoming { local, from, bytes }).is_err() {
                            return;
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock
                                | io::ErrorKind::TimedOut
                                | io::ErrorKind::ConnectionRefused
                                | io::ErrorKind::Interrupted
                        ) => {}
                    Err(_) => return,
                }
            }
        }));
        self.sockets.insert(local, s);
        Ok(bound)
    }

    fn send(
        &mut self,
        local: LocalSocket,
        to: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), DriverError> {
        self.bind(local)?;
        let Some(s) = self.sockets.get(&local) else {
            return Ok(());
        };
        match s.send_to(bytes, to) {
            Ok(_) => Ok(()),
            // An ICMP error from an earlier datagram surfaces on the next send on Linux; the probe's
            // timers already treat a lost answer as silence.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(()),
            Err(source) => Err(DriverError::Send { to, source }),
        }
    }
}

impl Drop for ClientSockets {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }
}

/// Runs `probe` over `sockets` until it produces its result, or `deadline` passes.
///
/// # Errors
///
/// [`DriverError`] when a socket fails or the deadline passes.
pub fn run_probe<P: Probe>(
    probe: &mut P,
    sockets: &mut ClientSockets,
    deadline: Duration,
) -> Result<P::Output, DriverError> {
    let start = Instant::now();
    let end = start + deadline;
    loop {
        let now = Instant::now();
        if let Some(r) = probe.poll_result() {
            return Ok(r);
        }
        while let Some(t) = probe.poll_transmit(now) {
            sockets.send(t.local, t.destination, &t.contents)?;
        }
        if now >= end {
            return Err(DriverError::DeadlineExceeded { after: deadline });
        }
        let wake = probe.poll_timeout().unwrap_or(end).min(end);
        let wait = wake.saturating_duration_since(now);
        match sockets.rx.recv_timeout(wait) {
            Ok(d) => probe.handle_datagram(Instant::now(), d.local, d.from, &d.bytes),
            Err(RecvTimeoutError::Timeout) => probe.handle_timeout(Instant::now()),
            Err(RecvTimeoutError::Disconnected) => {
                return Err(DriverError::DeadlineExceeded { after: deadline });
            }
        }
        // Timers may have come due while a datagram was handled.
        probe.handle_timeout(Instant::now());
    }
}

/// A running STUN server: one thread per local socket, stopped and joined on drop.
pub struct StunServer {
    addresses: Vec<SocketAddr>,
    server: Arc<Mutex<Server>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl fmt::Debug for StunServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StunServer")
            .field("addresses", &self.addresses)
            .finish()
    }
}

impl StunServer {
    /// Binds every address `server` needs and starts answering.
    ///
    /// # Errors
    ///
    /// [`DriverError::Bind`] when an address cannot be bound (nothing keeps running then).
    pub fn start(server: Server) -> Result<StunServer, DriverError> {
        let addresses = server.local_addresses();
        let mut sockets = Vec::new();
        for addr in &addresses {
            let bind = |source| DriverError::Bind {
                addr: *addr,
                source,
            };
            let s = UdpSocket::bind(addr).map_err(bind)?;
            s.set_read_timeout(Some(READ_POLL)).map_err(bind)?;
            sockets.push((*addr, s));
        }
        let sockets = Arc::new(sockets);
        let server = Arc::new(Mutex::new(server));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for i in 0..sockets.len() {
            let sockets = Arc::clone(&sockets);
            let server = Arc::clone(&server);
            let stop = Arc::clone(&stop);
            threads.push(std::thread::spawn(move || {
                serve(i, &sockets, &server, &stop)
            }));
        }
        Ok(StunServer {
            addresses,
            server,
            stop,
            threads,
        })
    }

    /// The addresses being served.
    pub fn addresses(&self) -> &[SocketAddr] {
        &self.addresses
    }

    /// What the server has done so far.
    pub fn stats(&self) -> ServerStats {
        self.server
            .lock()
            .map_or_else(|p| p.into_inner().stats(), |s| s.stats())
    }
}

impl Drop for StunServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn serve(
    index: usize,
    sockets: &[(SocketAddr, UdpSocket)],
    server: &Mutex<Server>,
    stop: &AtomicBool,
) {
    let Some((local, socket)) = sockets.get(index) else {
        return;
    };
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut out = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(_) => return,
        };
        let Some(datagram) = buf.get(..n) else {
            continue;
        };
        let reply = match server.lock() {
            Ok(mut s) => s.handle(Instant::now(), *local, from, datagram, &mut out),
            Err(_) => return,
        };
        let Some(r) = reply else { continue };
        let Some((_, via)) = sockets.iter().find(|(a, _)| *a == r.from) else {
            continue;
        };
        if let Some(bytes) = out.get(..r.len) {
            // A failed send is a lost datagram; the client retransmits.
            let _ = via.send_to(bytes, r.to);
        }
    }
}
