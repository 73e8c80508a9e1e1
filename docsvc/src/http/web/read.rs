//! The page of one letter: the classification banners, the notices, the letter's header, its
//! electronic signature, its content, the second approval and the deliveries to other nodes.
//! What the page shows is gathered first ([`Reading::gather`]), then each part is rendered.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use futures_util::StreamExt as _;
use maud::{Markup, html};
use policies::Action;
use serde::Deserialize;

use super::letters::person;
use super::{Lang, Viewer, page, respond};
use crate::Error;
use crate::crypto::revocation::SignatureStatus;
use crate::http::App;
use crate::letters::documents::{self, Checked, Delivery};
use crate::letters::incidents;
use crate::node::Node;
use crate::store::views;

/// Text parts shown inline on a letter's page, in all: those that fit, in order; the others are
/// offered as files. Bounds what one view of a letter of many parts holds and sends.
const INLINE_TEXT: u64 = 1 << 20;

#[derive(Deserialize, Default)]
pub(super) struct ReadQuery {
    pin: Option<String>,
    sent: Option<String>,
    approved: Option<String>,
    disposed: Option<String>,
    reported: Option<String>,
}

pub(super) async fn read(
    State(node): State<App>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<ReadQuery>,
) -> Response {
    let r = async {
        // The page carries the letter's text: sent at the reader's pace, it holds their turn.
        let turn = documents::reading_turn(&node, &v.official.nip).await?;
        let page = read_page(&node, &v, &id, &q).await?;
        Ok(crate::http::holding(turn, page))
    }
    .await;
    respond(&v, r)
}

async fn read_page(node: &Node, v: &Viewer, id: &str, q: &ReadQuery) -> Result<Response, Error> {
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
        return Ok(pin_page(
            v,
            &format!("/ui/letters/{id}"),
            q.pin.is_some(),
            false,
        ));
    }
    documents::authorise(node, &caller, Action::Read, &checked).await?;
    documents::mark_read(node, &v.official.nip, id).await?;
    let reading = Reading::gather(node, v, id, checked).await?;
    Ok(reading.page(q))
}

/// What the page shows of a letter the viewer may read.
struct Reading<'a> {
    v: &'a Viewer,
    id: &'a str,
    checked: Checked,
    /// The classification's label in the viewer's language.
    label: String,
    /// Its stamp code (SR, R, T, B), stamped on the banner as on a paper letter.
    code: String,
    may_export: bool,
    may_print: bool,
    may_approve: bool,
    /// The register of numbered copies, for the originator and auditors.
    copies: Option<Vec<crate::store::copies::CopyRow>>,
    /// The text parts shown inline, by part number.
    texts: HashMap<usize, String>,
    deliveries: Vec<Delivery>,
    names: HashMap<String, String>,
    /// The reader, shown over the content where the level's handling asks for it.
    watermark: Option<String>,
    disposisi: super::disposition::View,
    thread: crate::letters::thread::Thread,
    manage: super::manage::Manage,
}

impl<'a> Reading<'a> {
    async fn gather(
        node: &Node,
        v: &'a Viewer,
        id: &'a str,
        checked: Checked,
    ) -> Result<Reading<'a>, Error> {
        let caller = v.caller();
        let manifest = &checked.manifest;
        let policy = node.policy.current();
        let handling = policy.handling().get(manifest.classification).clone();
        let label = match v.lang {
            Lang::Id => handling.label_id.clone(),
            Lang::En => handling.label_en.clone(),
        };
        let may = |action| documents::decide(node, &caller, action, &checked, caller.stepped_up);
        let may_export = may(Action::Export).await?.allowed;
        let may_print = may(Action::Print).await?.allowed;
        let may_approve =
            checked.state == documents::AWAITING && documents::may_approve(&v.official, manifest);
        let (mut texts, mut inline_left) = (HashMap::new(), INLINE_TEXT);
        for (i, part) in manifest.parts.iter().enumerate() {
            if part.media_type.starts_with("text/plain") && part.size <= inline_left {
                inline_left -= part.size;
                let mut stream = Box::pin(documents::open_part(node, &checked, i).await?);
                let mut bytes = Vec::new();
                while let Some(chunk) = stream.next().await {
                    bytes.extend_from_slice(&chunk?);
                }
                texts.insert(i, String::from_utf8_lossy(&bytes).into_owned());
            }
        }
        let deliveries = documents::deliveries(node, id).await?;
        let copies = if manifest.originator == v.official.nip || v.official.has_role("auditor") {
            crate::letters::copies::register(node, &caller, id)
                .await
                .ok()
        } else {
            None
        };
        let names = views::official_names(&node.store).await?;
        let disposisi = super::disposition::View::gather(node, v, &checked).await?;
        let thread = crate::letters::thread::thread(node, &caller, &checked).await?;
        let manage = super::manage::Manage::gather(node, v, &checked, may_export).await?;
        let watermark = handling.watermark.then(|| {
            format!(
                "{} · NIP {} · {}",
                v.official.name,
                v.official.nip,
                crate::now_rfc3339()
            )
        });
        Ok(Reading {
            v,
            id,
            checked,
            label,
            code: handling.code.clone(),
            may_export,
            may_print,
            may_approve,
            copies,
            texts,
            deliveries,
            names,
            watermark,
            disposisi,
            thread,
            manage,
        })
    }

    fn page(&self, q: &ReadQuery) -> Response {
        let l = self.v.lang;
        let lvl = self.checked.manifest.classification.as_str();
        let body = html! {
            (self.banner())
            (self.notices(q))
            article.letter class=(format!("lvl-{lvl}-edge")) {
                h1 { (self.checked.manifest.perihal) }
                (self.header())
                (self.signature())
                (self.content())
                (self.register())
                @if self.may_approve { (self.approval(q.pin.is_some())) }
                (super::thread::section(l, self.id, &self.thread))
                (self.disposisi.section(self.v, self.id, &self.names, self.may_export))
                (self.deliveries())
                (self.manage.section(self.v, self.id))
            }
            (self.banner())
        };
        // Where the policy forbids printing, the print stylesheet prints only that notice.
        let body = html! {
            div class=(if self.may_print { "printable" } else { "noprint" }) { (body) }
            @if !self.may_print {
                p.print-denied { (l.t("Surat ini tidak boleh dicetak.", "This letter may not be printed.")) }
            }
        };
        let title = format!("{} · {}", self.label, self.checked.manifest.nomor);
        page::ok(page::frame(
            l,
            Some(self.v),
            &title,
            &format!("/ui/letters/{}", self.id),
            &body,
        ))
    }

    /// The classification, above and below the letter.
    fn banner(&self) -> Markup {
        let l = self.v.lang;
        let lvl = self.checked.manifest.classification.as_str();
        html! {
            div class=(format!("banner lvl-{lvl}")) role="note" aria-label=(l.t("Klasifikasi", "Classification")) { span.stamp { (self.code) } " — " (self.label) }
        }
    }

    /// What the viewer just did: sent the letter, or approved it.
    fn notices(&self, q: &ReadQuery) -> Markup {
        let l = self.v.lang;
        html! {
            @if q.sent.is_some() {
                p.notice role="status" { @if self.checked.state == documents::AWAITING {
                    (l.t("Surat ditandatangani dan menunggu persetujuan pejabat kedua sebelum dikirim.",
                         "The letter is signed and waits for a second official's approval before it is sent."))
                } @else { (l.t("Surat ditandatangani dan dikirim.", "The letter is signed and sent.")) } }
            }
            @if q.disposed.is_some() {
                p.notice role="status" { (l.t("Disposisi ditandatangani dan dikirim.", "The disposisi is signed and sent.")) }
            }
            @if q.reported.is_some() {
                p.notice role="status" { (l.t("Tindak lanjut Anda tercatat.", "Your report is recorded.")) }
            }
            @if q.approved.is_some() {
                p.notice role="status" { (l.t("Persetujuan Anda tercatat; surat dikirim.", "Your approval is recorded; the letter is sent.")) }
            }
        }
    }

    /// Number, classification, urgency, from, to, copies, date and state.
    fn header(&self) -> Markup {
        let l = self.v.lang;
        let letter = &self.checked.manifest;
        let people = |nips: &[String]| {
            nips.iter()
                .map(|n| person(&self.names, n))
                .collect::<Vec<_>>()
                .join(", ")
        };
        html! {
            dl.meta {
                dt { (l.t("Nomor", "Number")) } dd { (letter.nomor) }
                dt { (l.t("Sifat", "Classification")) } dd { (self.label) }
                dt { (l.t("Derajat", "Urgency")) } dd { (l.urgency(letter.urgency.as_str())) }
                dt { (l.t("Dari", "From")) } dd { (letter.originator_name) " (NIP " (letter.originator) ")" }
                @if let Some(o) = &letter.on_behalf {
                    dt { (l.t("Ditandatangani", "Signed")) }
                    dd.on-behalf { (match o.kind.as_str() { "an" => "a.n.", "plt" => "Plt.", _ => "Plh." }) " " (o.position) " (" (o.name) ", NIP " (o.nip) ")" }
                }
                dt { (l.t("Kepada", "To")) } dd { (people(&letter.recipients)) }
                @if !letter.copies.is_empty() {
                    dt { (l.t("Tembusan", "Copies")) } dd { (people(&letter.copies)) }
                }
                dt { (l.t("Tanggal surat", "Date")) } dd { (letter.dated) }
                dt { (l.t("Status", "Status")) } dd { (l.state(&self.checked.state)) }
            }
        }
    }

    /// The electronic signature: whether it holds, and who signed with which certificate.
    fn signature(&self) -> Markup {
        let l = self.v.lang;
        let sig = &self.checked.verified;
        html! {
            section.signature aria-labelledby="sig-title" {
                h2 #sig-title { (l.t("Tanda tangan elektronik", "Electronic signature")) }
                @match &self.checked.signature_status {
                    SignatureStatus::Valid => p.valid { "✔ " (l.t("Sah: tanda tangan, rantai sertifikat dan status pencabutan terverifikasi", "Valid: the signature, certificate chain and revocation status verify")) },
                    SignatureStatus::RevokedAfterSigning { revoked_at, .. } => p.valid { "✔ " (l.t("Sah: ditandatangani sebelum sertifikatnya dicabut pada ", "Valid: signed before its certificate was revoked at ")) (revoked_at) },
                    SignatureStatus::RevokedBeforeSigning { revoked_at, .. } => p.invalid role="alert" { "✘ " (l.t("Tidak sah: sertifikat penanda tangan dicabut pada ", "Not valid: the signer's certificate was revoked at ")) (revoked_at) (l.t(", sebelum surat ditandatangani", ", before the letter was signed")) },
                }
                dl.meta {
                    dt { (l.t("Penanda tangan", "Signer")) } dd { (sig.subject) }
                    @if let Some(nip) = &sig.nip { dt { "NIP" } dd { (nip) } }
                    dt { (l.t("Sertifikat", "Certificate")) } dd { (l.t("nomor seri ", "serial ")) (sig.serial) br; small.mono { "SHA-256 " (sig.certificate_sha256) } }
                    @if let Some(t) = &sig.signing_time { dt { (l.t("Waktu tanda tangan", "Signing time")) } dd { (t) } }
                    @if let Some(stamp) = &sig.timestamp {
                        dt { (l.t("Cap waktu (TSA)", "Time-stamp (TSA)")) }
                        dd { (stamp.gen_time) br; small { (stamp.tsa) } }
                    }
                    dt { (l.t("Sertifikat dinilai pada", "Certificate judged at")) }
                    dd { (sig.checked_at) " " small { "(" (if sig.checked_at_source == "timestamp" { l.t("cap waktu", "time-stamp") } else { l.t("waktu verifikasi", "time of verifying") }) ")" } }
                }
            }
        }
    }

    /// The parts (text inline, PDF framed, others named), the watermark, download and print.
    fn content(&self) -> Markup {
        let l = self.v.lang;
        let id = self.id;
        html! {
            section.content aria-labelledby="content-title" {
                h2 #content-title { (l.t("Isi surat", "Content")) }
                @if let Some(w) = &self.watermark {
                    p.reader { (l.t("Dibaca oleh: ", "Read by: ")) (w) }
                }
                div.pages {
                    @if let Some(w) = &self.watermark {
                        // Drawn by the stylesheet from the attribute: decoration, faint on
                        // purpose, which contrast checks then rightly pass over.
                        div.watermark aria-hidden="true" { @for _ in 0..60 { span data-w=(w) {} } }
                    }
                    @for (i, p) in self.checked.manifest.parts.iter().enumerate() {
                        figure.part {
                            figcaption { (p.name) " · " (p.media_type) " · " (p.size) " bytes" }
                            @if let Some(t) = self.texts.get(&i) {
                                pre { (t) }
                            } @else if p.media_type == "application/pdf" {
                                iframe src=(format!("/api/v1/documents/{id}/content?part={i}")) title=(p.name) {}
                            } @else {
                                p { (l.t("Berkas ini tidak dapat ditampilkan di peramban.", "This file cannot be shown in the browser.")) }
                            }
                            @if self.may_export {
                                a.button href=(format!("/api/v1/documents/{id}/content?part={i}&download=true")) { (l.t("Unduh", "Download")) }
                            }
                        }
                    }
                }
                @if self.may_print {
                    button #print.secondary type="button" { (l.t("Cetak", "Print")) }
                    @if self.checked.manifest.parts.first().is_some_and(|p| p.media_type == "application/pdf") {
                        form.inline method="post" action=(format!("/ui/letters/{id}/copies")) {
                            input type="hidden" name="csrf" value=(self.v.session.csrf);
                            button #copy.secondary type="submit" { (l.t("Salinan bernomor (PDF)", "Numbered copy (PDF)")) }
                        }
                    }
                } @else {
                    p.small { (l.t("Kebijakan tidak mengizinkan mengunduh atau mencetak surat ini.", "The policy does not allow downloading or printing this letter.")) }
                }
            }
        }
    }

    /// The register of numbered copies: who made which, when.
    fn register(&self) -> Markup {
        let l = self.v.lang;
        html! {
            @if let Some(copies) = &self.copies {
                section.copies aria-labelledby="copies-title" {
                    h2 #copies-title { (l.t("Daftar salinan", "Copy register")) }
                    @if copies.is_empty() {
                        p { (l.t("Belum ada salinan bernomor.", "No numbered copy yet.")) }
                    } @else {
                        table {
                            thead { tr { th { (l.t("Salinan ke-", "Copy")) } th { (l.t("Oleh", "By")) } th { "NIP" } th { (l.t("Waktu", "Time")) } } }
                            tbody {
                                @for c in copies {
                                    tr { td { (c.number) } td { (c.name) } td { (c.nip) } td { (c.made_at) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The second official's approval form, with their PIN.
    fn approval(&self, wrong_pin: bool) -> Markup {
        let l = self.v.lang;
        html! {
            section.approve aria-labelledby="approve-title" {
                h2 #approve-title { (l.t("Persetujuan kedua", "Second approval")) }
                p { (l.t("Surat ini menunggu persetujuan Anda sebelum dikirim.", "This letter waits for your approval before it is sent.")) }
                @if wrong_pin { p.alert role="alert" { (l.t("PIN salah.", "Wrong PIN.")) } }
                form method="post" action=(format!("/ui/letters/{}/approve", self.id)) {
                    input type="hidden" name="csrf" value=(self.v.session.csrf);
                    label for="approve-pin" { (l.t("PIN penandatanganan", "Signing PIN")) }
                    input id="approve-pin" name="pin" type="password" inputmode="numeric" autocomplete="off" required;
                    button type="submit" { (l.t("Setujui dan kirim", "Approve and send")) }
                }
            }
        }
    }

    /// The letter's delivery to each other node, if it goes to any.
    fn deliveries(&self) -> Markup {
        let l = self.v.lang;
        html! {
            @if !self.deliveries.is_empty() {
                section aria-labelledby="deliv-title" {
                    h2 #deliv-title { (l.t("Pengiriman ke simpul lain", "Delivery to other nodes")) }
                    table.deliveries-table {
                        thead { tr {
                            th scope="col" { (l.t("Simpul", "Node")) }
                            th scope="col" { (l.t("Status", "Status")) }
                            th scope="col" { (l.t("Tanda terima", "Receipt")) }
                            th scope="col" { (l.t("Percobaan", "Attempts")) }
                        } }
                        tbody { @for d in &self.deliveries { tr {
                            td data-label=(l.t("Simpul", "Node")) { (d.node) }
                            td data-label=(l.t("Status", "Status")) { (l.delivery(&d.state)) @if let Some(e) = &d.last_error { br; small { (e) } } }
                            td data-label=(l.t("Tanda terima", "Receipt")) { (d.receipt_at.clone().unwrap_or_else(|| "—".into())) }
                            td data-label=(l.t("Percobaan", "Attempts")) { (d.attempts) }
                        } } }
                    }
                }
            }
        }
    }
}

/// The page that asks for the PIN before a letter (or, with `draft`, a draft) whose level needs
/// it is shown; it comes back to `next`.
pub(super) fn pin_page(v: &Viewer, next: &str, wrong: bool, draft: bool) -> Response {
    let l = v.lang;
    let (why, open) = if draft {
        (
            l.t("Tingkat klasifikasi konsep ini mensyaratkan PIN penandatanganan Anda untuk membukanya (berlaku lima menit).",
                "This draft's classification needs your signing PIN to open it (valid for five minutes)."),
            l.t("Buka konsep", "Open the draft"),
        )
    } else {
        (
            l.t("Tingkat klasifikasi surat ini mensyaratkan PIN penandatanganan Anda untuk membukanya (berlaku lima menit).",
                "This letter's classification needs your signing PIN to open it (valid for five minutes)."),
            l.t("Buka surat", "Open the letter"),
        )
    };
    let body = html! {
        section.card.narrow {
            h1 { (l.t("PIN diperlukan", "PIN needed")) }
            p { (why) }
            @if wrong { p.alert role="alert" { (l.t("PIN salah. Coba lagi.", "Wrong PIN. Try again.")) } }
            form method="post" action="/ui/step-up" {
                input type="hidden" name="csrf" value=(v.session.csrf);
                input type="hidden" name="next" value=(next);
                label for="pin" { (l.t("PIN penandatanganan", "Signing PIN")) }
                input id="pin" name="pin" type="password" inputmode="numeric" autocomplete="off" required autofocus;
                button type="submit" { (open) }
            }
        }
    };
    page::ok(page::frame(
        l,
        Some(v),
        l.t("PIN diperlukan", "PIN needed"),
        if draft { "/ui/drafts" } else { "/ui/letters" },
        &body,
    ))
}
