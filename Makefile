# crm: PGXS build.  `make test` runs every test, `make demo` the demo and
# `make deb` builds the Debian package on a fresh machine (they install what
# is missing first); see README.md.

EXTENSION = crm
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" crm.control)

MODULE_big = crm
KERNELS = src/summary_kernel.o src/rfm_kernel.o src/value_kernel.o src/btyd_kernel.o src/btyd_math_kernel.o src/btyd_optim_kernel.o src/stage_kernel.o src/level_kernel.o src/segment_kernel.o src/select_kernel.o src/pipeline_kernel.o
OBJS = src/crm.o src/agg_state.o src/config.o src/customer.o src/history.o src/summary.o src/rfm.o src/value.o src/btyd.o src/btyd_fit.o src/btyd_validation.o src/stage.o src/level.o src/segment.o src/track.o src/refresh.o src/shard.o src/progress.o src/activity.o src/pipeline.o $(KERNELS)

INSTALL_PIECES = $(sort $(wildcard sql/install/*.sql))
# Upgrade scripts.  A released one is frozen in sql/upgrade/ as it was
# released and never rebuilt.  The one to the version under development is
# its own changes (sql/upgrade/$(EXTVERSION).sql, whose --@ lines take
# definitions from the install pieces: sql/upgrade/splice.awk), the
# install pieces new in it or made again whole in it (40_btyd.sql:
# crm.btyd_model changed its storage in 0.4.0), then what must run after
# them: sql/upgrade/$(EXTVERSION)-finish.sql (stored models converted) and
# sql/upgrade/$(EXTVERSION)-late.sql (changed objects of the previous
# version that use objects of the new pieces, spliced too); at release it
# is frozen like the others.
UPGRADES_RELEASED = sql/upgrade/crm--0.1.0--0.2.0.sql sql/upgrade/crm--0.2.0--0.3.0.sql
UPGRADE_PREVIOUS = 0.3.0
NEW_PIECES = sql/install/08_agg_state.sql sql/install/40_btyd.sql sql/install/42_validation.sql sql/install/79_pipeline.sql \
	sql/install/78_transition_counts.sql sql/install/95_model_validation.sql sql/install/95_pipeline_access.sql sql/install/96_account_manager_history.sql \
	sql/install/96_stage_counts_access.sql sql/install/97_distribute.sql
UPGRADE_FINISH = sql/upgrade/$(EXTVERSION)-finish.sql
UPGRADE_LATE = sql/upgrade/$(EXTVERSION)-late.sql
UPGRADE_PIECES = sql/upgrade/$(EXTVERSION).sql $(NEW_PIECES) $(UPGRADE_FINISH) $(UPGRADE_LATE)
DATA_built = crm--$(EXTVERSION).sql crm--$(UPGRADE_PREVIOUS)--$(EXTVERSION).sql
DATA = $(UPGRADES_RELEASED)

REGRESS = summary_io summary_functions rfm value btyd stage segment pipeline
REGRESS_OPTS = --inputdir=. --outputdir=test/results
# concurrency: isolation specs in test/isolation/specs, expected output in
# test/isolation/expected (pg_isolation_regress)
ISOLATION = order_waits_for_customer thresholds_repeatable_read roll_up_waits_for_writers
ISOLATION_OPTS = --inputdir=test/isolation --outputdir=test/results/isolation

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers

EXTRA_CLEAN = test/results test/unit/*.bin build/fuzz build/sanitize

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

crm--$(UPGRADE_PREVIOUS)--$(EXTVERSION).sql: $(UPGRADE_PIECES) $(INSTALL_PIECES) sql/upgrade/splice.awk
	{ awk -f sql/upgrade/splice.awk sql/upgrade/$(EXTVERSION).sql && cat /dev/null $(NEW_PIECES) $(UPGRADE_FINISH) && \
	  awk -f sql/upgrade/splice.awk $(UPGRADE_LATE); } > $@.tmp && mv $@.tmp $@

# C unit tests of the numeric kernels: no server needed.
UNIT_TESTS = test/unit/summary_kernel_test test/unit/rfm_kernel_test test/unit/value_kernel_test test/unit/btyd_kernel_test test/unit/btyd_predictions_test test/unit/stage_kernel_test test/unit/level_kernel_test test/unit/segment_kernel_test test/unit/pipeline_kernel_test
KERNEL_SRCS = $(KERNELS:.o=.c)
# A test that #includes its kernel's source (to reach its static functions)
# is not linked with that source again.
unit: $(addsuffix .bin,$(UNIT_TESTS))
test/unit/%.bin: test/unit/%.c test/unit/*.h $(KERNEL_SRCS) src/*_kernel.h src/select_template.h
	$(CC) -std=gnu99 -O2 -Wall -Wextra -Wmissing-prototypes -Werror -I src -o $@ $< \
		$(filter-out $(shell sed -n 's|^#include "\(.*_kernel\.c\)"|src/\1|p' $<),$(KERNEL_SRCS)) -lm

# the pgTAP tests against the server the PG* variables name, in a database
# crm_tap made anew (pgTAP and pg_prove installed; PROVE_FLAGS=-v for every
# assertion)
installcheck-tap:
	psql -X -q -v ON_ERROR_STOP=1 -c 'DROP DATABASE IF EXISTS crm_tap' -c 'CREATE DATABASE crm_tap'
	psql -X -q -v ON_ERROR_STOP=1 -d crm_tap -c 'CREATE EXTENSION pgtap'
	CRM_DATA=$${CRM_DATA:-$(CURDIR)/test/data} pg_prove $(PROVE_FLAGS) -d crm_tap test/pgtap/*.sql

# libFuzzer targets for every parser (text input, binary receive,
# aggregate deserialize), under ASan+UBSan, FUZZ_SECONDS (default 60) each
# (test/fuzz/run.sh); the C unit tests under the same sanitizers
# (test/sanitize.sh).  Both need clang.
# the pg_regress scripts and pgTAP files against a server running under
# valgrind, memcheck's errors with a frame in crm.so counted (0 expected;
# test/valgrind.sh, CRM_LONG=1 for every pgTAP file)
.PHONY: fuzz sanitize valgrind
valgrind:
	test/run.sh valgrind
fuzz:
	PG_CONFIG=$(PG_CONFIG) test/fuzz/run.sh
sanitize:
	PG_CONFIG=$(PG_CONFIG) test/sanitize.sh

.PHONY: test demo bench bench-tracking bench-history bench-pipeline bench-stages bench-views bench-attach bench-scale unit installcheck-tap
test:
	test/run.sh test
demo:
	test/run.sh demo
bench:
	test/run.sh bench
bench-tracking:
	test/run.sh bench-tracking
bench-history:
	test/run.sh bench-history
bench-pipeline:
	test/run.sh bench-pipeline
bench-stages:
	test/run.sh bench-stages
# every crm view read whole at CUSTOMERS (default 1,000,000) attached and refreshed
bench-views:
	test/run.sh bench-views
bench-attach:
	test/run.sh bench-attach
# single node serial, 2 workers and a 3-node loopback Citus (where installed),
# 1M and 10M orders (CUSTOMERS=200000 for 0.1M and 1M)
bench-scale:
	test/run.sh bench-scale
# the Debian package postgresql-15-crm, built in build/deb/ (debian/)
.PHONY: deb
deb:
	test/packaging.sh deb
