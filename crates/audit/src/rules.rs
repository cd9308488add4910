//! The rule catalog: one definition per rule, from which every output format takes id, text and fix.

use crate::model::Severity;

/// Which configurations a rule reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// Asterisk `*.conf` files.
    Asterisk,
    /// FreeSWITCH XML configuration.
    FreeSwitch,
    /// Kamailio `kamailio.cfg`.
    Kamailio,
    /// `iptables-save`, `nft list ruleset`, `nft -j list ruleset`.
    Firewall,
}

/// A lint rule: what it looks for, why it matters, and how to fix it.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// Stable identifier used in outputs and suppressions, e.g. `sip-allowguest`.
    pub id: &'static str,
    /// Default severity.
    pub severity: Severity,
    /// Configurations the rule reads.
    pub family: Family,
    /// One-line summary.
    pub title: &'static str,
    /// Why it matters: the attack it enables.
    pub why: &'static str,
    /// How to fix it.
    pub fix: &'static str,
}

macro_rules! rules {
    ($($name:ident = { $id:literal, $sev:ident, $fam:ident, $title:literal, $why:literal, $fix:literal };)*) => {
        $(
            #[doc = concat!("`", $id, "`: ", $title)]
            pub static $name: Rule = Rule {
                id: $id,
                severity: Severity::$sev,
                family: Family::$fam,
                title: $title,
                why: $why,
                fix: $fix,
            };
        )*
        /// Every rule, in catalog order.
        pub static ALL: &[&Rule] = &[$(&$name),*];
    };
}

rules! {
    SIP_ALLOWGUEST = { "sip-allowguest", High, Asterisk,
        "chan_sip accepts calls from unauthenticated guests",
        "allowguest defaults to yes: any INVITE from the internet that matches no peer is accepted into the [general] context. If that context (or anything it includes) can dial out, scanners make international calls without a password.",
        "Set allowguest=no in [general] of sip.conf; give trunks their own peer with host= and permit/deny." };
    SIP_ALWAYSAUTHREJECT = { "sip-alwaysauthreject-off", Medium, Asterisk,
        "chan_sip tells scanners which extensions exist",
        "With alwaysauthreject=no, an unknown user gets a different answer (404) than a wrong password (401/403), so tools such as sipvicious enumerate extensions before brute-forcing their passwords.",
        "Set alwaysauthreject=yes in [general] (the default since Asterisk 1.8), or remove the line." };
    SIP_AUTOCREATEPEER = { "sip-autocreatepeer", High, Asterisk,
        "chan_sip creates a peer for any device that registers",
        "autocreatepeer accepts REGISTER from anyone and creates a peer for it without authentication; the new peer can then place calls.",
        "Remove autocreatepeer or set autocreatepeer=no; define every device as its own peer with a secret." };
    SIP_INSECURE_INVITE = { "sip-insecure-invite", High, Asterisk,
        "insecure=invite on a peer that is not a trunk",
        "insecure=invite skips authentication of INVITEs. On a trunk that is matched by host address this is expected; on a phone or a dynamic peer anyone who claims to be that peer calls without a password.",
        "Remove insecure= from phone and dynamic peers; keep it only on trunks with a fixed host= and permit/deny for the carrier's addresses." };
    ENDPOINT_NO_ACL = { "endpoint-no-acl", Medium, Asterisk,
        "endpoint accepts registrations and calls from any address",
        "Without permit/deny (or acl=), a leaked or guessed password works from anywhere in the world; with them, a brute-forced password is useless outside the permitted networks.",
        "Add deny=0.0.0.0/0.0.0.0 followed by permit=<your networks> (chan_sip, chan_iax2, PJSIP endpoint), or acl=<named ACL>." };
    WEAK_SECRET = { "weak-secret", High, Asterisk,
        "weak or default password",
        "SIP and AMI passwords are brute-forced at thousands of guesses per minute; short passwords, default values, sequences, repeats and passwords equal to the extension fall first.",
        "Use 8-32 characters with letters, digits and an upper-case letter or symbol, no sequences (1234, abcd), no repeats (222), and nothing from the account (extension, user name)." };
    WEAK_PIN = { "weak-pin", Medium, Asterisk,
        "weak or default PIN",
        "Voicemail and DISA PINs protect call-out features (voicemail callback, DISA dial tone); 4-digit, sequential, repeated or extension-equal PINs are guessed quickly.",
        "Use at least 6 digits with no sequence (1234), no repeated digits (111) and not the mailbox number." };
    PJSIP_ANONYMOUS = { "pjsip-anonymous", High, Asterisk,
        "PJSIP anonymous endpoint accepts unidentified calls",
        "An endpoint named `anonymous` receives every call that matches no other endpoint, without authentication; its context is then reachable from the whole internet.",
        "Remove the [anonymous] endpoint, or give it a context that only answers inbound DIDs and never dials out." };
    PJSIP_NO_AUTH = { "pjsip-no-auth", High, Asterisk,
        "PJSIP endpoint without authentication",
        "An endpoint with no auth= that is not matched by address (type=identify) accepts every request that names it, without a challenge: anyone who guesses the name calls into its context.",
        "Give the endpoint auth=<an auth section with a strong password>, or, for a carrier, a type=identify section with match=<its addresses>." };
    IAX_GUEST = { "iax-guest", High, Asterisk,
        "IAX2 guest user accepts unauthenticated calls",
        "The [guest] user in iax.conf lets any IAX2 peer call in without a secret, into its context.",
        "Remove the [guest] section from iax.conf (or set its context to one that cannot dial out)." };
    DIALPLAN_OPEN_PATTERN = { "dialplan-open-pattern", Critical, Asterisk,
        "dial plan reaches any or international destination from a context guests or trunks reach",
        "A pattern such as _X., _., _!, _00., _011. or _+X. that dials out, in a context reachable without authentication (guest, anonymous, trunk inbound), lets outsiders make international calls billed to you: the classic toll-fraud path.",
        "Move outbound patterns to a context only authenticated extensions use; in inbound contexts match only your DIDs; restrict international prefixes to users who need them." };
    DIALPLAN_UNFILTERED_EXTEN = { "dialplan-unfiltered-exten", High, Asterisk,
        "Dial() uses ${EXTEN} from a wide pattern without FILTER()",
        "A pattern with . or ! matches any characters, so a caller can dial `100&SIP/attacker/9011...` and inject extra channels or options into Dial().",
        "Wrap the variable: Dial(PJSIP/${FILTER(0-9+,${EXTEN})}@trunk), or narrow the pattern to X/N/Z/[..] digits." };
    DISA_NO_PASSWORD = { "disa-no-password", Critical, Asterisk,
        "DISA without a password",
        "DISA(no-password,...) gives a dial tone to anyone who reaches the extension; attackers use it to place international calls.",
        "Give DISA a passcode or a passcode file: DISA(/etc/asterisk/disa.pass,ctx), or remove it." };
    VOICEMAIL_CALLOUT = { "voicemail-callout", Medium, Asterisk,
        "voicemail can dial out (dialout/callback)",
        "dialout= and callback= let whoever knows (or guesses) a mailbox PIN place calls from the voicemail menu: a toll-fraud path behind a 4-digit PIN.",
        "Remove dialout= and callback= from voicemail.conf unless needed, and then point them at a context that only reaches local numbers." };
    AMI_EXPOSED_ORIGINATE = { "ami-exposed-originate", High, Asterisk,
        "Asterisk Manager Interface open to all addresses with originate rights",
        "AMI listens on all addresses by default (bindaddr=0.0.0.0); a user with write=originate (or all/system/command) there can place calls and run commands once its secret is guessed.",
        "Set bindaddr=127.0.0.1 in [general] of manager.conf, and give each user deny=0.0.0.0/0.0.0.0 with permit= for the hosts that need it." };
    FS_DEFAULT_PASSWORD = { "fs-default-password", Critical, FreeSwitch,
        "FreeSWITCH default_password is still 1234",
        "Every user in the stock directory registers with $${default_password}; left at 1234 all extensions are open to the first scanner.",
        "Change <X-PRE-PROCESS cmd=\"set\" data=\"default_password=...\"/> in vars.xml to a strong value, or give each user its own password." };
    FS_ESL_DEFAULT_PASSWORD = { "fs-esl-default-password", Critical, FreeSwitch,
        "Event Socket listens beyond loopback with the default password ClueCon",
        "ESL runs any API command, including originate and system; with the well-known ClueCon password on a reachable address, anyone takes over the switch.",
        "Set listen-ip to 127.0.0.1 (or ::1) in event_socket.conf.xml and change the password; add apply-inbound-acl if it must listen elsewhere." };
    FS_ESL_NO_ACL = { "fs-esl-no-acl", Medium, FreeSwitch,
        "Event Socket listens beyond loopback without an inbound ACL",
        "Only the password protects an exposed ESL listener, which allows any command.",
        "Listen on loopback, or add <param name=\"apply-inbound-acl\" value=\"...\"/> naming an ACL of management hosts." };
    FS_AUTH_CALLS_OFF = { "fs-auth-calls-off", High, FreeSwitch,
        "SIP profile accepts calls without authentication",
        "auth-calls=false makes the profile accept INVITEs without a challenge; on an internet-facing profile every caller reaches its dial plan context.",
        "Set <param name=\"auth-calls\" value=\"true\"/> and authorise carriers by ACL (apply-inbound-acl) instead." };
    FS_ACCEPT_BLIND = { "fs-accept-blind", High, FreeSwitch,
        "SIP profile accepts registrations or authentication blindly",
        "accept-blind-reg=true lets any device register as any user without a password, and accept-blind-auth=true accepts any password; either hands out extensions (and their dial plan) to whoever asks.",
        "Remove accept-blind-reg and accept-blind-auth from the profile (both default to false)." };
    FS_ACL_DEFAULT_ALLOW = { "fs-acl-default-allow", Medium, FreeSwitch,
        "ACL list allows by default",
        "A list with default=\"allow\" admits every address its deny nodes forget; used as apply-inbound-acl or apply-register-acl it opens the profile to the world.",
        "Use default=\"deny\" and add <node type=\"allow\" cidr=\"...\"/> for the networks you trust." };
    FS_TOLL_ALLOW_INTERNATIONAL = { "fs-toll-allow-international", Medium, FreeSwitch,
        "directory user may call international destinations",
        "toll_allow containing international lets this user's credentials reach expensive destinations; a cracked password becomes toll fraud.",
        "Remove international from toll_allow for users that do not need it." };
    KAMAILIO_NO_AUTH = { "kamailio-no-auth", High, Kamailio,
        "Kamailio runs without user authentication",
        "Without WITH_AUTH the sample configuration relays REGISTER and INVITE for anyone: an open SIP proxy for toll fraud and spoofing.",
        "Add #!define WITH_AUTH (and WITH_MYSQL or another user database) near the top of kamailio.cfg." };
    KAMAILIO_NO_ANTIFLOOD = { "kamailio-no-antiflood", Medium, Kamailio,
        "Kamailio runs without flood protection",
        "Without WITH_ANTIFLOOD (pike + htable ipban) a scanner can send unlimited REGISTER/INVITE attempts; brute force and floods go unchecked.",
        "Add #!define WITH_ANTIFLOOD near the top of kamailio.cfg (bans sources over 16 requests in 2 s for 300 s)." };
    FW_EXPOSED_SERVICE = { "fw-exposed-service", High, Firewall,
        "management or control port open to the world",
        "SSH, FreeSWITCH ESL (8021), Asterisk AMI (5038), TFTP (69) and HTTP admin/provisioning ports are brute-forced and exploited within minutes of being reachable.",
        "Restrict the rule to trusted source addresses (-s / ip saddr), reach the service over a VPN, or remove the rule." };
    FW_SIP_UNLIMITED = { "fw-sip-unlimited", Medium, Firewall,
        "SIP accepted from anywhere without a rate limit",
        "A SIP port open to every address with no rate limit lets scanners brute-force and flood at line rate.",
        "Restrict SIP to your carriers and users, or add a per-source limit before the accept (hashlimit / nft meter / limit rate over ... drop)." };
    FW_ESTABLISHED_BEFORE_BAN = { "fw-established-before-ban", High, Firewall,
        "\"accept established\" comes before the ban set",
        "conntrack keeps UDP SIP flows established; an accept for established/related traffic placed before the ban-set drop lets a banned attacker keep sending on the flow it already has, so bans do nothing.",
        "Move the ban-set drop rule (ip saddr @banned drop / -m set --match-set ... -j DROP / fail2ban chains) above the ct state established,related accept." };
    FW_NO_DEFAULT_DROP = { "fw-no-default-drop", High, Firewall,
        "input is accepted by default",
        "With policy accept and no final drop, every port the host listens on (databases, admin UIs, ESL, AMI) is reachable, whatever the rules above allow.",
        "Set the input policy to drop (iptables -P INPUT DROP / policy drop;) after allowing loopback, established traffic and the services you need." };
}

/// Looks up a rule by id (case-insensitive).
pub fn by_id(id: &str) -> Option<&'static Rule> {
    ALL.iter().copied().find(|r| r.id.eq_ignore_ascii_case(id))
}
