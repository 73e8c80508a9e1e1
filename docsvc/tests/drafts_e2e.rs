//! Drafts and paraf (issue 21): a draft written by a staff member, returned with a correction,
//! revised, initialled by two reviewers in order, signed by the head into a numbered letter;
//! nobody outside the draft sees it, nobody initials out of turn or without the PIN, and a
//! database writer cannot skip the paraf.

use std::path::Path;

use sandi_e2e::http::{Client, Response};
use sandi_e2e::node::DevNode;
use serde_json::json;

const BUDI: &str = "197501012000031001"; // dinkes head, sangat_rahasia
const SITI: &str = "198002022005012002"; // dinkes, rahasia
const AGUS: &str = "198503032010013003"; // dinkes staff, terbatas
const JOKO: &str = "196812082000031008"; // dinkes, sangat_rahasia
const DEWI: &str = "197704042002122004"; // bappeda

fn docsvc() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_docsvc"))
}

fn login(node: &DevNode, nip: &str, step_up: bool) -> Client {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    node.login(nip, step_up, node.data.join(format!("{nip}-{n}.jar")))
}

fn new_draft(c: &Client, level: &str, reviewers: &[&str], signer: &str) -> Response {
    c.post_json(
        "/api/v1/drafts",
        &json!({
            "perihal": "Permintaan data imunisasi",
            "classification": level,
            "urgency": "segera",
            "recipients": [DEWI],
            "kode": "005",
            "isi": "Dengan hormat,\n\nkami mohon data imunisasi triwulan III.",
            "reviewers": reviewers,
            "signer": signer,
        }),
    )
}

fn step(c: &Client, id: &str, step: &str) -> Response {
    c.post_json(&format!("/api/v1/drafts/{id}/{step}"), &json!({}))
}

fn view(c: &Client, id: &str) -> serde_json::Value {
    let r = c.get(&format!("/api/v1/drafts/{id}"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// The reviews of a draft as (action, version).
fn actions(v: &serde_json::Value) -> Vec<(&str, i64)> {
    v["reviews"]
        .as_array()
        .expect("reviews")
        .iter()
        .map(|r| {
            (
                r["action"].as_str().expect("action"),
                r["version"].as_i64().expect("v"),
            )
        })
        .collect()
}

/// Agus may not write above his clearance; a reviewer not cleared is refused with why; the same
/// official twice is no draft.
fn refused_at_create(agus: &Client, siti: &Client) {
    assert_eq!(new_draft(agus, "rahasia", &[SITI], BUDI).status, 403);
    let r = new_draft(siti, "rahasia", &[AGUS], BUDI);
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("exceeds clearance"), "{}", r.text());
    assert_eq!(new_draft(agus, "terbatas", &[SITI, SITI], BUDI).status, 400);
}

/// Written, corrected, revised, initialled in order, signed: the letter it becomes is numbered
/// from dinkes' register, signed by budi and in dewi's inbox.
fn written_initialled_signed(node: &DevNode) -> String {
    let agus = login(node, AGUS, true);
    let siti = login(node, SITI, true);
    let joko = login(node, JOKO, true);
    let budi = login(node, BUDI, true);
    let dewi = login(node, DEWI, true);

    refused_at_create(&agus, &siti);

    let r = new_draft(&agus, "terbatas", &[SITI, JOKO], BUDI);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_owned();
    // Nobody outside it sees it, not even that it exists.
    assert_eq!(dewi.get(&format!("/api/v1/drafts/{id}")).status, 404);
    let list = dewi.get("/api/v1/drafts");
    assert_eq!(list.status, 200, "{}", list.text());
    assert!(!list.text().contains(&id));
    // Not submitted yet: nobody initials it.
    assert_eq!(step(&siti, &id, "paraf").status, 409);
    let r = step(&siti, &id, "submit");
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("only its author"), "{}", r.text());
    assert_eq!(step(&agus, &id, "submit").status, 200);

    // In order: joko waits for siti; siti initials version 1, joko returns it with a
    // correction: version 2 starts again from siti.
    let r = step(&joko, &id, "paraf");
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("not your turn"), "{}", r.text());
    assert_eq!(step(&siti, &id, "paraf").status, 200);
    let r = joko.post_json(
        &format!("/api/v1/drafts/{id}/koreksi"),
        &json!({ "comment": "Sebutkan batas waktu pengiriman data." }),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(view(&agus, &id)["state"], "returned");
    let r = agus.call(
        "PUT",
        &format!("/api/v1/drafts/{id}"),
        &[
            "-H",
            "content-type: application/json",
            "--data",
            &json!({ "isi": "Dengan hormat,\n\nkami mohon data imunisasi triwulan III paling lambat 15 Desember." }).to_string(),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!(2));
    assert_eq!(step(&agus, &id, "submit").status, 200);
    assert_eq!(
        view(&agus, &id)["next"],
        SITI,
        "version 1's paraf does not count"
    );

    // A paraf needs the PIN.
    let unstepped = login(node, SITI, false);
    assert_eq!(step(&unstepped, &id, "paraf").status, 403);
    assert_eq!(step(&siti, &id, "paraf").status, 200);
    // Not ready before every reviewer: budi cannot sign yet.
    assert_eq!(step(&budi, &id, "sign").status, 409);
    assert_eq!(step(&joko, &id, "paraf").status, 200);
    let v = view(&budi, &id);
    assert_eq!(v["state"], "ready", "{v}");
    assert_eq!(v["next"], BUDI);
    assert_eq!(v["version"], 2);
    assert_eq!(
        actions(&v),
        vec![("paraf", 1), ("koreksi", 1), ("paraf", 2), ("paraf", 2)]
    );
    assert!(v["isi"].as_str().is_some_and(|t| t.contains("15 Desember")));
    // Only its signer signs, with the PIN.
    assert_eq!(step(&joko, &id, "sign").status, 403);
    assert_eq!(step(&login(node, BUDI, false), &id, "sign").status, 403);
    let r = step(&budi, &id, "sign");
    assert_eq!(r.status, 200, "{}", r.text());
    let letter = r.json();
    let letter_id = letter["id"].as_str().expect("the letter").to_owned();
    assert_eq!(letter["originator"], BUDI);
    assert!(
        letter["nomor"]
            .as_str()
            .is_some_and(|n| n.starts_with("005/") && n.contains("/DINKES/")),
        "{letter}"
    );
    let signed = view(&agus, &id);
    assert_eq!(signed["letter_id"], json!(letter_id));
    assert_eq!(signed["isi"], "", "the words are the letter's now");
    assert_eq!(step(&budi, &id, "sign").status, 409, "signed once");
    let inbox = dewi.get("/api/v1/documents?box=inbox").text();
    assert!(inbox.contains(&letter_id), "{inbox}");
    // The pages: the list and the draft with its paraf.
    let page = agus.get(&format!("/ui/drafts/{id}")).text();
    assert!(
        page.contains("Sebutkan batas waktu") && page.contains("Ditandatangani"),
        "{page}"
    );
    assert!(
        agus.get("/ui/drafts")
            .text()
            .contains("Permintaan data imunisasi")
    );
    id
}

/// A RAHASIA draft opens only after the PIN step-up, as a letter of its level; an official of
/// the same agency not named on it sees nothing of it.
fn rahasia_needs_the_pin_and_a_name(node: &DevNode) {
    let siti = login(node, SITI, true);
    let r = new_draft(&siti, "rahasia", &[JOKO], BUDI);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let r = login(node, JOKO, false).get(&format!("/api/v1/drafts/{id}"));
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("step-up"), "{}", r.text());
    assert_eq!(
        view(&login(node, JOKO, true), &id)["perihal"],
        "Permintaan data imunisasi"
    );
    assert_eq!(
        login(node, AGUS, true)
            .get(&format!("/api/v1/drafts/{id}"))
            .status,
        404
    );
}

#[test]
fn a_draft_is_initialled_in_order_and_signed_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = DevNode::start(docsvc(), &dir.path().join("node"), &[]);
    written_initialled_signed(&node);
    rahasia_needs_the_pin_and_a_name(&node);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_draft_is_initialled_in_order_and_signed_on_postgres() {
    let Some((url, name)) = sandi_e2e::pg::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let node = DevNode::start(
        docsvc(),
        &dir.path().join("node"),
        &["--database-url", &url],
    );
    let node = tokio::task::spawn_blocking(move || {
        written_initialled_signed(&node);
        rahasia_needs_the_pin_and_a_name(&node);
        node
    })
    .await
    .expect("the flow");
    drop(node);
    sandi_e2e::pg::drop_postgres(&name).await;
}

/// A database writer moves a submitted draft straight to `ready` (no paraf): the row no longer
/// carries the node's MAC, and the signer's signature is refused as an integrity incident.
#[tokio::test(flavor = "multi_thread")]
async fn a_database_writer_cannot_skip_the_paraf() {
    use sqlx::Connection as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("node");
    let node = DevNode::start(docsvc(), &data, &[]);
    let (node, id) = tokio::task::spawn_blocking(move || {
        let agus = login(&node, AGUS, true);
        let r = new_draft(&agus, "terbatas", &[SITI], BUDI);
        assert_eq!(r.status, 201, "{}", r.text());
        let id = r.json()["id"].as_str().expect("id").to_owned();
        assert_eq!(step(&agus, &id, "submit").status, 200);
        (node, id)
    })
    .await
    .expect("setup");
    sqlx::any::install_default_drivers();
    let db = format!("sqlite://{}", data.join("docsvc.db").display());
    let mut conn = sqlx::AnyConnection::connect(&db)
        .await
        .expect("the database");
    sqlx::query("UPDATE drafts SET state = 'ready' WHERE id = $1")
        .bind(&id)
        .execute(&mut conn)
        .await
        .expect("forge");
    let id2 = id.clone();
    let node = tokio::task::spawn_blocking(move || {
        let budi = login(&node, BUDI, true);
        let r = step(&budi, &id2, "sign");
        assert_eq!(r.status, 500, "{}", r.text());
        assert!(r.text().contains("integrity"), "{}", r.text());
        node
    })
    .await
    .expect("attack");
    sqlx::query("UPDATE drafts SET state = 'review' WHERE id = $1")
        .bind(&id)
        .execute(&mut conn)
        .await
        .expect("undo");
    tokio::task::spawn_blocking(move || {
        let budi = login(&node, BUDI, true);
        assert_eq!(
            step(&budi, &id, "sign").status,
            409,
            "still waits for siti's paraf"
        );
    })
    .await
    .expect("undone");
}
