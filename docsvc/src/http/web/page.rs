//! The page frame (header, navigation, language switch), the login page and error pages.

use axum::response::{IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, html};

use super::{Lang, Viewer, status_of};
use crate::Error;

/// A whole page around `body`, for a logged-in official or (None) the login page.
pub(super) fn frame(
    lang: Lang,
    v: Option<&Viewer>,
    title: &str,
    here: &str,
    body: &Markup,
) -> Markup {
    let l = lang;
    html! {
        (DOCTYPE)
        html lang=(l.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(v) = v { meta name="csrf-token" content=(v.session.csrf); }
                title { (title) " · sandi" }
                link rel="stylesheet" href="/ui/static/sandi.css";
                link rel="stylesheet" href="/ui/static/levels.css";
                script src="/ui/static/sandi.js" defer {}
            }
            body {
                a.skip href="#main" { (l.t("Lompat ke isi", "Skip to content")) }
                header.top {
                    a.brand href="/ui/inbox" { "sandi" }
                    @if let Some(v) = v {
                        nav aria-label=(l.t("Menu utama", "Main menu")) {
                            (counted("/ui/inbox", l.t("Kotak masuk", "Inbox"), here, v.waiting.0, l.t("belum dibaca", "unread")))
                            (link("/ui/outbox", l.t("Kotak keluar", "Outbox"), here))
                            (counted("/ui/dispositions", l.t("Disposisi", "Disposisi"), here, v.waiting.2, l.t("menunggu", "waiting")))
                            (link("/ui/compose", l.t("Tulis surat", "Write a letter"), here))
                            (counted("/ui/drafts", l.t("Konsep", "Drafts"), here, v.waiting.3, l.t("menunggu", "waiting")))
                            (link("/ui/mandates", l.t("Mandat", "Mandates"), here))
                            (link("/ui/delegations", l.t("Delegasi", "Delegations"), here))
                            (link("/ui/account", l.t("Akun", "Account"), here))
                            @if v.official.has_role("approver") {
                                (counted("/ui/approvals", l.t("Persetujuan", "Approvals"), here, v.waiting.1, l.t("menunggu", "waiting")))
                            }
                            @if v.official.has_role("admin") || v.official.has_role("pengelola_sandi") {
                                (link("/ui/admin", l.t("Administrasi", "Administration"), here))
                            }
                            @if v.official.has_role("pengelola_sandi") {
                                (link("/ui/retention", l.t("Retensi", "Retention"), here))
                            }
                            @if v.official.has_role("sekretaris") {
                                (link("/ui/registers", l.t("Register", "Registers"), here))
                            }
                            @if v.official.has_role("auditor") {
                                (link("/ui/audit", l.t("Log akses", "Access log"), here))
                            }
                        }
                    }
                    div.who {
                        @if let Some(v) = v {
                            span.me { (v.official.name) " · NIP " (v.official.nip) }
                        }
                        a.lang href=(format!("/ui/lang/{}?next={}", l.other().code(),
                            crate::http::query_escape(v.map_or(here, |v| v.path.as_str()))))
                            lang=(l.other().code()) {
                            (l.t("English", "Bahasa Indonesia"))
                        }
                        @if let Some(v) = v {
                            form.inline method="post" action="/ui/logout" {
                                input type="hidden" name="csrf" value=(v.session.csrf);
                                button.link type="submit" { (l.t("Keluar", "Log out")) }
                            }
                        }
                    }
                }
                main id="main" tabindex="-1" { (body) }
            }
        }
    }
}

fn link(href: &str, text: &str, here: &str) -> Markup {
    let current = here.starts_with(href);
    html! {
        a href=(href) aria-current=[current.then_some("page")] { (text) }
    }
}

/// A menu link with how many things wait there (none shown at zero).
fn counted(href: &str, text: &str, here: &str, n: i64, what: &str) -> Markup {
    let current = here.starts_with(href);
    html! {
        a href=(href) aria-current=[current.then_some("page")] {
            (text)
            @if n > 0 { " " span.badge-count { (n) span.sr { " " (what) } } }
        }
    }
}

/// The page as a response.
pub(super) fn ok(markup: Markup) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

pub(super) fn login(lang: Lang, next: &str, failed: bool, sealed: bool) -> Response {
    let l = lang;
    let body = html! {
        section.card.narrow {
            h1 { (l.t("Masuk", "Log in")) }
            @if sealed {
                p.alert role="alert" {
                    (l.t("Simpul ini masih tersegel: para pemegang kunci harus membukanya dahulu.",
                         "This node is still sealed: the key custodians must unseal it first."))
                }
            }
            @if failed {
                p.alert role="alert" {
                    (l.t("NIP atau kata sandi salah, atau akun tidak aktif.",
                         "Wrong NIP or password, or the account is not active."))
                }
            }
            form method="post" action="/ui/login" {
                input type="hidden" name="next" value=(next);
                label for="nip" { "NIP" }
                input id="nip" name="nip" inputmode="numeric" autocomplete="username" required
                    pattern="[0-9]{18}" title=(l.t("18 angka", "18 digits"));
                label for="password" { (l.t("Kata sandi", "Password")) }
                input id="password" name="password" type="password" autocomplete="current-password" required;
                button type="submit" { (l.t("Masuk", "Log in")) }
            }
            p { a href="/ui/enrol" { (l.t("Punya kode pendaftaran? Tentukan kata sandi dan PIN Anda",
                "Have an enrolment code? Set your password and PIN")) } }
        }
    };
    ok(frame(
        lang,
        None,
        l.t("Masuk", "Log in"),
        "/ui/login",
        &body,
    ))
}

/// An error as a page: a refusal with the policy's reason in the viewer's language, nothing
/// about the letter itself.
pub(super) fn error(lang: Lang, v: Option<&Viewer>, e: &Error) -> Response {
    if matches!(e, Error::Unauthenticated(_)) {
        return Redirect::to("/ui/login").into_response();
    }
    let l = lang;
    let (title, message): (&str, String) = match e {
        Error::Forbidden { alasan, reason, .. } => (
            l.t("Ditolak", "Refused"),
            match l {
                Lang::Id => alasan.clone(),
                Lang::En => reason.clone(),
            },
        ),
        Error::NotFound(_) => (
            l.t("Tidak ditemukan", "Not found"),
            l.t(
                "Surat atau halaman ini tidak ada, atau tidak ditujukan kepada Anda.",
                "This letter or page does not exist, or is not addressed to you.",
            )
            .into(),
        ),
        Error::Sealed => (
            l.t("Simpul tersegel", "Node sealed"),
            l.t(
                "Simpul ini tersegel: para pemegang kunci harus membukanya dahulu.",
                "This node is sealed: the key custodians must unseal it first.",
            )
            .into(),
        ),
        Error::Gone(_) => (
            l.t("Sudah dimusnahkan", "Destroyed"),
            l.t(
                "Surat ini telah dimusnahkan setelah masa retensinya.",
                "This letter was destroyed after its retention period.",
            )
            .into(),
        ),
        Error::InvalidInput { reason: why, .. } | Error::Conflict(why) | Error::Locked(why) => (l.t("Tidak dapat diproses", "Cannot be done"), why.clone()),
        Error::Integrity(_) => (
            l.t("Pemeriksaan keutuhan gagal", "Integrity check failed"),
            l.t(
                "Data surat ini gagal diperiksa; kejadian ini telah dicatat dan petugas diberi tahu.",
                "This letter's data failed its check; the incident is logged for the operators.",
            )
            .into(),
        ),
        _ => (
            l.t("Kesalahan", "Error"),
            l.t(
                "Terjadi kesalahan pada simpul; log operator memuat rinciannya.",
                "Something went wrong on the node; the operator's log has the details.",
            )
            .into(),
        ),
    };
    let body = html! {
        section.card.narrow {
            h1 { (title) }
            p.alert role="alert" { (message) }
            p { a href="/ui/inbox" { (l.t("Kembali ke kotak masuk", "Back to the inbox")) } }
        }
    };
    let mut resp = ok(frame(lang, v, title, "/ui/error", &body));
    *resp.status_mut() = status_of(e);
    crate::http::request_log::mark(&mut resp, e);
    resp
}
