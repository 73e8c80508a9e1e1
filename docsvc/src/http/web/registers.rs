//! `/ui/registers`: the agency's register of outgoing numbers and its agenda of incoming
//! letters, for its secretariat: searched, paged with a cursor, exported as CSV.

use axum::extract::{Query, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::i18n::Lang;
use super::{Viewer, page, respond};
use crate::Error;
use crate::http::App;
use crate::letters::register::{self, Ask};
use crate::node::Node;

#[derive(Deserialize, Default)]
pub(super) struct RegisterQuery {
    book: Option<String>,
    year: Option<i64>,
    q: Option<String>,
    before: Option<i64>,
}

pub(super) async fn registers(
    State(node): State<App>,
    v: Viewer,
    Query(q): Query<RegisterQuery>,
) -> Response {
    let r = registers_page(&node, &v, &q).await;
    respond(&v, r)
}

const PAGE: i64 = 50;

async fn registers_page(node: &Node, v: &Viewer, q: &RegisterQuery) -> Result<Response, Error> {
    let l = v.lang;
    let book = register::book(q.book.as_deref().unwrap_or("keluar"))?;
    let year = q
        .year
        .filter(|y| (2000..=9999).contains(y))
        .unwrap_or_else(|| crate::node::numbering::Day::today().year());
    let search = q.q.clone().unwrap_or_default();
    let lines = register::read(
        node,
        &v.official,
        v.client.clone(),
        &v.official.agency,
        book,
        &Ask {
            year: Some(year),
            search: search.clone(),
            before: q.before,
            limit: Some(PAGE),
        },
    )
    .await?;
    let names = crate::store::views::official_names(&node.store).await?;
    let outgoing = book == "keluar";
    let title = if outgoing {
        l.t("Register surat keluar", "Outgoing register")
    } else {
        l.t("Agenda surat masuk", "Incoming agenda")
    };
    let query = |extra: &str| {
        if search.is_empty() {
            format!("year={year}{extra}")
        } else {
            format!(
                "year={year}&q={}{extra}",
                crate::http::query_escape(&search)
            )
        }
    };
    let csv = format!(
        "/api/v1/registers/{book}?{}",
        query("&format=csv&limit=1000")
    );
    let older = (i64::try_from(lines.len()).unwrap_or(0) == PAGE)
        .then(|| {
            lines.last().map(|last| {
                format!(
                    "/ui/registers?book={book}&{}",
                    query(&format!("&before={}", last.seq))
                )
            })
        })
        .flatten();
    let body = html! {
        h1 { (title) " " (v.official.agency.to_uppercase()) " " (year) }
        nav.tabs aria-label=(l.t("Register", "Registers")) {
            a href="/ui/registers?book=keluar" aria-current=[outgoing.then_some("page")] { (l.t("Surat keluar", "Outgoing")) }
            " · "
            a href="/ui/registers?book=agenda" aria-current=[(!outgoing).then_some("page")] { (l.t("Agenda surat masuk", "Incoming agenda")) }
        }
        form.search method="get" action="/ui/registers" role="search" {
            input type="hidden" name="book" value=(book);
            label for="year" { (l.t("Tahun", "Year")) }
            input id="year" name="year" type="number" min="2000" max="9999" value=(year);
            label for="q" { (l.t("Cari nomor atau perihal", "Search number or subject")) }
            input id="q" name="q" maxlength="100" value=(search);
            button type="submit" { (l.t("Cari", "Search")) }
        }
        p { a href=(csv) download { (l.t("Unduh CSV", "Download CSV")) } }
        @if lines.is_empty() {
            p { (l.t("Belum ada catatan.", "Nothing registered yet.")) }
        } @else {
            (table(l, outgoing, &lines, &names))
            @if let Some(href) = older { p { a href=(href) rel="next" { (l.t("Lebih lama →", "Older →")) } } }
        }
    };
    Ok(page::ok(page::frame(
        l,
        Some(v),
        title,
        "/ui/registers",
        &body,
    )))
}

/// The register's lines as a table.
fn table(
    l: Lang,
    outgoing: bool,
    lines: &[register::Line],
    names: &std::collections::HashMap<String, String>,
) -> Markup {
    html! {
    table.letters {
        thead { tr {
            th scope="col" { (l.t("Urut", "No.")) }
            th scope="col" { (if outgoing { l.t("Nomor surat", "Letter number") } else { l.t("Nomor agenda", "Agenda number") }) }
            @if !outgoing { th scope="col" { (l.t("Nomor surat pengirim", "Sender's number")) } }
            th scope="col" { (l.t("Perihal", "Subject")) }
            th scope="col" { (l.t("Sifat", "Classification")) }
            th scope="col" { (if outgoing { l.t("Penanda tangan", "Signer") } else { l.t("Asal", "From") }) }
            th scope="col" { (l.t("Waktu", "Time")) }
            th scope="col" { (l.t("Status", "State")) }
        } }
        tbody { @for line in lines { tr {
            td data-label=(l.t("Urut", "No.")) { (line.seq) }
            td data-label=(l.t("Nomor", "Number")) {
                @match &line.document_id {
                    Some(id) => a href=(format!("/ui/letters/{id}")) { (line.number) },
                    None => (line.number),
                }
            }
            @if !outgoing { td data-label=(l.t("Nomor surat pengirim", "Sender's number")) { (line.nomor.clone().unwrap_or_default()) } }
            td data-label=(l.t("Perihal", "Subject")) {
                @match &line.perihal {
                    Some(p) => (p),
                    None if line.document_id.is_some() => em { (l.t("(di atas izin Anda)", "(above your clearance)")) },
                    None => "",
                }
            }
            td data-label=(l.t("Sifat", "Classification")) { (line.classification.clone().unwrap_or_default()) }
            td data-label=(l.t("NIP", "NIP")) { (super::letters::person(names, &line.nip)) }
            td data-label=(l.t("Waktu", "Time")) { (line.at) }
            td data-label=(l.t("Status", "State")) { (state(l, &line.state)) }
        } } }
    }
    }
}

fn state(l: Lang, s: &str) -> &'static str {
    match s {
        "reserved" => l.t("dipesan", "reserved"),
        "used" => l.t("terpakai", "used"),
        "void" => l.t("batal", "void"),
        "entered" => l.t("dicatat", "entered"),
        _ => "?",
    }
}
