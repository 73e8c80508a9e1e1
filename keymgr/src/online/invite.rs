//! One-time node invitations (`keymgr node invite`): an operator names a node (id,
//! organisation, agencies, accreditation, addresses) and gets a token to hand to the node's
//! administrators; the node enrols with it once, before it expires. Only the token's SHA-256
//! is stored, and it is compared in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::ca::{self, NodeRequest};
use crate::inventory::{Inventory, parse_timestamp, timestamp};
use crate::store::invites::{self, InviteRow};
use crate::transcript::sha256_hex;
use crate::{Error, Result};

const PREFIX: &str = "sandi-enrol-v1";

/// What the operator says about the node to be enrolled.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeInvite {
    pub node_id: String,
    /// The organisation the node belongs to (recorded; the certificate names the CA's).
    pub organisation: String,
    /// The agencies it serves; the first is the one its certificate names.
    pub agencies: Vec<String>,
    pub accreditation: String,
    pub dns: Vec<String>,
    pub ips: Vec<std::net::IpAddr>,
    /// Validity of the node certificate, in days.
    pub days: u32,
}

impl NodeInvite {
    /// The node certificate request this invitation stands for.
    pub fn request(&self) -> NodeRequest {
        NodeRequest {
            node_id: self.node_id.clone(),
            agency: self.agencies.first().cloned().unwrap_or_default(),
            accreditation: self.accreditation.clone(),
            dns: self.dns.clone(),
            ips: self.ips.clone(),
            days: self.days,
        }
    }

    fn check(&self) -> Result<()> {
        if self.node_id.is_empty()
            || self.node_id.len() > 64
            || !self
                .node_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(Error::InvalidInput(format!(
                "node id {:?}: 1-64 letters, digits and '-'",
                self.node_id
            )));
        }
        ca::check_name("organisation", &self.organisation)?;
        if self.agencies.is_empty() {
            return Err(Error::InvalidInput(
                "a node serves at least one agency".into(),
            ));
        }
        for a in &self.agencies {
            ca::check_name("agency", a)?;
        }
        // The certificate profile checks the rest (accreditation, names, addresses).
        ca::node_profile(
            &self.organisation,
            crate::oid_arc::DEV_OID_ARC,
            &self.request(),
        )?;
        Ok(())
    }
}

/// A token as handed out: shown once, never stored.
pub struct Token(Zeroizing<String>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token([redacted])")
    }
}

impl Token {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Records an invitation valid for `valid` and returns its token.
pub async fn create(inv: &Inventory, invite: &NodeInvite, valid: Duration) -> Result<Token> {
    use ring::rand::SecureRandom as _;
    invite.check()?;
    if valid <= Duration::ZERO || valid > Duration::days(30) {
        return Err(Error::InvalidInput(
            "an invitation is valid for a moment up to 30 days".into(),
        ));
    }
    let mut secret = Zeroizing::new([0u8; 32]);
    ring::rand::SystemRandom::new()
        .fill(secret.as_mut())
        .map_err(|_| Error::InvalidInput("no randomness for the token".into()))?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let token = Zeroizing::new(format!(
        "{PREFIX}.{id}.{}",
        URL_SAFE_NO_PAD.encode(&secret[..])
    ));
    let now = OffsetDateTime::now_utc();
    invites::insert(
        inv.store(),
        &InviteRow {
            id,
            token_sha256: sha256_hex(token.as_bytes()),
            node_id: invite.node_id.clone(),
            attributes: serde_json::to_string(invite)
                .map_err(|e| Error::InvalidInput(e.to_string()))?,
            created_at: timestamp(now),
            expires_at: timestamp(now + valid),
            used_at: None,
        },
    )
    .await?;
    Ok(Token(token))
}

/// The invitation a token names, if the token is one of ours (its id is known and its hash
/// matches): refusals before this point are noise from outside, after it they are logged.
pub(crate) async fn find(inv: &Inventory, token: &str) -> Result<(String, NodeInvite)> {
    let unknown = || Error::Enrolment("unknown enrolment token".into());
    let mut parts = token.trim().split('.');
    let (Some(PREFIX), Some(id), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(unknown());
    };
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(unknown());
    }
    let row = invites::get(inv.store(), id).await?.ok_or_else(unknown)?;
    let presented = sha256_hex(token.trim().as_bytes());
    if !bool::from(presented.as_bytes().ct_eq(row.token_sha256.as_bytes())) {
        return Err(unknown());
    }
    let invite: NodeInvite = serde_json::from_str(&row.attributes)
        .map_err(|e| Error::Database(format!("stored invitation: {e}")))?;
    Ok((row.id, invite))
}

/// Uses an invitation once: refused when it was used or has expired.
pub(crate) async fn consume(inv: &Inventory, id: &str) -> Result<()> {
    let row = invites::get(inv.store(), id)
        .await?
        .ok_or_else(|| Error::Enrolment("unknown enrolment token".into()))?;
    if row.used_at.is_some() {
        return Err(Error::Enrolment(format!(
            "the invitation for node {} was already used",
            row.node_id
        )));
    }
    let now = OffsetDateTime::now_utc();
    if parse_timestamp(&row.expires_at)? <= now {
        return Err(Error::Enrolment(format!(
            "the invitation for node {} expired at {} (made {})",
            row.node_id, row.expires_at, row.created_at
        )));
    }
    if !invites::consume(inv.store(), id, &timestamp(now)).await? {
        return Err(Error::Enrolment(format!(
            "the invitation for node {} was already used",
            row.node_id
        )));
    }
    Ok(())
}

/// Records which certificate an invitation was used for.
pub(crate) async fn used_for(inv: &Inventory, id: &str, serial: &str) -> Result<()> {
    invites::set_serial(inv.store(), id, serial).await
}

/// The agencies of a node: those of the invitation it enrolled with, or the one its
/// certificate names when it was issued at the command line.
pub(crate) async fn agencies(inv: &Inventory, request: &NodeRequest) -> Result<Vec<String>> {
    let enrolled = invites::enrolled(inv.store(), &request.node_id).await?;
    Ok(
        match enrolled.and_then(|a| serde_json::from_str::<NodeInvite>(&a).ok()) {
            Some(i) => i.agencies,
            None => vec![request.agency.clone()],
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dinkes() -> NodeInvite {
        NodeInvite {
            node_id: "dinkes".into(),
            organisation: "Pemerintah Kota Contoh".into(),
            agencies: vec!["Dinas Kesehatan".into()],
            accreditation: "rahasia".into(),
            dns: vec![],
            ips: vec![std::net::IpAddr::from([127, 0, 0, 1])],
            days: 90,
        }
    }

    /// A token is found only whole: a changed secret, id or prefix is unknown; it is used
    /// once; an expired one is refused; a bad invitation is refused before anything is kept.
    #[tokio::test]
    async fn a_token_is_found_whole_used_once_and_expires() {
        let inv = Inventory::open("sqlite::memory:").await.expect("inventory");
        let token = create(&inv, &dinkes(), Duration::hours(1))
            .await
            .expect("token");
        let t = token.expose();
        let (id, found) = find(&inv, t).await.expect("found");
        assert_eq!(found, dinkes());
        let last = t.chars().last().expect("a character");
        let changed = format!(
            "{}{}",
            &t[..t.len() - 1],
            if last == 'A' { 'B' } else { 'A' }
        );
        for bad in [
            changed.as_str(),
            &t.replacen("sandi-enrol-v1", "sandi-enrol-v2", 1),
            &t.replacen(&id, &"0".repeat(32), 1),
            "",
            "sandi-enrol-v1..",
            &format!("{t}.extra"),
        ] {
            assert!(
                matches!(find(&inv, bad).await, Err(Error::Enrolment(_))),
                "{bad:?} was found"
            );
        }
        consume(&inv, &id).await.expect("first use");
        let again = consume(&inv, &id).await.expect_err("second use");
        assert!(again.to_string().contains("already used"), "{again}");

        let short = create(&inv, &dinkes(), Duration::seconds(1))
            .await
            .expect("token");
        let (short_id, _) = find(&inv, short.expose()).await.expect("found");
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let expired = consume(&inv, &short_id).await.expect_err("expired");
        assert!(expired.to_string().contains("expired"), "{expired}");

        let mut no_agency = dinkes();
        no_agency.agencies.clear();
        assert!(create(&inv, &no_agency, Duration::hours(1)).await.is_err());
        assert!(create(&inv, &dinkes(), Duration::days(31)).await.is_err());
    }
}
