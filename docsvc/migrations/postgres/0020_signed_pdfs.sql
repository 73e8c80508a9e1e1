-- Letters the node rendered and signed as PDF carry a QR code to its public verification page
-- with an unguessable token. Kept by the token's SHA-256 only: whoever reads this table learns
-- no address to open.
CREATE TABLE verification_tokens (
    token_sha256 TEXT PRIMARY KEY,
    document_id TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE INDEX verification_tokens_by_document ON verification_tokens(document_id);

-- The register of numbered copies (salinan) of signed letters: who made which copy and when.
-- A number is given once per letter; the access log holds the same with the policy's decision.
CREATE TABLE letter_copies (
    document_id TEXT NOT NULL,
    number BIGINT NOT NULL,
    nip TEXT NOT NULL,
    name TEXT NOT NULL,
    made_at TEXT NOT NULL,
    PRIMARY KEY (document_id, number)
);
