//! The production path a persandian office follows, rehearsed with the real binaries and no
//! quickstart, no dev flag and no file copied by hand:
//!
//! 1. keymgr's root ceremony (custodians, witness, operators), the root keystore taken away;
//!    `keymgr serve` with its API, unsealed by two custodians over HTTPS.
//! 2. Two nodes made by `docsvc init` on PostgreSQL, each enrolled with the online CA by its
//!    one-time token; a directory listing both approved by two operators at the CA and fetched
//!    by the nodes themselves; each node served sealed and unsealed by its custodians
//!    (`docsvc unseal`).
//! 3. The first officials registered under the custodians' quorum, with their certificates and
//!    key bindings from the CA; everyone sets their own password and PIN through the API with
//!    a one-time code; an official registered by an administrator and approved by a second
//!    pengelola sandi gets certified by the CA on approval.
//! 4. An application registered through the admin API gets both its certificates from the CA
//!    and signs for an official (with that official's PIN) over mutual TLS; `openssl cms`
//!    verifies it.
//! 5. A RAHASIA letter sent from one node to the other and read there.
//!
//! The same rehearsal runs again with the nodes' signing keys on SoftHSM2 tokens. Then the
//! CA's CRLs, valid 40 seconds, are re-signed by the running CA with no custodian: after the
//! first CRL's nextUpdate has passed the nodes are still ready and a letter still goes through.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandi_e2e::ca::{Ca, age_identity};
use sandi_e2e::http::{Client, Response};
use sandi_e2e::node::{Killed, ok, require, wait_port};
use sandi_e2e::softhsm::Token;
use serde_json::json;

fn docsvc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_docsvc"))
}

fn keymgr_bin() -> PathBuf {
    sandi_e2e::ca::keymgr_beside(env!("CARGO_BIN_EXE_docsvc"))
}

const CRL_VALIDITY_SECS: u64 = 40;

/// A node made by `docsvc init`: its data directory, its custodians' files, its server.
struct Node {
    id: String,
    agency: String,
    data: PathBuf,
    port: u16,
    /// (share file, the custodian's age identity), in the custodians' order.
    custodians: Vec<(PathBuf, PathBuf)>,
    /// The environment of its processes (`SOFTHSM2_CONF` for a node with a token).
    env: Vec<(String, String)>,
    server: Option<Killed>,
}

impl Node {
    fn docsvc(&self) -> Command {
        let mut c = docsvc();
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    fn base(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    fn root(&self) -> PathBuf {
        self.data.join("ca/root.pem")
    }

    fn client(&self, name: &str) -> Client {
        Client::new(
            &self.base(),
            &self.root(),
            self.data.with_file_name(format!("{}-{name}.jar", self.id)),
        )
    }

    /// The custodians' `--share F --identity F` arguments.
    fn quorum(&self) -> Vec<String> {
        self.custodians
            .iter()
            .flat_map(|(s, i)| {
                [
                    "--share".into(),
                    s.display().to_string(),
                    "--identity".into(),
                    i.display().to_string(),
                ]
            })
            .collect()
    }

    /// What the directory lists for this node (the pin of its enrolled certificate's key).
    fn entry(&self) -> serde_json::Value {
        let chain = std::fs::read_to_string(self.data.join("tls/node-chain.pem")).expect("chain");
        let der = keymgr::ca::pem_to_der(&chain).expect("PEM");
        json!({ "id": self.id, "agencies": [self.agency], "base_url": self.base(),
            "spki_sha256": keymgr::directory::spki_sha256(&der).expect("SPKI"),
            "accreditation": "rahasia", "status": "active" })
    }
}

/// `docsvc init` on a fresh PostgreSQL database, enrolled at once with the CA by the token in
/// `DOCSVC_CA_TOKEN` (not a flag: it would stay in `ps`).
fn init(w: &Path, ca: &Ca, id: &str, agency: &str, database: &str, with: &Extra) -> Node {
    let data = w.join(id);
    let removable = w.join(format!("{id}-removable"));
    let port = sandi_e2e::free_port();
    let token = ca.invite(id, &[agency], "rahasia");
    let mut c = docsvc();
    c.arg("init")
        .arg("--data-dir")
        .arg(&data)
        .arg("--shares-out")
        .arg(&removable)
        .args([
            "--node-id",
            id,
            "--organisation",
            sandi_e2e::ca::ORGANISATION,
        ])
        .args(["--agencies", agency, "--administrator", "Rina Admin"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", database])
        .args(["--witness", "Wawan Saksi", "--threshold", "2"])
        .args([
            "--ca-url",
            &ca.api_url(),
            "--ca-root-sha256",
            &ca.root_sha256(),
        ])
        .args(["--ca-publication-url", &ca.publication_url()])
        .args(["--issuance-log-key", &ca.issuance_log_key()])
        .args(&with.args)
        .envs(with.env.iter().map(|(k, v)| (k, v)))
        .env("DOCSVC_CA_TOKEN", &token);
    let mut identities = Vec::new();
    for who in ["Ani", "Budi"] {
        let (file, r) = age_identity(w, &format!("{id}-{who}"));
        c.arg("--custodian").arg(format!("{who}={r}"));
        identities.push(file);
    }
    let said = ok(&c.output().expect("docsvc init"));
    assert!(said.contains("node certificate enrolled"), "{said}");
    assert!(!said.contains(&token), "the token is never printed");
    // No development file can exist in a node made this way: no share, no dev custodian.
    for e in walk(&data) {
        let name = e.to_string_lossy();
        assert!(
            !name.ends_with(".age") && !name.contains("dev-"),
            "a development file in a production node: {name}"
        );
    }
    let mut shares: Vec<PathBuf> = std::fs::read_dir(&removable)
        .expect("removable")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "age"))
        .collect();
    shares.sort();
    assert_eq!(shares.len(), 2, "one share per custodian");
    // The CRLs are looked for every 2 s, so that the rehearsal sees the CA's 40 s CRLs renewed;
    // the nodes witness keymgr's issuance log (init wrote it to [witness]) every second.
    let path = data.join("node.toml");
    let config = std::fs::read_to_string(&path).expect("node.toml");
    let witness = "\n[witness]\nseconds = 300\n";
    assert!(
        config.contains(witness) && config.contains("issuance_log_key = \"sandi/keymgr/"),
        "init follows keymgr's issuance log: {config}"
    );
    let config = config.replacen(witness, "\n[witness]\nseconds = 1\n", 1);
    let config = if config.contains("\n[pki]\n") {
        config.replacen("\n[pki]\n", "\n[pki]\ncrl_refresh_secs = 2\n", 1)
    } else {
        format!("{config}\n[pki]\ncrl_refresh_secs = 2\n")
    };
    std::fs::write(&path, config).expect("node.toml");
    Node {
        id: id.into(),
        agency: agency.into(),
        data,
        port,
        custodians: shares.into_iter().zip(identities).collect(),
        env: with.env.clone(),
        server: None,
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// An official registered under the custodians' quorum (`docsvc official register`, the node
/// not serving): certified by the CA at once; their one-time enrolment code.
fn register_offline(node: &Node, nip: &str, name: &str, roles: &[&str]) -> String {
    let csr = node.data.with_file_name(format!("{nip}.csr"));
    let mut c = node.docsvc();
    c.args(["official", "register", "--data-dir"])
        .arg(&node.data)
        .args(node.quorum())
        .args(["--nip", nip, "--name", name, "--agency", &node.agency])
        .args(["--position", "Pejabat", "--clearance", "rahasia"])
        .arg("--csr-out")
        .arg(&csr);
    for r in roles {
        c.args(["--role", r]);
    }
    let said = ok(&c.output().expect("docsvc official register"));
    assert!(
        said.contains("from the online CA installed"),
        "certified by the CA at registration: {said}"
    );
    code_in(&said)
}

fn code_in(said: &str) -> String {
    said.lines()
        .find_map(|l| {
            l.split_once("shown once): ")
                .map(|(_, c)| c.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no enrolment code in:\n{said}"))
}

/// `docsvc serve`, sealed, then unsealed by the two custodians with `docsvc unseal`; returns
/// once `/readyz` says ready (unsealed, CRLs held, directory in force).
fn serve(node: &mut Node) {
    node.server = Some(Killed(
        node.docsvc()
            .args(["serve", "--data-dir"])
            .arg(&node.data)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(node.data.with_extension("log")).expect("log"))
            .spawn()
            .expect("docsvc serve"),
    ));
    wait_port(node.port, "docsvc serve");
    let anon = node.client("anon");
    assert_eq!(anon.get("/readyz").status, 503, "sealed: not ready");
    for (share, identity) in &node.custodians {
        ok(&docsvc()
            .args(["unseal", "--url", &node.base(), "--ca"])
            .arg(node.root())
            .arg("--share")
            .arg(share)
            .arg("--identity")
            .arg(identity)
            .output()
            .expect("docsvc unseal"));
    }
    wait_ready(node);
}

fn wait_ready(node: &Node) {
    let anon = node.client("anon");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = anon.get("/readyz");
        if r.status == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} not ready: {}",
            node.id,
            r.text()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The official sets their own password and PIN with their one-time code (204); the code a
/// second time is refused.
fn enrol(node: &Node, nip: &str, code: &str, password: &str, pin: &str) {
    let body = json!({ "nip": nip, "code": code, "password": password, "pin": pin });
    let r = node.client("anon").post_json("/api/v1/enrol", &body);
    assert_eq!(r.status, 204, "enrol {nip}: {}", r.text());
    let again =
        json!({ "nip": nip, "code": code, "password": "lain sekali 2026", "pin": "918273" });
    let r = node.client("anon").post_json("/api/v1/enrol", &again);
    assert_eq!(r.status, 401, "the code a second time: {}", r.text());
}

/// Logs in with the official's own password and steps up with their own PIN.
fn login(node: &Node, nip: &str, password: &str, pin: &str) -> Client {
    let mut c = node.client(nip);
    let r = c.post_json(
        "/api/v1/session",
        &json!({ "nip": nip, "password": password }),
    );
    assert_eq!(r.status, 200, "login {nip}: {}", r.text());
    c.csrf = r.json()["csrf"].as_str().map(str::to_owned);
    let r = c.post_json("/api/v1/session/step-up", &json!({ "pin": pin }));
    assert_eq!(r.status, 200, "step-up {nip}: {}", r.text());
    c
}

fn letter(c: &Client, to: &str, body: &Path) -> Response {
    let meta = json!({
        "kode": "005",
        "perihal": "Koordinasi penanganan wabah",
        "classification": "rahasia",
        "urgency": "segera",
        "recipients": [to],
    });
    c.post_letter(&meta, body)
}

/// A RAHASIA letter from `from` (on `a`) to `to` (on `b`): delivered, and read there whole.
fn sent_and_read(
    sender: &Node,
    from: &Client,
    reader: &Node,
    to: &Client,
    to_nip: &str,
    work: &Path,
) {
    let body = work.join(format!("surat-{}.pdf", sender.id));
    std::fs::write(&body, b"%PDF-1.7\nrahasia: koordinasi penanganan wabah\n").expect("body");
    // The reader's key binding is taken with keymgr's proof against a cosigned checkpoint:
    // 503 while the peers have not cosigned one holding it yet.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut r = letter(from, &format!("{to_nip}@{}", reader.id), &body);
    while r.status == 503 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
        r = letter(from, &format!("{to_nip}@{}", reader.id), &body);
    }
    assert_eq!(r.status, 201, "{}", r.text());
    // Numbered from the sender's agency register: 005/<urut>/<UNIT>/<year>.
    let nomor = r.json()["nomor"].as_str().expect("nomor").to_owned();
    let parts: Vec<&str> = nomor.split('/').collect();
    assert!(
        parts.len() == 4 && parts[0] == "005" && parts[1].parse::<u32>().is_ok_and(|n| n >= 1),
        "{nomor}"
    );
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let d = from
            .get(&format!("/api/v1/documents/{id}/deliveries"))
            .json();
        if d[0]["state"] == "delivered" {
            break;
        }
        assert!(Instant::now() < deadline, "not delivered: {d}");
        std::thread::sleep(Duration::from_millis(250));
    }
    let inbox = to.get("/api/v1/documents?box=inbox").text();
    assert!(inbox.contains(&id), "{inbox}");
    let out = work.join(format!("dibaca-{id}.pdf"));
    let r = to.download(&format!("/api/v1/documents/{id}/content"), &out);
    assert_eq!(r.status, 200, "{}", r.headers);
    assert_eq!(
        std::fs::read(&out).expect("read"),
        std::fs::read(&body).expect("body")
    );
}

/// An application registered by the administrator through the API: the online CA issues both
/// its certificates at once; it signs for `nip` with that official's PIN over mutual TLS, and
/// `openssl cms` verifies the signature against the root alone; without the PIN, refused.
fn application_signs(node: &Node, admin: &Client, nip: &str, pin: &str, w: &Path) {
    let app = format!("surat-{}", node.id);
    let key = w.join(format!("{app}.key"));
    let csr = w.join(format!("{app}.csr"));
    ok(&Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .arg("-nodes")
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .args(["-subj", &format!("/CN={app}")])
        .output()
        .expect("openssl req"));
    let r = admin.post_json(
        "/api/v1/admin/applications",
        &json!({ "id": app, "name": "Aplikasi Persuratan", "agency": node.agency,
            "clearance": "rahasia", "csr_pem": std::fs::read_to_string(&csr).expect("csr"),
            "may_sign_for": [nip] }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert_eq!(v["application"]["status"], "active", "{v}");
    let cert = w.join(format!("{app}.pem"));
    std::fs::write(
        &cert,
        v["client_certificate_pem"]
            .as_str()
            .expect("client certificate"),
    )
    .expect("cert");
    let content = b"nota dinas dari aplikasi";
    let sign = |pin: Option<&str>| {
        use base64::Engine as _;
        let mut body = json!({ "content": base64::engine::general_purpose::STANDARD.encode(content),
            "as_official": nip, "classification": "terbatas" });
        if let Some(p) = pin {
            body["pin"] = json!(p);
        }
        node.client("app")
            .post_json_as(&cert, &key, "/api/v1/sign", &body)
    };
    // The application's certificate was logged after the checkpoint the peers cosigned last:
    // 503 until they cosign a newer one (a round or two).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut r = sign(None);
    while r.status == 503 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
        r = sign(None);
    }
    assert!(
        r.status == 403 || r.status == 401,
        "no consent: {}",
        r.text()
    );
    let r = sign(Some(pin));
    assert_eq!(r.status, 200, "{}", r.text());
    // Verified back by the node: the signer's certificate is in keymgr's issuance log.
    let checked = {
        use base64::Engine as _;
        let body = json!({ "content": base64::engine::general_purpose::STANDARD.encode(content),
            "signature": r.json()["signature"] });
        node.client("app")
            .post_json_as(&cert, &key, "/api/v1/verify", &body)
    };
    assert_eq!(checked.status, 200, "{}", checked.text());
    assert_eq!(checked.json()["valid"], true, "{}", checked.text());
    let cms = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(r.json()["signature"].as_str().expect("signature"))
            .expect("base64")
    };
    let (p7s, data) = (w.join(format!("{app}.p7s")), w.join(format!("{app}.txt")));
    std::fs::write(&p7s, cms).expect("p7s");
    std::fs::write(&data, content).expect("content");
    ok(&Command::new("openssl")
        .args([
            "cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any", "-in",
        ])
        .arg(&p7s)
        .arg("-content")
        .arg(&data)
        .arg("-CAfile")
        .arg(node.root())
        .args(["-out", "/dev/null"])
        .output()
        .expect("openssl cms"));
}

const RINA: &str = "198001012005012001"; // admin and pengelola sandi, node a
const JOKO: &str = "196812082000031008"; // the second pengelola sandi, node a
const BUDI: &str = "197501012000031001"; // registered through the API, node a
const DEWI: &str = "197704042002122004"; // node b

/// `nip` with its last digit (the sequence number) set to `n`.
fn nip(nip: &str, n: u64) -> String {
    format!("{}{}", &nip[..17], n % 10)
}

/// What a rehearsal adds to both nodes' `docsvc init` and processes.
#[derive(Default)]
struct Extra {
    args: Vec<String>,
    env: Vec<(String, String)>,
}

/// One rehearsal of the production path for two new nodes. Returns the nodes, served.
async fn rehearse(
    ca: &Ca,
    work: &Path,
    pair: [(&str, &str); 2],
    version: u64,
    extra: [&Extra; 2],
    databases: &mut Vec<String>,
) -> Option<(Node, Node)> {
    let (url_a, name) = sandi_e2e::pg::postgres().await?;
    databases.push(name);
    let (url_b, name) = sandi_e2e::pg::postgres().await?;
    databases.push(name);
    let (id_a, agency_a) = pair[0];
    let (id_b, agency_b) = pair[1];
    let mut node_a = init(work, ca, id_a, agency_a, &url_a, extra[0]);
    let mut node_b = init(work, ca, id_b, agency_b, &url_b, extra[1]);

    // The directory, approved by two operators at the CA; the nodes fetch it themselves.
    ca.approve_directory(&json!({ "version": version, "nodes": [node_a.entry(), node_b.entry()] }));

    // Each rehearsal its own officials: a NIP the CA certified for another agency is refused.
    let [rina_nip, joko_nip, budi_nip, dewi_nip] =
        [RINA, JOKO, BUDI, DEWI].map(|n| nip(n, version));
    // The first officials, under each node's custodians' quorum.
    let rina_code = register_offline(
        &node_a,
        &rina_nip,
        "Rina Kusuma",
        &["admin", "pengelola_sandi"],
    );
    let joko_code = register_offline(&node_a, &joko_nip, "Joko Prasetyo", &["pengelola_sandi"]);
    let dewi_code = register_offline(&node_b, &dewi_nip, "Dewi Lestari", &["pejabat"]);
    serve(&mut node_a);
    serve(&mut node_b);

    enrol(
        &node_a,
        &rina_nip,
        &rina_code,
        "rina punya sandi 2026",
        "482916",
    );
    enrol(
        &node_a,
        &joko_nip,
        &joko_code,
        "joko punya sandi 2026",
        "731904",
    );
    enrol(
        &node_b,
        &dewi_nip,
        &dewi_code,
        "dewi punya sandi 2026",
        "650218",
    );
    let rina = login(&node_a, &rina_nip, "rina punya sandi 2026", "482916");
    let joko = login(&node_a, &joko_nip, "joko punya sandi 2026", "731904");

    // Budi through the admin API, approved by the second pengelola sandi: the node asks the
    // CA for his certificate and key binding on approval.
    let r = rina.post_json(
        "/api/v1/admin/officials",
        &json!({ "nip": budi_nip, "name": "Budi Santoso", "agency": node_a.agency,
            "position": "Kepala Dinas", "clearance": "rahasia", "roles": ["pejabat"] }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert!(v.get("password").is_none() && v.get("pin").is_none(), "{v}");
    let budi_code = v["enrolment_code"].as_str().expect("code").to_owned();
    let change = v["change"]["id"].as_str().expect("change").to_owned();
    let r = joko.post_json(
        &format!("/api/v1/admin/changes/{change}/approve"),
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    enrol(
        &node_a,
        &budi_nip,
        &budi_code,
        "budi punya sandi 2026",
        "205873",
    );
    let budi = login(&node_a, &budi_nip, "budi punya sandi 2026", "205873");
    let me = budi.get("/api/v1/me").json();
    assert_eq!(me["nip"], budi_nip.as_str(), "{me}");

    application_signs(&node_a, &rina, &budi_nip, "205873", work);
    let dewi = login(&node_b, &dewi_nip, "dewi punya sandi 2026", "650218");
    sent_and_read(&node_a, &budi, &node_b, &dewi, &dewi_nip, work);
    Some((node_a, node_b))
}

/// The same rehearsal with each node's signing keys on its own SoftHSM2 token
/// (`docsvc init --pkcs11-config`): the officials' keys that signed the letter and the
/// application's signature are on the tokens, sensitive and never extractable.
async fn on_tokens(ca: &Ca, w: &Path, databases: &mut Vec<String>) {
    let (Some(token_c), Some(token_d)) = (Token::new(), Token::new()) else {
        return;
    };
    let with = |t: &Token| Extra {
        args: vec!["--pkcs11-config".into(), t.config().display().to_string()],
        env: vec![("SOFTHSM2_CONF".into(), t.conf().display().to_string())],
    };
    let (c, d) = (with(&token_c), with(&token_d));
    let pair = [("kota-c", "dishub"), ("kota-d", "disdik")];
    let Some(nodes) = rehearse(ca, w, pair, 2, [&c, &d], databases).await else {
        return;
    };
    for (token, nip) in [(&token_c, nip(BUDI, 2)), (&token_d, nip(DEWI, 2))] {
        let key = token.private_key(&format!("official-{nip}-sign"));
        assert!(
            key.contains("never extractable") && key.contains("sensitive"),
            "{key}"
        );
        assert!(
            !token
                .objects("privkey")
                .contains(&format!("official-{nip}-enc")),
            "X25519 stays in the software keystore"
        );
    }
    drop(nodes);
}

/// The CA's current CRL of the Network CA over its publication URL: checked by `openssl crl`
/// against the CA certificates; its number and nextUpdate (seconds since the epoch).
fn network_crl(ca: &Ca, w: &Path) -> (u64, i64) {
    let file = w.join("network-ca.crl");
    ok(&Command::new("curl")
        .args(["-sSf", "-o"])
        .arg(&file)
        .arg(format!("{}/crl/network-ca.crl", ca.publication_url()))
        .output()
        .expect("curl"));
    let cas = w.join("cas.pem");
    let root = std::fs::read_to_string(ca.root_pem()).expect("root");
    let network =
        std::fs::read_to_string(ca.dir.path().join("home/ca/network-ca.pem")).expect("network CA");
    std::fs::write(&cas, format!("{root}{network}")).expect("cas");
    let out = ok(&Command::new("openssl")
        .args([
            "crl",
            "-inform",
            "DER",
            "-noout",
            "-crlnumber",
            "-nextupdate",
            "-in",
        ])
        .arg(&file)
        .arg("-CAfile")
        .arg(&cas)
        .output()
        .expect("openssl crl"));
    assert!(out.contains("verify OK"), "{out}");
    let number = out
        .lines()
        .find_map(|l| l.strip_prefix("crlNumber="))
        .map_or_else(
            || panic!("no crlNumber in {out}"),
            |n| u64::from_str_radix(n.trim().trim_start_matches("0x"), 16).expect("hex"),
        );
    let next = out
        .lines()
        .find_map(|l| l.strip_prefix("nextUpdate="))
        .unwrap_or_else(|| panic!("no nextUpdate in {out}"));
    let secs = ok(&Command::new("date")
        .args(["-u", "-d", next, "+%s"])
        .output()
        .expect("date"));
    (number, secs.trim().parse().expect("seconds"))
}

fn now_secs() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs(),
    )
    .expect("seconds")
}

#[tokio::test(flavor = "multi_thread")]
async fn from_a_key_ceremony_to_letters_between_nodes_without_quickstart() {
    for tool in ["age-keygen", "openssl", "curl", "date"] {
        require(tool);
    }
    let ca = Ca::ceremony(&keymgr_bin(), &[]);
    let _running = ca.serve(&["--crl-validity", &format!("{CRL_VALIDITY_SECS}s")]);
    let work = tempfile::tempdir().expect("tmp");
    let w = work.path();
    let (first_number, first_next) = network_crl(&ca, w);

    let pair = [("kota-a", "dinkes"), ("kota-b", "bappeda")];
    let mut databases = Vec::new();
    let none = Extra::default();
    let Some((a, b)) = rehearse(&ca, w, pair, 1, [&none, &none], &mut databases).await else {
        return;
    };
    on_tokens(&ca, w, &mut databases).await;

    // The CRLs in force were signed by the running CA: once the first one's nextUpdate has
    // passed, a newer one is served and the nodes, which need a fresh CRL to be ready, are.
    let wait = first_next + 2 - now_secs();
    if wait > 0 {
        std::thread::sleep(Duration::from_secs(u64::try_from(wait).expect("wait")));
    }
    let (number, next) = network_crl(&ca, w);
    assert!(number > first_number, "CRL {number} after {first_number}");
    assert!(next > now_secs(), "the served CRL is in force");
    wait_ready(&a);
    wait_ready(&b);
    let (budi_nip, dewi_nip) = (nip(BUDI, 1), nip(DEWI, 1));
    let budi = login(&a, &budi_nip, "budi punya sandi 2026", "205873");
    let dewi = login(&b, &dewi_nip, "dewi punya sandi 2026", "650218");
    sent_and_read(&a, &budi, &b, &dewi, &dewi_nip, w);
    drop((a, b));
    for name in databases {
        sandi_e2e::pg::drop_postgres(&name).await;
    }
}
