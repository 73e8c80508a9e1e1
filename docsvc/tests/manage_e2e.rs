//! The whole UI (issue 21): what the API lets officials and administrators do is on pages too.
//! On a letter's page its originator reclassifies it with the PIN and sees its earlier
//! version; the persandian officer destroys a letter past its retention from her retention
//! list (a younger one is neither listed nor destroyed); a reader with the
//! export right is told to register a personal key first. On the administration page an
//! administrator suspends an official (whose session ends) and reactivates them, and sees the
//! outbox, and suspends and reactivates an application. Every form needs its CSRF token, and the PIN where it signs.

use std::path::Path;

use sandi_e2e::http::{Client, Response};
use sandi_e2e::node::DevNode;
use serde_json::json;

const BUDI: &str = "197501012000031001"; // dinkes head
const SITI: &str = "198002022005012002"; // dinkes secretary
const AGUS: &str = "198503032010013003"; // dinkes staff
const MAYA: &str = "198806062012122006"; // diskominfo, pengelola_sandi, admin

fn docsvc() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_docsvc"))
}

fn pin(node: &DevNode, nip: &str) -> String {
    node.creds[nip].1.clone()
}

/// The CSRF token a page's forms carry.
fn csrf(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form") + 19;
    page[at..].split('"').next().expect("token").to_owned()
}

fn form(c: &Client, path: &str, fields: &[(&str, &str)]) -> Response {
    let mut args = Vec::new();
    for (k, v) in fields {
        args.push("--data-urlencode".to_owned());
        args.push(format!("{k}={v}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    c.call("POST", path, &args)
}

fn letter(budi: &Client, level: &str) -> String {
    let r = budi.post_words(
        &json!({
            "perihal": "Laporan kegiatan", "classification": level, "urgency": "biasa",
            "recipients": [SITI], "kode": "005",
        }),
        &json!({ "isi": "Isi laporan." }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_str().expect("id").to_owned()
}

fn the_letters_page(node: &DevNode) {
    let budi = node.login(BUDI, true, node.data.join("budi.jar"));
    let id = letter(&budi, "biasa");
    let page = budi.get(&format!("/ui/letters/{id}")).text();
    assert!(page.contains("form class=\"reclassify\""), "{page}");
    assert!(
        page.contains("form class=\"destroy\""),
        "the originator may destroy"
    );
    let token = csrf(&page);
    let path = format!("/ui/letters/{id}/reclassify");
    let fields = |pin: &str, csrf: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("classification", "terbatas".to_owned()),
            ("reason", "memuat data pribadi".to_owned()),
            ("pin", pin.to_owned()),
        ]
    };
    let send = |f: Vec<(&str, String)>| {
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        form(&budi, &path, &f)
    };
    assert_eq!(send(fields(&pin(node, BUDI), "wrong")).status, 403, "CSRF");
    let r = send(fields("000000", &token));
    assert_eq!(r.status, 403, "a wrong PIN: {}", r.text());
    let r = send(fields(&pin(node, BUDI), &token));
    assert_eq!(r.status, 303, "{}", r.text());
    let page = budi.get(&format!("/ui/letters/{id}")).text();
    assert!(
        page.contains("Versi sebelumnya") && page.contains("Versi 1 · biasa"),
        "{page}"
    );
    let v = budi.get(&format!("/api/v1/documents/{id}")).json();
    assert_eq!(v["manifest"]["classification"], "terbatas", "{v}");

    // Siti may export it, and is told how.
    let siti = node.login(SITI, true, node.data.join("siti.jar"));
    let page = siti.get(&format!("/ui/letters/{id}")).text();
    assert!(page.contains("kunci age pribadi"), "{page}");
}

/// How many officials have letter `id` unread (the count every page shows).
async fn unread(conn: &mut sqlx::AnyConnection, id: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM unread WHERE document_id = $1")
        .bind(id)
        .fetch_one(conn)
        .await
        .expect("unread")
}

/// Budi cannot destroy his letter before its retention ends; Maya, the persandian officer,
/// finds it past its retention on her list and destroys it there: the record is signed,
/// readers get 410.
async fn destroyed_from_its_page(node: &DevNode) {
    use sqlx::Connection as _;
    let budi = node.login(BUDI, true, node.data.join("budi2.jar"));
    let id = letter(&budi, "biasa");
    sqlx::any::install_default_drivers();
    let db = format!("sqlite://{}", node.data.join("docsvc.db").display());
    let mut conn = sqlx::AnyConnection::connect(&db).await.expect("db");
    sqlx::query("UPDATE documents SET created_at = '2015-01-02T08:00:00Z' WHERE id = $1")
        .bind(&id)
        .execute(&mut conn)
        .await
        .expect("years pass");
    assert_eq!(unread(&mut conn, &id).await, 1, "Siti's, unopened");
    let page = budi.get(&format!("/ui/letters/{id}")).text();
    let token = csrf(&page);
    let destroy = |id: &str| {
        form(
            &budi,
            &format!("/ui/letters/{id}/destroy"),
            &[
                ("csrf", &token),
                ("reason", "jadwal retensi arsip: musnah"),
                ("pin", &pin(node, BUDI)),
            ],
        )
    };
    let young = letter(&budi, "biasa");
    let r = destroy(&young);
    assert_eq!(r.status, 409, "retention not over: {}", r.text());
    // The persandian officer, who cannot read it, finds it on the retention list (the young
    // one is not there) and destroys it from there.
    let maya = node.login(MAYA, true, node.data.join("maya.jar"));
    assert_eq!(maya.get(&format!("/ui/letters/{id}")).status, 403);
    let list = maya.get("/ui/retention");
    assert_eq!(list.status, 200, "{}", list.text());
    let list = list.text();
    assert!(
        list.contains(&format!("/ui/letters/{id}/destroy")),
        "{list}"
    );
    assert!(
        !list.contains(&young) && !list.contains("Laporan kegiatan"),
        "{list}"
    );
    assert_eq!(budi.get("/ui/retention").status, 403, "the officer's list");
    let r = form(
        &maya,
        &format!("/ui/letters/{id}/destroy"),
        &[
            ("csrf", &csrf(&list)),
            ("reason", "jadwal retensi arsip: musnah"),
            ("pin", &pin(node, MAYA)),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert!(
        !maya.get("/ui/retention").text().contains(&id),
        "gone from the list"
    );
    assert_eq!(
        unread(&mut conn, &id).await,
        0,
        "a destroyed letter is no one's unread letter"
    );
    let again = destroy(&id).status;
    assert!(again == 409 || again == 410, "destroyed once: {again}");
    let siti = node.login(SITI, true, node.data.join("siti2.jar"));
    let r = siti.get(&format!("/api/v1/documents/{id}/content"));
    assert_eq!(r.status, 410, "{}", r.text());
    let record = budi.get(&format!("/api/v1/documents/{id}/destruction"));
    assert_eq!(record.status, 200, "{}", record.text());
}

/// Maya suspends Agus (his session ends at once), then makes him active again; the outbox
/// has nothing waiting on a single node, and retrying what is not there is 404.
fn the_administrators_page(node: &DevNode) {
    let agus = node.login(AGUS, false, node.data.join("agus.jar"));
    assert_eq!(agus.get("/api/v1/me").status, 200);
    let maya = node.login(MAYA, false, node.data.join("maya2.jar"));
    let page = maya.get("/ui/admin").text();
    assert!(page.contains("Semua surat sudah terkirim."), "{page}");
    assert!(page.contains(&format!("Nonaktifkan {AGUS}")), "{page}");
    let token = csrf(&page);
    let status = |s: &str| {
        form(
            &maya,
            &format!("/ui/admin/officials/{AGUS}/status"),
            &[("csrf", &token), ("status", s)],
        )
    };
    assert_eq!(status("suspended").status, 303);
    assert_eq!(agus.get("/api/v1/me").status, 401, "his session ended");
    assert!(
        maya.get("/ui/admin")
            .text()
            .contains(&format!("Aktifkan {AGUS}"))
    );
    assert_eq!(status("active").status, 303);
    let agus = node.login(AGUS, false, node.data.join("agus2.jar"));
    assert_eq!(agus.get("/api/v1/me").status, 200);
    let r = form(
        &maya,
        "/ui/admin/outbox/retry",
        &[("csrf", &token), ("document", "nope"), ("node", "bappeda")],
    );
    assert_eq!(r.status, 404, "{}", r.text());
    // Not an administrator: refused.
    let page = agus.get("/ui/inbox").text();
    let r = form(
        &agus,
        "/ui/admin/outbox/retry",
        &[("csrf", &csrf(&page)), ("document", "x"), ("node", "y")],
    );
    assert_eq!(r.status, 403, "{}", r.text());
}

/// A call of the quickstart's `e-office` application to the signing API, with its client
/// certificate.
fn app_signs(node: &DevNode) -> Response {
    let app = node.data.join("apps/e-office");
    Client::new(&node.base(), &node.root_ca(), node.data.join("app.jar")).post_json_as(
        &app.join("client.pem"),
        &app.join("client.key"),
        "/api/v1/sign",
        &json!({ "content": "aGFsbw==" }),
    )
}

/// Maya suspends the `e-office` application on her page: its next signature is refused, and
/// signs again once she reactivates it. Agus, no administrator, cannot, and neither page nor
/// API revives a revoked application.
fn applications_on_the_administrators_page(node: &DevNode) {
    assert_eq!(app_signs(node).status, 200, "{}", app_signs(node).text());
    let maya = node.login(MAYA, false, node.data.join("maya3.jar"));
    let page = maya.get("/ui/admin").text();
    assert!(page.contains("Nonaktifkan e-office"), "{page}");
    let token = csrf(&page);
    let status = |c: &Client, token: &str, s: &str| {
        form(
            c,
            "/ui/admin/applications/e-office/status",
            &[("csrf", token), ("status", s)],
        )
    };
    assert_eq!(status(&maya, &token, "suspended").status, 303);
    let r = app_signs(node);
    assert!(
        r.status == 401 || r.status == 403,
        "{}: {}",
        r.status,
        r.text()
    );
    assert!(maya.get("/ui/admin").text().contains("Aktifkan e-office"));
    let agus = node.login(AGUS, false, node.data.join("agus3.jar"));
    let r = status(&agus, &csrf(&agus.get("/ui/inbox").text()), "active");
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(status(&maya, &token, "active").status, 303);
    assert_eq!(app_signs(node).status, 200);
    // Over the API too; a revoked application stays revoked.
    let put = |s: &str| {
        maya.call(
            "PUT",
            "/api/v1/admin/applications/e-office/status",
            &[
                "-H",
                "content-type: application/json",
                "--data-binary",
                &json!({ "status": s }).to_string(),
            ],
        )
    };
    assert_eq!(put("revoked").status, 204);
    assert_eq!(put("active").status, 409, "revoked stays revoked");
    let r = app_signs(node);
    assert!(
        r.status == 401 || r.status == 403,
        "{}: {}",
        r.status,
        r.text()
    );
    assert_eq!(put("nonsense").status, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn what_the_api_does_is_on_pages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = DevNode::start(docsvc(), &dir.path().join("node"), &[]);
    let node = tokio::task::spawn_blocking(move || {
        the_letters_page(&node);
        tokio::runtime::Handle::current().block_on(destroyed_from_its_page(&node));
        the_administrators_page(&node);
        applications_on_the_administrators_page(&node);
        node
    })
    .await
    .expect("the pages");
    drop(node);
}
