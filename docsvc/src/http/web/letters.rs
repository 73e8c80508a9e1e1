//! Letters in the browser: the mailboxes (kotak masuk, kotak keluar, persetujuan), composing,
//! approving (the page of one letter: `read`).

use std::collections::HashMap;

use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use policies::Level;
use serde::Deserialize;

use super::{Lang, Viewer, page, pin_ok, respond};
use crate::Error;
use crate::http::App;
use crate::letters::documents::{self, Filter, Mailbox, Summary};
use crate::letters::thread;
use crate::node::Node;
use crate::officials::directory::Official;
use crate::store::views::{self, DeliveryState};

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    q: Option<String>,
    classification: Option<String>,
    urgency: Option<String>,
    unread: Option<String>,
    after: Option<String>,
}

/// What waits for the viewer, on their inbox: the menu's counts, said in words with links.
fn notifications(v: &Viewer) -> Markup {
    let l = v.lang;
    let (unread, approvals, disposisi, drafts) = v.waiting;
    let items = [
        (
            unread,
            "/ui/inbox?unread=1",
            l.t("surat belum dibaca", "unread letters"),
        ),
        (
            disposisi,
            "/ui/dispositions",
            l.t(
                "disposisi belum dibaca, segera jatuh tempo atau lewat batas waktu",
                "disposisi unread, due soon or overdue",
            ),
        ),
        (
            drafts,
            "/ui/drafts",
            l.t(
                "konsep menunggu paraf atau tanda tangan Anda",
                "drafts waiting for your paraf or signature",
            ),
        ),
        (
            approvals,
            "/ui/approvals",
            l.t(
                "surat menunggu persetujuan Anda",
                "letters waiting for your approval",
            ),
        ),
    ];
    html! {
        @if items.iter().any(|(n, _, _)| *n > 0) {
            section.notifications aria-labelledby="notif-title" {
                h2 #notif-title { (l.t("Pemberitahuan", "Notifications")) }
                ul { @for (n, href, what) in items { @if n > 0 { li { a href=(href) { strong { (n) } " " (what) } } } } }
            }
        }
    }
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

pub(super) fn person(names: &HashMap<String, String>, nip: &str) -> String {
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
        Some(c) => Some(c.parse::<Level>().map_err(|_| {
            Error::invalid("classification", format!("unknown classification {c:?}"))
        })?),
        None => None,
    };
    let text = q.q.clone().filter(|t| !t.trim().is_empty());
    let page = documents::list(
        node,
        &v.caller(),
        which,
        &Filter {
            text: text.clone(),
            classification,
            urgency: q.urgency.clone().filter(|u| !u.is_empty()),
            unread: q.unread.is_some(),
            after: q.after.clone().filter(|a| !a.is_empty()),
            limit: PAGE,
            ..Filter::default()
        },
    )
    .await?;
    let letters = page.letters;
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
        @if matches!(which, Mailbox::Inbox) { (notifications(v)) }
        (search_form(l, here, q, classification, &label))
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
        @if let Some(next) = &page.next {
            p { a rel="next" href=(older(here, q, next)) { (l.t("Lebih lama →", "Older →")) } }
        }
    };
    Ok(page::ok(page::frame(l, Some(v), title, here, &body)))
}

/// Letters a mailbox page shows at most.
const PAGE: i64 = 100;

/// The mailbox's search: words, level, urgency, only unread.
fn search_form(
    l: Lang,
    here: &str,
    q: &ListQuery,
    classification: Option<Level>,
    label: &dyn Fn(Level) -> String,
) -> Markup {
    let urgency = q.urgency.clone().unwrap_or_default();
    html! {
        form.search method="get" action=(here) role="search" {
            label for="q" { (l.t("Cari nomor atau perihal", "Search number or subject")) }
            input id="q" name="q" type="search" value=(q.q.clone().unwrap_or_default());
            label for="classification" { (l.t("Sifat", "Classification")) }
            select id="classification" name="classification" {
                option value="" { (l.t("Semua", "All")) }
                @for level in Level::ALL {
                    option value=(level.as_str()) selected[classification == Some(level)] { (label(level)) }
                }
            }
            label for="urgency" { (l.t("Derajat", "Urgency")) }
            select id="urgency" name="urgency" {
                option value="" { (l.t("Semua", "All")) }
                @for u in ["biasa", "segera", "sangat_segera", "kilat"] {
                    option value=(u) selected[urgency == u] { (l.urgency(u)) }
                }
            }
            label.check for="unread" {
                input id="unread" name="unread" type="checkbox" value="1" checked[q.unread.is_some()];
                (l.t("Belum dibaca", "Unread"))
            }
            button type="submit" { (l.t("Cari", "Search")) }
        }
    }
}

/// The next page of the mailbox at `here` with the same search.
fn older(here: &str, q: &ListQuery, next: &str) -> String {
    use crate::http::query_escape as e;
    let mut parts = vec![format!("after={}", e(next))];
    for (k, v) in [
        ("q", &q.q),
        ("classification", &q.classification),
        ("urgency", &q.urgency),
        ("unread", &q.unread),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            parts.push(format!("{k}={}", e(v)));
        }
    }
    format!("{here}?{}", parts.join("&"))
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

#[derive(Deserialize, Default)]
pub(super) struct ComposeQuery {
    /// The letter to answer.
    reply: Option<String>,
    /// The letter to pass on.
    forward: Option<String>,
}

/// The compose form's place, enclosures, kind of naskah, and the choice of signing in one's
/// own name or for a head, under a mandate of theirs that runs today.
async fn signed_for(node: &Node, v: &Viewer, officials: &[Official]) -> Result<Markup, Error> {
    let l = v.lang;
    let heads = crate::letters::mandate::heads(node, &v.official).await?;
    Ok(html! {
        div { label for="tempat" { (l.t("Tempat", "Place")) }
              input id="tempat" name="tempat" maxlength="100" placeholder=(node.config.organisation); }
        div { label for="lampiran" { (l.t("Lampiran", "Enclosures")) }
              input id="lampiran" name="lampiran" maxlength="100" placeholder="1 (satu) berkas"; }
        div.wide { (super::drafts::jenis_fields(l, "c")) }
        @if !heads.is_empty() {
            div.wide { label for="on-behalf" { (l.t("Ditandatangani", "Signed")) }
                select id="on-behalf" name="on_behalf" {
                    option value="" { (l.t("atas nama sendiri", "in my own name")) }
                    @for (nip, max) in &heads {
                        @let name = officials.iter().find(|o| &o.nip == nip).map_or(nip.as_str(), |o| o.position.as_str());
                        option value=(nip) { (l.t("atas nama / sebagai pelaksana: ", "on behalf of / acting for: ")) (name) " (" (l.t("sampai ", "up to ")) (max.as_str()) ")" }
                    }
                } }
        }
    })
}

pub(super) async fn compose(
    State(node): State<App>,
    v: Viewer,
    Query(q): Query<ComposeQuery>,
) -> Response {
    let r = compose_page(&node, &v, &q).await;
    respond(&v, r)
}

async fn compose_page(node: &Node, v: &Viewer, q: &ComposeQuery) -> Result<Response, Error> {
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    let l = v.lang;
    let start = match (&q.reply, &q.forward) {
        (Some(id), _) => Some(thread::prefill(node, &v.caller(), "reply", id).await?),
        (None, Some(id)) => Some(thread::prefill(node, &v.caller(), "forward", id).await?),
        (None, None) => None,
    };
    let levels = documents::creatable(node, &v.official)?;
    let policy = node.policy.current();
    let officials = crate::officials::directory::list(&node.store).await?;
    let signed_for = signed_for(node, v, &officials).await?;
    let body = html! {
        h1 { (l.t("Tulis surat", "Write a letter")) }
        @if levels.is_empty() {
            p.alert role="alert" { (l.t("Kebijakan tidak mengizinkan Anda membuat surat.", "The policy does not allow you to write letters.")) }
        } @else {
        form #compose.card method="post" action="/api/v1/documents" enctype="multipart/form-data"
            data-wrong-pin=(l.t("PIN salah. Surat belum ditandatangani.", "Wrong PIN. The letter is not signed."))
            data-failed=(l.t("Surat tidak terkirim", "The letter was not sent"))
            data-no-body=(l.t("Tulis isi surat atau pilih berkas naskah.", "Write the letter's text or choose a letter file."))
            data-lang=(l.code()) {
            @if let Some(p) = &start {
                p.notice {
                    (if p.kind == "reply" { l.t("Membalas surat nomor ", "Answering letter ") } else { l.t("Meneruskan surat nomor ", "Passing on letter ") })
                    (p.nomor)
                    @if p.kind == "forward" { br; small { (l.t("Penerima terusan tidak otomatis dapat membuka surat aslinya; lampirkan bila kebijakan mengizinkan.", "The forward's recipients cannot open the original by it; attach it where the policy allows.")) } }
                }
                input type="hidden" id="refers-kind" value=(p.kind);
                input type="hidden" id="refers-id" value=(p.id);
            }
            div.grid {
                div { label for="kode" { (l.t("Kode klasifikasi arsip", "Archive classification code")) }
                      input id="kode" name="kode" maxlength="20" pattern="[0-9A-Za-z][0-9A-Za-z.]*" placeholder="005";
                      small { (l.t("Nomor surat diberikan register instansi saat ditandatangani.", "The letter number comes from the agency's register at signing.")) } }
                @if !node.config.numbering.register_only {
                    div { label for="nomor" { (l.t("Nomor surat (kosongkan: dari register)", "Letter number (empty: from the register)")) }
                          input id="nomor" name="nomor" maxlength="100" placeholder="005/123/XI/2026"; }
                }
                div { label for="perihal" { (l.t("Perihal", "Subject")) }
                      input id="perihal" name="perihal" required maxlength="300" value=(start.as_ref().map_or("", |p| p.perihal.as_str())); }
                div { label for="sifat" { (l.t("Sifat (klasifikasi)", "Classification")) }
                      select id="sifat" name="classification" required {
                        @for level in &levels {
                            @let h = policy.handling().get(*level);
                            option value=(level.as_str()) selected[start.as_ref().is_some_and(|p| p.classification == *level)] { (match l { Lang::Id => &h.label_id, Lang::En => &h.label_en }) }
                        }
                      }
                      small { (l.t("Hanya tingkat yang boleh Anda buat.", "Only the levels you may write.")) } }
                div { label for="derajat" { (l.t("Derajat", "Urgency")) }
                      select id="derajat" name="urgency" {
                        @for u in ["biasa", "segera", "sangat_segera", "kilat"] { option value=(u) { (l.urgency(u)) } }
                      } }
                div.wide { label for="kepada" { (l.t("Kepada (NIP, dipisah koma; NIP@simpul untuk simpul lain)", "To (NIPs, comma-separated; NIP@node for another node)")) }
                      input id="kepada" name="recipients" required list="officials" autocomplete="off" value=(start.as_ref().map_or("", |p| p.to.as_str())); }
                div.wide { label for="tembusan" { (l.t("Tembusan", "Copies")) }
                      input id="tembusan" name="copies" list="officials" autocomplete="off"; }
                div.wide { label for="isi" { (l.t("Isi surat (dijadikan PDF bertanda tangan dengan kode QR)", "Letter text (made a signed PDF with a QR code)")) }
                      textarea id="isi" name="isi" rows="10" maxlength="60000" {} }
                (signed_for)
                div.wide { label for="body" { (l.t("Atau naskah jadi (PDF, ditandai dan ditandatangani di tempat; atau teks)", "Or a finished letter (PDF, marked and signed in place; or text)")) }
                      input id="body" name="body" type="file" accept="application/pdf,text/plain"; }
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

#[derive(Deserialize)]
pub(super) struct CopyForm {
    csrf: String,
}

/// The next numbered copy (salinan) of a signed letter, as a PDF download, from its page.
pub(super) async fn copy(
    State(node): State<App>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<CopyForm>,
) -> Response {
    let r = async {
        v.check_csrf(&f.csrf)?;
        let turn = documents::reading_turn(&node, &v.official.nip).await?;
        let c = crate::letters::copies::make(&node, &v.caller(), &id).await?;
        let resp = (
            [
                (
                    axum::http::header::CONTENT_TYPE,
                    "application/pdf".to_owned(),
                ),
                (
                    axum::http::header::CONTENT_DISPOSITION,
                    format!(
                        "attachment; filename=\"salinan-{}-dari-{}.pdf\"",
                        c.number, c.of
                    ),
                ),
            ],
            c.pdf,
        )
            .into_response();
        Ok(crate::http::holding(turn, resp))
    }
    .await;
    respond(&v, r)
}
