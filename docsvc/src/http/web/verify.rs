//! The public verification page (`/verifikasi`), no login: where a signed letter's QR code
//! leads, and an upload form for a PDF someone holds. It answers whether the signatures are
//! valid, by whom and when, never the content (see `letters::verification`); every answer is
//! logged and each client address is held to [`PER_MINUTE`] checks a minute.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
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
use crate::letters::verification::{self, Problem, Report};

/// Checks a minute from one client address (an IPv6 /64 is one address).
pub(super) const PER_MINUTE: u32 = 30;
/// Checks a minute from everyone together: what the access log can grow by.
const ALL_PER_MINUTE: u32 = 600;
/// Addresses counted at once; a new one past this waits for the next minute.
const MAX_CLIENTS: usize = 100_000;

/// The current minute's checks: when it began, how many in all, how many per address.
struct Window {
    start: Instant,
    total: u32,
    counts: HashMap<IpAddr, u32>,
}

static WINDOW: Mutex<Option<Window>> = Mutex::new(None);

/// The address a client is counted under: an IPv6 address by its /64 (one subscriber's),
/// and a request that came over no socket (in-process) under one shared key.
fn counted_as(ip: Option<IpAddr>) -> IpAddr {
    match ip {
        Some(IpAddr::V6(a)) => {
            let mut s = a.segments();
            s[4..].fill(0);
            IpAddr::V6(Ipv6Addr::from(s))
        }
        Some(v4) => v4,
        None => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
    }
}

/// Whether `ip` may have one more check this minute.
fn allowed(ip: Option<IpAddr>) -> bool {
    let key = counted_as(ip);
    let mut w = WINDOW
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let now = Instant::now();
    let w = w.get_or_insert_with(|| Window {
        start: now,
        total: 0,
        counts: HashMap::new(),
    });
    if now.duration_since(w.start) > Duration::from_secs(60) {
        *w = Window {
            start: now,
            total: 0,
            counts: HashMap::new(),
        };
    }
    if w.total >= ALL_PER_MINUTE || (w.counts.len() >= MAX_CLIENTS && !w.counts.contains_key(&key))
    {
        return false;
    }
    let n = w.counts.entry(key).or_insert(0);
    if *n >= PER_MINUTE {
        return false;
    }
    *n += 1;
    w.total += 1;
    true
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

/// A problem in the page's language.
fn said(l: Lang, p: &Problem) -> &str {
    match l {
        Lang::Id => &p.id,
        Lang::En => &p.en,
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
        @if let Some(p) = &r.problem { p.detail { (l.t("Keterangan: ", "Detail: ")) (said(l, p)) } }
        dl.card {
            @if let Some(level) = r.level {
                dt { (l.t("Sifat", "Classification")) }
                // In the level's colours from handling.toml (levels.css).
                dd { span.badge class=(format!("lvl-{}", level.as_str())) { (level.as_str().replace('_', " ").to_uppercase()) } }
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
                    dd { (if s.covers_whole { l.t("seluruh berkas", "the whole file") } else { l.t("berkas sebagaimana saat itu (yang ditambahkan sesudahnya dinilai tersendiri)", "the file as it was then (what was added after it is judged on its own)") }) }
                    @if let Some(p) = &s.problem { dt { (l.t("Keterangan", "Detail")) } dd { (said(l, p)) } }
                }
            }
        }
        @for (i, t) in r.stamps.iter().enumerate() {
            section.card.stamp {
                h2 { (l.t("Stempel waktu dokumen", "Document time-stamp")) " " (i + 1) ": "
                     (if t.valid { l.t("sah", "valid") } else { l.t("TIDAK SAH", "NOT VALID") }) }
                dl {
                    @if let Some(at) = &t.at { dt { (l.t("Waktu", "Time")) } dd { (at) } }
                    @if let Some(tsa) = &t.tsa { dt { (l.t("Otoritas stempel waktu", "Time-stamping authority")) } dd { (tsa) } }
                    dt { (l.t("Cakupan", "Coverage")) }
                    dd { (if t.covers_whole { l.t("seluruh berkas", "the whole file") } else { l.t("berkas sebagaimana saat itu (yang ditambahkan sesudahnya dinilai tersendiri)", "the file as it was then (what was added after it is judged on its own)") }) }
                    @if let Some(p) = &t.problem { dt { (l.t("Keterangan", "Detail")) } dd { (said(l, p)) } }
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
            .map_err(|e| crate::http::limits::form_error(&e))?
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
