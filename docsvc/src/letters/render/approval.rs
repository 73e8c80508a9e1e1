//! The approver's signature on a letter held by dual control, as PDF readers see it: an
//! incremental update to the signed letter that fills the empty "Persetujuan" field the
//! letter was rendered with: its value (a signature dictionary whose `/Contents` is reserved
//! for `crypto::pades`) and its look (who approved, and when). The letter's own bytes stay
//! as they were, so the originator's signature still covers the revision it signed, and the
//! manifest's hash still names that revision.

use pdf_writer::{Chunk, Filter, Finish as _, Name, Rect, Ref};
use time::OffsetDateTime;

use super::file::{Trailer, append, bad, dict_of, form_fields, object_at, objects, trailer};
use super::pdf::{SLOT_NAME, SLOT_W, STAMP_H, deflate, reserved_sig, text_box};
use super::{lines, tanggal, winansi};
use crate::Result;
use crate::crypto::pades::Prepared;

/// Who approves, and when.
#[derive(Debug)]
pub struct Approver<'a> {
    pub name: &'a str,
    pub nip: &'a str,
    pub at: OffsetDateTime,
}

/// The signature field named `name` among the catalog's form fields of `pdf` (a letter sandi
/// made), while it is still empty: the last trailer, the field's number and its object as
/// written.
fn empty_field(pdf: &[u8], name: &str) -> Result<(Trailer, u32, String)> {
    let last = trailer(pdf)?;
    let objects = objects(pdf, last.xref)?;
    let title = format!("/T ({name})");
    for number in form_fields(pdf, &last, &objects)? {
        let Some(offset) = objects.iter().find(|(n, _)| *n == number).map(|(_, o)| *o) else {
            continue;
        };
        let Some(dict) = dict_of(object_at(pdf, offset)?) else {
            continue;
        };
        if !(dict.starts_with(&format!("{number} 0 obj"))
            && dict.contains("/FT /Sig")
            && dict.contains(&title))
        {
            continue;
        }
        if dict.lines().any(|l| l.trim_start().starts_with("/V ")) {
            return Err(bad("the signature field is already signed"));
        }
        return Ok((last, number, dict.to_owned()));
    }
    Err(bad("the letter has no such signature field"))
}

/// Whether `pdf` was made with an empty approval field.
pub fn has_slot(pdf: &[u8]) -> bool {
    empty_field(pdf, SLOT_NAME).is_ok()
}

/// A signature to put in an empty field: whose, why, when, and how it looks.
pub(super) struct Fill<'a> {
    pub field: &'a str,
    pub signer: &'a str,
    pub reason: &'a str,
    pub location: Option<&'a str>,
    pub at: OffsetDateTime,
    /// The appearance's content (fonts `F1` and `F2`: Helvetica and its bold), `size` wide
    /// and high.
    pub look: Vec<u8>,
    pub size: (f32, f32),
}

/// `pdf` with an update appended that fills the empty signature field `f.field`: a
/// signature dictionary reserved for a CMS, and the field's look. Ready for
/// [`Prepared::digest`]; the file's bytes before it are not searched or changed.
pub(super) fn fill(pdf: &[u8], f: &Fill<'_>) -> Result<Prepared> {
    let (last, number, field) = empty_field(pdf, f.field)?;
    let first = i32::try_from(last.size)
        .ok()
        .filter(|n| n.checked_add(4).is_some())
        .ok_or_else(|| bad("a /Size out of range"))?;
    let (sig, look, regular, bold) = (
        Ref::new(first),
        Ref::new(first + 1),
        Ref::new(first + 2),
        Ref::new(first + 3),
    );
    let mut objects = Vec::new();

    let mut c = Chunk::new();
    reserved_sig(
        c.indirect(sig).dict(),
        f.at,
        (f.signer, f.reason, f.location),
    );
    objects.push((sig, c));

    let content = deflate(&f.look);
    let mut c = Chunk::new();
    let mut x = c.form_xobject(look, &content);
    x.filter(Filter::FlateDecode);
    x.bbox(Rect::new(0.0, 0.0, f.size.0, f.size.1));
    x.resources()
        .fonts()
        .pair(Name(b"F1"), regular)
        .pair(Name(b"F2"), bold);
    x.finish();
    objects.push((look, c));
    for (id, name) in [(regular, &b"Helvetica"[..]), (bold, b"Helvetica-Bold")] {
        let mut c = Chunk::new();
        c.type1_font(id)
            .base_font(Name(name))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
        objects.push((id, c));
    }

    // The field as it was, now with its value and its look.
    let close = field
        .rfind(">>")
        .ok_or_else(|| bad("the signature field does not read"))?;
    let filled = format!(
        "{}  /V {} 0 R\n  /AP << /N {} 0 R >>\n{}",
        &field[..close],
        sig.get(),
        look.get(),
        &field[close..]
    );

    let mut written: Vec<(u32, Vec<u8>)> = objects
        .into_iter()
        .map(|(id, c)| (id.get().unsigned_abs(), c.as_bytes().to_vec()))
        .collect();
    written.push((number, filled.into_bytes()));
    Prepared::after(append(pdf, &written, &last), pdf.len())
}

/// `pdf` with the approval's update appended: the "Persetujuan" field filled with a signature
/// dictionary reserved for the approver's CMS and the approval's look.
pub fn update(pdf: &[u8], a: &Approver<'_>) -> Result<Prepared> {
    let when = a.at.to_offset(time::UtcOffset::UTC);
    let texts = [
        "Disetujui secara elektronik oleh".to_owned(),
        a.name.to_owned(),
        format!("NIP. {}", a.nip),
        format!(
            "pada {}, {:02}.{:02} UTC,",
            tanggal(when.date()),
            when.hour(),
            when.minute()
        ),
        "sebagai persetujuan kedua".to_owned(),
        "(kendali ganda).".to_owned(),
    ];
    let shown: Vec<Vec<u8>> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            lines(&winansi(t), SLOT_W - 16.0, 7.5, i == 1)
                .into_iter()
                .next()
                .unwrap_or_default()
        })
        .collect();
    fill(
        pdf,
        &Fill {
            field: SLOT_NAME,
            signer: a.name,
            reason: "Persetujuan kedua (kendali ganda)",
            location: None,
            at: a.at,
            look: text_box(&shown, SLOT_W, STAMP_H),
            size: (SLOT_W, STAMP_H),
        },
    )
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::crypto::pades;
    use crate::letters::render::copy::{CopyMark, numbered_copy};
    use crate::letters::render::{Naskah, Surat, render};

    /// A CMS-shaped DER element (a SEQUENCE) of `n` content bytes.
    fn der(n: u8) -> Vec<u8> {
        let mut d = vec![0x30, n];
        d.extend(std::iter::repeat_n(7u8, usize::from(n)));
        d
    }

    fn count(hay: &[u8], needle: &[u8]) -> usize {
        hay.windows(needle.len()).filter(|w| *w == needle).count()
    }

    /// A letter rendered and "signed" (a stand-in CMS), its body full of words that look
    /// like the keys a signature is found by.
    pub(in crate::letters::render) fn letter(approval: bool) -> Vec<u8> {
        let naskah = Naskah {
            isi: "Isi /ByteRange [0 10 20 30] dan /Contents <FFFFFFFFFFFF> sebagai kata.".into(),
            tempat: None,
            lampiran: None,
            ..Naskah::default()
        };
        let s = Surat {
            organisation: "Pemerintah Kota",
            agency: "dinkes",
            kop: None,
            nomor: "005/1/XII/2026",
            perihal: "Uji /ByteRange [0 1 2 3]",
            marking: "SANGAT RAHASIA",
            colour: "#c8102e",
            kepada: vec!["Joko".into()],
            tembusan: vec![],
            naskah: &naskah,
            dated: time::macros::date!(2026 - 12 - 01),
            signer_name: "Budi Santoso",
            signer_position: "Kepala Dinas",
            signer_nip: "197501012000031001",
            verify_url: "https://127.0.0.1/verifikasi/AAAAAAAAAAAAAAAAAAAAAAAA",
            signed_at: OffsetDateTime::now_utc(),
            ca_certs: vec![],
            crls: vec![],
            approval,
        };
        render(&s)
            .expect("rendered")
            .embed(&der(40))
            .expect("signed")
    }

    #[test]
    fn a_letters_words_never_stand_in_the_file_as_a_signatures_keys() {
        let signed = letter(false);
        assert_eq!(count(&signed, b"/ByteRange"), 1, "the signature's own only");
        let found = pades::embedded(&signed).expect("found");
        assert_eq!(found.len(), 1);
        assert!(found[0].covers_whole);
        assert!(!has_slot(&signed), "no approval field without dual control");
    }

    #[test]
    fn the_approval_fills_the_empty_field_after_the_signed_bytes_and_a_copy_keeps_both_stamps() {
        let signed = letter(true);
        assert!(has_slot(&signed));
        let approver = Approver {
            name: "Joko Widodo",
            nip: "196812082000031008",
            at: OffsetDateTime::now_utc(),
        };
        let both = update(&signed, &approver)
            .expect("update")
            .embed(&der(50))
            .expect("signed");
        assert!(both.starts_with(&signed), "appended, nothing changed");
        assert!(!has_slot(&both), "the field is filled");
        assert!(update(&both, &approver).is_err(), "filled once only");
        let found = pades::embedded(&both).expect("found");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].ranges[2] + found[0].ranges[3], signed.len());
        assert!(!found[0].covers_whole && found[1].covers_whole);
        assert_eq!(found[0].cms, der(40));
        assert_eq!(found[1].cms, der(50));

        let copy = numbered_copy(
            &both,
            &CopyMark {
                number: Some((1, 2)),
                reader_name: "Joko Widodo",
                reader_nip: "196812082000031008",
                at: "2026-12-01T10:00:00Z",
            },
        )
        .expect("copy");
        assert!(pades::embedded(&copy).expect("reads").is_empty());
        let text = String::from_utf8_lossy(&copy);
        assert_eq!(text.matches("/FT /Sig").count(), 2, "both fields kept");
        assert_eq!(text.matches("/AP").count(), 2, "both stamps kept");
        assert!(!text.contains("/V "), "no signature value");
    }
}
