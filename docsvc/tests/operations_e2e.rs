//! What operators watch (issue 22): the node's JSON log has one request line per call (its
//! id answered as `x-request-id`, the declared route, status, duration, actor) and no secret,
//! content or query in any line; `/metrics` passes `promtool check metrics`; the alerting rules
//! in `deploy/prometheus` pass `promtool check rules` and their own `promtool test rules`; the
//! Grafana dashboard queries only metrics the node exports.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sandi_e2e::http::Response;
use sandi_e2e::node::{DevNode, require};
use serde_json::{Value, json};

const BUDI: &str = "197501012000031001"; // dinkes head
const SITI: &str = "198002022005012002"; // dinkes secretary

fn docsvc() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_docsvc"))
}

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// The request lines of the log, by request id.
fn request_lines(log: &Path) -> HashMap<String, Vec<Value>> {
    let mut out: HashMap<String, Vec<Value>> = HashMap::new();
    let text = std::fs::read_to_string(log).expect("the log");
    // A line still being written (no newline yet) is read next time.
    for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("every log line is JSON ({e}): {line}"));
        if v["target"] == "docsvc::request" {
            let id = v["request_id"].as_str().expect("a request id").to_owned();
            out.entry(id).or_default().push(v);
        }
    }
    out
}

#[test]
fn one_json_line_per_request_and_no_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("docsvc.log");
    let node = DevNode::start_logged(docsvc(), &dir.path().join("node"), &log);
    let (password, pin) = node.creds[BUDI].clone();
    let mut calls: Vec<(Response, &str, &str, u16)> = Vec::new();
    let budi = node.login(BUDI, true, dir.path().join("budi.jar"));
    let secret_perihal = "Rencana operasi rahasia Kenari";
    let secret_words = "Isi yang tidak boleh bocor ke log";
    let r = budi.post_words(
        &json!({
            "perihal": secret_perihal, "classification": "rahasia", "urgency": "biasa",
            "recipients": [SITI], "kode": "005",
        }),
        &json!({ "isi": secret_words }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_owned();
    calls.push((r, "POST", "/api/v1/documents", 201));
    let r = budi.get(&format!("/api/v1/documents/{id}"));
    calls.push((r, "GET", "/api/v1/documents/{id}", 200));
    let query_word = "Kenari";
    let r = budi.get(&format!("/api/v1/documents?q={query_word}"));
    calls.push((r, "GET", "/api/v1/documents", 200));
    let r = budi.get("/api/v1/no/such/route");
    calls.push((r, "GET", "(no route)", 404));
    let anon =
        sandi_e2e::http::Client::new(&node.base(), &node.root_ca(), dir.path().join("anon.jar"));
    let r = anon.get("/api/v1/me");
    calls.push((r, "GET", "/api/v1/me", 401));
    let wrong = anon.post_json(
        "/api/v1/session",
        &json!({ "nip": BUDI, "password": "salah-sekali-1234" }),
    );
    calls.push((wrong, "POST", "/api/v1/session", 401));
    // The lines are written by the node's log thread, just after the answers: wait for them.
    let ids: Vec<String> = calls
        .iter()
        .map(|(r, ..)| {
            r.header("x-request-id")
                .expect("every answer names its request id")
        })
        .collect();
    let mut lines = request_lines(&log);
    for _ in 0..100 {
        if ids.iter().all(|id| lines.contains_key(id)) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        lines = request_lines(&log);
    }
    for (r, method, route, status) in &calls {
        assert_eq!(r.status, *status, "{route}: {}", r.text());
        let rid = r.header("x-request-id").expect("id");
        let found = lines
            .get(&rid)
            .unwrap_or_else(|| panic!("no line for {rid} ({route})"));
        assert_eq!(found.len(), 1, "one line per request: {found:?}");
        let l = &found[0];
        assert_eq!(l["method"], *method, "{l}");
        assert_eq!(l["route"], *route, "{l}");
        assert_eq!(l["status"], *status, "{l}");
        assert!(l["duration_ms"].as_f64().is_some_and(|d| d >= 0.0), "{l}");
    }
    // Who called, as authenticated: Budi on his calls, nobody on the anonymous ones.
    let line_of = |i: usize| {
        let rid = calls[i].0.header("x-request-id").expect("id");
        lines[&rid][0].clone()
    };
    assert_eq!(line_of(1)["actor"], format!("official:{BUDI}"));
    assert_eq!(line_of(4)["actor"], "-");
    assert_eq!(line_of(4)["problem"], "unauthenticated");
    // Nothing secret anywhere in the log: password, PIN, session, CSRF token, perihal,
    // content, the search's words.
    let text = std::fs::read_to_string(&log).expect("the log");
    let jar = std::fs::read_to_string(dir.path().join("budi.jar")).expect("jar");
    let session = jar
        .lines()
        .find(|l| l.contains("__Host-sandi_session"))
        .and_then(|l| l.split('\t').next_back())
        .expect("the session cookie")
        .to_owned();
    let csrf = budi.csrf.expect("csrf");
    for secret in [
        password.as_str(),
        pin.as_str(),
        "salah-sekali-1234",
        &session,
        &csrf,
        secret_perihal,
        secret_words,
        query_word,
    ] {
        assert!(!text.contains(secret), "the log holds a secret: {secret}");
    }
}

#[test]
fn metrics_rules_and_dashboard_pass_promtool() {
    require("promtool");
    let dir = tempfile::tempdir().expect("tempdir");
    let node = DevNode::start(docsvc(), &dir.path().join("node"), &[]);
    let c = sandi_e2e::http::Client::new(&node.base(), &node.root_ca(), dir.path().join("m.jar"));
    let r = c.get("/metrics");
    assert_eq!(r.status, 200);
    let metrics = r.text();
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    std::io::Write::write_all(&mut check.stdin.take().expect("stdin"), metrics.as_bytes())
        .expect("feed promtool");
    let out = check.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let rules = deploy().join("prometheus");
    for args in [
        ["check", "rules", "sandi-alerts.yml"],
        ["test", "rules", "sandi-alerts.test.yml"],
    ] {
        let out = Command::new("promtool")
            .args(args)
            .current_dir(&rules)
            .output()
            .expect("promtool");
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Every docsvc_ metric the rules and the dashboard name is one the node exports (as a
    // sample's name: counters end in _total, histograms in _bucket, _sum and _count).
    let after = c.get("/metrics").text();
    let exported: Vec<String> = after
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .flat_map(|(name, kind)| match kind {
            "histogram" => ["_bucket", "_sum", "_count"]
                .iter()
                .map(|s| format!("{name}{s}"))
                .collect(),
            _ => vec![name.to_owned()],
        })
        .collect();
    // Latency by declared route (this request's own, at least), the group commit's batch
    // sizes, and the seal state.
    for sample in [
        "docsvc_http_request_duration_seconds_count{method=\"GET\",route=\"/metrics\",status=\"2xx\"}",
        "docsvc_audit_group_commit_entries_count ",
        "docsvc_sealed 0",
        "docsvc_split_views_held 0",
    ] {
        let again = c.get("/metrics").text();
        assert!(again.contains(sample), "{sample} in {again}");
    }
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(deploy().join("grafana/sandi-docsvc.json")).expect("dashboard"),
    )
    .expect("the dashboard is JSON");
    let mut queries: Vec<String> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().expect("targets").clone())
        .map(|t| t["expr"].as_str().expect("expr").to_owned())
        .collect();
    queries.push(std::fs::read_to_string(rules.join("sandi-alerts.yml")).expect("rules"));
    let mut named = 0;
    for q in &queries {
        for word in q.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("docsvc_") {
                named += 1;
                assert!(
                    exported.iter().any(|e| e == word),
                    "{word} is not exported: {exported:?}"
                );
            }
        }
    }
    assert!(
        named > 10,
        "the dashboard and rules name the node's metrics"
    );
}

/// A log reader that stops reading (journald stalled, `docsvc serve | less` paused) cannot
/// stop the node: its lines queue for the log thread, then are dropped and counted on
/// `/metrics`, and every request is still answered. Before the log thread, the first full pipe
/// (a few hundred lines) held every worker in `write` and the node answered nothing more.
#[test]
fn a_log_reader_that_stops_reading_does_not_stop_the_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A pipe whose reading end (the server's child handle, kept by `node`) is never read: it
    // fills after a few hundred lines.
    let node = DevNode::start_logging_to(docsvc(), &dir.path().join("node"), Stdio::piped());
    // More requests than the pipe and the log thread's queue hold lines.
    let requests = docsvc::logging::QUEUE_LINES + 4_000;
    // A stalled node fails the test instead of hanging it: ten seconds a request, five
    // minutes in all (coreutils' `timeout`).
    let out = Command::new("timeout")
        .args(["300", "curl", "-sS", "--max-time", "10", "--cacert"])
        .arg(node.root_ca())
        .args(["-o", "/dev/null", "-w", "%{http_code}\\n"])
        .arg(format!("{}/healthz?n=[1-{requests}]", node.base()))
        .output()
        .expect("curl");
    let codes = String::from_utf8_lossy(&out.stdout);
    let answered = codes.lines().filter(|c| *c == "200").count();
    assert_eq!(
        answered,
        requests,
        "every request answered while nobody reads the log: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = sandi_e2e::http::Client::new(&node.base(), &node.root_ca(), dir.path().join("m.jar"));
    let metrics = c.get("/metrics").text();
    let dropped: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("docsvc_log_lines_dropped_total "))
        .expect("the dropped lines are counted")
        .trim()
        .parse()
        .expect("a count");
    // Some lines fitted in the pipe and the queue; the rest were dropped, each counted once.
    assert!(
        dropped > 0 && dropped < u64::try_from(requests).expect("count"),
        "{dropped} of {requests} lines dropped"
    );
}
