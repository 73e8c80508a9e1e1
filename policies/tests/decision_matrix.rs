//! The decision matrix: every row of matrix/decisions.tsv (expected outcomes written from
//! docs/domain.md by matrix/oracle.py, never from the engine) must match the shipped policy.

use policies::{Action, Context, Document, Level, Person, Policy, Principal, Status};

const ORIGINATOR: &str = "197501012000031001";
const RECIPIENT: &str = "198002022005012002";
const COPY_HOLDER: &str = "198503032010013003";
const SAME_AGENCY: &str = "199004042015014004";
const OTHER_AGENCY: &str = "199105052016015005";
const AUDITOR: &str = "198806062012016006";
const APPROVER: &str = "197707072003017007";

fn document(classification: Level) -> Document {
    Document {
        id: "naskah-1".into(),
        classification,
        originator: ORIGINATOR.into(),
        recipients: vec![RECIPIENT.into()],
        copies: vec![COPY_HOLDER.into()],
        grants: vec![],
        agency: "dinkes".into(),
        agencies: vec!["dinkes".into()],
        compartments: vec![],
    }
}

fn official(relation: &str, clearance: Level) -> Principal {
    let (id, agency, roles, status) = match relation {
        "originator" => (ORIGINATOR, "dinkes", vec!["pejabat"], Status::Active),
        "recipient" => (RECIPIENT, "dinkes", vec!["pejabat"], Status::Active),
        "copy_holder" => (COPY_HOLDER, "dinkes", vec!["pejabat"], Status::Active),
        "same_agency" => (SAME_AGENCY, "dinkes", vec!["pejabat"], Status::Active),
        "other_agency" => (OTHER_AGENCY, "bappeda", vec!["pejabat"], Status::Active),
        "auditor" => (AUDITOR, "dinkes", vec!["auditor"], Status::Active),
        "suspended" => (RECIPIENT, "dinkes", vec!["pejabat"], Status::Suspended),
        other => panic!("unknown relation {other}"),
    };
    Principal::Official(Person {
        id: id.into(),
        agency: agency.into(),
        clearance,
        roles: roles.into_iter().map(String::from).collect(),
        status,
        compartments: vec![],
    })
}

#[test]
fn every_row_of_the_matrix_matches() {
    let policy = Policy::load(&policies::default_dir()).expect("the shipped policy loads");
    let table = include_str!("matrix/decisions.tsv");
    let mut rows = 0;
    let mut wrong = Vec::new();
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 7, "bad row {line:?}");
        let clearance: Level = f[0].parse().expect("clearance");
        let classification: Level = f[1].parse().expect("classification");
        let action: Action = f[3].parse().expect("action");
        let context = Context {
            step_up: f[4] == "true",
            approvers: if f[5] == "1" {
                vec![APPROVER.into()]
            } else {
                vec![]
            },
            ..Context::default()
        };
        let expected = match f[6] {
            "allow" => true,
            "deny" => false,
            other => panic!("bad outcome {other}"),
        };
        let d = policy
            .decide(
                &official(f[2], clearance),
                action,
                &document(classification),
                &context,
            )
            .expect("decide");
        if d.allowed != expected {
            wrong.push(format!(
                "{line}\tgot {} ({})",
                if d.allowed { "allow" } else { "deny" },
                d.reason
            ));
        }
        // Every decision explains itself in both languages and names the policy version.
        assert!(
            !d.alasan.is_empty() && !d.reason.is_empty() && d.policy_version == policy.version()
        );
        assert!(
            d.alasan
                .starts_with(if d.allowed { "diizinkan" } else { "ditolak" }),
            "{}",
            d.alasan
        );
        rows += 1;
    }
    assert_eq!(rows, 4 * 4 * 7 * 10 * 2 * 2);
    assert!(
        wrong.is_empty(),
        "{} of {rows} rows differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
