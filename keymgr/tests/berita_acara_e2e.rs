//! The berita acara of a ceremony, through the real `keymgr` binary and checked by a tool we did
//! not write: `ssh-keygen` makes each person's Ed25519 key, signs the transcript (SSHSIG),
//! prints the fingerprints the page must show, and verifies the stored countersignatures with
//! the allowed_signers file keymgr writes. Every refusal is an attack: someone outside the
//! ceremony, other bytes, another namespace, another person's key, a second signature.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const NS: &str = "sandi-berita-acara";
const ADMIN: &str = "Admin Upacara";
/// Custodians; the second one's name is an attack on the rendered page.
const CUSTODIANS: [&str; 3] = ["Budi", "Siti <script>alert(1)</script>", "Andi & Putra"];
const WITNESS: &str = "Saksi \"Internal\"";
/// A witness who registers no key.
const WITNESS_NO_KEY: &str = "Saksi Eksternal";
const PLACE: &str = "Ruang Sandi <Lt. 2> & Aula";

struct Ca {
    dir: tempfile::TempDir,
}

fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_matches('-')
        .to_owned()
}

fn have_ssh_keygen() -> bool {
    let ok = Command::new("ssh-keygen")
        .arg("-?")
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        assert!(
            !sandi_e2e::under_ci(),
            "ssh-keygen is missing under CI (tests/run installs openssh-client)"
        );
        eprintln!("ssh-keygen not installed: berita acara not checked");
    }
    ok
}

impl Ca {
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    fn keymgr_in(&self, home: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_keymgr"))
            .arg("--home")
            .arg(self.path(home))
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run keymgr")
    }
    fn ok(&self, args: &[&str]) -> String {
        let out = self.keymgr_in("home", args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "keymgr {args:?} failed:\n{text}");
        text
    }
    fn fails_in(&self, home: &str, args: &[&str]) -> String {
        let out = self.keymgr_in(home, args);
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success(),
            "keymgr {args:?} should have failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(!text.is_empty(), "a failure must say why");
        text
    }
    fn fails(&self, args: &[&str]) -> String {
        self.fails_in("home", args)
    }

    /// `ssh-keygen -t ed25519` for a person, with a comment that must not reach the page.
    fn keygen(&self, who: &str, kind: &str) -> PathBuf {
        let key = self.path(&format!("keys/{}-{kind}", slug(who)));
        std::fs::create_dir_all(key.parent().expect("dir")).expect("mkdir");
        let mut cmd = Command::new("ssh-keygen");
        cmd.args(["-q", "-N", "", "-C", "<b>komentar</b>@laptop", "-t", kind]);
        if kind == "rsa" {
            cmd.args(["-b", "2048"]);
        }
        let status = cmd.arg("-f").arg(&key).status().expect("ssh-keygen");
        assert!(status.success(), "ssh-keygen -t {kind}");
        key
    }

    /// `ssh-keygen -Y sign` over `data`, the signature as ssh-keygen writes it.
    fn sign(&self, key: &Path, namespace: &str, data: &[u8], out: &str) -> PathBuf {
        let mut child = Command::new("ssh-keygen")
            .args(["-q", "-Y", "sign", "-n", namespace, "-f"])
            .arg(key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ssh-keygen -Y sign");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(data)
            .expect("write");
        let out_ = child.wait_with_output().expect("wait");
        assert!(
            out_.status.success(),
            "ssh-keygen -Y sign: {}",
            String::from_utf8_lossy(&out_.stderr)
        );
        let path = self.path(out);
        std::fs::write(&path, &out_.stdout).expect("write sig");
        path
    }
}

/// `SHA256:…` of a public key, as ssh-keygen -l prints it.
fn fingerprint(key: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(key.with_extension("pub"))
        .output()
        .expect("ssh-keygen -l");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .expect("a fingerprint")
        .to_owned()
}

fn pubkey(key: &Path) -> String {
    let mut p = key.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p).display().to_string()
}

struct People {
    admin: PathBuf,
    custodians: Vec<PathBuf>,
    witness: PathBuf,
    outsider: PathBuf,
}

/// A 2-of-3 init ceremony in which everyone but one witness registers an SSH key.
fn ceremony() -> (Ca, People, PathBuf) {
    let ca = Ca {
        dir: tempfile::tempdir().expect("tempdir"),
    };
    let people = People {
        admin: ca.keygen(ADMIN, "ed25519"),
        custodians: CUSTODIANS.iter().map(|c| ca.keygen(c, "ed25519")).collect(),
        witness: ca.keygen(WITNESS, "ed25519"),
        outsider: ca.keygen("Mallory", "ed25519"),
    };
    let mut args: Vec<String> = [
        "ceremony",
        "init",
        "--organisation",
        "Pemerintah Kota Contoh",
        "--admin",
        ADMIN,
        "--witness",
        WITNESS,
        "--witness",
        WITNESS_NO_KEY,
        "--threshold",
        "2",
        "--shares-out",
        "shares",
        "--place",
        PLACE,
    ]
    .map(String::from)
    .to_vec();
    args.extend([
        "--ssh-key".into(),
        format!("{ADMIN}={}", pubkey(&people.admin)),
    ]);
    // The witness's key given as its text, the others as files.
    let witness_key = std::fs::read_to_string(pubkey(&people.witness)).expect("read pub");
    args.extend([
        "--ssh-key".into(),
        format!("{WITNESS}={}", witness_key.trim()),
    ]);
    for (i, c) in CUSTODIANS.iter().enumerate() {
        let pass = ca.path(&format!("pass{i}"));
        std::fs::write(&pass, format!("kata sandi kustodian {i}\n")).expect("write");
        args.extend([
            "--custodian".into(),
            (*c).into(),
            "--passphrase-file".into(),
            pass.display().to_string(),
            "--ssh-key".into(),
            format!("{c}={}", pubkey(&people.custodians[i])),
        ]);
    }
    let text = ca.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let transcript = text
        .lines()
        .find_map(|l| l.strip_prefix("Transcript: "))
        .expect("the transcript's path")
        .trim()
        .to_owned();
    (ca, people, PathBuf::from(transcript))
}

fn countersign(ca: &Ca, t: &Path, signer: &str, sig: &Path) -> Output {
    ca.keymgr_in(
        "home",
        &[
            "ceremony",
            "countersign",
            "--transcript",
            &t.display().to_string(),
            "--signer",
            signer,
            "--signature",
            &sig.display().to_string(),
        ],
    )
}

fn refused(ca: &Ca, t: &Path, signer: &str, sig: &Path) -> String {
    let out = countersign(ca, t, signer, sig);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "{signer}'s countersignature accepted"
    );
    assert!(!err.is_empty(), "a refusal must say why");
    err
}

fn stored(t: &Path) -> Vec<String> {
    let dir = PathBuf::from(format!("{}.countersignatures", t.display()));
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

struct Ceremony {
    ca: Ca,
    people: People,
    t: PathBuf,
    bytes: Vec<u8>,
}

impl Ceremony {
    fn tp(&self) -> String {
        self.t.display().to_string()
    }
    fn folder(&self) -> PathBuf {
        PathBuf::from(format!("{}.countersignatures", self.tp()))
    }
    fn html_path(&self) -> String {
        self.ca.path("berita-acara.html").display().to_string()
    }
    /// The share arguments of the first two custodians (Budi and Siti).
    fn quorum(&self) -> Vec<String> {
        let mut shares: Vec<PathBuf> = std::fs::read_dir(self.ca.path("shares"))
            .expect("shares")
            .map(|e| e.expect("e").path())
            .collect();
        shares.sort();
        let mut quorum = Vec::new();
        for (i, share) in shares.iter().enumerate().take(2) {
            quorum.extend([
                "--share".into(),
                share.display().to_string(),
                "--passphrase-file".into(),
                self.ca.path(&format!("pass{i}")).display().to_string(),
            ]);
        }
        quorum
    }
    /// Budi's countersignature, as accepted.
    fn budi_sig(&self) -> PathBuf {
        self.ca.path("budi.sig")
    }
}

#[test]
fn countersignatures_are_checked_stored_reported_and_rendered() {
    if !have_ssh_keygen() {
        return;
    }
    let (ca, people, t) = ceremony();
    let bytes = std::fs::read(&t).expect("transcript");
    let c = Ceremony {
        ca,
        people,
        t,
        bytes,
    };
    the_ca_state_keeps_each_custodians_key(&c);
    a_signature_over_the_exact_bytes_is_accepted(&c);
    signatures_that_are_not_theirs_are_refused(&c);
    the_witness_and_the_administrator_countersign(&c);
    verify_transcript_says_who_has_and_has_not(&c);
    ssh_keygen_verifies_what_was_stored(&c);
    the_page_names_everyone_escaped_and_runs_nothing(&c);
    a_swapped_signature_file_is_reported(&c);
    a_later_ceremony_takes_the_custodians_keys_from_the_ca(&c);
    a_reshare_registers_new_keys_and_keeps_the_others(&c);
}

fn the_ca_state_keeps_each_custodians_key(c: &Ceremony) {
    let ca = &c.ca;
    // The CA state keeps each custodian's key (without its comment) for later ceremonies.
    let state = std::fs::read_to_string(ca.path("home/ca/state.json")).expect("state");
    assert!(state.contains("ssh-ed25519 AAAA"), "{state}");
    assert!(!state.contains("komentar"), "the key's comment is not kept");
}

fn a_signature_over_the_exact_bytes_is_accepted(c: &Ceremony) {
    let (ca, people, t, bytes) = (&c.ca, &c.people, &c.t, &c.bytes);
    let budi = CUSTODIANS[0];
    // Accepted: Budi's SSHSIG over the exact bytes, in the berita acara namespace.
    let sig = ca.sign(&people.custodians[0], NS, bytes, "budi.sig");
    let out = countersign(ca, t, budi, &sig);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stored(t), ["02-budi.sig"]);
}

fn signatures_that_are_not_theirs_are_refused(c: &Ceremony) {
    let (ca, people, t, bytes) = (&c.ca, &c.people, &c.t, &c.bytes);
    let budi = CUSTODIANS[0];
    // Refused, and nothing stored for any of them:
    // someone who is not in the ceremony;
    let m = ca.sign(&people.outsider, NS, bytes, "mallory.sig");
    let err = refused(ca, t, "Mallory", &m);
    assert!(err.contains("not a participant"), "{err}");
    // a signature over other bytes (a transcript with one byte more);
    let mut other = bytes.clone();
    other.push(b'\n');
    let s = ca.sign(&people.custodians[1], NS, &other, "siti-other.sig");
    let err = refused(ca, t, CUSTODIANS[1], &s);
    assert!(
        err.contains("does not verify over this transcript"),
        "{err}"
    );
    // a signature made for another purpose (git's namespace);
    let s = ca.sign(&people.custodians[2], "git", bytes, "andi-git.sig");
    let err = refused(ca, t, CUSTODIANS[2], &s);
    assert!(err.contains("namespace \"git\""), "{err}");
    // Budi's key claimed as Andi's signature;
    let sig = c.budi_sig();
    let err = refused(ca, t, CUSTODIANS[2], &sig);
    assert!(err.contains("made with key"), "{err}");
    // a second signature by Budi;
    let err = refused(ca, t, budi, &sig);
    assert!(err.contains("already countersigned"), "{err}");
    // a witness who registered no key;
    let err = refused(ca, t, WITNESS_NO_KEY, &sig);
    assert!(err.contains("no SSH key was registered"), "{err}");
    // something that is not an SSH signature, and something far too large.
    std::fs::write(ca.path("junk.sig"), "-----BEGIN SSH SIGNATURE-----\nAAAA\n").expect("w");
    let err = refused(ca, t, CUSTODIANS[2], &ca.path("junk.sig"));
    assert!(err.contains("not an SSH signature"), "{err}");
    std::fs::write(ca.path("big.sig"), vec![b'A'; 64 * 1024]).expect("w");
    let err = refused(ca, t, CUSTODIANS[2], &ca.path("big.sig"));
    assert!(err.contains("larger than"), "{err}");
    assert_eq!(stored(t), ["02-budi.sig"], "a refusal stores nothing");

    // A transcript changed after the ceremony is not countersigned at all.
    let tampered = ca.path("tampered.json");
    std::fs::write(
        &tampered,
        String::from_utf8_lossy(bytes).replace("Pemerintah Kota Contoh", "Pemerintah Kota Lain"),
    )
    .expect("w");
    let ts = ca.sign(
        &people.witness,
        NS,
        &std::fs::read(&tampered).expect("r"),
        "t.sig",
    );
    let err = refused(ca, &tampered, WITNESS, &ts);
    assert!(err.contains("does not verify"), "{err}");
}

fn the_witness_and_the_administrator_countersign(c: &Ceremony) {
    let (ca, people, t, bytes) = (&c.ca, &c.people, &c.t, &c.bytes);
    // The witness and the administrator countersign too.
    for (who, key) in [(WITNESS, &people.witness), (ADMIN, &people.admin)] {
        let s = ca.sign(key, NS, bytes, &format!("{}.sig", slug(who)));
        let out = countersign(ca, t, who, &s);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn verify_transcript_says_who_has_and_has_not(c: &Ceremony) {
    let (ca, people) = (&c.ca, &c.people);
    let budi = CUSTODIANS[0];
    // verify-transcript says who has and who has not, with ssh-keygen's fingerprints.
    let text = ca.ok(&["ceremony", "verify-transcript", &c.tp()]);
    assert!(text.contains("countersigned by 3 of 6"), "{text}");
    let line = |name: &str| {
        text.lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
            .to_owned()
    };
    assert!(line(budi).contains("[x]") && line(budi).contains(&fingerprint(&people.custodians[0])));
    assert!(line(ADMIN).contains("[x]"));
    assert!(line(CUSTODIANS[1]).contains("[ ]") && line(CUSTODIANS[1]).contains("not yet"));
    assert!(line(WITNESS_NO_KEY).contains("[-]"));
    let err = ca.fails(&["ceremony", "verify-transcript", &c.tp(), "--require-all"]);
    assert!(err.contains("3 of 6 have not countersigned"), "{err}");
}

fn ssh_keygen_verifies_what_was_stored(c: &Ceremony) {
    let (ca, t) = (&c.ca, &c.t);
    // ssh-keygen verifies the stored countersignatures with keymgr's allowed_signers file, and
    // holds each to its own person.
    let allowed = ca.ok(&["ceremony", "allowed-signers", &c.tp()]);
    std::fs::write(ca.path("allowed_signers"), &allowed).expect("w");
    let folder = PathBuf::from(c.folder().display().to_string());
    let ssh_verify = |id: &str, sig: &Path| {
        Command::new("ssh-keygen")
            .args(["-Y", "verify", "-n", NS, "-f"])
            .arg(ca.path("allowed_signers"))
            .args(["-I", id, "-s"])
            .arg(sig)
            .stdin(std::fs::File::open(t).expect("open"))
            .output()
            .expect("ssh-keygen -Y verify")
    };
    let ok = ssh_verify("02-budi", &folder.join("02-budi.sig"));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let wrong = ssh_verify("03-siti-script-alert-1-script", &folder.join("02-budi.sig"));
    assert!(!wrong.status.success(), "Budi's signature passed as Siti's");
}

fn the_page_names_everyone_escaped_and_runs_nothing(c: &Ceremony) {
    let (ca, people, bytes) = (&c.ca, &c.people, &c.bytes);
    // The page: every name, escaped; fingerprints; the print stylesheet; nothing active.
    ca.ok(&["ceremony", "render", &c.tp(), "--out", &c.html_path()]);
    let html = std::fs::read_to_string(c.html_path()).expect("html");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("BERITA ACARA UPACARA KUNCI"));
    assert!(html.contains("Inisialisasi Akar Kepercayaan"));
    assert!(html.contains("@media print") && html.contains("size: A4"));
    assert!(
        html.contains("Content-Security-Policy") && html.contains("default-src 'none'"),
        "the page forbids scripts and outside resources"
    );
    assert!(
        html.contains("Siti &lt;script&gt;alert(1)&lt;/script&gt;"),
        "name not escaped"
    );
    assert!(html.contains("Andi &amp; Putra"));
    assert!(html.contains("Saksi &quot;Internal&quot;") || html.contains("Saksi \"Internal\""));
    assert!(
        html.contains("Ruang Sandi &lt;Lt. 2&gt; &amp; Aula"),
        "place not escaped"
    );
    let lower = html.to_lowercase();
    for bad in [
        "<script", "<b>", "src=", "<link", "<img", "<iframe", "url(", "@import", "komentar",
    ] {
        assert!(!lower.contains(bad), "the page holds {bad:?}");
    }
    for name in [ADMIN, WITNESS_NO_KEY, "Budi"] {
        assert!(html.contains(name), "{name} missing from the page");
    }
    for key in [
        &people.admin,
        &people.custodians[0],
        &people.custodians[1],
        &people.witness,
    ] {
        assert!(html.contains(&fingerprint(key)), "fingerprint missing");
    }
    assert!(html.contains("Telah ditandatangani secara elektronik"));
    assert!(html.contains("Belum ditandatangani secara elektronik"));
    assert!(html.contains("Tidak ada kunci SSH terdaftar"));
    assert!(
        [
            "Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"
        ]
        .iter()
        .any(|d| html.contains(&format!("Pada hari ini {d}"))),
        "no day in Indonesian"
    );
    assert!(html.contains("dua ribu"), "the year in words");
    assert!(html.contains(&keymgr::transcript::sha256_hex(bytes)));
}

fn a_swapped_signature_file_is_reported(c: &Ceremony) {
    let ca = &c.ca;
    // A stored countersignature swapped for one over other bytes is reported, and fails.
    std::fs::write(
        c.folder().join("03-siti-script-alert-1-script.sig"),
        std::fs::read(ca.path("siti-other.sig")).expect("r"),
    )
    .expect("w");
    let err = ca.fails(&["ceremony", "verify-transcript", &c.tp()]);
    assert!(err.contains("do not verify"), "{err}");
    let out = ca.keymgr_in("home", &["ceremony", "verify-transcript", &c.tp()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("[!]") && said.contains("INVALID"), "{said}");
    ca.ok(&["ceremony", "render", &c.tp(), "--out", &c.html_path()]);
    let html = std::fs::read_to_string(c.html_path()).expect("html");
    assert!(html.contains("TIDAK SAH"));
}

fn a_later_ceremony_takes_the_custodians_keys_from_the_ca(c: &Ceremony) {
    let (ca, people) = (&c.ca, &c.people);
    let budi = CUSTODIANS[0];
    // A later ceremony: the custodians present are on its roster with the keys the CA state
    // kept; a custodian who brings another key is refused (keys change only in a reshare).
    let quorum = c.quorum();
    let q: Vec<&str> = quorum.iter().map(String::as_str).collect();
    let witness_key = pubkey(&people.witness);
    let outsider_key = format!("{budi}={}", pubkey(&people.outsider));
    let w = format!("{WITNESS}={witness_key}");
    let base = [
        "ceremony",
        "rotate-intermediate",
        "--ca",
        "network",
        "--admin",
        "Admin Dua",
        "--witness",
        WITNESS,
    ];
    let err = ca.fails(
        &[
            &base[..],
            &q,
            &["--ssh-key", &w, "--ssh-key", &outsider_key],
        ]
        .concat(),
    );
    assert!(err.contains("changes only in a reshare"), "{err}");
    let text = ca.ok(&[&base[..], &q, &["--ssh-key", &w]].concat());
    let rotated = text
        .split("transcript ")
        .nth(1)
        .expect("path")
        .trim()
        .to_owned();
    let allowed = ca.ok(&["ceremony", "allowed-signers", &rotated]);
    assert!(
        allowed.contains(&std::fs::read_to_string(pubkey(&people.custodians[0])).expect("r")[..80])
    );
    let text = ca.ok(&["ceremony", "verify-transcript", &rotated]);
    assert!(text.contains("countersigned by 0 of 4"), "{text}");
    assert!(
        text.contains("Admin Dua") && text.contains("no SSH key registered"),
        "{text}"
    );
}

fn a_reshare_registers_new_keys_and_keeps_the_others(c: &Ceremony) {
    let (ca, people) = (&c.ca, &c.people);
    // Budi stays (his key is carried over), Siti gives her share and leaves, Eko joins with
    // a key of his own; on the roster: the administrator, Budi and Siti (present), Eko
    // (joining) and the witness.
    let eko = ca.keygen("Eko", "ed25519");
    for f in ["new1", "new2"] {
        std::fs::write(ca.path(f), format!("kata sandi baru {f}\n")).expect("w");
    }
    let quorum = c.quorum();
    let mut args: Vec<&str> = vec![
        "ceremony",
        "reshare",
        "--admin",
        "Admin Tiga",
        "--witness",
        WITNESS,
        "--custodian",
        CUSTODIANS[0],
        "--custodian",
        "Eko",
        "--new-passphrase-file",
        "new1",
        "--new-passphrase-file",
        "new2",
        "--threshold",
        "2",
        "--shares-out",
        "shares2",
    ];
    let eko_key = format!("Eko={}", pubkey(&eko));
    args.extend(["--ssh-key", &eko_key]);
    args.extend(quorum.iter().map(String::as_str));
    let text = ca.ok(&args);
    let path = text
        .split("transcript ")
        .nth(1)
        .expect("path")
        .trim()
        .to_owned();
    let budi_key = std::fs::read_to_string(pubkey(&people.custodians[0])).expect("r");
    let budi_key: String = budi_key
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let eko_pub = std::fs::read_to_string(pubkey(&eko)).expect("r");
    let eko_pub: String = eko_pub
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let state = std::fs::read_to_string(ca.path("home/ca/state.json")).expect("state");
    assert!(
        state.contains(&budi_key),
        "Budi's key carried over:\n{state}"
    );
    assert!(state.contains(&eko_pub), "Eko's key registered:\n{state}");
    assert!(!state.contains("Siti"), "Siti left:\n{state}");
    let text = ca.ok(&["ceremony", "verify-transcript", &path]);
    assert!(text.contains("countersigned by 0 of 5"), "{text}");
    for who in ["Admin Tiga", CUSTODIANS[0], CUSTODIANS[1], "Eko", WITNESS] {
        assert!(text.contains(who), "{who} not on the roster:\n{text}");
    }
    // Eko countersigns the reshare's berita acara with the key he registered.
    let bytes = std::fs::read(&path).expect("r");
    let sig = ca.sign(&eko, NS, &bytes, "eko.sig");
    let out = countersign(ca, Path::new(&path), "Eko", &sig);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn keys_that_cannot_countersign_are_refused_at_the_ceremony() {
    if !have_ssh_keygen() {
        return;
    }
    let ca = Ca {
        dir: tempfile::tempdir().expect("tempdir"),
    };
    std::fs::write(ca.path("pass"), "kata sandi kustodian\n").expect("w");
    let ed = ca.keygen("Budi", "ed25519");
    let rsa = ca.keygen("Siti", "rsa");
    let init = |home: &str, keys: &[String]| {
        let mut args: Vec<String> = [
            "ceremony",
            "init",
            "--organisation",
            "Pemkot",
            "--admin",
            "Admin",
            "--witness",
            "Saksi",
            "--threshold",
            "2",
            "--shares-out",
        ]
        .map(String::from)
        .to_vec();
        args.push(format!("shares-{home}"));
        for c in ["Budi", "Siti", "Andi"] {
            args.extend([
                "--custodian".into(),
                c.into(),
                "--passphrase-file".into(),
                "pass".into(),
            ]);
        }
        for k in keys {
            args.extend(["--ssh-key".into(), k.clone()]);
        }
        ca.fails_in(home, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    // An RSA key: Ed25519 only.
    let err = init("a", &[format!("Siti={}", pubkey(&rsa))]);
    assert!(err.contains("ssh-ed25519 keys only"), "{err}");
    // A key for someone with no role in the ceremony.
    let err = init("b", &[format!("Mallory={}", pubkey(&ed))]);
    assert!(err.contains("no role in this ceremony"), "{err}");
    // One key for two people.
    let err = init(
        "c",
        &[
            format!("Budi={}", pubkey(&ed)),
            format!("Saksi={}", pubkey(&ed)),
        ],
    );
    assert!(err.contains("same SSH key"), "{err}");
    // Not a key at all.
    let err = init("d", &["Budi=ssh-ed25519 bm90IGEga2V5".into()]);
    assert!(err.contains("--ssh-key for Budi"), "{err}");
    // Nothing was made by any of them.
    for home in ["a", "b", "c", "d"] {
        assert!(!ca.path(home).join("ca/state.json").exists());
        assert!(
            !ca.path(&format!("shares-{home}")).exists()
                || std::fs::read_dir(ca.path(&format!("shares-{home}")))
                    .expect("d")
                    .next()
                    .is_none()
        );
    }
}
