-- The PBKDF2 iteration counts of the stored password hashes, and how many hashes have each.
-- Login runs the highest count in use for every email, known or not (src/api/auth.rs), so
-- that its cost does not tell a user's email from an unknown one, whatever
-- PASSWORD_ITERATIONS was when each hash was made. Triggers keep it in step with `users` in
-- the statement that writes a hash (signup, password change, both resets, the rehash at
-- login, and the seed or any other SQL alike), so no code path can forget it.
CREATE TABLE password_costs (
    iterations INTEGER PRIMARY KEY,
    hashes     INTEGER NOT NULL CHECK (hashes >= 0)
);

-- The count of a PHC string `$pbkdf2-sha256$i=<iterations>,l=32$<salt>$<hash>`: the number
-- after `i=` (the salt and hash are base64 without `=`, so `i=` is only ever the parameter).
-- SQLite's CAST reads the leading digits and stops at the comma.
CREATE TRIGGER password_costs_insert AFTER INSERT ON users BEGIN
    INSERT OR IGNORE INTO password_costs (iterations, hashes)
    VALUES (CAST(substr(new.hashed_password, instr(new.hashed_password, 'i=') + 2) AS INTEGER), 0);
    UPDATE password_costs SET hashes = hashes + 1
    WHERE iterations = CAST(substr(new.hashed_password, instr(new.hashed_password, 'i=') + 2) AS INTEGER);
END;

CREATE TRIGGER password_costs_update AFTER UPDATE OF hashed_password ON users
WHEN old.hashed_password IS NOT new.hashed_password BEGIN
    UPDATE password_costs SET hashes = hashes - 1
    WHERE iterations = CAST(substr(old.hashed_password, instr(old.hashed_password, 'i=') + 2) AS INTEGER);
    INSERT OR IGNORE INTO password_costs (iterations, hashes)
    VALUES (CAST(substr(new.hashed_password, instr(new.hashed_password, 'i=') + 2) AS INTEGER), 0);
    UPDATE password_costs SET hashes = hashes + 1
    WHERE iterations = CAST(substr(new.hashed_password, instr(new.hashed_password, 'i=') + 2) AS INTEGER);
END;

CREATE TRIGGER password_costs_delete AFTER DELETE ON users BEGIN
    UPDATE password_costs SET hashes = hashes - 1
    WHERE iterations = CAST(substr(old.hashed_password, instr(old.hashed_password, 'i=') + 2) AS INTEGER);
END;

-- The hashes stored already.
INSERT INTO password_costs (iterations, hashes)
SELECT CAST(substr(hashed_password, instr(hashed_password, 'i=') + 2) AS INTEGER), count(*)
FROM users GROUP BY 1;
