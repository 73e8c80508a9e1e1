//! The whole day's work in the browser (issue 21): Budi, head of dinkes, grants Siti a mandate;
//! Agus writes a draft to Dewi, head of bappeda; Joko and Siti initial it; Siti signs it a.n.
//! Budi; the letter is numbered from dinkes' register and sent to bappeda, whose secretary Lina
//! finds it in bappeda's agenda; Dewi passes it down to Lina, Lina to Rudi; Rudi reports it
//! done, then Lina. Screenshots of each page, some in English too.

use fantoccini::Locator;

use super::showing;
use crate::{AGUS, BUDI, JOKO, SITI, Ui};

const DEWI: &str = "197704042002122004"; // bappeda head, sangat_rahasia
const LINA: &str = "198409092009022010"; // bappeda secretary, rahasia
const RUDI: &str = "199005052015031005"; // bappeda, rahasia

const PERIHAL: &str = "Undangan rapat evaluasi imunisasi";

/// Budi grants Siti a mandate (a.n.) on the mandates page, with his PIN.
async fn budi_grants_a_mandate(ui: &Ui) {
    ui.login(BUDI).await;
    ui.go("/ui/mandates").await;
    ui.click(&format!("#m-delegate option[value='{SITI}']"))
        .await;
    ui.click("#m-kind option[value=an]").await;
    ui.click("#m-level option[value=rahasia]").await;
    ui.fill("#m-pin", &ui.pin(BUDI)).await;
    ui.click("form.mandate button[type=submit]").await;
    ui.wait_url("?granted=1").await;
    let given = ui.text("table.mandates").await;
    assert!(
        given.contains("Siti Rahmawati") && given.contains("Berlaku"),
        "{given}"
    );
    ui.shot("mandat.png").await;
    ui.go("/ui/lang/en?next=/ui/mandates").await;
    ui.wait_text("h1", "Signing mandates").await;
    ui.shot("mandat-en.png").await;
    ui.go("/ui/lang/id?next=/ui/inbox").await;
    ui.logout().await;
}

/// Agus writes the draft to Dewi, for Budi, with Joko then Siti to initial it; the path of
/// its page.
async fn agus_writes_it(ui: &Ui) -> String {
    ui.login(AGUS).await;
    ui.go("/ui/drafts/new").await;
    ui.fill("#d-perihal", PERIHAL).await;
    ui.fill("#d-kode", "005").await;
    ui.fill("#d-kepada", DEWI).await;
    ui.fill("#d-reviewers", &format!("{JOKO},{SITI}")).await;
    ui.click(&format!("#d-signer option[value='{BUDI}']")).await;
    ui.fill(
        "#d-isi",
        "Dengan hormat,\n\nkami mengundang Bapak/Ibu ke rapat evaluasi imunisasi.",
    )
    .await;
    ui.click("form.card button[type=submit]").await;
    ui.wait_text("h1", PERIHAL).await;
    ui.click("form.draft-submit button").await;
    showing(ui, "dl.meta", "Menunggu paraf").await;
    let url = ui.c.current_url().await.expect("url").to_string();
    ui.logout().await;
    url.split_once("/ui/")
        .map(|(_, p)| format!("/ui/{p}"))
        .expect("a page")
}

/// `nip` initials the draft at `path`; the page then shows `text` in `css`.
async fn paraf(ui: &Ui, nip: &str, path: &str, (css, text): (&str, &str)) {
    ui.login(nip).await;
    ui.go(path).await;
    ui.fill("#paraf-pin", &ui.pin(nip)).await;
    ui.click("form.draft-paraf button").await;
    showing(ui, css, text).await;
}

/// Siti, holding Budi's mandate, signs the initialled draft a.n. Budi: the letter's page says
/// so, with its number from dinkes' register. Its id.
async fn siti_signs_for_budi(ui: &Ui, path: &str) -> String {
    let notice = ui.text("form.draft-sign").await;
    assert!(notice.contains("atas nama (a.n.)"), "{notice}");
    ui.shot("konsep-an.png").await;
    ui.fill("#sign-pin", &ui.pin(SITI)).await;
    ui.click("form.draft-sign button").await;
    let url = ui.wait_url("?sent=1").await;
    let meta = showing(ui, "dl.meta", "a.n. Kepala Dinas Kesehatan").await;
    assert!(
        meta.contains("005/") && meta.contains("DINKES") && meta.contains("Budi Santoso"),
        "{meta}"
    );
    ui.shot("surat-an.png").await;
    ui.go(path).await;
    showing(ui, "dl.meta", "Ditandatangani").await;
    ui.logout().await;
    url.split("/ui/letters/")
        .nth(1)
        .and_then(|r| r.split('?').next())
        .expect("the letter's id")
        .to_owned()
}

/// Lina, bappeda's secretary, finds the letter in bappeda's agenda.
async fn lina_finds_it_in_the_agenda(ui: &Ui) {
    ui.login(LINA).await;
    ui.go("/ui/registers?book=agenda").await;
    let h1 = ui.text("h1").await;
    assert!(h1.contains("BAPPEDA"), "{h1}");
    let table = ui.text("table.letters").await;
    assert!(
        table.contains(PERIHAL) && table.contains("/AGENDA/"),
        "{table}"
    );
    ui.shot("agenda-bappeda.png").await;
    ui.logout().await;
}

/// `from` passes letter `id` down to `to` for action, with the PIN.
async fn pass_down(ui: &Ui, id: &str, from: &str, to: &str, note: &str) {
    ui.login(from).await;
    ui.open(id, from).await;
    ui.click(&format!("input[name=to][value='{to}']")).await;
    ui.click("#disp-instruction option[value=ditindaklanjuti]")
        .await;
    ui.fill("#disp-note", note).await;
    ui.fill("#disp-pin", &ui.pin(from)).await;
    ui.click("form.give button[type=submit]").await;
    ui.wait_url("?disposed=1").await;
    ui.logout().await;
}

/// `who` reports their disposisi on letter `id` done, with the PIN.
async fn report_done(ui: &Ui, id: &str, who: &str, text: &str) -> String {
    ui.login(who).await;
    ui.open(id, who).await;
    ui.fill("form.report textarea", text).await;
    ui.click("form.report input[name=done]").await;
    ui.fill("form.report input[name=pin]", &ui.pin(who)).await;
    ui.click("form.report button[type=submit]").await;
    ui.wait_url("?reported=1").await;
    showing(ui, "ul.chain", text).await
}

pub(crate) async fn the_whole_chain(ui: &Ui) {
    budi_grants_a_mandate(ui).await;
    let path = agus_writes_it(ui).await;
    let reviews = "section[aria-labelledby=rev-title]";
    paraf(ui, JOKO, &path, (reviews, "Joko Prasetyo")).await;
    ui.logout().await;
    paraf(ui, SITI, &path, ("dl.meta", "Siap ditandatangani")).await;
    let id = siti_signs_for_budi(ui, &path).await;
    lina_finds_it_in_the_agenda(ui).await;

    pass_down(ui, &id, DEWI, LINA, "Mohon ditindaklanjuti bersama bidang.").await;
    pass_down(ui, &id, LINA, RUDI, "Siapkan bahan evaluasi.").await;
    report_done(ui, &id, RUDI, "Bahan evaluasi sudah disiapkan.").await;
    ui.logout().await;
    let chain = report_done(ui, &id, LINA, "Rapat dihadiri, bahan diserahkan.").await;
    assert!(
        chain.matches("Selesai").count() >= 2
            && chain.contains("Rudi Hartono")
            && chain.contains("Lina Marlina"),
        "two levels, both done: {chain}"
    );
    ui.c.execute(
        "document.getElementById('disposisi').scrollIntoView();",
        vec![],
    )
    .await
    .expect("scroll");
    ui.shot("rantai-disposisi.png").await;
    ui.click("a.lang").await;
    showing(ui, "ul.chain", "Done").await;
    ui.shot("rantai-disposisi-en.png").await;
    ui.click("a.lang").await;
    ui.c.wait()
        .for_element(Locator::Css("#sig-title"))
        .await
        .expect("back in Indonesian");
    ui.logout().await;
}
