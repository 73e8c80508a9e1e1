//! Signing on a head's behalf (tata naskah dinas): atas nama (`an`, a.n.), pelaksana tugas
//! (`plt`, Plt.) and pelaksana harian (`plh`, Plh.). The head grants a mandate with their PIN:
//! to one official of their agency, up to a classification, between two days (WIB, inclusive);
//! it is a CMS signature of theirs over a statement, kept with the node's MAC and revocable at
//! any time. A letter signed under it names the head in its manifest (`on_behalf`) and carries
//! the statement and the head's signature, so that every node that receives it checks the
//! mandate itself; its PDF's signature block reads "a.n. <the head's position>". Every grant,
//! revocation and refusal is logged.

use base64::Engine as _;
use policies::Level;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use utoipa::ToSchema;

use crate::crypto::envelope::{Manifest, OnBehalf};
use crate::crypto::signature::{self, Content, Kind};
use crate::letters::documents::{self, entry, sign_as};
use crate::node::Node;
use crate::node::numbering::Day;
use crate::officials::Caller;
use crate::officials::directory::{self, Official};
use crate::store::mandates::{self as rows, Mandate};
use crate::{Error, Result};

/// The kinds of mandate, as the manifest names them.
pub const KINDS: [&str; 3] = ["an", "plt", "plh"];
/// The longest a mandate may run, in days.
pub const MAX_DAYS: i64 = 366;
/// At most this many unrevoked mandates one head has given.
const MAX_GIVEN: usize = 50;
/// The largest statement any node accepts in a manifest.
const MAX_STATEMENT: usize = 4096;
/// The largest grant (base64 of a CMS signature) any node accepts in a manifest.
const MAX_GRANT: usize = 96 * 1024;

/// What a head grants.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMandate {
    /// The NIP of the official who signs on the head's behalf.
    pub delegate: String,
    /// `an` (atas nama), `plt` (pelaksana tugas) or `plh` (pelaksana harian).
    pub kind: String,
    /// The highest classification of the letters they may sign under it.
    #[schema(value_type = crate::schema::LevelDoc)]
    pub max_classification: Level,
    /// The first day it runs, `YYYY-MM-DD` (WIB), today or later.
    pub valid_from: String,
    /// The last day it runs, `YYYY-MM-DD` (WIB), at most 366 days after the first.
    pub valid_until: String,
}

/// A mandate as its head and its delegate see it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MandateView {
    pub id: String,
    pub kind: String,
    pub grantor: String,
    pub grantor_name: String,
    pub grantor_position: String,
    pub delegate: String,
    pub delegate_name: String,
    #[schema(value_type = crate::schema::LevelDoc)]
    pub max_classification: Level,
    pub valid_from: String,
    pub valid_until: String,
    pub granted_at: String,
    pub revoked_at: Option<String>,
    /// Unrevoked and running today.
    pub active: bool,
}

/// What the head signs: everything a reader of a letter signed under it needs to judge it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    pub r#type: String,
    pub id: String,
    pub node: String,
    pub agency: String,
    pub kind: String,
    pub grantor: String,
    pub grantor_name: String,
    pub grantor_position: String,
    pub delegate: String,
    pub delegate_name: String,
    pub max_classification: Level,
    pub valid_from: String,
    pub valid_until: String,
    pub at: String,
}

fn day(field: &'static str, s: &str) -> Result<Date> {
    Date::parse(
        s.trim(),
        &time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| Error::invalid(field, "a day is YYYY-MM-DD"))
}

fn refused(alasan: &str, reason: &str) -> Error {
    Error::Forbidden {
        alasan: alasan.into(),
        reason: reason.into(),
        policies: vec!["mandate".into()],
    }
}

/// Logs `e` (a refusal) for `caller` doing `action`; other errors pass as they are.
async fn logged(
    node: &Node,
    caller: &Caller,
    action: &str,
    level: Option<Level>,
    e: Error,
) -> Error {
    crate::letters::draft::refusal_logged(node, caller, action, (None, level), e).await
}

/// Whether `kind` names the head's own office for the period (Plt., Plh.): one such at a time.
fn acting(kind: &str) -> bool {
    kind == "plt" || kind == "plh"
}

/// The checks on a grant that need no other row: the kind, the days, the levels.
fn check_grant(head: &Official, n: &NewMandate, today: Date) -> Result<(Date, Date)> {
    if !KINDS.contains(&n.kind.as_str()) {
        return Err(Error::invalid("kind", "a mandate is an, plt or plh"));
    }
    let (from, until) = (
        day("valid_from", &n.valid_from)?,
        day("valid_until", &n.valid_until)?,
    );
    if from < today {
        return Err(Error::invalid(
            "valid_from",
            "a mandate starts today or later",
        ));
    }
    if until < from || (until - from).whole_days() > MAX_DAYS {
        return Err(Error::invalid(
            "valid_until",
            format!("a mandate runs from its first day for at most {MAX_DAYS} days"),
        ));
    }
    if n.max_classification > head.clearance {
        return Err(Error::invalid(
            "max_classification",
            "a mandate cannot reach above the head's own clearance",
        ));
    }
    let nip_ok = !n.delegate.is_empty()
        && n.delegate.len() <= 32
        && n.delegate.bytes().all(|b| b.is_ascii_alphanumeric());
    if !nip_ok || n.delegate == head.nip {
        return Err(Error::invalid(
            "delegate",
            "the delegate is another official's NIP",
        ));
    }
    Ok((from, until))
}

/// The delegate of grant `n`: an active official of the head's agency; both may sign letters
/// of its level; the head has room for it, and no other Plt. or Plh. runs on its days.
async fn check_people(node: &Node, caller: &Caller, n: &NewMandate) -> Result<Official> {
    let head = &caller.official;
    let level = n.max_classification;
    let delegate = directory::get(&node.store, &n.delegate)
        .await?
        .filter(|o| o.agency == head.agency && o.status == policies::Status::Active)
        .ok_or_else(|| {
            Error::invalid(
                "delegate",
                format!("{} is no active official of your agency", n.delegate),
            )
        })?;
    if !documents::creatable(node, head)?.contains(&level)
        || !documents::creatable(node, &delegate)?.contains(&level)
    {
        let e = refused(
            "ditolak: penerima mandat tidak boleh menandatangani naskah setingkat ini",
            "denied: the delegate may not sign letters at this level",
        );
        return Err(logged(node, caller, "mandate_grant", Some(level), e).await);
    }
    let mut given = Vec::new();
    for m in rows::given(&node.store, &head.nip).await? {
        given.push(checked(node, m).await?);
    }
    if given.len() >= MAX_GIVEN {
        return Err(Error::invalid(
            "delegate",
            format!("at most {MAX_GIVEN} mandates run at once: revoke one first"),
        ));
    }
    let overlaps = |m: &Mandate| {
        acting(&m.kind)
            && m.valid_from.as_str() <= n.valid_until.trim()
            && n.valid_from.trim() <= m.valid_until.as_str()
    };
    if acting(&n.kind) && given.iter().any(overlaps) {
        return Err(Error::Conflict(
            "another Plt. or Plh. runs on some of these days: revoke it first".into(),
        ));
    }
    Ok(delegate)
}

/// The head grants `n` with their PIN: to an active official of their agency who may sign
/// letters of that level, a Plt. or Plh. only when no other runs in the same days.
pub async fn grant(node: &Node, caller: &Caller, n: &NewMandate) -> Result<MandateView> {
    let head = &caller.official;
    if !caller.stepped_up {
        let e = refused(
            "ditolak: mandat tanda tangan memerlukan verifikasi PIN",
            "denied: a signing mandate needs the signing PIN",
        );
        return Err(logged(node, caller, "mandate_grant", None, e).await);
    }
    let (from, until) = check_grant(head, n, Day::today().0)?;
    let level = n.max_classification;
    let delegate = check_people(node, caller, n).await?;
    documents::signature_allowed(node, caller, "mandate_grant", None, level).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let at = crate::now_rfc3339();
    let s = Statement {
        r#type: "mandate".into(),
        id: id.clone(),
        node: node.config.node_id.clone(),
        agency: head.agency.clone(),
        kind: n.kind.clone(),
        grantor: head.nip.clone(),
        grantor_name: head.name.clone(),
        grantor_position: head.position.clone(),
        delegate: delegate.nip.clone(),
        delegate_name: delegate.name.clone(),
        max_classification: level,
        valid_from: from.to_string(),
        valid_until: until.to_string(),
        at: at.clone(),
    };
    let statement = serde_json::to_string(&s).map_err(|e| Error::encode("a mandate", e))?;
    let signature = sign_as(node, head, Kind::Mandate, level, statement.as_bytes()).await?;
    let row = Mandate {
        id: id.clone(),
        agency: s.agency,
        grantor: s.grantor,
        delegate: s.delegate,
        kind: s.kind,
        max_classification: level.as_str().into(),
        valid_from: s.valid_from,
        valid_until: s.valid_until,
        statement,
        signature,
        granted_at: at,
        revoked_at: None,
        mac: String::new(),
    };
    let mut tx = node.store.begin().await?;
    rows::insert(&mut tx, &node.store, &row).await?;
    let d = crate::letters::draft::allowed(
        node,
        format!(
            "mandat {} untuk {} sampai {} ({} s.d. {})",
            row.kind, row.delegate, row.max_classification, row.valid_from, row.valid_until
        ),
        format!(
            "mandate {} to {} up to {} ({} to {})",
            row.kind, row.delegate, row.max_classification, row.valid_from, row.valid_until
        ),
    );
    node.audit
        .commit_with(
            tx,
            &entry(caller, "mandate_grant", Some(&id), Some(level), &d),
        )
        .await?;
    view(row)
}

/// Mandate `m` as read, if its MAC holds; else an integrity incident (logged) to refuse with.
async fn checked(node: &Node, m: Mandate) -> Result<Mandate> {
    if rows::holds(&node.store, &m)? {
        return Ok(m);
    }
    Err(node
        .store
        .integrity()
        .incident(
            &format!("official:{}", m.grantor),
            &format!(
                "mandate {} does not carry the node's MAC (changed or forged in the database)",
                m.id
            ),
        )
        .await)
}

fn runs(m: &Mandate, today: Date) -> bool {
    let t = today.to_string();
    m.revoked_at.is_none() && m.valid_from <= t && t <= m.valid_until
}

fn view(m: Mandate) -> Result<MandateView> {
    let s: Statement = serde_json::from_str(&m.statement)
        .map_err(|e| Error::Integrity(format!("mandate {}: {e}", m.id)))?;
    Ok(MandateView {
        active: runs(&m, Day::today().0),
        max_classification: m.max_classification.parse().map_err(Error::Integrity)?,
        id: m.id,
        kind: m.kind,
        grantor: m.grantor,
        grantor_name: s.grantor_name,
        grantor_position: s.grantor_position,
        delegate: m.delegate,
        delegate_name: s.delegate_name,
        valid_from: m.valid_from,
        valid_until: m.valid_until,
        granted_at: m.granted_at,
        revoked_at: m.revoked_at,
    })
}

/// The mandates `nip` gave or holds, newest first; a forged row is left out (an incident).
pub async fn list(node: &Node, nip: &str) -> Result<Vec<MandateView>> {
    let mut out = Vec::new();
    for m in rows::of_official(&node.store, nip).await? {
        match checked(node, m).await {
            Ok(m) => out.push(view(m)?),
            Err(Error::Integrity(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The head revokes a mandate they gave (no PIN needed to take it back).
pub async fn revoke(node: &Node, caller: &Caller, id: &str) -> Result<MandateView> {
    let missing = || Error::NotFound(format!("mandate {id}"));
    let m = rows::get(&node.store, id)
        .await?
        .filter(|m| m.grantor == caller.official.nip)
        .ok_or_else(missing)?;
    // Checked before it is sealed again: revoking never launders a forged row.
    let m = checked(node, m).await?;
    if m.revoked_at.is_some() {
        return view(m);
    }
    let at = crate::now_rfc3339();
    let mut tx = node.store.begin().await?;
    if !rows::revoke(&mut tx, &node.store, &m, &at).await? {
        return Err(Error::Conflict(format!("mandate {id} changed meanwhile")));
    }
    let d = crate::letters::draft::allowed(
        node,
        format!("mandat {} untuk {} dicabut", m.kind, m.delegate),
        format!("mandate {} to {} revoked", m.kind, m.delegate),
    );
    let level = m.max_classification.parse().ok();
    node.audit
        .commit_with(tx, &entry(caller, "mandate_revoke", Some(id), level, &d))
        .await?;
    let m = rows::get(&node.store, id).await?.ok_or_else(missing)?;
    view(checked(node, m).await?)
}

/// The mandate under which `delegate` signs for `head` at `level` today, if one runs: its MAC
/// holds, both are active officials of one agency.
pub(crate) async fn running(
    node: &Node,
    delegate: &Official,
    head: &str,
    level: Level,
) -> Result<Option<Mandate>> {
    let today = Day::today().0;
    for m in rows::held(&node.store, &delegate.nip).await? {
        if m.grantor != head || m.agency != delegate.agency {
            continue;
        }
        let m = checked(node, m).await?;
        let max: Level = m.max_classification.parse().map_err(Error::Integrity)?;
        if runs(&m, today) && level <= max && still_holds(node, &m, delegate, max).await? {
            return Ok(Some(m));
        }
    }
    Ok(None)
}

/// Whether what mandate `m` says of its head is still so: active in the delegate's agency,
/// cleared for its level, under the name and position it was signed with (a head moved to
/// another post, or lowered, no longer lends theirs).
async fn still_holds(node: &Node, m: &Mandate, delegate: &Official, max: Level) -> Result<bool> {
    let Some(g) = directory::get(&node.store, &m.grantor).await? else {
        return Ok(false);
    };
    let s: Statement = serde_json::from_str(&m.statement)
        .map_err(|e| Error::Integrity(format!("mandate {}: {e}", m.id)))?;
    Ok(g.agency == delegate.agency
        && g.status == policies::Status::Active
        && g.clearance >= max
        && g.name == s.grantor_name
        && g.position == s.grantor_position
        && delegate.name == s.delegate_name)
}

/// The heads for whom `delegate` may sign today, with the highest level each mandate allows.
pub(crate) async fn heads(node: &Node, delegate: &Official) -> Result<Vec<(String, Level)>> {
    let today = Day::today().0;
    let mut out = Vec::new();
    for m in rows::held(&node.store, &delegate.nip).await? {
        // A forged row is skipped here; it is an incident where it would be used.
        if m.agency != delegate.agency || !rows::holds(&node.store, &m)? || !runs(&m, today) {
            continue;
        }
        let max: Level = m.max_classification.parse().map_err(Error::Integrity)?;
        if !still_holds(node, &m, delegate, max).await? {
            continue;
        }
        // One line a head, with the widest level their mandates allow.
        match out
            .iter_mut()
            .find(|(h, _): &&mut (String, Level)| *h == m.grantor)
        {
            Some((_, l)) => *l = (*l).max(max),
            None => out.push((m.grantor, max)),
        }
    }
    Ok(out)
}

/// What a letter that `caller` signs for `head` carries: refused (and logged) without a
/// mandate that runs today and reaches the letter's level.
pub(crate) async fn for_letter(
    node: &Node,
    caller: &Caller,
    head: Option<&str>,
    level: Level,
) -> Result<Option<OnBehalf>> {
    let Some(head) = head.map(str::trim).filter(|h| !h.is_empty()) else {
        return Ok(None);
    };
    let Some(m) = running(node, &caller.official, head, level).await? else {
        let e = refused(
            "ditolak: tidak ada mandat yang berlaku untuk menandatangani atas nama pejabat ini",
            "denied: no mandate runs for signing on this official's behalf",
        );
        return Err(logged(node, caller, "sign", Some(level), e).await);
    };
    let s: Statement = serde_json::from_str(&m.statement)
        .map_err(|e| Error::Integrity(format!("mandate {}: {e}", m.id)))?;
    // The mandate holds for this signer; whether the letter is then signed is the letter's
    // own entries' to say.
    let d = crate::letters::draft::allowed(
        node,
        format!(
            "mandat {} berlaku: {} {} untuk tanda tangan ini",
            m.id, m.kind, m.grantor
        ),
        format!(
            "mandate {} holds: {} {} for this signature",
            m.id, m.kind, m.grantor
        ),
    );
    crate::node::log_alone(
        node,
        &entry(caller, "mandate_use", Some(&m.id), Some(level), &d),
    )
    .await?;
    Ok(Some(OnBehalf {
        kind: m.kind,
        nip: m.grantor,
        name: s.grantor_name,
        position: s.grantor_position,
        mandate: m.statement,
        grant: base64::engine::general_purpose::STANDARD.encode(&m.signature),
    }))
}

/// The signature block's position lines for a letter signed by `own` (the signer's position):
/// "a.n. <head>" above their own for atas nama, "Plt. <head>" or "Plh. <head>" alone.
pub(crate) fn position(on_behalf: Option<&OnBehalf>, own: &str) -> String {
    match on_behalf {
        None => own.to_owned(),
        Some(o) if o.kind == "an" => format!("a.n. {}\n{own}", o.position),
        Some(o) if o.kind == "plt" => format!("Plt. {}", o.position),
        Some(o) => format!("Plh. {}", o.position),
    }
}

/// Checks the mandate a received letter carries: the statement bounded and well formed,
/// naming the letter's agency, its originator as the delegate and the head the manifest
/// names; reaching the letter's level; running on the day (WIB) its signature was
/// time-stamped (`signed_at`); signed by that head with a certificate of this network not
/// revoked before and in keymgr's issuance log. `Ok(Err(why))` is a refusal.
pub async fn check_carried(
    node: &Node,
    letter: &Manifest,
    signed_at: &str,
) -> Result<std::result::Result<(), String>> {
    let Some(ob) = &letter.on_behalf else {
        return Ok(Ok(()));
    };
    if ob.mandate.len() > MAX_STATEMENT || ob.grant.len() > MAX_GRANT {
        return Ok(Err(
            "on_behalf: the mandate is larger than any sandi makes".into()
        ));
    }
    let Ok(stmt) = serde_json::from_str::<Statement>(&ob.mandate) else {
        return Ok(Err("on_behalf: the mandate is not a mandate".into()));
    };
    let same = stmt.r#type == "mandate"
        && KINDS.contains(&stmt.kind.as_str())
        && stmt.kind == ob.kind
        && stmt.grantor == ob.nip
        && stmt.grantor_name == ob.name
        && stmt.grantor_position == ob.position
        && stmt.delegate == letter.originator
        && stmt.delegate_name == letter.originator_name
        && stmt.agency == letter.agency
        && stmt.node == letter.node
        && stmt.grantor != stmt.delegate;
    if !same {
        return Ok(Err("on_behalf: the mandate names someone else".into()));
    }
    let Some(when) = crate::parse_time(signed_at) else {
        return Ok(Err(
            "on_behalf: the letter's signing time is unreadable".into()
        ));
    };
    // A reclassified version is signed later by whoever reclassified it, under their own
    // authority: the mandate's level and days bound the signature of the first version.
    if letter.reclassified.is_none() {
        if letter.classification > stmt.max_classification {
            return Ok(Err(
                "on_behalf: the mandate does not reach this level".into()
            ));
        }
        let wib = time::UtcOffset::from_hms(7, 0, 0).unwrap_or(time::UtcOffset::UTC);
        let signed_day = when.to_offset(wib).date().to_string();
        if signed_day < stmt.valid_from || stmt.valid_until < signed_day {
            return Ok(Err(format!(
                "on_behalf: the mandate runs {} to {}, the letter was signed {signed_day}",
                stmt.valid_from, stmt.valid_until
            )));
        }
    }
    let Ok(grant) = base64::engine::general_purpose::STANDARD.decode(&ob.grant) else {
        return Ok(Err("on_behalf: the grant is not base64".into()));
    };
    let verified = match signature::verify_detached(
        &grant,
        Kind::Mandate,
        Content::Bytes(ob.mandate.as_bytes()),
        &node.trust,
        OffsetDateTime::now_utc(),
    ) {
        Ok(v) => v,
        Err(e) => return Ok(Err(format!("on_behalf: the grant: {e}"))),
    };
    // The head's name and agency as keymgr certified them, not as the statement says.
    let certified = |part: String| verified.subject.split(", ").any(|p| p == part);
    if verified.nip.as_deref() != Some(stmt.grantor.as_str())
        || !certified(format!("CN={}", stmt.grantor_name))
        || !certified(format!("OU={}", stmt.agency))
    {
        return Ok(Err("on_behalf: the grant is signed by someone else".into()));
    }
    // Not proven: retried (503), as for the signer's own certificate.
    if let Err(why) = crate::network::issuance::require(node, &verified.signer_der).await? {
        return Err(Error::Busy(format!("on_behalf: the head's {why}")));
    }
    // The head's certificate revoked before the letter was signed lends it no authority.
    match crate::node::revocation::signature_status(node, &verified, None) {
        Ok(crate::crypto::revocation::SignatureStatus::RevokedBeforeSigning { .. }) => Ok(Err(
            "on_behalf: the head's certificate was revoked before the grant".into(),
        )),
        Ok(crate::crypto::revocation::SignatureStatus::RevokedAfterSigning {
            revoked_at, ..
        }) if crate::parse_time(&revoked_at).is_none_or(|r| r <= when) => Ok(Err(format!(
            "on_behalf: the head's certificate was revoked at {revoked_at}, before the letter"
        ))),
        Ok(_) => Ok(Ok(())),
        Err(e @ Error::Integrity(_)) => Ok(Err(format!("on_behalf: the grant: {e}"))),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn carried(kind: &str) -> OnBehalf {
        OnBehalf {
            kind: kind.into(),
            nip: "1".into(),
            name: "Budi".into(),
            position: "Kepala Dinas Kesehatan".into(),
            mandate: String::new(),
            grant: String::new(),
        }
    }

    #[test]
    fn the_signature_block_says_for_whom() {
        assert_eq!(position(None, "Sekretaris Dinas"), "Sekretaris Dinas");
        assert_eq!(
            position(Some(&carried("an")), "Sekretaris Dinas"),
            "a.n. Kepala Dinas Kesehatan\nSekretaris Dinas"
        );
        assert_eq!(
            position(Some(&carried("plt")), "Sekretaris Dinas"),
            "Plt. Kepala Dinas Kesehatan"
        );
        assert_eq!(
            position(Some(&carried("plh")), "Sekretaris Dinas"),
            "Plh. Kepala Dinas Kesehatan"
        );
    }

    #[test]
    fn a_grant_is_bounded_before_anything_is_looked_up() {
        let head = Official {
            nip: "1".into(),
            name: "Budi".into(),
            agency: "dinkes".into(),
            position: "Kepala".into(),
            clearance: Level::Rahasia,
            roles: vec![],
            compartments: vec![],
            status: policies::Status::Active,
            signing_key: None,
            encryption_key: None,
            certificate: None,
            personal_recipient: None,
        };
        let today = Date::from_calendar_date(2026, time::Month::December, 2).expect("day");
        let n = |kind: &str, lvl, from: &str, until: &str, to: &str| NewMandate {
            delegate: to.into(),
            kind: kind.into(),
            max_classification: lvl,
            valid_from: from.into(),
            valid_until: until.into(),
        };
        let ok = n("an", Level::Rahasia, "2026-12-02", "2026-12-09", "2");
        assert!(check_grant(&head, &ok, today).is_ok());
        for bad in [
            n("atas", Level::Rahasia, "2026-12-02", "2026-12-09", "2"),
            n("an", Level::SangatRahasia, "2026-12-02", "2026-12-09", "2"),
            n("an", Level::Rahasia, "2026-12-01", "2026-12-09", "2"),
            n("an", Level::Rahasia, "2026-12-09", "2026-12-02", "2"),
            n("an", Level::Rahasia, "2026-12-02", "2028-12-02", "2"),
            n("an", Level::Rahasia, "2026-12-02", "2026-12-09", "1"),
            n("an", Level::Rahasia, "2026-12-02", "2026-12-09", "2'; --"),
            n("plh", Level::Rahasia, "tomorrow", "2026-12-09", "2"),
        ] {
            assert!(
                matches!(
                    check_grant(&head, &bad, today),
                    Err(Error::InvalidInput { .. })
                ),
                "{bad:?}"
            );
        }
    }
}
