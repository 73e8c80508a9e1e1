//! Mailboxes past their first page (issue 21): the API pages with a cursor (`Link: <…>;
//! rel="next"`), filters by urgency, state, day and unread, and every web page shows what waits
//! for the viewer (unread letters, approvals).

use std::collections::BTreeSet;
use std::path::Path;

use sandi_e2e::http::Client;
use sandi_e2e::node::DevNode;
use serde_json::json;

const BUDI: &str = "197501012000031001"; // dinkes, sangat_rahasia, approver
const SITI: &str = "198002022005012002"; // dinkes, rahasia, sekretaris
const JOKO: &str = "196812082000031008"; // dinkes, sangat_rahasia, approver

fn docsvc() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_docsvc"))
}

fn login(node: &DevNode, nip: &str) -> Client {
    node.login(nip, true, node.data.join(format!("{nip}.jar")))
}

/// The ids of a page and the path of the next one, if the server named one.
fn page(c: &Client, path: &str) -> (Vec<String>, Option<String>) {
    let r = c.get(path);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    let ids = r
        .json()
        .as_array()
        .expect("a list")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_owned())
        .collect();
    let next = r.header("link").map(|l| {
        assert!(l.ends_with("; rel=\"next\""), "{l}");
        l.trim_start_matches('<')
            .split_once('>')
            .expect("<url>")
            .0
            .to_owned()
    });
    (ids, next)
}

#[test]
fn mailboxes_page_filter_and_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = DevNode::start(docsvc(), &dir.path().join("node"), &[]);
    let pdf = dir.path().join("surat.pdf");
    std::fs::write(&pdf, b"%PDF-1.7\nsurat\n").expect("write");
    let budi = login(&node, BUDI);
    let mut sent = Vec::new();
    for (i, urgency) in ["biasa", "kilat", "segera", "kilat", "biasa"]
        .iter()
        .enumerate()
    {
        let meta = json!({
            "kode": "005", "perihal": format!("Surat ke-{i}"), "classification": "terbatas",
            "urgency": urgency, "recipients": [SITI],
        });
        let r = budi.post_letter(&meta, &pdf);
        assert_eq!(r.status, 201, "{}", r.text());
        sent.push(r.json()["id"].as_str().expect("id").to_owned());
    }
    let siti = login(&node, SITI);

    // Pages of two, newest first, each letter once, until a short page names no next.
    let mut seen = Vec::new();
    let mut path = Some("/api/v1/documents?box=inbox&limit=2".to_owned());
    let mut pages = 0;
    while let Some(p) = path {
        let (ids, next) = page(&siti, &p);
        assert!(ids.len() <= 2);
        seen.extend(ids);
        path = next;
        pages += 1;
        assert!(pages <= 4, "the cursor must end");
    }
    // Stored times have whole seconds; within one, the id orders. Each letter once, all five.
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert_eq!(
        seen.iter().collect::<BTreeSet<_>>(),
        sent.iter().collect::<BTreeSet<_>>()
    );
    assert_eq!(pages, 3);

    // Filters: urgency, and the days the letters were stored on.
    let (kilat, _) = page(&siti, "/api/v1/documents?urgency=kilat");
    assert_eq!(
        kilat.iter().collect::<BTreeSet<_>>(),
        [&sent[1], &sent[3]].into_iter().collect()
    );
    let today = time::OffsetDateTime::now_utc().date();
    let yesterday = today.previous_day().expect("a day");
    let (before, _) = page(&siti, &format!("/api/v1/documents?to={yesterday}"));
    assert!(before.is_empty(), "{before:?}");
    let (all, _) = page(&siti, &format!("/api/v1/documents?from={today}&to={today}"));
    assert_eq!(all.len(), 5);
    let (held, _) = page(&siti, "/api/v1/documents?state=awaiting_approval");
    assert!(held.is_empty());

    // Unread: every page counts it; opening one letter takes it off.
    let r = siti.get("/ui/outbox");
    assert_eq!(r.status, 200);
    assert!(
        r.text().contains("5<span class=\"sr\"> belum dibaca"),
        "{}",
        r.text()
    );
    let out = dir.path().join("read.pdf");
    let r = siti.download(&format!("/api/v1/documents/{}/content", sent[1]), &out);
    assert_eq!(r.status, 200, "{}", r.text());
    let (unread, _) = page(&siti, "/api/v1/documents?unread=true");
    assert_eq!(unread.len(), 4);
    assert!(!unread.contains(&sent[1]));
    let (first, next) = page(&siti, "/api/v1/documents?urgency=kilat&unread=true&limit=1");
    assert_eq!(first, vec![sent[3].clone()]);
    assert!(next.is_none(), "nothing more to name: {next:?}");
    // The filters travel with the cursor: kilat letters a page at a time.
    let (first, next) = page(&siti, "/api/v1/documents?urgency=kilat&limit=1");
    let next = next.expect("a full page with more after it names the next");
    assert!(next.contains("urgency=kilat"), "{next}");
    let (second, last) = page(&siti, &next);
    assert!(last.is_none(), "{last:?}");
    assert_eq!(
        first.iter().chain(&second).collect::<BTreeSet<_>>(),
        [&sent[1], &sent[3]].into_iter().collect()
    );
    assert!(
        siti.get("/ui/outbox")
            .text()
            .contains("4<span class=\"sr\"> belum dibaca")
    );
    let r = siti.get("/ui/inbox?urgency=kilat&unread=1");
    assert_eq!(r.status, 200);
    let text = r.text();
    assert!(text.contains("Surat ke-3"), "{text}");
    assert!(!text.contains("Surat ke-1") && !text.contains("Surat ke-2"));

    // A SANGAT RAHASIA letter held for a second approval: Joko's pages count it.
    let meta = json!({
        "kode": "005", "perihal": "Rahasia negara", "classification": "sangat_rahasia",
        "urgency": "kilat", "recipients": [JOKO],
    });
    assert_eq!(budi.post_letter(&meta, &pdf).status, 201);
    let joko = login(&node, JOKO);
    assert!(
        joko.get("/ui/outbox")
            .text()
            .contains("1<span class=\"sr\"> menunggu"),
        "the approval waits"
    );

    refuses_what_is_not_a_filter(&siti);
}

/// What is not a cursor, a day or a filter word is refused.
fn refuses_what_is_not_a_filter(siti: &Client) {
    for bad in [
        "/api/v1/documents?after=nonsense",
        "/api/v1/documents?from=2026-13-01",
        "/api/v1/documents?urgency=KILAT%27--",
    ] {
        let r = siti.get(bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
}
