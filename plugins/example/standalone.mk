# Builds the example plugin out of tree, against an installed imgate:
#   make -f standalone.mk
# needs protoc-c, pkg-config and the installed imgate-plugin.pc.
PKG_CONFIG ?= pkg-config
PROTOC_C ?= protoc-c
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -Wall -Wextra -Wno-unused-parameter -Werror -fPIC -fvisibility=hidden $(shell $(PKG_CONFIG) --cflags imgate-plugin hiredis) -I.
LDFLAGS += -shared -Wl,-z,defs
LDLIBS += $(shell $(PKG_CONFIG) --libs libprotobuf-c)

example.so: example.c example_ids.h example.pb-c.c example.pb-c.h
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ example.c example.pb-c.c $(LDLIBS)

example.pb-c.c example.pb-c.h: example.proto
	$(PROTOC_C) --c_out=. example.proto

install: example.so
	install -D -m 0755 example.so $(DESTDIR)$(shell $(PKG_CONFIG) --variable=plugindir imgate-plugin)/example.so

clean:
	rm -f example.so example.pb-c.c example.pb-c.h

.PHONY: install clean
