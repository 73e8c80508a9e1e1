//! The online CA as custodians, nodes and operators meet it: the real `keymgr serve
//! --api-listen` started sealed with its root keystore taken away (on removable media), unsealed
//! by custodians over HTTPS, then enrolling a node by its one-time token and issuing for it,
//! and signing a directory version only when two different operators approved. Every call is
//! made with curl over mutual TLS, and what is issued is checked with `openssl verify`.

use std::path::PathBuf;

use sandi_e2e::steps::Steps;
use serde_json::{Value, json};

#[allow(dead_code)]
mod serving;
use serving::{Ca, Serving, curl, key_and_csr, run, wait_until};

const NIP: &str = "197501012000032001";

/// A client of the API: curl with the Root CA as its only trust, and a client certificate
/// when given.
struct Api {
    dir: PathBuf,
    base: String,
    root: String,
}

/// A client certificate and its key, as curl takes them.
type Identity<'a> = Option<(&'a str, &'a str)>;

impl Api {
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        who: Identity<'_>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let mut args: Vec<String> = vec![
            "--cacert".into(),
            self.root.clone(),
            "-X".into(),
            method.into(),
        ];
        if let Some((cert, key)) = who {
            let path = |f: &str| self.dir.join(f).display().to_string();
            args.extend(["--cert".into(), path(cert), "--key".into(), path(key)]);
        }
        if let Some(b) = body {
            let file = self.dir.join(format!("body-{}.json", serving::uuid_like()));
            std::fs::write(&file, b.to_string()).expect("body");
            args.extend([
                "-H".into(),
                "content-type: application/json".into(),
                "--data-binary".into(),
                format!("@{}", file.display()),
            ]);
        }
        args.push(url);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (status, headers, bytes) = curl(&self.dir, &refs);
        if status >= 400 {
            let ct = serving::header(&headers, "content-type").unwrap_or_default();
            assert_eq!(ct, "application/problem+json", "{method} {path}: {headers}");
        }
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    fn get(&self, path: &str, who: Identity<'_>) -> (u16, Value) {
        self.call("GET", path, None, who)
    }

    fn post(&self, path: &str, body: &Value, who: Identity<'_>) -> (u16, Value) {
        self.call("POST", path, Some(body), who)
    }
}

/// `openssl verify` of a certificate against the root, the issuing CA untrusted.
fn verified(ca: &Ca, issuer: &str, cert_pem: &str, file: &str) {
    let dir = ca.dir.path();
    std::fs::write(dir.join(file), cert_pem).expect("certificate");
    let (ok, text) = run(
        dir,
        "openssl",
        &[
            "verify",
            "-CAfile",
            &ca.ca_pem("root.pem"),
            "-untrusted",
            &ca.ca_pem(issuer),
            file,
        ],
    );
    assert!(ok && text.contains(": OK"), "openssl verify {file}: {text}");
}

fn certificates(ca: &Ca) -> usize {
    let list = ca.ok(&["list"]);
    list.lines()
        .skip(1)
        .take_while(|l| !l.starts_with("keys:"))
        .count()
}

fn log_has(ca: &Ca, what: &str) -> bool {
    log_count(ca, what) > 0
}

/// The log's entries that contain `what`.
fn log_count(ca: &Ca, what: &str) -> usize {
    std::fs::read_to_string(ca.home().join("log").join("entries.jsonl"))
        .expect("the log")
        .lines()
        .filter(|l| l.contains(what))
        .count()
}

fn token(ca: &Ca, node: &str, agencies: &[&str], valid: &str) -> String {
    let mut args = vec![
        "node",
        "invite",
        "--node-id",
        node,
        "--organisation",
        "Pemerintah Kota Contoh",
        "--accreditation",
        "rahasia",
        "--ip",
        "127.0.0.1",
        "--valid",
        valid,
    ];
    for a in agencies {
        args.extend(["--agency", a]);
    }
    let out = ca.ok(&args);
    out.lines()
        .find(|l| l.starts_with("sandi-enrol-v1."))
        .unwrap_or_else(|| panic!("no token in:\n{out}"))
        .to_owned()
}

/// Enrols a node with its token: its certificate and key files.
fn enrol(ca: &Ca, api: &Api, node: &str, token: &str) -> (String, String) {
    let (key, csr) = key_and_csr(ca.dir.path(), node, "P-256", &format!("/CN={node}"));
    let (status, v) = api.post(
        "/api/v1/enrol/node",
        &json!({ "token": token, "csr_pem": csr }),
        None,
    );
    assert_eq!(status, 200, "{v}");
    let cert = format!("{node}.pem");
    verified(
        ca,
        "network-ca.pem",
        v["certificate_pem"].as_str().expect("pem"),
        &cert,
    );
    (cert, key)
}

struct Scene {
    ca: Ca,
    api: Api,
    serving: Serving,
    tokens: Vec<String>,
}

/// A CA with its API certificate, two operators and three invitations (the last one expires
/// at once).
fn prepared(database_url: Option<String>) -> (Ca, Vec<String>) {
    let ca = Ca::on(database_url);
    let dir = ca.dir.path().to_path_buf();
    ca.with_quorum(&["api-cert"], &["--ip", "127.0.0.1"]);
    for (n, name) in [(1, "Operator Satu"), (2, "Operator Dua")] {
        let (_, csr) = key_and_csr(&dir, &format!("op{n}"), "P-256", &format!("/CN=op{n}"));
        std::fs::write(dir.join(format!("op{n}.csr")), csr).expect("csr");
        ca.with_quorum(
            &["operator", "add"],
            &[
                name,
                "--csr",
                &format!("op{n}.csr"),
                "--out",
                &format!("op{n}.pem"),
            ],
        );
    }
    let tokens = vec![
        token(&ca, "dinkes", &["Dinas Kesehatan", "Puskesmas Kota"], "1h"),
        token(&ca, "bappeda", &["Bappeda"], "1h"),
        token(&ca, "late", &["Bappeda"], "1s"),
    ];
    (ca, tokens)
}

/// `keymgr serve` with the API, started sealed (no share given), and a client for it.
fn started(ca: &Ca) -> (Serving, Api) {
    let publication = format!("127.0.0.1:{}", ca.port);
    let serving = Serving::start_with(
        ca,
        &[
            "serve",
            "--listen",
            &publication,
            "--api-listen",
            "127.0.0.1:0",
            "--refresh",
            "1s",
        ],
        "API listening on https://",
    );
    let api = Api {
        // The address the API printed, as the helper keeps it.
        base: serving.url("").replacen("http://", "https://", 1),
        root: ca.ca_pem("root.pem"),
        dir: ca.dir.path().to_path_buf(),
    };
    (serving, api)
}

#[test]
fn online_ca_unsealed_over_the_api_issues_for_nodes_and_operators() {
    let (ca, tokens) = prepared(None);
    let steps = scenario(ca, tokens, false);
    steps.finish();
}

#[tokio::test]
async fn the_same_on_a_postgresql_inventory() {
    let Some((url, name)) = sandi_e2e::pg::postgres().await else {
        return;
    };
    let (ca, tokens) = prepared(Some(url));
    let steps = scenario(ca, tokens, true);
    sandi_e2e::pg::drop_postgres(&name).await;
    steps.finish();
}

/// Everything, in order, on one CA: the cases share its home, its serve and its API.
fn scenario(ca: Ca, tokens: Vec<String>, on_postgres: bool) -> Steps {
    let mut steps = Steps::new();
    steps.run(
        "the root keystore moves to its own media; serve refuses until it is gone",
        || {
            root_keystore_away(&ca);
        },
    );
    let (serving, api) = started(&ca);
    let s = Scene {
        ca,
        api,
        serving,
        tokens,
    };
    steps.run(
        "sealed at start: the status says so, issuing answers 503",
        || sealed(&s),
    );
    steps.run(
        "a share from another ceremony is refused and counts as nothing",
        || {
            other_ceremony_refused(&s);
        },
    );
    steps.run("custodians unseal one at a time over HTTPS", || unseal(&s));
    let node = steps_enrolment(&s, &mut steps);
    steps.run(
        "an official's certificate for the NIP the CSR names",
        || official(&s, &node),
    );
    steps.run(
        "a mismatched NIP or a weak key: refused, logged, nothing issued",
        || {
            refused_officials(&s, &node);
        },
    );
    steps.run(
        "no certificate, an operator's or another node's: refused",
        || {
            other_callers_refused(&s);
        },
    );
    steps.run("key binding, application certificate, renewal", || {
        binding_application_renewal(&s, &node);
    });
    steps.run("a directory version needs two different operators", || {
        directory(&s, &node);
    });
    steps.run("bounded bodies and the OpenAPI document", || {
        bounded_and_openapi(&s);
    });
    let Scene { serving, ca, .. } = s;
    serving.stop();
    steps.run("the inventory is where the CA was told", || {
        let sqlite = ca.home().join("inventory.db");
        assert_eq!(sqlite.exists(), !on_postgres);
    });
    steps.run("the transparency log still verifies", || {
        assert!(ca.ok(&["log", "verify"]).contains("log verified"));
    });
    steps
}

/// The root key is not on the online CA's machine: `serve` will not start while the home holds
/// it; a root ceremony finds it on its removable media with --root-home.
fn root_keystore_away(ca: &Ca) {
    let out = ca.keymgr(&["serve", "--api-listen", "127.0.0.1:0"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && text.contains("holds the root keystore"),
        "{text}"
    );
    let media = ca.path("removable");
    std::fs::create_dir(&media).expect("media");
    std::fs::rename(ca.home().join("root-keystore"), media.join("root-keystore"))
        .expect("take the root keystore away");
    let mut args = vec!["--root-home", "removable", "unseal"];
    args.extend(ca.shares.iter().map(String::as_str));
    assert!(ca.ok(&args).contains("the keystores are unsealed"));
    assert!(
        ca.with_quorum(&["unseal"], &[])
            .contains("the online keystore is unsealed")
    );
}

fn sealed(s: &Scene) {
    let (status, v) = s.api.get("/api/v1/sys/status", None);
    assert_eq!(status, 200);
    assert_eq!(v, json!({ "sealed": true, "threshold": 2, "received": 0 }));
    let (_, csr) = key_and_csr(&s.api.dir, "early", "P-256", "/CN=dinkes");
    let (status, v) = s.api.post(
        "/api/v1/enrol/node",
        &json!({ "token": s.tokens[0], "csr_pem": csr }),
        None,
    );
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["type"], "urn:sandi:problem:sealed");
    assert!(
        !s.serving.output().contains("listening on http://"),
        "nothing signs while sealed"
    );
}

fn other_ceremony_refused(s: &Scene) {
    let other = Ca::new();
    let share = other.shares[1].clone();
    let out = s.ca.keymgr(&[
        "unseal",
        "--url",
        &s.api.base,
        "--share",
        &share,
        "--identity",
        &other.path("ids.txt").display().to_string(),
    ]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && text.contains("refused the share"),
        "{text}"
    );
    let (status, v) = s.api.post(
        "/api/v1/sys/unseal",
        &json!({ "share": "sandi-share-v1.x.2.y.z" }),
        None,
    );
    assert_eq!(status, 422, "{v}");
    assert_eq!(s.api.get("/api/v1/sys/status", None).1["received"], 0);
}

fn unseal(s: &Scene) {
    let ids = s.ca.path("ids.txt").display().to_string();
    for (n, share) in [(1, &s.ca.shares[1]), (2, &s.ca.shares[3])] {
        let out = s.ca.ok(&[
            "unseal",
            "--url",
            &s.api.base,
            "--share",
            share,
            "--identity",
            &ids,
        ]);
        let (_, v) = s.api.get("/api/v1/sys/status", None);
        assert_eq!(v["received"], n, "{out}");
        assert_eq!(v["sealed"], n == 1, "{out}");
    }
    wait_until("the publication service starts once unsealed", || {
        let o = s.serving.output();
        (!o.contains("listening on http://")).then_some(o)
    });
}

/// A request without proof of possession leaves the token unused; the node enrols once with its
/// token; the token twice, or expired, issues nothing.
fn steps_enrolment(s: &Scene, steps: &mut Steps) -> (String, String) {
    let mut node = None;
    steps.run(
        "a request without proof of possession: refused, the token still good",
        || {
            let before = certificates(&s.ca);
            let (_, csr) = key_and_csr(&s.api.dir, "forged", "P-256", "/CN=dinkes");
            let mut der = keymgr::ca::pem_to_der(&csr).expect("CSR DER");
            // The last byte of the signature's s: the request still parses, its signature no
            // longer verifies. Checked once, before the invitation is used (issuance does
            // not check it again).
            *der.last_mut().expect("non-empty") ^= 0x01;
            let forged = keymgr::ca::pem_encode("CERTIFICATE REQUEST", &der);
            refused(
                s.api.post(
                    "/api/v1/enrol/node",
                    &json!({ "token": s.tokens[0], "csr_pem": forged }),
                    None,
                ),
                422,
                "no proof of possession",
            );
            assert_eq!(certificates(&s.ca), before, "nothing issued");
            assert!(
                log_has(&s.ca, "no proof of possession"),
                "the refusal is logged"
            );
        },
    );
    steps.run("a node enrols with its one-time token", || {
        node = Some(enrol(&s.ca, &s.api, "dinkes", &s.tokens[0]));
    });
    steps.run(
        "the token twice, or expired: refused, nothing issued",
        || {
            let before = certificates(&s.ca);
            let refusals = log_count(&s.ca, "\"route\":\"enrol/node\"");
            // The last invitation was valid for one second.
            std::thread::sleep(std::time::Duration::from_millis(1100));
            for (token, why) in [(&s.tokens[0], "already used"), (&s.tokens[2], "expired")] {
                let (_, csr) = key_and_csr(&s.api.dir, "again", "P-256", "/CN=again");
                refused(
                    s.api.post(
                        "/api/v1/enrol/node",
                        &json!({ "token": token, "csr_pem": csr }),
                        None,
                    ),
                    403,
                    why,
                );
            }
            let (status, _) = s.api.post(
                "/api/v1/enrol/node",
                &json!({ "token": "sandi-enrol-v1.00000000000000000000000000000000.x",
                     "csr_pem": key_and_csr(&s.api.dir, "unknown", "P-256", "/CN=x").1 }),
                None,
            );
            assert_eq!(status, 403);
            assert_eq!(certificates(&s.ca), before, "nothing issued");
            // The used and the expired invitation's refusals (an unknown token is noise).
            assert_eq!(
                log_count(&s.ca, "\"route\":\"enrol/node\""),
                refusals + 2,
                "refusals are logged"
            );
        },
    );
    node.expect("the node enrolled")
}

fn official_body(nip: &str, agency: &str, clearance: &str, csr: &str) -> Value {
    json!({ "nip": nip, "name": "Dr. Sri Wahyuni", "agency": agency, "clearance": clearance,
            "csr_pem": csr })
}

fn official(s: &Scene, node: &(String, String)) {
    let (_, csr) = key_and_csr(
        &s.api.dir,
        "sri",
        "P-384",
        &format!("/CN=Dr. Sri Wahyuni/serialNumber={NIP}"),
    );
    // The node's second agency, known from its invitation.
    let (status, v) = s.api.post(
        "/api/v1/officials/certificate",
        &official_body(NIP, "Puskesmas Kota", "rahasia", &csr),
        Some((&node.0, &node.1)),
    );
    assert_eq!(status, 200, "{v}");
    verified(
        &s.ca,
        "signing-ca.pem",
        v["certificate_pem"].as_str().expect("pem"),
        "sri.pem",
    );
    assert_eq!(
        v["chain_pem"]
            .as_str()
            .expect("chain")
            .matches("BEGIN CERTIFICATE")
            .count(),
        2
    );
    let (ok, text) = run(
        &s.api.dir,
        "openssl",
        &["x509", "-in", "sri.pem", "-noout", "-subject"],
    );
    assert!(ok && text.contains(NIP), "{text}");
    // A request as docsvc writes an official's: the NIP as its common name, no serialNumber.
    let (_, cn_only) = key_and_csr(&s.api.dir, "budi", "P-384", "/CN=198001012005011002");
    let body = json!({ "nip": "198001012005011002", "name": "Budi Santoso",
        "agency": "Dinas Kesehatan", "clearance": "rahasia", "csr_pem": cn_only });
    let (status, v) = s.api.post(
        "/api/v1/officials/certificate",
        &body,
        Some((&node.0, &node.1)),
    );
    assert_eq!(status, 200, "{v}");
}

fn refused_officials(s: &Scene, node: &(String, String)) {
    let who = Some((node.0.as_str(), node.1.as_str()));
    let before = certificates(&s.ca);
    let other_nip = "198001012005011002";
    let (_, wrong) = key_and_csr(
        &s.api.dir,
        "wrong",
        "P-384",
        &format!("/CN=Dr. Sri Wahyuni/serialNumber={other_nip}"),
    );
    refused(
        s.api.post(
            "/api/v1/officials/certificate",
            &official_body(NIP, "Dinas Kesehatan", "rahasia", &wrong),
            who,
        ),
        422,
        other_nip,
    );
    let (_, weak) = key_and_csr(
        &s.api.dir,
        "weak",
        "P-256",
        &format!("/CN=Dr. Sri Wahyuni/serialNumber={NIP}"),
    );
    refused(
        s.api.post(
            "/api/v1/officials/certificate",
            &official_body(NIP, "Dinas Kesehatan", "rahasia", &weak),
            who,
        ),
        422,
        "P-384",
    );
    // The same P-256 key is enough for a biasa clearance; a node never issues for an agency it
    // does not serve.
    let (status, v) = s.api.post(
        "/api/v1/officials/certificate",
        &official_body(NIP, "Bappeda", "biasa", &weak),
        who,
    );
    assert_eq!(status, 403, "{v}");
    assert_eq!(certificates(&s.ca), before, "nothing issued");
    assert!(
        log_has(&s.ca, "\"route\":\"officials/certificate\""),
        "refusals are logged"
    );
}

/// A refusal: its status, and its problem's detail saying why.
#[track_caller]
fn refused((status, v): (u16, Value), want: u16, why: &str) {
    assert_eq!(status, want, "{v}");
    assert!(
        v["detail"].as_str().unwrap_or_default().contains(why),
        "{why:?} not in {v}"
    );
}

fn other_callers_refused(s: &Scene) {
    let (_, csr) = key_and_csr(
        &s.api.dir,
        "x",
        "P-384",
        &format!("/CN=x/serialNumber={NIP}"),
    );
    let body = official_body(NIP, "Dinas Kesehatan", "rahasia", &csr);
    let (status, v) = s.api.post("/api/v1/officials/certificate", &body, None);
    assert_eq!(status, 401, "{v}");
    let (status, v) = s.api.post(
        "/api/v1/officials/certificate",
        &body,
        Some(("op1.pem", "op1.key")),
    );
    assert_eq!(status, 403, "{v}");
    let other = enrol(&s.ca, &s.api, "bappeda", &s.tokens[1]);
    refused(
        s.api.post(
            "/api/v1/officials/certificate",
            &body,
            Some((&other.0, &other.1)),
        ),
        403,
        "does not serve",
    );
    // Nor may it take over another agency's official by claiming its own agency for the NIP.
    refused(
        s.api.post(
            "/api/v1/officials/certificate",
            &official_body(NIP, "Bappeda", "rahasia", &csr),
            Some((&other.0, &other.1)),
        ),
        403,
        "holds a valid certificate of agency",
    );
    // An official's certificate (Signing CA) does not authenticate here at all.
    let (status, _) = s.api.post(
        "/api/v1/officials/certificate",
        &body,
        Some(("sri.pem", "sri.key")),
    );
    assert_ne!(status, 200);
}

fn binding_application_renewal(s: &Scene, node: &(String, String)) {
    let who = Some((node.0.as_str(), node.1.as_str()));
    let out = std::process::Command::new("age-keygen")
        .output()
        .expect("age-keygen");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("recipient");
    let (status, v) = s.api.post(
        "/api/v1/officials/binding",
        &json!({ "nip": NIP, "age_recipient": recipient }),
        who,
    );
    assert_eq!(status, 200, "{v}");
    std::fs::write(s.api.dir.join("binding.json"), v["binding"].to_string()).expect("binding");
    assert!(s.ca.ok(&["verify-binding", "binding.json"]).contains(NIP));

    let (_, csr) = key_and_csr(&s.api.dir, "eoffice", "P-256", "/CN=e-office");
    let (status, v) = s.api.post(
        "/api/v1/applications/certificate",
        &json!({ "name": "e-office", "agency": "Dinas Kesehatan", "csr_pem": csr }),
        who,
    );
    assert_eq!(status, 200, "{v}");
    verified(
        &s.ca,
        "network-ca.pem",
        v["certificate_pem"].as_str().expect("pem"),
        "eoffice.pem",
    );

    let (_, csr) = key_and_csr(&s.api.dir, "dinkes2", "P-256", "/CN=dinkes");
    let (status, v) = s
        .api
        .post("/api/v1/nodes/renew", &json!({ "csr_pem": csr }), who);
    assert_eq!(status, 200, "{v}");
    verified(
        &s.ca,
        "network-ca.pem",
        v["certificate_pem"].as_str().expect("pem"),
        "dinkes2.pem",
    );
    let (ok, text) = run(
        &s.api.dir,
        "openssl",
        &[
            "x509",
            "-in",
            "dinkes2.pem",
            "-noout",
            "-subject",
            "-ext",
            "subjectAltName",
        ],
    );
    assert!(
        ok && text.contains("CN = dinkes") && text.contains("127.0.0.1"),
        "{text}"
    );
    // Only the current certificate speaks for the node: the one renewal replaced is refused
    // (it could otherwise outlive a revocation of the new one), the new one is accepted.
    let body = json!({ "nip": NIP, "age_recipient": recipient });
    refused(
        s.api.post("/api/v1/officials/binding", &body, who),
        403,
        "replaced",
    );
    let renewed = Some(("dinkes2.pem", "dinkes2.key"));
    let (status, v) = s.api.post("/api/v1/officials/binding", &body, renewed);
    assert_eq!(status, 200, "{v}");
}

fn directory(s: &Scene, node: &(String, String)) {
    let op1 = Some(("op1.pem", "op1.key"));
    let op2 = Some(("op2.pem", "op2.key"));
    // The node's key as openssl gives it (SubjectPublicKeyInfo, DER), hashed: the pin.
    let (ok, spki) = run(
        &s.api.dir,
        "sh",
        &[
            "-c",
            &format!(
                "openssl x509 -in {} -noout -pubkey | openssl pkey -pubin -outform DER \
                 | openssl dgst -sha256 -r",
                node.0
            ),
        ],
    );
    assert!(ok, "{spki}");
    let sha = spki.split_whitespace().next().expect("hex").to_lowercase();
    let pem = std::fs::read_to_string(s.api.dir.join(&node.0)).expect("node certificate");
    let der = keymgr::ca::pem_to_der(&pem).expect("PEM");
    assert_eq!(sha, keymgr::directory::spki_sha256(&der).expect("spki"));
    let entry = |pin: &str| {
        json!({ "id": "dinkes", "agencies": ["Dinas Kesehatan", "Puskesmas Kota"],
            "base_url": "https://127.0.0.1:9443", "spki_sha256": pin,
            "accreditation": "rahasia", "status": "active" })
    };
    // The certificate pin of before is no field of a directory any more: refused, not ignored.
    let mut old = entry(&sha);
    old["certificate_sha256"] = old["spki_sha256"].take();
    let old = json!({ "version": 1, "nodes": [old] });
    let (status, v) = s.api.post("/api/v1/directory/proposals", &old, op1);
    assert_eq!(status, 400, "{v}");
    let input = json!({ "version": 1, "nodes": [entry(&sha)] });
    let (status, v) = s.api.post(
        "/api/v1/directory/proposals",
        &input,
        Some((&node.0, &node.1)),
    );
    assert_eq!(status, 403, "a node proposes nothing: {v}");
    let (status, p) = s.api.post("/api/v1/directory/proposals", &input, op1);
    assert_eq!(status, 201, "{p}");
    let id = p["id"].as_str().expect("id");
    let approve = format!("/api/v1/directory/proposals/{id}/approve");
    let sha = json!({ "input_sha256": p["input_sha256"] });
    let (status, _) = s.api.get("/api/v1/directory", None);
    assert_eq!(status, 401, "nodes and operators only");
    assert_eq!(
        s.api.get("/api/v1/directory", op1).0,
        404,
        "nothing signed yet"
    );
    let (status, v) = s.api.post(&approve, &sha, op1);
    assert_eq!(status, 409, "the proposer cannot approve: {v}");
    let (status, _) = s.api.post(&approve, &sha, Some((&node.0, &node.1)));
    assert_eq!(status, 403, "a node cannot approve");
    let (status, _) = s.api.post(&approve, &json!({ "input_sha256": "00" }), op2);
    assert_eq!(status, 409, "only what was reviewed is approved");
    assert_eq!(
        s.api.get("/api/v1/directory", op1).0,
        404,
        "still nothing signed"
    );
    let (status, d) = s.api.post(&approve, &sha, op2);
    assert_eq!(status, 200, "{d}");
    let (status, _) = s.api.post(&approve, &sha, op2);
    assert_eq!(status, 409, "approved once");
    // The node reads it with its current certificate (renewed in an earlier step).
    let (status, current) = s
        .api
        .get("/api/v1/directory", Some(("dinkes2.pem", "dinkes2.key")));
    assert_eq!((status, &current), (200, &d));
    std::fs::write(s.api.dir.join("directory.json"), current.to_string()).expect("directory");
    assert!(
        s.ca.ok(&["directory", "verify", "directory.json"])
            .contains("version 1")
    );
    assert!(log_has(&s.ca, "directory-approved") && log_has(&s.ca, "Operator Dua"));
}

fn bounded_and_openapi(s: &Scene) {
    let big = json!({ "token": "x".repeat(70 * 1024), "csr_pem": "" });
    let (status, v) = s.api.post("/api/v1/enrol/node", &big, None);
    assert_eq!(status, 413, "{v}");
    let (status, doc) = s.api.get("/api/v1/openapi.json", None);
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/api/v1/enrol/node",
        "/api/v1/officials/certificate",
        "/api/v1/directory/proposals/{id}/approve",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} not in the document");
    }
}
