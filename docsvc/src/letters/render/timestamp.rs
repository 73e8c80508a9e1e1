//! The document time-stamp after a letter's last signature (PAdES baseline B-LTA, ETSI EN
//! 319 142-1 §5.4): an incremental update that brings the document security store (DSS) up
//! to date with the certificates and CRLs a verifier needs for every signature and time-stamp
//! in the file, and adds an invisible signature field whose value is a `/DocTimeStamp`
//! (`ETSI.RFC3161`) reserved for the TSA's token over everything before it. The signed bytes
//! before it are not changed, so every earlier signature still covers what it signed.

use pdf_writer::{Chunk, Finish as _, Name, Ref, Str};

use super::file::{
    Trailer, append, bad, catalog, dict_of, form_fields, object_at, objects, stream_data, trailer,
};
use super::pdf::reserved;
use crate::Result;
use crate::crypto::pades::Prepared;

/// What the DSS holds after the update (DER): the CA certificates of every path to sandi's
/// root, and the CRLs in force for them.
#[derive(Debug)]
pub struct Validation<'a> {
    pub certs: &'a [Vec<u8>],
    pub crls: &'a [Vec<u8>],
}

/// The names of the time-stamp fields: the first, second, … in the file.
const FIELD_PREFIX: &str = "Stempel waktu dokumen";

/// The `/Pages` reference of a catalog's text (`N 0 R`).
fn pages_ref(catalog: &str) -> Result<String> {
    let unreadable = || bad("the letter's page tree does not read");
    let (_, rest) = catalog.split_once("/Pages").ok_or_else(unreadable)?;
    let words: Vec<&str> = rest.split_ascii_whitespace().take(3).collect();
    match words.as_slice() {
        [n, g, r] if r.starts_with('R') && n.parse::<u32>().is_ok() && *g == "0" => {
            Ok(format!("{n} 0 R"))
        }
        _ => Err(unreadable()),
    }
}

/// The most form fields a letter's file may have: the signer's, the approver's and a
/// document time-stamp after each.
const MAX_FIELDS: usize = 16;

/// How many of `fields` are document time-stamps already.
fn stamps_before(pdf: &[u8], fields: &[u32], objects: &[(u32, usize)]) -> Result<usize> {
    if fields.len() > MAX_FIELDS {
        return Err(bad("more form fields than a letter has"));
    }
    let title = format!("/T ({FIELD_PREFIX}");
    let mut n = 0;
    for number in fields {
        if let Some((_, offset)) = objects.iter().find(|(o, _)| o == number) {
            if dict_of(object_at(pdf, *offset)?).is_some_and(|d| d.contains(&title)) {
                n += 1;
            }
        }
    }
    Ok(n)
}

/// `pdf` (a letter sandi made, just signed) with the document time-stamp's update appended:
/// the DSS as `v` gives it, and an invisible field whose `/DocTimeStamp` is reserved for the
/// token. Ready for [`Prepared::digest`] (SHA-256, what the token's imprint must be).
pub fn update(pdf: &[u8], v: &Validation<'_>) -> Result<Prepared> {
    let last: Trailer = trailer(pdf)?;
    let objects = objects(pdf, last.xref)?;
    let (root, cat) = catalog(pdf, &last, &objects)?;
    // The catalog is written again under its number: one past /Size would be written twice.
    if root >= last.size {
        return Err(bad("a catalog numbered past /Size"));
    }
    let pages = pages_ref(cat)?;
    let fields = form_fields(pdf, &last, &objects)?;
    let count = stamps_before(pdf, &fields, &objects)?;
    let first = i32::try_from(last.size)
        .ok()
        .filter(|n| *n > 0)
        .filter(|n| {
            n.checked_add(i32::try_from(3 + v.certs.len() + v.crls.len()).unwrap_or(i32::MAX))
                .is_some()
        })
        .ok_or_else(|| bad("a /Size out of range"))?;
    let (field, sig, dss) = (Ref::new(first), Ref::new(first + 1), Ref::new(first + 2));
    let mut next = first + 3;
    let mut refs = |n: usize| -> Vec<Ref> {
        (0..n)
            .map(|_| {
                next += 1;
                Ref::new(next - 1)
            })
            .collect()
    };
    let (certs, crls) = (refs(v.certs.len()), refs(v.crls.len()));

    let mut written: Vec<(u32, Vec<u8>)> = Vec::new();
    let mut push =
        |id: Ref, c: Chunk| written.push((id.get().unsigned_abs(), c.as_bytes().to_vec()));

    let mut c = Chunk::new();
    reserved(c.indirect(sig).dict(), b"DocTimeStamp", b"ETSI.RFC3161").finish();
    push(sig, c);

    // The field is its own widget, of no size: it is seen in a reader's signature panel,
    // not on a page.
    let mut c = Chunk::new();
    let name = format!("{FIELD_PREFIX} {}", count + 1);
    let mut d = c.indirect(field).dict();
    d.pair(Name(b"Type"), Name(b"Annot"))
        .pair(Name(b"Subtype"), Name(b"Widget"))
        .pair(Name(b"FT"), Name(b"Sig"))
        .pair(Name(b"T"), Str(name.as_bytes()))
        .pair(Name(b"V"), sig)
        .pair(Name(b"F"), 132);
    d.insert(Name(b"Rect")).array().items([0, 0, 0, 0]);
    d.finish();
    push(field, c);

    let mut c = Chunk::new();
    let mut d = c.indirect(dss).dict();
    d.insert(Name(b"Certs"))
        .array()
        .items(certs.iter().copied());
    d.insert(Name(b"CRLs")).array().items(crls.iter().copied());
    d.finish();
    push(dss, c);
    for (id, der) in certs.iter().zip(v.certs).chain(crls.iter().zip(v.crls)) {
        let mut c = Chunk::new();
        c.stream(*id, der);
        push(*id, c);
    }

    // The catalog as sandi writes it (its pages, its form, its DSS), the new field added.
    let listed: String = fields
        .iter()
        .chain(std::iter::once(&field.get().unsigned_abs()))
        .map(|n| format!("{n} 0 R"))
        .collect::<Vec<_>>()
        .join(" ");
    let catalog = format!(
        "{root} 0 obj\n<< /Type /Catalog /Pages {pages} /DSS {} 0 R /AcroForm << /Fields [{listed}] /SigFlags 3 >> >>\nendobj",
        dss.get()
    );
    written.push((root, catalog.into_bytes()));
    Prepared::after(append(pdf, &written, &last), pdf.len())
}

/// The most certificates or CRLs a DSS read back may name.
const MAX_DSS_ITEMS: usize = 64;

/// The objects a DSS dictionary's `key` array names (`[n 0 R …]`), at most [`MAX_DSS_ITEMS`].
fn dss_refs(dss: &str, key: &str) -> Option<Vec<u32>> {
    let (_, rest) = dss.split_once(key)?;
    let (list, _) = rest.trim_start().strip_prefix('[')?.split_once(']')?;
    let words: Vec<&str> = list
        .split_ascii_whitespace()
        .take(3 * MAX_DSS_ITEMS + 1)
        .collect();
    if words.len() > 3 * MAX_DSS_ITEMS {
        return None;
    }
    let refs: Vec<u32> = words
        .chunks(3)
        .map(|r| match r {
            [n, "0", "R"] => n.parse().ok(),
            _ => None,
        })
        .collect::<Option<_>>()?;
    // Each named once: the same stream named again and again would be copied again and again.
    let mut seen = refs.clone();
    seen.sort_unstable();
    seen.dedup();
    (seen.len() == refs.len()).then_some(refs)
}

/// Whether the revision of `pdf` after its first `from` bytes is exactly the update [`update`]
/// writes after them (with the DSS it carries read back from it), its token gap at `gap`. A
/// document time-stamp vouches for no other change: anyone may ask a TSA for one, so a
/// revision that adds anything else (a page's content, an action) is not sandi's time-stamp.
pub fn is_update_of(pdf: &[u8], from: usize, gap: (usize, usize)) -> bool {
    let rebuilt = || -> Option<bool> {
        let prefix = pdf.get(..from)?;
        let before = trailer(prefix).ok()?;
        let last = trailer(pdf).ok()?;
        let objects = objects(pdf, last.xref).ok()?;
        // Only objects of the update itself are read back: nothing of the signed revision
        // before it can be named to make the rebuild large.
        let object = |n: u32| -> Option<&[u8]> {
            let (_, offset) = objects.iter().find(|(o, _)| *o == n)?;
            (*offset >= from)
                .then(|| object_at(pdf, *offset).ok())
                .flatten()
        };
        let dss = dict_of(object(before.size.checked_add(2)?)?)?;
        let read = |key: &str| -> Option<Vec<Vec<u8>>> {
            dss_refs(dss, key)?
                .into_iter()
                .map(|n| stream_data(object(n)?).map(<[u8]>::to_vec))
                .collect()
        };
        let (certs, crls) = (read("/Certs")?, read("/CRLs")?);
        let again = update(
            prefix,
            &Validation {
                certs: &certs,
                crls: &crls,
            },
        )
        .ok()?;
        Some(again.is_filled_as(pdf, gap))
    };
    rebuilt().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::pades;
    use crate::letters::render::approval::tests::letter;
    use crate::letters::render::approval::{Approver, update as approve};

    /// A CMS-shaped DER element (a SEQUENCE) of `n` content bytes.
    fn der(n: u8) -> Vec<u8> {
        let mut d = vec![0x30, n];
        d.extend(std::iter::repeat_n(7u8, usize::from(n)));
        d
    }

    #[test]
    fn each_signature_gets_a_time_stamp_after_it_and_the_signed_bytes_stay() {
        let v = Validation {
            certs: &[b"root certificate".to_vec()],
            crls: &[b"crl one".to_vec(), b"crl two".to_vec()],
        };
        let signed = letter(true);
        let stamped = update(&signed, &v)
            .expect("update")
            .embed(&der(30))
            .expect("stamped");
        assert!(stamped.starts_with(&signed), "appended, nothing changed");
        let approved = approve(
            &stamped,
            &Approver {
                name: "Joko Widodo",
                nip: "196812082000031008",
                at: time::OffsetDateTime::now_utc(),
            },
        )
        .expect("the approval field is still found")
        .embed(&der(40))
        .expect("approved");
        let again = update(&approved, &v)
            .expect("second update")
            .embed(&der(50))
            .expect("stamped again");
        let found = pades::embedded(&again).expect("found");
        let cms: Vec<&[u8]> = found.iter().map(|f| f.cms.as_slice()).collect();
        assert_eq!(cms.len(), 4, "signature, stamp, approval, stamp");
        assert_eq!(found[1].cms, der(30));
        assert_eq!(found[3].cms, der(50));
        assert!(found[3].covers_whole && !found[2].covers_whole);
        let text = String::from_utf8_lossy(&again);
        assert!(text.contains("/T (Stempel waktu dokumen 1)"));
        assert!(text.contains("/T (Stempel waktu dokumen 2)"));
        assert_eq!(text.matches("/SubFilter /ETSI.RFC3161").count(), 2);
        // The last catalog lists all four fields and the DSS of the last update.
        let last = trailer(&again).expect("trailer");
        let objects = objects(&again, last.xref).expect("objects");
        assert_eq!(
            form_fields(&again, &last, &objects).expect("fields").len(),
            4
        );
        // Each time-stamp's revision is exactly what the writer makes of the file before it.
        let end = |i: usize| found[i].ranges[2] + found[i].ranges[3];
        let gap = |i: usize| (found[i].ranges[1], found[i].ranges[2]);
        assert!(is_update_of(&again[..end(1)], end(0), gap(1)));
        assert!(is_update_of(&again, end(2), gap(3)));
    }

    #[test]
    fn a_revision_that_adds_more_than_the_time_stamp_is_not_taken_for_one() {
        let v = Validation {
            certs: &[b"root certificate".to_vec()],
            crls: &[b"crl one".to_vec()],
        };
        let signed = letter(false);
        let stamped = update(&signed, &v)
            .expect("update")
            .embed(&der(30))
            .expect("stamped");
        let found = pades::embedded(&stamped).expect("found");
        let gap = (found[1].ranges[1], found[1].ranges[2]);
        assert!(is_update_of(&stamped, signed.len(), gap));
        // One byte of the update changed outside the token: a page's words, an action.
        let at = signed.len() + 40;
        let mut changed = stamped;
        changed[at] = changed[at].wrapping_add(1);
        assert!(!is_update_of(&changed, signed.len(), gap));
        // A time-stamp over bytes someone else appended after the signature.
        let mut other = signed.clone();
        other.extend_from_slice(b"\n% a page redrawn\n");
        let foreign = update(&other, &v)
            .expect("update")
            .embed(&der(30))
            .expect("stamped");
        let found = pades::embedded(&foreign).expect("found");
        let gap = (found[1].ranges[1], found[1].ranges[2]);
        assert!(!is_update_of(&foreign, signed.len(), gap));
    }
}
