//! FreeSWITCH checks over all XML files of the audit together: `vars.xml` preprocessor variables feed the
//! directory, SIP profiles decide which dial-plan contexts unauthenticated callers reach.

use std::collections::{BTreeMap, HashMap};

use super::asterisk::is_loopback;
use super::{Sink, describe};
use crate::Doc;
use crate::model::Loc;
use crate::read::xml::Element;
use crate::rules::*;
use crate::secret;

/// `$${name}` preprocessor variables: value and where it was set.
type Vars = HashMap<String, (String, Loc)>;

fn expand(v: &str, vars: &Vars) -> String {
    let mut out = String::new();
    let mut rest = v;
    while let Some(p) = rest.find("$${") {
        out.push_str(rest.get(..p).unwrap_or(""));
        let tail = rest.get(p + 3..).unwrap_or("");
        match tail.find('}') {
            Some(e) => {
                let name = tail.get(..e).unwrap_or("");
                match vars.get(name) {
                    Some((val, _)) => out.push_str(val),
                    None => {
                        out.push_str("$${");
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = tail.get(e + 1..).unwrap_or("");
            }
            None => {
                out.push_str(rest.get(p..).unwrap_or(""));
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn value_loc(el: &Element) -> Loc {
    el.attr_full("value").map_or(el.loc, |a| a.loc)
}

pub(crate) fn run(docs: &[&Doc], sink: &mut Sink) {
    let roots: Vec<&Element> = docs
        .iter()
        .filter_map(|d| match d {
            Doc::Xml(x) => Some(&x.root),
            _ => None,
        })
        .collect();
    if roots.is_empty() {
        return;
    }
    let all: Vec<&Element> = roots.iter().flat_map(|r| r.walk()).collect();

    let mut vars: Vars = HashMap::new();
    for el in &all {
        if el.name.eq_ignore_ascii_case("X-PRE-PROCESS")
            && el
                .attr("cmd")
                .is_some_and(|c| c.eq_ignore_ascii_case("set"))
            && let Some(data) = el.attr_full("data")
            && let Some((k, v)) = data.value.split_once('=')
        {
            vars.insert(k.trim().to_owned(), (v.trim().to_owned(), data.loc));
        }
    }

    // Public context is where unauthenticated and ACL-admitted (trunk) calls land.
    let mut entries: BTreeMap<String, String> = BTreeMap::new();
    entries.insert(
        "public".into(),
        "unauthenticated and gateway callers (the `public` context)".into(),
    );
    let mut users_on_default = 0usize;

    for el in &all {
        let name = el.name.to_ascii_lowercase();
        match name.as_str() {
            "configuration" => {
                let cfg = el.attr("name").unwrap_or("").to_ascii_lowercase();
                if cfg == "event_socket.conf" {
                    esl(el, &vars, sink);
                } else if cfg == "acl.conf" {
                    acl(el, sink);
                }
            }
            "profile" => {
                let Some(settings) = el.kids("settings").next() else {
                    continue;
                };
                for blind in ["accept-blind-reg", "accept-blind-auth"] {
                    if let Some(p) = settings.param(blind) {
                        let v = expand(p.attr("value").unwrap_or(""), &vars);
                        if v.eq_ignore_ascii_case("true") {
                            sink.push(
                                &FS_ACCEPT_BLIND,
                                value_loc(p),
                                format!(
                                    "profile `{}` has {blind}=true",
                                    el.attr("name").unwrap_or("?")
                                ),
                            );
                        }
                    }
                }
                if let Some(p) = settings.param("auth-calls") {
                    let v = expand(p.attr("value").unwrap_or(""), &vars);
                    if v.eq_ignore_ascii_case("false") {
                        let ctx = settings
                            .param("context")
                            .and_then(|c| c.attr("value"))
                            .map_or("public".to_owned(), |c| expand(c, &vars));
                        sink.push(
                            &FS_AUTH_CALLS_OFF,
                            value_loc(p),
                            format!("profile `{}` has auth-calls=false: calls land in context `{ctx}` without a challenge", el.attr("name").unwrap_or("?")),
                        );
                        entries.entry(ctx.to_ascii_lowercase()).or_insert_with(|| {
                            format!(
                                "unauthenticated callers of profile `{}`",
                                el.attr("name").unwrap_or("?")
                            )
                        });
                    }
                }
            }
            "user" => {
                let id = el.attr("id").unwrap_or("").to_owned();
                if id.is_empty() {
                    continue;
                }
                let params: Vec<&Element> =
                    el.kids("params").flat_map(|p| p.kids("param")).collect();
                for p in params {
                    let pname = p.attr("name").unwrap_or("").to_ascii_lowercase();
                    let raw = p.attr("value").unwrap_or("");
                    if pname == "password" {
                        if raw.trim() == "$${default_password}" {
                            users_on_default += 1;
                            continue;
                        }
                        let v = expand(raw, &vars);
                        if v.contains("${") {
                            continue;
                        }
                        let w = secret::password(&v, &[id.as_str()]);
                        if !w.is_empty() {
                            sink.push(
                                &WEAK_SECRET,
                                value_loc(p),
                                format!("password of user {id}: {}", describe(&w)),
                            );
                        }
                    } else if pname == "vm-password" {
                        let v = expand(raw, &vars);
                        if v.contains("${") {
                            continue;
                        }
                        let w = secret::pin(&v, &[id.as_str()]);
                        if !w.is_empty() {
                            sink.push(
                                &WEAK_PIN,
                                value_loc(p),
                                format!("voicemail PIN of user {id}: {}", describe(&w)),
                            );
                        }
                    }
                }
                for v in el.kids("variables").flat_map(|p| p.kids("variable")) {
                    if v.attr("name")
                        .is_some_and(|n| n.eq_ignore_ascii_case("toll_allow"))
                    {
                        let val = expand(v.attr("value").unwrap_or(""), &vars);
                        if val
                            .split(',')
                            .any(|t| t.trim().eq_ignore_ascii_case("international"))
                        {
                            sink.push(
                                &FS_TOLL_ALLOW_INTERNATIONAL,
                                value_loc(v),
                                format!("user {id} has toll_allow={val}"),
                            );
                        }
                    }
                }
            }
            _ => {}
        }
    }

    if let Some((v, loc)) = vars.get("default_password")
        && v == "1234"
    {
        let used = if users_on_default > 0 {
            format!("; {users_on_default} directory user(s) use $${{default_password}}")
        } else {
            String::new()
        };
        sink.push(
            &FS_DEFAULT_PASSWORD,
            *loc,
            format!("default_password=1234{used}"),
        );
    }

    for el in &all {
        if el.name.eq_ignore_ascii_case("context") {
            let name = el.attr("name").unwrap_or("").to_ascii_lowercase();
            if let Some(who) = entries.get(&name) {
                dialplan_context(el, who, sink);
            }
        }
    }
}

fn esl(cfg: &Element, vars: &Vars, sink: &mut Sink) {
    let Some(settings) = cfg.kids("settings").next() else {
        return;
    };
    let listen = settings.param("listen-ip");
    let ip = listen
        .and_then(|p| p.attr("value"))
        .map_or("127.0.0.1".to_owned(), |v| expand(v, vars));
    if is_loopback(&ip) {
        return;
    }
    let at = listen.map_or(settings.loc, value_loc);
    let pw = settings.param("password");
    let pw_value = pw
        .and_then(|p| p.attr("value"))
        .map_or("ClueCon".to_owned(), |v| expand(v, vars));
    if pw_value == "ClueCon" {
        sink.push(
            &FS_ESL_DEFAULT_PASSWORD,
            pw.map_or(at, value_loc),
            format!(
                "event socket listens on {ip} (line {}) with password ClueCon",
                at.line
            ),
        );
    }
    if settings.param("apply-inbound-acl").is_none() {
        sink.push(
            &FS_ESL_NO_ACL,
            at,
            format!("event socket listens on {ip} without apply-inbound-acl"),
        );
    }
}

fn acl(cfg: &Element, sink: &mut Sink) {
    for list in cfg.kids("network-lists").flat_map(|n| n.kids("list")) {
        if let Some(d) = list.attr_full("default")
            && d.value.eq_ignore_ascii_case("allow")
        {
            let denies = list
                .kids("node")
                .filter(|n| {
                    n.attr("type")
                        .is_some_and(|t| t.eq_ignore_ascii_case("deny"))
                })
                .count();
            sink.push(
                &FS_ACL_DEFAULT_ALLOW,
                d.loc,
                format!(
                    "ACL list `{}` has default=\"allow\" ({denies} deny node(s))",
                    list.attr("name").unwrap_or("?")
                ),
            );
        }
    }
}

/// Whether a regular expression leaves the number of dialled digits unbounded after a short prefix.
fn open_regex(expr: &str) -> Option<&'static str> {
    let e = expr.trim_start_matches('^');
    let unbounded = [
        "\\d+", "\\d*", ".*", ".+", "[0-9]+", "[0-9]*", "\\d{1,}", "\\d{2,}", "\\d{3,}",
    ];
    let first = unbounded.iter().filter_map(|u| e.find(u)).min()?;
    let prefix: String = e
        .get(..first)
        .unwrap_or("")
        .chars()
        .filter(|c| !matches!(c, '(' | ')' | '?' | '\\' | '|'))
        .collect();
    let digits = prefix.trim_start_matches('+');
    if ["00", "011", "9011", "0011"]
        .iter()
        .any(|p| digits.starts_with(p))
        || e.starts_with("\\+")
    {
        Some("international numbers")
    } else if prefix.chars().filter(char::is_ascii_digit).count() <= 1 {
        Some("any number")
    } else {
        None
    }
}

fn dialplan_context(ctx: &Element, who: &str, sink: &mut Sink) {
    for ext in ctx.kids("extension") {
        for cond in ext.kids("condition") {
            let field = cond.attr("field").unwrap_or("");
            if !(field == "destination_number" || field == "${destination_number}") {
                continue;
            }
            let Some(expr) = cond.attr_full("expression") else {
                continue;
            };
            let Some(reaches) = open_regex(&expr.value) else {
                continue;
            };
            let sends = cond.kids("action").find(|a| {
                let app = a.attr("application").unwrap_or("").to_ascii_lowercase();
                let data = a.attr("data").unwrap_or("");
                matches!(app.as_str(), "bridge" | "transfer" | "execute_extension")
                    && (data.contains("$1") || data.contains("${destination_number}"))
            });
            if let Some(a) = sends {
                sink.push(
                    &DIALPLAN_OPEN_PATTERN,
                    expr.loc,
                    format!(
                        "expression {} in context `{}` passes {reaches} to {} at line {}; the context is reached by {who}",
                        expr.value,
                        ctx.attr("name").unwrap_or("?"),
                        a.attr("application").unwrap_or("?"),
                        a.loc.line
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_regexes() {
        assert_eq!(open_regex("^(\\d+)$"), Some("any number"));
        assert_eq!(open_regex("^(011\\d+)$"), Some("international numbers"));
        assert_eq!(open_regex("^00(\\d+)$"), Some("international numbers"));
        assert_eq!(open_regex("^\\+(\\d+)$"), Some("international numbers"));
        assert_eq!(open_regex("^(.*)$"), Some("any number"));
        assert_eq!(open_regex("^(10[01][0-9])$"), None);
        assert_eq!(open_regex("^\\+?1?(\\d{10})$"), None);
        assert_eq!(open_regex("^(5551212)$"), None);
    }
}
