-- Other nodes' access logs as this node witnessed them: per peer, the note key pinned at first
-- sight, the newest checkpoint received and checked (signature, consistency with the one
-- before), this node's cosignature of it, and the split view seen, if any (kept as evidence:
-- the checkpoint held and the one that contradicted it). The row carries the node's MAC.
CREATE TABLE witnessed (
    node TEXT PRIMARY KEY,
    vkey TEXT NOT NULL,
    size BIGINT NOT NULL,
    root TEXT NOT NULL,
    cosigned TEXT NOT NULL,
    seen_at TEXT NOT NULL,
    incident TEXT,
    mac TEXT NOT NULL
);
