//! The public verification page (`/verifikasi`), no login: where a signed letter's QR code
//! leads, and an upload form for a PDF someone holds. It answers whether the signatures are
//! valid, by whom and when, never the content (see `letters::verification`); every answer is
//! logged and each client address is held to [`PER_MINUTE`] checks a minute.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::{Anonymous, Lang, page};
use crate::Error;
use crate::crypto::revocation::SignatureStatus;
use crate::http::App;
use crate::http::actor::Conn;
use crate::letters::verification::{self, Report};

/// Checks a minute from one client address.
pub(super) const PER_MINUTE: u32 = 30;
/// Addresses remembered at once; past this the window starts over for everyone.
const MAX_CLIENTS: usize = 100_000;

/// Checks per client address in the current minute.
static WINDOW: Mutex<Option<(Instant, HashMap<IpAddr, u32>)>> = Mutex::new(None);

/// Whether `ip` may have one more check this minute.
fn allowed(ip: Option<IpAddr>) -> bool {
    // Without an address (not over TCP) the caller is the node's own: in-process tests.
    let Some(ip) = ip else { return true };
    let mut w = WINDOW
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let now = Instant::now();
    let (start, counts) = w.get_or_insert_with(|| (now, HashMap::new()));
    if now.duration_since(*start) > Duration::from_secs(60) || counts.len() >= MAX_CLIENTS {
        *start = now;
        counts.clear();
    }
    let n = counts.entry(ip).or_insert(0);
    *n += 1;
    *n <= PER_MINUTE
}

fn too_many(l: Lang) -> Response {
    let body = html! {
        section.card.narrow {
            h1 { (l.t("Terlalu banyak pemeriksaan", "Too many checks")) }
            p.alert role="alert" { (l.t("Coba lagi dalam satu menit.", "Try again in a minute.")) }
        }
    };
    let mut r = shown(l, &body);
    *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    r
}

/// A verification page around `body`.
fn shown(l: Lang, body: &Markup) -> Response {
    page::ok(page::frame(
        l,
        None,
        l.t("Verifikasi", "Verification"),
        "/verifikasi",
        body,
    ))
}

fn form(l: Lang) -> Markup {
    html! {
        form.card method="post" action="/verifikasi" enctype="multipart/form-data" {
            h2 { (l.t("Periksa berkas PDF", "Check a PDF file")) }
            label for="pdf" { (l.t("Surat bertanda tangan (PDF)", "Signed letter (PDF)")) }
            input id="pdf" name="pdf" type="file" accept="application/pdf" required;
            button type="submit" { (l.t("Periksa", "Check")) }
        }
    }
}

fn certificate(l: Lang, s: &SignatureStatus) -> String {
    match (s, l) {
        (SignatureStatus::Valid, Lang::Id) => "sah pada saat penandatanganan".into(),
        (SignatureStatus::Valid, Lang::En) => "valid at the time of signing".into(),
        (SignatureStatus::RevokedAfterSigning { revoked_at, .. }, Lang::Id) => {
            format!("dicabut pada {revoked_at}, setelah penandatanganan: tanda tangan tetap sah")
        }
        (SignatureStatus::RevokedAfterSigning { revoked_at, .. }, Lang::En) => {
            format!("revoked at {revoked_at}, after signing: the signature stands")
        }
        (SignatureStatus::RevokedBeforeSigning { revoked_at, .. }, Lang::Id) => {
            format!("DICABUT pada {revoked_at}, sebelum penandatanganan")
        }
        (SignatureStatus::RevokedBeforeSigning { revoked_at, .. }, Lang::En) => {
            format!("REVOKED at {revoked_at}, before signing")
        }
    }
}

fn report_page(l: Lang, r: &Report) -> Response {
    let verdict = if r.valid {
        l.t(
            "SAH: tanda tangan elektronik pada surat ini sah dan surat tidak berubah sejak ditandatangani.",
            "VALID: the electronic signatures on this letter are valid and it is unchanged since it was signed.",
        )
    } else {
        l.t(
            "TIDAK SAH: surat ini tidak dapat dipercaya. Tanda tangannya tidak sah, atau surat telah diubah setelah ditandatangani.",
            "NOT VALID: do not trust this letter. Its signatures are not valid, or it was changed after it was signed.",
        )
    };
    let body = html! {
        h1 { (l.t("Verifikasi surat", "Letter verification")) }
        p.verdict.(if r.valid { "valid" } else { "invalid" }) role="status" id="verdict" { strong { (verdict) } }
        @if let Some(p) = &r.problem { p.detail { (l.t("Keterangan: ", "Detail: ")) (p) } }
        dl.card {
            @if let Some(level) = r.level {
                dt { (l.t("Sifat", "Classification")) }
                dd { span.level.(level.as_str()) { (level.as_str().replace('_', " ").to_uppercase()) } }
            }
            @if let Some(n) = &r.nomor { dt { (l.t("Nomor", "Number")) } dd { (n) } }
            @if let Some(p) = &r.perihal { dt { (l.t("Perihal", "Subject")) } dd { (p) } }
            @if let Some(d) = &r.dated { dt { (l.t("Tanggal", "Date")) } dd { (d) } }
            @if !r.sha256.is_empty() { dt { "SHA-256" } dd { code { (r.sha256) } } }
        }
        @for (i, s) in r.signers.iter().enumerate() {
            section.card.signer {
                h2 { (l.t("Tanda tangan", "Signature")) " " (i + 1) ": "
                     (if s.valid { l.t("sah", "valid") } else { l.t("TIDAK SAH", "NOT VALID") }) }
                dl {
                    dt { (l.t("Penanda tangan", "Signer")) } dd { (s.name) }
                    @if let Some(n) = &s.nip { dt { "NIP" } dd { (n) } }
                    @if let Some(a) = &s.agency { dt { (l.t("Instansi", "Agency")) } dd { (a) } }
                    @if let Some(t) = &s.signed_at { dt { (l.t("Waktu (stempel waktu sandi)", "Time (sandi time-stamp)")) } dd { (t) } }
                    dt { (l.t("Sertifikat", "Certificate")) } dd { (certificate(l, &s.certificate)) }
                    dt { (l.t("Cakupan", "Coverage")) }
                    dd { (if s.covers_whole { l.t("seluruh berkas", "the whole file") } else { l.t("versi sebelumnya dari berkas", "an earlier version of the file") }) }
                    @if let Some(p) = &s.problem { dt { (l.t("Keterangan", "Detail")) } dd { (p) } }
                }
            }
        }
        (form(l))
    };
    shown(l, &body)
}

fn client(conn: Option<&Conn>) -> Option<IpAddr> {
    conn.map(|c| c.peer.ip())
}

/// `GET /verifikasi`: the upload form.
pub(super) async fn start(Anonymous(l): Anonymous) -> Response {
    let body = html! {
        h1 { (l.t("Verifikasi surat", "Letter verification")) }
        p { (l.t("Pindai kode QR pada surat, atau unggah berkas PDF yang Anda terima untuk memeriksa tanda tangannya.",
                 "Scan the QR code on a letter, or upload a PDF you received to check its signatures.")) }
        (form(l))
    };
    shown(l, &body)
}

/// `GET /verifikasi/{token}`: the letter the QR code names.
pub(super) async fn token(
    State(node): State<App>,
    Anonymous(l): Anonymous,
    conn: Option<axum::Extension<Conn>>,
    Path(token): Path<String>,
) -> Response {
    let conn = conn.map(|c| c.0);
    let ip = client(conn.as_ref());
    if !allowed(ip) {
        return too_many(l);
    }
    match verification::by_token(&node, &token, ip.map(|i| i.to_string())).await {
        Ok(Some(r)) => report_page(l, &r),
        Ok(None) => {
            let body = html! {
                h1 { (l.t("Verifikasi surat", "Letter verification")) }
                p.verdict.invalid role="status" id="verdict" { strong {
                    (l.t("TIDAK DIKENAL: kode ini tidak diterbitkan oleh simpul ini. Jangan percayai surat yang membawanya.",
                         "UNKNOWN: this node never issued this code. Do not trust a letter that carries it."))
                } }
                (form(l))
            };
            let mut r = shown(l, &body);
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
        Err(e) => page::error(l, None, &e),
    }
}

/// `POST /verifikasi`: a PDF someone uploads (a `pdf` part), bounded before it is read.
pub(super) async fn upload(
    State(node): State<App>,
    Anonymous(l): Anonymous,
    conn: Option<axum::Extension<Conn>>,
    mut form: Multipart,
) -> Response {
    let conn = conn.map(|c| c.0);
    let ip = client(conn.as_ref());
    if !allowed(ip) {
        return too_many(l);
    }
    let r = async {
        let mut field = form
            .next_field()
            .await
            .map_err(|e| Error::invalid("form", e.body_text()))?
            .ok_or_else(|| Error::invalid("pdf", "no file was sent"))?;
        if field.name() != Some("pdf") {
            return Err(Error::invalid("form", "send the file as the `pdf` part"));
        }
        let pdf = crate::http::limits::read_field(&mut field, verification::MAX_PDF, "pdf").await?;
        verification::uploaded(&node, &pdf, ip.map(|i| i.to_string())).await
    }
    .await;
    match r {
        Ok(report) => report_page(l, &report),
        Err(e) => {
            let mut resp = page::error(l, None, &e);
            if matches!(e, Error::TooLarge(_)) {
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            resp.into_response()
        }
    }
}
