#!/usr/bin/env bash
# The sandbox suite (test_render's [sandbox] tests) as an unprivileged user, the way researchers
# run the toolkit. As root (CI) it creates the user mtk-sandbox-test, plants secrets in that
# user's home and in the checkout (files the user may read, so that only the sandbox can hide
# them; the tests are told where through MTK_PLANTED_SECRETS), runs the suite as that user and
# removes the secrets. As anyone else it runs the suite as that user, planting nothing more.
#   tests/render/run_unprivileged.sh build/test_render [more Catch2 arguments]
set -euo pipefail
BIN="$(readlink -f "$1")"
shift
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ "$(id -u)" -ne 0 ]; then
  echo "run_unprivileged: not root; running the sandbox suite as $(id -un)"
  exec "$BIN" "[sandbox]" "$@"
fi

USER_NAME=mtk-sandbox-test
if ! id -u "$USER_NAME" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/sh "$USER_NAME"
fi
HOME_DIR="$(getent passwd "$USER_NAME" | cut -d: -f6)"
mkdir -p "$HOME_DIR"
chown "$USER_NAME:" "$HOME_DIR"
chmod 700 "$HOME_DIR"
as_user() { runuser -u "$USER_NAME" -- "$@"; }
if ! as_user test -x "$BIN" || ! as_user test -x "$SRC/.venv/bin/python"; then
  echo "run_unprivileged: $USER_NAME cannot reach $BIN or $SRC/.venv/bin/python; clone the project under" \
       "directories that other users may search (chmod o+x on each parent) and run scripts/setup.sh" >&2
  exit 1
fi

tag="$$-$RANDOM"
planted=()
cleanup() { rm -f "${planted[@]}"; }
trap cleanup EXIT
plant() {  # path content: a file only the test user may read
  mkdir -p "$(dirname "$1")"
  printf '%s\n' "$2" > "$1"
  chown "$USER_NAME:" "$1"
  chmod 600 "$1"
  planted+=("$1")
}
plant "$HOME_DIR/.ssh/id_ed25519_mtk_$tag" "-----BEGIN OPENSSH PRIVATE KEY----- mtk-planted-ssh-$tag"
plant "$HOME_DIR/.cache/huggingface/token_mtk_$tag" "hf_mtkplanted$tag"
plant "$SRC/.mtk-planted-secret-$tag.env" "OPENAI_API_KEY=sk-mtk-planted-$tag"
chown -R "$USER_NAME:" "$HOME_DIR/.ssh" "$HOME_DIR/.cache"
chmod 700 "$HOME_DIR/.ssh"
secrets="$(IFS=:; echo "${planted[*]}")"

echo "run_unprivileged: the sandbox suite as $USER_NAME (uid $(id -u "$USER_NAME")), secrets planted: ${planted[*]}"
cd "$HOME_DIR"
runuser -u "$USER_NAME" -- env -i HOME="$HOME_DIR" USER="$USER_NAME" PATH=/usr/bin:/bin LANG=C.UTF-8 \
  MTK_PLANTED_SECRETS="$secrets" "$BIN" "[sandbox]" "$@"
