//! AWS security group: the `IpPermissions` list for
//! `aws ec2 authorize-security-group-ingress --group-id sg-… --ip-permissions file://…`.

use serde_json::{Value, json};

use super::{ids, merged, safe_comment, sources};
use crate::plan::{Access, Plan};

/// Renders the plan's inbound rules as security-group permissions (security groups are stateful, so
/// replies and outbound connections need nothing more).
pub(super) fn render(plan: &Plan) -> String {
    let mut perms: Vec<Value> = Vec::new();
    let lan = plan.lan_network;
    let lan_range = if lan.is_ipv4() {
        json!({"IpProtocol": "-1", "IpRanges": [{"CidrIp": lan.to_string(), "Description": "VPC subnet"}]})
    } else {
        json!({"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": lan.to_string(), "Description": "VPC subnet"}]})
    };
    perms.push(lan_range);
    for access in [Access::Admin, Access::Trusted, Access::World] {
        let s = sources(plan, access);
        let (v4, v6): (Vec<String>, Vec<String>) = if access == Access::World {
            (vec!["0.0.0.0/0".into()], vec!["::/0".into()])
        } else {
            (
                s.v4.iter().map(ToString::to_string).collect(),
                s.v6.iter().map(ToString::to_string).collect(),
            )
        };
        if v4.is_empty() && v6.is_empty() {
            continue;
        }
        for (protocol, ports, rules) in merged(plan, access) {
            let desc = safe_comment(&ids(&rules));
            let mut p = json!({
                "IpProtocol": protocol.as_str(),
                "FromPort": ports.first(),
                "ToPort": ports.last(),
            });
            if let Some(obj) = p.as_object_mut() {
                if !v4.is_empty() {
                    obj.insert(
                        "IpRanges".into(),
                        v4.iter()
                            .map(|c| json!({"CidrIp": c, "Description": desc}))
                            .collect(),
                    );
                }
                if !v6.is_empty() {
                    obj.insert(
                        "Ipv6Ranges".into(),
                        v6.iter()
                            .map(|c| json!({"CidrIpv6": c, "Description": desc}))
                            .collect(),
                    );
                }
            }
            perms.push(p);
        }
    }
    let mut text = serde_json::to_string_pretty(&Value::Array(perms)).unwrap_or_default();
    text.push('\n');
    text
}
