//! Reader for `nft -j list ruleset` (libnftables JSON schema, `nftables` array of `table` / `chain` /
//! `rule` / `set` objects). A rule's location is the line and column of its `{"rule": …}` object, so
//! one-line output (what `nft -j` prints) still points at the right rule.

use std::collections::HashMap;

use super::firewall::{Chain, FwRule, Hook, Ruleset, Verdict, ban_name, parse_range, service_port};
use super::json::{self, Json, Value};
use crate::model::{FileId, Loc};
use crate::sources::Sources;

/// Whether the text looks like `nft -j` output.
pub(crate) fn sniff(text: &str) -> bool {
    let t = text.trim_start();
    t.starts_with('{')
        && t.get(..200.min(t.len()))
            .unwrap_or(t)
            .contains("\"nftables\"")
}

fn loc_of(id: FileId, j: &Json) -> Loc {
    Loc {
        file: id,
        line: j.line,
        column: Some(j.col),
    }
}

/// Reads `nft -j list ruleset` output.
pub(crate) fn read(sources: &mut Sources<'_>, id: FileId) -> Ruleset {
    let text = sources.text(id);
    let mut rs = Ruleset {
        chains: Vec::new(),
        files: vec![id],
    };
    let doc = match json::parse(&text) {
        Ok(d) => d,
        Err(e) => {
            sources.unread(
                Loc {
                    file: id,
                    line: e.line,
                    column: Some(e.col),
                },
                format!("JSON: {}", e.what),
            );
            return rs;
        }
    };
    let Some(items) = doc.get("nftables") else {
        sources.unread(loc_of(id, &doc), "JSON without an `nftables` array");
        return rs;
    };
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for item in items.arr() {
        if let Some(c) = item.get("chain") {
            let table = format!(
                "{} {}",
                c.get("family").and_then(Json::str).unwrap_or(""),
                c.get("table").and_then(Json::str).unwrap_or("")
            );
            let name = c.get("name").and_then(Json::str).unwrap_or("").to_owned();
            let is_base = c.get("hook").is_some();
            let hook = match (
                c.get("hook").and_then(Json::str),
                c.get("type").and_then(Json::str),
            ) {
                (Some("input"), Some("filter")) => Hook::Input,
                _ => Hook::Other,
            };
            let policy_accept =
                is_base.then(|| c.get("policy").and_then(Json::str) != Some("drop"));
            index
                .entry((table.clone(), name.clone()))
                .or_insert(rs.chains.len());
            rs.chains.push(Chain {
                table,
                name,
                hook,
                policy_accept,
                loc: loc_of(id, item),
                rules: Vec::new(),
            });
        } else if let Some(r) = item.get("rule") {
            let table = format!(
                "{} {}",
                r.get("family").and_then(Json::str).unwrap_or(""),
                r.get("table").and_then(Json::str).unwrap_or("")
            );
            let chain = r.get("chain").and_then(Json::str).unwrap_or("");
            let rule = rule(r, loc_of(id, item));
            match index
                .get(&(table, chain.to_owned()))
                .and_then(|i| rs.chains.get_mut(*i))
            {
                Some(c) => c.rules.push(rule),
                None => sources.unread(
                    loc_of(id, item),
                    format!("rule for unknown chain `{chain}`"),
                ),
            }
        } else if item.get("table").is_none()
            && item.get("metainfo").is_none()
            && item.get("set").is_none()
            && item.get("map").is_none()
            && item.get("element").is_none()
            && item.get("flowtable").is_none()
            && item.get("counter").is_none()
            && item.get("quota").is_none()
            && item.get("ct helper").is_none()
            && item.get("limit").is_none()
        {
            sources.unread(loc_of(id, item), "unknown object in `nftables` array");
        }
    }
    rs
}

fn rule(r: &Json, loc: Loc) -> FwRule {
    let mut out = FwRule {
        loc,
        protos: Vec::new(),
        dports: Some(Vec::new()),
        src_restricted: false,
        iif_restricted: false,
        ct_established: false,
        ct_other: false,
        rate_limited: false,
        ban: None,
        other_match: false,
        verdict: Verdict::None,
    };
    let Some(exprs) = r.get("expr") else {
        return out;
    };
    let mut ports = Vec::new();
    let mut ports_unknown = false;
    for e in exprs.arr() {
        let Value::Obj(m) = &e.v else { continue };
        let Some((key, body)) = m.first() else {
            continue;
        };
        match key.as_str() {
            "match" => {
                let neg = body.get("op").and_then(Json::str) == Some("!=");
                let left = body.get("left");
                let right = body.get("right");
                let payload = left.and_then(|l| l.get("payload"));
                let field = payload.and_then(|p| p.get("field")).and_then(Json::str);
                let proto = payload.and_then(|p| p.get("protocol")).and_then(Json::str);
                let meta = left
                    .and_then(|l| l.get("meta"))
                    .and_then(|m| m.get("key"))
                    .and_then(Json::str);
                let ct = left
                    .and_then(|l| l.get("ct"))
                    .and_then(|m| m.get("key"))
                    .and_then(Json::str);
                match (field, meta, ct) {
                    (Some("dport"), _, _) => {
                        if let Some(p) = proto.filter(|p| *p != "th") {
                            out.protos.push(p.to_owned());
                        }
                        if neg {
                            out.other_match = true;
                        } else {
                            match right.map(port_ranges) {
                                Some(Some(rg)) => ports.extend(rg),
                                _ => ports_unknown = true,
                            }
                        }
                    }
                    (Some("saddr"), _, _) => {
                        let set = right.and_then(Json::str).and_then(|s| s.strip_prefix('@'));
                        match set {
                            Some(s) if !neg && ban_name(s) => out.ban = Some(s.to_owned()),
                            _ if neg => out.other_match = true,
                            _ => {
                                let any = right
                                    .and_then(|v| v.get("prefix"))
                                    .and_then(|p| p.get("len"))
                                    .and_then(Json::u64)
                                    == Some(0);
                                if !any {
                                    out.src_restricted = true;
                                }
                            }
                        }
                    }
                    (_, Some("iif" | "iifname"), _) => {
                        if !neg {
                            out.iif_restricted = true;
                        }
                    }
                    (_, Some("l4proto" | "nfproto" | "protocol"), _) => {
                        if let Some(items) = right.map(strings) {
                            out.protos
                                .extend(items.into_iter().filter(|p| p == "tcp" || p == "udp"));
                        }
                    }
                    (_, _, Some("state")) => {
                        let states = right.map(strings).unwrap_or_default();
                        if !neg
                            && !states.is_empty()
                            && states.iter().all(|s| s == "established" || s == "related")
                        {
                            out.ct_established = true;
                        } else {
                            out.ct_other = true;
                        }
                    }
                    _ => out.other_match = true,
                }
            }
            "limit" | "meter" => out.rate_limited = true,
            "accept" => out.verdict = Verdict::Accept,
            "drop" => out.verdict = Verdict::Drop,
            "reject" => out.verdict = Verdict::Reject,
            "return" => out.verdict = Verdict::Return,
            "queue" => out.verdict = Verdict::Queue,
            "jump" | "goto" => {
                let t = body
                    .get("target")
                    .and_then(Json::str)
                    .unwrap_or("")
                    .to_owned();
                if ban_name(&t) {
                    out.ban = Some(t.clone());
                }
                out.verdict = if key == "jump" {
                    Verdict::Jump(t)
                } else {
                    Verdict::Goto(t)
                };
            }
            "set"
                // `add @set { ip saddr limit rate over … }` is a per-source meter.
                if body
                    .get("stmt")
                    .is_some_and(|s| s.arr().iter().any(|x| x.get("limit").is_some()))
                => {
                    out.rate_limited = true;
                }
            _ => {}
        }
    }
    out.dports = if ports_unknown { None } else { Some(ports) };
    out
}

/// Strings of a value: `"x"`, `["x","y"]`, `{"set": ["x","y"]}`.
fn strings(j: &Json) -> Vec<String> {
    match &j.v {
        Value::Str(s) => vec![s.clone()],
        Value::Arr(a) => a.iter().flat_map(strings).collect(),
        Value::Obj(_) => j.get("set").map(strings).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Port ranges of a value: `22`, `"ssh"`, `{"range": [a, b]}`, `{"set": [...]}`; `None` for a named set.
fn port_ranges(j: &Json) -> Option<Vec<(u16, u16)>> {
    match &j.v {
        Value::Num(n) => n.parse().ok().map(|p| vec![(p, p)]),
        Value::Str(s) if s.starts_with('@') => None,
        Value::Str(s) => service_port(s)
            .map(|p| vec![(p, p)])
            .or_else(|| parse_range(s).map(|r| vec![r])),
        Value::Arr(a) => {
            let mut out = Vec::new();
            for x in a {
                out.extend(port_ranges(x)?);
            }
            Some(out)
        }
        Value::Obj(_) => {
            if let Some(s) = j.get("set") {
                port_ranges(s)
            } else if let Some(r) = j.get("range") {
                let a = r.arr();
                let lo = a
                    .first()
                    .and_then(Json::u64)
                    .and_then(|v| u16::try_from(v).ok())?;
                let hi = a
                    .get(1)
                    .and_then(Json::u64)
                    .and_then(|v| u16::try_from(v).ok())?;
                Some(vec![(lo, hi)])
            } else {
                None
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceFile;
    use crate::sources::NoIncludes;

    #[test]
    fn one_line_output_gets_columns() {
        let text = r#"{"nftables": [{"metainfo": {"version": "1.0.9"}}, {"table": {"family": "inet", "name": "filter", "handle": 1}}, {"chain": {"family": "inet", "table": "filter", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}, {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 4, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"set": [22, {"range": [8020, 8022]}]}}}, {"accept": null}]}}]}"#;
        let mut r = NoIncludes;
        let mut s = Sources::new(&mut r);
        let id = s.add(SourceFile::new("ruleset.json", text));
        let rs = read(&mut s, id);
        let c = &rs.chains[0];
        assert_eq!((c.hook, c.policy_accept), (Hook::Input, Some(true)));
        let rule = &c.rules[0];
        assert_eq!(rule.dports, Some(vec![(22, 22), (8020, 8022)]));
        assert_eq!(rule.verdict, Verdict::Accept);
        assert_eq!(
            (rule.loc.line, rule.loc.column),
            (1, text.find("{\"rule\"").map(|p| p as u32 + 1))
        );
    }
}
