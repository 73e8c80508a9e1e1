//! Who sends a request, checked on every request (not only at the handshake): an official by
//! their session cookie, an application by its client certificate, a peer node by its node
//! certificate (mutual TLS both). One extractor, [`Actor`], for the three kinds; the API
//! answers a refusal with a problem document, the web pages take an official's session through
//! [`Actor::by_session`] and answer a refusal with the login page or an error page.

use std::net::SocketAddr;
use std::ops::Deref;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};

use crate::audit::Entry;
use crate::http::App;
use crate::http::problem::Problem;
use crate::officials::Caller;
use crate::officials::directory::Official;
use crate::officials::session::{self, Session};
use crate::{Error, Result};

pub use crate::officials::applications::Application;
/// A peer node, as the current network directory lists it.
pub type Peer = keymgr::directory::NodeEntry;

/// `__Host-`: the browser keeps it only if Secure, for this host alone (no Domain) and Path=/.
pub const SESSION_COOKIE: &str = "__Host-sandi_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The connection a request came over: the peer address and client certificate, if any.
#[derive(Clone, Debug)]
pub struct Conn {
    pub peer: SocketAddr,
    pub client_cert: Option<Vec<u8>>,
}

pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The session cookie carrying `token` for `max_age` seconds (0 ends it in the browser).
pub(crate) fn session_cookie(token: &str, max_age: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={max_age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// An authenticated sender of kind `K` ([`SignedIn`], [`Application`] or [`Peer`]) and the
/// address it came from; reads as its `K`.
#[derive(Debug)]
pub struct Actor<K> {
    pub who: K,
    pub client: Option<String>,
}

impl<K> Deref for Actor<K> {
    type Target = K;

    fn deref(&self) -> &K {
        &self.who
    }
}

/// How each kind of actor is authenticated from a request's head.
pub trait Kind: Sized {
    /// Who this is, for the request's line (`official:<nip>`, `application:<id>`,
    /// `node:<id>`).
    fn label(&self) -> String;

    fn authenticate(
        parts: &Parts,
        node: &App,
        client: Option<&str>,
    ) -> impl Future<Output = Result<Self>> + Send;
}

impl<K: Kind + Send> FromRequestParts<App> for Actor<K> {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        node: &App,
    ) -> std::result::Result<Self, Problem> {
        let client = client_of(parts);
        let who = K::authenticate(parts, node, client.as_deref()).await?;
        noted(parts, &who);
        Ok(Actor { who, client })
    }
}

/// Leaves who called where the request's line finds it.
fn noted(parts: &Parts, who: &impl Kind) {
    if let Some(c) = parts.extensions.get::<crate::http::request_log::Caller>() {
        c.set(who.label());
    }
}

fn client_of(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<Conn>()
        .map(|c| c.peer.ip().to_string())
}

/// An official with a valid session.
#[derive(Debug)]
pub struct SignedIn {
    pub official: Official,
    pub session: Session,
    pub token: String,
}

impl SignedIn {
    async fn by_cookie(parts: &Parts, node: &App) -> Result<Self> {
        let token = cookie(&parts.headers, SESSION_COOKIE)
            .ok_or_else(|| Error::Unauthenticated("log in first".into()))?;
        let (session, official) = session::lookup(
            &node.store,
            &token,
            node.config.session_minutes,
            node.config.session_absolute_hours,
        )
        .await?;
        Ok(SignedIn {
            official,
            session,
            token,
        })
    }
}

/// Over the API, a state-changing method also needs the session's CSRF token in its header.
impl Kind for SignedIn {
    fn label(&self) -> String {
        format!("official:{}", self.official.nip)
    }

    async fn authenticate(parts: &Parts, node: &App, _: Option<&str>) -> Result<Self> {
        let me = Self::by_cookie(parts, node).await?;
        if !matches!(parts.method, Method::GET | Method::HEAD) {
            let presented = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !session::csrf_ok(&me.session, presented) {
                return Err(Error::Forbidden {
                    alasan: "ditolak: token CSRF tidak ada atau salah".into(),
                    reason: "denied: the CSRF token is missing or wrong".into(),
                    policies: vec![],
                });
            }
        }
        Ok(me)
    }
}

impl Actor<SignedIn> {
    /// The session alone, for the web's pages: a form's CSRF token travels in the form, and
    /// the form's handler checks it.
    pub async fn by_session(parts: &Parts, node: &App) -> Result<Self> {
        let who = SignedIn::by_cookie(parts, node).await?;
        noted(parts, &who);
        Ok(Actor {
            who,
            client: client_of(parts),
        })
    }

    /// The official as every decision and log entry sees them.
    pub fn caller(&self) -> Caller {
        Caller {
            official: self.official.clone(),
            stepped_up: self.session.stepped_up(),
            client: self.client.clone(),
        }
    }
}

/// An application: a client certificate issued by the Network CA, valid now, not revoked,
/// registered and active.
impl Kind for Application {
    fn label(&self) -> String {
        format!("application:{}", self.id)
    }

    async fn authenticate(parts: &Parts, node: &App, _: Option<&str>) -> Result<Self> {
        let der = parts
            .extensions
            .get::<Conn>()
            .and_then(|c| c.client_cert.clone())
            .ok_or_else(|| {
                Error::Unauthenticated(
                    "this endpoint needs a client certificate (mutual TLS)".into(),
                )
            })?;
        let now = time::OffsetDateTime::now_utc();
        crate::crypto::signature::check_chain(&der, &node.network_trust, now)
            .map_err(|e| Error::Unauthenticated(format!("client certificate: {e}")))?;
        if let crate::crypto::revocation::Status::Revoked { at } =
            crate::node::revocation::require(node, &der, "application certificate")?
        {
            return Err(Error::Unauthenticated(format!(
                "the client certificate was revoked at {at}"
            )));
        }
        if let Err(why) = crate::network::issuance::require(node, &der).await? {
            return Err(Error::Unauthenticated(format!("client certificate: {why}")));
        }
        let app = crate::officials::applications::by_certificate(&node.store, &der)
            .await?
            .ok_or_else(|| {
                Error::Unauthenticated("no application is registered with this certificate".into())
            })?;
        if app.status != policies::Status::Active {
            return Err(Error::Unauthenticated(format!(
                "the application is {}",
                app.status.as_str()
            )));
        }
        Ok(app)
    }
}

/// A peer node on `/network/v1`: a client certificate from the Network CA, not revoked,
/// listed as active in the current network directory. A refusal is logged, once per
/// certificate and window and counted after (see `refusals`).
impl Kind for Peer {
    fn label(&self) -> String {
        format!("node:{}", self.id)
    }

    async fn authenticate(parts: &Parts, node: &App, client: Option<&str>) -> Result<Self> {
        let Some(der) = parts
            .extensions
            .get::<Conn>()
            .and_then(|c| c.client_cert.clone())
        else {
            return Err(Error::Unauthenticated(
                "the network API needs a node certificate (mutual TLS)".into(),
            ));
        };
        // Witnessing reads only signed checkpoints: it is not held back by the issuance log,
        // whose witnessed checkpoint it is how nodes come to agree on.
        let witnessing = parts.uri.path().starts_with("/network/v1/log/")
            || parts.uri.path() == "/network/v1/witnessed";
        let found = match crate::network::peer_of(node, &der).await? {
            Ok(peer) if !witnessing => crate::network::issuance::require(node, &der)
                .await?
                .map(|()| peer),
            other => other,
        };
        match found {
            Ok(peer) => Ok(peer),
            Err(why) => {
                let actor = format!(
                    "node-certificate:{}",
                    &crate::network::fingerprint(&der)[..16]
                );
                // Counted, not logged one by one: a refused node may try again at once.
                let entry = Entry::event(
                    actor.clone(),
                    "network_connect",
                    "deny",
                    why.clone(),
                    node.policy.current().version(),
                    client.map(str::to_owned),
                );
                crate::node::refusals::refused(node, &actor, "network_connect", entry).await?;
                Err(Error::Forbidden {
                    alasan: format!("ditolak: simpul tidak dikenal jaringan sandi ({why})"),
                    reason: format!("denied: not a node of the sandi network ({why})"),
                    policies: vec!["network-directory".into()],
                })
            }
        }
    }
}
