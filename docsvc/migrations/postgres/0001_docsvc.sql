-- docsvc's tables. Times are RFC 3339 text (UTC); lists are JSON arrays.
CREATE TABLE officials (
    nip TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    agency TEXT NOT NULL,
    position TEXT NOT NULL,
    clearance TEXT NOT NULL,
    roles TEXT NOT NULL,
    compartments TEXT NOT NULL,
    status TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    pin_hash TEXT NOT NULL,
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until TEXT,
    signing_key TEXT,
    encryption_key TEXT,
    certificate BYTEA,
    personal_recipient TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE applications (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    agency TEXT NOT NULL,
    clearance TEXT NOT NULL,
    roles TEXT NOT NULL,
    status TEXT NOT NULL,
    certificate_sha256 TEXT NOT NULL UNIQUE,
    signing_key TEXT,
    certificate BYTEA,
    -- NIPs of officials this application may sign for (JSON array).
    may_sign_for TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    nip TEXT NOT NULL REFERENCES officials(nip),
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    step_up_until TEXT
);

CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    nomor TEXT NOT NULL,
    perihal TEXT NOT NULL,
    classification TEXT NOT NULL,
    urgency TEXT NOT NULL,
    originator TEXT NOT NULL,
    agency TEXT NOT NULL,
    manifest BYTEA NOT NULL,
    signature BYTEA NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    policy_version TEXT NOT NULL
);

-- Second approvals (dual control): who approved, when, and their CMS signature over the
-- manifest.
CREATE TABLE approvals (
    document_id TEXT NOT NULL REFERENCES documents(id),
    nip TEXT NOT NULL,
    at TEXT NOT NULL,
    signature BYTEA NOT NULL,
    PRIMARY KEY (document_id, nip)
);

-- Who a document is addressed to, for inbox queries; the manifest is the authority.
CREATE TABLE addressees (
    document_id TEXT NOT NULL REFERENCES documents(id),
    nip TEXT NOT NULL,
    role TEXT NOT NULL,
    PRIMARY KEY (document_id, nip, role)
);
CREATE INDEX addressees_by_nip ON addressees(nip);

-- Encrypted content (age), in chunks so that nothing holds a whole document in memory. Chunks
-- are written while a letter streams in, before its row exists (no foreign key); chunks with no
-- letter after an hour are an abandoned upload and are swept.
CREATE TABLE chunks (
    document_id TEXT NOT NULL,
    part BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (document_id, part, seq)
);

-- The access log: a Merkle tree over canonical JSON entries (RFC 6962 hashing).
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    entry TEXT NOT NULL,
    leaf_hash TEXT NOT NULL
);
CREATE TABLE audit_heads (
    size BIGINT PRIMARY KEY,
    root TEXT NOT NULL,
    at TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL
);
-- One row: the tree's size and frontier, updated in the same transaction as each append.
CREATE TABLE audit_state (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    size BIGINT NOT NULL,
    frontier TEXT NOT NULL
);
INSERT INTO audit_state (id, size, frontier) VALUES (1, 0, '[]');
