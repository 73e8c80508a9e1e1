//! The README's demo command, run as a user would: the real binary and the real openssl.

use std::process::Command;

#[test]
fn the_demo_seals_unseals_signs_and_openssl_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_hsm-shim"))
        .args(["demo", "--dir"])
        .arg(dir.path())
        .output()
        .expect("run demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("refused as expected: the keystore is sealed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 more needed") && stdout.contains("1 more needed"),
        "{stdout}"
    );
    assert!(stdout.contains("the keystore is unsealed"), "{stdout}");
    assert_eq!(
        stdout.matches("openssl: Verified OK").count()
            + stdout
                .matches("openssl: Signature Verified Successfully")
                .count(),
        2,
        "{stdout}"
    );
    for i in 1..=5 {
        let share = std::fs::read_to_string(dir.path().join(format!("shares/custodian-{i}.share")))
            .expect("share file");
        assert!(share.starts_with("sandi-share-v1."));
    }
    // The share texts never appear in what the demo printed.
    let share =
        std::fs::read_to_string(dir.path().join("shares/custodian-1.share")).expect("share");
    assert!(!stdout.contains(share.trim()));
}

#[test]
fn the_demo_refuses_a_threshold_of_one() {
    let out = Command::new(env!("CARGO_BIN_EXE_hsm-shim"))
        .args(["demo", "--threshold", "1"])
        .output()
        .expect("run demo");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("threshold of at least 2"), "{err}");
}
