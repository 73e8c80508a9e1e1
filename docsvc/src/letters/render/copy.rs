//! A numbered copy (salinan) of a letter the node rendered: the signed PDF written anew, with
//! "Salinan ke-N dari M" and the reader's name, NIP and the time drawn into every page's own
//! content (not an annotation or a layer a viewer can hide). The copy is one revision, not an
//! update appended to the signed file, so the marks cannot be cut off to get the unmarked
//! original back; it carries the signature's visible stamp and QR code but not the signature
//! itself (which would no longer cover it): the QR code leads to the original's check.

use pdf_writer::{Content, Name, Str};

use super::file::{bad, dict_of, object_at, objects, trailer};
use super::pdf::{COPY_BOLD, COPY_REGULAR, HEIGHT, WIDTH, measure};
use super::winansi;
use crate::Result;

/// What is burned into every page of a copy.
#[derive(Debug)]
pub struct CopyMark<'a> {
    /// Numbered copy N of M; `None` for a reader's view of a level whose handling asks for a
    /// watermark (marked the same way, but not a numbered copy).
    pub number: Option<(i64, i64)>,
    pub reader_name: &'a str,
    pub reader_nip: &'a str,
    /// When it was made (RFC 3339).
    pub at: &'a str,
}

/// A page of the file: its number and its dictionary's text.
struct Page<'a> {
    id: u32,
    dict: &'a str,
}

/// The pages among `objects` (by their dictionaries' `/Type /Page`).
fn pages<'a>(pdf: &'a [u8], objects: &[(u32, usize)]) -> Result<Vec<Page<'a>>> {
    let mut out = Vec::new();
    for &(id, offset) in objects {
        let Some(dict) = dict_of(object_at(pdf, offset)?) else {
            continue;
        };
        if dict.contains("/Type /Page\n") || dict.contains("/Type /Page ") {
            let body = dict.split_once(" 0 obj\n").map_or(dict, |(_, b)| b);
            out.push(Page {
                id,
                dict: body.strip_suffix("endobj").unwrap_or(body),
            });
        }
    }
    Ok(out)
}

/// The marks of one page: a band at the top with the copy number, the reader along the
/// bottom, and the reader repeated diagonally across the page in light grey.
#[allow(clippy::cast_precision_loss)] // a few marks a page
fn marks(m: &CopyMark<'_>) -> Vec<u8> {
    let mut c = Content::new();
    let (name, nip, at) = (m.reader_name, m.reader_nip, m.at);
    let (number, reader) = match m.number {
        Some((n, of)) => (
            format!("SALINAN KE-{n} DARI {of}"),
            format!("Salinan ke-{n} dari {of} untuk {name} (NIP {nip}), {at}"),
        ),
        None => (
            "TAMPILAN PEMBACA".to_owned(),
            format!("Dibaca oleh {name} (NIP {nip}), {at}; bukan salinan bernomor"),
        ),
    };
    let (number, reader) = (winansi(&number), winansi(&reader));
    c.save_state();
    c.set_fill_rgb(0.75, 0.75, 0.75);
    for row in 0..6 {
        let y = 140.0 + row as f32 * 115.0;
        c.begin_text();
        c.set_font(Name(COPY_BOLD), 13.0);
        // 30 degrees: cos 0.866, sin 0.5.
        c.set_text_matrix([0.866, 0.5, -0.5, 0.866, 60.0, y]);
        c.show(Str(&reader));
        c.end_text();
    }
    c.restore_state();
    c.set_fill_rgb(0.0, 0.0, 0.0);
    let w = measure(&number, 10.0, true);
    c.begin_text();
    c.set_font(Name(COPY_BOLD), 10.0);
    c.next_line(WIDTH - 56.0 - w, HEIGHT - 50.0);
    c.show(Str(&number));
    c.end_text();
    c.begin_text();
    c.set_font(Name(COPY_REGULAR), 7.0);
    c.next_line(70.0, 36.0);
    c.show(Str(&reader));
    c.end_text();
    c.finish().to_vec()
}

/// `pdf` (a letter sandi rendered and signed) written anew as numbered copy `m`: every
/// object as it was, but the pages (their content now the original and the marks), the
/// signature fields (their values left out) and the signatures and time-stamps (gone).
pub fn numbered_copy(pdf: &[u8], m: &CopyMark<'_>) -> Result<Vec<u8>> {
    let last = trailer(pdf)?;
    let (root, size, id) = (&last.root, last.size, &last.id);
    let objects = objects(pdf, last.xref)?;
    let pages = pages(pdf, &objects)?;
    if pages.is_empty() {
        return Err(bad("no page found"));
    }
    let marks = marks(m);
    let mut out = b"%PDF-1.7\n%\x80\x80\x80\x80\n".to_vec();
    let mut offsets: Vec<(u32, usize)> = Vec::new();
    let mut next = size;
    for &(number, offset) in &objects {
        let object = object_at(pdf, offset)?;
        let dict = dict_of(object).unwrap_or_default();
        // Signatures and document time-stamps: they would cover nothing of the copy.
        if ["/Type /Sig", "/Type /DocTimeStamp"]
            .iter()
            .any(|t| dict.contains(&format!("{t}\n")) || dict.contains(&format!("{t} ")))
        {
            continue;
        }
        if let Some(page) = pages.iter().find(|p| p.id == number) {
            // Marks drawn in fonts a page does not name would not show: such a page (of a
            // letter made before copies had their own font names) is not copied unmarked.
            if !page.dict.contains("/SandiF1 ") || !page.dict.contains("/SandiF2 ") {
                return Err(bad("a page without the fonts a copy's marks need"));
            }
            // The page again, its content now the original and the marks after it.
            let (before, after) = page
                .dict
                .split_once("/Contents ")
                .ok_or_else(|| bad("a page without content"))?;
            // One stream (`N 0 R`) or an array of them (`[N 0 R …]`).
            let (reference, rest) = match after.strip_prefix('[') {
                Some(array) => array
                    .split_once(']')
                    .map(|(l, r)| (l.trim_end().trim_end_matches(" R"), r))
                    .ok_or_else(|| bad("a page whose content does not read"))?,
                None => after
                    .split_once(" R")
                    .ok_or_else(|| bad("a page whose content does not read"))?,
            };
            let marks_id = next;
            next += 1;
            offsets.push((marks_id, out.len()));
            out.extend_from_slice(
                format!("{marks_id} 0 obj\n<< /Length {} >>\nstream\n", marks.len()).as_bytes(),
            );
            out.extend_from_slice(&marks);
            out.extend_from_slice(b"\nendstream\nendobj\n");
            offsets.push((number, out.len()));
            out.extend_from_slice(
                format!(
                    "{number} 0 obj\n{before}/Contents [{reference} R {marks_id} 0 R]{rest}endobj\n"
                )
                .as_bytes(),
            );
            continue;
        }
        offsets.push((number, out.len()));
        match dict.find("/FT /Sig") {
            // A signature field keeps its stamp, not its value.
            Some(_) => {
                let kept: String = dict
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("/V "))
                    .collect::<Vec<_>>()
                    .join("\n");
                out.extend_from_slice(kept.as_bytes());
            }
            None => out.extend_from_slice(object),
        }
        out.push(b'\n');
    }
    offsets.sort_unstable();
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {next}\n0000000000 65535 f \n").as_bytes());
    let mut listed = offsets.iter().peekable();
    for n in 1..next {
        match listed.peek() {
            Some((id, offset)) if *id == n => {
                out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
                listed.next();
            }
            _ => out.extend_from_slice(b"0000000000 65535 f \n"),
        }
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size {next} /Root {root} {id} >>\nstartxref\n{xref}\n%%EOF\n")
            .as_bytes(),
    );
    Ok(out)
}
