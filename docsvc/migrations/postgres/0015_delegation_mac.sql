-- A delegation is an official's consent to be signed for: a database writer must not be able to
-- grant, widen, extend or revive one. Each row carries the node's MAC (HMAC-SHA256, key sealed
-- in the keystore); rows from before it have none and are refused until granted again.
ALTER TABLE delegations ADD COLUMN mac TEXT;
