//! Letters in the browser: the mailboxes (kotak masuk, kotak keluar, persetujuan), composing,
//! reading and approving.

use std::collections::HashMap;

use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use futures_util::StreamExt as _;
use maud::{Markup, html};
use policies::{Action, Level};
use serde::Deserialize;

use super::{Lang, Viewer, page, pin_ok, respond};
use crate::Error;
use crate::crypto::revocation::SignatureStatus;
use crate::http::App;
use crate::letters::documents::{self, Filter, Mailbox, Summary};
use crate::letters::incidents;
use crate::node::Node;
use crate::store::views::{self, DeliveryState};

/// Text parts up to this size are shown inline; larger ones are offered as a file.
const INLINE_TEXT: u64 = 1 << 20;

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    q: Option<String>,
    classification: Option<String>,
}

pub(super) async fn inbox(
    State(node): State<App>,
    v: Viewer,
    Query(q): Query<ListQuery>,
) -> Response {
    let r = mailbox(&node, &v, Mailbox::Inbox, &q).await;
    respond(&v, r)
}

pub(super) async fn outbox(
    State(node): State<App>,
    v: Viewer,
    Query(q): Query<ListQuery>,
) -> Response {
    let r = mailbox(&node, &v, Mailbox::Outbox, &q).await;
    respond(&v, r)
}

pub(super) async fn approvals(
    State(node): State<App>,
    v: Viewer,
    Query(q): Query<ListQuery>,
) -> Response {
    let r = mailbox(&node, &v, Mailbox::Approvals, &q).await;
    respond(&v, r)
}

fn person(names: &HashMap<String, String>, nip: &str) -> String {
    match names.get(nip) {
        Some(n) => n.clone(),
        None => nip.to_owned(),
    }
}

async fn mailbox(
    node: &Node,
    v: &Viewer,
    which: Mailbox,
    q: &ListQuery,
) -> Result<Response, Error> {
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    let l = v.lang;
    let classification = match q.classification.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => Some(
            c.parse::<Level>()
                .map_err(|_| Error::Invalid(format!("unknown classification {c:?}")))?,
        ),
        None => None,
    };
    let text = q.q.clone().filter(|t| !t.trim().is_empty());
    let letters = documents::list(
        node,
        &v.caller(),
        which,
        &Filter {
            text: text.clone(),
            classification,
            limit: 100,
        },
    )
    .await?;
    let names = views::official_names(&node.store).await?;
    let deliveries = if matches!(which, Mailbox::Outbox) {
        views::delivery_states(
            &node.store,
            &letters.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        )
        .await?
    } else {
        HashMap::new()
    };
    let (here, title) = match which {
        Mailbox::Inbox => ("/ui/inbox", l.t("Kotak masuk", "Inbox")),
        Mailbox::Outbox => ("/ui/outbox", l.t("Kotak keluar", "Outbox")),
        Mailbox::Approvals => (
            "/ui/approvals",
            l.t("Menunggu persetujuan Anda", "Awaiting your approval"),
        ),
    };
    let policy = node.policy.current();
    let label = |level: Level| {
        let h = policy.handling().get(level);
        match l {
            Lang::Id => h.label_id.clone(),
            Lang::En => h.label_en.clone(),
        }
    };
    let unread = letters.iter().filter(|s| !s.read).count();
    let body = html! {
        div.heading {
            h1 { (title) }
            @if matches!(which, Mailbox::Inbox) && unread > 0 {
                span.count { (unread) " " (l.t("belum dibaca", "unread")) }
            }
        }
        form.search method="get" action=(here) role="search" {
            label for="q" { (l.t("Cari nomor atau perihal", "Search number or subject")) }
            input id="q" name="q" type="search" value=(text.clone().unwrap_or_default());
            label for="classification" { (l.t("Sifat", "Classification")) }
            select id="classification" name="classification" {
                option value="" { (l.t("Semua", "All")) }
                @for level in Level::ALL {
                    option value=(level.as_str()) selected[classification == Some(level)] { (label(level)) }
                }
            }
            button type="submit" { (l.t("Cari", "Search")) }
        }
        @if letters.is_empty() {
            p.empty { (l.t("Tidak ada surat.", "No letters.")) }
        } @else {
            table.letters {
                caption.sr { (title) }
                thead { tr {
                    th scope="col" { (l.t("Sifat", "Classification")) }
                    th scope="col" { (l.t("Derajat", "Urgency")) }
                    th scope="col" { @if matches!(which, Mailbox::Outbox) { (l.t("Status", "Status")) } @else { (l.t("Dari", "From")) } }
                    th scope="col" { (l.t("Nomor", "Number")) }
                    th scope="col" { (l.t("Perihal", "Subject")) }
                    th scope="col" { (l.t("Tanggal", "Date")) }
                } }
                tbody {
                    @for s in &letters {
                        (row(l, s, &label(s.classification), &names, deliveries.get(&s.id), which))
                    }
                }
            }
        }
    };
    Ok(page::ok(page::frame(l, Some(v), title, here, &body)))
}

fn row(
    l: Lang,
    s: &Summary,
    label: &str,
    names: &HashMap<String, String>,
    deliveries: Option<&Vec<DeliveryState>>,
    which: Mailbox,
) -> Markup {
    let unread = matches!(which, Mailbox::Inbox) && !s.read;
    html! {
        tr.unread[unread] {
            td data-label=(l.t("Sifat", "Classification")) {
                span class=(format!("badge lvl-{}", s.classification.as_str())) { (label) }
            }
            td data-label=(l.t("Derajat", "Urgency")) { (l.urgency(&s.urgency)) }
            @if matches!(which, Mailbox::Outbox) {
                td data-label=(l.t("Status", "Status")) {
                    @if s.state != "sent" || deliveries.is_none() { (l.state(&s.state)) }
                    @if let Some(ds) = deliveries {
                        ul.deliveries { @for d in ds { li { (d.node_id) ": " (l.delivery(&d.state)) } } }
                    }
                }
            } @else {
                td data-label=(l.t("Dari", "From")) { (person(names, &s.originator)) }
            }
            td data-label=(l.t("Nomor", "Number")) { (s.nomor) }
            td data-label=(l.t("Perihal", "Subject")) {
                a href=(format!("/ui/letters/{}", s.id)) {
                    @if unread { span.sr { (l.t("Belum dibaca: ", "Unread: ")) } }
                    (s.perihal)
                }
            }
            td data-label=(l.t("Tanggal", "Date")) { (s.created_at.get(..10).unwrap_or(&s.created_at)) }
        }
    }
}

pub(super) async fn compose(State(node): State<App>, v: Viewer) -> Response {
    let r = compose_page(&node, &v).await;
    respond(&v, r)
}

async fn compose_page(node: &Node, v: &Viewer) -> Result<Response, Error> {
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    let l = v.lang;
    let levels = documents::creatable(node, &v.official)?;
    let policy = node.policy.current();
    let officials = crate::officials::directory::list(&node.store).await?;
    let body = html! {
        h1 { (l.t("Tulis surat", "Write a letter")) }
        @if levels.is_empty() {
            p.alert role="alert" { (l.t("Kebijakan tidak mengizinkan Anda membuat surat.", "The policy does not allow you to write letters.")) }
        } @else {
        form #compose.card method="post" action="/api/v1/documents" enctype="multipart/form-data"
            data-wrong-pin=(l.t("PIN salah. Surat belum ditandatangani.", "Wrong PIN. The letter is not signed."))
            data-failed=(l.t("Surat tidak terkirim", "The letter was not sent"))
            data-lang=(l.code()) {
            div.grid {
                div { label for="nomor" { (l.t("Nomor surat", "Letter number")) }
                      input id="nomor" name="nomor" required maxlength="100" placeholder="005/123/XI/2026"; }
                div { label for="perihal" { (l.t("Perihal", "Subject")) }
                      input id="perihal" name="perihal" required maxlength="300"; }
                div { label for="sifat" { (l.t("Sifat (klasifikasi)", "Classification")) }
                      select id="sifat" name="classification" required {
                        @for level in &levels {
                            @let h = policy.handling().get(*level);
                            option value=(level.as_str()) { (match l { Lang::Id => &h.label_id, Lang::En => &h.label_en }) }
                        }
                      }
                      small { (l.t("Hanya tingkat yang boleh Anda buat.", "Only the levels you may write.")) } }
                div { label for="derajat" { (l.t("Derajat", "Urgency")) }
                      select id="derajat" name="urgency" {
                        @for u in ["biasa", "segera", "sangat_segera", "kilat"] { option value=(u) { (l.urgency(u)) } }
                      } }
                div.wide { label for="kepada" { (l.t("Kepada (NIP, dipisah koma; NIP@simpul untuk simpul lain)", "To (NIPs, comma-separated; NIP@node for another node)")) }
                      input id="kepada" name="recipients" required list="officials" autocomplete="off"; }
                div.wide { label for="tembusan" { (l.t("Tembusan", "Copies")) }
                      input id="tembusan" name="copies" list="officials" autocomplete="off"; }
                div.wide { label for="body" { (l.t("Naskah (PDF atau teks)", "Letter body (PDF or text)")) }
                      input id="body" name="body" type="file" required accept="application/pdf,text/plain"; }
                div.wide { label for="attachments" { (l.t("Lampiran", "Attachments")) }
                      input id="attachments" name="attachment" type="file" multiple; }
            }
            datalist id="officials" {
                @for o in &officials { option value=(o.nip) { (o.name) " — " (o.position) } }
            }
            button #review type="submit" { (l.t("Tinjau", "Review")) }
            section #sign.review hidden aria-labelledby="sign-title" {
                h2 #sign-title { (l.t("Tinjau dan tandatangani", "Review and sign")) }
                dl #summary {}
                p { (l.t("Dengan PIN, Anda menandatangani surat ini secara elektronik dan mengirimkannya.",
                         "With your PIN you sign this letter electronically and send it.")) }
                label for="pin" { (l.t("PIN penandatanganan", "Signing PIN")) }
                input id="pin" type="password" inputmode="numeric" autocomplete="off";
                div.actions {
                    button #send type="button" { (l.t("Tandatangani dan kirim", "Sign and send")) }
                    button #back.secondary type="button" { (l.t("Ubah", "Edit")) }
                }
                label for="progress" { (l.t("Unggahan", "Upload")) }
                progress #progress max="100" value="0" {}
                p #status role="status" aria-live="polite" {}
                p #error.alert role="alert" hidden {}
            }
        }
        }
    };
    Ok(page::ok(page::frame(
        l,
        Some(v),
        l.t("Tulis surat", "Write a letter"),
        "/ui/compose",
        &body,
    )))
}

#[derive(Deserialize, Default)]
pub(super) struct ReadQuery {
    pin: Option<String>,
    sent: Option<String>,
    approved: Option<String>,
}

pub(super) async fn read(
    State(node): State<App>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<ReadQuery>,
) -> Response {
    let r = read_page(&node, &v, &id, &q).await;
    respond(&v, r)
}

#[allow(clippy::many_single_char_names, clippy::too_many_lines)] // one page's template
async fn read_page(node: &Node, v: &Viewer, id: &str, q: &ReadQuery) -> Result<Response, Error> {
    let l = v.lang;
    let checked = incidents::load_checked(node, &v.caller(), id).await?;
    let caller = v.caller();
    if !caller.stepped_up
        && !documents::decide(node, &caller, Action::Read, &checked, false)
            .await?
            .allowed
        && documents::decide(node, &caller, Action::Read, &checked, true)
            .await?
            .allowed
    {
        // The level asks for the PIN to open: ask for it, showing nothing of the letter.
        return Ok(pin_page(v, id, q.pin.is_some()));
    }
    documents::authorise(node, &caller, Action::Read, &checked).await?;
    documents::mark_read(node, &v.official.nip, id).await?;
    let m = &checked.manifest;
    let policy = node.policy.current();
    let h = policy.handling().get(m.classification).clone();
    let label = match l {
        Lang::Id => h.label_id.clone(),
        Lang::En => h.label_en.clone(),
    };
    let may_export = documents::decide(node, &caller, Action::Export, &checked, caller.stepped_up)
        .await?
        .allowed;
    let may_print = documents::decide(node, &caller, Action::Print, &checked, caller.stepped_up)
        .await?
        .allowed;
    let may_approve =
        checked.state == documents::AWAITING && documents::may_approve(&v.official, m);
    let mut texts = HashMap::new();
    for (i, p) in m.parts.iter().enumerate() {
        if p.media_type.starts_with("text/plain") && p.size <= INLINE_TEXT {
            let mut stream = Box::pin(documents::open_part(node, &checked, i).await?);
            let mut bytes = Vec::new();
            while let Some(chunk) = stream.next().await {
                bytes.extend_from_slice(&chunk?);
            }
            texts.insert(i, String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    let deliveries = documents::deliveries(node, id).await?;
    let names = views::official_names(&node.store).await?;
    let watermark = h.watermark.then(|| {
        format!(
            "{} · NIP {} · {}",
            v.official.name,
            v.official.nip,
            crate::now_rfc3339()
        )
    });
    let sig = &checked.verified;
    let lvl = m.classification.as_str();
    let body = html! {
        div class=(format!("banner lvl-{lvl}")) role="note" aria-label=(l.t("Klasifikasi", "Classification")) { (label) }
        @if q.sent.is_some() {
            p.notice role="status" { @if checked.state == documents::AWAITING {
                (l.t("Surat ditandatangani dan menunggu persetujuan pejabat kedua sebelum dikirim.",
                     "The letter is signed and waits for a second official's approval before it is sent."))
            } @else { (l.t("Surat ditandatangani dan dikirim.", "The letter is signed and sent.")) } }
        }
        @if q.approved.is_some() {
            p.notice role="status" { (l.t("Persetujuan Anda tercatat; surat dikirim.", "Your approval is recorded; the letter is sent.")) }
        }
        article.letter class=(format!("lvl-{lvl}-edge")) {
            h1 { (m.perihal) }
            dl.meta {
                dt { (l.t("Nomor", "Number")) } dd { (m.nomor) }
                dt { (l.t("Sifat", "Classification")) } dd { (label) }
                dt { (l.t("Derajat", "Urgency")) } dd { (l.urgency(m.urgency.as_str())) }
                dt { (l.t("Dari", "From")) } dd { (m.originator_name) " (NIP " (m.originator) ")" }
                dt { (l.t("Kepada", "To")) } dd { (m.recipients.iter().map(|n| person(&names, n)).collect::<Vec<_>>().join(", ")) }
                @if !m.copies.is_empty() {
                    dt { (l.t("Tembusan", "Copies")) } dd { (m.copies.iter().map(|n| person(&names, n)).collect::<Vec<_>>().join(", ")) }
                }
                dt { (l.t("Tanggal surat", "Date")) } dd { (m.dated) }
                dt { (l.t("Status", "Status")) } dd { (l.state(&checked.state)) }
            }
            section.signature aria-labelledby="sig-title" {
                h2 #sig-title { (l.t("Tanda tangan elektronik", "Electronic signature")) }
                @match &checked.signature_status {
                    SignatureStatus::Valid => p.valid { "✔ " (l.t("Sah: tanda tangan, rantai sertifikat dan status pencabutan terverifikasi", "Valid: the signature, certificate chain and revocation status verify")) },
                    SignatureStatus::RevokedAfterSigning { revoked_at } => p.valid { "✔ " (l.t("Sah: ditandatangani sebelum sertifikatnya dicabut pada ", "Valid: signed before its certificate was revoked at ")) (revoked_at) },
                    SignatureStatus::RevokedBeforeSigning { revoked_at } => p.invalid role="alert" { "✘ " (l.t("Tidak sah: sertifikat penanda tangan dicabut pada ", "Not valid: the signer's certificate was revoked at ")) (revoked_at) (l.t(", sebelum surat ditandatangani", ", before the letter was signed")) },
                }
                dl.meta {
                    dt { (l.t("Penanda tangan", "Signer")) } dd { (sig.subject) }
                    @if let Some(nip) = &sig.nip { dt { "NIP" } dd { (nip) } }
                    dt { (l.t("Sertifikat", "Certificate")) } dd { (l.t("nomor seri ", "serial ")) (sig.serial) br; small.mono { "SHA-256 " (sig.certificate_sha256) } }
                    @if let Some(t) = &sig.signing_time { dt { (l.t("Waktu tanda tangan", "Signing time")) } dd { (t) } }
                }
            }
            section.content aria-labelledby="content-title" {
                h2 #content-title { (l.t("Isi surat", "Content")) }
                @if let Some(w) = &watermark {
                    p.reader { (l.t("Dibaca oleh: ", "Read by: ")) (w) }
                }
                div.pages {
                    @if let Some(w) = &watermark {
                        div.watermark aria-hidden="true" { @for _ in 0..60 { span { (w) } } }
                    }
                    @for (i, p) in m.parts.iter().enumerate() {
                        figure.part {
                            figcaption { (p.name) " · " (p.media_type) " · " (p.size) " bytes" }
                            @if let Some(t) = texts.get(&i) {
                                pre { (t) }
                            } @else if p.media_type == "application/pdf" {
                                iframe src=(format!("/api/v1/documents/{id}/content?part={i}")) title=(p.name) {}
                            } @else {
                                p { (l.t("Berkas ini tidak dapat ditampilkan di peramban.", "This file cannot be shown in the browser.")) }
                            }
                            @if may_export {
                                a.button href=(format!("/api/v1/documents/{id}/content?part={i}&download=true")) { (l.t("Unduh", "Download")) }
                            }
                        }
                    }
                }
                @if may_print {
                    button #print.secondary type="button" { (l.t("Cetak", "Print")) }
                } @else {
                    p.small { (l.t("Kebijakan tidak mengizinkan mengunduh atau mencetak surat ini.", "The policy does not allow downloading or printing this letter.")) }
                }
            }
            @if may_approve {
                section.approve aria-labelledby="approve-title" {
                    h2 #approve-title { (l.t("Persetujuan kedua", "Second approval")) }
                    p { (l.t("Surat ini menunggu persetujuan Anda sebelum dikirim.", "This letter waits for your approval before it is sent.")) }
                    @if q.pin.is_some() { p.alert role="alert" { (l.t("PIN salah.", "Wrong PIN.")) } }
                    form method="post" action=(format!("/ui/letters/{id}/approve")) {
                        input type="hidden" name="csrf" value=(v.session.csrf);
                        label for="approve-pin" { (l.t("PIN penandatanganan", "Signing PIN")) }
                        input id="approve-pin" name="pin" type="password" inputmode="numeric" autocomplete="off" required;
                        button type="submit" { (l.t("Setujui dan kirim", "Approve and send")) }
                    }
                }
            }
            @if !deliveries.is_empty() {
                section aria-labelledby="deliv-title" {
                    h2 #deliv-title { (l.t("Pengiriman ke simpul lain", "Delivery to other nodes")) }
                    table.deliveries-table {
                        thead { tr {
                            th scope="col" { (l.t("Simpul", "Node")) }
                            th scope="col" { (l.t("Status", "Status")) }
                            th scope="col" { (l.t("Tanda terima", "Receipt")) }
                            th scope="col" { (l.t("Percobaan", "Attempts")) }
                        } }
                        tbody { @for d in &deliveries { tr {
                            td data-label=(l.t("Simpul", "Node")) { (d.node) }
                            td data-label=(l.t("Status", "Status")) { (l.delivery(&d.state)) @if let Some(e) = &d.last_error { br; small { (e) } } }
                            td data-label=(l.t("Tanda terima", "Receipt")) { (d.receipt_at.clone().unwrap_or_else(|| "—".into())) }
                            td data-label=(l.t("Percobaan", "Attempts")) { (d.attempts) }
                        } } }
                    }
                }
            }
        }
        div class=(format!("banner lvl-{lvl}")) role="note" aria-label=(l.t("Klasifikasi", "Classification")) { (label) }
    };
    // Where the policy forbids printing, the print stylesheet prints only that notice.
    let body = html! {
        div class=(if may_print { "printable" } else { "noprint" }) { (body) }
        @if !may_print {
            p.print-denied { (l.t("Surat ini tidak boleh dicetak.", "This letter may not be printed.")) }
        }
    };
    let title = format!("{} · {}", label, m.nomor);
    Ok(page::ok(page::frame(
        l,
        Some(v),
        &title,
        &format!("/ui/letters/{id}"),
        &body,
    )))
}

fn pin_page(v: &Viewer, id: &str, wrong: bool) -> Response {
    let l = v.lang;
    let body = html! {
        section.card.narrow {
            h1 { (l.t("PIN diperlukan", "PIN needed")) }
            p { (l.t("Tingkat klasifikasi surat ini mensyaratkan PIN penandatanganan Anda untuk membukanya (berlaku lima menit).",
                     "This letter's classification needs your signing PIN to open it (valid for five minutes).")) }
            @if wrong { p.alert role="alert" { (l.t("PIN salah. Coba lagi.", "Wrong PIN. Try again.")) } }
            form method="post" action="/ui/step-up" {
                input type="hidden" name="csrf" value=(v.session.csrf);
                input type="hidden" name="next" value=(format!("/ui/letters/{id}"));
                label for="pin" { (l.t("PIN penandatanganan", "Signing PIN")) }
                input id="pin" name="pin" type="password" inputmode="numeric" autocomplete="off" required autofocus;
                button type="submit" { (l.t("Buka surat", "Open the letter")) }
            }
        }
    };
    page::ok(page::frame(
        l,
        Some(v),
        l.t("PIN diperlukan", "PIN needed"),
        "/ui/letters",
        &body,
    ))
}

#[derive(Deserialize)]
pub(super) struct ApproveForm {
    csrf: String,
    pin: String,
}

/// The second official's approval of a SANGAT RAHASIA letter, with their PIN.
pub(super) async fn approve(
    State(node): State<App>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<ApproveForm>,
) -> Response {
    let pin = zeroize::Zeroizing::new(f.pin);
    let r = async {
        v.check_csrf(&f.csrf)?;
        if node.is_sealed() {
            return Err(Error::Sealed);
        }
        if !pin_ok(&node, &v, &pin).await? {
            return Ok(Redirect::to(&format!("/ui/letters/{id}?pin=wrong")).into_response());
        }
        let caller = crate::officials::Caller {
            stepped_up: true,
            ..v.caller()
        };
        documents::approve(&node, &caller, &id).await?;
        Ok(Redirect::to(&format!("/ui/letters/{id}?approved=1")).into_response())
    }
    .await;
    respond(&v, r)
}
