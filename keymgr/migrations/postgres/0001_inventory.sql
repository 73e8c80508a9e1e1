-- Every certificate keymgr issued, its lifecycle and revocation.
CREATE TABLE certificates (
    serial TEXT PRIMARY KEY,
    subject_id TEXT NOT NULL,
    profile TEXT NOT NULL,
    version BIGINT NOT NULL,
    subject TEXT NOT NULL,
    issuer TEXT NOT NULL,
    not_before TEXT NOT NULL,
    not_after TEXT NOT NULL,
    key_id TEXT,
    certificate_sha256 TEXT NOT NULL,
    der BYTEA NOT NULL,
    state TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    revoked_at TEXT,
    revocation_reason TEXT,
    request TEXT NOT NULL
);
CREATE UNIQUE INDEX certificates_subject_version ON certificates (subject_id, version);
CREATE INDEX certificates_issuer_state ON certificates (issuer, state);

-- Every key keymgr holds in its keystores, mirrored for listing without unsealing.
CREATE TABLE keys (
    id TEXT PRIMARY KEY,
    keystore TEXT NOT NULL,
    label TEXT NOT NULL,
    kind TEXT NOT NULL,
    version BIGINT NOT NULL,
    state TEXT NOT NULL,
    created TEXT NOT NULL
);

-- The last CRL number per issuing CA (RFC 5280: monotonically increasing).
CREATE TABLE crl_numbers (
    issuer TEXT PRIMARY KEY,
    last_number BIGINT NOT NULL
);
