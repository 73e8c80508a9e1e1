//! Decisions per second with the shipped policy: `cargo bench -p policies`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use policies::{Action, Context, Document, Level, Person, Policy, Principal, Status};

fn bench(c: &mut Criterion) {
    let policy = Policy::load(&policies::default_dir()).expect("policy");
    let reader = Principal::Official(Person {
        id: "198002022005012002".into(),
        agency: "dinkes".into(),
        clearance: Level::Rahasia,
        roles: vec!["pejabat".into()],
        status: Status::Active,
        compartments: vec!["kesehatan".into()],
    });
    let doc = Document {
        id: "naskah-1".into(),
        classification: Level::Rahasia,
        originator: "197501012000031001".into(),
        recipients: vec!["198002022005012002".into(), "199004042015014004".into()],
        copies: vec!["198503032010013003".into()],
        grants: vec![],
        agency: "dinkes".into(),
        agencies: vec!["dinkes".into()],
        compartments: vec!["kesehatan".into()],
    };
    let ctx = Context {
        step_up: true,
        ..Context::default()
    };
    let mut group = c.benchmark_group("decide");
    group.throughput(Throughput::Elements(1));
    group.bench_function("read_allowed", |b| {
        b.iter(|| {
            let d = policy
                .decide(&reader, Action::Read, &doc, &ctx)
                .expect("decide");
            assert!(d.allowed);
        });
    });
    // An inbox: the reader is prepared once, each document as it is listed.
    group.bench_function("read_allowed_inbox", |b| {
        let prepared = policy.prepare_principal(&reader).expect("principal");
        b.iter(|| {
            let d = policy.prepare_document(&doc).expect("document");
            let d = policy
                .decide_prepared(&prepared, Action::Read, &d, &ctx)
                .expect("decide");
            assert!(d.allowed);
        });
    });
    // Both prepared: one document's several checks in one request (read, print, export).
    group.bench_function("read_allowed_prepared", |b| {
        let p = policy.prepare_principal(&reader).expect("principal");
        let d = policy.prepare_document(&doc).expect("document");
        b.iter(|| {
            let d = policy
                .decide_prepared(&p, Action::Read, &d, &ctx)
                .expect("decide");
            assert!(d.allowed);
        });
    });
    // Whole decisions through `decide`, as most callers make them: an unprepared principal
    // and document (their entities reused), reasons and policy ids in the answer; and the same
    // questions through `decide_remembered`, as an application signing asks them (answered
    // from memory).
    for (name, remembered) in [("whole_unprepared", false), ("whole_asked_again", true)] {
        group.bench_function(name, |b| {
            let actions = [Action::Read, Action::Print, Action::Export, Action::Sign];
            let mut n = 0usize;
            b.iter(|| {
                n = n.wrapping_add(1);
                let a = actions[n % actions.len()];
                let d = if remembered {
                    policy.decide_remembered(&reader, a, &doc, &ctx)
                } else {
                    policy.decide(&reader, a, &doc, &ctx)
                }
                .expect("decide");
                assert_eq!(d.allowed, matches!(a, Action::Read | Action::Print));
            });
        });
    }
    // The worst case: a document never seen before every time (nothing to reuse).
    group.bench_function("whole_new_document", |b| {
        let mut n = 0u64;
        let mut fresh = doc.clone();
        b.iter(|| {
            n += 1;
            fresh.id = format!("naskah-{n}");
            let d = policy
                .decide(&reader, Action::Read, &fresh, &ctx)
                .expect("decide");
            assert!(d.allowed);
        });
    });
    group.bench_function("print_denied", |b| {
        let mut sr = doc.clone();
        sr.classification = Level::SangatRahasia;
        b.iter(|| {
            let d = policy
                .decide(&reader, Action::Print, &sr, &ctx)
                .expect("decide");
            assert!(!d.allowed);
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
