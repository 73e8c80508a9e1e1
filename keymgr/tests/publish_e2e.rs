//! `keymgr serve` as relying parties see it: the real binary over real HTTP, checked by tools
//! we did not write. `openssl ocsp` asks for good, revoked and unknown certificates (POST with
//! and without a nonce, GET by hand per RFC 6960 appendix A), curl downloads the CA
//! certificates and CRLs and openssl parses them, oversized and malformed requests are refused,
//! and, when pkilint is installed, the responses and the responder certificate are linted.

use std::path::Path;

use sandi_e2e::steps::Steps;

#[allow(dead_code)]
mod serving;
use serving::{
    Ca, Serving, ask, curl, first_pem, get_path, header, pkilint, run, serial_of, wait_until,
};

/// A CA that issued two node certificates, an application's (revoked) and an official's, with
/// chain.pem (root and both intermediates) for openssl.
fn issued() -> (Ca, String) {
    let ca = Ca::new();
    let dir = ca.dir.path();
    ca.with_quorum(
        &["issue"],
        &[
            "node",
            "--node-id",
            "dinkes",
            "--agency",
            "Dinas Kesehatan",
            "--accreditation",
            "rahasia",
            "--dns",
            "dinkes.sandi.contoh.go.id",
            "--out",
            "node.pem",
        ],
    );
    ca.with_quorum(
        &["issue"],
        &[
            "node",
            "--node-id",
            "bappeda",
            "--agency",
            "Bappeda",
            "--accreditation",
            "terbatas",
            "--dns",
            "bappeda.sandi.contoh.go.id",
            "--out",
            "node2.pem",
        ],
    );
    ca.with_quorum(
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
    ca.with_quorum(
        &["issue"],
        &[
            "official",
            "--name",
            "Dr. Sri Wahyuni",
            "--nip",
            "197501012000032001",
            "--agency",
            "Dinas Kesehatan",
            "--out",
            "official.pem",
        ],
    );
    let app_serial = serial_of(&ca, "app.pem");
    ca.with_quorum(&["revoke"], &[&app_serial, "--reason", "keyCompromise"]);
    let mut chain = String::new();
    for f in ["root.pem", "network-ca.pem", "signing-ca.pem"] {
        chain.push_str(&std::fs::read_to_string(ca.ca_pem(f)).expect("CA certificate"));
    }
    std::fs::write(dir.join("chain.pem"), chain).expect("chain");

    (ca, app_serial)
}

/// A CA with its certificates issued and `keymgr serve` running on it.
struct Scene {
    ca: Ca,
    serving: Serving,
    /// The OCSP URLs of the two CAs.
    network: String,
    signing: String,
    /// The application certificate revoked before the service started.
    app_serial: String,
}

#[test]
fn serve_answers_ocsp_and_publishes_crls_and_ca_certificates() {
    let (ca, app_serial) = issued();
    let serving = Serving::start(&ca);
    let scene = Scene {
        network: serving.url("/ocsp/network-ca"),
        signing: serving.url("/ocsp/signing-ca"),
        serving,
        ca,
        app_serial,
    };
    let mut steps = Steps::new();

    steps.run("the certificates point at the running service", || {
        points_at_the_service(&scene);
    });

    steps.run("good, revoked and unknown over POST, with a nonce", || {
        good_revoked_and_unknown_with_a_nonce(&scene);
    });

    steps.run(
        "the same without a nonce (-no_nonce), answered from the cache",
        || without_a_nonce_from_the_cache(&scene),
    );

    steps.run("the Signing CA's responder answers for officials", || {
        signing_ca_answers_for_officials(&scene);
    });

    steps.run("a certificate of the other CA is unauthorized", || {
        other_ca_is_unauthorized(&scene);
    });

    steps.run(
        "GET per RFC 6960 appendix A, with and without a nonce",
        || get_with_and_without_a_nonce(&scene),
    );

    steps.run(
        "CA certificates and CRLs download with their content types",
        || downloads_with_content_types(&scene),
    );

    steps.run("oversized requests are refused unread", || {
        oversized_refused_unread(&scene);
    });

    steps.run("a malformed request gets malformedRequest", || {
        malformed_gets_malformed_request(&scene);
    });

    steps.run("unknown paths 404", || unknown_paths_404(&scene));

    steps.run(
        "a revocation while serving shows in OCSP and the CRL at once",
        || revocation_shows_at_once(&scene),
    );

    steps.run("a CRL written by `keymgr crl` meanwhile is served", || {
        crl_from_keymgr_crl_is_served(&scene);
    });

    steps.run(
        "pkilint finds nothing in responses of each status nor the responder",
        || pkilint_finds_nothing(&scene),
    );

    let Scene { serving, ca, .. } = scene;
    let output = serving.stop();
    drop(ca);
    steps.run("every request was counted", || {
        let line = output
            .lines()
            .find(|l| l.starts_with("stopped after "))
            .unwrap_or_else(|| panic!("no stats line:\n{output}"));
        let requests: u64 = line
            .split_whitespace()
            .nth(2)
            .and_then(|n| n.parse().ok())
            .expect("a count");
        assert!(requests >= 25, "{line}");
        assert!(!line.contains(" 0 too large"), "{line}");
        assert!(!line.contains(" 0 not found"), "{line}");
    });
    steps.finish();
}

/// The certificates point at the running service: what openssl reads from a node
/// certificate's AIA and CRL Distribution Points is what `keymgr serve` answers.
fn points_at_the_service(s: &Scene) {
    let dir = s.ca.dir.path();
    let (ok, uri) = run(
        dir,
        "openssl",
        &["x509", "-in", "node.pem", "-noout", "-ocsp_uri"],
    );
    assert!(ok, "{uri}");
    assert_eq!(uri.trim(), s.network, "the node certificate's OCSP URL");
    let (ok, text) = run(
        dir,
        "openssl",
        &["x509", "-in", "official.pem", "-noout", "-text"],
    );
    assert!(ok, "{text}");
    let crl = s.serving.url("/crl/signing-ca.crl");
    assert!(
        text.contains(&format!("URI:{crl}")),
        "the official's CRL DP:\n{text}"
    );
    let (status, headers, _) = curl(dir, &[&crl]);
    assert_eq!(status, 200, "{headers}");
}

/// good, revoked and unknown over POST, with a nonce
fn good_revoked_and_unknown_with_a_nonce(s: &Scene) {
    let ca = &s.ca;
    let network = s.network.as_str();
    let good = ask(ca, "network-ca.pem", &["-cert", "node.pem"], network, &[]);
    assert!(good.contains("node.pem: good"), "{good}");
    assert!(good.contains("Response verify OK"), "{good}");
    assert!(good.contains("OCSP Nonce"), "the nonce is echoed:\n{good}");
    assert!(!good.contains("WARNING"), "{good}");
    assert!(good.contains("Next Update:"), "{good}");
    let revoked = ask(ca, "network-ca.pem", &["-cert", "app.pem"], network, &[]);
    assert!(revoked.contains("app.pem: revoked"), "{revoked}");
    assert!(revoked.contains("Reason: keyCompromise"), "{revoked}");
    assert!(revoked.contains("Revocation Time:"), "{revoked}");
    assert!(revoked.contains("Response verify OK"), "{revoked}");
    let unknown = ask(
        ca,
        "network-ca.pem",
        &["-serial", "0x7a11ce0000000000000000000000beef"],
        network,
        &[],
    );
    assert!(unknown.contains(": unknown"), "{unknown}");
    assert!(unknown.contains("Response verify OK"), "{unknown}");
}

/// the same without a nonce (-no_nonce), answered from the cache
fn without_a_nonce_from_the_cache(s: &Scene) {
    let ca = &s.ca;
    let network = s.network.as_str();
    for _ in 0..2 {
        let good = ask(
            ca,
            "network-ca.pem",
            &["-cert", "node.pem"],
            network,
            &["-no_nonce"],
        );
        assert!(good.contains("node.pem: good"), "{good}");
        assert!(good.contains("Response verify OK"), "{good}");
        assert!(!good.contains("OCSP Nonce"), "{good}");
    }
    let revoked = ask(
        ca,
        "network-ca.pem",
        &["-cert", "app.pem"],
        network,
        &["-no_nonce"],
    );
    assert!(revoked.contains("app.pem: revoked"), "{revoked}");
}

/// the Signing CA's responder answers for officials
fn signing_ca_answers_for_officials(s: &Scene) {
    let ca = &s.ca;
    let signing = s.signing.as_str();
    let good = ask(
        ca,
        "signing-ca.pem",
        &["-cert", "official.pem"],
        signing,
        &[],
    );
    assert!(good.contains("official.pem: good"), "{good}");
    assert!(good.contains("Response verify OK"), "{good}");
}

/// a certificate of the other CA is unauthorized
fn other_ca_is_unauthorized(s: &Scene) {
    let ca = &s.ca;
    let dir = s.ca.dir.path();
    let network = s.network.as_str();

    let issuer = ca.ca_pem("signing-ca.pem");
    let (_, text) = run(
        dir,
        "openssl",
        &[
            "ocsp",
            "-issuer",
            &issuer,
            "-cert",
            "official.pem",
            "-url",
            network,
        ],
    );
    assert!(text.contains("unauthorized"), "{text}");
}

/// GET per RFC 6960 appendix A, with and without a nonce
fn get_with_and_without_a_nonce(s: &Scene) {
    let ca = &s.ca;
    let dir = s.ca.dir.path();
    let network = s.network.as_str();
    for (nonce, name) in [("-no_nonce", "get-plain"), ("-nonce", "get-nonce")] {
        let req = format!("{name}.req");
        let issuer = ca.ca_pem("network-ca.pem");
        let (ok, text) = run(
            dir,
            "openssl",
            &[
                "ocsp", "-issuer", &issuer, "-cert", "node.pem", nonce, "-reqout", &req,
            ],
        );
        assert!(ok, "{text}");
        let der = std::fs::read(dir.join(&req)).expect("request");
        let url = format!("{network}/{}", get_path(&der));
        let (status, headers, body) = curl(dir, &[&url]);
        assert_eq!(status, 200, "{headers}");
        assert_eq!(
            header(&headers, "content-type").as_deref(),
            Some("application/ocsp-response")
        );
        let cache = header(&headers, "cache-control");
        if nonce == "-no_nonce" {
            assert!(cache.is_some_and(|c| c.contains("max-age=")), "{headers}");
        } else {
            assert!(
                cache.is_none(),
                "an answer to a nonce is not for caches: {headers}"
            );
        }
        let resp = format!("{name}.resp");
        std::fs::write(dir.join(&resp), body).expect("response");
        let (ok, text) = run(
            dir,
            "openssl",
            &[
                "ocsp",
                "-reqin",
                &req,
                "-respin",
                &resp,
                "-CAfile",
                "chain.pem",
                "-resp_text",
            ],
        );
        assert!(ok, "{text}");
        assert!(text.contains("Response verify OK"), "{text}");
        assert!(text.contains("Cert Status: good"), "{text}");
        assert!(!text.contains("WARNING"), "{text}");
        if nonce == "-nonce" {
            assert!(text.contains("OCSP Nonce"), "{text}");
        }
    }
}

/// CA certificates and CRLs download with their content types
fn downloads_with_content_types(s: &Scene) {
    let dir = s.ca.dir.path();

    let serving = &s.serving;
    let app_serial = s.app_serial.as_str();
    for (path, kind) in [
        ("/ca/root.crt", "application/pkix-cert"),
        ("/ca/network-ca.crt", "application/pkix-cert"),
        ("/ca/signing-ca.crt", "application/pkix-cert"),
        ("/crl/network-ca.crl", "application/pkix-crl"),
        ("/crl/signing-ca.crl", "application/pkix-crl"),
    ] {
        let (status, headers, body) = curl(dir, &[&serving.url(path)]);
        assert_eq!(status, 200, "{path}: {headers}");
        assert_eq!(
            header(&headers, "content-type").as_deref(),
            Some(kind),
            "{path}"
        );
        let file = format!("download{}", path.replace('/', "-"));
        std::fs::write(dir.join(&file), body).expect("write");
        let (ok, text) = if kind == "application/pkix-cert" {
            run(
                dir,
                "openssl",
                &["x509", "-inform", "DER", "-in", &file, "-noout", "-subject"],
            )
        } else {
            crl_text(dir, &file, "chain.pem")
        };
        assert!(ok, "{path}: {text}");
        if path == "/crl/network-ca.crl" {
            assert!(text.contains("verify OK"), "{text}");
            assert!(
                text.to_lowercase().contains(app_serial),
                "the revoked application is listed:\n{text}"
            );
        }
    }
}

/// `openssl crl` on the DER CRL `file` in `dir`, checked against `ca_file`: whether it ran,
/// and what it printed (the CRL as text, and "verify OK" when its signature checks).
fn crl_text(dir: &Path, file: &str, ca_file: &str) -> (bool, String) {
    run(
        dir,
        "openssl",
        &[
            "crl", "-inform", "DER", "-in", file, "-CAfile", ca_file, "-noout", "-text",
        ],
    )
}

/// oversized requests are refused unread
fn oversized_refused_unread(s: &Scene) {
    let dir = s.ca.dir.path();
    let network = s.network.as_str();
    let big = dir.join("big.der");
    std::fs::write(&big, vec![0x30; 16 * 1024]).expect("write");
    let body = format!("@{}", big.display());
    let (status, _, _) = curl(
        dir,
        &[
            "-H",
            "Content-Type: application/ocsp-request",
            "--data-binary",
            &body,
            network,
        ],
    );
    assert_eq!(status, 413, "declared length over the limit");
    let (status, _, _) = curl(
        dir,
        &[
            "-H",
            "Content-Type: application/ocsp-request",
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            &body,
            network,
        ],
    );
    assert_eq!(status, 413, "chunked body over the limit");
    let long = format!("{network}/{}", "A".repeat(10 * 1024));
    let (status, _, _) = curl(dir, &[&long]);
    assert!(matches!(status, 414 | 431), "a 10 KiB URL: {status}");
}

/// a malformed request gets malformedRequest
fn malformed_gets_malformed_request(s: &Scene) {
    let dir = s.ca.dir.path();
    let network = s.network.as_str();
    let (status, headers, body) = curl(
        dir,
        &[
            "-H",
            "Content-Type: application/ocsp-request",
            "--data-binary",
            "not an OCSP request",
            network,
        ],
    );
    assert_eq!(status, 200, "{headers}");
    std::fs::write(dir.join("bad.resp"), &body).expect("write");
    let (_, text) = run(
        dir,
        "openssl",
        &["ocsp", "-respin", "bad.resp", "-resp_text"],
    );
    assert!(text.contains("malformedrequest"), "{text}");
    let (status, _, body) = curl(dir, &[&format!("{network}/%%%notbase64")]);
    assert_eq!(status, 200);
    assert_eq!(body, [0x30, 0x03, 0x0a, 0x01, 0x01], "malformedRequest");
}

/// unknown paths 404; the root's CRL from the init ceremony is served, signed by the root
fn unknown_paths_404(s: &Scene) {
    let dir = s.ca.dir.path();
    let serving = &s.serving;
    for path in ["/", "/ocsp/root", "/ca/other.crt", "/ocsp/network-ca/"] {
        let (status, _, _) = curl(dir, &[&serving.url(path)]);
        assert_eq!(status, 404, "{path}");
    }
    let (status, _, body) = curl(dir, &[&serving.url("/crl/root.crl")]);
    assert_eq!(status, 200, "the root's CRL");
    std::fs::write(dir.join("root.crl"), body).expect("write");
    let root = s.ca.home().join("ca/root.pem");
    let (ok, text) = crl_text(dir, "root.crl", root.to_str().expect("utf8"));
    assert!(ok && text.contains("verify OK"), "{text}");
    assert!(text.contains("No Revoked Certificates"), "{text}");
}

/// a revocation while serving shows in OCSP and the CRL at once
fn revocation_shows_at_once(s: &Scene) {
    let ca = &s.ca;
    let dir = s.ca.dir.path();
    let network = s.network.as_str();
    let serving = &s.serving;
    let serial = serial_of(ca, "node2.pem");
    let before = ask(
        ca,
        "network-ca.pem",
        &["-cert", "node2.pem"],
        network,
        &["-no_nonce"],
    );
    assert!(before.contains("node2.pem: good"), "{before}");
    ca.with_quorum(&["revoke"], &[&serial, "--reason", "superseded"]);
    wait_until("OCSP says revoked", || {
        let now = ask(
            ca,
            "network-ca.pem",
            &["-cert", "node2.pem"],
            network,
            &["-no_nonce"],
        );
        (!now.contains("node2.pem: revoked")).then_some(now)
    });
    wait_until("the CRL lists it", || {
        let (_, _, body) = curl(dir, &[&serving.url("/crl/network-ca.crl")]);
        std::fs::write(dir.join("now.crl"), body).expect("write");
        let (_, text) = run(
            dir,
            "openssl",
            &["crl", "-inform", "DER", "-in", "now.crl", "-noout", "-text"],
        );
        (!text.to_lowercase().contains(&serial)).then_some(text)
    });
}

/// a CRL written by `keymgr crl` meanwhile is served
fn crl_from_keymgr_crl_is_served(s: &Scene) {
    let ca = &s.ca;
    let dir = s.ca.dir.path();

    let serving = &s.serving;
    let text = ca.with_quorum(&["crl"], &["signing"]);
    let number: u64 = text
        .split_whitespace()
        .skip_while(|w| *w != "number")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a CRL number in {text}"));
    wait_until("the new CRL is served", || {
        let (_, _, body) = curl(dir, &[&serving.url("/crl/signing-ca.crl")]);
        std::fs::write(dir.join("signing.crl"), body).expect("write");
        let (_, text) = run(
            dir,
            "openssl",
            &[
                "crl",
                "-inform",
                "DER",
                "-in",
                "signing.crl",
                "-noout",
                "-crlnumber",
            ],
        );
        let served = text
            .trim()
            .strip_prefix("crlNumber=0x")
            .and_then(|h| u64::from_str_radix(h, 16).ok());
        (served != Some(number)).then_some(text)
    });
}

/// pkilint finds nothing in responses of each status nor the responder
fn pkilint_finds_nothing(s: &Scene) {
    let ca = &s.ca;
    let dir = s.ca.dir.path();
    let network = s.network.as_str();
    let issuer = ca.ca_pem("network-ca.pem");
    let mut responder = String::new();
    for (which, name) in [
        (vec!["-cert", "node.pem"], "good"),
        (vec!["-cert", "app.pem"], "revoked"),
        (
            vec!["-serial", "0x7a11ce0000000000000000000000beef"],
            "unknown",
        ),
    ] {
        let out = format!("lint-{name}.resp");
        let mut args = vec!["ocsp", "-issuer", issuer.as_str()];
        args.extend(which);
        args.extend([
            "-url",
            network,
            "-CAfile",
            "chain.pem",
            "-respout",
            &out,
            "-resp_text",
        ]);
        let (ok, text) = run(dir, "openssl", &args);
        assert!(ok, "{text}");
        responder = first_pem(&text);
        if let Some(findings) = pkilint(dir, "lint_ocsp_response", &[], &out) {
            assert!(findings.trim().is_empty(), "{name} response:\n{findings}");
        }
    }
    std::fs::write(dir.join("responder.pem"), responder).expect("write");
    if let Some(findings) = pkilint(dir, "lint_pkix_cert", &[], "responder.pem") {
        assert!(
            findings.trim().is_empty(),
            "responder certificate:\n{findings}"
        );
    }
    let (ok, text) = run(
        dir,
        "openssl",
        &["x509", "-in", "responder.pem", "-noout", "-text"],
    );
    assert!(ok, "{text}");
    assert!(text.contains("OCSP Signing"), "{text}");
    assert!(text.contains("OCSP No Check"), "{text}");
}

#[test]
fn serve_refuses_to_start_without_the_quorum() {
    let ca = Ca::new();
    let first_share_only: Vec<&str> = ca.shares[..2]
        .iter()
        .chain(&ca.shares[4..])
        .map(String::as_str)
        .collect();
    let mut args = vec!["serve", "--dev-home", "--listen", "127.0.0.1:0"];
    args.extend(first_share_only);
    let out = ca.keymgr(&args);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("quorum not met"), "{text}");
}

#[tokio::test]
async fn serve_answers_from_a_postgresql_inventory() {
    let Some((url, name)) = sandi_e2e::pg::postgres().await else {
        return;
    };
    let ca = Ca::on(Some(url));
    ca.with_quorum(
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
    let mut chain = String::new();
    for f in ["root.pem", "network-ca.pem", "signing-ca.pem"] {
        chain.push_str(&std::fs::read_to_string(ca.ca_pem(f)).expect("CA certificate"));
    }
    std::fs::write(ca.path("chain.pem"), chain).expect("chain");
    let serving = Serving::start(&ca);
    let network = serving.url("/ocsp/network-ca");
    let mut steps = Steps::new();
    steps.run("good, then revoked once revoked while serving", || {
        let good = ask(
            &ca,
            "network-ca.pem",
            &["-cert", "app.pem"],
            &network,
            &["-no_nonce"],
        );
        assert!(good.contains("app.pem: good"), "{good}");
        let serial = serial_of(&ca, "app.pem");
        ca.with_quorum(&["revoke"], &[&serial, "--reason", "affiliationChanged"]);
        wait_until("OCSP says revoked", || {
            let now = ask(
                &ca,
                "network-ca.pem",
                &["-cert", "app.pem"],
                &network,
                &["-no_nonce"],
            );
            (!now.contains("Reason: affiliationChanged")).then_some(now)
        });
    });
    drop(serving);
    steps.run("the inventory was PostgreSQL's, not a SQLite file", || {
        assert!(!ca.home().join("inventory.db").exists());
    });
    sandi_e2e::pg::drop_postgres(&name).await;
    steps.finish();
}
