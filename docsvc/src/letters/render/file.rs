//! Reading back a PDF that sandi's own writer laid out (a rendered letter, signed, perhaps
//! with its approval appended): the cross-reference tables from the last back through
//! `/Prev`, an object by its offset, and the last trailer. Not a general PDF reader: a file
//! laid out otherwise is refused, never guessed at.

use crate::{Error, Result};

pub(super) fn bad(what: &str) -> Error {
    Error::invalid(
        "pdf",
        format!("{what}: only letters sandi rendered are read here"),
    )
}

/// The first place `needle` occurs in `hay` at or after `from`.
pub(super) fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The most revisions read: a letter has its own, its signature's (an upload's is an update),
/// its document time-stamp's, and its approval's with the time-stamp after it.
const MAX_REVISIONS: usize = 8;
/// The most objects a letter's file may have (an uploaded PDF is refused above this).
pub(super) const MAX_OBJECTS: usize = 100_000;

/// The in-use objects of `pdf`, number and offset, by its cross-reference tables: the one
/// `startxref` names and those before it through `/Prev`, a later entry hiding an earlier.
pub(super) fn objects(pdf: &[u8], last: usize) -> Result<Entries> {
    let mut out = std::collections::BTreeMap::new();
    let mut at = Some(last);
    let mut seen = Vec::new();
    while let Some(table) = at {
        if seen.contains(&table) || seen.len() == MAX_REVISIONS {
            return Err(bad("cross-reference tables that loop or run on"));
        }
        seen.push(table);
        let (entries, prev) = xref(pdf, table)?;
        for (n, offset) in entries {
            out.entry(n).or_insert(offset);
        }
        at = prev;
    }
    Ok(out.into_iter().collect())
}

/// In-use objects: number and offset.
type Entries = Vec<(u32, usize)>;

/// One cross-reference table at `at`: its in-use entries and its trailer's `/Prev`.
fn xref(pdf: &[u8], at: usize) -> Result<(Entries, Option<usize>)> {
    let table = pdf
        .get(at..)
        .and_then(|t| t.strip_prefix(b"xref\n"))
        .ok_or_else(|| bad("no cross-reference table"))?;
    let end = find(table, b"trailer", 0).ok_or_else(|| bad("no trailer"))?;
    if end > 20 * (MAX_OBJECTS + 64) {
        return Err(bad("a cross-reference table too long"));
    }
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
                let n = start
                    .checked_add(i)
                    .ok_or_else(|| bad("a cross-reference section out of range"))?;
                out.push((n, offset));
            }
        }
    }
    let trailer = &table[end..];
    let close = find(trailer, b">>", 0).ok_or_else(|| bad("a trailer cut short"))?;
    let dict = String::from_utf8_lossy(&trailer[..close]);
    let prev = match dict.split_once("/Prev ") {
        Some((_, rest)) => Some(
            rest.split_ascii_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| bad("a /Prev that does not read"))?,
        ),
        None => None,
    };
    Ok((out, prev))
}

/// The bytes of the object at `offset`, from its number to just past its `endobj`; a stream's
/// data is skipped by its `/Length`, not searched.
pub(super) fn object_at(pdf: &[u8], offset: usize) -> Result<&[u8]> {
    let cut = || bad("an object cut short");
    let from = pdf.get(offset..).ok_or_else(cut)?;
    let head_end = find(from, b"endobj", 0).ok_or_else(cut)?;
    let end = match find(&from[..head_end], b"stream\n", 0) {
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

/// The data of a stream object as [`object_at`] gives it (by its direct `/Length`).
pub(super) fn stream_data(object: &[u8]) -> Option<&[u8]> {
    let s = find(object, b"stream\n", 0)?;
    let dict = std::str::from_utf8(&object[..s]).ok()?;
    let length: usize = dict
        .split_once("/Length ")
        .and_then(|(_, r)| r.split_ascii_whitespace().next())
        .and_then(|n| n.trim_end_matches(['>', '/']).parse().ok())?;
    object.get(s + 7..(s + 7).checked_add(length)?)
}

/// The dictionary text of an object (before any stream), or `None` for one that is not text.
pub(super) fn dict_of(object: &[u8]) -> Option<&str> {
    let end = find(object, b"stream\n", 0).unwrap_or(object.len());
    std::str::from_utf8(&object[..end]).ok()
}

/// The last trailer of `pdf`: where its cross-reference table is, `/Root`, `/Size`, `/ID`.
#[derive(Debug)]
pub(super) struct Trailer {
    pub xref: usize,
    pub root: String,
    pub size: u32,
    pub id: String,
}

pub(super) fn trailer(pdf: &[u8]) -> Result<Trailer> {
    let tail = &pdf[pdf.len().saturating_sub(64)..];
    let text = String::from_utf8_lossy(tail);
    let xref: usize = text
        .rfind("startxref")
        .and_then(|i| text[i + 9..].split_whitespace().next()?.parse().ok())
        .ok_or_else(|| bad("no cross-reference offset"))?;
    // The trailer that follows the table `startxref` names (entries are digits, so the first
    // `trailer` after them is it), up to its `startxref`: no string of the file is read as it.
    let table = pdf
        .get(xref..)
        .filter(|t| t.starts_with(b"xref"))
        .ok_or_else(|| bad("no cross-reference table"))?;
    let start = find(table, b"trailer", 0).ok_or_else(|| bad("no trailer"))?;
    let stop = find(table, b"startxref", start).ok_or_else(|| bad("no trailer"))?;
    let dict = String::from_utf8_lossy(&table[start + 7..stop]).into_owned();
    let field = |key: &str| -> Option<String> {
        let (_, rest) = dict.split_once(key)?;
        Some(
            rest.trim_start()
                .split(['/', '>'])
                .next()?
                .trim()
                .to_owned(),
        )
    };
    let root = field("/Root").ok_or_else(|| bad("no /Root"))?;
    let size = field("/Size")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no /Size"))?;
    let id = dict
        .split_once("/ID")
        .and_then(|(_, rest)| rest.find(']').map(|e| format!("/ID{}", &rest[..=e])))
        .unwrap_or_default();
    Ok(Trailer {
        xref,
        root,
        size,
        id,
    })
}

/// The bytes of `objects` (number and bytes, each `N 0 obj … endobj`) appended to `pdf` as
/// an incremental update: its cross-reference sections and a trailer pointing back at the
/// table before. Returns the whole file.
pub(super) fn append(pdf: &[u8], objects: &[(u32, Vec<u8>)], last: &Trailer) -> Vec<u8> {
    let mut out = pdf.to_vec();
    out.push(b'\n');
    let mut offsets: Vec<(u32, usize)> = Vec::with_capacity(objects.len());
    for (n, bytes) in objects {
        offsets.push((*n, out.len()));
        out.extend_from_slice(bytes);
        out.push(b'\n');
    }
    offsets.sort_unstable();
    let size = offsets
        .iter()
        .map(|(n, _)| n + 1)
        .max()
        .unwrap_or(0)
        .max(last.size);
    let xref = out.len();
    out.extend_from_slice(b"xref\n");
    // One section for each run of consecutive numbers.
    let mut i = 0;
    while i < offsets.len() {
        let mut j = i + 1;
        while j < offsets.len() && offsets[j].0 == offsets[j - 1].0 + 1 {
            j += 1;
        }
        out.extend_from_slice(format!("{} {}\n", offsets[i].0, j - i).as_bytes());
        for (_, offset) in &offsets[i..j] {
            out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
        }
        i = j;
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {size} /Root {} /Prev {} {} >>\nstartxref\n{xref}\n%%EOF\n",
            last.root, last.xref, last.id
        )
        .as_bytes(),
    );
    out
}

/// The catalog of `pdf`: its number and its dictionary's text, found through the last
/// trailer's `/Root` among `objects`.
pub(super) fn catalog<'a>(
    pdf: &'a [u8],
    last: &Trailer,
    objects: &[(u32, usize)],
) -> Result<(u32, &'a str)> {
    let unreadable = || bad("the letter's catalog does not read");
    let root: u32 = last
        .root
        .split_ascii_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(unreadable)?;
    let offset = objects
        .iter()
        .find(|(n, _)| *n == root)
        .map(|(_, o)| *o)
        .ok_or_else(unreadable)?;
    Ok((
        root,
        dict_of(object_at(pdf, offset)?).ok_or_else(unreadable)?,
    ))
}

/// The numbers of the catalog's form fields (`/AcroForm /Fields`): only these are looked
/// at, so a field of the same name elsewhere in a file (an uploaded PDF's own) is never
/// taken for sandi's.
pub(super) fn form_fields(
    pdf: &[u8],
    last: &Trailer,
    objects: &[(u32, usize)],
) -> Result<Vec<u32>> {
    let unreadable = || bad("the letter's form does not read");
    let (_, catalog) = catalog(pdf, last, objects)?;
    let (_, form) = catalog.split_once("/AcroForm").ok_or_else(unreadable)?;
    let (_, fields) = form.split_once("/Fields").ok_or_else(unreadable)?;
    let refs = fields
        .trim_start()
        .strip_prefix('[')
        .and_then(|l| l.split_once(']'))
        .map(|(l, _)| l)
        .ok_or_else(unreadable)?;
    let words: Vec<&str> = refs.split_ascii_whitespace().collect();
    words
        .chunks(3)
        .map(|r| match r {
            [n, _, "R"] => n.parse().map_err(|_| unreadable()),
            _ => Err(unreadable()),
        })
        .collect()
}
