-- Delegations: an official's own consent that an application may sign with their key, up to a
-- classification and until a time; revocable; every grant, revocation and use is logged.
CREATE TABLE delegations (
    id TEXT PRIMARY KEY,
    nip TEXT NOT NULL REFERENCES officials(nip),
    application_id TEXT NOT NULL REFERENCES applications(id),
    max_classification TEXT NOT NULL,
    granted_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX delegations_by_official ON delegations (nip, application_id);

-- Dual control over officials: a registration or a raised clearance asked for by one
-- administrator waits here until a second official with the role pengelola_sandi, not the one
-- who asked, approves it (or rejects it).
CREATE TABLE official_changes (
    id TEXT PRIMARY KEY,
    nip TEXT NOT NULL REFERENCES officials(nip),
    kind TEXT NOT NULL,
    clearance TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT,
    decision TEXT
);
CREATE INDEX official_changes_by_nip ON official_changes (nip);

-- Proof of possession for an official's personal age recipient (exports): the node encrypts a
-- random challenge to it and keeps only the answer's SHA-256 until the official returns it.
CREATE TABLE recipient_challenges (
    nip TEXT PRIMARY KEY REFERENCES officials(nip),
    recipient TEXT NOT NULL,
    answer_sha256 TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
