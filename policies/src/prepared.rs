//! Principals and documents made into Cedar entities, and the few made most recently, kept
//! so that deciding again about the same principal and document builds nothing anew.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, TryLockError};

use cedar_policy::{Entities, Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression};

use crate::error::{Error, Result};
use crate::model::{Action, Context, Decision, Document, Principal};

/// Tells prepared entities apart: a reuse key that never compares contents.
static SERIAL: AtomicU64 = AtomicU64::new(0);

/// A value with its Cedar entity, immutable once made.
#[derive(Debug)]
struct Made<T> {
    value: T,
    /// Unique to this preparation: equal serials mean the same entity.
    serial: u64,
    uid: EntityUid,
    entity: Entity,
}

/// A principal made ready for Cedar once, for deciding about many documents.
#[derive(Debug, Clone)]
pub struct PreparedPrincipal(Arc<Made<Principal>>);

impl PreparedPrincipal {
    pub fn principal(&self) -> &Principal {
        &self.0.value
    }

    pub(crate) fn uid(&self) -> &EntityUid {
        &self.0.uid
    }
}

/// A document made ready for Cedar once, for many decisions about it.
#[derive(Debug, Clone)]
pub struct PreparedDocument(Arc<Made<Document>>);

impl PreparedDocument {
    pub fn document(&self) -> &Document {
        &self.0.value
    }

    pub(crate) fn uid(&self) -> &EntityUid {
        &self.0.uid
    }
}

/// The entity types of sandi's schema.
#[derive(Debug)]
pub(crate) struct Types {
    official: EntityTypeName,
    application: EntityTypeName,
    node: EntityTypeName,
    document: EntityTypeName,
    pub(crate) action: EntityTypeName,
}

fn type_name(n: &str) -> Result<EntityTypeName> {
    n.parse()
        .map_err(|e: cedar_policy::ParseErrors| Error::Request(e.to_string()))
}

fn req_err(e: &dyn std::fmt::Display) -> Error {
    Error::Request(e.to_string())
}

fn string_set(v: &[String]) -> RestrictedExpression {
    RestrictedExpression::new_set(
        v.iter()
            .map(|s| RestrictedExpression::new_string(s.clone())),
    )
}

fn made<T>(
    value: &T,
    t: &EntityTypeName,
    id: &str,
    attrs: HashMap<String, RestrictedExpression>,
) -> Result<Made<T>>
where
    T: Clone,
{
    let uid = EntityUid::from_type_name_and_id(t.clone(), EntityId::new(id));
    let entity = Entity::new(uid.clone(), attrs, std::collections::HashSet::new())
        .map_err(|e| req_err(&e))?;
    Ok(Made {
        value: value.clone(),
        serial: SERIAL.fetch_add(1, Ordering::Relaxed),
        uid,
        entity,
    })
}

impl Types {
    pub(crate) fn new() -> Result<Self> {
        Ok(Types {
            official: type_name("Sandi::Official")?,
            application: type_name("Sandi::Application")?,
            node: type_name("Sandi::Node")?,
            document: type_name("Sandi::Document")?,
            action: type_name("Sandi::Action")?,
        })
    }

    /// The principal as a Cedar entity.
    pub(crate) fn principal(&self, principal: &Principal) -> Result<PreparedPrincipal> {
        let made = match principal {
            Principal::Official(p) | Principal::Application(p) => {
                let attrs = HashMap::from([
                    (
                        "nip".to_owned(),
                        RestrictedExpression::new_string(p.id.clone()),
                    ),
                    (
                        "agency".to_owned(),
                        RestrictedExpression::new_string(p.agency.clone()),
                    ),
                    (
                        "clearance".to_owned(),
                        RestrictedExpression::new_long(p.clearance.rank()),
                    ),
                    ("roles".to_owned(), string_set(&p.roles)),
                    (
                        "status".to_owned(),
                        RestrictedExpression::new_string(p.status.as_str().to_owned()),
                    ),
                    ("compartments".to_owned(), string_set(&p.compartments)),
                ]);
                let t = if matches!(principal, Principal::Official(_)) {
                    &self.official
                } else {
                    &self.application
                };
                made(principal, t, &p.id, attrs)?
            }
            Principal::Node {
                id,
                accreditation,
                status,
            } => {
                let attrs = HashMap::from([
                    (
                        "accreditation".to_owned(),
                        RestrictedExpression::new_long(accreditation.rank()),
                    ),
                    (
                        "status".to_owned(),
                        RestrictedExpression::new_string(status.as_str().to_owned()),
                    ),
                ]);
                made(principal, &self.node, id, attrs)?
            }
        };
        Ok(PreparedPrincipal(Arc::new(made)))
    }

    /// The document as a Cedar entity.
    pub(crate) fn document(&self, resource: &Document) -> Result<PreparedDocument> {
        let attrs = HashMap::from([
            (
                "classification".to_owned(),
                RestrictedExpression::new_long(resource.classification.rank()),
            ),
            (
                "originator".to_owned(),
                RestrictedExpression::new_string(resource.originator.clone()),
            ),
            ("recipients".to_owned(), string_set(&resource.recipients)),
            ("copies".to_owned(), string_set(&resource.copies)),
            ("grants".to_owned(), string_set(&resource.grants)),
            (
                "agency".to_owned(),
                RestrictedExpression::new_string(resource.agency.clone()),
            ),
            ("agencies".to_owned(), string_set(&resource.agencies)),
            (
                "compartments".to_owned(),
                string_set(&resource.compartments),
            ),
        ]);
        let made = made(resource, &self.document, &resource.id, attrs)?;
        Ok(PreparedDocument(Arc::new(made)))
    }
}

/// The last few items put, oldest replaced first.
#[derive(Debug)]
struct Recent<T> {
    items: Vec<T>,
    next: usize,
    cap: usize,
}

impl<T> Recent<T> {
    fn new(cap: usize) -> Self {
        Recent {
            items: Vec::with_capacity(cap),
            next: 0,
            cap,
        }
    }

    fn find(&self, f: impl Fn(&T) -> bool) -> Option<&T> {
        self.items.iter().find(|t| f(t))
    }

    fn put(&mut self, item: T) {
        if self.items.len() < self.cap {
            self.items.push(item);
        } else if let Some(slot) = self.items.get_mut(self.next) {
            *slot = item;
        }
        self.next = (self.next + 1) % self.cap;
    }
}

/// Runs `f` on the cache unless another thread holds it: a busy cache is skipped, never
/// waited for. A poisoned one is still consistent (every change is a single assignment).
fn with<T, R>(m: &Mutex<T>, f: impl FnOnce(&mut T) -> R) -> Option<R> {
    match m.try_lock() {
        Ok(mut g) => Some(f(&mut g)),
        Err(TryLockError::Poisoned(p)) => Some(f(&mut p.into_inner())),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// The principals, documents and entity sets made most recently. Principals and documents
/// are found by equality of every field, entity sets by the serials of what they hold, so a
/// reused entity is always the one a fresh preparation would make.
#[derive(Debug)]
pub(crate) struct Reuse {
    principals: Mutex<Recent<PreparedPrincipal>>,
    documents: Mutex<Recent<PreparedDocument>>,
    entities: Mutex<Recent<PairEntities>>,
    /// Whole decisions, by every input, for [`crate::Policy::decide_remembered`]: a decision
    /// is a pure function of the policy (which never changes once loaded) and what it is
    /// asked, so an equal question gets the answer a fresh evaluation would give.
    decisions: Mutex<Recent<Asked>>,
}

/// A question the policy answered, and its answer.
#[derive(Debug)]
struct Asked {
    principal: Principal,
    action: Action,
    document: Document,
    context: Context,
    decision: Decision,
}

/// An entity set, by the serials of the principal and document in it.
type PairEntities = ((u64, u64), Arc<Entities>);

impl Reuse {
    pub(crate) fn new() -> Self {
        Reuse {
            principals: Mutex::new(Recent::new(8)),
            documents: Mutex::new(Recent::new(16)),
            entities: Mutex::new(Recent::new(16)),
            decisions: Mutex::new(Recent::new(32)),
        }
    }

    /// The answer already given to exactly this question, if it is among the recent ones.
    pub(crate) fn decided(
        &self,
        principal: &Principal,
        action: Action,
        document: &Document,
        context: &Context,
    ) -> Option<Decision> {
        with(&self.decisions, |r| {
            r.find(|a| {
                a.action == action
                    && a.principal == *principal
                    && a.document == *document
                    && a.context == *context
            })
            .map(|a| a.decision.clone())
        })
        .flatten()
    }

    /// Keeps an answer for the same question asked again.
    pub(crate) fn remember(
        &self,
        (principal, action, document, context): (&Principal, Action, &Document, &Context),
        decision: &Decision,
    ) {
        with(&self.decisions, |r| {
            r.put(Asked {
                principal: principal.clone(),
                action,
                document: document.clone(),
                context: context.clone(),
                decision: decision.clone(),
            });
        });
    }

    pub(crate) fn principal(
        &self,
        types: &Types,
        principal: &Principal,
    ) -> Result<PreparedPrincipal> {
        let found = with(&self.principals, |r| {
            r.find(|p| p.principal() == principal).cloned()
        });
        if let Some(Some(p)) = found {
            return Ok(p);
        }
        let p = types.principal(principal)?;
        with(&self.principals, |r| r.put(p.clone()));
        Ok(p)
    }

    pub(crate) fn document(&self, types: &Types, document: &Document) -> Result<PreparedDocument> {
        let found = with(&self.documents, |r| {
            r.find(|d| d.document() == document).cloned()
        });
        if let Some(Some(d)) = found {
            return Ok(d);
        }
        let d = types.document(document)?;
        with(&self.documents, |r| r.put(d.clone()));
        Ok(d)
    }

    /// The entity set of one principal and one document.
    pub(crate) fn entities(
        &self,
        principal: &PreparedPrincipal,
        document: &PreparedDocument,
    ) -> Result<Arc<Entities>> {
        let key = (principal.0.serial, document.0.serial);
        if let Some(Some(e)) = with(&self.entities, |r| {
            r.find(|(k, _)| *k == key).map(|(_, e)| Arc::clone(e))
        }) {
            return Ok(e);
        }
        let e = Arc::new(
            Entities::from_entities(
                [principal.0.entity.clone(), document.0.entity.clone()],
                None,
            )
            .map_err(|e| req_err(&e))?,
        );
        with(&self.entities, |r| r.put((key, Arc::clone(&e))));
        Ok(e)
    }
}
