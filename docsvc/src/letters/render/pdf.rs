//! The PDF file of a laid-out letter: its pages, the classification marking at the top and
//! bottom of every page, and one signature field on the last page whose appearance is the
//! signature block's stamp (QR code and signer), with its `/Contents` reserved for
//! `crypto::pades`; for a letter held by dual control, a second, empty signature field
//! beside it for the approver. Content streams are compressed: besides the size, no word of a
//! letter then stands in the file as text that a reader of its structure could mistake for a
//! key (`/ByteRange`, `/Contents`).

use pdf_writer::types::{AnnotationFlags, FieldType, SigFlags};
use pdf_writer::{Content, Date, Filter, Finish as _, Name, Pdf, Rect, Ref, Str, TextStr};

use super::widths::{HELVETICA, HELVETICA_BOLD};
use crate::crypto::pades;

pub(super) const WIDTH: f32 = 595.28;
pub(super) const HEIGHT: f32 = 841.89;

/// One thing drawn on a page.
#[derive(Debug)]
pub(super) enum Op {
    Text {
        x: f32,
        y: f32,
        size: f32,
        bold: bool,
        text: Vec<u8>,
    },
    Rule {
        x1: f32,
        x2: f32,
        y: f32,
        width: f32,
    },
}

/// The signature field: where it stands and what its stamp says.
#[derive(Debug)]
pub(super) struct Stamp {
    pub page: usize,
    /// Lower left corner; the size is [`STAMP_W`] by [`STAMP_H`].
    pub x: f32,
    pub y: f32,
    pub lines: Vec<Vec<u8>>,
    /// The QR code's modules, row by row (true: dark), `qr_width` a row.
    pub qr: Vec<bool>,
    pub qr_width: usize,
}

pub(super) const STAMP_W: f32 = 240.0;
pub(super) const STAMP_H: f32 = 84.0;

/// The approver's empty signature field, on the stamp's page: lower left corner; the size is
/// [`SLOT_W`] by [`STAMP_H`].
#[derive(Debug)]
pub(super) struct Slot {
    pub x: f32,
    pub y: f32,
}

pub(super) const SLOT_W: f32 = 200.0;
/// The signer's field's name (`/T`).
pub(super) const FIELD_NAME: &str = "Tanda tangan elektronik";
/// The approval field's name (`/T`).
pub(super) const SLOT_NAME: &str = "Persetujuan";

/// `data` compressed for a `/FlateDecode` stream.
pub(super) fn deflate(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(data, 6)
}

/// What the file says besides its pages.
#[derive(Debug)]
pub(super) struct Meta<'a> {
    /// The marking (e.g. `RAHASIA`), WinAnsi, and its colour.
    pub marking: Vec<u8>,
    pub colour: [f32; 3],
    pub signer: &'a str,
    pub reason: &'a str,
    pub location: &'a str,
    pub signed_at: time::OffsetDateTime,
    pub file_id: [u8; 16],
    /// For the document security store (DSS): the CA certificates a verifier needs to build
    /// the signer's and the TSA's paths to sandi's root, and the CRLs in force (DER).
    pub certs: Vec<Vec<u8>>,
    pub crls: Vec<Vec<u8>>,
}

/// The width of `text` (WinAnsi) in points.
#[allow(clippy::cast_precision_loss)] // a line's units are far below 2^23
pub(super) fn measure(text: &[u8], size: f32, bold: bool) -> f32 {
    let table = if bold { &HELVETICA_BOLD } else { &HELVETICA };
    let units: u32 = text
        .iter()
        .map(|&b| u32::from(table[usize::from(b.max(32) - 32)]))
        .sum();
    units as f32 * size / 1000.0
}

/// The names every page of a letter sandi made gives Helvetica and its bold, for the marks
/// of a numbered copy ([`super::copy`]): an uploaded page's own fonts may be called anything.
pub(super) const COPY_REGULAR: &[u8] = b"SandiF1";
pub(super) const COPY_BOLD: &[u8] = b"SandiF2";

const REGULAR: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");

fn font(bold: bool) -> Name<'static> {
    if bold { BOLD } else { REGULAR }
}

pub(super) fn draw(c: &mut Content, op: &Op) {
    match op {
        Op::Text {
            x,
            y,
            size,
            bold,
            text,
        } => {
            c.begin_text();
            c.set_font(font(*bold), *size);
            c.next_line(*x, *y);
            c.show(Str(text));
            c.end_text();
        }
        Op::Rule { x1, x2, y, width } => {
            c.set_line_width(*width);
            c.move_to(*x1, *y);
            c.line_to(*x2, *y);
            c.stroke();
        }
    }
}

/// The marking, centred at the top and bottom of a page, and the page number.
fn markings(c: &mut Content, meta: &Meta<'_>, page: usize, pages: usize) {
    page_marks(c, &meta.marking, meta.colour, (WIDTH, HEIGHT), page, pages);
}

/// The marking in `colour`, centred at the top and bottom of a page `size` points wide and
/// high, and "Halaman i dari n" at the foot.
pub(super) fn page_marks(
    c: &mut Content,
    marking: &[u8],
    colour: [f32; 3],
    (page_w, page_h): (f32, f32),
    page: usize,
    pages: usize,
) {
    let [red, green, blue] = colour;
    let width = measure(marking, 12.0, true);
    c.set_fill_rgb(red, green, blue);
    for y in [page_h - 34.0, 22.0] {
        draw(
            c,
            &Op::Text {
                x: (page_w - width) / 2.0,
                y,
                size: 12.0,
                bold: true,
                text: marking.to_vec(),
            },
        );
    }
    c.set_fill_rgb(0.0, 0.0, 0.0);
    let number = format!("Halaman {} dari {pages}", page + 1).into_bytes();
    let w = measure(&number, 8.0, false);
    draw(
        c,
        &Op::Text {
            x: page_w - 56.0 - w,
            y: 22.0,
            size: 8.0,
            bold: false,
            text: number,
        },
    );
}

/// A framed box `w` by `h` of text lines, the second bold: the approval's appearance.
pub(super) fn text_box(lines: &[Vec<u8>], w: f32, h: f32) -> Vec<u8> {
    let mut c = Content::new();
    c.set_stroke_rgb(0.4, 0.4, 0.4);
    c.set_line_width(0.5);
    c.rect(0.5, 0.5, w - 1.0, h - 1.0);
    c.stroke();
    let mut y = h - 16.0;
    for (i, line) in lines.iter().enumerate() {
        draw(
            &mut c,
            &Op::Text {
                x: 8.0,
                y,
                size: 7.5,
                bold: i == 1,
                text: line.clone(),
            },
        );
        y -= 10.0;
    }
    c.finish().to_vec()
}

/// The stamp's appearance: the QR code on the left, the lines beside it.
#[allow(clippy::cast_precision_loss)] // module counts of a QR code
pub(super) fn stamp_appearance(stamp: &Stamp) -> Vec<u8> {
    let mut c = Content::new();
    c.set_stroke_rgb(0.4, 0.4, 0.4);
    c.set_line_width(0.5);
    c.rect(0.5, 0.5, STAMP_W - 1.0, STAMP_H - 1.0);
    c.stroke();
    let side = STAMP_H - 8.0;
    let n = stamp.qr_width.max(1);
    // The quiet zone (four modules each side) is part of the square.
    let module = side / (n + 8) as f32;
    c.set_fill_rgb(0.0, 0.0, 0.0);
    for (i, dark) in stamp.qr.iter().enumerate() {
        if *dark {
            let (col, row) = (i % n, i / n);
            c.rect(
                4.0 + (col + 4) as f32 * module,
                4.0 + side - (row + 5) as f32 * module,
                module,
                module,
            );
        }
    }
    c.fill_nonzero();
    let mut y = STAMP_H - 16.0;
    for (i, line) in stamp.lines.iter().enumerate() {
        draw(
            &mut c,
            &Op::Text {
                x: side + 10.0,
                y,
                size: 7.5,
                bold: i == 1,
                text: line.clone(),
            },
        );
        y -= 10.0;
    }
    c.finish().to_vec()
}

pub(super) fn pdf_date(t: time::OffsetDateTime) -> Date {
    let t = t.to_offset(time::UtcOffset::UTC);
    Date::new(u16::try_from(t.year()).unwrap_or(0))
        .month(u8::from(t.month()))
        .day(t.day())
        .hour(t.hour())
        .minute(t.minute())
        .second(t.second())
        .utc_offset_hour(0)
        .utc_offset_minute(0)
}

/// The document security store: the CA certificates and CRLs a verifier needs.
fn write_dss(pdf: &mut Pdf, dss: Ref, (certs, crls): (&[Ref], &[Ref]), meta: &Meta<'_>) {
    let mut d = pdf.indirect(dss).dict();
    d.insert(Name(b"Certs"))
        .array()
        .items(certs.iter().copied());
    d.insert(Name(b"CRLs")).array().items(crls.iter().copied());
    d.finish();
    for (id, der) in certs
        .iter()
        .zip(&meta.certs)
        .chain(crls.iter().zip(&meta.crls))
    {
        pdf.stream(*id, der);
    }
}

/// The signature dictionary, its `/Contents` reserved and `/ByteRange` a placeholder.
fn write_sig(pdf: &mut Pdf, sig: Ref, meta: &Meta<'_>) {
    reserved_sig(
        pdf.indirect(sig).dict(),
        meta.signed_at,
        (meta.signer, meta.reason, Some(meta.location)),
    );
}

/// A signature dictionary written into `d`: PAdES (`ETSI.CAdES.detached`), its `/Contents`
/// reserved for [`pades::Prepared`] and its `/ByteRange` a placeholder, claimed at `at`, with
/// the signer's name, the reason and the place (as hex).
pub(super) fn reserved_sig(
    d: pdf_writer::Dict<'_>,
    at: time::OffsetDateTime,
    (signer, reason, location): (&str, &str, Option<&str>),
) {
    let mut d = reserved(d, b"Sig", b"ETSI.CAdES.detached");
    d.pair(Name(b"M"), pdf_date(at))
        .pair(Name(b"Name"), Str(&hex_text(signer)))
        .pair(Name(b"Reason"), Str(&hex_text(reason)));
    if let Some(l) = location {
        d.pair(Name(b"Location"), Str(&hex_text(l)));
    }
    d.finish();
}

/// The start of a signature or document time-stamp dictionary (`/Type` `kind`, `/SubFilter`
/// `sub_filter`): its `/Contents` reserved for [`pades::Prepared`], its `/ByteRange` a
/// placeholder.
pub(super) fn reserved<'a>(
    mut d: pdf_writer::Dict<'a>,
    kind: &[u8],
    sub_filter: &[u8],
) -> pdf_writer::Dict<'a> {
    d.pair(Name(b"Type"), Name(kind))
        .pair(Name(b"Filter"), Name(b"Adobe.PPKLite"))
        .pair(Name(b"SubFilter"), Name(sub_filter));
    d.insert(Name(b"ByteRange"))
        .array()
        .items(pades::BYTE_RANGE_PLACEHOLDER);
    d.pair(Name(b"Contents"), Str(&[0xFF; pades::RESERVED]));
    d
}

/// A text string as UTF-16BE with its byte order mark: always written as hex, so no word in
/// it (an official's name, a place) stands in the file as a key such as `/ByteRange`.
pub(super) fn hex_text(s: &str) -> Vec<u8> {
    let mut out = vec![0xFE, 0xFF];
    for unit in s.encode_utf16() {
        out.extend_from_slice(&unit.to_be_bytes());
    }
    out
}

/// The whole file, with the signature's `/Contents` reserved and its `/ByteRange` a
/// placeholder ([`pades::Prepared::new`] fills it in).
pub(super) fn write(
    pages: &[Vec<Op>],
    stamp: &Stamp,
    slot: Option<&Slot>,
    meta: &Meta<'_>,
) -> Vec<u8> {
    let mut pdf = Pdf::new();
    pdf.set_version(1, 7);
    pdf.set_file_id((meta.file_id.to_vec(), meta.file_id.to_vec()));
    let mut next = 1;
    let mut alloc = || {
        next += 1;
        Ref::new(next - 1)
    };
    let (catalog, tree, regular, bold) = (alloc(), alloc(), alloc(), alloc());
    let (field, sig, appearance) = (alloc(), alloc(), alloc());
    let slot_field = slot.map(|_| alloc());
    let fields: Vec<Ref> = std::iter::once(field).chain(slot_field).collect();
    let ids: Vec<(Ref, Ref)> = pages.iter().map(|_| (alloc(), alloc())).collect();
    let dss = alloc();
    let certs: Vec<Ref> = meta.certs.iter().map(|_| alloc()).collect();
    let crls: Vec<Ref> = meta.crls.iter().map(|_| alloc()).collect();

    let mut cat = pdf.catalog(catalog);
    cat.pages(tree);
    cat.pair(Name(b"DSS"), dss);
    cat.form()
        .fields(fields.iter().copied())
        .sig_flags(SigFlags::SIGNATURES_EXIST | SigFlags::APPEND_ONLY);
    cat.finish();
    write_dss(&mut pdf, dss, (&certs, &crls), meta);
    pdf.pages(tree)
        .kids(ids.iter().map(|(p, _)| *p))
        .count(i32::try_from(ids.len()).unwrap_or(i32::MAX));
    for (id, name) in [(regular, &b"Helvetica"[..]), (bold, b"Helvetica-Bold")] {
        pdf.type1_font(id)
            .base_font(Name(name))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    for (i, (ops, (page, content))) in pages.iter().zip(&ids).enumerate() {
        let mut c = Content::new();
        markings(&mut c, meta, i, pages.len());
        for op in ops {
            draw(&mut c, op);
        }
        pdf.stream(*content, &deflate(&c.finish()))
            .filter(Filter::FlateDecode);
        let mut p = pdf.page(*page);
        p.media_box(Rect::new(0.0, 0.0, WIDTH, HEIGHT))
            .parent(tree)
            .contents(*content);
        // The same fonts under the names a numbered copy's marks are drawn in.
        p.resources()
            .fonts()
            .pair(REGULAR, regular)
            .pair(BOLD, bold)
            .pair(Name(COPY_REGULAR), regular)
            .pair(Name(COPY_BOLD), bold);
        if i == stamp.page {
            p.annotations(fields.iter().copied());
        }
        p.finish();
    }

    let look = deflate(&stamp_appearance(stamp));
    let mut x = pdf.form_xobject(appearance, &look);
    x.filter(Filter::FlateDecode);
    x.bbox(Rect::new(0.0, 0.0, STAMP_W, STAMP_H));
    x.resources()
        .fonts()
        .pair(REGULAR, regular)
        .pair(BOLD, bold);
    x.finish();

    let mut f = pdf.form_field(field);
    f.field_type(FieldType::Signature)
        .partial_name(TextStr(FIELD_NAME));
    f.pair(Name(b"V"), sig);
    let mut w = f.into_annotation();
    w.rect(Rect::new(
        stamp.x,
        stamp.y,
        stamp.x + STAMP_W,
        stamp.y + STAMP_H,
    ))
    .page(ids[stamp.page].0)
    .flags(AnnotationFlags::PRINT | AnnotationFlags::LOCKED);
    w.appearance().normal().stream(appearance);
    w.finish();

    if let (Some(slot), Some(id)) = (slot, slot_field) {
        // Empty until the approver signs: the approval's update gives it its value and look.
        let mut f = pdf.form_field(id);
        f.field_type(FieldType::Signature)
            .partial_name(TextStr(SLOT_NAME));
        let mut w = f.into_annotation();
        w.rect(Rect::new(slot.x, slot.y, slot.x + SLOT_W, slot.y + STAMP_H))
            .page(ids[stamp.page].0)
            .flags(AnnotationFlags::PRINT);
        w.finish();
    }

    write_sig(&mut pdf, sig, meta);
    pdf.finish()
}
