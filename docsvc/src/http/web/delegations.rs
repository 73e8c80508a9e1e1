//! The official's own delegations: which applications may sign with their key, up to what and
//! until when; granted here with the PIN, revoked with one click. See [`crate::officials::delegation`].

use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::{Viewer, page, pin_ok, respond};
use crate::Error;
use crate::http::App;
use crate::officials::Caller;
use crate::officials::delegation::{self, Grant};

pub(super) async fn list(State(node): State<App>, v: Viewer) -> Response {
    let r = async {
        let l = v.lang;
        let mine = delegation::list(&node, &v.official.nip).await?;
        let body = html! {
            h1 { (l.t("Delegasi tanda tangan", "Signing delegations")) }
            p { (l.t("Aplikasi hanya menandatangani atas nama Anda selama delegasi Anda berlaku.",
                     "An application signs in your name only while a delegation you granted runs.")) }
            section.card aria-labelledby="del-list" {
                h2 #del-list { (l.t("Delegasi Anda", "Your delegations")) }
                @if mine.is_empty() { p { (l.t("Belum ada delegasi.", "No delegations yet.")) } }
                @else { table.letters {
                    thead { tr {
                        th scope="col" { (l.t("Aplikasi", "Application")) }
                        th scope="col" { (l.t("Sampai klasifikasi", "Up to")) }
                        th scope="col" { (l.t("Berlaku sampai", "Expires")) }
                        th scope="col" { (l.t("Status", "Status")) } th scope="col" { "" }
                    } }
                    tbody { @for d in &mine { tr {
                        td { (d.application_id) } td { (d.max_classification.as_str()) } td { (d.expires_at) }
                        td { @if d.active { (l.t("Aktif", "Active")) } @else if d.revoked_at.is_some() { (l.t("Dicabut", "Revoked")) } @else { (l.t("Berakhir", "Expired")) } }
                        td { @if d.active {
                            form method="post" action=(format!("/ui/delegations/{}/revoke", d.id)) {
                                input type="hidden" name="csrf" value=(v.session.csrf);
                                button type="submit" { (l.t("Cabut", "Revoke")) }
                            }
                        } }
                    } } }
                } }
            }
            section.card aria-labelledby="del-new" {
                h2 #del-new { (l.t("Delegasi baru", "New delegation")) }
                form method="post" action="/ui/delegations" {
                    input type="hidden" name="csrf" value=(v.session.csrf);
                    label { (l.t("Aplikasi", "Application")) input name="application_id" required; }
                    label { (l.t("Sampai klasifikasi", "Up to")) select name="max_classification" {
                        @for lvl in ["biasa", "terbatas", "rahasia", "sangat_rahasia"] { option value=(lvl) { (lvl) } }
                    } }
                    label { (l.t("Lama (hari)", "Days")) input name="days" type="number" min="1" max="366" value="30" required; }
                    label { "PIN" input name="pin" type="password" inputmode="numeric" autocomplete="off" required; }
                    button type="submit" { (l.t("Delegasikan", "Delegate")) }
                }
            }
        };
        Ok::<_, Error>(page::ok(page::frame(
            l,
            Some(&v),
            l.t("Delegasi", "Delegations"),
            "/ui/delegations",
            &body,
        )))
    }
    .await;
    respond(&v, r)
}

#[derive(Deserialize)]
pub(super) struct GrantForm {
    csrf: String,
    application_id: String,
    max_classification: policies::Level,
    days: i64,
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
            return Ok(Redirect::to("/ui/delegations?pin=wrong").into_response());
        }
        let caller = Caller {
            stepped_up: true,
            ..v.caller()
        };
        let g = Grant {
            application_id: f.application_id,
            max_classification: f.max_classification,
            days: f.days,
        };
        delegation::grant(&node, &caller, &g).await?;
        Ok::<_, Error>(Redirect::to("/ui/delegations").into_response())
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
        delegation::revoke(&node, &v.caller(), &id).await?;
        Ok::<_, Error>(Redirect::to("/ui/delegations").into_response())
    }
    .await;
    respond(&v, r)
}
