//! The handling table is the law for signatures (issue 17): two real nodes of one dev network,
//! the hub set up under an older decree (RAHASIA and up signed with ECDSA P-256, so its
//! officials hold P-256 keys) and bappeda under the shipped table (P-384). A P-256 RAHASIA
//! letter from the hub is refused by bappeda, which stores nothing and logs it; once the hub
//! takes the shipped table too, its officials' P-256 keys are refused on create, approve,
//! reclassify and through the signing API, each with the table's reason; bappeda's P-384
//! letter is taken by the hub and verifies with `openssl cms -verify`. Keys follow the table:
//! a registered official's key is of their clearance's algorithm and a raised clearance gets
//! a stronger one. On SQLite and on PostgreSQL (the hub's database).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keymgr::directory::{DirectoryInput, NodeEntry};
use sandi_e2e::http::{Client, Response};
use sandi_e2e::node::{DevNode, Killed, ok, require, wait_port};
use sandi_e2e::steps::Steps;
use serde_json::json;

mod common;

const BUDI: &str = "197501012000031001"; // dinkes, sangat_rahasia, on the hub
const SITI: &str = "198002022005012002"; // dinkes, rahasia, on the hub
const JOKO: &str = "196812082000031008"; // dinkes approver, sangat_rahasia, on the hub
const MAYA: &str = "198806062012122006"; // diskominfo, admin and pengelola_sandi, on the hub
const BAYU: &str = "199109092016031009"; // diskominfo, pengelola_sandi, on the hub
const DEWI: &str = "197704042002122004"; // bappeda, sangat_rahasia, on bappeda

/// The table's reason for a P-256 signature on a letter of `label`.
fn table_reason(label: &str) -> String {
    format!(
        "{label} letters need an ECDSA P-384 signature (handling.toml: signature_algorithm = \
         ecdsa_p384, min_key_bits = 384); this signature is ECDSA P-256"
    )
}

fn docsvc() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_docsvc"))
}

/// The shipped policy, with RAHASIA and SANGAT RAHASIA signed with ECDSA P-256: a decree from
/// before the city asked for P-384.
fn older_decree(dir: &Path) -> PathBuf {
    let out = dir.join("older-decree");
    std::fs::create_dir_all(&out).expect("mkdir");
    for f in ["sandi.cedarschema", "default.cedar", "handling.toml"] {
        std::fs::copy(policies::default_dir().join(f), out.join(f)).expect("copy");
    }
    let path = out.join("handling.toml");
    let text = std::fs::read_to_string(&path)
        .expect("read")
        .replace(
            "signature_algorithm = \"ecdsa_p384\"",
            "signature_algorithm = \"ecdsa_p256\"",
        )
        .replace("min_key_bits = 384", "min_key_bits = 256");
    std::fs::write(&path, text).expect("write");
    out
}

/// The directory's pin of a node: its key (the certificate's SubjectPublicKeyInfo).
fn spki_pin(dir: &Path) -> String {
    let pem = std::fs::read_to_string(dir.join("tls/node-chain.pem")).expect("chain");
    let der = keymgr::ca::pem_to_der(&pem).expect("der");
    keymgr::directory::spki_sha256(&der).expect("spki")
}

/// A network directory listing both nodes, signed with the hub's dev CA, installed on both.
fn publish(hub: &DevNode, bappeda: &DevNode) {
    let entry = |n: &DevNode, id: &str, agencies: &[&str]| NodeEntry {
        id: id.into(),
        agencies: agencies.iter().map(|a| (*a).to_owned()).collect(),
        base_url: n.base(),
        spki_sha256: spki_pin(&n.data),
        accreditation: "sangat_rahasia".into(),
        status: "active".into(),
    };
    let (home, quorum) = common::dev_quorum(&hub.data);
    let d = keymgr::directory::sign(
        &home,
        quorum.online().expect("online"),
        &DirectoryInput {
            version: 1,
            nodes: vec![
                entry(hub, "hub", &["dinkes", "diskominfo", "inspektorat"]),
                entry(bappeda, "bappeda", &["bappeda"]),
            ],
        },
    )
    .expect("sign the directory");
    let bytes = serde_json::to_vec_pretty(&d).expect("json");
    for n in [hub, bappeda] {
        let dir = n.data.join("network");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("directory.json"), &bytes).expect("install directory");
    }
}

fn login(node: &DevNode, nip: &str) -> Client {
    let jar = node
        .data
        .join(format!("{nip}-{}.jar", uuid::Uuid::new_v4()));
    node.login(nip, true, jar)
}

fn letter(c: &Client, level: &str, to: &str, body: &Path) -> Response {
    c.post_letter(
        &json!({
            "nomor": format!("005/{level}/XI/2026"),
            "perihal": "Tanda tangan menurut tabel penanganan",
            "classification": level,
            "urgency": "segera",
            "recipients": [to],
        }),
        body,
    )
}

fn id_of(r: &Response) -> String {
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_str().expect("id").to_owned()
}

/// A 403 problem naming the rule `handling-signature` whose detail carries `reason`.
fn refused_by_the_table(r: &Response, reason: &str) {
    assert_eq!(r.status, 403, "{}", r.text());
    let p = r.json();
    assert_eq!(p["type"], "urn:sandi:problem:policy-denied", "{p}");
    assert_eq!(p["policies"], json!(["handling-signature"]), "{p}");
    let detail = p["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(reason), "{detail}");
}

/// The delivery of `id` from `c`'s node once it is no longer on its way.
fn settled_delivery(c: &Client, id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let d = c.get(&format!("/api/v1/documents/{id}/deliveries")).json();
        if ["delivered", "dead"].contains(&d[0]["state"].as_str().unwrap_or_default()) {
            return d[0].clone();
        }
        assert!(Instant::now() < deadline, "not settled: {d}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn audit_entries(node: &DevNode) -> Vec<serde_json::Value> {
    let out = Command::new(docsvc())
        .args(["audit", "export", "--data-dir"])
        .arg(&node.data)
        .output()
        .expect("audit export");
    ok(&out)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Whether `actor` has an entry of `action` with `decision` whose reason carries `reason`.
fn logged(node: &DevNode, actor: &str, action: &str, decision: &str, reason: &str) -> bool {
    audit_entries(node).iter().any(|e| {
        e["actor"] == actor
            && e["action"] == action
            && e["decision"] == decision
            && e["reason"].as_str().is_some_and(|r| r.contains(reason))
    })
}

/// Serves the hub again (after its policy changed).
fn restart(node: &mut DevNode) {
    node.stop();
    let child = Command::new(docsvc())
        .args(["serve", "--dev-unseal", "--data-dir"])
        .arg(&node.data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docsvc serve");
    node.server = Some(Killed(child));
    let port = node
        .listen
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .expect("port");
    wait_port(port, "docsvc");
}

/// The e-office application calls the signing API with its client certificate.
fn app_sign(hub: &DevNode, body: &serde_json::Value) -> Response {
    let app = hub.data.join("apps/e-office");
    let (cert, key) = (app.join("client.pem"), app.join("client.key"));
    Client::new(&hub.base(), &hub.root_ca(), hub.data.join("app.jar")).call(
        "POST",
        "/api/v1/sign",
        &[
            "--cert",
            cert.to_str().expect("path"),
            "--key",
            key.to_str().expect("path"),
            "-H",
            "content-type: application/json",
            "--data-binary",
            &body.to_string(),
        ],
    )
}

/// The curve of a certificate or request (PEM) as openssl names it.
fn curve_of(what: &str, pem_file: &Path) -> String {
    let out = Command::new("openssl")
        .args([what, "-noout", "-text", "-in"])
        .arg(pem_file)
        .output()
        .expect("openssl");
    let text = ok(&out);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("ASN1 OID: "))
        .unwrap_or_default()
        .to_owned()
}

fn scenario(database_url: Option<&str>) {
    require("openssl");
    require("curl");
    let root = tempfile::tempdir().expect("tempdir");
    let body = root.path().join("surat.pdf");
    std::fs::write(&body, b"%PDF-1.7\nrencana pengamanan\n").expect("write");
    let older = older_decree(root.path());
    let (hub_dir, bappeda_dir) = (root.path().join("hub"), root.path().join("bappeda"));
    let mut hub_extra = vec![
        "--agencies",
        "dinkes,diskominfo,inspektorat",
        "--policy",
        older.to_str().expect("path"),
    ];
    if let Some(url) = database_url {
        hub_extra.extend(["--database-url", url]);
    }
    let mut hub = DevNode::start(&docsvc(), &hub_dir, &hub_extra);
    let bappeda = DevNode::start(
        &docsvc(),
        &bappeda_dir,
        &[
            "--join",
            hub_dir.to_str().expect("path"),
            "--node-id",
            "bappeda",
            "--agencies",
            "bappeda",
        ],
    );
    publish(&hub, &bappeda);

    // Under the older decree the hub signs RAHASIA with P-256, and holds a SANGAT RAHASIA
    // letter for its second approval.
    let budi = login(&hub, BUDI);
    let weak = id_of(&letter(&budi, "rahasia", &format!("{DEWI}@bappeda"), &body));
    let held = id_of(&letter(&budi, "sangat_rahasia", JOKO, &body));
    let terbatas = id_of(&letter(&budi, "terbatas", SITI, &body));

    let mut steps = Steps::new();
    steps.run("a_p256_rahasia_letter_is_refused_on_receive", || {
        a_p256_rahasia_letter_is_refused_on_receive(&budi, &bappeda, &weak);
    });

    // The city's decree reaches the hub: the shipped table, P-384 for RAHASIA and up.
    std::fs::copy(
        policies::default_dir().join("handling.toml"),
        hub_dir.join("policy/handling.toml"),
    )
    .expect("the shipped table");
    restart(&mut hub);
    let budi = login(&hub, BUDI);

    steps.run("a_p256_rahasia_letter_is_refused_on_create", || {
        a_p256_rahasia_letter_is_refused_on_create(&hub, &budi, &body);
    });
    steps.run("an_approval_with_a_p256_key_is_refused", || {
        an_approval_with_a_p256_key_is_refused(&hub, &held);
    });
    steps.run("raising_to_rahasia_with_a_p256_key_is_refused", || {
        raising_to_rahasia_with_a_p256_key_is_refused(&budi, &terbatas);
    });
    steps.run("the_signing_api_refuses_a_p256_key_for_rahasia", || {
        the_signing_api_refuses_a_p256_key_for_rahasia(&hub);
    });
    steps.run(
        "a_p384_rahasia_letter_is_taken_and_verifies_with_openssl",
        || {
            a_p384_rahasia_letter_is_taken_and_verifies_with_openssl(
                &hub,
                &bappeda,
                &body,
                root.path(),
            );
        },
    );
    steps.run("keys_follow_the_clearance", || {
        keys_follow_the_clearance(&hub, root.path());
    });
    for n in [&hub, &bappeda] {
        let out = Command::new(docsvc())
            .args(["audit", "verify", "--data-dir"])
            .arg(&n.data)
            .output()
            .expect("audit verify");
        steps.run("the_logs_verify", || {
            ok(&out);
        });
    }
    steps.finish();
}

/// bappeda's table asks P-384 of RAHASIA: the hub's P-256 letter is refused there (reported
/// to the sender with the table's reason, logged as a refused delivery) and not stored.
fn a_p256_rahasia_letter_is_refused_on_receive(budi: &Client, bappeda: &DevNode, id: &str) {
    let d = settled_delivery(budi, id);
    assert_eq!(d["state"], "dead", "{d}");
    let why = d["last_error"].as_str().unwrap_or_default();
    assert!(
        why.contains("bappeda answered 403") && why.contains(&table_reason("RAHASIA")),
        "{why}"
    );
    assert!(
        logged(
            bappeda,
            "node:hub",
            "receive",
            "deny",
            &table_reason("RAHASIA")
        ),
        "bappeda logs the refusal"
    );
    let dewi = login(bappeda, DEWI);
    assert_eq!(
        dewi.get(&format!("/api/v1/documents/{id}")).status,
        404,
        "nothing stored"
    );
    let inbox = dewi.get("/api/v1/documents?box=inbox").text();
    assert!(!inbox.contains(id), "{inbox}");
}

/// Budi's P-256 key: RAHASIA refused before anything is stored, with the table's reason, and
/// logged; TERBATAS (P-256 is enough) still goes.
fn a_p256_rahasia_letter_is_refused_on_create(hub: &DevNode, budi: &Client, body: &Path) {
    let sent = || {
        budi.get("/api/v1/documents?box=outbox")
            .json()
            .as_array()
            .map_or(0, Vec::len)
    };
    let before = sent();
    let r = letter(budi, "rahasia", SITI, body);
    refused_by_the_table(&r, &table_reason("RAHASIA"));
    let detail = r.json()["detail"].as_str().unwrap_or_default().to_owned();
    assert!(
        detail.contains(BUDI) && detail.contains("needs a new ECDSA P-384 signing key"),
        "{detail}"
    );
    assert!(logged(
        hub,
        &format!("official:{BUDI}"),
        "sign",
        "deny",
        &table_reason("RAHASIA")
    ));
    assert_eq!(sent(), before, "nothing stored");
    id_of(&letter(budi, "terbatas", SITI, body));
    assert_eq!(sent(), before + 1);
}

/// Joko approves with a P-256 key: the SANGAT RAHASIA table refuses it; the letter still
/// waits.
fn an_approval_with_a_p256_key_is_refused(hub: &DevNode, held: &str) {
    let joko = login(hub, JOKO);
    let r = joko.call("POST", &format!("/api/v1/documents/{held}/approve"), &[]);
    refused_by_the_table(&r, &table_reason("SANGAT RAHASIA"));
    let waiting = joko.get("/api/v1/documents?box=approvals").text();
    assert!(waiting.contains(held), "still waiting: {waiting}");
    assert!(logged(
        hub,
        &format!("official:{JOKO}"),
        "approve",
        "deny",
        &table_reason("SANGAT RAHASIA")
    ));
}

/// Raising a TERBATAS letter to RAHASIA: the new version is signed under RAHASIA's table.
fn raising_to_rahasia_with_a_p256_key_is_refused(budi: &Client, terbatas: &str) {
    let r = budi.post_json(
        &format!("/api/v1/documents/{terbatas}/reclassify"),
        &json!({ "classification": "rahasia" }),
    );
    refused_by_the_table(&r, &table_reason("RAHASIA"));
    let r = budi.get(&format!("/api/v1/documents/{terbatas}"));
    assert_eq!(
        r.json()["manifest"]["classification"],
        "terbatas",
        "{}",
        r.text()
    );
}

/// The signing API signs for a `classification`: the application's own P-256 key and Budi's
/// are refused for RAHASIA, and still sign TERBATAS.
fn the_signing_api_refuses_a_p256_key_for_rahasia(hub: &DevNode) {
    let content = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        b"Kontrak pengadaan 2026",
    );
    let r = app_sign(
        hub,
        &json!({ "content": content, "classification": "rahasia" }),
    );
    refused_by_the_table(&r, &table_reason("RAHASIA"));
    let pin = hub.creds[BUDI].1.clone();
    let r = app_sign(
        hub,
        &json!({ "content": content, "classification": "rahasia", "as_official": BUDI, "pin": pin }),
    );
    refused_by_the_table(&r, &table_reason("RAHASIA"));
    let r = app_sign(
        hub,
        &json!({ "content": content, "classification": "terbatas" }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(logged(
        hub,
        "application:e-office",
        "sign",
        "deny",
        &table_reason("RAHASIA")
    ));
}

/// Dewi's key on bappeda is P-384: her RAHASIA letter is delivered to the hub (now under the
/// shipped table too), read there, and its signature verifies with openssl, a P-384 signer.
fn a_p384_rahasia_letter_is_taken_and_verifies_with_openssl(
    hub: &DevNode,
    bappeda: &DevNode,
    body: &Path,
    files: &Path,
) {
    let dewi = login(bappeda, DEWI);
    let id = id_of(&letter(&dewi, "rahasia", &format!("{BUDI}@hub"), body));
    let d = settled_delivery(&dewi, &id);
    assert_eq!(d["state"], "delivered", "{d}");
    let budi = login(hub, BUDI);
    let out = files.join("dibaca.pdf");
    let r = budi.download(&format!("/api/v1/documents/{id}/content"), &out);
    assert_eq!(r.status, 200, "{}", r.headers);
    assert_eq!(
        std::fs::read(&out).expect("read"),
        std::fs::read(body).expect("read")
    );
    let manifest = files.join("manifest.json");
    let signature = files.join("signature.der");
    let signer = files.join("signer.pem");
    std::fs::write(
        &manifest,
        budi.get(&format!("/api/v1/documents/{id}/manifest")).body,
    )
    .expect("manifest");
    std::fs::write(
        &signature,
        budi.get(&format!("/api/v1/documents/{id}/signature")).body,
    )
    .expect("signature");
    let out = Command::new("openssl")
        .args([
            "cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any",
        ])
        .args(["-out", "/dev/null", "-in"])
        .arg(&signature)
        .arg("-content")
        .arg(&manifest)
        .arg("-CAfile")
        .arg(hub.root_ca())
        .arg("-signer")
        .arg(&signer)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl cms -verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(curve_of("x509", &signer), "secp384r1");
}

/// A registered official's key is of their clearance's algorithm; a clearance raised to a
/// level asking for P-384 gives a P-256 holder a new P-384 key (their old certificate goes
/// until the custodians certify the new one).
fn keys_follow_the_clearance(hub: &DevNode, files: &Path) {
    let maya = login(hub, MAYA);
    let register = |nip: &str, clearance: &str| {
        let r = maya.post_json(
            "/api/v1/admin/officials",
            &json!({
                "nip": nip, "name": "Pegawai Baru", "agency": "diskominfo", "position": "Staf",
                "clearance": clearance, "roles": ["pejabat"],
            }),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()
    };
    let csr_curve = |nip: &str| {
        let r = maya.get(&format!("/api/v1/admin/officials/{nip}/csr"));
        assert_eq!(r.status, 200, "{}", r.text());
        let file = files.join(format!("{nip}.csr"));
        std::fs::write(&file, &r.body).expect("csr");
        curve_of("req", &file)
    };
    let rahasia = register("199201012020121001", "rahasia");
    let file = files.join("rahasia.csr");
    std::fs::write(&file, rahasia["csr_pem"].as_str().expect("csr")).expect("csr");
    assert_eq!(curve_of("req", &file), "secp384r1");

    let terbatas = "199201012020121002";
    let r = register(terbatas, "terbatas");
    assert_eq!(csr_curve(terbatas), "prime256v1");
    let bayu = login(hub, BAYU);
    let approve = |change: &str| {
        let r = bayu.post_json(
            &format!("/api/v1/admin/changes/{change}/approve"),
            &json!({}),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    };
    approve(r["change"]["id"].as_str().expect("change"));
    let r = maya.call(
        "PUT",
        &format!("/api/v1/admin/officials/{terbatas}/clearance"),
        &[
            "-H",
            "content-type: application/json",
            "--data-binary",
            r#"{"clearance":"rahasia"}"#,
        ],
    );
    assert_eq!(r.status, 202, "{}", r.text());
    approve(r.json()["id"].as_str().expect("change"));
    assert_eq!(csr_curve(terbatas), "secp384r1");
    assert!(logged(
        hub,
        &format!("official:{BAYU}"),
        "official_signing_key",
        "allow",
        "new ecdsa_p384 signing key"
    ));
}

#[test]
fn the_handling_table_decides_signatures_on_sqlite() {
    scenario(None);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_handling_table_decides_signatures_on_postgres() {
    let Some((url, name)) = sandi_e2e::pg::postgres().await else {
        return;
    };
    scenario(Some(&url));
    sandi_e2e::pg::drop_postgres(&name).await;
}
