//! A numbered copy (salinan) of a letter the node rendered: the signed PDF written anew, with
//! "Salinan ke-N dari M" and the reader's name, NIP and the time drawn into every page's own
//! content (not an annotation or a layer a viewer can hide). The copy is one revision, not an
//! update appended to the signed file, so the marks cannot be cut off to get the unmarked
//! original back; it carries the signature's visible stamp and QR code but not the signature
//! itself (which would no longer cover it): the QR code leads to the original's check.

use pdf_writer::{Content, Name, Str};

use super::pdf::{HEIGHT, WIDTH, measure};
use super::winansi;
use crate::{Error, Result};

/// What is burned into every page of a copy.
#[derive(Debug)]
pub struct CopyMark<'a> {
    pub number: i64,
    pub of: i64,
    pub reader_name: &'a str,
    pub reader_nip: &'a str,
    /// When it was made (RFC 3339).
    pub at: &'a str,
}

fn bad(what: &str) -> Error {
    Error::invalid(
        "copy",
        format!("{what}: copies are made of letters sandi rendered"),
    )
}

/// One object of the file: its number and its dictionary's text (between `obj` and
/// `endobj`, streams excluded), as sandi's writer lays objects out.
struct Object<'a> {
    id: u32,
    dict: &'a str,
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The in-use objects of `pdf` by its (one) cross-reference table: number and offset.
fn xref(pdf: &[u8], at: usize) -> Result<Vec<(u32, usize)>> {
    let table = pdf
        .get(at..)
        .and_then(|t| t.strip_prefix(b"xref\n"))
        .ok_or_else(|| bad("no cross-reference table"))?;
    let end = find(table, b"trailer", 0).ok_or_else(|| bad("no trailer"))?;
    let text = std::str::from_utf8(&table[..end])
        .map_err(|_| bad("a cross-reference table that is not text"))?;
    let mut lines = text.lines();
    let mut out = Vec::new();
    while let Some(head) = lines.next() {
        let mut h = head.split_ascii_whitespace().map(str::parse::<u32>);
        let (Some(Ok(start)), Some(Ok(count))) = (h.next(), h.next()) else {
            return Err(bad("a cross-reference section that does not read"));
        };
        for i in 0..count {
            let entry = lines
                .next()
                .ok_or_else(|| bad("a cross-reference table cut short"))?;
            let mut e = entry.split_ascii_whitespace();
            let (Some(offset), Some(_), Some(kind)) = (e.next(), e.next(), e.next()) else {
                return Err(bad("a cross-reference entry that does not read"));
            };
            if kind == "n" {
                let offset = offset
                    .parse()
                    .map_err(|_| bad("a cross-reference offset"))?;
                out.push((start + i, offset));
            }
        }
    }
    Ok(out)
}

/// The bytes of the object at `offset`, from its number to just past its `endobj`; a stream's
/// data is skipped by its `/Length`, not searched.
fn object_at(pdf: &[u8], offset: usize) -> Result<&[u8]> {
    let cut = || bad("an object cut short");
    let from = pdf.get(offset..).ok_or_else(cut)?;
    let head_end = find(from, b"endobj", 0).ok_or_else(cut)?;
    let end = match find(from, b"stream\n", 0) {
        Some(s) if s < head_end => {
            let dict = std::str::from_utf8(&from[..s]).map_err(|_| cut())?;
            let length: usize = dict
                .split_once("/Length ")
                .and_then(|(_, r)| r.split_ascii_whitespace().next())
                .and_then(|n| n.trim_end_matches(['>', '/']).parse().ok())
                .ok_or_else(|| bad("a stream without a direct /Length"))?;
            let data_end = (s + 7).checked_add(length).ok_or_else(cut)?;
            find(from, b"endobj", data_end).ok_or_else(cut)?
        }
        _ => head_end,
    };
    Ok(&from[..end + 6])
}

/// The objects of `pdf` whose dictionary is a page (`/Type /Page`), in file order.
fn pages(pdf: &[u8]) -> Vec<Object<'_>> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(start) = find(pdf, b" 0 obj\n", at) {
        at = start + 7;
        let digits = pdf[..start]
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let Some(id) = std::str::from_utf8(&pdf[start - digits..start])
            .ok()
            .and_then(|t| t.parse::<u32>().ok())
        else {
            continue;
        };
        let Some(end) = find(pdf, b"endobj", at) else {
            break;
        };
        // Dictionaries only (a stream's bytes are not text), and of pages only.
        let Ok(dict) = std::str::from_utf8(&pdf[at..end]) else {
            continue;
        };
        if !dict.contains("stream\n")
            && (dict.contains("/Type /Page\n") || dict.contains("/Type /Page "))
        {
            out.push(Object { id, dict });
        }
        at = end;
    }
    out
}

/// The last `startxref` offset, the trailer's `/Root`, `/Size` and `/ID` of `pdf`.
fn trailer(pdf: &[u8]) -> Result<(usize, String, u32, String)> {
    let tail = &pdf[pdf.len().saturating_sub(4096)..];
    let text = String::from_utf8_lossy(tail);
    let xref = text
        .rfind("startxref")
        .and_then(|i| text[i + 9..].split_whitespace().next()?.parse().ok())
        .ok_or_else(|| bad("no cross-reference offset"))?;
    let field = |key: &str| -> Option<String> {
        let i = text.rfind(key)?;
        let rest = text[i + key.len()..].trim_start();
        Some(rest.split(['/', '>']).next()?.trim().to_owned())
    };
    let root = field("/Root").ok_or_else(|| bad("no /Root"))?;
    let size = field("/Size")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no /Size"))?;
    let id = text
        .rfind("/ID")
        .and_then(|i| {
            let rest = &text[i..];
            rest.find(']').map(|e| rest[..=e].to_owned())
        })
        .unwrap_or_default();
    Ok((xref, root, size, id))
}

/// The marks of one page: a band at the top with the copy number, the reader along the
/// bottom, and the reader repeated diagonally across the page in light grey.
#[allow(clippy::cast_precision_loss)] // a few marks a page
fn marks(m: &CopyMark<'_>) -> Vec<u8> {
    let mut c = Content::new();
    let number = winansi(&format!("SALINAN KE-{} DARI {}", m.number, m.of));
    let reader = winansi(&format!(
        "Salinan ke-{} dari {} untuk {} (NIP {}), {}",
        m.number, m.of, m.reader_name, m.reader_nip, m.at
    ));
    c.save_state();
    c.set_fill_rgb(0.75, 0.75, 0.75);
    for row in 0..6 {
        let y = 140.0 + row as f32 * 115.0;
        c.begin_text();
        c.set_font(Name(b"F2"), 13.0);
        // 30 degrees: cos 0.866, sin 0.5.
        c.set_text_matrix([0.866, 0.5, -0.5, 0.866, 60.0, y]);
        c.show(Str(&reader));
        c.end_text();
    }
    c.restore_state();
    c.set_fill_rgb(0.0, 0.0, 0.0);
    let w = measure(&number, 10.0, true);
    c.begin_text();
    c.set_font(Name(b"F2"), 10.0);
    c.next_line(WIDTH - 56.0 - w, HEIGHT - 50.0);
    c.show(Str(&number));
    c.end_text();
    c.begin_text();
    c.set_font(Name(b"F1"), 7.0);
    c.next_line(70.0, 36.0);
    c.show(Str(&reader));
    c.end_text();
    c.finish().to_vec()
}

/// `pdf` (a letter sandi rendered and signed) written anew as numbered copy `m`: every
/// object as it was, but the pages (their content now the original and the marks), the
/// signature field (its signature value left out) and the signature itself (gone).
pub fn numbered_copy(pdf: &[u8], m: &CopyMark<'_>) -> Result<Vec<u8>> {
    let (at, root, size, id) = trailer(pdf)?;
    let pages = pages(pdf);
    if pages.is_empty() {
        return Err(bad("no page found"));
    }
    let objects = xref(pdf, at)?;
    let marks = marks(m);
    let mut out = b"%PDF-1.7\n%\x80\x80\x80\x80\n".to_vec();
    let mut offsets: Vec<(u32, usize)> = Vec::new();
    let mut next = size;
    for &(number, offset) in &objects {
        let object = object_at(pdf, offset)?;
        let text = std::str::from_utf8(object).unwrap_or_default();
        if text.contains("/Type /Sig\n") || text.contains("/Type /Sig ") {
            continue;
        }
        if let Some(page) = pages.iter().find(|p| p.id == number) {
            // The page again, its content now the original and the marks after it.
            let (before, after) = page
                .dict
                .split_once("/Contents ")
                .ok_or_else(|| bad("a page without content"))?;
            let (reference, rest) = after
                .split_once(" R")
                .ok_or_else(|| bad("a page whose content is not one stream"))?;
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
        match text.find("/FT /Sig") {
            // The signature field keeps its stamp, not its value.
            Some(_) => {
                let kept: String = text
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
