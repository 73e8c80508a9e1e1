//! Loading the policy (schema, Cedar policies, handling table) and deciding with it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, OnceLock, RwLock};

use cedar_policy::{
    Authorizer, Context as CedarContext, EntityId, EntityUid, PolicyId, PolicySet, Request,
    RestrictedExpression, Schema, ValidationMode, Validator,
};
use miette::Diagnostic;

use crate::error::{Error, Result, line_of};
use crate::handling::HandlingTable;
use crate::model::{Action, Context, Decision, Document, Level, Principal};
use crate::prepared::{PreparedDocument, PreparedPrincipal, Reuse, Types};
use crate::reasons::Notes;

const SCHEMA_FILE: &str = "sandi.cedarschema";
const HANDLING_FILE: &str = "handling.toml";

/// A loaded, checked policy: everything a decision needs.
#[derive(Debug)]
pub struct Policy {
    policies: PolicySet,
    /// The policies that can apply to each action, by `Action as usize`: evaluating only
    /// these is what makes a decision fast (Cedar evaluates every policy it is given).
    by_action: Vec<PolicySet>,
    /// Each action's entity uid, by `Action as usize`.
    action_uids: Vec<EntityUid>,
    handling: HandlingTable,
    version: String,
    authorizer: Authorizer,
    /// Every policy's reasons, and the order in which they explain a decision.
    notes: Notes,
    types: Types,
    /// Entities made recently, reused for the same principal and document.
    reuse: Reuse,
    /// Cedar contexts already built, by [`ContextKey::slot`]: a context is a pure function of
    /// a few small facts, and building one costs more than evaluating a policy.
    contexts: Vec<OnceLock<CedarContext>>,
}

/// The facts a Cedar context is made of, reduced to what the policies can see.
#[derive(Clone, Copy)]
struct ContextKey {
    level: Level,
    step_up: bool,
    other_approvals: usize,
    lowering: bool,
    reason_given: bool,
    hour: u8,
}

impl ContextKey {
    const APPROVALS: usize = 4;
    const SLOTS: usize = 4 * 2 * Self::APPROVALS * 2 * 2 * 24;

    /// Where this context is cached; `None` for values outside the cached range (built fresh).
    fn slot(self) -> Option<usize> {
        if self.other_approvals >= Self::APPROVALS || self.hour >= 24 {
            return None;
        }
        let level = usize::try_from(self.level.rank()).ok()?;
        let mut i = level;
        i = i * 2 + usize::from(self.step_up);
        i = i * Self::APPROVALS + self.other_approvals;
        i = i * 2 + usize::from(self.lowering);
        i = i * 2 + usize::from(self.reason_given);
        i = i * 24 + usize::from(self.hour);
        Some(i)
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The first line a diagnostic points at, in `text`.
fn diagnostic_line(d: &dyn Diagnostic, text: &str) -> Option<usize> {
    d.labels()
        .and_then(|mut l| l.next())
        .map(|l| line_of(text, l.offset()))
}

fn req_err(e: &dyn std::fmt::Display) -> Error {
    Error::Request(e.to_string())
}

fn invalid(path: &Path, line: Option<usize>, message: impl Into<String>) -> Error {
    Error::Invalid {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// The same policy with its action scope widened to any action. Only for a set already
/// chosen for one action, where the scope always holds: evaluating `action in [...]` costs
/// more than the rest of most conditions.
fn without_action_scope(p: &cedar_policy::Policy) -> Result<cedar_policy::Policy> {
    let mut json = p.to_json().map_err(|e| req_err(&e))?;
    json["action"] = serde_json::json!({ "op": "All" });
    cedar_policy::Policy::from_json(Some(p.id().clone()), json).map_err(|e| req_err(&e))
}

/// The schema first: every policy is validated against it.
fn load_schema(dir: &Path) -> Result<(Schema, String)> {
    let schema_path = dir.join(SCHEMA_FILE);
    let schema_text = read(&schema_path)?;
    let (schema, _warnings) = Schema::from_cedarschema_str(&schema_text).map_err(|e| {
        invalid(
            &schema_path,
            diagnostic_line(&e, &schema_text),
            format!("{e}"),
        )
    })?;
    Ok((schema, schema_text))
}

/// Every `DIR/*.cedar`, in name order; there must be at least one.
fn policy_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cedar"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(invalid(dir, None, "no *.cedar policy files"));
    }
    Ok(files)
}

/// The policy as it is read in: the policies so far with their annotations, where each came
/// from (to point at the line a later error is about), and every file's text (for the version).
struct Sources {
    policies: PolicySet,
    /// Annotations by policy id: (order, alasan, reason).
    notes: HashMap<PolicyId, (u32, String, String)>,
    origin: HashMap<PolicyId, (PathBuf, String)>,
    /// (file name, text) of every file read.
    texts: Vec<(String, String)>,
}

impl Sources {
    fn new(schema_text: String) -> Self {
        Sources {
            policies: PolicySet::new(),
            notes: HashMap::new(),
            origin: HashMap::new(),
            texts: vec![(SCHEMA_FILE.into(), schema_text)],
        }
    }

    /// One `*.cedar` file: it parses, and each of its policies is annotated and new.
    fn add_policy_file(&mut self, path: &Path) -> Result<()> {
        let text = read(path)?;
        let set = PolicySet::from_str(&text)
            .map_err(|e| invalid(path, diagnostic_line(&e, &text), format!("{e}")))?;
        let starts = policy_start_lines(&text);
        for p in set.policies() {
            let line = p
                .id()
                .to_string()
                .strip_prefix("policy")
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| starts.get(n).copied());
            self.add_policy(path, &text, line, p)?;
        }
        self.texts.push((
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            text,
        ));
        Ok(())
    }

    /// One policy: an @id used nowhere else, @alasan and @reason, a numeric @order if any.
    fn add_policy(
        &mut self,
        path: &Path,
        text: &str,
        line: Option<usize>,
        p: &cedar_policy::Policy,
    ) -> Result<()> {
        let id = p
            .annotation("id")
            .ok_or_else(|| invalid(path, line, "every policy needs an @id(\"...\") annotation"))?;
        let (Some(alasan), Some(reason)) = (p.annotation("alasan"), p.annotation("reason")) else {
            return Err(invalid(
                path,
                line,
                format!("policy {id} needs @alasan and @reason"),
            ));
        };
        let order = match p.annotation("order") {
            Some(o) => o.parse().map_err(|_| {
                invalid(path, line, format!("policy {id}: @order must be a number"))
            })?,
            None => u32::MAX,
        };
        let pid = PolicyId::new(id);
        if self.origin.contains_key(&pid) {
            return Err(invalid(path, line, format!("policy id {id} is used twice")));
        }
        self.notes
            .insert(pid.clone(), (order, alasan.to_owned(), reason.to_owned()));
        self.origin
            .insert(pid.clone(), (path.to_path_buf(), text.to_owned()));
        self.policies
            .add(p.new_id(pid))
            .map_err(|e| invalid(path, line, e.to_string()))
    }

    /// Every policy against the schema, strictly; the first error names its file and line.
    fn validate(&self, schema: Schema, dir: &Path) -> Result<()> {
        let result = Validator::new(schema).validate(&self.policies, ValidationMode::Strict);
        if let Some(e) = result.validation_errors().next() {
            let (path, text) = self
                .origin
                .get(e.policy_id())
                .cloned()
                .unwrap_or_else(|| (dir.to_path_buf(), String::new()));
            return Err(invalid(
                &path,
                diagnostic_line(e, &text),
                format!("policy {}: {e}", e.policy_id()),
            ));
        }
        Ok(())
    }

    /// The handling table, last: what each level requires beyond the policies.
    fn add_handling(&mut self, dir: &Path) -> Result<HandlingTable> {
        let handling_path = dir.join(HANDLING_FILE);
        let handling_text = read(&handling_path)?;
        let handling = HandlingTable::parse(&handling_path, &handling_text)?;
        self.texts.push((HANDLING_FILE.into(), handling_text));
        Ok(handling)
    }

    /// The version: SHA-256 over every file's name and bytes, in name order.
    fn version(&mut self) -> String {
        self.texts.sort();
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        for (name, text) in &self.texts {
            ctx.update(name.as_bytes());
            ctx.update(&[0]);
            ctx.update(&(text.len() as u64).to_be_bytes());
            ctx.update(text.as_bytes());
        }
        hex::encode(ctx.finish())
    }
}

/// Cedar names parsed policies policy0, policy1, … in order; the n-th `permit` or `forbid`
/// that starts a line is where policy n begins. The line numbers, from 1.
fn policy_start_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start();
            t.starts_with("permit") || t.starts_with("forbid")
        })
        .map(|(n, _)| n + 1)
        .collect()
}

/// Each action's entity uid, in the order of [`Action::ALL`].
fn action_uids(types: &Types) -> Vec<EntityUid> {
    Action::ALL
        .iter()
        .map(|a| EntityUid::from_type_name_and_id(types.action.clone(), EntityId::new(a.as_str())))
        .collect()
}

/// For each action (in the order of [`Action::ALL`]), the policies that can apply to it,
/// their action scope dropped.
fn policies_by_action(policies: &PolicySet, action_uids: &[EntityUid]) -> Result<Vec<PolicySet>> {
    let mut by_action = Vec::with_capacity(action_uids.len());
    for uid in action_uids {
        let mut set = PolicySet::new();
        for p in policies.policies() {
            let applies = match p.action_constraint() {
                cedar_policy::ActionConstraint::Any => true,
                cedar_policy::ActionConstraint::Eq(a) => a == *uid,
                cedar_policy::ActionConstraint::In(list) => list.contains(uid),
            };
            if applies {
                set.add(without_action_scope(p)?).map_err(|e| req_err(&e))?;
            }
        }
        by_action.push(set);
    }
    Ok(by_action)
}

impl Policy {
    /// Loads `DIR/sandi.cedarschema`, every `DIR/*.cedar` and `DIR/handling.toml`, and checks
    /// all of it before anything is used: the policies parse and validate against the schema
    /// (strict mode), every policy has an id and reasons in both languages, the handling table
    /// is complete and sane.
    pub fn load(dir: &Path) -> Result<Self> {
        let (schema, schema_text) = load_schema(dir)?;
        let mut sources = Sources::new(schema_text);
        let files = policy_files(dir)?;
        for path in &files {
            sources.add_policy_file(path)?;
        }
        sources.validate(schema, dir)?;
        let handling = sources.add_handling(dir)?;
        let version = sources.version();
        let Sources {
            policies, notes, ..
        } = sources;
        let types = Types::new()?;
        let action_uids = action_uids(&types);
        Ok(Policy {
            by_action: policies_by_action(&policies, &action_uids)?,
            action_uids,
            policies,
            handling,
            version,
            authorizer: Authorizer::new(),
            notes: Notes::new(notes),
            contexts: (0..ContextKey::SLOTS).map(|_| OnceLock::new()).collect(),
            types,
            reuse: Reuse::new(),
        })
    }

    /// The policy version: recorded in every manifest and log entry.
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn handling(&self) -> &HandlingTable {
        &self.handling
    }

    /// The number of policies in force.
    pub fn len(&self) -> usize {
        self.policies.policies().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Policy ids with their reasons, for a summary.
    pub fn summary(&self) -> Vec<(String, String)> {
        self.notes.summary()
    }

    /// Decides. Deny by default; the decision names the policies that determined it and says
    /// why in Indonesian and English. The entities of a principal and document decided about
    /// recently are reused (found by equality of every field).
    pub fn decide(
        &self,
        principal: &Principal,
        action: Action,
        resource: &Document,
        context: &Context,
    ) -> Result<Decision> {
        let principal = self.prepare_principal(principal)?;
        let resource = self.prepare_document(resource)?;
        self.decide_prepared(&principal, action, &resource, context)
    }

    /// Decides as [`Policy::decide`] does, answering a question asked recently from memory
    /// (found by equality of every input; the policy never changes once loaded, so the answer
    /// is the one a fresh evaluation gives). For a caller that asks the same few questions
    /// again and again, an application signing; a caller going through many documents (an
    /// inbox) would only push those answers out.
    pub fn decide_remembered(
        &self,
        principal: &Principal,
        action: Action,
        resource: &Document,
        context: &Context,
    ) -> Result<Decision> {
        if let Some(d) = self.reuse.decided(principal, action, resource, context) {
            return Ok(d);
        }
        let d = self.decide(principal, action, resource, context)?;
        self.reuse
            .remember((principal, action, resource, context), &d);
        Ok(d)
    }

    /// Decides about prepared entities: what a caller deciding many times for one principal
    /// (an inbox) or one document does, so that each is turned into a Cedar entity once.
    pub fn decide_prepared(
        &self,
        principal: &PreparedPrincipal,
        action: Action,
        resource: &PreparedDocument,
        context: &Context,
    ) -> Result<Decision> {
        let entities = self.reuse.entities(principal, resource)?;
        let ctx = self.context(resource.document(), context)?;
        let a = action.index();
        let (Some(action_uid), Some(policies)) = (self.action_uids.get(a), self.by_action.get(a))
        else {
            return Err(Error::Request(format!(
                "no policies for {}",
                action.as_str()
            )));
        };
        let request = Request::new(
            principal.uid().clone(),
            action_uid.clone(),
            resource.uid().clone(),
            ctx,
            None,
        )
        .map_err(|e| req_err(&e))?;
        let response = self.authorizer.is_authorized(&request, policies, &entities);
        let allowed = response.decision() == cedar_policy::Decision::Allow;
        // Ranks in the order of explanation; every policy loaded has a note.
        let mut determining: Vec<usize> = response
            .diagnostics()
            .reason()
            .filter_map(|id| self.notes.rank(id))
            .collect();
        determining.sort_unstable();
        let (alasan, reason) = self.notes.explain(
            determining.first().copied(),
            action,
            principal.principal(),
            resource.document(),
            &self.handling,
        );
        Ok(Decision {
            allowed,
            policies: determining
                .iter()
                .map(|r| self.notes.id(*r).to_owned())
                .collect(),
            alasan,
            reason,
            policy_version: self.version.clone(),
        })
    }

    /// The principal as a Cedar entity (one made recently for an equal principal, if any).
    pub fn prepare_principal(&self, principal: &Principal) -> Result<PreparedPrincipal> {
        self.reuse.principal(&self.types, principal)
    }

    /// The document as a Cedar entity (one made recently for an equal document, if any).
    pub fn prepare_document(&self, resource: &Document) -> Result<PreparedDocument> {
        self.reuse.document(&self.types, resource)
    }

    /// The Cedar context: the request's facts plus the handling of the document's level.
    fn context(&self, resource: &Document, context: &Context) -> Result<CedarContext> {
        // Dual control: approvals by officials other than the originator.
        let mut others: Vec<&String> = context
            .approvers
            .iter()
            .filter(|a| **a != resource.originator)
            .collect();
        others.sort();
        others.dedup();
        let key = ContextKey {
            level: resource.classification,
            step_up: context.step_up,
            other_approvals: others.len(),
            lowering: context
                .new_classification
                .is_some_and(|n| n < resource.classification),
            reason_given: context
                .reason
                .as_ref()
                .is_some_and(|r| !r.trim().is_empty()),
            hour: context.hour.unwrap_or(12),
        };
        match key.slot().and_then(|i| self.contexts.get(i)) {
            Some(cell) => {
                if let Some(ctx) = cell.get() {
                    return Ok(ctx.clone());
                }
                let ctx = self.build_context(key)?;
                Ok(cell.get_or_init(|| ctx).clone())
            }
            None => self.build_context(key),
        }
    }

    fn build_context(&self, key: ContextKey) -> Result<CedarContext> {
        let h = self.handling.get(key.level);
        let handling = RestrictedExpression::new_record([
            (
                "export_plaintext".to_owned(),
                RestrictedExpression::new_bool(h.export_plaintext),
            ),
            ("print".to_owned(), RestrictedExpression::new_bool(h.print)),
            (
                "step_up".to_owned(),
                RestrictedExpression::new_bool(h.step_up),
            ),
            (
                "dual_control".to_owned(),
                RestrictedExpression::new_bool(h.dual_control),
            ),
            (
                "min_accreditation".to_owned(),
                RestrictedExpression::new_long(h.min_node_accreditation.rank()),
            ),
        ])
        .map_err(|e| req_err(&e))?;
        CedarContext::from_pairs([
            (
                "step_up".to_owned(),
                RestrictedExpression::new_bool(key.step_up),
            ),
            (
                "other_approvals".to_owned(),
                RestrictedExpression::new_long(
                    i64::try_from(key.other_approvals).unwrap_or(i64::MAX),
                ),
            ),
            (
                "lowering".to_owned(),
                RestrictedExpression::new_bool(key.lowering),
            ),
            (
                "reason_given".to_owned(),
                RestrictedExpression::new_bool(key.reason_given),
            ),
            (
                "hour".to_owned(),
                RestrictedExpression::new_long(i64::from(key.hour)),
            ),
            ("handling".to_owned(), handling),
        ])
        .map_err(|e| req_err(&e))
    }
}

/// The policy in force, replaced only by a policy that loads cleanly.
#[derive(Debug)]
pub struct PolicyStore {
    current: RwLock<Arc<Policy>>,
}

impl PolicyStore {
    pub fn load(dir: &Path) -> Result<Self> {
        Ok(PolicyStore {
            current: RwLock::new(Arc::new(Policy::load(dir)?)),
        })
    }

    pub fn current(&self) -> Arc<Policy> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Loads `dir`; on any error the policy in force stays and the error is returned.
    pub fn reload(&self, dir: &Path) -> Result<Arc<Policy>> {
        let fresh = Arc::new(Policy::load(dir)?);
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::clone(&fresh);
        Ok(fresh)
    }
}
