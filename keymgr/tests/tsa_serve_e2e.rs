//! The time-stamping authority of the real `keymgr serve`, as a relying party uses it: the
//! request made by `openssl ts -query`, sent by curl, the answer verified by `openssl ts
//! -verify` against the root and Signing CA; what is not a time-stamp request refused; the TSA
//! certificate in the inventory and the transparency log, and clean for pkilint.

use sandi_e2e::steps::Steps;

#[allow(dead_code)]
mod serving;
use serving::{Ca, Serving, curl, header, pkilint, run};

/// A CA with `keymgr serve` running, chain.pem (root, Signing CA) and tsa.pem beside it.
struct Scene {
    ca: Ca,
    serving: Serving,
}

#[test]
fn serve_stamps_what_openssl_asks() {
    sandi_e2e::node::require("openssl");
    sandi_e2e::node::require("curl");
    let ca = Ca::new();
    let serving = Serving::start(&ca);
    let dir = ca.dir.path();
    let chain: String = ["root.pem", "signing-ca.pem"]
        .iter()
        .map(|f| std::fs::read_to_string(ca.ca_pem(f)).expect("CA certificate"))
        .collect();
    std::fs::write(dir.join("chain.pem"), chain).expect("chain");
    std::fs::copy(ca.ca_pem("tsa.pem"), dir.join("tsa.pem")).expect("HOME/ca/tsa.pem");
    std::fs::write(dir.join("surat.txt"), "Surat yang dicap waktu\n").expect("data");
    let scene = Scene { ca, serving };

    let mut steps = Steps::new();
    steps.run("openssl ts -query | curl, then openssl ts -verify", || {
        openssl_query_curl_and_verify(&scene);
    });
    steps.run("not a time-stamp query: refused", || {
        not_a_query_is_refused(&scene);
    });
    steps.run(
        "the TSA certificate is issued, logged and lint-clean",
        || {
            the_certificate_is_issued_logged_and_clean(&scene);
        },
    );
    steps.finish();
}

/// Exactly what the issue asks: a SHA-256 query asking for the certificate, posted with curl,
/// verified by openssl against the data and against the query (nonce, imprint).
fn openssl_query_curl_and_verify(s: &Scene) {
    let dir = s.ca.dir.path();
    let url = s.serving.url("/tsa");
    assert!(
        s.serving
            .output()
            .contains("time-stamping authority at POST /tsa"),
        "{}",
        s.serving.output()
    );
    let (ok, out) = run(
        dir,
        "sh",
        &[
            "-c",
            &format!(
                "set -e; openssl ts -query -data surat.txt -sha256 -cert -out query.tsq; \
                 openssl ts -query -data surat.txt -sha256 -cert | curl -sSf --data-binary @- \
                 -H 'Content-Type: application/timestamp-query' {url} -o resp.tsr; \
                 curl -sSf --data-binary @query.tsq \
                 -H 'Content-Type: application/timestamp-query' {url} -o resp2.tsr"
            ),
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = run(
        dir,
        "openssl",
        &[
            "ts",
            "-verify",
            "-data",
            "surat.txt",
            "-in",
            "resp.tsr",
            "-CAfile",
            "chain.pem",
            "-untrusted",
            "tsa.pem",
        ],
    );
    assert!(ok && out.contains("Verification: OK"), "{out}");
    let (ok, out) = run(
        dir,
        "openssl",
        &[
            "ts",
            "-verify",
            "-queryfile",
            "query.tsq",
            "-in",
            "resp2.tsr",
            "-CAfile",
            "chain.pem",
            "-untrusted",
            "tsa.pem",
        ],
    );
    assert!(ok && out.contains("Verification: OK"), "{out}");
    // Another document does not verify against the token.
    std::fs::write(dir.join("lain.txt"), "Surat lain\n").expect("other");
    let (ok, out) = run(
        dir,
        "openssl",
        &[
            "ts",
            "-verify",
            "-data",
            "lain.txt",
            "-in",
            "resp.tsr",
            "-CAfile",
            "chain.pem",
            "-untrusted",
            "tsa.pem",
        ],
    );
    assert!(!ok, "{out}");
    let (_, text) = run(
        dir,
        "openssl",
        &["ts", "-reply", "-in", "resp.tsr", "-text"],
    );
    assert!(text.contains("Status: Granted"), "{text}");
    assert!(text.contains("Policy OID: 2.25.3640695297.3.1"), "{text}");
}

/// The wrong content type is a 415; bytes that are no request get a rejection openssl reads;
/// a body over the service's limit is refused unread.
fn not_a_query_is_refused(s: &Scene) {
    let dir = s.ca.dir.path();
    let url = s.serving.url("/tsa");
    // curl runs elsewhere: the files by their full paths.
    let at = |f: &str| format!("@{}", dir.join(f).display());
    let (status, _, _) = curl(
        dir,
        &[
            "--data-binary",
            &at("query.tsq"),
            "-H",
            "Content-Type: application/octet-stream",
            &url,
        ],
    );
    assert_eq!(status, 415);
    std::fs::write(dir.join("garbage.tsq"), b"\x30\x03\x02\x01\x07").expect("garbage");
    let (status, headers, body) = curl(
        dir,
        &[
            "--data-binary",
            &at("garbage.tsq"),
            "-H",
            "Content-Type: application/timestamp-query",
            &url,
        ],
    );
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type").as_deref(),
        Some("application/timestamp-reply")
    );
    std::fs::write(dir.join("garbage.tsr"), body).expect("answer");
    let (_, text) = run(
        dir,
        "openssl",
        &["ts", "-reply", "-in", "garbage.tsr", "-text"],
    );
    assert!(
        text.contains("Status: Rejected") && text.contains("wrong format"),
        "{text}"
    );
    std::fs::write(dir.join("big.tsq"), vec![0x30u8; 64 * 1024]).expect("big");
    let (status, headers, body) = curl(
        dir,
        &[
            "--data-binary",
            &at("big.tsq"),
            "-H",
            "Content-Type: application/timestamp-query",
            &url,
        ],
    );
    assert_eq!(status, 413, "{headers}{}", String::from_utf8_lossy(&body));
    assert!(
        s.serving.output().is_empty() || !s.serving.output().contains("panicked"),
        "{}",
        s.serving.output()
    );
}

/// The TSA certificate is in the inventory (profile `tsa`) and the transparency log verifies
/// with its issuance; pkilint's RFC 5280 linter finds nothing in it.
fn the_certificate_is_issued_logged_and_clean(s: &Scene) {
    let list = s.ca.ok(&["list"]);
    assert!(list.contains("tsa:sandi-tsa"), "{list}");
    let log = s.ca.ok(&["log", "verify"]);
    assert!(!log.is_empty());
    let dir = s.ca.dir.path();
    if let Some(findings) = pkilint(dir, "lint_pkix_cert", &[], "tsa.pem") {
        assert!(findings.trim().is_empty(), "TSA certificate:\n{findings}");
    }
}
