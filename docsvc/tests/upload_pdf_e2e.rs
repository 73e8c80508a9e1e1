//! Issue 20, a finished letter uploaded as PDF (drafted elsewhere): the node marks every page
//! with the level at top and bottom and its page number, adds a signature sheet (lembar
//! pengesahan) with the stamp and QR code, and signs it in place as PAdES B-LTA. The uploads
//! are PDFs written by tools we did not write (poppler's cairo backend; qpdf with object and
//! cross-reference streams). Checked by `pdfsig`, pyHanko, `qpdf --check` and `pdftotext`;
//! a SANGAT RAHASIA upload takes its approval as a second signature; a numbered copy of an
//! uploaded letter is marked on every page. A signed, an encrypted and a non-PDF upload are
//! refused.

mod common;

use std::path::Path;

use docsvc::crypto::envelope::Urgency;
use docsvc::letters::documents::{self, Ingest, NewLetter};
use docsvc::letters::{copies, render, verification};
use docsvc::node::Node;
use policies::Level;

use common::pdf::{JOKO, SITI, pyhanko, qpdf_accepts, qr_url, rendered_letter, run, screenshots};
use common::{BUDI, node_pins, stepped_up};
use sandi_e2e::steps::Steps;

/// Budi's letter of `level` to Siti (Joko for SANGAT RAHASIA) with `pdf` as its body.
async fn upload(node: &Node, level: Level, pdf: &[u8]) -> docsvc::Result<String> {
    let sr = level == Level::SangatRahasia;
    let mut ingest = Ingest::begin(
        node,
        stepped_up(node, BUDI).await,
        NewLetter {
            nomor: "800/77/DINKES/XII/2026".into(),
            kode: None,
            perihal: "Laporan pengamanan persandian".into(),
            classification: level,
            urgency: Urgency::Biasa,
            recipients: vec![if sr { JOKO } else { SITI }.into()],
            copies: vec![],
            dated: Some("2026-12-01".into()),
            refers: None,
            on_behalf: None,
        },
    )
    .await?;
    if let Err(e) = ingest.add_uploaded("laporan.pdf", pdf).await {
        ingest.abort().await;
        return Err(e);
    }
    Ok(ingest.finish().await?.manifest.id)
}

/// Two PDFs drafted elsewhere: a letter printed to PDF by headless Chromium (as an official
/// saves a page as PDF), and the same rewritten by qpdf with object and cross-reference
/// streams.
fn foreign_pdfs(w: &Path) -> Vec<(String, Vec<u8>)> {
    let paragraphs = (1..=14)
        .map(|i| {
            format!(
                "<p>{i}. Sehubungan dengan pelaksanaan pengamanan informasi berklasifikasi, \
                 setiap perangkat daerah wajib menyusun daftar informasi yang dikecualikan \
                 dan melaporkannya kepada Dinas Komunikasi dan Informatika.</p>"
            )
        })
        .collect::<Vec<_>>()
        .concat();
    std::fs::write(
        w.join("konsep.html"),
        format!(
            "<!doctype html><html lang=id><meta charset=utf-8><style>@page {{ size: A4; \
             margin: 25mm }} body {{ font: 13pt serif }}</style><h1>Laporan</h1>{paragraphs}"
        ),
    )
    .expect("write");
    let page = format!("file://{}", w.join("konsep.html").display());
    let (ok, out) = run(
        w,
        "chromium",
        &[
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-pdf-header-footer",
            "--print-to-pdf=cetak.pdf",
            &page,
        ],
    );
    assert!(ok, "chromium --print-to-pdf: {out}");
    let (ok, out) = run(
        w,
        "qpdf",
        &["--object-streams=generate", "cetak.pdf", "modern.pdf"],
    );
    assert!(ok, "qpdf: {out}");
    ["cetak.pdf", "modern.pdf"]
        .iter()
        .map(|f| {
            (
                (*f).to_owned(),
                std::fs::read(w.join(f)).expect("foreign PDF"),
            )
        })
        .collect()
}

async fn stored_pdf(node: &Node, id: &str) -> Vec<u8> {
    let checked = documents::load_checked(node, id).await.expect("letter");
    documents::letter_pdf(node, &checked)
        .await
        .expect("reads")
        .expect("a PDF")
}

/// pdfsig, qpdf and pyHanko on `file` in `w`: `signatures` valid, the last over the whole
/// file; pdftotext finds the marking on every page, the upload's words and the sheet.
fn outside_tools_accept(w: &Path, file: &str, signatures: usize, marking: &str) -> usize {
    let (ok, out) = run(w, "pdfsig", &[file]);
    assert!(ok, "pdfsig: {out}");
    assert_eq!(
        out.matches("Signature Validation: Signature is Valid.")
            .count(),
        signatures,
        "{out}"
    );
    assert_eq!(out.matches("Total document signed").count(), 1, "{out}");
    qpdf_accepts(w, file);
    let (ok, out) = pyhanko(w, file);
    assert!(ok, "pyHanko: {out}");
    assert_eq!(
        out.matches(":INTACT:TRUSTED,TIMESTAMP_TOKEN<INTACT:TRUSTED>,")
            .count(),
        signatures,
        "pyHanko: {out}"
    );
    let (ok, text) = run(w, "pdftotext", &["-layout", file, "-"]);
    assert!(ok, "pdftotext: {text}");
    let pages: Vec<&str> = text
        .split('\u{c}')
        .filter(|p| !p.trim().is_empty())
        .collect();
    assert!(pages.len() >= 3, "{} pages", pages.len());
    for (i, page) in pages.iter().enumerate() {
        assert!(page.matches(marking).count() >= 2, "page {}: {page}", i + 1);
        assert!(
            page.contains(&format!("Halaman {} dari {}", i + 1, pages.len())),
            "page {}: {page}",
            i + 1
        );
    }
    assert!(pages[0].contains("Sehubungan dengan"), "{}", pages[0]);
    let sheet = pages.last().expect("the sheet");
    assert!(sheet.contains("LEMBAR PENGESAHAN"), "{sheet}");
    assert!(sheet.contains("Budi Santoso"), "{sheet}");
    pages.len()
}

/// The first page and the signature sheet of `file` as PNG, beside the web UI's screenshots.
fn keep_pages(w: &Path, file: &str, prefix: &str) {
    let out = screenshots().join(prefix);
    let out = out.to_str().expect("path");
    let (ok, text) = run(w, "pdftoppm", &["-png", "-r", "70", file, out]);
    assert!(ok, "pdftoppm: {text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_uploaded_pdf_is_marked_on_every_page_and_signed_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, _) = node_pins(dir.path(), None).await;
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    std::fs::write(
        w.join("root.pem"),
        std::fs::read_to_string(node.layout.ca("root.pem")).expect("root"),
    )
    .expect("root");
    let uploads = foreign_pdfs(w);
    let mut steps = Steps::new();
    for (name, pdf) in &uploads {
        steps
            .run_async(
                &format!("{name}: RAHASIA, marked and signed"),
                Box::pin(async {
                    let id = upload(&node, Level::Rahasia, pdf).await.expect("stored");
                    let signed = stored_pdf(&node, &id).await;
                    let file = format!("signed-{name}");
                    std::fs::write(w.join(&file), &signed).expect("write");
                    let pages = outside_tools_accept(w, &file, 1, "RAHASIA");
                    // The sheet's QR code leads to the verification page, which finds it valid.
                    let url = qr_url(&signed, pages, None);
                    let token = url.rsplit('/').next().expect("token");
                    let report = verification::by_token(&node, token, None)
                        .await
                        .expect("answers")
                        .expect("a known token");
                    assert!(report.valid && report.signers.len() == 1, "{report:?}");
                    keep_pages(
                        w,
                        &file,
                        &format!("unggahan-{}", name.trim_end_matches(".pdf")),
                    );
                    let copy = copies::make(&node, &stepped_up(&node, SITI).await, &id)
                        .await
                        .expect("a numbered copy");
                    let copy_file = format!("salinan-{name}");
                    std::fs::write(w.join(&copy_file), &copy.pdf).expect("write");
                    let (ok, out) = run(w, "qpdf", &["--check", &copy_file]);
                    assert!(ok, "qpdf --check on the copy: {out}");
                    let (_, text) = run(w, "pdftotext", &[&copy_file, "-"]);
                    let pages = text.split('\u{c}').filter(|p| !p.trim().is_empty()).count();
                    assert_eq!(text.matches("SALINAN KE-1 DARI 2").count(), pages, "{text}");
                }),
            )
            .await;
    }
    steps
        .run_async(
            "SANGAT RAHASIA: the approval signs it too",
            Box::pin(async {
                let id = upload(&node, Level::SangatRahasia, &uploads[1].1)
                    .await
                    .expect("stored");
                let checked = documents::load_checked(&node, &id).await.expect("letter");
                let original = documents::original_pdf(&node, &checked)
                    .await
                    .expect("reads")
                    .expect("a PDF");
                assert!(render::approval::has_slot(&original));
                documents::approve(&node, &stepped_up(&node, JOKO).await, &id)
                    .await
                    .expect("approved");
                std::fs::write(w.join("disetujui.pdf"), stored_pdf(&node, &id).await)
                    .expect("write");
                outside_tools_accept(w, "disetujui.pdf", 2, "SANGAT RAHASIA");
            }),
        )
        .await;
    steps
        .run_async(
            "a hostile upload: its state, crop box, cover and script do not hide the marks",
            Box::pin(hostile(&node, w)),
        )
        .await;
    steps
        .run_async(
            "signed, encrypted or not a PDF: refused",
            Box::pin(refused(&node, w)),
        )
        .await;
    steps.finish();
}

/// An upload already signed (sandi's own letter), one encrypted by qpdf, and one that is not
/// a PDF: each refused as bad input, nothing stored.
async fn refused(node: &Node, w: &Path) {
    let (_, signed) = rendered_letter(node, Level::Biasa, "Sudah ditandatangani", 2).await;
    let (ok, out) = run(
        w,
        "qpdf",
        &[
            "--encrypt",
            "rahasia",
            "rahasia",
            "256",
            "--",
            "cetak.pdf",
            "terkunci.pdf",
        ],
    );
    assert!(ok, "qpdf --encrypt: {out}");
    let locked = std::fs::read(w.join("terkunci.pdf")).expect("encrypted");
    for (what, pdf, says) in [
        ("signed", signed, "already signed"),
        ("encrypted", locked, "encrypted"),
        ("not a PDF", b"%PDF-1.7\nbukan pdf".to_vec(), "not a PDF"),
    ] {
        let e = upload(node, Level::Biasa, &pdf).await.expect_err(what);
        assert!(
            matches!(&e, docsvc::Error::InvalidInput { .. }) && e.to_string().contains(says),
            "{what}: {e}"
        );
    }
}

/// A page that pops more graphics states than it pushed, clips everything away and turns text
/// invisible after its words; a crop box that would cut the margins off; a white square
/// annotation over the whole page; a script run on opening; a trailer with a second `/Root`
/// hidden in it. Once signed, the page shows the marking in red at its top (poppler renders
/// it), and none of the rest is left in the file.
async fn hostile(node: &Node, w: &Path) {
    let content = b"Q Q Q BT /F1 18 Tf 72 700 Td (Isi surat yang bermusuhan) Tj ET \
        0 0 0 0 re W n 3 Tr 1 1 1 rg";
    let mut pdf = b"%PDF-1.7\n1 0 obj <</Type/Catalog/Pages 2 0 R/OpenAction 6 0 R>> endobj\n\
        2 0 obj <</Type/Pages/Kids[3 0 R]/Count 1>> endobj\n\
        3 0 obj <</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/CropBox[60 60 535 782]\
        /Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>/Annots[7 0 R]>> endobj\n"
        .to_vec();
    pdf.extend_from_slice(format!("4 0 obj <</Length {}>> stream\n", content.len()).as_bytes());
    pdf.extend_from_slice(content);
    pdf.extend_from_slice(
        b"\nendstream endobj\n5 0 obj <</Type/Font/Subtype/Type1/BaseFont/Helvetica>> endobj\n\
        6 0 obj <</S/JavaScript/JS(app.alert\\(1\\))>> endobj\n\
        7 0 obj <</Type/Annot/Subtype/Square/Rect[0 0 595 842]/IC[1 1 1]/C[1 1 1]/F 4>> endobj\n\
        trailer <</Root 1 0 R/Zz <</Root 3 0 R/Size 2>>>>\n%%EOF\n",
    );
    let id = upload(node, Level::Rahasia, &pdf).await.expect("stored");
    let signed = stored_pdf(node, &id).await;
    for gone in [
        &b"/OpenAction"[..],
        b"/JavaScript",
        b"/CropBox",
        b"/Square",
        b"/Zz",
    ] {
        assert!(
            !signed.windows(gone.len()).any(|x| x == gone),
            "{} left in the file",
            String::from_utf8_lossy(gone)
        );
    }
    std::fs::write(w.join("hostile.pdf"), &signed).expect("write");
    let (ok, out) = run(w, "pdfsig", &["hostile.pdf"]);
    assert!(ok && out.contains("Signature is Valid."), "pdfsig: {out}");
    // Page 1 as pixels (PPM): red marking pixels in its top band.
    let (ok, out) = run(
        w,
        "pdftoppm",
        &["-r", "40", "-f", "1", "-l", "1", "hostile.pdf", "hostile"],
    );
    assert!(ok, "pdftoppm: {out}");
    let ppm = std::fs::read_dir(w)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name().is_some_and(|n| {
                n.to_string_lossy().starts_with("hostile") && n.to_string_lossy().ends_with(".ppm")
            })
        })
        .expect("a PPM");
    let image = std::fs::read(ppm).expect("ppm");
    let text = String::from_utf8_lossy(&image[..32.min(image.len())]).into_owned();
    let mut head = text.split_ascii_whitespace();
    assert_eq!(head.next(), Some("P6"));
    let width: usize = head.next().and_then(|v| v.parse().ok()).expect("width");
    let height: usize = head.next().and_then(|v| v.parse().ok()).expect("height");
    let pixels = &image[image.len() - width * height * 3..];
    let red = pixels[..width * (height / 12) * 3]
        .chunks(3)
        .filter(|p| p[0] > 150 && p[1] < 90 && p[2] < 110)
        .count();
    assert!(
        red > 10,
        "the marking shows in red at the top: {red} red pixels"
    );
}
