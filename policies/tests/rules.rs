//! The rules the matrix does not span: nodes, reclassification, compartments, grants, roles,
//! applications; property tests for the invariants; broken policy files.

use std::path::Path;

use policies::{
    Action, Context, Document, Error, Level, Person, Policy, PolicyStore, Principal, Status,
};
use proptest::prelude::*;

fn policy() -> Policy {
    Policy::load(&policies::default_dir()).expect("the shipped policy loads")
}

fn person(id: &str, clearance: Level) -> Person {
    Person {
        id: id.into(),
        agency: "dinkes".into(),
        clearance,
        roles: vec!["pejabat".into()],
        status: Status::Active,
        compartments: vec![],
    }
}

fn doc(classification: Level) -> Document {
    Document {
        id: "d".into(),
        classification,
        originator: "O".into(),
        recipients: vec!["R".into()],
        copies: vec![],
        grants: vec![],
        agency: "dinkes".into(),
        agencies: vec!["dinkes".into()],
        compartments: vec![],
    }
}

fn node(accreditation: Level) -> Principal {
    Principal::Node {
        id: "node-dinkes".into(),
        accreditation,
        status: Status::Active,
    }
}

#[test]
fn a_node_receives_only_up_to_its_accreditation() {
    let p = policy();
    for acc in Level::ALL {
        for cls in Level::ALL {
            let d = p
                .decide(&node(acc), Action::Receive, &doc(cls), &Context::default())
                .expect("decide");
            assert_eq!(d.allowed, acc >= cls, "node {acc} receiving {cls}");
            if !d.allowed {
                assert_eq!(d.policies, ["node-accreditation"]);
                assert!(d.alasan.contains("tidak boleh menerima"), "{}", d.alasan);
            }
        }
        // A node does nothing else.
        let d = p
            .decide(
                &node(acc),
                Action::Read,
                &doc(Level::Biasa),
                &Context::default(),
            )
            .expect("decide");
        assert!(!d.allowed);
    }
    let suspended = Principal::Node {
        id: "n".into(),
        accreditation: Level::SangatRahasia,
        status: Status::Suspended,
    };
    assert!(
        !p.decide(
            &suspended,
            Action::Receive,
            &doc(Level::Biasa),
            &Context::default()
        )
        .expect("decide")
        .allowed
    );
}

#[test]
fn lowering_a_classification_needs_the_originator_and_a_written_reason() {
    let p = policy();
    let originator = Principal::Official(person("O", Level::Rahasia));
    let lower = Context {
        new_classification: Some(Level::Biasa),
        ..Context::default()
    };
    let d = p
        .decide(
            &originator,
            Action::Reclassify,
            &doc(Level::Rahasia),
            &lower,
        )
        .expect("decide");
    assert!(!d.allowed);
    assert_eq!(d.policies, ["lowering-needs-reason"]);
    assert_eq!(
        d.alasan,
        "ditolak: menurunkan klasifikasi memerlukan alasan tertulis"
    );
    let blank = Context {
        reason: Some("   ".into()),
        ..lower.clone()
    };
    assert!(
        !p.decide(
            &originator,
            Action::Reclassify,
            &doc(Level::Rahasia),
            &blank
        )
        .expect("decide")
        .allowed
    );
    let reasoned = Context {
        reason: Some("masa kerahasiaan berakhir (uji konsekuensi 2026)".into()),
        ..lower
    };
    assert!(
        p.decide(
            &originator,
            Action::Reclassify,
            &doc(Level::Rahasia),
            &reasoned
        )
        .expect("decide")
        .allowed
    );
    // Raising needs no reason; a recipient may not reclassify at all.
    let raise = Context {
        new_classification: Some(Level::SangatRahasia),
        ..Context::default()
    };
    let senior = Principal::Official(person("O", Level::SangatRahasia));
    assert!(
        p.decide(&senior, Action::Reclassify, &doc(Level::Rahasia), &raise)
            .expect("decide")
            .allowed
    );
    let recipient = Principal::Official(person("R", Level::SangatRahasia));
    assert!(
        !p.decide(
            &recipient,
            Action::Reclassify,
            &doc(Level::Rahasia),
            &reasoned
        )
        .expect("decide")
        .allowed
    );
}

#[test]
fn compartments_and_grants_decide_need_to_know() {
    let p = policy();
    let ctx = Context {
        step_up: true,
        ..Context::default()
    };
    let mut d = doc(Level::Rahasia);
    d.compartments = vec!["kesehatan".into()];
    let mut reader = person("R", Level::Rahasia);
    let out = p
        .decide(&Principal::Official(reader.clone()), Action::Read, &d, &ctx)
        .expect("decide");
    assert!(!out.allowed);
    assert_eq!(out.policies, ["compartments"]);
    reader.compartments = vec!["kesehatan".into(), "bencana".into()];
    assert!(
        p.decide(&Principal::Official(reader), Action::Read, &d, &ctx)
            .expect("decide")
            .allowed
    );
    // An explicit grant gives need-to-know to someone not addressed.
    let outsider = Principal::Official(person("G", Level::Rahasia));
    let plain = doc(Level::Rahasia);
    assert!(
        !p.decide(&outsider, Action::Read, &plain, &ctx)
            .expect("decide")
            .allowed
    );
    let mut granted = plain;
    granted.grants = vec!["G".into()];
    assert!(
        p.decide(&outsider, Action::Read, &granted, &ctx)
            .expect("decide")
            .allowed
    );
}

#[test]
fn the_originator_is_no_second_approver() {
    let p = policy();
    let originator = Principal::Official(person("O", Level::SangatRahasia));
    let sr = doc(Level::SangatRahasia);
    let self_approved = Context {
        approvers: vec!["O".into(), "O".into()],
        ..Context::default()
    };
    let d = p
        .decide(&originator, Action::Send, &sr, &self_approved)
        .expect("decide");
    assert!(!d.allowed);
    assert_eq!(d.policies, ["dual-control"]);
    assert_eq!(
        d.reason,
        "denied: a SANGAT RAHASIA letter is sent only after a second official approves"
    );
    let approved = Context {
        approvers: vec!["O".into(), "K".into()],
        ..Context::default()
    };
    assert!(
        p.decide(&originator, Action::Send, &sr, &approved)
            .expect("decide")
            .allowed
    );
}

#[test]
fn roles_and_applications() {
    let p = policy();
    let mut officer = person("P", Level::Rahasia);
    officer.roles = vec!["pengelola_sandi".into()];
    let d = p
        .decide(
            &Principal::Official(officer),
            Action::Destroy,
            &doc(Level::Rahasia),
            &Context::default(),
        )
        .expect("decide");
    assert!(d.allowed, "{}", d.reason);
    assert_eq!(d.policies, ["pengelola-sandi-destroys"]);
    let mut auditor = person("A", Level::SangatRahasia);
    auditor.roles = vec!["auditor".into()];
    let auditor = Principal::Official(auditor);
    assert!(
        p.decide(
            &auditor,
            Action::AuditRead,
            &doc(Level::SangatRahasia),
            &Context::default()
        )
        .expect("decide")
        .allowed
    );
    let d = p
        .decide(
            &auditor,
            Action::Read,
            &doc(Level::Biasa),
            &Context {
                step_up: true,
                ..Context::default()
            },
        )
        .expect("decide");
    assert!(!d.allowed);
    assert_eq!(d.policies, ["auditors-do-not-read-documents"]);
    // An application signs what it originates, with the PIN step-up of its API call.
    let app = Principal::Application(person("e-office", Level::Terbatas));
    let mut own = doc(Level::Terbatas);
    own.originator = "e-office".into();
    let step = Context {
        step_up: true,
        ..Context::default()
    };
    assert!(
        p.decide(&app, Action::Sign, &own, &step)
            .expect("decide")
            .allowed
    );
    assert!(
        !p.decide(&app, Action::Sign, &doc(Level::Terbatas), &step)
            .expect("decide")
            .allowed
    );
    assert!(
        !p.decide(&app, Action::Read, &doc(Level::Biasa), &step)
            .expect("decide")
            .allowed
    );
}

fn level() -> impl Strategy<Value = Level> {
    prop::sample::select(Level::ALL.to_vec())
}

fn action() -> impl Strategy<Value = Action> {
    prop::sample::select(Action::ALL.to_vec())
}

fn names() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop::sample::select(vec!["O".to_string(), "R".into(), "X".into(), "K".into()]),
        0..3,
    )
}

prop_compose! {
    fn any_person()(id in prop::sample::select(vec!["O", "R", "X", "K"]), clearance in level(),
                    agency in prop::sample::select(vec!["dinkes", "bappeda"]),
                    roles in prop::collection::vec(prop::sample::select(vec!["pejabat", "sekretaris", "pengelola_sandi", "auditor"]), 0..3),
                    status in prop::sample::select(vec![Status::Active, Status::Suspended, Status::Revoked]),
                    compartments in prop::collection::vec(prop::sample::select(vec!["a", "b"]), 0..2)) -> Person {
        Person { id: id.into(), agency: agency.into(), clearance, roles: roles.into_iter().map(String::from).collect(),
                 status, compartments: compartments.into_iter().map(String::from).collect() }
    }
}

prop_compose! {
    fn any_doc()(classification in level(), originator in prop::sample::select(vec!["O", "R", "X"]),
                 recipients in names(), copies in names(), grants in names(),
                 agencies in prop::collection::vec(prop::sample::select(vec!["dinkes".to_string(), "bappeda".into()]), 0..2),
                 compartments in prop::collection::vec(prop::sample::select(vec!["a".to_string(), "b".into()]), 0..2)) -> Document {
        Document { id: "d".into(), classification, originator: originator.into(), recipients, copies, grants,
                   agency: "dinkes".into(), agencies, compartments }
    }
}

prop_compose! {
    fn any_context()(step_up in any::<bool>(), approvers in names(), lower in any::<bool>(), reason in any::<bool>()) -> Context {
        Context { step_up, approvers, new_classification: if lower { Some(Level::Biasa) } else { None },
                  reason: if reason { Some("alasan".into()) } else { None }, hour: None }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn nobody_below_a_classification_reads_exports_or_prints_it(
        mut person in any_person(), mut d in any_doc(), ctx in any_context(),
        act in prop::sample::select(vec![Action::Read, Action::Export, Action::Print]),
        app in any::<bool>(), below in 1..=3i64, top in 1..=3usize,
    ) {
        // A document above biasa, and a clearance `below` levels under it (at least biasa).
        d.classification = Level::ALL[top];
        person.clearance = Level::ALL[usize::try_from((i64::try_from(top).unwrap_or(0) - below).max(0)).unwrap_or(0)];
        prop_assert!(person.clearance < d.classification);
        let principal = if app { Principal::Application(person) } else { Principal::Official(person) };
        let out = POLICY.with(|p| p.decide(&principal, act, &d, &ctx)).expect("decide");
        prop_assert!(!out.allowed, "{principal:?} {act:?} {d:?}: {}", out.reason);
    }

    #[test]
    fn a_suspended_or_revoked_principal_is_never_allowed_anything(
        mut person in any_person(), d in any_doc(), ctx in any_context(), act in action(),
        revoked in any::<bool>(),
    ) {
        person.status = if revoked { Status::Revoked } else { Status::Suspended };
        let out = POLICY.with(|p| p.decide(&Principal::Official(person), act, &d, &ctx)).expect("decide");
        prop_assert!(!out.allowed);
        prop_assert!(out.policies.contains(&"inactive-principal".to_string()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    // The shared policy has cached contexts from earlier cases and decides over prepared
    // entities; a freshly loaded policy has built nothing yet. They must always agree.
    #[test]
    fn cached_and_prepared_decisions_equal_fresh_ones(
        person in any_person(), d in any_doc(), ctx in any_context(), act in action(),
        hour in prop::option::of(0u8..30),
    ) {
        let ctx = Context { hour, ..ctx };
        let principal = Principal::Official(person);
        let fresh = policy().decide(&principal, act, &d, &ctx).expect("fresh");
        let warm = POLICY.with(|p| {
            let pp = p.prepare_principal(&principal).expect("principal");
            let pd = p.prepare_document(&d).expect("document");
            p.decide_prepared(&pp, act, &pd, &ctx)
        }).expect("warm");
        prop_assert_eq!(fresh, warm);
    }
}

thread_local! {
    static POLICY: Policy = policy();
}

/// Copies the shipped policy to a temporary directory, with one file changed.
fn broken(file: &str, edit: impl FnOnce(String) -> String) -> (tempfile::TempDir, Error) {
    let dir = tempfile::tempdir().expect("tempdir");
    for f in ["sandi.cedarschema", "default.cedar", "handling.toml"] {
        std::fs::copy(policies::default_dir().join(f), dir.path().join(f)).expect("copy");
    }
    let path = dir.path().join(file);
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, edit(text)).expect("write");
    let err = Policy::load(dir.path()).expect_err("a broken policy must not load");
    (dir, err)
}

fn names_file_and_line(err: &Error, file: &str, line: usize) {
    let text = err.to_string();
    assert!(
        text.contains(&format!("{file}:{line}:")),
        "expected {file}:{line} in: {text}"
    );
}

fn line_containing(file: &str, needle: &str) -> usize {
    let text = std::fs::read_to_string(policies::default_dir().join(file)).expect("read");
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle")
        + 1
}

#[test]
fn a_cedar_syntax_error_names_the_file_and_line() {
    let line = line_containing("default.cedar", "when { principal.status != \"active\" };");
    let (_d, err) = broken("default.cedar", |t| {
        t.replace(
            "when { principal.status != \"active\" };",
            "when { principal.status != };",
        )
    });
    names_file_and_line(&err, "default.cedar", line);
}

#[test]
fn a_schema_violation_names_the_file_and_line() {
    let line = line_containing(
        "default.cedar",
        "principal.clearance < resource.classification",
    );
    let (_d, err) = broken("default.cedar", |t| {
        t.replace(
            "principal.clearance < resource.classification",
            "principal.clearence < resource.classification",
        )
    });
    names_file_and_line(&err, "default.cedar", line);
    assert!(err.to_string().contains("no-read-up"), "{err}");
}

#[test]
fn a_policy_without_reasons_is_refused() {
    // The line of the policy once its @reason line is gone.
    let line = line_containing("default.cedar", "permit (principal is Sandi::Node") - 1;
    let (_d, err) = broken("default.cedar", |t| {
        t.replace(
            "@reason(\"allowed: a node accredited {accreditation} receives {classification}\")\n",
            "",
        )
    });
    names_file_and_line(&err, "default.cedar", line);
    assert!(
        err.to_string().contains("needs @alasan and @reason"),
        "{err}"
    );
}

#[test]
fn a_missing_level_is_refused() {
    let (_d, err) = broken("handling.toml", |t| {
        t[..t.find("[levels.sangat_rahasia]").expect("level")].to_string()
    });
    let text = err.to_string();
    assert!(
        text.contains("handling.toml") && text.contains("level sangat_rahasia is missing"),
        "{text}"
    );
}

#[test]
fn an_unknown_key_names_the_line() {
    let line = line_containing("handling.toml", "watermark = true");
    let (_d, err) = broken("handling.toml", |t| {
        t.replacen(
            "watermark = true",
            "watermark = true\nwatermrk_colour = \"red\"",
            1,
        )
    });
    names_file_and_line(&err, "handling.toml", line + 1);
    assert!(err.to_string().contains("watermrk_colour"), "{err}");
}

#[test]
fn a_retention_of_minus_one_names_the_line() {
    let line = line_containing("handling.toml", "retention_years = 10");
    let (_d, err) = broken("handling.toml", |t| {
        t.replace("retention_years = 10", "retention_years = -1")
    });
    names_file_and_line(&err, "handling.toml", line);
}

#[test]
fn a_looser_higher_level_is_refused() {
    let (_d, err) = broken("handling.toml", |t| {
        let at = t.find("[levels.sangat_rahasia]").expect("level");
        let (a, b) = t.split_at(at);
        format!(
            "{a}{}",
            b.replacen("export_plaintext = false", "export_plaintext = true", 1)
        )
    });
    assert!(err.to_string().contains("more loosely"), "{err}");
}

#[test]
fn a_broken_policy_never_replaces_the_one_in_force() {
    let store = PolicyStore::load(&policies::default_dir()).expect("load");
    let before = store.current().version().to_string();
    let (dir, _err) = broken("default.cedar", |t| t.replace("forbid", "forbidd"));
    assert!(store.reload(dir.path()).is_err());
    assert_eq!(store.current().version(), before);
    // A valid change loads and gets a new version.
    let good = tempfile::tempdir().expect("tempdir");
    for f in ["sandi.cedarschema", "default.cedar", "handling.toml"] {
        std::fs::copy(policies::default_dir().join(f), good.path().join(f)).expect("copy");
    }
    let t = std::fs::read_to_string(good.path().join("handling.toml")).expect("read");
    std::fs::write(
        good.path().join("handling.toml"),
        t.replace("retention_years = 2", "retention_years = 5"),
    )
    .expect("write");
    let fresh = store.reload(good.path()).expect("reload");
    assert_ne!(fresh.version(), before);
    assert_eq!(store.current().version(), fresh.version());
    assert!(
        Path::new(&policies::default_dir())
            .join("default.cedar")
            .exists()
    );
}
