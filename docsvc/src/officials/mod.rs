//! Officials and applications: the directory, sessions, the PIN lockout, registrations and
//! clearance changes under dual control, delegations and each official's own age recipient.

pub mod admin;
pub mod applications;
pub mod changes;
pub mod credentials;
pub mod delegation;
pub mod directory;
pub mod lockout;
pub mod recipient;
mod row;
pub mod session;

use directory::Official;

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
