//! Attacks on officials' authentication (issue 15, sections 2 and 8): guessing passwords in
//! parallel, telling known NIPs from unknown ones, guessing the signing PIN, and a database
//! writer forging sessions and officials. Each attack runs on SQLite and on PostgreSQL.

use std::sync::Arc;

use docsvc::officials::directory::{self, NewOfficial, Secrets};
use docsvc::officials::lockout;
use docsvc::store::Store;
use hsm_shim::SoftwareKeyStore;
use sandi_e2e::steps::Steps;
use zeroize::Zeroizing;

const NIP: &str = "197001012000031001";
const UNKNOWN: &str = "199912312020121999";
const PASSWORD: &str = "kata-sandi-yang-panjang";
const PIN: &str = "246810";

/// A store with one official in it (and the keystore that holds the official's keys).
struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    _keys: Arc<SoftwareKeyStore>,
    pg: Option<String>,
}

impl Fixture {
    async fn new(postgres: bool) -> Option<Fixture> {
        let dir = tempfile::tempdir().expect("tempdir");
        let (url, pg) = if postgres {
            let (url, name) = sandi_e2e::pg::postgres().await?;
            (url, Some(name))
        } else {
            (
                format!("sqlite://{}/db.sqlite?mode=rwc", dir.path().display()),
                None,
            )
        };
        let store = Store::open(&url).await.expect("store");
        let keys =
            Arc::new(SoftwareKeyStore::create_dev(&dir.path().join("keystore")).expect("keystore"));
        keys.unseal_dev().expect("unseal");
        store.integrity().set_key(
            docsvc::store::integrity::load_or_create(dir.path(), keys.as_ref()).expect("MAC key"),
        );
        directory::add(
            &store,
            keys.as_ref(),
            policies::Policy::load(&policies::default_dir())
                .expect("the shipped policy")
                .handling(),
            &NewOfficial {
                nip: NIP.into(),
                name: "Budi Santoso".into(),
                agency: "dinkes".into(),
                position: "Kepala Dinas".into(),
                clearance: policies::Level::Rahasia,
                roles: vec!["pejabat".into()],
                compartments: vec![],
                secrets: Secrets::DevKnown {
                    password: Zeroizing::new(PASSWORD.into()),
                    pin: Zeroizing::new(PIN.into()),
                },
                status: policies::Status::Active,
            },
        )
        .await
        .expect("official");
        Some(Fixture {
            _dir: dir,
            store,
            _keys: keys,
            pg,
        })
    }

    async fn done(self) {
        if let Some(name) = &self.pg {
            self.store.pool().close().await;
            sandi_e2e::pg::drop_postgres(name).await;
        }
    }
}

/// 50 wrong passwords for one NIP at once: at most 5 are checked against the official's hash,
/// and then even the right password is refused.
async fn parallel_guesses(postgres: bool) {
    let Some(f) = Fixture::new(postgres).await else {
        return;
    };
    let before = lockout::checks();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = f.store.clone();
        tasks.push(tokio::spawn(async move {
            directory::login(&store, NIP, &format!("salah-{i:04}-kata-sandi")).await
        }));
    }
    for t in tasks {
        let r = t.await.expect("task");
        assert!(r.is_err(), "a wrong password was accepted");
    }
    let real = lockout::checks().real - before.real;
    assert!(
        real <= 5,
        "50 parallel wrong passwords were checked against the hash {real} times (at most 5)"
    );
    let e = directory::login(&f.store, NIP, PASSWORD)
        .await
        .expect_err("the right password after the lockout");
    assert_eq!(e.status(), 401, "{e}");
    assert_eq!(
        lockout::checks().real - before.real,
        real,
        "the locked account checked a hash"
    );
    f.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_lockout_is_atomic_sqlite() {
    parallel_guesses(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_lockout_is_atomic_postgres() {
    parallel_guesses(true).await;
}

/// A flood of logins (unknown NIPs and wrong passwords, 64 at once): every one is refused
/// after its argon2 check, and no more checks run at once than the node allows (each holds
/// 19 MiB and a core), so the flood queues instead of growing memory.
async fn login_flood(postgres: bool) {
    let Some(f) = Fixture::new(postgres).await else {
        return;
    };
    let before = lockout::checks();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let store = f.store.clone();
        tasks.push(tokio::spawn(async move {
            let nip = if i % 8 == 0 {
                NIP.to_owned()
            } else {
                format!("19991231202012{i:04}")
            };
            directory::login(&store, &nip, "salah-kata-sandi-banjir").await
        }));
    }
    for t in tasks {
        let e = t
            .await
            .expect("task")
            .expect_err("a flood login was accepted");
        assert_eq!(e.status(), 401, "{e}");
    }
    let after = lockout::checks();
    assert_eq!(
        after.real + after.dummy - before.real - before.dummy,
        64,
        "every login of the flood cost one argon2 check"
    );
    let allowed = u64::try_from(lockout::hashing_at_once()).expect("small");
    assert!(
        (1..=allowed).contains(&after.most_at_once),
        "{} argon2 checks ran at once (at most {allowed})",
        after.most_at_once
    );
    hang_ups(&f.store).await;
    let most = lockout::checks().most_at_once;
    assert!(
        most <= allowed,
        "callers who hung up let {most} argon2 checks run at once (at most {allowed})"
    );
    f.done().await;
}

/// 64 logins, one every 10 ms, whose callers each hang up 20 ms in (a client closing its
/// connection drops the request): their checks still run, and must still hold their turns.
/// Returns once the checks they started have all finished.
async fn hang_ups(store: &Store) {
    for i in 0..64 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let store = store.clone();
        let login = tokio::spawn(async move {
            directory::login(&store, &format!("19991231202013{i:04}"), "salah-lalu-pergi").await
        });
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            login.abort();
        });
    }
    let mut seen = lockout::checks();
    let mut still = 0;
    for _ in 0..200 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let now = lockout::checks();
        still = if now == seen { still + 1 } else { 0 };
        seen = now;
        if still >= 10 {
            return;
        }
    }
    panic!("argon2 checks were still being started after 20 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_waits_for_argon2_turns_sqlite() {
    login_flood(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_waits_for_argon2_turns_postgres() {
    login_flood(true).await;
}

/// An unknown NIP and a known one answer alike: same status and message before and after the
/// known one locks, and an argon2 check (against a dummy hash) each time.
async fn unknown_and_known_alike(postgres: bool) {
    let Some(f) = Fixture::new(postgres).await else {
        return;
    };
    for round in 0..7i64 {
        let before = lockout::checks();
        let unknown = directory::login(&f.store, UNKNOWN, "salah-kata-sandi-1")
            .await
            .expect_err("unknown NIP");
        let after_unknown = lockout::checks();
        assert_eq!(
            after_unknown.real + after_unknown.dummy,
            before.real + before.dummy + 1,
            "round {round}: the unknown NIP did not cost one argon2 check"
        );
        // ... nor one durable write, as counting a known NIP's attempt does.
        let decoys: i64 = sqlx::query_scalar("SELECT attempts FROM login_decoy WHERE id = 1")
            .fetch_one(f.store.pool())
            .await
            .expect("the decoy row");
        assert_eq!(
            decoys,
            round + 1,
            "round {round}: no write for the unknown NIP"
        );
        let known = directory::login(&f.store, NIP, "salah-kata-sandi-1")
            .await
            .expect_err("wrong password");
        let after_known = lockout::checks();
        assert_eq!(
            after_known.real + after_known.dummy,
            after_unknown.real + after_unknown.dummy + 1,
            "round {round}: the known NIP did not cost one argon2 check"
        );
        assert_eq!(unknown.status(), known.status(), "round {round}");
        assert_eq!(
            unknown.problem_type(),
            known.problem_type(),
            "round {round}"
        );
        assert_eq!(unknown.to_string(), known.to_string(), "round {round}");
    }
    f.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_known_nip_answer_alike_sqlite() {
    unknown_and_known_alike(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_known_nip_answer_alike_postgres() {
    unknown_and_known_alike(true).await;
}

const BUDI: &str = "197501012000031001"; // quickstart: dinkes, sangat_rahasia

/// The store of a served dev node, opened beside it (the tests' view of its database).
async fn store_of(data: &std::path::Path) -> Store {
    let layout = docsvc::node::Layout::new(data);
    let config = docsvc::node::Config::load(&layout).expect("node.toml");
    Store::open(&config.database_url(&layout))
        .await
        .expect("store")
}

/// The step-up times of an official's sessions, as stored.
async fn step_ups(store: &Store, nip: &str) -> Vec<Option<String>> {
    use sqlx::Row as _;
    sqlx::query("SELECT step_up_until FROM sessions WHERE nip = $1")
        .bind(nip)
        .fetch_all(store.pool())
        .await
        .expect("sessions")
        .iter()
        .map(|r| r.try_get::<Option<String>, _>(0).expect("step_up_until"))
        .collect()
}

/// Access log entries about `nip` whose text contains `what`.
async fn logged(store: &Store, nip: &str, what: &str) -> usize {
    use sqlx::Row as _;
    sqlx::query("SELECT entry FROM audit_log")
        .fetch_all(store.pool())
        .await
        .expect("log")
        .iter()
        .map(|r| r.try_get::<String, _>(0).expect("entry"))
        .filter(|e| e.contains(nip) && e.contains(what))
        .count()
}

/// The web step-up form, with the session's CSRF token.
fn web_step_up(c: &sandi_e2e::http::Client, pin: &str) -> sandi_e2e::http::Response {
    let csrf = c.csrf.clone().expect("csrf");
    c.call(
        "POST",
        "/ui/step-up",
        &[
            "--data-urlencode",
            &format!("csrf={csrf}"),
            "--data-urlencode",
            &format!("pin={pin}"),
            "--data-urlencode",
            "next=/ui/inbox",
        ],
    )
}

/// Guessing the signing PIN: wrong PINs over the API and the web form count together; after 5
/// even the right PIN is refused (its own problem type, saying until when), the official's
/// step-ups are withdrawn, and the lock is logged. 12 wrong PINs then the right one.
async fn pin_guessing(postgres: bool) {
    let docsvc = std::path::Path::new(env!("CARGO_BIN_EXE_docsvc"));
    let dir = tempfile::tempdir().expect("tempdir");
    let pg = if postgres {
        let Some(pg) = sandi_e2e::pg::postgres().await else {
            return;
        };
        Some(pg)
    } else {
        None
    };
    let data = dir.path().join("node");
    let extra: Vec<&str> = pg
        .as_ref()
        .map(|(url, _)| vec!["--database-url", url.as_str()])
        .unwrap_or_default();
    let node = sandi_e2e::node::DevNode::start(docsvc, &data, &extra);
    let (_, pin) = node.creds.get(BUDI).expect("Budi").clone();
    // A session stepped up before the guessing starts, and the guesser's own session.
    let earlier = node.login(BUDI, true, dir.path().join("earlier.jar"));
    let guesser = node.login(BUDI, false, dir.path().join("guesser.jar"));
    let store = store_of(&data).await;
    assert!(
        step_ups(&store, BUDI).await.iter().any(Option::is_some),
        "the earlier session is stepped up"
    );
    let wrong = if pin == "000000" { "111111" } else { "000000" };
    for i in 0..12 {
        let r = if i % 2 == 0 {
            let r = guesser.post_json(
                "/api/v1/session/step-up",
                &serde_json::json!({ "pin": wrong }),
            );
            assert!(
                r.status == 401 || r.status == 429,
                "wrong PIN {i}: {} {}",
                r.status,
                r.text()
            );
            r
        } else {
            let r = web_step_up(&guesser, wrong);
            assert!(
                r.status / 100 == 3 || r.status == 429,
                "web wrong PIN {i}: {}",
                r.status
            );
            r
        };
        if i >= 5 {
            assert_ne!(
                r.status / 100,
                3,
                "web wrong PIN {i} after the lock: {}",
                r.status
            );
        }
    }
    // The right PIN, over the API and the web form, is refused while locked.
    let r = guesser.post_json(
        "/api/v1/session/step-up",
        &serde_json::json!({ "pin": pin }),
    );
    assert_eq!(
        r.status,
        429,
        "the right PIN after 12 wrong ones: {}",
        r.text()
    );
    let problem = r.json();
    assert_eq!(problem["type"], "urn:sandi:problem:locked", "{problem}");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("until"), "says until when: {detail}");
    let r = web_step_up(&guesser, &pin);
    assert_eq!(
        r.status,
        429,
        "the right PIN over the web form: {}",
        r.text()
    );
    // Every session of the official lost its step-up, and the lock is in the access log.
    assert!(
        step_ups(&store, BUDI).await.iter().all(Option::is_none),
        "step-ups withdrawn: {:?}",
        step_ups(&store, BUDI).await
    );
    assert!(
        logged(&store, BUDI, "locked").await >= 1,
        "the lock is logged"
    );
    drop(earlier);
    drop(node);
    store.pool().close().await;
    if let Some((_, name)) = pg {
        sandi_e2e::pg::drop_postgres(&name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_guessing_locks_sqlite() {
    pin_guessing(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_guessing_locks_postgres() {
    pin_guessing(true).await;
}

const SITI: &str = "198002022005012002"; // quickstart: dinkes, rahasia

/// A quickstart node opened in-process and unsealed, on SQLite or PostgreSQL.
async fn insider_node(
    dir: &std::path::Path,
    postgres: bool,
) -> Option<(
    docsvc::node::Node,
    Vec<docsvc::dev::quickstart::DevOfficial>,
    Option<String>,
)> {
    let pg = if postgres {
        Some(sandi_e2e::pg::postgres().await?)
    } else {
        None
    };
    let out = docsvc::dev::quickstart::setup(
        dir,
        "127.0.0.1:0",
        pg.as_ref().map(|(u, _)| u.as_str()),
        &mut |_| {},
    )
    .await
    .expect("quickstart");
    let node = docsvc::node::Node::open(docsvc::node::Layout::new(dir))
        .await
        .expect("open");
    docsvc::dev::tsa::open_dev(&node)
        .await
        .expect("unseal, dev TSA");
    Some((node, out.officials, pg.map(|(_, n)| n)))
}

fn sha256_hex(s: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, s.as_bytes()))
}

/// The database writer as an attacker, targeted: a forged session row, a clearance raised, a
/// lockout counter reset, a password hash replaced. Each is refused as an integrity incident
/// and logged.
async fn database_writer(postgres: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((node, officials, pg)) = insider_node(dir.path(), postgres).await else {
        return;
    };
    let store = &node.store;
    let mut steps = Steps::new();
    steps
        .run_async("a_forged_session", a_forged_session(store))
        .await;
    steps
        .run_async("a_forged_step_up", a_forged_step_up(store))
        .await;
    steps
        .run_async("a_raised_clearance", a_raised_clearance(store, &officials))
        .await;
    steps
        .run_async(
            "a_reset_lockout_counter",
            a_reset_lockout_counter(store, &officials),
        )
        .await;
    steps
        .run_async(
            "a_swapped_password_hash",
            a_swapped_password_hash(store, &officials),
        )
        .await;
    steps
        .run_async(
            "an_official_inserted_by_hand",
            an_official_inserted_by_hand(store),
        )
        .await;
    drop(node);
    if let Some(name) = pg {
        sandi_e2e::pg::drop_postgres(&name).await;
    }
    steps.finish();
}

/// The quickstart password of official `nip`.
fn password_of(officials: &[docsvc::dev::quickstart::DevOfficial], nip: &str) -> String {
    officials
        .iter()
        .find(|o| o.nip == nip)
        .map(|o| o.password.to_string())
        .expect("official")
}

/// `r` is an integrity incident.
fn integrity(what: &str, r: &docsvc::Error) {
    assert_eq!(r.problem_type(), "integrity", "{what}: {r}");
}

/// 1. A forged session: any official, PIN already entered, no login.
async fn a_forged_session(store: &Store) {
    let token = "forged-session-token-forged-session-token-00";
    let now = time::OffsetDateTime::now_utc();
    sqlx::query(
        "INSERT INTO sessions (token_hash, nip, csrf, created_at, expires_at, step_up_until) \
         VALUES ($1, $2, 'csrf', $3, $4, $4)",
    )
    .bind(sha256_hex(token))
    .bind(BUDI)
    .bind(docsvc::rfc3339(now))
    .bind(docsvc::rfc3339(now + time::Duration::minutes(30)))
    .execute(store.pool())
    .await
    .expect("insert");
    let forged = docsvc::officials::session::lookup(store, token, 30, 12).await;
    integrity(
        "forged session",
        &forged
            .map(|_| ())
            .expect_err("a forged session was accepted"),
    );
    assert!(
        logged(store, BUDI, "integrity").await >= 1,
        "the forged session is logged"
    );
}

/// 2. A real session whose step-up is forged in the database.
async fn a_forged_step_up(store: &Store) {
    let now = time::OffsetDateTime::now_utc();
    let (real, _) = docsvc::officials::session::create(store, SITI, 30)
        .await
        .expect("session");
    docsvc::officials::session::lookup(store, &real, 30, 12)
        .await
        .expect("a real session works");
    sqlx::query("UPDATE sessions SET step_up_until = $1 WHERE token_hash = $2")
        .bind(docsvc::rfc3339(now + time::Duration::minutes(5)))
        .bind(sha256_hex(&real))
        .execute(store.pool())
        .await
        .expect("update");
    integrity(
        "forged step-up",
        &docsvc::officials::session::lookup(store, &real, 30, 12)
            .await
            .map(|_| ())
            .expect_err("forged step-up"),
    );
}

/// 3. A clearance raised in the database: refused at login and as the policy's entity.
async fn a_raised_clearance(store: &Store, officials: &[docsvc::dev::quickstart::DevOfficial]) {
    sqlx::query("UPDATE officials SET clearance = 'sangat_rahasia' WHERE nip = $1")
        .bind(SITI)
        .execute(store.pool())
        .await
        .expect("update");
    integrity(
        "raised clearance (entity)",
        &directory::get(store, SITI)
            .await
            .map(|_| ())
            .expect_err("raised clearance"),
    );
    integrity(
        "raised clearance (login)",
        &directory::login(store, SITI, &password_of(officials, SITI))
            .await
            .map(|_| ())
            .expect_err("login"),
    );
    assert!(logged(store, SITI, "integrity").await >= 2, "logged");
}

/// 4. A lockout counter reset in the database after four wrong passwords.
async fn a_reset_lockout_counter(
    store: &Store,
    officials: &[docsvc::dev::quickstart::DevOfficial],
) {
    let agus = officials
        .iter()
        .find(|o| o.nip != BUDI && o.nip != SITI)
        .expect("a third official")
        .nip
        .clone();
    for _ in 0..4 {
        assert!(
            directory::login(store, &agus, "salah-kata-sandi")
                .await
                .is_err()
        );
    }
    sqlx::query("UPDATE officials SET failed_logins = 0 WHERE nip = $1")
        .bind(&agus)
        .execute(store.pool())
        .await
        .expect("reset");
    integrity(
        "lockout reset",
        &directory::login(store, &agus, &password_of(officials, &agus))
            .await
            .map(|_| ())
            .expect_err("reset counter"),
    );
    assert!(logged(store, &agus, "integrity").await >= 1, "logged");
}

/// 5. Budi's password hash replaced by one the attacker knows (Siti's is a valid argon2 hash
///    of a password the attacker chose, as far as the node can tell).
async fn a_swapped_password_hash(
    store: &Store,
    officials: &[docsvc::dev::quickstart::DevOfficial],
) {
    sqlx::query(
        "UPDATE officials SET password_hash = (SELECT password_hash FROM officials WHERE nip = $1) \
         WHERE nip = $2",
    )
    .bind(SITI)
    .bind(BUDI)
    .execute(store.pool())
    .await
    .expect("swap");
    integrity(
        "password hash swapped",
        &directory::login(store, BUDI, &password_of(officials, SITI))
            .await
            .map(|_| ())
            .expect_err("swapped hash"),
    );
}

/// 6. A new official inserted by hand (no MAC): refused.
async fn an_official_inserted_by_hand(store: &Store) {
    sqlx::query(
        "INSERT INTO officials (nip, name, agency, position, clearance, roles, compartments, status, \
         password_hash, pin_hash, failed_logins, created_at) \
         SELECT '200001012020121001', 'Penyusup', agency, position, 'sangat_rahasia', roles, compartments, \
         'active', password_hash, pin_hash, 0, created_at FROM officials WHERE nip = $1",
    )
    .bind(SITI)
    .execute(store.pool())
    .await
    .expect("insert official");
    integrity(
        "inserted official",
        &directory::get(store, "200001012020121001")
            .await
            .map(|_| ())
            .expect_err("inserted"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_writer_is_caught_sqlite() {
    database_writer(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_writer_is_caught_postgres() {
    database_writer(true).await;
}
