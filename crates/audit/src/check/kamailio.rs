//! Kamailio checks: user authentication and flood protection in the preprocessed configuration.

use super::Sink;
use crate::model::Loc;
use crate::read::kamailio::KamCfg;
use crate::rules::{KAMAILIO_NO_ANTIFLOOD, KAMAILIO_NO_AUTH};

/// Where the fix goes for a missing define: a commented-out `#!define`, else the first `#!ifdef` of it,
/// else the first line.
fn fix_loc(cfg: &KamCfg, name: &str) -> Loc {
    cfg.commented_defines
        .get(name)
        .or_else(|| cfg.conditionals.get(name))
        .copied()
        .or_else(|| cfg.files.first().map(|f| Loc::line(*f, 1)))
        .unwrap_or_default()
}

pub(crate) fn run(cfg: &KamCfg, sink: &mut Sink) {
    let auth_calls = [
        "auth_check(",
        "www_authorize(",
        "proxy_authorize(",
        "pv_auth_check(",
        "auth_challenge(",
        "www_challenge(",
    ];
    let authenticates =
        cfg.defines.contains_key("WITH_AUTH") || auth_calls.iter().any(|c| cfg.uses(c));
    if !authenticates {
        let how = if cfg.commented_defines.contains_key("WITH_AUTH") {
            "is commented out"
        } else {
            "is not defined"
        };
        sink.push(
            &KAMAILIO_NO_AUTH,
            fix_loc(cfg, "WITH_AUTH"),
            format!(
                "WITH_AUTH {how} and no active route calls auth_check/www_authorize/proxy_authorize"
            ),
        );
    }
    let flood = [
        "pike_check_req(",
        "rl_check(",
        "pl_check(",
        "\"pike.so\"",
        "\"ratelimit.so\"",
        "\"pipelimit.so\"",
    ];
    let limits = cfg.defines.contains_key("WITH_ANTIFLOOD") || flood.iter().any(|c| cfg.uses(c));
    if !limits {
        let how = if cfg.commented_defines.contains_key("WITH_ANTIFLOOD") {
            "is commented out"
        } else {
            "is not defined"
        };
        sink.push(
            &KAMAILIO_NO_ANTIFLOOD,
            fix_loc(cfg, "WITH_ANTIFLOOD"),
            format!("WITH_ANTIFLOOD {how} and no pike/ratelimit/pipelimit module is loaded"),
        );
    }
}
