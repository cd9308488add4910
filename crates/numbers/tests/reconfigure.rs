//! A call policy reconfigured while calls are up keeps counting them: checked against a model of the trunk
//! counts over long random runs of offers, legs, BYEs and reconfigurations that change caps and add, remove
//! and rename trunks.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};

use pbxguard_numbers::Timestamp;
use pbxguard_numbers::policy::{CallPolicy, PolicyConfig, Trunk};

const TRUNKS: [&str; 3] = ["a", "b", "c"];

/// xorshift64*: deterministic, so a failure names its seed and step.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A configuration naming some of the trunks (some in `[trunks]`, some only in `trunk_caps`), with caps
/// of 0-3 or none, and sometimes a default cap.
fn random_config(rng: &mut Rng) -> PolicyConfig {
    let mut cfg = PolicyConfig::default();
    for name in TRUNKS {
        match rng.below(4) {
            0 => {}
            1 => cfg.trunks.push(Trunk {
                name: name.into(),
                networks: Vec::new(),
            }),
            _ => {
                cfg.trunk_caps
                    .insert(name.into(), u32::try_from(rng.below(4)).unwrap());
                if rng.below(2) == 0 {
                    cfg.trunks.push(Trunk {
                        name: name.into(),
                        networks: Vec::new(),
                    });
                }
            }
        }
    }
    if rng.below(3) == 0 {
        cfg.default_trunk_cap = Some(u32::try_from(rng.below(3)).unwrap() + 1);
    }
    cfg
}

fn names(cfg: &PolicyConfig, trunk: &str) -> bool {
    cfg.trunk_caps.contains_key(trunk) || cfg.trunks.iter().any(|t| t.name == trunk)
}

/// Calls in progress, each with the trunks it counts against.
#[derive(Default)]
struct Model {
    calls: BTreeMap<String, BTreeSet<&'static str>>,
}

impl Model {
    fn on(&self, trunk: &str) -> u32 {
        u32::try_from(self.calls.values().filter(|t| t.contains(trunk)).count()).unwrap()
    }
}

fn run(seed: u64) {
    let mut rng = Rng(seed);
    let mut cfg = random_config(&mut rng);
    let mut policy = CallPolicy::new(cfg.clone());
    let mut model = Model::default();
    let mut now = Timestamp::from_unix_secs(1_775_037_600);
    for step in 0..3000 {
        now = now.plus_millis(i64::try_from(rng.below(1000)).unwrap());
        let id = format!("call-{}", rng.below(16));
        let trunk = TRUNKS[usize::try_from(rng.below(3)).unwrap()];
        let cap = cfg.trunk_cap(trunk);
        let what = format!("seed {seed} step {step}");
        match rng.below(10) {
            0..=3 => {
                let verdict = policy.handle_trunk_offer(now, &id, trunk);
                let admitted = if model.calls.contains_key(&id) {
                    true
                } else if let Some(cap) = cap {
                    let room = model.on(trunk) < cap;
                    if room {
                        model.calls.insert(id.clone(), BTreeSet::from([trunk]));
                    }
                    room
                } else {
                    true
                };
                assert_eq!(
                    verdict.is_allowed(),
                    admitted,
                    "{what}: offer {id} on {trunk}"
                );
            }
            4..=5 => {
                let over = policy.handle_trunk_leg(now, &id, trunk);
                let expected_over = match cap {
                    None => false,
                    Some(cap) => {
                        let before = model.on(trunk);
                        let call = model.calls.entry(id.clone()).or_default();
                        call.insert(trunk) && before >= cap
                    }
                };
                assert_eq!(over.is_some(), expected_over, "{what}: leg {id} on {trunk}");
            }
            6..=8 => {
                policy.handle_call_end(now, &id);
                model.calls.remove(&id);
            }
            _ => {
                let new = random_config(&mut rng);
                let report = policy.reconfigure(new.clone());
                let mut dropped = BTreeMap::new();
                for t in TRUNKS {
                    let gone = (names(&cfg, t) && !names(&new, t))
                        || (cfg.trunk_cap(t).is_some() && new.trunk_cap(t).is_none());
                    if gone && model.on(t) > 0 {
                        dropped.insert(t.to_owned(), model.on(t));
                        for call in model.calls.values_mut() {
                            call.remove(t);
                        }
                    }
                }
                assert_eq!(
                    report.dropped.into_iter().collect::<BTreeMap<_, _>>(),
                    dropped,
                    "{what}: dropped"
                );
                assert_eq!(report.calls, model.calls.len(), "{what}: calls kept");
                for kept in &report.trunks {
                    assert_eq!(Some(kept.cap), new.trunk_cap(&kept.name), "{what}");
                    assert_eq!(kept.calls, model.on(&kept.name), "{what}");
                }
                cfg = new;
            }
        }
        for t in TRUNKS {
            assert_eq!(
                policy.active_on_trunk(t),
                model.on(t),
                "{what}: calls on {t}"
            );
        }
    }
    // Every call ended: nothing is left counted.
    for id in model.calls.keys() {
        policy.handle_call_end(now, id);
    }
    for t in TRUNKS {
        assert_eq!(
            policy.active_on_trunk(t),
            0,
            "seed {seed}: {t} after the end"
        );
    }
    assert_eq!(
        policy.poll_timeout(),
        None,
        "seed {seed}: a call left tracked"
    );
}

#[test]
fn trunk_counts_match_the_calls_in_progress_across_reconfigurations() {
    for seed in 1..=40_u64 {
        run(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    }
}
