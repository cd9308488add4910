//! The configuration file contract: defaults round-trip, mistakes are all reported with their lines.

use pbxguard_config::{Config, Problem, default_toml, keys::KEYS};

#[test]
fn printed_default_parses_back_to_the_default() {
    let text = default_toml();
    let parsed = Config::from_toml(&text, "<default>").unwrap();
    assert_eq!(parsed, Config::default());
}

#[test]
fn printed_default_documents_every_key() {
    let text = default_toml();
    for key in KEYS {
        let line = format!("\n{} = ", key.name);
        assert!(
            text.contains(&line),
            "key {} missing from the default config",
            key.path()
        );
        assert!(
            !key.doc.trim().is_empty(),
            "key {} has no documentation",
            key.path()
        );
    }
}

#[test]
fn every_key_is_defined_once() {
    let mut paths: Vec<String> = KEYS.iter().map(|k| k.path()).collect();
    paths.sort();
    let before = paths.len();
    paths.dedup();
    assert_eq!(before, paths.len(), "a key is defined twice");
}

#[test]
fn empty_file_means_defaults() {
    assert_eq!(
        Config::from_toml("", "empty.toml").unwrap(),
        Config::default()
    );
}

#[test]
fn a_changed_key_is_applied_and_others_keep_their_defaults() {
    let c = Config::from_toml(
        "[rules.auth]\nmax_failures = 3\nban_time = \"2h\"\n[lists]\ntrunks = [\"203.0.113.0/24\"]\n",
        "site.toml",
    )
    .unwrap();
    assert_eq!(c.rules.auth.max_failures, 3);
    assert_eq!(c.rules.auth.ban_time.as_secs(), 7200);
    assert_eq!(c.rules.auth.window, Config::default().rules.auth.window);
    assert_eq!(c.lists.trunks.len(), 1);
}

#[test]
fn three_mistakes_are_reported_together_with_lines_and_keys() {
    let text = "\
[rules.auth]
ban_tme = \"1h\"
max_failures = \"ten\"

[rules.rate]
level1_window = 5
";
    let err = Config::from_toml(text, "bad.toml").unwrap_err();
    let lines: Vec<String> = err.diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert_eq!(
        lines[0],
        "bad.toml:2:1: unknown key `ban_tme` in [rules.auth], did you mean `ban_time`?"
    );
    assert!(
        lines[1].starts_with("bad.toml:3:16: `rules.auth.max_failures` must be an integer"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("bad.toml:6:17: `rules.rate.level1_window` must be a duration"),
        "{}",
        lines[2]
    );
    assert!(lines[2].contains("\"5s\""), "{}", lines[2]);
}

#[test]
fn unknown_table_suggests_the_closest() {
    let err = Config::from_toml("[rules.authh]\nenabled = true\n", "t.toml").unwrap_err();
    assert_eq!(
        err.diagnostics[0].problem,
        Problem::UnknownTable {
            table: "rules.authh".into(),
            suggestion: Some("rules.auth".into())
        }
    );
}

#[test]
fn key_in_the_wrong_table_names_the_right_one() {
    let err = Config::from_toml("[rules.auth]\nmax_sources = 5000\n", "t.toml").unwrap_err();
    assert!(
        err.to_string()
            .contains("did you mean `[limits] max_sources`?"),
        "{err}"
    );
}

#[test]
fn syntax_errors_are_reported_with_their_line() {
    let err = Config::from_toml("[rules.auth]\nmax_failures = = 3\n", "s.toml").unwrap_err();
    let first = &err.diagnostics[0];
    assert_eq!(first.line, 2);
    assert!(matches!(first.problem, Problem::Syntax { .. }));
}

#[test]
fn out_of_range_and_bad_networks_are_rejected() {
    let text = "[bans]\nipv6_prefix = 8\n[lists]\nallow = [\"10.0.0.1/8\", \"nonsense\"]\n";
    let err = Config::from_toml(text, "r.toml").unwrap_err();
    let all = err.to_string();
    assert!(
        all.contains("r.toml:2:15: `bans.ipv6_prefix` must be an integer from 32 to 128; found 8"),
        "{all}"
    );
    assert!(all.contains("r.toml:4:9: `lists.allow`"), "{all}");
    assert!(all.contains("10.0.0.0/8"), "{all}");
}

#[test]
fn the_tcp_api_listens_on_loopback_only() {
    let ok = Config::from_toml(
        "[guard]\napi_listen = [\"127.0.0.1:9060\", \"[::1]:9060\"]\n",
        "a.toml",
    )
    .unwrap();
    assert_eq!(
        ok.guard.api_listen,
        vec![
            "127.0.0.1:9060".parse().unwrap(),
            "[::1]:9060".parse().unwrap()
        ]
    );
    let text = "[guard]\napi_listen = [\"0.0.0.0:9060\"]\n";
    let all = Config::from_toml(text, "a.toml").unwrap_err().to_string();
    assert!(
        all.contains("a.toml:2:14: `guard.api_listen`") && all.contains("not on loopback"),
        "{all}"
    );
    let text = "[guard]\napi_listen = [\"127.0.0.1\"]\n";
    let all = Config::from_toml(text, "a.toml").unwrap_err().to_string();
    assert!(all.contains("is not an address:port"), "{all}");
}

#[test]
fn journal_entries_name_a_format_and_a_unit() {
    let ok = Config::from_toml(
        "[logs]\njournal = [\"asterisk:asterisk.service\"]\njournal_directory = \"\"\n",
        "j.toml",
    )
    .unwrap();
    assert_eq!(ok.logs.journal, ["asterisk:asterisk.service"]);
    let text = "[logs]\njournal = [\"asterisk\", \"nginx:nginx.service\", \"kamailio:--all\"]\n";
    let all = Config::from_toml(text, "j.toml").unwrap_err().to_string();
    for bad in ["`asterisk`", "`nginx:nginx.service`", "`kamailio:--all`"] {
        assert!(
            all.contains(&format!(
                "j.toml:2:11: `logs.journal`: {bad} is not FORMAT:UNIT"
            )),
            "{all}"
        );
    }
}

#[test]
fn contradictions_are_reported_at_the_key_to_change() {
    let text =
        "[rules.rate]\nlevel1_rate = 400\nlevel2_rate = 300\n[lists]\nallow = [\"0.0.0.0/0\"]\n";
    let err = Config::from_toml(text, "c.toml").unwrap_err();
    let all = err.to_string();
    assert!(
        all.contains(
            "c.toml:3:15: `rules.rate.level2_rate`: level 2 (300/s) must be above level 1"
        ),
        "{all}"
    );
    assert!(
        all.contains("c.toml:5:9: `lists.allow`: `0.0.0.0/0` allows the whole internet"),
        "{all}"
    );
}

#[test]
fn reference_documentation_is_in_step_with_the_registry() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        on_disk == pbxguard_config::reference_markdown(),
        "docs/configuration.md is stale: regenerate it with `cargo run -p pbxguard -- config docs > docs/configuration.md`"
    );
}

#[test]
fn log_files_and_kamailio_patterns_are_checked() {
    let good = "[logs]\nfiles = [\"asterisk:/var/log/asterisk/full\", \"kamailio:/var/log/syslog\"]\n\
                kamailio_patterns = [\"rejected: blocked {ip}\"]\n";
    let c = Config::from_toml(good, "t.toml").unwrap();
    assert_eq!(c.logs.files.len(), 2);
    assert_eq!(
        c.logs.kamailio_patterns,
        vec!["rejected: blocked {ip}".to_owned()]
    );

    let bad = "[logs]\nfiles = [\"asterisk:/var/log/full\", \"opensips:/x\", \"asterisk:relative\"]\n\
               kamailio_patterns = [\"oops: x {ip}\", \"auth_failed: no address\"]\n";
    let err = Config::from_toml(bad, "t.toml").unwrap_err();
    let text = err.to_string();
    for needle in [
        "opensips:/x",
        "asterisk:relative",
        "oops: x {ip}",
        "auth_failed: no address",
    ] {
        assert!(text.contains(needle), "{needle} not reported in {text}");
    }
    assert!(!text.contains("asterisk:/var/log/full`"), "{text}");
}
