//! An export recipient is registered only with proof of possession (issue 15, point 8): the
//! node encrypts a challenge to the age recipient and only whoever decrypts it (`age -d`)
//! registers it; each step is logged.

const SITI: &str = "198002022005012002";

fn age_keygen(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, String) {
    let identity = dir.join(name);
    let out = std::process::Command::new("age-keygen")
        .arg("-o")
        .arg(&identity)
        .output()
        .expect("age-keygen");
    assert!(out.status.success());
    let recipient = String::from_utf8_lossy(&out.stderr)
        .split_whitespace()
        .last()
        .expect("age-keygen prints the public key")
        .to_owned();
    (identity, recipient)
}

fn put_recipient(c: &sandi_e2e::http::Client, recipient: &str) -> sandi_e2e::http::Response {
    c.call(
        "PUT",
        "/api/v1/me/recipient",
        &[
            "-H",
            "content-type: application/json",
            "--data-binary",
            &serde_json::json!({ "recipient": recipient }).to_string(),
        ],
    )
}

/// `age -d` of a challenge the node answered with.
fn decrypt(
    dir: &std::path::Path,
    identity: &std::path::Path,
    r: &sandi_e2e::http::Response,
) -> String {
    let file = dir.join("challenge.age");
    std::fs::write(
        &file,
        base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            r.json()["challenge"].as_str().expect("challenge"),
        )
        .expect("base64"),
    )
    .expect("write");
    let out = std::process::Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(identity)
        .arg(&file)
        .output()
        .expect("age -d");
    assert!(out.status.success(), "age -d");
    String::from_utf8(out.stdout).expect("utf-8")
}

/// A personal age recipient for exports is registered only by whoever holds its identity: a
/// key someone else holds (the attacker's, given to a victim's session, or a typo) is not
/// taken on the word of the request. The node encrypts a challenge to it; only its plaintext,
/// once and in time, registers it; each step is logged.
#[test]
fn an_export_recipient_needs_proof_of_possession() {
    use serde_json::json;
    sandi_e2e::node::require("age");
    sandi_e2e::node::require("age-keygen");
    let dir = tempfile::tempdir().expect("tempdir");
    let node = sandi_e2e::node::DevNode::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_docsvc")),
        &dir.path().join("node"),
        &[],
    );
    let siti = node.login(SITI, false, dir.path().join("siti.jar"));
    let (_, theirs) = age_keygen(dir.path(), "other.key");
    let (mine_id, mine) = age_keygen(dir.path(), "siti.key");
    let registered = || siti.get("/api/v1/me").json()["personal_recipient"].clone();

    // Someone else's key, on the request's word alone: not registered.
    let r = put_recipient(&siti, &theirs);
    assert!(r.status < 300, "{}", r.text());
    assert_eq!(
        registered(),
        json!(null),
        "registered without proof of possession"
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let confirm =
        |answer: &str| siti.post_json("/api/v1/me/recipient/confirm", &json!({ "answer": answer }));
    let r = confirm(&"0".repeat(64));
    assert_eq!(r.status, 403, "a guess: {}", r.text());
    assert_eq!(registered(), json!(null));

    // Her own key: she decrypts the challenge with age; a wrong answer uses it up.
    let r = put_recipient(&siti, &mine);
    assert_eq!(r.status, 202, "{}", r.text());
    let answer = decrypt(dir.path(), &mine_id, &r);
    assert_eq!(confirm("salah").status, 403);
    assert_eq!(confirm(&answer).status, 409, "used up by the wrong answer");
    let r = put_recipient(&siti, &mine);
    let answer = decrypt(dir.path(), &mine_id, &r);
    let r = confirm(&answer);
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(registered(), json!(mine));
    assert_eq!(confirm(&answer).status, 409, "once");

    // Logged: asked, refused, registered.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_docsvc"))
        .args(["audit", "export", "--data-dir"])
        .arg(dir.path().join("node"))
        .output()
        .expect("docsvc audit export");
    let log = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "recipient_challenge",
        "recipient_confirm",
        "recipient_registered",
    ] {
        assert!(
            log.contains(needle),
            "{needle} is logged: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
