//! The call guard: dial plan, classifier and call policy behind one sans-IO interface, shaped for
//! a SIP engine that sees INVITEs, final responses, BYEs and CANCELs.
//!
//! ```
//! use pbxguard_numbers::guard::CallGuard;
//! use pbxguard_numbers::policy::{PolicyConfig, Verdict};
//! use pbxguard_numbers::{Classifier, Country, DialPlan, Timestamp};
//!
//! let plan = DialPlan::new(Country::new("GB").unwrap()).with_outside_line("9");
//! let mut guard = CallGuard::new(plan, Classifier::default(), PolicyConfig::default());
//! let now = Timestamp::from_unix_secs(1_775_037_600);
//! let (class, verdict) = guard.handle_invite(now, "call-1", Some("201"), Some("carrier"), "9 0901 234 5678");
//! assert!(!verdict.is_allowed()); // premium rate: answer 403
//! let (_, verdict) = guard.handle_invite(now, "call-2", Some("201"), Some("carrier"), "999");
//! assert_eq!(verdict, Verdict::AllowEmergency);
//! guard.handle_final_response(now, "call-2", 200);
//! guard.handle_bye(now, "call-2");
//! ```

use crate::Timestamp;
use crate::classify::{Classification, Classifier};
use crate::dial::DialPlan;
use std::net::IpAddr;

use crate::policy::{CallAttempt, CallPolicy, PolicyConfig, Reconfigured, Verdict, Violation};

/// Dial plan + classifier + call policy.
#[derive(Debug, Clone)]
pub struct CallGuard {
    plan: DialPlan,
    classifier: Classifier,
    policy: CallPolicy,
}

impl CallGuard {
    /// A guard for a site.
    #[must_use]
    pub fn new(plan: DialPlan, classifier: Classifier, policy: PolicyConfig) -> Self {
        Self {
            plan,
            classifier,
            policy: CallPolicy::new(policy),
        }
    }

    /// Puts a new dial plan and policy in force (the policy file read again) and keeps the calls in
    /// progress, per-extension counts and velocity windows ([`CallPolicy::reconfigure`] says how).
    /// The classifier stays: it comes with the build, not with the policy file.
    pub fn reconfigure(&mut self, plan: DialPlan, policy: PolicyConfig) -> Reconfigured {
        self.plan = plan;
        self.policy.reconfigure(policy)
    }

    /// An initial INVITE: reads the dialled string (the Request-URI user part, or the whole URI),
    /// decides, and counts an allowed call as in progress. A retransmission with the same Call-ID
    /// gets the same answer without being counted twice. Inline mode answers 403 on
    /// [`Verdict::Deny`]; emergency calls are always allowed.
    pub fn handle_invite(
        &mut self,
        now: Timestamp,
        call_id: &str,
        extension: Option<&str>,
        trunk: Option<&str>,
        dialled: &str,
    ) -> (Classification, Verdict) {
        let class = self.classifier.classify(&self.plan, dialled);
        let attempt = CallAttempt {
            call_id,
            extension,
            trunk,
            destination: &class,
        };
        let verdict = self.policy.handle_attempt(now, &attempt);
        (class, verdict)
    }

    /// The trunk whose configured networks hold `addr` ([`PolicyConfig::trunk_at`]).
    #[must_use]
    pub fn trunk_at(&self, addr: IpAddr) -> Option<&str> {
        self.policy.config().trunk_at(addr)
    }

    /// An initial INVITE from a carrier on `trunk` (an inbound call): only the trunk's cap
    /// applies ([`CallPolicy::handle_trunk_offer`]). Inline mode refuses [`Verdict::Deny`].
    pub fn handle_trunk_offer(&mut self, now: Timestamp, call_id: &str, trunk: &str) -> Verdict {
        self.policy.handle_trunk_offer(now, call_id, trunk)
    }

    /// An initial INVITE the PBX sends to `trunk` (an outbound call leg): always counted; the
    /// violation says the trunk was already full ([`CallPolicy::handle_trunk_leg`]).
    pub fn handle_trunk_leg(
        &mut self,
        now: Timestamp,
        call_id: &str,
        trunk: &str,
    ) -> Option<Violation> {
        self.policy.handle_trunk_leg(now, call_id, trunk)
    }

    /// A final response in the call: 2xx means the call is up (its lost-BYE timeout restarts);
    /// 3xx-6xx before that, that it never started; 3xx-6xx after it refuses an in-dialog request
    /// and the call goes on.
    pub fn handle_final_response(&mut self, now: Timestamp, call_id: &str, status: u16) {
        self.policy
            .handle_final_response(now, call_id, None, status);
    }

    /// As [`CallGuard::handle_final_response`], knowing the response's CSeq number: a failure
    /// answering another request than the INVITE (PRACK, UPDATE, re-INVITE) does not end the call
    /// ([`CallPolicy::handle_final_response`]).
    pub fn handle_response(&mut self, now: Timestamp, call_id: &str, cseq: u32, status: u16) {
        self.policy
            .handle_final_response(now, call_id, Some(cseq), status);
    }

    /// The CSeq number of a counted call's INVITE ([`CallPolicy::note_invite_cseq`]).
    pub fn note_invite_cseq(&mut self, call_id: &str, cseq: u32) {
        self.policy.note_invite_cseq(call_id, cseq);
    }

    /// A BYE or CANCEL: the call is over.
    pub fn handle_bye(&mut self, now: Timestamp, call_id: &str) {
        self.policy.handle_call_end(now, call_id);
    }

    /// In-dialog traffic (re-INVITE, UPDATE, session refresh): the call is alive.
    pub fn handle_in_dialog(&mut self, now: Timestamp, call_id: &str) {
        self.policy.handle_call_refresh(now, call_id);
    }

    /// When [`CallGuard::handle_timeout`] next has work.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.policy.poll_timeout()
    }

    /// Forgets calls whose BYE was lost, and expired velocity entries.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.policy.handle_timeout(now);
    }

    /// The policy state (counters, configuration).
    #[must_use]
    pub fn policy(&self) -> &CallPolicy {
        &self.policy
    }

    /// The dial plan.
    #[must_use]
    pub fn plan(&self) -> &DialPlan {
        &self.plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Country;
    use crate::policy::{KeptTrunk, Rule, Trunk};

    #[test]
    fn third_call_on_trunk_of_two_refused_until_a_failure_frees_one() {
        let plan = DialPlan::new(Country::new("GB").unwrap()).with_outside_line("9");
        let mut cfg = PolicyConfig::default();
        cfg.trunk_caps.insert("carrier".into(), 2);
        let mut g = CallGuard::new(plan, Classifier::default(), cfg);
        let t = Timestamp::from_unix_secs(1_775_037_600);
        for id in ["a", "b"] {
            assert!(
                g.handle_invite(t, id, Some("201"), Some("carrier"), "9 0121 234 5678")
                    .1
                    .is_allowed()
            );
        }
        let (_, v) = g.handle_invite(t, "c", Some("202"), Some("carrier"), "9 0121 234 5679");
        assert_eq!(v.violation().map(|v| v.rule), Some(Rule::TrunkConcurrency));
        g.handle_final_response(t, "a", 486);
        assert!(
            g.handle_invite(t, "c", Some("202"), Some("carrier"), "9 0121 234 5679")
                .1
                .is_allowed()
        );
        g.handle_final_response(t, "c", 200);
        g.handle_bye(t, "c");
        assert_eq!(g.policy().active_on_trunk("carrier"), 1);
    }

    fn carrier_guard(cap: Option<u32>) -> CallGuard {
        let plan = DialPlan::new(Country::new("GB").unwrap()).with_outside_line("9");
        let mut cfg = PolicyConfig::default();
        if let Some(cap) = cap {
            cfg.trunk_caps.insert("carrier".into(), cap);
        }
        cfg.trunks.push(Trunk {
            name: "carrier".into(),
            networks: vec!["203.0.113.0/28".parse().unwrap()],
        });
        cfg.trunks.push(Trunk {
            name: "backup".into(),
            networks: vec!["2001:db8::/64".parse().unwrap()],
        });
        CallGuard::new(plan, Classifier::default(), cfg)
    }

    #[test]
    fn trunks_are_found_by_address_including_ipv4_mapped_ipv6() {
        let g = carrier_guard(Some(2));
        let at = |a: &str| g.trunk_at(a.parse().unwrap()).map(str::to_owned);
        assert_eq!(at("203.0.113.5").as_deref(), Some("carrier"));
        assert_eq!(at("::ffff:203.0.113.5").as_deref(), Some("carrier"));
        assert_eq!(at("2001:db8::7").as_deref(), Some("backup"));
        assert_eq!(at("203.0.113.16"), None);
        assert_eq!(at("198.51.100.1"), None);
    }

    #[test]
    fn third_offer_from_a_carrier_capped_at_two_is_refused_until_a_bye() {
        let mut g = carrier_guard(Some(2));
        let t = Timestamp::from_unix_secs(1_775_037_600);
        assert!(g.handle_trunk_offer(t, "in-1", "carrier").is_allowed());
        assert!(g.handle_trunk_offer(t, "in-2", "carrier").is_allowed());
        // A retransmission of an admitted INVITE is admitted, not counted again.
        assert!(g.handle_trunk_offer(t, "in-2", "carrier").is_allowed());
        assert_eq!(g.policy().active_on_trunk("carrier"), 2);
        let v = g.handle_trunk_offer(t, "in-3", "carrier");
        assert_eq!(v.violation().map(|v| v.rule), Some(Rule::TrunkConcurrency));
        // Its retransmission is decided again, and still refused while both calls are up.
        assert!(!g.handle_trunk_offer(t, "in-3", "carrier").is_allowed());
        g.handle_final_response(t, "in-1", 200);
        g.handle_bye(t, "in-1");
        assert!(g.handle_trunk_offer(t, "in-3", "carrier").is_allowed());
        assert_eq!(g.policy().active_on_trunk("carrier"), 2);
    }

    #[test]
    fn an_offer_whose_bye_is_lost_frees_the_trunk_after_the_call_timeout() {
        let mut g = carrier_guard(Some(1));
        let t = Timestamp::from_unix_secs(1_775_037_600);
        assert!(g.handle_trunk_offer(t, "in-1", "carrier").is_allowed());
        assert!(!g.handle_trunk_offer(t, "in-2", "carrier").is_allowed());
        let later = t.plus_millis(4 * 3600 * 1000);
        assert_eq!(g.poll_timeout(), Some(later));
        assert!(g.handle_trunk_offer(later, "in-2", "carrier").is_allowed());
    }

    #[test]
    fn outbound_legs_always_count_and_report_a_full_trunk() {
        let mut g = carrier_guard(Some(2));
        let t = Timestamp::from_unix_secs(1_775_037_600);
        // A proxy relays the extension's INVITE with its Call-ID: the counted call gains the trunk.
        assert!(
            g.handle_invite(t, "out-1", Some("201"), None, "9 0121 234 5678")
                .1
                .is_allowed()
        );
        assert_eq!(g.handle_trunk_leg(t, "out-1", "carrier"), None);
        assert_eq!(g.handle_trunk_leg(t, "out-1", "carrier"), None);
        assert_eq!(g.policy().active_on_trunk("carrier"), 1);
        assert_eq!(g.policy().active_from_extension("201"), 1);
        // A back-to-back agent's own leg has a Call-ID of its own.
        assert_eq!(g.handle_trunk_leg(t, "b2b-2", "carrier"), None);
        let v = g.handle_trunk_leg(t, "b2b-3", "carrier").unwrap();
        assert_eq!(v.rule, Rule::TrunkConcurrency);
        assert_eq!(g.policy().active_on_trunk("carrier"), 3);
        // An inbound offer now finds the trunk over its cap.
        assert!(!g.handle_trunk_offer(t, "in-1", "carrier").is_allowed());
        // The carrier rejects the leg: it never started.
        g.handle_final_response(t, "b2b-3", 503);
        g.handle_bye(t, "out-1");
        assert_eq!(g.policy().active_on_trunk("carrier"), 1);
        assert_eq!(g.policy().active_from_extension("201"), 0);
    }

    #[test]
    fn a_call_forwarded_from_one_trunk_to_another_holds_a_channel_on_each() {
        let mut g = carrier_guard(None);
        let mut cfg = g.policy().config().clone();
        cfg.default_trunk_cap = Some(1);
        g = CallGuard::new(g.plan().clone(), Classifier::default(), cfg);
        let t = Timestamp::from_unix_secs(1_775_037_600);
        assert!(g.handle_trunk_offer(t, "fwd", "carrier").is_allowed());
        assert_eq!(g.handle_trunk_leg(t, "fwd", "backup"), None);
        assert_eq!(g.policy().active_on_trunk("carrier"), 1);
        assert_eq!(g.policy().active_on_trunk("backup"), 1);
        g.handle_bye(t, "fwd");
        assert_eq!(g.policy().active_on_trunk("carrier"), 0);
        assert_eq!(g.policy().active_on_trunk("backup"), 0);
    }

    #[test]
    fn only_the_invites_own_failure_before_the_answer_ends_a_call() {
        let mut g = carrier_guard(Some(1));
        let t = Timestamp::from_unix_secs(1_775_037_600);
        assert!(g.handle_trunk_offer(t, "in-1", "carrier").is_allowed());
        g.note_invite_cseq("in-1", 10);
        // 100rel: the PRACK (CSeq 11) is answered 200 before the INVITE is; then the call fails.
        g.handle_response(t, "in-1", 11, 200);
        g.handle_response(t, "in-1", 11, 481);
        assert_eq!(g.policy().active_on_trunk("carrier"), 1);
        g.handle_response(t, "in-1", 10, 486);
        assert_eq!(g.policy().active_on_trunk("carrier"), 0);
        // Answered, then a re-INVITE refused with 491, then a stray failure with the INVITE's CSeq.
        assert!(g.handle_trunk_offer(t, "in-2", "carrier").is_allowed());
        g.note_invite_cseq("in-2", 1);
        g.note_invite_cseq("in-2", 7);
        g.handle_response(t, "in-2", 1, 200);
        g.handle_response(t, "in-2", 2, 491);
        g.handle_response(t, "in-2", 1, 500);
        assert_eq!(g.policy().active_on_trunk("carrier"), 1);
        g.handle_bye(t, "in-2");
        assert_eq!(g.policy().active_on_trunk("carrier"), 0);
    }

    fn outbound_guard() -> CallGuard {
        let g = carrier_guard(Some(1));
        let mut cfg = g.policy().config().clone();
        cfg.outbound_trunk = Some("carrier".into());
        CallGuard::new(g.plan().clone(), Classifier::default(), cfg)
    }

    #[test]
    fn with_an_outbound_trunk_a_full_trunk_refuses_the_extensions_invite() {
        let mut g = outbound_guard();
        let t = Timestamp::from_unix_secs(1_775_037_600);
        let call = |g: &mut CallGuard, id: &str, ext: &str| {
            g.handle_invite(t, id, Some(ext), Some("carrier"), "9 0121 234 5678")
                .1
        };
        assert!(call(&mut g, "x1", "201").is_allowed());
        assert_eq!(
            call(&mut g, "x2", "202").violation().map(|v| v.rule),
            Some(Rule::TrunkConcurrency)
        );
        // An internal call does not use the trunk.
        assert!(
            g.handle_invite(t, "i1", Some("202"), Some("carrier"), "203")
                .1
                .is_allowed()
        );
        // A proxy relays x1 with its Call-ID: the same call.
        assert_eq!(g.handle_trunk_leg(t, "x1", "carrier"), None);
        assert_eq!(g.policy().active_on_trunk("carrier"), 1);
        g.handle_bye(t, "x1");
        assert_eq!(g.policy().active_on_trunk("carrier"), 0);
    }

    #[test]
    fn a_back_to_back_pbxs_own_leg_is_the_extensions_call_not_another() {
        let mut g = outbound_guard();
        let t = Timestamp::from_unix_secs(1_775_037_600);
        assert!(
            g.handle_invite(t, "x1", Some("201"), Some("carrier"), "9 0121 234 5678")
                .1
                .is_allowed()
        );
        g.note_invite_cseq("x1", 1);
        // The PBX's own INVITE to the carrier, a second later, with its own Call-ID and CSeq.
        let t1 = t.plus_millis(1000);
        assert_eq!(g.handle_trunk_leg(t1, "b2b-1", "carrier"), None);
        g.note_invite_cseq("b2b-1", 101);
        assert_eq!(g.policy().active_on_trunk("carrier"), 1);
        // The carrier's 200 on the leg keeps the call alive; its failure alone ends nothing.
        g.handle_response(t1, "b2b-1", 101, 200);
        g.handle_response(t1, "b2b-1", 101, 486);
        assert_eq!(g.policy().active_on_trunk("carrier"), 1);
        // The carrier hangs up the leg: the call is over, both Call-IDs forgotten.
        g.handle_bye(t1, "b2b-1");
        assert_eq!(g.policy().active_on_trunk("carrier"), 0);
        assert_eq!(g.policy().active_from_extension("201"), 0);
        assert_eq!(g.poll_timeout(), None);
        // A leg long after any extension's call is a call of the PBX's own, counted as such.
        let later = t.plus_millis(60_000);
        assert!(
            g.handle_invite(later, "x2", Some("201"), Some("carrier"), "9 0121 234 5678")
                .1
                .is_allowed()
        );
        let much_later = later.plus_millis(crate::policy::LEG_WINDOW_MS);
        let v = g.handle_trunk_leg(much_later, "b2b-2", "carrier").unwrap();
        assert_eq!(v.rule, Rule::TrunkConcurrency);
        assert_eq!(g.policy().active_on_trunk("carrier"), 2);
    }

    #[test]
    fn a_trunk_without_a_cap_is_not_tracked() {
        let mut g = carrier_guard(None);
        let t = Timestamp::from_unix_secs(1_775_037_600);
        for i in 0..100 {
            assert!(
                g.handle_trunk_offer(t, &format!("in-{i}"), "carrier")
                    .is_allowed()
            );
        }
        assert_eq!(g.handle_trunk_leg(t, "out", "carrier"), None);
        assert_eq!(g.policy().active_on_trunk("carrier"), 0);
        assert_eq!(g.poll_timeout(), None);
    }

    /// The same site with `change` made to its policy, as a reload would bring it.
    fn reconfigured(g: &mut CallGuard, change: impl FnOnce(&mut PolicyConfig)) -> Reconfigured {
        let mut cfg = g.policy().config().clone();
        change(&mut cfg);
        let plan = g.plan().clone();
        g.reconfigure(plan, cfg)
    }

    #[test]
    fn calls_up_before_a_reconfigure_still_count_against_the_cap_after() {
        let mut g = carrier_guard(Some(2));
        let t = Timestamp::from_unix_secs(1_775_037_600);
        assert!(g.handle_trunk_offer(t, "in-1", "carrier").is_allowed());
        assert!(g.handle_trunk_offer(t, "in-2", "carrier").is_allowed());
        // Another rule changes, and the carrier's addresses: the trunk is the same by name.
        let report = reconfigured(&mut g, |p| {
            p.denied_prefixes.push("+4420".into());
            p.trunks[0].networks = vec!["198.51.100.0/28".parse().unwrap()];
        });
        assert_eq!(report.calls, 2);
        assert_eq!(
            report.trunks,
            [KeptTrunk {
                name: "carrier".into(),
                calls: 2,
                cap: 2
            }]
        );
        assert!(report.dropped.is_empty());
        assert!(!report.trunks[0].over_cap());
        assert_eq!(g.policy().active_on_trunk("carrier"), 2);
        let v = g.handle_trunk_offer(t, "in-3", "carrier");
        assert_eq!(v.violation().map(|v| v.rule), Some(Rule::TrunkConcurrency));
        // The kept calls still end as before.
        g.handle_final_response(t, "in-1", 200);
        g.handle_bye(t, "in-1");
        assert!(g.handle_trunk_offer(t, "in-3", "carrier").is_allowed());
        // A retransmission of a call admitted before the reconfigure is the same call.
        assert!(g.handle_trunk_offer(t, "in-2", "carrier").is_allowed());
        assert_eq!(g.policy().active_on_trunk("carrier"), 2);
    }

    #[test]
    fn a_cap_lowered_below_the_calls_in_progress_refuses_the_next_call_and_cuts_none() {
        let mut g = carrier_guard(Some(3));
        let t = Timestamp::from_unix_secs(1_775_037_600);
        for id in ["in-1", "in-2", "in-3"] {
            assert!(g.handle_trunk_offer(t, id, "carrier").is_allowed());
        }
        let report = reconfigured(&mut g, |p| {
            p.trunk_caps.insert("carrier".into(), 1);
        });
        assert_eq!(
            report.trunks,
            [KeptTrunk {
                name: "carrier".into(),
                calls: 3,
                cap: 1
            }]
        );
        assert!(report.trunks[0].over_cap());
        assert_eq!(g.policy().active_on_trunk("carrier"), 3);
        assert!(!g.handle_trunk_offer(t, "in-4", "carrier").is_allowed());
        // The PBX's own call on the full trunk is counted and reported.
        let v = g.handle_trunk_leg(t, "out-1", "carrier").unwrap();
        assert_eq!(v.detail, "trunk carrier has 3 calls in progress (cap 1)");
        for id in ["in-1", "in-2", "out-1"] {
            g.handle_bye(t, id);
            assert!(!g.handle_trunk_offer(t, "in-4", "carrier").is_allowed());
        }
        g.handle_bye(t, "in-3");
        assert!(g.handle_trunk_offer(t, "in-4", "carrier").is_allowed());
        assert_eq!(g.policy().active_on_trunk("carrier"), 1);
    }

    #[test]
    fn a_removed_trunks_calls_stay_tracked_until_they_end_but_count_against_nothing() {
        let mut g = carrier_guard(None);
        let mut cfg = g.policy().config().clone();
        cfg.default_trunk_cap = Some(1);
        cfg.outbound_trunk = Some("backup".into());
        g = CallGuard::new(g.plan().clone(), Classifier::default(), cfg);
        let t = Timestamp::from_unix_secs(1_775_037_600);
        assert!(g.handle_trunk_offer(t, "in-1", "carrier").is_allowed());
        assert!(
            g.handle_invite(t, "x1", Some("201"), Some("backup"), "9 0121 234 5678")
                .1
                .is_allowed()
        );
        // `backup` goes, and with it the outbound trunk; the default cap would still cover the
        // name, but no address leads to it any more.
        let report = reconfigured(&mut g, |p| {
            p.trunks.retain(|t| t.name != "backup");
            p.outbound_trunk = None;
            p.extension_cap = Some(1);
        });
        assert_eq!(report.calls, 2);
        assert_eq!(report.dropped, [("backup".to_owned(), 1)]);
        assert_eq!(report.trunks.len(), 1);
        assert_eq!(g.policy().active_on_trunk("backup"), 0);
        // The extension's call still counts for the extension, and still ends on its BYE.
        assert_eq!(g.policy().active_from_extension("201"), 1);
        let (_, v) = g.handle_invite(t, "x2", Some("201"), None, "9 0121 234 5679");
        assert_eq!(
            v.violation().map(|v| v.rule),
            Some(Rule::ExtensionConcurrency)
        );
        g.handle_bye(t, "x1");
        assert_eq!(g.policy().active_from_extension("201"), 0);
        // Named again, the trunk starts from its new calls only.
        let report = reconfigured(&mut g, |p| {
            p.trunks.push(Trunk {
                name: "backup".into(),
                networks: vec!["2001:db8::/64".parse().unwrap()],
            });
        });
        assert!(report.dropped.is_empty());
        assert_eq!(g.policy().active_on_trunk("backup"), 0);
        assert_eq!(g.policy().active_on_trunk("carrier"), 1);
    }

    #[test]
    fn a_trunk_left_without_a_cap_stops_counting_its_calls() {
        let mut g = carrier_guard(Some(1));
        let t = Timestamp::from_unix_secs(1_775_037_600);
        assert!(g.handle_trunk_offer(t, "in-1", "carrier").is_allowed());
        let report = reconfigured(&mut g, |p| {
            p.trunk_caps.clear();
        });
        assert_eq!(report.dropped, [("carrier".to_owned(), 1)]);
        assert!(report.trunks.is_empty());
        assert_eq!(g.policy().active_on_trunk("carrier"), 0);
        assert!(g.handle_trunk_offer(t, "in-2", "carrier").is_allowed());
        // The call is still tracked until it ends.
        assert!(g.poll_timeout().is_some());
        g.handle_bye(t, "in-1");
        assert_eq!(g.poll_timeout(), None);
    }

    #[test]
    fn velocity_windows_and_extension_counts_survive_a_reconfigure() {
        let plan = DialPlan::new(Country::new("GB").unwrap()).with_outside_line("9");
        let mut cfg = PolicyConfig::default();
        cfg.velocity.intl_per_minute = Some(3);
        cfg.extension_cap = Some(5);
        let mut g = CallGuard::new(plan, Classifier::default(), cfg);
        let t = Timestamp::from_unix_secs(1_775_037_600);
        for (i, id) in ["f1", "f2"].into_iter().enumerate() {
            let dialled = format!("9 00 33 1 23 45 67 8{i}");
            assert!(
                g.handle_invite(t, id, Some("201"), None, &dialled)
                    .1
                    .is_allowed()
            );
        }
        // Another rule changes: the two calls of this minute still count.
        let report = reconfigured(&mut g, |p| p.denied_prefixes.push("+4420".into()));
        assert_eq!(report.calls, 2);
        assert_eq!(g.policy().active_from_extension("201"), 2);
        let t1 = t.plus_millis(10_000);
        assert!(
            g.handle_invite(t1, "f3", Some("201"), None, "9 00 33 1 23 45 67 82")
                .1
                .is_allowed()
        );
        let (_, v) = g.handle_invite(t1, "f4", Some("201"), None, "9 00 33 1 23 45 67 83");
        assert_eq!(v.violation().map(|v| v.rule), Some(Rule::IntlPerMinute));
        // A lowered limit reads the same window; so does a lowered extension cap.
        reconfigured(&mut g, |p| {
            p.velocity.intl_per_minute = Some(1);
            p.extension_cap = Some(3);
        });
        let t2 = t.plus_millis(59_000);
        let (_, v) = g.handle_invite(t2, "f5", Some("202"), None, "9 00 33 1 23 45 67 84");
        assert!(v.is_allowed(), "another extension's window is its own");
        let (_, v) = g.handle_invite(t2, "f6", Some("201"), None, "9 0121 234 5678");
        assert_eq!(
            v.violation().map(|v| v.rule),
            Some(Rule::ExtensionConcurrency)
        );
        // Once the minute has passed, the window is empty again.
        let t3 = t.plus_millis(70_000);
        g.handle_bye(t3, "f1");
        let (_, v) = g.handle_invite(t3, "f7", Some("201"), None, "9 00 33 1 23 45 67 85");
        assert!(v.is_allowed());
    }

    #[test]
    fn a_new_call_timeout_counts_from_each_calls_last_sign_of_life() {
        let mut g = carrier_guard(Some(2));
        let t = Timestamp::from_unix_secs(1_775_037_600);
        assert!(g.handle_trunk_offer(t, "in-1", "carrier").is_allowed());
        let t1 = t.plus_millis(600_000);
        g.handle_in_dialog(t1, "in-1");
        reconfigured(&mut g, |p| p.call_timeout_secs = 3600);
        assert_eq!(g.poll_timeout(), Some(t1.plus_millis(3_600_000)));
        g.handle_timeout(t1.plus_millis(3_600_000));
        assert_eq!(g.policy().active_on_trunk("carrier"), 0);
    }

    #[test]
    fn an_extensions_call_awaiting_its_leg_keeps_waiting_across_a_reconfigure() {
        let mut g = outbound_guard();
        let t = Timestamp::from_unix_secs(1_775_037_600);
        assert!(
            g.handle_invite(t, "x1", Some("201"), Some("carrier"), "9 0121 234 5678")
                .1
                .is_allowed()
        );
        reconfigured(&mut g, |p| p.denied_prefixes.push("+4420".into()));
        assert_eq!(g.handle_trunk_leg(t, "b2b-1", "carrier"), None);
        assert_eq!(g.policy().active_on_trunk("carrier"), 1);
        g.handle_bye(t, "b2b-1");
        assert_eq!(g.policy().active_on_trunk("carrier"), 0);
        assert_eq!(g.policy().active_from_extension("201"), 0);
    }
}
