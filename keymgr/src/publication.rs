//! Where the network publishes its CRLs, CA certificates and OCSP answers, and the
//! certificate extensions that point there (CRL Distribution Points, Authority Information
//! Access). The base URL is set at the init ceremony; the paths under it are fixed here, so
//! that the HTTP servers that publish and the certificates that point agree.
//!
//! ```text
//! {base}/crl/network-ca.crl   {base}/ocsp/network-ca   {base}/ca/network-ca.crt
//! {base}/crl/signing-ca.crl   {base}/ocsp/signing-ca   {base}/ca/signing-ca.crt
//! {base}/crl/root.crl                                  {base}/ca/root.crt
//! ```
//!
//! CRLs and certificates are served as DER (`application/pkix-crl`, `application/pkix-cert`).
//! The URLs are plain `http://`, as RFC 5280 §4.2.1.13 and RFC 6960 expect: what they serve is
//! signed, and a client checking revocation must not need revocation to fetch it.

use der::Encode as _;
use der::asn1::Ia5String;
use rcgen::{CertificateParams, CrlDistributionPoint, CustomExtension};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax};

use crate::ca::Ca;
use crate::{Error, Result};

/// The longest publication base URL accepted.
pub const MAX_BASE_URL: usize = 200;

/// The paths of one CA's publications under the base URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paths {
    /// Its CRL (DER).
    pub crl: &'static str,
    /// Its OCSP responder (RFC 6960, GET and POST); the root answers no OCSP.
    pub ocsp: Option<&'static str>,
    /// Its certificate (DER).
    pub certificate: &'static str,
}

/// The publication paths of a CA.
pub fn paths(ca: Ca) -> Paths {
    match ca {
        Ca::Root => Paths {
            crl: "/crl/root.crl",
            ocsp: None,
            certificate: "/ca/root.crt",
        },
        Ca::Network => Paths {
            crl: "/crl/network-ca.crl",
            ocsp: Some("/ocsp/network-ca"),
            certificate: "/ca/network-ca.crt",
        },
        Ca::Signing => Paths {
            crl: "/crl/signing-ca.crl",
            ocsp: Some("/ocsp/signing-ca"),
            certificate: "/ca/signing-ca.crt",
        },
    }
}

/// The full URLs of a CA's publications under `base`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Urls {
    pub crl: String,
    pub ocsp: Option<String>,
    pub certificate: String,
}

/// The URLs of `ca`'s publications under a checked base URL.
pub fn urls(base: &str, ca: Ca) -> Urls {
    let p = paths(ca);
    Urls {
        crl: format!("{base}{}", p.crl),
        ocsp: p.ocsp.map(|o| format!("{base}{o}")),
        certificate: format!("{base}{}", p.certificate),
    }
}

/// Checks a publication base URL and returns it without a trailing slash: `http://`, a host
/// (and port, and path if any), no user, query or fragment, printable ASCII, bounded.
pub fn check_base_url(url: &str) -> Result<String> {
    let bad = |why: &str| Error::InvalidInput(format!("publication URL {url:?}: {why}"));
    if url.len() > MAX_BASE_URL {
        return Err(bad(&format!("longer than {MAX_BASE_URL} characters")));
    }
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad("only printable ASCII without spaces"));
    }
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| bad("must start with http:// (RFC 5280 4.2.1.13: CRLs over plain HTTP)"))?;
    if url.contains(['?', '#']) {
        return Err(bad("no query or fragment: paths are appended to it"));
    }
    let (authority, _path) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.contains('@') {
        return Err(bad("no user name or password"));
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']').unwrap_or(("", ""));
            match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None if after.is_empty() => (host, None),
                None => return Err(bad("needs a host name or address")),
            }
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b));
    if !host_ok {
        return Err(bad("needs a host name or address"));
    }
    if port.is_some_and(|p| !matches!(p.parse::<u16>(), Ok(1..))) {
        return Err(bad("the port is not a number from 1 to 65535"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// Adds the CRL Distribution Points and Authority Information Access of a certificate that
/// `issuer` signs, when the network publishes (`base` set). What the Network and Signing CA
/// issue points at their CRL, OCSP responder and certificate; what the root issues (the
/// intermediates) at the root's certificate.
pub fn apply(params: &mut CertificateParams, base: Option<&str>, issuer: Ca) -> Result<()> {
    let Some(base) = base else {
        return Ok(());
    };
    let base = check_base_url(base)?;
    let urls = urls(&base, issuer);
    if issuer != Ca::Root {
        params.crl_distribution_points = vec![CrlDistributionPoint {
            uris: vec![urls.crl.clone()],
        }];
    }
    let mut access = Vec::new();
    if let Some(ocsp) = &urls.ocsp {
        access.push(access_description(
            const_oid::db::rfc5280::ID_AD_OCSP,
            ocsp,
        )?);
    }
    access.push(access_description(
        const_oid::db::rfc5280::ID_AD_CA_ISSUERS,
        &urls.certificate,
    )?);
    let der = AuthorityInfoAccessSyntax(access)
        .to_der()
        .map_err(|e| Error::Certificate(format!("authority information access: {e}")))?;
    params
        .custom_extensions
        .push(CustomExtension::from_oid_content(
            &arcs(&const_oid::db::rfc5280::ID_PE_AUTHORITY_INFO_ACCESS),
            der,
        ));
    Ok(())
}

fn access_description(method: const_oid::ObjectIdentifier, url: &str) -> Result<AccessDescription> {
    let uri = Ia5String::new(url)
        .map_err(|e| Error::InvalidInput(format!("publication URL {url:?}: {e}")))?;
    Ok(AccessDescription {
        access_method: method,
        access_location: GeneralName::UniformResourceIdentifier(uri),
    })
}

fn arcs(oid: &const_oid::ObjectIdentifier) -> Vec<u64> {
    oid.arcs().map(u64::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked_and_trimmed() {
        for (url, want) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://pki.kota.go.id/", "http://pki.kota.go.id"),
            (
                "http://pki.kota.go.id/sandi/",
                "http://pki.kota.go.id/sandi",
            ),
            ("http://[::1]:8080", "http://[::1]:8080"),
        ] {
            assert_eq!(check_base_url(url).expect(url), want);
        }
        for (url, why) in [
            ("https://pki.kota.go.id", "http://"),
            ("pki.kota.go.id", "http://"),
            ("http://", "host"),
            ("http:///crl", "host"),
            ("http://pki.kota.go.id/?a=1", "query"),
            ("http://pki.kota.go.id/#x", "fragment"),
            ("http://user@pki.kota.go.id", "user"),
            ("http://pki kota", "printable"),
            ("http://pki.kota.go.id:0", "port"),
            ("http://pki.kota.go.id:99999", "port"),
            ("http://pki.kota.go.id:x", "port"),
            ("http://pki_kota", "host"),
        ] {
            let err = check_base_url(url).expect_err(url).to_string();
            assert!(err.contains(why), "{url}: {err}");
        }
        let long = format!("http://pki.kota.go.id/{}", "a".repeat(MAX_BASE_URL));
        assert!(check_base_url(&long).is_err());
    }

    #[test]
    fn every_ca_has_its_paths() {
        let u = urls("http://pki", Ca::Network);
        assert_eq!(u.crl, "http://pki/crl/network-ca.crl");
        assert_eq!(u.ocsp.as_deref(), Some("http://pki/ocsp/network-ca"));
        assert_eq!(u.certificate, "http://pki/ca/network-ca.crt");
        assert_eq!(paths(Ca::Signing).crl, "/crl/signing-ca.crl");
        assert_eq!(paths(Ca::Root).ocsp, None);
    }
}
