#!/bin/sh
# gen-teamtalk-h.sh IM.BaseDefine.proto > teamtalk.h
#
# Writes <imgate/teamtalk.h>: one #define per value of every enum in
# IM.BaseDefine.proto, under the value's own TeamTalk name (SID_MSG,
# CID_MSG_DATA, CLIENT_TYPE_ANDROID, ...). Plugins, tools and tests use these
# short names instead of bare hex or protobuf-c's long generated names, so the
# proto file stays the only place an id is written down.
set -eu
proto=$1
cat <<'HEAD'
/*
 * imgate/teamtalk.h — the TeamTalk protocol's ids and enum values by their
 * short names (SID_MSG, CID_MSG_DATA, CLIENT_TYPE_ANDROID, ...).
 *
 * GENERATED at build time from IM.BaseDefine.proto by proto/gen-teamtalk-h.sh:
 * edit the proto file, never this header. Part of the installed plugin SDK.
 * Constants only: safe on any thread.
 */
#ifndef IMGATE_TEAMTALK_H
#define IMGATE_TEAMTALK_H
HEAD
awk '
	/^[ \t]*enum[ \t]+[A-Za-z0-9_]+[ \t]*\{/ {
		name = $2; sub(/\{.*/, "", name)
		printf "\n/* enum %s */\n", name
		inside = 1
		next
	}
	inside && /^[ \t]*\}/ { inside = 0; next }
	inside && /=/ {
		line = $0
		sub(/\/\/.*/, "", line)
		gsub(/[ \t;]/, "", line)
		split(line, kv, "=")
		if (kv[1] != "")
			printf "#define %s %s\n", kv[1], kv[2]
	}
' "$proto"
cat <<'TAIL'

#endif
TAIL
