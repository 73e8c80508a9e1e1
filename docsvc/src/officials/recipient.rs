//! An official's personal age recipient (for exported copies) is registered only with proof
//! that they hold its identity: the node encrypts a random challenge to the recipient, keeps
//! only the SHA-256 of the answer, and registers the recipient when the official returns the
//! decrypted challenge (once, within [`CHALLENGE_MINUTES`], compared in constant time). Every
//! step is in the access log.

use std::io::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::audit::Entry;
use crate::node::Node;
use crate::node::log_alone;
use crate::officials::Caller;
use crate::store::recipient_challenges;
use crate::{Error, Result, officials::directory, parse_time, rfc3339};

/// How long a challenge may be answered.
pub const CHALLENGE_MINUTES: i64 = 10;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Begin {
    /// The age recipient (`age1...`).
    pub recipient: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Challenge {
    /// An age file (binary, base64) encrypted to the recipient: decrypt it
    /// (`base64 -d | age -d -i key.txt`) and send what it holds to `/api/v1/me/recipient/confirm`.
    pub challenge: String,
    pub expires_at: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Confirm {
    /// The decrypted challenge.
    pub answer: String,
}

impl std::fmt::Debug for Confirm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Confirm(..)")
    }
}

async fn log(
    node: &Node,
    caller: &Caller,
    action: &str,
    decision: &str,
    reason: String,
) -> Result<()> {
    log_alone(
        node,
        &Entry::event(
            format!("official:{}", caller.official.nip),
            action,
            decision,
            reason,
            node.policy.current().version(),
            caller.client.clone(),
        ),
    )
    .await
}

/// Starts registering `b.recipient` for the caller: a new challenge (replacing any earlier
/// one), encrypted to the recipient.
pub async fn begin(node: &Node, caller: &Caller, b: &Begin) -> Result<Challenge> {
    let text = b.recipient.trim();
    let recipient: age::x25519::Recipient = text
        .parse()
        .map_err(|e| Error::invalid("recipient", format!("not an age recipient: {e}")))?;
    let mut raw = Zeroizing::new([0u8; 32]);
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw[..])
        .map_err(|_| Error::NoRandomness)?;
    let answer = Zeroizing::new(hex::encode(&raw[..]));
    let enc = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
        .map_err(|e| Error::age("encrypting a recipient challenge", e))?;
    let mut out = Vec::new();
    let mut w = enc
        .wrap_output(&mut out)
        .map_err(|e| Error::age("encrypting a recipient challenge", e))?;
    w.write_all(answer.as_bytes())
        .and_then(|()| w.finish().map(|_| ()))
        .map_err(|e| Error::age("encrypting a recipient challenge", e))?;
    let expires_at =
        rfc3339(OffsetDateTime::now_utc() + time::Duration::minutes(CHALLENGE_MINUTES));
    let nip = &caller.official.nip;
    recipient_challenges::replace(
        &node.store,
        nip,
        text,
        &crate::crypto::sha256_hex(answer.as_bytes()),
        &expires_at,
    )
    .await?;
    log(
        node,
        caller,
        "recipient_challenge",
        "allow",
        format!("proof of possession asked for age recipient {text}"),
    )
    .await?;
    Ok(Challenge {
        challenge: B64.encode(out),
        expires_at,
    })
}

/// Registers the recipient of the caller's pending challenge if `c.answer` is its plaintext.
/// The challenge is used up either way.
pub async fn confirm(node: &Node, caller: &Caller, c: &Confirm) -> Result<String> {
    let nip = &caller.official.nip;
    let answer = Zeroizing::new(c.answer.trim().to_owned());
    let Some(row) = recipient_challenges::take(&node.store, nip).await? else {
        return Err(Error::Conflict(
            "no pending challenge: register the recipient first (PUT /api/v1/me/recipient)".into(),
        ));
    };
    let recipient = row.recipient;
    let expected = hex::decode(&row.answer_sha256).map_err(|e| Error::Database(e.to_string()))?;
    let fresh = parse_time(&row.expires_at).is_some_and(|t| OffsetDateTime::now_utc() <= t);
    let matches: bool = subtle::ConstantTimeEq::ct_eq(
        &crate::crypto::sha256(answer.as_bytes())[..],
        expected.as_slice(),
    )
    .into();
    if !(fresh && matches) {
        let why = if fresh { "wrong answer" } else { "expired" };
        log(
            node,
            caller,
            "recipient_confirm",
            "deny",
            format!("age recipient {recipient} not registered: {why} to the challenge"),
        )
        .await?;
        return Err(Error::Forbidden {
            alasan: "ditolak: jawaban tantangan salah atau kedaluwarsa; mulai lagi".into(),
            reason: format!("denied: {why} to the challenge; start again"),
            policies: vec!["recipient-proof-of-possession".into()],
        });
    }
    directory::set_personal_recipient(&node.store, nip, &recipient).await?;
    log(
        node,
        caller,
        "recipient_registered",
        "allow",
        format!("age recipient {recipient} registered, its identity proved"),
    )
    .await?;
    Ok(recipient)
}
