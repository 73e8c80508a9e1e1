//! API fuzzing with schemathesis (PyPI), an outside tool, against the node's own OpenAPI
//! document: once as an official (session cookie, CSRF token, PIN step-up) and once as an
//! application (mutual TLS). Every check schemathesis has: no 5xx, every response conforms to
//! the schema (status, content type, body, headers), and auth that is not ignored (the same
//! request without credentials is refused). Bounded by `--max-examples` and `--max-time`;
//! `SANDI_SCHEMATHESIS_EXAMPLES` and `SANDI_SCHEMATHESIS_SECONDS` raise the budget (`tests/run --extended`).

use std::path::Path;
use std::process::Command;

use serde_json::json;

const BUDI: &str = "197501012000031001";

fn examples() -> String {
    std::env::var("SANDI_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "10".into())
}

/// Seconds per identity: 40 in the suite.
fn max_time() -> String {
    std::env::var("SANDI_SCHEMATHESIS_SECONDS").unwrap_or_else(|_| "40".into())
}

/// Runs schemathesis against the node with `auth` arguments; its report on failure.
fn schemathesis(node: &sandi_e2e::node::DevNode, who: &str, auth: &[String], reports: &Path) {
    let junit = reports.join(format!("{who}.xml"));
    std::fs::create_dir_all(reports).expect("reports");
    let out = Command::new("schemathesis")
        // It keeps a cache in the working directory: the test's, not the source tree.
        .current_dir(reports)
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", node.base()))
        .arg("--tls-verify")
        .arg(node.root_ca())
        .args(auth)
        .args(["--checks", "all", "--max-examples", &examples()])
        // The API's rules go beyond what JSON Schema can say (exactly one of `content` or
        // `sha256`; a share must belong to this keystore; an addressee must exist), so a
        // schema-valid request may rightly be refused with a 4xx.
        .args(["--exclude-checks", "positive_data_acceptance"])
        .args([
            "--max-time",
            &max_time(),
            "--request-timeout",
            "30",
            // One worker: CPython 3.11's parser is not safe across schemathesis' threads.
            "--workers",
            "1",
        ])
        .args([
            "--seed",
            "20261127",
            "--no-color",
            "--suppress-health-check",
            "all",
        ])
        // Logging out would end the session the rest of the run uses.
        .args(["--exclude-method", "DELETE"])
        // Bodies in our own binary formats, which schemathesis cannot make (the envelope is a
        // cargo-fuzz target; a peer certificate is needed to reach that parser at all).
        .args(["--exclude-name", "POST /network/v1/letters"])
        .args([
            "--exclude-name",
            "PUT /api/v1/admin/officials/{nip}/certificate",
        ])
        .args(["--report", "junit", "--report-junit-path"])
        .arg(&junit)
        .env("SCHEMATHESIS_HOOKS", "")
        .output()
        .expect("schemathesis (tests/run installs it from PyPI)");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The report without schemathesis' own tracebacks, which can run to megabytes.
    let report: String = printed
        .lines()
        .filter(|l| l.len() < 400)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        out.status.success(),
        "schemathesis as {who} found problems:\n{report}"
    );
    // It ran the operations, not nothing: the summary counts them.
    assert!(
        printed.contains("passed") && !printed.contains("No operations"),
        "schemathesis as {who} tested nothing:\n{report}"
    );
    eprintln!(
        "schemathesis as {who}:\n{}",
        printed
            .lines()
            .rev()
            .take(12)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn schemathesis_finds_no_server_error_or_schema_violation_as_official_or_application() {
    sandi_e2e::node::require("schemathesis");
    let dir = tempfile::tempdir().expect("tempdir");
    let node = sandi_e2e::node::DevNode::start(
        Path::new(env!("CARGO_BIN_EXE_docsvc")),
        &dir.path().join("node"),
        &[],
    );
    let (password, pin) = node.creds.get(BUDI).expect("Budi").clone();
    let mut budi =
        sandi_e2e::http::Client::new(&node.base(), &node.root_ca(), dir.path().join("budi.jar"));
    let r = budi.post_json(
        "/api/v1/session",
        &json!({ "nip": BUDI, "password": password }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let cookie = r
        .header("set-cookie")
        .and_then(|c| c.split(';').next().map(str::to_owned))
        .expect("session cookie");
    let csrf = r.json()["csrf"].as_str().expect("csrf").to_owned();
    budi.csrf = Some(csrf.clone());
    assert_eq!(
        budi.post_json("/api/v1/session/step-up", &json!({ "pin": pin }))
            .status,
        200
    );

    let reports = dir.path().join("reports");
    schemathesis(
        &node,
        "official",
        &[
            "-H".into(),
            format!("Cookie: {cookie}"),
            "-H".into(),
            format!("x-csrf-token: {csrf}"),
        ],
        &reports,
    );
    let app = node.data.join("apps/e-office");
    schemathesis(
        &node,
        "application",
        &[
            "--request-cert".into(),
            app.join("client.pem").display().to_string(),
            "--request-cert-key".into(),
            app.join("client.key").display().to_string(),
        ],
        &reports,
    );
    // The node survived it all and its log verifies.
    let out = Command::new(env!("CARGO_BIN_EXE_docsvc"))
        .args(["audit", "verify", "--data-dir"])
        .arg(&node.data)
        .output()
        .expect("docsvc audit verify");
    sandi_e2e::node::ok(&out);
}
