-- Officials set their own secrets: an administrator creates an official with a one-time
-- enrolment code (only its argon2id hash is kept, with its expiry), covered by the row's MAC so
-- that a database writer can neither plant a code nor reset anyone. An official who has not
-- enrolled yet has empty password and PIN hashes, which match nothing.
ALTER TABLE officials ADD COLUMN enrolment_hash TEXT;
ALTER TABLE officials ADD COLUMN enrolment_expires_at TEXT;
-- Applications are registered with their own certificate request (their TLS key stays with
-- them); the client certificate keymgr issues from it must certify that request's key.
ALTER TABLE applications ADD COLUMN client_csr BLOB;
-- Applications' rows carry the node's MAC over every field (HMAC-SHA256, key sealed in the
-- keystore): a database writer cannot change an application's certificate, status, clearance
-- or whom it may sign for unnoticed. Rows from before it have none and are refused.
ALTER TABLE applications ADD COLUMN mac TEXT;
