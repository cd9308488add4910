//! Site descriptions: two-step parsing, every mistake at once, each with its line and key.
#![allow(clippy::unwrap_used, clippy::panic)]

use pbxguard_firewall::{Catalog, Site, SiteError};

fn errors(text: &str) -> Vec<SiteError> {
    let catalog = Catalog::builtin().unwrap();
    match Site::parse(text, &catalog) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.0,
    }
}

#[test]
fn the_example_site_is_valid() {
    let catalog = Catalog::builtin().unwrap();
    let site = Site::parse(pbxguard_firewall::EXAMPLE_SITE, &catalog).unwrap();
    assert_eq!(site.product, "freeswitch");
    assert_eq!(site.trusted.len(), 3);
}

#[test]
fn syntax_errors_are_reported_with_line_and_column_before_meaning() {
    let e = errors("[pbx]\nproduct = \"asterisk\nlan_address = 1\n");
    assert!(
        matches!(e.first(), Some(SiteError::SyntaxInvalid { line: 2, .. })),
        "{e:?}"
    );
    assert!(
        e.iter()
            .all(|e| matches!(e, SiteError::SyntaxInvalid { .. }))
    );
}

#[test]
fn every_meaning_mistake_is_reported_at_once_with_its_line() {
    let text = r#"[pbx]
product = "freeswich"
features = ["remote-phones"]
lan_address = "192.168.1.10/24"
rtp_rnage = "1-2"

[sip]
open_to_world = "yes"

[[trusted]]
name = "everyone"
address = "0.0.0.0/0"

[admin]
ssh_port = 70000
"#;
    let e = errors(text);
    let lines: Vec<usize> = e.iter().map(SiteError::line).collect();
    assert!(
        matches!(&e[0], SiteError::ProductUnknown { line: 2, suggestion: Some(s), .. } if s == "freeswitch"),
        "{e:?}"
    );
    assert!(
        matches!(&e[1], SiteError::KeyUnknown { line: 5, key, suggestion: Some(s) } if key == "pbx.rtp_rnage" && s == "rtp_range"),
        "{e:?}"
    );
    assert!(
        matches!(&e[2], SiteError::TypeWrong { line: 8, .. }),
        "{e:?}"
    );
    assert!(
        matches!(&e[3], SiteError::TrustedCoversInternet { line: 12, key, .. } if key == "trusted[0].address"),
        "{e:?}"
    );
    assert!(
        matches!(&e[4], SiteError::PortOutOfRange { line: 15, .. }),
        "{e:?}"
    );
    assert_eq!(lines.len(), 5, "{e:?}");
}

#[test]
fn unknown_features_get_a_suggestion_from_the_products_own_features() {
    let e = errors(
        "[pbx]\nproduct = \"asterisk\"\nlan_address = \"10.0.0.2/24\"\nfeatures = [\"remote-phone\", \"verto\"]\n",
    );
    assert!(
        matches!(&e[0], SiteError::FeatureUnknown { line: 4, suggestion: Some(s), .. } if s == "remote-phones"),
        "{e:?}"
    );
    assert!(
        matches!(&e[1], SiteError::FeatureUnknown { feature, .. } if feature == "verto"),
        "{e:?}"
    );
}

#[test]
fn overlapping_ranges_are_rejected() {
    // The RTP range swallows the SIP port; two trusted ranges overlap; SSH sits on an open TCP port.
    let text = r#"[pbx]
product = "asterisk"
features = ["remote-phones", "sip-tcp"]
lan_address = "10.0.0.2/24"
rtp_range = "5000-6000"

[[trusted]]
address = "203.0.113.0/24"

[[trusted]]
address = "203.0.113.128/25"

[admin]
ssh_port = 5060
"#;
    let e = errors(text);
    assert!(
        e.iter().any(
            |e| matches!(e, SiteError::RangesOverlap { line: 5, key, .. } if key == "pbx.rtp_range")
        ),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|e| matches!(e, SiteError::RangesOverlap { line: 11, .. })),
        "{e:?}"
    );
    assert!(
        e.iter().any(|e| matches!(e, SiteError::RangesOverlap { line: 14, key, .. } if key == "admin.ssh_port")),
        "{e:?}"
    );
}

#[test]
fn an_rtp_range_the_product_cannot_have_is_an_error() {
    // PBXtra's range is fixed; innovaphone uses no fixed range at all.
    let e = errors(
        "[pbx]\nproduct = \"pbxtra\"\nlan_address = \"10.0.0.2/24\"\nrtp_range = \"20000-30000\"\n",
    );
    assert!(
        matches!(&e[0], SiteError::RtpRangeNotTheProducts { line: 4, .. }),
        "{e:?}"
    );
    let e = errors(
        "[pbx]\nproduct = \"innovaphone\"\nlan_address = \"10.0.0.2/24\"\nrtp_range = \"20000-30000\"\n",
    );
    assert!(
        matches!(&e[0], SiteError::RtpRangeNotTheProducts { line: 4, .. }),
        "{e:?}"
    );
}

#[test]
fn missing_keys_and_bad_values_are_named() {
    let e = errors("[deployment]\nkind = \"colo\"\n[admin]\nnetworks = [\"::/0\", \"nonsense\"]\n");
    let text: Vec<String> = e.iter().map(ToString::to_string).collect();
    let all = text.join("\n");
    assert!(all.contains("`pbx` is required"), "{all}");
    assert!(
        all.contains("`deployment.kind`: `colo` is not one of on-prem-nat, cloud"),
        "{all}"
    );
    assert!(all.contains("admin.ssh_open_to_world"), "{all}");
    assert!(all.contains("`nonsense` is not an address"), "{all}");
}

#[test]
fn expose_accepts_never_services_and_rejects_unknown_ones() {
    let e = errors(
        "[pbx]\nproduct = \"freeswitch\"\nlan_address = \"10.0.0.2/24\"\nexpose = [\"esl\", \"els\"]\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        matches!(&e[0], SiteError::ServiceUnknown { line: 4, suggestion: Some(s), .. } if s == "esl"),
        "{e:?}"
    );
    // Outbound-only services cannot be exposed.
    let e = errors(
        "[pbx]\nproduct = \"pbxtra\"\nlan_address = \"10.0.0.2/24\"\nexpose = [\"out-dns\"]\n",
    );
    assert!(
        matches!(&e[0], SiteError::ServiceUnknown { line: 4, .. }),
        "{e:?}"
    );
}

#[test]
fn hostile_input_never_panics() {
    let catalog = Catalog::builtin().unwrap();
    for text in [
        "",
        "[[pbx]]",
        "pbx = 1",
        "trusted = 3",
        "[[trusted]]\naddress = 5",
        "[pbx]\nfeatures = \"x\"",
        "[sip]\nrate_limit = -1",
        "[sip]\nrate_limit = 0x7fffffffffffffff",
        "[admin]\nssh_port = 0",
        "\u{0}\u{feff}[",
    ] {
        assert!(Site::parse(text, &catalog).is_err(), "{text:?}");
    }
}
