//! A policy reuses the entities of principals and documents it decided about recently, the
//! reasons it filled in, and (when asked to) whole answers to questions asked again. A reuse
//! keyed wrongly would answer for another principal or document: these tests decide, through
//! one warm policy, about principals and documents that differ in a single field,
//! interleaved, and check each answer against a policy that has seen nothing but that one
//! principal and document.

use policies::{Action, Context, Decision, Document, Level, Person, Policy, Principal, Status};

fn policy() -> Policy {
    Policy::load(&policies::default_dir()).expect("the shipped policy loads")
}

fn person() -> Person {
    Person {
        id: "R".into(),
        agency: "dinkes".into(),
        clearance: Level::Rahasia,
        roles: vec!["pejabat".into()],
        status: Status::Active,
        compartments: vec!["kesehatan".into()],
    }
}

fn document() -> Document {
    Document {
        id: "d".into(),
        classification: Level::Rahasia,
        originator: "O".into(),
        recipients: vec!["R".into()],
        copies: vec![],
        grants: vec![],
        agency: "dinkes".into(),
        agencies: vec!["dinkes".into()],
        compartments: vec!["kesehatan".into()],
    }
}

/// Principals with the same id, each differing from the first in one field.
fn principals() -> Vec<Principal> {
    let base = person();
    let mut v = vec![
        Principal::Official(base.clone()),
        Principal::Application(base.clone()),
    ];
    let mut p = base.clone();
    p.clearance = Level::Terbatas;
    v.push(Principal::Official(p));
    let mut p = base.clone();
    p.status = Status::Suspended;
    v.push(Principal::Official(p));
    let mut p = base.clone();
    p.status = Status::Revoked;
    v.push(Principal::Official(p));
    let mut p = base.clone();
    p.roles = vec!["auditor".into()];
    v.push(Principal::Official(p));
    let mut p = base.clone();
    p.compartments = vec![];
    v.push(Principal::Official(p));
    let mut p = base;
    p.agency = "bappeda".into();
    v.push(Principal::Official(p));
    v
}

/// Documents with the same id, each differing from the first in one field.
fn documents() -> Vec<Document> {
    let base = document();
    let mut v = vec![base.clone()];
    let mut d = base.clone();
    d.classification = Level::SangatRahasia;
    v.push(d);
    let mut d = base.clone();
    d.recipients = vec!["K".into()];
    v.push(d);
    let mut d = base.clone();
    d.originator = "R".into();
    v.push(d);
    let mut d = base.clone();
    d.compartments = vec!["bencana".into()];
    v.push(d);
    let mut d = base;
    d.classification = Level::Biasa;
    d.recipients = vec![];
    v.push(d);
    v
}

const ACTIONS: [Action; 4] = [Action::Read, Action::Print, Action::Sign, Action::Send];

#[test]
fn a_warm_policy_answers_each_principal_and_document_as_a_fresh_one_does() {
    let ctx = Context {
        step_up: true,
        ..Context::default()
    };
    let warm = policy();
    let (principals, documents) = (principals(), documents());
    let mut expected = Vec::new();
    for p in &principals {
        for d in &documents {
            // A policy that decides about this principal and document only.
            let fresh = policy();
            let per_action: Vec<Decision> = ACTIONS
                .iter()
                .map(|a| fresh.decide(p, *a, d, &ctx).expect("fresh decision"))
                .collect();
            expected.push(per_action);
        }
    }
    // Twice over, interleaving principals and documents, unprepared and prepared: the second
    // round finds every entity already made (or evicted and made again).
    for round in 0..2 {
        for (i, p) in principals.iter().enumerate() {
            for (j, d) in documents.iter().enumerate() {
                let want = &expected[i * documents.len() + j];
                for (k, a) in ACTIONS.iter().enumerate() {
                    let got = if (i + j + round) % 2 == 0 {
                        warm.decide(p, *a, d, &ctx).expect("decide")
                    } else {
                        let pp = warm.prepare_principal(p).expect("principal");
                        let pd = warm.prepare_document(d).expect("document");
                        warm.decide_prepared(&pp, *a, &pd, &ctx).expect("decide")
                    };
                    assert_eq!(got, want[k], "round {round}: {p:?} {a:?} {d:?}");
                }
            }
        }
    }
    // The single-field differences do change decisions: otherwise this test proves nothing.
    let reads: Vec<bool> = expected.iter().map(|v| v[0].allowed).collect();
    assert!(reads.iter().any(|a| *a) && reads.iter().any(|a| !*a));
}

#[test]
fn one_field_apart_decides_differently_through_the_reused_path() {
    let p = policy();
    let ctx = Context {
        step_up: true,
        ..Context::default()
    };
    let reader = Principal::Official(person());
    let mut lowered = person();
    lowered.clearance = Level::Terbatas;
    let lowered = Principal::Official(lowered);
    let doc = document();
    let mut other = document();
    other.recipients = vec!["K".into()];
    for _ in 0..3 {
        let d = p.decide(&reader, Action::Read, &doc, &ctx).expect("decide");
        assert!(d.allowed, "{}", d.reason);
        let d = p
            .decide(&lowered, Action::Read, &doc, &ctx)
            .expect("decide");
        assert!(!d.allowed);
        assert_eq!(d.policies, ["no-read-up"]);
        assert_eq!(d.reason, "denied: RAHASIA exceeds clearance TERBATAS");
        let d = p
            .decide(&reader, Action::Read, &other, &ctx)
            .expect("decide");
        assert!(!d.allowed);
        assert!(d.policies.is_empty());
        assert_eq!(d.reason, "denied: no policy allows this read action");
    }
}

#[test]
fn reasons_are_filled_for_each_level_and_status() {
    let p = policy();
    let unstepped = Context::default();
    let reader = Principal::Official(person());
    let mut top = document();
    top.classification = Level::SangatRahasia;
    let mut cleared = person();
    cleared.clearance = Level::SangatRahasia;
    let cleared = Principal::Official(cleared);
    let rahasia = p
        .decide(&reader, Action::Read, &document(), &unstepped)
        .expect("decide");
    let sangat = p
        .decide(&cleared, Action::Read, &top, &unstepped)
        .expect("decide");
    assert_eq!(rahasia.policies, ["step-up-to-open"]);
    assert_eq!(sangat.policies, ["step-up-to-open"]);
    assert!(
        rahasia.reason.contains("a RAHASIA document"),
        "{}",
        rahasia.reason
    );
    assert!(
        sangat.reason.contains("a SANGAT RAHASIA document"),
        "{}",
        sangat.reason
    );
    for (status, word) in [
        (Status::Suspended, "ditangguhkan (suspended)"),
        (Status::Revoked, "dicabut (revoked)"),
    ] {
        let mut who = person();
        who.status = status;
        let d = p
            .decide(
                &Principal::Official(who),
                Action::Read,
                &document(),
                &unstepped,
            )
            .expect("decide");
        assert_eq!(d.policies[0], "inactive-principal");
        assert_eq!(d.reason, format!("denied: a {word} account may do nothing"));
    }
}

#[test]
fn a_prepared_document_outlives_the_reuse_of_others() {
    let p = policy();
    let ctx = Context {
        step_up: true,
        ..Context::default()
    };
    let reader = p
        .prepare_principal(&Principal::Official(person()))
        .expect("principal");
    let kept = p.prepare_document(&document()).expect("document");
    // Many other documents since: whatever was kept for `kept` has been replaced.
    for n in 0..64 {
        let mut d = document();
        d.id = format!("other-{n}");
        d.recipients = vec![];
        let d = p.prepare_document(&d).expect("document");
        assert!(
            !p.decide_prepared(&reader, Action::Read, &d, &ctx)
                .expect("decide")
                .allowed
        );
    }
    assert!(
        p.decide_prepared(&reader, Action::Read, &kept, &ctx)
            .expect("decide")
            .allowed
    );
}

/// Contexts each differing from the first in one field.
fn contexts() -> Vec<Context> {
    let base = Context {
        step_up: true,
        ..Context::default()
    };
    let mut v = vec![base.clone()];
    let mut c = base.clone();
    c.step_up = false;
    v.push(c);
    let mut c = base.clone();
    c.approvers = vec!["A".into(), "B".into()];
    v.push(c);
    let mut c = base.clone();
    c.new_classification = Some(Level::Biasa);
    v.push(c);
    let mut c = base.clone();
    c.reason = Some("declassified".into());
    v.push(c);
    let mut c = base;
    c.hour = Some(23);
    v.push(c);
    v
}

/// The shipped policy with one time-bound refusal added, so that the hour changes answers.
fn policy_with_night(dir: &std::path::Path) -> Policy {
    for f in ["sandi.cedarschema", "default.cedar", "handling.toml"] {
        std::fs::copy(policies::default_dir().join(f), dir.join(f)).expect("copy");
    }
    let mut text = std::fs::read_to_string(dir.join("default.cedar")).expect("read");
    text.push_str(
        "\n@id(\"not-at-night\")\n@order(\"99\")\n@alasan(\"ditolak: tidak pada malam hari\")\n\
         @reason(\"denied: not at night\")\nforbid (principal, action, resource)\n\
         when { context.hour >= 22 };\n",
    );
    std::fs::write(dir.join("default.cedar"), text).expect("write");
    Policy::load(dir).expect("the policy with a night rule loads")
}

#[test]
fn a_remembered_answer_is_given_only_to_the_same_question() {
    // Every principal, document and context differing from the first in one field, asked
    // for two actions. In groups of 16 questions (fewer than the 32 remembered), each group
    // three times in different orders: every round after the first is answered from memory,
    // and must be what a fresh policy answers.
    let (principals, documents, contexts) = (principals(), documents(), contexts());
    let mut questions: Vec<(Principal, Action, Document, Context)> = Vec::new();
    for a in [Action::Read, Action::Reclassify] {
        for p in &principals {
            questions.push((p.clone(), a, documents[0].clone(), contexts[0].clone()));
        }
        for d in &documents[1..] {
            questions.push((principals[0].clone(), a, d.clone(), contexts[0].clone()));
        }
        for c in &contexts[1..] {
            questions.push((principals[0].clone(), a, documents[0].clone(), c.clone()));
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let warm = policy_with_night(dir.path());
    let mut expected = Vec::new();
    for group in questions.chunks(16) {
        let want: Vec<Decision> = group
            .iter()
            .map(|(p, a, d, c)| {
                policy_with_night(dir.path())
                    .decide(p, *a, d, c)
                    .expect("fresh decision")
            })
            .collect();
        for round in 0..3 {
            // In another order each round, so that neighbours differ every time.
            let mut order: Vec<usize> = (0..group.len()).collect();
            if round == 1 {
                order.reverse();
            } else if round == 2 {
                order.sort_by_key(|i| (i % 3, *i));
            }
            for i in order {
                let (p, a, d, c) = &group[i];
                let got = warm.decide_remembered(p, *a, d, c).expect("decide");
                assert_eq!(got, want[i], "round {round}: {p:?} {a:?} {d:?} {c:?}");
            }
        }
        expected.extend(want);
    }
    // The one-field differences change answers, or this proves nothing.
    let allowed: Vec<bool> = expected.iter().map(|d| d.allowed).collect();
    assert!(allowed.iter().any(|a| *a) && allowed.iter().any(|a| !*a));
    let reasons: std::collections::HashSet<&str> =
        expected.iter().map(|d| d.reason.as_str()).collect();
    assert!(reasons.len() >= 6, "{reasons:?}");
    assert!(reasons.contains("denied: not at night"), "{reasons:?}");
}
