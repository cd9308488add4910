//! ufw's configuration as ufw loads it: the `iptables-restore` files of `/etc/ufw` (`before.rules`,
//! `user.rules`, `after.rules` and their IPv6 twins `*6.rules`), the default input policy from
//! `/etc/default/ufw` and whether ufw is enabled at all (`ENABLED=` in `/etc/ufw/ufw.conf`), read together
//! into one [`Ruleset`].
//!
//! The files alone do not show how ufw wires them: `ufw-init` (ufw 0.36, `ufw-init-functions`) hooks
//! `ufw-before-input` and `ufw-after-input` into `INPUT`, appends `-j ufw-user-input` to
//! `ufw-before-input` after loading `user.rules`, and sets the `INPUT` policy from
//! `DEFAULT_INPUT_POLICY` (`REJECT` is a drop policy plus a reject rule). Those links are added here, so
//! the checks walk the path a packet takes: loopback and established traffic (`before.rules`), then the
//! rules `ufw allow`/`deny`/`limit` wrote (`user.rules`), then `after.rules`, then the policy.
//!
//! Without `/etc/default/ufw` in the audited tree the policy is taken as ufw's shipped default, `DROP`,
//! and that assumption is reported as not read.

use super::firewall::{Chain, FwRule, Hook, Ruleset, Verdict, read_iptables};
use crate::model::{FileId, Loc};
use crate::sources::Sources;

/// The files of one ufw installation.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tree {
    /// `*.rules` files, with whether each is an IPv6 one.
    pub(crate) rules: Vec<(FileId, bool)>,
    /// `/etc/default/ufw`.
    pub(crate) default: Option<FileId>,
    /// `/etc/ufw/ufw.conf`.
    pub(crate) conf: Option<FileId>,
}

/// A ufw configuration as the checks see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ufw {
    /// The input paths (IPv4 and IPv6), linked the way `ufw-init` links them.
    pub ruleset: Ruleset,
    /// The `ENABLED=no` line of `ufw.conf`, when ufw is disabled.
    pub disabled: Option<Loc>,
    /// `DEFAULT_INPUT_POLICY` as written (upper case), with its line; `None` when not in the tree.
    pub policy: Option<(Loc, String)>,
}

/// Whether `name` is one of the rules files ufw loads, and if so whether it is an IPv6 one.
pub(crate) fn rules_file(name: &str) -> Option<bool> {
    match name {
        "before.rules" | "user.rules" | "after.rules" => Some(false),
        "before6.rules" | "user6.rules" | "after6.rules" => Some(true),
        _ => None,
    }
}

/// The installation a ufw file belongs to: the directory holding `ufw/` and `default/` (`/etc`), so that
/// `/etc/ufw/user.rules` and `/etc/default/ufw` meet; a file elsewhere belongs to its own directory.
pub(crate) fn installation(path: &str) -> String {
    let p = path.replace('\\', "/");
    let dir = p.rsplit_once('/').map_or("", |(d, _)| d);
    let (parent, last) = dir.rsplit_once('/').unwrap_or(("", dir));
    if last == "ufw" || last == "default" {
        parent.to_owned()
    } else {
        dir.to_owned()
    }
}

/// `KEY=value` lines of a shell-style file, value unquoted, with their line numbers.
fn assignments(text: &str) -> impl Iterator<Item = (u32, &str, &str)> {
    text.lines().enumerate().filter_map(|(n, l)| {
        let (k, v) = l.trim().split_once('=')?;
        let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
        Some((u32::try_from(n + 1).unwrap_or(u32::MAX), k.trim(), v))
    })
}

/// Reads one ufw installation.
pub(crate) fn read(sources: &mut Sources<'_>, tree: &Tree) -> Ufw {
    let mut ufw = Ufw::default();
    if let Some(id) = tree.default {
        let text = sources.text(id);
        for (line, k, v) in assignments(&text) {
            if k == "DEFAULT_INPUT_POLICY" {
                ufw.policy = Some((Loc::line(id, line), v.to_ascii_uppercase()));
            }
        }
    }
    if let Some(id) = tree.conf {
        let text = sources.text(id);
        for (line, k, v) in assignments(&text) {
            if k == "ENABLED" {
                ufw.disabled = (!v.eq_ignore_ascii_case("yes")).then(|| Loc::line(id, line));
            }
        }
    }
    let first = tree.rules.first().map(|(id, _)| Loc::line(*id, 1));
    let anchor = ufw
        .policy
        .as_ref()
        .map(|(l, _)| *l)
        .or(first)
        .unwrap_or_default();
    if ufw.policy.is_none()
        && let Some(loc) = first
    {
        sources.unread(
            loc,
            "/etc/default/ufw is not in the audited tree: DEFAULT_INPUT_POLICY taken as ufw's default, DROP",
        );
    }
    let drop_policy = ufw
        .policy
        .as_ref()
        .is_none_or(|(_, p)| p == "DROP" || p == "REJECT");

    let mut chains: Vec<Chain> = Vec::new();
    let mut families = [false, false];
    for (id, v6) in &tree.rules {
        ufw.ruleset.files.push(*id);
        let rs = read_iptables(sources, *id);
        if let Some(f) = families.get_mut(usize::from(*v6)) {
            *f = true;
        }
        for mut c in rs.chains {
            if c.table != "filter" {
                continue;
            }
            // The rules files never touch INPUT; a chain called so here is not the one ufw hooks.
            c.hook = Hook::Other;
            if *v6 {
                c.table = "filter6".to_owned();
            }
            chains.push(c);
        }
    }
    for (v6, present) in [false, true].into_iter().zip(families) {
        if !present {
            continue;
        }
        let (table, prefix) = if v6 {
            ("filter6", "ufw6")
        } else {
            ("filter", "ufw")
        };
        let jump = |target: String| {
            let mut r = FwRule::new(anchor);
            r.verdict = Verdict::Jump(target);
            r
        };
        let before = format!("{prefix}-before-input");
        let user = jump(format!("{prefix}-user-input"));
        match chains
            .iter_mut()
            .find(|c| c.table == table && c.name == before)
        {
            Some(c) => c.rules.push(user),
            None => chains.push(Chain {
                table: table.to_owned(),
                name: before.clone(),
                hook: Hook::Other,
                policy_accept: None,
                loc: anchor,
                rules: vec![user],
            }),
        }
        chains.push(Chain {
            table: table.to_owned(),
            name: "INPUT".to_owned(),
            hook: Hook::Input,
            policy_accept: Some(!drop_policy),
            loc: anchor,
            rules: vec![jump(before), jump(format!("{prefix}-after-input"))],
        });
    }
    ufw.ruleset.chains = chains;
    ufw
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceFile;
    use crate::sources::NoIncludes;

    #[test]
    fn installation_joins_etc_ufw_and_etc_default() {
        assert_eq!(installation("host/etc/ufw/user.rules"), "host/etc");
        assert_eq!(installation("host/etc/ufw/ufw.conf"), "host/etc");
        assert_eq!(installation("host/etc/default/ufw"), "host/etc");
        assert_eq!(installation("saved/user.rules"), "saved");
    }

    #[test]
    fn policy_enabled_and_the_links_ufw_init_adds() {
        let mut r = NoIncludes;
        let mut s = Sources::new(&mut r);
        let user = s.add(SourceFile::new(
            "etc/ufw/user.rules",
            "*filter\n:ufw-user-input - [0:0]\n-A ufw-user-input -p udp --dport 5060 -j ACCEPT\nCOMMIT\n",
        ));
        let default = s.add(SourceFile::new(
            "etc/default/ufw",
            "IPV6=yes\n# comment\nDEFAULT_INPUT_POLICY=\"ACCEPT\"\n",
        ));
        let conf = s.add(SourceFile::new("etc/ufw/ufw.conf", "ENABLED=no\n"));
        let tree = Tree {
            rules: vec![(user, false)],
            default: Some(default),
            conf: Some(conf),
        };
        let ufw = read(&mut s, &tree);
        let (_, _, unread) = s.into_parts();
        assert!(unread.is_empty(), "{unread:?}");
        assert_eq!(
            ufw.policy.as_ref().map(|(l, p)| (l.line, p.as_str())),
            Some((3, "ACCEPT"))
        );
        assert_eq!(ufw.disabled.map(|l| l.line), Some(1));
        let input = ufw
            .ruleset
            .chains
            .iter()
            .find(|c| c.hook == Hook::Input)
            .unwrap();
        assert_eq!(input.policy_accept, Some(true));
        let before = ufw
            .ruleset
            .chains
            .iter()
            .find(|c| c.name == "ufw-before-input")
            .unwrap();
        assert_eq!(
            before.rules[0].verdict,
            Verdict::Jump("ufw-user-input".into())
        );
    }
}
