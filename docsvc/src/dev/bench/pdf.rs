//! Letters written as text: rendered in the tata naskah dinas layout and PAdES-signed (the
//! official's key, the TSA's time-stamp, the PDF checked as a verifier would) before they are
//! encrypted and stored, beside the same letters written as a file of the same size; and the
//! layout alone; and finished letters uploaded as PDF (two pages), marked, given a signature
//! sheet and signed in place.

use std::time::Instant;

use super::letters::one_part_letter;
use super::{Bench, Options, Report, per_second};
use crate::Result;
use crate::letters::render::{self, Naskah};
use crate::officials::directory;

/// Letters a run writes.
const LETTERS: usize = 40;
/// Layouts a run renders alone.
const LAYOUTS: usize = 200;

/// A two-page letter's words.
fn naskah() -> Naskah {
    let paragraph = "Sehubungan dengan pelaksanaan pengamanan informasi berklasifikasi di \
        lingkungan Pemerintah Kota, bersama ini kami sampaikan bahwa setiap perangkat daerah \
        wajib menyusun daftar informasi yang dikecualikan dan melaporkannya.";
    Naskah {
        isi: (0..9)
            .map(|i| format!("{}. {paragraph}", i + 1))
            .collect::<Vec<_>>()
            .join("\n\n"),
        tempat: Some("Bandung".into()),
        lampiran: None,
        ..Naskah::default()
    }
}

/// A finished two-page letter as an unsigned PDF, as another program writes one.
fn uploaded_sample(words: &Naskah) -> Vec<u8> {
    use pdf_writer::{Content, Name, Pdf, Rect, Ref, Str};
    let mut pdf = Pdf::new();
    let (catalog, tree, font) = (Ref::new(1), Ref::new(2), Ref::new(3));
    pdf.catalog(catalog).pages(tree);
    let pages: Vec<(Ref, Ref)> = (0..2)
        .map(|i| (Ref::new(4 + 2 * i), Ref::new(5 + 2 * i)))
        .collect();
    pdf.pages(tree).kids(pages.iter().map(|(p, _)| *p)).count(2);
    pdf.type1_font(font).base_font(Name(b"Times-Roman"));
    let words: Vec<&str> = words.isi.split_whitespace().collect();
    for (n, (page, content)) in pages.iter().enumerate() {
        let mut c = Content::new();
        for (line, chunk) in words.chunks(12).enumerate() {
            c.begin_text();
            c.set_font(Name(b"F1"), 11.0);
            c.next_line(
                72.0,
                760.0 - 16.0 * f32::from(u8::try_from(line).unwrap_or(40)),
            );
            c.show(Str(format!("{n} {}", chunk.join(" ")).as_bytes()));
            c.end_text();
        }
        pdf.stream(*content, &c.finish());
        let mut p = pdf.page(*page);
        p.media_box(Rect::new(0.0, 0.0, 595.0, 842.0))
            .parent(tree)
            .contents(*content);
        p.resources().fonts().pair(Name(b"F1"), font);
    }
    pdf.finish()
}

/// One finished letter uploaded as PDF, marked and signed in place.
async fn uploaded(
    b: &Bench,
    budi: &directory::Official,
    to: &str,
    i: usize,
    pdf: &[u8],
) -> Result<()> {
    let mut ingest = super::letters::begin(
        &b.served.node,
        budi,
        to,
        (
            format!("BENCH/UNGGAH/{i}"),
            "Bench upload".into(),
            policies::Level::Biasa,
        ),
    )
    .await?;
    ingest.add_uploaded("laporan.pdf", pdf).await?;
    ingest.finish().await?;
    Ok(())
}

/// One letter written as text; the size of its signed PDF.
async fn written_as_text(
    b: &Bench,
    budi: &directory::Official,
    to: &str,
    i: usize,
    words: &Naskah,
) -> Result<u64> {
    let node = &b.served.node;
    let mut ingest = super::letters::begin(
        node,
        budi,
        to,
        (
            format!("BENCH/PDF/{i}"),
            "Bench PDF".into(),
            policies::Level::Biasa,
        ),
    )
    .await?;
    ingest.add_rendered(words).await?;
    Ok(ingest.finish().await?.manifest.parts[0].size)
}

/// Letters written as text per second against letters written as a file, and layouts per
/// second.
pub(super) async fn measure(
    b: &Bench,
    opts: &Options,
    (budi, siti_nip): (&directory::Official, &str),
    r: &mut Report<'_>,
) -> Result<()> {
    let node = &b.served.node;
    let words = naskah();
    let (mut as_text, mut as_file, mut layouts) = (Vec::new(), Vec::new(), Vec::new());
    let sample = uploaded_sample(&words);
    let mut uploads = Vec::new();
    let mut size = 0;
    for run in 0..=opts.runs {
        let t = Instant::now();
        for i in 0..LETTERS {
            size = written_as_text(b, budi, siti_nip, run * LETTERS + i, &words).await?;
        }
        let text_rate = per_second(LETTERS, t.elapsed());
        let body = vec![0x25u8; usize::try_from(size).unwrap_or(0)];
        let t = Instant::now();
        for i in 0..LETTERS {
            one_part_letter(
                node,
                budi,
                siti_nip,
                (
                    format!("BENCH/FILE/{}", run * LETTERS + i),
                    "Bench file".into(),
                    policies::Level::Biasa,
                ),
                ("surat.pdf", "application/pdf", body.clone()),
            )
            .await?;
        }
        let file_rate = per_second(LETTERS, t.elapsed());
        let t = Instant::now();
        for _ in 0..LAYOUTS {
            render::render(&render::Surat {
                organisation: "Pemerintah Kota",
                agency: "dinkes",
                kop: None,
                nomor: "BENCH/1",
                perihal: "Bench",
                marking: "BIASA",
                colour: "#000000",
                kepada: vec!["Siti Rahmawati, Sekretaris Dinas".into()],
                tembusan: vec![],
                naskah: &words,
                dated: time::OffsetDateTime::now_utc().date(),
                signer_name: &budi.name,
                signer_position: &budi.position,
                signer_nip: &budi.nip,
                verify_url: "https://127.0.0.1/verifikasi/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                signed_at: time::OffsetDateTime::now_utc(),
                ca_certs: vec![],
                crls: vec![],
                approval: false,
            })?;
        }
        let layout_rate = per_second(LAYOUTS, t.elapsed());
        let t = Instant::now();
        for i in 0..LETTERS {
            uploaded(b, budi, siti_nip, run * LETTERS + i, &sample).await?;
        }
        let upload_rate = per_second(LETTERS, t.elapsed());
        if run > 0 {
            uploads.push(upload_rate);
            as_text.push(text_rate);
            as_file.push(file_rate);
            layouts.push(layout_rate);
        }
    }
    r.line(&format!(
        "letters written as text (two pages, rendered, PAdES-signed and time-stamped, checked, then stored like any letter; {LETTERS} a run): median {:.0}/s; the same letters as a {size}-byte file: {:.0}/s; the layout alone {:.0}/s; finished two-page letters uploaded as PDF, marked, given a signature sheet and signed in place: {:.0}/s",
        super::report::spread(&as_text).0,
        super::report::spread(&as_file).0,
        super::report::spread(&layouts).0,
        super::report::spread(&uploads).0,
    ));
    r.compared(
        "letters written as text, rendered and PAdES-signed (BIASA, two pages)",
        &as_text,
        "letters/s",
        "the same letters written as a file of the same size",
        &as_file,
    );
    r.compared(
        "finished letters uploaded as PDF (two pages, BIASA), marked, given a signature sheet, PAdES-signed",
        &uploads,
        "letters/s",
        "letters written as text, rendered and signed",
        &as_text,
    );
    r.figure(
        "a two-page letter laid out and written as PDF",
        &layouts,
        "layouts/s",
    );
    Ok(())
}
