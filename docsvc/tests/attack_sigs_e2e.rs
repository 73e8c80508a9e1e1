//! Attacks on what signatures mean and on who consents to them (issue 15, points 7 and 8):
//! an application's signature through `/api/v1/sign` passed off as a letter signature, each
//! verifier handed the other kinds, signing as an official without their consent, and an
//! admin acting alone on officials (the export recipient: attack_recipient_e2e).

use std::sync::Arc;

use docsvc::crypto::signature::Kind;
use docsvc::letters::documents::{self};
use docsvc::node::Node;
use docsvc::officials::Caller;
use docsvc::officials::changes::decide;
use policies::Level;
use sandi_e2e::steps::Steps;
use sqlx::Row as _;

mod common;
use common::{BUDI, letter_to, node_pins, official};

const SITI: &str = "198002022005012002";

/// A quickstart node opened as a library and unsealed, on SQLite or (with a URL) PostgreSQL.
async fn node(dir: &std::path::Path, database_url: Option<&str>) -> Arc<Node> {
    node_pins(dir, database_url).await.0
}

/// The access log's entries, as JSON text, in order.
async fn log_entries(node: &Node) -> Vec<String> {
    sqlx::query("SELECT entry FROM audit_log ORDER BY seq")
        .fetch_all(node.store.pool())
        .await
        .expect("log")
        .iter()
        .map(|r| r.try_get::<String, _>("entry").expect("entry"))
        .collect()
}

/// A letter from Budi to Siti; returns its id.
async fn letter(node: &Node, level: Level) -> String {
    letter_to(node, level, SITI, "Uji tanda tangan")
        .await
        .manifest
        .id
}

async fn stored(node: &Node, id: &str) -> (Vec<u8>, Vec<u8>) {
    let row = sqlx::query("SELECT manifest, signature FROM documents WHERE id = $1")
        .bind(id)
        .fetch_one(node.store.pool())
        .await
        .expect("row");
    (
        row.try_get("manifest").expect("manifest"),
        row.try_get("signature").expect("signature"),
    )
}

async fn set_signature(node: &Node, id: &str, sig: &[u8]) {
    let done = sqlx::query("UPDATE documents SET signature = $1 WHERE id = $2")
        .bind(sig.to_vec())
        .bind(id)
        .execute(node.store.pool())
        .await
        .expect("update");
    assert_eq!(done.rows_affected(), 1);
}

/// An application that may sign for Budi has his key sign the SHA-256 of his letter's
/// manifest through the signing API; an insider puts that signature in place of the letter's.
/// The node must not take an API signature for a letter signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_signature_over_a_manifest_is_not_a_letter_signature() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, pins) = node_pins(dir.path(), None).await;
    let id = letter(&node, Level::Biasa).await;
    let (manifest, original) = stored(&node, &id).await;
    documents::load_checked(&node, &id)
        .await
        .expect("the letter as stored verifies");

    let app = docsvc::officials::applications::get(&node.store, "e-office")
        .await
        .expect("app")
        .expect("e-office");
    // Budi is cleared for SANGAT RAHASIA: his key is P-384, which signs SHA-384 digests.
    let digest = hex::encode(ring::digest::digest(&ring::digest::SHA384, &manifest));
    let signed = docsvc::signing::sign(
        &node,
        &app,
        None,
        &docsvc::signing::SignRequest {
            content: None,
            sha256: None,
            sha384: Some(digest),
            as_official: Some(BUDI.into()),
            classification: None,
            pin: Some(docsvc::signing::Pin(pins[BUDI].clone().into())),
        },
    )
    .await
    .expect("the application signs as Budi (with his PIN)");
    let api_sig = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        &signed.signature,
    )
    .expect("base64");

    set_signature(&node, &id, &api_sig).await;
    let e = documents::load_checked(&node, &id)
        .await
        .expect_err("an API signature must not pass as the letter's signature");
    assert!(
        matches!(e, docsvc::Error::Integrity(_)),
        "an integrity incident, not {e:?}"
    );
    assert!(e.to_string().contains("kind"), "{e}");

    set_signature(&node, &id, &original).await;
    documents::load_checked(&node, &id)
        .await
        .expect("the original signature verifies again");
}

/// A CMS signature of `kind` over `bytes` with `o`'s key: what a node's own code signs, made
/// here for every kind so that each verifier is handed the others'.
/// A signature of `kind` by `o`, time-stamped by the node's TSA as the node's own are.
async fn sign_kind(
    node: &Node,
    o: &docsvc::officials::directory::Official,
    kind: Kind,
    bytes: &[u8],
) -> Vec<u8> {
    let handle = node
        .handle(o.signing_key.expect("signing key"))
        .expect("handle");
    let keys: &dyn hsm_shim::KeyStore = node.keystore.as_ref();
    let cms = docsvc::crypto::signature::sign_detached(
        kind,
        docsvc::crypto::signature::Content::Bytes(bytes),
        handle.kind().signature_algorithm().expect("a signing key"),
        o.certificate.as_deref().expect("certificate"),
        std::slice::from_ref(&node.signing_ca_der),
        time::OffsetDateTime::now_utc(),
        |m| Ok(keys.sign(&handle, m)?.bytes),
    )
    .expect("sign");
    docsvc::node::tsa::stamp(node, cms)
        .await
        .expect("time-stamp")
}

/// Each verifier (letters, approvals, destruction records, the signing API's verify) takes
/// the signature of its own kind and refuses every other kind over the very same bytes by the
/// very same signer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_verifier_takes_only_its_own_kind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = node(dir.path(), None).await;
    let id = letter(&node, Level::Biasa).await;
    let (manifest, original) = stored(&node, &id).await;
    let budi = official(&node, BUDI).await;

    let mut steps = Steps::new();
    steps
        .run_async(
            "a_letter_takes_only_a_manifest_signature",
            a_letter_takes_only_a_manifest_signature(&node, &budi, &id, &manifest, &original),
        )
        .await;
    steps
        .run_async(
            "an_approval_takes_only_an_approval_signature",
            an_approval_takes_only_an_approval_signature(&node, &budi, &id, &manifest),
        )
        .await;
    steps
        .run_async(
            "a_destruction_record_takes_only_a_destruction_signature",
            a_destruction_record_takes_only_a_destruction_signature(&node, &budi, &id, &manifest),
        )
        .await;
    steps
        .run_async(
            "the_signing_api_verifies_only_its_own",
            the_signing_api_verifies_only_its_own(&node, &budi, &manifest),
        )
        .await;
    steps.finish();
}

fn b64(b: &[u8]) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b)
}

/// The letter.
async fn a_letter_takes_only_a_manifest_signature(
    node: &Node,
    budi: &docsvc::officials::directory::Official,
    id: &str,
    manifest: &[u8],
    original: &[u8],
) {
    for kind in Kind::ALL {
        set_signature(node, id, &sign_kind(node, budi, kind, manifest).await).await;
        let got = documents::load_checked(node, id).await;
        assert_eq!(
            got.is_ok(),
            kind == Kind::Manifest,
            "letter, {kind:?}: {got:?}"
        );
    }
    set_signature(node, id, original).await;
}

/// An approval, by Budi's colleague's hand or his: the kind decides.
async fn an_approval_takes_only_an_approval_signature(
    node: &Node,
    budi: &docsvc::officials::directory::Official,
    id: &str,
    manifest: &[u8],
) {
    for kind in Kind::ALL {
        sqlx::query("DELETE FROM approvals WHERE document_id = $1")
            .bind(id)
            .execute(node.store.pool())
            .await
            .expect("delete");
        sqlx::query(
            "INSERT INTO approvals (document_id, nip, at, signature) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(BUDI)
        .bind(docsvc::now_rfc3339())
        .bind(sign_kind(node, budi, kind, manifest).await)
        .execute(node.store.pool())
        .await
        .expect("insert");
        let got = docsvc::letters::approvals::checked(node, id).await;
        assert_eq!(
            got.is_ok(),
            kind == Kind::Approval,
            "approval, {kind:?}: {got:?}"
        );
        if let Err(e) = got {
            assert!(matches!(e, docsvc::Error::Integrity(_)), "{e:?}");
        }
    }
}

/// A destruction record.
async fn a_destruction_record_takes_only_a_destruction_signature(
    node: &Node,
    budi: &docsvc::officials::directory::Official,
    id: &str,
    manifest: &[u8],
) {
    let record = docsvc::letters::lifecycle::DestructionRecord {
        format: "sandi-destruction-v1".into(),
        document_id: id.to_owned(),
        nomor: "005/77/XI/2026".into(),
        classification: Level::Biasa,
        dated: "2026-11-30".into(),
        manifest_sha256: hex::encode(ring::digest::digest(&ring::digest::SHA256, manifest)),
        retention_years: 2,
        retention_ended: "2026-11-30".into(),
        retention_from: None,
        destroyed_at: docsvc::now_rfc3339(),
        destroyed_by: BUDI.into(),
        destroyed_by_name: budi.name.clone(),
        reason: "uji".into(),
    };
    let bytes = serde_json::to_vec(&record).expect("json");
    let caller = Caller {
        official: budi.clone(),
        stepped_up: true,
        client: None,
    };
    for kind in Kind::ALL {
        sqlx::query("DELETE FROM destructions WHERE document_id = $1")
            .bind(id)
            .execute(node.store.pool())
            .await
            .expect("delete");
        sqlx::query(
            "INSERT INTO destructions (document_id, record, signature, destroyed_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(bytes.clone())
        .bind(sign_kind(node, budi, kind, &bytes).await)
        .bind(&record.destroyed_at)
        .execute(node.store.pool())
        .await
        .expect("insert");
        let got = docsvc::letters::lifecycle::destruction_record(node, &caller, id).await;
        assert_eq!(
            got.is_ok(),
            kind == Kind::Destruction,
            "destruction, {kind:?}: {got:?}"
        );
    }
}

/// The signing API's verify: only what the signing API signed.
async fn the_signing_api_verifies_only_its_own(
    node: &Node,
    budi: &docsvc::officials::directory::Official,
    manifest: &[u8],
) {
    let app = docsvc::officials::applications::get(&node.store, "e-office")
        .await
        .expect("app")
        .expect("e-office");
    for kind in Kind::ALL {
        let v = docsvc::signing::verify(
            node,
            &app,
            None,
            &docsvc::signing::VerifyRequest {
                content: Some(b64(manifest)),
                sha256: None,
                sha384: None,
                signature: b64(&sign_kind(node, budi, kind, manifest).await),
            },
        )
        .await
        .expect("verify answers");
        assert_eq!(v.valid, kind == Kind::Api, "api verify, {kind:?}: {v:?}");
    }
}

fn sign_request(level: Level, pin: Option<&str>) -> docsvc::signing::SignRequest {
    docsvc::signing::SignRequest {
        content: None,
        sha256: None,
        sha384: Some(hex::encode([7u8; 48])),
        as_official: Some(BUDI.into()),
        classification: Some(level),
        pin: pin.map(|p| docsvc::signing::Pin(p.to_owned().into())),
    }
}

async fn signs(node: &Node, req: &docsvc::signing::SignRequest) -> Result<String, String> {
    let app = docsvc::officials::applications::get(&node.store, "e-office")
        .await
        .expect("app")
        .expect("e-office");
    match docsvc::signing::sign(node, &app, None, req).await {
        Ok(r) => Ok(r.signer),
        Err(e @ docsvc::Error::Forbidden { .. }) => Err(e.to_string()),
        Err(e) => panic!("a refusal is a 403, not {e:?}"),
    }
}

/// A refusal of any kind, as text: a policy refusal or an integrity incident.
async fn signs_or_incident(node: &Node, req: &docsvc::signing::SignRequest) -> String {
    let app = docsvc::officials::applications::get(&node.store, "e-office")
        .await
        .expect("app")
        .expect("e-office");
    match docsvc::signing::sign(node, &app, None, req).await {
        Ok(r) => panic!("signed as {} when it must be refused", r.signer),
        Err(e) => e.to_string(),
    }
}

/// The administrator registered e-office to sign for Budi; that alone is not Budi's consent.
/// He consents with his PIN for one request, or by a delegation he grants with his PIN step-up
/// (scoped to a classification, expiring, revocable); grants, revocations and uses are logged.
async fn consent_is_the_officials(database_url: Option<&str>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, pins) = node_pins(dir.path(), database_url).await;
    let pin = pins[BUDI].as_str();
    let budi = official(&node, BUDI).await;

    let mut steps = Steps::new();
    steps
        .run_async(
            "the_admin_flag_alone_is_refused_and_logged",
            the_admin_flag_alone_is_refused_and_logged(&node),
        )
        .await;
    steps
        .run_async(
            "his_pin_consents_to_one_request",
            his_pin_consents_to_one_request(&node, pin),
        )
        .await;
    steps
        .run_async(
            "a_grant_needs_the_step_up_and_a_bound",
            a_grant_needs_the_step_up_and_a_bound(&node, &budi),
        )
        .await;
    // The delegations the steps after stand on are granted as plain calls.
    let d = a_delegation_for_a_day(&node, &budi).await;
    steps
        .run_async(
            "it_holds_within_its_scope_and_only_budi_revokes_it",
            it_holds_within_its_scope_and_only_budi_revokes_it(&node, &d.id),
        )
        .await;
    steps
        .run_async(
            "a_widened_delegation_is_an_integrity_incident",
            a_widened_delegation_is_an_integrity_incident(&node, &d.id),
        )
        .await;
    steps
        .run_async(
            "revoked_it_signs_no_more",
            revoked_it_signs_no_more(&node, &budi, &d.id),
        )
        .await;
    let d2 = docsvc::officials::delegation::grant(&node, &caller_of(budi.clone(), true), &grant())
        .await
        .expect("grant");
    steps
        .run_async(
            "a_revived_delegation_is_an_integrity_incident",
            a_revived_delegation_is_an_integrity_incident(&node, &budi, &d2.id),
        )
        .await;
    steps
        .run_async(
            "each_incident_is_logged_and_none_is_active",
            each_incident_is_logged_and_none_is_active(&node),
        )
        .await;
    steps
        .run_async(
            "grants_uses_and_revocations_are_logged",
            grants_uses_and_revocations_are_logged(&node, &d.id, &d2.id),
        )
        .await;
    steps.finish();
}

/// Budi's grant to e-office: up to biasa, for a day.
fn grant() -> docsvc::officials::delegation::Grant {
    docsvc::officials::delegation::Grant {
        application_id: "e-office".into(),
        max_classification: Level::Biasa,
        days: 1,
    }
}

/// A database writer's change to one delegation.
async fn tamper(node: &Node, sql: &'static str, value: Option<&'static str>, id: &str) {
    sqlx::query(sql)
        .bind(value)
        .bind(id)
        .execute(node.store.pool())
        .await
        .expect("database write");
}

/// The admin flag alone: refused, and the refusal logged.
async fn the_admin_flag_alone_is_refused_and_logged(node: &Node) {
    let e = signs(node, &sign_request(Level::Biasa, None))
        .await
        .expect_err("may_sign_for alone must not sign as Budi");
    assert!(e.contains("delegat"), "{e}");
    assert!(
        log_entries(node)
            .await
            .iter()
            .any(|e| e.contains("application:e-office") && e.contains("deny")),
        "the refusal is logged"
    );
}

/// His PIN, for this request: wrong, then right.
async fn his_pin_consents_to_one_request(node: &Node, pin: &str) {
    let biasa = Level::Biasa;
    assert!(
        signs(node, &sign_request(biasa, Some("000000")))
            .await
            .is_err()
    );
    assert_eq!(
        signs(node, &sign_request(biasa, Some(pin))).await,
        Ok(format!("official:{BUDI}"))
    );
}

/// A delegation: not without the step-up, not above his own bounds.
async fn a_grant_needs_the_step_up_and_a_bound(
    node: &Node,
    budi: &docsvc::officials::directory::Official,
) {
    assert!(matches!(
        docsvc::officials::delegation::grant(node, &caller_of(budi.clone(), false), &grant()).await,
        Err(docsvc::Error::Forbidden { .. })
    ));
    let too_high = docsvc::officials::delegation::Grant {
        max_classification: Level::SangatRahasia,
        days: 400,
        ..grant()
    };
    assert!(
        docsvc::officials::delegation::grant(node, &caller_of(budi.clone(), true), &too_high)
            .await
            .is_err()
    );
}

/// With the step-up: up to biasa, for a day; e-office signs as Budi under it.
async fn a_delegation_for_a_day(
    node: &Node,
    budi: &docsvc::officials::directory::Official,
) -> docsvc::officials::delegation::Delegation {
    let d = docsvc::officials::delegation::grant(node, &caller_of(budi.clone(), true), &grant())
        .await
        .expect("grant");
    assert!(d.active);
    assert_eq!(
        signs(node, &sign_request(Level::Biasa, None)).await,
        Ok(format!("official:{BUDI}"))
    );
    d
}

/// Its scope: not above biasa. Someone else's delegation is not Budi's to revoke.
async fn it_holds_within_its_scope_and_only_budi_revokes_it(node: &Node, id: &str) {
    assert!(
        signs(node, &sign_request(Level::Terbatas, None))
            .await
            .is_err()
    );
    let siti = Caller {
        official: official(node, SITI).await,
        stepped_up: true,
        client: None,
    };
    assert!(matches!(
        docsvc::officials::delegation::revoke(node, &siti, id).await,
        Err(docsvc::Error::NotFound(_))
    ));
    assert_eq!(
        signs(node, &sign_request(Level::Biasa, None)).await,
        Ok(format!("official:{BUDI}"))
    );
}

/// A database writer widens it: an integrity incident (the row's node MAC fails), refused
/// and logged; put back as it was, it holds again.
async fn a_widened_delegation_is_an_integrity_incident(node: &Node, id: &str) {
    tamper(
        node,
        "UPDATE delegations SET max_classification = $1 WHERE id = $2",
        Some("sangat_rahasia"),
        id,
    )
    .await;
    let refused = signs_or_incident(node, &sign_request(Level::Terbatas, None)).await;
    assert!(
        refused.contains("integrity"),
        "a widened delegation: {refused}"
    );
    tamper(
        node,
        "UPDATE delegations SET max_classification = $1 WHERE id = $2",
        Some("biasa"),
        id,
    )
    .await;
    assert!(signs(node, &sign_request(Level::Biasa, None)).await.is_ok());
}

/// Revoked by Budi (no step-up needed): refused.
async fn revoked_it_signs_no_more(
    node: &Node,
    budi: &docsvc::officials::directory::Official,
    id: &str,
) {
    let r = docsvc::officials::delegation::revoke(node, &caller_of(budi.clone(), false), id)
        .await
        .expect("revoke");
    assert!(!r.active);
    assert!(
        signs(node, &sign_request(Level::Biasa, None))
            .await
            .is_err()
    );
}

/// A new one, revoked by Budi: refused; revived by a database writer: an integrity incident,
/// not consent.
async fn a_revived_delegation_is_an_integrity_incident(
    node: &Node,
    budi: &docsvc::officials::directory::Official,
    id: &str,
) {
    let biasa = Level::Biasa;
    assert!(signs(node, &sign_request(biasa, None)).await.is_ok());
    let r = docsvc::officials::delegation::revoke(node, &caller_of(budi.clone(), false), id)
        .await
        .expect("revoke");
    assert!(!r.active && r.revoked_at.is_some());
    assert!(signs(node, &sign_request(biasa, None)).await.is_err());
    tamper(
        node,
        "UPDATE delegations SET revoked_at = $1 WHERE id = $2",
        None,
        id,
    )
    .await;
    let refused = signs_or_incident(node, &sign_request(biasa, None)).await;
    assert!(
        refused.contains("integrity"),
        "a revived delegation: {refused}"
    );
    sqlx::query("UPDATE delegations SET revoked_at = $1 WHERE id = $2")
        .bind(&r.revoked_at)
        .bind(id)
        .execute(node.store.pool())
        .await
        .expect("put back");
}

/// Both incidents are in the log; both of Budi's delegations are inactive.
async fn each_incident_is_logged_and_none_is_active(node: &Node) {
    assert!(
        log_entries(node)
            .await
            .iter()
            .filter(|e| e.contains("does not carry the node's MAC"))
            .count()
            >= 2,
        "each incident is logged"
    );
    let mine = docsvc::officials::delegation::list(node, BUDI)
        .await
        .expect("list");
    assert_eq!(mine.len(), 2);
    assert!(mine.iter().all(|d| !d.active));
}

/// The grant, its use, the PIN's use and the revocation are each in the log.
async fn grants_uses_and_revocations_are_logged(node: &Node, d: &str, d2: &str) {
    let log = log_entries(node).await;
    for (what, needle) in [
        ("the grant", format!("delegation {d}")),
        ("the use", format!("under delegation {d}")),
        ("the PIN use", "with the official's PIN".to_owned()),
        (
            "the revocation",
            format!("delegation {d2} of application e-office revoked"),
        ),
    ] {
        assert!(log.iter().any(|e| e.contains(&needle)), "{what} is logged");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_as_an_official_needs_their_consent_sqlite() {
    consent_is_the_officials(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_as_an_official_needs_their_consent_postgres() {
    let Some((url, name)) = sandi_e2e::pg::postgres().await else {
        return;
    };
    consent_is_the_officials(Some(&url)).await;
    sandi_e2e::pg::drop_postgres(&name).await;
}

const MAYA: &str = "198806062012122006"; // pengelola_sandi + admin, rahasia
const BAYU: &str = "199109092016031009"; // pengelola_sandi, rahasia
const AGUS: &str = "198503032010013003"; // terbatas

/// Replaces letter `id`'s manifest by `m`, signed by Budi as a letter (a letter as another
/// node would have sent it, or as this node would have written it).
async fn restate(node: &Node, id: &str, m: &docsvc::crypto::envelope::Manifest) {
    let bytes = m.canonical().expect("canonical");
    let sig = sign_kind(node, &official(node, BUDI).await, Kind::Manifest, &bytes).await;
    sqlx::query("UPDATE documents SET manifest = $1, signature = $2 WHERE id = $3")
        .bind(bytes)
        .bind(sig)
        .bind(id)
        .execute(node.store.pool())
        .await
        .expect("update");
}

async fn may_read(node: &Node, nip: &str, id: &str) -> bool {
    let checked = documents::load_checked(node, id).await.expect("checked");
    let caller = Caller {
        official: official(node, nip).await,
        stepped_up: true,
        client: None,
    };
    documents::decide(node, &caller, policies::Action::Read, &checked, true)
        .await
        .expect("decide")
        .allowed
}

/// Another node's officials stay `NIP@node` to the policy: an official registered here under
/// the NIP of another node's addressee (or originator) reads nothing addressed to them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_nodes_official_is_not_a_local_nip() {
    const X: &str = "199912312020121099";
    let dir = tempfile::tempdir().expect("tempdir");
    let node = node(dir.path(), None).await;
    let id = letter(&node, Level::Terbatas).await;
    let checked = documents::load_checked(&node, &id).await.expect("checked");
    assert!(may_read(&node, SITI, &id).await, "its addressee reads it");

    // Budi writes to X on node-lain; here, someone registers an official with X's NIP.
    let mut m = checked.manifest.clone();
    m.recipients = vec![format!("{X}@node-lain")];
    restate(&node, &id, &m).await;
    docsvc::officials::directory::add(
        &node.store,
        node.keystore.as_ref(),
        node.policy.current().handling(),
        &docsvc::officials::directory::NewOfficial {
            nip: X.into(),
            name: "Penyusup".into(),
            agency: "dinkes".into(),
            position: "Staf".into(),
            clearance: Level::SangatRahasia,
            roles: vec!["pejabat".into()],
            compartments: vec![],
            secrets: docsvc::officials::directory::Secrets::DevKnown {
                password: "kata sandi panjang sekali".to_owned().into(),
                pin: "123456".to_owned().into(),
            },
            status: policies::Status::Active,
        },
    )
    .await
    .expect("add");
    assert!(
        !may_read(&node, X, &id).await,
        "a local official is not another node's addressee of the same NIP"
    );
    // Addressed to X on this node, by name of this node: X reads it.
    m.recipients = vec![format!("{X}@{}", node.config.node_id)];
    restate(&node, &id, &m).await;
    assert!(may_read(&node, X, &id).await, "NIP@here is this node's NIP");

    // A letter from node-lain whose originator has Budi's NIP there: not Budi here.
    m.node = "node-lain".into();
    m.recipients = vec![format!("{SITI}@{}", node.config.node_id)];
    restate(&node, &id, &m).await;
    assert!(
        may_read(&node, SITI, &id).await,
        "its addressee here reads it"
    );
    assert!(
        !may_read(&node, BUDI, &id).await,
        "Budi here is not the originator on node-lain"
    );
}

fn caller_of(o: docsvc::officials::directory::Official, stepped_up: bool) -> Caller {
    Caller {
        official: o,
        stepped_up,
        client: None,
    }
}

fn registration(nip: &str, level: Level) -> docsvc::officials::admin::NewOfficialRequest {
    docsvc::officials::admin::NewOfficialRequest {
        nip: nip.into(),
        name: "Pejabat Baru".into(),
        agency: "dinkes".into(),
        position: "Staf".into(),
        clearance: level,
        roles: vec!["pejabat".into()],
    }
}

/// An administrator alone neither registers an official nor raises a clearance, and never
/// above their own: a second `pengelola_sandi`, not the one who asked, approves (with the PIN
/// step-up); until then the official is suspended. Every step is logged.
async fn two_people_for_officials(database_url: Option<&str>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = node(dir.path(), database_url).await;
    let maya = official(&node, MAYA).await;
    let bayu = official(&node, BAYU).await;

    let mut steps = Steps::new();
    steps
        .run_async(
            "no_registration_above_her_own_clearance",
            no_registration_above_her_own_clearance(&node, &maya),
        )
        .await;
    // Within it: registered (what the steps after stand on).
    let r = docsvc::officials::admin::register(
        &node,
        &maya,
        None,
        registration("199901012020121002", Level::Rahasia),
    )
    .await
    .expect("register");
    // The official sets their own secrets with the code (allowed while the registration
    // waits), so that only the missing approval keeps them out below.
    docsvc::officials::enrolment::enrol(
        &node,
        &r.official.nip,
        &r.enrolment.code,
        "kata sandi panjang sekali",
        "135790",
        None,
    )
    .await
    .expect("enrol");
    steps
        .run_async(
            "registered_it_waits_suspended",
            registered_it_waits_suspended(&node, &maya, &bayu, &r.official, &r.change.id),
        )
        .await;
    steps
        .run_async(
            "a_second_officer_lets_it_in_once",
            a_second_officer_lets_it_in_once(&node, &bayu, &r.official.nip, &r.change.id),
        )
        .await;
    steps
        .run_async(
            "a_raise_waits_for_a_second_officer_a_lowering_does_not",
            a_raise_waits_for_a_second_officer_a_lowering_does_not(&node, &maya, bayu),
        )
        .await;
    steps
        .run_async("every_step_is_logged", every_step_is_logged(&node))
        .await;
    steps.finish();
}

/// Above her own clearance: refused, logged.
async fn no_registration_above_her_own_clearance(
    node: &Node,
    maya: &docsvc::officials::directory::Official,
) {
    let e = docsvc::officials::admin::register(
        node,
        maya,
        None,
        registration("199901012020121001", Level::SangatRahasia),
    )
    .await
    .expect_err("Maya (rahasia) registers no sangat_rahasia official");
    assert!(matches!(e, docsvc::Error::Forbidden { .. }), "{e:?}");
}

/// Registered, suspended, pending: no login; not let in by a status change, not by Maya
/// herself, not without the PIN, not by a non-officer.
async fn registered_it_waits_suspended(
    node: &Node,
    maya: &docsvc::officials::directory::Official,
    bayu: &docsvc::officials::directory::Official,
    registered: &docsvc::officials::directory::Official,
    change: &str,
) {
    assert_eq!(registered.status, policies::Status::Suspended);
    let nip = &registered.nip;
    assert!(
        docsvc::officials::directory::login(&node.store, nip, "kata sandi panjang sekali")
            .await
            .is_err(),
        "no login before the second approval"
    );
    assert!(
        docsvc::officials::admin::set_status(node, maya, None, nip, "active")
            .await
            .is_err()
    );
    for (who, stepped_up) in [
        (maya.clone(), true),
        (bayu.clone(), false),
        (official(node, BUDI).await, true),
    ] {
        let e = decide(node, &caller_of(who.clone(), stepped_up), change, true)
            .await
            .expect_err("refused");
        assert!(
            matches!(e, docsvc::Error::Forbidden { .. }),
            "{}: {e:?}",
            who.nip
        );
    }
}

/// Bayu approves: the official is active; a second decision conflicts.
async fn a_second_officer_lets_it_in_once(
    node: &Node,
    bayu: &docsvc::officials::directory::Official,
    nip: &str,
    change: &str,
) {
    let c = decide(node, &caller_of(bayu.clone(), true), change, true)
        .await
        .expect("Bayu approves");
    assert_eq!(c.decision.as_deref(), Some("approved"));
    assert_eq!(c.decided_by.as_deref(), Some(BAYU));
    assert_eq!(official(node, nip).await.status, policies::Status::Active);
    assert!(matches!(
        decide(node, &caller_of(bayu.clone(), true), change, true).await,
        Err(docsvc::Error::Conflict(_))
    ));
}

/// Clearances: not above her own; a raise waits for Bayu; a lowering is at once.
async fn a_raise_waits_for_a_second_officer_a_lowering_does_not(
    node: &Node,
    maya: &docsvc::officials::directory::Official,
    bayu: docsvc::officials::directory::Official,
) {
    assert!(matches!(
        docsvc::officials::admin::set_clearance(node, maya, None, AGUS, Level::SangatRahasia).await,
        Err(docsvc::Error::Forbidden { .. })
    ));
    let pending = docsvc::officials::admin::set_clearance(node, maya, None, AGUS, Level::Rahasia)
        .await
        .expect("asked")
        .expect("pending");
    assert_eq!(official(node, AGUS).await.clearance, Level::Terbatas);
    assert_eq!(
        docsvc::officials::admin::pending(node, maya)
            .await
            .expect("pending")
            .len(),
        1
    );
    assert!(
        decide(node, &caller_of(maya.clone(), true), &pending.id, true)
            .await
            .is_err()
    );
    decide(node, &caller_of(bayu, true), &pending.id, true)
        .await
        .expect("approved");
    assert_eq!(official(node, AGUS).await.clearance, Level::Rahasia);
    assert!(
        docsvc::officials::admin::set_clearance(node, maya, None, AGUS, Level::Biasa)
            .await
            .expect("lowered")
            .is_none()
    );
    assert_eq!(official(node, AGUS).await.clearance, Level::Biasa);
}

/// Requests, approvals and refusals are in the log.
async fn every_step_is_logged(node: &Node) {
    let log = log_entries(node).await;
    for needle in [
        "official_register_requested",
        "official_register_approved",
        "official_clearance_requested",
        "official_clearance_approved",
        "above their own",
        "cannot approve it",
    ] {
        assert!(log.iter().any(|e| e.contains(needle)), "{needle} is logged");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_alone_cannot_let_anyone_in_or_up_sqlite() {
    two_people_for_officials(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_alone_cannot_let_anyone_in_or_up_postgres() {
    let Some((url, name)) = sandi_e2e::pg::postgres().await else {
        return;
    };
    two_people_for_officials(Some(&url)).await;
    sandi_e2e::pg::drop_postgres(&name).await;
}
