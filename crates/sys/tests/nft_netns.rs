//! Root tier: the nf_tables enforcer against the real kernel, inside throwaway network namespaces.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use pbxguard_sys::netns;
use pbxguard_sys::nft::{Cidr, Enforcer, NetList, Nft, NftError, Target};
use pbxguard_testlab::{Netns, root_or_skip, tools_or_skip};

/// A PBX namespace and an attacker namespace joined by a veth pair (IPv4 and IPv6).
struct Lab {
    pbx: Netns,
    atk: Netns,
    nft: Nft,
}

const PBX4: &str = "10.77.0.2";
const ATK4: &str = "10.77.0.3";
const PBX6: &str = "fd77::2";
const ATK6: &str = "fd77::3";

fn lab(tag: &str) -> Lab {
    let pbx = Netns::new(&format!("np{tag}")).unwrap();
    let atk = Netns::new(&format!("na{tag}")).unwrap();
    let (a, b) = pbx.link(&atk, "10.77.0.2/24", "10.77.0.3/24").unwrap();
    pbx.exec(
        "ip",
        ["-6", "addr", "add", "fd77::2/64", "dev", &a, "nodad"],
    )
    .unwrap();
    atk.exec(
        "ip",
        ["-6", "addr", "add", "fd77::3/64", "dev", &b, "nodad"],
    )
    .unwrap();
    let nft = Nft::open_in_netns(&netns::named(pbx.name())).unwrap();
    Lab { pbx, atk, nft }
}

fn udp_in(ns: &Netns, addr: &str) -> UdpSocket {
    let addr: SocketAddr = addr.parse().unwrap();
    let s = netns::run_in(&netns::named(ns.name()), || UdpSocket::bind(addr))
        .unwrap()
        .unwrap();
    s.set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    s
}

/// Sends one datagram and reports whether the listener received it.
fn arrives(from: &UdpSocket, to: &UdpSocket) -> bool {
    let tag = format!("probe {:?}", std::time::Instant::now());
    from.send_to(tag.as_bytes(), to.local_addr().unwrap())
        .unwrap();
    let mut buf = [0u8; 256];
    loop {
        match to.recv_from(&mut buf) {
            Ok((n, _)) if &buf[..n] == tag.as_bytes() => return true,
            Ok(_) => continue, // an earlier probe that arrived late
            Err(_) => return false,
        }
    }
}

fn nft_list(ns: &Netns) -> String {
    String::from_utf8(ns.exec("nft", ["list", "ruleset"]).unwrap().stdout).unwrap()
}

/// A host ruleset that accepts established flows first and only then looks at anything else: the ordering
/// that makes filter-chain UDP bans useless.
const HOST_RULESET: &str = "table inet filter {
\tchain input {
\t\ttype filter hook input priority 0; policy drop;
\t\tct state established,related accept
\t\tudp dport 5060 accept
\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
\t}
}
";

fn load_host_ruleset(ns: &Netns) {
    let path = std::env::temp_dir().join(format!("pbxguard-host-{}.nft", ns.name()));
    std::fs::write(&path, HOST_RULESET).unwrap();
    ns.exec("nft", ["-f", path.to_str().unwrap()]).unwrap();
    let _ = std::fs::remove_file(path);
}

fn skip(name: &str) -> bool {
    !root_or_skip(name) || !tools_or_skip(name, &["ip", "nft"])
}

#[test]
fn creating_the_table_twice_is_idempotent_and_keeps_bans() {
    if skip("creating_the_table_twice_is_idempotent_and_keeps_bans") {
        return;
    }
    let mut l = lab("idem");
    l.nft.ensure_table().unwrap();
    let first = nft_list(&l.pbx);
    let t = Target::from(ATK4.parse::<IpAddr>().unwrap());
    l.nft.ban(&[(t, Some(Duration::from_secs(600)))]).unwrap();
    l.nft.ensure_table().unwrap();
    l.nft.ensure_table().unwrap();
    let bans = l.nft.list_bans().unwrap();
    assert_eq!(bans.len(), 1, "{bans:?}");
    let listing = nft_list(&l.pbx);
    assert_eq!(listing.matches("counter").count(), 7, "{listing}");
    assert_eq!(listing.matches("chain prerouting").count(), 1, "{listing}");
    assert!(
        first.contains("type filter hook prerouting priority raw; policy accept;"),
        "{first}"
    );
    assert!(
        listing.contains("ip saddr @ban4 counter packets 0 bytes 0 drop"),
        "{listing}"
    );
    assert!(
        listing.contains("ip6 saddr & ffff:ffff:ffff:ffff:: == @ban6net"),
        "{listing}"
    );
}

#[test]
fn banned_udp_source_is_dropped_even_on_an_established_flow_and_unban_restores_it() {
    if skip("banned_udp_source_is_dropped_even_on_an_established_flow_and_unban_restores_it") {
        return;
    }
    let mut l = lab("est");
    load_host_ruleset(&l.pbx);
    let pbx = udp_in(&l.pbx, &format!("{PBX4}:5060"));
    let atk = udp_in(&l.atk, &format!("{ATK4}:5062"));
    // Establish the flow both ways so conntrack holds it as established.
    assert!(arrives(&atk, &pbx));
    pbx.send_to(b"reply", atk.local_addr().unwrap()).unwrap();
    let mut buf = [0u8; 64];
    atk.recv_from(&mut buf).unwrap();
    let ct = l
        .pbx
        .exec("conntrack", ["-L", "-p", "udp"])
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    if let Ok(ct) = ct {
        assert!(ct.contains("dport=5060"), "no conntrack entry: {ct}");
    }

    // The trap: a ban rule in the host's filter chain, after `ct state established accept`, never sees the
    // flow's packets.
    l.pbx
        .exec(
            "nft",
            [
                "add", "rule", "inet", "filter", "input", "ip", "saddr", ATK4, "drop",
            ],
        )
        .unwrap();
    assert!(
        arrives(&atk, &pbx),
        "the lab does not reproduce the established-accept trap"
    );

    l.nft.ensure_table().unwrap();
    assert!(
        arrives(&atk, &pbx),
        "the empty table must not drop anything"
    );
    let t = Target::from(ATK4.parse::<IpAddr>().unwrap());
    l.nft.ban(&[(t, Some(Duration::from_secs(600)))]).unwrap();
    for _ in 0..3 {
        assert!(
            !arrives(&atk, &pbx),
            "banned source got through the established flow"
        );
    }
    let listing = nft_list(&l.pbx);
    assert!(
        listing.contains("ip saddr @ban4 counter packets 3"),
        "{listing}"
    );
    let counters = l.nft.counters().unwrap();
    let ban4 = counters.iter().find(|c| c.set == "ban4").unwrap();
    assert_eq!(ban4.packets, 3, "{counters:?}");
    assert!(ban4.bytes > 3 * 28, "{counters:?}");
    assert_eq!(counters.len(), 7, "{counters:?}");

    l.nft.unban(&[t]).unwrap();
    assert!(arrives(&atk, &pbx), "unbanned source still dropped");
    // Lifting a ban that is not there is not an error.
    l.nft.unban(&[t]).unwrap();

    // The pre-6.3 path (list, then delete what is there) does the same.
    let other = Target::from("10.77.0.99".parse::<IpAddr>().unwrap());
    l.nft.ban(&[(t, None)]).unwrap();
    assert!(!arrives(&atk, &pbx));
    l.nft.unban_listed(&[t, other]).unwrap();
    assert!(arrives(&atk, &pbx), "unban_listed left the ban in place");
    assert!(l.nft.list_bans().unwrap().is_empty());
    l.nft.unban_listed(&[t]).unwrap();
}

#[test]
fn ipv6_address_and_prefix_bans_drop() {
    if skip("ipv6_address_and_prefix_bans_drop") {
        return;
    }
    let mut l = lab("six");
    let pbx = udp_in(&l.pbx, &format!("[{PBX6}]:5060"));
    let atk = udp_in(&l.atk, &format!("[{ATK6}]:5062"));
    // The first datagram waits for neighbour discovery, which a loaded machine can stretch past the
    // receive timeout: the path is proven once any probe arrives.
    assert!((0..5).any(|_| arrives(&atk, &pbx)), "no IPv6 path");
    l.nft.ensure_table().unwrap();
    let addr = ATK6.parse::<IpAddr>().unwrap();
    l.nft
        .ban(&[(Target::from(addr), Some(Duration::from_secs(60)))])
        .unwrap();
    assert!(!arrives(&atk, &pbx));
    l.nft.unban(&[Target::from(addr)]).unwrap();
    assert!(arrives(&atk, &pbx));
    let IpAddr::V6(v6) = addr else { unreachable!() };
    let prefix = Target::v6_net(v6, 64);
    l.nft.ban(&[(prefix, None)]).unwrap();
    assert!(!arrives(&atk, &pbx), "/64 ban let the host through");
    let bans = l.nft.list_bans().unwrap();
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].target.to_string(), "fd77::/64");
    assert_eq!(bans[0].expires, None);
    l.nft.unban(&[prefix]).unwrap();
    assert!(arrives(&atk, &pbx));

    // A /56 table: the network of the attacker's /56 is banned through the masked lookup.
    l.nft.set_ipv6_prefix(56).unwrap();
    l.nft.ensure_table().unwrap();
    let net56 = Target::v6_net("fd77:0:0:42::9".parse().unwrap(), 56);
    l.nft.ban(&[(net56, None)]).unwrap();
    assert!(!arrives(&atk, &pbx), "/56 ban let the host through");
    assert!(nft_list(&l.pbx).contains("ip6 saddr & ffff:ffff:ffff:ff00::"));
    assert!(matches!(
        l.nft.ban(&[(prefix, None)]),
        Err(NftError::PrefixLengthMismatch {
            table: 56,
            given: 64
        })
    ));
}

#[test]
fn bans_expire_by_their_timeout_and_rebanning_replaces_it() {
    if skip("bans_expire_by_their_timeout_and_rebanning_replaces_it") {
        return;
    }
    let mut l = lab("exp");
    let pbx = udp_in(&l.pbx, &format!("{PBX4}:5060"));
    let atk = udp_in(&l.atk, &format!("{ATK4}:5062"));
    l.nft.ensure_table().unwrap();
    let t = Target::from(ATK4.parse::<IpAddr>().unwrap());
    l.nft.ban(&[(t, Some(Duration::from_secs(100)))]).unwrap();
    l.nft
        .ban(&[(t, Some(Duration::from_millis(1500)))])
        .unwrap();
    let bans = l.nft.list_bans().unwrap();
    assert_eq!(bans.len(), 1);
    assert_eq!(
        bans[0].timeout,
        Some(Duration::from_millis(1500)),
        "{bans:?}"
    );
    let left = bans[0].expires.unwrap();
    assert!(
        left <= Duration::from_millis(1500) && left > Duration::ZERO,
        "{left:?}"
    );
    assert!(!arrives(&atk, &pbx));
    std::thread::sleep(Duration::from_millis(1800));
    assert!(l.nft.list_bans().unwrap().is_empty());
    assert!(arrives(&atk, &pbx), "expired ban still drops");
}

#[test]
fn allow_list_beats_ban() {
    if skip("allow_list_beats_ban") {
        return;
    }
    let mut l = lab("alw");
    let pbx = udp_in(&l.pbx, &format!("{PBX4}:5060"));
    let atk = udp_in(&l.atk, &format!("{ATK4}:5062"));
    l.nft.ensure_table().unwrap();
    let nets: Vec<Cidr> = ["10.77.0.0/25", "10.77.0.0/24", "192.0.2.0/24", "fd77::/64"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    l.nft.set_allow(&nets).unwrap();
    let t = Target::from(ATK4.parse::<IpAddr>().unwrap());
    l.nft.ban(&[(t, None)]).unwrap();
    assert!(arrives(&atk, &pbx), "allow-listed source was dropped");
    let allow = l.nft.list_networks(NetList::Allow).unwrap();
    let shown: Vec<String> = allow.iter().map(|(a, b)| format!("{a}-{b}")).collect();
    assert_eq!(
        shown,
        [
            "10.77.0.0-10.77.0.255",
            "192.0.2.0-192.0.2.255",
            "fd77::-fd77::ffff:ffff:ffff:ffff"
        ]
    );
    // Replacing the allow list takes the source off it; the ban now applies.
    l.nft.set_allow(&["192.0.2.0/24".parse().unwrap()]).unwrap();
    assert!(!arrives(&atk, &pbx));
    l.nft.set_allow(&[]).unwrap();
    assert!(l.nft.list_networks(NetList::Allow).unwrap().is_empty());
}

#[test]
fn block_list_drops_networks_unless_allow_listed() {
    if skip("block_list_drops_networks_unless_allow_listed") {
        return;
    }
    let mut l = lab("blk");
    let pbx = udp_in(&l.pbx, &format!("{PBX4}:5060"));
    let atk = udp_in(&l.atk, &format!("{ATK4}:5062"));
    l.nft.ensure_table().unwrap();
    l.nft
        .set_list(NetList::Block, &["10.77.0.0/28".parse().unwrap()])
        .unwrap();
    assert!(!arrives(&atk, &pbx), "block-listed network got through");
    l.nft.set_allow(&["10.77.0.3".parse().unwrap()]).unwrap();
    assert!(
        arrives(&atk, &pbx),
        "allow list must win over the block list"
    );
    let shown = l.nft.list_networks(NetList::Block).unwrap();
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].1.to_string(), "10.77.0.15");
}

#[test]
fn a_hundred_thousand_bans_load_and_list() {
    if skip("a_hundred_thousand_bans_load_and_list") {
        return;
    }
    let mut l = lab("bulk");
    l.nft.ensure_table().unwrap();
    let bans: Vec<(Target, Option<Duration>)> = (0u32..100_000)
        .map(|i| {
            let a = std::net::Ipv4Addr::from(0x0a00_0000 | i);
            (
                Target::V4(a),
                Some(Duration::from_secs(3600 + u64::from(i % 600))),
            )
        })
        .collect();
    l.nft.ban(&bans).unwrap();
    let listed = l.nft.list_bans().unwrap();
    assert_eq!(listed.len(), 100_000);
    assert!(
        listed
            .iter()
            .all(|b| b.expires.is_some_and(|e| e > Duration::from_secs(3000)))
    );
}

#[test]
fn deleting_the_table_leaves_no_trace_and_spares_other_tables() {
    if skip("deleting_the_table_leaves_no_trace_and_spares_other_tables") {
        return;
    }
    let mut l = lab("del");
    load_host_ruleset(&l.pbx);
    l.nft.ensure_table().unwrap();
    l.nft
        .ban(&[(Target::from(ATK4.parse::<IpAddr>().unwrap()), None)])
        .unwrap();
    assert!(nft_list(&l.pbx).contains("pbxguard"));
    assert!(l.nft.delete_table().unwrap());
    let after = nft_list(&l.pbx);
    assert!(!after.contains("pbxguard"), "{after}");
    assert!(
        after.contains("table inet filter"),
        "the host's table was touched: {after}"
    );
    assert!(
        !l.nft.delete_table().unwrap(),
        "a second delete reports nothing to delete"
    );
    assert!(matches!(l.nft.list_bans(), Err(NftError::TableMissing)));
    drop(l.atk);
}
