//! The handling table: what each classification demands, from `handling.toml`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, line_of};
use crate::model::Level;

/// The signature algorithms a level may ask for: what the node can sign a letter with (CMS,
/// RFC 5652) and what an official cleared for the level is given a key for. Ordered by
/// strength.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureAlgorithm {
    EcdsaP256,
    EcdsaP384,
}

impl SignatureAlgorithm {
    /// The size of its keys, in bits.
    pub fn key_bits(self) -> u32 {
        match self {
            SignatureAlgorithm::EcdsaP256 => 256,
            SignatureAlgorithm::EcdsaP384 => 384,
        }
    }

    /// As the table spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureAlgorithm::EcdsaP256 => "ecdsa_p256",
            SignatureAlgorithm::EcdsaP384 => "ecdsa_p384",
        }
    }

    /// As people say it.
    pub fn name(self) -> &'static str {
        match self {
            SignatureAlgorithm::EcdsaP256 => "ECDSA P-256",
            SignatureAlgorithm::EcdsaP384 => "ECDSA P-384",
        }
    }
}

/// A signature weaker than its level's handling asks: the table's reason, in both languages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeakSignature {
    /// Indonesian: what the level needs and what the signature is.
    pub alasan: String,
    /// English, e.g. "RAHASIA letters need an ECDSA P-384 signature (handling.toml:
    /// signature_algorithm = ecdsa_p384, min_key_bits = 384); this signature is ECDSA P-256".
    pub reason: String,
}

/// The handling of one classification.
#[allow(clippy::struct_excessive_bools)] // a table of yes/no rules, one per column
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handling {
    /// The label in Indonesian, as stamped (e.g. "SANGAT RAHASIA").
    pub label_id: String,
    /// The label in English.
    pub label_en: String,
    /// The stamp code (SR, R, T, B).
    pub code: String,
    /// The stamp colour (#rrggbb).
    pub colour: String,
    /// The key an official cleared for this level is given, and the algorithm a signature
    /// on a letter of this level must be of (a stronger one of the same kind will do).
    pub signature_algorithm: SignatureAlgorithm,
    /// The smallest key a signature on a letter of this level may have: at most what
    /// `signature_algorithm` gives, so a level may keep accepting smaller keys while new keys
    /// are issued larger.
    pub min_key_bits: u32,
    pub retention_years: u32,
    pub export_plaintext: bool,
    pub print: bool,
    /// The reader's name, NIP and time over every view.
    pub watermark: bool,
    /// A second authorised official approves sending.
    pub dual_control: bool,
    /// PIN step-up to open.
    pub step_up: bool,
    pub min_node_accreditation: Level,
}

/// The whole table, one entry per level.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HandlingTable {
    levels: BTreeMap<Level, Handling>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    levels: BTreeMap<String, Handling>,
}

impl HandlingTable {
    pub fn get(&self, level: Level) -> &Handling {
        // Loading guarantees every level is present.
        &self.levels[&level]
    }

    /// The signing key an official (or application) cleared for `clearance` is given. The
    /// table never asks less of a higher level, so it signs every level up to its clearance.
    pub fn signing_key_for(&self, clearance: Level) -> SignatureAlgorithm {
        self.get(clearance).signature_algorithm
    }

    /// Whether a signature by a key of `algorithm` is strong enough for a letter of `level`:
    /// an ECDSA key (the only kind the table knows) of at least `min_key_bits`. A refusal
    /// carries the table's reason.
    pub fn check_signature(
        &self,
        level: Level,
        algorithm: SignatureAlgorithm,
    ) -> std::result::Result<(), WeakSignature> {
        let h = self.get(level);
        if algorithm.key_bits() >= h.min_key_bits {
            return Ok(());
        }
        let rule = format!(
            "handling.toml: signature_algorithm = {}, min_key_bits = {}",
            h.signature_algorithm.as_str(),
            h.min_key_bits
        );
        Err(WeakSignature {
            alasan: format!(
                "naskah {} memerlukan tanda tangan {} ({rule}); tanda tangan ini {}",
                h.label_id,
                h.signature_algorithm.name(),
                algorithm.name()
            ),
            reason: format!(
                "{} letters need an {} signature ({rule}); this signature is {}",
                h.label_id,
                h.signature_algorithm.name(),
                algorithm.name()
            ),
        })
    }

    /// Parses and checks a handling table; errors name the file and the line.
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let invalid = |line: Option<usize>, message: String| Error::Invalid {
            path: path.to_path_buf(),
            line,
            message,
        };
        let file: File = toml::from_str(text).map_err(|e| {
            let message = if e.message().contains("unknown field `archive_encryption`") {
                // A column that once was: say why it went rather than only that it is unknown.
                "archive_encryption is no longer a column: every letter is encrypted to its \
                 level's archive key (docs/domain.md, The handling table)"
                    .to_owned()
            } else {
                e.message().to_string()
            };
            invalid(e.span().map(|s| line_of(text, s.start)), message)
        })?;
        let line_of_level = |name: &str| {
            text.find(&format!("[levels.{name}]"))
                .map(|o| line_of(text, o))
        };
        let mut levels = BTreeMap::new();
        for (name, h) in file.levels {
            let level: Level = name
                .parse()
                .map_err(|_| invalid(line_of_level(&name), format!("unknown level {name:?}")))?;
            let line = line_of_level(&name);
            let bad = |m: &str| invalid(line, format!("level {name}: {m}"));
            if h.label_id.trim().is_empty()
                || h.label_en.trim().is_empty()
                || h.code.trim().is_empty()
            {
                return Err(bad("labels and code must not be empty"));
            }
            if !(h.colour.len() == 7
                && h.colour.starts_with('#')
                && h.colour[1..].chars().all(|c| c.is_ascii_hexdigit()))
            {
                return Err(bad("colour must be #rrggbb"));
            }
            // The keys the level issues must pass its own check.
            if h.min_key_bits < 256 || h.min_key_bits > h.signature_algorithm.key_bits() {
                return Err(bad(&format!(
                    "min_key_bits must be 256 to {} (what {} gives)",
                    h.signature_algorithm.key_bits(),
                    h.signature_algorithm.as_str()
                )));
            }
            if h.retention_years == 0 || h.retention_years > 100 {
                return Err(bad("retention_years must be 1 to 100"));
            }
            if h.min_node_accreditation < level {
                return Err(bad("min_node_accreditation below the level itself"));
            }
            levels.insert(level, h);
        }
        for level in Level::ALL {
            if !levels.contains_key(&level) {
                return Err(invalid(
                    None,
                    format!("level {} is missing", level.as_str()),
                ));
            }
        }
        // A higher level is never handled more loosely than a lower one.
        for pair in Level::ALL.windows(2) {
            let (lo, hi) = (&levels[&pair[0]], &levels[&pair[1]]);
            let looser = (hi.export_plaintext && !lo.export_plaintext)
                || (hi.print && !lo.print)
                || (!hi.step_up && lo.step_up)
                || (!hi.dual_control && lo.dual_control)
                || (!hi.watermark && lo.watermark)
                // An official's key, made for their clearance, must sign every level below it.
                || hi.signature_algorithm < lo.signature_algorithm
                || hi.min_key_bits < lo.min_key_bits;
            if looser {
                return Err(invalid(
                    line_of_level(pair[1].as_str()),
                    format!(
                        "level {} is handled more loosely than {}",
                        pair[1].as_str(),
                        pair[0].as_str()
                    ),
                ));
            }
        }
        Ok(HandlingTable { levels })
    }
}
