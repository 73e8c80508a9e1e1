//! Every kind of certificate and CRL keymgr makes, checked by validators we did not write:
//! pkilint (RFC 5280 profile: `lint_pkix_cert`, `lint_crl -p PKIX`, and each issuer/subject
//! pair with `lint_pkix_signer_signee_cert_chain`), RustCrypto's `x509-cert`, and Python's
//! `cryptography`. Any pkilint finding of NOTICE or above fails the test, and so does a
//! certificate or CRL either parser refuses.
//!
//! pkilint and cryptography come from PyPI (`tests/run` installs them). Outside CI a missing
//! pkilint makes the test say SKIPPED and pass; under CI it is a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use der::Decode as _;
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;

/// The organisation's arc in this test: not the development default, to show that the
/// ceremony's choice is what the certificates carry.
const ARC: &str = "1.3.6.1.4.1.61234";
const BASE: &str = "http://pki.sandi.contoh.go.id";

/// The lowest pkilint severity that fails the test (NOTICE and above; INFO only names
/// choices, such as which key identifier method was recognised).
const SEVERITY: &str = "NOTICE";

struct Ca {
    dir: tempfile::TempDir,
}

impl Ca {
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    fn home(&self) -> PathBuf {
        self.path("home")
    }
    fn ok(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_keymgr"))
            .arg("--home")
            .arg(self.home())
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run keymgr");
        let text = both(&out);
        assert!(out.status.success(), "keymgr {args:?} failed:\n{text}");
        text
    }
    /// Custodians 1 and 2 of 3 give their shares.
    fn quorum(args: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|s| (*s).to_string()).collect();
        for i in 1..=2 {
            v.extend([
                "--share".into(),
                format!("shares/custodian-{i}-{}.age", NAMES[i - 1].to_lowercase()),
                "--passphrase-file".into(),
                format!("pass{i}"),
            ]);
        }
        v
    }
    fn ok_with_quorum(&self, args: &[&str], rest: &[&str]) -> String {
        let mut v = Self::quorum(args);
        v.extend(rest.iter().map(|s| (*s).to_string()));
        self.ok(&v.iter().map(String::as_str).collect::<Vec<_>>())
    }
}

const NAMES: [&str; 3] = ["Budi", "Siti", "Andi"];

fn both(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A CA made by a 2-of-3 ceremony with the test's arc and publication URL.
fn ceremony() -> Ca {
    let ca = Ca {
        dir: tempfile::tempdir().expect("tempdir"),
    };
    for i in 1..=3 {
        std::fs::write(ca.path(&format!("pass{i}")), format!("kata sandi {i}\n")).expect("write");
    }
    let mut args: Vec<String> = [
        "ceremony",
        "init",
        "--organisation",
        "Pemerintah Kota Contoh",
        "--network-domain",
        "sandi.contoh.go.id",
        "--oid-arc",
        ARC,
        "--publication-url",
        BASE,
        "--admin",
        "Admin Upacara",
        "--witness",
        "Saksi",
        "--threshold",
        "2",
        "--shares-out",
        "shares",
    ]
    .map(String::from)
    .to_vec();
    for (i, n) in NAMES.iter().enumerate() {
        args.extend([
            "--custodian".into(),
            (*n).into(),
            "--passphrase-file".into(),
            format!("pass{}", i + 1),
        ]);
    }
    ca.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    ca
}

/// Whether pkilint is here; outside CI its absence skips the test loudly.
fn pkilint_present() -> bool {
    let found = Command::new("lint_pkix_cert")
        .arg("--help")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            !sandi_e2e::under_ci(),
            "pkilint is not installed under CI (tests/run installs it from PyPI)"
        );
        eprintln!(
            "SKIPPED: pkilint is not installed (pip install pkilint cryptography, or run tests/run)"
        );
    }
    found
}

/// Runs a pkilint command; its findings at or above [`SEVERITY`], if any.
fn pkilint(tool: &str, args: &[&str], files: &[&Path]) -> Option<String> {
    let out = Command::new(tool)
        .arg("lint")
        .args(["-s", SEVERITY, "-f", "TEXT", "--document-format", "DER"])
        .args(args)
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("run {tool}: {e}"));
    let text = both(&out);
    (!out.status.success() || !text.trim().is_empty()).then_some(text)
}

/// Every finding of the linters over `certs` (name, DER file) and `crls` (name, DER file,
/// CRL or ARL), and over each issuer/subject pair, as "name: finding" lines.
fn lint_all(
    certs: &[(&str, PathBuf)],
    crls: &[(&str, PathBuf, &str)],
    pairs: &[(&str, &str)],
) -> Vec<String> {
    let mut findings = Vec::new();
    for (name, file) in certs {
        if let Some(f) = pkilint("lint_pkix_cert", &[], &[file]) {
            findings.push(format!("{name}: {f}"));
        }
    }
    for (name, file, kind) in crls {
        if let Some(f) = pkilint("lint_crl", &["-t", kind, "-p", "PKIX"], &[file]) {
            findings.push(format!("{name}: {f}"));
        }
    }
    let file = |n: &str| {
        &certs
            .iter()
            .find(|(c, _)| *c == n)
            .unwrap_or_else(|| panic!("no certificate {n}"))
            .1
    };
    for (issuer, subject) in pairs {
        if let Some(f) = pkilint(
            "lint_pkix_signer_signee_cert_chain",
            &[],
            &[file(issuer), file(subject)],
        ) {
            findings.push(format!("{issuer} -> {subject}: {f}"));
        }
    }
    findings
}

/// Python's `cryptography` parses every certificate and CRL with all their extensions (an
/// extension it cannot parse raises) and prints, for each certificate, its CRL and OCSP
/// URLs, so that the test sees what a Python client would fetch.
fn python_parses(certs: &[(&str, PathBuf)], crls: &[(&str, PathBuf, &str)]) -> String {
    const SCRIPT: &str = r#"
import sys
from cryptography import x509
from cryptography.x509.oid import ExtensionOID, AuthorityInformationAccessOID
kind = None
for arg in sys.argv[1:]:
    if arg in ("--certs", "--crls"):
        kind = arg
        continue
    name, path = arg.split("=", 1)
    der = open(path, "rb").read()
    if kind == "--certs":
        c = x509.load_der_x509_certificate(der)
        exts = list(c.extensions)
        urls = []
        for e in exts:
            if e.oid == ExtensionOID.CRL_DISTRIBUTION_POINTS:
                urls += ["crl=" + n.value for dp in e.value for n in dp.full_name]
            if e.oid == ExtensionOID.AUTHORITY_INFORMATION_ACCESS:
                for d in e.value:
                    m = "ocsp" if d.access_method == AuthorityInformationAccessOID.OCSP else "ca"
                    urls.append(m + "=" + d.access_location.value)
        country = c.subject.get_attributes_for_oid(x509.NameOID.COUNTRY_NAME)[0]
        print(name, "country", country._type.name, " ".join(urls))
    else:
        crl = x509.load_der_x509_crl(der)
        exts = list(crl.extensions)
        revoked = [list(r.extensions) for r in crl]
        print(name, "crl", len(revoked), "revoked")
"#;
    let mut args = vec!["-c".to_string(), SCRIPT.to_string(), "--certs".into()];
    args.extend(certs.iter().map(|(n, p)| format!("{n}={}", p.display())));
    args.push("--crls".into());
    args.extend(crls.iter().map(|(n, p, _)| format!("{n}={}", p.display())));
    let out = Command::new("python3")
        .args(&args)
        .output()
        .expect("python3 installed");
    let text = both(&out);
    assert!(out.status.success(), "python cryptography refused:\n{text}");
    text
}

/// RustCrypto's `x509-cert` decodes every certificate and CRL (a certificate with an arc over
/// 32 bits, as node certificates had, does not decode); returns the certificates.
fn rustcrypto_parses(
    certs: &[(&str, PathBuf)],
    crls: &[(&str, PathBuf, &str)],
) -> Vec<(String, Certificate)> {
    for (name, file, _) in crls {
        let der = std::fs::read(file).expect("crl");
        CertificateList::from_der(&der).unwrap_or_else(|e| panic!("x509-cert refuses {name}: {e}"));
    }
    certs
        .iter()
        .map(|(name, file)| {
            let der = std::fs::read(file).expect("certificate");
            let cert = Certificate::from_der(&der)
                .unwrap_or_else(|e| panic!("x509-cert refuses {name}: {e}"));
            ((*name).to_string(), cert)
        })
        .collect()
}

/// The DER of a PEM file.
fn pem_file_to_der(dir: &Path, pem: &Path, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(pem).expect("pem");
    let der = keymgr::ca::pem_to_der(&text).expect("a PEM certificate");
    let out = dir.join(format!("{name}.der"));
    std::fs::write(&out, der).expect("write der");
    out
}

fn openssl_csr(dir: &Path) {
    let out = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=ignored",
            "-keyout",
            "official.key",
            "-out",
            "official.csr",
        ])
        .current_dir(dir)
        .output()
        .expect("openssl installed");
    assert!(out.status.success(), "{}", both(&out));
}

/// Issues one certificate of each end-entity kind; returns their files (name, DER).
fn issue_every_kind(ca: &Ca) -> Vec<(&'static str, PathBuf)> {
    let d = ca.dir.path();
    ca.ok_with_quorum(
        &["issue"],
        &[
            "node",
            "--node-id",
            "node-dinkes",
            "--agency",
            "Dinas Kesehatan",
            "--accreditation",
            "rahasia",
            "--dns",
            "dinkes.sandi.contoh.go.id",
            "--ip",
            "127.0.0.1",
            "--out",
            "node.pem",
        ],
    );
    openssl_csr(d);
    ca.ok_with_quorum(
        &["issue"],
        &[
            "official",
            "--name",
            "Dr. Sri Wahyuni",
            "--nip",
            "197501012000032001",
            "--agency",
            "Dinas Kesehatan",
            "--csr",
            "official.csr",
            "--out",
            "official.pem",
        ],
    );
    ca.ok_with_quorum(
        &["issue"],
        &[
            "application",
            "--name",
            "e-office",
            "--agency",
            "Sekretariat Daerah",
            "--out",
            "app.pem",
        ],
    );
    let mut certs = Vec::new();
    for (name, pem) in [
        ("root", ca.home().join("ca/root.pem")),
        ("network-ca", ca.home().join("ca/network-ca.pem")),
        ("signing-ca", ca.home().join("ca/signing-ca.pem")),
        ("node", ca.path("node.pem")),
        ("official", ca.path("official.pem")),
        ("application", ca.path("app.pem")),
    ] {
        certs.push((name, pem_file_to_der(d, &pem, name)));
    }
    certs
}

fn serial_of(text: &str) -> String {
    text.split("serial ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("a serial")
        .to_string()
}

/// Both CRLs, each listing revocations with and without a reason.
fn crls_with_revocations(ca: &Ca) -> Vec<(&'static str, PathBuf, &'static str)> {
    let issued = ca.ok_with_quorum(
        &["issue"],
        &[
            "node",
            "--node-id",
            "node-lama",
            "--agency",
            "Dinas",
            "--accreditation",
            "biasa",
            "--dns",
            "lama.sandi.contoh.go.id",
            "--out",
            "old-node.pem",
        ],
    );
    ca.ok_with_quorum(
        &["revoke"],
        &[&serial_of(&issued), "--reason", "keyCompromise"],
    );
    let issued = ca.ok_with_quorum(
        &["issue"],
        &[
            "official",
            "--name",
            "Ahmad",
            "--nip",
            "198001012005011001",
            "--agency",
            "Dinas",
            "--out",
            "old-official.pem",
        ],
    );
    ca.ok_with_quorum(
        &["revoke"],
        &[&serial_of(&issued), "--reason", "unspecified"],
    );
    ca.ok_with_quorum(&["crl"], &["network"]);
    ca.ok_with_quorum(&["crl"], &["signing"]);
    let crl = ca.home().join("crl");
    // The root's first CRL, from the init ceremony (a later root ceremony replaces it).
    let first_root = ca.path("root-init.crl");
    std::fs::copy(crl.join("root.crl"), &first_root).expect("the init ceremony's root CRL");
    vec![
        ("network-ca.crl", crl.join("network-ca.crl"), "CRL"),
        ("signing-ca.crl", crl.join("signing-ca.crl"), "CRL"),
        ("root-init.crl", first_root, "ARL"),
    ]
}

/// The root's CRL (an ARL: it lists intermediates), from a root ceremony that revokes the
/// Signing CA; the test's last step, as nothing is issued from that CA afterwards.
fn root_arl_after_revoking_the_signing_ca(ca: &Ca) -> (&'static str, PathBuf, &'static str) {
    ca.ok_with_quorum(
        &["ceremony", "revoke-intermediate"],
        &[
            "--admin",
            "Admin Upacara",
            "--witness",
            "Saksi",
            "--ca",
            "signing",
            "--reason",
            "cACompromise",
        ],
    );
    ("root.crl", ca.home().join("crl/root.crl"), "ARL")
}

fn extension<'a>(cert: &'a Certificate, oid: &str) -> Option<&'a x509_cert::ext::Extension> {
    cert.tbs_certificate
        .extensions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|e| e.extn_id.to_string() == oid)
}

/// The extensions the profiles promise: node attributes under the ceremony's arc (and only
/// on node certificates), CRL and OCSP locations under the publication URL.
fn the_profiles_carry_what_the_ceremony_set(parsed: &[(String, Certificate)], python: &str) {
    let node_attributes = format!("{ARC}.2.1");
    for (name, cert) in parsed {
        assert_eq!(
            extension(cert, &node_attributes).is_some(),
            name == "node",
            "{name}: node attributes under {node_attributes}"
        );
    }
    let line = |name: &str| {
        python
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("python printed nothing for {name}:\n{python}"))
            .to_string()
    };
    for name in [
        "root",
        "network-ca",
        "signing-ca",
        "node",
        "official",
        "application",
    ] {
        assert!(
            line(name).contains("country PrintableString"),
            "{name}: countryName must be a PrintableString: {}",
            line(name)
        );
    }
    for (name, ca) in [
        ("node", "network-ca"),
        ("application", "network-ca"),
        ("official", "signing-ca"),
    ] {
        let l = line(name);
        for want in [
            format!("crl={BASE}/crl/{ca}.crl"),
            format!("ocsp={BASE}/ocsp/{ca}"),
            format!("ca={BASE}/ca/{ca}.crt"),
        ] {
            assert!(l.contains(&want), "{name} lacks {want}: {l}");
        }
    }
    for name in ["network-ca", "signing-ca"] {
        let l = line(name);
        assert!(l.contains(&format!("ca={BASE}/ca/root.crt")), "{l}");
        assert!(!l.contains("ocsp=") && !l.contains("crl="), "{l}");
    }
    assert!(
        !line("root").contains('='),
        "the root points nowhere: {}",
        line("root")
    );
    // The paths are the ones keymgr exports for the servers that publish.
    let p = keymgr::publication::paths(keymgr::ca::Ca::Network);
    assert_eq!(p.crl, "/crl/network-ca.crl");
}

#[test]
fn every_certificate_and_crl_passes_pkilint_and_parses() {
    if !pkilint_present() {
        return;
    }
    let ca = ceremony();
    let certs = issue_every_kind(&ca);
    let mut crls = crls_with_revocations(&ca);
    let pairs = [
        ("root", "root"),
        ("root", "network-ca"),
        ("root", "signing-ca"),
        ("network-ca", "node"),
        ("network-ca", "application"),
        ("signing-ca", "official"),
    ];
    crls.push(root_arl_after_revoking_the_signing_ca(&ca));
    let findings = lint_all(&certs, &crls, &pairs);
    assert!(
        findings.is_empty(),
        "pkilint findings ({SEVERITY} and above):\n{}",
        findings.join("\n")
    );
    let parsed = rustcrypto_parses(&certs, &crls);
    let python = python_parses(&certs, &crls);
    the_profiles_carry_what_the_ceremony_set(&parsed, &python);
    assert!(python.contains("network-ca.crl crl 1 revoked"), "{python}");
    assert!(python.contains("signing-ca.crl crl 1 revoked"), "{python}");
    assert!(python.contains("root.crl crl 1 revoked"), "{python}");
    assert!(python.contains("root-init.crl crl 0 revoked"), "{python}");
    a_home_from_before_the_arc_issues_under_the_development_arc(&ca);
}

/// A state.json written before the ceremony chose an arc and a URL still loads: node
/// attributes go under the development arc and certificates point nowhere.
fn a_home_from_before_the_arc_issues_under_the_development_arc(ca: &Ca) {
    let path = ca.home().join("ca/state.json");
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("state")).expect("json");
    let fields = state.as_object_mut().expect("an object");
    assert_eq!(fields.remove("oid_arc"), Some(ARC.into()));
    assert_eq!(fields.remove("publication_url"), Some(BASE.into()));
    std::fs::write(&path, serde_json::to_vec_pretty(&state).expect("json")).expect("write");
    ca.ok_with_quorum(
        &["issue"],
        &[
            "node",
            "--node-id",
            "node-lawas",
            "--agency",
            "Dinas",
            "--accreditation",
            "biasa",
            "--dns",
            "lawas.sandi.contoh.go.id",
            "--out",
            "lawas.pem",
        ],
    );
    let pem = std::fs::read_to_string(ca.path("lawas.pem")).expect("pem");
    let der = keymgr::ca::pem_to_der(&pem).expect("der");
    let cert = Certificate::from_der(&der).expect("x509-cert parses it");
    let dev = keymgr::oid_arc::node_attributes_oid_string(keymgr::oid_arc::DEV_OID_ARC)
        .expect("the dev arc");
    assert!(
        extension(&cert, &dev).is_some(),
        "node attributes under {dev}"
    );
    assert!(
        extension(&cert, "1.3.6.1.5.5.7.1.1").is_none(),
        "no AIA without a URL"
    );
    assert!(
        extension(&cert, "2.5.29.31").is_none(),
        "no CRL DP without a URL"
    );
}

/// The ceremony refuses an arc with a component over 32 bits (the old 2.25 UUID arc) or a
/// malformed one, and a publication URL that is not a plain http:// base, before it makes
/// anything.
#[test]
fn the_ceremony_refuses_a_bad_arc_or_publication_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca {
        dir: tempfile::tempdir().expect("tempdir"),
    };
    let init = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_keymgr"))
            .arg("--home")
            .arg(ca.home())
            .args([
                "ceremony",
                "init",
                "--organisation",
                "Kota",
                "--admin",
                "Admin",
                "--witness",
                "Saksi",
                "--custodian",
                "A=age1385atsp9t7sl2z55xulqmzpjhrhnj7m5a0sj8eumnsrlkhdvjqcqt76hya",
                "--custodian",
                "B=age1hskhq3cllrctlxk7h8eucd9fz7jlr37g7fx7fvd6nxgfh55ydc8qvlk32z",
                "--threshold",
                "2",
                "--shares-out",
            ])
            .arg(dir.path().join("shares"))
            .args(extra)
            .output()
            .expect("run keymgr");
        assert!(!out.status.success(), "{extra:?} accepted");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    for (extra, why) in [
        (&["--oid-arc", "2.25.263925185634146817"][..], "32 bits"),
        (&["--oid-arc", "1.3.6.1.4.1.x"][..], "decimal"),
        (&["--oid-arc", "3.1"][..], "first component"),
        (
            &["--publication-url", "https://pki.kota.go.id"][..],
            "http://",
        ),
        (
            &["--publication-url", "http://pki.kota.go.id/?q"][..],
            "query",
        ),
    ] {
        let err = init(extra);
        assert!(err.contains(why), "{extra:?}: {err}");
    }
    assert!(!ca.home().join("ca/state.json").exists());
    assert!(!dir.path().join("shares").exists(), "nothing made");
}

/// A self-signed end-entity certificate with the old profile's faults: countryName as a
/// UTF8String, and the node attributes under a 2.25 arc over 32 bits when `big_arc`.
fn old_profile(dir: &Path, big_arc: bool) -> (PathBuf, Vec<u8>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut p = rcgen::CertificateParams::default();
    p.distinguished_name.push(
        rcgen::DnType::CountryName,
        rcgen::DnValue::Utf8String("ID".into()),
    );
    p.distinguished_name.push(rcgen::DnType::CommonName, "old");
    p.is_ca = rcgen::IsCa::ExplicitNoCa;
    if big_arc {
        p.custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                &[2, 25, 263_925_185_634_146_817, 1],
                vec![0x30, 0x00],
            ));
    }
    let der = p.self_signed(&key).expect("sign").der().to_vec();
    let file = dir.join(format!("old-{big_arc}.der"));
    std::fs::write(&file, &der).expect("write");
    (file, der)
}

/// The harness itself fails on what it is there to catch: pkilint reports the UTF8String
/// country, and neither pkilint nor x509-cert reads a certificate with an arc over 32 bits.
#[test]
fn the_linters_catch_the_old_profile() {
    if !pkilint_present() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, _) = old_profile(dir.path(), false);
    let findings = pkilint("lint_pkix_cert", &[], &[&file]).expect("pkilint must object");
    assert!(
        findings.contains("FATAL") || findings.contains("ERROR"),
        "{findings}"
    );
    let (file, der) = old_profile(dir.path(), true);
    let findings = pkilint("lint_pkix_cert", &[], &[&file]).expect("pkilint must object");
    assert!(findings.contains("larger than 32-bits"), "{findings}");
    assert!(
        Certificate::from_der(&der).is_err(),
        "x509-cert takes a 64-bit arc"
    );
}
