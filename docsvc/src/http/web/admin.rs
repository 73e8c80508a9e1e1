//! The key custodians' and administrators' area (officials, applications, seal status, the
//! network), and the auditors' view of the access log with its verification.

use axum::extract::{Query, State};
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::{Viewer, page, respond};
use crate::Error;
use crate::audit::{self, Entry};
use crate::http::App;
use crate::node::Node;
use crate::store::views;

pub(super) async fn admin(State(node): State<App>, v: Viewer) -> Response {
    let r = admin_page(&node, &v).await;
    respond(&v, r)
}

async fn admin_page(node: &Node, v: &Viewer) -> Result<Response, Error> {
    let l = v.lang;
    // Refused (and said why) for anyone but an admin or the persandian officer.
    let officials = crate::officials::admin::list(node, &v.official, v.client.clone()).await?;
    let progress = node.keystore.progress();
    let apps = views::applications(&node.store).await?;
    let directory = node.network.current(&node.store).await.ok().flatten();
    let outbox = super::manage::outbox(node, v).await?;
    let body = html! {
        h1 { (l.t("Administrasi simpul", "Node administration")) }
        section.card aria-labelledby="seal-title" {
            h2 #seal-title { (l.t("Segel", "Seal")) }
            dl.meta {
                dt { (l.t("Simpul", "Node")) } dd { (node.config.node_id) }
                dt { (l.t("Status", "Status")) }
                dd { @if progress.unsealed { (l.t("Terbuka (kunci tersedia)", "Unsealed (keys available)")) }
                     @else { (l.t("Tersegel", "Sealed")) " — " (progress.provided) "/" (progress.threshold) } }
                dt { (l.t("Kebijakan", "Policy")) } dd.mono { (node.policy.current().version()) }
            }
        }
        section.card aria-labelledby="off-title" {
            h2 #off-title { (l.t("Pejabat", "Officials")) }
            table.letters {
                thead { tr {
                    th scope="col" { "NIP" } th scope="col" { (l.t("Nama", "Name")) }
                    th scope="col" { (l.t("Instansi", "Agency")) } th scope="col" { (l.t("Jabatan", "Position")) }
                    th scope="col" { (l.t("Izin akses", "Clearance")) } th scope="col" { (l.t("Peran", "Roles")) }
                    th scope="col" { (l.t("Status", "Status")) } th scope="col" { "" }
                } }
                tbody { @for o in &officials { tr {
                    td data-label="NIP" { (o.nip) } td data-label=(l.t("Nama", "Name")) { (o.name) }
                    td data-label=(l.t("Instansi", "Agency")) { (o.agency) } td data-label=(l.t("Jabatan", "Position")) { (o.position) }
                    td data-label=(l.t("Izin akses", "Clearance")) { span class=(format!("badge lvl-{}", o.clearance.as_str())) { (o.clearance.as_str()) } }
                    td data-label=(l.t("Peran", "Roles")) { (o.roles.join(", ")) }
                    td data-label=(l.t("Status", "Status")) { (format!("{:?}", o.status).to_lowercase()) }
                    td { (super::admin_forms::reset_button(l, &v.session.csrf, &o.nip))
                         @if o.nip != v.official.nip { (super::manage::status_button(l, &v.session.csrf, &format!("/ui/admin/officials/{}/status", o.nip), &o.nip, o.status)) } }
                } } }
            }
        }
        section.card aria-labelledby="app-title" {
            h2 #app-title { (l.t("Aplikasi (API tanda tangan)", "Applications (signing API)")) }
            @if apps.is_empty() { p { (l.t("Belum ada aplikasi terdaftar.", "No applications registered.")) } }
            @else {
                table.letters {
                    thead { tr { th scope="col" { "Id" } th scope="col" { (l.t("Nama", "Name")) } th scope="col" { (l.t("Instansi", "Agency")) } th scope="col" { (l.t("Izin akses", "Clearance")) } th scope="col" { (l.t("Status", "Status")) } th scope="col" { "" } } }
                    tbody { @for a in &apps { tr {
                        td data-label="Id" { (a.id) }
                        td data-label=(l.t("Nama", "Name")) { (a.name) }
                        td data-label=(l.t("Instansi", "Agency")) { (a.agency) }
                        td data-label=(l.t("Izin akses", "Clearance")) { (a.clearance) }
                        td data-label=(l.t("Status", "Status")) { (a.status) }
                        td { @if let Ok(status) = crate::officials::directory::parse_status(&a.status) {
                            (super::manage::status_button(l, &v.session.csrf, &format!("/ui/admin/applications/{}/status", a.id), &a.id, status))
                        } }
                    } } }
                }
            }
        }
        (outbox)
        (super::admin_forms::forms(l, &v.session.csrf))
        section.card aria-labelledby="net-title" {
            h2 #net-title { (l.t("Jaringan sandi", "The sandi network")) }
            @if let Some(d) = &directory {
                p { (l.t("Direktori versi ", "Directory version ")) (d.version) " · " (d.issued_at) }
                ul { @for n in &d.nodes { li { (n.id) " — " (n.status) " — " (n.accreditation) " — " (n.agencies.join(", ")) } } }
            } @else { p { (l.t("Simpul ini belum memiliki direktori jaringan.", "This node has no network directory yet.")) } }
        }
    };
    Ok(page::ok(page::frame(
        l,
        Some(v),
        l.t("Administrasi", "Administration"),
        "/ui/admin",
        &body,
    )))
}

#[derive(Deserialize, Default)]
pub(super) struct AuditQuery {
    document: Option<String>,
}

pub(super) async fn audit(
    State(node): State<App>,
    v: Viewer,
    Query(q): Query<AuditQuery>,
) -> Response {
    let r = audit_page(&node, &v, &q).await;
    respond(&v, r)
}

/// The access log for auditors: verified in full on every view (each entry's hash, the tree,
/// every signed and published head), then the latest entries.
async fn audit_page(node: &Node, v: &Viewer, q: &AuditQuery) -> Result<Response, Error> {
    let l = v.lang;
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    let me = format!("official:{}", v.official.nip);
    let allowed = v.official.has_role("auditor");
    crate::node::log_alone(
        node,
        &Entry::event(
            me,
            "audit_read",
            if allowed { "allow" } else { "deny" },
            if allowed {
                "access log viewed (web)".into()
            } else {
                "only auditors view the access log".into()
            },
            node.policy.current().version(),
            v.client.clone(),
        ),
    )
    .await?;
    if !allowed {
        return Err(Error::Forbidden {
            alasan: "ditolak: hanya auditor yang melihat log akses".into(),
            reason: "denied: only auditors view the access log".into(),
            policies: vec![],
        });
    }
    let spki = node.audit.public_key()?;
    let report = audit::verify(&node.store, &spki, Some(&node.layout.heads())).await;
    let witnessed = crate::network::witness::held(node).await?;
    let document = q.document.clone().filter(|d| !d.trim().is_empty());
    let mut entries = Vec::new();
    for r in views::latest_log_entries(&node.store).await? {
        let seq = r.seq;
        let e: Entry = serde_json::from_str(&r.entry)
            .map_err(|e| Error::Integrity(format!("log entry {seq}: {e}")))?;
        if document
            .as_ref()
            .is_none_or(|d| e.document.as_deref() == Some(d.as_str()))
        {
            entries.push((seq, e));
        }
        if entries.len() == 200 {
            break;
        }
    }
    let body = html! {
        h1 { (l.t("Log akses", "Access log")) }
        @match &report {
            Ok(r) => p.verified role="status" {
                "✔ " (l.t("Log utuh: ", "Log intact: ")) (r.entries) (l.t(" entri, ", " entries, "))
                (r.heads_checked) (l.t(" kepala pohon bertanda tangan, ", " signed tree heads, "))
                (r.file_heads_checked) (l.t(" kepala terbit diperiksa", " published heads checked"))
                br; small.mono { "root " (r.root) }
            },
            Err(e) => p.alert role="alert" { "✘ " (l.t("Log GAGAL diverifikasi: ", "Log verification FAILED: ")) (e.to_string()) },
        }
        (witnessed_section(l, &witnessed))
        form.search method="get" action="/ui/audit" role="search" {
            label for="document" { (l.t("Surat (id)", "Letter (id)")) }
            input id="document" name="document" value=(document.clone().unwrap_or_default());
            button type="submit" { (l.t("Saring", "Filter")) }
        }
        table.letters {
            thead { tr {
                th scope="col" { "#" } th scope="col" { (l.t("Waktu", "Time")) } th scope="col" { (l.t("Pelaku", "Actor")) }
                th scope="col" { (l.t("Tindakan", "Action")) } th scope="col" { (l.t("Keputusan", "Decision")) }
                th scope="col" { (l.t("Surat", "Letter")) } th scope="col" { (l.t("Alasan", "Reason")) }
            } }
            tbody { @for (seq, e) in &entries { tr class=(format!("decision-{}", e.decision)) {
                td data-label="#" { (seq) } td data-label=(l.t("Waktu", "Time")) { (e.at) }
                td data-label=(l.t("Pelaku", "Actor")) { (e.actor) } td data-label=(l.t("Tindakan", "Action")) { (e.action) }
                td data-label=(l.t("Keputusan", "Decision")) { (e.decision) }
                td data-label=(l.t("Surat", "Letter")) { (e.document.clone().unwrap_or_default()) (e.classification.as_ref().map(|c| format!(" ({c})")).unwrap_or_default()) }
                td data-label=(l.t("Alasan", "Reason")) { (e.reason) }
            } } }
        }
    };
    Ok(page::ok(page::frame(
        l,
        Some(v),
        l.t("Log akses", "Access log"),
        "/ui/audit",
        &body,
    )))
}

/// The other nodes' access logs as this node witnessed them, split views first to the eye.
fn witnessed_section(
    l: super::i18n::Lang,
    witnessed: &[crate::store::witnessed::Witnessed],
) -> maud::Markup {
    html! {
    section.card aria-labelledby="wit-title" {
        h2 #wit-title { (l.t("Log simpul lain yang disaksikan", "Other nodes' logs witnessed")) }
        @if witnessed.is_empty() { p { (l.t("Belum ada simpul lain yang disaksikan.", "No other node witnessed yet.")) } }
        @else {
            table.letters {
                thead { tr {
                    th scope="col" { (l.t("Simpul", "Node")) } th scope="col" { (l.t("Entri", "Entries")) }
                    th scope="col" { (l.t("Disaksikan", "Witnessed")) } th scope="col" { (l.t("Keadaan", "State")) }
                } }
                tbody { @for w in witnessed { tr {
                    td data-label=(l.t("Simpul", "Node")) { (w.node) }
                    td data-label=(l.t("Entri", "Entries")) { (w.size) }
                    td data-label=(l.t("Disaksikan", "Witnessed")) { (w.seen_at) }
                    td data-label=(l.t("Keadaan", "State")) {
                        @if let Some(i) = &w.incident { span.alert role="alert" { "✘ " (l.t("Pandangan terbelah: ", "Split view: ")) (i) } }
                        @else { "✔ " (l.t("konsisten, ditandatangani bersama", "consistent, cosigned")) }
                    }
                } } }
            }
        }
    }
    }
}
