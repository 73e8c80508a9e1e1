//! The handling table: what each classification demands, from `handling.toml`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, line_of};
use crate::model::Level;

/// Signature algorithms the table may require.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureAlgorithm {
    Ed25519,
    EcdsaP256,
    EcdsaP384,
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
    pub signature_algorithm: SignatureAlgorithm,
    pub min_key_bits: u32,
    /// Encrypted to the node's archive key as well as to the recipients.
    pub archive_encryption: bool,
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

    /// Parses and checks a handling table; errors name the file and the line.
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let invalid = |line: Option<usize>, message: String| Error::Invalid {
            path: path.to_path_buf(),
            line,
            message,
        };
        let file: File = toml::from_str(text).map_err(|e| {
            invalid(
                e.span().map(|s| line_of(text, s.start)),
                e.message().to_string(),
            )
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
            let needed = match h.signature_algorithm {
                SignatureAlgorithm::Ed25519 | SignatureAlgorithm::EcdsaP256 => 256,
                SignatureAlgorithm::EcdsaP384 => 384,
            };
            if h.min_key_bits < 256 || h.min_key_bits > needed {
                return Err(bad(
                    "min_key_bits must be at least 256 and what the algorithm gives",
                ));
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
                || (!hi.archive_encryption && lo.archive_encryption);
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
