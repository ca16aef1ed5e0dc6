#!/bin/sh
# First-boot setup of an edge server. Not substituted by driftless: ${HOME}
# and friends reach the shell untouched (only templatefile() substitutes).
set -eu
apt-get update -y && apt-get install -y git python3
mkdir -p /var/lib/edge
touch /var/lib/edge/setup-done   # the app layer waits for this marker
