//! The policy matrix over the API: for a letter of every classification, every dev official
//! (originator, recipient, copy holder, same or addressed agency, other agency, auditor; with and without
//! the PIN step-up; then suspended) asks the real node to open and to export it, and the answer
//! must be what the policy's own decision table (`policies/tests/matrix/decisions.tsv`, which
//! the policies crate checks against Cedar) says: 200 where it allows, 403/404 where it denies.
//!
//! Elsewhere: revoked client certificates and expired sessions (`node_e2e.rs`), unlisted,
//! revoked and not-accredited nodes (`network_e2e.rs`).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use sandi_e2e::http::Client;
use sandi_e2e::node::DevNode;
use serde_json::json;

const BUDI: &str = "197501012000031001"; // dinkes, sangat_rahasia: writes every letter
const SITI: &str = "198002022005012002"; // dinkes, rahasia
const JOKO: &str = "196812082000031008"; // dinkes, sangat_rahasia, approver
const DEWI: &str = "197704042002122004"; // bappeda, sangat_rahasia
const RUDI: &str = "199005052015031005"; // bappeda, rahasia
const LEVELS: [&str; 4] = ["biasa", "terbatas", "rahasia", "sangat_rahasia"];

/// What the decision table says: (clearance, classification, relation, action, step_up) ->
/// allowed. The approvals column only matters for sending; one approval is the case here.
fn decision_table() -> HashMap<(String, String, String, String, bool), bool> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/tests/matrix/decisions.tsv");
    let text = std::fs::read_to_string(&path).expect("decision table");
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() == 7 && f[5] == "1").then(|| {
                (
                    (
                        f[0].to_owned(),
                        f[1].to_owned(),
                        f[2].to_owned(),
                        f[3].to_owned(),
                        f[4] == "true",
                    ),
                    f[6] == "allow",
                )
            })
        })
        .collect()
}

/// An official of the quickstart table: agency, clearance, roles.
struct Official {
    agency: String,
    clearance: String,
    roles: String,
}

fn officials(printed: &str) -> HashMap<String, Official> {
    printed
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let n = f.len();
            (n >= 7 && f[0].len() == 18 && f[0].bytes().all(|b| b.is_ascii_digit())).then(|| {
                (
                    f[0].to_owned(),
                    Official {
                        agency: f[n - 5].to_owned(),
                        clearance: f[n - 4].to_owned(),
                        roles: f[n - 1].to_owned(),
                    },
                )
            })
        })
        .collect()
}

struct Letter {
    id: String,
    level: &'static str,
    recipients: Vec<&'static str>,
    copies: Vec<&'static str>,
}

/// Budi writes one letter of each classification; SANGAT RAHASIA goes to Dewi once Joko
/// approves it, the others to Siti with a copy for Rudi.
fn letters(node: &DevNode, dir: &Path) -> Vec<Letter> {
    let budi = node.login(BUDI, true, dir.join("budi.jar"));
    let joko = node.login(JOKO, true, dir.join("joko.jar"));
    let body = dir.join("surat.pdf");
    std::fs::write(&body, b"%PDF-1.7\nmatriks akses\n").expect("write");
    LEVELS
        .iter()
        .map(|&level| {
            let (recipients, copies) = if level == "sangat_rahasia" {
                (vec![DEWI], vec![])
            } else {
                (vec![SITI], vec![RUDI])
            };
            let meta = json!({
                "nomor": format!("005/{}/AKSES/2026", level.to_uppercase()),
                "perihal": format!("Matriks akses ({level})"),
                "classification": level, "urgency": "biasa",
                "recipients": recipients, "copies": copies,
            });
            let r = budi.post_letter(&meta, &body);
            assert_eq!(r.status, 201, "{level}: {}", r.text());
            let id = r.json()["id"].as_str().expect("id").to_owned();
            if level == "sangat_rahasia" {
                let r = joko.post_json(&format!("/api/v1/documents/{id}/approve"), &json!({}));
                assert_eq!(r.status, 200, "approve: {}", r.text());
            }
            Letter {
                id,
                level,
                recipients,
                copies,
            }
        })
        .collect()
}

/// The reader's relation to the letter as the decision table names it; "same agency" is an
/// agency the letter is addressed to (the originator's or an addressee's), which is what the
/// policy opens a BIASA letter to.
fn relation(
    nip: &str,
    who: &Official,
    letter: &Letter,
    people: &HashMap<String, Official>,
) -> &'static str {
    let addressed = |agency: &str| {
        std::iter::once(&BUDI)
            .chain(&letter.recipients)
            .chain(&letter.copies)
            .any(|n| people.get(*n).is_some_and(|o| o.agency == agency))
    };
    if nip == BUDI {
        "originator"
    } else if letter.recipients.contains(&nip) {
        "recipient"
    } else if letter.copies.contains(&nip) {
        "copy_holder"
    } else if who.roles.split(',').any(|r| r == "auditor") {
        "auditor"
    } else if addressed(&who.agency) {
        "same_agency"
    } else {
        "other_agency"
    }
}

/// Asks for `action` on every letter as `client` and compares with the table; returns the
/// mismatches.
fn ask(
    client: &Client,
    (nip, relation_of): (&str, &dyn Fn(&Letter) -> &'static str),
    (clearance, step_up): (&str, bool),
    letters: &[Letter],
    table: &HashMap<(String, String, String, String, bool), bool>,
) -> (usize, Vec<String>) {
    let mut asked = 0;
    let mut wrong = Vec::new();
    for letter in letters {
        let relation = relation_of(letter);
        for (action, query) in [("read", "part=0"), ("export", "part=0&download=true")] {
            let key = (
                clearance.to_owned(),
                letter.level.to_owned(),
                relation.to_owned(),
                action.to_owned(),
                step_up,
            );
            let allowed = *table
                .get(&key)
                .unwrap_or_else(|| panic!("the decision table has no row for {key:?}"));
            let r = client.call(
                "GET",
                &format!("/api/v1/documents/{}/content?{query}", letter.id),
                &[],
            );
            asked += 1;
            let ok = if allowed {
                r.status == 200 && r.body.starts_with(b"%PDF-1.7\nmatriks akses")
            } else {
                // Suspended: the session itself is over (401).
                matches!(r.status, 403 | 404) || (relation == "suspended" && r.status == 401)
            };
            if !ok {
                wrong.push(format!(
                    "{nip} ({clearance}, {relation}, step-up {step_up}) {action} {}: table says {}, node said {}",
                    letter.level,
                    if allowed { "allow" } else { "deny" },
                    r.status
                ));
            }
        }
    }
    (asked, wrong)
}

#[test]
fn the_api_enforces_the_policy_matrix_for_every_classification() {
    let dir = tempfile::tempdir().expect("tempdir");
    let docsvc = Path::new(env!("CARGO_BIN_EXE_docsvc"));
    let node = DevNode::start(docsvc, &dir.path().join("node"), &[]);
    let table = decision_table();
    let people = officials(&node.printed);
    let letters = letters(&node, dir.path());

    let mut asked = 0;
    let mut wrong = Vec::new();
    let mut sessions = Vec::new();
    for (nip, who) in &people {
        for step_up in [false, true] {
            let jar = dir.path().join(format!("{nip}-{step_up}.jar"));
            let client = node.login(nip, step_up, jar);
            let rel = |l: &Letter| relation(nip, who, l, &people);
            let (n, w) = ask(
                &client,
                (nip, &rel),
                (&who.clearance, step_up),
                &letters,
                &table,
            );
            asked += n;
            wrong.extend(w);
            if nip == SITI {
                sessions.push((client, step_up));
            }
        }
    }
    // Suspended: Siti's open sessions, stepped up or not, get nothing more.
    let out = Command::new(docsvc)
        .args(["official", "set-status", "--data-dir"])
        .arg(&node.data)
        .args([SITI, "suspended"])
        .output()
        .expect("docsvc official set-status");
    sandi_e2e::node::ok(&out);
    let siti = people.get(SITI).expect("Siti");
    for (client, step_up) in &sessions {
        let (n, w) = ask(
            client,
            (SITI, &|_: &Letter| "suspended"),
            (&siti.clearance, *step_up),
            &letters,
            &table,
        );
        asked += n;
        wrong.extend(w);
    }
    assert!(
        wrong.is_empty(),
        "{} of {asked} answers differ from the decision table:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(asked, (people.len() * 2 + 2) * LEVELS.len() * 2);
    eprintln!("{asked} API answers, each as the decision table says");
}
