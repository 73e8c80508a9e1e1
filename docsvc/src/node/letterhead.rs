//! `[kop.<agency>]` in `node.toml`: each agency's letterhead (kop surat), printed at the top of
//! the letters the node renders for it. An agency without one gets the organisation's name
//! and the agency's id.
//!
//! ```toml
//! [kop.dinkes]
//! name = "Dinas Kesehatan"
//! address = ["Jalan Merdeka Nomor 1, Kota Bandung 40111"]
//! contact = "Telepon (022) 4201234 · Laman dinkes.kota.go.id · Pos-el dinkes@kota.go.id"
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One agency's letterhead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kop {
    /// The agency's name as the letterhead prints it (in capitals).
    pub name: String,
    /// Its address, one line each (at most 3).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub address: Vec<String>,
    /// Telephone, web site, e-mail: one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
}

/// Every letterhead's lines: 1-120 printable characters each, at most 3 address lines.
pub fn check(kops: &BTreeMap<String, Kop>) -> Result<(), String> {
    for (agency, k) in kops {
        let ok = |s: &str| {
            !s.trim().is_empty() && s.chars().count() <= 120 && !s.chars().any(char::is_control)
        };
        let lines_ok = ok(&k.name)
            && k.address.len() <= 3
            && k.address.iter().all(|a| ok(a))
            && k.contact.as_deref().is_none_or(ok);
        if !lines_ok {
            return Err(format!(
                "[kop.{agency}]: name, up to 3 address lines and a contact line, each 1-120 \
                 printable characters"
            ));
        }
    }
    Ok(())
}

/// The dev agencies' letterheads (quickstart).
pub fn dev() -> BTreeMap<String, Kop> {
    [
        (
            "dinkes",
            "Dinas Kesehatan",
            "Jalan Merdeka Nomor 1",
            "dinkes",
        ),
        (
            "bappeda",
            "Badan Perencanaan Pembangunan Daerah",
            "Jalan Wastukencana Nomor 2",
            "bappeda",
        ),
        (
            "diskominfo",
            "Dinas Komunikasi, Informatika dan Persandian",
            "Jalan Wastukencana Nomor 2",
            "diskominfo",
        ),
        (
            "inspektorat",
            "Inspektorat",
            "Jalan Tamansari Nomor 76",
            "inspektorat",
        ),
    ]
    .into_iter()
    .map(|(id, name, street, host)| {
        (
            id.to_owned(),
            Kop {
                name: name.to_owned(),
                address: vec![format!("{street}, Kota Contoh 40111 (dev)")],
                contact: Some(format!(
                    "Laman {host}.kota.example · Pos-el {host}@kota.example"
                )),
            },
        )
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_letterhead_is_a_few_short_printable_lines() {
        assert_eq!(check(&dev()), Ok(()));
        let bad = |k: Kop| check(&BTreeMap::from([("dinkes".to_owned(), k)])).is_err();
        let kop = |name: &str, address: Vec<String>, contact: Option<&str>| Kop {
            name: name.into(),
            address,
            contact: contact.map(Into::into),
        };
        assert!(bad(kop(" ", vec![], None)));
        assert!(bad(kop(&"x".repeat(121), vec![], None)));
        assert!(bad(kop("Dinas", vec!["a".into(); 4], None)));
        assert!(bad(kop("Dinas", vec!["Jalan\nMerdeka".into()], None)));
        assert!(bad(kop("Dinas", vec![], Some(""))));
        assert!(!bad(kop("Dinas", vec!["Jalan".into()], Some("Telepon 1"))));
    }
}
