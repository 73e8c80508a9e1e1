//! The agencies' registers (issue 21): outgoing letters numbered from the agency's register at
//! signing, with no gap and no number twice even from several processes on one PostgreSQL
//! database; incoming letters entered in the receiving agency's agenda; both read, searched
//! and exported only by the agency's secretariat.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sandi_e2e::http::{Client, Response};
use sandi_e2e::node::{DevNode, Killed, wait_port};
use serde_json::json;

const BUDI: &str = "197501012000031001"; // dinkes, sangat_rahasia, approver
const SITI: &str = "198002022005012002"; // dinkes, rahasia, sekretaris
const AGUS: &str = "198503032010013003"; // dinkes, terbatas
const JOKO: &str = "196812082000031008"; // dinkes, sangat_rahasia, approver
const DEWI: &str = "197704042002122004"; // bappeda, sangat_rahasia

fn docsvc() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_docsvc"))
}

/// This year where the registers are kept (WIB).
fn year() -> i32 {
    time::OffsetDateTime::now_utc()
        .to_offset(time::UtcOffset::from_hms(7, 0, 0).expect("WIB"))
        .year()
}

fn jar(node: &DevNode, who: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    node.data.join(format!("{who}-{n}.jar"))
}

/// Logs `nip` in through the process at `base` (another process of the node).
fn login_at(node: &DevNode, base: &str, nip: &str) -> Client {
    let (password, pin) = node.creds.get(nip).expect("a quickstart official");
    let mut c = Client::new(base, &node.root_ca(), jar(node, nip));
    let r = c.post_json(
        "/api/v1/session",
        &json!({ "nip": nip, "password": password }),
    );
    assert_eq!(r.status, 200, "login {nip} at {base}: {}", r.text());
    c.csrf = r.json()["csrf"].as_str().map(str::to_owned);
    let r = c.post_json("/api/v1/session/step-up", &json!({ "pin": pin }));
    assert_eq!(r.status, 200, "step-up {nip}: {}", r.text());
    c
}

fn meta(level: &str, to: &[&str], kode: Option<&str>, nomor: Option<&str>) -> serde_json::Value {
    let mut m = json!({
        "perihal": format!("Undangan rapat koordinasi ({level})"),
        "classification": level,
        "urgency": "biasa",
        "recipients": to,
    });
    if let Some(k) = kode {
        m["kode"] = json!(k);
    }
    if let Some(n) = nomor {
        m["nomor"] = json!(n);
    }
    m
}

fn body(dir: &Path) -> PathBuf {
    let p = dir.join("surat.pdf");
    std::fs::write(&p, b"%PDF-1.7\nsurat bernomor\n").expect("write");
    p
}

/// The register's lines (JSON) as `c` reads them.
fn lines(c: &Client, book: &str, query: &str) -> Vec<serde_json::Value> {
    let limit = if query.contains("limit=") {
        ""
    } else {
        "limit=1000"
    };
    let r = c.get(&format!("/api/v1/registers/{book}?{limit}{query}"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json().as_array().expect("a list").clone()
}

/// A letter that fails after its number was taken: the form's second part is wrong.
fn fails_after_its_number(c: &Client) {
    let meta_part = format!(
        "metadata={};type=application/json",
        meta("biasa", &[AGUS], Some("005"), None)
    );
    let r = c.call(
        "POST",
        "/api/v1/documents",
        &["-F", &meta_part, "-F", "bogus=x"],
    );
    assert_eq!(r.status, 400, "{}", r.text());
}

fn created(r: &Response) -> (String, String) {
    assert_eq!(r.status, 201, "{}", r.text());
    let j = r.json();
    (
        j["id"].as_str().expect("id").to_owned(),
        j["manifest"]["nomor"]
            .as_str()
            .or_else(|| j["nomor"].as_str())
            .expect("nomor")
            .to_owned(),
    )
}

/// 1,000 letters signed at once through three processes of one node on PostgreSQL take the
/// numbers 1 to 1,000 of dinkes' register, each once; the register and its CSV say the same.
#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_letters_from_three_processes_take_consecutive_numbers() {
    let Some((url, name)) = sandi_e2e::pg::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("node");
    let node = DevNode::start_with(docsvc(), &data, &["--database-url", &url], |d| {
        let path = d.join("node.toml");
        let mut text = std::fs::read_to_string(&path).expect("node.toml");
        text.push_str("\n[numbering]\nregister_only = true\n");
        std::fs::write(&path, text).expect("node.toml");
    });
    let mut bases = vec![node.base()];
    let mut others = Vec::new();
    for _ in 0..2 {
        let port = sandi_e2e::free_port();
        others.push(Killed(
            Command::new(docsvc())
                .args(["serve", "--dev-unseal", "--listen"])
                .arg(format!("127.0.0.1:{port}"))
                .arg("--data-dir")
                .arg(&data)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("another docsvc serve"),
        ));
        wait_port(port, "docsvc");
        bases.push(format!("https://127.0.0.1:{port}"));
    }
    let pdf = body(dir.path());

    // Where the register numbers every letter, a letter that brings its own number is refused.
    let budi = login_at(&node, &bases[0], BUDI);
    let r = budi.post_letter(
        &meta("biasa", &[AGUS], Some("005"), Some("005/9/X/2026")),
        &pdf,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("register"), "{}", r.text());
    // A letter without its archive code cannot be numbered.
    let r = budi.post_letter(&meta("biasa", &[AGUS], None, None), &pdf);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("kode"), "{}", r.text());

    let (writers, each) = (8, 125);
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let c = login_at(&node, &bases[w % bases.len()], BUDI);
            let pdf = pdf.clone();
            std::thread::spawn(move || {
                (0..each)
                    .map(|_| {
                        created(&c.post_letter(&meta("biasa", &[AGUS], Some("005"), None), &pdf))
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let made: Vec<(String, String)> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("a writer"))
        .collect();
    assert_eq!(made.len(), writers * each);

    // Every nomor once, and together exactly 1..=1000 in dinkes' pattern for this year.
    let y = year();
    let mut seqs = BTreeSet::new();
    for (_, nomor) in &made {
        let seq: u32 = nomor
            .strip_prefix("005/")
            .and_then(|r| r.strip_suffix(&format!("/DINKES/{y}")))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{nomor} is not 005/<urut>/DINKES/{y}"));
        assert!(seqs.insert(seq), "{nomor} given twice");
    }
    assert_eq!(seqs, (1..=1000).collect::<BTreeSet<u32>>());

    // The secretariat's register: the same thousand, newest first, each used by its letter.
    let siti = login_at(&node, &bases[1], SITI);
    let register = lines(&siti, "keluar", "");
    assert_eq!(register.len(), 1000);
    for (i, line) in register.iter().enumerate() {
        assert_eq!(line["seq"], json!(1000 - i), "{line}");
        assert_eq!(line["state"], "used", "{line}");
        let id = line["document_id"].as_str().expect("a letter");
        let nomor = &made.iter().find(|(d, _)| d == id).expect("a made letter").1;
        assert_eq!(line["number"].as_str(), Some(nomor.as_str()));
        assert_eq!(line["nomor"].as_str(), Some(nomor.as_str()));
    }
    let r = siti.get("/api/v1/registers/keluar?limit=1000&format=csv");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/csv"))
    );
    let text = r.text();
    assert_eq!(text.lines().count(), 1001, "a header and a line per letter");
    assert!(text.starts_with("urut,nomor_register,status"));
    assert!(
        text.contains(&format!("\"1\",\"005/1/DINKES/{y}\",\"used\"")),
        "{}",
        &text[..300]
    );
    drop(others);
    drop(node);
    sandi_e2e::pg::drop_postgres(&name).await;
}

/// On SQLite: a letter to another agency is entered in that agency's agenda, not one inside the
/// agency; a number whose letter fails stays in the register as void; a letter above the
/// secretary's clearance shows no perihal; only the agency's own secretariat reads its
/// registers, on the API and the web page.
#[test]
fn the_agenda_the_void_and_who_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = DevNode::start(docsvc(), &dir.path().join("node"), &[]);
    let pdf = body(dir.path());
    let y = year();
    let budi = login_at(&node, &node.base(), BUDI);
    let dewi = login_at(&node, &node.base(), DEWI);
    let siti = login_at(&node, &node.base(), SITI);

    // bappeda writes to dinkes: bappeda's number, dinkes' agenda.
    let (from_bappeda, nomor) =
        created(&dewi.post_letter(&meta("biasa", &[SITI], Some("800.1"), None), &pdf));
    assert_eq!(nomor, format!("800.1/1/BAPPEDA/{y}"));
    // Inside dinkes: numbered, but no agenda entry.
    let (_, inside) = created(&budi.post_letter(&meta("biasa", &[AGUS], Some("005"), None), &pdf));
    assert_eq!(inside, format!("005/1/DINKES/{y}"));
    // Numbered by hand elsewhere: kept, outside the register (this node allows it).
    let (_, by_hand) =
        created(&budi.post_letter(&meta("biasa", &[AGUS], None, Some("005/LAIN/2026")), &pdf));
    assert_eq!(by_hand, "005/LAIN/2026");

    let agenda = lines(&siti, "agenda", "");
    assert_eq!(agenda.len(), 1, "{agenda:?}");
    assert_eq!(agenda[0]["number"], json!(format!("1/AGENDA/DINKES/{y}")));
    assert_eq!(
        agenda[0]["document_id"].as_str(),
        Some(from_bappeda.as_str())
    );
    assert_eq!(agenda[0]["nomor"].as_str(), Some(nomor.as_str()));
    assert_eq!(agenda[0]["nip"], DEWI);
    assert_eq!(agenda[0]["state"], "entered");

    fails_after_its_number(&budi);
    // SANGAT RAHASIA, above Siti's clearance; held for a second approval but numbered.
    let (secret, _) =
        created(&budi.post_letter(&meta("sangat_rahasia", &[JOKO], Some("005"), None), &pdf));

    let keluar = lines(&siti, "keluar", "");
    let states: Vec<(i64, &str)> = keluar
        .iter()
        .map(|l| {
            (
                l["seq"].as_i64().expect("seq"),
                l["state"].as_str().expect("state"),
            )
        })
        .collect();
    assert_eq!(
        states,
        vec![(3, "used"), (2, "void"), (1, "used")],
        "{keluar:?}"
    );
    assert_eq!(keluar[0]["document_id"].as_str(), Some(secret.as_str()));
    assert!(
        keluar[0]["perihal"].is_null(),
        "above the reader's clearance: {}",
        keluar[0]
    );
    assert!(
        keluar[2]["perihal"]
            .as_str()
            .is_some_and(|p| p.contains("biasa"))
    );
    assert!(keluar[1]["document_id"].is_null());
    // A search looks at no perihal above the reader's clearance: not even whether it matches.
    assert!(lines(&siti, "keluar", "&q=sangat_rahasia").is_empty());
    assert_eq!(lines(&siti, "keluar", "&q=biasa").len(), 1);
    // Searched, and paged with the cursor.
    let found = lines(&siti, "keluar", "&q=005%2F1%2FDINKES");
    assert_eq!(found.len(), 1, "{found:?}");
    let older = lines(&siti, "keluar", "&before=3&limit=1");
    assert_eq!(older.len(), 1);
    assert_eq!(older[0]["seq"], 2);
    let bad = siti.get("/api/v1/registers/masuk");
    assert_eq!(bad.status, 400, "{}", bad.text());

    // Not the secretariat: refused, on the API and the page.
    let agus = login_at(&node, &node.base(), AGUS);
    let r = agus.get("/api/v1/registers/keluar");
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("secretariat"), "{}", r.text());
    let r = agus.get("/ui/registers");
    assert_eq!(r.status, 403, "{}", r.text());
    // The secretary's page lists the numbers and links the export.
    let r = siti.get("/ui/registers?book=keluar");
    assert_eq!(r.status, 200, "{}", r.text());
    let page = r.text();
    assert!(page.contains(&format!("005/1/DINKES/{y}")), "{page}");
    assert!(page.contains("format=csv"), "{page}");
    let r = siti.get("/ui/registers?book=agenda");
    assert!(r.text().contains(&format!("1/AGENDA/DINKES/{y}")));
}

/// A connection of a database writer to the node's database.
async fn connect(db: &str) -> sqlx::AnyConnection {
    use sqlx::Connection as _;
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(db)
        .await
        .expect("the node's database")
}

async fn sql(db: &str, statement: &str) -> u64 {
    sqlx::query(statement)
        .execute(&mut connect(db).await)
        .await
        .expect(statement)
        .rows_affected()
}

/// A database writer who renumbers an entry, turns a void number into a used one, points an
/// entry at another letter or deletes one is caught when the register is read: an integrity
/// incident, and the register refused rather than shown wrong.
#[tokio::test(flavor = "multi_thread")]
async fn a_database_writer_cannot_renumber_revive_or_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("node");
    let node = DevNode::start(docsvc(), &data, &[]);
    let db = format!("sqlite://{}", data.join("docsvc.db").display());
    let pdf = body(dir.path());
    let budi = login_at(&node, &node.base(), BUDI);
    let siti = login_at(&node, &node.base(), SITI);
    let (first, _) = created(&budi.post_letter(&meta("biasa", &[AGUS], Some("005"), None), &pdf));
    fails_after_its_number(&budi);
    let (third, _) = created(&budi.post_letter(&meta("biasa", &[AGUS], Some("005"), None), &pdf));
    assert_eq!(lines(&siti, "keluar", "").len(), 3);

    let refused = |what: &str| {
        let r = siti.get("/api/v1/registers/keluar?limit=1000");
        assert_eq!(r.status, 500, "{what}: {}", r.text());
        assert_eq!(r.json()["type"], "urn:sandi:problem:integrity", "{what}");
    };
    let y = year();
    let attacks = [
        (
            "renumbered",
            format!("UPDATE register_entries SET number = '005/99/DINKES/{y}' WHERE seq = 1"),
            format!("UPDATE register_entries SET number = '005/1/DINKES/{y}' WHERE seq = 1"),
        ),
        (
            "void made used",
            format!(
                "UPDATE register_entries SET state = 'used', document_id = '{first}' WHERE seq = 2"
            ),
            "UPDATE register_entries SET state = 'void', document_id = NULL WHERE seq = 2"
                .to_owned(),
        ),
        (
            "pointed at another letter",
            format!("UPDATE register_entries SET document_id = '{first}' WHERE seq = 3"),
            format!("UPDATE register_entries SET document_id = '{third}' WHERE seq = 3"),
        ),
    ];
    for (what, attack, undo) in &attacks {
        assert_eq!(sql(&db, attack).await, 1, "{what}");
        refused(what);
        assert_eq!(sql(&db, undo).await, 1, "{what}");
        assert_eq!(
            lines(&siti, "keluar", "").len(),
            3,
            "{what} undone reads again"
        );
    }
    // The newest entry cut and the counter set back to hide it: the read cannot tell, but the
    // number comes round again on a stored letter and is refused, never printed twice.
    assert_eq!(
        sql(&db, "DELETE FROM register_entries WHERE seq = 3").await,
        1
    );
    assert_eq!(
        sql(
            &db,
            "UPDATE register_counters SET last = 2 WHERE book = 'keluar'"
        )
        .await,
        1
    );
    // Another kode prints another string: the sequence is what a letter carries.
    let r = budi.post_letter(&meta("biasa", &[AGUS], Some("800"), None), &pdf);
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(r.json()["type"], "urn:sandi:problem:integrity");
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM documents WHERE register_seq = 3").await,
        1,
        "no second letter with the sequence number"
    );
    // A deleted entry (its row and MAC gone whole) is a hole below the counter.
    assert_eq!(
        sql(&db, "DELETE FROM register_entries WHERE seq = 2").await,
        1
    );
    refused("deleted");
    let r = siti.get("/api/v1/registers/keluar?limit=1000&format=csv");
    assert_eq!(r.status, 500, "the export is refused too: {}", r.text());
    // Each was logged as an integrity incident in the access log, and the log still verifies.
    let incidents = count(
        &db,
        "SELECT COUNT(*) FROM audit_log WHERE entry LIKE '%integrity_incident%' \
         AND entry LIKE '%register%'",
    )
    .await;
    assert!(incidents >= 5, "{incidents} incidents logged");
    let o = Command::new(docsvc())
        .args(["audit", "verify", "--data-dir"])
        .arg(&data)
        .output()
        .expect("docsvc audit verify");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

async fn count(db: &str, query: &str) -> i64 {
    use sqlx::Row as _;
    sqlx::query(query)
        .fetch_one(&mut connect(db).await)
        .await
        .expect(query)
        .try_get::<i64, _>(0)
        .expect("a count")
}
