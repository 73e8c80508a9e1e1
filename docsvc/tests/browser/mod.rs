//! The browser test's later pages: the disposisi flow, and the accessibility check (axe-core)
//! run on every page the test shows.

use std::path::Path;
use std::process::Command;

use fantoccini::Locator;
use sandi_e2e::node::require;

pub(super) mod chain;

use super::{AGUS, BUDI, HENDRA, JOKO, MAYA, SITI, Ui};

/// The axe-core version the accessibility check runs.
const AXE: &str = "4.10.2";
/// SHA-256 of its `axe.min.js`.
const AXE_SHA256: &str = "b511cd9dec01c76f4b2ad1723b66b6db37d4c2eb4ed199076e1829d9ee7b75e3";

/// axe-core's browser script, installed from the npm registry into `target/` when missing.
pub(super) fn axe_script() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../target/axe-core-{AXE}"));
    let script = dir.join("node_modules/axe-core/axe.min.js");
    if !script.exists() {
        require("npm");
        std::fs::create_dir_all(&dir).expect("axe folder");
        let out = Command::new("npm")
            .args([
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--prefix",
            ])
            .arg(&dir)
            .arg(format!("axe-core@{AXE}"))
            .output()
            .expect("npm");
        assert!(
            out.status.success(),
            "npm install axe-core: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = std::fs::read_to_string(&script).expect("axe.min.js");
    // The script runs in the browser the test drives: it must be the one reviewed.
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    assert_eq!(
        hex::encode(digest),
        AXE_SHA256,
        "{} is not axe-core {AXE}",
        script.display()
    );
    text
}

impl Ui {
    /// axe-core's check of the page in view (WCAG 2.1 A and AA rules): no serious or critical
    /// finding. The script is handed in by WebDriver, which the page's CSP does not govern.
    pub(super) async fn accessible(&self, name: &str) {
        self.c
            .execute(&format!("{}\nreturn typeof axe;", self.axe), vec![])
            .await
            .expect("axe loads");
        let found = self
            .c
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
                   .then(r => done(JSON.stringify(r.violations
                     .filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => ({ id: v.id, impact: v.impact, help: v.help,
                                  nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ')) })))))
                   .catch(e => done('error: ' + e));",
                vec![],
            )
            .await
            .expect("axe runs");
        let found = found.as_str().expect("axe's answer").to_owned();
        assert_eq!(found, "[]", "accessibility of {name}: {found}");
    }
}

/// Siti passes the letter to Joko (Agus, TERBATAS, is offered disabled with the policy's
/// reason); Joko finds it under Disposisi, opens it and reports it done.
pub(super) async fn disposisi_in_the_browser(ui: &Ui, id: &str) {
    ui.login(SITI).await;
    ui.open(id, SITI).await;
    let form = ui.text("form.give").await;
    assert!(form.contains("melebihi izin akses"), "{form}");
    let agus =
        ui.c.find(Locator::Css(&format!("input[name=to][value='{AGUS}']")))
            .await
            .expect("agus on the form");
    assert!(
        agus.attr("disabled").await.expect("attr").is_some(),
        "agus cannot be chosen"
    );
    ui.click(&format!("input[name=to][value='{JOKO}']")).await;
    ui.click("#disp-instruction option[value=ditindaklanjuti]")
        .await;
    ui.fill("#disp-note", "Mohon disiapkan bahan rapat.").await;
    ui.fill("#disp-pin", &ui.pin(SITI)).await;
    ui.click("form.give button[type=submit]").await;
    ui.wait_url("?disposed=1").await;
    assert!(
        ui.text(".notice")
            .await
            .contains("Disposisi ditandatangani")
    );
    ui.c.execute(
        "document.getElementById('disposisi').scrollIntoView();",
        vec![],
    )
    .await
    .expect("scroll");
    ui.shot("disposisi.png").await;
    ui.logout().await;

    ui.login(JOKO).await;
    let badge = ui.text("nav a[href='/ui/dispositions']").await;
    assert!(badge.contains('1'), "a disposisi waits: {badge}");
    ui.go("/ui/dispositions").await;
    let row = ui.text("table.dispositions-table tbody tr").await;
    assert!(
        row.contains("Siti Rahmawati") && row.contains("Belum dibaca"),
        "{row}"
    );
    ui.shot("disposisi-list.png").await;
    ui.open(id, JOKO).await;
    ui.fill("form.report textarea", "Bahan rapat sudah disiapkan.")
        .await;
    ui.click("form.report input[name=done]").await;
    ui.fill("form.report input[name=pin]", &ui.pin(JOKO)).await;
    ui.click("form.report button[type=submit]").await;
    ui.wait_url("?reported=1").await;
    let chain = ui.text("ul.chain").await;
    assert!(
        chain.contains("Selesai") && chain.contains("Bahan rapat sudah disiapkan."),
        "{chain}"
    );
    ui.c.execute(
        "document.getElementById('disposisi').scrollIntoView();",
        vec![],
    )
    .await
    .expect("scroll");
    ui.shot("disposisi-done.png").await;
    ui.click("a.lang").await;
    let chain = showing(ui, "ul.chain", "Done").await;
    assert!(
        chain.contains("Done") && chain.contains("For action"),
        "{chain}"
    );
    ui.c.execute(
        "document.getElementById('disposisi').scrollIntoView();",
        vec![],
    )
    .await
    .expect("scroll");
    ui.shot("disposisi-done-en.png").await;
    ui.click("a.lang").await;
    ui.wait_text("#sig-title", "Tanda tangan elektronik").await;
    ui.logout().await;
}

/// Every page each role uses passes the accessibility check, in both languages.
pub(super) async fn every_page_is_accessible(ui: &Ui) {
    let pages: [(&str, &[&str]); 4] = [
        (
            BUDI,
            &[
                "/ui/inbox",
                "/ui/outbox",
                "/ui/compose",
                "/ui/approvals",
                "/ui/dispositions",
                "/ui/delegations",
                "/ui/mandates",
                "/ui/account",
                "/ui/drafts",
                "/ui/drafts/new",
            ],
        ),
        (SITI, &["/ui/registers", "/ui/registers?book=agenda"]),
        (MAYA, &["/ui/admin", "/ui/retention"]),
        (HENDRA, &["/ui/audit"]),
    ];
    for (nip, paths) in pages {
        ui.login(nip).await;
        for lang in ["en", "id"] {
            ui.go(&format!("/ui/lang/{lang}?next=/ui/inbox")).await;
            for path in paths {
                ui.go(path).await;
                ui.accessible(&format!("{path} ({lang}, {nip})")).await;
            }
        }
        ui.logout().await;
    }
    for path in ["/ui/login", "/verifikasi", "/ui/unseal"] {
        ui.go(path).await;
        ui.accessible(path).await;
    }
}

/// The text of `css` once it contains `part` (the page the last click asked for has come).
async fn showing(ui: &Ui, css: &str, part: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Ok(e) = ui.c.find(Locator::Css(css)).await {
            if let Ok(t) = e.text().await {
                if t.contains(part) {
                    return t;
                }
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "waiting for {css} to show {part}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Agus writes a draft for Budi to sign, with Siti to initial it; Siti initials it with her
/// PIN; Budi signs it, and the letter is made.
pub(super) async fn a_draft_initialled_and_signed(ui: &Ui) {
    ui.login(AGUS).await;
    ui.go("/ui/drafts/new").await;
    ui.fill("#d-perihal", "Laporan capaian imunisasi").await;
    ui.fill("#d-kode", "440").await;
    ui.fill("#d-kepada", JOKO).await;
    ui.fill("#d-reviewers", SITI).await;
    ui.click(&format!("#d-signer option[value='{BUDI}']")).await;
    ui.fill(
        "#d-isi",
        "Dengan hormat,\n\nbersama ini kami laporkan capaian imunisasi.",
    )
    .await;
    ui.click("form.card button[type=submit]").await;
    ui.wait_text("h1", "Laporan capaian imunisasi").await;
    ui.click("form.draft-submit button").await;
    // The same address again after the click: wait for the page that says it moved on.
    let state = showing(ui, "dl.meta", "Menunggu paraf").await;
    assert!(state.contains("Siti Rahmawati"), "{state}");
    ui.shot("konsep.png").await;
    let url = ui.c.current_url().await.expect("url").to_string();
    let path = url
        .split_once("/ui/")
        .map(|(_, p)| format!("/ui/{p}"))
        .expect("a page");
    ui.logout().await;

    ui.login(SITI).await;
    let badge = ui.text("nav a[href='/ui/drafts']").await;
    assert!(badge.contains('1'), "a draft waits for her paraf: {badge}");
    ui.go(&path).await;
    ui.fill("#paraf-pin", &ui.pin(SITI)).await;
    ui.click("form.draft-paraf button").await;
    showing(ui, "dl.meta", "Siap ditandatangani").await;
    ui.click("a.lang").await;
    ui.wait_text("#isi-title", "Draft text").await;
    ui.shot("konsep-paraf-en.png").await;
    ui.click("a.lang").await;
    ui.wait_text("#isi-title", "Isi konsep").await;
    ui.logout().await;

    ui.login(BUDI).await;
    ui.go(&path).await;
    ui.fill("#sign-pin", &ui.pin(BUDI)).await;
    ui.click("form.draft-sign button").await;
    ui.wait_url("?sent=1").await;
    assert_eq!(ui.text("h1").await, "Laporan capaian imunisasi");
    assert!(
        showing(ui, "dl.meta", "440/").await.contains("DINKES"),
        "numbered from the register"
    );
    ui.logout().await;
}
