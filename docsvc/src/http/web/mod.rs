//! The officials' web UI: pages rendered on the server (maud) and served over the node's own
//! TLS, in Bahasa Indonesia with English. The pages use the API's session cookie, CSRF token
//! and PIN step-up, and reach letters only through the same checks and the same access log as
//! the API, so the browser can do nothing the API would refuse. JavaScript is one small file
//! of our own (the compose page's upload with progress, the print button); no build step.

mod admin;
mod admin_forms;
mod delegations;
mod disposition;
mod drafts;
mod enrol;
mod i18n;
mod letters;
mod manage;
mod mandates;
mod page;
mod read;
mod registers;
mod thread;
mod verify;

use std::fmt::Write as _;

use axum::Router;
use axum::extract::{Form, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::Error;
use crate::http::App;
use crate::http::actor::{Actor, Conn, SESSION_COOKIE, SignedIn, cookie, session_cookie};
use crate::officials::credentials;
use crate::officials::session;
pub use i18n::Lang;

/// The language cookie; Indonesian unless it says `en`.
const LANG_COOKIE: &str = "sandi_lang";

/// The UI's routes, merged into the node's router.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/inbox") }))
        .route("/ui", get(|| async { Redirect::to("/ui/inbox") }))
        .route("/ui/", get(|| async { Redirect::to("/ui/inbox") }))
        .route("/ui/login", get(login_page).post(login_submit))
        // Public, no login: where the QR codes on signed letters lead.
        .route(
            "/verifikasi",
            get(verify::start).post(verify::upload).layer(
                // A PDF and its form, bounded before the form is read at all.
                axum::extract::DefaultBodyLimit::max(
                    crate::letters::verification::MAX_PDF + 64 * 1024,
                ),
            ),
        )
        .route("/verifikasi/{token}", get(verify::token))
        .route("/ui/logout", post(logout))
        .route("/ui/lang/{lang}", get(set_lang))
        .route("/ui/step-up", post(step_up))
        .route(
            "/ui/enrol",
            get(enrol::enrol_page).post(enrol::enrol_submit),
        )
        .route("/ui/account", get(enrol::account))
        .route("/ui/account/password", post(enrol::change_password))
        .route("/ui/account/pin", post(enrol::change_pin))
        .route("/ui/admin/officials", post(admin_forms::register_official))
        .route(
            "/ui/admin/officials/{nip}/reset",
            post(admin_forms::reset_official),
        )
        .route(
            "/ui/admin/applications",
            post(admin_forms::register_application),
        )
        .route(
            "/ui/admin/applications/{id}/certificates",
            post(admin_forms::install_application),
        )
        .route(
            "/ui/static/sandi.css",
            get(|| async { asset("text/css", STYLE) }),
        )
        .route(
            "/ui/static/sandi.js",
            get(|| async { asset("text/javascript", SCRIPT) }),
        )
        .route("/ui/static/levels.css", get(levels_css))
        .route("/ui/inbox", get(letters::inbox))
        .route("/ui/outbox", get(letters::outbox))
        .route("/ui/approvals", get(letters::approvals))
        .route("/ui/compose", get(letters::compose))
        .route("/ui/letters/{id}", get(read::read))
        .route("/ui/letters/{id}/approve", post(letters::approve))
        .route("/ui/letters/{id}/copies", post(letters::copy))
        .route("/ui/admin", get(admin::admin))
        .route(
            "/ui/delegations",
            get(delegations::list).post(delegations::grant),
        )
        .route("/ui/delegations/{id}/revoke", post(delegations::revoke))
        .route("/ui/mandates", get(mandates::list).post(mandates::grant))
        .route("/ui/unseal", get(manage::unseal_get).post(manage::unseal))
        .route("/ui/retention", get(manage::retention))
        .route("/ui/letters/{id}/{step}", post(manage::letter_step))
        .route("/ui/admin/outbox/retry", post(manage::retry))
        .route("/ui/admin/officials/{nip}/status", post(manage::set_status))
        .route(
            "/ui/admin/applications/{id}/status",
            post(manage::set_application_status),
        )
        .route("/ui/mandates/{id}/revoke", post(mandates::revoke))
        .route("/ui/audit", get(admin::audit))
        .route("/ui/registers", get(registers::registers))
        .route("/ui/dispositions", get(disposition::list))
        .route("/ui/drafts", get(drafts::list).post(drafts::create))
        .route("/ui/drafts/new", get(drafts::new))
        .route("/ui/drafts/{id}", get(drafts::show))
        .route("/ui/drafts/{id}/{step}", post(drafts::step))
        .route("/ui/letters/{id}/dispositions", post(disposition::give))
        .route("/ui/dispositions/{id}/reports", post(disposition::report))
        .layer(middleware::from_fn(headers))
}

const STYLE: &str = include_str!("sandi.css");
const SCRIPT: &str = include_str!("sandi.js");

fn asset(media: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, media),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// Every page: no caching of what a page showed, no framing by others, scripts and styles
/// only from this node (the content of letters is framed by our own read page only).
async fn headers(req: axum::extract::Request, next: Next) -> Response {
    // A form posted from another site is refused outright (login CSRF included); browsers
    // say where a request comes from in Sec-Fetch-Site.
    let cross_site = req.method() == axum::http::Method::POST
        && req
            .headers()
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v != "same-origin" && v != "none");
    if cross_site {
        return (StatusCode::FORBIDDEN, "cross-site form refused").into_response();
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             object-src 'self'; frame-src 'self'; frame-ancestors 'none'; form-action 'self'; \
             base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

/// The colour of each classification's banner, from the handling table, with a text colour
/// that keeps contrast (WCAG) on it.
async fn levels_css(State(node): State<App>) -> Response {
    let policy = node.policy.current();
    let mut css = String::new();
    for level in policies::Level::ALL {
        let h = policy.handling().get(level);
        let text = i18n::text_on(&h.colour);
        let _ = writeln!(
            css,
            ".lvl-{l}{{background:{c};color:{text}}}.lvl-{l}-edge{{border-left:0.4rem solid {c}}}",
            l = level.as_str(),
            c = h.colour,
        );
    }
    (
        [
            (header::CONTENT_TYPE, "text/css"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        css,
    )
        .into_response()
}

/// The caller's language: the cookie, else Indonesian.
fn lang_of(parts: &Parts) -> Lang {
    match cookie(&parts.headers, LANG_COOKIE).as_deref() {
        Some("en") => Lang::En,
        _ => Lang::Id,
    }
}

/// A page request without a session: the login page, in the caller's language.
#[derive(Debug)]
pub struct Anonymous(pub Lang);

impl FromRequestParts<App> for Anonymous {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &App) -> Result<Self, Self::Rejection> {
        Ok(Anonymous(lang_of(parts)))
    }
}

/// An official looking at pages: the [`Actor`] of a valid session (else the login page), the
/// language and the page asked for. Forms check the CSRF token themselves
/// ([`Viewer::check_csrf`]), as their token travels in the form.
#[derive(Debug)]
pub struct Viewer {
    pub actor: Actor<SignedIn>,
    pub lang: Lang,
    /// The page asked for (path and query): where the language switch comes back to.
    pub path: String,
    /// Unread letters, approvals, disposisi and drafts waiting for the viewer: the counts on
    /// every page.
    pub waiting: (i64, i64, i64, i64),
}

impl std::ops::Deref for Viewer {
    type Target = Actor<SignedIn>;

    fn deref(&self) -> &Actor<SignedIn> {
        &self.actor
    }
}

impl Viewer {
    fn check_csrf(&self, presented: &str) -> Result<(), Error> {
        if session::csrf_ok(&self.session, presented) {
            Ok(())
        } else {
            Err(Error::Forbidden {
                alasan:
                    "ditolak: formulir kedaluwarsa atau bukan dari halaman ini; muat ulang halaman"
                        .into(),
                reason: "denied: the form expired or did not come from this page; reload the page"
                    .into(),
                policies: vec![],
            })
        }
    }
}

impl FromRequestParts<App> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, node: &App) -> Result<Self, Response> {
        let lang = lang_of(parts);
        let to_login = || {
            let next = parts
                .uri
                .path_and_query()
                .map_or("/ui/inbox", axum::http::uri::PathAndQuery::as_str);
            Redirect::to(&format!(
                "/ui/login?next={}",
                crate::http::query_escape(next)
            ))
            .into_response()
        };
        match Actor::by_session(parts, node).await {
            Ok(actor) => Ok(Viewer {
                // A count that cannot be read is left out, not a failed page.
                waiting: if node.is_sealed() {
                    (0, 0, 0, 0)
                } else {
                    let (unread, approvals) =
                        crate::letters::documents::waiting(node, &actor.official)
                            .await
                            .unwrap_or((0, 0));
                    let disposisi = crate::letters::disposition::waiting(node, &actor.official.nip)
                        .await
                        .unwrap_or(0);
                    let drafts = crate::letters::draft::waiting(node, &actor.official)
                        .await
                        .unwrap_or(0);
                    (unread, approvals, disposisi, drafts)
                },
                actor,
                lang,
                path: parts
                    .uri
                    .path_and_query()
                    .map_or_else(|| "/ui/inbox".into(), |p| p.as_str().to_owned()),
            }),
            Err(Error::Unauthenticated(_)) => Err(to_login()),
            Err(e) => Err(page::error(lang, None, &e)),
        }
    }
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
    failed: Option<String>,
}

/// Only our own pages as a place to return to: never another site.
fn local(next: Option<&str>) -> String {
    match next {
        Some(n)
            if (n.starts_with("/ui/") || n == "/verifikasi" || n.starts_with("/verifikasi/"))
                && !n.contains('\\') =>
        {
            n.into()
        }
        _ => "/ui/inbox".into(),
    }
}

async fn login_page(
    State(node): State<App>,
    Anonymous(lang): Anonymous,
    Query(q): Query<NextQuery>,
) -> Response {
    page::login(
        lang,
        &local(q.next.as_deref()),
        q.failed.is_some(),
        node.is_sealed(),
    )
}

#[derive(Deserialize)]
struct LoginForm {
    nip: String,
    password: String,
    next: Option<String>,
}

async fn login_submit(
    State(node): State<App>,
    Anonymous(lang): Anonymous,
    conn: Option<axum::Extension<Conn>>,
    Form(f): Form<LoginForm>,
) -> Response {
    let password = zeroize::Zeroizing::new(f.password);
    let next = local(f.next.as_deref());
    let client = conn.map(|c| c.peer.ip().to_string());
    if node.is_sealed() {
        return page::error(lang, None, &Error::Sealed);
    }
    if let Err(e) = crate::http::limits::check_nip(&f.nip) {
        return page::error(lang, None, &e);
    }
    let logged_in = credentials::log_in(&node, &f.nip, &password, client, "logged in (web)").await;
    let token = match logged_in {
        Ok(Ok(l)) => l.token,
        Ok(Err(_)) => {
            return Redirect::to(&format!(
                "/ui/login?failed=1&next={}",
                crate::http::query_escape(&next)
            ))
            .into_response();
        }
        Err(e) => return page::error(lang, None, &e),
    };
    let mut resp = Redirect::to(&next).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&token, node.config.session_minutes * 60),
    );
    resp
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(node): State<App>,
    v: Viewer,
    parts: axum::http::HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(e) = v.check_csrf(&f.csrf) {
        return page::error(v.lang, Some(&v), &e);
    }
    if let Some(token) = cookie(&parts, SESSION_COOKIE) {
        if let Err(e) = session::end(&node.store, &token).await {
            return page::error(v.lang, Some(&v), &e);
        }
    }
    let mut resp = Redirect::to("/ui/login").into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie("", 0));
    resp
}

async fn set_lang(Path(lang): Path<String>, Query(q): Query<NextQuery>) -> Response {
    let value = if lang == "en" { "en" } else { "id" };
    let mut resp = Redirect::to(&local(q.next.as_deref())).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{LANG_COOKIE}={value}; Secure; SameSite=Strict; Path=/; Max-Age=31536000"
    )) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

#[derive(Deserialize)]
struct StepUpForm {
    csrf: String,
    pin: String,
    next: Option<String>,
}

/// The PIN asked for by a page (to open a letter whose level needs it): accepted for five
/// minutes, as over the API; a wrong PIN is logged and said so.
async fn step_up(State(node): State<App>, v: Viewer, Form(f): Form<StepUpForm>) -> Response {
    let pin = zeroize::Zeroizing::new(f.pin);
    let next = local(f.next.as_deref());
    if let Err(e) = v.check_csrf(&f.csrf) {
        return page::error(v.lang, Some(&v), &e);
    }
    match pin_ok(&node, &v, &pin).await {
        Ok(true) => Redirect::to(&next).into_response(),
        Ok(false) => {
            let sep = if next.contains('?') { '&' } else { '?' };
            Redirect::to(&format!("{next}{sep}pin=wrong")).into_response()
        }
        Err(e) => page::error(v.lang, Some(&v), &e),
    }
}

/// Checks the PIN and steps the session up; a wrong PIN is logged.
async fn pin_ok(node: &App, v: &Viewer, pin: &str) -> Result<bool, Error> {
    let until = credentials::step_up(node, &v.official.nip, &v.session, pin, v.client.clone());
    Ok(until.await?.is_some())
}

/// A page's answer: the page, or the error page in the viewer's language.
fn respond(v: &Viewer, r: Result<Response, Error>) -> Response {
    r.unwrap_or_else(|e| page::error(v.lang, Some(v), &e))
}

/// Pages of the UI answer with these statuses on errors; the API answers problem documents.
fn status_of(e: &Error) -> StatusCode {
    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
