//! A numbered copy (salinan) of a letter the node rendered: the signed PDF with one
//! incremental update that adds, on every page, "Salinan ke-N dari M" and the reader's name,
//! NIP and the time, drawn into the page's own content (not an annotation or a layer a viewer
//! can hide). The signed revision stays intact before it, so the signature still verifies
//! for what was signed, and a PDF reader shows that the copy was marked after signing.

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

/// `pdf` (a letter sandi rendered) with the copy's marks added to every page in one
/// incremental update.
pub fn numbered_copy(pdf: &[u8], m: &CopyMark<'_>) -> Result<Vec<u8>> {
    let (prev, root, size, id) = trailer(pdf)?;
    let pages = pages(pdf);
    if pages.is_empty() {
        return Err(bad("no page found"));
    }
    let marks = marks(m);
    let mut out = pdf.to_vec();
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    let mut offsets: Vec<(u32, usize)> = Vec::new();
    let mut next = size;
    for page in &pages {
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
        offsets.push((page.id, out.len()));
        out.extend_from_slice(
            format!(
                "{} 0 obj\n{before}/Contents [{reference} R {marks_id} 0 R]{rest}endobj\n",
                page.id
            )
            .as_bytes(),
        );
    }
    offsets.sort_unstable();
    let xref = out.len();
    out.extend_from_slice(b"xref\n0 1\n0000000000 65535 f \n");
    for (id, offset) in &offsets {
        out.extend_from_slice(format!("{id} 1\n{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {next} /Root {root} /Prev {prev} {id} >>\nstartxref\n{xref}\n%%EOF\n"
        )
        .as_bytes(),
    );
    Ok(out)
}
