//! The officials' web UI in a real browser: Debian's Chromium, headless, driven over WebDriver
//! (chromedriver) against a real docsvc node over its own TLS. Screenshots of the main pages
//! are saved to `target/ui-screenshots/` for a person to look at.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sandi_e2e::node::{Killed, credentials, require, wait_port};
use std::time::{Duration, Instant};

use base64::Engine as _;
use fantoccini::{Client, ClientBuilder, Locator};

mod browser;

const BUDI: &str = "197501012000031001"; // dinkes, sangat_rahasia, approver
const SITI: &str = "198002022005012002"; // dinkes, rahasia
const AGUS: &str = "198503032010013003"; // dinkes, terbatas
const JOKO: &str = "196812082000031008"; // dinkes, sangat_rahasia, approver
const MAYA: &str = "198806062012122006"; // diskominfo, pengelola_sandi, admin
const HENDRA: &str = "198207072008011007"; // inspektorat, auditor

/// The base64 SHA-256 of the node certificate's public key: Chromium trusts exactly this key
/// (`--ignore-certificate-errors-spki-list`), not every certificate.
fn node_spki_pin(data: &Path) -> String {
    let pem = std::fs::read_to_string(data.join("tls/node-chain.pem")).expect("node chain");
    let der = keymgr::ca::pem_to_der(&pem).expect("a certificate");
    let spki = keymgr::ca::spki_of_cert(&der).expect("spki");
    base64::engine::general_purpose::STANDARD
        .encode(ring::digest::digest(&ring::digest::SHA256, &spki))
}

fn screenshots() -> PathBuf {
    let dir = std::env::var_os("SANDI_SCREENSHOTS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ui-screenshots"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

struct Ui {
    c: Client,
    base: String,
    creds: std::collections::HashMap<String, (String, String)>,
    shots: PathBuf,
    /// axe-core's script, run on every page the test takes a picture of.
    axe: String,
}

impl Ui {
    async fn go(&self, path: &str) {
        self.c
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("navigate");
    }

    async fn source(&self) -> String {
        self.c.source().await.expect("page source")
    }

    async fn text(&self, css: &str) -> String {
        self.c
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .text()
            .await
            .expect("text")
    }

    async fn fill(&self, css: &str, value: &str) {
        let e = self.c.find(Locator::Css(css)).await.expect(css);
        e.clear().await.expect("clear");
        e.send_keys(value).await.expect("type");
    }

    async fn click(&self, css: &str) {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .expect("click");
    }

    /// Waits until the page is at `part`: a path (exactly), or a query fragment (`?…`).
    async fn wait_url(&self, part: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let url = self.c.current_url().await.expect("url");
            let at = if part.starts_with('/') {
                url.path() == part
            } else {
                url.as_str().contains(part)
            };
            if at {
                return url.to_string();
            }
            assert!(Instant::now() < deadline, "waiting for {part}, at {url}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `css` reads `text` (after a navigation the page started).
    async fn wait_text(&self, css: &str, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(e) = self.c.find(Locator::Css(css)).await {
                if e.text().await.is_ok_and(|t| t == text) {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "waiting for {css} to read {text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn shot(&self, name: &str) {
        let png = self.c.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(self.shots.join(name), png).expect("save screenshot");
        self.accessible(name).await;
    }

    async fn login(&self, nip: &str) {
        self.c.delete_all_cookies().await.expect("cookies");
        self.go("/ui/inbox").await;
        // Not logged in: the inbox sends to the login page.
        self.wait_url("/ui/login").await;
        let (password, _) = &self.creds[nip];
        self.fill("#nip", nip).await;
        self.fill("#password", password).await;
        self.click("main button[type=submit]").await;
        self.wait_url("/ui/inbox").await;
    }

    async fn logout(&self) {
        self.click("header form button").await;
        self.wait_url("/ui/login").await;
    }

    fn pin(&self, nip: &str) -> String {
        self.creds[nip].1.clone()
    }

    /// Composes, reviews and signs a letter; `wrong_pin` first tries a wrong PIN.
    async fn compose(
        &self,
        level: &str,
        perihal: &str,
        to: &str,
        body: Body<'_>,
        signer: &str,
        wrong_pin: bool,
    ) -> String {
        self.go("/ui/compose").await;
        self.fill("#kode", "005").await;
        // A letter written on the form takes its nomor from the agency's register; a file
        // keeps the number it was given.
        if matches!(body, Body::File(_)) {
            self.fill("#nomor", &format!("005/{level}/XI/2026")).await;
        }
        self.fill("#perihal", perihal).await;
        self.c
            .find(Locator::Css("#sifat"))
            .await
            .expect("sifat")
            .select_by_value(level)
            .await
            .expect("a level this official may write");
        self.c
            .find(Locator::Css("#derajat"))
            .await
            .expect("derajat")
            .select_by_value("segera")
            .await
            .expect("urgency");
        self.fill("#kepada", to).await;
        match body {
            Body::File(file) => self
                .c
                .find(Locator::Css("#body"))
                .await
                .expect("file input")
                .send_keys(&file.display().to_string())
                .await
                .expect("choose the file"),
            Body::Text(isi) => {
                self.fill("#isi", isi).await;
                self.fill("#tempat", "Bandung").await;
            }
        }
        if wrong_pin {
            self.shot("compose.png").await;
        }
        self.click("#review").await;
        let summary = self.text("#summary").await;
        assert!(
            summary.contains(perihal),
            "the review shows the letter: {summary}"
        );
        if wrong_pin {
            self.fill("#pin", "000000").await;
            self.click("#send").await;
            let err = self.text("#error").await;
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut err = err;
            while err.is_empty() {
                assert!(Instant::now() < deadline, "no message for a wrong PIN");
                tokio::time::sleep(Duration::from_millis(100)).await;
                err = self.text("#error").await;
            }
            assert!(err.contains("PIN salah"), "a clear message: {err}");
            self.shot("compose-wrong-pin.png").await;
        }
        self.fill("#pin", &self.pin(signer)).await;
        self.click("#send").await;
        let url = self.wait_url("?sent=1").await;
        let id = url
            .split("/ui/letters/")
            .nth(1)
            .and_then(|r| r.split('?').next())
            .expect("the letter's page")
            .to_owned();
        assert_eq!(id.len(), 36, "{url}");
        id
    }

    /// Opens a letter, giving the PIN if the page asks for it.
    async fn open(&self, id: &str, nip: &str) {
        self.go(&format!("/ui/letters/{id}")).await;
        if self.source().await.contains("name=\"pin\"")
            && self.source().await.contains("/ui/step-up")
        {
            self.fill("#pin", &self.pin(nip)).await;
            self.click("main button[type=submit]").await;
        }
        // The letter itself (the PIN page has no banner).
        self.c
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(".banner"))
            .await
            .expect("the letter opens");
    }
}

/// What a letter is written as: a file, or words the node renders as a signed PDF.
enum Body<'a> {
    File(&'a Path),
    Text(&'a str),
}

fn pdf(dir: &Path) -> PathBuf {
    let body = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>endobj\n4 0 obj<</Length 61>>stream\nBT /F1 18 Tf 72 760 Td (Undangan rapat koordinasi) Tj ET\nendstream endobj\n5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
    let path = dir.join("undangan.pdf");
    std::fs::write(&path, body).expect("pdf");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn officials_write_sign_send_and_read_in_the_browser() {
    require("chromium");
    require("chromedriver");
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("node");
    let port = sandi_e2e::free_port();
    let listen = format!("127.0.0.1:{port}");
    let out = Command::new(env!("CARGO_BIN_EXE_docsvc"))
        .args(["quickstart", "--no-serve", "--data-dir"])
        .arg(&data)
        .args(["--listen", &listen])
        .output()
        .expect("docsvc quickstart");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let creds = credentials(&String::from_utf8_lossy(&out.stdout));
    let _node = Killed(
        Command::new(env!("CARGO_BIN_EXE_docsvc"))
            .args(["serve", "--dev-unseal", "--data-dir"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docsvc serve"),
    );
    wait_port(port, "docsvc");
    // A login form posted from another site is refused (login CSRF).
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(data.join("ca/root.pem"))
        .args(["-H", "sec-fetch-site: cross-site", "-d", "nip=1&password=2"])
        .arg(format!("https://{listen}/ui/login"))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "403");
    let driver_port = sandi_e2e::free_port();
    let _driver = Killed(
        Command::new("chromedriver")
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver"),
    );
    wait_port(driver_port, "chromedriver");
    let profile = dir.path().join("chromium-profile");
    let args = serde_json::json!([
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--window-size=1280,800",
        format!("--user-data-dir={}", profile.display()),
        format!(
            "--ignore-certificate-errors-spki-list={}",
            node_spki_pin(&data)
        ),
    ]);
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "args": args, "binary": "/usr/bin/chromium" }),
    );
    let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("a Chromium session");
    let ui = Ui {
        c,
        base: format!("https://{listen}"),
        creds,
        shots: screenshots(),
        axe: browser::axe_script(),
    };
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).expect("files");

    a_rahasia_letter_from_budi_to_siti(&ui, &files).await;
    a_sangat_rahasia_letter_needs_joko(&ui, &files).await;
    a_letter_written_on_the_form_becomes_a_signed_pdf(&ui).await;
    browser::a_draft_initialled_and_signed(&ui).await;
    browser::chain::the_whole_chain(&ui).await;
    refusals_say_why_in_both_languages(&ui).await;
    browser::every_page_is_accessible(&ui).await;
    ui.c.clone().close().await.expect("close the browser");
}

async fn a_rahasia_letter_from_budi_to_siti(ui: &Ui, files: &Path) {
    let perihal = "Undangan rapat koordinasi kesehatan";
    ui.login(BUDI).await;
    let id = ui
        .compose(
            "rahasia",
            perihal,
            SITI,
            Body::File(&pdf(files)),
            BUDI,
            true,
        )
        .await;
    // Budi's own page: the banner at the top and the bottom.
    let banners =
        ui.c.find_all(Locator::Css(".banner"))
            .await
            .expect("banners");
    assert_eq!(banners.len(), 2, "a banner at the top and at the bottom");
    for b in &banners {
        // The stamp code of the handling table, then the label.
        assert_eq!(b.text().await.expect("banner"), "R — RAHASIA");
    }
    ui.logout().await;

    // Agus (terbatas) sees neither the letter nor its subject, not even by its address.
    ui.login(AGUS).await;
    assert!(!ui.source().await.contains(perihal));
    ui.go(&format!("/ui/inbox?q={}", "Undangan")).await;
    assert!(!ui.source().await.contains(perihal));
    ui.go(&format!("/ui/letters/{id}")).await;
    let page = ui.source().await;
    assert!(!page.contains(perihal), "the subject leaked to terbatas");
    assert!(
        page.contains("tidak ditujukan kepada Anda") || page.contains("Ditolak"),
        "{page}"
    );
    ui.go("/ui/compose").await;
    let options = ui.text("#sifat").await;
    assert!(
        !options.contains("RAHASIA"),
        "Agus may write only up to TERBATAS: {options}"
    );
    ui.logout().await;

    siti_reads_it(ui, &id, perihal).await;
    fits_a_phone(ui).await;
    ui.logout().await;
    browser::disposisi_in_the_browser(ui, &id).await;
}

/// Siti: unread in her inbox, then read with the banner and her watermark.
async fn siti_reads_it(ui: &Ui, id: &str, perihal: &str) {
    ui.login(SITI).await;
    let row = ui.text("tr.unread").await;
    assert!(
        row.contains(perihal) && row.contains("Budi Santoso") && row.contains("RAHASIA"),
        "{row}"
    );
    ui.shot("inbox.png").await;
    ui.click("tr.unread a").await;
    // RAHASIA needs the PIN to open (handling.toml): asked before anything of it is shown.
    ui.wait_text("h1", "PIN diperlukan").await;
    assert!(!ui.source().await.contains(perihal));
    ui.fill("#pin", "111111").await;
    ui.click("main button[type=submit]").await;
    assert!(ui.text(".alert").await.contains("PIN salah"));
    ui.open(id, SITI).await;
    assert_eq!(ui.text("h1").await, perihal);
    let banners =
        ui.c.find_all(Locator::Css(".banner"))
            .await
            .expect("banners");
    assert_eq!(banners.len(), 2);
    let mark = ui.text(".reader").await;
    assert!(
        mark.contains("Siti Rahmawati") && mark.contains(SITI),
        "{mark}"
    );
    let overlay =
        ui.c.find(Locator::Css(".watermark"))
            .await
            .expect("the watermark over the content")
            .html(false)
            .await
            .expect("html");
    assert!(
        overlay.contains("Siti Rahmawati") && overlay.contains(SITI),
        "{overlay}"
    );
    let sig = ui.text(".signature").await;
    assert!(sig.contains("Budi Santoso") && sig.contains("Sah"), "{sig}");
    let frame =
        ui.c.find(Locator::Css("figure.part iframe"))
            .await
            .expect("the PDF inline")
            .attr("src")
            .await
            .expect("src")
            .expect("a src");
    assert!(frame.contains(&format!("/api/v1/documents/{id}/content")));
    // RAHASIA: printing allowed, a plaintext download not (handling.toml).
    assert!(
        ui.c.find(Locator::Css("#print")).await.is_ok(),
        "print offered"
    );
    assert!(
        !ui.source().await.contains("download=true"),
        "no plaintext download for RAHASIA"
    );
    ui.shot("read.png").await;
    ui.c.execute(
        "document.querySelector('.content').scrollIntoView();",
        vec![],
    )
    .await
    .expect("scroll");
    ui.shot("read-content.png").await;
    // Read now: no longer bold in the inbox.
    ui.go("/ui/inbox").await;
    assert!(
        ui.c.find(Locator::Css("tr.unread")).await.is_err(),
        "still unread"
    );
    assert!(ui.source().await.contains(perihal));
}

/// A phone-width screen: one column, nothing wider than the screen.
async fn fits_a_phone(ui: &Ui) {
    ui.c.set_window_size(390, 844).await.expect("resize");
    ui.go("/ui/inbox").await;
    let fits =
        ui.c.execute(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(
        fits,
        serde_json::Value::Bool(true),
        "the inbox scrolls sideways on a phone"
    );
    ui.shot("inbox-phone.png").await;
    ui.c.set_window_size(1280, 800).await.expect("resize");
}

/// Budi writes the words on the form; the node renders and signs the PDF, which his letter's
/// page frames as its first part, and he can make its first numbered copy.
async fn a_letter_written_on_the_form_becomes_a_signed_pdf(ui: &Ui) {
    let perihal = "Undangan rapat evaluasi persandian";
    ui.login(BUDI).await;
    ui.go("/ui/compose").await;
    ui.fill("#isi", "Dengan hormat,\n\nKami mengundang Bapak/Ibu.")
        .await;
    ui.shot("compose-isi.png").await;
    let id = ui
        .compose(
            "biasa",
            perihal,
            SITI,
            Body::Text("Dengan hormat,\n\nKami mengundang Bapak/Ibu menghadiri rapat evaluasi."),
            BUDI,
            false,
        )
        .await;
    let part = ui.text("figure.part figcaption").await;
    assert!(
        part.contains("surat.pdf") && part.contains("application/pdf"),
        "{part}"
    );
    assert!(
        ui.source()
            .await
            .contains(&format!("/ui/letters/{id}/copies")),
        "the numbered copy button"
    );
    ui.shot("letter-signed-pdf.png").await;
    ui.logout().await;
    the_secretariat_keeps_the_register(ui, perihal).await;
}

/// Siti, the secretary: the letter written on the form has the first number of dinkes'
/// register, and the register lists it, in both languages.
async fn the_secretariat_keeps_the_register(ui: &Ui, perihal: &str) {
    let year = time::OffsetDateTime::now_utc()
        .to_offset(time::UtcOffset::from_hms(7, 0, 0).expect("WIB"))
        .year();
    ui.login(SITI).await;
    ui.go("/ui/registers").await;
    let table = ui.text("table.letters").await;
    assert!(
        table.contains(&format!("005/1/DINKES/{year}")) && table.contains(perihal),
        "{table}"
    );
    ui.shot("register-keluar.png").await;
    ui.go("/ui/lang/en?next=/ui/registers%3Fbook%3Dagenda")
        .await;
    let h1 = ui.text("h1").await;
    assert!(h1.starts_with("Incoming agenda DINKES"), "{h1}");
    ui.shot("register-agenda-en.png").await;
    ui.go("/ui/lang/id?next=/ui/inbox").await;
    ui.logout().await;
}

async fn a_sangat_rahasia_letter_needs_joko(ui: &Ui, files: &Path) {
    let perihal = "Rencana pengamanan wabah (sangat rahasia)";
    let text = files.join("nota.txt");
    std::fs::write(&text, "Nota dinas: rencana pengamanan.\n").expect("text");
    ui.login(BUDI).await;
    let id = ui
        .compose(
            "sangat_rahasia",
            perihal,
            JOKO,
            Body::File(&text),
            BUDI,
            false,
        )
        .await;
    let notice = ui.text(".notice").await;
    assert!(notice.contains("menunggu persetujuan"), "{notice}");
    ui.go("/ui/outbox").await;
    assert!(ui.source().await.contains("Menunggu persetujuan kedua"));
    ui.logout().await;

    ui.login(JOKO).await;
    // Not in Joko's inbox yet: nothing has left Budi.
    assert!(!ui.source().await.contains(perihal));
    ui.go("/ui/approvals").await;
    assert!(ui.source().await.contains(perihal));
    ui.open(&id, JOKO).await;
    ui.fill("#approve-pin", "000000").await;
    ui.click(".approve button").await;
    assert!(ui.text(".approve .alert").await.contains("PIN salah"));
    ui.fill("#approve-pin", &ui.pin(JOKO)).await;
    ui.click(".approve button").await;
    ui.wait_url("?approved=1").await;
    assert!(ui.text(".notice").await.contains("surat dikirim"));
    // The text body is shown inline, with the banner of its level.
    assert!(
        ui.text("figure.part pre")
            .await
            .contains("rencana pengamanan")
    );
    assert_eq!(ui.text(".banner").await, "SR — SANGAT RAHASIA");
    // SANGAT RAHASIA: neither download nor print is offered; printing prints only a notice.
    let page = ui.source().await;
    assert!(
        !page.contains("download=true") && !page.contains("id=\"print\""),
        "{page}"
    );
    assert!(page.contains("print-denied"));
    ui.go("/ui/inbox").await;
    assert!(ui.source().await.contains(perihal));
    ui.logout().await;
}

async fn refusals_say_why_in_both_languages(ui: &Ui) {
    ui.login(AGUS).await;
    ui.go("/ui/admin").await;
    assert!(
        ui.text(".alert")
            .await
            .contains("hanya admin atau pengelola sandi")
    );
    ui.click("a.lang").await;
    ui.wait_text("h1", "Refused").await;
    assert!(
        ui.text(".alert")
            .await
            .contains("only an admin or the persandian officer")
    );
    ui.go("/ui/inbox").await;
    assert_eq!(ui.text("h1").await, "Inbox");
    ui.click("a.lang").await;
    ui.wait_text("h1", "Kotak masuk").await;
    ui.logout().await;

    ui.login(MAYA).await;
    ui.go("/ui/admin").await;
    let page = ui.text("main").await;
    assert!(
        page.contains("Terbuka") && page.contains("Budi Santoso"),
        "{page}"
    );
    ui.go("/ui/audit").await;
    assert!(ui.text(".alert").await.contains("hanya auditor"));
    ui.logout().await;

    ui.login(HENDRA).await;
    ui.go("/ui/audit").await;
    let verified = ui.text(".verified").await;
    assert!(verified.contains("Log utuh"), "{verified}");
    assert!(
        ui.source().await.contains("decision-deny"),
        "the refusals are in the log"
    );
    ui.shot("audit.png").await;
    ui.logout().await;
}
