-- Demo data for local runs and tests: two departments and three users.
--
--   id  login  password   department       nick
--    1  alice  alice123   1 Engineering    Alice
--    2  bob    bob123     1 Engineering    Bob
--    3  carol  carol123   2 Sales          Carol
--
-- Passwords use the reference form password = md5hex(md5hex(plain) + salt) with a 4-digit salt,
-- computed here by MariaDB so they cannot drift from the plain text documented above.
-- Fixed ids + INSERT IGNORE make the file idempotent: loading it again changes nothing, and
-- rows a developer has edited since are left alone.
-- Loaded by `scripts/db-load --demo` (and `t/lib/services.sh start DIR --demo`).

SET NAMES utf8mb4;

INSERT IGNORE INTO `IMDepart` (`id`, `departName`, `priority`, `parentId`, `status`, `created`, `updated`)
VALUES
  (1, 'Engineering', 1, 0, 0, UNIX_TIMESTAMP(), UNIX_TIMESTAMP()),
  (2, 'Sales',       2, 0, 0, UNIX_TIMESTAMP(), UNIX_TIMESTAMP());

INSERT IGNORE INTO `IMUser`
  (`id`, `sex`, `name`, `domain`, `nick`, `password`, `salt`, `phone`, `email`, `avatar`,
   `departId`, `status`, `created`, `updated`, `push_shield_status`, `sign_info`)
VALUES
  (1, 2, 'alice', 'alice', 'Alice', MD5(CONCAT(MD5('alice123'), '4821')), '4821',
   '13800000001', 'alice@example.com', 'http://localhost/avatar/alice.png',
   1, 0, UNIX_TIMESTAMP(), UNIX_TIMESTAMP(), 0, 'Building things'),
  (2, 1, 'bob', 'bob', 'Bob', MD5(CONCAT(MD5('bob123'), '0377')), '0377',
   '13800000002', 'bob@example.com', 'http://localhost/avatar/bob.png',
   1, 0, UNIX_TIMESTAMP(), UNIX_TIMESTAMP(), 0, 'Fixing things'),
  (3, 2, 'carol', 'carol', 'Carol', MD5(CONCAT(MD5('carol123'), '9150')), '9150',
   '13800000003', 'carol@example.com', 'http://localhost/avatar/carol.png',
   2, 0, UNIX_TIMESTAMP(), UNIX_TIMESTAMP(), 0, 'Selling things');

-- A normal group of all three, as an administrator makes one (only clients' temporary groups are
-- created over the protocol). The group plugin builds its Redis cache on first use.
INSERT IGNORE INTO `IMGroup`
  (`id`, `name`, `avatar`, `creator`, `type`, `userCnt`, `status`, `version`, `lastChated`, `updated`, `created`)
VALUES
  (1, 'Everyone', 'http://localhost/avatar/everyone.png', 1, 1, 3, 0, 1, 0, UNIX_TIMESTAMP(), UNIX_TIMESTAMP());

INSERT IGNORE INTO `IMGroupMember` (`id`, `groupId`, `userId`, `status`, `created`, `updated`)
VALUES
  (1, 1, 1, 0, UNIX_TIMESTAMP(), UNIX_TIMESTAMP()),
  (2, 1, 2, 0, UNIX_TIMESTAMP(), UNIX_TIMESTAMP()),
  (3, 1, 3, 0, UNIX_TIMESTAMP(), UNIX_TIMESTAMP());
