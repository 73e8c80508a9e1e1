//! A letter written on the compose form rendered as the PDF officials know (tata naskah
//! dinas): the agency's kop surat, nomor, sifat, lampiran and perihal, the addressee, the
//! body, the place and date, the signature block with the signer's stamp (a QR code to the
//! node's verification page) and the tembusan; the classification marking at the top and
//! bottom of every page. The result is ready for its PAdES signature.

pub mod approval;
pub mod copy;
mod file;
mod pdf;
mod template;
pub mod timestamp;
pub mod upload;
mod widths;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use self::pdf::{HEIGHT, Op, SLOT_W, STAMP_H, STAMP_W, Slot, Stamp, WIDTH, measure};
pub use self::template::{Acara, Jenis};
use crate::crypto::pades::Prepared;
use crate::{Error, Result};

/// The words of a letter the node renders, as the compose form or the API sends them.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Naskah {
    /// Which naskah dinas it is laid out as (surat dinas when absent).
    #[serde(default)]
    pub jenis: Jenis,
    /// A surat undangan's event: day, time, place, programme.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acara: Option<Acara>,
    /// The body (isi surat): paragraphs separated by an empty line.
    pub isi: String,
    /// Where it is signed (e.g. `Bandung`); the node's organisation's city when absent.
    #[serde(default)]
    pub tempat: Option<String>,
    /// The lampiran line (e.g. `1 (satu) berkas`); `-` when absent.
    #[serde(default)]
    pub lampiran: Option<String>,
}

/// The longest body accepted, in characters (about 30 pages).
pub const MAX_ISI: usize = 60_000;
/// The most pages a letter is rendered on.
const MAX_PAGES: usize = 40;

impl Naskah {
    /// Bounds and characters: printable text, line breaks and tabs only.
    pub fn check(&self) -> Result<()> {
        let bad = |what: &'static str, why: String| Err(Error::invalid(what, why));
        if self.isi.trim().is_empty() || self.isi.chars().count() > MAX_ISI {
            return bad("isi", format!("the body must be 1-{MAX_ISI} characters"));
        }
        if self
            .isi
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return bad("isi", "the body holds control characters".into());
        }
        if let Some(a) = &self.acara {
            if self.jenis != Jenis::SuratUndangan {
                return bad("acara", "only a surat undangan names an event".into());
            }
            a.check()?;
        }
        for (what, v) in [("tempat", &self.tempat), ("lampiran", &self.lampiran)] {
            if let Some(v) = v {
                if v.trim().is_empty() || v.chars().count() > 100 || v.chars().any(char::is_control)
                {
                    return bad(what, format!("{what} must be 1-100 characters on one line"));
                }
            }
        }
        Ok(())
    }
}

/// Everything the rendered letter shows.
#[derive(Debug)]
pub struct Surat<'a> {
    pub organisation: &'a str,
    pub agency: &'a str,
    /// The agency's letterhead, if the node has one for it.
    pub kop: Option<&'a crate::node::letterhead::Kop>,
    pub nomor: &'a str,
    pub perihal: &'a str,
    /// The handling table's label (`RAHASIA`) and colour (`#c8102e`).
    pub marking: &'a str,
    pub colour: &'a str,
    pub kepada: Vec<String>,
    pub tembusan: Vec<String>,
    pub naskah: &'a Naskah,
    pub dated: time::Date,
    pub signer_name: &'a str,
    pub signer_position: &'a str,
    pub signer_nip: &'a str,
    /// Where the QR code leads: the node's verification page for this letter.
    pub verify_url: &'a str,
    pub signed_at: OffsetDateTime,
    /// Kept in the PDF's document security store: the CA certificates from the signer and
    /// the TSA up to sandi's root, and the CRLs in force (DER), so that a verifier holding only
    /// the root needs nothing else.
    pub ca_certs: Vec<Vec<u8>>,
    pub crls: Vec<Vec<u8>>,
    /// Held by dual control: an empty signature field beside the signer's for the approver,
    /// filled by the approval as an incremental update.
    pub approval: bool,
}

/// Text as the standard fonts' WinAnsiEncoding has it; what it lacks becomes `?`.
pub(crate) fn winansi(s: &str) -> Vec<u8> {
    const HIGH: [(char, u8); 27] = [
        ('€', 0x80),
        ('‚', 0x82),
        ('ƒ', 0x83),
        ('„', 0x84),
        ('…', 0x85),
        ('†', 0x86),
        ('‡', 0x87),
        ('ˆ', 0x88),
        ('‰', 0x89),
        ('Š', 0x8a),
        ('‹', 0x8b),
        ('Œ', 0x8c),
        ('Ž', 0x8e),
        ('‘', 0x91),
        ('’', 0x92),
        ('“', 0x93),
        ('”', 0x94),
        ('•', 0x95),
        ('–', 0x96),
        ('—', 0x97),
        ('˜', 0x98),
        ('™', 0x99),
        ('š', 0x9a),
        ('›', 0x9b),
        ('œ', 0x9c),
        ('ž', 0x9e),
        ('Ÿ', 0x9f),
    ];
    s.chars()
        .map(|c| match u32::from(c) {
            0x20..=0x7e | 0xa0..=0xff => u8::try_from(u32::from(c)).unwrap_or(b'?'),
            0x09 => b' ',
            _ => HIGH.iter().find(|(h, _)| *h == c).map_or(b'?', |(_, b)| *b),
        })
        .collect()
}

/// `1 Desember 2026`.
pub fn tanggal(d: time::Date) -> String {
    format!(
        "{} {} {}",
        d.day(),
        keymgr::berita_acara::MONTHS[usize::from(u8::from(d.month())) - 1],
        d.year()
    )
}

const LEFT: f32 = 70.0;
const RIGHT: f32 = WIDTH - 56.0;
const TOP: f32 = HEIGHT - 60.0;
const BOTTOM: f32 = 56.0;
const SIZE: f32 = 11.0;
const LEADING: f32 = 15.0;

/// Pages being filled from the top down.
struct Sheets {
    pages: Vec<Vec<Op>>,
    y: f32,
}

impl Sheets {
    fn new() -> Self {
        Sheets {
            pages: vec![Vec::new()],
            y: TOP,
        }
    }

    /// Room for `h` more points on this page, or a new page.
    fn need(&mut self, h: f32) -> Result<()> {
        if self.y - h < BOTTOM {
            if self.pages.len() >= MAX_PAGES {
                return Err(Error::invalid(
                    "isi",
                    format!("the letter would run past {MAX_PAGES} pages"),
                ));
            }
            self.pages.push(Vec::new());
            self.y = TOP;
        }
        Ok(())
    }

    fn text(&mut self, x: f32, text: Vec<u8>, size: f32, bold: bool) -> Result<()> {
        self.need(LEADING)?;
        self.y -= LEADING;
        let y = self.y;
        self.page().push(Op::Text {
            x,
            y,
            size,
            bold,
            text,
        });
        Ok(())
    }

    /// `text` centred, broken into lines where it is wider than the page.
    fn centred(&mut self, text: &str, size: f32, bold: bool) -> Result<()> {
        for t in lines(&winansi(text), RIGHT - LEFT, size, bold) {
            let x = (LEFT + RIGHT - measure(&t, size, bold)) / 2.0;
            self.text(x, t, size, bold)?;
        }
        Ok(())
    }

    /// `text` broken into lines no wider than `width`, starting at `x`.
    fn wrapped(&mut self, x: f32, width: f32, text: &str, bold: bool) -> Result<()> {
        for line in lines(&winansi(text), width, SIZE, bold) {
            self.text(x, line, SIZE, bold)?;
        }
        Ok(())
    }

    fn gap(&mut self, h: f32) {
        self.y -= h;
    }

    fn page(&mut self) -> &mut Vec<Op> {
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }
}

/// Greedy line breaking at spaces; a word longer than a line is cut.
fn lines(text: &[u8], width: f32, size: f32, bold: bool) -> Vec<Vec<u8>> {
    // Widths are added up as the line grows: a line is measured once, whatever its words.
    let space = measure(b" ", size, bold);
    let mut out = Vec::new();
    let (mut line, mut line_w): (Vec<u8>, f32) = (Vec::new(), 0.0);
    for word in text.split(|&b| b == b' ').filter(|w| !w.is_empty()) {
        let word_w = measure(word, size, bold);
        let gap = if line.is_empty() { 0.0 } else { space };
        if line_w + gap + word_w <= width {
            if !line.is_empty() {
                line.push(b' ');
            }
            line.extend_from_slice(word);
            line_w += gap + word_w;
            continue;
        }
        if !line.is_empty() {
            out.push(std::mem::take(&mut line));
            line_w = 0.0;
        }
        if word_w <= width {
            line.extend_from_slice(word);
            line_w = word_w;
            continue;
        }
        // One word wider than a line: cut where it fits.
        for &b in word {
            let w = measure(&[b], size, bold);
            if line_w + w > width && !line.is_empty() {
                out.push(std::mem::take(&mut line));
                line_w = 0.0;
            }
            line.push(b);
            line_w += w;
        }
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

fn colour(hex: &str) -> [f32; 3] {
    let h = hex.trim_start_matches('#');
    let c = |i: usize| {
        h.get(i..i + 2)
            .and_then(|s| u8::from_str_radix(s, 16).ok())
            .map_or(0.0, |v| f32::from(v) / 255.0)
    };
    [c(0), c(2), c(4)]
}

/// The letter laid out and written as a PDF with its signature field reserved.
pub fn render(s: &Surat<'_>) -> Result<Prepared> {
    s.naskah.check()?;
    let mut sheets = Sheets::new();
    let tempat = s.naskah.tempat.as_deref().unwrap_or(s.organisation);
    template::head(&mut sheets, s, tempat)?;
    template::body(&mut sheets, s, tempat)?;
    let (stamp, slot) = signature_block(&mut sheets, s)?;
    if !s.tembusan.is_empty() && template::tembusan_at_end(s) {
        sheets.gap(LEADING);
        sheets.text(LEFT, b"Tembusan:".to_vec(), SIZE, false)?;
        for (i, t) in s.tembusan.iter().enumerate() {
            sheets.wrapped(LEFT, RIGHT - LEFT, &format!("{}. {t}", i + 1), false)?;
        }
    }
    let mut file_id = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut file_id)
        .map_err(|_| Error::NoRandomness)?;
    let meta = pdf::Meta {
        marking: winansi(s.marking),
        colour: colour(s.colour),
        signer: s.signer_name,
        reason: "Penandatanganan surat dinas",
        location: tempat,
        signed_at: s.signed_at,
        file_id,
        certs: s.ca_certs.clone(),
        crls: s.crls.clone(),
    };
    Prepared::new(pdf::write(&sheets.pages, &stamp, slot.as_ref(), &meta))
}

/// The signature block, kept on one page: position, the stamp (QR code and signer), name
/// and NIP; for a letter held by dual control, "Menyetujui," and the approver's empty field
/// on the left. Returns the stamp and the approver's field, placed.
#[allow(clippy::cast_precision_loss)] // a handful of lines
fn signature_block(sheets: &mut Sheets, s: &Surat<'_>) -> Result<(Stamp, Option<Slot>)> {
    let block_x = LEFT + (RIGHT - LEFT) / 2.0 - 10.0;
    debug_assert!(LEFT + SLOT_W < block_x);
    // One line each for "a.n. <head>" and the signer's own position, each wrapped.
    let position: Vec<Vec<u8>> = (s.signer_position.split('\n'))
        .flat_map(|p| lines(&winansi(p), RIGHT - block_x, SIZE, true))
        .collect();
    sheets.need(LEADING * (position.len() as f32 + 3.0) + STAMP_H + 8.0)?;
    sheets.gap(LEADING);
    if s.approval {
        let y = sheets.y - LEADING;
        sheets.page().push(Op::Text {
            x: LEFT,
            y,
            size: SIZE,
            bold: true,
            text: b"Menyetujui,".to_vec(),
        });
    }
    for line in position {
        sheets.text(block_x, line, SIZE, true)?;
    }
    sheets.gap(STAMP_H + 6.0);
    let stamp_y = sheets.y;
    let slot = s.approval.then_some(Slot {
        x: LEFT,
        y: stamp_y,
    });
    let stamp_page = sheets.pages.len() - 1;
    sheets.text(block_x, winansi(s.signer_name), SIZE, true)?;
    let nip = winansi(&format!("NIP. {}", s.signer_nip));
    sheets.text(block_x, nip, SIZE, false)?;
    let qr = qrcode::QrCode::with_error_correction_level(s.verify_url, qrcode::EcLevel::M)
        .map_err(|e| Error::invalid("verification URL", format!("no QR code for it: {e}")))?;
    let stamp_lines = [
        "Ditandatangani secara elektronik oleh".to_owned(),
        s.signer_name.to_owned(),
        format!("NIP. {}", s.signer_nip),
        "Pindai kode QR untuk memeriksa".to_owned(),
        "keabsahan tanda tangan ini.".to_owned(),
        "Dokumen ini dilindungi sandi.".to_owned(),
    ];
    let room = STAMP_W - STAMP_H - 4.0;
    let stamp = Stamp {
        page: stamp_page,
        x: block_x,
        y: stamp_y,
        lines: stamp_lines
            .iter()
            .map(|l| {
                lines(&winansi(l), room, 7.5, false)
                    .into_iter()
                    .next()
                    .unwrap_or_default()
            })
            .collect(),
        qr_width: qr.width(),
        qr: qr
            .to_colors()
            .iter()
            .map(|c| *c == qrcode::Color::Dark)
            .collect(),
    };
    Ok((stamp, slot))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_break_at_spaces_within_the_width_and_cut_a_word_wider_than_a_line() {
        let text = winansi("Sehubungan dengan pelaksanaan pengamanan informasi berklasifikasi");
        let out = lines(&text, 150.0, SIZE, false);
        assert!(out.len() > 1);
        for l in &out {
            assert!(
                measure(l, SIZE, false) <= 150.0,
                "{}",
                String::from_utf8_lossy(l)
            );
        }
        assert_eq!(out.join(&b' '), text, "no word lost or changed");
        let long = vec![b'W'; 60_000];
        let cut = lines(&long, 150.0, SIZE, true);
        assert!(cut.len() > 100);
        assert!(
            cut.iter()
                .all(|l| !l.is_empty() && measure(l, SIZE, true) <= 150.0)
        );
        assert_eq!(cut.concat(), long);
    }

    #[test]
    fn text_outside_winansi_becomes_a_question_mark() {
        assert_eq!(winansi("Rp 5.000 – ½ ✓"), b"Rp 5.000 \x96 \xbd ?".to_vec());
    }
}
