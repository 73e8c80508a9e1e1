//! A finished letter uploaded as PDF (drafted elsewhere) made a sandi letter: read with
//! lopdf (bounded: size, pages, nesting, decompression), every page given the level's
//! marking at top and bottom and its page number, drawn from a form of its own so that the
//! page's fonts and state cannot change it; a signature sheet (lembar pengesahan) added with
//! the signature block and the empty signature fields; written anew with one cross-reference
//! table. The signer's field is then filled by an incremental update ([`super::approval`]),
//! ready for its PAdES signature like a rendered letter's.

use lopdf::{Dictionary, Document, Object, ObjectId, Stream};
use pdf_writer::Content;

use super::approval::{Fill, fill};
use super::file::MAX_OBJECTS;
use super::pdf::{
    COPY_BOLD, COPY_REGULAR, FIELD_NAME, HEIGHT, SLOT_NAME, SLOT_W, STAMP_H, STAMP_W, WIDTH,
    deflate, draw, page_marks, stamp_appearance,
};
use super::{Sheets, Surat, colour, signature_block, tanggal, winansi};
use crate::crypto::pades::Prepared;
use crate::{Error, Result};

/// The largest PDF taken as a letter.
pub const MAX_UPLOAD: usize = 16 << 20;
/// The most pages it may have.
const MAX_PAGES: usize = 500;
/// The most any one stream of it may decompress to while it is read.
const MAX_INFLATED: usize = 64 << 20;
/// How far up the page tree an inherited attribute is looked for.
const MAX_DEPTH: usize = 32;
/// The most page content, inflated, read from all its pages together.
const MAX_CONTENT: usize = 256 << 20;

fn bad(why: impl Into<String>) -> Error {
    Error::invalid("surat", why)
}

/// `upload` (a PDF) made the letter `s` describes, with the signer's field filled and its
/// `/Contents` reserved: ready to be hashed and signed. `s.naskah` is not used.
pub fn prepare(upload: &[u8], s: &Surat<'_>) -> Result<Prepared> {
    if upload.len() > MAX_UPLOAD {
        return Err(Error::TooLarge(format!(
            "a letter uploaded as PDF is at most {} MiB",
            MAX_UPLOAD >> 20
        )));
    }
    let options = lopdf::LoadOptions {
        max_decompressed_size: Some(MAX_INFLATED),
        ..lopdf::LoadOptions::default()
    };
    let mut doc = Document::load_mem_with_options(upload, options)
        .map_err(|e| bad(format!("the file is not a PDF that can be read: {e}")))?;
    if doc.is_encrypted() {
        return Err(bad("the PDF is encrypted: upload it without a password"));
    }
    let signed = doc.objects.values().any(|o| {
        o.as_dict().is_ok_and(|d| {
            d.has(b"ByteRange") || d.get(b"Type").and_then(Object::as_name).ok() == Some(b"Sig")
        })
    });
    if signed {
        return Err(bad(
            "the PDF is already signed: upload it unsigned, sandi signs it",
        ));
    }
    if doc.objects.len() > MAX_OBJECTS {
        return Err(bad(format!("the PDF has more than {MAX_OBJECTS} objects")));
    }
    let pages: Vec<ObjectId> = doc.get_pages().into_values().collect();
    if pages.is_empty() || pages.len() > MAX_PAGES {
        return Err(bad(format!("the PDF must have 1-{MAX_PAGES} pages")));
    }
    let total = pages.len() + 1;
    let fonts = fonts(&mut doc);
    let marking = winansi(s.marking);
    let mut budget = MAX_CONTENT;
    for (i, id) in pages.iter().enumerate() {
        let marks = Marks {
            fonts: &fonts,
            marking: &marking,
            colour: colour(s.colour),
            page: i,
            pages: total,
        };
        mark_page(&mut doc, *id, &marks, &mut budget)?;
    }
    let root = rebuild(&mut doc, &pages)?;
    let sheet = sheet(&mut doc, root, s, &fonts, total)?;
    // Streams the upload left uncompressed are compressed, so that none of its words stands
    // in the file as text; a key of a signature left in it anyway (in a string, say) is
    // refused: only sandi's signatures name byte ranges.
    doc.prune_objects();
    doc.compress();
    let revision = write(&mut doc)?;
    if revision.windows(10).any(|w| w == b"/ByteRange") {
        return Err(bad(
            "the PDF holds a signature's /ByteRange: upload it unsigned, sandi signs it",
        ));
    }
    let location = s.naskah.tempat.as_deref().unwrap_or(s.organisation);
    fill(
        &revision,
        &Fill {
            field: FIELD_NAME,
            signer: s.signer_name,
            reason: "Penandatanganan surat dinas",
            location: Some(location),
            at: s.signed_at,
            look: stamp_appearance(&sheet),
            size: (STAMP_W, STAMP_H),
        },
    )
}

/// Helvetica and its bold, WinAnsi, as new objects: what sandi's marks and sheet are drawn in
/// (`F1`, `F2`), and a numbered copy's marks (`SandiF1`, `SandiF2`).
fn fonts(doc: &mut Document) -> Dictionary {
    let mut fonts = Dictionary::new();
    for (names, base) in [
        ([&b"F1"[..], COPY_REGULAR], &b"Helvetica"[..]),
        ([&b"F2"[..], COPY_BOLD], &b"Helvetica-Bold"[..]),
    ] {
        let mut f = Dictionary::new();
        f.set("Type", Object::Name(b"Font".to_vec()));
        f.set("Subtype", Object::Name(b"Type1".to_vec()));
        f.set("BaseFont", Object::Name(base.to_vec()));
        f.set("Encoding", Object::Name(b"WinAnsiEncoding".to_vec()));
        let id = doc.add_object(f);
        for name in names {
            fonts.set(name, Object::Reference(id));
        }
    }
    fonts
}

/// An attribute of page `id`, its own or inherited from the page tree.
fn inherited(doc: &Document, id: ObjectId, key: &[u8]) -> Option<Object> {
    let mut node = doc.get_dictionary(id).ok()?;
    for _ in 0..MAX_DEPTH {
        if let Ok(v) = node.get(key) {
            return Some(v.clone());
        }
        let parent = node.get(b"Parent").and_then(Object::as_reference).ok()?;
        node = doc.get_dictionary(parent).ok()?;
    }
    None
}

/// The dictionary `o` is or refers to, copied.
fn dict_value(doc: &Document, o: &Object) -> Dictionary {
    doc.dereference(o)
        .ok()
        .and_then(|(_, o)| o.as_dict().ok().cloned())
        .unwrap_or_default()
}

/// What is drawn on every page: the marking in its colour and the page number.
struct Marks<'a> {
    fonts: &'a Dictionary,
    marking: &'a [u8],
    colour: [f32; 3],
    page: usize,
    pages: usize,
}

/// Page `id` made anew: its content (inflated, within `budget`) moved into a form of its
/// own with its resources, so that nothing it does to the graphics state (an unbalanced `Q`,
/// a clip, invisible text) reaches what is drawn after it; then sandi's marks from a form of
/// their own. The page keeps only its box (from `0 0`), its rotation, its content and its
/// resources: no crop box to hide the marks behind, no annotation to paint over them.
fn mark_page(doc: &mut Document, id: ObjectId, m: &Marks<'_>, budget: &mut usize) -> Result<()> {
    let media = inherited(doc, id, b"MediaBox")
        .and_then(|b| {
            let b = doc.dereference(&b).ok()?.1.as_array().ok()?.clone();
            let n: Vec<f32> = b.iter().filter_map(|v| v.as_float().ok()).collect();
            (n.len() == 4 && n.iter().all(|v| v.is_finite())).then(|| [n[0], n[1], n[2], n[3]])
        })
        .unwrap_or([0.0, 0.0, WIDTH, HEIGHT]);
    let (x0, y0) = (media[0].min(media[2]), media[1].min(media[3]));
    let (w, h) = ((media[2] - media[0]).abs(), (media[3] - media[1]).abs());
    if !(1.0..=14_400.0).contains(&w) || !(1.0..=14_400.0).contains(&h) {
        return Err(bad("a page of the PDF has no usable size"));
    }
    let content = doc
        .get_page_content_with_limit(id, *budget)
        .map_err(|e| bad(format!("a page's content does not read: {e}")))?;
    *budget = budget.saturating_sub(content.len());
    let resources =
        inherited(doc, id, b"Resources").map_or_else(Dictionary::new, |r| dict_value(doc, &r));
    let rotate = inherited(doc, id, b"Rotate").and_then(|r| r.as_i64().ok());

    let mut original = form_dict([x0, y0, x0 + w, y0 + h]);
    original.set("Resources", Object::Dictionary(resources));
    let original = doc.add_object(flate(original, &content));

    let mut c = Content::new();
    page_marks(&mut c, m.marking, m.colour, (w, h), m.page, m.pages);
    let mut marks = form_dict([0.0, 0.0, w, h]);
    let mut own = Dictionary::new();
    own.set("Font", Object::Dictionary(m.fonts.clone()));
    marks.set("Resources", Object::Dictionary(own));
    let marks = doc.add_object(flate(marks, &c.finish()));

    let mut xobjects = Dictionary::new();
    xobjects.set("SandiIsi", Object::Reference(original));
    xobjects.set("SandiTanda", Object::Reference(marks));
    let mut res = Dictionary::new();
    res.set("XObject", Object::Dictionary(xobjects));
    // A numbered copy draws its marks in fonts of these names, on every page.
    let mut page_fonts = Dictionary::new();
    for name in [COPY_REGULAR, COPY_BOLD] {
        let font = m.fonts.get(name).map_err(|_| bad("sandi's fonts"))?.clone();
        page_fonts.set(name, font);
    }
    res.set("Font", Object::Dictionary(page_fonts));
    let draw = format!(
        "q 1 0 0 1 {} {} cm /SandiIsi Do Q\nq /SandiTanda Do Q\n",
        -x0, -y0
    );
    let stream = doc.add_object(flate(Dictionary::new(), draw.as_bytes()));

    let mut page = Dictionary::new();
    page.set("Type", Object::Name(b"Page".to_vec()));
    page.set(
        "MediaBox",
        Object::Array(vec![
            Object::Integer(0),
            Object::Integer(0),
            Object::Real(w),
            Object::Real(h),
        ]),
    );
    page.set("Contents", Object::Reference(stream));
    page.set("Resources", Object::Dictionary(res));
    if let Some(r) = rotate.filter(|r| r % 90 == 0) {
        page.set("Rotate", Object::Integer(r));
    }
    doc.objects.insert(id, Object::Dictionary(page));
    Ok(())
}

/// A form XObject's dictionary with bounding box `bbox`.
fn form_dict(bbox: [f32; 4]) -> Dictionary {
    let mut form = Dictionary::new();
    form.set("Type", Object::Name(b"XObject".to_vec()));
    form.set("Subtype", Object::Name(b"Form".to_vec()));
    form.set(
        "BBox",
        Object::Array(bbox.iter().map(|v| Object::Real(*v)).collect()),
    );
    form
}

/// The catalog, page tree and trailer made anew: the pages lopdf found, in order, as the
/// one level of the tree (each its `/Parent`); the catalog only its type and pages (no
/// actions, scripts, names, outlines or form of the upload's); the trailer only `/Root` (and
/// a new `/ID`). Returns the page tree's root.
fn rebuild(doc: &mut Document, pages: &[ObjectId]) -> Result<ObjectId> {
    let mut tree = Dictionary::new();
    tree.set("Type", Object::Name(b"Pages".to_vec()));
    tree.set(
        "Kids",
        Object::Array(pages.iter().map(|p| Object::Reference(*p)).collect()),
    );
    tree.set(
        "Count",
        Object::Integer(i64::try_from(pages.len()).map_err(|_| bad("pages"))?),
    );
    let root = doc.add_object(tree);
    for p in pages {
        doc.get_dictionary_mut(*p)
            .map_err(|e| bad(format!("a page does not read: {e}")))?
            .set("Parent", Object::Reference(root));
    }
    let mut catalog = Dictionary::new();
    catalog.set("Type", Object::Name(b"Catalog".to_vec()));
    catalog.set("Pages", Object::Reference(root));
    let catalog = doc.add_object(catalog);
    doc.trailer = Dictionary::new();
    doc.trailer.set("Root", Object::Reference(catalog));
    // A new identifier, written as hex: the upload's may hold any bytes.
    let mut id = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id)
        .map_err(|_| Error::NoRandomness)?;
    let id = Object::String(id.to_vec(), lopdf::StringFormat::Hexadecimal);
    doc.trailer.set("ID", Object::Array(vec![id.clone(), id]));
    Ok(root)
}

/// A stream of `data` compressed, with `dict`.
fn flate(mut dict: Dictionary, data: &[u8]) -> Stream {
    dict.set("Filter", Object::Name(b"FlateDecode".to_vec()));
    Stream::new(dict, deflate(data))
}

/// The signature sheet (lembar pengesahan) added as the last page, with the signer's field
/// and, for a letter held by dual control, the approver's; the form made sandi's alone (the
/// upload's own fields, if any, are no longer fields). Returns the stamp to draw.
fn sheet(
    doc: &mut Document,
    root: ObjectId,
    s: &Surat<'_>,
    fonts: &Dictionary,
    pages: usize,
) -> Result<super::pdf::Stamp> {
    let mut sheets = Sheets::new();
    sheets.centred(&s.organisation.to_uppercase(), 14.0, true)?;
    sheets.centred(&s.agency.to_uppercase(), 13.0, true)?;
    sheets.gap(12.0);
    sheets.centred("LEMBAR PENGESAHAN", 12.0, true)?;
    sheets.gap(8.0);
    for (label, value) in [
        ("Nomor", s.nomor.to_owned()),
        ("Sifat", s.marking.to_owned()),
        ("Perihal", s.perihal.to_owned()),
        ("Tanggal", tanggal(s.dated)),
        (
            "Halaman",
            format!("{} halaman naskah dan lembar ini", pages - 1),
        ),
    ] {
        sheets.wrapped(
            super::LEFT,
            super::RIGHT - super::LEFT,
            &format!("{label}: {value}"),
            false,
        )?;
    }
    let (stamp, slot) = signature_block(&mut sheets, s)?;
    if sheets.pages.len() != 1 {
        return Err(bad("the signature sheet does not fit on one page"));
    }
    let mut c = Content::new();
    page_marks(
        &mut c,
        &winansi(s.marking),
        colour(s.colour),
        (WIDTH, HEIGHT),
        pages - 1,
        pages,
    );
    for op in &sheets.pages[0] {
        draw(&mut c, op);
    }
    let content = doc.add_object(flate(Dictionary::new(), &c.finish()));
    let mut page = Dictionary::new();
    page.set("Type", Object::Name(b"Page".to_vec()));
    page.set("Parent", Object::Reference(root));
    page.set(
        "MediaBox",
        Object::Array(vec![
            Object::Integer(0),
            Object::Integer(0),
            Object::Real(WIDTH),
            Object::Real(HEIGHT),
        ]),
    );
    page.set("Contents", Object::Reference(content));
    let mut resources = Dictionary::new();
    resources.set("Font", Object::Dictionary(fonts.clone()));
    page.set("Resources", Object::Dictionary(resources));
    let page = doc.add_object(page);

    let fields = widgets(doc, page, &stamp, slot.as_ref())?;
    append_page(doc, root, page)?;
    let certs: Vec<Object> = s
        .ca_certs
        .iter()
        .map(|d| Object::Reference(doc.add_object(Stream::new(Dictionary::new(), d.clone()))))
        .collect();
    let crls: Vec<Object> = s
        .crls
        .iter()
        .map(|d| Object::Reference(doc.add_object(Stream::new(Dictionary::new(), d.clone()))))
        .collect();
    let mut dss = Dictionary::new();
    dss.set("Certs", Object::Array(certs));
    dss.set("CRLs", Object::Array(crls));
    let mut form = Dictionary::new();
    form.set("Fields", Object::Array(fields));
    form.set("SigFlags", Object::Integer(3));
    let catalog = doc
        .catalog_mut()
        .map_err(|e| bad(format!("the PDF has no catalog: {e}")))?;
    catalog.set("AcroForm", Object::Dictionary(form));
    catalog.set("DSS", Object::Dictionary(dss));
    Ok(stamp)
}

/// The signer's field (locked, as a rendered letter's) and, for a letter held by dual
/// control, the approver's, as widgets of the sheet `page`, empty.
fn widgets(
    doc: &mut Document,
    page: ObjectId,
    stamp: &super::pdf::Stamp,
    slot: Option<&super::pdf::Slot>,
) -> Result<Vec<Object>> {
    let mut fields = Vec::new();
    let widgets = [(FIELD_NAME, stamp.x, stamp.y, STAMP_W, true)]
        .into_iter()
        .chain(slot.map(|sl| (SLOT_NAME, sl.x, sl.y, SLOT_W, false)));
    for (name, x, y, w, locked) in widgets {
        let mut f = Dictionary::new();
        f.set("Type", Object::Name(b"Annot".to_vec()));
        f.set("Subtype", Object::Name(b"Widget".to_vec()));
        f.set("FT", Object::Name(b"Sig".to_vec()));
        f.set("T", Object::string_literal(name));
        f.set(
            "Rect",
            Object::Array(vec![
                Object::Real(x),
                Object::Real(y),
                Object::Real(x + w),
                Object::Real(y + STAMP_H),
            ]),
        );
        f.set("P", Object::Reference(page));
        // Print, and for the signer's stamp Locked (as a rendered letter's).
        f.set("F", Object::Integer(if locked { 132 } else { 4 }));
        fields.push(Object::Reference(doc.add_object(f)));
    }
    doc.get_dictionary_mut(page)
        .map_err(|e| bad(format!("the signature sheet: {e}")))?
        .set("Annots", Object::Array(fields.clone()));

    Ok(fields)
}

/// `page` added at the end of the page tree whose root is `root`.
fn append_page(doc: &mut Document, root: ObjectId, page: ObjectId) -> Result<()> {
    let tree = doc
        .get_dictionary_mut(root)
        .map_err(|e| bad(format!("the page tree does not read: {e}")))?;
    let mut kids = tree
        .get(b"Kids")
        .and_then(Object::as_array)
        .map_err(|e| bad(format!("the page tree does not read: {e}")))?
        .clone();
    kids.push(Object::Reference(page));
    let count = tree.get(b"Count").and_then(Object::as_i64).unwrap_or(0) + 1;
    tree.set("Kids", Object::Array(kids));
    tree.set("Count", Object::Integer(count));

    Ok(())
}

/// The document written anew: one cross-reference table, no object streams, one key a line
/// (what sandi's own reading of its letters expects).
fn write(doc: &mut Document) -> Result<Vec<u8>> {
    doc.reference_table.cross_reference_type = lopdf::xref::XrefType::CrossReferenceTable;
    let options = lopdf::SaveOptions::builder()
        .use_object_streams(false)
        .use_xref_streams(false)
        .pretty(true)
        .build();
    let mut out = Vec::new();
    doc.save_with_options(&mut out, options)
        .map_err(|e| bad(format!("the PDF cannot be written again: {e}")))?;
    Ok(out)
}
