//! What the API lets officials, administrators and custodians do, on pages: a letter's earlier
//! versions, its reclassification, its destruction after retention and its export to the
//! official's personal key (on the letter's page, offered as the policy allows); suspending
//! and reactivating officials and retrying dead deliveries (administration); and the
//! custodians' unsealing, one share each, on a page that needs no login.

use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use policies::Level;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::drafts::pin_field;
use super::i18n::Lang;
use super::{Anonymous, Viewer, page, pin_ok, respond};
use crate::Error;
use crate::http::App;
use crate::letters::documents::Checked;
use crate::letters::incidents;
use crate::letters::lifecycle::{self, DestroyRequest, ReclassifyRequest, Version};
use crate::node::Node;
use crate::officials::Caller;

/// What the viewer may do with a letter beyond reading it.
pub(super) struct Manage {
    versions: Vec<Version>,
    targets: Vec<Level>,
    destroy: bool,
    /// The parts' names when the viewer may export and has a personal key.
    export: Option<Vec<String>>,
    /// May export, but has registered no personal key yet.
    needs_key: bool,
}

impl Manage {
    pub(super) async fn gather(
        node: &Node,
        v: &Viewer,
        checked: &Checked,
        may_export: bool,
    ) -> Result<Self, Error> {
        let caller = v.caller();
        let has_key = v.official.personal_recipient.is_some();
        Ok(Manage {
            versions: lifecycle::versions(node, &checked.manifest.id).await?,
            targets: lifecycle::reclassify_targets(node, &caller, checked).await?,
            destroy: lifecycle::may_destroy(node, &caller, checked).await?,
            export: (may_export && has_key).then(|| {
                checked
                    .manifest
                    .parts
                    .iter()
                    .map(|p| p.name.clone())
                    .collect()
            }),
            needs_key: may_export && !has_key,
        })
    }

    pub(super) fn section(&self, v: &Viewer, id: &str) -> Markup {
        let l = v.lang;
        let nothing = self.versions.is_empty()
            && self.targets.is_empty()
            && !self.destroy
            && self.export.is_none()
            && !self.needs_key;
        html! {
            @if !nothing {
                section.manage #kelola aria-labelledby="manage-title" {
                    h2 #manage-title { (l.t("Kelola surat", "Manage the letter")) }
                    @if !self.versions.is_empty() {
                        h3 { (l.t("Versi sebelumnya", "Earlier versions")) }
                        ul.versions { @for ver in &self.versions { li {
                            (l.t("Versi ", "Version ")) (ver.version) " · " (ver.classification.as_str())
                            " · " (l.t("diganti ", "superseded ")) (ver.superseded_at.get(..16).unwrap_or(&ver.superseded_at))
                        } } }
                    }
                    @if let Some(parts) = &self.export {
                        h3 { (l.t("Ekspor ke kunci pribadi", "Export to your personal key")) }
                        ul.export { @for (i, name) in parts.iter().enumerate() {
                            li { a href=(format!("/api/v1/documents/{id}/export?part={i}")) download { (name) ".age" } }
                        } }
                    } @else if self.needs_key {
                        p { (l.t("Untuk mengekspor, daftarkan kunci age pribadi Anda di halaman Akun.", "To export, register your personal age key on the Account page.")) }
                    }
                    @if !self.targets.is_empty() { (reclassify_form(v, id, &self.targets)) }
                    @if self.destroy { (destroy_form(v, id)) }
                }
            }
        }
    }
}

fn reclassify_form(v: &Viewer, id: &str, targets: &[Level]) -> Markup {
    let l = v.lang;
    html! {
        form.reclassify method="post" action=(format!("/ui/letters/{id}/reclassify")) {
            h3 { (l.t("Ubah klasifikasi", "Reclassify")) }
            input type="hidden" name="csrf" value=(v.session.csrf);
            label for="rc-level" { (l.t("Klasifikasi baru", "New classification")) }
            select id="rc-level" name="classification" { @for t in targets { option value=(t.as_str()) { (t.as_str()) } } }
            label for="rc-reason" { (l.t("Alasan", "Reason")) }
            textarea id="rc-reason" name="reason" rows="2" maxlength="1000" required {}
            (pin_field(l, "rc-pin"))
            button type="submit" { (l.t("Tandatangani versi baru", "Sign the new version")) }
        }
    }
}

fn destroy_form(v: &Viewer, id: &str) -> Markup {
    let l = v.lang;
    html! {
        form.destroy method="post" action=(format!("/ui/letters/{id}/destroy")) {
            h3 { (l.t("Musnahkan (setelah masa retensi)", "Destroy (after retention)")) }
            input type="hidden" name="csrf" value=(v.session.csrf);
            label for="ds-reason" { (l.t("Alasan (berita acara pemusnahan)", "Reason (destruction record)")) }
            textarea id="ds-reason" name="reason" rows="2" maxlength="1000" required {}
            (pin_field(l, "ds-pin"))
            button.danger type="submit" { (l.t("Musnahkan surat ini", "Destroy this letter")) }
        }
    }
}

#[derive(Deserialize)]
pub(super) struct LetterForm {
    csrf: String,
    #[serde(default)]
    classification: Option<Level>,
    reason: String,
    pin: String,
}

/// `POST /ui/letters/{id}/{reclassify|destroy}`, with the PIN.
pub(super) async fn letter_step(
    State(node): State<App>,
    v: Viewer,
    Path((id, step)): Path<(String, String)>,
    Form(f): Form<LetterForm>,
) -> Response {
    let pin = Zeroizing::new(f.pin);
    let r = async {
        v.check_csrf(&f.csrf)?;
        if node.is_sealed() {
            return Err(Error::Sealed);
        }
        // What is asked is checked before the PIN is spent on it; a reason is one line.
        let reason = f.reason.split_whitespace().collect::<Vec<_>>().join(" ");
        let reclassify = match (step.as_str(), f.classification) {
            ("reclassify", Some(c)) => Some(c),
            ("reclassify", None) => return Err(Error::invalid("classification", "choose a level")),
            ("destroy", _) => None,
            _ => return Err(Error::NotFound(format!("/ui/letters/{id}/{step}"))),
        };
        if !pin_ok(&node, &v, &pin).await? {
            return Err(super::disposition::wrong_pin());
        }
        let caller = Caller {
            stepped_up: true,
            ..v.caller()
        };
        let checked = incidents::load_checked(&node, &caller, &id).await?;
        if let Some(classification) = reclassify {
            let req = ReclassifyRequest {
                classification,
                reason: Some(reason),
            };
            lifecycle::reclassify(&node, &caller, checked, &req).await?;
            return Ok(Redirect::to(&format!("/ui/letters/{id}#kelola")).into_response());
        }
        lifecycle::destroy(&node, &caller, &checked, &DestroyRequest { reason }).await?;
        let back = if v.official.has_role("pengelola_sandi") {
            "/ui/retention"
        } else {
            "/ui/outbox"
        };
        Ok(Redirect::to(back).into_response())
    }
    .await;
    respond(&v, r)
}

/// How many undelivered deliveries the administration page lists.
const OUTBOX_SHOWN: usize = 100;

/// The administrators' outbox: the deliveries not yet delivered (the first 100), a dead one
/// with its retry.
pub(super) async fn outbox(node: &Node, v: &Viewer) -> Result<Markup, Error> {
    let l = v.lang;
    crate::officials::admin::require_admin(&v.official)?;
    // A failure to read it is said in its place: the rest of the page stands.
    let mut queued = match crate::transmit::outbox(node, false).await {
        Ok(q) => q,
        Err(e) => {
            tracing::error!("the outbox for the administration page: {e}");
            return Ok(
                html! { p.alert role="alert" { (l.t("Antrean pengiriman tidak dapat dibaca.", "The deliveries cannot be read.")) } },
            );
        }
    };
    queued.truncate(OUTBOX_SHOWN);
    Ok(html! {
        section.card aria-labelledby="outbox-title" {
            h2 #outbox-title { (l.t("Antrean pengiriman antarsimpul", "Deliveries to other nodes")) }
            @if queued.is_empty() { p { (l.t("Semua surat sudah terkirim.", "Every letter is delivered.")) } }
            @else { table.letters.outbox {
                thead { tr {
                    th scope="col" { (l.t("Surat", "Letter")) } th scope="col" { (l.t("Simpul", "Node")) }
                    th scope="col" { (l.t("Status", "State")) } th scope="col" { (l.t("Percobaan", "Attempts")) }
                    th scope="col" { (l.t("Galat terakhir", "Last error")) } th scope="col" { span.sr { (l.t("Tindakan", "Action")) } }
                } }
                tbody { @for q in &queued { tr {
                    td.mono { (q.document_id) } td { (q.delivery.node) } td { (q.delivery.state) }
                    td { (q.delivery.attempts) } td { (q.delivery.last_error.as_deref().unwrap_or("—")) }
                    td { @if q.delivery.state == "dead" || q.delivery.state == "failed" {
                        form.inline method="post" action="/ui/admin/outbox/retry" {
                            input type="hidden" name="csrf" value=(v.session.csrf);
                            input type="hidden" name="document" value=(q.document_id);
                            input type="hidden" name="node" value=(q.delivery.node);
                            button.secondary type="submit" { (l.t("Kirim ulang", "Retry")) }
                        }
                    } }
                } } }
            } }
        }
    })
}

#[derive(Deserialize)]
pub(super) struct RetryForm {
    csrf: String,
    document: String,
    node: String,
}

/// `POST /ui/admin/outbox/retry`: a dead or failing delivery queued again, logged.
pub(super) async fn retry(
    State(node): State<App>,
    v: Viewer,
    Form(f): Form<RetryForm>,
) -> Response {
    let r = async {
        v.check_csrf(&f.csrf)?;
        crate::officials::admin::require_admin(&v.official)?;
        let by = format!("{} (NIP {})", v.official.name, v.official.nip);
        crate::transmit::retry(&node, &f.document, &f.node, &by).await?;
        Ok::<_, Error>(Redirect::to("/ui/admin#outbox-title").into_response())
    }
    .await;
    respond(&v, r)
}

/// The button that suspends an active official or reactivates another.
/// The suspend or reactivate button for the official or application whose status form posts
/// to `action`; `who` names it for a screen reader.
pub(super) fn status_button(
    l: Lang,
    csrf: &str,
    action: &str,
    who: &str,
    status: policies::Status,
) -> Markup {
    // A revoked official or application is registered again, not reactivated.
    let (to, label) = match status {
        policies::Status::Active => ("suspended", l.t("Nonaktifkan", "Suspend")),
        policies::Status::Suspended => ("active", l.t("Aktifkan", "Reactivate")),
        policies::Status::Revoked => return html! {},
    };
    html! {
        form.inline method="post" action=(action) {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="status" value=(to);
            button.secondary type="submit" aria-label=(format!("{label} {who}")) { (label) }
        }
    }
}

#[derive(Deserialize)]
pub(super) struct StatusForm {
    csrf: String,
    status: String,
}

/// `POST /ui/admin/officials/{nip}/status`: suspended (their sessions end) or active again.
pub(super) async fn set_status(
    State(node): State<App>,
    v: Viewer,
    Path(nip): Path<String>,
    Form(f): Form<StatusForm>,
) -> Response {
    let r = async {
        v.check_csrf(&f.csrf)?;
        crate::officials::admin::set_status(&node, &v.official, v.client.clone(), &nip, &f.status)
            .await?;
        Ok::<_, Error>(Redirect::to("/ui/admin#off-title").into_response())
    }
    .await;
    respond(&v, r)
}

/// `POST /ui/admin/applications/{id}/status`: an application suspended (its next call is
/// refused) or active again.
pub(super) async fn set_application_status(
    State(node): State<App>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<StatusForm>,
) -> Response {
    let r = async {
        v.check_csrf(&f.csrf)?;
        crate::officials::application_admin::set_status(
            &node,
            crate::officials::application_admin::By::Admin(&v.official),
            v.client.clone(),
            &id,
            &f.status,
        )
        .await?;
        Ok::<_, Error>(Redirect::to("/ui/admin#app-title").into_response())
    }
    .await;
    respond(&v, r)
}

/// The unseal page: how far the unsealing is, a custodian's form for one share, and why the
/// last share was refused (said on the answer to it, never carried in a link).
fn unseal_page(l: Lang, node: &Node, refused: Option<&str>) -> Markup {
    let p = node.keystore.progress();
    let body = html! {
        h1 { (l.t("Membuka segel simpul", "Unsealing the node")) }
        @if let Some(e) = refused { p.alert role="alert" { (l.t("Bagian kunci ditolak: ", "The share was refused: ")) (e) } }
        @if p.unsealed {
            p.notice role="status" { (l.t("Simpul terbuka: kunci tersedia.", "The node is unsealed: its keys are available.")) }
            p { a href="/ui/login" { (l.t("Masuk", "Log in")) } }
        } @else {
            p role="status" { (l.t("Tersegel. Bagian kunci diterima: ", "Sealed. Shares received: ")) (p.provided) " / " (p.threshold) }
            form.card.unseal method="post" action="/ui/unseal" {
                label for="share" { (l.t("Bagian kunci Anda (sandi-share-v1.…), seperti dicetak keymgr", "Your share (sandi-share-v1.…), as keymgr printed it")) }
                textarea id="share" name="share" rows="4" maxlength="8192" autocomplete="off" spellcheck="false" required {}
                button type="submit" { (l.t("Serahkan bagian kunci", "Submit the share")) }
            }
            p { (l.t("Setiap pemegang kunci menyerahkan bagiannya sendiri; bagian tidak pernah disimpan.", "Each custodian submits their own share; shares are never stored.")) }
        }
    };
    page::frame(l, None, l.t("Buka segel", "Unseal"), "/ui/unseal", &body)
}

/// `GET /ui/unseal` (no login: a sealed node has none).
pub(super) async fn unseal_get(State(node): State<App>, Anonymous(l): Anonymous) -> Response {
    page::ok(unseal_page(l, &node, None))
}

#[derive(Deserialize)]
pub(super) struct UnsealForm {
    share: String,
}

/// `POST /ui/unseal`: one custodian's share; the node opens when enough have come. A refused
/// share is answered with why, never with what it was.
pub(super) async fn unseal(
    State(node): State<App>,
    Anonymous(l): Anonymous,
    Form(f): Form<UnsealForm>,
) -> Response {
    let share = Zeroizing::new(f.share);
    // Open already: nothing is parsed, nothing said about the share.
    if !node.is_sealed() {
        return Redirect::to("/ui/unseal").into_response();
    }
    let outcome = hsm_shim::CustodianShare::parse(share.trim())
        .map_err(|e| e.to_string())
        .and_then(|s| node.keystore.submit_share(s).map_err(|e| e.to_string()));
    match outcome {
        Ok(p) if p.unsealed => match node.after_unseal() {
            Ok(()) => {
                tracing::info!("keystore unsealed from the web page");
                Redirect::to("/ui/unseal").into_response()
            }
            Err(e) => {
                tracing::error!("after unsealing: {e}");
                page::error(l, None, &e)
            }
        },
        Ok(_) => Redirect::to("/ui/unseal").into_response(),
        // Why stays with the operator: to an anonymous caller it would name the keystore, its
        // kind or its files.
        Err(why) => {
            tracing::debug!("a share submitted on the unseal page was refused: {why}");
            let said = l.t(
                "bukan bagian kunci yang sah untuk simpul ini",
                "not a valid share for this node",
            );
            let mut resp = page::ok(unseal_page(l, &node, Some(said)));
            *resp.status_mut() = axum::http::StatusCode::BAD_REQUEST;
            resp
        }
    }
}

/// `GET /ui/retention`: the persandian officer's list of letters past their retention, each
/// with its destruction form (a reason and the PIN); numbers, levels and dates, no perihal.
pub(super) async fn retention(State(node): State<App>, v: Viewer) -> Response {
    let r = async {
        let l = v.lang;
        let due = lifecycle::past_retention(&node, &v.caller()).await?;
        let body = html! {
            h1 { (l.t("Retensi arsip", "Records retention")) }
            p { (l.t("Surat yang masa retensinya telah berakhir dan masih disimpan simpul ini. Pemusnahan ditandatangani dengan PIN sebagai berita acara.",
                     "Letters whose retention has ended and which this node still holds. A destruction is signed with the PIN as its record.")) }
            @if due.is_empty() { p { (l.t("Tidak ada surat yang habis masa retensinya.", "No letter is past its retention.")) } }
            @else { table.letters.retention {
                thead { tr {
                    th scope="col" { (l.t("Nomor", "Number")) } th scope="col" { (l.t("Sifat", "Classification")) }
                    th scope="col" { (l.t("Instansi", "Agency")) } th scope="col" { (l.t("Disimpan", "Stored")) }
                    th scope="col" { (l.t("Retensi berakhir", "Retention ended")) } th scope="col" { (l.t("Pemusnahan", "Destruction")) }
                } }
                tbody { @for d in &due { tr {
                    td { (d.nomor) } td { (d.classification.as_str()) } td { (d.agency) }
                    td { (d.stored_at.get(..10).unwrap_or(&d.stored_at)) } td { (d.retention_ended) }
                    td { form.destroy method="post" action=(format!("/ui/letters/{}/destroy", d.id)) {
                        input type="hidden" name="csrf" value=(v.session.csrf);
                        label for=(format!("r-{}", d.id)) { (l.t("Alasan", "Reason")) }
                        input id=(format!("r-{}", d.id)) name="reason" maxlength="1000" required;
                        label for=(format!("p-{}", d.id)) { "PIN" }
                        input id=(format!("p-{}", d.id)) name="pin" type="password" inputmode="numeric" autocomplete="off" required;
                        button.danger type="submit" { (l.t("Musnahkan", "Destroy")) }
                    } }
                } } }
            } }
        };
        Ok::<_, Error>(page::ok(page::frame(
            l,
            Some(&v),
            l.t("Retensi", "Retention"),
            "/ui/retention",
            &body,
        )))
    }
    .await;
    respond(&v, r)
}
