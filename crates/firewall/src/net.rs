//! Ports, port ranges, transport protocols and address prefixes.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::Serialize;

/// A transport protocol a firewall rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// The lower-case name every firewall tool uses (`tcp`, `udp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An inclusive range of ports, `first..=last`, both in 1–65535. A single port has `first == last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    first: u16,
    last: u16,
}

/// Why a port or port range was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PortRangeError {
    /// The text is not a number or a `first-last` pair of numbers.
    NotANumber,
    /// A port is 0 or above 65535.
    OutOfRange(i64),
    /// The range's first port is above its last.
    Reversed {
        /// The first port as written.
        first: u16,
        /// The last port as written.
        last: u16,
    },
}

impl fmt::Display for PortRangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotANumber => f.write_str("expected a port (5060) or a range (10000-20000)"),
            Self::OutOfRange(p) => write!(f, "port {p} is outside 1-65535"),
            Self::Reversed { first, last } => {
                write!(f, "range {first}-{last} starts above where it ends")
            }
        }
    }
}

impl std::error::Error for PortRangeError {}

impl PortRange {
    /// TCP port 22, SSH's default.
    pub const SSH_DEFAULT: Self = Self {
        first: 22,
        last: 22,
    };

    /// A range from `first` to `last` inclusive.
    ///
    /// # Errors
    ///
    /// [`PortRangeError::OutOfRange`] for port 0, [`PortRangeError::Reversed`] when `first > last`.
    pub fn new(first: u16, last: u16) -> Result<Self, PortRangeError> {
        if first == 0 || last == 0 {
            return Err(PortRangeError::OutOfRange(0));
        }
        if first > last {
            return Err(PortRangeError::Reversed { first, last });
        }
        Ok(Self { first, last })
    }

    /// A single port.
    ///
    /// # Errors
    ///
    /// [`PortRangeError::OutOfRange`] for port 0.
    pub fn single(port: u16) -> Result<Self, PortRangeError> {
        Self::new(port, port)
    }

    /// A port given as a wide integer (as TOML integers are), checked to lie in 1–65535.
    ///
    /// # Errors
    ///
    /// [`PortRangeError::OutOfRange`] when it does not.
    pub fn from_i64(port: i64) -> Result<Self, PortRangeError> {
        let p = u16::try_from(port).map_err(|_| PortRangeError::OutOfRange(port))?;
        Self::single(p)
    }

    /// The first port.
    pub fn first(self) -> u16 {
        self.first
    }

    /// The last port.
    pub fn last(self) -> u16 {
        self.last
    }

    /// Whether the range is one port.
    pub fn is_single(self) -> bool {
        self.first == self.last
    }

    /// How many ports the range holds.
    pub fn len(self) -> u32 {
        u32::from(self.last) - u32::from(self.first) + 1
    }

    /// Always false: a range holds at least one port. Present for API symmetry with `len`.
    pub fn is_empty(self) -> bool {
        false
    }

    /// Whether the two ranges share at least one port.
    pub fn overlaps(self, other: Self) -> bool {
        self.first <= other.last && other.first <= self.last
    }

    /// Whether `port` lies in the range.
    pub fn contains(self, port: u16) -> bool {
        self.first <= port && port <= self.last
    }

    /// The range written with `sep` between first and last (`-` for nftables, `:` for iptables and ufw).
    pub fn with_sep(self, sep: &str) -> String {
        if self.is_single() {
            self.first.to_string()
        } else {
            format!("{}{sep}{}", self.first, self.last)
        }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.with_sep("-"))
    }
}

impl FromStr for PortRange {
    type Err = PortRangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parse = |t: &str| -> Result<u16, PortRangeError> {
            let n: i64 = t.trim().parse().map_err(|_| PortRangeError::NotANumber)?;
            u16::try_from(n)
                .ok()
                .filter(|&p| p != 0)
                .ok_or(PortRangeError::OutOfRange(n))
        };
        match s.split_once('-') {
            Some((a, b)) => Self::new(parse(a)?, parse(b)?),
            None => Self::single(parse(s)?),
        }
    }
}

impl Serialize for PortRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An address prefix such as `203.0.113.0/24` or `2001:db8::/32`, stored with its host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why an address or prefix was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CidrError {
    /// The address part is not an IPv4 or IPv6 address.
    AddressInvalid,
    /// The prefix length is not a number or longer than the address.
    PrefixInvalid,
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AddressInvalid => {
                f.write_str("expected an IPv4 or IPv6 address, optionally with /prefix")
            }
            Self::PrefixInvalid => f.write_str("the /prefix length is invalid for this address"),
        }
    }
}

impl std::error::Error for CidrError {}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & m).into())
        }
    }
}

impl Cidr {
    /// The prefix containing `addr` with `prefix` leading bits.
    ///
    /// # Errors
    ///
    /// [`CidrError::PrefixInvalid`] when `prefix` exceeds the address length.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, CidrError> {
        if prefix > Self::max_prefix(addr) {
            return Err(CidrError::PrefixInvalid);
        }
        Ok(Self {
            network: mask(addr, prefix),
            prefix,
        })
    }

    fn max_prefix(addr: IpAddr) -> u8 {
        if addr.is_ipv4() { 32 } else { 128 }
    }

    /// Parses an address with an optional `/prefix`, returning the address as written too (the host
    /// part matters for a LAN address such as `192.168.1.10/24`).
    ///
    /// # Errors
    ///
    /// [`CidrError`] when the address or prefix is invalid.
    pub fn parse_with_host(s: &str) -> Result<(IpAddr, Self), CidrError> {
        let (a, p) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = a.parse().map_err(|_| CidrError::AddressInvalid)?;
        let prefix = match p {
            Some(p) => p.parse::<u8>().map_err(|_| CidrError::PrefixInvalid)?,
            None => Self::max_prefix(addr),
        };
        Ok((addr, Self::new(addr, prefix)?))
    }

    /// The network address (host bits cleared).
    pub fn network(self) -> IpAddr {
        self.network
    }

    /// The prefix length.
    pub fn prefix(self) -> u8 {
        self.prefix
    }

    /// Whether this is an IPv4 prefix.
    pub fn is_ipv4(self) -> bool {
        self.network.is_ipv4()
    }

    /// Whether this prefix is the whole address space of its family (`0.0.0.0/0`, `::/0`).
    pub fn is_everything(self) -> bool {
        self.prefix == 0
    }

    /// Whether `addr` lies inside this prefix.
    pub fn contains(self, addr: IpAddr) -> bool {
        addr.is_ipv4() == self.is_ipv4() && mask(addr, self.prefix) == self.network
    }

    /// Whether the two prefixes share any address (one contains the other).
    pub fn overlaps(self, other: Self) -> bool {
        if self.is_ipv4() != other.is_ipv4() {
            return false;
        }
        let p = self.prefix.min(other.prefix);
        mask(self.network, p) == mask(other.network, p)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_with_host(s).map(|(_, c)| c)
    }
}

impl Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_parse_single_and_range_and_reject_zero_and_overflow() {
        assert_eq!("5060".parse::<PortRange>().unwrap().to_string(), "5060");
        let r: PortRange = "10000-20000".parse().unwrap();
        assert_eq!((r.first(), r.last(), r.len()), (10000, 20000, 10001));
        assert_eq!("0".parse::<PortRange>(), Err(PortRangeError::OutOfRange(0)));
        assert_eq!(
            "70000".parse::<PortRange>(),
            Err(PortRangeError::OutOfRange(70000))
        );
        assert!(matches!(
            "20-10".parse::<PortRange>(),
            Err(PortRangeError::Reversed { .. })
        ));
        assert_eq!("sip".parse::<PortRange>(), Err(PortRangeError::NotANumber));
    }

    #[test]
    fn overlapping_ranges_share_a_port() {
        let a: PortRange = "5000-5082".parse().unwrap();
        assert!(a.overlaps("5060".parse().unwrap()));
        assert!(!a.overlaps("5083-6000".parse().unwrap()));
        assert_eq!(a.with_sep(":"), "5000:5082");
    }

    #[test]
    fn prefixes_clear_host_bits_and_detect_containment() {
        let (host, c) = Cidr::parse_with_host("192.168.1.10/24").unwrap();
        assert_eq!(host.to_string(), "192.168.1.10");
        assert_eq!(c.to_string(), "192.168.1.0/24");
        assert!(c.contains("192.168.1.200".parse().unwrap()));
        assert!(!c.contains("192.168.2.1".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.is_everything() && all.overlaps(c));
        let v6: Cidr = "2001:db8::1/32".parse().unwrap();
        assert_eq!(v6.to_string(), "2001:db8::/32");
        assert!(!v6.overlaps(c));
        assert_eq!("1.2.3.4/33".parse::<Cidr>(), Err(CidrError::PrefixInvalid));
        assert_eq!("1.2.3".parse::<Cidr>(), Err(CidrError::AddressInvalid));
        assert_eq!("::/0".parse::<Cidr>().unwrap().to_string(), "::/0");
    }
}
