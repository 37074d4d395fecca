-- imgate storage schema: the reference TeamTalk schema (auto_setup/mariadb/conf/ttopen.sql,
-- see docs/protocol.md D) plus the two tables the reference code uses but never created
-- (IMTransmitFile, IMCallLog).
--
-- Every statement is CREATE TABLE IF NOT EXISTS / INSERT IGNORE so this file can be applied to
-- an existing TeamTalk database without touching its data. The database itself is created by
-- scripts/db-load (DEFAULT CHARACTER SET utf8mb4); per-table charsets below are spelled out so
-- they match the reference whatever the database default is.
--
-- Changes to existing tables never go here (CREATE TABLE IF NOT EXISTS would not apply them to
-- an existing database): add a numbered file in sql/migrations/ instead.
--
-- All timestamps are unix seconds in int(11) unsigned, as in the reference.

SET NAMES utf8mb4;

-- Users. `name` is the login name; password = md5hex(md5hex(plain) + salt), salt 4 digits.
-- Login requires status = 0; the full user list excludes status = 3 (left).
CREATE TABLE IF NOT EXISTS `IMUser` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT COMMENT 'user id',
  `sex` tinyint(1) unsigned NOT NULL DEFAULT '0' COMMENT '1 male, 2 female, 0 unknown',
  `name` varchar(32) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'login name',
  `domain` varchar(32) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'pinyin',
  `nick` varchar(32) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'nickname',
  `password` varchar(32) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'md5hex(md5hex(plain) + salt)',
  `salt` varchar(4) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT '4-digit salt',
  `phone` varchar(11) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'phone number',
  `email` varchar(64) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'email',
  `avatar` varchar(255) COLLATE utf8mb4_bin DEFAULT '' COMMENT 'avatar url',
  `departId` int(11) unsigned NOT NULL COMMENT 'department id',
  `status` tinyint(2) unsigned DEFAULT '0' COMMENT '1 trial, 2 regular, 3 left, 4 intern',
  `created` int(11) unsigned NOT NULL COMMENT 'created',
  `updated` int(11) unsigned NOT NULL COMMENT 'updated (incremental user sync)',
  `push_shield_status` tinyint(1) unsigned NOT NULL DEFAULT '0' COMMENT '0 off, 1 do-not-disturb',
  `sign_info` varchar(128) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'signature',
  PRIMARY KEY (`id`),
  KEY `idx_domain` (`domain`),
  KEY `idx_name` (`name`),
  KEY `idx_phone` (`phone`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Departments.
CREATE TABLE IF NOT EXISTS `IMDepart` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT COMMENT 'department id',
  `departName` varchar(64) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'department name',
  `priority` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'display priority',
  `parentId` int(11) unsigned NOT NULL COMMENT 'parent department id',
  `status` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'status',
  `created` int(11) unsigned NOT NULL COMMENT 'created',
  `updated` int(11) unsigned NOT NULL COMMENT 'updated',
  PRIMARY KEY (`id`),
  KEY `idx_departName` (`departName`),
  KEY `idx_priority_status` (`priority`,`status`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Groups. type: 1 fixed/normal, 2 temporary. status: 0 normal, 1 deleted.
CREATE TABLE IF NOT EXISTS `IMGroup` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `name` varchar(256) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'group name',
  `avatar` varchar(256) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'group avatar',
  `creator` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'creator user id',
  `type` tinyint(3) unsigned NOT NULL DEFAULT '1' COMMENT '1 fixed, 2 temporary',
  `userCnt` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'member count',
  `status` tinyint(3) unsigned NOT NULL DEFAULT '1' COMMENT '0 normal, 1 deleted',
  `version` int(11) unsigned NOT NULL DEFAULT '1' COMMENT 'group version',
  `lastChated` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'last message time',
  `updated` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'updated',
  `created` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'created',
  PRIMARY KEY (`id`),
  KEY `idx_name` (`name`(191)),
  KEY `idx_creator` (`creator`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin COMMENT='IM群信息';

-- Group membership. status: 0 member, 1 left.
CREATE TABLE IF NOT EXISTS `IMGroupMember` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL COMMENT 'group id',
  `userId` int(11) unsigned NOT NULL COMMENT 'user id',
  `status` tinyint(4) unsigned NOT NULL DEFAULT '1' COMMENT '0 member, 1 left',
  `created` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'created',
  `updated` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'updated',
  PRIMARY KEY (`id`),
  KEY `idx_groupId_userId_status` (`groupId`,`userId`,`status`),
  KEY `idx_userId_status_updated` (`userId`,`status`,`updated`),
  KEY `idx_groupId_updated` (`groupId`,`updated`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

-- Single-chat messages, 8 identical shards: shard = relateId % 8.
CREATE TABLE IF NOT EXISTS `IMMessage_0` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `relateId` int(11) unsigned NOT NULL COMMENT 'IMRelationShip.id',
  `fromId` int(11) unsigned NOT NULL COMMENT 'sender user id',
  `toId` int(11) unsigned NOT NULL COMMENT 'receiver user id',
  `msgId` int(11) unsigned NOT NULL COMMENT 'message id within the relation',
  `content` varchar(4096) COLLATE utf8mb4_bin DEFAULT '' COMMENT 'message content',
  `type` tinyint(2) unsigned NOT NULL DEFAULT '1' COMMENT 'message type',
  `status` tinyint(1) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `updated` int(11) unsigned NOT NULL COMMENT 'updated',
  `created` int(11) unsigned NOT NULL COMMENT 'created',
  PRIMARY KEY (`id`),
  KEY `idx_relateId_status_created` (`relateId`,`status`,`created`),
  KEY `idx_relateId_status_msgId_created` (`relateId`,`status`,`msgId`,`created`),
  KEY `idx_fromId_toId_created` (`fromId`,`toId`,`status`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMMessage_1` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `relateId` int(11) unsigned NOT NULL COMMENT 'IMRelationShip.id',
  `fromId` int(11) unsigned NOT NULL COMMENT 'sender user id',
  `toId` int(11) unsigned NOT NULL COMMENT 'receiver user id',
  `msgId` int(11) unsigned NOT NULL COMMENT 'message id within the relation',
  `content` varchar(4096) COLLATE utf8mb4_bin DEFAULT '' COMMENT 'message content',
  `type` tinyint(2) unsigned NOT NULL DEFAULT '1' COMMENT 'message type',
  `status` tinyint(1) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `updated` int(11) unsigned NOT NULL COMMENT 'updated',
  `created` int(11) unsigned NOT NULL COMMENT 'created',
  PRIMARY KEY (`id`),
  KEY `idx_relateId_status_created` (`relateId`,`status`,`created`),
  KEY `idx_relateId_status_msgId_created` (`relateId`,`status`,`msgId`,`created`),
  KEY `idx_fromId_toId_created` (`fromId`,`toId`,`status`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMMessage_2` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `relateId` int(11) unsigned NOT NULL COMMENT 'IMRelationShip.id',
  `fromId` int(11) unsigned NOT NULL COMMENT 'sender user id',
  `toId` int(11) unsigned NOT NULL COMMENT 'receiver user id',
  `msgId` int(11) unsigned NOT NULL COMMENT 'message id within the relation',
  `content` varchar(4096) COLLATE utf8mb4_bin DEFAULT '' COMMENT 'message content',
  `type` tinyint(2) unsigned NOT NULL DEFAULT '1' COMMENT 'message type',
  `status` tinyint(1) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `updated` int(11) unsigned NOT NULL COMMENT 'updated',
  `created` int(11) unsigned NOT NULL COMMENT 'created',
  PRIMARY KEY (`id`),
  KEY `idx_relateId_status_created` (`relateId`,`status`,`created`),
  KEY `idx_relateId_status_msgId_created` (`relateId`,`status`,`msgId`,`created`),
  KEY `idx_fromId_toId_created` (`fromId`,`toId`,`status`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMMessage_3` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `relateId` int(11) unsigned NOT NULL COMMENT 'IMRelationShip.id',
  `fromId` int(11) unsigned NOT NULL COMMENT 'sender user id',
  `toId` int(11) unsigned NOT NULL COMMENT 'receiver user id',
  `msgId` int(11) unsigned NOT NULL COMMENT 'message id within the relation',
  `content` varchar(4096) COLLATE utf8mb4_bin DEFAULT '' COMMENT 'message content',
  `type` tinyint(2) unsigned NOT NULL DEFAULT '1' COMMENT 'message type',
  `status` tinyint(1) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `updated` int(11) unsigned NOT NULL COMMENT 'updated',
  `created` int(11) unsigned NOT NULL COMMENT 'created',
  PRIMARY KEY (`id`),
  KEY `idx_relateId_status_created` (`relateId`,`status`,`created`),
  KEY `idx_relateId_status_msgId_created` (`relateId`,`status`,`msgId`,`created`),
  KEY `idx_fromId_toId_created` (`fromId`,`toId`,`status`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMMessage_4` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `relateId` int(11) unsigned NOT NULL COMMENT 'IMRelationShip.id',
  `fromId` int(11) unsigned NOT NULL COMMENT 'sender user id',
  `toId` int(11) unsigned NOT NULL COMMENT 'receiver user id',
  `msgId` int(11) unsigned NOT NULL COMMENT 'message id within the relation',
  `content` varchar(4096) COLLATE utf8mb4_bin DEFAULT '' COMMENT 'message content',
  `type` tinyint(2) unsigned NOT NULL DEFAULT '1' COMMENT 'message type',
  `status` tinyint(1) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `updated` int(11) unsigned NOT NULL COMMENT 'updated',
  `created` int(11) unsigned NOT NULL COMMENT 'created',
  PRIMARY KEY (`id`),
  KEY `idx_relateId_status_created` (`relateId`,`status`,`created`),
  KEY `idx_relateId_status_msgId_created` (`relateId`,`status`,`msgId`,`created`),
  KEY `idx_fromId_toId_created` (`fromId`,`toId`,`status`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMMessage_5` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `relateId` int(11) unsigned NOT NULL COMMENT 'IMRelationShip.id',
  `fromId` int(11) unsigned NOT NULL COMMENT 'sender user id',
  `toId` int(11) unsigned NOT NULL COMMENT 'receiver user id',
  `msgId` int(11) unsigned NOT NULL COMMENT 'message id within the relation',
  `content` varchar(4096) COLLATE utf8mb4_bin DEFAULT '' COMMENT 'message content',
  `type` tinyint(2) unsigned NOT NULL DEFAULT '1' COMMENT 'message type',
  `status` tinyint(1) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `updated` int(11) unsigned NOT NULL COMMENT 'updated',
  `created` int(11) unsigned NOT NULL COMMENT 'created',
  PRIMARY KEY (`id`),
  KEY `idx_relateId_status_created` (`relateId`,`status`,`created`),
  KEY `idx_relateId_status_msgId_created` (`relateId`,`status`,`msgId`,`created`),
  KEY `idx_fromId_toId_created` (`fromId`,`toId`,`status`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMMessage_6` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `relateId` int(11) unsigned NOT NULL COMMENT 'IMRelationShip.id',
  `fromId` int(11) unsigned NOT NULL COMMENT 'sender user id',
  `toId` int(11) unsigned NOT NULL COMMENT 'receiver user id',
  `msgId` int(11) unsigned NOT NULL COMMENT 'message id within the relation',
  `content` varchar(4096) COLLATE utf8mb4_bin DEFAULT '' COMMENT 'message content',
  `type` tinyint(2) unsigned NOT NULL DEFAULT '1' COMMENT 'message type',
  `status` tinyint(1) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `updated` int(11) unsigned NOT NULL COMMENT 'updated',
  `created` int(11) unsigned NOT NULL COMMENT 'created',
  PRIMARY KEY (`id`),
  KEY `idx_relateId_status_created` (`relateId`,`status`,`created`),
  KEY `idx_relateId_status_msgId_created` (`relateId`,`status`,`msgId`,`created`),
  KEY `idx_fromId_toId_created` (`fromId`,`toId`,`status`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMMessage_7` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `relateId` int(11) unsigned NOT NULL COMMENT 'IMRelationShip.id',
  `fromId` int(11) unsigned NOT NULL COMMENT 'sender user id',
  `toId` int(11) unsigned NOT NULL COMMENT 'receiver user id',
  `msgId` int(11) unsigned NOT NULL COMMENT 'message id within the relation',
  `content` varchar(4096) COLLATE utf8mb4_bin DEFAULT '' COMMENT 'message content',
  `type` tinyint(2) unsigned NOT NULL DEFAULT '1' COMMENT 'message type',
  `status` tinyint(1) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `updated` int(11) unsigned NOT NULL COMMENT 'updated',
  `created` int(11) unsigned NOT NULL COMMENT 'created',
  PRIMARY KEY (`id`),
  KEY `idx_relateId_status_created` (`relateId`,`status`,`created`),
  KEY `idx_relateId_status_msgId_created` (`relateId`,`status`,`msgId`,`created`),
  KEY `idx_fromId_toId_created` (`fromId`,`toId`,`status`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Group messages, 8 identical shards: shard = groupId % 8.
CREATE TABLE IF NOT EXISTS `IMGroupMessage_0` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL COMMENT 'group id',
  `userId` int(11) unsigned NOT NULL COMMENT 'sender user id',
  `msgId` int(11) unsigned NOT NULL COMMENT 'message id within the group',
  `content` varchar(4096) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'message content',
  `type` tinyint(3) unsigned NOT NULL DEFAULT '2' COMMENT 'message type (0x11 text, 0x12 audio)',
  `status` int(11) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `updated` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'updated',
  `created` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'created',
  PRIMARY KEY (`id`),
  KEY `idx_groupId_status_created` (`groupId`,`status`,`created`),
  KEY `idx_groupId_msgId_status_created` (`groupId`,`msgId`,`status`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMGroupMessage_1` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL COMMENT 'group id',
  `userId` int(11) unsigned NOT NULL COMMENT 'sender user id',
  `msgId` int(11) unsigned NOT NULL COMMENT 'message id within the group',
  `content` varchar(4096) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'message content',
  `type` tinyint(3) unsigned NOT NULL DEFAULT '2' COMMENT 'message type (0x11 text, 0x12 audio)',
  `status` int(11) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `updated` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'updated',
  `created` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'created',
  PRIMARY KEY (`id`),
  KEY `idx_groupId_status_created` (`groupId`,`status`,`created`),
  KEY `idx_groupId_msgId_status_created` (`groupId`,`msgId`,`status`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMGroupMessage_2` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL COMMENT 'group id',
  `userId` int(11) unsigned NOT NULL COMMENT 'sender user id',
  `msgId` int(11) unsigned NOT NULL COMMENT 'message id within the group',
  `content` varchar(4096) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'message content',
  `type` tinyint(3) unsigned NOT NULL DEFAULT '2' COMMENT 'message type (0x11 text, 0x12 audio)',
  `status` int(11) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `updated` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'updated',
  `created` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'created',
  PRIMARY KEY (`id`),
  KEY `idx_groupId_status_created` (`groupId`,`status`,`created`),
  KEY `idx_groupId_msgId_status_created` (`groupId`,`msgId`,`status`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMGroupMessage_3` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL COMMENT 'group id',
  `userId` int(11) unsigned NOT NULL COMMENT 'sender user id',
  `msgId` int(11) unsigned NOT NULL COMMENT 'message id within the group',
  `content` varchar(4096) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'message content',
  `type` tinyint(3) unsigned NOT NULL DEFAULT '2' COMMENT 'message type (0x11 text, 0x12 audio)',
  `status` int(11) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `updated` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'updated',
  `created` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'created',
  PRIMARY KEY (`id`),
  KEY `idx_groupId_status_created` (`groupId`,`status`,`created`),
  KEY `idx_groupId_msgId_status_created` (`groupId`,`msgId`,`status`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMGroupMessage_4` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL COMMENT 'group id',
  `userId` int(11) unsigned NOT NULL COMMENT 'sender user id',
  `msgId` int(11) unsigned NOT NULL COMMENT 'message id within the group',
  `content` varchar(4096) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'message content',
  `type` tinyint(3) unsigned NOT NULL DEFAULT '2' COMMENT 'message type (0x11 text, 0x12 audio)',
  `status` int(11) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `updated` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'updated',
  `created` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'created',
  PRIMARY KEY (`id`),
  KEY `idx_groupId_status_created` (`groupId`,`status`,`created`),
  KEY `idx_groupId_msgId_status_created` (`groupId`,`msgId`,`status`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMGroupMessage_5` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL COMMENT 'group id',
  `userId` int(11) unsigned NOT NULL COMMENT 'sender user id',
  `msgId` int(11) unsigned NOT NULL COMMENT 'message id within the group',
  `content` varchar(4096) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'message content',
  `type` tinyint(3) unsigned NOT NULL DEFAULT '2' COMMENT 'message type (0x11 text, 0x12 audio)',
  `status` int(11) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `updated` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'updated',
  `created` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'created',
  PRIMARY KEY (`id`),
  KEY `idx_groupId_status_created` (`groupId`,`status`,`created`),
  KEY `idx_groupId_msgId_status_created` (`groupId`,`msgId`,`status`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMGroupMessage_6` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL COMMENT 'group id',
  `userId` int(11) unsigned NOT NULL COMMENT 'sender user id',
  `msgId` int(11) unsigned NOT NULL COMMENT 'message id within the group',
  `content` varchar(4096) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'message content',
  `type` tinyint(3) unsigned NOT NULL DEFAULT '2' COMMENT 'message type (0x11 text, 0x12 audio)',
  `status` int(11) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `updated` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'updated',
  `created` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'created',
  PRIMARY KEY (`id`),
  KEY `idx_groupId_status_created` (`groupId`,`status`,`created`),
  KEY `idx_groupId_msgId_status_created` (`groupId`,`msgId`,`status`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMGroupMessage_7` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL COMMENT 'group id',
  `userId` int(11) unsigned NOT NULL COMMENT 'sender user id',
  `msgId` int(11) unsigned NOT NULL COMMENT 'message id within the group',
  `content` varchar(4096) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'message content',
  `type` tinyint(3) unsigned NOT NULL DEFAULT '2' COMMENT 'message type (0x11 text, 0x12 audio)',
  `status` int(11) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `updated` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'updated',
  `created` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'created',
  PRIMARY KEY (`id`),
  KEY `idx_groupId_status_created` (`groupId`,`status`,`created`),
  KEY `idx_groupId_msgId_status_created` (`groupId`,`msgId`,`status`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Recent sessions. type: 1 user, 2 group. status: 0 normal, 1 deleted.
CREATE TABLE IF NOT EXISTS `IMRecentSession` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `userId` int(11) unsigned NOT NULL COMMENT 'owner user id',
  `peerId` int(11) unsigned NOT NULL COMMENT 'peer user or group id',
  `type` tinyint(1) unsigned DEFAULT '0' COMMENT '1 user, 2 group',
  `status` tinyint(1) unsigned DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `created` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'created',
  `updated` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'updated',
  PRIMARY KEY (`id`),
  KEY `idx_userId_peerId_status_updated` (`userId`,`peerId`,`status`,`updated`),
  KEY `idx_userId_peerId_type` (`userId`,`peerId`,`type`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

-- One row per unordered user pair (smallId = min id, bigId = max id); id is the relateId.
CREATE TABLE IF NOT EXISTS `IMRelationShip` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `smallId` int(11) unsigned NOT NULL COMMENT 'smaller user id of the pair',
  `bigId` int(11) unsigned NOT NULL COMMENT 'bigger user id of the pair',
  `status` tinyint(1) unsigned DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `created` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'created',
  `updated` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'updated',
  PRIMARY KEY (`id`),
  KEY `idx_smallId_bigId_status_updated` (`smallId`,`bigId`,`status`,`updated`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

-- Audio message metadata (the data itself lives in the small-file store).
CREATE TABLE IF NOT EXISTS `IMAudio` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `fromId` int(11) unsigned NOT NULL COMMENT 'sender user id',
  `toId` int(11) unsigned NOT NULL COMMENT 'peer user or group id',
  `path` varchar(255) COLLATE utf8mb4_bin DEFAULT '' COMMENT 'storage path',
  `size` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'size in bytes',
  `duration` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'duration in seconds',
  `created` int(11) unsigned NOT NULL COMMENT 'created',
  PRIMARY KEY (`id`),
  KEY `idx_fromId_toId` (`fromId`,`toId`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Web admin accounts (not used by the IM server itself).
CREATE TABLE IF NOT EXISTS `IMAdmin` (
  `id` mediumint(6) unsigned NOT NULL AUTO_INCREMENT,
  `uname` varchar(40) NOT NULL COMMENT 'user name',
  `pwd` char(32) NOT NULL COMMENT 'md5hex(password)',
  `status` tinyint(2) unsigned NOT NULL DEFAULT '0' COMMENT 'status',
  `created` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'created',
  `updated` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'updated',
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

-- The reference seed row: admin / admin (md5 of "admin"). IGNORE keeps an existing row 1 as is.
INSERT IGNORE INTO `IMAdmin` (`id`, `uname`, `pwd`, `status`, `created`, `updated`)
VALUES (1, 'admin', '21232f297a57a5a743894a0e4a801fc3', 0, 0, 0);

-- "Discovery" page items (web only).
CREATE TABLE IF NOT EXISTS `IMDiscovery` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT COMMENT 'id',
  `itemName` varchar(64) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'item name',
  `itemUrl` varchar(64) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'item url',
  `itemPriority` int(11) unsigned NOT NULL COMMENT 'display priority',
  `status` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'status',
  `created` int(11) unsigned NOT NULL COMMENT 'created',
  `updated` int(11) unsigned NOT NULL COMMENT 'updated',
  PRIMARY KEY (`id`),
  KEY `idx_itemName` (`itemName`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- ---------------------------------------------------------------------------------------------
-- Tables the reference code uses but ttopen.sql never created (protocol D, "absent").

-- Offline files waiting for their receiver. Reference queries:
--   select * from IMTransmitFile where toId=? and status=0 order by created
--   delete from IMTransmitFile where fromId=? and toId=? and taskId=?
-- taskId is a 36-char UUID. Its index is deliberately not UNIQUE: a client may repeat
-- CID_FILE_ADD_OFFLINE_REQ for the same task, and databases that created this table by hand
-- may already hold duplicates.
CREATE TABLE IF NOT EXISTS `IMTransmitFile` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
  `fromId` int(11) unsigned NOT NULL COMMENT 'sender user id',
  `toId` int(11) unsigned NOT NULL COMMENT 'receiver user id',
  `fileName` varchar(512) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'file name as sent by the client',
  `size` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'file size in bytes',
  `taskId` varchar(64) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'transfer task id (UUID)',
  `status` tinyint(3) unsigned NOT NULL DEFAULT '0' COMMENT '0 waiting for download',
  `created` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'created',
  `updated` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'updated',
  PRIMARY KEY (`id`),
  KEY `idx_toId_status_created` (`toId`,`status`,`created`),
  KEY `idx_taskId` (`taskId`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Call reports (UserModel::setCallReport; no CID handler reaches it in the reference).
CREATE TABLE IF NOT EXISTS `IMCallLog` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
  `userId` int(11) unsigned NOT NULL COMMENT 'reporting user id',
  `peerId` int(11) unsigned NOT NULL COMMENT 'peer user id',
  `clientType` tinyint(3) unsigned NOT NULL DEFAULT '0' COMMENT 'ClientType enum of the reporter',
  `created` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'created',
  `updated` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'updated',
  PRIMARY KEY (`id`),
  KEY `idx_userId_created` (`userId`,`created`),
  KEY `idx_peerId_created` (`peerId`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
