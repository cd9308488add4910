//! Root tier: the control API over TCP on loopback, with a bearer token, beside the Unix socket.
//!
//! The guard runs in the lab's PBX namespace (see `common`); requests are made from inside that namespace
//! (its loopback) and, to show the API is not reachable from the network, from the attacker's.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use pbxguard_sys::netns;
use pbxguard_testlab::{Netns, root_or_skip, tools_or_skip};

mod common;

use common::{Lab, PBX_ATK};

const TOKEN: &str = "5f0e2c9a41d7b3e8a6c0f9d2b4e7a1c35f0e2c9a41d7b3e8a6c0f9d2b4e7a1c3";

/// One HTTP request to `addr` from inside `ns`; returns the status and the body.
fn request(ns: &Netns, addr: &str, head: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut stream = netns::run_in(&netns::named(ns.name()), || TcpStream::connect(addr))??;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "{head}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

#[test]
fn the_tcp_api_needs_the_token_and_listens_on_loopback_only() {
    let name = "the_tcp_api_needs_the_token_and_listens_on_loopback_only";
    if !root_or_skip(name) || !tools_or_skip(name, &["ip", "kamailio", "nft"]) {
        return;
    }
    let secrets = tempfile::tempdir().unwrap();
    let token_file = secrets.path().join("api.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let lab = Lab::with_config(
        "capture",
        &format!(
            "api_listen = [\"127.0.0.1:9060\"]\napi_token_file = \"{}\"\n",
            token_file.display()
        ),
    );
    let api = "127.0.0.1:9060";

    // No token, a wrong one, another scheme: refused, and nothing is changed.
    for auth in [
        String::new(),
        format!("\r\nAuthorization: Bearer {}x", &TOKEN[1..]),
        format!("\r\nAuthorization: Basic {TOKEN}"),
    ] {
        let (status, body) =
            request(&lab.pbx, api, &format!("GET /status HTTP/1.1{auth}"), "").unwrap();
        assert_eq!(status, 401, "{auth:?}: {body}");
        let (status, _) = request(
            &lab.pbx,
            api,
            &format!("POST /bans HTTP/1.1{auth}"),
            r#"{"target":"10.79.1.77"}"#,
        )
        .unwrap();
        assert_eq!(status, 401);
    }
    assert!(lab.ban_of("10.79.1.77").is_none());

    // With the token: metrics for a scraper, and a ban that the Unix-socket CLI sees.
    let bearer = format!("\r\nAuthorization: Bearer {TOKEN}");
    let (status, metrics) =
        request(&lab.pbx, api, &format!("GET /metrics HTTP/1.1{bearer}"), "").unwrap();
    assert_eq!(status, 200, "{metrics}");
    assert!(metrics.contains("# TYPE pbxguard_"), "{metrics}");
    let (status, body) = request(
        &lab.pbx,
        api,
        &format!("POST /bans HTTP/1.1{bearer}"),
        r#"{"target":"10.79.1.77","duration_secs":600,"reason":"tcp api test"}"#,
    )
    .unwrap();
    assert!((200..300).contains(&status), "{status}: {body}");
    assert!(lab.ban_of("10.79.1.77").is_some(), "{:?}", lab.bans());

    // Bound to loopback: the PBX's network address does not answer on that port.
    let from_outside = request(
        &lab.atk,
        &format!("{PBX_ATK}:9060"),
        "GET /status HTTP/1.1",
        "",
    );
    assert!(from_outside.is_err(), "{from_outside:?}");
}

#[test]
fn the_guard_refuses_to_start_with_a_short_token() {
    let name = "the_guard_refuses_to_start_with_a_short_token";
    if !root_or_skip(name) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("api.token");
    std::fs::write(&token_file, "short\n").unwrap();
    let config = dir.path().join("pbxguard.toml");
    std::fs::write(
        &config,
        format!(
            "[guard]\nstate_dir = \"{d}\"\nsocket = \"{d}/guard.sock\"\napi_listen = [\"127.0.0.1:9061\"]\n\
             api_token_file = \"{t}\"\n",
            d = dir.path().display(),
            t = token_file.display()
        ),
    )
    .unwrap();
    let ns = Netns::new("apit").unwrap();
    let out = ns
        .command(env!("CARGO_BIN_EXE_pbxguard"))
        .args(["--config", config.to_str().unwrap(), "run", "--dry-run"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&token_file.display().to_string()) && stderr.contains("at least 32"),
        "{stderr}"
    );
}
