//! Signing on the head's behalf (issue 21): Budi, head of dinkes, grants Siti a mandate (a.n.)
//! with his PIN; a draft Agus wrote, initialled by Siti and Joko, is signed by Siti a.n. Budi:
//! the letter names Budi in its manifest with his signed mandate, its PDF's signature block
//! reads "a.n. Kepala Dinas Kesehatan" above Siti's own position, and its reader sees it. Nobody
//! signs for a head without a running mandate (none given, revoked, another agency, above its
//! level); a database writer cannot widen one; a receiver refuses a mandate that does not
//! name the letter's signer, level and day, or that the head did not sign.

mod common;

use std::path::Path;

use docsvc::crypto::envelope::{Manifest, Urgency};
use docsvc::letters::documents::{Created, Ingest, NewLetter};
use docsvc::letters::mandate::{self, NewMandate};
use docsvc::node::Node;
use docsvc::node::numbering::Day;
use policies::Level;
use sandi_e2e::http::{Client, Response};
use sandi_e2e::node::DevNode;
use serde_json::json;

use common::{BUDI, node_pins, stepped_up};

const SITI: &str = "198002022005012002"; // dinkes, Sekretaris Dinas, rahasia
const AGUS: &str = "198503032010013003"; // dinkes staff, terbatas
const JOKO: &str = "196812082000031008"; // dinkes, sangat_rahasia
const DEWI: &str = "197704042002122004"; // bappeda head

fn days(n: i64) -> String {
    Day::today()
        .0
        .saturating_add(time::Duration::days(n))
        .to_string()
}

fn docsvc() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_docsvc"))
}

fn login(node: &DevNode, nip: &str, step_up: bool) -> Client {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    node.login(nip, step_up, node.data.join(format!("{nip}-{n}.jar")))
}

fn grant(c: &Client, to: &str, kind: &str, level: &str, from: i64, until: i64) -> Response {
    c.post_json(
        "/api/v1/mandates",
        &json!({
            "delegate": to, "kind": kind, "max_classification": level,
            "valid_from": days(from), "valid_until": days(until),
        }),
    )
}

fn step(c: &Client, id: &str, step: &str) -> Response {
    c.post_json(&format!("/api/v1/drafts/{id}/{step}"), &json!({}))
}

/// What is refused at grant time: without the PIN, to another agency, to someone who may not
/// sign the level, a second Plt. or Plh. on the same days, a day past.
fn refused_grants(node: &DevNode, budi: &Client) {
    let r = grant(&login(node, BUDI, false), SITI, "an", "terbatas", 0, 7);
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("PIN"), "{}", r.text());
    assert_eq!(grant(budi, DEWI, "an", "terbatas", 0, 7).status, 400);
    let r = grant(budi, AGUS, "an", "rahasia", 0, 7);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(grant(budi, SITI, "an", "terbatas", -1, 7).status, 400);
    assert_eq!(grant(budi, SITI, "atas", "terbatas", 0, 7).status, 400);
    let r = grant(budi, JOKO, "plh", "rahasia", 0, 2);
    assert_eq!(r.status, 200, "{}", r.text());
    let plh = r.json()["id"].as_str().expect("id").to_owned();
    let r = grant(budi, SITI, "plt", "rahasia", 1, 30);
    assert_eq!(r.status, 409, "one acting head at a time: {}", r.text());
    let r = budi.call("DELETE", &format!("/api/v1/mandates/{plh}"), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["active"], false);
}

/// Agus's draft, initialled by Siti then Joko, for Budi to sign: its id once ready.
fn ready_draft(agus: &Client, siti: &Client, joko: &Client) -> String {
    let r = agus.post_json(
        "/api/v1/drafts",
        &json!({
            "perihal": "Undangan rapat koordinasi imunisasi",
            "classification": "terbatas",
            "urgency": "segera",
            "recipients": [DEWI],
            "kode": "005",
            "isi": "Dengan hormat,\n\nkami mengundang Bapak/Ibu ke rapat koordinasi.",
            "reviewers": [SITI, JOKO],
            "signer": BUDI,
        }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(step(agus, &id, "submit").status, 200);
    assert_eq!(step(siti, &id, "paraf").status, 200);
    assert_eq!(step(joko, &id, "paraf").status, 200);
    id
}

/// The whole flow on one node: the grant, the draft signed a.n. Budi by Siti, the letter and
/// its PDF, the revocation.
fn signed_on_the_heads_behalf(node: &DevNode) {
    sandi_e2e::node::require("pdftotext");
    let budi = login(node, BUDI, true);
    let siti = login(node, SITI, true);
    let joko = login(node, JOKO, true);
    let agus = login(node, AGUS, true);
    refused_grants(node, &budi);

    // Without a mandate Siti cannot sign for Budi, nor Joko who holds none.
    let first = ready_draft(&agus, &siti, &joko);
    let r = step(&siti, &first, "sign");
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(step(&joko, &first, "sign").status, 403);

    let r = grant(&budi, SITI, "an", "rahasia", 0, 7);
    assert_eq!(r.status, 200, "{}", r.text());
    let m = r.json();
    assert_eq!(m["active"], true, "{m}");
    assert_eq!(m["grantor_position"], "Kepala Dinas Kesehatan");
    let mandate_id = m["id"].as_str().expect("id").to_owned();
    let held = siti.get("/api/v1/mandates").json();
    assert_eq!(held[0]["id"], json!(mandate_id), "{held}");
    assert_eq!(
        login(node, DEWI, true).get("/api/v1/mandates").json(),
        json!([])
    );

    // Siti sees the ready draft among hers, may sign it for Budi, and does, with her PIN.
    let v = siti.get(&format!("/api/v1/drafts/{first}")).json();
    assert_eq!(v["signs_for"], "an", "{v}");
    assert!(siti.get("/api/v1/drafts").text().contains(&first));
    let page = siti.get(&format!("/ui/drafts/{first}")).text();
    assert!(page.contains("draft-sign"), "the sign form: {page}");
    assert_eq!(step(&login(node, SITI, false), &first, "sign").status, 403);
    let r = step(&siti, &first, "sign");
    assert_eq!(r.status, 200, "{}", r.text());
    let letter = r.json();
    let id = letter["id"].as_str().expect("id").to_owned();
    assert_eq!(letter["originator"], SITI, "Siti signs it");
    let on_behalf = letter["on_behalf"].clone();
    assert_eq!(on_behalf["kind"], "an", "{letter}");
    assert_eq!(on_behalf["nip"], BUDI);
    assert_eq!(on_behalf["position"], "Kepala Dinas Kesehatan");
    assert!(
        on_behalf["mandate"]
            .as_str()
            .is_some_and(|s| s.contains(&mandate_id)),
        "{on_behalf}"
    );

    // The PDF's signature block, as pdftotext reads it.
    let dewi = login(node, DEWI, true);
    let pdf = node.data.join("an.pdf");
    let r = dewi.download(&format!("/api/v1/documents/{id}/content"), &pdf);
    assert_eq!(r.status, 200, "{}", r.headers);
    let out = std::process::Command::new("pdftotext")
        .args(["-layout"])
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext");
    let text = String::from_utf8_lossy(&out.stdout);
    let at = text
        .find("a.n. Kepala Dinas Kesehatan")
        .unwrap_or_else(|| panic!("a.n. in the block: {text}"));
    let own = text[at..].find("Sekretaris Dinas").expect("her position");
    let name = text[at..].find("Siti Rahmawati").expect("her name");
    assert!(
        own < name,
        "a.n. <head>, her position, then her name: {text}"
    );
    let read = dewi.get(&format!("/ui/letters/{id}")).text();
    assert!(read.contains("a.n. Kepala Dinas Kesehatan"), "{read}");

    // Straight from the API too, within the mandate's level; above it, refused.
    let meta = |level: &str| {
        json!({
            "perihal": "Pemberitahuan jadwal", "classification": level, "urgency": "biasa",
            "recipients": [JOKO], "on_behalf": BUDI, "kode": "005",
        })
    };
    let naskah = json!({ "isi": "Jadwal terlampir." });
    let r = siti.post_words(&meta("biasa"), &naskah);
    assert_eq!(r.status, 201, "{}", r.text());
    let r = agus.post_words(&meta("biasa"), &naskah);
    assert_eq!(r.status, 403, "Agus holds no mandate: {}", r.text());

    // Revoked: Siti signs for Budi no more, and sees it so.
    let r = budi.call("DELETE", &format!("/api/v1/mandates/{mandate_id}"), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = siti.post_words(&meta("biasa"), &naskah);
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("mandate"), "{}", r.text());
    let second = ready_draft(&agus, &siti, &joko);
    assert_eq!(step(&siti, &second, "sign").status, 403);
    assert_eq!(
        siti.get(&format!("/api/v1/drafts/{second}")).json()["signs_for"],
        json!(null)
    );
    assert_eq!(step(&budi, &second, "sign").status, 200, "Budi still signs");
    let page = budi.get("/ui/mandates").text();
    assert!(page.contains("Dicabut"), "{page}");
}

#[test]
fn a_draft_is_signed_on_the_heads_behalf_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = DevNode::start(docsvc(), &dir.path().join("node"), &[]);
    signed_on_the_heads_behalf(&node);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_draft_is_signed_on_the_heads_behalf_on_postgres() {
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
        signed_on_the_heads_behalf(&node);
        node
    })
    .await
    .expect("the flow");
    drop(node);
    sandi_e2e::pg::drop_postgres(&name).await;
}

async fn for_budi(node: &Node, level: Level) -> docsvc::Result<Created> {
    let mut ingest = Ingest::begin(
        node,
        stepped_up(node, SITI).await,
        NewLetter {
            nomor: String::new(),
            kode: Some("005".into()),
            perihal: "Atas nama".into(),
            classification: level,
            urgency: Urgency::Biasa,
            recipients: vec![JOKO.into()],
            copies: vec![],
            dated: None,
            refers: None,
            on_behalf: Some(BUDI.into()),
        },
    )
    .await?;
    ingest
        .add_part(
            "surat.txt",
            "text/plain",
            futures_util::stream::iter([Ok::<bytes::Bytes, std::convert::Infallible>(
                bytes::Bytes::from("Isi surat"),
            )]),
        )
        .await?;
    ingest.finish().await
}

/// What a receiver checks of the mandate a letter carries, on letters signed here with real
/// keys and then changed: each change is refused, the letter as made is taken.
#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_checks_the_mandate_a_letter_carries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, _) = node_pins(dir.path(), None).await;
    let grant = NewMandate {
        delegate: SITI.into(),
        kind: "an".into(),
        max_classification: Level::Terbatas,
        valid_from: days(0),
        valid_until: days(7),
    };
    mandate::grant(&node, &stepped_up(&node, BUDI).await, &grant)
        .await
        .expect("granted");
    // Above the mandate's level: not signed at all.
    assert!(matches!(
        for_budi(&node, Level::Rahasia).await,
        Err(docsvc::Error::Forbidden { .. })
    ));
    let made = for_budi(&node, Level::Terbatas).await.expect("signed a.n.");
    let m = made.manifest;
    let now = docsvc::now_rfc3339();
    let check =
        async |m: &Manifest, at: &str| mandate::check_carried(&node, m, at).await.expect("checked");
    assert_eq!(check(&m, &now).await, Ok(()));
    let changed = |f: &dyn Fn(&mut Manifest)| {
        let mut c = m.clone();
        f(&mut c);
        c
    };
    let cases: Vec<(&str, Manifest, String)> = vec![
        (
            "names someone else",
            changed(&|c| c.on_behalf.as_mut().expect("a.n.").nip = JOKO.into()),
            now.clone(),
        ),
        (
            "names someone else",
            changed(&|c| c.originator = AGUS.into()),
            now.clone(),
        ),
        (
            "names someone else",
            changed(&|c| c.on_behalf.as_mut().expect("a.n.").kind = "plt".into()),
            now.clone(),
        ),
        (
            "does not reach",
            changed(&|c| c.classification = Level::Rahasia),
            now.clone(),
        ),
        (
            "the grant",
            changed(&|c| {
                let o = c.on_behalf.as_mut().expect("a.n.");
                o.mandate = o.mandate.replace("\"terbatas\"", "\"sangat_rahasia\"");
            }),
            now.clone(),
        ),
        (
            "larger than any",
            changed(&|c| c.on_behalf.as_mut().expect("a.n.").mandate = "x".repeat(5000)),
            now,
        ),
        (
            "was signed",
            m.clone(),
            docsvc::rfc3339(time::OffsetDateTime::now_utc() + time::Duration::days(30)),
        ),
    ];
    for (why, c, at) in cases {
        let r = check(&c, &at).await;
        assert!(r.as_ref().is_err_and(|e| e.contains(why)), "{why}: {r:?}");
    }
}

/// A database writer widens Siti's mandate to SANGAT RAHASIA: the row no longer carries the
/// node's MAC, and signing under it is an integrity incident, not a letter.
#[tokio::test(flavor = "multi_thread")]
async fn a_database_writer_cannot_widen_a_mandate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, _) = node_pins(dir.path(), None).await;
    let grant = NewMandate {
        delegate: SITI.into(),
        kind: "plh".into(),
        max_classification: Level::Biasa,
        valid_from: days(0),
        valid_until: days(1),
    };
    let m = mandate::grant(&node, &stepped_up(&node, BUDI).await, &grant)
        .await
        .expect("granted");
    assert!(matches!(
        for_budi(&node, Level::Terbatas).await,
        Err(docsvc::Error::Forbidden { .. })
    ));
    sqlx::query("UPDATE mandates SET max_classification = 'sangat_rahasia' WHERE id = $1")
        .bind(&m.id)
        .execute(node.store.pool())
        .await
        .expect("the insider writes");
    assert!(matches!(
        for_budi(&node, Level::Terbatas).await,
        Err(docsvc::Error::Integrity(_))
    ));
    assert!(
        mandate::list(&node, SITI).await.expect("list").is_empty(),
        "a forged row is not shown"
    );
}
