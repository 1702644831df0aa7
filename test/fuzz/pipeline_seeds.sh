#!/usr/bin/env bash
# test/fuzz/pipeline_seeds.sh [psql arguments]: the seeds of the two
# pipeline deserialize targets made again from the server psql reaches
# (crm installed there or installable): the states
# test/fuzz/pipeline_seeds.sql prints, as bytes, into
# test/fuzz/corpus/pipeline_learn_deserialize/ and
# pipeline_forecast_deserialize/ (seed-NAME).
set -eu
cd "$(dirname "$0")/../.."
psql -X -At -v ON_ERROR_STOP=1 "$@" -f test/fuzz/pipeline_seeds.sql | while read -r name state; do
	case "$state" in
	learn_pipeline:*) dir=test/fuzz/corpus/pipeline_learn_deserialize ;;
	forecast_revenue:*) dir=test/fuzz/corpus/pipeline_forecast_deserialize ;;
	*) echo "pipeline_seeds: unexpected line: $name" >&2; exit 1 ;;
	esac
	mkdir -p "$dir"
	printf '%s' "${state#*:}" | perl -ne 'print pack("H*", $_)' >"$dir/seed-$name"
	echo "$dir/seed-$name: $(wc -c <"$dir/seed-$name") bytes"
done
