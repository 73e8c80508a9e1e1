//! Disposisi (issue 21): an incoming letter passed down two levels inside the receiving agency
//! and reported done, on both backends; an official the policy does not clear for the letter's
//! level cannot be chosen (the form says why, the API refuses with the policy's reason); a
//! database writer cannot add a reader by writing a disposisi row.

use std::path::{Path, PathBuf};

use sandi_e2e::http::{Client, Response};
use sandi_e2e::node::DevNode;
use serde_json::json;

const BUDI: &str = "197501012000031001"; // dinkes, sangat_rahasia, approver (the head)
const SITI: &str = "198002022005012002"; // dinkes, rahasia
const AGUS: &str = "198503032010013003"; // dinkes, terbatas
const JOKO: &str = "196812082000031008"; // dinkes, sangat_rahasia
const DEWI: &str = "197704042002122004"; // bappeda, sangat_rahasia

fn docsvc() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_docsvc"))
}

fn login(node: &DevNode, nip: &str) -> Client {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    node.login(nip, true, node.data.join(format!("{nip}-{n}.jar")))
}

fn letter(from: &Client, level: &str, to: &[&str], dir: &Path) -> String {
    let pdf = dir.join("surat.pdf");
    std::fs::write(&pdf, b"%PDF-1.7\nsurat masuk\n").expect("write");
    let r = from.post_letter(
        &json!({
            "nomor": format!("800/{}/BAPPEDA/2026", rand_tail()),
            "perihal": format!("Permohonan data ({level})"),
            "classification": level,
            "urgency": "segera",
            "recipients": to,
        }),
        &pdf,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_str().expect("id").to_owned()
}

fn rand_tail() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn give(c: &Client, letter: &str, to: &[&str], instruction: &str, due: Option<&str>) -> Response {
    c.post_json(
        &format!("/api/v1/documents/{letter}/dispositions"),
        &json!({ "to": to, "instruction": instruction, "due": due, "note": "Mohon segera." }),
    )
}

fn chain(c: &Client, letter: &str) -> Vec<serde_json::Value> {
    let r = c.get(&format!("/api/v1/documents/{letter}/dispositions"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json().as_array().expect("a list").clone()
}

fn report(c: &Client, disposition: &str, text: &str, done: bool, file: Option<&Path>) -> Response {
    let text = format!("text={text}");
    let done = format!("done={done}");
    let mut args = vec!["-F", &text, "-F", &done];
    let f;
    if let Some(p) = file {
        f = format!("file=@{};type=text/plain", p.display());
        args.extend(["-F", &f]);
    }
    c.call(
        "POST",
        &format!("/api/v1/dispositions/{disposition}/reports"),
        &args,
    )
}

/// Before any disposisi: siti is no reader of the letter and cannot give one (only an
/// addressee or a holder does); bad input is a 400.
fn refused_before_any(budi: &Client, siti: &Client, id: &str) {
    let r = siti.get(&format!("/api/v1/documents/{id}"));
    assert!(matches!(r.status, 403 | 404), "{}", r.text());
    let r = give(siti, id, &[AGUS], "diketahui", None);
    assert_eq!(r.status, 403, "{}", r.text());
    let past = give(budi, id, &[SITI], "ditindaklanjuti", Some("2001-01-01"));
    assert_eq!(past.status, 400);
    assert_eq!(give(budi, id, &[SITI], "dibakar", None).status, 400);
    assert_eq!(give(budi, id, &[DEWI], "diketahui", None).status, 400);
    assert_eq!(give(budi, id, &["../../x"], "diketahui", None).status, 400);
}

/// Siti passes the letter to Agus due tomorrow (WIB): announced as due soon, on the list, the
/// page and the menu's count, even once read.
fn due_soon_is_announced(siti: &Client, agus: &Client, id: &str) -> String {
    let tomorrow = docsvc::node::numbering::Day::today()
        .0
        .saturating_add(time::Duration::days(1))
        .to_string();
    let r = give(siti, id, &[AGUS], "dijawab", Some(&tomorrow));
    assert_eq!(r.status, 201, "{}", r.text());
    let mine = agus.get("/api/v1/dispositions").json();
    assert_eq!(mine[0]["due_soon"], true, "{mine}");
    assert_eq!(mine[0]["overdue"], false, "{mine}");
    assert_eq!(
        siti.get("/api/v1/dispositions").json()[0]["due_soon"],
        false
    );
    let page = agus.get("/ui/dispositions").text();
    assert!(page.contains("Segera jatuh tempo"), "{page}");
    assert!(agus.get(&format!("/ui/letters/{id}")).status == 200);
    let nav = agus.get("/ui/inbox").text();
    assert!(
        nav.contains("Disposisi <span class=\"badge-count\">1"),
        "read, yet counted while due soon: {nav}"
    );
    assert!(
        nav.contains("Pemberitahuan") && nav.contains("segera jatuh tempo"),
        "said on the inbox: {nav}"
    );
    r.json()["ids"][0].as_str().expect("id").to_owned()
}

/// The whole flow on one node: dewi (bappeda) writes to budi, the head of dinkes; budi passes
/// it to siti for action with a due day, siti passes it on to agus for a reply; agus reports
/// progress, then done with a file; siti reports done. Each holder reads the letter only once
/// it reached them; the chain shows on the letter, on the API and on its page.
fn passed_down_two_levels(node: &DevNode, dir: &Path) {
    let dewi = login(node, DEWI);
    let budi = login(node, BUDI);
    let siti = login(node, SITI);
    let agus = login(node, AGUS);
    let id = letter(&dewi, "terbatas", &[BUDI], dir);

    refused_before_any(&budi, &siti, &id);

    let due = (time::OffsetDateTime::now_utc() + time::Duration::days(7)).date();
    let r = give(
        &budi,
        &id,
        &[SITI],
        "ditindaklanjuti",
        Some(&due.to_string()),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let to_siti = r.json()["ids"][0].as_str().expect("id").to_owned();

    // Siti now reads it, sees it in her list (unread until she opens it), and passes it on.
    let mine = siti.get("/api/v1/dispositions").json();
    assert_eq!(mine[0]["id"], json!(to_siti), "{mine}");
    assert_eq!(mine[0]["state"], "unread");
    assert_eq!(mine[0]["instruction"], "ditindaklanjuti");
    let r = siti.get(&format!("/ui/letters/{id}"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text().contains("Mohon segera."),
        "the note shows on the letter"
    );
    assert_eq!(siti.get("/api/v1/dispositions").json()[0]["state"], "read");
    let to_agus = due_soon_is_announced(&siti, &agus, &id);

    // Agus reports progress, then done with a file, which siti downloads as he sent it.
    let r = agus.get(&format!("/api/v1/documents/{id}"));
    assert_eq!(r.status, 200, "agus reads it now: {}", r.text());
    let r = report(&agus, &to_agus, "Data sedang dihimpun", false, None);
    assert_eq!(r.status, 201, "{}", r.text());
    let file = dir.join("jawaban.txt");
    std::fs::write(&file, "Data terlampir: 42 puskesmas.\n").expect("write");
    let r = report(&agus, &to_agus, "Jawaban terkirim", true, Some(&file));
    assert_eq!(r.status, 201, "{}", r.text());
    let done_report = r.json()["id"].as_str().expect("id").to_owned();
    // Done is done; and nobody reports on another's disposisi.
    assert_eq!(report(&agus, &to_agus, "lagi", true, None).status, 409);
    assert_eq!(
        report(&siti, &to_agus, "bukan milik saya", true, None).status,
        404
    );
    let r = report(
        &siti,
        &to_siti,
        "Sudah ditindaklanjuti bersama Agus",
        true,
        None,
    );
    assert_eq!(r.status, 201, "{}", r.text());

    let got = siti.download(
        &format!("/api/v1/disposition-reports/{done_report}/files/0"),
        &dir.join("got.txt"),
    );
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(
        std::fs::read(dir.join("got.txt")).expect("read"),
        std::fs::read(&file).expect("read")
    );
    assert!(
        got.header("content-disposition")
            .is_some_and(|d| d.starts_with("attachment")),
        "a report's file is always a download"
    );

    // The chain, as the head sees it: two levels, both done, the reports in order.
    let c = chain(&budi, &id);
    assert_eq!(c.len(), 2, "{c:?}");
    assert_eq!(c[0]["from"], BUDI);
    assert_eq!(c[0]["to"], SITI);
    assert!(c[0]["parent_id"].is_null());
    assert_eq!(c[0]["state"], "done");
    assert_eq!(c[0]["due"], json!(due.to_string()));
    assert_eq!(c[0]["overdue"], false);
    assert_eq!(c[1]["from"], SITI);
    assert_eq!(c[1]["to"], AGUS);
    assert_eq!(c[1]["parent_id"], json!(to_siti));
    assert_eq!(c[1]["state"], "done");
    let reports = c[1]["reports"].as_array().expect("reports");
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0]["state"], "progress");
    assert_eq!(reports[1]["text"], "Jawaban terkirim");
    assert_eq!(reports[1]["files"][0]["name"], "jawaban.txt");
    // Another agency's disposisi are its own: dewi (the sender) sees no chain and no file.
    assert!(chain(&dewi, &id).is_empty());
    let r = dewi.get(&format!(
        "/api/v1/disposition-reports/{done_report}/files/0"
    ));
    assert_eq!(r.status, 404, "{}", r.text());
    // ... and on the letter's page, in both languages.
    let page = budi.get(&format!("/ui/letters/{id}")).text();
    assert!(
        page.contains("Untuk ditindaklanjuti") && page.contains("Selesai"),
        "{page}"
    );
    assert!(page.contains("Jawaban terkirim"), "{page}");
}

/// The web form's report: its first part must be the CSRF token; too many parts are refused;
/// with the token and PIN it is recorded like the API's.
fn web_report_and_bounds(node: &DevNode, dir: &Path) {
    let dewi = login(node, DEWI);
    let budi = login(node, BUDI);
    let siti = login(node, SITI);
    let id = letter(&dewi, "terbatas", &[BUDI], dir);
    let r = give(&budi, &id, &[SITI], "dihadiri", None);
    assert_eq!(r.status, 201, "{}", r.text());
    let did = r.json()["ids"][0].as_str().expect("id").to_owned();
    let path = format!("/ui/dispositions/{did}/reports");
    let pin = node.creds.get(SITI).expect("siti").1.clone();
    let csrf = format!("csrf={}", siti.csrf.clone().expect("a csrf token"));
    let pin_field = format!("pin={pin}");
    // The token not first: refused before the rest is read.
    let r = siti.call(
        "POST",
        &path,
        &["-F", "text=hadir", "-F", &csrf, "-F", &pin_field],
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let many: Vec<String> = (0..20)
        .flat_map(|i| ["-F".to_owned(), format!("x{i}=1")])
        .collect();
    let mut args: Vec<&str> = vec!["-F", &csrf, "-F", "text=ada"];
    args.extend(many.iter().map(String::as_str));
    let r = siti.call(
        "POST",
        &format!("/api/v1/dispositions/{did}/reports"),
        &args,
    );
    assert_eq!(r.status, 400, "too many parts: {}", r.text());
    assert!(r.text().contains("too many parts"), "{}", r.text());
    let r = siti.call(
        "POST",
        &path,
        &[
            "-F",
            &csrf,
            "-F",
            &pin_field,
            "-F",
            "text=Sudah hadir",
            "-F",
            "done=true",
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let c = chain(&budi, &id);
    assert_eq!(c[0]["state"], "done", "{c:?}");
    assert_eq!(c[0]["reports"][0]["text"], "Sudah hadir");

    // Raised to RAHASIA by its sender: the chain still reads (its notes sealed again), and
    // a holder no longer cleared for the level reads nothing.
    let agus_d = give(&siti, &id, &[AGUS], "diketahui", None);
    assert_eq!(agus_d.status, 201, "{}", agus_d.text());
    let agus = login(node, AGUS);
    assert_eq!(agus.get(&format!("/api/v1/documents/{id}")).status, 200);
    let r = dewi.post_json(
        &format!("/api/v1/documents/{id}/reclassify"),
        &json!({ "classification": "rahasia", "reason": "memuat data pribadi" }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let c = chain(&budi, &id);
    assert_eq!(c.len(), 2, "{c:?}");
    assert_eq!(c[0]["note"], "Mohon segera.");
    assert!(matches!(
        agus.get(&format!("/api/v1/documents/{id}")).status,
        403 | 404
    ));
}

/// A RAHASIA letter: agus (TERBATAS) cannot be chosen; the candidates say why, the API refuses
/// with the policy's reason, and nothing is given to anyone in that request.
fn not_cleared_is_refused(node: &DevNode, dir: &Path) {
    let dewi = login(node, DEWI);
    let budi = login(node, BUDI);
    let id = letter(&dewi, "rahasia", &[BUDI], dir);

    let r = budi.get(&format!("/api/v1/documents/{id}/disposition-candidates"));
    assert_eq!(r.status, 200, "{}", r.text());
    let list = r.json();
    let agus = list
        .as_array()
        .expect("a list")
        .iter()
        .find(|c| c["nip"] == AGUS)
        .expect("agus is listed")
        .clone();
    assert_eq!(agus["allowed"], false, "{agus}");
    assert!(
        agus["reason"]
            .as_str()
            .is_some_and(|r| r.contains("exceeds clearance")),
        "{agus}"
    );
    let siti = list
        .as_array()
        .expect("a list")
        .iter()
        .find(|c| c["nip"] == SITI)
        .expect("siti is listed")
        .clone();
    assert_eq!(siti["allowed"], true, "{siti}");

    let r = give(&budi, &id, &[SITI, AGUS], "diketahui", None);
    assert_eq!(r.status, 403, "{}", r.text());
    let problem = r.json();
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("exceeds clearance"))
            || problem["reason"]
                .as_str()
                .is_some_and(|d| d.contains("exceeds clearance")),
        "the policy's reason: {problem}"
    );
    assert!(
        problem["policies"]
            .as_array()
            .is_some_and(|p| p.contains(&json!("no-read-up"))),
        "{problem}"
    );
    assert!(chain(&budi, &id).is_empty(), "nothing given to siti either");
    // The page's form shows agus disabled, with the reason beside him.
    let page = budi.get(&format!("/ui/letters/{id}")).text();
    let at = page
        .find(&format!("value=\"{AGUS}\""))
        .expect("agus on the form");
    let tail: String = page[at..].chars().take(400).collect();
    assert!(tail.contains("disabled"), "{tail}");
    assert!(
        page.contains("melebihi izin akses"),
        "the reason in Indonesian: {page}"
    );
    let agus = login(node, AGUS);
    assert!(matches!(
        agus.get(&format!("/api/v1/documents/{id}")).status,
        403 | 404
    ));
}

#[test]
fn a_disposisi_goes_down_two_levels_and_comes_back_done_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = DevNode::start(docsvc(), &dir.path().join("node"), &[]);
    passed_down_two_levels(&node, dir.path());
    not_cleared_is_refused(&node, dir.path());
    web_report_and_bounds(&node, dir.path());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disposisi_goes_down_two_levels_and_comes_back_done_on_postgres() {
    let Some((url, name)) = sandi_e2e::pg::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let node = DevNode::start(
        docsvc(),
        &dir.path().join("node"),
        &["--database-url", &url],
    );
    let d = dir.path().to_path_buf();
    let node = tokio::task::spawn_blocking(move || {
        passed_down_two_levels(&node, &d);
        not_cleared_is_refused(&node, &d);
        web_report_and_bounds(&node, &d);
        node
    })
    .await
    .expect("the flow");
    drop(node);
    sandi_e2e::pg::drop_postgres(&name).await;
}

/// The archive key a letter's disposisi note is sealed to.
async fn note_key(conn: &mut sqlx::AnyConnection, id: &str) -> String {
    sqlx::query_scalar("SELECT key_id FROM dispositions WHERE document_id = $1")
        .bind(id)
        .fetch_one(conn)
        .await
        .expect("the note's key")
}

async fn connect(db: &str) -> sqlx::AnyConnection {
    use sqlx::Connection as _;
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(db)
        .await
        .expect("the node's database")
}

/// A database writer changes siti's disposisi to name joko: he reads nothing, siti neither while
/// the row is forged, the chain is refused as an integrity incident (logged) until the row is
/// set back. Then the letter is raised to RAHASIA, and its notes move to that level's archive
/// key.
#[tokio::test(flavor = "multi_thread")]
async fn a_database_writer_cannot_add_a_reader() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data: PathBuf = dir.path().join("node");
    let node = DevNode::start(docsvc(), &data, &[]);
    let d = dir.path().to_path_buf();
    let (node, id) = tokio::task::spawn_blocking(move || {
        let dewi = login(&node, DEWI);
        let budi = login(&node, BUDI);
        let id = letter(&dewi, "terbatas", &[BUDI], &d);
        assert_eq!(give(&budi, &id, &[SITI], "diketahui", None).status, 201);
        (node, id)
    })
    .await
    .expect("setup");
    let db = format!("sqlite://{}", data.join("docsvc.db").display());
    let mut conn = connect(&db).await;
    // The disposisi is in the access log, in the name of who gave it.
    let logged: Vec<String> =
        sqlx::query_scalar("SELECT entry FROM audit_log WHERE entry LIKE '%\"dispose\"%'")
            .fetch_all(&mut conn)
            .await
            .expect("the log");
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert!(
        logged[0].contains(&format!("official:{BUDI}")),
        "{logged:?}"
    );
    assert!(logged[0].contains(&id), "{logged:?}");
    // Siti's row, changed to name joko (her MAC and signature kept).
    sqlx::query("UPDATE dispositions SET to_nip = $1 WHERE to_nip = $2")
        .bind(JOKO)
        .bind(SITI)
        .execute(&mut conn)
        .await
        .expect("forge");
    let id2 = id.clone();
    let node = tokio::task::spawn_blocking(move || {
        let joko = login(&node, JOKO);
        let r = joko.get(&format!("/api/v1/documents/{id2}"));
        assert!(
            matches!(r.status, 403 | 404),
            "joko reads nothing: {}",
            r.text()
        );
        let budi = login(&node, BUDI);
        let r = budi.get(&format!("/api/v1/documents/{id2}/dispositions"));
        assert_eq!(r.status, 500, "{}", r.text());
        assert!(r.text().contains("integrity"), "{}", r.text());
        // The letter itself still opens for its addressee, with the alert where the chain was.
        let page = budi.get(&format!("/ui/letters/{id2}"));
        assert_eq!(page.status, 200, "{}", page.text());
        assert!(page.text().contains("role=\"alert\""), "{}", page.text());
        node
    })
    .await
    .expect("attack");
    let incidents: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE entry LIKE '%integrity incident%' \
         AND entry LIKE '%disposisi%'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("the log");
    assert!(
        incidents >= 1,
        "the forged row is an integrity incident in the log"
    );
    sqlx::query("UPDATE dispositions SET to_nip = $1 WHERE to_nip = $2")
        .bind(SITI)
        .bind(JOKO)
        .execute(&mut conn)
        .await
        .expect("undo");
    let key_before = note_key(&mut conn, &id).await;
    let id3 = id.clone();
    tokio::task::spawn_blocking(move || {
        let budi = login(&node, BUDI);
        assert_eq!(chain(&budi, &id3).len(), 1, "the real chain reads again");
        let siti = login(&node, SITI);
        assert_eq!(siti.get(&format!("/api/v1/documents/{id3}")).status, 200);
        let dewi = login(&node, DEWI);
        let r = dewi.post_json(
            &format!("/api/v1/documents/{id3}/reclassify"),
            &json!({ "classification": "rahasia" }),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(chain(&budi, &id3)[0]["note"], "Mohon segera.");
        assert_eq!(siti.get(&format!("/api/v1/documents/{id3}")).status, 200);
    })
    .await
    .expect("undone");
    let key_after = note_key(&mut conn, &id).await;
    assert_ne!(key_before, key_after, "sealed again to the new level's key");
}

fn answer(from: &Client, kind: &str, of: &str, to: &[&str], dir: &Path) -> Response {
    let pdf = dir.join("balasan.pdf");
    std::fs::write(&pdf, b"%PDF-1.7\nbalasan\n").expect("write");
    from.post_letter(
        &json!({
            "nomor": format!("005/{}/DINKES/2026", rand_tail()),
            "perihal": format!("{kind} surat"),
            "classification": "terbatas",
            "urgency": "biasa",
            "recipients": to,
            "refers": { "kind": kind, "id": of },
        }),
        &pdf,
    )
}

fn thread(c: &Client, id: &str) -> serde_json::Value {
    let r = c.get(&format!("/api/v1/documents/{id}/thread"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// A reply and a forward name the letter in their signed manifests; each shows the other, but
/// only as far as the reader may read: a forward gives its recipient nothing of the original,
/// and nobody can name a letter they cannot read.
#[test]
fn a_reply_and_a_forward_keep_their_reference() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = DevNode::start(docsvc(), &dir.path().join("node"), &[]);
    let (dewi, budi, agus) = (login(&node, DEWI), login(&node, BUDI), login(&node, AGUS));
    let first = letter(&dewi, "terbatas", &[BUDI], dir.path());
    let first_nomor = dewi
        .get(&format!("/api/v1/documents/{first}/manifest"))
        .json()["nomor"]
        .clone();

    // Nobody names a letter they cannot read: alike for one that exists and one that does not.
    let r = answer(&agus, "reply", &first, &[DEWI], dir.path());
    assert_eq!(r.status, 400, "{}", r.text());
    let r2 = answer(
        &agus,
        "reply",
        "00000000-0000-0000-0000-000000000000",
        &[DEWI],
        dir.path(),
    );
    assert_eq!(r2.status, 400);
    assert_eq!(r.json()["detail"], r2.json()["detail"], "no oracle");
    assert_eq!(answer(&budi, "cc", &first, &[DEWI], dir.path()).status, 400);

    let r = answer(&budi, "reply", &first, &[DEWI], dir.path());
    assert_eq!(r.status, 201, "{}", r.text());
    let reply = r.json()["id"].as_str().expect("id").to_owned();
    let r = answer(&budi, "forward", &first, &[AGUS], dir.path());
    assert_eq!(r.status, 201, "{}", r.text());
    let forward = r.json()["id"].as_str().expect("id").to_owned();

    // The reference is signed: it is in the manifest.
    let m = budi
        .get(&format!("/api/v1/documents/{reply}/manifest"))
        .json();
    assert_eq!(m["refers"]["kind"], "reply", "{m}");
    assert_eq!(m["refers"]["id"], json!(first));
    assert_eq!(m["refers"]["nomor"], first_nomor);

    // Dewi sees her letter answered (the forward is not hers to see); budi sees both.
    let t = thread(&dewi, &first);
    let answers: Vec<&str> = t["answers"]
        .as_array()
        .expect("answers")
        .iter()
        .map(|a| a["id"].as_str().expect("id"))
        .collect();
    assert_eq!(answers, vec![reply.as_str()], "{t}");
    assert_eq!(
        thread(&budi, &first)["answers"]
            .as_array()
            .expect("answers")
            .len(),
        2
    );
    let t = thread(&dewi, &reply);
    assert_eq!(t["refers"]["id"], json!(first));
    assert_eq!(t["refers"]["readable"], true);
    // Agus reads the forward, and of the original only its nomor.
    let t = thread(&agus, &forward);
    assert_eq!(t["refers"]["readable"], false, "{t}");
    assert!(t["refers"]["perihal"].is_null(), "{t}");
    assert_eq!(t["refers"]["nomor"], first_nomor);
    assert!(matches!(
        agus.get(&format!("/api/v1/documents/{first}")).status,
        403 | 404
    ));

    // On the pages: the thread, and a reply started from the letter goes back to its sender.
    let page = budi.get(&format!("/ui/letters/{first}")).text();
    assert!(
        page.contains(&format!("/ui/letters/{reply}"))
            && page.contains(&format!("/ui/compose?reply={first}")),
        "{page}"
    );
    let page = budi.get(&format!("/ui/compose?reply={first}")).text();
    assert!(page.contains(&format!("value=\"{first}\"")), "{page}");
    assert!(page.contains(&format!("value=\"{DEWI}\"")), "{page}");
    let r = agus.get(&format!("/ui/compose?forward={first}"));
    assert_eq!(r.status, 400, "not Agus's to pass on");
}
