//! Issue 20, the approval of a SANGAT RAHASIA letter inside its PDF: the letter is rendered
//! with an empty "Persetujuan" field beside the originator's stamp; the second approval fills
//! it with the approver's PAdES signature as an incremental update, so the originator's
//! signature still covers the revision it signed. Both signatures are valid in poppler's
//! `pdfsig` and in pyHanko (against sandi's root alone), `qpdf --check` finds no error, the
//! verification page names both signers, and a database writer who changes the stored update
//! gets an integrity incident, not a PDF.

mod common;

use docsvc::crypto::pades;
use docsvc::letters::render::approval;
use docsvc::letters::{copies, documents, verification};
use docsvc::node::Node;
use policies::Level;

use common::pdf::{
    JOKO, PDFSIG_CANNOT_CHECK_TIMESTAMP, pyhanko, pyhanko_ades, qpdf_accepts, qr_url,
    rendered_letter, run, screenshots,
};
use common::{BUDI, node_pins, stepped_up};
use sandi_e2e::steps::Steps;

#[tokio::test(flavor = "multi_thread")]
async fn a_sangat_rahasia_letter_carries_its_approval_as_a_second_pades_signature() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, _) = node_pins(dir.path(), None).await;
    let perihal = "Rencana pengamanan komunikasi pimpinan";
    let (id, original) = rendered_letter(&node, Level::SangatRahasia, perihal, 2).await;
    let mut steps = Steps::new();

    let mut approved = Vec::new();
    steps
        .run_async(
            "held for approval with an empty field; approved by Joko",
            async {
                let checked = documents::load_checked(&node, &id).await.expect("letter");
                assert_eq!(checked.state, documents::AWAITING);
                assert!(
                    approval::has_slot(&original),
                    "the approver's field is there"
                );
                assert!(
                    documents::approved_pdf(&node, &checked)
                        .await
                        .expect("reads")
                        .is_none()
                );
                documents::approve(&node, &stepped_up(&node, JOKO).await, &id)
                    .await
                    .expect("approved");
                let checked = documents::load_checked(&node, &id).await.expect("letter");
                approved = documents::letter_pdf(&node, &checked)
                    .await
                    .expect("reads")
                    .expect("a PDF");
            },
        )
        .await;
    steps.run("sandi: Budi's revision untouched, Joko's after it", || {
        two_signatures(&node, &original, &approved);
    });

    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    std::fs::write(w.join("surat.pdf"), &approved).expect("write");
    std::fs::write(
        w.join("root.pem"),
        std::fs::read_to_string(node.layout.ca("root.pem")).expect("root"),
    )
    .expect("root");
    steps.run("pdfsig, qpdf and pyHanko: both valid, B-LTA", || {
        outside_tools(w);
    });
    steps.run("the page as printed, for a person to look at", || {
        // The QR code still leads to the page; the page kept beside the web UI's screenshots.
        let url = qr_url(
            &approved,
            1,
            Some(&screenshots().join("surat-sangat-rahasia-disetujui.png")),
        );
        assert!(url.contains("/verifikasi/"), "{url}");
    });
    steps
        .run_async("the verification page names both, no perihal", async {
            let url = qr_url(&approved, 1, None);
            let token = url.rsplit('/').next().expect("token");
            let report = verification::by_token(&node, token, None)
                .await
                .expect("answers")
                .expect("a known token");
            assert!(report.valid, "{report:?}");
            let nips: Vec<_> = report.signers.iter().map(|s| s.nip.clone()).collect();
            assert_eq!(nips, [Some(BUDI.to_owned()), Some(JOKO.to_owned())]);
            assert!(
                report
                    .signers
                    .iter()
                    .all(|s| s.valid && s.signed_at.is_some())
            );
            assert_eq!(report.perihal, None);
            // SANGAT RAHASIA is never printed (handling.toml): not even by its approver.
            let copy = copies::make(&node, &stepped_up(&node, JOKO).await, &id).await;
            assert!(
                matches!(copy, Err(docsvc::Error::Forbidden { .. })),
                "{:?}",
                copy.map(|c| c.number)
            );
        })
        .await;
    steps
        .run_async(
            "a database writer's change to the update is an incident",
            async {
                tamper(&node, &id).await;
            },
        )
        .await;
    steps.finish();
}

/// sandi's reading: Budi's signature and its document time-stamp, over exactly the letter the
/// manifest binds; Joko's signature after them and its own document time-stamp over the whole
/// file; every signature time-stamped.
fn two_signatures(node: &Node, original: &[u8], approved: &[u8]) {
    assert!(approved.starts_with(original), "an update, appended");
    assert!(!approval::has_slot(approved), "the field is filled");
    let found = pades::embedded(approved).expect("signatures");
    let kinds: Vec<bool> = found.iter().map(|f| f.timestamp).collect();
    assert_eq!(
        kinds,
        [false, true, false, true],
        "signature, stamp, signature, stamp"
    );
    let end = |f: &pades::Embedded| f.ranges[2] + f.ranges[3];
    assert_eq!(end(&found[1]), original.len());
    assert!(end(&found[0]) < original.len());
    assert!(found[3].covers_whole && !found[2].covers_whole);
    let now = time::OffsetDateTime::now_utc();
    let signers: Vec<_> = [&found[0], &found[2]]
        .into_iter()
        .map(|f| {
            let v = pades::verify(approved, f, &node.trust, now).expect("valid");
            assert!(v.timestamp.is_some());
            v.nip
        })
        .collect();
    assert_eq!(signers, [Some(BUDI.to_owned()), Some(JOKO.to_owned())]);
    for f in [&found[1], &found[3]] {
        pades::verify_timestamp(approved, f, &node.trust).expect("a valid document time-stamp");
    }
}

/// One byte of the stored update changed, then the update of another letter put in its
/// place: each read is refused as an integrity incident.
async fn tamper(node: &Node, id: &str) {
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT pdf_update FROM approvals WHERE document_id = $1")
            .bind(id)
            .fetch_one(node.store.pool())
            .await
            .expect("stored update");
    let mut changed = stored.clone();
    let middle = changed.len() / 2;
    changed[middle] ^= 0x01;
    for bad in [changed, b"%% nothing signed\n".to_vec()] {
        sqlx::query("UPDATE approvals SET pdf_update = $1 WHERE document_id = $2")
            .bind(&bad)
            .bind(id)
            .execute(node.store.pool())
            .await
            .expect("the insider writes");
        let checked = documents::load_checked(node, id).await.expect("letter");
        let e = documents::letter_pdf(node, &checked)
            .await
            .expect_err("refused");
        assert!(matches!(e, docsvc::Error::Integrity(_)), "{e}");
    }
}

/// poppler, qpdf and pyHanko on the approved letter in `w`: both signatures valid and
/// trusted, the last over the whole file, the first's revision extended only by filling the
/// approval field.
fn outside_tools(w: &std::path::Path) {
    let (ok, out) = run(w, "pdfsig", &["surat.pdf"]);
    assert!(ok, "pdfsig: {out}");
    assert_eq!(
        out.matches("Signature Validation: Signature is Valid.")
            .count(),
        2,
        "{out}"
    );
    assert_eq!(out.matches("Total document signed").count(), 1, "{out}");
    // Each signature's document time-stamp, which poppler lists but cannot check.
    assert_eq!(
        out.matches(PDFSIG_CANNOT_CHECK_TIMESTAMP).count(),
        2,
        "{out}"
    );
    assert!(out.contains("Budi Santoso"), "{out}");
    qpdf_accepts(w, "surat.pdf");
    let (ok, out) = pyhanko(w, "surat.pdf");
    assert!(ok, "pyHanko: {out}");
    let intact = ":INTACT:TRUSTED,TIMESTAMP_TOKEN<INTACT:TRUSTED>,";
    let line = |field: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{field}:")))
            .unwrap_or_else(|| panic!("pyHanko names {field}: {out}"))
            .to_owned()
    };
    // The originator's: its revision extended only by filling the approval field.
    let first = line("Tanda tangan elektronik");
    assert!(
        first.contains(&format!(
            "{intact}EXTENDED_WITH_FORM_FILLING,ACCEPTABLE_MODIFICATIONS"
        )),
        "{first}"
    );
    // The approver's: nothing after it but its document time-stamp with the DSS.
    let second = line("Persetujuan");
    assert!(
        second.ends_with(&format!(
            "{intact}EXTENDED_WITH_LTA_UPDATES,ACCEPTABLE_MODIFICATIONS"
        )),
        "{second}"
    );
    // B-LTA for both: AdES validation on the revocation data the PDF carries alone.
    let (ok, out) = pyhanko_ades(w, "surat.pdf");
    assert!(ok, "pyHanko adesverify: {out}");
    assert_eq!(
        out.matches("The signature is judged VALID.").count(),
        2,
        "{out}"
    );
}
