//! The SignedData that [`super::assemble`] writes as DER directly, read back by the cms crate.

use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use const_oid::db::{rfc5911, rfc5912};
use der::{Decode as _, Encode as _};
use time::OffsetDateTime;
use x509_cert::Certificate;

use super::{Content, Kind, sign_detached};

/// A P-256 certificate made by rcgen, with a long serial and an issuer of several names.
fn certificate(cn: &str) -> Vec<u8> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params = rcgen::CertificateParams::new(vec!["a.example".into()]).expect("params");
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&[
        0x00, 0x9a, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
    ]));
    params
        .distinguished_name
        .push(rcgen::DnType::CountryName, "ID");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Pemerintah Kota");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.self_signed(&key).expect("cert").der().to_vec()
}

/// The SignedData in `cms`, once re-encoding what was read is seen to give the same bytes (the
/// DER written by hand is DER, a SET OF in its order).
fn read_back(cms: &[u8]) -> SignedData {
    let info = ContentInfo::from_der(cms).expect("a ContentInfo");
    assert_eq!(info.content_type, rfc5911::ID_SIGNED_DATA);
    assert_eq!(info.to_der().expect("encode"), cms);
    info.content.decode_as().expect("a SignedData")
}

#[test]
fn the_signed_data_names_its_signer_and_carries_what_was_signed() {
    let signer = certificate("Penandatangan");
    let ca = certificate("Signing CA");
    let mut covered = Vec::new();
    let cms = sign_detached(
        Kind::Api,
        Content::Bytes(b"isi naskah"),
        hsm_shim::SignatureAlgorithm::EcdsaP256Sha256,
        &signer,
        &[ca, signer.clone()],
        OffsetDateTime::now_utc(),
        |m| {
            covered = m.to_vec();
            Ok(vec![0x5a; 71])
        },
    )
    .expect("signed");
    let sd = read_back(&cms);
    assert_eq!(sd.digest_algorithms.len(), 1);
    assert_eq!(
        sd.digest_algorithms.get(0).map(|a| a.oid),
        Some(rfc5912::ID_SHA_256)
    );
    // The signer and its CA once each, though the signer was given twice.
    assert_eq!(sd.certificates.as_ref().map(|c| c.0.len()), Some(2));
    let infos = sd.signer_infos.0.as_slice();
    assert_eq!(infos.len(), 1);
    let si = &infos[0];
    let cert = Certificate::from_der(&signer).expect("cert");
    let SignerIdentifier::IssuerAndSerialNumber(ias) = &si.sid else {
        panic!("named by issuer and serial, not {:?}", si.sid);
    };
    assert_eq!(ias.issuer, cert.tbs_certificate.issuer);
    assert_eq!(ias.serial_number, cert.tbs_certificate.serial_number);
    assert_eq!(si.digest_alg.oid, rfc5912::ID_SHA_256);
    assert_eq!(si.signature_algorithm.oid, rfc5912::ECDSA_WITH_SHA_256);
    assert_eq!(si.signature.as_bytes(), &[0x5a; 71][..]);
    // The attributes carried are exactly the SET OF that was signed.
    let attrs = si.signed_attrs.as_ref().expect("signed attributes");
    assert_eq!(attrs.to_der().expect("encode"), covered);
    assert_eq!(attrs.len(), 3);
}

/// A PAdES signature (P-384): the signer named by its certificate's hash (signing-certificate-v2)
/// instead of a signing time, its attributes still in DER's SET OF order (re-encoding sorts them).
#[test]
fn a_pades_signature_carries_the_certificate_hash_in_der_order() {
    let signer = certificate("Penandatangan PDF");
    let cms = sign_detached(
        Kind::Pdf,
        Content::Sha384([0x22; 48]),
        hsm_shim::SignatureAlgorithm::EcdsaP384Sha384,
        &signer,
        &[],
        OffsetDateTime::now_utc(),
        |_| Ok(vec![0x5a; 103]),
    )
    .expect("signed");
    let sd = read_back(&cms);
    let si = &sd.signer_infos.0.as_slice()[0];
    assert_eq!(si.digest_alg.oid, rfc5912::ID_SHA_384);
    assert_eq!(si.signature_algorithm.oid, rfc5912::ECDSA_WITH_SHA_384);
    let oids: Vec<String> = si
        .signed_attrs
        .as_ref()
        .expect("signed attributes")
        .iter()
        .map(|a| a.oid.to_string())
        .collect();
    assert!(
        oids.contains(&"1.2.840.113549.1.9.16.2.47".to_owned()),
        "{oids:?}"
    );
    assert!(
        !oids.contains(&rfc5911::ID_SIGNING_TIME.to_string()),
        "{oids:?}"
    );
}
