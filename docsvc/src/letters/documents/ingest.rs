//! Creating a letter: the metadata checked and allowed by the policy, the parts encrypted
//! and stored as they stream in, then the signed manifest, the addressees and the log entries
//! committed in one transaction; and the sweep of uploads that never finished.

use futures_util::{Stream, StreamExt};
use policies::{Action, Context, Decision, Document, Level, Principal};
use time::OffsetDateTime;

use super::{
    AWAITING, Created, DUAL_CONTROL, NewLetter, SENT, entry, forbidden, policy_document, sign_as,
    sign_pdf, signature_allowed, text_field, wrap_set,
};
use crate::crypto::envelope::{self, MANIFEST_FORMAT, Manifest, Part, Reference};
use crate::crypto::signature::Kind;
use crate::letters::register;
use crate::letters::render::{self, Naskah};
use crate::metrics::Metrics;
use crate::node::Node;
use crate::node::log_alone;
use crate::officials::Caller;
use crate::officials::directory::{self, Official};
use crate::store::content::LetterWriter;
use crate::store::{documents as rows, outbox, recipients, verifications};
use crate::{Error, Result, now_rfc3339};

/// A letter being created: metadata checked and allowed, parts being encrypted.
pub struct Ingest<'a> {
    node: &'a Node,
    caller: Caller,
    id: String,
    letter: NewLetter,
    dated: String,
    recipients: Vec<Official>,
    copies: Vec<Official>,
    /// Addressees on other nodes (`NIP@node`), with keys proved by their bindings.
    remote: Vec<crate::network::RemoteOfficial>,
    age_recipients: Vec<age::x25519::Recipient>,
    /// The key ids behind `age_recipients`, stored for `docsvc rewrap`.
    wrapped_to: Vec<String>,
    parts: Vec<Part>,
    decisions: Vec<(&'static str, Decision)>,
    /// Dual control: the policy holds sending until a second official approves.
    awaiting_approval: bool,
    /// The content store's writer, from the first part on.
    writer: Option<LetterWriter>,
    /// The turn to encrypt, taken before the first part's first write and kept to the end:
    /// a later part never waits for one while the writer holds a transaction.
    turn: Option<envelope::EncryptionTurn>,
    /// The SHA-256 (hex) of the token in the rendered letter's QR code.
    verification: Option<String>,
    /// The number taken from the agency's register, used when the letter commits.
    reserved: Option<register::Reserved>,
    refers: Option<Reference>,
    on_behalf: Option<envelope::OnBehalf>,
}

impl std::fmt::Debug for Ingest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

type Addressees = (
    Vec<Official>,
    Vec<Official>,
    Vec<crate::network::RemoteOfficial>,
);

/// [`addressees`], with a refusal by another node (it may not hold the level) logged here too.
async fn addressees_logged(node: &Node, caller: &Caller, letter: &NewLetter) -> Result<Addressees> {
    match addressees(node, letter).await {
        Ok(a) => Ok(a),
        Err(Error::Forbidden {
            alasan,
            reason,
            policies,
        }) => {
            // Another node refused to hold a letter of this level: logged here as there.
            let d = Decision {
                allowed: false,
                policies,
                alasan,
                reason,
                policy_version: node.policy.current().version().to_owned(),
            };
            Metrics::inc(&node.metrics.denials);
            log_alone(
                node,
                &entry(caller, "send", None, Some(letter.classification), &d),
            )
            .await?;
            Err(forbidden(&d))
        }
        Err(e) => Err(e),
    }
}

/// The recipients and copy-holders, each an active official of this node cleared for the
/// letter's level.
async fn addressees(
    node: &Node,
    letter: &NewLetter,
) -> Result<(
    Vec<Official>,
    Vec<Official>,
    Vec<crate::network::RemoteOfficial>,
)> {
    let mut recipients = Vec::new();
    let mut copies = Vec::new();
    let mut remote = Vec::new();
    for (list, out) in [
        (&letter.recipients, &mut recipients),
        (&letter.copies, &mut copies),
    ] {
        for nip in list {
            if let Some((nip, peer)) = crate::network::remote_address(nip) {
                if peer == node.config.node_id {
                    return Err(Error::invalid(
                        "recipients",
                        format!("{nip}@{peer}: officials of this node are addressed by NIP alone"),
                    ));
                }
                let r =
                    crate::network::remote_official(node, peer, nip, letter.classification).await?;
                if r.card.clearance < letter.classification {
                    return Err(Error::invalid(
                        "recipients",
                        format!(
                            "{} ({nip}@{peer}) has clearance {} and cannot receive a {} letter",
                            r.card.name,
                            r.card.clearance.as_str(),
                            letter.classification.as_str()
                        ),
                    ));
                }
                remote.push(r);
                continue;
            }
            let o = directory::get(&node.store, nip).await?.ok_or_else(|| {
                Error::invalid(
                    "recipients",
                    format!("no official with NIP {nip:?} on this node"),
                )
            })?;
            if o.status != policies::Status::Active {
                return Err(Error::invalid(
                    "recipients",
                    format!("official {nip} is not active"),
                ));
            }
            // Addressing someone who could never open it helps nobody and leaks the
            // subject line: refuse before anything is stored.
            if o.clearance < letter.classification {
                return Err(Error::invalid(
                    "recipients",
                    format!(
                        "{} ({nip}) has clearance {} and cannot receive a {} letter",
                        o.name,
                        o.clearance.as_str(),
                        letter.classification.as_str()
                    ),
                ));
            }
            out.push(o);
        }
    }
    Ok((recipients, copies, remote))
}

impl<'a> Ingest<'a> {
    /// Checks the metadata and asks the policy whether this official may create and sign
    /// this letter; a refusal is logged and returned.
    pub async fn begin(node: &'a Node, caller: Caller, letter: NewLetter) -> Result<Self> {
        Self::begin_as(node, caller, letter, uuid::Uuid::new_v4().to_string()).await
    }

    /// As [`Ingest::begin`], for a letter whose id is chosen beforehand (a draft records it
    /// before the letter is made, so that a retry finds it).
    pub async fn begin_as(
        node: &'a Node,
        caller: Caller,
        letter: NewLetter,
        id: String,
    ) -> Result<Self> {
        if node.is_sealed() {
            return Err(Error::Sealed);
        }
        // No nomor: the agency's register gives one at the end of `begin`.
        if !letter.nomor.trim().is_empty() {
            text_field("nomor", &letter.nomor, 100)?;
        }
        text_field("perihal", &letter.perihal, 500)?;
        addressee_count(&letter)?;
        let dated = letter_date(&letter)?;
        let refers =
            crate::letters::thread::reference(node, &caller, letter.refers.as_ref()).await?;
        let (recipients, copies, remote) = addressees_logged(node, &caller, &letter).await?;
        let (head, level) = (letter.on_behalf.as_deref(), letter.classification);
        let on_behalf = crate::letters::mandate::for_letter(node, &caller, head, level).await?;
        let mut ingest = Ingest {
            node,
            caller,
            id,
            dated,
            recipients,
            copies,
            remote,
            age_recipients: Vec::new(),
            wrapped_to: Vec::new(),
            parts: Vec::new(),
            decisions: Vec::new(),
            awaiting_approval: false,
            writer: None,
            turn: None,
            verification: None,
            reserved: None,
            refers,
            on_behalf,
            letter,
        };
        let draft = ingest.manifest(String::new());
        let doc = policy_document(&draft, ingest.agencies(), &node.config.node_id);
        let policy = node.policy.current();
        let principal = Principal::Official(ingest.caller.official.person());
        let ctx = Context {
            step_up: ingest.caller.stepped_up,
            ..Context::default()
        };
        for (name, action) in [("create", Action::Create), ("sign", Action::Sign)] {
            let d = policy.decide(&principal, action, &doc, &ctx)?;
            if !d.allowed {
                Metrics::inc(&node.metrics.denials);
                log_alone(
                    node,
                    &entry(
                        &ingest.caller,
                        name,
                        Some(&ingest.id),
                        Some(draft.classification),
                        &d,
                    ),
                )
                .await?;
                return Err(forbidden(&d));
            }
            ingest.decisions.push((name, d));
        }
        // Sending: refused only for want of a second approval means the letter is stored and
        // waits; refused for anything else means it is not created at all.
        let send = policy.decide(&principal, Action::Send, &doc, &ctx)?;
        if !send.allowed {
            if send.policies.iter().all(|p| p == DUAL_CONTROL) && !send.policies.is_empty() {
                ingest.awaiting_approval = true;
            } else {
                Metrics::inc(&node.metrics.denials);
                log_alone(
                    node,
                    &entry(
                        &ingest.caller,
                        "send",
                        Some(&ingest.id),
                        Some(draft.classification),
                        &send,
                    ),
                )
                .await?;
                return Err(forbidden(&send));
            }
        }
        ingest.decisions.push(("send", send));
        ingest.key_strong_enough(draft.classification).await?;
        ingest.remote_nodes_may_receive(&draft, &doc).await?;
        ingest.wrap(draft.classification)?;
        ingest.take_number().await?;
        Ok(ingest)
    }

    /// The nomor: as given, or reserved from the agency's register (last, once the letter
    /// is allowed, so that refusals take no number).
    async fn take_number(&mut self) -> Result<()> {
        let (nomor, reserved) = register::number(
            self.node,
            &self.caller.official,
            &self.letter.nomor,
            self.letter.kode.as_deref(),
        )
        .await?;
        self.letter.nomor = nomor;
        self.reserved = reserved;
        Ok(())
    }

    /// Before the upload: a key weaker than the level's handling asks signs nothing.
    async fn key_strong_enough(&self, level: Level) -> Result<()> {
        signature_allowed(self.node, &self.caller, "sign", Some(&self.id), level).await
    }

    /// Each destination node must be accredited for the letter (policy action `receive`); a
    /// refusal is logged and nothing is stored.
    async fn remote_nodes_may_receive(&mut self, draft: &Manifest, doc: &Document) -> Result<()> {
        let mut nodes: Vec<&keymgr::directory::NodeEntry> =
            self.remote.iter().map(|r| &r.node).collect();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        nodes.dedup_by(|a, b| a.id == b.id);
        let policy = self.node.policy.current();
        for n in nodes {
            let accreditation: Level = n.accreditation.parse().map_err(|e: String| {
                Error::invalid("network directory", format!("node {}: {e}", n.id))
            })?;
            let d = policy.decide(
                &Principal::Node {
                    id: n.id.clone(),
                    accreditation,
                    status: policies::Status::Active,
                },
                Action::Receive,
                doc,
                &Context::default(),
            )?;
            if !d.allowed {
                Metrics::inc(&self.node.metrics.denials);
                let mut e = entry(
                    &self.caller,
                    "send",
                    Some(&self.id),
                    Some(draft.classification),
                    &d,
                );
                e.reason = format!("to node {}: {}", n.id, d.reason);
                log_alone(self.node, &e).await?;
                return Err(forbidden(&d));
            }
        }
        Ok(())
    }

    /// Each recipient, each copy-holder, the originator and the level's archive key.
    fn wrap(&mut self, level: Level) -> Result<()> {
        let everyone: Vec<&Official> = self
            .recipients
            .iter()
            .chain(&self.copies)
            .chain(std::iter::once(&self.caller.official))
            .collect();
        (self.wrapped_to, self.age_recipients) = wrap_set(self.node, &everyone, level)?;
        // Officials of other nodes: their keys as their bindings prove them, recorded by
        // value so that a rewrap here keeps them.
        for r in &self.remote {
            let key = r.recipient.to_string();
            if !self.wrapped_to.contains(&key) {
                self.wrapped_to.push(key);
                self.age_recipients.push(r.recipient.clone());
            }
        }
        Ok(())
    }

    fn agencies(&self) -> Vec<String> {
        let mut a: Vec<String> = self
            .recipients
            .iter()
            .chain(&self.copies)
            .map(|o| o.agency.clone())
            .chain(self.remote.iter().map(|r| r.card.agency.clone()))
            .chain(std::iter::once(self.caller.official.agency.clone()))
            .collect();
        a.sort();
        a.dedup();
        a
    }

    fn manifest(&self, created_at: String) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT.into(),
            id: self.id.clone(),
            node: self.node.config.node_id.clone(),
            nomor: self.letter.nomor.trim().to_owned(),
            perihal: self.letter.perihal.trim().to_owned(),
            classification: self.letter.classification,
            urgency: self.letter.urgency,
            originator: self.caller.official.nip.clone(),
            originator_name: self.caller.official.name.clone(),
            agency: self.caller.official.agency.clone(),
            recipients: self.letter.recipients.clone(),
            copies: self.letter.copies.clone(),
            dated: self.dated.clone(),
            created_at,
            parts: self.parts.clone(),
            policy_version: self.node.policy.current().version().to_owned(),
            refers: self.refers.clone(),
            on_behalf: self.on_behalf.clone(),
            reclassified: None,
        }
    }

    /// Encrypts and stores one part (the body first, then attachments) from a stream.
    pub async fn add_part<S, E>(&mut self, name: &str, media_type: &str, mut body: S) -> Result<()>
    where
        S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        text_field("part name", name, 200)?;
        text_field("media type", media_type, 200)?;
        if self.parts.len() >= 100 {
            return Err(Error::invalid("attachments", "at most 100 attachments"));
        }
        let part = i64::try_from(self.parts.len()).map_err(|_| Error::OutOfRange {
            what: "a part index",
        })?;
        if self.turn.is_none() {
            self.turn = Some(envelope::EncryptionTurn::take().await?);
        }
        let Some(turn) = self.turn.as_ref() else {
            return Err(Error::Integrity("a part with no turn to encrypt".into()));
        };
        if self.writer.is_none() {
            // A small letter stays in memory until its transaction; a larger one is marked as
            // an upload before its first byte is written, so a crash leaves nothing unswept.
            self.writer = Some(LetterWriter::start(
                &self.node.store,
                &self.id,
                &now_rfc3339(),
            ));
        }
        let Some(writer) = self.writer.as_mut() else {
            return Err(Error::Integrity("a part with no writer".into()));
        };
        let (plain_tx, mut chunk_rx, task) = envelope::encrypt_part(turn, &self.age_recipients)?;
        // Hashing (past the first mebibyte) and encrypting on blocking threads of their own,
        // writing on the content store's: three stages that run side by side.
        let feed = async move {
            let mut hash = envelope::PartHash::default();
            while let Some(block) = body.next().await {
                match block {
                    Ok(b) => {
                        if let Err(e) = hash.update(b.clone()).await {
                            // Ended as an error, so the part gets no final chunk.
                            let _ = plain_tx
                                .send(Err(Error::Task {
                                    what: "hashing",
                                    detail: "the part's hash failed".into(),
                                }))
                                .await;
                            return Err(e);
                        }
                        if plain_tx.send(Ok(b)).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let e = format!("reading the upload: {e}");
                        let _ = plain_tx
                            .send(Err(Error::invalid("upload", e.clone())))
                            .await;
                        return Err(Error::invalid("upload", e));
                    }
                }
            }
            hash.finish().await
        };
        let sink = async move {
            if let Some(first) = chunk_rx.recv().await {
                let header_len = envelope::header_len(&first)?;
                writer.begin_part(part, first, header_len).await?;
            }
            while let Some(chunk) = chunk_rx.recv().await {
                writer.write(chunk).await?;
            }
            Ok::<(), Error>(())
        };
        let (feed_result, sink_result) = tokio::join!(feed, sink);
        let sealed = task.await.map_err(|e| Error::Task {
            what: "encryption",
            detail: e.to_string(),
        })?;
        let (sha256, size) = feed_result?;
        sink_result?;
        let sealed = sealed?;
        self.parts.push(Part {
            name: name.to_owned(),
            media_type: media_type.to_owned(),
            size,
            sha256,
            payload_nonce: sealed.payload_nonce,
        });
        Ok(())
    }

    /// The letter rendered by the node from `naskah` (tata naskah dinas), PAdES-signed by the
    /// official with a QR code to the node's verification page, stored as the first part.
    pub async fn add_rendered(&mut self, naskah: &Naskah) -> Result<()> {
        naskah.check()?;
        self.add_signed_pdf("surat.pdf", naskah, None).await
    }

    /// A finished letter uploaded as PDF (`name`): every page marked, a signature sheet added
    /// with the stamp and QR code, PAdES-signed like a rendered letter, stored as the first
    /// part.
    pub async fn add_uploaded(&mut self, name: &str, pdf: &[u8]) -> Result<()> {
        let naskah = Naskah::default();
        self.add_signed_pdf(name, &naskah, Some(pdf)).await
    }

    async fn add_signed_pdf(
        &mut self,
        name: &str,
        naskah: &Naskah,
        upload: Option<&[u8]>,
    ) -> Result<()> {
        if !self.parts.is_empty() {
            return Err(Error::invalid(
                "surat",
                "the signed letter is the first part, before any attachment",
            ));
        }
        let node = self.node;
        let level = self.letter.classification;
        let policy = node.policy.current();
        let handling = policy.handling().get(level);
        let token = verification_token()?;
        let base = node
            .config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("https://{}", node.config.listen));
        let url = format!("{}/verifikasi/{token}", base.trim_end_matches('/'));
        let dated = time::Date::parse(
            &self.dated,
            &time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map_err(|_| Error::invalid("dated", "the letter's date must be YYYY-MM-DD"))?;
        let signer = &self.caller.official;
        let position = crate::letters::mandate::position(self.on_behalf.as_ref(), &signer.position);
        let (ca_certs, crls) = super::validation_data(node);
        let surat = render::Surat {
            organisation: &node.config.organisation,
            agency: &signer.agency,
            kop: node.config.kop.get(&signer.agency),
            nomor: &self.letter.nomor,
            perihal: &self.letter.perihal,
            marking: &handling.label_id,
            colour: &handling.colour,
            kepada: self.names(&self.letter.recipients, &self.recipients),
            tembusan: self.names(&self.letter.copies, &self.copies),
            naskah,
            dated,
            signer_name: &signer.name,
            signer_position: &position,
            signer_nip: &signer.nip,
            verify_url: &url,
            signed_at: OffsetDateTime::now_utc(),
            ca_certs,
            crls,
            approval: self.awaiting_approval,
        };
        let prepared = match upload {
            None => render::render(&surat)?,
            // Reading and writing an upload of up to 16 MiB is CPU work: off the async workers
            // where the runtime allows it.
            Some(pdf) => match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
                Ok(tokio::runtime::RuntimeFlavor::MultiThread) => {
                    tokio::task::block_in_place(|| render::upload::prepare(pdf, &surat))?
                }
                _ => render::upload::prepare(pdf, &surat)?,
            },
        };
        let pdf = sign_pdf(node, signer, level, prepared, None).await?;
        let body = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(
            bytes::Bytes::from(pdf),
        )]);
        self.add_part(name, "application/pdf", body).await?;
        self.verification = Some(hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            token.as_bytes(),
        )));
        Ok(())
    }

    /// How the letter names each of `list`: `name, position` for this node's officials
    /// (`local`), `name (NIP@node)` for another node's.
    fn names(&self, list: &[String], local: &[Official]) -> Vec<String> {
        list.iter()
            .map(|a| {
                if let Some(o) = local.iter().find(|o| &o.nip == a) {
                    return format!("{}, {}", o.name, o.position);
                }
                self.remote
                    .iter()
                    .find(|r| format!("{}@{}", r.card.nip, r.node.id) == *a)
                    .map_or_else(|| a.clone(), |r| format!("{} ({a})", r.card.name))
            })
            .collect()
    }

    /// Removes what was stored for an ingest that will not finish.
    pub async fn abort(self) {
        if let Some(w) = self.writer {
            w.abort().await;
        }
        if let Some(r) = &self.reserved {
            register::void(self.node, r).await;
        }
    }

    /// Signs the manifest with the official's key and commits the letter, its addressees and
    /// its log entries in one transaction.
    pub async fn finish(mut self) -> Result<Created> {
        let result = self.commit().await;
        if result.is_err() {
            self.abort().await;
        }
        result
    }

    async fn commit(&mut self) -> Result<Created> {
        if self.parts.is_empty() {
            return Err(Error::invalid("body", "a letter needs a body"));
        }
        let node = self.node;
        let manifest = self.manifest(now_rfc3339());
        let bytes = manifest.canonical()?;
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| Error::invalid("body", "a letter needs a body"))?;
        // The content made durable while the manifest is signed, before the transaction that
        // names it.
        let (cms, sealed) = tokio::join!(
            sign_as(
                node,
                &self.caller.official,
                Kind::Manifest,
                manifest.classification,
                &bytes,
            ),
            writer.seal()
        );
        let cms = cms?;
        sealed?;

        let wrapped_to = serde_json::to_string(&self.wrapped_to)
            .map_err(|e| Error::encode("the wrapped-to key list", e))?;

        let mut tx = node.store.begin().await?;
        rows::insert_document(
            &mut tx,
            &rows::NewDocument {
                id: &manifest.id,
                nomor: &manifest.nomor,
                perihal: &manifest.perihal,
                classification: manifest.classification.as_str(),
                urgency: manifest.urgency.as_str(),
                originator: &manifest.originator,
                agency: &manifest.agency,
                manifest: &bytes,
                signature: &cms,
                created_at: &manifest.created_at,
                policy_version: &manifest.policy_version,
                wrapped_to: &wrapped_to,
                refers_to: manifest.refers.as_ref().map(|r| r.id.as_str()),
            },
            if self.awaiting_approval {
                AWAITING
            } else {
                SENT
            },
        )
        .await?;
        recipients::insert_originator(&mut tx, &manifest.id, &manifest.originator).await?;
        if let Some(token) = &self.verification {
            verifications::insert(&mut tx, token, &manifest.id, &manifest.created_at).await?;
        }
        if let Some(r) = &self.reserved {
            register::use_number(node, &mut tx, r, &manifest.id).await?;
        }
        if !self.awaiting_approval {
            deliver(&mut tx, &manifest).await?;
            let agencies = self.recipients.iter().chain(&self.copies);
            let agencies = agencies.map(|o| o.agency.as_str());
            register::enter_agenda(&mut tx, node, agencies, &manifest).await?;
        }
        let writer = self
            .writer
            .as_ref()
            .ok_or_else(|| Error::invalid("body", "a letter needs a body"))?;
        writer.record(&mut tx).await?;
        let mut last = None;
        for (name, d) in &self.decisions {
            last = Some(
                node.audit
                    .append(
                        &mut tx,
                        &entry(
                            &self.caller,
                            name,
                            Some(&manifest.id),
                            Some(manifest.classification),
                            d,
                        ),
                    )
                    .await?,
            );
        }
        match last {
            Some(head) => node.audit.commit(tx, &head).await?,
            None => tx.commit().await?,
        }
        Metrics::inc(&node.metrics.documents_created);
        Ok(Created {
            state: if self.awaiting_approval {
                AWAITING
            } else {
                SENT
            }
            .to_owned(),
            manifest,
        })
    }
}

/// At least one recipient, and at most 500 recipients and copy-holders together.
fn addressee_count(letter: &NewLetter) -> Result<()> {
    if letter.recipients.is_empty() {
        return Err(Error::invalid(
            "recipients",
            "a letter needs at least one recipient",
        ));
    }
    if letter.recipients.len() + letter.copies.len() > 500 {
        return Err(Error::invalid(
            "recipients",
            "at most 500 recipients and copy-holders",
        ));
    }
    Ok(())
}

/// The letter's date, YYYY-MM-DD: as given, or today (WIB).
fn letter_date(letter: &NewLetter) -> Result<String> {
    match &letter.dated {
        Some(d) => {
            time::Date::parse(
                d,
                &time::macros::format_description!("[year]-[month]-[day]"),
            )
            .map_err(|_| Error::invalid("dated", format!("dated {d:?} must be YYYY-MM-DD")))?;
            Ok(d.clone())
        }
        // The day in WIB, as the registers count it.
        None => Ok(crate::node::numbering::Day::today().0.to_string()),
    }
}

/// A fresh token for a letter's QR code: 32 random bytes, base64url.
fn verification_token() -> Result<String> {
    let mut token = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut token)
        .map_err(|_| Error::NoRandomness)?;
    Ok(base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        token,
    ))
}

/// Puts a letter in its recipients' and copy-holders' inboxes, and queues it for each other
/// node it is addressed to.
pub(super) async fn deliver(tx: &mut crate::store::Tx, manifest: &Manifest) -> Result<()> {
    let mut addressed: Vec<(&str, &str)> = manifest
        .recipients
        .iter()
        .map(|n| (n.as_str(), "recipient"))
        .chain(manifest.copies.iter().map(|n| (n.as_str(), "copy")))
        .collect();
    addressed.sort_unstable();
    addressed.dedup();
    let mut nodes: Vec<&str> = addressed
        .iter()
        .filter_map(|(a, _)| crate::network::remote_address(a).map(|(_, n)| n))
        .collect();
    nodes.sort_unstable();
    nodes.dedup();
    let now = now_rfc3339();
    for n in nodes {
        outbox::queue(tx, &manifest.id, n, &now).await?;
    }
    addressed.retain(|(a, _)| crate::network::remote_address(a).is_none());
    for (nip, role) in addressed {
        recipients::insert_addressee(tx, &manifest.id, nip, role).await?;
    }
    Ok(())
}
