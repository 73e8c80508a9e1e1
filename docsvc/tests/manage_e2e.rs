//! The whole UI (issue 21): what the API lets officials and administrators do is on pages too.
//! On a letter's page its originator reclassifies it with the PIN and sees its earlier
//! version, and destroys one past its retention (not one younger); a reader with the
//! export right is told to register a personal key first. On the administration page an
//! administrator suspends an official (whose session ends) and reactivates them, and sees the
//! outbox. Every form needs its CSRF token, and the PIN where it signs.

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

/// Maya destroys a letter past its retention from its page: the record is signed, readers
/// get 410.
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
    let r = destroy(&id);
    assert_eq!(r.status, 303, "{}", r.text());
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

#[tokio::test(flavor = "multi_thread")]
async fn what_the_api_does_is_on_pages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = DevNode::start(docsvc(), &dir.path().join("node"), &[]);
    let node = tokio::task::spawn_blocking(move || {
        the_letters_page(&node);
        tokio::runtime::Handle::current().block_on(destroyed_from_its_page(&node));
        the_administrators_page(&node);
        node
    })
    .await
    .expect("the pages");
    drop(node);
}
