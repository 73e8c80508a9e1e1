-- Transmission to other nodes.

-- Each official's encryption key binding (keymgr bind-key, JSON signed by the Signing CA):
-- what other nodes fetch to encrypt to this official.
ALTER TABLE officials ADD COLUMN key_binding TEXT;

-- One row per letter and destination node, written in the letter's own transaction; the
-- delivery worker moves it from queued to delivered (with the receipt) or to dead.
CREATE TABLE outbox (
    document_id TEXT NOT NULL REFERENCES documents(id),
    node_id TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    receipt BLOB,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (document_id, node_id)
);
CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
