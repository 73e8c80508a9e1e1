//! The `sandi-policy` binary, as a policy keeper uses it.

use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sandi-policy"))
        .args(args)
        .output()
        .expect("run");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn check_summarises_the_shipped_policy() {
    let (ok, out) = run(&["check"]);
    assert!(ok, "{out}");
    assert!(out.contains("is valid: 17 policies, version "), "{out}");
    assert!(
        out.contains("no-read-up") && out.contains("SANGAT RAHASIA  export:no print:no"),
        "{out}"
    );
}

#[test]
fn check_names_the_broken_file_and_line_and_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    for f in ["sandi.cedarschema", "default.cedar", "handling.toml"] {
        std::fs::copy(policies::default_dir().join(f), dir.path().join(f)).expect("copy");
    }
    let path = dir.path().join("handling.toml");
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(
        &path,
        text.replacen("retention_years = 2", "retention_years = -1", 1),
    )
    .expect("write");
    let (ok, out) = run(&["check", dir.path().to_str().expect("utf8")]);
    assert!(!ok);
    assert!(
        out.contains("handling.toml:11:") && out.contains("expected u32"),
        "{out}"
    );
}

#[test]
fn explain_says_why_in_both_languages() {
    let principal = r#"{"type":"official","id":"199001012015011001","agency":"dinkes","clearance":"terbatas","status":"active"}"#;
    let resource = r#"{"id":"d1","classification":"rahasia","originator":"197501012000031001","agency":"dinkes","recipients":["199001012015011001"]}"#;
    let (ok, out) = run(&[
        "explain",
        "--principal",
        principal,
        "--action",
        "read",
        "--resource",
        resource,
        "--context",
        r#"{"step_up":true}"#,
    ]);
    assert!(!ok, "a denial exits non-zero");
    assert!(out.contains("DENY"), "{out}");
    assert!(
        out.contains("ditolak: klasifikasi RAHASIA melebihi izin akses TERBATAS"),
        "{out}"
    );
    assert!(
        out.contains("denied: RAHASIA exceeds clearance TERBATAS"),
        "{out}"
    );
    assert!(out.contains("policies: no-read-up"), "{out}");
    let (ok, out) = run(&[
        "explain",
        "--principal",
        principal,
        "--action",
        "fly",
        "--resource",
        resource,
    ]);
    assert!(!ok && out.contains("unknown action \"fly\""), "{out}");
    let (ok, out) = run(&[
        "explain",
        "--principal",
        "{}",
        "--action",
        "read",
        "--resource",
        resource,
    ]);
    assert!(!ok && out.contains("the principal is not valid"), "{out}");
}
