//! Issue 20, letters as signed PDFs: a letter written as words (`naskah`) is rendered by the
//! node in the tata naskah dinas layout and PAdES-signed by its official, time-stamped by
//! sandi's TSA, then given the DSS and a document time-stamp (B-LTA). Checked by tools we did
//! not write: poppler's `pdfsig` (the signature valid, the document time-stamp covering the
//! whole file), pyHanko (intact and trusted against sandi's root; AdES validation on the
//! revocation data the file carries alone),
//! `qpdf --check`, `pdftotext` (the marking on every page), `pdftoppm` and `zbarimg` (the QR
//! code leads to the node's verification page, whose token the node holds by hash alone).
//! One byte changed anywhere the signature covers is caught by all of them and by sandi.

mod common;

use std::net::{IpAddr, Ipv6Addr};
use std::path::Path;

use docsvc::crypto::pades;
use docsvc::letters::copies;
use docsvc::letters::documents;
use docsvc::node::Node;
use policies::Level;

use common::pdf::{
    JOKO, PDFSIG_CANNOT_CHECK_TIMESTAMP, SITI, pyhanko, pyhanko_ades, qpdf_accepts, qr_url,
    rendered_letter, run, screenshots,
};
use common::{BUDI, node_pins, stepped_up};
use sandi_e2e::steps::Steps;

const AGUS: &str = "198503032010013003";
const HENDRA: &str = "198207072008011007";

#[tokio::test(flavor = "multi_thread")]
async fn a_letter_written_as_words_is_a_pades_signed_pdf_that_outside_tools_accept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, _) = node_pins(dir.path(), None).await;
    let (id, pdf) = rendered_letter(
        &node,
        Level::Rahasia,
        "Pengamanan informasi berklasifikasi",
        9,
    )
    .await;
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    std::fs::write(w.join("surat.pdf"), &pdf).expect("write");
    let ca = |n: &str| std::fs::read_to_string(node.layout.ca(n)).expect("ca");
    std::fs::write(w.join("root.pem"), ca("root.pem")).expect("root");
    // For a person to look at with other tools: the PDF and sandi's root beside it.
    if let Some(keep) = std::env::var_os("SANDI_KEEP_PDF") {
        let keep = std::path::PathBuf::from(keep);
        std::fs::write(&keep, &pdf).expect("keep the PDF");
        std::fs::write(keep.with_extension("root.pem"), ca("root.pem")).expect("keep the root");
    }

    let mut steps = Steps::new();
    steps.run(
        "sandi reads its own signature and document time-stamp: valid, whole file",
        || {
            sandi_reads_it(&node, &pdf);
        },
    );
    steps.run("pdfsig, qpdf and pyHanko accept it", || {
        outside_tools_accept(w);
    });
    let mut pages = 0;
    steps.run(
        "pdftotext: the layout's fields and the marking on every page",
        || {
            pages = markings_and_fields(w);
        },
    );
    steps
        .run_async(
            "the QR code leads to /verifikasi/<token>, held by hash",
            the_qr_code_leads_to_the_page(&node, w, &id, pages.max(1)),
        )
        .await;
    steps
        .run_async(
            "a time-stamp over bytes someone added after the signature is not sandi's",
            a_time_stamp_vouches_for_nothing_added(&node, &pdf),
        )
        .await;
    steps.run(
        "one byte changed: sandi, pdfsig and pyHanko refuse it",
        || {
            one_byte_changed_is_refused(&node, w, &pdf);
        },
    );
    steps.finish();
}

/// sandi's own reading: one signature by Budi, time-stamped, then a document time-stamp over
/// the whole file; the DSS carries the CRLs of the Signing CA and of the root.
fn sandi_reads_it(node: &Node, pdf: &[u8]) {
    let found = pades::embedded(pdf).expect("signatures");
    assert_eq!(found.len(), 2, "the signature and the document time-stamp");
    assert!(!found[0].timestamp && !found[0].covers_whole);
    assert!(found[1].timestamp && found[1].covers_whole);
    let v =
        pades::verify(pdf, &found[0], &node.trust, time::OffsetDateTime::now_utc()).expect("valid");
    assert_eq!(v.nip.as_deref(), Some(BUDI));
    assert!(v.timestamp.is_some(), "B-T: the TSA's token is in the CMS");
    let t = pades::verify_timestamp(pdf, &found[1], &node.trust).expect("the document time-stamp");
    assert!(
        t.at >= v.timestamp.expect("stamped").at,
        "after the signature's own"
    );
    assert!(
        pades::verify(pdf, &found[1], &node.trust, time::OffsetDateTime::now_utc()).is_err(),
        "a time-stamp is not taken for a signature"
    );
    assert!(
        pades::verify_timestamp(pdf, &found[0], &node.trust).is_err(),
        "nor a signature for a time-stamp"
    );
    for ca in [node.signing_ca_der.as_slice(), node.trust.root_der()] {
        let crl = node.crls.current_der(ca).expect("the node holds the CRL");
        assert!(contains(pdf, &crl), "the DSS carries it");
    }
}

/// Anyone may ask sandi's TSA for a token: an attacker appends a revision of their own after
/// Budi's signature (here a comment, standing for a page drawn anew) and time-stamps the whole
/// as sandi does. The verification page and sandi's own check refuse it: after a signature
/// only the exact update sandi writes counts.
async fn a_time_stamp_vouches_for_nothing_added(node: &Node, pdf: &[u8]) {
    use docsvc::letters::render::timestamp::{Validation, update};
    let found = pades::embedded(pdf).expect("signatures");
    let signed_end = found[0].ranges[2] + found[0].ranges[3];
    let mut added = pdf[..signed_end].to_vec();
    added.extend_from_slice(b"\n% a page drawn anew by someone else\n");
    let (certs, crls) = (vec![node.trust.root_der().to_vec()], Vec::new());
    let prepared = update(
        &added,
        &Validation {
            certs: &certs,
            crls: &crls,
        },
    )
    .expect("the attacker's update");
    let token = docsvc::node::tsa::stamp_digest(node, &prepared.digest(&ring::digest::SHA256))
        .await
        .expect("the public TSA stamps anything");
    let forged = prepared.embed(&token).expect("embedded");
    let found = pades::embedded(&forged).expect("found");
    assert!(found[1].timestamp && found[1].covers_whole);
    // The token itself is genuine ...
    pades::verify_timestamp(&forged, &found[1], &node.trust).expect("a genuine token");
    // ... but it is not sandi's time-stamp after Budi's signature.
    let report = docsvc::letters::verification::uploaded(node, &forged, None)
        .await
        .expect("judged");
    assert!(!report.valid, "{report:?}");
    assert!(report.signers[0].valid, "Budi's signature itself stands");
    assert!(!report.stamps[0].valid, "{report:?}");
}

fn outside_tools_accept(w: &Path) {
    let (ok, out) = run(w, "pdfsig", &["surat.pdf"]);
    assert!(ok, "pdfsig: {out}");
    assert!(
        out.contains("Signature Validation: Signature is Valid."),
        "{out}"
    );
    assert!(out.contains("ETSI.CAdES.detached"), "{out}");
    assert!(out.contains("Budi Santoso"), "{out}");
    // The document time-stamp after it covers the whole file; poppler lists it but cannot
    // check an RFC 3161 time-stamp (pyHanko does, below).
    assert!(out.contains("Stempel waktu dokumen 1"), "{out}");
    assert!(out.contains("sandi Time-Stamping Authority"), "{out}");
    assert_eq!(out.matches("Total document signed").count(), 1, "{out}");
    assert_eq!(
        out.matches(PDFSIG_CANNOT_CHECK_TIMESTAMP).count(),
        1,
        "{out}"
    );

    qpdf_accepts(w, "surat.pdf");

    // As pyHanko judges it: the signature intact and trusted to sandi's root alone, its
    // time-stamp token intact and trusted (B-T), and nothing after it but what long-term
    // validation adds (the DSS and the document time-stamp). (Revocation is looked up online,
    // softly: the CRL addresses of a test node answer nobody.)
    let (ok, out) = pyhanko(w, "surat.pdf");
    assert!(ok, "pyHanko: {out}");
    assert!(
        out.contains(
            ":INTACT:TRUSTED,TIMESTAMP_TOKEN<INTACT:TRUSTED>,EXTENDED_WITH_LTA_UPDATES,ACCEPTABLE_MODIFICATIONS"
        ),
        "pyHanko: {out}"
    );
    // B-LTA: AdES validation with revocation data required and none fetched passes on what
    // the PDF carries.
    let (ok, out) = pyhanko_ades(w, "surat.pdf");
    assert!(ok, "pyHanko adesverify: {out}");
    assert!(out.contains("The signature is judged VALID."), "{out}");
    assert!(
        out.contains("All modifications relate to signature maintenance"),
        "{out}"
    );
}

/// The rendered layout as pdftotext reads it; how many pages it has.
fn markings_and_fields(w: &Path) -> usize {
    let (ok, text) = run(w, "pdftotext", &["-layout", "surat.pdf", "-"]);
    assert!(ok, "pdftotext: {text}");
    let pages: Vec<&str> = text
        .split('\u{c}')
        .filter(|p| !p.trim().is_empty())
        .collect();
    assert!(pages.len() >= 2, "the body runs onto a second page: {text}");
    for (i, page) in pages.iter().enumerate() {
        assert!(
            page.matches("RAHASIA").count() >= 2,
            "page {} carries the marking at its top and bottom: {page}",
            i + 1
        );
    }
    for field in [
        "Nomor",
        "005/321/DINKES/XII/2026",
        "Sifat",
        "Lampiran",
        "1 (satu) berkas",
    ] {
        assert!(text.contains(field), "{field} in {text}");
    }
    for who in [
        "Siti Rahmawati",
        "Tembusan",
        "Joko Prasetyo",
        "NIP. 197501012000031001",
    ] {
        assert!(text.contains(who), "{who} in {text}");
    }
    assert!(text.contains("Bandung, 1 Desember 2026"), "{text}");

    pages.len()
}

async fn the_qr_code_leads_to_the_page(node: &Node, w: &Path, id: &str, pages: usize) {
    // The stamp stands in the signature block, on the last page.
    let pdf = std::fs::read(w.join("surat.pdf")).expect("the PDF");
    let shot = screenshots().join("pdf-surat-rahasia-last-page.png");
    let url = qr_url(&pdf, pages, Some(&shot));
    let url = url.as_str();
    let token = url
        .strip_prefix(&format!("https://{}/verifikasi/", node.config.listen))
        .unwrap_or_else(|| panic!("the QR code leads to the verification page: {url:?}"));
    assert!(token.len() >= 43, "an unguessable token: {token:?}");
    let hashed = hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        token.as_bytes(),
    ));
    assert_eq!(
        docsvc::store::verifications::document_of(&node.store, &hashed)
            .await
            .expect("lookup")
            .as_deref(),
        Some(id)
    );
    let stored: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM verification_tokens WHERE token_sha256 = $1 OR document_id = $1",
    )
    .bind(token)
    .fetch_one(node.store.pool())
    .await
    .expect("count");
    assert_eq!(stored, 0, "the token itself is stored nowhere");
}

fn one_byte_changed_is_refused(node: &Node, w: &Path, pdf: &[u8]) {
    // One byte changed inside what the signature covers: a digit of the signing time the
    // signature dictionary claims (the pages' words are compressed).
    let at = pdf
        .windows(b"/M (D:".len())
        .position(|w| w == b"/M (D:")
        .expect("the signature's time");
    let mut changed = pdf.to_vec();
    changed[at + 8] = if changed[at + 8] == b'1' { b'2' } else { b'1' };
    std::fs::write(w.join("changed.pdf"), &changed).expect("write");
    let found = pades::embedded(&changed).expect("the signature is still found");
    assert!(
        pades::verify(
            &changed,
            &found[0],
            &node.trust,
            time::OffsetDateTime::now_utc()
        )
        .is_err(),
        "sandi refuses the changed PDF"
    );
    let (_, out) = run(w, "pdfsig", &["changed.pdf"]);
    assert!(
        !out.contains("Signature is Valid."),
        "pdfsig on the changed PDF: {out}"
    );
    let (ok, out) = pyhanko(w, "changed.pdf");
    assert!(!ok, "pyHanko on the changed PDF: {out}");
    assert!(
        !out.contains(":INTACT:"),
        "pyHanko on the changed PDF: {out}"
    );
}

/// What the public page answers for `path`, without a browser: the status and the page.
async fn public_get(app: &axum::Router, path: &str, ip: impl Into<IpAddr>) -> (u16, String) {
    public(
        app,
        axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .expect("request"),
        ip.into(),
    )
    .await
}

/// What the public page answers `req` from `ip`, over no socket: the status and the page.
async fn public(
    app: &axum::Router,
    mut req: axum::http::Request<axum::body::Body>,
    ip: IpAddr,
) -> (u16, String) {
    use tower::ServiceExt as _;
    req.extensions_mut().insert(docsvc::http::api::Conn {
        peer: std::net::SocketAddr::from((ip, 40000)),
        client_cert: None,
    });
    let resp = app.clone().oneshot(req).await.expect("answer");
    let status = resp.status().as_u16();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The verification page in headless Chromium: a BIASA letter (valid, with its nomor and
/// perihal), a RAHASIA letter (valid; no perihal, no content), a letter signed after its
/// signer's revocation took effect (not valid, said plainly), an unknown token, and an
/// uploaded PDF with one byte changed; in both languages. Every answer is logged, and one
/// client address gets at most 30 checks a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verification_page_says_who_signed_and_whether_it_stands() {
    sandi_e2e::node::require("chromium");
    sandi_e2e::node::require("chromedriver");
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, _) = node_pins(dir.path(), None).await;
    // Signed before the revocation below, but still held by dual control.
    let (_, held) = rendered_letter(&node, Level::SangatRahasia, HELD_PERIHAL, 2).await;
    let (_, biasa) = rendered_letter(&node, Level::Biasa, BIASA_PERIHAL, 2).await;
    let (_, rahasia) = rendered_letter(&node, Level::Rahasia, RAHASIA_PERIHAL, 2).await;
    // Budi's key is revoked as of a moment between his letters; the CRL saying so arrives
    // after the second was signed (as when a compromise is reported late).
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let revoked_at = time::OffsetDateTime::now_utc();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (_, late) = rendered_letter(&node, Level::Biasa, "Sesudah pencabutan", 2).await;
    common::revoke_official(&node, BUDI, revoked_at).await;

    let first_page = screenshots().join("pdf-surat-biasa-page1.png");
    let urls = [
        qr_url(&biasa, 1, Some(&first_page)),
        qr_url(&rahasia, 1, None),
        qr_url(&late, 1, None),
        qr_url(&held, 1, None),
    ];
    let paths: Vec<String> = urls
        .iter()
        .map(|u| {
            u.split_once(&node.config.listen)
                .expect("this node's URL")
                .1
                .to_owned()
        })
        .collect();
    let app = docsvc::http::api::router(std::sync::Arc::clone(&node));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(docsvc::http::server::serve_plain(
        listener,
        app.clone(),
        std::sync::Arc::clone(&node),
    ));
    let browser = common::Browser::start(dir.path()).await;
    let logged_before = common::log_actions(&node, "verify").await;

    let mut steps = Steps::new();
    let page = Page {
        browser: &browser,
        base: &base,
        paths: &paths,
    };
    in_the_browser(&mut steps, &page, &biasa, dir.path()).await;
    logged_and_held_back(&mut steps, &page, &node, &app, logged_before).await;
    browser.close().await;
    steps.finish();
}

/// The public page as a test sees it: the browser, where the node answers, and the
/// verification paths of the three letters' QR codes.
struct Page<'a> {
    browser: &'a common::Browser,
    base: &'a str,
    paths: &'a [String],
}

const BIASA_PERIHAL: &str = "Undangan rapat koordinasi";
const RAHASIA_PERIHAL: &str = "Rencana pengamanan sandi tahun depan";
const HELD_PERIHAL: &str = "Rencana operasi pengamanan";

/// The three letters, a BIASA, a RAHASIA and a late one, and an uploaded PDF in Chromium.
async fn in_the_browser(steps: &mut Steps, p: &Page<'_>, biasa: &[u8], dir: &Path) {
    let (browser, base, paths) = (p.browser, p.base, p.paths);
    let shots = screenshots();
    steps
        .run_async(
            "a valid BIASA letter shows who signed, when, and its nomor",
            async {
                let page = browser.page(&format!("{base}{}", paths[0])).await;
                assert!(page.contains("verdict valid"), "{page}");
                assert!(page.contains("SAH: tanda tangan elektronik"), "{page}");
                for shown in [
                    "Budi Santoso",
                    BUDI,
                    "dinkes",
                    BIASA_PERIHAL,
                    "005/321/DINKES/XII/2026",
                ] {
                    assert!(page.contains(shown), "{shown} on the page: {page}");
                }
                // Budi's revocation came after this letter: the signature stands, and says so.
                assert!(
                    page.contains("setelah penandatanganan: tanda tangan tetap sah"),
                    "{page}"
                );
                // The document time-stamp after it (B-LTA), over the whole file.
                assert!(page.contains("Stempel waktu dokumen 1: sah"), "{page}");
                assert_eq!(page.matches("seluruh berkas").count(), 1, "{page}");
                browser.shot(&shots.join("verifikasi-sah.png")).await;
            },
        )
        .await;
    steps
        .run_async("a RAHASIA letter: valid, no perihal, no content", async {
            let page = browser.page(&format!("{base}{}", paths[1])).await;
            assert!(page.contains("verdict valid"), "{page}");
            assert!(page.contains("RAHASIA"), "{page}");
            assert!(
                !page.contains(RAHASIA_PERIHAL),
                "the perihal leaked: {page}"
            );
            assert!(
                !page.contains("Sehubungan dengan"),
                "the content leaked: {page}"
            );
            assert!(!page.contains("005/321"), "the nomor leaked: {page}");
        })
        .await;
    steps
        .run_async(
            "signed after the revocation took effect: not valid",
            async {
                let page = browser.page(&format!("{base}{}", paths[2])).await;
                assert!(page.contains("verdict invalid"), "{page}");
                assert!(page.contains("TIDAK SAH"), "{page}");
                assert!(page.contains("DICABUT"), "{page}");
                browser.shot(&shots.join("verifikasi-dicabut.png")).await;
            },
        )
        .await;
    steps
        .run_async("an unknown token is said to be unknown", async {
            let page = browser
                .page(&format!("{base}/verifikasi/{}", "A".repeat(43)))
                .await;
            assert!(page.contains("TIDAK DIKENAL"), "{page}");
        })
        .await;
    steps
        .run_async(
            "an uploaded PDF: intact is valid, one byte changed is not",
            async {
                let files = dir.join("uploads");
                std::fs::create_dir_all(&files).expect("dir");
                std::fs::write(files.join("asli.pdf"), biasa).expect("write");
                let mut changed = biasa.to_vec();
                let at = changed
                    .windows(b"/M (D:".len())
                    .position(|w| w == b"/M (D:")
                    .expect("the signature's time");
                changed[at + 8] = if changed[at + 8] == b'1' { b'2' } else { b'1' };
                std::fs::write(files.join("ubah.pdf"), &changed).expect("write");
                let page = browser
                    .upload(&format!("{base}/verifikasi"), &files.join("asli.pdf"))
                    .await;
                assert!(page.contains("verdict valid"), "{page}");
                let page = browser
                    .upload(&format!("{base}/verifikasi"), &files.join("ubah.pdf"))
                    .await;
                assert!(page.contains("verdict invalid"), "{page}");
                assert!(page.contains("TIDAK SAH"), "{page}");
                // Why, in the page's language: the signature's check failed, so the
                // time-stamp after it is not judged.
                assert!(page.contains("Tanda tangan ini tidak sah"), "{page}");
                assert!(
                    page.contains("Tidak dinilai: tanda tangan sebelumnya tidak sah."),
                    "{page}"
                );
                browser.shot(&shots.join("verifikasi-diubah.png")).await;
            },
        )
        .await;
}

/// English, the access log, and the rate limit.
async fn logged_and_held_back(
    steps: &mut Steps,
    p: &Page<'_>,
    node: &Node,
    app: &axum::Router,
    logged_before: i64,
) {
    let (browser, base, paths) = (p.browser, p.base, p.paths);
    steps
        .run_async("in English too", async {
            let page = browser
                .page(&format!("{base}/ui/lang/en?next={}", paths[0]))
                .await;
            assert!(page.contains("VALID: the electronic signatures"), "{page}");
            assert!(page.contains("Document time-stamp 1: valid"), "{page}");
            assert!(
                page.contains("after signing: the signature stands"),
                "{page}"
            );
        })
        .await;
    steps
        .run_async("every answer is logged", async {
            let logged = common::log_actions(node, "verify").await;
            assert!(logged >= logged_before + 7, "{logged_before} -> {logged}");
        })
        .await;
    steps
        .run_async("one address gets 30 checks a minute, then 429", async {
            let mut statuses = Vec::new();
            for _ in 0..31 {
                statuses.push(public_get(app, &paths[0], [10, 9, 8, 7]).await.0);
            }
            assert!(statuses[..30].iter().all(|s| *s == 200), "{statuses:?}");
            assert_eq!(statuses[30], 429);
            // Another address is not held back by it.
            assert_eq!(public_get(app, &paths[0], [10, 9, 8, 6]).await.0, 200);
            // An IPv6 /64 is one subscriber's: its hosts share one budget.
            let host = |h: u16| Ipv6Addr::new(0x2001, 0xdb8, 7, 7, 0, 0, 0, h);
            for h in 1..=30 {
                assert_eq!(public_get(app, &paths[0], host(h)).await.0, 200);
            }
            assert_eq!(public_get(app, &paths[0], host(31)).await.0, 429);
        })
        .await;
    steps
        .run_async(
            "a letter still awaiting its second approval is not valid yet",
            async {
                let (status, page) = public_get(app, &paths[3], [10, 9, 8, 4]).await;
                assert_eq!(status, 200);
                assert!(page.contains("verdict invalid"), "{page}");
                assert!(page.contains("menunggu persetujuan keduanya"), "{page}");
                assert!(!page.contains(HELD_PERIHAL), "{page}");
            },
        )
        .await;
    steps
        .run_async("an upload over 16 MiB is refused before it is read", async {
            let boundary = "sandi-boundary";
            let mut body = format!(
                "--{boundary}\r\ncontent-disposition: form-data; name=\"pdf\"; filename=\"x.pdf\"\r\ncontent-type: application/pdf\r\n\r\n"
            )
            .into_bytes();
            body.resize(body.len() + (17 << 20), b'%');
            body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            let req = axum::http::Request::post("/verifikasi")
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .header("content-length", body.len())
                .body(axum::body::Body::from(body))
                .expect("request");
            let (status, _) = public(app, req, IpAddr::from([10, 9, 8, 5])).await;
            assert_eq!(status, 413);
        })
        .await;
}

/// Numbered copies: Siti's and Joko's copies of Budi's RAHASIA letter carry different numbers
/// (of 3: Siti, Joko's tembusan and the archive copy), each page marked with the copy number
/// and the reader, written anew so that no unmarked revision is inside; both are in the register and
/// the access log; the register is the originator's and auditors'; a fourth copy is refused,
/// as is an official not cleared for the letter.
async fn numbered_copies(postgres: bool) {
    let pg = if postgres {
        let Some(pg) = sandi_e2e::pg::postgres().await else {
            return;
        };
        Some(pg)
    } else {
        None
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, _) = node_pins(dir.path(), pg.as_ref().map(|(url, _)| url.as_str())).await;
    let (id, original) =
        rendered_letter(&node, Level::Rahasia, "Daftar pejabat pengelola sandi", 9).await;
    let original_cms = pades::embedded(&original).expect("signed")[0].cms.clone();
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();

    viewed_marked_never_downloaded(&node, &id).await;
    let siti = copies::make(&node, &stepped_up(&node, SITI).await, &id)
        .await
        .expect("Siti's copy");
    let joko = copies::make(&node, &stepped_up(&node, JOKO).await, &id)
        .await
        .expect("Joko's copy");
    assert_eq!((siti.number, siti.of), (1, 3));
    assert_eq!((joko.number, joko.of), (2, 3));
    for (copy, name, nip) in [
        (&siti, "Siti Rahmawati", SITI),
        (&joko, "Joko Prasetyo", JOKO),
    ] {
        a_copy_is_marked_and_holds_no_original(w, copy, name, nip, &original_cms);
    }

    let register = copies::register(&node, &stepped_up(&node, BUDI).await, &id)
        .await
        .expect("the originator reads the register");
    let entries: Vec<(i64, &str)> = register
        .iter()
        .map(|c| (c.number, c.nip.as_str()))
        .collect();
    assert_eq!(entries, [(1, SITI), (2, JOKO)]);
    assert!(
        copies::register(&node, &stepped_up(&node, HENDRA).await, &id)
            .await
            .is_ok()
    );
    let refused = copies::register(&node, &stepped_up(&node, SITI).await, &id).await;
    assert!(
        matches!(refused, Err(docsvc::Error::Forbidden { .. })),
        "{refused:?}"
    );
    let logged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE entry LIKE $1")
        .bind("%numbered copy % of 3%")
        .fetch_one(node.store.pool())
        .await
        .expect("count");
    assert_eq!(logged, 2, "each copy is in the access log with its number");

    // Not cleared for RAHASIA: no copy, and no number spent.
    let agus = copies::make(&node, &stepped_up(&node, AGUS).await, &id).await;
    assert!(
        matches!(agus, Err(docsvc::Error::Forbidden { .. })),
        "{agus:?}"
    );
    let third = copies::make(&node, &stepped_up(&node, BUDI).await, &id)
        .await
        .expect("third");
    assert_eq!(third.number, 3);
    let fourth = copies::make(&node, &stepped_up(&node, BUDI).await, &id).await;
    assert!(
        matches!(fourth, Err(docsvc::Error::Conflict(_))),
        "{fourth:?}"
    );

    downloaded_as_a_numbered_copy(&node).await;
    drop(node);
    if let Some((_, name)) = pg {
        sandi_e2e::pg::drop_postgres(&name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbered_copies_on_sqlite() {
    Box::pin(numbered_copies(false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbered_copies_on_postgres() {
    Box::pin(numbered_copies(true)).await;
}

/// RAHASIA is viewed marked with its reader (handling: watermark) and never downloaded
/// (export_plaintext = false): a refusal spends no number.
async fn viewed_marked_never_downloaded(node: &Node, id: &str) {
    let checked = documents::load_checked(node, id).await.expect("letter");
    let view = copies::view(node, &stepped_up(node, SITI).await, &checked)
        .await
        .expect("view")
        .expect("marked with its reader");
    assert!(pades::embedded(&view).expect("reads").is_empty());
    assert!(contains(
        &view,
        format!("Dibaca oleh Siti Rahmawati (NIP {SITI})").as_bytes()
    ));
    let download = copies::download(node, &stepped_up(node, JOKO).await, &checked).await;
    assert!(
        matches!(download, Err(docsvc::Error::Forbidden { .. })),
        "{:?}",
        download.map(|c| c.map(|c| c.number))
    );
}

/// BIASA is shown as signed, and a download is its next numbered copy.
async fn downloaded_as_a_numbered_copy(node: &Node) {
    let (biasa, _) = rendered_letter(node, Level::Biasa, "Undangan rapat koordinasi", 2).await;
    let checked = documents::load_checked(node, &biasa).await.expect("letter");
    let siti = stepped_up(node, SITI).await;
    assert!(
        copies::view(node, &siti, &checked)
            .await
            .expect("view")
            .is_none()
    );
    let copy = copies::download(node, &siti, &checked)
        .await
        .expect("download")
        .expect("a numbered copy");
    assert_eq!((copy.number, copy.of), (1, 3));
    assert!(contains(&copy.pdf, b"SALINAN KE-1 DARI 3"));
}

/// A numbered copy: the mark and the reader on every page, checked by qpdf, written anew
/// (no signed revision inside to cut back to), its QR code still readable.
fn a_copy_is_marked_and_holds_no_original(
    w: &Path,
    copy: &copies::Copy,
    name: &str,
    nip: &str,
    original_cms: &[u8],
) {
    let file = format!("salinan-{}.pdf", copy.number);
    std::fs::write(w.join(&file), &copy.pdf).expect("write");
    if let Some(keep) = std::env::var_os("SANDI_KEEP_PDF") {
        let keep = std::path::PathBuf::from(keep).with_extension(&file);
        std::fs::write(keep, &copy.pdf).expect("keep the copy");
    }
    let (ok, text) = run(w, "pdftotext", &[&file, "-"]);
    assert!(ok, "pdftotext: {text}");
    let pages: Vec<&str> = text
        .split('\u{c}')
        .filter(|p| !p.trim().is_empty())
        .collect();
    assert!(pages.len() >= 2, "{text}");
    let mark = format!("SALINAN KE-{} DARI 3", copy.number);
    for page in &pages {
        assert!(page.contains(&mark), "{mark} on every page: {page}");
        assert!(
            page.contains(name) && page.contains(nip),
            "the reader on every page: {page}"
        );
        assert!(page.contains("RAHASIA"), "{page}");
    }
    let (ok, out) = run(w, "qpdf", &["--check", &file]);
    assert!(ok, "qpdf --check {file}: {out}");
    // Written anew: no signed revision inside to cut the marks off and get the unmarked
    // original back; the stamp and its QR code stay, the signature value does not.
    assert!(
        pades::embedded(&copy.pdf).expect("read").is_empty(),
        "no signature in a copy"
    );
    assert_eq!(
        copy.pdf.windows(5).filter(|w| w == b"%%EOF").count(),
        1,
        "one revision"
    );
    let (_, out) = run(w, "pdfsig", &[&file]);
    assert!(
        out.contains("not signed"),
        "pdfsig sees the stamp's field, unsigned: {out}"
    );
    assert!(
        !contains(&copy.pdf, original_cms),
        "the original's signature is not in the copy"
    );
    // A printed copy still leads to the original's check.
    let url = qr_url(&copy.pdf, pages.len(), None);
    assert!(url.contains("/verifikasi/"), "{url}");
    let (ok, out) = run(
        w,
        "pdftoppm",
        &["-png", "-r", "60", "-f", "1", "-l", "1", &file, "copy"],
    );
    assert!(ok, "pdftoppm renders the copy: {out}");
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
