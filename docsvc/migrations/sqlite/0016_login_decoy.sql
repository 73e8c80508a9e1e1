-- A login or PIN attempt for an unknown NIP writes here, durably, as one for a known NIP counts
-- its attempt in the official's row: both take one commit, so no NIP is told apart by the time
-- a missing write saves.
CREATE TABLE login_decoy (
    id BIGINT PRIMARY KEY,
    attempts BIGINT NOT NULL
);
