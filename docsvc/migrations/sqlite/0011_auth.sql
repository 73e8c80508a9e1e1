-- Officials' signing PIN failures counted like passwords' (locked after 5 for 15 minutes).
ALTER TABLE officials ADD COLUMN failed_pins BIGINT NOT NULL DEFAULT 0;
ALTER TABLE officials ADD COLUMN pin_locked_until TEXT;

-- The node's MAC over each official's security attributes and over each session row
-- (docsvc/src/integrity.rs). Rows without one are refused: sessions from before end here,
-- and officials are created with one (quickstart, admin).
ALTER TABLE officials ADD COLUMN mac TEXT;
ALTER TABLE sessions ADD COLUMN mac TEXT;
DELETE FROM sessions;
