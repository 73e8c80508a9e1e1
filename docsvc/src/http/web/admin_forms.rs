//! The administrators' forms: register an official (who then enrols with the one-time code
//! shown here once), reset an official's secrets (a new code), register an application with
//! its own certificate request, and install the certificates keymgr issued for it. The same
//! services, checks and log entries as the admin API.

use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::{Lang, Viewer, page, respond};
use crate::Error;
use crate::http::App;
use crate::officials::admin::{self, NewOfficialRequest};
use crate::officials::application_admin::{self, By, Certificates, NewApplicationRequest};
use crate::officials::enrolment::Code;

/// A list typed as words separated by commas or spaces.
fn words(s: &str) -> Vec<String> {
    s.split([',', ' ', '\n', '\r', '\t'])
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

const LEVELS: [&str; 4] = ["biasa", "terbatas", "rahasia", "sangat_rahasia"];

/// The forms on the administration page.
pub(super) fn forms(l: Lang, csrf: &str) -> Markup {
    html! {
        section.card aria-labelledby="new-off" {
            h2 #new-off { (l.t("Daftarkan pejabat", "Register an official")) }
            p { (l.t(
                "Pejabat menentukan sendiri kata sandi dan PIN-nya dengan kode pendaftaran sekali pakai yang ditampilkan sekali setelah pendaftaran. Pendaftaran menunggu persetujuan pengelola sandi kedua.",
                "The official sets their own password and PIN with a one-time enrolment code shown once after registering. The registration waits for a second persandian officer's approval."
            )) }
            form method="post" action="/ui/admin/officials" {
                input type="hidden" name="csrf" value=(csrf);
                label { "NIP" input name="nip" inputmode="numeric" required pattern="[0-9]{18}"; }
                label { (l.t("Nama", "Name")) input name="name" required maxlength="200"; }
                label { (l.t("Instansi", "Agency")) input name="agency" required maxlength="200"; }
                label { (l.t("Jabatan", "Position")) input name="position" required maxlength="200"; }
                label { (l.t("Izin akses", "Clearance")) select name="clearance" {
                    @for lvl in LEVELS { option value=(lvl) { (lvl) } } } }
                label { (l.t("Peran (pisahkan dengan koma)", "Roles (comma-separated)")) input name="roles" value="pejabat"; }
                button type="submit" { (l.t("Daftarkan", "Register")) }
            }
        }
        section.card aria-labelledby="new-app" {
            h2 #new-app { (l.t("Daftarkan aplikasi", "Register an application")) }
            form method="post" action="/ui/admin/applications" {
                input type="hidden" name="csrf" value=(csrf);
                label { "Id" input name="id" required pattern="[A-Za-z0-9-]{1,64}"; }
                label { (l.t("Nama", "Name")) input name="name" required maxlength="200"; }
                label { (l.t("Instansi", "Agency")) input name="agency" required maxlength="200"; }
                label { (l.t("Izin akses", "Clearance")) select name="clearance" {
                    @for lvl in LEVELS { option value=(lvl) { (lvl) } } } }
                label { (l.t("Permintaan sertifikat aplikasi (CSR, PEM)", "The application's certificate request (CSR, PEM)"))
                    textarea name="csr_pem" rows="6" required {} }
                label { (l.t("Boleh menandatangani atas nama (NIP, pisahkan dengan koma; tetap perlu delegasi pejabat)",
                    "May sign for (NIPs, comma-separated; each official's delegation still needed)"))
                    input name="may_sign_for"; }
                button type="submit" { (l.t("Daftarkan", "Register")) }
            }
        }
    }
}

/// The reset button of one official's row.
pub(super) fn reset_button(l: Lang, csrf: &str, nip: &str) -> Markup {
    html! {
        form.inline method="post" action=(format!("/ui/admin/officials/{nip}/reset")) {
            input type="hidden" name="csrf" value=(csrf);
            button.link type="submit" { (l.t("Atur ulang kata sandi & PIN", "Reset password & PIN")) }
        }
    }
}

/// The page that shows an enrolment code, once.
fn code_page(v: &Viewer, nip: &str, code: &Code, extra: &Markup) -> Response {
    let l = v.lang;
    let body = html! {
        section.card.narrow {
            h1 { (l.t("Kode pendaftaran", "Enrolment code")) }
            p { "NIP " (nip) }
            p.mono role="status" { strong { (code.code.as_str()) } }
            p { (l.t("Berlaku sampai ", "Valid until ")) (code.expires_at) }
            p.alert { (l.t(
                "Kode ini hanya ditampilkan sekali. Serahkan langsung kepada pejabat yang bersangkutan; dengan kode ini ia menentukan kata sandi dan PIN-nya sendiri di halaman /ui/enrol.",
                "This code is shown only once. Hand it to the official in person; with it they set their own password and PIN at /ui/enrol."
            )) }
            (extra)
            p { a href="/ui/admin" { (l.t("Kembali ke administrasi", "Back to administration")) } }
        }
    };
    page::ok(page::frame(
        l,
        Some(v),
        l.t("Kode pendaftaran", "Enrolment code"),
        "/ui/admin",
        &body,
    ))
}

#[derive(Deserialize)]
pub(super) struct OfficialForm {
    csrf: String,
    nip: String,
    name: String,
    agency: String,
    position: String,
    clearance: policies::Level,
    roles: String,
}

pub(super) async fn register_official(
    State(node): State<App>,
    v: Viewer,
    Form(f): Form<OfficialForm>,
) -> Response {
    let r = async {
        v.check_csrf(&f.csrf)?;
        crate::http::limits::check_nip(&f.nip)?;
        let req = NewOfficialRequest {
            nip: f.nip,
            name: f.name,
            agency: f.agency,
            position: f.position,
            clearance: f.clearance,
            roles: words(&f.roles),
        };
        let r = admin::register(&node, &v.official, v.client.clone(), req).await?;
        let l = v.lang;
        let extra = html! {
            p { (l.t("Menunggu persetujuan kedua: perubahan ", "Awaiting the second approval: change "))
                span.mono { (r.change.id) } }
            p { (l.t("Permintaan sertifikat tanda tangan (untuk keymgr):", "Signing certificate request (for keymgr):")) }
            pre.mono { (r.csr_pem) }
        };
        Ok::<_, Error>(code_page(&v, &r.official.nip, &r.enrolment, &extra))
    }
    .await;
    respond(&v, r)
}

#[derive(Deserialize)]
pub(super) struct CsrfOnly {
    csrf: String,
}

pub(super) async fn reset_official(
    State(node): State<App>,
    v: Viewer,
    Path(nip): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let r = async {
        v.check_csrf(&f.csrf)?;
        crate::http::limits::check_nip(&nip)?;
        let code = admin::reset(&node, &v.official, v.client.clone(), &nip).await?;
        Ok::<_, Error>(code_page(&v, &nip, &code, &html! {}))
    }
    .await;
    respond(&v, r)
}

#[derive(Deserialize)]
pub(super) struct ApplicationForm {
    csrf: String,
    id: String,
    name: String,
    agency: String,
    clearance: policies::Level,
    csr_pem: String,
    may_sign_for: String,
}

pub(super) async fn register_application(
    State(node): State<App>,
    v: Viewer,
    Form(f): Form<ApplicationForm>,
) -> Response {
    let r = async {
        v.check_csrf(&f.csrf)?;
        let req = NewApplicationRequest {
            id: f.id,
            name: f.name,
            agency: f.agency,
            clearance: f.clearance,
            csr_pem: f.csr_pem,
            may_sign_for: words(&f.may_sign_for),
        };
        let r = application_admin::register(&node, By::Admin(&v.official), v.client.clone(), req)
            .await?;
        let l = v.lang;
        let id = r.application.id.clone();
        let body = if let Some(pem) = &r.client_certificate_pem {
            html! {
                section.card.narrow {
                    h1 { (l.t("Aplikasi terdaftar", "Application registered")) " " (id) }
                    p { (l.t(
                        "CA daring menerbitkan kedua sertifikatnya: aplikasi aktif. Pasang sertifikat klien di bawah ini (dengan rantainya) pada aplikasi.",
                        "The online CA issued both its certificates: the application is active. Install the client certificate below (with its chain) in the application."
                    )) }
                    pre.mono { (pem) }
                    p { a href="/ui/admin" { (l.t("Kembali ke administrasi", "Back to administration")) } }
                }
            }
        } else {
            html! {
                section.card.narrow {
                    h1 { (l.t("Aplikasi terdaftar", "Application registered")) " " (id) }
                    @if let Some(why) = &r.ca_error {
                        p.alert { (l.t("CA daring tidak menerbitkan apa pun: ", "The online CA issued nothing: ")) (why) }
                    }
                    p { (l.t(
                        "Aplikasi ditangguhkan sampai kedua sertifikatnya dipasang. Bawa CSR aplikasi dan permintaan di bawah ini ke keymgr (keymgr issue application --csr).",
                        "The application is suspended until both its certificates are installed. Take the application's CSR and the request below to keymgr (keymgr issue application --csr)."
                    )) }
                    p { (l.t("Permintaan sertifikat untuk kunci tanda tangannya:", "Request for its signing key's certificate:")) }
                    pre.mono { (r.signing_csr_pem) }
                    form method="post" action=(format!("/ui/admin/applications/{id}/certificates")) {
                        input type="hidden" name="csrf" value=(v.session.csrf);
                        label { (l.t("Sertifikat klien (PEM)", "Client certificate (PEM)"))
                            textarea name="client_certificate_pem" rows="6" required {} }
                        label { (l.t("Sertifikat tanda tangan (PEM)", "Signing certificate (PEM)"))
                            textarea name="signing_certificate_pem" rows="6" required {} }
                        button type="submit" { (l.t("Pasang sertifikat", "Install the certificates")) }
                    }
                    p { a href="/ui/admin" { (l.t("Kembali ke administrasi", "Back to administration")) } }
                }
            }
        };
        Ok::<_, Error>(page::ok(page::frame(
            l,
            Some(&v),
            l.t("Aplikasi", "Application"),
            "/ui/admin",
            &body,
        )))
    }
    .await;
    respond(&v, r)
}

#[derive(Deserialize)]
pub(super) struct CertificatesForm {
    csrf: String,
    client_certificate_pem: String,
    signing_certificate_pem: String,
}

pub(super) async fn install_application(
    State(node): State<App>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<CertificatesForm>,
) -> Response {
    let r = async {
        v.check_csrf(&f.csrf)?;
        let certs = Certificates {
            client_certificate_pem: f.client_certificate_pem,
            signing_certificate_pem: f.signing_certificate_pem,
        };
        application_admin::install_certificates(
            &node,
            By::Admin(&v.official),
            v.client.clone(),
            &id,
            &certs,
        )
        .await?;
        Ok::<_, Error>(Redirect::to("/ui/admin").into_response())
    }
    .await;
    respond(&v, r)
}
