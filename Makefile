# crm: PGXS build.  `make test` runs every test and `make demo` the demo on a
# fresh machine (they install what is missing first); see README.md.

EXTENSION = crm
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" crm.control)

MODULE_big = crm
KERNELS = src/summary_kernel.o src/rfm_kernel.o src/value_kernel.o src/btyd_kernel.o src/btyd_math_kernel.o src/btyd_optim_kernel.o src/stage_kernel.o src/segment_kernel.o src/select_kernel.o
OBJS = src/crm.o src/customer.o src/summary.o src/rfm.o src/value.o src/btyd.o src/btyd_fit.o src/btyd_validation.o src/stage.o src/segment.o src/track.o $(KERNELS)

INSTALL_PIECES = $(sort $(wildcard sql/install/*.sql))
# Upgrade scripts.  A released one is frozen in sql/upgrade/ as it was
# released and never rebuilt.  The one to the version under development is
# its own changes (sql/upgrade/$(EXTVERSION).sql) followed by the install
# pieces new in it, or made again whole in it (40_btyd.sql: crm.btyd_model
# changed its storage in 0.4.0), then sql/upgrade/$(EXTVERSION)-finish.sql
# if there is one (what must run after those pieces); at release it is
# frozen like the others.
UPGRADES_RELEASED = sql/upgrade/crm--0.1.0--0.2.0.sql sql/upgrade/crm--0.2.0--0.3.0.sql
UPGRADE_PREVIOUS = 0.3.0
NEW_PIECES = sql/install/40_btyd.sql sql/install/42_validation.sql sql/install/95_model_validation.sql
UPGRADE_PIECES = sql/upgrade/$(EXTVERSION).sql $(NEW_PIECES) $(wildcard sql/upgrade/$(EXTVERSION)-finish.sql)
DATA_built = crm--$(EXTVERSION).sql crm--$(UPGRADE_PREVIOUS)--$(EXTVERSION).sql
DATA = $(UPGRADES_RELEASED)

REGRESS = summary_io summary_functions rfm value btyd stage segment
REGRESS_OPTS = --inputdir=. --outputdir=test/results

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers

EXTRA_CLEAN = test/results test/unit/*.bin

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else
# Without postgresql-server-dev-15 only the set-up targets below work: they
# install it first.
all:
	@echo "PGXS not found: run 'make test' or 'make demo' (they install postgresql-server-dev-15), or install it yourself." >&2; exit 1
endif

crm--$(EXTVERSION).sql: $(INSTALL_PIECES) crm.control
	cat $(INSTALL_PIECES) > $@

crm--$(UPGRADE_PREVIOUS)--$(EXTVERSION).sql: $(UPGRADE_PIECES)
	cat $(UPGRADE_PIECES) > $@

# C unit tests of the numeric kernels: no server needed.
UNIT_TESTS = test/unit/summary_kernel_test test/unit/rfm_kernel_test test/unit/value_kernel_test test/unit/btyd_kernel_test test/unit/btyd_predictions_test test/unit/stage_kernel_test test/unit/segment_kernel_test
# kernels whose SQL layer is not written yet: unit-tested, not linked into crm.so
PENDING_KERNEL_SRCS =
KERNEL_SRCS = $(KERNELS:.o=.c) $(PENDING_KERNEL_SRCS)
unit: $(addsuffix .bin,$(UNIT_TESTS))
test/unit/%.bin: test/unit/%.c test/unit/*.h $(KERNEL_SRCS) src/*_kernel.h src/select_template.h
	$(CC) -std=gnu99 -O2 -Wall -Wextra -Wmissing-prototypes -Werror -I src -o $@ $< $(KERNEL_SRCS) -lm

.PHONY: test demo bench bench-tracking unit
test:
	test/run.sh test
demo:
	test/run.sh demo
bench:
	test/run.sh bench
bench-tracking:
	test/run.sh bench-tracking
