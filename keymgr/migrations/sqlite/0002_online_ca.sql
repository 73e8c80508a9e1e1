-- One-time enrolment invitations for nodes (`keymgr node invite`): the token's SHA-256 only,
-- never the token; a row is used at most once (used_at) and not after expires_at.
CREATE TABLE node_invites (
    id TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL,
    node_id TEXT NOT NULL,
    attributes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    used_serial TEXT
);
CREATE INDEX node_invites_node ON node_invites (node_id);

-- Network directory versions an operator proposed; signed once a second, different operator
-- approved them.
CREATE TABLE directory_proposals (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    input TEXT NOT NULL,
    input_sha256 TEXT NOT NULL,
    proposed_by TEXT NOT NULL,
    approved_by TEXT,
    created_at TEXT NOT NULL,
    signed_at TEXT
);
