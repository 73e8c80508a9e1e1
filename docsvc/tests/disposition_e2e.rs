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

    // Before any disposisi, siti is no reader of it.
    let r = siti.get(&format!("/api/v1/documents/{id}"));
    assert!(matches!(r.status, 403 | 404), "{}", r.text());
    // Only an addressee (or a holder) gives one.
    let r = give(&siti, &id, &[AGUS], "diketahui", None);
    assert_eq!(r.status, 403, "{}", r.text());
    // A due day in the past, an unknown instruction, an official of another agency: 400.
    assert_eq!(
        give(&budi, &id, &[SITI], "ditindaklanjuti", Some("2001-01-01")).status,
        400
    );
    assert_eq!(give(&budi, &id, &[SITI], "dibakar", None).status, 400);
    assert_eq!(give(&budi, &id, &[DEWI], "diketahui", None).status, 400);

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
    let r = give(&siti, &id, &[AGUS], "dijawab", None);
    assert_eq!(r.status, 201, "{}", r.text());
    let to_agus = r.json()["ids"][0].as_str().expect("id").to_owned();

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
    // ... and on the letter's page, in both languages.
    let page = budi.get(&format!("/ui/letters/{id}")).text();
    assert!(
        page.contains("Untuk ditindaklanjuti") && page.contains("Selesai"),
        "{page}"
    );
    assert!(page.contains("Jawaban terkirim"), "{page}");
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
    let tail = &page[at..at + 400];
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
        node
    })
    .await
    .expect("the flow");
    drop(node);
    sandi_e2e::pg::drop_postgres(&name).await;
}

async fn connect(db: &str) -> sqlx::AnyConnection {
    use sqlx::Connection as _;
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(db)
        .await
        .expect("the node's database")
}

/// A database writer adds joko as a reader of a letter (a new row, and a real row's MAC on a
/// row naming him): he reads nothing, and the chain is refused as an integrity incident until
/// the rows are gone.
#[tokio::test(flavor = "multi_thread")]
async fn a_database_writer_cannot_add_a_reader() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data: PathBuf = dir.path().join("node");
    let node = DevNode::start(docsvc(), &data, &[]);
    let d = dir.path().to_path_buf();
    let (node, id) = tokio::task::spawn_blocking(move || {
        let dewi = login(&node, DEWI);
        let budi = login(&node, BUDI);
        let id = letter(&dewi, "rahasia", &[BUDI], &d);
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
    // A copy of siti's row, naming joko, with siti's MAC and signature.
    sqlx::query(
        "INSERT INTO dispositions (id, document_id, parent_id, agency, from_nip, to_nip, \
         instruction, due, note, note_sha256, key_id, at, signature, mac, read_at) \
         SELECT 'forged', document_id, parent_id, agency, from_nip, $1, instruction, due, note, \
         note_sha256, key_id, at, signature, mac, NULL FROM dispositions WHERE to_nip = $2",
    )
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
    sqlx::query("DELETE FROM dispositions WHERE id = 'forged'")
        .execute(&mut conn)
        .await
        .expect("undo");
    tokio::task::spawn_blocking(move || {
        let budi = login(&node, BUDI);
        assert_eq!(chain(&budi, &id).len(), 1, "the real chain reads again");
        let siti = login(&node, SITI);
        assert_eq!(siti.get(&format!("/api/v1/documents/{id}")).status, 200);
    })
    .await
    .expect("undone");
}
