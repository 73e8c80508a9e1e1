//! `/api/v1/documents`: letters listed, written (a streamed multipart form), read, approved,
//! reclassified, destroyed and exported.

use axum::Json;
use axum::body::Body;
use axum::extract::{Multipart, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::Body2;
use crate::audit::Entry;
use crate::http::App;
use crate::http::actor::{Actor, SignedIn};
use crate::http::problem::responses::{
    BadInput, Conflict, Corrupted, Destroyed, NoSuchLetter, NotLoggedIn, Refused, TooLarge,
    Unavailable,
};
use crate::http::problem::{ApiResult, Problem};
use crate::letters::copies;
use crate::letters::documents::{self, Ingest, Mailbox, NewLetter};
use crate::letters::incidents;
use crate::letters::render::Naskah;
use crate::node::Node;
use crate::schema::LevelDoc;
use crate::{Error, Result};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    #[serde(rename = "box")]
    mailbox: Option<Mailbox>,
    limit: Option<i64>,
    /// Search: words the nomor or perihal contains (case-insensitive).
    q: Option<String>,
    /// Only letters of this classification.
    #[param(value_type = Option<LevelDoc>)]
    classification: Option<policies::Level>,
    /// Only letters of this urgency (derajat: biasa, segera, sangat_segera, kilat).
    urgency: Option<String>,
    /// Only letters in this state (sent, awaiting_approval, received, ...).
    state: Option<String>,
    /// Only letters stored on or after this day (YYYY-MM-DD, UTC).
    from: Option<String>,
    /// Only letters stored on or before this day (YYYY-MM-DD, UTC).
    to: Option<String>,
    /// Only letters the caller has not opened.
    unread: Option<bool>,
    /// The next page: the cursor of the previous page's `Link: <…>; rel="next"`.
    after: Option<String>,
}

fn day(what: &'static str, v: Option<&str>) -> Result<Option<time::Date>> {
    v.filter(|d| !d.is_empty())
        .map(|d| {
            time::Date::parse(
                d,
                &time::macros::format_description!("[year]-[month]-[day]"),
            )
            .map_err(|_| Error::invalid(what, format!("{what} is a day, YYYY-MM-DD")))
        })
        .transpose()
}

#[utoipa::path(
    get, path = "/api/v1/documents", tag = "documents",
    params(ListQuery),
    responses(
        (status = 200, body = Vec<documents::Summary>, description = "newest first; when more \
            may follow, a `Link: <…>; rel=\"next\"` header names the next page"),
        BadInput, NotLoggedIn, Unavailable,
    )
)]
pub(super) async fn list_documents(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    if node.is_sealed() {
        return Err(Error::Sealed.into());
    }
    let mailbox = q.mailbox.unwrap_or(Mailbox::Inbox);
    let filter = documents::Filter {
        text: q.q.filter(|t| !t.trim().is_empty()),
        classification: q.classification,
        urgency: q.urgency,
        state: q.state,
        from: day("from", q.from.as_deref())?,
        to: day("to", q.to.as_deref())?,
        unread: q.unread.unwrap_or(false),
        after: q.after.filter(|a| !a.is_empty()),
        limit: q.limit.unwrap_or(100),
    };
    let page = documents::list(&node, &auth.caller(), mailbox, &filter).await?;
    let mut response = Json(page.letters).into_response();
    if let Some(next) = page.next {
        let link = format!("<{}>; rel=\"next\"", next_page(mailbox, &filter, &next));
        if let Ok(v) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(response)
}

/// The URL of the page after `next` with the same filters.
fn next_page(mailbox: Mailbox, f: &documents::Filter, next: &str) -> String {
    use crate::http::query_escape as e;
    let mut q = vec![
        format!("box={}", mailbox.as_str()),
        format!("limit={}", f.limit),
        format!("after={}", e(next)),
    ];
    let words = [
        ("q", f.text.clone()),
        (
            "classification",
            f.classification.map(|c| c.as_str().to_owned()),
        ),
        ("urgency", f.urgency.clone()),
        ("state", f.state.clone()),
        ("from", f.from.map(|d| d.to_string())),
        ("to", f.to.map(|d| d.to_string())),
    ];
    for (k, v) in words {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            q.push(format!("{k}={}", e(&v)));
        }
    }
    if f.unread {
        q.push("unread=true".into());
    }
    format!("/api/v1/documents?{}", q.join("&"))
}

/// `POST /api/v1/documents`: the parts, in this order.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // documentation of the form; the handler reads it as a stream
pub(super) struct DocumentForm {
    /// JSON, the letter's metadata.
    metadata: NewLetter,
    /// The letter's body (a PDF, typically); or, instead, `naskah`.
    #[schema(value_type = Option<String>, format = Binary)]
    body: Option<Vec<u8>>,
    /// JSON, instead of `body`: the letter's words, which the node renders as a PDF in the
    /// tata naskah dinas layout and signs (PAdES, with a QR code to its verification page).
    naskah: Option<Naskah>,
    /// Attachments, any number.
    #[schema(value_type = Option<Vec<String>>, format = Binary)]
    attachment: Option<Vec<Vec<u8>>>,
}

/// `POST /api/v1/documents`: multipart with a `metadata` JSON part first, then a `body` file
/// part (or a `naskah` JSON part, rendered and signed as the letter's PDF), then any
/// `attachment` parts. Each file streams through encryption into the store.
#[utoipa::path(
    post, path = "/api/v1/documents", tag = "documents",
    request_body(content = DocumentForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, body = documents::Created),
        BadInput, NotLoggedIn, Refused, TooLarge, Unavailable,
    )
)]
pub(super) async fn create_document(
    State(node): State<App>,
    // Checked before anything of the body is read: without a session it is 401 at once.
    auth: Actor<SignedIn>,
    req: Request,
) -> ApiResult<Response> {
    let (budget, req) = crate::http::limits::budgeted(req);
    let mut form = <Multipart as axum::extract::FromRequest<App>>::from_request(req, &node)
        .await
        .map_err(|r| Problem(Error::invalid("form", r.body_text())))?;
    match ingest_form(&node, &auth, &mut form).await {
        Ok(manifest) => Ok((StatusCode::CREATED, Json(manifest)).into_response()),
        Err(e) => {
            // What the official is still sending is read so that they see the answer: all of
            // it (up to the node's cap) once the policy let them write the letter (a full
            // disk, say), at most 1 MiB after a refusal; past that the connection is closed.
            let refused = matches!(
                e,
                Error::Forbidden { .. } | Error::Unauthenticated(_) | Error::TooLarge(_)
            );
            let limit = if refused {
                1 << 20
            } else {
                usize::try_from(node.config.max_body_mib.saturating_mul(1 << 20))
                    .unwrap_or(usize::MAX)
            };
            if crate::http::limits::drain_form(&mut form, &budget, limit).await {
                Err(e.into())
            } else {
                Ok(crate::http::limits::closing(e))
            }
        }
    }
}

async fn ingest_form(
    node: &Node,
    auth: &Actor<SignedIn>,
    form: &mut Multipart,
) -> Result<documents::Created> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        Error::invalid("form", format!("reading the form: {}", e.body_text()))
    };
    let mut first = form
        .next_field()
        .await
        .map_err(bad)?
        .ok_or_else(|| Error::invalid("form", "empty form: send a metadata part first"))?;
    if first.name() != Some("metadata") {
        return Err(Error::invalid(
            "form",
            "the first part must be `metadata` (JSON)",
        ));
    }
    let meta = crate::http::limits::read_field(&mut first, 256 * 1024, "metadata").await?;
    // The form's next part can be read only once this one is let go.
    drop(first);
    let letter: NewLetter = serde_json::from_slice(&meta)
        .map_err(|e| Error::invalid("metadata", format!("invalid metadata: {e}")))?;
    let mut ingest = Ingest::begin(node, auth.caller(), letter).await?;
    let result: Result<()> = async {
        let mut n = 0usize;
        while let Some(mut field) = form.next_field().await.map_err(bad)? {
            let name = field.name().unwrap_or_default().to_owned();
            match (n, name.as_str()) {
                (0, "naskah") => {
                    // The letter's words, which the node renders and signs as its PDF.
                    let text =
                        crate::http::limits::read_field(&mut field, 256 * 1024, "naskah").await?;
                    let naskah: Naskah = serde_json::from_slice(&text)
                        .map_err(|e| Error::invalid("naskah", format!("invalid naskah: {e}")))?;
                    drop(field);
                    ingest.add_rendered(&naskah).await?;
                    n += 1;
                    continue;
                }
                (0, "surat") => {
                    // A finished letter as PDF, which the node marks and signs in place.
                    let file = field.file_name().unwrap_or("surat.pdf").to_owned();
                    let pdf = crate::http::limits::read_field(
                        &mut field,
                        crate::letters::render::upload::MAX_UPLOAD,
                        "surat",
                    )
                    .await?;
                    drop(field);
                    ingest
                        .add_uploaded(&crate::letters::content::safe_file_name(&file), &pdf)
                        .await?;
                    n += 1;
                    continue;
                }
                (0, "body") | (1.., "attachment") => {}
                (0, _) => {
                    return Err(Error::invalid(
                        "form",
                        "the second part must be `body` (a file), `naskah` (JSON) or `surat` (a PDF to sign)",
                    ));
                }
                _ => return Err(Error::invalid("form", format!("unexpected part {name:?}"))),
            }
            let file = field
                .file_name()
                .map_or_else(|| format!("part-{n}"), str::to_owned);
            let media = crate::letters::content::stored_type(field.content_type()).to_owned();
            ingest
                .add_part(&file, &media, field.map(|r| r.map_err(|e| e.body_text())))
                .await?;
            n += 1;
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        ingest.abort().await;
        return Err(e);
    }
    ingest.finish().await
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct DocumentView {
    manifest: crate::crypto::envelope::Manifest,
    signature: SignatureView,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct SignatureView {
    /// The signature, chain and revocation at signing time all check out.
    valid: bool,
    revocation: crate::crypto::revocation::SignatureStatus,
    signer: String,
    nip: Option<String>,
    serial: String,
    signing_time: Option<String>,
    certificate_sha256: String,
    /// The TSA's time-stamp over the signature.
    timestamp: Option<crate::crypto::timestamp::Stamp>,
    /// When the signer's certificate was judged (RFC 3339), and by which clock:
    /// `timestamp` (the token's genTime) or `verification_time`.
    checked_at: String,
    checked_at_source: String,
}

#[utoipa::path(
    get, path = "/api/v1/documents/{id}", tag = "documents",
    params(("id" = String, Path, description = "the letter id")),
    responses(
        (status = 200, body = DocumentView),
        NotLoggedIn, Refused, NoSuchLetter, Corrupted, Unavailable,
    )
)]
pub(super) async fn get_document(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
) -> ApiResult<Json<DocumentView>> {
    let checked = checked_for(&node, &auth, &id, policies::Action::Read).await?;
    let v = &checked.verified;
    Ok(Json(DocumentView {
        signature: SignatureView {
            valid: checked.signature_status.is_valid(),
            revocation: checked.signature_status.clone(),
            signer: v.subject.clone(),
            nip: v.nip.clone(),
            serial: v.serial.clone(),
            signing_time: v.signing_time.clone(),
            certificate_sha256: v.certificate_sha256.clone(),
            timestamp: v.timestamp.clone(),
            checked_at: v.checked_at.clone(),
            checked_at_source: v.checked_at_source.clone(),
        },
        manifest: checked.manifest,
    }))
}

/// Loads and checks a letter and asks the policy; an integrity failure is logged as an
/// incident. A letter the caller may not see is "not found" unless the caller is addressed.
async fn checked_for(
    node: &Node,
    auth: &Actor<SignedIn>,
    id: &str,
    action: policies::Action,
) -> Result<documents::Checked> {
    let checked = loaded(node, auth, id).await?;
    documents::authorise(node, &auth.caller(), action, &checked).await?;
    Ok(checked)
}

/// Loads and checks a letter; an integrity failure is logged as an incident (see
/// [`incidents`]), also in the operator's log, and named.
async fn loaded(node: &Node, auth: &Actor<SignedIn>, id: &str) -> Result<documents::Checked> {
    let checked = incidents::load_checked(node, &auth.caller(), id).await;
    if let Err(Error::Integrity(why)) = &checked {
        tracing::warn!(document = id, "integrity failure: {why}");
    }
    checked
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ContentQuery {
    part: Option<usize>,
    /// Download as a file: a plaintext export, which the handling table may forbid. The PDF
    /// of a letter the node rendered downloads as its next numbered copy (`sandi-copy: N/M`).
    #[serde(default)]
    download: bool,
}

#[utoipa::path(
    get, path = "/api/v1/documents/{id}/content", tag = "documents",
    params(("id" = String, Path, description = "the letter id"), ContentQuery),
    responses(
        (status = 200,
            description = "the plaintext, with the classification in `sandi-classification` and, where the level's handling asks for it, the reader's name, NIP and time in `sandi-watermark`",
            body = Vec<u8>, content_type = "application/octet-stream"),
        BadInput, NotLoggedIn, Refused, NoSuchLetter, Corrupted, Unavailable,
    )
)]
pub(super) async fn get_content(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
    Query(q): Query<ContentQuery>,
) -> ApiResult<Response> {
    // Held until the body is sent: one official's slow downloads take only their own turns.
    let turn = documents::reading_turn(&node, &auth.official.nip).await?;
    let checked = checked_for(&node, &auth, &id, policies::Action::Read).await?;
    documents::mark_read(&node, &auth.official.nip, &id).await?;
    let caller = auth.caller();
    let part = q.part.unwrap_or(0);
    let p = checked
        .manifest
        .parts
        .get(part)
        .ok_or_else(|| Error::NotFound(format!("part {part}")))?
        .clone();
    // A letter the node rendered leaves only as a numbered copy, and is viewed marked with
    // its reader where the level asks for a watermark; the signed PDF itself (with its
    // approval, when it has one) is what other views get.
    let mut copy = None;
    let mut whole = None;
    if part == 0 && q.download {
        if let Some(c) = copies::download(&node, &caller, &checked).await? {
            copy = Some(format!("{}/{}", c.number, c.of));
            whole = Some(c.pdf);
        }
    }
    if q.download && copy.is_none() {
        documents::authorise(&node, &caller, policies::Action::Export, &checked).await?;
    }
    if part == 0 && whole.is_none() {
        whole = match copies::view(&node, &caller, &checked).await? {
            Some(marked) => Some(marked),
            None => documents::approved_pdf(&node, &checked).await?,
        };
    }
    let size = whole.as_ref().map_or(p.size, |pdf| pdf.len() as u64);
    let body = match whole {
        Some(pdf) => Body::from(pdf),
        None => Body::from_stream(documents::open_part(&node, &checked, part).await?),
    };
    let handling = node
        .policy
        .current()
        .handling()
        .get(checked.manifest.classification)
        .clone();
    let label = handling.label_id;
    let mut resp = Response::new(body);
    if handling.watermark {
        // The level's handling asks for the reader on every view: whoever renders the content
        // (the web UI, a viewer) shows this over it.
        let o = &auth.official;
        let mark = format!("{} | NIP {} | {}", o.name, o.nip, crate::now_rfc3339());
        resp.headers_mut().insert(
            "sandi-watermark",
            HeaderValue::from_str(&mark).unwrap_or(HeaderValue::from_static("")),
        );
    }
    let h = resp.headers_mut();
    crate::letters::content::set_headers(h, &p.media_type, &p.name, q.download);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    h.insert(
        "sandi-classification",
        HeaderValue::from_str(&label).unwrap_or(HeaderValue::from_static("")),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(c) = copy.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert("sandi-copy", c);
    }
    Ok(crate::http::holding(turn, resp))
}

#[utoipa::path(
    get, path = "/api/v1/documents/{id}/manifest", tag = "documents",
    params(("id" = String, Path, description = "the letter id")),
    responses(
        (status = 200, description = "the signed manifest, canonical bytes",
            body = crate::crypto::envelope::Manifest),
        NotLoggedIn, Refused, NoSuchLetter, Corrupted, Unavailable,
    )
)]
pub(super) async fn get_manifest(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let checked = checked_for(&node, &auth, &id, policies::Action::Read).await?;
    let bytes = checked.manifest.canonical()?;
    Ok(([(header::CONTENT_TYPE, "application/json")], bytes).into_response())
}

#[utoipa::path(
    get, path = "/api/v1/documents/{id}/signature", tag = "documents",
    params(("id" = String, Path, description = "the letter id")),
    responses(
        (status = 200, description = "CMS detached SignedData (DER) with the chain",
            body = Vec<u8>, content_type = "application/pkcs7-signature"),
        NotLoggedIn, Refused, NoSuchLetter, Corrupted, Unavailable,
    )
)]
pub(super) async fn get_signature(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let checked = checked_for(&node, &auth, &id, policies::Action::Read).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/pkcs7-signature")],
        checked.signature,
    )
        .into_response())
}

#[utoipa::path(
    post, path = "/api/v1/documents/{id}/approve", tag = "documents",
    params(("id" = String, Path, description = "the letter id")),
    responses(
        (status = 200, body = documents::Created),
        NotLoggedIn, Refused, NoSuchLetter, Conflict, Unavailable,
    )
)]
pub(super) async fn approve_document(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
) -> ApiResult<Json<documents::Created>> {
    if node.is_sealed() {
        return Err(Error::Sealed.into());
    }
    Ok(Json(documents::approve(&node, &auth.caller(), &id).await?))
}

#[utoipa::path(
    get, path = "/api/v1/documents/{id}/deliveries", tag = "documents",
    params(("id" = String, Path, description = "the letter id")),
    responses(
        (status = 200, description = "the letter's delivery to each destination node",
            body = Vec<documents::Delivery>),
        NotLoggedIn, Refused, NoSuchLetter, Unavailable,
    )
)]
pub(super) async fn document_deliveries(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<documents::Delivery>>> {
    checked_for(&node, &auth, &id, policies::Action::Read).await?;
    Ok(Json(documents::deliveries(&node, &id).await?))
}

#[utoipa::path(
    post, path = "/api/v1/documents/{id}/reclassify", tag = "documents",
    params(("id" = String, Path, description = "the letter id")),
    request_body = crate::letters::lifecycle::ReclassifyRequest,
    responses(
        (status = 200, description = "the new signed version", body = documents::Created),
        BadInput, NotLoggedIn, Refused, NoSuchLetter, Conflict, Destroyed, Corrupted, Unavailable,
    )
)]
pub(super) async fn reclassify_document(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
    Body2(req): Body2<crate::letters::lifecycle::ReclassifyRequest>,
) -> ApiResult<Json<documents::Created>> {
    let checked = loaded(&node, &auth, &id).await?;
    Ok(Json(
        crate::letters::lifecycle::reclassify(&node, &auth.caller(), checked, &req).await?,
    ))
}

#[utoipa::path(
    get, path = "/api/v1/documents/{id}/versions", tag = "documents",
    params(("id" = String, Path, description = "the letter id")),
    responses(
        (status = 200, description = "earlier signed versions, oldest first",
            body = Vec<crate::letters::lifecycle::Version>),
        NotLoggedIn, Refused, NoSuchLetter, Destroyed, Corrupted, Unavailable,
    )
)]
pub(super) async fn document_versions(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<crate::letters::lifecycle::Version>>> {
    checked_for(&node, &auth, &id, policies::Action::Read).await?;
    Ok(Json(crate::letters::lifecycle::versions(&node, &id).await?))
}

#[utoipa::path(
    post, path = "/api/v1/documents/{id}/destroy", tag = "documents",
    params(("id" = String, Path, description = "the letter id")),
    request_body = crate::letters::lifecycle::DestroyRequest,
    responses(
        (status = 200, description = "destroyed; the signed destruction record",
            body = crate::letters::lifecycle::Destruction),
        BadInput, NotLoggedIn, Refused, NoSuchLetter, Conflict, Destroyed, Corrupted, Unavailable,
    )
)]
pub(super) async fn destroy_document(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
    Body2(req): Body2<crate::letters::lifecycle::DestroyRequest>,
) -> ApiResult<Json<crate::letters::lifecycle::Destruction>> {
    let checked = loaded(&node, &auth, &id).await?;
    Ok(Json(
        crate::letters::lifecycle::destroy(&node, &auth.caller(), &checked, &req).await?,
    ))
}

#[utoipa::path(
    get, path = "/api/v1/documents/{id}/destruction", tag = "documents",
    params(("id" = String, Path, description = "the letter id")),
    responses(
        (status = 200, description = "the signed destruction record",
            body = crate::letters::lifecycle::Destruction),
        NotLoggedIn, NoSuchLetter, Corrupted, Unavailable,
    )
)]
pub(super) async fn destruction_record(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
) -> ApiResult<Json<crate::letters::lifecycle::Destruction>> {
    if node.is_sealed() {
        return Err(Error::Sealed.into());
    }
    Ok(Json(
        crate::letters::lifecycle::destruction_record(&node, &auth.caller(), &id).await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ExportQuery {
    part: Option<usize>,
}

/// An age file of one part, encrypted to the caller's registered personal age key.
#[utoipa::path(
    get, path = "/api/v1/documents/{id}/export", tag = "documents",
    params(("id" = String, Path, description = "the letter id"), ExportQuery),
    responses(
        (status = 200, description = "an age file for the caller's personal key", body = Vec<u8>,
            content_type = "application/octet-stream"),
        BadInput, NotLoggedIn, Refused, NoSuchLetter, Corrupted, Unavailable,
    )
)]
pub(super) async fn export_document(
    State(node): State<App>,
    auth: Actor<SignedIn>,
    Path(id): Path<String>,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Response> {
    let turn = documents::reading_turn(&node, &auth.official.nip).await?;
    let recipient: age::x25519::Recipient = auth
        .official
        .personal_recipient
        .as_deref()
        .ok_or_else(|| {
            Error::invalid(
                "personal recipient",
                "register your personal age key first (PUT /api/v1/me/recipient)",
            )
        })?
        .parse()
        .map_err(|e| {
            Error::invalid(
                "personal recipient",
                format!("the registered age key is unusable: {e}"),
            )
        })?;
    let checked = checked_for(&node, &auth, &id, policies::Action::Read).await?;
    let part = q.part.unwrap_or(0);
    let p = checked
        .manifest
        .parts
        .get(part)
        .ok_or_else(|| Error::NotFound(format!("part {part}")))?
        .clone();
    crate::node::log_alone(
        &node,
        &Entry {
            classification: Some(checked.manifest.classification.as_str().into()),
            ..Entry::event(
                format!("official:{}", auth.official.nip),
                "export_encrypted",
                "allow",
                format!("encrypted to {recipient}"),
                node.policy.current().version(),
                auth.client.clone(),
            )
            .about(&id)
        },
    )
    .await?;
    let stream = documents::export_part(&node, &checked, part, recipient).await?;
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!(
            "attachment; filename=\"{}.age\"",
            crate::letters::content::safe_file_name(&p.name)
        ))
        .unwrap_or(HeaderValue::from_static("attachment")),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(crate::http::holding(turn, resp))
}
