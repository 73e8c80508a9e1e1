//! The berita acara of a node ceremony: `docsvc init` (the real binary) with each person's
//! SSH key (made by `ssh-keygen -t ed25519`) and the place; each person signs the transcript
//! with `ssh-keygen -Y sign`, and `docsvc ceremony countersign` stores it. `verify-transcript`
//! passes only when everyone named has validly countersigned: a missing signer, a signature by
//! another person's key and a changed transcript each fail. `allowed-signers` lets
//! `ssh-keygen -Y verify` check a signature without sandi; `render` writes the printable page
//! in Bahasa Indonesia. A reshare's transcript names who leaves and who joins.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sandi_e2e::node::{fails, ok, require};

const NAMESPACE: &str = "sandi-berita-acara";
const ADMIN: &str = "Rina Admin";
const WITNESS: &str = "Wawan Saksi";
const PLACE: &str = "Ruang Rapat Diskominfo, Lantai 2";

fn docsvc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_docsvc"))
}

/// A person of the ceremony: their SSH key pair and, for a custodian, an age identity.
struct Signer {
    name: &'static str,
    ssh_key: PathBuf,
    age: Option<(PathBuf, String)>,
}

impl Signer {
    fn new(dir: &Path, name: &'static str, custodian: bool) -> Signer {
        let slug = name.replace(' ', "-").to_lowercase();
        let ssh_key = dir.join(format!("{slug}-ssh"));
        ok(&Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C"])
            .arg(format!("{slug}@kota-a"))
            .arg("-f")
            .arg(&ssh_key)
            .output()
            .expect("ssh-keygen"));
        let age = custodian.then(|| {
            let id = age::x25519::Identity::generate();
            let file = dir.join(format!("{slug}.age-key"));
            let secret = age::secrecy::ExposeSecret::expose_secret(&id.to_string()).to_owned();
            std::fs::write(&file, format!("{secret}\n")).expect("age identity");
            (file, id.to_public().to_string())
        });
        Signer { name, ssh_key, age }
    }

    fn public_key(&self) -> String {
        std::fs::read_to_string(self.ssh_key.with_extension("pub")).expect("public key")
    }

    /// `ssh-keygen -Y sign` over `file`'s bytes, the signature written to `out`.
    fn sign(&self, file: &Path, out: &Path) {
        let bytes = std::fs::read(file).expect("transcript");
        let mut child = Command::new("ssh-keygen")
            .args(["-Y", "sign", "-n", NAMESPACE, "-f"])
            .arg(&self.ssh_key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ssh-keygen -Y sign");
        std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), &bytes).expect("write");
        drop(child.stdin.take());
        let signed = child.wait_with_output().expect("ssh-keygen");
        assert!(signed.status.success(), "{signed:?}");
        std::fs::write(out, &signed.stdout).expect("signature");
    }
}

fn run(c: &mut Command) -> Output {
    c.output().expect("docsvc")
}

/// `docsvc ceremony SUB TRANSCRIPT --data-dir DATA …`.
fn ceremony(sub: &str, transcript: &Path, data: &Path) -> Command {
    let mut c = docsvc();
    c.args(["ceremony", sub])
        .arg(transcript)
        .arg("--data-dir")
        .arg(data);
    c
}

fn countersign(transcript: &Path, data: &Path, signer: &str, signature: &Path) -> Output {
    run(ceremony("countersign", transcript, data)
        .args(["--signer", signer, "--signature"])
        .arg(signature))
}

/// The ceremony's one transcript in `dir` (a JSON file).
fn transcript_in(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a transcript")
}

/// `docsvc init` of kota-a: Rina administers, Ani, Budi and Citra hold shares (2 of 3), Wawan
/// witnesses; everyone gives an SSH key (Budi's as a file), and `extra` is added.
fn init(w: &Path, people: &[Signer], extra: &[String]) -> (Output, PathBuf, PathBuf) {
    let (data, out) = (w.join("node"), w.join("removable"));
    let mut c = docsvc();
    c.arg("init")
        .arg("--data-dir")
        .arg(&data)
        .arg("--shares-out")
        .arg(&out)
        .args(["--node-id", "kota-a", "--organisation", "Pemerintah Kota A"])
        .args(["--agencies", "dinkes", "--administrator", ADMIN])
        .args(["--witness", WITNESS, "--threshold", "2", "--place", PLACE]);
    for p in people {
        if let Some((_, recipient)) = &p.age {
            c.arg("--custodian").arg(format!("{}={recipient}", p.name));
        }
        let key = if p.name == "Budi" {
            p.ssh_key.with_extension("pub").display().to_string()
        } else {
            p.public_key()
        };
        c.arg("--ssh-key").arg(format!("{}={}", p.name, key.trim()));
    }
    c.args(extra);
    (run(&mut c), data, out)
}

#[test]
fn node_ceremony_transcripts_are_countersigned_and_rendered() {
    require("ssh-keygen");
    let work = tempfile::tempdir().expect("tmp");
    let w = work.path();
    let people: Vec<Signer> = [
        (ADMIN, false),
        ("Ani", true),
        ("Budi", true),
        ("Citra", true),
    ]
    .into_iter()
    .chain([(WITNESS, false)])
    .map(|(n, c)| Signer::new(w, n, c))
    .collect();

    // A key for someone with no role: refused, nothing made.
    let stranger = Signer::new(w, "Orang Lain", false);
    let extra = [
        "--ssh-key".to_owned(),
        format!("Orang Lain={}", stranger.public_key().trim()),
    ];
    let (refused, data, _) = init(w, &people, &extra);
    let why = fails(&refused);
    assert!(why.contains("no role in this ceremony"), "{why}");
    assert!(!data.exists(), "a refused ceremony left {}", data.display());

    let (made, data, out) = init(w, &people, &[]);
    ok(&made);
    let transcript = transcript_in(&data.join("ceremonies"));
    let sigs = w.join("signatures");
    std::fs::create_dir(&sigs).expect("mkdir");
    for p in &people {
        p.sign(&transcript, &sigs.join(format!("{}.sig", p.name)));
    }
    let sig = |name: &str| sigs.join(format!("{name}.sig"));

    // Nobody has countersigned yet: verify-transcript fails and says who is missing.
    let why = fails(&run(&mut ceremony("verify-transcript", &transcript, &data)));
    assert!(why.contains("5 of 5 have not countersigned"), "{why}");

    // Budi's signature made with Ani's key is refused; so is one by Ani over another file.
    let why = fails(&countersign(&transcript, &data, "Budi", &sig("Ani")));
    assert!(why.contains("made with key"), "{why}");
    let other = w.join("other.txt");
    std::fs::write(&other, "bukan transkrip").expect("write");
    people[1].sign(&other, &w.join("other.sig"));
    let why = fails(&countersign(
        &transcript,
        &data,
        "Ani",
        &w.join("other.sig"),
    ));
    assert!(
        why.contains("does not verify over this transcript"),
        "{why}"
    );

    // Everyone but Citra: still failing, naming her.
    for p in people.iter().filter(|p| p.name != "Citra") {
        ok(&countersign(&transcript, &data, p.name, &sig(p.name)));
    }
    let why = fails(&run(&mut ceremony("verify-transcript", &transcript, &data)));
    assert!(
        why.contains("1 of 5 have not countersigned: Citra"),
        "{why}"
    );
    ok(&countersign(&transcript, &data, "Citra", &sig("Citra")));
    let said = ok(&run(&mut ceremony("verify-transcript", &transcript, &data)));
    assert!(said.contains("countersigned by 5 of 5"), "{said}");

    wrong_key_in_the_folder(&transcript, &data, &sig("Ani"));
    changed_transcript_fails(w, &transcript, &data);
    ssh_keygen_verifies_alone(w, &transcript, &data, &sig("Budi"));
    rendered(w, &transcript, &data);
    reshare_names_who_leaves_and_joins(w, &data, &out, &people);
}

/// A stored countersignature replaced by one made with another person's key: verify fails.
fn wrong_key_in_the_folder(transcript: &Path, data: &Path, anis: &Path) {
    let folder = PathBuf::from(format!("{}.countersignatures", transcript.display()));
    let budis = std::fs::read_dir(&folder)
        .expect("countersignatures")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-budi.sig"))
        .expect("Budi's countersignature");
    let kept = std::fs::read(&budis).expect("read");
    std::fs::copy(anis, &budis).expect("replace");
    let why = fails(&run(&mut ceremony("verify-transcript", transcript, data)));
    assert!(
        why.contains("do not verify") && why.contains("Budi"),
        "{why}"
    );
    std::fs::write(&budis, kept).expect("restore");
    ok(&run(&mut ceremony("verify-transcript", transcript, data)));
}

/// A copy of the transcript (with its countersignatures) changed: a name changed fails the
/// audit key's signature; the same content written with other whitespace still carries the
/// audit key's signature but no countersignature covers its bytes.
fn changed_transcript_fails(w: &Path, transcript: &Path, data: &Path) {
    let bytes = std::fs::read(transcript).expect("transcript");
    let copy = |name: &str, bytes: &[u8]| {
        let dir = w.join(name);
        std::fs::create_dir(&dir).expect("mkdir");
        let file = dir.join(transcript.file_name().expect("name"));
        std::fs::write(&file, bytes).expect("write");
        let from = PathBuf::from(format!("{}.countersignatures", transcript.display()));
        let to = PathBuf::from(format!("{}.countersignatures", file.display()));
        std::fs::create_dir(&to).expect("mkdir");
        for e in std::fs::read_dir(from).expect("sigs").flatten() {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
        file
    };
    let unchanged = copy("unchanged", &bytes);
    ok(&run(&mut ceremony("verify-transcript", &unchanged, data)));

    let text = String::from_utf8(bytes.clone()).expect("utf-8");
    let renamed = copy("renamed", text.replace("Citra", "Kitra").as_bytes());
    let why = fails(&run(&mut ceremony("verify-transcript", &renamed, data)));
    assert!(why.contains("does not verify"), "{why}");

    let value: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    let compact = serde_json::to_vec(&value).expect("json");
    assert_ne!(compact, bytes, "the transcript was compact already");
    let reformatted = copy("reformatted", &compact);
    let why = fails(&run(&mut ceremony("verify-transcript", &reformatted, data)));
    assert!(why.contains("do not verify over this transcript"), "{why}");
}

/// `allowed-signers` and `ssh-keygen -Y verify`: Budi's signature checks out without sandi,
/// and not under Ani's identity.
fn ssh_keygen_verifies_alone(w: &Path, transcript: &Path, data: &Path, budis: &Path) {
    let allowed = ok(&run(&mut ceremony("allowed-signers", transcript, data)));
    let file = w.join("allowed_signers");
    std::fs::write(&file, &allowed).expect("write");
    let id = |who: &str| {
        allowed
            .lines()
            .find(|l| l.contains(&format!("-{who} namespaces=")))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("no line for {who}:\n{allowed}"))
            .to_owned()
    };
    let verify = |identity: &str| {
        Command::new("ssh-keygen")
            .args(["-Y", "verify", "-n", NAMESPACE, "-f"])
            .arg(&file)
            .args(["-I", identity, "-s"])
            .arg(budis)
            .stdin(std::fs::File::open(transcript).expect("transcript"))
            .output()
            .expect("ssh-keygen -Y verify")
    };
    assert!(verify(&id("budi")).status.success());
    assert!(!verify(&id("ani")).status.success());
}

/// The printable page: Indonesian headings, the place, every name, each countersigned.
fn rendered(w: &Path, transcript: &Path, data: &Path) {
    let page = w.join("berita-acara.html");
    ok(&run(ceremony("render", transcript, data)
        .arg("--out")
        .arg(&page)
        .args(["--zona", "wita"])));
    let html = std::fs::read_to_string(&page).expect("page");
    for heading in [
        "BERITA ACARA UPACARA KUNCI",
        "Inisialisasi Simpul (Node)",
        "Hari/Tanggal",
        "Tempat",
        "Jalannya upacara",
        "Hasil dan keutuhan transkrip",
        "Tanda tangan",
        "WITA",
        "SHA-256 kunci audit simpul",
        "docsvc ceremony verify-transcript",
    ] {
        assert!(html.contains(heading), "no {heading:?} in the page");
    }
    assert!(html.contains("@media print") && html.contains("size: A4"));
    assert!(html.contains(PLACE) && html.contains("Pemerintah Kota A"));
    for name in [ADMIN, "Ani", "Budi", "Citra", WITNESS] {
        assert!(html.contains(name), "{name} is not on the page");
    }
    assert_eq!(
        html.matches("Telah ditandatangani secara elektronik")
            .count(),
        5,
        "everyone countersigned"
    );
    assert!(!html.contains("Belum ditandatangani"));
}

/// A reshare with keys: its transcript lists Ani and Budi (who gave their shares) and Dedi
/// (who joins), and renders as the custodian turnover.
fn reshare_names_who_leaves_and_joins(w: &Path, data: &Path, out: &Path, people: &[Signer]) {
    let mut shares: Vec<PathBuf> = std::fs::read_dir(out)
        .expect("shares")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "age"))
        .collect();
    shares.sort();
    let dedi = Signer::new(w, "Dedi", true);
    let mut c = docsvc();
    c.args(["reshare", "--data-dir"])
        .arg(data)
        .arg("--shares-out")
        .arg(w.join("removable-2"))
        .args([
            "--administrator",
            ADMIN,
            "--witness",
            WITNESS,
            "--threshold",
            "2",
        ])
        .args(["--place", PLACE]);
    for (share, p) in shares.iter().zip(&people[1..3]) {
        let (identity, _) = p.age.as_ref().expect("a custodian");
        c.arg("--share").arg(share).arg("--identity").arg(identity);
    }
    for p in [&people[2], &people[3], &dedi] {
        let (_, recipient) = p.age.as_ref().expect("a custodian");
        c.arg("--custodian").arg(format!("{}={recipient}", p.name));
    }
    for p in people.iter().chain([&dedi]) {
        c.arg("--ssh-key")
            .arg(format!("{}={}", p.name, p.public_key().trim()));
    }
    ok(&run(&mut c));
    let transcript = transcript_in(&w.join("removable-2"));
    let allowed = ok(&run(&mut ceremony("allowed-signers", &transcript, data)));
    for who in ["ani", "budi", "citra", "dedi"] {
        assert!(
            allowed.contains(&format!("-{who} namespaces=")),
            "{who}:\n{allowed}"
        );
    }
    let page = w.join("reshare.html");
    ok(&run(ceremony("render", &transcript, data)
        .arg("--out")
        .arg(&page)));
    let html = std::fs::read_to_string(&page).expect("page");
    assert!(html.contains("Pergantian Pemegang Kunci Simpul"));
    assert!(html.contains("Belum ditandatangani secara elektronik"));
}
