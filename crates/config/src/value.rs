//! The value types a configuration key can hold, their TOML spelling, and their validation.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;

/// What a key accepts. The kind drives validation, the type named in errors, and how the default is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// `true` or `false`.
    Bool,
    /// A whole number within an inclusive range.
    Count {
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
    /// A duration written as a string: `"500ms"`, `"30s"`, `"10m"`, `"1h"`, `"7d"`, `"1w"`, or sums such as
    /// `"1h30m"`, within an inclusive range.
    Duration {
        /// Shortest accepted duration.
        min: Duration,
        /// Longest accepted duration.
        max: Duration,
    },
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
    /// A list of non-empty strings.
    TextList,
    /// A list of networks in CIDR notation (`"192.0.2.0/24"`, `"2001:db8::/32"`) or single addresses.
    Networks,
    /// A list of port numbers (1-65535).
    Ports,
    /// A filesystem path.
    Path,
    /// A filesystem path, or `""` for none.
    OptionalPath,
    /// A list of `address:port` pairs on loopback (`"127.0.0.1:9060"`, `"[::1]:9060"`).
    LoopbackEndpoints,
}

impl Kind {
    /// A short phrase naming what the kind accepts, used in error messages and documentation.
    pub fn describe(&self) -> String {
        match self {
            Kind::Bool => "true or false".to_owned(),
            Kind::Count { min, max } => format!("an integer from {min} to {max}"),
            Kind::Duration { min, max } => {
                format!(
                    "a duration from \"{}\" to \"{}\"",
                    format_duration(*min),
                    format_duration(*max)
                )
            }
            Kind::Choice(words) => {
                let quoted: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
                format!("one of {}", quoted.join(", "))
            }
            Kind::TextList => "a list of strings".to_owned(),
            Kind::Networks => "a list of addresses or networks in CIDR notation".to_owned(),
            Kind::Ports => "a list of port numbers from 1 to 65535".to_owned(),
            Kind::Path => "a file or directory path".to_owned(),
            Kind::OptionalPath => "a file or directory path, or \"\" for none".to_owned(),
            Kind::LoopbackEndpoints => {
                "a list of loopback address:port pairs (\"127.0.0.1:9060\", \"[::1]:9060\")"
                    .to_owned()
            }
        }
    }
}

/// A validated configuration value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Value {
    /// A [`Kind::Bool`] value.
    Bool(bool),
    /// A [`Kind::Count`] value.
    Count(u64),
    /// A [`Kind::Duration`] value.
    Duration(Duration),
    /// A [`Kind::Choice`] value, or a [`Kind::Path`] or [`Kind::OptionalPath`].
    Text(String),
    /// A [`Kind::TextList`] value.
    TextList(Vec<String>),
    /// A [`Kind::Networks`] value.
    Networks(Vec<IpNet>),
    /// A [`Kind::Ports`] value.
    Ports(Vec<u16>),
    /// A [`Kind::LoopbackEndpoints`] value.
    Endpoints(Vec<SocketAddr>),
}

impl Value {
    /// The value in TOML syntax, as `pbxguard config default` prints it.
    pub fn to_toml(&self) -> String {
        fn list<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
            let parts: Vec<String> = items.iter().map(f).collect();
            format!("[{}]", parts.join(", "))
        }
        match self {
            Value::Bool(b) => b.to_string(),
            Value::Count(n) => group_digits(*n),
            Value::Duration(d) => format!("\"{}\"", format_duration(*d)),
            Value::Text(s) => quote(s),
            Value::TextList(v) => list(v, |s| quote(s)),
            Value::Networks(v) => list(v, |n| quote(&format_network(n))),
            Value::Ports(v) => list(v, u16::to_string),
            Value::Endpoints(v) => list(v, |a| quote(&a.to_string())),
        }
    }
}

/// Writes a network the way a user would: a single host without its `/32` or `/128`.
fn format_network(n: &IpNet) -> String {
    if n.prefix_len() == n.max_prefix_len() {
        n.addr().to_string()
    } else {
        n.to_string()
    }
}

/// TOML integers may use `_` separators; large defaults read better with them.
fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    if digits.len() <= 4 {
        return digits;
    }
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('_');
        }
        out.push(c);
    }
    out
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

const UNITS: [(&str, u64); 6] = [
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

/// Formats a duration in the largest units that represent it exactly, e.g. `1h30m`, `500ms`, `7d`.
pub fn format_duration(d: Duration) -> String {
    let mut ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in UNITS {
        if ms >= size {
            let _ = write!(out, "{}{unit}", ms / size);
            ms %= size;
        }
    }
    out
}

/// Parses a duration such as `"30s"`, `"10m"`, `"1h30m"`, `"500ms"`, `"7d"`, `"1w"`.
///
/// # Errors
///
/// A message saying what is wrong with the text, for the caller to attach to the key.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("a duration cannot be empty; write e.g. \"30s\", \"10m\" or \"1h\"".to_owned());
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "`{s}` is not a duration; write e.g. \"30s\", \"10m\" or \"1h30m\""
            ));
        }
        let (num, tail) = rest.split_at(digits);
        let letters = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = tail.split_at(letters);
        let size = UNITS
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, size)| *size)
            .ok_or_else(|| {
                if unit.is_empty() {
                    format!("`{s}` needs a unit: ms, s, m, h, d or w (e.g. \"{num}s\")")
                } else {
                    format!("unknown unit `{unit}` in `{s}`; use ms, s, m, h, d or w")
                }
            })?;
        let n: u64 = num.parse().map_err(|_| format!("`{s}` is too large"))?;
        total = n
            .checked_mul(size)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("`{s}` is too large"))?;
        rest = tail;
    }
    Ok(Duration::from_millis(total))
}

/// Parses an address or CIDR network; a bare address means that single host.
///
/// # Errors
///
/// A message naming the text that is not an address or network.
pub fn parse_network(text: &str) -> Result<IpNet, String> {
    let t = text.trim();
    if let Ok(net) = t.parse::<IpNet>() {
        if net.trunc() != net {
            return Err(format!(
                "`{t}` has host bits set; the network is `{}`",
                net.trunc()
            ));
        }
        return Ok(net);
    }
    t.parse::<std::net::IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("`{t}` is not an IP address or a network in CIDR notation"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip_in_canonical_form() {
        for (text, ms) in [
            ("500ms", 500),
            ("30s", 30_000),
            ("10m", 600_000),
            ("1h30m", 5_400_000),
            ("1d", 86_400_000),
            ("1w", 604_800_000),
        ] {
            let d = parse_duration(text).unwrap();
            assert_eq!(d, Duration::from_millis(ms), "{text}");
            assert_eq!(format_duration(d), text);
        }
        assert_eq!(format_duration(parse_duration("90m").unwrap()), "1h30m");
    }

    #[test]
    fn bad_durations_say_why() {
        assert!(parse_duration("10").unwrap_err().contains("needs a unit"));
        assert!(
            parse_duration("10y")
                .unwrap_err()
                .contains("unknown unit `y`")
        );
        assert!(parse_duration("").unwrap_err().contains("empty"));
        assert!(parse_duration("h").unwrap_err().contains("not a duration"));
        assert!(
            parse_duration("99999999999999999999s")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn networks_accept_hosts_and_reject_host_bits() {
        assert_eq!(
            parse_network("192.0.2.7").unwrap().to_string(),
            "192.0.2.7/32"
        );
        assert_eq!(
            parse_network("2001:db8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        assert!(
            parse_network("192.0.2.7/24")
                .unwrap_err()
                .contains("192.0.2.0/24")
        );
        assert!(parse_network("example.com").is_err());
    }

    #[test]
    fn values_print_as_toml() {
        assert_eq!(Value::Count(100_000).to_toml(), "100_000");
        assert_eq!(Value::Count(5060).to_toml(), "5060");
        assert_eq!(
            Value::TextList(vec!["a\"b".into()]).to_toml(),
            r#"["a\"b"]"#
        );
        let nets = vec![
            parse_network("127.0.0.1").unwrap(),
            parse_network("::1").unwrap(),
        ];
        assert_eq!(Value::Networks(nets).to_toml(), r#"["127.0.0.1", "::1"]"#);
    }
}
