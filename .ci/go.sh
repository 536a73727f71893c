# shellcheck shell=bash
# Sourced by .ci/run before `cargo test`: grpc-go's own feature-example clients
# (tests/grpc_go.rs) need Go and grpc-go 1.33 with its examples, from Debian's packages;
# the test builds the clients offline, in GOPATH mode, on the packaged sources
# (/usr/share/gocode). On a developer's machine the test skips without them; here it is
# required.
go_packages=(golang-go golang-google-grpc-dev golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev)
go_sudo=""
if [ "$(id -u)" != 0 ]; then go_sudo="sudo"; fi
if ! command -v go >/dev/null 2>&1 \
    || [ ! -d /usr/share/doc/golang-google-grpc-dev/examples/features ] \
    || ! dpkg -s "${go_packages[@]}" >/dev/null 2>&1; then
  echo "installing Go and grpc-go's examples (for tests/grpc_go.rs)"
  $go_sudo apt-get install -y -q --no-install-recommends "${go_packages[@]}" >/dev/null \
    || { $go_sudo apt-get update -q >/dev/null \
      && $go_sudo apt-get install -y -q --no-install-recommends "${go_packages[@]}" >/dev/null; }
fi
unset go_packages go_sudo
export GRPC_SHOWCASE_REQUIRE_GO=1
