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
use crate::policy::{CallAttempt, CallPolicy, PolicyConfig, Verdict};

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

    /// A final response to the INVITE: 2xx means the call is up (its lost-BYE timeout restarts),
    /// 3xx-6xx that it never started.
    pub fn handle_final_response(&mut self, now: Timestamp, call_id: &str, status: u16) {
        if (200..300).contains(&status) {
            self.policy.handle_call_refresh(now, call_id);
        } else if status >= 300 {
            self.policy.handle_call_end(now, call_id);
        }
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
    use crate::policy::Rule;

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
}
