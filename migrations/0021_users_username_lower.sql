-- 0021_users_username_lower.sql: usernames unique regardless of case.
-- conduitd:no-transaction
--
-- "Alice" and "alice" could both register before this; registration and
-- profile updates now look names up by lower(username), and this index makes
-- the rule hold under concurrent writers. Built with CREATE INDEX
-- CONCURRENTLY, so writers are never blocked; the migrator runs each
-- statement on its own, outside a transaction.
--
-- Existing duplicates: in each group of names equal regardless of case, the
-- oldest account (lowest id) keeps its name and every other one is renamed
-- to "<name>-<id>" (e.g. "Alice" id 42 becomes "Alice-42"). Nothing else
-- changes: the renamed users keep their email, password, articles and
-- follows, and log in as before (login is by email). Their old profile URL
-- now shows the account that kept the name. A rename that would itself
-- collide with an existing name fails the migration with a unique-violation
-- error naming it, and nothing is renamed: rename that account by hand and
-- run `conduitd migrate` again.
--
-- Safe to re-run after a failure: an index left INVALID by a failed build
-- is dropped first, and the rename repeats (old binaries still serving
-- during a rolling update may have registered a new duplicate meanwhile).

DROP INDEX CONCURRENTLY IF EXISTS users_username_lower_key;
UPDATE users u SET username = u.username || '-' || u.id FROM (SELECT id, row_number() OVER (PARTITION BY lower(username) ORDER BY id) AS n FROM users) d WHERE d.id = u.id AND d.n > 1;
CREATE UNIQUE INDEX CONCURRENTLY users_username_lower_key ON users (lower(username));
