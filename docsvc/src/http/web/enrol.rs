//! An official's own secrets in the browser: the enrolment page (NIP and one-time code, then
//! the password and signing PIN they choose) and the account page (changing either with the
//! current one). The same service, checks, counting and log entries as the API.

use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{Anonymous, Lang, Viewer, page, respond};
use crate::Error;
use crate::http::App;
use crate::http::actor::Conn;
use crate::officials::enrolment;
use crate::officials::lockout::Secret;

#[derive(Deserialize, Default)]
pub(super) struct Outcome {
    failed: Option<String>,
    done: Option<String>,
    wrong: Option<String>,
}

/// The rules a new password and PIN keep, as officials read them.
fn rules(l: Lang) -> Markup {
    html! {
        p.hint { (l.t(
            "Kata sandi minimal 10 karakter. PIN tanda tangan 6 sampai 32 angka dan tidak sama dengan kata sandi. Jangan beri tahu siapa pun, termasuk admin.",
            "A password has at least 10 characters. The signing PIN is 6 to 32 digits and differs from the password. Tell no one, administrators included."
        )) }
    }
}

pub(super) async fn enrol_page(
    State(node): State<App>,
    Anonymous(lang): Anonymous,
    Query(q): Query<Outcome>,
) -> Response {
    let l = lang;
    let body = html! {
        section.card.narrow {
            h1 { (l.t("Pendaftaran pejabat", "Official's enrolment")) }
            @if node.is_sealed() {
                p.alert role="alert" { (l.t("Simpul ini masih tersegel.", "This node is still sealed.")) }
            }
            @if q.failed.is_some() {
                p.alert role="alert" { (l.t(
                    "NIP atau kode pendaftaran salah, atau kode sudah dipakai atau kedaluwarsa. Minta kode baru kepada admin.",
                    "Wrong NIP or enrolment code, or the code was used or has expired. Ask an administrator for a new code."
                )) }
            }
            p { (l.t(
                "Masukkan NIP dan kode pendaftaran dari admin, lalu tentukan kata sandi dan PIN tanda tangan Anda sendiri. Kode hanya berlaku sekali.",
                "Enter your NIP and the enrolment code an administrator gave you, then choose your own password and signing PIN. The code works once."
            )) }
            (rules(l))
            form method="post" action="/ui/enrol" {
                label for="nip" { "NIP" }
                input id="nip" name="nip" inputmode="numeric" autocomplete="username" required
                    pattern="[0-9]{18}" title=(l.t("18 angka", "18 digits"));
                label for="code" { (l.t("Kode pendaftaran", "Enrolment code")) }
                input id="code" name="code" autocomplete="off" required maxlength="64";
                label for="password" { (l.t("Kata sandi baru", "New password")) }
                input id="password" name="password" type="password" autocomplete="new-password" required minlength="10";
                label for="password2" { (l.t("Ulangi kata sandi", "Repeat the password")) }
                input id="password2" name="password2" type="password" autocomplete="new-password" required minlength="10";
                label for="pin" { (l.t("PIN tanda tangan baru", "New signing PIN")) }
                input id="pin" name="pin" type="password" inputmode="numeric" autocomplete="off" required pattern="[0-9]{6,32}";
                label for="pin2" { (l.t("Ulangi PIN", "Repeat the PIN")) }
                input id="pin2" name="pin2" type="password" inputmode="numeric" autocomplete="off" required pattern="[0-9]{6,32}";
                button type="submit" { (l.t("Daftar", "Enrol")) }
            }
        }
    };
    page::ok(page::frame(
        l,
        None,
        l.t("Pendaftaran", "Enrolment"),
        "/ui/enrol",
        &body,
    ))
}

#[derive(Deserialize)]
pub(super) struct EnrolForm {
    nip: String,
    code: String,
    password: String,
    password2: String,
    pin: String,
    pin2: String,
}

/// The two entries of a new secret agree.
fn repeated(l: Lang, a: &str, b: &str, what: &'static str) -> Result<(), Error> {
    if bool::from(subtle::ConstantTimeEq::ct_eq(a.as_bytes(), b.as_bytes())) {
        Ok(())
    } else {
        Err(Error::invalid(
            what,
            match what {
                "pin" => l.t("Kedua PIN tidak sama.", "The two PINs differ."),
                _ => l.t("Kedua kata sandi tidak sama.", "The two passwords differ."),
            },
        ))
    }
}

pub(super) async fn enrol_submit(
    State(node): State<App>,
    Anonymous(lang): Anonymous,
    conn: Option<axum::Extension<Conn>>,
    Form(f): Form<EnrolForm>,
) -> Response {
    let (code, password, password2, pin, pin2) = (
        Zeroizing::new(f.code),
        Zeroizing::new(f.password),
        Zeroizing::new(f.password2),
        Zeroizing::new(f.pin),
        Zeroizing::new(f.pin2),
    );
    let client = conn.map(|c| c.peer.ip().to_string());
    let r = async {
        crate::http::limits::check_nip(&f.nip)?;
        repeated(lang, &password, &password2, "password")?;
        repeated(lang, &pin, &pin2, "pin")?;
        enrolment::enrol(&node, &f.nip, &code, &password, &pin, client).await
    }
    .await;
    match r {
        Ok(()) => {
            let l = lang;
            let body = html! {
                section.card.narrow {
                    h1 { (l.t("Pendaftaran selesai", "Enrolment complete")) }
                    p role="status" { (l.t(
                        "Kata sandi dan PIN Anda telah disimpan. Silakan masuk dengan kata sandi baru.",
                        "Your password and PIN are set. Log in with your new password."
                    )) }
                    p { a href="/ui/login" { (l.t("Masuk", "Log in")) } }
                }
            };
            page::ok(page::frame(
                l,
                None,
                l.t("Pendaftaran", "Enrolment"),
                "/ui/enrol",
                &body,
            ))
        }
        Err(Error::Unauthenticated(_)) => Redirect::to("/ui/enrol?failed=1").into_response(),
        Err(e) => page::error(lang, None, &e),
    }
}

pub(super) async fn account(v: Viewer, Query(q): Query<Outcome>) -> Response {
    let l = v.lang;
    let form = |action: &str, what: &str, current: &str, new: &str, pin: bool| {
        html! {
            form method="post" action=(action) {
                input type="hidden" name="csrf" value=(v.session.csrf);
                h2 { (what) }
                label { (current)
                    @if pin { input name="current" type="password" inputmode="numeric" autocomplete="off" required; }
                    @else { input name="current" type="password" autocomplete="current-password" required; }
                }
                label { (new)
                    @if pin { input name="new" type="password" inputmode="numeric" autocomplete="off" required pattern="[0-9]{6,32}"; }
                    @else { input name="new" type="password" autocomplete="new-password" required minlength="10"; }
                }
                label { (l.t("Ulangi", "Repeat"))
                    @if pin { input name="new2" type="password" inputmode="numeric" autocomplete="off" required pattern="[0-9]{6,32}"; }
                    @else { input name="new2" type="password" autocomplete="new-password" required minlength="10"; }
                }
                button type="submit" { (l.t("Ubah", "Change")) }
            }
        }
    };
    let body = html! {
        h1 { (l.t("Akun saya", "My account")) }
        @if let Some(done) = &q.done {
            p.verified role="status" { @if done == "pin" { (l.t("PIN tanda tangan telah diubah.", "The signing PIN was changed.")) }
                @else { (l.t("Kata sandi telah diubah.", "The password was changed.")) } }
        }
        @if let Some(wrong) = &q.wrong {
            p.alert role="alert" { @if wrong == "pin" { (l.t("PIN saat ini salah.", "The current PIN is wrong.")) }
                @else { (l.t("Kata sandi saat ini salah.", "The current password is wrong.")) } }
        }
        (rules(l))
        section.card { (form("/ui/account/password", l.t("Kata sandi", "Password"),
            l.t("Kata sandi saat ini", "Current password"), l.t("Kata sandi baru", "New password"), false)) }
        section.card { (form("/ui/account/pin", l.t("PIN tanda tangan", "Signing PIN"),
            l.t("PIN saat ini", "Current PIN"), l.t("PIN baru", "New PIN"), true)) }
    };
    page::ok(page::frame(
        l,
        Some(&v),
        l.t("Akun saya", "My account"),
        "/ui/account",
        &body,
    ))
}

#[derive(Deserialize)]
pub(super) struct ChangeForm {
    csrf: String,
    current: String,
    new: String,
    new2: String,
}

async fn change(node: &App, v: &Viewer, which: Secret, f: ChangeForm) -> Response {
    let (current, new, new2) = (
        Zeroizing::new(f.current),
        Zeroizing::new(f.new),
        Zeroizing::new(f.new2),
    );
    let what = if which == Secret::Pin {
        "pin"
    } else {
        "password"
    };
    let r = async {
        v.check_csrf(&f.csrf)?;
        repeated(v.lang, &new, &new2, what)?;
        enrolment::change(
            node,
            &v.official.nip,
            which,
            &current,
            &new,
            v.client.clone(),
        )
        .await
    }
    .await;
    match r {
        Ok(()) => Redirect::to(&format!("/ui/account?done={what}")).into_response(),
        Err(Error::Unauthenticated(_)) => {
            Redirect::to(&format!("/ui/account?wrong={what}")).into_response()
        }
        Err(e) => respond(v, Err(e)),
    }
}

pub(super) async fn change_password(
    State(node): State<App>,
    v: Viewer,
    Form(f): Form<ChangeForm>,
) -> Response {
    change(&node, &v, Secret::Password, f).await
}

pub(super) async fn change_pin(
    State(node): State<App>,
    v: Viewer,
    Form(f): Form<ChangeForm>,
) -> Response {
    change(&node, &v, Secret::Pin, f).await
}
