//! Issue 17, timestamps, on a quickstart node driven through its library with the dev TSA
//! in process: every letter signature carries a token from sandi's TSA that `openssl ts
//! -verify` accepts over the signature value; the signer is judged at the token's genTime, so
//! a letter signed before a later revocation still verifies and one signed after it does not;
//! without a TSA nothing is signed or stored (503 `timestamp-unavailable`); a forged, changed,
//! misplaced or missing token is refused.

mod common;

use std::process::Command;
use std::sync::Arc;

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::{Decode, Encode};
use docsvc::crypto::signature::{self, Content, Kind};
use docsvc::crypto::timestamp;
use docsvc::letters::documents;
use docsvc::node::Node;
use keymgr::tsa::token;
use sandi_e2e::steps::Steps;
use time::OffsetDateTime;

use common::{BUDI, dev_quorum, letter_to, node_pins};

const SITI: &str = "198002022005012002";

fn openssl(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl installed");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The stored signature of a letter.
async fn stored_signature(node: &Node, id: &str) -> Vec<u8> {
    documents::load_checked(node, id)
        .await
        .expect("the letter checks out")
        .signature
}

/// The signer's signature value and its time-stamp token, taken out of a CMS signature.
fn value_and_token(cms_der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let sd: SignedData = ContentInfo::from_der(cms_der)
        .expect("ContentInfo")
        .content
        .decode_as()
        .expect("SignedData");
    let si = sd.signer_infos.0.as_slice()[0].clone();
    let attrs = si.unsigned_attrs.expect("unsigned attributes");
    let attr = attrs.as_slice()[0].clone();
    assert_eq!(attr.oid, token::ID_AA_SIGNATURE_TIME_STAMP_TOKEN);
    let tok = attr.values.get(0).expect("token").to_der().expect("der");
    (si.signature.as_bytes().to_vec(), tok)
}

/// `cms_der` with its unsigned attributes replaced: by `token_der`, or none.
/// `token_der` with `cert_der` added to its certificate set, which no signature covers.
fn with_certificate(token_der: &[u8], cert_der: &[u8]) -> Vec<u8> {
    let info = ContentInfo::from_der(token_der).expect("token");
    let mut sd: SignedData = info.content.decode_as().expect("SignedData");
    let mut certs: Vec<cms::cert::CertificateChoices> = sd
        .certificates
        .map(|set| set.0.into_vec())
        .unwrap_or_default();
    certs.push(cms::cert::CertificateChoices::Certificate(
        x509_cert::Certificate::from_der(cert_der).expect("certificate"),
    ));
    sd.certificates = Some(cms::signed_data::CertificateSet::try_from(certs).expect("set"));
    ContentInfo {
        content_type: info.content_type,
        content: der::Any::encode_from(&sd).expect("any"),
    }
    .to_der()
    .expect("der")
}

fn with_token(cms_der: &[u8], token_der: Option<&[u8]>) -> Vec<u8> {
    if let Some(t) = token_der {
        return timestamp::attach(cms_der, t).expect("attach");
    }
    let info = ContentInfo::from_der(cms_der).expect("ContentInfo");
    let mut sd: SignedData = info.content.decode_as().expect("SignedData");
    let mut signers = sd.signer_infos.0.into_vec();
    signers[0].unsigned_attrs = None;
    sd.signer_infos = signers.try_into().expect("signers");
    ContentInfo {
        content_type: info.content_type,
        content: der::Any::encode_from(&sd).expect("any"),
    }
    .to_der()
    .expect("der")
}

async fn revoke_budi(node: &Node, at: OffsetDateTime) {
    common::revoke_official(node, BUDI, at).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn letters_are_time_stamped_and_judged_at_their_time_stamp() {
    sandi_e2e::node::require("openssl");
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, _) = node_pins(dir.path(), None).await;
    let before = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("time");
    let early = letter_to(&node, policies::Level::Biasa, SITI, "Sebelum pencabutan")
        .await
        .manifest
        .id;
    let after_early = OffsetDateTime::now_utc();
    // The revocation falls between the two letters, whole seconds apart from both.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let revoked_at = OffsetDateTime::now_utc();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let late = letter_to(&node, policies::Level::Biasa, SITI, "Sesudah pencabutan")
        .await
        .manifest
        .id;

    let mut steps = Steps::new();
    steps
        .run_async(
            "the_stored_signature_carries_a_token_openssl_accepts",
            the_stored_signature_carries_a_token_openssl_accepts(
                &node,
                &early,
                before,
                after_early,
            ),
        )
        .await;
    steps
        .run_async(
            "a_forged_changed_misplaced_or_missing_token_is_refused",
            // Another dev CA is set up in it: a large future, kept on the heap.
            Box::pin(a_forged_changed_misplaced_or_missing_token_is_refused(
                &node, &early, &late,
            )),
        )
        .await;
    steps
        .run_async(
            "without_a_tsa_nothing_is_signed_or_stored",
            Box::pin(without_a_tsa_nothing_is_signed_or_stored(&node)),
        )
        .await;
    revoke_budi(&node, revoked_at).await;
    steps
        .run_async(
            "signed_before_the_revocation_stands_signed_after_does_not",
            signed_before_the_revocation_stands_signed_after_does_not(&node, &early, &late),
        )
        .await;
    steps.finish();
}

/// The token is over the signature value, its genTime when the letter was made, its TSA
/// certificate of the TSA profile under the Signing CA; `openssl ts -verify` agrees; the
/// verification says it judged the signer at that time.
async fn the_stored_signature_carries_a_token_openssl_accepts(
    node: &Node,
    id: &str,
    before: OffsetDateTime,
    after: OffsetDateTime,
) {
    let cms = stored_signature(node, id).await;
    let (value, tok) = value_and_token(&cms);
    let t = token::inspect(&tok).expect("token");
    assert!(t.covers(&value), "the token is over the signature value");
    assert!(
        before <= t.gen_time && t.gen_time <= after,
        "genTime {} between {before} and {after}",
        t.gen_time
    );
    token::check_tsa_certificate(&t.tsa_certificate).expect("TSA profile");

    let checked = documents::load_checked(node, id).await.expect("checked");
    let stamp = checked
        .verified
        .timestamp
        .clone()
        .expect("a verified stamp");
    assert_eq!(stamp.at, t.gen_time);
    assert_eq!(checked.verified.checked_at, stamp.gen_time);
    assert_eq!(checked.verified.checked_at_source, "timestamp");
    assert!(checked.signature_status.is_valid());

    let d = tempfile::tempdir().expect("tempdir");
    std::fs::write(d.path().join("token.der"), &tok).expect("token");
    std::fs::write(
        d.path().join("tsa.pem"),
        keymgr::ca::der_to_pem(&t.tsa_certificate),
    )
    .expect("tsa.pem");
    let ca = |n: &str| std::fs::read_to_string(node.layout.ca(n)).expect("ca");
    std::fs::write(
        d.path().join("chain.pem"),
        format!("{}{}", ca("root.pem"), ca("signing-ca.pem")),
    )
    .expect("chain");
    let digest = hex::encode(ring::digest::digest(&ring::digest::SHA256, &value));
    let (ok, out) = openssl(
        d.path(),
        &[
            "ts",
            "-verify",
            "-token_in",
            "-in",
            "token.der",
            "-digest",
            &digest,
            "-CAfile",
            "chain.pem",
            "-untrusted",
            "tsa.pem",
        ],
    );
    assert!(ok && out.contains("Verification: OK"), "{out}");
    // And over another signature value it does not verify.
    let other = hex::encode(ring::digest::digest(&ring::digest::SHA256, b"another"));
    let (ok, out) = openssl(
        d.path(),
        &[
            "ts",
            "-verify",
            "-token_in",
            "-in",
            "token.der",
            "-digest",
            &other,
            "-CAfile",
            "chain.pem",
            "-untrusted",
            "tsa.pem",
        ],
    );
    assert!(!ok, "{out}");
}

/// Each verifier refuses: a token over another letter's signature, a changed token, a token
/// from a TSA outside sandi's PKI, no token at all; and the stored letter carrying one of
/// them is an integrity incident when read.
async fn a_forged_changed_misplaced_or_missing_token_is_refused(
    node: &Node,
    early: &str,
    late: &str,
) {
    let early_cms = stored_signature(node, early).await;
    let late_cms = stored_signature(node, late).await;
    let manifest = documents::load_checked(node, late)
        .await
        .expect("late")
        .manifest
        .canonical()
        .expect("manifest");
    let (_, early_token) = value_and_token(&early_cms);
    let (_, late_token) = value_and_token(&late_cms);
    let mut changed = late_token.clone();
    let n = changed.len();
    changed[n - 10] ^= 0x01;
    let foreign = foreign_token(&late_cms).await;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "another signature's token",
            with_token(&late_cms, Some(&early_token)),
            "not over this signature",
        ),
        (
            "a changed token",
            with_token(&late_cms, Some(&changed)),
            "time-stamp",
        ),
        (
            "a foreign TSA's token",
            with_token(&late_cms, Some(&foreign)),
            "not issued by a sandi CA",
        ),
        (
            "no token",
            with_token(&late_cms, None),
            "must carry a time-stamp",
        ),
        (
            // Nothing signs a token's certificate set: an insider could slip any certificate
            // in (keymgr's TSA puts only its issuing CA there, which the node trusts).
            "a token carrying a certificate no one trusts",
            with_token(
                &late_cms,
                Some(&with_certificate(
                    &late_token,
                    &token::inspect(&foreign).expect("foreign").tsa_certificate,
                )),
            ),
            "neither the TSA's nor a trusted CA's",
        ),
        (
            // Bounded before it is parsed (DER SETs are sorted as they are decoded).
            "a signature larger than any sandi makes",
            {
                let mut huge = late_cms.clone();
                huge.resize(65 * 1024, 0);
                huge
            },
            "larger than any sandi makes",
        ),
    ];
    // Refused signatures are not remembered (a caller's self-made ones would fill the cache).
    let remembered = node.trust.remembered_signatures();
    for (what, cms, why) in &cases {
        let err = signature::verify_detached(
            cms,
            Kind::Manifest,
            Content::Bytes(&manifest),
            &node.trust,
            OffsetDateTime::now_utc(),
        )
        .expect_err(what);
        assert!(err.to_string().contains(why), "{what}: {err}");
    }
    assert_eq!(node.trust.remembered_signatures(), remembered);
    // The untouched signature still verifies, and the foreign token is well-formed (it is
    // refused for whose it is, not for its form).
    signature::verify_detached(
        &late_cms,
        Kind::Manifest,
        Content::Bytes(&manifest),
        &node.trust,
        OffsetDateTime::now_utc(),
    )
    .expect("the stored signature");
    token::inspect(&foreign).expect("a well-formed foreign token");
    the_checked_signature_cache_masks_nothing(node, &late_cms, &manifest);

    // Stored in the letter's row, the misplaced token makes the letter an integrity case.
    common::set_signature(node, late, &cases[0].1).await;
    let err = documents::load_checked(node, late)
        .await
        .expect_err("misplaced token");
    assert_eq!(err.problem_type(), "integrity", "{err}");
    common::set_signature(node, late, &late_cms).await;
    documents::load_checked(node, late).await.expect("restored");
}

/// A signature already checked (and so remembered by the node's trust) is not taken for
/// another content, nor for a changed signature value beside it.
fn the_checked_signature_cache_masks_nothing(node: &Node, cms: &[u8], manifest: &[u8]) {
    let check = |cms: &[u8], content: &[u8]| {
        signature::verify_detached(
            cms,
            Kind::Manifest,
            Content::Bytes(content),
            &node.trust,
            OffsetDateTime::now_utc(),
        )
    };
    check(cms, manifest).expect("checked, and remembered");
    let mut other = manifest.to_vec();
    other[0] ^= 0x01;
    let err = check(cms, &other).expect_err("another content");
    assert!(
        err.to_string().contains("does not match the signed digest"),
        "{err}"
    );
    let (value, _) = value_and_token(cms);
    let at = cms
        .windows(value.len())
        .position(|w| w == value.as_slice())
        .expect("the signature value in the CMS");
    let mut forged = cms.to_vec();
    forged[at + value.len() - 1] ^= 0x01;
    let err = check(&forged, manifest).expect_err("a changed signature value");
    assert!(
        err.to_string()
            .contains("signature does not match the content"),
        "{err}"
    );
    check(cms, manifest).expect("the remembered signature still checks");
}

/// A token over `cms_der`'s signature from a TSA of another CA (its own ceremony), which
/// `openssl` would accept against that CA but sandi does not.
async fn foreign_token(cms_der: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    docsvc::dev::quickstart::setup(dir.path(), "127.0.0.1:0", None, &mut |_| {})
        .await
        .expect("another dev CA");
    let (home, quorum) = dev_quorum(dir.path());
    let inv =
        keymgr::inventory::Inventory::open(&keymgr::inventory::Inventory::default_url(home.dir()))
            .await
            .expect("inventory");
    let online = quorum.online().expect("online");
    let record = keymgr::tsa::ensure(&home, online, &inv).await.expect("TSA");
    let responder = keymgr::tsa::Responder::new(
        &record,
        keymgr::tsa::policy_oid(keymgr::tsa::DEV_OID_ARC).expect("policy"),
    )
    .expect("responder");
    let (req, nonce) = timestamp::request_for(cms_der).expect("request");
    timestamp::token_from(
        &responder.respond(online, &req),
        cms_der,
        &nonce,
        OffsetDateTime::now_utc(),
    )
    .expect("token")
    .token
}

/// Budi's key is revoked (keyCompromise) between his two letters: the early one stands, its
/// standing says when and why; the late one does not count.
async fn signed_before_the_revocation_stands_signed_after_does_not(
    node: &Node,
    early: &str,
    late: &str,
) {
    let e = documents::load_checked(node, early).await.expect("early");
    assert!(e.signature_status.is_valid(), "{:?}", e.signature_status);
    let json = serde_json::to_value(&e.signature_status).expect("json");
    assert_eq!(json["status"], "revoked_after_signing", "{json}");
    assert_eq!(json["reason"], "keyCompromise", "{json}");
    assert_eq!(e.verified.checked_at_source, "timestamp");

    let l = documents::load_checked(node, late).await.expect("late");
    assert!(!l.signature_status.is_valid(), "{:?}", l.signature_status);
    let json = serde_json::to_value(&l.signature_status).expect("json");
    assert_eq!(json["status"], "revoked_before_signing", "{json}");
}

/// A letter that cannot be time-stamped: 503 `timestamp-unavailable`, and nothing stored.
async fn fails_closed(node: &Arc<Node>, letters_before: i64, perihal: &str, why: &str) {
    let err = common::try_letter_to(node, policies::Level::Biasa, SITI, perihal)
        .await
        .expect_err(why);
    assert_eq!(
        (err.status(), err.problem_type()),
        (503, "timestamp-unavailable"),
        "{err}"
    );
    assert_eq!(
        common::letter_count(node).await,
        letters_before,
        "nothing stored"
    );
}

/// The TSA unreachable: creating a letter answers 503 `timestamp-unavailable`, stores nothing,
/// is counted and logged; with the TSA back, letters are made again.
async fn without_a_tsa_nothing_is_signed_or_stored(node: &Arc<Node>) {
    let url = node.tsa.url().expect("the dev TSA");
    let letters_before = common::letter_count(node).await;
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    node.tsa.set_url(format!("http://127.0.0.1:{port}/tsa"));
    fails_closed(node, letters_before, "Tanpa cap waktu", "no TSA, no letter").await;
    let metrics = node.metrics.render(false);
    assert!(
        metrics.contains("docsvc_timestamp_unavailable_total 1"),
        "{metrics}"
    );
    // A TSA of another CA answering on the (plain HTTP) path: its token is not attached, the
    // letter fails closed as without a TSA.
    let other = tempfile::tempdir().expect("tempdir");
    docsvc::dev::quickstart::setup(other.path(), "127.0.0.1:0", None, &mut |_| {})
        .await
        .expect("another dev CA");
    let foreign = docsvc::dev::tsa::start(&docsvc::node::Layout::new(other.path()))
        .await
        .expect("the other CA's TSA");
    node.tsa.set_url(foreign);
    fails_closed(
        node,
        letters_before,
        "Cap waktu asing",
        "a foreign TSA's token is refused",
    )
    .await;
    node.tsa.set_url(url);
    common::try_letter_to(node, policies::Level::Biasa, SITI, "Dengan cap waktu")
        .await
        .expect("the TSA is back");
    assert_eq!(common::letter_count(node).await, letters_before + 1);
}
