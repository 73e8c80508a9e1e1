//! The organisation's OID arc: where sandi's own certificate extensions live. It is chosen at
//! the init ceremony (the organisation's IANA Private Enterprise Number arc,
//! `1.3.6.1.4.1.N`, or another arc it controls) and recorded in the CA state.
//!
//! ```text
//! {arc}.1.x   CMS content types of docsvc's signatures (fixed under the development arc)
//! {arc}.2.1   node attributes: SEQUENCE { UTF8String agency, UTF8String accreditation }
//! {arc}.3.1   the time-stamping authority's policy (TSTInfo.policy, see `tsa`)
//! ```
//!
//! Every component must fit in 32 bits: many X.509 parsers (RustCrypto's `x509-cert`,
//! pkilint, several CMS libraries) refuse a certificate with a larger arc anywhere in it.

use crate::{Error, Result};

/// The development arc: the low 32 bits of the 2.25 UUID arc sandi used before arcs were
/// chosen at the ceremony. An integer below 2^32 is no generated UUID, so the arc meets no
/// one else's; a production network uses its own.
pub const DEV_OID_ARC: &str = "2.25.3640695297";

/// The longest arc accepted, in characters; short enough that extensions under it stay well
/// inside the 39-byte OIDs common parsers hold.
pub const MAX_ARC_CHARS: usize = 64;

/// The most bytes the arc itself may take encoded, leaving room for the components sandi
/// appends under it (`x509-cert` and `const-oid` hold OIDs of at most 39 bytes).
const MAX_ARC_ENCODED: usize = 30;

/// Checks an arc and returns its components: decimal components without leading zeros, each
/// below 2^32, the first 0, 1 or 2 and the second below 40, at least two of them, and a
/// bounded length. X.660 allows a larger second component under 2 (2.999), but RustCrypto's
/// `const-oid` 0.9, under `x509-cert`, refuses it.
pub fn check(arc: &str) -> Result<Vec<u64>> {
    let bad = |why: &str| Error::InvalidInput(format!("OID arc {arc:?}: {why}"));
    if arc.is_empty() || arc.len() > MAX_ARC_CHARS {
        return Err(bad(&format!("must be 1-{MAX_ARC_CHARS} characters")));
    }
    let mut components = Vec::new();
    for part in arc.split('.') {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("components are decimal numbers separated by dots"));
        }
        if part.len() > 1 && part.starts_with('0') {
            return Err(bad("a component has a leading zero"));
        }
        let n: u32 = part
            .parse()
            .map_err(|_| bad("every component must fit in 32 bits"))?;
        components.push(u64::from(n));
    }
    match components.as_slice() {
        [first, ..] if *first > 2 => return Err(bad("the first component is 0, 1 or 2")),
        [_, second, ..] if *second > 39 => {
            return Err(bad(
                "the second component is below 40 (larger ones under 2 defeat common parsers)",
            ));
        }
        [_] => return Err(bad("an arc has at least two components")),
        _ => {}
    }
    if encoded_len(&components) > MAX_ARC_ENCODED {
        return Err(bad(&format!(
            "too long: at most {MAX_ARC_ENCODED} bytes encoded"
        )));
    }
    Ok(components)
}

/// The DER content length of an OID with these (checked) components.
fn encoded_len(components: &[u64]) -> usize {
    let base128 = |mut n: u64| {
        let mut len = 1;
        while n >= 0x80 {
            n >>= 7;
            len += 1;
        }
        len
    };
    match components {
        [first, second, rest @ ..] => {
            base128(first * 40 + second) + rest.iter().map(|n| base128(*n)).sum::<usize>()
        }
        _ => 0,
    }
}

/// An OID under the arc, as components.
fn under(arc: &str, tail: &[u64]) -> Result<Vec<u64>> {
    let mut oid = check(arc)?;
    oid.extend_from_slice(tail);
    Ok(oid)
}

/// The node attributes extension (`{arc}.2.1`): SEQUENCE { UTF8String agency, UTF8String
/// accreditation }.
pub fn node_attributes_oid(arc: &str) -> Result<Vec<u64>> {
    under(arc, &[2, 1])
}

/// The node attributes extension's OID in dotted form, as parsers print it.
pub fn node_attributes_oid_string(arc: &str) -> Result<String> {
    Ok(node_attributes_oid(arc)?
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_arcs_are_accepted() {
        for arc in [
            DEV_OID_ARC,
            "1.3.6.1.4.1.99999",
            "2.25.4294967295",
            "0.39",
            "2.39",
        ] {
            assert!(check(arc).is_ok(), "{arc}");
        }
        assert_eq!(
            node_attributes_oid_string(DEV_OID_ARC).expect("dev arc"),
            "2.25.3640695297.2.1"
        );
    }

    #[test]
    fn bad_arcs_are_refused_with_the_reason() {
        for (arc, why) in [
            ("", "characters"),
            ("1.2".repeat(30).as_str(), "characters"),
            ("2.25.263925185634146817", "32 bits"),
            ("2.25.4294967296", "32 bits"),
            ("3.1", "first component"),
            ("1.40", "below 40"),
            ("2.999", "below 40"),
            ("2", "at least two"),
            ("1.3.6.1.4.1.", "decimal"),
            ("1..3", "decimal"),
            ("1.3.-6", "decimal"),
            (" 1.3.6", "decimal"),
            ("1.3.06", "leading zero"),
            ("1.3.6.1.4.1.99999/2", "decimal"),
            (format!("1.3{}", ".200".repeat(15)).as_str(), "too long"),
        ] {
            let err = check(arc).expect_err(arc).to_string();
            assert!(err.contains(why), "{arc}: {err}");
        }
        assert!(check(&"1.".repeat(40)).is_err());
    }

    #[test]
    fn the_encoded_length_matches_const_oid() {
        for arc in [DEV_OID_ARC, "1.3.6.1.4.1.99999", "2.39.1", "1.3.4294967295"] {
            let oid = const_oid::ObjectIdentifier::new(arc).expect(arc);
            assert_eq!(encoded_len(&check(arc).expect(arc)), oid.as_bytes().len());
        }
    }
}
