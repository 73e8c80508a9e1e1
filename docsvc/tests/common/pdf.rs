//! What the signed-PDF suites share: outside tools run in a folder, pyHanko's judgement
//! against sandi's root, the QR code read off a rendered page, and a letter written as words.

use std::path::Path;
use std::process::Command;

use bytes::Bytes;
use docsvc::crypto::envelope::Urgency;
use docsvc::letters::documents::{self, Ingest, NewLetter};
use docsvc::letters::render::Naskah;
use docsvc::node::Node;
use futures_util::StreamExt as _;
use policies::Level;

use super::{BUDI, stepped_up};

/// Where screenshots are kept, beside the web UI's.
pub(crate) fn screenshots() -> std::path::PathBuf {
    let dir = std::env::var_os("SANDI_SCREENSHOTS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ui-screenshots"),
        std::path::PathBuf::from,
    );
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

pub(crate) const SITI: &str = "198002022005012002";
pub(crate) const JOKO: &str = "196812082000031008";

/// Runs an outside tool; its exit status and everything it printed.
pub(crate) fn run(dir: &Path, program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} is not installed (tests/run installs it): {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `qpdf --check` on `file` in `w` finds no error.
pub(crate) fn qpdf_accepts(w: &Path, file: &str) {
    let (ok, out) = run(w, "qpdf", &["--check", file]);
    assert!(ok, "qpdf --check {file}: {out}");
    assert!(
        out.contains("No syntax or stream encoding errors found"),
        "{out}"
    );
}

/// pyHanko's judgement of `file` in `w` against sandi's root (`root.pem`) alone. Revocation
/// is looked up online, softly: the CRL addresses of a test node answer nobody.
pub(crate) fn pyhanko(w: &Path, file: &str) -> (bool, String) {
    run(
        w,
        "pyhanko",
        &[
            "sign",
            "validate",
            "--trust",
            "root.pem",
            "--trust-replace",
            "--soft-revocation-check",
            file,
        ],
    )
}

/// pyHanko's AdES validation (`sign adesverify`, ETSI EN 319 102-1 with the long-term
/// validation of past signatures) of `file` in `w` against sandi's root alone: revocation
/// data is required and nothing is fetched, so it passes only with the certificates and CRLs
/// the PDF's DSS carries (B-LT) and the document time-stamp after them (B-LTA).
pub(crate) fn pyhanko_ades(w: &Path, file: &str) -> (bool, String) {
    run(
        w,
        "pyhanko",
        &[
            "sign",
            "adesverify",
            "--pretty-print",
            "--trust",
            "root.pem",
            "--trust-replace",
            file,
        ],
    )
}

/// What poppler's `pdfsig` says of sandi's document time-stamps: it lists them but cannot
/// check an `ETSI.RFC3161` one (pyHanko does), so they are counted apart.
pub(crate) const PDFSIG_CANNOT_CHECK_TIMESTAMP: &str =
    "Signature Validation: Signature has not yet been verified.";

/// A body of `n` paragraphs: nine run onto a second page, two fit on one.
pub(crate) fn isi(n: usize) -> String {
    let paragraph = "Sehubungan dengan pelaksanaan pengamanan informasi berklasifikasi di \
        lingkungan Pemerintah Kota, bersama ini kami sampaikan bahwa setiap perangkat daerah \
        wajib menyusun daftar informasi yang dikecualikan, menetapkan pejabat pengelola sandi, \
        dan melaporkan pelaksanaannya kepada Dinas Komunikasi, Informatika, Statistik dan \
        Persandian paling lambat akhir bulan ini.";
    (0..n)
        .map(|i| format!("{}. {paragraph}", i + 1))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Budi writes a letter of `level` as words, with one attachment; the stored letter's id and
/// its rendered, signed PDF as a reader opens it.
pub(crate) async fn rendered_letter(
    node: &Node,
    level: Level,
    perihal: &str,
    paragraphs: usize,
) -> (String, Vec<u8>) {
    let mut ingest = Ingest::begin(
        node,
        stepped_up(node, BUDI).await,
        NewLetter {
            nomor: "005/321/DINKES/XII/2026".into(),
            kode: None,
            perihal: perihal.into(),
            classification: level,
            urgency: Urgency::Segera,
            // SANGAT RAHASIA goes to Joko alone (Siti is not cleared for it).
            recipients: vec![
                if level == Level::SangatRahasia {
                    JOKO
                } else {
                    SITI
                }
                .into(),
            ],
            copies: if level == Level::SangatRahasia {
                vec![]
            } else {
                vec![JOKO.into()]
            },
            dated: Some("2026-12-01".into()),
            refers: None,
            on_behalf: None,
        },
    )
    .await
    .expect("begin");
    ingest
        .add_rendered(&Naskah {
            isi: isi(paragraphs),
            tempat: Some("Bandung".into()),
            lampiran: Some("1 (satu) berkas".into()),
            ..Naskah::default()
        })
        .await
        .expect("rendered and signed");
    ingest
        .add_part(
            "daftar.txt",
            "text/plain",
            futures_util::stream::iter([Ok::<Bytes, std::convert::Infallible>(Bytes::from(
                "Daftar informasi yang dikecualikan",
            ))]),
        )
        .await
        .expect("attachment");
    let created = ingest.finish().await.expect("stored");
    let id = created.manifest.id.clone();
    let checked = documents::load_checked(node, &id)
        .await
        .expect("checks out");
    assert_eq!(checked.manifest.parts[0].name, "surat.pdf");
    assert_eq!(checked.manifest.parts[0].media_type, "application/pdf");
    let mut pdf = Vec::new();
    let mut part = std::pin::pin!(documents::open_part(node, &checked, 0).await.expect("open"));
    while let Some(b) = part.next().await {
        pdf.extend_from_slice(&b.expect("chunk"));
    }
    // The manifest Budi signed binds this very PDF.
    assert_eq!(
        hex::encode(ring::digest::digest(&ring::digest::SHA256, &pdf)),
        checked.manifest.parts[0].sha256
    );
    (id, pdf)
}

/// The URL in the QR code on page `page` of `pdf` (rendered by pdftoppm, read by zbarimg);
/// the page is kept as `keep` when given. A random token now and then lands on a module
/// pattern zbar misreads at one resolution, so the page is tried at a few; any must decode.
pub(crate) fn qr_url(pdf: &[u8], page: usize, keep: Option<&Path>) -> String {
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    std::fs::write(w.join("l.pdf"), pdf).expect("write");
    let mut tried = Vec::new();
    for dpi in ["150", "220", "300"] {
        let prefix = format!("p{dpi}");
        let (ok, out) = run(
            w,
            "pdftoppm",
            &[
                "-png",
                "-r",
                dpi,
                "-f",
                &page.to_string(),
                "-l",
                &page.to_string(),
                "l.pdf",
                &prefix,
            ],
        );
        assert!(ok, "pdftoppm: {out}");
        let png = std::fs::read_dir(w)
            .expect("dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.extension().is_some_and(|x| x == "png")
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&format!("{prefix}-")))
            })
            .expect("a PNG");
        let (ok, qr) = run(w, "zbarimg", &["--raw", "-q", png.to_str().expect("path")]);
        if ok {
            if let Some(keep) = keep {
                std::fs::copy(&png, keep).expect("keep the page");
            }
            return qr.lines().next().unwrap_or_default().trim().to_owned();
        }
        tried.push(format!("{dpi} dpi: {qr}"));
    }
    panic!("zbarimg finds the QR code at no resolution: {tried:?}");
}
