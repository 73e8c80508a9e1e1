-- The network directory version this node has accepted: an older one is never accepted again.
CREATE TABLE network_state (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    directory_version BIGINT NOT NULL
);
INSERT INTO network_state (id, directory_version) VALUES (1, 0);
