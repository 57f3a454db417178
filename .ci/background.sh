# Sourced by .ci/demo and .ci/test, which run installs and guest builds in the
# background while cargo builds in front. The caller defines `say`.
#
# `logs` is a scratch folder for the background phases' output; on exit (a
# failure or an interrupt too) no background job is left running.
logs="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$logs"' EXIT

# joined WHAT PID LOG: waits for a background phase; on its failure, shows
# its output and exits.
joined() {
  if ! wait "$2"; then
    cat "$3" >&2
    say "$1 failed; its output is above"
    exit 1
  fi
}
