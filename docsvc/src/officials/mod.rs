//! Officials and applications: the directory, sessions, the PIN lockout, enrolment (officials
//! set their own secrets), registrations and clearance changes under dual control, delegations
//! and each official's own age recipient.

pub mod admin;
pub mod application_admin;
pub mod applications;
pub mod certify;
pub mod changes;
pub mod credentials;
pub mod delegation;
pub mod directory;
pub mod enrolment;
pub mod lockout;
pub mod operator;
pub mod recipient;
mod row;
pub mod session;

use directory::Official;
use hsm_shim::KeyKind;
use policies::{HandlingTable, Level, SignatureAlgorithm};

/// The signing key the handling table gives whoever is cleared for `clearance` (an official
/// or an application): the level's `signature_algorithm`, which the table never makes weaker
/// for a higher level, so the key signs every level up to the clearance.
pub fn signing_key_kind(table: &HandlingTable, clearance: Level) -> KeyKind {
    match table.signing_key_for(clearance) {
        SignatureAlgorithm::EcdsaP256 => KeyKind::EcdsaP256,
        SignatureAlgorithm::EcdsaP384 => KeyKind::EcdsaP384,
    }
}

/// Who is asking, and how: what every decision and log entry needs.
#[derive(Clone, Debug)]
pub struct Caller {
    pub official: Official,
    pub stepped_up: bool,
    pub client: Option<String>,
}

impl Caller {
    pub(crate) fn actor(&self) -> String {
        format!("official:{}", self.official.nip)
    }
}
