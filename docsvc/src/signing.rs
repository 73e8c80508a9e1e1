//! The signing API for applications: CMS detached signatures over bytes or a SHA-256 digest,
//! with the application's key or a named official's key where the registration allows, and
//! verification with chain and revocation. Every call is in the access log before it answers.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hsm_shim::KeyStore;
use policies::{Action, Context, Decision, Document, Level, Principal};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::audit::Entry;
use crate::crypto::signature::{self, Content};
use crate::metrics::Metrics;
use crate::node::Node;
use crate::officials::applications::Application;
use crate::{Error, Result, crypto::revocation, officials::directory};

/// What to sign: exactly one of `content` (base64), `sha256` or `sha384` (hex): the digest by
/// the hash the signer's key signs with (SHA-256 for an ECDSA P-256 key, SHA-384 for P-384).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    pub content: Option<String>,
    /// SHA-256 of what is signed, hex (instead of `content`), for a P-256 signer.
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    pub sha256: Option<String>,
    /// SHA-384 of what is signed, hex (instead of `content`), for a P-384 signer.
    #[schema(pattern = "^[0-9a-fA-F]{96}$")]
    pub sha384: Option<String>,
    /// Sign with this official's key instead of the application's: only if the application
    /// is registered for the official and the official consents, by a delegation they granted
    /// or by their signing PIN in `pin`.
    pub as_official: Option<String>,
    /// The official's signing PIN, for this request alone (instead of a delegation).
    #[schema(value_type = Option<String>)]
    pub pin: Option<Pin>,
    /// The classification of what is signed; biasa when absent.
    #[schema(value_type = Option<crate::schema::LevelDoc>)]
    pub classification: Option<Level>,
}

/// A PIN in a request: zeroized when dropped, never printed.
pub struct Pin(pub zeroize::Zeroizing<String>);

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(..)")
    }
}

impl<'de> Deserialize<'de> for Pin {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(|s| Pin(zeroize::Zeroizing::new(s)))
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignResponse {
    /// The CMS SignedData (DER), base64.
    pub signature: String,
    pub signer: String,
    pub signing_time: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    pub content: Option<String>,
    /// SHA-256 of what was signed, hex (instead of `content`), for a P-256 signature.
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    pub sha256: Option<String>,
    /// SHA-384 of what was signed, hex (instead of `content`), for a P-384 signature.
    #[schema(pattern = "^[0-9a-fA-F]{96}$")]
    pub sha384: Option<String>,
    /// The CMS SignedData (DER), base64.
    #[schema(min_length = 1)]
    pub signature: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VerifyResponse {
    pub valid: bool,
    /// Why not, when not valid.
    pub problem: Option<String>,
    pub signer: Option<signature::Verified>,
    pub revocation: Option<revocation::Status>,
}

fn content_of<'a>(
    content: Option<&'a str>,
    (sha256, sha384): (Option<&'a str>, Option<&'a str>),
    buf: &'a mut Vec<u8>,
) -> Result<Content<'a>> {
    match (content, sha256, sha384) {
        (Some(c), None, None) => {
            *buf = B64
                .decode(c)
                .map_err(|e| Error::invalid("content", format!("content is not base64: {e}")))?;
            Ok(Content::Bytes(buf))
        }
        (None, Some(h), None) => Ok(Content::Sha256(hex_digest("sha256", h)?)),
        (None, None, Some(h)) => Ok(Content::Sha384(hex_digest("sha384", h)?)),
        _ => Err(Error::invalid(
            "content",
            "give exactly one of `content` (base64), `sha256` or `sha384` (hex)",
        )),
    }
}

/// A digest of `N` bytes given in hex as `field`.
fn hex_digest<const N: usize>(field: &'static str, h: &str) -> Result<[u8; N]> {
    hex::decode(h)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| Error::invalid(field, format!("{field} must be {} hex digits", N * 2)))
}

fn entry(
    app: &Application,
    action: &str,
    level: Level,
    d: &Decision,
    client: Option<String>,
) -> Entry {
    Entry::decided(
        format!("application:{}", app.id),
        action,
        Some(level),
        d,
        client,
    )
}

/// The key, certificate and signer name a request signs with, and (for an official) how the
/// official consented. Signing as an official needs the application's registration for them
/// and their consent: an active delegation to this application up to `level`, or their PIN.
/// The key must be as strong as the level's handling asks: signing something RAHASIA asks
/// what a RAHASIA letter asks.
async fn signer_key(
    node: &Node,
    app: &Application,
    req: &SignRequest,
    level: Level,
) -> Result<(hsm_shim::KeyId, Vec<u8>, String, String)> {
    let k = signer_key_of(node, app, req, level).await?;
    crate::node::handling::require(node, level, &k.1, &k.2)?;
    Ok(k)
}

async fn signer_key_of(
    node: &Node,
    app: &Application,
    req: &SignRequest,
    level: Level,
) -> Result<(hsm_shim::KeyId, Vec<u8>, String, String)> {
    match req.as_official.as_deref() {
        None => Ok((
            app.signing_key.ok_or_else(|| {
                Error::invalid("signing key", "the application has no signing key")
            })?,
            app.certificate.clone().ok_or_else(|| {
                Error::invalid(
                    "signing certificate",
                    "the application's signing certificate is not issued yet",
                )
            })?,
            format!("application:{}", app.id),
            String::new(),
        )),
        Some(nip) => {
            if !app.may_sign_for.iter().any(|n| n == nip) {
                return Err(Error::Forbidden {
                    alasan: format!(
                        "ditolak: aplikasi ini tidak terdaftar untuk menandatangani atas nama {nip}"
                    ),
                    reason: format!("denied: this application is not registered to sign for {nip}"),
                    policies: vec![],
                });
            }
            let o = directory::get(&node.store, nip)
                .await?
                .filter(|o| o.status == policies::Status::Active)
                .ok_or_else(|| {
                    Error::invalid("as_official", format!("no active official {nip}"))
                })?;
            if level > o.clearance {
                return Err(Error::Forbidden {
                    alasan: format!("ditolak: {nip} tidak berwenang untuk klasifikasi ini"),
                    reason: format!("denied: {nip} is not cleared for this classification"),
                    policies: vec![],
                });
            }
            let consent = consent(node, app, &o.nip, req.pin.as_ref(), level).await?;
            Ok((
                o.signing_key
                    .ok_or_else(|| Error::invalid("signing key", "no signing key"))?,
                o.certificate.ok_or_else(|| {
                    Error::invalid("signing certificate", "no signing certificate")
                })?,
                format!("official:{nip}"),
                format!(" {consent}"),
            ))
        }
    }
}

/// How the official consented to this signature: their PIN in the request, or an active
/// delegation; neither is a refusal.
async fn consent(
    node: &Node,
    app: &Application,
    nip: &str,
    pin: Option<&Pin>,
    level: Level,
) -> Result<String> {
    if let Some(pin) = pin {
        // Counted and logged with every other PIN entry: five wrong ones lock it.
        if crate::officials::lockout::check_pin(node, nip, &pin.0, None).await? {
            return Ok("with the official's PIN".into());
        }
        return Err(Error::Forbidden {
            alasan: format!("ditolak: PIN {nip} salah"),
            reason: format!("denied: wrong signing PIN for {nip}"),
            policies: vec!["delegation".into()],
        });
    }
    match crate::officials::delegation::active(node, nip, &app.id, level).await? {
        Some(d) => Ok(format!("under delegation {}", d.id)),
        None => Err(Error::Forbidden {
            alasan: format!(
                "ditolak: {nip} belum mendelegasikan tanda tangan kepada aplikasi ini (atau delegasi telah berakhir)"
            ),
            reason: format!(
                "denied: {nip} has not delegated signing to this application, or the delegation ended: the official grants one with their PIN, or gives the PIN in the request"
            ),
            policies: vec!["delegation".into()],
        }),
    }
}

/// Signs for an application.
pub async fn sign(
    node: &Node,
    app: &Application,
    client: Option<String>,
    req: &SignRequest,
) -> Result<SignResponse> {
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    let mut buf = Vec::new();
    let digests = (req.sha256.as_deref(), req.sha384.as_deref());
    let content = content_of(req.content.as_deref(), digests, &mut buf)?;
    let level = req.classification.unwrap_or(Level::Biasa);
    let policy = node.policy.current();
    // The application is the originator of what it signs; its client certificate is its
    // possession factor, which stands in for an official's PIN step-up.
    let doc = Document {
        id: format!("sign:{}", app.id),
        classification: level,
        originator: app.id.clone(),
        recipients: vec![],
        copies: vec![],
        grants: vec![],
        agency: app.agency.clone(),
        agencies: vec![app.agency.clone()],
        compartments: vec![],
    };
    // The same question for every call of one application at one level: remembered.
    let d = policy.decide_remembered(
        &Principal::Application(app.person()),
        Action::Sign,
        &doc,
        &Context {
            step_up: true,
            ..Context::default()
        },
    )?;
    if !d.allowed {
        Metrics::inc(&node.metrics.denials);
        node.log
            .append(entry(app, "sign", level, &d, client))
            .await?;
        return Err(Error::Forbidden {
            alasan: d.alasan,
            reason: d.reason,
            policies: d.policies,
        });
    }
    let (key, cert, signer, consented) = match signer_key(node, app, req, level).await {
        Ok(k) => k,
        Err(e) => {
            // A refused signature as an official, or by too weak a key, is in the log too.
            if let Error::Forbidden {
                reason, policies, ..
            } = &e
            {
                let refused = Decision {
                    allowed: false,
                    reason: reason.clone(),
                    policies: policies.clone(),
                    ..d
                };
                node.log
                    .append(entry(app, "sign", level, &refused, client))
                    .await?;
            }
            return Err(e);
        }
    };
    crate::node::revocation::require_good(node, &cert, "signing certificate")?;
    let handle = node.handle(key)?;
    let keys: &dyn KeyStore = node.keystore.as_ref();
    let now = OffsetDateTime::now_utc();
    let chain = if signer.starts_with("official:") {
        node.signing_ca_der.clone()
    } else {
        node.network_ca_der.clone()
    };
    let algorithm = handle
        .kind()
        .signature_algorithm()
        .ok_or(Error::Invariant {
            what: "a signer's key is a signing key",
        })?;
    let cms = signature::sign_detached(
        signature::Kind::Api,
        content,
        algorithm,
        &cert,
        std::slice::from_ref(&chain),
        now,
        |m| Ok(keys.sign(&handle, m)?.bytes),
    )?;
    Metrics::inc(&node.metrics.signatures);
    // Logged before it is returned: a signature the log does not know is never handed out.
    let done = Decision {
        reason: format!("signed as {signer}{consented}"),
        ..d
    };
    node.log
        .append(entry(app, "sign", level, &done, client))
        .await?;
    Metrics::inc(&node.metrics.log_entries);
    Ok(SignResponse {
        signature: B64.encode(cms),
        signer,
        signing_time: crate::rfc3339(now),
    })
}

/// Verifies a signature for an application: signature, chain to the sandi root, signing time,
/// and the signer certificate's revocation status from keymgr's CRLs.
pub async fn verify(
    node: &Node,
    app: &Application,
    client: Option<String>,
    req: &VerifyRequest,
) -> Result<VerifyResponse> {
    let mut buf = Vec::new();
    let digests = (req.sha256.as_deref(), req.sha384.as_deref());
    let content = content_of(req.content.as_deref(), digests, &mut buf)?;
    if req.signature.is_empty() {
        return Err(Error::invalid("signature", "signature is empty"));
    }
    let cms = B64
        .decode(&req.signature)
        .map_err(|e| Error::invalid("signature", format!("signature is not base64: {e}")))?;
    let now = OffsetDateTime::now_utc();
    let out =
        match signature::verify_detached(&cms, signature::Kind::Api, content, &node.trust, now) {
            Ok(v) => {
                let rev =
                    crate::node::revocation::require(node, &v.signer_der, "signer's certificate")?;
                // With a time-stamp, judged at its time; without, a revoked signer is refused
                // (the signature's own signing time is only the signer's word).
                let now_text = crate::rfc3339(now);
                let status = crate::node::revocation::signature_status(
                    node,
                    &v,
                    v.timestamp.is_none().then_some(now_text.as_str()),
                )?;
                // A signer keymgr's issuance log does not hold is no signer of this network
                // (what cannot be established now is 503, never "valid").
                let logged = crate::network::issuance::require(node, &v.signer_der).await?;
                let problem = match logged {
                    Err(why) => Some(format!("the signer's {why}")),
                    Ok(()) if !status.is_valid() => Some(format!(
                        "the signer's certificate was revoked before {}",
                        v.checked_at
                    )),
                    Ok(()) => None,
                };
                VerifyResponse {
                    valid: problem.is_none(),
                    problem,
                    signer: Some(v),
                    revocation: Some(rev),
                }
            }
            Err(Error::Signature(why)) => VerifyResponse {
                valid: false,
                problem: Some(why),
                signer: None,
                revocation: None,
            },
            Err(e) => return Err(e),
        };
    let d = Decision {
        allowed: true,
        policies: vec![],
        alasan: String::new(),
        reason: if out.valid {
            "valid".into()
        } else {
            format!("not valid: {}", out.problem.clone().unwrap_or_default())
        },
        policy_version: node.policy.current().version().to_owned(),
    };
    node.log
        .append(entry(app, "verify", Level::Biasa, &d, client))
        .await?;
    Ok(out)
}
