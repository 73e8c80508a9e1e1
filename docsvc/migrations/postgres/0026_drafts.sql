-- Drafts (konsep): written by one official, initialled (paraf) by named reviewers in order, then
-- signed by the named signer, which makes the letter. A draft's row changes as it moves on and
-- carries the node's MAC over every field but `updated_at`; its versions and its reviews are
-- kept, each with its MAC. Bodies and comments are encrypted to the level's archive key
-- (`key_id`), the MAC binding their salted plaintext's SHA-256.
CREATE TABLE drafts (
    id TEXT PRIMARY KEY,
    agency TEXT NOT NULL,
    author TEXT NOT NULL,
    signer TEXT NOT NULL,
    classification TEXT NOT NULL,
    urgency TEXT NOT NULL,
    perihal TEXT NOT NULL,
    -- JSON: recipients, copies, kode, tempat, lampiran.
    meta TEXT NOT NULL,
    -- JSON list of the reviewers' NIPs, in order.
    reviewers TEXT NOT NULL,
    version BIGINT NOT NULL,
    state TEXT NOT NULL,
    letter_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    mac TEXT NOT NULL
);
CREATE INDEX drafts_author ON drafts (author, updated_at);
CREATE INDEX drafts_signer ON drafts (signer, state);

CREATE TABLE draft_versions (
    draft_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    body BYTEA NOT NULL,
    body_sha256 TEXT NOT NULL,
    key_id TEXT NOT NULL,
    at TEXT NOT NULL,
    mac TEXT NOT NULL,
    PRIMARY KEY (draft_id, version)
);

CREATE TABLE draft_reviews (
    id TEXT PRIMARY KEY,
    draft_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    nip TEXT NOT NULL,
    -- `paraf` (initialled, signed) or `koreksi` (returned with a comment).
    action TEXT NOT NULL,
    comment BYTEA NOT NULL,
    comment_sha256 TEXT NOT NULL,
    key_id TEXT NOT NULL,
    at TEXT NOT NULL,
    signature BYTEA,
    mac TEXT NOT NULL
);
CREATE INDEX draft_reviews_of ON draft_reviews (draft_id, at);
-- One paraf (or koreksi) per reviewer and version, whatever races.
CREATE UNIQUE INDEX draft_reviews_once ON draft_reviews (draft_id, version, nip, action);
