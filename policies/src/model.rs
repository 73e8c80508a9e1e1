//! What a decision is about: principals, actions, documents and the request's context.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Classification levels, lowest first (sifat naskah).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Biasa,
    Terbatas,
    Rahasia,
    SangatRahasia,
}

impl Level {
    pub const ALL: [Level; 4] = [
        Level::Biasa,
        Level::Terbatas,
        Level::Rahasia,
        Level::SangatRahasia,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Biasa => "biasa",
            Level::Terbatas => "terbatas",
            Level::Rahasia => "rahasia",
            Level::SangatRahasia => "sangat_rahasia",
        }
    }

    /// The number the Cedar policies compare.
    pub fn rank(self) -> i64 {
        match self {
            Level::Biasa => 0,
            Level::Terbatas => 1,
            Level::Rahasia => 2,
            Level::SangatRahasia => 3,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| {
                format!("unknown level {s:?}: one of biasa, terbatas, rahasia, sangat_rahasia")
            })
    }
}

/// Account status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Suspended,
    Revoked,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Suspended => "suspended",
            Status::Revoked => "revoked",
        }
    }
}

/// An official (pejabat) or an application acting for an agency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// The NIP (or an application's id).
    pub id: String,
    pub agency: String,
    pub clearance: Level,
    #[serde(default)]
    pub roles: Vec<String>,
    pub status: Status,
    #[serde(default)]
    pub compartments: Vec<String>,
}

/// Who asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Principal {
    Official(Person),
    Application(Person),
    Node {
        id: String,
        accreditation: Level,
        status: Status,
    },
}

/// What is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Read,
    Sign,
    Send,
    Receive,
    Reclassify,
    Export,
    Print,
    Destroy,
    AuditRead,
}

impl Action {
    pub const ALL: [Action; 10] = [
        Action::Create,
        Action::Read,
        Action::Sign,
        Action::Send,
        Action::Receive,
        Action::Reclassify,
        Action::Export,
        Action::Print,
        Action::Destroy,
        Action::AuditRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Read => "read",
            Action::Sign => "sign",
            Action::Send => "send",
            Action::Receive => "receive",
            Action::Reclassify => "reclassify",
            Action::Export => "export",
            Action::Print => "print",
            Action::Destroy => "destroy",
            Action::AuditRead => "audit_read",
        }
    }

    /// Where this action is in [`Action::ALL`] (declaration order): tables by action index it.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown action {s:?}"))
    }
}

/// A document as the policy sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    pub id: String,
    pub classification: Level,
    /// The originator's NIP.
    pub originator: String,
    #[serde(default)]
    pub recipients: Vec<String>,
    /// Copy-holders (tembusan).
    #[serde(default)]
    pub copies: Vec<String>,
    /// Explicit grants of access.
    #[serde(default)]
    pub grants: Vec<String>,
    /// The originating agency.
    pub agency: String,
    /// The agencies the letter is addressed to (and the originator's).
    #[serde(default)]
    pub agencies: Vec<String>,
    #[serde(default)]
    pub compartments: Vec<String>,
}

/// What else the decision depends on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Context {
    /// The PIN step-up was done for this request.
    #[serde(default)]
    pub step_up: bool,
    /// NIPs of officials who approved sending (dual control); the originator does not count.
    #[serde(default)]
    pub approvers: Vec<String>,
    /// For reclassify: the new level.
    #[serde(default)]
    pub new_classification: Option<Level>,
    /// For reclassify: the written reason.
    #[serde(default)]
    pub reason: Option<String>,
    /// The hour of day (0-23) of the request, for time-bound policies.
    #[serde(default)]
    pub hour: Option<u8>,
}

/// A decision and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub allowed: bool,
    /// The policies that determined it (empty: denied because nothing allows it).
    pub policies: Vec<String>,
    /// The reason in Indonesian.
    pub alasan: String,
    /// The reason in English.
    pub reason: String,
    /// The policy version the decision was made under.
    pub policy_version: String,
}

#[cfg(test)]
mod tests {
    use super::Action;

    #[test]
    fn an_action_index_is_its_place_in_all() {
        for (i, a) in Action::ALL.into_iter().enumerate() {
            assert_eq!(a.index(), i, "{a:?}");
        }
    }
}
