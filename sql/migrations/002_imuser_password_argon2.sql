-- 002: a stronger stored password form for the login plugin.
--
-- TeamTalk keeps md5hex(md5hex(plain) + salt) in IMUser.password. imgate adds
-- an Argon2id hash (libsodium's crypto_pwhash_str format, over the MD5 string
-- the client sends) in its own column; the reference columns stay, so the
-- reference servers can still share the database. Empty = not upgraded yet.
ALTER TABLE IMUser ADD COLUMN IF NOT EXISTS password_argon2 varchar(128) NOT NULL DEFAULT '' AFTER salt;
