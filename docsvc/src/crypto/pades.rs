//! PAdES signatures inside a PDF (ETSI EN 319 142-1, baseline B-T, and B-LTA with the
//! document time-stamp after them): a CAdES-detached CMS (`signature::Kind::Pdf`) over every
//! byte of the file except the signature's own `/Contents`, time-stamped by sandi's TSA; a
//! document time-stamp is the TSA's token itself over the same kind of byte range. This module owns the byte ranges: the gap the
//! writer reserved, what is hashed, putting the CMS into the gap, and finding signatures in a
//! PDF someone hands in to check them.

use ring::digest;

use super::signature::{self, Content, Kind, Trust, Verified};
use crate::{Error, Result};

/// Bytes reserved for the CMS (hex doubles them in the file): the signer's and the Signing
/// CA's certificates, the signature, and the TSA's token with its certificate, with room.
pub const RESERVED: usize = 12 * 1024;

/// The `/ByteRange` a PDF writer puts in the signature dictionary before the gap is known;
/// rewritten in place, to the same length, by [`Prepared::new`].
pub const BYTE_RANGE_PLACEHOLDER: [i32; 4] = [0, i32::MAX, i32::MAX, i32::MAX];
const RANGE_TEXT: &[u8] = b"/ByteRange [0 2147483647 2147483647 2147483647]";
/// The start of the reserved `/Contents`: a hex string of `RESERVED` 0xFF bytes.
const CONTENTS_TEXT: &[u8] = b"/Contents <FFFFFFFF";

/// The largest PDF whose signatures are looked for (an upload to the verification page is
/// bounded before this).
const MAX_PDF: usize = 64 << 20;
/// The most signatures read from one PDF: each is hashed over the whole file and checked, so
/// a file naming the same gap many times must not multiply the work.
pub const MAX_SIGNATURES: usize = 8;
/// The largest CMS read out of a gap, before any of it is parsed: a signature with its chain
/// and time-stamp is a few KiB, and DER SETs are sorted as they are decoded, so a huge one
/// would be work for nothing.
pub const MAX_CMS: usize = 32 * 1024;

fn bad(what: impl Into<String>) -> Error {
    Error::Signature(what.into())
}

/// The one place `needle` occurs in `hay`, or an error.
fn find_once(hay: &[u8], needle: &[u8]) -> Result<usize> {
    let mut found = hay
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle);
    let (at, _) = found
        .next()
        .ok_or_else(|| bad("the PDF has no reserved signature field"))?;
    if found.next().is_some() {
        return Err(bad("the PDF has more than one reserved signature field"));
    }
    Ok(at)
}

/// A PDF written with one signature dictionary whose `/Contents` is reserved and whose
/// `/ByteRange` now names the bytes around it: ready to be hashed and signed.
#[derive(Debug)]
pub struct Prepared {
    pdf: Vec<u8>,
    /// The reserved hex string, from its `<` to just past its `>`.
    gap: (usize, usize),
}

impl Prepared {
    /// Finds the reserved `/Contents` and the placeholder `/ByteRange` in `pdf` and writes
    /// the real ranges over the placeholder (padded with spaces to its length, so that no
    /// offset moves).
    pub fn new(pdf: Vec<u8>) -> Result<Self> {
        Self::after(pdf, 0)
    }

    /// As [`Prepared::new`], for a signature dictionary in the bytes from `from` on: an
    /// incremental update appended to a file already signed, whose own bytes are not searched.
    pub fn after(mut pdf: Vec<u8>, from: usize) -> Result<Self> {
        let tail = pdf
            .get(from..)
            .ok_or_else(|| bad("the update starts past the end of the file"))?;
        let key = from + find_once(tail, CONTENTS_TEXT)?;
        let start = key + b"/Contents ".len();
        let end = start + 2 + 2 * RESERVED;
        let whole = pdf
            .get(start + 1..end)
            .ok_or_else(|| bad("the reserved signature field is cut short"))?;
        let (hex, close) = whole.split_at(2 * RESERVED);
        if hex.iter().any(|&b| b != b'F') || close != b">" {
            return Err(bad("the reserved signature field is not the size reserved"));
        }
        let range = from + find_once(&pdf[from..], RANGE_TEXT)? + b"/ByteRange ".len();
        let width = RANGE_TEXT.len() - b"/ByteRange ".len();
        let mut text = format!("[0 {start} {end} {}]", pdf.len() - end).into_bytes();
        if text.len() > width {
            return Err(bad("the PDF is too large to sign"));
        }
        text.resize(width, b' ');
        pdf[range..range + width].copy_from_slice(&text);
        Ok(Prepared {
            pdf,
            gap: (start, end),
        })
    }

    /// Whether `other` is this file with something else in the reserved gap: the same bytes
    /// everywhere else, the gap where `gap` (`<` to just past `>`) says.
    pub fn is_filled_as(&self, other: &[u8], gap: (usize, usize)) -> bool {
        let (start, end) = self.gap;
        gap == self.gap
            && other.len() == self.pdf.len()
            && other[..start] == self.pdf[..start]
            && other[end..] == self.pdf[end..]
    }

    /// The digest of the signed bytes (all but the gap) by `alg`.
    pub fn digest(&self, alg: &'static digest::Algorithm) -> Vec<u8> {
        ranges_digest(
            &self.pdf,
            [0, self.gap.0, self.gap.1, self.pdf.len() - self.gap.1],
            alg,
        )
    }

    /// The signed PDF: `cms` (DER) as hex in the gap, the rest of the gap zeros.
    pub fn embed(mut self, cms: &[u8]) -> Result<Vec<u8>> {
        if cms.len() > RESERVED {
            return Err(bad(format!(
                "the signature ({} bytes) is larger than the {RESERVED} bytes reserved for it",
                cms.len()
            )));
        }
        let hex = hex::encode_upper(cms);
        let (start, end) = self.gap;
        let inside = &mut self.pdf[start + 1..end - 1];
        inside.fill(b'0');
        inside[..hex.len()].copy_from_slice(hex.as_bytes());
        Ok(self.pdf)
    }
}

fn ranges_digest(pdf: &[u8], r: [usize; 4], alg: &'static digest::Algorithm) -> Vec<u8> {
    let mut ctx = digest::Context::new(alg);
    ctx.update(&pdf[r[0]..r[0] + r[1]]);
    ctx.update(&pdf[r[2]..r[2] + r[3]]);
    ctx.finish().as_ref().to_vec()
}

/// A signature found in a PDF: the CMS and the bytes it covers.
#[derive(Debug)]
pub struct Embedded {
    pub cms: Vec<u8>,
    /// `/ByteRange`: offset and length of the two signed runs.
    pub ranges: [usize; 4],
    /// Whether the signed runs are the whole file: no byte added after this signature.
    pub covers_whole: bool,
    /// A document time-stamp (its CMS an RFC 3161 token, whose content is a `TSTInfo`), not
    /// a signature: told by what the CMS holds, not by what the dictionary around it says.
    pub timestamp: bool,
}

/// `id-ct-TSTInfo` (RFC 3161): the content of a time-stamp token.
const ID_CT_TST_INFO: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");

/// Whether `cms_der` is a time-stamp token (signed data whose content is a `TSTInfo`).
fn is_token(cms_der: &[u8]) -> bool {
    use der::Decode as _;
    cms::content_info::ContentInfo::from_der(cms_der)
        .ok()
        .and_then(|info| {
            info.content
                .decode_as::<cms::signed_data::SignedData>()
                .ok()
        })
        .is_some_and(|sd| sd.encap_content_info.econtent_type == ID_CT_TST_INFO)
}

/// Every signature in `pdf`, in file order, each read from its `/ByteRange`: the gap it names
/// must be one hex string and the runs must lie in the file; anything else is refused, so
/// that a signature cannot be shown over bytes it does not cover.
pub fn embedded(pdf: &[u8]) -> Result<Vec<Embedded>> {
    if pdf.len() > MAX_PDF {
        return Err(bad("the PDF is larger than the verifier reads"));
    }
    let key = b"/ByteRange";
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = pdf[from..]
        .windows(key.len())
        .position(|w| w == key)
        .map(|p| p + from)
    {
        from = at + key.len();
        if out.len() == MAX_SIGNATURES {
            return Err(bad(format!(
                "the PDF holds more than {MAX_SIGNATURES} signatures"
            )));
        }
        let ranges = read_ranges(&pdf[from..])?;
        let [a, b, c, d] = ranges;
        let end = c
            .checked_add(d)
            .ok_or_else(|| bad("a /ByteRange overflows"))?;
        if a != 0 || b >= c || end > pdf.len() || c - b < 2 {
            return Err(bad(
                "a /ByteRange does not name two runs of this file around a gap",
            ));
        }
        // Each signature of a file signs more of it than the one before: the same gap named
        // twice (or an earlier one after a later one) is not a signature of its own.
        if out.last().is_some_and(|p: &Embedded| p.ranges[1] >= b) {
            return Err(bad("two signatures name the same or an earlier gap"));
        }
        if c - b > 2 * MAX_CMS + 2 {
            return Err(bad(format!(
                "a signature's gap is larger than the {MAX_CMS} bytes a signature is read up to"
            )));
        }
        let gap = &pdf[b..c];
        let inner = &gap[1..gap.len() - 1];
        if gap[0] != b'<' || gap[gap.len() - 1] != b'>' || inner.len() % 2 != 0 {
            return Err(bad("a signature's gap is not one hex string"));
        }
        let bytes =
            hex::decode(inner).map_err(|_| bad("a signature's gap is not one hex string"))?;
        let cms = trimmed_der(&bytes)?;
        out.push(Embedded {
            timestamp: is_token(&cms),
            cms,
            ranges,
            covers_whole: end == pdf.len(),
        });
    }
    Ok(out)
}

/// The four integers of `[a b c d]` at the start of `s` (after white space).
fn read_ranges(s: &[u8]) -> Result<[usize; 4]> {
    let unreadable = || bad("a /ByteRange is not an array of four offsets");
    let s = &s[..s.len().min(128)];
    let close = s.iter().position(|&b| b == b']').ok_or_else(unreadable)?;
    let text = std::str::from_utf8(&s[..close]).map_err(|_| unreadable())?;
    let body = text.trim_start().strip_prefix('[').ok_or_else(unreadable)?;
    let numbers: Vec<usize> = body
        .split_ascii_whitespace()
        .map(str::parse)
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| unreadable())?;
    numbers.try_into().map_err(|_| unreadable())
}

/// The DER element at the start of `bytes`, the padding after it all zeros.
fn trimmed_der(bytes: &[u8]) -> Result<Vec<u8>> {
    use der::Reader as _;
    let none = |_| bad("a signature's gap holds no CMS");
    let mut r = der::SliceReader::new(bytes).map_err(none)?;
    let header = <der::Header as der::Decode>::decode(&mut r).map_err(none)?;
    let len = (r.position() + header.length).map_err(none)?;
    let len = usize::try_from(len).map_err(none)?;
    let (cms, pad) = bytes
        .split_at_checked(len)
        .ok_or_else(|| bad("a signature's CMS runs past its gap"))?;
    if pad.iter().any(|&b| b != 0) {
        return Err(bad("a signature's gap holds more than its CMS"));
    }
    Ok(cms.to_vec())
}

/// One signature of a PDF checked: its CMS as every sandi signature is (one signer, the
/// chain to sandi's root at the time-stamp's time), over the bytes its `/ByteRange` names.
pub fn verify(
    pdf: &[u8],
    found: &Embedded,
    trust: &Trust,
    at: time::OffsetDateTime,
) -> Result<Verified> {
    if found.timestamp {
        return Err(bad("a document time-stamp, not a signature"));
    }
    let alg = digest_algorithm(&found.cms)?;
    let content = if alg == &digest::SHA384 {
        let mut d = [0u8; 48];
        d.copy_from_slice(&ranges_digest(pdf, found.ranges, alg));
        Content::Sha384(d)
    } else {
        let mut d = [0u8; 32];
        d.copy_from_slice(&ranges_digest(pdf, found.ranges, alg));
        Content::Sha256(d)
    };
    signature::verify_detached(&found.cms, Kind::Pdf, content, trust, at)
}

/// A document time-stamp of a PDF checked: the token's imprint is the SHA-256 of the bytes its
/// `/ByteRange` names, its TSA certificate chains to sandi's root at the token's time.
pub fn verify_timestamp(
    pdf: &[u8],
    found: &Embedded,
    trust: &Trust,
) -> Result<crate::crypto::timestamp::Stamp> {
    if !found.timestamp {
        return Err(bad("a signature, not a document time-stamp"));
    }
    let digest = ranges_digest(pdf, found.ranges, &digest::SHA256);
    let stamp = crate::crypto::timestamp::of_document(&found.cms, &digest)?;
    stamp.check_trusted(trust)?;
    Ok(stamp)
}

/// The digest algorithm of the one signer of `cms_der` (what the PDF's bytes are hashed by).
fn digest_algorithm(cms_der: &[u8]) -> Result<&'static digest::Algorithm> {
    use const_oid::db::rfc5912;
    use der::Decode as _;
    let malformed = |e: der::Error| bad(format!("malformed CMS: {e}"));
    let info = cms::content_info::ContentInfo::from_der(cms_der).map_err(malformed)?;
    let sd: cms::signed_data::SignedData = info.content.decode_as().map_err(malformed)?;
    let [si] = sd.signer_infos.0.as_slice() else {
        return Err(bad("expected exactly one signer"));
    };
    if si.digest_alg.oid == rfc5912::ID_SHA_384 {
        Ok(&digest::SHA384)
    } else if si.digest_alg.oid == rfc5912::ID_SHA_256 {
        Ok(&digest::SHA256)
    } else {
        Err(bad(format!(
            "unsupported digest algorithm {}",
            si.digest_alg.oid
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file shaped as the writer leaves it: a signature dictionary with the placeholder
    /// range and the reserved contents, bytes before and after.
    fn reserved() -> Vec<u8> {
        let mut f = b"%PDF-1.7\n1 0 obj\n<< /Type /Sig ".to_vec();
        f.extend_from_slice(RANGE_TEXT);
        f.extend_from_slice(b" /Contents <");
        f.extend(std::iter::repeat_n(b'F', 2 * RESERVED));
        f.extend_from_slice(b"> >>\nendobj\ntrailer\n%%EOF\n");
        f
    }

    /// A CMS-shaped DER element (a SEQUENCE) of `n` content bytes.
    fn der(n: u8) -> Vec<u8> {
        let mut d = vec![0x30, n];
        d.extend(std::iter::repeat_n(7u8, usize::from(n)));
        d
    }

    #[test]
    fn the_ranges_cover_all_but_the_gap_and_the_cms_comes_back_out_exactly() {
        let prepared = Prepared::new(reserved()).expect("prepared");
        let signed = prepared.embed(&der(40)).expect("embedded");
        let found = embedded(&signed).expect("found");
        assert_eq!(found.len(), 1);
        let [start, gap, after, rest] = found[0].ranges;
        assert_eq!((start, after + rest), (0, signed.len()));
        assert_eq!((signed[gap], signed[after - 1]), (b'<', b'>'));
        assert!(found[0].covers_whole);
        assert_eq!(found[0].cms, der(40));
        // The same file size as reserved: nothing moved.
        assert_eq!(signed.len(), reserved().len());
    }

    #[test]
    fn a_byte_added_after_the_signature_is_seen() {
        let mut signed = Prepared::new(reserved())
            .expect("prepared")
            .embed(&der(40))
            .expect("embedded");
        signed.extend_from_slice(b"% added\n");
        assert!(!embedded(&signed).expect("found")[0].covers_whole);
    }

    #[test]
    fn a_gap_that_is_not_one_hex_string_or_holds_more_than_its_cms_is_refused() {
        let signed = Prepared::new(reserved())
            .expect("prepared")
            .embed(&der(40))
            .expect("embedded");
        let found = embedded(&signed).expect("found");
        let [_, b, c, _] = found[0].ranges;
        // Not hex.
        let mut bad_hex = signed.clone();
        bad_hex[b + 5] = b'Z';
        assert!(embedded(&bad_hex).is_err());
        // Something after the CMS in the padding.
        let mut smuggled = signed.clone();
        smuggled[c - 3] = b'1';
        assert!(embedded(&smuggled).is_err());
        // A range that points outside the file.
        let text = String::from_utf8_lossy(&signed).replace(
            &format!("[0 {b} {c} "),
            &format!("[0 {b} {} ", c + 1_000_000),
        );
        assert!(embedded(text.as_bytes()).is_err());
    }

    #[test]
    fn a_gap_larger_than_a_signature_is_refused_before_it_is_read() {
        let gap = 2 * MAX_CMS + 4;
        let mut f = format!("%PDF-1.7\n<< /ByteRange [0 64 {} 10] >>\n", 64 + gap).into_bytes();
        f.resize(64, b' ');
        f.push(b'<');
        f.extend(std::iter::repeat_n(b'0', gap - 2));
        f.push(b'>');
        f.extend_from_slice(b"\n%%EOF\n      \n");
        let e = embedded(&f).expect_err("too large a gap");
        assert!(e.to_string().contains("larger than"), "{e}");
    }

    #[test]
    fn a_cms_larger_than_the_reserved_room_is_refused() {
        let prepared = Prepared::new(reserved()).expect("prepared");
        assert!(prepared.embed(&vec![0u8; RESERVED + 1]).is_err());
    }

    #[test]
    fn a_file_naming_the_gap_again_and_again_is_refused() {
        let signed = Prepared::new(reserved())
            .expect("prepared")
            .embed(&der(40))
            .expect("embedded");
        let found = embedded(&signed).expect("found");
        let [_, b, c, d] = found[0].ranges;
        let mut many = signed;
        for _ in 0..MAX_SIGNATURES {
            many.extend_from_slice(format!("/ByteRange [0 {b} {c} {d}]\n").as_bytes());
        }
        let e = embedded(&many).expect_err("the same gap twice");
        assert!(e.to_string().contains("same or an earlier gap"), "{e}");
    }
}
