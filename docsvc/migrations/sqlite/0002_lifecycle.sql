-- A letter's lifecycle after it is sent: reclassification (earlier signed versions kept),
-- rewrap after key rotation, destruction after retention.

-- Earlier signed versions of a letter: a reclassification keeps the one it replaces here.
CREATE TABLE document_versions (
    document_id TEXT NOT NULL REFERENCES documents(id),
    version BIGINT NOT NULL,
    classification TEXT NOT NULL,
    manifest BLOB NOT NULL,
    signature BLOB NOT NULL,
    superseded_at TEXT NOT NULL,
    PRIMARY KEY (document_id, version)
);

-- The keys (hsm-shim key ids, JSON array) the letter's age headers are wrapped to: what
-- `docsvc rewrap` compares with the current keys.
ALTER TABLE documents ADD COLUMN wrapped_to TEXT NOT NULL DEFAULT '[]';
ALTER TABLE documents ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

-- The signed record of a destruction: canonical JSON and the CMS signature of the official
-- who destroyed the letter. The ciphertext is gone; this stays.
CREATE TABLE destructions (
    document_id TEXT PRIMARY KEY REFERENCES documents(id),
    record BLOB NOT NULL,
    signature BLOB NOT NULL,
    destroyed_at TEXT NOT NULL
);
