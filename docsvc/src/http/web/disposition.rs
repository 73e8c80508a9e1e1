//! Disposisi on the pages: the chain on a letter's page with the forms to give one (officials
//! the policy would refuse are shown disabled, with its reason) and to report back, and
//! `/ui/dispositions`, the viewer's own.

use std::collections::HashMap;

use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use zeroize::Zeroizing;

use super::i18n::Lang;
use super::letters::person;
use super::{Viewer, page, pin_ok, respond};
use crate::Error;
use crate::http::App;
use crate::letters::disposition::{self, Candidate, INSTRUCTIONS, NewDisposition, Shown};
use crate::letters::documents::Checked;
use crate::letters::incidents;
use crate::node::Node;

fn instruction(l: Lang, i: &str) -> &'static str {
    match i {
        "diketahui" => l.t("Untuk diketahui", "For information"),
        "ditindaklanjuti" => l.t("Untuk ditindaklanjuti", "For action"),
        "dijawab" => l.t("Untuk dijawab", "For reply"),
        "dihadiri" => l.t("Untuk dihadiri", "To attend"),
        _ => "?",
    }
}

fn state(l: Lang, s: &str, overdue: bool) -> Markup {
    state_soon(l, s, overdue, false)
}

fn state_soon(l: Lang, s: &str, overdue: bool, soon: bool) -> Markup {
    let label = match s {
        "unread" => l.t("Belum dibaca", "Unread"),
        "read" => l.t("Dibaca", "Read"),
        "in_progress" => l.t("Dalam proses", "In progress"),
        "done" => l.t("Selesai", "Done"),
        _ => "?",
    };
    html! {
        span class=(format!("state state-{s}")) { (label) }
        @if overdue { " " span.state.state-overdue { (l.t("Lewat batas waktu", "Overdue")) } }
        @if soon { " " span.state.state-soon { (l.t("Segera jatuh tempo", "Due soon")) } }
    }
}

/// What a letter's page shows of its disposisi.
pub(super) struct View {
    /// The chain, or why it cannot be shown (an integrity incident was logged).
    chain: Result<Vec<Shown>, String>,
    candidates: Vec<Candidate>,
    may_give: bool,
    /// The viewer's own disposisi on the letter that are not done: what they report on.
    open: Vec<String>,
}

impl View {
    pub(super) async fn gather(node: &Node, v: &Viewer, checked: &Checked) -> Result<View, Error> {
        let caller = v.caller();
        let chain = match disposition::chain(node, &caller, checked).await {
            Ok(c) => Ok(c),
            // Shown where the chain would be; the letter itself still reads.
            Err(Error::Integrity(why) | Error::Conflict(why)) => Err(why),
            Err(e) => return Err(e),
        };
        let may_give = disposition::may_give(node, &caller, checked).await?;
        let candidates = if may_give {
            disposition::candidates(node, &caller, checked).await?
        } else {
            Vec::new()
        };
        let open = chain
            .as_ref()
            .map(|c| {
                c.iter()
                    .filter(|d| d.to == v.official.nip && d.state != "done")
                    .map(|d| d.id.clone())
                    .collect()
            })
            .unwrap_or_default();
        disposition::mark_read(node, &v.official.nip, &checked.manifest.id).await?;
        Ok(View {
            chain,
            candidates,
            may_give,
            open,
        })
    }

    pub(super) fn section(
        &self,
        v: &Viewer,
        id: &str,
        names: &HashMap<String, String>,
        may_export: bool,
    ) -> Markup {
        let l = v.lang;
        let empty = self.chain.as_ref().is_ok_and(Vec::is_empty);
        if empty && !self.may_give {
            return html! {};
        }
        html! {
            section #disposisi.disposisi aria-labelledby="disp-title" {
                h2 #disp-title { (l.t("Disposisi", "Disposisi")) }
                @match &self.chain {
                    Err(why) => p.alert role="alert" { (l.t("Disposisi surat ini tidak dapat ditampilkan: ", "This letter's disposisi cannot be shown: ")) (why) },
                    Ok(chain) if chain.is_empty() => p { (l.t("Belum ada disposisi.", "No disposisi yet.")) },
                    Ok(chain) => ul.chain { @for d in chain.iter().filter(|d| d.parent_id.is_none()) { (tree(l, d, chain, names, may_export, 0)) } },
                }
                @for did in &self.open { (report_form(v, did)) }
                @if self.may_give { (give_form(v, id, &self.candidates)) }
            }
        }
    }
}

/// One disposisi and, beneath it, those passed on from it.
fn tree(
    l: Lang,
    d: &Shown,
    all: &[Shown],
    names: &HashMap<String, String>,
    may_export: bool,
    depth: usize,
) -> Markup {
    html! {
        li.disposition data-id=(d.id) {
            p {
                strong { (person(names, &d.from)) } " → " strong { (person(names, &d.to)) }
                " · " (instruction(l, &d.instruction))
                @if let Some(due) = &d.due { " · " (l.t("batas ", "due ")) (due) }
                " · " (state(l, &d.state, d.overdue))
            }
            @if !d.note.is_empty() { blockquote { (d.note) } }
            @for r in &d.reports {
                div.report {
                    p { small { (l.t("Tindak lanjut ", "Report ")) (person(names, &r.nip)) " · " (r.at) }
                        @if r.state == "done" { " " span.state.state-done { (l.t("Selesai", "Done")) } } }
                    pre { (r.text) }
                    @for (i, f) in r.files.iter().enumerate() {
                        @if may_export {
                            a href=(format!("/api/v1/disposition-reports/{}/files/{i}", r.id)) { (f.name) } " (" (f.size) " bytes) "
                        } @else { span { (f.name) } " " }
                    }
                }
            }
            @let children: Vec<&Shown> = all.iter().filter(|c| c.parent_id.as_deref() == Some(d.id.as_str())).collect();
            @if !children.is_empty() {
                @if depth < 20 {
                    ul { @for c in children { (tree(l, c, all, names, may_export, depth + 1)) } }
                } @else {
                    p.small { (l.t("Disposisi lebih lanjut: lihat API.", "Passed further down: see the API.")) }
                }
            }
        }
    }
}

fn give_form(v: &Viewer, id: &str, candidates: &[Candidate]) -> Markup {
    let l = v.lang;
    html! {
        form.give method="post" action=(format!("/ui/letters/{id}/dispositions")) {
            h3 { (l.t("Beri disposisi", "Give a disposisi")) }
            input type="hidden" name="csrf" value=(v.session.csrf);
            fieldset {
                legend { (l.t("Kepada", "To")) }
                @if candidates.is_empty() { p { (l.t("Tidak ada pejabat lain di instansi Anda.", "No other official in your agency.")) } }
                @for (i, c) in candidates.iter().enumerate() {
                    div.candidate {
                        @if c.allowed {
                            input type="checkbox" name="to" value=(c.nip) id=(format!("to-{i}"));
                            label for=(format!("to-{i}")) { (c.name) " · " (c.position) }
                        } @else {
                            input type="checkbox" name="to" value=(c.nip) id=(format!("to-{i}")) disabled aria-describedby=(format!("why-{i}"));
                            label for=(format!("to-{i}")) { (c.name) " · " (c.position) }
                            " " small.why id=(format!("why-{i}")) { (match l { Lang::Id => c.alasan.clone(), Lang::En => c.reason.clone() }.unwrap_or_default()) }
                        }
                    }
                }
            }
            label for="disp-instruction" { (l.t("Instruksi", "Instruction")) }
            select id="disp-instruction" name="instruction" {
                @for i in INSTRUCTIONS { option value=(i) { (instruction(l, i)) } }
            }
            label for="disp-due" { (l.t("Batas waktu (opsional)", "Due (optional)")) }
            input id="disp-due" name="due" type="date";
            label for="disp-note" { (l.t("Catatan", "Note")) }
            textarea id="disp-note" name="note" maxlength="2000" rows="3" {}
            label for="disp-pin" { (l.t("PIN penandatanganan", "Signing PIN")) }
            input id="disp-pin" name="pin" type="password" inputmode="numeric" autocomplete="off" required;
            button type="submit" { (l.t("Kirim disposisi", "Send the disposisi")) }
        }
    }
}

fn report_form(v: &Viewer, did: &str) -> Markup {
    let l = v.lang;
    html! {
        form.report method="post" enctype="multipart/form-data" action=(format!("/ui/dispositions/{did}/reports")) {
            h3 { (l.t("Laporkan tindak lanjut", "Report back")) }
            input type="hidden" name="csrf" value=(v.session.csrf);
            label for=(format!("text-{did}")) { (l.t("Tindak lanjut", "What was done")) }
            textarea id=(format!("text-{did}")) name="text" maxlength="4000" rows="3" required {}
            label for=(format!("file-{did}")) { (l.t("Lampiran (maks. 5 berkas, 4 MiB)", "Attachments (at most 5 files, 4 MiB)")) }
            input id=(format!("file-{did}")) name="file" type="file" multiple;
            div {
                input id=(format!("done-{did}")) name="done" type="checkbox" value="true";
                label for=(format!("done-{did}")) { (l.t("Selesai", "Done")) }
            }
            label for=(format!("rpin-{did}")) { (l.t("PIN penandatanganan", "Signing PIN")) }
            input id=(format!("rpin-{did}")) name="pin" type="password" inputmode="numeric" autocomplete="off" required;
            button type="submit" { (l.t("Kirim laporan", "Send the report")) }
        }
    }
}

/// `POST /ui/letters/{id}/dispositions`: the form above, officials as repeated `to` fields.
pub(super) async fn give(
    State(node): State<App>,
    v: Viewer,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let fields = Fields(fields);
    let fields = &fields.0;
    let r = async {
        let field = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        v.check_csrf(&field("csrf"))?;
        let pin = Zeroizing::new(field("pin"));
        if node.is_sealed() {
            return Err(Error::Sealed);
        }
        let n = NewDisposition {
            to: fields
                .iter()
                .filter(|(k, _)| k == "to")
                .map(|(_, v)| v.clone())
                .collect(),
            instruction: field("instruction"),
            due: Some(field("due")),
            note: field("note").replace("\r\n", "\n"),
        };
        if !pin_ok(&node, &v, &pin).await? {
            return Err(wrong_pin());
        }
        let caller = crate::officials::Caller {
            stepped_up: true,
            ..v.caller()
        };
        let checked = incidents::load_checked(&node, &caller, &id).await?;
        disposition::dispose(&node, &caller, &checked, &n).await?;
        Ok(Redirect::to(&format!("/ui/letters/{id}?disposed=1#disposisi")).into_response())
    }
    .await;
    respond(&v, r)
}

/// A posted form's fields, wiped when dropped (the PIN is among them).
pub(super) struct Fields(pub(super) Vec<(String, String)>);

impl Drop for Fields {
    fn drop(&mut self) {
        use zeroize::Zeroize as _;
        for (_, v) in &mut self.0 {
            v.zeroize();
        }
    }
}

pub(super) fn wrong_pin() -> Error {
    Error::Forbidden {
        alasan: "ditolak: PIN salah".into(),
        reason: "denied: wrong PIN".into(),
        policies: vec!["pin-to-sign".into()],
    }
}

/// `POST /ui/dispositions/{id}/reports`: a report with its files (multipart), read only for
/// the disposisi's holder, and only after the form's first part, its CSRF token, checks.
pub(super) async fn report(
    State(node): State<App>,
    v: Viewer,
    Path(did): Path<String>,
    req: axum::extract::Request,
) -> Response {
    let r = async {
        if node.is_sealed() {
            return Err(Error::Sealed);
        }
        let letter = disposition::letter_of(&node, &v.caller(), &did).await?;
        let mut form = crate::http::api::dispositions::bounded_form(&node, req).await?;
        let csrf = |name: &str, value: &str| {
            if name == "csrf" {
                v.check_csrf(value)
            } else {
                v.check_csrf("")
            }
        };
        let (mut n, other) =
            crate::http::api::dispositions::report_form(&mut form, Some(&csrf)).await?;
        let pin = other
            .iter()
            .find(|(k, _)| k == "pin")
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        let pin = Zeroizing::new(pin);
        if !pin_ok(&node, &v, &pin).await? {
            return Err(wrong_pin());
        }
        let caller = crate::officials::Caller {
            stepped_up: true,
            ..v.caller()
        };
        n.text = n.text.replace("\r\n", "\n");
        let checked = incidents::load_checked(&node, &caller, &letter).await?;
        disposition::report(&node, &caller, &checked, &did, n).await?;
        Ok(Redirect::to(&format!("/ui/letters/{letter}?reported=1#disposisi")).into_response())
    }
    .await;
    respond(&v, r)
}

/// `GET /ui/dispositions`: the disposisi the viewer received, newest first.
pub(super) async fn list(State(node): State<App>, v: Viewer) -> Response {
    let r = async {
        if node.is_sealed() {
            return Err(Error::Sealed);
        }
        let l = v.lang;
        let rows = disposition::received(&node, &v.official).await?;
        let names = crate::store::views::official_names(&node.store).await?;
        let body = html! {
            h1 { (l.t("Disposisi untuk Anda", "Disposisi to you")) }
            @if rows.is_empty() {
                p { (l.t("Belum ada disposisi.", "No disposisi yet.")) }
            } @else {
                table.dispositions-table {
                    thead { tr {
                        th scope="col" { (l.t("Nomor", "Number")) }
                        th scope="col" { (l.t("Perihal", "Subject")) }
                        th scope="col" { (l.t("Dari", "From")) }
                        th scope="col" { (l.t("Instruksi", "Instruction")) }
                        th scope="col" { (l.t("Batas waktu", "Due")) }
                        th scope="col" { (l.t("Status", "Status")) }
                    } }
                    tbody { @for d in &rows { tr {
                        td { a href=(format!("/ui/letters/{}#disposisi", d.document_id)) { (d.nomor) } }
                        td { (d.perihal) }
                        td { (person(&names, &d.from)) }
                        td { (instruction(l, &d.instruction)) }
                        td { (d.due.clone().unwrap_or_else(|| "—".into())) }
                        td { (state_soon(l, &d.state, d.overdue, d.due_soon)) }
                    } } }
                }
            }
        };
        Ok(page::ok(page::frame(
            l,
            Some(&v),
            l.t("Disposisi", "Disposisi"),
            "/ui/dispositions",
            &body,
        )))
    }
    .await;
    respond(&v, r)
}
