-- A change to an official waits for a second person; a database writer must not be able to
-- forge who asked, what was asked or that it was approved. Each row carries the node's MAC
-- (HMAC-SHA256, key sealed in the keystore); rows from before it have none and are refused.
ALTER TABLE official_changes ADD COLUMN mac TEXT;
