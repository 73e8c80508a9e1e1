//! Templates with the kop surat (issue 21): a surat dinas, a nota dinas, a surat undangan with
//! its event and a surat edaran, each written as words on the API and rendered under dinkes'
//! letterhead; poppler's `pdfsig` finds each signature valid, `qpdf --check` finds each file
//! sound, and `pdftotext` reads the letterhead and what each kind puts in its head. A draft
//! carries its kind and event through its paraf into the letter.

use std::path::Path;
use std::process::Command;

use sandi_e2e::http::Client;
use sandi_e2e::node::{DevNode, require};
use serde_json::json;

const BUDI: &str = "197501012000031001"; // dinkes head
const SITI: &str = "198002022005012002"; // dinkes secretary
const DEWI: &str = "197704042002122004"; // bappeda head

fn docsvc() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_docsvc"))
}

/// The letter `id` as `who` downloads it, checked by pdfsig and qpdf: its text as pdftotext
/// reads it.
fn checked_text(who: &Client, id: &str, dir: &Path) -> String {
    let pdf = dir.join(format!("{id}.pdf"));
    let r = who.download(&format!("/api/v1/documents/{id}/content"), &pdf);
    assert_eq!(r.status, 200, "{}", r.headers);
    let run = |tool: &str, args: &[&str]| {
        let out = Command::new(tool)
            .args(args)
            .arg(&pdf)
            .args(if tool == "pdftotext" {
                &["-"][..]
            } else {
                &[][..]
            })
            .output()
            .expect(tool);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{tool}: {text}");
        text
    };
    let sig = run("pdfsig", &[]);
    assert!(
        sig.contains("Signature Validation: Signature is Valid."),
        "{sig}"
    );
    run("qpdf", &["--check"]);
    run("pdftotext", &["-layout"])
}

fn write(c: &Client, jenis: &str, to: &str, acara: Option<serde_json::Value>) -> String {
    let meta = json!({
        "perihal": "Evaluasi program imunisasi", "classification": "biasa",
        "urgency": "biasa", "recipients": [to], "copies": ["196812082000031008"], "kode": "005",
    });
    let mut naskah = json!({
        "isi": "Dengan hormat,\n\nbersama ini kami sampaikan hal evaluasi.\n\nDemikian.",
        "tempat": "Kota Contoh", "jenis": jenis,
    });
    if let Some(a) = acara {
        naskah["acara"] = a;
    }
    let r = c.post_words(&meta, &naskah);
    assert_eq!(r.status, 201, "{jenis}: {}", r.text());
    r.json()["id"].as_str().expect("id").to_owned()
}

#[test]
fn each_kind_is_laid_out_under_the_letterhead_and_signed() {
    for tool in ["pdfsig", "qpdf", "pdftotext"] {
        require(tool);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let node = DevNode::start(docsvc(), &dir.path().join("node"), &[]);
    let budi = node.login(BUDI, true, dir.path().join("budi.jar"));
    let siti = node.login(SITI, true, dir.path().join("siti.jar"));
    let dewi = node.login(DEWI, true, dir.path().join("dewi.jar"));
    let kop = |t: &str| {
        assert!(
            t.contains("DINAS KESEHATAN") && t.contains("Jalan Merdeka Nomor 1"),
            "the letterhead: {t}"
        );
    };

    let t = checked_text(&dewi, &write(&budi, "surat_dinas", DEWI, None), dir.path());
    kop(&t);
    assert!(
        t.contains("Perihal") && t.contains("Yth.") && !t.contains("NOTA DINAS"),
        "{t}"
    );

    let t = checked_text(&siti, &write(&budi, "nota_dinas", SITI, None), dir.path());
    kop(&t);
    assert!(
        t.contains("NOTA DINAS") && t.contains("Dari") && t.contains("Hal"),
        "{t}"
    );
    assert!(!t.contains("di tempat"), "{t}");

    let acara = json!({
        "hari": "Senin, 7 Desember 2026", "waktu": "09.00 WIB s.d. selesai",
        "tempat": "Ruang Rapat Lantai 2", "acara": "Evaluasi program imunisasi",
    });
    let t = checked_text(
        &dewi,
        &write(&budi, "surat_undangan", DEWI, Some(acara.clone())),
        dir.path(),
    );
    kop(&t);
    assert!(
        t.contains("hari, tanggal") && t.contains("Ruang Rapat Lantai 2"),
        "{t}"
    );

    let t = checked_text(&dewi, &write(&budi, "surat_edaran", DEWI, None), dir.path());
    kop(&t);
    assert!(t.contains("SURAT EDARAN") && t.contains("TENTANG"), "{t}");
    assert!(t.contains("Ditetapkan di Kota Contoh"), "{t}");

    // An event belongs to an invitation only; an unknown kind is no kind.
    let meta = json!({
        "perihal": "Uji", "classification": "biasa", "urgency": "biasa",
        "recipients": [DEWI], "kode": "005",
    });
    let r = budi.post_words(
        &meta,
        &json!({ "isi": "Isi", "jenis": "nota_dinas", "acara": acara }),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = budi.post_words(&meta, &json!({ "isi": "Isi", "jenis": "memo" }));
    assert_eq!(r.status, 400, "{}", r.text());

    // A draft keeps its kind and event through its paraf.
    let r = siti.post_json(
        "/api/v1/drafts",
        &json!({
            "perihal": "Undangan rapat", "classification": "biasa", "urgency": "biasa",
            "recipients": [DEWI], "kode": "005", "isi": "Dengan hormat,\n\nkami mengundang.",
            "jenis": "surat_undangan", "acara": acara, "reviewers": [], "signer": BUDI,
        }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let draft = r.json()["id"].as_str().expect("id").to_owned();
    let v = siti.get(&format!("/api/v1/drafts/{draft}")).json();
    assert_eq!(v["jenis"], "surat_undangan", "{v}");
    let r = siti.post_json(&format!("/api/v1/drafts/{draft}/submit"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = budi.post_json(&format!("/api/v1/drafts/{draft}/sign"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let t = checked_text(&dewi, &id, dir.path());
    assert!(t.contains("Ruang Rapat Lantai 2"), "{t}");
    let page = budi.get("/ui/compose").text();
    assert!(
        page.contains("c-jenis") && page.contains("Surat edaran"),
        "{page}"
    );
}
