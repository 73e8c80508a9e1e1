//! Mandates to sign on a head's behalf (a.n., Plt., Plh.): the head grants one here with the
//! PIN and revokes it with one click; the delegate sees what they hold. See
//! [`crate::letters::mandate`].

use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::i18n::Lang;
use super::{Viewer, page, pin_ok, respond};
use crate::Error;
use crate::http::App;
use crate::letters::mandate::{self, MandateView, NewMandate};
use crate::node::numbering::Day;
use crate::officials::Caller;

fn kind(l: Lang, k: &str) -> &'static str {
    match k {
        "an" => l.t("a.n. (atas nama)", "a.n. (on behalf of)"),
        "plt" => l.t("Plt. (pelaksana tugas)", "Plt. (acting head)"),
        _ => l.t("Plh. (pelaksana harian)", "Plh. (standing in for the day)"),
    }
}

fn state(l: Lang, m: &MandateView) -> &'static str {
    if m.active {
        l.t("Berlaku", "Running")
    } else if m.revoked_at.is_some() {
        l.t("Dicabut", "Revoked")
    } else {
        l.t("Tidak berlaku hari ini", "Not running today")
    }
}

fn table(v: &Viewer, rows: &[&MandateView], given: bool) -> Markup {
    let l = v.lang;
    html! {
        table.letters.mandates {
            thead { tr {
                th scope="col" { (l.t("Jenis", "Kind")) }
                th scope="col" { @if given { (l.t("Penerima mandat", "Delegate")) } @else { (l.t("Pemberi mandat", "Head")) } }
                th scope="col" { (l.t("Sampai klasifikasi", "Up to")) }
                th scope="col" { (l.t("Berlaku", "Runs")) }
                th scope="col" { (l.t("Status", "State")) }
                @if given { th scope="col" { span.sr { (l.t("Tindakan", "Action")) } } }
            } }
            tbody { @for m in rows { tr {
                td { (kind(l, &m.kind)) }
                td { @if given { (m.delegate_name) } @else { (m.grantor_name) " — " (m.grantor_position) } }
                td { (m.max_classification.as_str()) }
                td { (m.valid_from) " – " (m.valid_until) }
                td { (state(l, m)) }
                @if given { td { @if m.revoked_at.is_none() {
                    form method="post" action=(format!("/ui/mandates/{}/revoke", m.id)) {
                        input type="hidden" name="csrf" value=(v.session.csrf);
                        button.secondary type="submit" { (l.t("Cabut", "Revoke")) }
                    }
                } } }
            } } }
        }
    }
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    pin: Option<String>,
    #[serde(default)]
    granted: Option<String>,
}

pub(super) async fn list(
    State(node): State<App>,
    v: Viewer,
    Query(q): Query<ListQuery>,
) -> Response {
    let r = async {
        let l = v.lang;
        let me = &v.official;
        let all = mandate::list(&node, &me.nip).await?;
        let given: Vec<&MandateView> = all.iter().filter(|m| m.grantor == me.nip).collect();
        let held: Vec<&MandateView> = all.iter().filter(|m| m.delegate == me.nip).collect();
        let levels = crate::letters::documents::creatable(&node, me)?;
        let colleagues: Vec<_> = crate::officials::directory::list(&node.store)
            .await?
            .into_iter()
            .filter(|o| {
                o.agency == me.agency && o.nip != me.nip && o.status == policies::Status::Active
            })
            .collect();
        let today = Day::today().0;
        let week = today.saturating_add(time::Duration::days(7));
        let body = html! {
            h1 { (l.t("Mandat tanda tangan", "Signing mandates")) }
            p { (l.t("Dengan mandat, pejabat lain di instansi Anda menandatangani surat atas nama Anda (a.n.), sebagai Plt. atau sebagai Plh., sampai klasifikasi dan dalam hari yang Anda tetapkan. Blok tanda tangan surat menyebutnya, dan setiap penerima memeriksa mandat Anda.",
                     "With a mandate, another official of your agency signs letters on your behalf (a.n.), as Plt. or as Plh., up to the classification and on the days you set. The letter's signature block says so, and every recipient checks your mandate.")) }
            @if q.pin.as_deref() == Some("wrong") {
                p.alert role="alert" { (l.t("PIN salah: mandat tidak diberikan.", "Wrong PIN: no mandate was granted.")) }
            }
            @if q.granted.is_some() {
                p.notice role="status" { (l.t("Mandat ditandatangani dan berlaku pada harinya.", "The mandate is signed and runs on its days.")) }
            }
            section.card aria-labelledby="m-held" {
                h2 #m-held { (l.t("Mandat yang Anda pegang", "Mandates you hold")) }
                @if held.is_empty() { p { (l.t("Tidak ada.", "None.")) } } @else { (table(&v, &held, false)) }
            }
            section.card aria-labelledby="m-given" {
                h2 #m-given { (l.t("Mandat yang Anda berikan", "Mandates you gave")) }
                @if given.is_empty() { p { (l.t("Belum ada.", "None yet.")) } } @else { (table(&v, &given, true)) }
            }
            section.card aria-labelledby="m-new" {
                h2 #m-new { (l.t("Mandat baru", "New mandate")) }
                form.mandate method="post" action="/ui/mandates" {
                    input type="hidden" name="csrf" value=(v.session.csrf);
                    div.grid {
                        div { label for="m-delegate" { (l.t("Penerima mandat", "Delegate")) }
                            select id="m-delegate" name="delegate" required { @for o in &colleagues { option value=(o.nip) { (o.name) " — " (o.position) } } } }
                        div { label for="m-kind" { (l.t("Jenis", "Kind")) }
                            select id="m-kind" name="kind" { @for k in mandate::KINDS { option value=(k) { (kind(l, k)) } } } }
                        div { label for="m-level" { (l.t("Sampai klasifikasi", "Up to")) }
                            select id="m-level" name="max_classification" { @for lvl in &levels { option value=(lvl.as_str()) { (lvl.as_str()) } } } }
                        div { label for="m-from" { (l.t("Mulai", "From")) }
                            input id="m-from" name="valid_from" type="date" value=(today.to_string()) required; }
                        div { label for="m-until" { (l.t("Sampai", "Until")) }
                            input id="m-until" name="valid_until" type="date" value=(week.to_string()) required; }
                        div { label for="m-pin" { (l.t("PIN penandatanganan", "Signing PIN")) }
                            input id="m-pin" name="pin" type="password" inputmode="numeric" autocomplete="off" required; }
                    }
                    button type="submit" { (l.t("Tandatangani mandat", "Sign the mandate")) }
                }
            }
        };
        Ok::<_, Error>(page::ok(page::frame(
            l,
            Some(&v),
            l.t("Mandat", "Mandates"),
            "/ui/mandates",
            &body,
        )))
    }
    .await;
    respond(&v, r)
}

#[derive(Deserialize)]
pub(super) struct GrantForm {
    csrf: String,
    delegate: String,
    kind: String,
    max_classification: policies::Level,
    valid_from: String,
    valid_until: String,
    pin: String,
}

pub(super) async fn grant(
    State(node): State<App>,
    v: Viewer,
    Form(f): Form<GrantForm>,
) -> Response {
    let pin = zeroize::Zeroizing::new(f.pin);
    let r = async {
        v.check_csrf(&f.csrf)?;
        if !pin_ok(&node, &v, &pin).await? {
            return Ok(Redirect::to("/ui/mandates?pin=wrong").into_response());
        }
        let caller = Caller {
            stepped_up: true,
            ..v.caller()
        };
        let n = NewMandate {
            delegate: f.delegate,
            kind: f.kind,
            max_classification: f.max_classification,
            valid_from: f.valid_from,
            valid_until: f.valid_until,
        };
        mandate::grant(&node, &caller, &n).await?;
        Ok::<_, Error>(Redirect::to("/ui/mandates?granted=1").into_response())
    }
    .await;
    respond(&v, r)
}

#[derive(Deserialize)]
pub(super) struct RevokeForm {
    csrf: String,
}

pub(super) async fn revoke(
    State(node): State<App>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<RevokeForm>,
) -> Response {
    let r = async {
        v.check_csrf(&f.csrf)?;
        mandate::revoke(&node, &v.caller(), &id).await?;
        Ok::<_, Error>(Redirect::to("/ui/mandates").into_response())
    }
    .await;
    respond(&v, r)
}
