//! One access log entry: what it records, in its canonical JSON order, and the bounds every
//! entry is cut to before it is written.

use serde::{Deserialize, Serialize};

/// One log entry. The field order is the canonical JSON order.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub at: String,
    /// `official:NIP`, `application:ID`, `node:ID`, `operator` or `anonymous`.
    pub actor: String,
    pub action: String,
    pub document: Option<String>,
    pub classification: Option<String>,
    /// `allow`, `deny` or `error`.
    pub decision: String,
    pub reason: String,
    pub policies: Vec<String>,
    pub policy_version: String,
    pub client: Option<String>,
}

impl Entry {
    /// An entry stamped now for an event that is not a policy decision (login, step-up,
    /// administration, an integrity incident).
    pub fn event(
        actor: String,
        action: &str,
        decision: &str,
        reason: String,
        policy_version: &str,
        client: Option<String>,
    ) -> Self {
        Entry {
            at: crate::now_rfc3339(),
            actor,
            action: action.into(),
            document: None,
            classification: None,
            decision: decision.into(),
            reason,
            policies: vec![],
            policy_version: policy_version.into(),
            client,
        }
    }

    /// An entry stamped now for a policy decision.
    pub fn decided(
        actor: String,
        action: &str,
        level: Option<policies::Level>,
        d: &policies::Decision,
        client: Option<String>,
    ) -> Self {
        Entry {
            classification: level.map(|l| l.as_str().to_owned()),
            policies: d.policies.clone(),
            ..Entry::event(
                actor,
                action,
                if d.allowed { "allow" } else { "deny" },
                d.reason.clone(),
                &d.policy_version,
                client,
            )
        }
    }

    /// The same entry about a letter.
    #[must_use]
    pub fn about(self, document: &str) -> Self {
        Entry {
            document: Some(document.to_owned()),
            ..self
        }
    }

    /// Whether the entry already keeps every bound of [`Entry::bounded`] (checked, not copied).
    pub(super) fn is_bounded(&self) -> bool {
        let fits = |s: &str, max: usize| s.len() <= max && !s.chars().any(char::is_control);
        fits(&self.at, 40)
            && fits(&self.actor, 160)
            && fits(&self.action, 48)
            && self.document.as_deref().is_none_or(|d| fits(d, 96))
            && self.classification.as_deref().is_none_or(|c| fits(c, 24))
            && fits(&self.decision, 8)
            && fits(&self.reason, 768)
            && self.policies.len() <= 8
            && self.policies.iter().all(|p| fits(p, 64))
            && fits(&self.policy_version, 80)
            && self.client.as_deref().is_none_or(|c| fits(c, 64))
    }

    /// The entry as it is written: every field cut to its bound and control characters
    /// replaced, so that no request can make an entry larger than [`MAX_ENTRY`] bytes (the
    /// handlers validate what they take from outside first; this is the backstop).
    #[must_use]
    pub fn bounded(&self) -> Self {
        Entry {
            at: clip(&self.at, 40),
            actor: clip(&self.actor, 160),
            action: clip(&self.action, 48),
            document: self.document.as_deref().map(|d| clip(d, 96)),
            classification: self.classification.as_deref().map(|c| clip(c, 24)),
            decision: clip(&self.decision, 8),
            reason: clip(&self.reason, 768),
            policies: self.policies.iter().take(8).map(|p| clip(p, 64)).collect(),
            policy_version: clip(&self.policy_version, 80),
            client: self.client.as_deref().map(|c| clip(c, 64)),
        }
    }
}

/// The most bytes one access log entry takes, whatever a request carried.
pub const MAX_ENTRY: usize = 4096;

/// `s` with control characters replaced, cut at a character boundary to at most `max` bytes
/// (saying so when it was cut).
fn clip(s: &str, max: usize) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    if s.len() <= max && !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    if s.len() <= max {
        return clean(s);
    }
    let marker = format!("…[{} bytes cut]", s.len());
    let mut end = max.saturating_sub(marker.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    clean(&format!("{}{marker}", &s[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worst an entry can be: every field huge and full of characters JSON escapes.
    #[test]
    fn no_entry_passes_its_bound() {
        for filler in ["\"", "\\", "\u{0}", "€", "a"] {
            let huge = filler.repeat(100_000);
            let e = Entry {
                at: huge.clone(),
                actor: huge.clone(),
                action: huge.clone(),
                document: Some(huge.clone()),
                classification: Some(huge.clone()),
                decision: huge.clone(),
                reason: huge.clone(),
                policies: vec![huge.clone(); 100],
                policy_version: huge.clone(),
                client: Some(huge.clone()),
            };
            let text = serde_json::to_string(&e.bounded()).expect("json");
            assert!(text.len() < MAX_ENTRY, "{filler:?}: {} bytes", text.len());
        }
        let small = Entry::event(
            "official:1".into(),
            "login",
            "deny",
            "why".into(),
            "v1",
            None,
        );
        assert_eq!(small.bounded(), small);
        assert!(small.is_bounded());
        assert!(
            !Entry {
                reason: "a\u{0}b".into(),
                ..small
            }
            .is_bounded()
        );
    }
}
