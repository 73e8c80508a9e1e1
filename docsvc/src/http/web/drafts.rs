//! Drafts (konsep) on the pages: `/ui/drafts` (the viewer's, with whose turn it is), a new
//! draft's form, and a draft's page with what the viewer may do next: revise and submit it
//! (its author), initial it or return it with a correction (the reviewer whose turn it is),
//! sign it into a letter (its signer).

use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use policies::Level;
use zeroize::Zeroizing;

use super::disposition::Fields;
use super::i18n::Lang;
use super::letters::person;
use super::{Viewer, page, pin_ok, respond};
use crate::Error;
use crate::http::App;
use crate::letters::draft::{self, DraftView, NewDraft};
use crate::letters::render::{Acara, Jenis};
use crate::node::Node;

fn state(l: Lang, s: &str) -> &'static str {
    match s {
        "konsep" => l.t("Konsep", "Draft"),
        "review" => l.t("Menunggu paraf", "Awaiting paraf"),
        "returned" => l.t("Dikembalikan (koreksi)", "Returned (koreksi)"),
        "ready" => l.t("Siap ditandatangani", "Ready to sign"),
        "signing" => l.t("Sedang ditandatangani", "Being signed"),
        "signed" => l.t("Ditandatangani", "Signed"),
        _ => "?",
    }
}

/// `GET /ui/drafts`.
pub(super) async fn list(State(node): State<App>, v: Viewer) -> Response {
    let r = async {
        if node.is_sealed() {
            return Err(Error::Sealed);
        }
        let l = v.lang;
        let rows = draft::list(&node, &v.caller()).await?;
        let names = crate::store::views::official_names(&node.store).await?;
        let body = html! {
            h1 { (l.t("Konsep surat", "Drafts")) }
            p { a.button href="/ui/drafts/new" { (l.t("Konsep baru", "New draft")) } }
            @if rows.is_empty() {
                p { (l.t("Belum ada konsep.", "No drafts yet.")) }
            } @else {
                table.drafts-table {
                    thead { tr {
                        th scope="col" { (l.t("Perihal", "Subject")) }
                        th scope="col" { (l.t("Status", "State")) }
                        th scope="col" { (l.t("Giliran", "Whose turn")) }
                        th scope="col" { (l.t("Penyusun", "Author")) }
                        th scope="col" { (l.t("Diubah", "Changed")) }
                    } }
                    tbody { @for d in &rows { tr {
                        td { a href=(format!("/ui/drafts/{}", d.id)) { (d.perihal) } " (v" (d.version) ")" }
                        td { (state(l, &d.state)) }
                        td { @if let Some(n) = &d.next { (person(&names, n)) } @else { "—" } }
                        td { (person(&names, &d.author)) }
                        td { (d.updated_at.get(..16).unwrap_or(&d.updated_at)) }
                    } } }
                }
            }
        };
        Ok(page::ok(page::frame(l, Some(&v), l.t("Konsep surat", "Drafts"), "/ui/drafts", &body)))
    }
    .await;
    respond(&v, r)
}

/// `GET /ui/drafts/new`: the form.
pub(super) async fn new(State(node): State<App>, v: Viewer) -> Response {
    let r = async {
        if node.is_sealed() {
            return Err(Error::Sealed);
        }
        let l = v.lang;
        let levels = crate::letters::documents::creatable(&node, &v.official)?;
        let policy = node.policy.current();
        let colleagues: Vec<_> = crate::officials::directory::list(&node.store)
            .await?
            .into_iter()
            .filter(|o| o.agency == v.official.agency && o.nip != v.official.nip)
            .collect();
        let body = html! {
            h1 { (l.t("Konsep baru", "New draft")) }
            form.card method="post" action="/ui/drafts" {
                input type="hidden" name="csrf" value=(v.session.csrf);
                div.grid {
                    div { label for="d-perihal" { (l.t("Perihal", "Subject")) } input id="d-perihal" name="perihal" required maxlength="300"; }
                    div { label for="d-sifat" { (l.t("Sifat (klasifikasi)", "Classification")) }
                        select id="d-sifat" name="classification" {
                            @for level in &levels { @let h = policy.handling().get(*level);
                                option value=(level.as_str()) { (match l { Lang::Id => &h.label_id, Lang::En => &h.label_en }) } }
                        } }
                    div { label for="d-derajat" { (l.t("Derajat", "Urgency")) }
                        select id="d-derajat" name="urgency" { @for u in ["biasa", "segera", "sangat_segera", "kilat"] { option value=(u) { (l.urgency(u)) } } } }
                    div { label for="d-kode" { (l.t("Kode klasifikasi arsip", "Archive classification code")) } input id="d-kode" name="kode" maxlength="20" placeholder="005"; }
                    div.wide { label for="d-kepada" { (l.t("Kepada (NIP, dipisah koma)", "To (NIPs, comma-separated)")) } input id="d-kepada" name="recipients" required; }
                    div.wide { label for="d-reviewers" { (l.t("Pemaraf berurutan (NIP, dipisah koma)", "Reviewers in order (NIPs, comma-separated)")) } input id="d-reviewers" name="reviewers" list="colleagues"; }
                    div { label for="d-signer" { (l.t("Penanda tangan", "Signer")) }
                        select id="d-signer" name="signer" { @for o in &colleagues { option value=(o.nip) { (o.name) " — " (o.position) } } } }
                    div.wide { label for="d-isi" { (l.t("Isi surat", "Letter text")) } textarea id="d-isi" name="isi" rows="10" maxlength="20000" required {} }
                }
                (jenis_fields(l, "d"))
                datalist id="colleagues" { @for o in &colleagues { option value=(o.nip) { (o.name) } } }
                button type="submit" { (l.t("Simpan konsep", "Save the draft")) }
            }
        };
        Ok(page::ok(page::frame(l, Some(&v), l.t("Konsep baru", "New draft"), "/ui/drafts", &body)))
    }
    .await;
    respond(&v, r)
}

/// The naskah's kind and a surat undangan's event, on the draft's and the compose form.
pub(super) fn jenis_fields(l: Lang, prefix: &str) -> Markup {
    let id = |f: &str| format!("{prefix}-{f}");
    html! {
        fieldset.jenis {
            legend { (l.t("Jenis naskah", "Kind of letter")) }
            label for=(id("jenis")) { (l.t("Jenis", "Kind")) }
            select id=(id("jenis")) name="jenis" {
                @for j in Jenis::ALL { option value=(j.as_str()) { (l.t(j.names().0, j.names().1)) } }
            }
            p.hint { (l.t("Untuk surat undangan: acaranya (boleh dikosongkan).", "For an invitation: its event (may be left empty).")) }
            div.grid {
                @for (f, id_label, en_label) in [("hari", "Hari, tanggal", "Day and date"), ("waktu", "Waktu", "Time"), ("tempat_acara", "Tempat", "Place"), ("acara", "Acara", "Programme")] {
                    div { label for=(id(f)) { (l.t(id_label, en_label)) } input id=(id(f)) name=(f) maxlength="200"; }
                }
            }
        }
    }
}

/// The kind and event from a form's fields (`jenis`, `hari`, `waktu`, `tempat_acara`, `acara`).
pub(super) fn jenis_from(f: &[(String, String)]) -> Result<(Jenis, Option<Acara>), Error> {
    let jenis = match field(f, "jenis").as_str() {
        "" => Jenis::default(),
        j => serde_json::from_value(serde_json::Value::String(j.to_owned())).map_err(|_| {
            Error::invalid(
                "jenis",
                "surat_dinas, nota_dinas, surat_undangan or surat_edaran",
            )
        })?,
    };
    let a = Acara {
        hari: field(f, "hari"),
        waktu: field(f, "waktu"),
        tempat: field(f, "tempat_acara"),
        acara: field(f, "acara"),
    };
    let given = [&a.hari, &a.waktu, &a.tempat, &a.acara]
        .iter()
        .any(|v| !v.trim().is_empty());
    Ok((jenis, (given && jenis == Jenis::SuratUndangan).then_some(a)))
}

fn field(fields: &[(String, String)], name: &str) -> String {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn nips(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `POST /ui/drafts`.
pub(super) async fn create(
    State(node): State<App>,
    v: Viewer,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let fields = Fields(fields);
    let f = &fields.0;
    let r = async {
        v.check_csrf(&field(f, "csrf"))?;
        let classification: Level = field(f, "classification")
            .parse()
            .map_err(|e: String| Error::invalid("classification", e))?;
        let urgency = serde_json::from_value(serde_json::Value::String(field(f, "urgency")))
            .map_err(|_| Error::invalid("urgency", "biasa, segera, sangat_segera or kilat"))?;
        let kode = field(f, "kode");
        let (jenis, acara) = jenis_from(f)?;
        let n = NewDraft {
            perihal: field(f, "perihal"),
            classification,
            urgency,
            recipients: nips(&field(f, "recipients")),
            copies: vec![],
            kode: (!kode.trim().is_empty()).then_some(kode),
            isi: field(f, "isi").replace("\r\n", "\n"),
            tempat: None,
            lampiran: None,
            jenis,
            acara,
            reviewers: nips(&field(f, "reviewers")),
            signer: field(f, "signer"),
        };
        let id = draft::create(&node, &v.caller(), &n).await?;
        Ok(Redirect::to(&format!("/ui/drafts/{id}")).into_response())
    }
    .await;
    respond(&v, r)
}

/// `GET /ui/drafts/{id}`.
pub(super) async fn show(State(node): State<App>, v: Viewer, Path(id): Path<String>) -> Response {
    let r = async {
        if node.is_sealed() {
            return Err(Error::Sealed);
        }
        match draft::view(&node, &v.caller(), &id).await {
            Ok(d) => draft_page(&node, &v, &d).await,
            // The level asks for the PIN to open: asked, showing nothing of the draft.
            Err(Error::Forbidden { policies, .. })
                if policies.iter().any(|p| p == "step-up-to-open") =>
            {
                Ok(super::read::pin_page(
                    &v,
                    &format!("/ui/drafts/{id}"),
                    false,
                    true,
                ))
            }
            Err(e) => Err(e),
        }
    }
    .await;
    respond(&v, r)
}

async fn draft_page(node: &Node, v: &Viewer, d: &DraftView) -> Result<Response, Error> {
    let l = v.lang;
    let names = crate::store::views::official_names(&node.store).await?;
    let me = &v.official.nip;
    let label = {
        let h = node
            .policy
            .current()
            .handling()
            .get(d.classification)
            .clone();
        match l {
            Lang::Id => h.label_id,
            Lang::En => h.label_en,
        }
    };
    let body = html! {
        div class=(format!("banner lvl-{}", d.classification.as_str())) role="note" { (label) }
        h1 { (d.perihal) }
        dl.meta {
            dt { (l.t("Status", "State")) } dd { (state(l, &d.state)) " · " (l.t("versi ", "version ")) (d.version) }
            dt { (l.t("Derajat", "Urgency")) } dd { (l.urgency(&d.urgency)) }
            dt { (l.t("Jenis naskah", "Kind of letter")) } dd { (l.t(d.jenis.names().0, d.jenis.names().1)) }
            @if let Some(a) = &d.acara { dt { (l.t("Acara", "Event")) } dd { (a.hari) ", " (a.waktu) ", " (a.tempat) ": " (a.acara) } }
            dt { (l.t("Kepada", "To")) } dd { (d.recipients.iter().map(|n| person(&names, n)).collect::<Vec<_>>().join(", ")) }
            @if !d.copies.is_empty() { dt { (l.t("Tembusan", "Copies")) } dd { (d.copies.iter().map(|n| person(&names, n)).collect::<Vec<_>>().join(", ")) } }
            @if let Some(k) = &d.kode { dt { (l.t("Kode klasifikasi arsip", "Archive code")) } dd { (k) } }
            dt { (l.t("Penyusun", "Author")) } dd { (person(&names, &d.author)) }
            dt { (l.t("Pemaraf", "Reviewers")) } dd { (d.reviewers.iter().map(|n| person(&names, n)).collect::<Vec<_>>().join(" → ")) }
            dt { (l.t("Penanda tangan", "Signer")) } dd { (person(&names, &d.signer)) }
            dt { (l.t("Giliran", "Whose turn")) } dd { @if let Some(n) = &d.next { (person(&names, n)) } @else { "—" } }
            @if let Some(letter) = &d.letter_id { dt { (l.t("Surat", "Letter")) } dd { a href=(format!("/ui/letters/{letter}")) { (l.t("buka surat", "open the letter")) } } }
        }
        section aria-labelledby="isi-title" { h2 #isi-title { (l.t("Isi konsep", "Draft text")) } pre.draft { (d.isi) } }
        @if !d.reviews.is_empty() {
            section aria-labelledby="rev-title" {
                h2 #rev-title { (l.t("Paraf dan koreksi", "Paraf and corrections")) }
                ul { @for r in &d.reviews { li {
                    strong { (person(&names, &r.nip)) } " · v" (r.version) " · "
                    (if r.action == "paraf" { l.t("paraf", "paraf") } else { l.t("koreksi", "correction") })
                    " · " (r.at.get(..16).unwrap_or(&r.at))
                    @if !r.comment.is_empty() { blockquote { (r.comment) } }
                } } }
            }
        }
        (actions(v, d, me))
    };
    Ok(page::ok(page::frame(
        l,
        Some(v),
        &d.perihal,
        "/ui/drafts",
        &body,
    )))
}

pub(super) fn pin_field(l: Lang, id: &str) -> Markup {
    html! {
        label for=(id) { (l.t("PIN penandatanganan", "Signing PIN")) }
        input id=(id) name="pin" type="password" inputmode="numeric" autocomplete="off" required;
    }
}

fn actions(v: &Viewer, d: &DraftView, me: &str) -> Markup {
    let l = v.lang;
    let id = &d.id;
    let author = d.author == me && (d.state == "konsep" || d.state == "returned");
    let my_turn = d.next.as_deref() == Some(me);
    html! {
        @if author {
            form.draft-edit method="post" action=(format!("/ui/drafts/{id}/revise")) {
                input type="hidden" name="csrf" value=(v.session.csrf);
                label for="e-isi" { (l.t("Ubah isi (versi baru)", "Change the text (a new version)")) }
                textarea id="e-isi" name="isi" rows="8" maxlength="20000" required { (d.isi) }
                button.secondary type="submit" { (l.t("Simpan versi baru", "Save a new version")) }
            }
            @if d.state == "konsep" {
                form.draft-submit method="post" action=(format!("/ui/drafts/{id}/submit")) {
                    input type="hidden" name="csrf" value=(v.session.csrf);
                    button type="submit" { (l.t("Ajukan untuk paraf", "Submit for paraf")) }
                }
            }
        }
        @if my_turn && d.state == "review" {
            form.draft-paraf method="post" action=(format!("/ui/drafts/{id}/paraf")) {
                input type="hidden" name="csrf" value=(v.session.csrf);
                (pin_field(l, "paraf-pin"))
                button type="submit" { (l.t("Paraf", "Initial (paraf)")) }
            }
            form.draft-koreksi method="post" action=(format!("/ui/drafts/{id}/koreksi")) {
                input type="hidden" name="csrf" value=(v.session.csrf);
                label for="k-comment" { (l.t("Koreksi", "Correction")) }
                textarea id="k-comment" name="comment" rows="3" maxlength="4000" required {}
                button.secondary type="submit" { (l.t("Kembalikan dengan koreksi", "Return with a correction")) }
            }
        }
        @if (my_turn || d.signs_for.is_some()) && d.state == "ready" {
            form.draft-sign method="post" action=(format!("/ui/drafts/{id}/sign")) {
                input type="hidden" name="csrf" value=(v.session.csrf);
                @if let Some(k) = &d.signs_for {
                    p.notice { (match k.as_str() {
                        "an" => l.t("Anda menandatangani atas nama (a.n.) penanda tangan, dengan mandatnya.", "You sign on the signer's behalf (a.n.), under their mandate."),
                        "plt" => l.t("Anda menandatangani sebagai Plt., dengan mandat penanda tangan.", "You sign as Plt., under the signer's mandate."),
                        _ => l.t("Anda menandatangani sebagai Plh., dengan mandat penanda tangan.", "You sign as Plh., under the signer's mandate."),
                    }) }
                }
                (pin_field(l, "sign-pin"))
                button type="submit" { (l.t("Tandatangani dan kirim", "Sign and send")) }
            }
        }
    }
}

/// `POST /ui/drafts/{id}/{step}`: revise, submit, paraf, koreksi or sign.
pub(super) async fn step(
    State(node): State<App>,
    v: Viewer,
    Path((id, step)): Path<(String, String)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let fields = Fields(fields);
    let f = &fields.0;
    let r = async {
        v.check_csrf(&field(f, "csrf"))?;
        if node.is_sealed() {
            return Err(Error::Sealed);
        }
        let mut caller = v.caller();
        if step == "paraf" || step == "sign" {
            let pin = Zeroizing::new(field(f, "pin"));
            if !pin_ok(&node, &v, &pin).await? {
                return Err(super::disposition::wrong_pin());
            }
            caller.stepped_up = true;
        }
        let back = format!("/ui/drafts/{id}");
        match step.as_str() {
            "revise" => {
                draft::revise(
                    &node,
                    &caller,
                    &id,
                    None,
                    &field(f, "isi").replace("\r\n", "\n"),
                )
                .await?;
            }
            "submit" => draft::submit(&node, &caller, &id).await?,
            "paraf" => draft::paraf(&node, &caller, &id).await?,
            "koreksi" => {
                draft::koreksi(
                    &node,
                    &caller,
                    &id,
                    &field(f, "comment").replace("\r\n", "\n"),
                )
                .await?;
            }
            "sign" => {
                let c = draft::sign(&node, &caller, &id).await?;
                return Ok(
                    Redirect::to(&format!("/ui/letters/{}?sent=1", c.manifest.id)).into_response(),
                );
            }
            _ => return Err(Error::NotFound(format!("{back}/{step}"))),
        }
        Ok(Redirect::to(&back).into_response())
    }
    .await;
    respond(&v, r)
}
