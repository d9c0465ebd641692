-- Failed logins, counted per client IP ("ip:<address>") and per account from one IP
-- ("account:<email>|<address>") in fixed windows; see src/security/throttle.rs.
CREATE TABLE login_failures (
    key          TEXT    PRIMARY KEY,
    failures     INTEGER NOT NULL,
    window_start INTEGER NOT NULL
) WITHOUT ROWID;
