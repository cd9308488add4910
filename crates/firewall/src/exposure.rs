//! What a plan means for an observer on the internet: the ports that must answer, the ports only some
//! sources may reach, and the ports that must stay closed. `pbxguard check --site` probes exactly
//! these from its reflector.

use serde::Serialize;

use crate::catalog::Role;
use crate::net::{PortRange, Protocol};
use crate::plan::{Access, Plan, PortRule};

/// One protocol on one port range, with the catalog services behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExposedPorts {
    /// The protocol.
    pub protocol: Protocol,
    /// The port or range.
    pub ports: PortRange,
    /// What kind of service it is (of the first service listed when several share the range).
    pub role: Role,
    /// Catalog service ids (or `ssh`) on this range, in plan order.
    pub services: Vec<String>,
    /// Whether the guides say never to expose it (closed ranges only).
    pub forbidden: bool,
    /// Whether only the trusted sources may reach it (reachable ranges only): the PBX's own
    /// firewall drops everyone else, including a checking reflector that is not listed.
    pub trusted_only: bool,
}

/// The plan seen from outside the site.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Exposure {
    /// Ports the router forwards (or the security group opens) for every source or for the trusted
    /// sources: signalling, RTP and other media. From outside they must answer.
    pub reachable: Vec<ExposedPorts>,
    /// Ports open to the admin networks only, where one of them lies outside the LAN: whether an
    /// arbitrary outside host reaches them depends on whether the router can filter by source, so a
    /// check from outside can require neither.
    pub restricted: Vec<ExposedPorts>,
    /// Ports the plan closes to the internet (the never-expose list and services no enabled feature
    /// needs), minus any port another rule opens on the same protocol.
    pub closed: Vec<ExposedPorts>,
}

fn push(list: &mut Vec<ExposedPorts>, rule: &PortRule, protocol: Protocol, ports: PortRange) {
    match list
        .iter_mut()
        .find(|e| e.protocol == protocol && e.ports == ports)
    {
        Some(e) => {
            if !e.services.contains(&rule.service) {
                e.services.push(rule.service.clone());
            }
            e.forbidden |= rule.forbidden;
            e.trusted_only &= rule.access == Access::Trusted;
        }
        None => list.push(ExposedPorts {
            protocol,
            ports,
            role: rule.role,
            services: vec![rule.service.clone()],
            forbidden: rule.forbidden,
            trusted_only: rule.access == Access::Trusted,
        }),
    }
}

/// `range` minus every range in `cut`: the pieces left, in order.
fn subtract(range: PortRange, cut: &[PortRange]) -> Vec<PortRange> {
    let mut pieces = vec![range];
    for c in cut {
        let mut next = Vec::new();
        for p in pieces {
            if !p.overlaps(*c) {
                next.push(p);
                continue;
            }
            if p.first() < c.first()
                && let Ok(left) = PortRange::new(p.first(), c.first() - 1)
            {
                next.push(left);
            }
            if p.last() > c.last()
                && let Ok(right) = PortRange::new(c.last() + 1, p.last())
            {
                next.push(right);
            }
        }
        pieces = next;
    }
    pieces
}

/// Splits `plan` into what an outside observer must reach, may reach, and must not reach.
///
/// A rule open to the trusted sources counts as reachable: the router forward exists for it, and an
/// outside check can only prove the forward when its own address passes the PBX's firewall (list the
/// reflector among the trusted sources while checking). Admin-only rules count as restricted when an
/// admin network lies outside the LAN (the forward table lists them then), closed otherwise.
pub fn exposure(plan: &Plan) -> Exposure {
    let admin_outside = plan
        .admin_networks
        .iter()
        .any(|n| !plan.lan_network.overlaps(*n));
    let mut out = Exposure::default();
    for r in &plan.rules {
        match r.access {
            Access::World | Access::Trusted => push(&mut out.reachable, r, r.protocol, r.ports),
            Access::Admin if admin_outside => push(&mut out.restricted, r, r.protocol, r.ports),
            Access::Admin | Access::LanOnly => {}
        }
    }
    for r in &plan.rules {
        let closed_from_outside = match r.access {
            Access::World | Access::Trusted => false,
            Access::Admin => !admin_outside,
            Access::LanOnly => true,
        };
        if !closed_from_outside {
            continue;
        }
        let open: Vec<PortRange> = out
            .reachable
            .iter()
            .chain(&out.restricted)
            .filter(|e| e.protocol == r.protocol)
            .map(|e| e.ports)
            .collect();
        for piece in subtract(r.ports, &open) {
            push(&mut out.closed, r, r.protocol, piece);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Catalog, Site};

    fn exposure_of(text: &str) -> Exposure {
        let catalog = Catalog::builtin().unwrap();
        let site = Site::parse(text, &catalog).unwrap_or_else(|e| panic!("{e}"));
        exposure(&Plan::build(&site, &catalog).unwrap())
    }

    fn find(list: &[ExposedPorts], proto: Protocol, port: u16) -> Option<&ExposedPorts> {
        list.iter()
            .find(|e| e.protocol == proto && e.ports.contains(port))
    }

    fn ranges(list: &[ExposedPorts], proto: Protocol) -> Vec<String> {
        list.iter()
            .filter(|e| e.protocol == proto)
            .map(|e| e.ports.to_string())
            .collect()
    }

    #[test]
    fn subtracting_ranges_leaves_the_pieces_outside() {
        let r = |a, b| PortRange::new(a, b).unwrap();
        assert_eq!(
            subtract(r(10, 20), &[r(12, 13)]),
            vec![r(10, 11), r(14, 20)]
        );
        assert_eq!(subtract(r(10, 20), &[r(5, 30)]), Vec::<PortRange>::new());
        assert_eq!(subtract(r(10, 20), &[r(21, 30)]), vec![r(10, 20)]);
        assert_eq!(
            subtract(r(10, 20), &[r(10, 10), r(20, 20)]),
            vec![r(11, 19)]
        );
    }

    #[test]
    fn freeswitch_with_phones_and_trunks_exposes_its_sip_profiles_and_rtp() {
        let e = exposure_of(
            "[pbx]\nproduct = \"freeswitch\"\nfeatures = [\"remote-phones\", \"sip-trunks\"]\n\
             lan_address = \"192.168.1.10/24\"\nrtp_range = \"20000-20100\"\n\
             [admin]\nssh_port = 6245\nnetworks = [\"198.51.100.7/32\"]\n",
        );
        assert_eq!(
            ranges(&e.reachable, Protocol::Udp),
            ["5060", "5080", "20000-20100"]
        );
        assert_eq!(ranges(&e.reachable, Protocol::Tcp), ["5060", "5080"]);
        assert_eq!(
            find(&e.reachable, Protocol::Udp, 20050).unwrap().role,
            Role::Rtp
        );
        assert_eq!(
            find(&e.reachable, Protocol::Udp, 5060).unwrap().role,
            Role::Sip
        );
        // SIP is for the trusted sources only; media comes from anywhere.
        assert!(
            find(&e.reachable, Protocol::Udp, 5060)
                .unwrap()
                .trusted_only
        );
        assert!(
            !find(&e.reachable, Protocol::Udp, 20050)
                .unwrap()
                .trusted_only
        );
        // SSH on its own port, open to an outside admin network: neither required nor forbidden.
        assert_eq!(ranges(&e.restricted, Protocol::Tcp), ["6245"]);
        // The event socket is on the never-expose list; the NAT profile is merely not needed.
        let esl = find(&e.closed, Protocol::Tcp, 8021).unwrap();
        assert!(esl.forbidden, "{esl:?}");
        let nat = find(&e.closed, Protocol::Udp, 5070).unwrap();
        assert!(!nat.forbidden, "{nat:?}");
        for open in e.reachable.iter().chain(&e.restricted) {
            assert!(
                !e.closed
                    .iter()
                    .any(|c| c.protocol == open.protocol && c.ports.overlaps(open.ports)),
                "{open:?} is also closed"
            );
        }
    }

    #[test]
    fn asterisk_with_phones_exposes_sip_and_its_default_rtp_and_closes_ami() {
        let e = exposure_of(
            "[pbx]\nproduct = \"asterisk\"\nfeatures = [\"remote-phones\"]\n\
             lan_address = \"10.0.0.5/24\"\n",
        );
        let rtp = find(&e.reachable, Protocol::Udp, 10_000).unwrap();
        assert_eq!(rtp.role, Role::Rtp);
        assert_eq!(rtp.ports.to_string(), "10000-20000");
        assert!(find(&e.reachable, Protocol::Udp, 5060).is_some());
        assert!(find(&e.closed, Protocol::Tcp, 5038).unwrap().forbidden);
        // No admin networks: SSH on 22 is LAN-only, so it must be closed from outside.
        assert!(e.restricted.is_empty(), "{:?}", e.restricted);
        assert!(find(&e.closed, Protocol::Tcp, 22).is_some());
    }

    #[test]
    fn ssh_open_to_the_world_is_reachable_not_closed() {
        let e = exposure_of(
            "[pbx]\nproduct = \"kamailio\"\nlan_address = \"10.0.0.5/24\"\n\
             [admin]\nssh_open_to_world = true\n",
        );
        assert!(!find(&e.reachable, Protocol::Tcp, 22).unwrap().trusted_only);
        assert!(find(&e.closed, Protocol::Tcp, 22).is_none());
    }

    #[test]
    fn admin_networks_inside_the_lan_leave_admin_ports_closed_from_outside() {
        let e = exposure_of(
            "[pbx]\nproduct = \"3cx\"\nfeatures = [\"remote-phones\"]\n\
             lan_address = \"10.0.0.5/24\"\n[admin]\nnetworks = [\"10.0.0.0/24\"]\n",
        );
        assert!(e.restricted.is_empty(), "{:?}", e.restricted);
        assert!(find(&e.closed, Protocol::Tcp, 22).is_some());
        assert!(!e.reachable.is_empty());
    }
}
