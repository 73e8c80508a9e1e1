//! Officials own their secrets, and applications are registered without quickstart: the real
//! binary served over TLS, driven with `curl`, on SQLite and on PostgreSQL. An administrator
//! creates an official without secrets and gets a one-time code; the official enrols with it,
//! logs in with their own password and steps up with their own PIN; used, expired, wrong and
//! planted codes are refused; a reset ends the old secrets; officials change their own; the
//! admin API never takes a password or PIN. Applications are registered with their own CSR
//! through the API and the CLI, certified by keymgr, installed, and sign over mutual TLS.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sandi_e2e::http::{Client, Response};
use sandi_e2e::node::{DevNode, Killed, ok, wait_port};
use serde_json::json;

mod common;

const MAYA: &str = "198806062012122006"; // pengelola_sandi, admin, rahasia
const BAYU: &str = "199109092016031009"; // second pengelola_sandi
const SITI: &str = "198002022005012002"; // an ordinary official
const AGUS: &str = "198503032010013003"; // the database writer's target
const BUDI: &str = "197501012000031001";
const RINA: &str = "199101012020121009";
const LOCKED: &str = "199101012020121010";
const LATE: &str = "199101012020121011";
const WEB: &str = "199101012020121012";
const FIRST: &str = "199101012020121013";

fn docsvc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_docsvc"))
}

fn jar(node: &DevNode, name: &str) -> PathBuf {
    node.data
        .join(format!("{name}-{}.jar", uuid::Uuid::new_v4().simple()))
}

fn login(node: &DevNode, nip: &str) -> Client {
    node.login(nip, true, jar(node, nip))
}

fn anon(node: &DevNode) -> Client {
    Client::new(&node.base(), &node.root_ca(), jar(node, "anon"))
}

/// Logs in with a password; the client (with its CSRF token) and the answer.
fn log_in(node: &DevNode, nip: &str, password: &str) -> (Client, Response) {
    let mut c = anon(node);
    let r = c.post_json(
        "/api/v1/session",
        &json!({ "nip": nip, "password": password }),
    );
    c.csrf = r
        .json()
        .get("csrf")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    (c, r)
}

fn put_json(c: &Client, path: &str, body: &serde_json::Value) -> Response {
    c.call(
        "PUT",
        path,
        &[
            "-H",
            "content-type: application/json",
            "--data-binary",
            &body.to_string(),
        ],
    )
}

fn registration(nip: &str) -> serde_json::Value {
    json!({
        "nip": nip, "name": "Rina Kusuma", "agency": "dinkes", "position": "Kepala Seksi",
        "clearance": "terbatas", "roles": ["pejabat"],
    })
}

/// Registers `nip` as Maya (approved by Bayu); the enrolment code.
fn register(node: &DevNode, maya: &Client, nip: &str) -> String {
    let r = maya.post_json("/api/v1/admin/officials", &registration(nip));
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert!(v.get("password").is_none() && v.get("pin").is_none(), "{v}");
    let change = v["change"]["id"].as_str().expect("change");
    let r = login(node, BAYU).post_json(
        &format!("/api/v1/admin/changes/{change}/approve"),
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    v["enrolment_code"].as_str().expect("code").to_owned()
}

fn enrol(node: &DevNode, nip: &str, code: &str, password: &str, pin: &str) -> Response {
    anon(node).post_json(
        "/api/v1/enrol",
        &json!({ "nip": nip, "code": code, "password": password, "pin": pin }),
    )
}

fn assert_refused(r: &Response) {
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/problem+json")
    );
    assert_eq!(
        r.json()["type"],
        "urn:sandi:problem:unauthenticated",
        "{}",
        r.text()
    );
}

/// The node's database, as anyone with its URL opens it.
async fn database(node: &DevNode) -> docsvc::store::Store {
    let layout = docsvc::node::Layout::new(&node.data);
    let config = docsvc::node::Config::load(&layout).expect("node.toml");
    docsvc::store::Store::open(&config.database_url(&layout))
        .await
        .expect("database")
}

/// What a database writer does: sets columns of a row.
async fn write_row(node: &DevNode, sql: &str, binds: &[&str]) {
    let store = database(node).await;
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(*b);
    }
    q.execute(store.pool()).await.expect("the writer's update");
}

async fn failed_logins(node: &DevNode, nip: &str) -> i64 {
    let store = database(node).await;
    sqlx::query_scalar("SELECT failed_logins FROM officials WHERE nip = $1")
        .bind(nip)
        .fetch_one(store.pool())
        .await
        .expect("count")
}

/// The admin API takes no password or PIN: a registration naming either is refused.
fn the_admin_api_takes_no_secrets(maya: &Client) {
    for extra in [
        json!({ "password": "kata sandi admin 2026" }),
        json!({ "pin": "135790" }),
    ] {
        let mut body = registration(RINA);
        body.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        let r = maya.post_json("/api/v1/admin/officials", &body);
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(r.text().contains("unknown field"), "{}", r.text());
    }
}

/// An official's whole life: created without secrets, enrolled, logged in, stepped up,
/// changing their own secrets, reset by an administrator.
async fn an_official_sets_their_own_secrets(node: &DevNode) {
    let maya = login(node, MAYA);
    the_admin_api_takes_no_secrets(&maya);
    let code = register(node, &maya, RINA);
    assert_eq!(code.len(), 39, "{code}");
    // Not enrolled: no password works yet.
    assert_refused(&log_in(node, RINA, "kata sandi admin 2026").1);
    // Rules: the PIN is not the password; checked before the code is used.
    let r = enrol(node, RINA, &code, "1234567890", "1234567890");
    assert_eq!(r.status, 400, "{}", r.text());
    let r = enrol(node, RINA, &code, "pendek", "482916");
    assert_eq!(r.status, 400, "{}", r.text());
    // A wrong code, then the right one (as typed, in capitals).
    assert_refused(&enrol(
        node,
        RINA,
        "0000-0000",
        "rina punya sandi 2026",
        "482916",
    ));
    let r = enrol(
        node,
        RINA,
        &code.to_uppercase(),
        "rina punya sandi 2026",
        "482916",
    );
    assert_eq!(r.status, 204, "{}", r.text());
    // Used twice: refused, and counted like a failed login.
    assert_refused(&enrol(node, RINA, &code, "sandi orang lain 2026", "111111"));
    assert_eq!(failed_logins(node, RINA).await, 1);

    // Their own password and PIN work.
    let (rina, r) = log_in(node, RINA, "rina punya sandi 2026");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        failed_logins(node, RINA).await,
        0,
        "a good login clears the count"
    );
    let r = rina.post_json("/api/v1/session/step-up", &json!({ "pin": "482916" }));
    assert_eq!(r.status, 200, "{}", r.text());

    // Changing them needs the current one; a wrong one is refused and counted.
    let r = put_json(
        &rina,
        "/api/v1/me/password",
        &json!({ "current": "bukan sandi saya", "new": "sandi baru rina 2027" }),
    );
    assert_refused(&r);
    assert_eq!(failed_logins(node, RINA).await, 1);
    let r = put_json(
        &rina,
        "/api/v1/me/password",
        &json!({ "current": "rina punya sandi 2026", "new": "sandi baru rina 2027" }),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_refused(&log_in(node, RINA, "rina punya sandi 2026").1);
    let r = put_json(
        &rina,
        "/api/v1/me/pin",
        &json!({ "current": "000000", "new": "975310" }),
    );
    assert_refused(&r);
    let r = put_json(
        &rina,
        "/api/v1/me/pin",
        &json!({ "current": "482916", "new": "975310" }),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let (rina, r) = log_in(node, RINA, "sandi baru rina 2027");
    assert_eq!(r.status, 200, "{}", r.text());
    let r = rina.post_json("/api/v1/session/step-up", &json!({ "pin": "482916" }));
    assert_eq!(r.status, 401, "the old PIN: {}", r.text());
    let r = rina.post_json("/api/v1/session/step-up", &json!({ "pin": "975310" }));
    assert_eq!(r.status, 200, "{}", r.text());
    // A new password that is the PIN is refused (a ten-digit PIN, to be a possible password).
    let r = put_json(
        &rina,
        "/api/v1/me/pin",
        &json!({ "current": "975310", "new": "1357924680" }),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let r = put_json(
        &rina,
        "/api/v1/me/password",
        &json!({ "current": "sandi baru rina 2027", "new": "1357924680" }),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("must differ"), "{}", r.text());

    // A reset: never by an ordinary official; by the admin, the old secrets stop at once, the
    // session ends, and a new code works.
    let siti = login(node, SITI);
    let reset = format!("/api/v1/admin/officials/{RINA}/reset");
    assert_eq!(siti.post_json(&reset, &json!({})).status, 403);
    let r = maya.post_json(&reset, &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    let code2 = r.json()["enrolment_code"]
        .as_str()
        .expect("code")
        .to_owned();
    assert!(r.json()["enrolment_expires_at"].is_string());
    assert_eq!(rina.get("/api/v1/me").status, 401, "the session ended");
    assert_refused(&log_in(node, RINA, "sandi baru rina 2027").1);
    assert_refused(&enrol(node, RINA, &code, "rina punya sandi 2028", "864200"));
    let r = enrol(node, RINA, &code2, "rina punya sandi 2028", "864200");
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(log_in(node, RINA, "rina punya sandi 2028").1.status, 200);
}

/// Wrong codes count toward the lockout: after five, even the right code is refused.
fn wrong_codes_lock(node: &DevNode, maya: &Client) {
    let code3 = register(node, maya, LOCKED);
    for _ in 0..5 {
        assert_refused(&enrol(
            node,
            LOCKED,
            "1111-2222-3333",
            "kata sandi baru 2026",
            "246810",
        ));
    }
    assert_refused(&enrol(
        node,
        LOCKED,
        &code3,
        "kata sandi baru 2026",
        "246810",
    ));
}

/// A database writer plants a code hash (and empties the password) in an official's row: the
/// row's MAC no longer holds, so the planted code enrols no one.
async fn a_planted_code_is_refused(node: &DevNode) {
    let planted = "0123-4567-89ab-cdef-0123-4567-89ab-cdef";
    let hash = {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::encode_b64(b"planted-salt-16b").expect("salt");
        argon2::Argon2::default()
            .hash_password(planted.replace('-', "").as_bytes(), &salt)
            .expect("hash")
            .to_string()
    };
    write_row(
        node,
        "UPDATE officials SET enrolment_hash = $1, enrolment_expires_at = $2, password_hash = '' \
         WHERE nip = $3",
        &[&hash, "2099-01-01T00:00:00Z", AGUS],
    )
    .await;
    let r = enrol(node, AGUS, planted, "kata sandi penyusup 1", "192837");
    assert_ne!(r.status, 204, "{}", r.text());
    assert_eq!(
        r.json()["type"],
        "urn:sandi:problem:integrity",
        "{}",
        r.text()
    );
    assert_ne!(
        log_in(node, AGUS, "kata sandi penyusup 1").1.status,
        200,
        "the planted password never works"
    );
}

/// The first run of `width` characters of `text` that `fits`.
fn find(text: &str, width: usize, fits: impl Fn(&str) -> bool) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .windows(width)
        .map(|w| w.iter().collect::<String>())
        .find(|w| fits(w))
}

/// Maya registers an official with the admin page's form; the code shown once, approved by Bayu.
fn register_on_the_page(node: &DevNode, maya: &Client, nip: &str) -> String {
    let csrf = maya.csrf.clone().expect("csrf");
    let r = maya.call(
        "POST",
        "/ui/admin/officials",
        &[
            "--data-urlencode",
            &format!("csrf={csrf}"),
            "--data-urlencode",
            &format!("nip={nip}"),
            "--data-urlencode",
            "name=Wulan Sari",
            "--data-urlencode",
            "agency=dinkes",
            "--data-urlencode",
            "position=Staf",
            "--data-urlencode",
            "clearance=terbatas",
            "--data-urlencode",
            "roles=pejabat",
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let page = r.text();
    let code = find(&page, 39, |w| {
        w.split('-').count() == 8
            && w.split('-')
                .all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_hexdigit()))
    })
    .unwrap_or_else(|| panic!("the code on the page: {page}"));
    let change = find(&page, 36, |w| uuid::Uuid::parse_str(w).is_ok()).expect("the change id");
    let r = login(node, BAYU).post_json(
        &format!("/api/v1/admin/changes/{change}/approve"),
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    code
}

/// An official registered on the admin page enrols through the web page; a used code there
/// says so.
fn the_web_page_enrols(node: &DevNode, maya: &Client) {
    let code = register_on_the_page(node, maya, WEB);
    let form = |code: &str| {
        anon(node).call(
            "POST",
            "/ui/enrol",
            &[
                "--data-urlencode",
                &format!("nip={WEB}"),
                "--data-urlencode",
                &format!("code={code}"),
                "--data-urlencode",
                "password=kata sandi web 2026",
                "--data-urlencode",
                "password2=kata sandi web 2026",
                "--data-urlencode",
                "pin=556677",
                "--data-urlencode",
                "pin2=556677",
            ],
        )
    };
    let r = form(&code);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("Pendaftaran selesai"), "{}", r.text());
    let r = form(&code);
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.header("location").as_deref(), Some("/ui/enrol?failed=1"));
    assert_eq!(log_in(node, WEB, "kata sandi web 2026").1.status, 200);
    let page = anon(node).get("/ui/enrol?failed=1");
    assert!(
        page.text().contains("sudah dipakai atau kedaluwarsa"),
        "{}",
        page.text()
    );
}

/// An application's own key and certificate request (what the application makes itself).
fn application_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let csr = params
        .serialize_request(&key)
        .expect("csr")
        .pem()
        .expect("pem");
    let path = dir.join(format!("{name}.key"));
    std::fs::write(&path, key.serialize_pem()).expect("key file");
    (path, csr)
}

/// keymgr issues an application certificate from a request (the custodians' quorum).
async fn keymgr_issues(node: &DevNode, name: &str, csr_pem: &str) -> String {
    let (home, quorum) = common::dev_quorum(&node.data);
    let inv =
        keymgr::inventory::Inventory::open(&keymgr::inventory::Inventory::default_url(home.dir()))
            .await
            .expect("inventory");
    keymgr::issue::issue(
        &home,
        quorum.online().expect("online"),
        &inv,
        keymgr::issue::Request::Application(keymgr::ca::ApplicationRequest {
            name: name.into(),
            agency: "dinkes".into(),
            days: 365,
        }),
        keymgr::issue::KeySource::Csr(keymgr::ca::pem_to_der(csr_pem).expect("der")),
    )
    .await
    .expect("issue")
    .certificate_pem()
}

/// The application signs over mutual TLS with its own key and certificate (and the Network
/// CA's, the chain it presents).
fn app_signs(node: &DevNode, key: &Path, cert_pem: &str) -> Response {
    use base64::Engine as _;
    let cert = key.with_extension("pem");
    let network_ca = std::fs::read_to_string(node.data.join("ca/network-ca.pem")).expect("ca");
    std::fs::write(&cert, format!("{cert_pem}{network_ca}")).expect("cert file");
    let content = base64::engine::general_purpose::STANDARD.encode(b"surat dari aplikasi");
    anon(node).call(
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
            &json!({ "content": content }).to_string(),
        ],
    )
}

async fn an_application_is_registered_through_the_api(node: &DevNode, maya: &Client) {
    let (key, csr) = application_key(&node.data, "surat-api");
    let body = |csr: &str, sign_for: &[&str]| {
        json!({
            "id": "surat-api", "name": "Aplikasi Surat", "agency": "dinkes",
            "clearance": "terbatas", "csr_pem": csr, "may_sign_for": sign_for,
        })
    };
    let path = "/api/v1/admin/applications";
    assert_eq!(
        login(node, SITI).post_json(path, &body(&csr, &[])).status,
        403
    );
    // A request whose signature does not hold, and an unknown official: refused.
    let (_, other) = application_key(&node.data, "lain");
    let mut broken = keymgr::ca::pem_to_der(&csr).expect("der");
    let last = broken.len() - 3;
    broken[last] ^= 0x55;
    let broken = keymgr::ca::pem_encode("CERTIFICATE REQUEST", &broken);
    assert_eq!(maya.post_json(path, &body(&broken, &[])).status, 400);
    assert_eq!(
        maya.post_json(path, &body(&csr, &["199999999999999999"]))
            .status,
        400
    );
    // An id that names another application's signing certificate, or one too long for it.
    for id in ["surat-api-signing", &"a".repeat(57)] {
        let mut named = body(&csr, &[]);
        named["id"] = json!(id);
        assert_eq!(maya.post_json(path, &named).status, 400, "{id}");
    }
    let r = maya.post_json(path, &body(&csr, &[BUDI]));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["application"]["status"], "suspended");
    let signing_csr = r.json()["signing_csr_pem"]
        .as_str()
        .expect("csr")
        .to_owned();
    assert_eq!(maya.post_json(path, &body(&csr, &[])).status, 409);

    let client_pem = keymgr_issues(node, "surat-api", &csr).await;
    let signing_pem = keymgr_issues(node, "surat-api-signing", &signing_csr).await;
    let other_pem = keymgr_issues(node, "lain", &other).await;
    let install = |client: &str, signing: &str| {
        put_json(
            maya,
            "/api/v1/admin/applications/surat-api/certificates",
            &json!({ "client_certificate_pem": client, "signing_certificate_pem": signing }),
        )
    };
    // Not yet installed: the application cannot sign.
    let r = app_signs(node, &key, &client_pem);
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(
        install(&other_pem, &signing_pem).status,
        400,
        "another key's certificate"
    );
    assert_eq!(install(&signing_pem, &client_pem).status, 400, "swapped");
    let r = install(&client_pem, &signing_pem);
    assert_eq!(r.status, 204, "{}", r.text());
    let r = app_signs(node, &key, &client_pem);
    assert_eq!(r.status, 200, "{}", r.text());

    // A database writer widens whom it may sign for: the row's MAC no longer holds, and the
    // application is refused until an administrator looks.
    write_row(
        node,
        "UPDATE applications SET may_sign_for = $1 WHERE id = $2",
        &[&format!(r#"["{BUDI}","{SITI}"]"#), "surat-api"],
    )
    .await;
    // The node answers an application's row from memory for up to a second after reading it
    // (the forged row never takes effect meanwhile: the cached one is the MAC'd original).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let r = app_signs(node, &key, &client_pem);
    assert_eq!(
        r.json()["type"],
        "urn:sandi:problem:integrity",
        "{}",
        r.text()
    );
}

fn an_application_is_registered_through_the_cli(node: &DevNode, rt: &tokio::runtime::Handle) {
    let (key, csr) = application_key(&node.data, "surat-cli");
    let csr_file = node.data.join("surat-cli.csr");
    std::fs::write(&csr_file, &csr).expect("csr");
    let signing_out = node.data.join("surat-cli-signing.csr");
    let out = docsvc()
        .args(["application", "register", "--dev-unseal", "--data-dir"])
        .arg(&node.data)
        .args("--id surat-cli --name Aplikasi --agency dinkes --clearance terbatas".split(' '))
        .args(["--may-sign-for", BUDI, "--csr"])
        .arg(&csr_file)
        .arg("--signing-csr-out")
        .arg(&signing_out)
        .output()
        .expect("docsvc application register");
    ok(&out);
    let signing_csr = std::fs::read_to_string(&signing_out).expect("signing csr");
    let client_pem = rt.block_on(keymgr_issues(node, "surat-cli", &csr));
    let signing_pem = rt.block_on(keymgr_issues(node, "surat-cli-signing", &signing_csr));
    let (client_file, signing_file) = (
        node.data.join("surat-cli-client.pem"),
        node.data.join("surat-cli-signing.pem"),
    );
    std::fs::write(&client_file, &client_pem).expect("pem");
    std::fs::write(&signing_file, &signing_pem).expect("pem");
    let install = |client: &Path, signing: &Path| {
        docsvc()
            .args(["application", "install", "--dev-unseal", "--data-dir"])
            .arg(&node.data)
            .args(["--id", "surat-cli", "--client-cert"])
            .arg(client)
            .arg("--signing-cert")
            .arg(signing)
            .output()
            .expect("docsvc application install")
    };
    let swapped = install(&signing_file, &client_file);
    assert!(
        !swapped.status.success(),
        "swapped certificates are refused"
    );
    ok(&install(&client_file, &signing_file));
    let r = app_signs(node, &key, &client_pem);
    assert_eq!(r.status, 200, "{}", r.text());
}

/// The code a CLI command printed.
fn printed_code(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("enrolment code (give it to the official only; shown once): "))
        .unwrap_or_else(|| panic!("a code: {out}"))
        .trim()
        .to_owned()
}

/// An operator under the custodians' quorum registers a node's first administrator (active at
/// once) and resets them, from the command line; the official enrols with each code.
fn the_operator_registers_and_resets(node: &DevNode) {
    let csr = node.data.join("first.csr");
    let out = ok(&docsvc()
        .args(["official", "register", "--dev-unseal", "--data-dir"])
        .arg(&node.data)
        .args([
            "--nip",
            FIRST,
            "--name",
            "Admin Pertama",
            "--position",
            "Pengelola Sandi",
        ])
        .args(
            "--agency diskominfo --clearance rahasia --role pengelola_sandi --role admin"
                .split(' '),
        )
        .arg("--csr-out")
        .arg(&csr)
        .output()
        .expect("docsvc official register"));
    assert!(
        std::fs::read_to_string(&csr).is_ok_and(|c| c.contains("CERTIFICATE REQUEST")),
        "{out}"
    );
    let r = enrol(
        node,
        FIRST,
        &printed_code(&out),
        "admin pertama 2026",
        "101010",
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let (first, r) = log_in(node, FIRST, "admin pertama 2026");
    assert_eq!(r.status, 200, "active at once: {}", r.text());
    let out = ok(&docsvc()
        .args(["official", "reset", FIRST, "--dev-unseal", "--data-dir"])
        .arg(&node.data)
        .output()
        .expect("docsvc official reset"));
    assert_eq!(first.get("/api/v1/me").status, 401, "the session ended");
    assert_refused(&log_in(node, FIRST, "admin pertama 2026").1);
    let r = enrol(
        node,
        FIRST,
        &printed_code(&out),
        "admin pertama 2027",
        "202020",
    );
    assert_eq!(r.status, 204, "{}", r.text());
    // An unknown official is a clear refusal.
    let out = docsvc()
        .args([
            "official",
            "reset",
            "199999999999999999",
            "--dev-unseal",
            "--data-dir",
        ])
        .arg(&node.data)
        .output()
        .expect("docsvc official reset");
    assert!(!out.status.success());
}

/// Every step above is in the access log, as other administrative actions are.
fn everything_is_logged(node: &DevNode) {
    let out = ok(&docsvc()
        .args(["audit", "export", "--data-dir"])
        .arg(&node.data)
        .output()
        .expect("audit export"));
    let entries: Vec<serde_json::Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let maya = format!("official:{MAYA}");
    let rina = format!("official:{RINA}");
    let first = format!("official:{FIRST}");
    for (actor, action, decision) in [
        (maya.as_str(), "official_register", "allow"),
        (maya.as_str(), "official_reset", "allow"),
        (rina.as_str(), "enrol", "allow"),
        (rina.as_str(), "enrol", "deny"),
        (rina.as_str(), "password_change", "deny"),
        (rina.as_str(), "password_change", "allow"),
        (rina.as_str(), "pin_change", "deny"),
        (rina.as_str(), "pin_change", "allow"),
        (maya.as_str(), "application_register", "allow"),
        (maya.as_str(), "application_certificates", "allow"),
        ("operator:cli", "application_register", "allow"),
        ("operator:cli", "application_certificates", "allow"),
        ("operator:cli", "official_register", "allow"),
        ("operator:cli", "official_reset", "allow"),
        (first.as_str(), "enrol", "allow"),
    ] {
        assert!(
            entries
                .iter()
                .any(|e| e["actor"] == actor && e["action"] == action && e["decision"] == decision),
            "{actor} {action} {decision} is logged"
        );
    }
    // No code, password or PIN ever reaches the log.
    for secret in ["rina punya sandi 2026", "482916", "admin pertama 2026"] {
        assert!(!out.contains(secret), "{secret} in the log");
    }
}

/// Serves the node again after `change` to its node.toml.
fn restart(node: &mut DevNode, change: impl FnOnce(&str) -> String) {
    node.stop();
    let file = node.data.join("node.toml");
    let text = std::fs::read_to_string(&file).expect("node.toml");
    std::fs::write(&file, change(&text)).expect("node.toml");
    node.server = Some(Killed(
        docsvc()
            .args(["serve", "--dev-unseal", "--data-dir"])
            .arg(&node.data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docsvc serve"),
    ));
    let port = node
        .listen
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .expect("port");
    wait_port(port, "docsvc");
}

/// With codes that last two seconds, a code three seconds old is refused (and counted).
async fn an_expired_code_is_refused(node: &mut DevNode) {
    restart(node, |t| format!("enrolment_seconds = 2\n{t}"));
    let maya = login(node, MAYA);
    let code = register(node, &maya, LATE);
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_refused(&enrol(node, LATE, &code, "kata sandi terlambat", "314159"));
    assert_eq!(failed_logins(node, LATE).await, 1);
}

async fn scenario(database_url: Option<&str>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let extra: Vec<&str> = database_url
        .map(|u| vec!["--database-url", u])
        .unwrap_or_default();
    let mut node = DevNode::start(
        Path::new(env!("CARGO_BIN_EXE_docsvc")),
        &dir.path().join("node"),
        &extra,
    );
    an_official_sets_their_own_secrets(&node).await;
    let maya = login(&node, MAYA);
    wrong_codes_lock(&node, &maya);
    the_web_page_enrols(&node, &maya);
    a_planted_code_is_refused(&node).await;
    an_application_is_registered_through_the_api(&node, &maya).await;
    let rt = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| an_application_is_registered_through_the_cli(&node, &rt));
    the_operator_registers_and_resets(&node);
    everything_is_logged(&node);
    an_expired_code_is_refused(&mut node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn officials_enrol_and_applications_register_on_sqlite() {
    scenario(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn officials_enrol_and_applications_register_on_postgres() {
    let Some((url, name)) = sandi_e2e::pg::postgres().await else {
        return;
    };
    scenario(Some(&url)).await;
    sandi_e2e::pg::drop_postgres(&name).await;
}
