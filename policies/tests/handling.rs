//! The handling table as law: each column changes what the policy or the signature check
//! decides, and the loader refuses a table that would make a column decorative or a higher
//! level looser (a weaker signature included).

use policies::{
    Action, Context, Document, Error, HandlingTable, Level, Person, Policy, Principal,
    SignatureAlgorithm, Status,
};

/// The shipped policy copied to a temporary directory with `edit` applied to the handling
/// table of `level` only.
fn with_level(level: &str, edit: impl FnOnce(String) -> String) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    for f in ["sandi.cedarschema", "default.cedar", "handling.toml"] {
        std::fs::copy(policies::default_dir().join(f), dir.path().join(f)).expect("copy");
    }
    let path = dir.path().join("handling.toml");
    let text = std::fs::read_to_string(&path).expect("read");
    let start = text.find(&format!("[levels.{level}]")).expect("level");
    let end = text[start + 1..]
        .find("[levels.")
        .map_or(text.len(), |e| start + 1 + e);
    let edited = format!(
        "{}{}{}",
        &text[..start],
        edit(text[start..end].to_owned()),
        &text[end..]
    );
    std::fs::write(&path, &edited).expect("write");
    (dir, edited)
}

fn loaded(level: &str, edit: impl FnOnce(String) -> String) -> Result<Policy, Error> {
    let (dir, _) = with_level(level, edit);
    Policy::load(dir.path())
}

fn table(level: &str, edit: impl FnOnce(String) -> String) -> Result<HandlingTable, Error> {
    let (dir, text) = with_level(level, edit);
    HandlingTable::parse(&dir.path().join("handling.toml"), &text)
}

fn shipped() -> Policy {
    Policy::load(&policies::default_dir()).expect("the shipped policy loads")
}

fn recipient(clearance: Level) -> Principal {
    Principal::Official(Person {
        id: "R".into(),
        agency: "dinkes".into(),
        clearance,
        roles: vec!["pejabat".into()],
        status: Status::Active,
        compartments: vec![],
    })
}

fn doc(classification: Level) -> Document {
    Document {
        id: "d".into(),
        classification,
        originator: "O".into(),
        recipients: vec!["R".into()],
        copies: vec![],
        grants: vec![],
        agency: "dinkes".into(),
        agencies: vec!["dinkes".into()],
        compartments: vec![],
    }
}

fn stepped_up() -> Context {
    Context {
        step_up: true,
        ..Context::default()
    }
}

#[test]
fn the_shipped_table_asks_p384_for_rahasia_and_up_and_says_why_it_refuses() {
    let p = shipped();
    let t = p.handling();
    for level in Level::ALL {
        assert!(
            t.check_signature(level, SignatureAlgorithm::EcdsaP384)
                .is_ok()
        );
    }
    assert!(
        t.check_signature(Level::Biasa, SignatureAlgorithm::EcdsaP256)
            .is_ok()
    );
    assert!(
        t.check_signature(Level::Terbatas, SignatureAlgorithm::EcdsaP256)
            .is_ok()
    );
    let weak = t
        .check_signature(Level::Rahasia, SignatureAlgorithm::EcdsaP256)
        .expect_err("P-256 is too weak for RAHASIA");
    assert_eq!(
        weak.reason,
        "RAHASIA letters need an ECDSA P-384 signature (handling.toml: signature_algorithm = ecdsa_p384, min_key_bits = 384); this signature is ECDSA P-256"
    );
    assert_eq!(
        weak.alasan,
        "naskah RAHASIA memerlukan tanda tangan ECDSA P-384 (handling.toml: signature_algorithm = ecdsa_p384, min_key_bits = 384); tanda tangan ini ECDSA P-256"
    );
    assert!(
        t.check_signature(Level::SangatRahasia, SignatureAlgorithm::EcdsaP256)
            .is_err()
    );
    // Keys follow the clearance.
    assert_eq!(
        t.signing_key_for(Level::Biasa),
        SignatureAlgorithm::EcdsaP256
    );
    assert_eq!(
        t.signing_key_for(Level::Terbatas),
        SignatureAlgorithm::EcdsaP256
    );
    assert_eq!(
        t.signing_key_for(Level::Rahasia),
        SignatureAlgorithm::EcdsaP384
    );
    assert_eq!(
        t.signing_key_for(Level::SangatRahasia),
        SignatureAlgorithm::EcdsaP384
    );
}

/// `signature_algorithm` says which keys are issued, `min_key_bits` which signatures are
/// taken: a level may issue P-384 keys while still taking P-256 signatures (a migration).
#[test]
fn signature_algorithm_and_min_key_bits_each_decide_something() {
    let t = table("terbatas", |s| {
        s.replace(
            "signature_algorithm = \"ecdsa_p256\"",
            "signature_algorithm = \"ecdsa_p384\"",
        )
    })
    .expect("a terbatas level issuing P-384 loads");
    assert_eq!(
        t.signing_key_for(Level::Terbatas),
        SignatureAlgorithm::EcdsaP384
    );
    assert!(
        t.check_signature(Level::Terbatas, SignatureAlgorithm::EcdsaP256)
            .is_ok()
    );
    let t = table("terbatas", |s| {
        s.replace(
            "signature_algorithm = \"ecdsa_p256\"",
            "signature_algorithm = \"ecdsa_p384\"",
        )
        .replace("min_key_bits = 256", "min_key_bits = 384")
    })
    .expect("loads");
    let weak = t
        .check_signature(Level::Terbatas, SignatureAlgorithm::EcdsaP256)
        .expect_err("now refused");
    assert!(
        weak.reason.starts_with("TERBATAS letters need"),
        "{}",
        weak.reason
    );
}

#[test]
fn a_table_that_cannot_be_honoured_or_signs_a_higher_level_weaker_is_refused() {
    // More bits than the algorithm gives: no key the level issues would pass its own check.
    let e = loaded("terbatas", |s| {
        s.replace("min_key_bits = 256", "min_key_bits = 384")
    })
    .expect_err("refused");
    assert!(
        e.to_string().contains("min_key_bits must be 256 to 256"),
        "{e}"
    );
    // Ed25519 keys do not sign CMS here: not a value the table may hold.
    let e = loaded("biasa", |s| {
        s.replace(
            "signature_algorithm = \"ecdsa_p256\"",
            "signature_algorithm = \"ed25519\"",
        )
    })
    .expect_err("refused");
    assert!(e.to_string().contains("ed25519"), "{e}");
    // SANGAT RAHASIA signed weaker than RAHASIA: an official's key, made for their clearance,
    // would not sign the levels below it.
    let e = loaded("sangat_rahasia", |s| {
        s.replace(
            "signature_algorithm = \"ecdsa_p384\"",
            "signature_algorithm = \"ecdsa_p256\"",
        )
        .replace("min_key_bits = 384", "min_key_bits = 256")
    })
    .expect_err("refused");
    assert!(
        e.to_string()
            .contains("level sangat_rahasia is handled more loosely than rahasia"),
        "{e}"
    );
    let e = loaded("sangat_rahasia", |s| {
        s.replace("min_key_bits = 384", "min_key_bits = 256")
    })
    .expect_err("refused");
    assert!(e.to_string().contains("more loosely"), "{e}");
}

/// The column that was: a table still carrying it is refused, saying why it went.
#[test]
fn archive_encryption_is_no_longer_a_column() {
    let e = loaded("biasa", |s| {
        s.replace(
            "retention_years = 2",
            "archive_encryption = false\nretention_years = 2",
        )
    })
    .expect_err("refused");
    let text = e.to_string();
    assert!(
        text.contains("handling.toml:")
            && text.contains("archive_encryption is no longer a column")
            && text.contains("every letter is encrypted to its level's archive key"),
        "{text}"
    );
}

/// `export_plaintext` is what the rule `no-plaintext-export` reads: the same letter, the same
/// reader, only the column changed, and the decision follows it.
#[test]
fn export_plaintext_decides_a_plaintext_export() {
    let export = |p: &Policy| {
        p.decide(
            &recipient(Level::SangatRahasia),
            Action::Export,
            &doc(Level::Terbatas),
            &stepped_up(),
        )
        .expect("decide")
    };
    let d = export(&shipped());
    assert!(
        d.allowed,
        "TERBATAS exports in plaintext by the shipped table"
    );
    // Only the column changed, for TERBATAS alone.
    let p = loaded("terbatas", |s| {
        s.replace("export_plaintext = true", "export_plaintext = false")
    })
    .expect("a stricter TERBATAS loads");
    let d = export(&p);
    assert!(!d.allowed);
    assert_eq!(d.policies, ["no-plaintext-export"]);
    assert_eq!(
        d.reason,
        "denied: a TERBATAS document may not be exported in plaintext"
    );
    // And the other way: RAHASIA (false in the shipped table) is refused by the same rule,
    // reading is not.
    let p = shipped();
    let d = p
        .decide(
            &recipient(Level::SangatRahasia),
            Action::Export,
            &doc(Level::Rahasia),
            &stepped_up(),
        )
        .expect("decide");
    assert_eq!(d.policies, ["no-plaintext-export"]);
    assert!(
        p.decide(
            &recipient(Level::SangatRahasia),
            Action::Read,
            &doc(Level::Rahasia),
            &stepped_up()
        )
        .expect("decide")
        .allowed
    );
}

/// A node's policy directory: the shipped one, or a city's own checked before it is copied.
#[test]
fn install_copies_only_a_policy_that_loads() {
    let shipped = tempfile::tempdir().expect("tempdir");
    policies::install(None, shipped.path()).expect("the shipped policy");
    Policy::load(shipped.path()).expect("loads where it was installed");
    let (own, _) = with_level("terbatas", |s| {
        s.replace("export_plaintext = true", "export_plaintext = false")
    });
    let to = tempfile::tempdir().expect("tempdir");
    policies::install(Some(own.path()), to.path()).expect("a city's own");
    let text = std::fs::read_to_string(to.path().join("handling.toml")).expect("copied");
    assert_eq!(text.matches("export_plaintext = false").count(), 3);
    let (broken, _) = with_level("biasa", |s| {
        s.replace("min_key_bits = 256", "min_key_bits = 1")
    });
    let to = tempfile::tempdir().expect("tempdir");
    assert!(policies::install(Some(broken.path()), to.path()).is_err());
    assert!(!to.path().join("handling.toml").exists(), "nothing copied");
}
