//! Backup and restore of a whole node: a consistent snapshot of the database taken while the
//! node serves (one read transaction: SQLite's WAL snapshot, PostgreSQL's repeatable read),
//! with the data directory's files (the node's keystore as it is, sealed; never the TLS
//! keystore, which opens without the custodians: a restore makes a new TLS key; keys.json, certificates,
//! CRLs, policy, directory, configuration, published log heads). The file is age-encrypted to
//! the backup custodians' recipients and signed by the node's key, so that it can be checked
//! before anyone decrypts it. Restoring works onto an empty data directory and an empty
//! database of either backend (SQLite → PostgreSQL included); the restored node starts sealed.
//!
//! File layout: `SANDI-BACKUP-1\n`, the age ciphertext, the seal (JSON), the seal's length
//! (8 bytes, big-endian). The ciphertext holds JSON lines: a header with the schema, the files,
//! the rows of every table, and an end record with the counts.

use std::collections::BTreeMap;
use std::io::{BufRead as _, Read, Seek as _, SeekFrom, Write};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::node::{Config, Layout, NodeKeys, read_pem_certs};
use crate::ops::backup_content::{ContentRestore, content_extent, copy_content};
use crate::ops::backup_files::{files_of, inside};
use crate::ops::backup_schema::{Kind, Table, schema};
use crate::ops::backup_seal::SealTrust;
use crate::store::Store;
use crate::store::backup::Value;
use crate::{Error, Result, now_rfc3339};

pub const MAGIC: &[u8] = b"SANDI-BACKUP-1\n";
const FORMAT: &str = "sandi-backup-1";

/// What signs a backup: the node, with its TLS key (open without the custodians, so a sealed
/// node can be backed up too), over the SHA-256 of the ciphertext.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seal {
    pub format: String,
    pub node_id: String,
    pub created_at: String,
    /// SHA-256 (hex) of the age ciphertext.
    pub sha256: String,
    /// ECDSA P-256 with SHA-256 over the 32 digest bytes, base64 (DER).
    pub signature: String,
    /// The node certificate and the Network CA (base64 DER).
    pub chain: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case", deny_unknown_fields)]
enum Record {
    Header {
        format: String,
        node_id: String,
        created_at: String,
        backend: String,
        tables: Vec<Table>,
    },
    File {
        path: String,
        data: String,
    },
    /// A piece of a file of the content store (`content/`), as the rows of the snapshot name
    /// it: written at `offset` of file `file` on restore.
    Content {
        file: String,
        offset: u64,
        data: String,
    },
    Row {
        table: String,
        values: Vec<serde_json::Value>,
    },
    End {
        files: u64,
        rows: BTreeMap<String, u64>,
        /// Bytes of the content store's files.
        #[serde(default)]
        content: u64,
    },
}

/// What a backup or restore did.
#[derive(Debug, Default)]
pub struct Summary {
    pub files: u64,
    /// Bytes of letters' content from the content store's files.
    pub content: u64,
    pub rows: BTreeMap<String, u64>,
    pub bytes: u64,
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |e| Error::io(what, path, e)
}

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hash: ring::digest::Context,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn line(w: &mut impl Write, r: &Record) -> Result<()> {
    serde_json::to_writer(&mut *w, r).map_err(|e| Error::encode("a backup record", e))?;
    w.write_all(b"\n")
        .map_err(|e| Error::io("writing", "the backup", e))
}

/// A column's value as a backup line holds it: text and integers as JSON, blobs as
/// `{"b": base64}`, NULL as null.
fn encode(values: Vec<Value>) -> Vec<serde_json::Value> {
    values
        .into_iter()
        .map(|v| match v {
            Value::Text(t) => t.map_or(serde_json::Value::Null, serde_json::Value::from),
            Value::Int(n) => n.map_or(serde_json::Value::Null, serde_json::Value::from),
            Value::Blob(b) => b.map_or(
                serde_json::Value::Null,
                |b| serde_json::json!({ "b": B64.encode(b) }),
            ),
        })
        .collect()
}

/// Every table's rows, in one read transaction: the rows are one moment of the database. Also
/// returns the content store's files those rows name, each with how much of it they use.
async fn dump(
    store: &Store,
    tables: &[Table],
    w: &mut impl Write,
) -> Result<(BTreeMap<String, u64>, BTreeMap<String, u64>)> {
    let mut content = BTreeMap::new();
    let counts = crate::store::backup::dump(store, tables, &mut |t, values| {
        if t.name == "content_files" {
            let (file, end) = content_extent(t, &values)?;
            let e = content.entry(file).or_insert(0);
            *e = (*e).max(end);
        }
        line(
            w,
            &Record::Row {
                table: t.name.clone(),
                values: encode(values),
            },
        )
    })
    .await?;
    Ok((counts, content))
}

/// Writes a backup of the node in `layout` to `out` (which must not exist), encrypted to
/// `recipients` and signed by the node. Safe while the node serves.
pub async fn backup(
    layout: &Layout,
    out: &Path,
    recipients: &[age::x25519::Recipient],
    progress: &mut dyn FnMut(&str),
) -> Result<Summary> {
    if recipients.is_empty() {
        return Err(Error::invalid(
            "backup recipients",
            "a backup needs at least one recipient (--recipient age1…)",
        ));
    }
    if out.exists() {
        return Err(Error::invalid(
            "backup file",
            format!("{} exists already", out.display()),
        ));
    }
    let result = write_backup(layout, out, recipients, progress).await;
    if result.is_err() {
        // Nothing half-written is left beside the backups.
        let _ = std::fs::remove_file(out.with_extension("partial"));
    }
    result
}

async fn write_backup(
    layout: &Layout,
    out: &Path,
    recipients: &[age::x25519::Recipient],
    progress: &mut dyn FnMut(&str),
) -> Result<Summary> {
    let config = Config::load(layout)?;
    let store = Store::open(&config.database_url(layout)).await?;
    let tables = schema().await?;
    let partial = out.with_extension("partial");
    let mut file = std::fs::File::create(&partial).map_err(io("creating", &partial))?;
    file.write_all(MAGIC).map_err(io("writing", &partial))?;
    let sink = Hashing {
        inner: std::io::BufWriter::with_capacity(1 << 20, file),
        hash: ring::digest::Context::new(&ring::digest::SHA256),
        bytes: 0,
    };
    let enc = age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
        .map_err(|e| Error::age("encrypting the backup", e))?;
    let mut w = enc
        .wrap_output(sink)
        .map_err(|e| Error::age("encrypting the backup", e))?;
    let created_at = now_rfc3339();
    line(
        &mut w,
        &Record::Header {
            format: FORMAT.into(),
            node_id: config.node_id.clone(),
            created_at: created_at.clone(),
            backend: format!("{:?}", store.backend()).to_lowercase(),
            tables: tables.clone(),
        },
    )?;
    let (rows, content) = dump(&store, &tables, &mut w).await?;
    let mut summary = Summary {
        rows,
        ..Summary::default()
    };
    // The content files after the snapshot: a file is complete and durable before any row
    // names it, and never changes after.
    let content_dir = layout.dir().join("content");
    for (name, end) in &content {
        summary.content +=
            copy_content(&content_dir, name, *end, &mut w, |file, offset, data, w| {
                line(
                    w,
                    &Record::Content {
                        file: file.to_owned(),
                        offset,
                        data: B64.encode(data),
                    },
                )
            })?;
    }
    progress(&format!(
        "database: {} rows in {} tables",
        summary.rows.values().sum::<u64>(),
        tables.len()
    ));
    // Files after the snapshot: keys only ever get added before letters use them, so the
    // keystore copied now holds every key the rows refer to.
    for (rel, path) in files_of(layout.dir(), &config.policy_dir)? {
        if path == out || path == partial {
            continue;
        }
        let data = std::fs::read(&path).map_err(io("reading", &path))?;
        line(
            &mut w,
            &Record::File {
                path: rel,
                data: B64.encode(&data),
            },
        )?;
        summary.files += 1;
    }
    line(
        &mut w,
        &Record::End {
            files: summary.files,
            rows: summary.rows.clone(),
            content: summary.content,
        },
    )?;
    let sink = w
        .finish()
        .map_err(|e| Error::age("finishing the backup", e))?;
    let digest = sink.hash.finish();
    summary.bytes = sink.bytes;
    let mut file = sink
        .inner
        .into_inner()
        .map_err(|e| Error::io("writing", &partial, e.into_error()))?;
    let seal = seal(layout, &config.node_id, created_at, digest.as_ref())?;
    let seal = serde_json::to_vec(&seal).map_err(|e| Error::encode("the backup seal", e))?;
    file.write_all(&seal).map_err(io("writing", &partial))?;
    file.write_all(&(seal.len() as u64).to_be_bytes())
        .map_err(io("writing", &partial))?;
    file.sync_all().map_err(io("writing", &partial))?;
    std::fs::rename(&partial, out).map_err(io("writing", out))?;
    progress(&format!(
        "{} files, {} bytes of ciphertext, signed by node {}",
        summary.files, summary.bytes, config.node_id
    ));
    Ok(summary)
}

fn seal(layout: &Layout, node_id: &str, created_at: String, digest: &[u8]) -> Result<Seal> {
    let keys = NodeKeys::load(layout)?;
    let store = crate::node::open_tls_keystore(layout)?;
    let handle = hsm_shim::KeyStore::info(store.as_ref(), keys.tls)?.handle();
    let sig = hsm_shim::KeyStore::sign(store.as_ref(), &handle, digest)?;
    let mut chain = read_pem_certs(&layout.tls_chain())?;
    if chain.len() < 2 {
        chain.extend(read_pem_certs(&layout.ca("network-ca.pem"))?);
    }
    Ok(Seal {
        format: FORMAT.into(),
        node_id: node_id.into(),
        created_at,
        sha256: hex::encode(digest),
        signature: B64.encode(sig.bytes),
        chain: chain.iter().map(|c| B64.encode(c)).collect(),
    })
}

/// Where the ciphertext lies in a backup file, and its seal.
struct Opened {
    file: std::fs::File,
    len: u64,
    seal: Seal,
}

fn open(path: &Path) -> Result<Opened> {
    let bad = |why: &str| {
        Error::invalid(
            "backup",
            format!("{}: not a sandi backup ({why})", path.display()),
        )
    };
    let mut file = std::fs::File::open(path).map_err(io("reading", path))?;
    let size = file.metadata().map_err(io("reading", path))?.len();
    let mut magic = vec![0u8; MAGIC.len()];
    file.read_exact(&mut magic).map_err(|_| bad("too short"))?;
    if magic != MAGIC {
        return Err(bad("no SANDI-BACKUP-1 header"));
    }
    if size < MAGIC.len() as u64 + 8 {
        return Err(bad("too short"));
    }
    file.seek(SeekFrom::End(-8)).map_err(io("reading", path))?;
    let mut n = [0u8; 8];
    file.read_exact(&mut n).map_err(io("reading", path))?;
    let seal_len = u64::from_be_bytes(n);
    let start = MAGIC.len() as u64;
    let len = size
        .checked_sub(start + 8)
        .and_then(|r| r.checked_sub(seal_len))
        .filter(|_| seal_len <= 1 << 20)
        .ok_or_else(|| bad("bad seal length"))?;
    file.seek(SeekFrom::Start(start + len))
        .map_err(io("reading", path))?;
    let mut seal = vec![0u8; usize::try_from(seal_len).map_err(|_| bad("bad seal length"))?];
    file.read_exact(&mut seal).map_err(io("reading", path))?;
    let seal: Seal = serde_json::from_slice(&seal).map_err(|_| bad("unreadable seal"))?;
    if seal.format != FORMAT {
        return Err(bad("unknown format"));
    }
    file.seek(SeekFrom::Start(start))
        .map_err(io("reading", path))?;
    Ok(Opened { file, len, seal })
}

/// Checks a backup's seal without decrypting it: the ciphertext's hash, the node's signature,
/// and its certificate: a node certificate of the seal's node id from the Network CA the
/// checker brings, valid and not revoked (see [`crate::ops::backup_seal`]).
pub fn verify(path: &Path, trust: &SealTrust) -> Result<Seal> {
    let mut o = open(path)?;
    let bad = |why: String| Error::Integrity(format!("{}: {why}", path.display()));
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    let mut left = o.len;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        o.file
            .read_exact(&mut buf[..want])
            .map_err(io("reading", path))?;
        hash.update(&buf[..want]);
        left -= want as u64;
    }
    let digest = hash.finish();
    if hex::encode(digest.as_ref()) != o.seal.sha256 {
        return Err(bad(
            "the contents do not match the seal (changed or truncated)".into(),
        ));
    }
    let chain: Vec<Vec<u8>> = o
        .seal
        .chain
        .iter()
        .map(|c| B64.decode(c))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad("unreadable certificate chain".into()))?;
    let [leaf, ..] = chain.as_slice() else {
        return Err(bad("the seal lacks the node certificate".into()));
    };
    crate::ops::backup_seal::check_sealer(trust, leaf, &o.seal.node_id)?;
    let sig = B64
        .decode(&o.seal.signature)
        .map_err(|_| bad("unreadable signature".into()))?;
    hsm_shim::verify_signature(
        &keymgr::ca::spki_of_cert(leaf)?,
        hsm_shim::SignatureAlgorithm::EcdsaP256Sha256,
        digest.as_ref(),
        &sig,
    )
    .map_err(|_| bad("the node's signature does not verify".into()))?;
    Ok(o.seal.clone())
}

/// Reads the identities of an age identity file.
pub fn identities(path: &Path) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>> {
    age::IdentityFile::from_file(path.to_string_lossy().into_owned())
        .map_err(io("reading", path))?
        .into_identities()
        .map_err(|e| Error::invalid("age identity file", format!("{}: {e}", path.display())))
}

/// The decrypted records of a backup whose seal has been checked.
fn records(
    path: &Path,
    ids: &[Box<dyn age::Identity + Send + Sync>],
) -> Result<impl Iterator<Item = Result<Record>>> {
    let opened = open(path)?;
    let body = std::io::BufReader::with_capacity(1 << 20, opened.file.take(opened.len));
    let decryptor = age::Decryptor::new_buffered(body)
        .map_err(|e| Error::invalid("backup", format!("{}: {e}", path.display())))?;
    let plain = decryptor
        .decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| {
            Error::invalid("backup", format!("{}: cannot decrypt: {e}", path.display()))
        })?;
    let name = path.display().to_string();
    Ok(std::io::BufReader::with_capacity(1 << 20, plain)
        .lines()
        .map(move |text| {
            let text = text.map_err(|e| Error::Integrity(format!("{name}: {e}")))?;
            serde_json::from_str::<Record>(&text)
                .map_err(|e| Error::Integrity(format!("{name}: bad record: {e}")))
        }))
}

/// Decrypts a backup whose seal checks and reads it through without writing anything: every
/// record readable, every file path inside the node, the counts as the end record says.
pub async fn check_contents(
    path: &Path,
    trust: &SealTrust,
    ids: &[Box<dyn age::Identity + Send + Sync>],
) -> Result<Summary> {
    let seal = verify(path, trust)?;
    let known = schema().await?;
    let mut summary = Summary::default();
    let mut header = false;
    let mut tables_known = Vec::new();
    for r in records(path, ids)? {
        match r? {
            Record::Header {
                node_id,
                format,
                tables,
                ..
            } if !header => {
                if format != FORMAT || node_id != seal.node_id {
                    return Err(Error::Integrity(
                        "the header does not match the seal".into(),
                    ));
                }
                tables_known = crate::ops::backup_schema::known_tables(&tables, &known)?;
                header = true;
            }
            Record::File { path: rel, data } if header => {
                inside(Path::new("/"), &rel)?;
                summary.bytes += data.len() as u64 * 3 / 4;
                summary.files += 1;
            }
            Record::Content { file, data, .. } if header => {
                crate::store::content::file_path(Path::new("/"), &file)?;
                summary.content += B64
                    .decode(data)
                    .map_err(|_| Error::Integrity(format!("content {file}: bad encoding")))?
                    .len() as u64;
            }
            Record::Row { table, .. } if header => {
                if !tables_known.iter().any(|t| t.name == table) {
                    return Err(Error::Integrity(format!(
                        "rows for unknown table {table:?}"
                    )));
                }
                *summary.rows.entry(table).or_default() += 1;
            }
            Record::End {
                files,
                rows,
                content,
            } if header => {
                let counted: BTreeMap<String, u64> =
                    rows.into_iter().filter(|(_, n)| *n > 0).collect();
                if files != summary.files || counted != summary.rows || content != summary.content {
                    return Err(Error::Integrity(
                        "the backup's counts do not match its contents".into(),
                    ));
                }
                return Ok(summary);
            }
            _ => return Err(Error::Integrity("records out of order".into())),
        }
    }
    Err(Error::Integrity("the backup ends early".into()))
}

/// A value of a backup line as a column of `kind` takes it; anything else is refused.
fn decode(kind: Kind, v: serde_json::Value) -> Result<Value> {
    let bad = || Error::Integrity("a row value of the wrong kind".into());
    Ok(match (kind, v) {
        (Kind::Text, serde_json::Value::Null) => Value::Text(None),
        (Kind::Int, serde_json::Value::Null) => Value::Int(None),
        (Kind::Blob, serde_json::Value::Null) => Value::Blob(None),
        (Kind::Text, serde_json::Value::String(s)) => Value::Text(Some(s)),
        (Kind::Int, serde_json::Value::Number(n)) => Value::Int(Some(n.as_i64().ok_or_else(bad)?)),
        (Kind::Blob, serde_json::Value::Object(o)) => Value::Blob(Some(
            B64.decode(
                o.get("b")
                    .and_then(serde_json::Value::as_str)
                    .ok_or_else(bad)?,
            )
            .map_err(|_| bad())?,
        )),
        _ => return Err(bad()),
    })
}

async fn insert(
    tx: &mut crate::store::Tx,
    t: &Table,
    values: Vec<serde_json::Value>,
) -> Result<()> {
    if values.len() != t.columns.len() {
        return Err(Error::Integrity(format!(
            "a row of {} has the wrong width",
            t.name
        )));
    }
    let values = t
        .columns
        .iter()
        .zip(values)
        .map(|((_, kind), v)| decode(*kind, v))
        .collect::<Result<Vec<_>>>()?;
    crate::store::backup::insert(tx, t, values).await
}

/// Restores a backup into `target` (absent or empty), its database at `database_url` (empty;
/// SQLite in the data directory when `None`). The seal is checked first against `root_der`;
/// the rows go in one transaction; the restored access log is verified before it is declared
/// done. The node starts sealed: its keystore is the custodians' as it was.
pub async fn restore(
    path: &Path,
    trust: &SealTrust,
    ids: &[Box<dyn age::Identity + Send + Sync>],
    target: &Path,
    database_url: Option<&str>,
    progress: &mut dyn FnMut(&str),
) -> Result<Summary> {
    let seal = verify(path, trust)?;
    progress(&format!(
        "seal checked: node {}, {}",
        seal.node_id, seal.created_at
    ));
    if target.exists()
        && std::fs::read_dir(target)
            .map_err(io("reading", target))?
            .next()
            .is_some()
    {
        return Err(Error::invalid(
            "restore directory",
            format!("{} is not empty", target.display()),
        ));
    }
    std::fs::create_dir_all(target).map_err(io("creating", target))?;
    let result = restore_into(path, &seal, ids, target, database_url, progress).await;
    if result.is_err() {
        // Nothing half-restored is left to be mistaken for a node.
        let _ = std::fs::remove_dir_all(target);
    }
    result
}

async fn restore_into(
    path: &Path,
    seal: &Seal,
    ids: &[Box<dyn age::Identity + Send + Sync>],
    target: &Path,
    database_url: Option<&str>,
    progress: &mut dyn FnMut(&str),
) -> Result<Summary> {
    let mut records = records(path, ids)?;
    let Some(Record::Header {
        format,
        node_id,
        tables,
        ..
    }) = records.next().transpose()?
    else {
        return Err(Error::Integrity(
            "the backup does not start with its header".into(),
        ));
    };
    if format != FORMAT || node_id != seal.node_id {
        return Err(Error::Integrity(
            "the header does not match the seal".into(),
        ));
    }
    // Only this version's tables and columns, by its own names: checked before anything is
    // written.
    let tables = crate::ops::backup_schema::known_tables(&tables, &schema().await?)?;
    let url = database_url.map_or_else(
        || format!("sqlite://{}?mode=rwc", target.join("docsvc.db").display()),
        str::to_owned,
    );
    let store = Store::open(&url).await?;
    let used = crate::store::backup::rows_in_use(&store).await?;
    if used > 0 {
        return Err(Error::invalid(
            "database URL",
            format!(
                "the database at {} is not empty",
                database_url.unwrap_or("the data directory")
            ),
        ));
    }
    let by_name: BTreeMap<&str, &Table> = tables.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut tx = store.begin().await?;
    // Rows the migrations seeded are replaced by the backup's.
    crate::store::backup::clear_seeded(&mut tx).await?;
    let mut summary = Summary::default();
    let mut end = None;
    let mut content = ContentRestore::new(target);
    for r in records {
        match r? {
            Record::Content { file, offset, data } => {
                let bytes = B64
                    .decode(data)
                    .map_err(|_| Error::Integrity(format!("content {file}: bad encoding")))?;
                content.write(&file, offset, &bytes)?;
                summary.content += bytes.len() as u64;
            }
            Record::File { path: rel, data } => {
                restore_file(target, &rel, &data)?;
                summary.files += 1;
            }
            Record::Row { table, values } => {
                let t = by_name
                    .get(table.as_str())
                    .ok_or_else(|| Error::Integrity(format!("rows for unknown table {table:?}")))?;
                insert(&mut tx, t, values).await?;
                *summary.rows.entry(table).or_default() += 1;
            }
            Record::End {
                files,
                rows,
                content,
            } => {
                end = Some((files, rows, content));
                break;
            }
            Record::Header { .. } => {
                return Err(Error::Integrity("a second header".into()));
            }
        }
    }
    let Some((files, rows, content_bytes)) = end else {
        return Err(Error::Integrity("the backup ends early".into()));
    };
    content.finish()?;
    let counted: BTreeMap<String, u64> = rows.into_iter().filter(|(_, n)| *n > 0).collect();
    if files != summary.files || counted != summary.rows || content_bytes != summary.content {
        return Err(Error::Integrity(
            "the backup's counts do not match its contents".into(),
        ));
    }
    crate::store::recipients::rebuild_unread(&mut tx).await?;
    tx.commit().await?;
    progress(&format!(
        "database: {} rows restored; {} files",
        summary.rows.values().sum::<u64>(),
        summary.files
    ));
    let csr = crate::ops::tls_reissue::new_key_and_request(&Layout::new(target), &node_id)?;
    progress(&format!(
        "a new TLS key: have keymgr issue the node certificate for {} and install it (with the \
         Network CA) as tls/node-chain.pem, and list it in the next network directory",
        csr.display()
    ));
    finish(target, &store, database_url, progress).await?;
    Ok(summary)
}

/// Writes a file of the backup into the restored data directory (never outside it).
fn restore_file(target: &Path, rel: &str, data: &str) -> Result<()> {
    let dest = inside(target, rel)?;
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
    }
    let bytes = B64
        .decode(data)
        .map_err(|_| Error::Integrity(format!("file {rel}: bad encoding")))?;
    crate::private_files::write_private(&dest, &bytes)
}

/// Points the restored configuration at its new data directory and database, and verifies
/// the restored access log.
async fn finish(
    target: &Path,
    store: &Store,
    database_url: Option<&str>,
    progress: &mut dyn FnMut(&str),
) -> Result<()> {
    let layout = Layout::new(target);
    let mut config = Config::load(&layout)?;
    config.database_url =
        database_url.map_or_else(|| "sqlite://docsvc.db?mode=rwc".into(), str::to_owned);
    config.policy_dir =
        std::path::absolute(target.join("policy")).map_err(io("reading", target))?;
    let text = toml::to_string(&config)
        .map_err(|e| Error::encode("the restored node configuration", e))?;
    let aside = target.join("node.toml.new");
    crate::private_files::write_private(&aside, text.as_bytes())?;
    std::fs::rename(&aside, layout.config()).map_err(io("writing", &aside))?;
    let spki = std::fs::read(target.join("audit-key.der")).map_err(io("reading", target))?;
    let report = crate::audit::verify(store, &spki, Some(&layout.heads())).await?;
    progress(&format!(
        "access log verified: {} entries, {} signed heads",
        report.entries, report.heads_checked
    ));
    Ok(())
}
