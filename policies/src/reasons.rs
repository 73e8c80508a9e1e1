//! Why a decision went the way it did: each policy's reasons in both languages, which
//! policy explains a decision first, and the reasons filled in for a principal and document.
//! Every filled text is made once and then cloned, so deciding builds no strings.

use std::collections::HashMap;
use std::sync::OnceLock;

use cedar_policy::PolicyId;

use crate::handling::HandlingTable;
use crate::model::{Action, Document, Level, Principal, Status};

/// A policy's explanation: its id and reasons, and those reasons filled in, by [`FillKey`].
#[derive(Debug)]
struct Note {
    id: String,
    alasan: String,
    reason: String,
    /// One slot per [`FillKey`], or a single slot when the reasons have no placeholders.
    filled: Vec<OnceLock<(String, String)>>,
}

/// Every policy's explanation, in the order decisions are explained: by @order, then by id.
#[derive(Debug)]
pub(crate) struct Notes {
    by_rank: Vec<Note>,
    index: HashMap<PolicyId, usize>,
    /// The refusal when no policy applies, by action.
    nothing_allows: Vec<(String, String)>,
}

const PLACEHOLDERS: [&str; 4] = [
    "{classification}",
    "{clearance}",
    "{accreditation}",
    "{status}",
];

/// What the placeholders of a reason are filled from, reduced to an index.
struct FillKey {
    classification: Level,
    /// The principal's clearance (a person) or accreditation (a node).
    level: Level,
    node: bool,
    status: Status,
}

impl FillKey {
    const SLOTS: usize = 4 * 4 * 2 * 3;

    fn of(principal: &Principal, document: &Document) -> Self {
        let (level, node, status) = match principal {
            Principal::Official(p) | Principal::Application(p) => (p.clearance, false, p.status),
            Principal::Node {
                accreditation,
                status,
                ..
            } => (*accreditation, true, *status),
        };
        FillKey {
            classification: document.classification,
            level,
            node,
            status,
        }
    }

    fn slot(&self) -> usize {
        let rank = |l: Level| usize::try_from(l.rank()).unwrap_or(0);
        let status = match self.status {
            Status::Active => 0,
            Status::Suspended => 1,
            Status::Revoked => 2,
        };
        ((rank(self.classification) * 4 + rank(self.level)) * 2 + usize::from(self.node)) * 3
            + status
    }
}

impl Notes {
    /// `raw`: (order, alasan, reason) by policy id, as annotated.
    pub(crate) fn new(raw: HashMap<PolicyId, (u32, String, String)>) -> Self {
        let mut sorted: Vec<(u32, String, PolicyId, String, String)> = raw
            .into_iter()
            .map(|(id, (order, alasan, reason))| (order, id.to_string(), id, alasan, reason))
            .collect();
        sorted.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let mut index = HashMap::with_capacity(sorted.len());
        let mut by_rank = Vec::with_capacity(sorted.len());
        for (i, (_, id, pid, alasan, reason)) in sorted.into_iter().enumerate() {
            let templated = PLACEHOLDERS
                .iter()
                .any(|p| alasan.contains(p) || reason.contains(p));
            let slots = if templated { FillKey::SLOTS } else { 1 };
            index.insert(pid, i);
            by_rank.push(Note {
                id,
                alasan,
                reason,
                filled: (0..slots).map(|_| OnceLock::new()).collect(),
            });
        }
        let nothing_allows = Action::ALL
            .iter()
            .map(|a| {
                (
                    format!(
                        "ditolak: tidak ada kebijakan yang mengizinkan tindakan {} ini",
                        a.as_str()
                    ),
                    format!("denied: no policy allows this {} action", a.as_str()),
                )
            })
            .collect();
        Notes {
            by_rank,
            index,
            nothing_allows,
        }
    }

    /// Where a policy comes in the order of explanation; `None` for a policy with no note.
    pub(crate) fn rank(&self, id: &PolicyId) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// The id of the policy at `rank`.
    pub(crate) fn id(&self, rank: usize) -> &str {
        self.by_rank.get(rank).map_or("", |n| n.id.as_str())
    }

    /// Policy ids with their (English) reasons, by id.
    pub(crate) fn summary(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .by_rank
            .iter()
            .map(|n| (n.id.clone(), n.reason.clone()))
            .collect();
        v.sort();
        v
    }

    /// The reasons (Indonesian, English) of a decision whose first determining policy is
    /// `first` (a rank), or the refusal for `action` when no policy determined it.
    pub(crate) fn explain(
        &self,
        first: Option<usize>,
        action: Action,
        principal: &Principal,
        document: &Document,
        handling: &HandlingTable,
    ) -> (String, String) {
        let Some(note) = first.and_then(|r| self.by_rank.get(r)) else {
            return self
                .nothing_allows
                .get(action as usize)
                .cloned()
                .unwrap_or_default();
        };
        let key = FillKey::of(principal, document);
        let slot = if note.filled.len() == 1 {
            0
        } else {
            key.slot()
        };
        match note.filled.get(slot) {
            Some(cell) => cell.get_or_init(|| fill_both(note, &key, handling)).clone(),
            None => fill_both(note, &key, handling),
        }
    }
}

fn fill_both(note: &Note, key: &FillKey, handling: &HandlingTable) -> (String, String) {
    (
        fill(&note.alasan, key, handling),
        fill(&note.reason, key, handling),
    )
}

fn fill(template: &str, key: &FillKey, handling: &HandlingTable) -> String {
    let label = |l: Level| handling.get(l).label_id.as_str();
    let (clearance, accreditation) = if key.node {
        ("", label(key.level))
    } else {
        (label(key.level), "")
    };
    let status = match key.status {
        Status::Active => "aktif",
        Status::Suspended => "ditangguhkan (suspended)",
        Status::Revoked => "dicabut (revoked)",
    };
    template
        .replace("{classification}", label(key.classification))
        .replace("{clearance}", clearance)
        .replace("{accreditation}", accreditation)
        .replace("{status}", status)
}
