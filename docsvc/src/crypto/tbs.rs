//! The few fields of a certificate that every signing call needs (serial, issuer, public key),
//! read by walking the DER headers of the to-be-signed part instead of parsing all of it. A
//! whole parse (every extension, every name) three times per call was a tenth of a signing
//! call's CPU in the bench's profile. This reads; it judges nothing: chains are checked
//! elsewhere, and whatever it cannot read is `None`, which callers refuse.

use der::{Decode as _, Header, Reader as _, SliceReader, Tag, TagNumber};

/// Slices of one certificate's DER.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fields<'a> {
    /// `serialNumber`, the whole INTEGER (tag, length, value).
    pub serial: &'a [u8],
    /// The INTEGER's content octets, as a CRL's entries name it.
    pub serial_value: &'a [u8],
    /// `issuer`, the whole Name (tag, length, value).
    pub issuer: &'a [u8],
    /// `subjectPublicKeyInfo`, whole.
    pub spki: &'a [u8],
}

/// The fields of the certificate `der`, or `None` when its first fields are not laid out as
/// RFC 5280 lays them out.
pub fn read(der: &[u8]) -> Option<Fields<'_>> {
    let mut outer = SliceReader::new(der).ok()?;
    let (tag, _, cert) = next(der, &mut outer)?;
    if tag != Tag::Sequence {
        return None;
    }
    let mut r = SliceReader::new(cert).ok()?;
    let (tag, _, tbs) = next(cert, &mut r)?;
    if tag != Tag::Sequence {
        return None;
    }
    let mut t = SliceReader::new(tbs).ok()?;
    let mut field = next(tbs, &mut t)?;
    // version [0] EXPLICIT, absent for v1.
    let version = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber::N0,
    };
    if field.0 == version {
        field = next(tbs, &mut t)?;
    }
    let (tag, serial, serial_value) = field;
    if tag != Tag::Integer {
        return None;
    }
    let mut sequence = || {
        let (tag, whole, _) = next(tbs, &mut t)?;
        (tag == Tag::Sequence).then_some(whole)
    };
    let _signature = sequence()?;
    let issuer = sequence()?;
    let _validity = sequence()?;
    let _subject = sequence()?;
    let spki = sequence()?;
    Some(Fields {
        serial,
        serial_value,
        issuer,
        spki,
    })
}

/// The next TLV of `input` in `r`: its tag, its whole encoding and its value.
fn next<'a>(input: &'a [u8], r: &mut SliceReader<'a>) -> Option<(Tag, &'a [u8], &'a [u8])> {
    let start = usize::try_from(r.position()).ok()?;
    let header = Header::decode(r).ok()?;
    let value = r.read_slice(header.length).ok()?;
    let end = usize::try_from(r.position()).ok()?;
    Some((header.tag, input.get(start..end)?, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::Encode as _;

    /// A P-256 certificate made by rcgen with the serial `serial`.
    fn certificate_with(serial: &[u8]) -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let mut params = rcgen::CertificateParams::new(vec!["a.example".into()]).expect("params");
        params.serial_number = Some(rcgen::SerialNumber::from_slice(serial));
        params.self_signed(&key).expect("cert").der().to_vec()
    }

    fn certificate() -> Vec<u8> {
        certificate_with(&[0x00, 0x9a, 0x01, 0x02])
    }

    /// `tag`, a minimal DER length and `value`.
    fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
        let len = value.len();
        let mut out = vec![tag];
        match len {
            0..=0x7f => out.push(u8::try_from(len).expect("short")),
            0x80..=0xff => out.extend([0x81, u8::try_from(len).expect("one byte")]),
            _ => out.extend(
                [0x82]
                    .into_iter()
                    .chain(u16::try_from(len).expect("two bytes").to_be_bytes()),
            ),
        }
        out.extend_from_slice(value);
        out
    }

    #[test]
    fn reads_what_a_whole_parse_reads() {
        // Leading zero, high bit set, one byte, the longest RFC 5280 allows.
        for serial in [
            &[0x00, 0x9a, 0x01, 0x02][..],
            &[0x80, 0x01],
            &[0x01],
            &[0x7f; 20],
        ] {
            let der = certificate_with(serial);
            let f = read(&der).expect("fields");
            let (_, c) = x509_parser::parse_x509_certificate(&der).expect("parse");
            assert_eq!(
                f.serial_value,
                c.tbs_certificate.raw_serial(),
                "{serial:x?}"
            );
            assert_eq!(f.issuer, c.issuer().as_raw());
            assert_eq!(f.spki, c.public_key().raw);
            assert_eq!(f.serial[0], 0x02, "the whole INTEGER, tag first");
            assert_eq!(&f.serial[2..], f.serial_value);
        }
    }

    /// A version 1 certificate (no `[0] version`) names the same fields as its v3 original.
    #[test]
    fn reads_a_certificate_without_a_version() {
        let der = certificate();
        let cert = der::asn1::AnyRef::from_der(&der).expect("outer");
        let mut r = SliceReader::new(cert.value()).expect("reader");
        let tbs = der::asn1::AnyRef::decode(&mut r).expect("tbs");
        let rest = &cert.value()[tbs
            .encoded_len()
            .map(usize::try_from)
            .expect("len")
            .expect("usize")..];
        let version = [0xa0, 0x03, 0x02, 0x01, 0x02];
        assert_eq!(&tbs.value()[..5], version, "rcgen writes v3");
        let v1_tbs = tlv(0x30, &tbs.value()[5..]);
        let v1 = tlv(0x30, &[v1_tbs.as_slice(), rest].concat());
        let (a, b) = (read(&der).expect("v3"), read(&v1).expect("v1"));
        assert_eq!((a.serial, a.issuer, a.spki), (b.serial, b.issuer, b.spki));
    }

    /// BER's freedoms (a longer length than needed, an indefinite length) are not DER: not
    /// read, so a revocation lookup is Unknown and refused rather than keyed on other bytes.
    #[test]
    fn refuses_lengths_that_are_not_der() {
        let der = certificate();
        assert_eq!(der[1], 0x82, "a certificate of 256 bytes or more");
        let longer = [&[0x30, 0x83, 0x00][..], &der[2..]].concat();
        assert_eq!(read(&longer), None);
        let indefinite = [&[0x30, 0x80][..], &der[4..], &[0x00, 0x00]].concat();
        assert_eq!(read(&indefinite), None);
    }

    #[test]
    fn refuses_what_is_not_laid_out_as_a_certificate() {
        let der = certificate();
        // Cut anywhere before the public key ends: not read.
        let f = read(&der).expect("fields");
        let spki_end = f.spki.as_ptr() as usize - der.as_ptr() as usize + f.spki.len();
        for cut in [0, 1, 4, 10, 40, spki_end - 1] {
            assert_eq!(read(&der[..cut]), None, "cut at {cut}");
        }
        // A serial that is not an INTEGER.
        let mut bad = der.clone();
        let at = f.serial.as_ptr() as usize - der.as_ptr() as usize;
        bad[at] = 0x04;
        assert_eq!(read(&bad), None);
        // An outer tag that is not a SEQUENCE.
        let mut bad = der;
        bad[0] = 0x31;
        assert_eq!(read(&bad), None);
        assert_eq!(read(b""), None);
    }
}
